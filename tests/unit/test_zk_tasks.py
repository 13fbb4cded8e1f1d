"""ccnet.zk.tasks: circuit inputs and expected public signals (no Node: a stand-in
hasher, as the real Poseidon is checked against the circuit in the integration tests)."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from ccnet.zk import tasks
from ccnet.zk.groth16 import R


def fake_hash(xs: Sequence[int]) -> int:
    return (sum((i + 1) * x for i, x in enumerate(xs)) + len(xs)) % R


def test_chunks_pad_with_a_marker() -> None:
    chunks = tasks.encode_chunks(b"ab")
    assert len(chunks) == tasks.COMMIT_CHUNKS
    assert chunks[0] == int.from_bytes(b"ab\x01".ljust(31, b"\x00"), "big")
    assert chunks[1:] == [0] * 7
    # Trailing zero bytes change the encoding.
    assert tasks.encode_chunks(b"ab\x00") != chunks
    full = tasks.encode_chunks(b"\xff" * tasks.COMMIT_MAX_BYTES)
    assert all(0 <= c < R for c in full)
    with pytest.raises(ValueError):
        tasks.encode_chunks(b"\x00" * (tasks.COMMIT_MAX_BYTES + 1))


def test_poseidon_commit_input_and_signals() -> None:
    chunks = tasks.encode_chunks(b"data")
    assert tasks.poseidon_commit_input(chunks, 9) == {"chunks": chunks, "task": 9}
    assert tasks.poseidon_commit_signals(chunks, 9, fake_hash) == (fake_hash(chunks), 9)
    with pytest.raises(ValueError):
        tasks.poseidon_commit_input(chunks[:7], 9)
    with pytest.raises(ValueError):
        tasks.poseidon_commit_input(chunks, 1 << 64)


def test_billing_ranges() -> None:
    assert tasks.billing_signals(10, 3, 30) == (30, 10, 3, 30)
    assert tasks.billing_input(10, 3, 30) == {"fuel": 10, "rate": 3, "cap": 30}
    big = (1 << 64) - 1
    assert tasks.billing_amount(big, big, (1 << 128) - 1) == big * big
    for fuel, rate, cap in ((10, 3, 29), (1 << 64, 1, 1 << 100), (1, -1, 5), (1, 1, 1 << 128)):
        with pytest.raises(ValueError):
            tasks.billing_input(fuel, rate, cap)


def test_matmul_and_commitments() -> None:
    a = [[1, 2, 3], [4, 5, 6], [7, 8, 9]]
    identity = [[1, 0, 0], [0, 1, 0], [0, 0, 1]]
    assert tasks.matmul(a, identity) == a
    assert tasks.matmul(identity, a) == a
    c = tasks.matmul(a, a)
    assert c[0] == [30, 36, 42]
    signals = tasks.matmul_signals(a, a, c, 5, fake_hash)
    flat = [x for row in a for x in row]
    assert signals == (
        fake_hash([fake_hash(flat), fake_hash(flat)]),
        fake_hash([x for row in c for x in row]),
        5,
    )
    assert tasks.matmul_input(a, identity, 5) == {"a": a, "b": identity, "task": 5}
    with pytest.raises(ValueError):
        tasks.matmul([[1, 2], [3, 4]], identity)
    with pytest.raises(ValueError):
        tasks.matmul([[1 << 32, 0, 0], [0, 1, 0], [0, 0, 1]], identity)
