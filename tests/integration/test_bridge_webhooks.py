"""Stripe webhooks at a real bridge process: duplicate, concurrent and out-of-order
deliveries, and deliveries that never arrived (the event sweep), each applied exactly
once, ending in exact balances and a balanced reconciliation."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ccnet.bridge.stripe_local import register_webhook
from ccnet.bridge.stripe_side import StripeGateway
from ccnet.bridge.testing import WEBHOOK_SECRET, BridgeHarness, sign_webhook, stripe_event
from ccnet.client import CC, Chain, Keys

NOWHERE = "http://127.0.0.1:9/nowhere"


def stripe_of(bridge: BridgeHarness) -> StripeGateway:
    return StripeGateway("sk_test_webhooks", WEBHOOK_SECRET, api_base=bridge.stripe_url)


def real_event(bridge: BridgeHarness, intent_id: str, event_type: str) -> dict[str, Any]:
    """The event localstripe made for *intent_id* (as Stripe keeps it in its event list)."""
    for event in stripe_of(bridge).events():
        if event["type"] == event_type and event["data"]["object"].get("id") == intent_id:
            return event
    raise AssertionError(f"no {event_type} for {intent_id}")


def pay_without_webhook(bridge: BridgeHarness, account: str, cents: int) -> dict[str, Any]:
    """A real card payment whose webhook goes nowhere (the bridge does not hear of it)."""
    register_webhook(bridge.stripe_url, NOWHERE, WEBHOOK_SECRET)
    state = bridge.client.buy(account, cents, payment_method="pm_card_visa")
    assert state["intent_status"] == "succeeded"
    return state


def deliver(bridge: BridgeHarness, event: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    payload = json.dumps(event)
    return bridge.post_webhook(payload, sign_webhook(payload))


def test_duplicate_deliveries_credit_once(bridge: BridgeHarness, ccnet_chain: Chain) -> None:
    bridge.start()
    buyer = str(Keys.generate()[0].ss58_address)
    started = bridge.client.buy(buyer, 30_00, payment_method="pm_card_visa")
    assert bridge.client.wait(started["id"])["status"] == "credited"
    event = real_event(bridge, started["payment_intent"], "payment_intent.succeeded")
    for _ in range(5):
        status, body = deliver(bridge, event)
        assert (status, body["outcome"]) == (200, "duplicate")
    # the same payment announced under a new event id changes nothing either
    again = json.loads(stripe_event("payment_intent.succeeded", event["data"]["object"]))
    assert deliver(bridge, again)[1]["outcome"] == "already_paid"
    assert ccnet_chain.free_balance(buyer) == 30 * CC
    assert bridge.client.report()["balanced"]


def test_concurrent_first_deliveries_credit_once(bridge: BridgeHarness, ccnet_chain: Chain) -> None:
    bridge.start(CCNET_BRIDGE_SWEEP_INTERVAL="3600")
    buyer = str(Keys.generate()[0].ss58_address)
    started = pay_without_webhook(bridge, buyer, 40_00)
    assert bridge.client.purchase(started["id"])["status"] == "pending"
    event = real_event(bridge, started["payment_intent"], "payment_intent.succeeded")
    with ThreadPoolExecutor(12) as pool:
        results = list(pool.map(lambda _: deliver(bridge, event), range(12)))
    outcomes = sorted(body["outcome"] for _, body in results)
    assert outcomes == ["credited"] + ["duplicate"] * 11
    assert bridge.client.wait(started["id"])["status"] == "credited"
    assert ccnet_chain.free_balance(buyer) == 40 * CC
    assert bridge.client.report()["balanced"]


def test_out_of_order_deliveries(bridge: BridgeHarness, ccnet_chain: Chain) -> None:
    bridge.start(CCNET_BRIDGE_SWEEP_INTERVAL="3600")
    buyer = str(Keys.generate()[0].ss58_address)
    started = pay_without_webhook(bridge, buyer, 25_00)
    succeeded = real_event(bridge, started["payment_intent"], "payment_intent.succeeded")
    intent = dict(succeeded["data"]["object"])
    # an earlier failed attempt's event, arriving first, then the success
    failed = json.loads(stripe_event("payment_intent.payment_failed", intent))
    assert deliver(bridge, failed)[1]["outcome"] == "marked_failed"
    assert deliver(bridge, succeeded)[1]["outcome"] == "credited"
    # and a failure arriving after the success changes nothing
    late = json.loads(stripe_event("payment_intent.payment_failed", intent))
    assert deliver(bridge, late)[1]["outcome"] == "already_paid"
    # an event of an unrelated kind is recorded and ignored
    other = json.loads(stripe_event("charge.succeeded", {"id": "ch_1", "object": "charge"}))
    assert deliver(bridge, other)[1]["outcome"] == "ignored"
    assert bridge.client.wait(started["id"])["status"] == "credited"
    assert ccnet_chain.free_balance(buyer) == 25 * CC
    assert bridge.client.report()["balanced"]


def test_a_webhook_that_never_arrives_is_swept(bridge: BridgeHarness, ccnet_chain: Chain) -> None:
    bridge.start()  # sweep every second
    buyer = str(Keys.generate()[0].ss58_address)
    started = pay_without_webhook(bridge, buyer, 20_00)
    assert bridge.client.wait(started["id"], timeout=30)["status"] == "credited"
    assert ccnet_chain.free_balance(buyer) == 20 * CC
    assert bridge.client.report()["balanced"]
