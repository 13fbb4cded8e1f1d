"""Errors raised by ccnet.zk; all descend from :class:`ccnet.client.exceptions.CcnetError`."""

from __future__ import annotations

from pathlib import Path

from ccnet.client.exceptions import CcnetError

SETUP_HINT = "run scripts/setup.sh (or scripts/zk-setup.sh for the circuits alone)"


class ZkError(CcnetError):
    """A zero-knowledge proof could not be made, checked or set up."""


class SetupMissingError(ZkError):
    """A circuit's build artifacts (R1CS, witness generator, zkey, verification key) or
    the Node tools are not there yet."""

    def __init__(self, what: str, *, path: Path | None = None) -> None:
        where = f" ({path})" if path is not None else ""
        super().__init__(f"{what}{where}: {SETUP_HINT}")
        self.what = what
        self.path = path


class HelperError(ZkError):
    """The Node helper (zk/js/server.mjs) answered an error, died or timed out;
    ``log_tail`` holds its last stderr lines, if any."""

    def __init__(self, message: str, *, log_tail: str = "") -> None:
        super().__init__(message + (f"\n--- log tail ---\n{log_tail}" if log_tail else ""))
        self.log_tail = log_tail


class InvalidProofError(ZkError):
    """A proof does not verify, or its public signals are not the ones the task expects.

    A requester that gets it rejects the result and pays nothing for it
    (``docs/protocol.md``, "Proofs")."""

    def __init__(self, reason: str, *, circuit: str = "") -> None:
        super().__init__(f"proof rejected{f' ({circuit})' if circuit else ''}: {reason}")
        self.reason = reason
        self.circuit = circuit


class ProverError(HelperError):
    """The prover could not make a proof: the input does not satisfy the circuit, or the
    helper failed."""
