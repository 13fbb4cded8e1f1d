"""Sealing VM checkpoint images for public storage: AES-256-GCM (NIST SP 800-38D, through
the ``cryptography`` library) under a key the requester gives the worker over the job's
session.

A sealed checkpoint is ``SEAL_MAGIC || nonce (12 bytes) || ciphertext || tag (16)``; the
magic and nonce are the associated data, so none of it can be changed unnoticed. What is
public is its length (about the image's) and the hash of the whole (recorded on chain);
memory, output and input position are not. Format: ``docs/vm-checkpoints.md``.
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ..exceptions import CheckpointFormatError, CheckpointKeyError

__all__ = ["KEY_BYTES", "SEAL_MAGIC", "new_key", "seal", "unseal"]

SEAL_MAGIC = b"CCVMSEAL1\x00"
KEY_BYTES = 32
_NONCE = 12
_TAG = 16


def new_key() -> bytes:
    """A fresh random AES-256 key, 32 bytes (one per job)."""
    return AESGCM.generate_key(bit_length=256)


def seal(image: bytes, key: bytes) -> bytes:
    """*image* (bytes of :func:`~.image.encode`) encrypted and authenticated under
    *key* (32 bytes) with a random nonce."""
    aead = _aead(key)
    nonce = os.urandom(_NONCE)
    return SEAL_MAGIC + nonce + aead.encrypt(nonce, image, SEAL_MAGIC + nonce)


def unseal(sealed: bytes, key: bytes) -> bytes:
    """The image bytes inside *sealed*. :class:`CheckpointFormatError` if it is not a
    sealed checkpoint (or is truncated), :class:`CheckpointKeyError` if it does not
    open under *key* (wrong key or tampered)."""
    aead = _aead(key)
    if not sealed.startswith(SEAL_MAGIC):
        raise CheckpointFormatError("not a sealed VM checkpoint (bad magic)")
    header = len(SEAL_MAGIC) + _NONCE
    if len(sealed) < header + _TAG:
        raise CheckpointFormatError(f"truncated sealed VM checkpoint ({len(sealed)} bytes)")
    nonce = sealed[len(SEAL_MAGIC) : header]
    try:
        # a view, not a slice: no copy of the whole ciphertext before it is opened
        return aead.decrypt(nonce, memoryview(sealed)[header:], sealed[:header])
    except InvalidTag:
        raise CheckpointKeyError(
            "the sealed VM checkpoint does not open under this key "
            "(wrong key, or the ciphertext was changed)"
        ) from None


def _aead(key: bytes) -> AESGCM:
    if len(key) != KEY_BYTES:
        raise CheckpointKeyError(f"a checkpoint key is {KEY_BYTES} bytes, not {len(key)}")
    return AESGCM(key)
