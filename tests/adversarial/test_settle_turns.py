"""Attack on the worker daemon's turn to finalize (``worker/onchain.py``): claimants of a
task finalize it in turns, one block apart in address order, instead of racing.

The attacker is a claimant whose address sorts **first**, so the turn rule makes every
honest claimant wait for it. It claims, commits and reveals the right result (to be
paid), then never finalizes, hoping to hold the task (and the honest worker's bond and
pay) hostage. The honest daemon, second in turn, finalizes one block after the
attacker's turn: the task completes, each winner is paid exactly the event's share,
the honest worker paid no fee for a refused finalize, and every balance is exact.

Runs on a private dev chain of its own, so the workers it registers are never drawn as
verifiers in other tests.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import pytest

from ccnet.client import CC, BlockTicker, Chain, Keypair, Keys
from ccnet.client.commitments import new_salt, result_commitment
from ccnet.client.jobs.catalogue import module_hash
from ccnet.client.jobs.jobspec import JobSpec
from ccnet.client.jobs.results import output_hash

if TYPE_CHECKING:  # mypy sees the checkout's tests package; pytest puts tests/ on sys.path
    from tests.fixtures.daemon import EventsSince, StartDaemon, WaitUntil
else:
    from fixtures.daemon import EventsSince, StartDaemon, WaitUntil

PRIME_N = 1000
PRIME_OUTPUT = b"168\n"  # primes below 1000


@pytest.fixture
def chain(private_chain: str) -> Iterator[Chain]:
    with Chain(private_chain) as chain:
        yield chain


def funded(chain: Chain, amount: int = 100 * CC) -> Keypair:
    keypair, _ = Keys.generate()
    chain.transfer(Keys.from_uri("//Ferdie"), str(keypair.ss58_address), amount)
    return keypair


def total(chain: Chain, who: str) -> int:
    """Free plus held planck of *who*."""
    account = chain.query("System", "Account", [who])
    assert account is not None
    data = account["data"]
    return int(data["free"]) + int(data["reserved"])


async def test_a_silent_first_claimant_cannot_hold_the_task(
    private_chain: str,
    chain: Chain,
    start_daemon: StartDaemon,
    job_wasm: Callable[[str], bytes],
    wait_until: WaitUntil,
    events_since: EventsSince,
    block_ticker: Callable[..., BlockTicker],
) -> None:
    requester, honest = funded(chain), funded(chain)
    attacker = funded(chain)
    while str(attacker.ss58_address) > str(honest.ss58_address):  # it must go first
        attacker = funded(chain)
    me, them = str(honest.ss58_address), str(attacker.ss58_address)
    start = chain.block_number()
    totals = {who: total(chain, who) for who in (me, them)}

    chain.credits.stake(attacker, 20 * CC)
    chain.tasks.register_worker(attacker, [b"wasm"], b"http://127.0.0.1:1/offer")
    block_ticker(private_chain)
    daemon = await start_daemon(
        honest,
        private_chain,
        requesters=frozenset({str(requester.ss58_address)}),
        verify_disputes=False,
        stake=20 * CC,
    )
    watcher = daemon.tasks
    assert watcher is not None

    spec = JobSpec.inline(module_hash(job_wasm("prime_count")), b"", (str(PRIME_N),)).encode()
    deadline = chain.block_number() + 15
    task_id = await asyncio.to_thread(
        chain.tasks.post, requester, b"wasm", spec, b"prime count", CC, deadline, 2
    )
    digest, salt = output_hash(PRIME_OUTPUT), new_salt()
    await asyncio.to_thread(chain.tasks.claim, attacker, task_id)
    commitment = result_commitment(task_id, them, digest, 7, salt)
    await asyncio.to_thread(chain.tasks.submit_result, attacker, task_id, commitment)

    def both_committed() -> bool:
        task = chain.tasks.task(task_id)
        return task is not None and task.commits == 2

    await wait_until(both_committed, "both claimants committed", timeout=120)
    await asyncio.to_thread(chain.tasks.reveal_result, attacker, task_id, digest, 7, salt)
    # ... and the attacker never finalizes.

    def finalized_by_the_daemon() -> bool:
        return task_id in watcher.finalized  # set once its finalize is in a block

    await wait_until(finalized_by_the_daemon, "the honest daemon finalized", timeout=180)
    task = chain.tasks.task(task_id)
    assert task is not None and task.status == "Completed"
    (done,) = events_since(chain, start, "Tasks", "TaskCompleted")
    assert set(done.attributes["workers"]) == {me, them}
    share = int(done.attributes["paid"])
    assert share == CC // 2
    # The honest daemon finalized, in its turn: one block after the attacker's.
    assert watcher.finalized == {task_id}
    assert done.block_number is not None
    assert done.block_number >= chain.tasks.times().challenge_ends(task) + 2
    refused = [
        e
        for e in events_since(chain, start, "System", "ExtrinsicFailed")
        if e.block_number is not None and e.block_number >= done.block_number - 2
    ]
    assert refused == [], "a refused finalize cost someone a fee"

    fees: dict[str, int] = {me: 0, them: 0}
    for event in events_since(chain, start, "TransactionPayment", "TransactionFeePaid"):
        who = str(event.attributes["who"])
        if who in fees:
            fees[who] += int(event.attributes["actual_fee"])
    # Stakes and the registration deposit stay held (counted in the totals); the claim
    # bonds are released; each winner gained exactly its share, less its own fees.
    assert total(chain, me) == totals[me] + share - fees[me]
    assert total(chain, them) == totals[them] + share - fees[them]
    await asyncio.to_thread(chain.tasks.deregister_worker, attacker)
