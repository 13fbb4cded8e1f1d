"""The fiat bridge end to end: a real ``ccnet bridge run`` process, the dev chain,
localstripe driven by the real ``stripe`` library, and the PayPal test double through
the real ``paypal-server-sdk``. Every test ends with exact cent and planck balances and
a reconciliation that balances."""

from __future__ import annotations

from typing import Any

import pytest

from ccnet.bridge.exceptions import (
    BelowMinimumError,
    InsufficientBalanceError,
    ProcessorUnavailableError,
)
from ccnet.bridge.rates import Rates
from ccnet.bridge.testing import BridgeHarness
from ccnet.client import CC, Chain, Keypair, Keys

RATES = Rates()


def fresh() -> Keypair:
    return Keys.generate()[0]


def addr(keypair: Keypair) -> str:
    return str(keypair.ss58_address)


def transfers(chain: Chain, source: str, dest: str, since: int) -> list[int]:
    """Amounts of every ``Balances.Transfer`` source -> dest in blocks since *since*."""
    found = []
    for number in range(since, chain.block_number() + 1):
        for event in chain.events_at(chain.block_hash(number)):
            if (event.pallet, event.name) == ("Balances", "Transfer") and (
                event.attributes.get("from"),
                event.attributes.get("to"),
            ) == (source, dest):
                found.append(int(event.attributes["amount"]))
    return found


def assert_balanced(bridge: BridgeHarness) -> dict[str, Any]:
    report = bridge.client.report()
    assert report["balanced"], report["problems"]
    assert report["journal"] == {"usd_cents": 0, "planck": 0}
    return report


def buy(bridge: BridgeHarness, account: str, cents: int, **kw: Any) -> dict[str, Any]:
    started = bridge.client.buy(account, cents, payment_method="pm_card_visa", **kw)
    state = bridge.client.wait(started["id"], timeout=60)
    assert state["status"] == "credited", (state, bridge.logs())
    return state


def test_buy_pay_for_work_cash_out(bridge: BridgeHarness, ccnet_chain: Chain) -> None:
    """Happy path: a renter buys $100 of CC by card, pays a worker for its jobs (fuel at
    the configured rate, settled on chain), and the worker cashes out to PayPal."""
    bridge.start()
    chain = ccnet_chain
    first_block = chain.block_number() + 1
    renter, worker = fresh(), fresh()
    treasury_before = chain.free_balance(bridge.treasury_address)

    purchase = buy(bridge, addr(renter), 100_00)
    assert purchase["planck"] == 100 * CC
    assert chain.free_balance(addr(renter)) == 100 * CC  # exact: the treasury paid the fee
    assert transfers(chain, bridge.treasury_address, addr(renter), first_block) == [100 * CC]

    fuel = 70 * 10**12  # jobs billed in fuel: 10**10 fuel = $0.01 = 10**10 planck at $1/CC
    assert RATES.fuel_cents(fuel) == 70_00
    paid = chain.transfer(renter, addr(worker), fuel)  # what the jobs' payments add up to
    worker_before = chain.free_balance(addr(worker))
    assert worker_before == 70 * CC
    assert paid.fee > 0

    quote = RATES.payout(60 * CC)
    payout = bridge.client.payout(chain, worker, 60 * CC, "worker@example.com")
    payout = bridge.client.wait(payout["id"], timeout=60)
    assert payout["status"] == "paid", (payout, bridge.logs())
    assert (payout["gross_cents"], payout["fee_cents"], payout["net_cents"]) == (6000, 900, 5100)
    assert payout["net_cents"] == quote.net_cents
    assert bridge.paypal.paid_cents() == 5100 + bridge.paypal.fee_cents
    worker_fee = worker_before - 60 * CC - chain.free_balance(addr(worker))
    assert worker_fee > 0  # the worker paid only its own transfer's fee
    assert transfers(chain, addr(worker), bridge.treasury_address, first_block) == [60 * CC]

    report = assert_balanced(bridge)
    chain_fees = report["chain"]["chain_fees_planck"]
    assert chain.free_balance(bridge.treasury_address) == (
        treasury_before - 100 * CC + 60 * CC - chain_fees
    )
    assert report["stripe"]["stripe_cents"] == 100_00
    assert report["paypal"]["paypal_out_cents"] == 5100 + bridge.paypal.fee_cents
    assert report["rounding"]["total"] == "0"


def test_requests_below_the_minimums_move_nothing(
    bridge: BridgeHarness, ccnet_chain: Chain, fund_account: Any
) -> None:
    bridge.start()
    buyer = fresh()
    with pytest.raises(BelowMinimumError):
        bridge.client.buy(addr(buyer), 19_99, payment_method="pm_card_visa")
    worker = fund_account(100 * CC)
    nonce = ccnet_chain.account_next_index(addr(worker))
    with pytest.raises(BelowMinimumError):  # 58 CC nets $49.30 after the 15 % fee
        bridge.client.payout(ccnet_chain, worker, 58 * CC, "w@example.com")
    assert ccnet_chain.free_balance(addr(worker)) == 100 * CC
    assert ccnet_chain.account_next_index(addr(worker)) == nonce
    assert ccnet_chain.free_balance(addr(buyer)) == 0
    report = assert_balanced(bridge)
    assert report["stripe"]["intents"] == 0


def test_payout_above_the_balance_is_refused(
    bridge: BridgeHarness, ccnet_chain: Chain, fund_account: Any
) -> None:
    bridge.start()
    worker = fund_account(60 * CC)
    with pytest.raises(InsufficientBalanceError):
        bridge.client.payout(ccnet_chain, worker, 80 * CC, "w@example.com")
    assert ccnet_chain.free_balance(addr(worker)) == 60 * CC
    assert bridge.paypal.batches == {}
    assert_balanced(bridge)


@pytest.mark.parametrize("receiver", ["w+failed@example.com", "w+blocked@example.com"])
def test_a_failed_payout_gives_the_cc_back(
    bridge: BridgeHarness, ccnet_chain: Chain, fund_account: Any, receiver: str
) -> None:
    bridge.start()
    worker = fund_account(100 * CC)
    payout = bridge.client.payout(ccnet_chain, worker, 70 * CC, receiver)
    payout = bridge.client.wait(payout["id"], timeout=60)
    assert payout["status"] == "returned", (payout, bridge.logs())
    fee = 100 * CC - ccnet_chain.free_balance(addr(worker))
    assert 0 < fee < CC // 100  # the CC came back; the worker lost only its transfer fee
    assert bridge.paypal.paid_cents() == 0
    assert_balanced(bridge)


def test_an_unclaimed_payout_is_returned_after_30_days(
    bridge: BridgeHarness, ccnet_chain: Chain, fund_account: Any
) -> None:
    bridge.start()
    worker = fund_account(100 * CC)
    payout = bridge.client.payout(ccnet_chain, worker, 70 * CC, "new+unclaimed@example.com")
    bridge.wait_for(
        lambda: bridge.client.payout_status(payout["id"])["paypal_status"] == "UNCLAIMED",
        what="UNCLAIMED",
    )
    assert bridge.client.payout_status(payout["id"])["status"] == "sent"
    assert_balanced(bridge)  # money in flight at PayPal is not a difference
    assert bridge.paypal.expire_unclaimed() == 1
    state = bridge.client.wait(payout["id"], timeout=60)
    assert state["status"] == "returned"
    assert 100 * CC - ccnet_chain.free_balance(addr(worker)) < CC // 100
    assert_balanced(bridge)


def test_paypal_down_then_up_pays_once(
    bridge: BridgeHarness, ccnet_chain: Chain, fund_account: Any
) -> None:
    bridge.start()
    bridge.paypal.outage(6)  # token and create calls answer 503 for a while
    worker = fund_account(100 * CC)
    payout = bridge.client.payout(ccnet_chain, worker, 70 * CC, "w@example.com")
    state = bridge.client.wait(payout["id"], timeout=60)
    assert state["status"] == "paid", (state, bridge.logs())
    assert len(bridge.paypal.batches) == 1
    assert bridge.paypal.paid_cents() == RATES.payout(70 * CC).net_cents + bridge.paypal.fee_cents
    assert_balanced(bridge)


def test_paypal_lost_response_pays_once(
    bridge: BridgeHarness, ccnet_chain: Chain, fund_account: Any
) -> None:
    bridge.start()
    bridge.paypal.outage(1, after_effect=True)  # the batch is made, its answer is lost
    worker = fund_account(100 * CC)
    payout = bridge.client.payout(ccnet_chain, worker, 70 * CC, "w@example.com")
    state = bridge.client.wait(payout["id"], timeout=60)
    assert state["status"] == "paid"
    assert len(bridge.paypal.batches) == 1
    assert_balanced(bridge)


def test_stripe_down_then_up(bridge: BridgeHarness, ccnet_chain: Chain, localstripe: str) -> None:
    bridge.stripe_url = "http://127.0.0.1:9"  # nothing listens there
    bridge.start()
    buyer = fresh()
    with pytest.raises(ProcessorUnavailableError):
        bridge.client.buy(addr(buyer), 25_00, payment_method="pm_card_visa", request_id="r-down")
    bridge.stop()
    bridge.stripe_url = localstripe
    bridge.start()
    state = buy(bridge, addr(buyer), 25_00, request_id="r-down")  # the same request, retried
    assert ccnet_chain.free_balance(addr(buyer)) == 25 * CC
    report = assert_balanced(bridge)
    assert report["stripe"]["intents"] == 1 and state["cents"] == 25_00


def test_declined_card_credits_nothing(bridge: BridgeHarness, ccnet_chain: Chain) -> None:
    bridge.start()
    buyer = fresh()
    from ccnet.bridge.exceptions import ProcessorError

    with pytest.raises(ProcessorError):
        bridge.client.buy(addr(buyer), 25_00, payment_method="pm_card_chargeCustomerFail")
    assert ccnet_chain.free_balance(addr(buyer)) == 0
    assert_balanced(bridge)


def test_bridge_cli_buy_status_report(bridge: BridgeHarness, ccnet_chain: Chain) -> None:
    """The CLI against the running service (``--json``)."""
    import json

    from typer.testing import CliRunner

    from ccnet.client.cli import app

    bridge.start()
    buyer = fresh()
    runner = CliRunner()
    base = ["--url", ccnet_chain.url, "--json", "bridge"]
    result = runner.invoke(
        app,
        [*base, "buy", "--to", addr(buyer), "--amount", "20", "--payment-method", "pm_card_visa"]
        + ["--bridge", bridge.url],
    )
    assert result.exit_code == 0, result.output
    purchase = json.loads(result.output)
    assert purchase["status"] == "credited" and purchase["planck"] == 20 * CC
    result = runner.invoke(app, [*base, "status", purchase["id"], "--bridge", bridge.url])
    assert json.loads(result.output)["status"] == "credited"
    result = runner.invoke(app, [*base, "report", "--bridge", bridge.url])
    assert result.exit_code == 0 and json.loads(result.output)["balanced"]
    assert ccnet_chain.free_balance(addr(buyer)) == 20 * CC
