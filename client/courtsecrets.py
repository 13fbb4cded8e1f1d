"""The salts behind one account's court commitments, kept durably until revealed.

A commitment (:mod:`ccnet.client.commitments`) is worthless without its opening: a
worker that committed a result and lost the salt cannot reveal, and forfeits
``NoRevealSlash`` of its claim bond; a verifier loses its ``VerifierBond``. So the opening
is written here, and fsynced, *before* the commitment's extrinsic leaves; a restarted
daemon (or a later CLI command) finds it and reveals.

File format: one JSON object ``{"<kind>:<id>": {field: value}}`` with bytes as ``0x``
hex and integers as decimal strings, replaced atomically (temp file, fsync, rename,
fsync of the directory). Kinds: ``result`` (id: task id), ``vote`` (id: dispute id),
``expected`` (id: ``<task id>:<accused worker>``). The file holds secrets: it is
created ``0600``. A corrupt file raises :class:`~ccnet.client.exceptions.KeystoreError`.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .exceptions import KeystoreError

__all__ = ["CourtSecrets", "ExpectedOpening", "ResultOpening", "VoteOpening"]


@dataclass(frozen=True)
class ResultOpening:
    """What opens a result commitment (``Tasks.reveal_result``)."""

    task_id: int
    result_hash: bytes
    """blake2b-256 of the output, 32 bytes."""
    fuel_used: int
    salt: bytes
    """32 bytes."""


@dataclass(frozen=True)
class VoteOpening:
    """What opens a vote commitment (``Disputes.reveal_vote``)."""

    dispute_id: int
    result_hash: bytes
    """The verifier's own result hash, 32 bytes."""
    salt: bytes


@dataclass(frozen=True)
class ExpectedOpening:
    """What opens a challenger's expected-result commitment (``reveal_expected``)."""

    task_id: int
    worker: str
    """The accused worker (SS58)."""
    expected_hash: bytes
    salt: bytes
    dispute_id: int | None = None
    """Set once the challenge is included."""
    auditor_salt: bytes | None = None
    """The auditor's key salt, for a planted (audit) dispute."""


def _encode(value: Any) -> Any:
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


class CourtSecrets:
    """The openings of one account's commitments, in the JSON file *path* (see the
    module docs). Thread-safe; every write is durable when the method returns."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._data: dict[str, dict[str, Any]] = self._load()

    def _load(self) -> dict[str, dict[str, Any]]:
        try:
            text = self.path.read_text()
        except FileNotFoundError:
            return {}
        except OSError as err:
            raise KeystoreError(f"cannot read the court secrets {self.path}: {err}") from None
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise KeystoreError(f"the court secrets {self.path} are corrupt: {err}") from None
        if not isinstance(data, dict):
            raise KeystoreError(f"the court secrets {self.path} are not a JSON object")
        return data

    def _save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, json.dumps(self._data, sort_keys=True).encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, self.path)
        dir_fd = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

    def _put(self, key: str, record: dict[str, Any]) -> None:
        with self._lock:
            self._data[key] = {k: _encode(v) for k, v in record.items()}
            self._save()

    def _get(self, key: str) -> dict[str, Any] | None:
        with self._lock:
            record = self._data.get(key)
            return dict(record) if record is not None else None

    def _drop(self, key: str) -> None:
        with self._lock:
            if self._data.pop(key, None) is not None:
                self._save()

    # -- results ---------------------------------------------------------------------------

    def put_result(self, opening: ResultOpening) -> None:
        """Keep *opening* (durable on return)."""
        self._put(f"result:{opening.task_id}", opening.__dict__)

    def result(self, task_id: int) -> ResultOpening | None:
        r = self._get(f"result:{task_id}")
        if r is None:
            return None
        return ResultOpening(
            int(r["task_id"]), _unhex(r["result_hash"]), int(r["fuel_used"]), _unhex(r["salt"])
        )

    def drop_result(self, task_id: int) -> None:
        self._drop(f"result:{task_id}")

    def result_tasks(self) -> list[int]:
        """Task ids with a kept result opening."""
        with self._lock:
            return sorted(int(k.split(":")[1]) for k in self._data if k.startswith("result:"))

    # -- votes -----------------------------------------------------------------------------

    def put_vote(self, opening: VoteOpening) -> None:
        self._put(f"vote:{opening.dispute_id}", opening.__dict__)

    def vote(self, dispute_id: int) -> VoteOpening | None:
        r = self._get(f"vote:{dispute_id}")
        if r is None:
            return None
        return VoteOpening(int(r["dispute_id"]), _unhex(r["result_hash"]), _unhex(r["salt"]))

    def drop_vote(self, dispute_id: int) -> None:
        self._drop(f"vote:{dispute_id}")

    # -- expected results --------------------------------------------------------------------

    def put_expected(self, opening: ExpectedOpening) -> None:
        self._put(f"expected:{opening.task_id}:{opening.worker}", opening.__dict__)

    def expected(self, task_id: int, worker: str) -> ExpectedOpening | None:
        r = self._get(f"expected:{task_id}:{worker}")
        if r is None:
            return None
        dispute = r.get("dispute_id")
        auditor = r.get("auditor_salt")
        return ExpectedOpening(
            int(r["task_id"]),
            str(r["worker"]),
            _unhex(r["expected_hash"]),
            _unhex(r["salt"]),
            None if dispute is None else int(dispute),
            None if auditor is None else _unhex(auditor),
        )

    def expected_for_dispute(self, dispute_id: int) -> ExpectedOpening | None:
        """The expected-result opening recorded for *dispute_id*, if any."""
        with self._lock:
            keys = [
                k
                for k, r in self._data.items()
                if k.startswith("expected:") and r.get("dispute_id") == str(dispute_id)
            ]
        if not keys:
            return None
        _, task, worker = keys[0].split(":", 2)
        return self.expected(int(task), worker)

    def drop_expected(self, task_id: int, worker: str) -> None:
        self._drop(f"expected:{task_id}:{worker}")


def _unhex(value: Any) -> bytes:
    try:
        return bytes.fromhex(str(value).removeprefix("0x"))
    except ValueError:
        raise KeystoreError(f"corrupt court secret field: {value!r}") from None
