"""``ccnet dispute challenge|commit-vote|reveal-vote|reveal-expected|resolve|status|result-hash``.

The court (``pallets/disputes`` crate docs): a challenge holds a stake and may commit to
the result the challenger expects; verifiers are drawn ``DrawDelay`` blocks later among
staked workers; each commits to the hash of its own re-execution, then reveals it; the
challenger reveals its expected result in the same phase; the dispute resolves once
everything is revealed, or by ``resolve`` after the reveal phase. The salts of the
commitments are kept, before the extrinsic leaves, beside the keystore
(``court-secrets/<address>.json``), so the reveal commands find them.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ..codec import h256
from ..commitments import expected_commitment, new_salt, vote_commitment
from ..courtsecrets import ExpectedOpening, VoteOpening
from ..disputehistory import DEFAULT_SCAN_BLOCKS, DisputeRecord, ScanRange, find_dispute
from ..exceptions import CallEncodingError, NotFoundError, UserError
from ..jobs.results import output_hash
from ..pallets import DisputeInfo
from ._common import CliContext, KeyOpt, court_secrets, format_cc, to_jsonable

if TYPE_CHECKING:
    from ccnet.worker.sandbox import RunOutcome

__all__ = ["app"]

app = typer.Typer(
    help="Challenge results, commit and reveal votes as a drawn verifier, resolve.",
    no_args_is_help=True,
)

DisputeArg = Annotated[int, typer.Argument(min=0, help="Dispute id.")]


def _hash(value: str, what: str) -> bytes:
    try:
        return bytes.fromhex(h256(value, what)[2:])
    except CallEncodingError as err:
        raise UserError(f"{err} (give 0x and 64 hex digits)") from None


def _rows(info: DisputeInfo) -> list[tuple[str, object]]:
    voted = dict(info.votes)
    if info.drawing:
        phase = f"verifiers drawn at block {info.draw_at}"
    else:
        phase = f"commit until block {info.commit_ends}, reveal until block {info.reveal_ends}"
    return [
        ("task", info.task_id),
        ("worker", info.worker),
        ("challenger", info.challenger),
        ("stake", format_cc(info.stake)),
        ("claimed hash", info.claimed_hash),
        ("expected", info.expected_hash or ("(committed)" if info.expected else "-")),
        ("audit", "yes" if info.audit else "no"),
        ("phase", phase),
        *(
            (
                f"verifier {i + 1}",
                f"{v} {voted.get(v, '(committed)' if info.committed(v) else '(no vote)')}",
            )
            for i, v in enumerate(info.verifiers)
        ),
    ]


@app.command()
def challenge(
    ctx: typer.Context,
    task_id: Annotated[int, typer.Argument(min=0, help="Task id.")],
    worker: Annotated[str, typer.Argument(help="The worker's address, key name or dev URI.")],
    key: KeyOpt,
    expected: Annotated[
        str | None,
        typer.Option(help="The result hash you expect (0x + 64 hex); committed with a salt."),
    ] = None,
) -> None:
    """Dispute a worker's revealed result (holds Disputes.ChallengeStake, or the
    outsider stake for a stranger to the task)."""
    cli = CliContext.of(ctx)
    with cli.errors():
        signer = cli.keypair(key)
        worker_address = cli.address(worker)
        chain = cli.chain()
        commitment = None
        secrets = court_secrets(cli.settings, str(signer.ss58_address))
        opening = None
        if expected is not None:
            opening = ExpectedOpening(
                task_id, worker_address, _hash(expected, "expected"), new_salt()
            )
            commitment = expected_commitment(
                task_id, worker_address, opening.expected_hash, opening.salt
            )
            secrets.put_expected(opening)  # durable before the challenge leaves
        with cli.status("opening the dispute..."):
            receipt = chain.disputes.challenge(signer, task_id, worker_address, commitment)
        opened = receipt.expect("Disputes", "DisputeOpened").attributes
        if opening is not None:
            secrets.put_expected(
                ExpectedOpening(
                    task_id,
                    worker_address,
                    opening.expected_hash,
                    opening.salt,
                    int(opened["dispute_id"]),
                )
            )
        data = {**opened, "block_hash": receipt.block_hash, "fee": receipt.fee}
        cli.emit(
            data,
            human=lambda: cli.table(
                f"Opened dispute {opened['dispute_id']}",
                [
                    ("dispute id", opened["dispute_id"]),
                    ("stake", format_cc(int(opened["stake"]))),
                    ("verifiers drawn at", f"block {opened['draw_at']}"),
                    ("expected result", "committed" if commitment else "-"),
                    ("fee", format_cc(receipt.fee)),
                ],
            ),
        )


@app.command("commit-vote")
def commit_vote(
    ctx: typer.Context,
    dispute_id: DisputeArg,
    result_hash: Annotated[str, typer.Argument(help="Hash (0x + 64 hex) of your result.")],
    key: KeyOpt,
) -> None:
    """Commit, as a drawn verifier, to the hash of the result you computed."""
    cli = CliContext.of(ctx)
    with cli.errors():
        digest = _hash(result_hash, "result hash")
        signer = cli.keypair(key)
        address = str(signer.ss58_address)
        chain = cli.chain()
        secrets = court_secrets(cli.settings, address)
        opening = VoteOpening(dispute_id, digest, new_salt())
        secrets.put_vote(opening)  # durable before the commitment leaves
        commitment = vote_commitment(dispute_id, address, digest, opening.salt)
        with cli.status("committing the vote..."):
            receipt = chain.disputes.commit_vote(signer, dispute_id, commitment)
        receipt.expect("Disputes", "VoteCommitted")
        cli.emit(
            {"dispute_id": dispute_id, "block_hash": receipt.block_hash, "fee": receipt.fee},
            human=f"vote committed on dispute {dispute_id}; reveal it with "
            "`ccnet dispute reveal-vote` once the reveal phase opens",
        )


@app.command("reveal-vote")
def reveal_vote(ctx: typer.Context, dispute_id: DisputeArg, key: KeyOpt) -> None:
    """Reveal the vote you committed (its salt is kept by `commit-vote`)."""
    cli = CliContext.of(ctx)
    with cli.errors():
        signer = cli.keypair(key)
        secrets = court_secrets(cli.settings, str(signer.ss58_address))
        opening = secrets.vote(dispute_id)
        if opening is None:
            raise NotFoundError(f"no committed vote of this key is kept for dispute {dispute_id}")
        chain = cli.chain()
        with cli.status("revealing the vote..."):
            receipt = chain.disputes.reveal_vote(
                signer, dispute_id, opening.result_hash, opening.salt
            )
        revealed = receipt.expect("Disputes", "VoteRevealed").attributes
        resolved = receipt.find("Disputes", "DisputeResolved")
        secrets.drop_vote(dispute_id)
        data = {
            "revealed": revealed,
            "resolved": resolved.attributes if resolved else None,
            "block_hash": receipt.block_hash,
            "fee": receipt.fee,
        }
        verdict = f"; dispute resolved: {resolved.attributes['verdict']}" if resolved else ""
        cli.emit(
            data,
            human=f"vote revealed on dispute {dispute_id} "
            f"({'agrees' if revealed['agrees'] else 'disagrees'} with the worker){verdict}",
        )


@app.command("reveal-expected")
def reveal_expected(ctx: typer.Context, dispute_id: DisputeArg, key: KeyOpt) -> None:
    """Reveal, as the challenger, the expected result committed by `challenge --expected`."""
    cli = CliContext.of(ctx)
    with cli.errors():
        signer = cli.keypair(key)
        secrets = court_secrets(cli.settings, str(signer.ss58_address))
        opening = secrets.expected_for_dispute(dispute_id)
        if opening is None:
            raise NotFoundError(f"no expected result of this key is kept for dispute {dispute_id}")
        chain = cli.chain()
        with cli.status("revealing the expected result..."):
            receipt = chain.disputes.reveal_expected(
                signer, dispute_id, opening.expected_hash, opening.salt, opening.auditor_salt
            )
        shown = receipt.expect("Disputes", "ExpectedRevealed").attributes
        resolved = receipt.find("Disputes", "DisputeResolved")
        verdict = f"; dispute resolved: {resolved.attributes['verdict']}" if resolved else ""
        cli.emit(
            {
                "revealed": shown,
                "resolved": resolved.attributes if resolved else None,
                "block_hash": receipt.block_hash,
                "fee": receipt.fee,
            },
            human=f"expected result revealed on dispute {dispute_id}{verdict}",
        )


@app.command()
def resolve(ctx: typer.Context, dispute_id: DisputeArg, key: KeyOpt) -> None:
    """Resolve a dispute after its reveal phase (anyone may)."""
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


def _resolved_rows(record: DisputeRecord, scanned: ScanRange) -> list[tuple[str, object]]:
    votes = {v.verifier: v for v in record.votes}
    committed = set(record.committed)

    def vote_of(verifier: str) -> str:
        vote = votes.get(verifier)
        if vote is not None:
            return f"{vote.result_hash} ({'agrees' if vote.agrees else 'disagrees'})"
        return "(committed, not revealed)" if verifier in committed else "(no vote)"

    opened = (
        f"block {record.opened_at}"
        if record.opened_at is not None
        else f"before block {scanned.first} (not scanned)"
    )
    rows: list[tuple[str, object]] = [
        ("verdict", record.verdict or "(not resolved in the scanned blocks)"),
        ("task", record.task_id),
        ("worker", record.worker),
        ("challenger", record.challenger or "-"),
        ("stake", "-" if record.stake is None else format_cc(record.stake)),
        ("opened", opened),
        ("resolved", f"block {record.resolved_at}" if record.resolved_at is not None else "-"),
        ("expected", record.expected_hash or "-"),
        ("audit", "yes" if record.audit else "no"),
    ]
    if record.not_enough_verifiers:
        rows.append(("verifiers", "none drawn (too few eligible)"))
    rows += [(f"verifier {i + 1}", f"{v} {vote_of(v)}") for i, v in enumerate(record.verifiers)]
    rows += [
        (f"{p.role} {p.account}", f"paid {format_cc(p.paid)}, slashed {format_cc(p.slashed)}")
        for p in record.settlement()
    ]
    rows += [(f"payment failed {to}", format_cc(amount)) for to, amount in record.payments_failed]
    return rows


@app.command()
def status(
    ctx: typer.Context,
    dispute_id: Annotated[
        int | None, typer.Argument(min=0, help="Dispute id (or give --task and --worker).")
    ] = None,
    task_id: Annotated[int | None, typer.Option("--task", help="Task id.")] = None,
    worker: Annotated[str | None, typer.Option(help="Worker address, key or dev URI.")] = None,
    from_block: Annotated[
        int | None,
        typer.Option(
            "--from-block",
            min=0,
            help="First block searched for a resolved dispute's events (default: the last "
            f"{DEFAULT_SCAN_BLOCKS:,} blocks up to the head).",
        ),
    ] = None,
) -> None:
    """Show a dispute: an open one from storage; a resolved one from the Disputes
    events in chain history (verdict, votes, what each party was paid and slashed).

    The history is read back from the head, one block at a time, until the dispute's
    DisputeOpened event or --from-block (by default at most 100,000 blocks). Exit code
    4 if the dispute is unknown or none of its events is in the blocks searched."""
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
        if info is not None:
            cli.emit(
                {"state": "open", **to_jsonable(info)},
                human=lambda: cli.table(f"Dispute {dispute_id} (open)", _rows(info)),
            )
            return
        next_id = chain.disputes.next_dispute_id()
        if dispute_id >= next_id:
            raise NotFoundError(f"no dispute {dispute_id}: the last one opened is {next_id - 1}")
        with cli.status(f"searching the chain history for dispute {dispute_id}..."):
            record, scanned = find_dispute(chain, dispute_id, from_block=from_block)
        if scanned.first > scanned.last:
            raise UserError(f"--from-block {from_block} is after the head (block {scanned.last})")
        if record is None:
            raise NotFoundError(
                f"dispute {dispute_id} is not open, and none of its events is in blocks "
                f"{scanned.first}..{scanned.last}: give an earlier --from-block"
            )
        data = {
            **record.as_dict(),
            "scanned": {"from_block": scanned.first, "to_block": scanned.last},
        }
        cli.emit(
            data,
            human=lambda: cli.table(
                f"Dispute {dispute_id} ({record.verdict or 'resolution not seen'})",
                _resolved_rows(record, scanned),
            ),
        )


@app.command("result-hash")
def result_hash(
    ctx: typer.Context,
    output: Annotated[
        Path | None,
        typer.Option(exists=True, dir_okay=False, help="A job's stdout, as bytes: hash it as is."),
    ] = None,
    module: Annotated[
        Path | None,
        typer.Option(
            exists=True, dir_okay=False, help="A job's Wasm module: run it, hash its stdout."
        ),
    ] = None,
    input_file: Annotated[
        Path | None,
        typer.Option("--input", exists=True, dir_okay=False, help="Stdin of the run (bytes)."),
    ] = None,
    arg: Annotated[
        list[str] | None, typer.Option("--arg", help="An argument of the run (repeatable).")
    ] = None,
    seed: Annotated[
        str | None, typer.Option(help="The job spec's random_get seed, hex (default: none).")
    ] = None,
    fuel: Annotated[
        int | None,
        typer.Option(min=1, help="The job spec's fuel limit (default: the sandbox's)."),
    ] = None,
) -> None:
    """Print the result hash a verifier votes with: blake2b-256 of a job's stdout.

    Give --output (the stdout bytes), or --module with --input/--arg/--seed/--fuel as
    in the task's job spec: the module then runs in the worker's sandbox (limits from
    the CCNET_SANDBOX_* environment, as for `ccnet worker run`) the way a drawn
    verifier re-executes it, and the fuel it burnt is shown too."""
    cli = CliContext.of(ctx)
    with cli.errors():
        if (output is None) == (module is None):
            raise UserError("give either --output FILE or --module M.wasm")
        if output is not None:
            if input_file is not None or arg or seed is not None or fuel is not None:
                raise UserError("--input, --arg, --seed and --fuel go with --module only")
            digest = "0x" + output_hash(output.read_bytes()).hex()
            cli.emit({"result_hash": digest}, human=digest)
            return
        assert module is not None
        try:
            seed_bytes = bytes.fromhex((seed or "").removeprefix("0x"))
        except ValueError:
            raise UserError(f"--seed is not hex: {seed!r}") from None
        stdin = input_file.read_bytes() if input_file is not None else b""
        with cli.status("running the module..."):
            run = reexecute(module.read_bytes(), tuple(arg or ()), stdin, seed_bytes, fuel)
        digest = "0x" + run.output_hash.hex()
        cli.emit({"result_hash": digest, "fuel": run.fuel_used}, human=digest)


def reexecute(
    wasm: bytes, args: tuple[str, ...], stdin: bytes, seed: bytes, fuel: int | None
) -> RunOutcome:
    """Run *wasm* once in a fresh worker sandbox as a drawn verifier does
    (:meth:`ccnet.worker.onchain.DisputeVerifier` through
    :meth:`ccnet.worker.executor.JobExecutor.run`): the job spec's args, stdin, seed,
    and its fuel capped by the sandbox's. Raises the sandbox's errors
    (:class:`~ccnet.worker.exceptions.InvalidModuleError`,
    :class:`~ccnet.worker.exceptions.JobRunError`, ...)."""
    # ccnet.worker (wasmtime) is imported only when a module runs.
    from ccnet.worker.sandbox import RunLimits, Sandbox

    with Sandbox() as sandbox:
        limit = None if fuel is None else min(fuel, sandbox.config.fuel_limit)
        return sandbox.run(wasm, args=args, stdin=stdin, limits=RunLimits(fuel=limit), seed=seed)
