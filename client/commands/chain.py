"""``ccnet chain start|stop|status|tick``: the local Chopsticks dev chain (127.0.0.1 only).

``tick`` builds blocks on demand (:class:`~ccnet.client.BlockTicker`): the court counts
blocks, and Chopsticks builds one only per extrinsic."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from ..blockticker import DEFAULT_TICK, BlockTicker
from ..devchain import DEFAULT_PORT, DEFAULT_TIMEOUT, DevChain, DevChainInfo
from ._common import CliContext, ExitCode

__all__ = ["app"]

app = typer.Typer(help="Run the local Chopsticks dev chain (127.0.0.1 only).", no_args_is_help=True)

RootOpt = Annotated[
    Path | None,
    typer.Option(
        help="Repository root (default: found from the working dir).", envvar="CCNET_ROOT"
    ),
]
SpecOpt = Annotated[
    Path | None,
    typer.Option(
        "--spec",
        help="Raw chain spec (default: chain-spec/development.raw.json).",
        envvar="CCNET_CHAIN_SPEC",
    ),
]
PortOpt = Annotated[
    int,
    typer.Option("--port", min=1, max=65535, help="Port on 127.0.0.1.", envvar="CCNET_CHAIN_PORT"),
]
StateOpt = Annotated[
    Path | None,
    typer.Option(
        "--state-dir",
        help="Pid file and log (default: .state/devchain).",
        envvar="CCNET_DEVCHAIN_DIR",
    ),
]
TimeoutOpt = Annotated[
    float,
    typer.Option(help="Seconds to wait for the chain to answer.", envvar="CCNET_DEVCHAIN_TIMEOUT"),
]


def _chain(
    *,
    root: Path | None,
    spec: Path | None = None,
    state_dir: Path | None = None,
    port: int = DEFAULT_PORT,
    timeout: float = DEFAULT_TIMEOUT,
) -> DevChain:
    # Paths given by the user are relative to the working dir, not to the root.
    return DevChain(
        root=root.resolve() if root else None,
        spec=spec.resolve() if spec else None,
        state_dir=state_dir.resolve() if state_dir else None,
        port=port,
        timeout=timeout,
    )


def _describe(info: DevChainInfo) -> str:
    return f"{info.url} (chain {info.chain!r}, pid {info.pid}, log {info.log})"


def _info_json(info: DevChainInfo) -> dict[str, Any]:
    return {"running": True, **dataclasses.asdict(info)}


@app.command()
def start(
    ctx: typer.Context,
    spec: SpecOpt = None,
    port: PortOpt = DEFAULT_PORT,
    state_dir: StateOpt = None,
    timeout: TimeoutOpt = DEFAULT_TIMEOUT,
    root: RootOpt = None,
) -> None:
    """Start the dev chain in the background; does nothing if it already runs."""
    cli = CliContext.of(ctx)
    with cli.errors():
        chain = _chain(root=root, spec=spec, state_dir=state_dir, port=port, timeout=timeout)
        info = chain.start()
        cli.emit(_info_json(info), human=f"dev chain running at {_describe(info)}")


@app.command()
def stop(ctx: typer.Context, state_dir: StateOpt = None, root: RootOpt = None) -> None:
    """Stop the dev chain and every process it started."""
    cli = CliContext.of(ctx)
    with cli.errors():
        was_running = _chain(root=root, state_dir=state_dir).stop()
        cli.emit(
            {"was_running": was_running},
            human="dev chain stopped" if was_running else "dev chain was not running",
        )


@app.command()
def status(ctx: typer.Context, state_dir: StateOpt = None, root: RootOpt = None) -> None:
    """Show whether the dev chain runs (exit code 3 if it does not); with --json
    ``{"running": ..., "url", "pid", "chain", "spec", "log", ...}``."""
    cli = CliContext.of(ctx)
    with cli.errors():
        info = _chain(root=root, state_dir=state_dir).status()
    if info is None:
        cli.emit({"running": False}, human="dev chain is not running")
        raise typer.Exit(code=int(ExitCode.CHAIN))
    cli.emit(_info_json(info), human=f"dev chain running at {_describe(info)}")


@app.command()
def tick(
    ctx: typer.Context,
    interval: Annotated[
        float, typer.Option(min=0.05, help="Seconds between blocks (when none came).")
    ] = DEFAULT_TICK,
    blocks: Annotated[
        int | None, typer.Option(min=1, help="Build this many blocks at once and exit.")
    ] = None,
) -> None:
    """Build blocks on the dev chain at --url (it builds them only on demand), so that
    the court's phases pass: one every INTERVAL seconds until Ctrl-C, or --blocks N now."""
    cli = CliContext.of(ctx)
    with cli.errors():
        if blocks is not None:
            head = cli.chain().new_blocks(blocks)
            cli.emit({"blocks": blocks, "head": head}, human=f"built {blocks} blocks")
            return
        ticker = BlockTicker(cli.settings.url, interval).start()
        cli.info(f"building a block every {interval:g} s at {cli.settings.url}; Ctrl-C stops")
        try:
            while ticker.running:
                time.sleep(0.2)
        except KeyboardInterrupt:
            pass
        finally:
            ticker.stop()
        if ticker.error is not None:
            raise ticker.error
        cli.emit({"blocks": ticker.blocks}, human=f"{ticker.blocks} blocks built")
