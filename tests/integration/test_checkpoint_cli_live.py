"""``ccnet checkpoint`` against a real arlocal and the dev chain: ``save --dev`` funds a
fresh wallet, and ``checkpoint gateway start|stop|status`` behave as ``ccnet chain``'s."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

from typer.testing import CliRunner

from ccnet.client.cli import app
from ccnet.client.devchain import free_port, group_alive
from ccnet.storage import ArweaveGateway

runner = CliRunner()


def test_save_dev_funds_a_fresh_wallet(cli_env: str, arlocal: str, tmp_path: Path) -> None:
    wallet = tmp_path / "fresh-wallet.json"
    state = tmp_path / "state.bin"
    state.write_bytes(os.urandom(4000))
    env = {"CCNET_CHECKPOINT_CACHE": str(tmp_path / "cache")}
    args = ["--json", "checkpoint", "save", str(state), "-k", "//Ferdie", "--dev"]
    args += ["--gateway", arlocal, "--wallet", str(wallet)]
    saved = runner.invoke(app, args, env=env)
    assert saved.exit_code == 0, saved.output
    body = json.loads(saved.stdout)
    assert body["size"] == 4000 and body["minted"] > 0
    with ArweaveGateway(arlocal, dev=True) as gateway:
        address = json.loads(
            runner.invoke(
                app,
                ["--json", "checkpoint", "wallet", "--gateway", arlocal, "--wallet", str(wallet)],
            ).stdout
        )["address"]
        left = gateway.balance(address)
    assert 0 < left < body["minted"]  # the upload was paid from the minted winston
    again = runner.invoke(app, args, env=env)  # funded now: nothing minted
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout)["minted"] == 0


def test_gateway_lifecycle_matches_the_chain(tmp_path: Path) -> None:
    port, state = free_port(), str(tmp_path / "arlocal")
    where = ["--state-dir", state]
    started = runner.invoke(
        app, ["--json", "checkpoint", "gateway", "start", *where, "--port", str(port)]
    )
    assert started.exit_code == 0, started.output
    info = json.loads(started.stdout)
    try:
        assert info["running"] is True and info["already_running"] is False
        assert info["url"] == f"http://127.0.0.1:{port}"
        again = runner.invoke(
            app, ["--json", "checkpoint", "gateway", "start", *where, "--port", str(port)]
        )
        assert again.exit_code == 0 and json.loads(again.stdout)["already_running"] is True
        elsewhere = runner.invoke(
            app, ["checkpoint", "gateway", "start", *where, "--port", str(free_port())]
        )
        assert elsewhere.exit_code == 1 and f"already runs at {info['url']}" in elsewhere.output
        status = runner.invoke(app, ["--json", "checkpoint", "gateway", "status", *where])
        assert status.exit_code == 0
        assert json.loads(status.stdout) == {
            k: v for k, v in info.items() if k != "already_running"
        }
    finally:
        stopped = runner.invoke(app, ["--json", "checkpoint", "gateway", "stop", *where])
    assert stopped.exit_code == 0 and json.loads(stopped.stdout) == {"was_running": True}
    assert not group_alive(info["pid"])
    status = runner.invoke(app, ["--json", "checkpoint", "gateway", "status", *where])
    assert status.exit_code == 3 and json.loads(status.stdout) == {"running": False}


def test_gateway_and_chain_refuse_a_taken_port(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = str(busy.getsockname()[1])
        for group in (["checkpoint", "gateway"], ["chain"]):
            args = [*group, "start", "--port", port, "--state-dir", str(tmp_path / group[-1])]
            result = runner.invoke(app, args)
            assert result.exit_code == 1, result.output
            assert f"127.0.0.1:{port} is already in use" in result.output
