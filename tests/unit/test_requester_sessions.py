"""The requester's job sessions over in-memory transports: routing by job id, serving
modules on demand, heartbeats, broken sessions, and the pool that reuses them."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, cast

import pytest
from substrateinterface import Keypair, KeypairType

from ccnet.client.jobs.heartbeat import Heartbeat, HeartbeatMetrics
from ccnet.client.jobs.messages import (
    JobFailed,
    JobRequest,
    JobResult,
    ModuleData,
    ModuleNeeded,
    decode,
    encode,
    encode_heartbeat,
)
from ccnet.client.net.exceptions import TransportClosedError
from ccnet.client.net.webrtc import PeerSession
from ccnet.client.requester.sessions import SessionPool, WorkerSession

if TYPE_CHECKING:  # mypy sees the checkout's tests package; pytest puts tests/ on sys.path
    from tests.fixtures.requester import FakePeer
else:
    from fixtures.requester import FakePeer

WORKER = Keypair.create_from_uri("//Bob", ss58_format=42, crypto_type=KeypairType.SR25519)
OTHER = Keypair.create_from_uri("//Eve", ss58_format=42, crypto_type=KeypairType.SR25519)
MODULE = b"\0asm" + b"\x01" * 12


def request(job: int, module: bytes = MODULE) -> JobRequest:
    return JobRequest(job_id=bytes([job]) * 16, module_hash=b"\x07" * 32, input=b"in", task_id=job)


def session_of(peer: FakePeer, beats: list[Heartbeat] | None = None) -> WorkerSession:
    handler = beats.append if beats is not None else None
    return WorkerSession(cast(PeerSession, peer), on_heartbeat=handler)


async def test_module_is_served_on_demand_and_heartbeats_are_routed() -> None:
    peer = FakePeer(str(WORKER.ss58_address))
    beats: list[Heartbeat] = []
    session = session_of(peer, beats)

    async def worker() -> None:
        req = decode(await peer.worker_end.recv())
        assert isinstance(req, JobRequest)
        await peer.worker_end.send(encode(ModuleNeeded(req.job_id, req.module_hash)))
        data = decode(await peer.worker_end.recv())
        assert isinstance(data, ModuleData) and data.module == MODULE
        mine = Heartbeat.create(WORKER, HeartbeatMetrics(speed_milli=1500))
        relayed = Heartbeat.create(OTHER, HeartbeatMetrics())
        for beat in (mine, relayed):
            await peer.worker_end.send(encode_heartbeat(beat))
        await peer.worker_end.send(b"not json at all")
        await peer.worker_end.send(encode(JobResult(req.job_id, b"out", {"x": 1})))

    task = asyncio.create_task(worker())
    exchange = await session.run_job(request(1), MODULE, timeout=5)
    await task
    assert isinstance(exchange.reply, JobResult) and exchange.reply.output == b"out"
    assert exchange.module_sent and exchange.module_rtt_ms is not None
    assert [b.worker for b in beats] == [WORKER.ss58_address]  # the relayed one is dropped
    assert session.in_flight == 0
    await session.close()
    assert peer.closed and not session.is_open


async def test_concurrent_jobs_are_matched_by_job_id() -> None:
    peer = FakePeer(str(WORKER.ss58_address))
    session = session_of(peer)

    async def worker() -> None:
        first = decode(await peer.worker_end.recv())
        second = decode(await peer.worker_end.recv())
        await peer.worker_end.send(encode(JobFailed(second.job_id, "trap", "boom", 12)))
        await peer.worker_end.send(encode(JobResult(first.job_id, b"one")))

    task = asyncio.create_task(worker())
    one, two = await asyncio.gather(
        session.run_job(request(1), MODULE, timeout=5),
        session.run_job(request(2), MODULE, timeout=5),
    )
    await task
    assert isinstance(one.reply, JobResult) and one.reply.output == b"one"
    assert isinstance(two.reply, JobFailed) and two.reply.fuel_used == 12
    assert not one.module_sent
    await session.close()


async def test_a_broken_session_fails_waiting_jobs_and_later_ones() -> None:
    peer = FakePeer(str(WORKER.ss58_address))
    session = session_of(peer)
    job = asyncio.create_task(session.run_job(request(1), MODULE, timeout=5))
    await asyncio.sleep(0)
    await peer.worker_end.close()
    with pytest.raises(TransportClosedError):
        await job
    assert not session.is_open
    with pytest.raises(TransportClosedError):
        await session.run_job(request(2), MODULE, timeout=5)
    await session.close()


async def test_no_reply_times_out() -> None:
    peer = FakePeer(str(WORKER.ss58_address))
    session = session_of(peer)
    with pytest.raises(TimeoutError):
        await session.run_job(request(1), MODULE, timeout=0.05)
    assert session.in_flight == 0 and session.is_open
    await session.close()


async def test_a_worker_that_stops_reading_cannot_hold_the_send_forever() -> None:
    # A data channel's send waits for its buffer to drain; a worker that keeps the
    # connection but never reads must still run into the job's timeout.
    peer = FakePeer(str(WORKER.ss58_address))
    stalled = asyncio.Event()

    async def never_drains(data: bytes) -> None:
        await stalled.wait()

    peer.tasks.send = never_drains  # type: ignore[method-assign]
    session = session_of(peer)
    job = asyncio.create_task(session.run_job(request(1), MODULE, timeout=0.05))
    done, _ = await asyncio.wait({job}, timeout=5)
    job.cancel()
    assert job in done, "the send held the job past its timeout"
    with pytest.raises(TimeoutError):
        job.result()
    assert session.in_flight == 0
    await session.close()


async def test_pool_reuses_open_sessions_and_redials_broken_ones() -> None:
    dialled: list[FakePeer] = []
    opened: list[WorkerSession] = []

    async def connector(endpoint: str, worker: str) -> PeerSession:
        peer = FakePeer(worker)
        dialled.append(peer)
        return cast(PeerSession, peer)

    async def on_open(session: WorkerSession) -> None:
        opened.append(session)

    pool = SessionPool(WORKER, connector=connector, on_open=on_open)
    address = str(OTHER.ss58_address)
    first, again = await asyncio.gather(
        pool.get(address, "http://x"), pool.get(address, "http://x")
    )
    assert first is again and len(dialled) == 1 and opened == [first]
    await dialled[0].worker_end.close()  # the worker went away
    await asyncio.sleep(0)
    fresh = await pool.get(address, "http://x")
    assert fresh is not first and len(dialled) == 2 and pool.connects == 2
    await pool.drop(address)
    assert pool.session(address) is None
    await pool.close()
    assert all(p.closed for p in dialled)


async def test_pool_closes_a_session_whose_setup_failed() -> None:
    peers: list[Any] = []

    async def connector(endpoint: str, worker: str) -> PeerSession:
        peers.append(FakePeer(worker))
        return cast(PeerSession, peers[-1])

    async def on_open(session: WorkerSession) -> None:
        raise RuntimeError("no channel")

    pool = SessionPool(WORKER, connector=connector, on_open=on_open)
    with pytest.raises(RuntimeError):
        await pool.get(str(OTHER.ss58_address), "http://x")
    assert peers[0].closed and pool.session(str(OTHER.ss58_address)) is None
    await pool.close()
