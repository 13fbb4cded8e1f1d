"""A channel party: the state machines, the store, the peer transports and the chain.

:class:`ChannelParty` is the asyncio glue around the pure :class:`~.channel.Channel`:
it persists every update through the :class:`~.store.ChannelStore` before sending the
message that depends on it, reads the peer's frames from a :class:`~.transport.Transport`
per channel, and drives the chain through :class:`ccnet.client.Chain` (run in a thread,
as the SDK is synchronous).

Typical use (A pays B per task)::

    store = SqliteChannelStore("alice.db")
    async with ChannelParty(alice, store, chain=chain) as party:
        channel = await party.open(bob.ss58_address, deposit=10 * CC)
        await party.attach(channel.channel_id, await connect("127.0.0.1", port))
        await party.pay(channel.channel_id, 10**9, memo="task 1")
        await party.close_cooperatively(channel.channel_id)

Many payments at once: ``await party.pay_many(channel_id, [10**9] * 32)`` co-signs one
state per payment in one round trip and one durable commit per side (party A only;
see :mod:`.channel`).

The receiving side calls :meth:`ChannelParty.join` (and ``fund`` when a deposit is
asked) and :meth:`ChannelParty.attach` on its end of the transport; its policy decides
what it countersigns, and its read loop answers close requests.

A cooperative close (:meth:`ChannelParty.close_cooperatively`) is a round trip before
the extrinsic: both sides sign a *close* of the latest co-signed balances and freeze the
channel durably before their signature leaves (see :mod:`.channel`); the requester then
submits ``cooperative_close``. Both stores keep both close signatures, so either side can
submit it, also after a restart (:meth:`ChannelParty.agree_close` returns the stored
agreement without asking again).

Without the peer, :meth:`ChannelParty.close_unilaterally` registers our latest co-signed
state; until the challenge period ends the peer (or a watchtower) may replace it with a
newer co-signed state, then anyone settles. :meth:`ChannelParty.answer_stale_close`
registers our newer state against a peer's stale close (call
:meth:`ChannelParty.answer_stale_closes` after a restart, or run a
:class:`~.watchtower.Watchtower`).

Store commits (fsync'd) run on one store thread, off the event loop, so that payments
do not stall other tasks on the loop (heartbeats, other channels, job round trips); a
message that depends on an update still leaves only once the update is durable.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

from substrateinterface import Keypair
from substrateinterface.utils.ss58 import ss58_decode, ss58_encode

from ccnet.client.exceptions import ChannelsError
from ccnet.client.signing import SS58_FORMAT

from .channel import Channel, Policy, accept_not_worse
from .exceptions import (
    ChannelStateError,
    CloseRefusedError,
    MalformedMessageError,
    PeerTimeoutError,
    PendingError,
    PersistError,
    ProtocolError,
    TransportClosedError,
    UnknownChannelError,
)
from .messages import (
    CloseAccept,
    CloseRequest,
    Countersign,
    CountersignBatch,
    Message,
    Propose,
    ProposeBatch,
    Reject,
    decode,
    encode,
)
from .state import ChannelParams, ClosingAgreement, Party, SignedState
from .store import ChannelStore, PersistStatus
from .transport import Transport
from .updates import ChannelRecord, ChannelUpdate, Phase

if TYPE_CHECKING:
    from ccnet.client import Chain, ChannelInfo, Receipt

__all__ = ["ChannelParty", "Guardian", "ProtocolIncident"]

log = logging.getLogger(__name__)

T = TypeVar("T")

Guardian = Callable[[ChannelParams, SignedState], None]
"""Called with each new co-signed state after it is stored, e.g.
:meth:`ccnet.channels.watchtower.Watchtower.guard` or a :class:`~.watchtower.TowerClient`."""

SS58 = SS58_FORMAT
CLOSE_ATTEMPTS = 3
"""Close requests sent per :meth:`ChannelParty.agree_close` while the peer answers
``pending`` (its proposal crossed our request; it re-sends it, and we answer that
first)."""


@dataclass(frozen=True)
class ProtocolIncident:
    """A peer message we refused (kept in :attr:`ChannelParty.incidents`)."""

    channel_id: bytes
    error: ProtocolError
    message: Message | None = None
    """The decoded message, when it decoded."""


@dataclass
class _Link:
    transport: Transport
    reader: asyncio.Task[None] | None = None
    waiter: asyncio.Future[SignedState] | None = None
    waiting_version: int | None = None
    just_resent: bool = False
    """attach() re-sent the outstanding proposal and nobody waited for it yet."""
    close_waiter: asyncio.Future[ClosingAgreement] | None = None
    close_version: int | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def fail_waiters(self, error: Exception) -> None:
        """Fail whoever waits for an answer on this link."""
        for waiter in (self.waiter, self.close_waiter):
            if waiter is not None and not waiter.done():
                waiter.set_exception(error)


def _key(address: str) -> bytes:
    return bytes.fromhex(ss58_decode(address))


def _address(public_key: bytes) -> str:
    return str(ss58_encode(public_key, ss58_format=SS58))


class ChannelParty:
    """One party's channels (the holder of *keypair*, an sr25519 account key).

    *store* keeps them durable; *chain* (a :class:`ccnet.client.Chain`) is needed for
    opening, joining and closing, not for updates; *genesis_hash* defaults to the
    chain's. *policy* decides which valid proposals we countersign (default: those
    that do not lower our balance). *timeout* bounds waiting for the peer's answer,
    seconds. *guardian* receives every new co-signed state (a watchtower).
    *store_thread* runs the store's commits on a thread of their own (default), so that
    an fsync never blocks the event loop; False commits on the loop (the store is then
    used from the loop's thread only).
    """

    def __init__(
        self,
        keypair: Keypair,
        store: ChannelStore,
        *,
        chain: Chain | None = None,
        genesis_hash: bytes | None = None,
        policy: Policy = accept_not_worse,
        timeout: float = 30.0,
        guardian: Guardian | None = None,
        store_thread: bool = True,
    ) -> None:
        if genesis_hash is None:
            if chain is None:
                raise ValueError("give a chain or a genesis_hash")
            genesis_hash = chain.genesis_hash
        self._keypair = keypair
        self._store = store
        self._chain = chain
        self._genesis = genesis_hash
        self._policy = policy
        self._timeout = timeout
        self._guardian = guardian
        self._store_thread = store_thread
        self._io: ThreadPoolExecutor | None = None
        self._channels: dict[bytes, Channel] = {}
        self._links: dict[bytes, _Link] = {}
        self._durable: dict[tuple[bytes, int], asyncio.Future[None]] = {}
        self._durable_ids: dict[bytes, int] = {}
        """Per channel: the highest update id an ``IN_PROGRESS`` store reported durable."""
        self._inflight: dict[bytes, set[asyncio.Future[bool]]] = {}
        """Per channel: commits not finished yet (each resolves to whether it is durable)."""
        self.incidents: deque[ProtocolIncident] = deque(maxlen=100)
        """The latest refused peer messages, oldest first."""
        self.receipts: list[Receipt] = []
        """Every extrinsic this party submitted, in order."""
        for record in store.channels():
            if record.info.genesis_hash == genesis_hash and not record.phase.final:
                self._channels[record.info.channel_id] = self._machine(record)

    def _machine(self, record: ChannelRecord) -> Channel:
        return Channel(record, self._keypair, policy=self._policy)

    # -- properties -------------------------------------------------------------------

    @property
    def public_key(self) -> bytes:
        """Our 32-byte public key (= AccountId32)."""
        return bytes(self._keypair.public_key)

    @property
    def address(self) -> str:
        """Our SS58 address."""
        return _address(self.public_key)

    @property
    def genesis_hash(self) -> bytes:
        """The chain our states commit to (32 bytes)."""
        return self._genesis

    def channel(self, channel_id: bytes) -> Channel:
        """The state machine of a live channel; :class:`UnknownChannelError` if none."""
        try:
            return self._channels[channel_id]
        except KeyError:
            raise UnknownChannelError(f"no live channel 0x{channel_id.hex()}") from None

    @property
    def channels(self) -> list[Channel]:
        """Every live (not closed) channel."""
        return list(self._channels.values())

    # -- persistence ------------------------------------------------------------------

    async def _commit(self, update: ChannelUpdate) -> PersistStatus:
        """Hand *update* to the store: on the store thread (one thread, so updates
        apply in the order they were made), or on the loop."""
        if not self._store_thread:
            return self._store.update_persisted_channel(update)
        if self._io is None:
            self._io = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ccnet-channel-store")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._io, self._store.update_persisted_channel, update)

    async def _persist(self, channel: Channel, update: ChannelUpdate | None) -> None:
        """Make *update* durable before anything that depends on it goes out.

        Called right after the machine made *update*, with no ``await`` in between, so
        the commits of one channel reach the store thread in ``update_id`` order."""
        if update is None:
            return
        cid = update.channel_id
        durable: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        inflight = self._inflight.setdefault(cid, set())
        inflight.add(durable)
        try:
            status = await self._commit(update)
            if status is PersistStatus.IN_PROGRESS:
                if self._durable_ids.get(cid, 0) < update.update_id:
                    future = asyncio.get_running_loop().create_future()
                    self._durable[(cid, update.update_id)] = future
                    await future
            elif status is not PersistStatus.COMPLETED:
                channel.fail(f"the store could not persist update {update.update_id}")
                raise PersistError(f"channel 0x{cid.hex()}: update not persisted")
            durable.set_result(True)
        finally:
            if not durable.done():
                durable.set_result(False)
            inflight.discard(durable)
        if update.signed is not None and update.signed.co_signed and self._guardian is not None:
            try:
                self._guardian(channel.info, update.signed)
            except Exception:
                log.exception("guardian failed on version %d", update.signed.version)

    async def _flush(self, channel: Channel) -> None:
        """Wait until every update made so far on *channel* is durable (before a
        message that depends on one leaves, e.g. a re-sent proposal); raises
        :class:`PersistError` if one could not be persisted."""
        waiting = list(self._inflight.get(channel.channel_id, ()))
        if waiting and not all(await asyncio.gather(*(asyncio.shield(f) for f in waiting))):
            raise PersistError(f"channel 0x{channel.channel_id.hex()}: update not persisted")

    def persisted(self, channel_id: bytes, update_id: int) -> None:
        """Tell the party that an ``IN_PROGRESS`` update (and those before it) is now
        durable; what waited for it goes out."""
        self._durable_ids[channel_id] = max(self._durable_ids.get(channel_id, 0), update_id)
        for key, future in list(self._durable.items()):
            if key[0] == channel_id and key[1] <= update_id and not future.done():
                future.set_result(None)
                del self._durable[key]

    def _add(self, record: ChannelRecord) -> Channel:
        status = self._store.persist_new_channel(record)
        if status is PersistStatus.UNRECOVERABLE_ERROR:
            raise PersistError(f"cannot store channel 0x{record.info.channel_id.hex()}")
        stored = self._store.load(record.info.channel_id)
        channel = self._machine(stored)
        self._channels[record.info.channel_id] = channel
        return channel

    def add_channel(self, params: ChannelParams, *, phase: Phase = Phase.FUNDED) -> Channel:
        """Track a channel whose parameters are known without asking the chain (tests,
        benchmarks, or a party that read them elsewhere). A stored channel is loaded
        as stored."""
        if params.genesis_hash != self._genesis:
            raise ValueError("the channel is on another chain")
        me = params.party_of(self.public_key)
        record = ChannelRecord(params, me, phase, SignedState(params.opening_state()))
        return self._add(record)

    # -- transport --------------------------------------------------------------------

    async def attach(self, channel_id: bytes, transport: Transport) -> None:
        """Serve *channel_id* over *transport* (replacing an earlier one) and re-send
        our outstanding proposal, if any (its answer arrives in the background;
        :meth:`resolve` waits for it)."""
        channel = self.channel(channel_id)
        await self.detach(channel_id)
        link = _Link(transport)
        self._links[channel_id] = link
        link.reader = asyncio.create_task(
            self._read(channel, link), name=f"ccnet-channel-{channel_id.hex()[:8]}"
        )
        link.reader.add_done_callback(_log_task_error)
        await self._flush(channel)
        retransmission = channel.retransmission()
        if retransmission is not None:
            log.info(
                "channel 0x%s: re-sending version %d", channel_id.hex(), retransmission.version
            )
            self._expect(link, retransmission.version)
            link.just_resent = True
            await self._send(link, retransmission)

    async def detach(self, channel_id: bytes) -> None:
        """Stop serving *channel_id* and close its transport."""
        link = self._links.pop(channel_id, None)
        if link is None:
            return
        if link.reader is not None:
            link.reader.cancel()
        await link.transport.close()
        if link.reader is not None:
            await asyncio.gather(link.reader, return_exceptions=True)
        link.fail_waiters(TransportClosedError("detached"))

    def _link(self, channel_id: bytes) -> _Link:
        try:
            return self._links[channel_id]
        except KeyError:
            raise TransportClosedError(f"channel 0x{channel_id.hex()} has no transport") from None

    async def _send(self, link: _Link, message: Message) -> None:
        await link.transport.send(encode(message))

    def _expect(self, link: _Link, version: int) -> asyncio.Future[SignedState]:
        if link.waiter is not None and not link.waiter.done():
            link.waiter.cancel()
        waiter: asyncio.Future[SignedState] = asyncio.get_running_loop().create_future()
        # Nobody may be waiting when the answer or an error arrives (after a timeout).
        waiter.add_done_callback(lambda f: f.cancelled() or f.exception())
        link.waiter = waiter
        link.waiting_version = version
        return waiter

    def _expect_close(self, link: _Link, version: int) -> asyncio.Future[ClosingAgreement]:
        if link.close_waiter is not None and not link.close_waiter.done():
            link.close_waiter.cancel()
        waiter: asyncio.Future[ClosingAgreement] = asyncio.get_running_loop().create_future()
        waiter.add_done_callback(lambda f: f.cancelled() or f.exception())
        link.close_waiter = waiter
        link.close_version = version
        return waiter

    def _settle_close(self, link: _Link, result: ClosingAgreement | CloseRefusedError) -> None:
        """Answer whoever waits for a close agreement: any complete agreement will do
        (its version may have moved up, see :mod:`.channel`); a refusal only that of the
        request it waits for."""
        waiter = link.close_waiter
        if waiter is None or waiter.done():
            return
        if isinstance(result, ClosingAgreement):
            waiter.set_result(result)
        elif link.close_version == result.version:
            waiter.set_exception(result)

    def _settle_waiter(self, link: _Link, version: int, result: SignedState | Exception) -> None:
        waiter = link.waiter
        if waiter is None or waiter.done() or link.waiting_version != version:
            return
        if isinstance(result, Exception):
            waiter.set_exception(result)
        else:
            waiter.set_result(result)

    async def _read(self, channel: Channel, link: _Link) -> None:
        try:
            while True:
                try:
                    frame = await link.transport.recv()
                except TransportClosedError:
                    break
                except ProtocolError as err:  # an oversize frame, skipped by the transport
                    await self._refuse(channel, link, err, None, version=0)
                    continue
                try:
                    message = decode(frame)
                except MalformedMessageError as err:
                    await self._refuse(channel, link, err, None, version=0)
                    continue
                try:
                    await self._dispatch(channel, link, message)
                except TransportClosedError:
                    break
                except PersistError as err:
                    log.error("%s", err)
                    link.fail_waiters(err)
                    break
        finally:
            link.fail_waiters(TransportClosedError("the peer transport closed"))

    async def _refuse(
        self,
        channel: Channel,
        link: _Link,
        error: ProtocolError,
        message: Message | None,
        *,
        version: int,
    ) -> None:
        log.warning("channel 0x%s: refused %s: %s", channel.channel_id.hex(), error.code, error)
        self.incidents.append(ProtocolIncident(channel.channel_id, error, message))
        if message is None or isinstance(message, Propose | ProposeBatch | CloseRequest):
            try:
                await self._send(link, channel.reject_for(error, version))
            except TransportClosedError:
                pass

    async def _dispatch(self, channel: Channel, link: _Link, message: Message) -> None:
        if isinstance(message, Propose | ProposeBatch):
            reply: Countersign | CountersignBatch | Reject
            try:
                if isinstance(message, Propose):
                    reply, update = channel.on_propose(message)
                else:
                    reply, update = channel.on_propose_batch(message)
            except ProtocolError as err:
                await self._refuse(channel, link, err, message, version=message.version)
                return
            await self._persist(channel, update)
            await self._send(link, reply)
        elif isinstance(message, Countersign | CountersignBatch):
            try:
                if isinstance(message, Countersign):
                    update = channel.on_countersign(message)
                else:
                    update = channel.on_countersign_batch(message)
            except ProtocolError as err:
                await self._refuse(channel, link, err, message, version=message.version)
                return
            await self._persist(channel, update)
            self._settle_waiter(link, message.version, channel.latest)
        elif isinstance(message, Reject):
            try:
                maybe_update, rejection = channel.on_reject(message)
            except ProtocolError as err:
                await self._refuse(channel, link, err, message, version=message.version)
                return
            await self._persist(channel, maybe_update)
            if isinstance(rejection, CloseRefusedError):
                self._settle_close(link, rejection)
            elif rejection is not None:
                self._settle_waiter(link, message.version, rejection)
        elif isinstance(message, CloseRequest):
            await self._on_close_request(channel, link, message)
        else:
            assert isinstance(message, CloseAccept)
            try:
                update = channel.on_close_accept(message)
            except ProtocolError as err:
                await self._refuse(channel, link, err, message, version=message.version)
                return
            await self._persist(channel, update)
            self._close_agreed(channel, link)

    async def _on_close_request(self, channel: Channel, link: _Link, message: CloseRequest) -> None:
        try:
            reply, update = channel.on_close_request(message)
        except PendingError as err:
            # Our proposal crossed the request: re-send it first, so that the peer
            # answers it (countersign, or a cancel) before it asks again.
            retransmission = channel.retransmission()
            if retransmission is not None:
                await self._flush(channel)
                await self._send(link, retransmission)
            await self._refuse(channel, link, err, message, version=message.version)
            return
        except ProtocolError as err:
            await self._refuse(channel, link, err, message, version=message.version)
            return
        await self._persist(channel, update)  # the freeze is durable before we sign out
        await self._send(link, reply)
        self._close_agreed(channel, link)

    def _close_agreed(self, channel: Channel, link: _Link) -> None:
        closing = channel.closing
        if closing is not None and closing.complete:
            self._settle_close(link, closing)

    # -- updates ----------------------------------------------------------------------

    async def _round_trip(
        self,
        channel: Channel,
        build: Callable[[], tuple[Propose | ProposeBatch, ChannelUpdate]],
        before_proposal: Callable[[int], None] | None = None,
    ) -> SignedState:
        channel.check_updatable()  # the channel's own refusal goes before transport errors
        link = self._link(channel.channel_id)
        async with link.lock:
            if link.reader is None or link.reader.done():
                raise TransportClosedError("the peer transport is closed; attach a new one")
            if before_proposal is not None and channel.pending is None:
                # Under the lock: no other proposal can take this version meanwhile. (With
                # one outstanding, build() refuses: InDoubtError.)
                before_proposal(channel.next_version)
            message, update = build()
            waiter = self._expect(link, message.version)
            await self._persist(channel, update)
            await self._send(link, message)
            try:
                return await asyncio.wait_for(asyncio.shield(waiter), self._timeout)
            except TimeoutError:
                raise PeerTimeoutError(
                    f"no answer to version {message.version} in {self._timeout} s "
                    "(it stays outstanding; re-attach to re-send it)"
                ) from None

    async def propose(
        self, channel_id: bytes, balance_a: int, balance_b: int, memo: str = ""
    ) -> SignedState:
        """Propose the next state (party A) and wait for the peer's countersignature.

        Returns the new co-signed state. Raises :class:`ProposalRejectedError` (refused:
        with a cancel, the channel goes on at the version after it; without one the
        proposal stays outstanding and the channel is failed), :class:`PeerTimeoutError`,
        :class:`TransportClosedError`, :class:`BalanceError`, :class:`ChannelStateError`
        (party B, not funded, frozen, failed, or :class:`InDoubtError`) and
        :class:`PersistError`."""
        channel = self.channel(channel_id)
        return await self._round_trip(channel, lambda: channel.propose(balance_a, balance_b, memo))

    async def pay(
        self,
        channel_id: bytes,
        amount: int,
        memo: str = "",
        *,
        before_proposal: Callable[[int], None] | None = None,
    ) -> SignedState:
        """Move *amount* planck from us (party A) to the peer (one propose/countersign
        round trip); returns the new co-signed state. Raises what :meth:`propose`
        raises.

        *before_proposal* is called with the version the payment's state will have,
        before that state is signed or stored, while no other proposal of the channel
        can be made: a caller records there, durably, which version pays what (a
        restarted caller then asks :meth:`state_at` and :attr:`Channel.pending
        <ccnet.channels.channel.Channel.pending>` whether it went out). If it raises,
        nothing is proposed."""
        channel = self.channel(channel_id)
        return await self._round_trip(channel, lambda: channel.pay(amount, memo), before_proposal)

    def state_at(self, channel_id: bytes, version: int) -> SignedState | None:
        """The co-signed state *version* of *channel_id* in our store (live or closed
        channel), or None: not co-signed (outstanding, refused, cancelled: a cancel is
        the next version) or never proposed."""
        return self._store.state_at(channel_id, version)

    async def pay_many(
        self, channel_id: bytes, amounts: Sequence[int], memo: str = ""
    ) -> SignedState:
        """Pay each of *amounts* (planck) to the peer as one batch: one co-signed state
        per payment, all in one round trip and one durable commit per side (party A
        only; up to :data:`~.messages.MAX_BATCH` payments; see :mod:`.channel`).

        Returns the last co-signed state once every state of the batch is durable in
        our store; the peer made them durable before it answered. All or none: a
        refused batch raises :class:`ProposalRejectedError` and no payment happened.
        Raises what :meth:`propose` raises, and :class:`ValueError` for no or too many
        amounts."""
        channel = self.channel(channel_id)
        return await self._round_trip(channel, lambda: channel.pay_many(amounts, memo))

    async def resolve(self, channel_id: bytes) -> SignedState:
        """Re-send our outstanding proposal (after a crash or timeout) and wait for its
        answer; returns the latest co-signed state (at once if nothing is outstanding).
        Raises :class:`ProposalRejectedError` (refused: with a cancel, the cancel is now
        the latest state), :class:`PeerTimeoutError` and :class:`TransportClosedError`."""
        channel = self.channel(channel_id)
        link = self._link(channel_id)
        async with link.lock:
            message = channel.retransmission()
            if message is None:
                return channel.latest
            waiter = link.waiter
            if (
                not link.just_resent
                or waiter is None
                or waiter.done()
                or link.waiting_version != message.version
            ):
                waiter = self._expect(link, message.version)
                await self._flush(channel)
                await self._send(link, message)
            link.just_resent = False
            try:
                return await asyncio.wait_for(asyncio.shield(waiter), self._timeout)
            except TimeoutError:
                raise PeerTimeoutError(f"no answer to version {message.version}") from None

    # -- chain ------------------------------------------------------------------------

    def _require_chain(self) -> Chain:
        if self._chain is None:
            raise ChannelStateError("this party has no chain connection")
        return self._chain

    async def _read_chain(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.to_thread(fn, *args)

    async def _submit(self, fn: Callable[..., Receipt], *args: Any) -> Receipt:
        receipt = await asyncio.to_thread(fn, *args)
        self.receipts.append(receipt)
        return receipt

    async def _set_phase(self, channel: Channel, phase: Phase) -> None:
        await self._persist(channel, channel.set_phase(phase))
        if phase.final:
            self._channels.pop(channel.channel_id, None)
            await self.detach(channel.channel_id)

    async def open(self, counterparty: str, deposit: int, counterparty_deposit: int = 0) -> Channel:
        """Open a channel to *counterparty* (SS58) on chain, as party A, depositing
        *deposit* planck and asking *counterparty_deposit* of B (0: funded at once).
        The chain also holds its record deposit (``Channels.RecordDeposit``) of ours
        until the channel is gone. Returns the stored channel (phase ``opening`` or
        ``funded``), its id taken from the ``ChannelOpened`` event. Raises
        :class:`ccnet.client.ChannelsError` and the SDK's connection errors."""
        chain = self._require_chain()
        receipt = await self._submit(
            chain.channels.open, self._keypair, counterparty, deposit, counterparty_deposit
        )
        opened = receipt.expect("Channels", "ChannelOpened").attributes
        params = ChannelParams(
            channel_id=chain.channels.opened_channel_id(receipt),
            genesis_hash=self._genesis,
            party_a=self.public_key,
            party_b=_key(counterparty),
            deposit_a=int(opened["deposit_a"]),
            deposit_b=int(opened["deposit_b"]),
        )
        funded = receipt.find("Channels", "ChannelFunded") is not None
        record = ChannelRecord(
            params,
            Party.A,
            Phase.FUNDED if funded else Phase.OPENING,
            SignedState(params.opening_state()),
        )
        return self._add(record)

    async def join(self, channel_id: bytes, *, fund: bool = True) -> Channel:
        """Track a channel a peer opened to us, reading its parameters from the chain;
        as B, deposit what it asks when *fund* is true. Returns the stored channel.
        Raises :class:`UnknownChannelError` and :class:`ChannelStateError` (we are not
        a party)."""
        chain = self._require_chain()
        if channel_id in self._channels:
            channel = self._channels[channel_id]
        else:
            info = await self._read_chain(chain.channels.channel, channel_id)
            if info is None:
                raise UnknownChannelError(f"no channel 0x{channel_id.hex()} on chain")
            params = ChannelParams(
                channel_id=channel_id,
                genesis_hash=self._genesis,
                party_a=_key(info.party_a),
                party_b=_key(info.party_b),
                deposit_a=info.deposit_a,
                deposit_b=info.deposit_b,
            )
            try:
                me = params.party_of(self.public_key)
            except ValueError:
                raise ChannelStateError("we are not a party of this channel") from None
            channel = self._add(
                ChannelRecord(params, me, _phase_of(info), SignedState(params.opening_state()))
            )
        if fund and channel.phase is Phase.OPENING and channel.me is Party.B:
            await self._submit(chain.channels.fund, self._keypair, channel_id)
            await self._set_phase(channel, Phase.FUNDED)
        return channel

    async def refresh(self, channel_id: bytes) -> Phase:
        """Read the channel's phase from the chain and store it (a channel gone from the
        chain is taken as ``settled``). Returns the phase."""
        chain = self._require_chain()
        channel = self.channel(channel_id)
        info = await self._read_chain(chain.channels.channel, channel_id)
        phase = Phase.SETTLED if info is None else _phase_of(info)
        await self._set_phase(channel, phase)
        return phase

    def _no_close(self, channel: Channel, why: str) -> str:
        frozen = channel.closing
        if frozen is None:
            advice = "attach a transport to the running peer and retry, or close_unilaterally()"
        else:
            advice = (
                f"the channel stays frozen at version {frozen.version}: retry once the peer is "
                "back, or close_unilaterally() (it registers our latest state, whose balances "
                "are the frozen ones)"
            )
        return f"channel 0x{channel.channel_id.hex()}: no cooperative close ({why}); {advice}"

    async def agree_close(self, channel_id: bytes) -> ClosingAgreement:
        """Agree a cooperative close of the latest co-signed balances with the peer:
        sign it (the deposits, version 0, before any update), freeze the channel
        durably, send ``close_request`` and wait for the peer's ``close_accept``.
        Returns the agreement with both close signatures, stored on both sides (at once
        when it is stored already).

        Raises :class:`InDoubtError` (our proposal is outstanding: :meth:`resolve`
        it), :class:`ChannelStateError` (not funded), :class:`TransportClosedError` and
        :class:`PeerTimeoutError` (the peer is gone), :class:`CloseRefusedError`. Once
        the request has left, the channel stays frozen whatever happens; the errors say
        to retry or to :meth:`close_unilaterally`."""
        channel = self.channel(channel_id)
        closing = channel.closing
        if closing is not None and closing.complete:
            return closing
        link = self._links.get(channel_id)
        if link is None or link.reader is None or link.reader.done():
            raise TransportClosedError(self._no_close(channel, "the peer is not connected"))
        async with link.lock:
            for attempt in range(1, CLOSE_ATTEMPTS + 1):
                closing = channel.closing
                if closing is not None and closing.complete:  # the peer asked meanwhile
                    return closing
                message, update = channel.request_close()
                waiter = self._expect_close(link, message.version)
                await self._persist(channel, update)  # frozen before our signature leaves
                try:
                    await self._send(link, message)
                    return await asyncio.wait_for(asyncio.shield(waiter), self._timeout)
                except TimeoutError:
                    why = f"no answer to the close request in {self._timeout} s"
                    raise PeerTimeoutError(self._no_close(channel, why)) from None
                except TransportClosedError as err:
                    raise TransportClosedError(self._no_close(channel, str(err))) from None
                except CloseRefusedError as err:
                    if err.code != PendingError.code or attempt == CLOSE_ATTEMPTS:
                        raise
                    log.info("channel 0x%s: peer busy, asking to close again", channel_id.hex())
        raise AssertionError("unreachable")  # pragma: no cover

    async def close_cooperatively(self, channel_id: bytes) -> Receipt:
        """Pay out the latest co-signed balances at once: :meth:`agree_close` with the
        peer (one round trip; none if the agreement is stored already), then submit
        ``cooperative_close`` with both close signatures. Before any update this closes
        on the deposits (version 0), with no update round trip.

        Raises what :meth:`agree_close` raises (the peer must be attached and
        answering), :class:`ccnet.client.ChannelsError`, and
        :class:`ChannelStateError` when the channel is already gone from the chain
        (e.g. the peer submitted the agreed close; it is then marked settled)."""
        chain = self._require_chain()
        channel = self.channel(channel_id)
        agreement = await self.agree_close(channel_id)
        state = agreement.state
        try:
            receipt = await self._submit(
                chain.channels.cooperative_close,
                self._keypair,
                channel_id,
                state.version,
                state.balance_a,
                state.balance_b,
                agreement.signature_a,
                agreement.signature_b,
            )
        except ChannelsError as err:
            if err.name != "UnknownChannel":
                raise
            await self._set_phase(channel, Phase.SETTLED)
            raise ChannelStateError(
                f"channel 0x{channel_id.hex()} is already closed on chain"
            ) from err
        await self._set_phase(channel, Phase.SETTLED)
        return receipt

    async def close_unilaterally(self, channel_id: bytes) -> Receipt:
        """Register our latest co-signed state (or the unsigned opening state) and start
        the channel's challenge period; :meth:`settle` after it.

        Safe at any time, also while our proposal is outstanding: until the period ends
        the peer can only replace our state with a newer co-signed one, and the only
        newer states we signed are that proposal's (so as the payer we may end with our
        balance in it, never lower) or a cancel (the same balances). Refused with
        :class:`ChannelStateError` when a cooperative close is agreed: submit it with
        :meth:`close_cooperatively` (final at once, the peer is not needed). Raises
        :class:`ccnet.client.ChannelsError` (e.g. ``NotFunded``)."""
        chain = self._require_chain()
        channel = self.channel(channel_id)
        closing = channel.closing
        if closing is not None and closing.complete:
            raise ChannelStateError(
                f"a cooperative close of version {closing.version} is agreed: submit it with "
                "close_cooperatively (final at once, the peer is not needed)"
            )
        latest = channel.latest
        state = latest.state
        receipt = await self._submit(
            chain.channels.close_unilateral,
            self._keypair,
            channel_id,
            state.version,
            state.balance_a,
            state.balance_b,
            latest.signature_a,
            latest.signature_b,
        )
        await self._set_phase(channel, Phase.CLOSING)
        return receipt

    async def challenge(self, channel_id: bytes) -> Receipt:
        """Register our latest co-signed state against the registered one of a closing
        channel (``challenge``: it must be newer; it replaces the registered state, the
        challenge period is not extended). The channel stays closing until
        :meth:`settle`. Raises :class:`ChannelStateError` (no co-signed state) and
        :class:`ccnet.client.ChannelsError` (``NotNewer``, ``ChallengePeriodOver``,
        ``NotClosing``)."""
        chain = self._require_chain()
        channel = self.channel(channel_id)
        latest = channel.latest
        if not latest.co_signed:
            raise ChannelStateError("no co-signed state to register")
        state = latest.state
        receipt = await self._submit(
            chain.channels.challenge,
            self._keypair,
            channel_id,
            state.version,
            state.balance_a,
            state.balance_b,
            latest.signature_a,
            latest.signature_b,
        )
        await self._set_phase(channel, Phase.CLOSING)
        return receipt

    async def answer_stale_close(self, channel_id: bytes) -> Receipt | None:
        """If *channel_id* is closing on chain with a version older than our latest
        co-signed state and its challenge period is still open, register ours
        (:meth:`challenge`); a closing channel is stored as closing either way. Returns
        the receipt, or None when there was nothing to answer (or too late: logged)."""
        chain = self._require_chain()
        channel = self.channel(channel_id)
        info = await self._read_chain(chain.channels.channel, channel_id)
        if info is None or info.closing is None:
            return None
        await self._set_phase(channel, Phase.CLOSING)
        latest = channel.latest
        if info.closing.version >= latest.version or not latest.co_signed:
            return None
        # The challenge lands in the next block at the earliest.
        if await self._read_chain(chain.block_number) + 1 > info.closing.challenge_ends:
            log.error(
                "channel 0x%s: stale close (version %d < %d) seen after its challenge period",
                channel_id.hex(),
                info.closing.version,
                latest.version,
            )
            return None
        return await self.challenge(channel_id)

    async def answer_stale_closes(self) -> list[Receipt]:
        """:meth:`answer_stale_close` for every live channel (after a restart: closes
        that happened while we were away). Returns the receipts of the challenges."""
        receipts = []
        for channel in self.channels:
            receipt = await self.answer_stale_close(channel.channel_id)
            if receipt is not None:
                receipts.append(receipt)
        return receipts

    async def settle(self, channel_id: bytes) -> Receipt:
        """Pay out the registered state after the challenge period (``settle``)."""
        chain = self._require_chain()
        channel = self.channel(channel_id)
        receipt = await self._submit(chain.channels.settle, self._keypair, channel_id)
        await self._set_phase(channel, Phase.SETTLED)
        return receipt

    # -- lifecycle --------------------------------------------------------------------

    async def aclose(self) -> None:
        """Detach every transport and stop the store thread (the store and chain stay
        open: the caller owns them)."""
        for channel_id in list(self._links):
            await self.detach(channel_id)
        if self._io is not None:
            io, self._io = self._io, None
            await asyncio.to_thread(io.shutdown, wait=True)

    async def __aenter__(self) -> ChannelParty:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


def _phase_of(info: ChannelInfo) -> Phase:
    """Our phase for a channel as the chain reports it."""
    return {"Opening": Phase.OPENING, "Funded": Phase.FUNDED}.get(info.phase, Phase.CLOSING)


def _log_task_error(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("channel reader failed", exc_info=task.exception())
