"""Jobs with VM checkpoints from the shell: ``ccnet job run --checkpoint-every`` (its
flow, :func:`run_checkpointed`) and ``ccnet job resume`` (``docs/vm-checkpoints.md``
section 8).

The job runs on one worker at a time
(:meth:`~ccnet.client.requester.Requester.run_checkpointed`), is kept in a job file,
``<state dir>/jobs/<task id, 16 hex>.json`` (:mod:`ccnet.client.requester.jobfile`:
mode 0600, rewritten atomically after every checkpoint announced and every segment's
end), and is settled once (:meth:`~ccnet.client.requester.Requester.settle_checkpointed`,
the images the result builds on opened through ``--gateway``): a marker beside the job
file in the state dir it was started from, written before the first payment, refuses a
second settlement, and the job is resumed from that state dir only.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ..exceptions import (
    BudgetExceededError,
    JobUnfinishedError,
    ResultsRejectedError,
    UsageError,
    UserError,
)
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

if TYPE_CHECKING:
    from ccnet.worker.checkpointing import ImageOpener

    from ..chain import Chain
    from ..keys import Keypair
    from ..requester.discovery import WorkerOffer
    from ..requester.jobfile import JobFile
    from ..requester.migration import CheckpointedJob, CheckpointedOutcome, Segment

from .job_inputs import (
    DEFAULT_DEPOSIT,
    DEFAULT_MAX_COST,
    STDIO,
    TASK_TYPE,
    BootstrapOpt,
    JobArgs,
    VerifyMode,
    check_output,
    discovery_deadline,
    hex_or_none,
    parse_bootstrap_options,
    quiet_dht_logs,
    read_module,
    write_output,
)

__all__ = [
    "JOBS_DIR",
    "CheckpointStart",
    "SilenceOpt",
    "check_checkpoint_options",
    "finish_checkpointed",
    "job_file_path",
    "resume",
    "run_checkpointed",
    "silence_s",
]


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


def silence_s(value: float | None) -> float:
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
class CheckpointStart:
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


async def run_checkpointed(
    cli: CliContext, chain: Chain, signer: Keypair, job: JobArgs, start: CheckpointStart
) -> _Done:
    from ..jobs.billing import price
    from ..jobs.catalogue import module_hash
    from ..requester import ChannelFundsError, ImageUnavailableError, NoWorkersError, Requester
    from ..requester.jobfile import SETTLED, SETTLING
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
        # the images are opened through the gateway: a resume refused as "malformed" is
        # checked (and the image discarded when it is not this job's), and at settlement
        # every announcement the result builds on is checked against its image
        opened = _image_opener(chain, durable, requester.state_dir, start.gateway)
        with opened as opener:
            if durable.result is None:
                async with discovery_deadline():
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
                    await requester.run_checkpointed(
                        durable, chosen, silence=start.silence, open_image=opener.facts
                    )
                except ChannelFundsError as err:
                    hint = "raise --deposit or lower --fuel-limit"
                    raise UserError(str(err), hint=hint) from None
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

            def mark_settling() -> None:
                # at most once: marked, durably, after the claims are known (the images
                # fetched and opened) and before the first payment (ccnet.client.requester.jobfile)
                saver.record = replace(saver.record, settled=SETTLING)
                saver.save()
                write_durably(marker, f"{task_id:016x}\n".encode())

            try:
                outcome = await requester.settle_checkpointed(
                    durable, open_image=opener.facts, before_paying=mark_settling
                )
            except ImageUnavailableError as err:  # nothing marked, nothing paid
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


def _checkpointed_json(job: JobArgs, done: _Done, destination: str) -> dict[str, Any]:
    outcome = done.outcome
    segments = done.job.segments
    return {
        "task_id": done.job.base.task_id,
        "job_file": str(done.path),
        "module_hash": hex_or_none(done.job.base.module_hash),
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
                "channel_id": hex_or_none(s.request.channel_id),
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


def finish_checkpointed(cli: CliContext, job: JobArgs, done: _Done) -> None:
    outcome = done.outcome
    if not outcome.verified or outcome.output is None:
        raise ResultsRejectedError(
            f"the final result was not accepted, no segment paid: {outcome.reason}"
        )
    destination = write_output(job.output, outcome.output, done.state_dir / "outputs")
    summary = _checkpointed_json(job, done, destination)
    cli.emit(summary, human=lambda: _render_checkpointed(cli, summary))


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
        job = JobArgs(
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
        quiet_dht_logs(cli)
        start = CheckpointStart(
            module_path.resolve(), record.job.every_fuel, silence_s(silence), record, path, gateway
        )
        with cli.status("resuming the job..."):
            done = asyncio.run(run_checkpointed(cli, chain, signer, job, start))
        finish_checkpointed(cli, job, done)
