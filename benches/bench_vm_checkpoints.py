"""VM checkpoint benchmarks (docs/vm-checkpoints.md), printed as two tables.

    .venv/bin/python benches/bench_vm_checkpoints.py [--runs N]

Needs the built job modules (``bash scripts/build-jobs.sh``, which also keeps the
uninstrumented ones in ``<jobs dir>/plain``) and Binaryen's ``wasm-opt``.

1. Images of a job with 1, 16 and 255 MiB of touched memory (a small WAT module with one
   safe point, instrumented here with ``wasm-opt --asyncify``; 255 so that it fits the
   sandbox's default 256 MiB cap): the image size (encoded, and sealed), and the time to
   snapshot (unwind and copy memory out), encode, seal, write to the local cache and
   fsync, then to read, unseal, decode and restore it (instantiate, write memory back,
   rewind, run to the end: "resume from the local cache").
2. The cost of instrumentation: each checkpointable built-in job, plain and instrumented,
   in fuel and wall-clock time (best of N runs).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import wasmtime

from ccnet.client.jobs.catalogue import jobs_dir, load_job
from ccnet.worker.modules import CompiledModule
from ccnet.worker.sandbox import RunOutcome, Sandbox, SuspendedRun
from ccnet.worker.vmcheckpoint import (
    CheckpointPolicy,
    VmImage,
    decode,
    encode,
    new_key,
    seal,
    unseal,
)
from ccnet.worker.vmcheckpoint.host import SafePoints

MIB = 1 << 20
SIZES_MIB = (1, 16, 255)
WAT = """
(module
  (import "ccnet" "safepoint" (func $safepoint (param i32 i32)))
  (memory (export "memory") {pages})
  (global $sp (export "__stack_pointer") (mut i32) (i32.const 4096))
  (func (export "_start") (local $at i32)
    ;; touch every page: one word every 256 bytes, after the unwind buffer at 0..4096
    (local.set $at (i32.const 4096))
    (block $done (loop $fill
      (br_if $done (i32.ge_u (local.get $at) (i32.const {size})))
      (i32.store (local.get $at) (i32.mul (local.get $at) (i32.const -1640531535)))
      (local.set $at (i32.add (local.get $at) (i32.const 256)))
      (br $fill)))
    (call $safepoint (i32.const 0) (i32.const 4096))
    (global.set $sp (i32.add (global.get $sp) (i32.const 1)))))
"""
ASYNCIFY = (
    "--enable-mutable-globals",
    "--asyncify",
    "--pass-arg=asyncify-imports@ccnet.safepoint",
    "--pass-arg=asyncify-relocatable",  # Asyncify's globals: the host's (docs/vm-checkpoints.md)
    "-O1",
)


def memory_job(mib: int, workdir: Path) -> bytes:
    plain, instrumented = workdir / f"mem{mib}.wasm", workdir / f"mem{mib}.async.wasm"
    plain.write_bytes(wasmtime.wat2wasm(WAT.format(pages=mib * 16, size=mib * MIB)))
    subprocess.run(
        ["wasm-opt", str(plain), *ASYNCIFY, "-o", str(instrumented)],
        check=True,
        timeout=120,
    )
    return instrumented.read_bytes()


def ms(values: list[float]) -> str:
    return f"{statistics.median(values) * 1000:.1f}"


class SnapshotTimer:
    """Times :meth:`SafePoints.capture` (the unwind's end and the copy of memory out)."""

    def __init__(self) -> None:
        self.times: list[float] = []
        self._original = SafePoints.capture

    def __enter__(self) -> SnapshotTimer:
        original, times = self._original, self.times

        def capture(points: SafePoints, *args: Any, **kw: Any) -> VmImage:
            began = time.perf_counter()
            try:
                return original(points, *args, **kw)
            finally:
                times.append(time.perf_counter() - began)

        SafePoints.capture = capture  # type: ignore[method-assign]
        return self

    def __exit__(self, *exc: object) -> None:
        SafePoints.capture = self._original  # type: ignore[method-assign]


def one_image(box: Sandbox, module: CompiledModule, key: bytes, path: Path) -> dict[str, Any]:
    """Suspend *module* at its safe point, store the sealed image at *path*, resume it."""
    run = box.run_checkpointed(module, policy=CheckpointPolicy(suspend_at_fuel=1))
    assert isinstance(run, SuspendedRun)
    times: dict[str, Any] = {}
    began = time.perf_counter()
    encoded = encode(run.image)
    times["encode"] = time.perf_counter() - began
    began = time.perf_counter()
    sealed = seal(encoded, key)
    times["seal"] = time.perf_counter() - began
    began = time.perf_counter()
    write_durably(path, sealed)
    times["store"] = time.perf_counter() - began
    began = time.perf_counter()
    image = decode(unseal(path.read_bytes(), key))
    times["load"] = time.perf_counter() - began
    began = time.perf_counter()
    done = box.run_checkpointed(module, policy=CheckpointPolicy(), resume=image)
    times["resume"] = time.perf_counter() - began
    assert isinstance(done, RunOutcome)
    times["total"] = times["load"] + times["resume"]
    times["sizes"] = (len(encoded), len(sealed))
    return times


def image_rows(box: Sandbox, runs: int, workdir: Path) -> list[tuple[str, ...]]:
    rows = []
    key = new_key()
    for mib in SIZES_MIB:
        module = box.compile(memory_job(mib, workdir))
        with SnapshotTimer() as snapshot:
            samples = [one_image(box, module, key, workdir / f"{mib}.sealed") for _ in range(runs)]
        image_bytes, sealed_bytes = samples[-1]["sizes"]
        columns = ("encode", "seal", "store", "load", "resume", "total")
        rows.append(
            (
                f"{mib} MiB",
                f"{image_bytes / MIB:.2f}",
                f"{sealed_bytes / MIB:.2f}",
                ms(snapshot.times),
                *(ms([sample[c] for sample in samples]) for c in columns),
            )
        )
    return rows


def best_run(
    box: Sandbox, module: CompiledModule, args: list[str], stdin: bytes, runs: int
) -> float:
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        box.run(module, args=args, stdin=stdin)
        times.append(time.perf_counter() - began)
    return min(times)


def slowdown_rows(box: Sandbox, runs: int) -> list[tuple[str, ...]]:
    cases = {
        "prime_count": (["20000000"], b""),
        "sha256sum": ([], os.urandom(16 * MIB)),
        "matmul": ([], _matmul(192)),
    }
    rows = []
    for name, (args, stdin) in cases.items():
        plain = box.compile((jobs_dir() / "plain" / f"{name}.wasm").read_bytes())
        instrumented = box.compile(load_job(name))
        results = {}
        for label, module in (("plain", plain), ("instrumented", instrumented)):
            outcome = box.run(module, args=args, stdin=stdin)
            results[label] = (outcome, best_run(box, module, args, stdin, runs), module.size)
        (p_out, p_t, p_size), (i_out, i_t, i_size) = results["plain"], results["instrumented"]
        assert p_out.stdout == i_out.stdout
        rows.append(
            (
                name,
                f"{p_size / 1024:.0f} / {i_size / 1024:.0f}",
                f"{p_out.fuel_used:,} / {i_out.fuel_used:,}",
                f"{(i_out.fuel_used / p_out.fuel_used - 1) * 100:+.1f} %",
                f"{p_t * 1000:.1f} / {i_t * 1000:.1f}",
                f"{(i_t / p_t - 1) * 100:+.0f} %",
            )
        )
    return rows


def _matmul(n: int) -> bytes:
    return n.to_bytes(4, "little") + os.urandom(8 * n * n)


def write_durably(path: Path, data: bytes) -> None:
    with path.open("wb") as file:
        file.write(data)
        file.flush()
        os.fsync(file.fileno())


def table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    line = lambda r: "  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True))  # noqa: E731
    return "\n".join([line(header), line(tuple("-" * w for w in widths)), *map(line, rows)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    runs = parser.parse_args().runs
    with tempfile.TemporaryDirectory() as tmp, Sandbox() as box:
        print("VM checkpoint images (median of", runs, "runs; times in ms)\n")
        header = ("memory", "image MiB", "sealed MiB", "snapshot", "encode", "seal",
                  "store+fsync", "read+unseal+decode", "restore+finish",
                  "resume from cache")  # fmt: skip
        print(table(header, image_rows(box, runs, Path(tmp))))
        print("\nInstrumentation (Asyncify) cost: plain / instrumented (best of", runs, "runs)\n")
        header = ("job", "KiB", "fuel", "fuel +", "ms", "time +")
        print(table(header, slowdown_rows(box, runs)))


if __name__ == "__main__":
    main()
