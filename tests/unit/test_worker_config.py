"""Worker settings: defaults from the issue, knobs from the environment and keywords."""

from __future__ import annotations

from pathlib import Path

import pytest

from ccnet.client.config import cache_root
from ccnet.worker.config import MiB, SandboxConfig, WorkerConfig
from ccnet.worker.exceptions import ConfigError


def test_sandbox_defaults_are_the_issue_limits() -> None:
    cfg = SandboxConfig.from_env({})
    assert cfg.fuel_limit == 10_000_000_000
    assert cfg.timeout_ms == 30_000
    assert cfg.epoch_tick_ms == 10
    assert cfg.memory_limit_bytes == 256 * MiB
    assert cfg.clock_ns == 0
    assert cfg.disk_cache


def test_worker_defaults() -> None:
    cfg = WorkerConfig.from_env({})
    assert cfg.rate_planck_per_fuel == 1
    assert cfg.heartbeat_interval_ms == 15_000
    assert cfg.heartbeat_jitter == pytest.approx(0.10)
    assert cfg.sandbox == SandboxConfig()


def test_environment_knobs() -> None:
    env = {
        "CCNET_SANDBOX_FUEL_LIMIT": "2_000_000",
        "CCNET_SANDBOX_TIMEOUT_MS": "500",
        "CCNET_SANDBOX_MEMORY_LIMIT_BYTES": str(64 * MiB),
        "CCNET_SANDBOX_CACHE_DIR": "/tmp/x",
        "CCNET_SANDBOX_DISK_CACHE": "yes",
        "CCNET_WORKER_RATE_PLANCK_PER_FUEL": "3",
        "CCNET_WORKER_HEARTBEAT_JITTER": "0.2",
    }
    cfg = WorkerConfig.from_env(env)
    assert cfg.sandbox.fuel_limit == 2_000_000
    assert cfg.sandbox.timeout_ms == 500
    assert cfg.sandbox.memory_limit_bytes == 64 * MiB
    assert cfg.sandbox.cache_dir == Path("/tmp/x")
    assert cfg.rate_planck_per_fuel == 3
    assert cfg.heartbeat_jitter == pytest.approx(0.2)


def test_keywords_beat_the_environment() -> None:
    cfg = SandboxConfig.from_env({"CCNET_SANDBOX_FUEL_LIMIT": "5"}, fuel_limit=7)
    assert cfg.fuel_limit == 7


def test_empty_cache_dir_turns_the_disk_cache_off() -> None:
    cfg = SandboxConfig.from_env({"CCNET_SANDBOX_CACHE_DIR": ""})
    assert cfg.artifact_dir is None


def test_artifact_dir_defaults_under_the_cache_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CCNET_CACHE", "/tmp/ccnet-cache-test")
    assert cache_root() == Path("/tmp/ccnet-cache-test")
    assert SandboxConfig().artifact_dir == Path("/tmp/ccnet-cache-test/wasmtime")


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"CCNET_SANDBOX_FUEL_LIMIT": "lots"}, "CCNET_SANDBOX_FUEL_LIMIT"),
        ({"CCNET_SANDBOX_FUEL_LIMIT": "0"}, "fuel_limit"),
        ({"CCNET_SANDBOX_MEMORY_LIMIT_BYTES": str(2**32)}, "memory_limit_bytes"),
        ({"CCNET_SANDBOX_DISK_CACHE": "maybe"}, "CCNET_SANDBOX_DISK_CACHE"),
        ({"CCNET_WORKER_HEARTBEAT_JITTER": "1.5"}, "heartbeat_jitter"),
        ({"CCNET_WORKER_RATE_PLANCK_PER_FUEL": "-1"}, "rate_planck_per_fuel"),
    ],
)
def test_bad_values_name_the_knob(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        WorkerConfig.from_env(env)


def test_unknown_keyword_is_an_error() -> None:
    with pytest.raises(ConfigError, match="fuel"):
        SandboxConfig.from_env({}, fuel=1)
