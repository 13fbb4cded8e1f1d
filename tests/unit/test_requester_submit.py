"""Requester.submit end to end over fakes: in-memory sessions with scripted workers that
sign real results, and a fake payment-channel party. Checks who is paid, what is
recorded, and that nothing is sent when the channel cannot cover a job."""

from __future__ import annotations

import asyncio
import os
import random
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import pytest
from substrateinterface import Keypair, KeypairType

from ccnet.channels import PeerTimeoutError, Phase
from ccnet.client.jobs.messages import (
    JobCheckpoint,
    JobFailed,
    JobRequest,
    JobSuspended,
    Message,
    decode,
    encode,
)
from ccnet.client.jobs.messages import JobResult as JobResultMessage
from ccnet.client.jobs.results import SignedResult, input_hash, output_hash
from ccnet.client.net.exceptions import SignalingError
from ccnet.client.net.records import Capability, CapabilityRecord
from ccnet.client.net.webrtc import PeerSession
from ccnet.client.requester import Requester
from ccnet.client.requester.discovery import Candidate, WorkerOffer, rank_offers
from ccnet.client.requester.exceptions import (
    ChannelFundsError,
    FuelClaimError,
    NoWorkersError,
    RequesterClosedError,
)
from ccnet.client.requester.quality import QualityTracker, Reputation

if TYPE_CHECKING:  # mypy sees the checkout's tests package; pytest puts tests/ on sys.path
    from tests.fixtures.arlocal import FakeChain
    from tests.fixtures.requester import FakePeer
else:
    from fixtures.requester import FakePeer

MODULE = b"\0asm" + b"fake module"


def key(name: str) -> Keypair:
    return Keypair.create_from_uri(f"//{name}", ss58_format=42, crypto_type=KeypairType.SR25519)


REQUESTER = key("Alice")
WORKERS = {name: key(name) for name in ("Bob", "Charlie", "Dave")}


@dataclass
class Script:
    """How a fake worker answers: its output, or a failure code, or tampering."""

    output: Callable[[JobRequest], bytes] = lambda req: b"42\n"
    fail: str | None = None
    bad_hash: bool = False
    wrong_task: bool = False
    fuel: Callable[[JobRequest], int] = lambda req: 1_000
    """The fuel the signed result claims."""
    unsolicited: bool = False
    """Before each answer, also send a valid result for a job nobody asked for."""
    before: Callable[[JobRequest], list[Message]] = lambda req: []
    """Messages sent before the answer (job_checkpoint announcements, say)."""
    suspend: Callable[[JobRequest], JobSuspended | None] = lambda req: None
    """An answer instead of the result."""
    seen: list[JobRequest] = field(default_factory=list)


async def serve(peer: FakePeer, keypair: Keypair, script: Script) -> None:
    while True:
        try:
            message = decode(await peer.worker_end.recv())
        except Exception:
            return
        assert isinstance(message, JobRequest)
        script.seen.append(message)
        for extra in script.before(message):
            await peer.worker_end.send(encode(extra))
        suspended = script.suspend(message)
        if suspended is not None:
            await peer.worker_end.send(encode(suspended))
            continue
        if script.fail is not None:
            await peer.worker_end.send(encode(JobFailed(message.job_id, script.fail, "no", 5)))
            continue
        output = script.output(message)
        result = SignedResult.create(
            keypair,
            task_id=(message.task_id or 0) + (1 if script.wrong_task else 0),
            module_hash=message.module_hash,
            input_hash=input_hash(message.args, message.input),
            output_hash=output_hash(output + (b"!" if script.bad_hash else b"")),
            fuel_used=script.fuel(message),
        )
        reply = JobResultMessage(message.job_id, output, result.to_json())
        if script.unsolicited:
            extra = JobResultMessage(os.urandom(16), output, result.to_json())
            await peer.worker_end.send(encode(extra))
        await peer.worker_end.send(encode(reply))


@dataclass
class FakeChannel:
    channel_id: bytes
    info: Any
    balance: int
    phase: Phase = Phase.FUNDED
    closing: Any = None
    failed: Any = None
    pending: Any = None
    """No outstanding proposal: the fake party answers every update at once."""


@dataclass
class FakeReceipt:
    fee: int = 7


class FakeParty:
    def __init__(self) -> None:
        self.public_key = bytes(REQUESTER.public_key)
        self.channels: list[FakeChannel] = []
        self.receipts: list[FakeReceipt] = []
        self.attached: dict[bytes, Any] = {}
        self.payments: list[tuple[bytes, int]] = []
        self.closed: list[bytes] = []
        self.fail_pay = False

    async def open(self, worker: str, deposit: int) -> FakeChannel:
        from ccnet.client.signing import public_key_of

        info = type("Info", (), {"party_a": self.public_key, "party_b": public_key_of(worker)})
        channel = FakeChannel(bytes([len(self.channels) + 1]) * 32, info, deposit)
        self.channels.append(channel)
        self.receipts.append(FakeReceipt())
        return channel

    async def attach(self, channel_id: bytes, transport: Any) -> None:
        self.attached[channel_id] = transport

    def channel(self, channel_id: bytes) -> FakeChannel:
        return next(c for c in self.channels if c.channel_id == channel_id)

    async def pay(
        self,
        channel_id: bytes,
        amount: int,
        memo: str = "",
        *,
        before_proposal: Callable[[int], None] | None = None,
    ) -> None:
        if self.fail_pay:
            raise PeerTimeoutError("no countersignature")
        self.channel(channel_id).balance -= amount
        self.payments.append((channel_id, amount))

    async def close_cooperatively(self, channel_id: bytes) -> FakeReceipt:
        self.channels.remove(self.channel(channel_id))
        self.receipts.append(FakeReceipt())
        self.closed.append(channel_id)
        return self.receipts[-1]

    async def aclose(self) -> None:
        pass


def offers(names: list[str], tracker: QualityTracker) -> list[WorkerOffer]:
    candidates = [
        Candidate(
            CapabilityRecord.create(
                WORKERS[n], Capability("wasm", 10**8, 1), f"http://127.0.0.1:1/{n}"
            ),
            Reputation(),
            10**13,
        )
        for n in names
    ]
    return rank_offers(candidates, tracker, 0)


@dataclass
class Rig:
    requester: Requester
    party: FakeParty
    scripts: dict[str, Script]
    unreachable: set[str]
    dials: list[str]

    def offers(self, *names: str) -> list[WorkerOffer]:
        return offers(list(names), self.requester.tracker)

    def rig_rng(self, rng: random.Random) -> None:
        """The randomness that draws spot checks (the plan's and the runner's)."""
        self.requester._rng = rng
        assert self.requester._runner is not None
        self.requester._runner.rng = rng


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    r = Requester(
        "ws://unused",
        REQUESTER,
        dht_bootstrap=[],
        state_dir=tmp_path,
        deposit_per_channel=10**12,
        job_timeout=5,
    )
    party = FakeParty()
    scripts = {str(k.ss58_address): Script() for k in WORKERS.values()}
    unreachable: set[str] = set()
    dials: list[str] = []
    tasks: list[asyncio.Task[None]] = []
    by_address = {str(k.ss58_address): k for k in WORKERS.values()}

    async def connector(endpoint: str, worker: str) -> PeerSession:
        dials.append(worker)
        if worker in unreachable:
            raise SignalingError("refused", status=503)
        peer = FakePeer(worker)
        tasks.append(asyncio.create_task(serve(peer, by_address[worker], scripts[worker])))
        return cast(PeerSession, peer)

    r._assemble(cast(Any, party), connector=connector)
    r._started = True
    yield Rig(r, party, scripts, unreachable, dials)
    assert r._pool is not None
    await r._pool.close()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def addr(name: str) -> str:
    return str(WORKERS[name].ss58_address)


async def test_majority_pays_agreeing_workers_and_reuses_sessions_and_channels(rig: Rig) -> None:
    rig.scripts[addr("Dave")].output = lambda req: b"43\n"
    workers = rig.offers("Bob", "Charlie", "Dave")
    for _ in range(2):
        outcome = await rig.requester.submit(MODULE, b"x", verify="majority", workers=workers)
        assert outcome.verified and outcome.output == b"42\n"
        assert outcome.dissenters == (addr("Dave"),)
        assert outcome.cost_planck == 2 * 1_000
        assert outcome.results[addr("Dave")].paid == 0
    assert len(rig.party.channels) == 3 and len(rig.dials) == 3
    assert len(rig.party.payments) == 4
    stats = rig.requester.stats()
    assert stats.offchain_updates == 4 and stats.channel_extrinsics == 3
    assert stats.workers[addr("Bob")].cost == 2_000 and stats.workers[addr("Dave")].cost == 0
    assert stats.workers[addr("Dave")].rejected == 2
    seen = rig.requester.tracker.inputs(addr("Dave"), 0)
    assert (seen.succeeded, seen.failed) == (0, 2)
    # every worker got the same task id (so results are comparable) and its own job id
    requests = [rig.scripts[addr(n)].seen[0] for n in ("Bob", "Charlie", "Dave")]
    assert len({r.task_id for r in requests}) == 1 and len({r.job_id for r in requests}) == 3
    assert all(r.rate_planck_per_fuel == 1 and r.channel_id is not None for r in requests)


async def test_unreachable_and_invalid_workers_are_recorded_not_paid(rig: Rig) -> None:
    rig.unreachable.add(addr("Dave"))
    rig.scripts[addr("Charlie")].bad_hash = True
    outcome = await rig.requester.submit(
        MODULE, verify="majority", workers=rig.offers("Bob", "Charlie", "Dave")
    )
    assert not outcome.verified  # 1 valid result of 3 asked: no quorum of 2
    assert outcome.results[addr("Dave")].status == "unreachable"
    assert outcome.results[addr("Charlie")].status == "invalid"
    assert "does not match" in outcome.results[addr("Charlie")].reason
    assert outcome.cost_planck == 0 and rig.party.payments == []
    assert rig.requester.stats().tasks_rejected == 1


async def test_a_result_for_another_task_is_invalid(rig: Rig) -> None:
    rig.scripts[addr("Bob")].wrong_task = True
    outcome = await rig.requester.submit(MODULE, verify="none", workers=rig.offers("Bob"))
    assert outcome.results[addr("Bob")].status == "invalid"
    assert "another task id" in outcome.results[addr("Bob")].reason


async def test_busy_is_not_held_against_a_worker(rig: Rig) -> None:
    rig.scripts[addr("Bob")].fail = "busy"
    rig.scripts[addr("Charlie")].fail = "trap"
    rig.scripts[addr("Dave")].fail = "internal"  # a bug in the worker is its fault
    for name in ("Bob", "Charlie", "Dave"):
        outcome = await rig.requester.submit(MODULE, verify="none", workers=rig.offers(name))
        assert outcome.results[addr(name)].status == "failed"
    assert rig.requester.tracker.inputs(addr("Bob"), 0).failed == 0
    assert rig.requester.tracker.inputs(addr("Charlie"), 0).failed == 1
    assert rig.requester.tracker.inputs(addr("Dave"), 0).failed == 1


async def test_a_failed_payment_is_reported_and_stays_owed(rig: Rig) -> None:
    rig.party.fail_pay = True
    outcome = await rig.requester.submit(MODULE, verify="none", workers=rig.offers("Bob"))
    assert outcome.verified and outcome.cost_planck == 0
    assert "PeerTimeout" in outcome.results[addr("Bob")].payment_error
    assert rig.requester.stats().offchain_updates == 0


async def test_a_spent_channel_is_rolled_over_on_a_new_session(rig: Rig) -> None:
    bob = rig.offers("Bob")
    await rig.requester.submit(MODULE, verify="none", workers=bob)
    spent = rig.party.channels[0].channel_id
    outcome = await rig.requester.submit(MODULE, verify="none", fuel_limit=10**13, workers=bob)
    assert outcome.verified
    assert rig.party.closed == [spent] and len(rig.party.channels) == 1
    assert rig.party.channels[0].balance == 10**13 - 1_000  # deposit covers the worst case
    assert len(rig.dials) == 2  # the old session went with the old channel
    stats = rig.requester.stats()
    assert stats.channel_extrinsics == 3 and stats.extra["channel_rollovers"] == 1


async def test_nothing_is_sent_when_the_channel_cannot_cover_the_job(rig: Rig) -> None:
    rig.requester.rollover = False
    await rig.requester.submit(MODULE, verify="none", workers=rig.offers("Bob"))
    with pytest.raises(ChannelFundsError):
        await rig.requester.submit(
            MODULE, verify="none", fuel_limit=10**13, workers=rig.offers("Bob")
        )
    assert len(rig.scripts[addr("Bob")].seen) == 1


async def test_not_enough_workers(rig: Rig) -> None:
    with pytest.raises(NoWorkersError) as err:
        await rig.requester.submit(MODULE, verify="majority", workers=rig.offers("Bob"))
    assert (err.value.wanted, err.value.found) == (3, 1)


async def test_a_requester_that_is_not_started_refuses_work(tmp_path: Path) -> None:
    r = Requester(
        "ws://unused", REQUESTER, dht_bootstrap=[], state_dir=tmp_path, deposit_per_channel=1
    )
    with pytest.raises(RequesterClosedError):
        await r.submit(MODULE)
    with pytest.raises(ValueError):
        Requester("ws://x", REQUESTER, dht_bootstrap=[], state_dir=tmp_path, deposit_per_channel=0)


class Rigged(random.Random):
    """Draws every spot check, and picks *worker* for it (the first known job)."""

    def __init__(self, worker: str) -> None:
        super().__init__(0)
        self.worker = worker

    def randrange(self, *args: Any, **kwargs: Any) -> int:
        return 0

    def choice(self, seq: Any) -> Any:
        for item in seq:
            if getattr(getattr(item, "offer", None), "address", None) == self.worker:
                return item
        return seq[0]


async def test_auto_mode_mixes_in_a_spot_check_that_catches_a_liar(rig: Rig) -> None:
    dave = addr("Dave")
    rig.rig_rng(Rigged(dave))
    rig.requester.add_known_answer(MODULE, ("7",), b"", b"42\n")
    rig.scripts[dave].output = lambda req: b"43\n" if req.args == ("7",) else b"42\n"
    outcome = await rig.requester.submit(MODULE, workers=rig.offers("Bob", "Charlie", "Dave"))
    (check,) = outcome.spot_checks
    assert check.worker == dave and not check.passed and check.paid == 0
    assert outcome.verified and dave not in outcome.verification.agreeing  # type: ignore[union-attr]
    assert outcome.results[dave].status == "invalid"
    assert outcome.results[dave].reason == "failed a spot check"
    assert outcome.cost_planck == 2 * 1_000 and outcome.results[dave].paid == 0
    stats = rig.requester.stats()
    assert (stats.spot_checks, stats.spot_checks_failed) == (1, 1)


async def test_a_passed_spot_check_is_paid_like_any_job(rig: Rig) -> None:
    bob = addr("Bob")
    rig.rig_rng(Rigged(bob))
    rig.requester.add_known_answer(MODULE, ("7",), b"", b"42\n")
    outcome = await rig.requester.submit(MODULE, workers=rig.offers("Bob", "Charlie", "Dave"))
    (check,) = outcome.spot_checks
    assert check.passed and check.paid == 1_000
    assert outcome.cost_planck == 3 * 1_000 + 1_000
    assert len(rig.scripts[bob].seen) == 2
    assert rig.requester.stats().workers[bob].cost == 2_000


# -- what a requester pays -------------------------------------------------------------


async def test_a_fuel_claim_over_the_limit_is_invalid_and_not_paid(rig: Rig) -> None:
    rig.scripts[addr("Bob")].fuel = lambda req: (req.fuel_limit or 0) + 1
    outcome = await rig.requester.submit(
        MODULE, verify="none", fuel_limit=5_000, workers=rig.offers("Bob")
    )
    report = outcome.results[addr("Bob")]
    assert not outcome.verified and report.status == "invalid" and report.paid == 0
    assert isinstance(report.error, FuelClaimError)
    assert (report.error.fuel_used, report.error.fuel_limit) == (5_001, 5_000)
    assert "claims 5001 fuel for a job limited to 5000" in report.reason
    assert outcome.cost_planck == 0 and rig.party.payments == []
    assert rig.party.channels[0].balance == 10**12  # the whole deposit is still ours


async def test_a_claim_of_the_whole_limit_is_paid_the_reservation_at_most(rig: Rig) -> None:
    rig.scripts[addr("Bob")].fuel = lambda req: req.fuel_limit or 0
    outcome = await rig.requester.submit(
        MODULE, verify="none", fuel_limit=5_000, workers=rig.offers("Bob")
    )
    assert outcome.verified and outcome.cost_planck == 5_000  # fuel limit x rate 1
    assert [amount for _, amount in rig.party.payments] == [5_000]


def test_a_payment_is_cut_to_the_reservation() -> None:
    from ccnet.client.requester.runs import JobRunner, _Attempt

    offer = offers(["Bob"], QualityTracker())[0]
    assert JobRunner._capped(addr("Bob"), 10, _Attempt(offer, reserved=7)) == 7
    assert JobRunner._capped(addr("Bob"), 7, _Attempt(offer, reserved=7)) == 7
    assert JobRunner._capped(addr("Bob"), 3, _Attempt(offer, reserved=7)) == 3


@pytest.mark.parametrize("code", ["out-of-fuel", "trap", "busy", "payment"])
async def test_a_failed_job_is_never_paid(rig: Rig, code: str) -> None:
    rig.scripts[addr("Bob")].fail = code
    outcome = await rig.requester.submit(MODULE, verify="none", workers=rig.offers("Bob"))
    assert outcome.results[addr("Bob")].status == "failed"
    assert outcome.cost_planck == 0 and rig.party.payments == []


async def test_jobs_in_flight_to_one_worker_stay_within_its_unpaid_limit(rig: Rig) -> None:
    """Five jobs at once, two per worker at most (request sent, payment not made)."""
    assert rig.requester._runner is not None
    rig.requester._runner.jobs_per_worker = 2
    script = rig.scripts[addr("Bob")]
    unpaid: list[int] = []

    def output(req: JobRequest) -> bytes:
        unpaid.append(len(script.seen) - len(rig.party.payments))
        return b"42\n"

    script.output = output
    bob = rig.offers("Bob")
    outcomes = await asyncio.gather(
        *(rig.requester.submit(MODULE, verify="none", workers=bob) for _ in range(5))
    )
    assert all(o.verified for o in outcomes) and len(rig.party.payments) == 5
    assert len(unpaid) == 5 and max(unpaid) == 2


async def test_a_result_nobody_asked_for_is_never_paid(rig: Rig) -> None:
    rig.scripts[addr("Bob")].unsolicited = True
    bob = rig.offers("Bob")
    for _ in range(2):
        outcome = await rig.requester.submit(MODULE, verify="none", workers=bob)
        assert outcome.verified and outcome.cost_planck == 1_000
    assert [amount for _, amount in rig.party.payments] == [1_000, 1_000]


# -- jobs with VM checkpoints ------------------------------------------------------------


def note(req: JobRequest, number: int, fuel: int) -> JobCheckpoint:
    return JobCheckpoint(req.job_id, number, fuel, bytes([number]) * 32, f"tx{number}", 4096)


def suspended(req: JobRequest, number: int, fuel: int, segment_fuel: int) -> JobSuspended:
    return JobSuspended(
        req.job_id, number, fuel, bytes([number]) * 32, f"tx{number}", 4096, segment_fuel
    )


async def test_a_checkpointed_job_moves_to_another_worker_and_each_segment_is_paid(
    rig: Rig,
) -> None:
    bob, charlie = rig.scripts[addr("Bob")], rig.scripts[addr("Charlie")]
    bob.before = lambda req: [note(req, 1, 1_000)]
    bob.suspend = lambda req: suspended(req, 2, 1_500, 1_500)
    charlie.fuel = lambda req: 700
    r = rig.requester
    job = r.checkpointed_job(MODULE, b"x", every_fuel=1_000, fuel_limit=10_000, task_id=9)
    first, second = rig.offers("Bob", "Charlie")
    reply = await r.run_segment(job, first, check_record=False)
    assert isinstance(reply, JobSuspended)
    assert [(c.worker, c.checkpoint.checkpoint) for c in job.checkpoints] == [
        (addr("Bob"), 1),
        (addr("Bob"), 2),
    ]
    done = await r.run_segment(job, second, check_record=False)
    assert isinstance(done, JobResultMessage) and done.output == b"42\n"
    sent = charlie.seen[0]  # resumed from Bob's last checkpoint, still checkpointing
    assert sent.resume is not None and sent.checkpoint is not None
    assert (sent.resume.owner, sent.resume.arweave_tx_id) == (addr("Bob"), "tx2")
    assert sent.resume.key == sent.checkpoint.key == job.key
    assert bob.seen[0].resume is None and sent.task_id == bob.seen[0].task_id == 9
    outcome = await r.settle_checkpointed(job)
    assert outcome.verified and outcome.output == b"42\n"
    assert outcome.segment_fuel == (1_500, 700) and outcome.paid == (1_500, 700)
    assert [amount for _, amount in rig.party.payments] == [1_500, 700]
    with pytest.raises(RuntimeError, match="settled"):
        await r.settle_checkpointed(job)
    with pytest.raises(RuntimeError, match="settled"):
        await r.run_segment(job, second, check_record=False)


async def test_an_inflated_segment_and_a_rejected_result_are_not_paid(rig: Rig) -> None:
    bob, charlie = rig.scripts[addr("Bob")], rig.scripts[addr("Charlie")]
    bob.suspend = lambda req: suspended(req, 1, 1_000, 9_000)  # claims more than it ran
    r = rig.requester
    job = r.checkpointed_job(MODULE, b"x", every_fuel=1_000, fuel_limit=10_000)
    first, second = rig.offers("Bob", "Charlie")
    assert isinstance(await r.run_segment(job, first, check_record=False), JobSuspended)
    assert isinstance(await r.run_segment(job, second, check_record=False), JobResultMessage)
    outcome = await r.settle_checkpointed(job)
    assert outcome.verified and outcome.paid == (0, 1_000)
    assert "claims 9000 fuel, its checkpoints 1000" in outcome.unpaid_reasons[0]
    # a result that is not the expected answer: nobody is paid
    charlie.output = lambda req: b"wrong\n"
    job = r.checkpointed_job(MODULE, b"x", every_fuel=1_000, fuel_limit=10_000)
    bob.suspend = lambda req: suspended(req, 1, 1_000, 1_000)
    await r.run_segment(job, first, check_record=False)
    await r.run_segment(job, second, check_record=False)
    outcome = await r.settle_checkpointed(job, expected_output_hash=output_hash(b"42\n"))
    assert not outcome.verified and outcome.paid == (0, 0)
    assert len(rig.party.payments) == 1  # the first job's result only
    assert r._book is not None and not any(r._book._reserved.values())  # all released


def recorded(chain: FakeChain, worker: str, *notes: JobCheckpoint) -> list[Message]:
    """*worker* records *notes* on *chain* as the newest images of their jobs, in order
    (the last one stays the job's record); announces nothing itself."""
    for n in notes:
        chain.checkpoints.record_job(
            WORKERS[worker], n.job_id, n.checkpoint, n.state_hash, n.arweave_tx_id, n.size
        )
    return []


async def test_an_announced_image_replaced_on_chain_by_a_newer_one_is_not_resumed(
    rig: Rig, fake_chain: FakeChain
) -> None:
    # Bob announces image 1 and suspends at it, but records a newer image 2 of the same
    # job (never announced): image 1 is no longer its record, so the next segment
    # starts anew and Bob, whose work nothing builds on, is not paid.
    rig.requester._chain = cast(Any, fake_chain)
    bob, charlie = rig.scripts[addr("Bob")], rig.scripts[addr("Charlie")]
    newer = lambda req: note(req, 2, 1_900)  # noqa: E731
    bob.before = lambda req: [
        *recorded(fake_chain, "Bob", note(req, 1, 1_000), newer(req)),
        note(req, 1, 1_000),
    ]
    bob.suspend = lambda req: suspended(req, 1, 1_000, 1_000)
    charlie.fuel = lambda req: 2_500
    r = rig.requester
    job = r.checkpointed_job(MODULE, b"x", every_fuel=1_000, fuel_limit=10_000, task_id=9)
    by = {o.address: o for o in rig.offers("Bob", "Charlie")}
    first, second = by[addr("Bob")], by[addr("Charlie")]
    assert isinstance(await r.run_segment(job, first), JobSuspended)
    assert [a.checkpoint.checkpoint for a in job.checkpoints] == [1]
    done = await r.run_segment(job, second)
    assert isinstance(done, JobResultMessage)
    assert charlie.seen[0].resume is None and job.segments[1].resumed_from is None
    assert job.checkpoints == []
    outcome = await r.settle_checkpointed(job)
    assert outcome.verified and outcome.paid == (0, 2_500)
    assert outcome.unpaid_reasons[0].startswith("its work was not resumed")
    assert [amount for _, amount in rig.party.payments] == [2_500]


async def test_after_discard_last_an_overwritten_image_falls_back_to_the_segment_before(
    rig: Rig, fake_chain: FakeChain
) -> None:
    # Bob suspends at its image 1 (its record); Charlie resumes it, announces image 2
    # and suspends at image 3 (each recorded: its record of its job is now 3). Image 3
    # turns out unresumable and is discarded: image 2, overwritten on chain by 3, is
    # dropped too, and Dave resumes from Bob's image 1. Bob and Dave are paid; Charlie,
    # whose work nothing builds on, is not.
    rig.requester._chain = cast(Any, fake_chain)
    scripts = [rig.scripts[addr(name)] for name in ("Bob", "Charlie", "Dave")]
    bob, charlie, dave = scripts
    bob.before = lambda req: recorded(fake_chain, "Bob", note(req, 1, 1_000))
    bob.suspend = lambda req: suspended(req, 1, 1_000, 1_000)
    charlie.before = lambda req: [
        *recorded(fake_chain, "Charlie", note(req, 2, 2_000), note(req, 3, 2_500)),
        note(req, 2, 2_000),
    ]
    charlie.suspend = lambda req: suspended(req, 3, 2_500, 1_500)
    dave.fuel = lambda req: 1_800
    r = rig.requester
    job = r.checkpointed_job(MODULE, b"x", every_fuel=1_000, fuel_limit=10_000, task_id=9)
    by = {o.address: o for o in rig.offers("Bob", "Charlie", "Dave")}
    first, second, third = (by[addr(name)] for name in ("Bob", "Charlie", "Dave"))
    assert isinstance(await r.run_segment(job, first), JobSuspended)
    assert isinstance(await r.run_segment(job, second), JobSuspended)
    resume = charlie.seen[0].resume
    assert resume is not None  # names Bob's record of the job Bob ran
    assert (resume.owner, resume.job_id, resume.checkpoint) == (
        addr("Bob"),
        bob.seen[0].job_id,
        1,
    )
    assert [(a.worker, a.checkpoint.checkpoint) for a in job.checkpoints] == [
        (addr("Bob"), 1),
        (addr("Charlie"), 2),
        (addr("Charlie"), 3),
    ]
    job.discard_last()  # the requester's own check refused image 3
    done = await r.run_segment(job, third)
    assert isinstance(done, JobResultMessage)
    resume = dave.seen[0].resume
    assert resume is not None and (resume.owner, resume.checkpoint) == (addr("Bob"), 1)
    assert [(a.worker, a.checkpoint.checkpoint) for a in job.checkpoints] == [(addr("Bob"), 1)]
    outcome = await r.settle_checkpointed(job)
    assert outcome.verified and outcome.paid == (1_000, 0, 1_800), outcome.unpaid_reasons
    assert outcome.unpaid_reasons[1].startswith("its work was not resumed")
    assert sorted(amount for _, amount in rig.party.payments) == [1_000, 1_800]


async def test_checkpoint_messages_for_a_plain_job_are_ignored(rig: Rig) -> None:
    bob = rig.scripts[addr("Bob")]
    bob.before = lambda req: [note(req, 1, 5), suspended(req, 1, 5, 5)]
    outcome = await rig.requester.submit(MODULE, b"x", verify="none", workers=rig.offers("Bob"))
    assert outcome.verified and outcome.output == b"42\n" and outcome.cost_planck == 1_000
