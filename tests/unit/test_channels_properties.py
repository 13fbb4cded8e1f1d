"""Property tests of the channel state machine (hypothesis, stateful).

Two :class:`~ccnet.channels.Channel` machines, A (//Alice) and B (//Bob), each with its
own SQLite store, talk over a simulated network that loses, duplicates, reorders and
replays frames. Rules make either side pay, propose any split of the deposits (a
policy may refuse it), refuse everything for a while, ask for a cooperative close,
crash before persisting what it just did, restart from its store, and re-send what
is outstanding. The driver follows :class:`~ccnet.channels.ChannelParty`: every update
is persisted before the message that depends on it leaves.

A reference model keeps every state a side proposed and every co-signed state either
side produced, and after each step the machines must agree with it:

- every co-signed state verifies, and balances always add up to the deposits (money is
  conserved, also in outstanding proposals and close agreements);
- one version is never co-signed with two different states, and a side never
  proposes two different states with one version;
- each side's latest version never goes down, and each new co-signed state is newer
  than the side's latest (versions strictly increase);
- the store holds exactly what the machine holds (restarting loses nothing), and the
  store's history has every co-signed state the side produced;
- when the sides' latest versions differ, the side behind has the newer state as its
  outstanding proposal (it is in doubt, never wrong);
- a frozen side (it signed a close) keeps the same close state and its latest state
  is that one; no co-signed state newer than any close signature ever exists;
- once frames flow again (``sync``), both sides end on the same latest state and, if
  a close was asked, on the same complete close agreement.
"""

from __future__ import annotations

import hashlib
import random
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from ccnet.channels import (
    BalanceError,
    Channel,
    ChannelParams,
    ChannelRecord,
    ChannelState,
    ChannelStateError,
    ChannelUpdate,
    CloseAccept,
    CloseRequest,
    ClosingAgreement,
    Countersign,
    CountersignBatch,
    MalformedMessage,
    Message,
    Party,
    PendingError,
    PersistStatus,
    Phase,
    Propose,
    ProposeBatch,
    ProtocolError,
    Reject,
    SignedState,
    SqliteChannelStore,
    UpdateKind,
    decode,
    encode,
)
from ccnet.client import Keys

KEYS = {Party.A: Keys.from_uri("//Alice"), Party.B: Keys.from_uri("//Bob")}
DEPOSIT_A, DEPOSIT_B = 1_000, 600
"""Small deposits (planck), so payments often overdraw and splits hit the edges."""
PARAMS = ChannelParams(
    channel_id=hashlib.sha256(b"property channel").digest(),
    genesis_hash=hashlib.sha256(b"property genesis").digest(),
    party_a=bytes(KEYS[Party.A].public_key),
    party_b=bytes(KEYS[Party.B].public_key),
    deposit_a=DEPOSIT_A,
    deposit_b=DEPOSIT_B,
)
TOTAL = DEPOSIT_A + DEPOSIT_B
CID = PARAMS.channel_id

sides = st.sampled_from([Party.A, Party.B])
amounts = st.one_of(
    st.integers(min_value=1, max_value=60), st.integers(min_value=-5, max_value=TOTAL + 5)
)
"""Mostly small payments that succeed; sometimes anything, overdraws included."""
picks = st.integers(min_value=0, max_value=2**16)
"""An index into a list of frames (taken modulo its length)."""


@dataclass
class Side:
    """One party: its store on disk and the machine built from it."""

    party: Party
    path: Path
    store: SqliteChannelStore
    machine: Channel
    refuse: bool = False
    """Its policy refuses every proposal (else: the default, accept what does not
    lower our balance)."""


class ChannelPair(RuleBasedStateMachine):
    """Two parties, a lossy network between them, and the reference model."""

    def __init__(self) -> None:
        super().__init__()
        self.directory = Path(tempfile.mkdtemp(prefix="ccnet-channel-props-"))
        self.sides: dict[Party, Side] = {}
        self.wire: dict[Party, list[bytes]] = {Party.A: [], Party.B: []}
        """Frames in flight, by destination, in sending order."""
        self.sent: list[tuple[Party, bytes]] = []
        """Every frame ever sent (destination, frame), for replays."""
        # The reference model.
        self.cosigned: dict[int, ChannelState] = {0: PARAMS.opening_state()}
        """Every co-signed state either side produced, by version."""
        self.proposed: dict[tuple[Party, int], ChannelState] = {}
        """Every proposal a side persisted (and so may have sent), by (side, version)."""
        self.seen_latest: dict[Party, int] = {Party.A: 0, Party.B: 0}
        self.frozen: dict[Party, ClosingAgreement | None] = {Party.A: None, Party.B: None}
        self.close_asked = False

    @initialize()
    def open_channel(self) -> None:
        for party in Party:
            path = self.directory / f"{party.value}.db"
            store = SqliteChannelStore(path)
            record = ChannelRecord(PARAMS, party, Phase.FUNDED, SignedState(PARAMS.opening_state()))
            assert store.persist_new_channel(record) is PersistStatus.COMPLETED
            side = Side(party, path, store, self._machine(party, store))
            self.sides[party] = side

    def teardown(self) -> None:
        for side in self.sides.values():
            side.store.close()
        shutil.rmtree(self.directory, ignore_errors=True)

    # -- plumbing (ChannelParty's rules, synchronously) -------------------------------

    def _machine(self, party: Party, store: SqliteChannelStore) -> Channel:
        def policy(channel: Channel, proposed: ChannelState, memo: str) -> bool:
            if self.sides[party].refuse:
                return False
            return proposed.balance_of(channel.me) >= channel.balance

        return Channel(store.load(CID), KEYS[party], policy=policy)

    def _persist(self, side: Side, update: ChannelUpdate | None) -> None:
        """Make *update* durable (the store must take every update the machine makes)
        and record it in the model."""
        if update is None:
            return
        status = side.store.update_persisted_channel(update)
        assert status is PersistStatus.COMPLETED, (update, status)
        if update.kind is UpdateKind.SIGNED:
            assert update.signed is not None
            for signed in (*update.earlier, update.signed):
                state = signed.state
                assert state.total == TOTAL
                key = (side.party, state.version)
                assert self.proposed.setdefault(key, state) == state, "one version, two proposals"
        elif update.kind is UpdateKind.COSIGNED:
            assert update.signed is not None
            assert side.machine.latest == update.signed  # the machine moved to it
            assert self.frozen[side.party] is None, "a frozen side co-signed an update"
            for signed in (*update.earlier, update.signed):
                assert signed.co_signed
                signed.verify(PARAMS)
                state = signed.state
                assert state.version > self.seen_latest[side.party], "versions strictly increase"
                assert self.cosigned.setdefault(state.version, state) == state, (
                    f"version {state.version} co-signed with two different states"
                )
                proposals = [self.proposed.get((p, state.version)) for p in Party]
                assert state in proposals, "co-signed a state nobody proposed"
                self.seen_latest[side.party] = state.version

    def _send(self, to: Party, message: Message) -> None:
        frame = encode(message)
        self.wire[to].append(frame)
        self.sent.append((to, frame))

    def _deliver(self, to: Party, frame: bytes, *, crash: bool = False) -> None:
        """The receiver handles *frame*; with *crash* it dies before persisting what
        the frame made it do (nothing leaves) and restarts from its store."""
        side = self.sides[to]
        machine = side.machine
        try:
            message = decode(frame)
        except MalformedMessage as err:  # pragma: no cover (frames are never corrupted)
            self._send(to.other, machine.reject_for(err, 0))
            return
        replies: list[Message] = []
        update: ChannelUpdate | None = None
        try:
            if isinstance(message, Propose):
                reply, update = machine.on_propose(message)
                replies.append(reply)
            elif isinstance(message, ProposeBatch):
                batch_reply, update = machine.on_propose_batch(message)
                replies.append(batch_reply)
            elif isinstance(message, Countersign):
                update = machine.on_countersign(message)
            elif isinstance(message, CountersignBatch):
                update = machine.on_countersign_batch(message)
            elif isinstance(message, Reject):
                update, _ = machine.on_reject(message)
            elif isinstance(message, CloseRequest):
                accept, update = machine.on_close_request(message)
                replies.append(accept)
            else:
                assert isinstance(message, CloseAccept)
                update = machine.on_close_accept(message)
        except PendingError as err:
            assert isinstance(message, CloseRequest)
            retransmission = machine.retransmission()
            if retransmission is not None:
                replies.append(retransmission)
            replies.append(machine.reject_for(err, message.version))
        except ProtocolError as err:
            if isinstance(message, Propose | ProposeBatch | CloseRequest):
                replies.append(machine.reject_for(err, message.version))
        if crash:
            self._restart(side, lost=update)
            return
        self._persist(side, update)
        for answer in replies:
            self._send(to.other, answer)

    def _restart(self, side: Side, *, lost: ChannelUpdate | None = None) -> None:
        """Reopen the store and rebuild the machine from it; then re-send what is
        outstanding, as :meth:`ChannelParty.attach` does. Without *lost*, the restart
        must give back exactly the machine's state."""
        before = side.machine.record()
        side.store.close()
        side.store = SqliteChannelStore(side.path)
        side.machine = self._machine(side.party, side.store)
        after = side.machine.record()
        if lost is None:
            assert after == before, "a restart lost persisted state"
        else:
            assert after.update_id == lost.update_id - 1  # only the unpersisted update
        retransmission = side.machine.retransmission()
        if retransmission is not None:
            self._send(side.party.other, retransmission)

    # -- rules ------------------------------------------------------------------------

    def _act(
        self, side: Side, action: str, value: int, values: list[int] | None = None
    ) -> tuple[Message, ChannelUpdate | None] | None:
        machine = side.machine
        before = machine.record()
        try:
            if action == "pay_many":
                assert values is not None
                message, update = machine.pay_many(values)
                states = [s.state for s in (*update.earlier, update.signed) if s is not None]
                paid = [
                    after.balance_of(side.party.other) - before.balance_of(side.party.other)
                    for before, after in zip(
                        [machine.latest.state, *states[:-1]], states, strict=True
                    )
                ]
                assert paid == values and all(s.total == TOTAL for s in states)
                return message, update
            if action == "pay":
                message, update = machine.pay(value)
                assert update.signed is not None
                moved = update.signed.state.balance_of(side.party.other) - machine.peer_balance
                assert moved == value and update.signed.state.total == TOTAL
                return message, update
            if action == "propose":
                balance_a = value
                balance_b = TOTAL - value if value % 7 else TOTAL - value + 1  # some don't add up
                return machine.propose(balance_a, balance_b)
            close, asked = machine.request_close()  # asked is None: asked already
            self.close_asked = True
            return close, asked
        except (ChannelStateError, BalanceError):
            assert machine.record() == before  # refused locally: nothing changed
            return None

    @rule(who=sides, action=st.sampled_from(["pay", "pay", "pay", "propose"]), value=amounts)
    def act(self, who: Party, action: str, value: int) -> None:
        """A side pays or proposes a split (persist, then send)."""
        side = self.sides[who]
        done = self._act(side, action, value)
        if done is None:
            return
        message, update = done
        self._persist(side, update)
        self._send(who.other, message)

    @rule(
        who=st.sampled_from([Party.A, Party.A, Party.A, Party.B]),
        values=st.lists(amounts, min_size=2, max_size=5),
        how=st.sampled_from(["send", "round trip", "round trip", "crash"]),
    )
    def pay_batch(self, who: Party, values: list[int], how: str) -> None:
        """A side pays several times as one batch (party A only: B's attempt changes
        nothing) and sends it, or the network carries it and its answer at once, or the
        side dies before persisting it."""
        side = self.sides[who]
        done = self._act(side, "pay_many", 0, values)
        if how == "crash":
            self._restart(side, lost=done[1] if done else None)
            return
        if done is None:
            return
        self._persist(side, done[1])
        self._send(who.other, done[0])
        if how == "round trip":
            self._deliver(who.other, self.wire[who.other].pop())
            if self.wire[who]:
                self._deliver(who, self.wire[who].pop())

    @rule(who=sides, values=st.lists(amounts, min_size=1, max_size=4))
    def pay_round_trips(self, who: Party, values: list[int]) -> None:
        """A side pays a few times; the network carries each proposal and its answer
        at once."""
        for value in values:
            self.act(who, "pay", value)
            if self.wire[who.other]:
                self._deliver(who.other, self.wire[who.other].pop())
            if self.wire[who]:
                self._deliver(who, self.wire[who].pop())

    @rule(
        values_a=st.lists(amounts, min_size=1, max_size=3),
        value_b=amounts,
        a_first=st.booleans(),
    )
    def cross(self, values_a: list[int], value_b: int, a_first: bool) -> None:
        """Both sides propose at once (A maybe a batch); the proposals cross on the wire
        and arrive in either order, and so do the answers."""
        if len(values_a) > 1:
            self.pay_batch(Party.A, values_a, "send")
        else:
            self.act(Party.A, "pay", values_a[0])
        self.act(Party.B, "pay", value_b)
        for to in (Party.B, Party.A) if a_first else (Party.A, Party.B):
            if self.wire[to]:
                self._deliver(to, self.wire[to].pop())
        for to in (Party.A, Party.B):
            while self.wire[to]:
                self._deliver(to, self.wire[to].pop(0))

    @rule(who=sides, dice=st.integers(min_value=0, max_value=3))
    def ask_close(self, who: Party, dice: int) -> None:
        """Now and then, a side asks to close (it freezes, then sends its request)."""
        if dice == 0:
            self.act_close(who)

    def act_close(self, who: Party) -> None:
        side = self.sides[who]
        done = self._act(side, "close", 0)
        if done is not None:
            self._persist(side, done[1])
            self._send(who.other, done[0])

    @rule(who=sides, action=st.sampled_from(["pay", "propose", "close"]), value=amounts)
    def act_then_crash(self, who: Party, action: str, value: int) -> None:
        """A side signs something and dies before persisting it: nothing left, and the
        restarted side may sign something else with that version."""
        side = self.sides[who]
        done = self._act(side, action, value)
        self._restart(side, lost=done[1] if done else None)

    @precondition(lambda self: self.wire[Party.A] or self.wire[Party.B])
    @rule(to=sides, pick=picks, crash=st.booleans())
    def deliver(self, to: Party, pick: int, crash: bool) -> None:
        """Deliver one frame in flight, any of them (reordering); maybe the receiver
        crashes while handling it."""
        if not self.wire[to]:
            to = to.other
        frame = self.wire[to].pop(pick % len(self.wire[to]))
        self._deliver(to, frame, crash=crash)

    @precondition(lambda self: self.wire[Party.A] or self.wire[Party.B])
    @rule(to=sides, pick=picks)
    def lose(self, to: Party, pick: int) -> None:
        """The network loses a frame."""
        if not self.wire[to]:
            to = to.other
        self.wire[to].pop(pick % len(self.wire[to]))

    @precondition(lambda self: self.wire[Party.A] or self.wire[Party.B])
    @rule(to=sides, pick=picks)
    def duplicate(self, to: Party, pick: int) -> None:
        """The network delivers a frame twice."""
        if not self.wire[to]:
            to = to.other
        self.wire[to].append(self.wire[to][pick % len(self.wire[to])])

    @precondition(lambda self: self.sent)
    @rule(pick=picks)
    def replay(self, pick: int) -> None:
        """Someone replays an old frame to its receiver."""
        to, frame = self.sent[pick % len(self.sent)]
        self._deliver(to, frame)

    @rule(who=sides, refuse=st.booleans())
    def set_policy(self, who: Party, refuse: bool) -> None:
        """A side starts (or stops) refusing every proposal."""
        self.sides[who].refuse = refuse

    @rule(who=sides)
    def restart(self, who: Party) -> None:
        """A side restarts from its store (and re-sends its outstanding proposal)."""
        self._restart(self.sides[who])

    @rule(who=sides)
    def resend(self, who: Party) -> None:
        """A side re-sends its outstanding proposal or close request (a timeout)."""
        machine = self.sides[who].machine
        retransmission = machine.retransmission()
        if retransmission is not None:
            self._send(who.other, retransmission)
        closing = machine.closing
        if closing is not None and not closing.complete:
            self._send(who.other, machine.request_close()[0])

    @rule(rng=st.randoms(use_true_random=False))
    def sync(self, rng: random.Random) -> None:
        """Frames flow again: both sides re-send what is outstanding and every frame is
        delivered, a few rounds. Then both agree on the latest state and any close."""
        for _ in range(4):
            for party in Party:
                self.resend(party)
            for _ in range(200):
                waiting = [p for p in Party if self.wire[p]]
                if not waiting:
                    break
                to = rng.choice(waiting)
                self._deliver(to, self.wire[to].pop(0))
            assert not (self.wire[Party.A] or self.wire[Party.B]), "frames never settle"
        a, b = self.sides[Party.A].machine, self.sides[Party.B].machine
        assert a.latest == b.latest, (a.latest.version, b.latest.version)
        if self.close_asked and (a.closing or b.closing):
            assert a.closing is not None and a.closing.complete
            assert a.closing == b.closing and a.closing.state == a.latest.state
            a.closing.verify(PARAMS)

    # -- invariants -------------------------------------------------------------------

    @invariant()
    def model_holds(self) -> None:
        if not self.sides:
            return
        top = max(self.cosigned)
        for party, side in self.sides.items():
            machine = side.machine
            record = machine.record()
            # The store has what the machine has: nothing acknowledged can be lost.
            assert side.store.load(CID) == record
            latest = machine.latest
            assert latest.version == self.seen_latest[party]
            assert self.cosigned[latest.version] == latest.state
            latest.verify(PARAMS)
            history = {s.version: s.state for s in side.store.history(CID, limit=10_000)}
            for version, state in history.items():
                assert self.cosigned[version] == state
            assert latest.version == 0 or latest.version in history
            if machine.pending is not None:
                pending = machine.pending.state
                assert pending.total == TOTAL and pending.version > latest.version
                assert self.proposed[(party, pending.version)] == pending
            closing = machine.closing
            frozen = self.frozen[party]
            if frozen is not None:
                assert closing is not None and closing.state == frozen.state, "unfrozen"
            if closing is not None:
                self.frozen[party] = closing
                assert closing.state == latest.state, "a frozen side moved on"
                assert closing.state.total == TOTAL
                closing.verify(PARAMS)
                assert top == closing.version, "a state newer than a close signature exists"
        a, b = self.sides[Party.A].machine, self.sides[Party.B].machine
        if a.latest.version != b.latest.version:
            behind, ahead = (a, b) if a.latest.version < b.latest.version else (b, a)
            assert behind.pending is not None and behind.pending.state == ahead.latest.state
        assert top == max(a.latest.version, b.latest.version)


ChannelPair.TestCase.settings = settings(
    max_examples=100,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
test_channel_pair_against_the_model = ChannelPair.TestCase


def test_the_model_catches_a_lost_update() -> None:
    """The check that gives the property test its teeth: a store that silently drops a
    co-signed update is noticed by the restart comparison."""
    pair = ChannelPair()
    try:
        pair.open_channel()
        a = pair.sides[Party.A]
        message, update = a.machine.pay(10)
        pair._persist(a, update)
        pair._send(Party.B, message)
        pair._deliver(Party.B, pair.wire[Party.B].pop())
        countersign = decode(pair.wire[Party.A].pop())
        assert isinstance(countersign, Countersign)
        a.machine.on_countersign(countersign)  # co-signed in memory, never persisted
        with pytest.raises(AssertionError, match="lost persisted state"):
            pair._restart(a)
    finally:
        pair.teardown()


def test_a_frozen_side_refuses_any_later_proposal_as_closing(tmp_path: Path) -> None:
    """Found by the machine above: A froze to close at version 0; B paid twice before
    the request arrived. A refuses both as ``closing`` (B burns 1, then 2); before the
    fix the second was a ``version`` gap for A, which failed B's channel and left the
    close blocked behind B's outstanding proposal for ever."""
    pair = ChannelPair()
    try:
        pair.open_channel()
        pair.act_close(Party.A)
        pair.pay_round_trips(Party.B, [1, 1])
        b = pair.sides[Party.B].machine
        assert b.failed is None and b.pending is None and b.burned == 2
        pair.sync(random.Random(0))
        a = pair.sides[Party.A].machine
        assert a.closing is not None and a.closing.complete and a.closing.version == 0
        pair.model_holds()
    finally:
        pair.teardown()
