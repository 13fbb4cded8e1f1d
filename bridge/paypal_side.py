"""PayPal Payouts through the official ``paypal-server-sdk``.

The SDK (2.4) ships OAuth 2 client credentials, Orders, Payments, Vault, Subscriptions
and Transaction Search, but no Payouts controller; :class:`PayoutsController` adds the
three Payouts v1 endpoints the bridge needs on the SDK's own request builder, auth
manager, retries and error types, the way its generated controllers are written:

- ``POST /v1/payments/payouts`` (create a batch; ``sender_batch_id`` is idempotent for
  30 days: a repeat is refused with ``USER_BUSINESS_ERROR`` and a HATEOAS link to the
  original batch; the ``PayPal-Request-Id`` header makes a retry return the original),
- ``GET /v1/payments/payouts/{payout_batch_id}`` (batch and item statuses),
- ``GET /v1/payments/payouts-item/{payout_item_id}``.

Item statuses (PayPal API reference, ``transaction_status``): SUCCESS is final;
FAILED, RETURNED, BLOCKED, REFUNDED and REVERSED mean the money did not reach the
worker; PENDING, UNCLAIMED (no PayPal account yet; returned after 30 days) and ONHOLD
are still open.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import requests
from apimatic_core.authentication.multiple.single_auth import Single
from apimatic_core.exceptions.auth_validation_exception import AuthValidationException
from apimatic_core.request_builder import RequestBuilder
from apimatic_core.response_handler import ResponseHandler
from apimatic_core.types.parameter import Parameter
from paypalserversdk.api_helper import APIHelper
from paypalserversdk.configuration import Configuration, Environment, Server
from paypalserversdk.controllers.base_controller import BaseController
from paypalserversdk.exceptions.api_exception import ApiException
from paypalserversdk.exceptions.error_exception import ErrorException
from paypalserversdk.http.auth.o_auth_2 import ClientCredentialsAuthCredentials
from paypalserversdk.http.http_method_enum import HttpMethodEnum
from paypalserversdk.paypal_serversdk_client import PaypalServersdkClient

from .exceptions import AmountError, ProcessorError, ProcessorUnavailableError
from .rates import parse_usd

__all__ = [
    "FINAL_FAILED",
    "OPEN",
    "PayPalGateway",
    "PayoutItem",
    "PayoutsController",
    "usd_value",
]

logger = logging.getLogger(__name__)

FINAL_FAILED = frozenset({"FAILED", "RETURNED", "BLOCKED", "REFUNDED", "REVERSED", "DENIED"})
"""Item statuses after which the worker got nothing (and the CC goes back)."""
OPEN = frozenset({"PENDING", "UNCLAIMED", "ONHOLD", "NEW", "PROCESSING"})


def usd_value(cents: int) -> str:
    """PayPal's amount string for *cents*: ``5000 -> "50.00"``."""
    return f"{cents // 100}.{cents % 100:02d}"


class _LocalConfiguration(Configuration):
    """The SDK configuration with its API host replaced (for a local test double)."""

    def __init__(self, base_url: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._base_url = base_url.rstrip("/")

    def get_base_uri(self, server: Server = Server.DEFAULT) -> str:
        return self._base_url


class PayoutsController(BaseController):
    """Payouts v1 endpoints on the SDK's plumbing (see the module docs)."""

    def create_batch_payout(self, body: dict[str, Any], paypal_request_id: str | None) -> Any:
        """POST /v1/payments/payouts; returns the SDK's ApiResponse (``body`` a dict)."""
        return (
            super()
            .new_api_call_builder.request(
                RequestBuilder()
                .server(Server.DEFAULT)
                .path("/v1/payments/payouts")
                .http_method(HttpMethodEnum.POST)
                .header_param(Parameter().key("Content-Type").value("application/json"))
                .body_param(Parameter().value(body))
                .header_param(Parameter().key("PayPal-Request-Id").value(paypal_request_id))
                .header_param(Parameter().key("accept").value("application/json"))
                .body_serializer(APIHelper.json_serialize)
                .auth(Single("Oauth2"))
            )
            .response(
                ResponseHandler()
                .deserializer(APIHelper.json_deserialize)
                .is_api_response(True)
                .local_error("default", "Payouts error.", ErrorException)
            )
            .execute()
        )

    def get_batch_payout(self, payout_batch_id: str) -> Any:
        """GET /v1/payments/payouts/{payout_batch_id}."""
        return self._get("/v1/payments/payouts/{id}", payout_batch_id)

    def get_payout_item(self, payout_item_id: str) -> Any:
        """GET /v1/payments/payouts-item/{payout_item_id}."""
        return self._get("/v1/payments/payouts-item/{id}", payout_item_id)

    def _get(self, path: str, ident: str) -> Any:
        return (
            super()
            .new_api_call_builder.request(
                RequestBuilder()
                .server(Server.DEFAULT)
                .path(path)
                .http_method(HttpMethodEnum.GET)
                .template_param(Parameter().key("id").value(ident).should_encode(True))
                .header_param(Parameter().key("accept").value("application/json"))
                .auth(Single("Oauth2"))
            )
            .response(
                ResponseHandler()
                .deserializer(APIHelper.json_deserialize)
                .is_api_response(True)
                .local_error("default", "Payouts error.", ErrorException)
            )
            .execute()
        )


@dataclass(frozen=True)
class PayoutItem:
    """One payout item as PayPal reports it."""

    batch_id: str
    batch_status: str
    item_id: str | None
    status: str
    """``transaction_status`` (PENDING while the batch has no items yet)."""
    amount_cents: int
    fee_cents: int
    receiver: str
    sender_batch_id: str
    error: str | None = None


class PayPalGateway:
    """PayPal Payouts for the bridge (synchronous; run it in a thread from asyncio)."""

    def __init__(
        self,
        client_id: str,
        client_secret: str,
        *,
        environment: str = "sandbox",
        base_url: str = "",
        timeout: float = 20.0,
    ) -> None:
        env = Environment.PRODUCTION if environment == "production" else Environment.SANDBOX
        credentials = ClientCredentialsAuthCredentials(
            o_auth_client_id=client_id, o_auth_client_secret=client_secret
        )
        options: dict[str, Any] = {
            "timeout": timeout,
            "max_retries": 0,
            "environment": env,
            "client_credentials_auth_credentials": credentials,
        }
        config = _LocalConfiguration(base_url, **options) if base_url else None
        self._client = PaypalServersdkClient(config=config, **({} if config else options))
        self._payouts = PayoutsController(self._client.global_configuration)

    def _call(self, what: str, fn: Any, *args: Any) -> Any:
        try:
            response = fn(*args)
        except (requests.RequestException, OSError) as err:
            raise ProcessorUnavailableError(f"PayPal unreachable ({what}): {err}") from None
        except AuthValidationException as err:  # no token: PayPal down or our credentials
            raise ProcessorUnavailableError(f"PayPal OAuth failed ({what}): {err}") from None
        except ApiException as err:
            status = err.response_code
            name = getattr(err, "name", None)
            if status >= 500 or status in (401, 403, 408, 429):
                # our credentials or PayPal itself: retry later, never give up a payout
                raise ProcessorUnavailableError(f"PayPal {what}: {status} {name or err}") from None
            message = str(getattr(err, "message", err))
            raise _Refused(what, status, name, _links(err), message) from None
        return response.body

    def create_payout(self, *, sender_batch_id: str, email: str, cents: int, note: str) -> str:
        """Pay *cents* USD to the PayPal account *email*; returns the payout batch id.
        Repeating it with the same *sender_batch_id* returns the original batch.
        :class:`ProcessorUnavailableError` to retry; :class:`ProcessorError` if PayPal
        refused the payout for good."""
        body = {
            "sender_batch_header": {
                "sender_batch_id": sender_batch_id,
                "recipient_type": "EMAIL",
                "email_subject": "You have a payout from Compute Currency",
                "email_message": note,
            },
            "items": [
                {
                    "recipient_type": "EMAIL",
                    "amount": {"value": usd_value(cents), "currency": "USD"},
                    "receiver": email,
                    "note": note,
                    "sender_item_id": sender_batch_id,
                }
            ],
        }
        try:
            created = self._call(
                "create payout", self._payouts.create_batch_payout, body, sender_batch_id
            )
        except _Refused as refused:
            original = refused.duplicate_of()
            if original is not None:
                logger.info("payout %s exists already as batch %s", sender_batch_id, original)
                return original
            raise ProcessorError(str(refused)) from None
        return str(created["batch_header"]["payout_batch_id"])

    def item(self, batch_id: str) -> PayoutItem:
        """The (single) item of batch *batch_id*."""
        try:
            batch = self._call("get payout", self._payouts.get_batch_payout, batch_id)
        except _Refused as refused:
            raise ProcessorError(str(refused)) from None
        header = batch.get("batch_header") or {}
        items = batch.get("items") or []
        sender = str((header.get("sender_batch_header") or {}).get("sender_batch_id", ""))
        if not items:
            return PayoutItem(
                batch_id=batch_id,
                batch_status=str(header.get("batch_status")),
                item_id=None,
                status=str(header.get("batch_status") or "PENDING"),
                amount_cents=0,
                fee_cents=0,
                receiver="",
                sender_batch_id=sender,
            )
        item = items[0]
        inner = item.get("payout_item") or {}
        error = (item.get("errors") or {}).get("name")
        return PayoutItem(
            batch_id=batch_id,
            batch_status=str(header.get("batch_status")),
            item_id=item.get("payout_item_id"),
            status=str(item.get("transaction_status") or "PENDING"),
            amount_cents=_cents(inner.get("amount")),
            fee_cents=_cents(item.get("payout_item_fee")),
            receiver=str(inner.get("receiver", "")),
            sender_batch_id=sender,
            error=error,
        )


class _Refused(Exception):
    def __init__(
        self, what: str, status: int, name: str | None, links: list[str], message: str
    ) -> None:
        super().__init__(f"PayPal refused {what}: {status} {name or ''} {message}".strip())
        self.status = status
        self.name = name
        self.links = links

    def duplicate_of(self) -> str | None:
        """The original batch id of a duplicate ``sender_batch_id`` refusal."""
        if self.name != "USER_BUSINESS_ERROR":
            return None
        for href in self.links:
            if "/v1/payments/payouts/" in href:
                return href.rstrip("/").rsplit("/", 1)[1]
        return None


def _links(err: ApiException) -> list[str]:
    links = getattr(err, "links", None) or []
    return [str(getattr(link, "href", "")) for link in links]


def _cents(money: Any) -> int:
    if not isinstance(money, dict) or "value" not in money:
        return 0
    if str(money.get("currency", "USD")).upper() != "USD":
        raise AmountError(f"PayPal answered in {money.get('currency')}, not USD")
    return parse_usd(str(money["value"]))
