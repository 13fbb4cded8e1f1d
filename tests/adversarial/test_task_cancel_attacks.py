"""Attacks on ``Tasks.cancel_task`` (a requester withdraws a task nobody claimed) of the
real runtime, on a private Chopsticks chain whose blocks the test builds one by one
(:mod:`.court`), ending with every party's exact free balance, holds and stake ledger
and a total issuance that fell by the fees only.

Attacker model (what each attacker tries; what stops it):

1. A requester that cancels under a claimant's feet: it watches the pool and, when a
   worker's ``claim`` arrives, puts its ``cancel_task`` in the same block, before and
   after the claim, hoping to take its bounty back while the worker works on a claim
   it bonded stake for. Stopped by: once a claim is in, ``TaskHasClaims``; if the cancel
   comes first in the block, the claim finds no task (``UnknownTask``) and bonds
   nothing, so no work is ever owed for a cancelled task.
2. A stranger that cancels someone else's task, to grief the requester (its task gone)
   or to collect the holds. Stopped by: ``NotRequester``; the holds stay the
   requester's.
3. A requester that cancels twice, or cancels a finished task, to be released twice.
   Stopped by: the record is removed on the first cancel (``UnknownTask``); a finished
   task is not open (``TaskNotOpen``), its deposit comes back only by ``reap``.
"""

from __future__ import annotations

import pytest

from ccnet.client import CC

from .court import FUND, Actor, Call, Court, post, task_ids

pytestmark = pytest.mark.integration

CLAIM_BOND = 10 * CC
TASK_DEPOSIT = CC // 100
WORKER_DEPOSIT = CC // 100
WORKER_STAKE = 10 * CC
TASK_REVEAL_PERIOD = 10
BOUNTY = 3 * CC

STAKE = "Credits.Stake"
WORKER_DEP = "Tasks.WorkerDeposit"
TASK_DEP = "Tasks.TaskDeposit"
HELD_BOUNTY = "Tasks.TaskBounty"


def _post(court: Court, requester: Actor, redundancy: int = 2, blocks: int = 20) -> int:
    (receipt,) = court.all_ok(post(requester, BOUNTY, court.head + blocks, redundancy))
    (task_id,) = task_ids([receipt])
    return task_id


def test_a_claim_in_the_same_block_decides_whether_a_cancel_can_happen(court: Court) -> None:
    requester, worker = court.actors("requester", "worker")
    court.workers([worker], stake=WORKER_STAKE)

    # The claim first: the cancel behind it in the same block is refused.
    first = _post(court, requester)
    claim, cancel = court.block(
        Call(worker, "Tasks", "claim", {"task_id": first}),
        Call(requester, "Tasks", "cancel_task", {"task_id": first}),
    )
    assert not isinstance(claim, Exception), claim
    assert isinstance(cancel, Exception) and cancel.name == "TaskHasClaims"
    assert court.stored("Tasks", "Tasks", first)["claims"] == 1

    # The cancel first: the claim behind it finds no task and bonds nothing.
    second = _post(court, requester)
    cancel, claim = court.block(
        Call(requester, "Tasks", "cancel_task", {"task_id": second}),
        Call(worker, "Tasks", "claim", {"task_id": second}),
    )
    assert not isinstance(cancel, Exception), cancel
    assert isinstance(claim, Exception) and claim.name == "UnknownTask"
    assert court.chain.query("Tasks", "Tasks", [second]) is None

    # Exact: the first task still holds its bounty and deposit and the worker one bond;
    # the second's came back whole (fees are the only other cost).
    court.expect(
        requester,
        free=FUND - BOUNTY - TASK_DEPOSIT,
        holds={HELD_BOUNTY: BOUNTY, TASK_DEP: TASK_DEPOSIT},
    )
    court.expect(
        worker,
        free=FUND - WORKER_STAKE - WORKER_DEPOSIT,
        holds={STAKE: WORKER_STAKE, WORKER_DEP: WORKER_DEPOSIT},
        stake=(WORKER_STAKE, CLAIM_BOND, 0),
    )
    court.expect_issuance(burnt=0)


def test_strangers_double_cancels_and_finished_tasks_are_refused(court: Court) -> None:
    requester, stranger, other = court.actors("requester", "stranger", "other")

    task = _post(court, requester)
    assert court.fails(stranger, "Tasks", "cancel_task", task_id=task) == "NotRequester"
    court.ok(requester, "Tasks", "cancel_task", task_id=task)
    assert court.fails(requester, "Tasks", "cancel_task", task_id=task) == "UnknownTask"

    # A task that expired (nobody answered) is finished: cancel is not a second refund.
    finished = _post(court, requester, redundancy=1, blocks=2)
    info = court.stored("Tasks", "Tasks", finished)
    court.skip_to(int(info["deadline"]) + TASK_REVEAL_PERIOD + 1)
    court.ok(other, "Tasks", "expire", task_id=finished)
    assert court.fails(requester, "Tasks", "cancel_task", task_id=finished) == "TaskNotOpen"

    # The cancelled task returned everything; the expired one keeps only its deposit
    # until reap; the stranger and the caller of expire paid their fees only.
    court.expect(requester, free=FUND - TASK_DEPOSIT, holds={TASK_DEP: TASK_DEPOSIT})
    court.expect(stranger, free=FUND)
    court.expect(other, free=FUND)
    court.expect_issuance(burnt=0)
