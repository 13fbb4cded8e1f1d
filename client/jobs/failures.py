"""Why a job gave no result: the ``code`` of a
:class:`~ccnet.client.jobs.messages.JobFailed`, what each means, and whose fault it is
(``docs/protocol.md``, "Failure codes"). The worker's errors carry these codes
(:mod:`ccnet.worker.exceptions`); billing for failed runs follows them
(:func:`ccnet.client.jobs.billing.billable_fuel`).
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType

__all__ = ["FAILURE_CODES", "NOT_THE_WORKERS_FAULT", "FailureCode"]


class FailureCode(StrEnum):
    """The ``code`` of a :class:`JobFailed`: why a job gave no result (see
    :data:`FAILURE_CODES` for what each means, what it bills and whose fault it is)."""

    OUT_OF_FUEL = "out-of-fuel"
    DEADLINE = "deadline"
    MEMORY_LIMIT = "memory-limit"
    OUTPUT_LIMIT = "output-limit"
    TRAP = "trap"
    EXIT = "exit"
    RUN_FAILED = "run-failed"
    INVALID_MODULE = "invalid-module"
    INPUT_TOO_LARGE = "input-too-large"
    UNKNOWN_MODULE = "unknown-module"
    PROOF_FAILED = "proof-failed"
    PAYMENT = "payment"
    MALFORMED = "malformed"
    UNSUPPORTED = "unsupported"
    BUSY = "busy"
    INTERNAL = "internal"


FAILURE_CODES: Mapping[FailureCode, str] = MappingProxyType(
    {
        FailureCode.OUT_OF_FUEL: "the run used up its fuel limit",
        FailureCode.DEADLINE: "the run passed its wall-clock deadline",
        FailureCode.MEMORY_LIMIT: "the run needed more linear memory than its cap",
        FailureCode.OUTPUT_LIMIT: "the run wrote more than the output cap, or its result does "
        "not fit in one message",
        FailureCode.TRAP: "the run trapped (unreachable, out-of-bounds access, stack "
        "overflow, a refused WASI call)",
        FailureCode.EXIT: "the run exited with a non-zero exit code",
        FailureCode.RUN_FAILED: "the run failed another way",
        FailureCode.INVALID_MODULE: "the module does not compile, imports more than WASI "
        "preview 1, or exports no _start",
        FailureCode.INPUT_TOO_LARGE: "stdin or argv is over the worker's cap (nothing ran)",
        FailureCode.UNKNOWN_MODULE: "the worker has no module with this hash",
        FailureCode.PROOF_FAILED: "the asked-for proof could not be made",
        FailureCode.PAYMENT: "no payment: no channel named and the worker runs no free jobs, "
        "the channel cannot be used or cannot cover the job, or the requester has too much "
        "unpaid work",
        FailureCode.MALFORMED: "the message, the module bytes or the request's limits are invalid",
        FailureCode.UNSUPPORTED: "the worker does not do this (rate below its own, unknown "
        "proof circuit, a second channel in one session)",
        FailureCode.BUSY: "the worker cannot take the job now (queue full, shutting "
        "down): not its fault, ask again or elsewhere",
        FailureCode.INTERNAL: "the worker failed (a bug): counted against it",
    }
)
"""Every failure code and what it means (``docs/protocol.md``, "Failure codes")."""

NOT_THE_WORKERS_FAULT = frozenset({FailureCode.BUSY})
"""Codes a requester does not hold against the worker (its quality score)."""
