"""A local network of real ``ccnet-node`` processes (:mod:`ccnet.client.localnet`) on
127.0.0.1: four validators produce and finalize blocks, finality survives one of them
stopping and the restarted one catches up, a later full node syncs from genesis, the
SDK's finalized transfer moves exact balances, ``ccnet network start|status|stop``, and
the whole demo (channels, paid jobs, the court's dispute, cooperative closes) on the
four validators with every extrinsic waiting for finality.

Blocks come every 6 s (Aura slots), so every wait is bounded in blocks
(:meth:`LocalNetwork.wait_until`), never a sleep. Needs the node binary
(``$CCNET_NODE_BIN``, default ``~/.cache/ccnet/node-target/debug/ccnet-node``): without
it the tests fail, or skip with ``CCNET_ALLOW_SKIP=1``.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ccnet.client import CC, Chain, Keys
from ccnet.client.devchain import free_port, group_alive
from ccnet.client.localnet import DEFAULT_SPEC, LocalNetwork, node_binary

VALIDATORS = ("alice", "bob", "charlie", "dave")


@pytest.fixture(scope="module")
def network(
    ccnet_node: Path, repo_root: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LocalNetwork]:
    """Four validators (Alice..Dave) of *ccnet_node* on free loopback ports, stopped
    after the module."""
    net = LocalNetwork(4, root=repo_root, state_dir=tmp_path_factory.mktemp("localnet"))
    net.start()
    pids = {node.pid for node in net.info.nodes}
    try:
        yield net
    finally:
        pids |= {node.pid for node in net.info.nodes if node.pid}  # restarted, added
        net.stop()
        assert net.status() is None
        assert not any(group_alive(pid) for pid in pids), "node processes outlived stop()"


def _cli(*args: str, state_dir: Path, root: Path, code: int = 0) -> Any:
    """Run ``ccnet --json ARGS`` as its own process (as a user would) and decode stdout."""
    env = {**os.environ, "CCNET_LOCALNET_DIR": str(state_dir), "CCNET_ROOT": str(root)}
    done = subprocess.run(
        [sys.executable, "-m", "ccnet.client", "--json", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
        check=False,
    )
    assert done.returncode == code, f"stdout: {done.stdout}\nstderr: {done.stderr}"
    return json.loads(done.stdout)


@pytest.mark.usefixtures("ccnet_node")
def test_cli_network_start_status_stop(repo_root: Path, tmp_path: Path) -> None:
    # First in the file: its own network runs before the module's one starts.
    state = tmp_path / "net"
    started = _cli("network", "start", "--validators", "4", state_dir=state, root=repo_root)
    assert [n["name"] for n in started["nodes"]] == list(VALIDATORS)
    assert (
        started["env"] == {"CCNET_URL": started["url"]} == {"CCNET_URL": started["nodes"][0]["url"]}
    )
    pids = [n["pid"] for n in started["nodes"]]
    try:
        again = _cli("network", "start", "--validators", "4", state_dir=state, root=repo_root)
        assert again["already_running"] and [n["pid"] for n in again["nodes"]] == pids

        net = LocalNetwork(4, root=repo_root, state_dir=state)
        net.wait_for_height(1, finalized=True, blocks=20)
        status = _cli("network", "status", state_dir=state, root=repo_root)
        nodes = status["nodes"]
        assert status["running"] and [n["role"] for n in nodes] == ["validator"] * 4
        assert all(n["alive"] and n["error"] is None for n in nodes), nodes
        assert all(n["finalized"] >= 1 and n["best"] >= n["finalized"] for n in nodes), nodes
        assert all(n["peers"] >= 1 for n in nodes), nodes

        # The printed URL is what the SDK and `--url` / CCNET_URL take.
        balance = subprocess.run(
            [sys.executable, "-m", "ccnet.client", "--json", "balance", "//Alice"],
            capture_output=True,
            text=True,
            env={**os.environ, **started["env"]},
            timeout=120,
            check=True,
        )
        assert json.loads(balance.stdout)["free"] > 0
    finally:
        stopped = _cli("network", "stop", state_dir=state, root=repo_root)
    assert stopped == {"was_running": True}
    assert not any(group_alive(pid) for pid in pids), "node processes outlived `network stop`"
    assert _cli("network", "stop", state_dir=state, root=repo_root) == {"was_running": False}
    assert _cli("network", "status", state_dir=state, root=repo_root, code=3) == {
        "running": False,
        "nodes": [],
    }


def test_four_validators_produce_and_finalize(network: LocalNetwork) -> None:
    network.wait_for_height(3, finalized=True, blocks=30)
    for status in network.statuses():
        assert status.role == "validator" and status.alive and status.peers == 3, status
        assert status.best is not None and status.finalized is not None
        assert status.best >= status.finalized >= 3, status
    # One chain: every validator has the same block at a finalized height.
    assert len({network.block_hash(name, 3) for name in VALIDATORS}) == 1


def test_finality_goes_on_without_one_validator_and_it_catches_up(
    network: LocalNetwork,
) -> None:
    assert network.stop_node("dave")
    assert not network.info.node("dave").alive
    others = VALIDATORS[:3]
    base = min(network.finalized_number(name) for name in others)
    # 3 of 4 authorities still finalize (Dave's slots are skipped: slower, not stuck).
    network.wait_for_height(base + 2, finalized=True, nodes=others, blocks=30)

    target = max(network.best_number(name) for name in others)
    restarted = network.start_node("dave")
    assert restarted.base_path == network.info.node("dave").base_path
    network.wait_until(
        f"dave catching up to best #{target}",
        lambda: network.best_number("dave") >= target,
        blocks=20,
    )
    assert network.block_hash("dave", target) == network.block_hash("alice", target)
    network.wait_for_height(target, finalized=True, nodes=["dave"], blocks=20)


def test_a_later_full_node_syncs_from_genesis(network: LocalNetwork) -> None:
    finalized = network.finalized_number("alice")
    full = network.add_full_node()
    assert full.role == "full" and full.name == "full1"
    assert network.block_hash(full.name, 0) == network.block_hash("alice", 0)
    network.wait_for_height(finalized, finalized=True, nodes=[full.name], blocks=20)
    assert network.block_hash(full.name, finalized) == network.block_hash("alice", finalized)
    status = network.node_status(full.name)
    assert status.alive and status.peers is not None and status.peers >= 1, status


# Every JSON-RPC method substrate-interface 1.8 and our SDK call on a node (Chopsticks'
# `dev_*` methods aside): found by reading both packages' sources.
SDK_RPC_METHODS = (
    "author_pendingExtrinsics", "author_submitAndWatchExtrinsic", "author_submitExtrinsic",
    "author_unwatchExtrinsic", "chain_getBlock", "chain_getBlockHash",
    "chain_getFinalizedHead", "chain_getHead", "chain_getHeader", "chain_getRuntimeVersion",
    "chain_subscribeFinalizedHeads", "chain_subscribeNewHeads", "payment_queryInfo",
    "rpc_methods", "state_call", "state_getKeysPaged", "state_getMetadata",
    "state_getRuntimeVersion", "state_getStorage", "state_getStorageAt",
    "state_queryStorageAt", "state_subscribeStorage", "state_unsubscribeStorage",
    "system_accountNextIndex", "system_chain", "system_health", "system_name",
    "system_properties", "system_version",
)  # fmt: skip


def test_the_node_serves_every_rpc_method_the_sdk_calls(network: LocalNetwork) -> None:
    served = set(network.rpc("alice", "rpc_methods")["methods"])
    assert not [m for m in SDK_RPC_METHODS if m not in served]
    # The default metadata is V14 ("meta", then version 14), the one substrate-interface reads.
    assert network.rpc("alice", "state_getMetadata").startswith("0x6d6574610e")


def test_sdk_transfer_is_finalized_with_exact_balances(network: LocalNetwork) -> None:
    alice = Keys.from_uri("//Alice")
    dest = str(Keys.from_uri(f"//localnet-{secrets.token_hex(6)}").ss58_address)
    amount = 3 * CC + 7
    with Chain(network.info.node("bob").ws_url, timeout=60) as chain:
        receipt = chain.transfer(alice, dest, amount, wait="finalization")
        assert receipt.finalized
        included = int(chain.rpc("chain_getHeader", [receipt.block_hash])["number"], 16)
        assert chain.block_number(finalized=True) >= included
        assert chain.block_hash(included) == receipt.block_hash  # on the finalized chain
        parent = chain.block_hash(included - 1)

        paid = receipt.expect("TransactionPayment", "TransactionFeePaid")
        fee = int(paid.attributes["actual_fee"])
        assert fee > 0 and receipt.fee == fee
        moved = receipt.expect("Balances", "Transfer")
        assert int(moved.attributes["amount"]) == amount

        def free(who: str, at: str) -> int:
            account = chain.query("System", "Account", [who], block_hash=at)
            return int(account["data"]["free"]) if account else 0

        # Fees are burned here (no author share), so only the transfer moves Alice's
        # balance in its block: she pays exactly amount + fee; Dest gets exactly amount.
        assert free(dest, parent) == 0
        assert free(dest, receipt.block_hash) == amount
        assert free(alice.ss58_address, parent) - free(alice.ss58_address, receipt.block_hash) == (
            amount + fee
        )
        assert chain.free_balance(dest) == amount


@pytest.mark.timeout(1800)  # 6 s blocks: the court's four periods alone are ~40 blocks
def test_the_demo_runs_on_the_four_validators(
    network: LocalNetwork, repo_root: Path, tmp_path: Path
) -> None:
    """``ccnet demo --network local --skip migration`` on the module's running network
    (it reuses it and leaves it running): channels, paid and verified jobs, the dispute
    judged by votes and the cooperative closes, every extrinsic waiting for GRANDPA
    finality, and the balances, read at the last finalized block, reconcile to the
    planck."""
    command = [
        sys.executable, "-m", "ccnet.client", "--json", "demo", "--network", "local",
        "--localnet-dir", str(network.dir), "--gateway-port", str(free_port()),
        "--state-dir", str(tmp_path / "demo"),
        "--skip", "migration",  # its own test runs on the dev chain (test_demo.py)
    ]  # fmt: skip
    env = {**os.environ, "PYTHONFAULTHANDLER": "1"}
    env.pop("CCNET_ALLOW_FAULT_INJECTION", None)  # the demo sets it for its one worker
    stdout, stderr = tmp_path / "demo-stdout.json", tmp_path / "demo-stderr.log"
    with stdout.open("wb") as out_file, stderr.open("wb") as err_file:
        done = subprocess.run(
            command, cwd=repo_root, env=env, stdout=out_file, stderr=err_file, timeout=1700
        )
    log = stderr.read_text(errors="replace")
    assert done.returncode == 0, f"exit {done.returncode}\n{log[-6000:]}"
    summary = json.loads(stdout.read_text())
    assert summary["ok"], [name for name, passed in summary["checks"].items() if not passed]
    assert summary["network"]["kind"] == "local" and summary["network"]["validators"] == 4
    assert summary["network"]["wait"] == "finalization"
    assert summary["network"]["url"] in network.info.urls
    with Chain(summary["network"]["url"]) as chain:
        assert summary["network"]["balances_at"] <= chain.block_number(finalized=True)
    assert summary["dispute"]["verdict"] == "WorkerAtFault"
    assert summary["reconciliation"]["residual_planck"] == 0
    assert summary["channels"]["channel_extrinsics"] == 2 * summary["channels"]["channels"] > 0
    assert network.status() is not None, "the demo stopped a network it did not start"


@pytest.mark.usefixtures("ccnet_node")
def test_node_build_spec_has_the_chain_spec_tools_genesis(repo_root: Path, tmp_path: Path) -> None:
    """The node's own ``build-spec --chain local --raw`` and the chain-spec tool's file
    (what the networks run) hold the same raw genesis storage, so the same genesis state
    root: validators can start from either. Takes minutes (the node compiles the runtime
    to build the genesis, outside its runtime cache)."""
    built = subprocess.run(
        [str(node_binary()), "build-spec", "--chain", "local", "--raw"]
        + ["--disable-default-bootnode", "--base-path", str(tmp_path / "base")],
        capture_output=True,
        text=True,
        check=True,
        timeout=1200,
    )
    node_spec = json.loads(built.stdout)
    tool_spec = json.loads((repo_root / DEFAULT_SPEC).read_text())
    assert node_spec["id"] == tool_spec["id"]
    node_top, tool_top = node_spec["genesis"]["raw"]["top"], tool_spec["genesis"]["raw"]["top"]
    differing = sorted(
        k for k in node_top.keys() | tool_top.keys() if node_top.get(k) != tool_top.get(k)
    )
    assert not differing, f"genesis storage keys that differ: {differing}"
    assert node_spec["genesis"]["raw"] == tool_spec["genesis"]["raw"]
