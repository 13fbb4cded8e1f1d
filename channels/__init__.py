"""Off-chain payment channels: states, the update protocol, durable storage, the
watchtower.

Modules: :mod:`.state` (states and signatures, exactly as pallet-channels checks them),
:mod:`.messages` (wire format), :mod:`.channel` (pure state machine: proposer-only
updates with cancellable refusals, and the cooperative close agreement),
:mod:`.store` (durable SQLite store), :mod:`.transport` (asyncio and in-memory
transports), :mod:`.party` (:class:`ChannelParty`, the asyncio glue and the chain
calls through :mod:`ccnet.client`), :mod:`.watchtower` (registers the newest state
against stale closes).

Dispute rule: the newest co-signed state registered before a close's challenge period
ends is paid out (latest version wins, as in Perun and Raiden; no penalty). The module
docs of :mod:`.channel` state what each side can lose and why.
"""

import logging

from .channel import MAX_VERSION, Channel, Policy, accept_all, accept_not_worse
from .exceptions import (
    BalanceError,
    ChannelError,
    ChannelStateError,
    CloseRefusedError,
    ClosingError,
    InDoubtError,
    MalformedMessageError,
    OversizeMessageError,
    PeerTimeoutError,
    PendingError,
    PersistError,
    PolicyRejectedError,
    ProposalRejectedError,
    ProposerError,
    ProtocolError,
    ReplayError,
    SignatureError,
    StoreLockedError,
    TransportClosedError,
    UnknownChannelError,
    VersionError,
    WatchtowerError,
    WrongChainError,
    WrongChannelError,
)
from .messages import (
    MAX_BATCH,
    MAX_BODY,
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
from .party import ChannelParty, Guardian, ProtocolIncident
from .state import (
    CLOSE_DOMAIN,
    STATE_DOMAIN,
    ChannelParams,
    ChannelState,
    ClosingAgreement,
    Party,
    SignedState,
    closing_payload,
    sign_close,
    sign_state,
    signing_payload,
    verify_close,
    verify_state,
)
from .store import ChannelStore, PersistStatus, SqliteChannelStore
from .transport import MemoryTransport, StreamTransport, Transport, connect, serve
from .updates import ChannelRecord, ChannelUpdate, PendingProposal, Phase, UpdateKind
from .watchtower import REGISTERED, Challenge, TowerClient, TowerStore, Watchtower

__all__ = [
    "CLOSE_DOMAIN",
    "MAX_BATCH",
    "MAX_BODY",
    "MAX_VERSION",
    "REGISTERED",
    "STATE_DOMAIN",
    "BalanceError",
    "Challenge",
    "Channel",
    "ChannelError",
    "ChannelParams",
    "ChannelParty",
    "ChannelRecord",
    "ChannelState",
    "ChannelStateError",
    "ChannelStore",
    "ChannelUpdate",
    "CloseAccept",
    "CloseRefusedError",
    "CloseRequest",
    "ClosingAgreement",
    "ClosingError",
    "Countersign",
    "CountersignBatch",
    "Guardian",
    "InDoubtError",
    "MalformedMessageError",
    "MemoryTransport",
    "Message",
    "OversizeMessageError",
    "Party",
    "PeerTimeoutError",
    "PendingError",
    "PendingProposal",
    "PersistError",
    "StoreLockedError",
    "PersistStatus",
    "Phase",
    "Policy",
    "PolicyRejectedError",
    "Propose",
    "ProposeBatch",
    "ProposalRejectedError",
    "ProposerError",
    "ProtocolError",
    "ProtocolIncident",
    "Reject",
    "ReplayError",
    "SignatureError",
    "SignedState",
    "SqliteChannelStore",
    "StreamTransport",
    "TowerClient",
    "TowerStore",
    "Transport",
    "TransportClosedError",
    "UnknownChannelError",
    "UpdateKind",
    "VersionError",
    "Watchtower",
    "WatchtowerError",
    "WrongChainError",
    "WrongChannelError",
    "accept_all",
    "accept_not_worse",
    "closing_payload",
    "connect",
    "decode",
    "encode",
    "serve",
    "sign_close",
    "sign_state",
    "signing_payload",
    "verify_close",
    "verify_state",
]

logging.getLogger(__name__).addHandler(logging.NullHandler())
