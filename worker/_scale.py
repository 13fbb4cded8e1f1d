"""SCALE encoding and sr25519 helpers shared by the signed worker messages."""

from __future__ import annotations

from functools import cache
from typing import Any

from scalecodec.base import RuntimeConfiguration, ScaleType
from scalecodec.type_registry import load_type_registry_preset
from scalecodec.utils.ss58 import ss58_decode, ss58_encode
from substrateinterface import Keypair

from ccnet.client import signing
from ccnet.client.signing import SIGNATURE_SIZE, SS58_FORMAT

__all__ = [
    "SIGNATURE_SIZE",
    "SS58_FORMAT",
    "U32_MAX",
    "U64_MAX",
    "U128_MAX",
    "address_of",
    "check_bytes",
    "check_uint",
    "encode",
    "hexed",
    "public_key_of",
    "sign",
    "unhex",
    "verify",
]

from .exceptions import MalformedMessageError

U32_MAX = 2**32 - 1
U64_MAX = 2**64 - 1
U128_MAX = 2**128 - 1


@cache
def _config() -> RuntimeConfiguration:
    config = RuntimeConfiguration()
    config.update_type_registry(load_type_registry_preset("core"))
    return config


def encode(type_string: str, value: Any) -> bytes:
    """SCALE of *value* as *type_string* (scalecodec type syntax)."""
    obj: ScaleType = _config().create_scale_object(type_string)
    return bytes(obj.encode(value).data)


def hexed(data: bytes) -> str:
    """``0x``-prefixed lower-case hex."""
    return "0x" + data.hex()


def unhex(value: Any, size: int | None, what: str) -> bytes:
    """Bytes from ``0x`` hex (JSON field *what*), of exactly *size* bytes if given."""
    if not isinstance(value, str) or not value.startswith("0x"):
        raise MalformedMessageError(f"{what} must be 0x-prefixed hex")
    try:
        raw = bytes.fromhex(value[2:])
    except ValueError:
        raise MalformedMessageError(f"{what} is not hex") from None
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


def public_key_of(address: str) -> bytes:
    """The 32-byte public key of SS58 *address* (prefix 42)."""
    try:
        key = bytes.fromhex(ss58_decode(address, valid_ss58_format=SS58_FORMAT))
    except (ValueError, TypeError):
        raise MalformedMessageError(f"not an SS58 (prefix 42) address: {address!r}") from None
    if len(key) != 32:
        raise MalformedMessageError(f"not a 32-byte account: {address!r}")
    return key


def address_of(public_key: bytes) -> str:
    """SS58 address (prefix 42) of a 32-byte public key."""
    return str(ss58_encode(public_key, ss58_format=SS58_FORMAT))


def sign(keypair: Keypair, payload: bytes) -> bytes:
    """sr25519 signature (64 bytes) of *payload* by *keypair* (raw, see ccnet.client.signing)."""
    try:
        return signing.sign(keypair, payload)
    except signing.SigningError as err:
        raise MalformedMessageError(
            f"worker messages are signed with sr25519 keys: {err}"
        ) from None


def verify(public_key: bytes, payload: bytes, signature: bytes) -> bool:
    """Whether *signature* is *public_key*'s raw sr25519 signature of *payload*
    (:func:`ccnet.client.signing.verify`: no ``<Bytes>`` wrapping)."""
    return signing.verify(public_key, payload, signature)
