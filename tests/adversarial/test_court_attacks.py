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
   and a verifier that does not reveal loses ``VerifierBond`` (burnt).
7. Lazy verifiers. Two verifiers never re-run the task and vote the accused's claimed
   hash, a majority against one honest verifier, in a dispute that an auditor planted
   (its own worker identity revealed a wrong result). Stopped by: the auditor's
   revealed expectation decides an audit; every vote that differs from it loses
   ``VerifierBond``, the honest verifier is rewarded.
8. Boundaries. A vote revealed at exactly the last allowed block counts, one block
   later is refused (``RevealClosed``) and slashed; a judged result cannot be
   challenged again (``NotDisputable``: the pallet's "judged already" case); finalize
   before the window ends is refused (``WindowOpen``); the requester cannot accept a
   result that is not unanimous (``NotUnanimous``), nor can anyone but the requester
   (``NotRequester``).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ccnet.client import CC
from ccnet.client.signing import address_of

from .court import (
    FUND,
    Actor,
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


def registered(free: int = FUND - WORKER_STAKE - WORKER_DEPOSIT) -> dict[str, int]:
    return {"free": free}


def worker_holds(stake: int = WORKER_STAKE) -> dict[str, int]:
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
    court.all_ok(*[x.claim() for x in results])
    court.all_ok(*[x.commit() for x in results])
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
