"""One daemon per key: the state dir's flock (in-process, and ``ccnet worker run`` as a
second process while a first holds it, then after ``kill -9`` of the first), the look at
the registered endpoint, and SIGINT/SIGTERM during start-up (exit 130/143, no
traceback, lock released). No chain: the lock comes before the chain connection, and a
silent TCP server stands in for a node that does not answer."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
from aiohttp import web

from ccnet.client.devchain import free_port
from ccnet.worker.exceptions import (
    AlreadyRunningError,
    EndpointAnswersError,
    InstanceLockedError,
    WorkerError,
)
from ccnet.worker.instance_lock import LOCK_FILE, InstanceLock, check_registered_endpoint

ADDRESS = "5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty"  # //Bob

HOLDER = """
import sys, time
from pathlib import Path
from ccnet.worker.instance_lock import InstanceLock
lock = InstanceLock(Path(sys.argv[1]), address="holder")
lock.acquire()
print("held", flush=True)
time.sleep(600)
"""


def test_a_second_lock_is_refused_until_the_first_is_released(tmp_path: Path) -> None:
    path = tmp_path / LOCK_FILE
    first = InstanceLock(path, address=ADDRESS)
    first.acquire()
    with pytest.raises(InstanceLockedError) as refused:
        InstanceLock(path, address=ADDRESS).acquire()
    assert refused.value.pid == os.getpid() and refused.value.address == ADDRESS
    assert isinstance(refused.value, AlreadyRunningError | WorkerError)
    assert str(path) in str(refused.value) and f"process {os.getpid()}" in str(refused.value)
    first.release()
    first.release()  # idempotent
    with InstanceLock(path, address=ADDRESS) as again:
        assert again.held
    assert not again.held and path.exists()


def _cli_env(tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "CCNET_CONFIG": str(tmp_path / "config.toml"),
        "CCNET_KEYSTORE": str(tmp_path / "keystore"),
        "CCNET_WORKER_BENCHMARK_N": "1000",
        "CCNET_WORKER_BENCHMARK_ROUNDS": "1",
    }


def _command(url: str, state: Path) -> list[str]:
    command = [sys.executable, "-m", "ccnet.client", "--url", url, "worker", "run"]
    return [*command, "--key", "//Bob", "--state-dir", str(state)]


def test_second_daemon_process_refused_then_starts_after_kill_9(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(state / LOCK_FILE)],
        stdout=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == b"held\n"
        no_node = f"ws://127.0.0.1:{free_port()}"
        command = _command(no_node, state)
        second = subprocess.run(
            command, env=_cli_env(tmp_path), capture_output=True, text=True, timeout=120
        )
        assert second.returncode == 1, second.stderr
        assert "already running" in second.stderr and f"process {holder.pid}" in second.stderr
        assert "Traceback" not in second.stderr
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait(30)
        third = subprocess.run(
            command, env=_cli_env(tmp_path), capture_output=True, text=True, timeout=120
        )
        # Past the lock (the kernel dropped it with the killed holder), it fails on the
        # absent node: the chain's exit code, not the lock's message.
        assert third.returncode == 3, third.stderr
        assert "already running" not in third.stderr and "Traceback" not in third.stderr
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait(30)


@pytest.fixture
def silent_node() -> Iterator[tuple[str, list[socket.socket]]]:
    """A TCP server that accepts and never answers: a node stuck before its handshake.
    Yields its ws:// URL and the connections it accepted."""
    server = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []

    def serve() -> None:
        while True:
            try:
                accepted.append(server.accept()[0])
            except OSError:  # closed
                return

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"ws://127.0.0.1:{server.getsockname()[1]}", accepted
    server.shutdown(socket.SHUT_RDWR)
    server.close()
    thread.join(10)
    for conn in accepted:
        conn.close()


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_during_start_up_stops_at_once(
    tmp_path: Path, silent_node: tuple[str, list[socket.socket]], signum: int
) -> None:
    url, accepted = silent_node
    state = tmp_path / "state"
    proc = subprocess.Popen(
        _command(url, state),
        env=_cli_env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not accepted and time.monotonic() < deadline:  # until it is stuck connecting
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.05)
        assert accepted, "the daemon never connected"
        os.kill(proc.pid, signum)
        # A bound, not a timing assertion: the stuck connect alone would take 30 s.
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(30)
    assert proc.returncode == 128 + signum, err
    assert b"Traceback" not in err and b"during start-up" in err, err
    assert b'"event"' not in out  # never ready
    with InstanceLock(state / LOCK_FILE, address=ADDRESS):  # released
        pass


async def test_registered_endpoint_that_answers_is_refused() -> None:
    app = web.Application()
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    live = f"http://127.0.0.1:{port}/offer"
    gone = f"http://127.0.0.1:{free_port()}/offer"
    try:
        with pytest.raises(EndpointAnswersError) as refused:
            await check_registered_endpoint(_FakeChain(live), ADDRESS, timeout=5)  # type: ignore[arg-type]
        assert refused.value.endpoint == live and live in str(refused.value)
        assert await check_registered_endpoint(_FakeChain(gone), ADDRESS) == gone  # type: ignore[arg-type]
        assert await check_registered_endpoint(_FakeChain(None), ADDRESS) is None  # type: ignore[arg-type]
    finally:
        await runner.cleanup()


class _FakeTasks:
    def __init__(self, endpoint: str | None) -> None:
        self.endpoint = endpoint

    def worker(self, address: str) -> SimpleNamespace | None:
        if self.endpoint is None:
            return None
        return SimpleNamespace(endpoint=self.endpoint.encode())


class _FakeChain:
    def __init__(self, endpoint: str | None) -> None:
        self.tasks = _FakeTasks(endpoint)
