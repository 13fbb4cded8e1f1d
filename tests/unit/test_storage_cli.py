"""``ccnet checkpoint ...`` through typer's CliRunner, over a fake chain and an
in-memory gateway; and the arlocal lifecycle without starting it."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from rich.console import Console
from rich.progress import Progress
from typer.testing import CliRunner

from ccnet.client.cli import app
from ccnet.client.commands import _common
from ccnet.client.commands import checkpoint as checkpoint_cmd
from ccnet.storage import ArweaveGateway, DevGateway, DevGatewayError

if TYPE_CHECKING:
    from tests.fixtures.arlocal import FakeArweave, FakeChain

runner = CliRunner()


@pytest.fixture
def env(
    tmp_path: Path,
    fake_arweave: FakeArweave,
    fake_chain: FakeChain,
    monkeypatch: pytest.MonkeyPatch,
) -> dict[str, str]:
    monkeypatch.setattr(_common, "connect", lambda url, wait="inclusion": fake_chain)

    def gateway(url: str | None, dev: bool | None) -> ArweaveGateway:
        return fake_arweave.client()

    monkeypatch.setattr(checkpoint_cmd, "open_gateway", gateway)
    return {
        "CCNET_ARWEAVE_WALLET": str(tmp_path / "wallet.json"),
        "CCNET_CHECKPOINT_CACHE": str(tmp_path / "cache"),
        "CCNET_KEYSTORE": str(tmp_path / "keystore"),
        "CCNET_CONFIG": str(tmp_path / "none.toml"),
    }


def test_help_lists_the_commands() -> None:
    result = runner.invoke(app, ["checkpoint", "-h"])
    assert result.exit_code == 0
    for command in ("save", "restore", "list", "wallet", "gateway"):
        assert command in result.output


def test_save_list_restore(tmp_path: Path, env: dict[str, str]) -> None:
    state = tmp_path / "state.bin"
    state.write_bytes(os.urandom(3000))
    wallet = runner.invoke(app, ["checkpoint", "wallet", "--mint", "1000"], env=env)
    assert wallet.exit_code == 0, wallet.output
    assert "1000 winston" in wallet.output and Path(env["CCNET_ARWEAVE_WALLET"]).is_file()

    args = ["--json", "checkpoint", "save", str(state), "-k", "//Alice", "-m", "Job=7"]
    saved = runner.invoke(app, args, env=env)
    assert saved.exit_code == 0, saved.output
    body = json.loads(saved.stdout)
    assert body["size"] == 3000 and len(body["tx_id"]) == 43

    listed = runner.invoke(app, ["--json", "checkpoint", "list", "--owner", "//Alice"], env=env)
    assert listed.exit_code == 0, listed.output
    [entry] = json.loads(listed.stdout)
    assert entry["arweave_tx_id"] == body["tx_id"] and entry["cached"] is True

    out = tmp_path / "out" / "restored.bin"
    restored = runner.invoke(
        app, ["checkpoint", "restore", "--owner", "//Alice", "-o", str(out)], env=env
    )
    assert restored.exit_code == 0, restored.output
    assert out.read_bytes() == state.read_bytes()


def test_restore_without_a_checkpoint_exits_4(tmp_path: Path, env: dict[str, str]) -> None:
    args = ["checkpoint", "restore", "--owner", "//Bob", "-o", str(tmp_path / "x")]
    result = runner.invoke(app, args, env=env)
    assert result.exit_code == 4
    assert "no checkpoint recorded" in result.output
    assert not (tmp_path / "x").exists()


def test_restore_needs_an_owner(tmp_path: Path, env: dict[str, str]) -> None:
    env = {**env, "CCNET_KEY": ""}
    result = runner.invoke(app, ["checkpoint", "restore", "-o", str(tmp_path / "x")], env=env)
    assert result.exit_code == 1
    assert "--owner" in result.output


def test_bad_meta_is_a_user_error(tmp_path: Path, env: dict[str, str]) -> None:
    state = tmp_path / "s"
    state.write_bytes(b"x")
    args = ["checkpoint", "save", str(state), "-k", "//Alice", "-m", "novalue"]
    result = runner.invoke(app, args, env=env)
    assert result.exit_code == 1 and "NAME=VALUE" in result.output


def test_progress_bars_only_above_one_mib() -> None:
    progress = Progress(console=Console(file=open(os.devnull, "w")))  # noqa: SIM115
    bars = checkpoint_cmd._Bars(progress)
    bars("upload", 10, 1024 * 1024)
    assert progress.tasks == []
    bars("upload", 10, 1024 * 1024 + 1)
    bars("upload", 20, 1024 * 1024 + 1)
    bars("verify", 5, 2 * 1024 * 1024)
    assert [(t.description, t.completed) for t in progress.tasks] == [
        ("uploading", 20),
        ("verifying", 5),
    ]


def test_loopback_gateways_are_dev_by_default() -> None:
    assert checkpoint_cmd._is_loopback("http://127.0.0.1:1984")
    assert checkpoint_cmd._is_loopback("http://localhost:1984")
    assert not checkpoint_cmd._is_loopback("https://arweave.net")


def test_gateway_status_when_stopped_exits_3(tmp_path: Path) -> None:
    result = runner.invoke(app, ["checkpoint", "gateway", "status", "--state-dir", str(tmp_path)])
    assert result.exit_code == 3
    assert "not running" in result.output
    result = runner.invoke(app, ["checkpoint", "gateway", "stop", "--state-dir", str(tmp_path)])
    assert result.exit_code == 0 and "was not running" in result.output


def test_dev_gateway_without_arlocal_fails_clearly(tmp_path: Path) -> None:
    gateway = DevGateway(root=tmp_path, state_dir=tmp_path / "state", port=1)
    with pytest.raises(DevGatewayError, match="arlocal is not installed"):
        gateway.start()
    assert gateway.status() is None
