"""A block clock for a Chopsticks dev chain, which builds blocks only on demand.

A real node authors a block every 6 s whether or not anyone submits; Chopsticks (in
``Instant`` mode) builds one per extrinsic and nothing otherwise. The court counts in
blocks (a task's deadline, ``RevealPeriod``, ``ChallengeWindow``; a dispute's
``DrawDelay``, commit and reveal phases), so on a dev chain those phases would never
pass while everyone waits. :class:`BlockTicker` stands in for block time: a thread that,
every *interval* seconds, builds one empty block (``dev_newBlock``) over its own
connection unless a block came meanwhile (extrinsics build their own), so it adds no
load to a busy chain. The worker daemons and the requester SDK only ever wait for blocks, as on a
real chain; the tests, ``ccnet demo`` and ``ccnet chain tick`` run a ticker, and
``ccnet chain start --block-time S`` runs one in a background process
(``python -m ccnet.client.blockticker URL S``, :func:`main`; Chopsticks 1.1 has no
timed block mode: its ``--build-block-mode`` is Batch, Instant or Manual).
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from types import TracebackType

from .exceptions import CcnetError

__all__ = ["DEFAULT_TICK", "BlockTicker", "main"]

logger = logging.getLogger(__name__)

DEFAULT_TICK = 0.5
"""Seconds between blocks built by default."""


class BlockTicker:
    """Makes at least one block every *interval* seconds on the dev chain at *url* (see
    the module docs). Start with :meth:`start` or ``with``; :meth:`stop` joins the thread.
    A failure (the chain went away, or it is not a dev chain) stops the ticker and is
    kept in :attr:`error`."""

    def __init__(self, url: str, interval: float = DEFAULT_TICK) -> None:
        if interval <= 0:
            raise ValueError(f"interval must be positive, got {interval}")
        self.url = url
        self.interval = interval
        self.blocks = 0
        """Blocks built so far."""
        self.error: CcnetError | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> BlockTicker:
        """Start the thread (idempotent)."""
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="block-ticker", daemon=True)
            self._thread.start()
        return self

    def _run(self) -> None:
        from .chain import Chain

        try:
            with Chain(self.url) as chain:
                last = chain.block_number()
                while not self._stop.wait(self.interval):
                    head = chain.block_number()
                    if head == last:
                        chain.new_blocks(1)
                        self.blocks += 1
                        head += 1
                    last = head
        except CcnetError as err:
            if not self._stop.is_set():
                self.error = err
                logger.warning("block ticker stopped: %s", err)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop building blocks and join the thread."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def __enter__(self) -> BlockTicker:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    """Run a :class:`BlockTicker` until SIGTERM or SIGINT (exit 0), or until it fails
    (exit 1, the error on stderr): the background ticker of ``ccnet chain start
    --block-time``."""
    parser = argparse.ArgumentParser(prog="python -m ccnet.client.blockticker")
    parser.add_argument("url", help="ws:// URL of the Chopsticks dev chain")
    parser.add_argument("interval", type=float, help="seconds between blocks")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    done = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: done.set())
    ticker = BlockTicker(args.url, args.interval).start()
    logger.info("building a block every %g s at %s", args.interval, args.url)
    while ticker.running and not done.wait(0.5):
        pass
    ticker.stop()
    if ticker.error is not None:
        print(f"block ticker failed: {ticker.error}", file=sys.stderr, flush=True)
        return 1
    logger.info("stopped after %d blocks", ticker.blocks)
    return 0


if __name__ == "__main__":
    sys.exit(main())
