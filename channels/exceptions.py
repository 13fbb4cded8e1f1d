"""Errors raised by ccnet.channels; all descend from :class:`ChannelError`.

Errors about a peer's message (:class:`ProtocolError` and its subclasses) carry a
short ``code`` that travels in the ``reject`` message (see :mod:`.messages`), so both
sides name the same failure. Raising one never changes the channel store.
"""

from __future__ import annotations

from ccnet.client.exceptions import CcnetError, NotFoundError

__all__ = [
    "BalanceError",
    "ChannelError",
    "ChannelStateError",
    "CloseRefused",
    "ClosingError",
    "ConflictError",
    "InDoubtError",
    "MalformedMessage",
    "OversizeMessage",
    "PeerTimeout",
    "PendingError",
    "PersistError",
    "PolicyRejected",
    "ProposalRejected",
    "ProtocolError",
    "ReplayError",
    "SignatureError",
    "TransportClosed",
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


class MalformedMessage(ProtocolError):
    """A frame is not a valid message: bad length prefix, not JSON, unknown type,
    missing or extra fields, or a field of the wrong type or size."""

    code = "malformed"


class OversizeMessage(MalformedMessage):
    """A frame is larger than the size cap (:data:`ccnet.channels.messages.MAX_BODY`)."""

    code = "oversize"


class WrongChannelError(ProtocolError):
    """A message names a channel other than the one this transport serves, or one
    this party does not know."""

    code = "channel"


class WrongChainError(WrongChannelError):
    """A proposal is for another chain (its genesis hash differs from ours)."""

    code = "chain"


class VersionError(ProtocolError):
    """A proposal's version is not the next one: a regression or a gap."""

    code = "version"


class ReplayError(VersionError):
    """A message repeats an update that was already settled (an older version, or a
    different state for the latest version)."""

    code = "replay"


class BalanceError(ProtocolError):
    """A state's balances do not add up to the channel's deposits, or one side
    overdraws (a negative balance, or more than the channel holds)."""

    code = "balance"


class SignatureError(ProtocolError):
    """A signature does not verify for the party that should have made it."""

    code = "signature"


class PolicyRejected(ProtocolError):
    """A valid, authentic proposal that our policy refuses (e.g. it lowers our balance).
    The version is burned on both sides: the next proposal uses the one after it."""

    code = "policy"


class ConflictError(ProtocolError):
    """Both parties proposed the same version at once; party A's proposal wins and
    party B's is refused (B retries on top of A's)."""

    code = "conflict"


class ClosingError(ProtocolError):
    """The channel is frozen for a cooperative close: we signed a close of its latest
    state, so we sign no newer update (a proposal is refused with this code, and the
    proposer drops it) and no close of another state."""

    code = "closing"


class PendingError(ProtocolError):
    """A close request arrived while our own proposal is outstanding: we close only on
    a settled latest state. We re-send the proposal; the requester may retry."""

    code = "pending"


_CODES: dict[str, type[ProtocolError]] = {
    cls.code: cls
    for cls in (
        ProtocolError,
        MalformedMessage,
        OversizeMessage,
        WrongChannelError,
        WrongChainError,
        VersionError,
        ReplayError,
        BalanceError,
        SignatureError,
        PolicyRejected,
        ConflictError,
        ClosingError,
        PendingError,
    )
}


def error_for_code(code: str) -> type[ProtocolError]:
    """The :class:`ProtocolError` subclass of a wire *code* (ProtocolError if unknown)."""
    return _CODES.get(code, ProtocolError)


class ProposalRejected(ChannelError):
    """The peer refused our proposal with a ``reject`` message.

    ``code`` is the peer's :attr:`ProtocolError.code`, ``reason`` its text, ``version``
    the refused version.
    """

    def __init__(self, code: str, reason: str, version: int) -> None:
        super().__init__(f"peer rejected version {version} ({code}): {reason}")
        self.code = code
        self.reason = reason
        self.version = version


class CloseRefused(ProposalRejected):
    """The peer refused our close request with a ``reject`` (``code``, ``reason``,
    ``version`` as in :class:`ProposalRejected`). We stay frozen (the peer may hold our
    close signature): retry :meth:`~ccnet.channels.ChannelParty.close_cooperatively`, or
    ``close_unilaterally`` with the same latest state (nothing newer exists)."""

    def __init__(self, code: str, reason: str, version: int) -> None:
        super().__init__(code, reason, version)
        self.args = (
            f"peer refused to close at version {version} ({code}): {reason}; the channel "
            "stays frozen: retry close_cooperatively, or close_unilaterally",
        )


class UnknownChannelError(ChannelError, NotFoundError):
    """No channel with this id in the store (or on chain)."""


class ChannelStateError(ChannelError):
    """The action does not fit the channel's phase (e.g. paying on a closing channel,
    proposing while a proposal is outstanding, funding a funded channel)."""


class InDoubtError(ChannelStateError):
    """We signed a proposal whose countersignature never came back: the peer may hold
    it co-signed. Closing unilaterally with an older version could be refuted as fraud,
    so this is refused until the proposal is resolved (re-sent and answered)."""


class PersistError(ChannelError):
    """The channel store could not commit an update; nothing was sent and the channel
    is frozen (the LDK ``UnrecoverableError`` status)."""


class TransportClosed(ChannelError):
    """The byte transport to the peer is closed."""


class PeerTimeout(ChannelError):
    """The peer did not answer a proposal in time (the proposal stays outstanding)."""


class WatchtowerError(ChannelError):
    """The watchtower cannot guard a state (unknown channel, bad signatures)."""
