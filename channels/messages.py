"""The protocol's wire messages: ``propose``, ``countersign``, ``reject``,
``close_request`` and ``close_accept``.

Wire format (version 2: ``reject`` carries ``cancel_signature``). A frame is a 4-byte
big-endian body length ``N`` followed by ``N`` bytes of UTF-8 JSON, one object per
frame, ``1 <= N <=`` :data:`MAX_BODY` (64 KiB). Bytes are ``0x``-prefixed lower-case
hex; planck amounts are decimal strings (u128 does not fit every JSON reader); versions
are JSON integers. Objects must have exactly the listed keys::

    {"type": "propose", "channel_id": H256, "genesis_hash": H256, "version": int,
     "balance_a": "planck", "balance_b": "planck", "signature": [u8; 64],
     "memo": str (<= 1024 characters)}
    {"type": "countersign", "channel_id": H256, "version": int, "signature": [u8; 64]}
    {"type": "reject", "channel_id": H256, "version": int, "code": str, "reason": str,
     "cancel_signature": [u8; 64] or null}
    {"type": "close_request", "channel_id": H256, "version": int,
     "balance_a": "planck", "balance_b": "planck", "signature": [u8; 64]}
    {"type": "close_accept", "channel_id": H256, "version": int, "signature": [u8; 64]}
    {"type": "propose_batch", "channel_id": H256, "genesis_hash": H256, "version": int,
     "balances_a": ["planck", ...], "balances_b": ["planck", ...],
     "signatures": [[u8; 64], ...], "memo": str (<= 1024 characters)}
    {"type": "countersign_batch", "channel_id": H256, "version": int,
     "signatures": [[u8; 64], ...]}

``propose`` carries the proposer's update signature of the new state; ``countersign``
the other party's signature of the same state; ``reject`` names the refused version (of
a proposal or of a close request) and a
:attr:`~ccnet.channels.exceptions.ProtocolError.code`; when it refuses a valid proposal
(codes ``policy`` and ``closing``) it carries the refuser's update signature of the
*cancel state* (the refused version + 1 with the refuser's latest co-signed balances,
see :mod:`ccnet.channels.channel`), else null. ``close_request`` carries the
requester's *close* signature (:func:`~ccnet.channels.state.sign_close`) of its latest
co-signed state, ``close_accept`` the other party's close signature of the same state.
``propose_batch`` proposes several consecutive states at once (2 to :data:`MAX_BATCH`;
``version`` is the last one, the lists give the states oldest first, one signature
each) and ``countersign_batch`` answers it with the other party's signatures, in the
same order; see :meth:`ccnet.channels.Channel.pay_many`.
Parsing is pure:
:func:`decode` raises :class:`MalformedMessageError` or :class:`OversizeMessageError`
and :func:`encode` is its inverse.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from typing import Any

from ccnet.client.signing import SIGNATURE_SIZE

from .exceptions import MalformedMessageError, OversizeMessageError
from .state import U64_MAX, ChannelState

__all__ = [
    "HEADER_SIZE",
    "MAX_BODY",
    "MAX_MEMO",
    "MAX_REASON",
    "MAX_BATCH",
    "CloseAccept",
    "CloseRequest",
    "Countersign",
    "CountersignBatch",
    "Message",
    "Propose",
    "ProposeBatch",
    "Reject",
    "decode",
    "encode",
    "frame_length",
]

HEADER_SIZE = 4
"""Length prefix, bytes (big-endian u32)."""
MAX_BODY = 64 * 1024
"""Largest JSON body accepted, bytes."""
MAX_MEMO = 1024
"""Longest ``memo``, characters."""
MAX_REASON = 1024
"""Longest ``reason``, characters."""
MAX_BATCH = 128
"""Most states in one ``propose_batch`` (about 30 KiB of JSON at most)."""
_HEADER = struct.Struct(">I")


@dataclass(frozen=True, slots=True)
class Propose:
    """ "Here is the next state, signed by me; please countersign."""

    channel_id: bytes
    """32 bytes."""
    genesis_hash: bytes
    """The chain the state is for, 32 bytes."""
    version: int
    balance_a: int
    """Planck; may be out of range (the receiver refuses it as an overdraw)."""
    balance_b: int
    """Planck."""
    signature: bytes
    """The proposer's sr25519 signature of the state, 64 bytes."""
    memo: str = ""
    """Free text for the receiver's policy, e.g. ``"task 42"``."""

    def state(self) -> ChannelState:
        """The proposed state; :class:`BalanceError` / :class:`VersionError` when a
        value is out of range."""
        return ChannelState(self.channel_id, self.version, self.balance_a, self.balance_b)


@dataclass(frozen=True, slots=True)
class Countersign:
    """ "I signed your proposal of *version* too."""

    channel_id: bytes
    version: int
    signature: bytes
    """The countersigner's sr25519 signature of the proposed state, 64 bytes."""


@dataclass(frozen=True, slots=True)
class Reject:
    """ "I refuse your proposal (or close request) of *version*"."""

    channel_id: bytes
    version: int
    code: str
    """A :attr:`~ccnet.channels.exceptions.ProtocolError.code`, e.g. ``"version"``."""
    reason: str
    cancel_signature: bytes | None = None
    """``policy`` and ``closing`` refusals of a proposal: the refuser's update signature
    (64 bytes) of the cancel state, version ``version + 1`` with its latest co-signed
    balances; None otherwise."""


@dataclass(frozen=True, slots=True)
class CloseRequest:
    """ "Let us close the channel at once with our latest state; here is my close
    signature of it." (The sender signs no update afterwards.)"""

    channel_id: bytes
    version: int
    balance_a: int
    """Planck; may be out of range (the receiver refuses it)."""
    balance_b: int
    """Planck."""
    signature: bytes
    """The requester's sr25519 close signature of the state, 64 bytes."""

    def state(self) -> ChannelState:
        """The state to close with; :class:`BalanceError` / :class:`VersionError` when a
        value is out of range."""
        return ChannelState(self.channel_id, self.version, self.balance_a, self.balance_b)


@dataclass(frozen=True, slots=True)
class CloseAccept:
    """ "I signed the close of *version* too." (The sender signs no update afterwards.)"""

    channel_id: bytes
    version: int
    signature: bytes
    """The accepter's sr25519 close signature of the state, 64 bytes."""


@dataclass(frozen=True, slots=True)
class ProposeBatch:
    """ "Here are the next states (consecutive versions), each signed by me; please
    countersign them all." Judged and answered as one: all co-signed, or none."""

    channel_id: bytes
    """32 bytes."""
    genesis_hash: bytes
    """The chain the states are for, 32 bytes."""
    version: int
    """The last state's version; the first is ``version - len(balances) + 1``."""
    balances: tuple[tuple[int, int], ...]
    """``(balance_a, balance_b)`` of each state, planck, oldest first; may be out of
    range (the receiver refuses the batch as an overdraw)."""
    signatures: tuple[bytes, ...]
    """The proposer's sr25519 signature of each state, 64 bytes each, same order."""
    memo: str = ""
    """Free text for the receiver's policy."""

    @property
    def first_version(self) -> int:
        """The first state's version."""
        return self.version - len(self.balances) + 1

    def states(self) -> list[ChannelState]:
        """The proposed states, oldest first; :class:`BalanceError` /
        :class:`VersionError` when a value is out of range."""
        first = self.first_version
        return [
            ChannelState(self.channel_id, first + i, balance_a, balance_b)
            for i, (balance_a, balance_b) in enumerate(self.balances)
        ]


@dataclass(frozen=True, slots=True)
class CountersignBatch:
    """ "I signed every state of your batch ending at *version* too."""

    channel_id: bytes
    version: int
    """The last state's version."""
    signatures: tuple[bytes, ...]
    """The countersigner's sr25519 signature of each state, oldest first, 64 bytes each."""


Message = (
    Propose | Countersign | Reject | CloseRequest | CloseAccept | ProposeBatch | CountersignBatch
)

_FIELDS: dict[str, frozenset[str]] = {
    "propose": frozenset(
        {"type", "channel_id", "genesis_hash", "version", "balance_a", "balance_b"}
        | {"signature", "memo"}
    ),
    "countersign": frozenset({"type", "channel_id", "version", "signature"}),
    "reject": frozenset({"type", "channel_id", "version", "code", "reason", "cancel_signature"}),
    "close_request": frozenset(
        {"type", "channel_id", "version", "balance_a", "balance_b", "signature"}
    ),
    "close_accept": frozenset({"type", "channel_id", "version", "signature"}),
    "propose_batch": frozenset(
        {"type", "channel_id", "genesis_hash", "version", "balances_a", "balances_b"}
        | {"signatures", "memo"}
    ),
    "countersign_batch": frozenset({"type", "channel_id", "version", "signatures"}),
}


def _hex(data: bytes) -> str:
    return "0x" + data.hex()


def encode(message: Message) -> bytes:
    """The frame (length prefix and JSON body) of *message*; :class:`OversizeMessageError` if
    the body exceeds :data:`MAX_BODY`."""
    body: dict[str, Any]
    if isinstance(message, Propose):
        body = {
            "type": "propose",
            "channel_id": _hex(message.channel_id),
            "genesis_hash": _hex(message.genesis_hash),
            "version": message.version,
            "balance_a": str(message.balance_a),
            "balance_b": str(message.balance_b),
            "signature": _hex(message.signature),
            "memo": message.memo,
        }
    elif isinstance(message, Countersign):
        body = {
            "type": "countersign",
            "channel_id": _hex(message.channel_id),
            "version": message.version,
            "signature": _hex(message.signature),
        }
    elif isinstance(message, CloseRequest):
        body = {
            "type": "close_request",
            "channel_id": _hex(message.channel_id),
            "version": message.version,
            "balance_a": str(message.balance_a),
            "balance_b": str(message.balance_b),
            "signature": _hex(message.signature),
        }
    elif isinstance(message, CloseAccept):
        body = {
            "type": "close_accept",
            "channel_id": _hex(message.channel_id),
            "version": message.version,
            "signature": _hex(message.signature),
        }
    elif isinstance(message, ProposeBatch):
        body = {
            "type": "propose_batch",
            "channel_id": _hex(message.channel_id),
            "genesis_hash": _hex(message.genesis_hash),
            "version": message.version,
            "balances_a": [str(balance_a) for balance_a, _ in message.balances],
            "balances_b": [str(balance_b) for _, balance_b in message.balances],
            "signatures": [_hex(signature) for signature in message.signatures],
            "memo": message.memo,
        }
    elif isinstance(message, CountersignBatch):
        body = {
            "type": "countersign_batch",
            "channel_id": _hex(message.channel_id),
            "version": message.version,
            "signatures": [_hex(signature) for signature in message.signatures],
        }
    else:
        body = {
            "type": "reject",
            "channel_id": _hex(message.channel_id),
            "version": message.version,
            "code": message.code,
            "reason": message.reason[:MAX_REASON],
            "cancel_signature": None
            if message.cancel_signature is None
            else _hex(message.cancel_signature),
        }
    data = json.dumps(body, separators=(",", ":")).encode()
    if len(data) > MAX_BODY:
        raise OversizeMessageError(f"message body of {len(data)} bytes exceeds {MAX_BODY}")
    return _HEADER.pack(len(data)) + data


def frame_length(header: bytes) -> int:
    """The body length announced by a 4-byte *header*; :class:`OversizeMessageError` above
    :data:`MAX_BODY`, :class:`MalformedMessageError` for an empty body."""
    if len(header) != HEADER_SIZE:
        raise MalformedMessageError(f"a frame header is {HEADER_SIZE} bytes, got {len(header)}")
    (length,) = _HEADER.unpack(header)
    if length > MAX_BODY:
        raise OversizeMessageError(f"frame of {length} bytes exceeds the {MAX_BODY}-byte cap")
    if length == 0:
        raise MalformedMessageError("empty frame")
    return int(length)


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise MalformedMessageError(f"duplicate field {key!r}")
        result[key] = value
    return result


def _reject_constant(name: str) -> Any:
    raise MalformedMessageError(f"{name} is not valid JSON here")


def _bytes(body: dict[str, Any], key: str, size: int) -> bytes:
    value = body[key]
    if not isinstance(value, str) or not value.startswith("0x") or len(value) != 2 + 2 * size:
        raise MalformedMessageError(f"{key} must be {size} bytes of 0x-hex")
    try:
        return bytes.fromhex(value[2:])
    except ValueError:
        raise MalformedMessageError(f"{key} is not hex") from None


def _int(body: dict[str, Any], key: str) -> int:
    value = body[key]
    if type(value) is not int or not 0 <= value <= U64_MAX:
        raise MalformedMessageError(f"{key} must be an integer in 0..2**64-1")
    return value


def _planck(body: dict[str, Any], key: str) -> int:
    value = body[key]
    # At most 40 digits (u128 has 39) and an optional minus sign, which the receiver
    # reports as an overdraw rather than a parse error.
    digits = value[1:] if isinstance(value, str) and value.startswith("-") else value
    if not isinstance(digits, str) or not digits.isascii() or not digits.isdigit():
        raise MalformedMessageError(f"{key} must be a decimal string of planck")
    if len(digits) > 40:
        raise MalformedMessageError(f"{key} has too many digits")
    return int(value)


def _list(body: dict[str, Any], key: str, version: int) -> list[Any]:
    """A batch list: 2 to :data:`MAX_BATCH` items, no more than *version* (the first
    version is at least 1)."""
    value = body[key]
    if not isinstance(value, list) or not 2 <= len(value) <= MAX_BATCH:
        raise MalformedMessageError(f"{key} must be a list of 2 to {MAX_BATCH} items")
    if len(value) > version:
        raise MalformedMessageError(f"{key}: {len(value)} states cannot end at version {version}")
    return value


def _signatures(body: dict[str, Any], version: int) -> tuple[bytes, ...]:
    return tuple(
        _bytes({"signatures": item}, "signatures", SIGNATURE_SIZE)
        for item in _list(body, "signatures", version)
    )


def _text(body: dict[str, Any], key: str, limit: int) -> str:
    value = body[key]
    if not isinstance(value, str) or len(value) > limit:
        raise MalformedMessageError(f"{key} must be a string of at most {limit} characters")
    return value


def decode(frame: bytes) -> Message:
    """The message in *frame* (length prefix and body, as :func:`encode` makes it).

    Raises :class:`OversizeMessageError` for a body over :data:`MAX_BODY` and
    :class:`MalformedMessageError` for anything else that is not exactly one valid message.
    """
    if len(frame) > HEADER_SIZE + MAX_BODY:
        raise OversizeMessageError(f"frame of {len(frame)} bytes exceeds the cap")
    length = frame_length(frame[:HEADER_SIZE])
    data = frame[HEADER_SIZE:]
    if len(data) != length:
        raise MalformedMessageError(f"frame announces {length} bytes but carries {len(data)}")
    try:
        body = json.loads(
            data.decode("utf-8"),
            object_pairs_hook=_no_duplicates,
            parse_constant=_reject_constant,
        )
    except (ValueError, RecursionError) as err:
        # ValueError: not UTF-8 or not JSON, and also an integer over Python's digit
        # limit (4,300), which json raises as a plain ValueError.
        raise MalformedMessageError(f"frame body is not UTF-8 JSON: {err}") from None
    if not isinstance(body, dict):
        raise MalformedMessageError("frame body must be a JSON object")
    kind = body.get("type")
    if not isinstance(kind, str) or kind not in _FIELDS:
        raise MalformedMessageError(f"unknown message type {kind!r}")
    keys = set(body)
    if keys != _FIELDS[kind]:
        missing, extra = sorted(_FIELDS[kind] - keys), sorted(keys - _FIELDS[kind])
        raise MalformedMessageError(f"{kind}: missing fields {missing}, unexpected fields {extra}")
    channel_id = _bytes(body, "channel_id", 32)
    version = _int(body, "version")
    if kind == "propose":
        return Propose(
            channel_id=channel_id,
            genesis_hash=_bytes(body, "genesis_hash", 32),
            version=version,
            balance_a=_planck(body, "balance_a"),
            balance_b=_planck(body, "balance_b"),
            signature=_bytes(body, "signature", SIGNATURE_SIZE),
            memo=_text(body, "memo", MAX_MEMO),
        )
    if kind == "countersign":
        return Countersign(channel_id, version, _bytes(body, "signature", SIGNATURE_SIZE))
    if kind == "close_request":
        return CloseRequest(
            channel_id=channel_id,
            version=version,
            balance_a=_planck(body, "balance_a"),
            balance_b=_planck(body, "balance_b"),
            signature=_bytes(body, "signature", SIGNATURE_SIZE),
        )
    if kind == "close_accept":
        return CloseAccept(channel_id, version, _bytes(body, "signature", SIGNATURE_SIZE))
    if kind == "propose_batch":
        signatures = _signatures(body, version)
        balances_a = [
            _planck({"balances_a": v}, "balances_a") for v in _list(body, "balances_a", version)
        ]
        balances_b = [
            _planck({"balances_b": v}, "balances_b") for v in _list(body, "balances_b", version)
        ]
        if not len(balances_a) == len(balances_b) == len(signatures):
            raise MalformedMessageError("propose_batch: the lists differ in length")
        return ProposeBatch(
            channel_id=channel_id,
            genesis_hash=_bytes(body, "genesis_hash", 32),
            version=version,
            balances=tuple(zip(balances_a, balances_b, strict=True)),
            signatures=signatures,
            memo=_text(body, "memo", MAX_MEMO),
        )
    if kind == "countersign_batch":
        return CountersignBatch(channel_id, version, _signatures(body, version))
    cancel = (
        None
        if body["cancel_signature"] is None
        else _bytes(body, "cancel_signature", SIGNATURE_SIZE)
    )
    return Reject(
        channel_id,
        version,
        _text(body, "code", 32),
        _text(body, "reason", MAX_REASON),
        cancel,
    )
