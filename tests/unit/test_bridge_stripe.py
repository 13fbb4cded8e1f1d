"""The Stripe side through the real ``stripe`` library against localstripe, and webhook
verification as Stripe signs: unsigned, forged, stale and malformed deliveries refused."""

from __future__ import annotations

import json
import time

import pytest

from ccnet.bridge.exceptions import ProcessorError, ProcessorUnavailableError, WebhookSignatureError
from ccnet.bridge.stripe_side import StripeGateway
from ccnet.bridge.testing import WEBHOOK_SECRET, sign_webhook


def gateway(url: str) -> StripeGateway:
    return StripeGateway("sk_test_unit", WEBHOOK_SECRET, api_base=url, timeout=5)


def test_intent_create_confirm_and_list(localstripe: str) -> None:
    stripe = gateway(localstripe)
    intent = stripe.create_intent(
        cents=2000,
        idempotency_key="unit-1",
        metadata={"bridge": "unit", "purchase": "pur_x"},
        payment_method="pm_card_visa",
    )
    assert intent["status"] == "requires_confirmation" and intent["amount"] == 2000
    confirmed = stripe.confirm_intent(intent["id"])
    assert confirmed["status"] == "succeeded"
    assert stripe.confirm_intent(intent["id"])["status"] == "succeeded"  # idempotent
    assert intent["id"] in {i["id"] for i in stripe.intents()}


def test_declined_card_is_a_refusal(localstripe: str) -> None:
    stripe = gateway(localstripe)
    intent = stripe.create_intent(
        cents=2000,
        idempotency_key="unit-2",
        metadata={"bridge": "unit"},
        payment_method="pm_card_chargeCustomerFail",
    )
    with pytest.raises(ProcessorError):
        stripe.confirm_intent(intent["id"])


def test_stripe_down_is_retryable() -> None:
    with pytest.raises(ProcessorUnavailableError):
        gateway("http://127.0.0.1:9").create_intent(
            cents=2000, idempotency_key="unit-3", metadata={}
        )


def _event() -> str:
    return json.dumps(
        {
            "id": "evt_unit",
            "object": "event",
            "type": "payment_intent.succeeded",
            "created": int(time.time()),
            "data": {"object": {"id": "pi_1", "object": "payment_intent", "amount": 2000}},
        }
    )


def test_a_signed_event_verifies() -> None:
    payload = _event()
    event = gateway("http://127.0.0.1:9").verify(payload.encode(), sign_webhook(payload))
    assert (event.id, event.type, event.object["amount"]) == (
        "evt_unit",
        "payment_intent.succeeded",
        2000,
    )


@pytest.mark.parametrize(
    "signature",
    [
        None,
        "",
        "t=1,v1=deadbeef",
        sign_webhook(_event(), secret="whsec_someone_else"),
        sign_webhook(_event(), timestamp=int(time.time()) - 301),  # a replay after 5 minutes
        "garbage",
    ],
    # fixed ids: the signed ones vary by the second, and pytest-xdist's processes must
    # collect the same tests
    ids=["none", "empty", "bad-digest", "other-secret", "stale", "garbage"],
)
def test_bad_signatures_are_refused(signature: str | None) -> None:
    payload = _event()
    with pytest.raises(WebhookSignatureError):
        gateway("http://127.0.0.1:9").verify(payload.encode(), signature)


def test_a_tampered_body_is_refused() -> None:
    payload = _event()
    signature = sign_webhook(payload)
    tampered = payload.replace("2000", "9000")
    with pytest.raises(WebhookSignatureError):
        gateway("http://127.0.0.1:9").verify(tampered.encode(), signature)
