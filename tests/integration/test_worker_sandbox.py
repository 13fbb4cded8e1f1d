"""The real Wasmtime sandbox against hostile and probing modules (written in WAT):
every one ends in a clear error or a clean report, never a crash or a hang."""

from __future__ import annotations

import struct
import threading
from pathlib import Path
from typing import Any

import pytest
import wasmtime

from ccnet.client.jobs.catalogue import module_hash
from ccnet.worker.config import MiB, SandboxConfig
from ccnet.worker.exceptions import (
    ConfigError,
    DeadlineExceededError,
    FuelExhaustedError,
    InputTooLargeError,
    InvalidModuleError,
    JobExitError,
    JobTrapError,
    MemoryLimitError,
    OutputLimitError,
    SandboxClosedError,
)
from ccnet.worker.modules import ModuleCache, artifact_key
from ccnet.worker.sandbox import RunLimits, Sandbox

EBADF, ENOTSUP = 8, 58
PROBE_LAYOUT = "<I4xQI16sIIIIIIIIIIQHB21xI"
"""The probe's report, see fixtures.worker.PROBE_LAYOUT."""


def _probe(
    sandbox: Sandbox, wasm: bytes, args: tuple[str, ...] = (), seed: bytes = b""
) -> tuple[Any, ...]:
    """Run the probe module and unpack its report (layout: fixtures.worker.PROBE_LAYOUT)."""
    outcome = sandbox.run(wasm, args=args, seed=seed)
    assert len(outcome.stdout) == struct.calcsize(PROBE_LAYOUT) == 112
    return struct.unpack(PROBE_LAYOUT, outcome.stdout)


def test_infinite_loop_runs_out_of_fuel(sandbox: Sandbox, hostile: dict[str, bytes]) -> None:
    with pytest.raises(FuelExhaustedError) as err:
        sandbox.run(hostile["loop"], limits=RunLimits(fuel=50_000_000))
    assert err.value.fuel_used == 50_000_000
    assert err.value.code == "out-of-fuel"


def test_infinite_loop_with_default_limits(sandbox: Sandbox, hostile: dict[str, bytes]) -> None:
    # 10 billion fuel: whichever of fuel and the 30 s deadline comes first ends it.
    with pytest.raises((FuelExhaustedError, DeadlineExceededError)):
        sandbox.run(hostile["loop"])


def test_deadline_interrupts_a_loop_with_fuel_to_spare(
    sandbox: Sandbox, hostile: dict[str, bytes]
) -> None:
    with pytest.raises(DeadlineExceededError) as err:
        sandbox.run(hostile["loop"], limits=RunLimits(timeout_ms=200))
    assert err.value.code == "deadline"


def test_memory_bomb_hits_the_default_cap(sandbox: Sandbox, hostile: dict[str, bytes]) -> None:
    with pytest.raises(MemoryLimitError, match=str(256 * MiB)):
        sandbox.run(hostile["memory_bomb"])


def test_memory_cap_per_run(sandbox: Sandbox, hostile: dict[str, bytes]) -> None:
    with pytest.raises(MemoryLimitError):
        sandbox.run(hostile["memory_bomb"], limits=RunLimits(memory_bytes=8 * MiB))


def test_declared_minimum_over_the_cap(sandbox: Sandbox, hostile: dict[str, bytes]) -> None:
    with pytest.raises(MemoryLimitError):
        sandbox.run(hostile["huge_minimum"])


@pytest.mark.parametrize("stream", ["stdout", "stderr"])
def test_output_floods_are_capped(sandbox: Sandbox, hostile: dict[str, bytes], stream: str) -> None:
    with pytest.raises(OutputLimitError) as err:
        sandbox.run(
            hostile[f"{stream}_bomb"],
            limits=RunLimits(stdout_bytes=100_000, stderr_bytes=10_000),
        )
    assert err.value.stream == stream
    assert len(err.value.stderr) <= 10_000


def test_output_cap_with_defaults(sandbox: Sandbox, hostile: dict[str, bytes]) -> None:
    with pytest.raises(OutputLimitError, match="65536 bytes to stderr"):
        sandbox.run(hostile["stderr_bomb"])


def test_traps_are_named(sandbox: Sandbox, hostile: dict[str, bytes]) -> None:
    with pytest.raises(JobTrapError) as err:
        sandbox.run(hostile["recursion"])
    assert err.value.trap == "STACK_OVERFLOW"
    with pytest.raises(JobTrapError) as err:
        sandbox.run(hostile["unreachable"])
    assert err.value.trap == "UNREACHABLE"


def test_exit_code(sandbox: Sandbox, hostile: dict[str, bytes]) -> None:
    with pytest.raises(JobExitError) as err:
        sandbox.run(hostile["exit3"])
    assert err.value.exit_code == 3


@pytest.mark.parametrize(
    ("name", "message"),
    [("unknown_import", "env::open"), ("no_start", "_start")],
)
def test_modules_that_cannot_run(
    sandbox: Sandbox, hostile: dict[str, bytes], name: str, message: str
) -> None:
    with pytest.raises(InvalidModuleError, match=message):
        sandbox.run(hostile[name])


def test_garbage_is_not_a_module(sandbox: Sandbox) -> None:
    with pytest.raises(InvalidModuleError):
        sandbox.run(b"\0asm\x01\0\0\0garbage")
    with pytest.raises(InvalidModuleError):
        sandbox.run(b"#!/bin/sh\nrm -rf /\n")


def test_the_world_is_out_of_reach(sandbox: Sandbox, hostile: dict[str, bytes]) -> None:
    (
        clock_errno,
        clock,
        random_errno,
        random_bytes,
        env_errno,
        env_count,
        env_size,
        args_errno,
        args_count,
        _args_size,
        open_errno,
        prestat_errno,
        poll_errno,
        nevents,
        userdata,
        event_errno,
        event_type,
        accept_errno,
    ) = _probe(sandbox, hostile["probe"], args=("one", "two"))
    assert (clock_errno, clock) == (0, 0)  # no wall clock
    assert random_errno == 0 and len(random_bytes) == 16
    assert (env_errno, env_count, env_size) == (0, 0, 0)  # no environment
    assert (args_errno, args_count) == (0, 3)  # explicit argv: job one two
    assert open_errno == EBADF  # no preopened directory to open files from
    assert prestat_errno == EBADF
    assert (poll_errno, nevents, userdata, event_errno, event_type) == (0, 1, 7, 0, 0)
    assert accept_errno in (EBADF, ENOTSUP)  # no sockets


def test_randomness_is_seeded(sandbox: Sandbox, hostile: dict[str, bytes]) -> None:
    default_a = _probe(sandbox, hostile["probe"])[3]
    default_b = _probe(sandbox, hostile["probe"])[3]
    seeded_a = _probe(sandbox, hostile["probe"], seed=b"task-42")[3]
    seeded_b = _probe(sandbox, hostile["probe"], seed=b"task-42")[3]
    other = _probe(sandbox, hostile["probe"], seed=b"task-43")[3]
    assert default_a == default_b
    assert seeded_a == seeded_b
    assert len({default_a, seeded_a, other}) == 3


def test_clock_constant_is_a_knob(worker_cache_dir: Path, hostile: dict[str, bytes]) -> None:
    with Sandbox(SandboxConfig(cache_dir=worker_cache_dir, clock_ns=1_700_000_000 * 10**9)) as box:
        assert _probe(box, hostile["probe"])[1] == 1_700_000_000 * 10**9


def test_runs_are_repeatable(sandbox: Sandbox, hostile: dict[str, bytes]) -> None:
    a = sandbox.run(hostile["probe"], args=["x"])
    b = sandbox.run(hostile["probe"], args=["x"])
    assert (a.stdout, a.fuel_used, a.output_hash) == (b.stdout, b.fuel_used, b.output_hash)
    assert a.module_hash == module_hash(hostile["probe"])


def test_concurrent_runs(sandbox: Sandbox, hostile: dict[str, bytes]) -> None:
    outputs: list[bytes] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            outputs.append(sandbox.run(hostile["probe"], args=["x"]).stdout)
            sandbox.run(hostile["loop"], limits=RunLimits(fuel=10_000_000))
        except FuelExhaustedError:
            pass
        except BaseException as err:  # pragma: no cover - reported below
            errors.append(err)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert len(outputs) == 4 and len(set(outputs)) == 1


def test_input_caps(worker_cache_dir: Path, hostile: dict[str, bytes]) -> None:
    cfg = SandboxConfig(cache_dir=worker_cache_dir, stdin_limit_bytes=10, argv_limit_bytes=16)
    with Sandbox(cfg) as box:
        with pytest.raises(InputTooLargeError):
            box.run(hostile["probe"], stdin=b"x" * 11)
        with pytest.raises(InputTooLargeError):
            box.run(hostile["probe"], args=["y" * 20])
        with pytest.raises(InputTooLargeError):
            box.run(hostile["probe"], args=["a\0b"])


def test_run_limits_cannot_exceed_the_caps(sandbox: Sandbox, hostile: dict[str, bytes]) -> None:
    with pytest.raises(ConfigError, match="fuel"):
        sandbox.run(hostile["probe"], limits=RunLimits(fuel=10**11))
    with pytest.raises(ConfigError, match="memory_bytes"):
        sandbox.run(hostile["probe"], limits=RunLimits(memory_bytes=2**31))


def test_closed_sandbox(worker_cache_dir: Path, hostile: dict[str, bytes]) -> None:
    box = Sandbox(SandboxConfig(cache_dir=worker_cache_dir))
    box.close()
    box.close()  # idempotent
    with pytest.raises(SandboxClosedError):
        box.run(hostile["probe"])


def test_module_cache_in_memory_and_on_disk(tmp_path: Path, hostile: dict[str, bytes]) -> None:
    wasm = hostile["probe"]
    with Sandbox(SandboxConfig(cache_dir=tmp_path)) as first:
        a = first.compile(wasm)
        assert first.compile(wasm) is a
        assert first.modules.compiled == 1
        directory = first.modules.directory
        assert directory is not None and directory.parent == tmp_path
        assert directory.name == artifact_key(first.fingerprint)
        assert (directory / f"{a.hash.hex()}.cwasm").is_file()
        expected = first.run(a).stdout
    # a new process-like sandbox loads the artifact instead of compiling
    with Sandbox(SandboxConfig(cache_dir=tmp_path)) as second:
        b = second.compile(wasm)
        assert (second.modules.compiled, second.modules.loaded_from_disk) == (0, 1)
        assert second.run(b).stdout == expected
        assert second.modules.get(a.hash) is b


def test_artifacts_are_keyed_by_engine_settings(tmp_path: Path, hostile: dict[str, bytes]) -> None:
    with Sandbox(SandboxConfig(cache_dir=tmp_path)) as one:
        with Sandbox(SandboxConfig(cache_dir=tmp_path, max_wasm_stack_bytes=256 * 1024)) as two:
            assert one.fingerprint != two.fingerprint
            assert one.modules.directory != two.modules.directory
            one.compile(hostile["probe"])
            two.compile(hostile["probe"])
            assert two.modules.loaded_from_disk == 0


def test_corrupt_artifact_is_recompiled(tmp_path: Path, hostile: dict[str, bytes]) -> None:
    with Sandbox(SandboxConfig(cache_dir=tmp_path)) as first:
        digest = first.compile(hostile["probe"]).hash
        directory = first.modules.directory
    assert directory is not None
    (directory / f"{digest.hex()}.cwasm").write_bytes(b"not an artifact")
    with Sandbox(SandboxConfig(cache_dir=tmp_path)) as second:
        second.run(hostile["probe"])
        assert second.modules.compiled == 1


def test_memory_only_cache_and_lru(hostile: dict[str, bytes]) -> None:
    engine = wasmtime.Engine()
    cache = ModuleCache(engine, "test", artifact_dir=None, max_entries=2)
    names = ["probe", "loop", "exit3"]
    for name in names:
        cache.load(hostile[name])
    assert cache.directory is None
    assert cache.get(module_hash(hostile["probe"])) is None  # evicted, nothing on disk
    assert cache.get(module_hash(hostile["exit3"])) is not None


@pytest.fixture
def hostile(hostile_modules: dict[str, bytes]) -> dict[str, bytes]:
    return hostile_modules
