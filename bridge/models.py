"""The ledger's tables (SQLAlchemy 2 declarative); the schema is created and changed only
by the Alembic migrations in ``migrations/``, which must match these classes (a test
compares them).

Amounts are ``BigInteger``: cents (``*_cents``) or planck (``planck``, ``fee``). Times are
naive UTC ``DateTime``. Each row's ``status`` is its place in the flow that
:mod:`ccnet.bridge.outbox` drives; unique keys make every step idempotent:
``Purchase.payment_intent``, ``StripeEvent.id``, ``Payout.extrinsic_hash``,
``Payout.sender_batch_id``, ``Transfer.key`` and ``(Posting.entry, account, currency)``.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import BigInteger, DateTime, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = [
    "Base",
    "Meta",
    "Payout",
    "Posting",
    "Purchase",
    "StripeEvent",
    "Transfer",
    "utcnow",
]


def utcnow() -> datetime:
    """Now, naive UTC (what the ``DateTime`` columns hold)."""
    return datetime.now(UTC).replace(tzinfo=None)


class Base(DeclarativeBase):
    pass


class Meta(Base):
    """Facts fixed when the ledger was opened (treasury address, opening balance)."""

    __tablename__ = "meta"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class Purchase(Base):
    """A card purchase of CC: created -> pending (PaymentIntent made) -> paid (webhook)
    -> credited (transfer on chain); or failed."""

    __tablename__ = "purchases"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    request_id: Mapped[str] = mapped_column(String(128), unique=True)
    account: Mapped[str] = mapped_column(String(64))
    cents: Mapped[int] = mapped_column(BigInteger)
    planck: Mapped[int] = mapped_column(BigInteger)
    rate_num: Mapped[int] = mapped_column(BigInteger)
    rate_den: Mapped[int] = mapped_column(BigInteger)
    rounding_num: Mapped[int] = mapped_column(BigInteger)
    rounding_den: Mapped[int] = mapped_column(BigInteger)
    payment_intent: Mapped[str | None] = mapped_column(String(64), unique=True)
    status: Mapped[str] = mapped_column(String(16), index=True)
    failure: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    paid_at: Mapped[datetime | None] = mapped_column(DateTime)
    credited_at: Mapped[datetime | None] = mapped_column(DateTime)


class StripeEvent(Base):
    """Every verified Stripe event, once (the inbox); ``outcome`` says what it did."""

    __tablename__ = "stripe_events"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    type: Mapped[str] = mapped_column(String(64))
    created: Mapped[int] = mapped_column(BigInteger)
    payment_intent: Mapped[str | None] = mapped_column(String(64), index=True)
    outcome: Mapped[str] = mapped_column(String(32))
    received_at: Mapped[datetime] = mapped_column(DateTime)


class Payout(Base):
    """A cash-out: accepted -> taken (the worker's transfer landed) -> sent (PayPal batch
    made) -> paid; or rejected (transfer failed: nothing taken); or returning ->
    returned (PayPal failed or returned the money: the CC goes back)."""

    __tablename__ = "payouts"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    request_id: Mapped[str] = mapped_column(String(128), unique=True)
    account: Mapped[str] = mapped_column(String(64), index=True)
    email: Mapped[str] = mapped_column(String(254))
    planck: Mapped[int] = mapped_column(BigInteger)
    gross_cents: Mapped[int] = mapped_column(BigInteger)
    fee_cents: Mapped[int] = mapped_column(BigInteger)
    net_cents: Mapped[int] = mapped_column(BigInteger)
    fee_bps: Mapped[int] = mapped_column(Integer)
    rate_num: Mapped[int] = mapped_column(BigInteger)
    rate_den: Mapped[int] = mapped_column(BigInteger)
    rounding_num: Mapped[int] = mapped_column(BigInteger)
    rounding_den: Mapped[int] = mapped_column(BigInteger)
    extrinsic: Mapped[str] = mapped_column(Text)
    """The worker's signed transfer to the treasury (0x hex), submitted by the bridge."""
    extrinsic_hash: Mapped[str] = mapped_column(String(66), unique=True)
    scan_from: Mapped[int] = mapped_column(BigInteger)
    """First block that may include the transfer."""
    transfer_block: Mapped[str | None] = mapped_column(String(66))
    sender_batch_id: Mapped[str] = mapped_column(String(64), unique=True)
    payout_batch_id: Mapped[str | None] = mapped_column(String(64))
    payout_item_id: Mapped[str | None] = mapped_column(String(64))
    paypal_status: Mapped[str | None] = mapped_column(String(32))
    paypal_fee_cents: Mapped[int | None] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16), index=True)
    failure: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    taken_at: Mapped[datetime | None] = mapped_column(DateTime)
    done_at: Mapped[datetime | None] = mapped_column(DateTime)


class Transfer(Base):
    """A transfer from the treasury (a credit or a refund), exactly once: pending ->
    signed (extrinsic stored before it is submitted) -> done | failed."""

    __tablename__ = "transfers"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(96), unique=True)
    """Idempotency key: ``credit:<purchase id>`` or ``refund:<payout id>``."""
    kind: Mapped[str] = mapped_column(String(16))
    ref: Mapped[str] = mapped_column(String(40))
    dest: Mapped[str] = mapped_column(String(64))
    planck: Mapped[int] = mapped_column(BigInteger)
    nonce: Mapped[int | None] = mapped_column(BigInteger)
    extrinsic: Mapped[str | None] = mapped_column(Text)
    extrinsic_hash: Mapped[str | None] = mapped_column(String(66), unique=True)
    scan_from: Mapped[int | None] = mapped_column(BigInteger)
    block_hash: Mapped[str | None] = mapped_column(String(66))
    fee: Mapped[int | None] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16), index=True)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    done_at: Mapped[datetime | None] = mapped_column(DateTime)


class Posting(Base):
    """One leg of a double-entry journal entry. The legs of an entry sum to zero per
    currency (``usd_cents`` or ``planck``); an entry is posted at most once."""

    __tablename__ = "postings"
    __table_args__ = (UniqueConstraint("entry", "account", "currency"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    entry: Mapped[str] = mapped_column(String(96), index=True)
    account: Mapped[str] = mapped_column(String(128), index=True)
    currency: Mapped[str] = mapped_column(String(16))
    amount: Mapped[int] = mapped_column(BigInteger)
    ref: Mapped[str] = mapped_column(String(40))
    at: Mapped[datetime] = mapped_column(DateTime, index=True)
