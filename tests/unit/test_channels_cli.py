"""``ccnet channel`` and ``ccnet watchtower`` commands that need no chain (CliRunner)."""

from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path
from types import SimpleNamespace

import pytest
from substrateinterface import Keypair
from typer.testing import CliRunner

from ccnet.channels import (
    Channel,
    ChannelParams,
    ChannelParty,
    Propose,
    ProposeBatch,
    Reject,
    SqliteChannelStore,
    StoreLockedError,
    StreamTransport,
    TransportClosedError,
    decode,
    encode,
    serve,
)
from ccnet.channels.store import (
    CHANNEL_STORE_FILE,
    channel_store_in,
    default_channel_store,
    default_state_dir,
)
from ccnet.channels.testing import close_pair, link_parties
from ccnet.client import CC, Keys
from ccnet.client.cli import app
from ccnet.client.commands._common import CliContext
from ccnet.client.requester import Requester

runner = CliRunner()


async def make_stores(tmp_path: Path, alice: Keypair, bob: Keypair, params: ChannelParams) -> None:
    pair = await link_parties(tmp_path, alice, bob, params)
    for _ in range(3):
        await pair.a.pay(params.channel_id, 10**12)
    await close_pair(pair)


def test_help_lists_the_commands() -> None:
    result = runner.invoke(app, ["channel", "-h"])
    assert result.exit_code == 0
    for command in ("open", "join", "list", "show", "close", "settle", "challenge", "guard"):
        assert command in result.output
    assert "run" in runner.invoke(app, ["watchtower", "-h"]).output


async def test_list_show_and_guard(
    tmp_path: Path, alice: Keypair, bob: Keypair, params: ChannelParams
) -> None:
    await make_stores(tmp_path, alice, bob, params)
    store = str(tmp_path / "alice.db")
    cid = "0x" + params.channel_id.hex()

    listed = runner.invoke(app, ["--json", "channel", "list", "--key", "//Alice", "--store", store])
    assert listed.exit_code == 0, listed.output
    (entry,) = json.loads(listed.output)
    assert entry["me"] == "A" and entry["latest"]["version"] == 3
    assert entry["latest"]["balance_a"] == params.deposit_a - 3 * 10**12

    human = runner.invoke(app, ["channel", "list", "--key", "//Alice", "--store", store])
    assert cid[:20] in human.output and "funded" in human.output

    shown = runner.invoke(
        app, ["channel", "show", cid, "--no-chain", "--key", "//Alice", "--store", store]
    )
    assert shown.exit_code == 0, shown.output
    assert "party A" in shown.output and "version" in shown.output

    tower = str(tmp_path / "tower.db")
    args = ["channel", "guard", cid, "--key", "//Alice", "--store", store, "--tower-db", tower]
    guarded = runner.invoke(app, args)
    assert guarded.exit_code == 0 and "guarding version 3" in guarded.output
    assert "already guarding" in runner.invoke(app, args).output

    status = runner.invoke(app, ["--json", "watchtower", "status", "--db", tower])
    assert json.loads(status.output) == {
        "guarded": [{"channel_id": cid, "version": 3}],
        "challenges": [],
    }


def test_errors(tmp_path: Path) -> None:
    store = str(tmp_path / "none.db")
    bad = runner.invoke(
        app, ["channel", "show", "0x1234", "--no-chain", "--key", "//Alice", "--store", store]
    )
    assert bad.exit_code == 1 and "not a channel id" in bad.output
    missing = runner.invoke(
        app,
        ["channel", "show", "0x" + "00" * 32, "--no-chain", "--key", "//Alice", "--store", store],
    )
    assert missing.exit_code == 4
    empty = runner.invoke(app, ["channel", "list", "--key", "//Alice", "--store", store])
    assert empty.exit_code == 0 and "no channels" in empty.output


async def test_list_table_keeps_ids_whole(
    tmp_path: Path, alice: Keypair, bob: Keypair, params: ChannelParams
) -> None:
    await make_stores(tmp_path, alice, bob, params)
    cid = "0x" + params.channel_id.hex()
    args = ["channel", "list", "--key", "//Alice", "--store", str(tmp_path / "alice.db")]
    human = runner.invoke(app, args)  # not a terminal: rich assumes 80 columns
    assert human.exit_code == 0, human.output
    assert cid in human.output  # on one line: never folded
    assert "CC" in human.output and str(params.deposit_a - 3 * 10**12) not in human.output


def test_store_in_a_missing_directory_is_an_error(tmp_path: Path) -> None:
    store = tmp_path / "typo" / "alice.db"
    result = runner.invoke(app, ["channel", "list", "--key", "//Alice", "--store", str(store)])
    assert result.exit_code == 1
    assert "does not exist" in result.output and "hint:" in result.output
    assert not store.parent.exists()


def test_store_that_is_not_a_channel_store_is_an_error(tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("not a database, and not to be overwritten\n" * 10)
    tower = tmp_path / "tower.db"
    runner.invoke(app, ["watchtower", "status", "--db", str(tower)])
    assert tower.is_file()
    before = {p: p.read_bytes() for p in (text, tower)}
    for path in (text, tower):
        args = ["--json", "channel", "list", "--key", "//Alice", "--store", str(path)]
        result = runner.invoke(app, args)
        assert result.exit_code == 1, result.output
        assert "is not a channel store" in json.loads(result.stdout)["error"]["message"]
    assert {p: p.read_bytes() for p in before} == before


async def test_store_may_name_a_state_dir(
    tmp_path: Path, alice: Keypair, bob: Keypair, params: ChannelParams
) -> None:
    """A requester SDK's or worker daemon's state dir stands for its channels.db."""
    await make_stores(tmp_path, alice, bob, params)
    state = tmp_path / "requester"
    state.mkdir()
    (tmp_path / "alice.db").rename(channel_store_in(state))
    for suffix in ("-wal", "-shm"):
        (tmp_path / f"alice.db{suffix}").unlink(missing_ok=True)
    args = ["--json", "channel", "list", "--key", "//Alice", "--store", str(state)]
    listed = runner.invoke(app, args)
    assert listed.exit_code == 0, listed.output
    assert json.loads(listed.output)[0]["latest"]["version"] == 3


def test_cli_and_sdk_share_the_default_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    keypair = Keys.from_uri("//Alice")
    address = str(keypair.ss58_address)
    requester = Requester("ws://127.0.0.1:1", keypair, dht_bootstrap=[], deposit_per_channel=CC)
    assert requester.state_dir == default_state_dir(address)
    assert channel_store_in(requester.state_dir) == default_channel_store(address)
    assert default_channel_store(address) == Path(".state/accounts", address, "channels.db")
    result = runner.invoke(app, ["channel", "list", "--key", "//Alice"])
    assert result.exit_code == 0 and "no channels" in result.output
    assert default_channel_store(address).is_file()  # the default is created on first use


def test_former_store_files_are_still_found(tmp_path: Path) -> None:
    old_sdk = tmp_path / "channels.sqlite"
    old_sdk.write_bytes(b"")
    assert channel_store_in(tmp_path) == old_sdk
    (tmp_path / CHANNEL_STORE_FILE).write_bytes(b"")
    assert channel_store_in(tmp_path) == tmp_path / CHANNEL_STORE_FILE


@pytest.mark.parametrize(
    "command",
    [
        ["pay", "1", "--peer", "127.0.0.1:9"],
        ["resolve", "--peer", "127.0.0.1:9"],
        ["close", "--peer", "127.0.0.1:9"],
        ["serve", "--listen", "127.0.0.1:0"],
    ],
)
def test_signing_commands_refuse_a_store_in_use(tmp_path: Path, command: list[str]) -> None:
    """A second process signing from the same store could sign another state of a
    version the first one signed: pay/resolve/close/serve refuse while it is locked."""
    path = tmp_path / CHANNEL_STORE_FILE
    cid = "0x" + "11" * 32
    with SqliteChannelStore(path, exclusive=True):
        with pytest.raises(StoreLockedError, match="in use by process"):
            SqliteChannelStore(path, exclusive=True)
        verb, *rest = command
        args = ["channel", verb, cid, *rest, "--key", "//Alice", "--store", str(path)]
        result = runner.invoke(app, args)
        assert result.exit_code == 1, result.output
        assert "is in use by process" in " ".join(result.output.split())
        assert str(path) in "".join(result.output.split())
    # Released on close: the next one takes it.
    SqliteChannelStore(path, exclusive=True).close()


def _reject_all_server(loop: asyncio.AbstractEventLoop) -> int:
    """A malicious payee on *loop* (another thread): it answers every proposal with a
    ``policy`` refusal without a cancel signature. Its port."""

    async def on_connect(transport: StreamTransport) -> None:
        try:
            while True:
                message = decode(await transport.recv())
                if isinstance(message, Propose | ProposeBatch):
                    reject = Reject(message.channel_id, message.version, "policy", "no")
                    await transport.send(encode(reject))
        except TransportClosedError:
            pass

    server = asyncio.run_coroutine_threadsafe(serve(on_connect), loop).result(10)
    port: int = server.sockets[0].getsockname()[1]
    return port


@pytest.mark.parametrize("command", [["pay", "1"], ["resolve"]])
def test_a_refusal_without_cancel_counts_as_possibly_paid(
    tmp_path: Path,
    alice: Keypair,
    params: ChannelParams,
    monkeypatch: pytest.MonkeyPatch,
    command: list[str],
) -> None:
    """The peer refuses with no cancel: it holds our signed proposal, so neither pay
    nor resolve may say "nothing was paid" (or exit 0)."""
    path = tmp_path / "alice.db"
    with SqliteChannelStore(path) as store:
        ChannelParty(alice, store, genesis_hash=params.genesis_hash).add_channel(params)
        if command[0] == "resolve":  # an outstanding proposal to re-send
            channel = Channel(store.load(params.channel_id), alice)
            _, signed = channel.pay(CC)
            store.update_persisted_channel(signed)
    chain = SimpleNamespace(genesis_hash=params.genesis_hash)
    monkeypatch.setattr(CliContext, "chain", lambda self: chain)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        port = _reject_all_server(loop)
        cid = "0x" + params.channel_id.hex()
        args = ["--json", "channel", *command[:1], cid, *command[1:], "--key", "//Alice"]
        args += ["--store", str(path), "--peer", f"127.0.0.1:{port}", "--timeout", "5"]
        result = runner.invoke(app, args)
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
    assert result.exit_code == 1, result.output
    message = json.loads(result.output)["error"]["message"]
    assert "possibly paid" in message and "nothing was paid" not in message
    assert "refused without a valid cancel" in message
    with SqliteChannelStore(path) as store:
        assert store.load(params.channel_id).pending is not None


def test_the_payee_cannot_pay(
    tmp_path: Path, bob: Keypair, params: ChannelParams, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only party A proposes: B's pay is refused before anything is sent."""
    path = tmp_path / "bob.db"
    with SqliteChannelStore(path) as store:
        ChannelParty(bob, store, genesis_hash=params.genesis_hash).add_channel(params)
    chain = SimpleNamespace(genesis_hash=params.genesis_hash)
    monkeypatch.setattr(CliContext, "chain", lambda self: chain)
    cid = "0x" + params.channel_id.hex()
    args = ["channel", "pay", cid, "1", "--key", "//Bob", "--store", str(path)]
    result = runner.invoke(app, [*args, "--peer", "127.0.0.1:9"])
    assert result.exit_code == 1 and "only party A" in result.output
