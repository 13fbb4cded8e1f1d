"""What the requester owes workers it could not pay at once: a durable list.

A worker that suspends a job when it stops gracefully (``docs/vm-checkpoints.md``
section 8) has delivered its segment, but is gone when the requester pays the segments
(after the final result checks out): paying is a co-signed channel update, so it needs
the worker online. :class:`DebtBook` keeps each such debt in a JSON file of the
requester's state folder (written atomically: a temporary file, fsync, rename), so that
a debt survives the requester's restart; the requester pays it once the worker is
reachable again over that channel (:meth:`ccnet.client.requester.Requester.pay_debts`,
and after any job it runs on that worker).

Paying a debt is a channel update and a rewrite of this file, which a crash can
separate: a debt is paid once only because, before its payment's state is signed, the
debt is marked durably with that state's version (:attr:`Debt.paying_version`). A
restarted requester looks the version up in its channel store: co-signed or still
outstanding (re-sent on the next attach) means paid; otherwise the mark is dropped and
the debt is still owed.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import asdict, dataclass, replace
from pathlib import Path

__all__ = ["DEBTS_FILE", "Debt", "DebtBook"]

DEBTS_FILE = "debts.json"
"""The file name of the debts in the requester's state folder."""


@dataclass(frozen=True)
class Debt:
    """One payment owed and not made."""

    worker: str
    """SS58 of the worker owed."""
    channel_id: str
    """Bare hex of the channel (32 bytes) that pays it."""
    amount: int
    """Planck owed (positive)."""
    memo: str
    """What it pays (e.g. ``"task 7 segment 0"``), the payment's memo."""
    paying_version: int | None = None
    """The channel version of the state paying it, set before that state is proposed
    (``None``: no payment under way)."""


class DebtBook:
    """The requester's debts in *path* (a JSON list; created when the first is added).

    Raises :class:`ValueError` for a file that is not such a list, and :class:`OSError`
    when it cannot be read or written."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._debts: list[Debt] = []
        if path.is_file():
            raw = json.loads(path.read_text())
            if not isinstance(raw, list):
                raise ValueError(f"{path} is not a list of debts")
            self._debts = [Debt(**item) for item in raw]
            for debt in self._debts:
                if (
                    debt.amount <= 0
                    or len(bytes.fromhex(debt.channel_id)) != 32
                    or (debt.paying_version is not None and debt.paying_version < 1)
                ):
                    raise ValueError(f"{path} has a bad debt: {debt}")

    def all(self) -> list[Debt]:
        """Every debt, oldest first."""
        with self._lock:
            return list(self._debts)

    def owed_to(self, worker: str) -> list[Debt]:
        """The debts to *worker* (SS58), oldest first."""
        return [d for d in self.all() if d.worker == worker]

    def total(self, worker: str | None = None) -> int:
        """Planck owed to *worker* (all workers when ``None``)."""
        return sum(d.amount for d in self.all() if worker is None or d.worker == worker)

    def add(self, debt: Debt) -> None:
        """Keep *debt* (written before it returns). ``ValueError`` for an amount that
        is not positive."""
        if debt.amount <= 0:
            raise ValueError("a debt is a positive amount of planck")
        with self._lock:
            self._write([*self._debts, debt])
            self._debts.append(debt)

    def mark(self, debt: Debt, version: int) -> Debt:
        """Record that the channel state *version* pays *debt*; returns the marked debt
        (written before it returns). ``ValueError`` if *debt* is not kept."""
        return self._swap(debt, replace(debt, paying_version=version))

    def unmark(self, debt: Debt) -> Debt:
        """Drop *debt*'s mark (its payment did not go out); returns the unmarked debt."""
        return self._swap(debt, replace(debt, paying_version=None))

    def _swap(self, old: Debt, new: Debt) -> Debt:
        with self._lock:
            debts = list(self._debts)
            debts[debts.index(old)] = new
            self._write(debts)  # on disk before it is believed: a failed write changes nothing
            self._debts = debts
        return new

    def paid(self, debt: Debt) -> None:
        """Forget *debt* (it was paid; one of equal ones); written before it returns."""
        with self._lock:
            debts = list(self._debts)
            if debt in debts:
                debts.remove(debt)
            self._write(debts)
            self._debts = debts

    def _write(self, debts: list[Debt]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        with open(tmp, "w") as out:
            json.dump([asdict(d) for d in debts], out)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, self.path)
