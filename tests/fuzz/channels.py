"""Payment-channel frames (:mod:`ccnet.channels.messages`): decode, round trip, types.

The seeds are the honest messages of one channel between :data:`~.peers.ALICE` (A) and
:data:`~.peers.BOB` (B), signed with their real keys (:func:`honest_messages`); the
mutations break the JSON body and then the 4-byte length prefix. Properties:
:func:`~ccnet.channels.messages.decode` returns a message or raises
:class:`~ccnet.channels.MalformedMessageError` (:class:`~ccnet.channels.OversizeMessageError`
included); a decoded message has fields of its declared types, re-encodes, decodes back
equal and re-encodes to the same bytes; an untouched seed decodes to its message.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

from ccnet.channels import MalformedMessageError, decode, encode
from ccnet.channels.messages import (
    HEADER_SIZE,
    MAX_BODY,
    CloseAccept,
    CloseRequest,
    Countersign,
    CountersignBatch,
    Message,
    Propose,
    ProposeBatch,
    Reject,
)
from ccnet.channels.state import ChannelParams, ChannelState, sign_close, sign_state
from ccnet.channels.testing import make_params
from ccnet.client import CC

from .harness import check_fields, require, source
from .mutate import Mutator, pick
from .peers import ALICE, BOB

__all__ = ["PARAMS", "ChannelMessages", "frame", "honest_messages"]

PARAMS = make_params(ALICE, BOB, deposit_a=10 * CC, deposit_b=1 * CC, label="fuzz")
"""The channel every seed belongs to (a made-up chain)."""
BATCH = (1_000, 2_000, 3_000)
"""The payments of the seed batch, planck."""
FIELDS = (
    "type",
    "channel_id",
    "genesis_hash",
    "version",
    "balance_a",
    "balance_b",
    "signature",
    "memo",
    "code",
    "reason",
    "cancel_signature",
    "balances_a",
    "balances_b",
    "signatures",
)
"""Every field of every channel message (extra keys the decoder knows)."""


def _state(version: int, paid: int, params: ChannelParams = PARAMS) -> ChannelState:
    return ChannelState(
        params.channel_id, version, params.deposit_a - paid, params.deposit_b + paid
    )


def honest_messages(params: ChannelParams = PARAMS) -> dict[str, Message]:
    """Every message an honest party may send on *params*' channel at version 0, by
    name: A proposes version 1 (paying 5 planck), or versions 1 to 3 as a batch, or
    asks to close at version 0; B countersigns them, refuses version 1 with the
    signature of its cancel state (version 2, the deposits), or accepts the close."""
    genesis, cid = params.genesis_hash, params.channel_id
    one = _state(1, 5, params)
    batch = [_state(v, sum(BATCH[:v]), params) for v in range(1, len(BATCH) + 1)]
    opening, cancel = params.opening_state(), _state(2, 0, params)
    return {
        "propose": Propose(
            cid, genesis, 1, one.balance_a, one.balance_b, sign_state(ALICE, genesis, one), "t1"
        ),
        "countersign": Countersign(cid, 1, sign_state(BOB, genesis, one)),
        "reject_cancel": Reject(cid, 1, "policy", "too low", sign_state(BOB, genesis, cancel)),
        "reject": Reject(cid, 1, "balance", "does not add up"),
        "propose_batch": ProposeBatch(
            cid,
            genesis,
            len(batch),
            tuple((s.balance_a, s.balance_b) for s in batch),
            tuple(sign_state(ALICE, genesis, s) for s in batch),
            "tasks 1-3",
        ),
        "countersign_batch": CountersignBatch(
            cid, len(batch), tuple(sign_state(BOB, genesis, s) for s in batch)
        ),
        "close_request": CloseRequest(
            cid, 0, opening.balance_a, opening.balance_b, sign_close(ALICE, genesis, opening)
        ),
        "close_accept": CloseAccept(cid, 0, sign_close(BOB, genesis, opening)),
    }


def frame(mutator: Mutator, seeds: list[dict[str, Any]]) -> bytes:
    """A frame from *seeds* (message bodies): the body broken by *mutator*, then a
    length prefix that is right, off by a little, at a limit, or cut short."""
    body = mutator.json_input(seeds)
    src = mutator.source
    op = src.ConsumeIntInRange(0, 7)
    if op <= 4:
        length = len(body)
    elif op == 5:
        length = max(0, len(body) + src.ConsumeIntInRange(-3, 3))
    else:
        length = pick(src, (0, 1, MAX_BODY, MAX_BODY + 1, 2**32 - 1))
    header = struct.pack(">I", length)
    if op == 7:
        header = header[: src.ConsumeIntInRange(0, HEADER_SIZE)]
        return header if src.ConsumeBool() else header + body
    return header + body


class ChannelMessages:
    """Decoding channel frames (:mod:`ccnet.channels.messages`)."""

    name = "channel_messages"

    def __init__(self, workdir: Path) -> None:
        messages = list(honest_messages().values())
        self.seeds = [json.loads(encode(m)[HEADER_SIZE:]) for m in messages]
        self.known = {encode(m): m for m in messages}
        for data, message in self.known.items():  # the seeds themselves round-trip
            require(decode(data) == message, f"seed {message!r} does not round-trip")

    def one(self, data: bytes) -> None:
        mutator = Mutator(source(data), keys=FIELDS)
        data = frame(mutator, self.seeds)
        try:
            message = decode(data)
        except MalformedMessageError:
            return
        check_fields(message)
        again = encode(message)
        require(decode(again) == message, f"{message!r} does not round-trip")
        require(encode(decode(again)) == again, f"{message!r} does not re-encode canonically")
        if data in self.known:
            require(message == self.known[data], f"a seed decoded to {message!r}")

    def close(self) -> None:
        pass
