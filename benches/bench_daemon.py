"""The worker daemon end to end, printed as a table.

    .venv/bin/python benches/bench_daemon.py [--url ws://...] [--jobs N] [--concurrent N]

Without ``--url`` a private dev chain (Chopsticks) is started and stopped. A fresh
worker key is funded from //Ferdie. Measured:

- ``daemon start``: chain connection, sandbox, self-benchmark (default settings: prime
  count below 2,000,000, best of 3), signaling + DHT, stake + register (2 extrinsics),
  DHT announcement, on-chain scan;
- ``session connect``: signed offer/answer, ICE, DTLS, SCTP, both data channels open;
- ``job round trip``: one ``prime_count 1000`` JobRequest -> signed JobResult over the
  data channel, one at a time (run ~0.1 ms, the rest is protocol, signing, transport);
- ``concurrent jobs``: N requests sent at once on one session, until the last reply;
- ``on-chain task``: post_task -> the daemon's ResultSubmitted seen on chain.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from pathlib import Path

from ccnet.client import CC, Chain, Keys
from ccnet.client.devchain import DEFAULT_SPEC, DevChain, find_root, free_port
from ccnet.client.jobs.catalogue import load_job, module_hash
from ccnet.client.jobs.jobspec import JobSpec
from ccnet.client.jobs.messages import JobRequest, JobResult, decode, decode_heartbeat, encode
from ccnet.client.net.webrtc import connect
from ccnet.worker.config import WorkerConfig
from ccnet.worker.daemon import DaemonConfig, WorkerDaemon


def row(name: str, count: int, values: list[float]) -> tuple[str, str, str, str, str]:
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]
    return (
        name,
        str(count),
        f"{statistics.median(values) * 1e3:.1f}",
        f"{p95 * 1e3:.1f}",
        f"{count / sum(values):,.1f}" if count > 1 else "-",
    )


async def bench(url: str, jobs: int, concurrent: int) -> list[tuple[str, str, str, str, str]]:
    worker, _ = Keys.generate()
    requester = Keys.from_uri("//Ferdie")
    with Chain(url) as chain:
        chain.transfer(requester, str(worker.ss58_address), 100 * CC)
        config = DaemonConfig(
            keypair=worker,
            url=url,
            state_dir=Path(tempfile.mkdtemp()),
            poll_interval=0.1,
            worker=WorkerConfig.from_env(free_jobs=True),  # unpaid round trips
        )
        rows = []
        began = time.perf_counter()
        async with WorkerDaemon(config) as daemon:
            rows.append(row("daemon start", 1, [time.perf_counter() - began]))
            began = time.perf_counter()
            session = await connect(daemon.ready.signaling_url, requester, daemon.address)
            rows.append(row("session connect", 1, [time.perf_counter() - began]))
            tasks = session.transport("tasks")
            prime = module_hash(load_job("prime_count"))

            async def reply() -> JobResult:
                while True:
                    data = await tasks.recv(timeout=60)
                    if decode_heartbeat(data) is None:
                        message = decode(data)
                        assert isinstance(message, JobResult), message
                        return message

            latencies = []
            for _ in range(jobs):
                began = time.perf_counter()
                await tasks.send(encode(JobRequest(os.urandom(16), prime, b"", ("1000",))))
                await reply()
                latencies.append(time.perf_counter() - began)
            rows.append(row("job round trip", jobs, latencies))

            began = time.perf_counter()
            for _ in range(concurrent):
                await tasks.send(encode(JobRequest(os.urandom(16), prime, b"", ("1000",))))
            for _ in range(concurrent):
                await reply()
            elapsed = time.perf_counter() - began
            rows.append(
                row(
                    f"concurrent jobs ({concurrent})",
                    concurrent,
                    [elapsed / concurrent] * concurrent,
                )
            )
            await session.close()

            spec = JobSpec.inline(prime, b"", ("1000",)).encode()
            deadline = chain.block_number() + 100
            began = time.perf_counter()
            task_id = await asyncio.to_thread(
                chain.tasks.post, requester, b"wasm", spec, b"", CC, deadline, 1
            )
            assert daemon.tasks is not None
            while task_id not in daemon.tasks.submitted:
                await asyncio.sleep(0.01)
            rows.append(row("on-chain task", 1, [time.perf_counter() - began]))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="an already running dev chain")
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--concurrent", type=int, default=50)
    args = parser.parse_args()
    devchain = None
    url = args.url
    if url is None:
        root = find_root()
        devchain = DevChain(
            root=root,
            spec=root / DEFAULT_SPEC,
            state_dir=Path(tempfile.mkdtemp()),
            port=free_port(),
        )
        url = devchain.start().url
    try:
        rows = asyncio.run(bench(url, args.jobs, args.concurrent))
    finally:
        if devchain is not None:
            devchain.stop()
    header = ("measure", "n", "median ms", "p95 ms", "per s")
    widths = [max(len(r[i]) for r in (header, *rows)) for i in range(len(header))]
    for line in (header, *rows):
        print("  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)))


if __name__ == "__main__":
    main()
