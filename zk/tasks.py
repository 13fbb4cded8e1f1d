"""Inputs and expected public signals for each circuit in zk/circuits/ (``zk/README.md``).

A worker builds a circuit's inputs with ``*_input`` and proves them; a requester, who
knows the task, computes ``*_signals`` (what the proof's public signals must be) and
checks the proof against them with :func:`ccnet.zk.verifier.check_proof`. Poseidon is
computed by a ``hasher`` (normally :meth:`ccnet.zk.node.ZkNode.poseidon`: circomlib's
Poseidon via poseidon-lite).

Circuits (public signals in snarkjs order):

- ``poseidon_commit``: [digest, task]; digest = Poseidon(8 chunks).
- ``billing``: [amount, fuel, rate, cap]; amount = fuel * rate <= cap, fuel and rate u64
  (fuel units, planck per fuel unit), cap u128 planck.
- ``matmul``: [inputCommit, outputCommit, task] for C = A x B, 3 x 3, u32 entries;
  inputCommit = Poseidon(Poseidon(A), Poseidon(B)), outputCommit = Poseidon(C),
  matrices flattened row-major.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Final

from ccnet.zk.groth16 import R

Hasher = Callable[[Sequence[int]], int]
Matrix = Sequence[Sequence[int]]

#: poseidon_commit's number of input chunks.
COMMIT_CHUNKS: Final = 8
#: Bytes per chunk: 31 bytes always fit below the scalar field order.
CHUNK_BYTES: Final = 31
#: Most payload bytes poseidon_commit takes (one byte goes to padding).
COMMIT_MAX_BYTES: Final = COMMIT_CHUNKS * CHUNK_BYTES - 1
#: matmul's matrix size.
MATMUL_N: Final = 3
U32: Final = 1 << 32
U64: Final = 1 << 64
U128: Final = 1 << 128


def _task_field(task_id: int) -> int:
    if not 0 <= task_id < U64:
        raise ValueError("task id must be a u64")
    return task_id


# --- poseidon_commit ---------------------------------------------------------------


def encode_chunks(data: bytes) -> list[int]:
    """``data`` (at most COMMIT_MAX_BYTES) as COMMIT_CHUNKS field elements: append 0x01,
    zero-pad to 248 bytes, split into 31-byte big-endian integers. The 0x01 marker keeps
    inputs that differ only by trailing zero bytes apart. Raises ValueError if too long."""
    if len(data) > COMMIT_MAX_BYTES:
        raise ValueError(f"poseidon_commit takes at most {COMMIT_MAX_BYTES} bytes")
    padded = (data + b"\x01").ljust(COMMIT_CHUNKS * CHUNK_BYTES, b"\x00")
    return [
        int.from_bytes(padded[i : i + CHUNK_BYTES], "big")
        for i in range(0, len(padded), CHUNK_BYTES)
    ]


def _chunks(chunks: Sequence[int]) -> list[int]:
    if len(chunks) != COMMIT_CHUNKS or not all(0 <= c < R for c in chunks):
        raise ValueError(f"expected {COMMIT_CHUNKS} field elements")
    return list(chunks)


def poseidon_commit_input(chunks: Sequence[int], task_id: int) -> dict[str, object]:
    """Circuit input for proving Poseidon(chunks) for task ``task_id``."""
    return {"chunks": _chunks(chunks), "task": _task_field(task_id)}


def poseidon_commit_signals(chunks: Sequence[int], task_id: int, hasher: Hasher) -> tuple[int, ...]:
    """Expected public signals [digest, task]."""
    return (hasher(_chunks(chunks)), _task_field(task_id))


# --- billing ---------------------------------------------------------------------------


def billing_amount(fuel: int, rate: int, cap: int) -> int:
    """fuel * rate in planck; ValueError if out of the circuit's ranges or above cap."""
    if not (0 <= fuel < U64 and 0 <= rate < U64 and 0 <= cap < U128):
        raise ValueError("fuel and rate must be u64, cap u128")
    amount = fuel * rate
    if amount > cap:
        raise ValueError(f"claim {amount} planck exceeds the cap {cap}")
    return amount


def billing_input(fuel: int, rate: int, cap: int) -> dict[str, object]:
    """Circuit input for the claim fuel x rate <= cap (checked here first)."""
    billing_amount(fuel, rate, cap)
    return {"fuel": fuel, "rate": rate, "cap": cap}


def billing_signals(fuel: int, rate: int, cap: int) -> tuple[int, ...]:
    """Expected public signals [amount, fuel, rate, cap]."""
    return (billing_amount(fuel, rate, cap), fuel, rate, cap)


# --- matmul ------------------------------------------------------------------------------


def _matrix(m: Matrix, what: str) -> list[list[int]]:
    rows = [list(row) for row in m]
    if len(rows) != MATMUL_N or any(len(r) != MATMUL_N for r in rows):
        raise ValueError(f"{what} must be {MATMUL_N}x{MATMUL_N}")
    if not all(0 <= x < U32 for r in rows for x in r):
        raise ValueError(f"{what} entries must be u32")
    return rows


def matmul(a: Matrix, b: Matrix) -> list[list[int]]:
    """C = A x B over the integers (the job the circuit proves)."""
    a_, b_ = _matrix(a, "A"), _matrix(b, "B")
    n = MATMUL_N
    return [[sum(a_[i][k] * b_[k][j] for k in range(n)) for j in range(n)] for i in range(n)]


def _flat(m: Matrix) -> list[int]:
    return [x for row in m for x in row]


def matmul_input(a: Matrix, b: Matrix, task_id: int) -> dict[str, object]:
    """Circuit input for proving C = A x B for task ``task_id``."""
    return {"a": _matrix(a, "A"), "b": _matrix(b, "B"), "task": _task_field(task_id)}


def matmul_input_commit(a: Matrix, b: Matrix, hasher: Hasher) -> int:
    """Poseidon(Poseidon(A), Poseidon(B)): what the requester commits to."""
    return hasher([hasher(_flat(_matrix(a, "A"))), hasher(_flat(_matrix(b, "B")))])


def matmul_output_commit(c: Matrix, hasher: Hasher) -> int:
    """Poseidon(C): binds the result matrix the worker sent to the proof."""
    rows = [list(row) for row in c]
    if len(rows) != MATMUL_N or any(len(r) != MATMUL_N for r in rows):
        raise ValueError(f"C must be {MATMUL_N}x{MATMUL_N}")
    if not all(0 <= x < R for r in rows for x in r):
        raise ValueError("C entries must be field elements")
    return hasher(_flat(rows))


def matmul_signals(
    a: Matrix, b: Matrix, c: Matrix, task_id: int, hasher: Hasher
) -> tuple[int, ...]:
    """Expected public signals [inputCommit, outputCommit, task] for a claimed result C."""
    return (
        matmul_input_commit(a, b, hasher),
        matmul_output_commit(c, hasher),
        _task_field(task_id),
    )
