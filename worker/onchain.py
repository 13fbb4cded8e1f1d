"""The daemon's on-chain duties: registration, claiming Wasm tasks, voting in disputes.

The worker stakes and registers its capabilities and signaling endpoint on chain, claims
and answers Wasm tasks, and, when selected as a dispute's verifier, re-executes the task
in the same deterministic sandbox and votes its result hash, without a person involved.
What a task runs is its :class:`~ccnet.client.jobs.jobspec.JobSpec` (``task_type``
``b"wasm"``, the spec in ``input_ref``; ``docs/protocol.md``, section 15).

- :func:`ensure_registered`: stake up to the wanted amount (at least
  ``Tasks.MinWorkerStake``), then ``register_worker`` or, when the capabilities or the
  endpoint changed, ``update_worker``. Blocking (run it in a thread).
- :class:`InputFetcher`: a spec's stdin (inline, or ``ar:<tx id>`` through
  :class:`ccnet.storage.ArweaveGateway`, checked against ``input_hash``) and its module
  (known by hash, or fetched from ``module_ar`` and checked against the hash). Blocking.
- :class:`EventPump`: :meth:`ccnet.client.Chain.subscribe_events` (a polling thread)
  feeding an asyncio queue.
- :class:`TaskWatcher`: on each ``Tasks.TaskPosted`` (and, at start, for every task in
  storage) takes an open Wasm task when it may (see :meth:`TaskWatcher.consider`): gets
  its module and input first (a task whose input cannot be had, or does not match its
  hash, is never claimed), claims it, runs it with the shared
  :class:`~ccnet.worker.executor.JobExecutor` and submits ``submit_result(task_id,
  blake2b-256(stdout), fuel_used)``. A run that fails submits nothing (the claim lapses
  at the deadline).
- :class:`DisputeVerifier`: on each ``Disputes.DisputeOpened`` naming this worker among
  ``verifiers`` (and, at start, for every open dispute), re-executes the task's spec
  honestly (fault injection never applies) and votes ``disputes.vote(dispute_id,
  output_hash)``.
- :class:`OnChainDuties` runs both from one event pump.

Robustness: every task and dispute is handled in its own logged task; an error is
logged and never stops the daemon. Idempotent on restart: the start-up scan reads the
chain, so a task this worker already submitted a result for, or a dispute it already
voted in, is skipped, and a task it claimed but did not answer (a crash in between) is
run and answered.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator, Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from substrateinterface import Keypair

from ccnet.client import ChainEvent
from ccnet.client.exceptions import CcnetError, DisputesError, MalformedMessageError, TasksError
from ccnet.client.jobs.jobspec import TASK_TYPE, JobSpec
from ccnet.client.net.background import cancel_and_wait, create_task_with_logging

from .exceptions import JobRunError, ModuleRejectedError, RegistrationError, UnknownModuleError
from .executor import JobExecutor, ModuleStore

if TYPE_CHECKING:
    from ccnet.client import Chain, EventSubscription
    from ccnet.storage import ArweaveGateway

__all__ = [
    "DisputeVerifier",
    "EventPump",
    "InputFetcher",
    "OnChainDuties",
    "Registration",
    "SubmittedResult",
    "TaskWatcher",
    "Vote",
    "ensure_registered",
]

log = logging.getLogger(__name__)

FEE_MARGIN = 10**11
"""Planck kept free for fees when staking (0.1 CC)."""


# --- registration ---------------------------------------------------------------------


@dataclass(frozen=True)
class Registration:
    """The worker's standing on chain after :func:`ensure_registered`."""

    address: str
    """SS58 address."""
    stake: int
    """Active stake, planck."""
    staked_now: int
    """Planck staked by this call (0 when the stake was already enough)."""
    action: str
    """``"registered"``, ``"updated"`` or ``"unchanged"``."""
    banned_until: int | None
    """Block until which the worker is banned (it cannot claim), or ``None``."""


def ensure_registered(
    chain: Chain,
    keypair: Keypair,
    *,
    capabilities: Sequence[bytes],
    endpoint: str,
    stake: int | None = None,
) -> Registration:
    """Stake (planck) up to ``max(stake, MinWorkerStake)`` and register the worker with
    *capabilities* and signaling *endpoint* (or update them). Blocking.

    Raises :class:`RegistrationError` when the free balance cannot pay the stake, and
    the chain's errors (:class:`~ccnet.client.exceptions.DispatchError` ...) otherwise.
    """
    address = str(keypair.ss58_address)
    wanted = max(stake or 0, chain.tasks.min_worker_stake())
    active = chain.credits.active_stake(address)
    staked_now = 0
    if active < wanted:
        staked_now = wanted - active
        free = chain.free_balance(address)
        if free < staked_now + FEE_MARGIN:
            raise RegistrationError(
                f"{address} has {free} planck free; staking {staked_now} more needs "
                f"{staked_now + FEE_MARGIN} (fund the account first)"
            )
        chain.credits.stake(keypair, staked_now)
        log.info("staked %d planck (active stake now %d)", staked_now, wanted)
    info = chain.tasks.worker(address)
    caps = tuple(bytes(c) for c in capabilities)
    if info is None:
        chain.tasks.register_worker(keypair, list(caps), endpoint.encode())
        action = "registered"
    elif info.capabilities != caps or info.endpoint != endpoint.encode():
        chain.tasks.update_worker(keypair, list(caps), endpoint.encode())
        action = "updated"
    else:
        action = "unchanged"
    banned = None if info is None else info.banned_until
    if banned is not None and banned > chain.block_number():
        log.warning("worker %s is banned until block %d: it cannot claim tasks", address, banned)
    else:
        banned = None
    return Registration(address, max(active, wanted), staked_now, action, banned)


# --- inputs -----------------------------------------------------------------------------


class InputFetcher:
    """Gets what a :class:`JobSpec` needs: its module and its stdin. Blocking.

    *gateway_url* is the Arweave gateway for ``ar:`` inputs and ``module_ar`` modules
    (default: ``$CCNET_ARWEAVE_URL`` or arlocal's address); the client is made on first
    use. *gateway* injects one (tests).
    """

    def __init__(self, gateway_url: str | None = None, *, gateway: ArweaveGateway | None = None):
        self.gateway_url = gateway_url
        self._gateway = gateway
        self._owns = gateway is None
        self._lock = threading.Lock()

    def _client(self) -> ArweaveGateway:
        with self._lock:
            if self._gateway is None:
                from ccnet.storage import ArweaveGateway

                self._gateway = ArweaveGateway(self.gateway_url)
            return self._gateway

    def stdin(self, spec: JobSpec) -> bytes:
        """The spec's stdin: inline bytes, or the data of its Arweave transaction (checked
        against ``input_hash``). Raises :class:`MalformedMessageError` when the bytes do
        not match, and :class:`ccnet.storage.StorageError` when the gateway fails."""
        if spec.input_inline is not None:
            return spec.check_input(spec.input_inline)
        assert spec.input_ar is not None
        return spec.check_input(self._client().fetch(spec.input_ar))

    def ensure_module(self, spec: JobSpec, modules: ModuleStore) -> None:
        """Make the spec's module known to *modules*: fetched from ``module_ar`` (and
        checked against ``module_hash``) when it is not already. Raises
        :class:`UnknownModuleError` when it is unknown and the spec gives no ``module_ar``,
        :class:`ModuleRejectedError` when the fetched bytes do not match."""
        if spec.module_hash in modules:
            return
        if spec.module_ar is None:
            raise UnknownModuleError(spec.module_hash)
        modules.add(self._client().fetch(spec.module_ar), spec.module_hash)

    def available(self, spec: JobSpec, modules: ModuleStore) -> bool:
        """Whether the spec's module is known or can be fetched."""
        return spec.module_hash in modules or spec.module_ar is not None

    def close(self) -> None:
        if self._gateway is not None and self._owns:
            self._gateway.close()


# --- events -----------------------------------------------------------------------------


class EventPump:
    """Chain events of *pallets* named *names*, from block *from_block* on, as an async
    iterator (:meth:`events`). The chain is polled every *poll_interval* seconds by
    :meth:`ccnet.client.Chain.subscribe_events`'s thread."""

    def __init__(
        self,
        chain: Chain,
        pallets: Sequence[str],
        names: Sequence[str],
        *,
        from_block: int | None = None,
        poll_interval: float = 1.0,
    ) -> None:
        self.chain = chain
        self.pallets = tuple(pallets)
        self.names = tuple(names)
        self.from_block = from_block
        self.poll_interval = poll_interval
        self._queue: asyncio.Queue[ChainEvent | None] = asyncio.Queue()
        self._subscription: EventSubscription | None = None

    def start(self) -> None:
        """Start the polling thread (call from the event loop)."""
        loop = asyncio.get_running_loop()

        def deliver(event: ChainEvent) -> None:
            try:
                loop.call_soon_threadsafe(self._queue.put_nowait, event)
            except RuntimeError:  # the loop is closed: we are shutting down
                pass

        self._subscription = self.chain.subscribe_events(
            deliver,
            list(self.pallets),
            list(self.names),
            from_block=self.from_block,
            poll_interval=self.poll_interval,
        )

    async def events(self) -> AsyncIterator[ChainEvent]:
        """The events, in chain order, until :meth:`stop`."""
        while True:
            event = await self._queue.get()
            if event is None:
                return
            yield event

    @property
    def error(self) -> CcnetError | None:
        """The error that stopped the polling thread (e.g. the node went away), if any."""
        return self._subscription.error if self._subscription is not None else None

    async def stop(self) -> None:
        """Stop the polling thread and end :meth:`events`."""
        if self._subscription is not None:
            subscription, self._subscription = self._subscription, None
            await asyncio.to_thread(subscription.stop, max(5.0, 3 * self.poll_interval))
        self._queue.put_nowait(None)


# --- tasks ------------------------------------------------------------------------------


@dataclass(frozen=True)
class SubmittedResult:
    """A result this worker submitted for an on-chain task."""

    task_id: int
    output_hash: bytes
    """blake2b-256 of the output submitted, 32 bytes."""
    fuel_used: int
    corrupted: bool
    """Whether fault injection falsified it."""


class _Duty:
    """Shared plumbing of the two duties: one logged task per item, never twice."""

    kind = "item"

    def __init__(self, chain: Chain, keypair: Keypair, executor: JobExecutor) -> None:
        self.chain = chain
        self.keypair = keypair
        self.address = str(keypair.ss58_address)
        self.executor = executor
        self._seen: set[int] = set()
        self._tasks: set[asyncio.Task[Any]] = set()
        self.errors = 0
        """Items whose handling raised (logged)."""

    def _schedule(self, item: int) -> None:
        if item in self._seen:
            return
        self._seen.add(item)
        create_task_with_logging(self._guarded(item), name=f"{self.kind}-{item}", tasks=self._tasks)

    async def _guarded(self, item: int) -> None:
        try:
            await self._handle(item)
        except asyncio.CancelledError:
            raise
        except Exception:
            self.errors += 1
            log.exception("handling %s %d failed", self.kind, item)

    async def _handle(self, item: int) -> None:
        raise NotImplementedError

    async def _call(self, fn: Any, *args: Any) -> Any:
        return await asyncio.to_thread(fn, *args)

    async def idle(self) -> None:
        """Wait until no item is being handled (tests)."""
        while self._tasks:
            await asyncio.wait(set(self._tasks))

    async def close(self) -> None:
        """Cancel the items being handled and wait for them."""
        await cancel_and_wait(list(self._tasks))


class TaskWatcher(_Duty):
    """Claims and answers on-chain Wasm tasks (see the module docs).

    *fetcher* gets inputs and modules; at most *max_claims* claimed tasks run at once
    (others are left to other workers); *requesters* (SS58 addresses) limits the tasks
    served to those posted by them (``None``: anyone's); *outputs_dir* keeps each
    task's output as ``<task id>.out``.
    """

    kind = "task"

    def __init__(
        self,
        chain: Chain,
        keypair: Keypair,
        executor: JobExecutor,
        fetcher: InputFetcher,
        *,
        max_claims: int | None = None,
        requesters: Collection[str] | None = None,
        outputs_dir: Path | None = None,
    ) -> None:
        super().__init__(chain, keypair, executor)
        self.fetcher = fetcher
        self.max_claims = max_claims if max_claims is not None else executor.max_jobs
        self.requesters = frozenset(requesters) if requesters is not None else None
        self.outputs_dir = outputs_dir
        self.active = 0
        """Claimed tasks running now."""
        self.submitted: dict[int, SubmittedResult] = {}
        """Results submitted since start, by task id."""

    async def scan(self) -> None:
        """Consider every open Wasm task in storage (at start)."""
        tasks = await self._call(self.chain.tasks.tasks)
        for task in tasks:
            if task.status == "Open" and task.task_type == TASK_TYPE:
                self._schedule(task.task_id)

    def on_event(self, event: ChainEvent) -> None:
        """Consider the task of a ``Tasks.TaskPosted`` event."""
        self._schedule(int(event.attributes["task_id"]))

    async def _handle(self, task_id: int) -> None:
        decision = await self.consider(task_id)
        if decision is None:
            return
        spec, claimed = decision
        self.active += 1  # reserved by consider() for a task still to claim: count it now
        try:
            await self._answer(task_id, spec, claimed)
        finally:
            self.active -= 1

    async def consider(self, task_id: int) -> tuple[JobSpec, bool] | None:
        """``(spec, claimed)`` if this worker should answer task *task_id*, else ``None``.

        Answers: an open Wasm task with a valid spec whose module is available, posted
        by an allowed requester (not us), either claimed by us without a result yet
        (``claimed`` true: a restart), or claimable (before its deadline, not fully
        claimed, capacity left, stake and registration in order, not banned)."""
        task = await self._call(self.chain.tasks.task, task_id)
        if task is None or task.status != "Open" or task.task_type != TASK_TYPE:
            return None
        if task.requester == self.address:
            return None
        if self.requesters is not None and task.requester not in self.requesters:
            return None
        try:
            spec = JobSpec.decode(task.input_ref)
        except MalformedMessageError as err:
            log.debug("task %d is not a job spec: %s", task_id, err)
            return None
        assignment = await self._call(self.chain.tasks.assignment, task_id, self.address)
        if assignment is not None:
            if assignment.result_hash is not None:
                return None  # answered before (e.g. before a restart)
            log.info("task %d: claimed before, answering it now", task_id)
            return spec, True
        if not self.fetcher.available(spec, self.executor.modules):
            log.info("task %d: module 0x%s is unknown here", task_id, spec.module_hash.hex())
            return None
        if task.claims >= task.redundancy:
            return None
        head = await self._call(self.chain.block_number)
        if task.deadline <= head or not await self._may_claim(head):
            return None
        if self.active >= self.max_claims:
            log.info("task %d: no capacity left (%d running)", task_id, self.active)
            return None
        return spec, False

    async def _may_claim(self, head: int) -> bool:
        info = await self._call(self.chain.tasks.worker, self.address)
        if info is None:
            log.warning("not registered: not claiming tasks")
            return False
        if info.banned_until is not None and info.banned_until > head:
            return False
        stake = await self._call(self.chain.credits.active_stake, self.address)
        minimum = await self._call(self.chain.tasks.min_worker_stake)
        if stake < minimum:
            log.warning("active stake %d is below %d: not claiming tasks", stake, minimum)
            return False
        return True

    async def _answer(self, task_id: int, spec: JobSpec, claimed: bool) -> None:
        """Get the module and input first (so a task whose input cannot be had is never
        claimed), claim unless *claimed*, run, submit."""
        try:
            await self._call(self.fetcher.ensure_module, spec, self.executor.modules)
            stdin = await self._call(self.fetcher.stdin, spec)
        except (UnknownModuleError, ModuleRejectedError, MalformedMessageError) as err:
            log.warning("task %d: cannot get its module or input: %s", task_id, err)
            return
        if not claimed:
            try:
                await self._call(self.chain.tasks.claim, self.keypair, task_id)
            except TasksError as err:  # another worker was faster, or the task closed
                log.info("task %d: claim refused: %s", task_id, err)
                return
            log.info("claimed task %d", task_id)
        try:
            job = await self.executor.run(
                spec.module_hash,
                task_id=task_id,
                args=spec.args,
                stdin=stdin,
                limits=self.executor.limits(fuel=spec.fuel),
                seed=spec.seed,
                onchain=True,
                label=f"task {task_id}",
            )
        except JobRunError as err:
            log.warning("task %d: the run failed, no result to submit: %s", task_id, err)
            return
        outcome = job.outcome
        if self.outputs_dir is not None:
            self.outputs_dir.mkdir(parents=True, exist_ok=True)
            (self.outputs_dir / f"{task_id}.out").write_bytes(outcome.stdout)
        await self._call(
            self.chain.tasks.submit_result,
            self.keypair,
            task_id,
            outcome.output_hash,
            outcome.fuel_used,
        )
        self.submitted[task_id] = SubmittedResult(
            task_id, outcome.output_hash, outcome.fuel_used, job.corrupted
        )
        log.info(
            "task %d: submitted 0x%s (%d fuel)%s",
            task_id,
            outcome.output_hash.hex(),
            outcome.fuel_used,
            " [FAULT INJECTED]" if job.corrupted else "",
        )


# --- disputes ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Vote:
    """A vote this worker cast as a dispute's verifier."""

    dispute_id: int
    task_id: int
    output_hash: bytes
    """The hash of its own re-execution, 32 bytes."""
    agrees: bool
    """Whether it matches the disputed worker's claimed hash."""


class DisputeVerifier(_Duty):
    """Re-executes disputed tasks this worker was selected to verify, and votes."""

    kind = "dispute"

    def __init__(
        self, chain: Chain, keypair: Keypair, executor: JobExecutor, fetcher: InputFetcher
    ) -> None:
        super().__init__(chain, keypair, executor)
        self.fetcher = fetcher
        self.votes: dict[int, Vote] = {}
        """Votes cast since start, by dispute id."""

    async def scan(self) -> None:
        """Consider every open dispute naming this worker (at start)."""
        for dispute in await self._call(self.chain.disputes.disputes):
            if self.address in dispute.verifiers:
                self._schedule(dispute.dispute_id)

    def on_event(self, event: ChainEvent) -> None:
        """Consider a ``Disputes.DisputeOpened`` event."""
        verifiers = [str(v) for v in event.attributes.get("verifiers") or ()]
        if self.address in verifiers:
            self._schedule(int(event.attributes["dispute_id"]))

    async def _handle(self, dispute_id: int) -> None:
        dispute = await self._call(self.chain.disputes.dispute, dispute_id)
        if dispute is None or self.address not in dispute.verifiers:
            return  # resolved meanwhile, or not ours
        if any(verifier == self.address for verifier, _ in dispute.votes):
            return  # voted before (e.g. before a restart)
        head = await self._call(self.chain.block_number)
        if head > dispute.voting_ends:
            log.info("dispute %d: voting ended at block %d", dispute_id, dispute.voting_ends)
            return
        task = await self._call(self.chain.tasks.task, dispute.task_id)
        if task is None:
            log.warning("dispute %d: task %d is gone", dispute_id, dispute.task_id)
            return
        try:
            spec = JobSpec.decode(task.input_ref)
            await self._call(self.fetcher.ensure_module, spec, self.executor.modules)
            stdin = await self._call(self.fetcher.stdin, spec)
            job = await self.executor.run(
                spec.module_hash,
                task_id=dispute.task_id,
                args=spec.args,
                stdin=stdin,
                limits=self.executor.limits(fuel=spec.fuel),
                seed=spec.seed,
                honest=True,
                label=f"dispute {dispute_id} (task {dispute.task_id})",
            )
        except (JobRunError, UnknownModuleError, ModuleRejectedError, MalformedMessageError) as err:
            log.warning("dispute %d: cannot re-execute task %d: %s", dispute_id, task.task_id, err)
            return
        output_hash = job.outcome.output_hash
        try:
            await self._call(self.chain.disputes.vote, self.keypair, dispute_id, output_hash)
        except DisputesError as err:  # voted already, or the period ended meanwhile
            log.info("dispute %d: vote refused: %s", dispute_id, err)
            return
        agrees = "0x" + output_hash.hex() == dispute.claimed_hash
        self.votes[dispute_id] = Vote(dispute_id, dispute.task_id, output_hash, agrees)
        log.info(
            "dispute %d: voted 0x%s (%s the worker)",
            dispute_id,
            output_hash.hex(),
            "agreeing with" if agrees else "against",
        )


# --- both -------------------------------------------------------------------------------


class OnChainDuties:
    """Runs a :class:`TaskWatcher` and/or a :class:`DisputeVerifier` from one
    :class:`EventPump` (see the module docs). *poll_interval*: seconds between looks at
    the chain head."""

    def __init__(
        self,
        chain: Chain,
        *,
        tasks: TaskWatcher | None = None,
        disputes: DisputeVerifier | None = None,
        poll_interval: float = 1.0,
    ) -> None:
        self.chain = chain
        self.tasks = tasks
        self.disputes = disputes
        self.poll_interval = poll_interval
        self._pump: EventPump | None = None
        self._bg: set[asyncio.Task[Any]] = set()

    async def start(self) -> None:
        """Follow new blocks, then scan the chain's current state (events of blocks after
        the scanned head arrive through the pump; nothing is handled twice)."""
        pallets, names = [], []
        if self.tasks is not None:
            pallets.append("Tasks")
            names.append("TaskPosted")
        if self.disputes is not None:
            pallets.append("Disputes")
            names.append("DisputeOpened")
        if not pallets:
            return
        head = await asyncio.to_thread(self.chain.block_number)
        self._pump = EventPump(
            self.chain, pallets, names, from_block=head + 1, poll_interval=self.poll_interval
        )
        self._pump.start()
        create_task_with_logging(self._dispatch(self._pump), name="chain-events", tasks=self._bg)
        if self.disputes is not None:
            await self.disputes.scan()
        if self.tasks is not None:
            await self.tasks.scan()

    async def _dispatch(self, pump: EventPump) -> None:
        async for event in pump.events():
            if event.qualname == "Tasks.TaskPosted" and self.tasks is not None:
                self.tasks.on_event(event)
            elif event.qualname == "Disputes.DisputeOpened" and self.disputes is not None:
                self.disputes.on_event(event)

    async def idle(self) -> None:
        """Wait until no task or dispute is being handled (tests)."""
        for duty in (self.tasks, self.disputes):
            if duty is not None:
                await duty.idle()

    async def stop(self) -> None:
        """Stop following the chain and cancel the work in progress."""
        if self._pump is not None:
            await self._pump.stop()
            self._pump = None
        await cancel_and_wait(list(self._bg))
        for duty in (self.tasks, self.disputes):
            if duty is not None:
                await duty.close()
