"""The worker's side of payment channels: join the requester's channel, countersign.

Payment for each result is one channel update, on the same peer connection
(``docs/protocol.md``, section 14). A requester opens a channel to the worker on chain with
``counterparty_deposit = 0`` (funded at once), names it in its
:class:`~ccnet.client.jobs.messages.JobRequest` (``channel_id``), and pays each result with one
update on the session's ``"channels"`` data channel. The worker:

- joins the channel once (:meth:`ccnet.channels.ChannelParty.join`, reading it from
  chain, never depositing: a channel still waiting for the worker's deposit is refused),
  after checking that it is party B and the session's requester is party A;
- attaches the session's ``"channels"`` transport to it, once per session;
- countersigns with the party's default policy (``accept_not_worse``: states that do
  not lower the worker's balance), stores every state durably (SQLite,
  :class:`~ccnet.channels.SqliteChannelStore`) and answers cooperative closes.

:meth:`PaymentDesk.earned` is what the channel has paid the worker so far (planck).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from substrateinterface import Keypair
from substrateinterface.utils.ss58 import ss58_decode

from ccnet.channels import (
    ChannelParty,
    Party,
    Phase,
    SqliteChannelStore,
    Transport,
)
from ccnet.client.exceptions import CcnetError

from .exceptions import PaymentError

if TYPE_CHECKING:
    from ccnet.client import Chain

__all__ = ["PaymentDesk"]

log = logging.getLogger(__name__)


class PaymentDesk:
    """Payment channels of one worker (*keypair*), stored in the SQLite file *path*.

    *chain* reads channels on join; *genesis_hash* (32 bytes) is the chain's. Use from
    the event loop's thread only (SQLite).
    """

    def __init__(self, keypair: Keypair, path: Path, *, chain: Chain, genesis_hash: bytes) -> None:
        self.store = SqliteChannelStore(path)
        self.party = ChannelParty(keypair, self.store, chain=chain, genesis_hash=genesis_hash)
        self._attached: dict[bytes, Transport] = {}

    async def bind(self, channel_id: bytes, requester: str, transport: Transport) -> None:
        """Join *channel_id* (32 bytes) and serve it over *transport*. Raises
        :class:`PaymentError` when the channel is unknown, not funded, or not a channel
        from *requester* (SS58) to this worker."""
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

    def earned(self, channel_id: bytes) -> int:
        """Planck the channel has moved to the worker so far (latest co-signed state)."""
        channel = self.party.channel(channel_id)
        return channel.balance - channel.info.deposit_b

    async def close(self) -> None:
        """Detach every transport and close the store."""
        await self.party.aclose()
        self._attached.clear()
        self.store.close()
