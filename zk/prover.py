"""The prover: Groth16 proofs of a circuit's statement, from one long-lived Node process.

A worker proves a task result when the task asks for it or its reputation tier requires
it (``docs/protocol.md``, section 13), and sends the :class:`ProofBundle` with the result.
Proving runs snarkjs's ``groth16.fullProve`` (witness + proof) in zk/js/server.mjs,
started once (see :class:`ccnet.zk.node.ZkNode`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from ccnet.zk.artifacts import CIRCUITS, ZkPaths
from ccnet.zk.exceptions import HelperError, ProverError
from ccnet.zk.groth16 import Proof, parse_signals
from ccnet.zk.node import ZkNode


@dataclass(frozen=True)
class ProofBundle:
    """What a worker attaches to a result: the circuit, the proof and its public signals
    (ints below the BN254 scalar field order, in snarkjs order: outputs, then public
    inputs)."""

    circuit: str
    proof: Proof
    public_signals: tuple[int, ...]

    def to_json(self) -> dict[str, Any]:
        """``{"circuit", "proof" (snarkjs JSON), "publicSignals" (decimal strings)}``."""
        return {
            "circuit": self.circuit,
            "proof": self.proof.to_json(),
            "publicSignals": [str(s) for s in self.public_signals],
        }

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> ProofBundle:
        """Parse what :meth:`to_json` wrote (e.g. received from a worker).

        Raises ValueError if malformed; a well-formed bundle may still not verify."""
        circuit = obj.get("circuit")
        if not isinstance(circuit, str):
            raise ValueError("proof bundle: circuit must be a string")
        return cls(
            circuit=circuit,
            proof=Proof.from_json(obj.get("proof")),  # type: ignore[arg-type]
            public_signals=parse_signals(obj.get("publicSignals")),  # type: ignore[arg-type]
        )


def _jsonable(value: object) -> object:
    """Circuit inputs for snarkjs: ints (and nested lists of them) as decimal strings."""
    if isinstance(value, bool):
        raise ValueError("circuit inputs are field elements, not booleans")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return value
    if isinstance(value, Sequence):
        return [_jsonable(v) for v in value]
    raise ValueError(f"unsupported circuit input {value!r}")


class Prover:
    """Makes proofs for the circuits in zk/circuits/.

    ``node`` shares a helper process with other users (e.g. a FastVerifier); by default
    the prover owns one, stopped by :meth:`close`.
    """

    def __init__(self, paths: ZkPaths | None = None, *, node: ZkNode | None = None) -> None:
        self._owns_node = node is None
        self._node: ZkNode = node if node is not None else ZkNode(paths)
        self._paths = self._node.paths

    @property
    def node(self) -> ZkNode:
        """The :class:`ccnet.zk.node.ZkNode` this prover uses (also for Poseidon)."""
        return self._node

    def prove(self, circuit: str, inputs: Mapping[str, object]) -> ProofBundle:
        """Prove ``circuit`` on ``inputs`` (signal name -> int or nested lists of ints;
        build them with :mod:`ccnet.zk.tasks`).

        Raises SetupMissingError (circuit not built), ValueError (unknown circuit or input
        type), ProverError (inputs do not satisfy the circuit, or the helper failed)."""
        if circuit not in CIRCUITS:
            raise ValueError(f"unknown circuit {circuit!r}; known: {', '.join(CIRCUITS)}")
        built = self._paths.artifacts(circuit)
        payload = {name: _jsonable(value) for name, value in inputs.items()}
        try:
            reply = self._node.request(
                "prove", wasm=str(built.wasm), zkey=str(built.zkey), input=payload
            )
        except HelperError as err:
            raise ProverError(f"{circuit}: {err}", log_tail=err.log_tail) from None
        return ProofBundle(
            circuit=circuit,
            proof=Proof.from_json(reply["proof"]),
            public_signals=parse_signals(reply["publicSignals"]),
        )

    async def aprove(self, circuit: str, inputs: Mapping[str, object]) -> ProofBundle:
        """:meth:`prove` in a worker thread, for asyncio callers."""
        return await asyncio.to_thread(self.prove, circuit, inputs)

    def close(self) -> None:
        """Stop the helper process if this prover started it."""
        if self._owns_node:
            self._node.close()

    def __enter__(self) -> Prover:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
