"""The worker's session handler (ccnet.worker.jobhandler) over in-memory transports: the
job protocol, heartbeats, proofs and payment binding, with the real sandbox."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import pytest
import wasmtime
from substrateinterface import Keypair

from ccnet.channels import Channel, MemoryTransport, Transport
from ccnet.client.jobs.catalogue import module_hash
from ccnet.client.jobs.failures import FAILURE_CODES
from ccnet.client.jobs.heartbeat import Heartbeat, HeartbeatSchedule, HeartbeatVerifier
from ccnet.client.jobs.messages import (
    CheckpointSpec,
    JobCheckpoint,
    JobFailed,
    JobRequest,
    JobResult,
    JobSuspend,
    JobSuspended,
    Message,
    ModuleData,
    ModuleNeeded,
    ResumeSpec,
    decode,
    decode_heartbeat,
    encode,
    job_task_id,
)
from ccnet.client.jobs.results import SignedResult, output_hash
from ccnet.storage import SavedCheckpoint
from ccnet.worker.admission import WorkLedger
from ccnet.worker.checkpointing import CheckpointService
from ccnet.worker.exceptions import CheckpointKeyError, CheckpointMismatchError
from ccnet.worker.executor import JobExecutor, ModuleStore
from ccnet.worker.jobhandler import UNDECODABLE_JOB_ID, JobSessionHandler, wire_code
from ccnet.worker.metrics import WorkerMetrics
from ccnet.worker.payments import PaymentDesk
from ccnet.worker.proofs import ProofService
from ccnet.worker.sandbox import Sandbox
from ccnet.worker.vmcheckpoint import VmImage

if TYPE_CHECKING:
    from tests.fixtures.arlocal import FakeChain

REQUESTER = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY"  # //Alice


class FakeSession:
    def __init__(self, remote: str, transports: dict[str, MemoryTransport]) -> None:
        self.remote = remote
        self._transports = transports

    @property
    def labels(self) -> list[str]:
        return list(self._transports)

    def transport(self, label: str = "tasks") -> MemoryTransport:
        return self._transports[label]


class FakeProofs(ProofService):
    def __init__(self) -> None:
        super().__init__()
        self.made: list[tuple[str, dict[str, object]]] = []

    async def prove(
        self, circuit: str, *, task_id: int, output: bytes, fuel: int, rate: int, fuel_budget: int
    ) -> dict[str, Any]:
        inputs = self.inputs(
            circuit, task_id=task_id, output=output, fuel=fuel, rate=rate, fuel_budget=fuel_budget
        )
        self.made.append((circuit, inputs))
        return {"circuit": circuit, "fake": True}


@dataclass
class FakeChannel:
    peer_balance: int
    """The requester's balance in the channel, planck."""


class FakePayments(PaymentDesk):
    """Binds any channel; each holds *deposit* planck of the requester; :meth:`pay`
    plays a co-signed payment."""

    def __init__(self, deposit: int = 10**15) -> None:
        self.bound: list[tuple[bytes, str, Transport]] = []
        self.unbound: list[bytes] = []
        self.deposit = deposit
        self.paid: dict[bytes, int] = {}

    def pay(self, channel_id: bytes, amount: int) -> None:
        self.paid[channel_id] = self.paid.get(channel_id, 0) + amount

    def usable(self, channel_id: bytes) -> Channel:
        return cast(Channel, FakeChannel(self.deposit - self.paid.get(channel_id, 0)))

    def earned(self, channel_id: bytes) -> int:
        return self.paid.get(channel_id, 0)

    async def bind(self, channel_id: bytes, requester: str, transport: Transport) -> None:
        self.bound.append((channel_id, requester, transport))

    async def unbind(self, channel_id: bytes, transport: Transport | None = None) -> None:
        assert transport is not None and transport is self.bound[-1][2]
        self.unbound.append(channel_id)


class Requester:
    """The requester's ends of the session's transports."""

    def __init__(self, tasks: MemoryTransport) -> None:
        self.tasks = tasks
        self.heartbeats: list[bytes] = []

    async def send(self, message: Message | bytes) -> None:
        await self.tasks.send(message if isinstance(message, bytes) else encode(message))

    async def reply(self) -> Message:
        while True:
            data = await asyncio.wait_for(self.tasks.recv(), 30)
            if decode_heartbeat(data) is not None:
                self.heartbeats.append(data)
                continue
            return decode(data)


Served = tuple[Requester, JobSessionHandler, FakePayments]


class LaggingTransport(MemoryTransport):
    """Hands each frame to the peer at once but returns from ``send`` only after *lag*
    seconds, as a WebRTC data channel does while its buffer drains."""

    lag = 0.0
    drain_first = 0.0
    """Seconds a job message (not a heartbeat) waits *before* it is handed over, as a
    data channel waits for its buffer to drain before each chunk."""

    async def send(self, frame: bytes) -> None:
        if self.drain_first and decode_heartbeat(frame) is None:
            await asyncio.sleep(self.drain_first)
        await super().send(frame)
        await asyncio.sleep(self.lag)


@pytest.fixture
async def served(
    sandbox: Sandbox, worker_key: Keypair, tmp_path: Path
) -> AsyncIterator[Callable[..., Served]]:
    running: list[asyncio.Task[None]] = []
    executors: list[JobExecutor] = []

    def serve(
        *,
        rate: int = 1,
        labels: tuple[str, ...] = ("tasks", "channels"),
        free_jobs: bool = True,  # most tests here are about the job protocol, not payment
        max_unpaid_jobs: int = 4,
        deposit: int = 10**15,
        send_lag: float = 0.0,
        drain_first: float = 0.0,
        checkpoints: CheckpointService | None = None,
    ) -> Served:
        metrics = WorkerMetrics()
        executor = JobExecutor(
            sandbox, worker_key, ModuleStore(tmp_path / "modules"), metrics=metrics
        )
        executors.append(executor)
        payments = FakePayments(deposit)
        handler = JobSessionHandler(
            executor,
            worker_key,
            rate_planck_per_fuel=rate,
            proofs=FakeProofs(),
            payments=payments,
            heartbeat_schedule=HeartbeatSchedule(interval_ms=50),
            free_jobs=free_jobs,
            ledger=WorkLedger(max_unpaid_jobs),
            metrics=metrics,
            checkpoints=checkpoints,
        )
        worker_ends, requester_ends = {}, {}
        for label in labels:
            worker_end, requester_ends[label] = LaggingTransport.pair()
            cast(LaggingTransport, worker_end).lag = send_lag
            cast(LaggingTransport, worker_end).drain_first = drain_first
            worker_ends[label] = worker_end
        running.append(asyncio.ensure_future(handler(FakeSession(REQUESTER, worker_ends))))
        return Requester(requester_ends["tasks"]), handler, payments

    yield serve
    for task in running:
        task.cancel()
    await asyncio.gather(*running, return_exceptions=True)
    for executor in executors:
        await executor.close()


def request(digest: bytes, *args: str, **fields: Any) -> JobRequest:
    return JobRequest(os.urandom(16), module_hash=digest, input=b"", args=args, **fields)


def writer(size: int) -> bytes:
    """A module that writes *size* bytes ("x") to stdout and exits 0."""
    return bytes(
        wasmtime.wat2wasm(f"""(module
          (import "wasi_snapshot_preview1" "fd_write"
            (func $w (param i32 i32 i32 i32) (result i32)))
          (memory (export "memory") 1)
          (data (i32.const 0) "\\10\\00\\00\\00")
          (data (i32.const 16) "{"x" * size}")
          (func (export "_start")
            (i32.store (i32.const 4) (i32.const {size}))
            (drop (call $w (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))""")
    )


async def test_builtin_job_returns_a_signed_result(
    served: Callable[..., Served], job_wasm: Callable[[str], bytes], worker_key: Keypair
) -> None:
    requester, _, _ = served()
    job = request(module_hash(job_wasm("prime_count")), "1000", fuel_limit=10**9)
    await requester.send(job)
    reply = await requester.reply()
    assert isinstance(reply, JobResult) and reply.job_id == job.job_id
    assert reply.output == b"168\n" and reply.proof is None
    result = SignedResult.from_json(reply.result).verify()
    assert result.worker == worker_key.ss58_address
    assert result.task_id == job_task_id(job) == int.from_bytes(job.job_id[:8], "big")
    assert result.output_hash == output_hash(b"168\n")
    await requester.send(request(module_hash(job_wasm("prime_count")), "100", task_id=77))
    second = await requester.reply()
    assert isinstance(second, JobResult)
    assert SignedResult.from_json(second.result).task_id == 77


async def test_unknown_module_is_asked_for_then_kept(
    served: Callable[..., Served], hostile_modules: dict[str, bytes]
) -> None:
    requester, _, _ = served()
    wasm = hostile_modules["exit3"]
    job = request(module_hash(wasm))
    await requester.send(job)
    asked = await requester.reply()
    assert isinstance(asked, ModuleNeeded) and asked.module_hash == module_hash(wasm)
    await requester.send(ModuleData(job.job_id, module=wasm))
    failed = await requester.reply()
    assert isinstance(failed, JobFailed) and failed.job_id == job.job_id
    assert failed.code == "exit"
    again = request(module_hash(wasm))
    await requester.send(again)  # known now: no ModuleNeeded
    reply = await requester.reply()
    assert isinstance(reply, JobFailed) and reply.job_id == again.job_id


async def test_bad_module_bytes_and_unasked_module_data(
    served: Callable[..., Served], hostile_modules: dict[str, bytes]
) -> None:
    requester, _, _ = served()
    job = request(module_hash(hostile_modules["unreachable"]))
    await requester.send(job)
    assert isinstance(await requester.reply(), ModuleNeeded)
    await requester.send(ModuleData(job.job_id, module=hostile_modules["exit3"]))
    wrong = await requester.reply()
    assert isinstance(wrong, JobFailed) and wrong.code == "malformed"
    await requester.send(ModuleData(os.urandom(16), module=b"\0asm"))
    unasked = await requester.reply()
    assert isinstance(unasked, JobFailed) and "no module was asked" in unasked.message
    inline = request(
        module_hash(hostile_modules["unreachable"]), module=hostile_modules["unreachable"]
    )
    await requester.send(inline)
    trapped = await requester.reply()
    assert isinstance(trapped, JobFailed) and trapped.code == "trap"


async def test_malformed_messages_are_answered(served: Callable[..., Served]) -> None:
    requester, _, _ = served()
    await requester.send(b"{not json")
    reply = await requester.reply()
    assert isinstance(reply, JobFailed) and reply.job_id == UNDECODABLE_JOB_ID
    assert reply.code == "malformed"
    await requester.send(JobFailed(os.urandom(16), code="x", message="y"))
    odd = await requester.reply()
    assert isinstance(odd, JobFailed) and "does not take job_failed" in odd.message
    await requester.send(json.dumps({"type": "job_request"}).encode())
    missing = await requester.reply()
    assert isinstance(missing, JobFailed) and missing.code == "malformed"


async def test_rate_and_proof_checks(
    served: Callable[..., Served], job_wasm: Callable[[str], bytes]
) -> None:
    requester, handler, _ = served(rate=5)
    prime = module_hash(job_wasm("prime_count"))
    await requester.send(request(prime, "10", rate_planck_per_fuel=4))
    cheap = await requester.reply()
    assert isinstance(cheap, JobFailed) and cheap.code == "unsupported" and "rate" in cheap.message
    await requester.send(request(prime, "10", rate_planck_per_fuel=5, proof="matmul"))
    matmul = await requester.reply()
    assert isinstance(matmul, JobFailed) and matmul.code == "unsupported"
    job = request(prime, "1000", rate_planck_per_fuel=6, proof="billing", fuel_limit=10**8)
    await requester.send(job)
    proved = await requester.reply()
    assert isinstance(proved, JobResult) and proved.proof == {"circuit": "billing", "fake": True}
    fuel = SignedResult.from_json(proved.result).fuel_used
    assert isinstance(handler.proofs, FakeProofs)
    assert handler.proofs.made == [("billing", {"fuel": fuel, "rate": 6, "cap": 6 * 10**8})]


async def test_proof_that_cannot_be_made_fails_the_job(served: Callable[..., Served]) -> None:
    requester, _, _ = served()
    small, big = writer(200), writer(300)
    ok = request(module_hash(small), module=small, proof="poseidon_commit")
    await requester.send(ok)
    proved = await requester.reply()
    assert isinstance(proved, JobResult) and proved.output == b"x" * 200
    too_big = request(module_hash(big), module=big, proof="poseidon_commit")
    await requester.send(too_big)
    failed = await requester.reply()
    assert isinstance(failed, JobFailed) and failed.code == "proof-failed"
    assert "247" in failed.message and failed.fuel_used > 0


async def test_jobs_of_one_session_run_concurrently(
    served: Callable[..., Served], job_wasm: Callable[[str], bytes]
) -> None:
    requester, _, _ = served()
    prime = module_hash(job_wasm("prime_count"))
    jobs = [request(prime, str(n)) for n in (10, 100, 1000, 10_000)]
    for job in jobs:
        await requester.send(job)
    replies = [await requester.reply() for _ in jobs]
    outputs = {r.job_id: r.output for r in replies if isinstance(r, JobResult)}
    assert outputs == {
        jobs[0].job_id: b"4\n",
        jobs[1].job_id: b"25\n",
        jobs[2].job_id: b"168\n",
        jobs[3].job_id: b"1229\n",
    }


async def test_heartbeats_are_pushed_and_verify(
    served: Callable[..., Served], worker_key: Keypair
) -> None:
    requester, _, _ = served()
    verifier = HeartbeatVerifier()
    beats: list[Heartbeat] = []
    while len(beats) < 2:
        data = await asyncio.wait_for(requester.tasks.recv(), 30)
        beat = decode_heartbeat(data)
        assert beat is not None
        beats.append(verifier.accept(beat))
    assert all(b.worker == worker_key.ss58_address for b in beats)
    assert beats[0].metrics.jobs_running == 0


async def test_payment_channel_is_bound_once_per_session(
    served: Callable[..., Served], job_wasm: Callable[[str], bytes]
) -> None:
    requester, handler, payments = served()
    prime = module_hash(job_wasm("prime_count"))
    channel = os.urandom(32)
    for _ in range(2):
        await requester.send(request(prime, "10", channel_id=channel))
        assert isinstance(await requester.reply(), JobResult)
    assert [(c, r) for c, r, _ in payments.bound] == [(channel, REQUESTER)]
    await requester.send(request(prime, "10", channel_id=os.urandom(32)))
    other = await requester.reply()
    assert isinstance(other, JobFailed) and other.code == "unsupported"
    await requester.tasks.close()
    await asyncio.sleep(0.05)
    assert payments.unbound == [channel] and handler.sessions == 1


async def test_channel_without_a_channels_label_is_refused(
    served: Callable[..., Served], job_wasm: Callable[[str], bytes]
) -> None:
    requester, _, _ = served(labels=("tasks",))
    await requester.send(request(module_hash(job_wasm("prime_count")), "10", channel_id=bytes(32)))
    reply = await requester.reply()
    assert isinstance(reply, JobFailed) and reply.code == "payment"


def test_wire_codes() -> None:
    from ccnet.worker import exceptions
    from ccnet.worker.exceptions import (
        ConfigError,
        InputTooLargeError,
        InvalidModuleError,
        SandboxClosedError,
        WorkerBusyError,
        WorkerError,
    )

    assert wire_code(InvalidModuleError("x")) == "invalid-module"
    assert wire_code(InputTooLargeError("x")) == "input-too-large"
    assert wire_code(ConfigError("x")) == "malformed"
    assert wire_code(WorkerBusyError("x")) == wire_code(SandboxClosedError("x")) == "busy"
    # A bug is the worker's fault: never "busy", which requesters do not hold against it.
    assert wire_code(RuntimeError("bug")) == "internal"
    assert wire_code(ValueError("?")) == "internal"
    codes = {
        cls.code
        for cls in vars(exceptions).values()
        if isinstance(cls, type) and issubclass(cls, WorkerError)
    }
    assert codes <= set(FAILURE_CODES)


async def test_a_bug_in_the_executor_is_internal_and_a_closed_one_busy(
    served: Callable[..., Served],
    job_wasm: Callable[[str], bytes],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    requester, handler, _ = served()
    digest = module_hash(job_wasm("prime_count"))

    async def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("a programming error")

    monkeypatch.setattr(handler.executor, "run", broken)
    await requester.send(request(digest, "10"))
    reply = await requester.reply()
    assert isinstance(reply, JobFailed) and reply.code == "internal"
    monkeypatch.undo()
    await handler.executor.close()
    await requester.send(request(digest, "10"))
    reply = await requester.reply()
    assert isinstance(reply, JobFailed) and reply.code == "busy"


# -- paid before served (ccnet.worker.admission through the handler) --------------------


async def test_free_jobs_only_when_the_operator_opts_in(
    served: Callable[..., Served], job_wasm: Callable[[str], bytes]
) -> None:
    requester, _, _ = served(free_jobs=False)
    prime = module_hash(job_wasm("prime_count"))
    await requester.send(request(prime, "10"))
    refused = await requester.reply()
    assert isinstance(refused, JobFailed) and refused.code == "payment"
    assert "paid jobs only" in refused.message
    await requester.send(request(prime, "10", channel_id=os.urandom(32)))
    assert isinstance(await requester.reply(), JobResult)


async def test_a_paid_job_needs_a_balance_that_covers_its_reservation(
    served: Callable[..., Served], job_wasm: Callable[[str], bytes]
) -> None:
    """Reservation: fuel limit x rate = 10**9 x 2 planck."""
    prime = module_hash(job_wasm("prime_count"))
    short, _, _ = served(free_jobs=False, deposit=2 * 10**9 - 1)
    job = request(prime, "10", channel_id=os.urandom(32), fuel_limit=10**9, rate_planck_per_fuel=2)
    await short.send(job)
    refused = await short.reply()
    assert isinstance(refused, JobFailed) and refused.code == "payment"
    assert f"may cost {2 * 10**9} planck" in refused.message
    assert f"has {2 * 10**9 - 1} planck left" in refused.message
    enough, _, _ = served(free_jobs=False, deposit=2 * 10**9)
    await enough.send(replace(job, job_id=os.urandom(16)))
    assert isinstance(await enough.reply(), JobResult)


async def test_unpaid_work_is_capped_per_requester_until_it_pays(
    served: Callable[..., Served], job_wasm: Callable[[str], bytes]
) -> None:
    """Limit 2: five requests at once get two results (running jobs count), then
    refusals; paying for one result frees one place, paying less frees none."""
    requester, _, payments = served(free_jobs=False, max_unpaid_jobs=2)
    prime = module_hash(job_wasm("prime_count"))
    channel = os.urandom(32)
    for _ in range(5):
        await requester.send(request(prime, "1000", channel_id=channel))
    replies = [await requester.reply() for _ in range(5)]
    results = [r for r in replies if isinstance(r, JobResult)]
    refusals = [r for r in replies if isinstance(r, JobFailed)]
    assert len(results) == 2 and len(refusals) == 3
    assert all(r.code == "payment" and "2 unpaid job(s)" in r.message for r in refusals)
    fuel = SignedResult.from_json(results[0].result).fuel_used  # rate 1: price = fuel
    payments.pay(channel, fuel - 1)
    await requester.send(request(prime, "1000", channel_id=channel))
    still = await requester.reply()
    assert isinstance(still, JobFailed) and still.code == "payment"
    payments.pay(channel, 1)
    await requester.send(request(prime, "1000", channel_id=channel))
    assert isinstance(await requester.reply(), JobResult)
    await requester.send(request(prime, "1000", channel_id=channel))
    again = await requester.reply()
    assert isinstance(again, JobFailed) and "2 unpaid job(s)" in again.message


async def test_a_result_paid_at_once_frees_its_place_before_the_send_returns(
    served: Callable[..., Served], job_wasm: Callable[[str], bytes]
) -> None:
    """Limit 1: the requester pays each result as soon as it arrives and asks again,
    while the worker's send of that result has not returned yet (0.5 s lag). The paid
    job must not still count as running: every request gets a result."""
    requester, _, payments = served(free_jobs=False, max_unpaid_jobs=1, send_lag=0.5)
    prime = module_hash(job_wasm("prime_count"))
    channel = os.urandom(32)
    for _ in range(3):
        await requester.send(request(prime, "1000", channel_id=channel))
        reply = await requester.reply()
        assert isinstance(reply, JobResult), reply
        payments.pay(channel, SignedResult.from_json(reply.result).fuel_used)  # rate 1


async def test_a_cheap_result_paid_before_an_older_dear_one_frees_its_place(
    served: Callable[..., Served], job_wasm: Callable[[str], bytes]
) -> None:
    """Limit 2: a dear job is delivered first and stays unpaid (a redundant job waits
    for its other workers), a cheap one after it is paid at once. Payments name no job,
    yet the cheap payment frees a place: the next request gets a result."""
    requester, handler, payments = served(free_jobs=False, max_unpaid_jobs=2)
    prime = module_hash(job_wasm("prime_count"))
    channel = os.urandom(32)
    await requester.send(request(prime, "20000", channel_id=channel))
    dear = await requester.reply()
    await requester.send(request(prime, "100", channel_id=channel))
    cheap = await requester.reply()
    assert isinstance(dear, JobResult) and isinstance(cheap, JobResult)
    dear_fuel, cheap_fuel = (SignedResult.from_json(r.result).fuel_used for r in (dear, cheap))
    assert cheap_fuel < dear_fuel
    payments.pay(channel, cheap_fuel)  # rate 1: price = fuel
    await requester.send(request(prime, "100", channel_id=channel))
    assert isinstance(await requester.reply(), JobResult)
    assert handler.ledger.outstanding(REQUESTER) == dear_fuel + cheap_fuel


async def test_a_job_id_is_not_taken_again_while_its_answer_is_being_sent(
    served: Callable[..., Served], job_wasm: Callable[[str], bytes]
) -> None:
    """A result is owed from just before its send. A request reusing the job's id while
    that send still drains is refused: else the first job's end would drop the second
    one's ticket, and the second would run outside the limit and never be billed."""
    requester, handler, _ = served(free_jobs=False, max_unpaid_jobs=2, send_lag=0.5)
    prime = module_hash(job_wasm("prime_count"))
    first = request(prime, "1000", channel_id=os.urandom(32))
    await requester.send(first)
    result = await requester.reply()
    assert isinstance(result, JobResult), result
    await requester.send(first)  # the same id while the worker's send still drains
    refused = await requester.reply()
    assert isinstance(refused, JobFailed) and refused.code == "unsupported"
    assert "already running" in refused.message
    price = SignedResult.from_json(result.result).fuel_used  # rate 1
    assert handler.ledger.unpaid(REQUESTER) == 1 and handler.ledger.outstanding(REQUESTER) == price
    await asyncio.sleep(0.6)  # the send returned: the id is free again
    await requester.send(first)
    assert isinstance(await requester.reply(), JobResult)
    await asyncio.sleep(0.6)
    assert handler.ledger.unpaid(REQUESTER) == 2
    assert handler.ledger.outstanding(REQUESTER) == 2 * price


async def test_a_result_cut_off_by_the_session_end_is_not_owed(
    served: Callable[..., Served], job_wasm: Callable[[str], bytes]
) -> None:
    """The result waits for the send buffer to drain when the requester's connection
    drops: the session ends, the job's send is cancelled before the result got out, and
    nothing stays owed."""
    requester, handler, _ = served(free_jobs=False, drain_first=1.0)
    prime = module_hash(job_wasm("prime_count"))
    await requester.send(request(prime, "1000", channel_id=os.urandom(32)))
    for _ in range(100):  # until the result is billed: its price, far below the
        await asyncio.sleep(0.02)  # job's reservation (the default fuel limit)
        if 0 < handler.ledger.outstanding(REQUESTER) < 10**9:
            break
    assert handler.ledger.unpaid(REQUESTER) == 1
    await requester.tasks.close()
    for _ in range(100):
        await asyncio.sleep(0.05)
        if not handler.ledger.unpaid(REQUESTER):
            break
    assert handler.ledger.unpaid(REQUESTER) == 0 and handler.ledger.outstanding(REQUESTER) == 0


async def test_a_result_that_cannot_be_sent_is_not_owed(
    served: Callable[..., Served], job_wasm: Callable[[str], bytes]
) -> None:
    """The requester leaves while its result is being sent: nothing stays owed."""
    requester, handler, _ = served(free_jobs=False, max_unpaid_jobs=1)
    prime = module_hash(job_wasm("prime_count"))
    await requester.send(request(prime, "200000", channel_id=os.urandom(32)))
    await requester.tasks.close()
    for _ in range(200):
        await asyncio.sleep(0.05)
        if not handler.ledger.unpaid(REQUESTER):
            break
    assert handler.ledger.unpaid(REQUESTER) == 0


async def test_failed_jobs_are_not_owed(
    served: Callable[..., Served], hostile_modules: dict[str, bytes]
) -> None:
    requester, handler, _ = served(free_jobs=False, max_unpaid_jobs=1)
    wasm = hostile_modules["exit3"]
    channel = os.urandom(32)
    for _ in range(3):
        await requester.send(request(module_hash(wasm), module=wasm, channel_id=channel))
        failed = await requester.reply()
        assert isinstance(failed, JobFailed) and failed.code == "exit"
    assert handler.ledger.unpaid(REQUESTER) == 0


async def test_metrics_count_outcomes_fuel_heartbeats_and_unpaid_jobs(
    served: Callable[..., Served],
    job_wasm: Callable[[str], bytes],
    hostile_modules: dict[str, bytes],
) -> None:
    """A paid result (ok), a request naming no channel (refused), a module that exits 3
    (failed): each counted once, the fuel of both runs summed; the delivered result is
    an unpaid job until its payment, which the gauge sees without another request."""
    requester, handler, payments = served(free_jobs=False)
    metrics = handler.metrics
    channel = os.urandom(32)
    await requester.send(request(module_hash(job_wasm("prime_count")), "1000", channel_id=channel))
    result = await requester.reply()
    assert isinstance(result, JobResult)
    fuel = SignedResult.from_json(result.result).fuel_used
    assert metrics.value("ccnet_worker_unpaid_jobs") == 1
    payments.pay(channel, fuel)  # rate 1: price = fuel
    assert metrics.value("ccnet_worker_unpaid_jobs") == 0

    await requester.send(request(module_hash(job_wasm("prime_count")), "10"))
    refused = await requester.reply()
    assert isinstance(refused, JobFailed) and refused.code == "payment"
    wasm = hostile_modules["exit3"]
    await requester.send(request(module_hash(wasm), module=wasm, channel_id=channel))
    failed = await requester.reply()
    assert isinstance(failed, JobFailed) and failed.code == "exit"

    jobs = {
        o: metrics.value("ccnet_worker_jobs_total", {"outcome": o})
        for o in ("ok", "failed", "refused")
    }
    assert jobs == {"ok": 1, "failed": 1, "refused": 1}
    assert metrics.value("ccnet_worker_consumed_fuel_total") == fuel + failed.fuel_used
    assert metrics.value("ccnet_worker_unpaid_jobs") == 0  # a failure is owed nothing
    sent = metrics.value("ccnet_worker_heartbeats_sent_total")
    assert sent is not None and sent >= max(1, len(requester.heartbeats))


# -- VM checkpoints on the wire ----------------------------------------------------------

KEY = bytes(range(32))
PRIME_ARGS = ("3000000",)


class FakeCheckpoints(CheckpointService):
    """Archives images in memory (the tx id is the sequence number); :meth:`open` gives
    back the image a resume names, under its key."""

    def __init__(self) -> None:
        self.archived: dict[str, tuple[VmImage, bytes]] = {}
        self.jobs: set[bytes] = set()
        """Jobs with a record (of this worker)."""

    def check_unrecorded(self, job_id: bytes) -> None:
        if job_id in self.jobs:
            raise CheckpointMismatchError(f"already recorded checkpoints of job {job_id.hex()}")

    def archive(
        self,
        image: VmImage,
        key: bytes,
        job_id: bytes,
        *,
        before_record: Callable[[], None] | None = None,
    ) -> SavedCheckpoint:
        if before_record is not None:
            before_record()
        tx_id = f"tx{len(self.archived) + 1}"
        self.archived[tx_id] = (image, key)
        self.jobs.add(job_id)
        return SavedCheckpoint(bytes([len(self.archived)]) * 32, tx_id, 1000, "0x00")

    def open(self, resume: ResumeSpec) -> VmImage:
        image, key = self.archived[resume.arweave_tx_id]
        if key != resume.key:
            raise CheckpointKeyError("the checkpoint does not open under this key")
        return image


def resume_from(note: JobCheckpoint | JobSuspended, key: bytes = KEY) -> ResumeSpec:
    return ResumeSpec(
        REQUESTER, note.job_id, note.checkpoint, note.arweave_tx_id, note.state_hash, note.size, key
    )


class RecordsOnly:
    """What :meth:`CheckpointService.record_of` reads of a store: the job records."""

    def __init__(self, chain: FakeChain) -> None:
        self.chain = chain

    def job_record(self, owner: str, job_id: bytes) -> Any:
        return self.chain.checkpoints.job_record(owner, job_id)


def test_a_resume_names_exactly_its_owners_newest_record_of_the_job(
    fake_chain: FakeChain,
) -> None:
    owner = Keypair.create_from_uri("//Ferdie")
    job_id = bytes(range(16))
    first = JobCheckpoint(job_id, 1, 100, b"\x01" * 32, "tx1", 1000)
    service = CheckpointService(cast(Any, RecordsOnly(fake_chain)), max_image_bytes=1 << 20)

    def resume(note: JobCheckpoint, **changes: Any) -> ResumeSpec:
        spec = ResumeSpec(
            str(owner.ss58_address),
            note.job_id,
            note.checkpoint,
            note.arweave_tx_id,
            note.state_hash,
            note.size,
            KEY,
        )
        return replace(spec, **changes)

    with pytest.raises(CheckpointMismatchError, match="has no checkpoint on chain for job"):
        service.record_of(resume(first))
    fake_chain.checkpoints.record_job(owner, job_id, 1, first.state_hash, "tx1", 1000)
    record = service.record_of(resume(first))
    assert (record.arweave_tx_id, record.size) == ("tx1", 1000)
    for changes in (
        {"checkpoint": 2},
        {"checkpoint": 0},
        {"arweave_tx_id": "tx2"},
        {"state_hash": b"\x02" * 32},
        {"size": 999},
    ):
        with pytest.raises(CheckpointMismatchError, match="is checkpoint 1"):
            service.record_of(resume(first, **changes))
    with pytest.raises(CheckpointMismatchError, match="has no checkpoint on chain for job"):
        service.record_of(resume(first, job_id=bytes(16)))  # another job of the owner
    with pytest.raises(CheckpointMismatchError, match="has no checkpoint on chain for job"):
        service.record_of(resume(first, owner=REQUESTER))  # another owner
    # A newer image of the same job replaces it: the announced one is no longer opened.
    fake_chain.checkpoints.record_job(owner, job_id, 2, b"\x02" * 32, "tx2", 2000)
    with pytest.raises(CheckpointMismatchError, match="is checkpoint 2 .* not checkpoint 1"):
        service.record_of(resume(first))
    newer = replace(first, checkpoint=2, state_hash=b"\x02" * 32, arweave_tx_id="tx2", size=2000)
    assert service.record_of(resume(newer)).arweave_tx_id == "tx2"


async def test_checkpoint_requests_need_a_gateway_and_no_proof(
    served: Callable[..., Served], job_wasm: Callable[[str], bytes]
) -> None:
    prime = module_hash(job_wasm("prime_count"))
    spec = CheckpointSpec(10**8, KEY)
    plain, _, _ = served()
    for job in (
        request(prime, "1000", checkpoint=spec),
        request(
            prime, "1000", resume=ResumeSpec(REQUESTER, bytes(16), 1, "tx1", bytes(32), 1, KEY)
        ),
    ):
        await plain.send(job)
        reply = await plain.reply()
        assert isinstance(reply, JobFailed) and reply.code == "unsupported"
        assert "no VM checkpoints" in reply.message
    equipped, _, _ = served(checkpoints=FakeCheckpoints())
    await equipped.send(request(prime, "1000", checkpoint=spec, proof="billing"))
    reply = await equipped.reply()
    assert isinstance(reply, JobFailed) and reply.code == "unsupported"
    await equipped.send(request(prime, "1000", checkpoint=CheckpointSpec(10**6, KEY)))
    reply = await equipped.reply()  # too often: each checkpoint costs the worker
    assert isinstance(reply, JobFailed) and reply.code == "unsupported"
    assert "one every 10000000 fuel at most" in reply.message
    await equipped.send(request(module_hash(writer(3)), checkpoint=spec, module=writer(3)))
    reply = await equipped.reply()
    assert isinstance(reply, JobFailed)
    assert (reply.code, reply.fuel_used) == ("unsupported", 0) and "safe points" in reply.message


async def test_checkpoints_are_announced_and_the_result_bills_its_own_fuel(
    served: Callable[..., Served], job_wasm: Callable[[str], bytes], sandbox: Sandbox
) -> None:
    wasm = job_wasm("prime_count")
    whole = sandbox.run(wasm, args=PRIME_ARGS)
    store = FakeCheckpoints()
    requester, handler, payments = served(checkpoints=store, free_jobs=False)
    channel = os.urandom(32)
    every = whole.fuel_used // 3
    job = request(
        module_hash(wasm), *PRIME_ARGS, checkpoint=CheckpointSpec(every, KEY), channel_id=channel
    )
    await requester.send(job)
    notes: list[JobCheckpoint] = []
    while not isinstance(reply := await requester.reply(), JobResult):
        assert isinstance(reply, JobCheckpoint) and reply.job_id == job.job_id, reply
        notes.append(reply)
    assert reply.output == whole.stdout
    assert [n.checkpoint for n in notes] == [1, 2]
    assert [n.arweave_tx_id for n in notes] == ["tx1", "tx2"]
    assert all(n.fuel_used >= k * every for k, n in enumerate(notes, 1))
    fuel = SignedResult.from_json(reply.result).fuel_used
    assert fuel > whole.fuel_used  # two checkpoints' cost on top
    assert handler.ledger.unpaid_total() == 1  # the result is owed: price(fuel) at rate 1
    payments.pay(channel, fuel)
    assert handler.unpaid_jobs() == 0


async def test_a_checkpointed_job_id_is_single_use_per_worker(
    served: Callable[..., Served], job_wasm: Callable[[str], bytes], sandbox: Sandbox
) -> None:
    # A job's record on chain keeps its newest image: a second job under the same id
    # (another requester picking it) would overwrite the first's and strand its resume.
    wasm = job_wasm("prime_count")
    whole = sandbox.run(wasm, args=PRIME_ARGS)
    store = FakeCheckpoints()
    first, _, _ = served(checkpoints=store)
    spec = CheckpointSpec(whole.fuel_used // 3, KEY)
    job = request(module_hash(wasm), *PRIME_ARGS, checkpoint=spec)
    await first.send(job)
    while not isinstance(reply := await first.reply(), JobResult):
        assert isinstance(reply, JobCheckpoint), reply
    archived = len(store.archived)
    other, _, _ = served(checkpoints=store)
    await other.send(replace(job, checkpoint=CheckpointSpec(10**7, os.urandom(32))))
    reply = await other.reply()
    assert isinstance(reply, JobFailed)
    assert (reply.code, reply.fuel_used) == ("malformed", 0), reply
    assert "job id of its own" in reply.message or "already recorded" in reply.message
    assert len(store.archived) == archived  # nothing uploaded or recorded for it


async def test_suspend_then_resume_elsewhere_adds_up(
    served: Callable[..., Served], job_wasm: Callable[[str], bytes], sandbox: Sandbox
) -> None:
    wasm = job_wasm("prime_count")
    whole = sandbox.run(wasm, args=PRIME_ARGS)
    store = FakeCheckpoints()
    first, handler_a, payments = served(checkpoints=store, free_jobs=False)
    channel = os.urandom(32)
    spec = CheckpointSpec(whole.fuel_used // 4, KEY)
    job = request(module_hash(wasm), *PRIME_ARGS, checkpoint=spec, channel_id=channel)
    await first.send(JobSuspend(os.urandom(16)))  # no such job: ignored
    await first.send(job)
    note = await first.reply()
    assert isinstance(note, JobCheckpoint) and note.checkpoint == 1
    await first.send(JobSuspend(job.job_id))
    while isinstance(suspended := await first.reply(), JobCheckpoint):
        pass  # the image it suspends at is announced too
    assert isinstance(suspended, JobSuspended) and suspended.job_id == job.job_id
    assert 0 < suspended.segment_fuel == suspended.fuel_used < whole.fuel_used
    assert handler_a.ledger.unpaid_total() == 1  # the segment is owed its own fuel
    payments.pay(channel, suspended.segment_fuel - 1)
    assert handler_a.unpaid_jobs() == 1
    payments.pay(channel, 1)
    assert handler_a.unpaid_jobs() == 0

    second, handler_b, _ = served(checkpoints=store)
    wrong = request(module_hash(wasm), *PRIME_ARGS, resume=resume_from(suspended, bytes(32)))
    await second.send(wrong)
    refused = await second.reply()
    assert isinstance(refused, JobFailed)
    assert (refused.code, refused.fuel_used) == ("malformed", 0)
    foreign = request(module_hash(wasm), "2000", resume=resume_from(suspended))
    await second.send(foreign)
    refused = await second.reply()
    assert isinstance(refused, JobFailed) and refused.code == "malformed"
    assert "another input" in refused.message and refused.fuel_used == 0
    assert handler_b.ledger.unpaid_total() == 0
    resumed = request(module_hash(wasm), *PRIME_ARGS, resume=resume_from(suspended))
    await second.send(resumed)
    done = await second.reply()
    assert isinstance(done, JobResult) and done.output == whole.stdout
    fuel_b = SignedResult.from_json(done.result).fuel_used
    k = suspended.checkpoint  # no checkpoint asked of B: the images are A's
    cost = (suspended.segment_fuel + fuel_b - whole.fuel_used) // k
    assert suspended.segment_fuel + fuel_b == whole.fuel_used + k * cost and cost == 792


async def test_a_graceful_stop_suspends_the_jobs_with_checkpoints(
    served: Callable[..., Served], job_wasm: Callable[[str], bytes], sandbox: Sandbox
) -> None:
    wasm = job_wasm("prime_count")
    whole = sandbox.run(wasm, args=PRIME_ARGS)
    requester, handler, _ = served(checkpoints=FakeCheckpoints())
    spec = CheckpointSpec(whole.fuel_used // 4, KEY)
    job = request(module_hash(wasm), *PRIME_ARGS, checkpoint=spec)
    await requester.send(job)
    assert isinstance(await requester.reply(), JobCheckpoint)
    stopping = asyncio.ensure_future(handler.suspend_all(30.0))
    while isinstance(reply := await requester.reply(), JobCheckpoint):
        pass
    assert isinstance(reply, JobSuspended) and reply.job_id == job.job_id
    assert await stopping == 1
    assert await handler.suspend_all(1.0) == 0  # nothing left to suspend
