"""The built-in job modules (worker/jobs, built for wasm32-wasip1) in the real sandbox:
prime count, SHA-256 and image resizing of real photographs; results signed, checked
by majority and spot checks, billed; and the self-benchmark."""

from __future__ import annotations

import hashlib
import io
import struct
import zlib
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image
from substrateinterface import Keypair

from ccnet.client.jobs.billing import billable_fuel, price
from ccnet.client.jobs.catalogue import KNOWN_PRIME_COUNTS, load_job
from ccnet.client.jobs.exceptions import JobModuleNotBuiltError
from ccnet.client.jobs.results import SignedResult, input_hash
from ccnet.client.requester.spotchecks import prime_count_spot_checks
from ccnet.client.requester.verdicts import majority
from ccnet.worker.benchmark import REFERENCE_FUEL_PER_SECOND, run_benchmark
from ccnet.worker.config import SandboxConfig
from ccnet.worker.exceptions import FuelExhaustedError, JobExitError, MemoryLimitError
from ccnet.worker.sandbox import RunLimits, Sandbox

JobLoader = Callable[[str], bytes]


@pytest.mark.parametrize("n", [0, 2, 3, 100, 65_537, 1_000_000, 10_000_000])
def test_prime_count(sandbox: Sandbox, job_wasm: JobLoader, n: int) -> None:
    expected = {0: 0, 2: 0, 3: 1, 65_537: 6_542} | KNOWN_PRIME_COUNTS
    outcome = sandbox.run(job_wasm("prime_count"), args=[str(n)])
    assert outcome.stdout == f"{expected[n]}\n".encode()
    assert outcome.fuel_used > 0


def test_prime_count_fuel_is_deterministic(worker_cache_dir: Path, job_wasm: JobLoader) -> None:
    wasm = job_wasm("prime_count")
    with Sandbox(SandboxConfig(cache_dir=worker_cache_dir)) as a:
        with Sandbox(SandboxConfig(cache_dir=None, disk_cache=False)) as b:
            runs = [box.run(wasm, args=["1000000"]) for box in (a, a, b)]
    assert len({(r.stdout, r.fuel_used) for r in runs}) == 1


def test_prime_count_bad_arguments(sandbox: Sandbox, job_wasm: JobLoader) -> None:
    with pytest.raises(JobExitError) as err:
        sandbox.run(job_wasm("prime_count"), args=["many"])
    assert err.value.exit_code == 2
    assert b"usage" in err.value.stderr


def test_prime_count_too_big_for_its_budget(sandbox: Sandbox, job_wasm: JobLoader) -> None:
    with pytest.raises(FuelExhaustedError) as err:
        sandbox.run(job_wasm("prime_count"), args=["100000000"], limits=RunLimits(fuel=10**7))
    assert billable_fuel(err.value.code, err.value.fuel_used, 10**7) == 10**7


def test_sha256_of_real_files(sandbox: Sandbox, job_wasm: JobLoader, photos: list[Path]) -> None:
    module = sandbox.compile(job_wasm("sha256sum"))
    for path in photos:
        data = path.read_bytes()
        outcome = sandbox.run(module, stdin=data)
        assert outcome.stdout.decode() == hashlib.sha256(data).hexdigest() + "\n", path.name
    assert sandbox.run(module).stdout.decode().strip() == hashlib.sha256(b"").hexdigest()


def test_resize_real_photographs(
    sandbox: Sandbox, job_wasm: JobLoader, photos: list[Path], worker_cache_dir: Path
) -> None:
    assert len(photos) >= 5
    module = sandbox.compile(job_wasm("resize"))
    with Sandbox(SandboxConfig(cache_dir=None, disk_cache=False)) as fresh:
        for path in photos:
            data = path.read_bytes()
            with Image.open(path) as original:
                width, height = original.size
            outcome = sandbox.run(module, args=["160", "120"], stdin=data)
            with Image.open(io.BytesIO(outcome.stdout)) as small:
                assert small.format == "PNG"
                assert small.width <= 160 and small.height <= 120
                assert max(small.width / 160, small.height / 120) == pytest.approx(1.0, abs=0.01)
                # the aspect ratio is kept (to a pixel)
                assert abs(small.width * height - small.height * width) <= max(width, height)
            # a second engine computes the same bytes with the same fuel
            again = fresh.run(job_wasm("resize"), args=["160", "120"], stdin=data)
            assert (again.output_hash, again.fuel_used) == (outcome.output_hash, outcome.fuel_used)


@pytest.mark.parametrize("flt", ["nearest", "triangle", "catmullrom", "gaussian", "lanczos3"])
def test_resize_filters(
    sandbox: Sandbox, job_wasm: JobLoader, photos: list[Path], flt: str
) -> None:
    outcome = sandbox.run(job_wasm("resize"), args=["64", "64", flt], stdin=photos[0].read_bytes())
    with Image.open(io.BytesIO(outcome.stdout)) as small:
        assert small.size == (64, 64)  # astronaut.png is square


def test_resize_rejects_non_images(sandbox: Sandbox, job_wasm: JobLoader) -> None:
    with pytest.raises(JobExitError) as err:
        sandbox.run(job_wasm("resize"), args=["64", "64"], stdin=b"not an image")
    assert b"decode error" in err.value.stderr
    with pytest.raises(JobExitError):
        sandbox.run(job_wasm("resize"), args=["0", "64"])


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG that declares a *width* x *height* grey image but holds almost no data."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data).to_bytes(4, "big")
        return len(data).to_bytes(4, "big") + kind + data + crc

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\0" * 100))
        + chunk(b"IEND", b"")
    )


def test_decompression_bomb_hits_the_memory_cap(sandbox: Sandbox, job_wasm: JobLoader) -> None:
    # 16384 x 16384 grey = 256 MiB of pixels: the decoder's buffer cannot fit the cap.
    with pytest.raises(MemoryLimitError) as err:
        sandbox.run(job_wasm("resize"), args=["10", "10"], stdin=_png_header_only(16384, 16384))
    assert b"memory allocation" in err.value.stderr


def test_signed_results_majority_and_spot_checks(
    sandbox: Sandbox, job_wasm: JobLoader, worker_key: Keypair, other_key: Keypair
) -> None:
    wasm = job_wasm("prime_count")
    args = ["1000000"]
    outcome = sandbox.run(wasm, args=args)
    job_input = input_hash(args, b"")
    honest = [
        SignedResult.create(
            key,
            task_id=7,
            module_hash=outcome.module_hash,
            input_hash=job_input,
            output_hash=outcome.output_hash,
            fuel_used=outcome.fuel_used,
        ).verify()
        for key in (worker_key, other_key)
    ]
    liar = Keypair.create_from_uri("//Eve")
    forged = SignedResult.create(
        liar,
        task_id=7,
        module_hash=outcome.module_hash,
        input_hash=job_input,
        output_hash=hashlib.blake2b(b"78497\n", digest_size=32).digest(),
        fuel_used=outcome.fuel_used // 2,
    )
    verdict = majority([*honest, forged.verify()])
    assert verdict.output_hash == outcome.output_hash
    assert verdict.dissenting == (liar.ss58_address,)
    assert verdict.fuel_used == outcome.fuel_used
    table = prime_count_spot_checks(outcome.module_hash)
    assert table.check(honest[0]) is True
    assert table.check(forged) is False
    honest[0].check_output(outcome.stdout)
    assert price(honest[0].fuel_used) == outcome.fuel_used  # 1 planck per fuel


def test_benchmark(sandbox: Sandbox, job_wasm: JobLoader) -> None:
    result = run_benchmark(sandbox, n=100_000, rounds=2, module=job_wasm("prime_count"))
    assert result.primes == 9_592
    assert result.fuel_used > 0 and result.best_seconds > 0
    assert result.speed_multiplier == pytest.approx(
        result.fuel_per_second / REFERENCE_FUEL_PER_SECOND
    )
    assert result.speed_milli > 0


def test_load_job_names_the_build_step(tmp_path: Path) -> None:
    with pytest.raises(JobModuleNotBuiltError, match="build-jobs.sh"):
        load_job("prime_count", {"CCNET_JOBS_DIR": str(tmp_path)})
    with pytest.raises(ValueError):
        load_job("rm-rf", {})
