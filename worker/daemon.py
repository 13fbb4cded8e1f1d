"""The worker daemon (``ccnet worker run``): one process that serves compute.

It registers and announces itself, serves jobs with heartbeats and payments over WebRTC
(``docs/protocol.md``), answers on-chain tasks and votes in disputes, and stops cleanly.
:class:`WorkerDaemon` composes the worker modules; it owns, in start order:

1. the chain connection (:class:`ccnet.client.Chain`, used from threads);
2. the sandbox, the module store and the job executor (:mod:`.executor`), then the
   self-benchmark on the reference workload (:func:`~ccnet.worker.benchmark.run_benchmark`,
   a prime count) giving the speed multiplier;
3. the proof service (:mod:`.proofs`, one Node helper started on the first proof), the
   VM checkpoint service when ``checkpoint_gateway`` is set (:mod:`.checkpointing`:
   images sealed with the requester's key, stored on that Arweave gateway, paid by
   ``checkpoint_wallet``, recorded on chain with the worker's key), the
   payment desk (:mod:`.payments`, ``<state dir>/channels.db``; it refuses channels whose
   challenge period is shorter than
   :meth:`~ccnet.worker.config.WorkerConfig.min_challenge_blocks`) and, unless
   ``watch_channels`` is off, the channel watcher (:mod:`.channelwatch`: sweeps for
   closes that happened while the daemon was down, then answers stale closes with the
   newest co-signed state and settles);
4. the signaling endpoint and WebRTC listener (:class:`~ccnet.client.net.webrtc.PeerListener`
   on ``signaling_host``, ``127.0.0.1`` by default, advertising ``signaling_url`` when
   given; ICE inside ``peer.ice_networks``, loopback by default; at most
   ``max_sessions_per_key`` sessions per requester key) serving
   each requester with a :class:`~ccnet.worker.jobhandler.JobSessionHandler` (paid jobs
   only unless ``free_jobs``; at most ``max_unpaid_jobs`` unpaid jobs per requester:
   :mod:`.admission`), the DHT node (joined through the bootstrap nodes, or without
   them through the other workers registered on chain: :mod:`ccnet.client.net.bootstrap`;
   the registered endpoint names this node's UDP port as ``?dht=PORT``) and, when
   ``metrics_port`` is set, the Prometheus endpoint (:mod:`.metrics`, ``127.0.0.1``);
5. stake and registration on chain with the endpoint's URL
   (:func:`~ccnet.worker.onchain.ensure_registered`);
6. the capability announcement in the DHT (signed record, re-announced every 5
   minutes; :class:`~ccnet.client.net.dht.CapabilityDirectory`): task type ``wasm``, speed
   = the benchmark's fuel per second, price = the rate;
7. the on-chain duties (:class:`~ccnet.worker.onchain.OnChainDuties`): claim, commit,
   reveal and finalize Wasm tasks; commit and reveal votes in disputes it is drawn for;
   log the outcome of each dispute about its results or its votes (:mod:`.outcomes`).

:meth:`WorkerDaemon.stop` first asks the jobs running with VM checkpoints to suspend
(each answers ``job_suspended`` with its archived image, within ``suspend_timeout``),
then undoes the rest in reverse: no task left pending, sockets closed, other running
jobs interrupted, the prover's Node process ended. Usage::

    config = DaemonConfig(keypair=Keys.from_uri("//Bob"), url="ws://127.0.0.1:8000",
                          state_dir=Path(".state/worker-bob"))
    async with WorkerDaemon(config) as daemon:
        print(daemon.ready.to_json())       # address, signaling URL, DHT port ...
        await stop_event.wait()

State dir: ``daemon.lock`` (locked while it runs: one daemon per key, see
:mod:`.instance_lock`), ``channels.db`` (payment channels), ``modules/`` (received
modules, by hash), ``outputs/`` (outputs of on-chain tasks, ``<task id>.out``),
``court-secrets.json`` (the salts of commitments not yet revealed,
:class:`~ccnet.client.courtsecrets.CourtSecrets`), ``arweave-wallet.json`` (the default
``checkpoint_wallet``) and ``checkpoints/`` (the VM checkpoint cache and upload journal).
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

from substrateinterface import Keypair

from ccnet.channels import TowerClient
from ccnet.channels.store import channel_store_in
from ccnet.client import DEFAULT_URL, Chain
from ccnet.client.courtsecrets import CourtSecrets
from ccnet.client.jobs.heartbeat import HeartbeatSchedule
from ccnet.client.jobs.jobspec import TASK_TYPE
from ccnet.client.net.bootstrap import join, with_dht_port
from ccnet.client.net.dht import CapabilityDirectory, DhtNode
from ccnet.client.net.records import REANNOUNCE_INTERVAL_S, Capability, CapabilityRecord
from ccnet.client.net.signaling import is_unspecified_host
from ccnet.client.net.webrtc import PeerConfig, PeerListener
from ccnet.storage import ArweaveGateway, ArweaveWallet, CheckpointStore, LocalCache

from .admission import WorkLedger
from .benchmark import BenchmarkResult, run_benchmark
from .channelwatch import ChannelWatcher
from .checkpointing import IMAGE_OVERHEAD_BYTES, CheckpointService
from .config import DEFAULT_BLOCK_TIME_MS, WorkerConfig
from .executor import JobExecutor, ModuleStore
from .faults import FaultInjector
from .instance_lock import LOCK_FILE, InstanceLock, check_registered_endpoint
from .jobhandler import DEFAULT_MIN_CHECKPOINT_FUEL, JobSessionHandler
from .metrics import MetricsServer, WorkerMetrics
from .onchain import (
    DisputeVerifier,
    InputFetcher,
    OnChainDuties,
    Registration,
    TaskWatcher,
    ensure_registered,
)
from .outcomes import DisputeOutcomeLog
from .payments import PaymentDesk
from .proofs import ProofService
from .sandbox import Sandbox

__all__ = ["DaemonConfig", "ReadyInfo", "WorkerDaemon"]

log = logging.getLogger(__name__)

DHT_TASK_TYPE = TASK_TYPE.decode()
ARWEAVE_WALLET_FILE = "arweave-wallet.json"
"""The default Arweave wallet in the state dir (created when missing)."""
DEV_GATEWAY_FUNDS = 10**15
"""Winston minted into the wallet at start on a dev gateway (arlocal), when it has less."""
COURT_SECRETS_FILE = "court-secrets.json"
"""Where in the state dir the openings of the worker's commitments are kept."""
"""Task type announced in the DHT (``"wasm"``)."""


@dataclass(frozen=True, kw_only=True)
class DaemonConfig:
    """Settings of a :class:`WorkerDaemon`. Amounts in planck, times in seconds."""

    keypair: Keypair
    """The worker's on-chain sr25519 key: signs extrinsics, results, heartbeats, records."""
    state_dir: Path
    """Where the daemon keeps its files (created)."""
    url: str = DEFAULT_URL
    """The node's WebSocket URL."""
    signaling_host: str = "127.0.0.1"
    """Address the signaling endpoint binds (``0.0.0.0`` / ``::``: every interface,
    which needs *signaling_url*)."""
    signaling_port: int = 0
    """TCP port of the signaling endpoint (0: a free one)."""
    signaling_url: str | None = None
    """The URL requesters reach the endpoint at, registered on chain and announced in the
    DHT (``None``: ``http://signaling_host:port/offer``); for NAT, a proxy, or binding
    every interface."""
    dht_host: str = "127.0.0.1"
    """Address the DHT node binds (UDP; peers learn ours from the datagrams)."""
    dht_port: int = 0
    """UDP port of the DHT node (0: a free one)."""
    dht_bootstrap: tuple[tuple[str, int], ...] = ()
    """DHT nodes to join through; none: the other workers registered on chain
    (:func:`ccnet.client.net.bootstrap.join`), or alone when none answers."""
    stake: int | None = None
    """Active stake to hold, planck (``None``: ``Tasks.MinWorkerStake``)."""
    capabilities: tuple[bytes, ...] = (TASK_TYPE,)
    """Capabilities registered on chain."""
    worker: WorkerConfig = field(default_factory=WorkerConfig.from_env)
    """Rate, heartbeat and benchmark settings, and the sandbox's."""
    max_jobs: int = 2
    """Jobs that run at once (all paths together)."""
    watch_tasks: bool = True
    """Claim and answer on-chain Wasm tasks."""
    verify_disputes: bool = True
    """Vote in disputes this worker is selected to verify."""
    requesters: frozenset[str] | None = None
    """Serve on-chain tasks of these requesters only (SS58; ``None``: anyone's)."""
    fault_injection: str | None = None
    """A :mod:`.faults` mode (demos and tests; needs ``CCNET_ALLOW_FAULT_INJECTION=1``)."""
    arweave_url: str | None = None
    """Gateway for ``ar:`` inputs (default ``$CCNET_ARWEAVE_URL`` or arlocal's address)."""
    peer: PeerConfig = PeerConfig()
    """WebRTC session settings: the allowed ICE networks (loopback by default) and the
    STUN/TURN servers among them."""
    poll_interval: float = 1.0
    """Seconds between looks at the chain head."""
    reannounce_interval: float = REANNOUNCE_INTERVAL_S
    """Seconds between DHT re-announcements."""
    proofs: bool = True
    """Make Groth16 proofs when a request asks for one."""
    benchmark: bool = True
    """Run the self-benchmark at start (else the speed is unknown: 0)."""
    watch_channels: bool = True
    """Run the embedded channel watcher (:mod:`.channelwatch`). Turn it off only when an
    external ``ccnet watchtower run`` guards the channels (give its file: *tower_path*)."""
    tower_path: Path | None = None
    """An external watchtower's SQLite file: every co-signed state is handed to it
    (:class:`~ccnet.channels.TowerClient`)."""
    checkpoint_gateway: str | None = None
    """The Arweave gateway VM checkpoints are stored on (``None``: none; requests with
    ``checkpoint`` or ``resume`` are refused, ``unsupported``). A loopback URL is taken
    as a dev gateway (arlocal): the wallet is funded by minting."""
    checkpoint_wallet: Path | None = None
    """The Arweave wallet (JWK file) that pays for the uploads (``None``:
    ``arweave-wallet.json`` in the state dir, created when missing)."""
    min_checkpoint_fuel: int = DEFAULT_MIN_CHECKPOINT_FUEL
    """The shortest checkpoint interval a request may ask for, fuel."""
    suspend_timeout: float = 60.0
    """Seconds :meth:`WorkerDaemon.stop` waits for jobs with VM checkpoints to suspend
    and be answered before it interrupts what still runs."""


@dataclass(frozen=True)
class ReadyInfo:
    """What a started daemon tells its supervisor."""

    address: str
    signaling_url: str
    dht_host: str
    """The DHT node's address to bootstrap through: the bound one, or when it binds
    every interface, the host of the signaling URL."""
    dht_port: int
    speed_multiplier: float
    """Self-benchmark result (1.0 = the reference machine; 0.0 = not measured)."""
    fuel_per_second: int
    """The speed announced in the DHT, fuel/s."""
    rate_planck_per_fuel: int
    registration: Registration
    fault_injection: str | None
    free_jobs: bool = False
    """Whether it runs requests that name no payment channel."""
    max_unpaid_jobs: int = 0
    """Jobs of one requester it lets run or stay unpaid at once."""
    watch_channels: bool = False
    """Whether its embedded channel watcher runs."""
    min_challenge_blocks: int = 0
    """The shortest channel challenge period it accepts, blocks."""
    metrics_url: str | None = None
    """Its Prometheus endpoint (``None``: off)."""

    def to_json(self) -> dict[str, Any]:
        """The one-line ``ready`` record (``"event": "ready"``)."""
        return {
            "event": "ready",
            "address": self.address,
            "signaling_url": self.signaling_url,
            "dht_host": self.dht_host,
            "dht_port": self.dht_port,
            "speed_multiplier": round(self.speed_multiplier, 3),
            "fuel_per_second": self.fuel_per_second,
            "rate_planck_per_fuel": self.rate_planck_per_fuel,
            "stake": self.registration.stake,
            "registration": self.registration.action,
            "fault_injection": self.fault_injection,
            "free_jobs": self.free_jobs,
            "max_unpaid_jobs": self.max_unpaid_jobs,
            "watch_channels": self.watch_channels,
            "min_challenge_blocks": self.min_challenge_blocks,
            "metrics_url": self.metrics_url,
        }


class WorkerDaemon:
    """A running worker (see the module docs). ``async with`` starts and stops it."""

    def __init__(self, config: DaemonConfig) -> None:
        self.config = config
        self.keypair = config.keypair
        self.address = str(config.keypair.ss58_address)
        self.chain: Chain | None = None
        self.sandbox: Sandbox | None = None
        self.executor: JobExecutor | None = None
        self.benchmark: BenchmarkResult | None = None
        self.proofs: ProofService | None = None
        self.payments: PaymentDesk | None = None
        self.watcher: ChannelWatcher | None = None
        self.tower: TowerClient | None = None
        self.min_challenge_blocks = 0
        """The shortest challenge period accepted, blocks (set at start)."""
        self.checkpoints: CheckpointService | None = None
        self.checkpoint_gateway: ArweaveGateway | None = None
        self.handler: JobSessionHandler | None = None
        self.listener: PeerListener | None = None
        self.dht: DhtNode | None = None
        self.directory: CapabilityDirectory | None = None
        self.record: CapabilityRecord | None = None
        self.fetcher: InputFetcher | None = None
        self.tasks: TaskWatcher | None = None
        self.disputes: DisputeVerifier | None = None
        self.onchain: OnChainDuties | None = None
        self.faults = FaultInjector()
        self.lock = InstanceLock(config.state_dir / LOCK_FILE, address=self.address)
        """One daemon per state dir (:mod:`.instance_lock`)."""
        self.metrics = WorkerMetrics()
        """The daemon's metrics, on a registry of its own (served if ``metrics_port``)."""
        self.metrics_server: MetricsServer | None = None
        self._ready: ReadyInfo | None = None
        self._stopped = False

    @property
    def ready(self) -> ReadyInfo:
        """The ready record; ``RuntimeError`` before :meth:`start` finished."""
        if self._ready is None:
            raise RuntimeError("the daemon is not started")
        return self._ready

    async def start(self) -> ReadyInfo:
        """Start everything (see the module docs) and return the ready record.

        Raises :class:`~ccnet.worker.exceptions.ConfigError` (fault injection not
        allowed, bad settings), :class:`~ccnet.client.exceptions.ChainConnectionError`,
        the chain's dispatch errors and
        :class:`~ccnet.worker.exceptions.RegistrationError` (staking, registering),
        :class:`~ccnet.client.net.exceptions.DhtError` (DHT port taken, no bootstrap node
        answered), :class:`~ccnet.worker.exceptions.BenchmarkError`, ``OSError`` (the
        signaling or metrics port is taken), :class:`~ccnet.worker.exceptions.AlreadyRunningError`
        (a daemon with this key runs: :mod:`.instance_lock`). Whatever was started is
        stopped again on failure.
        """
        try:
            return await self._start()
        except BaseException:
            await self.stop()
            raise

    async def _start(self) -> ReadyInfo:
        cfg = self.config
        self.faults = FaultInjector.from_option(cfg.fault_injection)
        if self.faults.enabled:
            log.warning(
                "!!! FAULT INJECTION ENABLED (%s): this worker WILL return a WRONG result "
                "for one task. For demos and tests only. !!!",
                self.faults.mode,
            )
        state = cfg.state_dir
        state.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.lock.acquire()
        self.chain = await asyncio.to_thread(Chain, cfg.url)
        chain = self.chain
        await check_registered_endpoint(chain, self.address)  # before ours listens

        self.sandbox = Sandbox(cfg.worker.sandbox)
        modules = ModuleStore(state / "modules")
        self.executor = JobExecutor(
            self.sandbox,
            self.keypair,
            modules,
            max_jobs=cfg.max_jobs,
            faults=self.faults,
            metrics=self.metrics,
        )
        if cfg.benchmark:
            self.benchmark = await asyncio.to_thread(
                run_benchmark,
                self.sandbox,
                n=cfg.worker.benchmark_n,
                rounds=cfg.worker.benchmark_rounds,
            )
            self.executor.speed_milli = self.benchmark.speed_milli
            log.info(
                "benchmark: %.0f fuel/s, speed multiplier %.3f",
                self.benchmark.fuel_per_second,
                self.benchmark.speed_multiplier,
            )

        self.proofs = ProofService() if cfg.proofs else None
        if cfg.checkpoint_gateway is not None:
            self.checkpoints = await asyncio.to_thread(self._checkpoint_service, chain)
        genesis = await asyncio.to_thread(lambda: chain.genesis_hash)
        block_ms = await asyncio.to_thread(_block_time_ms, chain)
        self.min_challenge_blocks = cfg.worker.min_challenge_blocks(block_ms)
        if cfg.tower_path is not None:
            self.tower = TowerClient(cfg.tower_path)
        elif not cfg.watch_channels:
            log.warning("nothing watches this worker's payment channels: stale closes will win")
        self.payments = PaymentDesk(
            self.keypair,
            channel_store_in(state),
            chain=chain,
            genesis_hash=genesis,
            min_challenge_blocks=self.min_challenge_blocks,
            guardian=self.tower,
            metrics=self.metrics,
        )
        if self.tower is not None:  # states made before the tower was configured too
            for channel in self.payments.party.channels:
                if channel.latest.co_signed:
                    self.tower(channel.info, channel.latest)
        if cfg.watch_channels:
            self.watcher = ChannelWatcher(
                self.payments.party, chain, poll_interval=cfg.worker.channel_poll_interval
            )
            await self.watcher.start()
            log.info(
                "watching payment channels every %g s (challenge periods >= %d blocks)",
                cfg.worker.channel_poll_interval,
                self.min_challenge_blocks,
            )
        self.handler = JobSessionHandler(
            self.executor,
            self.keypair,
            rate_planck_per_fuel=cfg.worker.rate_planck_per_fuel,
            proofs=self.proofs,
            payments=self.payments,
            heartbeat_schedule=HeartbeatSchedule(
                cfg.worker.heartbeat_interval_ms, cfg.worker.heartbeat_jitter
            ),
            free_jobs=cfg.worker.free_jobs,
            ledger=WorkLedger(cfg.worker.max_unpaid_jobs),
            metrics=self.metrics,
            checkpoints=self.checkpoints,
            min_checkpoint_fuel=cfg.min_checkpoint_fuel,
        )
        self.listener = PeerListener(
            self.keypair,
            self.handler,
            host=cfg.signaling_host,
            port=cfg.signaling_port,
            config=cfg.peer,
            max_sessions_per_key=cfg.worker.max_sessions_per_key,
            public_url=cfg.signaling_url,
        )
        await self.listener.start()
        self.dht = DhtNode()  # listening before any extrinsic: a taken port fails early
        await self.dht.start(host=cfg.dht_host, port=cfg.dht_port)
        dht = self.dht
        # the registered endpoint names this DHT node, so others can join through it
        endpoint = with_dht_port(self.listener.url, dht.address[1])

        async def rejoin() -> int:
            return await join(dht, chain, cfg.dht_bootstrap, exclude=self.address, own=dht.address)

        await rejoin()
        self.metrics.track_dht_peers(lambda: dht.known_peers)
        if cfg.worker.metrics_port is not None:
            self.metrics_server = MetricsServer(
                self.metrics.registry, host=cfg.worker.metrics_host, port=cfg.worker.metrics_port
            )
            await self.metrics_server.start()

        registration = await asyncio.to_thread(
            ensure_registered,
            chain,
            self.keypair,
            capabilities=cfg.capabilities,
            endpoint=endpoint,
            stake=cfg.stake,
        )
        log.info(
            "%s on chain as %s (stake %d)", registration.action, self.address, registration.stake
        )

        self.directory = CapabilityDirectory(
            self.dht, self.keypair, reannounce_interval=cfg.reannounce_interval, rejoin=rejoin
        )
        speed = self._fuel_per_second()
        self.record = await self.directory.announce(
            Capability(DHT_TASK_TYPE, speed, cfg.worker.rate_planck_per_fuel), endpoint
        )

        self.fetcher = InputFetcher(cfg.arweave_url)
        secrets = CourtSecrets(state / COURT_SECRETS_FILE)
        if cfg.watch_tasks:
            self.tasks = TaskWatcher(
                chain,
                self.keypair,
                self.executor,
                self.fetcher,
                secrets,
                requesters=cfg.requesters,
                outputs_dir=state / "outputs",
                poll_interval=cfg.poll_interval,
            )
        if cfg.verify_disputes:
            self.disputes = DisputeVerifier(
                chain,
                self.keypair,
                self.executor,
                self.fetcher,
                secrets,
                poll_interval=cfg.poll_interval,
            )
        self.onchain = OnChainDuties(
            chain,
            tasks=self.tasks,
            disputes=self.disputes,
            outcomes=DisputeOutcomeLog(self.address),
            poll_interval=cfg.poll_interval,
        )
        await self.onchain.start()

        dht_host, dht_port = self.dht.address
        if is_unspecified_host(dht_host):  # bound everywhere: name the advertised host
            dht_host = urlsplit(endpoint).hostname or dht_host
        self._ready = ReadyInfo(
            address=self.address,
            signaling_url=endpoint,
            dht_host=dht_host,
            dht_port=dht_port,
            speed_multiplier=self.benchmark.speed_multiplier if self.benchmark else 0.0,
            fuel_per_second=speed,
            rate_planck_per_fuel=cfg.worker.rate_planck_per_fuel,
            registration=registration,
            fault_injection=self.faults.mode,
            free_jobs=cfg.worker.free_jobs,
            max_unpaid_jobs=cfg.worker.max_unpaid_jobs,
            watch_channels=self.watcher is not None,
            min_challenge_blocks=self.min_challenge_blocks,
            metrics_url=self.metrics_server.url if self.metrics_server else None,
        )
        log.info("worker %s serving at %s", self.address, endpoint)
        return self._ready

    def _checkpoint_service(self, chain: Chain) -> CheckpointService:
        """The VM checkpoint service on ``checkpoint_gateway`` (blocking)."""
        cfg = self.config
        assert cfg.checkpoint_gateway is not None
        host = urlsplit(cfg.checkpoint_gateway).hostname or ""
        dev = host in ("localhost", "::1") or host.startswith("127.")
        self.checkpoint_gateway = gateway = ArweaveGateway(cfg.checkpoint_gateway, dev=dev)
        wallet = ArweaveWallet.load_or_create(
            cfg.checkpoint_wallet or cfg.state_dir / ARWEAVE_WALLET_FILE
        )
        if dev and gateway.balance(wallet.address) < DEV_GATEWAY_FUNDS:
            gateway.mint(wallet.address, DEV_GATEWAY_FUNDS)
        store = CheckpointStore(
            chain, self.keypair, gateway, wallet, LocalCache(cfg.state_dir / "checkpoints")
        )
        box = cfg.worker.sandbox
        largest = (
            box.memory_limit_bytes
            + box.stdout_limit_bytes
            + box.stderr_limit_bytes
            + IMAGE_OVERHEAD_BYTES
        )
        log.info("VM checkpoints on %s, paid by %s", cfg.checkpoint_gateway, wallet.address)
        return CheckpointService(store, max_image_bytes=largest)

    async def _suspend_jobs(self) -> None:
        if self.handler is not None:
            await self.handler.suspend_all(self.config.suspend_timeout)

    def _fuel_per_second(self) -> int:
        if self.benchmark is None or math.isinf(self.benchmark.fuel_per_second):
            return 0
        return min(2**64 - 1, int(self.benchmark.fuel_per_second))

    async def stop(self) -> None:
        """Stop everything that was started, in reverse order. Idempotent; errors of one
        part are logged and do not keep the others running."""
        if self._stopped:
            return
        self._stopped = True
        steps: list[tuple[str, Callable[[], Awaitable[None]] | None]] = [
            ("jobs with VM checkpoints", self._suspend_jobs if self.checkpoints else None),
            ("metrics endpoint", self.metrics_server.close if self.metrics_server else None),
            ("on-chain duties", self.onchain.stop if self.onchain else None),
            ("capability announcements", self.directory.close if self.directory else None),
            ("DHT node", self.dht.close if self.dht else None),
            ("peer listener", self.listener.close if self.listener else None),
            ("channel watcher", self.watcher.stop if self.watcher else None),
            ("payment channels", self.payments.close if self.payments else None),
            ("job executor", self.executor.close if self.executor else None),
        ]
        for name, step in steps:
            if step is None:
                continue
            try:
                await step()
            except Exception:
                log.exception("stopping the %s failed", name)
        for name, closer in (
            ("prover", self.proofs.close if self.proofs else None),
            ("input fetcher", self.fetcher.close if self.fetcher else None),
            ("watchtower file", self.tower.close if self.tower else None),
            (
                "checkpoint gateway",
                self.checkpoint_gateway.close if self.checkpoint_gateway else None,
            ),
            ("sandbox", self.sandbox.close if self.sandbox else None),
            ("chain connection", self.chain.close if self.chain else None),
        ):
            if closer is None:
                continue
            try:
                await asyncio.to_thread(closer)
            except Exception:
                log.exception("closing the %s failed", name)
        self.lock.release()
        log.info("worker %s stopped", self.address)

    async def __aenter__(self) -> WorkerDaemon:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()


def _block_time_ms(chain: Chain) -> int:
    """The chain's block time, ms: twice ``Timestamp.MinimumPeriod`` (Aura's slot), or
    :data:`~ccnet.worker.config.DEFAULT_BLOCK_TIME_MS` when the chain does not say."""
    try:
        return 2 * int(chain.constant("Timestamp", "MinimumPeriod"))
    except Exception:  # an unexpected runtime: the documented default
        log.warning("cannot read the block time; assuming %d ms", DEFAULT_BLOCK_TIME_MS)
        return DEFAULT_BLOCK_TIME_MS
