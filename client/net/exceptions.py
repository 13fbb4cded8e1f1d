"""Errors of the network stack (:mod:`ccnet.client.net`): DHT, signaling, WebRTC data
channels and their framing. All descend from :class:`NetError`, a
:class:`~ccnet.client.exceptions.CcnetError`.

The peer-I/O errors carry the names of the shared ideas of
:mod:`ccnet.client.exceptions` and descend from them: :class:`TransportClosedError`,
:class:`OversizeMessageError`, :class:`PeerTimeoutError`; :class:`FramingError` is a
:class:`~ccnet.client.exceptions.MalformedMessageError`. The transport errors also
descend from the transport errors of :mod:`ccnet.channels`, so payment-channel code
running over a :class:`~ccnet.client.net.datachannel.DataChannelTransport` handles them
as it handles its own transports'.
"""

from __future__ import annotations

from ccnet.channels.exceptions import OversizeMessageError as ChannelOversizeMessage
from ccnet.channels.exceptions import TransportClosedError as ChannelTransportClosed

from .. import exceptions as base

__all__ = [
    "DhtError",
    "FramingError",
    "InvalidRecordError",
    "NetConfigError",
    "NetError",
    "OversizeMessageError",
    "PeerGoneError",
    "PeerTimeoutError",
    "SignalingError",
    "SignalingRefusedError",
    "TransportClosedError",
]


class NetError(base.CcnetError):
    """Root of the errors of the network stack."""


class NetConfigError(NetError, base.ConfigError):
    """A network setting is malformed or unusable: an ICE network (CIDR), an ICE
    (STUN/TURN) server URL or its credentials, a signaling bind address or URL."""


class DhtError(NetError):
    """The DHT node cannot start, bootstrap or reach any other node."""


class InvalidRecordError(NetError, base.MalformedMessageError):
    """A capability record is malformed, badly signed, stale or stored under the wrong
    key. Lookups drop such records; this error is raised only when decoding one alone."""


class SignalingError(NetError):
    """A signaling message (offer or answer) is malformed or fails a check: signature,
    freshness, replay, DTLS fingerprint, expected signer or addressee.

    ``status`` is the HTTP status the signaling endpoint answers with: 400 malformed,
    401 not authentic (signature, age, replay), 403 not for us or not allowed, 503 busy.
    """

    def __init__(self, message: str, *, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


class SignalingRefusedError(SignalingError):
    """The signaling endpoint refused an offer (HTTP 4xx/5xx); ``status`` is the HTTP
    status and ``reason`` the endpoint's explanation."""

    def __init__(self, url: str, status: int, reason: str) -> None:
        super().__init__(
            f"signaling endpoint {url} refused the offer (HTTP {status}): {reason}",
            status=status,
        )
        self.url = url
        self.reason = reason


class FramingError(NetError, base.MalformedMessageError):
    """The peer's frame stream is corrupt (unknown kind, control frame with a payload);
    the stream cannot be resynchronised and the transport must close."""


class OversizeMessageError(NetError, ChannelOversizeMessage, base.OversizeMessageError):
    """A message is larger than the transport's cap (``size`` and ``limit`` in bytes).

    Raised by ``send`` before any byte is sent, and by ``recv`` when the peer announced
    such a message (its bytes are skipped); either way the transport stays usable.
    """

    def __init__(self, size: int, limit: int, *, incoming: bool) -> None:
        direction = "the peer sent" if incoming else "cannot send"
        super().__init__(
            f"{direction} a message of {size} bytes; the cap is {limit} bytes "
            "(split it, or raise max_message_size on both peers)"
        )
        self.size = size
        self.limit = limit
        self.incoming = incoming


class TransportClosedError(NetError, ChannelTransportClosed, base.TransportClosedError):
    """The data-channel transport is closed (by this side, or the peer said goodbye)."""


class PeerGoneError(TransportClosedError):
    """The peer stopped answering (no frame, not even a keepalive, within the peer
    timeout) or its connection failed; the transport is closed."""


class PeerTimeoutError(NetError, base.PeerTimeoutError):
    """``recv(timeout=...)`` got no message in time; the transport stays open (the peer
    is alive: its keepalives still arrive)."""
