"""A **test double** of PayPal's OAuth 2 and Payouts v1 endpoints, on 127.0.0.1.

PayPal has no local server, so the bridge's tests and ``ccnet demo --fiat`` talk to
this stand-in through the real ``paypal-server-sdk``. It is not PayPal: it moves no
money. Its behaviour follows PayPal's API reference (Payouts v1, "Create batch
payout", "Show payout batch details", "Show/Cancel unclaimed payout item", and the
OAuth 2 client-credentials token call):

- ``POST /v1/oauth2/token``: HTTP Basic client id/secret, ``grant_type=
  client_credentials``; 401 ``invalid_client`` for wrong credentials. API calls need
  ``Authorization: Bearer <token>`` (401 ``invalid_token`` otherwise).
- ``POST /v1/payments/payouts``: 201 with ``batch_status`` PENDING. A reused
  ``sender_batch_id`` is refused (400 ``USER_BUSINESS_ERROR``) with a HATEOAS link to
  the original batch; a repeated ``PayPal-Request-Id`` gets the original response. 422
  ``INSUFFICIENT_FUNDS`` when the sender's balance cannot cover amounts plus fees; 400
  ``VALIDATION_ERROR`` with ``details`` for a malformed body.
- ``GET /v1/payments/payouts/{id}``: the batch is processed on its first read: SUCCESS
  items carry ``payout_item_fee``; the batch becomes SUCCESS.
- ``GET /v1/payments/payouts-item/{id}``, ``POST .../payouts-item/{id}/cancel`` (an
  UNCLAIMED item becomes RETURNED and its money goes back to the sender).

Outcomes by receiver, like Stripe's test cards: an address whose local part ends in
``+unclaimed`` gets UNCLAIMED (``RECEIVER_UNREGISTERED``; RETURNED after
:meth:`PayPalDouble.expire_unclaimed`, PayPal's 30 days), ``+failed`` FAILED
(``RECEIVER_ACCOUNT_LOCKED``), ``+blocked`` BLOCKED, ``+onhold`` ONHOLD; any other
address SUCCESS. Failures of PayPal itself are switched on with :meth:`outage` (the next
*n* API calls answer 5xx, optionally after the create took effect: the response is
lost, as PayPal's "retry after 5nn with the same sender_batch_id" note describes).
"""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
import threading
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from aiohttp import web

__all__ = ["PayPalDouble"]

INFO_LINK = "https://developer.paypal.com/docs/api/payments.payouts-batch/#errors"


def _cents(value: Any) -> int | None:
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        return None
    cents = amount * 100
    if not amount.is_finite() or cents != cents.to_integral_value() or cents <= 0:
        return None
    return int(cents)


def _money(cents: int) -> dict[str, str]:
    return {"currency": "USD", "value": f"{cents // 100}.{cents % 100:02d}"}


def _pid(n: int = 13) -> str:
    alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
    return "".join(secrets.choice(alphabet) for _ in range(n))


@dataclass
class _Item:
    item_id: str
    receiver: str
    cents: int
    sender_item_id: str
    note: str
    status: str = "PENDING"
    fee: int = 0
    error: str | None = None
    transaction_id: str | None = None


@dataclass
class _Batch:
    batch_id: str
    header: dict[str, Any]
    items: list[_Item]
    status: str = "PENDING"
    processed: bool = False
    created: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


class PayPalDouble:
    """The test double, served from a background thread on ``host:port``.

    *client_id*/*client_secret* are the credentials it accepts; *balance_cents* is the
    sender's PayPal balance; *fee_cents* the fee PayPal charges per successful item.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        client_id: str = "double-client",
        client_secret: str = "double-secret",
        balance_cents: int = 10**9,
        fee_cents: int = 25,
    ) -> None:
        self.host = host
        self.port = port
        self.client_id = client_id
        self.client_secret = client_secret
        self.balance_cents = balance_cents
        self.fee_cents = fee_cents
        self.batches: dict[str, _Batch] = {}
        self.by_sender: dict[str, str] = {}
        self.requests: dict[str, tuple[int, dict[str, Any]]] = {}
        self.tokens: set[str] = set()
        self.calls: list[tuple[str, str]] = []
        self._outage = 0
        self._outage_after_effect = False
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self._started = threading.Event()

    # -- control (tests) -------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def outage(self, calls: int, *, after_effect: bool = False) -> None:
        """The next *calls* API calls answer 503; with *after_effect* a create takes
        effect first and only its response is lost."""
        with self._lock:
            self._outage = calls
            self._outage_after_effect = after_effect

    def expire_unclaimed(self) -> int:
        """PayPal's 30 days pass: every UNCLAIMED item is RETURNED; returns how many."""
        with self._lock:
            count = 0
            for batch in self.batches.values():
                for item in batch.items:
                    if item.status == "UNCLAIMED":
                        self._return(item, "RETURNED")
                        count += 1
            return count

    def paid_cents(self) -> int:
        """Amounts plus fees of SUCCESS items: what left the sender's balance for good."""
        with self._lock:
            return sum(
                i.cents + i.fee
                for b in self.batches.values()
                for i in b.items
                if i.status == "SUCCESS"
            )

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> PayPalDouble:
        self._thread = threading.Thread(target=self._serve, name="paypal-double", daemon=True)
        self._thread.start()
        if not self._started.wait(10):
            raise RuntimeError("the PayPal double did not start")
        return self

    def _serve(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        app = web.Application()
        app.router.add_post("/v1/oauth2/token", self._token)
        app.router.add_post("/v1/payments/payouts", self._create)
        app.router.add_get("/v1/payments/payouts/{id}", self._get_batch)
        app.router.add_get("/v1/payments/payouts-item/{id}", self._get_item)
        app.router.add_post("/v1/payments/payouts-item/{id}/cancel", self._cancel_item)
        self._runner = web.AppRunner(app, access_log=None)
        loop.run_until_complete(self._runner.setup())
        site = web.TCPSite(self._runner, self.host, self.port)
        loop.run_until_complete(site.start())
        self.port = int(self._runner.addresses[0][1])
        self._started.set()
        loop.run_forever()
        loop.run_until_complete(self._runner.cleanup())
        loop.close()

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(10)

    def __enter__(self) -> PayPalDouble:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    # -- helpers ---------------------------------------------------------------------------

    @staticmethod
    def _error(status: int, name: str, message: str, **extra: Any) -> web.Response:
        body = {
            "name": name,
            "message": message,
            "debug_id": secrets.token_hex(6),
            "information_link": INFO_LINK,
            **extra,
        }
        return web.json_response(body, status=status)

    def _authorized(self, request: web.Request) -> bool:
        header = request.headers.get("Authorization", "")
        return header.startswith("Bearer ") and header[7:] in self.tokens

    def _down(self) -> bool:
        with self._lock:
            if self._outage > 0 and not self._outage_after_effect:
                self._outage -= 1
                return True
            return False

    def _lose_response(self) -> bool:
        with self._lock:
            if self._outage > 0 and self._outage_after_effect:
                self._outage -= 1
                return True
            return False

    def _unavailable(self) -> web.Response:
        return self._error(503, "SERVICE_UNAVAILABLE", "Service Unavailable.")

    def _unauthorized(self) -> web.Response:
        body = {
            "error": "invalid_token",
            "error_description": "Token signature verification failed",
        }
        return web.json_response(body, status=401)

    def _link(self, batch_id: str) -> dict[str, str]:
        return {
            "href": f"{self.url}/v1/payments/payouts/{batch_id}",
            "rel": "self",
            "method": "GET",
            "encType": "application/json",
        }

    # -- OAuth -----------------------------------------------------------------------------

    async def _token(self, request: web.Request) -> web.Response:
        self.calls.append(("POST", "/v1/oauth2/token"))
        if self._down():
            return self._unavailable()
        header = request.headers.get("Authorization", "")
        try:
            user, _, password = (
                base64.b64decode(header.removeprefix("Basic ")).decode().partition(":")
            )
        except ValueError:
            user = password = ""
        form = await request.post()
        if not header.startswith("Basic ") or (user, password) != (
            self.client_id,
            self.client_secret,
        ):
            body = {"error": "invalid_client", "error_description": "Client Authentication failed"}
            return web.json_response(body, status=401)
        if form.get("grant_type") != "client_credentials":
            body = {"error": "unsupported_grant_type", "error_description": "Grant Type is NULL"}
            return web.json_response(body, status=400)
        token = "A21AA" + secrets.token_urlsafe(24)
        self.tokens.add(token)
        return web.json_response(
            {
                "scope": "https://uri.paypal.com/services/payments/payouts",
                "access_token": token,
                "token_type": "Bearer",
                "app_id": "APP-80W284485P519543T",
                "expires_in": 32400,
                "nonce": secrets.token_hex(8),
            }
        )

    # -- Payouts ---------------------------------------------------------------------------

    async def _create(self, request: web.Request) -> web.Response:
        self.calls.append(("POST", "/v1/payments/payouts"))
        if self._down():
            return self._unavailable()
        if not self._authorized(request):
            return self._unauthorized()
        request_id = request.headers.get("PayPal-Request-Id")
        with self._lock:
            if request_id and request_id in self.requests:
                status, body = self.requests[request_id]
                return web.json_response(body, status=status)
        try:
            data = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            return self._error(400, "MALFORMED_REQUEST", "Request is not well-formed.")
        problems, header, items = self._validate(data)
        if problems:
            return self._error(
                400, "VALIDATION_ERROR", "Invalid request - see details", details=problems
            )
        sender_batch_id = str(header["sender_batch_id"])
        with self._lock:
            if sender_batch_id in self.by_sender:
                original = self.by_sender[sender_batch_id]
                return self._error(
                    400,
                    "USER_BUSINESS_ERROR",
                    "User business error.",
                    details=[
                        {
                            "field": "SENDER_BATCH_ID",
                            "location": "body",
                            "issue": f"Batch with given sender_batch_id {sender_batch_id} "
                            "already exists",
                        }
                    ],
                    links=[self._link(original)],
                )
            total = sum(i.cents + self.fee_cents for i in items)
            if total > self.balance_cents:
                return self._error(
                    422,
                    "INSUFFICIENT_FUNDS",
                    "Sender does not have sufficient funds. Please add funds and retry.",
                )
            self.balance_cents -= total
            batch = _Batch(batch_id=_pid(), header=header, items=items)
            self.batches[batch.batch_id] = batch
            self.by_sender[sender_batch_id] = batch.batch_id
            body = {
                "batch_header": {
                    "sender_batch_header": header,
                    "payout_batch_id": batch.batch_id,
                    "batch_status": "PENDING",
                },
                "links": [self._link(batch.batch_id)],
            }
            if request_id:
                self.requests[request_id] = (201, body)
        if self._lose_response():
            return self._unavailable()
        return web.json_response(body, status=201)

    def _validate(self, data: Any) -> tuple[list[dict[str, str]], dict[str, Any], list[_Item]]:
        problems: list[dict[str, str]] = []

        def problem(field_name: str, issue: str) -> None:
            problems.append({"field": field_name, "location": "body", "issue": issue})

        if not isinstance(data, dict):
            problem("/", "The request body must be a JSON object.")
            return problems, {}, []
        header = data.get("sender_batch_header")
        if not isinstance(header, dict) or not header.get("sender_batch_id"):
            problem("sender_batch_header.sender_batch_id", "Required field is missing.")
            header = {}
        raw_items = data.get("items")
        if not isinstance(raw_items, list) or not raw_items or len(raw_items) > 15000:
            problem("items", "Between 1 and 15000 items are required.")
            raw_items = []
        items: list[_Item] = []
        for index, raw in enumerate(raw_items):
            where = f"items[{index}]"
            if not isinstance(raw, dict):
                problem(where, "Item must be an object.")
                continue
            amount = raw.get("amount") or {}
            cents = _cents(amount.get("value")) if isinstance(amount, dict) else None
            if cents is None:
                problem(f"{where}.amount.value", "Amount must be positive with 2 decimals.")
            elif str(amount.get("currency")) != "USD":
                problem(f"{where}.amount.currency", "Currency is not supported.")
            receiver = raw.get("receiver")
            if not isinstance(receiver, str) or "@" not in receiver:
                problem(f"{where}.receiver", "Receiver is invalid or does not match with type.")
            if problems:
                continue
            assert cents is not None and isinstance(receiver, str)
            items.append(
                _Item(
                    item_id=_pid(),
                    receiver=receiver,
                    cents=cents,
                    sender_item_id=str(raw.get("sender_item_id", "")),
                    note=str(raw.get("note", "")),
                )
            )
        return problems, header, items

    def _process(self, batch: _Batch) -> None:
        if batch.processed:
            return
        batch.processed = True
        for item in batch.items:
            local = item.receiver.split("@", 1)[0]
            if local.endswith("+unclaimed"):
                item.status, item.error = "UNCLAIMED", "RECEIVER_UNREGISTERED"
                item.transaction_id = _pid(17)
            elif local.endswith("+failed"):
                self._return(item, "FAILED", "RECEIVER_ACCOUNT_LOCKED")
            elif local.endswith("+blocked"):
                self._return(item, "BLOCKED", "RECEIVER_STATE_RESTRICTED")
            elif local.endswith("+onhold"):
                item.status = "ONHOLD"
            else:
                item.status, item.fee = "SUCCESS", self.fee_cents
                item.transaction_id = _pid(17)
        batch.status = "SUCCESS"

    def _return(self, item: _Item, status: str, error: str | None = None) -> None:
        """The item's amount and fee go back to the sender."""
        self.balance_cents += item.cents + self.fee_cents
        item.status, item.fee = status, 0
        if error:
            item.error = error

    def _item_json(self, batch: _Batch, item: _Item) -> dict[str, Any]:
        body: dict[str, Any] = {
            "payout_item_id": item.item_id,
            "transaction_id": item.transaction_id,
            "transaction_status": item.status,
            "payout_item_fee": _money(item.fee),
            "payout_batch_id": batch.batch_id,
            "payout_item": {
                "recipient_type": "EMAIL",
                "amount": _money(item.cents),
                "note": item.note,
                "receiver": item.receiver,
                "sender_item_id": item.sender_item_id,
            },
            "links": [
                {
                    "href": f"{self.url}/v1/payments/payouts-item/{item.item_id}",
                    "rel": "item",
                    "method": "GET",
                }
            ],
        }
        if item.error:
            body["errors"] = {"name": item.error, "message": item.error.replace("_", " ").lower()}
        return body

    def _batch_json(self, batch: _Batch) -> dict[str, Any]:
        amount = sum(i.cents for i in batch.items)
        fees = sum(i.fee for i in batch.items)
        return {
            "batch_header": {
                "payout_batch_id": batch.batch_id,
                "batch_status": batch.status,
                "sender_batch_header": batch.header,
                "amount": _money(amount),
                "fees": _money(fees),
            },
            "items": [self._item_json(batch, i) for i in batch.items],
            "links": [self._link(batch.batch_id)],
        }

    async def _get_batch(self, request: web.Request) -> web.Response:
        self.calls.append(("GET", "/v1/payments/payouts/{id}"))
        if self._down():
            return self._unavailable()
        if not self._authorized(request):
            return self._unauthorized()
        with self._lock:
            batch = self.batches.get(request.match_info["id"])
            if batch is None:
                return self._error(
                    404, "RESOURCE_NOT_FOUND", "The specified resource does not exist."
                )
            self._process(batch)
            return web.json_response(self._batch_json(batch))

    def _find_item(self, item_id: str) -> tuple[_Batch, _Item] | None:
        for batch in self.batches.values():
            for item in batch.items:
                if item.item_id == item_id:
                    return batch, item
        return None

    async def _get_item(self, request: web.Request) -> web.Response:
        self.calls.append(("GET", "/v1/payments/payouts-item/{id}"))
        if self._down():
            return self._unavailable()
        if not self._authorized(request):
            return self._unauthorized()
        with self._lock:
            found = self._find_item(request.match_info["id"])
            if found is None:
                return self._error(
                    404, "RESOURCE_NOT_FOUND", "The specified resource does not exist."
                )
            return web.json_response(self._item_json(*found))

    async def _cancel_item(self, request: web.Request) -> web.Response:
        self.calls.append(("POST", "/v1/payments/payouts-item/{id}/cancel"))
        if self._down():
            return self._unavailable()
        if not self._authorized(request):
            return self._unauthorized()
        with self._lock:
            found = self._find_item(request.match_info["id"])
            if found is None:
                return self._error(
                    404, "RESOURCE_NOT_FOUND", "The specified resource does not exist."
                )
            batch, item = found
            if item.status != "UNCLAIMED":
                return self._error(
                    400,
                    "ITEM_ALREADY_CANCELLED" if item.status == "RETURNED" else "VALIDATION_ERROR",
                    "Only an unclaimed payout item can be cancelled.",
                )
            self._return(item, "RETURNED")
            return web.json_response(self._item_json(batch, item))
