"""ccnet.channels.store: SQLite durability settings, ordered updates, reload, the close
freeze guard and the schema upgrade."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import pytest

from ccnet.channels import (
    Channel,
    ChannelParams,
    ChannelRecord,
    ChannelState,
    ChannelUpdate,
    ClosingAgreement,
    Countersign,
    Party,
    PersistStatus,
    Phase,
    SignedState,
    SqliteChannelStore,
    UnknownChannelError,
    UpdateKind,
)
from ccnet.client import Keys

CC = 10**12
ALICE, BOB = Keys.from_uri("//Alice"), Keys.from_uri("//Bob")
PARAMS = ChannelParams(
    hashlib.sha256(b"store").digest(),
    hashlib.sha256(b"genesis").digest(),
    bytes(ALICE.public_key),
    bytes(BOB.public_key),
    2**127,  # u128-sized amounts survive the TEXT columns
    5 * CC,
)


def opening(me: Party) -> ChannelRecord:
    return ChannelRecord(PARAMS, me, Phase.FUNDED, SignedState(PARAMS.opening_state()))


def test_pragmas(tmp_path: Path) -> None:
    store = SqliteChannelStore(tmp_path / "s.db")
    db = sqlite3.connect(tmp_path / "s.db")
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store._db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    store.close()


def test_persist_update_and_reload(tmp_path: Path) -> None:
    path = tmp_path / "a.db"
    store_a, store_b = SqliteChannelStore(path), SqliteChannelStore(tmp_path / "b.db")
    assert store_a.persist_new_channel(opening(Party.A)) is PersistStatus.COMPLETED
    assert store_b.persist_new_channel(opening(Party.B)) is PersistStatus.COMPLETED
    a = Channel(store_a.load(PARAMS.channel_id), ALICE)
    b = Channel(store_b.load(PARAMS.channel_id), BOB)
    for amount in (1, 2, 3):
        propose, signed = a.pay(amount * CC, f"task {amount}")
        assert store_a.update_persisted_channel(signed) is PersistStatus.COMPLETED
        assert store_a.load(PARAMS.channel_id).pending is not None
        reply, cosigned = b.on_propose(propose)
        assert isinstance(reply, Countersign) and cosigned is not None
        assert store_b.update_persisted_channel(cosigned) is PersistStatus.COMPLETED
        assert store_a.update_persisted_channel(a.on_countersign(reply)) is PersistStatus.COMPLETED
    store_a.close()
    reopened = SqliteChannelStore(path)
    record = reopened.load(PARAMS.channel_id)
    assert record == a.record()
    assert record.pending is None and record.latest.co_signed
    assert record.latest.state.balance_a == 2**127 - 6 * CC
    assert reopened.latest_cosigned(PARAMS.channel_id) == a.latest
    assert [s.version for s in reopened.history(PARAMS.channel_id)] == [3, 2, 1]
    assert store_b.load(PARAMS.channel_id) == b.record()
    assert reopened.channels() == [record]


def test_pending_and_cancel_survive_reload(tmp_path: Path) -> None:
    store = SqliteChannelStore(tmp_path / "a.db")
    store.persist_new_channel(opening(Party.A))
    a = Channel(store.load(PARAMS.channel_id), ALICE)
    _, signed = a.pay(7, "memo")
    store.update_persisted_channel(signed)
    record = store.load(PARAMS.channel_id)
    assert record.pending == a.pending and record.pending is not None
    assert record.pending.memo == "memo"
    cancel = ChannelUpdate(PARAMS.channel_id, 2, UpdateKind.CANCELLED, version=2)
    assert store.update_persisted_channel(cancel) is PersistStatus.COMPLETED
    record = store.load(PARAMS.channel_id)
    assert record.pending == a.pending and record.cancelled == 2
    phase = ChannelUpdate(PARAMS.channel_id, 3, UpdateKind.PHASE, phase=Phase.CLOSING)
    store.update_persisted_channel(phase)
    assert store.load(PARAMS.channel_id).phase is Phase.CLOSING


def test_updates_apply_in_order(tmp_path: Path) -> None:
    store = SqliteChannelStore(tmp_path / "a.db")
    store.persist_new_channel(opening(Party.A))
    phase = ChannelUpdate(PARAMS.channel_id, 1, UpdateKind.PHASE, phase=Phase.CLOSING)
    assert store.update_persisted_channel(phase) is PersistStatus.COMPLETED
    # Applying an id again is a no-op only with the same content; skipping ids is refused.
    assert store.update_persisted_channel(phase) is PersistStatus.COMPLETED
    back = ChannelUpdate(PARAMS.channel_id, 1, UpdateKind.PHASE, phase=Phase.FUNDED)
    assert store.update_persisted_channel(back) is PersistStatus.UNRECOVERABLE_ERROR
    assert store.load(PARAMS.channel_id).phase is Phase.CLOSING
    gap = ChannelUpdate(PARAMS.channel_id, 3, UpdateKind.PHASE, phase=Phase.SETTLED)
    assert store.update_persisted_channel(gap) is PersistStatus.UNRECOVERABLE_ERROR
    unknown = ChannelUpdate(b"\0" * 32, 1, UpdateKind.PHASE, phase=Phase.SETTLED)
    assert store.update_persisted_channel(unknown) is PersistStatus.UNRECOVERABLE_ERROR
    assert store.load(PARAMS.channel_id).update_id == 1
    # A channel stored twice stays as first stored.
    assert store.persist_new_channel(opening(Party.A)) is PersistStatus.COMPLETED
    assert store.load(PARAMS.channel_id).phase is Phase.CLOSING


def test_two_processes_never_sign_two_states_of_one_version(tmp_path: Path) -> None:
    """Two payers on one store file from the same stored state: the first one's version
    1 is countersigned; the second one's different version 1 (same update id) must not
    be reported durable, so its proposal never leaves."""
    path = tmp_path / "a.db"
    first, second = SqliteChannelStore(path), SqliteChannelStore(path)
    first.persist_new_channel(opening(Party.A))
    store_b = SqliteChannelStore(tmp_path / "b.db")
    store_b.persist_new_channel(opening(Party.B))
    p1 = Channel(first.load(PARAMS.channel_id), ALICE)
    p2 = Channel(second.load(PARAMS.channel_id), ALICE)  # loaded before p1 wrote
    b = Channel(store_b.load(PARAMS.channel_id), BOB)
    propose, signed = p1.pay(5 * CC, "first")
    assert first.update_persisted_channel(signed) is PersistStatus.COMPLETED
    reply, cosigned = b.on_propose(propose)
    assert isinstance(reply, Countersign) and cosigned is not None
    assert first.update_persisted_channel(p1.on_countersign(reply)) is PersistStatus.COMPLETED
    _, other = p2.pay(7 * CC, "second")
    assert other is not None and other.update_id == signed.update_id
    assert second.update_persisted_channel(other) is PersistStatus.UNRECOVERABLE_ERROR
    # The identical update again (a retry of the same commit) stays a no-op.
    assert first.update_persisted_channel(signed) is PersistStatus.COMPLETED
    record = first.load(PARAMS.channel_id)
    assert record.latest.state.balance_b == PARAMS.deposit_b + 5 * CC
    assert record.pending is None


def test_unknown_channel(tmp_path: Path) -> None:
    store = SqliteChannelStore(tmp_path / "a.db")
    with pytest.raises(UnknownChannelError):
        store.load(b"\0" * 32)
    assert store.channels() == []


def test_close_freeze_is_kept_and_guarded(tmp_path: Path) -> None:
    store = SqliteChannelStore(tmp_path / "a.db")
    store.persist_new_channel(opening(Party.A))
    a = Channel(store.load(PARAMS.channel_id), ALICE)
    _, freeze = a.request_close()
    assert freeze is not None and freeze.kind is UpdateKind.CLOSING
    assert store.update_persisted_channel(freeze) is PersistStatus.COMPLETED
    store.close()
    store = SqliteChannelStore(tmp_path / "a.db")
    record = store.load(PARAMS.channel_id)
    assert record == a.record() and record.closing is not None
    assert record.closing.state == PARAMS.opening_state() and not record.closing.complete
    # The peer's signature completes the same state...
    assert a.closing is not None
    both = a.closing.with_signature(Party.B, b"\2" * 64)
    same = ChannelUpdate(PARAMS.channel_id, 2, UpdateKind.CLOSING, closing=both)
    assert store.update_persisted_channel(same) is PersistStatus.COMPLETED
    assert store.load(PARAMS.channel_id).closing == both
    # ...but a close of another state, or any state signed after the freeze, is refused.
    other = ClosingAgreement(ChannelState(PARAMS.channel_id, 1, 2**127 - 1, 5 * CC + 1))
    moved = ChannelUpdate(PARAMS.channel_id, 3, UpdateKind.CLOSING, closing=other)
    assert store.update_persisted_channel(moved) is PersistStatus.UNRECOVERABLE_ERROR
    newer = SignedState(other.state, b"\1" * 64, b"\2" * 64)
    for kind in (UpdateKind.SIGNED, UpdateKind.COSIGNED):
        late = ChannelUpdate(PARAMS.channel_id, 3, kind, signed=newer)
        assert store.update_persisted_channel(late) is PersistStatus.UNRECOVERABLE_ERROR
    assert store.load(PARAMS.channel_id).closing == both
    assert store.load(PARAMS.channel_id).latest.version == 0


def test_an_old_file_is_upgraded(tmp_path: Path) -> None:
    """A schema 1 file gets the close and batch columns, and ``burned`` becomes
    ``cancelled`` (schema 4)."""
    path = tmp_path / "old.db"
    store = SqliteChannelStore(path)
    store.persist_new_channel(opening(Party.B))
    store.close()
    db = sqlite3.connect(path)
    for column in ("close_version", "close_balance_a", "close_balance_b") + (
        "close_signature_a",
        "close_signature_b",
        "pending_batch",
    ):
        db.execute(f"ALTER TABLE channels DROP COLUMN {column}")
    db.execute("ALTER TABLE channels RENAME COLUMN cancelled TO burned")
    db.execute("PRAGMA user_version=1")
    db.commit()
    db.close()
    reopened = SqliteChannelStore(path)
    assert reopened.load(PARAMS.channel_id) == opening(Party.B)
    assert reopened._db.execute("PRAGMA user_version").fetchone()[0] == 4
    reopened.close()
