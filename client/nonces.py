"""Per-account nonces, so one process can submit concurrently without collisions.

:meth:`NonceManager.reserve` holds the account's lock while the caller signs and hands
the extrinsic to the node, so extrinsics reach the pool in nonce order. Each reservation
asks the node (``system_accountNextIndex``, which counts the transaction pool) and keeps
the local count only while it is explained by this process's own extrinsics still in
flight (handed over, not yet in a block: :meth:`NonceManager.settled`), which the node may
not count yet. Otherwise the node's value wins: another process used the account, an
extrinsic was dropped, or this is another chain with the same genesis (a reset testnet,
a second local network), where a remembered nonce would be a *future* one that no block
ever includes. A rejection forgets the local count, so the next reservation re-syncs.

One manager per chain (genesis hash) is shared by every :class:`~ccnet.client.Chain` of
the process (:func:`manager_for`), so two ``Chain`` objects on the same node do not
collide either.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

__all__ = ["NonceManager", "manager_for"]


class NonceManager:
    """Next nonce of each account: the node's, or a local count the node may lag."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}
        self._next: dict[str, int] = {}
        self._in_flight: dict[str, int] = {}

    def _lock(self, address: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(address, threading.Lock())

    @contextmanager
    def reserve(self, address: str, fetch: Callable[[str], int]) -> Iterator[int]:
        """Hold *address*'s lock and yield its next nonce: the local count when it is at
        most this process's extrinsics in flight ahead of the node's (*fetch*), else the
        node's. Leaving normally commits it (one more is in flight; the caller reports
        it :meth:`settled`); leaving by an exception forgets the local count."""
        with self._lock(address):
            node = fetch(address)
            local = self._next.get(address)
            with self._guard:
                in_flight = self._in_flight.get(address, 0)
            nonce = local if local is not None and node <= local <= node + in_flight else node
            try:
                yield nonce
            except BaseException:
                self._next.pop(address, None)
                raise
            self._next[address] = nonce + 1
            with self._guard:
                self._in_flight[address] = in_flight + 1

    def settled(self, address: str) -> None:
        """One extrinsic of *address* reserved here is in a block, or failed: the node
        counts it now, or never will."""
        with self._guard:
            self._in_flight[address] = max(0, self._in_flight.get(address, 0) - 1)

    def forget(self, address: str) -> None:
        """Drop the local count of *address* (e.g. after an extrinsic was dropped)."""
        with self._lock(address):
            self._next.pop(address, None)

    def peek(self, address: str) -> int | None:
        """The local next nonce of *address*, if any."""
        with self._guard:
            return self._next.get(address)


_managers: dict[str, NonceManager] = {}
_managers_lock = threading.Lock()


def manager_for(genesis_hash: str) -> NonceManager:
    """The process-wide :class:`NonceManager` of the chain with *genesis_hash*."""
    with _managers_lock:
        return _managers.setdefault(genesis_hash, NonceManager())
