"""A malicious worker: the real ``ccnet worker run``, lying about the fuel it burnt.

Run as ``python rogue_worker.py [ccnet options] worker run ...`` (the arguments of the
``ccnet`` command); ``CCNET_ROGUE_MODE`` says how it lies:

- ``overfuel``: every result it returns claims ``fuel limit + 1`` fuel, signed with its
  own key (a valid signature over a lie): a bill beyond the job's reservation;
- ``failed-overbill``: every job "runs out of fuel" and its ``job_failed`` claims ten
  times the fuel limit (hoping the requester pays failures by the claim).

Everything else (registration, the DHT, sessions, the payment channel, countersigning
and closing) is the unmodified daemon, so the requester it attacks sees a real worker.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

from ccnet.client.cli import main
from ccnet.client.jobs.results import SignedResult
from ccnet.worker.exceptions import FuelExhaustedError
from ccnet.worker.executor import ExecutedJob, JobExecutor

MODES = ("overfuel", "failed-overbill")

_honest_run = JobExecutor.run


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


if __name__ == "__main__":
    assert os.environ.get("CCNET_ROGUE_MODE") in MODES, f"CCNET_ROGUE_MODE: one of {MODES}"
    JobExecutor.run = _lying_run  # type: ignore[method-assign]
    main()
