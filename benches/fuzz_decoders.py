"""Fuzz every decoder that reads a peer's bytes under libFuzzer (atheris); print a table.

    .venv/bin/python benches/fuzz_decoders.py [--runs N] [--targets a,b] [--jobs N]
                                              [--seed S] [--no-instrument]

The targets are those of ``tests/fuzz`` (channel frames, channel admission by parties
with durable stores, job messages, signed results, heartbeats, job specs, signaling,
DHT records, data-channel framing): structure-aware mutations of valid messages signed
with real keys, and the decoders' properties (see ``tests/fuzz/__init__.py``). Each
target runs ``--runs`` inputs (default 10**6) in a process of its own (libFuzzer's loop
runs once per process), coverage-guided: ccnet is imported under atheris'
instrumentation unless ``--no-instrument``. A crash does not stop the run: the input is
saved to ``--crash-dir`` (default ``.state/fuzz/crashes``) and counted; every count
must be 0 (the exit status is 1 otherwise). Stores and logs go to ``--workdir``
(default: a fresh directory in /dev/shm, where fsync costs nothing, so the numbers
measure the decoders rather than the disk); ``<target>.progress`` there holds the
counts so far (every 10,000 inputs).

Columns: inputs run, inputs per second (from the first input to the last, setup
excluded), crashes.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))  # the harnesses live in tests/fuzz

from fuzz import TARGETS  # noqa: E402 (after the path; imports no ccnet code)

Row = tuple[str, str, str, str]


def child(args: argparse.Namespace) -> None:
    """Run one target under libFuzzer in this process (exits through libFuzzer)."""
    import atheris
    from fuzz.harness import fuzz, load

    workdir = Path(args.workdir) / args.child
    if args.instrument:
        with atheris.instrument_imports(include=["ccnet"]):
            target = load(args.child, workdir)
    else:
        target = load(args.child, workdir)
    progress = Path(args.workdir) / f"{args.child}.progress"
    fuzz(target, runs=args.runs, seed=args.seed, crash_dir=Path(args.crash_dir), progress=progress)


def run_target(name: str, args: argparse.Namespace) -> Row:
    """Start the child for *name* and read its result line."""
    command = [sys.executable, __file__, "--child", name, "--runs", str(args.runs)]
    command += ["--seed", str(args.seed), "--workdir", args.workdir]
    command += ["--crash-dir", args.crash_dir]
    command += [] if args.instrument else ["--no-instrument"]
    log = Path(args.workdir) / f"{name}.log"
    started = time.perf_counter()
    with log.open("w") as stderr:
        done = subprocess.run(command, stdout=subprocess.PIPE, stderr=stderr, text=True)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if not lines:
        took = time.perf_counter() - started
        print(f"{name}: no result after {took:.0f} s (exit {done.returncode}); see {log}")
        return name, "-", "-", "failed"
    result = json.loads(lines[-1])
    rate = result["inputs"] / result["seconds"]
    print(f"{name}: {result['inputs']} inputs, {rate:,.0f}/s, {result['crashes']} crashes")
    return name, f"{result['inputs']:,}", f"{rate:,.0f}", str(result["crashes"])


def table(rows: list[Row]) -> str:
    header: Row = ("target", "inputs", "inputs/s", "crashes")
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(4)]
    lines = []
    for row in [header, *rows]:
        cells = [row[0].ljust(widths[0])]
        cells += [cell.rjust(width) for cell, width in zip(row[1:], widths[1:], strict=True)]
        lines.append("  ".join(cells))
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10**6, help="inputs per target")
    parser.add_argument("--targets", default=",".join(TARGETS), help="comma-separated")
    parser.add_argument("--jobs", type=int, default=1, help="targets run at once")
    parser.add_argument("--seed", type=int, default=1, help="libFuzzer's -seed")
    parser.add_argument("--no-instrument", dest="instrument", action="store_false")
    shm = Path("/dev/shm")
    parser.add_argument("--workdir", default=None, help="stores and logs")
    parser.add_argument("--crash-dir", default=str(ROOT / ".state" / "fuzz" / "crashes"))
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.workdir is None:
        args.workdir = tempfile.mkdtemp(prefix="ccnet-fuzz-", dir=shm if shm.is_dir() else None)
    Path(args.workdir).mkdir(parents=True, exist_ok=True)
    if args.child is not None:
        child(args)
        return
    names = [name.strip() for name in args.targets.split(",") if name.strip()]
    unknown = sorted(set(names) - set(TARGETS))
    if unknown:
        parser.error(f"unknown targets {unknown}; known: {', '.join(TARGETS)}")
    print(f"{len(names)} targets x {args.runs:,} inputs, {args.jobs} at once, pid {os.getpid()}")
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        rows = list(pool.map(lambda name: run_target(name, args), names))
    print()
    print(table(rows))
    print(f"\nlogs in {args.workdir}; crashes saved to {args.crash_dir}")
    if any(row[3] != "0" for row in rows):
        sys.exit(1)


if __name__ == "__main__":
    main()
