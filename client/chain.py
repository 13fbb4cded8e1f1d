"""A connection to a ccnet node: storage, constants, signed calls, receipts and events.

:class:`Chain` wraps one substrate-interface 1.8.1 ``SubstrateInterface`` (synchronous,
one websocket) behind a lock, so one ``Chain`` may be shared by threads. Async callers
run its methods in a thread: ``await asyncio.to_thread(chain.credits.stake, kp, amount)``.

Submitting (:meth:`Chain.submit`) signs under the account's nonce lock
(:mod:`ccnet.client.nonces`), hands the extrinsic to the node on a short-lived websocket
of its own (``author_submitAndWatchExtrinsic``) and waits there, outside the main lock,
until it is in a block (or finalized); so threads submit concurrently. Then the block's
events are decoded into a :class:`Receipt`, or the :class:`DispatchError` is raised.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import websocket
from substrateinterface import Keypair, SubstrateInterface
from substrateinterface.exceptions import SubstrateRequestException

from .codec import SCALECODEC_LOCK
from .dispatch import build_receipt
from .events import ChainEvent, Receipt, event_from_record
from .exceptions import (
    CallEncodingError,
    CcnetError,
    ChainConnectionError,
    ChainRequestError,
    ExtrinsicError,
)
from .nonces import NonceManager, manager_for
from .signing import SS58_FORMAT
from .subscription import EventSubscription

if TYPE_CHECKING:
    from .pallets import Channels, Checkpoints, Credits, Disputes, Tasks

__all__ = ["DEFAULT_URL", "WAITS", "BlockEvents", "Chain", "EventSubscription", "Wait", "as_wait"]

logger = logging.getLogger(__name__)

DEFAULT_URL = "ws://127.0.0.1:8000"
"""Where ``ccnet chain start`` serves the dev chain."""
NEW_BLOCKS_BATCH = 10
"""Most blocks one ``dev_newBlock`` request builds (a block takes Chopsticks ~0.1-1 s)."""

SILENT_WATCH_PROBE_S = 12.0
"""After this long without a status update of a submitted extrinsic (two 6 s blocks),
and as often again, :meth:`Chain.submit` looks for it on chain itself."""

Wait = Literal["inclusion", "finalization"]
WAITS: tuple[Wait, ...] = ("inclusion", "finalization")
T = TypeVar("T")

_CONNECTION_ERRORS = (OSError, websocket.WebSocketException)


def as_wait(value: str) -> Wait:
    """*value* as a :data:`Wait`; :class:`ValueError` if it is not one of :data:`WAITS`."""
    for wait in WAITS:
        if value == wait:
            return wait
    raise ValueError(f"wait must be one of {', '.join(WAITS)}, got {value!r}")


@dataclass(frozen=True)
class BlockEvents:
    """The events of one block, as :meth:`Chain.watch_blocks` yields them."""

    number: int
    hash: str
    events: list[ChainEvent]


class Chain:
    """A ccnet node at *url* (``ws://`` or ``wss://``); thread-safe, synchronous.

    *timeout* (seconds) bounds connecting and each wait for an answer, including each
    status update of a submitted extrinsic (the node's pings do not extend it). While a
    submitted extrinsic's watch is silent, the best chain since the submission is searched
    for it every :data:`SILENT_WATCH_PROBE_S` s, and found there (and final, when waiting
    for finality) its receipt is returned. Raises
    :class:`ChainConnectionError` when the node cannot be reached; after one, the next
    call opens a new websocket (a node that came back is used again). Use as a context
    manager, or call :meth:`close`.
    """

    def __init__(
        self, url: str = DEFAULT_URL, *, timeout: float = 30.0, wait: Wait = "inclusion"
    ) -> None:
        self.url = url
        self.timeout = timeout
        self.wait = as_wait(wait)
        """What :meth:`submit` waits for when the call does not say: ``inclusion`` (a
        dev chain, where every block is final) or ``finalization`` (a network of
        validators: GRANDPA finality, a few blocks later, cannot be reverted)."""
        # One process-wide lock (see SCALECODEC_LOCK); waits for inclusion run on their
        # own sockets outside it.
        self._lock = SCALECODEC_LOCK
        self._genesis: str | None = None
        self._nonces: NonceManager | None = None
        self._pallets: dict[str, Any] = {}
        self._broken = False
        """The websocket failed: reconnect before the next request."""
        self._closed = False
        if not url.startswith(("ws://", "wss://")):
            raise ChainConnectionError(url, "the URL must start with ws:// or wss://")
        with self._lock:
            try:
                self._api = SubstrateInterface(
                    url=url, ss58_format=SS58_FORMAT, ws_options={"timeout": timeout}
                )
            except _CONNECTION_ERRORS as err:
                raise ChainConnectionError(url, _reason(err)) from None
            try:
                self._api.init_runtime()
            except (*_CONNECTION_ERRORS, SubstrateRequestException) as err:
                self._api.close()
                raise ChainConnectionError(
                    url, f"the node did not give its runtime: {_reason(err)}"
                ) from None
        logger.debug("connected to %s", url)

    # -- lifecycle ---------------------------------------------------------------------

    def close(self) -> None:
        """Close the websocket; the object is unusable afterwards."""
        with self._lock:
            self._closed = True
            self._broken = False
            try:
                self._api.close()
            except _CONNECTION_ERRORS:  # already gone
                pass

    def __enter__(self) -> Chain:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run ``fn(*args, **kwargs)`` on the websocket under the lock, mapping failures
        to ccnet errors. After a connection failure the next call opens a new websocket
        first (the node may be back)."""
        with self._lock:
            if self._broken:
                self._reconnect()
            try:
                return fn(*args, **kwargs)
            except _CONNECTION_ERRORS as err:
                self._broken = not self._closed
                raise ChainConnectionError(self.url, _reason(err)) from None
            except SubstrateRequestException as err:
                raise ChainRequestError(f"the node rejected the request: {err}") from None

    def _reconnect(self) -> None:
        """Replace the failed websocket (under the lock); :class:`ChainConnectionError`
        while the node is still away."""
        old = getattr(self._api, "websocket", None)
        if old is not None:
            old.shutdown()  # no closing handshake: the peer is gone
        try:
            self._api.connect_websocket()
        except _CONNECTION_ERRORS as err:
            raise ChainConnectionError(self.url, f"reconnecting: {_reason(err)}") from None
        self._broken = False
        logger.info("reconnected to %s", self.url)

    def rpc(self, method: str, params: Sequence[Any] = ()) -> Any:
        """A raw JSON-RPC call; returns its ``result``; :class:`ChainRequestError` on an
        error answer."""
        response = self._call(self._api.rpc_request, method, list(params))
        if "error" in response:
            raise ChainRequestError(f"{method}: {response['error'].get('message')}")
        return response.get("result")

    # -- chain facts -------------------------------------------------------------------

    @property
    def api(self) -> SubstrateInterface:
        """The underlying SubstrateInterface. Hold :attr:`lock` while using it."""
        return self._api

    @property
    def lock(self) -> threading.RLock:
        """The lock around the websocket (re-entrant)."""
        return self._lock

    @property
    def genesis_hash(self) -> bytes:
        """Hash of block 0 (32 bytes), as ``get_block_hash(0)`` gives it."""
        return bytes.fromhex(self._genesis_hex().removeprefix("0x"))

    def _genesis_hex(self) -> str:
        if self._genesis is None:
            self._genesis = str(self._call(self._api.get_block_hash, 0))
        return self._genesis

    @property
    def nonces(self) -> NonceManager:
        """The process-wide nonce manager of this node (keyed by genesis hash and URL)."""
        if self._nonces is None:
            self._nonces = manager_for(self._genesis_hex(), self.url)
        return self._nonces

    def block_number(self, *, finalized: bool = False) -> int:
        """Number of the best (or the last finalized) block."""
        params = [self.block_hash(finalized=True)] if finalized else []
        return int(self.rpc("chain_getHeader", params)["number"], 16)

    def block_hash(self, number: int | None = None, *, finalized: bool = False) -> str:
        """Hash (0x hex) of block *number*, else of the best (or last finalized) block."""
        if number is not None:
            result = self.rpc("chain_getBlockHash", [number])
            if result is None:
                raise ChainRequestError(f"there is no block {number} yet")
            return str(result)
        if finalized:
            return str(self.rpc("chain_getFinalizedHead"))
        return str(self.rpc("chain_getBlockHash"))

    def constant(self, pallet: str, name: str) -> Any:
        """The decoded value of runtime constant *pallet.name* (e.g. ``Tasks``,
        ``MinWorkerStake`` -> int planck). :class:`ChainRequestError` if unknown."""
        obj = self._call(self._api.get_constant, pallet, name)
        if obj is None:
            raise ChainRequestError(f"the runtime has no constant {pallet}.{name}")
        return obj.value

    def query(
        self,
        pallet: str,
        storage: str,
        params: Sequence[Any] = (),
        *,
        block_hash: str | None = None,
    ) -> Any | None:
        """The decoded value of storage *pallet.storage(params)*, or None when absent (for
        an ``OptionQuery``; a ``ValueQuery`` gives its default)."""
        obj = self._encoding(
            f"{pallet}.{storage}",
            self._api.query,
            pallet,
            storage,
            list(params),
            block_hash=block_hash,
        )
        return None if obj is None else obj.value

    def query_map(
        self,
        pallet: str,
        storage: str,
        params: Sequence[Any] = (),
        *,
        block_hash: str | None = None,
    ) -> list[tuple[Any, Any]]:
        """Every (key, value) of map *pallet.storage* (under the prefix *params* for a
        double map), decoded. Keys of a double map are the remaining key part, or a list
        of both parts when no prefix is given."""

        def fetch() -> list[tuple[Any, Any]]:
            result = self._api.query_map(pallet, storage, list(params), block_hash=block_hash)
            return [(_key_value(key), value.value) for key, value in result]

        return self._encoding(f"{pallet}.{storage}", fetch)

    def _encoding(self, what: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        try:
            return self._call(fn, *args, **kwargs)
        except CcnetError:
            raise
        except (ValueError, TypeError, NotImplementedError, KeyError) as err:
            raise CallEncodingError(f"{what}: cannot encode the parameters: {err}") from None

    def free_balance(self, address: str) -> int:
        """Free balance of *address* (SS58), planck."""
        account = self.query("System", "Account", [address])
        return int(account["data"]["free"]) if account else 0

    def transfer(
        self, keypair: Keypair, dest: str, amount: int, *, wait: Wait | None = None
    ) -> Receipt:
        """Send *amount* planck to *dest* (``Balances.transfer_keep_alive``: the sender
        stays above the existential deposit). Emits ``Balances.Transfer``."""
        params = {"dest": dest, "value": amount}
        return self.submit(keypair, "Balances", "transfer_keep_alive", params, wait=wait)

    def account_next_index(self, address: str) -> int:
        """The node's next nonce of *address*, counting the transaction pool."""
        return int(self.rpc("system_accountNextIndex", [address]))

    # -- dev chain ---------------------------------------------------------------------

    def new_blocks(self, count: int = 1) -> str:
        """Build *count* empty blocks (Chopsticks ``dev_newBlock``, in batches of
        :data:`NEW_BLOCKS_BATCH` so that each request answers within the timeout); returns
        the new head hash. Only a dev chain has it: :class:`ChainRequestError`
        elsewhere."""
        try:
            head = ""
            left = count
            while left > 0:
                batch = min(left, NEW_BLOCKS_BATCH)
                head = str(self.rpc("dev_newBlock", [{"count": batch}]))
                left -= batch
            return head
        except ChainRequestError as err:
            raise ChainRequestError(
                f"dev_newBlock failed ({err}); only a Chopsticks dev chain "
                "(`ccnet chain start`) can build blocks on demand, a real node cannot: "
                "wait for blocks instead"
            ) from None

    # -- extrinsics --------------------------------------------------------------------

    def submit(
        self,
        keypair: Keypair,
        pallet: str,
        call: str,
        params: Mapping[str, Any] | None = None,
        *,
        wait: Wait | None = None,
    ) -> Receipt:
        """Sign *pallet.call(params)* with *keypair*, submit it, and wait for *wait*
        (None: the connection's :attr:`wait`).

        Returns the :class:`Receipt` (decoded events, fee). Raises
        :class:`CallEncodingError` for params that do not fit, :class:`ExtrinsicError`
        when the node refuses it (a nonce rejection is retried once after re-syncing),
        :class:`DispatchError` (pallet subclass) when it fails in the runtime, and
        :class:`ChainConnectionError`.
        """
        extrinsic_call = self._encoding(
            f"{pallet}.{call}",
            self._api.compose_call,
            call_module=pallet,
            call_function=call,
            call_params=dict(params or {}),
        )
        until: Wait = wait or self.wait
        try:
            return self._submit(keypair, extrinsic_call, until)
        except ExtrinsicError as err:
            if not err.nonce_related:
                raise
            logger.info("%s.%s: nonce rejected (%s); re-syncing and retrying", pallet, call, err)
            return self._submit(keypair, extrinsic_call, until)

    def _submit(self, keypair: Keypair, extrinsic_call: Any, wait: Wait) -> Receipt:
        address = str(keypair.ss58_address)
        # A fork that wins may hold it at any height above the finalized one (read before
        # the nonce lock: an earlier, lower finalized head is as good a start).
        since = self.block_number(finalized=True) + 1
        with self.nonces.reserve(address, self.account_next_index) as nonce:
            extrinsic = self._call(
                self._api.create_signed_extrinsic, call=extrinsic_call, keypair=keypair, nonce=nonce
            )
            watch = _Watch(self.url, self.timeout)
            watch.submit(str(extrinsic.data))  # in nonce order: still under the lock
        extrinsic_hash = "0x" + bytes(extrinsic.extrinsic_hash).hex()
        seen: dict[int, str] = {}
        try:
            block_hash, finalized = watch.wait(
                wait, probe=lambda: self._find_included(extrinsic_hash, since, seen)
            )
        except CcnetError:  # dropped, or the node went away: re-sync the nonce next time
            self.nonces.forget(address)
            raise
        return self.receipt(extrinsic_hash, block_hash, finalized=finalized)

    def _find_included(
        self, extrinsic_hash: str, since: int, without: dict[int, str]
    ) -> tuple[str, bool] | None:
        """(block hash, finalized) of the block of the best chain from number *since* on
        that holds *extrinsic_hash*, or None. *without* (number -> hash of the blocks
        read and found not to hold it) is updated, so repeated calls read each block
        once; a block that could not be read is read again next time."""
        # The finalized number first: at or below it the best chain's hashes are final,
        # so a block read afterwards at such a height cannot be of an abandoned fork.
        finalized = self.block_number(finalized=True)
        best = self.block_number()
        for number in range(since, best + 1):
            block_hash = self.block_hash(number)
            if without.get(number) == block_hash:
                continue
            hashes = self._extrinsic_hashes(block_hash)
            if hashes is None:
                continue
            if extrinsic_hash in hashes:
                return block_hash, number <= finalized
            without[number] = block_hash
        return None

    def _extrinsic_hashes(self, block_hash: str) -> list[str] | None:
        """The hashes (0x hex) of block *block_hash*'s extrinsics, in order; None if the
        node does not have the block (or answers something else)."""
        block = self.rpc("chain_getBlock", [block_hash])
        try:
            extrinsics = block["block"]["extrinsics"]
            return [
                "0x" + _blake2_256(bytes.fromhex(x.removeprefix("0x"))).hex() for x in extrinsics
            ]
        except (TypeError, KeyError, ValueError, AttributeError):
            return None

    def receipt(self, extrinsic_hash: str, block_hash: str, *, finalized: bool = False) -> Receipt:
        """The :class:`Receipt` of extrinsic *extrinsic_hash* in block *block_hash*;
        raises its :class:`DispatchError` if it failed."""
        with self._lock:
            index = self._extrinsic_index(block_hash, extrinsic_hash)
            events = [e for e in self.events_at(block_hash) if e.extrinsic_index == index]
            return build_receipt(
                events,
                self._error_lookup,
                block_hash=block_hash,
                extrinsic_hash=extrinsic_hash,
                finalized=finalized,
            )

    def _extrinsic_index(self, block_hash: str, extrinsic_hash: str) -> int:
        hashes = self._extrinsic_hashes(block_hash)
        if hashes is None:
            raise ChainRequestError(f"the node has no block {block_hash}")
        if extrinsic_hash not in hashes:
            raise ChainRequestError(f"extrinsic {extrinsic_hash} is not in block {block_hash}")
        return hashes.index(extrinsic_hash)

    def _error_lookup(self, pallet_index: int, error_index: int) -> tuple[str, str, str]:
        with self._lock:
            metadata = self._api.metadata
            pallet = next(
                (p.name for p in metadata.pallets if p.value["index"] == pallet_index),
                f"Pallet{pallet_index}",
            )
            error = metadata.get_module_error(module_index=pallet_index, error_index=error_index)
            if error is None:
                return pallet, f"Error{error_index}", ""
            return pallet, str(error.name), " ".join(str(line) for line in error.docs).strip()

    # -- events ------------------------------------------------------------------------

    def events_at(self, block_hash: str, *, block_number: int | None = None) -> list[ChainEvent]:
        """Every event of block *block_hash*, decoded, in order."""
        records = self._call(self._api.get_events, block_hash)
        return [
            event_from_record(r.value, block_number=block_number, block_hash=block_hash)
            for r in records
        ]

    def watch_blocks(
        self,
        *,
        from_block: int | None = None,
        finalized: bool = False,
        poll_interval: float = 1.0,
        stop: threading.Event | None = None,
    ) -> Iterator[BlockEvents]:
        """Yield the events of each new block, in order, forever (or until *stop* is set).

        Starts after the current best (or finalized) block, or at *from_block*. Polls the
        head every *poll_interval* seconds; the lock is held only while fetching.
        """
        stop = stop or threading.Event()
        following = (from_block - 1) if from_block is not None else None
        while not stop.is_set():
            head = self.block_number(finalized=finalized)
            if following is None:
                following = head
            while following < head and not stop.is_set():
                following += 1
                block_hash = self.block_hash(following)
                yield BlockEvents(
                    following, block_hash, self.events_at(block_hash, block_number=following)
                )
            stop.wait(poll_interval)

    def watch_events(
        self,
        pallets: Sequence[str] | None = None,
        names: Sequence[str] | None = None,
        *,
        from_block: int | None = None,
        finalized: bool = False,
        poll_interval: float = 1.0,
        stop: threading.Event | None = None,
    ) -> Iterator[ChainEvent]:
        """Yield the events of new blocks (see :meth:`watch_blocks`), optionally only
        those of *pallets* and named *names*. Each carries ``block_number``/``block_hash``."""
        for block in self.watch_blocks(
            from_block=from_block, finalized=finalized, poll_interval=poll_interval, stop=stop
        ):
            for event in block.events:
                if (pallets is None or event.pallet in pallets) and (
                    names is None or event.name in names
                ):
                    yield event

    def subscribe_events(
        self,
        callback: Callable[[ChainEvent], None],
        pallets: Sequence[str] | None = None,
        names: Sequence[str] | None = None,
        *,
        from_block: int | None = None,
        finalized: bool = False,
        poll_interval: float = 1.0,
    ) -> EventSubscription:
        """Call *callback* with each new event (filtered as in :meth:`watch_events`) from
        a daemon thread; returns the subscription to :meth:`~EventSubscription.stop`.
        A callback that raises is logged and the subscription goes on; a lost node is
        retried with backoff, resuming at the first block not delivered yet, so no event
        is lost or repeated (:mod:`ccnet.client.subscription`)."""
        return EventSubscription(
            self,
            callback,
            pallets,
            names,
            from_block=from_block,
            finalized=finalized,
            poll_interval=poll_interval,
        ).start()

    # -- pallets -----------------------------------------------------------------------

    def _pallet(self, name: str, factory: Callable[[Chain], T]) -> T:
        with self._lock:
            if name not in self._pallets:
                self._pallets[name] = factory(self)
            result: T = self._pallets[name]
            return result

    @property
    def credits(self) -> Credits:
        """Typed calls and reads of the Credits pallet."""
        from .pallets import Credits

        return self._pallet("Credits", Credits)

    @property
    def tasks(self) -> Tasks:
        """Typed calls and reads of the Tasks pallet."""
        from .pallets import Tasks

        return self._pallet("Tasks", Tasks)

    @property
    def channels(self) -> Channels:
        """Typed calls and reads of the Channels pallet."""
        from .pallets import Channels

        return self._pallet("Channels", Channels)

    @property
    def checkpoints(self) -> Checkpoints:
        """Typed calls and reads of the Checkpoints pallet."""
        from .pallets import Checkpoints

        return self._pallet("Checkpoints", Checkpoints)

    @property
    def disputes(self) -> Disputes:
        """Typed calls and reads of the Disputes pallet."""
        from .pallets import Disputes

        return self._pallet("Disputes", Disputes)


def _key_value(key: Any) -> Any:
    """A decoded storage map key: substrate-interface gives a whole double-map key as a
    tuple of SCALE objects."""
    return [part.value for part in key] if isinstance(key, tuple) else key.value


def _blake2_256(data: bytes) -> bytes:
    import hashlib

    return hashlib.blake2b(data, digest_size=32).digest()


def _reason(err: BaseException) -> str:
    text = str(err) or type(err).__name__
    if isinstance(err, ConnectionRefusedError):
        return "connection refused"
    if isinstance(err, TimeoutError | websocket.WebSocketTimeoutException):
        return f"no answer in time ({text})"
    return text


_REJECTIONS = {
    "payment": "the account cannot pay the fee (fund it first)",
    "stale": "stale nonce (already used)",
    "future": "future nonce (an earlier one is missing)",
    "badproof": "bad signature (wrong key or chain)",
    "exhaustsresources": "the block is full",
    "ancientbirthblock": "the mortal era has expired",
    "cannotlookup": "an account lookup failed",
}


def _rejection(error: Mapping[str, Any]) -> str:
    """A readable reason from a JSON-RPC error of ``author_submit*``: Substrate nodes say
    ``Invalid Transaction`` + data; Chopsticks says ``{"invalid":{"payment":null}}``."""
    message, data = str(error.get("message", "")), error.get("data")
    try:
        parsed = json.loads(message)
    except ValueError:
        parsed = None
    if isinstance(parsed, dict) and len(parsed) == 1:
        ((validity, reason),) = parsed.items()
        name = next(iter(reason), "") if isinstance(reason, dict) else str(reason)
        text = _REJECTIONS.get(name.lower(), name)
        return f"{validity} transaction: {text} ({message})"
    return f"{message}: {data}" if data else message


Probe = Callable[[], "tuple[str, bool] | None"]
"""Looks for the watched extrinsic on chain: (block hash, finalized), or None."""


class _Watch:
    """One ``author_submitAndWatchExtrinsic`` on a websocket of its own."""

    def __init__(
        self,
        url: str,
        timeout: float,
        connect: Callable[..., websocket.WebSocket] = websocket.create_connection,
    ) -> None:
        self.url = url
        self.timeout = timeout
        self._connect = connect
        self._ws: websocket.WebSocket | None = None

    def _recv(self, deadline: float) -> dict[str, Any] | None:
        """The next JSON-RPC message, or None at *deadline* (``time.monotonic()``).

        Pings and other control frames are answered and skipped without extending the
        wait: a node's RPC server pings idle connections, so a socket timeout alone never
        ends a wait for a status that does not come. :class:`ChainConnectionError` if the
        connection breaks."""
        assert self._ws is not None
        try:
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                self._ws.settimeout(remaining)
                opcode, data = self._ws.recv_data(control_frame=True)
                if opcode == websocket.ABNF.OPCODE_CLOSE:
                    raise websocket.WebSocketConnectionClosedException("the node closed it")
                if opcode in (websocket.ABNF.OPCODE_TEXT, websocket.ABNF.OPCODE_BINARY):
                    message = json.loads(data)
                    if not isinstance(message, dict):
                        raise ValueError(f"a JSON-RPC message is an object, not {message!r:.80}")
                    return message
        except (TimeoutError, websocket.WebSocketTimeoutException):
            return None
        except (*_CONNECTION_ERRORS, ValueError) as err:
            self.close()
            raise ChainConnectionError(self.url, _reason(err)) from None

    def submit(self, extrinsic_hex: str) -> None:
        """Send the extrinsic; returns once the pool accepted it. :class:`ExtrinsicError`
        if the node refuses it."""
        try:
            self._ws = self._connect(self.url, timeout=self.timeout)
            self._ws.send(
                json.dumps(
                    {
                        "jsonrpc": "2.0",
                        "id": 1,
                        "method": "author_submitAndWatchExtrinsic",
                        "params": [extrinsic_hex],
                    }
                )
            )
        except _CONNECTION_ERRORS as err:
            self.close()
            raise ChainConnectionError(self.url, _reason(err)) from None
        deadline = time.monotonic() + self.timeout
        while True:
            message = self._recv(deadline)
            if message is None:
                self.close()
                raise ChainConnectionError(
                    self.url, f"no answer within {self.timeout:g} s (raise the timeout?)"
                )
            if message.get("id") != 1:
                continue
            if "error" in message:
                self.close()
                error = message["error"]
                raise ExtrinsicError(
                    f"the node refused the extrinsic: {_rejection(error)}",
                    code=error.get("code"),
                    data=error.get("data"),
                )
            self._subscription = message["result"]
            return

    def wait(self, wait: Wait, probe: Probe | None = None) -> tuple[str, bool]:
        """Wait for ``inBlock`` (or ``finalized``); returns (block hash, finalized).

        The node's pool can lose a watch while the extrinsic is included (seen with
        polkadot-sdk's fork-aware pool, paritytech/project-mythical#174), so the chain
        itself is asked too: while the watch is silent, *probe* looks for the extrinsic
        every :data:`SILENT_WATCH_PROBE_S` s (at most *timeout*); when the watch breaks,
        says ``finalityTimeout`` or ``dropped``, the probe alone decides until the
        deadline. Found, and final when *wait* is ``finalization``, ends the wait.
        Progress (a new status, or the probe finding it in a block) restarts the
        *timeout*; :class:`ChainConnectionError` when it runs out without an answer,
        :class:`ExtrinsicError` when the pool refuses it and it is in no block."""
        every = min(SILENT_WATCH_PROBE_S, self.timeout)
        now = time.monotonic()
        deadline, probe_at = now + self.timeout, now + every
        last_status: Any = None
        last_found: tuple[str, bool] | None = None
        watching = True
        try:
            while True:
                message: dict[str, Any] | None = None
                if watching:
                    try:
                        message = self._recv(min(deadline, probe_at) if probe else deadline)
                    except ChainConnectionError as err:
                        if probe is None:
                            raise
                        logger.info("the watch broke (%s); asking the chain instead", err.reason)
                        watching = False
                else:
                    time.sleep(max(0.0, min(deadline, probe_at) - time.monotonic()))
                if message is None:
                    found = _probe(probe)
                    if found is not None and (found[1] or wait == "inclusion"):
                        logger.info("found on chain while the watch was silent: %s", found)
                        return found
                    if found is not None and found != last_found:
                        deadline = time.monotonic() + self.timeout  # included: progress
                    last_found = found or last_found
                    if time.monotonic() >= deadline:
                        state = "included" if wait == "inclusion" else "finalized"
                        raise ChainConnectionError(
                            self.url,
                            f"no progress of the submitted extrinsic within {self.timeout:g} s "
                            f"(it may still be {state}; its nonce is re-read next time; "
                            "raise the timeout?)",
                        )
                    probe_at = time.monotonic() + every
                    continue
                params = message.get("params")
                if not isinstance(params, dict) or params.get("subscription") != self._subscription:
                    continue
                status = params.get("result")
                if status != last_status:  # a repeated status is not progress
                    deadline, last_status = time.monotonic() + self.timeout, status
                name, value = _status(status)
                if name == "finalized":
                    return str(value), True
                if name == "inblock" and wait == "inclusion":
                    return str(value), False
                if name in ("dropped", "invalid", "usurped", "finalitytimeout"):
                    found = _probe(probe)
                    if found is not None and (found[1] or wait == "inclusion"):
                        return found
                    if found is None and name != "finalitytimeout":
                        raise ExtrinsicError(f"the extrinsic was {name} by the node's pool")
                    if probe is None:
                        raise ChainConnectionError(
                            self.url, f"the node stopped watching the extrinsic ({name}) after "
                            "it was included; it may still be finalized",
                        )  # fmt: skip
                    watching = False  # in a block, or was: the chain decides from here
        finally:
            self.close()

    def close(self) -> None:
        if self._ws is not None:
            try:
                self._ws.close(timeout=0.5)
            except _CONNECTION_ERRORS:
                pass
            self._ws = None


def _status(status: Any) -> tuple[str, Any]:
    """(lower-case name, value) of a transaction status: ``{"inBlock": hash}`` or
    ``"dropped"``."""
    if isinstance(status, dict) and len(status) == 1:
        ((name, value),) = status.items()
        return str(name).lower(), value
    if isinstance(status, str):
        return status.lower(), None
    return "", None


def _probe(probe: Probe | None) -> tuple[str, bool] | None:
    """*probe*'s answer; None when there is none, or when asking the chain failed (the
    watch goes on: a failed read of the chain is not a failed extrinsic)."""
    if probe is None:
        return None
    try:
        return probe()
    except (CcnetError, ValueError, KeyError, TypeError) as err:
        logger.info("looking for the extrinsic on chain failed: %s", err)
        return None
