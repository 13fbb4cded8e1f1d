"""kill -9 trials at random moments: kill a party mid-stream at random points (at
least 20 trials); no co-signed state is ever lost, and the restarted party closes with
the latest state.

The paying party A runs in its own process (channels_party_proc.py) and streams
payments to B, which runs in the test process and listens on 127.0.0.1. Each trial
starts A from its store, lets it pay for a random number of updates (0 to 15: right
after its recovery, or deep in the stream), waits a random fraction of an update and
kills it with SIGKILL. After each kill, with B's store as the witness:

- every version A reported co-signed (it reports after its store commit) is in its
  store, with every version before it, and the states verify and add up;
- A's latest co-signed state is B's, or A is in doubt about exactly B's latest: it is
  A's outstanding proposal, one version on (B co-signed it; the countersignature died
  with A);
- the next life recovers it: its first report (``ready``) is A's outstanding proposal
  once B answers it, else A's latest; nothing is lost or invented.

``test_twenty_random_kills_off_chain`` runs 20 trials on a channel of a made-up chain
and a last life that finishes the stream; ``test_random_kills_then_cooperative_close``
runs 4 more on a channel of the dev chain whose last life closes cooperatively with the
latest state, checked to the planck on chain. ``test_kill_inside_a_batch`` kills the
payer or the payee of a ``pay_many`` batch at each protocol point.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from substrateinterface import Keypair

from ccnet.channels import (
    ChannelParams,
    ChannelParty,
    PeerTimeoutError,
    Phase,
    SignedState,
    SqliteChannelStore,
    StreamTransport,
    TransportClosedError,
    serve,
)
from ccnet.channels.testing import TEST_GENESIS, amount_for, make_params, paid_until
from ccnet.client import CC, Chain, Keys

PROC = Path(__file__).with_name("channels_party_proc.py")
SEED = 20250317
"""The trials' random choices (the moments also depend on timing)."""


class WatchedTransport:
    """The test process's end of one connection of the process; :attr:`hung_up` is set
    once its reader has seen the end of it (every frame the process sent before dying
    is handled by then)."""

    def __init__(self, inner: StreamTransport) -> None:
        self.inner = inner
        self.hung_up = asyncio.Event()

    async def send(self, frame: bytes) -> None:
        await self.inner.send(frame)

    async def recv(self) -> bytes:
        try:
            return await self.inner.recv()
        except TransportClosedError:
            self.hung_up.set()
            raise

    async def close(self) -> None:
        await self.inner.close()
        self.hung_up.set()


class Payee:
    """The party in the test process (B, or A in the batch test's payee runs):
    countersigns the process's payments, or pays it, on 127.0.0.1."""

    def __init__(self, party: ChannelParty, channel_id: bytes) -> None:
        self.party = party
        self.channel_id = channel_id
        self.connections: list[WatchedTransport] = []
        self._connected = asyncio.Event()
        self._changed = asyncio.Condition()
        self._server: asyncio.Server | None = None

    async def start(self) -> int:
        """Listen; returns the port."""
        self._server = await serve(self._on_connect)
        return int(self._server.sockets[0].getsockname()[1])

    async def _on_connect(self, transport: StreamTransport) -> None:
        watched = WatchedTransport(transport)
        await self.party.attach(self.channel_id, watched)
        async with self._changed:
            self.connections.append(watched)
            self._connected.set()
            self._changed.notify_all()

    async def pay_batches_until(self, target: int, batch: int) -> None:
        """Pay the process in batches until *target*, riding out its deaths (the
        outstanding batch is re-sent on reconnect)."""
        cid = self.channel_id
        while (channel := self.party.channel(cid)).latest.version < target:
            seen = len(self.connections)
            try:
                if channel.pending is not None:
                    await self.party.resolve(cid)
                else:
                    first = channel.next_version
                    versions = range(first, min(first + batch, target + 1))
                    await self.party.pay_many(cid, [amount_for(v) for v in versions])
            except (TransportClosedError, PeerTimeoutError):
                await self.wait_connection(seen + 1)

    async def wait_connection(self, count: int) -> None:
        """Wait for the process's *count*-th connection."""
        async with self._changed:
            await self._changed.wait_for(lambda: len(self.connections) >= count)

    async def hang_up_seen(self) -> None:
        """Wait until we have handled everything the process's latest connection
        carried."""
        await self._connected.wait()
        await self.connections[-1].hung_up.wait()

    @property
    def latest(self) -> SignedState:
        return self.party.channel(self.channel_id).latest

    async def stop(self) -> None:
        await self.party.aclose()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()


@dataclass
class Life:
    """One life of the party process and what it reported."""

    proc: asyncio.subprocess.Process
    name: str
    ready: int | None = None
    cosigned: list[int] = field(default_factory=list)
    closed: dict[str, Any] | None = None

    async def lines(self) -> AsyncIterator[str]:
        assert self.proc.stdout is not None
        while line := (await self.proc.stdout.readline()).decode():
            kind, _, rest = line.strip().partition(" ")
            if kind == "ready":
                self.ready = int(rest)
            elif kind == "cosigned":
                self.cosigned.append(int(rest))
            elif kind == "closed":
                self.closed = json.loads(rest)
            yield kind

    async def finish(self) -> int:
        async for _ in self.lines():
            pass
        return await self.proc.wait()


async def spawn(tmp_path: Path, config: dict[str, Any], name: str) -> Life:
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(config))
    with open(tmp_path / f"{name}.stderr", "wb") as stderr:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, str(PROC), str(path), stdout=asyncio.subprocess.PIPE, stderr=stderr
        )
    return Life(proc, name)


def stderr_of(tmp_path: Path, name: str) -> str:
    return (tmp_path / f"{name}.stderr").read_text()[-3000:]


def check_state(params: ChannelParams, signed: SignedState) -> None:
    """*signed* verifies, and its balances are the deposits after A paid until its
    version."""
    signed.verify(params)
    paid = paid_until(signed.version)
    assert signed.state.balance_a == params.deposit_a - paid
    assert signed.state.balance_b == params.deposit_b + paid


@dataclass
class Trials:
    """Kill trials of A (the payer, in its process) against B (:class:`Payee`)."""

    tmp_path: Path
    params: ChannelParams
    payee: Payee
    config: dict[str, Any]
    rng: random.Random
    expect_ready: int = 0
    """What A's next life must report as recovered."""
    resent: bool = False
    """A's store has an outstanding proposal: its next life re-sends it."""
    in_doubt: int = 0
    """Trials that killed A between B's countersignature and A's commit of it."""
    unanswered: int = 0
    """Trials that killed A with a stored proposal B had not co-signed."""

    async def kill_one(self, trial: int) -> None:
        life = await spawn(self.tmp_path, self.config, f"trial{trial}")
        kill_after = self.rng.randint(0, 15)
        paid = 0
        async for kind in life.lines():
            if kind == "ready":
                assert life.ready == self.expect_ready, (life.ready, self.expect_ready)
                # It recovered B's latest; its stream continues from there (B, on this
                # event loop, may already have co-signed the next proposals before this
                # line was read; check_after_kill checks them all).
                assert self.payee.latest.version >= self.expect_ready
            elif kind == "cosigned" and life.ready is not None:
                paid += 1
            else:
                continue
            if paid == kill_after:
                await asyncio.sleep(self.rng.uniform(0, 0.004))  # a random fraction of an update
                life.proc.send_signal(signal.SIGKILL)
                break
        assert await life.proc.wait() == -signal.SIGKILL, stderr_of(self.tmp_path, life.name)
        assert life.ready is not None, stderr_of(self.tmp_path, life.name)
        await self.payee.hang_up_seen()
        self.check_after_kill(life)

    def check_after_kill(self, life: Life) -> None:
        assert life.ready is not None
        # Its reports: consecutive versions from the proposal it recovered (stored
        # again as co-signed, then "ready"), or from the one after "ready".
        first = life.ready if self.resent else life.ready + 1
        assert life.cosigned == list(range(first, first + len(life.cosigned)))
        cid = self.params.channel_id
        with SqliteChannelStore(self.config["store"]) as store_a:
            record = store_a.load(cid)
            history = store_a.history(cid, limit=100_000)
        latest_a, pending_a = record.latest, record.pending
        latest_b = self.payee.latest
        # Nothing A acknowledged is lost: every reported version is stored, as are all
        # the versions before it, and each adds up.
        assert latest_a.version >= max(life.cosigned, default=life.ready)
        assert [s.version for s in history] == list(range(latest_a.version, 0, -1))
        assert history[0] == latest_a
        check_state(self.params, latest_a)
        # A agrees with B, or is in doubt about exactly B's latest state.
        assert latest_b.version in (latest_a.version, latest_a.version + 1)
        if latest_b.version == latest_a.version:
            assert latest_b == latest_a
        else:
            self.in_doubt += 1
            assert pending_a is not None and pending_a.state == latest_b.state
        if pending_a is not None:
            assert pending_a.state.version == latest_a.version + 1
            self.unanswered += latest_b.version == latest_a.version
        check_state(self.params, latest_b)
        # The next life re-sends its proposal (B co-signs it, or answers it again).
        self.expect_ready = pending_a.state.version if pending_a else latest_a.version
        self.resent = pending_a is not None

    async def run(self, trials: int) -> None:
        for trial in range(trials):
            await self.kill_one(trial)


async def test_twenty_random_kills_off_chain(tmp_path: Path, alice: Keypair, bob: Keypair) -> None:
    params = make_params(alice, bob, deposit_a=10 * CC, deposit_b=10 * CC, label="kill-trials")
    store_b = SqliteChannelStore(tmp_path / "bob.db")
    party_b = ChannelParty(bob, store_b, genesis_hash=TEST_GENESIS, timeout=5.0)
    party_b.add_channel(params)
    payee = Payee(party_b, params.channel_id)
    target = 400
    config: dict[str, Any] = {
        "secret": "//Alice",
        "store": str(tmp_path / "alice.db"),
        "params": params.to_json(),
        "port": await payee.start(),
        "role": "payer",
        "target": target,
    }
    trials = Trials(tmp_path, params, payee, config, random.Random(SEED))
    await trials.run(20)

    last = await spawn(tmp_path, config, "last")
    assert await last.finish() == 0, stderr_of(tmp_path, "last")
    await payee.stop()
    assert last.ready == trials.expect_ready
    with SqliteChannelStore(config["store"]) as store_a:
        latest = store_a.latest_cosigned(params.channel_id)
        assert store_a.load(params.channel_id).pending is None
    assert latest == store_b.latest_cosigned(params.channel_id)
    assert latest.version == target
    check_state(params, latest)
    assert not party_b.incidents, [str(i.error) for i in party_b.incidents]
    print(
        f"20 kills: {trials.in_doubt} with A in doubt, {trials.unanswered} with a proposal "
        f"B never co-signed; the last life started at version {last.ready}"
    )
    store_b.close()


async def test_random_kills_then_cooperative_close(ccnet_chain: Chain, tmp_path: Path) -> None:
    """Trials on a channel of the dev chain; the last life closes cooperatively with the
    latest co-signed state: exact balances on chain, after fees."""
    chain = ccnet_chain
    funder = Keys.from_uri("//Ferdie")
    seed = os.urandom(32).hex()
    alice, bob = Keys.from_seed(seed), Keys.generate()[0]
    for who in (alice, bob):
        await asyncio.to_thread(chain.transfer, funder, str(who.ss58_address), 1000 * CC)
    free = {kp.ss58_address: chain.free_balance(kp.ss58_address) for kp in (alice, bob)}
    deposit = 10 * CC
    opened = await asyncio.to_thread(
        chain.channels.open, alice, str(bob.ss58_address), deposit, deposit
    )
    cid = chain.channels.opened_channel_id(opened)
    store_b = SqliteChannelStore(tmp_path / "bob.db")
    party_b = ChannelParty(bob, store_b, chain=chain, timeout=5.0)
    assert (await party_b.join(cid)).phase is Phase.FUNDED  # B funds its deposit
    params = party_b.channel(cid).info
    payee = Payee(party_b, cid)
    target = 120
    config: dict[str, Any] = {
        "secret": seed,
        "store": str(tmp_path / "alice.db"),
        "params": params.to_json(),
        "port": await payee.start(),
        "role": "payer",
        "target": target,
    }
    trials = Trials(tmp_path, params, payee, config, random.Random(SEED + 1))
    await trials.run(4)

    config["chain_url"] = chain.url  # the last life closes cooperatively at the end
    last = await spawn(tmp_path, config, "last")
    assert await last.finish() == 0, stderr_of(tmp_path, "last")
    await payee.stop()
    assert last.ready == trials.expect_ready and last.closed is not None
    final_a, final_b = deposit - paid_until(target), deposit + paid_until(target)
    closed = last.closed
    assert (closed["version"], closed["balance_a"], closed["balance_b"]) == (
        target,
        final_a,
        final_b,
    )
    latest = store_b.latest_cosigned(cid)
    assert latest.version == target
    check_state(params, latest)
    assert chain.channels.channel(cid) is None
    assert await party_b.refresh(cid) is Phase.SETTLED
    fee_a = opened.fee + int(closed["fee"])
    fee_b = sum(r.fee for r in party_b.receipts)
    assert chain.free_balance(alice.ss58_address) == free[alice.ss58_address] - fee_a - deposit + (
        final_a
    )
    assert chain.free_balance(bob.ss58_address) == free[bob.ss58_address] - fee_b - deposit + (
        final_b
    )
    assert not party_b.incidents, [str(i.error) for i in party_b.incidents]
    store_b.close()


BATCH = 8
BATCH_TARGET = 40
PAYER_POINTS = ["before-commit-signed", "after-commit-signed", "after-send-propose"] + [
    "before-commit-cosigned"
]
PAYEE_POINTS = ["before-commit-cosigned", "after-commit-cosigned"]


@pytest.mark.parametrize(
    ("role", "point"),
    [("payer", p) for p in PAYER_POINTS] + [("payee", p) for p in PAYEE_POINTS],
)
async def test_kill_inside_a_batch(
    role: str, point: str, tmp_path: Path, alice: Keypair, bob: Keypair
) -> None:
    """A pays B in batches of 8 (pay_many) up to version 40; the process (A the payer,
    or B the payee) dies at a protocol point of the batch of versions 17-24. The
    restart loses nothing either side acknowledged and finishes: the payee's store has
    every state 1..40 co-signed, both end on version 40."""
    params = make_params(alice, bob, deposit_a=10 * CC, deposit_b=10 * CC, label="kill-batch")
    cid = params.channel_id
    here, there = (bob, "//Alice") if role == "payer" else (alice, "//Bob")
    store_here = SqliteChannelStore(tmp_path / "here.db")
    party_here = ChannelParty(here, store_here, genesis_hash=TEST_GENESIS, timeout=5.0)
    party_here.add_channel(params)
    listener = Payee(party_here, cid)
    config: dict[str, Any] = {
        "secret": there,
        "store": str(tmp_path / "there.db"),
        "params": params.to_json(),
        "port": await listener.start(),
        "role": role,
        "target": BATCH_TARGET,
        "batch": BATCH,
        "crash": {"point": point, "at": 24},
    }
    paying = None
    if role == "payee":
        paying = asyncio.create_task(listener.pay_batches_until(BATCH_TARGET, BATCH))
    first = await spawn(tmp_path, config, "first")
    assert await first.finish() == -signal.SIGKILL, stderr_of(tmp_path, "first")
    assert first.cosigned == [8, 16]  # it died inside the batch of versions 17-24
    with SqliteChannelStore(config["store"]) as store_there:
        dead = store_there.load(cid)
    if point in ("after-commit-signed", "after-send-propose", "before-commit-cosigned"):
        if role == "payer":  # the whole batch is outstanding, and stored as such
            assert dead.pending is not None and dead.pending.state.version == 24
            assert [p.state.version for p in dead.pending.earlier] == list(range(17, 24))
    if point == "after-commit-cosigned":
        assert dead.latest.version == 24  # the payee stored every state before answering
    del config["crash"]
    second = await spawn(tmp_path, config, "second")
    assert await second.finish() == 0, stderr_of(tmp_path, "second")
    if paying is not None:
        await asyncio.wait_for(paying, 30)
    await listener.stop()
    with SqliteChannelStore(config["store"]) as store_there:
        latest = store_there.latest_cosigned(cid)
        history_there = store_there.history(cid, limit=1000)
        assert store_there.load(cid).pending is None
    assert latest == store_here.latest_cosigned(cid) and latest.version == BATCH_TARGET
    check_state(params, latest)
    payee_history = history_there if role == "payee" else store_here.history(cid, limit=1000)
    assert [s.version for s in payee_history] == list(range(BATCH_TARGET, 0, -1))
    for signed in payee_history:
        check_state(params, signed)
    assert store_here.load(cid).pending is None
    assert not party_here.incidents, [str(i.error) for i in party_here.incidents]
    store_here.close()
