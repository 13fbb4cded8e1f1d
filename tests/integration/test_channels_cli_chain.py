"""``ccnet channel`` and ``ccnet watchtower run`` against the dev chain.

The command line takes dev URIs or keystore names, so these tests use dev accounts
(//Dave, //Eve, //Charlie) and do not check balances to the planck (the SDK-level tests
in test_channels_chain.py do).
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from substrateinterface import Keypair
from typer.testing import CliRunner

from ccnet.channels import (
    ChannelParty,
    SqliteChannelStore,
    StreamTransport,
    TowerStore,
    connect,
    serve,
)
from ccnet.channels.testing import link_over_tcp
from ccnet.client import CC, Chain, Keys
from ccnet.client.cli import app

runner = CliRunner()


def ccnet(url: str, *args: str) -> Any:
    """Run ``ccnet --json --url URL ARGS``; the decoded JSON output (exit code 0)."""
    result = runner.invoke(app, ["--json", "--url", url, *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_open_join_close_settle(devchain: str, ccnet_chain: Chain, tmp_path: Path) -> None:
    dave, eve = str(tmp_path / "dave.db"), str(tmp_path / "eve.db")
    opened = ccnet(devchain, "channel", "open", "//Eve", "5", "--key", "//Dave", "--store", dave)
    cid = opened["params"]["channel_id"]
    assert opened["phase"] == "funded" and opened["params"]["deposit_a"] == 5 * CC
    joined = ccnet(devchain, "channel", "join", cid, "--key", "//Eve", "--store", eve)
    assert joined["me"] == "B" and joined["phase"] == "funded"

    # The command line has no connection to the peer: no agreed close, no cooperative close.
    refused = runner.invoke(
        app, ["--url", devchain, "channel", "close", cid, "--key", "//Eve", "--store", eve]
    )
    assert refused.exit_code == 1 and "--unilateral" in refused.output

    closing = ccnet(
        devchain, "channel", "close", cid, "--unilateral", "--key", "//Eve", "--store", eve
    )
    assert closing["version"] == 0
    too_early = runner.invoke(
        app, ["--url", devchain, "channel", "settle", cid, "--key", "//Dave", "--store", dave]
    )
    assert too_early.exit_code == 3 and "ChallengePeriodNotOver" in too_early.output
    ccnet_chain.new_blocks(ccnet_chain.channels.challenge_period())
    settled = ccnet(devchain, "channel", "settle", cid, "--key", "//Dave", "--store", dave)
    assert (settled["balance_a"], settled["balance_b"]) == (5 * CC, 0)
    shown = ccnet(devchain, "channel", "show", cid, "--key", "//Dave", "--store", dave)
    assert shown["chain"] is None and shown["phase"] == "settled"


async def wait_for(predicate: Callable[[], bool], what: str, limit: float = 60.0) -> None:
    deadline = time.monotonic() + limit
    while not predicate():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        await asyncio.sleep(0.1)


async def test_watchtower_run_registers_the_newest_state(
    devchain: str, ccnet_chain: Chain, fund_account: Callable[..., Keypair], tmp_path: Path
) -> None:
    chain = ccnet_chain
    cheater_key, eve = fund_account(), Keys.from_uri("//Eve")
    store_a = SqliteChannelStore(tmp_path / "cheater.db")
    store_b = SqliteChannelStore(tmp_path / "eve.db")
    a = ChannelParty(cheater_key, store_a, chain=chain)
    b = ChannelParty(eve, store_b, chain=chain)
    cid = (await a.open(eve.ss58_address, 20 * CC)).channel_id
    await b.join(cid)

    async def on_connect(transport: StreamTransport) -> None:
        await b.attach(cid, transport)

    server = await serve(on_connect)
    await a.attach(cid, await connect("127.0.0.1", server.sockets[0].getsockname()[1]))
    for _ in range(5):
        await a.pay(cid, CC)
    await a.aclose()
    await b.aclose()
    server.close()
    await server.wait_closed()

    tower_db = tmp_path / "tower.db"
    guard = runner.invoke(
        app,
        ["channel", "guard", "0x" + cid.hex(), "--key", "//Eve"]
        + ["--store", str(tmp_path / "eve.db"), "--tower-db", str(tower_db)],
    )
    assert guard.exit_code == 0 and "guarding version 5" in guard.output, guard.output

    tower = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "ccnet.client",
        "--json",
        "--url",
        devchain,
        "watchtower",
        "run",
        "--key",
        "//Charlie",
        "--db",
        str(tower_db),
        "--poll-interval",
        "0.1",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert tower.stderr is not None
        started = await asyncio.wait_for(tower.stderr.readline(), 60)
        assert b"watching" in started, started

        stale = next(s for s in store_a.history(cid) if s.version == 2)
        assert stale.signature_a is not None and stale.signature_b is not None
        await asyncio.to_thread(
            chain.channels.close_unilateral,
            cheater_key,
            cid,
            2,
            stale.state.balance_a,
            stale.state.balance_b,
            stale.signature_a,
            stale.signature_b,
        )
        view = TowerStore(tower_db)
        await wait_for(lambda: bool(view.challenges()), "the tower's challenge")
        view.close()
    finally:
        tower.send_signal(signal.SIGTERM)
        out, err = await asyncio.wait_for(tower.communicate(), 30)
    assert tower.returncode == 0, err.decode()
    (challenge,) = json.loads(out)
    assert challenge == {
        "channel_id": "0x" + cid.hex(),
        "closed_version": 2,
        "version": 5,
        "outcome": "registered",
    }
    info = chain.channels.channel(cid)  # closing with version 5 until settled
    assert info is not None and info.closing is not None and info.closing.version == 5
    store_a.close()
    store_b.close()


async def test_challenge_registers_our_newer_state(
    devchain: str, ccnet_chain: Chain, fund_account: Callable[..., Keypair], tmp_path: Path
) -> None:
    """``ccnet channel challenge`` answers a stale close with the store's latest state;
    ``channel settle`` then pays it out."""
    chain = ccnet_chain
    cheater_key, eve = fund_account(), Keys.from_uri("//Eve")
    store_a = SqliteChannelStore(tmp_path / "cheater.db")
    store_b = SqliteChannelStore(tmp_path / "eve.db")
    a = ChannelParty(cheater_key, store_a, chain=chain)
    b = ChannelParty(eve, store_b, chain=chain)
    cid = (await a.open(eve.ss58_address, 6 * CC)).channel_id
    await b.join(cid)
    linked = await link_over_tcp(a, b, cid)
    for _ in range(3):
        await a.pay(cid, CC)
    await linked.close()
    store_b.close()
    await asyncio.to_thread(chain.channels.close_unilateral, cheater_key, cid, 0, 6 * CC, 0)

    eve_db, hex_id = str(tmp_path / "eve.db"), "0x" + cid.hex()

    def run(*args: str) -> Any:  # the CLI runs its own event loop: not in this one
        return asyncio.to_thread(ccnet, devchain, *args)

    registered = await run("channel", "challenge", hex_id, "--key", "//Eve", "--store", eve_db)
    assert (registered["version"], registered["challenger"]) == (3, eve.ss58_address)
    shown = await run("channel", "show", hex_id, "--key", "//Eve", "--store", eve_db)
    assert shown["phase"] == "closing"
    chain.new_blocks(chain.channels.challenge_period())
    settled = await run("channel", "settle", hex_id, "--key", "//Eve", "--store", eve_db)
    assert (settled["version"], settled["balance_a"], settled["balance_b"]) == (3, 3 * CC, 3 * CC)
    store_a.close()


async def test_close_submits_the_agreed_close(
    devchain: str, ccnet_chain: Chain, tmp_path: Path
) -> None:
    """B asks, both agree over TCP (SDK); then A's command line submits the stored
    agreement; both stores see the channel settled."""
    chain = ccnet_chain
    dave, eve = Keys.from_uri("//Dave"), Keys.from_uri("//Eve")
    store_a = SqliteChannelStore(tmp_path / "dave.db")
    store_b = SqliteChannelStore(tmp_path / "eve.db")
    a = ChannelParty(dave, store_a, chain=chain)
    b = ChannelParty(eve, store_b, chain=chain)
    cid = (await a.open(eve.ss58_address, 4 * CC)).channel_id
    await b.join(cid)

    async def on_connect(transport: StreamTransport) -> None:
        await b.attach(cid, transport)

    server = await serve(on_connect)
    await a.attach(cid, await connect("127.0.0.1", server.sockets[0].getsockname()[1]))
    for _ in range(2):
        await a.pay(cid, CC)
    agreement = await b.agree_close(cid)
    await a.aclose()
    await b.aclose()
    server.close()
    await server.wait_closed()
    store_a.close()
    store_b.close()

    dave_db, eve_db = str(tmp_path / "dave.db"), str(tmp_path / "eve.db")
    hex_id = "0x" + cid.hex()

    def run(*args: str) -> Any:  # the CLI runs its own event loop: not in this one
        return asyncio.to_thread(ccnet, devchain, *args)

    shown = await run(
        "channel", "show", hex_id, "--no-chain", "--key", "//Dave", "--store", dave_db
    )
    assert shown["closing"] == {"version": 2, "agreed": True}
    closed = await run("channel", "close", hex_id, "--key", "//Dave", "--store", dave_db)
    assert (closed["version"], closed["balance_a"], closed["balance_b"]) == (2, 2 * CC, 2 * CC)
    assert agreement.version == 2 and chain.channels.channel(cid) is None
    assert (await run("channel", "show", hex_id, "--key", "//Eve", "--store", eve_db))[
        "chain"
    ] is None
