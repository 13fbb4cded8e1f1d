"""Disputes carried out end to end by real worker processes on a real chain.

Six ``ccnet worker run`` processes (their own keys, each its own OS process, as
deployed) on a private Chopsticks chain of this module (verifiers are drawn among
*every* eligible worker, so only these may be registered), with a block ticker (the
court's phases count blocks; Chopsticks builds them on demand):

- ``liar``: ``--fault-injection wrong-onchain-result-once`` (its first on-chain result
  is wrong), serves on-chain tasks;
- ``h1``, ``h2``: honest, serve on-chain tasks;
- ``h3``, ``h4``, ``h5``: honest, ``--no-tasks``: they only verify. The draw never takes
  a task's claimants, its requester or the challenger, and needs ``MinVerifiers`` (3).

A requester (the SDK's :class:`~ccnet.client.requester.Requester`) posts JobSpec tasks;
the workers commit and reveal on their own; the requester detects a dissenter by
majority and challenges with a commitment to the answer it expects (revealed by the
SDK in the reveal phase); the drawn verifier processes re-execute, commit and reveal on
their own (no vote in this file is cast by the test). Every money movement of a dispute
is checked to the planck: the free and reserved balances of all seven accounts and the
total issuance at the block before the challenge and at the block of
``DisputeResolved``, with the fees of that range taken from
``TransactionPayment.TransactionFeePaid`` (fees are burned: ``FungibleAdapter<_, ()>``).

1. :func:`test_disputes_three_verifiers`: the liar's result is outvoted and challenged;
   ``h3``..``h5`` are drawn and vote; the liar loses its claim bond and is banned; each
   verifier earns ``VerifierReward``, the challenger the rest; the SDK scores the liar
   down; finalize pays the honest majority.
2. :func:`test_disputes_false_accusation`: an honest result is challenged; the three
   verifiers uphold it; the challenger's stake pays them and the worker; the task is
   finalized to both honest workers.
3. :func:`test_disputes_offline_verifier`: one drawn verifier process is frozen
   (SIGSTOP) before the challenge and killed (SIGKILL) once the dispute is open, so it
   never commits; nobody can resolve before the reveal phase ends; then the dispute is
   resolved on the two votes: fewer than ``MinVerifiers``, so *inconclusive* (the
   challenger's stake goes back), and the silent verifier loses its ``VerifierBond``
   (burnt) and gets a reputation failure.

The tests share the chain and the processes, in file order: the liar is banned by the
first; the later ones retire it themselves (deregister) when it is still eligible, so
each test also runs alone. The third kills ``h5`` and must stay last.
(A tampered proof rejected by every verifier path is covered by
``tests/unit/test_zk_verifier.py`` and ``tests/integration/test_zk_proofs.py``.)
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from ccnet.client import CC, BlockTicker, Chain, ChainEvent, Keypair, Keys
from ccnet.client.cli import app as cli_app
from ccnet.client.config import ALLOW_FAULT_INJECTION_ENV, WRONG_ONCHAIN_RESULT_ONCE
from ccnet.client.devchain import group_alive
from ccnet.client.exceptions import DisputesTooEarlyError
from ccnet.client.jobs.catalogue import load_job, module_hash
from ccnet.client.jobs.jobspec import JobSpec
from ccnet.client.jobs.results import output_hash
from ccnet.client.pallets.tasks import WorkerInfo
from ccnet.client.requester import Requester
from ccnet.client.requester.facade import FAULT_PENALTY

WaitUntil = Callable[..., Awaitable[None]]
EventsSince = Callable[[Chain, int, str, str], list[ChainEvent]]

READY_TIMEOUT = 120.0
"""Seconds a worker process may take to print its ready record (a failure bound)."""
NAMES = ("liar", "h1", "h2", "h3", "h4", "h5")
HONEST = ("h1", "h2", "h3", "h4", "h5")
PANEL = ("h3", "h4", "h5")
"""The verify-only workers: the panel of every dispute over a task of h1, h2 (and liar)."""
STAKE_CC = 30
"""Each worker's stake, CC: room for a few claims (``ClaimBond`` 10 CC each)."""
DEADLINE_BLOCKS = 20


# --- worker processes ------------------------------------------------------------------


@dataclass
class WorkerProcess:
    """One ``ccnet worker run`` process (own session and process group)."""

    name: str
    keypair: Keypair
    proc: subprocess.Popen[bytes]
    log: Path
    """Its stderr (logs)."""
    ready: dict[str, Any] | None = None
    killed: bool = False

    @property
    def address(self) -> str:
        return str(self.keypair.ss58_address)

    def log_tail(self, lines: int = 30) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def read_ready(self) -> dict[str, Any]:
        """Block until the ready record (the first JSON line on stdout)."""
        assert self.proc.stdout is not None
        while True:
            line = self.proc.stdout.readline()
            if not line:
                raise AssertionError(f"{self.name} exited before ready:\n{self.log_tail()}")
            if line.startswith(b"{"):
                record: dict[str, Any] = json.loads(line)
                assert record["event"] == "ready", record
                return record

    def signal(self, signum: signal.Signals) -> None:
        os.killpg(self.proc.pid, signum)

    def kill(self) -> None:
        """SIGKILL its process group (the machine dies) and reap it."""
        self.killed = True
        self.signal(signal.SIGKILL)
        self.proc.wait(30)

    def stop(self) -> dict[str, Any] | None:
        """SIGTERM, wait; the ``stopped`` record (None if killed before)."""
        if self.killed:
            return None
        if self.proc.poll() is None:
            self.signal(signal.SIGTERM)
        code = self.proc.wait(60)
        assert self.proc.stdout is not None
        rest = self.proc.stdout.read().decode().splitlines()
        assert code == 0, f"{self.name} exited with {code}:\n{self.log_tail()}"
        records = [json.loads(line) for line in rest if line.startswith("{")]
        return records[-1] if records else None


def start_workers(
    url: str, keys: dict[str, Keypair], uris: dict[str, str], tmp: Path
) -> dict[str, WorkerProcess]:
    """Start the five processes at once and wait for their ready records."""
    base_env = {
        **os.environ,
        "CCNET_CONFIG": str(tmp / "config.toml"),
        "CCNET_KEYSTORE": str(tmp / "keystore"),
        "CCNET_WORKER_BENCHMARK_N": "100000",
        "CCNET_WORKER_BENCHMARK_ROUNDS": "1",
    }
    base_env.pop(ALLOW_FAULT_INJECTION_ENV, None)
    workers: dict[str, WorkerProcess] = {}
    for name in NAMES:
        env = dict(base_env)
        command = [sys.executable, "-m", "ccnet.client", "--url", url, "worker", "run"]
        command += ["--key", uris[name], "--state-dir", str(tmp / name)]
        command += ["--json-log", "--poll-interval", "0.25", "--stake", str(STAKE_CC)]
        if name == "liar":
            env[ALLOW_FAULT_INJECTION_ENV] = "1"
            command += ["--fault-injection", WRONG_ONCHAIN_RESULT_ONCE]
        if name in PANEL:
            command.append("--no-tasks")
        log = tmp / f"{name}.log"
        with log.open("wb") as stderr:
            proc = subprocess.Popen(
                command, stdout=subprocess.PIPE, stderr=stderr, env=env, start_new_session=True
            )
        workers[name] = WorkerProcess(name, keys[name], proc, log)
    with ThreadPoolExecutor(len(workers)) as pool:
        futures = {name: pool.submit(w.read_ready) for name, w in workers.items()}
        try:
            for name, future in futures.items():
                workers[name].ready = future.result(timeout=READY_TIMEOUT)
        except BaseException:
            for w in workers.values():
                w.kill()
            raise
    return workers


@pytest.fixture(scope="module")
def chain(private_chain: str) -> Iterator[Chain]:
    with Chain(private_chain) as c:
        yield c


@pytest.fixture(scope="module")
def ticker(private_chain: str) -> Iterator[BlockTicker]:
    """Blocks for the court's phases, for the whole module (tests may stop and restart
    it to hold a phase open)."""
    with BlockTicker(private_chain, 0.5) as running:
        yield running
    assert running.error is None, running.error


@pytest.fixture(scope="module")
def requester_key(chain: Chain) -> Keypair:
    key, _ = Keys.generate()
    chain.transfer(Keys.from_uri("//Ferdie"), str(key.ss58_address), 1000 * CC)
    return key


@pytest.fixture(scope="module")
def workers(
    private_chain: str, chain: Chain, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, WorkerProcess]]:
    """The five worker processes (see the module docs), registered and staked; stopped
    (SIGTERM, exit code 0, nothing left of their process groups) afterwards."""
    tag = os.urandom(4).hex()
    uris = {name: f"//ccnet-disputes-{tag}-{name}" for name in NAMES}
    keys = {name: Keys.from_uri(uri) for name, uri in uris.items()}
    ferdie = Keys.from_uri("//Ferdie")
    for key in keys.values():
        chain.transfer(ferdie, str(key.ss58_address), 100 * CC)
    procs = start_workers(private_chain, keys, uris, tmp_path_factory.mktemp("dispute-workers"))
    try:
        registered = set(chain.tasks.worker_list())
        assert registered == {w.address for w in procs.values()}
        yield procs
    finally:
        for w in procs.values():
            w.stop()
        for w in procs.values():
            assert not group_alive(w.proc.pid), f"processes of {w.name}'s group outlived it"


# --- chain bookkeeping ------------------------------------------------------------------


@dataclass(frozen=True)
class Funds:
    """``System.Account(who).data``: planck."""

    free: int
    reserved: int


@dataclass(frozen=True)
class Snapshot:
    block: int
    funds: dict[str, Funds]
    issuance: int


def snapshot(chain: Chain, addresses: Sequence[str], block: int) -> Snapshot:
    """Balances of *addresses* and the total issuance at block *block*."""
    block_hash = chain.block_hash(block)
    funds = {}
    for address in addresses:
        account = chain.query("System", "Account", [address], block_hash=block_hash)
        assert account is not None
        data = account["data"]
        funds[address] = Funds(int(data["free"]), int(data["reserved"]))
    issuance = int(chain.query("Balances", "TotalIssuance", block_hash=block_hash) or 0)
    return Snapshot(block, funds, issuance)


def events_between(chain: Chain, first: int, last: int) -> list[ChainEvent]:
    """Every event of blocks *first* .. *last* (inclusive)."""
    found: list[ChainEvent] = []
    for number in range(first, last + 1):
        found += chain.events_at(chain.block_hash(number), block_number=number)
    return found


def fees_by_account(events: Sequence[ChainEvent]) -> dict[str, int]:
    """Planck paid in fees (``actual_fee``, tip included) per account."""
    fees: dict[str, int] = {}
    for e in events:
        if (e.pallet, e.name) == ("TransactionPayment", "TransactionFeePaid"):
            who = str(e.attributes["who"])
            fees[who] = fees.get(who, 0) + int(e.attributes["actual_fee"])
    return fees


def named(events: Sequence[ChainEvent], pallet: str, name: str) -> list[ChainEvent]:
    return [e for e in events if (e.pallet, e.name) == (pallet, name)]


def assert_money(
    before: Snapshot,
    after: Snapshot,
    fees: dict[str, int],
    free_delta: dict[str, int],
    reserved_delta: dict[str, int],
    burnt: int = 0,
) -> None:
    """Every account moved by exactly its expected deltas minus its fees, nothing else
    paid fees, and the issuance fell by exactly the fees and *burnt* (burned)."""
    assert set(fees) <= set(before.funds), f"fees paid by strangers: {fees}"
    for address, was in before.funds.items():
        now = after.funds[address]
        expected = Funds(
            was.free - fees.get(address, 0) + free_delta.get(address, 0),
            was.reserved + reserved_delta.get(address, 0),
        )
        assert now == expected, f"{address}: {was} -> {now}, expected {expected}"
    assert after.issuance == before.issuance - sum(fees.values()) - burnt


def eligible(chain: Chain) -> set[str]:
    """Workers the Disputes pallet may draw (before exclusions): registered, not banned,
    ``VerifierBond`` of free stake (``pallet-tasks`` ``candidates``)."""
    head = chain.block_number()
    bond = int(chain.constant("Disputes", "VerifierBond"))
    return {
        info.address
        for info in chain.tasks.workers()
        if (info.banned_until is None or info.banned_until <= head)
        and chain.credits.free_stake(info.address) >= bond
    }


def retire_liar(chain: Chain, workers: dict[str, WorkerProcess]) -> None:
    """Make sure the liar cannot claim nor verify: banned by the first test, or else
    deregistered here (this test runs without the first)."""
    liar = workers["liar"]
    if chain.tasks.worker(liar.address) is not None and liar.address in eligible(chain):
        chain.tasks.deregister_worker(liar.keypair)
    assert eligible(chain) >= {workers[n].address for n in PANEL}


def worker_info(chain: Chain, address: str) -> WorkerInfo:
    info = chain.tasks.worker(address)
    assert info is not None, f"{address} is not registered"
    return info


def prime_spec(n: int) -> JobSpec:
    return JobSpec.inline(module_hash(load_job("prime_count")), b"", (str(n),))


def requester(
    chain: Chain, key: Keypair, workers: dict[str, WorkerProcess], tmp: Path
) -> Requester:
    ready = workers["h1"].ready
    assert ready is not None
    return Requester(
        chain,
        key,
        dht_bootstrap=[(ready["dht_host"], ready["dht_port"])],
        state_dir=tmp / "requester",
        deposit_per_channel=1 * CC,
    )


async def run(fn: Callable[..., Any], *args: Any) -> Any:
    return await asyncio.to_thread(fn, *args)


async def honest_result(r: Requester, chain: Chain, n: int) -> tuple[int, str, str]:
    """Post ``prime_count n`` for h1 and h2; (task id, one of them, its result hash)."""
    task_id = await r.post_onchain(
        prime_spec(n), bounty=2 * CC, redundancy=2, deadline_blocks=DEADLINE_BLOCKS
    )
    claims = await r.wait_onchain_results(task_id, 2, timeout=120)
    (first, second) = sorted(claims, key=lambda a: a.worker)
    assert first.result_hash is not None and first.result_hash == second.result_hash
    return task_id, first.worker, first.result_hash


def drawn_event(events: Sequence[ChainEvent], dispute_id: int) -> dict[str, Any]:
    (drawn,) = [
        e for e in named(events, "Disputes", "VerifiersDrawn") if e["dispute_id"] == dispute_id
    ]
    return drawn.attributes


def ccnet_json(url: str, *args: str) -> Any:
    """``ccnet --url URL --json ARGS`` in-process (CliRunner); its decoded output."""
    result = CliRunner().invoke(cli_app, ["--url", url, "--json", *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def resolved_event(events: Sequence[ChainEvent], dispute_id: int) -> dict[str, Any]:
    (resolved,) = [
        e for e in named(events, "Disputes", "DisputeResolved") if e["dispute_id"] == dispute_id
    ]
    return resolved.attributes


def pairs(raw: Any) -> set[tuple[str, int]]:
    """``Vec<(AccountId, Balance)>`` of an event as (address, planck) pairs."""
    return {
        (str(v), int(a)) for v, a in (list(i.values()) if isinstance(i, dict) else i for i in raw)
    }


# --- the tests --------------------------------------------------------------------------


async def test_disputes_three_verifiers(
    chain: Chain,
    private_chain: str,
    workers: dict[str, WorkerProcess],
    requester_key: Keypair,
    ticker: BlockTicker,
    tmp_path: Path,
) -> None:
    liar = workers["liar"]
    panel = {workers[n].address for n in PANEL}
    me = str(requester_key.ss58_address)
    accounts = [me, *(w.address for w in workers.values())]
    reward = int(chain.constant("Disputes", "VerifierReward"))
    bond = int(chain.constant("Tasks", "ClaimBond"))
    ban = int(chain.constant("Tasks", "BanPeriod"))
    right = "0x" + output_hash(b"1229\n").hex()

    async with requester(chain, requester_key, workers, tmp_path) as r:
        task_id = await r.post_onchain(
            prime_spec(10_000), bounty=3 * CC, redundancy=3, deadline_blocks=DEADLINE_BLOCKS
        )
        await r.wait_onchain_results(task_id, 3, timeout=120)
        decided = await r.decide_onchain(task_id)
        assert decided.result_hash == right
        assert decided.dissenting == (liar.address,)
        assert set(decided.agreeing) == {workers["h1"].address, workers["h2"].address}
        stake_before = await run(chain.credits.active_stake, liar.address)
        assert stake_before == STAKE_CC * CC

        before = await run(snapshot, chain, accounts, await run(chain.block_number))
        dispute_id = await r.challenge(task_id, liar.address, right)
        assert liar.address in r.excluded
        verdict = await r.wait_dispute(dispute_id, timeout=180)
        after = await run(snapshot, chain, accounts, verdict.block_number)
        events = await run(events_between, chain, before.block + 1, after.block)

        # The requester's SDK saw the verdict and scored the cheater down.
        assert r.stats().disputes == (verdict,)
        assert liar.address in r.excluded
        observed = r.tracker.inputs(liar.address, int(time.time() * 1000))
        assert observed.failed == FAULT_PENALTY and observed.succeeded == 0

        # The task is not stuck: finalize pays the honest majority.
        settled = await r.wait_settled(task_id, timeout=180)
        assert settled.status == "Completed" and settled.result_hash == right

    assert {str(v) for v in drawn_event(events, dispute_id)["verifiers"]} == panel
    revealed = named(events, "Disputes", "VoteRevealed")
    assert {str(e["verifier"]) for e in revealed} == panel  # each process voted by itself
    assert all(e["result_hash"] == right and e["agrees"] is False for e in revealed)
    (shown,) = named(events, "Disputes", "ExpectedRevealed")
    assert shown["expected_hash"] == right and shown["audit"] is False
    assert not named(events, "Disputes", "VerifiersSlashed")

    assert verdict.verdict == "WorkerAtFault" and verdict.worker == liar.address
    assert verdict.slashed == bond and set(verdict.rewarded) == panel
    assert verdict.to_winner == bond - 3 * reward
    slashed = {
        (str(e["beneficiary"]), int(e["amount"]))
        for e in named(events, "Credits", "Slashed")
        if e["who"] == liar.address
    }
    assert slashed == {(v, reward) for v in panel} | {(me, bond - 3 * reward)}

    # The money, to the planck: the challenge stake was held and released, the claim
    # bond came out of the liar's stake (a hold) and was paid out free. Only the
    # challenger (challenge, reveal of the expected result) and the verifiers (commit,
    # reveal) sent extrinsics.
    fees = fees_by_account(events)
    assert set(fees) == {me, *panel}
    assert_money(
        before,
        after,
        fees,
        free_delta={me: bond - 3 * reward, **{v: reward for v in panel}},
        reserved_delta={liar.address: -bond},
    )
    assert await run(chain.credits.active_stake, liar.address) == STAKE_CC * CC - bond

    # Banned: no new claims, not a verifier (not eligible) until the ban ends.
    info = await run(chain.tasks.worker, liar.address)
    assert info is not None and info.banned_until == after.block + ban
    assert info.reputation.slashed == 1 and info.reputation.disputed == 0
    (banned,) = named(events, "Tasks", "WorkerBanned")
    assert banned["worker"] == liar.address and banned["until"] == after.block + ban
    assert liar.address not in await run(eligible, chain)
    assert await run(chain.disputes.dispute, dispute_id) is None

    # `ccnet dispute status` tells the same story from the chain's history, to the planck.
    status = await run(ccnet_json, private_chain, "dispute", "status", str(dispute_id))
    resolved = resolved_event(events, dispute_id)
    assert status["state"] == "resolved" and status["verdict"] == "WorkerAtFault"
    assert (status["task_id"], status["worker"], status["challenger"]) == (
        task_id,
        liar.address,
        me,
    )
    assert status["resolved_at"] == verdict.block_number and status["opened_at"] > before.block
    assert status["slashed"] == int(resolved["slashed"]) == bond
    assert status["to_winner"] == int(resolved["to_winner"]) == bond - 3 * reward
    assert {(v, a) for v, a in status["rewards"]} == pairs(resolved["rewards"])
    assert {(v["verifier"], v["result_hash"], v["agrees"]) for v in status["votes"]} == {
        (str(e["verifier"]), e["result_hash"], e["agrees"]) for e in revealed
    }
    assert set(status["verifiers"]) == panel and status["expected_hash"] == right
    payouts = {(p["account"], p["role"], p["paid"], p["slashed"]) for p in status["payouts"]}
    assert payouts == {
        (liar.address, "worker", 0, bond),
        (me, "challenger", bond - 3 * reward, 0),
        *((v, "verifier", reward, 0) for v in panel),
    }
    # ... and `result-hash --module` computes the hash the honest verifiers revealed.
    wasm = tmp_path / "prime_count.wasm"
    wasm.write_bytes(load_job("prime_count"))
    spec = prime_spec(10_000)
    computed = await run(
        ccnet_json,
        private_chain,
        "dispute",
        "result-hash",
        "--module",
        str(wasm),
        *(a for arg in spec.args for a in ("--arg", arg)),
    )
    assert computed["result_hash"] == right and computed["fuel"] > 0
    assert {e["result_hash"] for e in revealed} == {computed["result_hash"]}


async def test_disputes_false_accusation(
    chain: Chain,
    workers: dict[str, WorkerProcess],
    requester_key: Keypair,
    ticker: BlockTicker,
    tmp_path: Path,
) -> None:
    await run(retire_liar, chain, workers)
    panel = {workers[n].address for n in PANEL}
    me = str(requester_key.ss58_address)
    accounts = [me, *(w.address for w in workers.values())]
    reward = int(chain.constant("Disputes", "VerifierReward"))
    stake = int(chain.constant("Disputes", "ChallengeStake"))

    async with requester(chain, requester_key, workers, tmp_path) as r:
        task_id, worker, result = await honest_result(r, chain, 20_000)
        assert result == "0x" + output_hash(b"2262\n").hex()
        reputation = (await run(worker_info, chain, worker)).reputation
        worker_stake = await run(chain.credits.active_stake, worker)

        before = await run(snapshot, chain, accounts, await run(chain.block_number))
        dispute_id = await r.challenge(task_id, worker)  # a false accusation
        assert worker in r.excluded
        during = await run(chain.tasks.worker, worker)
        assert during is not None and during.reputation.disputed == reputation.disputed + 1
        verdict = await r.wait_dispute(dispute_id, timeout=180)
        after = await run(snapshot, chain, accounts, verdict.block_number)
        events = await run(events_between, chain, before.block + 1, after.block)

        # The SDK cleared the worker and counted a success.
        assert worker not in r.excluded
        assert r.tracker.inputs(worker, int(time.time() * 1000)).succeeded == 1
        settled = await r.wait_settled(task_id, timeout=180)
        assert settled.status == "Completed" and settled.result_hash == result

    assert {str(v) for v in drawn_event(events, dispute_id)["verifiers"]} == panel
    revealed = named(events, "Disputes", "VoteRevealed")
    assert {str(e["verifier"]) for e in revealed} == panel
    assert all(e["result_hash"] == result and e["agrees"] is True for e in revealed)
    assert verdict.verdict == "WorkerUpheld" and verdict.worker == worker
    assert verdict.slashed == stake and set(verdict.rewarded) == panel
    assert not named(events, "Credits", "Slashed")
    assert not named(events, "Tasks", "WorkerBanned")

    # The challenger lost its stake: VerifierReward to each verifier, the rest to the
    # worker; the worker's stake is untouched.
    fees = fees_by_account(events)
    assert set(fees) == {me, *panel}
    assert_money(
        before,
        after,
        fees,
        free_delta={me: -stake, worker: stake - 3 * reward, **{v: reward for v in panel}},
        reserved_delta={},
    )
    assert await run(chain.credits.active_stake, worker) == worker_stake
    restored = await run(chain.tasks.worker, worker)
    assert restored is not None and restored.banned_until is None
    assert (restored.reputation.disputed, restored.reputation.slashed) == (
        reputation.disputed,
        reputation.slashed,
    )


async def test_disputes_offline_verifier(
    chain: Chain,
    private_chain: str,
    workers: dict[str, WorkerProcess],
    requester_key: Keypair,
    ticker: BlockTicker,
    tmp_path: Path,
    wait_until: WaitUntil,
) -> None:
    await run(retire_liar, chain, workers)
    me = str(requester_key.ss58_address)
    accounts = [me, *(w.address for w in workers.values())]
    verifier_bond = int(chain.constant("Disputes", "VerifierBond"))
    panel = {workers[n].address for n in PANEL}
    async with requester(chain, requester_key, workers, tmp_path) as r:
        task_id, worker, result = await honest_result(r, chain, 30_000)
        victim = workers["h5"]
        voters = panel - {victim.address}
        reputations = {a: (await run(worker_info, chain, a)).reputation for a in panel}

        victim.signal(signal.SIGSTOP)  # frozen: it cannot see the dispute coming
        ticker.stop()  # hold the phases: blocks come only from extrinsics and the test
        before = await run(snapshot, chain, accounts, await run(chain.block_number))
        dispute_id = await r.challenge(task_id, worker)
        victim.kill()  # the dispute is open: now it dies for good
        assert not group_alive(victim.proc.pid)
        opened = await run(chain.disputes.dispute, dispute_id)
        assert opened is not None and opened.draw_at is not None
        await run(chain.new_blocks, opened.draw_at - await run(chain.block_number))

        async def two_commitments() -> bool:
            info = await run(chain.disputes.dispute, dispute_id)
            assert info is not None, "resolved without the missing vote"
            return len(info.commitments) >= 2

        await wait_until(two_commitments, "the two live verifiers' commitments")
        info = await run(chain.disputes.dispute, dispute_id)
        assert info is not None and set(info.verifiers) == panel
        assert {v for v, _ in info.commitments} == voters and not info.votes
        # Nobody can reveal (one commitment is missing) nor resolve before the phases end.
        with pytest.raises(DisputesTooEarlyError, match="VotingOpen"):
            await run(chain.disputes.resolve, requester_key, dispute_id)
        ticker.start()  # ... after which it resolves on the votes revealed: never stuck
        verdict = await r.wait_dispute(dispute_id, timeout=180)
        after = await run(snapshot, chain, accounts, verdict.block_number)
        events = await run(events_between, chain, before.block + 1, after.block)

    assert info.reveal_ends is not None
    assert verdict.block_number is not None and verdict.block_number > info.reveal_ends
    assert verdict.verdict == "Inconclusive" and verdict.worker == worker
    assert verdict.slashed == 0 and verdict.rewarded == ()
    revealed = named(events, "Disputes", "VoteRevealed")
    assert {str(e["verifier"]) for e in revealed} == voters
    assert all(e["result_hash"] == result and e["agrees"] is True for e in revealed)
    assert await run(chain.disputes.dispute, dispute_id) is None

    # Fewer than MinVerifiers votes: the challenger's stake went back; the silent
    # verifier lost its bond (burnt from its held stake), the voters kept theirs.
    (slashed,) = named(events, "Disputes", "VerifiersSlashed")
    assert slashed["dispute_id"] == dispute_id
    assert [(str(v), int(a)) for v, a in slashed["verifiers"]] == [(victim.address, verifier_bond)]
    fees = fees_by_account(events)
    assert set(fees) <= {me, *voters}  # the challenge, commits, reveals, a resolve
    assert_money(
        before,
        after,
        fees,
        free_delta={},
        reserved_delta={victim.address: -verifier_bond},
        burnt=verifier_bond,
    )
    failed_now = (await run(worker_info, chain, victim.address)).reputation.failed
    assert failed_now == reputations[victim.address].failed + 1

    # `ccnet dispute status`, from the block before the challenge: the silent verifier's
    # burnt bond, the voters' votes, nothing paid.
    status = await run(
        ccnet_json,
        private_chain,
        "dispute",
        "status",
        str(dispute_id),
        "--from-block",
        str(before.block),
    )
    assert status["verdict"] == "Inconclusive" and status["slashed"] == 0
    assert status["committed"] and set(status["committed"]) == voters
    assert {v["verifier"] for v in status["votes"]} == voters
    assert {(v, a) for v, a in status["verifiers_slashed"]} == pairs(slashed["verifiers"])
    payouts = {(p["account"], p["role"], p["paid"], p["slashed"]) for p in status["payouts"]}
    assert payouts == {
        (worker, "worker", 0, 0),
        (me, "challenger", 0, 0),
        (victim.address, "verifier", 0, verifier_bond),
        *((v, "verifier", 0, 0) for v in voters),
    }
    for voter in voters:
        assert (await run(worker_info, chain, voter)).reputation == reputations[voter]
