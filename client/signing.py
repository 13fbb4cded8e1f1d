"""Raw sr25519 signatures, and every signing domain of ccnet in one table.

Every signature ccnet makes or checks is sr25519 (schnorrkel, the ``substrate`` signing
context) by an account key over *exact* bytes: a 16-byte domain tag from :data:`DOMAINS`
followed by the message (SCALE or canonical JSON, see each domain's owner). The account
key's SS58 address (prefix :data:`SS58_FORMAT`) is the signer's identity.

Verification is raw: :func:`verify` checks the signature over the given bytes and
nothing else (py-sr25519-bindings' ``sr25519.verify``), exactly as the runtime's
``sp_io::crypto::sr25519_verify`` does. ``substrateinterface.Keypair.verify`` is *not*
used: it also accepts a signature over ``b"<Bytes>" + message + b"</Bytes>"`` (the
wrapping that polkadot-js ``signRaw`` adds), which the chain refuses. A payee that took
such a signature off chain would hold a state it cannot use on chain (the pallet answers
``BadSignatureA``), so wrapped signatures are refused everywhere off chain too (the
shared vectors in ``tests/vectors/channel_state.json`` carry one; both Rust and Python
check that it fails).

Source: the sr25519 bindings (https://github.com/polkascan/py-sr25519-bindings) and
``docs/protocol.md`` for the signed messages.
"""

from __future__ import annotations

from types import MappingProxyType

import sr25519
from substrateinterface import Keypair, KeypairType

__all__ = [
    "CHANNEL_CLOSE_DOMAIN",
    "CHANNEL_ID_DOMAIN",
    "CHANNEL_UPDATE_DOMAIN",
    "DOMAINS",
    "DHT_KEY_DOMAIN",
    "DHT_RECORD_DOMAIN",
    "HEARTBEAT_DOMAIN",
    "PUBLIC_KEY_SIZE",
    "RESULT_DOMAIN",
    "SIGNAL_DOMAIN",
    "SIGNATURE_SIZE",
    "SS58_FORMAT",
    "SigningError",
    "sign",
    "verify",
]

SS58_FORMAT = 42
"""SS58 address prefix of ccnet accounts (generic Substrate)."""
SIGNATURE_SIZE = 64
"""An sr25519 signature, bytes."""
PUBLIC_KEY_SIZE = 32
"""An sr25519 public key (= AccountId32), bytes."""

CHANNEL_UPDATE_DOMAIN = b"ccnet:channel:v1"
"""Channel state updates (``close_unilateral``, ``challenge``); pallet-channels ``STATE_DOMAIN``."""
CHANNEL_CLOSE_DOMAIN = b"ccnet:chclose:v1"
"""Agreed cooperative closes (``cooperative_close``); pallet-channels ``CLOSE_DOMAIN``."""
CHANNEL_ID_DOMAIN = b"ccnet:chan-id:v1"
"""Channel id derivation (hashed, not signed); pallet-channels ``CHANNEL_ID_DOMAIN``."""
RESULT_DOMAIN = b"ccnet:jresult:v1"
"""A worker's signed job result."""
HEARTBEAT_DOMAIN = b"ccnet:heartbt:v1"
"""A worker's signed heartbeat."""
SIGNAL_DOMAIN = b"ccnet:signal:v1"
"""WebRTC signaling offers and answers (canonical JSON follows the tag)."""
DHT_RECORD_DOMAIN = b"ccnet:dht-record:v1"
"""Capability records in the DHT (canonical JSON follows the tag)."""
DHT_KEY_DOMAIN = b"ccnet:cap-key:v1"
"""DHT capability keys (hashed, not signed)."""

DOMAINS = MappingProxyType(
    {
        "channel update": CHANNEL_UPDATE_DOMAIN,
        "channel close": CHANNEL_CLOSE_DOMAIN,
        "channel id": CHANNEL_ID_DOMAIN,
        "job result": RESULT_DOMAIN,
        "heartbeat": HEARTBEAT_DOMAIN,
        "signaling": SIGNAL_DOMAIN,
        "dht record": DHT_RECORD_DOMAIN,
        "dht key": DHT_KEY_DOMAIN,
    }
)
"""Every domain tag by what it tags. No tag is a prefix of another, so bytes signed
under one domain never verify under another."""


class SigningError(ValueError):
    """A key that cannot make ccnet signatures (not sr25519, or no secret)."""


def sign(keypair: Keypair, message: bytes) -> bytes:
    """*keypair*'s sr25519 signature (64 bytes) of exactly *message*. Raises
    :class:`SigningError` for a key that is not sr25519 or has no private key."""
    if keypair.crypto_type != KeypairType.SR25519:
        raise SigningError("ccnet signatures are sr25519")
    if not keypair.private_key:
        raise SigningError("the key has no secret (a public key only)")
    return bytes(keypair.sign(message))


def verify(public_key: bytes, message: bytes, signature: bytes) -> bool:
    """Whether *signature* (64 bytes) is *public_key*'s (32 bytes) sr25519 signature of
    exactly *message* (no ``<Bytes>`` wrapping). False for malformed keys or signatures,
    never an exception."""
    if (
        not isinstance(signature, bytes | bytearray)
        or not isinstance(public_key, bytes | bytearray)
        or len(signature) != SIGNATURE_SIZE
        or len(public_key) != PUBLIC_KEY_SIZE
    ):
        return False
    try:
        return bool(sr25519.verify(bytes(signature), bytes(message), bytes(public_key)))
    except (ValueError, TypeError):  # the bindings raise on malformed points
        return False
