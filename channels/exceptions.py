"""Errors raised by ccnet.channels; all descend from :class:`ChannelError`.

Errors about a peer's message (:class:`ProtocolError` and its subclasses) carry a
short ``code`` that travels in the ``reject`` message (see :mod:`.messages`), so both
sides name the same failure. Raising one never changes the channel store.

The peer I/O errors share their idea with every other wire protocol of ccnet and derive
from its base classes in :mod:`ccnet.client.exceptions` too
(:class:`~ccnet.client.exceptions.MalformedMessageError`,
:class:`~ccnet.client.exceptions.OversizeMessageError`,
:class:`~ccnet.client.exceptions.TransportClosedError`,
:class:`~ccnet.client.exceptions.PeerTimeoutError`), so code that serves several
protocols catches them once.
"""

from __future__ import annotations

from ccnet.client import exceptions as client_errors
from ccnet.client.exceptions import CcnetError, NotFoundError

__all__ = [
    "BalanceError",
    "ChannelError",
    "ChannelStateError",
    "CloseRefusedError",
    "ClosingError",
    "InDoubtError",
    "MalformedMessageError",
    "OversizeMessageError",
    "PeerTimeoutError",
    "PendingError",
    "PersistError",
    "StoreLockedError",
    "PolicyRejectedError",
    "ProposalRejectedError",
    "ProposerError",
    "ProtocolError",
    "ReplayError",
    "SignatureError",
    "TransportClosedError",
    "UnknownChannelError",
    "VersionError",
    "WatchtowerError",
    "WrongChainError",
    "WrongChannelError",
    "error_for_code",
]


class ChannelError(CcnetError):
    """Root of the errors of ccnet.channels."""


class ProtocolError(ChannelError):
    """A peer's message was refused; nothing was stored and nothing was signed.

    ``code`` names the failure on the wire (the ``reject`` message's ``code`` field).
    """

    code = "protocol"


class MalformedMessageError(ProtocolError, client_errors.MalformedMessageError):
    """A frame is not a valid message: bad length prefix, not JSON, unknown type,
    missing or extra fields, or a field of the wrong type or size."""

    code = "malformed"


class OversizeMessageError(MalformedMessageError, client_errors.OversizeMessageError):
    """A frame is larger than the size cap (:data:`ccnet.channels.messages.MAX_BODY`,
    bytes)."""

    code = "oversize"


class WrongChannelError(ProtocolError):
    """A message names a channel other than the one this transport serves, or one
    this party does not know."""

    code = "channel"


class WrongChainError(WrongChannelError):
    """A proposal is for another chain (its genesis hash differs from ours)."""

    code = "chain"


class ProposerError(ProtocolError):
    """A proposal from party B: only party A (the opener, who pays) proposes updates
    (proposer-only channels, see :mod:`.channel`)."""

    code = "proposer"


class VersionError(ProtocolError):
    """A proposal's version is not the next one: a regression or a gap."""

    code = "version"


class ReplayError(VersionError):
    """A message repeats an update that was already settled (an older version, a
    different state for the latest version, or a version a cancel superseded)."""

    code = "replay"


class BalanceError(ProtocolError):
    """A state's balances do not add up to the channel's deposits, or one side
    overdraws (a negative balance, or more than the channel holds)."""

    code = "balance"


class SignatureError(ProtocolError):
    """A signature does not verify for the party that should have made it."""

    code = "signature"


class PolicyRejectedError(ProtocolError):
    """A valid, authentic proposal that our policy refuses (e.g. it lowers our balance).
    The refusal carries our signature of the cancel state (see :mod:`.channel`)."""

    code = "policy"


class ClosingError(ProtocolError):
    """The channel is frozen for a cooperative close: we signed a close of its latest
    balances, so we countersign no newer update (a proposal is refused with this code
    and our signature of its cancel state) and no close of other balances."""

    code = "closing"


class PendingError(ProtocolError):
    """A close request arrived while our own proposal is outstanding: we close only on
    a settled latest state. We re-send the proposal; the requester may retry."""

    code = "pending"


_CODES: dict[str, type[ProtocolError]] = {
    cls.code: cls
    for cls in (
        ProtocolError,
        MalformedMessageError,
        OversizeMessageError,
        WrongChannelError,
        WrongChainError,
        ProposerError,
        VersionError,
        ReplayError,
        BalanceError,
        SignatureError,
        PolicyRejectedError,
        ClosingError,
        PendingError,
    )
}


def error_for_code(code: str) -> type[ProtocolError]:
    """The :class:`ProtocolError` subclass of a wire *code* (ProtocolError if unknown)."""
    return _CODES.get(code, ProtocolError)


class ProposalRejectedError(ChannelError):
    """The peer refused our proposal with a ``reject`` message.

    ``code`` is the peer's :attr:`ProtocolError.code`, ``reason`` its text, ``version``
    the refused version; ``cancel_version`` is the version of the co-signed cancel state
    that replaced it (see :mod:`.channel`), or None when the refusal carried no valid
    cancel (the proposal then stays outstanding and the channel takes no more updates).
    """

    def __init__(
        self, code: str, reason: str, version: int, *, cancel_version: int | None = None
    ) -> None:
        outcome = (
            f"cancelled by version {cancel_version}"
            if cancel_version is not None
            else "no cancel: it stays outstanding"
        )
        super().__init__(f"peer rejected version {version} ({code}): {reason}; {outcome}")
        self.code = code
        self.reason = reason
        self.version = version
        self.cancel_version = cancel_version


class CloseRefusedError(ProposalRejectedError):
    """The peer refused our close request with a ``reject`` (``code``, ``reason``,
    ``version`` as in :class:`ProposalRejectedError`). We stay frozen (the peer may hold
    our close signature): retry :meth:`~ccnet.channels.ChannelParty.close_cooperatively`,
    or ``close_unilaterally`` with the same latest state (nothing newer exists)."""

    def __init__(self, code: str, reason: str, version: int) -> None:
        super().__init__(code, reason, version)
        self.args = (
            f"peer refused to close at version {version} ({code}): {reason}; the channel "
            "stays frozen: retry close_cooperatively, or close_unilaterally",
        )


class UnknownChannelError(ChannelError, NotFoundError):
    """No channel with this id in the store (or on chain)."""


class ChannelStateError(ChannelError):
    """The action does not fit the channel's phase or our role (e.g. paying on a
    closing channel, proposing as party B or while a proposal is outstanding, funding a
    funded channel)."""


class InDoubtError(ChannelStateError):
    """Our proposal's answer never came back: the peer may hold it co-signed. No new
    proposal and no cooperative close until it is resolved (re-sent and answered); a
    unilateral close stays open (see :meth:`~ccnet.channels.ChannelParty.close_unilaterally`)."""


class PersistError(ChannelError):
    """The channel store could not commit an update; nothing was sent and the channel
    is frozen (the LDK ``UnrecoverableError`` status)."""


class StoreLockedError(PersistError):
    """Another process holds the channel store's lock (``pid``, when it wrote it): two
    processes signing from one store could sign two states of one version."""

    def __init__(self, *, path: str, pid: int | None) -> None:
        holder = f"process {pid}" if pid else "another process"
        super().__init__(
            f"the channel store {path} is in use by {holder} (another `ccnet channel` "
            "command, a requester or a worker daemon with this key); wait for it to end "
            "or stop it, then retry; nothing was sent"
        )
        self.path = path
        self.pid = pid


class TransportClosedError(ChannelError, client_errors.TransportClosedError):
    """The byte transport to the peer is closed."""


class PeerTimeoutError(ChannelError, client_errors.PeerTimeoutError):
    """The peer did not answer in time (a proposal stays outstanding)."""


class WatchtowerError(ChannelError):
    """The watchtower cannot guard a state (unknown channel, bad signatures)."""
