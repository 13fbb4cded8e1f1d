"""``ccnet job run --checkpoint-every`` and ``ccnet job resume`` as processes against real
``ccnet worker run`` daemons (checkpoints archived on arlocal, recorded on the session
dev chain): the job's stdout is an uninterrupted run's, the requester pays each segment's
worker exactly what the outcome reports (its channel in the requester's store), the job
file is kept (mode 0600, settled), and resuming a settled job is refused with nothing
paid. Then a worker killed (SIGKILL) after its first checkpoint: the CLI finishes the
job on the other worker, from that checkpoint. And a copy of the job file taken while
the job was still open, put back after the job was settled (or resumed from elsewhere
with the same state dir), is refused by the state dir's ``.settling`` marker: nothing is
run or paid again."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import stat
import sys
from pathlib import Path
from typing import Any

from ccnet.channels import SqliteChannelStore
from ccnet.channels.store import channel_store_in
from ccnet.client import CC, Chain, Keys
from ccnet.client.jobs.catalogue import jobs_dir, load_job
from ccnet.worker.sandbox import Sandbox

ARGS = ("3000000",)
REQUESTER_FUNDS = 100 * CC
HEARTBEAT = {"CCNET_WORKER_HEARTBEAT_INTERVAL_MS": "1000"}


async def ccnet(*args: str, env: dict[str, str]) -> tuple[int, bytes, bytes]:
    """Run ``python -m ccnet.client ARGS``: (exit code, stdout, stderr)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "ccnet.client",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 600)
    assert proc.returncode is not None
    return proc.returncode, out, err


async def channels(env: dict[str, str], state: Path) -> dict[str, dict[str, Any]]:
    """The requester's channels by worker (party B) address: ``channel list --json``."""
    code, out, err = await ccnet("--json", "channel", "list", "--store", str(state), env=env)
    assert code == 0, err.decode()
    listed = json.loads(out)
    assert all(c["me"] == "A" for c in listed)
    return _by_b(listed)


def _by_b(listed: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    from ccnet.client.signing import address_of

    return {address_of(bytes.fromhex(c["params"]["party_b"].removeprefix("0x"))): c for c in listed}


def outcome_of(err: bytes) -> Any:
    """The JSON outcome on stderr, after any log lines (the SDK warns of a lost worker)."""
    start = 0 if err.startswith(b"{") else err.index(b"\n{") + 1
    return json.loads(err[start:])


def spent(channel: dict[str, Any]) -> int:
    return int(channel["params"]["deposit_a"]) - int(channel["latest"]["balance_a"])


async def requester_env(
    ccnet_chain: Chain, devchain: str, tmp_path: Path, bootstrap: str, arlocal: str
) -> dict[str, str]:
    """The requester's CLI environment: a funded key, the dev chain, the DHT, and
    arlocal as the gateway its settlements open the images through."""
    uri = f"//ccnet-ckpt-cli-{os.urandom(6).hex()}"
    me = str(Keys.from_uri(uri).ss58_address)
    await asyncio.to_thread(ccnet_chain.transfer, Keys.from_uri("//Ferdie"), me, REQUESTER_FUNDS)
    return {
        **os.environ,
        "CCNET_URL": devchain,
        "CCNET_KEYSTORE": str(tmp_path / "keystore"),
        "CCNET_CONFIG": str(tmp_path / "none.toml"),
        "CCNET_KEY": uri,
        "CCNET_DHT_BOOTSTRAP": bootstrap,
        "CCNET_ARWEAVE_URL": arlocal,
    }


def run_args(state: Path, every: int) -> list[str]:
    command = ["--json", "job", "run", str(jobs_dir() / "prime_count.wasm"), "--arg", ARGS[0]]
    command += ["--checkpoint-every", str(every), "--fuel-limit", str(10**9)]
    command += ["--state-dir", str(state), "--max-cost", "10", "--deposit", "2", "--silence", "6"]
    return command


async def test_checkpointed_run_pays_exactly_and_a_settled_job_is_not_resumed(
    devchain: str,
    ccnet_chain: Chain,
    arlocal: str,
    run_worker: Any,
    sandbox: Sandbox,
    tmp_path: Path,
) -> None:
    whole = sandbox.run(load_job("prime_count"), args=ARGS)
    a = await run_worker("--checkpoint-gateway", arlocal, env=HEARTBEAT)
    bootstrap = f"{a.ready['dht_host']}:{a.ready['dht_port']}"
    b = await run_worker(
        "--checkpoint-gateway", arlocal, "--dht-bootstrap", bootstrap, env=HEARTBEAT
    )
    env = await requester_env(ccnet_chain, devchain, tmp_path, bootstrap, arlocal)
    state = tmp_path / "requester"

    code, out, err = await ccnet(*run_args(state, whole.fuel_used // 3), env=env)
    assert code == 0, err.decode()
    assert out == whole.stdout
    report = outcome_of(err)
    assert report["verified"] and report["checkpoints"] >= 2
    segments = report["segments"]
    assert len(segments) == 1 and segments[0]["reply"] == "result"
    assert segments[0]["worker"] in {a.address, b.address}
    assert segments[0]["paid_planck"] > 0 and segments[0]["unpaid_reason"] == ""
    assert report["cost_planck"] == segments[0]["paid_planck"] and report["owed_planck"] == 0
    assert (
        segments[0]["paid_planck"] == segments[0]["fuel_used"] * segments[0]["rate_planck_per_fuel"]
    )

    before = await channels(env, state)
    assert set(before) == {segments[0]["worker"]}
    assert spent(before[segments[0]["worker"]]) == report["cost_planck"]

    path = Path(report["job_file"])
    assert path.parent == state / "jobs" and path.name == f"{report['task_id']:016x}.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    record = json.loads(path.read_text())
    assert record["settled"] == "settled" and [int(p) for p in record["paid"]] == [
        report["cost_planck"]
    ]

    # a settled job is not run or paid again, even through the same channels
    code, out, err = await ccnet("job", "resume", str(path), env=env)
    assert code == 1 and out == b"", err.decode()
    assert b"not run or paid again" in err
    after = await channels(env, state)
    assert {w: spent(c) for w, c in after.items()} == {w: spent(c) for w, c in before.items()}


async def start_job(env: dict[str, str], state: Path, every: int) -> Any:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "ccnet.client",
        *run_args(state, every),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )


async def first_checkpoint(proc: Any, state: Path) -> str:
    """The worker that announced the job's first checkpoint, as its job file shows."""
    jobs = state / "jobs"
    for _ in range(1200):
        files = list(jobs.glob("*.json")) if jobs.is_dir() else []
        if files:
            try:
                trail = json.loads(files[0].read_text())["checkpoints"]
            except (ValueError, OSError):
                trail = []
            if trail:
                return str(trail[0]["worker"])
        assert proc.returncode is None
        await asyncio.sleep(0.1)
    raise AssertionError("no checkpoint was announced")


async def test_an_unfinished_job_is_resumed_later_and_every_segment_settled_once(
    devchain: str,
    ccnet_chain: Chain,
    arlocal: str,
    run_worker: Any,
    sandbox: Sandbox,
    tmp_path: Path,
) -> None:
    whole = sandbox.run(load_job("prime_count"), args=ARGS)
    a = await run_worker("--checkpoint-gateway", arlocal, env=HEARTBEAT)
    env = await requester_env(
        ccnet_chain, devchain, tmp_path, f"{a.ready['dht_host']}:{a.ready['dht_port']}", arlocal
    )
    state = tmp_path / "requester"
    proc = await start_job(env, state, whole.fuel_used // 4)
    assert await first_checkpoint(proc, state) == a.address
    os.killpg(a.proc.pid, signal.SIGKILL)  # the only worker: the job cannot finish
    assert await a.proc.wait() == -signal.SIGKILL
    out, err = await asyncio.wait_for(proc.communicate(), 600)
    assert proc.returncode == 10 and out == b"", err.decode()
    (path,) = (state / "jobs").glob("*.json")
    assert "".join(f"ccnet job resume {path}".split()).encode() in b"".join(err.split())
    assert json.loads(path.read_text())["settled"] == "open"
    assert await channels(env, state) and all(
        spent(c) == 0 for c in (await channels(env, state)).values()
    )

    b = await run_worker("--checkpoint-gateway", arlocal, env=HEARTBEAT)
    env["CCNET_DHT_BOOTSTRAP"] = f"{b.ready['dht_host']}:{b.ready['dht_port']}"
    code, out, err = await ccnet("--json", "job", "resume", str(path), "--silence", "6", env=env)
    assert code == 0, err.decode()
    assert out == whole.stdout
    report = outcome_of(err)
    segments = report["segments"]
    assert [(s["worker"], s["reply"], s["earlier_run"]) for s in segments] == [
        (a.address, "lost", True),
        (b.address, "result", False),
    ]
    assert segments[1]["resumed_from"] is not None and segments[1]["paid_planck"] > 0
    # A is gone: its images the result resumed from are owed to it, as a debt
    assert segments[0]["paid_planck"] == 0 and segments[0]["owed_planck"] > 0
    debts = json.loads((state / "debts.json").read_text())
    assert [(d["worker"], d["amount"]) for d in debts] == [(a.address, segments[0]["owed_planck"])]
    listed = await channels(env, state)
    assert spent(listed[b.address]) == segments[1]["paid_planck"] == report["cost_planck"]
    assert spent(listed[a.address]) == 0

    code, out, err = await ccnet("job", "resume", str(path), env=env)
    assert code == 1 and b"not run or paid again" in err
    assert {w: spent(c) for w, c in (await channels(env, state)).items()} == {
        w: spent(c) for w, c in listed.items()
    }
    assert json.loads((state / "debts.json").read_text()) == debts
    again = await run_worker("--checkpoint-gateway", arlocal, env=HEARTBEAT, again=a)
    a.proc = again.proc  # back for the fixture's clean stop


async def test_a_killed_worker_is_left_and_the_job_finishes_on_the_next(
    devchain: str,
    ccnet_chain: Chain,
    arlocal: str,
    run_worker: Any,
    sandbox: Sandbox,
    tmp_path: Path,
) -> None:
    whole = sandbox.run(load_job("prime_count"), args=ARGS)
    a = await run_worker("--checkpoint-gateway", arlocal, env=HEARTBEAT)
    bootstrap = f"{a.ready['dht_host']}:{a.ready['dht_port']}"
    b = await run_worker(
        "--checkpoint-gateway", arlocal, "--dht-bootstrap", bootstrap, env=HEARTBEAT
    )
    workers = {a.address: a, b.address: b}
    env = await requester_env(ccnet_chain, devchain, tmp_path, bootstrap, arlocal)
    state = tmp_path / "requester"
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "ccnet.client",
        *run_args(state, whole.fuel_used // 4),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    # the job file shows the first checkpoint: kill the worker that announced it
    jobs = state / "jobs"
    first = None
    for _ in range(1200):
        files = list(jobs.glob("*.json")) if jobs.is_dir() else []
        if files:
            try:
                trail = json.loads(files[0].read_text())["checkpoints"]
            except (ValueError, OSError):
                trail = []
            if trail:
                first = trail[0]["worker"]
                break
        assert proc.returncode is None
        await asyncio.sleep(0.1)
    assert first is not None, "no checkpoint was announced"
    victim = workers[first]
    os.killpg(victim.proc.pid, signal.SIGKILL)
    assert await victim.proc.wait() == -signal.SIGKILL
    out, err = await asyncio.wait_for(proc.communicate(), 600)
    assert proc.returncode == 0, err.decode()
    assert out == whole.stdout
    report = outcome_of(err)
    segments = report["segments"]
    assert [s["worker"] for s in segments] == [first, next(w for w in workers if w != first)]
    assert [s["reply"] for s in segments] == ["lost", "result"]
    assert segments[1]["resumed_from"] is not None and segments[1]["paid_planck"] > 0
    # the lost worker's images the result resumed from are owed to it (it is gone)
    assert segments[0]["paid_planck"] == 0 and segments[0]["owed_planck"] > 0
    listed = await channels(env, state)
    assert (
        spent(listed[segments[1]["worker"]]) == segments[1]["paid_planck"] == report["cost_planck"]
    )
    # the killed daemon comes back for the fixture's clean stop
    again = await run_worker("--checkpoint-gateway", arlocal, env=HEARTBEAT, again=victim)
    victim.proc = again.proc


def worker_earned(worker: Any) -> dict[str, int]:
    """What each channel in *worker*'s store (a ``run_worker`` process, running or not)
    has paid it so far, planck, by channel id (``0x`` hex)."""
    store = SqliteChannelStore(channel_store_in(worker.home / "state"))
    try:
        return {
            "0x" + r.info.channel_id.hex(): r.latest.state.balance_of(r.me)
            - r.info.opening_state().balance_of(r.me)
            for r in store.channels()
        }
    finally:
        store.close()


async def test_a_restored_copy_of_a_settled_job_file_pays_nothing(
    devchain: str,
    ccnet_chain: Chain,
    arlocal: str,
    run_worker: Any,
    sandbox: Sandbox,
    tmp_path: Path,
) -> None:
    """The requester's job file is copied while the job is open (its first run ended
    unfinished, exit code 10); the job is resumed, settled and paid; then the copy is
    put back, and also resumed from where it was copied to with the same state dir: each
    time refused (a user error, "not run or paid again"), by the marker the settlement
    left in the state dir; no worker earns a planck more, the requester's channels and
    debts are unchanged."""
    whole = sandbox.run(load_job("prime_count"), args=ARGS)
    a = await run_worker("--checkpoint-gateway", arlocal, env=HEARTBEAT)
    env = await requester_env(
        ccnet_chain, devchain, tmp_path, f"{a.ready['dht_host']}:{a.ready['dht_port']}", arlocal
    )
    state = tmp_path / "requester"
    proc = await start_job(env, state, whole.fuel_used // 4)
    assert await first_checkpoint(proc, state) == a.address
    os.killpg(a.proc.pid, signal.SIGKILL)  # the only worker: the job cannot finish
    assert await a.proc.wait() == -signal.SIGKILL
    out, err = await asyncio.wait_for(proc.communicate(), 600)
    assert proc.returncode == 10 and out == b"", err.decode()
    (path,) = (state / "jobs").glob("*.json")
    assert json.loads(path.read_text())["settled"] == "open"
    marker = path.with_suffix(".settling")
    assert not marker.exists()
    copy = tmp_path / "copy" / path.name  # the attacker's copy of the open job file
    copy.parent.mkdir()
    shutil.copy2(path, copy)

    b = await run_worker("--checkpoint-gateway", arlocal, env=HEARTBEAT)
    env["CCNET_DHT_BOOTSTRAP"] = f"{b.ready['dht_host']}:{b.ready['dht_port']}"
    resume = ("--json", "job", "resume", str(path), "--silence", "6", "--gateway", arlocal)
    code, out, err = await ccnet(*resume, env=env)  # the images are opened on arlocal
    assert code == 0, err.decode()
    assert out == whole.stdout
    report = outcome_of(err)
    segments = report["segments"]
    assert [(s["worker"], s["reply"]) for s in segments] == [
        (a.address, "lost"),
        (b.address, "result"),
    ]
    paid_b, owed_a = segments[1]["paid_planck"], segments[0]["owed_planck"]
    assert paid_b > 0 and segments[1]["owed_planck"] == 0
    assert paid_b == segments[1]["fuel_used"] * segments[1]["rate_planck_per_fuel"]
    # A is gone: its work a debt, or nothing when its kill fell between recording a
    # newer image on chain and announcing it (B then started anew: A's images unused)
    assert segments[0]["paid_planck"] == 0 and owed_a >= 0
    assert report["cost_planck"] == paid_b and report["owed_planck"] == owed_a
    record = json.loads(path.read_text())
    assert record["settled"] == "settled"
    assert [int(p) for p in record["paid"]] == [0, paid_b]
    assert [int(o) for o in record["owed"]] == [owed_a, 0]
    task = f"{report['task_id']:016x}"
    assert marker.read_text() == f"{task}\n"  # the requester's own defence, kept

    listed = await channels(env, state)
    assert set(listed) == {a.address, b.address}
    assert spent(listed[a.address]) == 0 and spent(listed[b.address]) == paid_b
    ch_a = listed[a.address]["params"]["channel_id"]
    ch_b = listed[b.address]["params"]["channel_id"]
    assert worker_earned(a) == {ch_a: 0}
    assert worker_earned(b) == {ch_b: paid_b}
    debts = json.loads((state / "debts.json").read_text())
    assert [(d["worker"], d["amount"]) for d in debts] == ([(a.address, owed_a)] if owed_a else [])

    # A is back (it could be paid again, were the job run again); the copy is restored
    again = await run_worker("--checkpoint-gateway", arlocal, env=HEARTBEAT, again=a)
    a.proc = again.proc
    env["CCNET_DHT_BOOTSTRAP"] += f",{again.ready['dht_host']}:{again.ready['dht_port']}"
    shutil.copy2(copy, path)
    assert json.loads(path.read_text())["settled"] == "open"
    elsewhere = tmp_path / "other-state"  # no marker there, and channels of its own
    for attempt, refusal in (
        (("job", "resume", str(path), "--silence", "6", "--gateway", arlocal), b"paid again"),
        (
            ("job", "resume", str(copy), "--state-dir", str(state), "--gateway", arlocal),
            b"paid again",
        ),
        (("job", "resume", str(copy), "--gateway", arlocal), b"paid again"),  # recorded dir
        (
            ("job", "resume", str(copy), "--state-dir", str(elsewhere), "--gateway", arlocal),
            b"resumed from there only",
        ),
    ):
        code, out, err = await ccnet(*attempt, env=env)
        assert code == 1 and out == b"", err.decode()  # a user error
        said = b" ".join(err.split())
        assert refusal in said, said
        assert marker.read_text() == f"{task}\n"
        assert {w: spent(c) for w, c in (await channels(env, state)).items()} == {
            a.address: 0,
            b.address: paid_b,
        }
        assert json.loads((state / "debts.json").read_text()) == debts
        assert worker_earned(a) == {ch_a: 0}
        assert worker_earned(b) == {ch_b: paid_b}
    assert json.loads(path.read_text())["settled"] == "open"  # nothing rewrote it
