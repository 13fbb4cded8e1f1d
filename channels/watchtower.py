"""The watchtower: registers the newest state of the channels it guards against stale
unilateral closes.

pallet-channels settles a unilateral close with the newest co-signed state registered
before the channel's challenge period ends (latest version wins, as in Perun's
``dispute`` and Raiden's ``updateNonClosingBalanceProof``; no penalty). A party that
is offline for the whole period would be paid an older state, so it hands its newest
co-signed states to a tower (:meth:`TowerStore.guard`, or the :class:`TowerClient`
callable a :class:`~.party.ChannelParty` takes as its ``guardian``). The tower follows
the chain's ``Channels.ChannelClosing`` and ``Channels.ChannelChallenged`` events; when
a guarded channel's registered version is older than the one it holds, it registers its
state with ``challenge`` before ``challenge_ends``. On start it sweeps the chain's
``Channels`` storage for guarded channels that started closing while it was down. With
``settle=True`` it also submits ``settle`` once a period it watched is over. It holds no
party keys: the co-signed state carries the authority, and its own key only pays fees.

Hand-off is the tower's SQLite file (WAL, ``synchronous=FULL``): parties (in any
process, e.g. ``ccnet channel guard``) write to it, and the running tower
(``ccnet watchtower run``) reads it whenever a close is seen, so nothing else has to
listen. Table ``guarded`` keeps one row per channel, only ever replaced by a newer
version; table ``challenges`` records what the tower submitted.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from substrateinterface import Keypair
from substrateinterface.utils.ss58 import ss58_decode

from ccnet.client.exceptions import ChannelsError

from .exceptions import BalanceError, SignatureError, WatchtowerError
from .state import ChannelParams, ChannelState, SignedState

if TYPE_CHECKING:
    from ccnet.client import Chain, ChainEvent, ChannelInfo, Receipt

__all__ = ["REGISTERED", "Challenge", "Guarded", "TowerClient", "TowerStore", "Watchtower"]

log = logging.getLogger(__name__)

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS guarded (
        channel_id BLOB PRIMARY KEY,
        genesis_hash BLOB NOT NULL,
        party_a BLOB NOT NULL,
        party_b BLOB NOT NULL,
        deposit_a TEXT NOT NULL,
        deposit_b TEXT NOT NULL,
        version INTEGER NOT NULL,
        balance_a TEXT NOT NULL,
        balance_b TEXT NOT NULL,
        signature_a BLOB NOT NULL,
        signature_b BLOB NOT NULL,
        updated REAL NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS challenges (
        channel_id BLOB NOT NULL,
        closed_version INTEGER NOT NULL,
        version INTEGER NOT NULL,
        block_hash TEXT,
        extrinsic_hash TEXT,
        outcome TEXT NOT NULL,
        at REAL NOT NULL
    )""",
)


@dataclass(frozen=True)
class Guarded:
    """A channel the tower guards and the newest co-signed state it holds."""

    params: ChannelParams
    signed: SignedState


REGISTERED = "registered"
"""The outcome of a challenge the chain took: the tower's state replaced the stale one."""


@dataclass(frozen=True)
class Challenge:
    """A newer state the tower registered (or tried to) against a stale one."""

    channel_id: bytes
    closed_version: int
    """The stale version that was registered."""
    version: int
    """The newer version the tower submitted."""
    outcome: str
    """:data:`REGISTERED`, or the error text."""
    receipt: Receipt | None = None


class TowerStore:
    """The tower's SQLite file (see the module docs); safe to open from several
    processes. Raises :class:`WatchtowerError` if it cannot be opened."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("PRAGMA busy_timeout=10000")
            for statement in _SCHEMA:
                self._db.execute(statement)
        except sqlite3.Error as err:
            raise WatchtowerError(f"cannot open watchtower store {self.path}: {err}") from err
        self._lock = threading.Lock()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def close(self) -> None:
        """Close the file."""
        self._db.close()

    def guard(self, params: ChannelParams, signed: SignedState) -> bool:
        """Guard *signed* (a co-signed state of *params*' channel) from now on. Returns
        whether it is newer than what was held. Raises :class:`WatchtowerError` when
        the state is not co-signed, does not add up or a signature is bad."""
        if not signed.co_signed:
            raise WatchtowerError("only co-signed states can replace a registered one")
        try:
            signed.verify(params)
        except (BalanceError, SignatureError, ValueError) as err:
            raise WatchtowerError(f"refusing to guard version {signed.version}: {err}") from err
        state = signed.state
        with self._transaction() as db:
            cursor = db.execute(
                "INSERT INTO guarded VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (channel_id) DO UPDATE SET version = excluded.version,"
                " balance_a = excluded.balance_a, balance_b = excluded.balance_b,"
                " signature_a = excluded.signature_a, signature_b = excluded.signature_b,"
                " updated = excluded.updated WHERE excluded.version > guarded.version",
                (
                    params.channel_id,
                    params.genesis_hash,
                    params.party_a,
                    params.party_b,
                    str(params.deposit_a),
                    str(params.deposit_b),
                    state.version,
                    str(state.balance_a),
                    str(state.balance_b),
                    signed.signature_a,
                    signed.signature_b,
                    time.time(),
                ),
            )
            return cursor.rowcount > 0

    def get(self, channel_id: bytes) -> Guarded | None:
        """What the tower holds for *channel_id*, or None."""
        with self._lock:
            row = self._db.execute(
                "SELECT * FROM guarded WHERE channel_id = ?", (channel_id,)
            ).fetchone()
        return None if row is None else _guarded(row)

    def all(self) -> list[Guarded]:
        """Every guarded channel."""
        with self._lock:
            rows = self._db.execute("SELECT * FROM guarded ORDER BY channel_id").fetchall()
        return [_guarded(row) for row in rows]

    def record(self, challenge: Challenge) -> None:
        """Log a submitted challenge."""
        receipt = challenge.receipt
        with self._transaction() as db:
            db.execute(
                "INSERT INTO challenges VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    challenge.channel_id,
                    challenge.closed_version,
                    challenge.version,
                    receipt.block_hash if receipt else None,
                    receipt.extrinsic_hash if receipt else None,
                    challenge.outcome,
                    time.time(),
                ),
            )

    def challenges(self) -> list[Challenge]:
        """Every challenge logged, oldest first (without receipts)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT channel_id, closed_version, version, outcome FROM challenges ORDER BY at"
            ).fetchall()
        return [Challenge(row[0], row[1], row[2], row[3]) for row in rows]


def _guarded(row: tuple[object, ...]) -> Guarded:
    (cid, genesis, party_a, party_b, dep_a, dep_b, version, bal_a, bal_b, sig_a, sig_b, _) = row
    assert isinstance(cid, bytes) and isinstance(genesis, bytes)
    assert isinstance(party_a, bytes) and isinstance(party_b, bytes)
    assert isinstance(version, int) and isinstance(sig_a, bytes) and isinstance(sig_b, bytes)
    params = ChannelParams(cid, genesis, party_a, party_b, int(str(dep_a)), int(str(dep_b)))
    state = ChannelState(cid, version, int(str(bal_a)), int(str(bal_b)))
    return Guarded(params, SignedState(state, sig_a, sig_b))


class TowerClient:
    """A party's hand to a tower's file: ``TowerClient(path)(params, signed)`` guards a
    state (a :data:`~.party.Guardian`). Errors are logged, not raised, so a missing
    tower never stops a payment."""

    def __init__(self, path: str | Path) -> None:
        self._store = TowerStore(path)

    def __call__(self, params: ChannelParams, signed: SignedState) -> None:
        try:
            self._store.guard(params, signed)
        except Exception:
            log.exception("could not hand version %d to the watchtower", signed.version)

    def close(self) -> None:
        """Close the tower's file."""
        self._store.close()


class Watchtower:
    """Follows the chain and registers the newest guarded state against stale closes.

    *chain* is a :class:`ccnet.client.Chain`; *keypair* pays the fees of ``challenge``
    (and of ``settle`` with *settle*); *store_path* is the tower's SQLite file (see
    :class:`TowerStore`). With *settle*, the tower also pays out each guarded channel
    it saw closing once its challenge period is over.
    """

    def __init__(
        self, chain: Chain, keypair: Keypair, store_path: str | Path, *, settle: bool = False
    ) -> None:
        self._chain = chain
        self._keypair = keypair
        self._settle = settle
        self.store = TowerStore(store_path)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._closing: dict[bytes, int] = {}
        """Guarded channels seen closing, with their ``challenge_ends`` block."""
        self.challenges: list[Challenge] = []
        """Challenges submitted by this instance, oldest first."""
        self.settled: list[Receipt] = []
        """``settle`` receipts of this instance (with *settle*), oldest first."""

    def guard(self, params: ChannelParams, signed: SignedState) -> None:
        """Guard *signed* (a :data:`~.party.Guardian`); :class:`WatchtowerError` if it
        is not a valid co-signed state of *params*' channel."""
        if params.genesis_hash != self._chain.genesis_hash:
            raise WatchtowerError("the channel is on another chain")
        self.store.guard(params, signed)

    def check(self, channel_id: bytes) -> Challenge | None:
        """If *channel_id* is closing on chain with an older version than we hold and
        its challenge period is not over, register ours. Returns what was done, or None
        when there was nothing to do."""
        guarded = self.store.get(channel_id)
        if guarded is None:
            return None
        info = self._chain.channels.channel(channel_id)
        return None if info is None else self._answer(guarded, info)

    def _answer(self, guarded: Guarded, info: ChannelInfo) -> Challenge | None:
        closing = info.closing
        if closing is None:
            return None
        params = guarded.params
        channel_id = params.channel_id
        on_chain = (
            bytes.fromhex(ss58_decode(info.party_a)),
            bytes.fromhex(ss58_decode(info.party_b)),
            info.deposit_a,
            info.deposit_b,
        )
        if on_chain != (params.party_a, params.party_b, params.deposit_a, params.deposit_b):
            log.warning("channel 0x%s: guarded parameters differ from the chain", channel_id.hex())
            return None
        self._closing[channel_id] = closing.challenge_ends
        registered = closing.version
        if registered >= guarded.signed.version:
            return None
        # The challenge lands in the next block at the earliest.
        if self._chain.block_number() + 1 > closing.challenge_ends:
            log.error(
                "channel 0x%s: stale version %d registered, seen after its challenge period "
                "(we hold %d)",
                channel_id.hex(),
                registered,
                guarded.signed.version,
            )
            return None
        return self._challenge(guarded, registered)

    def _challenge(self, guarded: Guarded, registered: int) -> Challenge:
        signed, state = guarded.signed, guarded.signed.state
        assert signed.signature_a is not None and signed.signature_b is not None
        channel_id = state.channel_id
        log.warning(
            "channel 0x%s: stale version %d registered; registering %d",
            channel_id.hex(),
            registered,
            state.version,
        )
        try:
            receipt = self._chain.channels.challenge(
                self._keypair,
                channel_id,
                state.version,
                state.balance_a,
                state.balance_b,
                signed.signature_a,
                signed.signature_b,
            )
            challenge = Challenge(channel_id, registered, state.version, REGISTERED, receipt)
        except Exception as err:  # recorded and logged; the tower keeps running
            log.error("challenge of 0x%s failed: %s", channel_id.hex(), err)
            challenge = Challenge(channel_id, registered, state.version, f"failed: {err}")
        self.store.record(challenge)
        self.challenges.append(challenge)
        return challenge

    def sweep(self) -> list[Challenge]:
        """Read the chain's ``Channels`` storage and answer every guarded channel that
        is closing (on start: closes that happened while the tower was down)."""
        guarded = {g.params.channel_id: g for g in self.store.all()}
        done = []
        for info in self._chain.channels.channels():
            channel_id = bytes.fromhex(info.channel_id.removeprefix("0x"))
            if info.closing is not None and channel_id in guarded:
                done.append(self._answer(guarded[channel_id], info))
        return [c for c in done if c is not None]

    def on_event(self, event: ChainEvent) -> Challenge | None:
        """Handle one chain event (``Channels.ChannelClosing`` and
        ``Channels.ChannelChallenged`` trigger :meth:`check`)."""
        if event.pallet != "Channels" or event.name not in _WATCHED:
            return None
        channel_id = bytes.fromhex(str(event.attributes["channel_id"]).removeprefix("0x"))
        return self.check(channel_id)

    def settle_due(self, block: int) -> list[Receipt]:
        """Submit ``settle`` for every channel seen closing whose challenge period ended
        before *block*. Returns the receipts (failures are logged; a channel already
        gone is forgotten)."""
        receipts = []
        for channel_id, ends in sorted(self._closing.items()):
            if block <= ends:
                continue
            try:
                receipt = self._chain.channels.settle(self._keypair, channel_id)
            except ChannelsError as err:
                if err.name in ("UnknownChannel", "NotClosing"):
                    del self._closing[channel_id]
                else:
                    log.error("settle of 0x%s failed: %s", channel_id.hex(), err)
                continue
            del self._closing[channel_id]
            receipts.append(receipt)
            self.settled.append(receipt)
        return receipts

    def run(self, *, poll_interval: float = 1.0, stop: threading.Event | None = None) -> None:
        """Sweep, then follow new blocks until *stop* (or :meth:`stop`) is set. Blocks."""
        stop = stop or self._stop
        first = self._chain.block_number() + 1  # blocks from here on are watched
        self.sweep()
        for block in self._chain.watch_blocks(
            from_block=first, poll_interval=poll_interval, stop=stop
        ):
            for event in block.events:
                try:
                    self.on_event(event)
                except Exception:
                    log.exception("watchtower failed on %s", event.qualname)
            if self._settle:
                try:
                    self.settle_due(block.number + 1)  # a settle lands in the next block
                except Exception:
                    log.exception("watchtower failed to settle")

    def start(self, *, poll_interval: float = 0.2) -> None:
        """:meth:`run` in a daemon thread until :meth:`stop`."""
        self._stop.clear()
        self._thread = threading.Thread(
            target=self.run,
            kwargs={"poll_interval": poll_interval},
            name="ccnet-watchtower",
            daemon=True,
        )
        self._thread.start()

    def stop(self, timeout: float | None = 10.0) -> None:
        """Stop the thread :meth:`start` made and wait up to *timeout* seconds."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def close(self) -> None:
        """Stop and close the store (the chain belongs to the caller)."""
        self.stop()
        self.store.close()


_WATCHED = ("ChannelClosing", "ChannelChallenged")
