"""A long-lived Node process running zk/js/server.mjs (snarkjs + poseidon-lite).

One process serves many requests, so a proof or a verification does not pay Node's
start-up and the BN254 curve build each time: a verification then costs 12-15 ms here
instead of 0.3-0.6 s for one snarkjs CLI run. The process starts on the first request, is
restarted if it died, and exits when :meth:`ZkNode.close` closes its stdin (also at
interpreter exit, or if this process dies: the helper exits on end of input).

Requests are JSON lines answered in order; see the protocol at the top of server.mjs.
Thread-safe: one request at a time.
"""

from __future__ import annotations

import collections
import json
import logging
import queue
import shutil
import subprocess
import threading
import weakref
from collections.abc import Sequence
from types import TracebackType
from typing import IO, Any, Final

from ccnet.zk.artifacts import ZkPaths
from ccnet.zk.groth16 import R

from .exceptions import HelperError, SetupMissingError

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT: Final = 120.0
_EOF: Final = object()


def _pump_stdout(stream: IO[str], out: queue.Queue[object]) -> None:
    for line in stream:
        out.put(line)
    out.put(_EOF)


def _pump_stderr(stream: IO[str], tail: collections.deque[str]) -> None:
    for line in stream:
        tail.append(line.rstrip("\n"))


def _stop(proc: subprocess.Popen[str], grace: float = 5.0) -> None:
    """Close stdin, then escalate to SIGTERM and SIGKILL; always reaps the process."""
    try:
        if proc.stdin is not None:
            proc.stdin.close()
    except OSError:
        pass
    for step in (None, proc.terminate, proc.kill):
        if step is not None:
            step()
        try:
            proc.wait(timeout=grace)
            return
        except subprocess.TimeoutExpired:
            continue


class _Died(HelperError):
    """The helper exited before answering (retried once by ZkNode.request)."""

    def __init__(self, what: str, log_tail: str = "") -> None:
        super().__init__(f"zk helper exited: {what}", log_tail=log_tail)


class ZkNode:
    """Client of one zk/js/server.mjs process.

    ``timeout`` (s) bounds each request; a request that overruns kills the process
    (the next request starts a new one) and raises HelperError.
    """

    def __init__(self, paths: ZkPaths | None = None, *, timeout: float = DEFAULT_TIMEOUT):
        self._paths = paths or ZkPaths.default()
        self._timeout = timeout
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[str] | None = None
        self._replies: queue.Queue[object] = queue.Queue()
        self._stderr: collections.deque[str] = collections.deque(maxlen=40)
        self._next_id = 0
        self._finalizer: weakref.finalize[Any, Any] | None = None

    @property
    def paths(self) -> ZkPaths:
        return self._paths

    @property
    def pid(self) -> int | None:
        """The helper's pid while it runs, else None."""
        proc = self._proc
        return proc.pid if proc is not None and proc.poll() is None else None

    def _start(self) -> subprocess.Popen[str]:
        node = shutil.which("node")
        if node is None:
            raise SetupMissingError("node is not on PATH")
        script = self._paths.server_script
        if not (self._paths.node_modules / "snarkjs").is_dir():
            raise SetupMissingError("npm packages are not installed", path=self._paths.node_modules)
        proc = subprocess.Popen(
            [node, str(script)],
            cwd=self._paths.root,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            bufsize=1,
        )
        self._replies = queue.Queue()
        self._stderr.clear()
        assert proc.stdout is not None and proc.stderr is not None
        for target, args in (
            (_pump_stdout, (proc.stdout, self._replies)),
            (_pump_stderr, (proc.stderr, self._stderr)),
        ):
            threading.Thread(target=target, args=args, daemon=True, name="zk-node-io").start()
        if self._finalizer is not None:
            self._finalizer.detach()
        self._finalizer = weakref.finalize(self, _stop, proc)
        log.info("started zk helper pid %d", proc.pid)
        return proc

    def _kill(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            _stop(proc, grace=2.0)
        if self._finalizer is not None:
            self._finalizer.detach()
            self._finalizer = None

    def _log_tail(self) -> str:
        return "\n".join(self._stderr)

    def request(self, op: str, **fields: Any) -> dict[str, Any]:
        """Send one request and return its reply (without ``id`` and ``ok``).

        Every op is idempotent, so a request the helper died on is sent once more to a
        new helper. Raises SetupMissingError (no node / npm packages), HelperError (the helper
        answered an error, died twice or overran the timeout)."""
        with self._lock:
            try:
                reply = self._exchange(op, fields)
            except _Died as died:
                log.warning("zk helper died during %r (%s); restarting", op, died)
                reply = self._exchange(op, fields)
            if not reply.pop("ok", False):
                raise HelperError(f"zk helper: {op} failed: {reply.get('error')}")
            reply.pop("id", None)
            return reply

    def _exchange(self, op: str, fields: dict[str, Any]) -> dict[str, Any]:
        """One request/reply with the lock held; raises _Died if the helper is gone."""
        if self._proc is None or self._proc.poll() is not None:
            self._kill()
            self._proc = self._start()
        proc = self._proc
        self._next_id += 1
        rid = self._next_id
        assert proc.stdin is not None
        try:
            proc.stdin.write(json.dumps({"id": rid, "op": op, **fields}) + "\n")
            proc.stdin.flush()
        except OSError as err:
            self._kill()
            raise _Died(f"write failed: {err}") from None
        while True:
            try:
                line = self._replies.get(timeout=self._timeout)
            except queue.Empty:
                self._kill()
                raise HelperError(
                    f"zk helper: no answer to {op!r} in {self._timeout} s",
                    log_tail=self._log_tail(),
                ) from None
            if line is _EOF:
                proc.wait()
                tail = self._log_tail()
                self._kill()
                raise _Died(f"exit status {proc.returncode}", tail)
            assert isinstance(line, str)
            try:
                reply = json.loads(line)
            except json.JSONDecodeError:
                log.warning("zk helper wrote a non-JSON line: %.200s", line)
                continue
            if isinstance(reply, dict) and reply.get("id") == rid:
                return reply

    def ping(self) -> bool:
        return bool(self.request("ping").get("pong"))

    def poseidon(self, inputs: Sequence[int]) -> int:
        """circomlib's Poseidon of 1..16 field elements (poseidon-lite), as an int.

        Raises ValueError for an element outside [0, R) or a bad count."""
        if not 1 <= len(inputs) <= 16:
            raise ValueError(f"poseidon takes 1..16 inputs, got {len(inputs)}")
        for x in inputs:
            if not 0 <= x < R:
                raise ValueError("poseidon input outside the scalar field")
        return int(self.request("poseidon", inputs=[str(x) for x in inputs])["hash"])

    def close(self) -> None:
        """Stop the helper (idempotent); a later request starts a new one."""
        with self._lock:
            self._kill()

    def __enter__(self) -> ZkNode:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
