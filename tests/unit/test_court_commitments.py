"""The court's commitments (:mod:`ccnet.client.commitments`) against the vectors the
runtime checks too (tests/vectors/court.json), and their input checks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ccnet.client import commitments as c
from ccnet.client.codec import encode_scale
from ccnet.client.exceptions import CallEncodingError
from ccnet.client.signing import address_of

VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "court.json"
FILE: dict[str, Any] = json.loads(VECTORS.read_text())
CASES: list[dict[str, Any]] = FILE["cases"]


def _unhex(value: str) -> bytes:
    return bytes.fromhex(value.removeprefix("0x"))


def test_domains_match_the_vectors() -> None:
    assert _unhex(FILE["result_domain"]) == c.RESULT_DOMAIN
    assert _unhex(FILE["vote_domain"]) == c.VOTE_DOMAIN
    assert _unhex(FILE["expected_domain"]) == c.EXPECTED_DOMAIN
    assert _unhex(FILE["auditor_domain"]) == c.AUDITOR_DOMAIN
    assert len(CASES) >= 3


@pytest.mark.parametrize("case", CASES, ids=lambda case: f"task{case['task_id']}")
def test_every_vector(case: dict[str, Any]) -> None:
    account = _unhex(case["account"])
    task_id, dispute_id, fuel = (
        int(case["task_id"]),
        int(case["dispute_id"]),
        int(case["fuel_used"]),
    )
    result_hash, salt = _unhex(case["hash"]), _unhex(case["salt"])
    assert c.result_commitment(task_id, account, result_hash, fuel, salt) == _unhex(
        case["result_commitment"]
    )
    assert c.vote_commitment(dispute_id, account, result_hash, salt) == _unhex(
        case["vote_commitment"]
    )
    assert c.expected_commitment(task_id, account, result_hash, salt) == _unhex(
        case["expected_commitment"]
    )
    assert c.auditor_key(account, salt) == _unhex(case["auditor_key"])
    # The same account as an SS58 address, and hex instead of bytes, give the same.
    address = address_of(account)
    assert c.result_commitment(task_id, address, case["hash"], fuel, case["salt"]) == _unhex(
        case["result_commitment"]
    )


def test_the_plain_encoding_is_scale() -> None:
    """The concatenation the module hashes is the SCALE encoding of the tuple."""
    case = CASES[1]
    scale = encode_scale(
        "([u8; 16], u64, AccountId, H256, u64, [u8; 32])",
        (
            "0x" + c.RESULT_DOMAIN.hex(),
            int(case["task_id"]),
            case["account"],
            case["hash"],
            int(case["fuel_used"]),
            case["salt"],
        ),
    )
    import hashlib

    assert hashlib.blake2b(scale, digest_size=32).digest() == _unhex(case["result_commitment"])


def test_salts_are_fresh_and_32_bytes() -> None:
    salts = {c.new_salt() for _ in range(64)}
    assert len(salts) == 64 and all(len(s) == c.SALT_SIZE for s in salts)


@pytest.mark.parametrize(
    "call",
    [
        lambda: c.result_commitment(-1, bytes(32), bytes(32), 0, bytes(32)),
        lambda: c.result_commitment(2**64, bytes(32), bytes(32), 0, bytes(32)),
        lambda: c.result_commitment(0, bytes(31), bytes(32), 0, bytes(32)),
        lambda: c.result_commitment(0, "not-an-address", bytes(32), 0, bytes(32)),
        lambda: c.vote_commitment(0, bytes(32), bytes(33), bytes(32)),
        lambda: c.expected_commitment(0, bytes(32), bytes(32), "0xzz"),
        lambda: c.auditor_key(bytes(32), bytes(16)),
    ],
)
def test_bad_input_is_a_typed_error(call: Any) -> None:
    with pytest.raises(CallEncodingError):
        call()
