"""ccnet.zk.encoding (the bytes the chain and the native verifier read), and the shared
Groth16 cases (tests/vectors/zk_groth16_cases.json) against the py_ecc reference: the
native crate's tests (zk/groth16) check the same file."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from ccnet.zk.encoding import (
    KEY_FIXED_BYTES,
    PROOF_BYTES,
    key_bytes,
    key_from_bytes,
    proof_bytes,
    proof_from_bytes,
    signals_bytes,
    signals_from_bytes,
)
from ccnet.zk.groth16 import Proof, Q, R, VerifyingKey
from ccnet.zk.verifier import ReferenceVerifier

ROOT = Path(__file__).resolve().parents[2]
VECTORS = ROOT / "tests" / "vectors"
CASES: list[dict[str, Any]] = json.loads((VECTORS / "zk_groth16_cases.json").read_text())["cases"]


@pytest.fixture(scope="module")
def stored() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((VECTORS / "zk_groth16.json").read_text())
    return data


def test_round_trips_and_sizes(stored: dict[str, Any]) -> None:
    vk = VerifyingKey.from_json(stored["vkey"])
    proof = Proof.from_json(stored["proof"])
    assert len(proof_bytes(proof)) == PROOF_BYTES == 256
    assert len(key_bytes(vk)) == KEY_FIXED_BYTES + 64 * len(vk.ic) == 448 + 64 * 5
    assert proof_from_bytes(proof_bytes(proof)) == proof
    assert key_from_bytes(key_bytes(vk)) == vk
    infinity = Proof(a=None, b=None, c=None)
    assert proof_bytes(infinity) == bytes(256)
    assert proof_from_bytes(bytes(256)) == infinity
    assert signals_from_bytes(signals_bytes([0, 1, R - 1])) == (0, 1, R - 1)


def test_g2_puts_the_imaginary_part_first(stored: dict[str, Any]) -> None:
    """EIP-197: x.c1 || x.c0 || y.c1 || y.c0."""
    proof = Proof.from_json(stored["proof"])
    assert proof.b is not None
    (x0, x1), (y0, y1) = proof.b
    b = proof_bytes(proof)[64:192]
    assert [int.from_bytes(b[i : i + 32], "big") for i in range(0, 128, 32)] == [x1, x0, y1, y0]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (bytes(255), "255 bytes"),
        (Q.to_bytes(32, "big") + bytes(224), "modulus"),
    ],
)
def test_malformed_proofs_are_refused(data: bytes, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        proof_from_bytes(data)


def test_the_affine_origin_is_not_encoded_as_infinity(stored: dict[str, Any]) -> None:
    """(0, 0) is on neither curve; written as zeros it would read back as the point at
    infinity (which a verifier treats otherwise), so encoding refuses it."""
    proof = Proof.from_json(stored["proof"])
    for bad in (
        Proof(a=(0, 0), b=proof.b, c=proof.c),
        Proof(a=proof.a, b=proof.b, c=(0, 0)),
        Proof(a=proof.a, b=((0, 0), (0, 0)), c=proof.c),
    ):
        with pytest.raises(ValueError, match=r"\(0, 0\) is not a point"):
            proof_bytes(bad)


def test_malformed_keys_and_signals_are_refused() -> None:
    for size in (0, KEY_FIXED_BYTES, KEY_FIXED_BYTES + 63):
        with pytest.raises(ValueError, match="448"):
            key_from_bytes(bytes(size))
    with pytest.raises(ValueError, match="multiple of 32"):
        signals_from_bytes(bytes(33))
    with pytest.raises(ValueError, match="public signal 1"):
        signals_from_bytes(bytes(32) + R.to_bytes(32, "big"))
    with pytest.raises(ValueError, match="public signal 0"):
        signals_bytes([R])


def _reference_accepts(case: dict[str, Any]) -> bool:
    try:
        proof = proof_from_bytes(bytes.fromhex(case["proof"]))
        signals = signals_from_bytes(bytes.fromhex(case["inputs"]))
    except ValueError:
        return False
    vk = key_from_bytes(bytes.fromhex(case["key"]))
    return ReferenceVerifier().verify(vk, [str(s) for s in signals], proof)


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_the_reference_verifier_agrees_with_the_shared_cases(case: dict[str, Any]) -> None:
    assert _reference_accepts(case) is case["valid"]


def test_one_valid_case_and_every_rejection_kind() -> None:
    assert [c["name"] for c in CASES if c["valid"]] == ["valid"]
    kinds = {c["rejected_as"] for c in CASES if not c["valid"]}
    assert kinds == {
        "Invalid",
        "NotOnCurve",
        "NotInSubgroup",
        "NonCanonicalCoordinate",
        "InputOutOfRange",
        "InputCount",
        "Length",
    }


def test_the_vector_file_is_what_the_script_writes() -> None:
    made = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "zk_vectors.py")],
        capture_output=True,
        text=True,
        check=True,
    )
    assert made.stdout == (VECTORS / "zk_groth16_cases.json").read_text()
