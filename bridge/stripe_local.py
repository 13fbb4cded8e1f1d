"""Run ``localstripe`` (a Stripe API emulator from PyPI) on 127.0.0.1, for tests and
``ccnet demo --fiat``: ``python -m ccnet.bridge.stripe_local --port N``.

localstripe's own entry point listens on every interface and keeps its state in
``/tmp/localstripe.pickle``, shared by every run on the machine; this launcher serves
the same application on 127.0.0.1 only, in memory. Webhooks are registered with
:func:`register_webhook` (localstripe's ``/_config/webhooks/<id>``): it then signs each
event with the secret exactly as Stripe does and posts it once, a second after the
event.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

__all__ = ["LocalStripe", "register_webhook"]


def register_webhook(api_base: str, url: str, secret: str, name: str = "ccnet-bridge") -> None:
    """Make localstripe at *api_base* deliver events to *url*, signed with *secret*."""
    response = httpx.post(
        f"{api_base}/_config/webhooks/{name}", data={"url": url, "secret": secret}, timeout=10
    )
    response.raise_for_status()


class LocalStripe:
    """A localstripe child process on ``127.0.0.1:port``; :meth:`stop` ends it."""

    def __init__(self, port: int, *, log: Path | None = None) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 20.0) -> LocalStripe:
        out = self.log.open("ab") if self.log else subprocess.DEVNULL
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "ccnet.bridge.stripe_local", "--port", str(self.port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"localstripe exited with {self.proc.returncode}")
            try:
                httpx.get(f"{self.url}/v1/balance", auth=("sk_test_local", ""), timeout=1)
                return self
            except httpx.HTTPError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"localstripe did not answer on {self.url}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, 15)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, 9)
                self.proc.wait(10)

    def __enter__(self) -> LocalStripe:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    from aiohttp import web
    from localstripe import resources

    resources.Store.dump_to_disk = lambda self: None
    from localstripe.server import app

    web.run_app(app, host="127.0.0.1", port=args.port, print=None, access_log=None)


if __name__ == "__main__":
    main()
