"""Event subscriptions that survive a lost node: :class:`EventSubscription` and its
:class:`Backoff`.

A subscription polls a :class:`BlockSource` (a :class:`ccnet.client.Chain`) from a
daemon thread and hands every matching event, block by block and in order, to a
callback. It remembers the next block to deliver; when the source fails (the node went
away, a request timed out) it logs one line, waits a backoff delay (0.5 s doubling to
30 s, back to 0.5 s after a successful poll) and goes on from that block, so each block's
events are delivered exactly once: a block's events are fetched whole before any is
handed over. Blocks are followed as the node reports them (best or finalized head); a
reorganisation of unfinalized blocks is not undone.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from typing import Protocol

from .events import ChainEvent
from .exceptions import CcnetError

__all__ = ["Backoff", "BlockSource", "EventSubscription"]

logger = logging.getLogger(__name__)

RESUBSCRIBE_FIRST_DELAY = 0.5
"""Seconds before the first retry after a failed poll."""
RESUBSCRIBE_MAX_DELAY = 30.0
"""Longest wait between retries, seconds."""


class BlockSource(Protocol):
    """What a subscription reads (:class:`ccnet.client.Chain` has it). Each method may
    raise :class:`~ccnet.client.exceptions.CcnetError` (e.g.
    :class:`~ccnet.client.exceptions.ChainConnectionError`)."""

    def block_number(self, *, finalized: bool = False) -> int: ...

    def block_hash(self, number: int | None = None, *, finalized: bool = False) -> str: ...

    def events_at(
        self, block_hash: str, *, block_number: int | None = None
    ) -> list[ChainEvent]: ...


class Backoff:
    """Exponential retry delays, seconds: *first*, doubling up to *cap*; :meth:`reset`
    after a success starts again at *first*."""

    def __init__(
        self, first: float = RESUBSCRIBE_FIRST_DELAY, cap: float = RESUBSCRIBE_MAX_DELAY
    ) -> None:
        if not 0 < first <= cap:
            raise ValueError(f"need 0 < first <= cap, got first={first}, cap={cap}")
        self.first = first
        self.cap = cap
        self.failures = 0
        """Failures since the last :meth:`reset`."""

    def next(self) -> float:
        """Count a failure; the delay before the next attempt."""
        delay: float = min(self.cap, self.first * 2.0 ** min(self.failures, 64))
        self.failures += 1
        return delay

    def reset(self) -> None:
        self.failures = 0


class EventSubscription:
    """Events of *source* for *callback*, from a daemon thread (see the module docs).

    *pallets* / *names* filter the events (``None``: all); *from_block* is the first
    block delivered (``None``: the one after the head at the first successful poll);
    *poll_interval* is the seconds between looks at the head. A callback that raises is
    logged and the subscription goes on. Create it with :meth:`Chain.subscribe_events
    <ccnet.client.Chain.subscribe_events>`, or directly and :meth:`start` it.
    """

    def __init__(
        self,
        source: BlockSource | None = None,
        callback: Callable[[ChainEvent], None] | None = None,
        pallets: Sequence[str] | None = None,
        names: Sequence[str] | None = None,
        *,
        from_block: int | None = None,
        finalized: bool = False,
        poll_interval: float = 1.0,
        backoff: Backoff | None = None,
    ) -> None:
        self.stopping = threading.Event()
        self.thread: threading.Thread | None = None
        self.error: CcnetError | None = None
        """The last failure, until a poll succeeds again (``None`` when healthy)."""
        self.next_block = from_block
        """The next block whose events are delivered (``None`` until the first poll)."""
        self.failures = 0
        """Failed polls since start."""
        self._source = source
        self._callback = callback
        self._pallets = None if pallets is None else frozenset(pallets)
        self._names = None if names is None else frozenset(names)
        self._finalized = finalized
        self._poll_interval = poll_interval
        self._backoff = backoff or Backoff()

    def start(self) -> EventSubscription:
        """Start the thread (once); returns self."""
        if self.thread is None:
            self.thread = threading.Thread(target=self._run, name="ccnet-events", daemon=True)
            self.thread.start()
        return self

    def stop(self, timeout: float | None = None) -> None:
        """Ask the thread to stop and wait up to *timeout* seconds for it (a request in
        flight is finished first: bounded by the chain's timeout)."""
        self.stopping.set()
        if self.thread is not None and self.thread is not threading.current_thread():
            self.thread.join(timeout)

    @property
    def running(self) -> bool:
        return self.thread is not None and self.thread.is_alive()

    def _run(self) -> None:
        while not self.stopping.is_set():
            try:
                self._poll()
            except Exception as err:
                delay = self._backoff.next()
                self.failures += 1
                if isinstance(err, CcnetError):
                    self.error = err
                    reason = str(err)
                else:  # a bug or an unexpected answer: its traceback once per outage
                    reason = f"{type(err).__name__}: {err}"
                    if self._backoff.failures == 1:
                        logger.warning("event subscription failed unexpectedly", exc_info=err)
                logger.warning(
                    "event subscription lost (attempt %d): %s; retrying from block %s in %.1f s",
                    self._backoff.failures,
                    reason,
                    "the head" if self.next_block is None else self.next_block,
                    delay,
                )
                self.stopping.wait(delay)
                continue
            if self._backoff.failures:
                logger.info(
                    "event subscription resumed after %d failed attempt(s); next block %s",
                    self._backoff.failures,
                    self.next_block,
                )
                self._backoff.reset()
                self.error = None
            self.stopping.wait(self._poll_interval)

    def _poll(self) -> None:
        """Deliver every block from :attr:`next_block` to the head."""
        assert self._source is not None and self._callback is not None
        head = self._source.block_number(finalized=self._finalized)
        if self.next_block is None:
            self.next_block = head + 1
        while self.next_block <= head and not self.stopping.is_set():
            number = self.next_block
            block_hash = self._source.block_hash(number)
            events = self._source.events_at(block_hash, block_number=number)
            for event in events:
                if self._wanted(event):
                    try:
                        self._callback(event)
                    except Exception:
                        logger.exception("event callback failed on %s", event.qualname)
            self.next_block = number + 1

    def _wanted(self, event: ChainEvent) -> bool:
        return (self._pallets is None or event.pallet in self._pallets) and (
            self._names is None or event.name in self._names
        )
