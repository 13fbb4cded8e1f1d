"""DevChain's process handling, against a stand-in for Chopsticks.

The stand-in is a Node script at Chopsticks' place in a scratch root: it serves
``system_chain`` over a WebSocket (the ``ws`` package Chopsticks itself uses) and
starts a grandchild, so stopping must end the whole process group.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from ccnet.client.cli import app
from ccnet.client.devchain import (
    CHOPSTICKS_JS,
    DevChain,
    free_port,
    group_alive,
    port_free,
    process_started,
)
from ccnet.client.exceptions import DevChainError, SpecNotFoundError

FAKE_CHOPSTICKS = """
const { WebSocketServer } = require(%(ws)s);
const arg = (flag) => process.argv[process.argv.indexOf(flag) + 1];
const [host, port] = [arg("--host"), Number(arg("--port"))];
if (process.env.FAKE_EXIT) { console.log("fake chopsticks: boom"); process.exit(3); }
require("child_process").spawn("sleep", ["300"], { stdio: "ignore" });
if (process.env.FAKE_SILENT) {
  require("fs").writeFileSync(`${__dirname}/fake.pid`, String(process.pid));
  setInterval(() => {}, 1000);
  return;
}
const wss = new WebSocketServer({ host, port }, () =>
  console.log(`INFO: Fake RPC listening on http://${host}:${port} and ws://${host}:${port}`));
wss.on("connection", (ws) => ws.on("message", (data) => {
  const { id } = JSON.parse(data);
  ws.send(JSON.stringify({ jsonrpc: "2.0", id, result: "Fake" }));
}));
"""


@pytest.fixture
def fake_root(repo_root: Path, tmp_path: Path) -> Path:
    ws = repo_root / "node_modules" / "ws"
    assert ws.is_dir(), "node_modules is missing: run scripts/setup.sh"
    script = tmp_path / "root" / CHOPSTICKS_JS
    script.parent.mkdir(parents=True)
    script.write_text(FAKE_CHOPSTICKS % {"ws": json.dumps(str(ws))})
    (tmp_path / "root" / "spec.raw.json").write_text("{}")
    return tmp_path / "root"


def _chain(root: Path, port: int | None = None, timeout: float = 30.0) -> DevChain:
    return DevChain(
        root=root,
        spec=Path("spec.raw.json"),
        state_dir=root / "state",
        port=port or 0,
        timeout=timeout,
    )


def test_start_status_stop(fake_root: Path) -> None:
    chain = _chain(fake_root, free_port())
    info = chain.start()
    try:
        assert (info.url, info.chain) == (chain.url, "Fake")
        assert chain.start() == info  # idempotent
        other = _chain(fake_root)  # another process' view of the same state dir
        assert other.status() == info
        assert other.stop()
    finally:
        chain.stop()
    assert chain.status() is None
    assert not group_alive(info.pid)
    assert not chain.stop()


def test_missing_spec(fake_root: Path) -> None:
    (fake_root / "spec.raw.json").unlink()
    with pytest.raises(SpecNotFoundError):
        _chain(fake_root, free_port()).start()


def test_port_in_use(fake_root: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        with pytest.raises(DevChainError, match="already in use"):
            _chain(fake_root, busy.getsockname()[1]).start()


def test_early_exit_shows_log_tail(fake_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_EXIT", "1")
    chain = _chain(fake_root, free_port())
    with pytest.raises(DevChainError, match="exited with code 3") as caught:
        chain.start()
    assert "fake chopsticks: boom" in caught.value.log_tail
    assert chain.status() is None


def test_timeout_stops_the_group(fake_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_SILENT", "1")
    chain = _chain(fake_root, free_port(), timeout=1.5)
    with pytest.raises(DevChainError, match="did not answer system_chain") as caught:
        chain.start()
    assert "--- log tail ---" in str(caught.value)
    assert chain.status() is None
    assert not group_alive(int((fake_root / CHOPSTICKS_JS).with_name("fake.pid").read_text()))


def test_stop_ends_leftovers_of_a_dead_chain(fake_root: Path) -> None:
    chain = _chain(fake_root, free_port())
    info = chain.start()
    os.kill(info.pid, signal.SIGKILL)  # the leader dies, its grandchild lives on
    deadline = time.monotonic() + 10
    while chain.status() is not None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert chain.status() is None
    assert group_alive(info.pid)
    assert not chain.stop()  # it was not running, but its group is gone now
    assert not group_alive(info.pid)


def _cli(*args: str) -> Result:
    return CliRunner().invoke(app, ["--json", "chain", *args])


def test_start_elsewhere_is_an_error_and_again_a_no_op(fake_root: Path) -> None:
    port = free_port()
    where = ["--root", str(fake_root), "--spec", str(fake_root / "spec.raw.json")]
    where += ["--state-dir", str(fake_root / "state")]
    first = _cli("start", *where, "--port", str(port))
    try:
        assert first.exit_code == 0, first.output
        started = json.loads(first.stdout)
        assert started["fresh_state"] is True and started["block_time"] is None
        again = _cli("start", *where, "--port", str(port))
        assert again.exit_code == 0, again.output
        assert json.loads(again.stdout)["fresh_state"] is False  # the same chain: state kept
        assert json.loads(again.stdout)["pid"] == started["pid"]
        other = free_port()
        elsewhere = _cli("start", *where, "--port", str(other))
        assert elsewhere.exit_code == 1
        message = json.loads(elsewhere.stdout)["error"]["message"]
        assert f"already runs at ws://127.0.0.1:{port}" in message
        assert f"ws://127.0.0.1:{other}" in message
        ticking = _cli("start", *where, "--port", str(port), "--block-time", "2")
        assert ticking.exit_code == 1 and "a block every 2 s" in ticking.stdout
        assert port_free("127.0.0.1", other)  # nothing was started there
    finally:
        _cli("stop", "--state-dir", str(fake_root / "state"))
    assert not group_alive(started["pid"])


def test_block_time_runs_a_ticker_that_stop_ends(fake_root: Path) -> None:
    chain = DevChain(
        root=fake_root,
        spec=Path("spec.raw.json"),
        state_dir=fake_root / "state",
        port=free_port(),
        block_time=0.5,
    )
    info = chain.start()
    try:
        assert info.block_time == 0.5 and info.ticker_pid is not None
        assert chain.status() == info
        assert info.ticker_pid != info.pid  # its own session: a group cannot span two
    finally:
        assert chain.stop()
    assert process_started(info.ticker_pid) is None
    assert not group_alive(info.ticker_pid)
    assert chain.ticker_log_path.is_file()


def test_block_time_must_be_positive(fake_root: Path) -> None:
    with pytest.raises(ValueError, match="positive"):
        DevChain(root=fake_root, block_time=0)
