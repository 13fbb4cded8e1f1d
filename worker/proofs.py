"""Groth16 proofs a worker attaches to a job result when the request asks for one.

``docs/protocol.md``, section 13; circuits and the prover are :mod:`ccnet.zk` (see
``zk/README.md``). One :class:`~ccnet.zk.prover.Prover` (one long-lived Node process,
started on the first proof) serves the daemon; :meth:`ProofService.close` ends it.

What each supported circuit proves about a job (``JobRequest.proof`` names it):

- ``billing``: the price is fuel x rate within a cap. Inputs: ``fuel`` = the result's
  ``fuel_used``, ``rate`` = the request's ``rate_planck_per_fuel``, ``cap`` = the
  request's ``fuel_limit`` x rate (the most the requester agreed to pay; the worker's
  own fuel limit when the request gives none). Public signals ``[amount, fuel, rate,
  cap]``: the requester checks them with :func:`ccnet.zk.tasks.billing_signals`.
- ``poseidon_commit``: a Poseidon commitment to the output, bound to the job. Inputs:
  ``chunks`` = :func:`ccnet.zk.tasks.encode_chunks` of stdout (at most 247 bytes),
  ``task`` = the result's ``task_id``. Public signals ``[digest, task]``.

``matmul`` needs the matrices as the circuit sees them, which a generic Wasm job does
not give: it is refused (:class:`~ccnet.worker.exceptions.UnsupportedRequestError`).
"""

from __future__ import annotations

import logging
from typing import Any

from ccnet.client.jobs.proofs import JOB_CIRCUITS
from ccnet.zk import Prover, ZkError
from ccnet.zk.tasks import billing_input, encode_chunks, poseidon_commit_input

from .exceptions import ProofFailedError, UnsupportedRequestError

__all__ = ["ProofService"]

log = logging.getLogger(__name__)


class ProofService:
    """Makes the proof bundle of a job result (see the module docs).

    *prover* defaults to a new :class:`~ccnet.zk.prover.Prover` (its Node helper starts
    on the first proof only).
    """

    def __init__(self, prover: Prover | None = None) -> None:
        self._prover = prover
        self._owns = prover is None

    def _get(self) -> Prover:
        if self._prover is None:
            self._prover = Prover()
        return self._prover

    @staticmethod
    def inputs(
        circuit: str, *, task_id: int, output: bytes, fuel: int, rate: int, fuel_budget: int
    ) -> dict[str, object]:
        """The circuit inputs for a job result. Raises :class:`UnsupportedRequestError` for a
        circuit not in :data:`JOB_CIRCUITS` and :class:`ProofFailedError` when the
        values do not fit the circuit (e.g. an output over 247 bytes)."""
        try:
            if circuit == "billing":
                return billing_input(fuel, rate, fuel_budget * rate)
            if circuit == "poseidon_commit":
                return poseidon_commit_input(encode_chunks(output), task_id)
        except ValueError as err:
            raise ProofFailedError(f"{circuit}: {err}") from None
        raise UnsupportedRequestError(
            f"no proof circuit {circuit!r} here (supported: {', '.join(JOB_CIRCUITS)})"
        )

    async def prove(
        self, circuit: str, *, task_id: int, output: bytes, fuel: int, rate: int, fuel_budget: int
    ) -> dict[str, Any]:
        """The proof bundle (:meth:`ccnet.zk.prover.ProofBundle.to_json`) of a result.
        Raises :class:`UnsupportedRequestError` or :class:`ProofFailedError`."""
        inputs = self.inputs(
            circuit, task_id=task_id, output=output, fuel=fuel, rate=rate, fuel_budget=fuel_budget
        )
        try:
            bundle = await self._get().aprove(circuit, inputs)
        except ZkError as err:
            raise ProofFailedError(f"{circuit}: {err}") from None
        return bundle.to_json()

    def close(self) -> None:
        """End the prover's Node helper (if this service started it)."""
        if self._prover is not None and self._owns:
            self._prover.close()
