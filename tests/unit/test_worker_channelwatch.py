"""The daemon's channel watcher (ccnet.worker.channelwatch) against a scripted chain and
party: what it answers, when it settles, what it leaves alone. The real chain, party
and daemon process are tests/adversarial/test_daemon_attacks.py."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, cast

import pytest

from ccnet.channels import ChannelParty
from ccnet.channels.exceptions import UnknownChannelError
from ccnet.client import Chain, ChainEvent
from ccnet.client.exceptions import ChainConnectionError, ChannelsError
from ccnet.client.pallets.channels import ChannelInfo, ClosingInfo
from ccnet.worker.channelwatch import ChannelWatcher

OURS, OTHER = bytes([1]) * 32, bytes([2]) * 32


def closing_info(version: int, ends: int) -> ChannelInfo:
    closing = ClosingInfo(version, 10, 0, "A", ends)
    return ChannelInfo("0x" + OURS.hex(), "a", "b", 10, 0, "Closing", closing, 20, 1)


FUNDED = ChannelInfo("0x" + OURS.hex(), "a", "b", 10, 0, "Funded", None, 20, 1)


@dataclass
class FakeChain:
    head: int = 100
    info: ChannelInfo | None = FUNDED
    events: dict[int, list[ChainEvent]] = field(default_factory=dict)
    reads: int = 0

    @property
    def channels(self) -> FakeChain:
        return self

    def block_number(self) -> int:
        return self.head

    def block_hash(self, number: int) -> str:
        return f"0x{number:064x}"

    def events_at(self, block_hash: str, *, block_number: int) -> list[ChainEvent]:
        return self.events.get(block_number, [])

    def channel(self, channel_id: bytes) -> ChannelInfo | None:
        self.reads += 1
        if self.info is None:
            return None
        return self.info if channel_id == OURS else None


@dataclass
class _Latest:
    version: int


@dataclass
class _Channel:
    channel_id: bytes
    latest: _Latest


@dataclass
class FakeParty:
    """Holds OURS at *version*; answers a close older than that (as the real
    :meth:`ChannelParty.answer_stale_close` does, which reads the chain itself)."""

    chain: FakeChain
    version: int = 3
    live: bool = True
    answered: list[int] = field(default_factory=list)
    settled: list[bytes] = field(default_factory=list)
    refreshed: list[bytes] = field(default_factory=list)
    settle_error: Exception | None = None

    @property
    def channels(self) -> list[_Channel]:
        return [self.channel(OURS)] if self.live else []

    def channel(self, channel_id: bytes) -> _Channel:
        if channel_id != OURS or not self.live:
            raise UnknownChannelError("no such channel")
        return _Channel(OURS, _Latest(self.version))

    async def answer_stale_close(self, channel_id: bytes) -> object | None:
        info = self.chain.info
        assert info is not None and info.closing is not None
        if info.closing.version >= self.version:
            return None
        self.answered.append(self.version)
        self.chain.info = closing_info(self.version, info.closing.challenge_ends)
        return f"challenge {self.version}"

    async def settle(self, channel_id: bytes) -> object:
        if self.settle_error is not None:
            raise self.settle_error
        self.settled.append(channel_id)
        self.live = False
        return "settle"

    async def refresh(self, channel_id: bytes) -> None:
        self.refreshed.append(channel_id)
        self.live = False


def watcher(chain: FakeChain, party: FakeParty) -> ChannelWatcher:
    return ChannelWatcher(cast(ChannelParty, party), cast(Chain, chain), poll_interval=0.01)


def closing_event(channel_id: bytes, name: str = "ChannelClosing") -> ChainEvent:
    return ChainEvent("Channels", name, {"channel_id": "0x" + channel_id.hex()})


async def test_the_sweep_answers_a_close_made_while_down_then_settles_after_the_period() -> None:
    chain = FakeChain(info=closing_info(0, ends=110))
    party = FakeParty(chain)
    watch = watcher(chain, party)
    await watch.sweep()
    assert party.answered == [3] and list(map(str, watch.challenges)) == ["challenge 3"]
    assert watch.closing() == {OURS: 110}
    await watch.settle_due(110)  # challenge_ends itself is still open
    assert party.settled == []
    await watch.settle_due(111)
    assert (
        party.settled == [OURS]
        and list(map(str, watch.settled)) == ["settle"]
        and watch.closing() == {}
    )


async def test_a_close_event_is_answered_and_other_channels_are_ignored() -> None:
    chain = FakeChain()
    party = FakeParty(chain)
    watch = watcher(chain, party)
    await watch.start()  # nothing closing: the sweep does nothing
    await watch.stop()
    assert party.answered == [] and party.refreshed == [] and watch.closing() == {}
    chain.info = closing_info(1, ends=120)
    chain.events = {101: [closing_event(OTHER)], 102: [closing_event(OURS)]}
    chain.head = 102
    reads = chain.reads
    await watch.poll()
    assert party.answered == [3]
    assert chain.reads == reads + 1  # OTHER is not ours: not even read
    await watch.poll()  # no new block: nothing again
    assert party.answered == [3]


async def test_a_payment_during_the_period_is_registered_too() -> None:
    chain = FakeChain(info=closing_info(0, ends=120))
    party = FakeParty(chain)
    watch = watcher(chain, party)
    await watch.sweep()
    party.version = 4  # the requester paid once more after we answered
    await watch.poll()
    assert party.answered == [3, 4]
    await watch.poll()
    assert party.answered == [3, 4]


async def test_a_channel_settled_by_someone_else_is_forgotten() -> None:
    chain = FakeChain(info=closing_info(3, ends=105))  # a fair close: nothing to answer
    party = FakeParty(chain)
    party.settle_error = ChannelsError("Channels", "UnknownChannel")
    watch = watcher(chain, party)
    await watch.sweep()
    assert party.answered == [] and watch.closing() == {OURS: 105}
    await watch.settle_due(106)
    assert party.refreshed == [OURS] and watch.closing() == {}


async def test_a_closed_channel_is_marked_settled_on_its_event() -> None:
    chain = FakeChain(info=None)
    party = FakeParty(chain)
    watch = watcher(chain, party)
    await watch.on_event(closing_event(OURS, "ChannelClosed"))  # gone from the chain
    assert party.refreshed == [OURS]


async def test_an_unreachable_node_is_logged_not_fatal(caplog: pytest.LogCaptureFixture) -> None:
    class Away(FakeChain):
        def channel(self, channel_id: bytes) -> Any:
            raise ChainConnectionError("ws://x", "node away")

    party = FakeParty(Away())
    watch = watcher(party.chain, party)
    await watch.sweep()
    assert "node away" in caplog.text and party.answered == []


def test_the_poll_interval_must_be_positive() -> None:
    with pytest.raises(ValueError):
        ChannelWatcher(cast(ChannelParty, None), cast(Chain, None), poll_interval=0)
