"""Run a Chopsticks dev chain in the background, started from a raw chain spec.

One implementation behind ``ccnet chain``, ``scripts/devchain.sh`` and the pytest
``devchain`` fixture. Chopsticks listens on every interface unless ``--host`` is given,
so :class:`DevChain` always passes it (default ``127.0.0.1``). The pid file, the log and
the recorded URL live in a state dir, so start, stop and status work across processes.
Chopsticks' log level comes from ``$CCNET_DEVCHAIN_LOG_LEVEL`` (fatal ... trace; info).

Chopsticks builds a block per extrinsic and none otherwise; with *block_time* a
background :mod:`~ccnet.client.blockticker` process (its own process group, recorded in
the state dir, stopped with the chain) builds one every *block_time* seconds when none
came, so deadlines pass without traffic.

Every start begins at genesis: Chopsticks runs without ``--db`` and keeps its blocks in
memory, so a stop (or a crash) forgets every block and balance change
(:data:`FRESH_STATE`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from types import TracebackType

import aiohttp

from .exceptions import DevChainError, SpecNotFoundError

__all__ = [
    "DEFAULT_HOST",
    "DEFAULT_PORT",
    "DEFAULT_SPEC",
    "DEFAULT_STATE_DIR",
    "DevChain",
    "DevChainInfo",
    "FRESH_STATE",
    "ROOT_ENV",
    "find_root",
    "free_port",
    "port_free",
    "group_alive",
    "process_started",
    "query_system_chain",
]

logger = logging.getLogger(__name__)

CHOPSTICKS_JS = Path("node_modules/@acala-network/chopsticks/chopsticks.cjs")
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
DEFAULT_SPEC = Path("chain-spec/development.raw.json")
ROOT_ENV = "CCNET_ROOT"
"""Names the repository checkout when the CLI runs outside it (see :func:`find_root`)."""
DEFAULT_STATE_DIR = Path(".state/devchain")
DEFAULT_TIMEOUT = 120.0
PID_FILE = "chopsticks.pid"
LOG_FILE = "chopsticks.log"
INFO_FILE = "devchain.json"
TICKER_LOG_FILE = "ticker.log"
FRESH_STATE = True
"""Whether a started chain begins at genesis (Chopsticks without ``--db``: blocks live
in memory, so a restart forgets them)."""
_LISTENING = re.compile(r"RPC listening on .*\bws://(\S+)")
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


@dataclass(frozen=True)
class DevChainInfo:
    """A running dev chain, as recorded in its state dir."""

    pid: int
    """Process id of Chopsticks, which is also its process group id."""
    started: int
    """Its start time in /proc (clock ticks after boot), against a reused pid."""
    url: str
    """WebSocket URL of its JSON-RPC server."""
    chain: str
    """Chain name it answers to ``system_chain``."""
    spec: str
    """Raw chain spec it was started from."""
    log: str
    """Its log file."""
    block_time: float | None = None
    """Seconds between blocks built when none came, or None: blocks only on demand."""
    ticker_pid: int | None = None
    """Process id (and process group id) of the block ticker, if *block_time*."""
    ticker_started: int = 0
    """The ticker's start time in /proc, against a reused pid."""


def _is_checkout(folder: Path) -> bool:
    return (folder / "package.json").is_file() and (folder / "setup.cfg").is_file()


def find_root(start: Path | None = None) -> Path:
    """Project root (the repository checkout holding ``chain-spec/``, ``node_modules/``):
    ``$CCNET_ROOT``; else the nearest folder up from *start* (default: the working dir)
    with a ``package.json`` and a ``setup.cfg``; else the checkout this package is
    installed from (``pip install -e``), so the CLI works from any directory; else
    *start* (an installed wheel has no repository files: commands that need them fail
    naming the path tried and ``$CCNET_ROOT``)."""
    if env := os.environ.get(ROOT_ENV):
        return Path(env).expanduser().resolve()
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if _is_checkout(folder):
            return folder
    installed = Path(__file__).resolve().parent.parent
    if _is_checkout(installed):
        return installed
    return here


def free_port(host: str = DEFAULT_HOST) -> int:
    """A TCP port on *host* that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def port_free(host: str, port: int) -> bool:
    """Whether a server could listen on *host*:*port* now (TCP)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as Node's listen() does
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


@dataclass(frozen=True)
class _Proc:
    state: str
    pgid: int
    started: int  # clock ticks after boot: with the pid, names one process for good


def _proc(pid: int) -> _Proc | None:
    """*pid* as /proc shows it, or None if there is no such process."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = raw[raw.rindex(")") + 2 :].split()
    return _Proc(state=fields[0], pgid=int(fields[2]), started=int(fields[19]))


def process_started(pid: int) -> int | None:
    """Start time of *pid* (clock ticks after boot), or None if it is gone or a zombie:
    with the pid, it names one process for good (pids are reused)."""
    proc = _proc(pid)
    return None if proc is None or proc.state == "Z" else proc.started


def group_alive(pgid: int) -> bool:
    """Whether any process of group *pgid* is still running (zombies do not count)."""
    if not Path("/proc/self/stat").exists():  # pragma: no cover - non-Linux fallback
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return False
        return True
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (proc := _proc(int(entry.name))):
            if proc.pgid == pgid and proc.state != "Z":
                return True
    return False


def stop_group(pgid: int, timeout: float, what: str) -> bool:
    """SIGTERM process group *pgid*, wait up to *timeout* s, then SIGKILL and wait 5 s
    more; whether the group is gone. *what* names it in the log."""
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            pass
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if not group_alive(pgid):
                return True
            time.sleep(0.1)
        logger.warning("%s (pgid %d) did not stop on %s", what, pgid, sig.name)
    return not group_alive(pgid)


async def query_system_chain(url: str, *, timeout: float = 5.0) -> str:
    """Ask the node at *url* (``ws://``) for ``system_chain`` over a WebSocket."""
    request = {"jsonrpc": "2.0", "id": 1, "method": "system_chain", "params": []}
    client_timeout = aiohttp.ClientTimeout(total=timeout)
    async with aiohttp.ClientSession(timeout=client_timeout) as session:
        async with session.ws_connect(url) as ws:
            await ws.send_json(request)
            reply = await ws.receive_json(timeout=timeout)
    result = reply.get("result") if isinstance(reply, dict) else None
    if not isinstance(result, str):
        raise DevChainError(f"unexpected reply to system_chain from {url}: {reply!r}")
    return result


class DevChain:
    """A Chopsticks dev chain owned through a state dir.

    Use :meth:`start` / :meth:`stop` (both idempotent) or ``with DevChain(...) as info:``.
    Blocking: do not call from inside a running event loop.
    """

    def __init__(
        self,
        *,
        root: Path | None = None,
        spec: Path | None = None,
        state_dir: Path | None = None,
        host: str = DEFAULT_HOST,
        port: int = DEFAULT_PORT,
        timeout: float = DEFAULT_TIMEOUT,
        block_time: float | None = None,
    ) -> None:
        if block_time is not None and block_time <= 0:
            raise ValueError(f"block_time must be positive seconds, got {block_time}")
        self.__root = (root or find_root()).resolve()
        self.__spec = (self.__root / (spec or DEFAULT_SPEC)).resolve()
        self.__state_dir = (self.__root / (state_dir or DEFAULT_STATE_DIR)).resolve()
        self.__host = host
        self.__port = port
        self.__timeout = timeout
        self.__block_time = block_time
        self.__process: subprocess.Popen[bytes] | None = None
        self.__ticker: subprocess.Popen[bytes] | None = None

    @property
    def log_path(self) -> Path:
        """Chopsticks' log file (rewritten on each start)."""
        return self.__state_dir / LOG_FILE

    @property
    def url(self) -> str:
        """The URL this chain is asked to listen on."""
        return f"ws://{self.__host}:{self.__port}"

    def status(self) -> DevChainInfo | None:
        """The running chain recorded in the state dir, or None if it is not running."""
        info = self._recorded()
        if info is None or not info.chain:  # none, or still starting
            return None
        proc = _proc(info.pid)
        running = proc is not None and proc.state != "Z" and proc.started == info.started
        return info if running else None

    @property
    def ticker_log_path(self) -> Path:
        """The block ticker's log file (rewritten on each start)."""
        return self.__state_dir / TICKER_LOG_FILE

    def ticker_running(self, info: DevChainInfo) -> bool:
        """Whether the block ticker of *info* still runs (False without one)."""
        return info.ticker_pid is not None and process_started(info.ticker_pid) == (
            info.ticker_started
        )

    def start(self) -> DevChainInfo:
        """Start Chopsticks (at genesis: :data:`FRESH_STATE`), and the block ticker if
        *block_time*, and wait until it answers ``system_chain``. A no-op if it already
        runs as asked; raises :class:`DevChainError` if it runs on another URL or with
        another block time, or cannot be started."""
        if (running := self.status()) is not None:
            if running.url != self.url or running.block_time != self.__block_time:
                raise DevChainError(
                    f"the dev chain already runs at {running.url} "
                    f"({_block_time_text(running.block_time)}); stop it first "
                    f"(`ccnet chain stop`) to start one at {self.url} "
                    f"({_block_time_text(self.__block_time)})"
                )
            logger.info("dev chain already running at %s (pid %d)", running.url, running.pid)
            return running
        self.stop()  # what is left of a chain that died
        if not self.__spec.is_file():
            raise SpecNotFoundError(self.__spec)
        node = shutil.which("node")
        script = self.__root / CHOPSTICKS_JS
        if node is None or not script.is_file():
            raise DevChainError(
                f"Chopsticks is not installed (node={node}, {script}): run scripts/setup.sh "
                f"in the checkout, or set ${ROOT_ENV} to a checkout that has it"
            )
        if not port_free(self.__host, self.__port):
            raise DevChainError(f"{self.__host}:{self.__port} is already in use")
        self.__state_dir.mkdir(parents=True, exist_ok=True)
        args = [node, str(script), "--genesis", str(self.__spec), "--build-block-mode", "Instant"]
        args += ["--host", self.__host, "--port", str(self.__port)]
        level = os.environ.get("CCNET_DEVCHAIN_LOG_LEVEL", "info")
        env = {**os.environ, "LOG_LEVEL": level}
        logger.info("starting %s", " ".join(args))
        with self.log_path.open("wb") as log:
            # Own session and process group: stop() signals the whole group, and a
            # Ctrl-C in the starting terminal does not reach it. cwd: keep Chopsticks
            # from loading a stray .env of the project.
            self.__process = subprocess.Popen(
                args,
                cwd=self.__state_dir,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        pid = self.__process.pid
        proc = _proc(pid)
        info = DevChainInfo(
            pid=pid,
            started=proc.started if proc else 0,
            url=self.url,
            chain="",  # set once it answers
            spec=str(self.__spec),
            log=str(self.log_path),
            block_time=self.__block_time,
        )
        (self.__state_dir / PID_FILE).write_text(f"{pid}\n")
        self._record(info)
        try:
            info = replace(info, chain=self._wait_ready())
            self._record(info)
            if self.__block_time is not None:
                info = self._start_ticker(info, self.__block_time)
        except BaseException:
            self.stop()
            raise
        self._record(info)
        logger.info("dev chain %r running at %s (pid %d)", info.chain, info.url, pid)
        return info

    def stop(self, timeout: float = 15.0) -> bool:
        """Stop the chain's whole process group, also what is left of it if Chopsticks
        died; returns whether Chopsticks was running."""
        was_running = self.status() is not None
        info = self._recorded()
        if self.__process is not None:
            self.__process.poll()  # reap our own child if it already exited
        if info is not None:
            proc = _proc(info.pid)
            if proc is None or proc.state == "Z":
                # Chopsticks is gone; its group id cannot be reused while the group lives.
                ours = group_alive(info.pid)
            else:
                ours = proc.started == info.started  # else the pid was reused
            if ours:
                self._kill(info.pid, timeout)
            if self.ticker_running(info):
                assert info.ticker_pid is not None
                self._kill(info.ticker_pid, timeout)
        if self.__ticker is not None:
            self.__ticker.poll()  # reap our own ticker if it already exited
            self.__ticker = None
        self._clear_state()
        return was_running

    def _start_ticker(self, info: DevChainInfo, block_time: float) -> DevChainInfo:
        """Start the block ticker process and record it in *info*; it runs in its own
        session (a process group cannot span two sessions), which :meth:`stop` ends."""
        args = [sys.executable, "-m", "ccnet.client.blockticker", info.url, repr(block_time)]
        logger.info("starting %s", " ".join(args))
        with self.ticker_log_path.open("wb") as log:
            self.__ticker = subprocess.Popen(
                args,
                cwd=self.__state_dir,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        pid = self.__ticker.pid
        return replace(info, ticker_pid=pid, ticker_started=process_started(pid) or 0)

    def __enter__(self) -> DevChainInfo:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _log_tail(self, lines: int = 40) -> str:
        try:
            text = _ANSI.sub("", self.log_path.read_text(errors="replace"))
        except FileNotFoundError:
            text = ""
        return "\n".join(text.splitlines()[-lines:]) or "(the log is empty)"

    def _recorded(self) -> DevChainInfo | None:
        try:
            return DevChainInfo(**json.loads((self.__state_dir / INFO_FILE).read_text()))
        except (FileNotFoundError, ValueError, TypeError):
            return None

    def _record(self, info: DevChainInfo) -> None:
        path = self.__state_dir / INFO_FILE
        path.with_suffix(".tmp").write_text(json.dumps(asdict(info), indent=2) + "\n")
        path.with_suffix(".tmp").replace(path)

    def _wait_ready(self) -> str:
        assert self.__process is not None
        deadline = time.monotonic() + self.__timeout
        url = ""
        while time.monotonic() < deadline:
            if (code := self.__process.poll()) is not None:
                raise DevChainError(
                    f"Chopsticks exited with code {code} (log: {self.log_path})",
                    log_tail=self._log_tail(),
                )
            if not url and (found := _LISTENING.search(_ANSI.sub("", self._log_tail(400)))):
                url = f"ws://{found.group(1)}"
                if url != self.url:
                    raise DevChainError(f"Chopsticks listens on {url}, not on {self.url}")
            if url:
                try:
                    return asyncio.run(query_system_chain(url))
                except (OSError, aiohttp.ClientError, TimeoutError, TypeError, ValueError):
                    pass
            time.sleep(0.5)
        raise DevChainError(
            f"dev chain did not answer system_chain at {self.url} within {self.__timeout:.0f}s "
            f"(log: {self.log_path})",
            log_tail=self._log_tail(),
        )

    def _kill(self, pgid: int, timeout: float = 15.0) -> None:
        if not stop_group(pgid, timeout, "dev chain"):
            raise DevChainError(f"could not stop the dev chain (process group {pgid})")
        for own in (self.__process, self.__ticker):
            if own is not None and own.pid == pgid:
                own.wait(timeout=5)  # reap our own child: no zombie
        if self.__process is not None and self.__process.pid == pgid:
            self.__process = None

    def _clear_state(self) -> None:
        for name in (PID_FILE, INFO_FILE):
            (self.__state_dir / name).unlink(missing_ok=True)


def _block_time_text(block_time: float | None) -> str:
    return "blocks on demand" if block_time is None else f"a block every {block_time:g} s"
