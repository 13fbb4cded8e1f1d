"""Unilateral closes and challenges of pallet-channels on the real runtime (Chopsticks
dev chain), through ccnet.client and ccnet.channels:

- the negative matrix of ``close_unilateral`` and ``challenge``: a forged A or B
  signature, close-domain signatures, another channel's signatures, a ``<Bytes>``-wrapped
  signature, balances that do not add up, a missing signature, an outsider, a state
  that is not newer, a challenge exactly at ``challenge_ends`` (taken) and one block
  after (refused), and a settle before the period is over;
- the close while our own proposal is outstanding: the peer registers the newer state
  it holds co-signed, and we end with our balance in that proposal, never lower;
- the watchtower's start-up sweep for a close made while it was down;
- replay across chain instances: two dev chains from the same raw spec share a genesis
  hash, but channel ids hash the parent block, so a state of one never verifies or
  closes on the other; and Root's ``set_challenge_period`` there.

Balances are checked to the planck, with the fees of every extrinsic (failed ones pay
too) from receipts and events.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from ccnet.channels import (
    REGISTERED,
    ChannelParams,
    ChannelParty,
    ChannelState,
    MemoryTransport,
    PeerTimeoutError,
    Propose,
    Reject,
    SignedState,
    SqliteChannelStore,
    TowerClient,
    Watchtower,
    WrongChannelError,
    decode,
    encode,
    sign_close,
    sign_state,
    signing_payload,
    verify_state,
)
from ccnet.channels.testing import Ledger, Member, Members, eventually, link_over_tcp
from ccnet.client import CC, Chain, Keypair, Keys, Receipt
from ccnet.client.exceptions import ChannelsError, DispatchError

FundAccount = Callable[..., Keypair]
EVE = Keys.from_uri("//Eve")


def wrapped(keypair: Keypair, genesis: bytes, state: ChannelState) -> bytes:
    """A signature over ``<Bytes>`` + payload + ``</Bytes>`` (polkadot-js ``signRaw``)."""
    return bytes(keypair.sign(b"<Bytes>" + signing_payload(genesis, state) + b"</Bytes>"))


class Refused:
    """Runs extrinsics that must fail with a named error; adds up the fees they paid."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self.fees: dict[str, int] = {}

    def __call__(self, error: str, payer: Keypair, submit: Callable[[], Receipt]) -> None:
        with pytest.raises(DispatchError) as caught:
            submit()
        assert caught.value.name == error, (error, str(caught.value))
        address = str(payer.ss58_address)
        self.fees[address] = self.fees.get(address, 0) + self.ledger.failed_fee(caught.value)


def cosigned(member: Member, channel_id: bytes, version: int) -> SignedState:
    (found,) = [s for s in member.store.history(channel_id) if s.version == version]
    return found


async def test_close_and_challenge_refuse_what_the_pallet_must_refuse(
    ccnet_chain: Chain, make_member: Members, ledger: Ledger
) -> None:
    chain = ccnet_chain
    channels = chain.channels
    payer, payee, outsider = make_member(), make_member(), make_member()
    a, b = payer.party, payee.party
    genesis = chain.genesis_hash
    before = {m.address: ledger.balances(m.address) for m in (payer, payee, outsider)}
    deposit = 10 * CC
    cid = (await a.open(b.address, deposit)).channel_id
    other = (await a.open(b.address, deposit)).channel_id  # the same parties' other channel
    for channel_id in (cid, other):
        await b.join(channel_id)
    linked = await link_over_tcp(a, b, cid)
    for _ in range(4):
        await a.pay(cid, CC)  # versions 1..4: A has 10 - v CC
    await linked.close()
    linked = await link_over_tcp(a, b, other)
    for _ in range(2):
        await a.pay(other, CC)
    await linked.close()
    v1, v2, v3, v4 = (cosigned(payee, cid, v) for v in (1, 2, 3, 4))
    foreign = cosigned(payee, other, 2)  # version 2 of the other channel
    refused = Refused(ledger)
    pk, bk, ok = payer.keypair, payee.keypair, outsider.keypair

    def close(
        keypair: Keypair, state: ChannelState, sig_a: bytes | None, sig_b: bytes | None
    ) -> Callable[[], Receipt]:
        return lambda: channels.close_unilateral(
            keypair, cid, state.version, state.balance_a, state.balance_b, sig_a, sig_b
        )

    def challenge(
        keypair: Keypair, state: ChannelState, sig_a: bytes, sig_b: bytes
    ) -> Callable[[], Receipt]:
        return lambda: channels.challenge(
            keypair, cid, state.version, state.balance_a, state.balance_b, sig_a, sig_b
        )

    s2 = v2.state
    odd = replace(s2, balance_b=s2.balance_b + 1)
    assert v2.signature_a and v2.signature_b and foreign.signature_a and foreign.signature_b
    bad_states: list[tuple[str, ChannelState, bytes | None, bytes | None]] = [
        ("BadSignatureA", s2, sign_state(EVE, genesis, s2), v2.signature_b),
        ("BadSignatureB", s2, v2.signature_a, sign_state(EVE, genesis, s2)),
        ("BadSignatureA", s2, sign_close(pk, genesis, s2), sign_close(bk, genesis, s2)),
        (
            "BadSignatureA",
            replace(foreign.state, channel_id=cid),
            foreign.signature_a,
            foreign.signature_b,
        ),
        ("BadSignatureA", s2, wrapped(pk, genesis, s2), v2.signature_b),
        ("BalanceMismatch", odd, sign_state(pk, genesis, odd), sign_state(bk, genesis, odd)),
    ]
    # close_unilateral: every bad state, an unsigned update, and an outsider.
    for error, state, sig_a, sig_b in bad_states:
        refused(error, pk, close(pk, state, sig_a, sig_b))
    refused("MissingSignature", pk, close(pk, s2, None, None))
    refused("NotParty", ok, close(ok, s2, v2.signature_a, v2.signature_b))
    info = channels.channel(cid)
    assert info is not None and info.closing is None  # nothing was registered

    # A registers version 1 (stale); B answers.
    stale = channels.close_unilateral(
        pk, cid, 1, v1.state.balance_a, v1.state.balance_b, v1.signature_a, v1.signature_b
    )
    ends = int(stale.expect("Channels", "ChannelClosing")["challenge_ends"])
    for error, state, sig_a, sig_b in bad_states:
        assert sig_a is not None and sig_b is not None
        refused(error, bk, challenge(bk, state, sig_a, sig_b))
    assert v1.signature_a and v1.signature_b and v3.signature_a and v3.signature_b
    refused("NotNewer", bk, challenge(bk, v1.state, v1.signature_a, v1.signature_b))
    registered = channels.challenge(
        bk, cid, 2, s2.balance_a, s2.balance_b, v2.signature_a, v2.signature_b
    )
    event = registered.expect("Channels", "ChannelChallenged")
    assert (event["version"], event["challenge_ends"]) == (2, ends)  # not extended
    refused("NotNewer", bk, challenge(bk, s2, v2.signature_a, v2.signature_b))
    refused("ChallengePeriodNotOver", pk, lambda: channels.settle(pk, cid))
    # Exactly at challenge_ends: taken (an outsider may register, e.g. a watchtower).
    assert ends - chain.block_number() - 1 > 0
    chain.new_blocks(ends - chain.block_number() - 1)
    at_end = channels.challenge(
        ok, cid, 3, v3.state.balance_a, v3.state.balance_b, v3.signature_a, v3.signature_b
    )
    assert chain.block_number() == ends
    assert at_end.expect("Channels", "ChannelChallenged")["version"] == 3
    # One block after: refused; settle pays version 3.
    assert v4.signature_a and v4.signature_b
    refused("ChallengePeriodOver", bk, challenge(bk, v4.state, v4.signature_a, v4.signature_b))
    settle = channels.settle(ok, cid)
    settled = settle.expect("Channels", "ChannelClosed")
    assert (settled["version"], settled["balance_a"], settled["balance_b"]) == (3, 7 * CC, 3 * CC)
    linked = await link_over_tcp(a, b, other)
    await a.close_cooperatively(other)  # A paid 2 CC on the other channel
    await linked.close()

    fees = {
        outsider.address: at_end.fee + settle.fee + refused.fees[ok.ss58_address],
        payer.address: ledger.fees(a.receipts) + stale.fee + refused.fees[pk.ss58_address],
        payee.address: ledger.fees(b.receipts) + registered.fee + refused.fees[bk.ss58_address],
    }
    after = {m.address: ledger.balances(m.address) for m in (payer, payee, outsider)}
    assert after[payer.address] == (
        before[payer.address][0] - fees[payer.address] - 3 * CC - 2 * CC,
        before[payer.address][1],
    )
    assert after[payee.address] == (
        before[payee.address][0] - fees[payee.address] + 3 * CC + 2 * CC,
        before[payee.address][1],
    )
    assert after[outsider.address] == (
        before[outsider.address][0] - fees[outsider.address],
        before[outsider.address][1],
    )


class Muted:
    """A transport end that stops sending once :attr:`muted` is set (the peer's answers
    are lost, or withheld), and still receives."""

    def __init__(self, inner: MemoryTransport) -> None:
        self.inner = inner
        self.muted = False

    async def send(self, frame: bytes) -> None:
        if not self.muted:
            await self.inner.send(frame)

    async def recv(self) -> bytes:
        return await self.inner.recv()

    async def close(self) -> None:
        await self.inner.close()


async def test_close_while_our_proposal_is_outstanding(
    ccnet_chain: Chain, make_member: Members, ledger: Ledger
) -> None:
    """A's proposal of version 4 is co-signed by B, whose answer never comes back. A
    closes at once with version 3 (no in-doubt refusal); B registers version 4; A ends
    with its balance in its outstanding proposal, B with its latest co-signed one."""
    chain = ccnet_chain
    payer, payee = make_member(timeout=1.0), make_member()
    a, b = payer.party, payee.party
    before = {m.address: ledger.balances(m.address) for m in (payer, payee)}
    deposit = 10 * CC
    cid = (await a.open(b.address, deposit)).channel_id
    await b.join(cid)
    end_a, end_b = MemoryTransport.pair()
    muted = Muted(end_b)
    await a.attach(cid, end_a)
    await b.attach(cid, muted)
    for _ in range(3):
        await a.pay(cid, CC)
    muted.muted = True  # B's answers are lost from now on
    with pytest.raises(PeerTimeoutError):
        await a.pay(cid, CC)
    assert a.channel(cid).pending is not None and a.channel(cid).latest.version == 3
    assert b.channel(cid).latest.version == 4  # B holds version 4 co-signed

    closing = await a.close_unilaterally(cid)
    assert closing.expect("Channels", "ChannelClosing")["version"] == 3
    registered = await b.answer_stale_close(cid)
    assert registered is not None
    assert registered.expect("Channels", "ChannelChallenged")["version"] == 4
    chain.new_blocks(chain.channels.challenge_period())
    settled = (await b.settle(cid)).expect("Channels", "ChannelClosed")
    assert (settled["version"], settled["balance_a"]) == (4, 6 * CC)
    after = {m.address: ledger.balances(m.address) for m in (payer, payee)}
    assert after[payer.address] == (
        before[payer.address][0] - ledger.fees(a.receipts) - 4 * CC,
        before[payer.address][1],
    )
    assert after[payee.address] == (
        before[payee.address][0] - ledger.fees(b.receipts) + 4 * CC,
        before[payee.address][1],
    )


async def test_watchtower_sweeps_a_close_made_while_it_was_down(
    ccnet_chain: Chain,
    make_member: Members,
    fund_account: FundAccount,
    ledger: Ledger,
    tmp_path: Path,
) -> None:
    """B hands its states to a tower's file; the tower is down when A registers version
    1 of 3. Started before the period is over, its sweep of the Channels storage finds
    the close and registers version 3."""
    chain = ccnet_chain
    tower_db = tmp_path / "tower.db"
    client = TowerClient(tower_db)
    cheater, payee = make_member(), make_member(guardian=client)
    a, b = cheater.party, payee.party
    before = {m.address: ledger.balances(m.address) for m in (cheater, payee)}
    cid = (await a.open(b.address, 5 * CC)).channel_id
    await b.join(cid)
    linked = await link_over_tcp(a, b, cid)
    for _ in range(3):
        await a.pay(cid, CC)
    await linked.close()
    b = (await make_member.restart(payee)).party  # B goes away (and its tower is down)
    stale = cosigned(cheater, cid, 1)
    cheat = await asyncio.to_thread(
        chain.channels.close_unilateral,
        cheater.keypair,
        cid,
        1,
        stale.state.balance_a,
        stale.state.balance_b,
        stale.signature_a,
        stale.signature_b,
    )
    chain.new_blocks(5)  # time passes, within the 20-block period

    tower_key = fund_account(10 * CC)
    tower = Watchtower(chain, tower_key, tower_db)
    tower.start(poll_interval=0.1)
    await eventually(lambda: bool(tower.challenges), "the start-up sweep's challenge", 60)
    tower.stop()
    (challenge,) = tower.challenges
    assert (challenge.closed_version, challenge.version, challenge.outcome) == (1, 3, REGISTERED)
    chain.new_blocks(chain.channels.challenge_period())
    assert (await b.answer_stale_close(cid)) is None  # the tower did it; B just settles
    await b.settle(cid)
    fees_a = ledger.fees(a.receipts) + cheat.fee
    after = {m.address: ledger.balances(m.address) for m in (cheater, payee)}
    assert after[cheater.address] == (
        before[cheater.address][0] - fees_a - 3 * CC,
        before[cheater.address][1],
    )
    assert after[payee.address] == (
        before[payee.address][0] - ledger.fees(b.receipts) + 3 * CC,
        before[payee.address][1],
    )
    tower.close()
    client.close()


def funded(chain: Chain, keypair: Keypair) -> None:
    chain.transfer(Keys.from_uri("//Ferdie"), str(keypair.ss58_address), 1000 * CC)


async def test_states_do_not_replay_on_another_chain_from_the_same_spec(
    ccnet_chain: Chain, second_chain: Chain, tmp_path: Path
) -> None:
    """The same two accounts have a channel on each chain. States co-signed on the first
    do not verify, close or get countersigned on the second, and the second's balances
    come out exact."""
    first, second = ccnet_chain, second_chain
    assert first.genesis_hash == second.genesis_hash  # the replay the ids must stop
    alice, bob = Keys.generate()[0], Keys.generate()[0]
    for chain in (first, second):
        for who in (alice, bob):
            await asyncio.to_thread(funded, chain, who)
    stores = {
        name: SqliteChannelStore(tmp_path / f"{name}.db") for name in ("a1", "b1", "a2", "b2")
    }
    a1 = ChannelParty(alice, stores["a1"], chain=first)
    b1 = ChannelParty(bob, stores["b1"], chain=first)
    a2 = ChannelParty(alice, stores["a2"], chain=second)
    b2 = ChannelParty(bob, stores["b2"], chain=second)
    free = {who.ss58_address: second.free_balance(who.ss58_address) for who in (alice, bob)}
    cid1 = (await a1.open(bob.ss58_address, 5 * CC)).channel_id
    await b1.join(cid1)
    cid2 = (await a2.open(bob.ss58_address, 5 * CC)).channel_id
    await b2.join(cid2)
    assert cid1 != cid2
    linked = await link_over_tcp(a1, b1, cid1)
    for _ in range(3):
        await a1.pay(cid1, CC)
    await linked.close()
    replayed = b1.channel(cid1).latest
    assert replayed.signature_a is not None and replayed.signature_b is not None

    # Off chain: the first chain's state is not a state of the second's channel.
    params2: ChannelParams = b2.channel(cid2).info
    moved = replace(replayed.state, channel_id=cid2)
    assert not verify_state(params2.party_a, params2.genesis_hash, moved, replayed.signature_a)
    assert not verify_state(params2.party_b, params2.genesis_hash, moved, replayed.signature_b)
    # B on the second chain refuses the first chain's proposal of version 1.
    (one,) = [s for s in stores["a1"].history(cid1) if s.version == 1]
    assert one.signature_a is not None
    ours, theirs = MemoryTransport.pair()
    await b2.attach(cid2, theirs)
    state = one.state
    await ours.send(
        encode(
            Propose(cid1, first.genesis_hash, 1, state.balance_a, state.balance_b, one.signature_a)
        )
    )
    reply = decode(await asyncio.wait_for(ours.recv(), 10))
    assert isinstance(reply, Reject) and reply.code == WrongChannelError.code
    await b2.aclose()

    # On chain: neither the first chain's id nor its signatures close the second's.
    sig_a, sig_b = replayed.signature_a, replayed.signature_b
    fees = 0
    for channel_id, error in ((cid1, "UnknownChannel"), (cid2, "BadSignatureA")):
        with pytest.raises(ChannelsError) as caught:
            await asyncio.to_thread(
                second.channels.close_unilateral,
                bob,
                channel_id,
                3,
                replayed.state.balance_a,
                replayed.state.balance_b,
                sig_a,
                sig_b,
            )
        assert caught.value.name == error
        fees += Ledger(second).failed_fee(caught.value)
    assert second.channels.channel(cid2) is not None
    # The second channel pays out its own (opening) state, exactly.
    await a2.close_unilaterally(cid2)
    second.new_blocks(second.channels.challenge_period())
    await a2.settle(cid2)
    assert second.free_balance(alice.ss58_address) == free[alice.ss58_address] - sum(
        r.fee for r in a2.receipts
    )
    assert second.free_balance(bob.ss58_address) == free[bob.ss58_address] - fees - sum(
        r.fee for r in b2.receipts
    )
    for party in (a1, b1, a2):
        await party.aclose()
    for store in stores.values():
        store.close()


def test_root_sets_the_challenge_period_of_new_channels(second_chain: Chain) -> None:
    """On the second chain (the session chain keeps its 20 blocks): Root sets 12 blocks;
    channels opened from then on get 12, older ones keep theirs; below the minimum, or
    without Root, it is refused."""
    chain = second_chain
    channels = chain.channels
    root, a, b = Keys.from_uri("//Alice"), Keys.generate()[0], Keys.generate()[0]
    funded(chain, a)
    old = channels.opened_channel_id(channels.open(a, b.ss58_address, CC))
    period = channels.challenge_period()
    receipt = channels.set_challenge_period(root, 12)
    assert receipt.expect("Channels", "ChallengePeriodSet")["period"] == 12
    assert channels.challenge_period() == 12
    new = channels.opened_channel_id(channels.open(a, b.ss58_address, CC))
    for cid, expected in ((old, period), (new, 12)):
        info = channels.channel(cid)
        assert info is not None and info.challenge_period == expected
    with pytest.raises(ChannelsError) as caught:
        channels.set_challenge_period(root, channels.min_challenge_period() - 1)
    assert caught.value.name == "ChallengePeriodTooShort"
    with pytest.raises(DispatchError):
        channels.set_challenge_period(a, 30)  # not the sudo key
    channels.set_challenge_period(root, period)
