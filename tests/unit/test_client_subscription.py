"""EventSubscription against a fake block source that fails on purpose: every block's
events are delivered exactly once, in order, whatever fails and when; Backoff's delays."""

from __future__ import annotations

import logging
import threading

import pytest

from ccnet.client import ChainEvent
from ccnet.client.exceptions import ChainConnectionError
from ccnet.client.subscription import Backoff, EventSubscription


class FlakySource:
    """Blocks 1..*head* with two events each (``Tasks.TaskPosted`` with the block's
    number, and a ``System.Remark`` the filter drops). ``fail[(method, block)]`` is how
    many times that call fails before it answers (``block`` None: ``block_number``)."""

    def __init__(self, head: int, fail: dict[tuple[str, int | None], int]) -> None:
        self.head = head
        self.fail = dict(fail)
        self.calls = 0
        self.lock = threading.Lock()

    def _maybe_fail(self, method: str, block: int | None) -> None:
        with self.lock:
            self.calls += 1
            left = self.fail.get((method, block), 0)
            if left:
                self.fail[(method, block)] = left - 1
                raise ChainConnectionError("ws://fake", "connection closed")

    def block_number(self, *, finalized: bool = False) -> int:
        self._maybe_fail("block_number", None)
        return self.head

    def block_hash(self, number: int | None = None, *, finalized: bool = False) -> str:
        assert number is not None and 1 <= number <= self.head
        self._maybe_fail("block_hash", number)
        return f"0x{number:064x}"

    def events_at(self, block_hash: str, *, block_number: int | None = None) -> list[ChainEvent]:
        number = int(block_hash, 16)
        assert number == block_number
        self._maybe_fail("events_at", number)
        return [
            ChainEvent("Tasks", "TaskPosted", {"task_id": number}, block_number=number),
            ChainEvent("System", "Remarked", {}, block_number=number),
        ]


def _subscribe(
    source: FlakySource, seen: list[int], done: threading.Event, last: int
) -> EventSubscription:
    def on_event(event: ChainEvent) -> None:
        seen.append(int(event.attributes["task_id"]))
        if seen[-1] == last:
            done.set()

    return EventSubscription(
        source,
        on_event,
        ["Tasks"],
        ["TaskPosted"],
        from_block=1,
        poll_interval=0.01,
        backoff=Backoff(0.001, 0.004),
    ).start()


@pytest.mark.parametrize(
    "fail",
    [
        {},
        {("block_number", None): 3},
        {("block_hash", 4): 2, ("events_at", 4): 2},
        {("events_at", 1): 1, ("events_at", 7): 5, ("block_hash", 10): 1},
        {("events_at", 10): 9},
    ],
    ids=["healthy", "head-3x", "block4-4x", "scattered", "last-9x"],
)
def test_each_block_delivered_once_in_order(
    fail: dict[tuple[str, int | None], int], caplog: pytest.LogCaptureFixture
) -> None:
    source = FlakySource(10, fail)
    seen: list[int] = []
    done = threading.Event()
    with caplog.at_level(logging.INFO, logger="ccnet.client.subscription"):
        subscription = _subscribe(source, seen, done, last=10)
        assert done.wait(30), f"delivered {seen}"
        subscription.stop(timeout=10)
    assert not subscription.running
    assert seen == list(range(1, 11))
    assert subscription.failures == sum(fail.values())
    assert subscription.next_block == 11 and subscription.error is None
    lost = [r for r in caplog.records if "event subscription lost" in r.getMessage()]
    assert len(lost) == sum(fail.values())  # one line per failure, no traceback
    assert all(r.exc_info is None for r in lost)
    if lost:
        assert "attempt 1" in lost[0].getMessage() and "retrying from block" in lost[0].msg


def test_new_blocks_after_an_outage_come_next() -> None:
    source = FlakySource(3, {})
    seen: list[int] = []
    done = threading.Event()
    subscription = _subscribe(source, seen, done, last=6)
    try:
        while seen != [1, 2, 3]:
            threading.Event().wait(0.01)
        source.fail = {("block_number", None): 4}
        source.head = 6
        assert done.wait(30), f"delivered {seen}"
    finally:
        subscription.stop(timeout=10)
    assert seen == [1, 2, 3, 4, 5, 6]


def test_starts_after_the_head_when_no_block_is_given() -> None:
    source = FlakySource(5, {("block_number", None): 2})
    seen: list[ChainEvent] = []
    subscription = EventSubscription(
        source, seen.append, poll_interval=0.01, backoff=Backoff(0.001, 0.002)
    ).start()
    try:
        while subscription.next_block is None:
            threading.Event().wait(0.01)
        source.head = 6
        while len(seen) < 2:
            threading.Event().wait(0.01)
    finally:
        subscription.stop(timeout=10)
    assert {e.block_number for e in seen} == {6}


def test_stop_interrupts_the_backoff_wait() -> None:
    source = FlakySource(1, {("block_number", None): 10**6})
    subscription = EventSubscription(
        source, lambda e: None, from_block=1, backoff=Backoff(3600.0, 3600.0)
    ).start()
    while subscription.failures == 0:
        threading.Event().wait(0.01)
    subscription.stop(timeout=10)  # a bound, not a timing assertion: it waits 1 h otherwise
    assert not subscription.running
    assert isinstance(subscription.error, ChainConnectionError)


def test_a_callback_that_raises_does_not_repeat_the_block() -> None:
    source = FlakySource(3, {})
    calls: list[int] = []
    done = threading.Event()

    def on_event(event: ChainEvent) -> None:
        calls.append(int(event.attributes["task_id"]))
        if calls[-1] == 3:
            done.set()
        raise RuntimeError("a bug in the handler")

    subscription = EventSubscription(
        source, on_event, ["Tasks"], from_block=1, poll_interval=0.01
    ).start()
    try:
        assert done.wait(30)
    finally:
        subscription.stop(timeout=10)
    assert calls == [1, 2, 3] and subscription.failures == 0


def test_backoff_doubles_to_the_cap_and_resets() -> None:
    backoff = Backoff()
    assert [backoff.next() for _ in range(9)] == [0.5, 1, 2, 4, 8, 16, 30, 30, 30]
    assert backoff.failures == 9
    backoff.reset()
    assert backoff.next() == 0.5
    for _ in range(10_000):  # no overflow however long the outage
        assert backoff.next() <= 30
    with pytest.raises(ValueError):
        Backoff(0, 1)
    with pytest.raises(ValueError):
        Backoff(2, 1)
