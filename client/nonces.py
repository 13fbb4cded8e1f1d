"""Per-account nonces, so one process can submit concurrently without collisions.

The first nonce of an account comes from the node (``system_accountNextIndex``, which
counts the transaction pool too); later ones are local increments. :meth:`NonceManager.reserve`
holds the account's lock while the caller signs and hands the extrinsic to the node, so
extrinsics reach the pool in nonce order. A rejection forgets the cached nonce, so the
next reservation asks the node again.

One manager per node (its URL and the chain's genesis hash) is shared by every
:class:`~ccnet.client.Chain` of the process that talks to it (:func:`manager_for`), so
two ``Chain`` objects on the same node do not collide either. Not one per genesis alone:
two networks started from the same chain spec (a reset testnet, a second local
network) share a genesis, and a nonce remembered from one is a *future* nonce on the
other, which a node accepts into its pool and never includes.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

__all__ = ["NonceManager", "manager_for"]


class NonceManager:
    """Next nonce of each account: node value once, then local increments."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}
        self._next: dict[str, int] = {}

    def _lock(self, address: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(address, threading.Lock())

    @contextmanager
    def reserve(self, address: str, fetch: Callable[[str], int]) -> Iterator[int]:
        """Hold *address*'s lock and yield its next nonce (*fetch* asks the node when none
        is cached). Leaving normally commits it (the next caller gets one more); leaving
        by an exception forgets the cached value, so the next caller re-syncs."""
        with self._lock(address):
            nonce = self._next.get(address)
            if nonce is None:
                nonce = fetch(address)
            try:
                yield nonce
            except BaseException:
                self._next.pop(address, None)
                raise
            self._next[address] = nonce + 1

    def forget(self, address: str) -> None:
        """Drop the cached nonce of *address* (e.g. after an extrinsic was dropped)."""
        with self._lock(address):
            self._next.pop(address, None)

    def peek(self, address: str) -> int | None:
        """The cached next nonce of *address*, if any."""
        with self._guard:
            return self._next.get(address)


_managers: dict[str, NonceManager] = {}
_managers_lock = threading.Lock()


def manager_for(genesis_hash: str, url: str) -> NonceManager:
    """The process-wide :class:`NonceManager` of the node at *url*, whose chain has
    *genesis_hash*."""
    with _managers_lock:
        return _managers.setdefault(f"{genesis_hash}@{url}", NonceManager())
