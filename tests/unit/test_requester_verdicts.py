"""The requester's decisions without I/O: verification plans, verdicts over replies,
payments, on-chain hash majorities, the statement of job proofs."""

from __future__ import annotations

import pytest
from substrateinterface import Keypair, KeypairType

from ccnet.client.jobs.exceptions import UnknownCircuitError
from ccnet.client.jobs.proofs import ProofContext, check_circuit, expected_signals
from ccnet.client.jobs.results import SignedResult, input_hash, output_hash
from ccnet.client.requester.exceptions import PlanError
from ccnet.client.requester.quality import TIER_POLICIES, Tier
from ccnet.client.requester.verdicts import (
    Reply,
    ReplyKind,
    decide,
    hash_majority,
    payments,
    plan_verification,
)
from ccnet.zk import tasks as zk_tasks

MODULE = b"\x22" * 32
INPUT = input_hash(["100000"], b"")
KEYS = {
    name: Keypair.create_from_uri(f"//{name}", ss58_format=42, crypto_type=KeypairType.SR25519)
    for name in ("Alice", "Bob", "Charlie", "Eve")
}
ADDR = {name: str(k.ss58_address) for name, k in KEYS.items()}


def returned(name: str, output: bytes, fuel: int = 5_000) -> Reply:
    result = SignedResult.create(
        KEYS[name],
        task_id=7,
        module_hash=MODULE,
        input_hash=INPUT,
        output_hash=output_hash(output),
        fuel_used=fuel,
    )
    return Reply(ADDR[name], ReplyKind.RETURNED, result=result, output=output, fuel_used=fuel)


# -- plans ---------------------------------------------------------------------------


def test_auto_plan_follows_the_tier() -> None:
    probation = plan_verification("auto", TIER_POLICIES[Tier.PROBATION], default_proof="billing")
    assert probation.redundancy == 3 and probation.proof == "billing"
    assert probation.use_known_answer and not probation.mix_spot_check
    trusted = plan_verification(
        "auto", TIER_POLICIES[Tier.TRUSTED], default_proof="billing", spot_draw=True
    )
    assert trusted.redundancy == 1 and trusted.proof is None and trusted.mix_spot_check


@pytest.mark.parametrize(
    ("mode", "redundancy", "proof", "expected"),
    [
        ("none", None, None, (1, None, False)),
        ("majority", None, None, (3, None, False)),
        ("majority", 5, None, (5, None, False)),
        ("spot", None, None, (1, None, True)),
        ("proof", None, "poseidon_commit", (1, "poseidon_commit", False)),
    ],
)
def test_explicit_plans(
    mode: str, redundancy: int | None, proof: str | None, expected: tuple[int, str | None, bool]
) -> None:
    plan = plan_verification(
        mode, TIER_POLICIES[Tier.STANDARD], redundancy=redundancy, proof=proof, spot_draw=True
    )
    assert (plan.redundancy, plan.proof, plan.needs_known_answer) == expected
    assert not plan.mix_spot_check  # only "auto" mixes spot checks in
    assert plan.use_known_answer == (mode == "spot")


@pytest.mark.parametrize(
    ("mode", "kwargs"),
    [
        ("fast", {}),
        ("majority", {"redundancy": 1}),
        ("none", {"redundancy": 8}),
        ("none", {"redundancy": 0}),
        ("proof", {}),
    ],
)
def test_bad_plans(mode: str, kwargs: dict[str, int]) -> None:
    with pytest.raises(PlanError):
        plan_verification(mode, TIER_POLICIES[Tier.STANDARD], **kwargs)  # type: ignore[arg-type]


# -- verdicts ------------------------------------------------------------------------


def test_majority_of_three_outvotes_the_liar_and_pays_the_agreeing() -> None:
    replies = [returned("Alice", b"9592\n"), returned("Bob", b"9592\n"), returned("Eve", b"9593\n")]
    decision = decide(replies, asked=3)
    assert decision.verified and decision.method == "majority"
    assert decision.output_hash == output_hash(b"9592\n")
    assert decision.agreeing == tuple(sorted((ADDR["Alice"], ADDR["Bob"])))
    assert decision.dissenting == (ADDR["Eve"],)
    owed = payments(decision, {ADDR["Alice"]: 1, ADDR["Bob"]: 3, ADDR["Eve"]: 1})
    assert owed == {ADDR["Alice"]: 5_000, ADDR["Bob"]: 15_000}


def test_quorum_counts_the_workers_asked() -> None:
    one_timed_out = [
        returned("Alice", b"1\n"),
        returned("Bob", b"1\n"),
        Reply(ADDR["Eve"], ReplyKind.UNREACHABLE, reason="no reply"),
    ]
    assert decide(one_timed_out, asked=3).verified
    lone = [returned("Alice", b"1\n"), Reply(ADDR["Bob"], ReplyKind.FAILED, code="trap")]
    rejected = decide([*lone, Reply(ADDR["Eve"], ReplyKind.UNREACHABLE)], asked=3)
    assert not rejected.verified and "quorum" in rejected.reason
    assert payments(rejected, {}) == {}


def test_a_tie_is_rejected() -> None:
    decision = decide([returned("Alice", b"1\n"), returned("Eve", b"2\n")], asked=2)
    assert not decision.verified and decision.dissenting == ()


def test_invalid_replies_never_count() -> None:
    bad = Reply(ADDR["Bob"], ReplyKind.INVALID, reason="proof rejected")
    decision = decide([returned("Alice", b"1\n"), bad], asked=1)
    assert decision.verified and decision.agreeing == (ADDR["Alice"],)
    nothing = decide([bad], asked=1)
    assert not nothing.verified and "proof rejected" in nothing.reason


def test_a_known_answer_decides_alone() -> None:
    replies = [returned("Alice", b"25\n"), returned("Eve", b"26\n")]
    decision = decide(replies, asked=2, known_output_hash=output_hash(b"25\n"))
    assert decision.verified and decision.method == "spot"
    assert decision.agreeing == (ADDR["Alice"],) and decision.dissenting == (ADDR["Eve"],)
    caught = decide([returned("Eve", b"26\n")], asked=1, known_output_hash=output_hash(b"25\n"))
    assert not caught.verified and caught.dissenting == (ADDR["Eve"],)


def test_fuel_billed_is_the_smallest_agreeing_claim() -> None:
    replies = [returned("Alice", b"x", fuel=900), returned("Bob", b"x", fuel=1_000)]
    decision = decide(replies, asked=2)
    assert decision.fuel_used == 900 and decision.fuel_disagreement


def test_hash_majority_over_onchain_results() -> None:
    found = hash_majority({"a": "0x01", "b": "0x01", "c": "0x02", "d": None})
    assert found.result_hash == "0x01" and found.agreeing == ("a", "b")
    assert found.dissenting == ("c",) and found.pending == ("d",)
    assert hash_majority({"a": "0x01", "b": "0x02"}).result_hash is None
    assert hash_majority({"a": None}).pending == ("a",)


# -- job proofs ----------------------------------------------------------------------


def test_billing_signals_bind_fuel_rate_and_the_requesters_cap() -> None:
    ctx = ProofContext(
        task_id=7, output=b"", fuel_used=1_000, rate_planck_per_fuel=2, fuel_limit=10**6
    )
    assert ctx.cap == 2 * 10**6
    assert expected_signals("billing", ctx, hasher=lambda _: 0) == (2_000, 1_000, 2, 2 * 10**6)
    over = ProofContext(
        task_id=7, output=b"", fuel_used=10**7, rate_planck_per_fuel=2, fuel_limit=10**6
    )
    with pytest.raises(ValueError):
        expected_signals("billing", over, hasher=lambda _: 0)


def test_poseidon_commit_signals_commit_to_the_output_and_task() -> None:
    seen: list[list[int]] = []

    def hasher(chunks: object) -> int:
        seen.append(list(chunks))  # type: ignore[call-overload]
        return 99

    ctx = ProofContext(
        task_id=7, output=b"9592\n", fuel_used=1, rate_planck_per_fuel=1, fuel_limit=1
    )
    assert expected_signals("poseidon_commit", ctx, hasher) == (99, 7)
    assert seen == [zk_tasks.encode_chunks(b"9592\n")]
    with pytest.raises(UnknownCircuitError):
        check_circuit("matmul")
    with pytest.raises(UnknownCircuitError):
        check_circuit("poseidon_commit", output_size=248)
