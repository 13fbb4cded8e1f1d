"""The requester SDK: find workers, run jobs on them, verify, pay per result, dispute.

Issue 4 ("Requester SDK"), issue 6 (proofs and disputes), issue 7 (the demo scripts
it). Usage::

    from ccnet.worker.requester import Requester

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

**A job** (:meth:`Requester.submit`): the module (Wasm bytes or a built-in job name,
:data:`~ccnet.client.jobs.catalogue.BUILTIN_JOBS`), its stdin and argv tail. The plan
(:func:`~ccnet.worker.verdicts.plan_verification`) says how many workers run it, whether
results must carry a proof and whether a known answer checks it; in ``"auto"`` mode the
reputation tier of the best-ranked worker decides (:data:`~ccnet.worker.quality.TIER_POLICIES`).
Then, for each chosen worker, concurrently: a session (:class:`~.sessions.SessionPool`,
reused), a payment channel (opened once per worker with ``deposit_per_channel``,
funded at once, attached to the session's ``"channels"`` data channel, reused across
jobs and runs: it lives in ``state_dir``), a :class:`~.protocol.JobRequest` (the module
is sent only if the worker asks), and the reply, checked alone: signature
(:meth:`~.results.JobResult.verify`), binding to this job (task id, module, input,
worker), the output against its hash, and the proof (:func:`ccnet.zk.check_proof`
against :func:`~.jobproofs.expected_signals`). :func:`~.verdicts.decide` compares the
valid results (known answer, else majority, else the single one). Each agreeing result
is paid with **one** co-signed channel update of ``price(fuel, rate)``; dissenting,
invalid and failed results are paid nothing. The quality tracker learns every success
and failure, the latency of protocol round trips (module request, payment) and the
heartbeats workers push.

**Money**: before a job is sent, its worst case (fuel limit x rate) is reserved in the
worker's channel. A channel that cannot cover it is rolled over when no other job holds
a reservation on it (closed cooperatively, a new one opened on a new session: two more
extrinsics); else :class:`~.requester_exceptions.ChannelFundsError` is raised and no job
is sent.

**On chain** (disputes): :meth:`Requester.post_onchain` posts a
:class:`~.jobspec.JobSpec` as a task; :meth:`Requester.onchain_results`,
:meth:`Requester.accept`; :meth:`Requester.challenge` opens a dispute against a result
and :meth:`Requester.wait_dispute` waits for the verdict, then updates the scores: a
worker at fault is penalised and never asked again by this requester.

Teardown (``async with`` exit, :meth:`Requester.aclose`), in dependency order: payment
channel transports, sessions, DHT, ZK helper, sandbox, channel store, chain (if owned).
Channels stay open for the next run unless :meth:`Requester.close_channels` closed them.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import secrets
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, overload

from substrateinterface import Keypair

from ccnet.channels import ChannelParty, Phase, SqliteChannelStore
from ccnet.client import Chain, Receipt
from ccnet.client.clock import now_ms
from ccnet.client.exceptions import BadSignatureError, CcnetError, MalformedMessageError
from ccnet.client.jobs.billing import price
from ccnet.client.jobs.catalogue import KNOWN_PRIME_COUNTS, load_job, module_hash
from ccnet.client.jobs.exceptions import ResultError, UnknownCircuitError
from ccnet.client.jobs.heartbeat import Heartbeat, HeartbeatVerifier
from ccnet.client.jobs.jobspec import JobSpec
from ccnet.client.jobs.messages import JobFailed, JobRequest
from ccnet.client.jobs.proofs import ProofContext, check_circuit, expected_signals
from ccnet.client.jobs.results import SignedResult, input_hash, output_hash
from ccnet.client.net.dht import CapabilityDirectory, DhtNode
from ccnet.client.net.exceptions import NetError, TransportClosedError
from ccnet.client.net.webrtc import PeerConfig
from ccnet.zk import ProofInvalid

from .discovery import Candidate, WorkerOffer, discover, rank_offers
from .onchain_requests import OnchainRequests
from .outcomes import (
    Disputed,
    DisputeOutcome,
    Rejected,
    RequesterStats,
    SpotCheckReport,
    TaskOutcome,
    Verification,
    Verified,
    WorkerReport,
    WorkerStats,
)
from .quality import QualityTracker, Tier
from .requester_exceptions import (
    ChannelFundsError,
    NoWorkersError,
    PlanError,
    RequesterClosed,
)
from .sessions import SessionPool, WorkerSession
from .verdicts import Decision, Plan, Reply, ReplyKind, decide, payments, plan_verification
from .verification import SpotCheckTable, should_spot_check

if TYPE_CHECKING:
    from ccnet.channels import Channel
    from ccnet.client.pallets.tasks import Assignment
    from ccnet.zk import Verifier, ZkNode, ZkPaths

    from .sandbox import Sandbox
    from .verdicts import HashMajority

__all__ = ["DEFAULT_FUEL_LIMIT", "Job", "KnownJob", "Requester"]

logger = logging.getLogger(__name__)

DEFAULT_FUEL_LIMIT = 10_000_000_000
"""Fuel limit of a job when none is given: the sandbox's default cap, fuel."""
FAULT_PENALTY = 10
"""Failures recorded against a worker found at fault by a dispute (on top of the
exclusion): its reliability score drops accordingly."""
_SPOT_PRIME_MAX = 1_000_000
"""Largest N of the built-in prime_count spot checks (cheap enough to mix in)."""


@dataclass(frozen=True)
class Job:
    """One job of :meth:`Requester.submit_batch`: the arguments of :meth:`Requester.submit`."""

    module: bytes | str
    input: bytes = b""
    args: tuple[str, ...] = ()
    options: Mapping[str, Any] = field(default_factory=dict)
    """Keyword arguments of :meth:`Requester.submit` (``verify``, ``redundancy``...)."""


@dataclass(frozen=True)
class KnownJob:
    """A job whose answer the requester knows: a spot check it can mix in."""

    module_hash: bytes
    args: tuple[str, ...]
    stdin: bytes
    output_hash: bytes


@dataclass
class _Attempt:
    """One worker's part of a job while it runs."""

    offer: WorkerOffer
    session: WorkerSession | None = None
    channel_id: bytes | None = None
    reserved: int = 0
    reply: Reply | None = None
    elapsed_ms: float | None = None


class Requester:
    """A requester: DHT client, payment channels, worker sessions, quality scores.

    *chain*: a :class:`~ccnet.client.Chain` (not closed here) or its ws:// URL (owned).
    *keypair*: the requester's sr25519 account key (pays, signs offers and states).
    *dht_bootstrap*: (host, UDP port) of DHT nodes to join. *state_dir*: where the
    channel store lives (``channels.sqlite``). *deposit_per_channel*: planck locked per
    worker channel. *max_price*: highest rate accepted, planck per fuel (None: any).
    *min_speed*: fuel/s a worker must guarantee. *job_timeout*: seconds to wait for a
    reply. *max_concurrency*: jobs of :meth:`submit_batch` in flight. *default_proof*:
    circuit required in ``"auto"`` mode when the tier requires proofs.
    *spot_checks*: extra known answers; the built-in ``prime_count`` ones are added
    when that module is built. *local_answers*: compute missing known answers for
    ``verify="spot"`` in a local sandbox. *rollover*: replace a spent channel (close it,
    open a new one) instead of raising :class:`~.requester_exceptions.ChannelFundsError`.
    *rng*: randomness of the mixed-in spot checks
    (``secrets`` when None). *zk_paths*/*zk_node*/*zk_verifier*: the ZK setup (made on
    first use). *peer_config*, *dht_host*, *dht_port*: network settings (127.0.0.1).
    """

    def __init__(
        self,
        chain: Chain | str,
        keypair: Keypair,
        *,
        dht_bootstrap: Sequence[tuple[str, int]],
        state_dir: str | Path,
        deposit_per_channel: int,
        max_price: int | None = None,
        min_speed: int = 0,
        task_type: str = "wasm",
        job_timeout: float = 120.0,
        max_concurrency: int = 8,
        default_fuel_limit: int = DEFAULT_FUEL_LIMIT,
        default_proof: str | None = None,
        spot_checks: Iterable[KnownJob] = (),
        local_answers: bool = False,
        rollover: bool = True,
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
        self.state_dir = Path(state_dir).expanduser()
        self.deposit_per_channel = deposit_per_channel
        self.max_price = max_price
        self.min_speed = min_speed
        self.task_type = task_type
        self.job_timeout = job_timeout
        self.default_fuel_limit = default_fuel_limit
        self.default_proof = default_proof
        self.local_answers = local_answers
        self.rollover = rollover
        self.discovery_ttl = discovery_ttl
        self.peer_config = peer_config if peer_config is not None else PeerConfig()
        self._dht_host, self._dht_port = dht_host, dht_port
        self._rng = rng
        self.tracker = tracker if tracker is not None else QualityTracker()
        """Scores of the workers seen (Proof-of-Quality)."""
        self._heartbeats = HeartbeatVerifier()
        self._semaphore = asyncio.Semaphore(max_concurrency)
        self._known: list[KnownJob] = list(spot_checks)
        self._answers = SpotCheckTable(
            (k.module_hash, input_hash(k.args, k.stdin), k.output_hash) for k in self._known
        )
        self._modules: dict[bytes, bytes] = {}
        self._zk_paths, self._zk_node, self._zk_verifier = zk_paths, zk_node, zk_verifier
        self._owns_zk = zk_node is None
        self._vkeys: dict[str, dict[str, Any]] = {}
        self._sandbox: Sandbox | None = None
        # set by start()
        self._chain: Chain | None = None
        self._owns_chain = False
        self._store: SqliteChannelStore | None = None
        self._party: ChannelParty | None = None
        self._dht: DhtNode | None = None
        self._directory: CapabilityDirectory | None = None
        self._pool: SessionPool | None = None
        self._onchain: OnchainRequests | None = None
        self._started = False
        self._closed = False
        # channels and money
        self._channel_locks: dict[str, asyncio.Lock] = {}
        self._attached: dict[bytes, WorkerSession] = {}
        self._reserved: dict[bytes, int] = {}
        self._endpoints: dict[str, str] = {}
        # discovery cache: (task_type, min_speed, max_price) -> (monotonic time, candidates)
        self._found: dict[tuple[str, int, int | None], tuple[float, list[Candidate]]] = {}
        self._find_lock = asyncio.Lock()
        # bookkeeping
        self._excluded: set[str] = set()
        self._workers: dict[str, WorkerStats] = {}
        self._tiers: dict[str, Tier] = {}
        self._disputes: list[DisputeOutcome] = []
        self._counts = {"run": 0, "verified": 0, "rejected": 0, "spot": 0, "spot_failed": 0}
        self._updates = 0
        self._rollovers = 0

    # -- lifecycle ------------------------------------------------------------------

    async def start(self) -> None:
        """Connect the chain (when given a URL), open the channel store, join the DHT.
        Raises :class:`~ccnet.client.ChainConnectionError`,
        :class:`~ccnet.client.net.exceptions.DhtError`, :class:`~ccnet.channels.PersistError`."""
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
            self._store = SqliteChannelStore(self.state_dir / "channels.sqlite")
            self._party = ChannelParty(
                self.keypair, self._store, chain=self._chain, genesis_hash=genesis
            )
            self._onchain = OnchainRequests(self._chain, self.keypair)
            self._dht = DhtNode()
            await self._dht.start(
                host=self._dht_host, port=self._dht_port, bootstrap=self.dht_bootstrap
            )
            self._directory = CapabilityDirectory(self._dht)
            self._pool = SessionPool(
                self.keypair,
                config=self.peer_config,
                on_heartbeat=self._on_heartbeat,
                on_open=self._attach_channel,
            )
            self._add_builtin_spot_checks()
        except BaseException:
            await self.aclose()
            raise

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
        if self._owns_zk:
            if self._zk_verifier is not None and hasattr(self._zk_verifier, "close"):
                self._zk_verifier.close()
            if self._zk_node is not None:
                self._zk_node.close()
        if self._sandbox is not None:
            self._sandbox.close()
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

    def _require_open(self) -> None:
        if not self._started or self._closed or self._pool is None:
            raise RequesterClosed("the requester is not running: use `async with Requester(...)`")

    def _require_chain(self) -> Chain:
        if self._chain is None:
            raise RequesterClosed("the requester is not connected to a chain")
        return self._chain

    @property
    def chain(self) -> Chain:
        """The chain connection."""
        return self._require_chain()

    @property
    def party(self) -> ChannelParty:
        """The payment-channel party (its ``receipts`` are the channel extrinsics)."""
        if self._party is None:
            raise RequesterClosed("the requester is not started")
        return self._party

    @property
    def dht(self) -> DhtNode:
        """The requester's DHT node."""
        if self._dht is None:
            raise RequesterClosed("the requester is not started")
        return self._dht

    @property
    def onchain(self) -> OnchainRequests:
        """The on-chain task and dispute calls (their ``receipts``)."""
        if self._onchain is None:
            raise RequesterClosed("the requester is not started")
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
            self._tiers[offer.address] = offer.tier
        return offers

    # -- known answers ----------------------------------------------------------------

    def _add_builtin_spot_checks(self) -> None:
        try:
            wasm = load_job("prime_count")
        except CcnetError:
            return
        digest = module_hash(wasm)
        self._modules[digest] = wasm
        for n, count in KNOWN_PRIME_COUNTS.items():
            if n <= _SPOT_PRIME_MAX:
                self.add_known_answer(digest, (str(n),), b"", f"{count}\n".encode())

    def add_known_answer(
        self, module: bytes, args: Sequence[str], stdin: bytes, output: bytes
    ) -> KnownJob:
        """Remember the answer of a job: *module* is the Wasm binary (or its 32-byte
        hash, when the binary is already known here). Used to check results of that job
        and as a spot check to mix in."""
        digest = module if len(module) == 32 else module_hash(module)
        if len(module) != 32:
            self._modules[digest] = module
        known = KnownJob(digest, tuple(args), stdin, output_hash(output))
        self._answers.add(digest, input_hash(args, stdin), known.output_hash)
        self._known.append(known)
        return known

    async def _known_answer(
        self, wasm: bytes, digest: bytes, args: Sequence[str], stdin: bytes, fuel: int, plan: Plan
    ) -> bytes | None:
        if not plan.use_known_answer:
            return None
        known = self._answers.expected(digest, input_hash(args, stdin))
        if known is not None or not plan.needs_known_answer:
            return known
        if not self.local_answers:
            raise PlanError(
                'verify="spot": no known answer for this job (add_known_answer(), or '
                "local_answers=True to compute it here)"
            )
        from .config import SandboxConfig
        from .sandbox import RunLimits, Sandbox

        if self._sandbox is None:
            self._sandbox = Sandbox(SandboxConfig.from_env())
        box = self._sandbox
        outcome = await asyncio.to_thread(
            box.run, wasm, args=list(args), stdin=stdin, limits=RunLimits(fuel=fuel)
        )
        self._answers.add(digest, input_hash(args, stdin), outcome.output_hash)
        return outcome.output_hash

    # -- channels ---------------------------------------------------------------------

    def _channel_for(self, worker: str) -> Channel | None:
        """Our live, usable channel to *worker* (we opened it), if any."""
        key = _public_key(worker)
        for channel in self.party.channels:
            info = channel.info
            if (
                info.party_a == self.party.public_key
                and info.party_b == key
                and channel.phase is Phase.FUNDED
                and channel.closing is None
                and channel.failed is None
            ):
                return channel
        return None

    async def _attach_channel(self, session: WorkerSession) -> None:
        """A new session: serve our channel with that worker over its ``"channels"``."""
        channel = self._channel_for(session.worker)
        if channel is not None:
            await self.party.attach(channel.channel_id, session.channels_transport)
            self._attached[channel.channel_id] = session

    async def _ensure_channel(
        self, offer: WorkerOffer, session: WorkerSession, worst: int
    ) -> tuple[bytes, WorkerSession]:
        """The channel paying *offer*'s jobs, with *worst* planck reserved on it, and the
        session it is attached to (*session*, or a new one after a roll-over).

        Opens a channel (one extrinsic) if there is none. When the channel cannot cover
        *worst* and none of our jobs holds a reservation on it, it is rolled over (with
        ``rollover``): closed cooperatively (one extrinsic), its session dropped (the
        session's ``"channels"`` data channel closes with it), and a new channel opened
        on a new session. Raises :class:`ChannelFundsError` otherwise."""
        assert self._pool is not None
        lock = self._channel_locks.setdefault(offer.address, asyncio.Lock())
        async with lock:
            if not session.is_open:
                session = await self._pool.get(offer.address, offer.endpoint)
            channel = self._channel_for(offer.address)
            if channel is not None:
                reserved = self._reserved.get(channel.channel_id, 0)
                if channel.balance - reserved < worst and reserved == 0 and self.rollover:
                    session = await self._rollover(offer, channel, session)
                    channel = None
            if channel is None:
                deposit = max(self.deposit_per_channel, worst)
                channel = await self.party.open(offer.address, deposit)
                logger.info("opened channel 0x%s to %s", channel.channel_id.hex(), offer.address)
            channel_id = channel.channel_id
            if self._attached.get(channel_id) is not session:
                await self.party.attach(channel_id, session.channels_transport)
                self._attached[channel_id] = session
            available = channel.balance - self._reserved.get(channel_id, 0)
            if available < worst:
                raise ChannelFundsError(offer.address, worst, available)
            self._reserved[channel_id] = self._reserved.get(channel_id, 0) + worst
            return channel_id, session

    async def _rollover(
        self, offer: WorkerOffer, channel: Channel, session: WorkerSession
    ) -> WorkerSession:
        """Close *channel* cooperatively and return a new session without a channel."""
        assert self._pool is not None
        channel_id = channel.channel_id
        if self._attached.get(channel_id) is not session:
            await self.party.attach(channel_id, session.channels_transport)
        logger.info("channel 0x%s to %s is spent: closing it", channel_id.hex(), offer.address)
        await self.party.close_cooperatively(channel_id)
        self._attached.pop(channel_id, None)
        self._reserved.pop(channel_id, None)
        self._rollovers += 1
        await self._pool.drop(offer.address)
        return await self._pool.get(offer.address, offer.endpoint)

    def _release(self, attempt: _Attempt) -> None:
        if attempt.channel_id is not None and attempt.reserved:
            left = self._reserved.get(attempt.channel_id, 0) - attempt.reserved
            self._reserved[attempt.channel_id] = max(0, left)
            attempt.reserved = 0

    async def _pay(self, worker: str, channel_id: bytes, amount: int, memo: str) -> str:
        """One co-signed update moving *amount* planck to *worker*; returns "" or why it
        failed (the amount stays owed)."""
        if amount <= 0:
            return ""
        started = time.monotonic()
        try:
            await self.party.pay(channel_id, amount, memo)
        except CcnetError as err:
            logger.warning("paying %s %d planck failed: %s", worker, amount, err)
            return f"{type(err).__name__}: {err}"
        self._updates += 1
        rtt = (time.monotonic() - started) * 1000
        self.tracker.observe_latency(worker, rtt, now_ms())
        stats = self._stats_of(worker)
        stats.cost += amount
        return ""

    async def close_channels(self) -> list[Receipt]:
        """Close every channel we opened, cooperatively (one round trip with the worker,
        then one ``cooperative_close`` extrinsic each). Returns the receipts. A channel
        whose worker cannot be reached stays open (logged; close it later or
        unilaterally with the ``ccnet channel`` commands)."""
        self._require_open()
        assert self._pool is not None
        receipts = []
        for channel in list(self.party.channels):
            if channel.info.party_a != self.party.public_key or channel.phase is not Phase.FUNDED:
                continue
            worker = _address(channel.info.party_b)
            try:
                if (
                    self._attached.get(channel.channel_id) is None
                    or not self._attached[channel.channel_id].is_open
                ):
                    endpoint = self._endpoints.get(worker)
                    if endpoint is None:
                        raise NetError(f"no known endpoint of {worker}")
                    await self._pool.get(worker, endpoint)
                receipts.append(await self.party.close_cooperatively(channel.channel_id))
            except CcnetError as err:
                logger.warning(
                    "channel 0x%s to %s not closed: %s", channel.channel_id.hex(), worker, err
                )
                continue
            self._attached.pop(channel.channel_id, None)
            self._reserved.pop(channel.channel_id, None)
            await self._pool.drop(worker)  # its "channels" transport is closed now
        return receipts

    # -- jobs -------------------------------------------------------------------------

    def _module(self, module: bytes | str) -> tuple[bytes, bytes]:
        wasm = load_job(module) if isinstance(module, str) else module
        digest = module_hash(wasm)
        self._modules[digest] = wasm
        return wasm, digest

    def _spot_draw(self, permille: int) -> bool:
        return should_spot_check(permille, self._rng)

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
        (:data:`~.jobproofs.JOB_CIRCUITS`); *fuel_limit*: fuel (default
        ``default_fuel_limit``); *task_id*: the id bound into the signed results (u64;
        give the on-chain task id to be able to dispute them; default random);
        *seed*: ``random_get`` seed; *timeout*: seconds per reply; *workers*: offers to
        use instead of :meth:`find_workers`.

        Raises :class:`~.requester_exceptions.NoWorkersError`,
        :class:`~.requester_exceptions.PlanError`,
        :class:`~.requester_exceptions.ChannelFundsError` (nothing sent), and chain
        errors of opening a channel. Wrong results are not errors: see the outcome.
        """
        self._require_open()
        wasm, digest = self._module(module)
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
            spot_draw=verify == "auto" and self._spot_draw(policy.spot_check_permille),
        )
        if plan.proof is not None:
            try:
                check_circuit(plan.proof)
            except UnknownCircuitError as err:
                raise PlanError(str(err)) from None
        if len(offers) < plan.redundancy:
            raise NoWorkersError(self.task_type, plan.redundancy, len(offers))
        known = await self._known_answer(wasm, digest, args, input, fuel, plan)
        chosen = offers[: plan.redundancy]
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
        attempts = [_Attempt(o) for o in chosen]
        spot: asyncio.Task[SpotCheckReport | None] | None = None
        spot_report: SpotCheckReport | None = None
        try:
            await self._prepare(attempts, fuel)
            if plan.mix_spot_check:
                spot = asyncio.create_task(self._mixed_spot_check(attempts, fuel, timeout))
            await asyncio.gather(
                *(self._run(a, base, wasm, plan, timeout) for a in attempts if a.reply is None)
            )
            spot_report = await spot if spot is not None else None
        finally:
            if spot is not None and not spot.done():
                spot.cancel()
            for attempt in attempts:
                self._release(attempt)
        replies = [a.reply for a in attempts if a.reply is not None]
        if spot_report is not None and not spot_report.passed:
            replies = [
                replace(r, kind=ReplyKind.INVALID, reason="failed a spot check")
                if r.worker == spot_report.worker and r.valid
                else r
                for r in replies
            ]
        decision = decide(replies, asked=len(attempts), known_output_hash=known)
        return await self._settle(
            job_id, digest, base, attempts, replies, decision, plan, spot_report
        )

    async def _prepare(self, attempts: Sequence[_Attempt], fuel: int) -> None:
        """Sessions (failures make the attempt ``unreachable``), then channels with the
        worst case reserved (failures raise: they are ours)."""
        assert self._pool is not None
        pool = self._pool

        async def connect(attempt: _Attempt) -> None:
            try:
                attempt.session = await pool.get(attempt.offer.address, attempt.offer.endpoint)
            except (NetError, CcnetError) as err:
                attempt.reply = Reply(attempt.offer.address, ReplyKind.UNREACHABLE, reason=str(err))

        await asyncio.gather(*(connect(a) for a in attempts))
        for attempt in attempts:
            if attempt.session is None:
                continue
            worst = price(fuel, attempt.offer.price_planck_per_fuel)
            attempt.channel_id, attempt.session = await self._ensure_channel(
                attempt.offer, attempt.session, worst
            )
            attempt.reserved = worst

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
        self._stats_of(offer.address).jobs += 1
        try:
            exchange = await attempt.session.run_job(request, wasm, timeout or self.job_timeout)
        except TimeoutError:
            attempt.reply = Reply(
                offer.address,
                ReplyKind.UNREACHABLE,
                reason=f"no reply within {timeout or self.job_timeout:g} s",
            )
            return
        except (TransportClosedError, NetError) as err:
            attempt.reply = Reply(offer.address, ReplyKind.UNREACHABLE, reason=str(err))
            return
        attempt.elapsed_ms = exchange.elapsed_ms
        if exchange.module_rtt_ms is not None:
            self.tracker.observe_latency(offer.address, exchange.module_rtt_ms, now_ms())
        reply = exchange.reply
        if isinstance(reply, JobFailed):
            attempt.reply = Reply(
                offer.address,
                ReplyKind.FAILED,
                reason=reply.message,
                code=reply.code,
                fuel_used=reply.fuel_used,
            )
            return
        attempt.reply = await self._check_result(
            offer.address, request, reply.output, reply.result, reply.proof, plan.proof
        )

    async def _check_result(
        self,
        worker: str,
        request: JobRequest,
        output: bytes,
        raw: Mapping[str, Any],
        proof: Mapping[str, Any] | None,
        circuit: str | None,
    ) -> Reply:
        """Check one result alone: signature, binding, output hash, proof."""
        try:
            result = SignedResult.from_json(dict(raw)).verify()
        except (MalformedMessageError, BadSignatureError) as err:
            return Reply(worker, ReplyKind.INVALID, reason=str(err))
        expected = {
            "worker": (result.worker, worker),
            "task id": (result.task_id, request.task_id),
            "module": (result.module_hash, request.module_hash),
            "input": (result.input_hash, input_hash(request.args, request.input)),
        }
        for what, (got, want) in expected.items():
            if got != want:
                return Reply(
                    worker,
                    ReplyKind.INVALID,
                    result=result,
                    reason=f"the result is for another {what}",
                )
        try:
            result.check_output(output)
        except ResultError as err:
            return Reply(worker, ReplyKind.INVALID, result=result, reason=str(err))
        if circuit is not None:
            why = await self._check_proof(circuit, request, result, output, proof)
            if why:
                return Reply(worker, ReplyKind.INVALID, result=result, reason=why)
        return Reply(
            worker, ReplyKind.RETURNED, result=result, output=output, fuel_used=result.fuel_used
        )

    # -- proofs ---------------------------------------------------------------------

    def _zk(self) -> tuple[ZkNode, Verifier, ZkPaths]:
        from ccnet.zk import FastVerifier, ZkNode, ZkPaths

        if self._zk_paths is None:
            self._zk_paths = ZkPaths.default() if self._zk_node is None else self._zk_node.paths
        if self._zk_node is None:
            self._zk_node = ZkNode(self._zk_paths)
        if self._zk_verifier is None:
            self._zk_verifier = FastVerifier(node=self._zk_node)
        return self._zk_node, self._zk_verifier, self._zk_paths

    async def _check_proof(
        self,
        circuit: str,
        request: JobRequest,
        result: SignedResult,
        output: bytes,
        bundle: Mapping[str, Any] | None,
    ) -> str:
        """ "" if *bundle* proves the statement of *circuit* about this result, else why
        not (the result is then rejected and not paid)."""
        from ccnet.zk import check_proof

        if bundle is None:
            return f"no {circuit} proof"
        node, verifier, paths = self._zk()
        ctx = ProofContext(
            task_id=result.task_id,
            output=output,
            fuel_used=result.fuel_used,
            rate_planck_per_fuel=request.rate_planck_per_fuel,
            fuel_limit=request.fuel_limit or self.default_fuel_limit,
        )
        try:
            signals = await asyncio.to_thread(expected_signals, circuit, ctx, node.poseidon)
        except ValueError as err:
            return f"the result cannot have a valid {circuit} proof: {err}"
        if circuit not in self._vkeys:
            self._vkeys[circuit] = await asyncio.to_thread(lambda: paths.artifacts(circuit).vkey())
        try:
            await asyncio.to_thread(
                check_proof, verifier, self._vkeys[circuit], bundle, signals, circuit=circuit
            )
        except ProofInvalid as err:
            return f"proof rejected: {err}"
        return ""

    # -- spot checks ----------------------------------------------------------------

    async def _mixed_spot_check(
        self, attempts: Sequence[_Attempt], fuel: int, timeout: float | None
    ) -> SpotCheckReport | None:
        """Send one worker of this job (drawn at random) a job with a known answer; a
        wrong answer marks the worker as caught."""
        ready = [a for a in attempts if a.session is not None and a.channel_id is not None]
        usable = [k for k in self._known if k.module_hash in self._modules]
        if not ready or not usable:
            return None
        rng = self._rng or random.SystemRandom()
        attempt = rng.choice(ready)
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
        available = self.party.channel(attempt.channel_id).balance - self._reserved.get(
            attempt.channel_id, 0
        )
        if available < worst:
            return None
        self._reserved[attempt.channel_id] = self._reserved.get(attempt.channel_id, 0) + worst
        probe.reserved = worst
        try:
            await self._run(probe, request, self._modules[known.module_hash], _NO_PROOF, timeout)
        finally:
            self._release(probe)
        reply = probe.reply
        self._counts["spot"] += 1
        worker = attempt.offer.address
        if reply is None or not reply.valid or reply.result is None:
            why = reply.reason if reply is not None else "no reply"
            self._counts["spot_failed"] += 1
            self.tracker.observe_job(worker, False, now_ms())
            return SpotCheckReport(worker, check_id, False, reason=why)
        if reply.result.output_hash != known.output_hash:
            self._counts["spot_failed"] += 1
            self.tracker.observe_job(worker, False, now_ms())
            self._stats_of(worker).rejected += 1
            return SpotCheckReport(worker, check_id, False, reason="wrong answer to a known job")
        amount = price(reply.result.fuel_used, attempt.offer.price_planck_per_fuel)
        error = await self._pay(worker, attempt.channel_id, amount, f"spot check {check_id}")
        self.tracker.observe_job(worker, True, now_ms())
        stats = self._stats_of(worker)
        stats.agreed += 1
        stats.fuel += reply.result.fuel_used if not error else 0
        return SpotCheckReport(worker, check_id, True, paid=0 if error else amount, reason=error)

    # -- settlement -------------------------------------------------------------------

    async def _settle(
        self,
        job_id: int,
        digest: bytes,
        base: JobRequest,
        attempts: Sequence[_Attempt],
        replies: Sequence[Reply],
        decision: Decision,
        plan: Plan,
        spot_report: SpotCheckReport | None,
    ) -> TaskOutcome:
        """Pay the agreeing results (one update each), update scores and stats."""
        rates = {a.offer.address: a.offer.price_planck_per_fuel for a in attempts}
        owed = payments(decision, rates)
        by_worker = {r.worker: r for r in replies}
        paid: dict[str, int] = {}
        errors: dict[str, str] = {}
        channel_of = {a.offer.address: a.channel_id for a in attempts}

        async def pay(worker: str, amount: int) -> None:
            channel_id = channel_of.get(worker)
            if channel_id is None:
                errors[worker] = "no channel"
                return
            error = await self._pay(worker, channel_id, amount, f"task {job_id}")
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
            stats = self._stats_of(worker)
            if worker in decision.agreeing:
                status = "agreed"
            elif worker in decision.dissenting:
                status = "dissented"
            else:
                status = reply.kind.value if reply is not None else "unreachable"
                status = "invalid" if status == ReplyKind.INVALID.value else status
            succeeded = status == "agreed"
            not_their_fault = (
                reply is not None and reply.kind is ReplyKind.FAILED and reply.code == "busy"
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
            )
        verification: Verification
        self._counts["run"] += 1
        if decision.verified:
            self._counts["verified"] += 1
            verification = Verified(
                decision.method, decision.agreeing, decision.dissenting, plan.proof
            )
        else:
            self._counts["rejected"] += 1
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
            module_hash=digest,
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

    # -- heartbeats -------------------------------------------------------------------

    def _on_heartbeat(self, beat: Heartbeat) -> None:
        try:
            self._heartbeats.accept(beat)
        except CcnetError as err:
            logger.info("heartbeat of %s refused: %s", beat.worker, err)
            return
        speed = beat.metrics.speed_milli / 1000 if beat.metrics.speed_milli else None
        self.tracker.observe_heartbeat(beat.worker, beat.timestamp_ms, speed_multiplier=speed)

    # -- on chain ---------------------------------------------------------------------

    async def post_onchain(
        self,
        spec: JobSpec,
        *,
        bounty: int,
        redundancy: int = 1,
        deadline_blocks: int = 100,
    ) -> int:
        """Post *spec* as an on-chain ``wasm`` task (bounty in planck); returns its id."""
        self._require_open()
        return await self.onchain.post(
            spec, bounty=bounty, redundancy=redundancy, deadline_blocks=deadline_blocks
        )

    async def onchain_results(self, task_id: int) -> list[Assignment]:
        """The claims of on-chain task *task_id* and their submitted results."""
        self._require_open()
        return await self.onchain.results(task_id)

    async def wait_onchain_results(
        self, task_id: int, count: int, *, timeout: float = 120.0
    ) -> list[Assignment]:
        """Wait for *count* submitted results of *task_id*."""
        self._require_open()
        return await self.onchain.wait_results(task_id, count, timeout=timeout)

    async def decide_onchain(self, task_id: int) -> HashMajority:
        """The majority over the results submitted for *task_id*."""
        self._require_open()
        return await self.onchain.decide(task_id)

    async def accept(self, task_id: int, worker: str) -> Receipt:
        """Accept *worker*'s on-chain result (pays the bounty to it and its agreers)."""
        self._require_open()
        return await self.onchain.accept(task_id, worker)

    async def challenge(self, task_id: int, worker: str) -> int:
        """Stake and open a dispute against *worker*'s on-chain result; returns the
        dispute id. The worker is not asked again until the verdict clears it."""
        self._require_open()
        dispute_id = await self.onchain.challenge(task_id, worker)
        self._excluded.add(worker)
        return dispute_id

    async def challenge_dissenters(self, outcome: TaskOutcome) -> Disputed:
        """Challenge on chain every dissenter of *outcome* (a job run with the on-chain
        task id as ``task_id``, whose workers also submitted their results there)."""
        disputes = {w: await self.challenge(outcome.task_id, w) for w in outcome.dissenters}
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
        self._disputes.append(outcome)
        return outcome

    # -- stats ------------------------------------------------------------------------

    def _stats_of(self, worker: str) -> WorkerStats:
        return self._workers.setdefault(worker, WorkerStats())

    @property
    def excluded(self) -> frozenset[str]:
        """Workers this requester no longer asks (caught cheating)."""
        return frozenset(self._excluded)

    def exclude(self, worker: str) -> None:
        """Never ask *worker* again (e.g. a dissenter about to be challenged)."""
        self._excluded.add(worker)

    def stats(self) -> RequesterStats:
        """The numbers of a summary (issue 7)."""
        channel_receipts = list(self._party.receipts) if self._party is not None else []
        other = list(self._onchain.receipts) if self._onchain is not None else []
        at = now_ms()
        seen = set(self._workers) | set(self.tracker.workers())
        return RequesterStats(
            tasks_run=self._counts["run"],
            tasks_verified=self._counts["verified"],
            tasks_rejected=self._counts["rejected"],
            spot_checks=self._counts["spot"],
            spot_checks_failed=self._counts["spot_failed"],
            offchain_updates=self._updates,
            channel_extrinsics=len(channel_receipts),
            other_extrinsics=len(other),
            fees_planck=sum(r.fee for r in channel_receipts + other),
            workers={w: replace(s) for w, s in sorted(self._workers.items())},
            scores={w: self.tracker.score(w, at) for w in sorted(seen)},
            tiers=dict(self._tiers),
            disputes=tuple(self._disputes),
            excluded=tuple(sorted(self._excluded)),
            channels_open=len(self._party.channels) if self._party is not None else 0,
            extra={"channel_rollovers": self._rollovers},
        )


_NO_PROOF = Plan(redundancy=1, proof=None, needs_known_answer=False, mix_spot_check=False)


def _public_key(address: str) -> bytes:
    from ccnet.client.signing import public_key_of

    return public_key_of(address)


def _address(public_key: bytes) -> str:
    from ccnet.client.signing import address_of

    return address_of(public_key)
