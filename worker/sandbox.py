"""The Wasm sandbox: runs a WASI (preview 1) command module under hard limits.

The contract a job runs under (capabilities, determinism, caps) is ``docs/protocol.md``,
section 12; Wasmtime's fuel and epoch interruption (https://docs.wasmtime.dev/) enforce
it. One :class:`Sandbox` owns a Wasmtime engine, its module cache
(:mod:`.modules`) and an epoch ticker thread; :meth:`Sandbox.run` runs one job in a
fresh store and returns a :class:`RunOutcome` or raises a
:class:`~ccnet.worker.exceptions.JobRunError`. No transport: bytes in, bytes out.

Limits (defaults in :class:`~ccnet.worker.config.SandboxConfig`, lowered per run by
:class:`RunLimits`):

- **fuel** (10 billion): every Wasm instruction burns fuel; at zero the job traps
  (:class:`FuelExhaustedError`). The fuel used is what the job is billed for.
- **deadline** (30 s): a ticker thread increments the engine epoch every 10 ms; a
  store's deadline is ``ceil(timeout / tick)`` epochs (:class:`DeadlineExceededError`).
- **memory** (256 MiB, one linear memory, one instance, few tables, through Wasmtime's
  store limits): ``memory.grow`` past the cap fails; a job that then stops is reported
  as :class:`MemoryLimitError` (see :func:`_hit_memory_cap` for how that is told).
- **output**: stdout and stderr are captured in memory up to their caps; a write past
  a cap fails in the guest and the run raises :class:`OutputLimitError`.
- **input**: stdin (served from a file in a private temporary directory) and argv
  are capped before anything runs (:class:`InputTooLargeError`).

Capabilities: WASI with explicit argv (``["job", *args]``), no environment
variables, no preopened directories (so no file system: ``path_open`` has no
directory to open from), no sockets, stdin from the given bytes.

Determinism, so that redundant executions agree bit for bit (and burn the same fuel):

- Cranelift NaN canonicalization on, deterministic relaxed SIMD, no threads or
  shared memory, no multi-memory.
- No wall clock: ``clock_time_get`` reads the constant ``clock_ns`` (0 by default)
  on every clock and ``clock_res_get`` reads 1 ns.
- Seeded randomness: ``random_get`` returns SHAKE-256 of (domain, the run's *seed*,
  a call counter); the same seed (e.g. the task id) gives the same bytes. An empty
  seed is a fixed stream, which is what jobs get by default.
- ``poll_oneoff`` (sleeps, waits) returns at once: clock subscriptions fire
  immediately, fd subscriptions report ``ENOTSUP``. Nothing can block the host.
- argv[0] is always :data:`ARGV0`: what a job does may depend on it.
- Fuel counts are a function of the module, its input (args, stdin, seed) and the
  Wasmtime version only: workers that share a version agree on ``fuel_used``. (After
  a trap, the count stops where the compiled code last synced it, which is just as
  deterministic; after an epoch interruption it is a lower bound, often 0.)
What jobs can still observe that is not part of the contract: metadata of the stdin
file (``fd_filestat_get`` on fd 0); jobs read stdin as a stream.
"""

from __future__ import annotations

import atexit
import errno
import hashlib
import logging
import math
import re
import tempfile
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import wasmtime

from ccnet.client.jobs.results import input_hash, output_hash
from ccnet.client.signing import RANDOM_DOMAIN

from .config import SandboxConfig
from .exceptions import (
    CheckpointMismatchError,
    ConfigError,
    DeadlineExceededError,
    FuelExhaustedError,
    InputTooLargeError,
    InvalidModuleError,
    JobExitError,
    JobRunError,
    JobTrapError,
    MemoryLimitError,
    NotCheckpointableError,
    OutputLimitError,
    SandboxClosedError,
)
from .modules import CompiledModule, ModuleCache
from .vmcheckpoint.host import (
    ENGINE,
    CheckpointPolicy,
    SafePoints,
    declares_safepoints,
    is_checkpointable,
)
from .vmcheckpoint.image import ABI_VERSION, VmImage

__all__ = ["ARGV0", "RunLimits", "RunOutcome", "Sandbox", "SuspendedRun", "check_image"]

log = logging.getLogger(__name__)

WASI = "wasi_snapshot_preview1"
ARGV0 = "job"
"""argv[0] of every run: fixed, since a job's work (and fuel) may depend on it."""

# WASI preview 1 errno values.
_ESUCCESS = 0
_EBADF = 8
_EFAULT = 21
_EINVAL = 28
_ENOTSUP = 58
_MAX_POLL_SUBSCRIPTIONS = 4096
_WASM_PAGE = 65536
_RUST_OOM = re.compile(rb"memory allocation of (\d+) bytes failed")


@dataclass(frozen=True, kw_only=True)
class RunLimits:
    """Per-run limits; ``None`` keeps the sandbox default. Each value must be at most
    the sandbox's configured cap (a run can be tighter, never looser)."""

    fuel: int | None = None
    """Fuel budget, fuel."""
    timeout_ms: int | None = None
    """Wall-clock deadline, ms."""
    memory_bytes: int | None = None
    """Linear-memory cap, bytes."""
    stdout_bytes: int | None = None
    """Stdout cap, bytes."""
    stderr_bytes: int | None = None
    """Stderr cap, bytes."""


@dataclass(frozen=True)
class _Effective:
    fuel: int
    timeout_ms: int
    memory_bytes: int
    stdout_bytes: int
    stderr_bytes: int


@dataclass(frozen=True)
class RunOutcome:
    """A job that exited with code 0."""

    module_hash: bytes
    """The module's hash (blake2b-256 of its Wasm binary), 32 bytes."""
    stdout: bytes
    """Everything the job wrote to stdout: its output."""
    stderr: bytes
    """Everything it wrote to stderr (diagnostics, not part of the result)."""
    fuel_used: int
    """Fuel burnt, fuel (deterministic: what billing charges)."""
    elapsed_ms: float
    """Wall-clock time of the run, ms (informational, differs between runs)."""
    memory_bytes: int
    """Size of the job's linear memory at exit (its peak), bytes."""
    fuel_before: int = 0
    """Fuel of the job's segments before this run, when it resumed a VM checkpoint,
    fuel: the job's total is ``fuel_before + fuel_used``."""
    checkpoints: int = 0
    """VM checkpoints the job has taken, over all its segments."""

    @property
    def output_hash(self) -> bytes:
        """:func:`output_hash` of :attr:`stdout`, 32 bytes."""
        return output_hash(self.stdout)


@dataclass(frozen=True)
class SuspendedRun:
    """A run stopped at a safe point (:attr:`CheckpointPolicy.stop`): resume *image*."""

    image: VmImage
    """Where the job stopped; its ``fuel_used`` counts every segment so far."""
    fuel_used: int
    """Fuel burnt by this run (this worker's segment), fuel."""
    elapsed_ms: float
    """Wall-clock time of this run, ms."""


class _Capture:
    """A WASI output stream kept in memory up to *limit* bytes.

    Wasmtime calls it from one of its own threads and waits for it before the guest's
    write returns. A write past the limit is refused (``-EFBIG``) and remembered.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.data = bytearray()
        self.overflow = False
        _LIVE_CAPTURES.add(self)

    def __call__(self, chunk: bytes) -> int:
        if self.overflow or len(self.data) + len(chunk) > self.limit:
            self.overflow = True
            return -errno.EFBIG
        self.data += chunk
        return len(chunk)


# Wasmtime drops a store's output streams on one of its own threads, shortly after the
# store; the stream's finalizer calls back into Python. If the interpreter is already
# shutting down by then, that thread aborts with a panic message. So at exit, wait
# (briefly) until every capture was released.
_LIVE_CAPTURES: weakref.WeakSet[_Capture] = weakref.WeakSet()


@atexit.register
def _wait_for_released_captures(timeout_s: float = 2.0) -> None:
    deadline = time.monotonic() + timeout_s
    while len(_LIVE_CAPTURES) and time.monotonic() < deadline:
        time.sleep(0.005)


class _Determinism:
    """The host side of the WASI calls that would read the world: clocks, randomness
    and waits. Defined over the WASI ones in each run's linker."""

    def __init__(self, clock_ns: int, seed: bytes, calls: int = 0) -> None:
        self._clock = clock_ns.to_bytes(8, "little")
        self._seed = seed
        self.calls = calls
        """``random_get`` calls so far (a VM checkpoint carries it)."""

    def define(self, linker: wasmtime.Linker) -> None:
        i32, i64 = wasmtime.ValType.i32(), wasmtime.ValType.i64()
        linker.define_func(
            WASI,
            "clock_time_get",
            wasmtime.FuncType([i32, i64, i32], [i32]),
            self.clock_time_get,
            access_caller=True,
        )
        linker.define_func(
            WASI,
            "clock_res_get",
            wasmtime.FuncType([i32, i32], [i32]),
            self.clock_res_get,
            access_caller=True,
        )
        linker.define_func(
            WASI,
            "random_get",
            wasmtime.FuncType([i32, i32], [i32]),
            self.random_get,
            access_caller=True,
        )
        linker.define_func(
            WASI,
            "poll_oneoff",
            wasmtime.FuncType([i32, i32, i32, i32], [i32]),
            self.poll_oneoff,
            access_caller=True,
        )

    def clock_time_get(self, caller: wasmtime.Caller, clock: int, _precision: int, ptr: int) -> int:
        if not 0 <= clock <= 3:
            return _EINVAL
        return _write(caller, ptr, self._clock)

    def clock_res_get(self, caller: wasmtime.Caller, clock: int, ptr: int) -> int:
        if not 0 <= clock <= 3:
            return _EINVAL
        return _write(caller, ptr, (1).to_bytes(8, "little"))

    def random_get(self, caller: wasmtime.Caller, ptr: int, length: int) -> int:
        length &= 0xFFFFFFFF
        memory = _memory(caller)
        if memory is None or (ptr & 0xFFFFFFFF) + length > memory.data_len(caller):
            return _EFAULT
        self.calls += 1
        stream = hashlib.shake_256(
            RANDOM_DOMAIN + len(self._seed).to_bytes(4, "little") + self._seed
        )
        stream.update(self.calls.to_bytes(8, "little"))
        return _write(caller, ptr, stream.digest(length)) if length else _ESUCCESS

    def poll_oneoff(
        self, caller: wasmtime.Caller, in_ptr: int, out_ptr: int, count: int, nevents_ptr: int
    ) -> int:
        in_ptr, out_ptr, count = in_ptr & 0xFFFFFFFF, out_ptr & 0xFFFFFFFF, count & 0xFFFFFFFF
        if count == 0 or count > _MAX_POLL_SUBSCRIPTIONS:
            return _EINVAL
        memory = _memory(caller)
        if memory is None:
            return _EFAULT
        size = memory.data_len(caller)
        if in_ptr + 48 * count > size or out_ptr + 32 * count > size:
            return _EFAULT
        subscriptions = memory.read(caller, in_ptr, in_ptr + 48 * count)
        events = bytearray(32 * count)
        for i in range(count):
            sub = subscriptions[48 * i : 48 * (i + 1)]
            tag = sub[8]
            events[32 * i : 32 * i + 8] = sub[0:8]  # userdata
            error = _ESUCCESS if tag == 0 else (_ENOTSUP if tag in (1, 2) else _EINVAL)
            events[32 * i + 8 : 32 * i + 10] = error.to_bytes(2, "little")
            events[32 * i + 10] = tag
        status = _write(caller, out_ptr, bytes(events))
        if status != _ESUCCESS:
            return status
        return _write(caller, nevents_ptr, count.to_bytes(4, "little"))


def _memory(caller: wasmtime.Caller) -> wasmtime.Memory | None:
    item = caller.get("memory")
    return item if isinstance(item, wasmtime.Memory) else None


def _write(caller: wasmtime.Caller, ptr: int, data: bytes) -> int:
    memory = _memory(caller)
    if memory is None:
        return _EFAULT
    try:
        memory.write(caller, data, ptr & 0xFFFFFFFF)
    except IndexError:
        return _EFAULT
    return _ESUCCESS


class Sandbox:
    """Runs job modules under the limits of *config* (default: ``SandboxConfig.from_env()``).

    Use as a context manager or call :meth:`close`. Thread-safe: runs may overlap on
    several threads (each gets its own store); they share the engine, the module
    cache and the epoch ticker. :meth:`run` blocks for as long as the job runs: from
    asyncio, call it through ``asyncio.to_thread``.
    """

    def __init__(self, config: SandboxConfig | None = None) -> None:
        self.config = config if config is not None else SandboxConfig.from_env()
        wasm_config = wasmtime.Config()
        settings: dict[str, Any] = {
            "consume_fuel": True,
            "epoch_interruption": True,
            "cranelift_nan_canonicalization": True,
            "wasm_relaxed_simd_deterministic": True,
            "wasm_threads": False,
            "wasm_multi_memory": False,
            "max_wasm_stack": self.config.max_wasm_stack_bytes,
            "cranelift_opt_level": "speed",
        }
        for name, value in settings.items():
            setattr(wasm_config, name, value)
        wasm_config.strategy = "cranelift"
        self.fingerprint = ";".join(f"{k}={v}" for k, v in sorted(settings.items()))
        """The engine settings, as keyed into the artifact cache."""
        self._engine = wasmtime.Engine(wasm_config)
        self.modules = ModuleCache(
            self._engine,
            self.fingerprint,
            artifact_dir=self.config.artifact_dir,
            max_entries=self.config.module_cache_entries,
        )
        """The compiled-module cache of this sandbox's engine."""
        self._closed = threading.Event()
        self._ticker = threading.Thread(target=self._tick, name="ccnet-sandbox-epoch", daemon=True)
        self._ticker.start()

    @property
    def engine(self) -> wasmtime.Engine:
        """The Wasmtime engine (modules must be compiled for it)."""
        return self._engine

    def _tick(self) -> None:
        period = self.config.epoch_tick_ms / 1000
        while not self._closed.wait(period):
            self._engine.increment_epoch()

    def close(self) -> None:
        """Stop the epoch ticker; later runs raise :class:`SandboxClosedError`."""
        self._closed.set()
        if self._ticker.is_alive() and self._ticker is not threading.current_thread():
            self._ticker.join()

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def compile(self, wasm: bytes) -> CompiledModule:
        """The compiled module of *wasm* (cached by hash); :class:`InvalidModuleError`."""
        return self.modules.load(wasm)

    def run(
        self,
        module: bytes | CompiledModule,
        *,
        args: Sequence[str] = (),
        stdin: bytes = b"",
        limits: RunLimits | None = None,
        seed: bytes = b"",
    ) -> RunOutcome:
        """Run *module* (Wasm bytes or a :class:`CompiledModule` of this sandbox) as a
        WASI command: argv is ``[ARGV0, *args]``, stdin is *stdin*, *seed* feeds
        ``random_get``. Returns the outcome when the job exits with code 0.

        Raises (all :class:`JobRunError`, with ``fuel_used`` and ``stderr``):
        :class:`FuelExhaustedError`, :class:`DeadlineExceededError`, :class:`MemoryLimitError`,
        :class:`OutputLimitError`, :class:`JobTrapError`, :class:`JobExitError`.
        Before running: :class:`InvalidModuleError` (does not compile, unknown imports,
        no ``_start``), :class:`InputTooLargeError`, :class:`SandboxClosedError`,
        :class:`~ccnet.worker.exceptions.ConfigError` (limits above the caps).
        """
        outcome = self._checked_run(module, args, stdin, limits, seed, None, None)
        assert isinstance(outcome, RunOutcome)  # no policy: it never suspends
        return outcome

    def run_checkpointed(
        self,
        module: bytes | CompiledModule,
        *,
        policy: CheckpointPolicy,
        resume: VmImage | None = None,
        args: Sequence[str] = (),
        stdin: bytes = b"",
        limits: RunLimits | None = None,
        seed: bytes = b"",
    ) -> RunOutcome | SuspendedRun:
        """:meth:`run` with VM checkpoints (``docs/vm-checkpoints.md``): images are taken
        at safe points as *policy* says, and the run returns a :class:`SuspendedRun` when
        its ``stop`` is set. With *resume*, the job continues from that image (same
        module, args, stdin and seed): the outcome's ``stdout`` is the whole output, its
        ``fuel_used`` this run's and ``fuel_before`` the earlier segments'. *limits*
        apply to this run (its fuel, its deadline); the output caps to the whole output.

        Raises what :meth:`run` raises, :class:`NotCheckpointableError` for a module
        without safe points (run it with :meth:`run`), and
        :class:`CheckpointMismatchError` for an image of another module, engine, job
        ABI or input.
        """
        compiled = module if isinstance(module, CompiledModule) else self.compile(module)
        if not is_checkpointable(compiled):
            raise NotCheckpointableError(
                "the module has no safe points (no ccnet.safepoint import, not "
                "instrumented with Asyncify), a mutable global an image cannot save, or "
                "was loaded here without its bytes: it runs, but cannot be checkpointed"
            )
        if resume is not None:
            check_image(resume, compiled.hash, input_hash(list(args), stdin), seed, len(stdin))
        return self._checked_run(compiled, args, stdin, limits, seed, policy, resume)

    def _checked_run(
        self,
        module: bytes | CompiledModule,
        args: Sequence[str],
        stdin: bytes,
        limits: RunLimits | None,
        seed: bytes,
        policy: CheckpointPolicy | None,
        resume: VmImage | None,
    ) -> RunOutcome | SuspendedRun:
        if self._closed.is_set():
            raise SandboxClosedError("the sandbox is closed")
        compiled = module if isinstance(module, CompiledModule) else self.compile(module)
        limit = self._effective(limits)
        argv = [ARGV0, *args]
        argv_size = sum(len(a.encode()) + 1 for a in argv)
        if argv_size > self.config.argv_limit_bytes or any("\0" in a for a in argv):
            raise InputTooLargeError(
                f"argv is {argv_size} bytes or holds NUL (cap {self.config.argv_limit_bytes})"
            )
        if len(stdin) > self.config.stdin_limit_bytes:
            raise InputTooLargeError(
                f"stdin is {len(stdin)} bytes (cap {self.config.stdin_limit_bytes})"
            )
        with tempfile.TemporaryDirectory(prefix="ccnet-job-") as tmp:
            stdin_path = Path(tmp) / "stdin"
            stdin_path.write_bytes(stdin)
            return self._run(compiled, argv, stdin, stdin_path, limit, seed, policy, resume)

    def _effective(self, limits: RunLimits | None) -> _Effective:
        cfg = self.config
        caps = {
            "fuel": cfg.fuel_limit,
            "timeout_ms": cfg.timeout_ms,
            "memory_bytes": cfg.memory_limit_bytes,
            "stdout_bytes": cfg.stdout_limit_bytes,
            "stderr_bytes": cfg.stderr_limit_bytes,
        }
        values = dict(caps)
        if limits is not None:
            for name, cap in caps.items():
                value = getattr(limits, name)
                if value is None:
                    continue
                if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= cap:
                    raise ConfigError(f"run limit {name}={value!r} must be in [0, {cap}]")
                values[name] = value
        return _Effective(**values)

    def _run(
        self,
        compiled: CompiledModule,
        argv: list[str],
        stdin: bytes,
        stdin_path: Path,
        limit: _Effective,
        seed: bytes,
        policy: CheckpointPolicy | None,
        resume: VmImage | None,
    ) -> RunOutcome | SuspendedRun:
        stdout, stderr = _Capture(limit.stdout_bytes), _Capture(limit.stderr_bytes)
        if resume is not None:  # the output so far counts against the caps
            stdout(resume.stdout)
            stderr(resume.stderr)
            error = _classify(None, 0, 0, stdout, stderr, 0, limit.memory_bytes)
            if error is not None:  # refused before anything runs
                raise error
        store = wasmtime.Store(self._engine)
        linker = wasmtime.Linker(self._engine)
        try:
            store.set_limits(
                memory_size=limit.memory_bytes,
                table_elements=self.config.table_elements_limit,
                instances=1,
                tables=4,
                memories=1,
            )
            store.set_fuel(limit.fuel)
            ticks = max(1, math.ceil(limit.timeout_ms / self.config.epoch_tick_ms))
            store.set_epoch_deadline(ticks)
            wasi = wasmtime.WasiConfig()
            wasi.argv = argv
            wasi.stdin_file = str(stdin_path)
            wasi.stdout_custom = stdout
            wasi.stderr_custom = stderr
            store.set_wasi(wasi)
            linker.define_wasi()
            linker.allow_shadowing = True
            determinism = _Determinism(
                self.config.clock_ns, seed, resume.random_calls if resume else 0
            )
            determinism.define(linker)

            def fuel_used() -> int:
                return limit.fuel - store.get_fuel()

            points = SafePoints(
                policy,
                checkpointable=declares_safepoints(compiled.module),
                globals_=compiled.mutable_globals or (),
                stdin=stdin,
                stdin_pos=resume.stdin_pos if resume else 0,
                fuel_before=resume.fuel_used if resume else 0,
                checkpoints=resume.checkpoints if resume else 0,
                fuel_used=fuel_used,
            )
            points.define(linker, store)
            instance = self._instantiate(linker, store, compiled, limit, fuel_used)
            start = instance.exports(store).get("_start")
            if not isinstance(start, wasmtime.Func):
                raise InvalidModuleError("module exports no _start function (not a command)")
            memory = instance.exports(store).get("memory")

            def memory_size() -> int:
                return memory.data_len(store) if isinstance(memory, wasmtime.Memory) else 0

            job_input = input_hash(argv[1:], stdin) if policy is not None else b""
            began = time.perf_counter()
            host_s = 0.0  # time spent saving images: not the job's, not on its deadline
            failure: BaseException | None = None
            exit_code = 0
            try:
                if resume is not None:  # the rewind runs Wasm: fuel, traps, deadline
                    points.restore(store, instance, resume, limit.memory_bytes)
                while True:
                    try:
                        start(store)
                    except wasmtime.ExitTrap as err:
                        exit_code = err.code
                    if exit_code != 0 or points.unwound is None:
                        break
                    # Unwound at a safe point: save the image, then stop or go on.
                    assert policy is not None
                    saving = time.perf_counter()
                    buffer = points.unwound
                    image = points.capture(
                        store,
                        instance,
                        module_hash=compiled.hash,
                        input_hash=job_input,
                        seed=seed,
                        random_calls=determinism.calls,
                        stdout=bytes(stdout.data),
                        stderr=bytes(stderr.data),
                    )
                    if policy.on_image is not None:
                        policy.on_image(image)
                    if points.suspending or policy.stop.is_set():
                        return SuspendedRun(
                            image=image,
                            fuel_used=fuel_used(),
                            elapsed_ms=(time.perf_counter() - began) * 1000,
                        )
                    host_s += time.perf_counter() - saving
                    job_ms = (time.perf_counter() - began - host_s) * 1000
                    store.set_epoch_deadline(
                        max(1, ticks - math.ceil(job_ms / self.config.epoch_tick_ms))
                    )
                    points.rewind(store, instance, buffer)
            except (wasmtime.Trap, wasmtime.WasmtimeError) as err:
                failure = err
            elapsed_ms = (time.perf_counter() - began) * 1000
            used = fuel_used()
            error = _classify(
                failure, exit_code, used, stdout, stderr, memory_size(), limit.memory_bytes
            )
            if error is not None:
                raise error
            return RunOutcome(
                module_hash=compiled.hash,
                stdout=bytes(stdout.data),
                stderr=bytes(stderr.data),
                fuel_used=used,
                elapsed_ms=elapsed_ms,
                memory_bytes=memory_size(),
                fuel_before=points.fuel_before,
                checkpoints=points.checkpoints,
            )
        finally:
            linker.close()
            store.close()

    def _instantiate(
        self,
        linker: wasmtime.Linker,
        store: wasmtime.Store,
        compiled: CompiledModule,
        limit: _Effective,
        fuel_used: Callable[[], int],
    ) -> wasmtime.Instance:
        try:
            return linker.instantiate(store, compiled.module)
        except wasmtime.Trap as err:  # a start function that traps
            raise (
                _classify(err, 0, fuel_used(), None, None, 0, limit.memory_bytes) or err
            ) from None
        except wasmtime.WasmtimeError as err:
            text = str(err)
            if "memory" in text and ("limit" in text or "minimum" in text):
                raise MemoryLimitError(
                    f"the module needs more memory than the cap of {limit.memory_bytes} bytes",
                    fuel_used=0,
                ) from None
            raise InvalidModuleError(f"cannot instantiate: {_first_line(text)}") from None


def check_image(
    image: VmImage,
    module_hash: bytes,
    job_input: bytes,
    seed: bytes,
    stdin_len: int,
    *,
    engine: bool = True,
) -> None:
    """:class:`CheckpointMismatchError` unless *image* is one of this job's (*engine*:
    and made by this engine and job ABI, as resuming it needs: another engine's fuel
    would not agree)."""
    if engine and (image.engine != ENGINE or image.abi != ABI_VERSION):
        raise CheckpointMismatchError(
            f"the checkpoint was made by {image.engine} (job ABI {image.abi}); this worker "
            f"runs {ENGINE} (job ABI {ABI_VERSION}), whose fuel would not agree"
        )
    if image.module_hash != module_hash:
        raise CheckpointMismatchError(
            f"the checkpoint is of module 0x{image.module_hash.hex()}, not 0x{module_hash.hex()}"
        )
    if image.input_hash != job_input or image.seed != seed:
        raise CheckpointMismatchError(
            "the checkpoint is of another input (args, stdin or seed) of this module"
        )
    # Counters a crafted image could set beyond what a run can reach.
    if image.stdin_pos > stdin_len:
        raise CheckpointMismatchError(
            f"the checkpoint has read {image.stdin_pos} bytes of a {stdin_len}-byte stdin"
        )
    if image.unwind_buffer + 16 > image.memory_size:
        raise CheckpointMismatchError("the checkpoint's unwind buffer is outside its memory")
    if max(image.fuel_used, image.random_calls) >= 1 << 62 or image.checkpoints >= 1 << 31:
        raise CheckpointMismatchError("the checkpoint's counters are out of range")


def _first_line(text: str) -> str:
    for line in text.strip().splitlines():
        if line.strip():
            return line.strip()
    return text


def _trap_reason(err: BaseException) -> str:
    """The 'Caused by' part of a Wasmtime error, else its first line."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    if "Caused by:" in lines:
        tail = lines[lines.index("Caused by:") + 1 :]
        if tail:
            return re.sub(r"^\d+:\s*", "", tail[-1])
    return lines[0] if lines else type(err).__name__


def _hit_memory_cap(stderr: bytes, memory_bytes: int, cap: int) -> bool:
    """Whether a failed run most likely failed for want of memory.

    Wasmtime's store limits make ``memory.grow`` return -1 without telling the host,
    so the host infers it: the memory is within one MiB of the cap (a page-by-page
    bomb), or the job reported an allocation that would not fit (Rust's
    ``memory allocation of N bytes failed`` before it aborts).
    """
    if memory_bytes + 16 * _WASM_PAGE > cap:
        return True
    match = _RUST_OOM.search(stderr)
    return match is not None and memory_bytes + int(match.group(1)) > cap


def _classify(
    failure: BaseException | None,
    exit_code: int,
    fuel_used: int,
    stdout: _Capture | None,
    stderr: _Capture | None,
    memory_bytes: int,
    memory_cap: int,
) -> JobRunError | None:
    err_bytes = bytes(stderr.data) if stderr is not None else b""
    for name, capture in (("stdout", stdout), ("stderr", stderr)):
        if capture is not None and capture.overflow:
            return OutputLimitError(
                f"the job wrote more than {capture.limit} bytes to {name}",
                stream=name,
                fuel_used=fuel_used,
                stderr=err_bytes,
            )
    if failure is None and exit_code == 0:
        return None
    code = failure.trap_code if isinstance(failure, wasmtime.Trap) else None
    if code == wasmtime.TrapCode.OUT_OF_FUEL:
        return FuelExhaustedError(
            f"the job used up its fuel ({fuel_used})", fuel_used=fuel_used, stderr=err_bytes
        )
    if code == wasmtime.TrapCode.INTERRUPT:
        return DeadlineExceededError(
            "the job ran past its deadline", fuel_used=fuel_used, stderr=err_bytes
        )
    if _hit_memory_cap(err_bytes, memory_bytes, memory_cap):
        return MemoryLimitError(
            f"the job needed more than {memory_cap} bytes of memory (at {memory_bytes})",
            fuel_used=fuel_used,
            stderr=err_bytes,
        )
    if failure is not None:
        return JobTrapError(
            f"the job trapped: {_trap_reason(failure)}",
            trap=code.name if code is not None else None,
            fuel_used=fuel_used,
            stderr=err_bytes,
        )
    return JobExitError(
        f"the job exited with code {exit_code}",
        exit_code=exit_code,
        fuel_used=fuel_used,
        stderr=err_bytes,
    )
