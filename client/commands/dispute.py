"""``ccnet dispute challenge|vote|resolve|status``: dispute a worker's result."""

from __future__ import annotations

from typing import Annotated

import typer

from ..codec import h256
from ..exceptions import NotFoundError, UserError
from ..pallets import DisputeInfo
from ._common import CliContext, KeyOpt, format_cc

__all__ = ["app"]

app = typer.Typer(help="Challenge results, vote as a verifier, resolve.", no_args_is_help=True)

DisputeArg = Annotated[int, typer.Argument(min=0, help="Dispute id.")]


def _rows(info: DisputeInfo) -> list[tuple[str, object]]:
    voted = dict(info.votes)
    return [
        ("task", info.task_id),
        ("worker", info.worker),
        ("challenger", info.challenger),
        ("stake", format_cc(info.stake)),
        ("claimed hash", info.claimed_hash),
        ("voting ends", f"block {info.voting_ends}"),
        *(
            (f"verifier {i + 1}", f"{v} {voted.get(v, '(no vote)')}")
            for i, v in enumerate(info.verifiers)
        ),
    ]


@app.command()
def challenge(
    ctx: typer.Context,
    task_id: Annotated[int, typer.Argument(min=0, help="Task id.")],
    worker: Annotated[str, typer.Argument(help="The worker's address, key name or dev URI.")],
    key: KeyOpt,
) -> None:
    """Dispute a worker's submitted result (holds Disputes.ChallengeStake)."""
    cli = CliContext.of(ctx)
    with cli.errors():
        signer = cli.keypair(key)
        worker_address = cli.address(worker)
        chain = cli.chain()
        with cli.status("opening the dispute..."):
            receipt = chain.disputes.challenge(signer, task_id, worker_address)
        opened = receipt.expect("Disputes", "DisputeOpened").attributes
        data = {**opened, "block_hash": receipt.block_hash, "fee": receipt.fee}
        cli.emit(
            data,
            human=lambda: cli.table(
                f"Opened dispute {opened['dispute_id']}",
                [
                    ("dispute id", opened["dispute_id"]),
                    ("verifiers", ", ".join(opened["verifiers"])),
                    ("voting ends", f"block {opened['voting_ends']}"),
                    ("fee", format_cc(receipt.fee)),
                ],
            ),
        )


@app.command()
def vote(
    ctx: typer.Context,
    dispute_id: DisputeArg,
    result_hash: Annotated[str, typer.Argument(help="Hash (0x + 64 hex) of your result.")],
    key: KeyOpt,
) -> None:
    """Vote, as a selected verifier, the hash of the result you computed."""
    cli = CliContext.of(ctx)
    with cli.errors():
        try:
            digest = h256(result_hash, "result hash")
        except ValueError as err:
            raise UserError(str(err)) from None
        signer = cli.keypair(key)
        chain = cli.chain()
        with cli.status("voting..."):
            receipt = chain.disputes.vote(signer, dispute_id, digest)
        voted = receipt.expect("Disputes", "Voted").attributes
        resolved = receipt.find("Disputes", "DisputeResolved")
        data = {
            "voted": voted,
            "resolved": resolved.attributes if resolved else None,
            "block_hash": receipt.block_hash,
            "fee": receipt.fee,
        }
        verdict = f"; dispute resolved: {resolved.attributes['verdict']}" if resolved else ""
        cli.emit(
            data,
            human=f"voted on dispute {dispute_id} "
            f"({'agrees' if voted['agrees'] else 'disagrees'} with the worker){verdict}",
        )


@app.command()
def resolve(ctx: typer.Context, dispute_id: DisputeArg, key: KeyOpt) -> None:
    """Resolve a dispute after its voting period (anyone may)."""
    cli = CliContext.of(ctx)
    with cli.errors():
        signer = cli.keypair(key)
        chain = cli.chain()
        with cli.status("resolving..."):
            receipt = chain.disputes.resolve(signer, dispute_id)
        resolved = receipt.expect("Disputes", "DisputeResolved").attributes
        cli.emit(
            {**resolved, "block_hash": receipt.block_hash, "fee": receipt.fee},
            human=f"dispute {dispute_id}: {resolved['verdict']}, "
            f"slashed {format_cc(int(resolved['slashed']))}",
        )


@app.command()
def status(
    ctx: typer.Context,
    dispute_id: Annotated[
        int | None, typer.Argument(min=0, help="Dispute id (or give --task and --worker).")
    ] = None,
    task_id: Annotated[int | None, typer.Option("--task", help="Task id.")] = None,
    worker: Annotated[str | None, typer.Option(help="Worker address, key or dev URI.")] = None,
) -> None:
    """Show an open dispute (exit code 4 if there is none: unknown or resolved)."""
    cli = CliContext.of(ctx)
    with cli.errors():
        chain = cli.chain()
        if dispute_id is None:
            if task_id is None or worker is None:
                raise UserError("give a DISPUTE_ID, or --task and --worker")
            found = chain.disputes.dispute_of(task_id, cli.address(worker))
            if found is None:
                raise NotFoundError(f"no open dispute over task {task_id} by {worker}")
            dispute_id = found
        info = chain.disputes.dispute(dispute_id)
        if info is None:
            raise NotFoundError(f"no open dispute {dispute_id} (unknown, or resolved already)")
        cli.emit(info, human=lambda: cli.table(f"Dispute {dispute_id}", _rows(info)))
