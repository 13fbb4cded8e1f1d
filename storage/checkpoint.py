"""Checkpoints: state bytes stored on Arweave, anchored on chain, found again on resume.

:meth:`CheckpointStore.save` (Arweave transactions: https://docs.arweave.org/developers/):

1. hash the bytes (blake2b-256, the pallet's ``state_hash``);
2. sign an Arweave data transaction tagged ``App-Name``, ``Type``, ``State-Hash`` (plus
   the checkpoint's metadata) and upload it (chunked above 256 KiB), resuming a pending
   upload of the same bytes from the :class:`~ccnet.storage.journal.UploadJournal`;
3. wait until the gateway has it, fetch it back and check the hash (:class:`IntegrityError`
   if the gateway serves other bytes);
4. record ``(state_hash, tx_id, size)`` with the Checkpoints pallet, then fill the cache.

Nothing is recorded on chain before step 3 succeeds, so a failure or ``kill -9`` at any
point leaves the previous record in place. :meth:`CheckpointStore.restore` reads the
owner's latest record, takes the bytes from the local cache or else from the gateway,
and returns them only if their size and hash match the record.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from functools import cached_property
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Protocol

from .cache import LocalCache
from .exceptions import CheckpointNotFoundError, IntegrityError
from .gateway import ArweaveGateway, TxState
from .hashing import hash_hex, state_hash
from .journal import PendingUpload, UploadJournal
from .merkle import TransactionChunks, generate_transaction_chunks
from .transaction import DataTransaction, Tag
from .wallet import ArweaveWallet

if TYPE_CHECKING:
    from ccnet.client import CheckpointRecord, JobCheckpointRecord, Keypair, Receipt

__all__ = [
    "APP_NAME",
    "DEFAULT_TYPE",
    "RESERVED_TAGS",
    "ChainWithCheckpoints",
    "Checkpoint",
    "CheckpointStore",
    "PhaseProgress",
    "SavedCheckpoint",
]

logger = logging.getLogger(__name__)

APP_NAME = "ccnet"
"""Value of the ``App-Name`` tag."""
DEFAULT_TYPE = "checkpoint"
"""Value of the ``Type`` tag unless the metadata sets one."""
RESERVED_TAGS = frozenset({"App-Name", "State-Hash", "Content-Type"})
"""Tags the store sets itself; metadata may not use them."""

PhaseProgress = Callable[[str, int, int], None]
"""Called with (phase, bytes done, bytes in all); phases ``upload``, ``verify``
(save's re-fetch) and ``download`` (restore from the gateway)."""


class CheckpointsApi(Protocol):
    """What the store needs of ``chain.checkpoints`` (:class:`ccnet.client.Chain`)."""

    def record(
        self, keypair: Keypair, state_hash: bytes | str, arweave_tx_id: str | bytes, size: int
    ) -> Receipt: ...

    def record_job(
        self,
        keypair: Keypair,
        job_id: bytes,
        checkpoint: int,
        state_hash: bytes | str,
        arweave_tx_id: str | bytes,
        size: int,
    ) -> Receipt: ...

    def latest(self, owner: str) -> CheckpointRecord | None: ...

    def history(self, owner: str) -> list[CheckpointRecord]: ...

    def job_record(self, owner: str, job_id: bytes) -> JobCheckpointRecord | None: ...


class ChainWithCheckpoints(Protocol):
    """A chain connection with the Checkpoints pallet API (:class:`ccnet.client.Chain`)."""

    @property
    def checkpoints(self) -> CheckpointsApi: ...


@dataclass(frozen=True)
class Checkpoint:
    """State bytes (a stopped VM's or job's) plus text metadata, stored as extra tags."""

    data: bytes
    metadata: Mapping[str, str] = field(default_factory=dict)
    """Tag name -> value, both non-empty text; ``Type`` overrides the default type."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "metadata", MappingProxyType(dict(self.metadata)))
        for name, value in self.metadata.items():
            if name in RESERVED_TAGS:
                raise ValueError(f"metadata may not set the {name!r} tag")
            if not name or not value:
                raise ValueError(f"metadata names and values must not be empty: {name!r}")

    @cached_property
    def state_hash(self) -> bytes:
        """blake2b-256 of :attr:`data`, 32 bytes."""
        return state_hash(self.data)

    @property
    def size(self) -> int:
        """Bytes."""
        return len(self.data)

    def tags(self) -> tuple[Tag, ...]:
        """The Arweave tags of the upload."""
        extra = {k: v for k, v in self.metadata.items() if k != "Type"}
        return (
            Tag("App-Name", APP_NAME),
            Tag("Type", self.metadata.get("Type", DEFAULT_TYPE)),
            Tag("State-Hash", hash_hex(self.state_hash)),
            Tag("Content-Type", "application/octet-stream"),
            *(Tag(name, value) for name, value in extra.items()),
        )


@dataclass(frozen=True)
class SavedCheckpoint:
    """A checkpoint stored on Arweave and recorded on chain."""

    state_hash: bytes
    tx_id: str
    """Arweave transaction id."""
    size: int
    """Bytes."""
    block_hash: str
    """Chain block (0x hex) that holds the record."""
    resumed: bool = False
    """Whether an upload cut short earlier was resumed rather than started anew."""

    def as_dict(self) -> dict[str, Any]:
        """A JSON-friendly dict."""
        return {
            "state_hash": hash_hex(self.state_hash),
            "tx_id": self.tx_id,
            "size": self.size,
            "block_hash": self.block_hash,
            "resumed": self.resumed,
        }


def _check(data: bytes, *, expected_hash: bytes, expected_size: int, where: str) -> None:
    if len(data) != expected_size:
        raise IntegrityError(
            f"checkpoint from {where} has the wrong size",
            expected=f"{expected_size} bytes",
            actual=f"{len(data)} bytes",
        )
    actual = state_hash(data)
    if actual != expected_hash:
        raise IntegrityError(
            f"checkpoint from {where} does not match its state hash",
            expected=hash_hex(expected_hash),
            actual=hash_hex(actual),
        )


class CheckpointStore:
    """Saves and restores the checkpoints of one chain account (*keypair*).

    *chain* is a :class:`ccnet.client.Chain` (or anything with its ``checkpoints`` API);
    *keypair* signs the records (None: a read-only store, which restores by owner);
    *wallet* pays for the Arweave uploads (None: read-only); *cache* holds checkpoints
    locally; *journal* (default: ``uploads/`` in the cache folder) makes interrupted
    uploads resumable.
    Blocking; from asyncio use ``asyncio.to_thread``.
    """

    def __init__(
        self,
        chain: ChainWithCheckpoints,
        keypair: Keypair | None,
        gateway: ArweaveGateway,
        wallet: ArweaveWallet | None,
        cache: LocalCache,
        *,
        journal: UploadJournal | None = None,
    ) -> None:
        self.__chain = chain
        self.__keypair = keypair
        self.__gateway = gateway
        self.__wallet = wallet
        self.__cache = cache
        self.__journal = journal or UploadJournal(cache.root / "uploads")

    @property
    def owner(self) -> str:
        """SS58 address of the account the checkpoints are recorded for; ValueError for
        a read-only store."""
        address: str = self._keypair().ss58_address
        return address

    def _keypair(self) -> Keypair:
        if self.__keypair is None:
            raise ValueError("this checkpoint store has no keypair: name the owner")
        return self.__keypair

    def _wallet(self) -> ArweaveWallet:
        if self.__wallet is None:
            raise ValueError("this checkpoint store has no Arweave wallet: it cannot save")
        return self.__wallet

    @property
    def cache(self) -> LocalCache:
        """The local cache."""
        return self.__cache

    @property
    def journal(self) -> UploadJournal:
        """The journal of uploads not yet recorded."""
        return self.__journal

    # --- save -------------------------------------------------------------------------

    def save(
        self,
        checkpoint: Checkpoint,
        *,
        job: tuple[bytes, int] | None = None,
        on_progress: PhaseProgress | None = None,
        before_record: Callable[[], None] | None = None,
    ) -> SavedCheckpoint:
        """Upload *checkpoint*, prove it retrievable, record it on chain, cache it.
        With *job* (its 16-byte id, the image's sequence number), the record is that
        job's newest (``record_job``: the first one holds a deposit), not the account's.

        Raises :class:`GatewayUnavailableError` / :class:`GatewayRejectedError` (nothing recorded),
        :class:`IntegrityError` if the gateway serves other bytes than uploaded (nothing
        recorded), and the chain's errors (:class:`ccnet.client.CheckpointsError` ...)
        from the record step; a later save of the same bytes then resumes.
        *before_record* is called after the upload is verified and before the record
        (what it raises is raised, and nothing is recorded)."""
        keypair, wallet = self._keypair(), self._wallet()
        data, key = checkpoint.data, checkpoint.state_hash
        chunks = generate_transaction_chunks(data)
        tags = checkpoint.tags()
        pending = self._resumable(key, chunks, tags, wallet)
        resumed = pending is not None
        if pending is None:
            tx, _ = self.__gateway.create_transaction(wallet, data, tags, chunks=chunks)
            pending = PendingUpload(state_hash=key, tx=tx)
            self.__journal.put(pending)  # before anything is posted
            logger.info("uploading checkpoint %s as %s", hash_hex(key), tx.id)
        else:
            logger.info(
                "resuming upload of %s (%s) at chunk %d",
                hash_hex(key),
                pending.tx.id,
                pending.chunks_done,
            )
        tx = pending.tx
        journal_entry = pending

        def chunk_done(count: int) -> None:
            nonlocal journal_entry
            journal_entry = replace(journal_entry, chunks_done=count)
            self.__journal.put(journal_entry)

        self.__gateway.upload(
            tx,
            data,
            chunks,
            post_header=not resumed,
            start_chunk=pending.chunks_done,
            on_chunk=chunk_done,
            on_progress=_phase(on_progress, "upload"),
        )
        self.__gateway.wait_for(tx.id)
        try:
            fetched = self.__gateway.fetch(
                tx.id, expected_size=len(data), on_progress=_phase(on_progress, "verify")
            )
            _check(fetched, expected_hash=key, expected_size=len(data), where="the gateway")
        except IntegrityError:
            self.__journal.remove(key)  # that transaction is bad: the next save starts anew
            raise
        if before_record is not None:
            before_record()  # may raise: uploaded, but nothing recorded
        if job is None:
            receipt = self.__chain.checkpoints.record(keypair, key, tx.id, len(data))
        else:
            job_id, number = job
            receipt = self.__chain.checkpoints.record_job(
                keypair, job_id, number, key, tx.id, len(data)
            )
        self.__journal.remove(key)
        self._cache_put(data, key)
        logger.info("checkpoint %s recorded in block %s", hash_hex(key), receipt.block_hash)
        return SavedCheckpoint(
            state_hash=key,
            tx_id=tx.id,
            size=len(data),
            block_hash=receipt.block_hash,
            resumed=resumed,
        )

    def _resumable(
        self, key: bytes, chunks: TransactionChunks, tags: tuple[Tag, ...], wallet: ArweaveWallet
    ) -> PendingUpload | None:
        pending = self.__journal.get(key)
        if pending is None:
            return None
        tx: DataTransaction = pending.tx
        same = (
            tx.owner == wallet.owner
            and tx.data_root == chunks.data_root
            and tx.tags == tags
            and 0 <= pending.chunks_done <= len(chunks.chunks)
        )
        if same and self.__gateway.status(tx.id).state is not TxState.NOT_FOUND:
            return pending
        logger.info("pending upload %s cannot be resumed; starting anew", tx.id)
        self.__journal.remove(key)
        return None

    # --- restore ----------------------------------------------------------------------

    def latest(self, owner: str | None = None) -> CheckpointRecord | None:
        """The newest record of *owner* (default: this store's account), or None."""
        return self.__chain.checkpoints.latest(owner or self.owner)

    def history(self, owner: str | None = None) -> list[CheckpointRecord]:
        """Up to the 32 newest records of *owner*, oldest first."""
        return self.__chain.checkpoints.history(owner or self.owner)

    def job_record(self, owner: str, job_id: bytes) -> JobCheckpointRecord | None:
        """The newest record *owner* made for its job *job_id* (16 bytes), or None."""
        return self.__chain.checkpoints.job_record(owner, job_id)

    def restore(
        self, owner: str | None = None, *, on_progress: PhaseProgress | None = None
    ) -> bytes:
        """The bytes of the latest checkpoint of *owner* (default: this account).

        :class:`CheckpointNotFoundError` if there is none; :class:`IntegrityError` if the
        gateway's bytes do not match the record (never returned);
        :class:`GatewayUnavailableError` if they are not cached and the gateway is down."""
        who = owner or self.owner
        record = self.__chain.checkpoints.latest(who)
        if record is None:
            raise CheckpointNotFoundError(who)
        return self.fetch(record, on_progress=on_progress)

    def fetch(self, record: CheckpointRecord, *, on_progress: PhaseProgress | None = None) -> bytes:
        """The bytes *record* names: from the cache, else from the gateway (then cached),
        checked against the record's size and hash."""
        key = bytes.fromhex(record.state_hash.removeprefix("0x"))
        cached = self.__cache.get(key)  # verified against the key, or None
        if cached is not None and len(cached) == record.size:
            logger.debug("checkpoint %s from the cache", record.state_hash)
            return cached
        data = self.__gateway.fetch(
            record.arweave_tx_id,
            expected_size=record.size,
            on_progress=_phase(on_progress, "download"),
        )
        _check(data, expected_hash=key, expected_size=record.size, where="the gateway")
        self._cache_put(data, key)
        return data

    def _cache_put(self, data: bytes, key: bytes) -> None:
        try:
            self.__cache.put(data, key)
        except OSError as err:  # a full disk must not fail a save that is on chain
            logger.warning("could not cache checkpoint %s: %s", hash_hex(key), err)


def _phase(callback: PhaseProgress | None, phase: str) -> Callable[[int, int], None] | None:
    if callback is None:
        return None
    return lambda done, total: callback(phase, done, total)
