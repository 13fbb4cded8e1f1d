"""``ccnet task post|status``: post a task with a bounty, and follow it."""

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
    """Post a task, holding the bounty until it completes or expires."""
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
            rows = [
                ("status", task.status + (f" ({task.result_hash})" if task.result_hash else "")),
                ("requester", task.requester),
                ("type", task.task_type.decode(errors="replace")),
                ("input", task.input_ref.decode(errors="replace")),
                ("output spec", task.output_spec.decode(errors="replace")),
                ("bounty", format_cc(task.bounty)),
                ("deadline", f"block {task.deadline}"),
                ("claims", f"{task.claims}/{task.redundancy}"),
                ("open disputes", task.open_disputes),
            ]
            claims = cli.table(
                "Claims",
                [
                    (
                        a.worker,
                        a.result_hash or "-",
                        a.fuel_used or "-",
                        "yes" if a.disputed else "",
                    )
                    for a in assignments
                ],
                header=("worker", "result hash", "fuel", "disputed"),
            )
            parts: list[Table] = [cli.table(f"Task {task_id}", rows)]
            if assignments:
                parts.append(claims)
            return Group(*parts)

        cli.emit(data, human=render)
