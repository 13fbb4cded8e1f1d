"""``ccnet keys new|import|list|inspect``: the passphrase-encrypted keystore.

The passphrase comes from ``$CCNET_PASSPHRASE`` or a prompt. ``new`` prints the mnemonic
once, for a backup; nothing else ever prints or logs a secret.
"""

from __future__ import annotations

from typing import Annotated

import typer
from substrateinterface.utils.ss58 import is_valid_ss58_address, ss58_decode

from ..exceptions import KeystoreError, UserError
from ..keys import Keys, describe, is_dev_uri
from ..signing import SS58_FORMAT
from ._common import CliContext

__all__ = ["app"]

app = typer.Typer(help="Create, import and show sr25519 keys.", no_args_is_help=True)

NameArg = Annotated[str, typer.Argument(help="Key name (letters, digits, '.', '_', '-').")]


@app.command()
def new(
    ctx: typer.Context,
    name: NameArg,
    words: Annotated[int, typer.Option(help="Mnemonic length: 12, 15, 18, 21 or 24.")] = 12,
) -> None:
    """Generate a key, store it encrypted, and print its mnemonic once."""
    cli = CliContext.of(ctx)
    with cli.errors():
        if words not in (12, 15, 18, 21, 24):
            raise UserError("--words must be 12, 15, 18, 21 or 24")
        store = cli.keystore()
        if store.exists(name):
            raise KeystoreError(f"a key named {name!r} exists already in {store.path}")
        info, mnemonic = store.new(name, cli.passphrase(name, confirm=True), words=words)
        data = {**info.as_dict(), "mnemonic": mnemonic}
        cli.emit(
            data,
            human=lambda: cli.table(
                f"New key {name!r}",
                [
                    ("address", info.address),
                    ("public key", info.public_key),
                    ("file", info.path),
                    ("mnemonic", mnemonic),
                ],
            ),
        )
        cli.info("Write the mnemonic down now: it is shown only once and restores the key.")


@app.command("import")
def import_(ctx: typer.Context, name: NameArg) -> None:
    """Store an existing key: its mnemonic, secret URI or 0x seed is asked for (hidden)."""
    cli = CliContext.of(ctx)
    with cli.errors():
        store = cli.keystore()
        if store.exists(name):
            raise KeystoreError(f"a key named {name!r} exists already in {store.path}")
        try:
            secret: str = typer.prompt("Mnemonic, secret URI or 0x seed", hide_input=True)
        except typer.Abort:
            raise UserError("no secret given") from None
        Keys.from_secret(secret)  # InvalidKeyError before asking for a passphrase
        info = store.add(name, secret, cli.passphrase(name, confirm=True))
        cli.emit(info, human=f"stored key {name!r}: {info.address}")


@app.command("list")
def list_(ctx: typer.Context) -> None:
    """List the keys of the keystore (no passphrase needed)."""
    cli = CliContext.of(ctx)
    with cli.errors():
        keys = cli.keystore().list()
        cli.emit(
            [k.as_dict() for k in keys],
            human=lambda: (
                cli.table(
                    f"Keys in {cli.settings.keystore}",
                    [(k.name, k.address, k.created) for k in keys],
                    header=("name", "address", "created"),
                )
                if keys
                else f"no keys in {cli.settings.keystore} (create one with `ccnet keys new NAME`)"
            ),
        )


@app.command()
def inspect(
    ctx: typer.Context,
    key: Annotated[str, typer.Argument(help="A key name, a dev URI (//Alice) or an address.")],
) -> None:
    """Show the address and public key of a key, dev URI or address."""
    cli = CliContext.of(ctx)
    with cli.errors():
        if is_dev_uri(key):
            data = {"source": "dev URI", **describe(Keys.from_uri(key))}
        elif is_valid_ss58_address(key, valid_ss58_format=SS58_FORMAT):
            data = {
                "source": "address",
                "address": key,
                "public_key": "0x" + ss58_decode(key),
                "crypto_type": "sr25519",
            }
        else:
            info = cli.keystore().info(key)
            data = {"source": f"keystore {info.path}", **info.as_dict()}
        data["ss58_format"] = str(SS58_FORMAT)
        cli.emit(data, human=lambda: cli.table(key, list(data.items())))
