"""Checking a job module on the requester's side, before it is sent to any worker.

A worker refuses a module that is not a Wasm binary or does not compile
(``ccnet.worker.modules.ModuleCache.load``), but only after the requester opened a
session, reserved channel funds and sent the bytes. :func:`check_module` catches those
modules first: the ``\\0asm`` header, then wasmtime's validator
(``wasmtime.Module.validate``) with the Wasm features the worker sandbox turns off
(threads, multi-memory; ``ccnet.worker.sandbox.Sandbox``) turned off too. What only
the sandbox checks when it runs (imports outside WASI, a missing ``_start``) is still
reported by the worker.
"""

from __future__ import annotations

from ..exceptions import InvalidJobModuleError
from ..jobs.catalogue import WASM_MAGIC

__all__ = ["check_module"]


def check_module(wasm: bytes) -> None:
    """Raise :class:`~ccnet.client.exceptions.InvalidJobModuleError` unless *wasm* is a
    Wasm binary that validates under the worker sandbox's features."""
    import wasmtime  # heavy: only when a module is checked

    if not wasm.startswith(WASM_MAGIC):
        raise InvalidJobModuleError(
            "not a Wasm module (no \\0asm header): give a compiled .wasm file, "
            "e.g. built for wasm32-wasip1"
        )
    config = wasmtime.Config()
    config.wasm_threads = False
    config.wasm_multi_memory = False
    config.wasm_relaxed_simd_deterministic = True
    try:
        wasmtime.Module.validate(wasmtime.Engine(config), wasm)
    except wasmtime.WasmtimeError as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else "invalid"
        raise InvalidJobModuleError(f"the Wasm module does not validate: {first}") from None
