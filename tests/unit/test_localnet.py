"""LocalNetwork's preparation and process handling, and ``ccnet network``, against a
stand-in for ``ccnet-node`` (the real node: tests/integration/test_node_network.py).

The stand-in is a Python script: ``key insert`` writes a keystore file,
``key generate-node-key`` writes the node key and prints a peer id on stderr, and a run
records its arguments and serves ``system_health``, ``chain_getHeader`` and
``chain_getFinalizedHead`` over HTTP on ``--rpc-port`` (block #1 at once).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ccnet.client.cli import app
from ccnet.client.devchain import group_alive
from ccnet.client.exceptions import LocalNetworkError, NodeBinaryNotFoundError, UsageError
from ccnet.client.localnet import CHAIN_ID, LocalNetwork, finality_warning, node_binary

FAKE_NODE = """#!%(python)s
import json, os, sys
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

args = sys.argv[1:]
def arg(flag):
    return args[args.index(flag) + 1]
chain_dir = Path(arg("--base-path")) / "chains" / "%(chain_id)s"
if args[:2] == ["key", "insert"]:
    (chain_dir / "keystore").mkdir(parents=True, exist_ok=True)
    (chain_dir / "keystore" / arg("--key-type")).write_text(arg("--suri") + " " + arg("--scheme"))
    sys.exit(0)
if args[:2] == ["key", "generate-node-key"]:
    (chain_dir / "network").mkdir(parents=True, exist_ok=True)
    (chain_dir / "network" / "secret_ed25519").write_text("k")
    print("Generating key", file=sys.stderr)
    print("12D3KooWFake" + arg("--base-path")[-1], file=sys.stderr)
    sys.exit(0)
if os.environ.get("FAKE_NODE_EXIT"):
    print("fake node: boom")
    sys.exit(4)
(Path(arg("--base-path")) / "args.json").write_text(json.dumps(args))
HEADER = {"number": "0x1", "parentHash": "0x00"}
RESULTS = {
    "system_health": {"peers": 1, "isSyncing": False, "shouldHavePeers": True},
    "chain_getHeader": HEADER,
    "chain_getFinalizedHead": "0x01",
}
class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        reply = {"jsonrpc": "2.0", "id": body["id"], "result": RESULTS[body["method"]]}
        data = json.dumps(reply).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
    def log_message(self, *a):
        pass
HTTPServer(("127.0.0.1", int(arg("--rpc-port"))), Handler).serve_forever()
"""


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A scratch root with a raw spec, the stand-in node as $CCNET_NODE_BIN and a
    scratch cache root; returns the root."""
    root = tmp_path / "root"
    (root / "chain-spec").mkdir(parents=True)
    (root / "chain-spec" / "local_testnet.raw.json").write_text("{}")
    binary = tmp_path / "ccnet-node"
    binary.write_text(FAKE_NODE % {"python": sys.executable, "chain_id": CHAIN_ID})
    binary.chmod(0o755)
    monkeypatch.setenv("CCNET_NODE_BIN", str(binary))
    monkeypatch.setenv("CCNET_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("CCNET_ROOT", str(root))
    return root


def _args(node_base: str) -> list[str]:
    loaded: list[str] = json.loads((Path(node_base) / "args.json").read_text())
    return loaded


def test_start_prepares_keys_ports_cache_and_stop_ends_all(fake: Path) -> None:
    net = LocalNetwork(2, 1, root=fake, start_timeout=30)
    with net:
        info = net.info
        assert [(n.name, n.role) for n in info.nodes] == [
            ("alice", "validator"),
            ("bob", "validator"),
            ("full1", "full"),
        ]
        ports = [p for n in info.nodes for p in (n.p2p_port, n.rpc_port)]
        assert len(set(ports)) == len(ports)
        alice, bob, full = info.nodes
        keystore = Path(bob.base_path) / "chains" / CHAIN_ID / "keystore"
        assert (keystore / "aura").read_text() == "//Bob sr25519"
        assert (keystore / "gran").read_text() == "//Bob ed25519"
        assert not (Path(full.base_path) / "chains" / CHAIN_ID / "keystore").exists()
        cache = Path(alice.base_path) / "chains" / CHAIN_ID / "wasm-cache"
        assert (
            cache.resolve()
            == Path(info.wasm_cache).resolve()
            == Path(os.environ["CCNET_CACHE"]).resolve() / "node-wasm-cache"
        )

        bob_args = _args(bob.base_path)
        assert "--validator" in bob_args and "--force-authoring" not in bob_args
        assert bob_args[bob_args.index("--bootnodes") + 1] == alice.multiaddr
        assert bob_args[bob_args.index("--chain") + 1] == info.spec
        for flag in ("--no-mdns", "--no-prometheus", "--no-telemetry"):
            assert flag in bob_args
        assert "--validator" not in _args(full.base_path)
        # The boot node, restarted, is told every other node.
        alice_args = _args(alice.base_path)
        assert alice_args[alice_args.index("--bootnodes") + 1 :][:2] == [
            bob.multiaddr,
            full.multiaddr,
        ]

        statuses = net.statuses()
        assert [(s.alive, s.best, s.finalized, s.peers) for s in statuses] == [(True, 1, 1, 1)] * 3
        pids = [n.pid for n in info.nodes]
        assert all(group_alive(pid) for pid in pids)
        assert net.start().nodes == info.nodes  # already running: a no-op
        with pytest.raises(LocalNetworkError, match="already runs"):
            LocalNetwork(4, root=fake).start()
    assert not any(group_alive(pid) for pid in pids)
    assert net.status() is None and net.stop() is False


def test_stop_node_and_restart_keep_the_base_path(fake: Path) -> None:
    with LocalNetwork(3, root=fake, start_timeout=30) as net:
        before = net.info.node("charlie")
        assert net.stop_node("charlie") is True
        assert not group_alive(before.pid)
        status = net.node_status("charlie")
        assert not status.alive and status.best is None and status.error == "not running"
        again = net.start_node("charlie")
        assert again.pid != before.pid and again.alive
        assert (again.base_path, again.rpc_port) == (before.base_path, before.rpc_port)
        added = net.add_full_node()
        assert added.name == "full1" and net.node_status("full1").best == 1
        with pytest.raises(UsageError, match="already has a node"):
            net.add_full_node("full1")


def test_a_single_validator_forces_authoring(fake: Path) -> None:
    assert finality_warning(1) and finality_warning(2) and finality_warning(3) is None
    with LocalNetwork(1, root=fake, start_timeout=30) as net:
        assert "--force-authoring" in _args(net.info.nodes[0].base_path)


def test_early_exit_shows_the_log_and_leaves_nothing(
    fake: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_NODE_EXIT", "1")
    net = LocalNetwork(2, root=fake, start_timeout=30)
    with pytest.raises(LocalNetworkError, match="node alice exited") as err:
        net.start()
    assert "fake node: boom" in str(err.value)
    info = net.recorded()
    assert info is not None and all(n.pid == 0 for n in info.nodes)
    assert net.status() is None


def test_bad_counts_and_missing_files(fake: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for validators, full in ((0, 0), (5, 0), (4, -1), (4, 9)):
        with pytest.raises(UsageError):
            LocalNetwork(validators, full, root=fake)
    monkeypatch.setenv("CCNET_NODE_BIN", str(fake / "nope"))
    with pytest.raises(NodeBinaryNotFoundError, match="scripts/build-node.sh"):
        node_binary()
    with pytest.raises(NodeBinaryNotFoundError):
        LocalNetwork(4, root=fake).start()
    monkeypatch.delenv("CCNET_NODE_BIN")
    monkeypatch.setenv("CCNET_NODE_TARGET_DIR", str(fake / "target"))
    with pytest.raises(NodeBinaryNotFoundError, match=str(fake / "target/debug/ccnet-node")):
        node_binary()


def test_cli_start_status_stop(fake: Path) -> None:
    runner = CliRunner()
    state = ["--state-dir", str(fake / "net")]
    result = runner.invoke(app, ["--json", "network", "start", "--validators", "2", *state])
    assert result.exit_code == 0, result.output
    started = json.loads(result.stdout)
    url = started["nodes"][0]["url"]
    assert started["url"] == url and started["env"] == {"CCNET_URL": url}
    try:
        human = runner.invoke(app, ["network", "start", "--validators", "2", *state])
        assert human.exit_code == 0, human.output
        assert f"export CCNET_URL={url}" in human.stdout and "already running" in human.stdout
        assert "GRANDPA needs 3 of 4" in human.stderr

        status = runner.invoke(app, ["--json", "network", "status", *state])
        assert status.exit_code == 0, status.output
        nodes = json.loads(status.stdout)["nodes"]
        table = runner.invoke(app, ["network", "status", *state])
        assert table.exit_code == 0, table.output
        assert all(word in table.stdout for word in ("alice", "bob", "validator", "finalized"))
        assert [(n["name"], n["role"], n["finalized"]) for n in nodes] == [
            ("alice", "validator", 1),
            ("bob", "validator", 1),
        ]
    finally:
        stop = runner.invoke(app, ["network", "stop", *state])
    assert stop.exit_code == 0 and "local network stopped" in stop.stdout
    stop = runner.invoke(app, ["network", "stop", *state])
    assert stop.exit_code == 0 and "not running" in stop.stdout
    status = runner.invoke(app, ["network", "status", *state])
    assert status.exit_code == 3 and "not running" in status.stdout
    bad = runner.invoke(app, ["network", "start", "--validators", "5", *state])
    assert bad.exit_code == 2


def test_a_new_start_wipes_only_its_nodes(fake: Path) -> None:
    state = fake / "net"
    with LocalNetwork(2, 1, root=fake, state_dir=state, start_timeout=30) as net:
        (Path(net.info.node("bob").base_path) / "marker").write_text("old")
    (state / "unrelated.txt").write_text("keep")
    with LocalNetwork(2, root=fake, state_dir=state, start_timeout=30) as net:
        assert not (Path(net.info.node("bob").base_path) / "marker").exists()
        assert not (state / "full1").exists() and not (state / "full1.log").exists()
        assert [n.name for n in net.info.nodes] == ["alice", "bob"]
    assert (state / "unrelated.txt").read_text() == "keep"
