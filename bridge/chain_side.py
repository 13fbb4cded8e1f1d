"""The chain side of the bridge: the treasury's transfers and the workers' signed ones,
each included at most once, through :class:`ccnet.client.Chain`.

Exactly once on chain: a signed extrinsic carries its signer's nonce, so the chain
includes those bytes at most once. The bridge stores the bytes (and the first block that
may include them) before it submits them; after a crash it looks for their hash in the
blocks since, and if they are not there it either submits the same bytes again (the
nonce is still free) or knows they can never land (another extrinsic used the nonce).
Extrinsics are immortal (no era), so stored bytes never expire.
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass
from enum import Enum
from typing import Any

from scalecodec.base import ScaleBytes

from ccnet.client import Chain, ChainEvent, ChainRequestError, Keypair
from ccnet.client.events import fee_of
from ccnet.client.signing import address_of

from .exceptions import TransferMismatchError

__all__ = ["Landed", "Resolution", "SignedTransfer", "TransferCall", "TreasuryChain"]

logger = logging.getLogger(__name__)

TRANSFER_CALLS = frozenset({"transfer_keep_alive", "transfer_allow_death"})
_POOL_HAS_IT = ("already imported", "temporarily banned", "Transaction Already Imported")


def extrinsic_hash(hex_data: str) -> str:
    """``0x`` + Blake2-256 of the encoded extrinsic (what blocks and receipts name)."""
    data = bytes.fromhex(hex_data.removeprefix("0x"))
    return "0x" + hashlib.blake2b(data, digest_size=32).hexdigest()


@dataclass(frozen=True)
class SignedTransfer:
    """A transfer signed by the treasury, not yet known to be on chain."""

    extrinsic: str
    extrinsic_hash: str
    nonce: int
    scan_from: int


@dataclass(frozen=True)
class TransferCall:
    """What a signed ``Balances.transfer_*`` extrinsic does."""

    signer: str
    dest: str
    value: int
    nonce: int
    call: str
    immortal: bool


@dataclass(frozen=True)
class Landed:
    """An extrinsic found in a block."""

    block_hash: str
    block_number: int
    events: list[ChainEvent]
    fee: int
    """Planck its signer paid."""
    error: str | None
    """``Pallet.Error`` if it failed in the runtime (the fee was still paid)."""

    def transferred(self, source: str, dest: str) -> int:
        """Planck moved *source* -> *dest* by its ``Balances.Transfer`` events."""
        return sum(
            int(e.attributes.get("amount", 0))
            for e in self.events
            if (e.pallet, e.name) == ("Balances", "Transfer")
            and e.attributes.get("from") == source
            and e.attributes.get("to") == dest
        )


class Resolution(Enum):
    """Where a stored signed extrinsic stands."""

    PENDING = "pending"
    """Not in a block, and its nonce is still free: submit it (again)."""
    GONE = "gone"
    """Not in a block, and its nonce was used by another extrinsic: it never will be."""


class TreasuryChain:
    """The treasury account on *chain*, signing with *treasury* (the custodian's key)."""

    def __init__(self, chain: Chain, treasury: Keypair | None) -> None:
        self.chain = chain
        self.keypair = treasury
        self.address = str(treasury.ss58_address) if treasury is not None else ""

    # -- reads -----------------------------------------------------------------------------

    def free_balance(self, address: str) -> int:
        return self.chain.free_balance(address)

    def existential_deposit(self) -> int:
        return int(self.chain.constant("Balances", "ExistentialDeposit"))

    def nonce(self, address: str, block_hash: str | None = None) -> int:
        """The account's nonce in *block_hash* (default: best block): extrinsics it
        already signed that landed."""
        account = self.chain.query("System", "Account", [address], block_hash=block_hash)
        return int(account["nonce"]) if account else 0

    def decode_transfer(self, hex_data: str) -> TransferCall:
        """Decode a signed balances transfer; :class:`TransferMismatchError` if it is not
        one (unsigned, another call, or undecodable)."""
        chain = self.chain
        try:
            with chain.lock:
                obj = chain.api.create_scale_object(
                    "Extrinsic", data=ScaleBytes(hex_data), metadata=chain.api.metadata
                )
                value: dict[str, Any] = obj.decode()
        except Exception as err:  # scalecodec raises many types for garbage input
            raise TransferMismatchError(f"not a signed extrinsic: {err}") from None
        call = value.get("call") or {}
        if not value.get("signature") or not value.get("address"):
            raise TransferMismatchError("the transfer is not signed")
        if call.get("call_module") != "Balances" or call.get("call_function") not in TRANSFER_CALLS:
            raise TransferMismatchError(
                f"not a balances transfer: {call.get('call_module')}.{call.get('call_function')}"
            )
        args = {a["name"]: a["value"] for a in call.get("call_args", [])}
        dest, signer = args.get("dest"), value.get("address")
        try:
            return TransferCall(
                signer=_address(signer),
                dest=_address(dest),
                value=int(args["value"]),
                nonce=int(value.get("nonce") or 0),
                call=str(call["call_function"]),
                immortal=value.get("era") in ("00", None, {"period": 0}, "Immortal"),
            )
        except (KeyError, TypeError, ValueError) as err:
            raise TransferMismatchError(f"cannot read the transfer: {err}") from None

    # -- treasury transfers ----------------------------------------------------------------

    def sign_transfer(self, dest: str, planck: int) -> SignedTransfer:
        """Sign ``Balances.transfer_keep_alive(dest, planck)`` with the treasury's next
        nonce (immortal). Nothing is submitted."""
        assert self.keypair is not None, "no treasury key configured"
        chain = self.chain
        nonce = chain.account_next_index(self.address)
        scan_from = chain.block_number()
        with chain.lock:
            call = chain.api.compose_call(
                call_module="Balances",
                call_function="transfer_keep_alive",
                call_params={"dest": dest, "value": planck},
            )
            extrinsic = chain.api.create_signed_extrinsic(
                call=call, keypair=self.keypair, nonce=nonce
            )
        hex_data = str(extrinsic.data)
        return SignedTransfer(hex_data, extrinsic_hash(hex_data), nonce, scan_from)

    # -- inclusion -------------------------------------------------------------------------

    def submit(self, hex_data: str) -> None:
        """Hand *hex_data* to the node. A pool that already holds it is fine; any other
        refusal raises :class:`ChainRequestError` (the caller then resolves it)."""
        try:
            self.chain.rpc("author_submitExtrinsic", [hex_data])
        except ChainRequestError as err:
            if any(marker.lower() in str(err).lower() for marker in _POOL_HAS_IT):
                return
            raise

    def find(self, ext_hash: str, scan_from: int, up_to: int | None = None) -> Landed | None:
        """The block among *scan_from* .. *up_to* (default: best) that includes
        *ext_hash*, with that extrinsic's events."""
        chain = self.chain
        last = chain.block_number() if up_to is None else up_to
        for number in range(max(scan_from, 0), last + 1):
            block_hash = chain.block_hash(number)
            block = chain.rpc("chain_getBlock", [block_hash])
            for index, raw in enumerate(block["block"]["extrinsics"]):
                if extrinsic_hash(raw) != ext_hash:
                    continue
                events = [
                    e
                    for e in chain.events_at(block_hash, block_number=number)
                    if e.extrinsic_index == index
                ]
                return Landed(block_hash, number, events, fee_of(events), _failure(events))
        return None

    def resolve(
        self, ext_hash: str, signer: str, nonce: int, scan_from: int
    ) -> Landed | Resolution:
        """Where a stored extrinsic stands (see :class:`Resolution`)."""
        head_hash = self.chain.block_hash()
        head = int(self.chain.rpc("chain_getHeader", [head_hash])["number"], 16)
        landed = self.find(ext_hash, scan_from, head)
        if landed is not None:
            return landed
        if self.nonce(signer, head_hash) > nonce:
            return Resolution.GONE
        return Resolution.PENDING

    def settle(
        self,
        hex_data: str,
        signer: str,
        nonce: int,
        scan_from: int,
        *,
        timeout: float = 30.0,
        poll: float = 0.2,
    ) -> Landed | Resolution:
        """Submit (again, if needed) and wait up to *timeout* s: the landed extrinsic,
        :attr:`Resolution.GONE`, or :attr:`Resolution.PENDING` (still waiting)."""
        ext_hash = extrinsic_hash(hex_data)
        state = self.resolve(ext_hash, signer, nonce, scan_from)
        if state is not Resolution.PENDING:
            return state
        try:
            self.submit(hex_data)
        except ChainRequestError as err:
            logger.info("node refused %s: %s", ext_hash, err)
            state = self.resolve(ext_hash, signer, nonce, scan_from)
            if state is Resolution.PENDING:
                raise
            return state
        deadline = time.monotonic() + timeout
        while True:
            state = self.resolve(ext_hash, signer, nonce, scan_from)
            if state is not Resolution.PENDING or time.monotonic() > deadline:
                return state
            time.sleep(poll)


def _address(value: Any) -> str:
    """An SS58 address from a decoded ``MultiAddress`` / AccountId (str, dict or hex)."""
    if isinstance(value, dict):
        value = value.get("Id") or next(iter(value.values()))
    text = str(value)
    if text.startswith("0x") and len(text) == 66:
        return address_of(bytes.fromhex(text[2:]))
    return text


def _failure(events: list[ChainEvent]) -> str | None:
    for event in events:
        if (event.pallet, event.name) == ("System", "ExtrinsicFailed"):
            return str(event.attributes.get("dispatch_error", "failed"))
    return None
