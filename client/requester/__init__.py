"""The requester SDK: find workers, run jobs on them, verify the results, pay per result,
and dispute on chain (:class:`Requester`, in :mod:`.facade`).

Split by resource: :mod:`.discovery` and :mod:`.quality` (which workers, ranked how),
:mod:`.sessions` (WebRTC sessions), :mod:`.channelbook` (payment channels),
:mod:`.runs` (one job across its workers), :mod:`.migration` (one job with VM
checkpoints, across workers), :mod:`.checks` (one reply alone),
:mod:`.verdicts` (majority and plans), :mod:`.spotchecks` (known answers),
:mod:`.onchain` (tasks and disputes), :mod:`.outcomes` (what it returns) and
:mod:`.exceptions`. The wire protocol it speaks is ``docs/protocol.md``.
"""

import logging

from .debts import Debt, DebtBook
from .exceptions import (
    ChannelFundsError,
    DisputeTimeoutError,
    FuelClaimError,
    ImageUnavailableError,
    NoWorkersError,
    OnchainTimeoutError,
    PlanError,
    RequesterClosedError,
    RequesterError,
    VerificationError,
    WorkerSilentError,
)
from .facade import DEFAULT_FUEL_LIMIT, DEFAULT_SILENCE_S, Job, Requester
from .migration import (
    Announced,
    CheckpointedJob,
    CheckpointedOutcome,
    Claim,
    FuelReference,
    ImageFacts,
    OpenImage,
    Rerun,
    Segment,
)
from .outcomes import (
    Disputed,
    DisputeOutcome,
    Rejected,
    RequesterStats,
    SpotCheckReport,
    TaskOutcome,
    Verification,
    Verified,
    WorkerReport,
    WorkerStats,
)
from .runs import DEFAULT_JOBS_PER_WORKER
from .spotchecks import KnownJob, LocalRunner

__all__ = [
    "DEFAULT_FUEL_LIMIT",
    "DEFAULT_SILENCE_S",
    "DEFAULT_JOBS_PER_WORKER",
    "Announced",
    "CheckpointedJob",
    "CheckpointedOutcome",
    "Claim",
    "ChannelFundsError",
    "Debt",
    "DebtBook",
    "DisputeOutcome",
    "DisputeTimeoutError",
    "Disputed",
    "FuelClaimError",
    "ImageUnavailableError",
    "FuelReference",
    "ImageFacts",
    "OpenImage",
    "Job",
    "KnownJob",
    "LocalRunner",
    "NoWorkersError",
    "OnchainTimeoutError",
    "PlanError",
    "Rejected",
    "Rerun",
    "Requester",
    "RequesterClosedError",
    "RequesterError",
    "RequesterStats",
    "Segment",
    "SpotCheckReport",
    "TaskOutcome",
    "Verification",
    "VerificationError",
    "WorkerSilentError",
    "Verified",
    "WorkerReport",
    "WorkerStats",
]

logging.getLogger(__name__).addHandler(logging.NullHandler())
