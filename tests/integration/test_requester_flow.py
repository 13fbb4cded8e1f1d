"""The requester SDK against real parts: the runtime under Chopsticks, real WebRTC
(aiortc) on 127.0.0.1, a real DHT, real Wasm runs (wasmtime), real Groth16 proofs.

Workers are :class:`~fixtures.requester.FixtureWorker` s (staked and registered on
chain, announced in the DHT). Every test uses a fresh funded requester key, so balances
are checked to the planck: ``requester: free_after = free_before - fees - paid`` and
``worker: free_after = free_before + paid``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from ccnet.client import CC, Chain, Keypair, Keys
from ccnet.client.commitments import new_salt, vote_commitment
from ccnet.client.jobs.billing import price
from ccnet.client.jobs.catalogue import load_job, module_hash
from ccnet.client.jobs.jobspec import JobSpec
from ccnet.client.requester import DEFAULT_FUEL_LIMIT, Job, Requester
from ccnet.client.requester.outcomes import Rejected, TaskOutcome, Verified
from ccnet.worker.sandbox import Sandbox
from ccnet.zk import Prover, ZkNode

if TYPE_CHECKING:  # mypy sees the checkout's tests package; pytest puts tests/ on sys.path
    from tests.fixtures.requester import Behaviour, WorkerNetFactory, register
else:
    from fixtures.requester import Behaviour, WorkerNetFactory, register

FundAccount = Callable[..., Keypair]


def free(chain: Chain, address: str) -> int:
    return chain.free_balance(address)


def paid_to(outcomes: list[TaskOutcome], worker: str) -> int:
    return sum(o.results[worker].paid for o in outcomes if worker in o.results) + sum(
        s.paid for o in outcomes for s in o.spot_checks if s.worker == worker
    )


async def test_majority_spot_checks_channels_and_exact_balances(
    ccnet_chain: Chain,
    fund_account: FundAccount,
    requester_workers: list[Keypair],
    worker_net: WorkerNetFactory,
    photos: list[Path],
    tmp_path: Path,
) -> None:
    honest_a, honest_b, liar = (str(k.ss58_address) for k in requester_workers[:3])
    net = await worker_net(
        [
            (requester_workers[0], Behaviour()),
            (requester_workers[1], Behaviour()),
            (requester_workers[2], Behaviour(lie=True)),
        ]
    )
    key = fund_account(100 * CC)
    me = str(key.ss58_address)
    before = {a: free(ccnet_chain, a) for a in (me, honest_a, honest_b, liar)}
    outcomes: list[TaskOutcome] = []
    async with Requester(
        ccnet_chain,
        key,
        dht_bootstrap=net.bootstrap,
        state_dir=tmp_path / "requester",
        deposit_per_channel=1 * CC,
        max_price=10,
    ) as r:
        offers = await r.find_workers()
        assert {o.address for o in offers} == {honest_a, honest_b, liar}
        assert all(o.stake >= 10 * CC and o.price_planck_per_fuel == 1 for o in offers)

        # majority of 3: the liar's signed result is outvoted and not paid
        first = await r.submit("prime_count", args=["100000"], verify="majority")
        outcomes.append(first)
        assert first.verified and first.output == b"9592\n"
        assert isinstance(first.verification, Verified)
        assert first.verification.method == "majority"
        assert first.dissenters == (liar,)
        assert first.results[liar].status == "dissented" and first.results[liar].paid == 0
        for worker in (honest_a, honest_b):
            assert first.results[worker].status == "agreed"
            assert first.results[worker].paid == price(first.fuel_used, 1)
        assert first.cost_planck == 2 * price(first.fuel_used, 1)
        assert len(r.party.receipts) == 3  # one channel opened per worker

        # real files, concurrently, over the same sessions and channels
        files = [p.read_bytes() for p in photos[:3]]
        batch = await r.submit_batch(
            Job("sha256sum", data, options={"verify": "majority"}) for data in files
        )
        for data, outcome in zip(files, batch, strict=True):
            assert isinstance(outcome, TaskOutcome)
            outcomes.append(outcome)
            assert outcome.output == (hashlib.sha256(data).hexdigest() + "\n").encode()
            assert outcome.dissenters == (liar,)
        assert len(r.party.receipts) == 3  # channels reused, nothing new on chain

        # a spot check with a known answer catches the liar alone: rejected, unpaid
        liar_offer = next(o for o in offers if o.address == liar)
        spot = await r.submit("prime_count", args=["1000"], verify="spot", workers=[liar_offer])
        outcomes.append(spot)
        assert isinstance(spot.verification, Rejected)
        assert spot.cost_planck == 0 and spot.results[liar].paid == 0

        # quality: heartbeats arrived, the liar ranks last now
        seen = r.tracker.inputs(honest_a, _now())
        assert seen.succeeded == 4 and seen.failed == 0 and seen.uptime > 0
        assert r.tracker.inputs(liar, _now()).failed == 5
        ranked = await r.find_workers()
        assert ranked[-1].address == liar

        stats = r.stats()
        assert stats.tasks_run == 5 and stats.tasks_verified == 4 and stats.tasks_rejected == 1
        assert stats.offchain_updates == 8  # 4 verified jobs x 2 agreeing workers
        assert stats.workers[liar].cost == 0
        assert stats.workers[honest_a].cost == paid_to(outcomes, honest_a)

        receipts = await r.close_channels()
        assert len(receipts) == 3
        stats = r.stats()
        assert stats.channel_extrinsics == 6 and stats.other_extrinsics == 0
        fees = sum(receipt.fee for receipt in r.party.receipts)
        assert fees == stats.fees_planck > 0

    total = sum(o.cost_planck for o in outcomes)
    assert total == paid_to(outcomes, honest_a) + paid_to(outcomes, honest_b)
    assert free(ccnet_chain, me) == before[me] - fees - total
    assert free(ccnet_chain, honest_a) == before[honest_a] + paid_to(outcomes, honest_a)
    assert free(ccnet_chain, honest_b) == before[honest_b] + paid_to(outcomes, honest_b)
    assert free(ccnet_chain, liar) == before[liar]
    # modules travel only when asked: once for prime_count, once per concurrent sha256sum
    assert 2 <= net.by_address()[honest_a].modules_asked <= 4


def _now() -> int:
    from ccnet.client.clock import now_ms

    return now_ms()


async def test_proofs_verified_and_tampered_proof_rejected_unpaid(
    ccnet_chain: Chain,
    fund_account: FundAccount,
    requester_workers: list[Keypair],
    worker_net: WorkerNetFactory,
    zk_prover: Prover,
    zk_node: ZkNode,
    tmp_path: Path,
) -> None:
    prover_key, tamper_key = requester_workers[0], requester_workers[3]
    honest, tamperer = str(prover_key.ss58_address), str(tamper_key.ss58_address)
    net = await worker_net(
        [(prover_key, Behaviour()), (tamper_key, Behaviour(tamper_proof=True))], prover=zk_prover
    )
    key = fund_account(100 * CC)
    me = str(key.ss58_address)
    before = {a: free(ccnet_chain, a) for a in (me, honest, tamperer)}
    async with Requester(
        ccnet_chain,
        key,
        dht_bootstrap=net.bootstrap,
        state_dir=tmp_path / "requester",
        deposit_per_channel=1 * CC,
        zk_node=zk_node,
    ) as r:
        offers = {o.address: o for o in await r.find_workers()}
        good = []
        for circuit in ("poseidon_commit", "billing"):
            outcome = await r.submit(
                "prime_count",
                args=["10000"],
                verify="proof",
                proof=circuit,
                workers=[offers[honest]],
            )
            assert isinstance(outcome.verification, Verified), outcome.results
            assert outcome.verification.proof == circuit
            assert outcome.output == b"1229\n" and outcome.cost_planck > 0
            good.append(outcome)

        bad = await r.submit(
            "prime_count",
            args=["10000"],
            verify="proof",
            proof="poseidon_commit",
            workers=[offers[tamperer]],
        )
        assert isinstance(bad.verification, Rejected)
        report = bad.results[tamperer]
        assert report.status == "invalid" and "does not verify" in report.reason
        assert bad.cost_planck == 0 and report.paid == 0
        assert r.stats().offchain_updates == 2
        receipts = await r.close_channels()
        assert len(receipts) == 2
        fees = sum(receipt.fee for receipt in r.party.receipts)

    paid = sum(o.cost_planck for o in good)
    assert free(ccnet_chain, me) == before[me] - fees - paid
    assert free(ccnet_chain, honest) == before[honest] + paid
    assert free(ccnet_chain, tamperer) == before[tamperer]
    assert net.workers[1].jobs_run == 1


def _signers(fund_account: FundAccount, extra: list[Keypair]) -> dict[str, Keypair]:
    keys: dict[str, Keypair] = dict(getattr(fund_account, "keys", {}))
    for name in ("Alice", "Bob", "Charlie", "Dave", "Eve", "Ferdie"):
        for uri in (f"//{name}", f"//{name}//stash"):
            k = Keys.from_uri(uri)
            keys[str(k.ss58_address)] = k
    keys.update({str(k.ss58_address): k for k in extra})
    return keys


async def test_dissenter_challenged_on_chain_is_slashed(
    ccnet_chain: Chain,
    fund_account: FundAccount,
    requester_workers: list[Keypair],
    worker_net: WorkerNetFactory,
    sandbox: Sandbox,
    tmp_path: Path,
) -> None:

    # Every worker registered on the session chain could be drawn: this test must hold
    # all their keys (fixtures deregister theirs or share them with the Funder).
    foreign = set(ccnet_chain.tasks.worker_list()) - set(_signers(fund_account, requester_workers))
    assert not foreign, f"workers left registered by earlier tests: {sorted(foreign)}"
    liar_key = fund_account(100 * CC)
    register(ccnet_chain, liar_key)
    # The court draws 3 verifiers among staked workers that are not the task's claimants:
    # two more (requester_workers[2:] are the others), whose keys this test holds.
    for _ in range(2):
        register(ccnet_chain, fund_account(100 * CC))
    liar = str(liar_key.ss58_address)
    honest = [str(k.ss58_address) for k in requester_workers[:2]]
    spec_behaviour = Behaviour(submit_onchain=True)
    net = await worker_net(
        [
            (requester_workers[0], spec_behaviour),
            (requester_workers[1], spec_behaviour),
            (liar_key, Behaviour(lie=True, submit_onchain=True)),
        ]
    )
    key = fund_account(100 * CC)
    wasm = load_job("prime_count")
    spec = JobSpec.inline(module_hash(wasm), b"", ("100000",), fuel=DEFAULT_FUEL_LIMIT)
    async with Requester(
        ccnet_chain,
        key,
        dht_bootstrap=net.bootstrap,
        state_dir=tmp_path / "requester",
        deposit_per_channel=1 * CC,
    ) as r:
        task_id = await r.post_onchain(spec, bounty=1 * CC, redundancy=3, deadline_blocks=20)
        outcome = await r.submit("prime_count", args=["100000"], verify="majority", task_id=task_id)
        assert outcome.verified and outcome.dissenters == (liar,)
        await r.wait_onchain_results(task_id, 3, timeout=60)  # committed, then revealed
        decided = await r.decide_onchain(task_id)
        assert decided.dissenting == (liar,) and set(decided.agreeing) == set(honest)

        # Challenged with a commitment to the verified output (revealed by the SDK).
        disputed = await r.challenge_dissenters(outcome)
        dispute_id = disputed.disputes[liar]
        assert liar in r.excluded
        info = ccnet_chain.disputes.dispute(dispute_id)
        assert info is not None and info.worker == liar and info.expected is not None
        assert info.draw_at is not None
        ccnet_chain.new_blocks(info.draw_at - ccnet_chain.block_number())  # the draw
        info = ccnet_chain.disputes.dispute(dispute_id)
        assert info is not None and len(info.verifiers) >= 3

        # The drawn verifiers re-execute the job spec stored on chain, commit, reveal.
        stored = ccnet_chain.tasks.task(task_id)
        assert stored is not None
        rerun = JobSpec.decode(stored.input_ref)
        truth = sandbox.run(wasm, args=list(rerun.args), stdin=rerun.input_inline or b"")
        signers = _signers(fund_account, requester_workers)
        salts = {v: new_salt() for v in info.verifiers if v in signers}
        assert len(salts) >= 3, "verifiers whose keys this session does not know"
        for verifier, salt in salts.items():
            commitment = vote_commitment(dispute_id, verifier, truth.output_hash, salt)
            ccnet_chain.disputes.commit_vote(signers[verifier], dispute_id, commitment)
        if len(salts) < len(info.verifiers):  # reveals open after the commit phase
            assert info.commit_ends is not None
            ccnet_chain.new_blocks(info.commit_ends + 1 - ccnet_chain.block_number())
        for verifier, salt in salts.items():
            ccnet_chain.disputes.reveal_vote(signers[verifier], dispute_id, truth.output_hash, salt)
        if len(salts) < len(info.verifiers):
            assert info.reveal_ends is not None
            ccnet_chain.new_blocks(info.reveal_ends + 1 - ccnet_chain.block_number())

        verdict = await r.wait_dispute(dispute_id, timeout=120)
        assert verdict.verdict == "WorkerAtFault" and verdict.worker == liar
        assert verdict.slashed == ccnet_chain.tasks.claim_bond()
        assert ccnet_chain.credits.active_stake(liar) == 0
        banned = ccnet_chain.tasks.worker(liar)
        assert banned is not None and banned.banned_until is not None
        assert banned.reputation.slashed == 1
        assert r.tracker.inputs(liar, _now()).failed >= 10
        assert all(o.address != liar for o in await r.find_workers(refresh=True))

        # After the challenge window, finalize pays the honest majority.
        task = ccnet_chain.tasks.task(task_id)
        assert task is not None
        ends = ccnet_chain.tasks.times().challenge_ends(task)
        ccnet_chain.new_blocks(max(0, ends - ccnet_chain.block_number()))
        settled = await r.wait_settled(task_id, timeout=60)
        assert settled.status == "Completed" and settled.result_hash == decided.result_hash
        stats = r.stats()
        assert stats.disputes == (verdict,)
        assert stats.other_extrinsics >= 4  # post, challenge, reveal_expected, finalize
        await r.close_channels()
