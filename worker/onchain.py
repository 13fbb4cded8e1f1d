"""The daemon's on-chain duties: registration, Wasm tasks through the court, verifying.

The worker stakes and registers its capabilities and signaling endpoint on chain, claims
and answers Wasm tasks by commit and reveal, finalizes them, and, when drawn as a
dispute's verifier, re-executes the task in the same deterministic sandbox, commits to
its own result hash and reveals it, without a person involved. What a task runs is its
:class:`~ccnet.client.jobs.jobspec.JobSpec` (``task_type`` ``b"wasm"``, the spec in
``input_ref``; ``docs/protocol.md``, section 15). The court's rules are the
``pallets/tasks`` and ``pallets/disputes`` crate docs.

- :func:`ensure_registered`: stake up to the wanted amount (at least
  ``Tasks.MinWorkerStake``), then ``register_worker`` or, when the capabilities or the
  endpoint changed, ``update_worker``. Blocking (run it in a thread).
- :class:`InputFetcher`: a spec's stdin (inline, or ``ar:<tx id>`` through
  :class:`ccnet.storage.ArweaveGateway`, checked against ``input_hash``) and its module
  (known by hash, or fetched from ``module_ar`` and checked against the hash). Blocking.
- :class:`EventPump`: :meth:`ccnet.client.Chain.subscribe_events` (a polling thread)
  feeding an asyncio queue.
- :class:`TaskWatcher`: on each ``Tasks.TaskPosted`` (and, at start, for every open task
  in storage) takes an open Wasm task when it may (see :meth:`TaskWatcher.consider`;
  never without ``ClaimBond`` of *free* stake, which it logs): gets its module and input
  first (a task whose input cannot be had, or does not match its hash, is never
  claimed), claims it (bonding ``ClaimBond``), runs it with the shared
  :class:`~ccnet.worker.executor.JobExecutor`, keeps the opening (output hash, fuel, a
  fresh salt) durably in :class:`~ccnet.client.courtsecrets.CourtSecrets` and only then
  submits the commitment; reveals it as soon as reveals open (the deadline passed, or
  every slot committed); and once the challenge window is over with no dispute open,
  finalizes the task (anyone may; the first wins), claimants taking turns one block
  apart in address order so that they do not race. A run that fails commits nothing
  (the claim forfeits ``NoRevealSlash`` at finalize).
- :class:`DisputeVerifier`: on each ``Disputes.VerifiersDrawn`` naming this worker (and,
  at start, for every open dispute naming it), re-executes the task's spec honestly
  (fault injection never applies), keeps the opening durably, commits its vote, reveals
  it in the reveal phase, and resolves the dispute once due if nobody did.
- :class:`OnChainDuties` runs both from one event pump.

Robustness: every task and dispute is handled in its own logged task; an error is
logged and never stops the daemon. Idempotent on restart: the start-up scan reads the
chain and the kept openings, so a task claimed but not committed is run and committed, a
commitment not yet revealed is revealed, and a task or dispute waiting to be settled is
followed to the end. Waits poll the chain head every ``poll_interval`` seconds: on a dev
chain something must build blocks (:class:`ccnet.client.BlockTicker`).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator, Collection, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from substrateinterface import Keypair

from ccnet.client import ChainEvent
from ccnet.client.commitments import new_salt, result_commitment, vote_commitment
from ccnet.client.courtsecrets import CourtSecrets, ResultOpening, VoteOpening
from ccnet.client.exceptions import (
    CcnetError,
    ClaimStakeError,
    DisputesError,
    MalformedMessageError,
    TasksError,
)
from ccnet.client.jobs.jobspec import TASK_TYPE, JobSpec
from ccnet.client.net.background import cancel_and_wait, create_task_with_logging

from .exceptions import JobRunError, ModuleRejectedError, RegistrationError, UnknownModuleError
from .executor import JobExecutor, ModuleStore
from .outcomes import OUTCOME_EVENTS, DisputeOutcomeLog

if TYPE_CHECKING:
    from ccnet.client import Chain, DisputeInfo, EventSubscription
    from ccnet.client.pallets.tasks import Assignment, TaskTimes
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
    """A result this worker committed (and maybe revealed) for an on-chain task."""

    task_id: int
    output_hash: bytes
    """blake2b-256 of the output committed, 32 bytes."""
    fuel_used: int
    corrupted: bool
    """Whether fault injection falsified it."""


class _Duty:
    """Shared plumbing of the two duties: one logged task per item, never twice; waits
    that poll the chain head every *poll_interval* seconds."""

    kind = "item"

    def __init__(
        self,
        chain: Chain,
        keypair: Keypair,
        executor: JobExecutor,
        secrets: CourtSecrets,
        *,
        poll_interval: float = 1.0,
    ) -> None:
        self.chain = chain
        self.keypair = keypair
        self.address = str(keypair.ss58_address)
        self.executor = executor
        self.secrets = secrets
        self.poll_interval = poll_interval
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
        finally:
            self._seen.discard(item)  # a later event may bring it back (e.g. a new phase)

    async def _handle(self, item: int) -> None:
        raise NotImplementedError

    async def _call(self, fn: Any, *args: Any) -> Any:
        return await asyncio.to_thread(fn, *args)

    async def _head(self) -> int:
        return int(await self._call(self.chain.block_number))

    async def _pause(self) -> None:
        await asyncio.sleep(self.poll_interval)

    async def idle(self) -> None:
        """Wait until no item is being handled (tests)."""
        while self._tasks:
            await asyncio.wait(set(self._tasks))

    async def close(self) -> None:
        """Cancel the items being handled and wait for them."""
        await cancel_and_wait(list(self._tasks))


class TaskWatcher(_Duty):
    """Claims, answers, reveals and finalizes on-chain Wasm tasks (see the module docs).

    *fetcher* gets inputs and modules; at most *max_claims* claimed tasks run at once
    (others are left to other workers); *requesters* (SS58 addresses) limits the tasks
    served to those posted by them (``None``: anyone's); *outputs_dir* keeps each
    task's output as ``<task id>.out``; *secrets* keeps the salts of the commitments.
    """

    kind = "task"

    def __init__(
        self,
        chain: Chain,
        keypair: Keypair,
        executor: JobExecutor,
        fetcher: InputFetcher,
        secrets: CourtSecrets,
        *,
        max_claims: int | None = None,
        requesters: Collection[str] | None = None,
        outputs_dir: Path | None = None,
        poll_interval: float = 1.0,
    ) -> None:
        super().__init__(chain, keypair, executor, secrets, poll_interval=poll_interval)
        self.fetcher = fetcher
        self.max_claims = max_claims if max_claims is not None else executor.max_jobs
        self.requesters = frozenset(requesters) if requesters is not None else None
        self.outputs_dir = outputs_dir
        self.active = 0
        """Claimed tasks running now."""
        self.submitted: dict[int, SubmittedResult] = {}
        """Results committed since start, by task id."""
        self.revealed: set[int] = set()
        """Tasks whose result this worker revealed since start."""
        self.finalized: set[int] = set()
        """Tasks this worker finalized since start."""
        self._times: TaskTimes | None = None

    async def times(self) -> TaskTimes:
        if self._times is None:
            self._times = await self._call(self.chain.tasks.times)
        return self._times

    async def scan(self) -> None:
        """Consider every open Wasm task in storage (at start): new ones to claim, and
        ours to commit, reveal or finalize (a restart)."""
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
        spec, assignment = decision
        if assignment is None or not assignment.committed:
            self.active += 1  # reserved by consider() for a task still to run: count it now
            try:
                committed = await self._answer(task_id, spec, claimed=assignment is not None)
            finally:
                self.active -= 1
            if not committed:
                return
            assignment = await self._call(self.chain.tasks.assignment, task_id, self.address)
            if assignment is None:
                return
        if not assignment.revealed and not await self._reveal(task_id):
            return
        await self._finalize(task_id)

    async def consider(self, task_id: int) -> tuple[JobSpec, Assignment | None] | None:
        """``(spec, our assignment)`` if this worker has something to do for task
        *task_id*, else ``None``.

        Answers: an open Wasm task with a valid spec, posted by an allowed requester (not
        us), either claimed by us already (a restart, or a reveal or finalize to do), or
        claimable (module available, before its deadline, not fully claimed, capacity
        left, registered, not banned, and ``ClaimBond`` of free stake)."""
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
            if not assignment.committed:
                log.info("task %d: claimed before, answering it now", task_id)
            return spec, assignment
        if not self.fetcher.available(spec, self.executor.modules):
            log.info("task %d: module 0x%s is unknown here", task_id, spec.module_hash.hex())
            return None
        if task.claims >= task.redundancy:
            return None
        head = await self._head()
        if task.deadline <= head or not await self._may_claim(task_id, head):
            return None
        if self.active >= self.max_claims:
            log.info("task %d: no capacity left (%d running)", task_id, self.active)
            return None
        return spec, None

    async def _may_claim(self, task_id: int, head: int) -> bool:
        info = await self._call(self.chain.tasks.worker, self.address)
        if info is None:
            log.warning("not registered: not claiming tasks")
            return False
        if info.banned_until is not None and info.banned_until > head:
            return False
        free = await self._call(self.chain.credits.free_stake, self.address)
        bond = await self._call(self.chain.tasks.claim_bond)
        if free < bond:
            log.warning(
                "task %d: not claiming, free stake %d planck is below the claim bond %d "
                "(the rest is bonded to open claims or duties; stake more or wait)",
                task_id,
                free,
                bond,
            )
            return False
        return True

    async def _answer(self, task_id: int, spec: JobSpec, *, claimed: bool) -> bool:
        """Get the module and input first (so a task whose input cannot be had is never
        claimed), claim unless *claimed*, run, keep the opening, commit. Whether a
        commitment is on chain."""
        kept = self.secrets.result(task_id)
        if claimed and kept is not None:
            # Crashed between keeping the opening and the extrinsic: commit the same.
            return await self._commit(task_id, kept, corrupted=False)
        try:
            await self._call(self.fetcher.ensure_module, spec, self.executor.modules)
            stdin = await self._call(self.fetcher.stdin, spec)
        except (UnknownModuleError, ModuleRejectedError, MalformedMessageError) as err:
            log.warning("task %d: cannot get its module or input: %s", task_id, err)
            return False
        if not claimed:
            try:
                await self._call(self.chain.tasks.claim, self.keypair, task_id)
            except ClaimStakeError as err:
                log.warning("task %d: claim refused, not enough free stake: %s", task_id, err)
                return False
            except TasksError as err:  # another worker was faster, or the task closed
                log.info("task %d: claim refused: %s", task_id, err)
                return False
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
            log.warning("task %d: the run failed, no result to commit: %s", task_id, err)
            return False
        outcome = job.outcome
        if self.outputs_dir is not None:
            self.outputs_dir.mkdir(parents=True, exist_ok=True)
            (self.outputs_dir / f"{task_id}.out").write_bytes(outcome.stdout)
        opening = ResultOpening(task_id, outcome.output_hash, outcome.fuel_used, new_salt())
        # Durable before the commitment leaves: a restart can still reveal it.
        await self._call(self.secrets.put_result, opening)
        return await self._commit(task_id, opening, corrupted=job.corrupted)

    async def _commit(self, task_id: int, opening: ResultOpening, *, corrupted: bool) -> bool:
        commitment = result_commitment(
            task_id, self.address, opening.result_hash, opening.fuel_used, opening.salt
        )
        try:
            await self._call(self.chain.tasks.submit_result, self.keypair, task_id, commitment)
        except TasksError as err:  # the deadline passed meanwhile
            log.warning("task %d: commitment refused: %s", task_id, err)
            return False
        self.submitted[task_id] = SubmittedResult(
            task_id, opening.result_hash, opening.fuel_used, corrupted
        )
        log.info(
            "task %d: committed to 0x%s (%d fuel)%s",
            task_id,
            opening.result_hash.hex(),
            opening.fuel_used,
            " [FAULT INJECTED]" if corrupted else "",
        )
        return True

    async def _reveal(self, task_id: int) -> bool:
        """Wait until reveals open, then reveal the kept opening. Whether it is revealed."""
        opening = await self._call(self.secrets.result, task_id)
        if opening is None:
            log.error("task %d: committed, but the salt is lost: cannot reveal", task_id)
            return False
        times = await self.times()
        while True:
            task = await self._call(self.chain.tasks.task, task_id)
            if task is None or task.status != "Open":
                return False
            head = await self._head()
            if head + 1 > times.reveal_ends(task):
                log.warning("task %d: the reveal period ended at block %d", task_id, head)
                return False
            if task.reveal_open(head, times):
                break
            await self._pause()
        try:
            await self._call(
                self.chain.tasks.reveal_result,
                self.keypair,
                task_id,
                opening.result_hash,
                opening.fuel_used,
                opening.salt,
            )
        except TasksError as err:
            log.warning("task %d: reveal refused: %s", task_id, err)
            return False
        self.revealed.add(task_id)
        log.info("task %d: revealed 0x%s", task_id, opening.result_hash.hex())
        return True

    async def _finalize(self, task_id: int) -> None:
        """Wait for the challenge window to close with no dispute open, then finalize
        (unless someone else did); forget the opening once the task is settled."""
        times = await self.times()
        turn = await self._finalize_turn(task_id)
        while True:
            task = await self._call(self.chain.tasks.task, task_id)
            if task is None or task.status != "Open":
                break
            head = await self._head()
            if head + 1 > times.challenge_ends(task) + turn and task.open_disputes == 0:
                try:
                    await self._call(self.chain.tasks.finalize, self.keypair, task_id)
                except TasksError as err:  # finalized by another, or a dispute opened
                    log.info("task %d: finalize refused: %s", task_id, err)
                else:
                    self.finalized.add(task_id)
                    log.info("task %d: finalized", task_id)
                    break
            await self._pause()
        await self._call(self.secrets.drop_result, task_id)

    async def _finalize_turn(self, task_id: int) -> int:
        """Blocks this worker lets pass after the challenge window before it finalizes:
        its place among the task's claimants ordered by address. The first finalizes at
        once, the next one block later if nobody has, and so on, so that claimants do
        not race to a finalize that only one can win (the losers' are refused with
        ``TaskNotOpen`` and still pay their fee)."""
        assignments = await self._call(self.chain.tasks.assignments, task_id)
        return _turn(str(self.keypair.ss58_address), [a.worker for a in assignments])


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
    """Re-executes disputed tasks this worker was drawn to verify, commits its vote and
    reveals it (see the module docs)."""

    kind = "dispute"

    def __init__(
        self,
        chain: Chain,
        keypair: Keypair,
        executor: JobExecutor,
        fetcher: InputFetcher,
        secrets: CourtSecrets,
        *,
        poll_interval: float = 1.0,
    ) -> None:
        super().__init__(chain, keypair, executor, secrets, poll_interval=poll_interval)
        self.fetcher = fetcher
        self.votes: dict[int, Vote] = {}
        """Votes committed since start, by dispute id."""
        self.revealed: set[int] = set()
        """Disputes whose vote this worker revealed since start."""

    async def scan(self) -> None:
        """Consider every open dispute naming this worker (at start)."""
        for dispute in await self._call(self.chain.disputes.disputes):
            if self.address in dispute.verifiers:
                self._schedule(dispute.dispute_id)

    def on_event(self, event: ChainEvent) -> None:
        """Consider a ``Disputes.VerifiersDrawn`` event."""
        verifiers = [str(v) for v in event.attributes.get("verifiers") or ()]
        if self.address in verifiers:
            self._schedule(int(event.attributes["dispute_id"]))

    async def _handle(self, dispute_id: int) -> None:
        dispute = await self._call(self.chain.disputes.dispute, dispute_id)
        if dispute is None or self.address not in dispute.verifiers:
            return  # resolved meanwhile, or not ours
        if not dispute.committed(self.address) and not await self._commit(dispute):
            return
        if not dispute.revealed(self.address) and not await self._reveal(dispute_id):
            return
        await self._resolve(dispute_id)

    async def _commit(self, dispute: DisputeInfo) -> bool:
        """Re-execute the task honestly, keep the opening, commit the vote."""
        dispute_id = dispute.dispute_id
        opening = await self._call(self.secrets.vote, dispute_id)
        if opening is None:
            head = await self._head()
            if not dispute.commit_open(head):
                log.info("dispute %d: the commit phase is over", dispute_id)
                return False
            task = await self._call(self.chain.tasks.task, dispute.task_id)
            if task is None:
                log.warning("dispute %d: task %d is gone", dispute_id, dispute.task_id)
                return False
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
            except (
                JobRunError,
                UnknownModuleError,
                ModuleRejectedError,
                MalformedMessageError,
            ) as err:
                log.warning(
                    "dispute %d: cannot re-execute task %d: %s", dispute_id, task.task_id, err
                )
                return False
            opening = VoteOpening(dispute_id, job.outcome.output_hash, new_salt())
            # Durable before the commitment leaves: a restart can still reveal it.
            await self._call(self.secrets.put_vote, opening)
        commitment = vote_commitment(dispute_id, self.address, opening.result_hash, opening.salt)
        try:
            await self._call(self.chain.disputes.commit_vote, self.keypair, dispute_id, commitment)
        except DisputesError as err:  # committed already, or the phase ended meanwhile
            log.info("dispute %d: vote commitment refused: %s", dispute_id, err)
            return False
        agrees = "0x" + opening.result_hash.hex() == dispute.claimed_hash
        self.votes[dispute_id] = Vote(dispute_id, dispute.task_id, opening.result_hash, agrees)
        log.info(
            "dispute %d: committed a vote for 0x%s (%s the worker)",
            dispute_id,
            opening.result_hash.hex(),
            "agreeing with" if agrees else "against",
        )
        return True

    async def _reveal(self, dispute_id: int) -> bool:
        opening = await self._call(self.secrets.vote, dispute_id)
        if opening is None:
            log.error("dispute %d: committed, but the salt is lost: cannot reveal", dispute_id)
            return False
        while True:
            dispute = await self._call(self.chain.disputes.dispute, dispute_id)
            if dispute is None:
                return False
            head = await self._head()
            if dispute.reveal_ends is not None and head + 1 > dispute.reveal_ends:
                log.warning("dispute %d: the reveal phase is over", dispute_id)
                return False
            if dispute.reveal_open(head):
                break
            await self._pause()
        try:
            await self._call(
                self.chain.disputes.reveal_vote,
                self.keypair,
                dispute_id,
                opening.result_hash,
                opening.salt,
            )
        except DisputesError as err:
            log.warning("dispute %d: vote reveal refused: %s", dispute_id, err)
            return False
        self.revealed.add(dispute_id)
        log.info("dispute %d: revealed the vote 0x%s", dispute_id, opening.result_hash.hex())
        return True

    async def _resolve(self, dispute_id: int) -> None:
        """Wait until the dispute is resolved; resolve it once due (anyone may), so a
        silent party cannot hold the task hostage. Verifiers take turns, one block apart
        in address order from when it became resolvable, so that they do not race to a
        resolve only one can win (the losers' still pay their fee)."""
        due: int | None = None
        while True:
            dispute = await self._call(self.chain.disputes.dispute, dispute_id)
            if dispute is None:
                break
            head = await self._head()
            if due is None and dispute.resolvable(head):
                due = head + _turn(str(self.keypair.ss58_address), dispute.verifiers)
            if due is not None and head >= due:
                try:
                    await self._call(self.chain.disputes.resolve, self.keypair, dispute_id)
                except DisputesError as err:  # resolved by another meanwhile
                    log.info("dispute %d: resolve refused: %s", dispute_id, err)
                else:
                    log.info("dispute %d: resolved", dispute_id)
                    break
            await self._pause()
        await self._call(self.secrets.drop_vote, dispute_id)


def _turn(me: str, parties: Iterable[str]) -> int:
    """*me*'s place among *parties* ordered by address (after all of them if absent): how
    many blocks it waits for the others before it settles something anyone may settle."""
    ordered = sorted(set(parties))
    return ordered.index(me) if me in ordered else len(ordered)


# --- both -------------------------------------------------------------------------------


class OnChainDuties:
    """Runs a :class:`TaskWatcher` and/or a :class:`DisputeVerifier` from one
    :class:`EventPump` (see the module docs), and feeds *outcomes* the Disputes events
    that settle them (:mod:`.outcomes`). *poll_interval*: seconds between looks at the
    chain head."""

    def __init__(
        self,
        chain: Chain,
        *,
        tasks: TaskWatcher | None = None,
        disputes: DisputeVerifier | None = None,
        outcomes: DisputeOutcomeLog | None = None,
        poll_interval: float = 1.0,
    ) -> None:
        self.chain = chain
        self.tasks = tasks
        self.disputes = disputes
        self.outcomes = outcomes
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
            names.append("VerifiersDrawn")
        if not pallets:
            return
        if self.outcomes is not None:
            pallets.append("Disputes")
            names += OUTCOME_EVENTS
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
            if self.outcomes is not None and event.pallet == "Disputes":
                self.outcomes.on_event(event)
            if event.qualname == "Tasks.TaskPosted" and self.tasks is not None:
                self.tasks.on_event(event)
            elif event.qualname == "Disputes.VerifiersDrawn" and self.disputes is not None:
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
