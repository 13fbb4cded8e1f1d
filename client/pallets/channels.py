"""``chain.channels``: open, fund, close, challenge and settle payment channels.

A state is (version u64, balance_a u128, balance_b u128) in planck; signatures are
sr25519 (64 bytes) by each party's account key over the payload ``ccnet.channels`` builds
(seed 002, tests/vectors/channel_state.json). Channel ids are 32 bytes (H256).
Errors raise :class:`~ccnet.client.exceptions.ChannelsError` (``BadSignatureA`` ...).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from substrateinterface.utils.ss58 import ss58_decode

from ..codec import fixed_hex, h256
from ..events import Receipt
from ._base import PalletApi, variant

if TYPE_CHECKING:
    from substrateinterface import Keypair

    from ..chain import Wait

__all__ = ["CHANNEL_ID_TAG", "ChannelInfo", "Channels", "ClosingInfo", "channel_id_of"]

CHANNEL_ID_TAG = b"ccnet:chan-id:v1"
"""Domain tag (16 bytes) hashed into channel ids."""


def channel_id_of(party_a: str, party_b: str, nonce: int) -> bytes:
    """The id ``open`` gives a channel: blake2_256(SCALE(tag, party_a, party_b, nonce u64)),
    with *nonce* = ``NextChannelNonce`` before the open."""
    data = (
        CHANNEL_ID_TAG
        + bytes.fromhex(ss58_decode(party_a))
        + bytes.fromhex(ss58_decode(party_b))
        + nonce.to_bytes(8, "little")
    )
    return hashlib.blake2b(data, digest_size=32).digest()


@dataclass(frozen=True)
class ClosingInfo:
    """The registered state of a closing channel."""

    version: int
    balance_a: int
    balance_b: int
    closer: str
    """``"A"`` or ``"B"``."""
    challenge_ends: int
    """Block number; ``settle`` works after it, ``challenge`` until it."""


@dataclass(frozen=True)
class ChannelInfo:
    """``Channels.Channels(channel_id)``."""

    channel_id: str
    """0x hex H256."""
    party_a: str
    party_b: str
    deposit_a: int
    deposit_b: int
    phase: str
    """``"Opening"``, ``"Funded"`` or ``"Closing"``."""
    closing: ClosingInfo | None

    @property
    def total(self) -> int:
        """Both deposits, planck."""
        return self.deposit_a + self.deposit_b

    @classmethod
    def from_value(cls, channel_id: str, value: Any) -> ChannelInfo:
        phase, fields = variant(value["phase"])
        closing = None
        if phase == "Closing" and isinstance(fields, dict):
            state = fields["state"]
            closer, _ = variant(fields["closer"])
            closing = ClosingInfo(
                version=int(state["version"]),
                balance_a=int(state["balance_a"]),
                balance_b=int(state["balance_b"]),
                closer=closer,
                challenge_ends=int(fields["challenge_ends"]),
            )
        return cls(
            channel_id=channel_id,
            party_a=str(value["party_a"]),
            party_b=str(value["party_b"]),
            deposit_a=int(value["deposit_a"]),
            deposit_b=int(value["deposit_b"]),
            phase=phase,
            closing=closing,
        )


def _state(version: int, balance_a: int, balance_b: int) -> dict[str, int]:
    return {"version": version, "balance_a": balance_a, "balance_b": balance_b}


def _sig(value: bytes | str | None, what: str) -> str | None:
    return None if value is None else fixed_hex(value, 64, what)


class Channels(PalletApi):
    """Typed calls and reads of the Channels pallet."""

    pallet = "Channels"

    # -- calls -------------------------------------------------------------------------

    def open(
        self,
        keypair: Keypair,
        counterparty: str,
        deposit: int,
        counterparty_deposit: int = 0,
        *,
        wait: Wait = "inclusion",
    ) -> Receipt:
        """Open a channel to *counterparty* holding *deposit* planck of the caller (party A).
        With *counterparty_deposit* 0 it is funded at once, else it waits for B's ``fund``.
        Emits ``ChannelOpened{channel_id}`` (see :meth:`opened_channel_id`)."""
        params = {
            "counterparty": counterparty,
            "deposit": deposit,
            "counterparty_deposit": counterparty_deposit,
        }
        return self._submit(keypair, "open", params, wait=wait)

    @staticmethod
    def opened_channel_id(receipt: Receipt) -> bytes:
        """The 32-byte channel id of the ``ChannelOpened`` event in *receipt*."""
        value = receipt.expect("Channels", "ChannelOpened").attributes["channel_id"]
        return bytes.fromhex(str(value).removeprefix("0x"))

    def fund(
        self, keypair: Keypair, channel_id: bytes | str, *, wait: Wait = "inclusion"
    ) -> Receipt:
        """As party B, deposit the asked amount. Emits ``ChannelFunded``."""
        return self._submit(
            keypair, "fund", {"channel_id": h256(channel_id, "channel_id")}, wait=wait
        )

    def cancel_open(
        self, keypair: Keypair, channel_id: bytes | str, *, wait: Wait = "inclusion"
    ) -> Receipt:
        """Cancel a channel still waiting for funding; refunds A. Emits ``ChannelCancelled``."""
        params = {"channel_id": h256(channel_id, "channel_id")}
        return self._submit(keypair, "cancel_open", params, wait=wait)

    def cooperative_close(
        self,
        keypair: Keypair,
        channel_id: bytes | str,
        version: int,
        balance_a: int,
        balance_b: int,
        signature_a: bytes | str,
        signature_b: bytes | str,
        *,
        wait: Wait = "inclusion",
    ) -> Receipt:
        """Close at once with a state both parties signed under the close domain
        (``ccnet:chclose:v1``, see :func:`ccnet.channels.sign_close`; an update
        signature is refused). Emits ``ChannelClosed``."""
        params = {
            "channel_id": h256(channel_id, "channel_id"),
            "state": _state(version, balance_a, balance_b),
            "signature_a": _sig(signature_a, "signature_a"),
            "signature_b": _sig(signature_b, "signature_b"),
        }
        return self._submit(keypair, "cooperative_close", params, wait=wait)

    def close_unilateral(
        self,
        keypair: Keypair,
        channel_id: bytes | str,
        version: int,
        balance_a: int,
        balance_b: int,
        signature_a: bytes | str | None = None,
        signature_b: bytes | str | None = None,
        *,
        wait: Wait = "inclusion",
    ) -> Receipt:
        """Start closing with the latest state; the counterparty may challenge during
        ``ChallengePeriod`` blocks. Version 0 (the deposits) may go unsigned.
        Emits ``ChannelClosing``."""
        params = {
            "channel_id": h256(channel_id, "channel_id"),
            "state": _state(version, balance_a, balance_b),
            "signature_a": _sig(signature_a, "signature_a"),
            "signature_b": _sig(signature_b, "signature_b"),
        }
        return self._submit(keypair, "close_unilateral", params, wait=wait)

    def challenge(
        self,
        keypair: Keypair,
        channel_id: bytes | str,
        version: int,
        balance_a: int,
        balance_b: int,
        signature_a: bytes | str,
        signature_b: bytes | str,
        *,
        wait: Wait = "inclusion",
    ) -> Receipt:
        """Fraud proof: a newer fully signed state within the challenge period (anyone
        may submit); the closer loses everything to the honest party. Emits
        ``FraudProven`` and ``ChannelClosed``."""
        params = {
            "channel_id": h256(channel_id, "channel_id"),
            "state": _state(version, balance_a, balance_b),
            "signature_a": _sig(signature_a, "signature_a"),
            "signature_b": _sig(signature_b, "signature_b"),
        }
        return self._submit(keypair, "challenge", params, wait=wait)

    def settle(
        self, keypair: Keypair, channel_id: bytes | str, *, wait: Wait = "inclusion"
    ) -> Receipt:
        """Pay out a closing channel after its challenge period. Emits ``ChannelClosed``."""
        return self._submit(
            keypair, "settle", {"channel_id": h256(channel_id, "channel_id")}, wait=wait
        )

    # -- reads -------------------------------------------------------------------------

    def channel(self, channel_id: bytes | str) -> ChannelInfo | None:
        """The channel, or None (never opened, or closed and removed)."""
        key = h256(channel_id, "channel_id")
        value = self._query("Channels", [key])
        return None if value is None else ChannelInfo.from_value(key, value)

    def channels(self) -> list[ChannelInfo]:
        """Every open channel."""
        return [ChannelInfo.from_value(str(k), v) for k, v in self._query_map("Channels")]

    def next_nonce(self) -> int:
        """``NextChannelNonce``: what the next ``open`` hashes into its channel id."""
        return int(self._query("NextChannelNonce") or 0)

    def challenge_period(self) -> int:
        """Blocks a closing channel can be challenged."""
        return int(self.constant("ChallengePeriod"))
