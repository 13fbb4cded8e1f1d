"""The worker daemon on chain, for real: it claims Wasm tasks, commits, reveals and
finalizes them (also across a restart, with the salt kept on disk), and, as a drawn
verifier, re-executes a disputed task, commits and reveals its vote, with no person
involved. The demo's setting: daemons with their own keys, one of them started with
fault injection, whose wrong result is disputed and slashed. A :class:`BlockTicker`
builds the blocks the court's phases count.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import Awaitable, Callable

import pytest
import wasmtime
from substrateinterface import Keypair

from ccnet.client import CC, BlockTicker, Chain, ChainEvent, Keys
from ccnet.client.commitments import expected_commitment, new_salt, result_commitment
from ccnet.client.config import ALLOW_FAULT_INJECTION_ENV, WRONG_ONCHAIN_RESULT_ONCE
from ccnet.client.courtsecrets import CourtSecrets, ResultOpening
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


async def post(
    chain: Chain, requester: Keypair, spec: bytes, redundancy: int = 1, blocks: int = 15
) -> int:
    deadline = await asyncio.to_thread(chain.block_number) + blocks
    return await asyncio.to_thread(
        chain.tasks.post, requester, b"wasm", spec, b"prime count", CC, deadline, redundancy
    )


async def status_of(chain: Chain, task_id: int) -> str | None:
    task = await asyncio.to_thread(chain.tasks.task, task_id)
    return None if task is None else task.status


async def result_of(chain: Chain, task_id: int, worker: str) -> str | None:
    assignment = await asyncio.to_thread(chain.tasks.assignment, task_id, worker)
    return None if assignment is None else assignment.result_hash


async def test_commits_reveals_and_finalizes_also_after_a_restart(
    devchain: str,
    ccnet_chain: Chain,
    fund_account: Callable[..., Keypair],
    start_daemon: StartDaemon,
    job_wasm: Callable[[str], bytes],
    wait_until: WaitUntil,
    block_ticker: Callable[..., BlockTicker],
) -> None:
    worker, requester = fund_account(100 * CC), fund_account(100 * CC)
    address = str(worker.ss58_address)
    mine = frozenset({str(requester.ss58_address)})
    block_ticker(devchain)
    stake = 4 * CC * 10  # four claims at once, ClaimBond (10 CC) each
    daemon = await start_daemon(
        worker, devchain, requesters=mine, verify_disputes=False, stake=stake
    )
    assert daemon.tasks is not None
    secrets_file = daemon.config.state_dir / "court-secrets.json"

    first = await post(ccnet_chain, requester, prime_spec(job_wasm, 1000))
    await wait_until(lambda: first in daemon.tasks.revealed, f"the reveal of task {first}")
    assert await result_of(ccnet_chain, first, address) == "0x" + output_hash(b"168\n").hex()
    assert (daemon.config.state_dir / "outputs" / f"{first}.out").read_bytes() == b"168\n"
    assert CourtSecrets(secrets_file).result(first) is not None  # kept until settled
    not_mine = await post(ccnet_chain, fund_account(10 * CC), prime_spec(job_wasm, 10))
    await daemon.stop()  # the first task is revealed, not yet finalized

    # While it is down: a new task; one it claimed but never answered (a crash); one it
    # committed (the opening on disk) but never revealed.
    later = await post(ccnet_chain, requester, prime_spec(job_wasm, 100), blocks=40)
    claimed = await post(ccnet_chain, requester, prime_spec(job_wasm, 10), blocks=40)
    await asyncio.to_thread(ccnet_chain.tasks.claim, worker, claimed)
    committed = await post(ccnet_chain, requester, prime_spec(job_wasm, 20), blocks=40)
    await asyncio.to_thread(ccnet_chain.tasks.claim, worker, committed)
    opening = ResultOpening(committed, output_hash(b"8\n"), 777, new_salt())
    CourtSecrets(secrets_file).put_result(opening)
    commitment = result_commitment(committed, address, opening.result_hash, 777, opening.salt)
    await asyncio.to_thread(ccnet_chain.tasks.submit_result, worker, committed, commitment)

    again = await start_daemon(
        worker, devchain, requesters=mine, verify_disputes=False, state_dir=daemon.config.state_dir
    )
    assert again.ready.registration.action == "updated"  # a new signaling port
    assert again.tasks is not None
    await wait_until(
        lambda: {later, claimed, committed} <= again.tasks.revealed,
        "the reveals after the restart",
        timeout=120,
    )
    assert {later, claimed} <= set(again.tasks.submitted)
    assert await result_of(ccnet_chain, later, address) == "0x" + output_hash(b"25\n").hex()
    assert await result_of(ccnet_chain, claimed, address) == "0x" + output_hash(b"4\n").hex()
    assert await result_of(ccnet_chain, not_mine, address) is None

    async def settled() -> bool:
        return all(
            [
                await status_of(ccnet_chain, t) == "Completed"
                for t in (first, later, claimed, committed)
            ]
        )

    await wait_until(settled, "every task finalized by the daemon", timeout=300)
    assert again.onchain is not None
    await again.onchain.idle()
    assert {first, later, claimed, committed} <= again.tasks.finalized | again.tasks.revealed
    assert again.tasks.errors == 0
    assert await result_of(ccnet_chain, committed, address) is None  # settled: record gone
    task = await asyncio.to_thread(ccnet_chain.tasks.task, committed)
    assert task is not None and task.result_hash == "0x" + opening.result_hash.hex()
    info = await asyncio.to_thread(ccnet_chain.tasks.worker, address)
    assert info is not None and info.reputation.completed == 4 and info.active_claims == 0
    assert info.reputation.value_earned == 4 * CC
    assert await asyncio.to_thread(ccnet_chain.credits.bonded_stake, address) == 0
    assert CourtSecrets(secrets_file).result_tasks() == []


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
    block_ticker: Callable[..., BlockTicker],
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
    block_ticker(devchain)
    daemon = await start_daemon(
        worker,
        devchain,
        requesters=frozenset({str(requester.ss58_address)}),
        verify_disputes=False,
        arweave_url=arlocal,
        stake=30 * CC,  # three claims at once
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
        lambda: {big, fetched} <= daemon.tasks.revealed, "the answers to the Arweave tasks"
    )
    line = hashlib.sha256(stdin).hexdigest().encode() + b"\n"
    assert await result_of(ccnet_chain, big, address) == "0x" + output_hash(line).hex()
    assert await result_of(ccnet_chain, fetched, address) == "0x" + output_hash(b"ok\n").hex()
    assert lied not in daemon.tasks.submitted and daemon.tasks.errors == 0
    # The gateway's bytes do not match the spec: the task was not even claimed.
    assert await asyncio.to_thread(ccnet_chain.tasks.assignment, lied, address) is None


async def test_daemons_catch_an_injected_wrong_result(
    private_chain: str,
    start_daemon: StartDaemon,
    job_wasm: Callable[[str], bytes],
    monkeypatch: pytest.MonkeyPatch,
    wait_until: WaitUntil,
    events_since: EventsSince,
    free_worker_config: WorkerConfig,
    block_ticker: Callable[..., BlockTicker],
) -> None:
    """The demo's setting: five workers with their own keys register, stake and announce;
    two serve on-chain tasks, one of which lies once on chain (fault injection; its
    off-chain results stay honest), three only verify (the draw excludes the claimants).
    A requester posts a task for two, sees the disagreement and challenges the odd
    result with the answer it expects; the three others are drawn, re-execute, commit
    and reveal on their own, the liar is slashed, and the task is finalized to the
    honest worker."""
    monkeypatch.setenv(ALLOW_FAULT_INJECTION_ENV, "1")
    with Chain(private_chain) as chain:
        ferdie = Keys.from_uri("//Ferdie")
        keys = [Keys.generate()[0] for _ in range(6)]
        for key in keys:
            await asyncio.to_thread(chain.transfer, ferdie, str(key.ss58_address), 1000 * CC)
        *workers, requester = keys
        honest = await start_daemon(workers[0], private_chain)
        bootstrap = ((honest.ready.dht_host, honest.ready.dht_port),)
        liar = await start_daemon(
            workers[1],
            private_chain,
            dht_bootstrap=bootstrap,
            fault_injection=WRONG_ONCHAIN_RESULT_ONCE,
            worker=free_worker_config,  # it serves one unpaid job below
        )
        verifiers = [
            await start_daemon(w, private_chain, dht_bootstrap=bootstrap, watch_tasks=False)
            for w in workers[2:]
        ]
        daemons = (honest, liar, *verifiers)
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

        block_ticker(private_chain)
        start = await asyncio.to_thread(chain.block_number)
        task_id = await post(chain, requester, prime_spec(job_wasm, 10_000), redundancy=2)
        for d in (honest, liar):
            assert d.tasks is not None
            await wait_until(lambda d=d: task_id in d.tasks.revealed, f"{d.address}'s reveal")
        right = "0x" + output_hash(b"1229\n").hex()
        results = {d.address: await result_of(chain, task_id, d.address) for d in (honest, liar)}
        assert results[honest.address] == right and results[liar.address] not in (None, right)
        assert liar.tasks is not None and liar.tasks.submitted[task_id].corrupted

        salt = new_salt()
        expected = expected_commitment(task_id, liar.address, right, salt)
        receipt = await asyncio.to_thread(
            chain.disputes.challenge, requester, task_id, liar.address, expected
        )
        dispute_id = chain.disputes.opened_dispute_id(receipt)
        panel = {d.address for d in verifiers}
        for d in verifiers:
            assert d.disputes is not None
            await wait_until(lambda d=d: dispute_id in d.disputes.revealed, f"{d.address}'s vote")
            vote = d.disputes.votes[dispute_id]
            assert "0x" + vote.output_hash.hex() == right and not vote.agrees
        await asyncio.to_thread(chain.disputes.reveal_expected, requester, dispute_id, right, salt)
        await wait_until(
            lambda: asyncio.to_thread(
                lambda: bool(events_since(chain, start, "Disputes", "DisputeResolved"))
            ),
            "the dispute's resolution",
        )
        (drawn,) = events_since(chain, start, "Disputes", "VerifiersDrawn")
        assert set(drawn.attributes["verifiers"]) == panel
        revealed = events_since(chain, start, "Disputes", "VoteRevealed")
        assert {e.attributes["verifier"] for e in revealed} == panel
        assert all(e.attributes["agrees"] is False for e in revealed)
        (resolved,) = events_since(chain, start, "Disputes", "DisputeResolved")
        assert resolved.attributes["verdict"] == "WorkerAtFault"
        assert resolved.attributes["worker"] == liar.address
        info = await asyncio.to_thread(chain.tasks.worker, liar.address)
        assert info is not None and info.reputation.slashed == 1 and info.banned_until

        # The honest result is the only one left: finalize (by a daemon) pays it.
        await wait_until(
            lambda: asyncio.to_thread(
                lambda: bool(events_since(chain, start, "Tasks", "TaskCompleted"))
            ),
            "the task's payment",
            timeout=180,
        )
        (completed,) = events_since(chain, start, "Tasks", "TaskCompleted")
        assert completed.attributes["workers"] == [honest.address]
        assert completed.attributes["result_hash"] == right
