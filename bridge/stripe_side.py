"""Stripe through the official ``stripe`` library: PaymentIntents for purchases, webhook
verification, and the lists the reconciliation and the missed-webhook sweep read.

Webhooks are verified as Stripe documents ("Check the webhook signatures"): the
``Stripe-Signature`` header carries ``t=<unix>`` and ``v1=<hex HMAC-SHA256 of
"<t>.<raw body>" under the endpoint secret>``; a header older than the tolerance
(300 s) is refused, so a captured delivery cannot be replayed later, and the ledger's
unique event ids absorb replays within the window. A timestamp further in the future
than the tolerance is refused too. Even a validly signed ``payment_intent.succeeded``
is not trusted alone: the service reads the PaymentIntent back from Stripe's API before
crediting (so a leaked endpoint secret cannot mint CC).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import stripe

from .exceptions import ProcessorError, ProcessorUnavailableError, WebhookSignatureError

__all__ = ["StripeGateway", "VerifiedEvent"]

logger = logging.getLogger(__name__)

PAGE = 100


@dataclass(frozen=True)
class VerifiedEvent:
    """A Stripe event whose signature checked out."""

    id: str
    type: str
    created: int
    object: dict[str, Any]


def _plain(value: Any) -> Any:
    """A StripeObject as plain dicts and lists."""
    if isinstance(value, stripe.StripeObject):
        return {k: _plain(v) for k, v in value.to_dict().items()}
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


class StripeGateway:
    """Stripe at *api_base* with secret key *api_key*; *webhook_secret* verifies
    deliveries. Calls are synchronous (run them in a thread from asyncio)."""

    def __init__(
        self,
        api_key: str,
        webhook_secret: str,
        *,
        api_base: str = "https://api.stripe.com",
        tolerance: int = 300,
        timeout: float = 20.0,
    ) -> None:
        self.webhook_secret = webhook_secret
        self.tolerance = tolerance
        self._client = stripe.StripeClient(
            api_key,
            base_addresses={"api": api_base},
            max_network_retries=0,
            http_client=stripe.RequestsClient(timeout=timeout),
        )

    def _call(self, what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except stripe.APIConnectionError as err:
            raise ProcessorUnavailableError(f"Stripe unreachable ({what}): {err}") from None
        except stripe.StripeError as err:
            status = getattr(err, "http_status", None) or 0
            if status >= 500 or status in (409, 429):
                raise ProcessorUnavailableError(f"Stripe {what}: {status} {err}") from None
            raise ProcessorError(f"Stripe refused {what}: {err.user_message or err}") from None

    # -- purchases -------------------------------------------------------------------------

    def create_intent(
        self,
        *,
        cents: int,
        idempotency_key: str,
        metadata: Mapping[str, str],
        payment_method: str | None = None,
    ) -> dict[str, Any]:
        """A PaymentIntent for *cents* USD (not confirmed), made at most once per
        *idempotency_key* by Stripe."""
        params: dict[str, Any] = {"amount": cents, "currency": "usd", "metadata": dict(metadata)}
        if payment_method:
            params["payment_method"] = payment_method
        intent = self._call(
            "create PaymentIntent",
            self._client.v1.payment_intents.create,
            params=params,
            options={"idempotency_key": idempotency_key},
        )
        return dict(_plain(intent))

    def confirm_intent(self, intent_id: str) -> dict[str, Any]:
        """Confirm a PaymentIntent that has its payment method; an intent already past
        confirmation is returned as it is."""
        current = self.retrieve_intent(intent_id)
        if current.get("status") != "requires_confirmation":
            return current
        try:
            intent = self._call(
                "confirm PaymentIntent",
                self._client.v1.payment_intents.confirm,
                intent_id,
                options={"idempotency_key": f"confirm-{intent_id}"},
            )
        except ProcessorError:
            current = self.retrieve_intent(intent_id)
            if current.get("status") in ("succeeded", "processing"):
                return current
            raise
        return dict(_plain(intent))

    def retrieve_intent(self, intent_id: str) -> dict[str, Any]:
        intent = self._call(
            "retrieve PaymentIntent", self._client.v1.payment_intents.retrieve, intent_id
        )
        return dict(_plain(intent))

    def intents(self) -> Iterator[dict[str, Any]]:
        """Every PaymentIntent of the account, newest first."""
        yield from self._pages("list PaymentIntents", self._client.v1.payment_intents.list)

    def events(self) -> Iterator[dict[str, Any]]:
        """The account's recent events (Stripe keeps 30 days), newest first."""
        yield from self._pages("list events", self._client.v1.events.list)

    def _pages(self, what: str, fn: Any) -> Iterator[dict[str, Any]]:
        after: str | None = None
        while True:
            params: dict[str, Any] = {"limit": PAGE}
            if after:
                params["starting_after"] = after
            page = self._call(what, fn, params=params)
            items = [dict(_plain(item)) for item in page.data]
            yield from items
            if not page.has_more or not items:
                return
            after = items[-1]["id"]

    # -- webhooks --------------------------------------------------------------------------

    def verify(self, payload: bytes, signature: str | None) -> VerifiedEvent:
        """The event in *payload* if *signature* (the ``Stripe-Signature`` header) is
        valid and fresh; :class:`WebhookSignatureError` otherwise."""
        if not signature:
            raise WebhookSignatureError("unsigned webhook (no Stripe-Signature header)")
        stamp = re.search(r"(?:^|,)t=(\d+)", signature)
        if stamp and int(stamp.group(1)) > time.time() + self.tolerance:
            raise WebhookSignatureError("webhook timestamp is in the future")
        try:
            event = stripe.Webhook.construct_event(
                payload, signature, self.webhook_secret, tolerance=self.tolerance
            )
        except stripe.SignatureVerificationError as err:
            raise WebhookSignatureError(f"webhook signature refused: {err}") from None
        except (ValueError, KeyError, IndexError) as err:
            raise WebhookSignatureError(f"malformed webhook: {err}") from None
        return self.event_of(_plain(event))

    @staticmethod
    def event_of(data: Mapping[str, Any]) -> VerifiedEvent:
        obj = data.get("data", {}).get("object")
        if not isinstance(obj, dict) or not data.get("id") or not data.get("type"):
            raise WebhookSignatureError("malformed event: no id, type or data.object")
        return VerifiedEvent(
            id=str(data["id"]),
            type=str(data["type"]),
            created=int(data.get("created") or 0),
            object=obj,
        )
