"""The C job ``resize_stb`` (worker/jobs/resize_stb: stb_image, stb_image_resize and
stb_image_write from Debian's libstb-dev, built with clang-22 for wasm32-wasi by
scripts/build-jobs.sh) in the real sandbox, on real photographs (scikit-image's PNG and
JPEG samples): valid PNGs fitted into WIDTH x HEIGHT with the Rust ``resize`` job's
rounding rule, the same bytes and fuel in two sandboxes, byte-identical to its native
build, and clean failures on bad arguments and bad input."""

from __future__ import annotations

import io
import math
import struct
import subprocess
import zlib
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image

from ccnet.client.jobs.catalogue import native_job
from ccnet.worker.config import SandboxConfig
from ccnet.worker.exceptions import JobExitError
from ccnet.worker.sandbox import Sandbox

JobLoader = Callable[[str], bytes]
JOB = "resize_stb"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def ihdr(png: bytes) -> tuple[int, int, int, int]:
    """(width, height, bit depth, colour type) from a PNG's IHDR chunk."""
    assert png.startswith(PNG_MAGIC), "not a PNG"
    length, kind = struct.unpack(">I4s", png[8:16])
    assert (length, kind) == (13, b"IHDR")
    width, height, depth, colour = struct.unpack(">IIBB", png[16:26])
    assert zlib.crc32(png[12:29]).to_bytes(4, "big") == png[29:33], "bad IHDR CRC"
    return width, height, depth, colour


def fitted(width: int, height: int, box_w: int, box_h: int) -> tuple[int, int]:
    """The Rust ``resize`` job's fit (image 0.25 ``resize_dimensions``, fill = false):
    each side times min(box_w / width, box_h / height), rounded half away from zero,
    at least 1."""
    ratio = min(box_w / width, box_h / height)
    return max(math.floor(width * ratio + 0.5), 1), max(math.floor(height * ratio + 0.5), 1)


def native(args: tuple[str, ...], stdin: bytes) -> subprocess.CompletedProcess[bytes]:
    """Run the host build of the job (no environment, 60 s bound)."""
    return subprocess.run(
        [str(native_job(JOB)), *args],
        input=stdin,
        capture_output=True,
        env={},
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("box", [("256", "256"), ("160", "120"), ("97", "61")])
def test_real_photographs(
    sandbox: Sandbox, job_wasm: JobLoader, photos: list[Path], box: tuple[str, str]
) -> None:
    assert len(photos) >= 5
    assert {p.suffix for p in photos} >= {".png", ".jpg"}
    wasm = job_wasm(JOB)
    module = sandbox.compile(wasm)
    with Sandbox(SandboxConfig(cache_dir=None, disk_cache=False)) as fresh:
        for path in photos:
            data = path.read_bytes()
            with Image.open(path) as original:
                size = original.size
            outcome = sandbox.run(module, args=box, stdin=data)
            width, height, depth, colour = ihdr(outcome.stdout)
            assert (width, height) == fitted(*size, int(box[0]), int(box[1])), path.name
            assert depth == 8 and colour in (0, 2, 4, 6)
            with Image.open(io.BytesIO(outcome.stdout)) as small:
                small.load()  # the whole PNG decodes
                assert small.size == (width, height)
            again = fresh.run(wasm, args=box, stdin=data)
            assert (again.stdout, again.fuel_used) == (outcome.stdout, outcome.fuel_used)
            reference = native(box, data)
            assert reference.returncode == 0, reference.stderr
            assert reference.stdout == outcome.stdout, f"{path.name}: sandbox and native differ"


@pytest.mark.parametrize("flt", ["box", "triangle", "cubicbspline", "catmullrom", "mitchell"])
def test_filters_match_native(
    sandbox: Sandbox, job_wasm: JobLoader, photos: list[Path], flt: str
) -> None:
    chelsea = next(p for p in photos if p.name == "chelsea.png").read_bytes()
    outcome = sandbox.run(job_wasm(JOB), args=("97", "61", flt), stdin=chelsea)
    assert ihdr(outcome.stdout)[:2] == (92, 61)
    assert native(("97", "61", flt), chelsea).stdout == outcome.stdout


@pytest.mark.parametrize(
    ("args", "stdin", "code", "message"),
    [
        ((), b"", 2, b"usage"),
        (("64",), b"", 2, b"usage"),
        (("0", "64"), b"", 2, b"usage"),
        (("64", "16385"), b"", 2, b"usage"),
        (("64", "x64"), b"", 2, b"usage"),
        (("64", "64", "lanczos3"), b"", 2, b"usage"),
        (("64", "64", "box", "extra"), b"", 2, b"usage"),
        (("64", "64"), b"not an image", 1, b"decode error"),
        (("64", "64"), b"", 1, b"decode error"),
        (("64", "64"), PNG_MAGIC + b"\0\0\0\rIHDR", 1, b"decode error"),
    ],
)
def test_failures(
    sandbox: Sandbox,
    job_wasm: JobLoader,
    args: tuple[str, ...],
    stdin: bytes,
    code: int,
    message: bytes,
) -> None:
    with pytest.raises(JobExitError) as err:
        sandbox.run(job_wasm(JOB), args=args, stdin=stdin)
    assert err.value.exit_code == code
    assert message in err.value.stderr
    reference = native(args, stdin)
    assert (reference.returncode, reference.stderr) == (code, err.value.stderr)


def test_truncated_jpeg_fails(sandbox: Sandbox, job_wasm: JobLoader, photos: list[Path]) -> None:
    rocket = next(p for p in photos if p.suffix == ".jpg").read_bytes()
    with pytest.raises(JobExitError) as err:
        sandbox.run(job_wasm(JOB), args=("64", "64"), stdin=rocket[:200])
    assert err.value.exit_code == 1 and b"decode error" in err.value.stderr


def test_decompression_bomb_fails_in_the_sandbox(sandbox: Sandbox, job_wasm: JobLoader) -> None:
    # A PNG that declares 16384 x 16384 grey pixels (256 MiB) but holds almost no data:
    # the decoder cannot get its buffer under the sandbox's memory cap: a decode error.
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            len(data).to_bytes(4, "big") + kind + data + zlib.crc32(kind + data).to_bytes(4, "big")
        )

    header = struct.pack(">IIBBBBB", 16384, 16384, 8, 0, 0, 0, 0)
    bomb = (
        PNG_MAGIC
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\0" * 100))
        + chunk(b"IEND", b"")
    )
    with pytest.raises(JobExitError) as err:
        sandbox.run(job_wasm(JOB), args=("10", "10"), stdin=bomb)
    assert err.value.exit_code == 1
    assert err.value.stderr == b"resize_stb: decode error: out of memory\n"
