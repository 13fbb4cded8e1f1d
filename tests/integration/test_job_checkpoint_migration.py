"""VM checkpoints on the job protocol, with the real parts: two worker daemons (their own
keys, a private dev chain under Chopsticks, arlocal for Arweave), the requester SDK over
WebRTC, paid through payment channels.

Worker A runs ``prime_count`` with periodic checkpoints, each sealed with the
requester's key, archived and recorded on chain by A and announced; the requester asks
it to suspend; worker B resumes the job from A's last checkpoint and finishes it. B's
output is the uninterrupted run's, byte for byte, and the segments' fuel adds up to the
uninterrupted run's plus the documented cost per checkpoint (``docs/vm-checkpoints.md``,
section 4); each worker is paid its own segment's fuel. A resume with the wrong key, with
a record that does not match the chain, or of another job's image is ``malformed``, and
nothing is billed for it; so is a resume of an image its owner has since replaced by a
newer one of the same job, which the SDK drops. A ``ccnet worker run`` process stopped
with SIGTERM suspends the job it runs with checkpoints, and another worker finishes it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING

from ccnet.client import CC, Chain, Keypair, Keys
from ccnet.client.jobs.billing import price
from ccnet.client.jobs.catalogue import load_job
from ccnet.client.jobs.messages import JobCheckpoint, JobFailed, JobResult, JobSuspended
from ccnet.client.jobs.results import SignedResult, output_hash
from ccnet.client.requester import Announced, CheckpointedJob, Requester
from ccnet.client.requester.discovery import WorkerOffer
from ccnet.storage import ArweaveGateway, ArweaveWallet, CheckpointStore, LocalCache
from ccnet.worker.daemon import WorkerDaemon
from ccnet.worker.sandbox import Sandbox, SuspendedRun
from ccnet.worker.vmcheckpoint import CheckpointPolicy, new_key
from ccnet.worker.vmcheckpoint.archive import archive

if TYPE_CHECKING:  # mypy sees the checkout's tests package; pytest puts tests/ on sys.path
    from tests.fixtures.daemon import RunWorker
else:
    from fixtures.daemon import RunWorker

StartDaemon = Callable[..., Awaitable[WorkerDaemon]]
WaitUntil = Callable[..., Awaitable[None]]

ARGS = ("3000000",)
PRIME_COUNT_CHECKPOINT_COST = 792
"""Fuel of one checkpoint of prime_count (docs/vm-checkpoints.md, section 4)."""
TIMEOUT = 240.0
JOB_1, JOB_2 = bytes.fromhex("01" * 16), bytes.fromhex("02" * 16)
"""Job ids the owner in ``test_resuming_from_a_wrong_image_is_malformed_and_unbilled``
records its images under."""


def funded(chain: Chain, amount: int) -> Keypair:
    keypair, _ = Keys.generate()
    chain.transfer(Keys.from_uri("//Ferdie"), str(keypair.ss58_address), amount)
    return keypair


async def paid(
    wait_until: WaitUntil, daemon: WorkerDaemon, channel: bytes | None, amount: int
) -> None:
    """Wait until *daemon* has received *amount* planck in all on *channel*, and owes
    nothing back (no job of the requester running or delivered and unpaid)."""
    payments, handler = daemon.payments, daemon.handler
    assert payments is not None and handler is not None and channel is not None
    await wait_until(lambda: payments.earned(channel) == amount, "the payment")
    assert handler.unpaid_jobs() == 0


async def offers_of(r: Requester, *daemons: WorkerDaemon) -> list[WorkerOffer]:
    offers = {o.address: o for o in await r.find_workers(refresh=True)}
    return [offers[d.address] for d in daemons]


async def test_a_job_suspended_on_one_worker_finishes_on_another(
    private_chain: str,
    arlocal: str,
    start_daemon: StartDaemon,
    wait_until: WaitUntil,
    sandbox: Sandbox,
    tmp_path: Path,
) -> None:
    wasm = load_job("prime_count")
    whole = sandbox.run(wasm, args=ARGS)
    assert whole.stdout == b"216816\n"
    with Chain(private_chain) as chain:
        keys = [funded(chain, 100 * CC) for _ in range(3)]
        settings = {
            "checkpoint_gateway": arlocal,
            "watch_tasks": False,
            "verify_disputes": False,
            "proofs": False,
        }
        a = await start_daemon(keys[0], private_chain, **settings)
        bootstrap = ((a.ready.dht_host, a.ready.dht_port),)
        b = await start_daemon(keys[1], private_chain, dht_bootstrap=bootstrap, **settings)
        async with Requester(
            chain,
            keys[2],
            dht_bootstrap=list(bootstrap),
            state_dir=tmp_path / "requester",
            deposit_per_channel=1 * CC,
        ) as r:
            offer_a, offer_b = await offers_of(r, a, b)
            job = r.checkpointed_job(
                wasm, args=ARGS, every_fuel=whole.fuel_used // 4, fuel_limit=10**9
            )

            # A: periodic checkpoints, then suspended at the requester's request
            running = asyncio.create_task(r.run_segment(job, offer_a, timeout=TIMEOUT))
            await wait_until(lambda: bool(job.checkpoints) or running.done(), "a checkpoint")
            await job.suspend()
            suspended = await running
            assert isinstance(suspended, JobSuspended), suspended
            assert [c.worker for c in job.checkpoints] == [a.address] * len(job.checkpoints)
            assert [c.checkpoint.checkpoint for c in job.checkpoints] == list(
                range(1, suspended.checkpoint + 1)
            )
            assert job.checkpoints[-1].checkpoint.state_hash == suspended.state_hash
            # A recorded it with its key, as the newest image of the job it ran
            found = chain.checkpoints.job_record(a.address, job.segments[0].request.job_id)
            assert found is not None and found.checkpoint == suspended.checkpoint
            record = found.record
            assert record.state_hash == "0x" + suspended.state_hash.hex()
            assert (record.arweave_tx_id, record.size) == (
                suspended.arweave_tx_id,
                suspended.size,
            )
            assert 0 < suspended.segment_fuel <= suspended.fuel_used < whole.fuel_used

            # B: resumed from A's last checkpoint, run to the end
            done = await r.run_segment(job, offer_b, timeout=TIMEOUT)
            assert isinstance(done, JobResult), done
            assert done.output == whole.stdout
            outcome = await r.settle_checkpointed(
                job, expected_output_hash=output_hash(whole.stdout)
            )
            assert outcome.verified, outcome.reason
            assert outcome.output == whole.stdout
            fuel_a, fuel_b = outcome.segment_fuel
            assert fuel_a == suspended.segment_fuel
            k = len(outcome.checkpoints)  # A's images, then B's
            assert k > suspended.checkpoint
            assert fuel_a + fuel_b == whole.fuel_used + k * PRIME_COUNT_CHECKPOINT_COST
            print(
                f"k={k} fuel_a={fuel_a} fuel_b={fuel_b} whole={whole.fuel_used} paid={outcome.paid}"
            )
            rates = (offer_a.price_planck_per_fuel, offer_b.price_planck_per_fuel)
            assert outcome.paid == (price(fuel_a, rates[0]), price(fuel_b, rates[1]))
            assert outcome.unpaid_reasons == ("", "")
            assert fuel_a == suspended.fuel_used  # A started from the start

            # each worker was paid exactly its own segment
            await paid(wait_until, a, job.segments[0].request.channel_id, outcome.paid[0])
            await paid(wait_until, b, job.segments[1].request.channel_id, outcome.paid[1])


async def test_resuming_from_a_wrong_image_is_malformed_and_unbilled(
    private_chain: str,
    arlocal: str,
    arweave_wallet: ArweaveWallet,
    start_daemon: StartDaemon,
    wait_until: WaitUntil,
    sandbox: Sandbox,
    tmp_path: Path,
) -> None:
    wasm = load_job("prime_count")
    with Chain(private_chain) as chain:
        owner, worker_key, requester_key = (funded(chain, 100 * CC) for _ in range(3))
        # A checkpoint of this job that "owner" archived and recorded on chain.
        key = new_key()
        run = sandbox.run_checkpointed(
            wasm, policy=CheckpointPolicy(suspend_at_fuel=5_000_000), args=ARGS
        )
        other = sandbox.run_checkpointed(
            wasm, policy=CheckpointPolicy(suspend_at_fuel=5_000_000), args=("2000000",)
        )
        assert isinstance(run, SuspendedRun) and isinstance(other, SuspendedRun)
        with ArweaveGateway(arlocal, dev=True) as gateway:
            store = CheckpointStore(
                chain, owner, gateway, arweave_wallet, LocalCache(tmp_path / "cache")
            )
            saved = await asyncio.to_thread(archive, store, run.image, key, JOB_1.hex())
            foreign = await asyncio.to_thread(archive, store, other.image, key, JOB_2.hex())

        b = await start_daemon(
            worker_key,
            private_chain,
            checkpoint_gateway=arlocal,
            watch_tasks=False,
            verify_disputes=False,
            proofs=False,
        )
        bootstrap = ((b.ready.dht_host, b.ready.dht_port),)
        async with Requester(
            chain,
            requester_key,
            dht_bootstrap=list(bootstrap),
            state_dir=tmp_path / "requester",
            deposit_per_channel=1 * CC,
        ) as r:
            (offer,) = await offers_of(r, b)

            def from_record(
                job_key: bytes,
                tx_id: str,
                state_hash: bytes,
                size: int,
                job_id: bytes = JOB_1,
                number: int = 1,
            ) -> CheckpointedJob:
                job = r.checkpointed_job(wasm, args=ARGS, every_fuel=10**9, key=job_key)
                note = JobCheckpoint(job_id, number, run.image.fuel_used, state_hash, tx_id, size)
                job.checkpoints.append(Announced(str(owner.ss58_address), note))
                return job

            cases = {
                "does not open under this key": from_record(
                    new_key(), saved.tx_id, saved.state_hash, saved.size
                ),
                "has no checkpoint on chain for job": from_record(
                    key, saved.tx_id, saved.state_hash, saved.size, job_id=bytes(16)
                ),
                "not checkpoint 2 of job": from_record(
                    key, saved.tx_id, saved.state_hash, saved.size, number=2
                ),
                f"state hash 0x{'00' * 32}, size": from_record(
                    key, saved.tx_id, bytes(32), saved.size
                ),
                "size 1)": from_record(key, saved.tx_id, saved.state_hash, 1),
                # the other job's record, announced as this job's: its own job id
                "not checkpoint 1 of job": from_record(
                    key, foreign.tx_id, foreign.state_hash, foreign.size
                ),
                "another input": from_record(
                    key, foreign.tx_id, foreign.state_hash, foreign.size, job_id=JOB_2
                ),
            }
            for why, job in cases.items():
                # check_record=False: the SDK would not send what is not on chain
                reply = await r.run_segment(job, offer, timeout=TIMEOUT, check_record=False)
                assert isinstance(reply, JobFailed), why
                assert (reply.code, reply.fuel_used) == ("malformed", 0), (why, reply)
                assert why in reply.message, (why, reply.message)
                outcome = await r.settle_checkpointed(job)
                assert not outcome.verified and outcome.paid == (0,), why

            # the SDK drops an announcement that is not on chain: from the start instead
            unrecorded = from_record(key, saved.tx_id, bytes(32), saved.size)
            anew = await r.run_segment(unrecorded, offer, timeout=TIMEOUT)
            assert isinstance(anew, JobResult) and anew.output == b"216816\n"
            assert unrecorded.checkpoints == [] and unrecorded.segments[0].resumed_from is None
            assert (await r.settle_checkpointed(unrecorded)).verified

            # the right key and record resume it: the refusals were about the image only
            good = from_record(key, saved.tx_id, saved.state_hash, saved.size)
            done = await r.run_segment(good, offer, timeout=TIMEOUT)
            assert isinstance(done, JobResult) and done.output == b"216816\n"
            settled = await r.settle_checkpointed(good)
            assert settled.verified and settled.paid[0] > 0

            # the owner records a newer image of that job: the announced one is no longer
            # its record, so a worker refuses it and the SDK drops it
            newer = sandbox.run_checkpointed(
                wasm,
                policy=CheckpointPolicy(suspend_at_fuel=8_000_000),
                resume=run.image,
                args=ARGS,
            )
            assert isinstance(newer, SuspendedRun) and newer.image.checkpoints == 2
            with ArweaveGateway(arlocal, dev=True) as gateway:
                store = CheckpointStore(
                    chain, owner, gateway, arweave_wallet, LocalCache(tmp_path / "cache")
                )
                await asyncio.to_thread(archive, store, newer.image, key, JOB_1.hex())
            replaced = from_record(key, saved.tx_id, saved.state_hash, saved.size)
            reply = await r.run_segment(replaced, offer, timeout=TIMEOUT, check_record=False)
            assert isinstance(reply, JobFailed), reply
            assert (reply.code, reply.fuel_used) == ("malformed", 0), reply
            assert "is checkpoint 2" in reply.message and "not checkpoint 1" in reply.message
            assert not (await r.settle_checkpointed(replaced)).verified
            dropped = from_record(key, saved.tx_id, saved.state_hash, saved.size)
            again = await r.run_segment(dropped, offer, timeout=TIMEOUT)
            assert isinstance(again, JobResult) and again.output == b"216816\n"
            assert dropped.checkpoints == [] and dropped.segments[0].resumed_from is None
            assert (await r.settle_checkpointed(dropped)).verified

            # only the three results were ever paid, and nothing else is owed
            total = settled.paid[0] + sum(
                price(SignedResult.from_json(res.result).fuel_used, offer.price_planck_per_fuel)
                for res in (anew, again)
            )
            await paid(wait_until, b, good.segments[0].request.channel_id, total)


async def test_sigterm_suspends_a_checkpointed_job_and_another_worker_finishes_it(
    devchain: str,
    ccnet_chain: Chain,
    fund_account: Callable[..., Keypair],
    arlocal: str,
    run_worker: RunWorker,
    wait_until: WaitUntil,
    sandbox: Sandbox,
    tmp_path: Path,
) -> None:
    wasm = load_job("prime_count")
    whole = sandbox.run(wasm, args=ARGS)
    args = ("--checkpoint-gateway", arlocal)
    a = await run_worker(*args)
    bootstrap = [(str(a.ready["dht_host"]), int(a.ready["dht_port"]))]
    b = await run_worker(*args, "--dht-bootstrap", f"{bootstrap[0][0]}:{bootstrap[0][1]}")
    async with Requester(
        ccnet_chain,
        fund_account(),
        dht_bootstrap=bootstrap,
        state_dir=tmp_path / "requester",
        deposit_per_channel=1 * CC,
    ) as r:
        offers = {o.address: o for o in await r.find_workers(refresh=True)}
        job = r.checkpointed_job(wasm, args=ARGS, every_fuel=whole.fuel_used // 4)
        running = asyncio.create_task(r.run_segment(job, offers[a.address], timeout=TIMEOUT))
        await wait_until(lambda: bool(job.checkpoints) or running.done(), "a checkpoint")
        assert await a.stop() == 0  # SIGTERM: the daemon suspends the job before it stops
        suspended = await running
        assert isinstance(suspended, JobSuspended), suspended
        done = await r.run_segment(job, offers[b.address], timeout=TIMEOUT)
        assert isinstance(done, JobResult) and done.output == whole.stdout
        outcome = await r.settle_checkpointed(job, expected_output_hash=output_hash(whole.stdout))
        assert outcome.verified and outcome.paid[1] > 0
        k = len(outcome.checkpoints)
        assert sum(outcome.segment_fuel) == whole.fuel_used + k * PRIME_COUNT_CHECKPOINT_COST
        # A is gone: its segment stays owed (unpaid) in the channel, its reservation freed
        assert outcome.paid[0] == 0 and outcome.unpaid_reasons[0].startswith("payment failed")
