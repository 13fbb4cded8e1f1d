"""``ccnet job run`` against a price-gouging worker (a real ``ccnet worker run`` that
announces 10^5 planck per fuel, ranked first as the only worker): with no ``--max-cost``
the default budget (1 CC) caps the rate accepted, so the job is refused before anything
is sent or locked. The requester's free and held balances on chain are exact: only
nothing moved (no channel opened, no fee paid)."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Any

from ccnet.client import CC, Chain, Keys
from ccnet.client.jobs.catalogue import jobs_dir

GOUGING_RATE = 100_000  # planck per fuel: 1,000 CC for the default 10^10 fuel limit


def free_and_held(chain: Chain, who: str) -> tuple[int, int]:
    """(free, held) planck of *who* on chain."""
    account = chain.query("System", "Account", [who])
    assert account is not None
    return int(account["data"]["free"]), int(account["data"]["reserved"])


async def test_a_gouging_worker_is_refused_before_anything_is_locked(
    devchain: str, ccnet_chain: Chain, run_worker: Any, tmp_path: Path
) -> None:
    gouger = await run_worker("--rate", str(GOUGING_RATE))
    bootstrap = f"{gouger.ready['dht_host']}:{gouger.ready['dht_port']}"
    uri = f"//ccnet-job-victim-{os.urandom(6).hex()}"
    me = str(Keys.from_uri(uri).ss58_address)
    await asyncio.to_thread(ccnet_chain.transfer, Keys.from_uri("//Ferdie"), me, 100 * CC)
    env = {
        **os.environ,
        "CCNET_URL": devchain,
        "CCNET_KEYSTORE": str(tmp_path / "keystore"),
        "CCNET_CONFIG": str(tmp_path / "none.toml"),
        "CCNET_KEY": uri,
        "CCNET_DHT_BOOTSTRAP": bootstrap,
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "ccnet.client", "job", "run",
        str(jobs_dir() / "prime_count.wasm"), "--arg", "1000", "--verify", "none",
        "--state-dir", str(tmp_path / "requester"),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 300)
    assert proc.returncode == 7, err.decode()  # over budget
    assert out == b"" and f"the cheapest asks {GOUGING_RATE:,} planck per fuel" in err.decode()
    assert await asyncio.to_thread(free_and_held, ccnet_chain, me) == (100 * CC, 0)
