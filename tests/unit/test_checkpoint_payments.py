"""Which segments of a job with VM checkpoints are paid (``docs/vm-checkpoints.md``
section 8.1: the path of the final result, the reference, attribution by re-runs), the
per-segment order of announcements, and the requester's durable debts. Pure: the
segments are built by hand (the adversarial suite runs the same attacks with real
daemons)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from ccnet.client.jobs.messages import JobCheckpoint, JobFailed, JobRequest, JobResult, JobSuspended
from ccnet.client.requester import Announced, CheckpointedJob, Debt, DebtBook, FuelReference
from ccnet.client.requester.migration import Claim, ImageFacts, Segment, assess

A, B, C = "5A", "5B", "5C"
EVERY = 1_000
COST = 10
WHOLE = 10_000
"""rest(start): the uninterrupted run's fuel, in this made-up job."""


def note(number: int, fuel: int, tag: int) -> JobCheckpoint:
    return JobCheckpoint(bytes(16), number, fuel, bytes([tag]) * 32, f"tx{tag}", 100 + tag)


def suspended(stop: JobCheckpoint, segment_fuel: int) -> JobSuspended:
    return JobSuspended.at(stop, segment_fuel)


async def unpaid_reasons(job: CheckpointedJob, reference: FuelReference | None) -> list[str]:
    return [claim.unpaid for claim in await assess(job, reference)]


def new_job() -> CheckpointedJob:
    base = JobRequest(job_id=bytes(16), module_hash=bytes(32), input=b"", task_id=1)
    return CheckpointedJob(base, b"\0asm", every_fuel=EVERY, key=bytes(32))


def add(
    job: CheckpointedJob,
    worker: str,
    reply: JobResult | JobFailed | JobSuspended | None,
    fuel: int,
    start: Announced | None,
    notes: tuple[JobCheckpoint, ...],
) -> None:
    job.segments.append(Segment(worker, job.base, reply, fuel, start, 0, notes))


# rest() of each image of the made-up job: its fuel left to the end, without checkpoints
RESTS = {None: WHOLE, 1: 7_000, 2: 4_000, 3: 2_000}


async def rerun(at: Announced | None) -> int:
    return RESTS[None if at is None else at.checkpoint.state_hash[0]]


def honest_two() -> tuple[CheckpointedJob, int, int]:
    """A runs from the start to image 2 (images 1 and 2), B from 2 to the end (one image,
    3): fuel A = 10000 - 4000 + 2 x 10, B = 4000 + 10."""
    job = new_job()
    one, two, three = note(1, 3_010, 1), note(2, 6_020, 2), note(3, 8_030, 3)
    add(job, A, suspended(two, 6_020), 6_020, None, (one, two))
    add(job, B, JobResult(bytes(16), b"out"), 4_010, Announced(A, two), (three,))
    return job, 6_020, 4_010


async def test_honest_segments_are_all_paid_within_the_reference() -> None:
    job, _, _ = honest_two()
    assert await unpaid_reasons(job, None) == ["", ""]
    ref = FuelReference(WHOLE, COST, rerun)
    assert await unpaid_reasons(job, ref) == ["", ""]  # 10000 + 3 x 10 exactly


async def test_a_suspension_that_was_not_resumed_is_not_paid() -> None:
    job = new_job()
    fake = note(1, 5_000, 9)  # never recorded: the SDK resumed from the start instead
    add(job, A, suspended(fake, 5_000), 5_000, None, (fake,))
    add(job, B, JobResult(bytes(16), b"out"), WHOLE + COST, None, (note(1, 3_010, 1),))
    reasons = await unpaid_reasons(job, None)
    assert reasons[0].startswith("its work was not resumed") and reasons[1] == ""


async def test_a_segment_resumed_from_before_its_stop_is_not_paid_but_earlier_ones_are() -> None:
    job = new_job()
    one, two, three = note(1, 3_010, 1), note(2, 6_020, 2), note(3, 8_030, 3)
    add(job, C, suspended(one, 3_010), 3_010, None, (one,))
    # A announces 2, suspends "at 3" (not recorded): B resumes from 2
    add(job, A, suspended(three, 5_020), 5_020, Announced(C, one), (two, three))
    add(job, B, JobResult(bytes(16), b"out"), 4_010, Announced(A, two), ())
    reasons = await unpaid_reasons(job, None)
    assert reasons[0] == "" and reasons[2] == ""
    assert reasons[1].startswith("the next segment resumed from an earlier image")


async def test_an_inconsistent_suspension_is_not_paid() -> None:
    job, _, _ = honest_two()
    job.segments[0] = Segment(
        A,
        job.base,
        suspended(note(2, 6_020, 2), 7_000),
        7_000,
        None,
        0,
        (
            note(1, 3_010, 1),
            note(2, 6_020, 2),
        ),
    )
    reasons = await unpaid_reasons(job, None)
    assert reasons[0] == "claims 7000 fuel, its checkpoints 6020"


async def test_an_inflated_claim_over_the_reference_is_attributed_by_re_runs() -> None:
    job = new_job()
    one, two = note(1, 3_010, 1), note(2, 9_020, 2)  # A forged the cumulative fuel
    add(job, A, suspended(two, 9_020), 9_020, None, (one, two))
    add(job, B, JobResult(bytes(16), b"out"), 4_010, Announced(A, two), (note(3, 0, 3),))
    assert await unpaid_reasons(job, None) == ["", ""]  # the old checks pass
    reasons = await unpaid_reasons(job, FuelReference(WHOLE, COST, rerun))
    assert reasons == ["claims 9020 fuel, a re-run confirms 6020", ""]
    # without a re-run no claim can be confirmed: nothing is paid
    blind = await unpaid_reasons(job, FuelReference(WHOLE, COST))
    assert all(
        r.startswith("the segments claim 13030 fuel, over the reference's 10030") for r in blind
    )


async def test_a_resume_run_from_the_start_is_attributed_to_the_resuming_worker() -> None:
    job, fuel_a, _ = honest_two()
    last = job.segments[1]
    job.segments[1] = Segment(
        B,
        job.base,
        last.reply,
        WHOLE + 2 * COST,
        last.resumed_from,
        0,
        (
            note(1, 0, 1),
            note(2, 0, 2),
        ),
    )
    reasons = await unpaid_reasons(job, FuelReference(WHOLE, COST, rerun))
    assert reasons == ["", f"claims {WHOLE + 2 * COST} fuel, a re-run confirms 4020"]


async def test_a_failing_re_run_leaves_the_segment_unpaid() -> None:
    job, _, _ = honest_two()
    job.segments[1] = Segment(
        B, job.base, job.segments[1].reply, 9_999, Announced(A, note(2, 6_020, 2)), 0, ()
    )

    async def broken(at: Announced | None) -> int:
        if at is not None:
            raise OSError("gateway down")
        return WHOLE

    reasons = await unpaid_reasons(job, FuelReference(WHOLE, COST, broken))
    # B's start image cannot be re-run: neither A's end nor B's start is confirmed
    assert all(r.startswith("its claim cannot be confirmed: the re-run failed") for r in reasons)


def test_announcements_are_ordered_within_their_segment_only() -> None:
    job = new_job()
    forged = note(1_001, 3_010, 1)
    job._announced(A, forged, 0)
    job._announced(A, note(5, 4_000, 2), 0)  # out of order within A's segment: ignored
    assert [a.checkpoint for a in job.checkpoints] == [forged]
    job._announced(B, note(2, 6_020, 3), 1)  # B's first: kept despite A's number
    job._announced(B, note(2, 6_020, 3), 1)  # its suspension repeats it
    job._announced(B, note(3, 5_000, 4), 1)  # fuel going back: ignored
    assert [a.worker for a in job.checkpoints] == [A, B]
    assert job.last_checkpoint == Announced(B, note(2, 6_020, 3))


def test_debts_are_kept_on_disk_until_paid(tmp_path: Path) -> None:
    path = tmp_path / "state" / "debts.json"
    book = DebtBook(path)
    assert book.all() == [] and not path.exists()
    debt = Debt(A, "ab" * 32, 1_234, "task 1 segment 0")
    book.add(debt)
    book.add(Debt(B, "cd" * 32, 5, "task 1 segment 1"))
    with pytest.raises(ValueError, match="positive"):
        book.add(Debt(A, "ab" * 32, 0, "task 2 segment 0"))
    again = DebtBook(path)  # a restarted requester
    assert again.all() == book.all() and again.total(A) == 1_234 and again.total() == 1_239
    again.paid(debt)
    assert DebtBook(path).owed_to(A) == [] and DebtBook(path).total() == 5
    path.write_text(json.dumps({"not": "a list"}))
    with pytest.raises(ValueError):
        DebtBook(path)
    path.write_text(json.dumps([{"worker": A, "channel_id": "ab", "amount": 1, "memo": "m"}]))
    with pytest.raises(ValueError):
        DebtBook(path)


def test_a_debts_payment_mark_is_durable_and_dropped_or_paid(tmp_path: Path) -> None:
    path = tmp_path / "debts.json"
    book = DebtBook(path)
    debt = Debt(A, "ab" * 32, 1_234, "task 1 segment 0")
    book.add(debt)
    marked = book.mark(debt, 7)
    assert marked.paying_version == 7 and DebtBook(path).all() == [marked]  # on disk
    with pytest.raises(ValueError):
        book.mark(debt, 8)  # the unmarked one is no longer kept
    assert book.unmark(marked) == debt and DebtBook(path).all() == [debt]
    book.paid(book.mark(debt, 9))
    assert DebtBook(path).all() == []
    bad = {"worker": A, "channel_id": "ab" * 32, "amount": 1, "memo": "m", "paying_version": 0}
    path.write_text(json.dumps([bad]))
    with pytest.raises(ValueError, match="bad debt"):
        DebtBook(path)


def test_discard_last_forgets_the_newest_checkpoint() -> None:
    job = new_job()
    with pytest.raises(LookupError):
        job.discard_last()
    job._announced(A, note(1, 3_010, 1), 0)
    job._announced(A, note(2, 6_020, 2), 0)
    assert job.discard_last() == Announced(A, note(2, 6_020, 2))
    assert job.last_checkpoint == Announced(A, note(1, 3_010, 1))
    resume = job.resume_spec()
    assert resume is not None and resume.state_hash == bytes([1]) * 32


def lost_then_resumed(resume_at: int, claimed_two: int = 6_020) -> CheckpointedJob:
    """A announces images 1 and 2 (image 2 at *claimed_two* fuel, its word) and is lost
    (no answer); B resumes from image *resume_at* (0: the start) and finishes."""
    job = new_job()
    one, two = note(1, 3_010, 1), note(2, claimed_two, 2)
    add(job, A, None, two.fuel_used, None, (one, two))
    start = {0: None, 1: Announced(A, one), 2: Announced(A, two)}[resume_at]
    rest = RESTS[None if start is None else resume_at]
    add(job, B, JobResult(bytes(16), b"out"), rest + COST, start, (note(3, 8_030, 3),))
    return job


async def test_a_lost_worker_is_paid_for_the_images_the_result_builds_on() -> None:
    job = lost_then_resumed(2)
    claims = await assess(job, FuelReference(WHOLE, COST, rerun))
    assert [(c.fuel, c.unpaid) for c in claims] == [(6_020, ""), (4_010, "")]


async def test_a_lost_worker_is_paid_only_up_to_the_image_resumed() -> None:
    """Its last image was not recorded (the SDK dropped it): the next segment resumed
    from the one before, and only that much of its work is paid."""
    job = lost_then_resumed(1)
    claims = await assess(job, FuelReference(WHOLE, COST, rerun))
    assert [(c.fuel, c.unpaid) for c in claims] == [(3_010, ""), (7_010, "")]


async def test_a_lost_worker_whose_images_were_not_resumed_is_not_paid() -> None:
    job = lost_then_resumed(0)
    claims = await assess(job, None)
    assert claims[0].unpaid.startswith("its work was not resumed")
    assert claims[1] == type(claims[1])(10_010, "")


async def test_a_lost_worker_inflating_its_announced_fuel_is_not_paid() -> None:
    """Its announcements are its word: image 2 announced at 9,000 fuel where the work
    up to it is 6,020. The total goes over the reference and the re-run attributes it."""
    job = lost_then_resumed(2, claimed_two=9_000)
    claims = await assess(job, FuelReference(WHOLE, COST, rerun))
    assert claims[0].unpaid == "claims 9000 fuel, a re-run confirms 6020"
    assert claims[1].unpaid == ""
    blind = await assess(job, FuelReference(WHOLE, COST))
    assert all(c.unpaid.startswith("the segments claim 13010 fuel") for c in blind)


async def test_a_failed_worker_is_paid_for_the_images_the_result_builds_on() -> None:
    """A ran out of fuel after images 1 and 2 (``job_failed``, its claim the whole fuel
    limit); B resumed from image 2: A is paid its images' work, not its claim."""
    job = new_job()
    one, two = note(1, 3_010, 1), note(2, 6_020, 2)
    add(job, A, JobFailed(bytes(16), "out_of_fuel", "", 9_999_999), 9_999_999, None, (one, two))
    add(job, B, JobResult(bytes(16), b"out"), 4_010, Announced(A, two), (note(3, 8_030, 3),))
    claims = await assess(job, FuelReference(WHOLE, COST, rerun))
    assert [(c.fuel, c.unpaid) for c in claims] == [(6_020, ""), (4_010, "")]


async def test_a_segment_that_goes_back_is_unpaid_and_progress_is_paid_once() -> None:
    """B announces image 2 at less fuel than the image it resumed from (it went back: an
    older state, or a lie); C resumes from it and finishes, redoing 1,000 to 3,010 fuel,
    which A was paid for already. B earns nothing (not an error: a price of a negative
    fuel would raise), A keeps its pay, and C is paid what is new."""
    job = new_job()
    one = note(1, 3_010, 1)
    add(job, A, suspended(one, 3_010), 3_010, None, (one,))
    low = note(2, 1_000, 2)
    add(job, B, None, 0, Announced(A, one), (low,))
    add(job, C, JobResult(bytes(16), b"out"), 7_010, Announced(B, low), ())
    claims = await assess(job, None)
    assert claims[0] == Claim(3_010, "")
    assert claims[1] == Claim(
        0, "it stopped at 1000 fuel, no further than the image it resumed from (3010 fuel)"
    )
    assert claims[2] == Claim(1_000 + 7_010 - 3_010, "")


async def test_a_replayed_image_loop_is_not_paid_twice() -> None:
    """A and B collude: A stops at a, B resumes a and stops at b; A resumes b, records
    a copy of a under its new segment's job id and suspends at once; B resumes the copy
    and records a copy of b, claiming its work again; C resumes that and finishes.
    Every image opens and matches its announcement, but the job went back at A's
    second segment: the progress from a to b is paid once, to B's first segment."""
    job = new_job()
    a, b = note(1, 1_000, 1), note(2, 5_000, 2)
    a2 = JobCheckpoint(bytes([2]) * 16, 3, 1_000, a.state_hash, a.arweave_tx_id, a.size)
    b2 = JobCheckpoint(bytes([3]) * 16, 4, 5_000, b.state_hash, b.arweave_tx_id, b.size)
    add(job, A, suspended(a, 1_000), 1_000, None, (a,))
    add(job, B, suspended(b, 4_000), 4_000, Announced(A, a), (b,))
    add(job, A, suspended(a2, 0), 0, Announced(B, b), (a2,))
    add(job, B, suspended(b2, 4_000), 4_000, Announced(A, a2), (b2,))
    add(job, C, JobResult(bytes(16), b"out"), 5_000, Announced(B, b2), ())
    claims = await assess(job, None)
    assert [c.fuel if not c.unpaid else None for c in claims] == [
        1_000,
        4_000,
        None,
        None,
        5_000,
    ]
    assert claims[2].unpaid.startswith("it stopped at 1000 fuel, no further")
    assert claims[3].unpaid.startswith("the fuel it covers (1000 to 5000) was covered before")


async def test_a_replay_at_the_same_fuel_cuts_nobody_off() -> None:
    """M records H's image again as its own (no key, no work) and announces it with H's
    numbers; N resumes it and finishes. M earns nothing; A and H keep their pay."""
    job = new_job()
    one, two = note(1, 1_000, 1), note(2, 2_000, 2)
    same = JobCheckpoint(bytes([4]) * 16, 2, 2_000, two.state_hash, two.arweave_tx_id, two.size)
    add(job, A, suspended(one, 1_000), 1_000, None, (one,))
    add(job, B, suspended(two, 1_000), 1_000, Announced(A, one), (two,))
    add(job, C, suspended(same, 0), 0, Announced(B, two), (same,))
    add(job, A, JobResult(bytes(16), b"out"), 3_000, Announced(C, same), ())
    claims = await assess(job, None)
    assert [c.fuel if not c.unpaid else None for c in claims] == [1_000, 1_000, None, 3_000]


async def test_images_claiming_more_than_the_fuel_limit_are_not_paid() -> None:
    job = new_job()
    job.base = replace(job.base, fuel_limit=5_000)
    one = note(1, 9_000, 1)  # more than one segment can burn
    add(job, A, None, 9_000, None, (one,))
    job.segments[0] = replace(job.segments[0], request=job.base)
    add(job, B, JobResult(bytes(16), b"out"), 1_010, Announced(A, one), ())
    claims = await assess(job, None)
    assert claims[0].unpaid == (
        "its images claim 9000 fuel and 1 checkpoints, more than its fuel limit of 5000 allows"
    )
    assert claims[1] == Claim(1_010, "")


async def test_a_segment_resumed_from_an_image_that_cannot_be_opened_is_not_measured() -> None:
    """A's image 1 cannot be opened (not on the gateway under its hash, wrong key): B,
    who says it resumed from it and suspended at image 2, cannot have its work measured
    from A's announcement; C, which resumed B's image and finished, is paid."""
    job = new_job()
    one, two = note(1, 3_010, 9), note(2, 6_020, 2)
    add(job, A, suspended(one, 3_010), 3_010, None, (one,))
    add(job, B, suspended(two, 3_010), 3_010, Announced(A, one), (two,))
    add(job, C, JobResult(bytes(16), b"out"), 4_010, Announced(B, two), ())

    async def some_open(at: Announced) -> ImageFacts:
        if at.checkpoint.state_hash[0] == 9:
            raise ValueError("the stored checkpoint does not match")
        return await open_image(at)

    claims = await assess(job, None, open_image=some_open)
    assert claims[0].unpaid.startswith("its checkpoint 1 cannot be opened")
    assert claims[1].unpaid == "it resumed from an image that cannot be opened"
    assert claims[2] == Claim(4_010, "")


def test_a_refused_result_reopens_the_job() -> None:
    job = new_job()
    add(job, A, JobResult(bytes(16), b"forged"), 5, None, ())
    assert job.result is not None
    job.reject_result("bad signature")
    assert job.result is None and job.segments[0].rejected == "bad signature"
    with pytest.raises(RuntimeError):
        job.reject_result("again")


# what each made-up image holds, by its tag: (its sequence number, the job's fuel at it)
IMAGES = {1: (1, 3_010), 2: (2, 6_020), 3: (3, 8_030), 4: (4, 9_000)}


async def open_image(at: Announced) -> ImageFacts:
    number, fuel = IMAGES[at.checkpoint.state_hash[0]]
    return ImageFacts(number, fuel)


async def test_an_announcement_that_is_not_its_image_moves_no_pay() -> None:
    """A announces image 2 at 7,020 fuel (its image holds 6,020) and suspends there with a
    claim to match; B resumes from it and suspends honestly at image 3, so that B's claim
    (8,030 - 6,020) looks 1,000 too high against A's word and B would go unpaid while A
    took 1,000 of B's work. Opened, image 2 convicts A, and B's claim is measured from
    what the image holds."""
    job = new_job()
    one, two, three = note(1, 3_010, 1), note(2, 7_020, 2), note(3, 8_030, 3)
    add(job, A, suspended(two, 7_020), 7_020, None, (one, two))
    add(job, B, suspended(three, 2_010), 2_010, Announced(A, two), (three,))
    add(job, C, JobResult(bytes(16), b"out"), 2_000, Announced(B, three), ())
    blind = await assess(job, None)
    assert [c.unpaid for c in blind] == ["", "claims 2010 fuel, its checkpoints 1010", ""]
    claims = await assess(job, None, open_image=open_image)
    assert claims[0].unpaid == (
        "announced checkpoint 2 at 7020 fuel; its image is checkpoint 2 at 6020 fuel"
    )
    assert [(c.fuel, c.unpaid) for c in claims[1:]] == [(2_010, ""), (2_000, "")]


async def test_an_older_image_announced_under_a_newer_number_is_not_paid() -> None:
    """A records image 1's bytes again and announces them as checkpoint 2 at 6,020 fuel,
    to be paid for work it never did; B resumes (redoing it) and finishes."""
    job = new_job()
    one = note(1, 3_010, 1)
    stale = JobCheckpoint(bytes(16), 2, 6_020, one.state_hash, one.arweave_tx_id, one.size)
    add(job, A, suspended(stale, 6_020), 6_020, None, (one, stale))
    add(job, B, JobResult(bytes(16), b"out"), 7_010, Announced(A, stale), ())
    claims = await assess(job, None, open_image=open_image)
    assert claims[0].unpaid.endswith("its image is checkpoint 1 at 3010 fuel")
    assert claims[1] == Claim(7_010, "")


async def test_an_image_that_cannot_be_opened_leaves_its_worker_unpaid() -> None:
    job, _, fuel_b = honest_two()

    async def gateway_down(at: Announced) -> ImageFacts:
        raise ConnectionError("gateway down")

    claims = await assess(job, None, open_image=gateway_down)
    assert claims[0].unpaid == "its checkpoint 2 cannot be opened: gateway down"
    assert claims[1] == Claim(fuel_b, "")
    honest = await assess(job, FuelReference(WHOLE, COST, rerun), open_image=open_image)
    assert [c.unpaid for c in honest] == ["", ""]
