"""Input and output of the built-in ``matmul`` job (``worker/jobs/matmul``).

The job multiplies two dense n x n integer matrices (``docs/protocol.md``, section 16);
its stdin and stdout are plain little-endian arrays (the format is documented at the
top of ``worker/jobs/matmul/src/main.rs``):

- stdin: ``n`` (u32, 1 <= n <= :data:`MAX_N`), then ``A`` and ``B``, n x n u32 each,
  row-major;
- stdout: ``C = A B``, n x n u64, row-major, each entry ``sum_k A[i][k] * B[k][j]``
  modulo 2**64 (wrapping arithmetic: bit-exact on every machine).

:func:`encode_input` and :func:`decode_output` convert flat row-major sequences of
Python ints; :func:`reference_product` is the same product in Python (slow: for small
matrices and tests).
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

__all__ = ["MAX_N", "decode_output", "encode_input", "reference_product"]

MAX_N = 2048
"""Largest side the job takes (input 32 MiB, output 32 MiB)."""
_U32 = 2**32
_U64 = 2**64


def encode_input(n: int, a: Sequence[int], b: Sequence[int]) -> bytes:
    """The job's stdin for n x n matrices *a* and *b* (flat, row-major, entries in
    [0, 2**32)): ``4 + 8 n**2`` bytes. ``ValueError`` for a bad side, length or entry."""
    if not 1 <= n <= MAX_N:
        raise ValueError(f"n = {n} is out of range (1..{MAX_N})")
    if len(a) != n * n or len(b) != n * n:
        raise ValueError(f"each matrix needs {n * n} entries, got {len(a)} and {len(b)}")
    try:
        return struct.pack(f"<I{n * n}I{n * n}I", n, *a, *b)
    except struct.error as err:
        raise ValueError(f"matrix entries must be u32: {err}") from None


def decode_output(data: bytes, n: int) -> list[int]:
    """The product ``C`` (flat, row-major, n**2 ints in [0, 2**64)) from the job's stdout.
    ``ValueError`` unless *data* is exactly ``8 n**2`` bytes."""
    if len(data) != 8 * n * n:
        raise ValueError(f"a {n} x {n} product is {8 * n * n} bytes, got {len(data)}")
    return list(struct.unpack(f"<{n * n}Q", data))


def reference_product(n: int, a: Sequence[int], b: Sequence[int]) -> list[int]:
    """``A B`` mod 2**64 in pure Python (flat, row-major): what the job must print."""
    if any(not 0 <= v < _U32 for v in (*a, *b)):
        raise ValueError("matrix entries must be u32")
    out = []
    for i in range(n):
        row = a[i * n : (i + 1) * n]
        for j in range(n):
            out.append(sum(row[k] * b[k * n + j] for k in range(n)) % _U64)
    return out
