"""ccnet.channels.party over in-memory transports: payments, refused messages (with a
reply and no store change), persistence before sending (also with the store thread),
loss, cancelled refusals, restarts."""

from __future__ import annotations

import asyncio
import sqlite3
from dataclasses import replace
from pathlib import Path

import pytest
from substrateinterface import Keypair

from ccnet.channels import (
    Channel,
    ChannelParams,
    ChannelParty,
    ChannelState,
    ChannelStateError,
    ChannelUpdate,
    InDoubtError,
    MemoryTransport,
    PeerTimeoutError,
    PersistStatus,
    ProposalRejectedError,
    Propose,
    Reject,
    SignedState,
    SqliteChannelStore,
    decode,
    encode,
    sign_state,
)
from ccnet.channels.messages import MAX_BODY
from ccnet.channels.testing import TEST_GENESIS as GENESIS
from ccnet.channels.testing import (
    HeldCosignStore,
    PartyPair,
    close_pair,
    eventually,
    link_parties,
)

CC = 10**12


async def test_many_payments(party_pair: PartyPair) -> None:
    cid = party_pair.channel_id
    for i in range(200):
        signed = await party_pair.a.pay(cid, 1000 + i, memo=f"task {i}")
        assert signed.version == i + 1
    paid = sum(1000 + i for i in range(200))
    a, b = party_pair.a.channel(cid), party_pair.b.channel(cid)
    assert a.latest == b.latest
    assert a.latest.state.balance_a == 10 * CC - paid
    assert a.latest.state.balance_b == 5 * CC + paid
    a.latest.verify(party_pair.params)
    assert party_pair.store_a.latest_cosigned(cid) == a.latest
    assert party_pair.store_b.latest_cosigned(cid) == b.latest
    # Only A proposes: B's attempt is refused before anything is signed or sent.
    with pytest.raises(ChannelStateError, match="only party A"):
        await party_pair.b.pay(cid, 5 * CC)
    assert party_pair.b.channel(cid).update_id == 200


class Watched:
    """A transport wrapper that checks, at every send, what another SQLite connection
    sees in the sender's store: the signed state must already be committed."""

    def __init__(self, inner: MemoryTransport, db: Path, checked: list[int]) -> None:
        self.inner = inner
        self.db = sqlite3.connect(db)
        self.checked = checked

    async def send(self, frame: bytes) -> None:
        message = decode(frame)
        row = self.db.execute("SELECT version, pending_version FROM channels").fetchone()
        if isinstance(message, Propose):
            assert row[1] == message.version, "proposal sent before it was committed"
        else:
            assert row[0] == message.version, "countersign sent before it was committed"
        self.checked.append(message.version)
        await self.inner.send(frame)

    async def recv(self) -> bytes:
        return await self.inner.recv()

    async def close(self) -> None:
        await self.inner.close()
        self.db.close()


async def test_signatures_leave_only_after_commit(
    tmp_path: Path, alice: Keypair, bob: Keypair, params: ChannelParams
) -> None:
    pair = await link_parties(tmp_path, alice, bob, params)
    cid = params.channel_id
    end_a, end_b = MemoryTransport.pair()
    checked_a: list[int] = []
    checked_b: list[int] = []
    await pair.a.attach(cid, Watched(end_a, tmp_path / "alice.db", checked_a))
    await pair.b.attach(cid, Watched(end_b, tmp_path / "bob.db", checked_b))
    for _ in range(6):
        await pair.a.pay(cid, 1)
    assert checked_a == [1, 2, 3, 4, 5, 6] and checked_b == [1, 2, 3, 4, 5, 6]
    await close_pair(pair)


async def raw_link(party: ChannelParty, cid: bytes) -> MemoryTransport:
    """Attach *party* to a transport whose other end the test drives by hand."""
    ours, theirs = MemoryTransport.pair()
    await party.attach(cid, theirs)
    return ours


def propose(
    params: ChannelParams,
    signer: Keypair,
    version: int,
    balance_a: int,
    balance_b: int,
    *,
    genesis: bytes = GENESIS,
) -> Propose:
    state = ChannelState(params.channel_id, version, max(balance_a, 0), max(balance_b, 0))
    signature = sign_state(signer, genesis, state)
    return Propose(params.channel_id, genesis, version, balance_a, balance_b, signature)


async def test_refused_messages_get_a_reject_and_change_nothing(
    party_pair: PartyPair, alice: Keypair, bob: Keypair
) -> None:
    params, cid, b = party_pair.params, party_pair.channel_id, party_pair.b
    for _ in range(3):
        await party_pair.a.pay(cid, 1 * CC)
    old = propose(params, alice, 2, 8 * CC, 7 * CC)  # a valid version 2: now a replay
    wire = await raw_link(b, cid)
    total = params.total
    cases: list[tuple[str, bytes]] = [
        ("malformed", b"\0\0\0\2{]"),
        ("malformed", encode(old)[:-1]),
        ("oversize", (MAX_BODY + 1).to_bytes(4, "big") + b"x" * (MAX_BODY + 1)),
        (
            "channel",
            encode(replace(propose(params, alice, 4, 6 * CC, 9 * CC), channel_id=b"\1" * 32)),
        ),
        ("chain", encode(propose(params, alice, 4, 6 * CC, 9 * CC, genesis=b"\2" * 32))),
        ("replay", encode(old)),
        ("replay", encode(propose(params, alice, 3, 6 * CC, 9 * CC))),
        ("version", encode(propose(params, alice, 5, 6 * CC, 9 * CC))),
        ("balance", encode(propose(params, alice, 4, 6 * CC, 8 * CC))),
        ("balance", encode(propose(params, alice, 4, -1, total + 1))),
        ("balance", encode(propose(params, alice, 4, total + 1, 0))),
        ("signature", encode(propose(params, bob, 4, 6 * CC, 9 * CC))),
        (
            "signature",
            encode(
                replace(
                    propose(params, alice, 4, 6 * CC, 9 * CC), balance_a=5 * CC, balance_b=10 * CC
                )
            ),
        ),
    ]
    stored = party_pair.store_b.load(cid)
    for code, frame in cases:
        await wire.send(frame)
        reply = decode(await asyncio.wait_for(wire.recv(), 5))
        assert isinstance(reply, Reject), code
        assert reply.code == code, (code, reply.reason)
        assert party_pair.store_b.load(cid) == stored, code
        assert b.channel(cid).record() == stored, code
    assert [i.error.code for i in b.incidents] == [code for code, _ in cases]
    # The channel still works afterwards.
    good = propose(params, alice, 4, 6 * CC, 9 * CC)
    await wire.send(encode(good))
    reply = decode(await asyncio.wait_for(wire.recv(), 5))
    assert reply.version == 4 and not isinstance(reply, Reject)
    assert party_pair.store_b.latest_cosigned(cid).version == 4


async def test_lost_frames_are_recovered_by_resending(
    tmp_path: Path, alice: Keypair, bob: Keypair, params: ChannelParams
) -> None:
    pair = await link_parties(tmp_path, alice, bob, params, timeout=0.2)
    cid = params.channel_id
    end_a, end_b = MemoryTransport.pair(loss_pattern=[True, False])
    await pair.a.attach(cid, end_a)
    await pair.b.attach(cid, end_b)
    with pytest.raises(PeerTimeoutError):
        await pair.a.pay(cid, 3)  # the proposal is lost
    with pytest.raises(InDoubtError):
        await pair.a.pay(cid, 3)
    resolved = None
    for _ in range(4):  # re-sent: the countersign is lost, then the proposal, ...
        try:
            resolved = await pair.a.resolve(cid)
            break
        except PeerTimeoutError:
            continue
    assert resolved is not None and resolved.version == 1
    assert pair.b.channel(cid).latest == resolved
    assert pair.b.channel(cid).update_id == 1  # re-sent proposals changed nothing
    assert end_a.dropped >= 1 and end_b.dropped >= 1
    await close_pair(pair)


async def test_a_proposal_from_b_is_refused_as_a_protocol_error(
    party_pair: PartyPair, bob: Keypair
) -> None:
    """A peer that ignores the proposer-only rule gets a ``proposer`` reject; nothing is
    stored and the channel goes on."""
    params, cid, a = party_pair.params, party_pair.channel_id, party_pair.a
    wire = await raw_link(a, cid)
    stored = party_pair.store_a.load(cid)
    await wire.send(encode(propose(params, bob, 1, 11 * CC, 4 * CC)))
    reply = decode(await asyncio.wait_for(wire.recv(), 5))
    assert isinstance(reply, Reject) and reply.code == "proposer"
    assert reply.cancel_signature is None
    assert party_pair.store_a.load(cid) == stored and a.channel(cid).failed is None
    assert [i.error.code for i in a.incidents] == ["proposer"]


async def test_policy_refusal(
    tmp_path: Path, alice: Keypair, bob: Keypair, params: ChannelParams
) -> None:
    def no_bad_tasks(channel: Channel, proposed: ChannelState, memo: str) -> bool:
        return memo != "bad" and proposed.balance_of(channel.me) >= channel.balance

    guarded: list[SignedState] = []
    pair = await link_parties(tmp_path, alice, bob, params, policy_b=no_bad_tasks)
    cid = params.channel_id
    await pair.a.pay(cid, 1)
    pair.a._guardian = lambda info, signed: guarded.append(signed)
    with pytest.raises(ProposalRejectedError) as caught:
        await pair.a.pay(cid, 1, memo="bad")
    assert caught.value.code == "policy" and caught.value.version == 2
    assert caught.value.cancel_version == 3
    # A stored the co-signed cancel (version 3, the balances of version 1) as its latest
    # and handed it to its guardian; B stored that it never signs version 3 or older.
    cancel = pair.store_a.load(cid).latest
    assert cancel.version == 3 and cancel.co_signed and guarded == [cancel]
    assert cancel.state.balance_b == pair.store_b.load(cid).latest.state.balance_b
    assert pair.store_b.load(cid).cancelled == 3 and pair.store_b.load(cid).latest.version == 1
    assert (await pair.a.pay(cid, 1)).version == 4
    await close_pair(pair)


async def test_in_progress_persistence_holds_the_countersign(
    tmp_path: Path, alice: Keypair, bob: Keypair, params: ChannelParams
) -> None:
    slow = HeldCosignStore(SqliteChannelStore(tmp_path / "bob.db"))
    a = ChannelParty(alice, SqliteChannelStore(tmp_path / "alice.db"), genesis_hash=GENESIS)
    b = ChannelParty(bob, slow, genesis_hash=GENESIS)
    cid = params.channel_id
    a.add_channel(params)
    b.add_channel(params)
    end_a, end_b = MemoryTransport.pair()
    await a.attach(cid, end_a)
    await b.attach(cid, end_b)
    payment = asyncio.create_task(a.pay(cid, 5))
    await eventually(lambda: len(slow.held) == 1, "B's co-signed update in the store")
    for _ in range(50):
        await asyncio.sleep(0)
    assert not payment.done() and len(slow.held) == 1 and end_b.sent == 0
    update = slow.held.pop()
    assert slow.inner.update_persisted_channel(update) is PersistStatus.COMPLETED
    b.persisted(cid, update.update_id)
    assert (await payment).version == 1
    await a.aclose()
    await b.aclose()


class BrokenStore(HeldCosignStore):
    def update_persisted_channel(self, update: ChannelUpdate) -> PersistStatus:
        return PersistStatus.UNRECOVERABLE_ERROR


async def test_store_failure_freezes_without_sending(
    tmp_path: Path, alice: Keypair, bob: Keypair, params: ChannelParams
) -> None:
    a = ChannelParty(
        alice, SqliteChannelStore(tmp_path / "alice.db"), genesis_hash=GENESIS, timeout=0.5
    )
    b = ChannelParty(
        bob, BrokenStore(SqliteChannelStore(tmp_path / "bob.db")), genesis_hash=GENESIS
    )
    cid = params.channel_id
    a.add_channel(params)
    b.add_channel(params)
    end_a, end_b = MemoryTransport.pair()
    await a.attach(cid, end_a)
    await b.attach(cid, end_b)
    with pytest.raises(PeerTimeoutError):
        await a.pay(cid, 5)
    assert end_b.sent == 0
    assert b.channel(cid).failed is not None
    await a.aclose()
    await b.aclose()


async def test_restart_from_the_store(
    tmp_path: Path, alice: Keypair, bob: Keypair, params: ChannelParams
) -> None:
    pair = await link_parties(tmp_path, alice, bob, params)
    cid = params.channel_id
    for _ in range(10):
        await pair.a.pay(cid, 7)
    latest = pair.a.channel(cid).latest
    await close_pair(pair)
    again = await link_parties(tmp_path, alice, bob, params)
    assert again.a.channel(cid).latest == latest == again.b.channel(cid).latest
    assert (await again.a.pay(cid, 7)).version == 11
    await close_pair(again)
