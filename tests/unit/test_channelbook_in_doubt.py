"""A payment the peer leaves unanswered is *in doubt*, not failed: its proposal stays
outstanding and is re-sent on the next attach, so the requester must not keep it as a
debt and pay it again (that would pay twice). A real pair of channel parties over an
in-memory transport that loses the countersignature."""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path
from typing import Any, cast

from substrateinterface import Keypair

from ccnet.channels import ChannelParams
from ccnet.channels.testing import MemoryTransport, close_pair, link_parties
from ccnet.client.requester.channelbook import ChannelBook


async def test_an_unanswered_payment_is_in_doubt_and_a_refused_one_is_not(
    tmp_path: Path, alice: Keypair, bob: Keypair, params: ChannelParams
) -> None:
    pair = await link_parties(tmp_path, alice, bob, params, timeout=0.2)
    cid = params.channel_id
    end_a = MemoryTransport(asyncio.Queue(), itertools.cycle([False]))
    end_b = MemoryTransport(asyncio.Queue(), itertools.cycle([True, False]))  # B's 1st is lost
    end_a._peer, end_b._peer = end_b, end_a
    await pair.a.attach(cid, end_a)
    await pair.b.attach(cid, end_b)
    book = ChannelBook(pair.a, cast(Any, None), deposit_per_channel=1)
    worker = str(bob.ss58_address)

    sent = await book.pay(worker, cid, 3, "segment 0")
    assert not sent.ok and sent.in_doubt  # proposed, countersigned by B, answer lost
    assert pair.b.channel(cid).latest.version == 1  # B holds the co-signed state

    # a payment while that one is outstanding is refused before anything is proposed
    refused = await book.pay(worker, cid, 5, "segment 1")
    assert not refused.ok and not refused.in_doubt

    # re-sent, the first completes: exactly once
    resolved = await pair.a.resolve(cid)
    assert resolved.version == 1 and pair.a.channel(cid).latest == resolved
    await close_pair(pair)
