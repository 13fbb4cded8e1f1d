"""Benchmark ccnet.zk: prove time per circuit in the long-lived Node helper,
and verify time per path (py_ecc four pairings, py_ecc multi-pairing reference, the
snarkjs helper, the native arkworks verifier with a prepared key and from the raw
bytes), plus the one-shot snarkjs CLI for comparison.

Needs the circuits built (scripts/zk-setup.sh). Run: ``.venv/bin/python
benches/bench_zk.py [--rounds N]``; prints a table of median / min times in ms.
"""

from __future__ import annotations

import argparse
import functools
import json
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from ccnet.zk import (
    CIRCUITS,
    FastVerifier,
    NativeVerifier,
    ProofBundle,
    Prover,
    ReferenceVerifier,
    ZkNode,
    ZkPaths,
    tasks,
)
from ccnet.zk.encoding import key_bytes, proof_bytes, signals_bytes
from ccnet.zk.groth16 import VerifyingKey
from ccnet.zk.verifier import verify_naive

A = [[1, 2, 3], [4, 5, 6], [7, 8, 9]]
B = [[9, 8, 7], [6, 5, 4], [3, 2, 1]]


def inputs(name: str) -> dict[str, object]:
    if name == "poseidon_commit":
        return tasks.poseidon_commit_input(tasks.encode_chunks(b"bench input"), 1)
    if name == "billing":
        return tasks.billing_input(1_500_000, 2_000, 10**10)
    return tasks.matmul_input(A, B, 1)


def timed(fn: Callable[[], object], rounds: int) -> list[float]:
    out = []
    for _ in range(rounds):
        started = time.perf_counter()
        fn()
        out.append((time.perf_counter() - started) * 1000)
    return out


def row(label: str, samples: list[float]) -> str:
    median, fastest = statistics.median(samples), min(samples)
    return f"| {label:<56} | {median:>10.1f} | {fastest:>10.1f} | {len(samples):>3} |"


def bench_verify(
    paths: ZkPaths, name: str, bundle: ProofBundle, fast: FastVerifier, rounds: int
) -> list[str]:
    vk = paths.artifacts(name).vkey()
    signals, proof = bundle.public_signals, bundle.proof
    reference, native = ReferenceVerifier(), NativeVerifier()
    assert fast.verify(vk, signals, proof) and reference.verify(vk, signals, proof)
    assert native.verify(vk, signals, proof)
    import ccnet_groth16

    raw_key = key_bytes(VerifyingKey.from_json(vk))
    raw_proof, raw_signals = proof_bytes(proof), signals_bytes(signals)
    prepared = ccnet_groth16.VerifyingKey(raw_key)

    def unprepared() -> object:
        return ccnet_groth16.VerifyingKey(raw_key).rejection(raw_proof, raw_signals)

    rows = [
        row(
            f"verify {name}: native, prepared key, bytes",
            timed(lambda: prepared.rejection(raw_proof, raw_signals), 200),
        ),
        row(
            f"verify {name}: native, key decoded and prepared too",
            timed(unprepared, 50),
        ),
        row(
            f"verify {name}: NativeVerifier (JSON forms)",
            timed(lambda: native.verify(vk, signals, proof), 200),
        ),
        row(
            f"verify {name}: fast (snarkjs helper)",
            timed(lambda: fast.verify(vk, signals, proof), 50),
        ),
        row(
            f"verify {name}: py_ecc multi-pairing",
            timed(lambda: reference.verify(vk, signals, proof), rounds),
        ),
    ]
    if name != "billing":
        return rows
    rows.append(
        row(
            "verify billing: py_ecc 4 pairings (naive)",
            timed(lambda: verify_naive(vk, signals, proof), max(1, rounds // 2)),
        )
    )
    with tempfile.TemporaryDirectory() as tmp:
        files = {"vk": vk, "pub": [str(s) for s in signals], "proof": proof.to_json()}
        for stem, data in files.items():
            (Path(tmp) / f"{stem}.json").write_text(json.dumps(data))
        cli = [
            "node",
            str(paths.node_modules / "snarkjs/build/cli.cjs"),
            "groth16",
            "verify",
            *(f"{tmp}/{stem}.json" for stem in files),
        ]
        one_shot = timed(lambda: subprocess.run(cli, check=True, capture_output=True), 3)
        rows.append(row("verify billing: snarkjs CLI, one process each", one_shot))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5, help="rounds of the slow paths")
    args = parser.parse_args()
    paths = ZkPaths.default()
    rows = []
    with ZkNode(paths) as node:
        prover = Prover(node=node)
        fast = FastVerifier(node=node)
        rows.append(row("helper start (node + snarkjs import)", timed(node.ping, 1)))
        bundles: dict[str, ProofBundle] = {}
        for name in CIRCUITS:
            circuit_in = inputs(name)
            started = time.perf_counter()
            bundles[name] = prover.prove(name, circuit_in)
            first = [(time.perf_counter() - started) * 1000]
            warm = timed(functools.partial(prover.prove, name, circuit_in), args.rounds)
            rows.append(row(f"prove {name}: first (reads zkey, builds curve)", first))
            rows.append(row(f"prove {name}: warm", warm))
        for name in CIRCUITS:
            rows.extend(bench_verify(paths, name, bundles[name], fast, args.rounds))
    print(f"| {'operation':<56} | {'median ms':>10} | {'min ms':>10} | {'n':>3} |")
    print(f"|{'-' * 58}|{'-' * 12}|{'-' * 12}|{'-' * 5}|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
