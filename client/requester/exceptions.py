"""Errors of the requester SDK (:mod:`ccnet.client.requester`); all descend from
:class:`RequesterError`, a :class:`~ccnet.client.exceptions.CcnetError`.

What a *worker* did wrong is not an error here: a wrong, late or unproven result is
reported in the :class:`~ccnet.client.requester.outcomes.TaskOutcome` (``Rejected``, dissenters,
per-worker reports). These errors are about the requester's own situation: no workers
to ask, no money in a channel, a job the SDK cannot plan, a closed requester.
"""

from __future__ import annotations

from ..exceptions import CcnetError, NoWorkersFoundError

__all__ = [
    "ChannelFundsError",
    "DisputeTimeoutError",
    "FuelClaimError",
    "ImageUnavailableError",
    "NoWorkersError",
    "OnchainTimeoutError",
    "PlanError",
    "RequesterClosedError",
    "RequesterError",
    "VerificationError",
    "WorkerSilentError",
]


class RequesterError(CcnetError):
    """Root of the requester SDK's errors."""


class RequesterClosedError(RequesterError):
    """The requester is not started, or already closed."""


class NoWorkersError(RequesterError, NoWorkersFoundError):
    """Fewer eligible workers than a job needs: ``task_type``, ``wanted`` and ``found``
    (workers found through the DHT that are registered, staked and not banned)."""

    def __init__(self, task_type: str, wanted: int, found: int) -> None:
        super().__init__(
            f"need {wanted} eligible worker(s) for {task_type!r}, found {found} "
            "(announced in the DHT, registered and staked on chain, not banned)"
        )
        self.task_type = task_type
        self.wanted = wanted
        self.found = found


class VerificationError(RequesterError):
    """Redundant results could not be decided (no results, results of different jobs,
    or no output hash reaching the quorum)."""


class PlanError(RequesterError):
    """The job cannot be run as asked (e.g. ``verify="spot"`` with no known answer and
    no local sandbox, an unknown proof circuit, a redundancy outside 1..7)."""


class ChannelFundsError(RequesterError):
    """The payment channel to a worker cannot cover the job's worst-case price (its fuel
    limit times the worker's rate, planck) while other jobs hold reservations on it."""

    def __init__(self, worker: str, needed: int, available: int) -> None:
        super().__init__(
            f"the channel to {worker} has {available} planck free, the job may cost "
            f"{needed}: raise deposit_per_channel or lower the fuel limit"
        )
        self.worker = worker
        self.needed = needed
        self.available = available


class FuelClaimError(RequesterError):
    """A worker's signed result claims more fuel (``fuel_used``) than the job allowed
    (``fuel_limit``, fuel): the sandbox stops a run at its limit, so the claim is a lie
    (or a bill beyond the job's reservation). The result is invalid and paid nothing;
    the error is the reply's ``error`` in the outcome."""

    def __init__(self, worker: str, fuel_used: int, fuel_limit: int) -> None:
        super().__init__(
            f"{worker} claims {fuel_used} fuel for a job limited to {fuel_limit}: not paid"
        )
        self.worker = worker
        self.fuel_used = fuel_used
        self.fuel_limit = fuel_limit


class OnchainTimeoutError(RequesterError):
    """An on-chain task did not get the results it waited for in time."""


class DisputeTimeoutError(RequesterError):
    """A dispute was not resolved in time (``dispute_id``)."""

    def __init__(self, dispute_id: int, timeout: float) -> None:
        super().__init__(f"dispute {dispute_id} not resolved within {timeout:g} s")
        self.dispute_id = dispute_id


class WorkerSilentError(RequesterError):
    """A worker running a segment sent no heartbeat for ``silence`` seconds: it is
    taken for lost (``worker``: its SS58)."""

    def __init__(self, worker: str, silence: float) -> None:
        super().__init__(f"{worker} sent no heartbeat for {silence:g} s")
        self.worker = worker
        self.silence = silence


class ImageUnavailableError(RequesterError, ConnectionError):
    """A checkpoint image could not be fetched now (its gateway is unreachable), so the
    claims that depend on it can be neither confirmed nor refused: nothing was settled
    (no payment was made), and settling again later may succeed. Not a verdict on the
    image or its worker."""
