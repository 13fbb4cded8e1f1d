"""The fiat phases of ``ccnet demo --fiat``: a card purchase at the start, a worker's
PayPal payout at the end, and the reconciliation, all on this machine.

:class:`FiatBridge` starts what the bridge needs on 127.0.0.1: ``localstripe`` (the Stripe
emulator), the PayPal test double (:mod:`ccnet.bridge.paypal_double`) and a real
``ccnet bridge run`` process with its own SQLite ledger and a fresh treasury account
that *funder* pays *treasury_float* into. Everything it started stops on exit. Use::

    with FiatBridge(chain_url, funder=requester_key, state_dir=run_dir / "bridge") as fiat:
        bought = fiat.buy(requester_address, 20_00)          # card pm_card_visa, $20
        ...                                                   # the market runs
        paid = fiat.cash_out(chain, worker_key, 60 * CC, "worker@example.com")
        summary = fiat.summary()     # {"purchase", "payout", "reconciliation", "checks"}

``buy`` returns once the CC is on chain, ``cash_out`` once PayPal paid (or the payout
failed and the CC came back); both raise :class:`~ccnet.bridge.exceptions.BridgeError`
if that does not happen within *timeout* seconds.
"""

from __future__ import annotations

import json
import os
import secrets
import select
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import Any

from ccnet.client import CC, Chain, Keypair, Keys
from ccnet.client.devchain import free_port

from .client import BridgeClient
from .exceptions import BridgeError
from .paypal_double import PayPalDouble
from .stripe_local import LocalStripe, register_webhook

__all__ = ["FiatBridge", "bridge_env"]

TEST_CARD = "pm_card_visa"
"""Stripe's test PaymentMethod for a Visa card that succeeds."""


def bridge_env(
    *,
    treasury_secret: str,
    stripe_url: str,
    webhook_secret: str,
    paypal: PayPalDouble,
    database_url: str,
    port: int,
    poll_interval: float = 0.3,
    sweep_interval: float = 2.0,
) -> dict[str, str]:
    """The environment a ``ccnet bridge run`` child needs for the local processors."""
    env = dict(os.environ)
    env.update(
        CCNET_BRIDGE_TREASURY_KEY=treasury_secret,
        CCNET_BRIDGE_STRIPE_API_KEY="sk_test_ccnet_local",
        CCNET_BRIDGE_STRIPE_WEBHOOK_SECRET=webhook_secret,
        CCNET_BRIDGE_STRIPE_API_BASE=stripe_url,
        CCNET_BRIDGE_PAYPAL_CLIENT_ID=paypal.client_id,
        CCNET_BRIDGE_PAYPAL_CLIENT_SECRET=paypal.client_secret,
        CCNET_BRIDGE_PAYPAL_BASE_URL=paypal.url,
        CCNET_BRIDGE_DATABASE_URL=database_url,
        CCNET_BRIDGE_PORT=str(port),
        CCNET_BRIDGE_HOST="127.0.0.1",
        CCNET_BRIDGE_POLL_INTERVAL=str(poll_interval),
        CCNET_BRIDGE_SWEEP_INTERVAL=str(sweep_interval),
        CCNET_BRIDGE_CONFIG=os.devnull,
    )
    return env


def wait_ready(proc: subprocess.Popen[bytes], timeout: float) -> dict[str, Any]:
    """The JSON ready line of a ``ccnet bridge run`` child; :class:`BridgeError` if it
    exits or stays silent for *timeout* s."""
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    buffer = b""
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise BridgeError(f"the bridge exited with {proc.returncode} before it was ready")
        ready, _, _ = select.select([proc.stdout], [], [], 0.2)
        if not ready:
            continue
        buffer += os.read(proc.stdout.fileno(), 4096)
        *lines, buffer = buffer.split(b"\n")
        for line in lines:
            if line.startswith(b"{"):
                data: dict[str, Any] = json.loads(line)
                if data.get("ready"):
                    return data
    raise BridgeError(f"the bridge was not ready within {timeout:g} s")


class FiatBridge:
    """Local Stripe, PayPal double and bridge process for the demo (see module docs)."""

    def __init__(
        self,
        chain_url: str,
        *,
        funder: Keypair,
        state_dir: Path,
        treasury_float: int = 5_000 * CC,
        timeout: float = 90.0,
    ) -> None:
        self.chain_url = chain_url
        self.funder = funder
        self.state_dir = Path(state_dir)
        self.treasury_float = treasury_float
        self.timeout = timeout
        self.webhook_secret = "whsec_" + secrets.token_hex(16)
        self.stripe: LocalStripe | None = None
        self.paypal: PayPalDouble | None = None
        self.proc: subprocess.Popen[bytes] | None = None
        self.client: BridgeClient | None = None
        self.treasury: Keypair | None = None
        self.purchase: dict[str, Any] = {}
        self.payout: dict[str, Any] = {}

    def start(self) -> FiatBridge:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        try:
            self.stripe = LocalStripe(free_port(), log=self.state_dir / "localstripe.log").start()
            self.paypal = PayPalDouble().start()
            treasury, mnemonic = Keys.generate()
            self.treasury = treasury
            with Chain(self.chain_url) as chain:
                chain.transfer(self.funder, str(treasury.ss58_address), self.treasury_float)
            port = free_port()
            env = bridge_env(
                treasury_secret=mnemonic,
                stripe_url=self.stripe.url,
                webhook_secret=self.webhook_secret,
                paypal=self.paypal,
                database_url=f"sqlite:///{self.state_dir / 'ledger.db'}",
                port=port,
            )
            log = (self.state_dir / "bridge.log").open("ab")
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "ccnet.client", "--url", self.chain_url, "bridge", "run"],
                env=env,
                stdout=subprocess.PIPE,
                stderr=log,
                start_new_session=True,
            )
            ready = wait_ready(self.proc, self.timeout)
            register_webhook(
                self.stripe.url, f"{ready['url']}/v1/stripe/webhook", self.webhook_secret
            )
            self.client = BridgeClient(ready["url"])
        except BaseException:
            self.stop()
            raise
        return self

    def buy(self, account: str, cents: int, *, payment_method: str = TEST_CARD) -> dict[str, Any]:
        """Buy CC for *account* by card; returns the credited purchase."""
        assert self.client is not None
        started = self.client.buy(account, cents, payment_method=payment_method)
        state = self.client.wait(started["id"], timeout=self.timeout)
        if state["status"] != "credited":
            raise BridgeError(f"purchase {state['id']} ended {state['status']}: {state}")
        self.purchase = state
        return state

    def cash_out(self, chain: Chain, worker: Keypair, planck: int, email: str) -> dict[str, Any]:
        """Cash out *planck* of *worker* to PayPal *email*; returns the final payout."""
        assert self.client is not None
        started = self.client.payout(chain, worker, planck, email)
        state = self.client.wait(started["id"], timeout=self.timeout)
        if state["status"] not in ("paid", "returned"):
            raise BridgeError(f"payout {state['id']} is still {state['status']}: {state}")
        self.payout = state
        return state

    def report(self) -> dict[str, Any]:
        assert self.client is not None
        return self.client.report()

    def summary(self) -> dict[str, Any]:
        """What the demo prints: the purchase, the payout, the reconciliation, checks."""
        report = self.report()
        return {
            "purchase": self.purchase,
            "payout": self.payout,
            "reconciliation": report,
            "checks": {
                "card purchase credited on chain": self.purchase.get("status") == "credited",
                "worker paid through PayPal": self.payout.get("status") == "paid",
                "ledger, Stripe, PayPal and chain reconcile": bool(report.get("balanced")),
            },
        }

    def stop(self) -> None:
        if self.client is not None:
            self.client.close()
            self.client = None
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        if self.paypal is not None:
            self.paypal.stop()
            self.paypal = None
        if self.stripe is not None:
            self.stripe.stop()
            self.stripe = None

    def __enter__(self) -> FiatBridge:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
