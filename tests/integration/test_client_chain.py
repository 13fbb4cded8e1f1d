"""ccnet.client against the real runtime on the dev chain: one typed call per pallet with
decoded events, typed readers, dispatch errors as pallet exceptions, events, dead chains.

Each test funds fresh accounts (``fund_account``), so it does not depend on other tests.
"""

from __future__ import annotations

import asyncio
import hashlib
import threading
from typing import Protocol

import pytest
from aiohttp import ClientSession, WSMsgType, web

from ccnet.channels import ChannelState
from ccnet.channels import sign_close as channel_sign_close
from ccnet.client import (
    CC,
    Chain,
    ChainConnectionError,
    ChainEvent,
    ChainRequestError,
    ChannelsError,
    CheckpointsError,
    CourtTooEarlyError,
    CreditsError,
    ExtrinsicError,
    Keypair,
    Keys,
    StakeBondedError,
    TasksError,
    channel_id_of,
)
from ccnet.client.chain import Wait
from ccnet.client.commitments import (
    expected_commitment,
    new_salt,
    result_commitment,
    vote_commitment,
)
from ccnet.client.devchain import free_port
from ccnet.client.exceptions import (
    DisputesBadRevealError,
    DisputesTooEarlyError,
    TasksBadRevealError,
)


class Funder(Protocol):
    """The ``fund_account`` fixture (tests/fixtures/client.py)."""

    keys: dict[str, Keypair]

    def __call__(self, amount: int = ...) -> Keypair: ...


def digest(label: str) -> bytes:
    return hashlib.sha256(label.encode()).digest()


def sign_close(
    chain: Chain, signer: Keypair, channel_id: bytes, version: int, a: int, b: int
) -> bytes:
    """*signer*'s agreement to close with this state (cooperative_close accepts only
    close-domain signatures)."""
    state = ChannelState(channel_id=channel_id, version=version, balance_a=a, balance_b=b)
    return channel_sign_close(signer, chain.genesis_hash, state)


def become_worker(chain: Chain, keypair: Keypair) -> None:
    chain.credits.stake(keypair, chain.tasks.min_worker_stake())
    chain.tasks.register_worker(keypair, [b"wasm"], f"http://127.0.0.1/{keypair.ss58_address}")


def test_chain_facts(ccnet_chain: Chain) -> None:
    assert len(ccnet_chain.genesis_hash) == 32
    assert ccnet_chain.genesis_hash == bytes.fromhex(ccnet_chain.block_hash(0)[2:])
    assert ccnet_chain.channels.challenge_period() == 20  # the development preset
    assert ccnet_chain.channels.min_challenge_period() == 10
    assert ccnet_chain.channels.record_deposit() == CC // 100
    assert ccnet_chain.free_balance(Keys.from_uri("//Alice").ss58_address) > 0
    assert ccnet_chain.query("Tasks", "Workers", [Keys.generate()[0].ss58_address]) is None
    before = ccnet_chain.block_number()
    ccnet_chain.new_blocks(2)
    assert ccnet_chain.block_number() == before + 2


def test_credits(ccnet_chain: Chain, fund_account: Funder) -> None:
    alice, bob = fund_account(), fund_account()
    with pytest.raises(CreditsError) as info:
        ccnet_chain.credits.unstake(alice, CC)  # nothing staked
    assert (info.value.pallet, info.value.name) == ("Credits", "InsufficientStake")
    assert info.value.docs == "The account has less active stake than requested."
    assert str(info.value) == (
        "Credits.InsufficientStake: The account has less active stake than requested."
    )

    receipt = ccnet_chain.credits.stake(alice, 30 * CC)
    staked = receipt.find("Credits", "Staked")
    assert staked is not None
    assert staked.attributes == {"who": alice.ss58_address, "amount": 30 * CC}
    assert receipt.fee > 0 and receipt.block_hash.startswith("0x")
    unbonded = ccnet_chain.credits.unstake(alice, 10 * CC).find("Credits", "Unbonded")
    assert unbonded is not None
    stake = ccnet_chain.credits.stake_of(alice.ss58_address)
    assert stake is not None and stake.active == 20 * CC
    assert [c.amount for c in stake.unbonding] == [10 * CC]
    assert stake.unbonding[0].unlock_at == unbonded["unlock_at"]
    with pytest.raises(CreditsError, match="NothingToWithdraw"):
        ccnet_chain.credits.withdraw_unbonded(alice)

    ccnet_chain.credits.credit_worker(alice, bob.ss58_address, 2 * CC)
    assert ccnet_chain.credits.debt(alice.ss58_address, bob.ss58_address) == 2 * CC
    settled = ccnet_chain.credits.settle_debt(alice, bob.ss58_address, 2 * CC)
    assert settled.find("Credits", "DebtSettled") is not None
    assert ccnet_chain.credits.debt(alice.ss58_address, bob.ss58_address) == 0


def test_tasks(ccnet_chain: Chain, fund_account: Funder) -> None:
    """The whole life of a task: claim (bond), commit, reveal, finalize, reap."""
    worker, requester = fund_account(), fund_account()
    become_worker(ccnet_chain, worker)
    info = ccnet_chain.tasks.worker(worker.ss58_address)
    assert info is not None and info.capabilities == (b"wasm",) and info.active_claims == 0
    assert worker.ss58_address in ccnet_chain.tasks.worker_list()
    assert worker.ss58_address in {w.address for w in ccnet_chain.tasks.workers()}
    times = ccnet_chain.tasks.times()
    assert (times.reveal_period, times.challenge_window, times.retention) == (10, 10, 100)

    deadline = ccnet_chain.block_number() + 50
    receipt = ccnet_chain.tasks.post_task(
        requester, b"wasm", b"ar://input", b"sha256", 5 * CC, deadline, 1
    )
    posted = receipt.find("Tasks", "TaskPosted")
    assert posted is not None and posted.attributes["requester"] == requester.ss58_address
    task_id = posted.attributes["task_id"]
    assert ccnet_chain.tasks.posted_task_id(receipt) == task_id

    bond = ccnet_chain.tasks.claim_bond()
    claimed = ccnet_chain.tasks.claim(worker, task_id).expect("Tasks", "TaskClaimed")
    assert claimed["bond"] == bond
    stake = ccnet_chain.credits.stake_of(worker.ss58_address)
    assert stake is not None and stake.bonded == bond and stake.free == stake.active - bond
    with pytest.raises(StakeBondedError):  # the bonded stake cannot leave
        ccnet_chain.credits.unstake(worker, stake.active)

    result, salt = digest(f"result {task_id}"), new_salt()
    commitment = result_commitment(task_id, worker.ss58_address, result, 1234, salt)
    with pytest.raises(CourtTooEarlyError, match="RevealNotOpen"):
        ccnet_chain.tasks.reveal_result(worker, task_id, result, 1234, salt)
    committed = ccnet_chain.tasks.submit_result(worker, task_id, commitment)
    assert committed.find("Tasks", "ResultCommitted") is not None
    assignment = ccnet_chain.tasks.assignment(task_id, worker.ss58_address)
    assert assignment is not None and assignment.commitment == "0x" + commitment.hex()
    assert not assignment.revealed
    # Every slot is committed: reveals open before the deadline; a wrong opening fails.
    task = ccnet_chain.tasks.task(task_id)
    assert task is not None and task.all_committed
    assert task.reveal_open(ccnet_chain.block_number(), times)
    with pytest.raises(TasksBadRevealError):
        ccnet_chain.tasks.reveal_result(worker, task_id, result, 1235, salt)
    revealed = ccnet_chain.tasks.reveal_result(worker, task_id, result, 1234, salt)
    event = revealed.expect("Tasks", "ResultSubmitted")
    assert event["result_hash"] == "0x" + result.hex() and event["fuel_used"] == 1234
    assignment = ccnet_chain.tasks.assignment(task_id, worker.ss58_address)
    assert assignment is not None and (assignment.fuel_used, assignment.disputed) == (1234, False)

    # Not before the challenge window is over; then anyone finalizes.
    with pytest.raises(CourtTooEarlyError, match="WindowOpen"):
        ccnet_chain.tasks.finalize(worker, task_id)
    task = ccnet_chain.tasks.task(task_id)
    assert task is not None
    ccnet_chain.new_blocks(times.challenge_ends(task) - ccnet_chain.block_number())
    done = ccnet_chain.tasks.finalize(worker, task_id)
    completed = done.expect("Tasks", "TaskCompleted")
    assert completed["workers"] == [worker.ss58_address] and completed["paid"] == 5 * CC
    task = ccnet_chain.tasks.task(task_id)
    assert task is not None and task.status == "Completed" and task.finished_at is not None
    assert task.result_hash == "0x" + result.hex() and task.input_ref == b"ar://input"
    assert ccnet_chain.credits.bonded_stake(worker.ss58_address) == 0
    rep = ccnet_chain.tasks.worker(worker.ss58_address)
    assert rep is not None and rep.reputation.completed == 1
    assert rep.reputation.value_earned == 5 * CC and rep.reputation.distinct_requesters == 1
    assert ccnet_chain.tasks.paid_by(worker.ss58_address) == [requester.ss58_address]

    with pytest.raises(TasksError, match="NotReapable"):
        ccnet_chain.tasks.reap(worker, task_id)
    # (reaping TaskRetention = 100 blocks later is left to the pallet's tests: slow here)
    assert times.reapable_after(task) == task.finished_at + times.retention


def test_channels(ccnet_chain: Chain, fund_account: Funder) -> None:
    a, b = fund_account(), fund_account()
    chans = ccnet_chain.channels
    nonce = chans.next_nonce()
    receipt = chans.open(a, b.ss58_address, 5 * CC)
    channel_id = chans.opened_channel_id(receipt)
    with ccnet_chain.lock:  # the block before the one that includes the open
        parent = ccnet_chain.api.get_block_header(receipt.block_hash)["header"]["parentHash"]
    assert channel_id == channel_id_of(a.ss58_address, b.ss58_address, nonce, parent)
    assert receipt.expect("Channels", "ChannelOpened")["challenge_period"] == 20
    assert [e.name for e in receipt.find_all("Channels")] == ["ChannelOpened", "ChannelFunded"]
    info = chans.channel(channel_id)
    assert info is not None and (info.phase, info.deposit_a, info.total) == (
        "Funded",
        5 * CC,
        5 * CC,
    )
    assert (info.challenge_period, info.record_deposit) == (20, chans.record_deposit())

    version, bal_a, bal_b = 3, 4 * CC, 1 * CC
    sig_a = sign_close(ccnet_chain, a, channel_id, version, bal_a, bal_b)
    sig_b = sign_close(ccnet_chain, b, channel_id, version, bal_a, bal_b)
    with pytest.raises(ChannelsError) as info_err:
        chans.cooperative_close(a, channel_id, version, bal_a, bal_b, sig_b, sig_b)
    assert str(info_err.value) == "Channels.BadSignatureA: Party A's signature does not verify."
    closed = chans.cooperative_close(b, channel_id, version, bal_a, bal_b, sig_a, sig_b)
    event = closed.find("Channels", "ChannelClosed")
    assert event is not None and (event["balance_a"], event["balance_b"]) == (bal_a, bal_b)
    assert chans.channel(channel_id) is None


def test_channel_funding_unilateral_close_and_settle(
    ccnet_chain: Chain, fund_account: Funder
) -> None:
    a, b = fund_account(), fund_account()
    chans = ccnet_chain.channels
    pending = chans.opened_channel_id(chans.open(a, b.ss58_address, 2 * CC, 1 * CC))
    cancelled = chans.cancel_open(a, pending)
    assert cancelled.find("Channels", "ChannelCancelled") is not None

    channel_id = chans.opened_channel_id(chans.open(a, b.ss58_address, 2 * CC, 1 * CC))
    info = chans.channel(channel_id)
    assert info is not None and info.phase == "Opening"
    assert chans.fund(b, channel_id).find("Channels", "ChannelFunded") is not None

    closing = chans.close_unilateral(b, channel_id, 0, 2 * CC, 1 * CC)  # deposits: unsigned
    event = closing.find("Channels", "ChannelClosing")
    assert event is not None and event["closer"] == b.ss58_address
    info = chans.channel(channel_id)
    assert info is not None and info.closing is not None
    assert (info.phase, info.closing.closer) == ("Closing", "B")
    with pytest.raises(ChannelsError, match="ChallengePeriodNotOver"):
        chans.settle(a, channel_id)
    ccnet_chain.new_blocks(chans.challenge_period() + 1)
    assert chans.settle(a, channel_id).find("Channels", "ChannelClosed") is not None


def test_checkpoints(ccnet_chain: Chain, fund_account: Funder) -> None:
    owner = fund_account()
    state_hash, tx_id = digest("state"), "ccnet-client-test-tx-0000000000000000000000"
    receipt = ccnet_chain.checkpoints.record(owner, state_hash, tx_id, 4096)
    recorded = receipt.find("Checkpoints", "CheckpointRecorded")
    assert recorded is not None and recorded["state_hash"] == "0x" + state_hash.hex()
    latest = ccnet_chain.checkpoints.latest(owner.ss58_address)
    assert latest is not None and (latest.arweave_tx_id, latest.size) == (tx_id, 4096)
    assert [c.state_hash for c in ccnet_chain.checkpoints.history(owner.ss58_address)] == [
        latest.state_hash
    ]
    ccnet_chain.checkpoints.clear(owner)
    assert ccnet_chain.checkpoints.latest(owner.ss58_address) is None
    with pytest.raises(CheckpointsError, match="NoCheckpoints"):
        ccnet_chain.checkpoints.clear(owner)


def test_disputes(private_chain: str, fund_account: Funder) -> None:
    """A dispute on a chain of its own (the draw sees only these workers): the challenge
    with an expected result, the delayed draw, committed and revealed votes, the reveal
    of the expected result, the verdict."""
    with Chain(private_chain) as chain:
        ferdie = Keys.from_uri("//Ferdie")
        worker, requester = Keys.generate()[0], Keys.generate()[0]
        verifiers = [Keys.generate()[0] for _ in range(3)]
        for who in (worker, requester, *verifiers):
            chain.transfer(ferdie, who.ss58_address, 100 * CC)
        for who in (worker, *verifiers):
            chain.credits.stake(who, chain.tasks.min_worker_stake())
            chain.tasks.register_worker(who, [b"wasm"], f"http://127.0.0.1/{who.ss58_address}")

        deadline = chain.block_number() + 100
        task_id = chain.tasks.post(requester, b"wasm", b"ar://in", b"sha256", CC, deadline)
        chain.tasks.claim(worker, task_id)
        claimed, salt = digest(f"claimed {task_id}"), new_salt()
        chain.tasks.submit_result(
            worker, task_id, result_commitment(task_id, worker.ss58_address, claimed, 10, salt)
        )
        chain.tasks.reveal_result(worker, task_id, claimed, 10, salt)

        right, expected_salt = digest(f"right {task_id}"), new_salt()
        expected = expected_commitment(task_id, worker.ss58_address, right, expected_salt)
        receipt = chain.disputes.challenge(requester, task_id, worker.ss58_address, expected)
        dispute_id = chain.disputes.opened_dispute_id(receipt)
        opened = receipt.expect("Disputes", "DisputeOpened")
        assert (opened["task_id"], opened["worker"]) == (task_id, worker.ss58_address)
        assert opened["stake"] == int(chain.constant("Disputes", "ChallengeStake"))
        info = chain.disputes.dispute(dispute_id)
        assert info is not None and info.drawing and info.draw_at == opened["draw_at"]
        assert info.expected == "0x" + expected.hex() and info.claimed_hash == "0x" + claimed.hex()
        assert chain.disputes.dispute_of(task_id, worker.ss58_address) == dispute_id
        with pytest.raises(DisputesTooEarlyError, match="NotDrawn"):
            chain.disputes.commit_vote(verifiers[0], dispute_id, bytes(32))

        assert info.draw_at is not None
        chain.new_blocks(info.draw_at - chain.block_number())
        info = chain.disputes.dispute(dispute_id)
        assert info is not None and not info.drawing
        assert set(info.verifiers) == {v.ss58_address for v in verifiers}
        assert chain.credits.bonded_stake(verifiers[0].ss58_address) == int(
            chain.constant("Disputes", "VerifierBond")
        )
        salts = {v.ss58_address: new_salt() for v in verifiers}
        for v in verifiers:  # every verifier computed the right result
            vote = vote_commitment(dispute_id, v.ss58_address, right, salts[v.ss58_address])
            chain.disputes.commit_vote(v, dispute_id, vote).expect("Disputes", "VoteCommitted")
        info = chain.disputes.dispute(dispute_id)
        assert info is not None and info.all_committed
        assert info.reveal_open(chain.block_number())
        with pytest.raises(DisputesBadRevealError):
            chain.disputes.reveal_vote(
                verifiers[0], dispute_id, claimed, salts[verifiers[0].ss58_address]
            )
        for v in verifiers:
            revealed = chain.disputes.reveal_vote(v, dispute_id, right, salts[v.ss58_address])
            assert revealed.expect("Disputes", "VoteRevealed")["agrees"] is False
            assert revealed.find("Disputes", "DisputeResolved") is None  # expected pending
        shown = chain.disputes.reveal_expected(requester, dispute_id, right, expected_salt)
        assert shown.expect("Disputes", "ExpectedRevealed")["audit"] is False
        resolved = shown.expect("Disputes", "DisputeResolved")
        assert resolved["verdict"] == "WorkerAtFault"
        assert chain.disputes.dispute(dispute_id) is None
        assert chain.credits.bonded_stake(verifiers[0].ss58_address) == 0


def test_unfunded_account_is_refused_before_inclusion(ccnet_chain: Chain) -> None:
    nobody, _ = Keys.generate()
    with pytest.raises(ExtrinsicError, match="cannot pay the fee") as info:
        ccnet_chain.submit(nobody, "System", "remark", {"remark": b"x"})
    assert not info.value.nonce_related


def test_wait_for_finalization(ccnet_chain: Chain, fund_account: Funder) -> None:
    who = fund_account()
    receipt = ccnet_chain.submit(who, "System", "remark", {"remark": b"final"}, wait="finalization")
    assert receipt.finalized and receipt.find("System", "ExtrinsicSuccess") is not None


def test_subscribe_events_sees_new_blocks(ccnet_chain: Chain, fund_account: Funder) -> None:
    who = fund_account()
    seen: list[ChainEvent] = []
    got = threading.Event()

    def on_event(event: ChainEvent) -> None:
        if event.attributes.get("who") == who.ss58_address:
            seen.append(event)
            got.set()

    subscription = ccnet_chain.subscribe_events(on_event, ["Credits"], poll_interval=0.2)
    try:
        receipt = ccnet_chain.credits.stake(who, CC)
        assert got.wait(60), "the subscription saw no Credits.Staked event"
    finally:
        subscription.stop(timeout=10)
    assert not subscription.running and subscription.error is None
    assert seen[0].qualname == "Credits.Staked" and seen[0].block_hash == receipt.block_hash
    assert seen[0].block_number == ccnet_chain.api.get_block_number(receipt.block_hash)


def test_watch_events_from_a_past_block(ccnet_chain: Chain, fund_account: Funder) -> None:
    who = fund_account()
    receipt = ccnet_chain.checkpoints.record(who, digest("watch"), "tx", 1)
    number = ccnet_chain.api.get_block_number(receipt.block_hash)
    stop = threading.Event()
    for event in ccnet_chain.watch_events(
        ["Checkpoints"], ["CheckpointRecorded"], from_block=number, stop=stop
    ):
        if event["owner"] == who.ss58_address:
            stop.set()
            assert event.block_number == number
            break


def test_dead_chain_raises_connection_error() -> None:
    url = f"ws://127.0.0.1:{free_port()}"
    with pytest.raises(ChainConnectionError, match="connection refused") as info:
        Chain(url, timeout=5)
    assert url in str(info.value) and "ccnet chain start" in str(info.value)


def test_unknown_rpc_method_is_a_request_error(ccnet_chain: Chain) -> None:
    with pytest.raises(ChainRequestError, match="no_suchMethod"):
        ccnet_chain.rpc("no_suchMethod")


class _StatusLosingNode:
    """A websocket proxy in front of the dev chain that forwards everything but the
    status updates of watched extrinsics (``author_extrinsicUpdate``): a node whose pool
    lost the watch while the extrinsic is included (paritytech/project-mythical#174)."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.dropped = 0
        self.url = ""
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner: web.AppRunner | None = None

    async def _serve(self, request: web.Request) -> web.WebSocketResponse:
        client = web.WebSocketResponse()
        await client.prepare(request)
        async with ClientSession() as session, session.ws_connect(self.upstream) as node:

            async def down() -> None:
                async for message in node:
                    if message.type != WSMsgType.TEXT:
                        break
                    if '"author_extrinsicUpdate"' in message.data:
                        self.dropped += 1
                        continue
                    await client.send_str(message.data)
                await client.close()

            pump = asyncio.ensure_future(down())
            async for message in client:
                if message.type != WSMsgType.TEXT:
                    break
                await node.send_str(message.data)
            pump.cancel()
        return client

    def __enter__(self) -> _StatusLosingNode:
        async def start() -> str:
            app = web.Application()
            app.router.add_get("/", self._serve)
            self._runner = web.AppRunner(app)
            await self._runner.setup()
            await web.TCPSite(self._runner, "127.0.0.1", 0).start()
            return f"ws://127.0.0.1:{self._runner.addresses[0][1]}/"

        self._thread.start()
        self.url = asyncio.run_coroutine_threadsafe(start(), self._loop).result(10)
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._runner is not None
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


@pytest.mark.parametrize("wait", ["inclusion", "finalization"])
def test_an_included_extrinsic_whose_watch_went_silent_is_found_on_chain(
    devchain: str, fund_account: Funder, wait: Wait
) -> None:
    payer, payee = fund_account(), Keys.generate()[0]
    amount = 2 * CC + 11
    with _StatusLosingNode(devchain) as node, Chain(node.url, timeout=3) as chain:
        before = chain.free_balance(payer.ss58_address)
        receipt = chain.transfer(payer, str(payee.ss58_address), amount, wait=wait)
        assert receipt.finalized  # every dev-chain block is final
        assert receipt.expect("Balances", "Transfer")["amount"] == amount
        assert chain.free_balance(str(payee.ss58_address)) == amount
        assert chain.free_balance(payer.ss58_address) == before - amount - receipt.fee
        # Its nonce was not lost: the next one goes through the same way.
        chain.submit(payer, "System", "remark", {"remark": b"next"}, wait=wait)
    assert node.dropped >= 4  # at least ready and inBlock of both
