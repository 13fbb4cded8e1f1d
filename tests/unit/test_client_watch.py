"""The extrinsic watch (``author_submitAndWatchExtrinsic``) against a real websocket
server that pings, as a node's RPC server does: pings answer nothing, so they must not
keep a wait for a status alive past its timeout."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator

import pytest
from aiohttp import WSMsgType, web

from ccnet.client import chain as chain_module
from ccnet.client.chain import Probe, Wait, _Watch
from ccnet.client.exceptions import ChainConnectionError

PING_S = 0.05


def _update(result: object) -> str:
    return json.dumps(
        {"method": "author_extrinsicUpdate", "params": {"subscription": "s", "result": result}}
    )


async def _node(statuses: list[str], *, close: bool = False) -> AsyncIterator[str]:
    """A websocket server on 127.0.0.1 that pings every PING_S, accepts one submission,
    sends *statuses*, then stays silent (or closes)."""

    async def handler(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(heartbeat=PING_S)
        await ws.prepare(request)
        async for message in ws:
            if message.type != WSMsgType.TEXT:
                continue
            assert json.loads(message.data)["method"] == "author_submitAndWatchExtrinsic"
            await ws.send_str(json.dumps({"jsonrpc": "2.0", "id": 1, "result": "s"}))
            for status in statuses:
                await ws.send_str(status)
            if close:
                await ws.close()
        return ws

    app = web.Application()
    app.router.add_get("/", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"ws://127.0.0.1:{runner.addresses[0][1]}/"
    finally:
        await runner.cleanup()


@pytest.fixture
async def silent_node() -> AsyncIterator[str]:
    async for url in _node([_update("ready"), _update({"broadcast": ["peer"]})]):
        yield url


def _submit_and_wait(
    url: str, wait: Wait, timeout: float, probe: Probe | None = None
) -> tuple[str, bool]:
    watch = _Watch(url, timeout)
    watch.submit("0x00")
    return watch.wait(wait, probe)


async def test_pings_do_not_keep_a_silent_watch_waiting(silent_node: str) -> None:
    started = time.monotonic()
    with pytest.raises(ChainConnectionError, match="may still be finalized"):
        await asyncio.to_thread(_submit_and_wait, silent_node, "finalization", 0.5)
    # Pinged ~10 times a timeout, it still ends at the timeout (old code: never).
    assert time.monotonic() - started < 5


async def test_a_status_after_pings_is_returned() -> None:
    statuses = [_update("ready"), _update({"inBlock": "0xb1"}), _update({"finalized": "0xb1"})]
    async for url in _node(statuses):
        result = await asyncio.to_thread(_submit_and_wait, url, "finalization", 5)
        assert result == ("0xb1", True)


async def test_a_node_that_closes_the_watch_is_a_connection_error() -> None:
    async for url in _node([_update("ready")], close=True):
        with pytest.raises(ChainConnectionError) as raised:
            await asyncio.to_thread(_submit_and_wait, url, "inclusion", 5)
        assert "closed" in raised.value.reason


@pytest.fixture
def quick_probes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(chain_module, "SILENT_WATCH_PROBE_S", 0.1)


@pytest.mark.usefixtures("quick_probes")
async def test_a_silent_watch_ends_when_the_probe_finds_the_extrinsic(silent_node: str) -> None:
    answers: list[tuple[str, bool] | None] = [None, ("0xb7", False), ("0xb7", True)]
    calls: list[float] = []

    def probe() -> tuple[str, bool] | None:
        calls.append(time.monotonic())
        return answers[min(len(calls), len(answers)) - 1]

    # Waiting for finality: "in a best block" is not enough, "final" is.
    result = await asyncio.to_thread(_submit_and_wait, silent_node, "finalization", 5, probe)
    assert result == ("0xb7", True) and len(calls) == 3
    # Waiting for inclusion: the first block it is found in.
    calls.clear()
    result = await asyncio.to_thread(_submit_and_wait, silent_node, "inclusion", 5, probe)
    assert result == ("0xb7", False) and len(calls) == 2


@pytest.mark.usefixtures("quick_probes")
async def test_a_silent_watch_whose_extrinsic_is_nowhere_times_out(silent_node: str) -> None:
    calls: list[float] = []

    def probe() -> None:
        calls.append(time.monotonic())

    with pytest.raises(ChainConnectionError, match="may still be included"):
        await asyncio.to_thread(_submit_and_wait, silent_node, "inclusion", 0.5, probe)
    assert len(calls) >= 2  # looked on chain (every 0.1 s) before giving up
