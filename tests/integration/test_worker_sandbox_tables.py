"""The real Wasmtime sandbox against table growth and escape attempts (WAT modules of
fixtures/worker.py): tables stay under ``SandboxConfig.table_elements_limit`` (and at
most 4 of them), a module that keeps growing one is stopped by its fuel, a file or a
socket cannot be opened, and a large (allowed) output comes back whole."""

from __future__ import annotations

import pytest

from ccnet.worker.exceptions import (
    FuelExhaustedError,
    InvalidModuleError,
    JobExitError,
    JobTrapError,
)
from ccnet.worker.sandbox import RunLimits, Sandbox

WASI_EBADF = 8
"""errno of a call on a file descriptor that is not open (there is no fd 3)."""


def test_table_growth_fails_at_the_element_cap(
    sandbox: Sandbox, hostile_modules: dict[str, bytes]
) -> None:
    cap = sandbox.config.table_elements_limit
    with pytest.raises(JobExitError) as probe:
        sandbox.run(hostile_modules["table_probe"])
    # 1 + 10,000 k elements: the largest size within the cap, divided by 10,000
    assert probe.value.exit_code == (1 + 10_000 * ((cap - 1) // 10_000)) // 10_000
    with pytest.raises(JobTrapError) as bomb:
        sandbox.run(hostile_modules["table_bomb"])
    assert bomb.value.code == "trap" and "unreachable" in str(bomb.value)


def test_endless_table_growth_is_stopped_by_fuel(
    sandbox: Sandbox, hostile_modules: dict[str, bytes]
) -> None:
    with pytest.raises(FuelExhaustedError) as err:
        sandbox.run(hostile_modules["table_spin"], limits=RunLimits(fuel=10**7))
    assert err.value.fuel_used == 10**7


def test_a_table_minimum_over_the_cap_does_not_instantiate(
    sandbox: Sandbox, hostile_modules: dict[str, bytes]
) -> None:
    with pytest.raises(InvalidModuleError, match="table"):
        sandbox.run(hostile_modules["table_huge_minimum"])


@pytest.mark.parametrize("module", ["fs_escape", "socket_escape"])
def test_files_and_sockets_are_out_of_reach(
    sandbox: Sandbox, hostile_modules: dict[str, bytes], module: str
) -> None:
    with pytest.raises(JobExitError) as err:
        sandbox.run(hostile_modules[module])
    assert err.value.exit_code == WASI_EBADF


def test_a_large_output_within_the_cap_comes_back_whole(
    sandbox: Sandbox, hostile_modules: dict[str, bytes]
) -> None:
    outcome = sandbox.run(hostile_modules["big_output"])
    assert outcome.stdout == bytes(24 * 65536)
