"""Channel states and their signatures, encoded exactly as pallet-channels expects.

A party signs, with sr25519 and its account key, the SCALE encoding of the pallet's
``SignedPayload`` (``pallets/channels/src/types.rs``)::

    (STATE_DOMAIN [u8; 16], genesis_hash H256, channel_id H256,
     version u64, balance_a u128, balance_b u128)

The fixed-size domain tag has no length prefix; integers are little endian. An *update*
signature (:data:`STATE_DOMAIN`, :func:`sign_state`) serves ``close_unilateral`` and
``challenge``; ``cooperative_close`` only takes *close* signatures, the same payload under
:data:`CLOSE_DOMAIN` (:func:`sign_close`), so an old update cannot close the channel at
once, before the peer could register a newer state. Both sides give a close signature
only for their latest balances, after which they countersign no more updates that move
money (:class:`ClosingAgreement`).

The shared vectors in ``tests/vectors/channel_state.json`` pin these bytes (``payload_scale``
and ``close_payload_scale``; checked by ``cargo test``, ``tests/unit/test_vectors.py`` and
``tests/unit/test_channels_state.py``). Channel ids come from the chain (see
:func:`ccnet.client.pallets.channels.channel_id_of`): they hash the block the channel was
opened after, so a state signed on one chain instance never verifies on another started
from the same spec.

Balances are integers in planck (1 CC = 10**12 planck). Party A is the opener; the
version 0 state is the deposits and needs no signatures on chain.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from substrateinterface import Keypair

from ccnet.client import signing
from ccnet.client.codec import U64_MAX, U128_MAX, encode_scale, hexed

from .exceptions import BalanceError, SignatureError, VersionError

__all__ = [
    "CLOSE_DOMAIN",
    "STATE_DOMAIN",
    "U64_MAX",
    "U128_MAX",
    "ChannelParams",
    "ChannelState",
    "ClosingAgreement",
    "Party",
    "SignedState",
    "closing_payload",
    "encode_state",
    "sign_close",
    "signing_payload",
    "sign_state",
    "verify_close",
    "verify_state",
]

STATE_DOMAIN = signing.CHANNEL_UPDATE_DOMAIN
"""Domain tag that starts every signed channel update (16 bytes)."""
CLOSE_DOMAIN = signing.CHANNEL_CLOSE_DOMAIN
"""Domain tag of close signatures, the only ones ``cooperative_close`` takes (16 bytes)."""


def _h256(value: bytes, what: str) -> bytes:
    if not isinstance(value, bytes) or len(value) != 32:
        raise ValueError(f"{what} must be 32 bytes")
    return value


class Party(StrEnum):
    """A side of a channel: ``A`` opened it, ``B`` is the counterparty."""

    A = "A"
    B = "B"

    @property
    def other(self) -> Party:
        """The other side."""
        return Party.B if self is Party.A else Party.A


@dataclass(frozen=True, slots=True)
class ChannelState:
    """A balance state of one channel: what each side gets on close.

    Raises :class:`VersionError` for a version outside u64 and :class:`BalanceError`
    for a balance outside u128 (a negative balance is an overdraw).
    """

    channel_id: bytes
    """The channel, 32 bytes (H256)."""
    version: int
    """Monotonic version; 0 is the opening state (the deposits)."""
    balance_a: int
    """Party A's balance, planck."""
    balance_b: int
    """Party B's balance, planck."""

    def __post_init__(self) -> None:
        _h256(self.channel_id, "channel_id")
        if type(self.version) is not int or not 0 <= self.version <= U64_MAX:
            raise VersionError(f"version {self.version!r} is not a u64")
        for side, balance in (("a", self.balance_a), ("b", self.balance_b)):
            if type(balance) is not int:
                raise BalanceError(f"balance_{side} must be an integer number of planck")
            if balance < 0:
                raise BalanceError(f"balance_{side} is {balance}: the state overdraws side {side}")
            if balance > U128_MAX:
                raise BalanceError(f"balance_{side} {balance} does not fit in u128")

    @property
    def total(self) -> int:
        """``balance_a + balance_b``, planck."""
        return self.balance_a + self.balance_b

    def balance_of(self, party: Party) -> int:
        """The balance of *party*, planck."""
        return self.balance_a if party is Party.A else self.balance_b

    def to_call(self) -> dict[str, int]:
        """The pallet's ``ChannelState`` call argument (``version``, ``balance_a``,
        ``balance_b``)."""
        return {"version": self.version, "balance_a": self.balance_a, "balance_b": self.balance_b}

    def encode(self) -> bytes:
        """SCALE of the pallet's ``ChannelState`` (version u64, balance_a, balance_b u128)."""
        return encode_state(self)


def _u64(value: int) -> bytes:
    return encode_scale("u64", value)


def _u128(value: int) -> bytes:
    return encode_scale("u128", value)


# Fixed-size byte arrays ([u8; 16], H256, AccountId32) encode as their bytes; the
# integers go through scalecodec one by one (a composite type string costs 25x more).


def encode_state(state: ChannelState) -> bytes:
    """SCALE ``(version u64, balance_a u128, balance_b u128)`` of *state* (40 bytes)."""
    return _u64(state.version) + _u128(state.balance_a) + _u128(state.balance_b)


def _payload(domain: bytes, genesis_hash: bytes, state: ChannelState) -> bytes:
    return domain + _h256(genesis_hash, "genesis_hash") + state.channel_id + encode_state(state)


def _sign(domain: bytes, keypair: Keypair, genesis_hash: bytes, state: ChannelState) -> bytes:
    try:
        return signing.sign(keypair, _payload(domain, genesis_hash, state))
    except signing.SigningError as err:
        raise SignatureError(f"cannot sign a channel state: {err}") from None


def _verify(
    domain: bytes, public_key: bytes, genesis_hash: bytes, state: ChannelState, signature: bytes
) -> bool:
    # Raw sr25519, as the pallet checks: a <Bytes>-wrapped signature is refused.
    return signing.verify(public_key, _payload(domain, genesis_hash, state), signature)


def signing_payload(genesis_hash: bytes, state: ChannelState) -> bytes:
    """The exact bytes both parties sign to agree on the update *state* on the chain with
    *genesis_hash* (32 bytes, the hash of block 0): 120 bytes, see the module docs."""
    return _payload(STATE_DOMAIN, genesis_hash, state)


def sign_state(keypair: Keypair, genesis_hash: bytes, state: ChannelState) -> bytes:
    """*keypair*'s sr25519 update signature (64 bytes) of *state* (:func:`signing_payload`)."""
    return _sign(STATE_DOMAIN, keypair, genesis_hash, state)


def verify_state(
    public_key: bytes, genesis_hash: bytes, state: ChannelState, signature: bytes
) -> bool:
    """Whether *signature* is the sr25519 update signature of *state* by *public_key*
    (32 bytes)."""
    return _verify(STATE_DOMAIN, public_key, genesis_hash, state, signature)


def closing_payload(genesis_hash: bytes, state: ChannelState) -> bytes:
    """The exact bytes both parties sign to close the channel at once with *state*
    (``cooperative_close``): :func:`signing_payload` with :data:`CLOSE_DOMAIN`, 120 bytes."""
    return _payload(CLOSE_DOMAIN, genesis_hash, state)


def sign_close(keypair: Keypair, genesis_hash: bytes, state: ChannelState) -> bytes:
    """*keypair*'s sr25519 close signature (64 bytes) of *state* (:func:`closing_payload`).

    Whoever holds both close signatures can pay *state* out at once: sign only the
    latest state, and sign no update afterwards."""
    return _sign(CLOSE_DOMAIN, keypair, genesis_hash, state)


def verify_close(
    public_key: bytes, genesis_hash: bytes, state: ChannelState, signature: bytes
) -> bool:
    """Whether *signature* is the sr25519 close signature of *state* by *public_key*
    (an update signature of the same state is not)."""
    return _verify(CLOSE_DOMAIN, public_key, genesis_hash, state, signature)


@dataclass(frozen=True, slots=True)
class ChannelParams:
    """What the chain fixed when the channel was opened (never changes)."""

    channel_id: bytes
    """32 bytes."""
    genesis_hash: bytes
    """Hash of block 0 of the chain, 32 bytes; every signed state commits to it."""
    party_a: bytes
    """The opener's public key (= AccountId32), 32 bytes."""
    party_b: bytes
    """The counterparty's public key, 32 bytes."""
    deposit_a: int
    """A's deposit, planck."""
    deposit_b: int
    """B's deposit, planck."""

    def __post_init__(self) -> None:
        for name in ("channel_id", "genesis_hash", "party_a", "party_b"):
            _h256(getattr(self, name), name)
        if self.party_a == self.party_b:
            raise ValueError("a channel needs two different parties")
        if min(self.deposit_a, self.deposit_b) < 0 or self.total <= 0 or self.total > U128_MAX:
            raise BalanceError("deposits must be u128 planck with a positive sum")

    @property
    def total(self) -> int:
        """``deposit_a + deposit_b``: every state's balances add up to this, planck."""
        return self.deposit_a + self.deposit_b

    def opening_state(self) -> ChannelState:
        """The version 0 state: the deposits."""
        return ChannelState(self.channel_id, 0, self.deposit_a, self.deposit_b)

    def key_of(self, party: Party) -> bytes:
        """The public key of *party*."""
        return self.party_a if party is Party.A else self.party_b

    def party_of(self, public_key: bytes) -> Party:
        """Which side *public_key* is; :class:`ValueError` if neither."""
        if public_key == self.party_a:
            return Party.A
        if public_key == self.party_b:
            return Party.B
        raise ValueError("the key is not a party of this channel")

    def to_json(self) -> dict[str, Any]:
        """A JSON-friendly dict (hex bytes, decimal-string planck)."""
        return {
            "channel_id": hexed(self.channel_id),
            "genesis_hash": hexed(self.genesis_hash),
            "party_a": hexed(self.party_a),
            "party_b": hexed(self.party_b),
            "deposit_a": str(self.deposit_a),
            "deposit_b": str(self.deposit_b),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ChannelParams:
        """The inverse of :meth:`to_json`."""
        return cls(
            channel_id=bytes.fromhex(data["channel_id"].removeprefix("0x")),
            genesis_hash=bytes.fromhex(data["genesis_hash"].removeprefix("0x")),
            party_a=bytes.fromhex(data["party_a"].removeprefix("0x")),
            party_b=bytes.fromhex(data["party_b"].removeprefix("0x")),
            deposit_a=int(data["deposit_a"]),
            deposit_b=int(data["deposit_b"]),
        )


@dataclass(frozen=True, slots=True)
class SignedState:
    """A state with the signatures collected so far (64 bytes each, or None)."""

    state: ChannelState
    signature_a: bytes | None = None
    signature_b: bytes | None = None

    @property
    def co_signed(self) -> bool:
        """Whether both parties signed it."""
        return self.signature_a is not None and self.signature_b is not None

    @property
    def version(self) -> int:
        """The state's version."""
        return self.state.version

    def signature_of(self, party: Party) -> bytes | None:
        """*party*'s signature, if present."""
        return self.signature_a if party is Party.A else self.signature_b

    def with_signature(self, party: Party, signature: bytes) -> SignedState:
        """A copy with *party*'s signature set."""
        if party is Party.A:
            return SignedState(self.state, signature, self.signature_b)
        return SignedState(self.state, self.signature_a, signature)

    def verify(self, info: ChannelParams) -> None:
        """Check that the state belongs to *info*'s channel, adds up and carries valid
        signatures from both parties (the opening state may be unsigned).

        Raises :class:`BalanceError`, :class:`SignatureError` or :class:`ValueError`
        (another channel)."""
        if self.state.channel_id != info.channel_id:
            raise ValueError("the state belongs to another channel")
        if self.state.total != info.total:
            raise BalanceError(
                f"balances add up to {self.state.total} planck, the channel holds {info.total}"
            )
        if self.state == info.opening_state() and not (self.signature_a or self.signature_b):
            return
        for party in Party:
            signature = self.signature_of(party)
            if signature is None or not verify_state(
                info.key_of(party), info.genesis_hash, self.state, signature
            ):
                raise SignatureError(f"party {party} signature of version {self.version} is bad")

    def to_json(self) -> dict[str, Any]:
        """A JSON-friendly dict: ``channel_id``, ``version``, ``balance_a``, ``balance_b``
        (decimal strings), ``signature_a``, ``signature_b`` (0x hex or null)."""
        return {
            "channel_id": hexed(self.state.channel_id),
            "version": self.state.version,
            "balance_a": str(self.state.balance_a),
            "balance_b": str(self.state.balance_b),
            "signature_a": hexed(self.signature_a) if self.signature_a else None,
            "signature_b": hexed(self.signature_b) if self.signature_b else None,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SignedState:
        """The inverse of :meth:`to_json`."""

        def sig(value: str | None) -> bytes | None:
            return bytes.fromhex(value.removeprefix("0x")) if value else None

        state = ChannelState(
            channel_id=bytes.fromhex(data["channel_id"].removeprefix("0x")),
            version=int(data["version"]),
            balance_a=int(data["balance_a"]),
            balance_b=int(data["balance_b"]),
        )
        return cls(state, sig(data.get("signature_a")), sig(data.get("signature_b")))

    def dumps(self) -> str:
        """:meth:`to_json` as a JSON string."""
        return json.dumps(self.to_json(), sort_keys=True)


@dataclass(frozen=True, slots=True)
class ClosingAgreement:
    """A state the parties agreed to close the channel with, and the close signatures
    (:func:`sign_close`, 64 bytes each, or None) collected so far.

    A party that signs one is frozen: it countersigns no update afterwards (it only
    signs cancels of refused proposals, with the same balances; see
    :mod:`ccnet.channels.channel`). With both signatures (:attr:`complete`) either party
    can submit ``cooperative_close``.
    Kept apart from :class:`SignedState` so that update and close signatures are never
    mixed up."""

    state: ChannelState
    signature_a: bytes | None = None
    signature_b: bytes | None = None

    @property
    def complete(self) -> bool:
        """Whether both parties signed the close."""
        return self.signature_a is not None and self.signature_b is not None

    @property
    def version(self) -> int:
        """The state's version."""
        return self.state.version

    def signature_of(self, party: Party) -> bytes | None:
        """*party*'s close signature, if present."""
        return self.signature_a if party is Party.A else self.signature_b

    def with_signature(self, party: Party, signature: bytes) -> ClosingAgreement:
        """A copy with *party*'s close signature set."""
        if party is Party.A:
            return ClosingAgreement(self.state, signature, self.signature_b)
        return ClosingAgreement(self.state, self.signature_a, signature)

    def verify(self, info: ChannelParams) -> None:
        """Check that the state belongs to *info*'s channel, adds up, and that every
        close signature present verifies. Raises :class:`ValueError` (another
        channel), :class:`BalanceError` or :class:`SignatureError`."""
        if self.state.channel_id != info.channel_id:
            raise ValueError("the state belongs to another channel")
        if self.state.total != info.total:
            raise BalanceError(
                f"balances add up to {self.state.total} planck, the channel holds {info.total}"
            )
        for party in Party:
            signature = self.signature_of(party)
            if signature is not None and not verify_close(
                info.key_of(party), info.genesis_hash, self.state, signature
            ):
                raise SignatureError(f"party {party} close signature of {self.version} is bad")
