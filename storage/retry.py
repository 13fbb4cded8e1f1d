"""Retries with exponential backoff, for requests to the gateway.

A request is retried when the gateway cannot be reached, times out, or answers 429 or
5xx; after the last attempt the caller raises
:class:`~ccnet.storage.exceptions.GatewayUnavailableError`.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass

__all__ = ["RetryPolicy"]


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently to retry one request."""

    attempts: int = 5
    """Tries in all (1 = no retry)."""
    backoff: float = 0.25
    """Seconds before the second try; each later wait is *factor* times longer."""
    factor: float = 2.0
    max_backoff: float = 8.0
    """Longest wait between tries, seconds."""
    jitter: float = 0.1
    """Each wait is stretched by a random fraction up to this, so clients spread out."""

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError(f"attempts must be >= 1, not {self.attempts}")
        if self.backoff < 0 or self.factor < 1 or self.max_backoff < 0 or self.jitter < 0:
            raise ValueError(f"invalid retry policy {self}")

    def delays(self) -> Iterator[float]:
        """The waits (seconds) before the 2nd, 3rd, ... attempt: ``attempts - 1`` values."""
        delay = self.backoff
        for _ in range(self.attempts - 1):
            yield min(delay, self.max_backoff) * (1 + random.uniform(0, self.jitter))
            delay *= self.factor
