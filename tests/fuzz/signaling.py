"""Signed signaling offers and answers (:mod:`ccnet.client.net.signaling`).

Seeds: an offer from :data:`~.peers.ALICE` to :data:`~.peers.BOB` and BOB's answer,
signed with their real keys at :data:`~.peers.NOW_MS`, and an offer signed by EVE.
The bytes go through :meth:`~ccnet.client.net.signaling.SignalMessage.decode` (what the
endpoint and ``post_offer`` do with a body) and the receiver's
:func:`~ccnet.client.net.signaling.check_signal`. Properties: both raise only
:class:`~ccnet.client.net.exceptions.SignalingError`; a parsed message has fields of its
types and round-trips through its JSON form; only an untouched signed message passes
the checks (signatures are unforgeable, and every field but the signature is signed).
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

from ccnet.client.net.exceptions import SignalingError
from ccnet.client.net.signaling import ReplayGuard, SignalMessage, check_signal

from .harness import check_fields, require, source
from .mutate import Mutator
from .peers import ALICE, BOB, EVE, NOW_MS

__all__ = ["SDP", "Signaling"]

FINGERPRINT = ":".join(f"{i:02X}" for i in range(32))
SDP = "\r\n".join(
    [
        "v=0",
        "o=- 1 1 IN IP4 0.0.0.0",
        "s=-",
        "t=0 0",
        "m=application 9 UDP/DTLS/SCTP webrtc-datachannel",
        "a=candidate:1 1 udp 2130706431 127.0.0.1 5000 typ host",
        f"a=fingerprint:sha-256 {FINGERPRINT}",
        "",
    ]
)
"""A data-channel SDP with its sha-256 DTLS fingerprint."""
NONCE = "0123456789abcdef" * 2


def messages() -> list[SignalMessage]:
    """ALICE's offer to BOB, BOB's answer to it, and an offer from EVE to BOB."""
    labels = ("tasks", "channels")
    offer = SignalMessage.create(
        ALICE, "offer", SDP, peer=BOB.ss58_address, labels=labels, timestamp_ms=NOW_MS, nonce=NONCE
    )
    answer = SignalMessage.create(
        BOB,
        "answer",
        SDP,
        peer=ALICE.ss58_address,
        labels=labels,
        reply_to=NONCE,
        timestamp_ms=NOW_MS - 500,
        nonce="f" * 32,
    )
    other = SignalMessage.create(
        EVE, "offer", SDP, peer=BOB.ss58_address, labels=("tasks",), timestamp_ms=NOW_MS - 1
    )
    return [offer, answer, other]


class Signaling:
    """Offers and answers, parsed and checked as their receiver does."""

    name = "signaling"

    def __init__(self, workdir: Path) -> None:
        self.messages = messages()
        self.seeds = [m.to_json() for m in self.messages]
        self.keys = sorted({key for seed in self.seeds for key in seed})
        self.passes = functools.lru_cache(maxsize=1 << 14)(self._passes)
        """Many inputs parse to a message seen before: check each distinct one once."""

    @staticmethod
    def _passes(message: SignalMessage) -> bool:
        """Whether its receiver (BOB for an offer, ALICE for the answer to her offer) at
        :data:`~.peers.NOW_MS` takes *message*."""
        offer = message.kind == "offer"
        try:
            check_signal(
                message,
                kind=message.kind,
                me=BOB.ss58_address if offer else ALICE.ss58_address,
                reply_to=None if offer else NONCE,
                guard=ReplayGuard(),
                now=NOW_MS,
            )
        except SignalingError:
            return False
        return True

    def one(self, data: bytes) -> None:
        data = Mutator(source(data), keys=self.keys).json_input(self.seeds)
        try:
            message = SignalMessage.decode(data)
        except SignalingError:
            return
        check_fields(message)
        require(SignalMessage.from_json(message.to_json()) == message, f"{message!r} round trip")
        text = json.dumps(message.to_json()).encode()
        require(SignalMessage.decode(text) == message, f"{message!r} does not round-trip")
        if self.passes(message):
            require(message in self.messages, f"a forged {message.kind} passed: {message!r}")

    def close(self) -> None:
        pass
