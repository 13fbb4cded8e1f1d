"""``chain.channels``: open, fund, close, challenge and settle payment channels.

A state is (version u64, balance_a u128, balance_b u128) in planck; signatures are
sr25519 (64 bytes) by each party's account key over the payload :mod:`ccnet.channels.state`
builds (pinned by ``tests/vectors/channel_state.json``). Channel ids are 32 bytes (H256),
unique per chain instance (:func:`channel_id_of`). A unilateral close is settled with the
newest co-signed state registered before its ``challenge_ends`` block (``challenge``
replaces the registered state; latest version wins, as in Perun and Raiden). Each
channel keeps the challenge period (blocks) that was in force when it was opened.
Errors raise :class:`~ccnet.client.exceptions.ChannelsError` (``BadSignatureA`` ...).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from substrateinterface.utils.ss58 import ss58_decode

from ..codec import fixed_hex, h256
from ..dispatch import error_from_dispatch
from ..events import Receipt
from ..signing import CHANNEL_ID_DOMAIN
from ._base import PalletApi, variant

if TYPE_CHECKING:
    from substrateinterface import Keypair

    from ..chain import Wait

__all__ = ["ChannelInfo", "Channels", "ClosingInfo", "channel_id_of"]


def _account(party: str | bytes, what: str) -> bytes:
    if isinstance(party, bytes):
        return bytes.fromhex(fixed_hex(party, 32, what)[2:])
    return bytes.fromhex(ss58_decode(party))


def channel_id_of(
    party_a: str | bytes, party_b: str | bytes, nonce: int, parent_hash: bytes | str
) -> bytes:
    """The id ``open`` gives a channel (32 bytes)::

        blake2_256(SCALE(CHANNEL_ID_DOMAIN [u8; 16], party_a AccountId32,
                         party_b AccountId32, nonce u64, parent_hash H256))

    *party_a* / *party_b* are SS58 addresses or 32-byte public keys; *nonce* is
    ``NextChannelNonce`` before the open; *parent_hash* is the hash of the block before
    the one that includes the ``open`` (frame_system's parent hash), so that chains
    started from the same spec never share channel ids (and so never share signed
    states). Raises :class:`~ccnet.client.exceptions.CallEncodingError` for a malformed
    key or hash."""
    data = (
        CHANNEL_ID_DOMAIN
        + _account(party_a, "party_a")
        + _account(party_b, "party_b")
        + nonce.to_bytes(8, "little")
        + bytes.fromhex(h256(parent_hash, "parent_hash")[2:])
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
    challenge_period: int
    """Blocks a unilateral close of this channel stays open to ``challenge`` (fixed at
    ``open``)."""
    record_deposit: int
    """The storage deposit held on A while the record exists, planck."""

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
            challenge_period=int(value["challenge_period"]),
            record_deposit=int(value["record_deposit"]),
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
        wait: Wait | None = None,
    ) -> Receipt:
        """Open a channel to *counterparty* holding *deposit* planck of the caller (party A).
        With *counterparty_deposit* 0 it is funded at once, else it waits for B's ``fund``.
        The caller also pays :meth:`record_deposit` (held until the channel is removed:
        closed, settled or cancelled). Emits ``ChannelOpened{channel_id, ...,
        challenge_period}`` (see :meth:`opened_channel_id`)."""
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
        self, keypair: Keypair, channel_id: bytes | str, *, wait: Wait | None = None
    ) -> Receipt:
        """As party B, deposit the asked amount. Emits ``ChannelFunded``."""
        return self._submit(
            keypair, "fund", {"channel_id": h256(channel_id, "channel_id")}, wait=wait
        )

    def cancel_open(
        self, keypair: Keypair, channel_id: bytes | str, *, wait: Wait | None = None
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
        wait: Wait | None = None,
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
        wait: Wait | None = None,
    ) -> Receipt:
        """Register a co-signed state and start the channel's challenge period (its
        ``challenge_period`` blocks); the counterparty or anyone may register a newer one
        until ``challenge_ends``. Version 0 (the deposits) may go unsigned. Emits
        ``ChannelClosing{channel_id, closer, version, challenge_ends}``."""
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
        wait: Wait | None = None,
    ) -> Receipt:
        """Register a newer co-signed state while the channel is closing (until
        ``challenge_ends``, inclusive; anyone may submit): it replaces the registered
        state, nothing is paid out yet and the period is not extended. Emits
        ``ChannelChallenged{channel_id, challenger, version, challenge_ends}``; refused
        with ``NotClosing``, ``ChallengePeriodOver``, ``NotNewer``, ``BadSignatureA`` /
        ``BadSignatureB`` or ``BalanceMismatch``."""
        params = {
            "channel_id": h256(channel_id, "channel_id"),
            "state": _state(version, balance_a, balance_b),
            "signature_a": _sig(signature_a, "signature_a"),
            "signature_b": _sig(signature_b, "signature_b"),
        }
        return self._submit(keypair, "challenge", params, wait=wait)

    def settle(
        self, keypair: Keypair, channel_id: bytes | str, *, wait: Wait | None = None
    ) -> Receipt:
        """Pay out the registered state of a closing channel after its challenge period
        (anyone may submit). Emits ``ChannelClosed``."""
        return self._submit(
            keypair, "settle", {"channel_id": h256(channel_id, "channel_id")}, wait=wait
        )

    def set_challenge_period(
        self, sudo_key: Keypair, period: int, *, wait: Wait | None = None
    ) -> Receipt:
        """Set the challenge period (blocks) of channels opened from now on, as Root
        (through ``Sudo.sudo``, signed by *sudo_key*). Emits ``ChallengePeriodSet``.
        Raises :class:`~ccnet.client.exceptions.ChannelsError`
        (``ChallengePeriodTooShort`` below :meth:`min_challenge_period`) and
        ``Dispatch.BadOrigin`` when *sudo_key* is not the sudo key."""
        chain = self._chain
        with chain.lock:
            call = chain.api.compose_call(
                call_module=self.pallet,
                call_function="set_challenge_period",
                call_params={"period": period},
            )
        receipt = chain.submit(sudo_key, "Sudo", "sudo", {"call": call}, wait=wait)
        outcome = receipt.expect("Sudo", "Sudid").attributes.get("sudo_result")
        if isinstance(outcome, Mapping) and "Err" in outcome:
            raise error_from_dispatch(
                outcome["Err"],
                chain._error_lookup,
                block_hash=receipt.block_hash,
                extrinsic_hash=receipt.extrinsic_hash,
            )
        return receipt

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
        """``ChallengePeriod``: the challenge period (blocks) a channel opened now gets
        (set at genesis per preset, and by Root)."""
        return int(self._query("ChallengePeriod") or 0)

    def min_challenge_period(self) -> int:
        """The constant ``MinChallengePeriod``: the shortest period Root may set, blocks."""
        return int(self.constant("MinChallengePeriod"))

    def record_deposit(self) -> int:
        """The constant ``RecordDeposit``: what ``open`` holds of the opener for the
        channel record until it is removed, planck."""
        return int(self.constant("RecordDeposit"))
