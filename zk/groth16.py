"""Groth16 proofs and verification keys over BN254, parsed from snarkjs JSON.

snarkjs writes points as decimal strings in Jacobian coordinates (``[x, y, z]``, z is "1"
for the points it outputs; a G2 coordinate is ``[c0, c1]`` for c0 + c1*u). Parsing
checks the encoding only (decimal, below the field modulus) and turns each point into
affine integers, ``None`` for the point at infinity; whether a point lies on the curve
is the verifier's question. Both verifiers see the same canonical values, so they agree
on what a proof says (spec: snarkjs ``groth16 verify``, iden3).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from py_ecc.optimized_bn128 import curve_order, field_modulus

#: BN254 base field modulus (coordinates are below it).
Q: Final[int] = int(field_modulus)
#: BN254 scalar field order (public signals are below it).
R: Final[int] = int(curve_order)

Fq2 = tuple[int, int]
G1Point = tuple[int, int] | None
G2Point = tuple[Fq2, Fq2] | None


def _int(value: object, modulus: int, what: str) -> int:
    """A canonical decimal (str or int) below ``modulus``; ValueError otherwise."""
    if isinstance(value, bool):
        raise ValueError(f"{what}: not an integer")
    if isinstance(value, int):
        n = value
    elif isinstance(value, str) and value.isascii() and value.isdigit():
        n = int(value)
    else:
        raise ValueError(f"{what}: not a decimal integer: {value!r}")
    if not 0 <= n < modulus:
        raise ValueError(f"{what}: out of range")
    return n


def _seq(value: object, length: int, what: str) -> Sequence[Any]:
    if not isinstance(value, list | tuple) or len(value) != length:
        raise ValueError(f"{what}: expected a list of {length}")
    return value


def _fq2(value: object, what: str) -> Fq2:
    c0, c1 = _seq(value, 2, what)
    return (_int(c0, Q, what), _int(c1, Q, what))


def _f2_mul(a: Fq2, b: Fq2) -> Fq2:
    # (a0 + a1 u)(b0 + b1 u) with u^2 = -1
    return ((a[0] * b[0] - a[1] * b[1]) % Q, (a[0] * b[1] + a[1] * b[0]) % Q)


def _f2_inv(a: Fq2) -> Fq2:
    norm_inv = pow(a[0] * a[0] + a[1] * a[1], -1, Q)
    return (a[0] * norm_inv % Q, -a[1] * norm_inv % Q)


def parse_g1(value: object, what: str = "G1 point") -> G1Point:
    """``[x, y]`` or Jacobian ``[x, y, z]`` decimal strings -> affine ints or None."""
    if isinstance(value, list | tuple) and len(value) == 2:
        value = [*value, 1]
    x, y, z = (_int(v, Q, what) for v in _seq(value, 3, what))
    if z == 0:
        return None
    zi = pow(z, -1, Q)
    return (x * zi * zi % Q, y * zi * zi * zi % Q)


def parse_g2(value: object, what: str = "G2 point") -> G2Point:
    """``[[x0, x1], [y0, y1]]`` (or with ``[z0, z1]``) -> affine pairs or None."""
    if isinstance(value, list | tuple) and len(value) == 2:
        value = [*value, (1, 0)]
    x, y, z = (_fq2(v, what) for v in _seq(value, 3, what))
    if z == (0, 0):
        return None
    zi = _f2_inv(z)
    zi2 = _f2_mul(zi, zi)
    return (_f2_mul(x, zi2), _f2_mul(y, _f2_mul(zi2, zi)))


def g1_json(point: G1Point) -> list[str]:
    if point is None:
        return ["0", "1", "0"]
    return [str(point[0]), str(point[1]), "1"]


def g2_json(point: G2Point) -> list[list[str]]:
    if point is None:
        return [["0", "0"], ["1", "0"], ["0", "0"]]
    (x0, x1), (y0, y1) = point
    return [[str(x0), str(x1)], [str(y0), str(y1)], ["1", "0"]]


def parse_signals(values: Sequence[object]) -> tuple[int, ...]:
    """Public signals (decimal strings or ints) -> ints below R; ValueError otherwise."""
    if isinstance(values, str | bytes) or not isinstance(values, Sequence):
        raise ValueError("public signals: expected a list")
    return tuple(_int(v, R, f"public signal {i}") for i, v in enumerate(values))


@dataclass(frozen=True)
class Proof:
    """A Groth16 proof (pi_a in G1, pi_b in G2, pi_c in G1), affine."""

    a: G1Point
    b: G2Point
    c: G1Point

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> Proof:
        """From snarkjs's proof JSON. Raises ValueError if malformed."""
        if not isinstance(obj, Mapping):
            raise ValueError("proof: expected an object")
        for key, want in (("protocol", "groth16"), ("curve", "bn128")):
            if obj.get(key, want) != want:
                raise ValueError(f"proof: {key} is {obj.get(key)!r}, not {want!r}")
        try:
            return cls(
                a=parse_g1(obj["pi_a"], "pi_a"),
                b=parse_g2(obj["pi_b"], "pi_b"),
                c=parse_g1(obj["pi_c"], "pi_c"),
            )
        except KeyError as err:
            raise ValueError(f"proof: missing {err}") from None

    def to_json(self) -> dict[str, Any]:
        """snarkjs's proof JSON, z = 1."""
        return {
            "pi_a": g1_json(self.a),
            "pi_b": g2_json(self.b),
            "pi_c": g1_json(self.c),
            "protocol": "groth16",
            "curve": "bn128",
        }


@dataclass(frozen=True)
class VerifyingKey:
    """A Groth16 verification key: alpha (G1), beta, gamma, delta (G2) and IC (G1), one
    IC point per public signal plus the constant term."""

    alpha: G1Point
    beta: G2Point
    gamma: G2Point
    delta: G2Point
    ic: tuple[G1Point, ...]

    @property
    def n_public(self) -> int:
        return len(self.ic) - 1

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> VerifyingKey:
        """From snarkjs's ``zkey export verificationkey`` JSON. Raises ValueError."""
        if not isinstance(obj, Mapping):
            raise ValueError("verification key: expected an object")
        if obj.get("protocol") != "groth16" or obj.get("curve") != "bn128":
            raise ValueError("verification key: not groth16 over bn128")
        try:
            ic = obj["IC"]
            if not isinstance(ic, list) or not ic:
                raise ValueError("verification key: IC must be a non-empty list")
            return cls(
                alpha=parse_g1(obj["vk_alpha_1"], "vk_alpha_1"),
                beta=parse_g2(obj["vk_beta_2"], "vk_beta_2"),
                gamma=parse_g2(obj["vk_gamma_2"], "vk_gamma_2"),
                delta=parse_g2(obj["vk_delta_2"], "vk_delta_2"),
                ic=tuple(parse_g1(p, f"IC[{i}]") for i, p in enumerate(ic)),
            )
        except KeyError as err:
            raise ValueError(f"verification key: missing {err}") from None

    def to_json(self) -> dict[str, Any]:
        """The subset of snarkjs's verification key JSON that verification reads."""
        return {
            "protocol": "groth16",
            "curve": "bn128",
            "nPublic": self.n_public,
            "vk_alpha_1": g1_json(self.alpha),
            "vk_beta_2": g2_json(self.beta),
            "vk_gamma_2": g2_json(self.gamma),
            "vk_delta_2": g2_json(self.delta),
            "IC": [g1_json(p) for p in self.ic],
        }
