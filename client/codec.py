"""Small conversions between Python values and what scalecodec takes or gives.

scalecodec (via substrate-interface) takes H256 and fixed byte arrays as ``'0x..'``
strings, ``Vec<u8>`` as bytes, and a ``BoundedVec<BoundedVec<u8>>`` as a one-field
composite (:func:`bounded`). It decodes ``Vec<u8>`` as text when the bytes are UTF-8,
else as ``'0x..'`` hex (:func:`as_bytes` undoes that).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from functools import cache
from typing import Any

from scalecodec.base import RuntimeConfiguration, ScaleType
from scalecodec.type_registry import load_type_registry_preset

from .exceptions import CallEncodingError, MalformedMessageError

__all__ = [
    "PROTOCOL_VERSION",
    "U32_MAX",
    "U64_MAX",
    "U128_MAX",
    "as_bytes",
    "bounded",
    "check_bytes",
    "check_uint",
    "encode_scale",
    "fixed_hex",
    "h256",
    "hexed",
    "to_bytes",
    "uint_from_json",
    "uint_to_json",
    "unhex",
]


def to_bytes(value: bytes | bytearray | str) -> bytes:
    """*value* as bytes: bytes as they are, text as UTF-8."""
    return bytes(value) if isinstance(value, bytes | bytearray) else value.encode()


def fixed_hex(value: bytes | bytearray | str, size: int, what: str = "value") -> str:
    """*value* (bytes, or hex with or without ``0x``) as ``'0x..'`` of exactly *size*
    bytes; :class:`CallEncodingError` otherwise."""
    if isinstance(value, bytes | bytearray):
        raw = bytes(value)
    else:
        try:
            raw = bytes.fromhex(value.removeprefix("0x"))
        except ValueError:
            raise CallEncodingError(f"{what} must be hex, got {value!r}") from None
    if len(raw) != size:
        raise CallEncodingError(f"{what} must be {size} bytes, got {len(raw)}")
    return "0x" + raw.hex()


def h256(value: bytes | bytearray | str, what: str = "hash") -> str:
    """A 32-byte hash (H256, channel id) as ``'0x..'``."""
    return fixed_hex(value, 32, what)


def as_bytes(value: Any) -> bytes:
    """A decoded ``Vec<u8>`` / byte array back to bytes: ``'0x..'`` hex, UTF-8 text,
    a list of ints, or bytes. (Text that itself starts with ``0x`` is read as hex.)"""
    if value is None:
        return b""
    if isinstance(value, bytes | bytearray):
        return bytes(value)
    if isinstance(value, str):
        if value.startswith("0x"):
            try:
                return bytes.fromhex(value[2:])
            except ValueError:
                return value.encode()
        return value.encode()
    if isinstance(value, list | tuple):
        return bytes(value)
    raise TypeError(f"not a byte string: {value!r}")


def bounded(items: Sequence[Any]) -> list[list[Any]]:
    """A ``BoundedVec`` of *items* as scalecodec encodes it: a one-field composite given as
    the list of its fields (a bare list would be taken as that field list)."""
    return [list(items)]


# -- SCALE and JSON field helpers of the signed peer messages (docs/protocol.md) ---------

U32_MAX = 2**32 - 1
U64_MAX = 2**64 - 1
U128_MAX = 2**128 - 1

PROTOCOL_VERSION = 2
"""Version of the peer wire formats of ``docs/protocol.md`` (signaling, job messages,
results, heartbeats, DHT values, job specs). Version 2 carries every u64 and u128 as a
decimal string, since JSON numbers beyond 2**53 lose precision in JavaScript readers and
their signatures then fail; version 1 (JSON numbers) is refused with a clear error."""

_DECIMAL = re.compile(r"0|[1-9][0-9]{0,38}")
_HEX = re.compile(r"(?:[0-9a-f]{2})*")


SCALECODEC_LOCK = threading.RLock()
"""Held around every use of scalecodec in the process. scalecodec attaches the
configuration it decodes with to its shared type classes as a class attribute
(``decoder_class.runtime_config = self``), so two configurations used at once (two
``SubstrateInterface`` objects, or one and :func:`encode_scale`) read each other's,
possibly half-loaded, type registries."""


@cache
def _scale_config() -> RuntimeConfiguration:
    config = RuntimeConfiguration()
    config.update_type_registry(load_type_registry_preset("core"))
    return config


def encode_scale(type_string: str, value: Any) -> bytes:
    """SCALE of *value* as *type_string* (scalecodec type syntax, e.g.
    ``"([u8; 16], u64, H256)"``; fixed arrays and hashes given as ``'0x..'``)."""
    with SCALECODEC_LOCK:
        obj: ScaleType = _scale_config().create_scale_object(type_string)
        return bytes(obj.encode(value).data)


def hexed(data: bytes) -> str:
    """``0x``-prefixed lower-case hex."""
    return "0x" + data.hex()


def unhex(value: Any, size: int | None, what: str) -> bytes:
    """Bytes from ``0x`` + lowercase hex (the peer's field *what*), of exactly *size*
    bytes if given; :class:`MalformedMessageError` otherwise."""
    if not isinstance(value, str) or not value.startswith("0x"):
        raise MalformedMessageError(f"{what} must be 0x-prefixed hex")
    if not _HEX.fullmatch(value, 2):
        raise MalformedMessageError(f"{what} is not lowercase hex digits in pairs")
    raw = bytes.fromhex(value[2:])
    if size is not None and len(raw) != size:
        raise MalformedMessageError(f"{what} must be {size} bytes, got {len(raw)}")
    return raw


def check_bytes(value: Any, size: int, what: str) -> bytes:
    """*value* if it is bytes of exactly *size*; :class:`MalformedMessageError`."""
    if not isinstance(value, bytes) or len(value) != size:
        raise MalformedMessageError(f"{what} must be {size} bytes")
    return value


def check_uint(value: Any, maximum: int, what: str) -> int:
    """*value* if it is an int in [0, *maximum*]; :class:`MalformedMessageError`."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= maximum:
        raise MalformedMessageError(f"{what} must be an integer in [0, {maximum}]")
    return value


def uint_to_json(value: int) -> str:
    """A u64 or u128 as protocol version 2 carries it in JSON: a decimal string."""
    return str(value)


def uint_from_json(value: Any, maximum: int, what: str) -> int:
    """The integer of a JSON decimal string (ASCII digits, no sign, no leading zero) in
    [0, *maximum*]. :class:`MalformedMessageError` otherwise; for a JSON number (the
    version 1 form) it says so."""
    if isinstance(value, int) and not isinstance(value, bool):
        raise MalformedMessageError(
            f"{what} is a JSON number: since protocol version {PROTOCOL_VERSION}, u64 and "
            "u128 values are decimal strings (docs/protocol.md)"
        )
    if not isinstance(value, str) or not _DECIMAL.fullmatch(value):
        raise MalformedMessageError(
            f"{what} must be a decimal string (ASCII digits, no sign, no leading zeros)"
        )
    number = int(value)
    if number > maximum:
        raise MalformedMessageError(f"{what} must be at most {maximum}")
    return number
