"""The PayPal side through the real paypal-server-sdk against the Payouts test double:
OAuth, idempotent batches, item outcomes, failures of PayPal itself."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ccnet.bridge.exceptions import ProcessorError, ProcessorUnavailableError
from ccnet.bridge.paypal_double import PayPalDouble
from ccnet.bridge.paypal_side import PayPalGateway, usd_value


@pytest.fixture
def double() -> Iterator[PayPalDouble]:
    with PayPalDouble(fee_cents=25) as server:
        yield server


def gateway(double: PayPalDouble, secret: str | None = None) -> PayPalGateway:
    return PayPalGateway(
        double.client_id, secret or double.client_secret, base_url=double.url, timeout=5
    )


def test_usd_value() -> None:
    assert usd_value(5000) == "50.00"
    assert usd_value(5) == "0.05"


def test_payout_succeeds_once_per_sender_batch_id(double: PayPalDouble) -> None:
    paypal = gateway(double)
    batch = paypal.create_payout(sender_batch_id="s-1", email="w@example.com", cents=5000, note="n")
    again = paypal.create_payout(sender_batch_id="s-1", email="w@example.com", cents=5000, note="n")
    assert again == batch and len(double.batches) == 1
    item = paypal.item(batch)
    assert (item.status, item.amount_cents, item.fee_cents) == ("SUCCESS", 5000, 25)
    assert double.paid_cents() == 5025


def test_duplicate_without_request_id_returns_the_original(double: PayPalDouble) -> None:
    paypal = gateway(double)
    batch = paypal.create_payout(sender_batch_id="s-2", email="w@example.com", cents=5000, note="n")
    double.requests.clear()  # PayPal forgot the PayPal-Request-Id: only the batch id guards
    assert (
        paypal.create_payout(sender_batch_id="s-2", email="w@example.com", cents=5000, note="n")
        == batch
    )
    assert len(double.batches) == 1


def test_lost_response_then_retry_pays_once(double: PayPalDouble) -> None:
    paypal = gateway(double)
    double.outage(1, after_effect=True)
    with pytest.raises(ProcessorUnavailableError):
        paypal.create_payout(sender_batch_id="s-3", email="w@example.com", cents=6000, note="n")
    batch = paypal.create_payout(sender_batch_id="s-3", email="w@example.com", cents=6000, note="n")
    assert len(double.batches) == 1 and paypal.item(batch).status == "SUCCESS"


def test_outage_is_retryable(double: PayPalDouble) -> None:
    paypal = gateway(double)
    double.outage(5)
    with pytest.raises(ProcessorUnavailableError):
        paypal.create_payout(sender_batch_id="s-4", email="w@example.com", cents=5000, note="n")
    assert double.batches == {}


def test_unreachable_is_retryable() -> None:
    paypal = PayPalGateway("id", "secret", base_url="http://127.0.0.1:9", timeout=2)
    with pytest.raises(ProcessorUnavailableError):
        paypal.create_payout(sender_batch_id="s-5", email="w@example.com", cents=5000, note="n")


def test_wrong_credentials_never_pay_and_are_retryable(double: PayPalDouble) -> None:
    with pytest.raises(ProcessorUnavailableError):
        gateway(double, secret="wrong").create_payout(
            sender_batch_id="s-6", email="w@example.com", cents=5000, note="n"
        )
    assert double.batches == {}


def test_insufficient_funds_is_a_refusal(double: PayPalDouble) -> None:
    double.balance_cents = 1000
    with pytest.raises(ProcessorError, match="INSUFFICIENT_FUNDS"):
        gateway(double).create_payout(
            sender_batch_id="s-7", email="w@example.com", cents=5000, note="n"
        )


def test_validation_error_is_a_refusal(double: PayPalDouble) -> None:
    with pytest.raises(ProcessorError, match="VALIDATION_ERROR"):
        gateway(double).create_payout(sender_batch_id="s-8", email="nobody", cents=5000, note="n")


@pytest.mark.parametrize(
    ("receiver", "status"),
    [
        ("w+failed@example.com", "FAILED"),
        ("w+blocked@example.com", "BLOCKED"),
        ("w+onhold@example.com", "ONHOLD"),
        ("w+unclaimed@example.com", "UNCLAIMED"),
    ],
)
def test_item_outcomes(double: PayPalDouble, receiver: str, status: str) -> None:
    paypal = gateway(double)
    batch = paypal.create_payout(sender_batch_id="s-9", email=receiver, cents=5000, note="n")
    item = paypal.item(batch)
    assert item.status == status
    assert double.paid_cents() == 0


def test_unclaimed_items_are_returned_after_30_days(double: PayPalDouble) -> None:
    paypal = gateway(double)
    start = double.balance_cents
    batch = paypal.create_payout(
        sender_batch_id="s-10", email="new+unclaimed@example.com", cents=5000, note="n"
    )
    assert paypal.item(batch).status == "UNCLAIMED"
    assert double.expire_unclaimed() == 1
    assert paypal.item(batch).status == "RETURNED"
    assert double.balance_cents == start
