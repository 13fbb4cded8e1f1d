"""The ccnet command line, through typer's CliRunner (no chain is started)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ccnet.client import __version__
from ccnet.client.cli import app
from ccnet.client.demo import SKIPPABLE_PHASES, DemoConfig

runner = CliRunner()


def test_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == f"ccnet {__version__}"


def test_short_help_lists_chain_commands() -> None:
    assert "chain" in runner.invoke(app, ["-h"]).output
    result = runner.invoke(app, ["chain", "-h"])
    assert result.exit_code == 0
    for command in ("start", "stop", "status"):
        assert command in result.output


def test_status_when_stopped_exits_3(tmp_path: Path) -> None:
    result = runner.invoke(app, ["chain", "status", "--state-dir", str(tmp_path)])
    assert result.exit_code == 3
    assert "not running" in result.output


def test_stop_when_stopped(tmp_path: Path) -> None:
    result = runner.invoke(app, ["chain", "stop", "--state-dir", str(tmp_path)])
    assert result.exit_code == 0
    assert "was not running" in result.output


def test_start_without_spec_fails_clearly(tmp_path: Path) -> None:
    missing = tmp_path / "missing.raw.json"
    args = ["chain", "start", "--spec", str(missing), "--state-dir", str(tmp_path)]
    result = runner.invoke(app, args)
    assert result.exit_code == 1
    assert f"raw chain spec not found: {missing}" in result.output


def test_chain_commands_answer_in_json(tmp_path: Path) -> None:
    result = runner.invoke(app, ["chain", "status", "--state-dir", str(tmp_path), "--json"])
    assert result.exit_code == 3 and json.loads(result.stdout) == {"running": False}
    result = runner.invoke(app, ["--json", "chain", "stop", "--state-dir", str(tmp_path)])
    assert result.exit_code == 0 and json.loads(result.stdout) == {"was_running": False}
    missing = tmp_path / "missing.raw.json"
    args = ["chain", "start", "--spec", str(missing), "--state-dir", str(tmp_path), "--json"]
    result = runner.invoke(app, args)
    assert result.exit_code == 1
    assert json.loads(result.stdout)["error"]["type"] == "SpecNotFoundError"


def test_demo_skips_only_the_phases_that_carry_no_money() -> None:
    """``--skip`` takes checkpoint or migration; any other phase is refused before
    anything starts (exit 2), and so is a config that names one."""
    result = runner.invoke(app, ["demo", "--skip", "dispute"])
    assert result.exit_code == 2
    assert "checkpoint, migration" in result.output
    assert DemoConfig(skip=frozenset(SKIPPABLE_PHASES)).skip == {"checkpoint", "migration"}
    with pytest.raises(ValueError, match="cannot skip close"):
        DemoConfig(skip=frozenset({"close", "migration"}))
