"""Make the Groth16 verifier test vectors: tests/vectors/zk_groth16_cases.json.

``python scripts/zk_vectors.py`` prints them; ``--write`` writes the file. From the
stored billing proof (tests/vectors/zk_groth16.json) it writes the key, proof and public
signals in the byte encoding of :mod:`ccnet.zk.encoding`, valid and tampered: every
case says whether it verifies and, for the native verifier (``zk/groth16``), why not.
Deterministic: rewriting gives the same file.

Both sides check the same file: tests/unit/test_zk_encoding.py runs the py_ecc
reference verifier on every case, and the crate's tests run the native one.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from py_ecc.fields import optimized_bn128_FQ2 as FQ2
from py_ecc.optimized_bn128 import b2, curve_order, field_modulus, is_inf, is_on_curve, multiply

from ccnet.zk.encoding import key_bytes, proof_bytes, signals_bytes
from ccnet.zk.groth16 import G2Point, Proof, Q, R, VerifyingKey, parse_signals

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "tests" / "vectors" / "zk_groth16.json"
OUT = ROOT / "tests" / "vectors" / "zk_groth16_cases.json"


def _fq2_sqrt(a: FQ2) -> FQ2 | None:
    """A square root in Fq2 for q = 3 mod 4 (Adj and Rodriguez-Henriquez, "Square root
    computation over even extension fields", 2012, Algorithm 9), or None."""
    q = int(field_modulus)
    a1 = a ** ((q - 3) // 4)
    alpha = a1 * a1 * a
    if alpha**q * alpha == FQ2([q - 1, 0]):
        return None
    x0 = a1 * a
    if alpha == FQ2([q - 1, 0]):
        x = FQ2([0, 1]) * x0
    else:
        x = (FQ2.one() + alpha) ** ((q - 1) // 2) * x0
    return x if x * x == a else None


def twist_point_outside_g2() -> G2Point:
    """The first point (k + u, y) of BN254's twist (y^2 = x^3 + b2) outside the
    order-r subgroup: on the curve, not in G2."""
    for k in range(1, 1000):
        x = FQ2([k, 1])
        y = _fq2_sqrt(x**3 + b2)
        if y is None:
            continue
        point = (x, y, FQ2.one())
        assert is_on_curve(point, b2)
        if not is_inf(multiply(point, curve_order)):
            c = [int(v) for v in (*x.coeffs, *y.coeffs)]
            return ((c[0], c[1]), (c[2], c[3]))
    raise RuntimeError("no twist point outside G2 found")


def _case(
    name: str, vk: VerifyingKey, proof: Proof | bytes, signals: bytes, why: str | None
) -> dict[str, Any]:
    encoded = proof if isinstance(proof, bytes) else proof_bytes(proof)
    return {
        "name": name,
        "key": key_bytes(vk).hex(),
        "proof": encoded.hex(),
        "inputs": signals.hex(),
        "valid": why is None,
        "rejected_as": why,
    }


def _raw_signals(values: list[int]) -> bytes:
    return b"".join(v.to_bytes(32, "big") for v in values)


def build() -> dict[str, Any]:
    source = json.loads(SOURCE.read_text())
    vk = VerifyingKey.from_json(source["vkey"])
    proof = Proof.from_json(source["proof"])
    signals = list(parse_signals(source["publicSignals"]))
    good = signals_bytes(signals)
    assert proof.a is not None and proof.c is not None
    ax, ay = proof.a
    raw = bytearray(proof_bytes(proof))
    flipped = bytearray(raw)
    flipped[31] ^= 1  # the last bit of A.x
    too_big = bytearray(raw)
    too_big[:32] = (ax + Q).to_bytes(32, "big")  # A.x + q: same residue, not canonical
    other_task = [signals[0] + 1, *signals[1:]]  # the amount: another bill
    cases = [
        _case("valid", vk, proof, good, None),
        _case("another amount", vk, proof, signals_bytes(other_task), "Invalid"),
        _case("A negated", vk, Proof(a=(ax, Q - ay), b=proof.b, c=proof.c), good, "Invalid"),
        _case("A at infinity", vk, Proof(a=None, b=proof.b, c=proof.c), good, "Invalid"),
        _case("A.x bit flipped", vk, bytes(flipped), good, "NotOnCurve"),
        _case("A.x not below q", vk, bytes(too_big), good, "NonCanonicalCoordinate"),
        _case("C off the curve", vk, Proof(a=proof.a, b=proof.b, c=(1, 3)), good, "NotOnCurve"),
        _case(
            "B outside G2's subgroup",
            vk,
            Proof(a=proof.a, b=twist_point_outside_g2(), c=proof.c),
            good,
            "NotInSubgroup",
        ),
        _case(
            "signal not below r",
            vk,
            proof,
            _raw_signals([signals[0], signals[1] + R, *signals[2:]]),
            "InputOutOfRange",
        ),
        _case("a signal missing", vk, proof, signals_bytes(signals[:-1]), "InputCount"),
        _case("a signal too many", vk, proof, signals_bytes([*signals, 0]), "InputCount"),
        _case("proof truncated", vk, bytes(raw[:-1]), good, "Length"),
        _case(
            "another key (gamma and delta swapped)",
            VerifyingKey(vk.alpha, vk.beta, vk.delta, vk.gamma, vk.ic),
            proof,
            good,
            "Invalid",
        ),
    ]
    return {
        "_comment": (
            "Groth16 (BN254) cases in the byte encoding of zk/encoding.py (EIP-197 layout), "
            "from tests/vectors/zk_groth16.json by scripts/zk_vectors.py. valid: whether "
            "the proof verifies (checked by py_ecc in tests/unit/test_zk_encoding.py and "
            "by the native crate's tests in zk/groth16); rejected_as: the native "
            "verifier's error."
        ),
        "circuit": source["circuit"],
        "cases": cases,
    }


def main(argv: list[str]) -> int:
    text = json.dumps(build(), indent=1) + "\n"
    if "--write" in argv:
        OUT.write_text(text)
        print(f"wrote {OUT.relative_to(ROOT)}")
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
