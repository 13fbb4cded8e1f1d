"""The job protocol between requesters and workers, without the sandbox (no wasmtime).

What a job is on the wire and on chain, as both roles need it (``docs/protocol.md``):

- :mod:`.messages`: the job messages on the ``"tasks"`` data channel;
- :mod:`.failures`: the failure codes of ``job_failed``;
- :mod:`.results`: the worker's signed result (:class:`~ccnet.client.jobs.results.SignedResult`),
  input and output hashes;
- :mod:`.heartbeat`: signed heartbeats, their schedule and their checks;
- :mod:`.jobspec`: the job spec an on-chain task carries;
- :mod:`.billing`: fuel times rate, and what failed runs bill;
- :mod:`.proofs`: the public signals of Groth16 proofs of job results;
- :mod:`.catalogue`: the built-in job modules and how modules are named;
- :mod:`.matmul`: the input and output format of the built-in ``matmul`` job;
- :mod:`.exceptions`: :class:`~ccnet.client.jobs.exceptions.JobProtocolError`.
"""

import logging

__all__: list[str] = []

logging.getLogger(__name__).addHandler(logging.NullHandler())
