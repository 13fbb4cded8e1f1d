"""Pure parts of the sandbox: output capture, memory-cap inference, hashes.
(The sandbox itself runs real Wasmtime in tests/integration/test_worker_sandbox.py.)"""

from __future__ import annotations

import errno
import hashlib

from ccnet.client.jobs.results import output_hash
from ccnet.worker.sandbox import RunOutcome, _Capture, _hit_memory_cap

MIB = 1024 * 1024


def test_capture_refuses_writes_past_its_cap() -> None:
    capture = _Capture(10)
    assert capture(b"12345") == 5
    assert capture(b"6789") == 4
    assert capture(b"ab") == -errno.EFBIG
    assert capture.overflow
    assert capture(b"c") == -errno.EFBIG  # stays refused
    assert bytes(capture.data) == b"123456789"


def test_memory_cap_inference() -> None:
    cap = 256 * MIB
    # memory grown to within a MiB of the cap: a bomb that hit it
    assert _hit_memory_cap(b"", cap - 512 * 1024, cap)
    # far below the cap, no allocation failure reported: some other failure
    assert not _hit_memory_cap(b"", 10 * MIB, cap)
    # Rust's allocation-failure message with a request that does not fit
    assert _hit_memory_cap(b"memory allocation of 268435456 bytes failed\n", 130 * MIB, cap)
    # ... and one that would have fitted (not our cap)
    assert not _hit_memory_cap(b"memory allocation of 1024 bytes failed\n", 10 * MIB, cap)


def test_output_hash_is_blake2b_256() -> None:
    assert output_hash(b"abc") == hashlib.blake2b(b"abc", digest_size=32).digest()
    outcome = RunOutcome(
        module_hash=b"\0" * 32,
        stdout=b"abc",
        stderr=b"",
        fuel_used=1,
        elapsed_ms=0.1,
        memory_bytes=65536,
    )
    assert outcome.output_hash == output_hash(b"abc")
