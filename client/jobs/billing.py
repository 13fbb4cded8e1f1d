"""Fuel-based billing: the price of a job is its fuel times a rate, in planck.

The reference price is Gap Junction's published ratio, "10,000,000,000 fuel = $0.01"
(about $0.001 per CPU-second). The rate, worked out (exact integers, no floats):

- 10**10 fuel = 1 cent (Gap Junction).
- Assumption: 1 CC is worth 1 US dollar = 100 cents, and 1 CC = 10**12 planck, so
  1 cent = 10**10 planck.
- Hence 10**10 fuel = 10**10 planck: **1 planck per fuel**
  (:data:`DEFAULT_RATE_PLANCK_PER_FUEL`; knob ``rate_planck_per_fuel`` of
  :class:`~ccnet.worker.config.WorkerConfig`, env ``CCNET_WORKER_RATE_PLANCK_PER_FUEL``).

So a full default budget (10 billion fuel) costs 0.01 CC. Payment for each result is
one channel update moving :func:`price` planck from the requester to the worker
(``docs/protocol.md``, sections 12 and 14).

Failed runs (:func:`billable_fuel`): a job that used up its budget pays the budget; a
job that trapped, exited non-zero or hit a memory or output cap pays the fuel it used
(these outcomes are deterministic, so redundant workers and verifiers agree on them);
a job stopped by the wall-clock deadline pays nothing, since that depends on the
worker's speed and cannot be checked by re-execution (Wasmtime does not even sync its
fuel counter when an epoch interruption traps). The table per failure code is
``docs/protocol.md``, section 11.
"""

from __future__ import annotations

from .. import CC
from .failures import FailureCode

__all__ = [
    "DEFAULT_RATE_PLANCK_PER_FUEL",
    "FUEL_PER_CENT",
    "PLANCK_PER_CC",
    "PLANCK_PER_CENT",
    "billable_fuel",
    "fuel_for_budget",
    "price",
]

PLANCK_PER_CC = CC
"""1 CC in planck (the chain's 12 decimals: :data:`ccnet.client.CC`)."""
FUEL_PER_CENT = 10**10
"""Gap Junction's ratio: 10 billion fuel cost one US cent."""
PLANCK_PER_CENT = PLANCK_PER_CC // 100
"""One US cent in planck, assuming 1 CC = 1 USD: 10**10 planck."""
DEFAULT_RATE_PLANCK_PER_FUEL = PLANCK_PER_CENT // FUEL_PER_CENT
"""Price of one fuel unit: 1 planck."""

assert DEFAULT_RATE_PLANCK_PER_FUEL * FUEL_PER_CENT == PLANCK_PER_CENT


def _check(value: int, name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name} must be a non-negative integer, got {value!r}")


def price(fuel: int, rate_planck_per_fuel: int = DEFAULT_RATE_PLANCK_PER_FUEL) -> int:
    """Price of *fuel* (fuel) at *rate_planck_per_fuel*, planck. ``ValueError`` for
    negative or non-integer arguments."""
    _check(fuel, "fuel")
    _check(rate_planck_per_fuel, "rate_planck_per_fuel")
    return fuel * rate_planck_per_fuel


def fuel_for_budget(
    budget_planck: int, rate_planck_per_fuel: int = DEFAULT_RATE_PLANCK_PER_FUEL
) -> int:
    """The most fuel *budget_planck* pays for at the rate (rounded down), fuel: the fuel
    limit to run a job with so its price never exceeds the budget. A zero rate makes
    fuel free: ``ValueError`` (there is no finite answer)."""
    _check(budget_planck, "budget_planck")
    _check(rate_planck_per_fuel, "rate_planck_per_fuel")
    if rate_planck_per_fuel == 0:
        raise ValueError("a zero rate buys unlimited fuel")
    return budget_planck // rate_planck_per_fuel


def billable_fuel(code: str | None, fuel_used: int, fuel_limit: int) -> int:
    """The fuel a requester pays for a run that had *fuel_limit* fuel, burnt *fuel_used*
    and ended with failure *code* (a :class:`~ccnet.client.jobs.failures.FailureCode`;
    ``None`` for a result): see the module docs for the policy on failures."""
    if code is None:
        return fuel_used
    if code == FailureCode.DEADLINE:
        return 0
    if code == FailureCode.OUT_OF_FUEL:
        return fuel_limit
    return min(fuel_used, fuel_limit)
