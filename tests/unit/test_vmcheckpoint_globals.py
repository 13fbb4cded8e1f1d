"""Reading a module's mutable globals from its binary (what an image must save), and
refusing, never crashing on, anything else."""

from __future__ import annotations

import random

import pytest
import wasmtime

from ccnet.worker.vmcheckpoint.globals import checkpointable_globals


def _wasm(fields: str) -> bytes:
    return bytes(wasmtime.wat2wasm(f"(module {fields})"))


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ("", ()),
        ('(global (export "sp") (mut i32) (i32.const 1048576))', ("sp",)),
        ('(global $g (mut i64) (i64.const -1)) (export "b" (global $g)) (export "a" (global $g))',
         ("a", "b")),
        ('(global i32 (i32.const 1)) (global (export "x") (mut i32) (global.get 0))', ("x",)),
        ('(import "env" "__asyncify_state" (global (mut i32)))'
         '(import "env" "__asyncify_data" (global (mut i32)))'
         '(global (export "sp") (mut i32) (i32.const 0))', ("sp",)),
        ('(global (export "k") v128 (v128.const i64x2 1 2))', ()),  # immutable: nothing to save
        ('(global (mut i32) (i32.const 0))', None),  # hidden
        ('(global (export "f") (mut f64) (f64.const 1))', None),
        ('(global (export "v") (mut v128) (v128.const i64x2 0 0))', None),
        ('(global (export "r") (mut externref) (ref.null extern))', None),
        ('(import "env" "other" (global (mut i32)))', None),
        ('(import "env" "__asyncify_state" (global (mut i64)))', None),
    ],
)  # fmt: skip
def test_mutable_globals_an_image_can_hold(fields: str, expected: tuple[str, ...] | None) -> None:
    assert checkpointable_globals(_wasm(fields)) == expected


def test_garbage_is_never_checkpointable_and_never_raises() -> None:
    wasm = _wasm('(global (export "sp") (mut i32) (i32.const 7)) (memory 1) (func)')
    rng = random.Random(5)
    assert checkpointable_globals(b"") is None
    assert checkpointable_globals(b"not wasm at all") is None
    for _ in range(3000):
        data = bytearray(wasm)
        for _ in range(rng.randint(1, 4)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        data = data[: rng.randint(8, len(data))] if rng.random() < 0.3 else data
        result = checkpointable_globals(bytes(data))
        assert result is None or isinstance(result, tuple)
