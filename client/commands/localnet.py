"""``ccnet network start|status|stop``: a local network of ``ccnet-node`` validators (the
``local`` chain: Alice, Bob, Charlie, Dave) and full nodes on 127.0.0.1, in the
background (:class:`~ccnet.client.localnet.LocalNetwork`). Every ``start`` begins at
genesis; ``start`` prints the ``CCNET_URL`` / ``--url`` that points the SDK, the CLI and
``ccnet worker run`` at it."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated, Any

import typer

from ..localnet import (
    AUTHORITIES,
    DEFAULT_START_TIMEOUT,
    FRESH_STATE,
    MAX_FULL_NODES,
    LocalNetwork,
    NetworkInfo,
    NodeStatus,
    finality_warning,
)
from ._common import CliContext, ExitCode

__all__ = ["app"]

app = typer.Typer(
    help="Run a local network of ccnet-node validators (127.0.0.1 only).", no_args_is_help=True
)

RootOpt = Annotated[
    Path | None,
    typer.Option(
        help=(
            "Repository checkout (its .state/ holds the network) [default: found up from "
            "the working dir, else the checkout ccnet is installed from]."
        ),
        envvar="CCNET_ROOT",
        show_default=False,
    ),
]
StateOpt = Annotated[
    Path | None,
    typer.Option(
        "--state-dir",
        help="Base paths, pid files and logs (default: .state/localnet).",
        envvar="CCNET_LOCALNET_DIR",
    ),
]
SpecOpt = Annotated[
    Path | None,
    typer.Option(
        "--spec",
        help="Raw chain spec every node runs (default: chain-spec/local_testnet.raw.json).",
        envvar="CCNET_LOCALNET_SPEC",
        show_default=False,
    ),
]
BinaryOpt = Annotated[
    Path | None,
    typer.Option(
        "--node-bin",
        help="The ccnet-node binary (default: ~/.cache/ccnet/node-target/debug/ccnet-node).",
        envvar="CCNET_NODE_BIN",
        show_default=False,
    ),
]


def _network(
    *,
    root: Path | None,
    state_dir: Path | None,
    validators: int = len(AUTHORITIES),
    full_nodes: int = 0,
    binary: Path | None = None,
    spec: Path | None = None,
    timeout: float = DEFAULT_START_TIMEOUT,
) -> LocalNetwork:
    # Paths given by the user are relative to the working dir, not to the root.
    return LocalNetwork(
        validators,
        full_nodes,
        root=root.resolve() if root else None,
        state_dir=state_dir.resolve() if state_dir else None,
        binary=binary.resolve() if binary else None,
        spec=spec.resolve() if spec else None,
        start_timeout=timeout,
    )


def _nodes_json(info: NetworkInfo) -> list[dict[str, Any]]:
    return [
        {**dataclasses.asdict(node), "url": node.ws_url, "alive": node.alive} for node in info.nodes
    ]


@app.command()
def start(
    ctx: typer.Context,
    validators: Annotated[
        int,
        typer.Option(
            min=1,
            max=len(AUTHORITIES),
            help="Validators to run: Alice, Bob, Charlie, Dave in that order (GRANDPA "
            "finalizes only with 3 or 4).",
        ),
    ] = len(AUTHORITIES),
    full_nodes: Annotated[
        int, typer.Option(min=0, max=MAX_FULL_NODES, help="Non-validator nodes to run.")
    ] = 0,
    state_dir: StateOpt = None,
    node_bin: BinaryOpt = None,
    spec: SpecOpt = None,
    timeout: Annotated[
        float,
        typer.Option(
            help="Seconds to wait for every node to answer and build a block (the first "
            "start compiles the runtime: minutes)."
        ),
    ] = DEFAULT_START_TIMEOUT,
    root: RootOpt = None,
) -> None:
    """Start the network in the background, from genesis, and wait until every node has
    a block. Prints each node's WebSocket URL and the CCNET_URL (or --url) to use. Does
    nothing if it already runs with the same nodes; an error (exit code 1) if it runs
    with others."""
    cli = CliContext.of(ctx)
    with cli.errors():
        network = _network(
            root=root,
            state_dir=state_dir,
            validators=validators,
            full_nodes=full_nodes,
            binary=node_bin,
            spec=spec,
            timeout=timeout,
        )
        already = network.status() is not None
        if warning := finality_warning(validators):
            cli.info(f"warning: {warning}")
        if not already:
            cli.info("starting the network (the first start compiles the runtime: minutes)")
        info = network.start()
    url = info.nodes[0].ws_url
    data = {
        "running": True,
        "already_running": already,
        "fresh_state": not already and FRESH_STATE,
        "dir": info.dir,
        "url": url,
        "env": {"CCNET_URL": url},
        "nodes": _nodes_json(info),
    }

    def human() -> str:
        state = "already running, state kept" if already else "fresh state from genesis"
        lines = [f"local network running ({state}; logs in {info.dir}):"]
        lines += [f"  {n.name:<8} {n.role:<9} {n.ws_url}  pid {n.pid}" for n in info.nodes]
        lines += [
            "point the CLI and `ccnet worker run` at it with:",
            f"  export CCNET_URL={url}      (or: ccnet --url {url} ...)",
            f'and the SDK with Chain("{url}") (any node\'s URL above works)',
        ]
        return "\n".join(lines)

    cli.emit(data, human=human)


@app.command()
def status(ctx: typer.Context, state_dir: StateOpt = None, root: RootOpt = None) -> None:
    """Show each node: name, role, pid and whether it runs, best and finalized block
    numbers, peers (exit code 3 if no node runs); with --json ``{"running", "url",
    "nodes": [{"name", "role", "pid", "alive", "url", "best", "finalized", "peers",
    "syncing", "error"}]}``."""
    cli = CliContext.of(ctx)
    with cli.errors():
        network = _network(root=root, state_dir=state_dir)
        info = network.status()
        statuses = network.statuses() if info is not None else []
    if info is None:
        cli.emit({"running": False, "nodes": []}, human="local network is not running")
        raise typer.Exit(code=int(ExitCode.CHAIN))
    data = {
        "running": True,
        "dir": info.dir,
        "url": info.nodes[0].ws_url,
        "nodes": [dataclasses.asdict(s) for s in statuses],
    }
    cli.emit(data, human=lambda: _table(cli, statuses))


def _table(cli: CliContext, statuses: list[NodeStatus]) -> Any:
    def num(value: int | None) -> str:
        return "-" if value is None else str(value)

    rows = [
        (
            s.name,
            s.role,
            s.pid,
            "yes" if s.alive else "no",
            num(s.best),
            num(s.finalized),
            num(s.peers),
            s.url,
            s.error or "",
        )
        for s in statuses
    ]
    header = ("node", "role", "pid", "alive", "best", "finalized", "peers", "url", "error")
    return cli.table("local network", rows, header=header)


@app.command()
def stop(ctx: typer.Context, state_dir: StateOpt = None, root: RootOpt = None) -> None:
    """Stop every node of the network (base paths and logs stay until the next start)."""
    cli = CliContext.of(ctx)
    with cli.errors():
        was_running = _network(root=root, state_dir=state_dir).stop()
    cli.emit(
        {"was_running": was_running},
        human="local network stopped" if was_running else "local network was not running",
    )
