"""``ccnet job run|workers``: run a Wasm job on the market from the shell, without Python.

Thin over the requester SDK (:class:`ccnet.client.requester.Requester`). ``run`` joins
the DHT through ``--dht-bootstrap`` (a worker's ``dht_host:dht_port``, printed in its
``ready`` line) or, without it, through the workers registered on chain
(:mod:`ccnet.client.net.bootstrap`), finds and ranks the workers, checks the worst case against
``--max-cost`` (1 CC by default; workers whose rate cannot fit one job in it are left
out), opens a payment channel to each worker it uses (or reuses the one kept
in the key's state dir, shared with ``ccnet channel``), sends the module and the input
over the WebRTC session (never through storage), verifies the results, pays each
accepted one with a channel update, and writes the job's stdout to ``--output``.

Network: loopback by default. For workers on other machines, ``--dht-host`` binds the
DHT node to an address that reaches them, ``--ice-network CIDR`` (repeatable;
``loopback``, ``lan``) lists the networks WebRTC candidates may use, and ``--ice-server``
adds a STUN or TURN server (``--ice-username``, ``$CCNET_ICE_CREDENTIAL``), as for
``ccnet worker run``.

Streams: stdout carries the job's output only (unless ``--output FILE``); the outcome
(cost, workers, verdict, fuel), errors and, with ``--json``, the outcome as one JSON
object (amounts integer planck) go to stderr. Exit codes
(:class:`~ccnet.client.commands._common.ExitCode`): 0 verified and paid, 2 usage (an
unreadable option, ``--input`` with a URL), 6 no workers, 7 over budget (nothing sent),
8 results rejected (they disagree, or none is valid; no result was paid), 9 invalid module
(nothing sent), 10 unfinished (checkpointed; resume it); 1, 3 and 4 as for every command.

With ``--checkpoint-every FUEL`` the job runs with VM checkpoints
(``docs/vm-checkpoints.md`` section 8) on one worker at a time
(:meth:`~ccnet.client.requester.Requester.run_checkpointed` over the ranked workers whose
segments, each ``--fuel-limit`` x its rate, fit ``--max-cost`` together), is settled by
:meth:`~ccnet.client.requester.Requester.settle_checkpointed` (the final result's
signature and binding; ``--verify``, ``--redundancy`` and ``--proof`` are refused), and
is kept in a job file, ``<state dir>/jobs/<task id, 16 hex>.json``
(:mod:`ccnet.client.requester.jobfile`: mode 0600, rewritten atomically after every
checkpoint announced and every segment's end). When no worker finishes it, ``run`` exits
with 10 and names the file and the ``ccnet job resume JOBFILE`` command, which continues
it from its last checkpoint and settles every segment, the earlier ones too, once (a
payment that cannot be made, e.g. to a worker no longer reachable, is kept as a debt).

The SDK has no hook on the bytes sent, so ``run`` shows no transfer progress; the
module and the input travel in one message each (at most
:data:`~ccnet.client.jobs.messages.MAX_MESSAGE_SIZE` bytes).
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, replace
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ..clock import now_ms
from ..exceptions import (
    BudgetExceededError,
    InvalidJobModuleError,
    JobUnfinishedError,
    NoWorkersFoundError,
    ResultsRejectedError,
    UsageError,
    UserError,
)
from ..jobs.proofs import JOB_CIRCUITS
from ._common import CliContext, KeyOpt, format_cc, parse_amount, write_durably
from ._network import (
    DhtHostOpt,
    IceCredentialOpt,
    IceNetworkOpt,
    IceServerOpt,
    IceUsernameOpt,
    check_bind_host,
    peer_config_from_options,
)
from .checkpoint import GatewayOpt, open_gateway
from .worker import parse_bootstrap

if TYPE_CHECKING:
    from collections.abc import Sequence

    from ccnet.worker.checkpointing import ImageOpener

    from ..chain import Chain
    from ..events import Receipt
    from ..keys import Keypair
    from ..net.webrtc import PeerConfig
    from ..requester.discovery import WorkerOffer
    from ..requester.jobfile import JobFile
    from ..requester.migration import CheckpointedJob, CheckpointedOutcome, Segment
    from ..requester.outcomes import TaskOutcome

__all__ = ["app", "check_checkpoint_options", "job_file_path", "worst_case_planck"]

app = typer.Typer(
    help="Run Wasm jobs on workers found in the DHT, paid through payment channels.",
    no_args_is_help=True,
)

TASK_TYPE = "wasm"
DEFAULT_DEPOSIT = "10"
"""CC locked in each new channel to a worker when ``--deposit`` is not given."""
DISCOVERY_TIMEOUT_S = 60.0
"""Longest a DHT lookup for workers may take, s: a malicious node can keep a lookup
crawling (ever closer ids) or hand it thousands of records to check on chain."""
DEFAULT_MAX_COST = "1"
"""CC a run may cost at most when ``--max-cost`` is not given: there is always a
budget, and workers priced above it for one job are not used."""
STDIO = "-"
_URL = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://")
_U64_MAX = 2**64 - 1


class VerifyMode(StrEnum):
    """``--verify``: the SDK's modes (:func:`~ccnet.client.requester.verdicts.plan_verification`)
    but ``spot``, which needs a known answer the CLI does not have."""

    AUTO = "auto"
    NONE = "none"
    MAJORITY = "majority"
    PROOF = "proof"


BootstrapOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--dht-bootstrap",
        help="DHT node to join, HOST:PORT (a worker's dht_host:dht_port); repeat, or "
        "separate with commas [default: the workers registered on chain].",
        envvar="CCNET_DHT_BOOTSTRAP",
        show_default=False,
    ),
]


@dataclass(frozen=True)
class _JobArgs:
    wasm: bytes
    input: bytes
    args: tuple[str, ...]
    output: str
    redundancy: int | None
    verify: str
    proof: str | None
    max_cost: int
    fuel_limit: int
    deposit: int
    timeout: float
    bootstrap: tuple[tuple[str, int], ...]
    state_dir: Path | None
    close_channels: bool
    dht_host: str = "127.0.0.1"
    peer: PeerConfig | None = None


def _quiet_dht_logs(cli: CliContext) -> None:
    """Unless ``-v``: keep the DHT libraries' reports of peers that do not answer (a
    node that went away, such as an earlier requester's, is routine: rpcudp's "Did not
    receive reply", kademlia's "no response from") off stderr, which carries the
    outcome."""
    if not cli.verbose:
        for name in ("rpcudp", "kademlia"):
            logging.getLogger(name).setLevel(logging.CRITICAL)


# --- reading the arguments (all before any key, chain or network) -------------------


def parse_bootstrap_options(values: Sequence[str] | None) -> tuple[tuple[str, int], ...]:
    """The (host, port) DHT nodes of ``--dht-bootstrap`` values (each may list several,
    comma-separated; none: join through the workers registered on chain).
    :class:`UsageError` if one is malformed."""
    nodes: list[tuple[str, int]] = []
    for value in values or ():
        try:
            nodes += parse_bootstrap(value)
        except UserError as err:
            raise UsageError(str(err)) from None
    return tuple(nodes)


def read_input(spec: str | None) -> bytes:
    """The job's stdin: nothing (None), our stdin (``-``) or a file. A URL of any scheme
    (``ar://...``, ``https://...``) raises :class:`UsageError`: the CLI sends only bytes
    it has, never a reference for the worker to fetch."""
    if spec is None:
        return b""
    if spec == STDIO:
        return sys.stdin.buffer.read()
    if scheme := _URL.match(spec):
        raise UsageError(
            f"--input {spec!r}: {scheme[1]}:// inputs are not supported; give a file path, "
            "or - to read stdin (e.g. download the data first, then --input FILE)"
        )
    path = Path(spec).expanduser()
    if not path.is_file():
        raise UsageError(f"--input {spec!r}: no such file")
    try:
        return path.read_bytes()
    except OSError as err:
        raise UsageError(f"--input {spec!r}: cannot read it ({err.strerror})") from None


def check_output(spec: str) -> None:
    """Fail now, before anything is paid, if ``--output`` *spec* cannot be written: its
    directory must exist and it must not be a directory."""
    if spec == STDIO:
        return
    if _URL.match(spec):
        raise UsageError(f"--output {spec!r}: give a file path, or - for stdout")
    path = Path(spec).expanduser()
    if path.is_dir():
        raise UsageError(f"--output {spec!r} is a directory; name a file")
    if not path.parent.is_dir():
        raise UsageError(f"--output {spec!r}: directory {str(path.parent)!r} does not exist")


def read_module(path: Path) -> bytes:
    """The module's bytes, checked (:func:`~ccnet.client.requester.modules.check_module`)."""
    from ..requester.modules import check_module

    try:
        wasm = path.read_bytes()
    except OSError as err:
        raise UsageError(f"cannot read module {str(path)!r} ({err.strerror})") from None
    check_module(wasm)
    return wasm


def check_fits(wasm: bytes, data: bytes, args: tuple[str, ...], fuel_limit: int) -> None:
    """Fail before anything is sent when the module or the input cannot travel: each goes
    in one job-protocol message (base64 in JSON) of at most
    :data:`~ccnet.client.jobs.messages.MAX_MESSAGE_SIZE` bytes. A module that does not
    fit raises :class:`InvalidJobModuleError`; an input (with its arguments)
    :class:`UserError`. The request is sized with every optional field at its widest."""
    from ..exceptions import MalformedMessageError
    from ..jobs.catalogue import module_hash
    from ..jobs.messages import MAX_MESSAGE_SIZE, JobRequest, ModuleData, encode

    try:
        encode(ModuleData(b"\0" * 16, wasm))
    except MalformedMessageError:
        raise InvalidJobModuleError(
            f"the module ({len(wasm):,} bytes) does not fit one message "
            f"({MAX_MESSAGE_SIZE:,} bytes, base64-encoded)"
        ) from None
    widest = JobRequest(
        job_id=b"\0" * 16,
        module_hash=module_hash(wasm),
        input=data,
        args=args,
        fuel_limit=fuel_limit,
        timeout_ms=2**32 - 1,
        memory_bytes=2**32 - 1,
        rate_planck_per_fuel=2**128 - 1,
        seed=b"\xff" * 32,
        proof=max(JOB_CIRCUITS, key=len),
        channel_id=b"\0" * 32,
        task_id=_U64_MAX,
    )
    try:
        encode(widest)
    except MalformedMessageError:
        raise UserError(
            f"the input ({len(data):,} bytes) and arguments do not fit one job message "
            f"({MAX_MESSAGE_SIZE:,} bytes, base64-encoded)",
            hint="split the input into several jobs",
        ) from None


def worst_case_planck(offers: Sequence[WorkerOffer], fuel_limit: int, *, spot_check: bool) -> int:
    """The most a job may cost, planck: each worker in *offers* paid for *fuel_limit*
    fuel at its announced rate (a payment never exceeds the reservation the SDK makes,
    :mod:`~ccnet.client.requester.runs`), plus, with *spot_check* (``--verify auto``
    may mix one in, at the same fuel limit), one more such job at the highest rate."""
    from ..jobs.billing import price

    costs = [price(fuel_limit, o.price_planck_per_fuel) for o in offers]
    return sum(costs) + (max(costs) if spot_check and costs else 0)


def _write_output(spec: str, data: bytes, fallback_dir: Path) -> str:
    """Write the paid-for output to *spec* (stdout for ``-``; a file atomically, fsynced).
    Should that fail, keep it in *fallback_dir* and raise :class:`UserError` naming it,
    so that nothing paid for is lost. Returns where it went."""
    if spec == STDIO:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return STDIO
    path = Path(spec).expanduser()
    try:
        write_durably(path, data)
    except OSError as err:
        fallback_dir.mkdir(parents=True, exist_ok=True)
        kept = fallback_dir / f"output-{os.getpid()}-{now_ms()}.bin"
        write_durably(kept, data)
        raise UserError(
            f"cannot write --output {spec!r} ({err.strerror}); the output is kept in {kept}"
        ) from None
    return str(path)


# --- ccnet job run ------------------------------------------------------------------------


@app.command()
def run(
    ctx: typer.Context,
    module: Annotated[
        Path,
        typer.Argument(
            exists=True,
            dir_okay=False,
            readable=True,
            help="The job: a WASI command module (.wasm) that reads stdin, writes stdout.",
        ),
    ],
    key: KeyOpt,
    input_: Annotated[
        str | None,
        typer.Option(
            "--input",
            "-i",
            help="The job's stdin: a file, or - to pass ours on (default: empty). "
            "URLs (ar://, https://) are refused.",
            show_default=False,
        ),
    ] = None,
    arg: Annotated[
        list[str] | None,
        typer.Option(
            "--arg", help="An argument of the job (its argv after the name); repeat for more."
        ),
    ] = None,
    output: Annotated[
        str, typer.Option("--output", "-o", help="Where the job's stdout goes: a file, or - .")
    ] = STDIO,
    redundancy: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=7,
            help="Workers that run it (default: from --verify and the best worker's tier).",
            show_default=False,
        ),
    ] = None,
    verify: Annotated[
        VerifyMode,
        typer.Option(
            help="auto: as the best worker's reputation tier asks; none: trust one worker; "
            "majority: the majority of --redundancy (default 3) decides; proof: each "
            "result proves --proof."
        ),
    ] = VerifyMode.AUTO,
    proof: Annotated[
        str | None,
        typer.Option(
            help=f"Circuit each result must prove: {', '.join(JOB_CIRCUITS)}.",
            show_default=False,
        ),
    ] = None,
    max_cost: Annotated[
        str,
        typer.Option(
            "--max-cost",
            help="Budget, CC (0.5, 2CC) or planck (…planck): workers whose rate cannot "
            "fit one job in it are not used, and a job whose worst case (fuel limit x "
            "rates) is more is refused before anything is sent.",
        ),
    ] = DEFAULT_MAX_COST,
    fuel_limit: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=_U64_MAX,
            help="Fuel the job may burn (default: the SDK's, 10,000,000,000).",
            show_default=False,
        ),
    ] = None,
    deposit: Annotated[
        str,
        typer.Option(help="CC locked in each new channel to a worker (it must cover a job)."),
    ] = DEFAULT_DEPOSIT,
    timeout: Annotated[
        float, typer.Option(min=1.0, help="Seconds to wait for each worker's reply.")
    ] = 120.0,
    dht_bootstrap: BootstrapOpt = None,
    dht_host: DhtHostOpt = "127.0.0.1",
    ice_network: IceNetworkOpt = None,
    ice_server: IceServerOpt = None,
    ice_username: IceUsernameOpt = None,
    ice_credential: IceCredentialOpt = None,
    state_dir: Annotated[
        Path | None,
        typer.Option(
            help="The requester's state dir (channels.db) [default: "
            ".state/accounts/<address>, shared with `ccnet channel`].",
            show_default=False,
        ),
    ] = None,
    close_channels: Annotated[
        bool,
        typer.Option(
            "--close-channels",
            help="Close the channels cooperatively afterwards (default: keep them for "
            "the next job).",
        ),
    ] = False,
    checkpoint_every: Annotated[
        int | None,
        typer.Option(
            "--checkpoint-every",
            min=1,
            max=_U64_MAX,
            help="Run it with VM checkpoints every FUEL fuel, on one worker at a time, "
            "moving on to the next ranked worker when one is lost, suspends or fails; "
            "kept in a job file (state dir, jobs/) for `ccnet job resume`. The final "
            "result's signature and binding are checked (not --verify, --redundancy or "
            "--proof). Worst case: --fuel-limit x the rate of each worker tried (one "
            "segment each).",
            show_default=False,
        ),
    ] = None,
    silence: SilenceOpt = None,
    gateway: GatewayOpt = None,
) -> None:
    """Run a Wasm job on workers from the DHT: verify, pay, write its output.

    The outcome (cost, workers, verdict, fuel) goes to stderr, as JSON with --json.
    Exit codes: 6 no workers, 7 over budget, 8 results rejected, 9 invalid module,
    10 unfinished (--checkpoint-every: resume it with `ccnet job resume`).
    """
    from ..requester import DEFAULT_FUEL_LIMIT

    cli = CliContext.of(ctx)
    cli.console = cli.err_console  # stdout carries the job's output and nothing else
    with cli.errors():
        if checkpoint_every is not None:
            check_checkpoint_options(verify, redundancy, proof)
        if proof is not None and proof not in JOB_CIRCUITS:
            raise UsageError(f"--proof {proof!r}: choose one of {', '.join(JOB_CIRCUITS)}")
        if verify is VerifyMode.PROOF and proof is None:
            raise UsageError("--verify proof needs --proof CIRCUIT")
        budget = parse_amount(max_cost)
        if budget <= 0:
            raise UsageError("--max-cost must be more than zero")
        locked = parse_amount(deposit)
        if locked <= 0:
            raise UsageError("--deposit must be more than zero")
        check_output(output)
        data = read_input(input_)
        job = _JobArgs(
            wasm=read_module(module),
            input=data,
            args=tuple(arg or ()),
            output=output,
            redundancy=redundancy,
            verify=verify.value,
            proof=proof,
            max_cost=budget,
            fuel_limit=fuel_limit if fuel_limit is not None else DEFAULT_FUEL_LIMIT,
            deposit=locked,
            timeout=timeout,
            bootstrap=parse_bootstrap_options(dht_bootstrap),
            state_dir=state_dir,
            close_channels=close_channels,
            dht_host=check_bind_host("--dht-host", dht_host),
            peer=peer_config_from_options(ice_network, ice_server, ice_username, ice_credential),
        )
        check_fits(job.wasm, job.input, job.args, job.fuel_limit)
        signer = cli.keypair(key)
        chain = cli.chain()
        _quiet_dht_logs(cli)
        if checkpoint_every is not None:
            start = _Start(
                module.resolve(), checkpoint_every, _silence(silence), None, None, gateway
            )
            with cli.status("running the job with checkpoints..."):
                done = asyncio.run(_run_checkpointed(cli, chain, signer, job, start))
            _finish_checkpointed(cli, job, done)
            return
        with cli.status("running the job..."):
            outcome, worst, closed, where = asyncio.run(_run_job(cli, chain, signer, job))
        if not outcome.verified or outcome.output is None:
            dissent = outcome.dissenters
            raise ResultsRejectedError(
                "no result accepted, none paid (a passed spot check may have been): "
                f"{_reason(outcome)}" + (f" (dissenting: {', '.join(dissent)})" if dissent else ""),
                dissenting=dissent,
            )
        destination = _write_output(job.output, outcome.output, where / "outputs")
        summary = _outcome_json(outcome, job, worst, destination, len(closed))
        cli.emit(summary, human=lambda: _render_outcome(cli, summary))


async def _run_job(
    cli: CliContext, chain: Chain, signer: Keypair, job: _JobArgs
) -> tuple[TaskOutcome, int, list[Receipt], Path]:
    from ..requester import ChannelFundsError, NoWorkersError, Requester
    from ..requester.verdicts import plan_verification

    async with Requester(
        chain,
        signer,
        dht_bootstrap=job.bootstrap,
        state_dir=job.state_dir,
        deposit_per_channel=job.deposit,
        job_timeout=job.timeout,
        default_fuel_limit=job.fuel_limit,
        # Without a price cap a worker could announce any rate and, ranked first by
        # quality, claim the whole fuel limit at it.
        max_price=job.max_cost // job.fuel_limit,
        peer_config=job.peer,
        dht_host=job.dht_host,
    ) as requester:
        async with _discovery_deadline():
            offers = await requester.find_workers(TASK_TYPE)
            pricier = [] if offers else await requester.find_workers(TASK_TYPE, max_price=_U64_MAX)
        if not offers:
            if pricier:  # there are workers, but none whose rate fits one job in the budget
                cheapest = min(offer.price_planck_per_fuel for offer in pricier)
                raise BudgetExceededError(
                    f"no worker's rate fits one job in --max-cost {format_cc(job.max_cost)}: "
                    f"the cheapest asks {cheapest:,} planck per fuel, up to "
                    f"{format_cc(cheapest * job.fuel_limit)} for {job.fuel_limit:,} fuel; "
                    "nothing was sent: lower --fuel-limit or raise --max-cost",
                    worst_planck=cheapest * job.fuel_limit,
                    budget_planck=job.max_cost,
                )
            raise NoWorkersError(TASK_TYPE, job.redundancy or 1, 0)
        # The plan submit() will make (minus its random spot-check draw, counted in the
        # worst case): how many of the ranked offers run the job.
        plan = plan_verification(
            job.verify, offers[0].policy, redundancy=job.redundancy, proof=job.proof
        )
        if len(offers) < plan.redundancy:
            raise NoWorkersError(TASK_TYPE, plan.redundancy, len(offers))
        chosen = offers[: plan.redundancy]
        worst = worst_case_planck(chosen, job.fuel_limit, spot_check=job.verify == "auto")
        if worst > job.max_cost:
            raise BudgetExceededError(
                f"the job may cost up to {format_cc(worst)} ({plan.redundancy} worker(s) x "
                f"{job.fuel_limit:,} fuel at their rates), more than --max-cost "
                f"{format_cc(job.max_cost)}; nothing was sent: lower --fuel-limit or "
                "--redundancy, or raise --max-cost",
                worst_planck=worst,
                budget_planck=job.max_cost,
            )
        cli.info(
            f"running on {len(chosen)} worker(s), verify {job.verify}, "
            f"worst case {format_cc(worst)}"
        )
        try:
            outcome = await requester.submit(
                job.wasm,
                job.input,
                args=job.args,
                redundancy=job.redundancy,
                verify=job.verify,
                proof=job.proof,
                fuel_limit=job.fuel_limit,
                workers=chosen,
            )
        except ChannelFundsError as err:
            raise UserError(str(err), hint="raise --deposit or lower --fuel-limit") from None
        closed = await requester.close_channels() if job.close_channels else []
        return outcome, worst, closed, requester.state_dir


def _reason(outcome: TaskOutcome) -> str:
    reason = getattr(outcome.verification, "reason", "")
    return reason or "the workers' results disagree"


def _hex(value: bytes | None) -> str | None:
    return None if value is None else "0x" + value.hex()


def _outcome_json(
    outcome: TaskOutcome, job: _JobArgs, worst: int, destination: str, closed: int
) -> dict[str, Any]:
    verification = outcome.verification
    return {
        "task_id": outcome.task_id,
        "module_hash": _hex(outcome.module_hash),
        "input_bytes": len(job.input),
        "output": destination,
        "output_bytes": len(outcome.output or b""),
        "output_hash": _hex(outcome.output_hash),
        "verification": {
            "status": verification.status,
            "method": getattr(verification, "method", None),
            "agreeing": list(getattr(verification, "agreeing", ())),
            "dissenting": list(outcome.dissenters),
            "proof": getattr(verification, "proof", None),
        },
        "fuel_used": outcome.fuel_used,
        "cost_planck": outcome.cost_planck,
        "worst_case_planck": worst,
        "max_cost_planck": job.max_cost,
        "workers": [
            {
                "address": worker,
                "status": report.status,
                "fuel_used": report.fuel_used,
                "rate_planck_per_fuel": report.rate_planck_per_fuel,
                "paid_planck": report.paid,
                "elapsed_ms": report.elapsed_ms,
                "reason": report.reason,
                "payment_error": report.payment_error,
            }
            for worker, report in outcome.results.items()
        ],
        "spot_checks": [
            {"worker": s.worker, "passed": s.passed, "paid_planck": s.paid, "reason": s.reason}
            for s in outcome.spot_checks
        ],
        "channels_closed": closed,
    }


def _render_outcome(cli: CliContext, data: dict[str, Any]) -> Any:
    from rich.console import Group

    v = data["verification"]
    verdict = v["status"]
    if v["method"]:
        verdict += f" ({v['method']}: {len(v['agreeing'])} agreeing"
        verdict += f", {len(v['dissenting'])} dissenting)" if v["dissenting"] else ")"
    if v["proof"]:
        verdict += f", proof {v['proof']}"
    summary = cli.table(
        "Job",
        [
            ("verification", verdict),
            ("cost", format_cc(data["cost_planck"])),
            ("fuel", f"{data['fuel_used']:,}"),
            ("output", f"{data['output_bytes']:,} bytes to {data['output']}"),
            ("task id", data["task_id"]),
            ("channels closed", data["channels_closed"]),
        ],
    )
    workers = cli.table(
        "Workers",
        [
            (
                w["address"],
                w["status"],
                f"{w['fuel_used']:,}",
                format_cc(w["paid_planck"]),
                w["payment_error"] or w["reason"],
            )
            for w in data["workers"]
        ],
        header=("worker", "status", "fuel", "paid", "note"),
    )
    return Group(summary, workers)


# --- jobs with VM checkpoints: ccnet job run --checkpoint-every, ccnet job resume ----------

JOBS_DIR = "jobs"
"""Folder of the job files in the requester's state dir."""

SilenceOpt = Annotated[
    float | None,
    typer.Option(
        min=1.0,
        help="With checkpoints: seconds without a heartbeat after which a worker is "
        "taken for lost [default: the SDK's DEFAULT_SILENCE_S, 45].",
        show_default=False,
    ),
]


def _silence(value: float | None) -> float:
    from ..requester import DEFAULT_SILENCE_S

    return DEFAULT_SILENCE_S if value is None else value


def check_checkpoint_options(verify: VerifyMode, redundancy: int | None, proof: str | None) -> None:
    """:class:`UsageError` unless ``--verify``, ``--redundancy`` and ``--proof`` are at
    their defaults: a job with checkpoints runs on one worker at a time, and its final
    result is checked by its signature and binding only."""
    given = [
        name
        for name, off in (
            ("--verify", verify is not VerifyMode.AUTO),
            ("--redundancy", redundancy is not None),
            ("--proof", proof is not None),
        )
        if off
    ]
    if given:
        raise UsageError(
            f"{', '.join(given)} cannot go with --checkpoint-every: a job with checkpoints "
            "runs on one worker at a time and its final result is checked by its "
            "signature and binding to the request"
        )


def job_file_path(state_dir: Path, task_id: int) -> Path:
    """Where the job file of *task_id* lives in *state_dir*."""
    return state_dir / JOBS_DIR / f"{task_id:016x}.json"


@dataclass(frozen=True)
class _Start:
    module_path: Path
    every: int
    silence: float
    record: JobFile | None
    """The job file read by ``resume`` (None: a new job)."""
    path: Path | None
    """Its path."""
    gateway: str | None = None
    """The Arweave gateway the images are opened through at settlement (None: the
    default, ``$CCNET_ARWEAVE_URL`` else arlocal's)."""


@dataclass(frozen=True)
class _Done:
    outcome: CheckpointedOutcome
    job: CheckpointedJob
    worst: int
    path: Path
    closed: int
    state_dir: Path
    prior: int
    """Segments run by an earlier invocation."""


class _Saver:
    """Writes the job file (atomically, fsynced, mode 0600) whenever told."""

    def __init__(self, path: Path, record: JobFile) -> None:
        self.path = path
        self.record = record

    def save(self) -> None:
        from ..requester.jobfile import dumps

        try:
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            write_durably(self.path, dumps(self.record))  # mkstemp: mode 0600
            os.chmod(self.path, 0o600)
        except OSError as err:
            raise UserError(f"cannot write the job file {self.path} ({err.strerror})") from None

    def save_quietly(self) -> None:
        """:meth:`save` from a callback, where an error can only be logged."""
        try:
            self.save()
        except UserError as err:
            logging.getLogger(__name__).warning("%s", err)


def _resume_command(path: Path, state_dir: Path | None) -> str:
    command = f"ccnet job resume {path}"
    return command + (f" --state-dir {state_dir}" if state_dir is not None else "")


async def _run_checkpointed(
    cli: CliContext, chain: Chain, signer: Keypair, job: _JobArgs, start: _Start
) -> _Done:
    from ..jobs.billing import price
    from ..jobs.catalogue import module_hash
    from ..requester import ChannelFundsError, ImageUnavailableError, NoWorkersError, Requester
    from ..requester.jobfile import OPEN, SETTLED, SETTLING
    from ..requester.jobfile import JobFile as Record

    async with Requester(
        chain,
        signer,
        dht_bootstrap=job.bootstrap,
        state_dir=job.state_dir,
        deposit_per_channel=job.deposit,
        job_timeout=job.timeout,
        default_fuel_limit=job.fuel_limit,
        max_price=job.max_cost // job.fuel_limit,
        peer_config=job.peer,
        dht_host=job.dht_host,
    ) as requester:
        if start.record is None:
            plain = requester.checkpointed_job(
                job.wasm,
                job.input,
                every_fuel=start.every,
                args=job.args,
                fuel_limit=job.fuel_limit,
            )
            record = Record(
                module_hash=module_hash(job.wasm),
                module_path=str(start.module_path),
                requester=requester.address,
                job=plain,
                state_dir=str(requester.state_dir.resolve()),
            )
        else:
            record = start.record
            started = record.state_dir
            if started and Path(started).resolve() != requester.state_dir.resolve():
                raise UserError(
                    f"the job was started from the state dir {started}, whose channels "
                    "pay it and whose marker keeps it from being settled twice: it is "
                    "resumed from there only",
                    hint=f"give --state-dir {started}",
                )
        task_id = record.job.base.task_id
        assert task_id is not None
        path = start.path or job_file_path(requester.state_dir, task_id)
        # The job file's own state can be copied or edited; this marker in the state
        # dir (whose channels pay) cannot be undone by editing the file.
        marker = job_file_path(requester.state_dir, task_id).with_suffix(".settling")
        if marker.exists():
            raise UserError(
                f"task {task_id:016x} was settled (or was being settled) from this state "
                "dir: it is not run or paid again",
                hint=f"{marker} marks it; its payments are in the channel store",
            )
        saver = _Saver(path, record)
        durable = record.job
        durable.on_change = saver.save_quietly  # after every checkpoint and segment
        saver.save()
        prior = len(durable.segments)
        worst = 0
        if durable.result is None:
            async with _discovery_deadline():
                offers = await requester.find_workers(TASK_TYPE)
            if not offers:
                raise NoWorkersError(TASK_TYPE, 1, 0)
            chosen: list[WorkerOffer] = []
            for offer in offers:  # one segment each at most, within the budget
                cost = price(job.fuel_limit, offer.price_planck_per_fuel)
                if worst + cost <= job.max_cost:
                    chosen.append(offer)
                    worst += cost
            if not chosen:
                raise BudgetExceededError(
                    f"no worker fits one segment ({job.fuel_limit:,} fuel) in --max-cost "
                    f"{format_cc(job.max_cost)}; nothing was sent",
                    worst_planck=price(job.fuel_limit, offers[0].price_planck_per_fuel),
                    budget_planck=job.max_cost,
                )
            cli.info(
                f"running on up to {len(chosen)} worker(s) in turn, a checkpoint every "
                f"{start.every:,} fuel, worst case {format_cc(worst)}; job file {path}"
            )
            try:
                await requester.run_checkpointed(durable, chosen, silence=start.silence)
            except ChannelFundsError as err:
                raise UserError(str(err), hint="raise --deposit or lower --fuel-limit") from None
            finally:
                saver.save()
            if durable.result is None:
                raise JobUnfinishedError(
                    f"the job has no result: every worker tried was lost or failed "
                    f"({len(durable.segments)} segment(s), {len(durable.checkpoints)} "
                    f"checkpoint(s)); it is kept in {path}; continue it with: "
                    f"{_resume_command(path, job.state_dir)}",
                    job_file=str(path),
                )
        # at most once: marked before the first payment (see ccnet.client.requester.jobfile)
        saver.record = replace(saver.record, settled=SETTLING)
        saver.save()
        write_durably(marker, f"{task_id:016x}\n".encode())
        try:
            with _image_opener(chain, durable, requester.state_dir, start.gateway) as opener:
                outcome = await requester.settle_checkpointed(durable, open_image=opener.facts)
        except ImageUnavailableError as err:  # nothing paid: the job may be settled later
            saver.record = replace(saver.record, settled=OPEN)
            saver.save()
            marker.unlink()
            raise JobUnfinishedError(
                f"the job has its result, but the checkpoint images it builds on cannot be "
                f"fetched to settle it ({err}); nothing was paid; it is kept in {path}; "
                f"settle it with: {_resume_command(path, job.state_dir)}",
                job_file=str(path),
            ) from None
        saver.record = replace(saver.record, settled=SETTLED, paid=outcome.paid, owed=outcome.owed)
        saver.save()
        closed = await requester.close_channels() if job.close_channels else []
        return _Done(outcome, durable, worst, path, len(closed), requester.state_dir, prior)


@contextmanager
def _image_opener(
    chain: Chain, job: CheckpointedJob, state_dir: Path, gateway: str | None
) -> Iterator[ImageOpener]:
    """What settling a checkpointed job opens its images with (the announcements are
    checked against them: ``docs/vm-checkpoints.md`` 8.1): a read-only
    :class:`~ccnet.storage.CheckpointStore` on *gateway* (default
    ``$CCNET_ARWEAVE_URL``, else arlocal's), caching in *state_dir*/checkpoints."""
    from ccnet.storage import CheckpointStore, LocalCache
    from ccnet.worker.checkpointing import ImageOpener

    with open_gateway(gateway, None) as client:
        store = CheckpointStore(chain, None, client, None, LocalCache(state_dir / "checkpoints"))
        yield ImageOpener(job, store)


def _reply_kind(segment: Segment) -> str:
    from ..jobs.messages import JobFailed, JobResult, JobSuspended

    reply = segment.reply
    if isinstance(reply, JobResult):
        return "result"
    if isinstance(reply, JobSuspended):
        return "suspended"
    if isinstance(reply, JobFailed):
        return f"failed: {reply.code}"
    return "lost"


def _checkpointed_json(job: _JobArgs, done: _Done, destination: str) -> dict[str, Any]:
    outcome = done.outcome
    segments = done.job.segments
    return {
        "task_id": done.job.base.task_id,
        "job_file": str(done.path),
        "module_hash": _hex(done.job.base.module_hash),
        "input_bytes": len(job.input),
        "output": destination,
        "output_bytes": len(outcome.output or b""),
        "verified": outcome.verified,
        "cost_planck": outcome.cost_planck,
        "owed_planck": sum(outcome.owed),
        "worst_case_planck": done.worst,
        "max_cost_planck": job.max_cost,
        "every_fuel": done.job.every_fuel,
        "checkpoints": len(outcome.checkpoints),
        "segments": [
            {
                "worker": s.worker,
                "earlier_run": number < done.prior,
                "reply": _reply_kind(s),
                "fuel_used": s.fuel_used,
                "rate_planck_per_fuel": s.request.rate_planck_per_fuel,
                "channel_id": _hex(s.request.channel_id),
                "resumed_from": None
                if s.resumed_from is None
                else s.resumed_from.checkpoint.checkpoint,
                "checkpoints": len(s.announced),
                "paid_planck": outcome.paid[number],
                "unpaid_reason": outcome.unpaid_reasons[number],
                "owed_planck": outcome.owed[number] if outcome.owed else 0,
            }
            for number, s in enumerate(segments)
        ],
        "channels_closed": done.closed,
    }


def _render_checkpointed(cli: CliContext, data: dict[str, Any]) -> Any:
    from rich.console import Group

    summary = cli.table(
        "Job (checkpointed)",
        [
            ("verification", "verified (final result's signature and binding)"),
            ("cost", format_cc(data["cost_planck"])),
            ("owed (debts)", format_cc(data["owed_planck"])),
            ("checkpoints", data["checkpoints"]),
            ("output", f"{data['output_bytes']:,} bytes to {data['output']}"),
            ("task id", data["task_id"]),
            ("job file", data["job_file"]),
        ],
    )
    segments = cli.table(
        "Segments",
        [
            (
                s["worker"],
                s["reply"],
                f"{s['fuel_used']:,}",
                format_cc(s["paid_planck"]),
                format_cc(s["owed_planck"]),
                s["unpaid_reason"],
            )
            for s in data["segments"]
        ],
        header=("worker", "ended", "fuel", "paid", "owed", "unpaid because"),
    )
    return Group(summary, segments)


def _finish_checkpointed(cli: CliContext, job: _JobArgs, done: _Done) -> None:
    outcome = done.outcome
    if not outcome.verified or outcome.output is None:
        raise ResultsRejectedError(
            f"the final result was not accepted, no segment paid: {outcome.reason}"
        )
    destination = _write_output(job.output, outcome.output, done.state_dir / "outputs")
    summary = _checkpointed_json(job, done, destination)
    cli.emit(summary, human=lambda: _render_checkpointed(cli, summary))


@app.command()
def resume(
    ctx: typer.Context,
    job_file: Annotated[
        Path,
        typer.Argument(
            exists=True,
            dir_okay=False,
            readable=True,
            help="The job file `job run --checkpoint-every` kept (state dir, jobs/).",
        ),
    ],
    key: KeyOpt,
    module: Annotated[
        Path | None,
        typer.Option(
            "--module",
            exists=True,
            dir_okay=False,
            readable=True,
            help="The job's module, if not at the path recorded (its hash must match).",
            show_default=False,
        ),
    ] = None,
    output: Annotated[
        str, typer.Option("--output", "-o", help="Where the job's stdout goes: a file, or - .")
    ] = STDIO,
    max_cost: Annotated[
        str,
        typer.Option(
            "--max-cost",
            help="Budget of this invocation, CC or planck: its worst case is the job's "
            "fuel limit x the rate of each worker tried (one segment each).",
        ),
    ] = DEFAULT_MAX_COST,
    deposit: Annotated[
        str,
        typer.Option(help="CC locked in each new channel to a worker (it must cover a segment)."),
    ] = DEFAULT_DEPOSIT,
    timeout: Annotated[
        float, typer.Option(min=1.0, help="Seconds to wait for each worker's reply.")
    ] = 120.0,
    silence: SilenceOpt = None,
    dht_bootstrap: BootstrapOpt = None,
    dht_host: DhtHostOpt = "127.0.0.1",
    ice_network: IceNetworkOpt = None,
    ice_server: IceServerOpt = None,
    ice_username: IceUsernameOpt = None,
    ice_credential: IceCredentialOpt = None,
    state_dir: Annotated[
        Path | None,
        typer.Option(
            help="The requester's state dir [default: the one the job was started from, "
            "recorded in the job file; it is resumed from there only].",
            show_default=False,
        ),
    ] = None,
    close_channels: Annotated[
        bool,
        typer.Option("--close-channels", help="Close the channels cooperatively afterwards."),
    ] = False,
    gateway: GatewayOpt = None,
) -> None:
    """Continue a job with VM checkpoints from its last checkpoint: settle, pay, write
    its output.

    Segments run earlier are paid too, once (as debts when their worker's channel cannot
    be reached now); a job file that was settled is refused. Exit codes as for `run`.
    """
    from ..requester.jobfile import loads, recorded_module_path

    cli = CliContext.of(ctx)
    cli.console = cli.err_console
    with cli.errors():
        try:
            data = job_file.read_bytes()
        except OSError as err:
            raise UsageError(f"cannot read {str(job_file)!r} ({err.strerror})") from None
        module_path = module if module is not None else Path(recorded_module_path(data))
        wasm = read_module(module_path)
        record = loads(data, wasm)
        record.check_resumable()
        budget = parse_amount(max_cost)
        locked = parse_amount(deposit)
        if budget <= 0 or locked <= 0:
            raise UsageError("--max-cost and --deposit must be more than zero")
        check_output(output)
        path = job_file.resolve()
        if state_dir is None and record.state_dir:
            state_dir = Path(record.state_dir)
        elif state_dir is None and path.parent.name == JOBS_DIR:
            state_dir = path.parent.parent
        base = record.job.base
        assert base.fuel_limit is not None
        job = _JobArgs(
            wasm=wasm,
            input=base.input,
            args=base.args,
            output=output,
            redundancy=None,
            verify=VerifyMode.AUTO.value,
            proof=None,
            max_cost=budget,
            fuel_limit=base.fuel_limit,
            deposit=locked,
            timeout=timeout,
            bootstrap=parse_bootstrap_options(dht_bootstrap),
            state_dir=state_dir,
            close_channels=close_channels,
            dht_host=check_bind_host("--dht-host", dht_host),
            peer=peer_config_from_options(ice_network, ice_server, ice_username, ice_credential),
        )
        signer = cli.keypair(key)
        if str(signer.ss58_address) != record.requester:
            raise UserError(
                f"the job was started by {record.requester}, not by this key "
                f"({signer.ss58_address}): its channels pay its segments",
                hint="give its key with --key",
            )
        chain = cli.chain()
        _quiet_dht_logs(cli)
        start = _Start(
            module_path.resolve(), record.job.every_fuel, _silence(silence), record, path, gateway
        )
        with cli.status("resuming the job..."):
            done = asyncio.run(_run_checkpointed(cli, chain, signer, job, start))
        _finish_checkpointed(cli, job, done)


# --- ccnet job workers --------------------------------------------------------------------


@app.command()
def workers(
    ctx: typer.Context, dht_bootstrap: BootstrapOpt = None, dht_host: DhtHostOpt = "127.0.0.1"
) -> None:
    """List the workers the DHT offers for Wasm jobs, best first.

    Only workers eligible on chain (registered, staked, not banned): address, endpoint,
    price (CC per fuel unit), speed (fuel/s), quality score and tier."""
    cli = CliContext.of(ctx)
    with cli.errors():
        nodes = parse_bootstrap_options(dht_bootstrap)
        check_bind_host("--dht-host", dht_host)
        chain = cli.chain()
        _quiet_dht_logs(cli)
        with cli.status("looking up the DHT..."):
            offers = asyncio.run(_find_offers(chain, nodes, dht_host))
    rows = [_offer_json(o) for o in offers]
    cli.emit(rows, human=lambda: _render_offers(cli, rows))


@asynccontextmanager
async def _discovery_deadline() -> AsyncIterator[None]:
    """Bound a DHT lookup by :data:`DISCOVERY_TIMEOUT_S`; :class:`NoWorkersFoundError` after."""
    try:
        async with asyncio.timeout(DISCOVERY_TIMEOUT_S):
            yield
    except TimeoutError:
        raise NoWorkersFoundError(
            f"the DHT lookup for workers did not finish in {DISCOVERY_TIMEOUT_S:.0f} s"
        ) from None


async def _find_offers(
    chain: Chain, nodes: Sequence[tuple[str, int]], host: str = "127.0.0.1"
) -> list[WorkerOffer]:
    """Offers as :meth:`Requester.find_workers` ranks them, with a fresh quality tracker
    (this run has observed no worker yet) and no key."""
    from ..net.bootstrap import join
    from ..net.dht import CapabilityDirectory, DhtNode
    from ..requester.discovery import discover, rank_offers
    from ..requester.quality import QualityTracker

    dht = DhtNode()
    await dht.start(host=host)
    try:
        await join(dht, chain, nodes)
        directory = CapabilityDirectory(dht)
        try:
            async with _discovery_deadline():
                found = await discover(directory, chain, TASK_TYPE)
        finally:
            await directory.close()
    finally:
        await dht.close()
    return rank_offers(found, QualityTracker(), now_ms())


def _offer_json(offer: WorkerOffer) -> dict[str, Any]:
    score = offer.score
    return {
        "address": offer.address,
        "endpoint": offer.endpoint,
        "task_type": offer.task_type,
        "price_planck_per_fuel": offer.price_planck_per_fuel,
        "speed_fuel_per_s": offer.min_speed,
        "stake_planck": offer.stake,
        "quality_score": score.total,
        "quality": {
            "uptime": score.uptime,
            "latency": score.latency,
            "consistency": score.consistency,
            "capacity": score.capacity,
            "reliability": score.reliability,
        },
        "tier": offer.tier.value,
        "reputation": {
            "completed": offer.reputation.completed,
            "failed": offer.reputation.failed,
            "disputed": offer.reputation.disputed,
            "slashed": offer.reputation.slashed,
            "value_earned_planck": offer.reputation.value_earned,
            "distinct_requesters": offer.reputation.distinct_requesters,
        },
    }


def _render_offers(cli: CliContext, rows: list[dict[str, Any]]) -> Any:
    if not rows:
        return "no eligible worker found in the DHT"
    return cli.table(
        "Workers",
        [
            (
                r["address"],
                r["endpoint"],
                format_cc(r["price_planck_per_fuel"]) + " / fuel",
                f"{r['speed_fuel_per_s']:,} fuel/s",
                f"{r['quality_score']:.2f}",
                r["tier"],
            )
            for r in rows
        ],
        header=("address", "endpoint", "price", "speed", "quality", "tier"),
    )
