"""Assemble and run the bridge service from a :class:`BridgeConfig`.

:func:`serve` migrates the ledger, records the treasury's opening balance the first
time, starts the HTTP service and its background tasks, prints one JSON line
``{"ready": true, "url": ..., "treasury": ...}`` on stdout (what tests and the demo wait
for) and runs until SIGINT or SIGTERM.
"""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import sys
from contextlib import suppress

from aiohttp import web

from ccnet.client import Chain, Keys

from .chain_side import TreasuryChain
from .config import BridgeConfig
from .db import Database
from .faults import CrashPoints
from .ledger import Ledger
from .outbox import Outbox
from .paypal_side import PayPalGateway
from .service import BridgeService
from .stripe_side import StripeGateway

__all__ = ["build_service", "serve"]

logger = logging.getLogger(__name__)


def build_service(config: BridgeConfig, chain: Chain, db: Database) -> BridgeService:
    """The service's parts from *config* on an open *chain* and a migrated *db*."""
    config.require("treasury_key", "stripe_api_key", "stripe_webhook_secret")
    treasury = TreasuryChain(chain, Keys.from_secret(config.treasury_key))
    ledger = Ledger(db, config.rates)
    ledger.open(treasury.address, treasury.free_balance(treasury.address))
    stripe = StripeGateway(
        config.stripe_api_key,
        config.stripe_webhook_secret,
        api_base=config.stripe_api_base,
        tolerance=config.stripe_tolerance,
    )
    paypal = None
    if config.paypal_client_id and config.paypal_client_secret:
        paypal = PayPalGateway(
            config.paypal_client_id,
            config.paypal_client_secret,
            environment=config.paypal_environment,
            base_url=config.paypal_base_url,
        )
    crash = CrashPoints()
    outbox = Outbox(ledger, treasury, paypal, crash=crash)
    return BridgeService(
        ledger=ledger,
        chain=treasury,
        stripe=stripe,
        paypal=paypal,
        outbox=outbox,
        bridge_id=config.bridge_id,
        poll_interval=config.poll_interval,
        sweep_interval=config.sweep_interval,
        crash=crash,
    )


async def _serve(config: BridgeConfig) -> None:
    db = Database(config.database_url)
    db.migrate()
    chain = await asyncio.to_thread(Chain, config.chain_url, timeout=config.chain_timeout)
    try:
        service = await asyncio.to_thread(build_service, config, chain, db)
        runner = web.AppRunner(service.app(), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, config.host, config.port)
        await site.start()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        url = f"http://{config.host}:{config.port}"
        ready = {"ready": True, "url": url, "treasury": service.chain.address}
        sys.stdout.write(json.dumps(ready) + "\n")
        sys.stdout.flush()
        logger.info("bridge serving on %s", url)
        await stop.wait()
        await runner.cleanup()
    finally:
        with suppress(Exception):
            chain.close()
        db.close()


def serve(config: BridgeConfig) -> None:
    """Run the service until SIGINT/SIGTERM (blocking)."""
    asyncio.run(_serve(config))
