"""Capability discovery over a Kademlia DHT (the ``kademlia`` package, UDP).

Kademlia as in Maymounkov and Mazières (IPTPS 2002); the DHT wire format, the values and
the merge rules are ``docs/protocol.md``, section 4. Three layers:

- :class:`RecordStorage`, the storage of every ccnet DHT node: it stores a *list* of
  records per key and **merges** each store into it (kademlia's own storage overwrites
  a key, which would let workers with the same capability evict each other). It keeps
  only records that verify, are fresh and hash to the key they are stored under, one
  per (worker, task type), newest first, within :data:`MAX_VALUE_BYTES` (the value must
  fit one rpcudp datagram: 8 KiB). A value is the JSON of
  :func:`ccnet.client.net.records.encode_records`.
- :class:`DhtNode`: a kademlia ``Server`` on 127.0.0.1 with that storage. ``put``
  stores on the *k* nodes closest to the key; ``get`` asks the same *k* and **unions**
  their lists (kademlia's ``get`` returns one node's value), and re-verifies every
  record, so a lying node can hide records but never inject, alter or revive one. For
  every live record to be found, "closest" is exact XOR order (:class:`_RoutingTable`),
  a joining node refreshes its buckets, and holders hand records to closer nodes they
  meet (:meth:`_Protocol.should_hand_over`); ``benches/bench_dht_churn.py`` measures
  the recall.
- :class:`CapabilityDirectory`: ``announce`` signs a :class:`CapabilityRecord` and
  stores it, then re-signs and re-stores it every 5 minutes; ``find`` looks up the keys
  of a query (see :class:`ccnet.client.net.records.CapabilityKeying`) and returns matching
  fresh records, cheapest first.

Background work runs through :func:`ccnet.client.net.background.create_task_with_logging`;
``close`` cancels it, fails outstanding RPCs and closes the UDP socket.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import math
import random
import socket
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from types import TracebackType
from typing import Any

from kademlia.crawling import NodeSpiderCrawl  # type: ignore[import-untyped]
from kademlia.network import Server  # type: ignore[import-untyped]
from kademlia.node import Node  # type: ignore[import-untyped]
from kademlia.protocol import KademliaProtocol  # type: ignore[import-untyped]
from kademlia.routing import RoutingTable  # type: ignore[import-untyped]
from kademlia.storage import IStorage  # type: ignore[import-untyped]
from substrateinterface import Keypair
from umsgpack import unpackb

from ..clock import now_ms
from .background import cancel_and_wait, create_task_with_logging
from .exceptions import DhtError
from .records import (
    DEFAULT_KEYING,
    REANNOUNCE_INTERVAL_S,
    RECORD_TTL_MS,
    Capability,
    CapabilityKeying,
    CapabilityRecord,
    decode_records,
    encode_records,
    merge_records,
)

__all__ = ["MAX_VALUE_BYTES", "CapabilityDirectory", "DhtNode", "RecordStorage"]

logger = logging.getLogger(__name__)

MAX_VALUE_BYTES = 7680
"""Largest stored value (bytes of JSON): an rpcudp request must stay under 8192 bytes."""
RECEIVE_BUFFER_BYTES = 4 * 1024 * 1024
"""UDP receive buffer a node asks for, bytes (the kernel caps it at net.core.rmem_max).
``CapabilityDirectory.find`` runs up to 16 lookups at once and their replies (values up
to :data:`MAX_VALUE_BYTES`, from k nodes per key) arrive together: Linux's default
buffer (208 KiB) overflowed and dropped them, losing records and waiting for RPC
timeouts (benches/bench_worker_targets.py, 200 nodes)."""

DEAD_PEER_TTL_S = 120.0
"""How long a peer that did not answer an RPC is skipped, s: two liveness rounds, by
which the nodes that hand it out have evicted it too. Short, because one lost answer
(a flooded peer) marks a live peer dead until then; node ids are random per start, so
a restarted peer comes back under a new id anyway."""
LIVENESS_INTERVAL_S = 60.0
"""How often a node pings the contacts it has not heard from for as long, s."""
MAX_DEAD_PEERS = 10_000
"""Most dead peers remembered (the oldest are forgotten first)."""

Clock = Callable[[], int]
"""A clock returning unix milliseconds."""


class RecordStorage(IStorage):
    """Kademlia storage of verified capability records, merged per key (see module doc).

    *clock* gives unix ms (records' age); *ttl_ms* is the staleness limit.
    ``rejected`` counts records refused on store (bad signature, stale, wrong key,
    malformed).
    """

    def __init__(
        self,
        keying: CapabilityKeying = DEFAULT_KEYING,
        *,
        clock: Clock = now_ms,
        ttl_ms: int = RECORD_TTL_MS,
        max_value_bytes: int = MAX_VALUE_BYTES,
    ) -> None:
        self.keying = keying
        self.clock = clock
        self.ttl_ms = ttl_ms
        self.max_value_bytes = max_value_bytes
        self.rejected = 0
        self._data: dict[bytes, tuple[float, list[CapabilityRecord]]] = {}

    def store(self, key: bytes, value: object) -> bool:
        """Merge the valid records of *value* into *key*; whether any was accepted."""
        if not isinstance(key, bytes):
            return False
        now = self.clock()
        records, malformed = decode_records(value)
        accepted = [
            r
            for r in records
            if r.is_valid(now=now, ttl_ms=self.ttl_ms)
            and self.keying.announce_key(r.capability) == key
        ]
        self.rejected += malformed + len(records) - len(accepted)
        if not accepted:
            return False
        merged = merge_records([*self._fresh(key, now), *accepted])
        self._data[key] = (time.monotonic(), self._fit(merged))
        return True

    def records(self, key: bytes) -> list[CapabilityRecord]:
        """The fresh records stored under *key*, newest first."""
        return self._fresh(key, self.clock())

    def _fresh(self, key: bytes, now: int) -> list[CapabilityRecord]:
        entry = self._data.get(key)
        if entry is None:
            return []
        fresh = [r for r in entry[1] if now - r.timestamp_ms <= self.ttl_ms]
        if not fresh:
            del self._data[key]
        elif len(fresh) != len(entry[1]):
            self._data[key] = (entry[0], fresh)
        return fresh

    def _fit(self, records: list[CapabilityRecord]) -> list[CapabilityRecord]:
        kept: list[CapabilityRecord] = []
        for record in records:
            if len(encode_records([*kept, record])) > self.max_value_bytes:
                break
            kept.append(record)
        return kept

    # kademlia's IStorage interface
    def __setitem__(self, key: bytes, value: object) -> None:
        self.store(key, value)

    def __getitem__(self, key: bytes) -> str:
        records = self.records(key)
        if not records:
            raise KeyError(key)
        return encode_records(records)

    def get(self, key: bytes, default: Any = None) -> Any:
        """The value of *key* (JSON text) or *default* when it has no fresh record."""
        try:
            return self[key]
        except KeyError:
            return default

    def iter_older_than(self, seconds_old: float) -> list[tuple[bytes, str]]:
        """(key, value) of the keys last stored more than *seconds_old* seconds ago."""
        limit = time.monotonic() - seconds_old
        return [(k, v) for k, v in self if self._data[k][0] <= limit]

    def __iter__(self) -> Iterator[tuple[bytes, str]]:
        items = []
        for key in list(self._data):
            value = self.get(key)
            if value is not None:
                items.append((key, value))
        return iter(items)


def _peer(node: Any) -> tuple[bytes, str, int]:
    return (bytes(node.id), str(node.ip), int(node.port))


class _RoutingTable(RoutingTable):
    """kademlia's routing table whose :meth:`find_neighbors` returns the *k* contacts
    closest to a node by XOR distance.

    kademlia's version walks the buckets outward from the target's bucket in id order
    and stops at the first *k* contacts it meets: a bucket adjacent in id order need
    not be close in XOR distance, so ``find_node`` answers (and the republishing of
    ``welcome_if_new``) missed the closest contacts a node knew, and lookups from
    different nodes converged on different "closest" sets (records stored on one set
    were looked up on another). A full sort is cheap: a table holds a few hundred
    contacts.
    """

    def find_neighbors(self, node: Any, k: int | None = None, exclude: Any = None) -> list[Any]:
        self.buckets[self.get_bucket_for(node)].touch_last_updated()
        candidates = (
            contact
            for bucket in self.buckets
            for contact in bucket.nodes.values()
            if contact.id != node.id and (exclude is None or not contact.same_home_as(exclude))
        )
        return heapq.nsmallest(k or self.ksize, candidates, key=node.distance_to)


class _Protocol(KademliaProtocol):
    """kademlia's protocol with tracked tasks, inline request handling, a store RPC that
    answers whether anything was stored, eviction of peers that stopped answering, and a
    clean :meth:`shutdown`.

    A peer whose RPC times out is removed from the routing table (as kademlia does) and
    its (id, address) remembered as dead for :data:`DEAD_PEER_TTL_S`: other peers keep
    listing it in their replies until they contact it themselves, and without that
    memory every lookup would contact it again and wait a whole timeout. RPCs to a dead
    peer fail at once without a datagram; a request or answer *from* it clears the mark.
    Evictions are logged once per peer at DEBUG (kademlia and rpcudp log every timeout
    at WARNING and ERROR).
    """

    def __init__(self, source_node: Any, storage: RecordStorage, ksize: int, wait_timeout: float):
        super().__init__(source_node, storage, ksize)
        self.router = _RoutingTable(self, ksize, source_node)
        self._wait_timeout = wait_timeout
        self.tasks: set[asyncio.Task[Any]] = set()
        self.dead: dict[tuple[bytes, str, int], float] = {}
        """(node id, ip, port) -> monotonic time (s) it was found dead, oldest first."""
        self._dead_at: dict[tuple[str, int], set[tuple[bytes, str, int]]] = {}
        """(ip, port) -> its entries in :attr:`dead` (a late answer clears them in O(1))."""
        self.last_seen: dict[tuple[bytes, str, int], float] = {}
        """(node id, ip, port) -> monotonic time (s) of its last request or answer: by
        address too, so a sender claiming another node's id does not keep that contact
        from being checked."""

    def contacts(self) -> list[Any]:
        """Every node of the routing table (replacement lists excluded)."""
        return [node for bucket in self.router.buckets for node in bucket.get_nodes()]

    async def check_contacts(self, quiet_for: float) -> int:
        """Ping the contacts not heard from for *quiet_for* s, all at once; those that
        do not answer are evicted. Returns how many were evicted."""
        contacts = self.contacts()
        known = {_peer(node) for node in contacts}
        self.last_seen = {p: t for p, t in self.last_seen.items() if p in known}
        now = time.monotonic()
        for peer in [p for p, since in self.dead.items() if now - since >= DEAD_PEER_TTL_S]:
            self._forget_dead(peer)
        limit = now - quiet_for
        quiet = [n for n in contacts if self.last_seen.get(_peer(n), -math.inf) <= limit]
        answers = await asyncio.gather(*(self.call_ping(node) for node in quiet))
        return sum(1 for ok, _ in answers if not ok)

    def is_dead(self, node: Any) -> bool:
        """Whether *node* failed an RPC less than :data:`DEAD_PEER_TTL_S` ago."""
        peer = _peer(node)
        since = self.dead.get(peer)
        if since is None:
            return False
        if time.monotonic() - since < DEAD_PEER_TTL_S:
            return True
        self._forget_dead(peer)
        return False

    def _mark_dead(self, peer: tuple[bytes, str, int]) -> None:
        self.dead[peer] = time.monotonic()
        self._dead_at.setdefault(peer[1:], set()).add(peer)
        while len(self.dead) > MAX_DEAD_PEERS:  # bounded against floods of made-up contacts
            self._forget_dead(next(iter(self.dead)))

    def _forget_dead(self, peer: tuple[bytes, str, int]) -> None:
        if self.dead.pop(peer, None) is None:
            return
        same_address = self._dead_at.get(peer[1:])
        if same_address is not None:
            same_address.discard(peer)
            if not same_address:
                del self._dead_at[peer[1:]]

    def _evict(self, node: Any) -> None:
        # only the contact at that address: a reply may list a known id at a made-up one
        bucket = self.router.buckets[self.router.get_bucket_for(node)]
        known = bucket.nodes.get(node.id) or bucket.replacement_nodes.get(node.id)
        if known is None or _peer(known) == _peer(node):
            self.router.remove_contact(node)
        peer = _peer(node)
        self.last_seen.pop(peer, None)
        if peer in self.dead:
            return
        logger.debug("DHT peer %s:%s did not answer; evicted", node.ip, node.port)
        self._mark_dead(peer)

    def handle_call_response(self, result: Any, node: Any) -> Any:
        # kademlia's version, with the eviction remembered and logged once
        if not result[0]:
            self._evict(node)
            return result
        self.welcome_if_new(node)
        return result

    async def _call(self, rpc: str, node: Any, *args: Any) -> Any:
        if self.is_dead(node):
            return (False, None)
        result = await getattr(self, rpc)((node.ip, node.port), self.source_node.id, *args)
        return self.handle_call_response(result, node)

    async def call_find_node(self, node_to_ask: Any, node_to_find: Any) -> Any:
        return await self._call("find_node", node_to_ask, node_to_find.id)

    async def call_find_value(self, node_to_ask: Any, node_to_find: Any) -> Any:
        return await self._call("find_value", node_to_ask, node_to_find.id)

    async def call_ping(self, node_to_ask: Any) -> Any:
        if self.is_dead(node_to_ask):
            return (False, None)
        result = await self.ping((node_to_ask.ip, node_to_ask.port), self.source_node.id)
        if result[0] and result[1] != node_to_ask.id:
            result = (False, None)  # another node lives at that address now: this one left
        return self.handle_call_response(result, node_to_ask)

    async def call_store(self, node_to_ask: Any, key: bytes, value: object) -> Any:
        return await self._call("store", node_to_ask, key, value)

    def _accept_response(self, msg_id: bytes, data: Any, address: tuple[str, int]) -> None:
        # rpcudp's version; a late answer (after its timeout) shows the peer is up after
        # all (only slow), so its dead mark goes, and it is no WARNING
        if msg_id in self._outstanding:
            super()._accept_response(msg_id, data, address)
            return
        logger.debug("late or unknown DHT answer from %s", address)
        for peer in list(self._dead_at.get((address[0], address[1]), ())):
            self._forget_dead(peer)

    def _timeout(self, msg_id: bytes) -> None:
        # rpcudp's version without its ERROR line per timeout (the eviction is logged)
        entry = self._outstanding.pop(msg_id, None)
        if entry is not None and not entry[0].done():
            entry[0].set_result((False, None))

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        create_task_with_logging(self._handle_datagram(data, addr), tasks=self.tasks)

    async def _handle_datagram(self, datagram: bytes, address: tuple[str, int]) -> None:
        try:
            await self._solve_datagram(datagram, address)
        except Exception as err:  # a malformed datagram from anyone on the network
            logger.debug("ignoring a bad datagram from %s: %s", address, err)

    def _spawn(self, coro: Any) -> None:
        create_task_with_logging(coro, tasks=self.tasks)

    async def _solve_datagram(self, datagram: bytes, address: tuple[str, int]) -> None:
        # rpcudp's version, with the request handled in this (tracked) task
        if len(datagram) < 22:
            return
        msg_id, data = datagram[1:21], unpackb(datagram[21:])
        if datagram[:1] == b"\x00":
            await self._accept_request(msg_id, data, address)
        elif datagram[:1] == b"\x01":
            self._accept_response(msg_id, data, address)

    def rpc_store(self, sender: tuple[str, int], nodeid: bytes, key: bytes, value: object) -> bool:
        self.welcome_if_new(Node(nodeid, sender[0], sender[1]))
        return bool(self.storage.store(key, value))

    def welcome_if_new(self, node: Any) -> None:
        # Kademlia paper, section 2.5: a node that learns of a new node hands it the keys
        # it should store. Called on a request from *node* or its answer: it is alive.
        self._forget_dead(_peer(node))
        self.last_seen[_peer(node)] = time.monotonic()
        if not self.router.is_new_node(node):
            return
        for key, value in self.storage:
            if self.should_hand_over(key, node):
                self._spawn(self.call_store(node, key, value))
        self.router.add_contact(node)

    def should_hand_over(self, key: bytes, node: Any) -> bool:
        """Whether this node, holding *key*, stores it on the newly met *node*: when the
        new node is closer to the key than the k-th closest contact known here, and this
        node is itself among the k closest it knows of (a holder, not a stale copy).

        kademlia's version (and the paper's optimisation) hands a key over only from the
        single closest holder; when that one stopped, nobody did, and nodes that joined
        later stayed without the records they are now among the closest to. Stores merge
        (:class:`RecordStorage`), so the up to k copies of one hand-over cost datagrams,
        not correctness.
        """
        target = Node(key)
        neighbors = self.router.find_neighbors(target)
        if len(neighbors) < self.router.ksize:
            return True
        kth = neighbors[-1].distance_to(target)
        return bool(node.distance_to(target) < kth and self.source_node.distance_to(target) < kth)

    async def shutdown(self) -> None:
        """Fail every outstanding RPC (as a timeout would) and stop tracked tasks."""
        for future, timeout in list(self._outstanding.values()):
            timeout.cancel()
            if not future.done():
                future.set_result((False, None))
        self._outstanding.clear()
        await asyncio.sleep(0)
        await cancel_and_wait(list(self.tasks))


class _Server(Server):
    def __init__(self, storage: RecordStorage, ksize: int, alpha: int, rpc_timeout: float):
        super().__init__(ksize=ksize, alpha=alpha, storage=storage)
        self.rpc_timeout = rpc_timeout
        self.tasks: set[asyncio.Task[Any]] = set()

    def _create_protocol(self) -> _Protocol:
        return _Protocol(self.node, self.storage, self.ksize, self.rpc_timeout)

    def refresh_table(self, interval: float = 3600) -> None:
        create_task_with_logging(self._refresh_table(), name="dht-refresh", tasks=self.tasks)
        loop = asyncio.get_running_loop()
        self.refresh_loop = loop.call_later(interval, self.refresh_table, interval)

    async def check_contacts_every(self, interval: float) -> None:
        """Every *interval* s, ping the contacts silent for that long (evicting the dead)."""
        while True:
            await asyncio.sleep(interval)
            if self.protocol is not None:
                await self.protocol.check_contacts(interval)


class DhtNode:
    """One DHT node: kademlia over UDP with a :class:`RecordStorage`.

    Use ``async with DhtNode() as node: await node.start(...)`` or call :meth:`close`.
    *ksize* and *alpha* are Kademlia's k and alpha; *rpc_timeout* (s) bounds each UDP
    RPC; *clock* gives unix ms for record ages. Every *liveness_interval* s (None:
    never) the node pings the routing-table contacts it has not heard from for that
    long and evicts those that do not answer, so it stops handing stopped peers to
    others' lookups (Kademlia itself only pings a contact when its bucket is full).
    """

    def __init__(
        self,
        *,
        keying: CapabilityKeying = DEFAULT_KEYING,
        ksize: int = 20,
        alpha: int = 3,
        rpc_timeout: float = 5.0,
        liveness_interval: float | None = LIVENESS_INTERVAL_S,
        clock: Clock = now_ms,
    ) -> None:
        self.keying = keying
        self.clock = clock
        self.liveness_interval = liveness_interval
        self.storage = RecordStorage(keying, clock=clock)
        self._server = _Server(self.storage, ksize, alpha, rpc_timeout)
        self._address: tuple[str, int] | None = None

    @property
    def address(self) -> tuple[str, int]:
        """(host, UDP port) this node listens on. Raises DhtError before :meth:`start`."""
        if self._address is None:
            raise DhtError("the DHT node is not started")
        return self._address

    @property
    def node_id(self) -> bytes:
        """This node's 160-bit Kademlia id."""
        return bytes(self._server.node.id)

    @property
    def known_peers(self) -> int:
        """Number of nodes in the routing table."""
        if self._server.protocol is None:
            return 0
        return len(self._server.protocol.router.find_neighbors(self._server.node, k=10**6))

    async def start(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        bootstrap: Sequence[tuple[str, int]] = (),
    ) -> None:
        """Listen on UDP *host*:*port* (0: any free port), then join via *bootstrap*.

        Raises :class:`DhtError` when the socket cannot be bound, or bootstrap nodes were
        given and none answered.
        """
        try:
            await self._server.listen(port, interface=host)
        except OSError as err:
            raise DhtError(f"cannot listen on udp {host}:{port}: {err}") from err
        if self.liveness_interval is not None:
            create_task_with_logging(
                self._server.check_contacts_every(self.liveness_interval),
                name="dht-liveness",
                tasks=self._server.tasks,
            )
        sockname = self._server.transport.get_extra_info("sockname")
        self._address = (str(sockname[0]), int(sockname[1]))
        sock = self._server.transport.get_extra_info("socket")
        if sock is not None:
            try:  # best effort: a smaller buffer only risks drops under bursts
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER_BYTES)
            except OSError as err:
                logger.debug("cannot widen the DHT receive buffer: %s", err)
        if bootstrap:
            await self.bootstrap(bootstrap)

    async def bootstrap(self, addresses: Sequence[tuple[str, int]]) -> int:
        """Contact *addresses* (IP, port) and fill the routing table; returns the number
        of nodes known. Raises :class:`DhtError` if none of them answered."""
        found = await self._server.bootstrap([tuple(a) for a in addresses])
        if not found and not self.known_peers:
            raise DhtError(f"no DHT bootstrap node answered: {list(addresses)}")
        await self.refresh_buckets()
        return self.known_peers

    async def refresh_buckets(self) -> None:
        """Look up a random id in every k-bucket but this node's own, all at once.

        What a joining node does after looking itself up (Kademlia paper, section 2.3):
        the lookups fill its table beyond the neighbourhood of the one node it joined
        through, and introduce it to nodes across the network, which hand it the records
        it is now among the k closest to (:meth:`_Protocol.should_hand_over`).
        """
        protocol = self._protocol()
        own = protocol.router.get_bucket_for(self._server.node)
        targets = [
            Node(min(random.randint(*bucket.range), 2**160 - 1).to_bytes(20, "big"))
            for index, bucket in enumerate(protocol.router.buckets)
            if index != own
        ]
        await asyncio.gather(*(self._crawl(target) for target in targets))

    async def ping(self, address: tuple[str, int], *, timeout: float | None = None) -> bool:
        """Whether a DHT node answers a ``ping`` at *address* (IP, UDP port) within
        *timeout* s (None: the RPC timeout)."""
        protocol = self._protocol()
        try:
            async with asyncio.timeout(timeout):
                answered, _ = await protocol.ping(tuple(address), self.node_id)
        except TimeoutError:
            return False
        return bool(answered)

    def _protocol(self) -> _Protocol:
        if self._server.protocol is None:
            raise DhtError("the DHT node is not started")
        return self._server.protocol  # type: ignore[no-any-return]

    async def _closest(self, key: bytes) -> list[Any]:
        return await self._crawl(Node(key))

    async def _crawl(self, target: Any) -> list[Any]:
        # a node lookup (paper, section 2.3) from the k closest contacts known here (not
        # alpha of them: a dead or lagging first contact then costs no round)
        protocol = self._protocol()
        nearest = protocol.router.find_neighbors(target)
        if not nearest:
            return []
        crawl = NodeSpiderCrawl(protocol, target, nearest, self._server.ksize, self._server.alpha)
        return list(await crawl.find())

    async def put(self, key: bytes, records: Sequence[CapabilityRecord]) -> int:
        """Store *records* under the 20-byte *key* on the k closest nodes (and here, when
        this node is one of them or knows no other). Returns how many nodes accepted."""
        protocol = self._protocol()
        value = encode_records(records)
        nodes = await self._closest(key)
        target = Node(key)
        accepted = 0
        if not nodes or self._server.node.distance_to(target) < max(
            n.distance_to(target) for n in nodes
        ):
            accepted += self.storage.store(key, value)
        results = await asyncio.gather(*(protocol.call_store(n, key, value) for n in nodes))
        accepted += sum(1 for ok, stored in results if ok and stored is True)
        return accepted

    async def get(self, key: bytes) -> list[CapabilityRecord]:
        """The valid, fresh records under *key* held here and by the k closest nodes,
        merged (one per worker and task type), newest first. Records that do not verify,
        are stale or belong to another key are dropped."""
        protocol = self._protocol()
        target = Node(key)
        values: list[object] = [self.storage.get(key)]
        nodes = await self._closest(key)
        responses = await asyncio.gather(*(protocol.call_find_value(n, target) for n in nodes))
        for ok, response in responses:
            if ok and isinstance(response, dict) and "value" in response:
                values.append(response["value"])
        now = self.clock()
        found = []
        for value in values:
            records, _ = decode_records(value)
            found += [
                r
                for r in records
                if self.keying.announce_key(r.capability) == key and r.is_valid(now=now)
            ]
        return merge_records(found)

    async def close(self) -> None:
        """Stop background work, fail outstanding RPCs and close the UDP socket."""
        server = self._server
        if server.refresh_loop is not None:
            server.refresh_loop.cancel()
        await cancel_and_wait(list(server.tasks))
        if server.protocol is not None:
            await server.protocol.shutdown()
        server.stop()
        self._address = None

    async def __aenter__(self) -> DhtNode:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


def _price_order(record: CapabilityRecord) -> tuple[int, int, int, str]:
    return (
        record.max_price_planck_per_fuel,
        -record.min_speed,
        -record.timestamp_ms,
        record.worker,
    )


class CapabilityDirectory:
    """Announce this worker's capabilities and find other workers' (see module doc).

    *keypair* (the worker's on-chain sr25519 key) is needed only to announce.
    *reannounce_interval* is in seconds (default 300). *rejoin*, when given, is awaited
    before an announcement while the node knows no peer (it started alone, or every
    peer left): e.g. :func:`ccnet.client.net.bootstrap.join` through the workers
    registered since.
    """

    def __init__(
        self,
        node: DhtNode,
        keypair: Keypair | None = None,
        *,
        reannounce_interval: float = REANNOUNCE_INTERVAL_S,
        rejoin: Callable[[], Awaitable[object]] | None = None,
    ) -> None:
        self.node = node
        self.keypair = keypair
        self.reannounce_interval = reannounce_interval
        self.rejoin = rejoin
        self._loops: dict[str, asyncio.Task[None]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()

    @property
    def announced(self) -> list[str]:
        """Task types being re-announced."""
        return sorted(self._loops)

    async def publish(self, record: CapabilityRecord) -> int:
        """Store an already signed *record* under its key once; returns how many nodes
        accepted it (0: none did, e.g. it is invalid)."""
        return await self.node.put(self.node.keying.announce_key(record.capability), [record])

    async def _announce_once(self, capability: Capability, endpoint: str) -> CapabilityRecord:
        if self.keypair is None:
            raise DhtError("announcing needs the worker's keypair")
        if self.rejoin is not None and self.node.known_peers == 0:
            await self.rejoin()
        record = CapabilityRecord.create(
            self.keypair, capability, endpoint, timestamp_ms=self.node.clock()
        )
        if not await self.publish(record):
            raise DhtError(f"no DHT node accepted the record for {capability.task_type}")
        return record

    async def announce(self, capability: Capability, endpoint: str) -> CapabilityRecord:
        """Sign and store a record of *capability* at signaling *endpoint* now, then
        every ``reannounce_interval`` seconds with a fresh timestamp (replacing an
        earlier announcement of the same task type). Returns the first record.

        Raises :class:`DhtError` without a keypair or when no node accepted the record;
        later re-announcement failures are logged and retried at the next interval.
        """
        record = await self._announce_once(capability, endpoint)
        await self.withdraw(capability.task_type)
        self._loops[capability.task_type] = create_task_with_logging(
            self._reannounce(capability, endpoint),
            name=f"dht-announce-{capability.task_type}",
            tasks=self._tasks,
        )
        return record

    async def _reannounce(self, capability: Capability, endpoint: str) -> None:
        while True:
            await asyncio.sleep(self.reannounce_interval)
            try:
                await self._announce_once(capability, endpoint)
            except Exception as err:  # keep announcing through a DHT hiccup
                logger.warning("re-announcing %s failed: %s", capability.task_type, err)

    async def withdraw(self, task_type: str) -> None:
        """Stop re-announcing *task_type* (stored records lapse within 10 minutes)."""
        loop = self._loops.pop(task_type, None)
        if loop is not None:
            await cancel_and_wait([loop])

    async def find(
        self, task_type: str, *, min_speed: int = 0, max_price: int | None = None
    ) -> list[CapabilityRecord]:
        """Workers announcing *task_type* at >= *min_speed* fuel/s and <= *max_price*
        planck/fuel (None: any), from verified records at most 10 minutes old; one per
        worker, cheapest first, then fastest."""
        keys = self.node.keying.lookup_keys(task_type, min_speed=min_speed, max_price=max_price)
        found = await asyncio.gather(*(self.node.get(key) for key in keys))
        matching = [
            r
            for r in merge_records(r for records in found for r in records)
            if r.capability.satisfies(min_speed=min_speed, max_price=max_price)
        ]
        return sorted(matching, key=_price_order)

    async def close(self) -> None:
        """Stop every re-announcement (the node stays open: close it separately)."""
        self._loops.clear()
        await cancel_and_wait(list(self._tasks))

    async def __aenter__(self) -> CapabilityDirectory:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
