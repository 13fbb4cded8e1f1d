"""The worker's performance targets, printed as a table.

    .venv/bin/python benches/bench_worker_targets.py [--n N] [--runs R] [--nodes K]
                                                     [--lookups L] [--round-trips M]
                                                     [--parts abc]

Needs the built job modules and their native references (``bash scripts/build-jobs.sh``).
Everything runs in this process on 127.0.0.1 and stops by itself. Measured:

- **(a) prime count, Wasm vs native** (target: Wasm with fuel within 2x native): the
  built-in ``prime_count N`` job (default N = 10^8), best of R runs, as the host build
  (``<jobs dir>/native/prime_count``, a subprocess: includes about a millisecond of
  process start), in the worker's sandbox (Wasmtime, fuel metering and epoch deadlines
  on, a cached compiled module), and in a plain Wasmtime engine with the same Cranelift
  settings but no fuel and no epochs (what metering costs).
- **(b) DHT lookup, K = 200 nodes** (target: at most 1 s): K in-process
  :class:`~ccnet.client.net.dht.DhtNode` s on UDP 127.0.0.1, each joining through a random
  earlier node; 20 workers announce ``sha256sum`` from random nodes; then L lookups
  from random nodes: one key (``DhtNode.get``: a Kademlia value lookup on the k closest
  nodes, records verified) and a whole ``CapabilityDirectory.find`` (all 16 keys of
  the query at once). The records found are counted (all 20 expected).
- **(c) job round trip over WebRTC**: the daemon's real job handler
  (:class:`~ccnet.worker.jobhandler.JobSessionHandler`, sandbox, signed results)
  behind a :class:`~ccnet.client.net.webrtc.PeerListener`; a requester sends M
  ``prime_count 1000`` requests one at a time (p50/p99 round trip), then 64 at once
  (jobs per second). No chain: ``benches/bench_daemon.py`` measures the whole daemon
  (registration, payment-free round trips, on-chain tasks) against a dev chain.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import wasmtime

from ccnet.client import Keys
from ccnet.client.jobs.catalogue import load_job, module_hash, native_job
from ccnet.client.jobs.messages import JobRequest, JobResult, decode, decode_heartbeat, encode
from ccnet.client.net.dht import CapabilityDirectory, DhtNode
from ccnet.client.net.records import Capability
from ccnet.client.net.webrtc import PeerListener, connect
from ccnet.worker.config import SandboxConfig
from ccnet.worker.executor import JobExecutor, ModuleStore
from ccnet.worker.jobhandler import JobSessionHandler
from ccnet.worker.sandbox import Sandbox

Row = tuple[str, str, str, str, str]
"""measure, n, median/best, p99/worst, note."""


def best(fn: Callable[[], object], runs: int) -> tuple[float, object]:
    """Fastest of *runs* calls of *fn* (seconds) and the last result."""
    times, result = [], None
    for _ in range(runs):
        began = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - began)
    return min(times), result


def pct(samples: list[float], q: float) -> float:
    """The *q* quantile (0..1) of *samples*, nearest rank."""
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def plain_engine_run(wasm: bytes, args: list[str], tmp: Path) -> Callable[[], bytes]:
    """A runner of *wasm* in a Wasmtime engine with the sandbox's Cranelift settings but
    neither fuel nor epoch interruption; returns stdout."""
    config = wasmtime.Config()
    config.cranelift_opt_level = "speed"
    config.cranelift_nan_canonicalization = True
    engine = wasmtime.Engine(config)
    module = wasmtime.Module(engine, wasm)
    out = tmp / "plain.out"

    def run() -> bytes:
        store = wasmtime.Store(engine)
        wasi = wasmtime.WasiConfig()
        wasi.argv = ["job", *args]
        wasi.stdout_file = str(out)
        store.set_wasi(wasi)
        linker = wasmtime.Linker(engine)
        linker.define_wasi()
        start = linker.instantiate(store, module).exports(store)["_start"]
        assert isinstance(start, wasmtime.Func)
        try:
            start(store)
        except wasmtime.ExitTrap as err:
            assert err.code == 0
        return out.read_bytes()

    return run


def bench_prime(n: int, runs: int) -> list[Row]:
    args = [str(n)]
    native = native_job("prime_count")
    wasm = load_job("prime_count")

    def run_native() -> bytes:
        done = subprocess.run([str(native), *args], capture_output=True, check=True, env={})
        return done.stdout

    with tempfile.TemporaryDirectory() as tmp:
        native_s, expected = best(run_native, runs)
        with Sandbox(SandboxConfig(cache_dir=Path(tmp) / "cache")) as box:
            module = box.compile(wasm)
            fuel_s, outcome = best(lambda: box.run(module, args=args), runs)
        plain_s, plain_out = best(plain_engine_run(wasm, args, Path(tmp)), runs)
    fuel_out = getattr(outcome, "stdout", None)
    assert expected == fuel_out == plain_out, (expected, fuel_out, plain_out)
    fuel = getattr(outcome, "fuel_used", 0)
    answer = expected.decode().strip() if isinstance(expected, bytes) else "?"
    label = f"(a) prime_count {n:.0e} = {answer}"
    return [
        (f"{label}: native", str(runs), f"{native_s * 1e3:.1f}", "-", "1.00x"),
        (
            f"{label}: sandbox (fuel on)",
            str(runs),
            f"{fuel_s * 1e3:.1f}",
            "-",
            f"{fuel_s / native_s:.2f}x native; {fuel / fuel_s / 1e9:.2f} Gfuel/s",
        ),
        (
            f"{label}: wasmtime, no fuel",
            str(runs),
            f"{plain_s * 1e3:.1f}",
            "-",
            f"{plain_s / native_s:.2f}x native; fuel costs {fuel_s / plain_s:.2f}x",
        ),
    ]


async def bench_dht(count: int, lookups: int) -> list[Row]:
    rng = random.Random(4)
    nodes: list[DhtNode] = []
    directories: list[CapabilityDirectory] = []
    rows: list[Row] = []
    try:
        began = time.perf_counter()
        for i in range(count):
            node = DhtNode(rpc_timeout=2.0)
            nodes.append(node)
            await node.start(bootstrap=[rng.choice(nodes[:i]).address] if i else [])
        joined = time.perf_counter() - began
        workers = 20
        for i in range(workers):
            directory = CapabilityDirectory(rng.choice(nodes), Keys.from_uri(f"//Worker{i}"))
            directories.append(directory)
            await directory.announce(
                Capability("sha256sum", (i + 1) * 10**8, 10 * (i + 1)),
                f"http://127.0.0.1:{9000 + i}/offer",
            )
        key = nodes[0].keying.announce_key(Capability("sha256sum", 10**8, 10))
        single, full, found_single, found_full = [], [], [], []
        for _ in range(lookups):
            node = rng.choice(nodes)
            began = time.perf_counter()
            records = await node.get(key)
            single.append(time.perf_counter() - began)
            found_single.append(len(records))
            began = time.perf_counter()
            found = await CapabilityDirectory(node).find("sha256sum")
            full.append(time.perf_counter() - began)
            found_full.append(len(found))
        rows.append((f"(b) DHT join, {count} nodes", str(count), "-", "-", f"{joined:.1f} s total"))
        for name, samples, counts in (
            ("one key (DhtNode.get)", single, found_single),
            ("find, all 16 keys", full, found_full),
        ):
            rows.append(
                (
                    f"(b) DHT lookup, {count} nodes: {name}",
                    str(lookups),
                    f"{statistics.median(samples) * 1e3:.1f}",
                    f"{pct(samples, 0.99) * 1e3:.1f}",
                    f"max {max(samples) * 1e3:.0f} ms; records found {min(counts)}-{max(counts)}",
                )
            )
    finally:
        for directory in directories:
            await directory.close()
        for node in nodes:
            await node.close()
    return rows


async def bench_round_trip(round_trips: int, burst: int) -> list[Row]:
    worker, requester = Keys.from_uri("//Bob"), Keys.from_uri("//Alice")
    rows: list[Row] = []
    with (
        tempfile.TemporaryDirectory() as tmp,
        Sandbox(SandboxConfig(cache_dir=Path(tmp) / "cache")) as box,
    ):
        executor = JobExecutor(box, worker, ModuleStore(None), max_jobs=2)
        handler = JobSessionHandler(executor, worker, free_jobs=True)  # unpaid round trips
        prime = module_hash(load_job("prime_count"))
        async with PeerListener(worker, handler) as listener:
            began = time.perf_counter()
            session = await connect(listener.url, requester, str(worker.ss58_address))
            setup = time.perf_counter() - began
            tasks = session.transport("tasks")

            async def reply() -> None:
                while True:
                    data = await tasks.recv(timeout=60)
                    if decode_heartbeat(data) is None:
                        message = decode(data)
                        assert isinstance(message, JobResult), message
                        return

            try:
                samples = []
                for _ in range(round_trips):
                    began = time.perf_counter()
                    await tasks.send(encode(JobRequest(os.urandom(16), prime, b"", ("1000",))))
                    await reply()
                    samples.append(time.perf_counter() - began)
                began = time.perf_counter()
                for _ in range(burst):
                    await tasks.send(encode(JobRequest(os.urandom(16), prime, b"", ("1000",))))
                for _ in range(burst):
                    await reply()
                elapsed = time.perf_counter() - began
            finally:
                await session.close()
        await executor.close()
    rows.append(("(c) WebRTC session setup", "1", f"{setup * 1e3:.1f}", "-", ""))
    rows.append(
        (
            "(c) job round trip (prime_count 1000)",
            str(round_trips),
            f"{statistics.median(samples) * 1e3:.2f}",
            f"{pct(samples, 0.99) * 1e3:.2f}",
            f"{len(samples) / sum(samples):.0f} jobs/s one at a time",
        )
    )
    rows.append(
        (
            f"(c) {burst} jobs sent at once",
            str(burst),
            "-",
            "-",
            f"{burst / elapsed:.0f} jobs/s ({elapsed * 1e3:.0f} ms)",
        )
    )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=10**8, help="prime_count N")
    parser.add_argument("--runs", type=int, default=5, help="runs per prime count (best)")
    parser.add_argument("--nodes", type=int, default=200, help="DHT nodes")
    parser.add_argument("--lookups", type=int, default=30, help="DHT lookups measured")
    parser.add_argument("--round-trips", type=int, default=300, help="job round trips")
    parser.add_argument("--parts", default="abc", help="which measures to run: a, b and/or c")
    args = parser.parse_args()
    rows: list[Row] = []
    if "a" in args.parts:
        rows += bench_prime(args.n, args.runs)
    if "b" in args.parts:
        rows += asyncio.run(bench_dht(args.nodes, args.lookups))
    if "c" in args.parts:
        rows += asyncio.run(bench_round_trip(args.round_trips, 64))
    header: Row = ("measure", "n", "median/best ms", "p99 ms", "note")
    widths = [max(len(r[i]) for r in (header, *rows)) for i in range(len(header))]
    for line in (header, *rows):
        print("  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip())


if __name__ == "__main__":
    main()
