"""ccnet.client.nonces: one fetch per account, local increments, re-sync after failures."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from ccnet.client.nonces import NonceManager, manager_for


class Node:
    """A fake ``system_accountNextIndex``."""

    def __init__(self, start: int) -> None:
        self.next = start
        self.fetches = 0

    def fetch(self, address: str) -> int:
        self.fetches += 1
        return self.next


def test_fetches_once_then_increments() -> None:
    manager, node = NonceManager(), Node(5)
    got = []
    for _ in range(3):
        with manager.reserve("alice", node.fetch) as nonce:
            got.append(nonce)
    assert got == [5, 6, 7] and node.fetches == 1
    assert manager.peek("alice") == 8


def test_failure_forgets_the_cached_nonce() -> None:
    manager, node = NonceManager(), Node(0)
    with manager.reserve("alice", node.fetch):
        pass
    with pytest.raises(RuntimeError), manager.reserve("alice", node.fetch) as nonce:
        assert nonce == 1
        raise RuntimeError("rejected")
    node.next = 1
    with manager.reserve("alice", node.fetch) as nonce:
        assert nonce == 1
    assert node.fetches == 2


def test_threads_get_distinct_consecutive_nonces() -> None:
    manager, node = NonceManager(), Node(100)
    seen: list[int] = []
    lock = threading.Lock()

    def take(_: int) -> None:
        with manager.reserve("alice", node.fetch) as nonce, lock:
            seen.append(nonce)

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(take, range(64)))
    assert sorted(seen) == list(range(100, 164))


def test_accounts_are_independent_and_managers_shared_per_chain() -> None:
    manager = NonceManager()
    with manager.reserve("a", lambda _: 3) as a, manager.reserve("b", lambda _: 9) as b:
        assert (a, b) == (3, 9)
    manager.forget("a")
    assert manager.peek("a") is None and manager.peek("b") == 10
    assert manager_for("0x01", "ws://a") is manager_for("0x01", "ws://a")
    assert manager_for("0x01", "ws://a") is not manager_for("0x02", "ws://a")
    # Two networks from one chain spec: the same genesis, other nodes, other nonces.
    assert manager_for("0x01", "ws://a") is not manager_for("0x01", "ws://b")
