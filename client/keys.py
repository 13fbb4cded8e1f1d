"""sr25519 keypairs for ccnet accounts: from a mnemonic, a 32-byte seed or a dev URI.

Thin over :class:`substrateinterface.Keypair` (sr25519 only, SS58 prefix
:data:`~ccnet.client.signing.SS58_FORMAT`; addresses: :mod:`ccnet.client.signing`).
Secrets are never logged; :func:`describe` gives the public parts of a key for display.
"""

from __future__ import annotations

import re

from substrateinterface import Keypair, KeypairType

from .exceptions import InvalidKeyError
from .signing import SS58_FORMAT

__all__ = ["Keypair", "Keys", "describe", "is_dev_uri"]

_SEED = re.compile(r"^(0x)?[0-9a-fA-F]{64}$")


def is_dev_uri(value: str) -> bool:
    """Whether *value* is a bare derivation URI such as ``//Alice`` or ``//Bob//stash``
    (derived from the well-known dev phrase); such keys need no keystore."""
    return value.startswith("//")


class Keys:
    """Constructors of sr25519 :class:`Keypair` objects (SS58 prefix 42).

    Raises :class:`InvalidKeyError` (message without the secret) for a malformed input.
    """

    @staticmethod
    def from_uri(uri: str) -> Keypair:
        """A key from a Substrate secret URI: ``//Alice``, ``//Alice//stash``, or
        ``<mnemonic>//hard/soft``."""
        try:
            return Keypair.create_from_uri(
                uri, ss58_format=SS58_FORMAT, crypto_type=KeypairType.SR25519
            )
        except Exception as err:  # the library raises ValueError and others; hide the URI
            raise InvalidKeyError(f"not a valid secret URI ({type(err).__name__})") from None

    @staticmethod
    def from_mnemonic(mnemonic: str) -> Keypair:
        """A key from a BIP39 mnemonic (12 or 24 English words)."""
        try:
            return Keypair.create_from_mnemonic(
                mnemonic.strip(), ss58_format=SS58_FORMAT, crypto_type=KeypairType.SR25519
            )
        except Exception as err:
            raise InvalidKeyError(f"not a valid BIP39 mnemonic ({type(err).__name__})") from None

    @staticmethod
    def from_seed(seed: str | bytes) -> Keypair:
        """A key from a 32-byte mini-secret seed: bytes, or 64 hex digits (``0x`` optional)."""
        if isinstance(seed, bytes):
            if len(seed) != 32:
                raise InvalidKeyError(f"a seed is 32 bytes, got {len(seed)}")
            seed_hex = seed.hex()
        elif _SEED.match(seed.strip()):
            seed_hex = seed.strip().removeprefix("0x")
        else:
            raise InvalidKeyError("a seed is 32 bytes written as 64 hex digits")
        return Keypair.create_from_seed(
            seed_hex, ss58_format=SS58_FORMAT, crypto_type=KeypairType.SR25519
        )

    @staticmethod
    def from_secret(secret: str) -> Keypair:
        """A key from any secret form: a hex seed, else a mnemonic or URI."""
        if _SEED.match(secret.strip()):
            return Keys.from_seed(secret)
        return Keys.from_uri(secret.strip())

    @staticmethod
    def generate(words: int = 12) -> tuple[Keypair, str]:
        """A new random key and its mnemonic (*words* = 12, 15, 18, 21 or 24)."""
        mnemonic = Keypair.generate_mnemonic(words=words)
        return Keys.from_mnemonic(mnemonic), mnemonic


def describe(keypair: Keypair) -> dict[str, str]:
    """The public parts of *keypair*: address, public key (0x hex) and crypto type."""
    return {
        "address": str(keypair.ss58_address),
        "public_key": "0x" + bytes(keypair.public_key).hex(),
        "crypto_type": "sr25519",
    }
