"""The :class:`Requester`: find workers, run jobs on them, verify, pay per result, dispute.

Usage::

    from ccnet.client.requester import Job, Requester

    async with Requester(
        "ws://127.0.0.1:8000", keypair,
        dht_bootstrap=[("127.0.0.1", 7400)], state_dir="~/.ccnet/requester",
        deposit_per_channel=10 * CC, max_price=10,
    ) as r:
        offers = await r.find_workers("wasm")             # DHT + chain, best first
        outcome = await r.submit("prime_count", args=["1000000"], verify="majority")
        outcome.output, outcome.fuel_used, outcome.cost_planck, outcome.verification
        outcomes = await r.submit_batch([Job("sha256sum", data) for data in files])
        receipts = await r.close_channels()               # one extrinsic per channel
        r.stats()                                         # the summary's numbers

A small facade over the parts, one module each: :mod:`.discovery` (DHT records checked
on chain, ranked by :mod:`.quality`), :mod:`.sessions` (one WebRTC session per worker),
:mod:`.channelbook` (payment channels and reservations), :mod:`.runs` (one job across
its workers), :mod:`.checks` (one reply alone), :mod:`.verdicts` (the decision and the
plan), :mod:`.spotchecks` (known answers), :mod:`.onchain` (tasks and disputes on
chain) and :mod:`.outcomes` (what it returns).

**A job** (:meth:`Requester.submit`): the module (Wasm bytes or a built-in job name,
:data:`~ccnet.client.jobs.catalogue.BUILTIN_JOBS`), its stdin and argv tail. The plan
(:func:`~.verdicts.plan_verification`) says how many workers run it, whether results
must carry a proof and whether a known answer checks it; in ``"auto"`` mode the
reputation tier of the best-ranked worker decides
(:data:`~.quality.TIER_POLICIES`). :class:`~.runs.JobRunner` then runs it.

**With VM checkpoints** (``docs/vm-checkpoints.md``, section 8):
:meth:`Requester.checkpointed_job` makes a :class:`~.migration.CheckpointedJob`;
:meth:`Requester.run_segment` runs its next segment on a worker (from the start, or
resumed from the last checkpoint announced, by whichever worker), collecting the
``job_checkpoint`` announcements; :meth:`~.migration.CheckpointedJob.suspend` asks the
worker running it to suspend; :meth:`Requester.settle_checkpointed` checks the final
result and pays every segment its own fuel.

**On chain** (disputes): :meth:`Requester.post_onchain` posts a
:class:`~ccnet.client.jobs.jobspec.JobSpec` as a task; :meth:`Requester.onchain_results`,
:meth:`Requester.accept`; :meth:`Requester.challenge` opens a dispute against a result
and :meth:`Requester.wait_dispute` waits for the verdict, then updates the scores: a
worker at fault is penalised and never asked again by this requester.

Teardown (``async with`` exit, :meth:`Requester.aclose`), in dependency order: payment
channel transports, sessions, DHT, ZK helper, channel store, chain (if owned). Channels
stay open for the next run unless :meth:`Requester.close_channels` closed them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import secrets
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, overload

from substrateinterface import Keypair

from ccnet.channels import ChannelParty, SqliteChannelStore
from ccnet.channels.store import channel_store_in, default_state_dir

from .. import Chain, Receipt
from ..clock import now_ms
from ..exceptions import CcnetError
from ..jobs.billing import price
from ..jobs.catalogue import load_job
from ..jobs.exceptions import UnknownCircuitError
from ..jobs.failures import FailureCode
from ..jobs.heartbeat import Heartbeat, HeartbeatVerifier
from ..jobs.jobspec import JobSpec
from ..jobs.messages import JobFailed, JobRequest, JobResult, JobSuspended
from ..jobs.proofs import check_circuit
from ..net.bootstrap import join
from ..net.dht import CapabilityDirectory, DhtNode
from ..net.exceptions import NetError
from ..net.webrtc import PeerConfig
from .channelbook import ChannelBook
from .checks import ResultChecker
from .debts import DEBTS_FILE, Debt, DebtBook
from .discovery import Candidate, WorkerOffer, discover, rank_offers
from .exceptions import (
    ChannelFundsError,
    ImageUnavailableError,
    NoWorkersError,
    PlanError,
    RequesterClosedError,
    WorkerSilentError,
)
from .migration import (
    CheckpointedJob,
    CheckpointedOutcome,
    Claim,
    FuelReference,
    OpenImage,
    assess,
)
from .onchain import DEFAULT_DEADLINE_BLOCKS, OnchainRequests
from .outcomes import Disputed, DisputeOutcome, RequesterStats, RequesterTally, TaskOutcome
from .quality import QualityTracker
from .runs import DEFAULT_JOBS_PER_WORKER, JobRunner
from .sessions import Connector, SessionPool, WorkerSession
from .spotchecks import KnownAnswers, KnownJob, LocalRunner, should_spot_check
from .verdicts import plan_verification

if TYPE_CHECKING:
    from ccnet.zk import Verifier, ZkNode, ZkPaths

    from ..pallets.checkpoints import JobCheckpointRecord
    from ..pallets.tasks import Assignment, TaskInfo
    from .verdicts import HashMajority

__all__ = ["DEFAULT_FUEL_LIMIT", "DEFAULT_SILENCE_S", "FAULT_PENALTY", "Job", "Requester"]

logger = logging.getLogger(__name__)

DEFAULT_FUEL_LIMIT = 10_000_000_000
"""Fuel limit of a job when none is given: the sandbox's default cap, fuel."""
DEFAULT_SILENCE_S = 45.0
"""Seconds without a heartbeat after which :meth:`Requester.run_checkpointed` takes the
worker running a segment for lost: three of the daemon's 15 s periods."""
FAULT_PENALTY = 10
"""Failures recorded against a worker found at fault by a dispute (on top of the
exclusion): its reliability score drops accordingly."""


@dataclass(frozen=True)
class Job:
    """One job of :meth:`Requester.submit_batch`: the arguments of :meth:`Requester.submit`."""

    module: bytes | str
    input: bytes = b""
    args: tuple[str, ...] = ()
    options: Mapping[str, Any] = field(default_factory=dict)
    """Keyword arguments of :meth:`Requester.submit` (``verify``, ``redundancy``...)."""


class Requester:
    """A requester: DHT client, payment channels, worker sessions, quality scores.

    *chain*: a :class:`~ccnet.client.Chain` (not closed here) or its ws:// URL (owned).
    *keypair*: the requester's sr25519 account key (pays, signs offers and states).
    *dht_bootstrap*: (host, UDP port) of DHT nodes to join (empty: the workers
    registered on chain, :func:`ccnet.client.net.bootstrap.join`). *state_dir*: where the
    channel store lives (``channels.db``, :func:`~ccnet.channels.store.channel_store_in`;
    None: :func:`~ccnet.channels.store.default_state_dir` of the key, whose store
    ``ccnet channel`` commands use by default too). *deposit_per_channel*: planck locked per
    worker channel. *max_price*: highest rate accepted, planck per fuel (None: any).
    *min_speed*: fuel/s a worker must guarantee. *job_timeout*: seconds to wait for a
    reply. *max_concurrency*: jobs of :meth:`submit_batch` in flight. *default_proof*:
    circuit required in ``"auto"`` mode when the tier requires proofs.
    *spot_checks*: extra known answers; the built-in ``prime_count`` ones are added
    when that module is built. *local_runner*: computes missing known answers for
    ``verify="spot"`` on this machine (:data:`~.spotchecks.LocalRunner`; the SDK has no
    sandbox of its own). *rollover*: replace a spent channel (close it, open a new one)
    instead of raising :class:`~.exceptions.ChannelFundsError`. *jobs_per_worker*: jobs
    in flight to one worker at most, request to payment (default
    :data:`~.runs.DEFAULT_JOBS_PER_WORKER`, the worker daemon's default limit of unpaid
    jobs; raise it only for workers that allow more). *rng*: randomness of
    the mixed-in spot checks (``secrets`` when None). *zk_paths*/*zk_node*/*zk_verifier*:
    the ZK setup (made on first use). *peer_config*: the WebRTC settings, among them the
    allowed ICE networks (loopback only by default: give e.g.
    ``PeerConfig(ice_networks=parse_ice_networks(["10.0.0.0/8"]))`` for workers on other
    machines) and STUN/TURN servers (:mod:`ccnet.client.net.ice`). *dht_host*,
    *dht_port*: where the DHT node binds (127.0.0.1, a free port; an address that
    reaches the bootstrap nodes for other machines).
    """

    def __init__(
        self,
        chain: Chain | str,
        keypair: Keypair,
        *,
        dht_bootstrap: Sequence[tuple[str, int]] = (),
        state_dir: str | Path | None = None,
        deposit_per_channel: int,
        max_price: int | None = None,
        min_speed: int = 0,
        task_type: str = "wasm",
        job_timeout: float = 120.0,
        max_concurrency: int = 8,
        default_fuel_limit: int = DEFAULT_FUEL_LIMIT,
        default_proof: str | None = None,
        spot_checks: Iterable[KnownJob] = (),
        local_runner: LocalRunner | None = None,
        rollover: bool = True,
        jobs_per_worker: int = DEFAULT_JOBS_PER_WORKER,
        rng: random.Random | None = None,
        tracker: QualityTracker | None = None,
        discovery_ttl: float = 30.0,
        peer_config: PeerConfig | None = None,
        dht_host: str = "127.0.0.1",
        dht_port: int = 0,
        zk_paths: ZkPaths | None = None,
        zk_node: ZkNode | None = None,
        zk_verifier: Verifier | None = None,
    ) -> None:
        if deposit_per_channel <= 0:
            raise ValueError("deposit_per_channel must be a positive amount of planck")
        self._chain_arg = chain
        self.keypair = keypair
        self.address = str(keypair.ss58_address)
        self.dht_bootstrap = list(dht_bootstrap)
        self.state_dir = (
            Path(state_dir).expanduser()
            if state_dir is not None
            else default_state_dir(self.address)
        )
        self.deposit_per_channel = deposit_per_channel
        self.max_price = max_price
        self.min_speed = min_speed
        self.task_type = task_type
        self.job_timeout = job_timeout
        self.default_fuel_limit = default_fuel_limit
        self.default_proof = default_proof
        self._rollover = rollover
        self.jobs_per_worker = jobs_per_worker
        self.discovery_ttl = discovery_ttl
        self.peer_config = peer_config if peer_config is not None else PeerConfig()
        self._dht_host, self._dht_port = dht_host, dht_port
        self._rng = rng
        self.tracker = tracker if tracker is not None else QualityTracker()
        """Scores of the workers seen (Proof-of-Quality)."""
        self.answers = KnownAnswers(spot_checks, local_runner=local_runner)
        """Known answers (spot checks) and the module bytes known by hash."""
        self._heartbeats = HeartbeatVerifier()
        self._heard: dict[str, float] = {}
        """Each worker's last accepted heartbeat, on the event loop's clock (s)."""
        self._debts_lock = asyncio.Lock()
        """One :meth:`pay_debts` at a time: two would both pay a debt."""
        self._held: dict[bytes, int] = {}
        """Planck this process reserved for each segment of a checkpointed job (by its
        request's ``job_id``), until the job is settled: a segment of an earlier process
        (``ccnet job resume``) holds nothing here."""
        """Each worker's last accepted heartbeat, on the event loop's clock (s)."""
        self._semaphore = asyncio.Semaphore(max_concurrency)
        self._checker = ResultChecker(
            default_fuel_limit=default_fuel_limit,
            zk_paths=zk_paths,
            zk_node=zk_node,
            zk_verifier=zk_verifier,
        )
        self._tally = RequesterTally()
        self._excluded: set[str] = set()
        self._endpoints: dict[str, str] = {}
        # discovery cache: (task_type, min_speed, max_price) -> (monotonic time, candidates)
        self._found: dict[tuple[str, int, int | None], tuple[float, list[Candidate]]] = {}
        self._find_lock = asyncio.Lock()
        # set by start()
        self._chain: Chain | None = None
        self._owns_chain = False
        self._store: SqliteChannelStore | None = None
        self._party: ChannelParty | None = None
        self._dht: DhtNode | None = None
        self._directory: CapabilityDirectory | None = None
        self._pool: SessionPool | None = None
        self._book: ChannelBook | None = None
        self._runner: JobRunner | None = None
        self._onchain: OnchainRequests | None = None
        self._started = False
        self._closed = False

    # -- lifecycle ------------------------------------------------------------------

    async def start(self) -> None:
        """Connect the chain (when given a URL), open the channel store (exclusively:
        one requester per state folder), join the DHT.
        Raises :class:`~ccnet.client.exceptions.ChainConnectionError`,
        :class:`~ccnet.client.net.exceptions.DhtError`,
        :class:`~ccnet.channels.PersistError` (:class:`~ccnet.channels.StoreLockedError`
        when another process holds the store)."""
        if self._started:
            return
        self._started = True
        try:
            if isinstance(self._chain_arg, Chain):
                self._chain = self._chain_arg
            else:
                self._chain = await asyncio.to_thread(Chain, self._chain_arg)
                self._owns_chain = True
            genesis = await asyncio.to_thread(lambda: self._require_chain().genesis_hash)
            self.state_dir.mkdir(parents=True, exist_ok=True)
            # Exclusive: no other process pays from these channels while we run (a
            # version we marked a debt with is then ours; see _settle_mark).
            self._store = SqliteChannelStore(channel_store_in(self.state_dir), exclusive=True)
            party = ChannelParty(self.keypair, self._store, chain=self._chain, genesis_hash=genesis)
            self._assemble(party)
            self._onchain = OnchainRequests(self._chain, self.keypair, state_dir=self.state_dir)
            self._dht = DhtNode()
            await self._dht.start(host=self._dht_host, port=self._dht_port)
            await join(self._dht, self._chain, self.dht_bootstrap)
            self._directory = CapabilityDirectory(self._dht)
            self.answers.add_builtin()
        except BaseException:
            await self.aclose()
            raise

    def _assemble(self, party: ChannelParty, *, connector: Connector | None = None) -> None:
        """Wire the payment channels, sessions and job runner around *party* (tests give
        their own party and *connector*, the WebRTC dial)."""
        self._party = party
        self._pool = SessionPool(
            self.keypair,
            config=self.peer_config,
            on_heartbeat=self._on_heartbeat,
            on_open=self._on_session,
            connector=connector,
        )
        self._book = ChannelBook(
            party, self._pool, deposit_per_channel=self.deposit_per_channel, rollover=self._rollover
        )
        self.debts = DebtBook(self.state_dir / DEBTS_FILE)
        """Payments owed and not made yet (their worker was unreachable): kept in
        *state_dir*, reserved on their channels, paid by :meth:`pay_debts`."""
        for debt in self.debts.all():  # the money stays set aside for them
            if debt.paying_version is not None and self._settle_mark(debt) is None:
                continue
            try:
                if not self._book.try_reserve(bytes.fromhex(debt.channel_id), debt.amount):
                    logger.warning(
                        "debt %s to %s: its channel no longer holds %d planck free",
                        debt.memo,
                        debt.worker,
                        debt.amount,
                    )
            except CcnetError as err:
                logger.warning("debt %s to %s: channel not usable: %s", debt.memo, debt.worker, err)
        self._runner = JobRunner(
            self._pool,
            self._book,
            self._checker,
            self.answers,
            self.tracker,
            self._tally,
            job_timeout=self.job_timeout,
            rng=self._rng,
            jobs_per_worker=self.jobs_per_worker,
        )

    async def _on_session(self, session: WorkerSession) -> None:
        assert self._book is not None
        await self._book.attach(session)

    async def aclose(self) -> None:
        """Release everything, in dependency order (see the module docs). Idempotent.
        Open channels stay open (stored in *state_dir*)."""
        if self._closed:
            return
        self._closed = True
        if self._party is not None:
            await self._party.aclose()
        if self._pool is not None:
            await self._pool.close()
        if self._directory is not None:
            await self._directory.close()
        if self._dht is not None:
            await self._dht.close()
        self._checker.close()
        if self._store is not None:
            self._store.close()
        if self._owns_chain and self._chain is not None:
            self._chain.close()

    async def __aenter__(self) -> Requester:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def _require_open(self) -> JobRunner:
        if not self._started or self._closed or self._runner is None:
            raise RequesterClosedError(
                "the requester is not running: use `async with Requester(...)`"
            )
        return self._runner

    def _require_chain(self) -> Chain:
        if self._chain is None:
            raise RequesterClosedError("the requester is not connected to a chain")
        return self._chain

    @property
    def rollover(self) -> bool:
        """Whether a spent channel is replaced (closed, a new one opened) rather than
        :class:`~.exceptions.ChannelFundsError` raised."""
        return self._rollover

    @rollover.setter
    def rollover(self, value: bool) -> None:
        self._rollover = value
        if self._book is not None:
            self._book.rollover = value

    @property
    def chain(self) -> Chain:
        """The chain connection."""
        return self._require_chain()

    @property
    def party(self) -> ChannelParty:
        """The payment-channel party (its ``receipts`` are the channel extrinsics)."""
        if self._party is None:
            raise RequesterClosedError("the requester is not started")
        return self._party

    @property
    def dht(self) -> DhtNode:
        """The requester's DHT node."""
        if self._dht is None:
            raise RequesterClosedError("the requester is not started")
        return self._dht

    @property
    def onchain(self) -> OnchainRequests:
        """The on-chain task and dispute calls (their ``receipts``)."""
        if self._onchain is None:
            raise RequesterClosedError("the requester is not started")
        return self._onchain

    # -- discovery ------------------------------------------------------------------

    async def find_workers(
        self,
        task_type: str | None = None,
        *,
        min_speed: int | None = None,
        max_price: int | None = None,
        refresh: bool = False,
    ) -> list[WorkerOffer]:
        """Eligible workers for *task_type* (default ``"wasm"``) at >= *min_speed* fuel/s
        and <= *max_price* planck/fuel (defaults: the requester's), ranked best first by
        quality score (:func:`~.discovery.rank_offers`). Workers caught cheating are left
        out. DHT results are cached for ``discovery_ttl`` seconds (*refresh* skips it)."""
        self._require_open()
        assert self._directory is not None
        kind = task_type or self.task_type
        speed = self.min_speed if min_speed is None else min_speed
        price_cap = self.max_price if max_price is None else max_price
        key = (kind, speed, price_cap)
        async with self._find_lock:
            cached = self._found.get(key)
            if refresh or cached is None or time.monotonic() - cached[0] > self.discovery_ttl:
                found = await discover(
                    self._directory,
                    self._require_chain(),
                    kind,
                    min_speed=speed,
                    max_price=price_cap,
                )
                cached = (time.monotonic(), found)
                self._found[key] = cached
        offers = rank_offers(cached[1], self.tracker, now_ms(), excluded=self._excluded)
        for offer in offers:
            self._endpoints[offer.address] = offer.endpoint
            self._tally.tiers[offer.address] = offer.tier
        return offers

    # -- jobs -------------------------------------------------------------------------

    def add_known_answer(
        self, module: bytes, args: Sequence[str], stdin: bytes, output: bytes
    ) -> KnownJob:
        """Remember the answer of a job: *module* is the Wasm binary (or its 32-byte
        hash, when the binary is already known here). Used to check results of that job
        and as a spot check to mix in."""
        return self.answers.add(module, args, stdin, output)

    async def submit(
        self,
        module: bytes | str,
        input: bytes = b"",
        *,
        args: Sequence[str] = (),
        redundancy: int | None = None,
        verify: str = "auto",
        proof: str | None = None,
        fuel_limit: int | None = None,
        task_id: int | None = None,
        seed: bytes = b"",
        timeout: float | None = None,
        workers: Sequence[WorkerOffer] | None = None,
    ) -> TaskOutcome:
        """Run one job and return its verified (or rejected) outcome.

        *module*: Wasm bytes or a built-in job name; *input*: stdin; *args*: argv tail.
        *verify*: ``"auto"`` (the tier policy), ``"none"``, ``"majority"``, ``"spot"``
        or ``"proof"`` (see :func:`~.verdicts.plan_verification`); *redundancy*:
        workers to run it (default from the mode); *proof*: circuit results must prove
        (:data:`~ccnet.client.jobs.proofs.JOB_CIRCUITS`); *fuel_limit*: fuel (default
        ``default_fuel_limit``); *task_id*: the id bound into the signed results (u64;
        give the on-chain task id to be able to dispute them; default random);
        *seed*: ``random_get`` seed; *timeout*: seconds per reply; *workers*: offers to
        use instead of :meth:`find_workers`.

        Raises :class:`~.exceptions.NoWorkersError`, :class:`~.exceptions.PlanError`,
        :class:`~.exceptions.ChannelFundsError` (nothing sent), and chain errors of
        opening a channel. Wrong results are not errors: see the outcome.
        """
        runner = self._require_open()
        wasm = load_job(module) if isinstance(module, str) else module
        digest = self.answers.module(wasm)
        args = tuple(args)
        fuel = self.default_fuel_limit if fuel_limit is None else fuel_limit
        job_id = secrets.randbits(63) if task_id is None else task_id
        offers = list(workers) if workers is not None else await self.find_workers()
        offers = [o for o in offers if o.address not in self._excluded]
        if not offers:
            raise NoWorkersError(self.task_type, redundancy or 1, 0)
        policy = offers[0].policy
        plan = plan_verification(
            verify,
            policy,
            redundancy=redundancy,
            proof=proof,
            default_proof=self.default_proof,
            spot_draw=verify == "auto" and should_spot_check(policy.spot_check_permille, self._rng),
        )
        if plan.proof is not None:
            try:
                check_circuit(plan.proof)
            except UnknownCircuitError as err:
                raise PlanError(str(err)) from None
        if len(offers) < plan.redundancy:
            raise NoWorkersError(self.task_type, plan.redundancy, len(offers))
        known = await self.answers.expected(plan, wasm, digest, args, input, fuel)
        base = JobRequest(
            job_id=b"\0" * 16,
            module_hash=digest,
            input=input,
            args=args,
            fuel_limit=fuel,
            seed=seed,
            proof=plan.proof,
            task_id=job_id,
        )
        return await runner.run(
            offers[: plan.redundancy], base, wasm, plan, known_output_hash=known, timeout=timeout
        )

    def checkpointed_job(
        self,
        module: bytes | str,
        input: bytes = b"",
        *,
        every_fuel: int,
        args: Sequence[str] = (),
        fuel_limit: int | None = None,
        task_id: int | None = None,
        seed: bytes = b"",
        key: bytes | None = None,
    ) -> CheckpointedJob:
        """A job to run with VM checkpoints every *every_fuel* fuel (see the module
        docs); nothing is sent yet. *module*, *input*, *args*, *seed* as in
        :meth:`submit`; *fuel_limit*: the budget of each segment, fuel (default
        ``default_fuel_limit``); *task_id*: bound into the final signed result (default
        random); *key*: the 32-byte sealing key (default random). ``ValueError`` for a
        bad *every_fuel* or *key*."""
        wasm = load_job(module) if isinstance(module, str) else module
        base = JobRequest(
            job_id=b"\0" * 16,
            module_hash=self.answers.module(wasm),
            input=input,
            args=tuple(args),
            fuel_limit=self.default_fuel_limit if fuel_limit is None else fuel_limit,
            seed=seed,
            task_id=secrets.randbits(63) if task_id is None else task_id,
        )
        return CheckpointedJob(base, wasm, every_fuel=every_fuel, key=key)

    async def run_segment(
        self,
        job: CheckpointedJob,
        worker: WorkerOffer,
        *,
        timeout: float | None = None,
        check_record: bool = True,
    ) -> JobResult | JobFailed | JobSuspended:
        """Run *job*'s next segment on *worker* (from its last checkpoint, if any), paid
        through the worker's channel, and return how it ended. With *check_record*, the
        checkpoints announced last that their owner has not recorded on chain (among its
        newest 32 records) are dropped first, so the segment resumes from the newest
        recorded one (or the start). The segment's worst case
        (its fuel limit at the worker's rate, planck) stays reserved until
        :meth:`settle_checkpointed`, or is released at once when the segment fails.
        Raises :class:`~.exceptions.ChannelFundsError` (nothing sent), the chain's
        errors of opening a channel, :class:`TimeoutError` after *timeout* seconds
        (default ``job_timeout``) and
        :class:`~ccnet.client.net.exceptions.NetError` (the reservation is released)."""
        self._require_open()
        assert self._pool is not None and self._book is not None
        if check_record:
            await self._drop_unrecorded(job)
        session = await self._pool.get(worker.address, worker.endpoint)
        fuel = job.base.fuel_limit or self.default_fuel_limit
        worst = price(fuel, worker.price_planck_per_fuel)
        channel_id, session = await self._book.reserve(
            worker.address, worker.endpoint, session, worst
        )
        segments = len(job.segments)
        try:
            reply = await job.run_segment(
                session,
                timeout or self.job_timeout,
                rate_planck_per_fuel=worker.price_planck_per_fuel,
                channel_id=channel_id,
                reserved=worst,
            )
        except BaseException:
            if len(job.segments) == segments:
                self._book.release(channel_id, worst)
            else:  # lost: its images may yet be paid
                self._held[job.segments[-1].request.job_id] = worst
            raise
        if isinstance(reply, JobFailed) and not job.segments[-1].announced:  # owed nothing
            self._book.release(channel_id, worst)
        else:  # paid at settlement, a failed one for the images the result resumes
            self._held[job.segments[-1].request.job_id] = worst
        await self.pay_debts(worker.address)  # it is reachable, its channel bound: pay
        return reply

    async def run_checkpointed(
        self,
        job: CheckpointedJob,
        workers: Sequence[WorkerOffer],
        *,
        timeout: float | None = None,
        silence: float = DEFAULT_SILENCE_S,
        open_image: OpenImage | None = None,
    ) -> JobResult | JobFailed | JobSuspended | None:
        """Run *job* to its result on *workers*, in order, moving it on whenever its
        worker is lost: a worker that sends no heartbeat for *silence* seconds (its
        daemon pushes one every 15 s while the session is open, ``docs/protocol.md``
        section 7) is given up (the session is dropped), as is one whose session
        closes or whose segment times out after *timeout* seconds (default
        ``job_timeout``), and one that suspends the job or fails it; the next worker
        resumes from the last checkpoint recorded on chain (:meth:`run_segment`).
        Returns the result, else how the last segment ended (``None``: lost, or no
        worker was reachable). A lost worker's images the result builds on are paid
        by :meth:`settle_checkpointed`, as a debt while it is unreachable. Raises
        :class:`~.exceptions.ChannelFundsError` and the chain's errors of opening a
        channel, and ``RuntimeError`` as :meth:`CheckpointedJob.run_segment
        <.migration.CheckpointedJob.run_segment>` does.

        With *open_image* (e.g. :meth:`ccnet.worker.checkpointing.ImageOpener.facts`), a
        worker answering ``malformed`` to the image it was to resume makes the requester
        open that image itself: when it cannot be opened as this job's either (another
        job's image, wrong bytes or key), it is discarded
        (:meth:`CheckpointedJob.discard_last <.migration.CheckpointedJob.discard_last>`)
        and the next worker resumes from the one before; a worker's ``malformed`` alone
        never discards an image (``docs/vm-checkpoints.md`` 8.1, rule 7)."""
        self._require_open()
        assert self._pool is not None
        last: JobResult | JobFailed | JobSuspended | None = None
        unfunded: ChannelFundsError | None = None
        ran = len(job.segments)
        for worker in workers:
            if job.result is not None:
                break
            try:
                last = await self._watched_segment(job, worker, timeout, silence)
            except ChannelFundsError as err:  # nothing was sent to it
                logger.warning("skipping %s: %s", worker.address, err)
                unfunded = err
                continue
            except (TimeoutError, NetError, WorkerSilentError) as err:
                logger.warning("lost %s during its segment of the job: %s", worker.address, err)
                await self._pool.drop(worker.address)
                last = None
                continue
            if isinstance(last, JobFailed):
                logger.warning("%s failed its segment: %s", worker.address, last.code)
                if last.code == FailureCode.MALFORMED and open_image is not None:
                    await self._discard_if_unopenable(job, open_image)
            elif isinstance(last, JobResult):
                segment = job.segments[-1]
                check = await self._checker.check(
                    segment.worker, segment.request, last.output, last.result, None, None
                )
                if not check.valid:  # the job goes on from its last checkpoint
                    logger.warning("%s's result refused: %s", worker.address, check.reason)
                    job.reject_result(check.reason)
        if unfunded is not None and len(job.segments) == ran and job.result is None:
            raise unfunded  # no worker's channel could cover a segment
        return job.result or last

    async def _discard_if_unopenable(self, job: CheckpointedJob, open_image: OpenImage) -> None:
        """After a ``malformed`` answer to the last segment's resume: discard that image
        if the requester cannot open it as this job's either."""
        started = job.segments[-1].resumed_from
        if started is None or started != job.last_checkpoint:
            return
        try:
            await open_image(started)
        except ImageUnavailableError as err:  # no verdict: the next worker tries it
            logger.warning("cannot check checkpoint %d now: %s", started.checkpoint.checkpoint, err)
        except Exception as err:  # noqa: BLE001 - any other failure: not this job's image
            logger.warning(
                "checkpoint %d announced by %s cannot be opened here either (%s): discarded",
                started.checkpoint.checkpoint,
                started.worker,
                err,
            )
            job.discard_last()

    async def _watched_segment(
        self, job: CheckpointedJob, worker: WorkerOffer, timeout: float | None, silence: float
    ) -> JobResult | JobFailed | JobSuspended:
        """:meth:`run_segment` on *worker*, cancelled with :class:`WorkerSilentError`
        once no heartbeat of it arrived for *silence* seconds."""
        loop = asyncio.get_running_loop()
        segments = len(job.segments)
        running = asyncio.ensure_future(self.run_segment(job, worker, timeout=timeout))
        started: float | None = None
        try:
            while True:
                if started is None and job._running is not None:
                    started = loop.time()  # the request is out: silence counts from here
                if started is None or len(job.segments) > segments:
                    # not sent yet (opening a channel is not cut short), or answered
                    # (paying its debts is not either)
                    done, _ = await asyncio.wait({running}, timeout=0.5)
                    if done:
                        return running.result()
                    continue
                heard = max(started, self._heard.get(worker.address, started))
                wait = heard + silence - loop.time()
                if wait <= 0:
                    if running.done():  # its answer came in the same tick: not lost
                        return running.result()
                    running.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await running
                    if not running.cancelled():  # it finished before the cancel landed
                        return running.result()
                    raise WorkerSilentError(worker.address, silence)
                done, _ = await asyncio.wait({running}, timeout=wait)
                if done:
                    return running.result()
        finally:
            if not running.done():
                running.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await running

    async def pay_debts(self, worker: str | None = None) -> int:
        """Pay the debts (:attr:`debts`) to *worker* (SS58; every worker when ``None``)
        whose channel is attached to an open session with it (the worker bound it to
        that session with a job request: :meth:`run_segment` pays the debts to its
        worker after each segment); each paid one is forgotten and its reservation
        released. Returns the planck paid. Raises nothing (a payment that fails stays
        owed, logged)."""
        self._require_open()
        async with self._debts_lock:
            return await self._pay_debts(worker)

    async def _pay_debts(self, worker: str | None) -> int:
        assert self._book is not None
        total = 0
        for owed in self.debts.all():
            if worker is not None and owed.worker != worker:
                continue
            channel_id = bytes.fromhex(owed.channel_id)
            try:
                paid = await self._pay_debt(owed, channel_id)
            except OSError as err:  # the debts file: nothing is forgotten unwritten
                logger.warning("debt %s to %s: %s", owed.memo, owed.worker, err)
                continue
            if paid:
                self._book.release(channel_id, owed.amount)
                self._tally.worker(owed.worker).cost += owed.amount
                total += owed.amount
        return total

    async def _pay_debt(self, owed: Debt, channel_id: bytes) -> bool:
        """Pay *owed* if its channel is attached; whether it is paid (and forgotten)."""
        assert self._book is not None and self._party is not None
        if owed.paying_version is not None:
            # A payment of it began and was not seen through here (its caller was
            # cancelled, or its answer came late): whether it went out decides.
            unmarked = self._settle_mark(owed)
            if unmarked is None:
                return True
            owed = unmarked
        if not self._book.is_attached(channel_id):
            return False
        marked: list[Debt] = []

        def mark(version: int) -> None:
            marked.append(self.debts.mark(owed, version))

        payment = await self._book.pay(
            owed.worker, channel_id, owed.amount, owed.memo, before_proposal=mark
        )
        if not marked:  # refused before a proposal of its own was made
            return False
        debt = marked[-1]
        if not payment.ok:
            # In doubt only if the outstanding proposal is this payment's: another
            # payment's could be outstanding after this one was refused.
            if not (payment.in_doubt and self._outstanding(channel_id) == debt.paying_version):
                self.debts.unmark(debt)
                return False
        self.debts.paid(debt)
        logger.info("paid the debt %s of %d planck to %s", owed.memo, owed.amount, owed.worker)
        return True

    def _settle_mark(self, debt: Debt) -> Debt | None:
        """For a debt whose payment had begun (``paying_version``; at start-up, or left
        by a cancelled :meth:`pay_debts`): if that payment went out (its state is
        co-signed in our store, or is our outstanding proposal, re-sent on the next
        attach), the debt is forgotten and None returned; otherwise its mark is dropped
        and the unmarked debt, still owed, returned (see :mod:`.debts`). The version is
        ours alone: the Requester holds its channel store exclusively."""
        assert self._party is not None and debt.paying_version is not None
        channel_id = bytes.fromhex(debt.channel_id)
        version = debt.paying_version
        if (
            self._party.state_at(channel_id, version) is not None
            or self._outstanding(channel_id) == version
        ):
            logger.info("the debt %s to %s was paid at version %d", debt.memo, debt.worker, version)
            self.debts.paid(debt)
            return None
        return self.debts.unmark(debt)

    def _outstanding(self, channel_id: bytes) -> int | None:
        """The version of our outstanding proposal on *channel_id*, if any (None for a
        channel no longer live)."""
        assert self._party is not None
        try:
            pending = self._party.channel(channel_id).pending
        except CcnetError:
            return None
        return None if pending is None else pending.state.version

    async def _drop_unrecorded(self, job: CheckpointedJob) -> None:
        """Forget *job*'s newest announced checkpoints that are not exactly their
        worker's record on chain of the job they were announced for (``job_record`` of
        the worker and the announcement's ``job_id``: sequence number, Arweave tx id,
        state hash and size): unrecorded ones, and older ones the worker has since
        replaced by a newer image of that job (that one was then dropped before, e.g. by
        :meth:`CheckpointedJob.discard_last`). The next segment resumes from the newest
        one kept, or from the start."""
        chain = self._require_chain()
        records: dict[tuple[str, bytes], JobCheckpointRecord | None] = {}
        while job.checkpoints:
            last = job.checkpoints[-1]
            note = last.checkpoint
            where = (last.worker, note.job_id)
            if where not in records:
                records[where] = await asyncio.to_thread(
                    chain.checkpoints.job_record, last.worker, note.job_id
                )
            found = records[where]
            if (
                found is not None
                and found.checkpoint == note.checkpoint
                and found.record.arweave_tx_id == note.arweave_tx_id
                and found.record.state_hash.lower() == "0x" + note.state_hash.hex()
                and found.record.size == note.size
            ):
                return
            logger.warning(
                "%s announced checkpoint %d of job %s, which is not its record on chain of "
                "that job: not resumed",
                last.worker,
                note.checkpoint,
                note.job_id.hex(),
            )
            job.checkpoints.pop()

    async def settle_checkpointed(
        self,
        job: CheckpointedJob,
        *,
        expected_output_hash: bytes | None = None,
        reference: FuelReference | None = None,
        open_image: OpenImage | None = None,
        before_paying: Callable[[], None] | None = None,
    ) -> CheckpointedOutcome:
        """Check *job*'s final result (signed by the worker that ran the last segment,
        bound to its request; with *expected_output_hash*, 32 bytes, also that answer)
        and, when it passes, pay each segment the result builds on ``price(its fuel,
        its rate)`` planck (at most its reservation) through its worker's channel;
        release every other reservation. Not paid (``docs/vm-checkpoints.md`` 8.1,
        :func:`~.migration.assess`): failed segments, segments the result does
        not build on (their image was not resumed), a suspended one whose fuel claim is
        not the difference of the cumulative fuel of the checkpoints it started and
        stopped at, and with *reference* the segments whose claims over ``reference.fuel
        + k x reference.checkpoint_cost`` a re-run does not confirm (all of them without
        ``reference.rerun``); with *open_image*, a segment whose announced checkpoint
        is not what its image says (sequence number, cumulative fuel), the next one's
        claim being measured from the image. A payment that fails (the worker is
        unreachable, e.g. it stopped gracefully) is kept as a debt in :attr:`debts`, its
        amount still reserved, and paid by :meth:`pay_debts`. A job is settled once
        (``RuntimeError`` after, or while a segment runs). Raises
        :class:`~.exceptions.ImageUnavailableError` when an image cannot be fetched now:
        then nothing was paid or released and the job is not settled (try again later).
        *before_paying* is called once the claims are known, before the first payment
        or release (e.g. to mark the job durably as being settled); if it raises,
        nothing is paid and the job is not settled."""
        self._require_open()
        assert self._book is not None
        if job.settled:
            raise RuntimeError("the job was settled")
        if job._running is not None:
            raise RuntimeError("a segment of this job is running")
        job.settled = True
        verified, reason, output = False, "the job has no result", None
        final = job.segments[-1] if job.segments else None
        if final is not None and final.rejected:
            reason = f"its result was refused: {final.rejected}"
        elif final is not None and isinstance(final.reply, JobResult):
            reply = await self._checker.check(
                final.worker, final.request, final.reply.output, final.reply.result, None, None
            )
            if not reply.valid or reply.result is None:
                reason = reply.reason
            elif expected_output_hash is not None and (
                reply.result.output_hash != expected_output_hash
            ):
                reason = "the output is not the expected one"
            else:
                verified, reason, output = True, "", final.reply.output
        paid: list[int] = []
        refused: list[str] = []
        owed: list[int] = []
        try:
            claims = (
                await assess(job, reference, open_image=open_image)
                if verified
                else [Claim(0, "not verified")] * len(job.segments)
            )
        except ImageUnavailableError:
            job.settled = False  # nothing was paid or released: settle again later
            raise
        if before_paying is not None:
            try:
                before_paying()
            except BaseException:
                job.settled = False
                raise
        for number, segment in enumerate(job.segments):
            amount, debt, why = 0, 0, claims[number].unpaid
            channel_id = segment.request.channel_id
            if why and isinstance(segment.reply, JobFailed):
                why = f"failed ({segment.reply.code}): {why}"
            if channel_id is not None:
                kept = 0
                if not why:
                    amount = min(
                        price(claims[number].fuel, segment.request.rate_planck_per_fuel),
                        segment.reserved,
                    )
                    memo = f"task {job.base.task_id} segment {number}"
                    payment = await self._book.pay(segment.worker, channel_id, amount, memo)
                    if payment.in_doubt:  # outstanding: completes when re-sent
                        amount, why = 0, f"in doubt (re-sent when it is back): {payment.error}"
                    elif not payment.ok and amount > 0:
                        self.debts.add(Debt(segment.worker, channel_id.hex(), amount, memo))
                        kept, debt = amount, amount
                        amount, why = 0, f"payment failed, kept as a debt: {payment.error}"
                held = self._held.pop(segment.request.job_id, 0)
                if kept > held:  # a debt of a segment an earlier process reserved
                    if not self._book.try_reserve(channel_id, kept - held):
                        logger.warning(
                            "the debt %s of %d planck to %s is not covered by a reservation "
                            "on its channel: it is paid if the channel still holds it",
                            memo,
                            kept,
                            segment.worker,
                        )
                else:
                    self._book.release(channel_id, held - kept)
            paid.append(amount)
            refused.append(why)
            owed.append(debt)
            stats = self._tally.worker(segment.worker)
            stats.jobs += 1
            if why:
                stats.rejected += 1
            else:
                stats.agreed += 1
                stats.fuel += claims[number].fuel
                stats.cost += amount
        self._tally.tasks_run += 1
        if verified:
            self._tally.tasks_verified += 1
        else:
            self._tally.tasks_rejected += 1
        return CheckpointedOutcome(
            verified=verified,
            reason=reason,
            output=output,
            segment_fuel=job.segment_fuel,
            paid=tuple(paid),
            unpaid_reasons=tuple(refused),
            checkpoints=tuple(job.checkpoints),
            owed=tuple(owed),
        )

    @overload
    async def submit_batch(
        self, jobs: Iterable[Job], *, return_exceptions: Literal[False] = False
    ) -> list[TaskOutcome]: ...

    @overload
    async def submit_batch(
        self, jobs: Iterable[Job], *, return_exceptions: Literal[True]
    ) -> list[TaskOutcome | BaseException]: ...

    async def submit_batch(
        self, jobs: Iterable[Job], *, return_exceptions: bool = False
    ) -> list[TaskOutcome] | list[TaskOutcome | BaseException]:
        """Run *jobs* concurrently, at most ``max_concurrency`` at a time; outcomes in
        order. An error of one job is raised after all finished (or returned in its
        place with *return_exceptions*)."""

        async def one(job: Job) -> TaskOutcome:
            async with self._semaphore:
                return await self.submit(job.module, job.input, args=job.args, **dict(job.options))

        results = await asyncio.gather(*(one(j) for j in jobs), return_exceptions=True)
        if return_exceptions:
            return list(results)
        outcomes: list[TaskOutcome] = []
        for item in results:
            if isinstance(item, BaseException):
                raise item
            outcomes.append(item)
        return outcomes

    async def close_channels(self) -> list[Receipt]:
        """Close every channel we opened, cooperatively (one round trip with the worker,
        then one ``cooperative_close`` extrinsic each), after paying the debts on it; a
        channel with a debt left unpaid stays open (the worker is owed it). Returns the
        receipts; see :meth:`~.channelbook.ChannelBook.close_all`."""
        self._require_open()
        assert self._book is not None

        async def pay_first(worker: str, channel_id: bytes) -> bool:
            await self.pay_debts(worker)
            return all(debt.channel_id != channel_id.hex() for debt in self.debts.all())

        return await self._book.close_all(self._endpoints, before_close=pay_first)

    # -- heartbeats -------------------------------------------------------------------

    def _on_heartbeat(self, beat: Heartbeat) -> None:
        try:
            self._heartbeats.accept(beat)
        except CcnetError as err:
            logger.info("heartbeat of %s refused: %s", beat.worker, err)
            return
        self._heard[beat.worker] = asyncio.get_running_loop().time()
        speed = beat.metrics.speed_milli / 1000 if beat.metrics.speed_milli else None
        self.tracker.observe_heartbeat(beat.worker, beat.timestamp_ms, speed_multiplier=speed)

    # -- on chain ---------------------------------------------------------------------

    async def post_onchain(
        self,
        spec: JobSpec,
        *,
        bounty: int,
        redundancy: int = 1,
        deadline_blocks: int = DEFAULT_DEADLINE_BLOCKS,
    ) -> int:
        """Post *spec* as an on-chain ``wasm`` task (bounty in planck), committable until
        *deadline_blocks* blocks from now; returns its id."""
        self._require_open()
        return await self.onchain.post(
            spec, bounty=bounty, redundancy=redundancy, deadline_blocks=deadline_blocks
        )

    async def onchain_results(self, task_id: int) -> list[Assignment]:
        """The claims of on-chain task *task_id* and their revealed results."""
        self._require_open()
        return await self.onchain.results(task_id)

    async def wait_onchain_results(
        self, task_id: int, count: int, *, timeout: float = 120.0
    ) -> list[Assignment]:
        """Wait for *count* revealed results of *task_id*."""
        self._require_open()
        return await self.onchain.wait_results(task_id, count, timeout=timeout)

    async def decide_onchain(self, task_id: int) -> HashMajority:
        """The majority over the results revealed for *task_id* (what finalize pays)."""
        self._require_open()
        return await self.onchain.decide(task_id)

    async def accept(self, task_id: int, worker: str) -> Receipt:
        """Pay early a unanimous, fully revealed on-chain task (*worker* names one of
        its identical results); anything else is paid by :meth:`wait_settled`."""
        self._require_open()
        return await self.onchain.accept(task_id, worker)

    async def wait_settled(self, task_id: int, *, timeout: float = 300.0) -> TaskInfo:
        """Wait until on-chain task *task_id* is paid or refunded (finalizing it once due
        if no worker did); returns its final record."""
        self._require_open()
        return await self.onchain.wait_settled(task_id, timeout=timeout)

    async def challenge(
        self, task_id: int, worker: str, expected_hash: bytes | str | None = None
    ) -> int:
        """Stake and open a dispute against *worker*'s on-chain result, committing to the
        result hash this requester expects (*expected_hash*, revealed by
        :meth:`wait_dispute`); returns the dispute id. The worker is not asked again
        until the verdict clears it."""
        self._require_open()
        dispute_id = await self.onchain.challenge(task_id, worker, expected_hash)
        self._excluded.add(worker)
        return dispute_id

    async def challenge_dissenters(self, outcome: TaskOutcome) -> Disputed:
        """Challenge on chain every dissenter of *outcome* (a job run with the on-chain
        task id as ``task_id``, whose workers also submitted their results there)."""
        disputes = {
            w: await self.challenge(outcome.task_id, w, outcome.output_hash)
            for w in outcome.dissenters
        }
        return Disputed(disputes)

    async def wait_dispute(
        self, dispute_id: int, *, timeout: float = 300.0, resolve_when_due: bool = True
    ) -> DisputeOutcome:
        """Wait for the verdict of *dispute_id*, then update the scores: at fault, the
        worker gets :data:`FAULT_PENALTY` failures and is never asked again; upheld, it
        gets a success and is asked again."""
        self._require_open()
        outcome = await self.onchain.wait_dispute(
            dispute_id, timeout=timeout, resolve_when_due=resolve_when_due
        )
        at = now_ms()
        if outcome.verdict == "WorkerAtFault":
            for _ in range(FAULT_PENALTY):
                self.tracker.observe_job(outcome.worker, False, at)
            self._excluded.add(outcome.worker)
        else:
            if outcome.verdict == "WorkerUpheld":
                self.tracker.observe_job(outcome.worker, True, at)
            self._excluded.discard(outcome.worker)
        self._found.clear()  # the chain's reputation counters changed
        self._tally.disputes.append(outcome)
        return outcome

    # -- stats ------------------------------------------------------------------------

    @property
    def excluded(self) -> frozenset[str]:
        """Workers this requester no longer asks (caught cheating)."""
        return frozenset(self._excluded)

    def exclude(self, worker: str) -> None:
        """Never ask *worker* again (e.g. a dissenter about to be challenged)."""
        self._excluded.add(worker)

    def stats(self) -> RequesterStats:
        """The numbers of a summary (the demo's tables)."""
        tally = self._tally
        channel_receipts = list(self._party.receipts) if self._party is not None else []
        other = list(self._onchain.receipts) if self._onchain is not None else []
        at = now_ms()
        seen = set(tally.workers) | set(self.tracker.workers())
        return RequesterStats(
            tasks_run=tally.tasks_run,
            tasks_verified=tally.tasks_verified,
            tasks_rejected=tally.tasks_rejected,
            spot_checks=tally.spot_checks,
            spot_checks_failed=tally.spot_checks_failed,
            offchain_updates=self._book.updates if self._book is not None else 0,
            channel_extrinsics=len(channel_receipts),
            other_extrinsics=len(other),
            fees_planck=sum(r.fee for r in channel_receipts + other),
            workers={w: replace(s) for w, s in sorted(tally.workers.items())},
            scores={w: self.tracker.score(w, at) for w in sorted(seen)},
            tiers=dict(tally.tiers),
            disputes=tuple(tally.disputes),
            excluded=tuple(sorted(self._excluded)),
            channels_open=len(self._party.channels) if self._party is not None else 0,
            extra={"channel_rollovers": self._book.rollovers if self._book is not None else 0},
        )
