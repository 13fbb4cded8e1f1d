"""Attacks on VM checkpoints across workers (``docs/vm-checkpoints.md`` section 8,
``docs/protocol.md`` section 8), each by a real malicious party against the real parts:
worker daemons with their own keys (some patched to cheat), a private dev chain under
Chopsticks, arlocal for Arweave, and the requester SDK over WebRTC paying through
payment channels. Every test checks the exact planck each worker received on its
channel and the requester's balance left in it.

The attacks (what a cheater would try), and what stops them:

- a worker inflates its suspended segment's fuel and the cumulative fuel of the image
  it suspended at (it seals the image, it holds the key): the difference check passes;
  the segments then add up to more than the reference (an uninterrupted run) plus
  ``k`` x the checkpoint cost, and re-running the segment from its images shows which
  one lies: it is not paid (``test_inflated_suspension_is_not_paid``);
- a worker never runs the job and answers ``job_suspended`` naming an image it never
  recorded: the SDK resumes from the start, and pays only the segments the final
  result builds on (``test_suspension_without_a_recorded_image_is_not_paid``);
- a resuming worker ignores the image and runs the job from the start, billing the whole
  run (``test_resume_that_reruns_from_the_start_is_not_paid``);
- a resuming worker refuses the resume and bills fuel for its refusal
  (``test_refused_resume_bills_nothing``);
- a worker records and announces its checkpoints with forged high sequence numbers, so
  that the next worker's checkpoints look out of order and its work is redone (and paid
  twice): the next worker's checkpoints are kept and paid once, and the forger, whose
  numbers are more than its segment could take, is not paid
  (``test_forged_sequence_numbers_do_not_hide_the_next_workers_checkpoints``);
- a worker announces its suspension at more fuel than its image holds, by less than the
  next worker's segment: that worker's honest claim, measured from the lie, would be
  refused and the total stay within the reference (no re-run): the liar would take its
  pay. The requester opens the image and measures from what it holds: the liar is not
  paid, the others are
  (``test_an_inflated_announcement_does_not_move_the_next_workers_pay``);
- the requester gives a worker up while it is alive (late heartbeats): the worker's job
  suspends but records no newer image, so the one it announced stays resumable and it
  is owed its work up to it
  (``test_a_worker_given_up_while_alive_leaves_its_announced_image_resumable``);
- a worker given the job again records an older image's bytes as its new segment's
  image and announces it with that image's own numbers (all of it opens and matches):
  the job goes back, and the next worker redoes what was covered; each stretch of
  progress is paid once, to the first that covered it
  (``test_a_replayed_older_image_pays_each_stretch_of_progress_once``);
- a worker replays an older image of the job (recorded once, then replaced on chain by
  the newer ones) as its newer one, with the newer one's fuel: none of its announcements
  is its record of the job, so the SDK drops them all, the next worker starts anew and
  the replayer is not paid (``test_replayed_older_image_is_not_paid_as_the_newer_one``);
- a worker suspends every segment at its first safe point, to bill many segments: it
  is paid its work only, the segments add up exactly
  (``test_worker_that_suspends_at_once_is_paid_its_work_only``);
- a worker records another job's image (sealed under this job's key) as this job's
  newest and announces it as its suspension: the next worker refuses it, the
  requester's own check too (``run_checkpointed`` given ``open_image``), it is
  discarded; the worker's genuine checkpoints, replaced
  on chain by the lie, are dropped too and the job starts anew; the liar is not paid
  (``test_another_jobs_image_announced_as_the_suspension_is_discarded_and_unpaid``);
- a hostile requester records a 1 TiB "image" and asks a worker to resume it: refused
  before any byte is fetched, unbilled
  (``test_hostile_requester_resume_of_an_oversize_record_is_refused_unbilled``);
- a worker process is killed (SIGKILL) while it uploads an image: its previous
  checkpoint stays its latest record, the requester notices and another worker
  resumes it; the dead worker is owed exactly the work of the image resumed (as a
  debt), paid once it is back
  (``test_worker_killed_mid_upload_leaves_its_previous_checkpoint_valid``);
- a worker stopping gracefully is gone when the requester pays: the debt is kept on
  disk and paid once the worker is back, even by a restarted requester
  (``test_a_gracefully_stopped_worker_is_paid_when_it_is_back``);
- the final segment's worker stores the requester's settlement update but withholds its
  countersignature (the requester's payment is in doubt: it may have been applied), then
  comes back and takes a new job: the proposal is re-sent on the new session and
  completed, it is not kept as a debt and paid again; the worker is paid exactly once
  (``test_a_withheld_settlement_countersignature_is_paid_exactly_once``);
- a requester reuses the id of a job a worker suspended, so that the worker's new
  images replace that job's record: refused before anything runs
  (``test_a_reused_job_id_cannot_replace_a_suspended_jobs_record``);
- a worker answers an ordinary job with ``job_suspended`` to bill a segment nobody
  asked for: the reply is invalid, nothing paid
  (``test_a_suspension_answering_an_ordinary_job_is_not_paid``);
- a worker resumes the job, checkpoints, then answers with a forged result, to end the
  job (nobody would be paid) or be paid its whole run: the result is refused, the job
  goes on from its last image on another worker, and it is paid only the work of its
  images the result builds on
  (``test_a_forged_result_does_not_end_the_job_or_cost_the_others_their_pay``);
- not closed, bounded: a requester that never settles (or resumes a worker's image
  elsewhere without paying it) is cut off by the worker's unpaid-work limit
  (``test_requester_that_never_settles_is_cut_off_after_its_unpaid_segment``).
"""

from __future__ import annotations

import asyncio
import dataclasses
import http.server
import os
import signal
import threading
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from ccnet.channels import Party
from ccnet.channels.messages import Countersign
from ccnet.channels.messages import Message as ChannelMessage
from ccnet.client import CC, Chain, Keypair, Keys
from ccnet.client.jobs.billing import price
from ccnet.client.jobs.catalogue import load_job
from ccnet.client.jobs.messages import (
    JobCheckpoint,
    JobFailed,
    JobRequest,
    JobResult,
    JobSuspended,
    Message,
    decode,
    encode,
)
from ccnet.client.jobs.results import SignedResult, output_hash
from ccnet.client.requester import Announced, CheckpointedJob, FuelReference, Requester
from ccnet.client.requester.discovery import WorkerOffer
from ccnet.client.requester.migration import assess
from ccnet.storage import (
    ArweaveGateway,
    ArweaveWallet,
    Checkpoint,
    CheckpointStore,
    LocalCache,
    SavedCheckpoint,
)
from ccnet.worker.checkpointing import ImageOpener, LocalRerun
from ccnet.worker.config import WorkerConfig
from ccnet.worker.daemon import WorkerDaemon
from ccnet.worker.jobhandler import JobSessionHandler
from ccnet.worker.sandbox import Sandbox, SuspendedRun
from ccnet.worker.vmcheckpoint import CheckpointPolicy

if TYPE_CHECKING:  # mypy sees the checkout's tests package; pytest puts tests/ on sys.path
    from tests.fixtures.daemon import RunWorker
else:
    from fixtures.daemon import RunWorker

StartDaemon = Callable[..., Awaitable[WorkerDaemon]]
WaitUntil = Callable[..., Awaitable[None]]

ARGS = ("3000000",)
COST = 792
"""Fuel of one checkpoint of prime_count (docs/vm-checkpoints.md, section 4)."""
TIMEOUT = 240.0
DEPOSIT = 1 * CC
SETTINGS: dict[str, Any] = {"watch_tasks": False, "verify_disputes": False, "proofs": False}


def funded(chain: Chain, amount: int) -> Keypair:
    keypair, _ = Keys.generate()
    chain.transfer(Keys.from_uri("//Ferdie"), str(keypair.ss58_address), amount)
    return keypair


async def offers_of(r: Requester, *daemons: WorkerDaemon) -> list[WorkerOffer]:
    offers = {o.address: o for o in await r.find_workers(refresh=True)}
    return [offers[d.address] for d in daemons]


@dataclasses.dataclass
class Scene:
    chain: Chain
    r: Requester
    workers: list[WorkerDaemon]
    offers: list[WorkerOffer]
    whole: int
    """The uninterrupted run's fuel."""
    stdout: bytes
    store: CheckpointStore
    args: tuple[str, ...]


@asynccontextmanager
async def scene(
    private_chain: str,
    arlocal: str,
    arweave_wallet: ArweaveWallet,
    start_daemon: StartDaemon,
    sandbox: Sandbox,
    tmp_path: Path,
    workers: int,
    args: tuple[str, ...] = ARGS,
    **first: Any,
) -> AsyncIterator[Scene]:
    """*workers* honest daemons (the test patches the cheats in) and a requester, for
    ``prime_count`` with *args*; *first*: the first daemon's own settings."""
    whole = sandbox.run(load_job("prime_count"), args=args)
    with Chain(private_chain) as chain:
        keys = [funded(chain, 100 * CC) for _ in range(workers + 1)]
        daemons = [
            await start_daemon(
                keys[0], private_chain, checkpoint_gateway=arlocal, **{**SETTINGS, **first}
            )
        ]
        bootstrap = ((daemons[0].ready.dht_host, daemons[0].ready.dht_port),)
        for key in keys[1:workers]:
            daemons.append(
                await start_daemon(
                    key,
                    private_chain,
                    checkpoint_gateway=arlocal,
                    dht_bootstrap=bootstrap,
                    **SETTINGS,
                )
            )
        with ArweaveGateway(arlocal, dev=True) as gateway:
            store = CheckpointStore(
                chain, keys[-1], gateway, arweave_wallet, LocalCache(tmp_path / "rcache")
            )
            async with Requester(
                chain,
                keys[-1],
                dht_bootstrap=list(bootstrap),
                state_dir=tmp_path / "requester",
                deposit_per_channel=DEPOSIT,
            ) as r:
                offers = await offers_of(r, *daemons)
                yield Scene(chain, r, daemons, offers, whole.fuel_used, whole.stdout, store, args)


def new_job(s: Scene, parts: int = 4) -> CheckpointedJob:
    """The job, with a checkpoint every 1/*parts* of its fuel."""
    return s.r.checkpointed_job(
        load_job("prime_count"), args=s.args, every_fuel=s.whole // parts, fuel_limit=10**9
    )


def reference(s: Scene, job: CheckpointedJob, sandbox: Sandbox) -> FuelReference:
    return FuelReference(s.whole, COST, rerun=LocalRerun(job, sandbox, s.store))


async def suspended_segment(
    s: Scene, job: CheckpointedJob, offer: WorkerOffer, wait_until: WaitUntil
) -> JobSuspended:
    """Run the next segment on *offer*'s worker and suspend it after a checkpoint."""
    seen = len(job.checkpoints)
    running = asyncio.create_task(s.r.run_segment(job, offer, timeout=TIMEOUT))
    await wait_until(lambda: len(job.checkpoints) > seen or running.done(), "a checkpoint")
    await job.suspend()
    reply = await running
    assert isinstance(reply, JobSuspended), reply
    return reply


async def earned(
    wait_until: WaitUntil, daemon: WorkerDaemon, channel: bytes | None, amount: int
) -> None:
    """*daemon* received exactly *amount* planck in all on *channel*."""
    payments = daemon.payments
    assert payments is not None and channel is not None
    await wait_until(lambda: payments.earned(channel) == amount, f"{amount} planck earned")
    await asyncio.sleep(0.5)  # nothing more arrives
    assert payments.earned(channel) == amount


def left(s: Scene, channel: bytes | None) -> int:
    """The requester's planck left in *channel*."""
    assert channel is not None
    party = s.r._party
    assert party is not None
    return party.channel(channel).balance


def rewrite_deliveries(handler: JobSessionHandler, change: Callable[[Message], Message]) -> None:
    """Patch the real *handler* so that each answer it delivers and each message it sends
    goes through *change* first (what the cheater sends and bills)."""
    deliver, send = handler._deliver, handler._send

    async def cheating_deliver(state: Any, request: JobRequest, data: bytes, fuel: int) -> None:
        message = change(decode(data))
        if isinstance(message, JobSuspended):
            fuel = message.segment_fuel
        await deliver(state, request, encode(message), fuel)

    async def cheating_send(state: Any, message: Message) -> None:
        await send(state, change(message))

    handler._deliver = cheating_deliver  # type: ignore[method-assign]
    handler._send = cheating_send  # type: ignore[method-assign]


async def test_inflated_suspension_is_not_paid(
    private_chain: str,
    arlocal: str,
    arweave_wallet: ArweaveWallet,
    start_daemon: StartDaemon,
    wait_until: WaitUntil,
    sandbox: Sandbox,
    tmp_path: Path,
) -> None:
    extra = 40_000_000

    def inflate(message: Message) -> Message:
        if isinstance(message, JobSuspended):  # consistent: the difference check passes
            return dataclasses.replace(
                message,
                fuel_used=message.fuel_used + extra,
                segment_fuel=message.segment_fuel + extra,
            )
        if isinstance(message, JobCheckpoint):  # the suspension's image is announced too
            return dataclasses.replace(message, fuel_used=message.fuel_used + extra)
        return message

    async with scene(
        private_chain, arlocal, arweave_wallet, start_daemon, sandbox, tmp_path, 2
    ) as s:
        a, b = s.workers
        assert a.handler is not None
        rewrite_deliveries(a.handler, inflate)
        job = new_job(s)
        suspended = await suspended_segment(s, job, s.offers[0], wait_until)
        done = await s.r.run_segment(job, s.offers[1], timeout=TIMEOUT)
        assert isinstance(done, JobResult) and done.output == s.stdout
        fuel_a, fuel_b = job.segment_fuel
        assert fuel_a == suspended.segment_fuel
        k = len(job.checkpoints)
        # the lie: A's claim is its real fuel plus extra
        assert fuel_a + fuel_b == s.whole + k * COST + extra
        rerun = reference(s, job, sandbox)
        outcome = await s.r.settle_checkpointed(
            job, expected_output_hash=output_hash(s.stdout), reference=rerun
        )
        assert outcome.verified
        rate_b = s.offers[1].price_planck_per_fuel
        assert outcome.paid == (0, price(fuel_b, rate_b))
        assert outcome.unpaid_reasons[0].startswith(f"claims {fuel_a} fuel, a re-run confirms ")
        assert outcome.unpaid_reasons[0].endswith(f" {fuel_a - extra}")
        ch_a, ch_b = (seg.request.channel_id for seg in job.segments)
        await earned(wait_until, a, ch_a, 0)
        await earned(wait_until, b, ch_b, price(fuel_b, rate_b))
        assert left(s, ch_a) == DEPOSIT
        assert left(s, ch_b) == DEPOSIT - price(fuel_b, rate_b)


async def test_suspension_without_a_recorded_image_is_not_paid(
    private_chain: str,
    arlocal: str,
    arweave_wallet: ArweaveWallet,
    start_daemon: StartDaemon,
    wait_until: WaitUntil,
    sandbox: Sandbox,
    tmp_path: Path,
) -> None:
    claim = 30_000_000

    async with scene(
        private_chain, arlocal, arweave_wallet, start_daemon, sandbox, tmp_path, 2
    ) as s:
        a, b = s.workers
        assert a.handler is not None
        handler = a.handler

        async def never_run(state: Any, request: JobRequest, limits: Any) -> None:
            # no run, no upload, no record: a made-up image and a consistent claim
            reply = JobSuspended(
                request.job_id,
                checkpoint=1,
                fuel_used=claim,
                state_hash=os.urandom(32),
                arweave_tx_id="forged" + os.urandom(8).hex(),
                size=4096,
                segment_fuel=claim,
            )
            await handler._deliver(state, request, encode(reply), claim)

        handler._run_checkpointed = never_run  # type: ignore[method-assign]
        job = new_job(s)
        reply = await s.r.run_segment(job, s.offers[0], timeout=TIMEOUT)
        assert isinstance(reply, JobSuspended) and reply.segment_fuel == claim
        done = await s.r.run_segment(job, s.offers[1], timeout=TIMEOUT)
        assert isinstance(done, JobResult) and done.output == s.stdout
        assert job.segments[1].resumed_from is None  # the SDK dropped the unrecorded image
        fuel_b = job.segment_fuel[1]
        assert fuel_b == s.whole + len(job.segments[1].announced) * COST
        outcome = await s.r.settle_checkpointed(
            job, expected_output_hash=output_hash(s.stdout), reference=reference(s, job, sandbox)
        )
        rate_b = s.offers[1].price_planck_per_fuel
        assert outcome.paid == (0, price(fuel_b, rate_b))
        assert outcome.unpaid_reasons[0].startswith("its work was not resumed")
        ch_a, ch_b = (seg.request.channel_id for seg in job.segments)
        await earned(wait_until, a, ch_a, 0)
        await earned(wait_until, b, ch_b, price(fuel_b, rate_b))
        assert (left(s, ch_a), left(s, ch_b)) == (DEPOSIT, DEPOSIT - price(fuel_b, rate_b))


async def test_resume_that_reruns_from_the_start_is_not_paid(
    private_chain: str,
    arlocal: str,
    arweave_wallet: ArweaveWallet,
    start_daemon: StartDaemon,
    wait_until: WaitUntil,
    sandbox: Sandbox,
    tmp_path: Path,
) -> None:
    async with scene(
        private_chain, arlocal, arweave_wallet, start_daemon, sandbox, tmp_path, 2
    ) as s:
        a, b = s.workers
        assert b.checkpoints is not None
        b.checkpoints.open = lambda resume: None  # type: ignore[method-assign,assignment,return-value]
        job = new_job(s)
        suspended = await suspended_segment(s, job, s.offers[0], wait_until)
        done = await s.r.run_segment(job, s.offers[1], timeout=TIMEOUT)
        assert isinstance(done, JobResult) and done.output == s.stdout
        fuel_a, fuel_b = job.segment_fuel
        assert fuel_a == suspended.segment_fuel
        # B ran it all: it bills the whole run (and its own checkpoints)
        assert fuel_b == s.whole + len(job.segments[1].announced) * COST
        outcome = await s.r.settle_checkpointed(
            job, expected_output_hash=output_hash(s.stdout), reference=reference(s, job, sandbox)
        )
        rate_a = s.offers[0].price_planck_per_fuel
        assert outcome.paid == (price(fuel_a, rate_a), 0)
        assert outcome.unpaid_reasons[1].startswith(f"claims {fuel_b} fuel, a re-run confirms")
        ch_a, ch_b = (seg.request.channel_id for seg in job.segments)
        await earned(wait_until, a, ch_a, price(fuel_a, rate_a))
        await earned(wait_until, b, ch_b, 0)
        assert (left(s, ch_a), left(s, ch_b)) == (DEPOSIT - price(fuel_a, rate_a), DEPOSIT)


async def test_refused_resume_bills_nothing(
    private_chain: str,
    arlocal: str,
    arweave_wallet: ArweaveWallet,
    start_daemon: StartDaemon,
    wait_until: WaitUntil,
    sandbox: Sandbox,
    tmp_path: Path,
) -> None:
    async with scene(
        private_chain, arlocal, arweave_wallet, start_daemon, sandbox, tmp_path, 2
    ) as s:
        a, b = s.workers
        assert b.handler is not None
        handler = b.handler

        async def refuse(state: Any, request: JobRequest, limits: Any) -> None:
            await handler._fail(state, request.job_id, "malformed", "no such image", 50_000_000)

        handler._run_checkpointed = refuse  # type: ignore[method-assign]
        job = new_job(s)
        suspended = await suspended_segment(s, job, s.offers[0], wait_until)
        refused = await s.r.run_segment(job, s.offers[1], timeout=TIMEOUT)
        assert isinstance(refused, JobFailed) and refused.fuel_used == 50_000_000
        done = await s.r.run_segment(job, s.offers[0], timeout=TIMEOUT)  # A finishes it
        assert isinstance(done, JobResult) and done.output == s.stdout
        fuel_a1, fuel_b, fuel_a2 = job.segment_fuel
        assert fuel_a1 == suspended.segment_fuel and fuel_b == 50_000_000
        assert fuel_a1 + fuel_a2 == s.whole + len(job.checkpoints) * COST
        outcome = await s.r.settle_checkpointed(
            job, expected_output_hash=output_hash(s.stdout), reference=reference(s, job, sandbox)
        )
        rate_a = s.offers[0].price_planck_per_fuel
        assert outcome.paid == (price(fuel_a1, rate_a), 0, price(fuel_a2, rate_a))
        ch_a, ch_b = job.segments[0].request.channel_id, job.segments[1].request.channel_id
        assert job.segments[2].request.channel_id == ch_a
        total = price(fuel_a1, rate_a) + price(fuel_a2, rate_a)
        await earned(wait_until, a, ch_a, total)
        await earned(wait_until, b, ch_b, 0)
        assert (left(s, ch_a), left(s, ch_b)) == (DEPOSIT - total, DEPOSIT)


async def test_forged_sequence_numbers_do_not_hide_the_next_workers_checkpoints(
    private_chain: str,
    arlocal: str,
    arweave_wallet: ArweaveWallet,
    start_daemon: StartDaemon,
    wait_until: WaitUntil,
    sandbox: Sandbox,
    tmp_path: Path,
) -> None:
    def renumber(message: Message) -> Message:
        if isinstance(message, JobCheckpoint | JobSuspended):
            return dataclasses.replace(message, checkpoint=message.checkpoint + 1000)
        return message

    class Renumbered:
        """A's store, recording each image under its sequence number + 1000."""

        def __init__(self, store: CheckpointStore) -> None:
            self.store = store

        def __getattr__(self, name: str) -> object:  # reads go to the real store
            return getattr(self.store, name)

        def save(
            self, checkpoint: Checkpoint, *, job: tuple[bytes, int] | None = None, **kw: Any
        ) -> SavedCheckpoint:
            assert job is not None
            return self.store.save(checkpoint, job=(job[0], job[1] + 1000), **kw)

    async with scene(
        private_chain,
        arlocal,
        arweave_wallet,
        start_daemon,
        sandbox,
        tmp_path,
        2,
        args=("10000000",),  # long enough for two suspensions and an end
    ) as s:
        a, b = s.workers
        assert a.handler is not None and a.checkpoints is not None
        rewrite_deliveries(a.handler, renumber)  # announced as recorded: kept by the SDK
        a.checkpoints.store = cast(CheckpointStore, Renumbered(a.checkpoints.store))
        job = new_job(s, parts=8)
        await suspended_segment(s, job, s.offers[0], wait_until)
        assert job.checkpoints[-1].checkpoint.checkpoint > 1000
        forged = job.checkpoints[-1].checkpoint
        found = s.chain.checkpoints.job_record(a.address, forged.job_id)
        assert found is not None and found.checkpoint == forged.checkpoint
        from_b = await suspended_segment(s, job, s.offers[1], wait_until)
        # B resumed A's image; B's checkpoints were kept: the next segment resumes from
        # B's image, not A's
        assert job.segments[1].resumed_from is not None
        assert job.segments[1].resumed_from.checkpoint == forged
        assert job.checkpoints[-1].worker == b.address
        assert job.checkpoints[-1].checkpoint.state_hash == from_b.state_hash
        done = await s.r.run_segment(job, s.offers[1], timeout=TIMEOUT)
        assert isinstance(done, JobResult) and done.output == s.stdout
        fuel = job.segment_fuel
        k = len(job.checkpoints)
        assert sum(fuel) == s.whole + k * COST  # nothing was run twice
        outcome = await s.r.settle_checkpointed(
            job, expected_output_hash=output_hash(s.stdout), reference=reference(s, job, sandbox)
        )
        rate_b = s.offers[1].price_planck_per_fuel
        # B's work is paid once each; A announced more checkpoints than its segment could
        # take (its numbers are not its images'): not paid
        expected = (0, price(fuel[1], rate_b), price(fuel[2], rate_b))
        assert outcome.paid == expected, outcome.unpaid_reasons
        assert outcome.unpaid_reasons[0].startswith(f"its images claim {fuel[0]} fuel and ")
        ch_a, ch_b = job.segments[0].request.channel_id, job.segments[1].request.channel_id
        await earned(wait_until, a, ch_a, expected[0])
        await earned(wait_until, b, ch_b, expected[1] + expected[2])
        assert (left(s, ch_a), left(s, ch_b)) == (
            DEPOSIT - expected[0],
            DEPOSIT - expected[1] - expected[2],
        )


async def test_an_inflated_announcement_does_not_move_the_next_workers_pay(
    private_chain: str,
    arlocal: str,
    arweave_wallet: ArweaveWallet,
    start_daemon: StartDaemon,
    wait_until: WaitUntil,
    sandbox: Sandbox,
    tmp_path: Path,
) -> None:
    """A announces its suspension at more fuel than its image holds (and claims that
    much more), by less than B's next segment: B's honest claim is measured from A's
    word, looks too high and is refused, and the total stays within the reference, so
    no re-run is made: A would take B's pay. Opening the image A announced settles it."""

    extra: list[int] = []

    def inflate(message: Message) -> Message:
        # every announcement, so that the one of its suspension's image is kept too
        if isinstance(message, JobSuspended):
            return dataclasses.replace(
                message,
                fuel_used=message.fuel_used + extra[0],
                segment_fuel=message.segment_fuel + extra[0],
            )
        if isinstance(message, JobCheckpoint):
            return dataclasses.replace(message, fuel_used=message.fuel_used + extra[0])
        return message

    async with scene(
        private_chain,
        arlocal,
        arweave_wallet,
        start_daemon,
        sandbox,
        tmp_path,
        3,
        args=("10000000",),  # long enough for two suspensions and an end
    ) as s:
        a, b, c = s.workers
        assert a.handler is not None
        rewrite_deliveries(a.handler, inflate)
        job = new_job(s, parts=8)
        extra.append(job.every_fuel // 4)  # less than B's segment: it runs past a checkpoint
        await suspended_segment(s, job, s.offers[0], wait_until)
        await suspended_segment(s, job, s.offers[1], wait_until)
        done = await s.r.run_segment(job, s.offers[2], timeout=TIMEOUT)
        assert isinstance(done, JobResult) and done.output == s.stdout
        fuel_a, fuel_b, fuel_c = job.segment_fuel
        assert fuel_a + fuel_b + fuel_c == s.whole + len(job.checkpoints) * COST + extra[0]
        assert extra[0] < fuel_b
        rerun = LocalRerun(job, sandbox, s.store)
        ref = FuelReference(s.whole, COST, rerun=rerun)
        # the attack, as it would be settled without opening the image
        blind = await assess(job, ref)
        assert [c.unpaid == "" for c in blind] == [True, False, True]
        assert blind[1].unpaid == f"claims {fuel_b} fuel, its checkpoints {fuel_b - extra[0]}"
        outcome = await s.r.settle_checkpointed(
            job,
            expected_output_hash=output_hash(s.stdout),
            reference=ref,
            open_image=rerun.images.facts,
        )
        assert outcome.verified
        real = job.segments[0].reply
        assert isinstance(real, JobSuspended)
        assert outcome.unpaid_reasons[0].endswith(
            f"at {real.fuel_used} fuel; its image is checkpoint {real.checkpoint} at "
            f"{real.fuel_used - extra[0]} fuel"
        )
        rate_b, rate_c = (o.price_planck_per_fuel for o in s.offers[1:])
        expected = (0, price(fuel_b, rate_b), price(fuel_c, rate_c))
        assert outcome.paid == expected, outcome.unpaid_reasons
        channels = [segment.request.channel_id for segment in job.segments]
        for daemon, channel, amount in zip((a, b, c), channels, expected, strict=True):
            await earned(wait_until, daemon, channel, amount)
            assert left(s, channel) == DEPOSIT - amount
        stats = s.r.stats()  # the summary counts the segments as jobs
        assert (stats.tasks_run, stats.tasks_verified) == (1, 1)
        assert [
            (stats.workers[d.address].agreed, stats.workers[d.address].rejected) for d in (a, b, c)
        ] == [(0, 1), (1, 0), (1, 0)]
        assert [stats.workers[d.address].cost for d in (a, b, c)] == list(expected)
        assert stats.workers[b.address].fuel == fuel_b


async def test_a_worker_given_up_while_alive_leaves_its_announced_image_resumable(
    private_chain: str,
    arlocal: str,
    arweave_wallet: ArweaveWallet,
    start_daemon: StartDaemon,
    wait_until: WaitUntil,
    sandbox: Sandbox,
    tmp_path: Path,
) -> None:
    """The requester gives A up while A is alive (as ``run_checkpointed`` does when
    heartbeats are late: the segment is cancelled and the session dropped). A's job
    suspends to free its CPU, but records no newer image: the last one A announced stays
    its record of the job, B resumes from it, and A is owed exactly the work up to it
    (a debt: its channel is no longer attached). A newer, unannounced record would have
    made the requester drop A's images and start the job over."""
    async with scene(
        private_chain,
        arlocal,
        arweave_wallet,
        start_daemon,
        sandbox,
        tmp_path,
        2,
        args=("10000000",),
    ) as s:
        a, b = s.workers
        assert a.handler is not None
        job = new_job(s, parts=8)
        running = asyncio.create_task(s.r.run_segment(job, s.offers[0], timeout=TIMEOUT))
        await wait_until(lambda: len(job.checkpoints) >= 1, "A's first checkpoint")
        running.cancel()
        try:
            await running
        except asyncio.CancelledError:
            pass
        assert s.r._pool is not None
        await s.r._pool.drop(a.address)
        executor = a.handler.executor
        await wait_until(lambda: executor.running == 0, "A's job stopped")
        last = job.checkpoints[-1]
        assert last.worker == a.address
        found = s.chain.checkpoints.job_record(a.address, last.checkpoint.job_id)
        assert found is not None and found.checkpoint == last.checkpoint.checkpoint
        assert found.record.state_hash == "0x" + last.checkpoint.state_hash.hex()
        (lost,) = job.segments
        assert lost.reply is None and lost.announced[-1] == last.checkpoint

        done = await s.r.run_segment(job, s.offers[1], timeout=TIMEOUT)
        assert isinstance(done, JobResult) and done.output == s.stdout
        assert job.segments[1].resumed_from == last  # not the start: A's work is kept
        rerun = LocalRerun(job, sandbox, s.store)
        outcome = await s.r.settle_checkpointed(
            job,
            expected_output_hash=output_hash(s.stdout),
            reference=FuelReference(s.whole, COST, rerun=rerun),
            open_image=rerun.images.facts,
        )
        rate_a, rate_b = (o.price_planck_per_fuel for o in s.offers)
        fuel_b = job.segments[1].fuel_used
        owed = price(last.checkpoint.fuel_used, rate_a)
        assert outcome.paid == (0, price(fuel_b, rate_b)), outcome.unpaid_reasons
        assert outcome.owed == (owed, 0), outcome.unpaid_reasons
        assert s.r.debts.total(a.address) == owed
        ch_a, ch_b = (segment.request.channel_id for segment in job.segments)
        await earned(wait_until, a, ch_a, 0)
        await earned(wait_until, b, ch_b, price(fuel_b, rate_b))
        assert left(s, ch_a) == DEPOSIT
        assert left(s, ch_b) == DEPOSIT - price(fuel_b, rate_b)


async def test_a_replayed_older_image_pays_each_stretch_of_progress_once(
    private_chain: str,
    arlocal: str,
    arweave_wallet: ArweaveWallet,
    start_daemon: StartDaemon,
    wait_until: WaitUntil,
    sandbox: Sandbox,
    tmp_path: Path,
) -> None:
    """A runs and suspends at image a, B resumes it and suspends at b. A is then given
    the job again, runs nothing, records a's bytes (on Arweave already) as its new
    segment's image and announces them with a's own numbers: everything opens and
    matches, but the job went back. C resumes the copy and finishes, redoing a to b.
    Each stretch of progress is paid once, to the first that covered it: A its first
    segment, B its own, A's replay nothing, C what is new; the total is the job's."""
    async with scene(
        private_chain,
        arlocal,
        arweave_wallet,
        start_daemon,
        sandbox,
        tmp_path,
        3,
        args=("10000000",),
    ) as s:
        a, b, c = s.workers
        assert a.handler is not None
        job = new_job(s, parts=8)
        first = await suspended_segment(s, job, s.offers[0], wait_until)
        await suspended_segment(s, job, s.offers[1], wait_until)
        handler = a.handler

        async def replay(state: Any, request: JobRequest, limits: Any) -> None:
            await asyncio.to_thread(
                s.chain.checkpoints.record_job,
                a.keypair,
                request.job_id,
                first.checkpoint,
                first.state_hash,
                first.arweave_tx_id,
                first.size,
            )
            copy = JobSuspended(
                request.job_id,
                checkpoint=first.checkpoint,
                fuel_used=first.fuel_used,
                state_hash=first.state_hash,
                arweave_tx_id=first.arweave_tx_id,
                size=first.size,
                segment_fuel=0,
            )
            await handler._deliver(state, request, encode(copy), 0)

        handler._run_checkpointed = replay  # type: ignore[method-assign]
        await s.r.run_segment(job, s.offers[0], timeout=TIMEOUT)
        done = await s.r.run_segment(job, s.offers[2], timeout=TIMEOUT)
        assert isinstance(done, JobResult) and done.output == s.stdout
        assert job.segments[3].resumed_from is not None
        assert job.segments[3].resumed_from.checkpoint.state_hash == first.state_hash
        fuel_a, fuel_b, _, fuel_c = job.segment_fuel
        covered = first.fuel_used + fuel_b  # where B stopped
        new_c = first.fuel_used + fuel_c - covered
        rerun = LocalRerun(job, sandbox, s.store)
        outcome = await s.r.settle_checkpointed(
            job,
            expected_output_hash=output_hash(s.stdout),
            reference=FuelReference(s.whole, COST, rerun=rerun),
            open_image=rerun.images.facts,
        )
        rate_a, rate_b, rate_c = (o.price_planck_per_fuel for o in s.offers)
        expected = (price(fuel_a, rate_a), price(fuel_b, rate_b), 0, price(new_c, rate_c))
        assert outcome.paid == expected, outcome.unpaid_reasons
        assert outcome.unpaid_reasons[2].startswith(f"it stopped at {first.fuel_used} fuel")
        assert fuel_a + fuel_b + new_c == first.fuel_used + fuel_c  # the job's fuel, once
        channels = [job.segments[i].request.channel_id for i in (0, 1, 3)]
        amounts = (expected[0], expected[1], expected[3])
        for daemon, channel, amount in zip((a, b, c), channels, amounts, strict=True):
            await earned(wait_until, daemon, channel, amount)
            assert left(s, channel) == DEPOSIT - amount


async def test_a_gracefully_stopped_worker_is_paid_when_it_is_back(
    private_chain: str,
    arlocal: str,
    arweave_wallet: ArweaveWallet,
    start_daemon: StartDaemon,
    wait_until: WaitUntil,
    sandbox: Sandbox,
    tmp_path: Path,
) -> None:
    async with scene(
        private_chain, arlocal, arweave_wallet, start_daemon, sandbox, tmp_path, 2
    ) as s:
        a, b = s.workers
        key_a = a.config.keypair
        job = new_job(s)
        running = asyncio.create_task(s.r.run_segment(job, s.offers[0], timeout=TIMEOUT))
        await wait_until(lambda: bool(job.checkpoints) or running.done(), "a checkpoint")
        await a.stop()  # graceful: A suspends the job, then is gone
        suspended = await running
        assert isinstance(suspended, JobSuspended), suspended
        done = await s.r.run_segment(job, s.offers[1], timeout=TIMEOUT)
        assert isinstance(done, JobResult) and done.output == s.stdout
        fuel_a, fuel_b = job.segment_fuel
        outcome = await s.r.settle_checkpointed(
            job, expected_output_hash=output_hash(s.stdout), reference=reference(s, job, sandbox)
        )
        rate_a, rate_b = (o.price_planck_per_fuel for o in s.offers)
        owed = price(fuel_a, rate_a)
        assert outcome.paid == (0, price(fuel_b, rate_b))
        assert outcome.owed == (owed, 0)
        assert outcome.unpaid_reasons[0].startswith("payment failed, kept as a debt")
        ch_a, ch_b = (seg.request.channel_id for seg in job.segments)
        assert ch_a is not None
        assert s.r.debts.total(a.address) == owed
        assert s.r._book is not None and s.r._book.available(ch_a) == DEPOSIT - owed
        assert await s.r.pay_debts() == 0  # A is gone: still owed
        await earned(wait_until, b, ch_b, price(fuel_b, rate_b))
        state_dir = s.r.state_dir
        bootstrap = [(b.ready.dht_host, b.ready.dht_port)]
        await s.r.aclose()

        # A is back (same key, same state); a new requester process (same state folder)
        back = await start_daemon(
            key_a,
            private_chain,
            checkpoint_gateway=arlocal,
            dht_bootstrap=tuple(bootstrap),
            **SETTINGS,
        )
        async with Requester(
            s.chain,
            s.r.keypair,
            dht_bootstrap=bootstrap,
            state_dir=state_dir,
            deposit_per_channel=DEPOSIT,
        ) as r2:
            assert r2.debts.total(a.address) == owed
            (offer,) = await offers_of(r2, back)
            job2 = r2.checkpointed_job(
                load_job("prime_count"), args=ARGS, every_fuel=s.whole, fuel_limit=10**9
            )
            result = await r2.run_segment(job2, offer, timeout=TIMEOUT)
            assert isinstance(result, JobResult)
            assert job2.segments[0].request.channel_id == ch_a  # the same channel
            assert r2.debts.all() == []  # paid after the job, over the bound channel
            settled = await r2.settle_checkpointed(job2)
            fuel2 = SignedResult.from_json(dict(result.result)).fuel_used
            assert settled.paid == (price(fuel2, offer.price_planck_per_fuel),)
            total = owed + settled.paid[0]
            await earned(wait_until, back, ch_a, total)
            party = r2._party
            assert party is not None and party.channel(ch_a).balance == DEPOSIT - total


async def test_a_withheld_settlement_countersignature_is_paid_exactly_once(
    private_chain: str,
    arlocal: str,
    arweave_wallet: ArweaveWallet,
    start_daemon: StartDaemon,
    wait_until: WaitUntil,
    sandbox: Sandbox,
    tmp_path: Path,
) -> None:
    """B runs the final segment; at settlement it stores the requester's update (it
    holds the co-signed state: it has been paid) but drops its countersignature, so the
    requester's payment times out in doubt. B stops, comes back honest (same key, same
    state) and is given a small new job: the new session re-sends the outstanding
    proposal, B answers it with the countersignature it withheld, and the new job is paid
    on top. B is credited its segment once, not twice, and no debt is left."""
    async with scene(
        private_chain, arlocal, arweave_wallet, start_daemon, sandbox, tmp_path, 2
    ) as s:
        a, b = s.workers
        assert b.payments is not None
        worker_party = b.payments.party
        send = worker_party._send
        withheld: list[Countersign] = []

        async def withholding_send(link: Any, message: ChannelMessage) -> None:
            if isinstance(message, Countersign) and not withheld:
                withheld.append(message)  # stored by B, never sent: the requester waits
                return
            await send(link, message)

        worker_party._send = withholding_send  # type: ignore[method-assign]
        job = new_job(s)
        await suspended_segment(s, job, s.offers[0], wait_until)
        done = await s.r.run_segment(job, s.offers[1], timeout=TIMEOUT)
        assert isinstance(done, JobResult) and done.output == s.stdout
        fuel_a, fuel_b = job.segment_fuel
        rate_a, rate_b = (o.price_planck_per_fuel for o in s.offers)
        pay_a, pay_b = price(fuel_a, rate_a), price(fuel_b, rate_b)
        outcome = await s.r.settle_checkpointed(
            job, expected_output_hash=output_hash(s.stdout), reference=reference(s, job, sandbox)
        )
        assert outcome.verified
        assert len(withheld) == 1
        assert outcome.paid == (pay_a, 0) and outcome.owed == (0, 0)
        assert outcome.unpaid_reasons[0] == ""
        assert outcome.unpaid_reasons[1].startswith("in doubt (re-sent when it is back): ")
        ch_a, ch_b = (seg.request.channel_id for seg in job.segments)
        assert ch_a is not None and ch_b is not None and ch_a != ch_b
        await earned(wait_until, a, ch_a, pay_a)
        assert left(s, ch_a) == DEPOSIT - pay_a
        # B applied the update; the requester does not know whether it did: no debt
        await earned(wait_until, b, ch_b, pay_b)
        party = s.r._party
        assert party is not None
        pending = party.channel(ch_b).pending
        assert pending is not None and pending.state.version == withheld[0].version
        assert left(s, ch_b) == DEPOSIT
        assert s.r.debts.all() == []
        assert await s.r.pay_debts() == 0

        # B reconnects: stopped, back with the same key and state, honest again
        key_b = b.config.keypair
        await b.stop()
        pool = s.r._pool
        assert pool is not None
        await wait_until(lambda: pool.session(b.address) is None, "B's session closed")
        back = await start_daemon(
            key_b,
            private_chain,
            checkpoint_gateway=arlocal,
            dht_bootstrap=((a.ready.dht_host, a.ready.dht_port),),
            **SETTINGS,
        )
        assert back.payments is not None and back.payments.earned(ch_b) == pay_b
        (offer,) = await offers_of(s.r, back)
        job2 = s.r.checkpointed_job(
            load_job("prime_count"), args=("1000",), every_fuel=s.whole, fuel_limit=10**9
        )
        result = await s.r.run_segment(job2, offer, timeout=TIMEOUT)
        assert isinstance(result, JobResult)
        assert job2.segments[0].request.channel_id == ch_b  # the same channel
        # the new session re-sent the outstanding proposal: B's withheld answer completed it
        await wait_until(lambda: party.channel(ch_b).pending is None, "the proposal answered")
        latest = party.channel(ch_b).latest
        assert latest.version == withheld[0].version
        assert latest.signature_of(Party.B) == withheld[0].signature
        assert left(s, ch_b) == DEPOSIT - pay_b
        settled = await s.r.settle_checkpointed(job2)
        fuel2 = SignedResult.from_json(dict(result.result)).fuel_used
        pay2 = price(fuel2, offer.price_planck_per_fuel)
        assert settled.paid == (pay2,) and settled.owed == (0,)
        await earned(wait_until, back, ch_b, pay_b + pay2)  # the segment once, not twice
        assert left(s, ch_b) == DEPOSIT - pay_b - pay2
        assert party.channel(ch_b).pending is None
        assert s.r.debts.all() == []
        assert await s.r.pay_debts() == 0
        await earned(wait_until, back, ch_b, pay_b + pay2)
        await earned(wait_until, a, ch_a, pay_a)
        assert left(s, ch_a) == DEPOSIT - pay_a


async def test_replayed_older_image_is_not_paid_as_the_newer_one(
    private_chain: str,
    arlocal: str,
    arweave_wallet: ArweaveWallet,
    start_daemon: StartDaemon,
    wait_until: WaitUntil,
    sandbox: Sandbox,
    tmp_path: Path,
) -> None:
    first: list[JobCheckpoint] = []

    def replay(message: Message) -> Message:
        # every image after its first is announced (and suspended at) as the first one's
        # record: the fuel and numbers of the newer image, the older (recorded) bytes
        if isinstance(message, JobCheckpoint) and not first:
            first.append(message)
            return message
        if isinstance(message, JobCheckpoint | JobSuspended) and first:
            old = first[0]
            return dataclasses.replace(
                message, state_hash=old.state_hash, arweave_tx_id=old.arweave_tx_id, size=old.size
            )
        return message

    async with scene(
        private_chain, arlocal, arweave_wallet, start_daemon, sandbox, tmp_path, 2
    ) as s:
        a, b = s.workers
        assert a.handler is not None
        rewrite_deliveries(a.handler, replay)
        job = new_job(s)
        suspended = await suspended_segment(s, job, s.offers[0], wait_until)
        assert suspended.checkpoint > 1 and suspended.state_hash == first[0].state_hash
        # A's record of the job is its genuine newest image, none of its announcements
        found = s.chain.checkpoints.job_record(a.address, suspended.job_id)
        assert found is not None and found.checkpoint == suspended.checkpoint
        assert found.record.arweave_tx_id != suspended.arweave_tx_id
        done = await s.r.run_segment(job, s.offers[1], timeout=TIMEOUT)
        assert isinstance(done, JobResult) and done.output == s.stdout
        # the SDK dropped every announcement of A (not its record): B started anew
        assert job.segments[1].resumed_from is None
        assert all(c.worker == b.address for c in job.checkpoints)
        fuel_a, fuel_b = job.segment_fuel
        assert fuel_b == s.whole + len(job.segments[1].announced) * COST
        outcome = await s.r.settle_checkpointed(
            job, expected_output_hash=output_hash(s.stdout), reference=reference(s, job, sandbox)
        )
        rate_b = s.offers[1].price_planck_per_fuel
        assert outcome.paid == (0, price(fuel_b, rate_b)), outcome.unpaid_reasons
        assert outcome.unpaid_reasons[0].startswith("its work was not resumed")
        ch_a, ch_b = (seg.request.channel_id for seg in job.segments)
        await earned(wait_until, a, ch_a, 0)
        await earned(wait_until, b, ch_b, price(fuel_b, rate_b))
        assert (left(s, ch_a), left(s, ch_b)) == (DEPOSIT, DEPOSIT - price(fuel_b, rate_b))


async def test_hostile_requester_resume_of_an_oversize_record_is_refused_unbilled(
    private_chain: str,
    arlocal: str,
    arweave_wallet: ArweaveWallet,
    start_daemon: StartDaemon,
    wait_until: WaitUntil,
    sandbox: Sandbox,
    tmp_path: Path,
) -> None:
    async with scene(
        private_chain, arlocal, arweave_wallet, start_daemon, sandbox, tmp_path, 1
    ) as s:
        (b,) = s.workers
        assert b.handler is not None
        # the requester records a 1 TiB "image" under its own key and asks B to resume it
        huge, state_hash, tx_id = 1 << 40, os.urandom(32), "huge" + os.urandom(8).hex()
        job_id = os.urandom(16)
        await asyncio.to_thread(
            s.chain.checkpoints.record_job, s.r.keypair, job_id, 1, state_hash, tx_id, huge
        )
        job = new_job(s)
        note = JobCheckpoint(job_id, 1, 1_000_000, state_hash, tx_id, huge)
        job.checkpoints.append(Announced(s.r.address, note))
        reply = await s.r.run_segment(job, s.offers[0], timeout=TIMEOUT)  # recorded: sent
        assert isinstance(reply, JobFailed), reply
        assert (reply.code, reply.fuel_used) == ("malformed", 0)
        assert "above" in reply.message  # refused before any byte was fetched
        outcome = await s.r.settle_checkpointed(job)
        assert outcome.paid == (0,) and not outcome.verified
        channel = job.segments[0].request.channel_id
        assert channel is not None
        await earned(wait_until, b, channel, 0)
        assert left(s, channel) == DEPOSIT
        assert b.handler.unpaid_jobs() == 0
        assert s.r._book is not None and s.r._book.available(channel) == DEPOSIT


async def test_requester_that_never_settles_is_cut_off_after_its_unpaid_segment(
    private_chain: str,
    arlocal: str,
    arweave_wallet: ArweaveWallet,
    start_daemon: StartDaemon,
    wait_until: WaitUntil,
    sandbox: Sandbox,
    tmp_path: Path,
    quick_worker_config: WorkerConfig,
) -> None:
    """Not closed, bounded: the image is the suspended segment's deliverable (the
    requester holds its key), so a requester can resume it elsewhere and never pay. The
    worker counts the suspension as delivered and unpaid, and takes no more of the
    requester's jobs beyond its limit (here 1)."""
    strict = dataclasses.replace(quick_worker_config, max_unpaid_jobs=1)
    async with scene(
        private_chain, arlocal, arweave_wallet, start_daemon, sandbox, tmp_path, 2, worker=strict
    ) as s:
        a, b = s.workers
        assert a.handler is not None and b.handler is not None
        job = new_job(s)
        suspended = await suspended_segment(s, job, s.offers[0], wait_until)
        done = await s.r.run_segment(job, s.offers[1], timeout=TIMEOUT)
        assert isinstance(done, JobResult) and done.output == s.stdout  # and never settles
        assert a.handler.unpaid_jobs() == 1 and suspended.segment_fuel > 0
        again = await s.r.run_segment(new_job(s), s.offers[0], timeout=TIMEOUT)
        assert isinstance(again, JobFailed) and again.code == "payment", again
        ch_a, ch_b = (seg.request.channel_id for seg in job.segments)
        await earned(wait_until, a, ch_a, 0)
        await earned(wait_until, b, ch_b, 0)
        assert (left(s, ch_a), left(s, ch_b)) == (DEPOSIT, DEPOSIT)


class StallingGateway:
    """An HTTP proxy in front of arlocal that forwards everything, but from the
    *allowed*+1-th ``POST /tx`` on holds the upload forever (a gateway that stops
    answering mid-upload); :attr:`stalled` is set when it holds one."""

    def __init__(self, upstream: str, allowed: int) -> None:
        self.upstream = upstream.rstrip("/")
        self.allowed = allowed
        self.posts = 0
        self.stalled = threading.Event()
        self.release = threading.Event()
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _forward(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                if method == "POST" and self.path.startswith("/tx"):
                    proxy.posts += 1
                    if proxy.posts > proxy.allowed:
                        proxy.stalled.set()
                        proxy.release.wait()
                        return
                headers = {"Content-Type": self.headers.get("Content-Type", "application/json")}
                request = urllib.request.Request(
                    proxy.upstream + self.path, data=body, method=method, headers=headers
                )
                try:
                    with urllib.request.urlopen(request, timeout=60) as response:
                        status, data = response.status, response.read()
                        kind = response.headers.get("Content-Type", "")
                except urllib.error.HTTPError as err:
                    status, data, kind = err.code, err.read(), err.headers.get("Content-Type", "")
                self.send_response(status)
                if kind:
                    self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                self._forward("GET")

            def do_POST(self) -> None:
                self._forward("POST")

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


async def test_worker_killed_mid_upload_leaves_its_previous_checkpoint_valid(
    devchain: str,
    ccnet_chain: Chain,
    fund_account: Callable[..., Keypair],
    arlocal: str,
    arweave_wallet: ArweaveWallet,
    run_worker: RunWorker,
    wait_until: WaitUntil,
    sandbox: Sandbox,
    tmp_path: Path,
) -> None:
    """A is killed (SIGKILL) while it uploads its second image; the requester's
    ``run_checkpointed`` notices (heartbeats stop, or the session drops), moves the job
    to B, which resumes A's first image (still A's record on chain) and finishes. A is
    owed exactly the work of that image, kept as a debt while it is dead, and paid once
    it is back; B is paid its segment."""
    wasm = load_job("prime_count")
    whole = sandbox.run(wasm, args=ARGS)
    beats = {"CCNET_WORKER_HEARTBEAT_INTERVAL_MS": "1000"}
    gateway = StallingGateway(arlocal, allowed=1)  # its first image, not its second
    try:
        a = await run_worker("--checkpoint-gateway", gateway.url, env=beats)
        bootstrap = [(str(a.ready["dht_host"]), int(a.ready["dht_port"]))]
        dht = f"{bootstrap[0][0]}:{bootstrap[0][1]}"
        b = await run_worker("--checkpoint-gateway", arlocal, "--dht-bootstrap", dht, env=beats)
        requester = fund_account()
        with ArweaveGateway(arlocal, dev=True) as ar:
            store = CheckpointStore(
                ccnet_chain, requester, ar, arweave_wallet, LocalCache(tmp_path / "rcache")
            )
            async with Requester(
                ccnet_chain,
                requester,
                dht_bootstrap=bootstrap,
                state_dir=tmp_path / "requester",
                deposit_per_channel=DEPOSIT,
            ) as r:
                offers = {o.address: o for o in await r.find_workers(refresh=True)}
                job = r.checkpointed_job(
                    wasm, args=ARGS, every_fuel=whole.fuel_used // 4, fuel_limit=10**9
                )
                order = [offers[a.address], offers[b.address]]
                running = asyncio.create_task(
                    r.run_checkpointed(job, order, timeout=TIMEOUT, silence=10.0)
                )
                await wait_until(lambda: gateway.stalled.is_set(), "the second upload")
                assert len(job.checkpoints) == 1 and job.checkpoints[0].worker == a.address
                first = job.checkpoints[0].checkpoint
                os.killpg(a.proc.pid, signal.SIGKILL)  # kill -9 while it uploads
                assert await a.proc.wait() == -signal.SIGKILL
                a.stop = _killed  # type: ignore[method-assign]
                done = await running
                assert isinstance(done, JobResult) and done.output == whole.stdout
                lost, segment = job.segments
                assert lost.worker == a.address and lost.reply is None
                assert lost.fuel_used == first.fuel_used  # its word: its one image
                found = ccnet_chain.checkpoints.job_record(a.address, first.job_id)
                assert found is not None  # the previous checkpoint is still A's record
                assert found.checkpoint == first.checkpoint
                assert (found.record.state_hash, found.record.arweave_tx_id) == (
                    "0x" + first.state_hash.hex(),
                    first.arweave_tx_id,
                )
                assert segment.worker == b.address
                assert segment.resumed_from == job.checkpoints[0]
                outcome = await r.settle_checkpointed(
                    job,
                    expected_output_hash=output_hash(whole.stdout),
                    reference=FuelReference(
                        whole.fuel_used, COST, rerun=LocalRerun(job, sandbox, store)
                    ),
                )
                fuel_b = segment.fuel_used
                rest = await LocalRerun(job, sandbox, store)(job.checkpoints[0])
                assert fuel_b == rest + len(segment.announced) * COST
                assert first.fuel_used == whole.fuel_used - rest + COST  # its work, exactly
                rate_a = offers[a.address].price_planck_per_fuel
                rate_b = offers[b.address].price_planck_per_fuel
                owed = price(first.fuel_used, rate_a)
                assert outcome.paid == (0, price(fuel_b, rate_b)), outcome.unpaid_reasons
                assert outcome.owed == (owed, 0)
                assert r.debts.total(a.address) == owed
                party, book = r._party, r._book
                assert party is not None and book is not None
                ch_a, ch_b = lost.request.channel_id, segment.request.channel_id
                assert ch_a is not None and ch_b is not None
                assert party.channel(ch_a).balance == DEPOSIT  # nothing reached A yet
                assert book.available(ch_a) == DEPOSIT - owed  # the debt stays reserved
                assert party.channel(ch_b).balance == DEPOSIT - price(fuel_b, rate_b)

                # A is back (same key, same state): its next job binds the channel, and
                # the debt is paid over it
                back = await run_worker("--checkpoint-gateway", arlocal, env=beats, again=a)
                assert back.address == a.address
                (offer,) = [o for o in await r.find_workers(refresh=True) if o.address == a.address]
                job2 = r.checkpointed_job(
                    wasm, args=ARGS, every_fuel=whole.fuel_used, fuel_limit=10**9
                )
                result = await r.run_segment(job2, offer, timeout=TIMEOUT)
                assert isinstance(result, JobResult)
                assert job2.segments[0].request.channel_id == ch_a  # the same channel
                assert r.debts.all() == []
                settled = await r.settle_checkpointed(job2)
                fuel2 = SignedResult.from_json(dict(result.result)).fuel_used
                assert settled.paid == (price(fuel2, offer.price_planck_per_fuel),)
                assert party.channel(ch_a).balance == DEPOSIT - owed - settled.paid[0]
                assert book.available(ch_a) == DEPOSIT - owed - settled.paid[0]
    finally:
        gateway.close()


async def _killed() -> int:
    """The stop of a worker process this test killed on purpose (the fixture's teardown
    expects a clean exit)."""
    return 0


async def test_worker_that_suspends_at_once_is_paid_its_work_only(
    private_chain: str,
    arlocal: str,
    arweave_wallet: ArweaveWallet,
    start_daemon: StartDaemon,
    wait_until: WaitUntil,
    sandbox: Sandbox,
    tmp_path: Path,
) -> None:
    """A worker that suspends every segment at its first safe point (as a graceful
    stop would), to bill many segments: each is paid the fuel it burnt, the checkpoint
    it took included (792 fuel, which its upload and extrinsic cost it more than), and
    the segments add up to the uninterrupted run plus k x 792 exactly."""
    async with scene(
        private_chain, arlocal, arweave_wallet, start_daemon, sandbox, tmp_path, 2
    ) as s:
        a, b = s.workers
        assert a.handler is not None
        handler = a.handler
        run = handler._run_checkpointed

        async def eager(state: Any, request: JobRequest, limits: Any) -> Any:
            state.stops[request.job_id].set()  # suspend at the first safe point
            return await run(state, request, limits)

        handler._run_checkpointed = eager  # type: ignore[method-assign]
        job = new_job(s)
        for _ in range(3):
            reply = await s.r.run_segment(job, s.offers[0], timeout=TIMEOUT)
            assert isinstance(reply, JobSuspended), reply
        done = await s.r.run_segment(job, s.offers[1], timeout=TIMEOUT)
        assert isinstance(done, JobResult) and done.output == s.stdout
        fuel = job.segment_fuel
        k = len(job.checkpoints)
        assert sum(fuel) == s.whole + k * COST
        outcome = await s.r.settle_checkpointed(
            job, expected_output_hash=output_hash(s.stdout), reference=reference(s, job, sandbox)
        )
        rate_a, rate_b = (o.price_planck_per_fuel for o in s.offers)
        paid_a = sum(price(f, rate_a) for f in fuel[:3])
        assert outcome.paid == (*(price(f, rate_a) for f in fuel[:3]), price(fuel[3], rate_b))
        ch_a, ch_b = job.segments[0].request.channel_id, job.segments[3].request.channel_id
        await earned(wait_until, a, ch_a, paid_a)
        await earned(wait_until, b, ch_b, price(fuel[3], rate_b))
        assert (left(s, ch_a), left(s, ch_b)) == (
            DEPOSIT - paid_a,
            DEPOSIT - price(fuel[3], rate_b),
        )


async def test_a_reused_job_id_cannot_replace_a_suspended_jobs_record(
    private_chain: str,
    arlocal: str,
    arweave_wallet: ArweaveWallet,
    start_daemon: StartDaemon,
    wait_until: WaitUntil,
    sandbox: Sandbox,
    tmp_path: Path,
) -> None:
    """Job ids are public (in the worker's record on chain): a requester sends worker A a
    checkpointed job under the id of another job that A suspended, so that A's new images
    replace that job's record and its resume fails. A refuses it before running anything
    (``malformed``, 0 fuel, nothing uploaded or paid); the record stays; the suspended
    job resumes on B and each worker is paid exactly its segment."""
    async with scene(
        private_chain, arlocal, arweave_wallet, start_daemon, sandbox, tmp_path, 2
    ) as s:
        a, b = s.workers
        job = new_job(s)
        stopped = await suspended_segment(s, job, s.offers[0], wait_until)
        victim = job.segments[0].request.job_id
        record = s.chain.checkpoints.job_record(a.address, victim)
        assert record is not None and record.checkpoint == stopped.checkpoint

        squatter = new_job(s)
        fresh = squatter.next_request
        squatter.next_request = lambda **kw: dataclasses.replace(  # type: ignore[method-assign]
            fresh(**kw), job_id=victim
        )
        refused = await s.r.run_segment(squatter, s.offers[0], timeout=TIMEOUT)
        assert isinstance(refused, JobFailed), refused
        assert (refused.code, refused.fuel_used) == ("malformed", 0)
        assert s.chain.checkpoints.job_record(a.address, victim) == record

        done = await s.r.run_segment(job, s.offers[1], timeout=TIMEOUT)
        assert isinstance(done, JobResult) and done.output == s.stdout
        fuel_a, fuel_b = job.segment_fuel
        assert fuel_a + fuel_b == s.whole + len(job.checkpoints) * COST
        outcome = await s.r.settle_checkpointed(
            job, expected_output_hash=output_hash(s.stdout), reference=reference(s, job, sandbox)
        )
        rate_a, rate_b = (o.price_planck_per_fuel for o in s.offers)
        assert outcome.paid == (price(fuel_a, rate_a), price(fuel_b, rate_b))
        ch_a, ch_b = (seg.request.channel_id for seg in job.segments)
        assert squatter.segments[0].request.channel_id == ch_a  # the same channel to A
        await earned(wait_until, a, ch_a, price(fuel_a, rate_a))
        await earned(wait_until, b, ch_b, price(fuel_b, rate_b))
        assert (left(s, ch_a), left(s, ch_b)) == (
            DEPOSIT - price(fuel_a, rate_a),
            DEPOSIT - price(fuel_b, rate_b),
        )


async def test_another_jobs_image_announced_as_the_suspension_is_discarded_and_unpaid(
    private_chain: str,
    arlocal: str,
    arweave_wallet: ArweaveWallet,
    start_daemon: StartDaemon,
    wait_until: WaitUntil,
    sandbox: Sandbox,
    tmp_path: Path,
) -> None:
    """A worker records an image of another job (sealed under this job's key: it holds
    it) as this job's newest, one past its genuine suspension, and announces it as the
    image its segment stopped at. The resuming worker answers ``malformed``; the
    requester's own check refuses the image too, so it discards it. The worker's genuine
    checkpoints are no longer its record of the job (the lie replaced them on chain), so
    they are dropped too: the job starts anew, and the liar is not paid."""
    async with scene(
        private_chain, arlocal, arweave_wallet, start_daemon, sandbox, tmp_path, 2
    ) as s:
        a, b = s.workers
        assert a.handler is not None and a.checkpoints is not None
        service, deliver = a.checkpoints, a.handler._deliver
        job = new_job(s)
        other = sandbox.run_checkpointed(
            load_job("prime_count"),
            policy=CheckpointPolicy(suspend_at_fuel=5_000_000),
            args=("2000000",),
        )
        assert isinstance(other, SuspendedRun)
        lies: list[JobSuspended] = []

        async def swap(state: Any, request: JobRequest, data: bytes, fuel: int) -> None:
            message = decode(data)
            if isinstance(message, JobSuspended):
                number = message.checkpoint + 1
                image = dataclasses.replace(other.image, checkpoints=number)
                saved = await asyncio.to_thread(service.archive, image, job.key, request.job_id)
                message = dataclasses.replace(  # later than its last announcement
                    message,
                    checkpoint=number,
                    fuel_used=message.fuel_used + 1,
                    segment_fuel=message.segment_fuel + 1,
                    state_hash=saved.state_hash,
                    arweave_tx_id=saved.tx_id,
                    size=saved.size,
                )
                lies.append(message)
            await deliver(state, request, encode(message), fuel)

        a.handler._deliver = swap  # type: ignore[method-assign]
        suspended = await suspended_segment(s, job, s.offers[0], wait_until)
        assert lies == [suspended] and suspended.checkpoint > 1
        genuine = [c for c in job.checkpoints if c.checkpoint.checkpoint < suspended.checkpoint]
        assert genuine and all(c.worker == a.address for c in genuine)
        last = job.last_checkpoint
        assert last is not None and last.checkpoint.state_hash == suspended.state_hash
        # B refuses the image; the requester opens it itself, fails too, discards it and
        # moves on (to B again, here): A's genuine images are no longer A's record either
        opener = ImageOpener(job, s.store)
        done = await s.r.run_checkpointed(
            job, [s.offers[1], s.offers[1]], timeout=TIMEOUT, open_image=opener.facts
        )
        assert isinstance(done, JobResult) and done.output == s.stdout
        refused = job.segments[1].reply
        assert isinstance(refused, JobFailed) and refused.code == "malformed", refused
        assert refused.fuel_used == 0 and job.segments[1].resumed_from == last
        assert last not in job.checkpoints
        assert job.segments[2].resumed_from is None  # A's images were dropped: anew
        fuel = job.segment_fuel
        assert fuel[1] == 0
        assert fuel[2] == s.whole + len(job.segments[2].announced) * COST
        outcome = await s.r.settle_checkpointed(
            job, expected_output_hash=output_hash(s.stdout), reference=reference(s, job, sandbox)
        )
        rate_b = s.offers[1].price_planck_per_fuel
        assert outcome.paid == (0, 0, price(fuel[2], rate_b)), outcome.unpaid_reasons
        assert outcome.unpaid_reasons[0].startswith("its work was not resumed")
        ch_a, ch_b = job.segments[0].request.channel_id, job.segments[2].request.channel_id
        await earned(wait_until, a, ch_a, 0)
        await earned(wait_until, b, ch_b, price(fuel[2], rate_b))
        assert (left(s, ch_a), left(s, ch_b)) == (DEPOSIT, DEPOSIT - price(fuel[2], rate_b))


async def test_a_suspension_answering_an_ordinary_job_is_not_paid(
    private_chain: str,
    arlocal: str,
    arweave_wallet: ArweaveWallet,
    start_daemon: StartDaemon,
    wait_until: WaitUntil,
    sandbox: Sandbox,
    tmp_path: Path,
) -> None:
    """A worker answers an ordinary job (no checkpoints asked) with ``job_suspended``
    claiming 30,000,000 fuel, to be paid for a segment nobody asked for: the job runner
    takes the reply as invalid and pays nothing."""
    claimed = 30_000_000

    def suspend(message: Message) -> Message:
        if isinstance(message, JobResult):
            return JobSuspended(
                message.job_id,
                checkpoint=1,
                fuel_used=claimed,
                state_hash=bytes(32),
                arweave_tx_id="t" * 43,
                size=1,
                segment_fuel=claimed,
            )
        return message

    async with scene(
        private_chain, arlocal, arweave_wallet, start_daemon, sandbox, tmp_path, 1
    ) as s:
        (a,) = s.workers
        assert a.handler is not None
        rewrite_deliveries(a.handler, suspend)
        outcome = await s.r.submit(
            load_job("prime_count"), args=s.args, verify="none", workers=[s.offers[0]]
        )
        assert outcome.output is None
        assert s.r._book is not None
        channel = s.r._book.channel_for(a.address)
        assert channel is not None
        await earned(wait_until, a, channel.channel_id, 0)
        assert left(s, channel.channel_id) == DEPOSIT


async def test_a_forged_result_does_not_end_the_job_or_cost_the_others_their_pay(
    private_chain: str,
    arlocal: str,
    arweave_wallet: ArweaveWallet,
    start_daemon: StartDaemon,
    wait_until: WaitUntil,
    sandbox: Sandbox,
    tmp_path: Path,
) -> None:
    """B resumes A's image, checkpoints, then answers with a forged output (its signed
    result no longer matches). ``run_checkpointed`` refuses the result and moves the
    job to C, which resumes B's last image and finishes. A is paid its suspension, B
    only the work of its images that C resumed (not its claim), C its segment."""

    def forge(message: Message) -> Message:
        if isinstance(message, JobResult):
            return dataclasses.replace(message, output=b"forged\n")
        return message

    async with scene(
        private_chain, arlocal, arweave_wallet, start_daemon, sandbox, tmp_path, 3
    ) as s:
        a, b, c = s.workers
        assert b.handler is not None
        rewrite_deliveries(b.handler, forge)
        job = new_job(s)
        await suspended_segment(s, job, s.offers[0], wait_until)
        done = await s.r.run_checkpointed(job, s.offers[1:], timeout=TIMEOUT)
        assert isinstance(done, JobResult) and done.output == s.stdout
        seg_a, seg_b, seg_c = job.segments
        assert (seg_a.worker, seg_b.worker, seg_c.worker) == (a.address, b.address, c.address)
        assert seg_b.rejected and isinstance(seg_b.reply, JobResult)
        assert seg_b.announced, "B checkpointed before it answered"
        assert seg_c.resumed_from is not None and seg_c.resumed_from.worker == b.address
        outcome = await s.r.settle_checkpointed(
            job, expected_output_hash=output_hash(s.stdout), reference=reference(s, job, sandbox)
        )
        assert outcome.verified, outcome.reason
        suspension = seg_a.reply
        assert isinstance(suspension, JobSuspended)
        work_b = seg_c.resumed_from.checkpoint.fuel_used - suspension.fuel_used
        rate_a, rate_b, rate_c = (o.price_planck_per_fuel for o in s.offers)
        expected = (
            price(seg_a.fuel_used, rate_a),
            price(work_b, rate_b),
            price(seg_c.fuel_used, rate_c),
        )
        assert outcome.paid == expected, outcome.unpaid_reasons
        # B's images hold work, its claim (the forged result's fuel) is not paid
        assert work_b < seg_b.fuel_used
        # the three add up to the uninterrupted run plus the images taken on the path
        taken = len(seg_a.announced) + seg_b.announced.index(seg_c.resumed_from.checkpoint) + 1
        taken += len(seg_c.announced)
        assert seg_a.fuel_used + work_b + seg_c.fuel_used == s.whole + taken * COST
        for daemon, segment, amount in zip((a, b, c), (seg_a, seg_b, seg_c), expected, strict=True):
            await earned(wait_until, daemon, segment.request.channel_id, amount)
            assert left(s, segment.request.channel_id) == DEPOSIT - amount
