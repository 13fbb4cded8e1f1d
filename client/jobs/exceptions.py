"""Errors of the job protocol (:mod:`ccnet.client.jobs`); its own ones descend from
:class:`JobProtocolError`, a :class:`~ccnet.client.exceptions.CcnetError`.

A message that does not decode raises the shared
:class:`~ccnet.client.exceptions.MalformedMessageError`, and a signature that does not
verify the shared :class:`~ccnet.client.exceptions.BadSignatureError`: the same ideas
carry the same names in every protocol (``docs/protocol.md``).
"""

from __future__ import annotations

from ..exceptions import CcnetError, NotFoundError

__all__ = [
    "FutureHeartbeatError",
    "HeartbeatError",
    "HeartbeatRateError",
    "JobModuleNotBuiltError",
    "JobProtocolError",
    "ReplayedHeartbeatError",
    "ResultError",
    "StaleHeartbeatError",
    "UnknownCircuitError",
]


class JobProtocolError(CcnetError):
    """Root of the job protocol's own errors."""


class JobModuleNotBuiltError(JobProtocolError, NotFoundError):
    """A built-in job module (``worker/jobs``) has not been built yet
    (``bash scripts/build-jobs.sh`` builds them)."""


class ResultError(JobProtocolError):
    """A job result is inconsistent (e.g. its output does not match its hash)."""


class UnknownCircuitError(JobProtocolError, ValueError):
    """No job result can be proven with this circuit (see
    :data:`~ccnet.client.jobs.proofs.JOB_CIRCUITS`), or the output does not fit it."""


class HeartbeatError(JobProtocolError):
    """A heartbeat was rejected (see the subclasses)."""


class StaleHeartbeatError(HeartbeatError):
    """The heartbeat's timestamp is older than the accepted window (60 s by default)."""


class FutureHeartbeatError(HeartbeatError):
    """The heartbeat's timestamp is ahead of the receiver's clock by more than the skew."""


class ReplayedHeartbeatError(HeartbeatError):
    """The heartbeat's (worker, nonce) was already seen within the window."""


class HeartbeatRateError(HeartbeatError):
    """The worker sent more heartbeats within the window than the receiver accepts."""
