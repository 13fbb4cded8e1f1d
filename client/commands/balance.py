"""``ccnet balance [ADDRESS|KEY]``: free, reserved and staked CC of an account."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from ..exceptions import UserError
from ._common import CliContext, format_cc

__all__ = ["balance"]


def balance(
    ctx: typer.Context,
    account: Annotated[
        str | None,
        typer.Argument(
            help="An address, a keystore name or a dev URI (//Alice); default $CCNET_KEY.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Show the balance and stake of an account (amounts in CC; planck with --json)."""
    cli = CliContext.of(ctx)
    with cli.errors():
        who = account or os.environ.get("CCNET_KEY")
        if not who:
            raise UserError("name an account: ccnet balance ADDRESS|KEY|//Alice")
        address = cli.address(who)
        chain = cli.chain()
        raw = chain.query("System", "Account", [address]) or {}
        data = raw.get("data", {}) if isinstance(raw, dict) else {}
        stake = chain.credits.stake_of(address)
        amounts: dict[str, int] = {
            "free": int(data.get("free", 0)),
            "reserved": int(data.get("reserved", 0)),
            "frozen": int(data.get("frozen", 0)),
            "staked": stake.active if stake else 0,
            "unbonding": sum(c.amount for c in stake.unbonding) if stake else 0,
            "debt": chain.credits.total_debt(address),
            "receivable": chain.credits.total_receivable(address),
        }
        cli.emit(
            {"address": address, **amounts},
            human=lambda: cli.table(
                f"Balance of {address}",
                [(k, format_cc(v)) for k, v in amounts.items()],
            ),
        )
