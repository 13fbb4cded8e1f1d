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
    proto.dead[gone.id] -= DEAD_PEER_TTL_S + 1
    assert not proto.is_dead(gone) and gone.id not in proto.dead
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
