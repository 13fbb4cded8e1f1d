"""The fuzz targets' fixed identities and clock: real sr25519 keys from fixed seeds, so
the valid messages carry real signatures and every run starts from the same ones."""

from __future__ import annotations

import hashlib

from substrateinterface import Keypair, KeypairType

__all__ = ["ALICE", "BOB", "EVE", "NOW_MS"]


def _keypair(name: str) -> Keypair:
    seed = hashlib.sha256(f"ccnet fuzz {name}".encode()).hexdigest()
    return Keypair.create_from_seed(seed, ss58_format=42, crypto_type=KeypairType.SR25519)


ALICE = _keypair("alice")
"""Party A of the channels, the requester of jobs, the signaling offerer."""
BOB = _keypair("bob")
"""Party B of the channels, the worker: results, heartbeats, DHT records, answers."""
EVE = _keypair("eve")
"""A third key: a valid signature by the wrong party."""
NOW_MS = 1_780_000_000_000
"""The receivers' clock, Unix ms (the signed timestamps sit a little before it)."""
