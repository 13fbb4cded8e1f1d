"""The cooperative close agreement (ccnet.channels.channel/party) over in-memory
transports: the round trip, every refusal (a ``reject`` and no store change), the
durable freeze (before any close signature leaves, across restarts, against later
updates), crossing and simultaneous requests, a missing peer, and the submission with
close signatures."""

from __future__ import annotations

import asyncio
import sqlite3
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest
from substrateinterface import Keypair

from ccnet.channels import (
    Channel,
    ChannelParams,
    ChannelParty,
    ChannelRecord,
    ChannelState,
    ChannelStateError,
    CloseAccept,
    CloseRefusedError,
    CloseRequest,
    ClosingAgreement,
    Countersign,
    InDoubtError,
    MemoryTransport,
    Party,
    PeerTimeoutError,
    PendingError,
    Phase,
    ProposalRejectedError,
    Propose,
    Reject,
    SignedState,
    SqliteChannelStore,
    Transport,
    TransportClosedError,
    UnknownChannelError,
    UpdateKind,
    decode,
    encode,
    sign_close,
    sign_state,
    verify_close,
    verify_state,
)
from ccnet.channels.party import CLOSE_ATTEMPTS
from ccnet.channels.testing import TEST_GENESIS as GENESIS
from ccnet.channels.testing import PartyPair, close_pair, link_parties
from ccnet.client.exceptions import ChannelsError

CC = 10**12


def sent(transport: Transport) -> int:
    """Frames sent so far on a memory transport end."""
    assert isinstance(transport, MemoryTransport)
    return transport.sent


async def answer(wire: MemoryTransport, frame: bytes) -> Any:
    await wire.send(frame)
    return decode(await asyncio.wait_for(wire.recv(), 5))


async def raw_link(party: ChannelParty, cid: bytes) -> MemoryTransport:
    """Attach *party* to a transport whose other end the test drives by hand."""
    ours, theirs = MemoryTransport.pair()
    await party.attach(cid, theirs)
    return ours


def close_request(signer: Keypair, state: ChannelState) -> CloseRequest:
    signature = sign_close(signer, GENESIS, state)
    return CloseRequest(
        state.channel_id, state.version, state.balance_a, state.balance_b, signature
    )


def check_agreement(agreement: ClosingAgreement, params: ChannelParams) -> None:
    """Both close signatures verify under the close domain (and are not update ones)."""
    assert agreement.complete
    agreement.verify(params)
    for key, signature in (
        (params.party_a, agreement.signature_a),
        (params.party_b, agreement.signature_b),
    ):
        assert signature is not None
        assert verify_close(key, GENESIS, agreement.state, signature)
        assert not verify_state(key, GENESIS, agreement.state, signature)


async def test_agree_close_round_trip(party_pair: PartyPair) -> None:
    a, b, cid = party_pair.a, party_pair.b, party_pair.channel_id
    for _ in range(3):
        await a.pay(cid, CC)
    latest = a.channel(cid).latest
    agreement = await a.agree_close(cid)
    assert agreement.state == latest.state and agreement.version == 3
    check_agreement(agreement, party_pair.params)
    assert b.channel(cid).closing == agreement
    assert party_pair.store_a.load(cid).closing == agreement
    assert party_pair.store_b.load(cid).closing == agreement
    # Asked again: the stored agreement, nothing sent.
    frames = sent(party_pair.transport_a)
    assert await a.agree_close(cid) == agreement
    assert sent(party_pair.transport_a) == frames
    # Frozen on both sides: no more updates.
    assert a.channel(cid).frozen and b.channel(cid).frozen
    with pytest.raises(ChannelStateError, match="frozen"):
        await a.pay(cid, 1)
    with pytest.raises(ChannelStateError, match="frozen"):
        await a.propose(cid, 7 * CC, 8 * CC)
    assert a.channel(cid).latest == b.channel(cid).latest == latest
    assert not a.incidents and not b.incidents


async def test_close_on_the_opening_state(party_pair: PartyPair) -> None:
    """Before any update the close is on the deposits (version 0): one round trip."""
    agreement = await party_pair.b.agree_close(party_pair.channel_id)
    assert agreement.state == party_pair.params.opening_state()
    check_agreement(agreement, party_pair.params)
    assert sent(party_pair.transport_b) == 1 and sent(party_pair.transport_a) == 1
    assert party_pair.a.channel(party_pair.channel_id).closing == agreement


async def test_refused_close_requests_get_a_reject_and_change_nothing(
    party_pair: PartyPair, alice: Keypair, bob: Keypair
) -> None:
    params, cid, b = party_pair.params, party_pair.channel_id, party_pair.b
    for _ in range(3):
        await party_pair.a.pay(cid, CC)
    latest = b.channel(cid).latest
    assert latest.version == 3 and latest.state.balance_a == 7 * CC
    older = party_pair.store_b.history(cid)[1].state
    good = close_request(alice, latest.state)
    assert latest.signature_a is not None
    cases: list[tuple[str, CloseRequest]] = [
        ("replay", close_request(alice, older)),
        ("version", close_request(alice, ChannelState(cid, 4, 6 * CC, 9 * CC))),
        ("balance", close_request(alice, ChannelState(cid, 3, 6 * CC, 9 * CC))),
        ("balance", close_request(alice, ChannelState(cid, 3, 7 * CC, 9 * CC))),
        ("balance", replace(good, balance_a=-1)),
        ("signature", close_request(bob, latest.state)),  # B's own key
        ("signature", replace(good, signature=latest.signature_a)),  # an update signature
        ("signature", replace(good, signature=bytes(64))),
        ("signature", replace(good, signature=close_request(alice, older).signature)),
        ("signature", replace(good, signature=sign_close(alice, b"\2" * 32, latest.state))),
        ("channel", replace(good, channel_id=b"\1" * 32)),
    ]
    wire = await raw_link(b, cid)
    stored = party_pair.store_b.load(cid)
    for code, request in cases:
        reply = await answer(wire, encode(request))
        assert isinstance(reply, Reject), code
        assert (reply.code, reply.version) == (code, request.version), (code, reply.reason)
        assert party_pair.store_b.load(cid) == stored, code
        assert b.channel(cid).record() == stored and not b.channel(cid).frozen, code
    assert [i.error.code for i in b.incidents] == [code for code, _ in cases]

    accepted = await answer(wire, encode(good))
    assert isinstance(accepted, CloseAccept) and accepted.version == 3
    assert verify_close(params.party_b, GENESIS, latest.state, accepted.signature)
    closing = party_pair.store_b.load(cid).closing
    assert closing is not None and closing.complete and closing.state == latest.state
    # The same request again: the same answer, no store change.
    update_id = party_pair.store_b.load(cid).update_id
    assert await answer(wire, encode(good)) == accepted
    assert party_pair.store_b.load(cid).update_id == update_id
    # Frozen: a close of other balances is refused as "closing"; a newer update too,
    # with B's cancel signature of version 5 at the frozen balances (no money moves).
    other = close_request(alice, ChannelState(cid, 3, 6 * CC, 9 * CC))
    assert (await answer(wire, encode(other))).code == "closing"
    state = ChannelState(cid, 4, 6 * CC, 9 * CC)
    propose = Propose(cid, GENESIS, 4, 6 * CC, 9 * CC, sign_state(alice, GENESIS, state))
    refused = await answer(wire, encode(propose))
    assert isinstance(refused, Reject) and refused.code == "closing"
    cancel = ChannelState(cid, 5, 7 * CC, 8 * CC)
    assert refused.cancel_signature is not None
    assert verify_state(params.party_b, GENESIS, cancel, refused.cancel_signature)
    assert party_pair.store_b.load(cid).cancelled == 5
    assert party_pair.store_b.load(cid).update_id == update_id + 1
    # A retransmission of the latest update is still answered (it signs nothing new).
    assert latest.signature_a is not None and latest.signature_b is not None
    again = Propose(cid, GENESIS, 3, 7 * CC, 8 * CC, latest.signature_a)
    countersign = await answer(wire, encode(again))
    assert countersign.signature == latest.signature_b
    assert party_pair.store_b.load(cid).latest == latest
    assert party_pair.store_b.load(cid).closing == closing
    assert party_pair.store_b.load(cid).update_id == update_id + 1


def test_a_pending_proposal_refuses_a_close_request(
    alice: Keypair, bob: Keypair, params: ChannelParams
) -> None:
    opening = SignedState(params.opening_state())
    a = Channel(ChannelRecord(params, Party.A, Phase.FUNDED, opening), alice)
    a.pay(CC)
    before = a.record()
    with pytest.raises(PendingError):
        a.on_close_request(close_request(bob, params.opening_state()))
    assert a.record() == before
    with pytest.raises(InDoubtError):  # nor do we ask while our own proposal is out
        a.request_close()
    assert a.record() == before


def test_after_a_frozen_cancel_both_requests_agree_on_the_higher_version(
    alice: Keypair, bob: Keypair, params: ChannelParams
) -> None:
    """B froze at version 1; A's proposal of version 2 crossed it and was cancelled by
    version 3 (the balances of 1). Both ask to close at once, at versions 1 and 3: both
    end with the agreement at 3 (a close of the same balances, so no money moves)."""
    opening = SignedState(params.opening_state())
    a = Channel(ChannelRecord(params, Party.A, Phase.FUNDED, opening), alice)
    b = Channel(ChannelRecord(params, Party.B, Phase.FUNDED, opening), bob)
    first, _ = a.pay(CC)
    countersign, _ = b.on_propose(first)
    assert isinstance(countersign, Countersign)
    a.on_countersign(countersign)
    request_b, _ = b.request_close()
    crossing, _ = a.pay(CC)
    refusal, cancelled = b.on_propose(crossing)
    assert isinstance(refusal, Reject) and refusal.code == "closing"
    assert cancelled is not None and cancelled.kind is UpdateKind.CANCELLED
    update, error = a.on_reject(refusal)
    assert update is not None and error is not None and error.cancel_version == 3
    request_a, _ = a.request_close()
    assert (request_a.version, request_b.version) == (3, 1)
    # Each request reaches the other frozen side.
    accept_from_a, none = a.on_close_request(request_b)
    assert none is None and accept_from_a.version == 3  # A answers with its own agreement
    accept_from_b, moved = b.on_close_request(request_a)
    assert moved is not None and accept_from_b.version == 3  # B moves up to 3
    completed = a.on_close_accept(accept_from_b)
    assert completed is not None
    assert b.on_close_accept(accept_from_a) is None  # B holds that signature already
    for side in (a, b):
        assert side.closing is not None and side.closing.complete and side.closing.version == 3
        check_agreement(side.closing, params)
    assert a.closing == b.closing
    assert a.closing is not None
    assert (a.closing.state.balance_a, a.closing.state.balance_b) == (
        b.latest.state.balance_a,
        b.latest.state.balance_b,
    )


class Watched:
    """A transport wrapper that checks, at every close message it sends, what another
    SQLite connection sees in the sender's store: the freeze is already committed."""

    def __init__(self, inner: MemoryTransport, db: Path, seen: list[str]) -> None:
        self.inner = inner
        self.db = sqlite3.connect(db)
        self.seen = seen

    async def send(self, frame: bytes) -> None:
        message = decode(frame)
        row = self.db.execute(
            "SELECT close_version, close_signature_a, close_signature_b FROM channels"
        ).fetchone()
        if isinstance(message, CloseRequest):
            assert row[0] == message.version, "close request sent before the freeze committed"
            self.seen.append("request")
        elif isinstance(message, CloseAccept):
            assert row[0] == message.version and row[1] and row[2], "accept before commit"
            self.seen.append("accept")
        await self.inner.send(frame)

    async def recv(self) -> bytes:
        return await self.inner.recv()

    async def close(self) -> None:
        await self.inner.close()
        self.db.close()


async def test_close_signatures_leave_only_after_the_freeze_commits(
    tmp_path: Path, alice: Keypair, bob: Keypair, params: ChannelParams
) -> None:
    pair = await link_parties(tmp_path, alice, bob, params)
    cid = params.channel_id
    await pair.a.pay(cid, CC)
    end_a, end_b = MemoryTransport.pair()
    seen_a: list[str] = []
    seen_b: list[str] = []
    await pair.a.attach(cid, Watched(end_a, tmp_path / "alice.db", seen_a))
    await pair.b.attach(cid, Watched(end_b, tmp_path / "bob.db", seen_b))
    await pair.a.agree_close(cid)
    assert seen_a == ["request"] and seen_b == ["accept"]
    await close_pair(pair)


async def test_freeze_survives_a_restart(
    tmp_path: Path, alice: Keypair, bob: Keypair, params: ChannelParams
) -> None:
    pair = await link_parties(tmp_path, alice, bob, params)
    cid = params.channel_id
    await pair.a.pay(cid, 2 * CC)
    await pair.a.pay(cid, CC)
    agreement = await pair.b.agree_close(cid)
    await close_pair(pair)

    again = await link_parties(tmp_path, alice, bob, params)
    for party in (again.a, again.b):
        assert party.channel(cid).closing == agreement and party.channel(cid).frozen
    with pytest.raises(ChannelStateError, match="frozen"):
        await again.a.pay(cid, 1)
    assert await again.a.agree_close(cid) == agreement  # from the store, no round trip
    assert sent(again.transport_a) == 0
    # A proposal is refused too, with a cancel the proposer completes (nothing in doubt,
    # no money moves).
    await again.b.detach(cid)
    fresh = Channel(again.store_a.load(cid), alice)  # A as if it had missed the close
    fresh._closing = None
    wire = await raw_link(again.b, cid)
    message, _ = fresh.pay(CC)
    reply = await answer(wire, encode(message))
    assert isinstance(reply, Reject) and reply.code == "closing"
    update, error = fresh.on_reject(reply)
    assert isinstance(error, ProposalRejectedError) and error.code == "closing"
    assert fresh.pending is None and update is not None and update.kind is UpdateKind.COSIGNED
    assert fresh.latest.version == 4 and fresh.latest.state.balance_b == agreement.state.balance_b
    assert again.store_b.load(cid).closing == agreement
    await close_pair(again)


async def test_unanswered_request_stays_frozen_and_resumes_after_restart(
    tmp_path: Path, alice: Keypair, bob: Keypair, params: ChannelParams
) -> None:
    pair = await link_parties(tmp_path, alice, bob, params, timeout=0.2)
    cid = params.channel_id
    await pair.a.pay(cid, CC)
    silent = await raw_link(pair.a, cid)  # the peer never answers
    with pytest.raises(PeerTimeoutError, match="close_unilaterally"):
        await pair.a.agree_close(cid)
    request = decode(await silent.recv())
    assert isinstance(request, CloseRequest) and request.version == 1
    frozen = pair.store_a.load(cid).closing
    assert frozen is not None and not frozen.complete
    assert frozen.signature_a == request.signature
    with pytest.raises(ChannelStateError, match="frozen"):
        await pair.a.pay(cid, 1)
    await close_pair(pair)

    again = await link_parties(tmp_path, alice, bob, params)
    agreement = await again.a.agree_close(cid)  # the stored request, sent again
    assert agreement.signature_a == request.signature
    check_agreement(agreement, params)
    assert again.store_b.load(cid).closing == agreement
    await close_pair(again)


async def test_refused_request_keeps_the_requester_frozen(party_pair: PartyPair) -> None:
    a, cid = party_pair.a, party_pair.channel_id
    await a.pay(cid, CC)
    wire = await raw_link(a, cid)

    async def refuse(code: str) -> int:
        requests = 0
        while True:
            request = decode(await wire.recv())
            assert isinstance(request, CloseRequest)
            requests += 1
            await wire.send(encode(Reject(cid, request.version, code, "no")))
            if code != "pending" or requests == CLOSE_ATTEMPTS:
                return requests

    peer = asyncio.create_task(refuse("balance"))
    with pytest.raises(CloseRefusedError) as caught:
        await a.agree_close(cid)
    assert caught.value.code == "balance" and "close_unilaterally" in str(caught.value)
    assert await peer == 1
    closing = party_pair.store_a.load(cid).closing
    assert closing is not None and not closing.complete and a.channel(cid).frozen
    # "pending" is retried (the peer's proposal crossed ours), then given up.
    peer = asyncio.create_task(refuse("pending"))
    with pytest.raises(CloseRefusedError) as caught:
        await a.agree_close(cid)
    assert caught.value.code == "pending" and await peer == CLOSE_ATTEMPTS
    assert party_pair.store_a.load(cid).closing == closing


async def test_crossing_proposal_is_cancelled_and_the_close_retried(
    party_pair: PartyPair,
) -> None:
    """A pays while B asks to close: B (frozen) refuses the payment with a cancel, A
    (pending) refuses the request and re-sends its proposal; B answers it again, A
    completes the cancel, B asks again, and both agree on the balances before."""
    a, b, cid = party_pair.a, party_pair.b, party_pair.channel_id
    await a.pay(cid, CC)
    closed, paid = await asyncio.gather(b.agree_close(cid), a.pay(cid, CC), return_exceptions=True)
    assert isinstance(paid, ProposalRejectedError) and paid.code == "closing"
    assert paid.cancel_version == 3
    assert isinstance(closed, ClosingAgreement) and closed.version == 1
    check_agreement(closed, party_pair.params)
    assert a.channel(cid).closing == closed and a.channel(cid).pending is None
    assert party_pair.store_b.load(cid).cancelled == 3
    assert a.channel(cid).latest.version == 3 and b.channel(cid).latest.version == 1
    assert a.channel(cid).latest.state.balance_b == b.channel(cid).latest.state.balance_b


async def test_simultaneous_requests_both_agree(party_pair: PartyPair) -> None:
    a, b, cid = party_pair.a, party_pair.b, party_pair.channel_id
    await a.pay(cid, CC)
    mine, theirs = await asyncio.gather(a.agree_close(cid), b.agree_close(cid))
    assert mine == theirs
    check_agreement(mine, party_pair.params)
    assert party_pair.store_a.load(cid).closing == party_pair.store_b.load(cid).closing == mine


async def test_no_peer_means_no_freeze(
    tmp_path: Path, alice: Keypair, bob: Keypair, params: ChannelParams
) -> None:
    pair = await link_parties(tmp_path, alice, bob, params, timeout=0.2)
    a, cid = pair.a, params.channel_id
    await a.detach(cid)
    with pytest.raises(TransportClosedError, match="close_unilaterally"):
        await a.agree_close(cid)
    assert not a.channel(cid).frozen and pair.store_a.load(cid).closing is None
    # With our own proposal outstanding (unanswered): resolve() it first.
    wire = await raw_link(a, cid)
    with pytest.raises(PeerTimeoutError):
        await a.pay(cid, CC)
    assert isinstance(decode(await wire.recv()), Propose)
    with pytest.raises(InDoubtError, match="resolve"):
        await a.agree_close(cid)
    assert not a.channel(cid).frozen and pair.store_a.load(cid).closing is None
    await close_pair(pair)


@dataclass
class FakeReceipt:
    fee: int = 1


@dataclass
class FakeChannels:
    calls: list[tuple[Any, ...]] = field(default_factory=list)
    gone: bool = False

    def cooperative_close(self, *args: Any) -> FakeReceipt:
        if self.gone:
            raise ChannelsError("Channels", "UnknownChannel", "No such channel.")
        self.calls.append(args)
        self.gone = True
        return FakeReceipt()


@dataclass
class FakeChain:
    channels: FakeChannels = field(default_factory=FakeChannels)
    genesis_hash: bytes = GENESIS


async def test_close_cooperatively_submits_the_close_signatures(
    tmp_path: Path, alice: Keypair, bob: Keypair, params: ChannelParams
) -> None:
    chain: Any = FakeChain()
    store_a = SqliteChannelStore(tmp_path / "alice.db")
    store_b = SqliteChannelStore(tmp_path / "bob.db")
    a = ChannelParty(alice, store_a, chain=chain, timeout=5)
    b = ChannelParty(bob, store_b, chain=chain, timeout=5)
    cid = params.channel_id
    a.add_channel(params)
    b.add_channel(params)
    end_a, end_b = MemoryTransport.pair()
    await a.attach(cid, end_a)
    await b.attach(cid, end_b)
    for _ in range(4):
        await a.pay(cid, CC)
    latest = a.channel(cid).latest
    receipt = await a.close_cooperatively(cid)
    assert a.receipts == [receipt]
    ((keypair, channel_id, version, balance_a, balance_b, sig_a, sig_b),) = chain.channels.calls
    assert (keypair, channel_id) == (alice, cid)
    assert (version, balance_a, balance_b) == (4, latest.state.balance_a, latest.state.balance_b)
    assert verify_close(params.party_a, GENESIS, latest.state, sig_a)
    assert verify_close(params.party_b, GENESIS, latest.state, sig_b)
    assert (sig_a, sig_b) != (latest.signature_a, latest.signature_b)
    assert store_a.load(cid).phase is Phase.SETTLED
    with pytest.raises(UnknownChannelError):
        a.channel(cid)
    # B holds the agreement too; the chain says the channel is gone already.
    with pytest.raises(ChannelStateError, match="already closed"):
        await b.close_cooperatively(cid)
    assert store_b.load(cid).phase is Phase.SETTLED and len(chain.channels.calls) == 1
    await a.aclose()
    await b.aclose()
    store_a.close()
    store_b.close()


async def test_unilateral_close_is_refused_once_a_close_is_agreed(
    tmp_path: Path, alice: Keypair, bob: Keypair, params: ChannelParams
) -> None:
    """With both close signatures stored, cooperative_close is final at once and needs
    no peer: a unilateral close (which waits for the challenge period) is refused."""

    @dataclass
    class Recording(FakeChannels):
        unilateral: list[tuple[Any, ...]] = field(default_factory=list)

        def close_unilateral(self, *args: Any) -> FakeReceipt:
            self.unilateral.append(args)
            return FakeReceipt()

    chain: Any = FakeChain(channels=Recording())
    pair = await link_parties(tmp_path, alice, bob, params)
    cid = params.channel_id
    await pair.a.pay(cid, CC)
    await pair.a.agree_close(cid)
    await close_pair(pair)
    store = SqliteChannelStore(tmp_path / "bob.db")
    b = ChannelParty(bob, store, chain=chain)
    with pytest.raises(ChannelStateError, match="close_cooperatively"):
        await b.close_unilaterally(cid)
    assert chain.channels.unilateral == [] and store.load(cid).phase is Phase.FUNDED
    store.close()
