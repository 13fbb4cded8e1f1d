"""``ccnet transfer DEST AMOUNT``: send CC from a key's free balance to another account."""

from __future__ import annotations

from typing import Annotated

import typer

from ..exceptions import UserError
from ._common import CliContext, KeyOpt, format_cc, parse_amount

__all__ = ["transfer"]


def transfer(
    ctx: typer.Context,
    dest: Annotated[
        str,
        typer.Argument(help="Recipient: an address, a keystore name or a dev URI (//Bob)."),
    ],
    amount: Annotated[str, typer.Argument(help="Amount: CC (10, 2.5CC) or planck (500planck).")],
    key: KeyOpt,
) -> None:
    """Send CC to an account (Balances.transfer_keep_alive: the sender keeps at least
    the existential deposit). Amounts in CC; planck integers with --json."""
    cli = CliContext.of(ctx)
    with cli.errors():
        planck = parse_amount(amount)
        if planck <= 0:
            raise UserError("the amount must be more than zero")
        to = cli.address(dest)
        signer = cli.keypair(key)
        chain = cli.chain()
        with cli.status("transferring..."):
            receipt = chain.transfer(signer, to, planck)
        receipt.expect("Balances", "Transfer")
        sender = str(signer.ss58_address)
        cli.emit(
            {
                "from": sender,
                "to": to,
                "amount": planck,
                "block_hash": receipt.block_hash,
                "extrinsic_hash": receipt.extrinsic_hash,
                "fee": receipt.fee,
            },
            human=lambda: cli.table(
                "Transferred",
                [
                    ("from", sender),
                    ("to", to),
                    ("amount", format_cc(planck)),
                    ("block", receipt.block_hash),
                    ("fee", format_cc(receipt.fee)),
                ],
            ),
        )
