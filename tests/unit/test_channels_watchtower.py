"""ccnet.channels.watchtower against a fake chain: what it guards, and when it
challenges (the real chain is in tests/integration/test_channels_chain.py)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import pytest
from substrateinterface import Keypair

from ccnet.channels import (
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

    def channel(self, channel_id: bytes) -> ChannelInfo | None:
        return self.info

    def challenge(self, keypair: Keypair, *args: Any) -> None:
        self.calls.append(args)


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
    )


def tower(tmp_path: Path, fake: FakeChain) -> Watchtower:
    return Watchtower(cast("Chain", fake), Keys.from_uri("//Ferdie"), tmp_path / "tower.db")


def test_challenges_a_stale_close_only(tmp_path: Path, alice: Keypair, bob: Keypair) -> None:
    params = make_params(alice, bob, deposit_a=10 * CC, deposit_b=0)
    fake = FakeChain(FakeChannels(closing(params, alice, bob, version=0, ends=30)))
    watchtower = tower(tmp_path, fake)
    assert watchtower.check(params.channel_id) is None  # nothing guarded yet
    held = cosigned(params, alice, bob, 4, 1 * CC)
    watchtower.guard(params, held)
    event = ChainEvent("Channels", "ChannelClosing", {"channel_id": "0x" + params.channel_id.hex()})
    challenge = watchtower.on_event(event)
    assert challenge is not None and (challenge.closed_version, challenge.version) == (0, 4)
    state = held.state
    assert fake.channels.calls == [
        (params.channel_id, 4, state.balance_a, state.balance_b, held.signature_a, held.signature_b)
    ]
    assert [c.version for c in watchtower.store.challenges()] == [4]
    # Closed with the newest version: nothing to refute.
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


def test_refuses_states_of_another_chain(tmp_path: Path, alice: Keypair, bob: Keypair) -> None:
    params = make_params(alice, bob)
    fake = FakeChain(FakeChannels(None), genesis_hash=hashlib.sha256(b"other").digest())
    watchtower = tower(tmp_path, fake)
    with pytest.raises(WatchtowerError):
        watchtower.guard(params, cosigned(params, alice, bob, 1, 1))
    watchtower.close()
