"""ccnet.zk.node.ZkNode's process handling against a stand-in helper script (real node,
fake server): lazy start, errors, restart after death, timeout, clean close."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest

from ccnet.zk.artifacts import ZkPaths
from ccnet.zk.exceptions import HelperError, SetupMissingError
from ccnet.zk.node import ZkNode

FAKE_SERVER = r"""
import readline from "node:readline";
const rl = readline.createInterface({ input: process.stdin });
rl.on("line", (line) => {
  const req = JSON.parse(line);
  const reply = (r) => process.stdout.write(JSON.stringify({ id: req.id, ...r }) + "\n");
  if (req.op === "ping") {
    process.stdout.write("noise\n"); // not JSON: skipped
    reply({ ok: true, pong: true, pid: process.pid });
  }
  else if (req.op === "poseidon") reply({ ok: true, hash: String(req.inputs.length) });
  else if (req.op === "die") process.exit(3);
  else if (req.op === "hang") {}
  else { process.stderr.write("bad op\n"); reply({ ok: false, error: "unknown op" }); }
});
rl.on("close", () => process.exit(0));
"""


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture
def fake_paths(tmp_path: Path) -> ZkPaths:
    (tmp_path / "zk" / "js").mkdir(parents=True)
    (tmp_path / "zk" / "js" / "server.mjs").write_text(FAKE_SERVER)
    (tmp_path / "node_modules" / "snarkjs").mkdir(parents=True)
    return ZkPaths(root=tmp_path, cache=tmp_path / "cache")


def test_starts_lazily_and_answers(fake_paths: ZkPaths) -> None:
    with ZkNode(fake_paths) as node:
        assert node.pid is None
        assert node.ping()
        pid = node.pid
        assert pid is not None
        assert node.poseidon([1, 2, 3]) == 3
        assert node.pid == pid  # one process for many requests
    assert node.pid is None
    assert not alive(pid)


def test_error_reply_raises_and_process_lives_on(fake_paths: ZkPaths) -> None:
    with ZkNode(fake_paths) as node:
        with pytest.raises(HelperError, match="unknown op"):
            node.request("nonsense")
        assert node.ping()


def test_restarts_after_the_helper_dies(fake_paths: ZkPaths) -> None:
    with ZkNode(fake_paths) as node:
        assert node.ping()
        first = node.pid
        assert first is not None
        os.kill(first, signal.SIGKILL)
        time.sleep(0.05)
        assert node.ping()  # retried on a new helper
        second = node.pid
        assert second not in (None, first)
        # A request the helper dies on is retried once, then reported.
        with pytest.raises(HelperError, match="exited"):
            node.request("die")
        assert node.ping()


def test_timeout_kills_the_helper(fake_paths: ZkPaths) -> None:
    # The bound covers the helper's start-up too (pings below): generous for a loaded
    # machine, and the hang costs the test exactly that long.
    with ZkNode(fake_paths, timeout=5.0) as node:
        assert node.ping()
        pid = node.pid
        assert pid is not None
        with pytest.raises(HelperError, match="no answer"):
            node.request("hang")
        assert node.pid is None
        assert not alive(pid)
        assert node.ping()


def test_poseidon_checks_its_inputs(fake_paths: ZkPaths) -> None:
    node = ZkNode(fake_paths)
    with pytest.raises(ValueError):
        node.poseidon([])
    with pytest.raises(ValueError):
        node.poseidon([1] * 17)
    with pytest.raises(ValueError):
        node.poseidon([-1])
    assert node.pid is None  # nothing was started


def test_missing_npm_packages(tmp_path: Path) -> None:
    node = ZkNode(ZkPaths(root=tmp_path, cache=tmp_path / "cache"))
    with pytest.raises(SetupMissingError, match="npm"):
        node.ping()


def test_request_is_one_json_line(fake_paths: ZkPaths) -> None:
    with ZkNode(fake_paths) as node:
        reply = node.request("ping", note=json.dumps({"nested": "x\ny"}))
        assert reply["pong"] is True
        assert "id" not in reply and "ok" not in reply
