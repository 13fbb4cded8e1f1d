"""``ccnet task post|status|finalize|reap``: post a task with a bounty, follow it, settle it.

Workers commit, then reveal their results (``pallets/tasks`` crate docs); after
``deadline + RevealPeriod + ChallengeWindow`` anyone may ``finalize`` (the strict
majority of the revealed results is paid); ``reap`` removes the record ``TaskRetention``
blocks later and returns the requester's ``TaskDeposit``."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Group
from rich.table import Table

from ..exceptions import NotFoundError, UserError
from ._common import CliContext, KeyOpt, format_cc, parse_amount

__all__ = ["app"]

app = typer.Typer(help="Post tasks and follow them.", no_args_is_help=True)


@app.command()
def post(
    ctx: typer.Context,
    input_ref: Annotated[
        str, typer.Option("--input", help="Reference to the input (e.g. ar://TXID), <= 4096 bytes.")
    ],
    bounty: Annotated[str, typer.Option(help="Bounty: CC (10, 2.5CC) or planck (500planck).")],
    key: KeyOpt,
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


@app.command()
def finalize(ctx: typer.Context, task_id: TaskArg, key: KeyOpt) -> None:
    """Pay the majority of the revealed results, or refund (anyone, after the window)."""
    cli = CliContext.of(ctx)
    with cli.errors():
        signer = cli.keypair(key)
        chain = cli.chain()
        with cli.status("finalizing..."):
            receipt = chain.tasks.finalize(signer, task_id)
        events = {e.name: e.attributes for e in receipt.events if e.pallet == "Tasks"}
        forfeited = [
            e.attributes
            for e in receipt.events
            if (e.pallet, e.name) == ("Tasks", "ClaimForfeited")
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
        cli.emit(data, human=human)


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
