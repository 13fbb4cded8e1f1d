"""The channel state machine of one party: pure, no I/O.

:class:`Channel` turns local intents (:meth:`~Channel.propose`, :meth:`~Channel.pay`)
and peer messages (:meth:`~Channel.on_propose`, :meth:`~Channel.on_countersign`,
:meth:`~Channel.on_reject`) into wire messages and numbered :class:`ChannelUpdate`\\ s.
The caller (:class:`ccnet.channels.party.ChannelParty`) must persist each update before
it sends the message that goes with it (rust-lightning's rule: never hand out a
signature the store could lose).

Update protocol (seed 003 "Payment channel update"; versions as in pallet-channels):

1. The proposer signs state ``n`` (version ``next_version``), persists it as the
   outstanding proposal (SIGNED), sends ``propose``.
2. The receiver checks it: our channel and chain, the version is exactly the next one
   (``max(latest, burned) + 1``; older versions are replays), balances are in range and
   add up to the deposits, the proposer's signature verifies, and the policy accepts it.
   It then signs, persists the co-signed state (COSIGNED) and sends ``countersign``.
   A refused proposal gets ``reject``; only a policy refusal changes the store (BURNED:
   the proposer's signature makes that version usable, so it is never reused).
3. The proposer checks the countersignature and persists the co-signed state.

A ``propose`` identical to the latest co-signed state is a retransmission (after a
crash or a lost answer) and is answered with the same ``countersign``, without a store
change. When both sides propose the same version at once, A's proposal wins: A rejects
B's with ``conflict`` and B countersigns A's (which clears B's own proposal).

Batches (:meth:`Channel.pay_many`, :meth:`Channel.propose_many`): party A may propose
2 to :data:`~.messages.MAX_BATCH` consecutive states in one ``propose_batch``. It is one
proposal: one SIGNED update (one durable commit) holds every state, and the receiver
checks every state as above, asks its policy about the last one (the earlier ones are
superseded in the same answer), and either co-signs them all (one COSIGNED update, one
commit, then ``countersign_batch``) or refuses the batch with one ``reject`` of its last
version (a policy refusal burns every version up to it). The batch is outstanding, and
re-sent, as a whole; a re-sent batch that is co-signed already is answered with the
``countersign`` of its last state. Only A proposes batches, since A's proposals win a
crossing: a batch never gives way, so its signatures never cover versions the channel
reuses. Update, sign and commit costs are per state; the round trip and the commits
are per batch.

Cooperative close (``cooperative_close`` takes only *close* signatures, see
:mod:`.state`):

1. The requester, with nothing outstanding, signs a close of its latest co-signed state
   (the unsigned opening state before any update: the deposits, version 0), persists
   that freeze (CLOSING) and sends ``close_request`` (:meth:`Channel.request_close`).
2. The responder accepts only its own latest co-signed state with nothing outstanding
   (``version``/``replay``, ``balance``, ``pending`` otherwise) and a close signature
   that verifies under the close domain (``signature``: an update signature is not
   one). It signs the close, persists the freeze with both signatures (CLOSING) and
   sends ``close_accept`` (:meth:`Channel.on_close_request`).
3. The requester checks the signature and persists both (:meth:`Channel.on_close_accept`);
   either side can now submit ``cooperative_close``.

From its freeze on, a party signs and accepts no update: its own proposals raise
:class:`ChannelStateError`, the peer's get ``reject`` with code ``closing`` (the
proposer drops such a proposal). Otherwise the peer could collect newer updates and
still close with the older agreed state. A refused close request leaves the requester
frozen: the peer may hold its close signature. Repeated requests and accepts of the
agreed state are answered again, without a store change; both sides asking at once
both end with the full agreement.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from substrateinterface import Keypair

from .exceptions import (
    BalanceError,
    ChannelStateError,
    CloseRefused,
    ClosingError,
    ConflictError,
    InDoubtError,
    PendingError,
    PolicyRejected,
    ProposalRejected,
    ProtocolError,
    ReplayError,
    SignatureError,
    VersionError,
    WrongChainError,
    WrongChannelError,
)
from .messages import (
    MAX_BATCH,
    CloseAccept,
    CloseRequest,
    Countersign,
    CountersignBatch,
    Propose,
    ProposeBatch,
    Reject,
)
from .state import (
    ChannelParams,
    ChannelState,
    ClosingAgreement,
    Party,
    SignedState,
    sign_close,
    sign_state,
    verify_close,
    verify_state,
)
from .updates import ChannelRecord, ChannelUpdate, PendingProposal, Phase, UpdateKind

__all__ = ["MAX_VERSION", "Channel", "Policy", "accept_all", "accept_not_worse"]

log = logging.getLogger(__name__)

MAX_VERSION = 2**63 - 1
"""Highest version a channel uses (SQLite's INTEGER; the pallet allows u64)."""

Policy = Callable[["Channel", ChannelState, str], bool]
"""Decides whether we countersign a valid proposal: ``policy(channel, proposed, memo)``
returns True to accept. It runs after every protocol check has passed."""


def accept_not_worse(channel: Channel, proposed: ChannelState, memo: str) -> bool:
    """The default policy: accept any state that does not lower our balance (we are
    paid, or nothing moves)."""
    return proposed.balance_of(channel.me) >= channel.balance


def accept_all(channel: Channel, proposed: ChannelState, memo: str) -> bool:
    """Accept every valid state (tests, or a party that trusts its peer)."""
    return True


class Channel:
    """One channel as seen by one party (the holder of *keypair*).

    Build it from the store's :class:`ChannelRecord`. Methods raise
    :class:`ProtocolError` subclasses for bad peer messages and
    :class:`ChannelStateError` for local actions the phase does not allow; in both cases
    nothing changes.
    """

    def __init__(
        self, record: ChannelRecord, keypair: Keypair, *, policy: Policy = accept_not_worse
    ) -> None:
        if bytes(keypair.public_key) != record.info.key_of(record.me):
            raise ValueError("the keypair is not this channel's party " + record.me.value)
        self._info = record.info
        self._me = record.me
        self._keypair = keypair
        self._policy = policy
        self._phase = record.phase
        self._latest = record.latest
        self._pending = record.pending
        self._burned = record.burned
        self._update_id = record.update_id
        self._closing = record.closing
        self._failed: str | None = None

    # -- read-only view ---------------------------------------------------------------

    @property
    def info(self) -> ChannelParams:
        """The channel's fixed parameters."""
        return self._info

    @property
    def channel_id(self) -> bytes:
        """32 bytes."""
        return self._info.channel_id

    @property
    def me(self) -> Party:
        """Our side."""
        return self._me

    @property
    def peer(self) -> Party:
        """The other side."""
        return self._me.other

    @property
    def phase(self) -> Phase:
        """The life-cycle phase."""
        return self._phase

    @property
    def latest(self) -> SignedState:
        """The newest co-signed state (or the unsigned opening state)."""
        return self._latest

    @property
    def pending(self) -> PendingProposal | None:
        """Our outstanding proposal, if any."""
        return self._pending

    @property
    def burned(self) -> int:
        """Highest version refused by policy (0: none)."""
        return self._burned

    @property
    def update_id(self) -> int:
        """Id of the last update emitted."""
        return self._update_id

    @property
    def closing(self) -> ClosingAgreement | None:
        """The cooperative close we signed (with the peer's signature once known), or
        None. While set, the channel is frozen: no more updates."""
        return self._closing

    @property
    def frozen(self) -> bool:
        """Whether we signed a close: we sign and accept no update any more."""
        return self._closing is not None

    @property
    def failed(self) -> str | None:
        """Why the channel stopped taking proposals (a peer refused ours as invalid, or
        the store failed), or None. The channel can still be closed."""
        return self._failed

    @property
    def balance(self) -> int:
        """Our balance in the latest co-signed state, planck."""
        return self._latest.state.balance_of(self._me)

    @property
    def peer_balance(self) -> int:
        """The peer's balance in the latest co-signed state, planck."""
        return self._latest.state.balance_of(self.peer)

    @property
    def next_version(self) -> int:
        """The version the next proposal (ours or the peer's) must carry."""
        return max(self._latest.version, self._burned) + 1

    def record(self) -> ChannelRecord:
        """The current state as a :class:`ChannelRecord` (what the store should hold)."""
        return ChannelRecord(
            self._info,
            self._me,
            self._phase,
            self._latest,
            self._pending,
            self._burned,
            self._update_id,
            self._closing,
        )

    # -- helpers ----------------------------------------------------------------------

    def _next_update(
        self,
        kind: UpdateKind,
        *,
        signed: SignedState | None = None,
        memo: str = "",
        version: int | None = None,
        phase: Phase | None = None,
        closing: ClosingAgreement | None = None,
        earlier: tuple[SignedState, ...] = (),
    ) -> ChannelUpdate:
        self._update_id += 1
        return ChannelUpdate(
            self.channel_id,
            self._update_id,
            kind,
            signed,
            memo,
            version=version,
            phase=phase,
            closing=closing,
            earlier=earlier,
        )

    def _pending_first(self) -> int | None:
        """The first version of our outstanding proposal (of a batch: its first state)."""
        pending = self._pending
        if pending is None:
            return None
        return (pending.earlier[0] if pending.earlier else pending).state.version

    def _sign(self, state: ChannelState) -> bytes:
        return sign_state(self._keypair, self._info.genesis_hash, state)

    def _check_balances(self, state: ChannelState) -> None:
        if state.total != self._info.total:
            raise BalanceError(
                f"balances {state.balance_a} + {state.balance_b} do not add up to the "
                f"channel's {self._info.total} planck"
            )

    def fail(self, reason: str) -> None:
        """Stop taking and making proposals (the store failed, or the peer misbehaves)."""
        if self._failed is None:
            log.warning("channel 0x%s failed: %s", self.channel_id.hex(), reason)
            self._failed = reason

    # -- local actions ----------------------------------------------------------------

    def check_updatable(self) -> None:
        """Raise :class:`ChannelStateError` unless the channel takes updates: funded,
        not frozen by a cooperative close, not failed."""
        if self._phase is not Phase.FUNDED:
            raise ChannelStateError(f"channel is {self._phase}, updates need it funded")
        if self._closing is not None:
            raise ChannelStateError(
                f"channel is frozen: we signed a cooperative close of version "
                f"{self._closing.version}; it takes no more updates (close it)"
            )
        if self._failed is not None:
            raise ChannelStateError(f"channel failed: {self._failed}")

    def _ready_to_propose(self) -> None:
        self.check_updatable()
        if self._pending is not None:
            raise InDoubtError(
                f"version {self._pending.state.version} is still waiting for the peer"
            )

    def propose(
        self, balance_a: int, balance_b: int, memo: str = ""
    ) -> tuple[Propose, ChannelUpdate]:
        """Sign the state ``(next_version, balance_a, balance_b)`` as our proposal.

        Returns the ``propose`` message and the SIGNED update (persist it, then send).
        Raises :class:`ChannelStateError` (not funded, failed, or a proposal outstanding)
        and :class:`BalanceError`.
        """
        self._ready_to_propose()
        version = self.next_version
        if version > MAX_VERSION:
            raise VersionError("the channel has used every version; close it")
        state = ChannelState(self.channel_id, version, balance_a, balance_b)
        self._check_balances(state)
        signature = self._sign(state)
        self._pending = PendingProposal(state, signature, memo)
        signed = SignedState(state).with_signature(self._me, signature)
        update = self._next_update(UpdateKind.SIGNED, signed=signed, memo=memo)
        return self._propose_message(self._pending), update

    def pay(self, amount: int, memo: str = "") -> tuple[Propose, ChannelUpdate]:
        """Propose moving *amount* planck (> 0) from our balance to the peer's.

        Raises :class:`BalanceError` when *amount* is not positive or exceeds our
        balance, and what :meth:`propose` raises."""
        if type(amount) is not int or amount <= 0:
            raise BalanceError(f"a payment is a positive integer of planck, got {amount!r}")
        if amount > self.balance:
            raise BalanceError(f"paying {amount} planck overdraws our {self.balance} planck")
        mine, theirs = self.balance - amount, self.peer_balance + amount
        return self.propose(*((mine, theirs) if self._me is Party.A else (theirs, mine)), memo)

    def propose_many(
        self, balances: Sequence[tuple[int, int]], memo: str = ""
    ) -> tuple[Propose | ProposeBatch, ChannelUpdate]:
        """Sign the consecutive states ``(next_version + i, balance_a, balance_b)`` for
        each ``(balance_a, balance_b)`` of *balances* as one proposal (a batch, see the
        module docs); one pair is a plain :meth:`propose`.

        Returns the ``propose_batch`` message and the one SIGNED update holding every
        state (persist it, then send). Raises :class:`ChannelStateError` (party B, not
        funded, failed, a proposal outstanding), :class:`BalanceError` (a state does not
        add up; nothing is signed then) and :class:`ValueError` (no state, or more than
        :data:`~.messages.MAX_BATCH`)."""
        if not 1 <= len(balances) <= MAX_BATCH:
            raise ValueError(f"a batch has 1 to {MAX_BATCH} states, got {len(balances)}")
        if len(balances) == 1:
            return self.propose(*balances[0], memo)
        if self._me is not Party.A:
            raise ChannelStateError("only party A proposes batches; party B pays one by one")
        self._ready_to_propose()
        first = self.next_version
        if first + len(balances) - 1 > MAX_VERSION:
            raise VersionError("the channel has too few versions left; close it")
        states = [
            ChannelState(self.channel_id, first + i, balance_a, balance_b)
            for i, (balance_a, balance_b) in enumerate(balances)
        ]
        for state in states:
            self._check_balances(state)
        *earlier, last = [PendingProposal(state, self._sign(state)) for state in states]
        self._pending = PendingProposal(last.state, last.signature, memo, tuple(earlier))
        update = self._next_update(
            UpdateKind.SIGNED,
            signed=SignedState(last.state).with_signature(self._me, last.signature),
            memo=memo,
            earlier=tuple(
                SignedState(p.state).with_signature(self._me, p.signature) for p in earlier
            ),
        )
        return self._batch_message(self._pending), update

    def pay_many(
        self, amounts: Sequence[int], memo: str = ""
    ) -> tuple[Propose | ProposeBatch, ChannelUpdate]:
        """Propose paying each of *amounts* (planck, each > 0) to the peer, one state per
        payment, as one batch (:meth:`propose_many`; party A only, one payment is a
        plain :meth:`pay`).

        Raises :class:`BalanceError` when an amount is not positive or they overdraw
        our balance together, and what :meth:`propose_many` raises."""
        for amount in amounts:
            if type(amount) is not int or amount <= 0:
                raise BalanceError(f"a payment is a positive integer of planck, got {amount!r}")
        if sum(amounts) > self.balance:
            raise BalanceError(f"paying {sum(amounts)} planck overdraws our {self.balance} planck")
        mine, theirs = self.balance, self.peer_balance
        balances = []
        for amount in amounts:
            mine, theirs = mine - amount, theirs + amount
            balances.append((mine, theirs) if self._me is Party.A else (theirs, mine))
        return self.propose_many(balances, memo)

    def _propose_message(self, pending: PendingProposal) -> Propose:
        state = pending.state
        return Propose(
            channel_id=self.channel_id,
            genesis_hash=self._info.genesis_hash,
            version=state.version,
            balance_a=state.balance_a,
            balance_b=state.balance_b,
            signature=pending.signature,
            memo=pending.memo,
        )

    def _batch_message(self, pending: PendingProposal) -> ProposeBatch:
        proposals = [*pending.earlier, pending]
        return ProposeBatch(
            channel_id=self.channel_id,
            genesis_hash=self._info.genesis_hash,
            version=pending.state.version,
            balances=tuple((p.state.balance_a, p.state.balance_b) for p in proposals),
            signatures=tuple(p.signature for p in proposals),
            memo=pending.memo,
        )

    def retransmission(self) -> Propose | ProposeBatch | None:
        """Our outstanding proposal (or batch) again, to re-send after a reconnect, or
        None."""
        pending = self._pending
        if pending is None:
            return None
        return self._batch_message(pending) if pending.earlier else self._propose_message(pending)

    def set_phase(self, phase: Phase) -> ChannelUpdate | None:
        """Move to *phase*; the PHASE update, or None if already there."""
        if phase is self._phase:
            return None
        log.info("channel 0x%s: %s -> %s", self.channel_id.hex(), self._phase, phase)
        self._phase = phase
        return self._next_update(UpdateKind.PHASE, phase=phase)

    # -- peer messages ----------------------------------------------------------------

    def _check_channel(self, channel_id: bytes) -> None:
        if channel_id != self.channel_id:
            raise WrongChannelError(
                f"message for channel 0x{channel_id.hex()}, this is 0x{self.channel_id.hex()}"
            )

    def on_propose(self, message: Propose) -> tuple[Countersign | Reject, ChannelUpdate | None]:
        """Check the peer's proposal and answer it.

        Returns ``(countersign, COSIGNED update)`` for an accepted proposal,
        ``(reject, BURNED update)`` when the policy refuses it, and ``(countersign or
        reject, None)`` for a retransmission of an answered one. Raises
        :class:`WrongChannelError`, :class:`WrongChainError`, :class:`ReplayError`,
        :class:`VersionError`, :class:`BalanceError`, :class:`SignatureError`,
        :class:`ConflictError` or :class:`ProtocolError` (not funded); nothing changes
        then, and the caller answers with a ``reject`` of that code.
        """
        self._check_channel(message.channel_id)
        if message.genesis_hash != self._info.genesis_hash:
            raise WrongChainError(
                f"proposal for chain 0x{message.genesis_hash.hex()}, "
                f"this channel is on 0x{self._info.genesis_hash.hex()}"
            )
        version = message.version
        if version <= self._latest.version:
            latest = self._latest
            if (
                version == latest.version
                and latest.co_signed
                and message.state() == latest.state
                and message.signature == latest.signature_of(self.peer)
            ):
                mine = latest.signature_of(self._me)
                assert mine is not None
                return Countersign(self.channel_id, version, mine), None
            raise ReplayError(
                f"version {version} is not newer than the latest co-signed {latest.version}"
            )
        if version <= self._burned:
            if version == self._burned:
                return self._reject(version, PolicyRejected.code, "already refused"), None
            raise ReplayError(f"version {version} was already refused")
        if self._closing is not None:
            # Before the gap check: the proposer burns each version we refuse as
            # "closing" (we do not), so its next proposal skips one of ours; a "version"
            # refusal would fail its channel and block the close it must still answer.
            raise ClosingError(
                f"we signed a cooperative close of version {self._closing.version}: no more updates"
            )
        if version != self.next_version:
            raise VersionError(f"expected version {self.next_version}, got {version} (a gap)")
        if self._phase is not Phase.FUNDED:
            raise ProtocolError(f"channel is {self._phase}: it takes no updates")
        if self._failed is not None:
            raise ProtocolError(f"channel failed: {self._failed}")
        state = message.state()
        self._check_balances(state)
        if not verify_state(
            self._info.key_of(self.peer), self._info.genesis_hash, state, message.signature
        ):
            raise SignatureError(f"party {self.peer} signature of version {version} is bad")
        if self._pending is not None and self._pending_first() == version:
            if self._me is Party.A:
                raise ConflictError(f"we proposed version {version} too; ours goes first")
            log.info("channel 0x%s: A's proposal %d wins over ours", self.channel_id.hex(), version)
        if not self._policy(self, state, message.memo):
            self._burned = version
            if self._pending is not None and self._pending.state.version <= version:
                self._pending = None
            update = self._next_update(UpdateKind.BURNED, version=version)
            return self._reject(version, PolicyRejected.code, "refused by policy"), update
        signature = self._sign(state)
        cosigned = SignedState(state).with_signature(self.peer, message.signature)
        cosigned = cosigned.with_signature(self._me, signature)
        self._latest = cosigned
        if self._pending is not None and self._pending.state.version <= version:
            self._pending = None
        update = self._next_update(UpdateKind.COSIGNED, signed=cosigned)
        return Countersign(self.channel_id, version, signature), update

    def on_propose_batch(
        self, message: ProposeBatch
    ) -> tuple[CountersignBatch | Countersign | Reject, ChannelUpdate | None]:
        """Check party A's batch and answer it as a whole (see the module docs).

        Returns ``(countersign_batch, COSIGNED update of every state)`` when accepted,
        ``(reject, BURNED update)`` when the policy refuses the last state, and
        ``(countersign or reject, None)`` for a re-sent batch answered already. Raises
        what :meth:`on_propose` raises, for the first state that fails a check, and
        :class:`ProtocolError` when we are party A; nothing changes then, and the
        caller answers with a ``reject`` of the batch's last version.
        """
        self._check_channel(message.channel_id)
        if message.genesis_hash != self._info.genesis_hash:
            raise WrongChainError(
                f"batch for chain 0x{message.genesis_hash.hex()}, "
                f"this channel is on 0x{self._info.genesis_hash.hex()}"
            )
        if self._me is Party.A:
            raise ProtocolError("only party A proposes batches")
        version, first = message.version, message.first_version
        latest = self._latest
        if version <= latest.version:
            if (
                version == latest.version
                and latest.co_signed
                and message.balances[-1] == (latest.state.balance_a, latest.state.balance_b)
                and message.signatures[-1] == latest.signature_of(self.peer)
            ):
                mine = latest.signature_of(self._me)
                assert mine is not None
                return Countersign(self.channel_id, version, mine), None
            raise ReplayError(
                f"batch up to {version} is not newer than the latest co-signed {latest.version}"
            )
        if version <= self._burned:
            if version == self._burned:
                return self._reject(version, PolicyRejected.code, "already refused"), None
            raise ReplayError(f"version {version} was already refused")
        if self._closing is not None:
            raise ClosingError(
                f"we signed a cooperative close of version {self._closing.version}: no more updates"
            )
        if first != self.next_version:
            raise VersionError(f"expected version {self.next_version}, got {first} (a gap)")
        if self._phase is not Phase.FUNDED:
            raise ProtocolError(f"channel is {self._phase}: it takes no updates")
        if self._failed is not None:
            raise ProtocolError(f"channel failed: {self._failed}")
        states = message.states()
        peer_key = self._info.key_of(self.peer)
        for state, signature in zip(states, message.signatures, strict=True):
            self._check_balances(state)
            if not verify_state(peer_key, self._info.genesis_hash, state, signature):
                raise SignatureError(
                    f"party {self.peer} signature of version {state.version} is bad"
                )
        if self._pending is not None and self._pending_first() == first:
            log.info(
                "channel 0x%s: A's batch wins over our proposal %d", self.channel_id.hex(), first
            )
        if not self._policy(self, states[-1], message.memo):
            self._burned = version
            if self._pending is not None and self._pending.state.version <= version:
                self._pending = None
            update = self._next_update(UpdateKind.BURNED, version=version)
            return self._reject(version, PolicyRejected.code, "refused by policy"), update
        signatures = tuple(self._sign(state) for state in states)
        cosigned = [
            SignedState(state).with_signature(self.peer, theirs).with_signature(self._me, mine)
            for state, theirs, mine in zip(states, message.signatures, signatures, strict=True)
        ]
        self._latest = cosigned[-1]
        if self._pending is not None and self._pending.state.version <= version:
            self._pending = None
        update = self._next_update(
            UpdateKind.COSIGNED, signed=cosigned[-1], earlier=tuple(cosigned[:-1])
        )
        return CountersignBatch(self.channel_id, version, signatures), update

    def _reject(self, version: int, code: str, reason: str) -> Reject:
        return Reject(self.channel_id, version, code, reason)

    def reject_for(self, error: ProtocolError, version: int) -> Reject:
        """The ``reject`` answering a proposal of *version* refused with *error*."""
        return self._reject(version, error.code, str(error))

    def on_countersign(self, message: Countersign) -> ChannelUpdate:
        """Take the peer's countersignature of our outstanding proposal; returns the
        COSIGNED update. Raises :class:`WrongChannelError`, :class:`ReplayError` (no
        proposal of that version is outstanding) or :class:`SignatureError`."""
        self._check_channel(message.channel_id)
        pending = self._pending
        if pending is None or pending.state.version != message.version:
            raise ReplayError(f"no proposal of version {message.version} is outstanding")
        if not verify_state(
            self._info.key_of(self.peer), self._info.genesis_hash, pending.state, message.signature
        ):
            raise SignatureError(f"party {self.peer} countersignature of {message.version} is bad")
        cosigned = SignedState(pending.state).with_signature(self._me, pending.signature)
        cosigned = cosigned.with_signature(self.peer, message.signature)
        self._latest = cosigned
        self._pending = None
        return self._next_update(UpdateKind.COSIGNED, signed=cosigned)

    def on_countersign_batch(self, message: CountersignBatch) -> ChannelUpdate:
        """Take the peer's countersignatures of our outstanding batch; returns the one
        COSIGNED update of every state. Raises :class:`WrongChannelError`,
        :class:`ReplayError` (no batch ending at that version is outstanding, or the
        signatures do not match its states one to one) or :class:`SignatureError`."""
        self._check_channel(message.channel_id)
        pending = self._pending
        if (
            pending is None
            or not pending.earlier
            or pending.state.version != message.version
            or len(message.signatures) != len(pending.earlier) + 1
        ):
            raise ReplayError(f"no batch ending at version {message.version} is outstanding")
        proposals = [*pending.earlier, pending]
        peer_key = self._info.key_of(self.peer)
        for proposal, signature in zip(proposals, message.signatures, strict=True):
            if not verify_state(peer_key, self._info.genesis_hash, proposal.state, signature):
                raise SignatureError(
                    f"party {self.peer} countersignature of {proposal.state.version} is bad"
                )
        cosigned = [
            SignedState(p.state)
            .with_signature(self._me, p.signature)
            .with_signature(self.peer, theirs)
            for p, theirs in zip(proposals, message.signatures, strict=True)
        ]
        self._latest = cosigned[-1]
        self._pending = None
        return self._next_update(
            UpdateKind.COSIGNED, signed=cosigned[-1], earlier=tuple(cosigned[:-1])
        )

    def on_reject(self, message: Reject) -> tuple[ChannelUpdate | None, ProposalRejected]:
        """Take the peer's refusal of our proposal. Returns the BURNED update (a policy
        refusal) or None, and the :class:`ProposalRejected` to report. A refusal as
        invalid fails the channel (our proposal stays outstanding: the peer may still
        hold it). A ``closing`` refusal is dropped like a policy one. A refusal of our
        close request returns ``(None, CloseRefused)`` and keeps us frozen. Raises
        :class:`WrongChannelError` and :class:`ReplayError`."""
        self._check_channel(message.channel_id)
        pending = self._pending
        closing = self._closing
        if (
            pending is None
            and closing is not None
            and not closing.complete
            and closing.version == message.version
        ):
            # Our close request was refused; we stay frozen (the peer may hold our
            # close signature).
            return None, CloseRefused(message.code, message.reason, message.version)
        if pending is None or pending.state.version != message.version:
            raise ReplayError(f"no proposal of version {message.version} is outstanding")
        error = ProposalRejected(message.code, message.reason, message.version)
        if message.code in (PolicyRejected.code, ClosingError.code):
            # The peer refuses to ever sign it (its policy, or its close freeze).
            self._burned = max(self._burned, message.version)
            self._pending = None
            return self._next_update(UpdateKind.BURNED, version=message.version), error
        if message.code != ConflictError.code:
            self.fail(f"peer refused version {message.version}: {message.code}: {message.reason}")
        return None, error

    # -- cooperative close ------------------------------------------------------------

    def _close_message(self, closing: ClosingAgreement) -> CloseRequest:
        state, signature = closing.state, closing.signature_of(self._me)
        assert signature is not None
        return CloseRequest(
            self.channel_id, state.version, state.balance_a, state.balance_b, signature
        )

    def request_close(self) -> tuple[CloseRequest, ChannelUpdate | None]:
        """Sign a close of our latest co-signed state (the deposits, version 0, before
        any update) and freeze the channel.

        Returns the ``close_request`` and the CLOSING update (persist it, then send);
        the update is None when we already asked (the stored request again). Raises
        :class:`ChannelStateError` (not funded, the close is already agreed) and
        :class:`InDoubtError` (our proposal is outstanding).
        """
        closing = self._closing
        if closing is not None:
            if closing.complete:
                raise ChannelStateError(
                    f"the close of version {closing.version} is agreed already; submit it"
                )
            return self._close_message(closing), None
        if self._phase is not Phase.FUNDED:
            raise ChannelStateError(
                f"channel is {self._phase}, a cooperative close needs it funded"
            )
        if self._pending is not None:
            raise InDoubtError(
                f"version {self._pending.state.version} awaits the peer's answer; resolve() it "
                "before closing"
            )
        state = self._latest.state
        signature = sign_close(self._keypair, self._info.genesis_hash, state)
        self._closing = ClosingAgreement(state).with_signature(self._me, signature)
        log.info(
            "channel 0x%s: frozen to close at version %d", self.channel_id.hex(), state.version
        )
        update = self._next_update(UpdateKind.CLOSING, closing=self._closing)
        return self._close_message(self._closing), update

    def _check_close_signature(self, state: ChannelState, signature: bytes) -> None:
        if not verify_close(
            self._info.key_of(self.peer), self._info.genesis_hash, state, signature
        ):
            raise SignatureError(
                f"party {self.peer} close signature of version {state.version} is bad"
            )

    def on_close_request(self, message: CloseRequest) -> tuple[CloseAccept, ChannelUpdate | None]:
        """Check the peer's close request and sign the close.

        Returns the ``close_accept`` and the CLOSING update (persist it, then send), or
        ``(close_accept, None)`` for a repeated request of the agreed state. Raises
        :class:`WrongChannelError`, :class:`ReplayError` / :class:`VersionError` (not
        our latest version), :class:`BalanceError` (not our latest balances),
        :class:`PendingError` (our proposal is outstanding), :class:`SignatureError`
        (not a close signature of the state by the peer), :class:`ClosingError` (we
        agreed to close another state) or :class:`ProtocolError` (not funded); nothing
        changes then.
        """
        self._check_channel(message.channel_id)
        state = message.state()
        closing = self._closing
        if closing is not None:
            if state != closing.state:
                raise ClosingError(
                    f"we agreed to close at version {closing.version}, not {state.version}"
                )
            self._check_close_signature(state, message.signature)
            mine = closing.signature_of(self._me)
            assert mine is not None
            accept = CloseAccept(self.channel_id, state.version, mine)
            if closing.signature_of(self.peer) == message.signature:
                return accept, None
            # We asked too (or the peer signed again): complete our agreement.
            self._closing = closing.with_signature(self.peer, message.signature)
            return accept, self._next_update(UpdateKind.CLOSING, closing=self._closing)
        if self._phase is not Phase.FUNDED:
            raise ProtocolError(f"channel is {self._phase}: no cooperative close")
        if self._pending is not None:
            raise PendingError(
                f"our proposal of version {self._pending.state.version} is outstanding"
            )
        latest = self._latest.state
        if state.version < latest.version:
            raise ReplayError(f"version {state.version} is older than our latest {latest.version}")
        if state.version > latest.version:
            raise VersionError(f"version {state.version} is newer than our latest {latest.version}")
        if state != latest:
            raise BalanceError(
                f"balances {state.balance_a} + {state.balance_b} are not those of our version "
                f"{latest.version} ({latest.balance_a} + {latest.balance_b})"
            )
        self._check_close_signature(state, message.signature)
        signature = sign_close(self._keypair, self._info.genesis_hash, state)
        agreement = ClosingAgreement(state).with_signature(self.peer, message.signature)
        self._closing = agreement.with_signature(self._me, signature)
        log.info(
            "channel 0x%s: frozen to close at version %d", self.channel_id.hex(), state.version
        )
        update = self._next_update(UpdateKind.CLOSING, closing=self._closing)
        return CloseAccept(self.channel_id, state.version, signature), update

    def on_close_accept(self, message: CloseAccept) -> ChannelUpdate | None:
        """Take the peer's close signature of our request; returns the CLOSING update
        with both signatures (None for a repeated accept). Raises
        :class:`WrongChannelError`, :class:`ReplayError` (no request of that version)
        and :class:`SignatureError`."""
        self._check_channel(message.channel_id)
        closing = self._closing
        if closing is None or closing.version != message.version:
            raise ReplayError(f"we asked for no close of version {message.version}")
        self._check_close_signature(closing.state, message.signature)
        if closing.signature_of(self.peer) == message.signature:
            return None
        self._closing = closing.with_signature(self.peer, message.signature)
        return self._next_update(UpdateKind.CLOSING, closing=self._closing)
