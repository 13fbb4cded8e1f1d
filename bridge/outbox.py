"""The outbox: finishes every step the ledger has recorded as started, in order, again
after any crash.

One pass (:meth:`Outbox.run_once`) walks the rows that still have work, oldest first:

1. treasury transfers (credits after a card payment, refunds after a failed payout):
   sign and **store** the extrinsic, then submit it and record where it landed; a stored
   one is looked up first and submitted again only while its nonce is unused;
2. accepted payouts: submit the worker's signed transfer to the treasury; record it as
   taken, or reject the payout if it can never land (nothing was taken);
3. taken payouts: create the PayPal payout (idempotent ``sender_batch_id``); a refusal
   reverses the payout and queues the refund transfer;
4. sent payouts: read the item status until it is final.

Passes run one at a time (a lock), so the treasury signs one transfer after another and
its nonces stay in order. Processor and chain outages leave rows where they are; the next
pass retries them.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from ccnet.client import CC, CcnetError, ChainRequestError

from .chain_side import Landed, Resolution, TreasuryChain
from .exceptions import BridgeError, ProcessorError, ProcessorUnavailableError
from .faults import CrashPoints
from .ledger import Ledger
from .models import Payout, Transfer
from .paypal_side import FINAL_FAILED, PayPalGateway

__all__ = ["Outbox"]

logger = logging.getLogger(__name__)

MAX_REFUSALS = 5
"""Passes a worker's transfer may be refused by the node before its payout is rejected."""
FEE_MARGIN = CC // 10
"""Planck kept free for transaction fees beyond the existential deposit (0.1 CC)."""


class Outbox:
    """Drives :class:`Ledger` rows to completion against the chain and PayPal."""

    def __init__(
        self,
        ledger: Ledger,
        chain: TreasuryChain,
        paypal: PayPalGateway | None,
        *,
        crash: Callable[[str], None] | None = None,
        land_timeout: float = 30.0,
    ) -> None:
        self.ledger = ledger
        self.chain = chain
        self.paypal = paypal
        self.crash = crash or CrashPoints()
        self.land_timeout = land_timeout
        self._lock = threading.Lock()

    def run_once(self) -> None:
        """One pass over every open row (see module docs). Errors of one row are
        logged and leave it for the next pass."""
        with self._lock:
            for transfer in self.ledger.transfers():
                self._guard(f"transfer {transfer.key}", self._transfer, transfer)
            for payout in self.ledger.payouts(("accepted",)):
                self._guard(f"payout {payout.id}", self._take, payout)
            if self.paypal is not None:
                for payout in self.ledger.payouts(("taken",)):
                    self._guard(f"payout {payout.id}", self._send, payout)
                for payout in self.ledger.payouts(("sent",)):
                    self._guard(f"payout {payout.id}", self._poll, payout)
            for transfer in self.ledger.transfers():  # refunds queued by this pass
                self._guard(f"transfer {transfer.key}", self._transfer, transfer)

    def idle(self) -> bool:
        """No open work left."""
        open_payouts = self.ledger.payouts(("accepted", "taken", "sent", "returning"))
        return not self.ledger.transfers() and not open_payouts

    def _guard(self, what: str, step: Callable[..., None], *args: object) -> None:
        try:
            step(*args)
        except (CcnetError, OSError) as err:
            logger.warning("%s: %s (retrying on the next pass)", what, err)

    # -- landing a stored extrinsic --------------------------------------------------------

    def _land(
        self, hex_data: str, ext_hash: str, signer: str, nonce: int, scan_from: int, step: str
    ) -> Landed | Resolution:
        state = self.chain.resolve(ext_hash, signer, nonce, scan_from)
        if state is not Resolution.PENDING:
            return state
        self.chain.submit(hex_data)  # ChainRequestError if the node refuses it
        self.crash(f"{step}.submitted")
        deadline = time.monotonic() + self.land_timeout
        while True:
            state = self.chain.resolve(ext_hash, signer, nonce, scan_from)
            if state is not Resolution.PENDING or time.monotonic() > deadline:
                return state
            time.sleep(0.2)

    # -- 1. treasury transfers -------------------------------------------------------------

    def _transfer(self, transfer: Transfer) -> None:
        if transfer.status == "pending":
            free = self.chain.free_balance(self.chain.address)
            if free < transfer.planck + self.chain.existential_deposit() + FEE_MARGIN:
                # never sign what would fail on chain and burn a fee on every pass
                self.ledger.transfer_note(transfer.id, f"treasury underfunded ({free} planck)")
                return
            signed = self.chain.sign_transfer(transfer.dest, transfer.planck)
            if not self.ledger.transfer_signed(
                transfer.id, signed.nonce, signed.extrinsic, signed.extrinsic_hash, signed.scan_from
            ):
                return
            self.crash(f"{transfer.kind}.signed")
            transfer.extrinsic, transfer.extrinsic_hash = signed.extrinsic, signed.extrinsic_hash
            transfer.nonce, transfer.scan_from = signed.nonce, signed.scan_from
        assert transfer.extrinsic and transfer.extrinsic_hash
        assert transfer.nonce is not None and transfer.scan_from is not None
        try:
            state = self._land(
                transfer.extrinsic,
                transfer.extrinsic_hash,
                self.chain.address,
                transfer.nonce,
                transfer.scan_from,
                transfer.kind,
            )
        except ChainRequestError as err:
            self.ledger.transfer_note(transfer.id, f"node refused it: {err}")
            return
        if state is Resolution.GONE:
            self.ledger.transfer_unsigned(transfer.id, "its nonce was used by another extrinsic")
        elif isinstance(state, Landed):
            if state.error is not None:
                self.ledger.transfer_failed_on_chain(transfer.id, state.fee, state.error)
            else:
                moved = state.transferred(self.chain.address, transfer.dest)
                if moved != transfer.planck:  # cannot happen for our own bytes
                    raise BridgeError(f"transfer moved {moved}, expected {transfer.planck}")
                self.ledger.transfer_done(transfer.id, state.block_hash, state.fee)

    # -- 2. the worker's transfer ----------------------------------------------------------

    def _take(self, payout: Payout) -> None:
        call = self.chain.decode_transfer(payout.extrinsic)
        try:
            state = self._land(
                payout.extrinsic,
                payout.extrinsic_hash,
                payout.account,
                call.nonce,
                payout.scan_from,
                "payout",
            )
        except ChainRequestError as err:
            if payout.attempts + 1 >= MAX_REFUSALS:
                self.ledger.payout_rejected(payout.id, f"the node refused the transfer: {err}")
            else:
                self.ledger.payout_attempt(payout.id, f"the node refused the transfer: {err}")
            return
        if state is Resolution.GONE:
            self.ledger.payout_rejected(
                payout.id, "the signed transfer can no longer land (its nonce was used)"
            )
        elif isinstance(state, Landed):
            moved = state.transferred(payout.account, self.chain.address)
            if state.error is not None or moved != payout.planck:
                reason = state.error or f"moved {moved} planck"
                self.ledger.payout_rejected(payout.id, f"the transfer failed on chain: {reason}")
            else:
                self.ledger.payout_taken(payout.id, state.block_hash)
                self.crash("payout.taken")

    # -- 3. PayPal -------------------------------------------------------------------------

    def _send(self, payout: Payout) -> None:
        assert self.paypal is not None
        try:
            batch_id = self.paypal.create_payout(
                sender_batch_id=payout.sender_batch_id,
                email=payout.email,
                cents=payout.net_cents,
                note=f"Compute Currency payout {payout.id}",
            )
        except ProcessorUnavailableError as err:
            self.ledger.payout_attempt(payout.id, str(err))
            return
        except ProcessorError as err:
            self.ledger.payout_failed(payout.id, str(err), "DENIED")
            return
        self.crash("payout.paypal")
        self.ledger.payout_sent(payout.id, batch_id, None)

    def _poll(self, payout: Payout) -> None:
        assert self.paypal is not None and payout.payout_batch_id
        try:
            item = self.paypal.item(payout.payout_batch_id)
        except ProcessorUnavailableError as err:
            self.ledger.payout_attempt(payout.id, str(err))
            return
        if item.status == "SUCCESS" and item.item_id:
            if item.amount_cents != payout.net_cents:
                raise BridgeError(
                    f"PayPal paid {item.amount_cents} cents for payout {payout.id}, "
                    f"not {payout.net_cents}"
                )
            self.ledger.payout_paid(payout.id, item.item_id, item.fee_cents)
        elif item.status in FINAL_FAILED:
            reason = f"PayPal {item.status}" + (f" ({item.error})" if item.error else "")
            self.ledger.payout_failed(payout.id, reason, item.status)
        elif item.status != payout.paypal_status:
            self.ledger.payout_status(payout.id, item.status)
