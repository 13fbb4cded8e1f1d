"""``ccnet channel`` and ``ccnet watchtower`` commands that need no chain (CliRunner)."""

from __future__ import annotations

import json
from pathlib import Path

from substrateinterface import Keypair
from typer.testing import CliRunner

from ccnet.channels import ChannelParams
from ccnet.channels.testing import close_pair, link_parties
from ccnet.client.cli import app

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
