"""The state hash: blake2b-256 of the checkpoint bytes, as the Checkpoints pallet stores it.

``blake2b-256`` is the hash the Checkpoints pallet stores as ``state_hash`` (H256):
Substrate's ``blake2_256``, unkeyed BLAKE2b (RFC 7693) with a 32-byte digest.
"""

from __future__ import annotations

import hashlib

__all__ = ["hash_hex", "state_hash"]


def state_hash(data: bytes) -> bytes:
    """The 32-byte blake2b-256 digest of *data*."""
    return hashlib.blake2b(data, digest_size=32).digest()


def hash_hex(digest: bytes) -> str:
    """*digest* as ``0x``-prefixed lowercase hex (how the chain shows an H256)."""
    return "0x" + digest.hex()
