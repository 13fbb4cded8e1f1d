"""A local, content-addressed checkpoint cache with a size bound and LRU eviction.

Entries are files named by the blake2b-256 state hash (hex) under ``objects/ab/``. The
cache lives on disk, so it survives restarts. A write goes to a temp file in the same
folder, is fsynced, then renamed over the final name (and the folder fsynced): a crash
or ``kill -9`` at any moment leaves either the whole entry or none, never a torn one.
Reads verify the hash: a damaged entry is dropped and reported as a miss. Recency is the
file's mtime, touched on every hit; when the total size passes the bound, the least
recently used entries go first. Several processes may share one cache.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

from .hashing import state_hash

__all__ = ["DEFAULT_CACHE_DIR", "DEFAULT_MAX_BYTES", "CacheEntry", "LocalCache"]

logger = logging.getLogger(__name__)

DEFAULT_CACHE_DIR = Path(".state/checkpoints/cache")
"""Relative to the project root."""
DEFAULT_MAX_BYTES = 1024 * 1024 * 1024
"""1 GiB."""
_TMP_SUFFIX = ".tmp"


@dataclass(frozen=True)
class CacheEntry:
    """One cached checkpoint."""

    state_hash: bytes
    size: int
    """Bytes."""
    last_used: float
    """Unix time of the last write or hit."""


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class LocalCache:
    """Checkpoint bytes on local disk, keyed by their 32-byte state hash.

    *max_bytes* bounds the sum of entry sizes; an entry larger than the bound is not
    stored. Opening the cache removes temp files left by writers that died."""

    def __init__(self, root: Path, *, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        if max_bytes < 0:
            raise ValueError(f"max_bytes must be >= 0, not {max_bytes}")
        self.__root = Path(root)
        self.__objects = self.__root / "objects"
        self.__max_bytes = max_bytes
        self.__objects.mkdir(parents=True, exist_ok=True)
        self._remove_stale_temp_files()

    @property
    def root(self) -> Path:
        """The cache folder."""
        return self.__root

    @property
    def max_bytes(self) -> int:
        """Size bound, bytes."""
        return self.__max_bytes

    def path_of(self, key: bytes) -> Path:
        """Where the entry for *key* lives (whether or not it exists)."""
        if len(key) != 32:
            raise ValueError(f"state hash must be 32 bytes, not {len(key)}")
        name = key.hex()
        return self.__objects / name[:2] / name

    def get(self, key: bytes) -> bytes | None:
        """The bytes whose hash is *key*, or None on a miss (or a damaged entry, which
        is removed). A hit marks the entry most recently used."""
        path = self.path_of(key)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        if state_hash(data) != key:
            logger.warning("cache entry %s is damaged; removing it", path.name)
            path.unlink(missing_ok=True)
            return None
        try:
            os.utime(path)
        except FileNotFoundError:  # evicted meanwhile by another process: still a hit
            pass
        return data

    def __contains__(self, key: bytes) -> bool:
        return self.path_of(key).is_file()

    def put(self, data: bytes, key: bytes | None = None) -> bytes:
        """Store *data* atomically under its state hash (computed, or *key* if the caller
        has it; ValueError if it does not match) and evict down to the bound. Returns the
        key. Data larger than the bound is not stored."""
        digest = state_hash(data)
        if key is not None and key != digest:
            raise ValueError("key is not the state hash of data")
        path = self.path_of(digest)
        if len(data) > self.__max_bytes:
            logger.info("checkpoint of %d bytes exceeds the cache bound; not cached", len(data))
            return digest
        if path.is_file():
            try:
                os.utime(path)
                return digest
            except FileNotFoundError:  # evicted meanwhile by another process: write it
                pass
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{time.monotonic_ns()}{_TMP_SUFFIX}")
        try:
            with open(tmp, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        _fsync_dir(path.parent)
        self.evict()
        return digest

    def remove(self, key: bytes) -> bool:
        """Drop the entry for *key*; whether there was one."""
        try:
            self.path_of(key).unlink()
        except FileNotFoundError:
            return False
        return True

    def entries(self) -> list[CacheEntry]:
        """Every entry, least recently used first."""
        found: list[CacheEntry] = []
        for folder in self.__objects.iterdir():
            if not folder.is_dir():
                continue
            for path in folder.iterdir():
                if path.name.startswith(".") or len(path.name) != 64:
                    continue
                try:
                    info = path.stat()
                    key = bytes.fromhex(path.name)
                except (FileNotFoundError, ValueError):
                    continue
                found.append(CacheEntry(key, info.st_size, info.st_mtime))
        found.sort(key=lambda entry: entry.last_used)
        return found

    def total_bytes(self) -> int:
        """Sum of entry sizes, bytes."""
        return sum(entry.size for entry in self.entries())

    def evict(self) -> list[bytes]:
        """Remove least recently used entries until the total fits the bound; returns
        the keys removed."""
        entries = self.entries()
        total = sum(entry.size for entry in entries)
        removed: list[bytes] = []
        for entry in entries:
            if total <= self.__max_bytes:
                break
            if self.remove(entry.state_hash):
                removed.append(entry.state_hash)
            total -= entry.size
        return removed

    def clear(self) -> None:
        """Remove every entry."""
        for entry in self.entries():
            self.remove(entry.state_hash)

    def _remove_stale_temp_files(self) -> None:
        for folder in self.__objects.iterdir():
            if not folder.is_dir():
                continue
            for path in folder.glob(f".*{_TMP_SUFFIX}"):
                parts = path.name.split(".")
                pid = int(parts[2]) if len(parts) > 3 and parts[2].isdigit() else 0
                if pid and _pid_alive(pid):
                    continue  # a live writer (maybe a thread of ours) may still rename it
                logger.debug("removing stale temp file %s", path)
                path.unlink(missing_ok=True)
