"""Checkpoint storage benchmarks, printed as a table.

    .venv/bin/python benches/bench_storage.py [--runs N]

Starts its own dev chain (Chopsticks, Instant blocks) and arlocal on free 127.0.0.1
ports with temporary state, saves for //Alice, and measures:

- restore of a 256 KiB checkpoint from the local cache (target <= 10 ms): the whole
  ``CheckpointStore.restore()`` (chain read of Latest + cache read + hash check), and
  the cache read + hash check alone;
- save through arlocal and record on chain (upload, mine, re-fetch and verify, record);
- fetch and verify from the gateway (cache cleared before each run).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from ccnet.client import Chain, Keys
from ccnet.client.devchain import DevChain, find_root, free_port
from ccnet.storage import (
    ArweaveGateway,
    ArweaveWallet,
    Checkpoint,
    CheckpointStore,
    DevGateway,
    LocalCache,
)

KIB = 1024
TARGET_CACHE_RESUME_MS = 10.0


def measure(
    run: Callable[[], object], runs: int, setup: Callable[[], object] | None = None
) -> list[float]:
    """Milliseconds of each of *runs* calls of *run* (each after *setup*, not timed)."""
    times = []
    for _ in range(runs):
        if setup:
            setup()
        start = time.perf_counter()
        run()
        times.append((time.perf_counter() - start) * 1000)
    return times


def row(name: str, size: int, times: list[float]) -> str:
    ordered = sorted(times)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return (
        f"| {name:<44} | {size // KIB:>6} KiB | {len(times):>4} | {statistics.median(times):>9.2f} "
        f"| {p95:>9.2f} | {ordered[0]:>9.2f} |"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="runs of each save/fetch size")
    args = parser.parse_args()
    root = find_root(Path(__file__).resolve().parent)
    lines = []
    with tempfile.TemporaryDirectory(prefix="ccnet-bench-storage-") as tmp:
        state = Path(tmp)
        chain_dev = DevChain(root=root, state_dir=state / "chain", port=free_port())
        gateway_dev = DevGateway(root=root, state_dir=state / "arlocal", port=free_port())
        with chain_dev as chain_info, gateway_dev as gateway_info:
            alice = Keys.from_uri("//Alice")
            wallet = ArweaveWallet.generate()
            with Chain(chain_info.url) as chain, ArweaveGateway(gateway_info.url, dev=True) as gw:
                gw.mint(wallet.address, 10**18)
                store = CheckpointStore(chain, alice, gw, wallet, LocalCache(state / "cache"))

                data = os.urandom(256 * KIB)
                saved = store.save(Checkpoint(data))
                assert store.restore() == data
                lines.append(
                    row(
                        "resume from local cache: restore()", len(data), measure(store.restore, 100)
                    )
                )
                lines.append(
                    row(
                        "  cache read + blake2b check only",
                        len(data),
                        measure(lambda: store.cache.get(saved.state_hash), 200),
                    )
                )
                resume_median = statistics.median(measure(store.restore, 100))

                for size in (256 * KIB, 1024 * KIB, 5 * 1024 * KIB):

                    def save(size: int = size) -> object:
                        return store.save(Checkpoint(os.urandom(size)))

                    lines.append(
                        row("save via arlocal + record on chain", size, measure(save, args.runs))
                    )
                    lines.append(
                        row(
                            "fetch + verify from the gateway",
                            size,
                            measure(store.restore, args.runs, setup=store.cache.clear),
                        )
                    )
    header = (
        f"| {'benchmark':<44} | {'size':>10} | {'runs':>4} | {'median ms':>9} | {'p95 ms':>9} "
        f"| {'min ms':>9} |"
    )
    print(header)
    print("|" + "|".join("-" * (len(c)) for c in header.split("|")[1:-1]) + "|")
    print("\n".join(lines))
    verdict = "meets" if resume_median <= TARGET_CACHE_RESUME_MS else "MISSES"
    print(
        f"\nresume of 256 KiB from the cache: median {resume_median:.2f} ms, {verdict} the "
        f"<= {TARGET_CACHE_RESUME_MS:.0f} ms target"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
