"""Groth16 keys, proofs and public signals as bytes: what the chain and the native
verifier (the ``ccnet-groth16`` crate, ``zk/groth16/``) read.

The layout is Ethereum's for BN254 (EIP-196 and EIP-197), so that other tools read it:

- a base-field element: 32 bytes, big-endian, below q (:data:`~ccnet.zk.groth16.Q`);
- a G1 point: x || y (64 bytes); the point at infinity is 64 zero bytes;
- a G2 point: x.c1 || x.c0 || y.c1 || y.c0 (128 bytes: EIP-197 puts the imaginary
  part first); the point at infinity is 128 zero bytes;
- a proof: A (G1) || B (G2) || C (G1), 256 bytes;
- a verification key: alpha (G1) || beta, gamma, delta (G2) || IC_0 .. IC_n (G1):
  448 + 64 (n + 1) bytes for n public signals;
- public signals: 32 bytes each, big-endian, below r (:data:`~ccnet.zk.groth16.R`).

Decoding checks lengths and ranges only (ValueError otherwise); whether a point lies on
its curve, or in G2's subgroup, is the verifier's question, as for the JSON form
(:mod:`ccnet.zk.groth16`). Encoding refuses the affine (0, 0), which is on neither
curve and whose bytes would read back as the point at infinity. The format is
documented in ``zk/README.md``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from ccnet.zk.groth16 import G1Point, G2Point, Proof, Q, R, VerifyingKey

__all__ = [
    "G1_BYTES",
    "G2_BYTES",
    "KEY_FIXED_BYTES",
    "PROOF_BYTES",
    "key_bytes",
    "key_from_bytes",
    "proof_bytes",
    "proof_from_bytes",
    "signals_bytes",
    "signals_from_bytes",
]

FIELD_BYTES: Final = 32
G1_BYTES: Final = 2 * FIELD_BYTES
G2_BYTES: Final = 4 * FIELD_BYTES
PROOF_BYTES: Final = 2 * G1_BYTES + G2_BYTES
#: alpha, beta, gamma, delta: the part of a key before its IC points.
KEY_FIXED_BYTES: Final = G1_BYTES + 3 * G2_BYTES


def _field(n: int) -> bytes:
    return n.to_bytes(FIELD_BYTES, "big")


def _read(data: bytes, modulus: int, what: str) -> int:
    n = int.from_bytes(data, "big")
    if n >= modulus:
        raise ValueError(f"{what}: not below the field's modulus")
    return n


def _g1(point: G1Point) -> bytes:
    if point is None:
        return bytes(G1_BYTES)
    if point == (0, 0):
        # Off the curve (y^2 = x^3 + 3), and its bytes would read back as infinity.
        raise ValueError("G1 (0, 0) is not a point of the curve")
    return _field(point[0]) + _field(point[1])


def _g2(point: G2Point) -> bytes:
    if point is None:
        return bytes(G2_BYTES)
    (x0, x1), (y0, y1) = point
    if x0 == x1 == y0 == y1 == 0:
        raise ValueError("G2 (0, 0) is not a point of the twist")
    return _field(x1) + _field(x0) + _field(y1) + _field(y0)


def _g1_from(data: bytes, what: str) -> G1Point:
    if not any(data):
        return None
    return (_read(data[:32], Q, what), _read(data[32:], Q, what))


def _g2_from(data: bytes, what: str) -> G2Point:
    if not any(data):
        return None
    x1, x0, y1, y0 = (_read(data[i : i + 32], Q, what) for i in range(0, G2_BYTES, 32))
    return ((x0, x1), (y0, y1))


def _exact(data: bytes, size: int, what: str) -> None:
    if len(data) != size:
        raise ValueError(f"{what}: {len(data)} bytes, expected {size}")


def proof_bytes(proof: Proof) -> bytes:
    """A || B || C (:data:`PROOF_BYTES` bytes)."""
    return _g1(proof.a) + _g2(proof.b) + _g1(proof.c)


def proof_from_bytes(data: bytes) -> Proof:
    """The inverse of :func:`proof_bytes`; ValueError for a wrong length or a
    coordinate not below q."""
    _exact(data, PROOF_BYTES, "proof")
    return Proof(
        a=_g1_from(data[:G1_BYTES], "A"),
        b=_g2_from(data[G1_BYTES : G1_BYTES + G2_BYTES], "B"),
        c=_g1_from(data[G1_BYTES + G2_BYTES :], "C"),
    )


def key_bytes(vk: VerifyingKey) -> bytes:
    """alpha || beta || gamma || delta || IC_0 .. IC_n."""
    return (
        _g1(vk.alpha)
        + _g2(vk.beta)
        + _g2(vk.gamma)
        + _g2(vk.delta)
        + b"".join(_g1(p) for p in vk.ic)
    )


def key_from_bytes(data: bytes) -> VerifyingKey:
    """The inverse of :func:`key_bytes`; ValueError for a length that is not
    ``448 + 64 k`` with k >= 1, or a coordinate not below q."""
    ic_len = len(data) - KEY_FIXED_BYTES
    if ic_len < G1_BYTES or ic_len % G1_BYTES:
        raise ValueError(f"verification key: {len(data)} bytes, expected 448 + 64 k (k >= 1)")
    g2 = [
        _g2_from(data[G1_BYTES + i * G2_BYTES : G1_BYTES + (i + 1) * G2_BYTES], name)
        for i, name in enumerate(("beta", "gamma", "delta"))
    ]
    return VerifyingKey(
        alpha=_g1_from(data[:G1_BYTES], "alpha"),
        beta=g2[0],
        gamma=g2[1],
        delta=g2[2],
        ic=tuple(
            _g1_from(data[i : i + G1_BYTES], f"IC[{(i - KEY_FIXED_BYTES) // G1_BYTES}]")
            for i in range(KEY_FIXED_BYTES, len(data), G1_BYTES)
        ),
    )


def signals_bytes(signals: Sequence[int]) -> bytes:
    """32 big-endian bytes per signal; ValueError for one not in [0, r)."""
    for i, s in enumerate(signals):
        if not 0 <= s < R:
            raise ValueError(f"public signal {i}: not in [0, r)")
    return b"".join(_field(s) for s in signals)


def signals_from_bytes(data: bytes) -> tuple[int, ...]:
    """The inverse of :func:`signals_bytes`; ValueError for a length that is not a
    multiple of 32 or a signal not below r."""
    if len(data) % FIELD_BYTES:
        raise ValueError(f"public signals: {len(data)} bytes, not a multiple of 32")
    return tuple(
        _read(data[i : i + FIELD_BYTES], R, f"public signal {i // FIELD_BYTES}")
        for i in range(0, len(data), FIELD_BYTES)
    )
