"""Attacks on the court (stakes, commit-reveal results, disputes) of the real runtime.

Each attack is a program with its own keys against honest parties on a private
Chopsticks chain whose blocks the test builds one by one (:mod:`.court`); each ends with
the exact free balance, holds by reason and stake ledger of every party, and a total
issuance that fell by the fees and the burnt slashes only.

Attacker model (what each attacker tries; what stops it):
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ccnet.client import CC

from .court import (
    FUND,
    Call,
    Court,
    Result,
    Vote,
    auditor_key,
    challenge,
    expected_commitment,
    opened,
    post,
    result_commitment,
    salt,
    task_ids,
    vote_commitment,
)

pytestmark = pytest.mark.integration

CLAIM_BOND = 10 * CC
NO_REVEAL_SLASH = CC
TASK_DEPOSIT = CC // 100
WORKER_DEPOSIT = CC // 100
CHALLENGE_STAKE = 10 * CC
OUTSIDER_STAKE = 50 * CC
VERIFIER_REWARD = CC
VERIFIER_BOND = 2 * CC
DRAW_DELAY = 2
COMMIT_PERIOD = 10
TASK_REVEAL_PERIOD = 10
CHALLENGE_WINDOW = 10
MIN_REPUTABLE_SHARE = CC // 10
MAX_TASK_FUEL = 10**13

STAKE = "Credits.Stake"
WORKER_DEP = "Tasks.WorkerDeposit"
TASK_DEP = "Tasks.TaskDeposit"
BOUNTY = "Tasks.TaskBounty"
CHALLENGE = "Disputes.ChallengeStake"

RIGHT = bytes([0x11]) * 32
"""The hash of the task's true output."""
WRONG = bytes([0xEE]) * 32
"""The hash a cheat reveals."""


def test_commitments_and_constants(court: Court) -> None:
    """The test-side commitments are the runtime's (shared vectors), and the runtime has
    the constants the expected balances below are computed with."""
    vectors = json.loads((Path(__file__).parents[1] / "vectors" / "court.json").read_text())
    for case in vectors["cases"]:
        from ccnet.client.signing import address_of  # noqa: PLC0415

        account = address_of(bytes.fromhex(case["account"][2:]))
        hash_, salt_ = bytes.fromhex(case["hash"][2:]), bytes.fromhex(case["salt"][2:])
        task, fuel, dispute = int(case["task_id"]), int(case["fuel_used"]), int(case["dispute_id"])
        assert "0x" + result_commitment(task, account, hash_, fuel, salt_).hex() == case[
            "result_commitment"
        ]
        assert "0x" + vote_commitment(dispute, account, hash_, salt_).hex() == case[
            "vote_commitment"
        ]
        assert "0x" + expected_commitment(task, account, hash_, salt_).hex() == case[
            "expected_commitment"
        ]
        assert "0x" + auditor_key(account, salt_).hex() == case["auditor_key"]
    constant = court.chain.constant
    assert constant("Tasks", "ClaimBond") == CLAIM_BOND
    assert constant("Tasks", "NoRevealSlash") == NO_REVEAL_SLASH
    assert constant("Tasks", "TaskDeposit") == TASK_DEPOSIT
    assert constant("Tasks", "WorkerDeposit") == WORKER_DEPOSIT
    assert constant("Tasks", "RevealPeriod") == TASK_REVEAL_PERIOD
    assert constant("Tasks", "ChallengeWindow") == CHALLENGE_WINDOW
    assert constant("Tasks", "MinReputableShare") == MIN_REPUTABLE_SHARE
    assert constant("Tasks", "MaxTaskFuel") == MAX_TASK_FUEL
    assert constant("Disputes", "ChallengeStake") == CHALLENGE_STAKE
    assert constant("Disputes", "OutsiderChallengeStake") == OUTSIDER_STAKE
    assert constant("Disputes", "VerifierReward") == VERIFIER_REWARD
    assert constant("Disputes", "VerifierBond") == VERIFIER_BOND
    assert constant("Disputes", "DrawDelay") == DRAW_DELAY
    assert constant("Disputes", "CommitPeriod") == COMMIT_PERIOD
    assert constant("Disputes", "VerifierCount") == 3
    assert constant("Disputes", "MinVerifiers") == 3


def test_unbonding_escape_and_overclaiming(court: Court) -> None:
    r, w, h, *vs = court.actors("requester", "cheat", "honest", "v1", "v2", "v3")
    court.workers([w, h, *vs], more={"cheat": 25 * CC})
    deadline = court.head + 30
    a, b, c = task_ids(
        court.all_ok(
            post(r, 20 * CC, deadline, 2), post(r, 5 * CC, deadline, 1), post(r, 5 * CC, deadline, 1)
        )
    )
    garbage, honest = Result(a, w, WRONG), Result(a, h, RIGHT)
    # 25 CC of stake backs two claims (20 CC bonded); a third is refused.
    outcomes = court.block(garbage.claim(), honest.claim(), Result(b, w, RIGHT).claim(), Result(c, w, RIGHT).claim())
    assert [getattr(o, "name", "ok") for o in outcomes] == ["ok", "ok", "ok", "InsufficientStake"]
    assert court.holdings(w).stake == (25 * CC, 20 * CC, 0)
    court.all_ok(garbage.commit(), honest.commit())
    court.all_ok(garbage.reveal(), honest.reveal())
    # The cheat sees the challenge coming and runs with its stake.
    expectation = salt()
    accuse = challenge(r, a, w, expected_commitment(a, w.address, RIGHT, expectation))
    outcomes = court.block(
        accuse,
        Call(w, "Credits", "unstake", {"amount": 25 * CC}),
        Call(w, "Credits", "withdraw_unbonded"),
        Call(w, "Credits", "unstake", {"amount": 5 * CC}),
        Call(w, "Credits", "withdraw_unbonded"),
    )
    dispute, draw_at = opened(outcomes[0])  # type: ignore[arg-type]
    assert [getattr(o, "name", "ok") for o in outcomes[1:]] == [
        "StakeBonded",
        "NothingToWithdraw",
        "ok",
        "NothingToWithdraw",
    ]
    assert court.holdings(w).stake == (20 * CC, 20 * CC, 5 * CC)
    assert court.fails(w, "Credits", "unstake", amount=1) == "StakeBonded"
    court.skip_to(draw_at)
    panel, _, _ = court.panel(dispute)
    assert sorted(panel) == sorted(v.address for v in vs)
    votes = [Vote(dispute, v, RIGHT) for v in vs]
    court.all_ok(*[v.commit() for v in votes])
    reveal_expected = Call(
        r,
        "Disputes",
        "reveal_expected",
        {"dispute_id": dispute, "expected_hash": "0x" + RIGHT.hex(), "salt": "0x" + expectation.hex(), "auditor_salt": None},
    )
    receipts = court.all_ok(reveal_expected, *[v.reveal() for v in votes])
    resolved = receipts[-1].expect("Disputes", "DisputeResolved")
    assert resolved["verdict"] == "WorkerAtFault"
    assert int(resolved["slashed"]) == CLAIM_BOND
    assert int(resolved["to_winner"]) == CLAIM_BOND - 3 * VERIFIER_REWARD
    slashed = [e for e in receipts[-1].find_all("Credits", "Slashed") if e["who"] == w.address]
    assert sum(int(e["amount"]) for e in slashed) == CLAIM_BOND
    # Claim B still holds the rest: nothing to unstake, nothing matured.
    assert court.fails(w, "Credits", "unstake", amount=1) == "StakeBonded"
    assert court.fails(w, "Credits", "withdraw_unbonded") == "NothingToWithdraw"
    assert court.fails(w, "Tasks", "claim", task_id=c) == "WorkerBanned"

    court.expect(
        w,
        free=FUND - 25 * CC - WORKER_DEPOSIT,
        holds={STAKE: 15 * CC, WORKER_DEP: WORKER_DEPOSIT},
        stake=(10 * CC, 10 * CC, 5 * CC),
    )
    court.expect(
        h,
        free=FUND - 10 * CC - WORKER_DEPOSIT,
        holds={STAKE: 10 * CC, WORKER_DEP: WORKER_DEPOSIT},
        stake=(10 * CC, 10 * CC, 0),
    )
    for v in vs:
        court.expect(
            v,
            free=FUND - 10 * CC - WORKER_DEPOSIT + VERIFIER_REWARD,
            holds={STAKE: 10 * CC, WORKER_DEP: WORKER_DEPOSIT},
            stake=(10 * CC, 0, 0),
        )
    court.expect(
        r,
        free=FUND - 30 * CC - 3 * TASK_DEPOSIT + CLAIM_BOND - 3 * VERIFIER_REWARD,
        holds={BOUNTY: 30 * CC, TASK_DEP: 3 * TASK_DEPOSIT},
    )
    court.expect_issuance(burnt=0)
