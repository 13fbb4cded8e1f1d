"""The main job end to end: ``ccnet demo`` as a user runs it.

It starts its own dev chain and arlocal on free ports, five worker daemons, and the
requester (an on-chain dispute through the commit-reveal court among them; a job with
VM checkpoints migrated from a worker killed with SIGKILL to another, on two more
workers; with ``--fiat``, a card purchase first and a worker's PayPal payout last); the
test checks the JSON summary, that every check passed, and that no process it started
outlives it (the killed worker's included), after a normal run and after Ctrl-C.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ccnet.client.devchain import free_port


def _descendants(pid: int) -> set[int]:
    """Every process below *pid* (children of children too), from /proc."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _png_size(path: Path) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk."""
    data = path.read_bytes()[:24]
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR", path
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def _demo(repo_root: Path, tmp_path: Path, *extra: str) -> tuple[list[str], dict[str, str]]:
    command = [
        sys.executable, "-m", "ccnet.client", "--json", "demo",
        "--chain-port", str(free_port()), "--gateway-port", str(free_port()),
        "--state-dir", str(tmp_path / "demo"), *extra,
    ]  # fmt: skip
    env = dict(os.environ)
    env.pop("CCNET_ALLOW_FAULT_INJECTION", None)  # the demo sets it for its one worker
    env["PYTHONFAULTHANDLER"] = "1"  # a stack dump on SIGABRT, should it hang
    return command, env


@pytest.mark.timeout(1200)  # seven worker daemons and the court's phases: ~5 min here
def test_demo_passes_every_check_and_leaves_nothing_running(
    repo_root: Path, tmp_path: Path
) -> None:
    command, env = _demo(repo_root, tmp_path, "--fiat")
    stdout, stderr = tmp_path / "demo-stdout.json", tmp_path / "demo-stderr.log"
    with stdout.open("wb") as out_file, stderr.open("wb") as err_file:  # not unread pipes
        proc = subprocess.Popen(command, cwd=repo_root, env=env, stdout=out_file, stderr=err_file)
    seen: set[int] = set()
    while proc.poll() is None:  # remember every process it starts
        seen |= _descendants(proc.pid)
        time.sleep(0.5)
    out = stdout.read_bytes()
    assert proc.returncode == 0, stderr.read_text()[-4000:]
    summary = json.loads(out)
    assert summary["ok"] is True
    assert all(summary["checks"].values()), summary["checks"]
    assert summary["dispute"]["verdict"] == "WorkerAtFault"
    assert summary["checks"]["the honest result is paid by finalize"] is True
    assert summary["reconciliation"]["residual_planck"] == 0
    assert summary["channels"]["channel_extrinsics"] == 2 * summary["channels"]["channels"]
    assert summary["tasks"]["verified"] >= 12
    assert summary["checkpoint"]["state_hash"] == summary["checkpoint"]["restored_hash"]
    # the phases, in order
    assert list(summary["phases_s"]) == [
        "network", "card purchase", "workers", "discover", "jobs", "dispute", "checkpoint",
        "migration", "close", "payout", "total",
    ]  # fmt: skip
    # migration: A killed after its first checkpoint, the job resumed on B from it; the
    # output is an uninterrupted run's; B paid its segment, A owed the image's work.
    for check in (
        "A announced its first checkpoint",
        "A killed with SIGKILL (kill -9) after its first checkpoint",
        "the output equals an uninterrupted local run's, byte for byte",
        "the job resumed on B from A's checkpoint recorded on chain",
        "the migrated job's result verified",
        "B is paid exactly its segment (the rest of the job and its checkpoints)",
        "A is owed exactly the work of the image B resumed, kept as a debt",
        "A, started again, is paid its debt over the same channel",
    ):
        assert summary["checks"][check] is True, check
    migration = summary["migration"]
    assert migration["output"] == "11078937"  # primes up to 2e8
    assert migration["checkpoint_resumed"] == 1
    assert migration["paid_b_planck"] > 0 and migration["owed_a_planck"] > 0
    assert migration["debt_paid_planck"] == migration["owed_a_planck"]
    assert migration["fuel_a"] + migration["fuel_b"] > migration["fuel_uninterrupted"]
    assert summary["phases_s"]["migration"] < 90
    assert len(summary["workers"]) == 7
    # --fiat: $20 by card became 20 CC; 60 CC cashed out as $60 gross, $9 fee, $51 net.
    fiat = summary["fiat"]
    assert (fiat["purchase"]["status"], fiat["purchase"]["cents"]) == ("credited", 20_00)
    assert fiat["purchase"]["planck"] == 20 * 10**12
    payout = fiat["payout"]
    assert (payout["status"], payout["gross_cents"], payout["fee_cents"], payout["net_cents"]) == (
        "paid",
        60_00,
        9_00,
        51_00,
    )
    assert fiat["reconciliation"]["balanced"] is True
    resized = sorted(Path(summary["outputs"]["resized_dir"]).glob("*.png"))
    assert len(resized) >= 5
    for image in resized:  # fitted into 256 x 256, aspect ratio kept
        width, height = _png_size(image)
        assert max(width, height) == 256 and min(width, height) >= 1, (image.name, width, height)
    assert len(seen) >= 10, "expected the chain, the gateway and seven worker processes"
    assert not [pid for pid in seen if _alive(pid)], "processes outlived the demo"


def test_ctrl_c_stops_everything(repo_root: Path, tmp_path: Path) -> None:
    command, env = _demo(repo_root, tmp_path)
    log = tmp_path / "demo-stderr.log"
    # Output to files, not pipes nobody reads: a full pipe would block the demo itself.
    with log.open("wb") as stderr:
        proc = subprocess.Popen(
            command, cwd=repo_root, env=env, stdout=subprocess.DEVNULL, stderr=stderr
        )
    seen: set[int] = set()
    deadline = time.monotonic() + 120
    # Interrupt once the workers run (the chain, the gateway and a worker are up).
    while time.monotonic() < deadline and len(seen) < 4 and proc.poll() is None:
        seen |= _descendants(proc.pid)
        time.sleep(0.2)
    if proc.poll() is not None:
        pytest.fail(f"the demo ended before it could be interrupted:\n{log.read_text()[-4000:]}")
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(60)
    except subprocess.TimeoutExpired:
        # PYTHONFAULTHANDLER (set by _demo) dumps every thread's stack on SIGABRT: the
        # failure then says where the shutdown was stuck.
        proc.send_signal(signal.SIGABRT)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        pytest.fail(f"the demo did not stop within 60 s of Ctrl-C:\n{log.read_text()[-8000:]}")
    assert proc.returncode == 130, log.read_text()[-4000:]
    time.sleep(1)
    assert not [pid for pid in seen if _alive(pid)], "processes outlived the interrupted demo"
