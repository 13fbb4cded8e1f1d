"""The built-in job modules: their names, how a module is named (its hash), where the
built binaries are, and the known answers of ``prime_count``.

A job module is named by its hash: the blake2b-256 of its Wasm binary
(:func:`module_hash`, 32 bytes, the same hash the chain uses). A worker runs any module
it is sent; the built-in ones are those every worker carries, so requesters need not
send them (``docs/protocol.md``, "Job modules").

The built-in jobs are the crates and C programs under ``worker/jobs`` (``prime_count``,
``sha256sum``, ``resize``, ``matmul`` in Rust; ``resize_stb`` in C on stb_image /
stb_image_resize / stb_image_write), built by ``scripts/build-jobs.sh`` for
wasm32-wasip1 into ``$CCNET_JOBS_DIR`` or ``<cache root>/jobs`` (:func:`jobs_dir`);
:func:`load_job` reads one. The same script builds each job for the host too
(``<jobs dir>/native/<name>``, :func:`native_job`): the native reference that a
sandboxed run's output is checked against. Their hashes depend on the toolchain that
built them (``docs/protocol.md`` lists those of the reference build).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from pathlib import Path

from ..config import cache_root
from .exceptions import JobModuleNotBuiltError

__all__ = [
    "BUILTIN_JOBS",
    "KNOWN_PRIME_COUNTS",
    "WASM_MAGIC",
    "jobs_dir",
    "load_job",
    "module_hash",
    "native_job",
]

BUILTIN_JOBS = ("prime_count", "sha256sum", "resize", "matmul", "resize_stb")
"""The job modules built from ``worker/jobs``: one cargo binary each, and ``resize_stb``
(C on stb, clang-22 for wasm32-wasi)."""

WASM_MAGIC = b"\0asm"
"""The first four bytes of every Wasm binary."""

KNOWN_PRIME_COUNTS: dict[int, int] = {
    10: 4,
    100: 25,
    1_000: 168,
    10_000: 1_229,
    100_000: 9_592,
    1_000_000: 78_498,
    2_000_000: 148_933,
    10_000_000: 664_579,
    100_000_000: 5_761_455,
}
"""pi(N - 1): the number of primes below N, what ``prime_count N`` prints (then a newline)."""


def module_hash(wasm: bytes) -> bytes:
    """The id of a module: blake2b-256 of its Wasm binary, 32 bytes."""
    return hashlib.blake2b(wasm, digest_size=32).digest()


def jobs_dir(environ: Mapping[str, str] | None = None) -> Path:
    """``$CCNET_JOBS_DIR``, else ``<cache root>/jobs`` (where scripts/build-jobs.sh
    puts the built-in job modules)."""
    env = os.environ if environ is None else environ
    if env.get("CCNET_JOBS_DIR"):
        return Path(env["CCNET_JOBS_DIR"]).expanduser()
    return cache_root(env) / "jobs"


def load_job(name: str, environ: Mapping[str, str] | None = None) -> bytes:
    """The Wasm binary of built-in job *name* (one of :data:`BUILTIN_JOBS`).

    :class:`~ccnet.client.jobs.exceptions.JobModuleNotBuiltError` if it has not been
    built, ``ValueError`` for an unknown name.
    """
    if name not in BUILTIN_JOBS:
        raise ValueError(f"unknown job {name!r}; built-in jobs: {', '.join(BUILTIN_JOBS)}")
    path = jobs_dir(environ) / f"{name}.wasm"
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise JobModuleNotBuiltError(
            f"job module {path} is missing; build it with `bash scripts/build-jobs.sh`"
        ) from None


def native_job(name: str, environ: Mapping[str, str] | None = None) -> Path:
    """Path of the native (host) build of built-in job *name*, its reference
    implementation: ``<jobs dir>/native/<name>``, an executable that takes the same argv
    and stdin as the module and must print the same bytes.

    :class:`~ccnet.client.jobs.exceptions.JobModuleNotBuiltError` if it has not been
    built, ``ValueError`` for an unknown name.
    """
    if name not in BUILTIN_JOBS:
        raise ValueError(f"unknown job {name!r}; built-in jobs: {', '.join(BUILTIN_JOBS)}")
    path = jobs_dir(environ) / "native" / name
    if not path.is_file():
        raise JobModuleNotBuiltError(
            f"native job {path} is missing; build it with `bash scripts/build-jobs.sh`"
        )
    return path
