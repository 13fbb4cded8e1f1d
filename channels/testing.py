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

from ccnet.client import CC, Chain, Receipt
from ccnet.client.events import fee_of
from ccnet.client.exceptions import DispatchError

from .channel import Policy, accept_not_worse
from .party import ChannelParty, Guardian
from .state import ChannelParams, SignedState
from .store import PersistStatus, SqliteChannelStore
from .transport import MemoryTransport, StreamTransport, Transport, connect, serve
from .updates import ChannelRecord, ChannelUpdate, UpdateKind

__all__ = [
    "TEST_GENESIS",
    "HeldCosignStore",
    "Ledger",
    "Linked",
    "Member",
    "Members",
    "PartyPair",
    "amount_for",
    "close_pair",
    "eventually",
    "link_over_tcp",
    "link_parties",
    "make_params",
    "paid_until",
]

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


@dataclass
class Linked:
    """Two parties attached to one channel over TCP on 127.0.0.1 (B listens)."""

    a: ChannelParty
    b: ChannelParty
    server: asyncio.Server

    async def close(self) -> None:
        """Detach both parties and stop listening (stores and chain stay open)."""
        await self.a.aclose()
        await self.b.aclose()
        self.server.close()
        await self.server.wait_closed()


async def link_over_tcp(a: ChannelParty, b: ChannelParty, channel_id: bytes) -> Linked:
    """B listens on 127.0.0.1 (a free port), A connects; both attach to *channel_id*."""

    async def on_connect(transport: StreamTransport) -> None:
        await b.attach(channel_id, transport)

    server = await serve(on_connect)
    await a.attach(channel_id, await connect("127.0.0.1", server.sockets[0].getsockname()[1]))
    return Linked(a, b, server)


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

    def state_at(self, channel_id: bytes, version: int) -> SignedState | None:
        return self.inner.state_at(channel_id, version)


@dataclass
class Member:
    """A chain-backed channel party with its key and store, as a test needs them."""

    party: ChannelParty
    keypair: Keypair
    store: SqliteChannelStore
    path: Path
    """The store's file."""
    guardian: Guardian | None = None

    @property
    def address(self) -> str:
        """The account's SS58 address."""
        return str(self.keypair.ss58_address)


class Members:
    """Funded chain-backed parties: ``members(guardian=None)`` funds a fresh account
    through *fund* (``fund(amount) -> Keypair``) and gives it a store in *directory*;
    ``await members.restart(member)`` rebuilds its party from its store."""

    def __init__(self, chain: Chain, fund: Callable[..., Keypair], directory: Path) -> None:
        self.chain = chain
        self.fund = fund
        self.directory = directory
        self.made: list[Member] = []

    def __call__(
        self, guardian: Guardian | None = None, *, amount: int = 1000 * CC, timeout: float = 30.0
    ) -> Member:
        keypair = self.fund(amount)
        path = self.directory / f"party-{len(self.made)}.db"
        store = SqliteChannelStore(path)
        party = ChannelParty(keypair, store, chain=self.chain, guardian=guardian, timeout=timeout)
        self.made.append(Member(party, keypair, store, path, guardian))
        return self.made[-1]

    async def restart(self, member: Member) -> Member:
        """Stop *member*'s party (its transports close, as when its process dies after
        its last commit) and build a new one from its store; the receipts carry over."""
        await member.party.aclose()
        member.store.close()
        member.store = SqliteChannelStore(member.path)
        receipts = member.party.receipts
        member.party = ChannelParty(
            member.keypair, member.store, chain=self.chain, guardian=member.guardian
        )
        member.party.receipts.extend(receipts)
        return member

    async def close(self) -> None:
        """Detach every party and close every store."""
        for member in self.made:
            await member.party.aclose()
            member.store.close()


@dataclass
class Ledger:
    """Balances on the dev chain, exact to the planck."""

    chain: Chain

    def balances(self, address: str) -> tuple[int, int]:
        """(free, held) of *address*, planck (channel deposits and the record deposit
        are holds)."""
        account = self.chain.query("System", "Account", [address])
        assert account is not None
        return int(account["data"]["free"]), int(account["data"]["reserved"])

    @staticmethod
    def fees(receipts: list[Receipt]) -> int:
        """What *receipts* paid in fees, planck (each must have paid one)."""
        assert all(r.fee > 0 for r in receipts)
        return sum(r.fee for r in receipts)

    def failed_fee(self, error: DispatchError) -> int:
        """The fee paid by the extrinsic that failed with *error* (a failed extrinsic
        does nothing, but pays its fee), planck."""
        assert error.block_hash is not None and error.extrinsic_hash is not None
        block = self.chain.rpc("chain_getBlock", [error.block_hash])
        extrinsics = [bytes.fromhex(raw.removeprefix("0x")) for raw in block["block"]["extrinsics"]]
        hashes = ["0x" + hashlib.blake2b(x, digest_size=32).hexdigest() for x in extrinsics]
        index = hashes.index(error.extrinsic_hash)
        events = self.chain.events_at(error.block_hash)
        fee = fee_of(e for e in events if e.extrinsic_index == index)
        assert fee > 0
        return fee
