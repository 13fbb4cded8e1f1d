"""Length-prefixed frames over a message transport, with a size cap and chunking.

The wire format is ``docs/protocol.md``, section 7: a frame is ``kind`` (u8) and
``length`` (u32 big-endian) then the payload; kinds :attr:`FrameKind.DATA`,
:attr:`FrameKind.KEEPALIVE` and :attr:`FrameKind.CLOSE`; the frame stream is cut into
data-channel messages of at most :data:`CHUNK_SIZE` bytes whose boundaries carry no
meaning. A :class:`FrameDecoder` rebuilds the frames from the chunks in order; a DATA
frame over its cap is not buffered: it reports :class:`Oversize` and skips the payload,
so the stream stays in step. Pure functions and a pure state machine: no I/O here.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from enum import IntEnum

from .exceptions import FramingError

__all__ = [
    "CHUNK_SIZE",
    "DEFAULT_MAX_MESSAGE_SIZE",
    "HEADER",
    "MAX_LENGTH",
    "Frame",
    "FrameDecoder",
    "FrameKind",
    "Oversize",
    "chunks",
    "encode_frame",
]

HEADER = struct.Struct(">BI")
"""Frame header: kind (u8), payload length in bytes (u32 big-endian)."""

MAX_LENGTH = 2**32 - 1
"""Largest payload length the header can express (bytes)."""

CHUNK_SIZE = 16 * 1024
"""Largest data-channel message sent (bytes): safe across WebRTC implementations."""

DEFAULT_MAX_MESSAGE_SIZE = 16 * 1024 * 1024
"""Default cap on one message's payload (bytes): 16 MiB."""


class FrameKind(IntEnum):
    """What a frame carries."""

    DATA = 0
    """An application message (the payload)."""
    KEEPALIVE = 1
    """Liveness signal; empty payload."""
    CLOSE = 2
    """The sender closes the transport; empty payload."""


@dataclass(frozen=True, slots=True)
class Frame:
    """One decoded frame."""

    kind: FrameKind
    payload: bytes


@dataclass(frozen=True, slots=True)
class Oversize:
    """A DATA frame of ``size`` bytes exceeded the cap ``limit``; its payload is skipped."""

    size: int
    limit: int


def encode_frame(kind: FrameKind, payload: bytes = b"") -> bytes:
    """Header plus *payload*. Raises ValueError for a payload longer than
    :data:`MAX_LENGTH` or a control frame with a payload."""
    if len(payload) > MAX_LENGTH:
        raise ValueError(f"payload of {len(payload)} bytes exceeds the u32 length field")
    if kind is not FrameKind.DATA and payload:
        raise ValueError(f"{kind.name} frames carry no payload")
    return HEADER.pack(kind, len(payload)) + payload


def chunks(data: bytes, size: int = CHUNK_SIZE) -> Iterator[bytes]:
    """*data* cut into consecutive pieces of at most *size* bytes (none if empty)."""
    if size <= 0:
        raise ValueError("chunk size must be positive")
    view = memoryview(data)
    for start in range(0, len(view), size):
        yield bytes(view[start : start + size])


class FrameDecoder:
    """Incremental decoder: feed chunks in order, get complete frames back.

    Memory held is at most one header plus one payload of at most *max_message_size*
    bytes; oversize payloads are skipped, not stored.
    """

    def __init__(self, max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE) -> None:
        if not 0 <= max_message_size <= MAX_LENGTH:
            raise ValueError(f"max_message_size must be within 0..{MAX_LENGTH}")
        self.max_message_size = max_message_size
        self._header = bytearray()
        self._kind = FrameKind.DATA
        self._body: bytearray | None = None
        self._needed = 0
        self._skip = 0

    @property
    def buffered(self) -> int:
        """Bytes of the frame in progress held in memory."""
        return len(self._header) + (len(self._body) if self._body is not None else 0)

    @property
    def idle(self) -> bool:
        """Whether the decoder sits between frames (no partial frame)."""
        return not self._header and self._body is None and self._skip == 0

    def feed(self, data: bytes) -> list[Frame | Oversize]:
        """Consume *data*; return the frames (and oversize notices) it completes.

        Raises :class:`FramingError` for an unknown kind or a control frame with a
        payload; the decoder is then unusable.
        """
        out: list[Frame | Oversize] = []
        view = memoryview(data)
        pos, end = 0, len(view)
        while pos < end:
            if self._skip:
                take = min(self._skip, end - pos)
                self._skip -= take
                pos += take
            elif self._body is not None:
                take = min(self._needed - len(self._body), end - pos)
                self._body += view[pos : pos + take]
                pos += take
                if len(self._body) == self._needed:
                    out.append(Frame(self._kind, bytes(self._body)))
                    self._body = None
            else:
                take = min(HEADER.size - len(self._header), end - pos)
                self._header += view[pos : pos + take]
                pos += take
                if len(self._header) == HEADER.size:
                    notice = self._start_frame()
                    if notice is not None:
                        out.append(notice)
        return out

    def _start_frame(self) -> Frame | Oversize | None:
        raw_kind, length = HEADER.unpack(self._header)
        self._header.clear()
        try:
            kind = FrameKind(raw_kind)
        except ValueError:
            raise FramingError(f"unknown frame kind {raw_kind}") from None
        if kind is not FrameKind.DATA and length:
            raise FramingError(f"{kind.name} frame with a {length}-byte payload")
        if length > self.max_message_size:
            self._skip = length
            return Oversize(length, self.max_message_size)
        if length == 0:
            return Frame(kind, b"")
        self._kind = kind
        self._needed = length
        self._body = bytearray()
        return None
