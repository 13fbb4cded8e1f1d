"""The ``ccnet`` command line against the dev chain (CliRunner in-process)."""

from __future__ import annotations

import json
import time
from pathlib import Path

from typer.testing import CliRunner

from ccnet.client import CC, Chain, Keys
from ccnet.client.cli import app
from ccnet.client.devchain import free_port, group_alive, process_started

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


def test_new_blocks_prints_the_new_head(cli_env: str, ccnet_chain: Chain) -> None:
    before = ccnet_chain.block_number()
    result = runner.invoke(app, ["--json", "chain", "new-blocks", "3"])
    assert result.exit_code == 0, result.output
    built = json.loads(result.stdout)
    assert built["blocks"] == 3 and built["number"] >= before + 3
    assert ccnet_chain.block_hash(built["number"]) == built["head"]
    human = runner.invoke(app, ["chain", "new-blocks", "1"])
    assert human.exit_code == 0 and f"head #{built['number'] + 1}" in human.output


def test_block_time_makes_blocks_without_traffic(repo_root: Path, tmp_path: Path) -> None:
    """A chain of its own (the session chain has no ticker): with --block-time the
    height grows while nobody submits; start elsewhere fails, stop ends the ticker."""
    port, state = free_port(), str(tmp_path / "devchain")
    where = ["--root", str(repo_root), "--state-dir", state, "--port", str(port)]
    started = runner.invoke(app, ["--json", "chain", "start", *where, "--block-time", "0.5"])
    assert started.exit_code == 0, started.output
    info = json.loads(started.stdout)
    try:
        assert info["fresh_state"] is True and info["block_time"] == 0.5
        assert info["ticker_running"] is True
        with Chain(info["url"]) as chain:
            height = chain.block_number()
            deadline = time.monotonic() + 30  # 3 blocks at 0.5 s; generous for 2 busy cores
            while chain.block_number() < height + 3 and time.monotonic() < deadline:
                time.sleep(0.25)
            assert chain.block_number() >= height + 3

        again = runner.invoke(app, ["--json", "chain", "start", *where, "--block-time", "0.5"])
        assert again.exit_code == 0 and json.loads(again.stdout)["fresh_state"] is False
        elsewhere = runner.invoke(
            app, ["chain", "start", *where[:-1], str(free_port()), "--block-time", "0.5"]
        )
        assert elsewhere.exit_code == 1 and f"already runs at {info['url']}" in elsewhere.output
        status = runner.invoke(app, ["chain", "status", "--state-dir", state])
        assert status.exit_code == 0 and "a block every 0.5 s" in status.output
    finally:
        stopped = runner.invoke(app, ["chain", "stop", "--state-dir", state])
    assert stopped.exit_code == 0 and "dev chain stopped" in stopped.output
    assert process_started(info["ticker_pid"]) is None
    assert not group_alive(info["pid"]) and not group_alive(info["ticker_pid"])
