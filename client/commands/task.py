"""``ccnet task post|list|status|accept|finalize|expire|cancel|reap``: post a task with a
bounty, follow it, settle it.

``post --module FILE --arg ...`` posts the job spec (:mod:`ccnet.client.jobs.jobspec`)
that runs a built-in job module with those arguments and empty stdin, which ``ccnet
worker run --tasks`` answers and a dispute's verifiers re-run; ``--input`` posts any
other reference as is.

Workers commit, then reveal their results (``pallets/tasks`` crate docs); after
``deadline + RevealPeriod + ChallengeWindow`` anyone may ``finalize`` (the strict
majority of the revealed results is paid); the requester may ``accept`` a unanimous,
fully revealed task before that; anyone may ``expire`` a task nobody revealed a result
for once its reveal period is over; ``reap`` removes the record ``TaskRetention`` blocks
later and returns the requester's ``TaskDeposit``; the requester may ``cancel`` a task
no worker has claimed yet (bounty and deposit back at once). Amounts are shown in CC,
and as planck integers with ``--json``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Group
from rich.table import Table

from ..events import Receipt
from ..exceptions import NotFoundError, UserError
from ..jobs.catalogue import module_hash
from ..jobs.jobspec import JobSpec
from ..pallets.tasks import TaskInfo, TaskTimes
from ._common import CliContext, KeyOpt, format_cc, parse_amount, to_jsonable

__all__ = ["app"]

app = typer.Typer(help="Post tasks and follow them.", no_args_is_help=True)


@app.command()
def post(
    ctx: typer.Context,
    bounty: Annotated[str, typer.Option(help="Bounty: CC (10, 2.5CC) or planck (500planck).")],
    key: KeyOpt,
    input_ref: Annotated[
        str | None,
        typer.Option(
            "--input",
            help="Reference to the input (e.g. ar://TXID), <= 4096 bytes; or give --module.",
            show_default=False,
        ),
    ] = None,
    module: Annotated[
        Path | None,
        typer.Option(
            help="A Wasm job module workers carry (a built-in job): post a job spec that "
            "runs it with --arg and empty stdin, so `ccnet worker run --tasks` answers it.",
            exists=True,
            dir_okay=False,
            show_default=False,
        ),
    ] = None,
    arg: Annotated[
        list[str] | None,
        typer.Option(
            "--arg", help="An argument of the --module run (repeatable).", show_default=False
        ),
    ] = None,
    task_type: Annotated[str, typer.Option("--type", help="Capability a worker needs.")] = "wasm",
    output_spec: Annotated[str, typer.Option(help="What the result must be.")] = "sha256",
    deadline_in: Annotated[
        int, typer.Option(min=1, help="Deadline, in blocks from the current one.")
    ] = 100,
    redundancy: Annotated[int, typer.Option(min=1, max=7, help="Workers to run it.")] = 1,
) -> None:
    """Post a task, holding the bounty (and the task deposit) until it is finalized."""
    cli = CliContext.of(ctx)
    with cli.errors():
        amount = parse_amount(bounty)
        if amount <= 0:
            raise UserError("the bounty must be more than zero")
        input_ref = _input_ref(input_ref, module, arg or [])
        signer = cli.keypair(key)
        chain = cli.chain()
        with cli.status("posting the task..."):
            deadline = chain.block_number() + deadline_in
            receipt = chain.tasks.post_task(
                signer, task_type, input_ref, output_spec, amount, deadline, redundancy
            )
        task_id = chain.tasks.posted_task_id(receipt)
        data = {
            "task_id": task_id,
            "requester": str(signer.ss58_address),
            "bounty": amount,
            "deadline": deadline,
            "block_hash": receipt.block_hash,
            "extrinsic_hash": receipt.extrinsic_hash,
            "fee": receipt.fee,
        }
        cli.emit(
            data,
            human=lambda: cli.table(
                f"Posted task {task_id}",
                [
                    ("task id", task_id),
                    ("bounty", format_cc(amount)),
                    ("deadline", f"block {deadline}"),
                    ("block", receipt.block_hash),
                    ("fee", format_cc(receipt.fee)),
                ],
            ),
        )


def _input_ref(input_ref: str | None, module: Path | None, args: list[str]) -> str:
    """The task's ``input_ref``: *input_ref* as given, or the job spec (its canonical
    JSON) that runs *module* with *args* and empty stdin; :class:`UserError` unless
    exactly one is given, or for --arg without --module."""
    if (input_ref is None) == (module is None):
        raise UserError("give either --input or --module")
    if module is None:
        if args:
            raise UserError("--arg needs --module")
        assert input_ref is not None
        return input_ref
    spec = JobSpec.inline(module_hash(module.read_bytes()), b"", tuple(args))
    return spec.encode().decode()


def _listed(task: TaskInfo, times: TaskTimes) -> dict[str, Any]:
    return {
        **to_jsonable(task),
        "reveal_ends": times.reveal_ends(task),
        "challenge_ends": times.challenge_ends(task),
    }


@app.command("list")
def list_(
    ctx: typer.Context,
    requester: Annotated[
        str | None,
        typer.Option(
            help="Only tasks posted by this account (address, keystore name or dev URI).",
            show_default=False,
        ),
    ] = None,
    worker: Annotated[
        str | None,
        typer.Option(help="Only tasks this account holds an open claim on.", show_default=False),
    ] = None,
    all_tasks: Annotated[
        bool,
        typer.Option("--all", help="Also finished tasks not reaped yet (default: open ones)."),
    ] = False,
) -> None:
    """List the tasks in chain storage, by id: bounty (CC; planck with --json), claims,
    deadline and the last block of the challenge window (`task status` for more)."""
    cli = CliContext.of(ctx)
    with cli.errors():
        requester_address = cli.address(requester) if requester else None
        worker_address = cli.address(worker) if worker else None
        chain = cli.chain()
        tasks = chain.tasks.tasks()
        if worker_address is not None:
            claimed = {a.task_id for a in chain.tasks.claims_of(worker_address)}
            tasks = [t for t in tasks if t.task_id in claimed]
        if requester_address is not None:
            tasks = [t for t in tasks if t.requester == requester_address]
        if not all_tasks:
            tasks = [t for t in tasks if t.status == "Open"]
        times = chain.tasks.times()
        data = {"head": chain.block_number(), "tasks": [_listed(t, times) for t in tasks]}

        def render() -> Any:
            if not tasks:
                return "no tasks" + ("" if all_tasks else " open (--all shows finished ones)")
            rows = [
                (
                    t.task_id,
                    t.status,
                    format_cc(t.bounty),
                    f"{t.claims}/{t.redundancy}",
                    t.deadline,
                    times.challenge_ends(t),
                )
                for t in tasks
            ]
            header = ("id", "status", "bounty", "claims", "deadline", "window ends")
            return cli.table(f"Tasks at block {data['head']}", rows, header=header)

        cli.emit(data, human=render)


@app.command()
def status(
    ctx: typer.Context, task_id: Annotated[int, typer.Argument(min=0, help="Task id.")]
) -> None:
    """Show a task and the claims of its workers (exit code 4 if there is no such task)."""
    cli = CliContext.of(ctx)
    with cli.errors():
        chain = cli.chain()
        task = chain.tasks.task(task_id)
        if task is None:
            raise NotFoundError(f"no task {task_id} on the chain (ids start at 0)")
        assignments = chain.tasks.assignments(task_id)
        data = {"task": task, "assignments": assignments}

        def render() -> Group:
            times = chain.tasks.times()
            rows = [
                ("status", task.status + (f" ({task.result_hash})" if task.result_hash else "")),
                ("requester", task.requester),
                ("type", task.task_type.decode(errors="replace")),
                ("input", task.input_ref.decode(errors="replace")),
                ("output spec", task.output_spec.decode(errors="replace")),
                ("bounty", format_cc(task.bounty)),
                ("deadline", f"block {task.deadline}"),
                ("claims", f"{task.claims}/{task.redundancy}"),
                ("committed", task.commits),
                ("revealed", task.reveals),
                ("reveals until", f"block {times.reveal_ends(task)}"),
                ("finalize after", f"block {times.challenge_ends(task)}"),
                ("open disputes", task.open_disputes),
            ]
            claims = cli.table(
                "Claims",
                [
                    (
                        a.worker,
                        "yes" if a.committed else "no",
                        a.result_hash or "-",
                        a.fuel_used or "-",
                        "yes" if a.disputed else "",
                    )
                    for a in assignments
                ],
                header=("worker", "committed", "revealed hash", "fuel", "disputed"),
            )
            parts: list[Table] = [cli.table(f"Task {task_id}", rows)]
            if assignments:
                parts.append(claims)
            return Group(*parts)

        cli.emit(data, human=render)


TaskArg = Annotated[int, typer.Argument(min=0, help="Task id.")]


def _settlement(task_id: int, receipt: Receipt) -> tuple[dict[str, Any], str]:
    """The JSON and the sentence for a receipt of ``finalize``, ``accept`` or ``expire``."""
    events = {e.name: e.attributes for e in receipt.events if e.pallet == "Tasks"}
    forfeited = [
        e.attributes for e in receipt.events if (e.pallet, e.name) == ("Tasks", "ClaimForfeited")
    ]
    data = {
        "task_id": task_id,
        "completed": events.get("TaskCompleted"),
        "unresolved": "TaskUnresolved" in events,
        "expired": "TaskExpired" in events,
        "forfeited": forfeited,
        "block_hash": receipt.block_hash,
        "fee": receipt.fee,
    }
    if "TaskCompleted" in events:
        paid = events["TaskCompleted"]
        human = (
            f"task {task_id} completed: {format_cc(int(paid['paid']))} to each of "
            f"{len(paid['workers'])} worker(s)"
        )
    elif "TaskUnresolved" in events:
        human = f"task {task_id}: no majority, the bounty went back to the requester"
    else:
        human = f"task {task_id}: no result revealed, the bounty went back"
    if forfeited:
        human += f"; {len(forfeited)} claim(s) never revealed forfeited part of their bond"
    return data, human


@app.command()
def finalize(ctx: typer.Context, task_id: TaskArg, key: KeyOpt) -> None:
    """Pay the majority of the revealed results, or refund (anyone, after the window)."""
    cli = CliContext.of(ctx)
    with cli.errors():
        signer = cli.keypair(key)
        chain = cli.chain()
        with cli.status("finalizing..."):
            receipt = chain.tasks.finalize(signer, task_id)
        data, human = _settlement(task_id, receipt)
        cli.emit(data, human=human)


@app.command()
def accept(
    ctx: typer.Context,
    task_id: TaskArg,
    key: KeyOpt,
    worker: Annotated[
        str | None,
        typer.Option(
            help="A worker whose revealed result is paid (default: the first that revealed).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Pay a task early, as its requester: only when every slot is revealed with one and
    the same result (otherwise `ccnet task finalize` after the challenge window)."""
    cli = CliContext.of(ctx)
    with cli.errors():
        signer = cli.keypair(key)
        chain = cli.chain()
        if worker is None:
            revealed = [a.worker for a in chain.tasks.assignments(task_id) if a.revealed]
            if not revealed:
                raise UserError(
                    f"task {task_id} has no revealed result to accept "
                    f"(`ccnet task status {task_id}`)"
                )
            chosen = revealed[0]
        else:
            chosen = cli.address(worker)
        with cli.status("accepting..."):
            receipt = chain.tasks.accept(signer, task_id, chosen)
        data, human = _settlement(task_id, receipt)
        cli.emit(data, human=human)


@app.command()
def expire(ctx: typer.Context, task_id: TaskArg, key: KeyOpt) -> None:
    """Refund a task nobody revealed a result for, once its reveal period is over
    (anyone); claims never revealed forfeit Tasks.NoRevealSlash to the requester."""
    cli = CliContext.of(ctx)
    with cli.errors():
        signer = cli.keypair(key)
        chain = cli.chain()
        with cli.status("expiring..."):
            receipt = chain.tasks.expire(signer, task_id)
        data, human = _settlement(task_id, receipt)
        cli.emit(data, human=human)


@app.command()
def cancel(ctx: typer.Context, task_id: TaskArg, key: KeyOpt) -> None:
    """Withdraw your task while no worker has claimed it: the bounty and the task
    deposit come back at once (after a claim it ends by accept, finalize or expire)."""
    cli = CliContext.of(ctx)
    with cli.errors():
        signer = cli.keypair(key)
        chain = cli.chain()
        with cli.status("cancelling..."):
            receipt = chain.tasks.cancel(signer, task_id)
        event = receipt.expect("Tasks", "TaskCancelled")
        bounty, deposit = int(event.attributes["bounty"]), int(event.attributes["deposit"])
        cli.emit(
            {
                "task_id": task_id,
                "bounty": bounty,
                "deposit": deposit,
                "block_hash": receipt.block_hash,
                "fee": receipt.fee,
            },
            human=lambda: cli.table(
                f"Task {task_id} cancelled",
                [
                    ("bounty released", format_cc(bounty)),
                    ("deposit released", format_cc(deposit)),
                    ("fee", format_cc(receipt.fee)),
                ],
            ),
        )


@app.command()
def reap(ctx: typer.Context, task_id: TaskArg, key: KeyOpt) -> None:
    """Remove a finished task's record and return the task deposit (anyone)."""
    cli = CliContext.of(ctx)
    with cli.errors():
        signer = cli.keypair(key)
        chain = cli.chain()
        with cli.status("reaping..."):
            receipt = chain.tasks.reap(signer, task_id)
        receipt.expect("Tasks", "TaskReaped")
        cli.emit(
            {"task_id": task_id, "block_hash": receipt.block_hash, "fee": receipt.fee},
            human=f"task {task_id} reaped; its deposit went back to the requester",
        )
