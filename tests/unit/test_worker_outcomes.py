"""DisputeOutcomeLog: one INFO line per resolved dispute about the worker's result or
its vote, with its payout and slash in exact CC; other disputes are not logged."""

from __future__ import annotations

import logging

import pytest

from ccnet.client import CC, ChainEvent
from ccnet.worker.outcomes import DisputeOutcomeLog, WorkerOutcome

ME = "5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty"
OTHER = "5FLSigC9HGRKVhB9FiEo4Y3koPsNmBmLJbpXg2mp1hXcS59Y"
THIRD = "5DAAnrj7VHTznn2AWBemMuyBwZWs6FNFjdyVXUeYum3PTXFy"


def drawn(dispute_id: int, *verifiers: str) -> ChainEvent:
    attrs = {"dispute_id": dispute_id, "verifiers": list(verifiers), "commit_ends": 9}
    return ChainEvent("Disputes", "VerifiersDrawn", attrs)


def slashed(dispute_id: int, *pairs: tuple[str, int]) -> ChainEvent:
    return ChainEvent(
        "Disputes", "VerifiersSlashed", {"dispute_id": dispute_id, "verifiers": list(pairs)}
    )


def resolved(
    dispute_id: int,
    worker: str,
    verdict: str,
    slashed: int,
    rewards: list[tuple[str, int]],
    to_winner: int,
) -> ChainEvent:
    attrs = {
        "dispute_id": dispute_id,
        "task_id": 100 + dispute_id,
        "worker": worker,
        "verdict": verdict,
        "slashed": slashed,
        "rewards": rewards,
        "to_winner": to_winner,
    }
    return ChainEvent("Disputes", "DisputeResolved", attrs)


def test_outcomes_as_worker_and_verifier(caplog: pytest.LogCaptureFixture) -> None:
    log = DisputeOutcomeLog(ME)
    events = [
        # 1: my result, found wrong: my claim bond (10 CC) goes to verifiers + challenger
        resolved(1, ME, "WorkerAtFault", 10 * CC, [(OTHER, CC)], 9 * CC),
        # 2: my result, upheld: I get what is left of the challenger's stake
        resolved(2, ME, "WorkerUpheld", 5 * CC, [(OTHER, CC // 2)], 4 * CC + CC // 2),
        # 3: I voted with the majority: my reward
        drawn(3, ME, OTHER),
        resolved(3, THIRD, "WorkerAtFault", 10 * CC, [(ME, CC + 1), (OTHER, CC)], 8 * CC),
        # 4: I was outvoted: my verifier bond is slashed (a {who, amount} dict form too)
        drawn(4, ME, OTHER, THIRD),
        slashed(4, (OTHER, 7), (ME, 2 * CC)),
        resolved(4, THIRD, "WorkerUpheld", 5 * CC, [(THIRD, CC)], 4 * CC),
        # 5: inconclusive, I revealed: bond back, nothing paid
        drawn(5, ME, OTHER),
        resolved(5, THIRD, "Inconclusive", 0, [], 0),
        # 6: not mine at all
        drawn(6, OTHER, THIRD),
        slashed(6, (OTHER, CC)),
        resolved(6, THIRD, "WorkerAtFault", 10 * CC, [(THIRD, CC)], 9 * CC),
        # 7: my result, inconclusive: neither
        resolved(7, ME, "Inconclusive", 0, [], 0),
        ChainEvent("Tasks", "TaskPosted", {"task_id": 1}),
    ]
    with caplog.at_level(logging.INFO, logger="ccnet.worker.outcomes"):
        for event in events:
            log.on_event(event)
    assert log.outcomes == [
        WorkerOutcome(1, 101, "WorkerAtFault", "worker", 0, 10 * CC),
        WorkerOutcome(2, 102, "WorkerUpheld", "worker", 4 * CC + CC // 2, 0),
        WorkerOutcome(3, 103, "WorkerAtFault", "verifier", CC + 1, 0),
        WorkerOutcome(4, 104, "WorkerUpheld", "verifier", 0, 2 * CC),
        WorkerOutcome(5, 105, "Inconclusive", "verifier", 0, 0),
        WorkerOutcome(7, 107, "Inconclusive", "worker", 0, 0),
    ]
    lines = [r.getMessage() for r in caplog.records]
    assert lines[0] == (
        "dispute 1 (task 101) resolved WorkerAtFault: as its worker, paid 0 CC, slashed 10 CC"
    )
    assert lines[2] == (
        "dispute 3 (task 103) resolved WorkerAtFault: as its verifier, "
        "paid 1.000000000001 CC, slashed 0 CC"
    )
    assert len(lines) == 6 and all(r.levelno == logging.INFO for r in caplog.records)


def test_slash_of_a_verifier_seen_only_in_the_resolving_block() -> None:
    # Drawn before the daemon started: the slash alone says it was ours.
    log = DisputeOutcomeLog(ME)
    log.on_event(
        ChainEvent(
            "Disputes", "VerifiersSlashed", {"dispute_id": 9, "verifiers": [{"0": ME, "1": 3}]}
        )
    )
    outcome = log.on_event(resolved(9, OTHER, "WorkerAtFault", 10 * CC, [(THIRD, CC)], 9 * CC))
    assert outcome == WorkerOutcome(9, 109, "WorkerAtFault", "verifier", 0, 3)
