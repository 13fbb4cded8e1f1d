"""Signed job results: payload layout, signatures, wire form."""

from __future__ import annotations

import dataclasses
import hashlib
from typing import Any

import pytest
from substrateinterface import Keypair

from ccnet.client.exceptions import BadSignatureError, MalformedMessageError
from ccnet.client.jobs.exceptions import ResultError
from ccnet.client.jobs.results import RESULT_DOMAIN, SignedResult, input_hash, output_hash

MODULE = hashlib.blake2b(b"module", digest_size=32).digest()
INPUT = input_hash(["128", "128"], b"png bytes")
OUTPUT = output_hash(b"the output")


def _result(key: Keypair, **changes: Any) -> SignedResult:
    fields: dict[str, Any] = {
        "task_id": 42,
        "module_hash": MODULE,
        "input_hash": INPUT,
        "output_hash": OUTPUT,
        "fuel_used": 195_144_110,
    }
    fields.update(changes)
    return SignedResult.create(key, **fields)


def test_domain_tag_is_16_bytes() -> None:
    assert len(RESULT_DOMAIN) == 16


def test_payload_layout(worker_key: Keypair) -> None:
    result = _result(worker_key)
    payload = result.signing_payload()
    assert len(payload) == 16 + 8 + 32 * 3 + 8 + 32
    assert payload[:16] == RESULT_DOMAIN
    assert payload[16:24] == (42).to_bytes(8, "little")
    assert payload[24:56] == MODULE
    assert payload[56:88] == INPUT
    assert payload[88:120] == OUTPUT
    assert payload[120:128] == (195_144_110).to_bytes(8, "little")
    assert payload[128:] == bytes(worker_key.public_key)


def test_sign_and_verify(worker_key: Keypair) -> None:
    result = _result(worker_key)
    assert result.worker == worker_key.ss58_address
    assert result.verify() is result
    result.check_output(b"the output")
    with pytest.raises(ResultError):
        result.check_output(b"another output")


@pytest.mark.parametrize(
    "change",
    [
        {"task_id": 43},
        {"fuel_used": 1},
        {"output_hash": output_hash(b"forged")},
        {"input_hash": input_hash(["64", "64"], b"png bytes")},
        {"module_hash": b"\1" * 32},
    ],
)
def test_any_change_breaks_the_signature(worker_key: Keypair, change: dict[str, Any]) -> None:
    tampered = dataclasses.replace(_result(worker_key), **change)
    assert not tampered.is_valid()
    with pytest.raises(BadSignatureError):
        tampered.verify()


def test_another_worker_cannot_claim_it(worker_key: Keypair, other_key: Keypair) -> None:
    stolen = dataclasses.replace(_result(worker_key), worker=other_key.ss58_address)
    assert not stolen.is_valid()


def test_json_round_trip(worker_key: Keypair) -> None:
    result = _result(worker_key)
    wire = result.to_json()
    assert wire["output_hash"] == "0x" + OUTPUT.hex()
    assert SignedResult.from_json(wire) == result
    assert result.submit_args() == {
        "task_id": 42,
        "result_hash": "0x" + OUTPUT.hex(),
        "fuel_used": 195_144_110,
    }


@pytest.mark.parametrize(
    "mutate",
    [
        lambda w: w.pop("fuel_used"),
        lambda w: w.update(extra=1),
        lambda w: w.update(fuel_used="-1"),
        lambda w: w.update(fuel_used=str(2**64)),
        lambda w: w.update(fuel_used="01"),
        lambda w: w.update(fuel_used=" 1"),
        lambda w: w.update(task_id=42),  # the version 1 form: a JSON number
        lambda w: w.update(signature="0x" + "AB" * 64),  # hex is lowercase
        lambda w: w.update(output_hash="0x1234"),
        lambda w: w.update(signature="zz"),
        lambda w: w.update(worker="not-an-address"),
        lambda w: w.update(worker=7),
    ],
)
def test_malformed_wire_forms(worker_key: Keypair, mutate: Any) -> None:
    wire = _result(worker_key).to_json()
    mutate(wire)
    with pytest.raises(MalformedMessageError):
        SignedResult.from_json(wire)


def test_input_hash_separates_args_from_stdin() -> None:
    assert input_hash(["ab"], b"c") != input_hash(["a"], b"bc")
    assert input_hash(["a", "b"], b"") != input_hash(["ab"], b"")
    assert input_hash([], b"") == input_hash([], b"")
    assert len(input_hash(["x"], b"y")) == 32
