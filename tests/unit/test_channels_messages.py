"""ccnet.channels.messages: round trips, the size cap, and every way a frame can be
malformed (a fuzzer checks that decoding raises nothing but MalformedMessageError)."""

from __future__ import annotations

import json
import struct
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ccnet.channels import (
    MAX_BODY,
    CloseAccept,
    CloseRequest,
    Countersign,
    MalformedMessageError,
    OversizeMessageError,
    Propose,
    Reject,
    decode,
    encode,
)
from ccnet.channels.messages import Message
from ccnet.channels.state import U64_MAX, U128_MAX

CID = b"\xc0" * 32
GENESIS = b"\x45" * 32
SIG = b"\x11" * 64

PROPOSE = Propose(CID, GENESIS, 7, U128_MAX, 0, SIG, "task 42")
MESSAGES = [
    PROPOSE,
    Propose(CID, GENESIS, U64_MAX, 0, 5, SIG),
    Countersign(CID, 7, SIG),
    Reject(CID, 7, "balance", "balances do not add up"),
    CloseRequest(CID, 7, U128_MAX, 0, SIG),
    CloseAccept(CID, U64_MAX, SIG),
]
CLOSE_REQUEST = CloseRequest(CID, 7, 5, 10, SIG)


def frame(body: Any) -> bytes:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return struct.pack(">I", len(data)) + data


def propose_body(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(encode(PROPOSE)[4:])
    body.update(changes)
    return {k: v for k, v in body.items() if v is not ...}


@pytest.mark.parametrize("message", MESSAGES, ids=lambda m: type(m).__name__)
def test_round_trip(message: Message) -> None:
    data = encode(message)
    assert struct.unpack(">I", data[:4])[0] == len(data) - 4
    assert decode(data) == message


def test_wire_format_is_documented_json() -> None:
    body = json.loads(encode(PROPOSE)[4:])
    assert body == {
        "type": "propose",
        "channel_id": "0x" + "c0" * 32,
        "genesis_hash": "0x" + "45" * 32,
        "version": 7,
        "balance_a": str(U128_MAX),
        "balance_b": "0",
        "signature": "0x" + "11" * 64,
        "memo": "task 42",
    }


def test_close_messages_are_documented_json() -> None:
    assert json.loads(encode(CLOSE_REQUEST)[4:]) == {
        "type": "close_request",
        "channel_id": "0x" + "c0" * 32,
        "version": 7,
        "balance_a": "5",
        "balance_b": "10",
        "signature": "0x" + "11" * 64,
    }
    assert json.loads(encode(CloseAccept(CID, 7, SIG))[4:]) == {
        "type": "close_accept",
        "channel_id": "0x" + "c0" * 32,
        "version": 7,
        "signature": "0x" + "11" * 64,
    }


def close_body(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(encode(CLOSE_REQUEST)[4:])
    body.update(changes)
    return {k: v for k, v in body.items() if v is not ...}


def test_negative_balance_decodes_for_the_receiver_to_refuse() -> None:
    # An overdraw is the channel's call (BalanceError), not a parse error.
    message = decode(frame(propose_body(balance_a="-5")))
    assert isinstance(message, Propose) and message.balance_a == -5


@pytest.mark.parametrize(
    "body",
    [
        propose_body(type="pay"),
        propose_body(memo=...),
        propose_body(extra=1),
        propose_body(version=-1),
        propose_body(version=U64_MAX + 1),
        propose_body(version=True),
        propose_body(version="7"),
        propose_body(balance_a=5),
        propose_body(balance_a="1e3"),
        propose_body(balance_a="٣"),
        propose_body(balance_a="1" * 41),
        propose_body(channel_id="0x" + "c0" * 31),
        propose_body(channel_id="c0" * 32),
        propose_body(channel_id="0x" + "zz" * 32),
        propose_body(signature="0x" + "11" * 63),
        propose_body(memo="x" * 1025),
        propose_body(memo=5),
        {"type": "countersign", "channel_id": "0x" + "c0" * 32, "version": 1},
        {"type": "reject", "channel_id": "0x" + "c0" * 32, "version": 1, "code": 1, "reason": ""},
        close_body(signature=...),
        close_body(memo=""),
        close_body(genesis_hash="0x" + "45" * 32),
        close_body(version=-1),
        close_body(version="7"),
        close_body(balance_b=10),
        close_body(balance_a="1" * 41),
        close_body(signature="0x" + "11" * 65),
        close_body(type="close"),
        {"type": "close_accept", "channel_id": "0x" + "c0" * 32, "version": 1},
        {
            "type": "close_accept",
            "channel_id": "0x" + "c0" * 32,
            "version": 1,
            "signature": "0x" + "11" * 64,
            "balance_a": "1",
        },
        [1, 2],
        "propose",
    ],
)
def test_malformed_bodies(body: Any) -> None:
    with pytest.raises(MalformedMessageError):
        decode(frame(body))


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\0\0\0",
        struct.pack(">I", 0),
        struct.pack(">I", 10) + b"{}",
        frame(b"\xff\xfe{}"),
        frame(b"{"),
        frame(b'{"type": "countersign", "type": "countersign"}'),
        frame(b'{"version": NaN}'),
        frame(b"[" * 30_000 + b"]" * 30_000),
    ],
)
def test_malformed_frames(data: bytes) -> None:
    with pytest.raises(MalformedMessageError):
        decode(data)


def test_oversize() -> None:
    big = frame(propose_body(memo="x" * (MAX_BODY + 1)))
    with pytest.raises(OversizeMessageError):
        decode(big)
    with pytest.raises(OversizeMessageError):
        decode(struct.pack(">I", MAX_BODY + 1) + b"{}")
    with pytest.raises(OversizeMessageError):
        encode(Reject(CID, 1, "x" * MAX_BODY, "reason"))
    assert issubclass(OversizeMessageError, MalformedMessageError)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_fuzz_raw_bytes(data: bytes) -> None:
    try:
        decode(data)
    except MalformedMessageError:
        pass


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(
            ["type", "channel_id", "genesis_hash", "version", "balance_a", "memo", "signature"]
        ),
        st.one_of(
            st.integers(),
            st.text(max_size=80),
            st.none(),
            st.booleans(),
            st.just("0x" + "00" * 32),
            st.sampled_from(["close_request", "close_accept", "0x" + "00" * 64]),
        ),
    )
)
def test_fuzz_json_objects(body: dict[str, Any]) -> None:
    try:
        decode(frame(body))
    except MalformedMessageError:
        pass
