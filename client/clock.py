"""The wall clock of signed messages: Unix time in milliseconds.

Heartbeats, signaling offers and answers, and DHT records carry a ``timestamp_ms`` that
receivers check against their own clock (``docs/protocol.md``); they all read it here.
"""

from __future__ import annotations

import time

__all__ = ["now_ms"]


def now_ms() -> int:
    """Unix time, ms."""
    return time.time_ns() // 1_000_000
