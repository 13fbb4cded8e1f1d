"""ccnet.zk.verifier's pure-Python reference on a stored proof (no Node needed), and
check_proof's decisions with a stand-in verifier. The fast path is checked against it
in tests/integration/test_zk_proofs.py."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from ccnet.zk import InvalidProofError, ProofBundle, ReferenceVerifier, check_proof, verify
from ccnet.zk.groth16 import Proof, R
from ccnet.zk.verifier import KeyLike, ProofLike, verify_naive

VECTOR = Path(__file__).resolve().parents[1] / "vectors" / "zk_groth16.json"


@pytest.fixture(scope="module")
def vector() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(VECTOR.read_text())
    return data


def test_reference_accepts_the_stored_proof(vector: dict[str, Any]) -> None:
    assert verify(vector["vkey"], vector["publicSignals"], vector["proof"]) is True


def test_naive_four_pairing_check_agrees(vector: dict[str, Any]) -> None:
    assert verify_naive(vector["vkey"], vector["publicSignals"], vector["proof"]) is True


def test_reference_rejects_a_changed_amount(vector: dict[str, Any]) -> None:
    signals = list(vector["publicSignals"])
    signals[0] = str(int(signals[0]) + 1)  # claim one planck more
    assert ReferenceVerifier().verify(vector["vkey"], signals, vector["proof"]) is False


@pytest.mark.parametrize(
    "signals",
    [
        ["1", "2", "3"],  # too few for the key
        ["1", "2", "3", "4", "5"],  # too many
        ["1", "2", "3", str(R)],  # not a field element
        ["1", "2", "3", "x"],
    ],
)
def test_reference_rejects_malformed_signals(vector: dict[str, Any], signals: list[str]) -> None:
    assert ReferenceVerifier().verify(vector["vkey"], signals, vector["proof"]) is False


def test_reference_rejects_malformed_proofs(vector: dict[str, Any]) -> None:
    v = ReferenceVerifier()
    signals = vector["publicSignals"]
    assert v.verify(vector["vkey"], signals, {"pi_a": ["1", "2", "1"]}) is False
    off_curve = {**vector["proof"], "pi_c": ["1", "3", "1"]}
    assert v.verify(vector["vkey"], signals, off_curve) is False


def test_malformed_key_raises(vector: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        verify({"protocol": "groth16"}, vector["publicSignals"], vector["proof"])


class _Stub:
    """A verifier whose answer the test sets."""

    def __init__(self, answer: bool) -> None:
        self.answer = answer
        self.calls = 0

    def verify(self, vk: KeyLike, public_signals: Sequence[object], proof: ProofLike) -> bool:
        self.calls += 1
        return self.answer


def _bundle(vector: dict[str, Any]) -> ProofBundle:
    return ProofBundle.from_json(
        {"circuit": "billing", "proof": vector["proof"], "publicSignals": vector["publicSignals"]}
    )


def test_check_proof_accepts_and_rejects(vector: dict[str, Any]) -> None:
    bundle = _bundle(vector)
    expected = tuple(int(s) for s in vector["publicSignals"])
    check_proof(_Stub(True), vector["vkey"], bundle, expected, circuit="billing")
    check_proof(_Stub(True), vector["vkey"], bundle.to_json(), expected)
    with pytest.raises(InvalidProofError, match="does not verify"):
        check_proof(_Stub(False), vector["vkey"], bundle, expected)
    stub = _Stub(True)
    with pytest.raises(InvalidProofError, match="do not match"):
        check_proof(stub, vector["vkey"], bundle, (*expected[:-1], expected[-1] + 1))
    assert stub.calls == 0  # signals are compared before any pairing work
    with pytest.raises(InvalidProofError, match="circuit 'billing'"):
        check_proof(_Stub(True), vector["vkey"], bundle, expected, circuit="matmul")
    with pytest.raises(InvalidProofError, match="malformed"):
        check_proof(_Stub(True), vector["vkey"], {"circuit": 3}, expected)


def test_bundle_json_round_trip(vector: dict[str, Any]) -> None:
    bundle = _bundle(vector)
    again = ProofBundle.from_json(json.loads(json.dumps(bundle.to_json())))
    assert again == bundle
    assert isinstance(again.proof, Proof)
