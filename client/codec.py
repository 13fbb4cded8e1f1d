"""Small conversions between Python values and what scalecodec takes or gives.

scalecodec (via substrate-interface) takes H256 and fixed byte arrays as ``'0x..'``
strings, ``Vec<u8>`` as bytes, and a ``BoundedVec<BoundedVec<u8>>`` as a one-field
composite (:func:`bounded`). It decodes ``Vec<u8>`` as text when the bytes are UTF-8,
else as ``'0x..'`` hex (:func:`as_bytes` undoes that).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .exceptions import CallEncodingError

__all__ = ["as_bytes", "bounded", "fixed_hex", "h256", "to_bytes"]


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
