"""Run arlocal, a local Arweave gateway, in the background on 127.0.0.1 only.

One implementation behind ``ccnet checkpoint gateway``, ``scripts/arlocal.sh`` and the
pytest ``arlocal`` fixture, like :mod:`ccnet.client.devchain` for the chain. arlocal's
own CLI binds every interface, so the gateway runs through ``storage/arlocal-loopback.mjs``,
which makes it listen on one loopback address. The pid file, log, recorded URL and the
gateway's data (``data/``: SQLite plus data files, kept across restarts) live in a state
dir, default ``.state/arlocal``. arlocal comes from npm (package.json, ``npm ci``).
"""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from types import TracebackType

import httpx

from ccnet.client.devchain import find_root, group_alive, port_free, process_started, stop_group

from .exceptions import DevGatewayError

__all__ = [
    "DEFAULT_HOST",
    "DEFAULT_PORT",
    "DEFAULT_STATE_DIR",
    "DevGateway",
    "DevGatewayInfo",
]

logger = logging.getLogger(__name__)

WRAPPER = Path(__file__).with_name("arlocal-loopback.mjs")
ARLOCAL_PACKAGE = Path("node_modules/arlocal/package.json")
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 1984
DEFAULT_STATE_DIR = Path(".state/arlocal")
DEFAULT_TIMEOUT = 60.0
PID_FILE = "arlocal.pid"
LOG_FILE = "arlocal.log"
INFO_FILE = "gateway.json"
DATA_DIR = "data"
_READY = "ARLOCAL_READY "


@dataclass(frozen=True)
class DevGatewayInfo:
    """A running arlocal, as recorded in its state dir."""

    pid: int
    """Process id of node, which is also its process group id."""
    started: int
    """Its start time in /proc (clock ticks after boot), against a reused pid."""
    url: str
    """HTTP URL of the gateway."""
    data_dir: str
    """Where it keeps its data."""
    log: str
    """Its log file."""
    ready: bool = False
    """Whether it answered ``/info``."""


class DevGateway:
    """An arlocal gateway owned through a state dir.

    Use :meth:`start` / :meth:`stop` (both idempotent) or ``with DevGateway(...) as info:``.
    """

    def __init__(
        self,
        *,
        root: Path | None = None,
        state_dir: Path | None = None,
        host: str = DEFAULT_HOST,
        port: int = DEFAULT_PORT,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self.__root = (root or find_root()).resolve()
        self.__state_dir = (self.__root / (state_dir or DEFAULT_STATE_DIR)).resolve()
        self.__host = host
        self.__port = port
        self.__timeout = timeout
        self.__process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The URL this gateway is asked to listen on."""
        return f"http://{self.__host}:{self.__port}"

    @property
    def state_dir(self) -> Path:
        """Pid file, log, info and data."""
        return self.__state_dir

    @property
    def log_path(self) -> Path:
        """arlocal's log (rewritten on each start)."""
        return self.__state_dir / LOG_FILE

    def status(self) -> DevGatewayInfo | None:
        """The running gateway recorded in the state dir, or None."""
        info = self._recorded()
        if info is None or not info.ready:
            return None
        return info if process_started(info.pid) == info.started else None

    def start(self) -> DevGatewayInfo:
        """Start arlocal and wait until it answers ``/info``. A no-op if it already runs
        at this URL (its data are kept across restarts anyway); raises
        :class:`DevGatewayError` if it runs at another URL, the port is taken, or it
        cannot be started (as :meth:`ccnet.client.devchain.DevChain.start`)."""
        if (running := self.status()) is not None:
            if running.url != self.url:
                raise DevGatewayError(
                    f"arlocal already runs at {running.url}; stop it first "
                    f"(`ccnet checkpoint gateway stop`) to start one at {self.url}"
                )
            logger.info("arlocal already running at %s (pid %d)", running.url, running.pid)
            return running
        self.stop()  # what is left of one that died
        node = shutil.which("node")
        if node is None or not (self.__root / ARLOCAL_PACKAGE).is_file():
            raise DevGatewayError(
                f"arlocal is not installed (node={node}, {self.__root / ARLOCAL_PACKAGE}): "
                "run scripts/setup.sh in the checkout, or set $CCNET_ROOT to a checkout "
                "that has it"
            )
        if not WRAPPER.is_file():  # an installed wheel: the dev tooling is in the checkout
            raise DevGatewayError(f"{WRAPPER} is missing: run from a ccnet checkout")
        if not port_free(self.__host, self.__port):
            raise DevGatewayError(f"{self.__host}:{self.__port} is already in use")
        data_dir = self.__state_dir / DATA_DIR
        data_dir.mkdir(parents=True, exist_ok=True)
        args = [node, str(WRAPPER), "--host", self.__host, "--port", str(self.__port)]
        args += ["--dbpath", str(data_dir)]
        logger.info("starting %s", " ".join(args))
        with self.log_path.open("wb") as log:
            # Own session and process group: stop() signals the whole group.
            self.__process = subprocess.Popen(
                args,
                cwd=self.__state_dir,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        pid = self.__process.pid
        info = DevGatewayInfo(
            pid=pid,
            started=process_started(pid) or 0,
            url=self.url,
            data_dir=str(data_dir),
            log=str(self.log_path),
        )
        (self.__state_dir / PID_FILE).write_text(f"{pid}\n")
        self._record(info)
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        info = DevGatewayInfo(**{**asdict(info), "ready": True})
        self._record(info)
        logger.info("arlocal running at %s (pid %d)", info.url, pid)
        return info

    def stop(self, timeout: float = 10.0) -> bool:
        """Stop the gateway's process group; returns whether it was running. Its data
        stay in the state dir."""
        was_running = self.status() is not None
        info = self._recorded()
        if self.__process is not None:
            self.__process.poll()
        if info is not None:
            started = process_started(info.pid)
            ours = group_alive(info.pid) if started is None else started == info.started
            if ours:
                self._kill(info.pid, timeout)
        for name in (PID_FILE, INFO_FILE):
            (self.__state_dir / name).unlink(missing_ok=True)
        return was_running

    def __enter__(self) -> DevGatewayInfo:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            text = ""
        return "\n".join(text.splitlines()[-lines:]) or "(the log is empty)"

    def _recorded(self) -> DevGatewayInfo | None:
        try:
            return DevGatewayInfo(**json.loads((self.__state_dir / INFO_FILE).read_text()))
        except (FileNotFoundError, ValueError, TypeError):
            return None

    def _record(self, info: DevGatewayInfo) -> None:
        path = self.__state_dir / INFO_FILE
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(info), indent=2) + "\n")
        tmp.replace(path)

    def _wait_ready(self) -> None:
        assert self.__process is not None
        deadline = time.monotonic() + self.__timeout
        while time.monotonic() < deadline:
            if (code := self.__process.poll()) is not None:
                raise DevGatewayError(
                    f"arlocal exited with code {code} (log: {self.log_path})",
                    log_tail=self._log_tail(),
                )
            if _READY in self._log_tail(200):
                try:
                    response = httpx.get(f"{self.url}/info", timeout=2.0)
                    if response.status_code == 200 and "network" in response.json():
                        return
                except (httpx.HTTPError, ValueError):
                    pass
            time.sleep(0.2)
        raise DevGatewayError(
            f"arlocal did not answer at {self.url} within {self.__timeout:.0f}s "
            f"(log: {self.log_path})",
            log_tail=self._log_tail(),
        )

    def _kill(self, pgid: int, timeout: float) -> None:
        if not stop_group(pgid, timeout, "arlocal"):
            raise DevGatewayError(f"could not stop arlocal (process group {pgid})")
        if self.__process is not None and self.__process.pid == pgid:
            self.__process.wait(timeout=5)  # reap our own child
        self.__process = None
