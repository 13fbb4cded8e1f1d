"""Checkpoint storage: state snapshots on Arweave, anchored by the Checkpoints pallet.

Usage (blocking; from asyncio use ``await asyncio.to_thread(...)``)::

    from ccnet.client import Chain, Keys
    from ccnet.storage import (ArweaveGateway, ArweaveWallet, Checkpoint, CheckpointStore,
                               LocalCache)

    alice = Keys.from_uri("//Alice")
    wallet = ArweaveWallet.load_or_create(Path(".state/arweave/wallet.json"))
    with Chain("ws://127.0.0.1:8000") as chain, ArweaveGateway(dev=True) as gateway:
        gateway.mint(wallet.address, 10**15)          # dev gateway (arlocal) only
        store = CheckpointStore(chain, alice, gateway, wallet,
                                LocalCache(Path(".state/checkpoints/cache")))
        saved = store.save(Checkpoint(state_bytes, {"Job": "42"}))  # -> SavedCheckpoint
        state = store.restore()                       # cache first, else the gateway

The Arweave parts are our own, small and checked against arweave-js (see
tests/vectors/arweave.json): :mod:`.merkle` (chunks and ``data_root``), :mod:`.deephash`,
:mod:`.transaction` (v2 data transactions), :mod:`.wallet` (RSA JWK via
``cryptography``) and :mod:`.gateway` (HTTP via ``httpx``, timeouts and retries).
:mod:`.devgateway` runs arlocal on 127.0.0.1 for dev and tests.
"""

import logging

from .cache import LocalCache
from .checkpoint import Checkpoint, CheckpointStore, SavedCheckpoint
from .devgateway import DevGateway, DevGatewayInfo
from .exceptions import (
    CheckpointNotFoundError,
    DevGatewayError,
    GatewayError,
    GatewayRejectedError,
    GatewayUnavailableError,
    IntegrityError,
    StorageError,
    WalletError,
)
from .gateway import ArweaveGateway, TxState, TxStatus
from .hashing import state_hash
from .journal import PendingUpload, UploadJournal
from .retry import RetryPolicy
from .transaction import DataTransaction, Tag
from .wallet import ArweaveWallet

__all__ = [
    "ArweaveGateway",
    "ArweaveWallet",
    "Checkpoint",
    "CheckpointNotFoundError",
    "CheckpointStore",
    "DataTransaction",
    "DevGateway",
    "DevGatewayError",
    "DevGatewayInfo",
    "GatewayError",
    "GatewayRejectedError",
    "GatewayUnavailableError",
    "IntegrityError",
    "LocalCache",
    "PendingUpload",
    "RetryPolicy",
    "SavedCheckpoint",
    "StorageError",
    "Tag",
    "TxState",
    "TxStatus",
    "UploadJournal",
    "WalletError",
    "state_hash",
]

logging.getLogger(__name__).addHandler(logging.NullHandler())
