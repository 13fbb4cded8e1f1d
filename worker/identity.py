"""sr25519 signatures over domain-tagged canonical JSON, bound to SS58 addresses.

Off-chain messages of the networking layer (DHT records, signaling offers and answers)
are signed by the party's on-chain account key, so the signer's SS58 address (prefix
42) is its identity. The signed bytes are ``domain || canonical_json(fields)``:
``domain`` is a fixed ASCII tag naming the message kind and version (e.g.
``b"ccnet:signal:v1"``), so a signature over one kind never verifies as another, and
canonical JSON has sorted keys, no whitespace and ASCII escapes only.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from substrateinterface import Keypair
from substrateinterface.utils.ss58 import ss58_decode

from ccnet.client import signing
from ccnet.client.signing import SS58_FORMAT

__all__ = ["canonical_json", "is_address", "sign", "signed_bytes", "verify"]


def canonical_json(fields: Mapping[str, object]) -> bytes:
    """*fields* as canonical JSON bytes (sorted keys, ``,``/``:`` separators, ASCII)."""
    return json.dumps(
        fields, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False
    ).encode("ascii")


def signed_bytes(domain: bytes, fields: Mapping[str, object]) -> bytes:
    """The exact bytes signed for *fields* under *domain*."""
    return domain + canonical_json(fields)


def is_address(address: object) -> bool:
    """Whether *address* is a well-formed SS58 address with prefix 42."""
    if not isinstance(address, str):
        return False
    try:
        ss58_decode(address, valid_ss58_format=SS58_FORMAT)
    except ValueError:
        return False
    return True


def sign(keypair: Keypair, domain: bytes, fields: Mapping[str, object]) -> str:
    """The sr25519 signature of *fields* under *domain*, as ``0x`` + 128 hex digits."""
    return "0x" + signing.sign(keypair, signed_bytes(domain, fields)).hex()


def verify(address: str, domain: bytes, fields: Mapping[str, object], signature: str) -> bool:
    """Whether *signature* (``0x`` hex) is *address*'s sr25519 signature of *fields*
    under *domain*. False for a malformed address or signature, never an exception."""
    try:
        public_key = ss58_decode(address, valid_ss58_format=SS58_FORMAT)
        if not signature.startswith("0x") or len(signature) != 130:
            return False
        raw = bytes.fromhex(signature[2:])
        return signing.verify(bytes.fromhex(public_key), signed_bytes(domain, fields), raw)
    except (ValueError, TypeError):
        return False
