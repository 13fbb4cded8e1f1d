"""Frames of the data-channel transport: header layout, chunking, reassembly, the cap."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ccnet.client.net.exceptions import FramingError
from ccnet.client.net.framing import (
    CHUNK_SIZE,
    HEADER,
    Frame,
    FrameDecoder,
    FrameKind,
    Oversize,
    chunks,
    encode_frame,
)


def test_header_is_kind_then_big_endian_length() -> None:
    frame = encode_frame(FrameKind.DATA, b"abc")
    assert frame == b"\x00\x00\x00\x00\x03abc"
    assert HEADER.size == 5
    assert encode_frame(FrameKind.KEEPALIVE) == b"\x01\x00\x00\x00\x00"


def test_control_frames_carry_no_payload() -> None:
    with pytest.raises(ValueError, match="no payload"):
        encode_frame(FrameKind.CLOSE, b"x")


def test_chunks_cover_the_data_in_order() -> None:
    data = bytes(range(256)) * 200
    pieces = list(chunks(data, CHUNK_SIZE))
    assert all(len(p) <= CHUNK_SIZE for p in pieces)
    assert b"".join(pieces) == data
    assert list(chunks(b"")) == []
    with pytest.raises(ValueError):
        list(chunks(b"x", 0))


@given(
    messages=st.lists(st.binary(max_size=300), max_size=8),
    cut=st.integers(min_value=1, max_value=40),
)
def test_any_chunking_reassembles_the_messages(messages: list[bytes], cut: int) -> None:
    stream = b"".join(encode_frame(FrameKind.DATA, m) for m in messages)
    decoder = FrameDecoder(max_message_size=1000)
    out: list[Frame | Oversize] = []
    for piece in chunks(stream, cut):
        out += decoder.feed(piece)
    assert out == [Frame(FrameKind.DATA, m) for m in messages]
    assert decoder.idle


def test_oversize_payload_is_skipped_and_the_stream_stays_in_step() -> None:
    decoder = FrameDecoder(max_message_size=10)
    stream = (
        encode_frame(FrameKind.DATA, b"small")
        + encode_frame(FrameKind.DATA, b"x" * 50)
        + encode_frame(FrameKind.KEEPALIVE)
        + encode_frame(FrameKind.DATA, b"after")
    )
    out: list[Frame | Oversize] = []
    for piece in chunks(stream, 7):
        out += decoder.feed(piece)
        assert decoder.buffered <= HEADER.size + 10
    assert out == [
        Frame(FrameKind.DATA, b"small"),
        Oversize(50, 10),
        Frame(FrameKind.KEEPALIVE, b""),
        Frame(FrameKind.DATA, b"after"),
    ]


def test_empty_message_and_exact_cap_are_allowed() -> None:
    decoder = FrameDecoder(max_message_size=4)
    data = encode_frame(FrameKind.DATA, b"") + encode_frame(FrameKind.DATA, b"1234")
    assert decoder.feed(data) == [Frame(FrameKind.DATA, b""), Frame(FrameKind.DATA, b"1234")]


def test_unknown_kind_is_a_framing_error() -> None:
    with pytest.raises(FramingError, match="unknown frame kind 9"):
        FrameDecoder().feed(b"\x09\x00\x00\x00\x00")


def test_control_frame_with_payload_is_a_framing_error() -> None:
    with pytest.raises(FramingError, match="KEEPALIVE frame with a 2-byte payload"):
        FrameDecoder().feed(b"\x01\x00\x00\x00\x02ab")
