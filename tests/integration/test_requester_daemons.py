"""The requester SDK with the real worker daemons (the demo's setting), on a private dev
chain (dispute verifiers are drawn among every eligible worker: only these daemons).

Six :class:`~ccnet.worker.daemon.WorkerDaemon` s with their own keys: three serve the
requester's on-chain tasks, one of them started with fault injection (its first result
is wrong), and three only verify (the court never draws a task's claimants, and needs
three verifiers). The requester posts a task on chain; the daemons claim, commit and
reveal; the requester finds the dissenter and challenges it with a commitment to the
majority's result; the three verifier daemons re-execute, commit and reveal; the cheater
is slashed and banned, and a daemon finalizes the task to the honest majority (a block
ticker builds the blocks the phases count). Then off-chain jobs through the DHT and
WebRTC: a majority of two honest daemons, a proof-carrying job, each verified result
paid by one channel update; channels closed cooperatively; the requester's balance
exact to the planck.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from ccnet.client import CC, BlockTicker, Chain, ChainEvent, Keypair, Keys
from ccnet.client.config import ALLOW_FAULT_INJECTION_ENV, WRONG_RESULT_ONCE
from ccnet.client.jobs.catalogue import load_job, module_hash
from ccnet.client.jobs.jobspec import JobSpec
from ccnet.client.jobs.results import output_hash
from ccnet.client.requester import DEFAULT_FUEL_LIMIT, Requester
from ccnet.client.requester.outcomes import Verified
from ccnet.worker.daemon import WorkerDaemon

StartDaemon = Callable[..., Awaitable[WorkerDaemon]]


def funded(chain: Chain, amount: int) -> Keypair:
    keypair, _ = Keys.generate()
    chain.transfer(Keys.from_uri("//Ferdie"), str(keypair.ss58_address), amount)
    return keypair


async def test_demo_flow_with_worker_daemons(
    private_chain: str,
    start_daemon: StartDaemon,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    block_ticker: Callable[..., BlockTicker],
    events_since: Callable[[Chain, int, str, str], list[ChainEvent]],
) -> None:
    monkeypatch.setenv(ALLOW_FAULT_INJECTION_ENV, "1")
    with Chain(private_chain) as chain:
        requester_key = funded(chain, 200 * CC)
        me = str(requester_key.ss58_address)
        mine = frozenset({me})
        keys = [funded(chain, 100 * CC) for _ in range(6)]
        first = await start_daemon(keys[0], private_chain, requesters=mine)
        bootstrap = ((first.ready.dht_host, first.ready.dht_port),)
        others = [
            await start_daemon(keys[1], private_chain, requesters=mine, dht_bootstrap=bootstrap),
            await start_daemon(
                keys[2],
                private_chain,
                requesters=mine,
                dht_bootstrap=bootstrap,
                fault_injection=WRONG_RESULT_ONCE,
            ),
        ]
        verifiers = [
            await start_daemon(k, private_chain, watch_tasks=False, dht_bootstrap=bootstrap)
            for k in keys[3:]
        ]
        panel = sorted(d.address for d in verifiers)
        cheater = others[1].address
        honest = sorted((first.address, others[0].address))
        before = chain.free_balance(me)
        start = chain.block_number()
        block_ticker(private_chain)

        async with Requester(
            chain,
            requester_key,
            dht_bootstrap=list(bootstrap),
            state_dir=tmp_path / "requester",
            deposit_per_channel=1 * CC,
        ) as r:
            offers = await r.find_workers()
            assert {o.address for o in offers} == {*honest, cheater, *panel}

            # on chain: the cheater's (first) result is outvoted, challenged and slashed
            wasm = load_job("prime_count")
            spec = JobSpec.inline(module_hash(wasm), b"", ("100000",), fuel=DEFAULT_FUEL_LIMIT)
            task_id = await r.post_onchain(spec, bounty=1 * CC, redundancy=3, deadline_blocks=20)
            await r.wait_onchain_results(task_id, 3, timeout=120)
            decided = await r.decide_onchain(task_id)
            assert decided.result_hash == "0x" + output_hash(b"9592\n").hex()
            assert decided.dissenting == (cheater,) and list(decided.agreeing) == honest
            dispute_id = await r.challenge(task_id, cheater, decided.result_hash)
            verdict = await r.wait_dispute(dispute_id, timeout=180)
            assert verdict.verdict == "WorkerAtFault" and sorted(verdict.rewarded) == panel
            assert chain.credits.active_stake(cheater) == 0
            settled = await r.wait_settled(task_id, timeout=180)
            assert settled.status == "Completed"
            assert settled.result_hash == decided.result_hash

            # off chain: the banned cheater is no longer offered
            offers = await r.find_workers(refresh=True)
            assert sorted(o.address for o in offers) == sorted([*honest, *panel])
            majority = await r.submit(
                "prime_count", args=["200000"], verify="majority", redundancy=2
            )
            assert isinstance(majority.verification, Verified)
            assert majority.output == b"17984\n" and majority.cost_planck > 0
            proved = await r.submit(
                "prime_count",
                args=["1000"],
                verify="proof",
                proof="billing",
                workers=offers[:1],
            )
            assert isinstance(proved.verification, Verified) and proved.cost_planck > 0
            stats = r.stats()
            assert stats.offchain_updates == 3 and stats.disputes == (verdict,)
            receipts = await r.close_channels()
            assert len(receipts) == 2
            stats = r.stats()
            assert stats.channel_extrinsics == 4  # 2 channels x (open + close)
            fees = stats.fees_planck
            paid = majority.cost_planck + proved.cost_planck

        reward = int(chain.constant("Disputes", "VerifierReward"))
        from_slash = verdict.slashed - reward * len(verdict.rewarded)
        deposit = int(chain.constant("Tasks", "TaskDeposit"))  # held until reaped
        # Every fee the requester paid, from the chain: its calls that lost a race (a
        # finalize or resolve someone else did first) pay a fee too.
        fees = sum(
            int(e.attributes["actual_fee"])
            for e in events_since(chain, start, "TransactionPayment", "TransactionFeePaid")
            if str(e.attributes["who"]) == me
        )
        assert chain.free_balance(me) == before - fees - paid - 1 * CC - deposit + from_slash
