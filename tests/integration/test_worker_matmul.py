"""The built-in ``matmul`` job (worker/jobs/matmul, built for wasm32-wasip1) in the real
sandbox: products checked against numpy and pure Python, wrapping arithmetic, fuel that
repeats across engines, bad input, the fuel cap, and the daemon's module store knowing
it by name."""

from __future__ import annotations

import random
import struct
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from ccnet.client.jobs.catalogue import module_hash
from ccnet.client.jobs.matmul import decode_output, encode_input, reference_product
from ccnet.worker.config import SandboxConfig
from ccnet.worker.exceptions import FuelExhaustedError, JobExitError
from ccnet.worker.executor import ModuleStore
from ccnet.worker.sandbox import RunLimits, Sandbox

JobLoader = Callable[[str], bytes]
U32_MAX = 2**32 - 1


def numpy_product(n: int, a: list[int], b: list[int]) -> bytes:
    """A B mod 2**64 as the job lays it out (numpy's uint64 matmul wraps)."""
    ma = np.array(a, dtype=np.uint64).reshape(n, n)
    mb = np.array(b, dtype=np.uint64).reshape(n, n)
    return (ma @ mb).astype("<u8").tobytes()


@pytest.mark.parametrize("n", [1, 2, 7, 64])
def test_products_match_numpy_and_python(sandbox: Sandbox, job_wasm: JobLoader, n: int) -> None:
    rng = random.Random(n)
    a = [rng.randrange(2**16) for _ in range(n * n)]
    b = [rng.randrange(2**16) for _ in range(n * n)]
    outcome = sandbox.run(job_wasm("matmul"), stdin=encode_input(n, a, b))
    assert outcome.stdout == numpy_product(n, a, b)
    if n <= 7:
        assert decode_output(outcome.stdout, n) == reference_product(n, a, b)
    assert outcome.fuel_used > 0


def test_identity_and_known_product(sandbox: Sandbox, job_wasm: JobLoader) -> None:
    module = sandbox.compile(job_wasm("matmul"))
    known = sandbox.run(module, stdin=encode_input(2, [1, 2, 3, 4], [5, 6, 7, 8]))
    assert decode_output(known.stdout, 2) == [19, 22, 43, 50]
    n = 5
    identity = [int(i == j) for i in range(n) for j in range(n)]
    b = list(range(100, 100 + n * n))
    assert decode_output(sandbox.run(module, stdin=encode_input(n, identity, b)).stdout, n) == b


def test_full_range_entries_wrap_mod_2_pow_64(sandbox: Sandbox, job_wasm: JobLoader) -> None:
    n = 16
    rng = random.Random(2**32)
    a = [rng.choice([U32_MAX, rng.randrange(2**32)]) for _ in range(n * n)]
    b = [rng.choice([U32_MAX, rng.randrange(2**32)]) for _ in range(n * n)]
    outcome = sandbox.run(job_wasm("matmul"), stdin=encode_input(n, a, b))
    expected = reference_product(n, a, b)
    assert decode_output(outcome.stdout, n) == expected
    assert outcome.stdout == numpy_product(n, a, b)
    # the sums did overflow: the exact product differs for some entry
    exact = [sum(a[i * n + k] * b[k * n + j] for k in range(n)) for i in range(n) for j in range(n)]
    assert exact != expected


def test_output_and_fuel_repeat_across_engines(worker_cache_dir: Path, job_wasm: JobLoader) -> None:
    n = 48
    rng = random.Random(7)
    data = encode_input(n, [rng.randrange(2**32) for _ in range(n * n)], [1] * (n * n))
    wasm = job_wasm("matmul")
    with Sandbox(SandboxConfig(cache_dir=worker_cache_dir)) as a:
        with Sandbox(SandboxConfig(cache_dir=None, disk_cache=False)) as b:
            runs = [box.run(wasm, stdin=data) for box in (a, a, b)]
    assert len({(r.output_hash, r.fuel_used) for r in runs}) == 1


@pytest.mark.parametrize(
    ("stdin", "complaint"),
    [
        (b"", b"no 4-byte header"),
        (struct.pack("<I", 0), b"out of range"),
        (struct.pack("<I", 4096), b"out of range"),
        (struct.pack("<III", 2, 1, 2), b"needs 32 bytes"),
        (encode_input(2, [1] * 4, [1] * 4) + b"\0", b"needs 32 bytes"),
    ],
)
def test_bad_input_exits_1(
    sandbox: Sandbox, job_wasm: JobLoader, stdin: bytes, complaint: bytes
) -> None:
    with pytest.raises(JobExitError) as err:
        sandbox.run(job_wasm("matmul"), stdin=stdin)
    assert err.value.exit_code == 1
    assert complaint in err.value.stderr


def test_arguments_are_refused(sandbox: Sandbox, job_wasm: JobLoader) -> None:
    with pytest.raises(JobExitError) as err:
        sandbox.run(job_wasm("matmul"), args=["4"], stdin=encode_input(1, [1], [1]))
    assert err.value.exit_code == 2 and b"usage" in err.value.stderr


def test_a_large_product_stops_at_its_fuel_budget(sandbox: Sandbox, job_wasm: JobLoader) -> None:
    n = 512  # 2**27 multiply-adds: far more than 10**6 fuel
    data = encode_input(n, [3] * (n * n), [5] * (n * n))
    with pytest.raises(FuelExhaustedError) as err:
        sandbox.run(job_wasm("matmul"), stdin=data, limits=RunLimits(fuel=10**6))
    assert err.value.fuel_used == 10**6


def test_encode_input_checks_its_arguments() -> None:
    with pytest.raises(ValueError, match="out of range"):
        encode_input(0, [], [])
    with pytest.raises(ValueError, match="entries"):
        encode_input(2, [1, 2, 3], [1, 2, 3, 4])
    with pytest.raises(ValueError, match="u32"):
        encode_input(1, [2**32], [1])
    with pytest.raises(ValueError, match="bytes"):
        decode_output(b"\0" * 7, 1)


def test_the_daemon_knows_matmul_by_name(tmp_path: Path, job_wasm: JobLoader) -> None:
    store = ModuleStore(tmp_path / "modules")
    digest = module_hash(job_wasm("matmul"))
    assert store.builtin["matmul"] == digest and store.get(digest) == job_wasm("matmul")
