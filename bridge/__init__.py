"""The fiat bridge: buy CC by card (Stripe), cash out to PayPal, exact to the cent.

The bridge is a **custodian**: it holds the treasury account's key, sells CC from it for
card payments and buys CC back into it for PayPal payouts (README, "Fiat bridge": trust model,
configuration, rates, fees and rounding). Parts, one job each:

- :mod:`~ccnet.bridge.rates`: integer rates, fee, thresholds and every conversion;
- :mod:`~ccnet.bridge.config`: settings (file, environment, options);
- :mod:`~ccnet.bridge.models`, :mod:`~ccnet.bridge.db`, ``migrations/``: the ledger's
  tables (SQLAlchemy, Alembic; SQLite or PostgreSQL);
- :mod:`~ccnet.bridge.journal`, :mod:`~ccnet.bridge.ledger`: double-entry postings and
  every state change, each in one transaction;
- :mod:`~ccnet.bridge.outbox`: finishes what the ledger started, after any crash;
- :mod:`~ccnet.bridge.stripe_side`, :mod:`~ccnet.bridge.paypal_side`,
  :mod:`~ccnet.bridge.chain_side`: Stripe, PayPal Payouts and the chain;
- :mod:`~ccnet.bridge.service`, :mod:`~ccnet.bridge.runner`: ``ccnet bridge run``;
- :mod:`~ccnet.bridge.client`: what the CLI and the demo use to talk to a bridge;
- :mod:`~ccnet.bridge.report`: the reconciliation;
- :mod:`~ccnet.bridge.demo`: the ``ccnet demo --fiat`` phases;
- :mod:`~ccnet.bridge.stripe_local`, :mod:`~ccnet.bridge.paypal_double`: the local
  Stripe emulator launcher and the PayPal **test double**;
- :mod:`~ccnet.bridge.faults`: crash injection for the restart tests.
"""

import logging

from .exceptions import (
    AmountError,
    BelowMinimumError,
    BridgeError,
    ConfigError,
    ConflictError,
    InsufficientBalanceError,
    NotFoundError,
    ProcessorError,
    ProcessorUnavailableError,
    TransferMismatchError,
    WebhookSignatureError,
)
from .rates import CC, PayoutQuote, PurchaseQuote, Rates, Ratio, format_usd, parse_usd

__all__ = [
    "CC",
    "AmountError",
    "BelowMinimumError",
    "BridgeError",
    "ConfigError",
    "ConflictError",
    "InsufficientBalanceError",
    "NotFoundError",
    "PayoutQuote",
    "ProcessorError",
    "ProcessorUnavailableError",
    "PurchaseQuote",
    "Rates",
    "Ratio",
    "TransferMismatchError",
    "WebhookSignatureError",
    "format_usd",
    "parse_usd",
]

logging.getLogger(__name__).addHandler(logging.NullHandler())
