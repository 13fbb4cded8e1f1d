"""Talk to a running bridge: what ``ccnet bridge buy/payout/status/report`` and the demo
use. Synchronous (httpx); errors come back as the bridge's typed errors.

A payout is signed here, by the worker, never by the bridge: :meth:`BridgeClient.payout`
builds ``Balances.transfer_keep_alive(treasury, planck)`` with the worker's next nonce
and no era, signs it with the worker's key and sends the bytes; the bridge submits them.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

import httpx

from ccnet.client import Chain, Keypair

from .exceptions import (
    AmountError,
    BelowMinimumError,
    BridgeError,
    BridgeUnavailableError,
    ConflictError,
    InsufficientBalanceError,
    NotFoundError,
    ProcessorError,
    ProcessorUnavailableError,
    TransferMismatchError,
    WebhookSignatureError,
)

__all__ = ["DEFAULT_BRIDGE_URL", "BridgeClient", "sign_payout_transfer"]

DEFAULT_BRIDGE_URL = "http://127.0.0.1:8470"
_BY_CODE: dict[str, type[BridgeError]] = {
    cls.code: cls
    for cls in (
        AmountError,
        BridgeError,
        ConflictError,
        NotFoundError,
        ProcessorError,
        ProcessorUnavailableError,
        TransferMismatchError,
        WebhookSignatureError,
    )
}
PURCHASE_DONE = ("credited", "failed")
PAYOUT_DONE = ("paid", "returned", "rejected")


def sign_payout_transfer(chain: Chain, worker: Keypair, treasury: str, planck: int) -> str:
    """The worker's signed ``transfer_keep_alive(treasury, planck)`` (0x hex; immortal,
    next nonce), not submitted."""
    nonce = chain.account_next_index(str(worker.ss58_address))
    with chain.lock:
        call = chain.api.compose_call(
            call_module="Balances",
            call_function="transfer_keep_alive",
            call_params={"dest": treasury, "value": planck},
        )
        extrinsic = chain.api.create_signed_extrinsic(call=call, keypair=worker, nonce=nonce)
    return str(extrinsic.data)


class BridgeClient:
    """The bridge at *url* (``http://127.0.0.1:8470`` by default)."""

    def __init__(self, url: str = DEFAULT_BRIDGE_URL, *, timeout: float = 30.0) -> None:
        self.url = url.rstrip("/")
        self._http = httpx.Client(base_url=self.url, timeout=timeout)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> BridgeClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _request(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        try:
            response = self._http.request(method, path, json=body)
        except httpx.HTTPError as err:
            raise BridgeUnavailableError(f"cannot reach the bridge at {self.url}: {err}") from None
        try:
            data = response.json()
        except ValueError:
            raise BridgeError(f"the bridge answered {response.status_code} without JSON") from None
        if response.status_code >= 400:
            error = data.get("error", {}) if isinstance(data, dict) else {}
            code, message = str(error.get("code", "")), str(error.get("message", data))
            if code == "below_minimum":
                raise BelowMinimumError(message, amount_cents=0, min_cents=0)
            if code == "insufficient_balance":
                raise InsufficientBalanceError(message, requested=0, free=0)
            if response.status_code == 503 and code not in _BY_CODE:
                raise ProcessorUnavailableError(message)
            raise _BY_CODE.get(code, BridgeError)(message)
        return data

    def info(self) -> dict[str, Any]:
        return dict(self._request("GET", "/v1/info"))

    def buy(
        self,
        account: str,
        cents: int,
        *,
        payment_method: str | None = None,
        request_id: str | None = None,
    ) -> dict[str, Any]:
        """Start a purchase of *cents* for *account* (idempotent per *request_id*)."""
        body: dict[str, Any] = {
            "account": account,
            "cents": cents,
            "request_id": request_id or f"buy-{secrets.token_hex(8)}",
        }
        if payment_method:
            body["payment_method"] = payment_method
        return dict(self._request("POST", "/v1/purchases", body))

    def purchase(self, purchase_id: str) -> dict[str, Any]:
        return dict(self._request("GET", f"/v1/purchases/{purchase_id}"))

    def payout(
        self,
        chain: Chain,
        worker: Keypair,
        planck: int,
        email: str,
        *,
        request_id: str | None = None,
    ) -> dict[str, Any]:
        """Cash out *planck* of *worker* to the PayPal account *email*."""
        treasury = str(self.info()["treasury"])
        extrinsic = sign_payout_transfer(chain, worker, treasury, planck)
        body = {
            "account": str(worker.ss58_address),
            "email": email,
            "planck": planck,
            "extrinsic": extrinsic,
            "request_id": request_id or f"payout-{secrets.token_hex(8)}",
        }
        return dict(self._request("POST", "/v1/payouts", body))

    def payout_status(self, payout_id: str) -> dict[str, Any]:
        return dict(self._request("GET", f"/v1/payouts/{payout_id}"))

    def report(self) -> dict[str, Any]:
        return dict(self._request("GET", "/v1/report"))

    def wait(self, ident: str, *, timeout: float = 60.0, poll: float = 0.25) -> dict[str, Any]:
        """Poll a purchase (``pur_``) or payout (``pay_``) until it is final; the last
        state (a still-open one if *timeout* s passed)."""
        done = PURCHASE_DONE if ident.startswith("pur_") else PAYOUT_DONE
        fetch = self.purchase if ident.startswith("pur_") else self.payout_status
        deadline = time.monotonic() + timeout
        while True:
            try:
                state = fetch(ident)
            except BridgeUnavailableError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(poll)
                continue
            if state["status"] in done or time.monotonic() > deadline:
                return state
            time.sleep(poll)
