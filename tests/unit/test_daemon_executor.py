"""The daemon's module store and job executor (ccnet.worker.executor), on the real
sandbox and the built job modules."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest
from substrateinterface import Keypair

from ccnet.client.config import WRONG_RESULT_ONCE
from ccnet.client.jobs.catalogue import module_hash
from ccnet.client.jobs.results import input_hash, output_hash
from ccnet.worker.config import SandboxConfig
from ccnet.worker.exceptions import (
    DeadlineExceededError,
    FuelExhaustedError,
    ModuleRejectedError,
    UnknownModuleError,
    WorkerBusyError,
)
from ccnet.worker.executor import JobExecutor, ModuleStore
from ccnet.worker.faults import FaultInjector
from ccnet.worker.sandbox import Sandbox


def test_store_knows_builtin_jobs_and_keeps_received_modules(
    tmp_path: Path, job_wasm: Callable[[str], bytes], hostile_modules: dict[str, bytes]
) -> None:
    store = ModuleStore(tmp_path / "modules")
    prime = module_hash(job_wasm("prime_count"))
    assert store.builtin["prime_count"] == prime and prime in store
    wasm = hostile_modules["exit3"]
    digest = module_hash(wasm)
    assert digest not in store and store.get(digest) is None
    assert store.add(wasm, digest) == digest
    again = ModuleStore(tmp_path / "modules", builtin=False)
    assert digest in again and again.get(digest) == wasm and prime not in again


def test_store_refuses_wrong_oversize_and_non_wasm(
    tmp_path: Path, hostile_modules: dict[str, bytes]
) -> None:
    store = ModuleStore(tmp_path, builtin=False, max_module_bytes=64)
    wasm = hostile_modules["unreachable"]
    with pytest.raises(ModuleRejectedError, match="hash to"):
        store.add(wasm, bytes(32))
    with pytest.raises(ModuleRejectedError, match="not a Wasm binary"):
        store.add(b"not wasm", None)
    with pytest.raises(ModuleRejectedError, match="cap"):
        store.add(hostile_modules["probe"])


def test_store_drops_a_damaged_file(tmp_path: Path, hostile_modules: dict[str, bytes]) -> None:
    store = ModuleStore(tmp_path, builtin=False)
    digest = store.add(hostile_modules["exit3"])
    (tmp_path / f"{digest.hex()}.wasm").write_bytes(b"\0asm garbage")
    assert store.get(digest) is None and digest not in store


@pytest.fixture
def executor(sandbox: Sandbox, worker_key: Keypair, tmp_path: Path) -> JobExecutor:
    return JobExecutor(sandbox, worker_key, ModuleStore(tmp_path / "modules"), max_jobs=2)


async def test_run_signs_the_result(
    executor: JobExecutor, job_wasm: Callable[[str], bytes]
) -> None:
    prime = module_hash(job_wasm("prime_count"))
    job = await executor.run(prime, task_id=9, args=["1000"])
    assert job.outcome.stdout == b"168\n" and not job.corrupted
    result = job.result.verify()
    assert (result.task_id, result.module_hash) == (9, prime)
    assert result.input_hash == input_hash(["1000"], b"")
    assert result.output_hash == output_hash(b"168\n")
    assert result.fuel_used == job.outcome.fuel_used > 0
    metrics = executor.metrics()
    assert (metrics.jobs_completed, metrics.jobs_failed, metrics.jobs_running) == (1, 0, 0)
    assert metrics.fuel_used == result.fuel_used
    await executor.close()


async def test_unknown_module_and_run_errors(
    executor: JobExecutor, hostile_modules: dict[str, bytes]
) -> None:
    with pytest.raises(UnknownModuleError):
        await executor.run(bytes(32), task_id=1)
    loop = executor.modules.add(hostile_modules["loop"])
    with pytest.raises(FuelExhaustedError) as info:
        await executor.run(loop, task_id=2, limits=executor.limits(fuel=100_000))
    assert info.value.fuel_used == 100_000
    assert (executor.failed, executor.fuel_used) == (1, 100_000)
    await executor.close()


def test_limits_are_capped_by_the_sandbox(executor: JobExecutor) -> None:
    cfg = executor.sandbox.config
    limits = executor.limits(fuel=10**30, timeout_ms=10**9, memory_bytes=10**12)
    assert (limits.fuel, limits.timeout_ms, limits.memory_bytes) == (
        cfg.fuel_limit,
        cfg.timeout_ms,
        cfg.memory_limit_bytes,
    )
    assert executor.limits(fuel=5).fuel == 5 and executor.limits().fuel is None
    assert executor.fuel_limit(executor.limits()) == cfg.fuel_limit


async def test_fault_injection_corrupts_one_signed_result(
    sandbox: Sandbox, worker_key: Keypair, tmp_path: Path, job_wasm: Callable[[str], bytes]
) -> None:
    faults = FaultInjector(WRONG_RESULT_ONCE)
    executor = JobExecutor(sandbox, worker_key, ModuleStore(tmp_path), faults=faults)
    prime = module_hash(job_wasm("prime_count"))
    honest = await executor.run(prime, task_id=1, args=["100"], honest=True)
    assert honest.outcome.stdout == b"25\n" and faults.fired == 0
    lie = await executor.run(prime, task_id=2, args=["100"])
    assert lie.corrupted and lie.outcome.stdout != b"25\n"
    assert lie.result.verify().output_hash == output_hash(lie.outcome.stdout)
    after = await executor.run(prime, task_id=3, args=["100"])
    assert after.outcome.stdout == b"25\n" and not after.corrupted
    await executor.close()


async def test_close_interrupts_running_jobs(
    worker_cache_dir: Path, worker_key: Keypair, tmp_path: Path, hostile_modules: dict[str, bytes]
) -> None:
    config = SandboxConfig(cache_dir=worker_cache_dir, timeout_ms=600_000, fuel_limit=10**15)
    with Sandbox(config) as box:
        executor = JobExecutor(box, worker_key, ModuleStore(tmp_path, builtin=False))
        loop = executor.modules.add(hostile_modules["loop"])
        running = asyncio.ensure_future(executor.run(loop, task_id=1))
        while executor.running == 0:
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.1)
        await executor.close()
        with pytest.raises(DeadlineExceededError):
            await running
        with pytest.raises(WorkerBusyError, match="closed"):
            await executor.run(loop, task_id=2)
