"""Native references ("Each has a native reference to check its output
against"): every built-in job, built for the host by scripts/build-jobs.sh
(``<jobs dir>/native/<job>``), and the same crate built for wasm32-wasip1 and run in the
real sandbox, print byte-identical output for the same argv and stdin: prime counts,
SHA-256 of real files, resized real photographs (scikit-image's samples), integer matrix
products; and they fail alike (exit code and message) on bad input."""

from __future__ import annotations

import os
import random
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from ccnet.client.jobs.catalogue import BUILTIN_JOBS, native_job
from ccnet.client.jobs.exceptions import JobModuleNotBuiltError
from ccnet.client.jobs.matmul import encode_input
from ccnet.worker.exceptions import JobExitError
from ccnet.worker.modules import CompiledModule
from ccnet.worker.sandbox import Sandbox

JobLoader = Callable[[str], bytes]


@dataclass(frozen=True)
class NativeRun:
    exit_code: int
    stdout: bytes
    stderr: bytes


NativeRunner = Callable[..., NativeRun]


@pytest.fixture(scope="module")
def native() -> NativeRunner:
    """``native(job, args=(), stdin=b"")`` runs the host build of *job* (no environment,
    60 s bound). A missing build fails the test, unless CCNET_ALLOW_SKIP=1 skips it."""

    def run(job: str, args: tuple[str, ...] = (), stdin: bytes = b"") -> NativeRun:
        try:
            path = native_job(job)
        except JobModuleNotBuiltError as err:
            if os.environ.get("CCNET_ALLOW_SKIP") == "1":
                pytest.skip(str(err))
            pytest.fail(str(err), pytrace=False)
        done = subprocess.run(
            [str(path), *args], input=stdin, capture_output=True, env={}, timeout=60, check=False
        )
        return NativeRun(done.returncode, done.stdout, done.stderr)

    return run


def assert_same(
    sandbox: Sandbox,
    native: NativeRunner,
    wasm: bytes | CompiledModule,
    job: str,
    args: tuple[str, ...] = (),
    stdin: bytes = b"",
) -> bytes:
    """Run *job* both ways; assert exit code 0 and identical stdout; return it."""
    reference = native(job, args, stdin)
    assert reference.exit_code == 0, reference.stderr
    outcome = sandbox.run(wasm, args=args, stdin=stdin)
    assert outcome.stdout == reference.stdout, f"{job} {args}: sandbox and native differ"
    return outcome.stdout


def test_every_builtin_job_has_a_native_build(native: NativeRunner) -> None:
    for job in BUILTIN_JOBS:
        assert os.access(native_job(job), os.X_OK), job


@pytest.mark.parametrize("n", ["0", "2", "3", "100", "65537", "1000000", "10000000"])
def test_prime_count(sandbox: Sandbox, native: NativeRunner, job_wasm: JobLoader, n: str) -> None:
    assert_same(sandbox, native, job_wasm("prime_count"), "prime_count", (n,))


def test_sha256_of_real_files(
    sandbox: Sandbox, native: NativeRunner, job_wasm: JobLoader, photos: list[Path]
) -> None:
    module = sandbox.compile(job_wasm("sha256sum"))
    inputs = [p.read_bytes() for p in photos] + [b"", random.Random(1).randbytes(1 << 20)]
    for data in inputs:
        assert_same(sandbox, native, module, "sha256sum", (), data)


def test_resize_real_photographs(
    sandbox: Sandbox, native: NativeRunner, job_wasm: JobLoader, photos: list[Path]
) -> None:
    wasm = job_wasm("resize")
    for path in photos:
        png = assert_same(sandbox, native, wasm, "resize", ("160", "120"), path.read_bytes())
        assert png.startswith(b"\x89PNG"), path.name


def test_resize_stb_real_photographs(
    sandbox: Sandbox, native: NativeRunner, job_wasm: JobLoader, photos: list[Path]
) -> None:
    wasm = job_wasm("resize_stb")
    for path in photos:
        png = assert_same(sandbox, native, wasm, "resize_stb", ("160", "120"), path.read_bytes())
        assert png.startswith(b"\x89PNG"), path.name


@pytest.mark.parametrize("flt", ["nearest", "catmullrom", "gaussian", "lanczos3"])
def test_resize_filters(
    sandbox: Sandbox, native: NativeRunner, job_wasm: JobLoader, photos: list[Path], flt: str
) -> None:
    chelsea = next(p for p in photos if p.name == "chelsea.png")
    assert_same(
        sandbox, native, job_wasm("resize"), "resize", ("97", "61", flt), chelsea.read_bytes()
    )


@pytest.mark.parametrize("n", [1, 33, 128])
def test_matmul(sandbox: Sandbox, native: NativeRunner, job_wasm: JobLoader, n: int) -> None:
    rng = random.Random(n)
    a = [rng.randrange(2**32) for _ in range(n * n)]
    b = [rng.randrange(2**32) for _ in range(n * n)]
    out = assert_same(sandbox, native, job_wasm("matmul"), "matmul", (), encode_input(n, a, b))
    assert len(out) == 8 * n * n


@pytest.mark.parametrize(
    ("job", "args", "stdin"),
    [
        ("prime_count", ("many",), b""),
        ("prime_count", ("1000000000001",), b""),
        ("sha256sum", ("extra",), b""),
        ("resize", ("64", "64"), b"not an image"),
        ("resize", ("0", "64"), b""),
        ("resize_stb", ("64", "64"), b"not an image"),
        ("resize_stb", ("0", "64"), b""),
        ("matmul", (), b"\x02\x00\x00\x00"),
    ],
)
def test_failures_agree(
    sandbox: Sandbox,
    native: NativeRunner,
    job_wasm: JobLoader,
    job: str,
    args: tuple[str, ...],
    stdin: bytes,
) -> None:
    reference = native(job, args, stdin)
    assert reference.exit_code in (1, 2)
    with pytest.raises(JobExitError) as err:
        sandbox.run(job_wasm(job), args=args, stdin=stdin)
    assert err.value.exit_code == reference.exit_code
    assert err.value.stderr == reference.stderr
