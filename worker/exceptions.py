"""Errors raised by the worker daemon (:mod:`ccnet.worker`); all descend from
:class:`WorkerError`.

Each carries ``code``, the :class:`~ccnet.client.jobs.failures.FailureCode` a
:class:`~ccnet.client.jobs.messages.JobFailed` names when the error ends a job
(``docs/protocol.md``, "Failure codes"): so a worker and a requester agree on it.
``internal`` (the default) is a worker's own failure; ``busy`` only the explicit
"cannot take it now" of :class:`WorkerBusyError`.

Run errors (:class:`JobRunError` and its subclasses) say how a job ended when it did
not end with exit code 0. Each carries the fuel the job burnt before it stopped (the
requester still pays for it, see :func:`ccnet.client.jobs.billing.billable_fuel`) and
the captured stderr (capped). Hostile modules always end in one of these, never in a
crash or a hang.
"""

from __future__ import annotations

from ccnet.client.exceptions import CcnetError
from ccnet.client.exceptions import ConfigError as ClientConfigError
from ccnet.client.jobs.failures import FailureCode

__all__ = [
    "AlreadyRunningError",
    "BenchmarkError",
    "ChallengePeriodError",
    "CheckpointError",
    "CheckpointFormatError",
    "CheckpointKeyError",
    "CheckpointMismatchError",
    "ConfigError",
    "DeadlineExceededError",
    "EndpointAnswersError",
    "FuelExhaustedError",
    "InputTooLargeError",
    "InstanceLockedError",
    "InvalidModuleError",
    "JobExitError",
    "JobRunError",
    "JobTrapError",
    "MemoryLimitError",
    "ModuleRejectedError",
    "NotCheckpointableError",
    "OutputLimitError",
    "PaymentError",
    "ProofFailedError",
    "RegistrationError",
    "SandboxClosedError",
    "UncoveredJobError",
    "UnknownModuleError",
    "UnpaidWorkError",
    "UnsupportedRequestError",
    "WorkerBusyError",
    "WorkerError",
]


class WorkerError(CcnetError):
    """Root of the errors of the worker daemon."""

    code: FailureCode = FailureCode.INTERNAL


class ConfigError(WorkerError, ClientConfigError):
    """A worker setting is missing, mistyped or out of range (names the knob); also a
    run's limits beyond the sandbox's caps."""

    code = FailureCode.MALFORMED


class BenchmarkError(WorkerError):
    """The self-benchmark failed or produced a wrong answer."""


class RegistrationError(WorkerError):
    """The worker could not stake or register on chain at start."""


class AlreadyRunningError(WorkerError):
    """Another daemon with this worker's key is running: a second one would take over
    its on-chain endpoint (and, with the same state dir, share its files)."""

    def __init__(self, message: str, *, address: str) -> None:
        super().__init__(message)
        self.address = address
        """The worker's SS58 address."""


class InstanceLockedError(AlreadyRunningError):
    """The state dir's lock file is held by a running daemon (``pid``, when it wrote
    it)."""

    def __init__(self, *, address: str, path: str, pid: int | None) -> None:
        holder = f"process {pid}" if pid else "another process"
        super().__init__(
            f"a worker daemon for {address} is already running ({holder} holds {path}); "
            "stop it first, or give this one another key",
            address=address,
        )
        self.path = path
        self.pid = pid


class EndpointAnswersError(AlreadyRunningError):
    """The chain has this key registered with a signaling endpoint that answers: a
    daemon with the same key serves there (maybe with another state dir, or on another
    machine)."""

    def __init__(self, *, address: str, endpoint: str) -> None:
        super().__init__(
            f"{address} is registered on chain with endpoint {endpoint}, and it answers: "
            "a worker daemon with this key is already running there; stop it first",
            address=address,
        )
        self.endpoint = endpoint


class WorkerBusyError(WorkerError):
    """The worker cannot take the job now (too many requests wait for their module, or
    it is shutting down): no fault of the worker, ask again or elsewhere."""

    code = FailureCode.BUSY


class SandboxClosedError(WorkerBusyError):
    """The sandbox was closed (the daemon is stopping); create a new one."""


# --- modules and requests -------------------------------------------------------------


class InvalidModuleError(WorkerError):
    """The bytes are not a Wasm module this sandbox can run: they do not compile, import
    something other than WASI preview 1 and ``ccnet.safepoint``, or export no ``_start``."""

    code = FailureCode.INVALID_MODULE


class InputTooLargeError(WorkerError):
    """The job's stdin or argv is larger than the configured cap (nothing was run)."""

    code = FailureCode.INPUT_TOO_LARGE


class UnknownModuleError(WorkerError):
    """The worker has no module with this hash (``module_hash``, 32 bytes): not a built-in
    job and never received."""

    code = FailureCode.UNKNOWN_MODULE

    def __init__(self, module_hash: bytes) -> None:
        super().__init__(f"no module 0x{module_hash.hex()} here")
        self.module_hash = module_hash


class ModuleRejectedError(WorkerError):
    """Module bytes were refused: their hash is not the one asked for, they are not Wasm,
    or they are larger than the worker keeps."""

    code = FailureCode.MALFORMED


class UnsupportedRequestError(WorkerError):
    """The request asks for something this worker does not do (an unknown proof circuit,
    a rate below its own, a second payment channel in one session)."""

    code = FailureCode.UNSUPPORTED


class CheckpointError(WorkerError):
    """A VM checkpoint cannot be taken or resumed (``docs/vm-checkpoints.md``)."""

    code = FailureCode.MALFORMED


class CheckpointFormatError(CheckpointError):
    """The bytes are not a VM checkpoint of a version this worker reads: wrong magic,
    another format version, truncated, or corrupted (their digest does not match)."""


class CheckpointKeyError(CheckpointError):
    """A sealed checkpoint does not open under this key: the wrong key, or ciphertext
    that was tampered with (AES-GCM authentication failed)."""


class CheckpointMismatchError(CheckpointError):
    """The checkpoint is valid but not for this run: another module, another engine or
    job ABI version, or other job input (args, stdin, seed)."""


class NotCheckpointableError(CheckpointError):
    """The module has no safe points (it does not import ``ccnet.safepoint`` or was not
    instrumented with Asyncify): it runs, but cannot be checkpointed."""

    code = FailureCode.UNSUPPORTED


class ProofFailedError(WorkerError):
    """The asked-for proof could not be made (circuits not built, inputs out of range, the
    prover failed)."""

    code = FailureCode.PROOF_FAILED


class PaymentError(WorkerError):
    """The job is not paid for: the request names no payment channel and this worker runs
    no free jobs, or the channel cannot be used (unknown on chain, not funded, closing, we
    are not its counterparty, the requester is not its other party)."""

    code = FailureCode.PAYMENT


class ChallengePeriodError(PaymentError):
    """The channel's challenge period (``period``, blocks) is shorter than the worker can
    watch reliably (``minimum``, blocks; see :class:`~ccnet.worker.config.WorkerConfig`)."""

    def __init__(self, channel_id: bytes, period: int, minimum: int) -> None:
        super().__init__(
            f"channel 0x{channel_id.hex()} has a challenge period of {period} blocks; this "
            f"worker watches channels of at least {minimum} blocks"
        )
        self.period = period
        self.minimum = minimum


class UncoveredJobError(PaymentError):
    """The requester's balance in the channel (``available``, planck, after what it
    already owes and has reserved) cannot cover the job's reservation (``needed``:
    fuel limit x rate, planck)."""

    def __init__(self, needed: int, available: int) -> None:
        super().__init__(
            f"the job may cost {needed} planck; your channel has {available} planck left "
            "after the work already running or unpaid: top it up or open a new one"
        )
        self.needed = needed
        self.available = available


class UnpaidWorkError(PaymentError):
    """The requester has ``unpaid`` jobs running or delivered and not paid yet, the
    worker's limit (``limit``): it gets no more until it pays."""

    def __init__(self, requester: str, unpaid: int, limit: int) -> None:
        super().__init__(
            f"{requester} has {unpaid} unpaid job(s) (running or delivered), the limit is "
            f"{limit}: pay for the delivered results first"
        )
        self.requester = requester
        self.unpaid = unpaid
        self.limit = limit


# --- runs ----------------------------------------------------------------------------


class JobRunError(WorkerError):
    """A job did not finish with exit code 0.

    ``fuel_used`` is the fuel burnt until it stopped (the whole budget when it ran out),
    ``stderr`` its captured stderr (capped, possibly cut).
    """

    code = FailureCode.RUN_FAILED

    def __init__(self, message: str, *, fuel_used: int, stderr: bytes = b"") -> None:
        super().__init__(message)
        self.fuel_used = fuel_used
        self.stderr = stderr


class FuelExhaustedError(JobRunError):
    """The job used up its fuel budget (an endless loop ends here first)."""

    code = FailureCode.OUT_OF_FUEL


class DeadlineExceededError(JobRunError):
    """The job ran past its wall-clock deadline (epoch interruption)."""

    code = FailureCode.DEADLINE


class MemoryLimitError(JobRunError):
    """The job needed more linear memory than the cap (``memory.grow`` failed, or the
    module's declared minimum is over the cap)."""

    code = FailureCode.MEMORY_LIMIT


class OutputLimitError(JobRunError):
    """The job wrote more to stdout or stderr than the cap allows (``stream`` names it)."""

    code = FailureCode.OUTPUT_LIMIT

    def __init__(self, message: str, *, stream: str, fuel_used: int, stderr: bytes = b"") -> None:
        super().__init__(message, fuel_used=fuel_used, stderr=stderr)
        self.stream = stream


class JobTrapError(JobRunError):
    """The job trapped (``unreachable``, out-of-bounds access, stack overflow, a panic
    compiled as abort, a WASI call the host refused...). ``trap`` names the trap code
    when Wasmtime gave one (e.g. ``"STACK_OVERFLOW"``), else ``None``."""

    code = FailureCode.TRAP

    def __init__(
        self, message: str, *, trap: str | None, fuel_used: int, stderr: bytes = b""
    ) -> None:
        super().__init__(message, fuel_used=fuel_used, stderr=stderr)
        self.trap = trap


class JobExitError(JobRunError):
    """The job exited with a non-zero exit code (``exit_code``)."""

    code = FailureCode.EXIT

    def __init__(
        self, message: str, *, exit_code: int, fuel_used: int, stderr: bytes = b""
    ) -> None:
        super().__init__(message, fuel_used=fuel_used, stderr=stderr)
        self.exit_code = exit_code
