"""ccnet.client.signing: raw sr25519 everywhere, so that no off-chain verifier accepts a
signature the chain refuses (a ``<Bytes>``-wrapped one, as polkadot-js signRaw makes)."""

from __future__ import annotations

import pytest
from substrateinterface import Keypair, KeypairType

from ccnet.channels import ChannelState, sign_state, signing_payload, verify_state
from ccnet.client import Keys, signing

ALICE = Keys.from_uri("//Alice")
BOB = Keys.from_uri("//Bob")
GENESIS = b"\x45" * 32


def wrapped_signature(keypair: Keypair, message: bytes) -> bytes:
    return bytes(keypair.sign(b"<Bytes>" + message + b"</Bytes>"))


def test_raw_signatures_verify_and_wrapped_ones_do_not() -> None:
    message = b"ccnet:jresult:v1" + b"\x01" * 40
    assert signing.verify(ALICE.public_key, message, signing.sign(ALICE, message))
    wrapped = wrapped_signature(ALICE, message)
    assert not signing.verify(ALICE.public_key, message, wrapped)
    # The library helper this module replaces accepts it: the hole being closed.
    assert ALICE.verify(message, wrapped)


@pytest.mark.parametrize(
    ("public_key", "signature"),
    [
        (b"\x00" * 31, b"\x00" * 64),
        (b"\xff" * 32, b"\x00" * 64),  # not a Ristretto point
        (ALICE.public_key, b"\xff" * 64),  # scalar with the high bit set
        (ALICE.public_key, b"\x00" * 63),
        (ALICE.public_key, "0x00"),
    ],
)
def test_malformed_keys_and_signatures_are_false_not_errors(
    public_key: bytes, signature: bytes
) -> None:
    assert signing.verify(public_key, b"m", signature) is False


def test_signing_needs_an_sr25519_secret() -> None:
    ed = Keypair.create_from_seed("0x" + "11" * 32, ss58_format=42, crypto_type=KeypairType.ED25519)
    with pytest.raises(signing.SigningError):
        signing.sign(ed, b"m")
    public_only = Keypair(
        public_key=ALICE.public_key, ss58_format=42, crypto_type=KeypairType.SR25519
    )
    with pytest.raises(signing.SigningError):
        signing.sign(public_only, b"m")


def test_domains_are_distinct_and_none_is_a_prefix_of_another() -> None:
    tags = list(signing.DOMAINS.values())
    assert len(set(tags)) == len(tags)
    for a in tags:
        for b in tags:
            assert a == b or not b.startswith(a)


def test_channel_states_refuse_wrapped_signatures() -> None:
    state = ChannelState(b"\xc0" * 32, 3, 70, 30)
    assert verify_state(ALICE.public_key, GENESIS, state, sign_state(ALICE, GENESIS, state))

    wrapped = wrapped_signature(ALICE, signing_payload(GENESIS, state))
    assert not verify_state(ALICE.public_key, GENESIS, state, wrapped)


def test_worker_messages_refuse_wrapped_signatures() -> None:
    # Results and heartbeats (SCALE payloads) verify through signing.verify.
    payload = signing.RESULT_DOMAIN + b"\x07" * 32
    assert signing.verify(BOB.public_key, payload, signing.sign(BOB, payload))
    assert not signing.verify(BOB.public_key, payload, wrapped_signature(BOB, payload))
    # Signaling offers and DHT records (canonical JSON) verify through verify_fields.
    fields = {"kind": "offer", "nonce": "1"}
    good = signing.sign_fields(BOB, signing.SIGNAL_DOMAIN, fields)
    assert signing.verify_fields(BOB.ss58_address, signing.SIGNAL_DOMAIN, fields, good)
    signed = signing.signed_bytes(signing.SIGNAL_DOMAIN, fields)
    bad = "0x" + wrapped_signature(BOB, signed).hex()
    assert not signing.verify_fields(BOB.ss58_address, signing.SIGNAL_DOMAIN, fields, bad)
