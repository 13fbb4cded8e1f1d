"""The requester's payment channels: one per worker, reserved before a job, paid per result.

A channel is opened (as party A, ``counterparty_deposit`` 0: funded at once) the first
time a worker is asked, with ``deposit_per_channel`` planck (or a job's worst case if
larger), and served on the ``"channels"`` data channel of the session with that worker
(:mod:`ccnet.channels` protocol, ``docs/protocol.md``, "Payment channel"). It lives in
the channel store, so later runs reuse it.

**Reservations**: before a job is sent, its worst-case price (fuel limit x rate,
planck) is reserved on the worker's channel; the reservation is released when the job
is settled. A channel that cannot cover a job is rolled over when no other job holds a
reservation on it (closed cooperatively, a new one opened on a new session: two more
extrinsics); else :class:`~ccnet.client.requester.exceptions.ChannelFundsError` is
raised and no job is sent.

**Payment**: each accepted result is one co-signed update moving its price to the
worker (:meth:`ChannelBook.pay`); a failed update is reported and the amount stays
owed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ccnet.channels import ChannelParty, PersistError, Phase

from ..exceptions import CcnetError
from ..net.exceptions import NetError
from ..signing import address_of, public_key_of
from .exceptions import ChannelFundsError
from .sessions import SessionPool, WorkerSession

if TYPE_CHECKING:
    from ccnet.channels import Channel

    from .. import Receipt

__all__ = ["ChannelBook", "Payment"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Payment:
    """How one payment went."""

    error: str = ""
    """Why the update failed ("" when it went through; the amount then stays owed)."""
    in_doubt: bool = False
    """The update failed after it was proposed (no countersignature in time, the
    transport closed): it stays outstanding and is re-sent when the channel is attached
    again, so the amount is not owed anew (paying it again would pay twice)."""
    rtt_ms: float | None = None
    """The update's round trip, ms (a latency sample), when it went through."""

    @property
    def ok(self) -> bool:
        return not self.error


class ChannelBook:
    """The channels of *party* (the requester) to workers, over the sessions of *pool*.

    *deposit_per_channel*: planck locked per new channel. *rollover*: replace a spent
    channel instead of raising :class:`ChannelFundsError`.
    """

    def __init__(
        self,
        party: ChannelParty,
        pool: SessionPool,
        *,
        deposit_per_channel: int,
        rollover: bool = True,
    ) -> None:
        self.party = party
        self.pool = pool
        self.deposit_per_channel = deposit_per_channel
        self.rollover = rollover
        self.updates = 0
        """Co-signed updates made (one per payment)."""
        self.rollovers = 0
        """Spent channels closed and replaced."""
        self._locks: dict[str, asyncio.Lock] = {}
        self._attached: dict[bytes, WorkerSession] = {}
        self._reserved: dict[bytes, int] = {}

    def channel_for(self, worker: str) -> Channel | None:
        """Our live, usable channel to *worker* (we opened it), if any."""
        key = public_key_of(worker)
        for channel in self.party.channels:
            info = channel.info
            if (
                info.party_a == self.party.public_key
                and info.party_b == key
                and channel.phase is Phase.FUNDED
                and channel.closing is None
                and channel.failed is None
            ):
                return channel
        return None

    def is_attached(self, channel_id: bytes) -> bool:
        """Whether *channel_id* is served over an open session with its worker (which
        then bound it to that session with a job request)."""
        session = self._attached.get(channel_id)
        return session is not None and session.is_open

    def available(self, channel_id: bytes) -> int:
        """Planck of *channel_id* not reserved by a running job."""
        return self.party.channel(channel_id).balance - self._reserved.get(channel_id, 0)

    async def attach(self, session: WorkerSession) -> None:
        """A new session: serve our channel with that worker over its ``"channels"``."""
        channel = self.channel_for(session.worker)
        if channel is not None:
            await self.party.attach(channel.channel_id, session.channels_transport)
            self._attached[channel.channel_id] = session

    async def reserve(
        self, worker: str, endpoint: str, session: WorkerSession, worst: int
    ) -> tuple[bytes, WorkerSession]:
        """The channel paying *worker*'s jobs, with *worst* planck reserved on it, and the
        session it is attached to (*session*, or a new one after a roll-over).

        Opens a channel (one extrinsic) if there is none; rolls a spent one over (see the
        module docs). Raises :class:`ChannelFundsError` when the channel cannot cover
        *worst*, and the chain's errors of opening a channel."""
        lock = self._locks.setdefault(worker, asyncio.Lock())
        async with lock:
            if not session.is_open:
                session = await self.pool.get(worker, endpoint)
            channel = self.channel_for(worker)
            if channel is not None:
                reserved = self._reserved.get(channel.channel_id, 0)
                if channel.balance - reserved < worst and reserved == 0 and self.rollover:
                    session = await self._rollover(worker, endpoint, channel, session)
                    channel = None
            if channel is None:
                deposit = max(self.deposit_per_channel, worst)
                channel = await self.party.open(worker, deposit)
                logger.info("opened channel 0x%s to %s", channel.channel_id.hex(), worker)
            channel_id = channel.channel_id
            if self._attached.get(channel_id) is not session:
                await self.party.attach(channel_id, session.channels_transport)
                self._attached[channel_id] = session
            if channel.pending is not None:
                # Our proposal from before (a restart, a timeout), re-sent by attach: its
                # answer must be in before this job's payment can be proposed. If it
                # does not come, that payment fails as in doubt, as it would have.
                with contextlib.suppress(CcnetError):
                    await self.party.resolve(channel_id)
            available = channel.balance - self._reserved.get(channel_id, 0)
            if available < worst:
                raise ChannelFundsError(worker, worst, available)
            self._reserved[channel_id] = self._reserved.get(channel_id, 0) + worst
            return channel_id, session

    def try_reserve(self, channel_id: bytes, amount: int) -> bool:
        """Reserve *amount* planck on *channel_id* if it is free; whether it was."""
        if self.available(channel_id) < amount:
            return False
        self._reserved[channel_id] = self._reserved.get(channel_id, 0) + amount
        return True

    def release(self, channel_id: bytes, amount: int) -> None:
        """Give back a reservation of *amount* planck."""
        left = self._reserved.get(channel_id, 0) - amount
        self._reserved[channel_id] = max(0, left)

    async def _rollover(
        self, worker: str, endpoint: str, channel: Channel, session: WorkerSession
    ) -> WorkerSession:
        """Close *channel* cooperatively and return a new session without a channel."""
        channel_id = channel.channel_id
        if self._attached.get(channel_id) is not session:
            await self.party.attach(channel_id, session.channels_transport)
        logger.info("channel 0x%s to %s is spent: closing it", channel_id.hex(), worker)
        await self.party.close_cooperatively(channel_id)
        self._attached.pop(channel_id, None)
        self._reserved.pop(channel_id, None)
        self.rollovers += 1
        await self.pool.drop(worker)  # its "channels" transport closes with it
        return await self.pool.get(worker, endpoint)

    async def pay(
        self,
        worker: str,
        channel_id: bytes,
        amount: int,
        memo: str,
        *,
        before_proposal: Callable[[int], None] | None = None,
    ) -> Payment:
        """One co-signed update moving *amount* planck to *worker* (nothing for 0).
        *before_proposal*: see :meth:`ccnet.channels.ChannelParty.pay`."""
        if amount <= 0:
            return Payment()
        started = time.monotonic()
        before = self.party.channel(channel_id).pending
        try:
            await self.party.pay(channel_id, amount, memo, before_proposal=before_proposal)
        except CcnetError as err:
            after = self.party.channel(channel_id).pending
            # Ours, outstanding (a proposal the store refused was never sent: frozen).
            ours = after is not None and after is not before
            in_doubt = ours and not isinstance(err, PersistError)
            logger.warning(
                "paying %s %d planck failed%s: %s",
                worker,
                amount,
                " (in doubt: outstanding, re-sent on the next attach)" if in_doubt else "",
                err,
            )
            return Payment(error=f"{type(err).__name__}: {err}", in_doubt=in_doubt)
        self.updates += 1
        return Payment(rtt_ms=(time.monotonic() - started) * 1000)

    async def close_all(
        self,
        endpoints: Mapping[str, str],
        *,
        before_close: Callable[[str, bytes], Awaitable[bool]] | None = None,
    ) -> list[Receipt]:
        """Close every channel we opened, cooperatively (one round trip with the worker,
        then one ``cooperative_close`` extrinsic each); *endpoints* are the workers'
        signaling URLs, to reconnect. A channel whose worker cannot be reached stays open
        (logged; close it later or unilaterally with the ``ccnet channel`` commands), as
        does one for which *before_close* (worker SS58, channel id; awaited once the
        channel is attached, e.g. to pay what is owed on it) returns False."""
        receipts = []
        for channel in list(self.party.channels):
            if channel.info.party_a != self.party.public_key or channel.phase is not Phase.FUNDED:
                continue
            worker = address_of(channel.info.party_b)
            try:
                attached = self._attached.get(channel.channel_id)
                if attached is None or not attached.is_open:
                    endpoint = endpoints.get(worker)
                    if endpoint is None:
                        raise NetError(f"no known endpoint of {worker}")
                    await self.pool.get(worker, endpoint)
                if before_close is not None and not await before_close(worker, channel.channel_id):
                    logger.warning(
                        "channel 0x%s to %s is kept open", channel.channel_id.hex(), worker
                    )
                    continue
                receipts.append(await self.party.close_cooperatively(channel.channel_id))
            except CcnetError as err:
                logger.warning(
                    "channel 0x%s to %s not closed: %s", channel.channel_id.hex(), worker, err
                )
                continue
            self._attached.pop(channel.channel_id, None)
            self._reserved.pop(channel.channel_id, None)
            await self.pool.drop(worker)  # its "channels" transport is closed now
        return receipts
