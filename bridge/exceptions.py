"""Errors of the fiat bridge; all descend from :class:`BridgeError` (a ``CcnetError``).

Each carries an HTTP ``status`` and a short wire ``code`` so the service and its client
agree on a failure (the service answers ``{"error": {"code", "message"}}``).
"""

from __future__ import annotations

from ccnet.client.exceptions import CcnetError

__all__ = [
    "AmountError",
    "BelowMinimumError",
    "BridgeError",
    "BridgeUnavailableError",
    "ConfigError",
    "ConflictError",
    "InsufficientBalanceError",
    "NotFoundError",
    "ProcessorError",
    "ProcessorUnavailableError",
    "TransferMismatchError",
    "WebhookSignatureError",
]


class BridgeError(CcnetError):
    """Root of the bridge's errors."""

    status = 400
    code = "bridge_error"


class ConfigError(BridgeError):
    """The bridge's configuration is missing or inconsistent."""

    code = "config"


class AmountError(BridgeError):
    """An amount is not a valid non-negative number of cents or planck."""

    code = "bad_amount"


class BelowMinimumError(BridgeError):
    """A purchase or payout is below its configured minimum (``min_cents``)."""

    code = "below_minimum"

    def __init__(self, message: str, *, amount_cents: int, min_cents: int) -> None:
        super().__init__(message)
        self.amount_cents = amount_cents
        self.min_cents = min_cents


class InsufficientBalanceError(BridgeError):
    """The account holds less than the payout asks for (``free`` planck)."""

    code = "insufficient_balance"
    status = 422

    def __init__(self, message: str, *, requested: int, free: int) -> None:
        super().__init__(message)
        self.requested = requested
        self.free = free


class TransferMismatchError(BridgeError):
    """A signed transfer does not pay the treasury the stated amount from the stated
    account (wrong call, destination, value or signer)."""

    code = "transfer_mismatch"


class WebhookSignatureError(BridgeError):
    """A webhook is unsigned, signed with another secret, or outside the tolerance."""

    code = "bad_signature"


class NotFoundError(BridgeError):
    """No purchase or payout with that id."""

    code = "not_found"
    status = 404


class ConflictError(BridgeError):
    """An idempotency key was reused with different parameters."""

    code = "conflict"
    status = 409


class ProcessorError(BridgeError):
    """Stripe or PayPal refused a request for good (a 4xx answer)."""

    code = "processor_refused"
    status = 402


class ProcessorUnavailableError(BridgeError):
    """Stripe or PayPal cannot be reached or answered 5xx; retry later."""

    code = "processor_unavailable"
    status = 503


class BridgeUnavailableError(BridgeError):
    """The bridge service cannot be reached (client side)."""

    code = "bridge_unavailable"
    status = 503
