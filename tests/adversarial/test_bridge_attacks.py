"""Attacks on the fiat bridge, each by a real program against a real ``ccnet bridge run``
process on the dev chain, with localstripe and the PayPal test double; each ends with
exact cent and planck balances and a reconciliation that balances.

The attacker's goals: CC without paying (forged, tampered or replayed webhooks), dollars
without giving CC (double payouts, someone else's transfer, a transfer that never
lands, a balance it does not have), or either through the bridge's crashes (``kill -9``
at every step of prepay and payout, then a restart: nothing twice, nothing lost).
"""

from __future__ import annotations

import json
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from ccnet.bridge.client import sign_payout_transfer
from ccnet.bridge.exceptions import (
    BridgeError,
    BridgeUnavailableError,
    ConflictError,
    InsufficientBalanceError,
    TransferMismatchError,
)
from ccnet.bridge.faults import STEPS
from ccnet.bridge.rates import Rates
from ccnet.bridge.testing import BridgeHarness, sign_webhook, stripe_event
from ccnet.client import CC, Chain, Keypair, Keys

RATES = Rates()
pytestmark = pytest.mark.integration


def addr(keypair: Keypair) -> str:
    return str(keypair.ss58_address)


def moved(chain: Chain, source: str, dest: str, since: int) -> list[int]:
    """Every ``Balances.Transfer`` *source* -> *dest* since block *since*."""
    found = []
    for number in range(since, chain.block_number() + 1):
        for event in chain.events_at(chain.block_hash(number)):
            if (event.pallet, event.name) == ("Balances", "Transfer") and (
                event.attributes.get("from"),
                event.attributes.get("to"),
            ) == (source, dest):
                found.append(int(event.attributes["amount"]))
    return found


def fee_paid(chain: Chain, who: str, since: int) -> int:
    total = 0
    for number in range(since, chain.block_number() + 1):
        for event in chain.events_at(chain.block_hash(number)):
            if (event.pallet, event.name) == ("TransactionPayment", "TransactionFeePaid") and (
                event.attributes.get("who") == who
            ):
                total += int(event.attributes["actual_fee"])
    return total


def balanced(bridge: BridgeHarness) -> dict[str, Any]:
    report = bridge.client.report()
    assert report["balanced"], report["problems"]
    assert report["journal"] == {"usd_cents": 0, "planck": 0}
    return report


def treasury_expected(bridge: BridgeHarness, chain: Chain, start: int, since: int) -> None:
    """The treasury holds exactly start + what came in - what went out - its fees."""
    treasury = bridge.treasury_address
    incoming = 0
    outgoing = 0
    for number in range(since, chain.block_number() + 1):
        for event in chain.events_at(chain.block_hash(number)):
            if (event.pallet, event.name) != ("Balances", "Transfer"):
                continue
            if event.attributes.get("to") == treasury:
                incoming += int(event.attributes["amount"])
            if event.attributes.get("from") == treasury:
                outgoing += int(event.attributes["amount"])
    fees = fee_paid(chain, treasury, since)
    assert chain.free_balance(treasury) == start + incoming - outgoing - fees


# -- webhooks ---------------------------------------------------------------------------


def test_forged_tampered_and_replayed_webhooks_credit_nothing(
    bridge: BridgeHarness, ccnet_chain: Chain
) -> None:
    bridge.start()
    attacker = Keys.generate()[0]
    # a purchase the attacker never pays for
    purchase = bridge.client.buy(addr(attacker), 500_00)
    assert purchase["intent_status"] == "requires_payment_method"
    intent = {
        "id": purchase["payment_intent"],
        "object": "payment_intent",
        "amount": 500_00,
        "amount_received": 500_00,
        "currency": "usd",
        "status": "succeeded",
        "created": int(time.time()),
        "metadata": {"bridge": bridge.bridge_id, "purchase": purchase["id"]},
    }
    body = stripe_event("payment_intent.succeeded", intent)
    attempts = {
        "unsigned": None,
        "signed with a guessed secret": sign_webhook(body, secret="whsec_guess"),
        "signature of another body": sign_webhook(body.replace("500", "501")),
        "a valid signature five minutes old": sign_webhook(body, timestamp=int(time.time()) - 301),
        "a signature from the future": sign_webhook(body, timestamp=int(time.time()) + 3600),
        "no v1 scheme": f"t={int(time.time())},v0=abc",
    }
    for what, signature in attempts.items():
        status, answer = bridge.post_webhook(body, signature)
        assert status == 400 and answer["error"]["code"] == "bad_signature", what
    status, _ = bridge.post_webhook("not json at all", sign_webhook("not json at all"))
    assert status == 400
    # even signed with the real secret (a leaked endpoint secret), an unpaid intent is
    # read back from Stripe and credits nothing
    status, answer = bridge.post_webhook(body, sign_webhook(body))
    assert (status, answer["outcome"]) == (200, "not_succeeded")
    assert bridge.client.purchase(purchase["id"])["status"] == "pending"
    assert ccnet_chain.free_balance(addr(attacker)) == 0
    balanced(bridge)


def test_a_captured_real_delivery_replayed_credits_nothing_more(
    bridge: BridgeHarness, ccnet_chain: Chain
) -> None:
    """The attacker captured a genuine signed delivery of its own $20 purchase and
    replays it, fast and concurrently, hoping for more CC."""
    bridge.start()
    buyer = Keys.generate()[0]
    captured: dict[str, Any] = {}
    started = bridge.client.buy(addr(buyer), 20_00, payment_method="pm_card_visa")
    assert bridge.client.wait(started["id"])["status"] == "credited"
    from ccnet.bridge.stripe_side import StripeGateway

    stripe = StripeGateway("sk_test_x", "unused", api_base=bridge.stripe_url)
    for event in stripe.events():
        if event["data"]["object"].get("id") == started["payment_intent"]:
            captured = event
            break
    payload = json.dumps(captured)
    header = sign_webhook(payload)  # exactly what Stripe sent, within its 5 minutes
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda _: bridge.post_webhook(payload, header), range(16)))
    assert {body["outcome"] for _, body in results} == {"duplicate"}
    assert ccnet_chain.free_balance(addr(buyer)) == 20 * CC
    balanced(bridge)


# -- payouts ----------------------------------------------------------------------------


def test_double_payout_attempts_pay_once(
    bridge: BridgeHarness, ccnet_chain: Chain, fund_account: Any
) -> None:
    bridge.start(CCNET_BRIDGE_CRASH_AT="")
    chain = ccnet_chain
    since = chain.block_number() + 1
    treasury_start = chain.free_balance(bridge.treasury_address)
    worker = fund_account(100 * CC)
    treasury = bridge.treasury_address
    # two different transfers with the same nonce, each 80 CC, as two payout requests
    first = sign_payout_transfer(chain, worker, treasury, 80 * CC)
    second = sign_payout_transfer(chain, worker, treasury, 80 * CC + 1)

    def request(extrinsic: str, planck: int, request_id: str) -> Any:
        body = {
            "account": addr(worker),
            "email": "w@example.com",
            "planck": planck,
            "extrinsic": extrinsic,
            "request_id": request_id,
        }
        return bridge.client._request("POST", "/v1/payouts", body)

    a = request(first, 80 * CC, "a")
    assert request(first, 80 * CC, "a")["id"] == a["id"]  # the same request: the same payout
    with pytest.raises(ConflictError):  # the same transfer under another request id
        request(first, 80 * CC, "a2")
    try:
        b = request(second, 80 * CC + 1, "b")
    except TransferMismatchError:
        b = None  # the first already landed: its nonce is used
    states = [bridge.client.wait(a["id"])]
    if b is not None:
        states.append(bridge.client.wait(b["id"]))
    assert sorted(s["status"] for s in states) == (["paid", "rejected"] if b else ["paid"])
    # a transfer that already landed cannot back a payout (its nonce is spent)
    with pytest.raises(TransferMismatchError):
        request(first, 80 * CC, "late")
    assert moved(chain, addr(worker), treasury, since) == [80 * CC]
    assert len(bridge.paypal.batches) == 1
    assert bridge.paypal.paid_cents() == RATES.payout(80 * CC).net_cents + bridge.paypal.fee_cents
    assert chain.free_balance(addr(worker)) == 20 * CC - fee_paid(chain, addr(worker), since)
    treasury_expected(bridge, chain, treasury_start, since)
    balanced(bridge)


def test_payouts_backed_by_wrong_transfers_are_refused(
    bridge: BridgeHarness, ccnet_chain: Chain, fund_account: Any
) -> None:
    bridge.start()
    chain = ccnet_chain
    worker = fund_account(100 * CC)
    victim = fund_account(100 * CC)
    treasury = bridge.treasury_address
    cases: dict[str, tuple[Keypair, str, int, int]] = {
        # (signer, destination, value signed, value claimed)
        "claims more than it transfers": (worker, treasury, 1, 80 * CC),
        "pays itself, not the treasury": (worker, addr(worker), 80 * CC, 80 * CC),
        "signed by someone else": (victim, treasury, 80 * CC, 80 * CC),
    }
    for what, (signer, dest, value, claimed) in cases.items():
        extrinsic = sign_payout_transfer(chain, signer, dest, value)
        body = {
            "account": addr(worker),
            "email": "w@example.com",
            "planck": claimed,
            "extrinsic": extrinsic,
            "request_id": what,
        }
        with pytest.raises(TransferMismatchError):
            bridge.client._request("POST", "/v1/payouts", body)
    with chain.lock:  # a remark dressed up as a payout
        call = chain.api.compose_call("System", "remark", {"remark": "0x00"})
        remark = str(chain.api.create_signed_extrinsic(call=call, keypair=worker).data)
    body = {
        "account": addr(worker),
        "email": "w@example.com",
        "planck": 80 * CC,
        "extrinsic": remark,
        "request_id": "remark",
    }
    with pytest.raises(TransferMismatchError):
        bridge.client._request("POST", "/v1/payouts", dict(body))
    body.update(extrinsic="0xdeadbeef", request_id="garbage")
    with pytest.raises(TransferMismatchError):
        bridge.client._request("POST", "/v1/payouts", body)
    assert chain.free_balance(addr(worker)) == 100 * CC
    assert chain.free_balance(addr(victim)) == 100 * CC
    assert bridge.paypal.batches == {}
    balanced(bridge)


def test_payout_above_the_balance_and_a_spent_nonce(
    bridge: BridgeHarness, ccnet_chain: Chain, fund_account: Any
) -> None:
    """Above the balance: refused. A transfer whose nonce the worker spends elsewhere
    after the bridge accepted it (the bridge crashed before submitting it): rejected,
    nothing taken, nothing paid."""
    chain = ccnet_chain
    bridge.start(crash_at="payout.accepted")
    worker = fund_account(100 * CC)
    with pytest.raises(InsufficientBalanceError):
        bridge.client.payout(chain, worker, 150 * CC, "w@example.com")
    since = chain.block_number() + 1
    with pytest.raises(BridgeUnavailableError):  # the bridge dies after storing the request
        bridge.client.payout(chain, worker, 80 * CC, "w@example.com", request_id="r1")
    assert bridge.wait_killed() == -9
    chain.transfer(worker, str(Keys.generate()[0].ss58_address), 90 * CC)  # spends the nonce
    bridge.start()
    payout = bridge.client.payout_status(_payout_id(bridge, "r1"))
    state = bridge.client.wait(payout["id"])
    assert state["status"] == "rejected"
    assert moved(chain, addr(worker), bridge.treasury_address, since) == []
    assert chain.free_balance(addr(worker)) == 10 * CC - fee_paid(chain, addr(worker), since)
    assert bridge.paypal.batches == {}
    balanced(bridge)


def _payout_id(bridge: BridgeHarness, request_id: str) -> str:
    from ccnet.bridge.db import Database
    from ccnet.bridge.ledger import Ledger

    ledger = Ledger(Database(bridge.database_url), RATES)
    payout = ledger.payout_by_request(request_id)
    assert payout is not None
    return payout.id


# -- kill -9 at every step, then a restart ----------------------------------------------

PREPAY = [s for s in STEPS if s.startswith(("purchase.", "webhook.", "credit."))]
PAYOUT = [s for s in STEPS if s.startswith("payout.")]
REFUND = [s for s in STEPS if s.startswith("refund.")]


def _restarted(bridge: BridgeHarness, call: Any) -> Any:
    """Run *call*; if the bridge died during it, wait for the death, restart, call again
    (the same request id: the client's retry)."""
    try:
        return call()
    except BridgeUnavailableError:
        assert bridge.wait_killed() == -9
        bridge.start()
        return call()


@pytest.mark.parametrize("step", PREPAY)
def test_crash_during_prepay(bridge: BridgeHarness, ccnet_chain: Chain, step: str) -> None:
    chain = ccnet_chain
    since = chain.block_number() + 1
    start = chain.free_balance(bridge.treasury_address)
    bridge.start(crash_at=step)
    buyer = Keys.generate()[0]
    started = _restarted(
        bridge,
        lambda: bridge.client.buy(
            addr(buyer), 37_00, payment_method="pm_card_visa", request_id="crash-buy"
        ),
    )
    if bridge.starts == 1:  # the crash comes after the answer, in the background
        assert bridge.wait_killed() == -9
        bridge.start()
    state = bridge.client.wait(started["id"], timeout=60)
    assert state["status"] == "credited", (state, bridge.logs())
    assert moved(chain, bridge.treasury_address, addr(buyer), since) == [37 * CC]
    assert chain.free_balance(addr(buyer)) == 37 * CC
    treasury_expected(bridge, chain, start, since)
    report = balanced(bridge)
    assert report["stripe"]["stripe_cents"] == 37_00


@pytest.mark.parametrize("step", PAYOUT + REFUND)
def test_crash_during_payout(
    bridge: BridgeHarness, ccnet_chain: Chain, fund_account: Any, step: str
) -> None:
    chain = ccnet_chain
    start = chain.free_balance(bridge.treasury_address)
    worker = fund_account(100 * CC)
    since = chain.block_number() + 1
    refund = step.startswith("refund.")
    email = "w+failed@example.com" if refund else "w@example.com"
    bridge.start(crash_at=step)
    started = _restarted(
        bridge,
        lambda: bridge.client.payout(chain, worker, 75 * CC, email, request_id="crash-pay"),
    )
    if bridge.starts == 1:
        assert bridge.wait_killed() == -9
        bridge.start()
    state = bridge.client.wait(started["id"], timeout=60)
    assert state["status"] == ("returned" if refund else "paid"), (state, bridge.logs())
    treasury = bridge.treasury_address
    assert moved(chain, addr(worker), treasury, since) == [75 * CC]
    worker_fees = fee_paid(chain, addr(worker), since)
    if refund:
        assert moved(chain, treasury, addr(worker), since) == [75 * CC]
        assert chain.free_balance(addr(worker)) == 100 * CC - worker_fees
        assert bridge.paypal.paid_cents() == 0
    else:
        assert chain.free_balance(addr(worker)) == 25 * CC - worker_fees
        assert bridge.paypal.paid_cents() == RATES.payout(75 * CC).net_cents + 25
    assert len(bridge.paypal.batches) == 1
    treasury_expected(bridge, chain, start, since)
    balanced(bridge)


def test_kill_9_from_outside_at_a_random_moment(
    bridge: BridgeHarness, ccnet_chain: Chain, fund_account: Any
) -> None:
    """An operator's ``kill -9`` while purchases and a payout are in flight."""
    chain = ccnet_chain
    rng = random.Random(1807)
    start = chain.free_balance(bridge.treasury_address)
    worker = fund_account(100 * CC)
    since = chain.block_number() + 1
    buyers = [Keys.generate()[0] for _ in range(3)]
    bridge.start()
    started: dict[str, Any] = {}

    def load() -> None:
        for i, buyer in enumerate(buyers):
            try:
                started[f"b{i}"] = bridge.client.buy(
                    addr(buyer), 20_00 + i, payment_method="pm_card_visa", request_id=f"k{i}"
                )
            except BridgeError:
                pass
        try:
            started["p"] = bridge.client.payout(
                chain, worker, 70 * CC, "w@example.com", request_id="kp"
            )
        except BridgeError:
            pass

    thread = threading.Thread(target=load)
    thread.start()
    time.sleep(rng.uniform(0.3, 1.5))
    bridge.kill9()
    thread.join(60)
    bridge.start()
    for i, buyer in enumerate(buyers):  # the clients retry whatever did not answer
        if f"b{i}" not in started:
            started[f"b{i}"] = bridge.client.buy(
                addr(buyer), 20_00 + i, payment_method="pm_card_visa", request_id=f"k{i}"
            )
    if "p" not in started and chain.account_next_index(addr(worker)) == 0:
        started["p"] = bridge.client.payout(
            chain, worker, 70 * CC, "w@example.com", request_id="kp"
        )
    for i, buyer in enumerate(buyers):
        state = bridge.client.wait(started[f"b{i}"]["id"], timeout=60)
        assert state["status"] == "credited", (state, bridge.logs())
        assert chain.free_balance(addr(buyer)) == state["planck"] == (20_00 + i) * 10**10
        assert moved(chain, bridge.treasury_address, addr(buyer), since) == [state["planck"]]
    if "p" in started:
        assert bridge.client.wait(started["p"]["id"], timeout=60)["status"] == "paid"
        assert len(bridge.paypal.batches) == 1
        assert moved(chain, addr(worker), bridge.treasury_address, since) == [70 * CC]
    treasury_expected(bridge, chain, start, since)
    balanced(bridge)
