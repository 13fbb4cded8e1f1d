"""``ccnet job run`` and ``ccnet job workers`` as processes against two real
``ccnet worker run`` daemons on the session dev chain: the job's stdout is exactly the
module's output, the requester pays exactly the reported cost out of its payment
channels (the channel store ``ccnet channel list`` reads), a second job reuses the
channels, and ``job workers --json`` lists both daemons."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import sys
from pathlib import Path
from typing import Any

from ccnet.client import CC, Chain, Keys
from ccnet.client.jobs.catalogue import KNOWN_PRIME_COUNTS, jobs_dir

REQUESTER_FUNDS = 100 * CC


async def ccnet(*args: str, env: dict[str, str], stdin: bytes = b"") -> tuple[int, bytes, bytes]:
    """Run ``python -m ccnet.client ARGS``: (exit code, stdout, stderr)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "ccnet.client",
        *args,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    out, err = await asyncio.wait_for(proc.communicate(stdin), 300)
    assert proc.returncode is not None
    return proc.returncode, out, err


def our_balance(channels: list[dict[str, Any]]) -> int:
    """What the requester (party A of every channel it opened) still holds, planck."""
    assert all(c["me"] == "A" for c in channels)
    return sum(int(c["latest"]["balance_a"]) for c in channels)


async def test_job_run_pays_the_reported_cost(
    devchain: str, ccnet_chain: Chain, run_worker: Any, tmp_path: Path
) -> None:
    first = await run_worker()
    bootstrap = f"{first.ready['dht_host']}:{first.ready['dht_port']}"
    second = await run_worker("--dht-bootstrap", bootstrap)
    daemons = {first.address, second.address}

    uri = f"//ccnet-job-cli-{os.urandom(6).hex()}"
    me = str(Keys.from_uri(uri).ss58_address)
    await asyncio.to_thread(ccnet_chain.transfer, Keys.from_uri("//Ferdie"), me, REQUESTER_FUNDS)
    env = {
        **os.environ,
        "CCNET_URL": devchain,
        "CCNET_KEYSTORE": str(tmp_path / "keystore"),
        "CCNET_CONFIG": str(tmp_path / "none.toml"),
        "CCNET_KEY": uri,
        "CCNET_DHT_BOOTSTRAP": bootstrap,
    }
    state = tmp_path / "requester"

    code, out, err = await ccnet("--json", "job", "workers", env=env)
    assert code == 0, err.decode()
    listed = {w["address"]: w for w in json.loads(out)}
    assert daemons <= set(listed)
    for address in daemons:
        offer = listed[address]
        assert offer["endpoint"].startswith("http://127.0.0.1:")
        assert offer["price_planck_per_fuel"] > 0 and offer["speed_fuel_per_s"] > 0
        assert 0.0 <= offer["quality_score"] <= 1.0 and offer["tier"] == "probation"

    # over budget: refused after discovery, before any channel or message
    over = ["job", "run", str(jobs_dir() / "prime_count.wasm"), "--arg", "1000"]
    over += ["--verify", "majority", "--redundancy", "2", "--state-dir", str(state)]
    code, out, err = await ccnet(*over, "--max-cost", "1planck", env=env)
    assert code == 7 and out == b"", err.decode()
    # 1 planck cannot pay a whole job at any worker's rate: no worker fits the budget
    assert b"no worker's rate fits one job in --max-cost" in err and b"nothing was sent" in err

    # 1: sha256sum of real bytes from a file, by a majority of both daemons
    data = (jobs_dir() / "prime_count.wasm").read_bytes()[:300_000]
    source = tmp_path / "input.bin"
    source.write_bytes(data)
    expected = f"{hashlib.sha256(data).hexdigest()}\n".encode()
    run = ["--json", "job", "run", str(jobs_dir() / "sha256sum.wasm"), "--input", str(source)]
    run += ["--verify", "majority", "--redundancy", "2", "--state-dir", str(state)]
    run += ["--max-cost", "1", "--deposit", "1"]
    code, out, err = await ccnet(*run, env=env)
    assert code == 0, err.decode()
    assert out == expected
    report = json.loads(err)
    assert report["verification"]["status"] == "verified"
    assert sorted(report["verification"]["agreeing"]) == sorted(daemons)
    cost = report["cost_planck"]
    assert cost > 0 and cost == sum(w["paid_planck"] for w in report["workers"])
    assert cost <= report["worst_case_planck"] <= 1 * CC

    listing = ["--json", "channel", "list", "--store", str(state)]
    code, out, err = await ccnet(*listing, env=env)
    assert code == 0, err.decode()
    channels = json.loads(out)  # none were opened by the refused job
    assert len(channels) == 2
    deposits = sum(int(c["params"]["deposit_a"]) for c in channels)
    assert deposits == 2 * CC
    assert deposits - our_balance(channels) == cost

    # 2: prime_count with an argument, on the same channels
    run = ["--json", "job", "run", str(jobs_dir() / "prime_count.wasm"), "--arg", "100000"]
    run += ["--verify", "majority", "--redundancy", "2", "--state-dir", str(state)]
    code, out, err = await ccnet(*run, "--output", str(tmp_path / "count.txt"), env=env)
    assert code == 0, err.decode()
    assert out == b""
    assert (tmp_path / "count.txt").read_bytes() == f"{KNOWN_PRIME_COUNTS[100_000]}\n".encode()
    second_cost = json.loads(err)["cost_planck"]
    assert second_cost > 0
    code, out, err = await ccnet(*listing, env=env)
    assert code == 0, err.decode()
    after = json.loads(out)
    assert {c["params"]["channel_id"] for c in after} == {
        c["params"]["channel_id"] for c in channels
    }
    assert our_balance(channels) - our_balance(after) == second_cost
