"""Signed capability records and the DHT keys they are announced under.

A worker announces what it offers, a :class:`Capability` (task type, guaranteed speed,
price ceiling), in a :class:`CapabilityRecord` signed by its on-chain key, under a key
that hashes that capability's tiers; requesters look the keys up. The record, its
signed bytes, the key derivation and the tier ladders (:class:`CapabilityKeying`,
:data:`DEFAULT_KEYING`) are ``docs/protocol.md``, section 4. A record is valid while it
verifies and is at most :data:`RECORD_TTL_MS` (10 min) old; the worker re-signs and
re-announces it every :data:`REANNOUNCE_INTERVAL_S` (5 min). Units: ``min_speed`` in
fuel per second the worker guarantees, ``max_price_planck_per_fuel`` in planck per unit
of fuel it charges at most.
"""

from __future__ import annotations

import bisect
import hashlib
import json
import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from substrateinterface import Keypair

from .. import signing
from ..clock import now_ms
from ..codec import PROTOCOL_VERSION, U64_MAX, uint_from_json, uint_to_json
from ..exceptions import MalformedMessageError
from .exceptions import InvalidRecordError

__all__ = [
    "DEFAULT_KEYING",
    "KEY_DOMAIN",
    "MAX_CLOCK_SKEW_MS",
    "RECORD_DOMAIN",
    "RECORD_TTL_MS",
    "REANNOUNCE_INTERVAL_S",
    "Capability",
    "CapabilityKeying",
    "CapabilityRecord",
    "decode_records",
    "encode_records",
    "merge_records",
]

logger = logging.getLogger(__name__)

RECORD_DOMAIN = signing.DHT_RECORD_DOMAIN
"""Domain tag of a record signature."""

KEY_DOMAIN = signing.DHT_KEY_DOMAIN
"""Domain tag of a capability key hash."""

RECORD_TTL_MS = 10 * 60 * 1000
"""A record older than this (ms) is stale and dropped: 10 minutes."""

REANNOUNCE_INTERVAL_S = 5 * 60
"""Seconds between re-announcements of a worker's records: 5 minutes."""

MAX_CLOCK_SKEW_MS = 60 * 1000
"""A record stamped further than this (ms) in the future is refused."""

MAX_ENDPOINT_LENGTH = 256
"""Longest signaling endpoint URL (characters)."""

_TASK_TYPE = re.compile(r"[a-z0-9][a-z0-9_.:-]{0,63}")
_FIELDS = (
    "endpoint",
    "max_price_planck_per_fuel",
    "min_speed",
    "task_type",
    "timestamp_ms",
    "worker",
)
_U64_FIELDS = ("max_price_planck_per_fuel", "min_speed", "timestamp_ms")


def _check_task_type(task_type: object) -> str:
    if not isinstance(task_type, str) or not _TASK_TYPE.fullmatch(task_type):
        raise InvalidRecordError(
            f"task type {task_type!r} must be 1-64 chars of a-z 0-9 _ . : - "
            "starting with a letter or digit"
        )
    return task_type


def _check_uint(name: str, value: object) -> int:
    if type(value) is not int or not 0 <= value <= U64_MAX:
        raise InvalidRecordError(f"{name} must be an integer within 0..2**64-1, got {value!r}")
    return value


@dataclass(frozen=True, slots=True)
class Capability:
    """What a worker offers: a task type at a guaranteed speed for a price ceiling.

    ``min_speed``: fuel per second the worker guarantees. ``max_price_planck_per_fuel``:
    the most it charges, in planck per unit of fuel. Raises :class:`InvalidRecordError` for
    a malformed field.
    """

    task_type: str
    min_speed: int
    max_price_planck_per_fuel: int

    def __post_init__(self) -> None:
        _check_task_type(self.task_type)
        _check_uint("min_speed", self.min_speed)
        _check_uint("max_price_planck_per_fuel", self.max_price_planck_per_fuel)

    def satisfies(self, *, min_speed: int = 0, max_price: int | None = None) -> bool:
        """Whether this capability meets a request for at least *min_speed* fuel/s at
        most *max_price* planck/fuel (None: any price)."""
        if self.min_speed < min_speed:
            return False
        return max_price is None or self.max_price_planck_per_fuel <= max_price


@dataclass(frozen=True, slots=True)
class CapabilityRecord:
    """A worker's signed announcement of one :class:`Capability` (see module doc).

    ``worker``: SS58 address (prefix 42) of the signing key; ``endpoint``: its
    signaling URL (``http(s)://host:port/...``); ``timestamp_ms``: unix ms when signed;
    ``signature``: ``0x`` + 128 hex digits.
    """

    worker: str
    task_type: str
    min_speed: int
    max_price_planck_per_fuel: int
    endpoint: str
    timestamp_ms: int
    signature: str = field(repr=False)

    @property
    def capability(self) -> Capability:
        """The capability announced."""
        return Capability(self.task_type, self.min_speed, self.max_price_planck_per_fuel)

    def fields(self) -> dict[str, object]:
        """The signed fields (everything but the signature) in their wire form: the u64
        ones (``min_speed``, ``max_price_planck_per_fuel``, ``timestamp_ms``) as decimal
        strings."""
        wire: dict[str, object] = {name: getattr(self, name) for name in _FIELDS}
        for name in _U64_FIELDS:
            wire[name] = uint_to_json(getattr(self, name))
        return wire

    def to_json(self) -> dict[str, object]:
        """The record as a JSON object (signed fields plus ``signature``)."""
        return {**self.fields(), "signature": self.signature}

    @classmethod
    def create(
        cls,
        keypair: Keypair,
        capability: Capability,
        endpoint: str,
        *,
        timestamp_ms: int | None = None,
    ) -> CapabilityRecord:
        """A record of *capability* at *endpoint* signed by *keypair* at *timestamp_ms*
        (default: now). Raises :class:`InvalidRecordError` for a bad endpoint."""
        unsigned = cls(
            worker=str(keypair.ss58_address),
            task_type=capability.task_type,
            min_speed=capability.min_speed,
            max_price_planck_per_fuel=capability.max_price_planck_per_fuel,
            endpoint=endpoint,
            timestamp_ms=now_ms() if timestamp_ms is None else timestamp_ms,
            signature="",
        )
        unsigned._check_shape()
        signature = signing.sign_fields(keypair, RECORD_DOMAIN, unsigned.fields())
        return replace(unsigned, signature=signature)

    @classmethod
    def from_json(cls, obj: object) -> CapabilityRecord:
        """Parse a JSON object (shape only: call :meth:`verify` for the signature and
        age). Raises :class:`InvalidRecordError` for a malformed object."""
        if not isinstance(obj, Mapping) or set(obj) != {*_FIELDS, "signature"}:
            raise InvalidRecordError(f"a record has exactly the fields {(*_FIELDS, 'signature')}")
        values = {name: obj[name] for name in (*_FIELDS, "signature")}
        try:
            for name in _U64_FIELDS:
                values[name] = uint_from_json(values[name], U64_MAX, name)
        except MalformedMessageError as err:
            raise InvalidRecordError(str(err)) from None
        record = cls(**values)
        record._check_shape()
        if not isinstance(record.signature, str):
            raise InvalidRecordError("signature must be a 0x-hex string")
        return record

    def _check_shape(self) -> None:
        if not signing.is_address(self.worker):
            raise InvalidRecordError(f"worker {self.worker!r} is not an SS58 address (prefix 42)")
        Capability(self.task_type, self.min_speed, self.max_price_planck_per_fuel)
        _check_uint("timestamp_ms", self.timestamp_ms)
        if (
            not isinstance(self.endpoint, str)
            or len(self.endpoint) > MAX_ENDPOINT_LENGTH
            or not self.endpoint.startswith(("http://", "https://"))
        ):
            raise InvalidRecordError(
                f"endpoint must be an http(s) URL of at most {MAX_ENDPOINT_LENGTH} characters"
            )

    def verify(self, *, now: int | None = None, ttl_ms: int = RECORD_TTL_MS) -> None:
        """Check the signature and the age at *now* (unix ms, default: the clock).

        Raises :class:`InvalidRecordError` when the signature is not the worker's, the record
        is older than *ttl_ms*, or stamped more than :data:`MAX_CLOCK_SKEW_MS` ahead.
        """
        now = now_ms() if now is None else now
        if not signing.verify_fields(self.worker, RECORD_DOMAIN, self.fields(), self.signature):
            raise InvalidRecordError(f"record of {self.worker} for {self.task_type}: bad signature")
        age = now - self.timestamp_ms
        if age > ttl_ms:
            raise InvalidRecordError(
                f"record of {self.worker} for {self.task_type} is stale "
                f"({age} ms old, limit {ttl_ms} ms)"
            )
        if -age > MAX_CLOCK_SKEW_MS:
            raise InvalidRecordError(
                f"record of {self.worker} for {self.task_type} is stamped {-age} ms ahead"
            )

    def is_valid(self, *, now: int | None = None, ttl_ms: int = RECORD_TTL_MS) -> bool:
        """:meth:`verify` as a boolean."""
        try:
            self.verify(now=now, ttl_ms=ttl_ms)
        except InvalidRecordError:
            return False
        return True


@dataclass(frozen=True, slots=True)
class CapabilityKeying:
    """Tier ladders that turn a capability into DHT keys (see the module doc).

    ``speed_edges`` (fuel/s) and ``price_edges`` (planck/fuel) start at 0 and increase;
    tier *i* holds the values in ``[edges[i], edges[i + 1])``. All peers of a network
    must use the same ladders.
    """

    speed_edges: Sequence[int] = (0, 10**7, 10**8, 10**9)
    price_edges: Sequence[int] = (0, 10, 100, 1000)

    def __post_init__(self) -> None:
        for name, edges in (("speed_edges", self.speed_edges), ("price_edges", self.price_edges)):
            if not edges or edges[0] != 0 or list(edges) != sorted(set(edges)):
                raise ValueError(f"{name} must start at 0 and strictly increase")
            if len(edges) > 256:
                raise ValueError(f"{name} has more than 256 tiers")

    @staticmethod
    def _tier(edges: Sequence[int], value: int) -> int:
        return bisect.bisect_right(edges, value) - 1

    def key(self, task_type: str, speed_tier: int, price_tier: int) -> bytes:
        """The 20-byte DHT key of (task type, speed tier, price tier)."""
        payload = (
            KEY_DOMAIN
            + _check_task_type(task_type).encode()
            + b"\x00"
            + bytes([speed_tier, price_tier])
        )
        return hashlib.blake2b(payload, digest_size=20).digest()

    def announce_key(self, capability: Capability) -> bytes:
        """The key a record of *capability* is announced under."""
        return self.key(
            capability.task_type,
            self._tier(self.speed_edges, capability.min_speed),
            self._tier(self.price_edges, capability.max_price_planck_per_fuel),
        )

    def lookup_keys(
        self, task_type: str, *, min_speed: int = 0, max_price: int | None = None
    ) -> list[bytes]:
        """Every key that may hold a record meeting (*min_speed*, *max_price*); None
        price: any. Ordered fastest-cheapest first."""
        top_price = len(self.price_edges) - 1
        if max_price is not None:
            top_price = self._tier(self.price_edges, max(max_price, 0))
        first_speed = self._tier(self.speed_edges, max(min_speed, 0))
        return [
            self.key(task_type, speed, price)
            for speed in range(len(self.speed_edges) - 1, first_speed - 1, -1)
            for price in range(top_price + 1)
        ]


DEFAULT_KEYING = CapabilityKeying()
"""The ladders the ccnet network uses."""


def merge_records(
    records: Iterable[CapabilityRecord], *, limit: int | None = None
) -> list[CapabilityRecord]:
    """One record per (worker, task type), the newest (a worker offers one capability
    per task type; a new announcement replaces the old); newest first, at most *limit*.
    Does not verify: verify before merging."""
    newest: dict[tuple[str, str], CapabilityRecord] = {}
    for record in records:
        ident = (record.worker, record.task_type)
        kept = newest.get(ident)
        if kept is None or record.timestamp_ms > kept.timestamp_ms:
            newest[ident] = record
    ordered = sorted(newest.values(), key=lambda r: (-r.timestamp_ms, r.worker))
    return ordered if limit is None else ordered[:limit]


def encode_records(records: Iterable[CapabilityRecord]) -> str:
    """The DHT value for *records*: ``{"records": [...], "v": 2}`` as compact JSON with
    sorted keys (``v`` is :data:`~ccnet.client.codec.PROTOCOL_VERSION`)."""
    return json.dumps(
        {"v": PROTOCOL_VERSION, "records": [r.to_json() for r in records]},
        separators=(",", ":"),
        sort_keys=True,
        ensure_ascii=True,
    )


def decode_records(value: object) -> tuple[list[CapabilityRecord], int]:
    """Parse a DHT value into (well-formed records, number of malformed ones dropped).
    Anything that is not a ``{"records": [...], "v": 2}`` JSON text gives ``([], 0)``
    (unless it is a list with malformed members; a value of another protocol version
    counts as one malformed). Signatures are not checked here."""
    if isinstance(value, bytes):
        try:
            value = value.decode("utf-8")
        except UnicodeDecodeError:
            return [], 0
    if not isinstance(value, str):
        return [], 0
    try:
        obj = json.loads(value)
    except (ValueError, RecursionError):  # not JSON, or nested too deep to parse
        return [], 0
    if not isinstance(obj, dict) or not isinstance(obj.get("records"), list):
        return [], 0
    if obj.get("v") != PROTOCOL_VERSION:
        logger.debug("dropping a DHT value of protocol version %r", obj.get("v"))
        return [], 1
    records, dropped = [], 0
    for item in obj["records"]:
        try:
            records.append(CapabilityRecord.from_json(item))
        except (InvalidRecordError, TypeError):
            dropped += 1
    return records, dropped
