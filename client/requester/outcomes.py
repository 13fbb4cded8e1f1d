"""What the requester SDK returns: task outcomes, dispute outcomes and its statistics.

A job returns its output, fuel, cost, the workers involved and how it was verified; the
statistics are the numbers of the demo's summary (tasks run / verified / rejected, fuel
and cost per worker, quality scores, off-chain channel updates against on-chain
extrinsics, disputes). Frozen dataclasses, and the mutable :class:`RequesterTally`;
amounts in planck, fuel in fuel units, times in ms, addresses SS58.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..jobs.results import SignedResult
from .quality import QualityScore, Tier

__all__ = [
    "DisputeOutcome",
    "Disputed",
    "Rejected",
    "RequesterStats",
    "RequesterTally",
    "SpotCheckReport",
    "TaskOutcome",
    "Verification",
    "Verified",
    "WorkerReport",
    "WorkerStats",
]


@dataclass(frozen=True)
class Verified:
    """The output was accepted."""

    method: str
    """``"single"``, ``"majority"`` or ``"spot"`` (how it was decided)."""
    agreeing: tuple[str, ...]
    """Workers whose result was accepted (and paid)."""
    dissenting: tuple[str, ...] = ()
    """Workers whose valid, signed result differed: not paid, open to a dispute."""
    proof: str | None = None
    """Circuit every accepted result proved, if proofs were required."""
    status: str = "verified"


@dataclass(frozen=True)
class Rejected:
    """No output was accepted; nobody was paid."""

    reason: str
    dissenting: tuple[str, ...] = ()
    status: str = "rejected"


@dataclass(frozen=True)
class Disputed:
    """Results were challenged on chain: worker -> dispute id."""

    disputes: Mapping[str, int]
    status: str = "disputed"


Verification = Verified | Rejected | Disputed


@dataclass(frozen=True)
class WorkerReport:
    """One worker's part in one job."""

    worker: str
    status: str
    """``"agreed"`` (accepted), ``"dissented"`` (valid but outvoted or wrong),
    ``"invalid"`` (bad signature, binding, output hash or proof), ``"failed"``
    (JobFailed), ``"unreachable"`` (no session, or no reply in time)."""
    result: SignedResult | None = None
    """The signed result, when one arrived and parsed."""
    fuel_used: int = 0
    """Fuel the worker claimed, fuel."""
    rate_planck_per_fuel: int = 0
    paid: int = 0
    """Planck paid to it for this job (one channel update)."""
    reason: str = ""
    elapsed_ms: float | None = None
    """Request sent -> reply received, ms."""
    payment_error: str = ""
    """Why an owed payment did not go through (the amount stays owed)."""
    error: Exception | None = None
    """The typed error that made the reply invalid, if any (e.g.
    :class:`~ccnet.client.requester.exceptions.FuelClaimError`)."""


@dataclass(frozen=True)
class SpotCheckReport:
    """A job with a known answer mixed in to test a worker."""

    worker: str
    task_id: int
    passed: bool
    paid: int = 0
    reason: str = ""


@dataclass(frozen=True)
class TaskOutcome:
    """The result of :meth:`~ccnet.client.requester.Requester.submit`."""

    task_id: int
    """The job id bound into every signed result (u64; the on-chain task id if given)."""
    module_hash: bytes
    input_hash: bytes
    output: bytes | None
    """The accepted output (stdout), None when rejected."""
    output_hash: bytes | None
    fuel_used: int
    """Billed fuel: the smallest agreeing claim (0 when rejected), fuel."""
    cost_planck: int
    """Paid for this job, all workers together (spot checks included), planck."""
    workers: tuple[str, ...]
    """Workers asked, best ranked first."""
    verification: Verification
    results: Mapping[str, WorkerReport]
    """Per worker asked."""
    spot_checks: tuple[SpotCheckReport, ...] = ()

    @property
    def verified(self) -> bool:
        return isinstance(self.verification, Verified)

    @property
    def dissenters(self) -> tuple[str, ...]:
        """Workers whose signed result was outvoted or contradicted a known answer."""
        if isinstance(self.verification, Verified | Rejected):
            return self.verification.dissenting
        return ()


@dataclass(frozen=True)
class DisputeOutcome:
    """A resolved dispute (``Disputes.DisputeResolved``)."""

    dispute_id: int
    task_id: int
    worker: str
    verdict: str
    """``"WorkerAtFault"``, ``"WorkerUpheld"`` or ``"Inconclusive"``."""
    slashed: int
    """Planck taken from the worker's stake (at fault) or the challenger's stake."""
    rewarded: tuple[str, ...]
    """Verifiers on the majority side."""
    block_number: int | None = None
    rewards: tuple[tuple[str, int], ...] = ()
    """(verifier, planck) paid to each majority verifier."""
    to_winner: int = 0
    """Planck of ``slashed`` paid to the challenger (at fault) or the worker (upheld)."""


@dataclass
class WorkerStats:
    """What one worker did for this requester."""

    jobs: int = 0
    """Jobs sent (spot checks included)."""
    agreed: int = 0
    """Results accepted."""
    rejected: int = 0
    """Results not accepted: dissent, invalid, failed, unreachable."""
    fuel: int = 0
    """Fuel paid for, fuel."""
    cost: int = 0
    """Planck paid, planck."""


@dataclass(frozen=True)
class RequesterStats:
    """A snapshot for a summary (the demo's tables)."""

    tasks_run: int
    tasks_verified: int
    tasks_rejected: int
    spot_checks: int
    spot_checks_failed: int
    offchain_updates: int
    """Co-signed channel updates (one per paid result)."""
    channel_extrinsics: int
    """Extrinsics the payment channels cost (open, close): 2 per channel."""
    other_extrinsics: int
    """Tasks and disputes extrinsics (post, accept, challenge, resolve)."""
    fees_planck: int
    """Transaction fees of every extrinsic above, planck."""
    workers: Mapping[str, WorkerStats]
    scores: Mapping[str, QualityScore]
    tiers: Mapping[str, Tier]
    disputes: tuple[DisputeOutcome, ...] = ()
    excluded: tuple[str, ...] = ()
    """Workers no longer asked (caught cheating)."""
    channels_open: int = 0
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def onchain_extrinsics(self) -> int:
        return self.channel_extrinsics + self.other_extrinsics


@dataclass
class RequesterTally:
    """The requester's running counts, kept as jobs run (the mutable side of
    :class:`RequesterStats`)."""

    tasks_run: int = 0
    tasks_verified: int = 0
    tasks_rejected: int = 0
    spot_checks: int = 0
    spot_checks_failed: int = 0
    workers: dict[str, WorkerStats] = field(default_factory=dict)
    tiers: dict[str, Tier] = field(default_factory=dict)
    """The tier each worker had when last ranked."""
    disputes: list[DisputeOutcome] = field(default_factory=list)

    def worker(self, address: str) -> WorkerStats:
        """The stats of *address* (made on first use)."""
        return self.workers.setdefault(address, WorkerStats())
