"""Fault injection (ccnet.worker.faults): off by default, refused without the env guard,
one corrupted result exactly."""

from __future__ import annotations

import threading

import pytest

from ccnet.client.config import (
    ALLOW_FAULT_INJECTION_ENV,
    WRONG_ONCHAIN_RESULT_ONCE,
    WRONG_RESULT_ONCE,
)
from ccnet.worker.exceptions import ConfigError
from ccnet.worker.faults import FaultInjector, corrupt_output
from ccnet.worker.sandbox import RunOutcome


def outcome(stdout: bytes = b"168\n") -> RunOutcome:
    return RunOutcome(bytes(32), stdout, b"", 1000, 1.0, 65536)


def test_off_by_default_never_corrupts() -> None:
    faults = FaultInjector.from_option(None, {})
    assert not faults.enabled
    run = outcome()
    assert all(faults.apply(run, what="job") is run for _ in range(3))
    assert FaultInjector.from_option("", {}).mode is None


def test_refused_without_the_env_guard() -> None:
    with pytest.raises(ConfigError, match=ALLOW_FAULT_INJECTION_ENV):
        FaultInjector.from_option(WRONG_RESULT_ONCE, {})
    with pytest.raises(ConfigError, match=ALLOW_FAULT_INJECTION_ENV):
        FaultInjector.from_option(WRONG_RESULT_ONCE, {ALLOW_FAULT_INJECTION_ENV: "yes"})


def test_unknown_mode_is_refused() -> None:
    with pytest.raises(ConfigError, match="unknown fault-injection mode"):
        FaultInjector.from_option("wrong-result-always", {ALLOW_FAULT_INJECTION_ENV: "1"})


def test_wrong_result_once_corrupts_exactly_one_result(caplog: pytest.LogCaptureFixture) -> None:
    faults = FaultInjector.from_option(WRONG_RESULT_ONCE, {ALLOW_FAULT_INJECTION_ENV: "1"})
    first = faults.apply(outcome(), what="task 7")
    assert first.stdout == b"168\x0b" and first.output_hash != outcome().output_hash
    assert "WRONG result for task 7" in caplog.text
    assert faults.apply(outcome(), what="task 8") == outcome()
    assert faults.fired == 1


def test_wrong_onchain_result_once_spares_off_chain_results() -> None:
    faults = FaultInjector.from_option(WRONG_ONCHAIN_RESULT_ONCE, {ALLOW_FAULT_INJECTION_ENV: "1"})
    assert faults.apply(outcome(), what="job") == outcome()
    assert faults.apply(outcome(), what="job") == outcome() and faults.fired == 0
    assert faults.apply(outcome(), what="task 1", onchain=True) != outcome()
    assert faults.apply(outcome(), what="task 2", onchain=True) == outcome()
    assert faults.fired == 1


def test_exactly_once_across_threads() -> None:
    faults = FaultInjector(WRONG_RESULT_ONCE)
    corrupted: list[bool] = []
    lock = threading.Lock()

    def work() -> None:
        run = outcome()
        result = faults.apply(run, what="job")
        with lock:
            corrupted.append(result is not run)

    threads = [threading.Thread(target=work) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert corrupted.count(True) == 1 and faults.fired == 1


def test_corrupt_output_always_differs() -> None:
    assert corrupt_output(b"") == b"\x01"
    assert corrupt_output(b"\x01") == b"\x00"
    assert corrupt_output(b"abc") == b"abb"
