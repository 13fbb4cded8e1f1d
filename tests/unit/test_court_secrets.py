"""The durable openings of court commitments (:mod:`ccnet.client.courtsecrets`) and the
typed court errors (:func:`ccnet.client.exceptions.dispatch_error`)."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from ccnet.client.courtsecrets import CourtSecrets, ExpectedOpening, ResultOpening, VoteOpening
from ccnet.client.exceptions import (
    BadRevealError,
    ClaimStakeError,
    CourtTooEarlyError,
    CourtTooLateError,
    CreditsError,
    DisputesError,
    KeystoreError,
    StakeBondedError,
    TasksError,
    dispatch_error,
)

WORKER = "5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty"


def test_openings_survive_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "state" / "court-secrets.json"
    secrets = CourtSecrets(path)
    result = ResultOpening(7, b"\x01" * 32, 2**64 - 1, b"\x02" * 32)
    vote = VoteOpening(3, b"\x03" * 32, b"\x04" * 32)
    expected = ExpectedOpening(7, WORKER, b"\x05" * 32, b"\x06" * 32)
    secrets.put_result(result)
    secrets.put_vote(vote)
    secrets.put_expected(expected)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600  # it holds secrets
    assert not path.with_name(path.name + ".tmp").exists()

    again = CourtSecrets(path)  # a new process reads what the old one wrote
    assert again.result(7) == result and again.result_tasks() == [7]
    assert again.vote(3) == vote
    assert again.expected(7, WORKER) == expected
    assert again.expected_for_dispute(9) is None
    again.put_expected(ExpectedOpening(7, WORKER, b"\x05" * 32, b"\x06" * 32, dispute_id=9))
    found = CourtSecrets(path).expected_for_dispute(9)
    assert found is not None and found.salt == b"\x06" * 32 and found.dispute_id == 9

    again.drop_result(7)
    again.drop_vote(3)
    again.drop_expected(7, WORKER)
    again.drop_vote(3)  # idempotent
    reopened = CourtSecrets(path)
    assert reopened.result(7) is None and reopened.vote(3) is None
    assert reopened.expected(7, WORKER) is None


def test_a_corrupt_file_is_a_typed_error(tmp_path: Path) -> None:
    path = tmp_path / "court-secrets.json"
    path.write_text("{not json")
    with pytest.raises(KeystoreError, match="corrupt"):
        CourtSecrets(path)
    path.write_text("[1, 2]")
    with pytest.raises(KeystoreError, match="not a JSON object"):
        CourtSecrets(path)
    path.write_text('{"vote:1": {"dispute_id": "1", "result_hash": "zz", "salt": "0x00"}}')
    with pytest.raises(KeystoreError, match="corrupt court secret"):
        CourtSecrets(path).vote(1)


@pytest.mark.parametrize(
    ("pallet", "name", "kinds"),
    [
        ("Tasks", "RevealNotOpen", (TasksError, CourtTooEarlyError)),
        ("Tasks", "WindowOpen", (TasksError, CourtTooEarlyError)),
        ("Tasks", "DisputeOpen", (TasksError, CourtTooEarlyError)),
        ("Tasks", "DeadlinePassed", (TasksError, CourtTooLateError)),
        ("Tasks", "RevealClosed", (TasksError, CourtTooLateError)),
        ("Tasks", "BadReveal", (TasksError, BadRevealError)),
        ("Tasks", "InsufficientStake", (TasksError, ClaimStakeError)),
        ("Disputes", "NotDrawn", (DisputesError, CourtTooEarlyError)),
        ("Disputes", "VotingOpen", (DisputesError, CourtTooEarlyError)),
        ("Disputes", "CommitClosed", (DisputesError, CourtTooLateError)),
        ("Disputes", "BadReveal", (DisputesError, BadRevealError)),
        ("Credits", "StakeBonded", (CreditsError, StakeBondedError)),
    ],
)
def test_court_errors_are_typed_by_meaning(
    pallet: str, name: str, kinds: tuple[type[Exception], ...]
) -> None:
    err = dispatch_error(pallet, name, "docs")
    assert all(isinstance(err, kind) for kind in kinds)
    assert (err.pallet, err.name, str(err)) == (pallet, name, f"{pallet}.{name}: docs")
    other = dispatch_error(pallet, "SomethingElse")
    assert not isinstance(other, CourtTooEarlyError | CourtTooLateError | BadRevealError)
