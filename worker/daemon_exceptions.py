"""Errors of the worker daemon (``ccnet worker run``): its job executor, proofs, payments
and on-chain duties. All descend from :class:`DaemonError`, a
:class:`~ccnet.worker.exceptions.WorkerError`.

Each error that ends a job off chain has a ``code``: the wire code of the
:class:`~ccnet.client.jobs.messages.JobFailed` the worker answers with.
"""

from __future__ import annotations

from .exceptions import WorkerError

__all__ = [
    "DaemonError",
    "ModuleRejected",
    "PaymentError",
    "ProofFailed",
    "RegistrationError",
    "UnknownModule",
    "UnsupportedRequest",
]


class DaemonError(WorkerError):
    """Root of the worker daemon's errors."""

    code = "internal"


class UnknownModule(DaemonError):
    """The worker has no module with this hash (``module_hash``, 32 bytes): not a built-in
    job and never received."""

    code = "unknown-module"

    def __init__(self, module_hash: bytes) -> None:
        super().__init__(f"no module 0x{module_hash.hex()} here")
        self.module_hash = module_hash


class ModuleRejected(DaemonError):
    """Module bytes were refused: their hash is not the one asked for, or they are larger
    than the worker keeps."""

    code = "malformed"


class UnsupportedRequest(DaemonError):
    """The request asks for something this worker does not do (an unknown proof circuit,
    a rate below its own, a second payment channel in one session)."""

    code = "unsupported"


class ProofFailed(DaemonError):
    """The asked-for proof could not be made (circuits not built, inputs out of range, the
    prover failed)."""

    code = "proof-failed"


class PaymentError(DaemonError):
    """The payment channel named by a request cannot be used (unknown on chain, we are not
    its counterparty, or the requester is not its other party)."""

    code = "payment"


class RegistrationError(DaemonError):
    """The worker could not stake or register on chain at start."""
