"""Helpers of the bridge's tests: a real ``ccnet bridge run`` process with its own
treasury and ledger (:class:`BridgeHarness`), Stripe-signed webhook bodies, the test
webhook secret. Used by the fixtures in ``tests/fixtures/bridge.py``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import stripe

from ccnet.client import CC, Chain, Keypair, Keys
from ccnet.client.devchain import free_port

from .client import BridgeClient
from .demo import bridge_env, wait_ready
from .faults import ALLOW_ENV, CRASH_ENV
from .paypal_double import PayPalDouble
from .stripe_local import register_webhook

__all__ = [
    "TREASURY_FLOAT",
    "WEBHOOK_SECRET",
    "BridgeHarness",
    "sign_webhook",
    "stripe_event",
]

TREASURY_FLOAT = 2_000 * CC
WEBHOOK_SECRET = "whsec_ccnet_tests_0123456789abcdef"


def sign_webhook(payload: str, secret: str = WEBHOOK_SECRET, timestamp: int | None = None) -> str:
    """The ``Stripe-Signature`` header Stripe would send for *payload*."""
    return str(stripe.WebhookSignature.generate_signature_header(payload, secret, timestamp))


class BridgeHarness:
    """One bridge under test: its treasury, ledger, processors and process."""

    def __init__(
        self,
        chain: Chain,
        funder: Keypair,
        stripe_url: str,
        paypal: PayPalDouble,
        state: Path,
        name: str,
    ) -> None:
        self.chain = chain
        self.stripe_url = stripe_url
        self.paypal = paypal
        self.state = state
        self.bridge_id = f"test-{name}-{os.urandom(3).hex()}"
        self.treasury, self.treasury_secret = Keys.generate()
        self.treasury_address = str(self.treasury.ss58_address)
        chain.transfer(funder, self.treasury_address, TREASURY_FLOAT)
        self.database_url = f"sqlite:///{state / 'ledger.db'}"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.client = BridgeClient(self.url, timeout=60)
        self.starts = 0

    def env(self, crash_at: str | None = None, **extra: str) -> dict[str, str]:
        env = bridge_env(
            treasury_secret=self.treasury_secret,
            stripe_url=self.stripe_url,
            webhook_secret=WEBHOOK_SECRET,
            paypal=self.paypal,
            database_url=self.database_url,
            port=self.port,
            poll_interval=0.2,
            sweep_interval=1.0,
        )
        env["CCNET_BRIDGE_BRIDGE_ID"] = self.bridge_id
        env.pop(CRASH_ENV, None)
        env.pop(ALLOW_ENV, None)
        if crash_at:
            env[CRASH_ENV] = crash_at
            env[ALLOW_ENV] = "1"
        env.update(extra)
        return env

    def start(self, crash_at: str | None = None, **extra: str) -> dict[str, Any]:
        """Start ``ccnet bridge run`` (optionally dying at *crash_at*); its ready line."""
        assert self.proc is None or self.proc.poll() is not None, "already running"
        self.starts += 1
        log = (self.state / f"bridge-{self.starts}.log").open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "ccnet.client", "--url", self.chain.url, "bridge", "run"],
            env=self.env(crash_at, **extra),
            stdout=subprocess.PIPE,
            stderr=log,
            start_new_session=True,
        )
        ready = wait_ready(self.proc, 60)
        try:
            register_webhook(self.stripe_url, f"{self.url}/v1/stripe/webhook", WEBHOOK_SECRET)
        except httpx.HTTPError:  # Stripe is down in this test
            pass
        return ready

    def wait_killed(self, timeout: float = 60.0) -> int:
        """Wait for the process to die (a crash injection); its exit status."""
        assert self.proc is not None
        return self.proc.wait(timeout)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)

    def kill9(self) -> None:
        """``kill -9`` the service from outside."""
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def logs(self) -> str:
        return "\n".join(
            p.read_text(errors="replace")[-3000:] for p in sorted(self.state.glob("bridge-*.log"))
        )

    def post_webhook(self, payload: str, signature: str | None) -> tuple[int, dict[str, Any]]:
        headers = {"Content-Type": "application/json"}
        if signature is not None:
            headers["Stripe-Signature"] = signature
        response = httpx.post(
            f"{self.url}/v1/stripe/webhook", content=payload, headers=headers, timeout=30
        )
        return response.status_code, response.json()

    def wait_for(
        self, predicate: Callable[[], bool], timeout: float = 60.0, what: str = "condition"
    ) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}\n{self.logs()}")
            time.sleep(0.2)


def stripe_event(event_type: str, intent: dict[str, Any], *, event_id: str | None = None) -> str:
    """A webhook body as Stripe sends it, for *intent* (a PaymentIntent dict)."""
    return json.dumps(
        {
            "id": event_id or f"evt_test_{os.urandom(6).hex()}",
            "object": "event",
            "type": event_type,
            "created": int(time.time()),
            "livemode": False,
            "data": {"object": intent},
        }
    )
