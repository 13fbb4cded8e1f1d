"""Helpers for tests and benchmarks: channel parameters on a made-up chain, and two
parties linked by an in-memory transport, each with its own SQLite store.

Not used by the protocol itself (like aiortc's ``contrib``).
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from substrateinterface import Keypair

from .channel import Policy, accept_not_worse
from .party import ChannelParty
from .state import ChannelParams
from .store import PersistStatus, SqliteChannelStore
from .transport import MemoryTransport, Transport
from .updates import ChannelRecord, ChannelUpdate, UpdateKind

__all__ = [
    "TEST_GENESIS",
    "HeldCosignStore",
    "PartyPair",
    "amount_for",
    "close_pair",
    "eventually",
    "link_parties",
    "make_params",
    "paid_until",
]

CC = 10**12
TEST_GENESIS = hashlib.sha256(b"ccnet channels test genesis").digest()
"""A made-up genesis hash for channels without a chain."""


async def eventually(predicate: Callable[[], bool], what: str, limit: float = 10.0) -> None:
    """Poll *predicate* on the event loop until it holds; AssertionError naming *what*
    after *limit* seconds (a liveness bound for work on other threads, such as the
    party's store thread, not a timed assertion)."""
    deadline = time.monotonic() + limit
    while not predicate():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        await asyncio.sleep(0.001)


def amount_for(version: int) -> int:
    """What the payer pays for *version* in the kill tests' streams, planck (distinct
    per version, so a state tells which version it is)."""
    return 1_000_000 + 7 * version


def paid_until(version: int) -> int:
    """What the payer paid in total by *version*, planck."""
    return sum(amount_for(v) for v in range(1, version + 1))


def make_params(
    alice: Keypair,
    bob: Keypair,
    *,
    deposit_a: int = 10 * CC,
    deposit_b: int = 0,
    label: str = "channel",
    genesis_hash: bytes = TEST_GENESIS,
) -> ChannelParams:
    """Parameters of a channel from *alice* (A) to *bob* (B); the id hashes *label*."""
    return ChannelParams(
        channel_id=hashlib.sha256(label.encode()).digest(),
        genesis_hash=genesis_hash,
        party_a=bytes(alice.public_key),
        party_b=bytes(bob.public_key),
        deposit_a=deposit_a,
        deposit_b=deposit_b,
    )


@dataclass
class PartyPair:
    """Two parties on one channel, linked by a transport pair."""

    a: ChannelParty
    b: ChannelParty
    store_a: SqliteChannelStore
    store_b: SqliteChannelStore
    params: ChannelParams
    transport_a: Transport
    transport_b: Transport

    @property
    def channel_id(self) -> bytes:
        """The channel's id."""
        return self.params.channel_id


async def link_parties(
    directory: Path,
    alice: Keypair,
    bob: Keypair,
    params: ChannelParams,
    *,
    policy_a: Policy = accept_not_worse,
    policy_b: Policy = accept_not_worse,
    timeout: float = 5.0,
    transports: tuple[Transport, Transport] | None = None,
    store_thread: bool = True,
) -> PartyPair:
    """Build both parties (stores ``alice.db`` and ``bob.db`` in *directory*), add the
    channel and attach them over *transports* (default: a loss-free memory pair).
    *store_thread* as in :class:`~.party.ChannelParty`."""
    store_a = SqliteChannelStore(directory / "alice.db")
    store_b = SqliteChannelStore(directory / "bob.db")
    genesis = params.genesis_hash
    a = ChannelParty(
        alice,
        store_a,
        genesis_hash=genesis,
        policy=policy_a,
        timeout=timeout,
        store_thread=store_thread,
    )
    b = ChannelParty(
        bob,
        store_b,
        genesis_hash=genesis,
        policy=policy_b,
        timeout=timeout,
        store_thread=store_thread,
    )
    a.add_channel(params)
    b.add_channel(params)
    transport_a, transport_b = transports or MemoryTransport.pair()
    await a.attach(params.channel_id, transport_a)
    await b.attach(params.channel_id, transport_b)
    return PartyPair(a, b, store_a, store_b, params, transport_a, transport_b)


async def close_pair(pair: PartyPair) -> None:
    """Detach both parties and close their stores."""
    await pair.a.aclose()
    await pair.b.aclose()
    pair.store_a.close()
    pair.store_b.close()


class HeldCosignStore:
    """A :class:`~.store.ChannelStore` whose co-signed updates stay ``IN_PROGRESS``
    (collected in :attr:`held`) until a test releases them: proves that no
    countersignature leaves before the state is durable."""

    def __init__(self, inner: SqliteChannelStore) -> None:
        self.inner = inner
        self.held: list[ChannelUpdate] = []

    def persist_new_channel(self, record: ChannelRecord) -> PersistStatus:
        return self.inner.persist_new_channel(record)

    def update_persisted_channel(self, update: ChannelUpdate) -> PersistStatus:
        if update.kind is UpdateKind.COSIGNED:
            self.held.append(update)
            return PersistStatus.IN_PROGRESS
        return self.inner.update_persisted_channel(update)

    def load(self, channel_id: bytes) -> ChannelRecord:
        return self.inner.load(channel_id)

    def channels(self) -> list[ChannelRecord]:
        return self.inner.channels()
