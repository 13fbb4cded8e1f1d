"""Attacks on the Checkpoints pallet's job records (``record_job``, ``clear_job``) of the
real runtime, on a private Chopsticks chain whose blocks the test builds (:mod:`.court`),
ending with every party's exact free balance, holds and a total issuance that fell by
the fees only.

A job's record says which image another worker resumes it from
(``docs/vm-checkpoints.md``, sections 7 and 8), so whoever can change it decides what
the next worker runs and what the requester pays for. Attacker model:

1. A squatter records under a victim worker's job id, hoping the requester or the next
   worker reads its image as the victim's. Stopped by: records are keyed by owner and
   job; the squatter's entry is its own, with its own deposit, and the victim's is
   untouched; it cannot clear the victim's either.
2. A worker that rolls its own record back to an older image (to be paid again for the
   segment between them, or to hand the next worker a state it prefers), or replays the
   same number with another image. Stopped by: ``StaleCheckpoint``, sequence numbers
   only go up.
3. A worker that fills storage with records for free, or clears one to be released
   twice. Stopped by: the first record of each job holds ``JobRecordDeposit``; a clear
   releases exactly what that record holds, once (``NoJobCheckpoint`` after); an account
   that cannot pay the deposit records nothing.
4. A worker that clears its record and records an older image as the job's first, to
   roll the job back at once (while a requester resumes or settles against it).
   Stopped by: ``clear_job`` only ``JobRecordRetention`` blocks after the last update
   (``RecordTooRecent``).
"""

from __future__ import annotations

import pytest

from ccnet.client import CC

from .court import FUND, Actor, Call, Court

pytestmark = pytest.mark.integration

JOB_DEPOSIT = CC // 100
RETENTION = 100
"""``JobRecordRetention`` of the runtime, blocks."""
HELD = "Checkpoints.JobRecordDeposit"
JOB = bytes(range(16))
TX = "t" * 43


def _record(court: Court, worker: Actor, job: bytes, number: int, image: int) -> str | None:
    """``record_job`` by *worker*; the error name, or None when it went in."""
    params = {
        "job_id": "0x" + job.hex(),
        "checkpoint": number,
        "state_hash": "0x" + f"{image:02x}" * 32,
        "arweave_tx_id": TX,
        "size": 1000 + image,
    }
    (outcome,) = court.block(Call(worker, "Checkpoints", "record_job", params))
    return outcome.name if isinstance(outcome, Exception) else None


def _entry(court: Court, worker: Actor, job: bytes) -> tuple[int, str] | None:
    value = court.chain.query("Checkpoints", "JobCheckpoints", [worker.address, "0x" + job.hex()])
    if value is None:
        return None
    return int(value["checkpoint"]), str(value["record"]["state_hash"])


def test_a_squatter_cannot_touch_another_workers_job_record(court: Court) -> None:
    victim, squatter = court.actors("victim", "squatter")
    assert _record(court, victim, JOB, 1, 0xA1) is None
    # The same job id under the squatter's key is the squatter's own entry.
    assert _record(court, squatter, JOB, 99, 0xEE) is None
    assert _entry(court, victim, JOB) == (1, "0x" + "a1" * 32)
    assert _entry(court, squatter, JOB) == (99, "0x" + "ee" * 32)
    # Clearing "the job" clears only the caller's entry.
    court.skip_to(court.head + RETENTION)
    court.ok(squatter, "Checkpoints", "clear_job", job_id="0x" + JOB.hex())
    assert (
        court.fails(squatter, "Checkpoints", "clear_job", job_id="0x" + JOB.hex())
        == "NoJobCheckpoint"
    )
    assert _entry(court, victim, JOB) == (1, "0x" + "a1" * 32)

    court.expect(victim, free=FUND - JOB_DEPOSIT, holds={HELD: JOB_DEPOSIT})
    court.expect(squatter, free=FUND)
    court.expect_issuance(burnt=0)


def test_a_worker_cannot_roll_its_record_back_or_replay_a_number(court: Court) -> None:
    (worker,) = court.actors("worker")
    assert _record(court, worker, JOB, 3, 0x03) is None
    assert _record(court, worker, JOB, 2, 0x02) == "StaleCheckpoint"
    assert _record(court, worker, JOB, 3, 0x33) == "StaleCheckpoint"
    assert _entry(court, worker, JOB) == (3, "0x" + "03" * 32)
    assert _record(court, worker, JOB, 4, 0x04) is None
    assert _entry(court, worker, JOB) == (4, "0x" + "04" * 32)

    # One deposit for the job, however many images it recorded.
    court.expect(worker, free=FUND - JOB_DEPOSIT, holds={HELD: JOB_DEPOSIT})
    court.expect_issuance(burnt=0)


def test_records_cost_a_deposit_released_exactly_once(court: Court) -> None:
    (worker,) = court.actors("worker")
    jobs = [bytes([n]) * 16 for n in range(3)]
    for job in jobs:
        assert _record(court, worker, job, 1, 0x10) is None
    court.expect(worker, free=FUND - 3 * JOB_DEPOSIT, holds={HELD: 3 * JOB_DEPOSIT})

    court.skip_to(court.head + RETENTION)
    court.ok(worker, "Checkpoints", "clear_job", job_id="0x" + jobs[0].hex())
    assert (
        court.fails(worker, "Checkpoints", "clear_job", job_id="0x" + jobs[0].hex())
        == "NoJobCheckpoint"
    )
    court.expect(worker, free=FUND - 2 * JOB_DEPOSIT, holds={HELD: 2 * JOB_DEPOSIT})

    # An account that can pay the fee but not the deposit on top records nothing.
    (broke,) = court.actors("broke", free=JOB_DEPOSIT // 2 + CC // 1000)
    assert _record(court, broke, JOB, 1, 0x01) == "InsufficientBalance"
    assert _entry(court, broke, JOB) is None
    court.expect(broke, free=JOB_DEPOSIT // 2 + CC // 1000)
    court.expect_issuance(burnt=0)


def test_a_worker_cannot_clear_and_rerecord_to_roll_back_at_once(court: Court) -> None:
    (worker,) = court.actors("worker")
    assert _record(court, worker, JOB, 8, 0x08) is None
    last_update = court.head
    # Clear then record image 5 as a new first record, in one block: the clear fails.
    clear, rerecord = court.block(
        Call(worker, "Checkpoints", "clear_job", {"job_id": "0x" + JOB.hex()}),
        Call(
            worker,
            "Checkpoints",
            "record_job",
            {
                "job_id": "0x" + JOB.hex(),
                "checkpoint": 5,
                "state_hash": "0x" + "05" * 32,
                "arweave_tx_id": TX,
                "size": 1005,
            },
        ),
    )
    assert isinstance(clear, Exception) and clear.name == "RecordTooRecent"
    assert isinstance(rerecord, Exception) and rerecord.name == "StaleCheckpoint"
    # The last block that still refuses it: the call goes in the next one.
    court.skip_to(last_update + RETENTION - 2)
    assert (
        court.fails(worker, "Checkpoints", "clear_job", job_id="0x" + JOB.hex())
        == "RecordTooRecent"
    )
    assert _entry(court, worker, JOB) == (8, "0x" + "08" * 32)
    court.expect(worker, free=FUND - JOB_DEPOSIT, holds={HELD: JOB_DEPOSIT})
    court.expect_issuance(burnt=0)
