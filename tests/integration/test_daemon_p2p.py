"""The worker daemon off chain, for real: registered on the dev chain, announced in the
DHT, serving jobs over aiortc data channels with the real sandbox, proving with the real
Groth16 prover, paid through a real payment channel.

The requester side here is written against the contracts only (worker/webrtc.connect,
worker/protocol messages, ccnet.channels), not the requester SDK.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from pathlib import Path

from substrateinterface import Keypair

from ccnet.channels import ChannelParty, SqliteChannelStore
from ccnet.client import CC, Chain
from ccnet.client.jobs.catalogue import module_hash
from ccnet.client.jobs.heartbeat import Heartbeat, HeartbeatVerifier
from ccnet.client.jobs.messages import (
    JobFailed,
    JobRequest,
    JobResult,
    Message,
    ModuleData,
    ModuleNeeded,
    decode,
    decode_heartbeat,
    encode,
)
from ccnet.client.jobs.results import SignedResult, output_hash
from ccnet.client.net.datachannel import DataChannelTransport
from ccnet.client.net.dht import CapabilityDirectory, DhtNode
from ccnet.client.net.webrtc import connect
from ccnet.worker.config import WorkerConfig
from ccnet.worker.daemon import WorkerDaemon
from ccnet.zk import ZkPaths, check_proof
from ccnet.zk.tasks import billing_signals
from ccnet.zk.verifier import FastVerifier

StartDaemon = Callable[..., Awaitable[WorkerDaemon]]


class Jobs:
    """The requester's view of the "tasks" channel: replies, and heartbeats aside."""

    def __init__(self, transport: DataChannelTransport) -> None:
        self.transport = transport
        self.heartbeats: list[Heartbeat] = []

    async def send(self, message: Message) -> None:
        await self.transport.send(encode(message))

    async def reply(self) -> Message:
        while True:
            data = await self.transport.recv(timeout=60)
            beat = decode_heartbeat(data)
            if beat is not None:
                self.heartbeats.append(beat)
                continue
            return decode(data)


async def test_registers_announces_and_serves_jobs(
    devchain: str,
    ccnet_chain: Chain,
    fund_account: Callable[..., Keypair],
    start_daemon: StartDaemon,
    job_wasm: Callable[[str], bytes],
    hostile_modules: dict[str, bytes],
    free_worker_config: WorkerConfig,
) -> None:
    worker, requester = fund_account(100 * CC), fund_account(100 * CC)
    daemon = await start_daemon(worker, devchain, watch_tasks=False, worker=free_worker_config)
    ready = daemon.ready
    address = str(worker.ss58_address)

    info = await asyncio.to_thread(ccnet_chain.tasks.worker, address)
    assert info is not None and info.endpoint == ready.signaling_url.encode()
    assert info.capabilities == (b"wasm",) and ready.registration.action == "registered"
    stake = await asyncio.to_thread(ccnet_chain.credits.active_stake, address)
    assert stake >= await asyncio.to_thread(ccnet_chain.tasks.min_worker_stake)
    assert ready.speed_multiplier > 0 and ready.fuel_per_second > 0

    async with DhtNode(rpc_timeout=2.0) as node:
        await node.start(bootstrap=[(ready.dht_host, ready.dht_port)])
        async with CapabilityDirectory(node) as directory:
            found = [r for r in await directory.find("wasm") if r.worker == address]
    assert len(found) == 1
    record = found[0]
    assert record.endpoint == ready.signaling_url and record.min_speed == ready.fuel_per_second
    assert record.max_price_planck_per_fuel == ready.rate_planck_per_fuel

    session = await connect(ready.signaling_url, requester, address)
    try:
        jobs = Jobs(session.transport("tasks"))
        prime = JobRequest(
            os.urandom(16),
            module_hash=module_hash(job_wasm("prime_count")),
            input=b"",
            args=("1000",),
        )
        await jobs.send(prime)
        reply = await jobs.reply()
        assert isinstance(reply, JobResult) and reply.output == b"168\n"
        result = SignedResult.from_json(reply.result).verify()
        assert result.worker == address and result.output_hash == output_hash(b"168\n")

        wasm = hostile_modules["exit3"]
        custom = JobRequest(os.urandom(16), module_hash=module_hash(wasm), input=b"")
        await jobs.send(custom)
        asked = await jobs.reply()
        assert isinstance(asked, ModuleNeeded) and asked.job_id == custom.job_id
        await jobs.send(ModuleData(custom.job_id, module=wasm))
        failed = await jobs.reply()
        assert isinstance(failed, JobFailed) and failed.code == "exit"
        assert (daemon.config.state_dir / "modules" / f"{module_hash(wasm).hex()}.wasm").is_file()
    finally:
        await session.close()
    # The first heartbeat goes out as the session opens, before any reply.
    beat = HeartbeatVerifier().accept(jobs.heartbeats[0])
    assert beat.worker == address and beat.metrics.speed_milli > 0


async def test_paid_and_proven_job(
    devchain: str,
    ccnet_chain: Chain,
    fund_account: Callable[..., Keypair],
    start_daemon: StartDaemon,
    job_wasm: Callable[[str], bytes],
    zk_paths: ZkPaths,
    zk_fast_verifier: FastVerifier,
    tmp_path: Path,
) -> None:
    worker, requester = fund_account(100 * CC), fund_account(100 * CC)
    daemon = await start_daemon(worker, devchain, watch_tasks=False)
    address = str(worker.ss58_address)
    store = SqliteChannelStore(tmp_path / "requester.db")
    party = ChannelParty(requester, store, chain=ccnet_chain)
    channel = await party.open(address, deposit=5 * CC)
    cid = channel.channel_id
    session = await connect(daemon.ready.signaling_url, requester, address)
    try:
        await party.attach(cid, session.transport("channels"))
        jobs = Jobs(session.transport("tasks"))
        fuel_limit, rate = 10**8, 3
        request = JobRequest(
            os.urandom(16),
            module_hash=module_hash(job_wasm("prime_count")),
            input=b"",
            args=("10000",),
            fuel_limit=fuel_limit,
            rate_planck_per_fuel=rate,
            proof="billing",
            channel_id=cid,
        )
        await jobs.send(request)
        reply = await jobs.reply()
        assert isinstance(reply, JobResult) and reply.output == b"1229\n", reply
        result = SignedResult.from_json(reply.result).verify()
        assert reply.proof is not None
        expected = billing_signals(result.fuel_used, rate, fuel_limit * rate)
        check_proof(
            zk_fast_verifier,
            zk_paths.artifacts("billing").vkey(),
            reply.proof,
            expected,
            circuit="billing",
        )
        price = result.fuel_used * rate
        signed = await party.pay(cid, price, memo="job 1")
        assert signed.co_signed and signed.state.balance_b == price
        assert daemon.payments is not None and daemon.payments.earned(cid) == price
    finally:
        await party.aclose()
        await session.close()
        store.close()
