"""The same bridge on PostgreSQL (``database_url = postgresql+psycopg://...``): a purchase
through a crash after the treasury signed, and a payout, with exact balances."""

from __future__ import annotations

from typing import Any

from ccnet.bridge.testing import BridgeHarness
from ccnet.client import CC, Chain, Keys


def test_bridge_on_postgresql(
    bridge: BridgeHarness, ccnet_chain: Chain, fund_account: Any, postgres_url: str
) -> None:
    bridge.database_url = postgres_url
    bridge.start(crash_at="credit.signed")
    buyer = str(Keys.generate()[0].ss58_address)
    started = bridge.client.buy(buyer, 45_00, payment_method="pm_card_visa", request_id="pg-1")
    assert bridge.wait_killed() == -9
    bridge.start()
    assert bridge.client.wait(started["id"])["status"] == "credited"
    assert ccnet_chain.free_balance(buyer) == 45 * CC
    worker = fund_account(100 * CC)
    payout = bridge.client.payout(ccnet_chain, worker, 70 * CC, "w@example.com")
    assert bridge.client.wait(payout["id"])["status"] == "paid"
    assert bridge.paypal.paid_cents() == 5950 + bridge.paypal.fee_cents
    report = bridge.client.report()
    assert report["balanced"], report["problems"]
