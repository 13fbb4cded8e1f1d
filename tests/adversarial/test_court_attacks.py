"""Attacks on the court (stakes, commit-reveal results, disputes) of the real runtime.

Each attack is a program with its own keys against honest parties on a private
Chopsticks chain whose blocks the test builds one by one (:mod:`.court`, so every
window boundary is hit on purpose); each ends with the exact free balance, holds by
reason and stake ledger of every party, and a total issuance that fell by the fees and
the burnt slashes only.

Attacker model (what each attacker tries; what stops it):

1. Sybil challenger grinding the draw. The challenger stakes sybil verifiers, registers
   itself as a worker, and watches the chain: at each block it recomputes the panel
   from everything it can read (the randomness material, the registry, the stakes) and
   challenges at the block whose prediction seats a sybil majority. Stopped by: the
   draw runs ``DrawDelay`` blocks later from material that includes the hash of a block
   built after the challenge (the same challenge followed by different blocks draws
   different seeds), and the parties (accused, co-claimant, requester, challenger) are
   never in the pool. What is left is the documented bound: a seat for each sybil with
   the probability of its share of the eligible pool (and a block author's choice among
   versions of its own block, which the test shows by building them).
2. Unbonding escape. A worker holding two claims submits garbage, sees the challenge
   and tries to unstake and withdraw before the verdict; it also tries a third claim on
   the same stake. Stopped by: each claim bonds ``ClaimBond``; bonded stake cannot
   start unbonding (``StakeBonded``), unbonding chunks mature only after
   ``UnbondingPeriod`` (``NothingToWithdraw``), a claim beyond the free stake fails
   (``InsufficientStake``), and the slash takes the bond.
3. Double-dispute release. A challenger opens two disputes; the first is lost (its
   stake pays the upheld worker and the verifiers) and it hopes that settling it
   releases or pays from the other stake held under the same reason. Stopped by: each
   dispute moves exactly its own stake; events equal balance deltas.
4. Result copying. One claimant submits another's commitment bytes read from chain
   state; another waits for the reveals and then commits to the revealed hash; a third
   claims late. Stopped by: the commitment binds the worker (the copied bytes never
   open for the copier: ``BadReveal``), commits close at the deadline and reveals open
   only when every slot committed or after the deadline (``DeadlinePassed``,
   ``NotCommitted``); an unrevealed claim forfeits ``NoRevealSlash`` to the requester.
5. Self-dealt reputation. A requester and its sybil worker run many 1-planck tasks
   (and claim huge fuel) to make the worker look established. Stopped by: reputation
   counts the value earned and the distinct requesters that paid at least
   ``MinReputableShare``; a task adds at most ``MaxTaskFuel`` to the contribution.
6. Vote copying. A verifier copies another verifier's vote commitment from chain
   state, and its revealed hash and salt once public. Stopped by: the commitment binds
   the voter (``BadReveal``), a second commitment is refused (``AlreadyCommitted``),
   and a verifier that does not reveal loses ``VerifierBond`` (burnt). Its silence
   leaves too few votes for a verdict, which does not judge the result: the challenge
   window reopens, a second panel votes, and the cheat is slashed after all.
7. Lazy verifiers. Two verifiers never re-run the task and vote the accused's claimed
   hash, a majority against one honest verifier, in a dispute that an auditor planted
   (its own worker identity revealed a wrong result). Stopped by: the auditor's
   revealed expectation decides an audit; every vote that differs from it loses
   ``VerifierBond``, the honest verifier is rewarded.
8. Boundaries. A vote revealed at exactly the last allowed block counts, one block
   later is refused (``RevealClosed``) and slashed; a judged result cannot be
   challenged again (``NotDisputable``: the pallet's "judged already" case), one
   without a verdict can (its window reopens, and finalize waits for it); finalize
   before the window ends is refused (``WindowOpen``); the requester cannot accept a
   result that is not unanimous (``NotUnanimous``), nor can anyone but the requester
   (``NotRequester``).
"""

from __future__ import annotations

import hashlib
import json
from fractions import Fraction
from math import comb
from pathlib import Path

import pytest

from ccnet.client import CC
from ccnet.client.signing import address_of

from .court import (
    FUND,
    Call,
    Court,
    Result,
    Vote,
    auditor_key,
    challenge,
    draw_model,
    expected_commitment,
    opened,
    outcome_names,
    post,
    result_commitment,
    reveal_expected,
    salt,
    shuffle,
    succeeded,
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
VERIFIERS = 3
DRAW_DELAY = 2
COMMIT_PERIOD = 10
VOTE_REVEAL_PERIOD = 10
TASK_REVEAL_PERIOD = 10
CHALLENGE_WINDOW = 10
MIN_REPUTABLE_SHARE = CC // 10
MAX_TASK_FUEL = 10**13
WORKER_STAKE = 10 * CC
"""What each worker of these tests stakes: ``MinWorkerStake``, one claim's bond."""

STAKE = "Credits.Stake"
WORKER_DEP = "Tasks.WorkerDeposit"
TASK_DEP = "Tasks.TaskDeposit"
BOUNTY = "Tasks.TaskBounty"
CHALLENGE = "Disputes.ChallengeStake"

RIGHT = bytes([0x11]) * 32
"""The hash of the task's true output."""
WRONG = bytes([0xEE]) * 32
"""The hash a cheat reveals."""


def worker_holds(stake: int = WORKER_STAKE) -> dict[str, int]:
    """The holds of a registered worker with *stake* held as stake."""
    return {STAKE: stake, WORKER_DEP: WORKER_DEPOSIT}


def test_commitments_and_constants(court: Court) -> None:
    """The test-side commitments are the runtime's (shared vectors), and the runtime has
    the constants the expected balances below are computed with."""
    vectors = json.loads((Path(__file__).parents[1] / "vectors" / "court.json").read_text())
    for case in vectors["cases"]:
        account = address_of(bytes.fromhex(case["account"][2:]))
        hash_, salt_ = bytes.fromhex(case["hash"][2:]), bytes.fromhex(case["salt"][2:])
        task, fuel, dispute = int(case["task_id"]), int(case["fuel_used"]), int(case["dispute_id"])
        made = {
            "result_commitment": result_commitment(task, account, hash_, fuel, salt_),
            "vote_commitment": vote_commitment(dispute, account, hash_, salt_),
            "expected_commitment": expected_commitment(task, account, hash_, salt_),
            "auditor_key": auditor_key(account, salt_),
        }
        assert {k: "0x" + v.hex() for k, v in made.items()} == {k: case[k] for k in made}
    constants = {
        ("Tasks", "ClaimBond"): CLAIM_BOND,
        ("Tasks", "NoRevealSlash"): NO_REVEAL_SLASH,
        ("Tasks", "TaskDeposit"): TASK_DEPOSIT,
        ("Tasks", "WorkerDeposit"): WORKER_DEPOSIT,
        ("Tasks", "MinWorkerStake"): WORKER_STAKE,
        ("Tasks", "RevealPeriod"): TASK_REVEAL_PERIOD,
        ("Tasks", "ChallengeWindow"): CHALLENGE_WINDOW,
        ("Tasks", "MinReputableShare"): MIN_REPUTABLE_SHARE,
        ("Tasks", "MaxTaskFuel"): MAX_TASK_FUEL,
        ("Disputes", "ChallengeStake"): CHALLENGE_STAKE,
        ("Disputes", "OutsiderChallengeStake"): OUTSIDER_STAKE,
        ("Disputes", "VerifierReward"): VERIFIER_REWARD,
        ("Disputes", "VerifierBond"): VERIFIER_BOND,
        ("Disputes", "VerifierCount"): VERIFIERS,
        ("Disputes", "MinVerifiers"): VERIFIERS,
        ("Disputes", "DrawDelay"): DRAW_DELAY,
        ("Disputes", "CommitPeriod"): COMMIT_PERIOD,
        ("Disputes", "RevealPeriod"): VOTE_REVEAL_PERIOD,
    }
    assert {k: court.chain.constant(*k) for k in constants} == constants


# -- 1. sybil challenger grinding the draw ------------------------------------------------


def eligible(court: Court, block_hash: str, excluded: set[str]) -> list[str]:
    """The draw's pool as the chain state at *block_hash* has it: registered workers in
    registry order, minus *excluded*, with ``VerifierBond`` of free stake."""
    pool = []
    for worker in court.chain.query("Tasks", "WorkerList", block_hash=block_hash) or []:
        ledger = court.chain.query("Credits", "Stakes", [worker], block_hash=block_hash)
        free_stake = int(ledger["active"]) - int(ledger["bonded"]) if ledger else 0
        if worker not in excluded and free_stake >= VERIFIER_BOND:
            pool.append(str(worker))
    return pool


def material(court: Court, block_hash: str) -> list[bytes]:
    """``RandomMaterial`` at *block_hash*."""
    found = court.chain.query("RandomnessCollectiveFlip", "RandomMaterial", block_hash=block_hash)
    return [bytes.fromhex(h[2:]) for h in found or []]


def test_sybil_challenger_cannot_choose_its_panel(court: Court) -> None:
    r, w, w2, c, bystander = court.actors(
        "requester", "worker", "co-claimant", "challenger", "bystander"
    )
    sybils = court.actors("sybil1", "sybil2", "sybil3")
    honest = court.actors("honest1", "honest2", "honest3", "honest4")
    court.workers([w, w2, c, *sybils, *honest])
    (task,) = task_ids(court.all_ok(post(r, 20 * CC, court.head + 40, 2)))
    results = [Result(task, w, RIGHT), Result(task, w2, RIGHT)]
    court.all_ok(*[call for x in results for call in (x.claim(), x.commit())])
    court.all_ok(*[x.reveal() for x in results])
    parties = {r.address, w.address, w2.address, c.address}
    sybil_set = {s.address for s in sybils}
    dispute = int(court.chain.query("Disputes", "NextDisputeId") or 0)

    # The attacker's program: from what it can read at each block, predict the panel a
    # challenge sent now would get (its own exclusion applied), and challenge at the
    # first block whose prediction seats a sybil majority (or the last one it waits for).
    predicted_seed = b""
    for wait in range(5):
        head_hash = court.chain.block_hash()
        draw_at = court.head + 1 + DRAW_DELAY
        pool = eligible(court, head_hash, parties)
        predicted_seed, predicted = draw_model(
            material(court, head_hash), draw_at, dispute, pool, VERIFIERS
        )
        if len(sybil_set.intersection(predicted)) >= 2 or wait == 4:
            break
        court.skip_to(court.head + 1)
    receipt = court.ok(c, "Disputes", "challenge", task_id=task, worker=w.address, expected=None)
    assert opened(receipt) == (dispute, court.head + DRAW_DELAY)
    challenged_at = court.head
    pool = eligible(court, court.chain.block_hash(), parties)
    assert sorted(pool) == sorted([*sybil_set, *(h.address for h in honest)])

    # What happens after the challenge decides the draw: the same challenge followed by
    # different blocks (a bystander's remark or none) draws from different seeds, each
    # exactly the seed of the material of the draw's block, whose newest entry is the
    # hash of the block after the challenge.
    point = court.fork_point()
    seeds: list[bytes] = []
    for fork in range(3):
        court.rewind(point)
        if fork:
            court.all_ok(Call(bystander, "System", "remark", {"remark": bytes([fork])}))
        court.skip_to(draw_at)
        panel, _, _ = court.panel(dispute)
        draw_hash = court.chain.block_hash(draw_at)
        seed, modelled = draw_model(material(court, draw_hash), draw_at, dispute, pool, VERIFIERS)
        assert panel == modelled
        assert not parties.intersection(panel)
        after_challenge = court.chain.block_hash(challenged_at + 1)
        assert material(court, draw_hash)[(draw_at - 1) % 81] == bytes.fromhex(after_challenge[2:])
        seeds.append(seed)
    assert len({predicted_seed, *seeds}) == 4
    # So the attacker's chance of a sybil majority is that of a uniform draw of three of
    # the seven eligible workers, its three sybils among them: 13/35 (hypergeometric),
    # whatever it knew when it challenged. The shuffle every draw above matched gives
    # that over fixed seeds (within 3.5 standard deviations).
    bound = Fraction(comb(3, 2) * comb(4, 1) + comb(3, 3), comb(7, 3))
    trials = [
        hashlib.blake2b(i.to_bytes(4, "little"), digest_size=32).digest() for i in range(3500)
    ]
    wins = sum(
        len(sybil_set.intersection(shuffle(t, dispute, pool, VERIFIERS))) >= 2 for t in trials
    )
    assert bound == Fraction(13, 35)
    assert abs(Fraction(wins, len(trials)) - bound) < Fraction(3, 100)

    # The last fork goes on: honest verifiers vote the worker's (right) hash, sybils the
    # challenger's story; the majority of the panel decides, nothing else.
    votes = [
        Vote(dispute, v, WRONG if v.address in sybil_set else RIGHT)
        for v in [*sybils, *honest]
        if v.address in panel
    ]
    court.all_ok(*[v.commit() for v in votes])
    receipts = court.all_ok(*[v.reveal() for v in votes])
    resolved = receipts[-1].expect("Disputes", "DisputeResolved")
    seated = len(sybil_set.intersection(panel))
    spent = FUND - WORKER_STAKE - WORKER_DEPOSIT
    if seated >= 2:  # the draw favoured the attacker: the honest worker is slashed
        assert resolved["verdict"] == "WorkerAtFault"
        winners = {s.address for s in sybils if s.address in panel}
        court.expect(w, free=spent, holds={WORKER_DEP: WORKER_DEPOSIT})
        court.expect(
            c,
            free=spent + CLAIM_BOND - seated * VERIFIER_REWARD,
            holds=worker_holds(),
            stake=(WORKER_STAKE, 0, 0),
        )
        burnt = (VERIFIERS - seated) * VERIFIER_BOND
    else:
        assert resolved["verdict"] == "WorkerUpheld"
        winners = {h.address for h in honest if h.address in panel}
        paid = OUTSIDER_STAKE - len(winners) * VERIFIER_REWARD
        court.expect(
            w, free=spent + paid, holds=worker_holds(), stake=(WORKER_STAKE, WORKER_STAKE, 0)
        )
        court.expect(
            c, free=spent - OUTSIDER_STAKE, holds=worker_holds(), stake=(WORKER_STAKE, 0, 0)
        )
        burnt = seated * VERIFIER_BOND
    for v in [*sybils, *honest]:
        if v.address in winners:
            court.expect(
                v, free=spent + VERIFIER_REWARD, holds=worker_holds(), stake=(WORKER_STAKE, 0, 0)
            )
        elif v.address in panel:
            left = WORKER_STAKE - VERIFIER_BOND
            court.expect(v, free=spent, holds=worker_holds(left), stake=(left, 0, 0))
        else:
            court.expect(v, free=spent, holds=worker_holds(), stake=(WORKER_STAKE, 0, 0))
    court.expect(w2, free=spent, holds=worker_holds(), stake=(WORKER_STAKE, WORKER_STAKE, 0))
    court.expect(
        r, free=FUND - 20 * CC - TASK_DEPOSIT, holds={BOUNTY: 20 * CC, TASK_DEP: TASK_DEPOSIT}
    )
    court.expect(bystander, free=FUND)
    court.expect_issuance(burnt=burnt)


# -- 2. unbonding escape ------------------------------------------------------------------


def test_unbonding_escape_and_overclaiming(court: Court) -> None:
    r, w, h, *vs = court.actors("requester", "cheat", "honest", "v1", "v2", "v3")
    court.workers([w, h, *vs], more={"cheat": 25 * CC})
    deadline = court.head + 30
    a, b, c = task_ids(
        court.all_ok(
            post(r, 20 * CC, deadline, 2),
            post(r, 5 * CC, deadline, 1),
            post(r, 5 * CC, deadline, 1),
        )
    )
    garbage, honest = Result(a, w, WRONG), Result(a, h, RIGHT)
    # 25 CC of stake backs two claims (20 CC bonded); a third one is refused.
    claims = [garbage.claim(), honest.claim(), Result(b, w, RIGHT).claim()]
    outcomes = court.block(*claims, Result(c, w, RIGHT).claim())
    assert outcome_names(outcomes) == ["ok", "ok", "ok", "InsufficientStake"]
    assert court.holdings(w).stake == (25 * CC, 20 * CC, 0)
    court.all_ok(garbage.commit(), honest.commit())
    court.all_ok(garbage.reveal(), honest.reveal())
    # The cheat sees the challenge in the pool and runs with its stake in the same block.
    expectation = salt()
    accuse = challenge(r, a, w, expected_commitment(a, w.address, RIGHT, expectation))
    outcomes = court.block(
        accuse,
        Call(w, "Credits", "unstake", {"amount": 25 * CC}),
        Call(w, "Credits", "withdraw_unbonded"),
        Call(w, "Credits", "unstake", {"amount": 5 * CC}),
        Call(w, "Credits", "withdraw_unbonded"),
    )
    assert outcome_names(outcomes) == [
        "ok",
        "StakeBonded",
        "NothingToWithdraw",
        "ok",
        "NothingToWithdraw",
    ]
    dispute, draw_at = opened(succeeded(outcomes[0]))
    assert court.holdings(w).stake == (20 * CC, 20 * CC, 5 * CC)
    assert court.fails(w, "Credits", "unstake", amount=1) == "StakeBonded"
    court.skip_to(draw_at)
    panel, _, _ = court.panel(dispute)
    assert sorted(panel) == sorted(v.address for v in vs)
    votes = [Vote(dispute, v, RIGHT) for v in vs]
    court.all_ok(*[v.commit() for v in votes])
    receipts = court.all_ok(
        reveal_expected(r, dispute, RIGHT, expectation), *[v.reveal() for v in votes]
    )
    resolved = receipts[-1].expect("Disputes", "DisputeResolved")
    assert resolved["verdict"] == "WorkerAtFault"
    assert int(resolved["slashed"]) == CLAIM_BOND
    assert int(resolved["to_winner"]) == CLAIM_BOND - VERIFIERS * VERIFIER_REWARD
    slashed = [e for e in receipts[-1].find_all("Credits", "Slashed") if e["who"] == w.address]
    assert sum(int(e["amount"]) for e in slashed) == CLAIM_BOND
    # The slash found the bond; claim B still holds the rest: nothing to unstake, the
    # chunk has not matured, and the cheat is banned.
    assert court.fails(w, "Credits", "unstake", amount=1) == "StakeBonded"
    assert court.fails(w, "Credits", "withdraw_unbonded") == "NothingToWithdraw"
    assert court.fails(w, "Tasks", "claim", task_id=c) == "WorkerBanned"

    court.expect(
        w,
        free=FUND - 25 * CC - WORKER_DEPOSIT,
        holds=worker_holds(15 * CC),
        stake=(10 * CC, 10 * CC, 5 * CC),
    )
    court.expect(
        h,
        free=FUND - WORKER_STAKE - WORKER_DEPOSIT,
        holds=worker_holds(),
        stake=(10 * CC, 10 * CC, 0),
    )
    for v in vs:
        court.expect(
            v,
            free=FUND - WORKER_STAKE - WORKER_DEPOSIT + VERIFIER_REWARD,
            holds=worker_holds(),
            stake=(WORKER_STAKE, 0, 0),
        )
    court.expect(
        r,
        free=FUND - 30 * CC - 3 * TASK_DEPOSIT + CLAIM_BOND - VERIFIERS * VERIFIER_REWARD,
        holds={BOUNTY: 30 * CC, TASK_DEP: 3 * TASK_DEPOSIT},
    )
    court.expect_issuance(burnt=0)


# -- 3. double-dispute release ------------------------------------------------------------


def test_one_lost_dispute_does_not_release_the_other_stake(court: Court) -> None:
    c, w1, w2, *vs = court.actors("challenger", "honest", "cheat", "v1", "v2", "v3")
    court.workers([w1, w2, *vs])
    t1, t2 = task_ids(
        court.all_ok(post(c, 4 * CC, court.head + 30, 1), post(c, 4 * CC, court.head + 30, 1))
    )
    results = [Result(t1, w1, RIGHT), Result(t2, w2, WRONG)]
    court.all_ok(*[call for x in results for call in (x.claim(), x.commit())])
    court.all_ok(*[x.reveal() for x in results])
    # Two open challenges: both stakes sit under the same hold reason.
    first, second = court.all_ok(challenge(c, t1, w1), challenge(c, t2, w2))
    (d1, draw_at), (d2, _) = opened(first), opened(second)
    assert court.holdings(c).holds[CHALLENGE] == 2 * CHALLENGE_STAKE
    court.skip_to(draw_at)
    for d in (d1, d2):
        assert sorted(court.panel(d)[0]) == sorted(v.address for v in vs)
    votes = {d: [Vote(d, v, RIGHT) for v in vs] for d in (d1, d2)}
    court.all_ok(*[v.commit() for d in (d1, d2) for v in votes[d]])

    # The first dispute is lost: its stake pays the verifiers and the upheld worker, and
    # nothing else moves; the second stake stays held.
    before = court.holdings(c)
    receipts = court.all_ok(*[v.reveal() for v in votes[d1]])
    lost = receipts[-1].expect("Disputes", "DisputeResolved")
    assert lost["verdict"] == "WorkerUpheld"
    assert int(lost["slashed"]) == CHALLENGE_STAKE
    assert int(lost["to_winner"]) == CHALLENGE_STAKE - VERIFIERS * VERIFIER_REWARD
    after = court.holdings(c)
    assert after.holds == {**before.holds, CHALLENGE: CHALLENGE_STAKE}
    assert after.free == before.free  # c paid no fee in that block
    assert court.fails(c, "Disputes", "resolve", dispute_id=d2) == "VotingOpen"

    # The second pays the challenger what its event reports, and releases its stake.
    before, fees_before = court.holdings(c), court.fees.get(c.address, 0)
    receipts = court.all_ok(*[v.reveal() for v in votes[d2]])
    won = receipts[-1].expect("Disputes", "DisputeResolved")
    assert won["verdict"] == "WorkerAtFault"
    assert won["task_id"] == t2 and won["worker"] == w2.address
    rewards = {str(v): int(amount) for v, amount in won["rewards"]}
    assert rewards == {v.address: VERIFIER_REWARD for v in vs}
    after = court.holdings(c)
    assert court.fees.get(c.address, 0) == fees_before
    assert after.free - before.free == int(won["to_winner"]) + CHALLENGE_STAKE
    assert int(won["slashed"]) == int(won["to_winner"]) + sum(rewards.values()) == CLAIM_BOND
    assert CHALLENGE not in after.holds

    spent = FUND - WORKER_STAKE - WORKER_DEPOSIT
    court.expect(
        c,
        free=FUND
        - 8 * CC
        - 2 * TASK_DEPOSIT
        - CHALLENGE_STAKE
        + CLAIM_BOND
        - VERIFIERS * VERIFIER_REWARD,
        holds={BOUNTY: 8 * CC, TASK_DEP: 2 * TASK_DEPOSIT},
    )
    court.expect(
        w1,
        free=spent + CHALLENGE_STAKE - VERIFIERS * VERIFIER_REWARD,
        holds=worker_holds(),
        stake=(WORKER_STAKE, WORKER_STAKE, 0),
    )
    court.expect(w2, free=spent, holds={WORKER_DEP: WORKER_DEPOSIT})
    for v in vs:
        court.expect(
            v, free=spent + 2 * VERIFIER_REWARD, holds=worker_holds(), stake=(WORKER_STAKE, 0, 0)
        )
    court.expect_issuance(burnt=0)


# -- 4. result copying --------------------------------------------------------------------


def test_copied_results_never_open(court: Court) -> None:
    r, h, copier, late, latecomer = court.actors(
        "requester", "honest", "copier", "late", "latecomer"
    )
    court.workers([h, copier, late, latecomer])
    deadline = court.head + 8
    (task,) = task_ids(court.all_ok(post(r, 9 * CC, deadline, 3)))
    honest = Result(task, h, RIGHT)
    court.all_ok(
        honest.claim(), Result(task, copier, RIGHT).claim(), Result(task, late, RIGHT).claim()
    )
    court.all_ok(honest.commit())
    # The copier reads the honest commitment from chain state and submits the same bytes.
    assignment = court.stored("Tasks", "Assignments", task, h.address)
    seen = bytes.fromhex(assignment["commitment"][2:])
    assert seen == honest.commitment
    court.all_ok(Result(task, copier, b"").commit(commitment=seen))
    # The late one waits for the reveal, which opens only after the deadline (its slot
    # never committed), when commits are closed.
    assert court.fails(h, "Tasks", "reveal_result", **honest.reveal().params) == "RevealNotOpen"
    court.skip_to(deadline)
    court.all_ok(honest.reveal())
    (public,) = court.calls_in(court.head, "Tasks", "reveal_result")
    copied = Result(
        task,
        copier,
        bytes.fromhex(public["result_hash"][2:]),
        int(public["fuel_used"]),
        bytes.fromhex(public["salt"][2:]),
    )
    late_result = Result(task, late, copied.result_hash, copied.fuel)
    outcomes = court.block(
        copied.reveal(),
        late_result.commit(),
        late_result.reveal(),
        Result(task, latecomer, RIGHT).claim(),
    )
    assert outcome_names(outcomes) == [
        "BadReveal",
        "DeadlinePassed",
        "NotCommitted",
        "DeadlinePassed",
    ]
    challenge_ends = deadline + TASK_REVEAL_PERIOD + CHALLENGE_WINDOW
    court.skip_to(challenge_ends)
    receipt = court.ok(latecomer, "Tasks", "finalize", task_id=task)
    completed = receipt.expect("Tasks", "TaskCompleted")
    assert completed["workers"] == [h.address] and int(completed["paid"]) == 9 * CC
    forfeited = {
        str(e["worker"]): int(e["slashed"]) for e in receipt.find_all("Tasks", "ClaimForfeited")
    }
    assert forfeited == {copier.address: NO_REVEAL_SLASH, late.address: NO_REVEAL_SLASH}

    spent = FUND - WORKER_STAKE - WORKER_DEPOSIT
    court.expect(h, free=spent + 9 * CC, holds=worker_holds(), stake=(WORKER_STAKE, 0, 0))
    for k in (copier, late):
        left = WORKER_STAKE - NO_REVEAL_SLASH
        court.expect(k, free=spent, holds=worker_holds(left), stake=(left, 0, 0))
    court.expect(latecomer, free=spent, holds=worker_holds(), stake=(WORKER_STAKE, 0, 0))
    court.expect(
        r, free=FUND - 9 * CC - TASK_DEPOSIT + 2 * NO_REVEAL_SLASH, holds={TASK_DEP: TASK_DEPOSIT}
    )
    court.expect_issuance(burnt=0)


# -- 5. self-dealt reputation -------------------------------------------------------------


def test_self_dealt_tasks_earn_no_standing(court: Court) -> None:
    s, sw, r1, r2, hw = court.actors(
        "sybil-requester", "sybil-worker", "requester1", "requester2", "honest"
    )
    tiny, reputable = 5, 2
    court.workers(
        [sw, hw], more={"sybil-worker": (tiny + reputable) * CLAIM_BOND, "honest": 2 * CLAIM_BOND}
    )
    fuel_before = int(court.chain.query("Credits", "ContributedFuel") or 0)
    deadline = court.head + 20
    bounties = [1] * tiny + [MIN_REPUTABLE_SHARE] * reputable
    posts = [post(s, b, deadline, 1) for b in bounties]
    posts += [
        post(r1, MIN_REPUTABLE_SHARE, deadline, 1),
        post(r2, MIN_REPUTABLE_SHARE, deadline, 1),
    ]
    ids = task_ids(court.all_ok(*posts))
    # The sybil claims the most fuel a u64 holds; the honest worker what it used.
    results = [Result(t, sw, RIGHT, fuel=2**64 - 1) for t in ids[: tiny + reputable]]
    results += [Result(t, hw, RIGHT, fuel=5_000) for t in ids[tiny + reputable :]]
    court.all_ok(*[call for x in results for call in (x.claim(), x.commit())])
    court.all_ok(*[x.reveal() for x in results])
    requester_of = {t: a for t, a in zip(ids, [s] * (tiny + reputable) + [r1, r2], strict=True)}
    court.all_ok(
        *[
            Call(
                requester_of[x.task_id],
                "Tasks",
                "accept",
                {"task_id": x.task_id, "worker": x.worker.address},
            )
            for x in results
        ]
    )

    rep = court.stored("Tasks", "Workers", sw.address)["reputation"]
    assert rep == {
        "completed": tiny + reputable,
        "failed": 0,
        "disputed": 0,
        "slashed": 0,
        "value_earned": tiny + reputable * MIN_REPUTABLE_SHARE,
        "distinct_requesters": 1,
    }
    honest_rep = court.stored("Tasks", "Workers", hw.address)["reputation"]
    assert (honest_rep["value_earned"], honest_rep["distinct_requesters"]) == (
        2 * MIN_REPUTABLE_SHARE,
        2,
    )
    assert court.chain.query("Tasks", "PaidBy", [sw.address, s.address]) is not None
    fuel = int(court.chain.query("Credits", "ContributedFuel") or 0) - fuel_before
    assert fuel == (tiny + reputable) * MAX_TASK_FUEL + 2 * 5_000

    paid = sum(bounties)
    sybil_stake = (tiny + reputable) * CLAIM_BOND
    court.expect(
        s,
        free=FUND - paid - len(bounties) * TASK_DEPOSIT,
        holds={TASK_DEP: len(bounties) * TASK_DEPOSIT},
    )
    court.expect(
        sw,
        free=FUND - sybil_stake - WORKER_DEPOSIT + paid,
        holds=worker_holds(sybil_stake),
        stake=(sybil_stake, 0, 0),
    )
    for requester in (r1, r2):
        court.expect(
            requester,
            free=FUND - MIN_REPUTABLE_SHARE - TASK_DEPOSIT,
            holds={TASK_DEP: TASK_DEPOSIT},
        )
    court.expect(
        hw,
        free=FUND - 2 * CLAIM_BOND - WORKER_DEPOSIT + 2 * MIN_REPUTABLE_SHARE,
        holds=worker_holds(2 * CLAIM_BOND),
        stake=(2 * CLAIM_BOND, 0, 0),
    )
    court.expect_issuance(burnt=0)


# -- 6. vote copying ----------------------------------------------------------------------


def test_copied_votes_never_open(court: Court) -> None:
    r, w, v1, v2, copier = court.actors("requester", "cheat", "v1", "v2", "copier")
    court.workers([w, v1, v2, copier])
    (task,) = task_ids(court.all_ok(post(r, 5 * CC, court.head + 30, 1)))
    result = Result(task, w, WRONG)
    court.all_ok(result.claim(), result.commit())
    court.all_ok(result.reveal())
    dispute, draw_at = opened(court.all_ok(challenge(r, task, w))[0])
    court.skip_to(draw_at)
    panel, commit_ends, reveal_ends = court.panel(dispute)
    assert sorted(panel) == sorted(a.address for a in (v1, v2, copier))
    first, second = Vote(dispute, v1, RIGHT), Vote(dispute, v2, RIGHT)
    court.all_ok(first.commit())
    # The copier reads the first commitment from chain state: it commits the same bytes.
    (commitment,) = [
        c
        for v, c in court.stored("Disputes", "Disputes", dispute)["commitments"]
        if v == v1.address
    ]
    court.all_ok(
        Vote(dispute, copier, b"").commit(commitment=bytes.fromhex(commitment[2:])), second.commit()
    )
    court.all_ok(first.reveal())
    # It copies the revealed hash and salt from the block; then tries a fresh commitment.
    (public,) = court.calls_in(court.head, "Disputes", "reveal_vote")
    copied = Vote(
        dispute, copier, bytes.fromhex(public["result_hash"][2:]), bytes.fromhex(public["salt"][2:])
    )
    outcomes = court.block(copied.reveal(), copied.commit(), second.reveal())
    assert outcome_names(outcomes) == ["BadReveal", "AlreadyCommitted", "ok"]
    assert court.fails(r, "Disputes", "resolve", dispute_id=dispute) == "VotingOpen"
    court.skip_to(reveal_ends)
    receipt = court.ok(r, "Disputes", "resolve", dispute_id=dispute)
    slashed = receipt.expect("Disputes", "VerifiersSlashed")
    assert [(str(v), int(a)) for v, a in slashed["verifiers"]] == [(copier.address, VERIFIER_BOND)]
    # Two revealed votes are fewer than MinVerifiers: no verdict. That does not judge the
    # cheat's result: the challenge window reopens, so a silent verifier (a sybil of the
    # cheat, say) shields nothing and only loses its bond.
    resolved = receipt.expect("Disputes", "DisputeResolved")
    assert resolved["verdict"] == "Inconclusive" and int(resolved["slashed"]) == 0
    assert commit_ends == draw_at + COMMIT_PERIOD
    assignment = court.stored("Tasks", "Assignments", task, w.address)
    assert (assignment["judged"], assignment["disputed"]) == (False, False)
    assert int(court.stored("Tasks", "Tasks", task)["reopened_until"]) == (
        court.head + CHALLENGE_WINDOW
    )
    # The requester challenges again (a fourth worker joined meanwhile); this panel votes.
    (v3,) = court.actors("v3")
    court.workers([v3])
    again, draw_at = opened(court.all_ok(challenge(r, task, w))[0])
    court.skip_to(draw_at)
    drawn = court.panel(again)[0]
    voters = [a for a in (v1, v2, v3, copier) if a.address in drawn]
    assert len(voters) == VERIFIERS  # the copier (8 CC left) may sit again; it votes too
    votes = [Vote(again, a, RIGHT) for a in voters]
    court.all_ok(*[v.commit() for v in votes])
    receipts = court.all_ok(*[v.reveal() for v in votes])
    resolved = receipts[-1].expect("Disputes", "DisputeResolved")
    assert resolved["verdict"] == "WorkerAtFault" and int(resolved["slashed"]) == CLAIM_BOND
    paid_out = CLAIM_BOND - VERIFIERS * VERIFIER_REWARD  # the rest of the bond: the challenger

    spent = FUND - WORKER_STAKE - WORKER_DEPOSIT
    court.expect(w, free=spent, holds={WORKER_DEP: WORKER_DEPOSIT})
    for v in (v1, v2, v3, copier):
        reward = VERIFIER_REWARD if v in voters else 0
        stake = WORKER_STAKE - (VERIFIER_BOND if v is copier else 0)
        court.expect(v, free=spent + reward, holds=worker_holds(stake), stake=(stake, 0, 0))
    court.expect(
        r,
        free=FUND - 5 * CC - TASK_DEPOSIT + paid_out,
        holds={BOUNTY: 5 * CC, TASK_DEP: TASK_DEPOSIT},
    )
    court.expect_issuance(burnt=VERIFIER_BOND)


# -- 7. lazy verifiers --------------------------------------------------------------------


def test_lazy_verifiers_lose_their_bond_in_an_audit(court: Court) -> None:
    auditor, planted, honest, lazy1, lazy2 = court.actors(
        "auditor", "planted", "honest", "lazy1", "lazy2"
    )
    court.workers([planted, honest, lazy1, lazy2])
    key_salt = salt()
    court.sudo(
        "Disputes", "register_auditor", key="0x" + auditor_key(auditor.address, key_salt).hex()
    )
    # The auditor's own worker identity reveals a wrong result on the auditor's task; the
    # auditor challenges it like any requester, committing to the right result.
    (task,) = task_ids(court.all_ok(post(auditor, 5 * CC, court.head + 30, 1)))
    result = Result(task, planted, WRONG)
    court.all_ok(result.claim(), result.commit())
    court.all_ok(result.reveal())
    expectation = salt()
    accuse = challenge(
        auditor, task, planted, expected_commitment(task, planted.address, RIGHT, expectation)
    )
    dispute, draw_at = opened(court.all_ok(accuse)[0])
    court.skip_to(draw_at)
    assert sorted(court.panel(dispute)[0]) == sorted(a.address for a in (honest, lazy1, lazy2))
    # The lazy ones vote the accused's hash without running anything: a majority.
    votes = [Vote(dispute, honest, RIGHT), Vote(dispute, lazy1, WRONG), Vote(dispute, lazy2, WRONG)]
    court.all_ok(*[v.commit() for v in votes])
    receipts = court.all_ok(
        *[v.reveal() for v in votes],
        reveal_expected(auditor, dispute, RIGHT, expectation, key_salt),
    )
    assert receipts[-1].expect("Disputes", "ExpectedRevealed")["audit"] is True
    resolved = receipts[-1].expect("Disputes", "DisputeResolved")
    assert resolved["verdict"] == "WorkerAtFault"
    assert [(str(v), int(a)) for v, a in resolved["rewards"]] == [(honest.address, VERIFIER_REWARD)]
    slashed = receipts[-1].expect("Disputes", "VerifiersSlashed")
    assert sorted((str(v), int(a)) for v, a in slashed["verifiers"]) == sorted(
        [(lazy1.address, VERIFIER_BOND), (lazy2.address, VERIFIER_BOND)]
    )

    spent = FUND - WORKER_STAKE - WORKER_DEPOSIT
    court.expect(
        auditor,
        free=FUND - 5 * CC - TASK_DEPOSIT + CLAIM_BOND - VERIFIER_REWARD,
        holds={BOUNTY: 5 * CC, TASK_DEP: TASK_DEPOSIT},
    )
    court.expect(planted, free=spent, holds={WORKER_DEP: WORKER_DEPOSIT})
    court.expect(
        honest, free=spent + VERIFIER_REWARD, holds=worker_holds(), stake=(WORKER_STAKE, 0, 0)
    )
    left = WORKER_STAKE - VERIFIER_BOND
    for lazy in (lazy1, lazy2):
        court.expect(lazy, free=spent, holds=worker_holds(left), stake=(left, 0, 0))
        assert court.stored("Tasks", "Workers", lazy.address)["reputation"]["failed"] == 1
    court.expect_issuance(burnt=2 * VERIFIER_BOND)


# -- 8. boundaries ------------------------------------------------------------------------


def test_window_boundaries(court: Court) -> None:
    r, outsider, wa, wb, wc1, wc2, *vs = court.actors(
        "requester", "outsider", "wa", "wb", "wc1", "wc2", "v1", "v2", "v3"
    )
    court.workers([wa, wb, wc1, wc2, *vs])
    deadline = court.head + 10
    a, b, c = task_ids(
        court.all_ok(
            post(r, 3 * CC, deadline, 1), post(r, 3 * CC, deadline, 1), post(r, 4 * CC, deadline, 2)
        )
    )
    results = [
        Result(a, wa, RIGHT),
        Result(b, wb, RIGHT),
        Result(c, wc1, RIGHT),
        Result(c, wc2, WRONG),
    ]
    court.all_ok(*[call for x in results for call in (x.claim(), x.commit())])
    court.all_ok(*[x.reveal() for x in results])
    outcomes = court.block(
        challenge(r, a, wa),
        challenge(r, b, wb),
        Call(r, "Tasks", "accept", {"task_id": c, "worker": wc1.address}),
        Call(outsider, "Tasks", "accept", {"task_id": c, "worker": wc1.address}),
        Call(outsider, "Tasks", "finalize", {"task_id": c}),
    )
    assert outcome_names(outcomes) == ["ok", "ok", "NotUnanimous", "NotRequester", "WindowOpen"]
    (da, draw_at), (db, _) = (opened(succeeded(o)) for o in outcomes[:2])
    court.skip_to(draw_at)
    _, _, reveal_ends = court.panel(da)
    assert court.panel(db)[2] == reveal_ends == draw_at + COMMIT_PERIOD + VOTE_REVEAL_PERIOD
    votes = {d: {v.name: Vote(d, v, RIGHT) for v in vs} for d in (da, db)}
    court.all_ok(*[v.commit() for d in (da, db) for v in votes[d].values()])
    court.all_ok(*[votes[d][n].reveal() for d in (da, db) for n in ("v1", "v2")])
    # v3 reveals in dispute A at exactly its last block: it counts and A resolves.
    court.skip_to(reveal_ends - 1)
    (receipt,) = court.all_ok(votes[da]["v3"].reveal())
    assert court.head == reveal_ends
    assert receipt.expect("Disputes", "DisputeResolved")["verdict"] == "WorkerUpheld"
    # One block later it is too late for dispute B: refused, and slashed at resolve.
    outcomes = court.block(
        votes[db]["v3"].reveal(), Call(r, "Disputes", "resolve", {"dispute_id": db})
    )
    assert outcome_names(outcomes) == ["RevealClosed", "ok"]
    resolved = succeeded(outcomes[1]).expect("Disputes", "DisputeResolved")
    assert resolved["verdict"] == "Inconclusive"
    slashed = succeeded(outcomes[1]).expect("Disputes", "VerifiersSlashed")
    assert [(str(v), int(x)) for v, x in slashed["verifiers"]] == [(vs[2].address, VERIFIER_BOND)]
    # A's result is judged (upheld): a new challenge is refused while the window is open.
    # B's dispute had no verdict: its result is not judged and its window reopened.
    challenge_ends = deadline + TASK_REVEAL_PERIOD + CHALLENGE_WINDOW
    assert court.head < challenge_ends
    assert court.stored("Tasks", "Assignments", a, wa.address)["judged"] is True
    assert court.stored("Tasks", "Assignments", b, wb.address)["judged"] is False
    reopened = int(court.stored("Tasks", "Tasks", b)["reopened_until"])
    assert reopened == court.head + CHALLENGE_WINDOW > challenge_ends + 1
    assert outcome_names(court.block(challenge(r, a, wa))) == ["NotDisputable"]
    # finalize at the window's last block is refused; one block later it pays A and
    # settles C; B waits for its reopened window.
    court.skip_to(challenge_ends - 1)
    assert court.fails(outsider, "Tasks", "finalize", task_id=a) == "WindowOpen"
    assert court.head == challenge_ends
    outcomes = court.block(
        *[Call(outsider, "Tasks", "finalize", {"task_id": t}) for t in (a, b, c)]
    )
    assert outcome_names(outcomes) == ["ok", "WindowOpen", "ok"]
    assert succeeded(outcomes[0]).expect("Tasks", "TaskCompleted")["workers"] == [wa.address]
    succeeded(outcomes[2]).expect("Tasks", "TaskUnresolved")
    court.skip_to(reopened - 1)
    assert court.fails(outsider, "Tasks", "finalize", task_id=b) == "WindowOpen"
    (receipt,) = court.all_ok(Call(outsider, "Tasks", "finalize", {"task_id": b}))
    assert receipt.expect("Tasks", "TaskCompleted")["workers"] == [wb.address]

    spent = FUND - WORKER_STAKE - WORKER_DEPOSIT
    court.expect(
        wa,
        free=spent + 3 * CC + CHALLENGE_STAKE - VERIFIERS * VERIFIER_REWARD,
        holds=worker_holds(),
        stake=(WORKER_STAKE, 0, 0),
    )
    court.expect(wb, free=spent + 3 * CC, holds=worker_holds(), stake=(WORKER_STAKE, 0, 0))
    for wc in (wc1, wc2):
        court.expect(wc, free=spent, holds=worker_holds(), stake=(WORKER_STAKE, 0, 0))
    for v in vs[:2]:
        court.expect(
            v, free=spent + VERIFIER_REWARD, holds=worker_holds(), stake=(WORKER_STAKE, 0, 0)
        )
    left = WORKER_STAKE - VERIFIER_BOND
    court.expect(vs[2], free=spent + VERIFIER_REWARD, holds=worker_holds(left), stake=(left, 0, 0))
    court.expect(
        r,
        free=FUND - 6 * CC - 3 * TASK_DEPOSIT - CHALLENGE_STAKE,
        holds={TASK_DEP: 3 * TASK_DEPOSIT},
    )
    court.expect(outsider, free=FUND)
    court.expect_issuance(burnt=VERIFIER_BOND)
