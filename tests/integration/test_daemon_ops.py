"""Operating the worker daemon against the real dev chain: its chain connection cut and
restored (the event subscription resumes, with no event lost or repeated), and one
daemon per key (a second ``ccnet worker run`` is refused while the first runs; after
``kill -9`` of the first a new one starts and takes the endpoint over).

Chopsticks keeps its blocks in memory (``ccnet.client.devchain`` starts it without a
database), so a restarted dev chain would begin again at genesis: the outage is made by
a TCP relay between the daemon and the chain that drops every connection and stops
listening, then listens again on the same port.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import threading
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from ccnet.client import CC, Chain, ChainEvent, Keys
from ccnet.client.devchain import free_port
from ccnet.worker.daemon import WorkerDaemon

StartDaemon = Callable[..., Awaitable[WorkerDaemon]]
WaitUntil = Callable[..., Awaitable[None]]


class Relay:
    """A TCP relay on 127.0.0.1:*port* to the node at *target* (``ws://host:port``).

    It runs on an event loop in a thread of its own, as a real node would be outside the
    process: on the test's loop it would wait for that loop, whose daemon's chain calls
    (in the default executor, behind the process-wide SCALECODEC lock) wait for the
    relay; under load that cycle timed the connection out before any cut."""

    def __init__(self, target: str) -> None:
        parsed = urlparse(target)
        self.target = (parsed.hostname or "127.0.0.1", parsed.port or 80)
        self.port = free_port()
        self.url = f"ws://127.0.0.1:{self.port}"
        self.connections = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()

    async def start(self) -> None:
        await self._on_own_loop(self._start())

    async def cut(self) -> None:
        """Stop listening and drop every connection (the node is gone)."""
        await self._on_own_loop(self._cut())

    def close(self) -> None:
        """Cut and end the relay's thread."""
        asyncio.run_coroutine_threadsafe(self._cut(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    async def _on_own_loop(self, coro: Coroutine[Any, Any, None]) -> None:
        await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, self._loop))

    async def _start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)

    async def _cut(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self._writers |= {writer, up_writer}

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                dst.transport.abort()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        self._writers -= {writer, up_writer}


async def test_subscription_resumes_after_the_connection_is_cut(
    devchain: str,
    ccnet_chain: Chain,
    fund_account: Any,
    start_daemon: StartDaemon,
    wait_until: WaitUntil,
) -> None:
    worker, requester = fund_account(), fund_account()
    relay = Relay(devchain)
    try:
        await _resumes_after_a_cut(relay, worker, requester, ccnet_chain, start_daemon, wait_until)
    finally:
        relay.close()
        # Registered on the shared chain: leave, or later disputes would draw this key.
        await asyncio.to_thread(ccnet_chain.tasks.deregister_worker, worker)


async def _resumes_after_a_cut(
    relay: Relay,
    worker: Any,
    requester: Any,
    ccnet_chain: Chain,
    start_daemon: StartDaemon,
    wait_until: WaitUntil,
) -> None:
    await relay.start()
    daemon = await start_daemon(
        worker, relay.url, requesters=frozenset({requester.ss58_address}), verify_disputes=False
    )
    assert daemon.tasks is not None and daemon.onchain is not None
    delivered: list[int] = []
    on_event = daemon.tasks.on_event

    def spy(event: ChainEvent) -> None:
        delivered.append(int(event.attributes["task_id"]))
        on_event(event)

    daemon.tasks.on_event = spy  # type: ignore[method-assign]

    async def post() -> int:
        deadline = await asyncio.to_thread(ccnet_chain.block_number) + 100
        return int(
            await asyncio.to_thread(
                ccnet_chain.tasks.post, requester, b"ops-test", b"none", b"none", CC, deadline
            )
        )

    before = await post()
    await wait_until(lambda: delivered == [before], "the task posted before the cut")

    pump = daemon.onchain._pump
    assert pump is not None and pump._subscription is not None
    subscription = pump._subscription
    await relay.cut()
    during = [await post(), await post()]  # blocks made while the daemon cannot see them
    await wait_until(lambda: subscription.failures >= 2, "failed polls during the outage")
    assert subscription.error is not None and subscription.running

    await relay.start()  # the node is back on the same address
    after = await post()
    await wait_until(lambda: after in delivered, "the task posted after the connection came back")
    await asyncio.sleep(1.0)  # a few more polls: nothing is delivered twice
    assert delivered == [before, *during, after]
    assert subscription.error is None and relay.connections >= 2
    head = await asyncio.to_thread(daemon.chain.block_number)
    assert head == await asyncio.to_thread(ccnet_chain.block_number)
    await daemon.stop()


def _env(home: Path) -> dict[str, str]:
    return {
        **os.environ,
        "CCNET_CONFIG": str(home / "config.toml"),
        "CCNET_KEYSTORE": str(home / "keystore"),
        "CCNET_WORKER_BENCHMARK_N": "100000",
        "CCNET_WORKER_BENCHMARK_ROUNDS": "1",
    }


def _command(url: str, uri: str, state: Path) -> list[str]:
    command = [sys.executable, "-m", "ccnet.client", "--url", url, "worker", "run", "--key", uri]
    return [*command, "--state-dir", str(state), "--no-tasks", "--no-disputes", "--json-log"]


async def _ready(proc: asyncio.subprocess.Process) -> dict[str, Any]:
    assert proc.stdout is not None
    while True:
        line = await asyncio.wait_for(proc.stdout.readline(), 120)
        assert line, "the worker exited before it was ready"
        if line.startswith(b"{"):
            data: dict[str, Any] = json.loads(line)
            assert data["event"] == "ready"
            return data


async def test_one_daemon_per_key(
    devchain: str, ccnet_chain: Chain, fund_account: Any, tmp_path: Path
) -> None:
    uri = f"//ccnet-daemon-ops-{os.urandom(4).hex()}"
    address = str(Keys.from_uri(uri).ss58_address)
    await asyncio.to_thread(ccnet_chain.transfer, fund_account.funder, address, 100 * CC)
    state, env = tmp_path / "state", _env(tmp_path)
    procs: list[asyncio.subprocess.Process] = []

    async def spawn(state_dir: Path) -> asyncio.subprocess.Process:
        proc = await asyncio.create_subprocess_exec(
            *_command(devchain, uri, state_dir),
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
        )
        procs.append(proc)
        return proc

    async def refused(state_dir: Path) -> str:
        proc = await spawn(state_dir)
        out, err = await asyncio.wait_for(proc.communicate(), 120)
        assert proc.returncode == 1, err.decode()
        assert b"Traceback" not in err and b'"ready"' not in out
        return err.decode()

    try:
        first = await spawn(state)
        ready = await _ready(first)
        # Same key, same state dir: the lock.
        message = await refused(state)
        assert "already running" in message and f"process {first.pid}" in message
        # Same key, another state dir: the endpoint registered on chain answers.
        message = await refused(tmp_path / "other-state")
        assert ready["signaling_url"] in message and "already running" in message
        info = await asyncio.to_thread(ccnet_chain.tasks.worker, address)
        assert info is not None and info.endpoint.decode() == ready["signaling_url"]

        first.kill()  # SIGKILL: no clean-up at all
        await asyncio.wait_for(first.wait(), 30)
        second = await spawn(state)
        again = await _ready(second)
        assert again["registration"] == "updated"
        assert again["signaling_url"] != ready["signaling_url"]
        info = await asyncio.to_thread(ccnet_chain.tasks.worker, address)
        assert info is not None and info.endpoint.decode() == again["signaling_url"]
        second.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(second.wait(), 60) == 0
    finally:
        for proc in procs:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
        await asyncio.to_thread(ccnet_chain.tasks.deregister_worker, Keys.from_uri(uri))
