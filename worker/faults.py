"""Fault injection for demos and tests: a worker that lies once, on purpose.

One of the demo's three workers is started with a documented fault-injection
option so that it returns a wrong result for one task, and the network must catch it
(redundant execution, then a dispute whose verifiers re-execute the job). The option is
off by default and named so that nobody enables it by accident.

- Mode ``wrong-result-once`` (:data:`WRONG_RESULT_ONCE`): the **first** job result the
  worker produces after it starts, whichever path it takes (an on-chain task it claimed,
  or a job a requester sent over a data channel), has its output corrupted: the last
  byte is XOR-ed with ``0x01`` (:func:`corrupt_output`; an empty output becomes
  ``b"\\x01"``). Everything downstream is consistent with the corrupted output: the
  output hash submitted on chain or signed in the :class:`~ccnet.client.jobs.results.SignedResult`
  is the hash of the corrupted bytes, as a cheating worker would make it. Every later
  result is honest.
- Mode ``wrong-onchain-result-once`` (:data:`WRONG_ONCHAIN_RESULT_ONCE`): the same, for
  the first result the worker **commits on chain** (``Tasks.submit_result``, then
  ``reveal_result``); its off-chain results stay honest (a demo can run off-chain jobs
  first and still get its on-chain dispute).
- In every mode, re-executions for disputes (the worker as a verifier) are never
  corrupted.
- Guard: the option is refused (:class:`~ccnet.worker.exceptions.ConfigError`) unless the
  environment also has ``CCNET_ALLOW_FAULT_INJECTION=1``
  (:data:`~ccnet.client.config.ALLOW_FAULT_INJECTION_ENV`), and the daemon logs a loud
  warning at start.

CLI: ``CCNET_ALLOW_FAULT_INJECTION=1 ccnet worker run --fault-injection MODE``.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING

from ccnet.client.config import (
    ALLOW_FAULT_INJECTION_ENV,
    FAULT_MODES,
    WRONG_ONCHAIN_RESULT_ONCE,
    WRONG_RESULT_ONCE,
)

from .exceptions import ConfigError

if TYPE_CHECKING:
    from .sandbox import RunOutcome

__all__ = ["FaultInjector", "corrupt_output"]

log = logging.getLogger(__name__)


def corrupt_output(output: bytes) -> bytes:
    """*output* with its last byte XOR ``0x01`` (``b"\\x01"`` when empty): a different
    output, hence a different output hash."""
    if not output:
        return b"\x01"
    return output[:-1] + bytes([output[-1] ^ 0x01])


class FaultInjector:
    """Decides whether a result is corrupted. ``FaultInjector()`` (no mode) never does.

    Thread-safe: results are made on several threads and tasks; exactly one result is
    corrupted in mode ``wrong-result-once``.
    """

    def __init__(self, mode: str | None = None) -> None:
        if mode is not None and mode not in FAULT_MODES:
            raise ConfigError(
                f"unknown fault-injection mode {mode!r} (known: {', '.join(FAULT_MODES)})"
            )
        self.mode = mode
        self._lock = threading.Lock()
        self._fired = 0

    @classmethod
    def from_option(
        cls, mode: str | None, environ: Mapping[str, str] | None = None
    ) -> FaultInjector:
        """The injector for a ``--fault-injection`` value (``None`` or ``""``: off).

        Raises :class:`ConfigError` for an unknown mode, or when a mode is given without
        ``CCNET_ALLOW_FAULT_INJECTION=1`` in *environ* (default ``os.environ``).
        """
        if not mode:
            return cls()
        env = os.environ if environ is None else environ
        if env.get(ALLOW_FAULT_INJECTION_ENV) != "1":
            raise ConfigError(
                f"fault injection {mode!r} refused: it makes this worker return a wrong "
                f"result (demos and tests only); set {ALLOW_FAULT_INJECTION_ENV}=1 to allow it"
            )
        return cls(mode)

    @property
    def enabled(self) -> bool:
        """Whether a fault mode is set (fired or not)."""
        return self.mode is not None

    @property
    def fired(self) -> int:
        """How many results were corrupted so far (0 or 1)."""
        return self._fired

    def apply(self, outcome: RunOutcome, *, what: str, onchain: bool = False) -> RunOutcome:
        """*outcome*, or a copy with a corrupted stdout when this is the one result to
        falsify. *onchain*: the result is to be submitted on chain. *what* names the job
        in the warning logged then."""
        if not (
            self.mode == WRONG_RESULT_ONCE or (self.mode == WRONG_ONCHAIN_RESULT_ONCE and onchain)
        ):
            return outcome
        with self._lock:
            if self._fired:
                return outcome
            self._fired += 1
        log.warning(
            "FAULT INJECTION (%s): returning a WRONG result for %s on purpose", self.mode, what
        )
        return dataclasses.replace(outcome, stdout=corrupt_output(outcome.stdout))
