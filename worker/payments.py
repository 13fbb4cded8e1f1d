"""The worker's side of payment channels: join the requester's channel, countersign.

Payment for each result is one channel update, on the same peer connection
(``docs/protocol.md``, section 14). A requester opens a channel to the worker on chain with
``counterparty_deposit = 0`` (funded at once), names it in its
:class:`~ccnet.client.jobs.messages.JobRequest` (``channel_id``), and pays each result with one
update on the session's ``"channels"`` data channel. The worker:

- reads the channel on chain at every bind: a channel that is not funded (still waiting
  for the worker's deposit, or closing) or gone is refused, and so is one whose challenge
  period is shorter than the worker can watch (*min_challenge_blocks*, see
  :meth:`~ccnet.worker.config.WorkerConfig.min_challenge_blocks`);
- joins the channel once (:meth:`ccnet.channels.ChannelParty.join`, never depositing),
  after checking that it is party B and the session's requester is party A;
- attaches the session's ``"channels"`` transport to it, once per session;
- countersigns with the party's default policy (``accept_not_worse``: states that do
  not lower the worker's balance), stores every state durably (SQLite,
  :class:`~ccnet.channels.SqliteChannelStore`) and answers cooperative closes.

:meth:`PaymentDesk.earned` is what the channel has paid the worker so far (planck). Each
co-signed state that raises the worker's balance counts as a payment received in the
daemon's metrics (:class:`~ccnet.worker.metrics.WorkerMetrics`), which also read the live
channels and the worker's balance in them.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from substrateinterface import Keypair
from substrateinterface.utils.ss58 import ss58_decode

from ccnet.channels import (
    Channel,
    ChannelParams,
    ChannelParty,
    Guardian,
    Party,
    Phase,
    SignedState,
    SqliteChannelStore,
    Transport,
)
from ccnet.channels.exceptions import UnknownChannelError
from ccnet.client.exceptions import CcnetError

from .exceptions import ChallengePeriodError, PaymentError
from .metrics import WorkerMetrics

if TYPE_CHECKING:
    from ccnet.client import Chain

__all__ = ["PaymentDesk"]

log = logging.getLogger(__name__)


class PaymentDesk:
    """Payment channels of one worker (*keypair*), stored in the SQLite file *path*.

    *chain* reads channels on bind; *genesis_hash* (32 bytes) is the chain's;
    *min_challenge_blocks*: the shortest challenge period accepted, blocks; *guardian*
    receives every co-signed state (an external watchtower's
    :class:`~ccnet.channels.TowerClient`); *metrics* counts the payments and reads the
    channels. Use from the event loop's thread only (SQLite).
    """

    def __init__(
        self,
        keypair: Keypair,
        path: Path,
        *,
        chain: Chain,
        genesis_hash: bytes,
        min_challenge_blocks: int = 1,
        guardian: Guardian | None = None,
        metrics: WorkerMetrics | None = None,
    ) -> None:
        self.store = SqliteChannelStore(path)
        self.party = ChannelParty(
            keypair, self.store, chain=chain, genesis_hash=genesis_hash, guardian=self._cosigned
        )
        self.chain = chain
        self.min_challenge_blocks = min_challenge_blocks
        self.guardian = guardian
        self.metrics = metrics if metrics is not None else WorkerMetrics()
        self.metrics.track_channels(
            lambda: len(self.party.channels),
            lambda: sum(channel.balance for channel in self.party.channels),
        )
        self._attached: dict[bytes, Transport] = {}
        self._paid = {c.channel_id: self.earned(c.channel_id) for c in self.party.channels}
        """Channel id -> what it had paid the worker at the last co-signed state seen,
        planck (a channel not in it is new: it has paid nothing yet)."""

    def _cosigned(self, info: ChannelParams, signed: SignedState) -> None:
        """Every new co-signed state: hand it to the guardian, and count what it pays
        the worker on top of the last one (even if the guardian fails: the party logs
        that)."""
        try:
            if self.guardian is not None:
                self.guardian(info, signed)
        finally:
            me = Party.B if info.party_b == self.party.public_key else Party.A
            earned = signed.state.balance_of(me) - info.opening_state().balance_of(me)
            before = self._paid.get(info.channel_id, 0)
            self._paid[info.channel_id] = max(before, earned)
            if earned > before:
                self.metrics.payment_received(earned - before)

    async def bind(self, channel_id: bytes, requester: str, transport: Transport) -> None:
        """Join *channel_id* (32 bytes) and serve it over *transport*. Raises
        :class:`PaymentError` when the channel is unknown, not funded (or closing), or
        not a channel from *requester* (SS58) to this worker, and
        :class:`ChallengePeriodError` when its challenge period is too short."""
        try:
            info = await asyncio.to_thread(self.chain.channels.channel, channel_id)
        except CcnetError as err:  # chain unreachable
            raise PaymentError(f"channel 0x{channel_id.hex()}: {err}") from None
        if info is None:
            raise PaymentError(f"channel 0x{channel_id.hex()} is not open on chain")
        if info.challenge_period < self.min_challenge_blocks:
            raise ChallengePeriodError(channel_id, info.challenge_period, self.min_challenge_blocks)
        if info.phase != "Funded":
            raise PaymentError(
                f"channel 0x{channel_id.hex()} is {info.phase.lower()}, not funded "
                "(open it with counterparty_deposit 0)"
            )
        try:
            channel = await self.party.join(channel_id, fund=False)
        except CcnetError as err:  # unknown channel, not a party, chain unreachable
            raise PaymentError(f"channel 0x{channel_id.hex()}: {err}") from None
        if channel.me is not Party.B:
            raise PaymentError(f"channel 0x{channel_id.hex()}: the worker must be party B")
        if channel.info.party_a != bytes.fromhex(ss58_decode(requester)):
            raise PaymentError(f"channel 0x{channel_id.hex()} is not {requester}'s")
        if channel.phase is not Phase.FUNDED:
            raise PaymentError(
                f"channel 0x{channel_id.hex()} is {channel.phase.value}, not funded "
                "(open it with counterparty_deposit 0)"
            )
        await self.party.attach(channel_id, transport)  # replaces an earlier session's
        self._attached[channel_id] = transport
        log.info("serving payment channel 0x%s of %s", channel_id.hex(), requester)

    async def unbind(self, channel_id: bytes, transport: Transport | None = None) -> None:
        """Stop serving *channel_id* (closes its transport); with *transport*, only if
        the channel is still served over that one (a newer session may have taken it
        over)."""
        if transport is not None and self._attached.get(channel_id) is not transport:
            return
        self._attached.pop(channel_id, None)
        await self.party.detach(channel_id)

    def usable(self, channel_id: bytes) -> Channel:
        """The channel, if it can pay for a new job: funded as far as the worker knows
        (its watcher marks closes), not frozen for a cooperative close, not failed.
        Raises :class:`PaymentError`."""
        try:
            channel = self.party.channel(channel_id)
        except UnknownChannelError:
            raise PaymentError(f"channel 0x{channel_id.hex()} is closed") from None
        if channel.phase is not Phase.FUNDED or channel.frozen or channel.failed is not None:
            raise PaymentError(
                f"channel 0x{channel_id.hex()} takes no more payments "
                f"({channel.failed or channel.phase.value}): open a new one"
            )
        return channel

    def earned(self, channel_id: bytes) -> int:
        """Planck the channel has moved to the worker so far (latest co-signed state;
        also for a channel that is closed by now)."""
        try:
            channel = self.party.channel(channel_id)
        except UnknownChannelError:
            record = self.store.load(channel_id)
            return record.latest.state.balance_of(record.me) - record.info.deposit_b
        return channel.balance - channel.info.deposit_b

    async def close(self) -> None:
        """Detach every transport and close the store."""
        await self.party.aclose()
        self._attached.clear()
        self.store.close()
