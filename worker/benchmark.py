"""Self-benchmark: at start a worker measures its speed on the reference workload.

The reference machine follows Gap Junction's pricing (10 billion fuel = 1 cent,
"about $0.001 per CPU-second"): one reference CPU-second is 1 billion fuel
(:mod:`ccnet.client.jobs.billing`).

The workload is the built-in ``prime_count`` job with a fixed N
(``WorkerConfig.benchmark_n``, 2,000,000). Fuel is deterministic, time is not: the
benchmark runs it ``benchmark_rounds`` times on a compiled (cached) module and keeps
the fastest run. ``speed_multiplier = fuel per second / REFERENCE_FUEL_PER_SECOND``:
1.0 is the reference machine (1 billion fuel per CPU-second), 2.0 twice as
fast. The answer is checked against the known prime count, so a broken sandbox fails
loudly (:class:`BenchmarkError`) instead of reporting a speed.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from ccnet.client.jobs.catalogue import KNOWN_PRIME_COUNTS, load_job

from .exceptions import BenchmarkError, JobRunError
from .modules import CompiledModule
from .sandbox import Sandbox

__all__ = ["REFERENCE_FUEL_PER_SECOND", "BenchmarkResult", "run_benchmark"]

REFERENCE_FUEL_PER_SECOND = 1_000_000_000
"""Fuel per second of the reference machine (Gap Junction's $0.001 per CPU-second), fuel/s."""


@dataclass(frozen=True)
class BenchmarkResult:
    """What the self-benchmark measured."""

    n: int
    """The workload: count the primes below n."""
    primes: int
    """The answer (checked)."""
    fuel_used: int
    """Fuel of one run (the same in every run), fuel."""
    best_seconds: float
    """Wall-clock time of the fastest run (module compiled beforehand), s."""
    rounds: int
    """Runs made."""

    @property
    def fuel_per_second(self) -> float:
        """Fuel burnt per second in the fastest run, fuel/s."""
        return self.fuel_used / self.best_seconds if self.best_seconds > 0 else float("inf")

    @property
    def speed_multiplier(self) -> float:
        """:attr:`fuel_per_second` relative to :data:`REFERENCE_FUEL_PER_SECOND`."""
        return self.fuel_per_second / REFERENCE_FUEL_PER_SECOND

    @property
    def speed_milli(self) -> int:
        """:attr:`speed_multiplier` times 1000, as heartbeats carry it."""
        return min(2**32 - 1, round(self.speed_multiplier * 1000))


def run_benchmark(
    sandbox: Sandbox,
    *,
    n: int = 2_000_000,
    rounds: int = 3,
    module: bytes | CompiledModule | None = None,
    timer: Callable[[], float] = time.perf_counter,
) -> BenchmarkResult:
    """Benchmark *sandbox* on the prime count below *n*, best of *rounds* runs.

    *module* defaults to the built-in ``prime_count`` job (:func:`load_job`). When *n*
    is in :data:`KNOWN_PRIME_COUNTS` the answer is checked. Raises
    :class:`BenchmarkError` if a run fails, answers wrongly or burns a different
    amount of fuel than the others (the sandbox would not be deterministic).
    """
    if rounds < 1:
        raise ValueError("rounds must be at least 1")
    if isinstance(module, CompiledModule):
        compiled = module
    else:
        compiled = sandbox.compile(load_job("prime_count") if module is None else module)
    best = float("inf")
    fuel: int | None = None
    primes = -1
    for _ in range(rounds):
        began = timer()
        try:
            outcome = sandbox.run(compiled, args=[str(n)])
        except JobRunError as err:
            raise BenchmarkError(f"the benchmark run failed: {err}") from err
        best = min(best, timer() - began)
        try:
            primes = int(outcome.stdout.decode().strip())
        except ValueError:
            raise BenchmarkError(f"the benchmark printed {outcome.stdout[:64]!r}") from None
        expected = KNOWN_PRIME_COUNTS.get(n)
        if expected is not None and primes != expected:
            raise BenchmarkError(f"the benchmark counted {primes} primes below {n}, not {expected}")
        if fuel is not None and outcome.fuel_used != fuel:
            raise BenchmarkError(
                f"the benchmark burnt {outcome.fuel_used} fuel, then {fuel}: not deterministic"
            )
        fuel = outcome.fuel_used
    assert fuel is not None
    return BenchmarkResult(n=n, primes=primes, fuel_used=fuel, best_seconds=best, rounds=rounds)
