"""One DHT per chain: ``ccnet worker run`` and ``ccnet job workers`` started without
``--dht-bootstrap`` join through the workers registered on the session dev chain (their
endpoints name their DHT port as ``?dht=PORT``, ``docs/protocol.md`` section 4)."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

from ccnet.client import Chain
from ccnet.client.net.bootstrap import dht_address_of


async def ccnet(*args: str, env: dict[str, str]) -> tuple[int, bytes, bytes]:
    """Run ``python -m ccnet.client ARGS``: (exit code, stdout, stderr)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "ccnet.client",
        *args,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 300)
    assert proc.returncode is not None
    return proc.returncode, out, err


async def test_a_worker_and_a_requester_without_bootstrap_join_the_registered_workers(
    devchain: str, ccnet_chain: Chain, run_worker: Any, tmp_path: Path
) -> None:
    first = await run_worker()
    dht = (first.ready["dht_host"], first.ready["dht_port"])
    assert dht_address_of(first.signaling_url) == dht
    info = await asyncio.to_thread(ccnet_chain.tasks.worker, first.address)
    assert info is not None and info.endpoint.decode() == first.signaling_url
    second = await run_worker()  # no --dht-bootstrap: joins through the first
    assert dht_address_of(second.signaling_url) == (
        second.ready["dht_host"],
        second.ready["dht_port"],
    )
    env = {k: v for k, v in os.environ.items() if k != "CCNET_DHT_BOOTSTRAP"}
    env |= {"CCNET_URL": devchain, "CCNET_CONFIG": str(tmp_path / "none.toml")}

    # the second worker's record is in the first one's network: they are one network
    code, out, err = await ccnet(
        "--json", "job", "workers", "--dht-bootstrap", f"{dht[0]}:{dht[1]}", env=env
    )
    assert code == 0, err.decode()
    assert second.address in {w["address"] for w in json.loads(out)}
    # and a requester without bootstrap nodes joins it through the chain
    code, out, err = await ccnet("--json", "job", "workers", env=env)
    assert code == 0, err.decode()
    listed = {w["address"]: w for w in json.loads(out)}
    assert {first.address, second.address} <= set(listed)
    assert listed[second.address]["endpoint"] == second.signaling_url
