"""A requester killed while paying a debt pays it exactly once.

A debt (:mod:`ccnet.client.requester.debts`) is paid by a channel update and then
forgotten by rewriting the debts file: a crash between the two used to leave a paid
debt on the list, and the restarted requester paid it again. The requester now marks
the debt with its payment's version before proposing it and, on restart, asks its
channel store whether that version went out.

Each test runs a real requester process (``requester_debt_proc.py``) against a real
worker daemon on the dev chain: one paid job, then a debt whose payment the process
dies in (``os._exit``, no clean-up) at one of three points. A new requester on the same
state folder then runs a second job, pays what is still owed and closes the channel.
The closed channel pays the worker the two jobs and the debt exactly once, and both
accounts' free balances are exact to the planck, fees included.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from ccnet.channels.testing import Ledger
from ccnet.client import CC, Chain, ChainEvent, Keys
from ccnet.client.requester import Requester

if TYPE_CHECKING:  # mypy sees the checkout's tests package; pytest puts tests/ on sys.path
    from tests.fixtures.client import Funder
    from tests.fixtures.daemon import EventsSince, RunWorker
    from tests.integration.requester_debt_proc import KILLED, POINTS
else:
    from fixtures.client import Funder
    from fixtures.daemon import EventsSince, RunWorker
    from requester_debt_proc import KILLED, POINTS

PROC = Path(__file__).with_name("requester_debt_proc.py")
DEPOSIT = 10 * CC
FUEL = 10**9
DEBT = 12_345_678
"""Planck owed (an odd amount, to be told apart from job prices in the balances)."""


def fees_of(events: list[ChainEvent], who: str) -> int:
    return sum(int(e.attributes["actual_fee"]) for e in events if str(e.attributes["who"]) == who)


async def crashing_requester(config: dict[str, Any], tmp_path: Path) -> dict[str, Any]:
    """Run ``requester_debt_proc.py`` with *config*; its ``job`` line, once it died."""
    path = tmp_path / "proc.json"
    path.write_text(json.dumps(config))
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(PROC),
        str(path),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(PROC.parents[1])},
    )
    out, err = await asyncio.wait_for(proc.communicate(), 180)
    assert proc.returncode == KILLED, err.decode(errors="replace")[-3000:]
    (line,) = [x for x in out.decode().splitlines() if x.startswith("job ")]
    return dict(json.loads(line.removeprefix("job ")))


@pytest.mark.parametrize("crash", POINTS)
async def test_a_debt_is_paid_exactly_once_across_a_crash(
    crash: str,
    devchain: str,
    ccnet_chain: Chain,
    ledger: Ledger,
    run_worker: RunWorker,
    fund_account: Funder,
    events_since: EventsSince,
    tmp_path: Path,
) -> None:
    chain = ccnet_chain
    worker = await run_worker()
    secret = f"//ccnet-debt-{os.urandom(6).hex()}"
    keypair = Keys.from_uri(secret)
    requester = str(keypair.ss58_address)
    await asyncio.to_thread(chain.transfer, fund_account.funder, requester, 100 * CC)
    first = chain.block_number() + 1
    before = {a: ledger.balances(a) for a in (worker.address, requester)}
    bootstrap = (str(worker.ready["dht_host"]), int(worker.ready["dht_port"]))
    state_dir = tmp_path / "requester"
    config = {
        "url": devchain,
        "secret": secret,
        "state_dir": str(state_dir),
        "bootstrap": list(bootstrap),
        "worker": worker.address,
        "deposit": DEPOSIT,
        "fuel": FUEL,
        "debt": DEBT,
        "crash": crash,
    }
    job = await crashing_requester(config, tmp_path)
    channel_id = bytes.fromhex(job["channel"])

    async with Requester(
        chain,
        keypair,
        dht_bootstrap=[bootstrap],
        state_dir=state_dir,
        deposit_per_channel=DEPOSIT,
        job_timeout=90,
    ) as again:
        owed = again.debts.all()
        if crash == "before-proposal":  # nothing went out: still owed, its mark dropped
            assert [(d.amount, d.paying_version) for d in owed] == [(DEBT, None)]
        else:  # co-signed, or outstanding and re-sent on the next attach: paid
            assert owed == []
        offers = [o for o in await again.find_workers() if o.address == worker.address]
        second = await again.submit(
            "prime_count", args=["2000"], verify="none", fuel_limit=FUEL, workers=offers
        )
        assert second.cost_planck > 0, second.results
        paid_now = await again.pay_debts()
        assert paid_now == (DEBT if crash == "before-proposal" else 0)
        assert again.debts.all() == []
        (channel,) = again.party.channels
        assert channel.channel_id == channel_id and channel.pending is None
        assert len(await again.close_channels()) == 1

    owed_total = job["cost"] + second.cost_planck + DEBT
    (closed,) = events_since(chain, first, "Channels", "ChannelClosed")
    assert int(closed.attributes["balance_b"]) == owed_total
    events = events_since(chain, first, "TransactionPayment", "TransactionFeePaid")
    free, held = before[requester]
    assert ledger.balances(requester) == (free - fees_of(events, requester) - owed_total, held)
    free, held = before[worker.address]
    assert ledger.balances(worker.address) == (
        free - fees_of(events, worker.address) + owed_total,
        held,
    )
