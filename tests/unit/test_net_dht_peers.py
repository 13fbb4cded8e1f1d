"""The DHT protocol's memory of peers that stopped answering (no network)."""

from __future__ import annotations

import os

from kademlia.node import Node  # type: ignore[import-untyped]

from ccnet.client.net.dht import DEAD_PEER_TTL_S, MAX_DEAD_PEERS, RecordStorage, _Protocol


def protocol() -> _Protocol:
    return _Protocol(Node(os.urandom(20)), RecordStorage(), 20, 1.0)


def peer(port: int = 4000) -> Node:
    return Node(os.urandom(20), "127.0.0.1", port)


def in_table(proto: _Protocol, node: Node) -> bool:
    return not proto.router.is_new_node(node)


async def test_a_failed_rpc_evicts_the_peer_and_a_request_from_it_brings_it_back() -> None:
    proto, gone = protocol(), peer()
    proto.welcome_if_new(gone)
    assert in_table(proto, gone)
    proto.handle_call_response((False, None), gone)
    assert not in_table(proto, gone) and proto.is_dead(gone)
    # an RPC to it fails at once, without a datagram (there is no transport to send on)
    assert await proto.call_find_node(gone, peer()) == (False, None)
    assert await proto.call_ping(gone) == (False, None)
    assert not in_table(proto, gone)
    proto.rpc_ping(("127.0.0.1", 4000), gone.id)  # it is back
    assert in_table(proto, gone) and not proto.is_dead(gone)


def test_dead_peers_are_forgotten_after_the_ttl_and_the_memory_is_bounded() -> None:
    proto, gone = protocol(), peer()
    proto.handle_call_response((False, None), gone)
    proto.dead[(gone.id, gone.ip, gone.port)] -= DEAD_PEER_TTL_S + 1
    assert not proto.is_dead(gone) and not proto.dead
    first = peer()
    proto.handle_call_response((False, None), first)
    for _ in range(MAX_DEAD_PEERS):
        proto.handle_call_response((False, None), peer())
    assert len(proto.dead) == MAX_DEAD_PEERS and not proto.is_dead(first)


def test_a_successful_answer_adds_the_peer_and_clears_its_mark() -> None:
    proto, node = protocol(), peer()
    proto.handle_call_response((False, None), node)
    proto.handle_call_response((True, node.id), node)
    assert in_table(proto, node) and not proto.is_dead(node)


async def test_quiet_contacts_are_pinged_and_the_silent_ones_evicted() -> None:
    proto = protocol()
    alive, gone = peer(4001), peer(4002)
    for node in (alive, gone):
        proto.welcome_if_new(node)
    pinged: list[tuple[str, int]] = []

    async def ping(address: tuple[str, int], _sender: bytes) -> tuple[bool, object]:
        pinged.append(address)
        return (True, alive.id) if address[1] == 4001 else (False, None)

    proto.ping = ping  # the UDP boundary
    assert await proto.check_contacts(3600.0) == 0  # both heard from just now
    assert pinged == []
    assert await proto.check_contacts(0.0) == 1
    assert sorted(pinged) == [("127.0.0.1", 4001), ("127.0.0.1", 4002)]
    assert in_table(proto, alive) and not in_table(proto, gone) and proto.is_dead(gone)


async def test_a_ping_answered_by_another_node_evicts_the_contact() -> None:
    proto, old = protocol(), peer(4003)
    proto.welcome_if_new(old)

    async def ping(_address: tuple[str, int], _sender: bytes) -> tuple[bool, object]:
        return (True, os.urandom(20))  # a node restarted there under a new id

    proto.ping = ping
    assert (await proto.call_ping(old))[0] is False
    assert not in_table(proto, old)


async def test_a_known_id_listed_at_another_address_does_not_evict_the_real_contact() -> None:
    proto, honest = protocol(), peer(4004)
    proto.welcome_if_new(honest)
    made_up = Node(honest.id, "127.0.0.1", 4005)  # what a lying reply may list
    proto.handle_call_response((False, None), made_up)
    assert in_table(proto, honest) and not proto.is_dead(honest) and proto.is_dead(made_up)


def test_a_late_answer_clears_the_dead_mark_of_its_address() -> None:
    proto, slow = protocol(), peer(4006)
    proto.handle_call_response((False, None), slow)
    proto._accept_response(os.urandom(20), slow.id, ("127.0.0.1", 4006))
    assert not proto.is_dead(slow)


async def test_expired_marks_are_swept_by_the_liveness_round() -> None:
    # Without a sweep the dead set only shrinks when the same peer is asked about again,
    # so it fills up to MAX_DEAD_PEERS and every late answer scanned all of it.
    proto = protocol()
    stale, fresh = peer(4007), peer(4008)
    for node in (stale, fresh):
        proto.handle_call_response((False, None), node)
    proto.dead[(stale.id, stale.ip, stale.port)] -= DEAD_PEER_TTL_S + 1
    assert await proto.check_contacts(0.0) == 0
    assert set(proto.dead) == {(fresh.id, fresh.ip, fresh.port)}
    assert proto._dead_at == {("127.0.0.1", 4008): {(fresh.id, fresh.ip, fresh.port)}}


async def test_a_sender_claiming_a_contacts_id_does_not_spare_it_the_liveness_ping() -> None:
    proto, gone = protocol(), peer(4009)
    proto.welcome_if_new(gone)
    pinged: list[tuple[str, int]] = []

    async def ping(address: tuple[str, int], _sender: bytes) -> tuple[bool, object]:
        pinged.append(address)
        return (False, None)

    proto.ping = ping
    proto.last_seen[(gone.id, gone.ip, gone.port)] -= 120
    proto.rpc_ping(("127.0.0.1", 4010), gone.id)  # an impostor, from its own address
    assert await proto.check_contacts(60.0) == 1
    assert ("127.0.0.1", 4009) in pinged and not in_table(proto, gone)


def test_find_neighbors_returns_the_k_closest_contacts_by_xor_distance() -> None:
    # kademlia's walk from the target's bucket stops at the first k contacts it meets
    proto = protocol()
    contacts = [peer(5000 + i) for i in range(300)]
    for node in contacts:
        proto.welcome_if_new(node)
    known = proto.contacts()
    for _ in range(20):
        target = Node(os.urandom(20))
        expected = sorted(known, key=target.distance_to)[:20]
        assert proto.router.find_neighbors(target) == expected
        assert proto.router.find_neighbors(target, k=3) == expected[:3]
    excluded = known[0]
    assert excluded not in proto.router.find_neighbors(Node(excluded.id), exclude=excluded)


def test_a_holder_among_the_k_closest_hands_a_key_to_a_closer_new_node() -> None:
    proto = protocol()
    key = os.urandom(20)
    target = Node(key)
    for i in range(40):
        proto.welcome_if_new(peer(6000 + i))
    ranked = sorted(proto.contacts(), key=target.distance_to)
    kth = ranked[19].distance_to(target)
    closer = next(p for p in (peer(7000 + i) for i in range(10_000)) if p.distance_to(target) < kth)
    farther = next(
        p for p in (peer(8000 + i) for i in range(10_000)) if p.distance_to(target) > kth
    )
    holder = proto.source_node.distance_to(target) < kth
    assert proto.should_hand_over(key, closer) is holder
    assert proto.should_hand_over(key, farther) is False
    # a node that knows fewer than k contacts hands every key over
    assert protocol().should_hand_over(key, farther) is True
