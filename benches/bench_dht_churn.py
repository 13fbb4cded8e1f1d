"""DHT discovery after peers stopped, as a table of successive rounds.

    .venv/bin/python benches/bench_dht_churn.py [--nodes N] [--stop-pct P] [--workers W]
                                                [--late-pct L] [--rounds R] [--rpc-timeout S]
                                                [--liveness S]

Everything runs in this process on 127.0.0.1 UDP and stops by itself. N in-process
:class:`~ccnet.client.net.dht.DhtNode` s join as in ``benches/bench_worker_targets.py``
(each through a random earlier node); W workers announce ``sha256sum`` from random
nodes; then L % more nodes join (each through a random node: they must be handed the
records they are now among the closest to), and P % of the nodes that host no worker
stop (close their sockets without telling anyone). Only live workers' records count
(every worker stays live).
Two scenarios of R rounds each, every round a ``CapabilityDirectory.find`` of all the
query's keys:

- **fresh**: each round is a new requester node that joins through a random live node,
  finds, and stops (one run of a requester program; its node then is a stopped peer too);
- **same**: one long-lived requester node finds R times.

Every node pings the contacts it has not heard from every ``--liveness`` seconds
(``DhtNode(liveness_interval=...)``, default 60 s; a short one shows what lookups cost
once the live nodes have checked their contacts). Columns: round wall time (ms,
including the fresh requester's join), records found out of the W live ones, log
records at WARNING or above during the round, and UDP datagrams sent to stopped peers
during the round (every live node's socket is wrapped to count), and live peers that
live nodes hold as dead after the round (slow answers under load).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import random
import time
from typing import Any

from ccnet.client import Keys
from ccnet.client.net.dht import CapabilityDirectory, DhtNode
from ccnet.client.net.exceptions import DhtError
from ccnet.client.net.records import Capability

TASK = "sha256sum"


class LogCounter(logging.Handler):
    """Counts log records at WARNING or above."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1


class DeadSends:
    """Counts datagrams that live nodes send to the addresses of stopped nodes."""

    def __init__(self) -> None:
        self.dead: set[tuple[str, int]] = set()
        self.count = 0

    def wrap(self, node: DhtNode) -> None:
        transport = node._server.transport
        send = transport.sendto

        def sendto(data: bytes, addr: Any = None) -> None:
            if addr is not None and tuple(addr) in self.dead:
                self.count += 1
            send(data, addr)

        transport.sendto = sendto


async def run(args: argparse.Namespace) -> list[tuple[str, ...]]:
    rng = random.Random(7)
    counter = LogCounter()
    logging.getLogger().addHandler(counter)
    sends = DeadSends()
    nodes: list[DhtNode] = []
    directories: list[CapabilityDirectory] = []
    extra: list[DhtNode] = []
    rows: list[tuple[str, ...]] = []

    async def new_node(bootstrap: list[DhtNode]) -> DhtNode:
        node = DhtNode(rpc_timeout=args.rpc_timeout, liveness_interval=args.liveness or None)
        await node.start()
        for _ in range(3):  # one loop runs every node: a busy one may miss the ping
            try:
                if bootstrap:
                    await node.bootstrap([rng.choice(bootstrap).address])
                break
            except DhtError:
                continue
        sends.wrap(node)
        return node

    try:
        began = time.perf_counter()
        for i in range(args.nodes):
            nodes.append(await new_node(nodes))
            if (i + 1) % 100 == 0:
                print(f"  {i + 1} joined, {time.perf_counter() - began:.0f} s", flush=True)
        joined = time.perf_counter() - began
        hosts = rng.sample(range(args.nodes), args.workers)
        for i, host in enumerate(hosts):
            directory = CapabilityDirectory(nodes[host], Keys.from_uri(f"//Worker{i}"))
            directories.append(directory)
            await directory.announce(
                Capability(TASK, (i + 1) * 10**8, 10 * (i + 1)),
                f"http://127.0.0.1:{9000 + i}/offer",
            )
        for _ in range(args.nodes * args.late_pct // 100):
            nodes.append(await new_node(nodes))
        candidates = [i for i in range(len(nodes)) if i not in hosts]
        stopping = rng.sample(candidates, len(nodes) * args.stop_pct // 100)
        for i in stopping:
            sends.dead.add(nodes[i].address)
            await nodes[i].close()
        live = [n for i, n in enumerate(nodes) if i not in stopping]
        print(
            f"{len(nodes)} nodes ({args.nodes} joined in {joined:.0f} s, then "
            f"{len(nodes) - args.nodes} after the announcements), {len(stopping)} stopped, "
            f"{args.workers} live records, rpc timeout {args.rpc_timeout} s, "
            f"liveness interval {args.liveness} s"
        )
        same = rng.choice(live)

        def wrongly_dead(node: DhtNode) -> int:
            dead = getattr(node._server.protocol, "dead", {})
            return sum(1 for peer in dead if tuple(peer[1:]) not in sends.dead)

        for scenario in ("fresh", "same"):
            for round_no in range(1, args.rounds + 1):
                errors, dead_sends = counter.count, sends.count
                began = time.perf_counter()
                if scenario == "fresh":
                    requester = await new_node(live)
                    extra.append(requester)
                else:
                    requester = same
                found = await CapabilityDirectory(requester).find(TASK)
                elapsed = time.perf_counter() - began
                if scenario == "fresh":
                    sends.dead.add(requester.address)
                    await requester.close()
                rows.append(
                    (
                        scenario,
                        str(round_no),
                        f"{elapsed * 1e3:.0f}",
                        f"{len(found)}/{args.workers}",
                        str(counter.count - errors),
                        str(sends.count - dead_sends),
                        str(sum(wrongly_dead(n) for n in live)),
                    )
                )
    finally:
        for directory in directories:
            await directory.close()
        for node in nodes + extra:
            await node.close()
        logging.getLogger().removeHandler(counter)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nodes", type=int, default=50, help="DHT nodes")
    parser.add_argument("--stop-pct", type=int, default=15, help="%% of nodes stopped")
    parser.add_argument("--workers", type=int, default=10, help="workers announcing")
    parser.add_argument(
        "--late-pct", type=int, default=0, help="%% more nodes joining after the announcements"
    )
    parser.add_argument("--rounds", type=int, default=4, help="rounds per scenario")
    parser.add_argument("--rpc-timeout", type=float, default=2.0, help="UDP RPC timeout, s")
    parser.add_argument(
        "--liveness", type=float, default=60.0, help="nodes' liveness_interval, s (0: off)"
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger().handlers[0].setLevel(logging.CRITICAL)  # count, do not print
    rows = asyncio.run(run(args))
    header = ("scenario", "round", "wall ms", "found/live", "warn+", "to dead", "live as dead")
    widths = [max(len(r[i]) for r in (header, *rows)) for i in range(len(header))]
    for line in (header, *rows):
        print("  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip())
    found = [int(row[3].split("/")[0]) for row in rows]
    print(
        f"recall: {sum(found)}/{len(found) * args.workers} live records over {len(found)} "
        f"lookups ({100 * sum(found) / (len(found) * args.workers):.1f} %), worst {min(found)}"
    )


if __name__ == "__main__":
    main()
