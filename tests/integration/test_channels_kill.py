"""kill -9 durability: a party runs in its own process (channels_party_proc.py) and is
killed with SIGKILL, at each protocol point (updates and the close freeze) and at
random moments; the restarted process recovers the latest co-signed state (and its
close freeze or agreement) from its store, finishes, and (on the dev chain) closes
cooperatively with it, to the planck.

The process is the payer A (and then the test process is B) or the payee B (the test
process is A and pays); the test process listens on 127.0.0.1. Anything the process
reported as co-signed before it died must survive the restart.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from substrateinterface import Keypair

from ccnet.channels import (
    ChannelParams,
    ChannelParty,
    ClosingAgreement,
    Party,
    PeerTimeoutError,
    Phase,
    SqliteChannelStore,
    StreamTransport,
    TransportClosedError,
    serve,
)
from ccnet.channels.testing import TEST_GENESIS, amount_for, make_params, paid_until
from ccnet.client import CC, Chain, Keys, Receipt

PROC = Path(__file__).with_name("channels_party_proc.py")
TARGET = 10
"""Versions the short runs go to."""


class Peer:
    """The party in the test process: serves the process's connections on 127.0.0.1."""

    def __init__(self, party: ChannelParty, channel_id: bytes) -> None:
        self.party = party
        self.channel_id = channel_id
        self.connections = 0
        self._changed = asyncio.Condition()
        self._server: asyncio.Server | None = None

    async def start(self) -> int:
        self._server = await serve(self._on_connect)
        return int(self._server.sockets[0].getsockname()[1])

    async def _on_connect(self, transport: StreamTransport) -> None:
        await self.party.attach(self.channel_id, transport)
        async with self._changed:
            self.connections += 1
            self._changed.notify_all()

    async def wait_connection(self, count: int) -> None:
        async with self._changed:
            await self._changed.wait_for(lambda: self.connections >= count)

    async def pay_until(self, target: int) -> None:
        """Pay (as A) until *target*, riding out the process's deaths (re-sending on
        reconnect)."""
        cid = self.channel_id
        while self.party.channel(cid).latest.version < target:
            try:
                if self.party.channel(cid).pending is not None:
                    await self.party.resolve(cid)
                else:
                    version = self.party.channel(cid).next_version
                    await self.party.pay(cid, amount_for(version))
            except (TransportClosedError, PeerTimeoutError):
                await self.wait_connection(self.connections + 1)

    async def agree_close(self) -> ClosingAgreement:
        """Agree the cooperative close, riding out the process's deaths (asking again on
        reconnect)."""
        while True:
            connections = self.connections
            try:
                return await self.party.agree_close(self.channel_id)
            except (TransportClosedError, PeerTimeoutError):
                await self.wait_connection(connections + 1)

    async def stop(self) -> None:
        await self.party.aclose()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()


class Run:
    """One life of the party process."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.ready: int | None = None
        self.cosigned: list[int] = []
        self.agreed: dict[str, Any] | None = None
        self.stored_agreement: int | None = None
        self.closed: dict[str, Any] | None = None

    async def lines(self) -> AsyncIterator[str]:
        assert self.proc.stdout is not None
        while line := (await self.proc.stdout.readline()).decode():
            kind, _, rest = line.strip().partition(" ")
            if kind == "ready":
                self.ready = int(rest)
            elif kind == "cosigned":
                self.cosigned.append(int(rest))
            elif kind == "agreed":
                self.agreed = json.loads(rest)
            elif kind == "stored-agreement":
                self.stored_agreement = int(rest)
            elif kind == "closed":
                self.closed = json.loads(rest)
            yield kind

    async def finish(self) -> int:
        async for _ in self.lines():
            pass
        return await self.proc.wait()


async def spawn(tmp_path: Path, config: dict[str, Any], name: str) -> Run:
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(config))
    with open(tmp_path / f"{name}.stderr", "wb") as stderr:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, str(PROC), str(path), stdout=asyncio.subprocess.PIPE, stderr=stderr
        )
    return Run(proc)


def stderr_of(tmp_path: Path, name: str) -> str:
    return (tmp_path / f"{name}.stderr").read_text()[-3000:]


PAYER_POINTS = [
    "before-commit-signed",
    "after-commit-signed",
    "after-send-propose",
    "before-commit-cosigned",
]
PAYEE_POINTS = ["before-commit-cosigned", "after-commit-cosigned"]


@pytest.mark.parametrize(
    ("role", "point"),
    [("payer", p) for p in PAYER_POINTS] + [("payee", p) for p in PAYEE_POINTS],
)
async def test_kill_at_each_protocol_point(
    role: str, point: str, tmp_path: Path, alice: Keypair, bob: Keypair
) -> None:
    params = make_params(alice, bob, deposit_a=10 * CC, deposit_b=10 * CC)
    cid = params.channel_id
    here, there = (bob, "//Alice") if role == "payer" else (alice, "//Bob")
    store_here = SqliteChannelStore(tmp_path / "here.db")
    party_here = ChannelParty(here, store_here, genesis_hash=TEST_GENESIS, timeout=5.0)
    party_here.add_channel(params)
    peer = Peer(party_here, cid)
    config: dict[str, Any] = {
        "secret": there,
        "store": str(tmp_path / "there.db"),
        "params": params.to_json(),
        "port": await peer.start(),
        "role": role,
        "target": TARGET,
        "crash": {"point": point, "at": 5},
    }
    paying = asyncio.create_task(peer.pay_until(TARGET)) if role == "payee" else None

    first = await spawn(tmp_path, config, "first")
    code = await first.finish()
    assert code == -signal.SIGKILL, stderr_of(tmp_path, "first")
    assert first.cosigned == [1, 2, 3, 4]  # it died inside the update of version 5
    del config["crash"]
    second = await spawn(tmp_path, config, "second")
    code = await second.finish()
    assert code == 0, stderr_of(tmp_path, "second")
    if paying is not None:
        await asyncio.wait_for(paying, 30)
    await peer.stop()

    # Nothing reported co-signed was lost, and both sides end on the same state.
    assert second.ready is not None and second.ready >= max(first.cosigned, default=0)
    store_there = SqliteChannelStore(tmp_path / "there.db")
    latest = store_there.latest_cosigned(cid)
    assert latest == store_here.latest_cosigned(cid)
    assert latest.version == TARGET
    latest.verify(params)
    paid = paid_until(TARGET)  # A paid B
    assert latest.state.balance_a == params.deposit_a - paid
    assert latest.state.balance_b == params.deposit_b + paid
    assert store_there.load(cid).pending is None and store_here.load(cid).pending is None
    assert not party_here.incidents, [str(i.error) for i in party_here.incidents]
    store_here.close()
    store_there.close()


REQUESTER_CLOSE_POINTS = [
    "before-commit-close",
    "after-commit-close",
    "after-send-close-request",
    "after-commit-agreed",
]
RESPONDER_CLOSE_POINTS = ["before-commit-close", "after-commit-close"]


@pytest.mark.parametrize(
    ("role", "point"),
    [("requester", p) for p in REQUESTER_CLOSE_POINTS]
    + [("responder", p) for p in RESPONDER_CLOSE_POINTS],
)
async def test_kill_around_the_close_freeze(
    role: str, point: str, tmp_path: Path, alice: Keypair, bob: Keypair
) -> None:
    """The process dies around the freeze of a cooperative close (as the requester A
    after paying, or as B answering A's request); the restart agrees the same close,
    and it never unfreezes."""
    params = make_params(alice, bob, deposit_a=10 * CC, deposit_b=10 * CC)
    cid = params.channel_id
    requester = role == "requester"
    here, there = (bob, "//Alice") if requester else (alice, "//Bob")
    dying = Party.A if requester else Party.B
    store_here = SqliteChannelStore(tmp_path / "here.db")
    party_here = ChannelParty(here, store_here, genesis_hash=TEST_GENESIS, timeout=5.0)
    party_here.add_channel(params)
    peer = Peer(party_here, cid)
    config: dict[str, Any] = {
        "secret": there,
        "store": str(tmp_path / "there.db"),
        "params": params.to_json(),
        "port": await peer.start(),
        "role": "payer" if requester else "payee",
        "close": "request" if requester else "answer",
        "target": TARGET,
        "crash": {"point": point},
    }

    async def pay_then_close() -> ClosingAgreement:
        await peer.pay_until(TARGET)
        return await peer.agree_close()

    closing = None if requester else asyncio.create_task(pay_then_close())
    first = await spawn(tmp_path, config, "first")
    assert await first.finish() == -signal.SIGKILL, stderr_of(tmp_path, "first")
    assert first.cosigned[-1] == TARGET and first.agreed is None
    store_there = SqliteChannelStore(tmp_path / "there.db")
    frozen = store_there.load(cid).closing
    if point == "before-commit-close":
        assert frozen is None  # nothing signed, nothing sent
    else:
        assert frozen is not None and frozen.state == store_there.latest_cosigned(cid).state
        assert frozen.complete == (point == "after-commit-agreed" or not requester)
    if requester and point in ("before-commit-close", "after-commit-close"):
        assert store_here.load(cid).closing is None  # B never saw a request

    del config["crash"]
    second = await spawn(tmp_path, config, "second")
    if closing is not None:
        await asyncio.wait_for(closing, 30)
        await party_here.detach(cid)  # the process serves until we hang up
    assert await second.finish() == 0, stderr_of(tmp_path, "second")
    await peer.stop()
    assert second.agreed == {"version": TARGET}
    agreement = store_there.load(cid).closing
    assert agreement is not None and agreement.complete
    assert agreement == store_here.load(cid).closing == party_here.channel(cid).closing
    agreement.verify(params)
    assert agreement.state == store_here.latest_cosigned(cid).state
    assert agreement.state.balance_a == params.deposit_a - paid_until(TARGET)
    if frozen is not None:  # the signature given out before the crash was kept
        assert agreement.signature_of(dying) == frozen.signature_of(dying)
    assert not party_here.incidents, [str(i.error) for i in party_here.incidents]
    store_here.close()
    store_there.close()


@dataclass
class OnChain:
    """A channel opened by A (a fresh account whose seed the party process gets) to B
    (in the test process, which funds it)."""

    alice: Keypair
    bob: Keypair
    seed: str
    party_b: ChannelParty
    store_b: SqliteChannelStore
    channel_id: bytes
    opened: Receipt
    free: dict[str, int]
    """Free balances before the open, planck."""

    def free_after(self, who: Keypair, fees: int, deposit: int, final: int) -> int:
        return self.free[who.ss58_address] - fees - deposit + final


async def open_on_chain(chain: Chain, tmp_path: Path, deposit: int) -> OnChain:
    """Two fresh accounts (1000 CC each from //Ferdie); A opens a channel with *deposit*
    planck on each side, B joins and funds it."""
    funder = Keys.from_uri("//Ferdie")
    seed = os.urandom(32).hex()
    alice, bob = Keys.from_seed(seed), Keys.generate()[0]
    for who in (alice, bob):
        await asyncio.to_thread(chain.transfer, funder, str(who.ss58_address), 1000 * CC)
    free = {kp.ss58_address: chain.free_balance(kp.ss58_address) for kp in (alice, bob)}
    opened = await asyncio.to_thread(
        chain.channels.open, alice, str(bob.ss58_address), deposit, deposit
    )
    cid = chain.channels.opened_channel_id(opened)
    store_b = SqliteChannelStore(tmp_path / "bob.db")
    party_b = ChannelParty(bob, store_b, chain=chain, timeout=5.0)
    assert (await party_b.join(cid)).phase is Phase.FUNDED
    return OnChain(alice, bob, seed, party_b, store_b, cid, opened, free)


async def test_restart_submits_the_stored_agreement(ccnet_chain: Chain, tmp_path: Path) -> None:
    """A pays, agrees the close and dies with both close signatures stored, before
    submitting; its restart submits cooperative_close from the store (no new
    agreement), with exact balances."""
    chain = ccnet_chain
    deposit = 10 * CC
    on = await open_on_chain(chain, tmp_path, deposit)
    party_b, store_b, cid = on.party_b, on.store_b, on.channel_id
    params: ChannelParams = party_b.channel(cid).info
    peer = Peer(party_b, cid)
    config: dict[str, Any] = {
        "secret": on.seed,
        "store": str(tmp_path / "alice.db"),
        "params": params.to_json(),
        "port": await peer.start(),
        "role": "payer",
        "target": TARGET,
        "chain_url": chain.url,
        "crash": {"point": "after-commit-agreed"},
    }
    first = await spawn(tmp_path, config, "first")
    assert await first.finish() == -signal.SIGKILL, stderr_of(tmp_path, "first")
    assert first.closed is None and chain.channels.channel(cid) is not None
    agreed = store_b.load(cid).closing
    assert agreed is not None and agreed.complete and agreed.version == TARGET
    assert party_b.channel(cid).frozen  # B is frozen too

    del config["crash"]
    second = await spawn(tmp_path, config, "second")
    assert await second.finish() == 0, stderr_of(tmp_path, "second")
    await peer.stop()
    assert second.stored_agreement == TARGET and second.closed is not None
    final_a, final_b = deposit - paid_until(TARGET), deposit + paid_until(TARGET)
    closed = second.closed
    assert (closed["version"], closed["balance_a"], closed["balance_b"]) == (
        TARGET,
        final_a,
        final_b,
    )
    assert chain.channels.channel(cid) is None
    assert await party_b.refresh(cid) is Phase.SETTLED
    fee_a = on.opened.fee + int(closed["fee"])
    fee_b = sum(r.fee for r in party_b.receipts)
    assert chain.free_balance(on.alice.ss58_address) == on.free_after(
        on.alice, fee_a, deposit, final_a
    )
    assert chain.free_balance(on.bob.ss58_address) == on.free_after(on.bob, fee_b, deposit, final_b)
    store_b.close()


async def test_random_kills_then_close_on_chain(ccnet_chain: Chain, tmp_path: Path) -> None:
    """Kill the paying process three times at random moments; the fourth life finishes
    the payments and closes cooperatively; balances on chain are exact."""
    chain = ccnet_chain
    target = 60
    deposit = 10 * CC
    on = await open_on_chain(chain, tmp_path, deposit)
    party_b, store_b, cid = on.party_b, on.store_b, on.channel_id
    params: ChannelParams = party_b.channel(cid).info
    peer = Peer(party_b, cid)
    config: dict[str, Any] = {
        "secret": on.seed,
        "store": str(tmp_path / "alice.db"),
        "params": params.to_json(),
        "port": await peer.start(),
        "role": "payer",
        "target": target,
    }

    rng = random.Random(20240917)
    seen = 0
    for life in range(3):
        run = await spawn(tmp_path, config, f"life{life}")
        kill_after = rng.randint(3, 12)
        async for kind in run.lines():
            if kind == "ready":
                assert run.ready is not None and run.ready >= seen
            if kind == "cosigned" and len(run.cosigned) == kill_after:
                await asyncio.sleep(rng.random() * 0.003)
                run.proc.send_signal(signal.SIGKILL)
                break
        assert await run.proc.wait() == -signal.SIGKILL, stderr_of(tmp_path, f"life{life}")
        seen = max([seen, *run.cosigned])

    config["chain_url"] = chain.url
    last = await spawn(tmp_path, config, "last")
    assert await last.finish() == 0, stderr_of(tmp_path, "last")
    await peer.stop()
    assert last.ready is not None and last.ready >= seen
    assert last.closed is not None
    final_a, final_b = deposit - paid_until(target), deposit + paid_until(target)
    closed = last.closed
    assert (closed["version"], closed["balance_a"], closed["balance_b"]) == (
        target,
        final_a,
        final_b,
    )
    assert store_b.latest_cosigned(cid).version == target
    assert chain.channels.channel(cid) is None
    assert await party_b.refresh(cid) is Phase.SETTLED

    fee_a = on.opened.fee + int(closed["fee"])
    fee_b = sum(r.fee for r in party_b.receipts)
    assert chain.free_balance(on.alice.ss58_address) == on.free_after(
        on.alice, fee_a, deposit, final_a
    )
    assert chain.free_balance(on.bob.ss58_address) == on.free_after(on.bob, fee_b, deposit, final_b)
    store_b.close()
