"""Attacks of a malicious channel party (:class:`~.adversary.Adversary`, built on the
real ccnet.channels code) against an honest :class:`~ccnet.channels.ChannelParty`, on
the real runtime (Chopsticks dev chain).

The rule each test checks, to the planck, with the fees of every extrinsic (failed ones
too): an honest party that follows the protocol ends with **at least its latest balance
that the counterparty committed to** (signed). For the payee B that is its latest
co-signed balance; for the payer A it is that, or, while its proposal is outstanding,
its balance in that proposal (the counterparty may hold it co-signed). Nothing mints:
the adversary ends with exactly the rest, and every held deposit (and the record
deposit) is paid out once.

Deposits: A (the payer) deposits 10 CC, B nothing; a payment moves whole CC, so the
expected balances are readable.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from ccnet.channels import (
    REGISTERED,
    ChannelParty,
    ChannelState,
    Countersign,
    MemoryTransport,
    Message,
    Party,
    PeerTimeoutError,
    ProposalRejectedError,
    Propose,
    Reject,
    SignedState,
    SqliteChannelStore,
    TowerClient,
    TransportClosedError,
    Watchtower,
    decode,
    encode,
    sign_state,
)
from ccnet.channels.testing import Ledger, Member, Members, eventually
from ccnet.client import CC, Chain, Keypair, Keys
from ccnet.client.requester import Debt, DebtBook, Requester
from ccnet.client.requester.channelbook import ChannelBook
from ccnet.client.requester.outcomes import RequesterTally

from .adversary import Adversary, wrapped

DEPOSIT = 10 * CC

MakeAdversary = Callable[[], Adversary]


@dataclass
class Scene:
    """One channel between an honest party and the adversary, and the balances before."""

    chain: Chain
    ledger: Ledger
    honest: Member
    adversary: Adversary
    channel_id: bytes
    before: dict[str, tuple[int, int]]
    """(free, held) of both accounts before the open, planck."""

    @property
    def party(self) -> ChannelParty:
        """The honest party."""
        return self.honest.party

    def ends(self, *, honest_final: int) -> None:
        """Check the rule: the honest party ends with *honest_final* planck of the
        channel, the adversary with the rest, after their fees, to the planck."""
        a_is_honest = self.honest.store.load(self.channel_id).me is Party.A
        adversary_final = DEPOSIT - honest_final
        fees = sum(r.fee for r in self.party.receipts)
        deposits = {
            self.honest.address: DEPOSIT if a_is_honest else 0,
            self.adversary.address: 0 if a_is_honest else DEPOSIT,
        }
        finals = {self.honest.address: honest_final, self.adversary.address: adversary_final}
        paid = {self.honest.address: fees, self.adversary.address: self.adversary.fees}
        for address in (self.honest.address, self.adversary.address):
            free, held = self.before[address]
            expected = (free - paid[address] - deposits[address] + finals[address], held)
            assert self.ledger.balances(address) == expected, address
        assert self.chain.channels.channel(self.channel_id) is None  # paid out once


async def scene(
    chain: Chain,
    ledger: Ledger,
    make_member: Members,
    make_adversary: MakeAdversary,
    *,
    adversary_is: Party,
    honest_timeout: float = 30.0,
    guardian: TowerClient | None = None,
) -> Scene:
    """Open a channel (A deposits 10 CC) between an honest party and the adversary, and
    link them; the adversary is A (the payer) or B."""
    honest, adversary = make_member(guardian, timeout=honest_timeout), make_adversary()
    before = {m: ledger.balances(m) for m in (honest.address, adversary.address)}
    if adversary_is is Party.A:
        cid = (await adversary.party.open(honest.address, DEPOSIT)).channel_id
        await honest.party.join(cid)
    else:
        cid = (await honest.party.open(adversary.address, DEPOSIT)).channel_id
        await adversary.party.join(cid)
    await adversary.connect(honest.party, cid)
    return Scene(chain, ledger, honest, adversary, cid, before)


async def honest_pays(scene: Scene, amount: int, *, answer: bool = True) -> None:
    """The honest A pays; the adversary B takes it (and answers, or withholds)."""
    paying = asyncio.create_task(scene.party.pay(scene.channel_id, amount))
    await scene.adversary.take(scene.channel_id, answer=answer)
    if answer:
        await paying
    else:
        with pytest.raises(PeerTimeoutError):
            await paying


def after_the_period(scene: Scene) -> None:
    scene.chain.new_blocks(scene.chain.channels.challenge_period())


@dataclass
class Setting:
    """``await setting(adversary_is=..., honest_timeout=..., guardian=...)``: a
    :class:`Scene` on the session dev chain."""

    chain: Chain
    ledger: Ledger
    make_member: Members
    make_adversary: MakeAdversary

    async def __call__(
        self,
        *,
        adversary_is: Party,
        honest_timeout: float = 30.0,
        guardian: TowerClient | None = None,
    ) -> Scene:
        return await scene(
            self.chain,
            self.ledger,
            self.make_member,
            self.make_adversary,
            adversary_is=adversary_is,
            honest_timeout=honest_timeout,
            guardian=guardian,
        )


@pytest.fixture
def setting(
    ccnet_chain: Chain, ledger: Ledger, make_member: Members, make_adversary: MakeAdversary
) -> Setting:
    """See :class:`Setting`."""
    return Setting(ccnet_chain, ledger, make_member, make_adversary)


# -- the adversary is the payee B -------------------------------------------------------


async def test_withhold_countersignature(setting: Setting) -> None:
    """Attack: B co-signs A's version 4 (it holds it, committed) but never answers, so A
    holds only version 3; A closes with 3, B registers 4.
    Expected: A ends with its balance in its outstanding proposal (6 CC), never lower;
    no penalty either way (the newest state wins)."""
    s = await setting(adversary_is=Party.B, honest_timeout=2.0)
    for _ in range(3):
        await honest_pays(s, CC)
    await honest_pays(s, CC, answer=False)
    assert s.party.channel(s.channel_id).latest.version == 3
    await s.party.close_unilaterally(s.channel_id)  # safe although 4 is in doubt
    registered = s.adversary.challenge(s.channel_id, s.adversary.latest(s.channel_id))
    assert registered.expect("Channels", "ChannelChallenged")["version"] == 4
    after_the_period(s)
    await s.party.settle(s.channel_id)
    s.ends(honest_final=6 * CC)


async def test_withhold_a_debts_countersignature_to_be_paid_twice(
    setting: Setting, tmp_path: Path
) -> None:
    """Attack: the honest A (a requester) owes B a debt (:mod:`ccnet.client.requester.debts`).
    B co-signs A's payment of it (version 2) but never answers, hoping A, not seeing it
    go through, pays the debt again; then B registers version 2 on chain.
    Expected: the payment is in doubt, so the debt is forgotten, and A's next
    ``pay_debts`` pays nothing. A closes with version 1, B's version 2 wins: A ends with
    10 - 1 (a job) - 1 (the debt, once) = 8 CC."""
    s = await setting(adversary_is=Party.B, honest_timeout=2.0)
    await honest_pays(s, CC)
    book = ChannelBook(s.party, None, deposit_per_channel=DEPOSIT)  # type: ignore[arg-type]
    book.is_attached = lambda channel_id: True  # type: ignore[method-assign]
    requester = Requester.__new__(Requester)  # what paying debts uses, on the real party
    requester._book, requester._party, requester._tally = book, s.party, RequesterTally()
    requester.debts = DebtBook(tmp_path / "debts.json")
    requester.debts.add(Debt(s.adversary.address, s.channel_id.hex(), CC, "the debt"))
    paying = asyncio.create_task(requester._pay_debts(None))
    await s.adversary.take(s.channel_id, answer=False)
    assert await paying == CC  # in doubt: it went out, so it is not owed anew
    assert requester.debts.all() == []
    assert await requester._pay_debts(None) == 0
    assert s.party.channel(s.channel_id).latest.version == 1
    await s.party.close_unilaterally(s.channel_id)
    registered = s.adversary.challenge(s.channel_id, s.adversary.latest(s.channel_id))
    assert registered.expect("Channels", "ChannelChallenged")["version"] == 2
    after_the_period(s)
    await s.party.settle(s.channel_id)
    s.ends(honest_final=8 * CC)


async def test_crash_after_commit_before_reply(setting: Setting) -> None:
    """Attack: B commits version 4 and dies before its countersign leaves; restarted, it
    answers A's re-sent proposal, then closes with the stale version 1.
    Expected: nothing is lost or invented by the crash (both hold version 4), and A's
    answer to the stale close registers 4: A ends with 6 CC."""
    s = await setting(adversary_is=Party.B)
    for _ in range(3):
        await honest_pays(s, CC)
    paying = asyncio.create_task(s.party.pay(s.channel_id, CC))
    await s.adversary.take(s.channel_id, answer=False)  # committed, no reply
    await s.adversary.crash(s.channel_id)
    with pytest.raises(TransportClosedError):
        await paying
    await s.adversary.connect(s.party, s.channel_id)  # the restart: A re-sends version 4
    await s.adversary.take(s.channel_id)  # answered again from the store
    assert (await s.party.resolve(s.channel_id)).version == 4
    s.adversary.close(s.channel_id, s.adversary.cosigned(s.channel_id, 1))
    assert await s.party.answer_stale_close(s.channel_id) is not None
    after_the_period(s)
    await s.party.settle(s.channel_id)
    s.ends(honest_final=6 * CC)


async def test_refuse_and_later_cash_the_refused_proposal(setting: Setting) -> None:
    """Attack: B refuses A's version 2 (2 CC more for B) with a valid cancel, keeps A's
    signature, adds its own and closes with version 2.
    Expected: A's co-signed cancel (version 3, the balances of version 1) replaces it:
    A ends with 9 CC, the balance B committed to."""
    s = await setting(adversary_is=Party.B)
    await honest_pays(s, CC)
    paying = asyncio.create_task(s.party.pay(s.channel_id, 2 * CC))
    refused = await s.adversary.refuse(s.channel_id)
    with pytest.raises(ProposalRejectedError) as caught:
        await paying
    assert caught.value.cancel_version == 3
    cashed = s.adversary.countersign_alone(refused)
    s.adversary.close(s.channel_id, cashed)
    answered = await s.party.answer_stale_close(s.channel_id)
    assert answered is not None
    assert answered.expect("Channels", "ChannelChallenged")["version"] == 3
    after_the_period(s)
    await s.party.settle(s.channel_id)
    s.ends(honest_final=9 * CC)


async def test_refuse_with_a_forged_cancel_and_cash_the_refused_proposal(
    setting: Setting,
) -> None:
    """Attack: B refuses A's version 2 with a cancel that does not verify (it signs the
    cancel with balances that pay B more), then registers version 2, and tries its
    forged cancel on chain too.
    Expected: A does not take the forged cancel: its proposal stays outstanding (its
    channel stops), and A ends with its balance in that proposal (7 CC), never lower;
    the forged cancel is refused (A never signed it)."""
    s = await setting(adversary_is=Party.B)
    await honest_pays(s, CC)
    adversary = s.adversary
    genesis = s.chain.genesis_hash

    def greedy(cancel: ChannelState) -> bytes:
        return sign_state(
            adversary.keypair, genesis, replace(cancel, balance_a=0, balance_b=DEPOSIT)
        )

    paying = asyncio.create_task(s.party.pay(s.channel_id, 2 * CC))
    refused = await adversary.refuse(s.channel_id, cancel=greedy)
    with pytest.raises(ProposalRejectedError) as caught:
        await paying
    assert caught.value.cancel_version is None
    channel = s.party.channel(s.channel_id)
    assert channel.failed is not None and channel.pending is not None
    forged = SignedState(
        ChannelState(s.channel_id, 3, 0, DEPOSIT),
        refused.signature,  # A's signature of version 2: not of this state
        greedy(channel.cancel_state(2)),
    )
    adversary.refused("BadSignatureA", adversary.close_call(s.channel_id, forged))
    adversary.close(s.channel_id, adversary.countersign_alone(refused))
    assert await s.party.answer_stale_close(s.channel_id) is None  # nothing newer
    after_the_period(s)
    await s.party.settle(s.channel_id)
    s.ends(honest_final=7 * CC)


# -- the adversary is the payer A -------------------------------------------------------


async def test_replay_old_states(setting: Setting) -> None:
    """Attack: A replays its old proposals (versions 1 and 2) off chain, then closes on
    chain with the replayed version 2 after paying 4 CC in 4 versions.
    Expected: B refuses every replay (``replay``) and changes nothing; its answer to
    the stale close registers version 4: B ends with 4 CC."""
    s = await setting(adversary_is=Party.A)
    for _ in range(4):
        await s.adversary.pay(s.channel_id, CC)
    stored = s.honest.store.load(s.channel_id)
    for _, frame in s.adversary.sent[:2]:
        reply = await s.adversary.send_frame(s.channel_id, frame)
        assert isinstance(reply, Reject) and reply.code == "replay"
        assert reply.cancel_signature is None
    assert s.honest.store.load(s.channel_id) == stored
    s.adversary.close(s.channel_id, s.adversary.cosigned(s.channel_id, 2))
    assert await s.party.answer_stale_close(s.channel_id) is not None
    after_the_period(s)
    await s.party.settle(s.channel_id)
    s.ends(honest_final=4 * CC)


async def test_a_batch_that_lowers_the_payee_on_the_way(setting: Setting) -> None:
    """Attack: after paying 4 CC, A proposes a batch whose last state pays B 1 CC more
    but whose first state takes B down to 0, hoping B's policy judges only the last
    state; A would then close with the first one.
    Expected: B refuses the whole batch (``policy``) and co-signs nothing; its answer
    to A's stale close registers version 4: B ends with 4 CC."""
    s = await setting(adversary_is=Party.A)
    for _ in range(4):
        await s.adversary.pay(s.channel_id, CC)
    stored = s.honest.store.load(s.channel_id)
    machine = s.adversary.machine(s.channel_id)
    message, update = machine.propose_many([(DEPOSIT, 0), (DEPOSIT - 5 * CC, 5 * CC)])
    s.adversary.persist(update)
    await s.adversary.send(s.channel_id, message)
    reply = await s.adversary.recv(s.channel_id)
    assert isinstance(reply, Reject) and reply.code == "policy"
    assert s.honest.store.load(s.channel_id).latest == stored.latest
    s.adversary.close(s.channel_id, s.adversary.cosigned(s.channel_id, 2))
    assert await s.party.answer_stale_close(s.channel_id) is not None
    after_the_period(s)
    await s.party.settle(s.channel_id)
    s.ends(honest_final=4 * CC)


async def test_two_links_at_once_with_two_different_versions_3(setting: Setting) -> None:
    """Attack: after paying 2 CC, A links to B twice at the same moment (two attaches of
    one channel racing, which can leave the first link's reader running beside the
    second's), then sends two different version-3 proposals, 1 CC and 5 CC more for B,
    one on each link at once, hoping B co-signs both; A would close with the smaller.
    Expected: B co-signs at most one version 3 (the other is refused), and its answer
    to A's close with version 2 registers what B holds: B ends with exactly the balance
    of its latest co-signed state."""
    s = await setting(adversary_is=Party.A)
    for _ in range(2):
        await s.adversary.pay(s.channel_id, CC)
    pairs = [MemoryTransport.pair(), MemoryTransport.pair()]
    await asyncio.gather(*(s.party.attach(s.channel_id, theirs) for _, theirs in pairs))
    small, _ = s.adversary.machine(s.channel_id).pay(CC)
    s.adversary.machines.pop(s.channel_id)  # a second machine at version 2
    large, _ = s.adversary.machine(s.channel_id).pay(5 * CC)
    for (ours, _), message in zip(pairs, (small, large), strict=True):
        await ours.send(encode(message))

    async def reply(ours: MemoryTransport) -> Message | None:
        try:
            return decode(await asyncio.wait_for(ours.recv(), 10))
        except (TimeoutError, TransportClosedError):
            return None  # the link B dropped for the newer one

    replies = await asyncio.gather(*(reply(ours) for ours, _ in pairs))
    countersigned = [r for r in replies if isinstance(r, Countersign)]
    assert len(countersigned) <= 1, replies
    held = s.honest.store.load(s.channel_id).latest
    assert held.co_signed and held.state.version in (2, 3)
    assert held.state.balance_b in (2 * CC, 3 * CC, 7 * CC)
    s.adversary.close(s.channel_id, s.adversary.cosigned(s.channel_id, 2))
    if held.state.version == 3:
        assert await s.party.answer_stale_close(s.channel_id) is not None
    after_the_period(s)
    await s.party.settle(s.channel_id)
    s.ends(honest_final=held.state.balance_b)


async def test_wrapped_signature_payment(setting: Setting) -> None:
    """Attack: after a genuine payment of 1 CC, A "pays" 5 CC more with a
    ``<Bytes>``-wrapped signature (what polkadot-js ``signRaw`` makes, which the chain
    does not take), then closes with the opening state.
    Expected: B refuses the wrapped signature (``signature``) and stays at version 1;
    its answer registers version 1: B ends with 1 CC."""
    s = await setting(adversary_is=Party.A)
    await s.adversary.pay(s.channel_id, CC)
    state = ChannelState(s.channel_id, 2, 4 * CC, 6 * CC)
    signature = wrapped(s.adversary.keypair, s.chain.genesis_hash, state)
    await s.adversary.send(
        s.channel_id, Propose(s.channel_id, s.chain.genesis_hash, 2, 4 * CC, 6 * CC, signature)
    )
    reply = await s.adversary.recv(s.channel_id)
    assert isinstance(reply, Reject) and reply.code == "signature"
    assert s.party.channel(s.channel_id).latest.version == 1
    opening = SignedState(ChannelState(s.channel_id, 0, DEPOSIT, 0))
    s.adversary.close(s.channel_id, opening)
    assert await s.party.answer_stale_close(s.channel_id) is not None
    after_the_period(s)
    await s.party.settle(s.channel_id)
    s.ends(honest_final=CC)


@pytest.mark.parametrize("older", [0, 1, 2])
async def test_close_with_each_older_state(setting: Setting, older: int) -> None:
    """Attack: A pays 3 CC in 3 versions, then closes with an older version (0, the
    unsigned deposits; 1; 2).
    Expected: B answers with version 3: B ends with 3 CC whichever state A used."""
    s = await setting(adversary_is=Party.A)
    for _ in range(3):
        await s.adversary.pay(s.channel_id, CC)
    stale = (
        SignedState(ChannelState(s.channel_id, 0, DEPOSIT, 0))
        if older == 0
        else s.adversary.cosigned(s.channel_id, older)
    )
    s.adversary.close(s.channel_id, stale)
    registered = await s.party.answer_stale_close(s.channel_id)
    assert registered is not None
    assert registered.expect("Channels", "ChannelChallenged")["version"] == 3
    after_the_period(s)
    await s.party.settle(s.channel_id)
    s.ends(honest_final=3 * CC)


@pytest.mark.parametrize("answered_by", ["restart", "watchtower"])
async def test_close_while_the_honest_party_is_offline(
    setting: Setting,
    make_member: Members,
    fund_account: Callable[..., Keypair],
    tmp_path: Path,
    answered_by: str,
) -> None:
    """Attack: A pays 4 CC in 4 versions, waits until B is offline, closes with version
    1 and lets 10 of the 20 blocks of the period pass.
    Expected: B's restart (``answer_stale_closes``) or its watchtower (running while B
    is away) registers version 4 in time: B ends with 4 CC; the tower pays only its
    own fees."""
    client = TowerClient(tmp_path / "tower.db") if answered_by == "watchtower" else None
    s = await setting(adversary_is=Party.A, guardian=client)
    tower = None
    if client is not None:
        tower = Watchtower(s.chain, fund_account(10 * CC), tmp_path / "tower.db")
        tower.start(poll_interval=0.1)
    for _ in range(4):
        await s.adversary.pay(s.channel_id, CC)
    await s.party.aclose()  # B goes offline
    s.adversary.close(s.channel_id, s.adversary.cosigned(s.channel_id, 1))
    s.chain.new_blocks(10)
    if tower is not None:
        await eventually(lambda: bool(tower.challenges), "the tower's challenge", 60)
        tower.stop()
        assert [(c.version, c.outcome) for c in tower.challenges] == [(4, REGISTERED)]
        await make_member.restart(s.honest)
        assert await s.party.answer_stale_closes() == []  # the tower did it
    else:
        await make_member.restart(s.honest)
        (receipt,) = await s.party.answer_stale_closes()
        assert receipt.expect("Channels", "ChannelChallenged")["version"] == 4
    s.chain.new_blocks(10)
    await s.party.settle(s.channel_id)
    s.ends(honest_final=4 * CC)
    if tower is not None:
        tower.close()
    if client is not None:
        client.close()


async def test_open_many_channels_at_once(
    ccnet_chain: Chain, ledger: Ledger, make_member: Members, make_adversary: MakeAdversary
) -> None:
    """Attack: A opens four channels to B at once, pays k CC on channel k, replays
    channel 1's co-signed state on channel 2, and closes every channel with its opening
    state.
    Expected: four distinct ids; the cross-channel replay is refused (``BadSignatureA``);
    B answers every stale close: B ends with 1 + 2 + 3 + 4 = 10 CC."""
    chain = ccnet_chain
    honest, adversary = make_member(), make_adversary()
    before = {m: ledger.balances(m) for m in (honest.address, adversary.address)}
    opened = await asyncio.gather(
        *(adversary.party.open(honest.address, DEPOSIT) for _ in range(4))
    )
    ids = [c.channel_id for c in opened]
    assert len(set(ids)) == 4
    for k, cid in enumerate(ids, start=1):
        await honest.party.join(cid)
        await adversary.connect(honest.party, cid)
        await adversary.pay(cid, k * CC)
    first = adversary.cosigned(ids[0], 1)
    adversary.refused("BadSignatureA", adversary.close_call(ids[1], first))
    for cid in ids:
        adversary.close(cid, SignedState(ChannelState(cid, 0, DEPOSIT, 0)))
    assert len(await honest.party.answer_stale_closes()) == 4
    chain.new_blocks(chain.channels.challenge_period())
    for cid in ids:
        await honest.party.settle(cid)
        assert chain.channels.channel(cid) is None
    fees = sum(r.fee for r in honest.party.receipts)
    assert ledger.balances(honest.address) == (
        before[honest.address][0] - fees + 10 * CC,
        before[honest.address][1],
    )
    assert ledger.balances(adversary.address) == (
        before[adversary.address][0] - adversary.fees - 10 * CC,
        before[adversary.address][1],
    )


async def test_cross_chain_replay(
    ccnet_chain: Chain, second_chain: Chain, make_adversary: MakeAdversary, tmp_path: Path
) -> None:
    """Attack: the same two accounts have a channel on each of two chains started from
    the same raw spec (same genesis hash). A paid 1 CC on the first chain and 3 CC on
    the second; on the second it registers the first chain's state (its signatures),
    then the first chain's channel id, then the opening state.
    Expected: the ids differ (they hash the parent block), so both replays are refused
    (``BadSignatureA``, ``UnknownChannel``); B answers with its version 3: on the
    second chain B ends with 3 CC."""
    adversary = make_adversary()  # funded on the first chain
    honest_key = Keys.generate()[0]
    ferdie = Keys.from_uri("//Ferdie")
    fund = [(ccnet_chain, honest_key), (second_chain, honest_key)]
    for chain, key in [*fund, (second_chain, adversary.keypair)]:
        await asyncio.to_thread(chain.transfer, ferdie, str(key.ss58_address), 1000 * CC)
    # The first chain.
    honest_1 = ChannelParty(honest_key, SqliteChannelStore(tmp_path / "b1.db"), chain=ccnet_chain)
    cid_1 = (await adversary.party.open(str(honest_key.ss58_address), DEPOSIT)).channel_id
    await honest_1.join(cid_1)
    await adversary.connect(honest_1, cid_1)
    replayed = await adversary.pay(cid_1, CC)
    # The second chain: the same keys, their own stores.
    ledger_2 = Ledger(second_chain)
    store_2 = SqliteChannelStore(tmp_path / "a2.db")
    member_2 = Member(
        ChannelParty(adversary.keypair, store_2, chain=second_chain),
        adversary.keypair,
        store_2,
        tmp_path / "a2.db",
    )
    adversary_2 = Adversary(member_2, second_chain, ledger_2)
    honest_store = SqliteChannelStore(tmp_path / "b2.db")
    honest_2 = Member(
        ChannelParty(honest_key, honest_store, chain=second_chain),
        honest_key,
        honest_store,
        tmp_path / "b2.db",
    )
    before = {m: ledger_2.balances(m) for m in (honest_2.address, adversary_2.address)}
    cid_2 = (await adversary_2.party.open(honest_2.address, DEPOSIT)).channel_id
    assert cid_2 != cid_1
    await honest_2.party.join(cid_2)
    await adversary_2.connect(honest_2.party, cid_2)
    for _ in range(3):
        await adversary_2.pay(cid_2, CC)
    moved = replace(replayed, state=replace(replayed.state, channel_id=cid_2))
    adversary_2.refused("BadSignatureA", adversary_2.close_call(cid_2, moved))
    adversary_2.refused("UnknownChannel", adversary_2.close_call(cid_1, replayed))
    adversary_2.close(cid_2, SignedState(ChannelState(cid_2, 0, DEPOSIT, 0)))
    assert await honest_2.party.answer_stale_close(cid_2) is not None
    second_chain.new_blocks(second_chain.channels.challenge_period())
    await honest_2.party.settle(cid_2)
    s = Scene(second_chain, ledger_2, honest_2, adversary_2, cid_2, before)
    s.ends(honest_final=3 * CC)
    for party in (honest_1, honest_2.party, member_2.party):
        await party.aclose()
    for store in (store_2, honest_store):
        store.close()


async def test_premature_settle(setting: Setting) -> None:
    """Attack: A closes with version 1 after paying 3 CC and settles at once, and again
    exactly at ``challenge_ends``, hoping to be paid out before B answers.
    Expected: both settles are refused (``ChallengePeriodNotOver``); B registers version
    3 in between; the settle after the period pays B 3 CC."""
    s = await setting(adversary_is=Party.A)
    for _ in range(3):
        await s.adversary.pay(s.channel_id, CC)
    closing = s.adversary.close(s.channel_id, s.adversary.cosigned(s.channel_id, 1))
    ends = int(closing.expect("Channels", "ChannelClosing")["challenge_ends"])
    s.adversary.refused("ChallengePeriodNotOver", s.adversary.settle_call(s.channel_id))
    assert await s.party.answer_stale_close(s.channel_id) is not None
    s.chain.new_blocks(ends - s.chain.block_number() - 1)
    s.adversary.refused("ChallengePeriodNotOver", s.adversary.settle_call(s.channel_id))
    assert s.chain.block_number() == ends
    s.adversary.settle(s.channel_id)
    s.ends(honest_final=3 * CC)


async def test_challenge_with_a_state_that_is_not_newer(setting: Setting) -> None:
    """Attack: after B registered version 5 against A's stale close, A tries to replace
    it with versions 5, 4 and 3, and with a made-up version 6 carrying B's signature of
    version 5.
    Expected: ``NotNewer`` three times and ``BadSignatureB``; the settle pays version 5:
    B ends with 5 CC."""
    s = await setting(adversary_is=Party.A)
    for _ in range(5):
        await s.adversary.pay(s.channel_id, CC)
    s.adversary.close(s.channel_id, s.adversary.cosigned(s.channel_id, 2))
    assert await s.party.answer_stale_close(s.channel_id) is not None
    for version in (5, 4, 3):
        older = s.adversary.cosigned(s.channel_id, version)
        s.adversary.refused("NotNewer", s.adversary.challenge_call(s.channel_id, older))
    five = s.adversary.cosigned(s.channel_id, 5)
    six = ChannelState(s.channel_id, 6, DEPOSIT, 0)
    made_up = SignedState(
        six, sign_state(s.adversary.keypair, s.chain.genesis_hash, six), five.signature_b
    )
    s.adversary.refused("BadSignatureB", s.adversary.challenge_call(s.channel_id, made_up))
    after_the_period(s)
    await s.party.settle(s.channel_id)
    s.ends(honest_final=5 * CC)
