"""The daemon's job executor: known modules by hash, sandbox runs off the event loop,
signed results, run statistics.

Shared by every path a job can take in the daemon (a requester's job over a data
channel, an on-chain task it claimed, a dispute it re-executes as a verifier), so they
share one concurrency limit and one set of counters (heartbeat metrics).

- :class:`ModuleStore`: the modules this worker can run without asking for them: the
  built-in jobs (:func:`~ccnet.client.jobs.catalogue.load_job`) and every module received
  before, kept on disk as ``<dir>/<hash hex>.wasm`` (written atomically), so a restarted
  worker still knows them. A module is named by its
  :func:`~ccnet.client.jobs.catalogue.module_hash` (blake2b-256, 32 bytes); bytes that do not
  hash to the name asked for are refused.
- :class:`JobExecutor`: runs :meth:`Sandbox.run <ccnet.worker.sandbox.Sandbox.run>` in
  its own thread pool of ``max_jobs`` threads (jobs beyond wait for a thread), applies
  the fault injector (:mod:`.faults`) to the results it hands out, and signs each
  result (:meth:`ccnet.client.jobs.results.SignedResult.create`). :meth:`JobExecutor.close`
  aborts running jobs by moving the engine's epoch past every deadline, then waits for
  the threads: shutdown never waits for a job to finish on its own.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import math
import os
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from substrateinterface import Keypair

from ccnet.client.jobs.catalogue import BUILTIN_JOBS, WASM_MAGIC, load_job, module_hash
from ccnet.client.jobs.exceptions import JobModuleNotBuiltError
from ccnet.client.jobs.heartbeat import HeartbeatMetrics
from ccnet.client.jobs.messages import MAX_MESSAGE_SIZE
from ccnet.client.jobs.results import SignedResult, input_hash

from .exceptions import JobRunError, ModuleRejectedError, UnknownModuleError, WorkerBusyError
from .faults import FaultInjector
from .metrics import WorkerMetrics
from .modules import CompiledModule
from .sandbox import RunLimits, RunOutcome, Sandbox, SuspendedRun
from .vmcheckpoint import CheckpointPolicy, VmImage

__all__ = ["ExecutedJob", "JobExecutor", "ModuleStore"]

log = logging.getLogger(__name__)

DEFAULT_MAX_MODULE_BYTES = MAX_MESSAGE_SIZE
"""Largest module a worker keeps, bytes: what one job message can carry (16 MiB)."""


class ModuleStore:
    """Modules by hash: built-in jobs (in memory) and received ones (on disk in
    *directory*, or in memory when ``None``). *max_module_bytes* caps a received
    module. Thread-safe."""

    def __init__(
        self,
        directory: Path | None,
        *,
        builtin: bool = True,
        max_module_bytes: int = DEFAULT_MAX_MODULE_BYTES,
    ) -> None:
        self.directory = directory
        self.max_module_bytes = max_module_bytes
        self._lock = threading.Lock()
        self._memory: dict[bytes, bytes] = {}
        self.builtin: dict[str, bytes] = {}
        """Built-in job name -> module hash, for those that are built."""
        if directory is not None:
            directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        if builtin:
            for name in BUILTIN_JOBS:
                try:
                    wasm = load_job(name)
                except JobModuleNotBuiltError as err:
                    log.warning("built-in job %s is not available: %s", name, err)
                    continue
                digest = module_hash(wasm)
                self._memory[digest] = wasm
                self.builtin[name] = digest

    def _path(self, digest: bytes) -> Path | None:
        return self.directory / f"{digest.hex()}.wasm" if self.directory is not None else None

    def __contains__(self, digest: object) -> bool:
        if not isinstance(digest, bytes):
            return False
        with self._lock:
            if digest in self._memory:
                return True
        path = self._path(digest)
        return path is not None and path.is_file()

    def get(self, digest: bytes) -> bytes | None:
        """The Wasm bytes of module *digest* (32 bytes), or ``None``."""
        with self._lock:
            wasm = self._memory.get(digest)
        if wasm is not None:
            return wasm
        path = self._path(digest)
        if path is None:
            return None
        try:
            wasm = path.read_bytes()
        except FileNotFoundError:
            return None
        if module_hash(wasm) != digest:  # a damaged file: forget it
            log.warning("dropping module file %s: its bytes do not match its name", path)
            path.unlink(missing_ok=True)
            return None
        return wasm

    def add(self, wasm: bytes, expected_hash: bytes | None = None) -> bytes:
        """Keep *wasm* and return its hash. Raises :class:`ModuleRejectedError` when it does not
        hash to *expected_hash*, is over ``max_module_bytes`` or is not Wasm."""
        if len(wasm) > self.max_module_bytes:
            raise ModuleRejectedError(
                f"module of {len(wasm)} bytes is over the {self.max_module_bytes}-byte cap"
            )
        if not wasm.startswith(WASM_MAGIC):
            raise ModuleRejectedError("not a Wasm binary (no \\0asm header)")
        digest = module_hash(wasm)
        if expected_hash is not None and digest != expected_hash:
            raise ModuleRejectedError(
                f"module bytes hash to 0x{digest.hex()}, not 0x{expected_hash.hex()}"
            )
        path = self._path(digest)
        if path is None:
            with self._lock:
                self._memory[digest] = wasm
            return digest
        if not path.is_file():
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".wasm")
            with os.fdopen(fd, "wb") as out:
                out.write(wasm)
            os.replace(tmp, path)
        return digest


@dataclass(frozen=True)
class ExecutedJob:
    """A job that ran to exit code 0."""

    outcome: RunOutcome
    """The run (its stdout corrupted when :attr:`corrupted`)."""
    result: SignedResult
    """The signed result of :attr:`outcome`."""
    corrupted: bool
    """Whether fault injection falsified this result."""


class JobExecutor:
    """Runs jobs for the daemon (see the module docs).

    *keypair* signs results; *modules* resolves module hashes; *max_jobs* jobs run at
    once; *faults* may corrupt one result (default: never); *metrics* counts the fuel
    of every run.
    """

    def __init__(
        self,
        sandbox: Sandbox,
        keypair: Keypair,
        modules: ModuleStore,
        *,
        max_jobs: int = 2,
        faults: FaultInjector | None = None,
        metrics: WorkerMetrics | None = None,
    ) -> None:
        if max_jobs < 1:
            raise ValueError("max_jobs must be at least 1")
        self.sandbox = sandbox
        self.keypair = keypair
        self.modules = modules
        self.max_jobs = max_jobs
        self.faults = faults if faults is not None else FaultInjector()
        self.worker_metrics = metrics if metrics is not None else WorkerMetrics()
        self._pool = ThreadPoolExecutor(max_workers=max_jobs, thread_name_prefix="ccnet-job")
        self._started = time.monotonic()
        self._closed = False
        self.running = 0
        """Jobs submitted and not finished (waiting for a thread included)."""
        self.completed = 0
        """Jobs that exited with code 0."""
        self.failed = 0
        """Jobs that ended with a run error."""
        self.fuel_used = 0
        """Fuel burnt by all jobs, fuel."""
        self.speed_milli = 0
        """Self-benchmark speed multiplier x 1000 (set by the daemon)."""

    def knows(self, digest: bytes) -> bool:
        """Whether module *digest* can run without being sent."""
        return digest in self.modules

    def limits(
        self,
        *,
        fuel: int | None = None,
        timeout_ms: int | None = None,
        memory_bytes: int | None = None,
    ) -> RunLimits:
        """Per-run limits: each asked value capped by the sandbox's own (``None`` keeps
        the sandbox default)."""
        cfg = self.sandbox.config
        return RunLimits(
            fuel=None if fuel is None else min(fuel, cfg.fuel_limit),
            timeout_ms=None if timeout_ms is None else min(timeout_ms, cfg.timeout_ms),
            memory_bytes=None
            if memory_bytes is None
            else min(memory_bytes, cfg.memory_limit_bytes),
        )

    def fuel_limit(self, limits: RunLimits) -> int:
        """The fuel budget a run with *limits* gets, fuel."""
        return limits.fuel if limits.fuel is not None else self.sandbox.config.fuel_limit

    def _compiled(self, digest: bytes) -> CompiledModule:
        if digest not in self.modules:
            raise UnknownModuleError(digest)
        compiled = self.sandbox.modules.get(digest)
        if compiled is not None:
            return compiled
        wasm = self.modules.get(digest)
        if wasm is None:
            raise UnknownModuleError(digest)
        return self.sandbox.compile(wasm)

    def _run(
        self,
        digest: bytes,
        args: Sequence[str],
        stdin: bytes,
        limits: RunLimits | None,
        seed: bytes,
    ) -> RunOutcome:
        return self.sandbox.run(
            self._compiled(digest), args=args, stdin=stdin, limits=limits, seed=seed
        )

    async def run(
        self,
        module: bytes,
        *,
        task_id: int,
        args: Sequence[str] = (),
        stdin: bytes = b"",
        limits: RunLimits | None = None,
        seed: bytes = b"",
        honest: bool = False,
        onchain: bool = False,
        label: str = "a job",
    ) -> ExecutedJob:
        """Run module *module* (its 32-byte hash) and sign the result as job *task_id*.

        *honest* bypasses fault injection (re-executions as a verifier); *onchain* says
        the result is to be submitted on chain (for the fault modes that only lie
        there). *label* names the job in logs. Raises :class:`UnknownModuleError`, the
        sandbox's errors (:class:`~ccnet.worker.exceptions.JobRunError` and the ones raised
        before running), or :class:`WorkerBusyError` once closed (the daemon is
        stopping).
        """
        call = functools.partial(self._run, module, tuple(args), stdin, limits, seed)
        outcome = await self._submit(call)
        assert isinstance(outcome, RunOutcome)
        return self._sign(
            outcome, task_id, args, stdin, honest=honest, onchain=onchain, label=label
        )

    async def run_checkpointed(
        self,
        module: bytes,
        *,
        task_id: int,
        policy: CheckpointPolicy,
        resume: VmImage | None = None,
        args: Sequence[str] = (),
        stdin: bytes = b"",
        limits: RunLimits | None = None,
        seed: bytes = b"",
        label: str = "a job",
    ) -> ExecutedJob | SuspendedRun:
        """:meth:`run` through :meth:`Sandbox.run_checkpointed
        <ccnet.worker.sandbox.Sandbox.run_checkpointed>`: images are taken as *policy*
        says (its ``on_image`` runs on the job's thread), and from *resume* when given.
        A job that ran to its end is signed as in :meth:`run`, with this run's fuel
        only (``fuel_used``: what this worker bills, fuel); a job stopped at a safe
        point is the :class:`~ccnet.worker.sandbox.SuspendedRun`. Counters count this
        run's fuel either way.

        Raises what :meth:`run` raises, plus
        :class:`~ccnet.worker.exceptions.NotCheckpointableError` (``unsupported``) and
        :class:`~ccnet.worker.exceptions.CheckpointMismatchError` (``malformed``: the
        image is not of this module, input and seed).
        """

        def call() -> RunOutcome | SuspendedRun:
            return self.sandbox.run_checkpointed(
                self._compiled(module),
                policy=policy,
                resume=resume,
                args=tuple(args),
                stdin=stdin,
                limits=limits,
                seed=seed,
            )

        outcome = await self._submit(call)
        if isinstance(outcome, SuspendedRun):
            return outcome
        return self._sign(outcome, task_id, args, stdin, honest=False, onchain=False, label=label)

    async def _submit(
        self, call: Callable[[], RunOutcome | SuspendedRun]
    ) -> RunOutcome | SuspendedRun:
        """Run *call* on a job thread, counting it (see :meth:`run`)."""
        if self._closed:
            raise WorkerBusyError("the worker is shutting down (its executor is closed)")
        loop = asyncio.get_running_loop()
        self.running += 1
        try:
            outcome = await loop.run_in_executor(self._pool, call)
        except JobRunError as err:
            self.failed += 1
            self.fuel_used += err.fuel_used
            self.worker_metrics.fuel_consumed(err.fuel_used)
            raise
        finally:
            self.running -= 1
        self.fuel_used += outcome.fuel_used
        self.worker_metrics.fuel_consumed(outcome.fuel_used)
        if isinstance(outcome, RunOutcome):
            self.completed += 1
        return outcome

    def _sign(
        self,
        outcome: RunOutcome,
        task_id: int,
        args: Sequence[str],
        stdin: bytes,
        *,
        honest: bool,
        onchain: bool,
        label: str,
    ) -> ExecutedJob:
        corrupted = False
        if not honest:
            falsified = self.faults.apply(outcome, what=label, onchain=onchain)
            corrupted = falsified is not outcome
            outcome = falsified
        result = SignedResult.create(
            self.keypair,
            task_id=task_id,
            module_hash=outcome.module_hash,
            input_hash=input_hash(args, stdin),
            output_hash=outcome.output_hash,
            fuel_used=outcome.fuel_used,
        )
        return ExecutedJob(outcome=outcome, result=result, corrupted=corrupted)

    def metrics(self) -> HeartbeatMetrics:
        """The heartbeat metrics now."""
        free_slots = max(0, self.max_jobs - self.running)
        return HeartbeatMetrics(
            jobs_running=min(self.running, 2**32 - 1),
            jobs_completed=self.completed,
            jobs_failed=self.failed,
            fuel_used=self.fuel_used,
            speed_milli=self.speed_milli,
            memory_free_bytes=free_slots * self.sandbox.config.memory_limit_bytes,
            uptime_ms=int((time.monotonic() - self._started) * 1000),
        )

    def _abort_running(self) -> None:
        cfg = self.sandbox.config
        for _ in range(math.ceil(cfg.timeout_ms / cfg.epoch_tick_ms) + 2):
            self.sandbox.engine.increment_epoch()

    async def close(self) -> None:
        """Refuse new jobs, interrupt the running ones (they end as
        :class:`~ccnet.worker.exceptions.DeadlineExceededError`) and wait for the threads."""
        if self._closed:
            return
        self._closed = True
        if self.running:
            log.info("interrupting %d running job(s)", self.running)
        # A job that picked up a thread just now would get a fresh deadline: interrupt
        # again until every thread is done.
        done = asyncio.ensure_future(
            asyncio.to_thread(self._pool.shutdown, wait=True, cancel_futures=True)
        )
        while not done.done():
            self._abort_running()
            await asyncio.wait({done}, timeout=0.05)
        await done
