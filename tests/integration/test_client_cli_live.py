"""The ``ccnet`` command line against the dev chain (CliRunner in-process)."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from ccnet.client import CC, Keys
from ccnet.client.cli import app

runner = CliRunner()


def test_balance_post_and_status(cli_env: str) -> None:
    alice = Keys.from_uri("//Alice").ss58_address
    result = runner.invoke(app, ["--json", "balance", "//Alice"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["address"] == alice
    assert json.loads(result.stdout)["free"] > 0

    args = ["--json", "task", "post", "--input", "ar://cli", "--bounty", "1.5", "-k", "//Eve"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    posted = json.loads(result.stdout)
    assert posted["bounty"] == 3 * CC // 2 and posted["fee"] > 0

    result = runner.invoke(app, ["--json", "task", "status", str(posted["task_id"])])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["task"]["input_ref"] == "ar://cli"

    result = runner.invoke(app, ["--json", "chain", "tick", "--blocks", "2"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["blocks"] == 2

    # Too early to finalize: a typed court error with a hint, exit code 3.
    result = runner.invoke(app, ["task", "finalize", str(posted["task_id"]), "-k", "//Eve"])
    assert result.exit_code == 3
    assert "Tasks.WindowOpen" in result.output and "hint:" in result.output

    result = runner.invoke(app, ["--json", "stake", "add", "3", "-k", "//Eve"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["--json", "stake", "status", "-k", "//Eve"])
    assert result.exit_code == 0, result.output
    stake = json.loads(result.stdout)
    assert stake["active"] >= 3 * CC and stake["free"] == stake["active"] - stake["bonded"]


def test_stored_key_and_dispatch_error(cli_env: str) -> None:
    assert runner.invoke(app, ["keys", "new", "fresh"]).exit_code == 0
    # A new key has no funds: the node refuses its extrinsic before inclusion.
    result = runner.invoke(app, ["dispute", "commit-vote", "0", "0x" + "00" * 32, "-k", "fresh"])
    assert result.exit_code == 3
    assert "cannot pay the fee" in result.output and "Traceback" not in result.output
    # Alice can pay, but dispute 999999 does not exist: a Disputes dispatch error.
    result = runner.invoke(
        app, ["--json", "dispute", "commit-vote", "999999", "0x" + "00" * 32, "-k", "//Alice"]
    )
    assert result.exit_code == 3
    assert json.loads(result.stdout)["error"]["name"] == "UnknownDispute"
