"""Authenticated WebRTC peer sessions (aiortc): the requester dials, the worker listens.

A session is one ``RTCPeerConnection`` whose offer and answer were exchanged as signed
:class:`~ccnet.client.net.signaling.SignalMessage` s, so its DTLS peer is the on-chain
account that signed. It carries one
:class:`~ccnet.client.net.datachannel.DataChannelTransport` per label the offer names
(:data:`DEFAULT_LABELS`: job messages on :data:`TASKS_LABEL`, payment-channel updates
on :data:`CHANNELS_LABEL`), as negotiated channels with ids 0, 1, ... The ICE, SDP and
data-channel rules are ``docs/protocol.md``, section 6: candidates only inside the
allowed networks (:attr:`PeerConfig.ice_networks`, loopback by default), STUN/TURN only
when configured (:attr:`PeerConfig.ice_servers`, none by default); see :mod:`.ice`.

- Requester: ``session = await connect(url, keypair, worker_address)``.
- Worker: ``PeerListener(keypair, on_session)`` serves the signaling endpoint and calls
  ``on_session(session)`` for each authenticated session once its channels are open; the
  session is closed when ``on_session`` returns.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import aiohttp
from aiortc import (
    RTCConfiguration,
    RTCDataChannel,
    RTCIceServer,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.sdp import SessionDescription
from substrateinterface import Keypair

from .background import cancel_and_wait, create_task_with_logging
from .datachannel import DataChannelTransport
from .exceptions import (
    NetConfigError,
    NetError,
    PeerGoneError,
    SignalingError,
    TransportClosedError,
)
from .framing import DEFAULT_MAX_MESSAGE_SIZE
from .ice import (
    DEFAULT_ICE_NETWORKS,
    IceNetwork,
    describe_networks,
    gathering_on,
    host_addresses,
    is_allowed_address,
    restrict_incoming_checks,
)
from .sdp import candidate_addresses, filter_candidates, has_data_channel
from .signaling import ReplayGuard, SignalingServer, SignalMessage, check_signal, post_offer

__all__ = [
    "CHANNELS_LABEL",
    "DEFAULT_LABELS",
    "DEFAULT_PEER_CONFIG",
    "PeerConfig",
    "PeerListener",
    "PeerSession",
    "TASKS_LABEL",
    "accept",
    "connect",
]

logger = logging.getLogger(__name__)

TASKS_LABEL = "tasks"
"""The data channel of the job messages (:mod:`ccnet.client.jobs.messages`)."""
CHANNELS_LABEL = "channels"
"""The data channel of the payment-channel messages (:mod:`ccnet.channels`)."""
DEFAULT_LABELS = (TASKS_LABEL, CHANNELS_LABEL)
"""Data channels of a session, in id order (``id`` 0 and 1): job messages, then
payment-channel updates."""

Authorizer = Callable[[str], Awaitable[bool]]
"""Whether the requester with this SS58 address may open a session (e.g. on-chain)."""


@dataclass(frozen=True, slots=True)
class PeerConfig:
    """Settings of a peer session; both sides should agree on the transport ones.

    Times in seconds, sizes in bytes.
    """

    ice_networks: tuple[IceNetwork, ...] = DEFAULT_ICE_NETWORKS
    """The allowed networks: host candidates are gathered on this machine's addresses
    inside them, and only candidates inside them (ours and the peer's) are used
    (:func:`~ccnet.client.net.ice.parse_ice_networks`; default loopback only)."""
    ice_servers: tuple[RTCIceServer, ...] = ()
    """STUN/TURN servers (:func:`~ccnet.client.net.ice.parse_ice_servers`; none by
    default). Their server-reflexive and relay candidates are used only when their
    addresses are inside :attr:`ice_networks` too."""
    labels: tuple[str, ...] = DEFAULT_LABELS
    """Data channels the offerer opens (the answerer opens what the offer names)."""
    connect_timeout: float = 20.0
    """Bound on each connection step: the signaling request, then ICE, DTLS and SCTP
    until every channel is open."""
    max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE
    """Cap on one message, both directions."""
    keepalive_interval: float = 5.0
    """An idle transport sends a keepalive this often."""
    peer_timeout: float = 20.0
    """A peer silent this long (no frame, no keepalive) is declared gone."""

    def __post_init__(self) -> None:
        if not self.ice_networks:
            raise NetConfigError("a peer needs at least one allowed ICE network")

    def transport(self, channel: RTCDataChannel, peer: str) -> DataChannelTransport:
        """A transport over *channel* with these settings."""
        return DataChannelTransport(
            channel,
            peer=peer,
            max_message_size=self.max_message_size,
            keepalive_interval=self.keepalive_interval,
            peer_timeout=self.peer_timeout,
        )


DEFAULT_PEER_CONFIG = PeerConfig()
"""The default settings (loopback only, 16 MiB cap, keepalive 5 s, peer timeout 20 s)."""


def _new_connection(
    labels: Sequence[str], config: PeerConfig
) -> tuple[RTCPeerConnection, dict[str, RTCDataChannel]]:
    # an explicit list, never None: aiortc would add Google's STUN server
    pc = RTCPeerConnection(RTCConfiguration(iceServers=list(config.ice_servers)))
    channels = {
        label: pc.createDataChannel(label, ordered=True, negotiated=True, id=index)
        for index, label in enumerate(labels)
    }
    if pc.sctp is not None:  # the one (bundled) ICE connection the channels run over
        connection = pc.sctp.transport.transport.iceGatherer._connection
        restrict_incoming_checks(connection, config.ice_networks)
    return pc, channels


def _usable_remote_sdp(sdp: str, kind: str, config: PeerConfig) -> str:
    if not has_data_channel(sdp):
        raise SignalingError(f"the {kind}'s SDP is unusable: no data-channel section", status=400)
    filtered = filter_candidates(sdp, config.ice_networks, whose=f"the {kind}'s")
    _check_parsed_candidates(filtered, kind, config)
    if not candidate_addresses(filtered):
        raise SignalingError(
            f"the {kind} offers no ICE candidate in the allowed networks "
            f"({describe_networks(config.ice_networks)})",
            status=400,
        )
    return filtered


def _check_parsed_candidates(sdp: str, kind: str, config: PeerConfig) -> None:
    """Belt and braces: the candidates aiortc itself parses from *sdp* (the text handed
    to ``setRemoteDescription``) must all be allowed, whatever our own line reading saw."""
    try:
        parsed = SessionDescription.parse(sdp)
    except Exception as err:  # aiortc asserts and raises ValueError on a bad SDP
        raise SignalingError(f"the {kind}'s SDP is unusable: {err!r}", status=400) from err
    for media in parsed.media:
        for candidate in media.ice_candidates:
            if not is_allowed_address(candidate.ip, config.ice_networks):
                raise SignalingError(
                    f"the {kind}'s SDP hides an ICE candidate outside the allowed networks",
                    status=400,
                )


async def _set_remote(pc: RTCPeerConnection, sdp: str, kind: str) -> None:
    try:
        await pc.setRemoteDescription(RTCSessionDescription(sdp, kind))
    except Exception as err:  # aiortc raises ValueError and others for a bad SDP
        raise SignalingError(f"the {kind}'s SDP is unusable: {err}", status=400) from err


async def _set_local(
    pc: RTCPeerConnection, description: RTCSessionDescription, config: PeerConfig
) -> str:
    with gathering_on(host_addresses(config.ice_networks)):
        await pc.setLocalDescription(description)
    sdp = filter_candidates(pc.localDescription.sdp, config.ice_networks, whose="our own")
    if not candidate_addresses(sdp):
        raise NetError(
            "this machine has no address in the allowed ICE networks "
            f"({describe_networks(config.ice_networks)}): no candidate to offer"
        )
    return sdp


class PeerSession:
    """An authenticated peer connection and its data-channel transports.

    ``local`` and ``remote`` are the SS58 addresses the offer and answer were signed
    with. Obtain one from :func:`connect` or :class:`PeerListener`; close it with
    :meth:`close` (or ``async with``).
    """

    def __init__(
        self,
        pc: RTCPeerConnection,
        channels: Mapping[str, RTCDataChannel],
        *,
        local: str,
        remote: str,
        config: PeerConfig,
    ) -> None:
        self.local = local
        self.remote = remote
        self.config = config
        self._pc = pc
        self._channels = dict(channels)
        self._transports: dict[str, DataChannelTransport] = {}
        self._closed = False
        self._broken: PeerGoneError | None = None
        self._changed = asyncio.Event()
        pc.on("connectionstatechange", self._on_state)

    @property
    def labels(self) -> list[str]:
        """The session's data-channel labels."""
        return list(self._channels)

    @property
    def connection_state(self) -> str:
        """The ``RTCPeerConnection`` state (new, connecting, connected, failed, closed)."""
        return str(self._pc.connectionState)

    def transport(self, label: str = DEFAULT_LABELS[0]) -> DataChannelTransport:
        """The transport of channel *label*. Raises KeyError for an unknown label and
        :class:`NetError` before the session is open."""
        if label not in self._channels:
            raise KeyError(f"no data channel {label!r} (have {self.labels})")
        if label not in self._transports:
            raise NetError(f"the session with {self.remote} is not open yet")
        return self._transports[label]

    async def wait_open(self, timeout: float) -> None:
        """Wait until every channel is open (ICE, DTLS and SCTP done) and create the
        transports. Raises :class:`PeerGoneError` when the connection fails or *timeout*
        seconds pass."""
        for channel in self._channels.values():
            channel.once("open", self._changed.set)
        try:
            async with asyncio.timeout(timeout):
                while True:
                    if self._broken is not None:
                        raise self._broken
                    if all(c.readyState == "open" for c in self._channels.values()):
                        break
                    self._changed.clear()
                    await self._changed.wait()
        except TimeoutError:
            raise PeerGoneError(
                f"no connection to {self.remote} within {timeout} s (state {self.connection_state})"
            ) from None
        for label, channel in self._channels.items():
            self._transports[label] = self.config.transport(channel, self.remote)

    def _on_state(self) -> None:
        state = self._pc.connectionState
        if state in ("failed", "closed") and not self._closed:
            error = PeerGoneError(f"the connection to {self.remote} {state}")
            if self._broken is None:
                self._broken = error
            self._changed.set()
            for transport in self._transports.values():
                transport.fail(error)

    async def close(self) -> None:
        """Close every transport, then the peer connection. Idempotent."""
        if self._closed:
            return
        self._closed = True
        for transport in self._transports.values():
            await transport.close()
        await self._pc.close()

    async def __aenter__(self) -> PeerSession:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


async def connect(
    url: str,
    keypair: Keypair,
    worker: str,
    *,
    config: PeerConfig = DEFAULT_PEER_CONFIG,
    http: aiohttp.ClientSession | None = None,
) -> PeerSession:
    """Open a session with *worker* (SS58) through its signaling endpoint *url*.

    Signs the offer with *keypair*, requires the answer to be signed by *worker*,
    addressed to us and answering our offer, then waits for the channels to open.
    Raises :class:`SignalingError` (refused, or an answer that fails a check, has an
    unusable SDP or no allowed ICE candidate) or :class:`PeerGoneError` (no connection
    within ``config.connect_timeout``).
    """
    me = str(keypair.ss58_address)
    pc, channels = _new_connection(config.labels, config)
    try:
        sdp = await _set_local(pc, await pc.createOffer(), config)
        offer = SignalMessage.create(keypair, "offer", sdp, peer=worker, labels=config.labels)
        answer = await post_offer(url, offer, timeout=config.connect_timeout, session=http)
        check_signal(answer, kind="answer", me=me, expected_signer=worker, reply_to=offer.nonce)
        if answer.labels != offer.labels:
            raise SignalingError(f"the answer opens {answer.labels}, the offer {offer.labels}")
        await _set_remote(pc, _usable_remote_sdp(answer.sdp, "answer", config), "answer")
        session = PeerSession(pc, channels, local=me, remote=worker, config=config)
        await session.wait_open(config.connect_timeout)
        return session
    except BaseException:
        await pc.close()
        raise


async def accept(
    offer: SignalMessage, keypair: Keypair, *, config: PeerConfig = DEFAULT_PEER_CONFIG
) -> tuple[SignalMessage, PeerSession]:
    """Answer a *checked* offer: the signed answer to send back, and the session (not
    yet open: await ``session.wait_open``). The offer's labels decide the channels.

    Raises :class:`SignalingError` (400) when the offer's SDP is unusable or offers no
    allowed ICE candidate."""
    pc, channels = _new_connection(offer.labels, config)
    try:
        await _set_remote(pc, _usable_remote_sdp(offer.sdp, "offer", config), "offer")
        sdp = await _set_local(pc, await pc.createAnswer(), config)
        answer = SignalMessage.create(
            keypair, "answer", sdp, peer=offer.signer, labels=offer.labels, reply_to=offer.nonce
        )
        session = PeerSession(
            pc, channels, local=str(keypair.ss58_address), remote=offer.signer, config=config
        )
        return answer, session
    except BaseException:
        await pc.close()
        raise


SessionHandler = Callable[[PeerSession], Awaitable[None]]
"""Runs one open session; the session is closed when it returns."""


class PeerListener:
    """The worker side: a signaling endpoint that turns authentic offers into sessions.

    Each offer must be signed, fresh, unreplayed and addressed to *keypair*'s address;
    *authorize* (optional) vets the requester's address (403 when it says no). At most
    *max_sessions* sessions run at once, and at most *max_sessions_per_key* of one
    requester (``None``: no cap per key; 503 beyond either). Binds *host* (127.0.0.1)
    and advertises *public_url* when given (see
    :class:`~ccnet.client.net.signaling.SignalingServer`; :class:`NetConfigError` for a
    bad one, or none while binding every interface).
    """

    def __init__(
        self,
        keypair: Keypair,
        on_session: SessionHandler,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        config: PeerConfig = DEFAULT_PEER_CONFIG,
        authorize: Authorizer | None = None,
        max_sessions: int = 64,
        max_sessions_per_key: int | None = None,
        public_url: str | None = None,
    ) -> None:
        self.keypair = keypair
        self.address = str(keypair.ss58_address)
        self.config = config
        self.max_sessions = max_sessions
        self.max_sessions_per_key = max_sessions_per_key
        self._on_session = on_session
        self._authorize = authorize
        self._guard = ReplayGuard()
        self._server = SignalingServer(self._answer, host=host, port=port, public_url=public_url)
        self._sessions: set[PeerSession] = set()
        self._tasks: set[asyncio.Task[Any]] = set()

    @property
    def url(self) -> str:
        """The signaling endpoint URL to announce (``http://127.0.0.1:PORT/offer``, or
        the public URL)."""
        return self._server.url

    @property
    def sessions(self) -> int:
        """Sessions connecting or running."""
        return len(self._sessions)

    async def start(self) -> None:
        """Start the signaling endpoint. Raises :class:`NetConfigError` when this machine
        has no address in the allowed ICE networks (no session could connect), and
        ``OSError`` when the port is taken or the address is not this machine's."""
        if not host_addresses(self.config.ice_networks):
            raise NetConfigError(
                "this machine has no address in the allowed ICE networks "
                f"({describe_networks(self.config.ice_networks)})"
            )
        await self._server.start()

    async def _answer(self, offer: SignalMessage) -> SignalMessage:
        check_signal(offer, kind="offer", me=self.address, guard=self._guard)
        if self._authorize is not None and not await self._authorize(offer.signer):
            raise SignalingError(f"requester {offer.signer} is not allowed", status=403)
        if len(self._sessions) >= self.max_sessions:
            raise SignalingError("too many sessions; retry later", status=503)
        cap = self.max_sessions_per_key
        if cap is not None and sum(s.remote == offer.signer for s in self._sessions) >= cap:
            raise SignalingError(
                f"{offer.signer} has {cap} sessions open already; close one first", status=503
            )
        answer, session = await accept(offer, self.keypair, config=self.config)
        self._sessions.add(session)
        create_task_with_logging(
            self._run(session), name=f"session-{offer.signer[:8]}", tasks=self._tasks
        )
        return answer

    async def _run(self, session: PeerSession) -> None:
        try:
            await session.wait_open(self.config.connect_timeout)
            await self._on_session(session)
        except (NetError, TransportClosedError) as err:
            logger.info("session with %s ended: %s", session.remote, err)
        finally:
            self._sessions.discard(session)
            await session.close()

    async def close(self) -> None:
        """Stop the endpoint, then end every session (handlers are cancelled)."""
        await self._server.close()
        await cancel_and_wait(list(self._tasks))
        for session in list(self._sessions):
            await session.close()
        self._sessions.clear()

    async def __aenter__(self) -> PeerListener:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
