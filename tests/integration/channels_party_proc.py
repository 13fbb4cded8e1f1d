"""A channel party in its own process, for the kill -9 tests (not a test module).

Usage::

    python channels_party_proc.py CONFIG.json

CONFIG: ``secret`` (a seed, mnemonic or dev URI), ``store`` (SQLite path), ``params``
(ChannelParams JSON), ``port`` (the peer listens on 127.0.0.1:port), ``role``
(``payer``: pay until version ``target``; ``payee``: countersign until version
``target``), optional ``batch`` (the payer, party A, pays up to that many versions per
``pay_many`` batch; default 1: one ``pay`` each), optional ``close``
(``"request"``: agree a cooperative close at the end;
``"answer"``: wait until the peer's close request is agreed and the peer hangs up),
optional ``chain_url``
(with ``close: "request"`` or none: close cooperatively on chain at the end, as a
``closed`` line) and ``crash`` (kill itself with SIGKILL at a protocol point:
``{"point": ..., "at": version}``; the close points ignore ``at``).

The payer pays ``amount_for(version)`` planck for each version, so the final balances
do not depend on where it was killed. Output lines (flushed): ``ready V`` after
attaching (and resolving an outstanding proposal), ``cosigned V`` after each co-signed
state is stored (of a batch: its last state), ``done V``, ``stored-agreement V`` (a
complete close agreement was in the store at start), ``agreed {json}`` (the close
agreement) and ``closed {json}``.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

from ccnet.channels import (
    ChannelParams,
    ChannelParty,
    ChannelUpdate,
    CloseRequest,
    PersistStatus,
    Propose,
    ProposeBatch,
    SignedState,
    SqliteChannelStore,
    TransportClosedError,
    UpdateKind,
    connect,
    decode,
)
from ccnet.channels.testing import amount_for
from ccnet.channels.transport import StreamTransport
from ccnet.client import Chain, Keys

POINTS = (
    "before-commit-signed",  # payer: signed a proposal, not yet stored
    "after-commit-signed",  # payer: stored, not yet sent
    "after-send-propose",  # payer: sent, countersign not back
    "before-commit-cosigned",  # either: about to store the co-signed state
    "after-commit-cosigned",  # payee: stored, countersign not yet sent
    "before-commit-close",  # either: about to store our close signature (the freeze)
    "after-commit-close",  # stored the freeze; close_request / close_accept not yet sent
    "after-send-close-request",  # requester: sent, close_accept not back
    "after-commit-agreed",  # stored both close signatures, cooperative_close not submitted
)


def die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


class CrashingStore(SqliteChannelStore):
    """Kills the process at a store point of the update of version ``at``."""

    def __init__(self, path: Path, crash: dict[str, Any] | None) -> None:
        super().__init__(path)
        self.crash = crash or {}

    def _hit(self, point: str, update: ChannelUpdate) -> None:
        if update.signed is None or self.crash.get("point") != point:
            return
        if update.signed.version == self.crash["at"]:
            die()

    def _hit_close(self, point: str, update: ChannelUpdate, first: bool) -> None:
        """Close points: our first CLOSING update (the freeze), or the one that
        completes the agreement (``after-commit-agreed``)."""
        if update.kind is not UpdateKind.CLOSING or self.crash.get("point") != point:
            return
        assert update.closing is not None
        if update.closing.complete if point == "after-commit-agreed" else first:
            die()

    def update_persisted_channel(self, update: ChannelUpdate) -> PersistStatus:
        kind = "signed" if update.kind is UpdateKind.SIGNED else "cosigned"
        first_close = (
            update.kind is UpdateKind.CLOSING and self.load(update.channel_id).closing is None
        )
        if update.kind in (UpdateKind.SIGNED, UpdateKind.COSIGNED):
            self._hit(f"before-commit-{kind}", update)
        self._hit_close("before-commit-close", update, first_close)
        status = super().update_persisted_channel(update)
        if update.kind in (UpdateKind.SIGNED, UpdateKind.COSIGNED):
            self._hit(f"after-commit-{kind}", update)
        self._hit_close("after-commit-close", update, first_close)
        self._hit_close("after-commit-agreed", update, first_close)
        return status


class CrashingTransport:
    """Kills the process right after sending the proposal of version ``at``."""

    def __init__(self, inner: StreamTransport, crash: dict[str, Any] | None) -> None:
        self.inner = inner
        self.crash = crash or {}
        self.hung_up = asyncio.Event()
        """Set when the peer closed the connection."""

    async def send(self, frame: bytes) -> None:
        await self.inner.send(frame)
        if not self.crash:
            return
        message = decode(frame)
        if self.crash.get("point") == "after-send-propose" and isinstance(
            message, Propose | ProposeBatch
        ):
            if message.version == self.crash["at"]:
                die()  # the frame is in the kernel's socket buffer: it still leaves
        if self.crash.get("point") == "after-send-close-request":
            if isinstance(message, CloseRequest):
                die()

    async def recv(self) -> bytes:
        try:
            return await self.inner.recv()
        except TransportClosedError:
            self.hung_up.set()
            raise

    async def close(self) -> None:
        await self.inner.close()


def say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


async def main(config: dict[str, Any]) -> None:
    params = ChannelParams.from_json(config["params"])
    cid = params.channel_id
    store = CrashingStore(Path(config["store"]), config.get("crash"))
    target = int(config["target"])
    finished = asyncio.Event()

    def report(_: ChannelParams, signed: SignedState) -> None:
        say(f"cosigned {signed.version}")
        if signed.version >= target:
            finished.set()

    chain = Chain(config["chain_url"]) if config.get("chain_url") else None
    party = ChannelParty(
        Keys.from_secret(config["secret"]),
        store,
        chain=chain,
        genesis_hash=params.genesis_hash,
        guardian=report,
        timeout=20.0,
    )
    party.add_channel(params)
    stored = party.channel(cid).closing
    if stored is not None and stored.complete:
        say(f"stored-agreement {stored.version}")
    transport = CrashingTransport(
        await connect("127.0.0.1", int(config["port"])), config.get("crash")
    )
    await party.attach(cid, transport)
    latest = await party.resolve(cid)
    say(f"ready {latest.version}")
    if config["role"] == "payer":
        batch = int(config.get("batch", 1))
        while party.channel(cid).latest.version < target:
            first = party.channel(cid).next_version
            count = min(batch, target - first + 1)
            if count > 1:
                await party.pay_many(cid, [amount_for(v) for v in range(first, first + count)])
            else:
                await party.pay(cid, amount_for(first))
    elif party.channel(cid).latest.version < target:
        await finished.wait()
    latest = party.channel(cid).latest
    say(f"done {latest.version}")
    close = config.get("close", "request" if chain is not None else None)
    if close == "request" and chain is None:
        agreement = await party.agree_close(cid)
        say("agreed " + json.dumps({"version": agreement.version}))
    elif close == "answer":
        while not ((closing := party.channel(cid).closing) and closing.complete):
            await asyncio.sleep(0.05)
        say("agreed " + json.dumps({"version": closing.version}))
        await transport.hung_up.wait()  # the peer may still ask again
    if close == "request" and chain is not None:
        receipt = await party.close_cooperatively(cid)
        closed = receipt.expect("Channels", "ChannelClosed").attributes
        say("closed " + json.dumps({"fee": receipt.fee, **closed}))
        chain.close()
    await party.aclose()
    store.close()


if __name__ == "__main__":
    asyncio.run(main(json.loads(Path(sys.argv[1]).read_text())))
