"""Errors raised by ccnet.worker; all descend from :class:`WorkerError`.

Run errors (:class:`JobRunError` and its subclasses) say how a job ended when it did
not end with exit code 0. Each carries the fuel the job burnt before it stopped (the
requester still pays for it, see :mod:`.billing`), the captured stderr (capped) and a
short ``code`` that names the failure on the wire, so a worker and a requester agree on
it. Hostile modules always end in one of these, never in a crash or a hang.
"""

from __future__ import annotations

from ccnet.client.exceptions import CcnetError

__all__ = [
    "BenchmarkError",
    "ConfigError",
    "DeadlineExceeded",
    "FuelExhausted",
    "InputTooLarge",
    "InvalidModuleError",
    "JobExitError",
    "JobRunError",
    "JobTrapped",
    "MemoryLimitExceeded",
    "OutputLimitExceeded",
    "SandboxClosedError",
    "WorkerError",
]


class WorkerError(CcnetError):
    """Root of the errors of ccnet.worker."""


class ConfigError(WorkerError):
    """A worker setting is missing, mistyped or out of range (names the knob)."""


# --- modules -------------------------------------------------------------------------


class InvalidModuleError(WorkerError):
    """The bytes are not a Wasm module this sandbox can run: they do not compile, import
    something other than WASI preview 1, or export no ``_start``."""


class SandboxClosedError(WorkerError):
    """The sandbox was closed; create a new one."""


class InputTooLarge(WorkerError):
    """The job's stdin or argv is larger than the configured cap (nothing was run)."""


# --- runs ----------------------------------------------------------------------------


class JobRunError(WorkerError):
    """A job did not finish with exit code 0.

    ``fuel_used`` is the fuel burnt until it stopped (the whole budget when it ran out),
    ``stderr`` its captured stderr (capped, possibly cut).
    """

    code = "run-failed"

    def __init__(self, message: str, *, fuel_used: int, stderr: bytes = b"") -> None:
        super().__init__(message)
        self.fuel_used = fuel_used
        self.stderr = stderr


class FuelExhausted(JobRunError):
    """The job used up its fuel budget (an endless loop ends here first)."""

    code = "out-of-fuel"


class DeadlineExceeded(JobRunError):
    """The job ran past its wall-clock deadline (epoch interruption)."""

    code = "deadline"


class MemoryLimitExceeded(JobRunError):
    """The job needed more linear memory than the cap (``memory.grow`` failed, or the
    module's declared minimum is over the cap)."""

    code = "memory-limit"


class OutputLimitExceeded(JobRunError):
    """The job wrote more to stdout or stderr than the cap allows (``stream`` names it)."""

    code = "output-limit"

    def __init__(self, message: str, *, stream: str, fuel_used: int, stderr: bytes = b"") -> None:
        super().__init__(message, fuel_used=fuel_used, stderr=stderr)
        self.stream = stream


class JobTrapped(JobRunError):
    """The job trapped (``unreachable``, out-of-bounds access, stack overflow, a panic
    compiled as abort, a WASI call the host refused...). ``trap`` names the trap code
    when Wasmtime gave one (e.g. ``"STACK_OVERFLOW"``), else ``None``."""

    code = "trap"

    def __init__(
        self, message: str, *, trap: str | None, fuel_used: int, stderr: bytes = b""
    ) -> None:
        super().__init__(message, fuel_used=fuel_used, stderr=stderr)
        self.trap = trap


class JobExitError(JobRunError):
    """The job exited with a non-zero exit code (``exit_code``)."""

    code = "exit"

    def __init__(
        self, message: str, *, exit_code: int, fuel_used: int, stderr: bytes = b""
    ) -> None:
        super().__init__(message, fuel_used=fuel_used, stderr=stderr)
        self.exit_code = exit_code


# --- benchmark -----------------------------------------------------------------------


class BenchmarkError(WorkerError):
    """The self-benchmark failed or produced a wrong answer."""
