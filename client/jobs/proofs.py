"""The requester's side of job proofs: the public signals a valid proof must carry.

A requester rejects a result whose proof does not verify, and pays nothing for it
(``docs/protocol.md``, section 13); circuits of :mod:`ccnet.zk` (``zk/README.md``). A
:class:`~ccnet.client.jobs.messages.JobRequest` names a circuit in ``proof``; the worker
proves the statement below about its result (:class:`ccnet.worker.proofs.ProofService`
makes the circuit inputs) and sends the
:class:`~ccnet.zk.prover.ProofBundle` JSON in ``JobResult.proof``; the requester
recomputes the public signals from what it knows (the request, the signed result, the
output) and checks the bundle with :func:`ccnet.zk.verifier.check_proof`:

- ``poseidon_commit``: the output bytes (stdout, at most
  :data:`~ccnet.zk.tasks.COMMIT_MAX_BYTES` = 247 bytes, e.g. a prime count or a SHA-256
  line) committed with Poseidon and bound to the result's ``task_id``. Public signals
  ``[Poseidon(encode_chunks(output)), task_id]``.
- ``billing``: the price claim ``fuel_used * rate <= cap`` with ``rate`` the request's
  ``rate_planck_per_fuel`` and ``cap = fuel_limit * rate`` (planck; the most the
  requester agreed to pay). Public signals ``[amount, fuel_used, rate, cap]``.

Poseidon is computed by a ``hasher`` (:meth:`ccnet.zk.node.ZkNode.poseidon`).
"""

from __future__ import annotations

from dataclasses import dataclass

from ccnet.zk import tasks as zk_tasks

from .billing import price
from .exceptions import UnknownCircuitError

__all__ = ["JOB_CIRCUITS", "ProofContext", "check_circuit", "expected_signals"]

JOB_CIRCUITS = ("poseidon_commit", "billing")
"""Circuits a Wasm job result can be proven with."""


@dataclass(frozen=True)
class ProofContext:
    """What both sides know about one result."""

    task_id: int
    """The signed result's job id (u64)."""
    output: bytes
    """The job's stdout."""
    fuel_used: int
    """Fuel the signed result claims."""
    rate_planck_per_fuel: int
    """The request's rate, planck per fuel."""
    fuel_limit: int
    """The request's fuel limit, fuel."""

    @property
    def cap(self) -> int:
        """The billing cap: fuel limit times rate, planck."""
        return price(self.fuel_limit, self.rate_planck_per_fuel)


def check_circuit(circuit: str, *, output_size: int | None = None) -> str:
    """*circuit* if a job result can be proven with it (and an output of *output_size*
    bytes fits it), else :class:`~ccnet.client.jobs.exceptions.UnknownCircuitError`."""
    if circuit not in JOB_CIRCUITS:
        raise UnknownCircuitError(
            f"no job proof with circuit {circuit!r}; have {', '.join(JOB_CIRCUITS)}"
        )
    if (
        circuit == "poseidon_commit"
        and output_size is not None
        and output_size > zk_tasks.COMMIT_MAX_BYTES
    ):
        raise UnknownCircuitError(
            f"poseidon_commit proves outputs of at most {zk_tasks.COMMIT_MAX_BYTES} B"
        )
    return circuit


def expected_signals(circuit: str, ctx: ProofContext, hasher: zk_tasks.Hasher) -> tuple[int, ...]:
    """The public signals a valid proof of *ctx* must carry (``ValueError`` when the
    result cannot have a valid proof at all)."""
    check_circuit(circuit)
    if circuit == "poseidon_commit":
        chunks = zk_tasks.encode_chunks(ctx.output)
        return zk_tasks.poseidon_commit_signals(chunks, ctx.task_id, hasher)
    return zk_tasks.billing_signals(ctx.fuel_used, ctx.rate_planck_per_fuel, ctx.cap)
