"""The outcomes of the disputes that concern a worker, one INFO line each.

A dispute concerns the worker when it is about one of the worker's results
(``DisputeResolved.worker``) or when the worker was drawn to verify it
(``VerifiersDrawn``, a reward in ``DisputeResolved.rewards``, or a slash in
``VerifiersSlashed``). :class:`DisputeOutcomeLog` is fed the Disputes pallet's events in
chain order (``pallets/disputes`` crate docs: ``VerifiersSlashed`` comes before
``DisputeResolved`` in the resolving block) and logs, per resolved dispute::

    dispute 7 (task 12) resolved WorkerAtFault: as its worker, paid 0 CC, slashed 10 CC

What the worker gets or loses, in CC (exact, from planck):

- as the disputed worker: ``WorkerUpheld`` pays it ``to_winner`` (the challenger's
  stake after the verifiers' rewards); ``WorkerAtFault`` slashes ``slashed`` (its claim
  bond); ``Inconclusive`` neither;
- as a verifier: its entry in ``rewards`` (majority), or its entry in
  ``VerifiersSlashed`` (outvoted or silent: its ``VerifierBond``).

A revealer of an inconclusive vote drawn before the daemon started is neither rewarded
nor slashed, so it is not told about that dispute.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from ccnet.client import ChainEvent
from ccnet.client.commands._common import format_cc
from ccnet.client.disputehistory import DisputeTrail

__all__ = ["OUTCOME_EVENTS", "DisputeOutcomeLog", "WorkerOutcome"]

log = logging.getLogger(__name__)

OUTCOME_EVENTS = ("VerifiersDrawn", "VerifiersSlashed", "DisputeResolved")
"""The Disputes events :class:`DisputeOutcomeLog` reads."""


@dataclass(frozen=True)
class WorkerOutcome:
    """A resolved dispute as it concerns one worker. Amounts in planck."""

    dispute_id: int
    task_id: int
    verdict: str
    """``"WorkerAtFault"``, ``"WorkerUpheld"`` or ``"Inconclusive"``."""
    role: str
    """``"worker"`` (its result was disputed) or ``"verifier"``."""
    paid: int
    """Planck paid to it."""
    slashed: int
    """Planck taken from its stake."""

    def describe(self) -> str:
        return (
            f"dispute {self.dispute_id} (task {self.task_id}) resolved {self.verdict}: "
            f"as its {self.role}, paid {format_cc(self.paid)}, slashed {format_cc(self.slashed)}"
        )


class DisputeOutcomeLog:
    """Logs the outcomes of disputes concerning *address* (SS58); see the module docs.

    The events are folded by :class:`~ccnet.client.disputehistory.DisputeTrail` and
    judged by :meth:`~ccnet.client.disputehistory.DisputeRecord.party`, as
    ``ccnet dispute status`` does; a dispute it only challenged is not logged."""

    def __init__(self, address: str) -> None:
        self.address = address
        self.outcomes: list[WorkerOutcome] = []
        """Every outcome logged, in order."""
        self._trail = DisputeTrail()

    def on_event(self, event: ChainEvent) -> WorkerOutcome | None:
        """Read one Disputes event; returns (and logs) the outcome it completes."""
        record = self._trail.on_event(event)
        if record is None or record.outcome is None:
            return None
        party = record.party(self.address)
        if party is None or party.role not in ("worker", "verifier"):
            return None
        outcome = record.outcome
        mine = WorkerOutcome(
            outcome.dispute_id,
            outcome.task_id,
            outcome.verdict,
            party.role,
            party.paid,
            party.slashed,
        )
        self.outcomes.append(mine)
        log.info("%s", mine.describe())
        return mine
