"""A job run with VM checkpoints, possibly across workers: the requester's side of
``docs/vm-checkpoints.md``, section 8 (messages: ``docs/protocol.md``, section 8).

:class:`CheckpointedJob` holds what the job needs on every worker: the request (module,
input, args, seed, fuel limit per segment, task id), the sealing key (32 random bytes
unless given: the requester's secret; whoever holds it can open the images), the
checkpoint interval, and the trail so far. Each :meth:`CheckpointedJob.run_segment` runs
one segment on one :class:`~.sessions.WorkerSession`: the first from the start, every
later one with ``resume`` from the last checkpoint announced (by the worker that
archived it). It collects the ``job_checkpoint`` announcements (:attr:`checkpoints`)
and ends with the worker's answer: a result, a failure, or ``job_suspended``
(:meth:`CheckpointedJob.suspend` asks for one). :attr:`segments` keeps each segment's
worker and the fuel it claims (what it bills: its own run only).

Checking and paying is the caller's (:meth:`ccnet.client.requester.Requester.run_segment`
and :meth:`~ccnet.client.requester.Requester.settle_checkpointed` do it with payment
channels). Announcements are the workers' word: the worker resuming a job checks the
image against its owner's record on chain and the job; a result is checked as any
(signature, binding to this request). Which segments are paid is
:func:`unpaid_reasons` (``docs/vm-checkpoints.md`` section 8.1): those the result
builds on, and, given a :class:`FuelReference` (an uninterrupted run's fuel), at most
that plus ``k`` x the per-checkpoint cost in all, a claim over it being confirmed by
re-running the segment (:data:`Rerun`) or not paid.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace

from ..exceptions import MalformedMessageError
from ..jobs.billing import DEFAULT_RATE_PLANCK_PER_FUEL
from ..jobs.messages import (
    CHECKPOINT_KEY_SIZE,
    CheckpointSpec,
    JobCheckpoint,
    JobFailed,
    JobRequest,
    JobResult,
    JobSuspended,
    ResumeSpec,
)
from ..jobs.results import SignedResult
from .exceptions import ImageUnavailableError
from .sessions import WorkerSession

__all__ = [
    "Announced",
    "Claim",
    "CheckpointedJob",
    "CheckpointedOutcome",
    "FuelReference",
    "ImageFacts",
    "OpenImage",
    "Rerun",
    "Segment",
    "assess",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Announced:
    """A checkpoint a worker announced (``job_checkpoint`` or ``job_suspended``)."""

    worker: str
    """SS58 of the worker that archived it: the owner of its record on chain."""
    checkpoint: JobCheckpoint
    """Its sequence number, the job's fuel up to it (all segments), and the record."""


@dataclass(frozen=True)
class Segment:
    """One worker's run of the job."""

    worker: str
    """SS58 of the worker."""
    request: JobRequest
    """The request it was sent."""
    reply: JobResult | JobFailed | JobSuspended | None
    """How it ended; ``None``: it was lost (no answer: the worker went silent, its
    session dropped or timed out) after it announced checkpoints."""
    fuel_used: int
    """The fuel this worker claims for its run (``segment_fuel`` of a suspension, the
    signed result's ``fuel_used``, a failure's ``fuel_used``; for a lost segment, the
    job's fuel at its last announced checkpoint less the fuel it started from: the
    most its images can be worth), fuel."""
    resumed_from: Announced | None
    """The checkpoint it started from (``None``: the job's start)."""
    reserved: int = 0
    """Planck the requester reserved for it on ``request.channel_id`` (released when
    the job is settled, or at once after a failure)."""
    announced: tuple[JobCheckpoint, ...] = ()
    """The checkpoints this segment's worker announced and the SDK kept, in order (its
    suspension's image last, for a suspended segment): the images it took, as it says."""
    rejected: str = ""
    """Why its ``job_result`` was refused (a bad signature or binding, a wrong output):
    the job goes on from the last checkpoint, as after a failure ("": not refused)."""


@dataclass(frozen=True)
class CheckpointedOutcome:
    """A settled :class:`CheckpointedJob`."""

    verified: bool
    """Whether the final result passed the checks (then its segments were paid)."""
    reason: str
    """Why not, when not verified."""
    output: bytes | None
    """The job's output (its stdout), when verified."""
    segment_fuel: tuple[int, ...]
    """The fuel each segment claimed, in order, fuel."""
    paid: tuple[int, ...]
    """Planck paid for each segment, in order (0: failed, unpaid, or not verified)."""
    unpaid_reasons: tuple[str, ...]
    """Why each segment was not paid, in order ("" for a paid one, or one that named
    no channel)."""
    checkpoints: tuple[Announced, ...]
    """The checkpoints announced, over all segments."""
    owed: tuple[int, ...] = ()
    """Planck owed to each segment's worker and kept as a debt (its payment failed:
    the worker was unreachable), in order; paid by
    :meth:`~ccnet.client.requester.Requester.pay_debts` once it is reachable."""

    @property
    def cost_planck(self) -> int:
        """Everything paid, planck."""
        return sum(self.paid)


class CheckpointedJob:
    """One job with VM checkpoints (see the module docs).

    *base*: the job's request (its ``job_id``, rate, channel, ``checkpoint`` and
    ``resume`` are set per segment; give ``task_id`` so that every segment's result is
    bound to the same id, and ``fuel_limit``, the budget of each segment, fuel);
    *module*: the Wasm bytes (sent when a worker asks); *every_fuel*: fuel between
    checkpoints (counted over all segments, positive); *key*: the 32-byte sealing key
    (default: random). ``ValueError`` for a bad *every_fuel* or *key*.
    """

    def __init__(
        self, base: JobRequest, module: bytes, *, every_fuel: int, key: bytes | None = None
    ) -> None:
        if isinstance(every_fuel, bool) or every_fuel <= 0 or every_fuel >= 2**64:
            raise ValueError("every_fuel must be a positive u64 amount of fuel")
        key = os.urandom(CHECKPOINT_KEY_SIZE) if key is None else key
        if len(key) != CHECKPOINT_KEY_SIZE:
            raise ValueError(f"the sealing key must be {CHECKPOINT_KEY_SIZE} bytes")
        self.base = base
        self.module = module
        self.every_fuel = every_fuel
        self.key = key
        self.checkpoints: list[Announced] = []
        """Checkpoints announced so far, in order, over all segments."""
        self.segments: list[Segment] = []
        """Segments that ended, in order."""
        self.settled = False
        """Whether the requester settled it (no more segments, nothing more paid)."""
        self.on_change: Callable[[], None] | None = None
        """Called after each checkpoint kept and at each segment's end (e.g. to save
        the job durably: ``ccnet job run --checkpoint-every`` does); must not raise."""
        self._running: tuple[WorkerSession, bytes] | None = None

    @property
    def last_checkpoint(self) -> Announced | None:
        """The newest checkpoint announced (where the next segment resumes)."""
        return self.checkpoints[-1] if self.checkpoints else None

    @property
    def result(self) -> JobResult | None:
        """The job's result, once a segment ran to the end (and it was not refused)."""
        last = self.segments[-1] if self.segments else None
        if last is None or last.rejected or not isinstance(last.reply, JobResult):
            return None
        return last.reply

    def reject_result(self, reason: str) -> None:
        """Refuse the result the last segment returned (*reason*: why; the caller's
        check failed): the job is not done, the next segment resumes from the last
        checkpoint, and that segment is paid as a failed one. ``RuntimeError`` when
        the last segment has no result or the job was settled."""
        if self.settled or self.result is None:
            raise RuntimeError("no result to refuse")
        self.segments[-1] = replace(self.segments[-1], rejected=reason or "refused")
        self._changed()

    @property
    def segment_fuel(self) -> tuple[int, ...]:
        """The fuel each segment claims, in order, fuel."""
        return tuple(s.fuel_used for s in self.segments)

    def discard_last(self) -> Announced:
        """Forget the newest checkpoint announced, which the requester found cannot be
        resumed (e.g. a worker answered ``malformed`` to it, and the requester's own
        check, :class:`ccnet.worker.checkpointing.LocalRerun`, refuses it too: another
        job's image announced as this one's); the next segment resumes from the one
        before (or the start), and the segment that announced it is then not paid
        (``docs/vm-checkpoints.md`` 8.1). Returns it; ``RuntimeError`` while a segment
        runs, ``LookupError`` when there is none."""
        if self._running is not None:
            raise RuntimeError("a segment of this job is running")
        if not self.checkpoints:
            raise LookupError("no checkpoint was announced")
        return self.checkpoints.pop()

    def resume_spec(self) -> ResumeSpec | None:
        """The ``resume`` of the next segment: the last checkpoint announced, named by
        its worker's record of the job it announced it for (the announcement's
        ``job_id``, the id of that segment's request) and its sequence number."""
        last = self.last_checkpoint
        if last is None:
            return None
        note = last.checkpoint
        return ResumeSpec(
            owner=last.worker,
            job_id=note.job_id,
            checkpoint=note.checkpoint,
            arweave_tx_id=note.arweave_tx_id,
            state_hash=note.state_hash,
            size=note.size,
            key=self.key,
        )

    def next_request(
        self, *, rate_planck_per_fuel: int | None = None, channel_id: bytes | None = None
    ) -> JobRequest:
        """The request of the next segment (a fresh ``job_id``)."""
        return replace(
            self.base,
            job_id=os.urandom(16),
            rate_planck_per_fuel=(
                self.base.rate_planck_per_fuel
                if rate_planck_per_fuel is None
                else rate_planck_per_fuel
            ),
            channel_id=channel_id,
            checkpoint=CheckpointSpec(self.every_fuel, self.key),
            resume=self.resume_spec(),
        )

    def _announced(self, worker: str, note: JobCheckpoint, first: int) -> None:
        """Keep *worker*'s announcement *note* of the running segment, whose own
        announcements start at index *first* of :attr:`checkpoints`. The order is
        checked within the segment only: an earlier worker's sequence numbers and fuel
        are its word, and a forged high number must not hide the next worker's
        checkpoints (the next segment would then redo its work)."""
        last = self.checkpoints[-1] if len(self.checkpoints) > first else None
        if last is not None and (
            note.checkpoint <= last.checkpoint.checkpoint
            or note.fuel_used <= last.checkpoint.fuel_used
        ):
            if last.checkpoint == note and last.worker == worker:
                return  # a suspension repeats the last announcement
            logger.info("%s announced checkpoint %d out of order; ignored", worker, note.checkpoint)
            return
        self.checkpoints.append(Announced(worker, note))
        self._changed()

    def _changed(self) -> None:
        if self.on_change is not None:
            self.on_change()

    async def run_segment(
        self,
        session: WorkerSession,
        timeout: float,
        *,
        rate_planck_per_fuel: int = DEFAULT_RATE_PLANCK_PER_FUEL,
        channel_id: bytes | None = None,
        reserved: int = 0,
    ) -> JobResult | JobFailed | JobSuspended:
        """Run the next segment on *session*'s worker (from the last checkpoint, if
        any) at *rate_planck_per_fuel* (planck/fuel), paid through *channel_id* (or
        none) on which the caller reserved *reserved* planck, and return how it
        ended; :attr:`checkpoints` and :attr:`segments` are updated. Raises what
        :meth:`WorkerSession.run_job
        <ccnet.client.requester.sessions.WorkerSession.run_job>` raises (nothing is
        recorded then), and ``RuntimeError`` while a segment runs or once the job has
        its result or was settled."""
        if self.settled:
            raise RuntimeError("the job was settled")
        if self._running is not None:
            raise RuntimeError("a segment of this job is running")
        if self.result is not None:
            raise RuntimeError("the job has its result")
        request = self.next_request(
            rate_planck_per_fuel=rate_planck_per_fuel, channel_id=channel_id
        )
        start = self.last_checkpoint
        worker = session.worker
        first = len(self.checkpoints)
        self._running = (session, request.job_id)
        try:
            exchange = await session.run_job(
                request,
                self.module,
                timeout,
                on_checkpoint=lambda note: self._announced(worker, note, first),
            )
        except BaseException:
            notes = tuple(a.checkpoint for a in self.checkpoints[first:])
            if notes:  # its images may be resumed: what they are worth is settled later
                before = 0 if start is None else start.checkpoint.fuel_used
                lost = notes[-1].fuel_used - before
                self.segments.append(Segment(worker, request, None, lost, start, reserved, notes))
                self._changed()
            raise
        finally:
            self._running = None
        reply = exchange.reply
        if isinstance(reply, JobSuspended):
            self._announced(worker, reply.image, first)
            fuel = reply.segment_fuel
        elif isinstance(reply, JobFailed):
            fuel = reply.fuel_used
        else:
            try:
                fuel = SignedResult.from_json(dict(reply.result)).fuel_used
            except MalformedMessageError:
                fuel = 0  # an invalid result: the caller's check says so
        notes = tuple(a.checkpoint for a in self.checkpoints[first:])
        self.segments.append(Segment(worker, request, reply, fuel, start, reserved, notes))
        self._changed()
        return reply

    async def suspend(self) -> None:
        """Ask the worker running the current segment to suspend it at its next safe
        point (its :meth:`run_segment` then returns the ``job_suspended``). Does
        nothing when no segment runs. Raises
        :class:`~ccnet.client.net.exceptions.TransportClosedError`."""
        if self._running is not None:
            session, job_id = self._running
            await session.suspend(job_id)


Rerun = Callable[[Announced | None], Awaitable[int]]
"""The fuel of an uninterrupted run of the job, without checkpoints, from an announced
checkpoint (its owner's record on chain, opened under the job's key) or from the start
(``None``) to its end, fuel; raises :class:`~.exceptions.ImageUnavailableError` when
the image cannot be fetched now, any other :class:`Exception` when it cannot be
opened or run (the segments it would confirm are then unconfirmed).
:class:`ccnet.worker.checkpointing.LocalRerun` runs it in a local sandbox."""


@dataclass(frozen=True)
class FuelReference:
    """What the segments' fuel is checked against (``docs/vm-checkpoints.md`` 8.1)."""

    fuel: int
    """An uninterrupted run's fuel, without checkpoints (e.g. a verifier's, or a local
    run's), fuel."""
    checkpoint_cost: int
    """The documented fuel of one checkpoint of this module (section 4: 792 for
    ``prime_count``), fuel."""
    rerun: Rerun | None = None
    """Re-runs the job from a checkpoint, to attribute an excess (``None``: an excess
    cannot be attributed, and no segment is paid)."""


def _same(a: JobCheckpoint, b: JobCheckpoint) -> bool:
    """Whether two announcements name the same archived image (the same job record:
    job id and sequence number, and the same bytes)."""
    return (a.job_id, a.checkpoint, a.state_hash, a.arweave_tx_id, a.size) == (
        b.job_id,
        b.checkpoint,
        b.state_hash,
        b.arweave_tx_id,
        b.size,
    )


@dataclass(frozen=True)
class Claim:
    """What a segment of a settled job is paid for (:func:`assess`)."""

    fuel: int
    """The fuel paid for, fuel (its claim, or for a lost segment the work its images
    hold up to the one resumed; meaningless when unpaid)."""
    unpaid: str = ""
    """Why it is not paid ("": it is)."""


@dataclass(frozen=True)
class ImageFacts:
    """What an archived image itself says (``docs/vm-checkpoints.md`` section 3), read
    by opening it under the job's key."""

    checkpoint: int
    """Its sequence number within the job (the checkpoints taken, this one included)."""
    fuel_used: int
    """The job's fuel up to it, over all segments, fuel."""


OpenImage = Callable[[Announced], Awaitable[ImageFacts]]
"""Opens an announced checkpoint (its owner's record on chain, under the job's key) and
returns what the image says; raises :class:`~.exceptions.ImageUnavailableError` when
it cannot be fetched now, any other :class:`Exception` when it cannot be opened (no
such record, wrong bytes or key). :meth:`ccnet.worker.checkpointing.ImageOpener.facts`
is one."""


async def assess(
    job: CheckpointedJob,
    reference: FuelReference | None,
    *,
    open_image: OpenImage | None = None,
) -> list[Claim]:
    """What each segment of *job* (whose final result verified) is paid for, in order.
    The rules of ``docs/vm-checkpoints.md`` section 8.1:

    - only the segments the final result builds on are paid: the last one, the one
      whose image it resumed from, and so on back to the start (a suspension the next
      segment did not resume from, e.g. an image not recorded on chain, was no use);
      a path segment whose next one resumed from an earlier image than the one it
      stopped at is not paid either;
    - with *open_image*, every image the path resumed from is opened, and its own
      sequence number and cumulative fuel replace the announcement's: a worker whose
      announcement differs from its image is not paid (an inflated or deflated fuel
      would move pay between it and the next worker, whose claim is measured from
      it; an older image re-recorded under a new number would be paid twice), nor is
      one whose image cannot be opened, nor one measured from such an image; without
      it, announcements are taken at their word;
    - a segment that stops no further (in fuel) than it started, or whose images claim
      more than its fuel limit allows, is not paid;
    - each stretch of the job's cumulative fuel is paid once, to the first segment of
      the path that covered it (after a replayed older image, a later claim over fuel
      already covered is cut to what is new: section 8.1, rule 11);
    - a suspended segment whose claim is not the difference of the cumulative fuel of
      the checkpoints it started and stopped at is not paid;
    - a segment that ended without a suspension or a result it is paid for (failed,
      lost: no answer, or a refused result) is paid, when on the path, that difference
      up to the image the next one resumed from: its work that the result builds on,
      at its word; nothing when that is not positive;
    - with *reference*: the payable claims may add up to at most ``reference.fuel + k x
      reference.checkpoint_cost``, ``k`` the images the path's workers announced (at
      most ``reference.fuel // every_fuel`` plus the path's length). Beyond that,
      each payable segment is re-run from the image it started at and the one it
      stopped at (``reference.rerun``); a segment claiming more than the difference
      of those runs plus the cost of the images it announced (at most its share of
      the interval, plus its suspension) is not paid. Without ``rerun`` none is.

    Raises :class:`~.exceptions.ImageUnavailableError` when an image cannot be fetched
    now (by *open_image* or a re-run): nothing can be decided then. Any other error of
    a re-run or an opening leaves its segment unconfirmed (unpaid)."""
    count = len(job.segments)
    fuel = [segment.fuel_used for segment in job.segments]
    images = [len(segment.announced) for segment in job.segments]
    why = ["its work was not resumed: the final result does not build on it"] * count
    if not count:
        return []
    path = _path(job)
    opened, refused = await _open_path(path, open_image)

    def at(image: Announced | None) -> ImageFacts:
        if image is None:
            return ImageFacts(0, 0)
        note = image.checkpoint
        return opened.get(
            (image.worker, note.state_hash), ImageFacts(note.checkpoint, note.fuel_used)
        )

    def unopened(image: Announced | None) -> bool:
        return (
            open_image is not None
            and image is not None
            and (image.worker, image.checkpoint.state_hash) not in opened
        )

    why[-1] = ""
    ends: dict[int, JobCheckpoint | None] = {count - 1: None}
    for producer, found in path:
        segment = job.segments[producer]
        start, end = at(segment.resumed_from), at(found)
        ends[producer] = found.checkpoint
        work = end.fuel_used - start.fuel_used
        limit = segment.request.fuel_limit
        if work <= 0:  # a replayed or older image: the job went back (or stood still)
            why[producer] = (
                f"it stopped at {end.fuel_used} fuel, no further than the image it "
                f"resumed from ({start.fuel_used} fuel)"
            )
        elif limit is not None and (
            work > limit or end.checkpoint - start.checkpoint > limit // job.every_fuel + 2
        ):
            why[producer] = (
                f"its images claim {work} fuel and {end.checkpoint - start.checkpoint} "
                f"checkpoints, more than its fuel limit of {limit} allows"
            )
        elif producer in refused:
            why[producer] = refused[producer]
        elif unopened(segment.resumed_from):
            # measured from an image nobody can read: the announcement is not a measure
            why[producer] = "it resumed from an image that cannot be opened"
        elif not isinstance(segment.reply, JobSuspended):  # failed, lost or refused
            # paid for the images the job resumed from, as far as the next one resumed
            why[producer] = ""
            fuel[producer] = work
            images[producer] = 1 + next(
                k for k, note in enumerate(segment.announced) if _same(note, found.checkpoint)
            )
        elif _same(segment.reply.image, found.checkpoint):
            why[producer] = (
                ""
                if work == segment.fuel_used
                else f"claims {segment.fuel_used} fuel, its checkpoints {work}"
            )
        else:
            why[producer] = (
                "the next segment resumed from an earlier image than the one it stopped "
                "at (not recorded on chain)"
            )
        if fuel[producer] < 0 or work <= 0:  # a claim below zero is a lie, never a price
            why[producer], fuel[producer] = why[producer] or "a negative claim", 0
    _pay_progress_once(job, path, at, fuel, why)
    await _confirm(job, reference, ends, fuel, images, why)
    return [Claim(f, w) for f, w in zip(fuel, why, strict=True)]


def _pay_progress_once(
    job: CheckpointedJob,
    path: list[tuple[int, Announced]],
    at: Callable[[Announced | None], ImageFacts],
    fuel: list[int],
    why: list[str],
) -> None:
    """Pay each stretch of the job's progress (its cumulative fuel) once, to the first
    segment of the path that covered it, whether that one is paid or not. After the job
    went back (a replayed or older image), a later segment's claim over fuel already
    covered is cut to what is new: otherwise a copied image could be paid again (a
    loop of replays), and nothing tells a copy from a run again without re-running
    it. The one that went back earns nothing; the segments before it keep their pay."""
    order = [producer for producer, _ in reversed(path)] + [len(job.segments) - 1]
    ends = {producer: at(found).fuel_used for producer, found in path}
    high = 0
    for j in order:
        start = at(job.segments[j].resumed_from).fuel_used
        end = ends.get(j, start + fuel[j])  # the last: from its start, its claim
        if end <= start:
            continue
        if not why[j] and start < high:
            new = max(0, end - high)
            if new < fuel[j]:
                fuel[j] = new
                if not new:
                    why[j] = (
                        f"the fuel it covers ({start} to {end}) was covered before it by "
                        "another segment (the job went back)"
                    )
        high = max(high, end)


def _path(job: CheckpointedJob) -> list[tuple[int, Announced]]:
    """The segments the final result builds on, last first, but for the last itself:
    each as (its index, the image of it the next segment on the path resumed from).
    The walk stops at an image no earlier segment of its worker announced."""
    path: list[tuple[int, Announced]] = []
    index, start = len(job.segments) - 1, job.segments[-1].resumed_from
    while start is not None:
        found = start
        producer = next(
            (
                j
                for j in range(index - 1, -1, -1)
                if job.segments[j].worker == found.worker
                and any(_same(note, found.checkpoint) for note in job.segments[j].announced)
            ),
            None,
        )
        if producer is None:
            break
        path.append((producer, found))
        index, start = producer, job.segments[producer].resumed_from
    return path


async def _open_path(
    path: list[tuple[int, Announced]], open_image: OpenImage | None
) -> tuple[dict[tuple[str, bytes], ImageFacts], dict[int, str]]:
    """Open each image *path* resumed from with *open_image*. Returns what each opened
    image says, by (owner, state hash), and why each segment of the path whose image is
    not its announcement, or cannot be opened, is not paid, by its index."""
    opened: dict[tuple[str, bytes], ImageFacts] = {}
    refused: dict[int, str] = {}
    if open_image is None:
        return opened, refused
    for producer, found in path:
        note = found.checkpoint
        try:
            facts = await open_image(found)
        except ImageUnavailableError:
            raise
        except Exception as err:  # noqa: BLE001 - any failure leaves it unconfirmed
            refused[producer] = f"its checkpoint {note.checkpoint} cannot be opened: {err}"
            continue
        opened[(found.worker, note.state_hash)] = facts
        if (facts.checkpoint, facts.fuel_used) != (note.checkpoint, note.fuel_used):
            refused[producer] = (
                f"announced checkpoint {note.checkpoint} at {note.fuel_used} fuel; its "
                f"image is checkpoint {facts.checkpoint} at {facts.fuel_used} fuel"
            )
    return opened, refused


async def _confirm(
    job: CheckpointedJob,
    reference: FuelReference | None,
    ends: dict[int, JobCheckpoint | None],
    fuel: list[int],
    images: list[int],
    why: list[str],
) -> None:
    """Check the payable claims (*fuel*, *images* taken) of the path (*ends*: each
    segment's last image resumed, ``None`` for the last) against *reference*, marking
    in *why* the ones not confirmed (see :func:`assess`)."""
    if reference is None:
        return
    path = sorted(ends)
    payable = [j for j in path if not why[j]]
    total = sum(fuel[j] for j in payable)
    k = min(sum(images[j] for j in path), reference.fuel // job.every_fuel + len(path))
    budget = reference.fuel + k * reference.checkpoint_cost
    if total <= budget:
        return
    if reference.rerun is None:
        for j in payable:
            why[j] = (
                f"the segments claim {total} fuel, over the reference's {budget}: no "
                "re-run to attribute the excess"
            )
        return
    rests: dict[tuple[str, bytes] | None, int] = {None: reference.fuel}

    async def rest(at: Announced | None) -> int:
        key = None if at is None else (at.worker, at.checkpoint.state_hash)
        if key not in rests:
            assert reference is not None and reference.rerun is not None
            rests[key] = await reference.rerun(at)
        return rests[key]

    for j in payable:
        segment = job.segments[j]
        end = ends[j]
        end_at = None if end is None else Announced(segment.worker, end)
        try:
            work = await rest(segment.resumed_from) - (0 if end_at is None else await rest(end_at))
        except ImageUnavailableError:
            raise
        except Exception as err:  # noqa: BLE001 - any failure leaves it unconfirmed
            why[j] = f"its claim cannot be confirmed: the re-run failed: {err}"
            continue
        taken = min(images[j], max(work, 0) // job.every_fuel + (1 if end is None else 2))
        confirmed = work + taken * reference.checkpoint_cost
        if fuel[j] > confirmed:
            why[j] = f"claims {fuel[j]} fuel, a re-run confirms {confirmed}"
    left = sum(fuel[j] for j in payable if not why[j])
    if left > budget:  # cannot happen with exact re-runs: a last guard on the total
        for j in payable:
            why[j] = why[j] or f"the confirmed claims {left} are over the reference's {budget}"
