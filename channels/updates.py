"""What the channel state machine emits and the store persists.

Following rust-lightning's ``ChannelMonitorUpdate``: every change of a channel is a
:class:`ChannelUpdate` with a per-channel ``update_id`` that grows by one; the store
applies them in order, and the party sends nothing that depends on an update before
the store has made it durable. :class:`ChannelRecord` is what the store loads back.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from .state import ChannelParams, ChannelState, ClosingAgreement, Party, SignedState

__all__ = ["ChannelRecord", "ChannelUpdate", "PendingProposal", "Phase", "UpdateKind"]


class Phase(StrEnum):
    """Life cycle of a channel (updates happen in ``funded``)."""

    OPENING = "opening"
    """A opened it on chain; B's deposit is still missing."""
    FUNDED = "funded"
    """Both deposits are held: off-chain updates are safe."""
    CLOSING = "closing"
    """A unilateral close registered a state; until its challenge period ends, a newer
    co-signed state may replace it (``challenge``), then ``settle`` pays it out."""
    SETTLED = "settled"
    """Closed and paid out (cooperatively or by ``settle``)."""
    CANCELLED = "cancelled"
    """Never funded; A's deposit was released."""

    @property
    def final(self) -> bool:
        """Whether the channel no longer exists on chain."""
        return self in (Phase.SETTLED, Phase.CANCELLED)


class UpdateKind(StrEnum):
    """What a :class:`ChannelUpdate` changes."""

    SIGNED = "signed"
    """We (party A) signed a state we propose (it becomes the outstanding proposal), or
    a batch of consecutive states (``earlier`` holds all but the last)."""
    COSIGNED = "cosigned"
    """A state signed by both became the latest (clears an older or equal proposal): a
    countersigned proposal, or the cancel state of a refused one; for a batch,
    ``earlier`` holds its co-signed states before the latest: one update, so one durable
    commit, for the whole batch."""
    CANCELLED = "cancelled"
    """We (party B) refused a valid proposal and signed its cancel state; ``version`` is
    the cancel's version: we never countersign it or an older version."""
    PHASE = "phase"
    """The life-cycle phase changed."""
    CLOSING = "closing"
    """We signed a close of the latest balances (the channel is frozen from now on), the
    peer's close signature completed the agreement, or the agreement moved up to a
    higher version of the same balances."""


@dataclass(frozen=True, slots=True)
class PendingProposal:
    """A state we signed and sent, whose countersignature has not come back."""

    state: ChannelState
    signature: bytes
    """Our signature, 64 bytes."""
    memo: str = ""
    earlier: tuple[PendingProposal, ...] = ()
    """A batch's states before :attr:`state` (consecutive versions, oldest first),
    each with our signature; empty for a single proposal."""


@dataclass(frozen=True, slots=True)
class ChannelUpdate:
    """One numbered change of one channel."""

    channel_id: bytes
    update_id: int
    """1, 2, 3, ... per channel (creation is 0)."""
    kind: UpdateKind
    signed: SignedState | None = None
    """COSIGNED: the co-signed state; SIGNED: the state with only our signature."""
    memo: str = ""
    """SIGNED: the proposal's memo."""
    version: int | None = None
    """CANCELLED: the cancel state's version."""
    phase: Phase | None = None
    """PHASE: the new phase."""
    closing: ClosingAgreement | None = None
    """CLOSING: the close agreement so far (our signature, and the peer's once known)."""
    earlier: tuple[SignedState, ...] = ()
    """SIGNED / COSIGNED of a batch: its states before ``signed``, oldest first (signed
    by us / by both)."""


@dataclass(frozen=True, slots=True)
class ChannelRecord:
    """A channel as persisted: its fixed parameters and where the updates left it."""

    info: ChannelParams
    me: Party
    """Our side."""
    phase: Phase
    latest: SignedState
    """The newest co-signed state (the unsigned opening state before any update)."""
    pending: PendingProposal | None = None
    """Party A: our outstanding proposal."""
    cancelled: int = 0
    """Party B: version of the last cancel state we signed (0: none)."""
    update_id: int = 0
    """Id of the last applied update."""
    closing: ClosingAgreement | None = None
    """The cooperative close we signed, if any: the channel is frozen (no more updates)."""
