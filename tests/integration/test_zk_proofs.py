"""ccnet.zk end to end with the real tools: circom2-built circuits, snarkjs proving in
the long-lived Node helper, and the three verifiers (snarkjs in Node, arkworks native,
py_ecc reference) agreeing on valid and tampered proofs."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from py_ecc.fields import optimized_bn128_FQ as FQ
from py_ecc.fields import optimized_bn128_FQ2 as FQ2
from py_ecc.optimized_bn128 import G1, add, multiply, normalize

from ccnet.zk import (
    CIRCUITS,
    FastVerifier,
    InvalidProofError,
    NativeVerifier,
    ProofBundle,
    Prover,
    ProverError,
    ReferenceVerifier,
    ZkNode,
    check_proof,
    tasks,
)
from ccnet.zk.artifacts import ZkPaths
from ccnet.zk.build import build
from ccnet.zk.encoding import proof_from_bytes
from ccnet.zk.groth16 import G1Point, G2Point, Proof, R

SHARED_CASES = json.loads(
    (Path(__file__).resolve().parents[1] / "vectors" / "zk_groth16_cases.json").read_text()
)["cases"]

Proved = Any  # tests/fixtures/zk.py's Proved: bundle, vkey, expected, inputs


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _affine1(p: G1Point, k: int = 1, plus_gen: bool = False) -> G1Point:
    """k * p (+ G1), affine: another point on the curve."""
    assert p is None or len(p) == 2
    pt = (FQ(p[0]), FQ(p[1]), FQ.one()) if p is not None else (FQ.one(), FQ.one(), FQ.zero())
    pt = multiply(pt, k)
    if plus_gen:
        pt = add(pt, G1)
    x, y = normalize(pt)
    return (int(x), int(y))


def _double_g2(p: G2Point) -> G2Point:
    assert p is not None
    (x0, x1), (y0, y1) = p
    pt = multiply((FQ2([x0, x1]), FQ2([y0, y1]), FQ2.one()), 2)
    x, y = normalize(pt)
    return ((int(x.coeffs[0]), int(x.coeffs[1])), (int(y.coeffs[0]), int(y.coeffs[1])))


@pytest.mark.parametrize("circuit", CIRCUITS)
def test_proof_carries_expected_signals_and_all_verifiers_accept(
    circuit: str,
    zk_proved: dict[str, Proved],
    zk_fast_verifier: FastVerifier,
    zk_native_verifier: NativeVerifier,
    zk_reference_verifier: ReferenceVerifier,
) -> None:
    p = zk_proved[circuit]
    assert p.bundle.circuit == circuit
    assert p.bundle.public_signals == p.expected
    assert zk_fast_verifier.verify(p.vkey, p.bundle.public_signals, p.bundle.proof)
    assert zk_native_verifier.verify(p.vkey, p.bundle.public_signals, p.bundle.proof)
    assert zk_reference_verifier.verify(p.vkey, p.bundle.public_signals, p.bundle.proof)
    # What the requester runs; the bundle travels as JSON.
    check_proof(zk_fast_verifier, p.vkey, p.bundle.to_json(), p.expected, circuit=circuit)
    check_proof(zk_native_verifier, p.vkey, p.bundle.to_json(), p.expected, circuit=circuit)


def _flip_signal(p: Proved) -> tuple[object, tuple[int, ...], Proof]:
    s = list(p.bundle.public_signals)
    s[-1] = (s[-1] + 1) % R
    return p.vkey, tuple(s), p.bundle.proof


def _perturb_a(p: Proved) -> tuple[object, tuple[int, ...], Proof]:
    proof = dataclasses.replace(p.bundle.proof, a=_affine1(p.bundle.proof.a, plus_gen=True))
    return p.vkey, p.bundle.public_signals, proof


def _perturb_c(p: Proved) -> tuple[object, tuple[int, ...], Proof]:
    proof = dataclasses.replace(p.bundle.proof, c=_affine1(p.bundle.proof.c, k=2))
    return p.vkey, p.bundle.public_signals, proof


def _perturb_b(p: Proved) -> tuple[object, tuple[int, ...], Proof]:
    proof = dataclasses.replace(p.bundle.proof, b=_double_g2(p.bundle.proof.b))
    return p.vkey, p.bundle.public_signals, proof


def _b_outside_subgroup(p: Proved) -> tuple[object, tuple[int, ...], Proof]:
    """B on the twist but outside G2 (from the shared cases): a pairing alone would
    not notice; each verifier checks the subgroup."""
    case = next(c for c in SHARED_CASES if c["rejected_as"] == "NotInSubgroup")
    b = proof_from_bytes(bytes.fromhex(case["proof"])).b
    return p.vkey, p.bundle.public_signals, dataclasses.replace(p.bundle.proof, b=b)


def _swap_a_c(p: Proved) -> tuple[object, tuple[int, ...], Proof]:
    proof = dataclasses.replace(p.bundle.proof, a=p.bundle.proof.c, c=p.bundle.proof.a)
    return p.vkey, p.bundle.public_signals, proof


def _a_off_curve(p: Proved) -> tuple[object, tuple[int, ...], Proof]:
    a = p.bundle.proof.a
    assert a is not None
    proof = dataclasses.replace(p.bundle.proof, a=(a[0], (a[1] + 1)))
    return p.vkey, p.bundle.public_signals, proof


def _wrong_vk_same_size(p: Proved) -> tuple[object, tuple[int, ...], Proof]:
    vk = dict(p.vkey)
    vk["vk_delta_2"], vk["vk_gamma_2"] = vk["vk_gamma_2"], vk["vk_delta_2"]
    return vk, p.bundle.public_signals, p.bundle.proof


def _signal_not_in_field(p: Proved) -> tuple[object, tuple[int, ...], Proof]:
    s = list(p.bundle.public_signals)
    s[0] += R  # the same value mod r: must still be rejected
    return p.vkey, tuple(s), p.bundle.proof


TAMPERS: dict[str, Callable[[Proved], tuple[object, tuple[int, ...], Proof]]] = {
    "flip-public-signal": _flip_signal,
    "perturb-a": _perturb_a,
    "perturb-b": _perturb_b,
    "perturb-c": _perturb_c,
    "b-outside-subgroup": _b_outside_subgroup,
    "swap-a-c": _swap_a_c,
    "a-off-curve": _a_off_curve,
    "wrong-vk": _wrong_vk_same_size,
    "signal-not-in-field": _signal_not_in_field,
}


@pytest.mark.parametrize("tamper", TAMPERS)
def test_tampered_proofs_rejected_by_all_three(
    tamper: str,
    zk_proved: dict[str, Proved],
    zk_fast_verifier: FastVerifier,
    zk_native_verifier: NativeVerifier,
    zk_reference_verifier: ReferenceVerifier,
) -> None:
    vk, signals, proof = TAMPERS[tamper](zk_proved["billing"])
    assert zk_fast_verifier.verify(vk, signals, proof) is False  # type: ignore[arg-type]
    assert zk_native_verifier.verify(vk, signals, proof) is False  # type: ignore[arg-type]
    assert zk_reference_verifier.verify(vk, signals, proof) is False  # type: ignore[arg-type]


@pytest.mark.parametrize("other", ["poseidon_commit", "matmul"])
def test_another_circuits_key_rejects(
    other: str,
    zk_proved: dict[str, Proved],
    zk_fast_verifier: FastVerifier,
    zk_native_verifier: NativeVerifier,
) -> None:
    p = zk_proved["billing"]
    wrong = zk_proved[other].vkey
    reference = ReferenceVerifier()
    assert zk_fast_verifier.verify(wrong, p.bundle.public_signals, p.bundle.proof) is False
    assert zk_native_verifier.verify(wrong, p.bundle.public_signals, p.bundle.proof) is False
    assert reference.verify(wrong, p.bundle.public_signals, p.bundle.proof) is False


def test_requester_rejects_a_proof_for_another_task(
    zk_proved: dict[str, Proved], zk_fast_verifier: FastVerifier, zk_node: ZkNode
) -> None:
    p = zk_proved["matmul"]
    a, b, task = p.inputs["a"], p.inputs["b"], p.inputs["task"]
    other_task = tasks.matmul_signals(a, b, tasks.matmul(a, b), task + 1, zk_node.poseidon)
    with pytest.raises(InvalidProofError, match="do not match"):
        check_proof(zk_fast_verifier, p.vkey, p.bundle, other_task, circuit="matmul")
    wrong_c = [[0] * 3 for _ in range(3)]
    wrong_result = tasks.matmul_signals(a, b, wrong_c, task, zk_node.poseidon)
    with pytest.raises(InvalidProofError, match="do not match"):
        check_proof(zk_fast_verifier, p.vkey, p.bundle, wrong_result)
    with pytest.raises(InvalidProofError, match="circuit 'matmul'"):
        check_proof(zk_fast_verifier, p.vkey, p.bundle, p.expected, circuit="billing")
    # Signals claimed to match, but the proof was made for other values.
    forged = ProofBundle(p.bundle.circuit, p.bundle.proof, other_task)
    with pytest.raises(InvalidProofError, match="does not verify"):
        check_proof(zk_fast_verifier, p.vkey, forged, other_task)


def test_circuit_rejects_a_claim_it_cannot_prove(zk_prover: Prover) -> None:
    # fuel beyond u64: the Num2Bits range check fails in the witness generator.
    with pytest.raises(ProverError, match="billing"):
        zk_prover.prove("billing", {"fuel": 1 << 64, "rate": 1, "cap": 1 << 100})
    # amount above the cap.
    with pytest.raises(ProverError):
        zk_prover.prove("billing", {"fuel": 10, "rate": 10, "cap": 99})
    # The helper survives failed requests.
    assert zk_prover.node.ping()


def test_poseidon_matches_the_circuit(zk_proved: dict[str, Proved], zk_node: ZkNode) -> None:
    chunks = tasks.encode_chunks(b"ccnet task input: hello, zk")
    assert zk_proved["poseidon_commit"].bundle.public_signals[0] == zk_node.poseidon(chunks)
    assert zk_node.poseidon(chunks[:7]) != zk_node.poseidon(chunks)


def test_helper_restarts_after_dying_and_close_leaves_no_process(zk_paths: ZkPaths) -> None:
    with ZkNode(zk_paths) as node, Prover(node=node) as prover, FastVerifier(node=node) as fv:
        first = prover.prove("billing", tasks.billing_input(3, 4, 12))
        pid = node.pid
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        second = prover.prove("billing", tasks.billing_input(3, 4, 12))
        assert node.pid not in (None, pid)
        vk = zk_paths.artifacts("billing").vkey()
        assert fv.verify(vk, first.public_signals, first.proof)
        assert fv.verify(vk, second.public_signals, second.proof)
        last = node.pid
        assert last is not None
    assert node.pid is None
    assert not pid_alive(last)


def test_async_wrappers(
    zk_prover: Prover, zk_fast_verifier: FastVerifier, zk_paths: ZkPaths
) -> None:
    async def run() -> bool:
        bundle = await zk_prover.aprove("billing", tasks.billing_input(5, 6, 30))
        vk = zk_paths.artifacts("billing").vkey()
        return await zk_fast_verifier.averify(vk, bundle.public_signals, bundle.proof)

    assert asyncio.run(run())


def test_warm_build_changes_nothing(zk_paths: ZkPaths) -> None:
    before = {name: zk_paths.artifacts(name).zkey.stat().st_mtime_ns for name in CIRCUITS}
    built = build(zk_paths)
    assert [a.name for a in built] == list(CIRCUITS)
    assert {a.name: a.zkey.stat().st_mtime_ns for a in built} == before
