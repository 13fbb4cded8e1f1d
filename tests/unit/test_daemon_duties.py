"""The daemon's on-chain duties (ccnet.worker.onchain) against a faked chain: when a task
is (not) claimed, commit then reveal then finalize, the salt kept before the commitment
leaves, idempotency, verifier commit and reveal, registration. The real chain runs them in
tests/integration/test_daemon_onchain.py."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, cast

import pytest
from substrateinterface import Keypair

from ccnet.client import CC, Chain, ChainEvent, DisputeInfo, Keys, TaskInfo, WorkerInfo
from ccnet.client.commitments import result_commitment, vote_commitment
from ccnet.client.courtsecrets import CourtSecrets, ResultOpening
from ccnet.client.exceptions import DisputesError, TasksError
from ccnet.client.jobs.catalogue import module_hash
from ccnet.client.jobs.jobspec import JobSpec
from ccnet.client.jobs.results import output_hash
from ccnet.client.pallets import Assignment
from ccnet.client.pallets.tasks import Reputation, TaskTimes
from ccnet.worker.exceptions import RegistrationError
from ccnet.worker.executor import JobExecutor, ModuleStore
from ccnet.worker.onchain import (
    DisputeVerifier,
    InputFetcher,
    OnChainDuties,
    TaskWatcher,
    ensure_registered,
)
from ccnet.worker.sandbox import Sandbox

ALICE = Keys.from_uri("//Alice").ss58_address
EVE = Keys.from_uri("//Eve").ss58_address


@dataclass
class FakeTasks:
    """The court's task rules, as far as the daemon sees them."""

    me: str
    tasks_: dict[int, TaskInfo] = field(default_factory=dict)
    assigned: dict[tuple[int, str], Assignment] = field(default_factory=dict)
    workers: dict[str, WorkerInfo] = field(default_factory=dict)
    claims: list[int] = field(default_factory=list)
    commitments: dict[int, bytes] = field(default_factory=dict)
    results: dict[int, tuple[bytes, int]] = field(default_factory=dict)
    finalized: list[int] = field(default_factory=list)
    registered: list[tuple[str, tuple[bytes, ...], bytes]] = field(default_factory=list)
    refuse_claims: bool = False

    def task(self, task_id: int) -> TaskInfo | None:
        return self.tasks_.get(task_id)

    def tasks(self) -> list[TaskInfo]:
        return list(self.tasks_.values())

    def assignment(self, task_id: int, worker: str) -> Assignment | None:
        return self.assigned.get((task_id, worker))

    def assignments(self, task_id: int) -> list[Assignment]:
        return [a for (t, _), a in self.assigned.items() if t == task_id]

    def worker(self, address: str) -> WorkerInfo | None:
        return self.workers.get(address)

    def min_worker_stake(self) -> int:
        return 10 * CC

    def claim_bond(self) -> int:
        return 10 * CC

    def times(self) -> TaskTimes:
        return TaskTimes(10, 10, 100)

    def claim(self, keypair: Keypair, task_id: int) -> None:
        if self.refuse_claims:
            raise TasksError("Tasks", "TaskFullyClaimed", "no more claims")
        self.claims.append(task_id)
        self.assigned[(task_id, self.me)] = Assignment(task_id, self.me, None, None, False)
        t = self.tasks_[task_id]
        self.tasks_[task_id] = replace(t, claims=t.claims + 1)

    def submit_result(self, keypair: Keypair, task_id: int, commitment: bytes) -> None:
        self.commitments[task_id] = commitment
        a = self.assigned[(task_id, self.me)]
        self.assigned[(task_id, self.me)] = replace(a, commitment="0x" + commitment.hex())
        t = self.tasks_[task_id]
        self.tasks_[task_id] = replace(t, commits=t.commits + 1)

    def reveal_result(
        self, keypair: Keypair, task_id: int, digest: bytes, fuel: int, salt: bytes
    ) -> None:
        expected = result_commitment(task_id, self.me, digest, fuel, salt)
        if expected != self.commitments[task_id]:
            raise TasksError("Tasks", "BadReveal")
        self.results[task_id] = (digest, fuel)
        a = self.assigned[(task_id, self.me)]
        self.assigned[(task_id, self.me)] = replace(
            a, result_hash="0x" + digest.hex(), fuel_used=fuel
        )

    def finalize(self, keypair: Keypair, task_id: int) -> None:
        self.finalized.append(task_id)
        self.tasks_[task_id] = replace(self.tasks_[task_id], status="Completed")

    def register_worker(self, keypair: Keypair, caps: list[bytes], endpoint: bytes) -> None:
        self.registered.append(("register", tuple(caps), endpoint))
        self.workers[self.me] = worker_info(self.me, endpoint)

    def update_worker(self, keypair: Keypair, caps: list[bytes], endpoint: bytes) -> None:
        self.registered.append(("update", tuple(caps), endpoint))
        self.workers[self.me] = worker_info(self.me, endpoint)


@dataclass
class FakeCredits:
    stakes: dict[str, int] = field(default_factory=dict)
    bonded: dict[str, int] = field(default_factory=dict)

    def active_stake(self, address: str) -> int:
        return self.stakes.get(address, 0)

    def free_stake(self, address: str) -> int:
        return self.stakes.get(address, 0) - self.bonded.get(address, 0)

    def stake(self, keypair: Keypair, amount: int) -> None:
        address = str(keypair.ss58_address)
        self.stakes[address] = self.stakes.get(address, 0) + amount


@dataclass
class FakeDisputes:
    me: str
    open: dict[int, DisputeInfo] = field(default_factory=dict)
    commitments: dict[int, bytes] = field(default_factory=dict)
    votes: list[tuple[int, bytes]] = field(default_factory=list)
    resolved: list[int] = field(default_factory=list)

    def dispute(self, dispute_id: int) -> DisputeInfo | None:
        return self.open.get(dispute_id)

    def disputes(self) -> list[DisputeInfo]:
        return list(self.open.values())

    def commit_vote(self, keypair: Keypair, dispute_id: int, commitment: bytes) -> None:
        self.commitments[dispute_id] = commitment
        d = self.open[dispute_id]
        pair = (self.me, "0x" + commitment.hex())
        self.open[dispute_id] = replace(d, commitments=(*d.commitments, pair))

    def reveal_vote(self, keypair: Keypair, dispute_id: int, digest: bytes, salt: bytes) -> None:
        if vote_commitment(dispute_id, self.me, digest, salt) != self.commitments[dispute_id]:
            raise DisputesError("Disputes", "BadReveal")
        self.votes.append((dispute_id, digest))
        d = self.open[dispute_id]
        self.open[dispute_id] = replace(d, votes=(*d.votes, (self.me, "0x" + digest.hex())))

    def resolve(self, keypair: Keypair, dispute_id: int) -> None:
        self.resolved.append(dispute_id)
        del self.open[dispute_id]


class FakeChain:
    """Each look at the head moves it one block on (a block ticker)."""

    def __init__(self, me: str) -> None:
        self.tasks = FakeTasks(me)
        self.credits = FakeCredits()
        self.disputes = FakeDisputes(me)
        self.head = 10
        self.balance = 100 * CC
        self.ticking = True

    def block_number(self) -> int:
        if self.ticking:
            self.head += 1
        return self.head

    def free_balance(self, address: str) -> int:
        return self.balance


def api(fake: FakeChain) -> Chain:
    """The fake, typed as the chain it stands in for."""
    return cast(Chain, fake)


def worker_info(
    address: str, endpoint: bytes = b"http://x/offer", banned: int | None = None
) -> WorkerInfo:
    return WorkerInfo(address, (b"wasm",), endpoint, 1, Reputation(0, 0, 0, 0), 0, banned)


def task(task_id: int, spec: bytes, requester: str = ALICE, **kw: Any) -> TaskInfo:
    base = TaskInfo(task_id, requester, b"wasm", spec, b"", CC, 100, 1, 0, 0, "Open", None)
    return replace(base, **kw)


@pytest.fixture
def me(worker_key: Keypair) -> str:
    return str(worker_key.ss58_address)


@pytest.fixture
def chain(me: str) -> FakeChain:
    fake = FakeChain(me)
    fake.tasks.workers[me] = worker_info(me)
    fake.credits.stakes[me] = 10 * CC
    return fake


@pytest.fixture
def secrets(tmp_path: Path) -> CourtSecrets:
    return CourtSecrets(tmp_path / "court-secrets.json")


@pytest.fixture
def executor(sandbox: Sandbox, worker_key: Keypair, tmp_path: Path) -> JobExecutor:
    return JobExecutor(sandbox, worker_key, ModuleStore(tmp_path / "modules"))


@pytest.fixture
def prime_spec(job_wasm: Callable[[str], bytes]) -> Callable[[int], bytes]:
    digest = module_hash(job_wasm("prime_count"))
    return lambda n: JobSpec.inline(digest, b"", (str(n),)).encode()


async def test_claims_runs_commits_reveals_and_finalizes(
    chain: FakeChain,
    me: str,
    worker_key: Keypair,
    executor: JobExecutor,
    secrets: CourtSecrets,
    prime_spec: Callable[[int], bytes],
    tmp_path: Path,
) -> None:
    chain.tasks.tasks_[1] = task(1, prime_spec(100))
    watcher = TaskWatcher(
        api(chain),
        worker_key,
        executor,
        InputFetcher(),
        secrets,
        outputs_dir=tmp_path / "out",
        poll_interval=0.001,
    )
    watcher.on_event(ChainEvent("Tasks", "TaskPosted", {"task_id": 1}))
    watcher.on_event(ChainEvent("Tasks", "TaskPosted", {"task_id": 1}))  # handled once
    await watcher.idle()
    assert chain.tasks.claims == [1]
    digest = output_hash(b"25\n")
    assert chain.tasks.results[1][0] == digest  # the reveal opened the commitment
    assert chain.tasks.commitments[1] != digest  # what was committed hides the hash
    assert (tmp_path / "out" / "1.out").read_bytes() == b"25\n"
    assert watcher.submitted[1].output_hash == digest and watcher.active == 0
    assert watcher.revealed == {1} and watcher.finalized == {1}
    assert chain.tasks.finalized == [1] and chain.head >= 120  # included after block 120
    assert secrets.result(1) is None  # settled: the salt is forgotten
    await executor.close()


async def test_the_salt_is_kept_before_the_commitment_leaves(
    chain: FakeChain,
    me: str,
    worker_key: Keypair,
    executor: JobExecutor,
    secrets: CourtSecrets,
    prime_spec: Callable[[int], bytes],
    tmp_path: Path,
) -> None:
    chain.tasks.tasks_[1] = task(1, prime_spec(100), deadline=1000)
    kept: list[ResultOpening | None] = []

    def crash(keypair: Keypair, task_id: int, commitment: bytes) -> None:
        kept.append(CourtSecrets(secrets.path).result(task_id))  # on disk already
        raise TasksError("Tasks", "DeadlinePassed")

    chain.tasks.submit_result = crash  # type: ignore[method-assign]
    watcher = TaskWatcher(
        api(chain), worker_key, executor, InputFetcher(), secrets, poll_interval=0.001
    )
    watcher.on_event(ChainEvent("Tasks", "TaskPosted", {"task_id": 1}))
    await watcher.idle()
    (opening,) = kept
    assert opening is not None and opening.result_hash == output_hash(b"25\n")
    # A restart commits the kept opening (no second run), reveals and finalizes.
    del chain.tasks.submit_result
    chain.tasks.tasks_[1] = replace(chain.tasks.tasks_[1], deadline=100)
    again = TaskWatcher(
        api(chain), worker_key, executor, InputFetcher(), secrets, poll_interval=0.001
    )
    await again.scan()
    await again.idle()
    assert chain.tasks.results[1] == (opening.result_hash, opening.fuel_used)
    assert chain.tasks.finalized == [1]
    await executor.close()


async def test_what_is_not_claimed(
    chain: FakeChain,
    me: str,
    worker_key: Keypair,
    executor: JobExecutor,
    secrets: CourtSecrets,
    prime_spec: Callable[[int], bytes],
) -> None:
    chain.ticking = False
    spec = prime_spec(10)
    chain.tasks.tasks_ = {
        1: task(1, spec, requester=me),  # our own
        2: task(2, spec, requester=EVE),  # not an allowed requester
        3: task(3, b"ar://not-a-spec"),
        4: task(4, JobSpec.inline(bytes(32), b"").encode()),  # unknown module
        5: task(5, spec, claims=1),  # fully claimed
        6: task(6, spec, deadline=10),  # deadline reached
        7: task(7, spec, task_type=b"other"),
        8: task(8, spec, status="Completed"),
    }
    watcher = TaskWatcher(
        api(chain),
        worker_key,
        executor,
        InputFetcher(),
        secrets,
        requesters={ALICE, me},
    )
    await watcher.scan()
    await watcher.idle()
    assert chain.tasks.claims == [] and chain.tasks.results == {} and watcher.errors == 0
    await executor.close()


async def test_no_claims_without_free_stake_registration_or_capacity(
    chain: FakeChain,
    me: str,
    worker_key: Keypair,
    executor: JobExecutor,
    secrets: CourtSecrets,
    prime_spec: Callable[[int], bytes],
    caplog: pytest.LogCaptureFixture,
) -> None:
    chain.ticking = False
    chain.tasks.tasks_[1] = task(1, prime_spec(10))
    watcher = TaskWatcher(api(chain), worker_key, executor, InputFetcher(), secrets)
    chain.credits.stakes[me] = 25 * CC
    chain.credits.bonded[me] = 20 * CC  # two open claims: 5 CC free, the bond is 10
    with caplog.at_level("WARNING"):
        assert await watcher.consider(1) is None
    assert "free stake" in caplog.text and "claim bond" in caplog.text
    chain.credits.bonded[me] = 0
    chain.tasks.workers[me] = worker_info(me, banned=50)
    assert await watcher.consider(1) is None
    del chain.tasks.workers[me]
    assert await watcher.consider(1) is None
    chain.tasks.workers[me] = worker_info(me)
    watcher.active = watcher.max_claims
    assert await watcher.consider(1) is None
    watcher.active = 0
    decision = await watcher.consider(1)
    assert decision is not None and decision[1] is None
    chain.tasks.refuse_claims = True  # another worker won the race
    await watcher._handle(1)
    assert chain.tasks.results == {} and watcher.active == 0
    await executor.close()


async def test_a_claimed_but_unanswered_task_is_answered(
    chain: FakeChain,
    me: str,
    worker_key: Keypair,
    executor: JobExecutor,
    secrets: CourtSecrets,
    prime_spec: Callable[[int], bytes],
) -> None:
    chain.tasks.tasks_[3] = task(3, prime_spec(10), claims=1)
    chain.tasks.assigned[(3, me)] = Assignment(3, me, None, None, False)
    watcher = TaskWatcher(
        api(chain), worker_key, executor, InputFetcher(), secrets, poll_interval=0.001
    )
    await watcher.scan()
    await watcher.idle()
    assert chain.tasks.claims == [] and chain.tasks.results[3][0] == output_hash(b"4\n")
    await executor.close()


def dispute(dispute_id: int, task_id: int, verifiers: tuple[str, ...], **kw: Any) -> DisputeInfo:
    base = DisputeInfo(
        dispute_id,
        task_id,
        EVE,
        ALICE,
        10 * CC,
        "0x" + "22" * 32,
        None,
        None,
        False,
        None,
        30,
        40,
        verifiers,
        (),
        (),
    )
    return replace(base, **kw)


async def test_disputes_are_re_executed_committed_and_revealed_once(
    chain: FakeChain,
    me: str,
    worker_key: Keypair,
    executor: JobExecutor,
    secrets: CourtSecrets,
    prime_spec: Callable[[int], bytes],
) -> None:
    chain.tasks.tasks_[1] = task(1, prime_spec(1000))
    chain.disputes.open = {
        1: dispute(1, 1, (me,)),
        2: dispute(2, 1, (ALICE,)),  # not ours
        4: dispute(4, 1, (me,), commit_ends=5, reveal_ends=6),  # voting over
        5: dispute(5, 99, (me,)),  # task gone
        6: dispute(6, 1, (me,), commit_ends=None, reveal_ends=None, draw_at=50),  # not drawn
    }
    verifier = DisputeVerifier(
        api(chain), worker_key, executor, InputFetcher(), secrets, poll_interval=0.001
    )
    await verifier.scan()
    drawn = {"dispute_id": 1, "verifiers": [me]}
    verifier.on_event(ChainEvent("Disputes", "VerifiersDrawn", drawn))
    verifier.on_event(ChainEvent("Disputes", "VerifiersDrawn", {"dispute_id": 2, "verifiers": []}))
    await verifier.idle()
    assert chain.disputes.votes == [(1, output_hash(b"168\n"))]
    assert chain.disputes.commitments[1] != output_hash(b"168\n")
    assert set(verifier.votes) == {1} and not verifier.votes[1].agrees
    assert verifier.revealed == {1} and chain.disputes.resolved == [1]  # due: resolved
    assert secrets.vote(1) is None
    assert verifier.errors == 0
    await executor.close()


async def test_duties_follow_the_chain_and_stop(
    chain: FakeChain, worker_key: Keypair, executor: JobExecutor, secrets: CourtSecrets
) -> None:
    chain.ticking = False
    seen: list[ChainEvent] = []

    class Subscription:
        def __init__(self, deliver: Callable[[ChainEvent], None]) -> None:
            self.deliver = deliver
            self.stopped = False
            self.error = None

        def stop(self, timeout: float | None = None) -> None:
            self.stopped = True

    subscriptions: list[Subscription] = []

    def subscribe_events(
        deliver: Callable[[ChainEvent], None], pallets: list[str], names: list[str], **kw: Any
    ) -> Subscription:
        assert set(pallets) == {"Tasks", "Disputes"} and kw["from_block"] == chain.head + 1
        subscriptions.append(Subscription(deliver))
        return subscriptions[-1]

    chain.subscribe_events = subscribe_events  # type: ignore[attr-defined]
    watcher = TaskWatcher(api(chain), worker_key, executor, InputFetcher(), secrets)
    watcher.on_event = seen.append  # type: ignore[method-assign,assignment]
    verifier = DisputeVerifier(api(chain), worker_key, executor, InputFetcher(), secrets)
    duties = OnChainDuties(api(chain), tasks=watcher, disputes=verifier)
    await duties.start()
    event = ChainEvent("Tasks", "TaskPosted", {"task_id": 5})
    await asyncio.to_thread(subscriptions[0].deliver, event)
    for _ in range(50):
        if seen:
            break
        await asyncio.sleep(0.01)
    assert seen == [event]
    await duties.stop()
    assert subscriptions[0].stopped
    await executor.close()


def test_ensure_registered(chain: FakeChain, me: str, worker_key: Keypair) -> None:
    del chain.tasks.workers[me]
    chain.credits.stakes[me] = 4 * CC
    first = ensure_registered(
        api(chain),
        worker_key,
        capabilities=[b"wasm"],
        endpoint="http://127.0.0.1:1/offer",
        stake=12 * CC,
    )
    assert (first.action, first.stake, first.staked_now) == ("registered", 12 * CC, 8 * CC)
    same = ensure_registered(
        api(chain),
        worker_key,
        capabilities=[b"wasm"],
        endpoint="http://127.0.0.1:1/offer",
    )
    assert (same.action, same.staked_now) == ("unchanged", 0)
    moved = ensure_registered(
        api(chain),
        worker_key,
        capabilities=[b"wasm"],
        endpoint="http://127.0.0.1:2/offer",
    )
    assert moved.action == "updated"
    assert [r[0] for r in chain.tasks.registered] == ["register", "update"]
    chain.balance = CC
    with pytest.raises(RegistrationError, match="fund the account"):
        ensure_registered(
            api(chain),
            worker_key,
            capabilities=[b"wasm"],
            endpoint="x",
            stake=50 * CC,
        )
