"""Attacks on the money of a real worker daemon (``ccnet worker run`` as its own process)
and of an honest requester (the SDK), on the real runtime (Chopsticks dev chain).

What each attacker tries, and what stops it:

1. **Stale close** (a malicious requester, :class:`~.rogue_requester.RogueRequester`): it
   pays for several jobs, then closes its channel unilaterally with version 0 (its whole
   deposit back) while the worker is not looking at it. The daemon's embedded channel
   watcher (:mod:`ccnet.worker.channelwatch`) sees the close and registers its newest
   co-signed state before the challenge period ends, then settles: the worker holds
   exactly its latest balance.
2. **Over-billing** (a malicious worker, ``rogue_worker.py``: the real daemon with a lie):
   its signed result claims more fuel than the job's limit (a bill beyond the job's
   reservation), or its ``job_failed`` claims ten times the limit. The honest requester
   (:class:`~ccnet.client.requester.Requester`) rejects the claim
   (:class:`~ccnet.client.requester.FuelClaimError`) and pays no failure: its channel
   closes on its whole deposit.
3. **Work for nothing**: a key with no channel gets no job at all (paid jobs only); a
   requester with a funded channel that never pays gets at most the configured unpaid
   jobs (here 2, of 6 asked at once), then refusals, and no more than 4 sessions
   (:mod:`ccnet.worker.admission`, the signaling endpoint's cap per key).
   The same close made **while the daemon is down** is answered by its start-up
   sweep; with the watcher off, an external ``ccnet watchtower run`` that the daemon
   hands its states to (``--tower-db``) answers it instead.
4. **Forged proofs** (``rogue_worker.py`` again): an honest result with a Groth16 proof
   that is wrong in a way a careless decoder would miss: A's x written as x + q, B on
   the twist outside G2's subgroup, or a valid proof of the next task with its task
   signal rewritten. The requester's default checker, the native verifier
   (:class:`ccnet.zk.NativeVerifier`), rejects each and nothing is paid.
5. **A channel the worker cannot watch**: opened with the chain's shortest challenge
   period (10 blocks, below the daemon's 15 = 1 s polls x 90); the daemon refuses to
   bind it, so it serves nothing on it.

Each test ends with both accounts' free and held balances exact to the planck, fees of
every extrinsic included (the daemon's are read from the chain's
``TransactionFeePaid`` events, since it runs in another process).
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from ccnet.channels.testing import Ledger, Members
from ccnet.client import CC, Chain, ChainEvent, Keypair, Keys
from ccnet.client.jobs.catalogue import load_job
from ccnet.client.jobs.messages import JobFailed, JobResult
from ccnet.client.jobs.results import SignedResult
from ccnet.client.net.exceptions import SignalingError
from ccnet.client.net.webrtc import PeerSession
from ccnet.client.requester import FuelClaimError, Rejected, Requester, TaskOutcome
from ccnet.zk import NativeVerifier

from .rogue_requester import RogueRequester

if TYPE_CHECKING:  # mypy sees the checkout's tests package; pytest puts tests/ on sys.path
    from tests.fixtures.daemon import EventsSince, RunWorker, WaitUntil
else:
    from fixtures.daemon import EventsSince, RunWorker, WaitUntil

DEPOSIT = 10 * CC
FUEL = 10**9
"""Fuel limit of every job: its reservation is 10**9 planck at 1 planck per fuel."""
ROGUE_WORKER = Path(__file__).with_name("rogue_worker.py")


def fees_of(events: list[ChainEvent], who: str) -> int:
    """Planck *who* paid in fees (``actual_fee``, tip included) in *events*."""
    return sum(int(e.attributes["actual_fee"]) for e in events if str(e.attributes["who"]) == who)


def worker_fees(chain: Chain, events_since: EventsSince, who: str, first_block: int) -> int:
    return fees_of(
        events_since(chain, first_block, "TransactionPayment", "TransactionFeePaid"), who
    )


async def paid_jobs(attacker: RogueRequester, session: PeerSession, cid: bytes, count: int) -> int:
    """*count* prime_count jobs, each paid its price (1 planck per fuel); the total."""
    prime = load_job("prime_count")
    paid = 0
    for n in range(1, count + 1):
        job = attacker.job(prime, str(1000 * n), channel_id=cid, fuel=FUEL)
        reply = (await attacker.ask(session, [job]))[job.job_id]
        assert isinstance(reply, JobResult), reply
        price = SignedResult.from_json(reply.result).fuel_used
        assert 0 < price <= FUEL
        await attacker.party.pay(cid, price, memo=f"job {n}")
        paid += price
    assert attacker.party.channel(cid).latest.version == count
    return paid


async def settled_exactly(
    chain: Chain,
    ledger: Ledger,
    events_since: EventsSince,
    wait_until: WaitUntil,
    *,
    cid: bytes,
    first: int,
    version: int,
    paid: int,
    before: dict[str, tuple[int, int]],
    worker: str,
    attacker: RogueRequester,
    what: str = "the daemon's settle",
) -> int:
    """Let the challenge period pass and wait for *cid*'s settle: it closed at *version*
    with *paid* planck to the worker, whose free balance moved by exactly *paid* less
    its fees and the attacker's by *paid* plus its fees (held balances unchanged).
    Returns the worker's fees since block *first*."""
    chain.new_blocks(chain.channels.challenge_period())
    await wait_until(lambda: chain.channels.channel(cid) is None, what)
    (closed,) = events_since(chain, first, "Channels", "ChannelClosed")
    assert (closed.attributes["version"], int(closed.attributes["balance_b"])) == (version, paid)
    fees = worker_fees(chain, events_since, worker, first)
    free, held = before[worker]
    assert ledger.balances(worker) == (free - fees + paid, held)
    free, held = before[attacker.address]
    assert ledger.balances(attacker.address) == (free - attacker.fees - paid, held)
    return fees


def registered(chain: Chain, cid: bytes) -> int:
    """The version registered for closing channel *cid* (-1: not closing)."""
    info = chain.channels.channel(cid)
    return -1 if info is None or info.closing is None else info.closing.version


@pytest.fixture
def rogue(ccnet_chain: Chain, make_member: Members) -> Callable[[], RogueRequester]:
    def make() -> RogueRequester:
        member = make_member()
        return RogueRequester(member.keypair, ccnet_chain, member)

    return make


async def test_stale_close_after_payments_is_answered_by_the_daemon(
    ccnet_chain: Chain,
    ledger: Ledger,
    run_worker: RunWorker,
    rogue: Callable[[], RogueRequester],
    wait_until: WaitUntil,
    events_since: EventsSince,
) -> None:
    """Three paid jobs, then ``close_unilateral`` with version 0: the daemon registers
    version 3 and settles; it ends with exactly the three payments."""
    chain = ccnet_chain
    worker = await run_worker()
    attacker = rogue()
    first = chain.block_number() + 1
    before = {a: ledger.balances(a) for a in (worker.address, attacker.address)}
    session = await attacker.connect(worker.signaling_url, worker.address)
    cid = await attacker.open_channel(worker.address, DEPOSIT, session)
    paid = await paid_jobs(attacker, session, cid, 3)
    await attacker.close()  # gone, as if it never meant to come back

    closing = attacker.close_with_opening_state(cid, DEPOSIT)
    assert closing.expect("Channels", "ChannelClosing")["version"] == 0
    await wait_until(lambda: registered(chain, cid) == 3, "the daemon's challenge")
    (challenged,) = events_since(chain, first, "Channels", "ChannelChallenged")
    assert str(challenged.attributes["challenger"]) == worker.address
    fees = await settled_exactly(
        chain, ledger, events_since, wait_until, cid=cid, first=first, version=3, paid=paid,
        before=before, worker=worker.address, attacker=attacker,
    )  # fmt: skip
    assert fees > 0  # the challenge and the settle were the daemon's


async def test_stale_close_while_the_daemon_is_down_is_answered_at_its_start(
    ccnet_chain: Chain,
    ledger: Ledger,
    run_worker: RunWorker,
    rogue: Callable[[], RogueRequester],
    wait_until: WaitUntil,
    events_since: EventsSince,
) -> None:
    """Two paid jobs; the daemon stops; the attacker closes with version 0; the daemon
    starts again within the period: its sweep registers version 2 before it serves."""
    chain = ccnet_chain
    worker = await run_worker()
    attacker = rogue()
    first = chain.block_number() + 1
    before = {a: ledger.balances(a) for a in (worker.address, attacker.address)}
    session = await attacker.connect(worker.signaling_url, worker.address)
    cid = await attacker.open_channel(worker.address, DEPOSIT, session)
    paid = await paid_jobs(attacker, session, cid, 2)
    await attacker.close()
    assert await worker.stop() == 0

    attacker.close_with_opening_state(cid, DEPOSIT)
    chain.new_blocks(5)  # the period (20 blocks) is not over
    again = await run_worker(again=worker)
    assert registered(chain, cid) == 2  # answered during the start, before "ready"
    (challenged,) = events_since(chain, first, "Channels", "ChannelChallenged")
    assert str(challenged.attributes["challenger"]) == worker.address
    assert again.address == worker.address
    await settled_exactly(
        chain, ledger, events_since, wait_until, cid=cid, first=first, version=2, paid=paid,
        before=before, worker=worker.address, attacker=attacker,
    )  # fmt: skip


async def test_with_the_watcher_off_an_external_watchtower_answers(
    devchain: str,
    ccnet_chain: Chain,
    ledger: Ledger,
    run_worker: RunWorker,
    rogue: Callable[[], RogueRequester],
    wait_until: WaitUntil,
    events_since: EventsSince,
    tmp_path: Path,
) -> None:
    """``--no-watch-channels --tower-db FILE``: the daemon hands each co-signed state to
    a ``ccnet watchtower run --settle`` process, which answers the stale close and
    settles; the worker pays no fee at all and ends with exactly its two payments."""
    chain = ccnet_chain
    db = tmp_path / "tower.db"
    worker = await run_worker("--no-watch-channels", "--tower-db", str(db))
    tower_uri = f"//ccnet-tower-{os.urandom(6).hex()}"
    tower_key = Keys.from_uri(tower_uri)
    chain.transfer(Keys.from_uri("//Ferdie"), str(tower_key.ss58_address), 100 * CC)
    command = [sys.executable, "-m", "ccnet.client", "--url", devchain, "watchtower", "run"]
    command += ["--key", tower_uri, "--db", str(db), "--settle", "--poll-interval", "0.25"]
    env = {**os.environ, "CCNET_CONFIG": str(tmp_path / "config.toml")}
    env["CCNET_KEYSTORE"] = str(tmp_path / "keystore")
    tower = await asyncio.create_subprocess_exec(
        *command, stderr=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, env=env
    )
    try:
        assert tower.stderr is not None
        line = await asyncio.wait_for(tower.stderr.readline(), 60)
        assert b"watching" in line, line
        attacker = rogue()
        first = chain.block_number() + 1
        before = {a: ledger.balances(a) for a in (worker.address, attacker.address)}
        session = await attacker.connect(worker.signaling_url, worker.address)
        cid = await attacker.open_channel(worker.address, DEPOSIT, session)
        paid = await paid_jobs(attacker, session, cid, 2)
        await attacker.close()

        attacker.close_with_opening_state(cid, DEPOSIT)
        await wait_until(lambda: registered(chain, cid) == 2, "the tower's challenge")
        (challenged,) = events_since(chain, first, "Channels", "ChannelChallenged")
        assert str(challenged.attributes["challenger"]) == str(tower_key.ss58_address)
        chain.new_blocks(chain.channels.challenge_period())
        await wait_until(lambda: chain.channels.channel(cid) is None, "the tower's settle")
    finally:
        if tower.returncode is None:
            tower.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(tower.wait(), 60) == 0

    assert worker_fees(chain, events_since, worker.address, first) == 0
    free, held = before[worker.address]
    assert ledger.balances(worker.address) == (free + paid, held)
    free, held = before[attacker.address]
    assert ledger.balances(attacker.address) == (free - attacker.fees - paid, held)


Verdict = Callable[[TaskOutcome], None]
"""Checks a rogue worker's outcome (raises AssertionError)."""


async def a_rogue_is_paid_nothing(
    mode: str,
    chain: Chain,
    ledger: Ledger,
    run_worker: RunWorker,
    fund_account: Callable[..., Keypair],
    events_since: EventsSince,
    tmp_path: Path,
    verdict: Verdict,
    **job: object,
) -> None:
    """Run one prime_count job (*job*: more of ``submit``'s options) on the rogue worker
    of *mode*, check its outcome with *verdict*, then that nothing was paid: the channel
    closes on its whole deposit at version 0, the worker's balances are unchanged (no
    fees either) and the requester paid its fees only."""
    worker = await run_worker(program=ROGUE_WORKER, env={"CCNET_ROGUE_MODE": mode})
    keypair = fund_account()
    requester = str(keypair.ss58_address)
    first = chain.block_number() + 1
    before = {a: ledger.balances(a) for a in (worker.address, requester)}
    bootstrap = [(str(worker.ready["dht_host"]), int(worker.ready["dht_port"]))]
    async with Requester(
        chain,
        keypair,
        dht_bootstrap=bootstrap,
        state_dir=tmp_path / "requester",
        deposit_per_channel=DEPOSIT,
        job_timeout=90,
    ) as honest:
        offers = [o for o in await honest.find_workers() if o.address == worker.address]
        assert len(offers) == 1
        outcome = await honest.submit(
            "prime_count",
            args=["1000"],
            fuel_limit=FUEL,
            workers=offers,
            **job,  # type: ignore[arg-type]
        )
        verdict(outcome)
        report = outcome.results[worker.address]
        assert not outcome.verified and outcome.cost_planck == 0 and report.paid == 0
        (channel,) = honest.party.channels
        assert (channel.balance, channel.latest.version) == (DEPOSIT, 0)
        receipts = await honest.close_channels()
        assert len(receipts) == 1
        fees = sum(r.fee for r in honest.party.receipts)

    assert worker_fees(chain, events_since, worker.address, first) == 0
    assert ledger.balances(worker.address) == before[worker.address]
    free, held = before[requester]
    assert ledger.balances(requester) == (free - fees, held)


@pytest.mark.parametrize("mode", ["overfuel", "failed-overbill"])
async def test_an_over_billing_worker_is_paid_nothing(
    mode: str,
    ccnet_chain: Chain,
    ledger: Ledger,
    run_worker: RunWorker,
    fund_account: Callable[..., Keypair],
    events_since: EventsSince,
    tmp_path: Path,
) -> None:
    """The rogue worker claims fuel limit + 1 (a valid signature over a lie), or fails
    claiming ten times the limit: the requester pays nothing, its channel closes on the
    whole deposit."""

    def verdict(outcome: TaskOutcome) -> None:
        (report,) = outcome.results.values()
        if mode == "overfuel":
            assert report.status == "invalid" and isinstance(report.error, FuelClaimError)
            assert (report.error.fuel_used, report.error.fuel_limit) == (FUEL + 1, FUEL)
        else:
            assert (report.status, report.fuel_used) == ("failed", 10 * FUEL)

    await a_rogue_is_paid_nothing(
        mode,
        ccnet_chain,
        ledger,
        run_worker,
        fund_account,
        events_since,
        tmp_path,
        verdict,
        verify="none",
    )


@pytest.mark.parametrize("mode", ["proof-alias", "proof-off-subgroup", "proof-other-task"])
async def test_a_forged_proof_is_paid_nothing(
    mode: str,
    ccnet_chain: Chain,
    ledger: Ledger,
    run_worker: RunWorker,
    fund_account: Callable[..., Keypair],
    events_since: EventsSince,
    tmp_path: Path,
) -> None:
    """The rogue worker returns the right output with a forged poseidon_commit proof:
    the requester's native verifier rejects it, the result is unpaid and the channel
    closes on the whole deposit."""
    NativeVerifier()  # the requester's default checker here (the extension is installed)

    def verdict(outcome: TaskOutcome) -> None:
        assert isinstance(outcome.verification, Rejected)
        (report,) = outcome.results.values()
        # x + q is refused as it is read, before any curve arithmetic; the others reach
        # the pairing check (or the subgroup check before it) and fail there.
        why = "pi_a: out of range" if mode == "proof-alias" else "proof does not verify"
        assert report.status == "invalid" and why in report.reason, report.reason

    await a_rogue_is_paid_nothing(
        mode,
        ccnet_chain,
        ledger,
        run_worker,
        fund_account,
        events_since,
        tmp_path,
        verdict,
        verify="proof",
        proof="poseidon_commit",
    )


async def test_no_channel_no_work_and_unpaid_work_is_capped(
    ccnet_chain: Chain,
    ledger: Ledger,
    run_worker: RunWorker,
    rogue: Callable[[], RogueRequester],
    wait_until: WaitUntil,
    events_since: EventsSince,
) -> None:
    """A key with no channel gets nothing; a requester that never pays gets 2 results
    of 6 asked at once, then refusals, and no fifth session."""
    chain = ccnet_chain
    worker = await run_worker("--max-unpaid-jobs", "2")
    prime = load_job("prime_count")

    unfunded = RogueRequester(Keys.generate()[0], chain)  # no money, no channel
    free_ride = await unfunded.connect(worker.signaling_url, worker.address)
    try:
        jobs = [unfunded.job(prime, "1000", channel_id=None, fuel=FUEL) for _ in range(3)]
        jobs.append(unfunded.job(prime, "1000", channel_id=bytes(32), fuel=FUEL))
        answers = await unfunded.ask(free_ride, jobs)
    finally:
        await unfunded.close()
    assert all(isinstance(a, JobFailed) and a.code == "payment" for a in answers.values())
    texts = [a.message for a in answers.values() if isinstance(a, JobFailed)]
    assert sum("paid jobs only" in t for t in texts) == 3
    assert sum("not open on chain" in t for t in texts) == 1

    attacker = rogue()
    first = chain.block_number() + 1
    before = {a: ledger.balances(a) for a in (worker.address, attacker.address)}
    session = await attacker.connect(worker.signaling_url, worker.address)
    cid = await attacker.open_channel(worker.address, DEPOSIT, session)
    asked = [attacker.job(prime, "1000", channel_id=cid, fuel=FUEL) for _ in range(6)]
    answers = await attacker.ask(session, asked)
    results = [a for a in answers.values() if isinstance(a, JobResult)]
    refused = [a for a in answers.values() if isinstance(a, JobFailed)]
    assert (len(results), len(refused)) == (2, 4)
    assert all(a.code == "payment" and "2 unpaid job(s)" in a.message for a in refused)
    later = attacker.job(prime, "1000", channel_id=cid, fuel=FUEL)
    again = (await attacker.ask(session, [later]))[later.job_id]
    assert isinstance(again, JobFailed) and "2 unpaid job(s)" in again.message

    for _ in range(3):  # four sessions per key (the default cap), not five
        await attacker.connect(worker.signaling_url, worker.address)
    with pytest.raises(SignalingError) as busy:
        await attacker.connect(worker.signaling_url, worker.address)
    assert busy.value.status == 503
    await attacker.close()

    # It paid nothing, so version 0 is its latest state: a fair close, nothing to answer.
    attacker.close_with_opening_state(cid, DEPOSIT)
    await settled_exactly(  # the worker's fees: its settle, if it won the race
        chain, ledger, events_since, wait_until, cid=cid, first=first, version=0, paid=0,
        before=before, worker=worker.address, attacker=attacker, what="the settle",
    )  # fmt: skip
    assert not events_since(chain, first, "Channels", "ChannelChallenged")


async def test_paying_for_cheap_results_never_frees_a_dear_one(
    ccnet_chain: Chain,
    ledger: Ledger,
    run_worker: RunWorker,
    rogue: Callable[[], RogueRequester],
    wait_until: WaitUntil,
    events_since: EventsSince,
) -> None:
    """Payments name no job, so the daemon matches them to results cheapest first. The
    attacker (limit 2) takes a dear result and a cheap one, pays one planck short of
    the cheap one (refused), then the cheap one exactly (a place frees, as for an honest
    requester paying out of order), then only dust: the dear result keeps its place, no
    third unpaid job runs, and a stale close leaves the daemon exactly what was paid."""
    chain = ccnet_chain
    worker = await run_worker("--max-unpaid-jobs", "2")
    prime = load_job("prime_count")
    attacker = rogue()
    first = chain.block_number() + 1
    before = {a: ledger.balances(a) for a in (worker.address, attacker.address)}
    session = await attacker.connect(worker.signaling_url, worker.address)
    cid = await attacker.open_channel(worker.address, DEPOSIT, session)

    async def one(*args: str) -> JobResult | JobFailed:
        job = attacker.job(prime, *args, channel_id=cid, fuel=FUEL)
        return (await attacker.ask(session, [job]))[job.job_id]

    dear, cheap = await one("20000"), await one("100")
    assert isinstance(dear, JobResult) and isinstance(cheap, JobResult)
    cheap_price = SignedResult.from_json(cheap.result).fuel_used  # 1 planck per fuel
    assert cheap_price < SignedResult.from_json(dear.result).fuel_used
    await attacker.party.pay(cid, cheap_price - 1, memo="one short")
    short = await one("100")
    assert isinstance(short, JobFailed) and "2 unpaid job(s)" in short.message
    await attacker.party.pay(cid, 1, memo="the rest")
    assert isinstance(await one("100"), JobResult)  # the cheap one's place
    for n in range(3):
        await attacker.party.pay(cid, 1, memo=f"dust {n}")
    refused = await one("100")
    assert isinstance(refused, JobFailed) and "2 unpaid job(s)" in refused.message
    paid = cheap_price + 3
    await attacker.close()

    attacker.close_with_opening_state(cid, DEPOSIT)
    await wait_until(lambda: registered(chain, cid) == 5, "the daemon's challenge")
    await settled_exactly(
        chain, ledger, events_since, wait_until, cid=cid, first=first, version=5, paid=paid,
        before=before, worker=worker.address, attacker=attacker, what="the settle",
    )  # fmt: skip


async def test_a_channel_with_a_too_short_challenge_period_is_refused(
    ccnet_chain: Chain,
    ledger: Ledger,
    run_worker: RunWorker,
    rogue: Callable[[], RogueRequester],
    events_since: EventsSince,
) -> None:
    """Root sets the chain's shortest period (10 blocks) for new channels; the daemon
    (15 blocks at least) refuses to bind such a channel and runs nothing on it."""
    chain = ccnet_chain
    worker = await run_worker()
    assert worker.ready["min_challenge_blocks"] == 15 and worker.ready["watch_channels"]
    assert (worker.ready["free_jobs"], worker.ready["max_unpaid_jobs"]) == (False, 4)
    attacker = rogue()
    sudo = Keys.from_uri("//Alice")
    period = chain.channels.challenge_period()
    shortest = chain.channels.min_challenge_period()
    first = chain.block_number() + 1
    before = {a: ledger.balances(a) for a in (worker.address, attacker.address)}
    session = await attacker.connect(worker.signaling_url, worker.address)
    chain.channels.set_challenge_period(sudo, shortest)
    try:
        cid = await attacker.open_channel(worker.address, DEPOSIT, session)
    finally:
        chain.channels.set_challenge_period(sudo, period)
    info = chain.channels.channel(cid)
    assert info is not None and info.challenge_period == shortest == 10
    job = attacker.job(load_job("prime_count"), "1000", channel_id=cid, fuel=FUEL)
    reply = (await attacker.ask(session, [job]))[job.job_id]
    assert isinstance(reply, JobFailed) and reply.code == "payment"
    assert "challenge period of 10 blocks" in reply.message
    assert "at least 15 blocks" in reply.message
    await attacker.close()

    attacker.close_with_opening_state(cid, DEPOSIT)
    chain.new_blocks(shortest)
    attacker.settle(cid)
    assert chain.channels.channel(cid) is None
    assert worker_fees(chain, events_since, worker.address, first) == 0
    assert ledger.balances(worker.address) == before[worker.address]
    free, held = before[attacker.address]
    assert ledger.balances(attacker.address) == (free - attacker.fees, held)
