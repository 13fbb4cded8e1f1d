"""``ccnet watchtower run|status``: register the newest state against stale channel closes.

Thin over :class:`ccnet.channels.Watchtower`. The tower's state is one SQLite file
(``--db`` / ``$CCNET_WATCHTOWER_DB``, default ``.state/watchtower.db``): parties add the
states to guard with ``ccnet channel guard --tower-db`` (or a ``TowerClient`` in
process), and ``run`` reads it whenever a guarded channel starts closing (and, on
start, for closes it missed). The key only pays the fees of ``challenge`` (and of
``settle`` with ``--settle``).
"""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer

from ccnet.channels import TowerStore, Watchtower

from ._common import CliContext, KeyOpt

__all__ = ["DEFAULT_DB", "app"]

app = typer.Typer(
    help="Guard channels: register their newest state against stale closes.",
    no_args_is_help=True,
)

DEFAULT_DB = Path(".state/watchtower.db")

DbOpt = Annotated[
    Path,
    typer.Option("--db", help="The watchtower's file.", envvar="CCNET_WATCHTOWER_DB"),
]


@app.command()
def run(
    ctx: typer.Context,
    key: KeyOpt,
    db: DbOpt = DEFAULT_DB,
    poll_interval: Annotated[
        float, typer.Option(min=0.05, help="Seconds between looks at the chain head.")
    ] = 1.0,
    settle: Annotated[
        bool, typer.Option(help="Also settle guarded channels once their period is over.")
    ] = False,
) -> None:
    """Follow the chain and register our newer state against every stale close of a
    guarded channel (until Ctrl-C or SIGTERM)."""
    cli = CliContext.of(ctx)
    with cli.errors():
        signer = cli.keypair(key)
        chain = cli.chain()
        tower = Watchtower(chain, signer, db, settle=settle)
        stop = threading.Event()

        def on_signal(signum: int, frame: FrameType | None) -> None:
            stop.set()

        previous = signal.signal(signal.SIGTERM, on_signal)
        guarded = len(tower.store.all())
        # On stderr even with --json: it tells a supervisor that the tower is up.
        cli.err_console.print(
            f"watching {chain.url} for {guarded} guarded channel(s); "
            f"fees paid by {signer.ss58_address}"
        )
        try:
            tower.run(poll_interval=poll_interval, stop=stop)
        except KeyboardInterrupt:
            pass
        finally:
            signal.signal(signal.SIGTERM, previous)
            tower.close()
        cli.emit(
            [
                {
                    "channel_id": "0x" + c.channel_id.hex(),
                    "closed_version": c.closed_version,
                    "version": c.version,
                    "outcome": c.outcome,
                }
                for c in tower.challenges
            ],
            human=f"stopped after {len(tower.challenges)} challenge(s)",
        )


@app.command()
def status(ctx: typer.Context, db: DbOpt = DEFAULT_DB) -> None:
    """List the guarded channels and the challenges submitted."""
    cli = CliContext.of(ctx)
    with cli.errors():
        store = TowerStore(db)
        try:
            guarded, challenges = store.all(), store.challenges()
        finally:
            store.close()
        data = {
            "guarded": [
                {"channel_id": "0x" + g.params.channel_id.hex(), "version": g.signed.version}
                for g in guarded
            ],
            "challenges": [
                {
                    "channel_id": "0x" + c.channel_id.hex(),
                    "closed_version": c.closed_version,
                    "version": c.version,
                    "outcome": c.outcome,
                }
                for c in challenges
            ],
        }
        cli.emit(
            data,
            human=lambda: cli.table(
                "Watchtower",
                [
                    ("guarded", "0x" + g.params.channel_id.hex() + f" v{g.signed.version}")
                    for g in guarded
                ]
                + [
                    (
                        "challenged",
                        "0x"
                        + c.channel_id.hex()
                        + f" {c.closed_version}->{c.version}: {c.outcome}",
                    )
                    for c in challenges
                ],
            ),
        )
