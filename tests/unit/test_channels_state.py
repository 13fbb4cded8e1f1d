"""ccnet.channels.state: encoding, update and close signatures against the shared
vectors, ranges, channel ids, and the JSON forms."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from substrateinterface import Keypair, KeypairType

from ccnet.channels import (
    BalanceError,
    ChannelParams,
    ChannelState,
    ClosingAgreement,
    SignatureError,
    SignedState,
    VersionError,
    closing_payload,
    sign_close,
    sign_state,
    signing_payload,
    verify_close,
    verify_state,
)
from ccnet.channels.state import CLOSE_DOMAIN, STATE_DOMAIN, U64_MAX, U128_MAX, Party
from ccnet.client import Keys, channel_id_of
from ccnet.client.signing import CHANNEL_ID_DOMAIN

VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "channel_state.json"
FILE: dict[str, Any] = json.loads(VECTORS.read_text())
CASES: list[dict[str, Any]] = FILE["cases"]


def unhex(value: str) -> bytes:
    return bytes.fromhex(value.removeprefix("0x"))


def case_state(case: dict[str, Any]) -> ChannelState:
    return ChannelState(
        unhex(case["channel_id"]),
        int(case["version"]),
        int(case["balance_a"]),
        int(case["balance_b"]),
    )


def signer(side: str) -> Keypair:
    return Keypair.create_from_seed(
        FILE[f"signer_{side}"]["seed"], ss58_format=42, crypto_type=KeypairType.SR25519
    )


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_encoding_matches_the_vectors(case: dict[str, Any]) -> None:
    state = case_state(case)
    assert state.encode() == unhex(case["state_scale"])
    assert signing_payload(unhex(case["genesis_hash"]), state) == unhex(case["payload_scale"])


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_vector_signatures_verify(case: dict[str, Any]) -> None:
    state, genesis = case_state(case), unhex(case["genesis_hash"])
    key_a, key_b = unhex(FILE["signer_a"]["public"]), unhex(FILE["signer_b"]["public"])
    assert verify_state(key_a, genesis, state, unhex(case["signature_a"]))
    assert verify_state(key_b, genesis, state, unhex(case["signature_b"]))
    assert not verify_state(key_b, genesis, state, unhex(case["signature_a"]))
    other_chain = bytes(32) if genesis != bytes(32) else b"\1" * 32
    assert not verify_state(key_a, other_chain, state, unhex(case["signature_a"]))


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_our_signatures_verify_and_bind_every_field(case: dict[str, Any]) -> None:
    state, genesis = case_state(case), unhex(case["genesis_hash"])
    pair = signer("a")
    signature = sign_state(pair, genesis, state)
    assert len(signature) == 64
    public = bytes(pair.public_key)
    assert verify_state(public, genesis, state, signature)
    tweaked = [
        ChannelState(bytes(31) + b"\7", state.version, state.balance_a, state.balance_b),
        ChannelState(state.channel_id, state.version ^ 1, state.balance_a, state.balance_b),
        ChannelState(state.channel_id, state.version, state.balance_a ^ 1, state.balance_b),
        ChannelState(state.channel_id, state.version, state.balance_a, state.balance_b ^ 1),
    ]
    for other in tweaked:
        assert not verify_state(public, genesis, other, signature)


def test_domain_tag() -> None:
    assert unhex(FILE["domain"]) == STATE_DOMAIN
    assert unhex(FILE["close_domain"]) == CLOSE_DOMAIN == b"ccnet:chclose:v1"
    assert len(signing_payload(bytes(32), ChannelState(bytes(32), 0, 0, 0))) == 120
    assert len(closing_payload(bytes(32), ChannelState(bytes(32), 0, 0, 0))) == 120


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_close_vectors(case: dict[str, Any]) -> None:
    """cooperative_close takes only close signatures; an update signature is not one."""
    state, genesis = case_state(case), unhex(case["genesis_hash"])
    assert closing_payload(genesis, state) == unhex(case["close_payload_scale"])
    keys = {side: unhex(FILE[f"signer_{side}"]["public"]) for side in ("a", "b")}
    for side, key in keys.items():
        close_signature = unhex(case[f"close_signature_{side}"])
        update_signature = unhex(case[f"signature_{side}"])
        assert verify_close(key, genesis, state, close_signature)
        assert not verify_close(key, genesis, state, update_signature)
        assert not verify_state(key, genesis, state, close_signature)
    assert not verify_close(keys["b"], genesis, state, unhex(case["close_signature_a"]))
    # Our own close signatures verify where the vectors' do, and bind the domain.
    ours = sign_close(signer("a"), genesis, state)
    assert verify_close(keys["a"], genesis, state, ours)
    assert not verify_state(keys["a"], genesis, state, ours)
    agreement = ClosingAgreement(
        state, unhex(case["close_signature_a"]), unhex(case["close_signature_b"])
    )
    assert agreement.complete and agreement.version == state.version


def test_ranges_are_checked() -> None:
    cid = bytes(32)
    with pytest.raises(VersionError):
        ChannelState(cid, -1, 0, 0)
    with pytest.raises(VersionError):
        ChannelState(cid, U64_MAX + 1, 0, 0)
    with pytest.raises(BalanceError, match="overdraws"):
        ChannelState(cid, 1, -1, 2)
    with pytest.raises(BalanceError, match="u128"):
        ChannelState(cid, 1, U128_MAX + 1, 0)
    with pytest.raises(ValueError):
        ChannelState(b"short", 1, 0, 0)
    ChannelState(cid, U64_MAX, U128_MAX, 0)


def test_malformed_signatures_do_not_verify() -> None:
    state = ChannelState(bytes(32), 1, 1, 1)
    public = bytes(Keys.from_uri("//Alice").public_key)
    assert not verify_state(public, bytes(32), state, b"\0" * 63)
    assert not verify_state(public, bytes(32), state, b"\xff" * 64)
    assert not verify_state(b"\0" * 31, bytes(32), state, b"\0" * 64)


@pytest.mark.parametrize("case", FILE["channel_ids"], ids=lambda c: f"nonce {c['nonce']}")
def test_channel_ids_match_the_vectors(case: dict[str, Any]) -> None:
    """The ids pallet-channels derives (``channel_ids`` in the shared vectors)."""
    assert unhex(FILE["channel_id_domain"]) == CHANNEL_ID_DOMAIN
    made = channel_id_of(
        unhex(case["party_a"]), unhex(case["party_b"]), int(case["nonce"]), case["parent_hash"]
    )
    assert made == unhex(case["channel_id"])


def test_channel_id_binds_the_parties_the_nonce_and_the_parent_block() -> None:
    """The id hashes SCALE(domain, A, B, nonce u64, parent hash): keys or addresses give
    the same id, and a different parent block (another chain instance) another id."""
    alice, bob = Keys.from_uri("//Alice"), Keys.from_uri("//Bob")
    parent = bytes(range(32))
    ours = channel_id_of(bytes(alice.public_key), bytes(bob.public_key), 7, parent)
    layout = (
        CHANNEL_ID_DOMAIN
        + bytes(alice.public_key)
        + bytes(bob.public_key)
        + (7).to_bytes(8, "little")
        + parent
    )
    assert ours == hashlib.blake2b(layout, digest_size=32).digest()
    assert ours == channel_id_of(alice.ss58_address, bob.ss58_address, 7, "0x" + parent.hex())
    assert ours != channel_id_of(bytes(bob.public_key), bytes(alice.public_key), 7, parent)
    assert ours != channel_id_of(bytes(alice.public_key), bytes(bob.public_key), 8, parent)
    assert ours != channel_id_of(bytes(alice.public_key), bytes(bob.public_key), 7, bytes(32))


def test_signed_state_verify_and_json() -> None:
    alice, bob = Keys.from_uri("//Alice"), Keys.from_uri("//Bob")
    params = ChannelParams(
        bytes(32), b"\1" * 32, bytes(alice.public_key), bytes(bob.public_key), 7, 3
    )
    # The opening state needs no signatures.
    SignedState(params.opening_state()).verify(params)
    state = ChannelState(params.channel_id, 4, 6, 4)
    signed = SignedState(
        state,
        sign_state(alice, params.genesis_hash, state),
        sign_state(bob, params.genesis_hash, state),
    )
    signed.verify(params)
    assert SignedState.from_json(json.loads(signed.dumps())) == signed
    assert ChannelParams.from_json(params.to_json()) == params
    swapped = SignedState(state, signed.signature_b, signed.signature_a)
    with pytest.raises(SignatureError):
        swapped.verify(params)
    with pytest.raises(SignatureError):
        SignedState(state, signed.signature_a).verify(params)
    with pytest.raises(BalanceError):
        SignedState(ChannelState(params.channel_id, 4, 6, 5)).verify(params)
    assert params.party_of(bytes(bob.public_key)) is Party.B


def test_closing_agreement_verify() -> None:
    alice, bob = Keys.from_uri("//Alice"), Keys.from_uri("//Bob")
    params = ChannelParams(
        bytes(32), b"\1" * 32, bytes(alice.public_key), bytes(bob.public_key), 7, 3
    )
    state = ChannelState(params.channel_id, 0, 7, 3)  # the deposits may be closed on too
    half = ClosingAgreement(state).with_signature(Party.A, sign_close(alice, b"\1" * 32, state))
    half.verify(params)
    assert not half.complete and half.signature_of(Party.B) is None
    full = half.with_signature(Party.B, sign_close(bob, b"\1" * 32, state))
    full.verify(params)
    assert full.complete
    with pytest.raises(SignatureError):  # an update signature in place of a close one
        half.with_signature(Party.B, sign_state(bob, b"\1" * 32, state)).verify(params)
    with pytest.raises(BalanceError):
        ClosingAgreement(ChannelState(params.channel_id, 1, 7, 4)).verify(params)
