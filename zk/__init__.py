"""Zero-knowledge proofs for task results (``docs/protocol.md``, section 13; ``zk/README.md``).

Circuits (circom 2) live beside this package in zk/circuits/ and are built by
scripts/zk-setup.sh into a cache outside git. A worker proves a result with
:class:`Prover`; a requester checks it with :func:`check_proof` and a
:class:`FastVerifier` (snarkjs in a long-lived Node process, 12-15 ms a proof here), or
the pure-Python :class:`ReferenceVerifier` (py_ecc, about 0.4 s). See zk/README.md.
"""

# ruff: noqa: E402 (py_ecc is imported first, on purpose: see below)

import logging
import sys

# py_ecc raises the process's recursion limit to 100,000 when imported. Python's C JSON
# parser then recurses past the C stack on a deeply nested peer message ("[" * 200_000)
# and the process dies with SIGSEGV instead of raising RecursionError, so any peer could
# kill a worker. The verifier does not need the deeper limit: keep the process's own.
_RECURSION_LIMIT = sys.getrecursionlimit()
import py_ecc  # noqa: F401

sys.setrecursionlimit(_RECURSION_LIMIT)

from ccnet.zk.artifacts import CIRCUITS, CircuitArtifacts, ZkPaths
from ccnet.zk.groth16 import Proof, VerifyingKey
from ccnet.zk.node import ZkNode
from ccnet.zk.prover import ProofBundle, Prover
from ccnet.zk.verifier import (
    FastVerifier,
    NativeVerifier,
    ReferenceVerifier,
    Verifier,
    check_proof,
    verify,
)

from .exceptions import HelperError, InvalidProofError, ProverError, SetupMissingError, ZkError

__all__ = [
    "CIRCUITS",
    "CircuitArtifacts",
    "FastVerifier",
    "HelperError",
    "Proof",
    "ProofBundle",
    "InvalidProofError",
    "NativeVerifier",
    "Prover",
    "ProverError",
    "ReferenceVerifier",
    "SetupMissingError",
    "Verifier",
    "VerifyingKey",
    "ZkError",
    "ZkNode",
    "ZkPaths",
    "check_proof",
    "verify",
]

logging.getLogger(__name__).addHandler(logging.NullHandler())
