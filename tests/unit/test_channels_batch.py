"""Batches of updates (``pay_many``): the wire format, the state machine, the store, and
the party, over in-memory transports. A batch is all or nothing, and every state of it
is durable before any signature of it leaves and before ``pay_many`` returns."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from dataclasses import replace
from pathlib import Path

import pytest
from substrateinterface import Keypair

from ccnet.channels import (
    MAX_BATCH,
    MAX_BODY,
    BalanceError,
    Channel,
    ChannelParams,
    ChannelParty,
    ChannelRecord,
    ChannelState,
    ChannelStateError,
    ChannelUpdate,
    Countersign,
    CountersignBatch,
    MalformedMessageError,
    MemoryTransport,
    Party,
    PersistStatus,
    Phase,
    ProposalRejectedError,
    Propose,
    ProposeBatch,
    ProposerError,
    ProtocolError,
    Reject,
    SignatureError,
    SignedState,
    SqliteChannelStore,
    UpdateKind,
    decode,
    encode,
    sign_state,
)
from ccnet.channels.state import U128_MAX
from ccnet.channels.testing import TEST_GENESIS as GENESIS
from ccnet.channels.testing import (
    HeldCosignStore,
    PartyPair,
    close_pair,
    eventually,
    link_parties,
)

CC = 10**12


def machines(params: ChannelParams, alice: Keypair, bob: Keypair) -> tuple[Channel, Channel]:
    opening = SignedState(params.opening_state())
    return (
        Channel(ChannelRecord(params, Party.A, Phase.FUNDED, opening), alice),
        Channel(ChannelRecord(params, Party.B, Phase.FUNDED, opening), bob),
    )


def batch_of(
    params: ChannelParams, signer: Keypair, first: int, balances: list[tuple[int, int]]
) -> ProposeBatch:
    """A batch of *balances* from version *first*, signed by *signer* (out-of-range
    balances are signed as 0)."""
    signatures = tuple(
        sign_state(
            signer,
            params.genesis_hash,
            ChannelState(params.channel_id, first + i, max(a, 0), max(b, 0)),
        )
        for i, (a, b) in enumerate(balances)
    )
    return ProposeBatch(
        params.channel_id,
        params.genesis_hash,
        first + len(balances) - 1,
        tuple(balances),
        signatures,
    )


# -- wire format ----------------------------------------------------------------------


def test_batch_messages_round_trip(params: ChannelParams, alice: Keypair) -> None:
    batch = batch_of(params, alice, 3, [(9 * CC, 6 * CC), (8 * CC, 7 * CC), (7 * CC, 8 * CC)])
    batch = replace(batch, memo="tasks 1-3")
    assert batch.first_version == 3 and [s.version for s in batch.states()] == [3, 4, 5]
    assert decode(encode(batch)) == batch
    answer = CountersignBatch(params.channel_id, 5, batch.signatures)
    assert decode(encode(answer)) == answer
    # The largest batch, with the largest balances, fits in one frame.
    biggest = ProposeBatch(
        params.channel_id,
        params.genesis_hash,
        2**63,
        ((U128_MAX, U128_MAX),) * MAX_BATCH,
        (b"\xff" * 64,) * MAX_BATCH,
        "m" * 1024,
    )
    assert len(encode(biggest)) <= MAX_BODY + 4
    assert decode(encode(biggest)) == biggest


def body_of(message: ProposeBatch | CountersignBatch) -> dict[str, object]:
    return dict(json.loads(encode(message)[4:]))


def frame_of(body: dict[str, object]) -> bytes:
    data = json.dumps(body).encode()
    return len(data).to_bytes(4, "big") + data


@pytest.mark.parametrize(
    "change",
    [
        {"balances_a": ["1"]},  # one state is a plain propose
        {"balances_a": ["1"] * (MAX_BATCH + 1)},
        {"balances_b": ["1", "2", "3"]},  # lengths differ
        {"signatures": ["0x00"] * 2},
        {"signatures": "0x00"},
        {"balances_a": [1, 2]},  # planck are decimal strings
        {"version": 1},  # two states cannot end at version 1
        {"memo": 5},
    ],
)
def test_malformed_batches(
    params: ChannelParams, alice: Keypair, change: dict[str, object]
) -> None:
    body = body_of(batch_of(params, alice, 1, [(9 * CC, 6 * CC), (8 * CC, 7 * CC)]))
    with pytest.raises(MalformedMessageError):
        decode(frame_of({**body, **change}))


def test_malformed_countersign_batch(params: ChannelParams) -> None:
    body = body_of(CountersignBatch(params.channel_id, 2, (b"\1" * 64, b"\2" * 64)))
    changes: list[dict[str, object]] = [
        {"signatures": []},
        {"signatures": ["0x01"] * 2},
        {"version": 1},
    ]
    for change in changes:
        with pytest.raises(MalformedMessageError):
            decode(frame_of({**body, **change}))


# -- state machine --------------------------------------------------------------------


def test_pay_many_co_signs_every_state_in_one_update(
    params: ChannelParams, alice: Keypair, bob: Keypair
) -> None:
    a, b = machines(params, alice, bob)
    batch, signed = a.pay_many([1, 2, 3], memo="three tasks")
    assert isinstance(batch, ProposeBatch) and batch.memo == "three tasks"
    assert signed.kind is UpdateKind.SIGNED and signed.update_id == 1
    assert signed.signed is not None and signed.signed.version == 3
    assert [s.version for s in signed.earlier] == [1, 2]
    assert a.pending is not None and a.pending.state.version == 3 and len(a.pending.earlier) == 2
    assert a.retransmission() == batch
    reply, cosigned = b.on_propose_batch(batch)
    assert isinstance(reply, CountersignBatch) and reply.version == 3
    assert cosigned is not None and cosigned.kind is UpdateKind.COSIGNED
    assert cosigned.update_id == 1  # one update for the whole batch
    states = [*cosigned.earlier, cosigned.signed]
    assert [s.version for s in states if s] == [1, 2, 3]
    for state in states:
        assert state is not None and state.co_signed
        state.verify(params)
    done = a.on_countersign_batch(reply)
    assert [*done.earlier, done.signed] == states
    assert a.latest == b.latest and a.pending is None
    assert a.latest.state.balance_a == params.deposit_a - 6
    assert a.next_version == b.next_version == 4
    # A re-sent batch co-signed already gets the countersign of its last state.
    again, update = b.on_propose_batch(batch)
    assert update is None and again == Countersign(params.channel_id, 3, b.latest.signature_b)


def test_one_payment_is_a_plain_propose(
    params: ChannelParams, alice: Keypair, bob: Keypair
) -> None:
    a, _ = machines(params, alice, bob)
    message, update = a.pay_many([5])
    assert isinstance(message, Propose) and not update.earlier


def test_only_a_proposes_batches(params: ChannelParams, alice: Keypair, bob: Keypair) -> None:
    a, b = machines(params, alice, bob)
    with pytest.raises(ChannelStateError, match="only party A"):
        b.pay_many([1, 1])
    assert b.pending is None and b.update_id == 0
    forged = batch_of(params, bob, 1, [(params.deposit_a + 1, params.deposit_b - 1)] * 2)
    before = a.record()
    with pytest.raises(ProposerError, match="only party A"):
        a.on_propose_batch(forged)
    assert a.record() == before


def test_local_checks_sign_nothing(params: ChannelParams, alice: Keypair, bob: Keypair) -> None:
    a, _ = machines(params, alice, bob)
    for amounts in ([1, 0], [1, -1], [params.deposit_a, 1]):
        with pytest.raises(BalanceError):
            a.pay_many(amounts)
    with pytest.raises(BalanceError):
        a.propose_many([(1, 1), (2, 2)])
    for size in (0, MAX_BATCH + 1):
        with pytest.raises(ValueError):
            a.pay_many([1] * size)
    assert a.pending is None and a.update_id == 0


def test_a_bad_state_refuses_the_whole_batch(
    params: ChannelParams, alice: Keypair, bob: Keypair
) -> None:
    a, b = machines(params, alice, bob)
    batch, _ = a.pay_many([1, 2, 3])
    assert isinstance(batch, ProposeBatch)
    bad = replace(batch, signatures=(batch.signatures[0], batch.signatures[0], batch.signatures[2]))
    before = b.record()
    with pytest.raises(SignatureError, match="version 2"):
        b.on_propose_batch(bad)
    overdraw = batch_of(params, alice, 1, [(1, params.total - 1), (-1, params.total + 1)])
    with pytest.raises(BalanceError):
        b.on_propose_batch(overdraw)
    assert b.record() == before


def test_policy_refusal_cancels_the_whole_batch(
    params: ChannelParams, alice: Keypair, bob: Keypair
) -> None:
    a = Channel(
        ChannelRecord(params, Party.A, Phase.FUNDED, SignedState(params.opening_state())), alice
    )
    seen: list[int] = []

    def policy(channel: Channel, proposed: ChannelState, memo: str) -> bool:
        seen.append(proposed.version)
        return memo != "bad"

    record = ChannelRecord(params, Party.B, Phase.FUNDED, SignedState(params.opening_state()))
    b = Channel(record, bob, policy=policy)
    batch, _ = a.pay_many([1, 2, 3], memo="bad")
    assert isinstance(batch, ProposeBatch)
    reject, cancelled = b.on_propose_batch(batch)
    assert seen == [1]  # the policy judges every state; the first refusal refuses all
    assert isinstance(reject, Reject) and reject.code == "policy" and reject.version == 3
    assert cancelled is not None and cancelled.kind is UpdateKind.CANCELLED
    assert cancelled.version == 4  # one cancel state supersedes every state of the batch
    update, rejection = a.on_reject(reject)
    assert update is not None and update.kind is UpdateKind.COSIGNED
    assert rejection is not None and rejection.code == "policy" and rejection.cancel_version == 4
    assert a.latest.state == replace(params.opening_state(), version=4)
    assert a.next_version == b.next_version == 5 and a.pending is None
    again, none = b.on_propose_batch(batch)  # re-sent: refused again, nothing changes
    assert isinstance(again, Reject) and none is None and again.cancel_signature is not None


def test_a_batch_may_not_lower_the_payee_in_an_earlier_state(
    params: ChannelParams, alice: Keypair, bob: Keypair
) -> None:
    """Every state of a batch is co-signed and registrable: a first state that takes
    the payee's whole deposit is refused even though the last one restores it."""
    _, b = machines(params, alice, bob)
    deposits = (params.deposit_a, params.deposit_b)
    robbing = (params.deposit_a + params.deposit_b, 0)
    reject, cancelled = b.on_propose_batch(batch_of(params, alice, 1, [robbing, deposits]))
    assert isinstance(reject, Reject) and reject.code == "policy"
    assert reject.cancel_signature is not None
    assert cancelled is not None and cancelled.kind is UpdateKind.CANCELLED
    assert b.latest.version == 0 and b.balance == params.deposit_b


def test_countersign_batch_must_match_the_outstanding_batch(
    params: ChannelParams, alice: Keypair, bob: Keypair
) -> None:
    a, b = machines(params, alice, bob)
    batch, _ = a.pay_many([1, 2, 3])
    assert isinstance(batch, ProposeBatch)
    reply, _ = b.on_propose_batch(batch)
    assert isinstance(reply, CountersignBatch)
    before = a.record()
    for wrong in (
        replace(reply, version=2),
        replace(reply, signatures=reply.signatures[1:]),
    ):
        with pytest.raises(ProtocolError, match="no batch"):
            a.on_countersign_batch(wrong)
    swapped = replace(
        reply, signatures=(reply.signatures[1], reply.signatures[0], reply.signatures[2])
    )
    with pytest.raises(SignatureError):
        a.on_countersign_batch(swapped)
    assert a.record() == before
    # The countersign of the last state alone (a re-sent batch) settles it too.
    assert b.latest.signature_b is not None
    single = a.on_countersign(Countersign(params.channel_id, 3, b.latest.signature_b))
    assert single.signed == b.latest and not single.earlier and a.pending is None


# -- store ----------------------------------------------------------------------------


def test_the_store_keeps_an_outstanding_batch_and_every_co_signed_state(
    tmp_path: Path, params: ChannelParams, alice: Keypair, bob: Keypair
) -> None:
    store = SqliteChannelStore(tmp_path / "alice.db")
    store.persist_new_channel(
        ChannelRecord(params, Party.A, Phase.FUNDED, SignedState(params.opening_state()))
    )
    a = Channel(store.load(params.channel_id), alice)
    _, b = machines(params, alice, bob)
    batch, signed = a.pay_many([1, 2, 3, 4], memo="m")
    assert store.update_persisted_channel(signed) is PersistStatus.COMPLETED
    reloaded = store.load(params.channel_id)
    assert reloaded == a.record()
    assert reloaded.pending is not None and [p.state.version for p in reloaded.pending.earlier] == [
        1,
        2,
        3,
    ]
    assert Channel(reloaded, alice).retransmission() == batch  # the same signatures again
    assert isinstance(batch, ProposeBatch)
    reply, _ = b.on_propose_batch(batch)
    assert isinstance(reply, CountersignBatch)
    assert store.update_persisted_channel(a.on_countersign_batch(reply)) is PersistStatus.COMPLETED
    reloaded = store.load(params.channel_id)
    assert reloaded == a.record() and reloaded.pending is None
    history = store.history(params.channel_id)
    assert [s.version for s in history] == [4, 3, 2, 1]
    for state in history:
        state.verify(params)
    store.close()


def test_a_batch_after_the_close_freeze_is_refused_by_the_store(
    tmp_path: Path, params: ChannelParams, alice: Keypair
) -> None:
    store = SqliteChannelStore(tmp_path / "alice.db")
    opening = ChannelRecord(params, Party.A, Phase.FUNDED, SignedState(params.opening_state()))
    store.persist_new_channel(opening)
    a = Channel(opening, alice)
    _, freeze = a.request_close()
    assert freeze is not None
    assert store.update_persisted_channel(freeze) is PersistStatus.COMPLETED
    state = ChannelState(params.channel_id, 2, params.deposit_a - 1, params.deposit_b + 1)
    earlier = ChannelState(params.channel_id, 1, params.deposit_a, params.deposit_b)
    late = ChannelUpdate(
        params.channel_id,
        2,
        UpdateKind.SIGNED,
        signed=SignedState(state, b"\1" * 64),
        earlier=(SignedState(earlier, b"\2" * 64),),
    )
    assert store.update_persisted_channel(late) is PersistStatus.UNRECOVERABLE_ERROR
    assert store.load(params.channel_id).pending is None
    store.close()


# -- party ----------------------------------------------------------------------------


class Committed:
    """A transport wrapper that checks, at every send, what another SQLite connection
    sees in the sender's store: whatever the message signs must be committed."""

    def __init__(self, inner: MemoryTransport, db: Path) -> None:
        self.inner = inner
        self.db = sqlite3.connect(db)
        self.sent: list[str] = []

    def versions(self) -> set[int]:
        return {row[0] for row in self.db.execute("SELECT version FROM states")}

    async def send(self, frame: bytes) -> None:
        message = decode(frame)
        latest, pending, batch = self.db.execute(
            "SELECT version, pending_version, pending_batch FROM channels"
        ).fetchone()
        if isinstance(message, ProposeBatch):
            assert pending == message.version, "batch sent before it was committed"
            stored = [item["version"] for item in json.loads(batch)]
            assert stored == list(range(message.first_version, message.version))
        elif isinstance(message, CountersignBatch):
            assert latest == message.version, "countersign sent before it was committed"
            first = message.version - len(message.signatures) + 1
            assert set(range(first, message.version + 1)) <= self.versions()
        elif isinstance(message, Propose):
            assert pending == message.version
        elif isinstance(message, Countersign):
            assert latest == message.version
        self.sent.append(type(message).__name__)
        await self.inner.send(frame)

    async def recv(self) -> bytes:
        return await self.inner.recv()

    async def close(self) -> None:
        await self.inner.close()
        self.db.close()


async def test_every_state_is_durable_before_it_leaves_and_before_the_ack(
    tmp_path: Path, alice: Keypair, bob: Keypair, params: ChannelParams
) -> None:
    pair = await link_parties(tmp_path, alice, bob, params)
    cid = params.channel_id
    end_a, end_b = MemoryTransport.pair()
    watched_a = Committed(end_a, tmp_path / "alice.db")
    watched_b = Committed(end_b, tmp_path / "bob.db")
    await pair.a.attach(cid, watched_a)
    await pair.b.attach(cid, watched_b)
    reader = sqlite3.connect(tmp_path / "alice.db")
    version = 0
    for size in (2, 7, MAX_BATCH, 1, 3):
        latest = await pair.a.pay_many(cid, [1000 + i for i in range(size)], memo=f"{size}")
        version += size
        assert latest.version == version
        # Acknowledged: every state is in A's store, as another connection sees it.
        rows = reader.execute("SELECT version FROM states").fetchall()
        assert {v for (v,) in rows} == set(range(1, version + 1))
    assert watched_a.sent == ["ProposeBatch"] * 3 + ["Propose", "ProposeBatch"]
    assert watched_b.sent == ["CountersignBatch"] * 3 + ["Countersign", "CountersignBatch"]
    assert pair.a.channel(cid).latest == pair.b.channel(cid).latest
    assert pair.store_b.history(cid, limit=1000) == pair.store_a.history(cid, limit=1000)
    paid = sum(1000 + i for size in (2, 7, MAX_BATCH, 1, 3) for i in range(size))
    assert pair.a.channel(cid).balance == params.deposit_a - paid
    reader.close()
    await close_pair(pair)


async def test_no_countersignature_leaves_while_the_batch_is_in_progress(
    tmp_path: Path, alice: Keypair, bob: Keypair, params: ChannelParams
) -> None:
    held = HeldCosignStore(SqliteChannelStore(tmp_path / "bob.db"))
    a = ChannelParty(alice, SqliteChannelStore(tmp_path / "alice.db"), genesis_hash=GENESIS)
    b = ChannelParty(bob, held, genesis_hash=GENESIS)
    cid = params.channel_id
    a.add_channel(params)
    b.add_channel(params)
    end_a, end_b = MemoryTransport.pair()
    await a.attach(cid, end_a)
    await b.attach(cid, end_b)
    payment = asyncio.create_task(a.pay_many(cid, [5, 6, 7]))
    await eventually(lambda: len(held.held) == 1, "B's co-signed update in the store")
    for _ in range(50):
        await asyncio.sleep(0)
    assert not payment.done() and len(held.held) == 1 and end_b.sent == 0
    update = held.held.pop()
    assert len(update.earlier) == 2
    assert held.inner.update_persisted_channel(update) is PersistStatus.COMPLETED
    b.persisted(cid, update.update_id)
    assert (await payment).version == 3
    await a.aclose()
    await b.aclose()


async def test_a_refused_batch_pays_nothing(
    tmp_path: Path, alice: Keypair, bob: Keypair, params: ChannelParams
) -> None:
    def no_bad_tasks(channel: Channel, proposed: ChannelState, memo: str) -> bool:
        return memo != "bad"

    pair = await link_parties(tmp_path, alice, bob, params, policy_b=no_bad_tasks)
    cid = params.channel_id
    with pytest.raises(ProposalRejectedError) as caught:
        await pair.a.pay_many(cid, [1, 2, 3], memo="bad")
    assert caught.value.code == "policy" and caught.value.version == 3
    assert caught.value.cancel_version == 4
    record_a, record_b = pair.store_a.load(cid), pair.store_b.load(cid)
    assert record_a.latest.version == 4 and record_a.latest.co_signed and not record_a.pending
    assert record_a.latest.state.balance_b == params.deposit_b  # nothing paid
    assert record_b.latest.version == 0 and record_b.cancelled == 4 and not record_b.pending
    assert (await pair.a.pay_many(cid, [1, 2])).version == 6
    await close_pair(pair)


async def test_restart_resends_the_stored_batch(
    tmp_path: Path, alice: Keypair, bob: Keypair, params: ChannelParams
) -> None:
    """A signs and stores a batch and dies before sending it; the restarted party re-sends
    the same batch on attach, and B co-signs it."""
    pair: PartyPair = await link_parties(tmp_path, alice, bob, params)
    cid = params.channel_id
    channel = pair.a.channel(cid)
    batch, update = channel.pay_many([10, 20, 30])
    assert pair.store_a.update_persisted_channel(update) is PersistStatus.COMPLETED
    await close_pair(pair)  # "dies" before sending

    again = await link_parties(tmp_path, alice, bob, params)
    pending = again.a.channel(cid).pending
    assert pending is not None and again.a.channel(cid).retransmission() == batch
    assert len(pending.earlier) == 2 and pending.state.version == 3
    latest = await again.a.resolve(cid)
    assert latest.version == 3 and again.b.channel(cid).latest == latest
    assert [s.version for s in again.store_b.history(cid)] == [3, 2, 1]
    await close_pair(again)
