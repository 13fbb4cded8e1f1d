"""``ccnet bridge run``: the HTTP service (aiohttp) in front of the ledger.

Endpoints (JSON; amounts are integers; errors are ``{"error": {"code", "message"}}``
with the status of the :class:`~ccnet.bridge.exceptions.BridgeError`):

- ``GET  /v1/info``: treasury address, rates, limits.
- ``POST /v1/purchases`` ``{account, cents, request_id, payment_method?}``: a purchase
  (idempotent per ``request_id``) and its Stripe PaymentIntent (``client_secret`` for
  Stripe.js; with ``payment_method`` the bridge confirms it).
- ``GET  /v1/purchases/{id}``.
- ``POST /v1/stripe/webhook``: Stripe's deliveries (signature checked, applied once).
- ``POST /v1/payouts`` ``{account, email, planck, extrinsic, request_id}``: a payout
  backed by the worker's signed transfer of ``planck`` to the treasury (202; the outbox
  submits it).
- ``GET  /v1/payouts/{id}``, ``GET /v1/report`` (the reconciliation), ``GET /healthz``.

Blocking work (database, chain, processors) runs in threads. Background tasks: the
outbox pass every ``poll_interval`` s (and at once after a request that queued work), and
the Stripe event sweep every ``sweep_interval`` s for deliveries that never arrived.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from ccnet.client import CcnetError, ChainConnectionError, ChainRequestError

from .chain_side import TreasuryChain
from .exceptions import (
    AmountError,
    BridgeError,
    InsufficientBalanceError,
    TransferMismatchError,
)
from .faults import CrashPoints
from .ledger import Ledger, check_address, check_email
from .models import Payout, Purchase
from .outbox import FEE_MARGIN, Outbox
from .paypal_side import PayPalGateway
from .report import reconcile
from .stripe_side import StripeGateway

__all__ = ["BridgeService", "purchase_json", "payout_json"]

logger = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
MAX_BODY = 64 * 1024


def purchase_json(p: Purchase) -> dict[str, Any]:
    return {
        "id": p.id,
        "account": p.account,
        "cents": p.cents,
        "planck": p.planck,
        "rate_cents_per_cc": f"{p.rate_num}/{p.rate_den}",
        "payment_intent": p.payment_intent,
        "status": p.status,
        "failure": p.failure,
        "created_at": p.created_at.isoformat() + "Z",
    }


def payout_json(q: Payout) -> dict[str, Any]:
    return {
        "id": q.id,
        "account": q.account,
        "email": q.email,
        "planck": q.planck,
        "gross_cents": q.gross_cents,
        "fee_cents": q.fee_cents,
        "net_cents": q.net_cents,
        "status": q.status,
        "paypal_status": q.paypal_status,
        "payout_batch_id": q.payout_batch_id,
        "extrinsic_hash": q.extrinsic_hash,
        "failure": q.failure,
        "created_at": q.created_at.isoformat() + "Z",
    }


def _error(err: BridgeError) -> web.Response:
    body = {"error": {"code": err.code, "message": str(err)}}
    return web.json_response(body, status=err.status)


@web.middleware
async def _errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except BridgeError as err:
        return _error(err)
    except (ChainConnectionError, ChainRequestError) as err:
        body = {"error": {"code": "chain_unavailable", "message": str(err)}}
        return web.json_response(body, status=503)
    except CcnetError as err:
        return web.json_response({"error": {"code": "error", "message": str(err)}}, status=400)


async def _body(request: web.Request) -> dict[str, Any]:
    try:
        data = json.loads(await request.read())
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise BridgeError("the body must be a JSON object") from None
    if not isinstance(data, dict):
        raise BridgeError("the body must be a JSON object")
    return data


def _int(data: dict[str, Any], name: str) -> int:
    value = data.get(name)
    if isinstance(value, str) and value.isdigit():
        value = int(value)  # u128 values travel as decimal strings too
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise AmountError(f"{name} must be a positive integer, got {value!r}")
    return value


def _str(data: dict[str, Any], name: str, *, max_len: int = 128) -> str:
    value = data.get(name)
    if not isinstance(value, str) or not value or len(value) > max_len:
        raise BridgeError(f"{name} must be a non-empty string of at most {max_len} characters")
    return value


@dataclass
class BridgeService:
    """The service's parts; :meth:`app` builds the aiohttp application."""

    ledger: Ledger
    chain: TreasuryChain
    stripe: StripeGateway
    paypal: PayPalGateway | None
    outbox: Outbox
    bridge_id: str
    poll_interval: float = 1.0
    sweep_interval: float = 30.0
    crash: CrashPoints | None = None

    def __post_init__(self) -> None:
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._crash = self.crash or CrashPoints()

    def app(self) -> web.Application:
        app = web.Application(middlewares=[_errors], client_max_size=MAX_BODY)
        app.router.add_get("/healthz", self._health)
        app.router.add_get("/v1/info", self._info)
        app.router.add_post("/v1/purchases", self._create_purchase)
        app.router.add_get("/v1/purchases/{id}", self._get_purchase)
        app.router.add_post("/v1/stripe/webhook", self._webhook)
        app.router.add_post("/v1/payouts", self._create_payout)
        app.router.add_get("/v1/payouts/{id}", self._get_payout)
        app.router.add_get("/v1/report", self._report)
        app.on_startup.append(self._start_background)
        app.on_cleanup.append(self._stop_background)
        return app

    # -- background ------------------------------------------------------------------------

    async def _start_background(self, _app: web.Application) -> None:
        self._tasks = [
            asyncio.create_task(self._outbox_loop(), name="bridge-outbox"),
            asyncio.create_task(self._sweep_loop(), name="bridge-sweep"),
        ]

    async def _stop_background(self, _app: web.Application) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _outbox_loop(self) -> None:
        while True:
            try:
                await asyncio.to_thread(self.outbox.run_once)
            except Exception:  # one bad pass must not stop the outbox for good
                logger.exception("outbox pass failed")
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), self.poll_interval)
            except TimeoutError:
                pass

    async def _sweep_loop(self) -> None:
        while True:
            try:
                count = await asyncio.to_thread(self.sweep)
                if count:
                    self._wake.set()
            except CcnetError as err:
                logger.warning("stripe sweep: %s", err)
            except Exception:
                logger.exception("stripe sweep failed")
            await asyncio.sleep(self.sweep_interval)

    def sweep(self) -> int:
        """Apply Stripe's recent payment events that never arrived as webhooks; returns
        how many were new."""
        applied = 0
        events = [
            self.stripe.event_of(data)
            for data in self.stripe.events()
            if str(data.get("type", "")).startswith("payment_intent.")
        ]
        known = self.ledger.known_events([e.id for e in events])
        for event in reversed(events):  # oldest first, as they happened
            if event.id in known:
                continue
            outcome = self.ledger.record_stripe_event(
                event.id, event.type, event.created, event.object, self.bridge_id
            )
            if outcome != "duplicate":
                logger.info("sweep applied %s %s: %s", event.type, event.id, outcome)
                applied += 1
        return applied

    # -- handlers --------------------------------------------------------------------------

    async def _health(self, _request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    async def _info(self, _request: web.Request) -> web.Response:
        rates = self.ledger.rates
        return web.json_response(
            {
                "treasury": self.chain.address,
                "bridge_id": self.bridge_id,
                "rates": rates.as_dict(),
            }
        )

    async def _create_purchase(self, request: web.Request) -> web.Response:
        data = await _body(request)
        account = check_address(_str(data, "account", max_len=64))
        cents = _int(data, "cents")
        request_id = _str(data, "request_id")
        payment_method = data.get("payment_method")
        if payment_method is not None and not isinstance(payment_method, str):
            raise BridgeError("payment_method must be a string (a Stripe pm_... id)")
        purchase, _created = await asyncio.to_thread(
            self.ledger.open_purchase, request_id, account, cents
        )
        self._crash("purchase.created")
        if purchase.payment_intent is None:
            intent = await asyncio.to_thread(
                self.stripe.create_intent,
                cents=purchase.cents,
                idempotency_key=purchase.id,
                metadata={"bridge": self.bridge_id, "purchase": purchase.id, "account": account},
                payment_method=payment_method,
            )
            self._crash("purchase.intent")
            purchase = await asyncio.to_thread(self.ledger.attach_intent, purchase.id, intent["id"])
        else:
            intent = await asyncio.to_thread(self.stripe.retrieve_intent, purchase.payment_intent)
        self._crash("purchase.attached")
        if payment_method and intent.get("status") == "requires_confirmation":
            intent = await asyncio.to_thread(self.stripe.confirm_intent, intent["id"])
        body = purchase_json(purchase)
        body.update(client_secret=intent.get("client_secret"), intent_status=intent.get("status"))
        return web.json_response(body, status=201)

    async def _get_purchase(self, request: web.Request) -> web.Response:
        purchase = await asyncio.to_thread(self.ledger.purchase, request.match_info["id"])
        return web.json_response(purchase_json(purchase))

    async def _webhook(self, request: web.Request) -> web.Response:
        payload = await request.read()
        event = self.stripe.verify(payload, request.headers.get("Stripe-Signature"))
        obj = event.object
        if event.type == "payment_intent.succeeded" and obj.get("id"):
            # the API's word, not the payload's (ProcessorUnavailableError -> 503: retried)
            obj = await asyncio.to_thread(self.stripe.retrieve_intent, str(obj["id"]))
        outcome = await asyncio.to_thread(
            self.ledger.record_stripe_event,
            event.id,
            event.type,
            event.created,
            obj,
            self.bridge_id,
        )
        self._crash("webhook.recorded")
        if outcome == "credited":
            self._wake.set()
        return web.json_response({"received": True, "outcome": outcome})

    async def _create_payout(self, request: web.Request) -> web.Response:
        data = await _body(request)
        account = check_address(_str(data, "account", max_len=64))
        email = check_email(_str(data, "email", max_len=254))
        planck = _int(data, "planck")
        extrinsic = _str(data, "extrinsic", max_len=4096)
        request_id = _str(data, "request_id")
        payout = await asyncio.to_thread(
            self._accept_payout, request_id, account, email, planck, extrinsic
        )
        self._crash("payout.accepted")
        self._wake.set()
        return web.json_response(payout_json(payout), status=202)

    def _accept_payout(
        self, request_id: str, account: str, email: str, planck: int, extrinsic: str
    ) -> Payout:
        from .chain_side import extrinsic_hash

        known = self.ledger.payout_by_request(request_id)
        if known is not None:
            return known
        call = self.chain.decode_transfer(extrinsic)
        if call.signer != account:
            raise TransferMismatchError(f"the transfer is signed by {call.signer}, not {account}")
        if call.dest != self.chain.address:
            raise TransferMismatchError(f"the transfer pays {call.dest}, not the treasury")
        if call.value != planck:
            raise TransferMismatchError(f"the transfer moves {call.value} planck, not {planck}")
        if not call.immortal:
            raise TransferMismatchError("sign the transfer without an era (immortal)")
        next_nonce = self.chain.chain.account_next_index(account)
        if call.nonce != next_nonce:
            raise TransferMismatchError(
                f"the transfer's nonce is {call.nonce}; the account's next is {next_nonce}"
            )
        free = self.chain.free_balance(account)
        keep = self.chain.existential_deposit() + FEE_MARGIN
        if free < planck + keep:
            raise InsufficientBalanceError(
                f"the account holds {free} planck: not enough for {planck} plus {keep} kept "
                "for the existential deposit and the transfer's fee",
                requested=planck,
                free=free,
            )
        payout, _new = self.ledger.open_payout(
            request_id=request_id,
            account=account,
            email=email,
            planck=planck,
            extrinsic=extrinsic,
            extrinsic_hash=extrinsic_hash(extrinsic),
            scan_from=self.chain.chain.block_number(),
        )
        return payout

    async def _get_payout(self, request: web.Request) -> web.Response:
        payout = await asyncio.to_thread(self.ledger.payout, request.match_info["id"])
        return web.json_response(payout_json(payout))

    async def _report(self, _request: web.Request) -> web.Response:
        report = await asyncio.to_thread(
            reconcile,
            self.ledger,
            stripe=self.stripe,
            paypal=self.paypal,
            chain=self.chain,
            bridge_id=self.bridge_id,
        )
        return web.json_response(report.as_dict())
