"""``Chain._submit``'s wait against a scripted node: an in-memory block tree answering the
JSON-RPC reads and a scripted watch websocket, to play the races a real network has
(reorgs, lost watches, flaky reads) and check that a payment is never reported final
unless it is on the finalized chain, and never reported failed while it is there."""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, cast

import pytest
import websocket
from substrateinterface import Keypair

from ccnet.client import chain as chain_module
from ccnet.client.chain import Chain, Wait, _blake2_256, _Watch
from ccnet.client.exceptions import ChainConnectionError, ChainRequestError, ExtrinsicError

EXTRINSIC = b"\x01signed-transfer"
EXTRINSIC_HASH = "0x" + _blake2_256(EXTRINSIC).hex()
Hook = Callable[[str, list[Any]], None]


class Node:
    """The node's chain: best chain by number, block bodies, the finalized number."""

    def __init__(self) -> None:
        self.best = {0: "0xg0", 1: "0xa1", 2: "0xa2"}
        self.bodies: dict[str, list[bytes]] = {h: [] for h in self.best.values()}
        self.finalized = 1
        self.hooks: list[Hook] = []

    def rpc(self, method: str, params: list[Any]) -> Any:
        for hook in list(self.hooks):
            hook(method, params)
        if method == "chain_getBlockHash":
            return self.best.get(params[0]) if params else self.best[max(self.best)]
        if method == "chain_getFinalizedHead":
            return self.best[self.finalized]
        if method == "chain_getHeader":
            if not params:
                return {"number": hex(max(self.best))}
            number = next((n for n, h in self.best.items() if h == params[0]), self.finalized)
            return {"number": hex(number)}
        if method == "chain_getBlock":
            body = self.bodies.get(params[0])
            return (
                None if body is None else {"block": {"extrinsics": [f"0x{x.hex()}" for x in body]}}
            )
        if method == "system_accountNextIndex":
            return 7
        raise AssertionError(method)


class ScriptedChain(Chain):
    """A :class:`Chain` whose RPC is *node* (no websocket, no runtime)."""

    def __init__(self, node: Node, timeout: float) -> None:  # noqa: D107 - no super().__init__
        self.url, self.timeout, self.wait = "ws://scripted", timeout, "finalization"
        self._lock = threading.RLock()
        self._genesis = "0x" + secrets.token_hex(32)  # its own nonce manager
        self._nonces = None
        self._pallets, self._broken, self._closed = {}, False, False
        self.node = node

        class Api:
            def create_signed_extrinsic(self, call: Any, keypair: Any, nonce: int) -> Any:
                class Signed:
                    data = "0x" + EXTRINSIC.hex()
                    extrinsic_hash = _blake2_256(EXTRINSIC)

                return Signed()

        self._api = Api()

    def rpc(self, method: str, params: Any = ()) -> Any:
        return self.node.rpc(method, list(params))

    def receipt(self, extrinsic_hash: str, block_hash: str, *, finalized: bool = False) -> Any:
        return block_hash, finalized


class ScriptedWatch:
    """Answers the submission, sends *statuses* [(seconds after it, result)], then is
    silent; ``close`` makes it close the connection after the statuses."""

    def __init__(self, statuses: list[tuple[float, Any]], close: bool = False) -> None:
        self.statuses, self.close_after = sorted(statuses, key=lambda s: s[0]), close
        self.sent = 0.0
        self.answered = False
        self.timeout = 1.0

    def send(self, data: str) -> None:
        self.sent = time.monotonic()

    def settimeout(self, timeout: float) -> None:
        self.timeout = timeout

    def recv_data(self, control_frame: bool = False) -> tuple[int, bytes]:
        if not self.answered:
            self.answered = True
            return websocket.ABNF.OPCODE_TEXT, json.dumps({"id": 1, "result": "s"}).encode()
        if self.statuses:
            wait = self.sent + self.statuses[0][0] - time.monotonic()
            if wait <= self.timeout:
                time.sleep(max(0.0, wait))
                result = self.statuses.pop(0)[1]
                body = {"params": {"subscription": "s", "result": result}}
                return websocket.ABNF.OPCODE_TEXT, json.dumps(body).encode()
        if self.close_after:
            return websocket.ABNF.OPCODE_CLOSE, b""
        time.sleep(self.timeout)
        raise websocket.WebSocketTimeoutException("timed out")

    def close(self, timeout: float = 0) -> None:
        pass


class Payer:
    ss58_address = "5Payer"


@pytest.fixture(autouse=True)
def quick_probes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(chain_module, "SILENT_WATCH_PROBE_S", 0.1)


@pytest.fixture
def scripted(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., Any]]:
    def submit(
        node: Node,
        statuses: list[tuple[float, Any]],
        *,
        wait: Wait = "finalization",
        timeout: float = 1.0,
        close: bool = False,
    ) -> tuple[Any, int | None]:
        socket = cast(websocket.WebSocket, ScriptedWatch(statuses, close))
        monkeypatch.setattr(
            chain_module,
            "_Watch",
            lambda url, timeout: _Watch(url, timeout, connect=lambda url, timeout: socket),
        )
        chain = ScriptedChain(node, timeout)
        try:
            outcome: Any = chain._submit(cast(Keypair, Payer()), None, wait)
        except (ChainConnectionError, ExtrinsicError) as err:
            outcome = err
        return outcome, chain.nonces.peek(Payer.ss58_address)

    yield submit


def include_at(node: Node, number: int, block: str, *, finalize: bool) -> Hook:
    """A hook that, on the first probe, puts the extrinsic in *block* at *number*."""

    def hook(method: str, params: list[Any]) -> None:
        if method == "chain_getBlock" and EXTRINSIC not in node.bodies.get(block, []):
            node.best[number] = block
            node.bodies[block] = [EXTRINSIC]
            if finalize:
                node.finalized = number

    return hook


def test_a_block_read_that_failed_once_is_read_again(scripted: Callable[..., Any]) -> None:
    node = Node()
    node.best[2], node.bodies["0xb2"] = "0xb2", [EXTRINSIC]
    failed: list[str] = []

    def flaky(method: str, params: list[Any]) -> None:
        if method == "chain_getBlock" and params[0] == "0xb2" and not failed:
            failed.append(params[0])
            raise ChainRequestError("rate limited")
        if failed:
            node.finalized = 2

    node.hooks.append(flaky)
    outcome, nonce = scripted(node, [(0, "ready")], timeout=2.0)
    assert failed and outcome == ("0xb2", True) and nonce == 8


def test_a_broken_main_connection_during_a_probe_does_not_end_the_wait(
    scripted: Callable[..., Any],
) -> None:
    node, headers = Node(), []

    def drop(method: str, params: list[Any]) -> None:
        if method == "chain_getHeader":
            headers.append(method)
            if len(headers) == 2:  # the first probe
                raise ChainConnectionError("ws://scripted", "main socket reset")

    node.hooks.append(drop)
    statuses = [(0, "ready"), (0.3, {"inBlock": "0xa2"}), (0.5, {"finalized": "0xa2"})]
    assert scripted(node, statuses, timeout=2.0) == (("0xa2", True), 8)


def test_a_fork_block_is_never_reported_final(scripted: Callable[..., Any]) -> None:
    """The probe reads block 2 of fork A, then the node reorgs to fork B and finalizes
    it: fork A's block must not come back as final."""
    node = Node()
    node.bodies["0xa2"] = [EXTRINSIC]
    node.bodies["0xb2"] = []

    def reorg(method: str, params: list[Any]) -> None:
        if method == "chain_getBlock" and params[0] == "0xa2":
            node.best[2], node.finalized = "0xb2", 2

    node.hooks.append(reorg)
    outcome, nonce = scripted(node, [(0, "ready")])
    assert isinstance(outcome, ChainConnectionError) and "may still be finalized" in str(outcome)
    assert nonce is None  # re-read from the node next time


def test_an_extrinsic_on_a_fork_that_won_below_the_best_height_is_found(
    scripted: Callable[..., Any],
) -> None:
    node = Node()
    node.best[3] = "0xa3"
    node.bodies["0xa3"] = []
    headers: list[str] = []

    def fork_wins(method: str, params: list[Any]) -> None:
        if method == "chain_getHeader":
            headers.append(method)
            if len(headers) == 2:  # after submission: fork B from block 1 wins and is final
                node.best.update({2: "0xb2", 3: "0xb3", 4: "0xb4"})
                node.bodies.update({"0xb2": [EXTRINSIC], "0xb3": [], "0xb4": []})
                node.finalized = 4

    node.hooks.append(fork_wins)
    assert scripted(node, [(0, "ready")]) == (("0xb2", True), 8)


@pytest.mark.parametrize("status", ["closed", {"finalityTimeout": "0xa2"}, "dropped"])
def test_a_lost_watch_leaves_the_chain_to_decide(scripted: Callable[..., Any], status: Any) -> None:
    node = Node()
    node.hooks.append(include_at(node, 2, "0xa2", finalize=False))
    finalize_later: list[float] = []

    def finalize(method: str, params: list[Any]) -> None:
        finalize_later.append(time.monotonic())
        if len(finalize_later) > 12:
            node.finalized = 2

    node.hooks.append(finalize)
    statuses = [(0, "ready"), (0.05, {"inBlock": "0xa2"})]
    if status != "closed":
        statuses.append((0.1, status))
    outcome, nonce = scripted(node, statuses, timeout=2.0, close=status == "closed")
    assert outcome == ("0xa2", True) and nonce == 8


def test_dropped_and_in_no_block_is_a_refusal(scripted: Callable[..., Any]) -> None:
    outcome, nonce = scripted(Node(), [(0, "ready"), (0.05, "dropped")])
    assert isinstance(outcome, ExtrinsicError) and "dropped" in str(outcome)
    assert nonce is None


def test_a_repeated_status_is_not_progress(scripted: Callable[..., Any]) -> None:
    started = time.monotonic()
    statuses = [(0.1 * i, "ready") for i in range(40)]  # 4 s of the same status
    outcome, _ = scripted(Node(), statuses, timeout=0.5)
    assert isinstance(outcome, ChainConnectionError)
    assert time.monotonic() - started < 2.0


def test_a_block_the_node_does_not_have_is_no_crash(scripted: Callable[..., Any]) -> None:
    node = Node()
    del node.bodies["0xa2"]  # chain_getBlock answers null
    outcome, _ = scripted(node, [(0, "ready")], timeout=0.5)
    assert isinstance(outcome, ChainConnectionError)
