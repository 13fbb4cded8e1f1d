"""What a requester may ask of the worker before it pays: the unpaid-work ledger.

Work is delivered before it is paid (a :class:`~ccnet.client.jobs.messages.JobResult`,
then one channel update paying it; ``docs/protocol.md``, "Payment channel"), so the
worker bounds what each requester (by its key, across its sessions and channels) can
owe it:

- a paid job's **reservation** is its worst-case price, ``price(fuel limit, rate)``
  planck (:func:`~ccnet.client.jobs.billing.price`). The requester's balance in the
  channel must cover the reservations of its running jobs, the prices of its delivered
  unpaid results and the new job's reservation, else
  :class:`~ccnet.worker.exceptions.UncoveredJobError`;
- at most ``max_unpaid_jobs`` jobs of a requester are *unpaid*: running, or delivered
  and not yet covered by payments. Beyond, new jobs get
  :class:`~ccnet.worker.exceptions.UnpaidWorkError` until it pays.

Payments are matched to delivered results cheapest first: what the worker earned on
each of the requester's channels since it first saw that channel covers the billed
prices (``price(fuel used, rate)``) in increasing order, so the worker counts as paid
the largest number of results the money covers. Payments carry no job reference, and
an honest requester pays in any order: a redundant job only once all its workers
answered, a single one at once; matching oldest first would keep a paid cheap result
counted behind an older expensive one still in flight, and refuse the requester's next
job although it keeps within the limit. A result the requester does not pay (it
rejected it, or paid less) keeps counting until payments cover it: the worker cannot
tell a justified refusal from a cheat. What is owed in planck does not depend on the
matching. A failed job is not billed (the requester pays no failure) and stops counting
once answered.

Pure bookkeeping, no I/O: :class:`~ccnet.worker.jobhandler.JobSessionHandler` feeds it.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field

from .exceptions import ConfigError, UncoveredJobError, UnpaidWorkError

__all__ = ["DEFAULT_MAX_UNPAID_JOBS", "WorkLedger"]

DEFAULT_MAX_UNPAID_JOBS = 4
"""Jobs a requester may have running or delivered and unpaid at once (the knob
``max_unpaid_jobs`` of :class:`~ccnet.worker.config.WorkerConfig`). The requester SDK
keeps at most as many jobs in flight per worker
(:data:`ccnet.client.requester.DEFAULT_JOBS_PER_WORKER`)."""


@dataclass
class _Account:
    running: dict[int, int] = field(default_factory=dict)
    """Ticket -> reservation, planck."""
    billed: list[tuple[int, int]] = field(default_factory=list)
    """(price in planck, ticket) of delivered results payments do not cover yet,
    cheapest first."""
    credit: int = 0
    """Paid planck not matched to a whole delivered result yet (less than the cheapest)."""
    seen: dict[bytes, int] = field(default_factory=dict)
    """Channel id -> what the worker had earned on it when last looked, planck."""
    sending: dict[int, int] = field(default_factory=dict)
    """Ticket -> price (planck) of delivered results whose send has not finished: the
    only ones :meth:`WorkLedger.recall` may take back."""


class WorkLedger:
    """Unpaid work per requester (SS58), see the module docs. *max_unpaid_jobs* >= 1."""

    def __init__(self, max_unpaid_jobs: int = DEFAULT_MAX_UNPAID_JOBS) -> None:
        if isinstance(max_unpaid_jobs, bool) or not isinstance(max_unpaid_jobs, int):
            raise ConfigError(f"max_unpaid_jobs must be an integer, got {max_unpaid_jobs!r}")
        if max_unpaid_jobs < 1:
            raise ConfigError(f"max_unpaid_jobs must be at least 1, got {max_unpaid_jobs}")
        self.max_unpaid_jobs = max_unpaid_jobs
        self._accounts: dict[str, _Account] = {}
        self._tickets = 0

    def _account(self, requester: str) -> _Account:
        return self._accounts.setdefault(requester, _Account())

    def channels(self, requester: str) -> list[bytes]:
        """The channels of *requester* seen so far."""
        account = self._accounts.get(requester)
        return list(account.seen) if account is not None else []

    def observe(self, requester: str, channel_id: bytes, earned: int) -> None:
        """The worker has earned *earned* planck on *channel_id* (a channel of
        *requester*) so far. The first look sets the baseline (what was paid before
        belongs to earlier work); later growth pays delivered results, cheapest first."""
        account = self._account(requester)
        before = account.seen.get(channel_id)
        account.seen[channel_id] = earned if before is None else max(before, earned)
        if before is not None and earned > before:
            account.credit += earned - before
            self._match(account)

    @staticmethod
    def _match(account: _Account) -> None:
        while account.billed and account.billed[0][0] <= account.credit:
            account.credit -= heapq.heappop(account.billed)[0]

    def unpaid(self, requester: str) -> int:
        """Jobs of *requester* running or delivered and not paid."""
        account = self._accounts.get(requester)
        return 0 if account is None else len(account.running) + len(account.billed)

    def requesters(self) -> list[str]:
        """The requesters seen so far (SS58)."""
        return list(self._accounts)

    def unpaid_total(self) -> int:
        """Jobs running or delivered and not paid, over all requesters."""
        return sum(len(a.running) + len(a.billed) for a in self._accounts.values())

    def outstanding(self, requester: str) -> int:
        """Planck *requester* may still owe: reservations of its running jobs plus the
        unpaid part of its delivered results."""
        account = self._accounts.get(requester)
        if account is None:
            return 0
        owed = sum(price for price, _ in account.billed) - account.credit
        return sum(account.running.values()) + max(0, owed)

    def check_unpaid(self, requester: str) -> None:
        """Raise :class:`UnpaidWorkError` when *requester* is at the unpaid-jobs limit."""
        unpaid = self.unpaid(requester)
        if unpaid >= self.max_unpaid_jobs:
            raise UnpaidWorkError(requester, unpaid, self.max_unpaid_jobs)

    def admit(self, requester: str, reservation: int, payer_balance: int) -> int:
        """Count one more job of *requester* as running with *reservation* planck, if it
        is under the limit and *payer_balance* (its balance in the channel, planck)
        covers what it may owe plus *reservation*. Returns the job's ticket (for
        :meth:`delivered` / :meth:`dropped`). Raises :class:`UnpaidWorkError` or
        :class:`UncoveredJobError` (nothing counted)."""
        if reservation < 0:
            raise ValueError("a reservation is a non-negative amount of planck")
        self.check_unpaid(requester)
        available = payer_balance - self.outstanding(requester)
        if available < reservation:
            raise UncoveredJobError(reservation, max(0, available))
        self._tickets += 1
        self._account(requester).running[self._tickets] = reservation
        return self._tickets

    def delivered(self, requester: str, ticket: int, price: int) -> None:
        """The job of *ticket* delivers its result: it is owed *price* planck (0:
        nothing). Called *before* the result is sent, so that a requester that pays it
        at once and asks again is never refused for it (:meth:`recall` undoes it if the
        result could not be sent). Unknown tickets are ignored."""
        account = self._accounts.get(requester)
        if account is None or account.running.pop(ticket, None) is None:
            return
        if price > 0:
            account.sending[ticket] = price
            heapq.heappush(account.billed, (price, ticket))
            self._match(account)

    def sent(self, requester: str, ticket: int) -> None:
        """The result of *ticket* left the worker: it can no longer be recalled."""
        account = self._accounts.get(requester)
        if account is not None:
            account.sending.pop(ticket, None)

    def recall(self, requester: str, ticket: int) -> None:
        """The result of *ticket* (counted by :meth:`delivered`, not yet :meth:`sent`)
        did not leave after all: the requester owes nothing for it. If payments already
        covered it (cheaper than the results they were meant for), that money goes back
        to cover the others. Unknown, sent or already recalled tickets are ignored."""
        account = self._accounts.get(requester)
        if account is None:
            return
        price = account.sending.pop(ticket, None)
        if price is None:
            return
        kept = [entry for entry in account.billed if entry[1] != ticket]
        if len(kept) != len(account.billed):
            heapq.heapify(kept)
            account.billed = kept
        else:
            account.credit += price
        self._match(account)

    def dropped(self, requester: str, ticket: int) -> None:
        """The job of *ticket* ended without a result to pay (it failed, or its session
        ended first)."""
        account = self._accounts.get(requester)
        if account is not None:
            account.running.pop(ticket, None)
