"""The local checkpoint cache: content addressing, LRU eviction under a size bound,
persistence across restarts, and no corrupt entry after a torn write or a kill -9; and
the upload journal beside it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest

from ccnet.storage import ArweaveWallet, LocalCache, PendingUpload, UploadJournal, state_hash
from ccnet.storage.transaction import sign_data_transaction


def test_put_then_get(tmp_path: Path) -> None:
    cache = LocalCache(tmp_path)
    key = cache.put(b"state")
    assert key == state_hash(b"state") and len(key) == 32
    assert cache.get(key) == b"state"
    assert key in cache
    assert cache.get(state_hash(b"other")) is None


def test_entries_live_under_their_hash(tmp_path: Path) -> None:
    cache = LocalCache(tmp_path)
    key = cache.put(b"abc")
    assert cache.path_of(key) == tmp_path / "objects" / key.hex()[:2] / key.hex()
    assert cache.path_of(key).read_bytes() == b"abc"


def test_empty_state_is_cached(tmp_path: Path) -> None:
    cache = LocalCache(tmp_path)
    assert cache.get(cache.put(b"")) == b""


def test_a_wrong_key_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        LocalCache(tmp_path).put(b"data", key=state_hash(b"not data"))
    with pytest.raises(ValueError):
        LocalCache(tmp_path).get(b"short")


def test_survives_a_restart(tmp_path: Path) -> None:
    key = LocalCache(tmp_path).put(b"persisted")
    assert LocalCache(tmp_path).get(key) == b"persisted"


def _age(cache: LocalCache, key: bytes, seconds_ago: float) -> None:
    when = time.time() - seconds_ago
    os.utime(cache.path_of(key), (when, when))


def test_lru_eviction_keeps_the_bound(tmp_path: Path) -> None:
    cache = LocalCache(tmp_path, max_bytes=300)
    a = cache.put(b"a" * 100)
    b = cache.put(b"b" * 100)
    c = cache.put(b"c" * 100)
    _age(cache, a, 30)
    _age(cache, b, 20)
    _age(cache, c, 10)
    assert cache.get(a) == b"a" * 100  # a is now the most recently used
    cache.put(b"d" * 100)
    assert b not in cache  # least recently used went first
    assert a in cache and c in cache
    assert cache.total_bytes() <= 300


def test_eviction_order_is_oldest_first(tmp_path: Path) -> None:
    cache = LocalCache(tmp_path, max_bytes=10_000)
    keys = [cache.put(bytes([i]) * 100) for i in range(5)]
    for age, key in enumerate(reversed(keys)):
        _age(cache, key, age * 10)
    assert [e.state_hash for e in cache.entries()] == keys
    cache2 = LocalCache(tmp_path, max_bytes=250)
    assert cache2.evict() == keys[:3]
    assert [e.state_hash for e in cache2.entries()] == keys[3:]


def test_data_larger_than_the_bound_is_not_cached(tmp_path: Path) -> None:
    cache = LocalCache(tmp_path, max_bytes=10)
    key = cache.put(b"x" * 11)
    assert key not in cache


def test_a_damaged_entry_is_dropped(tmp_path: Path) -> None:
    cache = LocalCache(tmp_path)
    key = cache.put(b"good bytes")
    cache.path_of(key).write_bytes(b"bad bytes!")
    assert cache.get(key) is None
    assert key not in cache


def test_stale_temp_files_are_removed_on_open(tmp_path: Path) -> None:
    cache = LocalCache(tmp_path)
    key = state_hash(b"torn")
    folder = cache.path_of(key).parent
    folder.mkdir(parents=True, exist_ok=True)
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    stale = folder / f".{key.hex()}.{int(dead.stdout)}.1.tmp"
    stale.write_bytes(b"to")  # half of a write whose process died
    LocalCache(tmp_path)
    assert not stale.exists()
    assert cache.get(key) is None and cache.entries() == []


def test_clear_and_remove(tmp_path: Path) -> None:
    cache = LocalCache(tmp_path)
    a, b = cache.put(b"a"), cache.put(b"b")
    assert cache.remove(a) and not cache.remove(a)
    cache.clear()
    assert b not in cache and cache.entries() == []


KILL_DURING_WRITE = """
import os, signal, sys
from pathlib import Path
from ccnet.storage import LocalCache
cache = LocalCache(Path(sys.argv[1]))
real_fsync = os.fsync
def die(fd):
    real_fsync(fd)
    os.kill(os.getpid(), signal.SIGKILL)  # after the data, before the rename
os.fsync = die
cache.put(os.urandom(1 << 20))
"""


def test_kill_9_during_a_write_leaves_no_entry(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-c", KILL_DURING_WRITE, str(tmp_path)])
    assert result.returncode == -signal.SIGKILL
    leftovers = list((tmp_path / "objects").rglob(".*.tmp"))
    assert len(leftovers) == 1  # the temp file, never a final entry
    cache = LocalCache(tmp_path)
    assert cache.entries() == []
    assert not list((tmp_path / "objects").rglob(".*.tmp"))


# --- the upload journal ------------------------------------------------------------------


def _pending(key: bytes, chunks_done: int = 0) -> PendingUpload:
    wallet = ArweaveWallet.generate(1024)
    tx = sign_data_transaction(
        wallet, data_root=bytes(32), data_size=5, tags={"App-Name": "t"}, reward=1, last_tx=""
    )
    return PendingUpload(state_hash=key, tx=tx, chunks_done=chunks_done)


def test_journal_round_trip(tmp_path: Path) -> None:
    journal = UploadJournal(tmp_path)
    key = state_hash(b"x")
    assert journal.get(key) is None
    pending = _pending(key, 3)
    journal.put(pending)
    assert UploadJournal(tmp_path).get(key) == pending
    journal.put(replace(pending, chunks_done=4))
    assert journal.get(key) == replace(pending, chunks_done=4)
    assert journal.pending() == [replace(pending, chunks_done=4)]
    journal.remove(key)
    assert journal.get(key) is None and journal.pending() == []
    journal.remove(key)  # no error


def test_an_unreadable_journal_entry_is_dropped(tmp_path: Path) -> None:
    journal = UploadJournal(tmp_path)
    key = state_hash(b"y")
    (tmp_path / f"{key.hex()}.json").write_text("{torn")
    assert journal.get(key) is None
    assert not (tmp_path / f"{key.hex()}.json").exists()
