"""Errors raised by ccnet.storage; all descend from :class:`StorageError`."""

from __future__ import annotations

from ccnet.client.exceptions import CcnetError, NotFoundError

__all__ = [
    "CheckpointNotFoundError",
    "DevGatewayError",
    "GatewayError",
    "GatewayRejectedError",
    "GatewayUnavailableError",
    "IntegrityError",
    "StorageError",
    "WalletError",
]


class StorageError(CcnetError):
    """Root of the checkpoint storage errors."""


class GatewayError(StorageError):
    """The Arweave gateway did not do what was asked."""

    def __init__(self, message: str, *, url: str = "") -> None:
        super().__init__(f"{message} ({url})" if url else message)
        self.url = url


class GatewayUnavailableError(GatewayError):
    """The gateway could not be reached, timed out or kept failing (5xx, 429) after
    every retry. Nothing was recorded on chain when a save raises it."""


class GatewayRejectedError(GatewayError):
    """The gateway answered with a client error (4xx): retrying will not help."""

    def __init__(self, message: str, *, url: str = "", status: int, body: str = "") -> None:
        super().__init__(f"{message}: HTTP {status} {body[:300]!r}", url=url)
        self.status = status
        self.body = body


class IntegrityError(StorageError):
    """Bytes from the gateway or the cache do not match the recorded state hash or size.

    Never a silent success: a restore that raises it returns nothing."""

    def __init__(self, message: str, *, expected: str, actual: str) -> None:
        super().__init__(f"{message}: expected {expected}, got {actual}")
        self.expected = expected
        self.actual = actual


class CheckpointNotFoundError(StorageError, NotFoundError):
    """The chain has no checkpoint recorded for this owner (the CLI exits with 4)."""

    def __init__(self, owner: str) -> None:
        super().__init__(f"no checkpoint recorded on chain for {owner}")
        self.owner = owner


class WalletError(StorageError):
    """An Arweave wallet (RSA JWK file) could not be read, written or used."""


class DevGatewayError(StorageError):
    """The local arlocal gateway could not be started, reached or stopped."""

    def __init__(self, message: str, *, log_tail: str = "") -> None:
        super().__init__(message + (f"\n--- log tail ---\n{log_tail}" if log_tail else ""))
        self.log_tail = log_tail
