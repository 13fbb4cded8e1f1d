"""The channel state machine of one party: pure, no I/O.

:class:`Channel` turns local intents (:meth:`~Channel.propose`, :meth:`~Channel.pay`)
and peer messages (:meth:`~Channel.on_propose`, :meth:`~Channel.on_countersign`,
:meth:`~Channel.on_reject`) into wire messages and numbered :class:`ChannelUpdate`\\ s.
The caller (:class:`ccnet.channels.party.ChannelParty`) must persist each update before
it sends the message that goes with it (rust-lightning's ``ChannelMonitor`` rule: never
hand out a signature the store could lose).

Dispute rule (pallet-channels, as in Perun and Raiden): a unilateral close registers a
co-signed state, and until the challenge period ends anyone may replace it with a
co-signed state of a *higher version*; the newest registered state is paid out, with no
penalty. So a party is safe as long as no state it did not want exists with a version
above its own latest co-signed state. The protocol below keeps that true.

Proposer-only channels. Only party A (the opener, who pays) proposes; B countersigns
or refuses. A proposal from B is refused (:class:`ProposerError`) and B's own
:meth:`~Channel.propose` raises :class:`ChannelStateError`. Proposals never cross, so
one version never has two co-signed states.

Update protocol (versions as in pallet-channels):

1. A signs state ``n`` (version ``next_version``), persists it as the outstanding
   proposal (SIGNED), sends ``propose``.
2. B admits it through one path for single proposals and batches
   (:meth:`Channel.on_propose`, :meth:`Channel.on_propose_batch`):

   1. it names our channel, 2. and our chain; 3. it comes from A;
   4. a version at or below our latest co-signed one is a retransmission of the latest
      (answered again, no store change) or a replay; 5. the version a cancel superseded
      is answered again with the cancel, older ones are replays; 6. the first version is
      exactly ``next_version`` (no gap); 7. the channel is funded and not failed;
   8. every state adds up to the deposits and carries A's valid signature;
   9. we are not frozen by a cooperative close, and our policy accepts every state.

   Accepted: B signs, persists the co-signed state (COSIGNED) and sends
   ``countersign``. Refused at steps 1-8: ``reject`` with the error's code and nothing
   stored. Refused at step 9 (``closing`` or ``policy``): B keeps A's signature of a
   state it will never countersign, so it *cancels* it: B signs the **cancel state**,
   version ``refused + 1`` with B's latest co-signed balances, persists that it never
   countersigns that version or an older one (CANCELLED), and sends ``reject`` with
   the cancel signature.
3. A takes ``countersign`` (COSIGNED). A ``reject`` with a valid cancel signature: A
   signs the cancel state too and stores it, co-signed, as its latest (one COSIGNED
   update, one durable commit). On chain it supersedes the refused state: if B ever
   registers the proposal it refused (adding its own signature), the cancel is newer and
   pays the balances of before. A ``reject`` without a valid cancel (or for any other
   reason) leaves the proposal outstanding and fails the channel.

A ``propose`` identical to the latest co-signed state is a retransmission (after a
crash or a lost answer) and is answered with the same ``countersign``.

What each side can lose. B's closable state is its latest co-signed one; nothing newer
exists that B did not sign, so B is paid its latest co-signed balance. A's closable
state is its latest co-signed one too; while a proposal is outstanding, B may hold it
co-signed and register it, so A may end with its balance in that proposal (of a batch:
the last, lowest one), never lower. A can close unilaterally at any time (no in-doubt
refusal): its latest co-signed state either stands or is replaced by the proposal it
signed.

Batches (:meth:`Channel.pay_many`, :meth:`Channel.propose_many`): A may propose 2 to
:data:`~.messages.MAX_BATCH` consecutive states in one ``propose_batch``. It is one
proposal: one SIGNED update holds every state, B admits them through the same nine
steps (its policy judges every state: each one is co-signed, so A could register
any of them) and either co-signs them all (one COSIGNED update, one commit, then
``countersign_batch``) or refuses the batch with one ``reject`` of its last version and
one cancel of it. A re-sent batch that is co-signed already is answered with the
``countersign`` of its last state. Update, sign and commit costs are per state; the
round trip and the commits are per batch.

Cooperative close (``cooperative_close`` takes only *close* signatures, see
:mod:`.state`; it pays out at once):

1. The requester, with nothing outstanding, signs a close of its latest co-signed state
   (the unsigned opening state before any update: the deposits, version 0), persists
   that freeze (CLOSING) and sends ``close_request`` (:meth:`Channel.request_close`).
2. The responder, with nothing outstanding, accepts a close of its own latest co-signed
   *balances* at a version it knows (at most ``next_version - 1``: after a cancel, A's
   latest is the cancel and B's the state before it, with the same balances):
   ``version``/``replay``, ``balance``, ``pending`` otherwise, and ``signature`` unless
   the close signature verifies under the close domain. It signs the close, persists
   the freeze with both signatures (CLOSING) and sends ``close_accept``.
3. The requester checks the signature and persists both (:meth:`Channel.on_close_accept`);
   either side can now submit ``cooperative_close``.

From its freeze on, a party countersigns no update: its own proposals raise
:class:`ChannelStateError`, the peer's are refused with ``closing`` and cancelled as
above. A frozen B may sign such a cancel: its balances are those of the agreed close,
so no money moves. A frozen party keeps the balances it agreed to; only the version of
its agreement may move *up*, to a close of the same balances the peer signed (both sides
asking at once after a cancel, at two versions): both then end with the agreement of
the higher version. A refused close request leaves the requester frozen: the peer may
hold its close signature. Repeated requests and accepts of the agreed state are answered
again, without a store change.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from substrateinterface import Keypair

from .exceptions import (
    BalanceError,
    ChannelStateError,
    CloseRefusedError,
    ClosingError,
    InDoubtError,
    PendingError,
    PolicyRejectedError,
    ProposalRejectedError,
    ProposerError,
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
"""Highest version a channel uses (SQLite's INTEGER; the pallet allows u64). A proposal
ends at ``MAX_VERSION - 1`` at most, so that it can still be cancelled."""

Policy = Callable[["Channel", ChannelState, str], bool]
"""Decides whether we countersign a valid proposal: ``policy(channel, proposed, memo)``
returns True to accept. It runs after every protocol check has passed."""

_CANCEL_CODES = (PolicyRejectedError.code, ClosingError.code)
"""Refusals of a valid proposal: they carry the refuser's cancel signature."""


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
    :class:`ChannelStateError` for local actions the phase or our role does not allow;
    in both cases nothing changes.
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
        self._cancelled = record.cancelled
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
        """Our outstanding proposal, if any (party A only)."""
        return self._pending

    @property
    def cancelled(self) -> int:
        """Party B: the version of the last cancel state we signed; we never
        countersign it or an older version (0: none). Party A: always 0 (A stores the
        co-signed cancel as its latest state)."""
        return self._cancelled

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
        """Whether we signed a close: we countersign no update any more."""
        return self._closing is not None

    @property
    def failed(self) -> str | None:
        """Why the channel stopped taking proposals (a peer refused ours without a
        cancel, or the store failed), or None. The channel can still be closed."""
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
        """The version the next proposal must carry."""
        return max(self._latest.version, self._cancelled) + 1

    def record(self) -> ChannelRecord:
        """The current state as a :class:`ChannelRecord` (what the store should hold)."""
        return ChannelRecord(
            self._info,
            self._me,
            self._phase,
            self._latest,
            self._pending,
            self._cancelled,
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

    def _sign(self, state: ChannelState) -> bytes:
        return sign_state(self._keypair, self._info.genesis_hash, state)

    def _check_balances(self, state: ChannelState) -> None:
        if state.total != self._info.total:
            raise BalanceError(
                f"balances {state.balance_a} + {state.balance_b} do not add up to the "
                f"channel's {self._info.total} planck"
            )

    def cancel_state(self, refused: int) -> ChannelState:
        """The state that cancels a refused proposal ending at version *refused*:
        version ``refused + 1`` with our latest co-signed balances."""
        latest = self._latest.state
        return ChannelState(self.channel_id, refused + 1, latest.balance_a, latest.balance_b)

    def fail(self, reason: str) -> None:
        """Stop taking and making proposals (the store failed, or the peer misbehaves)."""
        if self._failed is None:
            log.warning("channel 0x%s failed: %s", self.channel_id.hex(), reason)
            self._failed = reason

    # -- local actions ----------------------------------------------------------------

    def check_updatable(self) -> None:
        """Raise :class:`ChannelStateError` unless we may propose: party A, funded, not
        frozen by a cooperative close, not failed."""
        if self._me is not Party.A:
            raise ChannelStateError(
                "only party A (the opener, who pays) proposes updates; party B countersigns"
            )
        if self._phase is not Phase.FUNDED:
            raise ChannelStateError(f"channel is {self._phase}, updates need it funded")
        if self._closing is not None:
            raise ChannelStateError(
                f"channel is frozen: we signed a cooperative close of version "
                f"{self._closing.version}; it takes no more updates (close it)"
            )
        if self._failed is not None:
            raise ChannelStateError(f"channel failed: {self._failed}")

    def _ready_to_propose(self, count: int) -> int:
        """The first version of a proposal of *count* states, after the local checks."""
        self.check_updatable()
        if self._pending is not None:
            raise InDoubtError(
                f"version {self._pending.state.version} is still waiting for the peer"
            )
        first = self.next_version
        if first + count - 1 > MAX_VERSION - 1:  # keep one version for a cancel
            raise VersionError("the channel has too few versions left; close it")
        return first

    def propose(
        self, balance_a: int, balance_b: int, memo: str = ""
    ) -> tuple[Propose, ChannelUpdate]:
        """Sign the state ``(next_version, balance_a, balance_b)`` as our proposal.

        Returns the ``propose`` message and the SIGNED update (persist it, then send).
        Raises :class:`ChannelStateError` (party B, not funded, frozen, failed, or a
        proposal outstanding: :class:`InDoubtError`) and :class:`BalanceError`.
        """
        message, update = self._propose_states([(balance_a, balance_b)], memo)
        assert isinstance(message, Propose)
        return message, update

    def pay(self, amount: int, memo: str = "") -> tuple[Propose, ChannelUpdate]:
        """Propose moving *amount* planck (> 0) from our balance to the peer's.

        Raises :class:`BalanceError` when *amount* is not positive or exceeds our
        balance, and what :meth:`propose` raises."""
        message, update = self.pay_many([amount], memo)
        assert isinstance(message, Propose)
        return message, update

    def propose_many(
        self, balances: Sequence[tuple[int, int]], memo: str = ""
    ) -> tuple[Propose | ProposeBatch, ChannelUpdate]:
        """Sign the consecutive states ``(next_version + i, balance_a, balance_b)`` for
        each ``(balance_a, balance_b)`` of *balances* as one proposal (a batch, see the
        module docs); one pair is a plain :meth:`propose`.

        Returns the ``propose_batch`` message and the one SIGNED update holding every
        state (persist it, then send). Raises what :meth:`propose` raises
        (:class:`BalanceError` when a state does not add up; nothing is signed then) and
        :class:`ValueError` (no state, or more than :data:`~.messages.MAX_BATCH`)."""
        if not 1 <= len(balances) <= MAX_BATCH:
            raise ValueError(f"a batch has 1 to {MAX_BATCH} states, got {len(balances)}")
        return self._propose_states(balances, memo)

    def _propose_states(
        self, balances: Sequence[tuple[int, int]], memo: str
    ) -> tuple[Propose | ProposeBatch, ChannelUpdate]:
        first = self._ready_to_propose(len(balances))
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
        message = self.retransmission()
        assert message is not None
        return message, update

    def pay_many(
        self, amounts: Sequence[int], memo: str = ""
    ) -> tuple[Propose | ProposeBatch, ChannelUpdate]:
        """Propose paying each of *amounts* (planck, each > 0) to the peer, one state per
        payment, as one proposal (:meth:`propose_many`; one payment is a plain
        :meth:`pay`).

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

    def retransmission(self) -> Propose | ProposeBatch | None:
        """Our outstanding proposal (or batch) again, to re-send after a reconnect, or
        None."""
        pending = self._pending
        if pending is None:
            return None
        genesis = self._info.genesis_hash
        if not pending.earlier:
            state = pending.state
            return Propose(
                self.channel_id,
                genesis,
                state.version,
                state.balance_a,
                state.balance_b,
                pending.signature,
                pending.memo,
            )
        proposals = [*pending.earlier, pending]
        return ProposeBatch(
            channel_id=self.channel_id,
            genesis_hash=genesis,
            version=pending.state.version,
            balances=tuple((p.state.balance_a, p.state.balance_b) for p in proposals),
            signatures=tuple(p.signature for p in proposals),
            memo=pending.memo,
        )

    def set_phase(self, phase: Phase) -> ChannelUpdate | None:
        """Move to *phase*; the PHASE update, or None if already there."""
        if phase is self._phase:
            return None
        log.info("channel 0x%s: %s -> %s", self.channel_id.hex(), self._phase, phase)
        self._phase = phase
        return self._next_update(UpdateKind.PHASE, phase=phase)

    # -- peer proposals (party B) -----------------------------------------------------

    def _check_channel(self, channel_id: bytes) -> None:
        if channel_id != self.channel_id:
            raise WrongChannelError(
                f"message for channel 0x{channel_id.hex()}, this is 0x{self.channel_id.hex()}"
            )

    def on_propose(self, message: Propose) -> tuple[Countersign | Reject, ChannelUpdate | None]:
        """Admit A's proposal (the nine steps of the module docs) and answer it.

        Returns ``(countersign, COSIGNED update)`` for an accepted proposal,
        ``(reject with a cancel signature, CANCELLED update)`` when we are frozen or our
        policy refuses it, and ``(countersign or reject, None)`` for a retransmission of
        an answered one. Raises :class:`WrongChannelError`, :class:`WrongChainError`,
        :class:`ProposerError`, :class:`ReplayError`, :class:`VersionError`,
        :class:`BalanceError`, :class:`SignatureError` or :class:`ProtocolError` (not
        funded, failed); nothing changes then, and the caller answers with a ``reject``
        of that code.
        """
        reply, update = self._admit(
            message.channel_id,
            message.genesis_hash,
            message.version,
            ((message.balance_a, message.balance_b),),
            (message.signature,),
            message.memo,
        )
        assert not isinstance(reply, CountersignBatch)
        return reply, update

    def on_propose_batch(
        self, message: ProposeBatch
    ) -> tuple[CountersignBatch | Countersign | Reject, ChannelUpdate | None]:
        """Admit A's batch as a whole, as :meth:`on_propose` admits one state.

        Returns ``(countersign_batch, COSIGNED update of every state)`` when accepted,
        ``(reject with a cancel signature, CANCELLED update)`` when refused at step 9,
        and ``(countersign or reject, None)`` for a re-sent batch answered already.
        Raises what :meth:`on_propose` raises, for the first state that fails a check;
        the caller answers with a ``reject`` of the batch's last version.
        """
        return self._admit(
            message.channel_id,
            message.genesis_hash,
            message.version,
            message.balances,
            message.signatures,
            message.memo,
        )

    def _admit(
        self,
        channel_id: bytes,
        genesis_hash: bytes,
        version: int,
        balances: Sequence[tuple[int, int]],
        signatures: Sequence[bytes],
        memo: str,
    ) -> tuple[Countersign | CountersignBatch | Reject, ChannelUpdate | None]:
        """The one admission path of proposals: *balances* and *signatures* of the
        consecutive states ending at *version* (one for a single proposal)."""
        self._check_channel(channel_id)  # 1
        if genesis_hash != self._info.genesis_hash:  # 2
            raise WrongChainError(
                f"proposal for chain 0x{genesis_hash.hex()}, "
                f"this channel is on 0x{self._info.genesis_hash.hex()}"
            )
        if self._me is not Party.B:  # 3
            raise ProposerError("only party A proposes; this channel's A is us")
        latest = self._latest
        if version <= latest.version:  # 4
            if (
                version == latest.version
                and latest.co_signed
                and tuple(balances[-1]) == (latest.state.balance_a, latest.state.balance_b)
                and signatures[-1] == latest.signature_of(self.peer)
            ):
                ours = latest.signature_of(self._me)
                assert ours is not None
                return Countersign(self.channel_id, version, ours), None
            raise ReplayError(
                f"version {version} is not newer than the latest co-signed {latest.version}"
            )
        if version <= self._cancelled:  # 5
            if version == self._cancelled - 1:  # the refused one again: the same answer
                code = ClosingError.code if self._closing is not None else PolicyRejectedError.code
                return self._cancel_reply(version, code, "already refused and cancelled"), None
            raise ReplayError(f"version {version} was superseded by our cancel {self._cancelled}")
        first = version - len(balances) + 1
        if first != self.next_version:  # 6
            raise VersionError(f"expected version {self.next_version}, got {first} (a gap)")
        if version >= MAX_VERSION:
            raise VersionError(f"version {version} leaves no version for a cancel")
        if self._phase is not Phase.FUNDED:  # 7
            raise ProtocolError(f"channel is {self._phase}: it takes no updates")
        if self._failed is not None:
            raise ProtocolError(f"channel failed: {self._failed}")
        states = [  # 8 (out-of-range balances raise BalanceError here)
            ChannelState(self.channel_id, first + i, balance_a, balance_b)
            for i, (balance_a, balance_b) in enumerate(balances)
        ]
        peer_key = self._info.key_of(self.peer)
        for state, signature in zip(states, signatures, strict=True):
            self._check_balances(state)
            if not verify_state(peer_key, self._info.genesis_hash, state, signature):
                raise SignatureError(
                    f"party {self.peer} signature of version {state.version} is bad"
                )
        if self._closing is not None:  # 9
            reason = f"we signed a cooperative close of version {self._closing.version}"
            return self._cancel(version, ClosingError.code, reason)
        # Every state of a batch: each one is co-signed and closable on its own, so one
        # that gives us less than the policy allows would be registrable by the payer.
        if not all(self._policy(self, state, memo) for state in states):
            return self._cancel(version, PolicyRejectedError.code, "refused by policy")
        mine = [self._sign(state) for state in states]
        cosigned = [
            SignedState(state).with_signature(self.peer, theirs).with_signature(self._me, own)
            for state, theirs, own in zip(states, signatures, mine, strict=True)
        ]
        self._latest = cosigned[-1]
        update = self._next_update(
            UpdateKind.COSIGNED, signed=cosigned[-1], earlier=tuple(cosigned[:-1])
        )
        if len(states) == 1:
            return Countersign(self.channel_id, version, mine[0]), update
        return CountersignBatch(self.channel_id, version, tuple(mine)), update

    def _cancel_reply(self, refused: int, code: str, reason: str) -> Reject:
        signature = self._sign(self.cancel_state(refused))
        return Reject(self.channel_id, refused, code, reason, signature)

    def _cancel(self, refused: int, code: str, reason: str) -> tuple[Reject, ChannelUpdate]:
        """Refuse a valid proposal ending at *refused*: sign its cancel state and never
        countersign that version (or an older one) again."""
        self._cancelled = refused + 1
        log.info(
            "channel 0x%s: refused version %d (%s), cancelled by %d",
            self.channel_id.hex(),
            refused,
            code,
            self._cancelled,
        )
        update = self._next_update(UpdateKind.CANCELLED, version=self._cancelled)
        return self._cancel_reply(refused, code, reason), update

    def reject_for(self, error: ProtocolError, version: int) -> Reject:
        """The ``reject`` answering a message of *version* refused with *error* (no
        cancel signature: nothing valid was refused)."""
        return Reject(self.channel_id, version, error.code, str(error))

    # -- answers to our proposals (party A) -------------------------------------------

    def on_countersign(self, message: Countersign) -> ChannelUpdate:
        """Take the peer's countersignature of our outstanding proposal (of a batch: of
        its last state); returns the COSIGNED update. Raises :class:`WrongChannelError`,
        :class:`ReplayError` (no proposal of that version is outstanding) or
        :class:`SignatureError`."""
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

    def on_reject(
        self, message: Reject
    ) -> tuple[ChannelUpdate | None, ProposalRejectedError | None]:
        """Take the peer's refusal of our proposal or close request.

        A ``policy`` or ``closing`` refusal with a valid cancel signature: we sign the
        cancel state too and it becomes our latest co-signed state; returns that
        COSIGNED update and the :class:`ProposalRejectedError` to report. Any other
        refusal (or one without a valid cancel) fails the channel and leaves the
        proposal outstanding: ``(None, error)``. A refusal of our close request returns
        ``(None, CloseRefusedError)`` and keeps us frozen. A refusal of a version we
        moved past already (a duplicate) returns ``(None, None)``. Raises
        :class:`WrongChannelError` and :class:`ReplayError` (nothing of that version
        was asked).
        """
        self._check_channel(message.channel_id)
        pending = self._pending
        closing = self._closing
        if pending is None and closing is not None and message.version <= closing.version:
            # Our close request was refused; we stay frozen (the peer may hold our
            # close signature). A late refusal of an older request changes nothing.
            return None, CloseRefusedError(message.code, message.reason, message.version)
        if pending is None or pending.state.version != message.version:
            if message.version < self.next_version and pending is None:
                return None, None  # answered already (a duplicate of a handled reject)
            raise ReplayError(f"no proposal of version {message.version} is outstanding")
        if message.code not in _CANCEL_CODES:
            self.fail(f"peer refused version {message.version}: {message.code}: {message.reason}")
            return None, ProposalRejectedError(message.code, message.reason, message.version)
        cancel = self.cancel_state(message.version)
        theirs = message.cancel_signature
        if (
            theirs is None
            or cancel.version > MAX_VERSION
            or not verify_state(
                self._info.key_of(self.peer), self._info.genesis_hash, cancel, theirs
            )
        ):
            self.fail(
                f"peer refused version {message.version} ({message.code}) without a valid "
                "cancel signature: the proposal stays outstanding"
            )
            return None, ProposalRejectedError(message.code, message.reason, message.version)
        cancelled = SignedState(cancel).with_signature(self._me, self._sign(cancel))
        self._latest = cancelled.with_signature(self.peer, theirs)
        self._pending = None
        log.info(
            "channel 0x%s: version %d refused (%s), cancelled by %d",
            self.channel_id.hex(),
            message.version,
            message.code,
            cancel.version,
        )
        error = ProposalRejectedError(
            message.code, message.reason, message.version, cancel_version=cancel.version
        )
        return self._next_update(UpdateKind.COSIGNED, signed=self._latest), error

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

    def _agree(self, state: ChannelState, theirs: bytes) -> tuple[bytes, ChannelUpdate]:
        """Sign a close of *state* and store it with the peer's signature *theirs* as
        our (complete) agreement."""
        mine = sign_close(self._keypair, self._info.genesis_hash, state)
        agreement = ClosingAgreement(state).with_signature(self.peer, theirs)
        self._closing = agreement.with_signature(self._me, mine)
        log.info("channel 0x%s: close agreed at version %d", self.channel_id.hex(), state.version)
        return mine, self._next_update(UpdateKind.CLOSING, closing=self._closing)

    def on_close_request(self, message: CloseRequest) -> tuple[CloseAccept, ChannelUpdate | None]:
        """Check the peer's close request and sign the close.

        Returns the ``close_accept`` and the CLOSING update (persist it, then send), or
        ``(close_accept, None)`` for a repeated request of the agreed state or for one
        older than our own agreement (we answer with ours; the peer moves up to it).
        Raises :class:`WrongChannelError`, :class:`ReplayError` / :class:`VersionError`
        (a version we do not know), :class:`BalanceError` (not our latest balances),
        :class:`PendingError` (our proposal is outstanding), :class:`SignatureError`
        (not a close signature of the state by the peer), :class:`ClosingError` (we
        agreed to close with other balances) or :class:`ProtocolError` (not funded);
        nothing changes then.
        """
        self._check_channel(message.channel_id)
        state = message.state()
        known = self.next_version - 1
        closing = self._closing
        if closing is not None:
            agreed = closing.state
            if (state.balance_a, state.balance_b) != (agreed.balance_a, agreed.balance_b):
                raise ClosingError(
                    f"we agreed to close with balances {agreed.balance_a} + "
                    f"{agreed.balance_b} (version {agreed.version})"
                )
            if state.version > known:
                raise VersionError(f"version {state.version} is newer than our {known}")
            self._check_close_signature(state, message.signature)
            mine = closing.signature_of(self._me)
            assert mine is not None
            if state.version < closing.version:
                return CloseAccept(self.channel_id, closing.version, mine), None
            if state.version > closing.version:
                signature, update = self._agree(state, message.signature)
                return CloseAccept(self.channel_id, state.version, signature), update
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
        if state.version > known:
            raise VersionError(f"version {state.version} is newer than our latest {known}")
        if (state.balance_a, state.balance_b) != (latest.balance_a, latest.balance_b):
            if state.version < latest.version:
                raise ReplayError(
                    f"version {state.version} is older than our latest {latest.version}"
                )
            raise BalanceError(
                f"balances {state.balance_a} + {state.balance_b} are not those of our version "
                f"{latest.version} ({latest.balance_a} + {latest.balance_b})"
            )
        self._check_close_signature(state, message.signature)
        signature, update = self._agree(state, message.signature)
        return CloseAccept(self.channel_id, state.version, signature), update

    def on_close_accept(self, message: CloseAccept) -> ChannelUpdate | None:
        """Take the peer's close signature of our request; returns the CLOSING update
        with both signatures (None for a repeated accept, or a late one of a version
        below our agreement). An accept of a higher version of the same balances (the
        peer's own agreement) moves our agreement up to it. Raises
        :class:`WrongChannelError`, :class:`ReplayError` (we asked for no close of that
        version) and :class:`SignatureError`."""
        self._check_channel(message.channel_id)
        closing = self._closing
        if closing is None or message.version > self.next_version - 1:
            raise ReplayError(f"we asked for no close of version {message.version}")
        if message.version < closing.version:
            return None  # the agreement moved past it already
        agreed = closing.state
        state = ChannelState(self.channel_id, message.version, agreed.balance_a, agreed.balance_b)
        self._check_close_signature(state, message.signature)
        if message.version > closing.version:
            return self._agree(state, message.signature)[1]
        if closing.signature_of(self.peer) == message.signature:
            return None
        self._closing = closing.with_signature(self.peer, message.signature)
        return self._next_update(UpdateKind.CLOSING, closing=self._closing)
