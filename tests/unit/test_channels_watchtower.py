"""ccnet.channels.watchtower against a fake chain: what it guards, when it registers its
newer state (on ``ChannelClosing`` and ``ChannelChallenged``, and in its start-up sweep),
and when it settles (the real chain is in tests/integration/test_channels_chain.py)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import pytest
from substrateinterface import Keypair

from ccnet.channels import (
    REGISTERED,
    ChannelParams,
    ChannelState,
    SignedState,
    TowerClient,
    TowerStore,
    Watchtower,
    WatchtowerError,
    sign_state,
)
from ccnet.channels.testing import TEST_GENESIS as GENESIS
from ccnet.channels.testing import make_params
from ccnet.client import ChainEvent, Keys
from ccnet.client.exceptions import ChannelsError
from ccnet.client.pallets.channels import ChannelInfo, ClosingInfo

if TYPE_CHECKING:
    from ccnet.client import Chain

CC = 10**12


def cosigned(
    params: ChannelParams, alice: Keypair, bob: Keypair, version: int, paid: int
) -> SignedState:
    state = ChannelState(
        params.channel_id, version, params.deposit_a - paid, params.deposit_b + paid
    )
    return SignedState(
        state,
        sign_state(alice, params.genesis_hash, state),
        sign_state(bob, params.genesis_hash, state),
    )


def test_store_keeps_the_newest_valid_state(tmp_path: Path, alice: Keypair, bob: Keypair) -> None:
    params = make_params(alice, bob)
    store = TowerStore(tmp_path / "tower.db")
    assert store.guard(params, cosigned(params, alice, bob, 5, 5))
    assert not store.guard(params, cosigned(params, alice, bob, 3, 3))
    assert store.guard(params, cosigned(params, alice, bob, 6, 6))
    held = store.get(params.channel_id)
    assert held is not None and held.params == params and held.signed.version == 6
    with pytest.raises(WatchtowerError):
        store.guard(params, SignedState(cosigned(params, alice, bob, 9, 9).state))
    forged = cosigned(params, alice, alice, 9, 9)
    with pytest.raises(WatchtowerError):
        store.guard(params, forged)
    # Another process's view of the same file, through the party-side client.
    client = TowerClient(tmp_path / "tower.db")
    client(params, cosigned(params, alice, bob, 7, 7))
    client(params, forged)  # logged, not raised
    client.close()
    assert [g.signed.version for g in store.all()] == [7]


@dataclass
class FakeChannels:
    info: ChannelInfo | None
    calls: list[tuple[Any, ...]] = field(default_factory=list)
    settled: list[bytes] = field(default_factory=list)

    def channel(self, channel_id: bytes) -> ChannelInfo | None:
        return self.info

    def channels(self) -> list[ChannelInfo]:
        return [] if self.info is None else [self.info]

    def challenge(self, keypair: Keypair, *args: Any) -> None:
        self.calls.append(args)

    def settle(self, keypair: Keypair, channel_id: bytes) -> str:
        if self.info is None:
            raise ChannelsError("Channels", "UnknownChannel", "")
        self.settled.append(channel_id)
        self.info = None
        return "receipt"


@dataclass
class FakeChain:
    channels: FakeChannels
    head: int = 10
    genesis_hash: bytes = GENESIS

    def block_number(self) -> int:
        return self.head


def closing(
    params: ChannelParams, alice: Keypair, bob: Keypair, version: int, ends: int
) -> ChannelInfo:
    return ChannelInfo(
        channel_id="0x" + params.channel_id.hex(),
        party_a=alice.ss58_address,
        party_b=bob.ss58_address,
        deposit_a=params.deposit_a,
        deposit_b=params.deposit_b,
        phase="Closing",
        closing=ClosingInfo(version, params.deposit_a, params.deposit_b, "A", ends),
        challenge_period=20,
        record_deposit=10**10,
    )


def tower(tmp_path: Path, fake: FakeChain, *, settle: bool = False) -> Watchtower:
    return Watchtower(
        cast("Chain", fake), Keys.from_uri("//Ferdie"), tmp_path / "tower.db", settle=settle
    )


def test_registers_its_newer_state_against_a_stale_close_only(
    tmp_path: Path, alice: Keypair, bob: Keypair
) -> None:
    params = make_params(alice, bob, deposit_a=10 * CC, deposit_b=0)
    fake = FakeChain(FakeChannels(closing(params, alice, bob, version=0, ends=30)))
    watchtower = tower(tmp_path, fake)
    assert watchtower.check(params.channel_id) is None  # nothing guarded yet
    held = cosigned(params, alice, bob, 4, 1 * CC)
    watchtower.guard(params, held)
    event = ChainEvent("Channels", "ChannelClosing", {"channel_id": "0x" + params.channel_id.hex()})
    challenge = watchtower.on_event(event)
    assert challenge is not None and (challenge.closed_version, challenge.version) == (0, 4)
    assert challenge.outcome == REGISTERED
    state = held.state
    assert fake.channels.calls == [
        (params.channel_id, 4, state.balance_a, state.balance_b, held.signature_a, held.signature_b)
    ]
    assert [c.version for c in watchtower.store.challenges()] == [4]
    # Registered with the newest version: nothing to do.
    fake.channels.info = closing(params, alice, bob, version=4, ends=30)
    assert watchtower.check(params.channel_id) is None
    # Stale, but the challenge period is over.
    fake.channels.info = closing(params, alice, bob, version=1, ends=10)
    assert watchtower.check(params.channel_id) is None
    # Stale, but the chain's channel differs from what was guarded.
    other = closing(params, alice, bob, version=1, ends=30)
    fake.channels.info = ChannelInfo(**{**other.__dict__, "deposit_a": 1})
    assert watchtower.check(params.channel_id) is None
    assert len(fake.channels.calls) == 1
    watchtower.close()


def test_answers_a_challenge_with_an_older_state_too(
    tmp_path: Path, alice: Keypair, bob: Keypair
) -> None:
    """The peer replaced the registered state with one that is newer but older than
    ours: ``ChannelChallenged`` triggers the tower like ``ChannelClosing``."""
    params = make_params(alice, bob, deposit_a=10 * CC, deposit_b=0)
    fake = FakeChain(FakeChannels(closing(params, alice, bob, version=2, ends=30)))
    watchtower = tower(tmp_path, fake)
    watchtower.guard(params, cosigned(params, alice, bob, 5, 1 * CC))
    cid = "0x" + params.channel_id.hex()
    assert watchtower.on_event(ChainEvent("Channels", "ChannelFunded", {"channel_id": cid})) is None
    challenge = watchtower.on_event(
        ChainEvent("Channels", "ChannelChallenged", {"channel_id": cid})
    )
    assert challenge is not None and (challenge.closed_version, challenge.version) == (2, 5)
    watchtower.close()


def test_start_up_sweep_answers_closes_it_missed_and_settles_after_the_period(
    tmp_path: Path, alice: Keypair, bob: Keypair
) -> None:
    """A close happened while the tower was down: the sweep reads the chain's channels,
    registers the newer state, and (with settle) pays out once the period is over."""
    params = make_params(alice, bob, deposit_a=10 * CC, deposit_b=0)
    TowerStore(tmp_path / "tower.db").guard(params, cosigned(params, alice, bob, 3, 2 * CC))
    fake = FakeChain(FakeChannels(closing(params, alice, bob, version=1, ends=30)))
    watchtower = tower(tmp_path, fake, settle=True)
    (challenge,) = watchtower.sweep()
    assert (challenge.closed_version, challenge.version, challenge.outcome) == (1, 3, REGISTERED)
    assert watchtower.settle_due(30) == [] and fake.channels.settled == []  # still open
    assert [str(r) for r in watchtower.settle_due(31)] == ["receipt"]
    assert fake.channels.settled == [params.channel_id]
    assert watchtower.settle_due(32) == []  # settled once
    watchtower.close()


def test_refuses_states_of_another_chain(tmp_path: Path, alice: Keypair, bob: Keypair) -> None:
    params = make_params(alice, bob)
    fake = FakeChain(FakeChannels(None), genesis_hash=hashlib.sha256(b"other").digest())
    watchtower = tower(tmp_path, fake)
    with pytest.raises(WatchtowerError):
        watchtower.guard(params, cosigned(params, alice, bob, 1, 1))
    watchtower.close()
