"""The bridge's ledger: every state change of purchases, payouts and treasury transfers,
each in one database transaction together with its journal postings.

Nothing here talks to Stripe, PayPal or the chain; :mod:`ccnet.bridge.outbox` does, and
records each outcome here before the next step starts. A step is therefore repeated
after a crash only where repeating it is harmless (an idempotent processor call, or a
stored signed extrinsic submitted again).
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from substrateinterface.utils.ss58 import is_valid_ss58_address

from ccnet.client import SS58_FORMAT

from .db import Database
from .exceptions import AmountError, BelowMinimumError, BridgeError, ConflictError, NotFoundError
from .journal import (
    post,
    posting_credit_done,
    posting_opening,
    posting_payout_paid,
    posting_payout_reversed,
    posting_payout_taken,
    posting_purchase_paid,
    posting_transfer_fee,
)
from .models import Meta, Payout, Purchase, StripeEvent, Transfer, utcnow
from .rates import Rates, format_usd

__all__ = ["Ledger", "StripePayment", "check_address", "check_email", "new_id"]

_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")

PURCHASE_FINAL = frozenset({"paid", "credited"})
PAYOUT_OPEN = ("accepted", "taken", "sent")


def new_id(prefix: str) -> str:
    """A fresh random id, e.g. ``pur_3f9c...`` (96 bits)."""
    return f"{prefix}_{secrets.token_hex(12)}"


def check_address(address: str) -> str:
    """*address* if it is an SS58 address of this network; :class:`BridgeError` else."""
    if not isinstance(address, str) or not is_valid_ss58_address(
        address, valid_ss58_format=SS58_FORMAT
    ):
        raise BridgeError(f"not an SS58 address of this network (prefix 42): {address!r}")
    return address


def check_email(email: str) -> str:
    """*email*, trimmed, if it looks like a PayPal login; :class:`BridgeError` else."""
    value = str(email).strip()
    if len(value) > 254 or not _EMAIL.match(value):
        raise BridgeError(f"not an email address: {email!r}")
    return value


@dataclass(frozen=True)
class StripePayment:
    """The fields of a PaymentIntent the ledger uses (from a verified event)."""

    payment_intent: str
    amount: int
    """Cents actually received (``amount_received``, else ``amount``)."""
    currency: str
    created: int
    """Unix seconds the PaymentIntent was created (the day it is reconciled under)."""
    metadata: Mapping[str, str]

    @classmethod
    def from_object(cls, obj: Mapping[str, Any]) -> StripePayment:
        received = obj.get("amount_received")
        amount = received if isinstance(received, int) and received > 0 else obj.get("amount")
        if not isinstance(amount, int) or isinstance(amount, bool) or amount < 0:
            raise AmountError(f"payment {obj.get('id')} has no integer amount")
        return cls(
            payment_intent=str(obj["id"]),
            amount=amount,
            currency=str(obj.get("currency", "")).lower(),
            created=int(obj.get("created") or 0),
            metadata={str(k): str(v) for k, v in dict(obj.get("metadata") or {}).items()},
        )


class Ledger:
    """Ledger operations on *db* with *rates* (see module docs)."""

    def __init__(self, db: Database, rates: Rates) -> None:
        self.db = db
        self.rates = rates

    # -- meta ------------------------------------------------------------------------------

    def open(self, treasury: str, opening_balance: int) -> None:
        """Record the treasury and its opening balance the first time (idempotent);
        :class:`ConflictError` if the ledger belongs to another treasury."""
        with self.db.transaction() as s:
            known = s.get(Meta, "treasury")
            if known is not None:
                if known.value != treasury:
                    raise ConflictError(
                        f"this ledger belongs to treasury {known.value}, not {treasury}"
                    )
                return
            s.add(Meta(key="treasury", value=treasury))
            s.add(Meta(key="opening_balance", value=str(opening_balance)))
            post(s, "treasury:opening", "treasury", posting_opening(opening_balance))

    def meta(self) -> dict[str, str]:
        with self.db.session() as s:
            return {m.key: m.value for m in s.scalars(select(Meta))}

    # -- purchases -------------------------------------------------------------------------

    def open_purchase(self, request_id: str, account: str, cents: int) -> tuple[Purchase, bool]:
        """The purchase of *request_id* (created now, or the one made before: then
        ``created`` is False). :class:`BelowMinimumError` / :class:`AmountError` for a bad
        amount, :class:`ConflictError` if the request id was used for another purchase."""
        check_address(account)
        rates = self.rates
        if cents < rates.min_purchase_cents:
            raise BelowMinimumError(
                f"the smallest purchase is {format_usd(rates.min_purchase_cents)}",
                amount_cents=cents,
                min_cents=rates.min_purchase_cents,
            )
        if cents > rates.max_purchase_cents:
            raise AmountError(f"the largest purchase is {format_usd(rates.max_purchase_cents)}")
        quote = rates.purchase(cents)
        try:
            with self.db.transaction() as s:
                known = s.scalar(select(Purchase).where(Purchase.request_id == request_id))
                if known is not None:
                    return self._same_purchase(known, account, cents), False
                purchase = Purchase(
                    id=new_id("pur"),
                    request_id=request_id,
                    account=account,
                    cents=cents,
                    planck=quote.planck,
                    rate_num=rates.cents_per_cc.num,
                    rate_den=rates.cents_per_cc.den,
                    rounding_num=quote.rounding.numerator,
                    rounding_den=quote.rounding.denominator,
                    status="created",
                    created_at=utcnow(),
                )
                s.add(purchase)
            return purchase, True
        except IntegrityError:  # a concurrent request with the same id won
            with self.db.session() as s:
                known = s.scalar(select(Purchase).where(Purchase.request_id == request_id))
            if known is None:
                raise
            return self._same_purchase(known, account, cents), False

    @staticmethod
    def _same_purchase(known: Purchase, account: str, cents: int) -> Purchase:
        if (known.account, known.cents) != (account, cents):
            raise ConflictError(
                f"request id already used for purchase {known.id} "
                f"({format_usd(known.cents)} to {known.account})"
            )
        return known

    def attach_intent(self, purchase_id: str, payment_intent: str) -> Purchase:
        """Record the PaymentIntent made for a purchase (idempotent)."""
        with self.db.transaction() as s:
            purchase = self._purchase(s, purchase_id)
            if purchase.payment_intent is None:
                purchase.payment_intent = payment_intent
                if purchase.status == "created":
                    purchase.status = "pending"
            elif purchase.payment_intent != payment_intent:
                raise ConflictError(
                    f"purchase {purchase_id} already has PaymentIntent {purchase.payment_intent}"
                )
            return purchase

    def purchase(self, purchase_id: str) -> Purchase:
        with self.db.session() as s:
            return self._purchase(s, purchase_id)

    @staticmethod
    def _purchase(s: Session, purchase_id: str) -> Purchase:
        purchase = s.get(Purchase, purchase_id)
        if purchase is None:
            raise NotFoundError(f"no purchase {purchase_id}")
        return purchase

    def known_events(self, event_ids: list[str]) -> set[str]:
        """Which of *event_ids* the ledger has applied already."""
        known: set[str] = set()
        with self.db.session() as s:
            for start in range(0, len(event_ids), 500):
                chunk = event_ids[start : start + 500]
                known.update(s.scalars(select(StripeEvent.id).where(StripeEvent.id.in_(chunk))))
        return known

    def record_stripe_event(
        self, event_id: str, event_type: str, created: int, obj: Mapping[str, Any], bridge_id: str
    ) -> str:
        """Apply one verified Stripe event exactly once; returns its outcome:
        ``duplicate`` (seen before), ``credited``, ``already_paid``, ``unmatched`` (not
        a payment this bridge asked for), ``not_succeeded`` (the intent says otherwise),
        ``wrong_currency``, ``marked_failed``, ``ignored``."""
        try:
            with self.db.transaction() as s:
                if s.get(StripeEvent, event_id) is not None:
                    return "duplicate"
                intent = str(obj.get("id")) if obj.get("object") == "payment_intent" else None
                outcome = self._apply_event(s, event_type, obj, bridge_id)
                s.add(
                    StripeEvent(
                        id=event_id,
                        type=event_type,
                        created=created,
                        payment_intent=intent,
                        outcome=outcome,
                        received_at=utcnow(),
                    )
                )
                return outcome
        except IntegrityError:  # the same event, delivered concurrently, won the race
            return "duplicate"

    def _apply_event(
        self, s: Session, event_type: str, obj: Mapping[str, Any], bridge_id: str
    ) -> str:
        if obj.get("object") != "payment_intent":
            return "ignored"
        payment = StripePayment.from_object(obj)
        purchase = self._match(s, payment, bridge_id)
        if purchase is None:
            return "unmatched"
        if event_type == "payment_intent.succeeded":
            if purchase.status in PURCHASE_FINAL:
                return "already_paid"
            if obj.get("status", "succeeded") != "succeeded":
                return "not_succeeded"  # the intent, read back from Stripe, is not paid
            if payment.currency != "usd":
                purchase.status = "failed"
                purchase.failure = f"paid in {payment.currency}, not usd"
                return "wrong_currency"
            if payment.amount != purchase.cents:  # the intent was changed: credit what came
                quote = self.rates.purchase(payment.amount)
                purchase.cents, purchase.planck = payment.amount, quote.planck
                purchase.rounding_num = quote.rounding.numerator
                purchase.rounding_den = quote.rounding.denominator
            purchase.payment_intent = payment.payment_intent
            purchase.status = "paid"
            purchase.failure = None
            purchase.paid_at = _from_unix(payment.created)
            post(
                s,
                f"purchase:{purchase.id}:paid",
                purchase.id,
                posting_purchase_paid(purchase),
                at=purchase.paid_at,
            )
            s.add(
                Transfer(
                    key=f"credit:{purchase.id}",
                    kind="credit",
                    ref=purchase.id,
                    dest=purchase.account,
                    planck=purchase.planck,
                    status="pending",
                    created_at=utcnow(),
                )
            )
            return "credited"
        if event_type in ("payment_intent.payment_failed", "payment_intent.canceled"):
            if purchase.status in PURCHASE_FINAL:
                return "already_paid"  # an older failure arriving late changes nothing
            purchase.status = "failed"
            purchase.failure = event_type.rsplit(".", 1)[1]
            return "marked_failed"
        return "ignored"

    @staticmethod
    def _match(s: Session, payment: StripePayment, bridge_id: str) -> Purchase | None:
        if payment.metadata.get("bridge") != bridge_id:
            return None
        purchase_id = payment.metadata.get("purchase")
        purchase = s.get(Purchase, purchase_id) if purchase_id else None
        if purchase is None:
            return None
        if purchase.payment_intent not in (None, payment.payment_intent):
            return None  # a second intent for one purchase (Stripe forgot the key)
        return purchase

    # -- payouts ---------------------------------------------------------------------------

    def open_payout(
        self,
        *,
        request_id: str,
        account: str,
        email: str,
        planck: int,
        extrinsic: str,
        extrinsic_hash: str,
        scan_from: int,
    ) -> tuple[Payout, bool]:
        """Accept a payout of *planck* (already checked against the chain); returns it
        and whether it is new. :class:`BelowMinimumError` if the net is under the
        minimum, :class:`ConflictError` for a reused request id or transfer."""
        check_address(account)
        email = check_email(email)
        quote = self.rates.payout(planck)
        if quote.net_cents < self.rates.min_payout_cents:
            raise BelowMinimumError(
                f"{planck} planck nets {format_usd(quote.net_cents)} after the "
                f"{self.rates.fee_bps / 100:g} % fee; the smallest payout is "
                f"{format_usd(self.rates.min_payout_cents)}",
                amount_cents=quote.net_cents,
                min_cents=self.rates.min_payout_cents,
            )
        payout_id = new_id("pay")
        try:
            with self.db.transaction() as s:
                known = s.scalar(select(Payout).where(Payout.request_id == request_id))
                if known is not None:
                    return self._same_payout(known, account, planck, extrinsic_hash), False
                same_transfer = s.scalar(
                    select(Payout).where(Payout.extrinsic_hash == extrinsic_hash)
                )
                if same_transfer is not None:
                    raise ConflictError(
                        f"this signed transfer already backs payout {same_transfer.id}"
                    )
                payout = Payout(
                    id=payout_id,
                    request_id=request_id,
                    account=account,
                    email=email,
                    planck=planck,
                    gross_cents=quote.gross_cents,
                    fee_cents=quote.fee_cents,
                    net_cents=quote.net_cents,
                    fee_bps=self.rates.fee_bps,
                    rate_num=self.rates.cents_per_cc.num,
                    rate_den=self.rates.cents_per_cc.den,
                    rounding_num=quote.rounding.numerator,
                    rounding_den=quote.rounding.denominator,
                    extrinsic=extrinsic,
                    extrinsic_hash=extrinsic_hash,
                    scan_from=scan_from,
                    sender_batch_id=f"ccnet-{payout_id}",
                    status="accepted",
                    attempts=0,
                    created_at=utcnow(),
                )
                s.add(payout)
            return payout, True
        except IntegrityError:
            with self.db.session() as s:
                known = s.scalar(select(Payout).where(Payout.request_id == request_id))
            if known is None:
                raise ConflictError("this signed transfer already backs another payout") from None
            return self._same_payout(known, account, planck, extrinsic_hash), False

    @staticmethod
    def _same_payout(known: Payout, account: str, planck: int, extrinsic_hash: str) -> Payout:
        if (known.account, known.planck, known.extrinsic_hash) != (
            account,
            planck,
            extrinsic_hash,
        ):
            raise ConflictError(f"request id already used for payout {known.id}")
        return known

    def payout(self, payout_id: str) -> Payout:
        with self.db.session() as s:
            payout = s.get(Payout, payout_id)
            if payout is None:
                raise NotFoundError(f"no payout {payout_id}")
            return payout

    def payout_by_request(self, request_id: str) -> Payout | None:
        with self.db.session() as s:
            return s.scalar(select(Payout).where(Payout.request_id == request_id))

    def payouts(self, statuses: tuple[str, ...]) -> list[Payout]:
        with self.db.session() as s:
            rows = s.scalars(
                select(Payout).where(Payout.status.in_(statuses)).order_by(Payout.created_at)
            )
            return list(rows)

    def payout_taken(self, payout_id: str, block_hash: str) -> None:
        """The worker's transfer is in *block_hash*: the treasury holds the CC."""
        with self.db.transaction() as s:
            payout = s.get(Payout, payout_id)
            assert payout is not None
            if payout.status != "accepted":
                return
            payout.status = "taken"
            payout.transfer_block = block_hash
            payout.taken_at = utcnow()
            post(s, f"payout:{payout.id}:taken", payout.id, posting_payout_taken(payout))

    def payout_rejected(self, payout_id: str, reason: str) -> None:
        """The worker's transfer did not happen: nothing was taken, nothing is owed."""
        with self.db.transaction() as s:
            payout = s.get(Payout, payout_id)
            assert payout is not None
            if payout.status != "accepted":
                return
            payout.status = "rejected"
            payout.failure = reason
            payout.done_at = utcnow()

    def payout_attempt(self, payout_id: str, error: str) -> None:
        """A retryable failure (processor down): count it, keep the state."""
        with self.db.transaction() as s:
            payout = s.get(Payout, payout_id)
            assert payout is not None
            payout.attempts += 1
            payout.failure = error

    def payout_sent(self, payout_id: str, batch_id: str, item_id: str | None) -> None:
        with self.db.transaction() as s:
            payout = s.get(Payout, payout_id)
            assert payout is not None
            if payout.status == "taken":
                payout.status = "sent"
                payout.failure = None
            payout.payout_batch_id = payout.payout_batch_id or batch_id
            payout.payout_item_id = payout.payout_item_id or item_id

    def payout_status(self, payout_id: str, paypal_status: str) -> None:
        with self.db.transaction() as s:
            payout = s.get(Payout, payout_id)
            assert payout is not None
            payout.paypal_status = paypal_status

    def payout_paid(self, payout_id: str, item_id: str, paypal_fee_cents: int) -> None:
        """PayPal reports the item SUCCESS (once)."""
        with self.db.transaction() as s:
            payout = s.get(Payout, payout_id)
            assert payout is not None
            if payout.status != "sent":
                return
            payout.status = "paid"
            payout.paypal_status = "SUCCESS"
            payout.payout_item_id = item_id
            payout.paypal_fee_cents = paypal_fee_cents
            payout.done_at = utcnow()
            post(
                s,
                f"payout:{payout.id}:paid",
                payout.id,
                posting_payout_paid(payout, paypal_fee_cents),
            )

    def payout_failed(self, payout_id: str, reason: str, paypal_status: str | None) -> None:
        """PayPal refused, failed or returned the payout: the CC goes back (a refund
        transfer, exactly once)."""
        with self.db.transaction() as s:
            payout = s.get(Payout, payout_id)
            assert payout is not None
            if payout.status not in ("taken", "sent"):
                return
            payout.status = "returning"
            payout.failure = reason
            payout.paypal_status = paypal_status
            post(s, f"payout:{payout.id}:reversed", payout.id, posting_payout_reversed(payout))
            s.add(
                Transfer(
                    key=f"refund:{payout.id}",
                    kind="refund",
                    ref=payout.id,
                    dest=payout.account,
                    planck=payout.planck,
                    status="pending",
                    created_at=utcnow(),
                )
            )

    # -- treasury transfers ----------------------------------------------------------------

    def transfers(self, statuses: tuple[str, ...] = ("pending", "signed")) -> list[Transfer]:
        with self.db.session() as s:
            rows = s.scalars(
                select(Transfer).where(Transfer.status.in_(statuses)).order_by(Transfer.id)
            )
            return list(rows)

    def transfer_signed(
        self, transfer_id: int, nonce: int, extrinsic: str, extrinsic_hash: str, scan_from: int
    ) -> bool:
        """Store the signed extrinsic before it is submitted (so a restart submits these
        same bytes, which the chain includes at most once). False if the transfer was no
        longer pending (another bridge process signed it first): drop this signature."""
        with self.db.transaction() as s:
            claimed = s.execute(
                update(Transfer)
                .where(Transfer.id == transfer_id, Transfer.status == "pending")
                .values(
                    nonce=nonce,
                    extrinsic=extrinsic,
                    extrinsic_hash=extrinsic_hash,
                    scan_from=scan_from,
                    status="signed",
                )
            )
            return bool(getattr(claimed, "rowcount", 0) == 1)

    def transfer_unsigned(self, transfer_id: int, error: str) -> None:
        """Forget a signature whose nonce another extrinsic used (it can never land)."""
        with self.db.transaction() as s:
            transfer = s.get(Transfer, transfer_id)
            assert transfer is not None
            transfer.status = "pending"
            transfer.extrinsic = transfer.extrinsic_hash = None
            transfer.nonce = transfer.scan_from = None
            transfer.error = error

    def transfer_note(self, transfer_id: int, error: str) -> None:
        with self.db.transaction() as s:
            transfer = s.get(Transfer, transfer_id)
            assert transfer is not None
            transfer.error = error

    def transfer_failed_on_chain(self, transfer_id: int, fee: int, error: str) -> None:
        """The extrinsic landed but failed (its fee was paid): try again later."""
        with self.db.transaction() as s:
            transfer = s.get(Transfer, transfer_id)
            assert transfer is not None
            if transfer.status != "signed":
                return
            post(
                s,
                f"transfer:{transfer.id}:fee:{transfer.nonce}",
                transfer.ref,
                posting_transfer_fee(fee),
            )
            transfer.status = "pending"
            transfer.error = error
            transfer.extrinsic = transfer.extrinsic_hash = None
            transfer.nonce = transfer.scan_from = None

    def transfer_done(self, transfer_id: int, block_hash: str, fee: int) -> None:
        """The transfer is on chain: post it and finish its purchase or payout."""
        with self.db.transaction() as s:
            transfer = s.get(Transfer, transfer_id)
            assert transfer is not None
            if transfer.status != "signed":
                return
            transfer.status = "done"
            transfer.block_hash = block_hash
            transfer.fee = fee
            transfer.error = None
            transfer.done_at = utcnow()
            post(
                s,
                f"transfer:{transfer.id}:done",
                transfer.ref,
                posting_credit_done(transfer.dest, transfer.planck),
            )
            post(
                s,
                f"transfer:{transfer.id}:fee:{transfer.nonce}",
                transfer.ref,
                posting_transfer_fee(fee),
            )
            if transfer.kind == "credit":
                purchase = s.get(Purchase, transfer.ref)
                if purchase is not None:
                    purchase.status = "credited"
                    purchase.credited_at = utcnow()
            else:
                payout = s.get(Payout, transfer.ref)
                if payout is not None:
                    payout.status = "returned"
                    payout.done_at = utcnow()


def _from_unix(seconds: int) -> datetime:
    if seconds <= 0:
        return utcnow()
    return datetime.fromtimestamp(seconds, UTC).replace(tzinfo=None)
