"""Capability discovery on a real Kademlia DHT: several nodes on 127.0.0.1 UDP."""

from __future__ import annotations

import asyncio
import logging
import random
import socket
from dataclasses import replace
from typing import TYPE_CHECKING, Any, cast

import pytest

from ccnet.client import Keypair, Keys
from ccnet.client.clock import now_ms
from ccnet.client.net.bootstrap import dht_address_of, join, with_dht_port
from ccnet.client.net.dht import CapabilityDirectory, DhtNode, RecordStorage
from ccnet.client.net.exceptions import DhtError
from ccnet.client.net.records import (
    DEFAULT_KEYING,
    RECORD_TTL_MS,
    Capability,
    CapabilityRecord,
    encode_records,
)
from ccnet.client.pallets.tasks import Reputation, WorkerInfo

if TYPE_CHECKING:
    from tests.fixtures.net import DhtNetwork

TASK = "sha256sum"
ENDPOINT = "http://127.0.0.1:{}/offer"


def worker_keys(*names: str) -> list[Keypair]:
    return [Keys.from_uri(f"//{name}") for name in names]


async def test_every_worker_with_a_capability_is_found(dht_network: DhtNetwork) -> None:
    nodes = await dht_network(5)
    assert all(node.known_peers == 4 for node in nodes)
    bob, charlie, dave = worker_keys("Bob", "Charlie", "Dave")
    offers = [
        (bob, Capability(TASK, 5 * 10**8, 40)),
        (charlie, Capability(TASK, 2 * 10**8, 20)),  # same key tier as bob
        (dave, Capability(TASK, 3 * 10**9, 900)),
    ]
    directories = [CapabilityDirectory(nodes[i], key) for i, (key, _) in enumerate(offers)]
    for i, (directory, (_, cap)) in enumerate(zip(directories, offers, strict=True)):
        await directory.announce(cap, ENDPOINT.format(9000 + i))
    requester = CapabilityDirectory(nodes[4])

    found = await requester.find(TASK)
    assert [r.worker for r in found] == [k.ss58_address for k in (charlie, bob, dave)]
    assert found[0].endpoint == ENDPOINT.format(9001)
    fast = await requester.find(TASK, min_speed=4 * 10**8)
    assert [r.worker for r in fast] == [bob.ss58_address, dave.ss58_address]
    cheap_fast = await requester.find(TASK, min_speed=4 * 10**8, max_price=100)
    assert [r.worker for r in cheap_fast] == [bob.ss58_address]
    assert await requester.find(TASK, min_speed=10**10) == []
    assert await requester.find("resize") == []
    for directory in directories:
        await directory.close()


async def test_a_new_announcement_replaces_the_old_one(dht_network: DhtNetwork) -> None:
    nodes = await dht_network(3)
    (bob,) = worker_keys("Bob")
    directory = CapabilityDirectory(nodes[1], bob)
    await directory.announce(Capability(TASK, 5 * 10**8, 40), ENDPOINT.format(1))
    await directory.announce(Capability(TASK, 5 * 10**8, 30), ENDPOINT.format(2))
    assert directory.announced == [TASK]
    found = await CapabilityDirectory(nodes[2]).find(TASK)
    assert [(r.max_price_planck_per_fuel, r.endpoint) for r in found] == [(30, ENDPOINT.format(2))]
    await directory.close()
    assert directory.announced == []


async def test_records_are_reannounced_with_fresh_timestamps(dht_network: DhtNetwork) -> None:
    nodes = await dht_network(3)
    (bob,) = worker_keys("Bob")
    directory = CapabilityDirectory(nodes[0], bob, reannounce_interval=0.1)
    first = await directory.announce(Capability(TASK, 10**8, 5), ENDPOINT.format(1))
    requester = CapabilityDirectory(nodes[2])
    for _ in range(100):
        await asyncio.sleep(0.05)
        (latest,) = await requester.find(TASK)
        if latest.timestamp_ms > first.timestamp_ms:
            break
    assert latest.timestamp_ms > first.timestamp_ms
    latest.verify()
    await directory.withdraw(TASK)
    assert directory.announced == []


def signed(key: Keypair, **change: Any) -> CapabilityRecord:
    record = CapabilityRecord.create(key, Capability(TASK, 10**8, 5), ENDPOINT.format(7))
    return replace(record, **change) if change else record


async def test_honest_nodes_refuse_tampered_unsigned_and_stale_records(
    dht_network: DhtNetwork,
) -> None:
    nodes = await dht_network(4)
    bob, eve = worker_keys("Bob", "Eve")
    directory = CapabilityDirectory(nodes[1])
    old = now_ms() - RECORD_TTL_MS - 1000
    bad = {
        "tampered": signed(bob, max_price_planck_per_fuel=0),
        "unsigned": signed(bob, signature=""),
        "stale": CapabilityRecord.create(
            bob, Capability(TASK, 10**8, 5), ENDPOINT.format(7), timestamp_ms=old
        ),
        "impersonated": signed(eve, worker=bob.ss58_address),
    }
    for name, record in bad.items():
        assert await directory.publish(record) == 0, name
    assert await CapabilityDirectory(nodes[3]).find(TASK) == []
    assert sum(node.storage.rejected for node in nodes) >= 4 * len(nodes) - 4


class RogueStorage(RecordStorage):
    """A node that stores and serves whatever it is given, unchecked."""

    def __init__(self) -> None:
        super().__init__()
        self.raw: dict[bytes, object] = {}

    def store(self, key: bytes, value: object) -> bool:
        self.raw[key] = value
        return True

    def get(self, key: bytes, default: Any = None) -> Any:
        return self.raw.get(key, default)

    def __iter__(self) -> Any:
        return iter(list(self.raw.items()))


async def test_lookups_verify_what_a_rogue_node_serves(dht_network: DhtNetwork) -> None:
    nodes = await dht_network(4)
    rogue = DhtNode(rpc_timeout=2.0)
    rogue.storage = rogue._server.storage = RogueStorage()
    await rogue.start(bootstrap=[nodes[0].address])
    try:
        bob, charlie, dave = worker_keys("Bob", "Charlie", "Dave")
        good = signed(dave)
        key = DEFAULT_KEYING.announce_key(good.capability)
        old = now_ms() - RECORD_TTL_MS - 1000
        served = [
            good,
            signed(bob, endpoint="http://127.0.0.1:6666/evil"),  # tampered
            signed(charlie, signature=""),  # unsigned
            CapabilityRecord.create(charlie, good.capability, good.endpoint, timestamp_ms=old),
        ]
        rogue.storage.store(key, encode_records(served))
        misfiled = signed(bob, task_type="resize")  # valid, but filed under the wrong key
        rogue.storage.store(key, encode_records([misfiled]))  # replaces: rogue is raw
        rogue.storage.store(key, encode_records([*served, misfiled]))

        found = await CapabilityDirectory(nodes[3]).find(TASK)
        assert found == [good]
    finally:
        await rogue.close()


async def test_stale_records_are_dropped_at_lookup(dht_network: DhtNetwork) -> None:
    nodes = await dht_network(3)
    (bob,) = worker_keys("Bob")
    announcer = CapabilityDirectory(nodes[0], bob)
    await announcer.announce(Capability(TASK, 10**8, 5), ENDPOINT.format(1))
    fresh_view = CapabilityDirectory(nodes[2])
    assert len(await fresh_view.find(TASK)) == 1
    # a node whose clock reads 11 minutes later sees the same stored record as stale
    (late,) = await dht_network(1, clock=lambda: now_ms() + RECORD_TTL_MS + 60_000)
    assert await CapabilityDirectory(late).find(TASK) == []
    await announcer.close()


async def test_announcing_needs_a_key_and_bootstrap_needs_an_answer(
    dht_network: DhtNetwork,
) -> None:
    (node,) = await dht_network(1)
    with pytest.raises(DhtError, match="keypair"):
        await CapabilityDirectory(node).announce(Capability(TASK, 1, 1), ENDPOINT.format(1))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))  # a port where nobody answers
        silent = sock.getsockname()
        lonely = DhtNode(rpc_timeout=0.5)
        try:
            with pytest.raises(DhtError, match="no DHT bootstrap node answered"):
                await lonely.start(bootstrap=[silent])
        finally:
            await lonely.close()
    with pytest.raises(DhtError, match="not started"):
        _ = lonely.address


async def test_a_single_node_stores_its_own_records(dht_network: DhtNetwork) -> None:
    (node,) = await dht_network(1)
    (bob,) = worker_keys("Bob")
    directory = CapabilityDirectory(node, bob)
    await directory.announce(Capability(TASK, 10**8, 5), ENDPOINT.format(1))
    assert [r.worker for r in await directory.find(TASK)] == [bob.ss58_address]
    await directory.close()


async def test_stopped_peers_are_evicted_and_not_contacted_again(
    dht_network: DhtNetwork, caplog: pytest.LogCaptureFixture
) -> None:
    nodes = await dht_network(10)
    (bob,) = worker_keys("Bob")
    async with CapabilityDirectory(nodes[1], bob) as announcer:
        await announcer.announce(Capability(TASK, 10**8, 5), ENDPOINT.format(1))
        await _check_eviction(nodes, caplog)


async def _check_eviction(nodes: list[DhtNode], caplog: pytest.LogCaptureFixture) -> None:
    (bob,) = worker_keys("Bob")
    stopped, live = nodes[7:], nodes[:7]
    dead_ids = {node.node_id for node in stopped}
    dead_addresses = {node.address for node in stopped}
    for node in stopped:
        await node.close()
    sends: dict[int, int] = {}  # live node index -> datagrams it sent to a stopped peer

    def count_sends(index: int, node: DhtNode) -> None:
        transport = node._server.transport
        send = transport.sendto

        def sendto(data: bytes, address: Any = None) -> None:
            if address is not None and tuple(address) in dead_addresses:
                sends[index] = sends.get(index, 0) + 1
            send(data, address)

        transport.sendto = sendto

    for index, node in enumerate(live):
        count_sends(index, node)

    def routing_ids(node: DhtNode) -> set[bytes]:
        router = node._server.protocol.router
        return {bytes(n.id) for n in router.find_neighbors(node._server.node, k=10**6)}

    requester = CapabilityDirectory(live[-1])
    caplog.set_level(logging.DEBUG)
    assert [r.worker for r in await requester.find(TASK)] == [bob.ss58_address]
    assert sends.get(len(live) - 1, 0) >= len(stopped)  # the lookup touched every one
    contacted = set(sends)
    for index in contacted:
        assert not routing_ids(live[index]) & dead_ids, index

    sends.clear()
    assert [r.worker for r in await requester.find(TASK)] == [bob.ss58_address]
    assert sends == {}
    for index in contacted:  # not re-added from the other nodes' replies
        assert not routing_ids(live[index]) & dead_ids, index

    loud = [r for r in caplog.records if r.levelno >= logging.WARNING]
    for address in dead_addresses:
        about = [r for r in loud if str(address[1]) in r.getMessage()]
        assert len(about) <= 1, about
    assert len(loud) <= len(stopped), [r.getMessage() for r in loud]


async def test_every_live_record_is_found_after_late_joins_and_stopped_peers() -> None:
    """Recall, not timing: 60 nodes each joining through a random earlier one, 12
    workers announce, 6 more nodes join, 10 % of the nodes that host no worker stop;
    then lookups from live nodes (old, late, and one that joins just to look) must find
    every worker. ``benches/bench_dht_churn.py`` measures the same at 200 and 1,000."""
    rng = random.Random(11)
    nodes: list[DhtNode] = []
    directories: list[CapabilityDirectory] = []

    async def join() -> DhtNode:
        node = DhtNode(rpc_timeout=1.0)
        await node.start(bootstrap=[rng.choice(nodes).address] if nodes else [])
        nodes.append(node)
        return node

    try:
        for _ in range(60):
            await join()
        hosts = rng.sample(range(60), 12)
        for i, host in enumerate(hosts):
            directory = CapabilityDirectory(nodes[host], Keys.from_uri(f"//Worker{i}"))
            directories.append(directory)
            await directory.announce(
                Capability(TASK, (i + 1) * 10**8, 10 * (i + 1)), ENDPOINT.format(i)
            )
        workers = {d.keypair.ss58_address for d in directories if d.keypair is not None}
        for _ in range(6):
            await join()
        stopped = rng.sample([i for i in range(len(nodes)) if i not in hosts], len(nodes) // 10)
        for i in stopped:
            await nodes[i].close()
        live = [n for i, n in enumerate(nodes) if i not in stopped]
        askers = [*rng.sample(live[:60], 4), live[-1], await join()]
        for asker in askers:
            found = await CapabilityDirectory(asker).find(TASK)
            assert {r.worker for r in found} == workers
            for record in found:  # and each one under its own key, with one get
                key = asker.keying.announce_key(record.capability)
                assert record.worker in {r.worker for r in await asker.get(key)}
    finally:
        for directory in directories:
            await directory.close()
        for node in nodes:
            await node.close()


class RegisteredWorkers:
    """The chain's worker registry (``chain.tasks.workers()``), and nothing else."""

    def __init__(self, endpoints: dict[str, str]) -> None:
        self.tasks = self
        self.endpoints = endpoints

    def workers(self) -> list[WorkerInfo]:
        return [
            WorkerInfo(address, (b"wasm",), url.encode(), 1, Reputation(0, 0, 0, 0), 0, None)
            for address, url in self.endpoints.items()
        ]


def _endpoint(node: DhtNode) -> str:
    return with_dht_port(ENDPOINT.format(1), node.address[1])


async def test_a_node_without_bootstrap_joins_through_the_registered_workers(
    dht_network: DhtNetwork,
) -> None:
    first, second = await dht_network(2)
    gone = DhtNode()
    await gone.start()
    stale = _endpoint(gone)
    await gone.close()  # still registered, no longer answering
    bob = Keys.from_uri("//Bob")
    async with CapabilityDirectory(second, bob) as directory:
        await directory.announce(Capability(TASK, 10**8, 5), ENDPOINT.format(2))
        chain: Any = RegisteredWorkers(
            {"first": _endpoint(first), "stale": stale, "old": ENDPOINT.format(3)}
        )
        newcomer = DhtNode(rpc_timeout=2.0)
        try:
            await newcomer.start()
            began = asyncio.get_running_loop().time()
            assert await join(newcomer, chain) >= 2
            assert asyncio.get_running_loop().time() - began < 10  # the stale one: 2 s
            found = await CapabilityDirectory(newcomer).find(TASK)
            assert [r.worker for r in found] == [bob.ss58_address]
        finally:
            await newcomer.close()


async def test_joining_through_the_chain_alone_or_with_nobody_answering() -> None:
    async with DhtNode(rpc_timeout=1.0) as node:
        await node.start()
        assert await join(node, cast(Any, RegisteredWorkers({}))) == 0  # the first worker
        me = _endpoint(node)
        # its own registration is skipped, by address or by its own DHT address
        assert await join(node, cast(Any, RegisteredWorkers({"me": me})), exclude="me") == 0
        assert await join(node, cast(Any, RegisteredWorkers({"x": me})), own=node.address) == 0
        gone = DhtNode()
        await gone.start()
        stale = cast(Any, RegisteredWorkers({"stale": _endpoint(gone)}))
        await gone.close()
        assert await join(node, stale) == 0  # a worker starts alone
        with pytest.raises(DhtError, match="registered workers answered"):
            await join(node, stale, required=True)
        with pytest.raises(DhtError, match="no DHT bootstrap node answered"):
            await join(node, stale, [gone_address(stale)])  # explicit ones must answer


def gone_address(chain: RegisteredWorkers) -> tuple[str, int]:
    address = dht_address_of(next(iter(chain.endpoints.values())))
    assert address is not None
    return address


async def test_a_lone_node_rejoins_before_it_announces(dht_network: DhtNetwork) -> None:
    lone, first = await dht_network(1) + [DhtNode(rpc_timeout=2.0)]
    await first.start()
    chain = cast(Any, RegisteredWorkers({"first": _endpoint(first)}))
    try:
        (bob,) = worker_keys("Bob")
        directory = CapabilityDirectory(lone, bob, rejoin=lambda: join(lone, chain))
        async with directory:
            await directory.announce(Capability(TASK, 10**8, 5), ENDPOINT.format(1))
        assert lone.known_peers == 1  # joined the registered worker before announcing
        assert [r.worker for r in await CapabilityDirectory(first).find(TASK)] == [bob.ss58_address]
    finally:
        await first.close()
