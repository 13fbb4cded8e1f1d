"""Crash injection for the bridge's restart tests: ``kill -9`` at a named step.

With ``CCNET_BRIDGE_ALLOW_CRASH=1`` and ``CCNET_BRIDGE_CRASH_AT=<step>[,<step>...]``
the service sends itself SIGKILL when it reaches a listed step, exactly as an operator's
``kill -9`` would stop it there (no cleanup, no flush beyond what was committed). Both
variables are needed, so a stray setting cannot crash a production bridge. The steps,
in flow order:

- prepay: ``purchase.created`` (ledger row, before Stripe), ``purchase.intent``
  (PaymentIntent made, not yet recorded), ``purchase.attached`` (recorded, not yet
  confirmed), ``webhook.recorded`` (event committed, before answering Stripe),
  ``credit.signed`` (treasury transfer stored, not submitted), ``credit.submitted``
  (submitted, not yet recorded as done);
- payout: ``payout.accepted`` (request stored, transfer not submitted),
  ``payout.submitted`` (worker's transfer submitted, not recorded), ``payout.taken``
  (recorded, PayPal not called), ``payout.paypal`` (PayPal batch made, not recorded),
  ``refund.signed``, ``refund.submitted`` (the CC going back after a failed payout).
"""

from __future__ import annotations

import logging
import os
import signal
from collections.abc import Mapping

__all__ = ["ALLOW_ENV", "CRASH_ENV", "STEPS", "CrashPoints"]

logger = logging.getLogger(__name__)

ALLOW_ENV = "CCNET_BRIDGE_ALLOW_CRASH"
CRASH_ENV = "CCNET_BRIDGE_CRASH_AT"
STEPS = (
    "purchase.created",
    "purchase.intent",
    "purchase.attached",
    "webhook.recorded",
    "credit.signed",
    "credit.submitted",
    "payout.accepted",
    "payout.submitted",
    "payout.taken",
    "payout.paypal",
    "refund.signed",
    "refund.submitted",
)


class CrashPoints:
    """The steps at which this process kills itself (none unless enabled)."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        names = {s.strip() for s in env.get(CRASH_ENV, "").split(",") if s.strip()}
        unknown = names - set(STEPS)
        if unknown:
            raise ValueError(f"unknown crash step(s) {sorted(unknown)}; known: {STEPS}")
        self.steps = frozenset(names) if env.get(ALLOW_ENV) == "1" else frozenset()

    def __call__(self, step: str) -> None:
        if step in self.steps:
            logger.warning("crash injection: SIGKILL at %s", step)
            os.kill(os.getpid(), signal.SIGKILL)
