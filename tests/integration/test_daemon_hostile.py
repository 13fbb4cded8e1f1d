"""Hostile input, end to end at a real worker daemon: registered on the dev
chain, serving over real aiortc data channels with the real sandbox.

Every hostile module (endless loops, memory and table bombs, deep recursion, output
floods, file and socket calls, unknown imports, malformed bytes) and every bad message
(over the transport cap, not JSON, of the wrong shape, a forged result, unframed
garbage) ends in a clear error for the requester (``JobFailed`` with a wire code, or the
session closed), the worker earns nothing from its payment channel for them, and it goes
on serving: the next job on the same session (or on a new one) succeeds. A requester
that leaves while its job runs does not stop the worker either.

The daemon runs with small caps so that the floods stay cheap: data-channel messages of
at most 1 MiB (:data:`TRANSPORT_CAP`), stdout of at most 4 MiB. The requester side is
written against the contracts only (worker/webrtc.connect, worker/protocol messages).
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest
from substrateinterface import Keypair

from ccnet.channels import ChannelParty, SqliteChannelStore
from ccnet.client import CC, Chain
from ccnet.client.jobs.catalogue import module_hash
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
from ccnet.client.jobs.results import SignedResult, input_hash
from ccnet.client.net.datachannel import DataChannelTransport
from ccnet.client.net.exceptions import TransportClosedError
from ccnet.client.net.webrtc import PeerConfig, PeerSession, connect
from ccnet.worker.config import WorkerConfig
from ccnet.worker.daemon import WorkerDaemon
from ccnet.worker.jobhandler import UNDECODABLE_JOB_ID

StartDaemon = Callable[..., Awaitable[WorkerDaemon]]
JobLoader = Callable[[str], bytes]
WaitUntil = Callable[..., Awaitable[None]]

MiB = 1 << 20
TRANSPORT_CAP = 1 * MiB
"""The daemon's data-channel message cap in these tests, bytes."""
STDOUT_CAP = 4 * MiB
"""The daemon's sandbox stdout cap in these tests, bytes."""
REPLY_TIMEOUT = 60.0
"""Bound on one reply, s (a failure bound, not a timing assertion)."""


class Jobs:
    """The requester's view of the "tasks" channel: replies, heartbeats aside."""

    def __init__(self, transport: DataChannelTransport) -> None:
        self.transport = transport
        self.heartbeats = 0

    async def send(self, message: Message) -> None:
        await self.transport.send(encode(message))

    async def reply(self) -> Message:
        async with asyncio.timeout(REPLY_TIMEOUT):  # heartbeats do not extend it
            while True:
                data = await self.transport.recv()
                if decode_heartbeat(data) is not None:
                    self.heartbeats += 1
                    continue
                return decode(data)

    async def failed(self, job_id: bytes) -> JobFailed:
        reply = await self.reply()
        assert isinstance(reply, JobFailed), reply
        assert reply.job_id == job_id, (reply.job_id.hex(), job_id.hex())
        assert reply.message, "a failure must say what went wrong"
        return reply

    async def prime_count(self, job_wasm: JobLoader, channel_id: bytes | None = None) -> JobResult:
        """Run ``prime_count 1000``; assert the signed answer 168."""
        request = JobRequest(
            os.urandom(16),
            module_hash=module_hash(job_wasm("prime_count")),
            input=b"",
            args=("1000",),
            channel_id=channel_id,
        )
        await self.send(request)
        reply = await self.reply()
        assert isinstance(reply, JobResult) and reply.job_id == request.job_id, reply
        assert reply.output == b"168\n"
        SignedResult.from_json(reply.result).verify()
        return reply


@dataclass(frozen=True)
class Hostile:
    """One hostile job: the module (a fixtures/worker.py name, or raw bytes), request
    fields, and the wire code (and a word of the message) the requester must get."""

    module: str | bytes
    code: str
    says: str
    request: dict[str, Any] = field(default_factory=dict)
    hash_of: bytes | None = None
    """Claim this module hash instead of the bytes' own."""


HOSTILE = {
    "endless loop (fuel)": Hostile("loop", "out-of-fuel", "fuel", {"fuel_limit": 10**8}),
    "endless loop (deadline)": Hostile("loop", "deadline", "deadline", {"timeout_ms": 300}),
    "memory bomb": Hostile("memory_bomb", "memory-limit", "memory", {"memory_bytes": 16 * MiB}),
    "huge memory minimum": Hostile("huge_minimum", "memory-limit", "memory"),
    "table bomb": Hostile("table_bomb", "trap", "unreachable"),
    "endless table growth": Hostile("table_spin", "out-of-fuel", "fuel", {"fuel_limit": 10**7}),
    "huge table minimum": Hostile("table_huge_minimum", "invalid-module", "table"),
    "recursion": Hostile("recursion", "trap", "trapped"),
    "stdout flood": Hostile("stdout_bomb", "output-limit", "stdout"),
    "stderr flood": Hostile("stderr_bomb", "output-limit", "stderr"),
    "output over the transport cap": Hostile("big_output", "output-limit", "bytes"),
    "file escape": Hostile("fs_escape", "exit", "code 8"),
    "socket escape": Hostile("socket_escape", "exit", "code 8"),
    "unknown import": Hostile("unknown_import", "invalid-module", "instantiate"),
    "no _start": Hostile("no_start", "invalid-module", "_start"),
    "undecodable module": Hostile(b"\0asm\x01\0\0\0\x01\xff\xff", "invalid-module", "compile"),
    "not Wasm": Hostile(b"MZ\x90\0 not a module", "malformed", "Wasm"),
    "bytes not matching the hash": Hostile("exit3", "malformed", "hash", hash_of=bytes(32)),
}


@pytest.fixture
def hostile_worker_config(quick_worker_config: WorkerConfig) -> WorkerConfig:
    """The quick worker settings with a 4 MiB stdout cap, offering free jobs (the
    malformed-message tests send unpaid requests)."""
    sandbox = replace(quick_worker_config.sandbox, stdout_limit_bytes=STDOUT_CAP)
    return replace(quick_worker_config, sandbox=sandbox, free_jobs=True)


async def start_hostile_daemon(
    start_daemon: StartDaemon, worker: Keypair, url: str, config: WorkerConfig
) -> WorkerDaemon:
    return await start_daemon(
        worker,
        url,
        worker=config,
        watch_tasks=False,
        verify_disputes=False,
        proofs=False,
        peer=PeerConfig(max_message_size=TRANSPORT_CAP),
    )


async def test_hostile_modules_fail_clearly_unpaid_and_the_session_goes_on(
    devchain: str,
    ccnet_chain: Chain,
    fund_account: Callable[..., Keypair],
    start_daemon: StartDaemon,
    hostile_worker_config: WorkerConfig,
    job_wasm: JobLoader,
    hostile_modules: dict[str, bytes],
    tmp_path: Path,
) -> None:
    worker, requester = fund_account(100 * CC), fund_account(100 * CC)
    daemon = await start_hostile_daemon(start_daemon, worker, devchain, hostile_worker_config)
    address = str(worker.ss58_address)
    store = SqliteChannelStore(tmp_path / "requester.db")
    party = ChannelParty(requester, store, chain=ccnet_chain)
    channel = await party.open(address, deposit=5 * CC)
    cid = channel.channel_id
    session = await connect(daemon.ready.signaling_url, requester, address)
    try:
        await party.attach(cid, session.transport("channels"))
        jobs = Jobs(session.transport("tasks"))
        for name, case in HOSTILE.items():
            wasm = hostile_modules[case.module] if isinstance(case.module, str) else case.module
            digest = case.hash_of if case.hash_of is not None else module_hash(wasm)
            request = JobRequest(
                os.urandom(16),
                module_hash=digest,
                input=b"",
                module=wasm,
                channel_id=cid,
                **case.request,
            )
            await jobs.send(request)
            failed = await jobs.failed(request.job_id)
            assert (failed.code, case.says in failed.message) == (case.code, True), (name, failed)
            if case.code == "out-of-fuel":
                assert failed.fuel_used == case.request["fuel_limit"], name
        # A failed job earns the worker nothing: the channel never moved.
        assert daemon.payments is not None and daemon.payments.earned(cid) == 0
        assert party.channel(cid).latest.state.version == 0
        # The same session, a normal job: answered, signed, paid once.
        reply = await jobs.prime_count(job_wasm, cid)
        price = SignedResult.from_json(reply.result).fuel_used
        signed = await party.pay(cid, price, memo="the only good job")
        assert signed.co_signed and daemon.payments.earned(cid) == price
    finally:
        await party.aclose()
        await session.close()
        store.close()


def forged_result(job_wasm: JobLoader) -> JobResult:
    """A job_result message carrying a result signed by //Eve with a flipped bit."""
    signed = SignedResult.create(
        Keypair.create_from_uri("//Eve"),
        task_id=1,
        module_hash=module_hash(job_wasm("prime_count")),
        input_hash=input_hash(("1000",), b""),
        output_hash=bytes(32),
        fuel_used=1,
    ).to_json()
    signature = bytearray(bytes.fromhex(signed["signature"][2:]))
    signature[0] ^= 1
    signed["signature"] = "0x" + signature.hex()
    return JobResult(os.urandom(16), output=b"168\n", result=signed)


async def test_bad_messages_are_answered_and_garbage_ends_only_that_session(
    devchain: str,
    fund_account: Callable[..., Keypair],
    start_daemon: StartDaemon,
    hostile_worker_config: WorkerConfig,
    job_wasm: JobLoader,
    wait_until: WaitUntil,
) -> None:
    worker, requester = fund_account(100 * CC), fund_account(100 * CC)
    daemon = await start_hostile_daemon(start_daemon, worker, devchain, hostile_worker_config)
    address = str(worker.ss58_address)
    prime = module_hash(job_wasm("prime_count"))
    session = await connect(daemon.ready.signaling_url, requester, address)
    try:
        jobs = Jobs(session.transport("tasks"))
        # Over the worker's transport cap (the requester's own cap is 16 MiB).
        for oversize in (
            b"x" * (TRANSPORT_CAP + 1),
            encode(JobRequest(os.urandom(16), prime, os.urandom(TRANSPORT_CAP))),
        ):
            await jobs.transport.send(oversize)
            failed = await jobs.failed(UNDECODABLE_JOB_ID)
            assert failed.code == "malformed" and "cap" in failed.message
        # Not a job message at all.
        undecodable = [
            b"{not json",
            b"\xff\xfe\x00garbage",
            b"[]",
            b'{"type": "nope"}',
            b'{"type": "job_request"}',
            json.dumps({"type": "heartbeat", "heartbeat": {}}).encode(),
            json.dumps(
                {
                    "type": "job_request",
                    "job_id": "zz" * 16,
                    "module_hash": prime.hex(),
                    "input": "",
                }
            ).encode(),
            json.dumps(
                {
                    "type": "job_request",
                    "job_id": "00" * 16,
                    "module_hash": prime.hex(),
                    "input": "",
                    "fuel_limit": -1,
                }
            ).encode(),
        ]
        for data in undecodable:
            await jobs.transport.send(data)
            failed = await jobs.failed(UNDECODABLE_JOB_ID)
            assert failed.code == "malformed", (data[:40], failed)
        # Well-formed messages a worker does not take, or cannot use.
        forged = forged_result(job_wasm)
        await jobs.send(forged)
        assert (await jobs.failed(forged.job_id)).code == "malformed"
        stray = ModuleData(os.urandom(16), module=b"\0asm\x01\0\0\0")
        await jobs.send(stray)
        assert (await jobs.failed(stray.job_id)).code == "malformed"
        cheap = JobRequest(os.urandom(16), prime, b"", ("1000",), rate_planck_per_fuel=0)
        await jobs.send(cheap)
        assert (await jobs.failed(cheap.job_id)).code == "unsupported"
        no_proofs = JobRequest(os.urandom(16), prime, b"", ("1000",), proof="billing")
        await jobs.send(no_proofs)
        assert (await jobs.failed(no_proofs.job_id)).code == "unsupported"
        unknown = JobRequest(os.urandom(16), module_hash=os.urandom(32), input=b"")
        await jobs.send(unknown)
        asked = await jobs.reply()
        assert isinstance(asked, ModuleNeeded) and asked.job_id == unknown.job_id
        await jobs.send(ModuleData(unknown.job_id, module=b"\0asm\x01\0\0\0"))
        assert (await jobs.failed(unknown.job_id)).code == "malformed"  # not that hash
        # After all of it, the session still serves.
        await jobs.prime_count(job_wasm)
        assert jobs.heartbeats >= 1

        # Bytes that are not even frames: the worker ends this session...
        jobs.transport._send_raw(b"\xff" * 64)  # bypasses the framing on purpose
        with pytest.raises(TransportClosedError):
            while True:
                await jobs.reply()
    finally:
        await session.close()
    assert daemon.listener is not None
    await wait_until(lambda: daemon.listener.sessions == 0, "the broken session to end")
    # ... and serves the next one.
    async with await connect(daemon.ready.signaling_url, requester, address) as again:
        await Jobs(again.transport("tasks")).prime_count(job_wasm)


async def test_a_requester_leaving_mid_job_does_not_stop_the_worker(
    devchain: str,
    fund_account: Callable[..., Keypair],
    start_daemon: StartDaemon,
    hostile_worker_config: WorkerConfig,
    job_wasm: JobLoader,
    hostile_modules: dict[str, bytes],
    wait_until: WaitUntil,
) -> None:
    worker, requester = fund_account(100 * CC), fund_account(100 * CC)
    daemon = await start_hostile_daemon(start_daemon, worker, devchain, hostile_worker_config)
    address = str(worker.ss58_address)
    executor = daemon.executor
    assert executor is not None and daemon.listener is not None
    started = executor.completed + executor.failed

    leaving: PeerSession = await connect(daemon.ready.signaling_url, requester, address)
    long_job = JobRequest(
        os.urandom(16),
        module_hash=module_hash(hostile_modules["loop"]),
        input=b"",
        module=hostile_modules["loop"],
        timeout_ms=20_000,
    )
    await Jobs(leaving.transport("tasks")).send(long_job)
    await wait_until(lambda: executor.running == 1, "the long job to start")
    await leaving.close()
    await wait_until(lambda: daemon.listener.sessions == 0, "the left session to end")

    # A new session (the same requester) is served while the abandoned run winds down.
    async with await connect(daemon.ready.signaling_url, requester, address) as session:
        jobs = Jobs(session.transport("tasks"))
        await jobs.prime_count(job_wasm)
        await jobs.prime_count(job_wasm)
    assert executor.completed + executor.failed >= started + 2
