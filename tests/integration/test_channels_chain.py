"""Payment channels on the real runtime (Chopsticks dev chain), driven through
ccnet.client: 1,000 off-chain updates closed cooperatively with exactly three
extrinsics, unilateral close and settle, and a stale close answered with the newest
state (by the watchtower, and by the party itself), which replaces it: the latest
version wins, no penalty.

Every test uses fresh funded accounts (``make_member``), so balances can be checked to
the planck: ``free_after = free_before - fees - deposit + final balance``; while a
channel exists the opener also holds ``Channels.RecordDeposit``.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from pathlib import Path

from ccnet.channels import (
    REGISTERED,
    Phase,
    TowerClient,
    UnknownChannelError,
    Watchtower,
)
from ccnet.channels.testing import Ledger, Members, link_over_tcp
from ccnet.client import CC, Chain, Keypair

FundAccount = Callable[..., Keypair]


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


async def wait_for(predicate: Callable[[], bool], what: str, limit: float = 60.0) -> None:
    """Poll *predicate* until it holds (a liveness bound, not a timed assertion)."""
    deadline = time.monotonic() + limit
    while not predicate():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        await asyncio.sleep(0.1)


async def test_thousand_updates_three_extrinsics(
    ccnet_chain: Chain, make_member: Members, ledger: Ledger
) -> None:
    a, b = make_member().party, make_member().party
    chain = ccnet_chain
    deposit_a, deposit_b = 100 * CC, 50 * CC
    record = chain.channels.record_deposit()
    before_a, before_b = ledger.balances(a.address), ledger.balances(b.address)
    nonce_a, nonce_b = (chain.account_next_index(p.address) for p in (a, b))
    first_block = chain.block_number() + 1

    channel = await a.open(b.address, deposit_a, deposit_b)
    assert channel.phase is Phase.OPENING
    cid = channel.channel_id
    assert (await b.join(cid)).phase is Phase.FUNDED
    assert await a.refresh(cid) is Phase.FUNDED
    # While the channel exists A holds its deposit and the record deposit.
    assert ledger.balances(a.address)[1] == before_a[1] + deposit_a + record
    linked = await link_over_tcp(a, b, cid)

    rng = random.Random(1000)
    expected_a, expected_b = deposit_a, deposit_b
    for i in range(1000):
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

    # Balances exact to the planck (the record deposit came back with the close).
    after_a, after_b = ledger.balances(a.address), ledger.balances(b.address)
    assert after_a == (before_a[0] - ledger.fees(a.receipts) - deposit_a + expected_a, before_a[1])
    assert after_b == (before_b[0] - ledger.fees(b.receipts) - deposit_b + expected_b, before_b[1])


async def test_unilateral_close_and_settle(
    ccnet_chain: Chain, make_member: Members, ledger: Ledger
) -> None:
    a, b = make_member().party, make_member().party
    chain = ccnet_chain
    deposit = 20 * CC
    before_a, before_b = ledger.balances(a.address), ledger.balances(b.address)
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
    assert info.challenge_period == 20
    assert ledger.balances(a.address)[1] == before_a[1] + deposit + info.record_deposit
    chain.new_blocks(info.challenge_period)
    settled = (await a.settle(cid)).expect("Channels", "ChannelClosed").attributes
    assert (settled["balance_a"], settled["balance_b"]) == (5 * CC, 15 * CC)

    after_a, after_b = ledger.balances(a.address), ledger.balances(b.address)
    assert after_a == (before_a[0] - ledger.fees(a.receipts) - deposit + 5 * CC, before_a[1])
    assert after_b == (before_b[0] - ledger.fees(b.receipts) + 15 * CC, before_b[1])


async def test_watchtower_registers_the_newest_state_against_a_stale_close(
    ccnet_chain: Chain,
    make_member: Members,
    fund_account: FundAccount,
    ledger: Ledger,
    tmp_path: Path,
) -> None:
    """A pays B eight times, then closes with version 2 while B is offline. B's tower
    registers version 8 (it replaces version 2; nobody is penalised) and, once the
    period is over, settles: both get exactly their version 8 balances."""
    chain = ccnet_chain
    deposit_a, deposit_b = 30 * CC, 10 * CC
    tower_key = fund_account(10 * CC)
    tower = Watchtower(chain, tower_key, tmp_path / "tower.db", settle=True)
    tower.start(poll_interval=0.1)
    # B (the payee) hands every co-signed state to the tower's file.
    b_tower = TowerClient(tmp_path / "tower.db")
    cheater = make_member()
    a, b = cheater.party, make_member(guardian=b_tower).party

    before = {p.address: ledger.balances(p.address) for p in (a, b)}
    tower_before = ledger.balances(tower_key.ss58_address)
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

    # A registers version 2 (where it still had 26 CC) and B is offline.
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
    challenge = tower.challenges[0]
    assert (challenge.closed_version, challenge.version, challenge.outcome) == (2, 8, REGISTERED)
    assert challenge.receipt is not None
    registered = challenge.receipt.expect("Channels", "ChannelChallenged").attributes
    closing = cheat.expect("Channels", "ChannelClosing").attributes
    assert (registered["challenger"], registered["version"]) == (tower_key.ss58_address, 8)
    assert registered["challenge_ends"] == closing["challenge_ends"]  # not extended
    info = chain.channels.channel(cid)
    assert info is not None and info.closing is not None and info.closing.version == 8

    # After the period the tower settles version 8.
    chain.new_blocks(info.challenge_period)
    await wait_for(lambda: bool(tower.settled), "the watchtower's settle")
    tower.stop()
    settled = tower.settled[0].expect("Channels", "ChannelClosed").attributes
    assert (settled["version"], settled["balance_a"], settled["balance_b"]) == (
        8,
        deposit_a - 16 * CC,
        deposit_b + 16 * CC,
    )
    assert chain.channels.channel(cid) is None
    fee_a = ledger.fees(a.receipts) + cheat.fee
    after_a, after_b = ledger.balances(a.address), ledger.balances(b.address)
    assert after_a == (before[a.address][0] - fee_a - 16 * CC, before[a.address][1])
    assert after_b == (
        before[b.address][0] - ledger.fees(b.receipts) + 16 * CC,
        before[b.address][1],
    )
    tower_fees = challenge.receipt.fee + tower.settled[0].fee
    assert ledger.balances(tower_key.ss58_address) == (
        tower_before[0] - tower_fees,
        tower_before[1],
    )
    b_tower.close()
    tower.close()


async def test_party_answers_a_stale_close_itself(
    ccnet_chain: Chain, make_member: Members, ledger: Ledger
) -> None:
    """B itself registers its newest state against A's stale close (no watchtower); the
    channel stays closing until settle, which pays version 3."""
    chain = ccnet_chain
    cheater, honest = make_member(), make_member()
    a, b = cheater.party, honest.party
    deposit = 12 * CC
    before_a, before_b = ledger.balances(a.address), ledger.balances(b.address)
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
    receipt = await b.answer_stale_close(cid)
    assert receipt is not None
    registered = receipt.expect("Channels", "ChannelChallenged").attributes
    assert (registered["challenger"], registered["version"]) == (b.address, 3)
    assert b.channel(cid).phase is Phase.CLOSING  # closing until settled
    assert await b.answer_stale_close(cid) is None  # nothing newer to register
    chain.new_blocks(chain.channels.challenge_period())
    await b.settle(cid)
    try:
        b.channel(cid)
        raise AssertionError("the settled channel is still live")
    except UnknownChannelError:
        pass
    assert honest.store.load(cid).phase is Phase.SETTLED
    after_a, after_b = ledger.balances(a.address), ledger.balances(b.address)
    assert after_a == (before_a[0] - ledger.fees(a.receipts) - cheat.fee - 3 * CC, before_a[1])
    assert after_b == (before_b[0] - ledger.fees(b.receipts) + 3 * CC, before_b[1])
