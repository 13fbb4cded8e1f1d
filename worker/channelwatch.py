"""The daemon's own watchtower: it defends the worker's payment channels on chain.

pallet-channels pays out a unilateral close with the newest co-signed state registered
before the channel's challenge period ends (``docs/protocol.md``, "Payment channel"; the
rule of :mod:`ccnet.channels`). A requester that closes with an old state (version 0:
nothing paid) takes back what it paid unless the worker registers its newer state in
time. :class:`ChannelWatcher` does that from inside the daemon, with the worker's
:class:`~ccnet.channels.ChannelParty` (which holds the newest states, durably):

- **start-up sweep**: every live channel of the party is read from the chain; one that
  started closing while the daemon was down is answered
  (:meth:`~ccnet.channels.ChannelParty.answer_stale_close`) if its period is still open;
- **follow**: every ``poll_interval`` seconds it reads the new blocks' events;
  ``Channels.ChannelClosing`` and ``Channels.ChannelChallenged`` of one of its channels
  are answered the same way (the channel is stored as closing, so no new job is served
  on it), ``Channels.ChannelClosed`` marks it settled. A closing channel whose newest
  state grew after it was answered (a payment during the period) is answered again;
- **settle**: once a watched close's period is over it submits ``settle`` (the worker
  gets its balance without waiting for the requester).

The watcher's key is the worker's own (it pays the fees). How short a challenge period
it can defend: :meth:`~ccnet.worker.config.WorkerConfig.min_challenge_blocks`; the
payment desk refuses channels below it. The standalone ``ccnet watchtower run``
(:class:`ccnet.channels.Watchtower`) remains the choice when the daemon is often down:
turn this one off (``watch_channels``) and hand states to that tower (``tower_path``).
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from ccnet.channels import ChannelParty
from ccnet.channels.exceptions import UnknownChannelError
from ccnet.client.exceptions import CcnetError, ChannelsError
from ccnet.client.net.background import cancel_and_wait, create_task_with_logging

if TYPE_CHECKING:
    from ccnet.client import Chain, ChainEvent, Receipt

__all__ = ["WATCHED_EVENTS", "ChannelWatcher"]

log = logging.getLogger(__name__)

WATCHED_EVENTS = ("ChannelClosing", "ChannelChallenged", "ChannelClosed")
"""``Channels`` events the watcher acts on."""


class ChannelWatcher:
    """Defends *party*'s channels on *chain* (see the module docs). *poll_interval*:
    seconds between looks at the chain head; *settle*: submit ``settle`` after a
    watched close's challenge period. Use from the event loop's thread."""

    def __init__(
        self, party: ChannelParty, chain: Chain, *, poll_interval: float, settle: bool = True
    ) -> None:
        if poll_interval <= 0:
            raise ValueError("poll_interval must be a positive number of seconds")
        self.party = party
        self.chain = chain
        self.poll_interval = poll_interval
        self.settle_closes = settle
        self.challenges: list[Receipt] = []
        """``challenge`` receipts (our newer state registered), oldest first."""
        self.settled: list[Receipt] = []
        """``settle`` receipts, oldest first."""
        self._ends: dict[bytes, int] = {}
        """Closing channels of ours -> their ``challenge_ends`` block."""
        self._answered: dict[bytes, int] = {}
        """Closing channels -> the version registered on chain when we last looked."""
        self._next_block: int | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        """Sweep (see the module docs), then follow the chain in a background task."""
        self._next_block = await asyncio.to_thread(self.chain.block_number) + 1
        await self.sweep()
        create_task_with_logging(self._follow(), name="channel-watcher", tasks=self._tasks)

    async def stop(self) -> None:
        """Stop following the chain. Idempotent."""
        await cancel_and_wait(list(self._tasks))

    async def sweep(self) -> None:
        """Look at every live channel of the party on chain and answer the closing ones."""
        for channel in self.party.channels:
            await self.check(channel.channel_id)

    def _ours(self, channel_id: bytes) -> bool:
        try:
            self.party.channel(channel_id)
        except UnknownChannelError:
            return False
        return True

    async def check(self, channel_id: bytes) -> None:
        """Read *channel_id* on chain: gone means settled; closing with an older state
        than ours (period still open) gets ours registered. Errors are logged."""
        if not self._ours(channel_id):
            return
        try:
            info = await asyncio.to_thread(self.chain.channels.channel, channel_id)
            if info is None:  # settled or cooperatively closed by someone
                self._forget(channel_id)
                await self.party.refresh(channel_id)
                return
            if info.closing is None:
                return
            self._ends[channel_id] = info.closing.challenge_ends
            self._answered[channel_id] = info.closing.version
            receipt = await self.party.answer_stale_close(channel_id)
        except CcnetError as err:
            log.error("watching channel 0x%s failed: %s", channel_id.hex(), err)
            return
        if receipt is not None:
            self.challenges.append(receipt)
            self._answered[channel_id] = self.party.channel(channel_id).latest.version
            log.warning(
                "channel 0x%s: stale close answered with version %d",
                channel_id.hex(),
                self._answered[channel_id],
            )

    def _forget(self, channel_id: bytes) -> None:
        self._ends.pop(channel_id, None)
        self._answered.pop(channel_id, None)

    async def _follow(self) -> None:
        while True:
            try:
                await self.poll()
            except CcnetError as err:  # the node is away: look again later
                log.warning("channel watcher: %s", err)
            except Exception:  # a bug must not end the watch: log it, look again
                log.exception("channel watcher failed; looking again")
            await asyncio.sleep(self.poll_interval)

    async def poll(self) -> None:
        """One look: the events of the blocks since the last look, then answers to
        closes whose newest state grew, then the settles that are due."""
        head = await asyncio.to_thread(self.chain.block_number)
        first = self._next_block if self._next_block is not None else head
        for number in range(first, head + 1):
            for event in await asyncio.to_thread(self._events, number):
                await self.on_event(event)
            self._next_block = number + 1
        for channel_id, registered in list(self._answered.items()):
            if self._ours(channel_id):
                if self.party.channel(channel_id).latest.version > registered:
                    await self.check(channel_id)
            else:
                self._forget(channel_id)
        if self.settle_closes:
            await self.settle_due(head + 1)  # a settle lands in the next block

    def _events(self, number: int) -> list[ChainEvent]:
        return self.chain.events_at(self.chain.block_hash(number), block_number=number)

    async def on_event(self, event: ChainEvent) -> None:
        """Handle one chain event (the :data:`WATCHED_EVENTS` of our channels)."""
        if event.pallet != "Channels" or event.name not in WATCHED_EVENTS:
            return
        channel_id = bytes.fromhex(str(event.attributes["channel_id"]).removeprefix("0x"))
        await self.check(channel_id)

    async def settle_due(self, block: int) -> None:
        """Submit ``settle`` for every watched close whose period ended before *block*."""
        for channel_id, ends in sorted(self._ends.items()):
            if block <= ends:
                continue
            if not self._ours(channel_id):
                self._forget(channel_id)
                continue
            try:
                receipt = await self.party.settle(channel_id)
            except ChannelsError as err:
                if err.name in ("UnknownChannel", "NotClosing"):  # someone settled it
                    self._forget(channel_id)
                    await self._refresh(channel_id)
                else:
                    log.error("settle of 0x%s failed: %s", channel_id.hex(), err)
                continue
            except CcnetError as err:
                log.error("settle of 0x%s failed: %s", channel_id.hex(), err)
                continue
            self._forget(channel_id)
            self.settled.append(receipt)
            log.info("channel 0x%s settled", channel_id.hex())

    async def _refresh(self, channel_id: bytes) -> None:
        try:
            if self._ours(channel_id):
                await self.party.refresh(channel_id)
        except CcnetError as err:
            log.error("reading channel 0x%s failed: %s", channel_id.hex(), err)

    def closing(self) -> dict[bytes, int]:
        """Closing channels being watched -> their ``challenge_ends`` block."""
        return dict(self._ends)
