"""``ccnet worker run|status|unstake|withdraw|deregister``: the worker daemon, its
standing on chain, and leaving: ``deregister`` (no open claims; the ``WorkerDeposit``
comes back), ``unstake`` (free stake starts unbonding: ``Credits.UnbondingPeriod``
blocks) and ``withdraw`` (matured stake back to the free balance).

Thin over :class:`ccnet.worker.daemon.WorkerDaemon` (see its module docs for what a
running worker does). ``run`` prints one JSON line on stdout when it serves::

    {"event": "ready", "address": "5F...", "signaling_url": "http://127.0.0.1:PORT/offer",
     "dht_host": "127.0.0.1", "dht_port": PORT, "speed_multiplier": ..., ...,
     "free_jobs": false, "max_unpaid_jobs": 4, "watch_channels": true,
     "min_challenge_blocks": 15}

and, after SIGINT or SIGTERM, stops cleanly (jobs running with VM checkpoints suspended
and answered ``job_suspended`` first, other running jobs interrupted, sockets closed,
the prover's Node process ended) and prints ``{"event": "stopped", ...}``. Logs go to
stderr (one JSON object per line with ``--json-log``).

Money (defaults in :class:`ccnet.worker.config.WorkerConfig`): paid jobs only unless
``--free-jobs``; at most ``--max-unpaid-jobs`` (4) jobs of one requester running or
delivered and unpaid; the embedded channel watcher answers stale closes and settles
(``--no-watch-channels`` when an external ``ccnet watchtower run`` guards the channels:
give its file with ``--tower-db``).

Network (loopback by default, so only requesters on this machine are served):
``--signaling-host`` and ``--dht-host`` bind other addresses (``0.0.0.0``: every
interface), ``--signaling-url`` is the URL registered on chain and announced in the DHT
when requesters reach the endpoint elsewhere (NAT, a proxy; required when binding every
interface), ``--ice-network CIDR`` (repeatable; ``loopback``, ``lan``) lists the
networks WebRTC candidates may use, ours and the requester's, ``--ice-server`` adds a
STUN or TURN server (``--ice-username``, ``$CCNET_ICE_CREDENTIAL``). See
:mod:`ccnet.client.net.ice`.

Metrics: ``--metrics-port PORT`` serves Prometheus metrics at
``http://127.0.0.1:PORT/metrics`` (off by default; ``--metrics-host`` to bind another
address; names and units in :mod:`ccnet.worker.metrics`). The ready record's
``metrics_url`` names it.

Fault injection (demos and tests only): ``--fault-injection wrong-result-once``
makes the worker return a wrong result for the first job or task it answers,
``wrong-onchain-result-once`` for the first result it submits on chain (see
:mod:`ccnet.worker.faults`); either is refused unless ``CCNET_ALLOW_FAULT_INJECTION=1``
is set.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import typer

from ..config import ALLOW_FAULT_INJECTION_ENV, FAULT_MODES
from ..exceptions import NotFoundError, UserError
from . import stake as stake_cmd
from ._common import CliContext, KeyOpt, format_cc, parse_amount
from ._network import (
    DhtHostOpt,
    IceCredentialOpt,
    IceNetworkOpt,
    IceServerOpt,
    IceUsernameOpt,
    check_bind_host,
    check_signaling_options,
    peer_config_from_options,
)

__all__ = ["JsonLogFormatter", "app", "parse_bootstrap"]

T = TypeVar("T")

app = typer.Typer(help="Run a worker, or show its standing on chain.", no_args_is_help=True)

DEFAULT_STATE_ROOT = Path(".state/worker")


class JsonLogFormatter(logging.Formatter):
    """One JSON object per record: ``ts`` (unix s), ``level``, ``logger``, ``message``
    (and ``exc`` with the traceback, if any)."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": round(record.created, 3),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry)


def parse_bootstrap(text: str) -> tuple[tuple[str, int], ...]:
    """``"host:port,host:port"`` as (host, port) pairs; :class:`UserError` if malformed."""
    nodes = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        host, sep, port = item.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise UserError(f"not a DHT node address: {item!r} (write host:port)")
        nodes.append((host, int(port)))
    return tuple(nodes)


def _setup_logging(cli: CliContext, json_log: bool) -> None:
    logging.getLogger("ccnet").setLevel(logging.DEBUG if cli.verbose else logging.INFO)
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(format="%(levelname)s %(name)s: %(message)s")
    if json_log:
        for handler in root.handlers:
            handler.setFormatter(JsonLogFormatter())


def _print_line(data: dict[str, Any]) -> None:
    typer.echo(json.dumps(data, separators=(",", ":")))


class _Interrupted(Exception):
    """SIGINT or SIGTERM (*signum*) arrived before the daemon was ready."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


class _CountingExecutor(ThreadPoolExecutor):
    """The loop's default executor, counting the calls that run now: a start-up
    interrupted in a blocking step (connecting, waiting for inclusion) must not wait for
    it to time out."""

    def __init__(self) -> None:
        super().__init__(thread_name_prefix="asyncio")
        self.busy = 0
        self._busy_lock = threading.Lock()

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        def counted() -> T:
            with self._busy_lock:
                self.busy += 1
            try:
                return fn(*args, **kwargs)
            finally:
                with self._busy_lock:
                    self.busy -= 1

        return super().submit(counted)


async def _start_or_interrupt(daemon: Any, stop: asyncio.Event) -> Any:
    """The daemon's ready record, or ``None`` when *stop* was set first (the start is
    cancelled: what was started is stopped again, and the lock released)."""
    starting = asyncio.ensure_future(daemon.start())
    stopping = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({starting, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopping.cancel()
    if starting.done():
        return starting.result()
    starting.cancel()
    try:
        await starting
    except asyncio.CancelledError:
        pass
    except Exception as err:  # it failed while stopping: the interruption still wins
        logging.getLogger(__name__).debug("start-up ended with %r", err)
    await daemon.stop()
    return None


async def _serve(config: Any) -> dict[str, Any]:
    from ccnet.worker.daemon import WorkerDaemon

    loop = asyncio.get_running_loop()
    threads = _CountingExecutor()
    loop.set_default_executor(threads)
    stop = asyncio.Event()
    received: list[int] = []

    def on_signal(signum: int) -> None:
        received.append(signum)
        stop.set()

    signals = (signal.SIGINT, signal.SIGTERM)
    for signum in signals:
        loop.add_signal_handler(signum, on_signal, signum)
    daemon = WorkerDaemon(config)
    started = time.monotonic()
    log = logging.getLogger(__name__)
    try:
        ready = await _start_or_interrupt(daemon, stop)
        if ready is None:
            name = signal.Signals(received[0]).name
            log.info("%s during start-up: stopped", name)
            if threads.busy:  # a blocking step still runs: do not wait for its timeout
                log.debug("%d start-up step(s) abandoned", threads.busy)
                _exit_now(128 + received[0])
            raise _Interrupted(received[0])
        _print_line(ready.to_json())
        await stop.wait()
        log.info("signal received: stopping")
    finally:
        await daemon.stop()
        for signum in signals:
            loop.remove_signal_handler(signum)
    executor = daemon.executor
    return {
        "event": "stopped",
        "address": daemon.address,
        "uptime_s": round(time.monotonic() - started, 3),
        "jobs_completed": executor.completed if executor else 0,
        "jobs_failed": executor.failed if executor else 0,
        "tasks_submitted": len(daemon.tasks.submitted) if daemon.tasks else 0,
        "votes": len(daemon.disputes.votes) if daemon.disputes else 0,
        "sessions": daemon.handler.sessions if daemon.handler else 0,
    }


def _exit_now(code: int) -> NoReturn:
    """End the process with *code* without joining the threads of abandoned blocking
    calls (the daemon has stopped what it started and released its lock)."""
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


@app.command()
def run(
    ctx: typer.Context,
    key: KeyOpt,
    url: Annotated[
        str | None,
        typer.Option(help="Node WebSocket URL (default: the global --url).", show_default=False),
    ] = None,
    signaling_host: Annotated[
        str,
        typer.Option(
            help="Address the signaling endpoint binds (0.0.0.0: every interface, which "
            "needs --signaling-url).",
            envvar="CCNET_WORKER_SIGNALING_HOST",
        ),
    ] = "127.0.0.1",
    signaling_port: Annotated[
        int,
        typer.Option(
            min=0,
            max=65535,
            help="TCP port of the signaling endpoint (0: any).",
            envvar="CCNET_WORKER_SIGNALING_PORT",
        ),
    ] = 0,
    signaling_url: Annotated[
        str | None,
        typer.Option(
            help="URL requesters reach the endpoint at, registered on chain and announced "
            "in the DHT (default http://SIGNALING_HOST:PORT/offer); behind NAT or a proxy.",
            envvar="CCNET_WORKER_SIGNALING_URL",
            show_default=False,
        ),
    ] = None,
    dht_host: DhtHostOpt = "127.0.0.1",
    dht_port: Annotated[
        int,
        typer.Option(
            min=0, max=65535, help="UDP port of the DHT node (0: any).", envvar="CCNET_DHT_PORT"
        ),
    ] = 0,
    ice_network: IceNetworkOpt = None,
    ice_server: IceServerOpt = None,
    ice_username: IceUsernameOpt = None,
    ice_credential: IceCredentialOpt = None,
    dht_bootstrap: Annotated[
        str,
        typer.Option(
            help="DHT nodes to join, host:port[,host:port...] (none: the other workers "
            "registered on chain).",
            envvar="CCNET_DHT_BOOTSTRAP",
        ),
    ] = "",
    stake: Annotated[
        str | None,
        typer.Option(
            help="Active stake to hold, CC (1.5 / 1.5CC) or planck (…planck); "
            "default Tasks.MinWorkerStake. Each open claim bonds Tasks.ClaimBond of it "
            "and each verifier duty Disputes.VerifierBond: stake more to hold several.",
            show_default=False,
        ),
    ] = None,
    state_dir: Annotated[
        Path | None,
        typer.Option(
            help="Where the worker keeps its files (default .state/worker/ADDRESS).",
            envvar="CCNET_WORKER_STATE_DIR",
            show_default=False,
        ),
    ] = None,
    rate: Annotated[
        int | None,
        typer.Option(
            min=0,
            help="Price, planck per fuel (default $CCNET_WORKER_RATE_PLANCK_PER_FUEL or 1).",
            show_default=False,
        ),
    ] = None,
    max_jobs: Annotated[int, typer.Option(min=1, help="Jobs that run at once.")] = 2,
    requester: Annotated[
        list[str] | None,
        typer.Option(
            help="Serve on-chain tasks of this requester only (SS58; repeatable).",
            show_default=False,
        ),
    ] = None,
    tasks: Annotated[
        bool, typer.Option("--tasks/--no-tasks", help="Claim and answer on-chain tasks.")
    ] = True,
    disputes: Annotated[
        bool,
        typer.Option("--disputes/--no-disputes", help="Vote in disputes when selected."),
    ] = True,
    arweave_url: Annotated[
        str | None,
        typer.Option(
            help="Arweave gateway for ar: inputs (default $CCNET_ARWEAVE_URL or arlocal).",
            show_default=False,
        ),
    ] = None,
    checkpoint_gateway: Annotated[
        str | None,
        typer.Option(
            help="Arweave gateway that stores jobs' VM checkpoints (default: none; "
            "requests for checkpoints are refused). A loopback URL is a dev gateway "
            "(arlocal): the wallet is funded by minting.",
            show_default=False,
        ),
    ] = None,
    checkpoint_wallet: Annotated[
        Path | None,
        typer.Option(
            help="Arweave wallet (JWK file) paying the checkpoint uploads "
            "(default: arweave-wallet.json in the state dir, created when missing).",
            show_default=False,
        ),
    ] = None,
    poll_interval: Annotated[
        float, typer.Option(min=0.05, help="Seconds between looks at the chain head.")
    ] = 1.0,
    free_jobs: Annotated[
        bool | None,
        typer.Option(
            "--free-jobs/--paid-jobs-only",
            help="Run jobs that name no payment channel, for nothing "
            "(default $CCNET_WORKER_FREE_JOBS or paid jobs only).",
            show_default=False,
        ),
    ] = None,
    max_unpaid_jobs: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Jobs of one requester running or delivered and unpaid, at most "
            "(default $CCNET_WORKER_MAX_UNPAID_JOBS or 4).",
            show_default=False,
        ),
    ] = None,
    watch_channels: Annotated[
        bool,
        typer.Option(
            "--watch-channels/--no-watch-channels",
            help="Answer stale closes of the worker's channels and settle them (off only "
            "when an external `ccnet watchtower run` guards them).",
        ),
    ] = True,
    tower_db: Annotated[
        Path | None,
        typer.Option(
            help="An external watchtower's file: hand it every co-signed state.",
            show_default=False,
        ),
    ] = None,
    fault_injection: Annotated[
        str | None,
        typer.Option(
            help=f"DEMOS AND TESTS ONLY: {' | '.join(FAULT_MODES)}: return a wrong result "
            f"for one task. Refused unless {ALLOW_FAULT_INJECTION_ENV}=1.",
            show_default=False,
        ),
    ] = None,
    metrics_port: Annotated[
        int | None,
        typer.Option(
            min=0,
            max=65535,
            help="Serve Prometheus metrics at http://HOST:PORT/metrics (0: any free port; "
            "default $CCNET_WORKER_METRICS_PORT or off).",
            show_default=False,
        ),
    ] = None,
    metrics_host: Annotated[
        str | None,
        typer.Option(
            help="Address the metrics endpoint binds "
            "(default $CCNET_WORKER_METRICS_HOST or 127.0.0.1).",
            show_default=False,
        ),
    ] = None,
    json_log: Annotated[
        bool, typer.Option("--json-log", help="Log to stderr as one JSON object per line.")
    ] = False,
) -> None:
    """Run the worker daemon until Ctrl-C or SIGTERM: register and stake on chain,
    announce in the DHT, serve jobs over WebRTC, answer on-chain tasks, vote in disputes."""
    # The daemon is ccnet.worker: imported only when a worker runs (ccnet.client itself
    # never imports it, so the SDK and the other commands load no sandbox).
    from ccnet.worker.config import WorkerConfig
    from ccnet.worker.daemon import DaemonConfig
    from ccnet.worker.faults import FaultInjector

    cli = CliContext.of(ctx)
    _setup_logging(cli, json_log)
    with cli.errors():
        FaultInjector.from_option(fault_injection)  # refuse early, before any extrinsic
        peer = peer_config_from_options(ice_network, ice_server, ice_username, ice_credential)
        check_signaling_options(signaling_host, signaling_url)
        check_bind_host("--dht-host", dht_host)
        keypair = cli.keypair(key)
        address = str(keypair.ss58_address)
        overrides: dict[str, Any] = {}
        if rate is not None:
            overrides["rate_planck_per_fuel"] = rate
        if free_jobs is not None:
            overrides["free_jobs"] = free_jobs
        if max_unpaid_jobs is not None:
            overrides["max_unpaid_jobs"] = max_unpaid_jobs
        if metrics_port is not None:
            overrides["metrics_port"] = metrics_port
        if metrics_host is not None:
            overrides["metrics_host"] = metrics_host
        config = DaemonConfig(
            keypair=keypair,
            url=url or cli.settings.url,
            state_dir=state_dir or DEFAULT_STATE_ROOT / address,
            signaling_host=signaling_host,
            signaling_port=signaling_port,
            signaling_url=signaling_url,
            dht_host=dht_host,
            dht_port=dht_port,
            peer=peer,
            dht_bootstrap=parse_bootstrap(dht_bootstrap),
            stake=parse_amount(stake) if stake is not None else None,
            worker=WorkerConfig.from_env(**overrides),
            max_jobs=max_jobs,
            watch_tasks=tasks,
            verify_disputes=disputes,
            requesters=frozenset(requester) if requester else None,
            fault_injection=fault_injection or None,
            arweave_url=arweave_url,
            checkpoint_gateway=checkpoint_gateway,
            checkpoint_wallet=checkpoint_wallet,
            poll_interval=poll_interval,
            watch_channels=watch_channels,
            tower_path=tower_db,
        )
        try:
            summary = asyncio.run(_serve(config))
        except _Interrupted as interrupted:  # 130 for SIGINT, 143 for SIGTERM
            raise typer.Exit(128 + interrupted.signum) from None
        except KeyboardInterrupt:  # before the signal handlers were installed
            raise typer.Exit(128 + signal.SIGINT) from None
        except OSError as err:  # a port taken, a state dir not writable
            raise UserError(f"cannot start the worker: {err}") from None
        _print_line(summary)


@app.command()
def status(ctx: typer.Context, key: KeyOpt) -> None:
    """Show a worker's registration, stake and reputation on chain (amounts in CC;
    planck integers with --json)."""
    cli = CliContext.of(ctx)
    with cli.errors():
        address = cli.address(key)
        chain = cli.chain()
        info = chain.tasks.worker(address)
        stake = chain.credits.stake_of(address)
        data: dict[str, Any] = {
            "address": address,
            "registered": info is not None,
            "free_balance": chain.free_balance(address),
            "stake": {
                "active": stake.active if stake else 0,
                "unbonding": [
                    {"amount": u.amount, "unlock_at": u.unlock_at}
                    for u in (stake.unbonding if stake else ())
                ],
            },
            "min_worker_stake": chain.tasks.min_worker_stake(),
        }
        if info is not None:
            data.update(
                endpoint=info.endpoint.decode(errors="replace"),
                capabilities=[c.decode(errors="replace") for c in info.capabilities],
                registered_at=info.registered_at,
                reputation={
                    "completed": info.reputation.completed,
                    "failed": info.reputation.failed,
                    "disputed": info.reputation.disputed,
                    "slashed": info.reputation.slashed,
                    "value_earned": info.reputation.value_earned,
                    "distinct_requesters": info.reputation.distinct_requesters,
                },
                active_claims=info.active_claims,
                banned_until=info.banned_until,
                deposit=info.deposit,
            )

        def human() -> Any:
            rows: list[tuple[str, Any]] = [
                ("address", address),
                ("registered", "yes" if info is not None else "no"),
                ("free balance", format_cc(data["free_balance"])),
                ("active stake", format_cc(data["stake"]["active"])),
            ]
            rows += [
                ("unbonding", f"{format_cc(u['amount'])} at block {u['unlock_at']}")
                for u in data["stake"]["unbonding"]
            ]
            if info is not None:
                rep = info.reputation
                rows += [
                    ("endpoint", data["endpoint"]),
                    ("capabilities", ", ".join(data["capabilities"])),
                    ("registered at", f"block {info.registered_at}"),
                    (
                        "reputation",
                        f"{rep.completed} completed, {rep.failed} failed, "
                        f"{rep.disputed} disputed, {rep.slashed} slashed",
                    ),
                    ("value earned", format_cc(rep.value_earned)),
                    ("deposit", format_cc(info.deposit)),
                    ("active claims", info.active_claims),
                    ("banned until", info.banned_until or "-"),
                ]
            return cli.table("Worker", rows)

        cli.emit(data, human=human)


app.command("unstake")(stake_cmd.unbond)
app.command("withdraw")(stake_cmd.withdraw)


@app.command()
def deregister(ctx: typer.Context, key: KeyOpt) -> None:
    """Leave the worker registry (Tasks.deregister_worker): needs no open claims; the
    WorkerDeposit (planck with --json) goes back to the free balance. The stake stays:
    `ccnet worker unstake` it."""
    cli = CliContext.of(ctx)
    with cli.errors():
        signer = cli.keypair(key)
        address = str(signer.ss58_address)
        chain = cli.chain()
        info = chain.tasks.worker(address)
        if info is None:
            raise NotFoundError(f"{address} is not a registered worker")
        if info.active_claims:
            claims = ", ".join(str(a.task_id) for a in chain.tasks.claims_of(address))
            raise UserError(
                f"the worker still holds {info.active_claims} open claim(s) (task(s) {claims})",
                hint="deregister once those tasks are finalized (`ccnet task status ID`)",
            )
        with cli.status("deregistering..."):
            receipt = chain.tasks.deregister_worker(signer)
        receipt.expect("Tasks", "WorkerDeregistered")
        data = {
            "worker": address,
            "deposit_released": info.deposit,
            "block_hash": receipt.block_hash,
            "fee": receipt.fee,
        }
        cli.emit(
            data,
            human=f"deregistered {address}; {format_cc(info.deposit)} deposit released "
            "(the stake stays: `ccnet worker unstake AMOUNT`)",
        )
