"""Latency and throughput of ccnet.client against a dev chain; prints a table.

    .venv/bin/python benches/client_submit.py            # starts its own dev chain
    .venv/bin/python benches/client_submit.py --url ws://127.0.0.1:8000

Chopsticks builds one block per extrinsic (Instant mode), so submit numbers are bounded
by its block building, not by the client.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from rich.console import Console
from rich.table import Table

from ccnet.client import CC, Chain, DevChain, Keys
from ccnet.client.devchain import free_port


def timed(fn: Callable[[], object], runs: int) -> list[float]:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def bench(url: str, runs: int, threads: int, each: int) -> Table:
    table = Table("operation", "runs", "median ms", "p90 ms", "throughput /s", title=url)

    def row(name: str, samples: list[float], per_second: float | None = None) -> None:
        p90 = statistics.quantiles(samples, n=10)[-1] if len(samples) > 1 else samples[0]
        rate = f"{per_second:.1f}" if per_second else f"{1000 / statistics.median(samples):.1f}"
        table.add_row(
            name, str(len(samples)), f"{statistics.median(samples):.1f}", f"{p90:.1f}", rate
        )

    row("connect (Chain + metadata)", timed(lambda: Chain(url).close(), 3))
    with Chain(url) as chain:
        alice = Keys.from_uri("//Alice")
        who, _ = Keys.generate()
        chain.transfer(alice, str(who.ss58_address), 100 * CC)
        row("query Credits.Stakes", timed(lambda: chain.credits.stake_of(alice.ss58_address), runs))
        row("free_balance", timed(lambda: chain.free_balance(alice.ss58_address), runs))
        remark = {"remark": b"bench"}
        row(
            "submit remark (inclusion)",
            timed(lambda: chain.submit(who, "System", "remark", remark), runs),
        )
        total = threads * each
        start = time.perf_counter()
        with ThreadPoolExecutor(threads) as pool:
            list(
                pool.map(
                    lambda _: [chain.submit(who, "System", "remark", remark) for _ in range(each)],
                    range(threads),
                )
            )
        elapsed = time.perf_counter() - start
        row(
            f"submit, {threads} threads x {each}", [elapsed * 1000 / total] * total, total / elapsed
        )
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", help="use this chain instead of starting a dev chain")
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--each", type=int, default=3)
    args = parser.parse_args()
    if args.url:
        Console().print(bench(args.url, args.runs, args.threads, args.each))
        return
    with tempfile.TemporaryDirectory() as state:
        dev = DevChain(state_dir=Path(state), port=free_port())
        info = dev.start()
        try:
            Console().print(bench(info.url, args.runs, args.threads, args.each))
        finally:
            dev.stop()


if __name__ == "__main__":
    main()
