"""DataChannelTransport over in-memory data channels (queue-backed fakes, like aiortc's
test transports): framing, caps, backpressure, close and dead-peer detection."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

import pytest

from ccnet.channels.exceptions import OversizeMessageError as ChannelOversizeMessage
from ccnet.channels.exceptions import TransportClosedError as ChannelTransportClosed
from ccnet.channels.transport import Transport
from ccnet.client.net.datachannel import DataChannelTransport
from ccnet.client.net.exceptions import (
    OversizeMessageError,
    PeerGoneError,
    PeerTimeoutError,
    TransportClosedError,
)
from ccnet.client.net.framing import CHUNK_SIZE, FrameKind, encode_frame

if TYPE_CHECKING:
    from tests.fixtures.net import NoTasksLeft


class FakeChannel:
    """One end of an in-memory data channel. ``deliver=False`` loses what it sends (a
    dead link); ``hold=True`` keeps sent bytes buffered until :meth:`drain`."""

    def __init__(self, label: str = "tasks") -> None:
        self.label = label
        self.readyState = "open"
        self.bufferedAmount = 0
        self.bufferedAmountLowThreshold = 0
        self.peer: FakeChannel | None = None
        self.deliver = True
        self.hold = False
        self.sent: list[bytes] = []
        self._held: list[bytes] = []
        self._handlers: dict[str, list[Callable[..., Any]]] = defaultdict(list)

    def on(self, event: str, f: Callable[..., Any]) -> Any:
        self._handlers[event].append(f)
        return f

    def emit(self, event: str, *args: object) -> None:
        for handler in list(self._handlers[event]):
            handler(*args)

    def send(self, data: bytes | str) -> None:
        assert self.readyState == "open"
        assert isinstance(data, str) or len(data) <= CHUNK_SIZE
        self.sent.append(data)  # type: ignore[arg-type]
        if self.hold:
            self.bufferedAmount += len(data)
            self._held.append(data)  # type: ignore[arg-type]
        elif self.deliver and self.peer is not None:
            asyncio.get_running_loop().call_soon(self.peer.emit, "message", data)

    def drain(self) -> None:
        held, self._held = self._held, []
        for data in held:
            assert self.peer is not None
            asyncio.get_running_loop().call_soon(self.peer.emit, "message", data)
        crossed = self.bufferedAmount > self.bufferedAmountLowThreshold
        self.bufferedAmount = 0
        if crossed:
            self.emit("bufferedamountlow")

    def close(self) -> None:
        if self.readyState == "closed":
            return
        self.readyState = "closed"
        self.emit("close")
        if self.peer is not None and self.peer.readyState == "open":
            asyncio.get_running_loop().call_soon(self.peer.close)


def channel_pair() -> tuple[FakeChannel, FakeChannel]:
    a, b = FakeChannel(), FakeChannel()
    a.peer, b.peer = b, a
    return a, b


Pair = Callable[..., tuple[FakeChannel, FakeChannel, DataChannelTransport, DataChannelTransport]]


@pytest.fixture
async def pair(no_tasks_left: NoTasksLeft) -> AsyncIterator[Pair]:
    made: list[DataChannelTransport] = []

    def make(
        a_kwargs: dict[str, Any] | None = None, b_kwargs: dict[str, Any] | None = None
    ) -> tuple[FakeChannel, FakeChannel, DataChannelTransport, DataChannelTransport]:
        ca, cb = channel_pair()
        ta = DataChannelTransport(ca, peer="B", **(a_kwargs or {}))
        tb = DataChannelTransport(cb, peer="A", **(b_kwargs or {}))
        made.extend([ta, tb])
        return ca, cb, ta, tb

    yield make
    for transport in made:
        await transport.close()
    await no_tasks_left()


async def test_messages_round_trip_in_order_and_in_chunks(pair: Pair) -> None:
    ca, _, ta, tb = pair()
    big = bytes(range(256)) * 4096  # 1 MiB
    for message in (b"hello", b"", big, b"after"):
        await ta.send(message)
    assert [await tb.recv(timeout=5) for _ in range(4)] == [b"hello", b"", big, b"after"]
    assert max(len(c) for c in ca.sent) == CHUNK_SIZE
    await tb.send(b"back")
    assert await ta.recv(timeout=5) == b"back"


async def test_an_oversize_send_is_refused_and_the_transport_stays_usable(pair: Pair) -> None:
    ca, _, ta, tb = pair({"max_message_size": 1000})
    with pytest.raises(OversizeMessageError, match="cannot send a message of 1001 bytes") as err:
        await ta.send(b"x" * 1001)
    assert not err.value.incoming and ca.sent == []
    await ta.send(b"x" * 1000)
    assert await tb.recv(timeout=5) == b"x" * 1000


async def test_an_oversize_message_from_the_peer_is_skipped_with_a_clear_error(
    pair: Pair,
) -> None:
    _, _, ta, tb = pair({"max_message_size": 100_000}, {"max_message_size": 1000})
    await ta.send(b"y" * 50_000)
    await ta.send(b"next")
    with pytest.raises(OversizeMessageError, match="the peer sent a message of 50000 bytes") as err:
        await tb.recv(timeout=5)
    assert err.value.incoming and err.value.limit == 1000
    assert isinstance(err.value, ChannelOversizeMessage)  # what ccnet.channels code catches
    assert await tb.recv(timeout=5) == b"next"
    assert not tb.closed


async def test_close_drains_then_raises_transport_closed(pair: Pair) -> None:
    _, _, ta, tb = pair()
    await ta.send(b"one")
    await ta.send(b"two")
    await ta.close()
    await ta.close()  # idempotent
    assert await tb.recv(timeout=5) == b"one"
    assert await tb.recv(timeout=5) == b"two"
    with pytest.raises(TransportClosedError, match="closed the transport"):
        await tb.recv(timeout=5)
    with pytest.raises(ChannelTransportClosed):
        await tb.send(b"late")
    with pytest.raises(TransportClosedError):
        await ta.send(b"late")


async def test_a_channel_closed_underneath_ends_the_transport(pair: Pair) -> None:
    _, cb, ta, _ = pair()
    cb.close()
    with pytest.raises(TransportClosedError, match="closed the data channel"):
        await ta.recv(timeout=5)


async def test_recv_timeout_leaves_the_transport_open(pair: Pair) -> None:
    _, _, ta, tb = pair()
    with pytest.raises(PeerTimeoutError, match="no message from B"):
        await ta.recv(timeout=0.05)
    await tb.send(b"late but fine")
    assert await ta.recv(timeout=5) == b"late but fine"


async def test_keepalives_keep_an_idle_peer_alive(pair: Pair) -> None:
    fast = {"keepalive_interval": 0.05, "peer_timeout": 0.5}
    ca, _, ta, _ = pair(fast, fast)
    with pytest.raises(PeerTimeoutError):
        await ta.recv(timeout=1.5)  # three peer timeouts long: keepalives arrived
    assert not ta.closed
    assert encode_frame(FrameKind.KEEPALIVE) in ca.sent


async def test_a_dead_peer_is_detected(pair: Pair) -> None:
    fast = {"keepalive_interval": 0.05, "peer_timeout": 0.5}
    _, cb, ta, _ = pair(fast, fast)
    cb.deliver = False  # B's side goes silent (crashed, cable cut)
    with pytest.raises(PeerGoneError, match=r"the peer B sent nothing .* presumed dead") as err:
        await ta.recv()
    assert isinstance(err.value, ChannelTransportClosed)
    assert ta.closed
    with pytest.raises(PeerGoneError):
        await ta.send(b"x")


async def test_send_waits_for_the_buffer_to_drain(pair: Pair) -> None:
    ca, _, ta, tb = pair({"high_water": 4 * CHUNK_SIZE, "low_water": CHUNK_SIZE})
    ca.hold = True
    message = b"z" * (20 * CHUNK_SIZE)
    sending = asyncio.create_task(ta.send(message))
    for _ in range(5):
        await asyncio.sleep(0)
    assert not sending.done()
    assert ca.bufferedAmount <= 5 * CHUNK_SIZE
    while not sending.done():
        ca.drain()
        await asyncio.sleep(0)
    await sending
    ca.drain()
    assert await tb.recv(timeout=5) == message


async def test_text_or_corrupt_input_closes_the_transport(pair: Pair) -> None:
    ca, _, _, tb = pair()
    ca.send("text")
    with pytest.raises(TransportClosedError, match="text message"):
        await tb.recv(timeout=5)
    ca2, _, _, tb2 = pair()
    ca2.send(b"\x07\x00\x00\x00\x00")
    with pytest.raises(TransportClosedError, match="broke the framing"):
        await tb2.recv(timeout=5)


async def test_a_peer_flooding_unread_messages_is_cut_off(pair: Pair) -> None:
    _, _, ta, tb = pair({}, {"max_message_size": 1000, "max_pending_bytes": 5000})
    for _ in range(10):
        await ta.send(b"f" * 900)
    await asyncio.sleep(0.01)
    assert tb.closed
    assert await tb.recv(timeout=5) == b"f" * 900  # what was queued is still readable


async def test_it_is_a_channels_transport(pair: Pair) -> None:
    _, _, ta, tb = pair()
    transport: Transport = ta  # checked by mypy against ccnet.channels' protocol
    await transport.send(b"frame")
    assert await tb.recv() == b"frame"


def test_bad_settings_are_refused() -> None:
    ca, _ = channel_pair()
    with pytest.raises(ValueError):
        DataChannelTransport(ca, keepalive_interval=5, peer_timeout=1)
    with pytest.raises(ValueError):
        DataChannelTransport(ca, high_water=1, low_water=2)
