"""``ccnet chain start|stop|status|tick|new-blocks``: the local Chopsticks dev chain
(127.0.0.1 only).

The court counts blocks, and Chopsticks builds one only per extrinsic: ``start
--block-time S`` runs a background block ticker with the chain, ``tick`` runs one in the
foreground (:class:`~ccnet.client.BlockTicker`), ``new-blocks N`` builds N at once. Every
``start`` begins at genesis (:data:`~ccnet.client.devchain.FRESH_STATE`)."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from ..blockticker import DEFAULT_TICK, BlockTicker
from ..devchain import DEFAULT_PORT, DEFAULT_TIMEOUT, FRESH_STATE, DevChain, DevChainInfo
from ._common import CliContext, ExitCode

__all__ = ["app"]

app = typer.Typer(help="Run the local Chopsticks dev chain (127.0.0.1 only).", no_args_is_help=True)

RootOpt = Annotated[
    Path | None,
    typer.Option(
        help=(
            "Repository checkout (chain specs, node_modules) [default: found up from the "
            "working dir, else the checkout ccnet is installed from]."
        ),
        envvar="CCNET_ROOT",
        show_default=False,
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
BlockTimeOpt = Annotated[
    float | None,
    typer.Option(
        "--block-time",
        min=0.05,
        help=(
            "Build a block every S seconds when none came (a background ticker, stopped "
            "with the chain), so deadlines pass without traffic [default: blocks only "
            "per extrinsic or on demand]."
        ),
        envvar="CCNET_BLOCK_TIME",
        show_default=False,
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
    block_time: float | None = None,
) -> DevChain:
    # Paths given by the user are relative to the working dir, not to the root.
    return DevChain(
        root=root.resolve() if root else None,
        spec=spec.resolve() if spec else None,
        state_dir=state_dir.resolve() if state_dir else None,
        port=port,
        timeout=timeout,
        block_time=block_time,
    )


def _describe(chain: DevChain, info: DevChainInfo) -> str:
    if info.block_time is None:
        blocks = "blocks on demand"
    else:
        blocks = f"a block every {info.block_time:g} s"
        if not chain.ticker_running(info):
            blocks += f" (its ticker stopped: see {chain.ticker_log_path})"
    return f"{info.url} (chain {info.chain!r}, {blocks}, pid {info.pid}, log {info.log})"


def _info_json(chain: DevChain, info: DevChainInfo) -> dict[str, Any]:
    return {
        "running": True,
        **dataclasses.asdict(info),
        "ticker_running": chain.ticker_running(info),
    }


@app.command()
def start(
    ctx: typer.Context,
    spec: SpecOpt = None,
    port: PortOpt = DEFAULT_PORT,
    state_dir: StateOpt = None,
    timeout: TimeoutOpt = DEFAULT_TIMEOUT,
    block_time: BlockTimeOpt = None,
    root: RootOpt = None,
) -> None:
    """Start the dev chain in the background, from genesis: Chopsticks keeps its blocks
    in memory, so a restart wipes all state (the output says so: fresh_state). Does
    nothing if it already runs on the same port with the same block time (state kept);
    an error (exit code 1) if it runs on another port or with another block time."""
    cli = CliContext.of(ctx)
    with cli.errors():
        chain = _chain(
            root=root,
            spec=spec,
            state_dir=state_dir,
            port=port,
            timeout=timeout,
            block_time=block_time,
        )
        already = chain.status() is not None
        fresh = not already and FRESH_STATE
        info = chain.start()
        state = "fresh state from genesis" if fresh else "already running, state kept"
        cli.emit(
            {**_info_json(chain, info), "fresh_state": fresh, "already_running": already},
            human=f"dev chain running at {_describe(chain, info)}; {state}",
        )


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
    ``{"running": ..., "url", "pid", "chain", "spec", "log", "block_time" (seconds or
    null), "ticker_running", ...}``."""
    cli = CliContext.of(ctx)
    with cli.errors():
        chain = _chain(root=root, state_dir=state_dir)
        info = chain.status()
    if info is None:
        cli.emit({"running": False}, human="dev chain is not running")
        raise typer.Exit(code=int(ExitCode.CHAIN))
    cli.emit(_info_json(chain, info), human=f"dev chain running at {_describe(chain, info)}")


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
            _new_blocks(cli, blocks)
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


def _new_blocks(cli: CliContext, count: int) -> None:
    chain = cli.chain()
    head = chain.new_blocks(count)
    # The number of *head* itself: a ticker may have built more since.
    number = int(chain.rpc("chain_getHeader", [head])["number"], 16)
    cli.emit(
        {"blocks": count, "head": head, "number": number},
        human=f"built {count} blocks; head #{number} {head}",
    )


@app.command("new-blocks")
def new_blocks(
    ctx: typer.Context,
    count: Annotated[int, typer.Argument(min=1, help="How many blocks to build.")],
) -> None:
    """Build COUNT empty blocks now on the dev chain at --url and print the new head
    (number and hash); with --json ``{"blocks", "number", "head"}``."""
    cli = CliContext.of(ctx)
    with cli.errors():
        _new_blocks(cli, count)
