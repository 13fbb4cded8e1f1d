"""The watchtower: refutes stale unilateral closes of the channels it guards.

Parties hand the tower their newest co-signed states (:meth:`TowerStore.guard`, or the
:class:`TowerClient` callable a :class:`~.party.ChannelParty` takes as its
``guardian``). The tower follows the chain's ``Channels.ChannelClosing`` events; when a
guarded channel is closed with an older version than the one it holds, it submits that
state with ``challenge`` inside the challenge period (the fraud proof of seed 003:
the closer loses everything to the honest party). It holds no party keys: the
co-signed state is the proof, and its own key only pays the fee.

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

from .exceptions import BalanceError, SignatureError, WatchtowerError
from .state import ChannelParams, ChannelState, SignedState

if TYPE_CHECKING:
    from ccnet.client import Chain, ChainEvent, Receipt

__all__ = ["Challenge", "Guarded", "TowerClient", "TowerStore", "Watchtower"]

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


@dataclass(frozen=True)
class Challenge:
    """A fraud proof the tower submitted (or tried to)."""

    channel_id: bytes
    closed_version: int
    """The stale version the closer registered."""
    version: int
    """The newer version the tower submitted."""
    outcome: str
    """``"refuted"``, or the error text."""
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
            raise WatchtowerError("only co-signed states can refute a close")
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
    """Follows the chain and refutes stale closes of guarded channels.

    *chain* is a :class:`ccnet.client.Chain`; *keypair* pays the fees of ``challenge``;
    *store_path* is the tower's SQLite file (see :class:`TowerStore`).
    """

    def __init__(self, chain: Chain, keypair: Keypair, store_path: str | Path) -> None:
        self._chain = chain
        self._keypair = keypair
        self.store = TowerStore(store_path)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.challenges: list[Challenge] = []
        """Challenges submitted by this instance, oldest first."""

    def guard(self, params: ChannelParams, signed: SignedState) -> None:
        """Guard *signed* (a :data:`~.party.Guardian`); :class:`WatchtowerError` if it
        is not a valid co-signed state of *params*' channel."""
        if params.genesis_hash != self._chain.genesis_hash:
            raise WatchtowerError("the channel is on another chain")
        self.store.guard(params, signed)

    def check(self, channel_id: bytes) -> Challenge | None:
        """If *channel_id* is closing on chain with an older version than we hold and
        its challenge period is not over, submit the fraud proof. Returns what was
        done, or None when there was nothing to do."""
        guarded = self.store.get(channel_id)
        if guarded is None:
            return None
        info = self._chain.channels.channel(channel_id)
        if info is None or info.closing is None:
            return None
        params = guarded.params
        on_chain = (
            bytes.fromhex(ss58_decode(info.party_a)),
            bytes.fromhex(ss58_decode(info.party_b)),
            info.deposit_a,
            info.deposit_b,
        )
        if on_chain != (params.party_a, params.party_b, params.deposit_a, params.deposit_b):
            log.warning("channel 0x%s: guarded parameters differ from the chain", channel_id.hex())
            return None
        closed = info.closing.version
        if closed >= guarded.signed.version:
            return None
        # The challenge lands in the next block at the earliest.
        if self._chain.block_number() + 1 > info.closing.challenge_ends:
            log.error(
                "channel 0x%s: stale close (version %d < %d) seen after its challenge period",
                channel_id.hex(),
                closed,
                guarded.signed.version,
            )
            return None
        return self._challenge(guarded, closed)

    def _challenge(self, guarded: Guarded, closed: int) -> Challenge:
        signed, state = guarded.signed, guarded.signed.state
        assert signed.signature_a is not None and signed.signature_b is not None
        channel_id = state.channel_id
        log.warning(
            "channel 0x%s closed with stale version %d; submitting %d",
            channel_id.hex(),
            closed,
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
            challenge = Challenge(channel_id, closed, state.version, "refuted", receipt)
        except Exception as err:  # recorded and logged; the tower keeps running
            log.error("challenge of 0x%s failed: %s", channel_id.hex(), err)
            challenge = Challenge(channel_id, closed, state.version, f"failed: {err}")
        self.store.record(challenge)
        self.challenges.append(challenge)
        return challenge

    def sweep(self) -> list[Challenge]:
        """:meth:`check` every guarded channel (on start, to catch closes missed while
        the tower was down)."""
        done = [self.check(g.params.channel_id) for g in self.store.all()]
        return [c for c in done if c is not None]

    def on_event(self, event: ChainEvent) -> Challenge | None:
        """Handle one chain event (``Channels.ChannelClosing`` triggers :meth:`check`)."""
        if (event.pallet, event.name) != ("Channels", "ChannelClosing"):
            return None
        channel_id = bytes.fromhex(str(event.attributes["channel_id"]).removeprefix("0x"))
        return self.check(channel_id)

    def run(self, *, poll_interval: float = 1.0, stop: threading.Event | None = None) -> None:
        """Sweep, then follow new blocks until *stop* (or :meth:`stop`) is set. Blocks."""
        stop = stop or self._stop
        first = self._chain.block_number() + 1  # blocks from here on are watched
        self.sweep()
        for event in self._chain.watch_events(
            ["Channels"],
            ["ChannelClosing"],
            from_block=first,
            poll_interval=poll_interval,
            stop=stop,
        ):
            try:
                self.on_event(event)
            except Exception:
                log.exception("watchtower failed on %s", event.qualname)

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
