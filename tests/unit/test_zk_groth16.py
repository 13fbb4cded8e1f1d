"""ccnet.zk.groth16: parsing snarkjs JSON into canonical affine points and signals."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from py_ecc.optimized_bn128 import G1, G2, multiply, normalize

from ccnet.zk.groth16 import Proof, Q, R, VerifyingKey, parse_g1, parse_g2, parse_signals

VECTOR = Path(__file__).resolve().parents[1] / "vectors" / "zk_groth16.json"


@pytest.fixture(scope="module")
def vector() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(VECTOR.read_text())
    return data


def test_jacobian_and_affine_forms_agree() -> None:
    x, y = (int(c) for c in normalize(multiply(G1, 5)))
    z = 7
    jacobian = [str(x * z * z % Q), str(y * z * z * z % Q), str(z)]
    assert parse_g1(jacobian) == parse_g1([str(x), str(y), "1"]) == (x, y)
    assert parse_g1([x, y]) == (x, y)
    assert parse_g1(["0", "1", "0"]) is None


def test_g2_parses_c0_c1_pairs() -> None:
    gx, gy = normalize(G2)
    x = (int(gx.coeffs[0]), int(gx.coeffs[1]))
    y = (int(gy.coeffs[0]), int(gy.coeffs[1]))
    obj = [[str(x[0]), str(x[1])], [str(y[0]), str(y[1])], ["1", "0"]]
    assert parse_g2(obj) == (x, y)
    assert parse_g2([["0", "0"], ["1", "0"], ["0", "0"]]) is None


@pytest.mark.parametrize(
    "bad",
    [
        ["1", "2", "3", "4"],
        ["1", "x", "1"],
        ["-1", "2", "1"],
        [str(Q), "2", "1"],
        ["0x10", "2", "1"],
        [True, 2, 1],
        "12",
    ],
)
def test_malformed_g1_rejected(bad: object) -> None:
    with pytest.raises(ValueError):
        parse_g1(bad)


def test_signals_must_be_canonical_field_elements() -> None:
    assert parse_signals(["0", "5", 7, str(R - 1)]) == (0, 5, 7, R - 1)
    for bad in ([str(R)], ["-1"], ["1.0"], [" 1"], "123"):
        with pytest.raises(ValueError):
            parse_signals(bad)


def test_proof_and_key_round_trip(vector: dict[str, Any]) -> None:
    proof = Proof.from_json(vector["proof"])
    assert Proof.from_json(proof.to_json()) == proof
    vk = VerifyingKey.from_json(vector["vkey"])
    assert vk.n_public == len(vector["publicSignals"]) == 4
    assert VerifyingKey.from_json(vk.to_json()) == vk


def test_proof_for_another_protocol_rejected(vector: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="protocol"):
        Proof.from_json({**vector["proof"], "protocol": "plonk"})
    with pytest.raises(ValueError, match="missing"):
        Proof.from_json({"pi_a": vector["proof"]["pi_a"]})
    with pytest.raises(ValueError):
        VerifyingKey.from_json({**vector["vkey"], "IC": []})
