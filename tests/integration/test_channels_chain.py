"""Payment channels on the real runtime (Chopsticks dev chain), driven through
ccnet.client: 1,000 off-chain updates closed cooperatively with exactly three
extrinsics, unilateral close and settle, and a stale close refuted by the watchtower.

Every test uses fresh funded accounts (``fund_account``), so balances can be checked
to the planck: ``free_after = free_before - fees - deposit + final balance``.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from ccnet.channels import (
    ChannelParty,
    Guardian,
    Phase,
    SqliteChannelStore,
    StreamTransport,
    TowerClient,
    UnknownChannelError,
    Watchtower,
    connect,
    serve,
)
from ccnet.client import CC, Chain, Keypair, Receipt

FundAccount = Callable[..., Keypair]


def balances(chain: Chain, address: str) -> tuple[int, int]:
    """(free, reserved) of *address*, planck (channel deposits are holds: reserved)."""
    account = chain.query("System", "Account", [address])
    assert account is not None
    return int(account["data"]["free"]), int(account["data"]["reserved"])


def fees(receipts: list[Receipt]) -> int:
    assert all(r.fee > 0 for r in receipts)
    return sum(r.fee for r in receipts)


def signers_between(chain: Chain, first: int, last: int) -> list[str]:
    """The signer of every signed extrinsic in blocks *first*..*last*."""
    found: list[str] = []
    with chain.lock:
        for number in range(first, last + 1):
            block = chain.api.get_block(block_number=number)
            for extrinsic in block["extrinsics"]:
                address = extrinsic.value.get("address")
                if address:
                    found.append(str(address))
    return found


@dataclass
class Linked:
    a: ChannelParty
    b: ChannelParty
    server: Any

    async def close(self) -> None:
        await self.a.aclose()
        await self.b.aclose()
        self.server.close()
        await self.server.wait_closed()


async def link_over_tcp(a: ChannelParty, b: ChannelParty, channel_id: bytes) -> Linked:
    """B listens on 127.0.0.1, A connects; both attach to *channel_id*."""

    async def on_connect(transport: StreamTransport) -> None:
        await b.attach(channel_id, transport)

    server = await serve(on_connect)
    await a.attach(channel_id, await connect("127.0.0.1", server.sockets[0].getsockname()[1]))
    return Linked(a, b, server)


@dataclass
class Member:
    """A channel party with its key and store, as a test needs them."""

    party: ChannelParty
    keypair: Keypair
    store: SqliteChannelStore


MakeMember = Callable[..., Member]


@pytest.fixture
async def make_member(
    ccnet_chain: Chain, fund_account: FundAccount, tmp_path: Path
) -> AsyncIterator[MakeMember]:
    """``make_member(guardian=None)``: a fresh funded account (1000 CC) as a channel
    party with its own SQLite store; detached and closed after the test."""
    made: list[Member] = []

    def make(guardian: Guardian | None = None) -> Member:
        keypair = fund_account()
        store = SqliteChannelStore(tmp_path / f"party-{len(made)}.db")
        party = ChannelParty(keypair, store, chain=ccnet_chain, guardian=guardian)
        made.append(Member(party, keypair, store))
        return made[-1]

    try:
        yield make
    finally:
        for member in made:
            await member.party.aclose()
            member.store.close()


@pytest.fixture
def parties(make_member: MakeMember) -> tuple[ChannelParty, ChannelParty]:
    """Two fresh parties."""
    return make_member().party, make_member().party


async def test_thousand_updates_three_extrinsics(
    ccnet_chain: Chain, parties: tuple[ChannelParty, ChannelParty]
) -> None:
    a, b = parties
    chain = ccnet_chain
    deposit_a, deposit_b = 100 * CC, 50 * CC
    before_a, before_b = balances(chain, a.address), balances(chain, b.address)
    nonce_a, nonce_b = (chain.account_next_index(p.address) for p in (a, b))
    first_block = chain.block_number() + 1

    channel = await a.open(b.address, deposit_a, deposit_b)
    assert channel.phase is Phase.OPENING
    cid = channel.channel_id
    assert (await b.join(cid)).phase is Phase.FUNDED
    assert await a.refresh(cid) is Phase.FUNDED
    linked = await link_over_tcp(a, b, cid)

    rng = random.Random(1000)
    expected_a, expected_b = deposit_a, deposit_b
    for i in range(1000):
        if i % 5 == 4:  # every fifth update goes the other way
            amount = rng.randrange(1, 10**9)
            await b.pay(cid, amount, memo=f"refund {i}")
            expected_a, expected_b = expected_a + amount, expected_b - amount
        else:
            amount = rng.randrange(1, 10**10)
            await a.pay(cid, amount, memo=f"task {i}")
            expected_a, expected_b = expected_a - amount, expected_b + amount
    latest = a.channel(cid).latest
    assert latest == b.channel(cid).latest and latest.version == 1000
    assert (latest.state.balance_a, latest.state.balance_b) == (expected_a, expected_b)

    receipt = await a.close_cooperatively(cid)
    closed = receipt.expect("Channels", "ChannelClosed").attributes
    assert (closed["version"], closed["balance_a"], closed["balance_b"]) == (
        1000,
        expected_a,
        expected_b,
    )
    await linked.close()

    # Exactly open, fund and close: counted three ways.
    assert [len(a.receipts), len(b.receipts)] == [2, 1]
    assert chain.account_next_index(a.address) - nonce_a == 2
    assert chain.account_next_index(b.address) - nonce_b == 1
    signers = signers_between(chain, first_block, chain.block_number())
    assert sorted(s for s in signers if s in (a.address, b.address)) == sorted(
        [a.address, a.address, b.address]
    )
    assert chain.channels.channel(cid) is None

    # Balances exact to the planck.
    after_a, after_b = balances(chain, a.address), balances(chain, b.address)
    assert after_a == (before_a[0] - fees(a.receipts) - deposit_a + expected_a, before_a[1])
    assert after_b == (before_b[0] - fees(b.receipts) - deposit_b + expected_b, before_b[1])


async def test_unilateral_close_and_settle(
    ccnet_chain: Chain, parties: tuple[ChannelParty, ChannelParty]
) -> None:
    a, b = parties
    chain = ccnet_chain
    deposit = 20 * CC
    before_a, before_b = balances(chain, a.address), balances(chain, b.address)
    channel = await a.open(b.address, deposit)  # one-way: funded at once
    cid = channel.channel_id
    assert channel.phase is Phase.FUNDED
    await b.join(cid)
    linked = await link_over_tcp(a, b, cid)
    for _ in range(5):
        await a.pay(cid, 3 * CC)
    await linked.close()

    receipt = await b.close_unilaterally(cid)
    closing = receipt.expect("Channels", "ChannelClosing").attributes
    assert closing["version"] == 5 and closing["closer"] == b.address
    info = chain.channels.channel(cid)
    assert info is not None and info.closing is not None and info.closing.version == 5
    chain.new_blocks(chain.channels.challenge_period())
    settled = (await a.settle(cid)).expect("Channels", "ChannelClosed").attributes
    assert (settled["balance_a"], settled["balance_b"]) == (5 * CC, 15 * CC)

    after_a, after_b = balances(chain, a.address), balances(chain, b.address)
    assert after_a == (before_a[0] - fees(a.receipts) - deposit + 5 * CC, before_a[1])
    assert after_b == (before_b[0] - fees(b.receipts) + 15 * CC, before_b[1])


async def wait_for(predicate: Callable[[], bool], what: str, limit: float = 60.0) -> None:
    """Poll *predicate* until it holds (a liveness bound, not a timed assertion)."""
    deadline = time.monotonic() + limit
    while not predicate():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        await asyncio.sleep(0.1)


async def test_watchtower_refutes_a_stale_close(
    ccnet_chain: Chain, make_member: MakeMember, fund_account: FundAccount, tmp_path: Path
) -> None:
    chain = ccnet_chain
    deposit_a, deposit_b = 30 * CC, 10 * CC
    tower_key = fund_account(10 * CC)
    tower = Watchtower(chain, tower_key, tmp_path / "tower.db")
    tower.start(poll_interval=0.1)
    # B (the payee) hands every co-signed state to the tower's file.
    b_tower = TowerClient(tmp_path / "tower.db")
    cheater = make_member()
    a, b = cheater.party, make_member(guardian=b_tower).party

    before = {p.address: balances(chain, p.address) for p in (a, b)}
    tower_before = balances(chain, tower_key.ss58_address)
    channel = await a.open(b.address, deposit_a, deposit_b)
    cid = channel.channel_id
    await b.join(cid)
    await a.refresh(cid)
    linked = await link_over_tcp(a, b, cid)
    for _ in range(8):
        await a.pay(cid, 2 * CC)
    await linked.close()
    guarded = tower.store.get(cid)
    assert guarded is not None and guarded.signed.version == 8

    # A cheats: it registers version 2 (where it still had 26 CC) and B is offline.
    stale = next(s for s in cheater.store.history(cid) if s.version == 2)
    state = stale.state
    assert stale.signature_a is not None and stale.signature_b is not None
    cheat = await asyncio.to_thread(
        chain.channels.close_unilateral,
        cheater.keypair,
        cid,
        state.version,
        state.balance_a,
        state.balance_b,
        stale.signature_a,
        stale.signature_b,
    )
    await wait_for(lambda: bool(tower.challenges), "the watchtower's challenge")
    tower.stop()
    challenge = tower.challenges[0]
    assert (challenge.closed_version, challenge.version, challenge.outcome) == (2, 8, "refuted")
    assert challenge.receipt is not None
    proven = challenge.receipt.expect("Channels", "FraudProven").attributes
    assert (proven["cheater"], proven["honest"], proven["version"]) == (a.address, b.address, 8)
    assert proven["penalty"] == deposit_a - 16 * CC  # A's share in version 8
    assert chain.channels.channel(cid) is None

    # The cheater lost its whole deposit; B got everything; the tower paid only its fee.
    fee_a = fees(a.receipts) + cheat.fee
    after_a, after_b = balances(chain, a.address), balances(chain, b.address)
    assert after_a == (before[a.address][0] - fee_a - deposit_a, before[a.address][1])
    assert after_b == (
        before[b.address][0] - fees(b.receipts) + deposit_a,
        before[b.address][1],
    )
    assert balances(chain, tower_key.ss58_address) == (
        tower_before[0] - challenge.receipt.fee,
        tower_before[1],
    )
    b_tower.close()
    tower.close()


async def test_party_challenges_a_stale_close(ccnet_chain: Chain, make_member: MakeMember) -> None:
    """B itself refutes A's stale close with ChannelParty.challenge (no watchtower)."""
    chain = ccnet_chain
    cheater, honest = make_member(), make_member()
    a, b = cheater.party, honest.party
    deposit = 12 * CC
    before_a, before_b = balances(chain, a.address), balances(chain, b.address)
    cid = (await a.open(b.address, deposit)).channel_id
    await b.join(cid)
    linked = await link_over_tcp(a, b, cid)
    for _ in range(3):
        await a.pay(cid, CC)
    await linked.close()
    stale = next(s for s in cheater.store.history(cid) if s.version == 1)
    assert stale.signature_a is not None and stale.signature_b is not None
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
    proven = (await b.challenge(cid)).expect("Channels", "FraudProven").attributes
    assert (proven["cheater"], proven["version"], proven["penalty"]) == (a.address, 3, 9 * CC)
    with pytest.raises(UnknownChannelError):
        b.channel(cid)  # challenged: no longer live
    assert honest.store.load(cid).phase is Phase.CHALLENGED
    after_a, after_b = balances(chain, a.address), balances(chain, b.address)
    assert after_a == (before_a[0] - fees(a.receipts) - cheat.fee - deposit, before_a[1])
    assert after_b == (before_b[0] - fees(b.receipts) + deposit, before_b[1])
