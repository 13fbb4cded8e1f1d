"""Errors raised by ccnet.client; all descend from :class:`CcnetError`."""

from __future__ import annotations

from pathlib import Path


class CcnetError(Exception):
    """Root of every error raised by the ccnet toolkit."""


class DevChainError(CcnetError):
    """The dev chain could not be started, reached or stopped."""

    def __init__(self, message: str, *, log_tail: str = "") -> None:
        super().__init__(message + (f"\n--- log tail ---\n{log_tail}" if log_tail else ""))
        self.log_tail = log_tail


class SpecNotFoundError(DevChainError):
    """The raw chain spec the dev chain starts from does not exist."""

    def __init__(self, spec: Path) -> None:
        super().__init__(
            f"raw chain spec not found: {spec} "
            "(generate it with scripts/setup.sh, pass --spec FILE, or set $CCNET_ROOT to "
            "the repository checkout when running outside it)"
        )
        self.spec = spec


class LocalNetworkError(CcnetError):
    """A node of the local validator network (``ccnet network``) could not be prepared,
    started, reached or stopped."""

    def __init__(self, message: str, *, log_tail: str = "") -> None:
        super().__init__(message + (f"\n--- log tail ---\n{log_tail}" if log_tail else ""))
        self.log_tail = log_tail


class NodeBinaryNotFoundError(LocalNetworkError):
    """The ``ccnet-node`` binary the local network runs does not exist."""

    def __init__(self, binary: Path) -> None:
        super().__init__(
            f"ccnet-node binary not found: {binary} (build it with `bash "
            "scripts/build-node.sh`, or point $CCNET_NODE_BIN at a built ccnet-node)"
        )
        self.binary = binary


class ChainConnectionError(CcnetError):
    """The chain at ``url`` cannot be reached, or it stopped answering."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(
            f"cannot reach the chain at {url}: {reason} "
            "(is the node running? start a dev chain with `ccnet chain start`, "
            "or point --url / CCNET_URL at a running node)"
        )
        self.url = url
        self.reason = reason


class ChainRequestError(CcnetError):
    """The node answered an RPC request with an error (bad parameters, unknown method)."""


class CallEncodingError(CcnetError, ValueError):
    """The parameters of a call (or a storage key) do not fit the runtime's types."""


class ExtrinsicError(CcnetError):
    """The node rejected an extrinsic before inclusion (bad nonce, low priority, invalid
    transaction, dropped from the pool); nothing was dispatched and no fee was paid."""

    def __init__(self, message: str, *, code: int | None = None, data: object = None) -> None:
        super().__init__(message)
        self.code = code
        self.data = data

    @property
    def nonce_related(self) -> bool:
        """Whether a fresh nonce could fix it (stale/future nonce, same nonce in the pool)."""
        text = f"{self}".lower()
        return self.code == 1014 or any(
            word in text for word in ("stale", "future", "outdated", "priority is too low")
        )


class DispatchError(CcnetError):
    """An included extrinsic failed in the runtime; the fee was paid, the call did nothing.

    ``pallet`` and ``name`` are the runtime error (e.g. ``Channels``, ``BadSignatureA``) and
    ``docs`` its documentation from the metadata. ``str(e)`` reads
    ``"Channels.BadSignatureA: Party A's signature does not verify."``.
    """

    pallet_name: str | None = None
    """The pallet whose errors a subclass stands for (None: any)."""

    def __init__(
        self,
        pallet: str,
        name: str,
        docs: str = "",
        *,
        block_hash: str | None = None,
        extrinsic_hash: str | None = None,
    ) -> None:
        super().__init__(f"{pallet}.{name}: {docs}" if docs else f"{pallet}.{name}")
        self.pallet = pallet
        self.name = name
        self.docs = docs
        self.block_hash = block_hash
        self.extrinsic_hash = extrinsic_hash


class CreditsError(DispatchError):
    """A dispatch error of the Credits pallet (e.g. ``InsufficientStake``)."""

    pallet_name = "Credits"


class TasksError(DispatchError):
    """A dispatch error of the Tasks pallet (e.g. ``UnknownTask``)."""

    pallet_name = "Tasks"


class ChannelsError(DispatchError):
    """A dispatch error of the Channels pallet (e.g. ``BadSignatureA``)."""

    pallet_name = "Channels"


class CheckpointsError(DispatchError):
    """A dispatch error of the Checkpoints pallet (e.g. ``EmptyTxId``)."""

    pallet_name = "Checkpoints"


class DisputesError(DispatchError):
    """A dispatch error of the Disputes pallet (e.g. ``NotVerifier``)."""

    pallet_name = "Disputes"


# -- the court's errors by meaning (pallets/tasks, pallets/disputes, pallets/credits) ----


class CourtTooEarlyError(DispatchError):
    """A court call came before its phase opened (reveals before the deadline, finalize
    inside the challenge window or with a dispute open, votes before the draw, resolve
    while voting): nothing happened; retry after more blocks."""


class CourtTooLateError(DispatchError):
    """A court call came after its phase closed (a claim or commitment after the
    deadline, a reveal after the reveal period, a vote commitment after the commit
    phase): it can no longer be made."""


class BadRevealError(DispatchError):
    """A reveal does not open the commitment on chain (wrong hash, fuel or salt)."""


class StakeBondedError(CreditsError):
    """``Credits.StakeBonded``: that much of the stake is bonded to open claims or
    verifier duties; it can start unbonding once they are settled."""


class ClaimStakeError(TasksError):
    """``Tasks.InsufficientStake``: not enough free active stake to register or to bond
    a claim's ``ClaimBond``."""


class TasksTooEarlyError(TasksError, CourtTooEarlyError):
    """``Tasks.RevealNotOpen``, ``WindowOpen`` or ``DisputeOpen``."""


class TasksTooLateError(TasksError, CourtTooLateError):
    """``Tasks.DeadlinePassed`` or ``RevealClosed``."""


class TasksBadRevealError(TasksError, BadRevealError):
    """``Tasks.BadReveal``."""


class DisputesTooEarlyError(DisputesError, CourtTooEarlyError):
    """``Disputes.NotDrawn``, ``RevealNotOpen`` or ``VotingOpen``."""


class DisputesTooLateError(DisputesError, CourtTooLateError):
    """``Disputes.CommitClosed`` or ``RevealClosed``."""


class DisputesBadRevealError(DisputesError, BadRevealError):
    """``Disputes.BadReveal``."""


_PALLET_ERRORS: dict[str, type[DispatchError]] = {
    cls.pallet_name: cls
    for cls in (CreditsError, TasksError, ChannelsError, CheckpointsError, DisputesError)
    if cls.pallet_name
}

_NAMED_ERRORS: dict[tuple[str, str], type[DispatchError]] = {
    ("Credits", "StakeBonded"): StakeBondedError,
    ("Tasks", "InsufficientStake"): ClaimStakeError,
    ("Tasks", "RevealNotOpen"): TasksTooEarlyError,
    ("Tasks", "WindowOpen"): TasksTooEarlyError,
    ("Tasks", "DisputeOpen"): TasksTooEarlyError,
    ("Tasks", "DeadlinePassed"): TasksTooLateError,
    ("Tasks", "RevealClosed"): TasksTooLateError,
    ("Tasks", "BadReveal"): TasksBadRevealError,
    ("Disputes", "NotDrawn"): DisputesTooEarlyError,
    ("Disputes", "RevealNotOpen"): DisputesTooEarlyError,
    ("Disputes", "VotingOpen"): DisputesTooEarlyError,
    ("Disputes", "CommitClosed"): DisputesTooLateError,
    ("Disputes", "RevealClosed"): DisputesTooLateError,
    ("Disputes", "BadReveal"): DisputesBadRevealError,
}


def dispatch_error(
    pallet: str,
    name: str,
    docs: str = "",
    *,
    block_hash: str | None = None,
    extrinsic_hash: str | None = None,
) -> DispatchError:
    """The :class:`DispatchError` for *pallet.name*: the subclass of its meaning for the
    court's phase, reveal and stake errors (e.g. :class:`TasksTooEarlyError`), else the
    subclass of its pallet for the five ccnet pallets."""
    cls = _NAMED_ERRORS.get((pallet, name)) or _PALLET_ERRORS.get(pallet, DispatchError)
    return cls(pallet, name, docs, block_hash=block_hash, extrinsic_hash=extrinsic_hash)


class ConfigError(CcnetError):
    """A setting is missing, mistyped or out of range: the ``ccnet`` config file (unknown
    or mistyped keys, bad TOML), or a component's own settings (they subclass it)."""


class UserError(CcnetError):
    """Bad input to a command (the ``ccnet`` CLI exits with code 1), with an optional
    *hint*: what the user may do about it."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint


class UsageError(UserError):
    """Input a command cannot read without guessing, such as an amount written ``1,5``
    (the ``ccnet`` CLI exits with code 2, as for a mistyped option)."""


class DemoError(CcnetError):
    """A step of ``ccnet demo`` failed; the message says which and why."""


# -- jobs: what ``ccnet job run`` reports with an exit code of its own ------------------


class JobError(CcnetError):
    """A job could not be done as asked (root of the errors below; each has its own
    exit code in the ``ccnet`` CLI, :class:`ccnet.client.commands._common.ExitCode`)."""


class NoWorkersFoundError(JobError):
    """Fewer eligible workers than a job needs (the requester SDK raises its subclass
    :class:`~ccnet.client.requester.exceptions.NoWorkersError`)."""


class InvalidJobModuleError(JobError, ValueError):
    """A job module that is not a Wasm binary, or that the sandbox's Wasm features do
    not validate; found before anything is sent."""


class BudgetExceededError(JobError):
    """A job's worst-case cost (*worst_planck*: its fuel limit times each chosen worker's
    rate, plus a mixed-in spot check) is over the budget (*budget_planck*); nothing was
    sent or paid."""

    def __init__(self, message: str, *, worst_planck: int, budget_planck: int) -> None:
        super().__init__(message)
        self.worst_planck = worst_planck
        self.budget_planck = budget_planck


class JobUnfinishedError(JobError):
    """A job with VM checkpoints ended without a result: every worker tried was lost or
    failed. *job_file*: where it is kept, to continue it later (``ccnet job resume``)."""

    def __init__(self, message: str, *, job_file: str) -> None:
        super().__init__(message)
        self.job_file = job_file


class ResultsRejectedError(JobError):
    """No result of a job was accepted: the workers' results disagree (no majority), or
    contradict a known answer, or none was valid. Nobody was paid. *dissenting*: the
    workers whose valid, signed result was not accepted."""

    def __init__(self, message: str, *, dissenting: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.dissenting = dissenting


class SigningError(CcnetError, ValueError):
    """A key that cannot make ccnet signatures (not sr25519, or no secret)."""


class NotFoundError(CcnetError):
    """Something asked for by name or id does not exist (a key, a task, a dispute)."""


class InvalidKeyError(CcnetError):
    """A mnemonic, seed or URI does not make a valid sr25519 key."""


class KeystoreError(CcnetError):
    """The keystore cannot store or open a key (wrong passphrase, corrupt or unwritable
    file). Messages never contain the secret."""


class KeyNotFoundError(KeystoreError, NotFoundError):
    """The keystore has no key of that name."""


# -- peer I/O: the same ideas for every wire protocol (channels, jobs, signaling, DHT) ---


class MalformedMessageError(CcnetError, ValueError):
    """A peer's bytes do not decode as the message they claim to be (wrong JSON, SCALE,
    field types or sizes). Decoders raise it, or a subclass, and never anything else."""


class OversizeMessageError(MalformedMessageError):
    """A peer's message is larger than the protocol allows (bytes)."""


class BadSignatureError(CcnetError):
    """A peer's signature does not verify for the party that should have made it (raw
    sr25519 over the exact signed bytes, :mod:`ccnet.client.signing`)."""


class TransportClosedError(CcnetError, ConnectionError):
    """The connection to the peer is closed (by either side, or the peer is gone)."""


class PeerTimeoutError(CcnetError, TimeoutError):
    """The peer did not answer in time."""
