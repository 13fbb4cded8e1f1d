"""Off-chain channel update throughput (issue 3), printed as a table.

    .venv/bin/python benches/bench_channels.py [--updates N] [--dir DIR]

One update is a full propose -> countersign round trip: two sr25519 signatures, two
verifications, and (with stores) three durable SQLite commits (the proposer's signed
state, the countersigner's co-signed state, the proposer's co-signed state; WAL,
``synchronous=FULL``). Measured:

- ``state machine``: the pure :class:`~ccnet.channels.Channel` pair, no store, no I/O;
- ``store commit``: one ``update_persisted_channel`` (the fsync'd commit) alone;
- ``memory transport``: two :class:`~ccnet.channels.ChannelParty` with SQLite stores
  over an in-memory transport;
- ``asyncio TCP``: the same over a TCP connection on 127.0.0.1.

Stores live under ``--dir`` (default: the system temp dir), so the disk's fsync speed
shows; no chain is needed.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from ccnet.channels import (
    Channel,
    ChannelRecord,
    Countersign,
    MemoryTransport,
    Party,
    Phase,
    SignedState,
    SqliteChannelStore,
    StreamTransport,
    Transport,
    connect,
    serve,
)
from ccnet.channels.testing import close_pair, link_parties, make_params
from ccnet.channels.updates import ChannelUpdate, UpdateKind
from ccnet.client import Keys

CC = 10**12
ALICE, BOB = Keys.from_uri("//Alice"), Keys.from_uri("//Bob")


def summarize(name: str, latencies: list[float]) -> tuple[str, str, str, str, str]:
    total = sum(latencies)
    ordered = sorted(latencies)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return (
        name,
        str(len(latencies)),
        f"{len(latencies) / total:,.0f}",
        f"{statistics.median(latencies) * 1e3:.3f}",
        f"{p99 * 1e3:.3f}",
    )


def bench_state_machine(updates: int) -> list[float]:
    params = make_params(ALICE, BOB, deposit_a=1000 * CC, label="bench-machine")
    opening = SignedState(params.opening_state())
    a = Channel(ChannelRecord(params, Party.A, Phase.FUNDED, opening), ALICE)
    b = Channel(ChannelRecord(params, Party.B, Phase.FUNDED, opening), BOB)
    latencies = []
    for _ in range(updates):
        start = time.perf_counter()
        propose, _ = a.pay(1000)
        reply, _ = b.on_propose(propose)
        assert isinstance(reply, Countersign)
        a.on_countersign(reply)
        latencies.append(time.perf_counter() - start)
    return latencies


def bench_store(updates: int, directory: Path) -> list[float]:
    params = make_params(ALICE, BOB, deposit_a=1000 * CC, label="bench-store")
    store = SqliteChannelStore(directory / "store.db")
    record = ChannelRecord(params, Party.A, Phase.FUNDED, SignedState(params.opening_state()))
    store.persist_new_channel(record)
    latencies = []
    for update_id in range(1, updates + 1):
        update = ChannelUpdate(params.channel_id, update_id, UpdateKind.BURNED, version=update_id)
        start = time.perf_counter()
        store.update_persisted_channel(update)
        latencies.append(time.perf_counter() - start)
    store.close()
    return latencies


async def bench_parties(
    updates: int,
    directory: Path,
    make_transports: Callable[[], Awaitable[tuple[Transport, Transport]]],
) -> list[float]:
    params = make_params(ALICE, BOB, deposit_a=1000 * CC, label=f"bench-{directory.name}")
    pair = await link_parties(directory, ALICE, BOB, params, transports=await make_transports())
    latencies = []
    for _ in range(updates):
        start = time.perf_counter()
        await pair.a.pay(params.channel_id, 1000)
        latencies.append(time.perf_counter() - start)
    assert pair.b.channel(params.channel_id).latest.version == updates
    await close_pair(pair)
    return latencies


async def memory_transports() -> tuple[Transport, Transport]:
    return MemoryTransport.pair()


class TcpPair:
    def __init__(self) -> None:
        self.server: asyncio.Server | None = None

    async def __call__(self) -> tuple[Transport, Transport]:
        accepted: asyncio.Queue[StreamTransport] = asyncio.Queue()

        async def on_connect(transport: StreamTransport) -> None:
            await accepted.put(transport)

        self.server = await serve(on_connect)
        client = await connect("127.0.0.1", self.server.sockets[0].getsockname()[1])
        return client, await accepted.get()

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()


async def run(updates: int, base: Path) -> list[tuple[str, str, str, str, str]]:
    rows = [summarize("state machine (no store, no I/O)", bench_state_machine(updates))]
    store_dir = base / "store"
    store_dir.mkdir()
    rows.append(summarize("store commit alone (fsync)", bench_store(updates, store_dir)))
    memory_dir = base / "memory"
    memory_dir.mkdir()
    latencies = await bench_parties(updates, memory_dir, memory_transports)
    rows.append(summarize("parties, memory transport", latencies))
    tcp_dir = base / "tcp"
    tcp_dir.mkdir()
    tcp = TcpPair()
    latencies = await bench_parties(updates, tcp_dir, tcp)
    await tcp.close()
    rows.append(summarize("parties, asyncio TCP 127.0.0.1", latencies))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--updates", type=int, default=1000, help="updates per measurement")
    parser.add_argument("--dir", type=Path, default=None, help="where the stores live")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir, prefix="ccnet-bench-channels-") as tmp:
        rows = asyncio.run(run(args.updates, Path(tmp)))
    header = ("measurement", "n", "updates/s", "median ms", "p99 ms")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print(
            "  ".join(
                cell.ljust(w) if i == 0 else cell.rjust(w)
                for i, (cell, w) in enumerate(zip(row, widths, strict=True))
            )
        )
    print(f"(stores in {args.dir or tempfile.gettempdir()})")


if __name__ == "__main__":
    main()
