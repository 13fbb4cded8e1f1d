"""One requester's session with the worker daemon: the job loop on ``"tasks"``,
heartbeats, and payments.

The messages are :mod:`ccnet.client.jobs.messages`; what a worker does with each is
``docs/protocol.md``, section 8, which this module implements. A
:class:`JobSessionHandler` is the ``on_session`` callback of
:class:`~ccnet.client.net.webrtc.PeerListener`: it serves one authenticated
:class:`~ccnet.client.net.webrtc.PeerSession` until the requester leaves (or the daemon
stops), then detaches the session's payment channel.

Per session:

- **jobs**: each :class:`~ccnet.client.jobs.messages.JobRequest` is checked (rate, proof
  circuit, payment channel), its module resolved (inline bytes, known by hash, or asked
  for with :class:`~ccnet.client.jobs.messages.ModuleNeeded`), run by the shared
  :class:`~ccnet.worker.executor.JobExecutor` and answered with a
  :class:`~ccnet.client.jobs.messages.JobResult` (signed result, optional proof) or a
  :class:`~ccnet.client.jobs.messages.JobFailed`. Jobs run concurrently, each in its own
  task (at most :data:`MAX_IN_FLIGHT` per session). Malformed messages are answered,
  never fatal.
- **heartbeats**: pushed on ``"tasks"`` at once and every 15 s +- 10 %
  (:func:`~ccnet.client.jobs.messages.encode_heartbeat`).
- **payments**: the first request naming a channel binds it to the session's
  ``"channels"`` data channel (:class:`~ccnet.worker.payments.PaymentDesk`).
- **paid before served** (:mod:`ccnet.worker.admission`): a request that names no
  channel is refused (``payment``) unless the operator offers free jobs; a paid job runs
  only on a bound, usable channel whose requester balance covers its reservation
  (``price(fuel limit, rate)``) on top of what that requester may already owe, and
  while the requester (its key, over all its sessions) has fewer than
  ``max_unpaid_jobs`` jobs running or delivered and unpaid.
- **VM checkpoints** (``docs/vm-checkpoints.md``, section 8), with a
  :class:`~ccnet.worker.checkpointing.CheckpointService` (else such requests get
  ``unsupported``): a request with ``checkpoint`` runs through
  :meth:`~ccnet.worker.executor.JobExecutor.run_checkpointed`; each image is sealed
  with the requester's key, archived (Arweave, then the worker's record on chain) and
  announced with :class:`~ccnet.client.jobs.messages.JobCheckpoint`. A
  :class:`~ccnet.client.jobs.messages.JobSuspend` (or :meth:`suspend_all`, the
  daemon's graceful stop) suspends the job at its next safe point: its image is
  archived and announced, then :class:`~ccnet.client.jobs.messages.JobSuspended`
  carries the segment's fuel, owed as a delivered result is. A request with ``resume``
  runs from the image the owner's record names, after it is fetched, checked and
  opened (any mismatch: ``malformed``, nothing owed). Each segment is billed its own
  fuel only.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from substrateinterface import Keypair

from ccnet.channels import Transport
from ccnet.channels.exceptions import OversizeMessageError, TransportClosedError
from ccnet.client.exceptions import MalformedMessageError
from ccnet.client.jobs.billing import DEFAULT_RATE_PLANCK_PER_FUEL, price
from ccnet.client.jobs.failures import FailureCode
from ccnet.client.jobs.heartbeat import Heartbeat, HeartbeatSchedule, heartbeat_loop
from ccnet.client.jobs.messages import (
    JobCheckpoint,
    JobFailed,
    JobRequest,
    JobResult,
    JobSuspend,
    JobSuspended,
    Message,
    ModuleData,
    ModuleNeeded,
    decode,
    encode,
    encode_heartbeat,
    job_task_id,
)
from ccnet.client.jobs.proofs import JOB_CIRCUITS
from ccnet.client.net.background import cancel_and_wait, create_task_with_logging
from ccnet.client.net.webrtc import CHANNELS_LABEL, TASKS_LABEL

from .admission import WorkLedger
from .checkpointing import CheckpointService
from .exceptions import (
    CheckpointMismatchError,
    JobRunError,
    PaymentError,
    UnsupportedRequestError,
    WorkerError,
)
from .executor import ExecutedJob, JobExecutor
from .metrics import JobOutcome, WorkerMetrics
from .payments import PaymentDesk
from .proofs import ProofService
from .sandbox import RunLimits, SuspendedRun
from .vmcheckpoint import CheckpointPolicy, VmImage

__all__ = [
    "ANNOUNCE_TIMEOUT_S",
    "DEFAULT_MIN_CHECKPOINT_FUEL",
    "MAX_IN_FLIGHT",
    "MAX_WAITING_MODULES",
    "UNDECODABLE_JOB_ID",
    "JobSessionHandler",
    "Session",
    "wire_code",
]

log = logging.getLogger(__name__)

UNDECODABLE_JOB_ID = bytes(16)
"""``job_id`` of the :class:`JobFailed` answering a message that could not be decoded."""
MAX_WAITING_MODULES = 8
"""Requests per session that may wait for their module at once (``busy`` beyond)."""
MAX_IN_FLIGHT = 32
"""Jobs per session accepted and not answered yet; beyond, the worker stops reading the
session until one is answered (the data channel's buffer pushes back)."""
DEFAULT_MIN_CHECKPOINT_FUEL = 10_000_000
"""The shortest checkpoint interval a worker takes by default, fuel (about 10 ms of a
reference machine's compute): each checkpoint costs the worker an upload and an
extrinsic that the job's fuel does not pay for, so a requester may not ask for many."""
ANNOUNCE_TIMEOUT_S = 30.0
"""Seconds a job's thread waits for its ``job_checkpoint`` to be sent before it goes on
(a requester that stops reading does not hold the job)."""


class Session(Protocol):
    """What the handler needs of a :class:`~ccnet.client.net.webrtc.PeerSession`."""

    @property
    def remote(self) -> str: ...

    @property
    def labels(self) -> list[str]: ...

    def transport(self, label: str = ...) -> Any: ...


def wire_code(err: BaseException) -> FailureCode:
    """The :class:`JobFailed` code of an error that ended a job: the worker error's own
    ``code``, ``malformed`` for a message that does not decode, else ``internal`` (a bug
    here is the worker's fault; only :class:`~ccnet.worker.exceptions.WorkerBusyError`
    says ``busy``)."""
    if isinstance(err, WorkerError):
        return err.code
    if isinstance(err, MalformedMessageError):
        return FailureCode.MALFORMED
    return FailureCode.INTERNAL


@dataclass(eq=False)  # by identity: the handler keeps the open sessions' states in a set
class _State:
    remote: str
    tasks: Transport
    channels: Transport | None
    waiting: dict[bytes, JobRequest] = field(default_factory=dict)
    channel_id: bytes | None = None
    tickets: dict[bytes, int] = field(default_factory=dict)
    """Job id -> its ledger ticket, for paid jobs not answered yet."""
    live: set[bytes] = field(default_factory=set)
    """Job ids taken and not finished (waiting for a module, running, or their answer
    still being sent): a request reusing one is refused, else the earlier job's end
    would be mistaken for the later one's."""
    jobs: set[asyncio.Task[Any]] = field(default_factory=set)
    stops: dict[bytes, threading.Event] = field(default_factory=dict)
    """Job id -> the stop of its checkpoint policy, for jobs with ``checkpoint`` or
    ``resume`` taken and not finished: set, the job suspends at its next safe point."""
    slots: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(MAX_IN_FLIGHT))
    closed: bool = False
    """The requester left: its jobs suspend, and their images are no longer archived
    (nobody would be told of them; see :meth:`JobSessionHandler._run_from_images`)."""


class JobSessionHandler:
    """Serves requester sessions (see the module docs).

    *executor* runs the jobs; *keypair* signs heartbeats; *rate_planck_per_fuel* is the
    lowest rate accepted (planck/fuel); *proofs* makes proofs (``None``: requests asking
    for one are refused); *payments* serves payment channels (``None``: requests naming
    one are refused); *heartbeat_schedule* spaces heartbeats (default 15 s +- 10 %);
    *free_jobs*: run requests that name no channel, for nothing; *ledger* counts each
    requester's unpaid work (default: a :class:`~ccnet.worker.admission.WorkLedger` with
    its default limit); *metrics* counts answered jobs and heartbeats sent, and reads
    :meth:`unpaid_jobs`; *checkpoints* archives and opens VM checkpoints (``None``:
    requests with ``checkpoint`` or ``resume`` are refused, ``unsupported``);
    *min_checkpoint_fuel*: the shortest ``every_fuel`` taken, fuel (``unsupported``
    below).
    """

    def __init__(
        self,
        executor: JobExecutor,
        keypair: Keypair,
        *,
        rate_planck_per_fuel: int = DEFAULT_RATE_PLANCK_PER_FUEL,
        proofs: ProofService | None = None,
        payments: PaymentDesk | None = None,
        heartbeat_schedule: HeartbeatSchedule | None = None,
        free_jobs: bool = False,
        ledger: WorkLedger | None = None,
        metrics: WorkerMetrics | None = None,
        checkpoints: CheckpointService | None = None,
        min_checkpoint_fuel: int = DEFAULT_MIN_CHECKPOINT_FUEL,
    ) -> None:
        self.executor = executor
        self.checkpoints = checkpoints
        self.min_checkpoint_fuel = min_checkpoint_fuel
        self._states: set[_State] = set()
        self._recording: set[bytes] = set()
        """Ids of the jobs whose checkpoints are being recorded, over all sessions."""
        self.keypair = keypair
        self.rate_planck_per_fuel = rate_planck_per_fuel
        self.proofs = proofs
        self.payments = payments
        self.heartbeat_schedule = heartbeat_schedule or HeartbeatSchedule()
        self.free_jobs = free_jobs
        self.ledger = ledger if ledger is not None else WorkLedger()
        self.metrics = metrics if metrics is not None else WorkerMetrics()
        self.metrics.track_unpaid_jobs(self.unpaid_jobs)
        self.sessions = 0
        """Sessions served so far."""

    def unpaid_jobs(self) -> int:
        """Jobs running or delivered and not paid, over all requesters, once the
        payments received so far are matched (the ledger otherwise sees them at the
        requester's next request)."""
        for requester in self.ledger.requesters():
            self._observe(requester, self.ledger.channels(requester))
        return self.ledger.unpaid_total()

    def _observe(self, requester: str, channel_ids: Iterable[bytes]) -> None:
        """Tell the ledger what *requester*'s channels have paid so far."""
        if self.payments is not None:
            for channel_id in channel_ids:
                self.ledger.observe(requester, channel_id, self.payments.earned(channel_id))

    async def __call__(self, session: Session) -> None:
        labels = session.labels
        state = _State(
            remote=session.remote,
            tasks=session.transport(TASKS_LABEL),
            channels=session.transport(CHANNELS_LABEL) if CHANNELS_LABEL in labels else None,
        )
        self.sessions += 1
        self._states.add(state)
        log.info("session with %s open (channels %s)", session.remote, labels)
        background: set[asyncio.Task[Any]] = set()
        tasks = state.tasks

        async def send(beat: Heartbeat) -> None:
            await tasks.send(encode_heartbeat(beat))
            self.metrics.heartbeat_sent()

        create_task_with_logging(
            heartbeat_loop(
                self.keypair, self.executor.metrics, send, schedule=self.heartbeat_schedule
            ),
            name=f"heartbeats-{session.remote[:8]}",
            tasks=background,
        )
        try:
            await self._serve(state)
        finally:
            state.closed = True
            await cancel_and_wait([*background, *state.jobs])
            for job_id in list(state.tickets):
                self._drop(state, job_id)
            self._states.discard(state)
            if state.channel_id is not None and self.payments is not None:
                await self.payments.unbind(state.channel_id, state.channels)
            log.info("session with %s closed", session.remote)

    async def _serve(self, state: _State) -> None:
        """Read and dispatch job messages until the requester leaves."""
        try:
            while True:
                try:
                    data = await state.tasks.recv()
                except OversizeMessageError as err:
                    await self._fail(state, UNDECODABLE_JOB_ID, FailureCode.MALFORMED, str(err))
                    continue
                try:
                    message = decode(data)
                except MalformedMessageError as err:
                    await self._fail(state, UNDECODABLE_JOB_ID, FailureCode.MALFORMED, str(err))
                    continue
                await self._dispatch(state, message)
        except TransportClosedError:
            return

    async def _send(self, state: _State, message: Message) -> None:
        await state.tasks.send(encode(message))

    async def _fail(
        self,
        state: _State,
        job_id: bytes,
        code: str,
        text: str,
        fuel_used: int = 0,
        *,
        outcome: JobOutcome = JobOutcome.REFUSED,
    ) -> None:
        log.info("job %s of %s failed: %s: %s", job_id.hex(), state.remote, code, text)
        self.metrics.job_answered(outcome)
        await self._send(state, JobFailed(job_id, code=code, message=text, fuel_used=fuel_used))

    async def _dispatch(self, state: _State, message: Message) -> None:
        if isinstance(message, JobRequest):
            await self._on_request(state, message)
        elif isinstance(message, JobSuspend):
            stop = state.stops.get(message.job_id)
            if stop is None:  # not running with checkpoints (or over): answered as usual
                log.info(
                    "%s asked to suspend job %s, which cannot be suspended; ignored",
                    state.remote,
                    message.job_id.hex(),
                )
            else:
                stop.set()
        elif isinstance(message, ModuleData):
            request = state.waiting.pop(message.job_id, None)
            if request is None:
                await self._fail(
                    state, message.job_id, FailureCode.MALFORMED, "no module was asked for this job"
                )
                return
            if await self._add_module(state, request, message.module):
                await self._spawn(state, request)
            else:
                self._drop(state, request.job_id)
        else:
            await self._fail(
                state,
                message.job_id,
                FailureCode.MALFORMED,
                f"a worker does not take {message.TYPE}",
            )

    async def _add_module(self, state: _State, request: JobRequest, wasm: bytes) -> bool:
        try:
            self.executor.modules.add(wasm, request.module_hash)
        except WorkerError as err:
            await self._fail(state, request.job_id, wire_code(err), str(err))
            return False
        return True

    def _check(self, request: JobRequest) -> None:
        if request.checkpoint is not None or request.resume is not None:
            if self.checkpoints is None:
                raise UnsupportedRequestError(
                    "this worker takes no VM checkpoints (it has no Arweave gateway)"
                )
            if request.proof is not None:
                raise UnsupportedRequestError(
                    "no proofs of a job with VM checkpoints: a proof covers a whole run"
                )
            spec = request.checkpoint
            if spec is not None and spec.every_fuel < self.min_checkpoint_fuel:
                raise UnsupportedRequestError(
                    f"checkpoints every {spec.every_fuel} fuel: this worker takes one every "
                    f"{self.min_checkpoint_fuel} fuel at most"
                )
        if request.rate_planck_per_fuel < self.rate_planck_per_fuel:
            raise UnsupportedRequestError(
                f"rate {request.rate_planck_per_fuel} planck/fuel is below this worker's "
                f"{self.rate_planck_per_fuel}"
            )
        if request.proof is not None:
            if self.proofs is None:
                raise UnsupportedRequestError("this worker makes no proofs")
            if request.proof not in JOB_CIRCUITS:
                raise UnsupportedRequestError(
                    f"no proof circuit {request.proof!r} here "
                    f"(supported: {', '.join(JOB_CIRCUITS)})"
                )

    async def _bind_payment(self, state: _State, channel_id: bytes) -> None:
        if state.channel_id == channel_id:
            return
        if state.channel_id is not None:
            raise UnsupportedRequestError(
                f"this session is paid through channel 0x{state.channel_id.hex()}; "
                "open a new session for another channel"
            )
        if self.payments is None:
            raise UnsupportedRequestError("this worker takes no payment channels")
        if state.channels is None:
            raise PaymentError(f"the session has no {CHANNELS_LABEL!r} data channel")
        await self.payments.bind(channel_id, state.remote, state.channels)
        state.channel_id = channel_id

    def _reservation(self, request: JobRequest) -> int:
        """The job's worst-case price: its fuel budget at its rate, planck."""
        limits = self.executor.limits(fuel=request.fuel_limit)
        return price(self.executor.fuel_limit(limits), request.rate_planck_per_fuel)

    def _admit(self, state: _State, request: JobRequest) -> None:
        """Count a paid job against its requester (see the module docs); raises
        :class:`~ccnet.worker.exceptions.PaymentError` (nothing counted)."""
        assert self.payments is not None and state.channel_id is not None
        channel = self.payments.usable(state.channel_id)
        self._observe(state.remote, {*self.ledger.channels(state.remote), state.channel_id})
        state.tickets[request.job_id] = self.ledger.admit(
            state.remote, self._reservation(request), channel.peer_balance
        )

    def _drop(self, state: _State, job_id: bytes) -> None:
        """The job ends (answered or not): its id is free again, and a ticket it still
        holds (no result delivered) is owed nothing."""
        state.live.discard(job_id)
        stop = state.stops.pop(job_id, None)
        if stop is not None:  # a job thread still running (the session ends) suspends
            stop.set()
        ticket = state.tickets.pop(job_id, None)
        if ticket is not None:
            self.ledger.dropped(state.remote, ticket)

    def _delivered(self, state: _State, job_id: bytes, amount: int) -> int | None:
        """Count the job's result as delivered and owed *amount* planck; its ticket."""
        ticket = state.tickets.pop(job_id, None)
        if ticket is not None:
            self.ledger.delivered(state.remote, ticket, amount)
        return ticket

    def _recall(self, state: _State, ticket: int | None) -> None:
        if ticket is not None:
            self.ledger.recall(state.remote, ticket)

    async def _on_request(self, state: _State, request: JobRequest) -> None:
        if request.job_id in state.live:
            await self._fail(
                state,
                request.job_id,
                FailureCode.UNSUPPORTED,
                f"job {request.job_id.hex()} is already running: job ids are unique per session",
            )
            return
        try:
            self._check(request)
            if request.channel_id is not None:
                await self._bind_payment(state, request.channel_id)
                self._admit(state, request)
            elif not self.free_jobs:
                raise PaymentError(
                    "this worker runs paid jobs only: name a funded payment channel "
                    "(channel_id) in the request"
                )
        except WorkerError as err:
            await self._fail(state, request.job_id, wire_code(err), str(err))
            return
        state.live.add(request.job_id)
        if request.checkpoint is not None or request.resume is not None:
            state.stops[request.job_id] = threading.Event()
        if request.module is not None and not await self._add_module(
            state, request, request.module
        ):
            self._drop(state, request.job_id)
            return
        if self.executor.knows(request.module_hash):
            await self._spawn(state, request)
            return
        if len(state.waiting) >= MAX_WAITING_MODULES:
            self._drop(state, request.job_id)
            await self._fail(
                state, request.job_id, FailureCode.BUSY, "too many jobs wait for modules"
            )
            return
        state.waiting[request.job_id] = request
        await self._send(state, ModuleNeeded(request.job_id, module_hash=request.module_hash))

    async def _spawn(self, state: _State, request: JobRequest) -> None:
        """Run *request* in its own task (waits while MAX_IN_FLIGHT are running)."""
        await state.slots.acquire()

        async def job() -> None:
            try:
                await self._execute(state, request)
            except TransportClosedError:
                pass  # the requester left: nobody to answer
            finally:
                self._drop(state, request.job_id)  # no result delivered: nothing owed
                state.slots.release()

        create_task_with_logging(job(), name=f"job-{request.job_id.hex()[:8]}", tasks=state.jobs)

    async def _execute(self, state: _State, request: JobRequest) -> None:
        """Run the job and answer it; a result is counted as owed (its price, planck)
        from just before it is sent, a failure is owed nothing."""
        limits = self.executor.limits(
            fuel=request.fuel_limit,
            timeout_ms=request.timeout_ms,
            memory_bytes=request.memory_bytes,
        )
        try:
            if request.checkpoint is not None or request.resume is not None:
                done = await self._run_checkpointed(state, request, limits)
                if done is None:  # suspended: answered
                    return
                job = done
            else:
                job = await self.executor.run(
                    request.module_hash,
                    task_id=job_task_id(request),
                    args=request.args,
                    stdin=request.input,
                    limits=limits,
                    seed=request.seed,
                    label=f"job {request.job_id.hex()} of {state.remote}",
                )
        except JobRunError as err:
            await self._fail(
                state, request.job_id, err.code, str(err), err.fuel_used, outcome=JobOutcome.FAILED
            )
            return
        except WorkerError as err:
            await self._fail(
                state, request.job_id, wire_code(err), str(err), outcome=JobOutcome.FAILED
            )
            return
        except Exception as err:  # a bug: answered as the worker's fault, not as busy
            log.exception("job %s of %s failed", request.job_id.hex(), state.remote)
            await self._fail(
                state,
                request.job_id,
                FailureCode.INTERNAL,
                f"internal error: {err}",
                outcome=JobOutcome.FAILED,
            )
            return
        proof: dict[str, Any] | None = None
        if request.proof is not None and self.proofs is not None:
            try:
                proof = await self.proofs.prove(
                    request.proof,
                    task_id=job.result.task_id,
                    output=job.outcome.stdout,
                    fuel=job.outcome.fuel_used,
                    rate=request.rate_planck_per_fuel,
                    fuel_budget=(
                        request.fuel_limit
                        if request.fuel_limit is not None
                        else self.executor.fuel_limit(limits)
                    ),
                )
            except WorkerError as err:
                await self._fail(
                    state,
                    request.job_id,
                    wire_code(err),
                    str(err),
                    job.outcome.fuel_used,
                    outcome=JobOutcome.FAILED,
                )
                return
        reply = JobResult(
            request.job_id,
            output=job.outcome.stdout,
            result=job.result.to_json(),
            proof=proof,
        )
        try:
            data = encode(reply)
        except MalformedMessageError as err:
            await self._fail(
                state,
                request.job_id,
                FailureCode.OUTPUT_LIMIT,
                str(err),
                job.outcome.fuel_used,
                outcome=JobOutcome.FAILED,
            )
            return
        await self._deliver(state, request, data, job.outcome.fuel_used)

    async def _deliver(self, state: _State, request: JobRequest, data: bytes, fuel: int) -> None:
        """Send *data*, the answer to *request* that is owed ``price(fuel, rate)``
        planck (a result, or a suspended segment), counting it as owed first."""
        # Owed before it is sent: the requester may pay it and ask again before this task
        # runs on after the send, and must not find the job still counted as running.
        owed = price(fuel, request.rate_planck_per_fuel)
        ticket = self._delivered(state, request.job_id, owed)
        try:
            await state.tasks.send(data)
        except OversizeMessageError as err:  # within the protocol's cap, over the transport's
            self._recall(state, ticket)
            text = f"the result does not fit in one message of this session: {err}"
            await self._fail(
                state,
                request.job_id,
                FailureCode.OUTPUT_LIMIT,
                text,
                fuel,
                outcome=JobOutcome.FAILED,
            )
        except (TransportClosedError, asyncio.CancelledError):
            # Closed, or cancelled as the session ends while the send waits to drain:
            # the message did not get out whole (a data channel sends its last chunk
            # without waiting after it), so the requester owes nothing for it.
            self._recall(state, ticket)
            raise
        else:
            if ticket is not None:
                self.ledger.sent(state.remote, ticket)
            self.metrics.job_answered(JobOutcome.OK)

    async def _run_checkpointed(
        self, state: _State, request: JobRequest, limits: RunLimits
    ) -> ExecutedJob | None:
        """Run a request with ``checkpoint`` or ``resume`` (see the module docs): the
        job that ran to its end, or ``None`` once a suspended job was answered. Raises
        what :meth:`JobExecutor.run_checkpointed
        <ccnet.worker.executor.JobExecutor.run_checkpointed>` and
        :meth:`CheckpointService.open <ccnet.worker.checkpointing.CheckpointService.open>`
        raise (answered by the caller)."""
        service = self.checkpoints
        assert service is not None  # _check refused the request otherwise
        spec = request.checkpoint
        key = spec.key if spec is not None else request.resume.key if request.resume else b""
        if spec is None:
            return await self._run_from_images(state, request, limits, service, key)
        # Its images are recorded under its job id: one job per id (see check_unrecorded).
        if request.job_id in self._recording:
            raise CheckpointMismatchError(
                f"job {request.job_id.hex()} is already being checkpointed here: "
                "a job with checkpoints needs a job id of its own"
            )
        self._recording.add(request.job_id)
        try:
            await asyncio.to_thread(service.check_unrecorded, request.job_id)
            return await self._run_from_images(state, request, limits, service, key)
        finally:
            self._recording.discard(request.job_id)

    async def _run_from_images(
        self,
        state: _State,
        request: JobRequest,
        limits: RunLimits,
        service: CheckpointService,
        key: bytes,
    ) -> ExecutedJob | None:
        """The body of :meth:`_run_checkpointed`, once the job id is known to be free."""
        spec = request.checkpoint
        stop = state.stops.setdefault(request.job_id, threading.Event())
        image = None
        if request.resume is not None:
            image = await asyncio.to_thread(service.open, request.resume)
        loop = asyncio.get_running_loop()
        archived: list[tuple[VmImage, JobCheckpoint]] = []

        def on_image(taken: VmImage) -> None:  # on the job's thread
            if state.closed:
                # The requester left and resumes the job elsewhere from the last image it
                # was told of, which must stay this job's record on chain: a newer one
                # recorded now would replace it, unannounced, and strand the job.
                log.info(
                    "job %s: the requester left; checkpoint %d not archived",
                    request.job_id.hex(),
                    taken.checkpoints,
                )
                return

            def still_wanted() -> None:  # the requester may have left during the upload
                if state.closed:
                    raise CheckpointMismatchError("the requester left: not recorded")

            try:
                saved = service.archive(taken, key, request.job_id, before_record=still_wanted)
            except Exception as err:  # the job goes on; its suspension would fail
                log.warning("job %s: checkpoint not archived: %s", request.job_id.hex(), err)
                return
            note = JobCheckpoint(
                request.job_id,
                checkpoint=taken.checkpoints,
                fuel_used=taken.fuel_used,
                state_hash=saved.state_hash,
                arweave_tx_id=saved.tx_id,
                size=saved.size,
            )
            archived.append((taken, note))
            try:
                sent = asyncio.run_coroutine_threadsafe(self._send(state, note), loop)
                sent.result(timeout=ANNOUNCE_TIMEOUT_S)
            except Exception as err:  # the requester left or stopped reading, or shutdown
                log.info("job %s: checkpoint not announced: %s", request.job_id.hex(), err)

        policy = CheckpointPolicy(
            every_fuel=spec.every_fuel if spec is not None else None,
            stop=stop,
            on_image=on_image,
        )
        done = await self.executor.run_checkpointed(
            request.module_hash,
            task_id=job_task_id(request),
            policy=policy,
            resume=image,
            args=request.args,
            stdin=request.input,
            limits=limits,
            seed=request.seed,
            label=f"job {request.job_id.hex()} of {state.remote}",
        )
        if not isinstance(done, SuspendedRun):
            return done
        note = next((n for taken, n in archived if taken is done.image), None)
        if note is None:
            await self._fail(
                state,
                request.job_id,
                FailureCode.INTERNAL,
                "the job was suspended, but its checkpoint could not be archived",
                done.fuel_used,
                outcome=JobOutcome.FAILED,
            )
            return None
        reply = JobSuspended.at(note, segment_fuel=done.fuel_used)
        log.info(
            "job %s of %s suspended at checkpoint %d (%d fuel here)",
            request.job_id.hex(),
            state.remote,
            note.checkpoint,
            done.fuel_used,
        )
        await self._deliver(state, request, encode(reply), done.fuel_used)
        return None

    async def suspend_all(self, timeout: float) -> int:
        """Ask every job with ``checkpoint`` or ``resume`` to suspend at its next safe
        point (the daemon's graceful stop) and wait up to *timeout* seconds for them to
        be answered; the number of such jobs that were running."""
        states = list(self._states)
        count = 0
        for state in states:
            for stop in state.stops.values():
                stop.set()
                count += 1
        if count:
            log.info("suspending %d job(s) with VM checkpoints", count)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while any(state.stops for state in states) and loop.time() < deadline:
            await asyncio.sleep(0.05)
        return count
