"""The worker daemon on chain, for real: it claims and answers Wasm tasks (also after a
restart), and, as a selected verifier, re-executes a disputed task and votes, with no
person involved. The demo's setting: three daemons with their own keys, one of them
started with fault injection, whose wrong result is disputed and slashed.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import Awaitable, Callable

import pytest
import wasmtime
from substrateinterface import Keypair

from ccnet.client import CC, Chain, ChainEvent, Keys
from ccnet.client.config import ALLOW_FAULT_INJECTION_ENV, WRONG_ONCHAIN_RESULT_ONCE
from ccnet.client.jobs.catalogue import module_hash
from ccnet.client.jobs.jobspec import JobSpec
from ccnet.client.jobs.messages import JobRequest, JobResult, decode, decode_heartbeat, encode
from ccnet.client.jobs.results import output_hash
from ccnet.client.net.dht import CapabilityDirectory, DhtNode
from ccnet.client.net.webrtc import connect
from ccnet.storage import ArweaveGateway, ArweaveWallet
from ccnet.worker.config import WorkerConfig
from ccnet.worker.daemon import WorkerDaemon

StartDaemon = Callable[..., Awaitable[WorkerDaemon]]
WaitUntil = Callable[..., Awaitable[None]]
EventsSince = Callable[[Chain, int, str, str], list[ChainEvent]]


def prime_spec(job_wasm: Callable[[str], bytes], n: int) -> bytes:
    return JobSpec.inline(module_hash(job_wasm("prime_count")), b"", (str(n),)).encode()


async def post(chain: Chain, requester: Keypair, spec: bytes, redundancy: int = 1) -> int:
    deadline = await asyncio.to_thread(chain.block_number) + 200
    return await asyncio.to_thread(
        chain.tasks.post, requester, b"wasm", spec, b"prime count", CC, deadline, redundancy
    )


async def result_of(chain: Chain, task_id: int, worker: str) -> str | None:
    assignment = await asyncio.to_thread(chain.tasks.assignment, task_id, worker)
    return None if assignment is None else assignment.result_hash


async def test_claims_and_answers_tasks_also_after_a_restart(
    devchain: str,
    ccnet_chain: Chain,
    fund_account: Callable[..., Keypair],
    start_daemon: StartDaemon,
    job_wasm: Callable[[str], bytes],
    wait_until: WaitUntil,
) -> None:
    worker, requester = fund_account(100 * CC), fund_account(100 * CC)
    address = str(worker.ss58_address)
    mine = frozenset({str(requester.ss58_address)})
    daemon = await start_daemon(worker, devchain, requesters=mine, verify_disputes=False)
    assert daemon.tasks is not None

    first = await post(ccnet_chain, requester, prime_spec(job_wasm, 1000))
    await wait_until(lambda: first in daemon.tasks.submitted, f"the answer to task {first}")
    assert await result_of(ccnet_chain, first, address) == "0x" + output_hash(b"168\n").hex()
    assert (daemon.config.state_dir / "outputs" / f"{first}.out").read_bytes() == b"168\n"
    not_mine = await post(ccnet_chain, fund_account(10 * CC), prime_spec(job_wasm, 10))
    await daemon.stop()

    # While it is down: a new task, and one it claimed but never answered (a crash).
    later = await post(ccnet_chain, requester, prime_spec(job_wasm, 100))
    claimed = await post(ccnet_chain, requester, prime_spec(job_wasm, 10))
    await asyncio.to_thread(ccnet_chain.tasks.claim, worker, claimed)

    again = await start_daemon(
        worker, devchain, requesters=mine, verify_disputes=False, state_dir=daemon.config.state_dir
    )
    assert again.ready.registration.action == "updated"  # a new signaling port
    assert again.tasks is not None
    await wait_until(
        lambda: {later, claimed} <= set(again.tasks.submitted), "the answers after the restart"
    )
    assert again.onchain is not None
    await again.onchain.idle()
    assert set(again.tasks.submitted) == {later, claimed} and again.tasks.errors == 0
    assert await result_of(ccnet_chain, later, address) == "0x" + output_hash(b"25\n").hex()
    assert await result_of(ccnet_chain, claimed, address) == "0x" + output_hash(b"4\n").hex()
    assert await result_of(ccnet_chain, not_mine, address) is None


async def test_inputs_and_modules_from_arweave(
    devchain: str,
    ccnet_chain: Chain,
    fund_account: Callable[..., Keypair],
    start_daemon: StartDaemon,
    job_wasm: Callable[[str], bytes],
    wait_until: WaitUntil,
    arlocal: str,
    gateway: ArweaveGateway,
    arweave_wallet: ArweaveWallet,
) -> None:
    """Large inputs live on Arweave (``ar:<tx id>``, checked against ``input_hash``), and
    a module a worker does not know comes from ``module_ar`` (checked against its hash).
    A gateway answer that does not match the spec's hash is not run nor submitted."""

    def upload(data: bytes) -> str:
        tx, chunks = gateway.create_transaction(arweave_wallet, data, {"App-Name": "ccnet"})
        gateway.upload(tx, data, chunks)
        gateway.wait_for(tx.id)
        return tx.id

    worker, requester = fund_account(100 * CC), fund_account(100 * CC)
    address = str(worker.ss58_address)
    stdin = os.urandom(300_000)
    input_tx = await asyncio.to_thread(upload, stdin)
    module = bytes(
        wasmtime.wat2wasm(
            """(module
          (import "wasi_snapshot_preview1" "fd_write"
            (func $w (param i32 i32 i32 i32) (result i32)))
          (memory (export "memory") 1)
          (data (i32.const 0) "\\10\\00\\00\\00\\03\\00\\00\\00")
          (data (i32.const 16) "ok\\n")
          (func (export "_start")
            (drop (call $w (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))"""
        )
    )
    module_tx = await asyncio.to_thread(upload, module)
    sha = module_hash(job_wasm("sha256sum"))
    digest = hashlib.blake2b(stdin, digest_size=32).digest()
    daemon = await start_daemon(
        worker,
        devchain,
        requesters=frozenset({str(requester.ss58_address)}),
        verify_disputes=False,
        arweave_url=arlocal,
    )
    assert daemon.tasks is not None
    big = await post(
        ccnet_chain,
        requester,
        JobSpec(sha, input_inline=None, input_ar=input_tx, input_hash=digest).encode(),
    )
    fetched = await post(
        ccnet_chain, requester, JobSpec(module_hash(module), module_ar=module_tx).encode()
    )
    lied = await post(
        ccnet_chain,
        requester,
        JobSpec(sha, input_inline=None, input_ar=input_tx, input_hash=bytes(32)).encode(),
    )
    await wait_until(
        lambda: {big, fetched} <= set(daemon.tasks.submitted), "the answers to the Arweave tasks"
    )
    assert daemon.onchain is not None
    await daemon.onchain.idle()
    line = hashlib.sha256(stdin).hexdigest().encode() + b"\n"
    assert await result_of(ccnet_chain, big, address) == "0x" + output_hash(line).hex()
    assert await result_of(ccnet_chain, fetched, address) == "0x" + output_hash(b"ok\n").hex()
    assert lied not in daemon.tasks.submitted and daemon.tasks.errors == 0
    # The gateway's bytes do not match the spec: the task was not even claimed.
    assert await asyncio.to_thread(ccnet_chain.tasks.assignment, lied, address) is None


async def test_three_daemons_catch_an_injected_wrong_result(
    private_chain: str,
    start_daemon: StartDaemon,
    job_wasm: Callable[[str], bytes],
    monkeypatch: pytest.MonkeyPatch,
    wait_until: WaitUntil,
    events_since: EventsSince,
    free_worker_config: WorkerConfig,
) -> None:
    """The demo's setting: three workers with their own keys register, stake and announce; one of
    them lies once on chain (fault injection; its off-chain results stay honest). A
    requester posts a task for all three, sees the disagreement and disputes the odd
    result; the two others are selected as verifiers, re-execute and vote on their
    own, and the liar is slashed."""
    monkeypatch.setenv(ALLOW_FAULT_INJECTION_ENV, "1")
    with Chain(private_chain) as chain:
        ferdie = Keys.from_uri("//Ferdie")
        keys = [Keys.generate()[0] for _ in range(4)]
        for key in keys:
            await asyncio.to_thread(chain.transfer, ferdie, str(key.ss58_address), 1000 * CC)
        *workers, requester = keys
        honest_a = await start_daemon(workers[0], private_chain)
        bootstrap = ((honest_a.ready.dht_host, honest_a.ready.dht_port),)
        honest_b = await start_daemon(workers[1], private_chain, dht_bootstrap=bootstrap)
        liar = await start_daemon(
            workers[2],
            private_chain,
            dht_bootstrap=bootstrap,
            fault_injection=WRONG_ONCHAIN_RESULT_ONCE,
            worker=free_worker_config,  # it serves one unpaid job below
        )
        daemons = (honest_a, honest_b, liar)
        assert liar.ready.fault_injection == WRONG_ONCHAIN_RESULT_ONCE
        registered = set(await asyncio.to_thread(chain.tasks.worker_list))
        assert registered == {d.address for d in daemons}

        async with DhtNode(rpc_timeout=2.0) as node:
            await node.start(bootstrap=bootstrap)
            async with CapabilityDirectory(node) as directory:
                announced = {r.worker for r in await directory.find("wasm")}
        assert announced == {d.address for d in daemons}

        # Its off-chain results stay honest: the fault mode lies on chain only.
        session = await connect(liar.ready.signaling_url, requester, liar.address)
        try:
            tasks = session.transport("tasks")
            prime = module_hash(job_wasm("prime_count"))
            await tasks.send(encode(JobRequest(os.urandom(16), prime, b"", ("10000",))))
            while decode_heartbeat(data := await tasks.recv(timeout=60)) is not None:
                pass
            reply = decode(data)
            assert isinstance(reply, JobResult) and reply.output == b"1229\n"
        finally:
            await session.close()

        start = await asyncio.to_thread(chain.block_number)
        task_id = await post(chain, requester, prime_spec(job_wasm, 10_000), redundancy=3)
        for d in daemons:
            assert d.tasks is not None
            await wait_until(lambda d=d: task_id in d.tasks.submitted, f"{d.address}'s result")
        right = "0x" + output_hash(b"1229\n").hex()
        results = {d.address: await result_of(chain, task_id, d.address) for d in daemons}
        assert results[honest_a.address] == results[honest_b.address] == right
        assert results[liar.address] not in (None, right)
        assert liar.tasks is not None and liar.tasks.submitted[task_id].corrupted

        receipt = await asyncio.to_thread(
            chain.disputes.challenge, requester, task_id, liar.address
        )
        opened = receipt.expect("Disputes", "DisputeOpened").attributes
        dispute_id = int(opened["dispute_id"])
        assert set(opened["verifiers"]) == {honest_a.address, honest_b.address}

        for d in (honest_a, honest_b):
            assert d.disputes is not None
            await wait_until(lambda d=d: dispute_id in d.disputes.votes, f"{d.address}'s vote")
            vote = d.disputes.votes[dispute_id]
            assert "0x" + vote.output_hash.hex() == right and not vote.agrees
        await wait_until(
            lambda: asyncio.to_thread(
                lambda: bool(events_since(chain, start, "Disputes", "DisputeResolved"))
            ),
            "the dispute's resolution",
        )
        voted = events_since(chain, start, "Disputes", "Voted")
        assert {e.attributes["verifier"] for e in voted} == {honest_a.address, honest_b.address}
        assert all(e.attributes["agrees"] is False for e in voted)
        (resolved,) = events_since(chain, start, "Disputes", "DisputeResolved")
        assert resolved.attributes["verdict"] == "WorkerAtFault"
        assert resolved.attributes["worker"] == liar.address
        info = await asyncio.to_thread(chain.tasks.worker, liar.address)
        assert info is not None and info.reputation.slashed == 1 and info.banned_until

        accepted = await asyncio.to_thread(chain.tasks.accept, requester, task_id, honest_a.address)
        completed = accepted.expect("Tasks", "TaskCompleted").attributes
        assert set(completed["workers"]) == {honest_a.address, honest_b.address}
