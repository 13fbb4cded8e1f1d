"""A malicious worker: the real ``ccnet worker run``, lying about the fuel it burnt.

Run as ``python rogue_worker.py [ccnet options] worker run ...`` (the arguments of the
``ccnet`` command); ``CCNET_ROGUE_MODE`` says how it lies:

- ``overfuel``: every result it returns claims ``fuel limit + 1`` fuel, signed with its
  own key (a valid signature over a lie): a bill beyond the job's reservation;
- ``failed-overbill``: every job "runs out of fuel" and its ``job_failed`` claims ten
  times the fuel limit (hoping the requester pays failures by the claim);
- ``proof-*``: a forged Groth16 proof beside an honest result (hoping the requester pays
  a proof that the native verifier reads wrongly): ``proof-alias`` writes A's x as x + q
  (the same point modulo q, not a canonical encoding); ``proof-off-subgroup`` puts in a B
  on the twist curve but outside G2's subgroup (the shared cases' point,
  ``tests/vectors/zk_groth16_cases.json``); ``proof-other-task`` is a valid proof made
  for the next task id (another task's proof, replayed), its task signal rewritten to
  this task's, so that only the pairing check can tell.

Everything else (registration, the DHT, sessions, the payment channel, countersigning
and closing) is the unmodified daemon, so the requester it attacks sees a real worker.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

from ccnet.client.cli import main
from ccnet.client.jobs.results import SignedResult
from ccnet.worker.exceptions import FuelExhaustedError
from ccnet.worker.executor import ExecutedJob, JobExecutor
from ccnet.worker.proofs import ProofService
from ccnet.zk.encoding import proof_from_bytes
from ccnet.zk.groth16 import Q

PROOF_MODES = ("proof-alias", "proof-off-subgroup", "proof-other-task")
MODES = ("overfuel", "failed-overbill", *PROOF_MODES)
CASES = Path(__file__).parents[1] / "vectors" / "zk_groth16_cases.json"

_honest_run = JobExecutor.run
_honest_prove = ProofService.prove


async def _lying_run(self: JobExecutor, module: bytes, **kwargs: Any) -> ExecutedJob:
    budget = self.fuel_limit(kwargs["limits"])
    if os.environ["CCNET_ROGUE_MODE"] == "failed-overbill":
        raise FuelExhaustedError("ran out of fuel (it says)", fuel_used=10 * budget)
    job = await _honest_run(self, module, **kwargs)
    lie = SignedResult.create(
        self.keypair,
        task_id=job.result.task_id,
        module_hash=job.result.module_hash,
        input_hash=job.result.input_hash,
        output_hash=job.result.output_hash,
        fuel_used=budget + 1,
    )
    return dataclasses.replace(job, result=lie)


def _off_subgroup_b() -> Any:
    (case,) = (c for c in json.loads(CASES.read_text())["cases"] if "subgroup" in c["name"])
    return proof_from_bytes(bytes.fromhex(case["proof"])).to_json()["pi_b"]


async def _forged_prove(self: ProofService, circuit: str, **kwargs: Any) -> dict[str, Any]:
    mode = os.environ["CCNET_ROGUE_MODE"]
    task_id = kwargs["task_id"]
    if mode == "proof-other-task":
        assert circuit == "poseidon_commit", "signals [digest, task]"
        kwargs["task_id"] = task_id + 1
    bundle = await _honest_prove(self, circuit, **kwargs)
    proof = bundle["proof"]
    if mode == "proof-other-task":
        bundle["publicSignals"][1] = str(task_id)
    elif mode == "proof-alias":
        proof["pi_a"][0] = str(int(proof["pi_a"][0]) + Q)
    elif mode == "proof-off-subgroup":
        proof["pi_b"] = _off_subgroup_b()
    return bundle


if __name__ == "__main__":
    assert os.environ.get("CCNET_ROGUE_MODE") in MODES, f"CCNET_ROGUE_MODE: one of {MODES}"
    if os.environ["CCNET_ROGUE_MODE"] in PROOF_MODES:
        ProofService.prove = _forged_prove  # type: ignore[method-assign]
    else:
        JobExecutor.run = _lying_run  # type: ignore[method-assign]
    main()
