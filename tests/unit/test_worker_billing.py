"""Fuel-based billing: Gap Junction's ratio in planck, and what failed runs pay."""

from __future__ import annotations

import pytest

from ccnet.client.jobs.billing import (
    DEFAULT_RATE_PLANCK_PER_FUEL,
    FUEL_PER_CENT,
    PLANCK_PER_CC,
    PLANCK_PER_CENT,
    billable_fuel,
    fuel_for_budget,
    price,
)
from ccnet.worker.exceptions import (
    DeadlineExceededError,
    FuelExhaustedError,
    JobExitError,
    JobRunError,
    JobTrapError,
    MemoryLimitError,
    OutputLimitError,
)
from ccnet.worker.sandbox import RunOutcome


def test_ratio_is_one_planck_per_fuel() -> None:
    assert PLANCK_PER_CC == 10**12
    assert FUEL_PER_CENT == 10**10
    assert PLANCK_PER_CENT == 10**10
    assert DEFAULT_RATE_PLANCK_PER_FUEL == 1
    # 10 billion fuel = 1 cent = 0.01 CC
    assert price(10**10) * 100 == PLANCK_PER_CC


def test_price_is_exact_integer_arithmetic() -> None:
    assert price(0) == 0
    assert price(195_144_110) == 195_144_110
    assert price(2**64 - 1, 3) == 3 * (2**64 - 1)
    assert isinstance(price(10, 2), int)


@pytest.mark.parametrize(("fuel", "rate"), [(-1, 1), (1, -1), (1.5, 1), (True, 1)])
def test_price_rejects_bad_arguments(fuel: object, rate: object) -> None:
    with pytest.raises(ValueError):
        price(fuel, rate)  # type: ignore[arg-type]


def test_fuel_for_budget_never_overspends() -> None:
    assert fuel_for_budget(10**10) == 10**10
    assert fuel_for_budget(10, 3) == 3
    assert price(fuel_for_budget(10, 3), 3) <= 10
    with pytest.raises(ValueError):
        fuel_for_budget(10, 0)


def _outcome(fuel: int) -> RunOutcome:
    return RunOutcome(
        module_hash=b"\0" * 32,
        stdout=b"",
        stderr=b"",
        fuel_used=fuel,
        elapsed_ms=1.0,
        memory_bytes=65536,
    )


def test_billable_fuel_policy() -> None:
    limit = 1_000

    def bill(run: RunOutcome | JobRunError) -> int:
        if isinstance(run, RunOutcome):
            return billable_fuel(None, run.fuel_used, limit)
        return billable_fuel(run.code, run.fuel_used, limit)

    assert bill(_outcome(120)) == 120
    assert bill(FuelExhaustedError("x", fuel_used=limit)) == limit
    assert bill(DeadlineExceededError("x", fuel_used=500)) == 0
    assert bill(JobTrapError("x", trap=None, fuel_used=30)) == 30
    assert bill(JobExitError("x", exit_code=1, fuel_used=40)) == 40
    assert bill(MemoryLimitError("x", fuel_used=50)) == 50
    assert bill(OutputLimitError("x", stream="stdout", fuel_used=60)) == 60
    assert billable_fuel("trap", 5_000, limit) == limit  # never more than the limit
