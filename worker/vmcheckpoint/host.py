"""The host side of safe points: ``ccnet.safepoint`` in every run, and for checkpointable
modules the stdin they read, so that a run can be suspended into a :class:`VmImage` and
resumed from one.

The mechanism is Binaryen's Asyncify (https://github.com/WebAssembly/binaryen, "Pausing
and resuming WebAssembly with Binaryen's Asyncify", A. Zakai, 2019): at a safe point the
host calls the module's ``asyncify_start_unwind(buffer)``; the instrumented code saves
every frame's locals into the buffer and returns to the host, which then saves linear
memory and the exported mutable globals. Resuming, the host restores them into a fresh
instance, calls ``asyncify_start_rewind(buffer)`` and ``_start`` again; the code skips
to the safe point, where the host calls ``asyncify_stop_rewind`` and the job goes on.
Nothing else is state: WASI is capability-less (no files, no clock, no environment), the
seeded random stream's counter and the stdin position are in the image.

Costs (measured; ``docs/vm-checkpoints.md``): the instrumented module is about 50 %
larger and its uninterrupted run burns about 3 % more fuel; each checkpoint costs a
fixed amount of fuel per safe point (unwind and rewind), e.g. 792 fuel in ``prime_count``.
"""

from __future__ import annotations

import importlib.metadata
import struct
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import wasmtime
from wasmtime._instance import InstanceExports  # not re-exported by wasmtime

from ..exceptions import CheckpointMismatchError, ConfigError, MemoryLimitError
from .globals import ASYNCIFY_GLOBALS
from .image import PAGE, Global, VmImage

if TYPE_CHECKING:
    from ..modules import CompiledModule

__all__ = [
    "ASYNCIFY_EXPORTS",
    "ENGINE",
    "CheckpointPolicy",
    "SafePoints",
    "declares_safepoints",
    "is_checkpointable",
]

SAFEPOINT_MODULE, SAFEPOINT_NAME = "ccnet", "safepoint"
ASYNCIFY_EXPORTS = (
    "asyncify_start_unwind",
    "asyncify_stop_unwind",
    "asyncify_start_rewind",
    "asyncify_stop_rewind",
)
ENGINE = f"wasmtime-py {importlib.metadata.version('wasmtime')}"
"""The engine named in images: fuel counts are Wasmtime's, so only the same version may
resume an image and agree on the fuel."""

_WASI = "wasi_snapshot_preview1"
_ESUCCESS, _EBADF, _EFAULT, _EINVAL = 0, 8, 21, 28
_IOVEC = 8
_IOV_MAX = 1024
"""Most iovecs one ``fd_read`` takes (POSIX's IOV_MAX): the host's work per call is bounded."""
_MIN_UNWIND = 16
_ZERO_PAGE = bytes(PAGE)
_I32 = wasmtime.ValType.i32()


@dataclass(frozen=True)
class CheckpointPolicy:
    """When a run takes VM checkpoints.

    - *every_fuel*: at the first safe point after each multiple of this much fuel (fuel,
      counted over all segments of the job), a checkpoint is taken and the job goes on.
    - *stop*: once set (graceful stop, the requester's request), the next safe point
      takes a checkpoint and suspends the run.
    - *suspend_at_fuel*: the first safe point at or after this much fuel (over all
      segments) takes a checkpoint and suspends the run.
    - *on_image*: called with each image, on the running thread, before the job goes on.
    """

    every_fuel: int | None = None
    stop: threading.Event = field(default_factory=threading.Event)
    suspend_at_fuel: int | None = None
    on_image: Callable[[VmImage], None] | None = None

    def __post_init__(self) -> None:
        for name in ("every_fuel", "suspend_at_fuel"):
            value = getattr(self, name)
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int) or value <= 0
            ):
                raise ConfigError(f"{name} must be a positive fuel count, not {value!r}")


def declares_safepoints(module: wasmtime.Module) -> bool:
    """Whether *module* declares the safe-point ABI: it imports
    ``ccnet.safepoint(i32, i32)`` and exports the Asyncify functions and its memory. Such
    a module's stdin is served by :class:`SafePoints` in every run, checkpointed or not,
    so that every worker runs it the same way (and burns the same fuel)."""
    imports = {(item.module, item.name): item.type for item in module.imports}
    safepoint = imports.get((SAFEPOINT_MODULE, SAFEPOINT_NAME))
    if not isinstance(safepoint, wasmtime.FuncType):
        return False
    if [str(t) for t in safepoint.params] != ["i32", "i32"] or list(safepoint.results):
        return False
    exports = {item.name: item.type for item in module.exports}
    return isinstance(exports.get("memory"), wasmtime.MemoryType) and all(
        isinstance(exports.get(name), wasmtime.FuncType) for name in ASYNCIFY_EXPORTS
    )


def is_checkpointable(compiled: CompiledModule) -> bool:
    """Whether runs of *compiled* can be checkpointed: it declares the safe-point ABI and
    its binary was read and has no mutable global an image would not save (every one an
    exported i32 or i64: a float's NaN payload would not survive the host, and
    wasmtime-py aborts the process on a ``v128``)."""
    return compiled.mutable_globals is not None and declares_safepoints(compiled.module)


class SafePoints:
    """The safe-point host of one run (one store, one instance).

    *checkpointable* is :func:`declares_safepoints`: the host serves its stdin from
    *stdin_pos* on (other modules read the sandbox's stdin file through WASI). *policy*
    None makes ``ccnet.safepoint`` return at once; with one, *globals_* are the export
    names of the mutable globals images save. *fuel_before* is the fuel of the job's
    earlier segments, *fuel_used* this run's so far.
    """

    def __init__(
        self,
        policy: CheckpointPolicy | None,
        *,
        checkpointable: bool,
        stdin: bytes,
        stdin_pos: int = 0,
        fuel_before: int = 0,
        checkpoints: int = 0,
        fuel_used: Callable[[], int],
        globals_: tuple[str, ...] = (),
    ) -> None:
        self.policy = policy if checkpointable else None
        self._globals = globals_
        self.checkpointable = checkpointable
        self._stdin = stdin
        self.stdin_pos = stdin_pos
        self.fuel_before = fuel_before
        self.checkpoints = checkpoints
        self._fuel_used = fuel_used
        every = self.policy.every_fuel if self.policy else None
        self._next_at = (fuel_before // every + 1) * every if every else None
        self.suspending = False
        """The checkpoint being taken ends the run (stop, or *suspend_at_fuel*)."""
        self.unwound: int | None = None
        """The unwind buffer's address while the stack is unwound (after a safe point
        that took a checkpoint), else None."""
        self._rewinding = False

    def define(self, linker: wasmtime.Linker, store: wasmtime.Store) -> None:
        """Define ``ccnet.safepoint``, Asyncify's two ``env`` globals (a module made with
        ``asyncify-relocatable`` imports them) and, for a module that declares safe
        points, ``fd_read`` in *linker* (which must allow shadowing WASI's)."""
        for name in ASYNCIFY_GLOBALS:
            kind = wasmtime.GlobalType(_I32, mutable=True)
            linker.define(store, "env", name, wasmtime.Global(store, kind, wasmtime.Val.i32(0)))
        linker.define_func(
            SAFEPOINT_MODULE,
            SAFEPOINT_NAME,
            wasmtime.FuncType([_I32, _I32], []),
            self._safepoint,
            access_caller=True,
        )
        if self.checkpointable:
            linker.define_func(
                _WASI,
                "fd_read",
                wasmtime.FuncType([_I32, _I32, _I32, _I32], [_I32]),
                self._fd_read,
                access_caller=True,
            )

    def _safepoint(self, caller: wasmtime.Caller, buffer: int, length: int) -> None:
        if self._rewinding:  # back at the safe point the image was taken at
            self._rewinding = False
            _call(caller, "asyncify_stop_rewind")
            return
        if self.policy is None:
            return
        total = self.fuel_before + self._fuel_used()
        due = self._next_at is not None and total >= self._next_at
        limit = self.policy.suspend_at_fuel
        self.suspending = self.policy.stop.is_set() or (limit is not None and total >= limit)
        if not (due or self.suspending):
            return
        if self.policy.every_fuel is not None:  # the next multiple of every_fuel after now
            self._next_at = (total // self.policy.every_fuel + 1) * self.policy.every_fuel
        buffer, length = buffer & 0xFFFFFFFF, length & 0xFFFFFFFF
        memory = caller.get("memory")
        assert isinstance(memory, wasmtime.Memory)
        if length < _MIN_UNWIND or buffer + length > memory.data_len(caller):
            raise wasmtime.Trap(
                f"ccnet.safepoint: unwind buffer [{buffer}, +{length}) is not inside memory"
            )
        # Asyncify's data buffer: [start, end) of the space after its 8-byte header.
        memory.write(caller, struct.pack("<II", buffer + 8, buffer + length), buffer)
        _call(caller, "asyncify_start_unwind", buffer)
        self.unwound = buffer

    def _fd_read(
        self, caller: wasmtime.Caller, fd: int, iovs: int, count: int, nread_ptr: int
    ) -> int:
        if fd != 0:
            return _EBADF
        memory = caller.get("memory")
        if not isinstance(memory, wasmtime.Memory):
            return _EFAULT
        iovs, count, nread_ptr = iovs & 0xFFFFFFFF, count & 0xFFFFFFFF, nread_ptr & 0xFFFFFFFF
        if count > _IOV_MAX:
            return _EINVAL
        size = memory.data_len(caller)
        if iovs + _IOVEC * count > size or nread_ptr + 4 > size:
            return _EFAULT
        vectors = memory.read(caller, iovs, iovs + _IOVEC * count)
        # As Wasmtime's own fd_read: only the first non-empty iovec is filled.
        spans = (struct.unpack_from("<II", vectors, _IOVEC * i) for i in range(count))
        ptr, length = next(((p, n) for p, n in spans if n), (0, 0))
        if ptr + length > size:
            return _EFAULT
        chunk = self._stdin[self.stdin_pos : self.stdin_pos + length]
        if chunk:
            memory.write(caller, chunk, ptr)
        self.stdin_pos += len(chunk)
        memory.write(caller, len(chunk).to_bytes(4, "little"), nread_ptr)
        return _ESUCCESS

    # -- images --------------------------------------------------------------------

    def capture(
        self,
        store: wasmtime.Store,
        instance: wasmtime.Instance,
        *,
        module_hash: bytes,
        input_hash: bytes,
        seed: bytes,
        random_calls: int,
        stdout: bytes,
        stderr: bytes,
    ) -> VmImage:
        """Stop the unwinding and save the instance as a :class:`VmImage`."""
        assert self.unwound is not None
        exports = instance.exports(store)
        _export(store, exports, "asyncify_stop_unwind")()
        memory = exports["memory"]
        assert isinstance(memory, wasmtime.Memory)
        data = memoryview(memory.read(store, 0, memory.data_len(store)))
        pages = {
            index: bytes(data[index * PAGE : (index + 1) * PAGE])
            for index in range(len(data) // PAGE)
            if data[index * PAGE : (index + 1) * PAGE] != _ZERO_PAGE
        }
        self.checkpoints += 1
        return VmImage(
            engine=ENGINE,
            module_hash=module_hash,
            input_hash=input_hash,
            seed=seed,
            fuel_used=self.fuel_before + self._fuel_used(),
            checkpoints=self.checkpoints,
            stdin_pos=self.stdin_pos,
            random_calls=random_calls,
            unwind_buffer=self.unwound,
            memory_size=len(data),
            pages=pages,
            globals=_read_globals(store, exports, self._globals),
            stdout=stdout,
            stderr=stderr,
        )

    def rewind(self, store: wasmtime.Store, instance: wasmtime.Instance, buffer: int) -> None:
        """Make the next ``_start`` call continue from the safe point the stack was
        unwound at (the same instance after :meth:`capture`, or a restored one)."""
        _export(store, instance.exports(store), "asyncify_start_rewind")(buffer)
        self.unwound = None
        self._rewinding = True

    def restore(
        self, store: wasmtime.Store, instance: wasmtime.Instance, image: VmImage, memory_cap: int
    ) -> None:
        """Load *image*'s memory and globals into the fresh *instance* and arm the
        rewind. :class:`MemoryLimitError` if its memory is above *memory_cap*,
        :class:`CheckpointMismatchError` if its globals are not this module's."""
        exports = instance.exports(store)
        memory = exports["memory"]
        assert isinstance(memory, wasmtime.Memory)
        if image.memory_size > memory_cap:
            raise MemoryLimitError(
                f"the checkpoint's memory ({image.memory_size} bytes) is above the cap of "
                f"{memory_cap} bytes",
                fuel_used=0,
            )
        have = memory.data_len(store)
        if image.memory_size < have:
            raise CheckpointMismatchError(
                f"the checkpoint's memory ({image.memory_size} bytes) is smaller than the "
                f"module's initial memory ({have} bytes)"
            )
        if image.memory_size > have:
            try:  # grow() returns the old size in pages (0 is a success too)
                memory.grow(store, (image.memory_size - have) // PAGE)
            except wasmtime.WasmtimeError:
                raise CheckpointMismatchError(
                    f"the module's memory cannot grow to the checkpoint's {image.memory_size} "
                    "bytes (its declared maximum is smaller)"
                ) from None
            if memory.data_len(store) != image.memory_size:
                raise MemoryLimitError("cannot grow the memory to the checkpoint's", fuel_used=0)
        for index in range(have // PAGE):  # data segments: pages the image has as zeros
            if index not in image.pages:
                memory.write(store, _ZERO_PAGE, index * PAGE)
        for index, page in image.pages.items():
            memory.write(store, page, index * PAGE)
        current = {g.name: g for g in _read_globals(store, exports, self._globals)}
        if sorted(current) != sorted(g.name for g in image.globals):
            raise CheckpointMismatchError(
                f"the checkpoint's globals {sorted(g.name for g in image.globals)} are not "
                f"the module's {sorted(current)}"
            )
        for item in image.globals:
            target = exports[item.name]
            assert isinstance(target, wasmtime.Global)
            if current[item.name].valtype != item.valtype:
                raise CheckpointMismatchError(f"global {item.name} is not a {item.valtype}")
            target.set_value(store, _from_bits(item.valtype, item.bits))
        self.rewind(store, instance, image.unwind_buffer)


def _call(caller: wasmtime.Caller, name: str, *args: int) -> None:
    func = caller.get(name)
    assert isinstance(func, wasmtime.Func)
    func(caller, *args)


def _export(store: wasmtime.Store, exports: InstanceExports, name: str) -> Callable[..., object]:
    func = exports[name]
    assert isinstance(func, wasmtime.Func)
    return lambda *args: func(store, *args)


def _read_globals(
    store: wasmtime.Store, exports: InstanceExports, names: tuple[str, ...]
) -> tuple[Global, ...]:
    """The globals *names* (i32 or i64, :func:`checkpointable_globals` checked it)."""
    found: list[Global] = []
    for name in names:
        item = exports[name]
        assert isinstance(item, wasmtime.Global)
        valtype = str(item.type(store).content)  # safe: an i32 or i64
        found.append(Global(name, valtype, _to_bits(valtype, item.value(store))))
    return tuple(found)


def _to_bits(valtype: str, value: int | float) -> int:
    if valtype == "i32":
        return int(value) & 0xFFFFFFFF
    if valtype == "i64":
        return int(value) & 0xFFFFFFFFFFFFFFFF
    if valtype == "f32":
        return int.from_bytes(struct.pack("<f", value), "little")
    if valtype == "f64":
        return int.from_bytes(struct.pack("<d", value), "little")
    raise CheckpointMismatchError(f"a mutable {valtype} global cannot be checkpointed")


def _from_bits(valtype: str, bits: int) -> int | float:
    if valtype == "i32":
        return bits - (1 << 32) if bits >= 1 << 31 else bits
    if valtype == "i64":
        return bits - (1 << 64) if bits >= 1 << 63 else bits
    if valtype == "f32":
        return float(struct.unpack("<f", bits.to_bytes(4, "little"))[0])
    return float(struct.unpack("<d", bits.to_bytes(8, "little"))[0])
