"""Byte transports that carry protocol frames between two parties.

A :class:`Transport` moves whole frames (see :mod:`.messages`: 4-byte big-endian length
and body). :class:`StreamTransport` runs over asyncio streams (TCP on 127.0.0.1 in the
tests; WebRTC data channels come with the worker); :class:`MemoryTransport` pairs are
queue-backed, for unit tests, and can drop frames on a ``loss_pattern`` like aiortc's
test transports.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Awaitable, Callable, Iterable, Iterator
from typing import Protocol

from .exceptions import OversizeMessageError, TransportClosedError
from .messages import HEADER_SIZE, frame_length

__all__ = ["MemoryTransport", "StreamTransport", "Transport", "connect", "serve"]

log = logging.getLogger(__name__)

_DISCARD_CHUNK = 64 * 1024


class Transport(Protocol):
    """An ordered, message-preserving byte channel to one peer."""

    async def send(self, frame: bytes) -> None:
        """Send one frame; :class:`TransportClosedError` if the transport is closed."""
        ...

    async def recv(self) -> bytes:
        """The next frame; :class:`TransportClosedError` at the end,
        :class:`OversizeMessageError` for a frame over the cap (skipped)."""
        ...

    async def close(self) -> None:
        """Close; pending and later :meth:`recv` calls raise :class:`TransportClosedError`."""
        ...


class StreamTransport:
    """Frames over an asyncio ``StreamReader``/``StreamWriter`` pair.

    :meth:`recv` reads the length prefix first: a frame over the cap is read and thrown
    away (the stream stays in step) and reported as :class:`OversizeMessageError`.
    """

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer
        self._closed = False

    @property
    def peername(self) -> str:
        """The remote address, e.g. ``127.0.0.1:40123``."""
        peer = self._writer.get_extra_info("peername")
        return f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer)

    async def send(self, frame: bytes) -> None:
        if self._closed or self._writer.is_closing():
            raise TransportClosedError("transport is closed")
        try:
            self._writer.write(frame)
            await self._writer.drain()
        except (ConnectionError, RuntimeError) as err:
            raise TransportClosedError(f"peer connection lost: {err}") from err

    async def _discard(self, length: int) -> None:
        while length > 0:
            chunk = await self._reader.readexactly(min(length, _DISCARD_CHUNK))
            length -= len(chunk)

    async def recv(self) -> bytes:
        if self._closed:
            raise TransportClosedError("transport is closed")
        try:
            header = await self._reader.readexactly(HEADER_SIZE)
            try:
                length = frame_length(header)
            except OversizeMessageError:
                await self._discard(int.from_bytes(header, "big"))
                raise
            return header + await self._reader.readexactly(length)
        except (asyncio.IncompleteReadError, ConnectionError) as err:
            raise TransportClosedError("peer closed the connection") from err

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._writer.close()
        try:
            await self._writer.wait_closed()
        except (ConnectionError, RuntimeError):  # already gone
            pass


async def connect(host: str, port: int) -> StreamTransport:
    """A :class:`StreamTransport` over a TCP connection to *host*:*port*;
    :class:`TransportClosedError` if it cannot connect."""
    try:
        reader, writer = await asyncio.open_connection(host, port)
    except OSError as err:
        raise TransportClosedError(f"cannot connect to {host}:{port}: {err}") from err
    return StreamTransport(reader, writer)


async def serve(
    on_connect: Callable[[StreamTransport], Awaitable[None]],
    host: str = "127.0.0.1",
    port: int = 0,
) -> asyncio.Server:
    """Listen on *host*:*port* (0: a free port; see ``server.sockets``) and call
    *on_connect* with a :class:`StreamTransport` for each connection."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await on_connect(StreamTransport(reader, writer))

    return await asyncio.start_server(handle, host, port)


class MemoryTransport:
    """One end of an in-memory transport pair (see :meth:`pair`)."""

    def __init__(self, inbox: asyncio.Queue[bytes | None], loss: Iterator[bool]) -> None:
        self._inbox = inbox
        self._peer: MemoryTransport | None = None
        self._loss = loss
        self._closed = False
        self.sent = 0
        """Frames handed to :meth:`send` (dropped ones included)."""
        self.dropped = 0
        """Frames dropped by the loss pattern."""

    @classmethod
    def pair(
        cls, *, loss_pattern: Iterable[bool] | None = None
    ) -> tuple[MemoryTransport, MemoryTransport]:
        """Two connected ends. *loss_pattern* (cycled, per end) tells which sends are
        dropped: ``[False, True]`` drops every second frame each end sends."""
        pattern = list(loss_pattern or [False])
        first = cls(asyncio.Queue(), itertools.cycle(pattern))
        second = cls(asyncio.Queue(), itertools.cycle(pattern))
        first._peer, second._peer = second, first
        return first, second

    async def send(self, frame: bytes) -> None:
        if self._closed or self._peer is None or self._peer._closed:
            raise TransportClosedError("transport is closed")
        self.sent += 1
        if next(self._loss):
            self.dropped += 1
            return
        self._peer._inbox.put_nowait(bytes(frame))

    async def recv(self) -> bytes:
        if self._closed:
            raise TransportClosedError("transport is closed")
        frame = await self._inbox.get()
        if frame is None:
            self._inbox.put_nowait(None)  # wake any other reader too
            raise TransportClosedError("peer closed the transport")
        return frame

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._inbox.put_nowait(None)
        if self._peer is not None:
            self._peer._inbox.put_nowait(None)
