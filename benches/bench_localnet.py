"""Start-up of a local ccnet-node validator network, printed as a table.

    .venv/bin/python benches/bench_localnet.py [--validators N] [--cold]

Starts N validators (:class:`ccnet.client.localnet.LocalNetwork`, default 4) with
temporary state on free 127.0.0.1 ports and measures, in seconds from the call to
``start()``: when ``start()`` returned (every node answers RPC and has block #1), and
when each node first saw a finalized block (#1 or later). ``--cold`` uses an empty
compiled-runtime cache, so the first node compiles the runtime (a debug build: about a
minute or more); by default the shared cache is used (compiled once). Blocks are 6 s
Aura slots: first-block and finality times include up to a slot of waiting.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from ccnet.client.localnet import BLOCK_TIME_MS, LocalNetwork


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--validators", type=int, default=4)
    parser.add_argument("--cold", action="store_true", help="an empty runtime cache")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ccnet-bench-localnet-") as tmp:
        cache = Path(tmp) / "wasm-cache" if args.cold else None
        net = LocalNetwork(args.validators, state_dir=Path(tmp) / "net", wasm_cache=cache)
        t0 = time.monotonic()
        with net:
            started = time.monotonic() - t0
            finalized: dict[str, float] = {}
            names = [n.name for n in net.info.nodes]
            deadline = time.monotonic() + 30 * BLOCK_TIME_MS / 1000
            while len(finalized) < len(names) and time.monotonic() < deadline:
                for name in names:
                    if name not in finalized and net.finalized_number(name) >= 1:
                        finalized[name] = time.monotonic() - t0
                time.sleep(0.2)
    cache_kind = "cold (compiles the runtime)" if args.cold else "shared (warm after a first run)"
    print(f"local network, {args.validators} validators, runtime cache {cache_kind}")
    print(f"{'event':<48} {'s after start()':>16}")
    print(f"{'every node answers RPC and has block #1':<48} {started:>16.1f}")
    for name in names:
        final = f"{finalized[name]:.1f}" if name in finalized else "none"
        print(f"{'first finalized block on ' + name:<48} {final:>16}")


if __name__ == "__main__":
    main()
