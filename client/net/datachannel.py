"""A message transport over one WebRTC data channel: framing, caps, backpressure, liveness.

:class:`DataChannelTransport` satisfies the byte ``Transport`` of :mod:`ccnet.channels`
(``send(bytes)``, ``recv() -> bytes``, ``close()``, all async), so job messages and
payment-channel updates share one authenticated peer connection. What travels is
``docs/protocol.md``, section 7; here:

- **Cap**: ``send`` refuses a message above ``max_message_size`` (default 16 MiB) with
  :class:`OversizeMessageError` before sending a byte; ``recv`` raises it for an oversize
  message from the peer, whose bytes are skipped. Either way the transport stays usable.
- **Backpressure**: ``send`` waits while more than ``high_water`` bytes sit in the
  channel's buffer, resuming at ``low_water`` (the ``bufferedamountlow`` event).
- **Liveness**: an idle side sends a KEEPALIVE frame every ``keepalive_interval``
  seconds; a peer that sent nothing for ``peer_timeout`` seconds is declared gone: the
  transport closes and ``recv``/``send`` raise :class:`PeerGoneError`.
- **Close**: ``close`` sends a CLOSE frame, then closes the channel; the peer's ``recv``
  returns the messages already received, then raises :class:`TransportClosedError`.

Messages received are buffered up to ``max_pending_bytes``; a peer that sends faster
than the application reads beyond that is disconnected.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from typing import Any, Protocol

from .background import cancel_and_wait, create_task_with_logging
from .exceptions import (
    FramingError,
    NetError,
    OversizeMessageError,
    PeerGoneError,
    PeerTimeoutError,
    TransportClosedError,
)
from .framing import (
    CHUNK_SIZE,
    DEFAULT_MAX_MESSAGE_SIZE,
    FrameDecoder,
    FrameKind,
    Oversize,
    chunks,
    encode_frame,
)

__all__ = ["DataChannelTransport", "MessageChannel"]

logger = logging.getLogger(__name__)


class MessageChannel(Protocol):
    """What the transport needs of an ``aiortc.RTCDataChannel``."""

    @property
    def label(self) -> str: ...

    @property
    def readyState(self) -> str: ...  # noqa: N802 (W3C name)

    @property
    def bufferedAmount(self) -> int: ...  # noqa: N802

    bufferedAmountLowThreshold: int  # noqa: N815

    def send(self, data: bytes) -> None: ...

    def close(self) -> None: ...

    def on(self, event: str, f: Callable[..., Any]) -> Any: ...


class DataChannelTransport:
    """Length-prefixed, capped, chunked messages over an open data channel.

    Sizes in bytes, times in seconds. *peer* names the remote party in errors (its SS58
    address). Call :meth:`close` (or use ``async with``) to stop the keepalive task.
    """

    def __init__(
        self,
        channel: MessageChannel,
        *,
        peer: str = "peer",
        max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
        chunk_size: int = CHUNK_SIZE,
        keepalive_interval: float = 5.0,
        peer_timeout: float = 20.0,
        high_water: int = 1024 * 1024,
        low_water: int = 256 * 1024,
        max_pending_bytes: int | None = None,
    ) -> None:
        if not 0 < keepalive_interval < peer_timeout:
            raise ValueError("need 0 < keepalive_interval < peer_timeout")
        if not 0 <= low_water < high_water:
            raise ValueError("need 0 <= low_water < high_water")
        self.peer = peer
        self.max_message_size = max_message_size
        self.chunk_size = chunk_size
        self.keepalive_interval = keepalive_interval
        self.peer_timeout = peer_timeout
        self.high_water = high_water
        self.max_pending_bytes = (
            max_pending_bytes if max_pending_bytes is not None else 4 * max_message_size + (1 << 20)
        )
        self._channel = channel
        self._decoder = FrameDecoder(max_message_size)
        self._inbox: deque[bytes | OversizeMessageError] = deque()
        self._pending_bytes = 0
        self._readable = asyncio.Event()
        self._drained = asyncio.Event()
        self._drained.set()
        self._send_lock = asyncio.Lock()
        self._error: TransportClosedError | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        now = time.monotonic()
        self._last_received = now
        self._last_sent = now
        channel.bufferedAmountLowThreshold = low_water
        channel.on("message", self._on_message)
        channel.on("bufferedamountlow", self._drained.set)
        channel.on("close", self._on_channel_close)
        create_task_with_logging(
            self._keepalive(), name=f"keepalive-{channel.label}", tasks=self._tasks
        )

    @property
    def label(self) -> str:
        """The data channel's label."""
        return self._channel.label

    @property
    def closed(self) -> bool:
        """Whether the transport is closed (by either side, or the peer is gone)."""
        return self._error is not None

    @property
    def pending(self) -> int:
        """Messages received and not yet read."""
        return len(self._inbox)

    async def send(self, data: bytes) -> None:
        """Send one message (up to ``max_message_size`` bytes).

        Raises :class:`OversizeMessageError` (nothing sent; still usable), or
        :class:`TransportClosedError` / :class:`PeerGoneError` once the transport is closed.
        """
        if not isinstance(data, bytes | bytearray | memoryview):
            raise TypeError(f"send() takes bytes, not {type(data).__name__}")
        if len(data) > self.max_message_size:
            raise OversizeMessageError(len(data), self.max_message_size, incoming=False)
        self._raise_if_closed()
        async with self._send_lock:
            for chunk in chunks(encode_frame(FrameKind.DATA, bytes(data)), self.chunk_size):
                while self._channel.bufferedAmount > self.high_water and not self.closed:
                    self._drained.clear()
                    await self._drained.wait()
                self._raise_if_closed()
                self._send_raw(chunk)

    async def recv(self, timeout: float | None = None) -> bytes:
        """The next message. Messages received before a close are still returned.

        Raises :class:`PeerTimeoutError` after *timeout* seconds without a message (the
        transport stays open), :class:`OversizeMessageError` for an oversize message the peer
        sent (skipped; the next call returns the following message), and
        :class:`TransportClosedError` / :class:`PeerGoneError` once closed and drained.
        """
        try:
            async with asyncio.timeout(timeout):
                while True:
                    if self._inbox:
                        item = self._inbox.popleft()
                        if isinstance(item, OversizeMessageError):
                            raise item
                        self._pending_bytes -= len(item)
                        return item
                    if self._error is not None:
                        raise self._error
                    self._readable.clear()
                    await self._readable.wait()
        except TimeoutError:
            raise PeerTimeoutError(
                f"no message from {self.peer} on {self.label!r} within {timeout} s"
            ) from None

    async def close(self) -> None:
        """Say goodbye (CLOSE frame), close the channel and stop the keepalive task.
        Idempotent; never raises for an already dead channel."""
        if self._error is None:
            if not self._send_lock.locked():
                try:
                    self._send_raw(encode_frame(FrameKind.CLOSE))
                except TransportClosedError:
                    pass
            self._finish(
                TransportClosedError(f"the transport to {self.peer} ({self.label!r}) is closed")
            )
        await cancel_and_wait(list(self._tasks))

    def fail(self, error: TransportClosedError) -> None:
        """Close because the connection under the channel broke (``error`` is what
        ``recv``/``send`` raise from now on). Used by the peer session."""
        if self._error is None:
            self._finish(error)

    async def __aenter__(self) -> DataChannelTransport:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # internals
    def _raise_if_closed(self) -> None:
        if self._error is not None:
            raise self._error

    def _send_raw(self, data: bytes) -> None:
        if self._channel.readyState != "open":
            self._finish(
                TransportClosedError(
                    f"the data channel to {self.peer} is {self._channel.readyState}"
                )
            )
            raise self._error  # type: ignore[misc]
        self._channel.send(data)
        self._last_sent = time.monotonic()

    def _finish(self, error: TransportClosedError) -> None:
        if self._error is not None:
            return
        self._error = error
        logger.debug("transport %r to %s closed: %s", self.label, self.peer, error)
        self._readable.set()
        self._drained.set()
        try:
            self._channel.close()
        except Exception:  # already closed underneath
            logger.debug("closing data channel %r failed", self.label, exc_info=True)
        current = asyncio.current_task()
        for task in list(self._tasks):
            if task is not current:
                task.cancel()

    def _on_channel_close(self) -> None:
        self._finish(
            TransportClosedError(f"the peer {self.peer} closed the data channel {self.label!r}")
        )

    def _on_message(self, message: bytes | str) -> None:
        if self._error is not None:
            return
        self._last_received = time.monotonic()
        if not isinstance(message, bytes):
            self._finish(
                TransportClosedError(f"{self.peer} sent a text message on {self.label!r}; closed")
            )
            return
        try:
            frames = self._decoder.feed(message)
        except FramingError as err:
            self._finish(TransportClosedError(f"{self.peer} broke the framing ({err}); closed"))
            return
        for frame in frames:
            if isinstance(frame, Oversize):
                self._inbox.append(OversizeMessageError(frame.size, frame.limit, incoming=True))
                self._readable.set()
            elif frame.kind is FrameKind.DATA:
                self._inbox.append(frame.payload)
                self._pending_bytes += len(frame.payload)
                self._readable.set()
            elif frame.kind is FrameKind.CLOSE:
                self._finish(
                    TransportClosedError(
                        f"the peer {self.peer} closed the transport {self.label!r}"
                    )
                )
                break
        if self._pending_bytes + self._decoder.buffered > self.max_pending_bytes:
            self._finish(
                TransportClosedError(
                    f"{self.peer} sent more than {self.max_pending_bytes} unread bytes; closed"
                )
            )

    async def _keepalive(self) -> None:
        tick = min(self.keepalive_interval, self.peer_timeout / 4)
        while self._error is None:
            await asyncio.sleep(tick)
            now = time.monotonic()
            silent = now - self._last_received
            if silent > self.peer_timeout:
                self._finish(
                    PeerGoneError(
                        f"the peer {self.peer} sent nothing on {self.label!r} for {silent:.1f} s "
                        f"(keepalives every {self.keepalive_interval} s, timeout "
                        f"{self.peer_timeout} s): presumed dead; transport closed"
                    )
                )
                return
            if now - self._last_sent >= self.keepalive_interval and not self._send_lock.locked():
                try:
                    self._send_raw(encode_frame(FrameKind.KEEPALIVE))
                except NetError:
                    return
