"""``ccnet worker run`` as its own process: it prints its ready record, serves
jobs over WebRTC (with the documented fault injection lying exactly once, and a proof
that starts the prover's Node helper), and on SIGTERM stops cleanly: exit code 0, a
``stopped`` record, and nothing left of its process group (the Node helper included)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from ccnet.client import CC, Chain, Keys
from ccnet.client.cli import app
from ccnet.client.config import ALLOW_FAULT_INJECTION_ENV, WRONG_RESULT_ONCE
from ccnet.client.devchain import group_alive
from ccnet.client.jobs.catalogue import module_hash
from ccnet.client.jobs.messages import JobRequest, JobResult, decode, decode_heartbeat, encode
from ccnet.client.jobs.results import SignedResult, output_hash
from ccnet.client.net.webrtc import connect
from ccnet.zk import ZkPaths


async def read_json_line(stream: asyncio.StreamReader, timeout: float = 90.0) -> dict[str, Any]:
    while True:
        line = await asyncio.wait_for(stream.readline(), timeout)
        assert line, "the worker closed its stdout"
        if line.startswith(b"{"):
            data: dict[str, Any] = json.loads(line)
            return data


async def test_worker_process_serves_and_stops_cleanly(
    devchain: str,
    ccnet_chain: Chain,
    fund_account: Any,
    job_wasm: Callable[[str], bytes],
    zk_paths: ZkPaths,
    tmp_path: Path,
) -> None:
    uri = f"//ccnet-daemon-cli-{os.urandom(4).hex()}"
    address = str(Keys.from_uri(uri).ss58_address)
    await asyncio.to_thread(ccnet_chain.transfer, fund_account.funder, address, 100 * CC)
    env = {
        **os.environ,
        ALLOW_FAULT_INJECTION_ENV: "1",
        "CCNET_CONFIG": str(tmp_path / "config.toml"),
        "CCNET_KEYSTORE": str(tmp_path / "keystore"),
        "CCNET_WORKER_BENCHMARK_N": "100000",
        "CCNET_WORKER_BENCHMARK_ROUNDS": "1",
    }
    command = [sys.executable, "-m", "ccnet.client", "--url", devchain, "worker", "run"]
    command += ["--key", uri, "--state-dir", str(tmp_path / "worker"), "--no-tasks"]
    command += ["--json-log", "--fault-injection", WRONG_RESULT_ONCE, "--free-jobs"]
    proc = await asyncio.create_subprocess_exec(
        *command,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
        start_new_session=True,
    )
    assert proc.stdout is not None and proc.stderr is not None
    stderr = asyncio.ensure_future(proc.stderr.read())
    try:
        ready = await read_json_line(proc.stdout)
        assert ready["event"] == "ready" and ready["address"] == address
        assert ready["fault_injection"] == WRONG_RESULT_ONCE

        status = CliRunner().invoke(
            app, ["--url", devchain, "--json", "worker", "status", "--key", uri]
        )
        assert status.exit_code == 0, status.output
        standing = json.loads(status.stdout)
        assert standing["registered"] and standing["endpoint"] == ready["signaling_url"]
        assert standing["stake"]["active"] >= standing["min_worker_stake"]

        requester = Keys.from_uri("//Alice")
        session = await connect(ready["signaling_url"], requester, address)
        try:
            tasks = session.transport("tasks")
            prime = module_hash(job_wasm("prime_count"))
            outputs = []
            for proof in ("poseidon_commit", None):
                request = JobRequest(os.urandom(16), prime, b"", ("100",), proof=proof)
                await tasks.send(encode(request))
                while True:
                    data = await tasks.recv(timeout=90)
                    if decode_heartbeat(data) is None:
                        break
                reply = decode(data)
                assert isinstance(reply, JobResult), reply
                result = SignedResult.from_json(reply.result).verify()
                assert result.output_hash == output_hash(reply.output)
                assert (reply.proof is not None) == (proof is not None)
                outputs.append(reply.output)
        finally:
            await session.close()
        assert outputs[0] != b"25\n" and outputs[1] == b"25\n"  # one lie, then the truth
    finally:
        if proc.returncode is None:
            os.kill(proc.pid, signal.SIGTERM)
        code = await asyncio.wait_for(proc.wait(), 60)
        errors = (await stderr).decode()
        # Not left registered: later dispute tests draw verifiers among all workers.
        fund_account.keys[address] = Keys.from_uri(uri)
        if ccnet_chain.tasks.worker(address) is not None:
            await asyncio.to_thread(ccnet_chain.tasks.deregister_worker, Keys.from_uri(uri))
    assert code == 0, errors
    stopped = await read_json_line(proc.stdout)
    assert stopped["event"] == "stopped" and stopped["jobs_completed"] == 2
    assert stopped["sessions"] == 1
    assert not group_alive(proc.pid), "processes of the worker's group outlived it"
    logs = [json.loads(line) for line in errors.splitlines() if line.startswith("{")]
    assert logs and all({"ts", "level", "logger", "message"} <= set(entry) for entry in logs)
    assert any("FAULT INJECTION ENABLED" in entry["message"] for entry in logs)
