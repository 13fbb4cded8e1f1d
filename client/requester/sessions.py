"""The requester's side of the job protocol: one WebRTC session per worker, reused.

The messages are :mod:`ccnet.client.jobs.messages` (``docs/protocol.md``, section 8), on
the ``"tasks"`` data channel of a :class:`~ccnet.client.net.webrtc.PeerSession` (the
``"channels"`` one carries the payment channel, see :mod:`.channelbook`).

- :class:`WorkerSession`: one authenticated session. A reader task decodes every
  message on ``"tasks"`` and routes it by ``job_id`` to the job waiting for it, so many
  jobs share the session at once. :meth:`WorkerSession.run_job` sends a ``job_request``,
  answers ``module_needed`` with ``module_data`` and returns the ``job_result`` or
  ``job_failed``; for a request with ``checkpoint`` or ``resume`` it hands each
  ``job_checkpoint`` to a callback and also returns a ``job_suspended``
  (:meth:`WorkerSession.suspend` sends ``job_suspend``). Heartbeats the worker pushes
  on the same channel (tried with
  :func:`~ccnet.client.jobs.messages.decode_heartbeat` on what
  :func:`~ccnet.client.jobs.messages.decode` refuses) go to a callback, if signed by the
  session's worker.
- :class:`SessionPool`: at most one open session per worker; connects on first use
  (:func:`~ccnet.client.net.webrtc.connect`), and again after the session broke.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
from substrateinterface import Keypair

from ..exceptions import MalformedMessageError
from ..jobs.heartbeat import Heartbeat
from ..jobs.messages import (
    JobCheckpoint,
    JobFailed,
    JobRequest,
    JobResult,
    JobSuspend,
    JobSuspended,
    Message,
    ModuleData,
    ModuleNeeded,
    decode,
    decode_heartbeat,
    encode,
)
from ..net.background import cancel_and_wait, create_task_with_logging
from ..net.datachannel import DataChannelTransport
from ..net.exceptions import NetError, TransportClosedError
from ..net.webrtc import CHANNELS_LABEL, TASKS_LABEL, PeerConfig, PeerSession, connect

__all__ = ["CheckpointHandler", "HeartbeatHandler", "JobExchange", "SessionPool", "WorkerSession"]

logger = logging.getLogger(__name__)

HeartbeatHandler = Callable[[Heartbeat], None]
"""Receives each heartbeat a worker pushes (unchecked: verify it first)."""
CheckpointHandler = Callable[[JobCheckpoint], None]
"""Receives each ``job_checkpoint`` of a job with VM checkpoints (the worker's word:
check it against its record on chain before relying on it)."""

_Item = Message | BaseException


@dataclass(frozen=True)
class JobExchange:
    """How one job went over the wire."""

    reply: JobResult | JobFailed | JobSuspended
    """The answer; a :class:`JobSuspended` only to a request with ``checkpoint`` or
    ``resume``."""
    module_sent: bool
    """Whether the worker asked for the module (it was not cached there)."""
    module_rtt_ms: float | None
    """Request -> ModuleNeeded round trip, ms (a network latency sample), if asked."""
    elapsed_ms: float
    """Request sent -> reply received, ms (includes the run)."""


class WorkerSession:
    """One open session with a worker (see the module docs). *on_heartbeat* gets the
    heartbeats pushed on ``"tasks"``."""

    def __init__(self, peer: PeerSession, *, on_heartbeat: HeartbeatHandler | None = None) -> None:
        self.peer = peer
        self.worker = peer.remote
        self._tasks_channel: DataChannelTransport = peer.transport(TASKS_LABEL)
        self._on_heartbeat = on_heartbeat
        self._jobs: dict[bytes, asyncio.Queue[_Item]] = {}
        self._error: BaseException | None = None
        self._background: set[asyncio.Task[Any]] = set()
        self._reader = create_task_with_logging(
            self._read(), name=f"jobs-{self.worker[:8]}", tasks=self._background
        )

    @property
    def channels_transport(self) -> DataChannelTransport:
        """The ``"channels"`` transport (payment-channel updates)."""
        return self.peer.transport(CHANNELS_LABEL)

    @property
    def is_open(self) -> bool:
        """Whether the session still carries jobs."""
        return self._error is None and not self._tasks_channel.closed

    @property
    def in_flight(self) -> int:
        """Jobs waiting for a reply."""
        return len(self._jobs)

    async def _read(self) -> None:
        try:
            while True:
                data = await self._tasks_channel.recv()
                self._dispatch(data)
        except TransportClosedError as err:
            self._fail(err)
        except asyncio.CancelledError:
            self._fail(TransportClosedError(f"the session with {self.worker} was closed"))
            raise

    def _dispatch(self, data: bytes) -> None:
        try:
            message = decode(data)
        except MalformedMessageError as err:
            try:
                beat = decode_heartbeat(data)
            except MalformedMessageError as bad:
                logger.info("bad heartbeat from %s: %s", self.worker, bad)
                return
            if beat is None:
                logger.info("ignoring a malformed message from %s: %s", self.worker, err)
            elif beat.worker != self.worker:
                logger.info("%s relayed a heartbeat of %s; dropped", self.worker, beat.worker)
            elif self._on_heartbeat is not None:
                self._on_heartbeat(beat)
            return
        queue = self._jobs.get(message.job_id)
        if queue is None:
            logger.info("ignoring %s for unknown job %s", message.TYPE, message.job_id.hex())
            return
        queue.put_nowait(message)

    def _fail(self, error: BaseException) -> None:
        if self._error is None:
            self._error = error
        for queue in self._jobs.values():
            queue.put_nowait(error)

    async def run_job(
        self,
        request: JobRequest,
        module: bytes,
        timeout: float,
        *,
        on_checkpoint: CheckpointHandler | None = None,
    ) -> JobExchange:
        """Send *request*, serve the module if asked, and return the reply.

        For a request with ``checkpoint`` or ``resume``, each ``job_checkpoint`` goes to
        *on_checkpoint* and a ``job_suspended`` is a reply too; for any other request
        both are ignored (logged). Raises :class:`TimeoutError` after *timeout* seconds
        without a reply and :class:`~ccnet.client.net.exceptions.TransportClosedError`
        when the session breaks.
        """
        if self._error is not None:
            raise self._error
        if request.job_id in self._jobs:
            raise ValueError(f"job {request.job_id.hex()} is already running")
        queue: asyncio.Queue[_Item] = asyncio.Queue()
        self._jobs[request.job_id] = queue
        started = time.monotonic()
        module_sent, module_rtt = False, None
        checkpointed = request.checkpoint is not None or request.resume is not None
        try:
            # The send is inside the timeout: a worker that stops reading (the transport
            # then waits for its buffer to drain) must not hold the requester forever.
            async with asyncio.timeout(timeout):
                await self._tasks_channel.send(encode(request))
                while True:
                    item = await queue.get()
                    if isinstance(item, BaseException):
                        raise item
                    if isinstance(item, ModuleNeeded):
                        if item.module_hash != request.module_hash or module_sent:
                            logger.info("%s asked for another module; ignored", self.worker)
                            continue
                        module_rtt = (time.monotonic() - started) * 1000
                        module_sent = True
                        await self._tasks_channel.send(encode(ModuleData(request.job_id, module)))
                    elif isinstance(item, JobResult | JobFailed) or (
                        checkpointed and isinstance(item, JobSuspended)
                    ):
                        elapsed = (time.monotonic() - started) * 1000
                        return JobExchange(item, module_sent, module_rtt, elapsed)
                    elif checkpointed and isinstance(item, JobCheckpoint):
                        if on_checkpoint is not None:
                            on_checkpoint(item)
                    else:
                        logger.info("ignoring %s from %s", item.TYPE, self.worker)
        finally:
            self._jobs.pop(request.job_id, None)

    async def suspend(self, job_id: bytes) -> None:
        """Ask the worker to suspend job *job_id* (16 bytes, running with ``checkpoint``
        or ``resume``) at its next safe point: its :meth:`run_job` then returns the
        ``job_suspended`` (or the result, when the job ended first). Raises
        :class:`~ccnet.client.net.exceptions.TransportClosedError` when the session
        broke."""
        if self._error is not None:
            raise self._error
        await self._tasks_channel.send(encode(JobSuspend(job_id)))

    async def close(self) -> None:
        """Stop the reader and close the peer session. Idempotent."""
        self._fail(TransportClosedError(f"the session with {self.worker} was closed"))
        await cancel_and_wait(list(self._background))
        await self.peer.close()


Connector = Callable[[str, str], Awaitable[PeerSession]]
"""``connect(endpoint, worker) -> PeerSession`` (tests may replace the WebRTC dial)."""


class SessionPool:
    """At most one open :class:`WorkerSession` per worker, made on demand.

    *keypair* signs the offers; *config* is the WebRTC session config; *on_open* runs
    for each new session before it is handed out (the requester attaches the payment
    channel there); *connector* replaces the WebRTC dial in tests.
    """

    def __init__(
        self,
        keypair: Keypair,
        *,
        config: PeerConfig | None = None,
        on_heartbeat: HeartbeatHandler | None = None,
        on_open: Callable[[WorkerSession], Awaitable[None]] | None = None,
        connector: Connector | None = None,
    ) -> None:
        self.keypair = keypair
        self.config = config if config is not None else PeerConfig()
        self._on_heartbeat = on_heartbeat
        self._on_open = on_open
        self._connector = connector
        self._sessions: dict[str, WorkerSession] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._http: aiohttp.ClientSession | None = None
        self.connects = 0
        """Sessions opened so far."""

    def session(self, worker: str) -> WorkerSession | None:
        """The open session with *worker*, if any."""
        found = self._sessions.get(worker)
        return found if found is not None and found.is_open else None

    async def _dial(self, endpoint: str, worker: str) -> PeerSession:
        if self._connector is not None:
            return await self._connector(endpoint, worker)
        if self._http is None:
            self._http = aiohttp.ClientSession()
        return await connect(endpoint, self.keypair, worker, config=self.config, http=self._http)

    async def get(self, worker: str, endpoint: str) -> WorkerSession:
        """The open session with *worker* (SS58), connecting through *endpoint* if there
        is none. Raises :class:`~ccnet.client.net.exceptions.NetError` (signaling
        refused, no connection in time)."""
        lock = self._locks.setdefault(worker, asyncio.Lock())
        async with lock:
            found = self.session(worker)
            if found is not None:
                return found
            stale = self._sessions.pop(worker, None)
            if stale is not None:
                await stale.close()
            peer = await self._dial(endpoint, worker)
            session = WorkerSession(peer, on_heartbeat=self._on_heartbeat)
            self.connects += 1
            try:
                if self._on_open is not None:
                    await self._on_open(session)
            except BaseException:
                await session.close()
                raise
            self._sessions[worker] = session
            return session

    async def drop(self, worker: str) -> None:
        """Close the session with *worker*, if any (the next :meth:`get` reconnects)."""
        lock = self._locks.setdefault(worker, asyncio.Lock())
        async with lock:
            session = self._sessions.pop(worker, None)
            if session is not None:
                await session.close()

    async def close(self) -> None:
        """Close every session and the HTTP client."""
        for worker in list(self._sessions):
            session = self._sessions.pop(worker)
            try:
                await session.close()
            except NetError as err:  # closing a dead session
                logger.debug("closing the session with %s: %s", worker, err)
        if self._http is not None:
            await self._http.close()
            self._http = None
