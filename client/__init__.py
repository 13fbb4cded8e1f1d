"""Client SDK and command line for the ccnet chain.

Usage (synchronous and thread-safe; from asyncio use ``await asyncio.to_thread(...)``)::

    from ccnet.client import CC, Chain, Keys, ChannelsError

    alice = Keys.from_uri("//Alice")              # or Keys.from_mnemonic / from_seed,
                                                  # or Keystore(path).load(name, passphrase)
    with Chain("ws://127.0.0.1:8000") as chain:   # ChainConnectionError if unreachable
        chain.credits.stake(alice, 20 * CC)       # -> Receipt (decoded events, fee)
        receipt = chain.tasks.post_task(alice, b"wasm", b"ar://input", b"sha256",
                                        bounty=10 * CC, deadline=chain.block_number() + 100,
                                        redundancy=1)
        task_id = receipt.find("Tasks", "TaskPosted").attributes["task_id"]
        chain.tasks.task(task_id)                 # -> TaskInfo | None
        chain.query("Credits", "Stakes", [alice.ss58_address])   # raw decoded storage
        chain.constant("Channels", "MinChallengePeriod")          # -> 10
        chain.new_blocks(20)                      # dev chain only (Chopsticks dev_newBlock)
        for event in chain.watch_events(["Disputes"], stop=stop_event):  # polling iterator
            ...

Amounts are ints in planck (``CC`` = 10**12). Addresses are SS58 strings (prefix 42),
hashes/ids 32 bytes (bytes or ``'0x..'``). A failed call raises a :class:`DispatchError`
subclass per pallet (``CreditsError`` ... ``DisputesError``) with ``.pallet``, ``.name``,
``.docs`` (the court's phase errors also as :class:`CourtTooEarlyError` /
:class:`CourtTooLateError`, mismatched reveals as :class:`BadRevealError`, bonded stake
as :class:`StakeBondedError`); a refused one :class:`ExtrinsicError`. Nonces are managed
per account and process (:mod:`ccnet.client.nonces`), so threads may submit from one
account at once.
CLI plumbing for command groups: :mod:`ccnet.client.commands._common`.
"""

import logging
from importlib import metadata as _metadata

from .blockticker import BlockTicker
from .chain import DEFAULT_URL, BlockEvents, Chain, EventSubscription, Wait
from .codec import as_bytes, h256
from .devchain import DevChain, DevChainInfo
from .events import ChainEvent, Receipt
from .exceptions import (
    BadRevealError,
    CallEncodingError,
    CcnetError,
    ChainConnectionError,
    ChainRequestError,
    ChannelsError,
    CheckpointsError,
    ClaimStakeError,
    CourtTooEarlyError,
    CourtTooLateError,
    CreditsError,
    DevChainError,
    DispatchError,
    DisputesError,
    ExtrinsicError,
    InvalidKeyError,
    KeyNotFoundError,
    KeystoreError,
    NotFoundError,
    SpecNotFoundError,
    StakeBondedError,
    TasksError,
)
from .keys import Keypair, Keys
from .keystore import Keystore
from .nonces import NonceManager
from .pallets import (
    ChannelInfo,
    CheckpointRecord,
    DisputeInfo,
    JobCheckpointRecord,
    StakeInfo,
    TaskInfo,
    WorkerInfo,
    channel_id_of,
)
from .signing import SS58_FORMAT

try:
    __version__ = _metadata.version("compute-currency")
except _metadata.PackageNotFoundError:  # pragma: no cover - running from a bare checkout
    __version__ = "0+unknown"

CC = 10**12
"""One CC in planck (12 decimals)."""

__all__ = [
    "CC",
    "DEFAULT_URL",
    "SS58_FORMAT",
    "BadRevealError",
    "BlockEvents",
    "BlockTicker",
    "CallEncodingError",
    "CcnetError",
    "Chain",
    "ChainConnectionError",
    "ChainEvent",
    "ChainRequestError",
    "ChannelInfo",
    "ChannelsError",
    "CheckpointRecord",
    "CheckpointsError",
    "ClaimStakeError",
    "CourtTooEarlyError",
    "CourtTooLateError",
    "CreditsError",
    "DevChain",
    "DevChainError",
    "DevChainInfo",
    "DispatchError",
    "DisputeInfo",
    "DisputesError",
    "EventSubscription",
    "ExtrinsicError",
    "InvalidKeyError",
    "KeyNotFoundError",
    "Keypair",
    "Keys",
    "Keystore",
    "KeystoreError",
    "NonceManager",
    "NotFoundError",
    "Receipt",
    "SpecNotFoundError",
    "StakeBondedError",
    "StakeInfo",
    "TaskInfo",
    "TasksError",
    "Wait",
    "WorkerInfo",
    "__version__",
    "as_bytes",
    "channel_id_of",
    "h256",
    "JobCheckpointRecord",
]

logging.getLogger(__name__).addHandler(logging.NullHandler())
