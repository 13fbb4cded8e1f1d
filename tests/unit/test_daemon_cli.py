"""``ccnet worker run|status`` through typer's CliRunner, with the daemon and the chain
faked (the real daemon runs in tests/integration/test_daemon_cli_proc.py)."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from ccnet.client import CC, Keys
from ccnet.client.cli import app
from ccnet.client.commands import _common
from ccnet.client.commands.worker import JsonLogFormatter, parse_bootstrap
from ccnet.client.config import ALLOW_FAULT_INJECTION_ENV
from ccnet.client.exceptions import UserError
from ccnet.client.pallets import StakeInfo, WorkerInfo
from ccnet.client.pallets.tasks import Reputation
from ccnet.worker import daemon as daemon_module
from ccnet.worker.daemon import DaemonConfig, ReadyInfo
from ccnet.worker.onchain import Registration

BOB = Keys.from_uri("//Bob").ss58_address
runner = CliRunner()


class FakeTasks:
    def worker(self, address: str) -> WorkerInfo | None:
        if address != BOB:
            return None
        return WorkerInfo(
            BOB, (b"wasm",), b"http://127.0.0.1:9/offer", 3, Reputation(5, 1, 0, 0), 1, None
        )

    def min_worker_stake(self) -> int:
        return 10 * CC


class FakeCredits:
    def stake_of(self, address: str) -> StakeInfo | None:
        return StakeInfo(12 * CC, 0, ()) if address == BOB else None


class FakeChain:
    def __init__(self) -> None:
        self.tasks, self.credits = FakeTasks(), FakeCredits()

    def free_balance(self, address: str) -> int:
        return 7 * CC

    def close(self) -> None:
        pass


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    def no_chain(url: str, wait: str = "inclusion") -> Any:
        raise AssertionError("the command must not connect")

    monkeypatch.setattr(_common, "connect", no_chain)
    for name in ("CCNET_URL", "CCNET_KEY", "CCNET_PASSPHRASE", ALLOW_FAULT_INJECTION_ENV):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CCNET_CONFIG", str(tmp_path / "config.toml"))
    monkeypatch.setenv("CCNET_KEYSTORE", str(tmp_path / "keystore"))
    level = logging.getLogger("ccnet").level  # `worker run` raises it to INFO
    yield
    logging.getLogger("ccnet").setLevel(level)


def test_fault_injection_is_refused_without_the_env_guard(env: None) -> None:
    result = runner.invoke(
        app, ["worker", "run", "--key", "//Bob", "--fault-injection", "wrong-result-once"]
    )
    assert result.exit_code == 1
    assert ALLOW_FAULT_INJECTION_ENV in result.output


def test_unknown_fault_mode_and_bad_bootstrap(env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ALLOW_FAULT_INJECTION_ENV, "1")
    result = runner.invoke(app, ["worker", "run", "-k", "//Bob", "--fault-injection", "nope"])
    assert result.exit_code == 1 and "unknown fault-injection mode" in result.output
    result = runner.invoke(app, ["worker", "run", "-k", "//Bob", "--dht-bootstrap", "nohost"])
    assert result.exit_code == 1 and "host:port" in result.output


def test_parse_bootstrap() -> None:
    assert parse_bootstrap("") == ()
    assert parse_bootstrap("127.0.0.1:4000, localhost:5") == (("127.0.0.1", 4000), ("localhost", 5))
    with pytest.raises(UserError):
        parse_bootstrap("127.0.0.1:0")


class FakeDaemon:
    """Stands in for WorkerDaemon: 'starts', then sends this process SIGTERM."""

    configs: list[DaemonConfig] = []
    stopped = 0

    def __init__(self, config: DaemonConfig) -> None:
        self.config = config
        self.address = str(config.keypair.ss58_address)
        self.executor = self.tasks = self.disputes = self.handler = None
        FakeDaemon.configs.append(config)

    async def start(self) -> ReadyInfo:
        asyncio.get_running_loop().call_later(0.05, os.kill, os.getpid(), signal.SIGTERM)
        return ReadyInfo(
            self.address,
            "http://127.0.0.1:1/offer",
            "127.0.0.1",
            2,
            1.5,
            1_500_000_000,
            self.config.worker.rate_planck_per_fuel,
            Registration(self.address, 10 * CC, 10 * CC, "registered", None),
            self.config.fault_injection,
        )

    async def stop(self) -> None:
        FakeDaemon.stopped += 1


def test_run_prints_ready_then_stops_on_sigterm(
    env: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(daemon_module, "WorkerDaemon", FakeDaemon)
    monkeypatch.setenv(ALLOW_FAULT_INJECTION_ENV, "1")
    result = runner.invoke(
        app,
        [
            "--url",
            "ws://127.0.0.1:1",
            "worker",
            "run",
            "-k",
            "//Bob",
            "--stake",
            "12.5",
            "--rate",
            "3",
            "--dht-bootstrap",
            "127.0.0.1:7000",
            "--requester",
            BOB,
            "--no-disputes",
            "--state-dir",
            str(tmp_path / "w"),
            "--fault-injection",
            "wrong-result-once",
            "--metrics-port",
            "9101",
        ],
    )
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert [line["event"] for line in lines] == ["ready", "stopped"]
    assert lines[0]["address"] == BOB and lines[0]["fault_injection"] == "wrong-result-once"
    config = FakeDaemon.configs[-1]
    assert config.url == "ws://127.0.0.1:1" and config.stake == 12_500_000_000_000
    assert config.worker.rate_planck_per_fuel == 3
    assert (config.worker.metrics_port, config.worker.metrics_host) == (9101, "127.0.0.1")
    assert config.dht_bootstrap == (("127.0.0.1", 7000),)
    assert config.requesters == frozenset({BOB}) and not config.verify_disputes
    assert config.state_dir == tmp_path / "w" and FakeDaemon.stopped >= 1


def test_status_shows_registration_stake_and_reputation(
    env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_common, "connect", lambda url, wait="inclusion": FakeChain())
    result = runner.invoke(app, ["--json", "worker", "status", "-k", "//Bob"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["registered"] is True and data["stake"]["active"] == 12 * CC
    assert data["reputation"] == {
        "completed": 5,
        "failed": 1,
        "disputed": 0,
        "slashed": 0,
        "value_earned": 0,
        "distinct_requesters": 0,
    }
    assert data["endpoint"] == "http://127.0.0.1:9/offer" and data["capabilities"] == ["wasm"]
    result = runner.invoke(app, ["worker", "status", "-k", "//Alice"])
    assert result.exit_code == 0 and "registered" in result.output and "no" in result.output


def test_json_log_formatter() -> None:
    record = logging.LogRecord("ccnet.worker", logging.WARNING, "f.py", 1, "hi %s", ("x",), None)
    entry = json.loads(JsonLogFormatter().format(record))
    assert entry["level"] == "warning" and entry["message"] == "hi x"
    assert entry["logger"] == "ccnet.worker"
