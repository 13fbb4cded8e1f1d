"""What became of a dispute, from the Disputes pallet's events: votes, verdict, payouts.

A resolved dispute leaves no storage behind (``pallets/disputes`` crate docs), so its
story is read from the events the pallet emitted, in chain order:

``DisputeOpened`` (task, worker, challenger, stake), ``VerifiersDrawn`` (the panel, the
phase ends) or ``NotEnoughVerifiers``, ``VoteCommitted``, ``VoteRevealed`` (each
verifier's result hash and whether it matched the worker's), ``ExpectedRevealed``,
``VerifiersSlashed`` (outvoted or silent verifiers, their bond), ``PaymentFailed``,
and last ``DisputeResolved`` (verdict, ``slashed``, ``rewards``, ``to_winner``).

:class:`DisputeTrail` folds those events into :class:`DisputeRecord` s;
:meth:`DisputeRecord.settlement` says what each party was paid and lost (planck, exact),
as the pallet's ``finish`` moves it:

- ``WorkerAtFault``: the worker loses ``slashed`` (its claim bond), paid out as
  ``rewards`` to the majority verifiers and ``to_winner`` to the challenger;
- ``WorkerUpheld``: the challenger loses ``slashed`` (of its stake), paid out as
  ``rewards`` and ``to_winner`` to the worker (a failed payment stays with the
  challenger and is not in ``slashed``);
- ``Inconclusive``: the challenger's stake goes back; nobody is paid;
- every verdict: each verifier in ``VerifiersSlashed`` loses that amount (burnt).

:func:`find_dispute` scans a bounded range of blocks backwards for one dispute's events.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from .events import ChainEvent
from .requester.onchain import dispute_outcome
from .requester.outcomes import DisputeOutcome
from .subscription import BlockSource

__all__ = [
    "DEFAULT_SCAN_BLOCKS",
    "DisputeRecord",
    "DisputeTrail",
    "PartyOutcome",
    "RevealedVote",
    "ScanRange",
    "find_dispute",
]

DEFAULT_SCAN_BLOCKS = 100_000
"""Blocks :func:`find_dispute` reads back from the head unless told where to start."""


def _int_or_none(value: Any) -> int | None:
    return None if value is None else int(value)


def _pair(item: Any) -> tuple[str, int]:
    """An ``(AccountId, Balance)`` tuple as substrate-interface decodes it."""
    who, amount = list(item.values()) if isinstance(item, dict) else list(item)
    return str(who), int(amount)


@dataclass(frozen=True)
class RevealedVote:
    """A verifier's revealed vote (``VoteRevealed``)."""

    verifier: str
    result_hash: str
    """0x hex H256 of the verifier's own re-execution."""
    agrees: bool
    """Whether it matched the worker's claimed hash."""


@dataclass(frozen=True)
class PartyOutcome:
    """What one party of a resolved dispute was paid and lost, planck."""

    account: str
    role: str
    """``"worker"`` (its result was disputed), ``"challenger"`` or ``"verifier"``."""
    paid: int
    """Planck paid to it."""
    slashed: int
    """Planck taken from its stake or bond."""


@dataclass
class DisputeRecord:
    """One dispute as its events tell it (fields stay None / empty for events not seen,
    e.g. a ``DisputeOpened`` before the scanned range). Amounts in planck, block numbers
    as ints, hashes as 0x hex."""

    dispute_id: int
    task_id: int | None = None
    worker: str | None = None
    """The accused worker."""
    challenger: str | None = None
    stake: int | None = None
    """Planck held from the challenger."""
    opened_at: int | None = None
    """Block of ``DisputeOpened``."""
    verifiers: tuple[str, ...] = ()
    """The drawn panel (``VerifiersDrawn``)."""
    commit_ends: int | None = None
    reveal_ends: int | None = None
    not_enough_verifiers: bool = False
    """Nobody was drawn: too few eligible verifiers (ends ``Inconclusive``)."""
    committed: tuple[str, ...] = ()
    """Verifiers that committed a vote, in order."""
    votes: tuple[RevealedVote, ...] = ()
    expected_hash: str | None = None
    """The result the challenger expected, once revealed."""
    audit: bool = False
    """The challenger proved to be a registered auditor."""
    verifiers_slashed: tuple[tuple[str, int], ...] = ()
    """(verifier, planck) burnt from the bonds of outvoted or silent verifiers."""
    payments_failed: tuple[tuple[str, int], ...] = ()
    """(payee, planck) the verdict could not pay; it stayed with the challenger."""
    outcome: DisputeOutcome | None = None
    """The ``DisputeResolved`` event, once seen."""
    resolved_at: int | None = None
    """Block of ``DisputeResolved``."""
    events: list[ChainEvent] = field(default_factory=list, repr=False)
    """The events folded in, in chain order."""

    @property
    def resolved(self) -> bool:
        return self.outcome is not None

    @property
    def verdict(self) -> str | None:
        """``"WorkerAtFault"``, ``"WorkerUpheld"``, ``"Inconclusive"``, or None if open."""
        return None if self.outcome is None else self.outcome.verdict

    @property
    def complete(self) -> bool:
        """Both ends seen: ``DisputeOpened`` and ``DisputeResolved``."""
        return self.opened_at is not None and self.resolved

    def party(self, account: str) -> PartyOutcome | None:
        """What *account* was paid and lost as the worker, a verifier or the challenger
        (in that order of precedence), or None if it had no part or the dispute is
        open. A verifier that revealed an inconclusive vote is neither paid nor slashed
        (0, 0)."""
        outcome = self.outcome
        if outcome is None:
            return None
        if account == outcome.worker:
            paid = outcome.to_winner if outcome.verdict == "WorkerUpheld" else 0
            slashed = outcome.slashed if outcome.verdict == "WorkerAtFault" else 0
            return PartyOutcome(account, "worker", paid, slashed)
        reward = next((p for v, p in outcome.rewards if v == account), None)
        burnt = next((p for v, p in self.verifiers_slashed if v == account), None)
        if account in self.verifiers or reward is not None or burnt is not None:
            return PartyOutcome(account, "verifier", reward or 0, burnt or 0)
        if account == self.challenger:
            paid = outcome.to_winner if outcome.verdict == "WorkerAtFault" else 0
            slashed = outcome.slashed if outcome.verdict == "WorkerUpheld" else 0
            return PartyOutcome(account, "challenger", paid, slashed)
        return None

    def settlement(self) -> list[PartyOutcome]:
        """Every party's :class:`PartyOutcome` (worker, challenger if known, then the
        verifiers); empty while open."""
        outcome = self.outcome
        if outcome is None:
            return []
        accounts = [outcome.worker]
        if self.challenger is not None:
            accounts.append(self.challenger)
        for who in (
            *self.verifiers,
            *(v for v, _ in outcome.rewards),
            *(v for v, _ in self.verifiers_slashed),
        ):
            if who not in accounts:
                accounts.append(who)
        return [p for p in map(self.party, accounts) if p is not None]

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly: every field but ``events`` and ``outcome``, with the verdict,
        ``slashed``, ``to_winner``, ``rewards`` and the :meth:`settlement` as ``payouts``."""
        outcome = self.outcome
        return {
            "dispute_id": self.dispute_id,
            "state": "resolved" if outcome is not None else "open",
            "verdict": self.verdict,
            "task_id": self.task_id,
            "worker": self.worker,
            "challenger": self.challenger,
            "stake": self.stake,
            "opened_at": self.opened_at,
            "resolved_at": self.resolved_at,
            "not_enough_verifiers": self.not_enough_verifiers,
            "verifiers": list(self.verifiers),
            "commit_ends": self.commit_ends,
            "reveal_ends": self.reveal_ends,
            "committed": list(self.committed),
            "votes": [
                {"verifier": v.verifier, "result_hash": v.result_hash, "agrees": v.agrees}
                for v in self.votes
            ],
            "expected_hash": self.expected_hash,
            "audit": self.audit,
            "slashed": None if outcome is None else outcome.slashed,
            "to_winner": None if outcome is None else outcome.to_winner,
            "rewards": [] if outcome is None else [list(r) for r in outcome.rewards],
            "verifiers_slashed": [list(s) for s in self.verifiers_slashed],
            "payments_failed": [list(p) for p in self.payments_failed],
            "payouts": [
                {"account": p.account, "role": p.role, "paid": p.paid, "slashed": p.slashed}
                for p in self.settlement()
            ],
        }


class DisputeTrail:
    """Folds Disputes events, fed in chain order, into :class:`DisputeRecord` s.

    Records of open disputes are kept in :attr:`open` until their ``DisputeResolved``,
    which :meth:`on_event` returns (and forgets), so a long-running reader keeps only
    the disputes still open. Other pallets' events are ignored.
    """

    def __init__(self) -> None:
        self.open: dict[int, DisputeRecord] = {}
        """Records of the disputes not resolved yet, by id."""

    def on_event(self, event: ChainEvent) -> DisputeRecord | None:
        """Fold one event; returns the record that a ``DisputeResolved`` completes."""
        if event.pallet != "Disputes" or "dispute_id" not in event.attributes:
            return None
        attrs = event.attributes
        dispute_id = int(attrs["dispute_id"])
        record = self.open.get(dispute_id)
        if record is None:
            record = self.open[dispute_id] = DisputeRecord(dispute_id)
        record.events.append(event)
        name = event.name
        if name == "DisputeOpened":
            record.task_id = int(attrs["task_id"])
            record.worker = str(attrs["worker"])
            record.challenger = str(attrs["challenger"])
            record.stake = int(attrs["stake"])
            record.opened_at = event.block_number
        elif name == "VerifiersDrawn":
            record.verifiers = tuple(str(v) for v in attrs.get("verifiers") or ())
            record.commit_ends = _int_or_none(attrs.get("commit_ends"))
            record.reveal_ends = _int_or_none(attrs.get("reveal_ends"))
        elif name == "NotEnoughVerifiers":
            record.not_enough_verifiers = True
        elif name == "VoteCommitted":
            record.committed += (str(attrs["verifier"]),)
        elif name == "VoteRevealed":
            vote = RevealedVote(
                str(attrs["verifier"]), str(attrs["result_hash"]), bool(attrs["agrees"])
            )
            record.votes += (vote,)
        elif name == "ExpectedRevealed":
            record.expected_hash = str(attrs["expected_hash"])
            record.audit = bool(attrs.get("audit", False))
        elif name == "VerifiersSlashed":
            record.verifiers_slashed += tuple(_pair(i) for i in attrs.get("verifiers") or ())
        elif name == "PaymentFailed":
            record.payments_failed += ((str(attrs["to"]), int(attrs["amount"])),)
        elif name == "DisputeResolved":
            outcome = dispute_outcome(event)
            record.outcome = outcome
            record.resolved_at = event.block_number
            record.task_id = outcome.task_id
            record.worker = outcome.worker
            return self.open.pop(dispute_id)
        return None

    def feed(self, events: Iterable[ChainEvent]) -> list[DisputeRecord]:
        """Fold *events*; the records they resolved, in order."""
        return [r for r in map(self.on_event, events) if r is not None]


@dataclass(frozen=True)
class ScanRange:
    """Blocks :func:`find_dispute` read, inclusive."""

    first: int
    last: int


def find_dispute(
    chain: BlockSource,
    dispute_id: int,
    *,
    from_block: int | None = None,
    to_block: int | None = None,
    max_blocks: int = DEFAULT_SCAN_BLOCKS,
) -> tuple[DisputeRecord | None, ScanRange]:
    """The record of *dispute_id* from its events in blocks *from_block* .. *to_block*
    (default: the best block, and at most *max_blocks* back from it), and the range
    actually read.

    Reads backwards from *to_block* (one ``System.Events`` read per block) and stops at
    the dispute's ``DisputeOpened``, so a recent dispute costs few reads. Returns None
    when no event of the dispute is in the range; a record whose ``DisputeOpened`` lies
    before the range has :attr:`DisputeRecord.opened_at` None. Raises what *chain*
    raises (:class:`~ccnet.client.exceptions.CcnetError`)."""
    last = chain.block_number() if to_block is None else to_block
    first = max(0, last - max_blocks + 1) if from_block is None else max(0, from_block)
    mine: list[ChainEvent] = []
    number = last
    while number >= first:
        block = chain.events_at(chain.block_hash(number), block_number=number)
        found = [
            e
            for e in block
            if e.pallet == "Disputes" and e.attributes.get("dispute_id") == dispute_id
        ]
        mine[:0] = found
        if any(e.name == "DisputeOpened" for e in found):
            break
        number -= 1
    scanned = ScanRange(max(number, first), last)
    if not mine:
        return None, scanned
    trail = DisputeTrail()
    done = trail.feed(mine)
    return (done[0] if done else trail.open[dispute_id]), scanned
