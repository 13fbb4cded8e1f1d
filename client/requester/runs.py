"""One job across the workers chosen for it: request, check, decide, pay.

For each chosen worker, concurrently: a session (:class:`~.sessions.SessionPool`,
reused), its payment channel with the job's worst case reserved
(:class:`~.channelbook.ChannelBook`), a :class:`~ccnet.client.jobs.messages.JobRequest`
(the module is sent only if the worker asks), and the reply, checked alone
(:class:`~.checks.ResultChecker`). :func:`~.verdicts.decide` compares the valid results
(known answer, else majority, else the single one). Each agreeing result is paid with
**one** co-signed channel update of ``price(fuel, rate)``; dissenting, invalid and
failed results are paid nothing. The quality tracker learns every success and failure
(except ``busy``, which is no fault of the worker), the latency of protocol round trips
(module request, payment) and the tally counts everything. A plan may mix in a spot
check: one of the workers also gets a job whose answer is known.

Money rules: a payment never exceeds the job's reservation on the channel (its fuel
limit times the rate; a larger amount is cut to it and logged), the reservation is held
until the job is paid, failed and invalid replies (a fuel claim over the limit
included, :class:`~.exceptions.FuelClaimError`) are paid nothing, and a reply is only
ever taken for a job this requester sent. At most ``jobs_per_worker`` jobs
(:data:`DEFAULT_JOBS_PER_WORKER`, the worker daemon's default limit of unpaid jobs) are
in flight to one worker, each from its request to its payment; a spot check that finds
no free slot is skipped, and one the worker refuses for a reason that is not its fault
(``busy``) proves nothing either way.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, replace

from ..clock import now_ms
from ..exceptions import CcnetError
from ..jobs.billing import price
from ..jobs.failures import NOT_THE_WORKERS_FAULT
from ..jobs.messages import JobFailed, JobRequest, JobSuspended
from ..jobs.results import input_hash
from ..net.exceptions import NetError, TransportClosedError
from .channelbook import ChannelBook
from .checks import ResultChecker
from .discovery import WorkerOffer
from .outcomes import (
    Rejected,
    RequesterTally,
    SpotCheckReport,
    TaskOutcome,
    Verification,
    Verified,
    WorkerReport,
)
from .quality import QualityTracker
from .sessions import SessionPool, WorkerSession
from .spotchecks import KnownAnswers
from .verdicts import Decision, Plan, Reply, ReplyKind, decide, payments

__all__ = ["DEFAULT_JOBS_PER_WORKER", "JobRunner"]

logger = logging.getLogger(__name__)

DEFAULT_JOBS_PER_WORKER = 4
"""Jobs in flight to one worker at most (request sent, not paid yet): the worker
daemon's default ``max_unpaid_jobs``, so an honest requester is never refused for it."""

_NO_PROOF = Plan(redundancy=1, proof=None, needs_known_answer=False, mix_spot_check=False)


@dataclass
class _Attempt:
    """One worker's part of a job while it runs."""

    offer: WorkerOffer
    session: WorkerSession | None = None
    channel_id: bytes | None = None
    reserved: int = 0
    reply: Reply | None = None
    elapsed_ms: float | None = None


class JobRunner:
    """Runs jobs on chosen workers (see the module docs). *job_timeout*: seconds to wait
    for a reply; *rng*: randomness of the mixed-in spot checks (``secrets`` when None);
    *jobs_per_worker*: jobs in flight to one worker at most."""

    def __init__(
        self,
        pool: SessionPool,
        book: ChannelBook,
        checker: ResultChecker,
        answers: KnownAnswers,
        tracker: QualityTracker,
        tally: RequesterTally,
        *,
        job_timeout: float,
        rng: random.Random | None = None,
        jobs_per_worker: int = DEFAULT_JOBS_PER_WORKER,
    ) -> None:
        if jobs_per_worker < 1:
            raise ValueError("jobs_per_worker must be at least 1")
        self.pool = pool
        self.book = book
        self.checker = checker
        self.answers = answers
        self.tracker = tracker
        self.tally = tally
        self.job_timeout = job_timeout
        self.rng = rng
        self.jobs_per_worker = jobs_per_worker
        self._slots: dict[str, asyncio.Semaphore] = {}

    def _slot(self, worker: str) -> asyncio.Semaphore:
        slot = self._slots.get(worker)
        if slot is None:
            slot = self._slots[worker] = asyncio.Semaphore(self.jobs_per_worker)
        return slot

    async def run(
        self,
        workers: Sequence[WorkerOffer],
        base: JobRequest,
        wasm: bytes,
        plan: Plan,
        *,
        known_output_hash: bytes | None,
        timeout: float | None,
    ) -> TaskOutcome:
        """Run *base* (its ``job_id``, rate and channel are set per worker) on *workers*
        under *plan*, decide and pay. Raises the book's errors (nothing sent then)."""
        fuel = base.fuel_limit or 0
        attempts = [_Attempt(o) for o in workers]
        # one slot per worker, taken in address order (no deadlock between jobs)
        slots = [self._slot(w) for w in sorted({a.offer.address for a in attempts})]
        taken: list[asyncio.Semaphore] = []
        spot: asyncio.Task[SpotCheckReport | None] | None = None
        try:
            for slot in slots:
                await slot.acquire()
                taken.append(slot)
            await self._prepare(attempts, fuel)
            if plan.mix_spot_check:
                spot = asyncio.create_task(self._mixed_spot_check(attempts, fuel, timeout))
            await asyncio.gather(
                *(self._run(a, base, wasm, plan, timeout) for a in attempts if a.reply is None)
            )
            spot_report = await spot if spot is not None else None
            replies = [a.reply for a in attempts if a.reply is not None]
            if spot_report is not None and not spot_report.passed:
                replies = [
                    replace(r, kind=ReplyKind.INVALID, reason="failed a spot check")
                    if r.worker == spot_report.worker and r.valid
                    else r
                    for r in replies
                ]
            decision = decide(replies, asked=len(attempts), known_output_hash=known_output_hash)
            return await self._settle(base, attempts, replies, decision, plan, spot_report)
        finally:
            if spot is not None and not spot.done():
                spot.cancel()
            for attempt in attempts:  # held until paid: the payment may use all of it
                self._release(attempt)
            for slot in taken:
                slot.release()

    async def _prepare(self, attempts: Sequence[_Attempt], fuel: int) -> None:
        """Sessions (failures make the attempt ``unreachable``), then channels with the
        worst case reserved (failures raise: they are ours)."""

        async def connect(attempt: _Attempt) -> None:
            try:
                offer = attempt.offer
                attempt.session = await self.pool.get(offer.address, offer.endpoint)
            except CcnetError as err:
                attempt.reply = Reply(attempt.offer.address, ReplyKind.UNREACHABLE, reason=str(err))

        await asyncio.gather(*(connect(a) for a in attempts))
        for attempt in attempts:
            if attempt.session is None:
                continue
            offer = attempt.offer
            worst = price(fuel, offer.price_planck_per_fuel)
            attempt.channel_id, attempt.session = await self.book.reserve(
                offer.address, offer.endpoint, attempt.session, worst
            )
            attempt.reserved = worst

    def _release(self, attempt: _Attempt) -> None:
        if attempt.channel_id is not None and attempt.reserved:
            self.book.release(attempt.channel_id, attempt.reserved)
            attempt.reserved = 0

    async def _run(
        self, attempt: _Attempt, base: JobRequest, wasm: bytes, plan: Plan, timeout: float | None
    ) -> None:
        offer = attempt.offer
        assert attempt.session is not None
        request = replace(
            base,
            job_id=os.urandom(16),
            rate_planck_per_fuel=offer.price_planck_per_fuel,
            channel_id=attempt.channel_id,
        )
        self.tally.worker(offer.address).jobs += 1
        wait = timeout or self.job_timeout
        try:
            exchange = await attempt.session.run_job(request, wasm, wait)
        except TimeoutError:
            attempt.reply = Reply(
                offer.address, ReplyKind.UNREACHABLE, reason=f"no reply within {wait:g} s"
            )
            return
        except (TransportClosedError, NetError) as err:
            attempt.reply = Reply(offer.address, ReplyKind.UNREACHABLE, reason=str(err))
            return
        attempt.elapsed_ms = exchange.elapsed_ms
        if exchange.module_rtt_ms is not None:
            self.tracker.observe_latency(offer.address, exchange.module_rtt_ms, now_ms())
        reply = exchange.reply
        if isinstance(reply, JobSuspended):  # run_job returns one only to checkpointed jobs
            attempt.reply = Reply(offer.address, ReplyKind.INVALID, reason="suspended the job")
            return
        if isinstance(reply, JobFailed):
            attempt.reply = Reply(
                offer.address,
                ReplyKind.FAILED,
                reason=reply.message,
                code=reply.code,
                fuel_used=reply.fuel_used,
            )
            return
        attempt.reply = await self.checker.check(
            offer.address, request, reply.output, reply.result, reply.proof, plan.proof
        )

    async def _pay(self, worker: str, channel_id: bytes, amount: int, memo: str) -> str:
        """Pay *amount* planck to *worker*; "" or why it failed (the amount stays owed)."""
        payment = await self.book.pay(worker, channel_id, amount, memo)
        if payment.rtt_ms is not None:
            self.tracker.observe_latency(worker, payment.rtt_ms, now_ms())
        if payment.ok:
            self.tally.worker(worker).cost += amount
        return payment.error

    async def _mixed_spot_check(
        self, attempts: Sequence[_Attempt], fuel: int, timeout: float | None
    ) -> SpotCheckReport | None:
        """Send one worker of this job (drawn at random) a job with a known answer; a
        wrong answer marks the worker as caught."""
        ready = [a for a in attempts if a.session is not None and a.channel_id is not None]
        usable = self.answers.mixable()
        if not ready or not usable:
            return None
        rng = self.rng or random.SystemRandom()
        attempt = rng.choice(ready)
        slot = self._slot(attempt.offer.address)
        if slot.locked():  # the worker's in-flight jobs are at the limit: skip
            return None
        await slot.acquire()  # free: returns at once
        try:
            return await self._spot_check(attempt, fuel, timeout)
        finally:
            slot.release()

    async def _spot_check(
        self, attempt: _Attempt, fuel: int, timeout: float | None
    ) -> SpotCheckReport | None:
        rng = self.rng or random.SystemRandom()
        usable = self.answers.mixable()
        known = rng.choice(usable)
        check_id = secrets.randbits(63)
        request = JobRequest(
            job_id=b"\0" * 16,
            module_hash=known.module_hash,
            input=known.stdin,
            args=known.args,
            fuel_limit=fuel,
            task_id=check_id,
        )
        probe = _Attempt(attempt.offer, session=attempt.session, channel_id=attempt.channel_id)
        worst = price(fuel, attempt.offer.price_planck_per_fuel)
        assert attempt.channel_id is not None
        if not self.book.try_reserve(attempt.channel_id, worst):
            return None
        probe.reserved = worst
        try:
            wasm = self.answers.modules[known.module_hash]
            await self._run(probe, request, wasm, _NO_PROOF, timeout)
            return await self._judge_spot_check(attempt, probe, known.output_hash, check_id)
        finally:
            self._release(probe)

    async def _judge_spot_check(
        self, attempt: _Attempt, probe: _Attempt, expected: bytes, check_id: int
    ) -> SpotCheckReport | None:
        """Pay a passed spot check (capped by its reservation), report a failed one."""
        assert attempt.channel_id is not None
        reply = probe.reply
        if reply is not None and reply.kind is ReplyKind.FAILED:
            if reply.code in NOT_THE_WORKERS_FAULT:
                return None  # refused for now: proves nothing
        self.tally.spot_checks += 1
        worker = attempt.offer.address
        if reply is None or not reply.valid or reply.result is None:
            why = reply.reason if reply is not None else "no reply"
            self.tally.spot_checks_failed += 1
            self.tracker.observe_job(worker, False, now_ms())
            return SpotCheckReport(worker, check_id, False, reason=why)
        if reply.result.output_hash != expected:
            self.tally.spot_checks_failed += 1
            self.tracker.observe_job(worker, False, now_ms())
            self.tally.worker(worker).rejected += 1
            return SpotCheckReport(worker, check_id, False, reason="wrong answer to a known job")
        amount = self._capped(
            worker, price(reply.result.fuel_used, attempt.offer.price_planck_per_fuel), probe
        )
        error = await self._pay(worker, attempt.channel_id, amount, f"spot check {check_id}")
        self.tracker.observe_job(worker, True, now_ms())
        stats = self.tally.worker(worker)
        stats.agreed += 1
        stats.fuel += reply.result.fuel_used if not error else 0
        return SpotCheckReport(worker, check_id, True, paid=0 if error else amount, reason=error)

    @staticmethod
    def _capped(worker: str, amount: int, attempt: _Attempt) -> int:
        """*amount* cut to the job's reservation (never pay beyond what was reserved)."""
        if amount > attempt.reserved:
            logger.warning(
                "%s is owed %d planck, more than the job's reservation %d: paying %d",
                worker,
                amount,
                attempt.reserved,
                attempt.reserved,
            )
            return attempt.reserved
        return amount

    async def _settle(
        self,
        base: JobRequest,
        attempts: Sequence[_Attempt],
        replies: Sequence[Reply],
        decision: Decision,
        plan: Plan,
        spot_report: SpotCheckReport | None,
    ) -> TaskOutcome:
        """Pay the agreeing results (one update each), update scores and the tally."""
        job_id = base.task_id
        assert job_id is not None
        rates = {a.offer.address: a.offer.price_planck_per_fuel for a in attempts}
        owed = payments(decision, rates)
        by_worker = {r.worker: r for r in replies}
        paid: dict[str, int] = {}
        errors: dict[str, str] = {}
        attempt_of = {a.offer.address: a for a in attempts}

        async def pay(worker: str, amount: int) -> None:
            attempt = attempt_of.get(worker)
            reply = by_worker.get(worker)
            if attempt is None or attempt.channel_id is None:
                errors[worker] = "no channel"
                return
            if reply is None or not reply.valid:  # only a valid result of ours is paid
                errors[worker] = "no valid result"
                return
            amount = self._capped(worker, amount, attempt)
            error = await self._pay(worker, attempt.channel_id, amount, f"task {job_id}")
            if error:
                errors[worker] = error
            else:
                paid[worker] = amount

        await asyncio.gather(*(pay(w, amount) for w, amount in owed.items()))
        at = now_ms()
        reports: dict[str, WorkerReport] = {}
        for attempt in attempts:
            worker = attempt.offer.address
            reply = by_worker.get(worker)
            stats = self.tally.worker(worker)
            if worker in decision.agreeing:
                status = "agreed"
            elif worker in decision.dissenting:
                status = "dissented"
            else:
                status = reply.kind.value if reply is not None else "unreachable"
                status = "invalid" if status == ReplyKind.INVALID.value else status
            succeeded = status == "agreed"
            not_their_fault = (
                reply is not None
                and reply.kind is ReplyKind.FAILED
                and reply.code in NOT_THE_WORKERS_FAULT
            )
            if succeeded:
                stats.agreed += 1
                if worker in paid:
                    stats.fuel += decision.fuel_used
            else:
                stats.rejected += 1
            if succeeded or not not_their_fault:
                self.tracker.observe_job(worker, succeeded, at)
            reports[worker] = WorkerReport(
                worker=worker,
                status=status,
                result=reply.result if reply is not None else None,
                fuel_used=reply.fuel_used if reply is not None else 0,
                rate_planck_per_fuel=rates[worker],
                paid=paid.get(worker, 0),
                reason=reply.reason if reply is not None else "",
                elapsed_ms=attempt.elapsed_ms,
                payment_error=errors.get(worker, ""),
                error=reply.error if reply is not None else None,
            )
        verification: Verification
        self.tally.tasks_run += 1
        if decision.verified:
            self.tally.tasks_verified += 1
            verification = Verified(
                decision.method, decision.agreeing, decision.dissenting, plan.proof
            )
        else:
            self.tally.tasks_rejected += 1
            verification = Rejected(decision.reason, decision.dissenting)
        output = None
        if decision.verified:
            output = next(
                r.output
                for r in replies
                if r.valid and r.worker in decision.agreeing and r.output is not None
            )
        spot_cost = spot_report.paid if spot_report is not None else 0
        return TaskOutcome(
            task_id=job_id,
            module_hash=base.module_hash,
            input_hash=input_hash(base.args, base.input),
            output=output,
            output_hash=decision.output_hash,
            fuel_used=decision.fuel_used,
            cost_planck=sum(paid.values()) + spot_cost,
            workers=tuple(a.offer.address for a in attempts),
            verification=verification,
            results=reports,
            spot_checks=(spot_report,) if spot_report is not None else (),
        )
