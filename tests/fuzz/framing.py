"""Frames of the data-channel transport (:mod:`ccnet.client.net.framing`).

Seeds: streams of valid frames (data of several sizes, keepalives, closes) written by
:func:`~ccnet.client.net.framing.encode_frame`; the mutations rewrite a frame's kind or
length field, then edit raw bytes, and the stream is cut into chunks (empty ones too)
at points the fuzzer picks. Properties: :meth:`~ccnet.client.net.framing.FrameDecoder.feed`
raises only :class:`~ccnet.client.net.exceptions.FramingError`; the chunking changes
nothing (same frames, or the same error, as the whole stream at once); memory stays
within one header and one capped payload; an untouched stream gives back exactly its
frames, data frames over the cap as :class:`~ccnet.client.net.framing.Oversize` notices.
"""

from __future__ import annotations

from pathlib import Path

from ccnet.client.net.exceptions import FramingError
from ccnet.client.net.framing import (
    HEADER,
    Frame,
    FrameDecoder,
    FrameKind,
    Oversize,
    encode_frame,
)

from .harness import require, source
from .mutate import Mutator, pick

__all__ = ["Framing"]

CAPS = (0, 1, 16, 100, 4096)
"""Caps of the decoder under test, bytes (small, so that oversize frames are common)."""
PAYLOADS = (b"", b"x", b"hello", bytes(range(256)) * 4, b"\xff" * 100)


def _feed(decoder: FrameDecoder, chunks: list[bytes]) -> tuple[list[Frame | Oversize], bool]:
    """Everything the decoder gives for *chunks*, and whether it raised FramingError."""
    out: list[Frame | Oversize] = []
    limit = HEADER.size + decoder.max_message_size
    for chunk in chunks:
        try:
            out += decoder.feed(chunk)
        except FramingError:
            return out, True
        require(decoder.buffered <= limit, f"{decoder.buffered} bytes held, cap {limit}")
    return out, False


class Framing:
    """A stream of frames, decoded whole and in chunks."""

    name = "framing"

    def __init__(self, workdir: Path) -> None:
        pass

    def one(self, data: bytes) -> None:
        src = source(data)
        cap = pick(src, CAPS)
        frames = []
        for _ in range(src.ConsumeIntInRange(1, 6)):
            kind = pick(src, list(FrameKind))
            frames.append((kind, pick(src, PAYLOADS) if kind is FrameKind.DATA else b""))
        parts = [encode_frame(kind, payload) for kind, payload in frames]
        touched = src.ConsumeBool()
        if touched:  # one header rewritten field by field
            index = src.ConsumeIntInRange(0, len(parts) - 1)
            raw_kind, length = HEADER.unpack(parts[index][: HEADER.size])
            if src.ConsumeBool():
                raw_kind = pick(src, (0, 1, 2, 3, 0x7F, 0x80, 0xFF))
            else:
                length = pick(src, (0, 1, length - 1, length + 1, cap, cap + 1, 2**32 - 1))
            parts[index] = HEADER.pack(raw_kind, max(0, length)) + parts[index][HEADER.size :]
        stream = b"".join(parts)
        if src.ConsumeBool():
            touched = True
            stream = Mutator(src).edit_bytes(stream)
        cuts = sorted(
            src.ConsumeIntInRange(0, len(stream)) for _ in range(src.ConsumeIntInRange(0, 8))
        )
        chunks = [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True)]

        whole, whole_failed = _feed(FrameDecoder(cap), [stream])
        pieces, pieces_failed = _feed(FrameDecoder(cap), chunks)
        require(whole_failed == pieces_failed, "the chunking decided whether the stream fails")
        if not whole_failed:
            require(whole == pieces, f"the chunking changed the frames: {whole} vs {pieces}")
        if not touched:
            expected = [
                Oversize(len(payload), cap) if len(payload) > cap else Frame(kind, payload)
                for kind, payload in frames
            ]
            require(not whole_failed and whole == expected, f"{frames} decoded to {whole}")

    def close(self) -> None:
        pass
