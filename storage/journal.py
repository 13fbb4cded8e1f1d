"""The upload journal: signed headers of checkpoint uploads not yet recorded on chain.

A save writes the signed transaction header here (fsynced) before it posts anything,
and the count of chunks that arrived after each chunk. If the process dies (``kill -9``)
or the gateway fails midway, the next save of the same bytes resumes the same
transaction instead of paying for, and uploading, a new one. The entry is removed once
the checkpoint is recorded on chain. One JSON file per state hash, written atomically
(temp file, fsync, rename).
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from .transaction import DataTransaction

__all__ = ["PendingUpload", "UploadJournal"]

logger = logging.getLogger(__name__)

STALE_TEMP_AGE = 3600.0
"""Seconds after which a temp file of the journal counts as left by a dead writer."""


@dataclass(frozen=True)
class PendingUpload:
    """An upload that started and has not been recorded on chain."""

    state_hash: bytes
    tx: DataTransaction
    """The signed header (no data)."""
    chunks_done: int = 0
    """Chunks ``[0, chunks_done)`` are known to have reached the gateway."""


class UploadJournal:
    """Pending uploads in folder *root*, one file per state hash."""

    def __init__(self, root: Path) -> None:
        self.__root = Path(root)
        self.__root.mkdir(parents=True, exist_ok=True)
        cutoff = time.time() - STALE_TEMP_AGE
        for tmp in self.__root.glob(".*.tmp"):  # left by writers that died
            try:
                if tmp.stat().st_mtime < cutoff:
                    tmp.unlink()
            except FileNotFoundError:
                pass

    @property
    def root(self) -> Path:
        """The journal folder."""
        return self.__root

    def _path(self, key: bytes) -> Path:
        return self.__root / f"{key.hex()}.json"

    def get(self, key: bytes) -> PendingUpload | None:
        """The pending upload of state hash *key*, or None (also for an unreadable file,
        which is removed: the upload then starts over)."""
        path = self._path(key)
        try:
            value = json.loads(path.read_text())
            pending = PendingUpload(
                state_hash=bytes.fromhex(value["state_hash"]),
                tx=DataTransaction.from_json(value["tx"]),
                chunks_done=int(value["chunks_done"]),
            )
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError) as err:
            logger.warning("dropping unreadable upload journal %s: %s", path.name, err)
            path.unlink(missing_ok=True)
            return None
        return pending if pending.state_hash == key else None

    def put(self, pending: PendingUpload) -> None:
        """Write *pending* durably (replacing an older entry of the same state hash)."""
        path = self._path(pending.state_hash)
        body = {
            "state_hash": pending.state_hash.hex(),
            "tx": pending.tx.to_json(),
            "chunks_done": pending.chunks_done,
        }
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=self.__root)
        try:
            with os.fdopen(fd, "w") as out:
                json.dump(body, out)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def remove(self, key: bytes) -> None:
        """Forget the pending upload of *key* (no error if there is none)."""
        self._path(key).unlink(missing_ok=True)

    def pending(self) -> list[PendingUpload]:
        """Every pending upload."""
        found = []
        for path in sorted(self.__root.glob("*.json")):
            try:
                key = bytes.fromhex(path.stem)
            except ValueError:
                continue
            if (entry := self.get(key)) is not None:
                found.append(entry)
        return found
