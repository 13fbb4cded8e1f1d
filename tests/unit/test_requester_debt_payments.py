"""Paying the requester's debts over a real channel pair (two ChannelParty objects with
their SQLite stores, over an in-memory transport): a debt is paid exactly once when
the call paying it is cancelled mid-payment, and is not taken for paid when another
payment's proposal is the one left outstanding. (The crash cases, with real processes
and the chain: tests/integration/test_requester_debt_crash.py.)"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from substrateinterface import Keypair

from ccnet.channels import MemoryTransport
from ccnet.channels.testing import PartyPair, close_pair, link_parties, make_params
from ccnet.client.requester import Debt, DebtBook, Requester
from ccnet.client.requester.channelbook import ChannelBook
from ccnet.client.requester.outcomes import RequesterTally

DEBT = 1_000
ALICE, BOB = Keypair.create_from_uri("//Alice"), Keypair.create_from_uri("//Bob")


@dataclass
class Setting:
    pair: PartyPair
    book: ChannelBook
    requester: Requester

    @property
    def paid_to_bob(self) -> int:
        """Bob's balance in Alice's latest co-signed state, planck."""
        return self.pair.a.channel(self.pair.channel_id).latest.state.balance_b


@contextlib.asynccontextmanager
async def setting(tmp_path: Path, lost: list[bool] | None = None) -> AsyncIterator[Setting]:
    """Alice (the requester) owes Bob DEBT planck; *lost*: which of Alice's frames the
    transport drops, in order."""
    transports = MemoryTransport.pair(loss_pattern=lost) if lost else None
    pair = await link_parties(
        tmp_path, ALICE, BOB, make_params(ALICE, BOB), timeout=1.0, transports=transports
    )
    book = ChannelBook(pair.a, None, deposit_per_channel=1)  # type: ignore[arg-type]
    book.is_attached = lambda channel_id: True  # type: ignore[method-assign]
    requester = Requester.__new__(Requester)  # only what paying debts uses
    requester._book, requester._party, requester._tally = book, pair.a, RequesterTally()
    requester.debts = DebtBook(tmp_path / "debts.json")
    requester.debts.add(Debt(str(BOB.ss58_address), pair.channel_id.hex(), DEBT, "the debt"))
    try:
        yield Setting(pair, book, requester)
    finally:
        await close_pair(pair)


async def test_a_cancelled_debt_payment_is_not_paid_again(tmp_path: Path) -> None:
    async with setting(tmp_path) as s:
        paying = asyncio.ensure_future(s.requester._pay_debts(None))
        while not any(d.paying_version for d in s.requester.debts.all()):
            await asyncio.sleep(0)
        await asyncio.sleep(0)
        paying.cancel()  # e.g. its caller's timeout; the proposal is made
        with pytest.raises(asyncio.CancelledError):
            await paying
        # Its payment went out (co-signed, or outstanding): found so, and forgotten.
        assert await s.requester._pay_debts(None) == DEBT
        await s.pair.a.resolve(s.pair.channel_id)  # an outstanding one completes
        assert await s.requester._pay_debts(None) == 0
        assert s.requester.debts.all() == [] and s.paid_to_bob == DEBT


async def test_another_payments_outstanding_proposal_does_not_pay_a_debt(tmp_path: Path) -> None:
    # Alice's second frame (the second job's proposal) is lost: it stays outstanding.
    async with setting(tmp_path, lost=[False, True] + [False] * 8) as s:
        bob, cid = str(BOB.ss58_address), s.pair.channel_id
        first = asyncio.ensure_future(s.book.pay(bob, cid, 10, "job 1"))
        await asyncio.sleep(0)  # job 1 holds the channel; job 2 and the debt queue
        second = asyncio.ensure_future(s.book.pay(bob, cid, 20, "job 2"))
        debts = asyncio.ensure_future(s.requester._pay_debts(None))
        assert (await first).ok
        assert (await second).in_doubt
        assert await debts == 0
        (owed,) = s.requester.debts.all()
        assert (owed.amount, owed.paying_version) == (DEBT, None)
        assert s.paid_to_bob == 10
