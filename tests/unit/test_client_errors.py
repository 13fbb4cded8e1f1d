"""Receipts and dispatch errors from fake events: the pallet subclass, name and docs."""

from __future__ import annotations

import json
from typing import Any, cast

import pytest
import websocket

from ccnet.client import (
    ChainConnectionError,
    ChainEvent,
    ChannelsError,
    CreditsError,
    DispatchError,
    DisputesError,
    ExtrinsicError,
    TasksError,
)
from ccnet.client.chain import _rejection, _Watch
from ccnet.client.dispatch import build_receipt, error_from_dispatch
from ccnet.client.events import event_from_record

ERRORS = {
    (10, 2): ("Credits", "InsufficientStake", "The account has less active stake than requested."),
    (12, 9): ("Channels", "BadSignatureA", "Party A's signature does not verify."),
    (14, 6): ("Disputes", "NotVerifier", "The caller was not selected as a verifier."),
}


def lookup(pallet: int, error: int) -> tuple[str, str, str]:
    return ERRORS[(pallet, error)]


def failed(dispatch_error: Any) -> list[ChainEvent]:
    return [
        ChainEvent("Balances", "Withdraw", {"who": "5Grw", "amount": 7}),
        ChainEvent("TransactionPayment", "TransactionFeePaid", {"actual_fee": 7, "tip": 0}),
        ChainEvent(
            "System",
            "ExtrinsicFailed",
            {"dispatch_error": dispatch_error, "dispatch_info": {"weight": {}}},
        ),
    ]


def test_module_error_maps_to_the_pallet_subclass() -> None:
    raw = {"Module": {"index": 12, "error": "0x09000000"}}
    with pytest.raises(ChannelsError) as info:
        build_receipt(failed(raw), lookup, block_hash="0xb", extrinsic_hash="0xe")
    err = info.value
    assert isinstance(err, DispatchError)
    assert (err.pallet, err.name) == ("Channels", "BadSignatureA")
    assert err.docs == "Party A's signature does not verify."
    assert str(err) == "Channels.BadSignatureA: Party A's signature does not verify."
    assert (err.block_hash, err.extrinsic_hash) == ("0xb", "0xe")


@pytest.mark.parametrize(
    ("raw", "cls", "name"),
    [
        ({"Module": {"index": 10, "error": "0x02000000"}}, CreditsError, "InsufficientStake"),
        ({"Module": (14, "0x06000000")}, DisputesError, "NotVerifier"),
        ({"Module": {"index": 12, "error": 9}}, ChannelsError, "BadSignatureA"),
    ],
)
def test_error_index_shapes(raw: Any, cls: type[DispatchError], name: str) -> None:
    err = error_from_dispatch(raw, lookup)
    assert type(err) is cls and err.name == name


def test_non_module_errors_are_plain_dispatch_errors() -> None:
    bad_origin = error_from_dispatch("BadOrigin", lookup)
    assert type(bad_origin) is DispatchError
    assert (bad_origin.pallet, bad_origin.name) == ("Dispatch", "BadOrigin")
    token = error_from_dispatch({"Token": "FundsUnavailable"}, lookup)
    assert str(token) == "Token.FundsUnavailable"
    assert not isinstance(token, TasksError)


def test_success_receipt_has_events_and_fee() -> None:
    events = [
        ChainEvent("Tasks", "TaskPosted", {"task_id": 3, "requester": "5Grw", "bounty": 10}),
        ChainEvent("TransactionPayment", "TransactionFeePaid", {"actual_fee": 123, "tip": 0}),
        ChainEvent("System", "ExtrinsicSuccess", {"dispatch_info": {}}),
    ]
    receipt = build_receipt(events, lookup, block_hash="0xb", extrinsic_hash="0xe")
    assert receipt.fee == 123
    posted = receipt.find("Tasks", "TaskPosted")
    assert posted is not None and posted.attributes["task_id"] == 3 and posted["bounty"] == 10
    assert receipt.find("Tasks", "TaskClaimed") is None
    assert [e.name for e in receipt.find_all("System")] == ["ExtrinsicSuccess"]
    with pytest.raises(LookupError, match="Tasks.TaskPosted, TransactionPayment"):
        receipt.expect("Tasks", "TaskClaimed")
    assert receipt.as_dict()["events"][0]["attributes"]["task_id"] == 3


def test_event_from_record() -> None:
    record = {
        "extrinsic_idx": 1,
        "module_id": "Credits",
        "event_id": "Staked",
        "attributes": {"who": "5Grw", "amount": 5},
    }
    event = event_from_record(record, block_number=9, block_hash="0xb")
    assert (event.qualname, event.extrinsic_index, event.block_number) == ("Credits.Staked", 1, 9)
    unnamed = event_from_record({"module_id": "X", "event_id": "Y", "attributes": ("a", 2)})
    assert unnamed.attributes == {"0": "a", "1": 2}


@pytest.mark.parametrize(
    ("message", "code", "related"),
    [
        ('the node refused the extrinsic: {"invalid":{"stale":null}}', 1010, True),
        (
            "the node refused the extrinsic: Invalid Transaction: Transaction is outdated",
            1010,
            True,
        ),
        ("the node refused the extrinsic: Priority is too low", 1014, True),
        ('the node refused the extrinsic: {"invalid":{"payment":null}}', 1010, False),
    ],
)
def test_nonce_related_rejections(message: str, code: int, related: bool) -> None:
    assert ExtrinsicError(message, code=code).nonce_related is related


class FakeSocket:
    """Replays JSON-RPC messages as a websocket would deliver them."""

    def __init__(self, *messages: dict[str, Any]) -> None:
        self.messages = [json.dumps(m) for m in messages]
        self.closed = False

    def send(self, data: str) -> None:
        pass

    def settimeout(self, timeout: float) -> None:
        pass

    def recv_data(self, control_frame: bool = False) -> tuple[int, bytes]:
        if not self.messages:
            raise TimeoutError("timed out")
        return websocket.ABNF.OPCODE_TEXT, self.messages.pop(0).encode()

    def close(self, timeout: float = 0) -> None:
        self.closed = True


def update(result: Any) -> dict[str, Any]:
    return {"method": "author_extrinsicUpdate", "params": {"subscription": "s", "result": result}}


def watch(*messages: dict[str, Any]) -> _Watch:
    """A watch whose socket replays *messages*, past its subscription reply."""
    socket = cast(websocket.WebSocket, FakeSocket(*messages))
    w = _Watch("ws://node", timeout=1, connect=lambda url, timeout: socket)
    w.submit("0x00")
    return w


def test_watch_statuses() -> None:
    sub = {"id": 1, "result": "s"}
    ready, in_block = update({"ready": None}), update({"inBlock": "0xb1"})
    other = {"method": "author_extrinsicUpdate", "params": {"subscription": "x", "result": {}}}
    assert watch(sub, other, ready, in_block).wait("inclusion") == ("0xb1", False)
    assert watch(sub, ready, in_block, update({"finalized": "0xb1"})).wait("finalization") == (
        "0xb1",
        True,
    )
    with pytest.raises(ExtrinsicError, match="dropped"):
        watch(sub, ready, update("dropped")).wait("inclusion")
    with pytest.raises(ChainConnectionError, match="may still be included"):
        watch(sub, ready).wait("inclusion")


def test_rejection_messages() -> None:
    chopsticks = {"code": 1010, "message": '{"invalid":{"payment":null}}'}
    assert "cannot pay the fee" in _rejection(chopsticks)
    node = {"code": 1010, "message": "Invalid Transaction", "data": "Transaction is outdated"}
    assert _rejection(node) == "Invalid Transaction: Transaction is outdated"
    stale = {"id": 1, "error": {"code": 1010, "message": '{"invalid":{"stale":null}}'}}
    with pytest.raises(ExtrinsicError, match="stale nonce") as info:
        watch(update({"ready": None}), stale)
    assert info.value.nonce_related and info.value.code == 1010
