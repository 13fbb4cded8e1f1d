"""Majority vote over redundant results, and spot checks with known answers."""

from __future__ import annotations

import random

import pytest
from substrateinterface import Keypair, KeypairType

from ccnet.client.jobs.catalogue import KNOWN_PRIME_COUNTS
from ccnet.client.jobs.results import SignedResult, input_hash, output_hash
from ccnet.client.requester.exceptions import VerificationError
from ccnet.client.requester.spotchecks import (
    SpotCheckTable,
    prime_count_spot_checks,
    should_spot_check,
)
from ccnet.client.requester.verdicts import majority

MODULE = b"\x11" * 32
INPUT = input_hash(["1000"], b"")
KEYS = {
    name: Keypair.create_from_uri(f"//{name}", ss58_format=42, crypto_type=KeypairType.SR25519)
    for name in ("Alice", "Bob", "Charlie", "Dave", "Eve")
}


def _result(name: str, output: bytes, fuel: int = 1_000, task_id: int = 1) -> SignedResult:
    return SignedResult.create(
        KEYS[name],
        task_id=task_id,
        module_hash=MODULE,
        input_hash=INPUT,
        output_hash=output_hash(output),
        fuel_used=fuel,
    )


def test_two_honest_outvote_one_liar() -> None:
    verdict = majority(
        [_result("Alice", b"168\n"), _result("Bob", b"168\n"), _result("Eve", b"169\n")]
    )
    assert verdict.output_hash == output_hash(b"168\n")
    assert verdict.agreeing == tuple(sorted((KEYS["Alice"].ss58_address, KEYS["Bob"].ss58_address)))
    assert verdict.dissenting == (KEYS["Eve"].ss58_address,)
    assert verdict.fuel_used == 1_000 and not verdict.fuel_disagreement


def test_fuel_is_the_smallest_majority_claim() -> None:
    verdict = majority([_result("Alice", b"x", 1_000), _result("Bob", b"x", 1_500)])
    assert verdict.fuel_used == 1_000 and verdict.fuel_disagreement


def test_single_result_is_its_own_majority() -> None:
    assert majority([_result("Alice", b"x")]).output_hash == output_hash(b"x")


@pytest.mark.parametrize(
    "results",
    [
        [],
        [("Alice", b"a"), ("Bob", b"b")],  # tie
        [("Alice", b"a"), ("Bob", b"b"), ("Charlie", b"c")],  # no majority
        [("Alice", b"a"), ("Bob", b"a"), ("Charlie", b"b"), ("Dave", b"b")],
    ],
)
def test_undecidable(results: list[tuple[str, bytes]]) -> None:
    with pytest.raises(VerificationError):
        majority([_result(name, out) for name, out in results])


def test_mixed_jobs_and_duplicate_workers_are_refused() -> None:
    with pytest.raises(VerificationError, match="different jobs"):
        majority([_result("Alice", b"a"), _result("Bob", b"a", task_id=2)])
    with pytest.raises(VerificationError, match="more than one"):
        majority([_result("Alice", b"a"), _result("Alice", b"a")])


def test_quorum() -> None:
    three = [_result("Alice", b"a"), _result("Bob", b"a"), _result("Eve", b"b")]
    assert majority(three, quorum=2).output_hash == output_hash(b"a")
    with pytest.raises(VerificationError):
        majority(three, quorum=3)


def test_spot_check_table() -> None:
    table = SpotCheckTable()
    table.add_output(MODULE, INPUT, b"168\n")
    assert len(table) == 1
    assert table.check(_result("Alice", b"168\n")) is True
    assert table.check(_result("Eve", b"169\n")) is False
    unknown = SignedResult.create(
        KEYS["Bob"],
        task_id=1,
        module_hash=b"\x22" * 32,
        input_hash=INPUT,
        output_hash=output_hash(b"x"),
        fuel_used=1,
    )
    assert table.check(unknown) is None
    with pytest.raises(ValueError):
        table.add_output(MODULE, INPUT, b"169\n")
    assert table.inputs_for(MODULE) == [INPUT]


def test_prime_count_known_answers() -> None:
    table = prime_count_spot_checks(MODULE)
    assert len(table) == len(KNOWN_PRIME_COUNTS)
    assert table.expected(MODULE, input_hash(["1000"], b"")) == output_hash(b"168\n")


def test_spot_check_rate() -> None:
    rng = random.Random(3)
    picks = sum(should_spot_check(200, rng) for _ in range(10_000))
    assert 1_700 < picks < 2_300
    assert not any(should_spot_check(0) for _ in range(100))
    assert all(should_spot_check(1000) for _ in range(100))
    with pytest.raises(ValueError):
        should_spot_check(1001)
