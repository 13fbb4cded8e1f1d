"""``ccnet stake add|unbond|withdraw|status``: a worker's stake in the Credits pallet.

The active stake backs the account; each open claim bonds ``Tasks.ClaimBond`` of it and
each verifier duty ``Disputes.VerifierBond``; only the free part (active - bonded) backs
new claims and duties, and only it can start unbonding (``UnbondingPeriod`` blocks, then
``withdraw``).
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from ..chain import Chain
from ..exceptions import UserError
from ._common import CliContext, KeyOpt, format_cc, parse_amount

__all__ = ["app"]

app = typer.Typer(help="Stake, unbond and withdraw CC; show bonded stake.", no_args_is_help=True)

AmountArg = Annotated[str, typer.Argument(help="Amount: CC (10, 2.5CC) or planck (500planck).")]


def _amount(text: str) -> int:
    amount = parse_amount(text)
    if amount <= 0:
        raise UserError("the amount must be more than zero")
    return amount


@app.command()
def add(ctx: typer.Context, amount: AmountArg, key: KeyOpt) -> None:
    """Hold more of the free balance as active stake."""
    cli = CliContext.of(ctx)
    with cli.errors():
        planck = _amount(amount)
        signer = cli.keypair(key)
        chain = cli.chain()
        with cli.status("staking..."):
            receipt = chain.credits.stake(signer, planck)
        cli.emit(
            {"staked": planck, "block_hash": receipt.block_hash, "fee": receipt.fee},
            human=f"staked {format_cc(planck)}",
        )


def _check_unbond(chain: Chain, address: str, planck: int) -> None:
    """Refuse, before paying a fee, to unbond more than the free active stake: say how
    much is bonded and to which open claims."""
    info = chain.credits.stake_of(address)
    active = info.active if info else 0
    if planck > active:
        raise UserError(
            f"{address} has {format_cc(active)} of active stake, less than {format_cc(planck)}",
            hint="`ccnet stake status` shows the active and free stake",
        )
    if info is None or planck <= info.free:
        return
    claims = [a.task_id for a in chain.tasks.claims_of(address)]
    duties = info.bonded - len(claims) * chain.tasks.claim_bond()
    backing = []
    if claims:
        backing.append(f"open claims on task(s) {', '.join(map(str, claims))}")
    if duties > 0:
        backing.append("verifier duties")
    raise UserError(
        f"{format_cc(info.bonded)} of the {format_cc(active)} staked backs "
        f"{' and '.join(backing) or 'open obligations'}; at most {format_cc(info.free)} "
        "can be unbonded now",
        hint="the bond is released when those tasks are finalized (`ccnet task finalize ID` "
        "after their window) and the disputes resolved; unbond then",
    )


@app.command()
def unbond(ctx: typer.Context, amount: AmountArg, key: KeyOpt) -> None:
    """Start unbonding free active stake (Credits.unstake; not stake bonded to open
    claims or verifier duties); withdraw it Credits.UnbondingPeriod blocks later."""
    cli = CliContext.of(ctx)
    with cli.errors():
        planck = _amount(amount)
        signer = cli.keypair(key)
        chain = cli.chain()
        _check_unbond(chain, str(signer.ss58_address), planck)
        with cli.status("unbonding..."):
            receipt = chain.credits.unstake(signer, planck)
        event = receipt.expect("Credits", "Unbonded").attributes
        cli.emit(
            {**event, "block_hash": receipt.block_hash, "fee": receipt.fee},
            human=f"unbonding {format_cc(planck)}; withdraw from block {event['unlock_at']}",
        )


@app.command()
def withdraw(ctx: typer.Context, key: KeyOpt) -> None:
    """Release every unbonding chunk that has matured (Credits.withdraw_unbonded) to the
    free balance."""
    cli = CliContext.of(ctx)
    with cli.errors():
        signer = cli.keypair(key)
        chain = cli.chain()
        address = str(signer.ss58_address)
        info = chain.credits.stake_of(address)
        chunks = info.unbonding if info else ()
        head = chain.block_number()
        # The call runs in the next block: chunks unlocking there are released.
        if not any(c.unlock_at <= head + 1 for c in chunks):
            if not chunks:
                raise UserError(
                    f"{address} has no unbonding stake", hint="`ccnet stake unbond AMOUNT` first"
                )
            first = min(c.unlock_at for c in chunks)
            raise UserError(
                f"nothing to withdraw yet: the first unbonding chunk unlocks at block {first} "
                f"(now {head})",
                hint="`ccnet stake status` lists the chunks and their blocks",
            )
        with cli.status("withdrawing..."):
            receipt = chain.credits.withdraw_unbonded(signer)
        event = receipt.expect("Credits", "Withdrawn").attributes
        cli.emit(
            {**event, "block_hash": receipt.block_hash, "fee": receipt.fee},
            human=f"withdrew {format_cc(int(event['amount']))}",
        )


@app.command()
def status(ctx: typer.Context, key: KeyOpt) -> None:
    """Show the active, bonded, free and unbonding stake of an account."""
    cli = CliContext.of(ctx)
    with cli.errors():
        address = cli.address(key)
        chain = cli.chain()
        info = chain.credits.stake_of(address)
        bond = chain.tasks.claim_bond()
        data: dict[str, Any] = {
            "address": address,
            "active": info.active if info else 0,
            "bonded": info.bonded if info else 0,
            "free": info.free if info else 0,
            "unbonding": [
                {"amount": u.amount, "unlock_at": u.unlock_at}
                for u in (info.unbonding if info else ())
            ],
            "claim_bond": bond,
            "claims_possible": (info.free if info else 0) // bond,
        }

        def human() -> Any:
            rows: list[tuple[str, Any]] = [
                ("address", address),
                ("active", format_cc(data["active"])),
                ("bonded", format_cc(data["bonded"])),
                ("free", format_cc(data["free"])),
                (
                    "new claims possible",
                    f"{data['claims_possible']} (each bonds {format_cc(bond)})",
                ),
            ]
            rows += [
                ("unbonding", f"{format_cc(u['amount'])} at block {u['unlock_at']}")
                for u in data["unbonding"]
            ]
            return cli.table("Stake", rows)

        cli.emit(data, human=human)
