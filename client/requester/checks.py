"""The checks one worker's reply must pass alone, before it is compared with others.

A :class:`~ccnet.client.jobs.messages.JobResult` is accepted as a candidate only if its
signed result (:class:`~ccnet.client.jobs.results.SignedResult`) verifies for the
worker we asked, is bound to this job (the worker, the task id, the module and the
input we sent), it claims no more fuel than the job's fuel limit (a larger claim is a
lie or a bill beyond the job's reservation: :class:`~.exceptions.FuelClaimError`), the
output matches its hash, and, when the job asked for one, the Groth16 proof proves its
statement (:mod:`ccnet.client.jobs.proofs`, checked with
:func:`ccnet.zk.check_proof`). Anything else is an ``invalid`` reply: never paid
(``docs/protocol.md``, "Job messages" and "Proofs").
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ccnet.zk import InvalidProofError

from ..exceptions import BadSignatureError, MalformedMessageError
from ..jobs.exceptions import ResultError
from ..jobs.messages import JobRequest
from ..jobs.proofs import ProofContext, expected_signals
from ..jobs.results import SignedResult, input_hash
from .exceptions import FuelClaimError
from .verdicts import Reply, ReplyKind

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from ccnet.zk import Verifier, ZkNode, ZkPaths

__all__ = ["ResultChecker"]


class ResultChecker:
    """Checks replies (see the module docs). The ZK helper (*zk_paths*, *zk_node*,
    *zk_verifier*) is made on the first proof unless given; :meth:`close` ends what this
    checker made. *default_fuel_limit* (fuel) is the cap of a request that named none."""

    def __init__(
        self,
        *,
        default_fuel_limit: int,
        zk_paths: ZkPaths | None = None,
        zk_node: ZkNode | None = None,
        zk_verifier: Verifier | None = None,
    ) -> None:
        self.default_fuel_limit = default_fuel_limit
        self._zk_paths, self._zk_node, self._zk_verifier = zk_paths, zk_node, zk_verifier
        self._owns_zk = zk_node is None
        self._vkeys: dict[str, dict[str, Any]] = {}

    async def check(
        self,
        worker: str,
        request: JobRequest,
        output: bytes,
        raw: Mapping[str, Any],
        proof: Mapping[str, Any] | None,
        circuit: str | None,
    ) -> Reply:
        """The reply of *worker* (SS58) to *request*: ``returned`` when every check
        passes, else ``invalid`` with the reason."""
        try:
            result = SignedResult.from_json(dict(raw)).verify()
        except (MalformedMessageError, BadSignatureError) as err:
            return Reply(worker, ReplyKind.INVALID, reason=str(err))
        expected = {
            "worker": (result.worker, worker),
            "task id": (result.task_id, request.task_id),
            "module": (result.module_hash, request.module_hash),
            "input": (result.input_hash, input_hash(request.args, request.input)),
        }
        for what, (got, want) in expected.items():
            if got != want:
                return Reply(
                    worker,
                    ReplyKind.INVALID,
                    result=result,
                    reason=f"the result is for another {what}",
                )
        fuel_limit = request.fuel_limit or self.default_fuel_limit
        if result.fuel_used > fuel_limit:
            claim = FuelClaimError(worker, result.fuel_used, fuel_limit)
            return Reply(
                worker,
                ReplyKind.INVALID,
                result=result,
                reason=str(claim),
                fuel_used=result.fuel_used,
                error=claim,
            )
        try:
            result.check_output(output)
        except ResultError as err:
            return Reply(worker, ReplyKind.INVALID, result=result, reason=str(err))
        if circuit is not None:
            why = await self._check_proof(circuit, request, result, output, proof)
            if why:
                return Reply(worker, ReplyKind.INVALID, result=result, reason=why)
        return Reply(
            worker, ReplyKind.RETURNED, result=result, output=output, fuel_used=result.fuel_used
        )

    def _zk(self) -> tuple[ZkNode, Verifier, ZkPaths]:
        from ccnet.zk import FastVerifier, NativeVerifier, SetupMissingError, ZkNode, ZkPaths

        if self._zk_paths is None:
            self._zk_paths = ZkPaths.default() if self._zk_node is None else self._zk_node.paths
        if self._zk_node is None:
            self._zk_node = ZkNode(self._zk_paths)
        if self._zk_verifier is None:
            try:
                self._zk_verifier = NativeVerifier()
            except SetupMissingError as err:
                # The same answers through snarkjs, ten times slower (zk/README.md).
                log.warning("%s; verifying proofs with snarkjs instead", err)
                self._zk_verifier = FastVerifier(node=self._zk_node)
        return self._zk_node, self._zk_verifier, self._zk_paths

    async def _check_proof(
        self,
        circuit: str,
        request: JobRequest,
        result: SignedResult,
        output: bytes,
        bundle: Mapping[str, Any] | None,
    ) -> str:
        """ "" if *bundle* proves the statement of *circuit* about this result, else why
        not (the result is then rejected and not paid)."""
        from ccnet.zk import check_proof

        if bundle is None:
            return f"no {circuit} proof"
        node, verifier, paths = self._zk()
        ctx = ProofContext(
            task_id=result.task_id,
            output=output,
            fuel_used=result.fuel_used,
            rate_planck_per_fuel=request.rate_planck_per_fuel,
            fuel_limit=request.fuel_limit or self.default_fuel_limit,
        )
        try:
            signals = await asyncio.to_thread(expected_signals, circuit, ctx, node.poseidon)
        except ValueError as err:
            return f"the result cannot have a valid {circuit} proof: {err}"
        if circuit not in self._vkeys:
            self._vkeys[circuit] = await asyncio.to_thread(lambda: paths.artifacts(circuit).vkey())
        try:
            await asyncio.to_thread(
                check_proof, verifier, self._vkeys[circuit], bundle, signals, circuit=circuit
            )
        except InvalidProofError as err:
            return str(err)  # "proof rejected (circuit): why"
        return ""

    def close(self) -> None:
        """End the ZK helper, if this checker made it. Idempotent."""
        if not self._owns_zk:
            return
        if self._zk_verifier is not None and hasattr(self._zk_verifier, "close"):
            self._zk_verifier.close()
        if self._zk_node is not None:
            self._zk_node.close()
        self._zk_verifier = self._zk_node = None
