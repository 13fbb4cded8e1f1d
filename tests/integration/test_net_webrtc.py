"""Real aiortc peers on 127.0.0.1: signed signaling, data-channel transports, caps,
refusals, peer close and dead-peer detection."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import replace
from typing import TYPE_CHECKING

import pytest
from aiortc import RTCPeerConnection

from ccnet.channels.transport import Transport
from ccnet.client import Keypair
from ccnet.client.net.datachannel import DataChannelTransport
from ccnet.client.net.exceptions import (
    OversizeMessageError,
    PeerGoneError,
    SignalingError,
    SignalingRefusedError,
    TransportClosedError,
)
from ccnet.client.net.sdp import candidate_addresses
from ccnet.client.net.signaling import SignalingServer, SignalMessage, post_offer
from ccnet.client.net.webrtc import PeerConfig, PeerListener, PeerSession, accept, connect

if TYPE_CHECKING:
    from tests.fixtures.net import NoTasksLeft

SMALL = 64 * 1024


async def echo(transport: DataChannelTransport) -> None:
    """Echo every message; answer an oversize one with a note (the channel stays up)."""
    while True:
        try:
            message = await transport.recv()
        except OversizeMessageError as err:
            await transport.send(f"too large: {err.size} > {err.limit}".encode())
            continue
        await transport.send(message)


async def echo_session(session: PeerSession) -> None:
    await asyncio.gather(*(echo(session.transport(label)) for label in session.labels))


Listen = Callable[..., Awaitable[PeerListener]]


@pytest.fixture
async def listen(net_worker: Keypair, no_tasks_left: NoTasksLeft) -> AsyncIterator[Listen]:
    """Start PeerListeners (default: the worker //Bob echoing); all closed afterwards,
    then no task may be left."""
    listeners: list[PeerListener] = []

    async def make(**kwargs: object) -> PeerListener:
        kwargs.setdefault("keypair", net_worker)
        kwargs.setdefault("on_session", echo_session)
        listener = PeerListener(**kwargs)  # type: ignore[arg-type]
        await listener.start()
        listeners.append(listener)
        return listener

    yield make
    for listener in listeners:
        await listener.close()
        assert listener.sessions == 0
    await no_tasks_left()


async def test_a_session_carries_messages_both_ways_on_every_channel(
    listen: Listen, net_requester: Keypair, net_worker: Keypair
) -> None:
    seen: list[PeerSession] = []

    async def handler(session: PeerSession) -> None:
        seen.append(session)
        await echo_session(session)

    listener = await listen(on_session=handler)
    assert listener.url.startswith("http://127.0.0.1:")
    async with await connect(listener.url, net_requester, net_worker.ss58_address) as session:
        assert (session.local, session.remote) == (
            net_requester.ss58_address,
            net_worker.ss58_address,
        )
        assert session.labels == ["tasks", "channels"]
        assert session.connection_state == "connected"
        tasks, updates = session.transport("tasks"), session.transport("channels")
        big = os.urandom(3 * 1024 * 1024)  # chunked into 192 data-channel messages
        await tasks.send(b"task input")
        await updates.send(b"channel update")
        await tasks.send(big)
        assert await updates.recv(timeout=30) == b"channel update"
        assert await tasks.recv(timeout=30) == b"task input"
        assert await tasks.recv(timeout=30) == big
        transport: Transport = updates  # payment-channel code runs over the same session
        await transport.send(b"\x00\x00\x00\x02{}")
        assert await transport.recv() == b"\x00\x00\x00\x02{}"
    assert seen[0].remote == net_requester.ss58_address
    assert seen[0].local == net_worker.ss58_address
    with pytest.raises(TransportClosedError):
        await tasks.send(b"after close")


async def test_only_loopback_candidates_and_no_ice_servers(
    net_requester: Keypair, net_worker: Keypair, no_tasks_left: NoTasksLeft
) -> None:
    messages: list[SignalMessage] = []
    sessions: list[PeerSession] = []

    async def answerer(offer: SignalMessage) -> SignalMessage:
        answer, session = await accept(offer, net_worker)
        sessions.append(session)
        messages.extend([offer, answer])
        return answer

    server = SignalingServer(answerer)
    await server.start()
    try:
        session = await connect(server.url, net_requester, net_worker.ss58_address)
        # aiortc keeps the ICE configuration private: no STUN server was configured
        assert session._pc.sctp is not None
        ice = session._pc.sctp.transport.transport.iceGatherer._connection
        assert ice.stun_server is None and ice.turn_server is None
        await session.close()
    finally:
        await server.close()
        for peer in sessions:
            await peer.close()
    for message in messages:
        assert candidate_addresses(message.sdp) == ["127.0.0.1"]
        assert all(
            line.endswith("typ host")
            for line in message.sdp.splitlines()
            if line.startswith("a=candidate:")
        )
    await no_tasks_left()


async def offer_sdp() -> str:
    pc = RTCPeerConnection()
    pc.createDataChannel("tasks", negotiated=True, id=0)
    from ccnet.client.net.ice import gathering_on

    with gathering_on(["127.0.0.1"]):
        await pc.setLocalDescription(await pc.createOffer())
    sdp = pc.localDescription.sdp
    await pc.close()
    return str(sdp)


async def test_an_offer_signed_by_the_wrong_key_is_refused(
    listen: Listen, net_requester: Keypair, net_worker: Keypair, net_intruder: Keypair
) -> None:
    listener = await listen()
    sdp = await offer_sdp()
    # Eve signs, but the offer claims to come from Alice
    forged = replace(
        SignalMessage.create(
            net_intruder, "offer", sdp, peer=net_worker.ss58_address, labels=("tasks",)
        ),
        signer=net_requester.ss58_address,
    )
    with pytest.raises(SignalingRefusedError, match="not signed by its signer") as err:
        await post_offer(listener.url, forged)
    assert err.value.status == 401
    # a genuine offer addressed to another worker
    elsewhere = SignalMessage.create(
        net_requester, "offer", sdp, peer=net_intruder.ss58_address, labels=("tasks",)
    )
    with pytest.raises(SignalingRefusedError, match="addressed to") as err:
        await post_offer(listener.url, elsewhere)
    assert err.value.status == 403
    assert listener.sessions == 0


async def test_offers_without_usable_sdp_are_refused(
    listen: Listen, net_requester: Keypair, net_worker: Keypair
) -> None:
    listener = await listen()
    sdp = await offer_sdp()
    public = sdp.replace(" 127.0.0.1 ", " 8.8.8.8 ")  # only a public host candidate
    garbage = "\r\n".join(
        line for line in sdp.splitlines() if line.startswith(("a=fingerprint", "a=candidate"))
    )
    for bad_sdp, match in (
        (public, "no ICE candidate in the allowed networks"),
        (garbage, "SDP is unusable"),
    ):
        offer = SignalMessage.create(
            net_requester, "offer", bad_sdp, peer=net_worker.ss58_address, labels=("tasks",)
        )
        with pytest.raises(SignalingRefusedError, match=match) as err:
            await post_offer(listener.url, offer)
        assert err.value.status == 400
    assert listener.sessions == 0


@pytest.mark.parametrize(
    "separator", ["\r", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029"]
)
async def test_an_offer_hiding_a_candidate_behind_another_line_break_is_refused(
    listen: Listen, net_requester: Keypair, net_worker: Keypair, separator: str
) -> None:
    from aiortc.sdp import SessionDescription

    from ccnet.client import signing
    from ccnet.client.net.signaling import SIGNAL_DOMAIN

    listener = await listen()
    sdp = await offer_sdp()
    # aiortc (str.splitlines) reads a second line, a candidate at a public address
    smuggled = sdp.replace(
        "a=sctp-port:",
        f"a=x-ccnet:1{separator}a=candidate:9 1 udp 2130706431 8.8.8.8 53 typ host\r\na=sctp-port:",
        1,
    )
    parsed = SessionDescription.parse(smuggled)
    assert "8.8.8.8" in [c.ip for m in parsed.media for c in m.ice_candidates]
    genuine = SignalMessage.create(
        net_requester, "offer", sdp, peer=net_worker.ss58_address, labels=("tasks",)
    )
    unsigned = replace(genuine, sdp=smuggled, signature="")  # signed by a real, hostile peer
    offer = replace(
        unsigned, signature=signing.sign_fields(net_requester, SIGNAL_DOMAIN, unsigned.fields())
    )
    with pytest.raises(SignalingRefusedError, match="line break other than CRLF or LF") as err:
        await post_offer(listener.url, offer)
    assert err.value.status == 400
    assert listener.sessions == 0


async def test_a_replayed_offer_is_refused(
    listen: Listen, net_requester: Keypair, net_worker: Keypair
) -> None:
    listener = await listen(config=PeerConfig(connect_timeout=2.0))
    offer = SignalMessage.create(
        net_requester, "offer", await offer_sdp(), peer=net_worker.ss58_address, labels=("tasks",)
    )
    await post_offer(listener.url, offer)  # answered (nobody completes the connection)
    with pytest.raises(SignalingRefusedError, match="replayed") as err:
        await post_offer(listener.url, offer)
    assert err.value.status == 401


async def test_an_answer_from_the_wrong_worker_is_refused(
    listen: Listen, net_requester: Keypair, net_worker: Keypair, net_intruder: Keypair
) -> None:
    # an honest endpoint of someone else refuses an offer meant for Bob
    eves = await listen(keypair=net_intruder)
    with pytest.raises(SignalingRefusedError, match="addressed to") as err:
        await connect(eves.url, net_requester, net_worker.ss58_address)
    assert err.value.status == 403

    # a lying endpoint answers (validly signed) as Eve: the requester refuses
    sessions: list[PeerSession] = []

    async def impostor(offer: SignalMessage) -> SignalMessage:
        answer, session = await accept(offer, net_intruder)
        sessions.append(session)
        return answer

    server = SignalingServer(impostor)
    await server.start()
    try:
        with pytest.raises(SignalingError, match="expected " + net_worker.ss58_address):
            await connect(server.url, net_requester, net_worker.ss58_address)
    finally:
        await server.close()
        for session in sessions:
            await session.close()


async def test_the_worker_may_refuse_a_requester(
    listen: Listen, net_requester: Keypair, net_worker: Keypair
) -> None:
    async def only_charlie(address: str) -> bool:
        return address == "5FLSigC9HGRKVhB9FiEo4Y3koPsNmBmLJbpXg2mp1hXcS59Y"

    listener = await listen(authorize=only_charlie)
    with pytest.raises(SignalingRefusedError, match="not allowed") as err:
        await connect(listener.url, net_requester, net_worker.ss58_address)
    assert err.value.status == 403


async def test_an_unreachable_endpoint_is_a_clear_error(
    net_requester: Keypair, net_worker: Keypair, no_tasks_left: NoTasksLeft
) -> None:
    async def never(offer: SignalMessage) -> SignalMessage:
        raise AssertionError("not reached")

    server = SignalingServer(never)
    await server.start()
    url = server.url
    await server.close()  # the port is now closed
    with pytest.raises(SignalingError, match="cannot reach signaling endpoint"):
        await connect(url, net_requester, net_worker.ss58_address)
    await no_tasks_left()


async def test_oversize_messages_are_refused_and_the_channel_stays_usable(
    listen: Listen, net_requester: Keypair, net_worker: Keypair
) -> None:
    listener = await listen(config=PeerConfig(max_message_size=SMALL))
    roomy = PeerConfig(max_message_size=4 * SMALL)
    async with await connect(
        listener.url, net_requester, net_worker.ss58_address, config=roomy
    ) as session:
        tasks = session.transport("tasks")
        with pytest.raises(OversizeMessageError, match="cannot send a message of 262145 bytes"):
            await tasks.send(b"x" * (4 * SMALL + 1))
        await tasks.send(b"y" * (2 * SMALL))  # within our cap, over the worker's
        assert await tasks.recv(timeout=30) == f"too large: {2 * SMALL} > {SMALL}".encode()
        await tasks.send(b"z" * SMALL)
        assert await tasks.recv(timeout=30) == b"z" * SMALL


async def test_the_peer_closing_ends_the_transport_cleanly(
    listen: Listen, net_requester: Keypair, net_worker: Keypair
) -> None:
    async def one_shot(session: PeerSession) -> None:
        tasks = session.transport("tasks")
        await tasks.send(await tasks.recv())

    listener = await listen(on_session=one_shot)
    async with await connect(listener.url, net_requester, net_worker.ss58_address) as session:
        tasks = session.transport("tasks")
        await tasks.send(b"only one")
        assert await tasks.recv(timeout=30) == b"only one"
        with pytest.raises(TransportClosedError, match="closed") as err:
            await tasks.recv(timeout=30)
        assert not isinstance(err.value, PeerGoneError)


WORKER_SCRIPT = textwrap.dedent(
    """
    import asyncio, sys
    from ccnet.client import Keys
    from ccnet.client.net.webrtc import PeerConfig, PeerListener

    async def echo(session):
        transport = session.transport("tasks")
        while True:
            await transport.send(await transport.recv())

    async def main():
        config = PeerConfig(keepalive_interval=0.2, peer_timeout=5.0)
        listener = PeerListener(Keys.from_uri("//Bob"), echo, config=config)
        await listener.start()
        print(listener.url, flush=True)
        await asyncio.Event().wait()

    asyncio.run(main())
    """
)


@pytest.fixture
def worker_process() -> Iterator[subprocess.Popen[str]]:
    """The worker //Bob as a separate process (so it can die for real)."""
    proc = subprocess.Popen(
        [sys.executable, "-c", WORKER_SCRIPT], stdout=subprocess.PIPE, text=True
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=30)
        assert proc.stdout is not None
        proc.stdout.close()


async def test_a_dead_peer_is_detected(
    worker_process: subprocess.Popen[str],
    net_requester: Keypair,
    net_worker: Keypair,
    no_tasks_left: NoTasksLeft,
) -> None:
    assert worker_process.stdout is not None
    url = (await asyncio.to_thread(worker_process.stdout.readline)).strip()
    assert url.startswith("http://127.0.0.1:")
    config = PeerConfig(keepalive_interval=0.2, peer_timeout=1.5)
    async with await connect(url, net_requester, net_worker.ss58_address, config=config) as session:
        tasks = session.transport("tasks")
        await tasks.send(b"ping")
        assert await tasks.recv(timeout=30) == b"ping"
        os.kill(worker_process.pid, signal.SIGKILL)  # no goodbye, no SCTP abort
        with pytest.raises(PeerGoneError, match="presumed dead") as err:
            await tasks.recv()
        assert net_worker.ss58_address in str(err.value)
        with pytest.raises(PeerGoneError):
            await tasks.send(b"anyone?")
    await no_tasks_left()
