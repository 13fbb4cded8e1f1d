"""The installed ``ccnet`` finds the repository's files from any working directory.

Runs the console script of the environment (``pip install -e``) as a subprocess with
the working directory in a temp dir outside the checkout and no ``$CCNET_ROOT``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from ccnet.client import Chain
from ccnet.client.devchain import free_port, group_alive

CCNET = str(Path(sys.executable).with_name("ccnet"))


def _ccnet(
    cwd: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("CCNET_")}
    environ.update(env or {})
    return subprocess.run(
        [CCNET, *args], cwd=cwd, env=environ, capture_output=True, text=True, timeout=180
    )


def test_chain_starts_and_stops_outside_the_checkout(tmp_path: Path, repo_root: Path) -> None:
    assert not tmp_path.resolve().is_relative_to(repo_root.resolve())
    port = free_port()
    started = _ccnet(tmp_path, "--json", "chain", "start", "--port", str(port), "--state-dir", "dc")
    assert started.returncode == 0, started.stderr
    info = json.loads(started.stdout)
    try:
        assert Path(info["spec"]) == (repo_root / "chain-spec/development.raw.json").resolve()
        assert Path(info["log"]).parent == (tmp_path / "dc").resolve()
        with Chain(info["url"]) as chain:
            assert chain.block_number() >= 0
        status = _ccnet(tmp_path, "--json", "chain", "status", "--state-dir", "dc")
        assert status.returncode == 0 and json.loads(status.stdout)["pid"] == info["pid"]
    finally:
        stopped = _ccnet(tmp_path, "--json", "chain", "stop", "--state-dir", "dc")
    assert stopped.returncode == 0 and json.loads(stopped.stdout) == {"was_running": True}
    assert not group_alive(info["pid"])


def test_help_and_a_clear_error_for_a_wrong_root(tmp_path: Path) -> None:
    assert _ccnet(tmp_path, "job", "workers", "--help").returncode == 0
    wrong = tmp_path / "not-a-checkout"
    wrong.mkdir()
    failed = _ccnet(
        tmp_path,
        "chain",
        "start",
        "--port",
        str(free_port()),
        "--state-dir",
        "dc",
        env={"CCNET_ROOT": str(wrong)},
    )
    assert failed.returncode == 1
    assert str(wrong / "chain-spec/development.raw.json") in failed.stderr
    assert "CCNET_ROOT" in failed.stderr
