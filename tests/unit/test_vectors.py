"""The shared channel-state vectors (tests/vectors/channel_state.json), checked
from Python with scalecodec and sr25519 - the same file `cargo test` checks in
pallet-channels."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from scalecodec.base import RuntimeConfiguration, ScaleBytes
from scalecodec.type_registry import load_type_registry_preset
from substrateinterface import Keypair, KeypairType

from ccnet.client import signing

VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "channel_state.json"


def _load() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(VECTORS.read_text())
    return data


def _encode(type_string: str, value: Any) -> bytes:
    config = RuntimeConfiguration()
    config.update_type_registry(load_type_registry_preset("legacy"))
    obj = config.create_scale_object(type_string)
    data: ScaleBytes = obj.encode(value)
    return bytes(data.data)


def _unhex(value: str) -> bytes:
    return bytes.fromhex(value.removeprefix("0x"))


def _payload(file: dict[str, Any], case: dict[str, Any], domain: str = "domain") -> bytes:
    return (
        _unhex(file[domain])
        + _unhex(case["genesis_hash"])
        + _unhex(case["channel_id"])
        + _encode("u64", int(case["version"]))
        + _encode("u128", int(case["balance_a"]))
        + _encode("u128", int(case["balance_b"]))
    )


CASES = _load()["cases"]


def test_domain_tags() -> None:
    assert _unhex(_load()["domain"]) == b"ccnet:channel:v1"
    assert _unhex(_load()["close_domain"]) == b"ccnet:chclose:v1"


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_state_and_payload_encoding(case: dict[str, Any]) -> None:
    file = _load()
    state = (
        _encode("u64", int(case["version"]))
        + _encode("u128", int(case["balance_a"]))
        + _encode("u128", int(case["balance_b"]))
    )
    assert state == _unhex(case["state_scale"])
    assert _payload(file, case) == _unhex(case["payload_scale"])


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_signatures_verify_with_keys_from_seeds(case: dict[str, Any]) -> None:
    file = _load()
    payload = _payload(file, case)
    for side in ("a", "b"):
        signer = file[f"signer_{side}"]
        pair = Keypair.create_from_seed(signer["seed"], crypto_type=KeypairType.SR25519)
        assert "0x" + pair.public_key.hex() == signer["public"]
        assert signing.verify(pair.public_key, payload, _unhex(case[f"signature_{side}"]))
    # A signature does not verify for the other key, nor for another payload.
    other = Keypair.create_from_seed(file["signer_b"]["seed"], crypto_type=KeypairType.SR25519)
    assert not signing.verify(other.public_key, payload, _unhex(case["signature_a"]))
    assert not signing.verify(other.public_key, payload + b"\0", _unhex(case["signature_b"]))


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_bytes_wrapped_signature_fails_as_on_chain(case: dict[str, Any]) -> None:
    """A's signature over <Bytes> + payload + </Bytes> is not a signature of the payload:
    the pallet refuses it (cargo test checks the same vector), and so does signing.verify,
    although substrateinterface's Keypair.verify accepts it."""
    file = _load()
    payload = _payload(file, case)
    wrapped = _unhex(case["wrapped_signature_a"])
    public_a = _unhex(file["signer_a"]["public"])
    assert signing.verify(public_a, b"<Bytes>" + payload + b"</Bytes>", wrapped)
    assert not signing.verify(public_a, payload, wrapped)
    lenient = Keypair(public_key=public_a, ss58_format=42, crypto_type=KeypairType.SR25519)
    assert lenient.verify(payload, wrapped)  # why ccnet never uses Keypair.verify


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_close_payloads_and_signatures(case: dict[str, Any]) -> None:
    """cooperative_close only accepts signatures under the close domain."""
    file = _load()
    closing = _payload(file, case, "close_domain")
    assert closing == _unhex(case["close_payload_scale"])
    for side in ("a", "b"):
        pair = Keypair.create_from_seed(
            file[f"signer_{side}"]["seed"], crypto_type=KeypairType.SR25519
        )
        assert signing.verify(pair.public_key, closing, _unhex(case[f"close_signature_{side}"]))
        # An update signature is not an agreement to close.
        assert not signing.verify(pair.public_key, closing, _unhex(case[f"signature_{side}"]))
