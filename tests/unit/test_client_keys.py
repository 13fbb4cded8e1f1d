"""ccnet.client.keys: sr25519 keys from dev URIs, mnemonics and seeds."""

from __future__ import annotations

import pytest

from ccnet.client import InvalidKeyError, Keys
from ccnet.client.keys import describe, is_dev_uri
from ccnet.client.signing import address_of

ALICE = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY"
ALICE_PUBLIC = "0xd43593c715fdd31c61141abd04a99fd6822c8558854ccde39a5684e7a56da27d"


def test_dev_uri_gives_the_well_known_alice() -> None:
    alice = Keys.from_uri("//Alice")
    assert alice.ss58_address == ALICE
    assert describe(alice) == {
        "address": ALICE,
        "public_key": ALICE_PUBLIC,
        "crypto_type": "sr25519",
    }
    assert address_of(alice.public_key) == ALICE


def test_generated_key_round_trips_through_its_mnemonic() -> None:
    keypair, mnemonic = Keys.generate()
    assert len(mnemonic.split()) == 12
    assert Keys.from_mnemonic(mnemonic).ss58_address == keypair.ss58_address
    assert Keys.from_secret(mnemonic).ss58_address == keypair.ss58_address


def test_seed_as_hex_or_bytes() -> None:
    seed = bytes(range(32))
    from_bytes = Keys.from_seed(seed)
    assert Keys.from_seed(seed.hex()).ss58_address == from_bytes.ss58_address
    assert Keys.from_secret("0x" + seed.hex()).ss58_address == from_bytes.ss58_address
    assert from_bytes.crypto_type == 1  # sr25519


@pytest.mark.parametrize(
    ("make", "secret"),
    [
        (Keys.from_mnemonic, "not a real mnemonic phrase at all"),
        (Keys.from_seed, "0x1234"),
        (Keys.from_seed, b"short"),
    ],
)
def test_invalid_secrets_raise_without_echoing_them(make: object, secret: str) -> None:
    with pytest.raises(InvalidKeyError) as info:
        make(secret)  # type: ignore[operator]
    assert str(secret) not in str(info.value)


def test_is_dev_uri() -> None:
    assert is_dev_uri("//Alice") and is_dev_uri("//Bob//stash")
    assert not is_dev_uri("alice") and not is_dev_uri(ALICE)
