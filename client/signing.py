"""Raw sr25519 signatures, and every signing domain of ccnet in one table.

Every signature ccnet makes or checks is sr25519 (schnorrkel, the ``substrate`` signing
context) by an account key over *exact* bytes: a domain tag from :data:`DOMAINS`
followed by the message, SCALE (channel states, job results, heartbeats) or canonical
JSON (:func:`signed_bytes`: signaling offers and answers, DHT records). The account
key's SS58 address (prefix :data:`SS58_FORMAT`; :func:`public_key_of`,
:func:`address_of`) is the signer's identity.

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

import json
import re
from collections.abc import Mapping
from types import MappingProxyType

import sr25519
from scalecodec.utils.ss58 import ss58_decode, ss58_encode
from substrateinterface import Keypair, KeypairType

from .exceptions import MalformedMessageError, SigningError

__all__ = [
    "CHANNEL_CLOSE_DOMAIN",
    "CHANNEL_ID_DOMAIN",
    "CHANNEL_UPDATE_DOMAIN",
    "DOMAINS",
    "DHT_KEY_DOMAIN",
    "DHT_RECORD_DOMAIN",
    "HEARTBEAT_DOMAIN",
    "PUBLIC_KEY_SIZE",
    "RANDOM_DOMAIN",
    "RESULT_DOMAIN",
    "SIGNAL_DOMAIN",
    "SIGNATURE_SIZE",
    "SS58_FORMAT",
    "SigningError",
    "address_of",
    "canonical_json",
    "is_address",
    "public_key_of",
    "sign",
    "sign_fields",
    "signed_bytes",
    "verify",
    "verify_fields",
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
CHANNEL_ID_DOMAIN = b"ccnet:chan-id:v2"
"""Channel id derivation (hashed, not signed; v2 hashes the parent block too, see
:func:`ccnet.client.pallets.channels.channel_id_of`); pallet-channels ``CHANNEL_ID_DOMAIN``."""
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
RANDOM_DOMAIN = b"ccnet:random:v1\0"
"""The ``random_get`` stream of a job run (hashed with the seed, not signed)."""

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
        "random": RANDOM_DOMAIN,
    }
)
"""Every domain tag by what it tags. No tag is a prefix of another, so bytes signed
under one domain never verify under another."""


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


# -- addresses ---------------------------------------------------------------------------


def public_key_of(address: str) -> bytes:
    """The 32-byte public key of SS58 *address* (prefix :data:`SS58_FORMAT`, written
    exactly as :func:`address_of` writes it); :class:`MalformedMessageError` for anything
    else (it is a peer's field)."""
    try:
        key = bytes.fromhex(ss58_decode(address, valid_ss58_format=SS58_FORMAT))
    except (ValueError, TypeError, IndexError):  # IndexError: " ", "\n" (nothing after strip)
        raise MalformedMessageError(
            f"not an SS58 (prefix {SS58_FORMAT}) address: {address!r}"
        ) from None
    if len(key) != PUBLIC_KEY_SIZE:
        raise MalformedMessageError(f"not a {PUBLIC_KEY_SIZE}-byte account: {address!r}")
    # base58 decoding skips trailing whitespace: "5F...\n" names the same key. Only the
    # canonical spelling is an identity, or one worker would have many (a heartbeat
    # replayed under "5F...\n" would pass the receiver's replay and rate checks).
    if address_of(key) != address:
        raise MalformedMessageError(f"not the canonical SS58 form of its key: {address!r}")
    return key


def address_of(public_key: bytes) -> str:
    """The SS58 address (prefix :data:`SS58_FORMAT`) of a 32-byte public key."""
    return str(ss58_encode(public_key, ss58_format=SS58_FORMAT))


def is_address(address: object) -> bool:
    """Whether *address* is a well-formed SS58 address with prefix :data:`SS58_FORMAT`."""
    if not isinstance(address, str):
        return False
    try:
        public_key_of(address)
    except MalformedMessageError:
        return False
    return True


# -- domain-tagged canonical JSON (signaling offers and answers, DHT records) -------------


_SIGNATURE_HEX = re.compile(r"0x[0-9a-f]{128}")
"""A signature in signed JSON: ``0x`` and 128 lowercase hex digits (64 bytes)."""


def canonical_json(fields: Mapping[str, object]) -> bytes:
    """*fields* as canonical JSON bytes: keys sorted, separators ``,`` and ``:`` without
    spaces, every non-ASCII character escaped as ``\\uXXXX`` (Python's ``json.dumps`` with
    ``sort_keys=True, separators=(",", ":"), ensure_ascii=True``); NaN and infinities are
    refused. See ``docs/protocol.md`` for the exact rules."""
    return json.dumps(
        fields, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False
    ).encode("ascii")


def signed_bytes(domain: bytes, fields: Mapping[str, object]) -> bytes:
    """The exact bytes signed for *fields* under *domain*: ``domain || canonical_json``."""
    return domain + canonical_json(fields)


def sign_fields(keypair: Keypair, domain: bytes, fields: Mapping[str, object]) -> str:
    """*keypair*'s signature of *fields* under *domain* (:func:`signed_bytes`), as ``0x`` +
    128 hex digits. Raises :class:`SigningError` for a key that cannot sign."""
    return "0x" + sign(keypair, signed_bytes(domain, fields)).hex()


def verify_fields(
    address: str, domain: bytes, fields: Mapping[str, object], signature: str
) -> bool:
    """Whether *signature* (``0x`` + 128 lowercase hex digits) is *address*'s signature
    of *fields* under *domain*. False for a malformed address or signature, never an
    exception."""
    try:
        public_key = public_key_of(address)
    except MalformedMessageError:
        return False
    # Lowercase only (docs/protocol.md): "0xAB.." would be a second spelling of the same
    # signature, so one signed record or offer would have two wire forms.
    if not isinstance(signature, str) or not _SIGNATURE_HEX.fullmatch(signature):
        return False
    try:
        return verify(public_key, signed_bytes(domain, fields), bytes.fromhex(signature[2:]))
    except (ValueError, TypeError):  # fields that are not JSON
        return False
