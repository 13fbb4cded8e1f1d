"""The ``ccnet`` command line: thin typer commands over the ccnet.client SDK.

Each command group lives in ``client/commands/<area>.py`` (``app = typer.Typer(...)``)
and is registered below with one ``app.add_typer(...)`` line. Shared plumbing (global
options, output, exit codes): :mod:`ccnet.client.commands._common`. Global options may
follow the subcommand too (:mod:`ccnet.client.commands._global_options`).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer

from . import __version__
from .commands import balance as balance_cmd
from .commands import bridge as bridge_cmd
from .commands import chain as chain_cmd
from .commands import channel as channel_cmd
from .commands import checkpoint as checkpoint_cmd
from .commands import demo as demo_cmd
from .commands import dispute as dispute_cmd
from .commands import job as job_cmd
from .commands import keys as keys_cmd
from .commands import localnet as localnet_cmd
from .commands import stake as stake_cmd
from .commands import task as task_cmd
from .commands import transfer as transfer_cmd
from .commands import watchtower as watchtower_cmd
from .commands import worker as worker_cmd
from .commands._common import CliContext
from .commands._global_options import GlobalOptionsGroup
from .config import resolve_settings
from .exceptions import CcnetError

__all__ = ["app", "chain_app", "main"]

app = typer.Typer(
    cls=GlobalOptionsGroup,  # global options before or after the subcommand
    help="Compute Currency (ccnet) command line.",
    context_settings={"help_option_names": ["-h", "--help"]},
    no_args_is_help=True,
    add_completion=False,
)
chain_app = chain_cmd.app
app.add_typer(chain_cmd.app, name="chain", no_args_is_help=True)
app.add_typer(localnet_cmd.app, name="network", no_args_is_help=True)
app.add_typer(keys_cmd.app, name="keys", no_args_is_help=True)
app.command(name="balance")(balance_cmd.balance)
app.command(name="transfer")(transfer_cmd.transfer)
app.add_typer(stake_cmd.app, name="stake", no_args_is_help=True)
app.add_typer(task_cmd.app, name="task", no_args_is_help=True)
app.add_typer(job_cmd.app, name="job", no_args_is_help=True)
app.command("demo")(demo_cmd.demo)
app.add_typer(dispute_cmd.app, name="dispute", no_args_is_help=True)
app.add_typer(checkpoint_cmd.app, name="checkpoint", no_args_is_help=True)
app.add_typer(channel_cmd.app, name="channel", no_args_is_help=True)
app.add_typer(watchtower_cmd.app, name="watchtower", no_args_is_help=True)
app.add_typer(worker_cmd.app, name="worker", no_args_is_help=True)
app.add_typer(bridge_cmd.app, name="bridge", no_args_is_help=True)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"ccnet {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    ctx: typer.Context,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Show the version."),
    ] = False,
    url: Annotated[
        str | None,
        typer.Option(
            "--url",
            help="Node WebSocket URL (env CCNET_URL, config url; default ws://127.0.0.1:8000).",
            show_default=False,
        ),
    ] = None,
    wait: Annotated[
        str | None,
        typer.Option(
            "--wait",
            help="What extrinsics wait for: inclusion (a dev chain) or finalization "
            "(validators; env CCNET_WAIT, config wait; default inclusion).",
            show_default=False,
        ),
    ] = None,
    keystore: Annotated[
        Path | None,
        typer.Option(
            "--keystore",
            help="Keystore directory (env CCNET_KEYSTORE, config keystore; "
            "default ~/.config/ccnet/keystore).",
            show_default=False,
        ),
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            help="Config file (env CCNET_CONFIG; default ~/.config/ccnet/config.toml).",
            show_default=False,
        ),
    ] = None,
    json_output: Annotated[
        bool, typer.Option("--json", help="Machine-readable JSON output on stdout.")
    ] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log debug output.")] = False,
) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING, format="%(levelname)s %(message)s"
    )
    try:
        settings = resolve_settings(url=url, keystore=keystore, config=config, wait=wait)
    except CcnetError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(code=1) from None
    cli = CliContext(settings, json_output=json_output, verbose=verbose)
    ctx.obj = cli
    ctx.call_on_close(cli.close)


def main() -> None:
    """Entry point of the ``ccnet`` console script."""
    app(prog_name="ccnet")
