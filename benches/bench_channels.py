"""Off-chain channel update throughput, and the event loop's latency under payment load,
printed as three tables.

    .venv/bin/python benches/bench_channels.py [--updates N] [--batches 1,8,32,64]
                                               [--dir DIR] [--no-webrtc]
                                               [--load-seconds S] [--channels K]

One update is one co-signed state, durable on both sides: two sr25519 signatures, two
verifications, and the store commits (WAL, ``synchronous=FULL``: the proposer's signed
state, the countersigner's co-signed state, the proposer's co-signed state). With
``pay`` each update is its own round trip and its own three commits; with
``pay_many`` (party A) a batch of *k* updates shares one round trip and three commits
(each commit holds all *k* states), and every state is still durable on a side before
any signature of it leaves that side, and before ``pay_many`` returns.

The first table is where the time of one update goes: one signature, one verification,
a message encoded and decoded, and one store commit, with and without its fsync
(``synchronous=OFF`` only here, to show the fsync's share). The second table measures:

- ``state machine``: the pure :class:`~ccnet.channels.Channel` pair, no store, no I/O;
- ``store commit``: one ``update_persisted_channel`` (the fsync'd commit) alone;
- ``memory``: two :class:`~ccnet.channels.ChannelParty` with SQLite stores over an
  in-memory transport, in one process;
- ``TCP``: the same over asyncio TCP on 127.0.0.1;
- ``WebRTC``: the same over a real aiortc session on 127.0.0.1 (signed signaling,
  DTLS, SCTP), on its ``channels`` data channel (:mod:`ccnet.client.net.webrtc`).

``batch`` is the number of updates per round trip (1: ``pay``; more: ``pay_many``).
``ack p50/p99`` is the time a caller waits for its update (the whole batch's round
trip); ``per update`` is that divided by the batch size. Stores live under ``--dir``
(default: the system temp dir), so the disk's fsync speed shows; no chain is needed.

The third table is what payments cost the *other* tasks of the event loop (a worker
daemon runs heartbeats, data channels and the DHT on the same loop). For
``--load-seconds`` seconds, *K* channels pay one update after another (``pay``, memory
transport) while a heartbeat-like ticker wakes every 10 ms and a job-like echo does a
round trip over its own memory transport every 20 ms. ``tick late`` is how late the
ticker woke, ``echo rtt`` the echo's round trip, in ms. ``store on the loop`` commits in
the event loop's thread (how :class:`~ccnet.channels.ChannelParty` worked before, its
``store_thread=False``), ``store thread`` on the party's store thread (the default):
an fsync then blocks only that thread.
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
    ChannelState,
    Countersign,
    MemoryTransport,
    Party,
    Phase,
    Propose,
    SignedState,
    SqliteChannelStore,
    StreamTransport,
    Transport,
    TransportClosedError,
    connect,
    decode,
    encode,
    serve,
    sign_state,
    verify_state,
)
from ccnet.channels.testing import PartyPair, close_pair, link_parties, make_params
from ccnet.channels.updates import ChannelUpdate, UpdateKind
from ccnet.client import Keys

CC = 10**12
ALICE, BOB = Keys.from_uri("//Alice"), Keys.from_uri("//Bob")

Row = tuple[str, ...]


def table(header: Row, rows: list[Row]) -> str:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    return "\n".join(
        "  ".join(
            cell.ljust(w) if i == 0 else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        )
        for row in [header, *rows]
    )


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


# -- where the time goes ----------------------------------------------------------------


def timed(fn: Callable[[], object], count: int) -> list[float]:
    latencies = []
    for _ in range(count):
        start = time.perf_counter()
        fn()
        latencies.append(time.perf_counter() - start)
    return latencies


def store_commits(directory: Path, count: int, synchronous: str, name: str = "") -> list[float]:
    label = f"commit-{synchronous}{name}"
    params = make_params(ALICE, BOB, deposit_a=1000 * CC, label=f"bench-{label}")
    store = SqliteChannelStore(directory / f"{label}.db")
    store._db.execute(f"PRAGMA synchronous={synchronous}")  # FULL is the store's own setting
    record = ChannelRecord(params, Party.A, Phase.FUNDED, SignedState(params.opening_state()))
    store.persist_new_channel(record)
    signature = b"\1" * 64
    latencies = []
    for version in range(1, count + 1):
        state = ChannelState(params.channel_id, version, 1000 * CC - version, version)
        signed = SignedState(state, signature, signature)
        update = ChannelUpdate(params.channel_id, version, UpdateKind.COSIGNED, signed=signed)
        start = time.perf_counter()
        store.update_persisted_channel(update)
        latencies.append(time.perf_counter() - start)
    store.close()
    return latencies


def breakdown(count: int, directory: Path) -> list[Row]:
    params = make_params(ALICE, BOB, deposit_a=1000 * CC, label="bench-parts")
    state = ChannelState(params.channel_id, 7, 990 * CC, 10 * CC)
    genesis, key = params.genesis_hash, bytes(ALICE.public_key)
    signature = sign_state(ALICE, genesis, state)
    message = Propose(params.channel_id, genesis, 7, state.balance_a, state.balance_b, signature)
    parts = [
        ("sr25519 sign (sign_state)", timed(lambda: sign_state(ALICE, genesis, state), count)),
        (
            "sr25519 verify (verify_state)",
            timed(lambda: verify_state(key, genesis, state, signature), count),
        ),
        ("propose encode + decode", timed(lambda: decode(encode(message)), count)),
        ("store commit, fsync (FULL)", store_commits(directory, count, "FULL")),
        ("store commit, no fsync (OFF)", store_commits(directory, count, "OFF")),
    ]
    return [
        (
            name,
            str(len(values)),
            f"{statistics.median(values) * 1e6:,.0f}",
            f"{percentile(values, 0.99) * 1e6:,.0f}",
        )
        for name, values in parts
    ]


# -- throughput -------------------------------------------------------------------------


def summarize(name: str, batch: int, latencies: list[float]) -> Row:
    """*latencies*: one round trip each (``batch`` updates)."""
    updates = len(latencies) * batch
    p50 = statistics.median(latencies)
    return (
        name,
        str(batch),
        str(updates),
        f"{updates / sum(latencies):,.0f}",
        f"{p50 * 1e3:.3f}",
        f"{percentile(latencies, 0.99) * 1e3:.3f}",
        f"{p50 / batch * 1e6:,.0f}",
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


async def bench_parties(
    updates: int,
    batch: int,
    directory: Path,
    make_transports: Callable[[], Awaitable[tuple[Transport, Transport]]],
) -> list[float]:
    """Round-trip latencies of A paying B *updates* times, *batch* per round trip."""
    params = make_params(ALICE, BOB, deposit_a=1000 * CC, label=f"bench-{directory.name}")
    pair = await link_parties(directory, ALICE, BOB, params, transports=await make_transports())
    cid = params.channel_id
    latencies = []
    for _ in range(updates // batch):
        start = time.perf_counter()
        if batch == 1:
            await pair.a.pay(cid, 1000)
        else:
            await pair.a.pay_many(cid, [1000] * batch)
        latencies.append(time.perf_counter() - start)
    latest = pair.b.channel(cid).latest
    assert latest.version == updates // batch * batch == pair.a.channel(cid).latest.version
    assert len(pair.store_b.history(cid, limit=updates)) == latest.version
    await close_pair(pair)
    return latencies


class Transports:
    """Makes the transport pair of one run and cleans up after it."""

    async def __call__(self) -> tuple[Transport, Transport]:
        raise NotImplementedError

    async def close(self) -> None:
        pass


class MemoryPair(Transports):
    async def __call__(self) -> tuple[Transport, Transport]:
        return MemoryTransport.pair()


class TcpPair(Transports):
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


class WebRtcPair(Transports):
    """A (//Alice) dials B (//Bob)'s PeerListener on 127.0.0.1; each side's end is the
    session's ``channels`` data channel."""

    def __init__(self) -> None:
        from ccnet.client.net.webrtc import PeerListener, PeerSession

        self.done = asyncio.Event()
        self.accepted: asyncio.Queue[Transport] = asyncio.Queue()

        async def on_session(session: PeerSession) -> None:
            await self.accepted.put(session.transport("channels"))
            await self.done.wait()  # the session closes when this returns

        self.listener = PeerListener(BOB, on_session)
        self.session: PeerSession | None = None

    async def __call__(self) -> tuple[Transport, Transport]:
        from ccnet.client.net.webrtc import connect as rtc_connect

        await self.listener.start()
        self.session = await rtc_connect(self.listener.url, ALICE, str(BOB.ss58_address))
        return self.session.transport("channels"), await self.accepted.get()

    async def close(self) -> None:
        self.done.set()
        if self.session is not None:
            await self.session.close()
        await self.listener.close()


async def run(updates: int, batches: list[int], base: Path, webrtc: bool) -> list[Row]:
    rows = [summarize("state machine (no store, no I/O)", 1, bench_state_machine(updates))]
    latencies = store_commits(base, updates, "FULL", "-alone")
    rows.append(summarize("store commit alone (fsync)", 1, latencies))
    transports: list[tuple[str, Callable[[], Transports], list[int]]] = [
        ("memory", MemoryPair, batches),
        ("asyncio TCP 127.0.0.1", TcpPair, [1, max(batches)]),
    ]
    if webrtc:
        transports.append(("WebRTC 127.0.0.1 (aiortc)", WebRtcPair, [1, max(batches)]))
    for name, make, sizes in transports:
        for batch in sorted(set(sizes)):
            directory = base / f"{name.split()[0].lower()}-{batch}"
            directory.mkdir()
            pair = make()
            try:
                latencies = await bench_parties(updates, batch, directory, pair)
            finally:
                await pair.close()
            call = "pay" if batch == 1 else "pay_many"
            rows.append(summarize(f"parties, {name}, {call}", batch, latencies))
    return rows


# -- the event loop under payment load --------------------------------------------------

TICK = 0.010
"""The heartbeat-like ticker's period, seconds."""
ECHO_EVERY = 0.020
"""How often the job-like echo does a round trip, seconds."""


async def ticker(stop: asyncio.Event, lateness: list[float]) -> None:
    """Sleep one tick at a time and record how much longer each sleep took."""
    while not stop.is_set():
        start = time.perf_counter()
        await asyncio.sleep(TICK)
        lateness.append(time.perf_counter() - start - TICK)


async def echo_round_trips(stop: asyncio.Event, rtts: list[float]) -> None:
    near, far = MemoryTransport.pair()

    async def echo() -> None:
        try:
            while True:
                await far.send(await far.recv())
        except TransportClosedError:
            pass

    server = asyncio.create_task(echo())
    frame = b"\0\0\0\2{}"
    while not stop.is_set():
        start = time.perf_counter()
        await near.send(frame)
        await near.recv()
        rtts.append(time.perf_counter() - start)
        await asyncio.sleep(ECHO_EVERY)
    await near.close()
    await server


async def under_load(
    directory: Path, channels: int, seconds: float, *, store_thread: bool | None
) -> Row:
    """One row of the third table; *store_thread* None: no payments at all."""
    stop = asyncio.Event()
    lateness: list[float] = []
    rtts: list[float] = []
    tasks = [
        asyncio.create_task(ticker(stop, lateness)),
        asyncio.create_task(echo_round_trips(stop, rtts)),
    ]
    paid = 0

    async def pay(pair: PartyPair) -> None:
        nonlocal paid
        while not stop.is_set():
            await pair.a.pay(pair.channel_id, 1000)
            paid += 1

    pairs: list[PartyPair] = []
    if store_thread is not None:
        for i in range(channels):
            sub = directory / f"load-{store_thread}-{i}"
            sub.mkdir()
            params = make_params(ALICE, BOB, deposit_a=1000 * CC, label=f"load-{sub.name}")
            pairs.append(await link_parties(sub, ALICE, BOB, params, store_thread=store_thread))
        tasks += [asyncio.create_task(pay(pair)) for pair in pairs]
    await asyncio.sleep(seconds)
    stop.set()
    await asyncio.gather(*tasks)
    for pair in pairs:
        await close_pair(pair)
    name = {None: "no payments", False: "store on the loop", True: "store thread"}[store_thread]
    ms = [v * 1e3 for v in lateness]
    rtt = [v * 1e3 for v in rtts]
    return (
        name,
        str(channels if store_thread is not None else 0),
        f"{paid / seconds:,.0f}",
        f"{statistics.median(ms):.2f}",
        f"{percentile(ms, 0.99):.2f}",
        f"{max(ms):.2f}",
        f"{statistics.median(rtt):.2f}",
        f"{percentile(rtt, 0.99):.2f}",
        f"{max(rtt):.2f}",
    )


async def loop_latency(base: Path, channels: int, seconds: float) -> list[Row]:
    return [
        await under_load(base, channels, seconds, store_thread=mode) for mode in (None, False, True)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--updates", type=int, default=2048, help="updates per measurement")
    parser.add_argument(
        "--batches", default="1,8,32,64", help="batch sizes for the memory transport"
    )
    parser.add_argument("--dir", type=Path, default=None, help="where the stores live")
    parser.add_argument("--no-webrtc", action="store_true", help="skip the WebRTC rows")
    parser.add_argument(
        "--load-seconds", type=float, default=5.0, help="length of each loop-latency run"
    )
    parser.add_argument("--channels", type=int, default=4, help="channels paying at once")
    args = parser.parse_args()
    batches = [int(b) for b in args.batches.split(",")]
    with tempfile.TemporaryDirectory(dir=args.dir, prefix="ccnet-bench-channels-") as tmp:
        parts = breakdown(min(args.updates, 1000), Path(tmp))
        rows = asyncio.run(run(args.updates, batches, Path(tmp), not args.no_webrtc))
        load = asyncio.run(loop_latency(Path(tmp), args.channels, args.load_seconds))
    print(table(("one operation", "n", "median us", "p99 us"), parts))
    print()
    header = ("measurement", "batch", "updates", "updates/s", "ack p50 ms", "ack p99 ms")
    print(table((*header, "per update us"), rows))
    print()
    late = ("tick late p50 ms", "p99", "max", "echo rtt p50 ms", "p99", "max")
    print(table(("event loop under payments", "channels", "updates/s", *late), load))
    print(f"(stores in {args.dir or tempfile.gettempdir()})")


if __name__ == "__main__":
    main()
