"""``ccnet channel open|join|list|show|pay|resolve|serve|close|settle|challenge|guard``:
payment channels.

Thin over :class:`ccnet.channels.ChannelParty`. Each key keeps its channels in a SQLite
store, by default the one the requester SDK uses too,
``.state/accounts/<address>/channels.db`` (:func:`ccnet.channels.store.default_channel_store`),
unless ``--store`` / ``$CCNET_CHANNEL_STORE`` names another: a store file, or a state dir
(an SDK's or a worker daemon's) holding ``channels.db``
(:func:`~ccnet.channels.store.check_store_path`: a mistyped path is an error, never a new
empty store). Off-chain updates happen between running parties: the worker and the
SDK (over their WebRTC session), or two ``ccnet`` users over TCP with the same
protocol (:mod:`ccnet.channels.transport`): the payee runs ``serve`` (it countersigns
states that do not lower its balance and answers a cooperative close), the payer runs
``pay`` / ``resolve`` / ``close --peer HOST:PORT``. Every state is durable in the store
before it leaves (:class:`~ccnet.channels.ChannelParty`). These commands also open,
inspect and close channels, and hand states to a watchtower (``guard``: written to the
tower's file, which ``ccnet watchtower run`` reads).
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from ccnet.channels import (
    Channel,
    ChannelParty,
    ChannelRecord,
    Party,
    PeerTimeoutError,
    PersistError,
    ProposalRejectedError,
    SignedState,
    SqliteChannelStore,
    StoreLockedError,
    StreamTransport,
    TowerStore,
    TransportClosedError,
    UnknownChannelError,
    connect,
    serve,
)
from ccnet.channels.store import check_store_path, default_channel_store

from ..events import Receipt
from ..exceptions import UserError
from ..keys import Keypair
from ._common import CliContext, KeyOpt, format_cc, parse_amount

__all__ = ["app"]

app = typer.Typer(help="Open, inspect and close payment channels.", no_args_is_help=True)

T = TypeVar("T")

StoreOpt = Annotated[
    Path | None,
    typer.Option(
        "--store",
        help=(
            "Channel store: an SQLite store file, or a state dir (the requester SDK's, a "
            "worker daemon's) holding channels.db. A file that exists must be a channel "
            "store; a new one is created only inside an existing directory "
            "[default: .state/accounts/<address>/channels.db, shared with the SDK]."
        ),
        envvar="CCNET_CHANNEL_STORE",
        show_default=False,
    ),
]
ChannelArg = Annotated[str, typer.Argument(help="Channel id (0x + 64 hex).")]
PeerOpt = Annotated[
    str,
    typer.Option(
        "--peer",
        help="HOST:PORT where the payee runs `ccnet channel serve`.",
        envvar="CCNET_CHANNEL_PEER",
    ),
]
PeerTimeoutOpt = Annotated[
    float,
    typer.Option(
        "--timeout", min=0.1, help="Seconds to wait for the peer's answer.", show_default=True
    ),
]
DEFAULT_PEER_TIMEOUT = 30.0


def _channel_id(text: str) -> bytes:
    raw = text.strip().removeprefix("0x")
    try:
        value = bytes.fromhex(raw)
    except ValueError:
        value = b""
    if len(value) != 32:
        raise UserError(f"not a channel id: {text!r} (0x and 64 hex digits)")
    return value


def _store(store: Path | None, keypair: Keypair, *, exclusive: bool = False) -> SqliteChannelStore:
    """The store named by ``--store`` (checked: :func:`check_store_path`), else the
    key's default one (created with its directories on first use). *exclusive*: hold
    its lock (see :class:`SqliteChannelStore`) until it is closed; a :class:`UserError`
    when another process holds it."""
    if store is None:
        path = default_channel_store(str(keypair.ss58_address))
    else:
        try:
            path = check_store_path(store)
        except PersistError as err:
            raise UserError(
                str(err),
                hint="--store names a channel store file or a directory holding channels.db",
            ) from None
    try:
        return SqliteChannelStore(path, exclusive=exclusive)
    except StoreLockedError as err:
        raise UserError(str(err)) from None


def _host_port(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[v6]:PORT`` too); :class:`UserError` otherwise."""
    host, sep, port = text.strip().rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise UserError(f"not HOST:PORT: {text!r}", hint="e.g. --peer 127.0.0.1:9955")
    return host, int(port)


def _run(
    cli: CliContext,
    key: str,
    store: Path | None,
    action: Callable[[ChannelParty], Coroutine[Any, Any, T]],
    *,
    timeout: float = DEFAULT_PEER_TIMEOUT,
    exclusive: bool = False,
) -> T:
    """Run *action* on a chain-backed party of *key* (store closed afterwards);
    *timeout*: seconds the party waits for the peer's answer; *exclusive*: hold the
    store's lock for the whole run (commands that sign states with a peer)."""
    signer = cli.keypair(key)
    channels = _store(store, signer, exclusive=exclusive)

    async def run() -> T:
        async with ChannelParty(signer, channels, chain=cli.chain(), timeout=timeout) as party:
            return await action(party)

    try:
        return asyncio.run(run())
    finally:
        channels.close()


def _rows(record: ChannelRecord) -> list[tuple[str, object]]:
    info, latest = record.info, record.latest
    me = record.me
    rows: list[tuple[str, object]] = [
        ("channel", "0x" + info.channel_id.hex()),
        ("we are", f"party {me.value}"),
        ("phase", record.phase.value),
        ("deposits", f"A {format_cc(info.deposit_a)}, B {format_cc(info.deposit_b)}"),
        ("version", latest.version),
        ("co-signed", "yes" if latest.co_signed else "no (the opening state)"),
        ("our balance", format_cc(latest.state.balance_of(me))),
        ("their balance", format_cc(latest.state.balance_of(me.other))),
    ]
    if record.pending is not None:
        rows.append(("outstanding", f"version {record.pending.state.version} (not countersigned)"))
    if record.cancelled:
        rows.append(("cancelled up to", f"version {record.cancelled}"))
    if record.closing is not None:
        agreed = "agreed" if record.closing.complete else "requested (waiting for the peer)"
        rows.append(("cooperative close", f"{agreed} at version {record.closing.version}"))
    return rows


def _planck_ints(data: dict[str, Any], *names: str) -> dict[str, Any]:
    """*data* with the amounts *names* as integers (the channel wire format writes planck
    as decimal strings; the CLI's JSON has integer planck everywhere)."""
    return {k: int(v) if k in names else v for k, v in data.items()}


def _record_json(record: ChannelRecord) -> dict[str, Any]:
    return {
        "params": _planck_ints(record.info.to_json(), "deposit_a", "deposit_b"),
        "me": record.me.value,
        "phase": record.phase.value,
        "latest": _planck_ints(record.latest.to_json(), "balance_a", "balance_b"),
        "pending_version": record.pending.state.version if record.pending else None,
        "cancelled": record.cancelled,
        "closing": None
        if record.closing is None
        else {"version": record.closing.version, "agreed": record.closing.complete},
    }


def _receipt_json(receipt: Receipt, event: str) -> dict[str, Any]:
    found = receipt.expect("Channels", event)
    return {**found.attributes, "block_hash": receipt.block_hash, "fee": receipt.fee}


@app.command("open")
def open_(
    ctx: typer.Context,
    counterparty: Annotated[str, typer.Argument(help="Address, key name or dev URI of B.")],
    deposit: Annotated[str, typer.Argument(help="Our deposit, e.g. 10 or 10CC or 5planck.")],
    key: KeyOpt,
    counterparty_deposit: Annotated[
        str, typer.Option(help="What B deposits with `channel join` (0: funded at once).")
    ] = "0",
    store: StoreOpt = None,
) -> None:
    """Open a channel to COUNTERPARTY, as party A (--json: the channel as `channel show
    --no-chain`, and ``fee``, planck)."""
    cli = CliContext.of(ctx)
    with cli.errors():
        address = cli.address(counterparty)
        amount, asked = parse_amount(deposit), parse_amount(counterparty_deposit)

        async def act(party: ChannelParty) -> tuple[Channel, int]:
            channel = await party.open(address, amount, asked)
            return channel, sum(r.fee for r in party.receipts)

        with cli.status("opening the channel..."):
            channel, fee = _run(cli, key, store, act)
        record = channel.record()
        cli.emit(
            {**_record_json(record), "fee": fee},
            human=lambda: cli.table("Opened channel", [*_rows(record), ("fee", format_cc(fee))]),
        )


@app.command()
def join(
    ctx: typer.Context,
    channel_id: ChannelArg,
    key: KeyOpt,
    fund: Annotated[bool, typer.Option(help="Deposit what the channel asks of us.")] = True,
    store: StoreOpt = None,
) -> None:
    """Track a channel a peer opened to us (and fund it as party B)."""
    cli = CliContext.of(ctx)
    with cli.errors():
        cid = _channel_id(channel_id)
        with cli.status("joining the channel..."):
            channel = _run(cli, key, store, lambda p: p.join(cid, fund=fund))
        record = channel.record()
        cli.emit(_record_json(record), human=lambda: cli.table("Joined channel", _rows(record)))


@app.command("list")
def list_(ctx: typer.Context, key: KeyOpt, store: StoreOpt = None) -> None:
    """List the channels in our store (no chain needed)."""
    cli = CliContext.of(ctx)
    with cli.errors():
        channels = _store(store, cli.keypair(key))
        try:
            records = channels.channels()
        finally:
            channels.close()
        rows = [
            (
                "0x" + r.info.channel_id.hex(),
                r.me.value,
                r.phase.value,
                r.latest.version,
                format_cc(r.latest.state.balance_of(r.me)),
                format_cc(r.latest.state.balance_of(r.me.other)),
            )
            for r in records
        ]
        header = ("channel", "we", "phase", "version", "ours", "theirs")
        cli.emit(
            [_record_json(r) for r in records],
            human=lambda: cli.table("Channels", rows, header=header) if rows else "no channels",
        )


@app.command()
def show(
    ctx: typer.Context,
    channel_id: ChannelArg,
    key: KeyOpt,
    store: StoreOpt = None,
    on_chain: Annotated[
        bool, typer.Option("--chain/--no-chain", help="Also read the channel on chain.")
    ] = True,
) -> None:
    """Show a channel: our latest co-signed state, and its phase on chain."""
    cli = CliContext.of(ctx)
    with cli.errors():
        cid = _channel_id(channel_id)
        channels = _store(store, cli.keypair(key))
        try:
            record = channels.load(cid)
        finally:
            channels.close()
        rows = _rows(record)
        data = _record_json(record)
        if on_chain:
            info = cli.chain().channels.channel(cid)
            data["chain"] = info
            if info is None:
                rows.append(("on chain", "gone (closed)"))
            else:
                rows.append(("on chain", info.phase))
                rows.append(("challenge period", f"{info.challenge_period} blocks"))
                if info.closing is not None:
                    closing = info.closing
                    rows.append(
                        (
                            "registered",
                            f"version {closing.version} (closed by {closing.closer}), "
                            f"newer states taken until block {closing.challenge_ends}",
                        )
                    )
        cli.emit(data, human=lambda: cli.table("Channel", rows))


def _state_json(channel: Channel, signed: SignedState, amount: int | None) -> dict[str, Any]:
    state = signed.state
    return {
        "channel_id": "0x" + channel.channel_id.hex(),
        "version": signed.version,
        "amount": amount,
        "balance": state.balance_of(channel.me),
        "peer_balance": state.balance_of(channel.peer),
        "balance_a": state.balance_a,
        "balance_b": state.balance_b,
    }


def _state_rows(data: dict[str, Any]) -> list[tuple[str, object]]:
    rows: list[tuple[str, object]] = [("channel", data["channel_id"]), ("version", data["version"])]
    if data["amount"] is not None:
        rows.append(("paid", format_cc(data["amount"])))
    rows += [
        ("our balance", format_cc(data["balance"])),
        ("their balance", format_cc(data["peer_balance"])),
    ]
    return rows


async def _attach(party: ChannelParty, channel_id: bytes, peer: str) -> None:
    """Serve *channel_id* over a new TCP connection to *peer* (``HOST:PORT``); attaching
    re-sends our outstanding proposal, if any."""
    host, port = _host_port(peer)
    try:
        transport = await connect(host, port)
    except TransportClosedError as err:
        raise UserError(
            f"cannot reach the peer at {peer} ({err}); nothing was sent",
            hint="the payee runs `ccnet channel serve CHANNEL_ID --listen HOST:PORT`",
        ) from None
    await party.attach(channel_id, transport)


def _unanswered(channel: Channel, err: Exception, timeout: float) -> UserError:
    """The error for a proposal the peer did not answer (*err*: a timeout or a dropped
    connection) or refused without a valid cancel (a :class:`ProposalRejectedError`
    whose ``cancel_version`` is None): it stays outstanding, signed by us and durable,
    so the peer holds our signature of it."""
    version = channel.pending.state.version if channel.pending else channel.latest.version
    if isinstance(err, PeerTimeoutError):
        why = f"no answer in {timeout:g} s"
    elif isinstance(err, ProposalRejectedError):
        why = f"refused without a valid cancel: {err}"
    else:
        why = str(err)
    return UserError(
        f"the peer did not countersign version {version} ({why}); it stays outstanding "
        "(signed by us, stored): the peer may still hold it co-signed, so count it as "
        "possibly paid",
        hint=(
            "`ccnet channel resolve CHANNEL_ID --peer HOST:PORT` re-sends it and waits for "
            "the answer; or `ccnet channel close CHANNEL_ID --unilateral` (you end with at "
            "least your balance in it)"
        ),
    )


@app.command()
def pay(
    ctx: typer.Context,
    channel_id: ChannelArg,
    amount: Annotated[str, typer.Argument(help="What to pay, e.g. 1.5 or 1.5CC or 7planck.")],
    key: KeyOpt,
    peer: PeerOpt,
    memo: Annotated[str, typer.Option(help="A note signed into the proposal.")] = "",
    timeout: PeerTimeoutOpt = DEFAULT_PEER_TIMEOUT,
    store: StoreOpt = None,
) -> None:
    """Pay AMOUNT to the peer over an open channel (we are party A, who opened it): one
    new state, durable in our store before it leaves, countersigned by the peer, which
    runs `ccnet channel serve` at --peer. With --json ``{"channel_id", "version",
    "amount", "balance", "peer_balance", "balance_a", "balance_b"}`` (planck). Refused,
    with nothing sent, while an earlier payment is outstanding (`channel resolve`)."""
    cli = CliContext.of(ctx)
    with cli.errors():
        cid = _channel_id(channel_id)
        planck = parse_amount(amount)
        if planck <= 0:
            raise UserError("the amount must be more than 0")
        _host_port(peer)

        async def act(party: ChannelParty) -> tuple[Channel, SignedState]:
            channel = party.channel(cid)
            if channel.me is not Party.A:
                raise UserError(
                    "only party A (who opened the channel) pays in it; we are party B here"
                )
            if channel.pending is not None:
                raise UserError(
                    f"version {channel.pending.state.version} is outstanding (sent, not "
                    "countersigned); nothing was sent",
                    hint="`ccnet channel resolve CHANNEL_ID --peer HOST:PORT` settles it first",
                )
            await _attach(party, cid, peer)
            try:
                signed = await party.pay(cid, planck, memo)
            except (PeerTimeoutError, TransportClosedError) as err:
                raise _unanswered(channel, err, timeout) from None
            except ProposalRejectedError as err:
                if err.cancel_version is None:  # the peer still holds our signed state
                    raise _unanswered(channel, err, timeout) from None
                raise UserError(f"the peer refused the payment ({err}); nothing was paid") from None
            return channel, signed

        with cli.status("paying..."):
            channel, signed = _run(cli, key, store, act, timeout=timeout, exclusive=True)
        data = _state_json(channel, signed, planck)
        cli.emit(data, human=lambda: cli.table("Paid", _state_rows(data)))


@app.command()
def resolve(
    ctx: typer.Context,
    channel_id: ChannelArg,
    key: KeyOpt,
    peer: PeerOpt,
    timeout: PeerTimeoutOpt = DEFAULT_PEER_TIMEOUT,
    store: StoreOpt = None,
) -> None:
    """Settle our outstanding payment with the peer: re-send it and wait for the answer
    (countersigned: it is paid; refused: the peer's cancel is the latest state). Prints
    the latest co-signed state (--json as `channel pay`, amount null); without an
    outstanding payment it only prints it, without connecting."""
    cli = CliContext.of(ctx)
    with cli.errors():
        cid = _channel_id(channel_id)
        _host_port(peer)

        async def act(party: ChannelParty) -> tuple[Channel, SignedState]:
            channel = party.channel(cid)
            if channel.pending is None:
                return channel, channel.latest
            await _attach(party, cid, peer)
            try:
                return channel, await party.resolve(cid)
            except (PeerTimeoutError, TransportClosedError) as err:
                raise _unanswered(channel, err, timeout) from None
            except ProposalRejectedError as err:
                if err.cancel_version is None:  # the peer still holds our signed state
                    raise _unanswered(channel, err, timeout) from None
                return channel, channel.latest  # refused with a cancel: its balances

        with cli.status("resolving..."):
            channel, signed = _run(cli, key, store, act, timeout=timeout, exclusive=True)
        data = _state_json(channel, signed, None)
        cli.emit(data, human=lambda: cli.table("Latest co-signed state", _state_rows(data)))


@app.command("serve")
def serve_(
    ctx: typer.Context,
    channel_id: ChannelArg,
    key: KeyOpt,
    listen: Annotated[
        str,
        typer.Option(
            help="HOST:PORT to listen on (port 0: a free one, printed on stderr).",
            envvar="CCNET_CHANNEL_LISTEN",
        ),
    ] = "127.0.0.1:0",
    store: StoreOpt = None,
) -> None:
    """Serve a channel to the payer over TCP until Ctrl-C (or SIGTERM): countersign its
    payments (states that do not lower our balance; each durable before our answer
    leaves) and answer its cooperative close. Prints the channel at the end (--json as
    `channel show --no-chain`). Anyone who can connect can only offer states signed by
    the channel's parties; a new connection replaces the previous one."""
    cli = CliContext.of(ctx)
    with cli.errors():
        cid = _channel_id(channel_id)
        host, port = _host_port(listen)

        async def act(party: ChannelParty) -> Channel:
            channel = party.channel(cid)

            async def on_connect(transport: StreamTransport) -> None:
                await party.attach(cid, transport)

            try:
                server = await serve(on_connect, host, port)
            except OSError as err:
                raise UserError(f"cannot listen on {listen}: {err}") from None
            bound = server.sockets[0].getsockname()
            cli.err_console.print(
                f"serving channel 0x{cid.hex()} (we are party {channel.me.value}) on "
                f"{bound[0]}:{bound[1]}; Ctrl-C stops"
            )
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)
            try:
                await stop.wait()
            finally:
                for sig in (signal.SIGINT, signal.SIGTERM):
                    loop.remove_signal_handler(sig)
                server.close()
                await server.wait_closed()
            return channel

        channel = _run(cli, key, store, act, exclusive=True)
        record = channel.record()
        cli.emit(_record_json(record), human=lambda: cli.table("Channel", _rows(record)))


@app.command()
def close(
    ctx: typer.Context,
    channel_id: ChannelArg,
    key: KeyOpt,
    unilateral: Annotated[
        bool,
        typer.Option(help="Register our latest state and start the challenge period."),
    ] = False,
    peer: Annotated[
        str | None,
        typer.Option(
            "--peer",
            help="HOST:PORT of the peer's `ccnet channel serve`: agree the close with it.",
            envvar="CCNET_CHANNEL_PEER",
            show_default=False,
        ),
    ] = None,
    timeout: PeerTimeoutOpt = DEFAULT_PEER_TIMEOUT,
    store: StoreOpt = None,
) -> None:
    """Close a channel: cooperatively (paid out at once on the latest co-signed
    balances; the close is agreed with the peer at --peer, or was agreed earlier while
    connected, see ChannelParty.close_cooperatively), or --unilateral with our latest
    co-signed state (then `channel settle` after the challenge period; the peer may
    register a newer co-signed state until then)."""
    cli = CliContext.of(ctx)
    with cli.errors():
        cid = _channel_id(channel_id)

        async def act(party: ChannelParty) -> Receipt:
            channel = party.channel(cid)
            if unilateral:
                return await party.close_unilaterally(cid)
            closing = channel.closing
            if closing is None or not closing.complete:
                if peer is None:
                    raise UserError(
                        "no agreed cooperative close in the store: agree one with the peer "
                        "(--peer HOST:PORT, where it runs `ccnet channel serve`); without "
                        "the peer, close with --unilateral"
                    )
                await _attach(party, cid, peer)
            return await party.close_cooperatively(cid)

        if peer is not None:
            _host_port(peer)
        with cli.status("closing..."):
            receipt = _run(cli, key, store, act, timeout=timeout, exclusive=True)
        event = "ChannelClosing" if unilateral else "ChannelClosed"
        data = _receipt_json(receipt, event)
        title = "Closing (challenge period started)" if unilateral else "Closed"
        cli.emit(data, human=lambda: cli.table(title, list(data.items())))


@app.command()
def settle(ctx: typer.Context, channel_id: ChannelArg, key: KeyOpt, store: StoreOpt = None) -> None:
    """Pay out a unilaterally closed channel after its challenge period."""
    cli = CliContext.of(ctx)
    with cli.errors():
        cid = _channel_id(channel_id)
        with cli.status("settling..."):
            receipt = _run(cli, key, store, lambda p: p.settle(cid))
        data = _receipt_json(receipt, "ChannelClosed")
        cli.emit(data, human=lambda: cli.table("Settled", list(data.items())))


@app.command()
def challenge(
    ctx: typer.Context, channel_id: ChannelArg, key: KeyOpt, store: StoreOpt = None
) -> None:
    """Register our newer co-signed state against a stale unilateral close (it replaces
    the registered state; `channel settle` pays it out after the challenge period)."""
    cli = CliContext.of(ctx)
    with cli.errors():
        cid = _channel_id(channel_id)
        with cli.status("registering our newer state..."):
            receipt = _run(cli, key, store, lambda p: p.challenge(cid))
        data = _receipt_json(receipt, "ChannelChallenged")
        cli.emit(data, human=lambda: cli.table("Newer state registered", list(data.items())))


@app.command()
def guard(
    ctx: typer.Context,
    channel_id: ChannelArg,
    key: KeyOpt,
    tower_db: Annotated[
        Path,
        typer.Option(
            "--tower-db",
            help="The watchtower's file (what `ccnet watchtower run --db` reads).",
            envvar="CCNET_WATCHTOWER_DB",
        ),
    ],
    store: StoreOpt = None,
) -> None:
    """Hand our latest co-signed state to a watchtower."""
    cli = CliContext.of(ctx)
    with cli.errors():
        cid = _channel_id(channel_id)
        channels = _store(store, cli.keypair(key))
        try:
            record = channels.load(cid)
        except UnknownChannelError as err:
            raise UserError(str(err)) from None
        finally:
            channels.close()
        if not record.latest.co_signed:
            raise UserError("nothing to guard yet: no co-signed state")
        tower = TowerStore(tower_db)
        try:
            newer = tower.guard(record.info, record.latest)
        finally:
            tower.close()
        version = record.latest.version
        data = {"channel_id": "0x" + cid.hex(), "version": version, "newer": newer}
        cli.emit(
            data,
            human=f"guarding version {version}"
            if newer
            else f"already guarding {version} or later",
        )
