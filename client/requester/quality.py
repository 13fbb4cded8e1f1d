"""Proof-of-Quality: how requesters rank workers, and the reputation tiers.

This is the requester's own policy, not protocol (``docs/protocol.md``, section 4): the
scoring function, its weights, the cubic uptime penalty and the consistency reward are
defined here.

The score of a worker is a deterministic function of what a requester observed::

    U = 0.30 S_u + 0.20 S_l + 0.20 S_c + 0.15 S_p + 0.15 S_r        (in [0, 1])

- ``S_u`` uptime: ``P`` = heartbeats received / heartbeats expected in the window
  (capped at 1); ``P`` if ``P >= 0.9``, else ``(P / 0.9) ** 3`` (95 % -> 0.95,
  85 % -> 0.84, 70 % -> 0.47).
- ``S_l`` latency: ``max(0, 1 - mean RTT / latency_max_ms)`` (1000 ms).
- ``S_c`` consistency: ``max(0, 1 - stdev RTT / sigma_max_ms)`` (200 ms), so that
  100 +- 5 ms beats 50 +- 100 ms.
- ``S_p`` capacity: the self-benchmark speed multiplier, capped at 1 (1.0 = the
  reference machine, :mod:`ccnet.worker.benchmark`).
- ``S_r`` reliability: success rate with one success and one failure assumed up front,
  ``(ok + 1) / (ok + failed + 2)``, so a new worker starts at 0.5.
With no latency samples, ``S_l`` and ``S_c`` are 0.5 (unknown); likewise ``S_p`` with
no benchmark. Weights are :class:`QualityWeights` (must sum to 1).

Reputation tiers (:func:`tier_of`) combine the score with the chain's reputation
(``Workers(who).reputation``), and each tier has a :class:`TierPolicy`: how many
workers run a task redundantly, how often a spot check with a known answer is mixed in,
and whether a ZK proof is required.

**On-chain history is weighted by value and by distinct requesters, not by counts.**
The chain's ``completed`` counter is cheap to inflate: a worker can post 1-planck tasks
to itself from other accounts. So a requester reads the history through
``value_earned`` (planck paid to the worker for results the court paid) and
``distinct_requesters`` (requesters that paid it at least the runtime's
``MinReputableShare``, 0.1 CC); completions count only as far as they are backed by
value (:attr:`Reputation.verified_completed`: at most one per 0.1 CC earned).

**Probation** (the rule): a worker stays in :attr:`Tier.PROBATION` (redundancy 3, 20 %
spot checks, ZK proofs) until it has *independent verified work*: at least
:data:`PROBATION_MIN_REQUESTERS` (3) distinct requesters paid it, at least
:data:`PROBATION_MIN_VALUE` (10 CC) in all, and at least *min_history* (10)
value-backed completions; and always while it was ever slashed or its fault rate is
over 10 %. :attr:`Tier.TRUSTED` needs :data:`TRUSTED_MIN_REQUESTERS` (20) requesters,
:data:`TRUSTED_MIN_VALUE` (1000 CC), 100 value-backed completions, a fault rate of at
most 2 % and a score of at least 0.8. What this does not stop: a worker that pays
itself from many accounts, each at least 0.1 CC, still looks independent; it costs it
fees and capital locked in bounties, and it stays on probation (redundancy, spot checks)
until then.
"""

from __future__ import annotations

import math
import statistics
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

__all__ = [
    "TIER_POLICIES",
    "QualityInputs",
    "QualityScore",
    "QualityTracker",
    "QualityWeights",
    "Reputation",
    "Tier",
    "TierPolicy",
    "consistency_score",
    "latency_score",
    "quality_score",
    "rank_workers",
    "reliability_score",
    "tier_of",
    "uptime_score",
]


@dataclass(frozen=True)
class QualityWeights:
    """Weights of the five components (they sum to 1)."""

    uptime: float = 0.30
    latency: float = 0.20
    consistency: float = 0.20
    capacity: float = 0.15
    reliability: float = 0.15

    def __post_init__(self) -> None:
        values = (self.uptime, self.latency, self.consistency, self.capacity, self.reliability)
        if any(v < 0 for v in values) or not math.isclose(sum(values), 1.0):
            raise ValueError("quality weights must be non-negative and sum to 1")


def uptime_score(fraction: float) -> float:
    """``S_u`` of an uptime *fraction* in [0, 1] (cubic penalty below 90 %)."""
    p = min(1.0, max(0.0, fraction))
    return p if p >= 0.9 else (p / 0.9) ** 3


def latency_score(mean_ms: float | None, latency_max_ms: float = 1000.0) -> float:
    """``S_l`` of a mean round-trip time, ms (0.5 when unknown)."""
    if mean_ms is None:
        return 0.5
    return max(0.0, 1.0 - mean_ms / latency_max_ms)


def consistency_score(stdev_ms: float | None, sigma_max_ms: float = 200.0) -> float:
    """``S_c`` of the standard deviation of round-trip times, ms (0.5 when unknown)."""
    if stdev_ms is None:
        return 0.5
    return max(0.0, 1.0 - stdev_ms / sigma_max_ms)


def reliability_score(succeeded: int, failed: int) -> float:
    """``S_r``: ``(succeeded + 1) / (succeeded + failed + 2)``."""
    return (succeeded + 1) / (succeeded + failed + 2)


@dataclass(frozen=True)
class QualityInputs:
    """What a score is computed from."""

    uptime: float
    """Fraction of expected heartbeats received, [0, 1]."""
    latencies_ms: tuple[float, ...] = ()
    """Round-trip times observed, ms."""
    succeeded: int = 0
    """Jobs that returned a result that was accepted."""
    failed: int = 0
    """Jobs that failed, timed out or returned a wrong result."""
    speed_multiplier: float | None = None
    """Self-benchmark speed multiplier (``None``: unknown)."""


@dataclass(frozen=True)
class QualityScore:
    """A score and its components, each in [0, 1]."""

    total: float
    uptime: float
    latency: float
    consistency: float
    capacity: float
    reliability: float


def quality_score(
    inputs: QualityInputs,
    weights: QualityWeights | None = None,
    *,
    latency_max_ms: float = 1000.0,
    sigma_max_ms: float = 200.0,
) -> QualityScore:
    """The Proof-of-Quality score of *inputs* (see the module docs)."""
    w = weights if weights is not None else QualityWeights()
    samples = inputs.latencies_ms
    mean = statistics.fmean(samples) if samples else None
    stdev = statistics.pstdev(samples) if len(samples) >= 2 else None
    parts = {
        "uptime": uptime_score(inputs.uptime),
        "latency": latency_score(mean, latency_max_ms),
        "consistency": consistency_score(stdev, sigma_max_ms),
        "capacity": 0.5
        if inputs.speed_multiplier is None
        else min(1.0, max(0.0, inputs.speed_multiplier)),
        "reliability": reliability_score(inputs.succeeded, inputs.failed),
    }
    total = sum(getattr(w, name) * value for name, value in parts.items())
    return QualityScore(total=min(1.0, max(0.0, total)), **parts)


@dataclass
class _Observed:
    first_seen_ms: int
    heartbeats: deque[int] = field(default_factory=deque)
    latencies: deque[float] = field(default_factory=deque)
    succeeded: int = 0
    failed: int = 0
    speed_multiplier: float | None = None


class QualityTracker:
    """A requester's observations of workers, turned into scores.

    Heartbeats count within a sliding *window_ms* (default 1 h) against one expected
    per *heartbeat_interval_ms*; the last *latency_samples* round-trip times are kept.
    Feed it heartbeats accepted by :class:`~ccnet.client.jobs.heartbeat.HeartbeatVerifier`.
    """

    def __init__(
        self,
        *,
        window_ms: int = 3_600_000,
        heartbeat_interval_ms: int = 15_000,
        latency_samples: int = 64,
        weights: QualityWeights | None = None,
    ) -> None:
        self.window_ms = window_ms
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self.latency_samples = latency_samples
        self.weights = weights if weights is not None else QualityWeights()
        self._workers: dict[str, _Observed] = {}

    def _get(self, worker: str, now_ms: int) -> _Observed:
        if worker not in self._workers:
            self._workers[worker] = _Observed(first_seen_ms=now_ms)
        return self._workers[worker]

    def observe_heartbeat(
        self, worker: str, at_ms: int, *, speed_multiplier: float | None = None
    ) -> None:
        """A heartbeat of *worker* arrived at *at_ms* (its speed, if it reported one)."""
        seen = self._get(worker, at_ms)
        seen.heartbeats.append(at_ms)
        if speed_multiplier is not None and speed_multiplier > 0:
            seen.speed_multiplier = speed_multiplier
        horizon = at_ms - self.window_ms
        while seen.heartbeats and seen.heartbeats[0] < horizon:
            seen.heartbeats.popleft()

    def observe_latency(self, worker: str, rtt_ms: float, at_ms: int) -> None:
        """A round trip to *worker* took *rtt_ms*."""
        seen = self._get(worker, at_ms)
        seen.latencies.append(float(rtt_ms))
        while len(seen.latencies) > self.latency_samples:
            seen.latencies.popleft()

    def observe_job(self, worker: str, succeeded: bool, at_ms: int) -> None:
        """A job of *worker* succeeded (accepted result) or failed."""
        seen = self._get(worker, at_ms)
        if succeeded:
            seen.succeeded += 1
        else:
            seen.failed += 1

    def uptime(self, worker: str, now_ms: int) -> float:
        """Heartbeats received / expected since ``max(first seen, now - window)``."""
        seen = self._workers.get(worker)
        if seen is None:
            return 0.0
        start = max(seen.first_seen_ms, now_ms - self.window_ms)
        received = sum(1 for t in seen.heartbeats if start <= t <= now_ms)
        expected = max(1, (now_ms - start) // self.heartbeat_interval_ms + 1)
        return min(1.0, received / expected)

    def inputs(self, worker: str, now_ms: int) -> QualityInputs:
        """The inputs of *worker*'s score now."""
        seen = self._workers.get(worker)
        if seen is None:
            return QualityInputs(uptime=0.0)
        return QualityInputs(
            uptime=self.uptime(worker, now_ms),
            latencies_ms=tuple(seen.latencies),
            succeeded=seen.succeeded,
            failed=seen.failed,
            speed_multiplier=seen.speed_multiplier,
        )

    def score(self, worker: str, now_ms: int) -> QualityScore:
        """*worker*'s score now."""
        return quality_score(self.inputs(worker, now_ms), self.weights)

    def workers(self) -> list[str]:
        """Every worker observed."""
        return sorted(self._workers)


def rank_workers(scores: Mapping[str, QualityScore]) -> list[str]:
    """Workers best first: by total score, ties broken by address (deterministic)."""
    return sorted(scores, key=lambda worker: (-scores[worker].total, worker))


# --- reputation tiers -----------------------------------------------------------------


class Tier(StrEnum):
    """How much a requester trusts a worker."""

    PROBATION = "probation"
    STANDARD = "standard"
    TRUSTED = "trusted"


CC = 10**12
"""One CC in planck."""
REPUTABLE_SHARE = CC // 10
"""The runtime's ``Tasks.MinReputableShare``: the least share that counts, planck."""
PROBATION_MIN_REQUESTERS = 3
"""Distinct paying requesters a worker needs to leave probation."""
PROBATION_MIN_VALUE = 10 * CC
"""Planck a worker must have earned on chain to leave probation."""
TRUSTED_MIN_REQUESTERS = 20
"""Distinct paying requesters a trusted worker needs."""
TRUSTED_MIN_VALUE = 1_000 * CC
"""Planck a trusted worker must have earned on chain."""

_COUNTERS = ("completed", "failed", "disputed", "slashed", "value_earned", "distinct_requesters")


@dataclass(frozen=True)
class Reputation:
    """The chain's reputation of a worker (``Workers(who).reputation``)."""

    completed: int = 0
    failed: int = 0
    disputed: int = 0
    slashed: int = 0
    value_earned: int = 0
    """Planck paid to the worker for results the court paid."""
    distinct_requesters: int = 0
    """Requesters that paid it at least ``MinReputableShare``."""

    @classmethod
    def from_chain(cls, value: Mapping[str, int]) -> Reputation:
        """From the decoded storage value (its six counters; missing ones are 0)."""
        return cls(**{k: int(value.get(k, 0)) for k in _COUNTERS})

    @property
    def verified_completed(self) -> int:
        """Completions backed by value: at most one per :data:`REPUTABLE_SHARE` earned,
        so 1-planck self-dealt tasks add nothing."""
        return min(self.completed, self.value_earned // REPUTABLE_SHARE)

    @property
    def fault_rate(self) -> float:
        """(failed + disputed) / (value-backed completions + failed) (0 with no history)."""
        finished = self.verified_completed + self.failed
        return (self.failed + self.disputed) / finished if finished else 0.0

    @property
    def standing(self) -> float:
        """On-chain standing in [0, 1]: half from distinct paying requesters, half from
        value earned, both relative to the trusted thresholds (a tie-breaker in
        rankings)."""
        requesters = min(1.0, self.distinct_requesters / TRUSTED_MIN_REQUESTERS)
        value = min(1.0, self.value_earned / TRUSTED_MIN_VALUE)
        return (requesters + value) / 2


@dataclass(frozen=True)
class TierPolicy:
    """What verification a tier gets."""

    redundancy: int
    """Workers that run each task (the chain allows 1..7); the majority decides."""
    spot_check_permille: int
    """Share of tasks that are spot checks with a known answer, per mille."""
    zk_proof_required: bool
    """Whether results must come with a ZK proof where the task type has one."""


TIER_POLICIES: Mapping[Tier, TierPolicy] = {
    Tier.PROBATION: TierPolicy(redundancy=3, spot_check_permille=200, zk_proof_required=True),
    Tier.STANDARD: TierPolicy(redundancy=2, spot_check_permille=50, zk_proof_required=False),
    Tier.TRUSTED: TierPolicy(redundancy=1, spot_check_permille=10, zk_proof_required=False),
}
"""The default policy of each tier."""


def tier_of(
    score: float,
    reputation: Reputation,
    *,
    min_history: int = 10,
    trusted_history: int = 100,
    trusted_score: float = 0.8,
    max_fault_rate: float = 0.10,
    trusted_fault_rate: float = 0.02,
) -> Tier:
    """The tier of a worker with quality *score* and chain *reputation* (the rule is in
    the module docs).

    PROBATION: ever slashed, a fault rate over *max_fault_rate*, or not yet enough
    independent verified work: fewer than :data:`PROBATION_MIN_REQUESTERS` distinct
    paying requesters, less than :data:`PROBATION_MIN_VALUE` planck earned, or fewer
    than *min_history* value-backed completions. TRUSTED: :data:`TRUSTED_MIN_REQUESTERS`
    requesters, :data:`TRUSTED_MIN_VALUE` planck, *trusted_history* value-backed
    completions, a fault rate of at most *trusted_fault_rate* and a score of at least
    *trusted_score*. STANDARD otherwise.
    """
    if (
        reputation.slashed > 0
        or reputation.fault_rate > max_fault_rate
        or reputation.distinct_requesters < PROBATION_MIN_REQUESTERS
        or reputation.value_earned < PROBATION_MIN_VALUE
        or reputation.verified_completed < min_history
    ):
        return Tier.PROBATION
    if (
        reputation.distinct_requesters >= TRUSTED_MIN_REQUESTERS
        and reputation.value_earned >= TRUSTED_MIN_VALUE
        and reputation.verified_completed >= trusted_history
        and reputation.fault_rate <= trusted_fault_rate
        and score >= trusted_score
    ):
        return Tier.TRUSTED
    return Tier.STANDARD
