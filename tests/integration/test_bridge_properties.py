"""Property: whatever purchases, payouts, duplicate deliveries, PayPal outages and
outcomes happen, the ledger, the chain, Stripe and PayPal reconcile exactly.

Real parts (the dev chain, localstripe, the PayPal test double); the bridge's own parts
are assembled in process (no HTTP) so hypothesis can run many operations per example.
"""

from __future__ import annotations

import itertools
import time
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ccnet.bridge.chain_side import TreasuryChain
from ccnet.bridge.client import sign_payout_transfer
from ccnet.bridge.db import Database
from ccnet.bridge.exceptions import BelowMinimumError
from ccnet.bridge.faults import CrashPoints
from ccnet.bridge.ledger import Ledger
from ccnet.bridge.outbox import Outbox
from ccnet.bridge.paypal_double import PayPalDouble
from ccnet.bridge.paypal_side import PayPalGateway
from ccnet.bridge.rates import Rates, Ratio
from ccnet.bridge.report import reconcile
from ccnet.bridge.service import BridgeService
from ccnet.bridge.stripe_side import StripeGateway
from ccnet.bridge.testing import WEBHOOK_SECRET
from ccnet.client import CC, Chain, Keys

WORKER_FUNDS = 100 * CC
COUNTER = itertools.count()

buy_op = st.tuples(st.just("buy"), st.integers(2_000, 6_000), st.booleans())
payout_op = st.tuples(
    st.just("payout"),
    st.integers(55, 95).map(lambda cc: cc * CC + 7),  # odd planck: sub-cent rounding
    st.sampled_from(["w@example.com", "w+failed@example.com", "w+unclaimed@example.com"]),
)
outage_op = st.tuples(st.just("outage"), st.integers(1, 4), st.booleans())
operations = st.lists(st.one_of(buy_op, payout_op, outage_op), min_size=1, max_size=5)


def settle(outbox: Outbox, paypal: PayPalDouble, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        outbox.run_once()
        paypal.expire_unclaimed()
        if outbox.idle():
            return
        assert time.monotonic() < deadline, "the outbox did not finish"


@pytest.mark.timeout(1200)
@settings(
    max_examples=6,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    ops=operations,
    rate=st.sampled_from([Ratio(100), Ratio(300), Ratio(250, 3)]),
    fee_bps=st.sampled_from([1_500, 0, 333]),
)
def test_ledger_chain_and_processors_reconcile(
    ccnet_chain: Chain,
    localstripe: str,
    fund_account: Any,
    tmp_path_factory: pytest.TempPathFactory,
    ops: list[tuple[Any, ...]],
    rate: Ratio,
    fee_bps: int,
) -> None:
    chain = ccnet_chain
    run = next(COUNTER)
    db = Database(f"sqlite:///{tmp_path_factory.mktemp('prop') / 'ledger.db'}")
    db.migrate()
    rates = Rates(cents_per_cc=rate, fee_bps=fee_bps)
    ledger = Ledger(db, rates)
    treasury = TreasuryChain(chain, fund_account(3_000 * CC))
    ledger.open(treasury.address, chain.free_balance(treasury.address))
    bridge_id = f"prop-{run}-{time.time_ns()}"
    stripe = StripeGateway("sk_test_prop", WEBHOOK_SECRET, api_base=localstripe)
    with PayPalDouble() as double:
        paypal = PayPalGateway(double.client_id, double.client_secret, base_url=double.url)
        outbox = Outbox(ledger, treasury, paypal, crash=CrashPoints({}))
        service = BridgeService(ledger, treasury, stripe, paypal, outbox, bridge_id)
        bought: dict[str, int] = {}
        workers: dict[str, Any] = {}
        for op in ops:
            if op[0] == "buy":
                _, cents, duplicate = op
                buyer = str(Keys.generate()[0].ss58_address)
                purchase, _ = ledger.open_purchase(f"r-{buyer}", buyer, cents)
                intent = stripe.create_intent(
                    cents=cents,
                    idempotency_key=purchase.id,
                    metadata={"bridge": bridge_id, "purchase": purchase.id},
                    payment_method="pm_card_visa",
                )
                ledger.attach_intent(purchase.id, intent["id"])
                assert stripe.confirm_intent(intent["id"])["status"] == "succeeded"
                service.sweep()
                if duplicate:
                    assert service.sweep() == 0
                bought[buyer] = rates.purchase(cents).planck
            elif op[0] == "payout":
                _, planck, email = op
                worker = fund_account(WORKER_FUNDS)
                extrinsic = sign_payout_transfer(chain, worker, treasury.address, planck)
                try:
                    service._accept_payout(
                        f"p-{worker.ss58_address}",
                        str(worker.ss58_address),
                        email,
                        planck,
                        extrinsic,
                    )
                except BelowMinimumError:
                    assert rates.payout(planck).net_cents < rates.min_payout_cents
                    continue
                workers[str(worker.ss58_address)] = (planck, email)
            else:
                _, calls, after_effect = op
                double.outage(calls, after_effect=after_effect)
            outbox.run_once()
        settle(outbox, double)

        report = reconcile(
            ledger, stripe=stripe, paypal=paypal, chain=treasury, bridge_id=bridge_id
        )
        assert report.balanced, report.problems
        for buyer, planck in bought.items():
            assert chain.free_balance(buyer) == planck
        paid_out = 0
        for address, (planck, email) in workers.items():
            payout = ledger.payout_by_request(f"p-{address}")
            assert payout is not None
            fee = (
                WORKER_FUNDS
                - chain.free_balance(address)
                - (planck if payout.status == "paid" else 0)
            )
            assert 0 < fee < CC // 100  # only its transfer's fee, never more
            if email == "w@example.com":
                assert payout.status == "paid"
                paid_out += payout.net_cents + double.fee_cents
            else:
                assert payout.status == "returned"
        assert double.paid_cents() == paid_out
        assert report.paypal["paypal_out_cents"] == paid_out
        assert report.stripe["stripe_cents"] == sum(
            rates.purchase(c).cents for c in [op[1] for op in ops if op[0] == "buy"]
        )
    db.close()
