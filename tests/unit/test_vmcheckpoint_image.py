"""The VM checkpoint image format and its sealing: round trips, and every kind of bad
bytes refused with its own clear error (docs/vm-checkpoints.md)."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ccnet.worker.exceptions import (
    CheckpointFormatError,
    CheckpointKeyError,
    ConfigError,
)
from ccnet.worker.vmcheckpoint import CheckpointPolicy, VmImage, decode, encode, new_key
from ccnet.worker.vmcheckpoint.image import PAGE, Global
from ccnet.worker.vmcheckpoint.seal import SEAL_MAGIC, seal, unseal


def _image(**changes: object) -> VmImage:
    base = VmImage(
        engine="wasmtime-py 50.0.1",
        module_hash=bytes(range(32)),
        input_hash=bytes(range(32, 64)),
        seed=b"\x2a",
        fuel_used=123_456_789,
        checkpoints=3,
        stdin_pos=65_536,
        random_calls=2,
        unwind_buffer=1_048_576,
        memory_size=4 * PAGE,
        pages={0: b"\x01" * PAGE, 3: bytes(PAGE - 1) + b"\xff"},
        globals=(Global("__stack_pointer", "i32", 1_048_000),),
        stdout=b"partial output",
        stderr=b"",
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


@settings(max_examples=60, deadline=None)
@given(
    fuel=st.integers(0, 2**64 - 1),
    stdin_pos=st.integers(0, 2**64 - 1),
    seed=st.binary(max_size=64),
    stdout=st.binary(max_size=300),
    pages=st.sets(st.integers(0, 7), max_size=4),
    values=st.lists(st.integers(0, 2**32 - 1), min_size=0, max_size=3),
)
def test_every_image_round_trips(
    fuel: int, stdin_pos: int, seed: bytes, stdout: bytes, pages: set[int], values: list[int]
) -> None:
    image = _image(
        fuel_used=fuel,
        stdin_pos=stdin_pos,
        seed=seed,
        stdout=stdout,
        memory_size=8 * PAGE,
        pages={i: bytes([i + 1]) * PAGE for i in pages},
        globals=tuple(Global(f"g{i}", "i32", v) for i, v in enumerate(values)),
    )
    again = decode(encode(image))
    assert again == image
    assert again.memory()[: PAGE * 8] == image.memory()


def test_memory_is_stored_sparsely() -> None:
    image = _image(memory_size=256 * PAGE)  # 16 MiB, two non-zero pages
    assert len(encode(image)) < 3 * PAGE
    assert len(image.memory()) == 256 * PAGE


@pytest.mark.parametrize(
    ("mangle", "message"),
    [
        (lambda b: b"NOTIMAGE" + b[8:], "bad magic"),
        (lambda b: b[:8] + b"\x02\x00" + b[10:], "format version 2"),
        (lambda b: b[: len(b) // 2], "truncated or corrupted"),
        (lambda b: b[:50], "truncated or corrupted"),
        (lambda b: b[:10], "truncated VM checkpoint image"),
        (lambda b: b[:200] + bytes([b[200] ^ 1]) + b[201:], "truncated or corrupted"),
        (lambda b: b + b"\x00", "truncated or corrupted"),
    ],
)
def test_bad_images_are_refused_with_what_is_wrong(mangle: object, message: str) -> None:
    data = encode(_image())
    with pytest.raises(CheckpointFormatError, match=message):
        decode(mangle(data))  # type: ignore[operator]


def test_a_page_outside_the_memory_is_refused_on_both_sides() -> None:
    with pytest.raises(ValueError, match="page 4"):
        encode(_image(pages={4: bytes(PAGE)}))


def test_seal_round_trip_and_failures() -> None:
    key, other = new_key(), new_key()
    data = encode(_image())
    sealed = seal(data, key)
    assert sealed.startswith(SEAL_MAGIC) and data not in sealed
    assert seal(data, key) != sealed  # a fresh nonce each time
    assert unseal(sealed, key) == data
    with pytest.raises(CheckpointKeyError, match="wrong key"):
        unseal(sealed, other)
    flipped = sealed[:40] + bytes([sealed[40] ^ 0x80]) + sealed[41:]
    with pytest.raises(CheckpointKeyError, match="changed"):
        unseal(flipped, key)
    with pytest.raises(CheckpointKeyError, match="changed"):
        unseal(sealed[:-1], key)
    with pytest.raises(CheckpointFormatError, match="truncated"):
        unseal(sealed[:30], key)
    with pytest.raises(CheckpointFormatError, match="bad magic"):
        unseal(data, key)
    with pytest.raises(CheckpointKeyError, match="32 bytes"):
        seal(data, key[:16])


@pytest.mark.parametrize("name", ["every_fuel", "suspend_at_fuel"])
@pytest.mark.parametrize("value", [0, -5, True, 1.5])
def test_a_policy_takes_positive_fuel_counts(name: str, value: object) -> None:
    with pytest.raises(ConfigError, match=name):
        CheckpointPolicy(**{name: value})  # type: ignore[arg-type]
