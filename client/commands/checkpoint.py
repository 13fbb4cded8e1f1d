"""``ccnet checkpoint save|restore|list|wallet|gateway``: state checkpoints on Arweave.

Thin over :mod:`ccnet.storage`. The gateway is arlocal on 127.0.0.1:1984 by default
(``--gateway`` / ``$CCNET_ARWEAVE_URL`` for a real network); a loopback gateway is taken
for arlocal (``--dev``: it mines, and ``wallet --mint`` funds), others not. The Arweave
wallet (RSA JWK) is ``.state/arweave/wallet.json`` unless ``--wallet`` /
``$CCNET_ARWEAVE_WALLET`` names another; ``save`` and ``wallet`` create it when missing.
Uploads and downloads over 1 MiB show a progress bar on stderr.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

import typer
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from ccnet.storage import (
    ArweaveGateway,
    ArweaveWallet,
    Checkpoint,
    CheckpointStore,
    DevGateway,
    LocalCache,
)
from ccnet.storage.cache import DEFAULT_CACHE_DIR, DEFAULT_MAX_BYTES
from ccnet.storage.devgateway import DEFAULT_PORT as GATEWAY_PORT
from ccnet.storage.devgateway import DEFAULT_STATE_DIR as GATEWAY_STATE_DIR
from ccnet.storage.devgateway import DEFAULT_TIMEOUT as GATEWAY_TIMEOUT
from ccnet.storage.devgateway import DevGatewayInfo
from ccnet.storage.gateway import GATEWAY_URL_ENV, gateway_url
from ccnet.storage.hashing import hash_hex

from ..devchain import find_root
from ..exceptions import UserError
from ._common import CliContext, ExitCode, KeyOpt, write_durably

__all__ = ["PROGRESS_THRESHOLD", "app"]

app = typer.Typer(
    help="Save and restore state checkpoints (Arweave + the Checkpoints pallet).",
    no_args_is_help=True,
)
gateway_app = typer.Typer(help="Run arlocal, the local Arweave gateway (127.0.0.1 only).")
app.add_typer(gateway_app, name="gateway", no_args_is_help=True)

PROGRESS_THRESHOLD = 1024 * 1024
"""Transfers above this many bytes show a progress bar."""
DEFAULT_WALLET = Path(".state/arweave/wallet.json")
DEV_FUNDS = 10**15
"""Winston ``wallet --mint`` adds by default on a dev gateway."""

GatewayOpt = Annotated[
    str | None,
    typer.Option(
        "--gateway",
        help="Arweave gateway URL [default: http://127.0.0.1:1984].",
        envvar=GATEWAY_URL_ENV,
        show_default=False,
    ),
]
DevOpt = Annotated[
    bool | None,
    typer.Option(
        "--dev/--no-dev",
        help="The gateway is arlocal (mine, mint) [default: if it is on loopback].",
        envvar="CCNET_ARWEAVE_DEV",
        show_default=False,
    ),
]
WalletOpt = Annotated[
    Path | None,
    typer.Option(
        "--wallet",
        help="Arweave wallet (JWK) [default: .state/arweave/wallet.json].",
        envvar="CCNET_ARWEAVE_WALLET",
        show_default=False,
    ),
]
CacheOpt = Annotated[
    Path | None,
    typer.Option(
        "--cache-dir",
        help="Local checkpoint cache [default: .state/checkpoints/cache].",
        envvar="CCNET_CHECKPOINT_CACHE",
        show_default=False,
    ),
]
CacheMaxOpt = Annotated[
    int,
    typer.Option(
        "--cache-max-bytes",
        min=0,
        help="Size bound of the cache.",
        envvar="CCNET_CHECKPOINT_CACHE_MAX",
    ),
]
OwnerOpt = Annotated[
    str | None,
    typer.Option(
        "--owner",
        help="Whose checkpoint: an address, keystore name or dev URI [default: --key].",
        show_default=False,
    ),
]
OptionalKeyOpt = Annotated[
    str | None,
    typer.Option(
        "--key",
        "-k",
        help="Account: a keystore name, or a dev URI such as //Alice.",
        envvar="CCNET_KEY",
        show_default=False,
    ),
]


def _root_path(path: Path | None, default: Path) -> Path:
    # Paths given by the user are relative to the working dir; defaults to the root.
    return path.expanduser().resolve() if path else find_root() / default


def _is_loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    return host in ("localhost", "::1") or host.startswith("127.")


def open_gateway(url: str | None, dev: bool | None) -> ArweaveGateway:
    """The gateway at *url* (default ``$CCNET_ARWEAVE_URL``, else arlocal's), arlocal's
    dev API on when *dev*, or when ``None`` if it is on loopback."""
    resolved = gateway_url(url)
    return ArweaveGateway(resolved, dev=_is_loopback(resolved) if dev is None else dev)


def _cache(path: Path | None, max_bytes: int) -> LocalCache:
    return LocalCache(_root_path(path, DEFAULT_CACHE_DIR), max_bytes=max_bytes)


class _Bars:
    """Rich progress bars on stderr, one per phase, for transfers over the threshold."""

    LABELS = {"upload": "uploading", "verify": "verifying", "download": "downloading"}

    def __init__(self, progress: Progress | None) -> None:
        self.__progress = progress
        self.__tasks: dict[str, TaskID] = {}

    def __call__(self, phase: str, done: int, total: int) -> None:
        if self.__progress is None or total <= PROGRESS_THRESHOLD:
            return
        task = self.__tasks.get(phase)
        if task is None:
            label = self.LABELS.get(phase, phase)
            task = self.__tasks[phase] = self.__progress.add_task(label, total=total)
        self.__progress.update(task, completed=done, total=total)


@contextmanager
def _bars(cli: CliContext) -> Iterator[_Bars]:
    if cli.json:
        yield _Bars(None)
        return
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(binary_units=True),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=cli.err_console,
        transient=True,
    )
    with progress:
        yield _Bars(progress)


def _fund_dev_wallet(client: ArweaveGateway, address: str, size: int) -> int:
    """On a dev gateway (arlocal), mint what a fresh or spent wallet lacks to store
    *size* bytes (its price plus :data:`DEV_FUNDS` winston, so later saves need no
    minting); returns the winston minted (0: enough already, or not a dev gateway).
    arlocal refuses an unfunded wallet's transaction ("not enough tokens")."""
    if not client.dev:
        return 0
    price = client.price(size)
    if client.balance(address) >= price:
        return 0
    client.mint(address, price + DEV_FUNDS)
    return price + DEV_FUNDS


def _metadata(pairs: Sequence[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip() or not value:
            raise UserError(f"--meta takes NAME=VALUE, not {pair!r}")
        found[name.strip()] = value
    return found


def _write_output(path: str, data: bytes) -> None:
    if path == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    target = Path(path).expanduser()
    target.parent.mkdir(parents=True, exist_ok=True)
    write_durably(target, data)


@app.command()
def save(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="State to save ('-' reads stdin).")],
    key: KeyOpt,
    meta: Annotated[
        list[str] | None,
        typer.Option("--meta", "-m", help="Extra tag NAME=VALUE (repeatable; Type=...)."),
    ] = None,
    gateway: GatewayOpt = None,
    dev: DevOpt = None,
    wallet: WalletOpt = None,
    cache_dir: CacheOpt = None,
    cache_max_bytes: CacheMaxOpt = DEFAULT_MAX_BYTES,
) -> None:
    """Upload FILE to Arweave, prove it retrievable, and record its hash on chain. On a
    dev gateway (--dev) a wallet short of funds is funded first (arlocal's mint; JSON
    ``minted``: winston)."""
    cli = CliContext.of(ctx)
    with cli.errors():
        try:
            data = sys.stdin.buffer.read() if str(file) == "-" else file.read_bytes()
        except OSError as err:
            raise UserError(f"cannot read {file}: {err}") from None
        checkpoint = Checkpoint(data, _metadata(meta or []))
        signer = cli.keypair(key)
        arweave = ArweaveWallet.load_or_create(_root_path(wallet, DEFAULT_WALLET))
        with open_gateway(gateway, dev) as client, _bars(cli) as bars:
            store = CheckpointStore(
                cli.chain(), signer, client, arweave, _cache(cache_dir, cache_max_bytes)
            )
            minted = _fund_dev_wallet(client, arweave.address, len(data))
            if minted:
                cli.info(f"dev gateway: minted {minted} winston for {arweave.address}")
            cli.info(f"saving {len(data):,} bytes for {signer.ss58_address} via {client.url}")
            saved = store.save(checkpoint, on_progress=bars)
        cli.emit(
            {**saved.as_dict(), "owner": signer.ss58_address, "minted": minted},
            human=lambda: cli.table(
                "Checkpoint saved",
                [
                    ("owner", signer.ss58_address),
                    ("state hash", hash_hex(saved.state_hash)),
                    ("arweave tx", saved.tx_id),
                    ("size", f"{saved.size:,} bytes"),
                    ("block", saved.block_hash),
                ]
                + ([("resumed", "yes")] if saved.resumed else []),
            ),
        )


@app.command()
def restore(
    ctx: typer.Context,
    output: Annotated[
        str, typer.Option("--output", "-o", help="Where to write the state ('-' = stdout).")
    ],
    owner: OwnerOpt = None,
    key: OptionalKeyOpt = None,
    gateway: GatewayOpt = None,
    dev: DevOpt = None,
    cache_dir: CacheOpt = None,
    cache_max_bytes: CacheMaxOpt = DEFAULT_MAX_BYTES,
) -> None:
    """Fetch the latest checkpoint (local cache first, else the gateway) and verify it."""
    cli = CliContext.of(ctx)
    with cli.errors():
        who = owner or key
        if not who:
            raise UserError("name whose checkpoint: --owner ADDRESS|KEY or --key KEY")
        address = cli.address(who)
        with open_gateway(gateway, dev) as client, _bars(cli) as bars:
            store = CheckpointStore(
                cli.chain(), None, client, None, _cache(cache_dir, cache_max_bytes)
            )
            data = store.restore(address, on_progress=bars)
        _write_output(output, data)
        summary = {"owner": address, "size": len(data), "output": output}
        if output != "-":
            cli.emit(summary, human=f"restored {len(data):,} bytes of {address} to {output}")


@app.command(name="list")
def list_(
    ctx: typer.Context,
    owner: OwnerOpt = None,
    key: OptionalKeyOpt = None,
    cache_dir: CacheOpt = None,
) -> None:
    """List the newest checkpoints recorded on chain (up to 32), newest first."""
    cli = CliContext.of(ctx)
    with cli.errors():
        who = owner or key
        if not who:
            raise UserError("name whose checkpoints: --owner ADDRESS|KEY or --key KEY")
        address = cli.address(who)
        records = list(reversed(cli.chain().checkpoints.history(address)))
        cache = _cache(cache_dir, DEFAULT_MAX_BYTES)
        rows = []
        for record in records:
            cached = bytes.fromhex(record.state_hash.removeprefix("0x")) in cache
            rows.append((record, cached))
        cli.emit(
            [{**_record_dict(r), "cached": c} for r, c in rows],
            human=lambda: cli.table(
                f"Checkpoints of {address}" if rows else f"No checkpoints of {address}",
                [
                    (r.block, f"{r.size:,}", r.state_hash, r.arweave_tx_id, "yes" if c else "")
                    for r, c in rows
                ],
                header=("block", "bytes", "state hash", "arweave tx", "cached"),
            ),
        )


def _record_dict(record: object) -> dict[str, object]:
    fields = ("owner", "state_hash", "arweave_tx_id", "size", "block")
    return {name: getattr(record, name) for name in fields}


@app.command()
def wallet(
    ctx: typer.Context,
    mint: Annotated[
        int | None,
        typer.Option(
            "--mint",
            min=1,
            help=f"Dev gateway: add this many winston (e.g. {DEV_FUNDS}).",
            show_default=False,
        ),
    ] = None,
    gateway: GatewayOpt = None,
    dev: DevOpt = None,
    wallet: WalletOpt = None,
) -> None:
    """Show the Arweave wallet (made if missing) and its balance; --mint funds it in dev."""
    cli = CliContext.of(ctx)
    with cli.errors():
        path = _root_path(wallet, DEFAULT_WALLET)
        created = not path.exists()
        arweave = ArweaveWallet.load_or_create(path)
        with open_gateway(gateway, dev) as client:
            if mint is not None:
                if not client.dev:
                    raise UserError(f"{client.url} is not a dev gateway: --mint needs arlocal")
                client.mint(arweave.address, mint)
            balance = client.balance(arweave.address)
        data = {"address": arweave.address, "wallet": str(path), "balance": balance}
        cli.emit(
            {**data, "created": created},
            human=lambda: cli.table(
                "Arweave wallet" + (" (new)" if created else ""),
                [("address", arweave.address), ("file", path), ("balance", f"{balance} winston")],
            ),
        )


StateDirOpt = Annotated[
    Path | None,
    typer.Option(
        "--state-dir",
        help="Pid file, log, info and data [default: .state/arlocal].",
        envvar="CCNET_ARLOCAL_DIR",
        show_default=False,
    ),
]
PortOpt = Annotated[
    int,
    typer.Option(
        "--port", min=1, max=65535, help="Port on 127.0.0.1.", envvar="CCNET_ARLOCAL_PORT"
    ),
]
GatewayTimeoutOpt = Annotated[
    float,
    typer.Option(help="Seconds to wait for arlocal to answer.", envvar="CCNET_ARLOCAL_TIMEOUT"),
]
RootOpt = Annotated[
    Path | None,
    typer.Option(
        help=(
            "Repository checkout (node_modules) [default: found up from the working dir, "
            "else the checkout ccnet is installed from]."
        ),
        envvar="CCNET_ROOT",
        show_default=False,
    ),
]


def _dev_gateway(
    state_dir: Path | None,
    root: Path | None,
    port: int = GATEWAY_PORT,
    timeout: float = GATEWAY_TIMEOUT,
) -> DevGateway:
    # As `ccnet chain`: paths given by the user are relative to the working dir, the
    # default state dir to the checkout.
    checkout = root.resolve() if root else find_root()
    return DevGateway(
        root=checkout,
        state_dir=state_dir.resolve() if state_dir else checkout / GATEWAY_STATE_DIR,
        port=port,
        timeout=timeout,
    )


def _describe(info: DevGatewayInfo) -> str:
    return f"{info.url} (pid {info.pid}, data {info.data_dir}, log {info.log})"


def _info_json(info: DevGatewayInfo) -> dict[str, object]:
    return {"running": True, **dataclasses.asdict(info)}


@gateway_app.command("start")
def gateway_start(
    ctx: typer.Context,
    port: PortOpt = GATEWAY_PORT,
    state_dir: StateDirOpt = None,
    timeout: GatewayTimeoutOpt = GATEWAY_TIMEOUT,
    root: RootOpt = None,
) -> None:
    """Start arlocal in the background (its data are kept in the state dir across
    restarts). Does nothing if it already runs on the same port (the output says so:
    already_running); an error (exit code 1) if it runs on another port or the port is
    taken. As `ccnet chain start`."""
    cli = CliContext.of(ctx)
    with cli.errors():
        gateway = _dev_gateway(state_dir, root, port, timeout)
        already = gateway.status() is not None
        info = gateway.start()
        state = "already running, data kept" if already else "started"
        cli.emit(
            {**_info_json(info), "already_running": already},
            human=f"arlocal running at {_describe(info)}; {state}",
        )


@gateway_app.command("stop")
def gateway_stop(ctx: typer.Context, state_dir: StateDirOpt = None, root: RootOpt = None) -> None:
    """Stop arlocal (its data stay in the state dir); with --json ``{"was_running"}``."""
    cli = CliContext.of(ctx)
    with cli.errors():
        was_running = _dev_gateway(state_dir, root).stop()
        cli.emit(
            {"was_running": was_running},
            human="arlocal stopped" if was_running else "arlocal was not running",
        )


@gateway_app.command("status")
def gateway_status(ctx: typer.Context, state_dir: StateDirOpt = None, root: RootOpt = None) -> None:
    """Show whether arlocal runs (exit code 3 if it does not); with --json
    ``{"running": ..., "url", "pid", "data_dir", "log", ...}``."""
    cli = CliContext.of(ctx)
    with cli.errors():
        info = _dev_gateway(state_dir, root).status()
    if info is None:
        cli.emit({"running": False}, human="arlocal is not running")
        raise typer.Exit(code=int(ExitCode.CHAIN))
    cli.emit(_info_json(info), human=f"arlocal running at {_describe(info)}")
