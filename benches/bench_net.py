"""Worker networking benchmarks, printed as a table.

    .venv/bin/python benches/bench_net.py [--mib N] [--rounds N] [--lookups N]

Everything runs in one process on 127.0.0.1 (both peers share the event loop and
the CPU, so the numbers are a lower bound for two machines). Measured:

- session setup: signed offer/answer over HTTP, ICE, DTLS and SCTP until both data
  channels are open (``connect`` against a ``PeerListener``);
- round trip: a 64-byte message echoed by the worker on the ``tasks`` channel;
- throughput: ``--mib`` MiB sent one way, as 1 MiB messages and as one 16 MiB
  message (chunked into 16 KiB data-channel messages), until the last byte is read;
- DHT: announce (sign + store on the k closest nodes) and ``find`` (all keys of the
  query, verified and merged) on a 5-node Kademlia network on UDP.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

from ccnet.client import Keys
from ccnet.client.net.dht import CapabilityDirectory, DhtNode
from ccnet.client.net.records import Capability
from ccnet.client.net.webrtc import PeerListener, PeerSession, connect

MIB = 1024 * 1024
Row = tuple[str, str, str, str]


def ms(samples: list[float]) -> tuple[str, str]:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]
    return f"{statistics.median(ordered) * 1000:.2f}", f"{p95 * 1000:.2f}"


async def bench_webrtc(mib: int, rounds: int) -> list[Row]:
    alice, bob = Keys.from_uri("//Alice"), Keys.from_uri("//Bob")
    rows: list[Row] = []

    async def worker(session: PeerSession) -> None:
        tasks = session.transport("tasks")
        while True:
            message = await tasks.recv()
            if len(message) <= 64:
                await tasks.send(message)

    async with PeerListener(bob, worker) as listener:
        setups = []
        for _ in range(5):
            start = time.perf_counter()
            session = await connect(listener.url, alice, bob.ss58_address)
            setups.append(time.perf_counter() - start)
            await session.close()
        rows.append(
            ("session setup (signed signaling + ICE/DTLS/SCTP)", str(len(setups)), *ms(setups))
        )

        async with await connect(listener.url, alice, bob.ss58_address) as session:
            tasks = session.transport("tasks")
            ping = b"p" * 64
            trips = []
            for _ in range(rounds):
                start = time.perf_counter()
                await tasks.send(ping)
                await tasks.recv(timeout=30)
                trips.append(time.perf_counter() - start)
            rows.append(("round trip, 64 B message", str(rounds), *ms(trips)))

            for size, label in ((MIB, "1 MiB messages"), (16 * MIB, "16 MiB message")):
                payload = b"\xab" * size
                count = max(1, mib * MIB // size)
                start = time.perf_counter()
                for _ in range(count):
                    await tasks.send(payload)
                await tasks.send(ping)  # the echo arrives after every byte was read
                await tasks.recv(timeout=300)
                elapsed = time.perf_counter() - start
                rate = count * size / MIB / elapsed
                rows.append(
                    (
                        f"throughput one way, {label}",
                        f"{count * size // MIB} MiB",
                        f"{rate:.1f} MiB/s",
                        f"{elapsed:.2f} s",
                    )
                )
    return rows


async def bench_dht(lookups: int) -> list[Row]:
    nodes = [DhtNode() for _ in range(5)]
    await nodes[0].start()
    for node in nodes[1:]:
        await node.start(bootstrap=[nodes[0].address])
    rows: list[Row] = []
    workers = [Keys.from_uri(f"//Worker{i}") for i in range(10)]
    directories = [CapabilityDirectory(nodes[i % 5], key) for i, key in enumerate(workers)]
    try:
        announces = []
        for i, directory in enumerate(directories):
            start = time.perf_counter()
            await directory.announce(
                Capability("sha256sum", (i + 1) * 10**8, 10 * (i + 1)),
                f"http://127.0.0.1:{9000 + i}/offer",
            )
            announces.append(time.perf_counter() - start)
        rows.append(("DHT announce (5 nodes)", str(len(announces)), *ms(announces)))
        requester = CapabilityDirectory(nodes[4])
        queries: tuple[tuple[str, dict[str, int]], ...] = (
            ("DHT find, 4 keys (speed>=5e8, price<=60)", {"min_speed": 5 * 10**8, "max_price": 60}),
            ("DHT find, all 16 keys (any)", {}),
        )
        for label, kwargs in queries:
            times = []
            for _ in range(lookups):
                start = time.perf_counter()
                found = await requester.find("sha256sum", **kwargs)
                times.append(time.perf_counter() - start)
            rows.append((f"{label} -> {len(found)} records", str(lookups), *ms(times)))
    finally:
        for directory in directories:
            await directory.close()
        for node in nodes:
            await node.close()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mib", type=int, default=32, help="MiB sent per throughput run")
    parser.add_argument("--rounds", type=int, default=200, help="round trips measured")
    parser.add_argument("--lookups", type=int, default=50, help="DHT lookups measured")
    args = parser.parse_args()
    rows = asyncio.run(bench_webrtc(args.mib, args.rounds))
    rows += asyncio.run(bench_dht(args.lookups))
    header = ("measurement", "n", "median ms / rate", "p95 ms / time")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print(
            "  ".join(
                cell.ljust(w) if i == 0 else cell.rjust(w)
                for i, (cell, w) in enumerate(zip(row, widths, strict=True))
            )
        )


if __name__ == "__main__":
    main()
