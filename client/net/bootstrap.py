"""Joining the one DHT of a chain: bootstrap nodes from the workers registered on it.

A worker's registered endpoint (``Tasks.Workers(address).endpoint``, its signaling URL)
carries the UDP port of its DHT node as the query parameter ``dht``:
``http://203.0.113.7:7300/offer?dht=7400`` means a DHT node at 203.0.113.7, UDP 7400
(``docs/protocol.md``, section 4). The signaling server ignores the query, so the URL
stays the worker's signaling endpoint; no runtime change is needed.

A node started without explicit bootstrap nodes (:func:`join`) reads the registered
workers, skips its own registration and the endpoints without a DHT port, resolves the
host names of up to :data:`MAX_BOOTSTRAP_PEERS` of them (random ones; within
:data:`RESOLVE_TIMEOUT_S` in all; loopback addresses only when this node listens on
loopback itself, unspecified ones never), pings them at once, skips those that do not
answer within :data:`PROBE_TIMEOUT_S`, and joins through the others within
:data:`BOOTSTRAP_DEADLINE_S`: so every worker and requester of a chain joins the same
network instead of starting a private one.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import random
import socket
from collections.abc import Iterable, Sequence
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from ..chain import Chain
from ..pallets.tasks import WorkerInfo
from .dht import DhtNode
from .exceptions import DhtError

__all__ = [
    "BOOTSTRAP_DEADLINE_S",
    "DHT_PORT_PARAM",
    "MAX_BOOTSTRAP_PEERS",
    "PROBE_TIMEOUT_S",
    "RESOLVE_TIMEOUT_S",
    "chain_bootstrap_nodes",
    "dht_address_of",
    "join",
    "with_dht_port",
]

log = logging.getLogger(__name__)

DHT_PORT_PARAM = "dht"
"""Query parameter of a registered endpoint that carries the worker's DHT UDP port."""
MAX_BOOTSTRAP_PEERS = 16
"""Most registered workers asked at once when joining (a random sample of them)."""
PROBE_TIMEOUT_S = 2.0
"""How long a registered worker's DHT node has to answer a ping, s: stale registrations
(a stopped worker stays registered until it deregisters) are skipped after that."""
RESOLVE_TIMEOUT_S = 2.0
"""How long resolving the host names of the chosen registered endpoints may take in all,
s: those not resolved by then are skipped."""
BOOTSTRAP_DEADLINE_S = 15.0
"""How long joining through the registered workers that answered may take, s."""


def with_dht_port(endpoint: str, port: int) -> str:
    """*endpoint* (an http(s) URL) with ``dht=port`` in its query (replacing any)."""
    if not 0 < port < 65536:
        raise ValueError(f"not a UDP port: {port}")
    parts = urlsplit(endpoint)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != DHT_PORT_PARAM]
    query.append((DHT_PORT_PARAM, str(port)))
    return urlunsplit(parts._replace(query=urlencode(query)))


def dht_address_of(endpoint: str) -> tuple[str, int] | None:
    """(host, UDP port) of the DHT node an endpoint URL names, or ``None`` when it names
    none (no or a malformed ``dht`` parameter, no host, not http(s))."""
    try:
        parts = urlsplit(endpoint)
        host = parts.hostname
        values = [v for k, v in parse_qsl(parts.query) if k == DHT_PORT_PARAM]
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not host or len(values) != 1:
        return None
    if not values[0].isdigit() or not 0 < int(values[0]) < 65536:
        return None
    return (host, int(values[0]))


def _registered_nodes(workers: Iterable[WorkerInfo], exclude: str | None) -> list[tuple[str, int]]:
    nodes = []
    for worker in workers:
        if worker.address == exclude:
            continue
        address = dht_address_of(worker.endpoint.decode(errors="replace"))
        if address is not None and address not in nodes:
            nodes.append(address)
    return nodes


async def _resolve(host: str, port: int) -> tuple[str, int] | None:
    # kademlia wants an IPv4 address: registered endpoints may name a host
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(
            host, port, family=socket.AF_INET, type=socket.SOCK_DGRAM
        )
    except (OSError, UnicodeError) as err:
        log.debug("cannot resolve the DHT host %s: %s", host, err)
        return None
    return (str(infos[0][4][0]), port) if infos else None


def _usable(address: tuple[str, int], allow_loopback: bool) -> bool:
    ip = ipaddress.ip_address(address[0])
    return not ip.is_unspecified and (allow_loopback or not ip.is_loopback)


async def _resolve_all(nodes: Sequence[tuple[str, int]], timeout: float) -> list[tuple[str, int]]:
    """The addresses of *nodes* that resolve within *timeout* s in all (the others are
    skipped: a registered worker's slow DNS server must not stall joining), in order."""
    if not nodes:
        return []
    tasks = [asyncio.ensure_future(_resolve(host, port)) for host, port in nodes]
    done, pending = await asyncio.wait(tasks, timeout=timeout)
    for task in pending:
        task.cancel()  # the lookup thread finishes on its own; its answer is dropped
    if pending:
        log.info(
            "skipped %d registered DHT host(s) not resolved within %s s", len(pending), timeout
        )
    resolved = [task.result() for task in tasks if task in done]
    return [address for address in resolved if address is not None]


async def chain_bootstrap_nodes(
    chain: Chain,
    *,
    exclude: str | None = None,
    limit: int = MAX_BOOTSTRAP_PEERS,
    rng: random.Random | None = None,
    allow_loopback: bool = False,
    resolve_timeout: float = RESOLVE_TIMEOUT_S,
) -> list[tuple[str, int]]:
    """(IPv4, UDP port) of the DHT nodes of up to *limit* random workers registered on
    *chain* (``Tasks.Workers``), without *exclude* (SS58: this node's own worker), the
    endpoints that name no DHT node, the hosts not resolved within *resolve_timeout* s
    (all together), and the addresses that resolve to unspecified (0.0.0.0) or, unless
    *allow_loopback*, loopback (127.0.0.0/8: a registered endpoint must not aim this
    node's pings at its own machine's services). Raises the chain's errors."""
    workers = await asyncio.to_thread(chain.tasks.workers)
    nodes = _registered_nodes(workers, exclude)
    chosen = (rng or random.Random()).sample(nodes, min(limit, len(nodes)))
    resolved = await _resolve_all(chosen, resolve_timeout)
    return [address for address in resolved if _usable(address, allow_loopback)]


async def join(
    dht: DhtNode,
    chain: Chain,
    bootstrap: Sequence[tuple[str, int]] = (),
    *,
    exclude: str | None = None,
    own: tuple[str, int] | None = None,
    deadline: float = BOOTSTRAP_DEADLINE_S,
    required: bool = False,
) -> int:
    """Join the DHT through *bootstrap* or, when it is empty, through the workers
    registered on *chain* (see module doc; *exclude*: this worker's SS58 address,
    *own*: this node's (host, port), both skipped). Returns the number of nodes known.

    Explicit *bootstrap* nodes must answer (:class:`DhtError` otherwise, as
    :meth:`DhtNode.bootstrap`). Registered workers may all be gone: then this node
    stays alone (a warning) unless *required*, when :class:`DhtError` is raised; none
    registered is no error (this node is the first). Joining through the chain is
    bounded by *deadline* s.
    """
    if bootstrap:
        return await dht.bootstrap(bootstrap)
    on_loopback = ipaddress.ip_address(dht.address[0]).is_loopback  # the dev default
    registered = await chain_bootstrap_nodes(chain, exclude=exclude, allow_loopback=on_loopback)
    nodes = [n for n in registered if n != own]
    if not nodes:
        log.info("no other worker registered on chain names a DHT node: starting alone")
        return dht.known_peers
    answers = await asyncio.gather(*(dht.ping(n, timeout=PROBE_TIMEOUT_S) for n in nodes))
    try:
        alive = [node for node, answered in zip(nodes, answers, strict=True) if answered]
        if not alive:
            raise DhtError("no answer")
        async with asyncio.timeout(deadline):
            known = await dht.bootstrap(alive)
    except (DhtError, TimeoutError) as err:
        if required or dht.known_peers == 0:
            message = f"none of the {len(nodes)} registered workers answered on the DHT"
            if required:
                raise DhtError(message) from err
            log.warning("%s: starting alone", message)
        return dht.known_peers
    log.info("joined the DHT through %d registered workers: %d nodes known", len(nodes), known)
    return known
