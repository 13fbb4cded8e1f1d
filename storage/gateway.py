"""An Arweave gateway client: price, anchor, post, chunked upload, status and fetch.

Source: the Arweave HTTP API (``GET /info``, ``/price/{bytes}``, ``/tx_anchor``,
``POST /tx``, ``POST /chunk``, ``GET /tx/{id}``, ``/tx/{id}/status``, ``/{id}``) and
arweave-js ``transaction-uploader.ts`` (a transaction whose data fits one chunk carries it
inline; bigger data goes up chunk by chunk after the header). In dev the gateway is
arlocal (:mod:`ccnet.storage.devgateway`), which adds ``/mint/{address}/{winston}`` and
``/mine``.

Every request has timeouts (connect, read, write, pool) and is retried with exponential
backoff (:class:`~ccnet.storage.retry.RetryPolicy`) when the gateway cannot be reached,
times out or answers 429/5xx; then :class:`GatewayUnavailableError` is raised. Other answers
outside 2xx raise :class:`GatewayRejectedError` at once. Uploads resume from a chunk index
(:meth:`ArweaveGateway.upload`), and a re-post of a header the gateway already took is
a success. Blocking (httpx); from asyncio use ``asyncio.to_thread``.
"""

from __future__ import annotations

import enum
import json
import logging
import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import httpx

from .encoding import b64url_encode
from .exceptions import GatewayRejectedError, GatewayUnavailableError, IntegrityError
from .merkle import TransactionChunks, generate_transaction_chunks
from .retry import RetryPolicy
from .transaction import DataTransaction, Tag, sign_data_transaction
from .wallet import ArweaveWallet

__all__ = [
    "DEFAULT_GATEWAY_URL",
    "DEFAULT_TIMEOUT",
    "GATEWAY_URL_ENV",
    "ArweaveGateway",
    "Progress",
    "TxState",
    "TxStatus",
    "gateway_url",
]

logger = logging.getLogger(__name__)

DEFAULT_GATEWAY_URL = "http://127.0.0.1:1984"
"""arlocal as the project's scripts start it."""
GATEWAY_URL_ENV = "CCNET_ARWEAVE_URL"
DEFAULT_TIMEOUT = httpx.Timeout(connect=5.0, read=30.0, write=30.0, pool=5.0)
"""Seconds per request phase."""
INLINE_LIMIT = 10 * 1024 * 1024
"""Largest data a dev gateway takes inline (arlocal accepts 12 MB in a 15 MB JSON body)."""

Progress = Callable[[int, int], None]
"""Called with (bytes done, bytes in all) while data moves; done may go back on a retry."""


def gateway_url(url: str | None = None) -> str:
    """*url*, else ``$CCNET_ARWEAVE_URL``, else arlocal's default, without trailing /."""
    return (url or os.environ.get(GATEWAY_URL_ENV) or DEFAULT_GATEWAY_URL).rstrip("/")


class TxState(enum.Enum):
    """Where a transaction is, as the gateway sees it."""

    NOT_FOUND = "not found"
    PENDING = "pending"
    CONFIRMED = "confirmed"


@dataclass(frozen=True)
class TxStatus:
    """A transaction's state, with its block once confirmed."""

    state: TxState
    block_height: int | None = None
    confirmations: int = 0


class ArweaveGateway:
    """A connection to one Arweave gateway (arlocal in dev, a real gateway otherwise).

    Use as a context manager or call :meth:`close`. *dev* marks an arlocal gateway:
    :meth:`wait_for` mines pending transactions itself, and data whose chunks repeat
    goes up inline (arlocal merges equal chunks of one data root, which would corrupt it).
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        dev: bool = False,
        timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = None,
        confirm_timeout: float = 120.0,
        poll_interval: float = 0.5,
        require_confirmation: bool = True,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.__url = gateway_url(url)
        self.__dev = dev
        self.__retry = retry or RetryPolicy()
        self.__confirm_timeout = confirm_timeout
        self.__poll_interval = poll_interval
        self.__require_confirmation = require_confirmation
        self.__client = httpx.Client(
            base_url=self.__url,
            timeout=timeout if isinstance(timeout, httpx.Timeout) else httpx.Timeout(timeout),
            transport=transport,
            follow_redirects=True,
        )

    @property
    def url(self) -> str:
        """Base URL of the gateway."""
        return self.__url

    @property
    def dev(self) -> bool:
        """Whether this is an arlocal dev gateway."""
        return self.__dev

    def close(self) -> None:
        """Close the HTTP connections."""
        self.__client.close()

    def __enter__(self) -> ArweaveGateway:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # --- requests -----------------------------------------------------------------

    def _attempts(self) -> Iterator[None]:
        """Yield once per attempt; sleep between them; raise GatewayUnavailableError after."""
        delays = self.__retry.delays()
        while True:
            yield
            delay = next(delays, None)
            if delay is None:
                return
            time.sleep(delay)

    def _request(
        self, method: str, path: str, *, body: Mapping[str, Any] | None = None
    ) -> httpx.Response:
        """One request with retries; returns any response that is not 429/5xx."""
        content = json.dumps(body).encode() if body is not None else None
        headers = {"content-type": "application/json"} if body is not None else None
        cause = "no attempt"
        for _ in self._attempts():
            try:
                response = self.__client.request(method, path, content=content, headers=headers)
            except httpx.TransportError as err:
                cause = f"{type(err).__name__}: {err}" if str(err) else type(err).__name__
                logger.debug("%s %s%s failed: %s", method, self.__url, path, cause)
                continue
            if response.status_code == 429 or response.status_code >= 500:
                cause = f"HTTP {response.status_code} {response.text[:200]!r}"
                logger.debug("%s %s%s: %s", method, self.__url, path, cause)
                continue
            return response
        raise GatewayUnavailableError(
            f"Arweave gateway unavailable: {method} {path} failed {self.__retry.attempts} "
            f"times, last: {cause}",
            url=self.__url,
        )

    def _get_ok(self, path: str, what: str) -> httpx.Response:
        response = self._request("GET", path)
        if response.status_code != 200:
            raise GatewayRejectedError(
                f"{what} failed", url=self.__url, status=response.status_code, body=response.text
            )
        return response

    # --- simple reads ---------------------------------------------------------------

    def info(self) -> dict[str, Any]:
        """``GET /info``: network name, height, current block."""
        value = self._get_ok("/info", "info").json()
        if not isinstance(value, dict):
            raise GatewayRejectedError("info is not an object", url=self.__url, status=200)
        return value

    def price(self, size: int) -> int:
        """Fee in winston to store *size* bytes."""
        return int(self._get_ok(f"/price/{size}", "price").text.strip())

    def anchor(self) -> str:
        """A recent block hash to anchor a new transaction (``last_tx``)."""
        return self._get_ok("/tx_anchor", "tx_anchor").text.strip()

    def balance(self, address: str) -> int:
        """Balance of wallet *address*, winston."""
        return int(self._get_ok(f"/wallet/{address}/balance", "balance").text.strip())

    def mint(self, address: str, winston: int) -> int:
        """Dev gateway only: add *winston* to *address*; returns the new balance."""
        return int(self._get_ok(f"/mint/{address}/{winston}", "mint").text.strip())

    def mine(self, blocks: int = 1) -> None:
        """Dev gateway only: mine *blocks* blocks with every pending transaction."""
        self._get_ok(f"/mine/{blocks}", "mine")

    def transaction(self, tx_id: str) -> DataTransaction | None:
        """The header of *tx_id* (pending or confirmed), or None if the gateway has none."""
        response = self._request("GET", f"/tx/{tx_id}")
        if response.status_code == 404:
            return None
        if response.status_code == 202:  # a real gateway's "Pending"
            return None if not response.content.strip().startswith(b"{") else _tx(response)
        if response.status_code != 200:
            raise GatewayRejectedError(
                "get transaction failed",
                url=self.__url,
                status=response.status_code,
                body=response.text,
            )
        return _tx(response)

    def status(self, tx_id: str) -> TxStatus:
        """Whether *tx_id* is unknown, pending or confirmed (with its block)."""
        response = self._request("GET", f"/tx/{tx_id}/status")
        if response.status_code == 404:
            return TxStatus(TxState.NOT_FOUND)
        if response.status_code not in (200, 202):
            raise GatewayRejectedError(
                "status failed", url=self.__url, status=response.status_code, body=response.text
            )
        try:
            value = response.json()
        except ValueError:
            value = None
        if not isinstance(value, dict) or "block_height" not in value:
            return TxStatus(TxState.PENDING)  # 202, or arlocal's 200 "Pending"
        return TxStatus(
            TxState.CONFIRMED,
            block_height=int(value["block_height"]),
            confirmations=int(value.get("number_of_confirmations", 0)),
        )

    # --- writes ----------------------------------------------------------------------

    def create_transaction(
        self,
        wallet: ArweaveWallet,
        data: bytes,
        tags: Sequence[Tag] | Mapping[str, str],
        *,
        chunks: TransactionChunks | None = None,
    ) -> tuple[DataTransaction, TransactionChunks]:
        """Sign a data transaction for *data* at the gateway's price and anchor."""
        chunks = chunks or generate_transaction_chunks(data)
        tx = sign_data_transaction(
            wallet,
            data_root=chunks.data_root,
            data_size=len(data),
            tags=tags,
            reward=self.price(len(data)),
            last_tx=self.anchor(),
        )
        return tx, chunks

    def post_transaction(self, tx: DataTransaction, data: bytes | None = None) -> None:
        """``POST /tx`` the header, with *data* inline if given. A header the gateway
        already holds (from an earlier attempt) counts as posted."""
        response = self._request("POST", "/tx", body=tx.to_json(data))
        if response.status_code in (200, 208):
            return
        if self.status(tx.id).state is not TxState.NOT_FOUND:
            logger.debug("transaction %s was already posted", tx.id)
            return
        raise GatewayRejectedError(
            f"gateway refused transaction {tx.id}",
            url=self.__url,
            status=response.status_code,
            body=response.text,
        )

    def post_chunk(
        self, tx: DataTransaction, chunks: TransactionChunks, index: int, data: bytes
    ) -> None:
        """``POST /chunk`` chunk *index* of *data* with its proof."""
        chunk, proof = chunks.chunks[index], chunks.proofs[index]
        body = {
            "data_root": b64url_encode(tx.data_root),
            "data_size": str(tx.data_size),
            "data_path": b64url_encode(proof.proof),
            "offset": str(proof.offset),
            "chunk": b64url_encode(data[chunk.start : chunk.end]),
        }
        response = self._request("POST", "/chunk", body=body)
        if response.status_code not in (200, 208):
            raise GatewayRejectedError(
                f"gateway refused chunk {index} of {tx.id}",
                url=self.__url,
                status=response.status_code,
                body=response.text,
            )

    def uploads_inline(self, chunks: TransactionChunks, size: int) -> bool:
        """Whether data with these chunks goes up inside the header (one chunk, i.e.
        at most 256 KiB; or, on a dev gateway, repeated chunks) rather than by ``/chunk``."""
        if len(chunks.chunks) <= 1:
            return True
        if self.__dev and size <= INLINE_LIMIT:
            hashes = [chunk.data_hash for chunk in chunks.chunks]
            return len(set(hashes)) < len(hashes)
        return False

    def upload(
        self,
        tx: DataTransaction,
        data: bytes,
        chunks: TransactionChunks | None = None,
        *,
        post_header: bool = True,
        start_chunk: int = 0,
        on_chunk: Callable[[int], None] | None = None,
        on_progress: Progress | None = None,
    ) -> None:
        """Send *tx* and its *data*: inline when it fits one chunk, else the header and
        then each chunk from *start_chunk* on, in order.

        To resume an upload cut short, pass ``post_header=False`` (the gateway has the
        header) and the first chunk not known to have arrived. *on_chunk(n)* is called
        once chunks ``[0, n)`` have arrived. ValueError if *data* does not match *tx*."""
        chunks = chunks or generate_transaction_chunks(data)
        if len(data) != tx.data_size or chunks.data_root != tx.data_root:
            raise ValueError("data does not match the transaction's data_size/data_root")
        total = len(data)
        if self.uploads_inline(chunks, total):
            if post_header:
                self.post_transaction(tx, data)
            if on_chunk:
                on_chunk(len(chunks.chunks))
            if on_progress:
                on_progress(total, total)
            return
        if post_header:
            self.post_transaction(tx)
        done = chunks.chunks[start_chunk - 1].end if start_chunk > 0 else 0
        if on_progress:
            on_progress(done, total)
        for index in range(start_chunk, len(chunks.chunks)):
            self.post_chunk(tx, chunks, index, data)
            if on_chunk:
                on_chunk(index + 1)
            if on_progress:
                on_progress(chunks.chunks[index].end, total)

    # --- confirmation and retrieval ----------------------------------------------------

    def wait_for(self, tx_id: str, *, timeout: float | None = None) -> TxStatus:
        """Poll until the gateway holds *tx_id* confirmed (or, if confirmation is not
        required, at least pending). A dev gateway mines pending transactions.
        :class:`GatewayUnavailableError` after *timeout* seconds (default: confirm_timeout)."""
        limit = self.__confirm_timeout if timeout is None else timeout
        deadline = time.monotonic() + limit
        delay = self.__poll_interval
        mined = False
        while True:
            status = self.status(tx_id)
            if status.state is TxState.CONFIRMED:
                return status
            if status.state is TxState.PENDING:
                if not self.__require_confirmation:
                    return status
                if self.__dev and not mined:
                    self.mine()
                    mined = True
                    continue
            if time.monotonic() >= deadline:
                raise GatewayUnavailableError(
                    f"transaction {tx_id} not confirmed within {limit:.0f}s "
                    f"(last state: {status.state.value})",
                    url=self.__url,
                )
            time.sleep(delay)
            delay = min(delay * 1.5, 5.0)
            mined = False

    def fetch(
        self,
        tx_id: str,
        *,
        expected_size: int | None = None,
        on_progress: Progress | None = None,
    ) -> bytes:
        """The data of *tx_id* (``GET /{id}``), streamed; retried from the start on
        transport errors and 429/5xx. :class:`IntegrityError` as soon as more than
        *expected_size* bytes arrive; :class:`GatewayRejectedError` on 404 and other 4xx."""
        total = expected_size or 0
        cause = "no attempt"
        for _ in self._attempts():
            try:
                with self._stream(f"/{tx_id}") as response:
                    if response.status_code == 204:
                        return b""
                    if response.status_code == 429 or response.status_code >= 500:
                        cause = f"HTTP {response.status_code}"
                        continue
                    if response.status_code != 200:
                        response.read()
                        raise GatewayRejectedError(
                            f"data of {tx_id} not available",
                            url=self.__url,
                            status=response.status_code,
                            body=response.text,
                        )
                    buffer = bytearray()
                    for part in response.iter_bytes():
                        buffer += part
                        if expected_size is not None and len(buffer) > expected_size:
                            raise IntegrityError(
                                f"gateway sent more data for {tx_id} than recorded",
                                expected=f"{expected_size} bytes",
                                actual=f"at least {len(buffer)} bytes",
                            )
                        if on_progress:
                            on_progress(len(buffer), total or len(buffer))
                    return bytes(buffer)
            except httpx.TransportError as err:
                cause = f"{type(err).__name__}: {err}" if str(err) else type(err).__name__
                logger.debug("GET %s/%s failed: %s", self.__url, tx_id, cause)
        raise GatewayUnavailableError(
            f"Arweave gateway unavailable: GET /{tx_id} failed {self.__retry.attempts} times, "
            f"last: {cause}",
            url=self.__url,
        )

    @contextmanager
    def _stream(self, path: str) -> Iterator[httpx.Response]:
        with self.__client.stream("GET", path) as response:
            yield response


def _tx(response: httpx.Response) -> DataTransaction:
    try:
        return DataTransaction.from_json(response.json())
    except (KeyError, TypeError, ValueError) as err:
        raise GatewayRejectedError(
            f"malformed transaction header: {err}", status=response.status_code, body=response.text
        ) from None
