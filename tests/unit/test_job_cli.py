"""``ccnet job run|workers`` through typer's CliRunner: argument errors (nothing reaches a
chain, a DHT or a worker), and the run's exit codes and outputs with the requester SDK
replaced by a fake at its boundary (the real one runs in
tests/integration/test_job_cli_live.py)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

import pytest
from typer.testing import CliRunner

import ccnet.client.requester as requester_pkg
from ccnet.client import CC
from ccnet.client.cli import app
from ccnet.client.commands import _common, job_inputs
from ccnet.client.commands._common import ExitCode, exit_code_for
from ccnet.client.commands.job import parse_bootstrap_options, worst_case_planck
from ccnet.client.exceptions import (
    BudgetExceededError,
    InvalidJobModuleError,
    ResultsRejectedError,
)
from ccnet.client.net.records import CapabilityRecord
from ccnet.client.requester import DEFAULT_FUEL_LIMIT, NoWorkersError
from ccnet.client.requester.discovery import WorkerOffer
from ccnet.client.requester.outcomes import Rejected, TaskOutcome, Verified, WorkerReport
from ccnet.client.requester.quality import QualityScore, Reputation, Tier

runner = CliRunner()

EMPTY_MODULE = b"\0asm\x01\0\0\0"
"""The smallest valid Wasm module."""
BOOTSTRAP = ["--dht-bootstrap", "127.0.0.1:9"]


@pytest.fixture(autouse=True)
def no_chain(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Any attempt to reach a chain fails the test; the CLI's files stay in tmp_path."""

    def refuse(url: str, wait: str = "inclusion") -> Any:
        raise AssertionError(f"the command connected to {url}")

    monkeypatch.setattr(_common, "connect", refuse)
    monkeypatch.setenv("CCNET_KEYSTORE", str(tmp_path / "keystore"))
    monkeypatch.setenv("CCNET_CONFIG", str(tmp_path / "none.toml"))
    monkeypatch.delenv("CCNET_KEY", raising=False)
    monkeypatch.delenv("CCNET_DHT_BOOTSTRAP", raising=False)


@pytest.fixture
def module(tmp_path: Path) -> Path:
    path = tmp_path / "job.wasm"
    path.write_bytes(EMPTY_MODULE)
    return path


def job_run(*args: str) -> Any:
    return runner.invoke(app, ["job", "run", "--key", "//Alice", *args])


@pytest.mark.parametrize("url", ["ar://abc123", "https://example.com/data", "file:///etc/hosts"])
def test_input_url_is_a_usage_error(module: Path, url: str) -> None:
    result = job_run(str(module), "--input", url, *BOOTSTRAP)
    assert result.exit_code == 2 and int(ExitCode.USAGE) == 2
    assert "inputs are not supported" in result.stderr and url.split(":")[0] in result.stderr
    assert result.stdout == ""


def test_input_url_is_refused_even_with_a_bad_module(tmp_path: Path) -> None:
    bad = tmp_path / "bad.wasm"
    bad.write_bytes(b"not wasm")
    assert job_run(str(bad), "--input", "ar://x", *BOOTSTRAP).exit_code == 2


def test_missing_input_file_is_a_usage_error(module: Path, tmp_path: Path) -> None:
    result = job_run(str(module), "--input", str(tmp_path / "nope.bin"), *BOOTSTRAP)
    assert result.exit_code == 2 and "no such file" in result.stderr


@pytest.mark.parametrize("amount", ["1,5", "-1", "1e3", "0.0000000000001", "lots"])
def test_bad_max_cost_is_a_usage_error(module: Path, amount: str) -> None:
    result = job_run(str(module), "--max-cost", amount, *BOOTSTRAP)
    assert result.exit_code == 2
    assert "not an amount" in result.stderr


def test_missing_module_file_is_a_usage_error(tmp_path: Path) -> None:
    result = job_run(str(tmp_path / "missing.wasm"), *BOOTSTRAP)
    assert result.exit_code == 2
    assert "does not exist" in result.stderr


def test_non_wasm_module_is_invalid(tmp_path: Path) -> None:
    text = tmp_path / "job.wasm"
    text.write_text("#!/bin/sh\necho hi\n")
    result = job_run(str(text), *BOOTSTRAP)
    assert result.exit_code == int(ExitCode.INVALID_MODULE) == 9
    assert "not a Wasm module" in result.stderr


def test_module_that_fails_validation_is_invalid(tmp_path: Path) -> None:
    truncated = tmp_path / "job.wasm"
    truncated.write_bytes(EMPTY_MODULE + b"\x01\x05")  # a type section cut short
    result = job_run(str(truncated), "--json", *BOOTSTRAP)
    assert result.exit_code == 9
    assert result.stdout == ""  # errors too go to stderr: stdout is the job's output
    error = json.loads(result.stderr)
    assert error["exit_code"] == 9 and error["error"]["type"] == "InvalidJobModuleError"
    assert "does not validate" in error["error"]["message"]


def test_input_from_stdin_and_too_large_input(
    fake: type[FakeRequester], module: Path, tmp_path: Path
) -> None:
    result = runner.invoke(
        app, ["job", "run", "--key", "//Alice", str(module), "-i", "-", *BOOTSTRAP], input=b"abc"
    )
    assert result.exit_code == 0, result.stderr
    assert fake.submitted[-1]["input"] == b"abc"
    big = tmp_path / "big.bin"
    big.write_bytes(b"\0" * (13 * 1024 * 1024))  # 17.3 MiB once base64-encoded
    result = job_run(str(module), "--input", str(big), *BOOTSTRAP)
    assert result.exit_code == 1 and "do not fit one job message" in result.stderr
    assert len(fake.submitted) == 1


def test_bootstrap_is_optional_and_checked(module: Path) -> None:
    # none: the requester joins through the workers registered on chain
    assert parse_bootstrap_options(None) == ()
    assert parse_bootstrap_options(["127.0.0.1:1,127.0.0.1:2"]) == (
        ("127.0.0.1", 1),
        ("127.0.0.1", 2),
    )
    result = job_run(str(module), "--dht-bootstrap", "localhost")
    assert result.exit_code == 2 and "host:port" in result.stderr
    result = runner.invoke(app, ["job", "workers", "--dht-bootstrap", "localhost"])
    assert result.exit_code == 2 and "host:port" in result.stdout + result.stderr


def test_other_usage_errors(module: Path, tmp_path: Path) -> None:
    assert job_run(str(module), "--verify", "proof", *BOOTSTRAP).exit_code == 2
    assert job_run(str(module), "--proof", "sha", *BOOTSTRAP).exit_code == 2
    assert job_run(str(module), "--verify", "spot", *BOOTSTRAP).exit_code == 2
    assert job_run(str(module), "--redundancy", "8", *BOOTSTRAP).exit_code == 2
    assert job_run(str(module), "--deposit", "0", *BOOTSTRAP).exit_code == 2
    missing_dir = tmp_path / "no" / "out.bin"
    result = job_run(str(module), "--output", str(missing_dir), *BOOTSTRAP)
    assert result.exit_code == 2 and "does not exist" in result.stderr
    result = job_run(str(module), "--output", str(tmp_path), *BOOTSTRAP)
    assert result.exit_code == 2 and "is a directory" in result.stderr


def test_job_errors_have_their_exit_codes() -> None:
    assert exit_code_for(NoWorkersError("wasm", 2, 1)) == 6 == int(ExitCode.NO_WORKERS)
    assert exit_code_for(BudgetExceededError("x", worst_planck=2, budget_planck=1)) == 7
    assert exit_code_for(ResultsRejectedError("x")) == 8 == int(ExitCode.RESULTS_REJECTED)
    assert exit_code_for(InvalidJobModuleError("x")) == 9


def offer(address: str, price: int) -> WorkerOffer:
    return WorkerOffer(
        address=address,
        endpoint=f"http://127.0.0.1:1/{address}",
        task_type="wasm",
        price_planck_per_fuel=price,
        min_speed=10**8,
        stake=10 * CC,
        reputation=Reputation(),
        score=QualityScore(0.5, 0.5, 0.5, 0.5, 0.5, 0.5),
        tier=Tier.PROBATION,
        record=cast(CapabilityRecord, None),
    )


def test_worst_case_counts_every_worker_and_a_spot_check() -> None:
    offers = [offer("a", 2), offer("b", 5)]
    assert worst_case_planck(offers, 1_000, spot_check=False) == 7_000
    assert worst_case_planck(offers, 1_000, spot_check=True) == 12_000
    assert worst_case_planck([], 1_000, spot_check=True) == 0


# --- the run, with a fake requester -------------------------------------------------------


class FakeChain:
    def close(self) -> None:
        pass


class FakeRequester:
    """Stands in for :class:`Requester` (same constructor and calls the CLI uses)."""

    offers: Sequence[WorkerOffer] = ()
    hang = False
    outcome: TaskOutcome | None = None
    submitted: list[dict[str, Any]] = []
    made: list[dict[str, Any]] = []

    def __init__(self, chain: Any, keypair: Any, **kwargs: Any) -> None:
        FakeRequester.made.append(kwargs)
        self.state_dir = Path(kwargs.get("state_dir") or ".")
        self.max_price: int | None = kwargs.get("max_price")

    async def __aenter__(self) -> FakeRequester:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    async def find_workers(
        self, task_type: str | None = None, *, max_price: int | None = None
    ) -> list[WorkerOffer]:
        if self.hang:
            await asyncio.Event().wait()
        cap = self.max_price if max_price is None else max_price
        return [o for o in self.offers if cap is None or o.price_planck_per_fuel <= cap]

    async def submit(self, module: bytes, input: bytes = b"", **kwargs: Any) -> TaskOutcome:
        FakeRequester.submitted.append({"module": module, "input": input, **kwargs})
        assert self.outcome is not None
        return self.outcome

    async def close_channels(self) -> list[Any]:
        return [object()]


def outcome(output: bytes | None, verification: Any, paid: int) -> TaskOutcome:
    return TaskOutcome(
        task_id=7,
        module_hash=b"\1" * 32,
        input_hash=b"\2" * 32,
        output=output,
        output_hash=b"\3" * 32 if output is not None else None,
        fuel_used=1_234,
        cost_planck=paid,
        workers=("a", "b"),
        verification=verification,
        results={
            "a": WorkerReport("a", "agreed", fuel_used=1_234, rate_planck_per_fuel=2, paid=paid),
            "b": WorkerReport("b", "dissented", reason="outvoted"),
        },
    )


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> type[FakeRequester]:
    monkeypatch.setattr(_common, "connect", lambda url, wait="inclusion": FakeChain())
    monkeypatch.setattr(requester_pkg, "Requester", FakeRequester)
    FakeRequester.offers = [offer("a", 2), offer("b", 5), offer("c", 1)]
    FakeRequester.outcome = outcome(b"hello\n", Verified("majority", ("a",), ("b",)), 2_468)
    FakeRequester.submitted, FakeRequester.made = [], []
    FakeRequester.hang = False
    return FakeRequester


def test_run_writes_output_and_reports(
    fake: type[FakeRequester], module: Path, tmp_path: Path
) -> None:
    data = tmp_path / "in.bin"
    data.write_bytes(b"\0\1\2")
    state = tmp_path / "state"
    args = [str(module), "--input", str(data), "--arg", "x", "--arg=-n", "--json"]
    args += ["--verify", "majority", "--redundancy", "2", "--fuel-limit", "1000"]
    args += ["--max-cost", "12000planck", "--state-dir", str(state), "--close-channels"]
    result = job_run(*args, "--dht-bootstrap", "127.0.0.1:7,127.0.0.1:8", *BOOTSTRAP)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "hello\n"
    report = json.loads(result.stderr)
    assert report["cost_planck"] == 2_468 and report["fuel_used"] == 1_234
    assert report["worst_case_planck"] == 7_000 and report["max_cost_planck"] == 12_000
    assert report["verification"]["status"] == "verified"
    assert report["verification"]["dissenting"] == ["b"]
    assert [w["paid_planck"] for w in report["workers"]] == [2_468, 0]
    assert report["channels_closed"] == 1 and report["output"] == "-"
    (sent,) = fake.submitted
    assert sent["module"] == EMPTY_MODULE and sent["input"] == b"\0\1\2"
    assert sent["args"] == ("x", "-n") and sent["fuel_limit"] == 1000
    assert [o.address for o in sent["workers"]] == ["a", "b"]
    (made,) = fake.made
    assert made["dht_bootstrap"] == (("127.0.0.1", 7), ("127.0.0.1", 8), ("127.0.0.1", 9))
    assert made["deposit_per_channel"] == 10 * CC and made["state_dir"] == state


def test_run_to_a_file_in_human_mode(
    fake: type[FakeRequester], module: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out.txt"
    result = job_run(str(module), "--output", str(out), "--verify", "none", *BOOTSTRAP)
    assert result.exit_code == 0, result.stderr
    assert out.read_bytes() == b"hello\n" and result.stdout == ""
    assert "0.000000002468 CC" in result.stderr and "1,234" in result.stderr
    assert "verified (majority" in result.stderr


def test_over_budget_sends_nothing(fake: type[FakeRequester], module: Path) -> None:
    # auto on probation workers: 3 workers x 1000 fuel at 2, 5, 1 + a spot check at 5
    result = job_run(str(module), "--fuel-limit", "1000", "--max-cost", "12999planck", *BOOTSTRAP)
    assert result.exit_code == ExitCode.OVER_BUDGET
    assert "more than --max-cost" in result.stderr and fake.submitted == []
    result = job_run(str(module), "--fuel-limit", "1000", "--max-cost", "13000planck", *BOOTSTRAP)
    assert result.exit_code == 0, result.stderr


def test_there_is_always_a_budget_and_it_caps_the_rate(
    fake: type[FakeRequester], module: Path
) -> None:
    # Without a cap a worker could announce any rate and, ranked first, claim the
    # whole fuel limit at it: the budget (1 CC by default) bounds the rate accepted.
    assert job_run(str(module), "--verify", "none", *BOOTSTRAP).exit_code == 0
    job_run(str(module), "--fuel-limit", "1000", "--max-cost", "12000planck", *BOOTSTRAP)
    first, second = fake.made
    assert first["max_price"] == CC // DEFAULT_FUEL_LIMIT
    assert second["max_price"] == 12


def test_workers_priced_above_the_budget_are_over_budget_not_missing(
    fake: type[FakeRequester], module: Path
) -> None:
    fake.offers = [offer("a", 200), offer("b", 300)]  # the default budget allows 100
    result = job_run(str(module), "--verify", "none", *BOOTSTRAP)
    assert result.exit_code == ExitCode.OVER_BUDGET, result.stderr
    assert "the cheapest asks 200 planck per fuel" in result.stderr and fake.submitted == []


def test_a_lookup_that_never_ends_is_cut_off(
    fake: type[FakeRequester], module: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A malicious DHT node can keep a lookup crawling: discovery has a deadline.
    monkeypatch.setattr(job_inputs, "DISCOVERY_TIMEOUT_S", 0.1)
    fake.hang = True
    result = job_run(str(module), *BOOTSTRAP)
    assert result.exit_code == ExitCode.NO_WORKERS, result.stderr
    assert "did not finish" in result.stderr and fake.submitted == []


def test_a_zero_budget_is_a_usage_error(module: Path) -> None:
    result = job_run(str(module), "--max-cost", "0", *BOOTSTRAP)
    assert result.exit_code == 2 and "more than zero" in result.stderr


def test_no_workers(fake: type[FakeRequester], module: Path) -> None:
    fake.offers = []
    result = job_run(str(module), *BOOTSTRAP)
    assert result.exit_code == ExitCode.NO_WORKERS and "found 0" in result.stderr
    fake.offers = [offer("a", 1)]
    result = job_run(str(module), "--verify", "majority", *BOOTSTRAP)
    assert result.exit_code == 6 and "need 3" in result.stderr
    assert fake.submitted == []


def test_disagreeing_results_exit_8_without_output(fake: type[FakeRequester], module: Path) -> None:
    fake.outcome = outcome(None, Rejected("no majority: 1 of 2", ("a", "b")), 0)
    result = job_run(str(module), "--verify", "majority", "--redundancy", "2", *BOOTSTRAP)
    assert result.exit_code == ExitCode.RESULTS_REJECTED
    assert result.stdout == ""
    assert "no majority" in result.stderr and "none paid" in result.stderr
