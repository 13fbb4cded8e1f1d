"""A requester in its own process that dies while paying a debt (not a test module): the
crash test of :mod:`ccnet.client.requester.debts`.

Usage::

    python requester_debt_proc.py CONFIG.json

CONFIG: ``url`` (the chain), ``secret`` (the requester's key: seed, mnemonic or dev
URI), ``state_dir``, ``bootstrap`` (``[host, port]`` of the worker's DHT node),
``worker`` (its SS58), ``deposit`` (planck per channel), ``fuel`` (the job's fuel
limit), ``debt`` (planck) and ``crash``, one of :data:`POINTS`.

It runs one ``prime_count`` job on the worker (which binds the channel), prints
``job {"cost": planck, "channel": hex}`` (flushed), records a debt of ``debt`` planck on
that channel and pays it: the process ends with ``os._exit(137)`` (no clean-up, as
``kill -9``) at the crash point.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

from ccnet.channels import ChannelParty
from ccnet.client import Chain, Keys
from ccnet.client.requester import Debt, DebtBook, Requester

POINTS = (
    "before-proposal",  # the debt is marked with its version; nothing proposed yet
    "after-proposal",  # the proposal is durable, not sent
    "after-cosign",  # the co-signed state is durable; the debts file still lists the debt
)
KILLED = 137


def _die(*_: Any, **__: Any) -> None:
    sys.stdout.flush()
    os._exit(KILLED)


async def _die_async(*_: Any, **__: Any) -> None:
    _die()


def _arm(point: str) -> None:
    """Make the process die at *point* (see :data:`POINTS`)."""
    if point == "before-proposal":
        mark = DebtBook.mark

        def mark_then_die(self: DebtBook, debt: Debt, version: int) -> Debt:
            mark(self, debt, version)
            _die()
            raise AssertionError("unreachable")

        DebtBook.mark = mark_then_die  # type: ignore[method-assign]
    elif point == "after-proposal":
        ChannelParty._send = _die_async  # type: ignore[method-assign]
    else:
        DebtBook.paid = _die  # type: ignore[method-assign]


async def main(config: dict[str, Any]) -> None:
    assert config["crash"] in POINTS, config["crash"]
    with Chain(config["url"]) as chain:
        async with Requester(
            chain,
            Keys.from_secret(config["secret"]),
            dht_bootstrap=[tuple(config["bootstrap"])],
            state_dir=Path(config["state_dir"]),
            deposit_per_channel=config["deposit"],
            job_timeout=90,
        ) as requester:
            offers = [o for o in await requester.find_workers() if o.address == config["worker"]]
            outcome = await requester.submit(
                "prime_count",
                args=["1000"],
                verify="none",
                fuel_limit=config["fuel"],
                workers=offers,
            )
            (channel,) = requester.party.channels
            assert outcome.cost_planck > 0, outcome.results
            line = {"cost": outcome.cost_planck, "channel": channel.channel_id.hex()}
            print("job", json.dumps(line), flush=True)
            requester.debts.add(
                Debt(config["worker"], channel.channel_id.hex(), config["debt"], "the debt")
            )
            _arm(config["crash"])
            await requester.pay_debts(config["worker"])
    raise SystemExit("the crash point was never reached")


if __name__ == "__main__":
    asyncio.run(main(json.loads(Path(sys.argv[1]).read_text())))
