"""Durable channel storage: the :class:`ChannelStore` protocol and its SQLite store.

The protocol follows rust-lightning's ``Persist``: :meth:`~ChannelStore.persist_new_channel`
and :meth:`~ChannelStore.update_persisted_channel` return a :class:`PersistStatus`.
``COMPLETED`` means the change is durable; ``IN_PROGRESS`` means it will be (an
asynchronous persister calls :meth:`ccnet.channels.party.ChannelParty.persisted` when it
is), and the channel sends nothing that depends on it until then; ``UNRECOVERABLE_ERROR``
freezes the channel.

:class:`SqliteChannelStore` commits each update in its own transaction on a database in
WAL mode with ``synchronous=FULL``, so a commit is on disk (the WAL fsync'd) before the
call returns ``COMPLETED``. Its calls may come from several threads (one connection
behind a lock): :class:`~ccnet.channels.party.ChannelParty` commits from a store thread
of its own, so that an fsync never blocks the event loop. After ``kill -9`` at any
point, :meth:`~SqliteChannelStore.load` gives back the last committed update: the latest
co-signed state and any proposal we had signed.

Tables: ``channels`` (one row per channel: parameters, phase, latest co-signed state,
outstanding proposal, and the cooperative close we signed: ``close_*``, NULL until
then) and ``states`` (every co-signed state by version). Planck amounts are decimal
TEXT (u128 does not fit SQLite's INTEGER). Schema version 2 added the ``close_*``
columns, version 3 ``pending_batch`` (the earlier states of an outstanding batch, JSON:
``[{"version", "balance_a", "balance_b", "signature"}, ...]``, NULL for a single
proposal), version 4 renamed ``burned`` to ``cancelled`` (party B: the version of the
last cancel state it signed, see :mod:`.channel`); an older file is upgraded when
opened. A batch's SIGNED or COSIGNED update is one transaction (one fsync) for all its
states.

The store guards the close freeze too: once the ``close_*`` balances are set they never
change (only the agreement's version may move up), and no co-signed state is accepted
after them (either is ``UNRECOVERABLE_ERROR``).

Where a party keeps its store: ``<state dir>/channels.db`` (:data:`CHANNEL_STORE_FILE`,
:func:`channel_store_in`) for the requester SDK, the worker daemon and ``ccnet channel``
alike; an account's default state dir is ``.state/accounts/<address>``
(:func:`default_state_dir`, relative to the working dir), so the SDK and the CLI find the
same channels without being told. :func:`check_store_path` is the rule for a store path
a user names (``ccnet channel --store``).
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

from .exceptions import PersistError, StoreLockedError, UnknownChannelError
from .state import ChannelParams, ChannelState, ClosingAgreement, Party, SignedState
from .updates import ChannelRecord, ChannelUpdate, PendingProposal, Phase, UpdateKind

__all__ = [
    "CHANNEL_STORE_FILE",
    "DEFAULT_STATE_ROOT",
    "ChannelStore",
    "PersistStatus",
    "SqliteChannelStore",
    "channel_store_in",
    "check_store_path",
    "default_channel_store",
    "default_state_dir",
    "store_lock_path",
]

log = logging.getLogger(__name__)

CHANNEL_STORE_FILE = "channels.db"
"""File name of the channel store in a party's state dir."""
DEFAULT_STATE_ROOT = Path(".state/accounts")
"""Parent of the accounts' default state dirs (relative to the working dir)."""
_FORMER_SDK_FILE = "channels.sqlite"  # the requester SDK's store file until it shared the name
_FORMER_CLI_DIR = Path(".state/channels")  # ccnet channel's default: <address>.db in it


def default_state_dir(address: str) -> Path:
    """The state dir of *address* when none is given: ``.state/accounts/<address>``."""
    return DEFAULT_STATE_ROOT / address


def channel_store_in(state_dir: str | Path) -> Path:
    """The channel store of *state_dir*: ``<state_dir>/channels.db``, or the file an
    older requester SDK kept there (``channels.sqlite``) when only that one exists, so
    that its channels are not forgotten."""
    path = Path(state_dir) / CHANNEL_STORE_FILE
    former = path.with_name(_FORMER_SDK_FILE)
    return former if not path.exists() and former.is_file() else path


def default_channel_store(address: str) -> Path:
    """The store of *address* when none is given: the one in its default state dir
    (:func:`default_state_dir`), or ``.state/channels/<address>.db`` where older
    ``ccnet channel`` commands kept it, when only that one exists."""
    path = channel_store_in(default_state_dir(address))
    former = _FORMER_CLI_DIR / f"{address}.db"
    return former if not path.exists() and former.is_file() else path


def check_store_path(path: str | Path) -> Path:
    """The store file a user named with *path*: a directory stands for its
    :func:`channel_store_in`; a file that exists must be a channel store (SQLite with
    its ``channels`` table; an empty file counts as new); a new file must go into an
    existing directory (it is created on open). Raises :class:`PersistError` otherwise,
    so that a mistyped path never becomes a new, empty store."""
    path = Path(path).expanduser()
    if path.is_dir():
        path = channel_store_in(path)
    if not path.exists():
        if not path.parent.is_dir():
            raise PersistError(
                f"no channel store at {path}: the directory {path.parent} does not exist"
            )
        return path
    if not path.is_file():
        raise PersistError(f"{path} is not a file")
    if path.stat().st_size == 0:
        return path
    try:
        db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            found = db.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'channels'"
            ).fetchone()
        finally:
            db.close()
    except sqlite3.Error as err:
        raise PersistError(f"{path} is not a channel store ({err})") from err
    if found is None:
        raise PersistError(f"{path} is not a channel store (an SQLite file without channels)")
    return path


SCHEMA_VERSION = 4
_ADDED_COLUMNS = (
    ("close_version", "INTEGER"),  # schema 2
    ("close_balance_a", "TEXT"),
    ("close_balance_b", "TEXT"),
    ("close_signature_a", "BLOB"),
    ("close_signature_b", "BLOB"),
    ("pending_batch", "TEXT"),  # schema 3
)
_SCHEMA = """
CREATE TABLE IF NOT EXISTS channels (
    channel_id BLOB PRIMARY KEY,
    genesis_hash BLOB NOT NULL,
    party_a BLOB NOT NULL,
    party_b BLOB NOT NULL,
    deposit_a TEXT NOT NULL,
    deposit_b TEXT NOT NULL,
    me TEXT NOT NULL CHECK (me IN ('A', 'B')),
    phase TEXT NOT NULL,
    update_id INTEGER NOT NULL,
    cancelled INTEGER NOT NULL DEFAULT 0,
    version INTEGER NOT NULL,
    balance_a TEXT NOT NULL,
    balance_b TEXT NOT NULL,
    signature_a BLOB,
    signature_b BLOB,
    pending_version INTEGER,
    pending_balance_a TEXT,
    pending_balance_b TEXT,
    pending_signature BLOB,
    pending_memo TEXT,
    close_version INTEGER,
    close_balance_a TEXT,
    close_balance_b TEXT,
    close_signature_a BLOB,
    close_signature_b BLOB,
    pending_batch TEXT
);
CREATE TABLE IF NOT EXISTS states (
    channel_id BLOB NOT NULL REFERENCES channels (channel_id),
    version INTEGER NOT NULL,
    balance_a TEXT NOT NULL,
    balance_b TEXT NOT NULL,
    signature_a BLOB NOT NULL,
    signature_b BLOB NOT NULL,
    PRIMARY KEY (channel_id, version)
) WITHOUT ROWID;
"""


class PersistStatus(StrEnum):
    """Outcome of persisting a channel change (rust-lightning's ``ChannelMonitorUpdateStatus``)."""

    COMPLETED = "completed"
    """Durable now."""
    IN_PROGRESS = "in_progress"
    """Will be durable; the channel waits for ``ChannelParty.persisted``."""
    UNRECOVERABLE_ERROR = "unrecoverable_error"
    """Cannot be persisted; the channel is frozen."""


class ChannelStore(Protocol):
    """Where a party keeps its channels. Implementations must make a change durable
    before reporting ``COMPLETED``, and apply each channel's updates in ``update_id``
    order (an id already applied is a no-op if its content is the stored one, an error
    otherwise)."""

    def persist_new_channel(self, record: ChannelRecord) -> PersistStatus:
        """Store a channel we just opened or joined (its ``update_id`` is 0)."""
        ...

    def update_persisted_channel(self, update: ChannelUpdate) -> PersistStatus:
        """Apply *update* to its channel."""
        ...

    def load(self, channel_id: bytes) -> ChannelRecord:
        """The channel as last persisted; :class:`UnknownChannelError` if absent."""
        ...

    def channels(self) -> list[ChannelRecord]:
        """Every stored channel."""
        ...

    def state_at(self, channel_id: bytes, version: int) -> SignedState | None:
        """The co-signed state *version* of the channel (every one is kept), or None."""
        ...


def _closing_values(closing: ClosingAgreement | None) -> tuple[Any, ...]:
    """The ``close_*`` column values of *closing* (NULLs for None)."""
    if closing is None:
        return (None, None, None, None, None)
    state = closing.state
    return (
        state.version,
        str(state.balance_a),
        str(state.balance_b),
        closing.signature_a,
        closing.signature_b,
    )


def _batch_json(earlier: tuple[PendingProposal, ...]) -> str | None:
    """The ``pending_batch`` value of a batch's earlier proposals (None: no batch)."""
    if not earlier:
        return None
    return json.dumps(
        [
            {
                "version": p.state.version,
                "balance_a": str(p.state.balance_a),
                "balance_b": str(p.state.balance_b),
                "signature": p.signature.hex(),
            }
            for p in earlier
        ]
    )


def _batch_of(channel_id: bytes, value: str | None) -> tuple[PendingProposal, ...]:
    """The inverse of :func:`_batch_json`."""
    if not value:
        return ()
    return tuple(
        PendingProposal(
            ChannelState(
                channel_id, item["version"], int(item["balance_a"]), int(item["balance_b"])
            ),
            bytes.fromhex(item["signature"]),
        )
        for item in json.loads(value)
    )


def store_lock_path(path: str | Path) -> Path:
    """The lock file of the store file *path*: ``<path>.lock`` next to it."""
    path = Path(path)
    return path.with_name(path.name + ".lock")


def _take_lock(store: Path) -> int:
    """An fd holding an exclusive ``flock`` on the lock file of *store*
    (:func:`store_lock_path`, created if missing; it keeps the holder's pid for the
    error message only), or :class:`StoreLockedError` at once.
    The file is never removed: a third process could then lock a new file while a
    second one holds the old one. Same scheme as the worker daemon's instance lock."""
    fd = os.open(store_lock_path(store), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        try:
            pid = json.loads(os.pread(fd, 4096, 0) or b"{}").get("pid")
        except (OSError, ValueError, AttributeError):
            pid = None
        os.close(fd)
        held_by = pid if isinstance(pid, int) and pid > 0 else None
        raise StoreLockedError(path=str(store), pid=held_by) from None
    except BaseException:
        os.close(fd)
        raise
    os.ftruncate(fd, 0)
    os.pwrite(fd, json.dumps({"pid": os.getpid()}).encode(), 0)
    return fd


def _signed_by_us_before(db: sqlite3.Connection, row: sqlite3.Row, signed: SignedState) -> bool:
    """Whether *signed* (a state with only our signature) is one we already stored with
    the same balances and signature: the outstanding proposal (or one of its batch), or
    a co-signed state."""
    state = signed.state
    signature = signed.signature_a or signed.signature_b
    pending = (
        ()
        if row["pending_version"] is None
        else (
            *_batch_of(state.channel_id, row["pending_batch"]),
            PendingProposal(
                ChannelState(
                    state.channel_id,
                    row["pending_version"],
                    int(row["pending_balance_a"]),
                    int(row["pending_balance_b"]),
                ),
                row["pending_signature"],
            ),
        )
    )
    if any(p.state == state and p.signature == signature for p in pending):
        return True
    found = db.execute(
        "SELECT 1 FROM states WHERE channel_id = ? AND version = ? AND balance_a = ?"
        " AND balance_b = ? AND (signature_a = ? OR signature_b = ?)",
        (
            state.channel_id,
            state.version,
            str(state.balance_a),
            str(state.balance_b),
            signature,
            signature,
        ),
    ).fetchone()
    return found is not None


def _row_record(row: sqlite3.Row) -> ChannelRecord:
    info = ChannelParams(
        channel_id=row["channel_id"],
        genesis_hash=row["genesis_hash"],
        party_a=row["party_a"],
        party_b=row["party_b"],
        deposit_a=int(row["deposit_a"]),
        deposit_b=int(row["deposit_b"]),
    )
    latest = SignedState(
        ChannelState(info.channel_id, row["version"], int(row["balance_a"]), int(row["balance_b"])),
        row["signature_a"],
        row["signature_b"],
    )
    pending = None
    if row["pending_version"] is not None:
        pending = PendingProposal(
            ChannelState(
                info.channel_id,
                row["pending_version"],
                int(row["pending_balance_a"]),
                int(row["pending_balance_b"]),
            ),
            row["pending_signature"],
            row["pending_memo"] or "",
            _batch_of(info.channel_id, row["pending_batch"]),
        )
    closing = None
    if row["close_version"] is not None:
        closing = ClosingAgreement(
            ChannelState(
                info.channel_id,
                row["close_version"],
                int(row["close_balance_a"]),
                int(row["close_balance_b"]),
            ),
            row["close_signature_a"],
            row["close_signature_b"],
        )
    return ChannelRecord(
        info=info,
        me=Party(row["me"]),
        phase=Phase(row["phase"]),
        latest=latest,
        pending=pending,
        cancelled=row["cancelled"],
        update_id=row["update_id"],
        closing=closing,
    )


class SqliteChannelStore:
    """A :class:`ChannelStore` in one SQLite file (WAL, ``synchronous=FULL``).

    One process owns the file at a time (others may read it). With *exclusive*, the
    store takes a non-blocking ``flock(2)`` on ``<file>.lock`` (:func:`store_lock_path`)
    for its life and raises :class:`StoreLockedError` at once when another process (or
    another exclusive store in this one) holds it: ``ccnet channel
    pay|resolve|close|serve`` open it so. Without the lock, two signers of one store
    cannot sign two different states of one version either: an update id applied
    already is a no-op only with the same content, otherwise the update fails and
    nothing leaves (the second signer's channel freezes). The kernel drops the lock
    when the process ends, however it ends.
    Thread-safe: one connection behind a lock. Raises :class:`PersistError` when the
    file cannot be opened; update failures are reported as ``UNRECOVERABLE_ERROR``.
    """

    def __init__(self, path: str | Path, *, exclusive: bool = False) -> None:
        self.path = Path(path)
        self._lock_fd: int | None = None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if exclusive:
                self._lock_fd = _take_lock(self.path)
            self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            self._lock = threading.RLock()
            self._db.row_factory = sqlite3.Row
            mode = self._db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise PersistError(f"{self.path}: SQLite refused WAL mode (got {mode})")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("PRAGMA foreign_keys=ON")
            self._db.execute("PRAGMA busy_timeout=5000")
            with self._transaction() as db:
                for statement in filter(str.strip, _SCHEMA.split(";")):
                    db.execute(statement)
                have = {r["name"] for r in db.execute("PRAGMA table_info(channels)")}
                for name, kind in _ADDED_COLUMNS:  # schema 1 -> 2 -> 3
                    if name not in have:
                        db.execute(f"ALTER TABLE channels ADD COLUMN {name} {kind}")
                if "burned" in have:  # schema 3 -> 4
                    db.execute("ALTER TABLE channels RENAME COLUMN burned TO cancelled")
                db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        except (sqlite3.Error, OSError) as err:
            self._release_lock()
            raise PersistError(f"cannot open channel store {self.path}: {err}") from err
        except BaseException:
            self._release_lock()
            raise

    def _release_lock(self) -> None:
        fd, self._lock_fd = self._lock_fd, None
        if fd is not None:
            os.close(fd)  # drops the flock; the file stays (see _take_lock)

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

    def _rows(self, sql: str, params: tuple[object, ...]) -> list[sqlite3.Row]:
        with self._lock:
            return self._db.execute(sql, params).fetchall()

    def close(self) -> None:
        """Close the database (and drop the exclusive lock)."""
        with self._lock:
            self._db.close()
        self._release_lock()

    def __enter__(self) -> SqliteChannelStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- ChannelStore -----------------------------------------------------------------

    def persist_new_channel(self, record: ChannelRecord) -> PersistStatus:
        """Insert *record*; a channel already stored is left as it is (``COMPLETED``)."""
        info, latest = record.info, record.latest
        try:
            with self._transaction() as db:
                db.execute(
                    "INSERT OR IGNORE INTO channels (channel_id, genesis_hash, party_a, party_b,"
                    " deposit_a, deposit_b, me, phase, update_id, cancelled, version, balance_a,"
                    " balance_b, signature_a, signature_b, close_version, close_balance_a,"
                    " close_balance_b, close_signature_a, close_signature_b)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        info.channel_id,
                        info.genesis_hash,
                        info.party_a,
                        info.party_b,
                        str(info.deposit_a),
                        str(info.deposit_b),
                        record.me.value,
                        record.phase.value,
                        record.update_id,
                        record.cancelled,
                        latest.version,
                        str(latest.state.balance_a),
                        str(latest.state.balance_b),
                        latest.signature_a,
                        latest.signature_b,
                        *_closing_values(record.closing),
                    ),
                )
        except (sqlite3.Error, OverflowError) as err:
            log.error("channel %s: cannot persist: %s", info.channel_id.hex(), err)
            return PersistStatus.UNRECOVERABLE_ERROR
        return PersistStatus.COMPLETED

    def update_persisted_channel(self, update: ChannelUpdate) -> PersistStatus:
        """Apply *update* in one fsync'd transaction. An ``update_id`` already applied is
        a no-op when the store holds exactly its content, ``UNRECOVERABLE_ERROR``
        otherwise (two processes signed different states of one version: neither may
        leave); one that skips ids (or an unknown channel) is ``UNRECOVERABLE_ERROR``."""
        try:
            with self._transaction() as db:
                row = db.execute(
                    "SELECT update_id, close_version FROM channels WHERE channel_id = ?",
                    (update.channel_id,),
                ).fetchone()
                if row is None:
                    log.error("update of unknown channel %s", update.channel_id.hex())
                    return PersistStatus.UNRECOVERABLE_ERROR
                if update.update_id <= row["update_id"]:
                    if self._already_applied(db, update):
                        return PersistStatus.COMPLETED
                    # Another process (or a stale copy of this channel) made a different
                    # update with this id: never report it durable, or its signature leaves.
                    log.error(
                        "channel %s: update %d is already applied with other content",
                        update.channel_id.hex(),
                        update.update_id,
                    )
                    return PersistStatus.UNRECOVERABLE_ERROR
                if update.update_id != row["update_id"] + 1:
                    log.error(
                        "channel %s: update %d after %d",
                        update.channel_id.hex(),
                        update.update_id,
                        row["update_id"],
                    )
                    return PersistStatus.UNRECOVERABLE_ERROR
                if row["close_version"] is not None and update.kind in (
                    UpdateKind.SIGNED,
                    UpdateKind.COSIGNED,
                ):
                    log.error(
                        "channel %s: update %d signs a state after the close was signed",
                        update.channel_id.hex(),
                        update.update_id,
                    )
                    return PersistStatus.UNRECOVERABLE_ERROR
                self._apply(db, update)
        except (sqlite3.Error, OverflowError) as err:
            log.error("channel %s: cannot persist update: %s", update.channel_id.hex(), err)
            return PersistStatus.UNRECOVERABLE_ERROR
        return PersistStatus.COMPLETED

    @staticmethod
    def _already_applied(db: sqlite3.Connection, update: ChannelUpdate) -> bool:
        """Whether the store already holds exactly what *update* (an id already
        applied) would write: only then is it a harmless replay."""
        key = update.channel_id
        row = db.execute("SELECT * FROM channels WHERE channel_id = ?", (key,)).fetchone()
        if update.kind is UpdateKind.COSIGNED:
            assert update.signed is not None
            for signed in (*update.earlier, update.signed):
                state = signed.state
                stored = db.execute(
                    "SELECT 1 FROM states WHERE channel_id = ? AND version = ? AND balance_a = ?"
                    " AND balance_b = ? AND signature_a = ? AND signature_b = ?",
                    (
                        key,
                        state.version,
                        str(state.balance_a),
                        str(state.balance_b),
                        signed.signature_a,
                        signed.signature_b,
                    ),
                ).fetchone()
                if stored is None:
                    return False
            return True
        if update.kind is UpdateKind.SIGNED:
            assert update.signed is not None
            for signed in (*update.earlier, update.signed):
                if not _signed_by_us_before(db, row, signed):
                    return False
            return True
        if update.kind is UpdateKind.CANCELLED:
            assert update.version is not None
            return bool(row["cancelled"] >= update.version)
        if update.kind is UpdateKind.CLOSING:
            closing = update.closing
            assert closing is not None
            values = _closing_values(closing)
            return bool(
                row["close_version"] is not None
                and row["close_version"] >= values[0]
                and (row["close_balance_a"], row["close_balance_b"]) == values[1:3]
            )
        assert update.phase is not None
        return bool(row["phase"] == update.phase.value)

    @staticmethod
    def _apply(db: sqlite3.Connection, update: ChannelUpdate) -> None:
        key = update.channel_id
        db.execute(
            "UPDATE channels SET update_id = ? WHERE channel_id = ?", (update.update_id, key)
        )
        if update.kind is UpdateKind.SIGNED:
            assert update.signed is not None
            state = update.signed.state
            earlier = []
            for signed in update.earlier:
                signature = signed.signature_a or signed.signature_b
                assert signature is not None
                earlier.append(PendingProposal(signed.state, signature))
            db.execute(
                "UPDATE channels SET pending_version = ?, pending_balance_a = ?,"
                " pending_balance_b = ?, pending_signature = ?, pending_memo = ?,"
                " pending_batch = ? WHERE channel_id = ?",
                (
                    state.version,
                    str(state.balance_a),
                    str(state.balance_b),
                    update.signed.signature_a or update.signed.signature_b,
                    update.memo,
                    _batch_json(tuple(earlier)),
                    key,
                ),
            )
        elif update.kind is UpdateKind.COSIGNED:
            assert update.signed is not None and update.signed.co_signed
            assert all(s.co_signed for s in update.earlier)
            state = update.signed.state
            values: tuple[Any, ...] = (
                str(state.balance_a),
                str(state.balance_b),
                update.signed.signature_a,
                update.signed.signature_b,
            )
            db.executemany(
                "INSERT OR REPLACE INTO states (channel_id, version, balance_a, balance_b,"
                " signature_a, signature_b) VALUES (?, ?, ?, ?, ?, ?)",
                [
                    (
                        key,
                        s.state.version,
                        str(s.state.balance_a),
                        str(s.state.balance_b),
                        s.signature_a,
                        s.signature_b,
                    )
                    for s in (*update.earlier, update.signed)
                ],
            )
            db.execute(
                "UPDATE channels SET version = ?, balance_a = ?, balance_b = ?, signature_a = ?,"
                " signature_b = ? WHERE channel_id = ?",
                (state.version, *values, key),
            )
            db.execute(
                "UPDATE channels SET pending_version = NULL, pending_balance_a = NULL,"
                " pending_balance_b = NULL, pending_signature = NULL, pending_memo = NULL,"
                " pending_batch = NULL WHERE channel_id = ? AND pending_version <= ?",
                (key, state.version),
            )
        elif update.kind is UpdateKind.CANCELLED:
            assert update.version is not None
            db.execute(
                "UPDATE channels SET cancelled = MAX(cancelled, ?) WHERE channel_id = ?",
                (update.version, key),
            )
        elif update.kind is UpdateKind.CLOSING:
            closing = update.closing
            assert closing is not None
            values = _closing_values(closing)
            done = db.execute(
                "UPDATE channels SET close_version = ?, close_balance_a = ?,"
                " close_balance_b = ?, close_signature_a = ?, close_signature_b = ?"
                " WHERE channel_id = ? AND (close_version IS NULL OR (close_version <= ?"
                " AND close_balance_a = ? AND close_balance_b = ?))",
                (*values, key, *values[:3]),
            )
            if done.rowcount != 1:
                raise sqlite3.IntegrityError("a signed close never changes its balances")
        else:
            assert update.phase is not None
            db.execute(
                "UPDATE channels SET phase = ? WHERE channel_id = ?", (update.phase.value, key)
            )

    def load(self, channel_id: bytes) -> ChannelRecord:
        """The channel as last committed; :class:`UnknownChannelError` if absent."""
        rows = self._rows("SELECT * FROM channels WHERE channel_id = ?", (channel_id,))
        if not rows:
            raise UnknownChannelError(f"no channel 0x{channel_id.hex()} in {self.path}")
        return _row_record(rows[0])

    def channels(self) -> list[ChannelRecord]:
        """Every stored channel, in id order."""
        rows = self._rows("SELECT * FROM channels ORDER BY channel_id", ())
        return [_row_record(row) for row in rows]

    # -- reads ------------------------------------------------------------------------

    def latest_cosigned(self, channel_id: bytes) -> SignedState:
        """The newest co-signed state of the channel (the unsigned opening state before
        any update); :class:`UnknownChannelError` if absent."""
        return self.load(channel_id).latest

    def history(self, channel_id: bytes, *, limit: int = 100) -> list[SignedState]:
        """The newest *limit* co-signed states, newest first."""
        rows = self._rows(
            "SELECT * FROM states WHERE channel_id = ? ORDER BY version DESC LIMIT ?",
            (channel_id, limit),
        )
        return [_row_state(channel_id, r) for r in rows]

    def state_at(self, channel_id: bytes, version: int) -> SignedState | None:
        """The co-signed state *version* of the channel, or None if there is none."""
        rows = self._rows(
            "SELECT * FROM states WHERE channel_id = ? AND version = ?", (channel_id, version)
        )
        return _row_state(channel_id, rows[0]) if rows else None


def _row_state(channel_id: bytes, row: sqlite3.Row) -> SignedState:
    """A row of the ``states`` table as a :class:`SignedState`."""
    return SignedState(
        ChannelState(channel_id, row["version"], int(row["balance_a"]), int(row["balance_b"])),
        row["signature_a"],
        row["signature_b"],
    )
