"""One daemon per worker key: a lock on the state dir, and a look at the endpoint the
chain has registered for the key.

- :class:`InstanceLock`: an exclusive ``flock(2)`` on ``<state dir>/daemon.lock``, held
  for the daemon's life. The kernel drops it when the process ends however it ends
  (``kill -9`` too), so a crashed daemon never leaves a stale lock behind. The file
  keeps the holder's pid and address (for the error message only; the lock is the
  ``flock``, never the file's presence).
- :func:`check_registered_endpoint`: a second daemon with the same key but another
  state dir (or on another machine) would re-register its own endpoint over the first
  one's. Before registering, the daemon asks the chain which endpoint the key has; if
  that endpoint answers HTTP, another daemon serves there and start-up stops with
  :class:`~ccnet.worker.exceptions.EndpointAnswersError`. An endpoint that does not
  answer (the previous run ended) is taken over.

Linux/macOS only (``fcntl``), as the daemon's sandbox is.
"""

from __future__ import annotations

import asyncio
import fcntl
import json
import logging
import os
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

import aiohttp

from .exceptions import EndpointAnswersError, InstanceLockedError

if TYPE_CHECKING:
    from ccnet.client import Chain

__all__ = [
    "ENDPOINT_PROBE_TIMEOUT_S",
    "LOCK_FILE",
    "InstanceLock",
    "check_registered_endpoint",
    "endpoint_answers",
]

log = logging.getLogger(__name__)

LOCK_FILE = "daemon.lock"
"""The lock's file name in the state dir."""
ENDPOINT_PROBE_TIMEOUT_S = 3.0
"""Seconds the registered endpoint has to answer before it counts as gone."""


class InstanceLock:
    """An exclusive, non-blocking ``flock`` on *path* for *address* (SS58) (see the
    module docs). ``with InstanceLock(...)`` or :meth:`acquire` / :meth:`release`."""

    def __init__(self, path: Path, *, address: str) -> None:
        self.path = path
        self.address = address
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> None:
        """Take the lock, or raise :class:`InstanceLockedError` naming the holder's pid
        at once (never waits). ``OSError`` when the file cannot be opened."""
        if self._fd is not None:
            return
        # O_CLOEXEC (Python's default): processes the daemon starts do not inherit it.
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = _holder_pid(fd)
            os.close(fd)
            raise InstanceLockedError(address=self.address, path=str(self.path), pid=pid) from None
        except BaseException:
            os.close(fd)
            raise
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps({"pid": os.getpid(), "address": self.address}).encode(), 0)
        self._fd = fd
        log.debug("holding %s", self.path)

    def release(self) -> None:
        """Drop the lock (idempotent). The file stays: removing it would let a third
        process lock a new file while a second one waits on the old one."""
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        try:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    def __enter__(self) -> InstanceLock:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


def _holder_pid(fd: int) -> int | None:
    try:
        pid = json.loads(os.pread(fd, 4096, 0) or b"{}").get("pid")
    except (OSError, ValueError, AttributeError):
        return None
    return pid if isinstance(pid, int) and pid > 0 else None


async def endpoint_answers(url: str, *, timeout: float = ENDPOINT_PROBE_TIMEOUT_S) -> bool:
    """Whether an HTTP server answers at *url* (any status) within *timeout* seconds."""
    if not url.startswith(("http://", "https://")):
        return False
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as session,
            session.get(url, allow_redirects=False) as response,
        ):
            log.debug("%s answered %d", url, response.status)
            return True
    except (aiohttp.ClientError, TimeoutError, ValueError):
        return False


async def check_registered_endpoint(
    chain: Chain, address: str, *, timeout: float = ENDPOINT_PROBE_TIMEOUT_S
) -> str | None:
    """The endpoint the chain has registered for *address* (``None``: not registered).

    Raises :class:`EndpointAnswersError` when that endpoint answers within *timeout*
    seconds (another daemon with this key serves there), and the chain's errors.
    Call it before this daemon's own endpoint listens.
    """
    info = await asyncio.to_thread(chain.tasks.worker, address)
    if info is None:
        return None
    endpoint = info.endpoint.decode(errors="replace")
    if await endpoint_answers(endpoint, timeout=timeout):
        raise EndpointAnswersError(address=address, endpoint=endpoint)
    if endpoint:
        log.info("the registered endpoint %s does not answer: taking it over", endpoint)
    return endpoint
