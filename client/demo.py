"""The main job: ``ccnet demo`` runs the whole market on one machine, on real input.

Every step goes through the code paths users script; nothing is mocked:

1. **network**: start (or reuse) the dev chain (the runtime under Chopsticks) and the
   arlocal gateway, both on 127.0.0.1.
2. **workers**: five ``ccnet worker run`` daemons as separate processes, each with its
   own key (derived from //Alice per run, so runs never collide), funded by the
   requester; they stake, register and announce themselves in the DHT. The last runs
   with the documented fault injection ``wrong-onchain-result-once``. Two of them (the
   first and the faulty one) serve on-chain tasks; the other three only verify, since
   the court draws at least ``MinVerifiers`` (3) verifiers among staked workers other
   than the accused, the challenger, the requester and the task's claimants.
3. **jobs**: off chain, over WebRTC, with one payment-channel update per verified
   result: real photographs (scikit-image's samples) resized by majority of three
   (the ``resize_stb`` job: C on stb_image, built with clang for wasm32-wasi),
   SHA-256 of real files checked against known answers, the prime-count benchmark with
   a Groth16 proof of its bill.
4. **dispute**: the requester posts a prime count as an on-chain task with redundancy 2;
   the two task-serving workers claim it, commit and reveal their results; the faulty
   one lies (fault mode ``wrong-onchain-result-once``). The requester knows the right
   answer (the same count, verified off chain with a Groth16 proof in step 3),
   challenges the liar with a commitment to it, and reveals it when voting opens; the
   three drawn daemons re-execute, commit and reveal their votes; the cheater is slashed
   and banned, and the task is finalized: the honest result is paid. A
   :class:`~ccnet.client.BlockTicker` builds the blocks the court's phases count (the
   dev chain builds blocks only on demand).
5. **checkpoint**: the requester's job state goes to Arweave, is recorded on chain,
   restored and checked against its hash.
6. **migration**: two more workers, with VM checkpoints (``--checkpoint-gateway``, the
   demo's Arweave wallet, a heartbeat every second). A long prime count runs with
   checkpoints on the first (A); once A announced its first checkpoint, its whole
   process group is killed (SIGKILL); the requester notices (no heartbeat for
   :data:`MIGRATION_SILENCE_S` s, or the session drops) and the job resumes on the
   second (B) from A's checkpoint recorded on chain. The output equals an
   uninterrupted local run's byte for byte; B is paid its segment exactly; A is owed
   exactly the work of the image B resumed, kept as a debt while it is dead. A is then
   started again (same key, same state): its next job binds its channel and the debt
   is paid over it, so that every channel still closes and the balances stay exact.
7. **close**: every channel closes cooperatively (two extrinsics per channel in all).
8. **summary**: the numbers, and balances that reconcile to the planck: the sum of the
   changes of every account involved equals minus the fees they paid (slashes move
   stake between them; none is burnt).

Everything it starts is stopped on exit, Ctrl-C or failure (``--keep-running`` leaves
the network up).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import importlib.util
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

from . import CC, Chain, DevChain, Keys
from .config import ALLOW_FAULT_INJECTION_ENV, WRONG_ONCHAIN_RESULT_ONCE
from .devchain import find_root, free_port, group_alive
from .exceptions import CcnetError, DemoError
from .jobs.catalogue import load_job, module_hash
from .jobs.jobspec import JobSpec
from .localnet import DEFAULT_STATE_DIR as DEFAULT_LOCALNET_DIR
from .localnet import LocalNetwork

__all__ = ["DemoConfig", "DemoSummary", "Reporter", "run_demo"]

PHOTOS = (
    "astronaut.png",
    "chelsea.png",
    "coffee.png",
    "rocket.jpg",
    "motorcycle_left.png",
    "hubble_deep_field.jpg",
)
"""Real photographs shipped by scikit-image (its ``data`` folder)."""
WORKER_COUNT = 5
"""Worker daemons: two serve on-chain tasks, three verify (``MinVerifiers`` is 3)."""
ONCHAIN_WORKERS = (0, WORKER_COUNT - 1)
"""Indices of the workers that serve on-chain tasks: the first and the faulty one."""
ONCHAIN_DEADLINE_BLOCKS = 20
"""Blocks the on-chain task takes claims and commitments."""
TICK = 0.5
"""Seconds between blocks the demo's ticker builds while the court runs."""
Network = Literal["dev", "local"]
NETWORKS: tuple[Network, ...] = ("dev", "local")
SKIPPABLE_PHASES = ("checkpoint", "migration")
"""Phases a run may leave out (``DemoConfig.skip``): the others carry the market's
money and the checks that reconcile it."""
LOCAL_SLOWDOWN = 3
"""How much longer the demo waits for chain events on the local network (6 s blocks
and finality) than on the dev chain (blocks ticked every :data:`TICK` s)."""
WORKER_STAKE = 20 * CC
WORKER_FUNDING = 1_000 * CC
DEPOSIT_PER_CHANNEL = 50 * CC
ONCHAIN_BOUNTY = 3 * CC
MIGRATION_WORKERS = (WORKER_COUNT, WORKER_COUNT + 1)
"""Indices of the two workers of the migration phase (A, then B), started for it: with
VM checkpoints, and killing A leaves the other phases' workers alone."""
MIGRATION_PRIME_N = 200_000_000
"""The migration's job: ``prime_count`` up to this (about 4.4e9 fuel: 1 s of compute
here, several with its checkpoints archived; 2e7 takes 0.1 s)."""
MIGRATION_PARTS = 4
"""Checkpoints every 1/4 of the job's fuel (three images in all)."""
MIGRATION_HEARTBEAT_MS = 1_000
"""Heartbeat period of the migration's workers (the daemon's default is 15 s)."""
MIGRATION_SILENCE_S = 10.0
"""Seconds without a heartbeat after which the requester gives the worker up."""
MIGRATION_TIMEOUT_S = 120.0
"""Seconds a segment of the migration's job may take (times the network's slowdown:
each checkpoint's record waits for finality on validators)."""
CHECKPOINT_FUEL_COST = 792
"""Fuel of one VM checkpoint of ``prime_count`` (``docs/vm-checkpoints.md``, 4)."""
DEBT_JOB_N = 1_000_000
"""The small job A runs once it is back, binding its channel (its debt is paid)."""


class Reporter(Protocol):
    """Where the demo reports progress (a rich console, or nothing)."""

    def phase(self, name: str, description: str) -> contextlib.AbstractContextManager[None]: ...

    def note(self, message: str) -> None: ...


@dataclass(frozen=True)
class DemoConfig:
    """Knobs of :func:`run_demo`; the defaults are what ``ccnet demo`` runs."""

    root: Path | None = None
    """Repository checkout (chain spec, node tools); found from the working dir."""
    state_dir: Path = Path(".state/demo")
    """Per-run files: worker stores and logs, requester store, outputs."""
    chain_port: int = 8000
    gateway_port: int = 1984
    requester_uri: str = "//Alice"
    resize: tuple[int, int] = (256, 256)
    prime_n: int = 1_000_000
    keep_running: bool = False
    worker_timeout: float = 90.0
    """Seconds a worker may take to start (stake, register, benchmark, announce)."""
    fiat: bool = False
    """Start with a card purchase and end with a worker's PayPal payout through the fiat
    bridge (local Stripe emulator and PayPal double; :mod:`ccnet.bridge.demo`)."""
    network: Network = "dev"
    """``dev``: the Chopsticks dev chain (blocks on demand; the court's blocks are
    ticked every 0.5 s). ``local``: four ``ccnet-node`` validators
    (:class:`~ccnet.client.localnet.LocalNetwork`, 6 s blocks, GRANDPA finality; every
    extrinsic waits for finalization)."""
    localnet_dir: Path = DEFAULT_LOCALNET_DIR
    """State dir of the local network (``ccnet network``'s by default: a network it
    started is reused, and left running)."""
    skip: frozenset[str] = frozenset()
    """Phases left out, from :data:`SKIPPABLE_PHASES` (e.g. the migration, the longest
    phase on validators: its two workers and each checkpoint's record wait for
    finality). A skipped phase has no checks and no summary section."""

    def __post_init__(self) -> None:
        unknown = sorted(self.skip - set(SKIPPABLE_PHASES))
        if unknown:
            raise ValueError(
                f"cannot skip {', '.join(unknown)}: one of {', '.join(SKIPPABLE_PHASES)}"
            )


@dataclass
class DemoSummary:
    """What the demo did, for the tables and ``--json``; ``ok`` is every check."""

    checks: dict[str, bool] = field(default_factory=dict)
    phases: dict[str, float] = field(default_factory=dict)
    tasks: dict[str, int] = field(default_factory=dict)
    workers: list[dict[str, Any]] = field(default_factory=list)
    channels: dict[str, int] = field(default_factory=dict)
    dispute: dict[str, Any] = field(default_factory=dict)
    checkpoint: dict[str, Any] = field(default_factory=dict)
    migration: dict[str, Any] = field(default_factory=dict)
    """The migration phase: workers A and B, the fuel of each segment, what B was paid
    and what A was owed (then paid), planck."""
    balances: list[dict[str, Any]] = field(default_factory=list)
    reconciliation: dict[str, int] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)
    fiat: dict[str, Any] = field(default_factory=dict)
    network: dict[str, Any] = field(default_factory=dict)
    """Which chain: ``kind`` (dev, local), ``validators``, ``url``, ``wait`` (what every
    extrinsic waited for) and ``balances_at`` (the block the balances were read at:
    the last finalized one on a network of validators)."""

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(self.checks.values())

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "checks": self.checks,
            "phases_s": {k: round(v, 2) for k, v in self.phases.items()},
            "tasks": self.tasks,
            "workers": self.workers,
            "channels": self.channels,
            "dispute": self.dispute,
            "checkpoint": self.checkpoint,
            "migration": self.migration,
            "balances": self.balances,
            "reconciliation": self.reconciliation,
            "outputs": self.outputs,
            "fiat": self.fiat,
            "network": self.network,
        }


# --- processes --------------------------------------------------------------------------


@dataclass
class WorkerProcess:
    """One ``ccnet worker run`` child, in its own process group."""

    name: str
    uri: str
    address: str
    proc: subprocess.Popen[bytes]
    log: Path
    ready: dict[str, Any] = field(default_factory=dict)

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM the group, then SIGKILL what is left; waits for the child."""
        _stop_group(self.proc, timeout)


def _stop_group(proc: subprocess.Popen[bytes], timeout: float) -> None:
    _stop_groups([proc], timeout)


def _stop_groups(procs: list[subprocess.Popen[bytes]], timeout: float) -> None:
    """SIGTERM every group at once (so stopping five workers takes one worker's time),
    wait up to *timeout* s in all, then SIGKILL what is left."""
    for proc in procs:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for proc in procs:
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(max(0.0, deadline - time.monotonic()))
    for proc in procs:
        # Anything the worker started (the zk prover's Node) is in the same group.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(5)


def _read_ready(proc: subprocess.Popen[bytes], timeout: float) -> dict[str, Any]:
    """The worker's ``{"event": "ready"}`` line from its stdout, or DemoError."""
    result: dict[str, Any] = {}
    assert proc.stdout is not None
    stdout = proc.stdout

    def read() -> None:
        for raw in stdout:
            try:
                line = json.loads(raw)
            except json.JSONDecodeError:
                continue
            if isinstance(line, dict) and line.get("event") == "ready":
                result.update(line)
                return

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(timeout)
    if not result:
        raise DemoError(f"worker did not report ready within {timeout:.0f} s")
    return result


# --- the demo ---------------------------------------------------------------------------


class _Demo:
    def __init__(self, config: DemoConfig, reporter: Reporter) -> None:
        self.config = config
        self.reporter = reporter
        self.root = (config.root or find_root()).resolve()
        run_id = time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(2)
        self.run_id = run_id
        self.run_dir = (self.root / config.state_dir / f"run-{run_id}").resolve()
        self.summary = DemoSummary()
        self.workers: list[WorkerProcess] = []
        self.devchain = DevChain(root=self.root, port=config.chain_port)
        self.localnet = (
            LocalNetwork(root=self.root, state_dir=config.localnet_dir)
            if config.network == "local"
            else None
        )
        self.slowdown = LOCAL_SLOWDOWN if self.localnet is not None else 1
        """Factor on the demo's waits for chain events."""
        self.started_chain = False
        self.started_gateway = False
        self.gateway: Any = None
        self.chain_url = ""
        self.gateway_url = ""
        self.bootstrap: str | None = None
        self.retired = False
        self.chain: Chain | None = None
        self.requester_key = Keys.from_uri(config.requester_uri)
        self.prime_output: bytes | None = None
        self.stop_requested: int | None = None
        """The stop signal received (SIGINT, SIGTERM), if any."""

    # phases are timed; a failing check is recorded, an exception ends the demo
    @contextlib.contextmanager
    def _phase(self, name: str, description: str) -> Iterator[None]:
        self.raise_if_stopped()
        start = time.monotonic()
        with self.reporter.phase(name, description):
            yield
        self.summary.phases[name] = time.monotonic() - start

    def raise_if_stopped(self) -> None:
        """KeyboardInterrupt again if a stop signal came: the first one may have been
        caught on its way up (by cleanup code in a task being cancelled)."""
        if self.stop_requested is not None:
            raise KeyboardInterrupt(f"signal {self.stop_requested}")

    def check(self, name: str, passed: bool) -> None:
        self.summary.checks[name] = bool(passed)
        if not passed:
            self.reporter.note(f"check failed: {name}")

    # -- 1. network ------------------------------------------------------------------------

    def start_network(self) -> None:
        from ccnet.storage.devgateway import DevGateway

        if self.localnet is not None:
            running = self.localnet.status()  # any shape: `ccnet network start` made it
            self.started_chain = running is None
            network = running or self.localnet.start()
            url = network.validators[0].ws_url
            how = "started" if self.started_chain else "reused"
            self.reporter.note(
                f"local network of {len(network.validators)} validators {how}: {url} "
                "(extrinsics wait for finalization)"
            )
            self.chain = Chain(url, wait="finalization")
            self.summary.network = {"kind": "local", "validators": len(network.validators)}
        else:
            self.started_chain = self.devchain.status() is None
            url = self.devchain.start().url
            self.reporter.note(f"dev chain {'started' if self.started_chain else 'reused'}: {url}")
            self.chain = Chain(url)
            self.summary.network = {"kind": "dev", "validators": 1}
        self.gateway = DevGateway(root=self.root, port=self.config.gateway_port)
        self.started_gateway = self.gateway.status() is None
        ginfo = self.gateway.start()
        how = "started" if self.started_gateway else "reused"
        self.reporter.note(f"arlocal gateway {how}: {ginfo.url}")
        self.chain_url = url
        self.gateway_url = ginfo.url
        self.summary.network.update(url=url, wait=self.chain.wait)

    # -- 2. workers ------------------------------------------------------------------------

    def start_workers(self) -> None:
        assert self.chain is not None
        worker_dir = self.run_dir / "workers"
        worker_dir.mkdir(parents=True, exist_ok=True)
        uris = [self._worker_uri(i) for i in range(WORKER_COUNT)]
        self._fund(uris)
        # The first one starts the DHT; the others join through it, all at once.
        first = self._spawn(0, uris[0], None)
        self._wait_ready([first])
        bootstrap = f"{first.ready['dht_host']}:{first.ready['dht_port']}"
        self._wait_ready([self._spawn(i, uri, bootstrap) for i, uri in enumerate(uris) if i > 0])
        self.bootstrap = bootstrap
        for w in self.workers:
            info = self.chain.tasks.worker(w.address)
            self.check(f"{w.name} registered and staked", info is not None)

    def _worker_uri(self, index: int) -> str:
        return f"{self.config.requester_uri}//ccnet-demo/{self.run_id}/worker-{index}"

    def _fund(self, uris: list[str]) -> None:
        """WORKER_FUNDING from the requester to each of *uris*' accounts."""
        assert self.chain is not None
        chain, funder = self.chain, self.requester_key
        # At once (the nonce lock orders them): on validators each waits for finality.
        with ThreadPoolExecutor(len(uris)) as pool:
            for receipt in pool.map(
                lambda uri: chain.transfer(funder, Keys.from_uri(uri).ss58_address, WORKER_FUNDING),
                uris,
            ):
                receipt.expect("Balances", "Transfer")

    def _spawn(self, index: int, uri: str, bootstrap: str | None) -> WorkerProcess:
        """Start worker *index* (a :data:`MIGRATION_WORKERS` one with VM checkpoints);
        a worker of that index that ran before (stopped or killed) is replaced: the
        same key and state dir, started again."""
        assert self.chain is not None
        name = f"worker-{index + 1}"
        faulty = index == WORKER_COUNT - 1
        checkpoints = index in MIGRATION_WORKERS
        state = self.run_dir / "workers" / name
        state.mkdir(parents=True, exist_ok=True)
        command = [
            sys.executable, "-m", "ccnet.client", "--url", self.chain_url,
            "--wait", self.chain.wait,
            "worker", "run", "--key", uri,
            "--signaling-port", str(free_port()), "--dht-port", str(free_port()),
            "--stake", str(WORKER_STAKE // CC), "--state-dir", str(state),
        ]  # fmt: skip
        if bootstrap:
            command += ["--dht-bootstrap", bootstrap]
        if index not in ONCHAIN_WORKERS:
            command.append("--no-tasks")
        env = dict(os.environ)
        if checkpoints:
            command += [
                "--checkpoint-gateway", self.gateway_url,
                "--checkpoint-wallet", str(self.run_dir / "arweave-wallet.json"),
            ]  # fmt: skip
            env["CCNET_WORKER_HEARTBEAT_INTERVAL_MS"] = str(MIGRATION_HEARTBEAT_MS)
        if faulty:
            command += ["--fault-injection", WRONG_ONCHAIN_RESULT_ONCE]
            env[ALLOW_FAULT_INJECTION_ENV] = "1"
        log = state / "worker.log"
        again = [i for i, w in enumerate(self.workers) if w.name == name]
        with log.open("ab" if again else "wb") as err:  # a restart keeps the first log
            proc = subprocess.Popen(
                command,
                cwd=self.root,
                env=env,
                stdout=subprocess.PIPE,
                stderr=err,
                start_new_session=True,
            )
        process = WorkerProcess(name, uri, Keys.from_uri(uri).ss58_address, proc, log)
        if again:
            self.workers[again[0]] = process
        else:
            self.workers.append(process)
        return process

    def _wait_ready(self, started: list[WorkerProcess]) -> None:
        errors: dict[str, DemoError] = {}

        def wait(process: WorkerProcess) -> None:
            try:
                timeout = self.config.worker_timeout * self.slowdown
                process.ready = _read_ready(process.proc, timeout)
            except DemoError as err:
                errors[process.name] = err

        threads = [threading.Thread(target=wait, args=(p,), daemon=True) for p in started]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for process in started:
            if process.name in errors:
                tail = process.log.read_text(errors="replace")[-2000:]
                raise DemoError(
                    f"{process.name}: {errors[process.name]}\n--- {process.log} ---\n{tail}"
                )
            index = self.workers.index(process)
            faulty = index == WORKER_COUNT - 1
            role = (
                "on-chain tasks"
                if index in ONCHAIN_WORKERS
                else "VM checkpoints"
                if index in MIGRATION_WORKERS
                else "verifier"
            )
            fault = f", fault injection {WRONG_ONCHAIN_RESULT_ONCE}" if faulty else ""
            self.reporter.note(f"{process.name} {process.address[:10]}… ready ({role}{fault})")

    # -- 3..6 with the requester --------------------------------------------------------

    async def market(self) -> None:
        from .requester import Requester

        assert self.chain is not None and self.bootstrap is not None
        host, port = self.bootstrap.rsplit(":", 1)
        async with Requester(
            self.chain,
            self.requester_key,
            dht_bootstrap=[(host, int(port))],
            state_dir=self.run_dir / "requester",
            deposit_per_channel=DEPOSIT_PER_CHANNEL,
        ) as requester:
            with self._phase("discover", "finding workers in the DHT"):
                offers = await requester.find_workers("wasm")
                ours = {w.address for w in self.workers}
                found = [o for o in offers if o.address in ours]
                self.reporter.note(f"{len(found)} of our workers found, ranked by quality")
                self.check("all workers found through the DHT", len(found) == len(self.workers))
            with self._phase("jobs", "resizing photos, hashing files, counting primes"):
                await self._jobs(requester)
            with self._phase("dispute", "on-chain task, wrong result caught and disputed"):
                await self._dispute(requester)
            if "checkpoint" not in self.config.skip:
                with self._phase("checkpoint", "job state to Arweave and back"):
                    await asyncio.to_thread(self._checkpoint)
            if "migration" not in self.config.skip:
                with self._phase(
                    "migration", "a worker killed mid-job, resumed from its checkpoint"
                ):
                    await self._migration(requester)
            with self._phase("close", "closing channels cooperatively"):
                receipts = await requester.close_channels()
                self.reporter.note(f"{len(receipts)} channels closed")
            stats = requester.stats()
            self._record_stats(requester, stats, len(receipts))

    async def _dispute(self, requester: Any) -> None:
        from .blockticker import BlockTicker
        from .jobs.results import output_hash

        assert self.chain is not None
        if self.prime_output is None:
            raise DemoError("the prime count was not verified off chain: no answer to expect")
        expected = "0x" + output_hash(self.prime_output).hex()
        spec = JobSpec.inline(
            module_hash(load_job("prime_count")), b"", (str(self.config.prime_n),)
        )
        # A real network makes its own blocks; the dev chain makes them on demand.
        ticking = self.localnet is None
        with BlockTicker(self.chain_url, TICK) if ticking else contextlib.nullcontext() as ticker:
            task_id = await requester.post_onchain(
                spec,
                bounty=ONCHAIN_BOUNTY,
                redundancy=len(ONCHAIN_WORKERS),
                deadline_blocks=ONCHAIN_DEADLINE_BLOCKS,
            )
            self.reporter.note(f"task {task_id} posted with redundancy {len(ONCHAIN_WORKERS)}")
            claims = await requester.wait_onchain_results(
                task_id, len(ONCHAIN_WORKERS), timeout=240 * self.slowdown
            )
            self.reporter.note("both results committed, then revealed")
            dissenters = [a.worker for a in claims if a.revealed and a.result_hash != expected]
            faulty = self.workers[-1].address
            self.check("the wrong result is caught", dissenters == [faulty])
            self.summary.tasks["onchain_task"] = task_id
            self.summary.tasks["onchain_results_rejected"] = len(dissenters)
            for worker in dissenters:
                dispute_id = await requester.challenge(task_id, worker, expected)
                self.reporter.note(
                    f"dispute {dispute_id} opened against {worker[:10]}…, "
                    "committed to the expected result"
                )
                outcome = await requester.wait_dispute(dispute_id, timeout=300 * self.slowdown)
                self.summary.dispute = {
                    "dispute_id": dispute_id,
                    "task_id": task_id,
                    "worker": worker,
                    "verdict": outcome.verdict,
                    "slashed_planck": outcome.slashed,
                    "rewarded": list(outcome.rewarded),
                }
                self.check("the cheater is slashed", outcome.verdict == "WorkerAtFault")
            info = self.chain.tasks.worker(faulty)
            self.check("the cheater is banned", info is not None and info.banned_until is not None)
            settled = await requester.wait_settled(task_id, timeout=300 * self.slowdown)
            self.reporter.note(f"task {task_id} finalized: {settled.status}")
            self.summary.tasks["onchain_blocks_ticked"] = ticker.blocks if ticker else 0
        self.check(
            "the honest result is paid by finalize",
            settled.status == "Completed" and settled.result_hash == expected,
        )

    async def _jobs(self, requester: Any) -> None:
        from .requester import Job

        photos = _photos()
        self.check(f"{len(photos)} real photographs found (>= 5)", len(photos) >= 5)
        out = self.run_dir / "resized"
        out.mkdir(parents=True, exist_ok=True)
        width, height = self.config.resize
        resize_jobs = [
            Job(
                "resize_stb",  # C on stb (worker/jobs/resize_stb); same fit as "resize"
                p.read_bytes(),
                (str(width), str(height)),
                {"verify": "majority", "redundancy": 3},
            )
            for p in photos
        ]
        sha256_module = load_job("sha256sum")
        for photo in photos:
            requester.add_known_answer(sha256_module, (), photo.read_bytes(), _sha256_line(photo))
        hash_jobs = [Job("sha256sum", p.read_bytes(), (), {"verify": "spot"}) for p in photos]
        outcomes = await requester.submit_batch(resize_jobs + hash_jobs)
        resized = 0
        for photo, outcome in zip(photos, outcomes[: len(photos)], strict=True):
            if outcome.output is not None and outcome.verification.status == "verified":
                (out / f"{photo.stem}-{width}x{height}.png").write_bytes(outcome.output)
                resized += 1
        self.check("photos resized by a majority of 3", resized == len(photos))
        hashed = sum(
            1
            for photo, o in zip(photos, outcomes[len(photos) :], strict=True)
            if o.output is not None and o.output.decode().split()[0] == _sha256(photo)
        )
        self.check("SHA-256 of real files verified", hashed == len(photos))
        prime = await requester.submit(
            "prime_count", b"", args=(str(self.config.prime_n),), verify="proof", proof="billing"
        )
        self.check(
            "prime count verified with a Groth16 proof", prime.verification.status == "verified"
        )
        if prime.verification.status == "verified":
            self.prime_output = prime.output
        self.summary.outputs = {
            "resized_dir": str(out),
            "photos": [p.name for p in photos],
            "prime_count": prime.output.decode().strip() if prime.output else None,
        }

    def _checkpoint(self) -> None:
        from ccnet.storage import (
            ArweaveGateway,
            ArweaveWallet,
            Checkpoint,
            CheckpointStore,
            LocalCache,
        )

        assert self.chain is not None
        state = json.dumps(
            {"run": self.run_id, "tasks": self.summary.tasks, "outputs": self.summary.outputs},
            sort_keys=True,
        ).encode()
        gateway = ArweaveGateway(self.gateway_url, dev=True)
        wallet = ArweaveWallet.load_or_create(self.run_dir / "arweave-wallet.json")
        gateway.mint(wallet.address, 10**15)
        cache = LocalCache(self.run_dir / "checkpoint-cache", max_bytes=64 * 1024 * 1024)
        store = CheckpointStore(self.chain, self.requester_key, gateway, wallet, cache)
        saved = store.save(Checkpoint(state, {"Job": "ccnet-demo"}))
        restored = store.restore()
        digest = hashlib.blake2b(restored, digest_size=32).digest()
        self.summary.checkpoint = {
            "tx_id": saved.tx_id,
            "state_hash": "0x" + saved.state_hash.hex(),
            "size": saved.size,
            "restored_hash": "0x" + digest.hex(),
        }
        self.check("checkpoint restored with the same hash", restored == state)

    async def _migration(self, requester: Any) -> None:
        """A job with VM checkpoints on A, A killed (SIGKILL) after its first
        checkpoint, the job resumed on B from it (see the module docs)."""
        from ccnet.storage import ArweaveGateway, ArweaveWallet, CheckpointStore, LocalCache
        from ccnet.worker.checkpointing import LocalRerun
        from ccnet.worker.sandbox import Sandbox

        from .jobs.billing import price
        from .jobs.messages import JobResult
        from .jobs.results import output_hash
        from .requester.migration import FuelReference

        assert self.chain is not None and self.bootstrap is not None
        wasm = load_job("prime_count")
        args = (str(MIGRATION_PRIME_N),)
        uris = [self._worker_uri(i) for i in MIGRATION_WORKERS]
        timeout = MIGRATION_TIMEOUT_S * self.slowdown
        wallet = ArweaveWallet.load_or_create(self.run_dir / "arweave-wallet.json")
        gateway = ArweaveGateway(self.gateway_url, dev=True)
        store = CheckpointStore(
            self.chain,
            self.requester_key,
            gateway,
            wallet,
            LocalCache(self.run_dir / "migration-cache", max_bytes=256 * 1024 * 1024),
        )
        sandbox = Sandbox()
        try:
            # the uninterrupted local run, while the two workers start
            local = asyncio.ensure_future(asyncio.to_thread(sandbox.run, wasm, args=args))
            await asyncio.to_thread(self._fund, uris)
            bootstrap = self.bootstrap
            started = [
                self._spawn(i, uri, bootstrap)
                for i, uri in zip(MIGRATION_WORKERS, uris, strict=True)
            ]
            await asyncio.to_thread(self._wait_ready, started)
            a, b = started
            whole = await local
            offers = {o.address: o for o in await requester.find_workers("wasm", refresh=True)}
            self.check(
                "workers A and B found through the DHT", {a.address, b.address} <= set(offers)
            )
            offer_a, offer_b = offers[a.address], offers[b.address]
            job = requester.checkpointed_job(
                wasm,
                args=args,
                every_fuel=whole.fuel_used // MIGRATION_PARTS,
                fuel_limit=2 * whole.fuel_used,
            )
            running = asyncio.ensure_future(
                requester.run_checkpointed(
                    job,
                    [offer_a, offer_b],
                    timeout=timeout,
                    # a worker records each image on chain, which waits for finality on
                    # validators: its heartbeats are then further apart
                    silence=MIGRATION_SILENCE_S * self.slowdown,
                )
            )
            deadline = time.monotonic() + timeout
            while not job.checkpoints and not running.done() and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
            announced = bool(job.checkpoints) and job.checkpoints[0].worker == a.address
            self.check("A announced its first checkpoint", announced)
            if not announced:
                running.cancel()
                with contextlib.suppress(BaseException):
                    await running
                raise DemoError("worker A announced no checkpoint: nothing to migrate")
            first = job.checkpoints[0].checkpoint
            killed_at = time.monotonic()
            with contextlib.suppress(ProcessLookupError):
                os.killpg(a.proc.pid, signal.SIGKILL)  # kill -9, its whole process group
            code = await asyncio.to_thread(a.proc.wait)
            self.check(
                "A killed with SIGKILL (kill -9) after its first checkpoint",
                code == -signal.SIGKILL and not group_alive(a.proc.pid),
            )
            self.reporter.note(
                f"A ({a.name}) killed after checkpoint {first.checkpoint} at "
                f"{first.fuel_used:,} fuel; the requester waits for the silence"
            )
            done = await running
            moved = time.monotonic() - killed_at
            output = done.output if isinstance(done, JobResult) else None
            self.check(
                "the output equals an uninterrupted local run's, byte for byte",
                output == whole.stdout,
            )
            segments = job.segments
            lost, resumed = (segments[0], segments[-1]) if len(segments) == 2 else (None, None)
            record = await asyncio.to_thread(
                self.chain.checkpoints.job_record, a.address, first.job_id
            )
            on_chain = (
                record is not None
                and record.checkpoint == first.checkpoint
                and record.record.arweave_tx_id == first.arweave_tx_id
                and record.record.state_hash.lower() == "0x" + first.state_hash.hex()
            )
            self.check(
                "the job resumed on B from A's checkpoint recorded on chain",
                lost is not None
                and resumed is not None
                and (lost.worker, lost.reply) == (a.address, None)
                and resumed.worker == b.address
                and resumed.resumed_from is not None
                and resumed.resumed_from.worker == a.address
                and resumed.resumed_from.checkpoint == first
                and on_chain,
            )
            rerun = LocalRerun(job, sandbox, store)
            outcome = await requester.settle_checkpointed(
                job,
                expected_output_hash=output_hash(whole.stdout),
                reference=FuelReference(whole.fuel_used, CHECKPOINT_FUEL_COST, rerun=rerun),
                open_image=rerun.images.facts,  # A's word checked against its image
            )
            self.check("the migrated job's result verified", outcome.verified)
            if lost is None or resumed is None or resumed.resumed_from is None:
                raise DemoError(f"the job did not move from A to B: {len(segments)} segment(s)")
            # the rest of the job from A's image, run here without checkpoints
            rest = await rerun(resumed.resumed_from)
            rate_a, rate_b = offer_a.price_planck_per_fuel, offer_b.price_planck_per_fuel
            fuel_b = resumed.fuel_used
            paid_b = price(fuel_b, rate_b)
            self.check(
                "B is paid exactly its segment (the rest of the job and its checkpoints)",
                fuel_b == rest + len(resumed.announced) * CHECKPOINT_FUEL_COST
                and outcome.paid == (0, paid_b),
            )
            owed_a = price(first.fuel_used, rate_a)
            self.check(
                "A is owed exactly the work of the image B resumed, kept as a debt",
                first.fuel_used == whole.fuel_used - rest + CHECKPOINT_FUEL_COST
                and outcome.owed == (owed_a, 0)
                and requester.debts.total(a.address) == owed_a,
            )
            self.reporter.note(
                f"B paid {paid_b:,} planck ({fuel_b:,} fuel); A owed {owed_a:,} planck "
                f"({first.fuel_used:,} fuel), kept as a debt"
            )
            # A is back (same key, same state): its next job binds its channel, over
            # which the debt is paid; its channel then closes as every other one.
            back = self._spawn(MIGRATION_WORKERS[0], a.uri, bootstrap)
            await asyncio.to_thread(self._wait_ready, [back])
            offers = {o.address: o for o in await requester.find_workers("wasm", refresh=True)}
            small = requester.checkpointed_job(
                wasm, args=(str(DEBT_JOB_N),), every_fuel=whole.fuel_used
            )
            reply = await requester.run_segment(small, offers[back.address], timeout=timeout)
            settled = await requester.settle_checkpointed(small)
            self.check(
                "A, started again, is paid its debt over the same channel",
                isinstance(reply, JobResult)
                and settled.verified
                and small.segments[0].request.channel_id == lost.request.channel_id
                and requester.debts.all() == [],
            )
            self.summary.migration = {
                "worker_a": a.address,
                "worker_b": b.address,
                "prime_n": MIGRATION_PRIME_N,
                "output": output.decode().strip() if output else None,
                "fuel_uninterrupted": whole.fuel_used,
                "checkpoint_every_fuel": job.every_fuel,
                "checkpoint_resumed": first.checkpoint,
                "fuel_a": first.fuel_used,
                "fuel_b": fuel_b,
                "owed_a_planck": owed_a,
                "paid_b_planck": paid_b,
                "debt_paid_planck": owed_a if requester.debts.all() == [] else 0,
                "moved_after_kill_s": round(moved, 2),
            }
        finally:
            sandbox.close()
            gateway.close()

    def _record_stats(self, requester: Any, stats: Any, closed: int) -> None:
        self.summary.tasks.update(
            run=stats.tasks_run, verified=stats.tasks_verified, rejected=stats.tasks_rejected
        )
        self.summary.channels = {
            "offchain_updates": stats.offchain_updates,
            "channel_extrinsics": stats.channel_extrinsics,
            "channels": closed,
        }
        self.check("two extrinsics per channel", stats.channel_extrinsics == 2 * closed)
        for w in self.workers:
            ws = stats.workers.get(w.address)
            score = stats.scores.get(w.address)
            self.summary.workers.append(
                {
                    "name": w.name,
                    "address": w.address,
                    "faulty": self.workers.index(w) == WORKER_COUNT - 1,
                    "jobs": getattr(ws, "jobs", 0),
                    "fuel": getattr(ws, "fuel", 0),
                    "cost_planck": getattr(ws, "cost", 0),
                    "score": round(score.total, 3) if score is not None else None,
                    "tier": str(stats.tiers.get(w.address, "")),
                    "excluded": w.address in stats.excluded,
                }
            )

    # -- balances --------------------------------------------------------------------------

    def accounts(self) -> list[tuple[str, str]]:
        return [("requester", self.requester_key.ss58_address)] + [
            (w.name, Keys.from_uri(w.uri).ss58_address) for w in self._planned_workers()
        ]

    def _planned_workers(self) -> list[WorkerProcess]:
        return self.workers

    def settled_head(self) -> int:
        """The block the balances are read at: the best block on the dev chain, the last
        finalized one on a network of validators (what can no longer be reverted)."""
        assert self.chain is not None
        return self.chain.block_number(finalized=self.localnet is not None)

    def snapshot(self, addresses: list[str], block: int) -> dict[str, int]:
        """Free plus reserved planck of each of *addresses* at block number *block*."""
        assert self.chain is not None
        at = self.chain.block_hash(block)
        totals = {}
        for address in addresses:
            account = self.chain.query("System", "Account", [address], block_hash=at) or {}
            data = account.get("data", {}) if isinstance(account, dict) else {}
            totals[address] = int(data.get("free", 0)) + int(data.get("reserved", 0))
        return totals

    def fees_since(self, block: int, until: int, addresses: set[str]) -> tuple[dict[str, int], int]:
        """Fees each of *addresses* paid in blocks *block* + 1 ..= *until*, and planck
        burnt by slashes without a beneficiary."""
        assert self.chain is not None
        fees = dict.fromkeys(addresses, 0)
        burnt = 0
        for number in range(block + 1, until + 1):
            for event in self.chain.events_at(self.chain.block_hash(number)):
                if (event.pallet, event.name) == ("TransactionPayment", "TransactionFeePaid"):
                    who = event.attributes.get("who")
                    if who in fees:
                        fees[who] += int(event.attributes.get("actual_fee", 0))
                elif (event.pallet, event.name) == ("Credits", "Slashed"):
                    if event.attributes.get("beneficiary") is None:
                        burnt += int(event.attributes.get("amount", 0))
        return fees, burnt

    # -- teardown ----------------------------------------------------------------------------

    def retire_workers(self) -> None:
        """Deregister the run's workers, so a reused chain does not pick them as
        verifiers in later runs (their stake stays; it is the demo's money)."""
        if self.chain is None or self.retired:
            return
        self.retired = True
        chain = self.chain

        def retire(worker: WorkerProcess) -> None:
            with contextlib.suppress(CcnetError):
                if chain.tasks.worker(worker.address) is not None:  # interrupted start-ups
                    chain.tasks.deregister_worker(Keys.from_uri(worker.uri))

        with ThreadPoolExecutor(max(1, len(self.workers))) as pool:  # at once, as above
            list(pool.map(retire, self.workers))

    def shutdown(self) -> None:
        _stop_groups([w.proc for w in self.workers], timeout=20.0)
        self.check(
            "no worker process left behind",
            all(w.proc.poll() is not None and not group_alive(w.proc.pid) for w in self.workers),
        )
        if not self.config.keep_running:
            self.retire_workers()
            if self.chain is not None:
                self.chain.close()
            if self.started_gateway and self.gateway is not None:
                self.gateway.stop()
            if self.started_chain:
                if self.localnet is not None:
                    self.localnet.stop()
                else:
                    self.devchain.stop()
        elif self.chain is not None:
            self.chain.close()


def _photos() -> list[Path]:
    spec = importlib.util.find_spec("skimage")
    if spec is None or not spec.submodule_search_locations:
        raise DemoError(
            "scikit-image is not installed: it ships the demo's photographs "
            "(pip install 'compute-currency[demo]', or run scripts/setup.sh)"
        )
    data = Path(list(spec.submodule_search_locations)[0]) / "data"
    return [data / name for name in PHOTOS if (data / name).is_file()]


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _sha256_line(path: Path) -> bytes:
    """What the ``sha256sum`` job prints for stdin *path*."""
    return f"{_sha256(path)}\n".encode()


def run_demo(config: DemoConfig, reporter: Reporter) -> DemoSummary:
    """Run the demo; the summary's ``ok`` says whether every check passed.

    Raises :class:`DemoError` (or the SDK's errors) when a step cannot go on; every
    process it started is stopped either way (unless ``keep_running``).
    """
    demo = _Demo(config, reporter)

    def stop_signal(signum: int, _frame: Any) -> None:
        demo.stop_requested = signum
        raise KeyboardInterrupt(f"signal {signum}")

    # Our own handlers for both, raising at once: Ctrl-C works even when the demo was
    # started with SIGINT ignored (a background job of a script), and asyncio does not
    # turn it into a task cancellation that a library could swallow.
    previous = {sig: signal.signal(sig, stop_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    started = time.monotonic()
    fiat_stack = contextlib.ExitStack()
    try:
        chain = "four validators" if config.network == "local" else "dev chain"
        with demo._phase("network", f"{chain} and Arweave gateway"):
            demo.start_network()
        assert demo.chain is not None
        fiat = _card_purchase(demo, fiat_stack) if config.fiat else None
        first_block = demo.settled_head()
        addresses = [demo.requester_key.ss58_address]
        before = demo.snapshot(addresses, first_block)
        with demo._phase("workers", "five worker daemons: stake, register, announce"):
            demo.start_workers()
        asyncio.run(demo.market())
        demo.raise_if_stopped()
        worker_addresses = [w.address for w in demo.workers]  # the migration's too
        before.update(dict.fromkeys(worker_addresses, 0))  # funded during the run
        demo.retire_workers()
        last_block = demo.settled_head()
        demo.summary.network["balances_at"] = last_block
        after = demo.snapshot(addresses + worker_addresses, last_block)
        fees, burnt = demo.fees_since(first_block, last_block, set(after))
        _balances(demo, before, after, fees, burnt)
        if fiat is not None:
            _payout(demo, fiat)
    finally:
        try:
            fiat_stack.close()
            demo.shutdown()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            demo.summary.phases["total"] = time.monotonic() - started
            _prune_runs(demo.root / config.state_dir, keep=demo.run_dir)
    return demo.summary


# The fiat phases run outside the reconciled window of the market: the purchase before
# the opening balances are read, the payout after the closing ones.
FIAT_PURCHASE_CENTS = 20_00
"""The card purchase of ``--fiat``: $20, the bridge's minimum."""
FIAT_PAYOUT = 60 * CC
"""What the first worker cashes out with ``--fiat``: $60 gross, $51 net of the 15 % fee."""


def _card_purchase(demo: _Demo, stack: contextlib.ExitStack) -> Any:
    from ccnet.bridge.demo import FiatBridge

    with demo._phase("card purchase", "the requester buys CC by card (Stripe emulator)"):
        fiat = stack.enter_context(
            FiatBridge(demo.chain_url, funder=demo.requester_key, state_dir=demo.run_dir / "bridge")
        )
        fiat.buy(demo.requester_key.ss58_address, FIAT_PURCHASE_CENTS)
    return fiat


def _payout(demo: _Demo, fiat: Any) -> None:
    assert demo.chain is not None
    worker = demo.workers[0]
    with demo._phase("payout", f"{worker.name} cashes out to PayPal (the PayPal double)"):
        worker.stop()  # its key signs the transfer: no daemon extrinsic may race its nonce
        fiat.cash_out(demo.chain, Keys.from_uri(worker.uri), FIAT_PAYOUT, "worker@example.com")
        demo.summary.fiat = fiat.summary()
    for name, passed in demo.summary.fiat["checks"].items():
        demo.check(name, passed)


def _balances(
    demo: _Demo, before: dict[str, int], after: dict[str, int], fees: dict[str, int], burnt: int
) -> None:
    names = {demo.requester_key.ss58_address: "requester"}
    names.update({w.address: w.name for w in demo.workers})
    # The workers' funding came from the requester: count it from zero on both sides,
    # so the sum over the accounts involved is exact.
    rows: list[dict[str, Any]] = []
    change = paid = 0
    for address, end in after.items():
        start = before.get(address, 0)
        rows.append(
            {
                "account": names.get(address, address),
                "address": address,
                "start_planck": start,
                "end_planck": end,
                "change_planck": end - start,
                "fees_planck": fees.get(address, 0),
            }
        )
        change += end - start
        paid += fees.get(address, 0)
    demo.summary.balances = rows
    demo.summary.reconciliation = {
        "sum_of_changes_planck": change,
        "fees_planck": paid,
        "slashes_burnt_planck": burnt,
        "residual_planck": change + paid + burnt,
    }
    demo.check("balances reconcile to the planck", change + paid + burnt == 0)


def _prune_runs(state: Path, *, keep: Path) -> None:
    """Remove older run folders (the demo keeps the latest one to look at)."""
    if not state.is_dir():
        return
    for run in state.glob("run-*"):
        if run != keep and run.is_dir():
            shutil.rmtree(run, ignore_errors=True)
