"""Signed heartbeats: a worker's periodic proof of life, with its metrics.

The signed bytes (128 bytes), the JSON form and the receiver's rules are
``docs/protocol.md``, section 10. The signature is the worker's sr25519 signature (its
account key), so any receiver can check it without a shared secret; a timestamp window
and a random nonce stop replays.

- :class:`HeartbeatVerifier` (receiver): rejects bad signatures, heartbeats older than
  60 s or dated in the future beyond a small skew, replays of a (worker, nonce) within
  the window, and more than a few heartbeats per worker per window. Accepted heartbeats
  feed :class:`~ccnet.client.requester.quality.QualityTracker`.
- :class:`HeartbeatSchedule` (sender): the next interval, 15 s +- 10 %, uniform.
- :func:`heartbeat_loop` (sender): signs and hands heartbeats to an injected ``send``
  coroutine; it knows no transport.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, fields
from typing import Any

from substrateinterface import Keypair

from .. import signing
from ..clock import now_ms
from ..codec import (
    U32_MAX,
    U64_MAX,
    U128_MAX,
    check_bytes,
    check_uint,
    encode_scale,
    hexed,
    uint_from_json,
    uint_to_json,
    unhex,
)
from ..exceptions import BadSignatureError, MalformedMessageError
from ..signing import SIGNATURE_SIZE, public_key_of, sign, verify
from .exceptions import (
    FutureHeartbeatError,
    HeartbeatRateError,
    ReplayedHeartbeatError,
    StaleHeartbeatError,
)

__all__ = [
    "HEARTBEAT_DOMAIN",
    "HEARTBEAT_INTERVAL_MS",
    "HEARTBEAT_JITTER",
    "MAX_HEARTBEATS_PER_WINDOW",
    "MAX_HEARTBEAT_AGE_MS",
    "MAX_HEARTBEAT_SKEW_MS",
    "NONCE_SIZE",
    "Heartbeat",
    "HeartbeatMetrics",
    "HeartbeatSchedule",
    "HeartbeatVerifier",
    "heartbeat_loop",
]

log = logging.getLogger(__name__)

HEARTBEAT_DOMAIN = signing.HEARTBEAT_DOMAIN
"""Domain tag of signed heartbeats (16 bytes)."""
NONCE_SIZE = 16
"""Bytes of a heartbeat's random nonce."""
HEARTBEAT_INTERVAL_MS = 15_000
"""Mean period between two heartbeats of a worker, ms."""
HEARTBEAT_JITTER = 0.10
"""Relative jitter of the period: each interval is uniform in mean * (1 +- jitter)."""
MAX_HEARTBEAT_AGE_MS = 60_000
"""Receivers refuse heartbeats older than this, ms (and forget nonces after it)."""
MAX_HEARTBEAT_SKEW_MS = 5_000
"""Receivers refuse heartbeats dated further ahead of their clock than this, ms."""
MAX_HEARTBEATS_PER_WINDOW = 16
"""Heartbeats a receiver accepts from one worker within :data:`MAX_HEARTBEAT_AGE_MS`."""

_METRIC_LIMITS = {
    "jobs_running": U32_MAX,
    "jobs_completed": U64_MAX,
    "jobs_failed": U64_MAX,
    "fuel_used": U128_MAX,
    "speed_milli": U32_MAX,
    "memory_free_bytes": U64_MAX,
    "uptime_ms": U64_MAX,
}
_KEYS = frozenset({"worker", "timestamp_ms", "nonce", "metrics", "signature"})


@dataclass(frozen=True)
class HeartbeatMetrics:
    """What a worker reports about itself (all non-negative integers)."""

    jobs_running: int = 0
    """Jobs running now (u32)."""
    jobs_completed: int = 0
    """Jobs that finished with a result since start (u64)."""
    jobs_failed: int = 0
    """Jobs that failed since start (u64)."""
    fuel_used: int = 0
    """Fuel burnt by all jobs since start, fuel (u128)."""
    speed_milli: int = 0
    """Self-benchmark speed multiplier times 1000 (u32; 0 = not measured)."""
    memory_free_bytes: int = 0
    """Memory available for jobs, bytes (u64)."""
    uptime_ms: int = 0
    """Time since the worker started, ms (u64)."""

    def __post_init__(self) -> None:
        for name, maximum in _METRIC_LIMITS.items():
            check_uint(getattr(self, name), maximum, f"metrics.{name}")

    def encode(self) -> bytes:
        """SCALE of the seven fields in order (56 bytes)."""
        return encode_scale(
            "(u32, u64, u64, u128, u32, u64, u64)",
            tuple(getattr(self, f.name) for f in fields(self)),
        )

    def to_json(self) -> dict[str, Any]:
        """The ``metrics`` object: u32 fields as JSON numbers, u64 and u128 fields as
        decimal strings."""
        return {
            name: getattr(self, name) if maximum == U32_MAX else uint_to_json(getattr(self, name))
            for name, maximum in _METRIC_LIMITS.items()
        }

    @classmethod
    def from_json(cls, data: Any) -> HeartbeatMetrics:
        """Parse the ``metrics`` object (exactly the seven keys; see :meth:`to_json`)."""
        if not isinstance(data, dict) or set(data) != set(_METRIC_LIMITS):
            raise MalformedMessageError(f"metrics has exactly the keys {sorted(_METRIC_LIMITS)}")
        values = {
            name: check_uint(data[name], maximum, f"metrics.{name}")
            if maximum == U32_MAX
            else uint_from_json(data[name], maximum, f"metrics.{name}")
            for name, maximum in _METRIC_LIMITS.items()
        }
        return cls(**values)


@dataclass(frozen=True)
class Heartbeat:
    """A signed heartbeat."""

    worker: str
    """The worker's SS58 address."""
    timestamp_ms: int
    """When it was made, Unix ms (u64)."""
    nonce: bytes
    """Random, 16 bytes."""
    metrics: HeartbeatMetrics
    """The worker's metrics."""
    signature: bytes
    """sr25519 signature of :meth:`signing_payload`, 64 bytes."""

    def __post_init__(self) -> None:
        public_key_of(self.worker)
        check_uint(self.timestamp_ms, U64_MAX, "timestamp_ms")
        check_bytes(self.nonce, NONCE_SIZE, "nonce")
        if not isinstance(self.metrics, HeartbeatMetrics):
            raise MalformedMessageError("metrics must be HeartbeatMetrics")
        check_bytes(self.signature, SIGNATURE_SIZE, "signature")

    @staticmethod
    def payload(
        worker_public_key: bytes, timestamp_ms: int, nonce: bytes, metrics: HeartbeatMetrics
    ) -> bytes:
        """The signed bytes (see the module docs), 128 bytes."""
        head = encode_scale(
            "([u8; 16], AccountId, u64, [u8; 16])",
            (hexed(HEARTBEAT_DOMAIN), hexed(worker_public_key), timestamp_ms, hexed(nonce)),
        )
        return head + metrics.encode()

    def signing_payload(self) -> bytes:
        """The bytes :attr:`signature` signs."""
        return self.payload(public_key_of(self.worker), self.timestamp_ms, self.nonce, self.metrics)

    @classmethod
    def create(
        cls,
        keypair: Keypair,
        metrics: HeartbeatMetrics,
        *,
        timestamp_ms: int | None = None,
        nonce: bytes | None = None,
    ) -> Heartbeat:
        """A heartbeat signed by *keypair*, stamped now (or *timestamp_ms*) with a fresh
        random nonce (or *nonce*)."""
        stamp = now_ms() if timestamp_ms is None else timestamp_ms
        check_uint(stamp, U64_MAX, "timestamp_ms")
        nonce = os.urandom(NONCE_SIZE) if nonce is None else nonce
        check_bytes(nonce, NONCE_SIZE, "nonce")
        public_key = bytes(keypair.public_key)
        signature = sign(keypair, cls.payload(public_key, stamp, nonce, metrics))
        return cls(str(keypair.ss58_address), stamp, nonce, metrics, signature)

    def is_valid(self) -> bool:
        """Whether the signature verifies for :attr:`worker`."""
        return verify(public_key_of(self.worker), self.signing_payload(), self.signature)

    def to_json(self) -> dict[str, Any]:
        """The wire form (see the module docs)."""
        return {
            "worker": self.worker,
            "timestamp_ms": uint_to_json(self.timestamp_ms),
            "nonce": hexed(self.nonce),
            "metrics": self.metrics.to_json(),
            "signature": hexed(self.signature),
        }

    @classmethod
    def from_json(cls, data: Any) -> Heartbeat:
        """Parse the wire form (signature not checked). :class:`MalformedMessageError`."""
        if not isinstance(data, dict) or set(data) != _KEYS:
            raise MalformedMessageError(f"a heartbeat has exactly the keys {sorted(_KEYS)}")
        if not isinstance(data["worker"], str):
            raise MalformedMessageError("worker must be an SS58 address")
        return cls(
            worker=data["worker"],
            timestamp_ms=uint_from_json(data["timestamp_ms"], U64_MAX, "timestamp_ms"),
            nonce=unhex(data["nonce"], NONCE_SIZE, "nonce"),
            metrics=HeartbeatMetrics.from_json(data["metrics"]),
            signature=unhex(data["signature"], SIGNATURE_SIZE, "signature"),
        )


class HeartbeatVerifier:
    """Accepts or rejects incoming heartbeats (a receiver's state: seen nonces).

    *max_age_ms* (60 s): older heartbeats are stale. *max_skew_ms* (5 s): heartbeats
    dated further ahead of *clock* are refused. *max_per_window* (16): accepted
    heartbeats per worker within *max_age_ms*. *clock* returns Unix ms (injectable for
    tests). Memory is bounded: nonces older than the window are forgotten (a replay
    of one is stale anyway) and each worker holds at most *max_per_window* of them.
    """

    def __init__(
        self,
        *,
        max_age_ms: int = MAX_HEARTBEAT_AGE_MS,
        max_skew_ms: int = MAX_HEARTBEAT_SKEW_MS,
        max_per_window: int = MAX_HEARTBEATS_PER_WINDOW,
        clock: Callable[[], int] = now_ms,
    ) -> None:
        self.max_age_ms = max_age_ms
        self.max_skew_ms = max_skew_ms
        self.max_per_window = max_per_window
        self._clock = clock
        # worker -> recent (timestamp_ms, nonce) pairs, at most max_per_window
        self._seen: dict[str, list[tuple[int, bytes]]] = {}
        self._last_sweep = clock()

    def _recent(self, worker: str, horizon: int) -> list[tuple[int, bytes]]:
        recent = [seen for seen in self._seen.get(worker, ()) if seen[0] >= horizon]
        if recent:
            self._seen[worker] = recent
        else:
            self._seen.pop(worker, None)
        return recent

    def _sweep(self, now: int) -> None:
        """Forget every nonce older than the window (at most once per window)."""
        if now - self._last_sweep < self.max_age_ms:
            return
        self._last_sweep = now
        for worker in list(self._seen):
            self._recent(worker, now - self.max_age_ms)

    def accept(self, heartbeat: Heartbeat) -> Heartbeat:
        """Check *heartbeat* and remember its nonce; returns it.

        Raises :class:`StaleHeartbeatError`, :class:`FutureHeartbeatError`,
        :class:`BadSignatureError`, :class:`ReplayedHeartbeatError` or
        :class:`HeartbeatRateError` (nothing is remembered then).
        """
        now = self._clock()
        age = now - heartbeat.timestamp_ms
        if age > self.max_age_ms:
            raise StaleHeartbeatError(f"heartbeat of {heartbeat.worker} is {age} ms old")
        if -age > self.max_skew_ms:
            raise FutureHeartbeatError(
                f"heartbeat of {heartbeat.worker} is dated {-age} ms in the future"
            )
        if not heartbeat.is_valid():
            raise BadSignatureError(f"bad heartbeat signature for {heartbeat.worker}")
        self._sweep(now)
        recent = self._recent(heartbeat.worker, now - self.max_age_ms)
        if any(nonce == heartbeat.nonce for _, nonce in recent):
            raise ReplayedHeartbeatError(f"replayed heartbeat of {heartbeat.worker}")
        if len(recent) >= self.max_per_window:
            raise HeartbeatRateError(
                f"{heartbeat.worker} sent over {self.max_per_window} heartbeats "
                f"within {self.max_age_ms} ms"
            )
        recent.append((heartbeat.timestamp_ms, heartbeat.nonce))
        self._seen[heartbeat.worker] = recent
        return heartbeat

    def remembered(self) -> int:
        """Number of (worker, nonce) pairs held now."""
        return sum(len(r) for r in self._seen.values())


class HeartbeatSchedule:
    """Intervals between heartbeats: uniform in *interval_ms* * (1 +- *jitter*), ms.

    *rng* (default: a fresh ``random.Random``) makes the sequence reproducible in tests.
    """

    def __init__(
        self,
        interval_ms: int = HEARTBEAT_INTERVAL_MS,
        jitter: float = HEARTBEAT_JITTER,
        rng: random.Random | None = None,
    ) -> None:
        if interval_ms <= 0 or not 0.0 <= jitter < 1.0:
            raise ValueError("interval_ms must be > 0 and jitter in [0, 1)")
        self.interval_ms = interval_ms
        self.jitter = jitter
        self._rng = rng if rng is not None else random.Random()

    @property
    def bounds_ms(self) -> tuple[int, int]:
        """The smallest and largest interval this schedule yields, ms."""
        spread = self.interval_ms * self.jitter
        return round(self.interval_ms - spread), round(self.interval_ms + spread)

    def next_interval_ms(self) -> int:
        """The wait before the next heartbeat, ms."""
        spread = self.interval_ms * self.jitter
        return round(self.interval_ms + self._rng.uniform(-spread, spread))


async def heartbeat_loop(
    keypair: Keypair,
    metrics: Callable[[], HeartbeatMetrics],
    send: Callable[[Heartbeat], Awaitable[None]],
    *,
    schedule: HeartbeatSchedule | None = None,
    stop: asyncio.Event | None = None,
    clock: Callable[[], int] = now_ms,
    sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
    limit: int | None = None,
) -> int:
    """Send a heartbeat now, then one after every interval of *schedule*, until *stop*
    is set (or *limit* heartbeats were sent). Each is signed by *keypair* with the
    current *metrics()*; *send* delivers it (its errors are logged, and the loop goes
    on). Returns the number of heartbeats made."""
    schedule = schedule if schedule is not None else HeartbeatSchedule()
    stop = stop if stop is not None else asyncio.Event()
    made = 0
    while not stop.is_set() and (limit is None or made < limit):
        beat = Heartbeat.create(keypair, metrics(), timestamp_ms=clock())
        made += 1
        try:
            await send(beat)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.warning("sending a heartbeat failed", exc_info=True)
        if limit is not None and made >= limit:
            break
        delay = schedule.next_interval_ms() / 1000
        sleeper = asyncio.ensure_future(sleep(delay))
        waiter = asyncio.ensure_future(stop.wait())
        try:
            await asyncio.wait({sleeper, waiter}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleeper.cancel()
            waiter.cancel()
    return made
