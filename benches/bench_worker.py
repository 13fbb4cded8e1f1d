"""Worker execution benchmarks, printed as a table.

    .venv/bin/python benches/bench_worker.py [--runs N]

Needs the built job modules (``bash scripts/build-jobs.sh``) and scikit-image's
bundled photographs. Measured in the real Wasmtime sandbox (default limits, a
private artifact cache in a temporary directory):

- ``startup``: one whole run of a cached module doing nothing (``prime_count 0``):
  store, WASI context, linker, instantiation, stdin file, teardown;
- ``compile resize.wasm``: Cranelift compilation of the largest job, and loading the
  same module from its serialized artifact (a restarted worker);
- ``prime count``: count the primes below 10^7, fuel per second (best run);
- ``sha256``: SHA-256 of 16 MiB through stdin, MB/s;
- ``resize``: one real photograph (PNG or JPEG, 0.1-0.8 MB) to fit 256x256, per image;
- ``self-benchmark``: the worker's start-up benchmark and its speed multiplier.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

from ccnet.client.jobs.catalogue import load_job
from ccnet.worker.benchmark import run_benchmark
from ccnet.worker.config import SandboxConfig
from ccnet.worker.sandbox import Sandbox

PHOTOS = ("astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg", "hubble_deep_field.jpg")


def timed(fn: Callable[[], object], runs: int) -> list[float]:
    """Wall-clock seconds of *runs* calls of *fn*."""
    out = []
    for _ in range(runs):
        began = time.perf_counter()
        fn()
        out.append(time.perf_counter() - began)
    return out


def photo_paths() -> list[Path]:
    spec = importlib.util.find_spec("skimage")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("scikit-image is not installed (pip install -e '.[dev]')")
    data = Path(next(iter(spec.submodule_search_locations))) / "data"
    return [data / name for name in PHOTOS]


def run(runs: int, cache: Path) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = []
    prime, sha, resize = load_job("prime_count"), load_job("sha256sum"), load_job("resize")
    with Sandbox(SandboxConfig(cache_dir=cache)) as box:
        module = box.compile(prime)
        box.run(module, args=["0"])
        times = timed(lambda: box.run(module, args=["0"]), runs * 20)
        rows.append(("startup (cached module, empty job)", f"{len(times)}", ms(times), "-"))

        # a fresh engine per compilation so no cache answers
        compile_times: list[float] = []
        for _ in range(max(2, runs // 2)):
            with Sandbox(SandboxConfig(cache_dir=None, disk_cache=False)) as fresh:
                compile_times.extend(timed(partial(fresh.compile, resize), 1))
        rows.append(
            (
                "compile resize.wasm (Cranelift)",
                f"{len(compile_times)}",
                ms(compile_times),
                f"{len(resize) / 1024:.0f} KiB wasm",
            )
        )
        box.compile(resize)
        load_times: list[float] = []
        for _ in range(runs):
            with Sandbox(SandboxConfig(cache_dir=cache)) as warm:
                load_times.extend(timed(partial(warm.compile, resize), 1))
        rows.append(("load resize.wasm from artifact", f"{len(load_times)}", ms(load_times), "-"))

        outcome = box.run(module, args=["10000000"])
        times = timed(lambda: box.run(module, args=["10000000"]), runs)
        rate = outcome.fuel_used / min(times)
        rows.append(
            (
                "prime count below 10^7",
                f"{runs}",
                ms(times),
                f"{outcome.fuel_used / 1e6:.0f} Mfuel, {rate / 1e9:.2f} Gfuel/s",
            )
        )

        data = bytes(range(256)) * (16 * 4096)
        sha_module = box.compile(sha)
        outcome = box.run(sha_module, stdin=data)
        times = timed(lambda: box.run(sha_module, stdin=data), runs)
        rows.append(
            (
                "sha256 of 16 MiB",
                f"{runs}",
                ms(times),
                f"{len(data) / min(times) / 1e6:.1f} MB/s, "
                f"{outcome.fuel_used / len(data):.0f} fuel/B",
            )
        )

        resize_module = box.compile(resize)
        per_image: list[float] = []
        fuels: list[int] = []
        for path in photo_paths():
            image = path.read_bytes()
            fuels.append(box.run(resize_module, args=["256", "256"], stdin=image).fuel_used)
            per_image.extend(
                timed(partial(box.run, resize_module, args=["256", "256"], stdin=image), runs)
            )
        rows.append(
            (
                "resize a photo to 256x256",
                f"{len(per_image)}",
                ms(per_image),
                f"{statistics.median(fuels) / 1e6:.0f} Mfuel median, {len(PHOTOS)} photos",
            )
        )

        bench = run_benchmark(box, n=2_000_000, rounds=3, module=module)
        rows.append(
            (
                "self-benchmark (primes below 2e6)",
                "3",
                f"{bench.best_seconds * 1000:.1f}",
                f"speed multiplier {bench.speed_multiplier:.2f}",
            )
        )
    return rows


def ms(times: list[float]) -> str:
    return f"{statistics.median(times) * 1000:.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10, help="repetitions per measurement")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ccnet-bench-worker-") as tmp:
        rows = run(args.runs, Path(tmp))
    header = ("measurement", "n", "median ms", "notes")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print(
            "  ".join(
                cell.ljust(w) if i in (0, 3) else cell.rjust(w)
                for i, (cell, w) in enumerate(zip(row, widths, strict=True))
            )
        )


if __name__ == "__main__":
    main()
