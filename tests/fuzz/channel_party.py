"""Hostile channel frames against real parties with real durable stores.

Four :class:`~ccnet.channels.ChannelParty` objects, each with its own
:class:`~ccnet.channels.store.SqliteChannelStore` (fsync'd SQLite in the work
directory), stand on the channel of :mod:`.channels` in the states an attacker meets:
B at version 0, A with version 1 outstanding, A with a batch of versions 1 to 3
outstanding, and A frozen by its request to close at version 0. Each input picks one of
them and a frame mutated from the honest messages (:func:`.channels.frame`), and hands
the frame to the party through its own read loop (:meth:`~ccnet.channels.ChannelParty.attach`
on a transport that carries that one frame).

Properties: the party never fails (no reader error, no refused commit) and every frame it
sends back decodes; what it holds in memory is what its store holds; and the store,
its latest co-signed state first, changes only for a frame whose signatures are all the
honest peer's (a frame with any other signature, or none, leaves it as it was), and
then only to a state whose signatures verify. A changed store is put back from its
template before the next input.
"""

from __future__ import annotations

import asyncio
import json
import logging
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from substrateinterface import Keypair

from ccnet.channels import ChannelParty, TransportClosedError, decode, encode
from ccnet.channels.channel import Channel
from ccnet.channels.messages import HEADER_SIZE, Message
from ccnet.channels.store import SqliteChannelStore
from ccnet.channels.updates import ChannelUpdate

from .channels import BATCH, FIELDS, PARAMS, frame, honest_messages
from .harness import PropertyError, require, source
from .mutate import Mutator, pick
from .peers import ALICE, BOB

__all__ = ["ChannelAdmission"]

CID = PARAMS.channel_id
WAIT_S = 5.0
"""How long a party may take over one frame, seconds (a liveness bound, not a timing)."""


class Feed:
    """The party's transport: frames handed over one at a time by :meth:`deliver`; keeps
    what the party sends. :attr:`idle` is set while the party waits for a frame."""

    def __init__(self) -> None:
        self.inbox: asyncio.Queue[bytes] = asyncio.Queue()
        self.sent: list[bytes] = []
        self.idle = asyncio.Event()
        self.closed = False

    async def send(self, frame: bytes) -> None:
        self.sent.append(frame)

    async def recv(self) -> bytes:
        if self.closed:
            raise TransportClosedError("the fuzz feed is closed")
        self.idle.set()
        frame = await self.inbox.get()
        return frame

    async def close(self) -> None:
        self.closed = True
        self.idle.set()

    async def deliver(self, frame: bytes) -> list[bytes]:
        """Hand *frame* to the party and wait until it asks for the next one (it has
        handled this one); returns what it sent meanwhile. :class:`PropertyError` when
        it stops reading."""
        self.sent = []
        self.idle.clear()
        self.inbox.put_nowait(frame)
        try:
            await asyncio.wait_for(self.idle.wait(), WAIT_S)
        except TimeoutError:
            raise PropertyError("the party stopped reading its transport") from None
        if self.closed:
            raise PropertyError("the party closed its transport")
        return self.sent


class Alarm(logging.Handler):
    """Collects the errors the party logs (a read loop that died, a refused commit)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def _signatures(message: Message) -> set[bytes]:
    """Every signature *message* carries."""
    found: set[bytes] = set()
    for name in ("signature", "cancel_signature"):
        value = getattr(message, name, None)
        if isinstance(value, bytes):
            found.add(value)
    found.update(getattr(message, "signatures", ()))
    return found


Setup = Callable[[Channel], ChannelUpdate | None]


class Role:
    """One party on the channel, its store in *path*, put back from *template*."""

    def __init__(self, keypair: Keypair, path: Path, template: Path) -> None:
        self.keypair = keypair
        self.path = path
        self.template = template
        self.store = SqliteChannelStore(path)
        self.party = self._party()
        self.feed: Feed | None = None
        self.stored = self.store.load(CID)
        """The channel as the store holds it (read after each input)."""
        self.answers: list[Any] = []
        """Bodies of the honest peer's messages to this party (set by the target)."""

    def _party(self) -> ChannelParty:
        return ChannelParty(
            self.keypair, self.store, genesis_hash=PARAMS.genesis_hash, store_thread=False
        )

    @classmethod
    def create(cls, keypair: Keypair, directory: Path, name: str, setup: Setup | None) -> Role:
        """A party whose store starts as *setup* (an action of its state machine) left
        it: the template ``<name>.template.db``, copied to ``<name>.db``."""
        template = directory / f"{name}.template.db"
        with SqliteChannelStore(template) as store:
            party = ChannelParty(keypair, store, genesis_hash=PARAMS.genesis_hash)
            channel = party.add_channel(PARAMS)
            if setup is not None:
                update = setup(channel)
                assert update is not None
                store.update_persisted_channel(update)
        path = directory / f"{name}.db"
        shutil.copyfile(template, path)
        return cls(keypair, path, template)

    async def deliver(self, frame: bytes) -> list[bytes]:
        """Hand *frame* to the party's read loop (attached once, on a :class:`Feed`);
        returns the frames it sent."""
        if self.feed is None:
            self.feed = Feed()
            await self.party.attach(CID, self.feed)
        return await self.feed.deliver(frame)

    async def restart(self) -> None:
        """A new party on the same store (forgets what is not stored, e.g. ``failed``)."""
        await self.party.aclose()
        self.feed = None
        self.party = self._party()

    async def restore(self) -> None:
        """Put the store back as the template has it, and restart."""
        await self.party.aclose()
        self.store.close()
        for suffix in ("-wal", "-shm"):
            Path(f"{self.path}{suffix}").unlink(missing_ok=True)
        shutil.copyfile(self.template, self.path)
        self.store = SqliteChannelStore(self.path)
        self.stored = self.store.load(CID)
        await self.restart()

    async def aclose(self) -> None:
        """Stop the party and close the store."""
        await self.party.aclose()
        self.store.close()


class ChannelAdmission:
    """Hostile frames against parties with durable stores."""

    name = "channel_admission"

    def __init__(self, workdir: Path) -> None:
        self.loop = asyncio.new_event_loop()
        honest = honest_messages()
        self.seeds = [json.loads(encode(m)[HEADER_SIZE:]) for m in honest.values()]
        self.genuine = set().union(*(_signatures(m) for m in honest.values()))
        workdir.mkdir(parents=True, exist_ok=True)
        self.roles = [
            Role.create(BOB, workdir, "b", None),
            Role.create(ALICE, workdir, "a-pending", lambda c: c.pay(5, "t1")[1]),
            Role.create(ALICE, workdir, "a-batch", lambda c: c.pay_many(BATCH, "tasks")[1]),
            Role.create(ALICE, workdir, "a-closing", lambda c: c.request_close()[1]),
        ]
        bodies = {name: json.loads(encode(m)[HEADER_SIZE:]) for name, m in honest.items()}
        answers = (  # what the honest peer sends each role
            ("propose", "propose_batch", "close_request"),
            ("countersign", "reject_cancel", "reject"),
            ("countersign_batch", "reject_cancel"),
            ("close_accept", "reject"),
        )
        for role, names in zip(self.roles, answers, strict=True):
            role.answers = [bodies[name] for name in names]
        self.logger = logging.getLogger("ccnet.channels")
        self.level = self.logger.level
        self.logger.setLevel(logging.ERROR)  # a refusal per input is a warning
        self.alarm = Alarm()
        self.logger.addHandler(self.alarm)

    def one(self, data: bytes) -> None:
        self.loop.run_until_complete(self._one(data))

    async def _one(self, data: bytes) -> None:
        mutator = Mutator(source(data), keys=FIELDS)
        role = pick(mutator.source, self.roles)
        # Mostly what the honest peer would answer this role, sometimes any message.
        data = frame(mutator, self.seeds if mutator.source.ConsumeBool() else role.answers)
        before = role.stored
        self.alarm.records.clear()
        sent = await role.deliver(data)
        await asyncio.sleep(0)  # a dead reader's done-callback logs now
        if self.alarm.records:
            raise PropertyError(f"the party logged an error: {self.alarm.records[0].getMessage()}")
        for reply in sent:
            decode(reply)  # raises if the party sent something undecodable
        after = role.stored = role.store.load(CID)
        channel = role.party.channel(CID)
        require(channel.record() == after, f"the party holds {channel.record()}, stores {after}")
        if after == before:
            if channel.failed is not None:
                await role.restart()
            return
        message = decode(data)  # a store change needs a valid message ...
        require(
            _signatures(message) <= self.genuine,  # ... signed by the honest peer only
            f"a forged {type(message).__name__} changed the latest co-signed state "
            f"{before.latest} to {after.latest}",
        )
        after.latest.verify(PARAMS)
        if after.closing is not None:
            after.closing.verify(PARAMS)
        await role.restore()

    def close(self) -> None:
        self.logger.removeHandler(self.alarm)
        self.logger.setLevel(self.level)
        for role in self.roles:
            self.loop.run_until_complete(role.aclose())
        self.loop.close()
