"""Groth16 verification over BN254, two ways that must agree (Groth, EUROCRYPT 2016).

A proof (A, B, C) verifies for public signals s_1..s_n when, with
vk_x = IC_0 + sum s_i IC_i,

    e(-A, B) * e(alpha, beta) * e(vk_x, gamma) * e(C, delta) = 1

(snarkjs ``groth16_verify.js``), the signals are below the scalar field order r, the
points lie on their curves and B lies in G2's order-r subgroup.

- :class:`ReferenceVerifier`: pure Python (py_ecc.optimized_bn128), the reference. It
  computes the three proof-dependent Miller loops, multiplies them and does one final
  exponentiation, against e(alpha, beta) computed once per key: about 0.4 s per proof
  here, where four separate pairings take 0.9-1.3 s (:func:`verify_naive`).
- :class:`FastVerifier`: snarkjs's verifier in a long-lived Node process (Wasm field
  arithmetic, curve built once), plus the same subgroup check: 12-15 ms per proof on
  this shared 2-core machine (benches/bench_zk.py).
- :class:`NativeVerifier`: arkworks (the ``ccnet-groth16`` crate in ``zk/groth16``,
  also the chain's) through its Python extension; checks the same subgroup and ranges.
  No maintained native BN254 binding was found on PyPI (see zk/README.md), so setup
  builds ours.

Both return False for any proof that does not verify, malformed input included; a
malformed verification key raises ValueError (it is ours, not the worker's).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import threading
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Any, Protocol

from py_ecc.fields import optimized_bn128_FQ as FQ
from py_ecc.fields import optimized_bn128_FQ2 as FQ2
from py_ecc.fields import optimized_bn128_FQ12 as FQ12
from py_ecc.optimized_bn128 import (
    Z1,
    Z2,
    add,
    b,
    b2,
    curve_order,
    final_exponentiate,
    is_inf,
    is_on_curve,
    multiply,
    neg,
    pairing,
)

from ccnet.zk.artifacts import ZkPaths
from ccnet.zk.encoding import key_bytes, proof_bytes, signals_bytes
from ccnet.zk.groth16 import G1Point, G2Point, Proof, VerifyingKey, parse_signals
from ccnet.zk.node import ZkNode
from ccnet.zk.prover import ProofBundle

from .exceptions import InvalidProofError, SetupMissingError

log = logging.getLogger(__name__)

ProofLike = Proof | Mapping[str, Any]
KeyLike = VerifyingKey | Mapping[str, Any]
Pt1 = tuple[FQ, FQ, FQ]
Pt2 = tuple[FQ2, FQ2, FQ2]
_KEYS_KEPT = 32
"""Prepared keys a NativeVerifier keeps (one per circuit in use)."""


class Verifier(Protocol):
    """What a requester needs: ``verify`` is True only for a valid proof."""

    def verify(self, vk: KeyLike, public_signals: Sequence[object], proof: ProofLike) -> bool: ...


def _key(vk: KeyLike) -> VerifyingKey:
    return vk if isinstance(vk, VerifyingKey) else VerifyingKey.from_json(vk)


def _parse(
    vk: KeyLike, public_signals: Sequence[object], proof: ProofLike
) -> tuple[VerifyingKey, tuple[int, ...], Proof] | None:
    """Canonical key, signals and proof; None when the signals or proof are malformed
    or the signal count does not match the key."""
    key = _key(vk)
    try:
        signals = parse_signals(public_signals)
        parsed = proof if isinstance(proof, Proof) else Proof.from_json(proof)
    except ValueError as err:
        log.debug("malformed proof: %s", err)
        return None
    if len(signals) != key.n_public:
        return None
    return key, signals, parsed


def _g1(p: G1Point) -> Pt1:
    return Z1 if p is None else (FQ(p[0]), FQ(p[1]), FQ.one())


def _g2(p: G2Point) -> Pt2:
    if p is None:
        return Z2
    (x0, x1), (y0, y1) = p
    return (FQ2([x0, x1]), FQ2([y0, y1]), FQ2.one())


@functools.lru_cache(maxsize=32)
def _alpha_beta(vk: VerifyingKey) -> FQ12:
    """e(alpha, beta): the same for every proof under one key."""
    return pairing(_g2(vk.beta), _g1(vk.alpha))


def _points(
    key: VerifyingKey, signals: tuple[int, ...], proof: Proof
) -> tuple[Pt1, Pt2, Pt1, Pt1] | None:
    """(A, B, C, vk_x) as py_ecc points, or None if a proof point is off its curve or
    B is outside the order-r subgroup."""
    a, b_, c = _g1(proof.a), _g2(proof.b), _g1(proof.c)
    if not (is_on_curve(a, b) and is_on_curve(c, b) and is_on_curve(b_, b2)):
        return None
    if not is_inf(multiply(b_, curve_order)):
        return None
    vk_x = _g1(key.ic[0])
    for s, ic in zip(signals, key.ic[1:], strict=True):
        vk_x = add(vk_x, multiply(_g1(ic), s))
    return a, b_, c, vk_x


class ReferenceVerifier:
    """Pure-Python Groth16 verifier (py_ecc): one multi-pairing product check."""

    def verify(self, vk: KeyLike, public_signals: Sequence[object], proof: ProofLike) -> bool:
        parsed = _parse(vk, public_signals, proof)
        if parsed is None:
            return False
        key, signals, prf = parsed
        pts = _points(key, signals, prf)
        if pts is None:
            return False
        a, b_, c, vk_x = pts
        miller = (
            pairing(b_, neg(a), final_exponentiate=False)
            * pairing(_g2(key.gamma), vk_x, final_exponentiate=False)
            * pairing(_g2(key.delta), c, final_exponentiate=False)
        )
        return bool(final_exponentiate(miller) * _alpha_beta(key) == FQ12.one())


def verify_naive(vk: KeyLike, public_signals: Sequence[object], proof: ProofLike) -> bool:
    """The textbook check with four full pairings (for benchmarks; same answers)."""
    parsed = _parse(vk, public_signals, proof)
    if parsed is None:
        return False
    key, signals, prf = parsed
    pts = _points(key, signals, prf)
    if pts is None:
        return False
    a, b_, c, vk_x = pts
    product = (
        pairing(b_, neg(a))
        * pairing(_g2(key.beta), _g1(key.alpha))
        * pairing(_g2(key.gamma), vk_x)
        * pairing(_g2(key.delta), c)
    )
    return bool(product == FQ12.one())


class NativeVerifier:
    """The native verifier: the ``ccnet-groth16`` crate (arkworks, ``zk/groth16``) as
    the extension module ``ccnet_groth16``, built by scripts/setup.sh. It reads the byte
    encoding of :mod:`ccnet.zk.encoding`, checks every point (on its curve, in its
    subgroup) and signal (below r), and runs the pairing check without the GIL. Each
    key is prepared once (e(alpha, beta)) and kept for the next proof.

    Raises SetupMissingError when the extension is not installed.
    """

    def __init__(self) -> None:
        try:
            import ccnet_groth16
        except ImportError:
            raise SetupMissingError("the native Groth16 verifier (ccnet_groth16)") from None
        self._module = ccnet_groth16
        self._keys: dict[bytes, Any] = {}
        self._lock = threading.Lock()

    def _prepared(self, key: VerifyingKey) -> Any:
        encoded = key_bytes(key)
        with self._lock:  # requesters check results in worker threads
            prepared = self._keys.get(encoded)
            if prepared is None:
                if len(self._keys) >= _KEYS_KEPT:
                    self._keys.pop(next(iter(self._keys)))
                prepared = self._module.VerifyingKey(encoded)
                self._keys[encoded] = prepared
        return prepared

    def rejection(
        self, vk: KeyLike, public_signals: Sequence[object], proof: ProofLike
    ) -> str | None:
        """None if the proof verifies, else why not: "Malformed" (signals or proof that
        do not parse), or the native verifier's reason ("Invalid", "NotOnCurve",
        "NotInSubgroup", "NonCanonicalCoordinate", "InputOutOfRange", "InputCount",
        "Length"). Raises ValueError for a malformed key (it is ours)."""
        key = _key(vk)
        try:
            signals = signals_bytes(parse_signals(public_signals))
            parsed = proof if isinstance(proof, Proof) else Proof.from_json(proof)
            encoded = proof_bytes(parsed)
        except ValueError as err:
            log.debug("malformed proof: %s", err)
            return "Malformed"
        reason: str | None = self._prepared(key).rejection(encoded, signals)
        return reason

    def verify(self, vk: KeyLike, public_signals: Sequence[object], proof: ProofLike) -> bool:
        why = self.rejection(vk, public_signals, proof)
        if why is not None:
            log.debug("proof rejected: %s", why)
        return why is None


def verify(vk: KeyLike, public_signals: Sequence[object], proof: ProofLike) -> bool:
    """Verify with the pure-Python reference (no Node needed; about 0.4 s)."""
    return ReferenceVerifier().verify(vk, public_signals, proof)


class FastVerifier:
    """snarkjs's verifier in a long-lived Node helper (12-15 ms a proof here).

    ``node`` shares a helper with a Prover; by default this verifier owns one, stopped
    by :meth:`close`. Raises HelperError / SetupMissingError when the helper cannot run.
    """

    def __init__(self, paths: ZkPaths | None = None, *, node: ZkNode | None = None) -> None:
        self._owns_node = node is None
        self._node = node if node is not None else ZkNode(paths)

    @property
    def node(self) -> ZkNode:
        return self._node

    def verify(self, vk: KeyLike, public_signals: Sequence[object], proof: ProofLike) -> bool:
        parsed = _parse(vk, public_signals, proof)
        if parsed is None:
            return False
        key, signals, prf = parsed
        reply = self._node.request(
            "verify",
            vkey=key.to_json(),
            publicSignals=[str(s) for s in signals],
            proof=prf.to_json(),
        )
        if not reply.get("valid"):
            log.debug("proof rejected: %s", reply.get("reason"))
        return bool(reply.get("valid"))

    async def averify(
        self, vk: KeyLike, public_signals: Sequence[object], proof: ProofLike
    ) -> bool:
        """:meth:`verify` in a worker thread, for asyncio callers."""
        return await asyncio.to_thread(self.verify, vk, public_signals, proof)

    def close(self) -> None:
        if self._owns_node:
            self._node.close()

    def __enter__(self) -> FastVerifier:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def check_proof(
    verifier: Verifier,
    vk: KeyLike,
    bundle: ProofBundle | Mapping[str, Any],
    expected_signals: Sequence[int],
    *,
    circuit: str | None = None,
) -> None:
    """What a requester does with a result's proof (``docs/protocol.md``, section 13):
    the bundle must be for
    ``circuit`` (if given), carry exactly ``expected_signals`` (from
    :mod:`ccnet.zk.tasks`) and verify under ``vk``.

    ``bundle`` is a :class:`ccnet.zk.prover.ProofBundle` or its JSON. Raises InvalidProofError
    otherwise: the requester rejects the result and pays nothing for it."""
    if not isinstance(bundle, ProofBundle):
        try:
            bundle = ProofBundle.from_json(bundle)
        except (ValueError, AttributeError) as err:
            raise InvalidProofError(f"malformed proof bundle: {err}") from None
    name = bundle.circuit
    if circuit is not None and name != circuit:
        raise InvalidProofError(f"proof is for circuit {name!r}", circuit=circuit)
    if tuple(bundle.public_signals) != tuple(expected_signals):
        raise InvalidProofError("public signals do not match the task", circuit=name)
    if not verifier.verify(vk, bundle.public_signals, bundle.proof):
        raise InvalidProofError("proof does not verify", circuit=name)
