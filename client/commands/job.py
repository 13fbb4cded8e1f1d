"""``ccnet job run|resume|workers``: run a Wasm job on the market from the shell, without Python.

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

With ``--checkpoint-every FUEL`` the job runs with VM checkpoints on one worker at a
time, is kept in a job file and settled once; when no worker finishes it, ``run`` exits
with 10 and ``ccnet job resume JOBFILE`` continues it (:mod:`.job_checkpointed`).

The SDK has no hook on the bytes sent, so ``run`` shows no transfer progress; the
module and the input travel in one message each (at most
:data:`~ccnet.client.jobs.messages.MAX_MESSAGE_SIZE` bytes).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ..clock import now_ms
from ..exceptions import (
    BudgetExceededError,
    ResultsRejectedError,
    UsageError,
    UserError,
)
from ..jobs.proofs import JOB_CIRCUITS
from ._common import CliContext, KeyOpt, format_cc, parse_amount
from ._network import (
    DhtHostOpt,
    IceCredentialOpt,
    IceNetworkOpt,
    IceServerOpt,
    IceUsernameOpt,
    check_bind_host,
    peer_config_from_options,
)
from .checkpoint import GatewayOpt
from .job_checkpointed import (
    CheckpointStart,
    SilenceOpt,
    check_checkpoint_options,
    finish_checkpointed,
    job_file_path,
    resume,
    run_checkpointed,
    silence_s,
)
from .job_inputs import (
    DEFAULT_DEPOSIT,
    DEFAULT_MAX_COST,
    STDIO,
    TASK_TYPE,
    U64_MAX,
    BootstrapOpt,
    JobArgs,
    VerifyMode,
    check_fits,
    check_output,
    discovery_deadline,
    hex_or_none,
    parse_bootstrap_options,
    quiet_dht_logs,
    read_input,
    read_module,
    worst_case_planck,
    write_output,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

    from ..chain import Chain
    from ..events import Receipt
    from ..keys import Keypair
    from ..requester.discovery import WorkerOffer
    from ..requester.outcomes import TaskOutcome

__all__ = [
    "VerifyMode",
    "app",
    "check_checkpoint_options",
    "job_file_path",
    "parse_bootstrap_options",
    "worst_case_planck",
]

app = typer.Typer(
    help="Run Wasm jobs on workers found in the DHT, paid through payment channels.",
    no_args_is_help=True,
)

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
            max=U64_MAX,
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
            max=U64_MAX,
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
        job = JobArgs(
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
        quiet_dht_logs(cli)
        if checkpoint_every is not None:
            start = CheckpointStart(
                module.resolve(), checkpoint_every, silence_s(silence), None, None, gateway
            )
            with cli.status("running the job with checkpoints..."):
                done = asyncio.run(run_checkpointed(cli, chain, signer, job, start))
            finish_checkpointed(cli, job, done)
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
        destination = write_output(job.output, outcome.output, where / "outputs")
        summary = _outcome_json(outcome, job, worst, destination, len(closed))
        cli.emit(summary, human=lambda: _render_outcome(cli, summary))


async def _run_job(
    cli: CliContext, chain: Chain, signer: Keypair, job: JobArgs
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
        async with discovery_deadline():
            offers = await requester.find_workers(TASK_TYPE)
            pricier = [] if offers else await requester.find_workers(TASK_TYPE, max_price=U64_MAX)
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


def _outcome_json(
    outcome: TaskOutcome, job: JobArgs, worst: int, destination: str, closed: int
) -> dict[str, Any]:
    verification = outcome.verification
    return {
        "task_id": outcome.task_id,
        "module_hash": hex_or_none(outcome.module_hash),
        "input_bytes": len(job.input),
        "output": destination,
        "output_bytes": len(outcome.output or b""),
        "output_hash": hex_or_none(outcome.output_hash),
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


app.command()(resume)


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
        quiet_dht_logs(cli)
        with cli.status("looking up the DHT..."):
            offers = asyncio.run(_find_offers(chain, nodes, dht_host))
    rows = [_offer_json(o) for o in offers]
    cli.emit(rows, human=lambda: _render_offers(cli, rows))


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
            async with discovery_deadline():
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
