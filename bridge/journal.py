"""Double-entry journal: accounts, currencies and the postings of each business event.

Every entry's legs sum to zero per currency, and an entry is posted at most once (the
unique key ``(entry, account, currency)``; :func:`post` returns False for a repeat). The
accounts (README, "Fiat bridge", "Ledger"):

====================  ==========  ==================================================
account               currency    holds
====================  ==========  ==================================================
``stripe``            usd_cents   money received at Stripe
``paypal``            usd_cents   money sent through PayPal (negative)
``treasury``          planck      the treasury account on chain
``exchange``          both        CC sold for and bought with dollars, at the rates
``owed:<address>``    planck      CC owed to an account, not yet transferred
``payable:<payout>``  usd_cents   dollars owed to a worker, not yet paid
``fees``              usd_cents   the platform's payout fees (negative = earned)
``chain_fees``        planck      transaction fees the treasury paid
``paypal_fees``       usd_cents   PayPal's fees on payouts
``equity``            planck      the treasury's opening balance
====================  ==========  ==================================================
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from .models import Payout, Posting, Purchase, utcnow

__all__ = [
    "PLANCK",
    "USD",
    "Leg",
    "post",
    "posting_credit_done",
    "posting_opening",
    "posting_payout_paid",
    "posting_payout_reversed",
    "posting_payout_taken",
    "posting_purchase_paid",
    "posting_transfer_fee",
]

USD = "usd_cents"
PLANCK = "planck"

Leg = tuple[str, str, int]
"""(account, currency, amount): positive = debit, negative = credit."""


class UnbalancedEntryError(ValueError):
    """An entry's legs do not sum to zero in some currency (a programming error)."""


def post(
    session: Session, entry: str, ref: str, legs: Sequence[Leg], *, at: datetime | None = None
) -> bool:
    """Add the legs of *entry* (skipping zero amounts); False if it was already posted."""
    totals: dict[str, int] = defaultdict(int)
    for _account, currency, amount in legs:
        totals[currency] += amount
    if any(totals.values()):
        raise UnbalancedEntryError(f"entry {entry} does not balance: {dict(totals)}")
    if session.scalar(select(Posting.id).where(Posting.entry == entry).limit(1)) is not None:
        return False
    when = at or utcnow()
    for account, currency, amount in legs:
        if amount:
            session.add(
                Posting(
                    entry=entry, account=account, currency=currency, amount=amount, ref=ref, at=when
                )
            )
    session.flush()
    return True


def posting_opening(balance: int) -> list[Leg]:
    return [("treasury", PLANCK, balance), ("equity", PLANCK, -balance)]


def posting_purchase_paid(purchase: Purchase) -> list[Leg]:
    """The buyer paid ``cents`` at Stripe; the platform owes it ``planck``."""
    return [
        ("stripe", USD, purchase.cents),
        ("exchange", USD, -purchase.cents),
        ("exchange", PLANCK, purchase.planck),
        (f"owed:{purchase.account}", PLANCK, -purchase.planck),
    ]


def posting_credit_done(dest: str, planck: int) -> list[Leg]:
    """The treasury paid what it owed *dest* on chain."""
    return [(f"owed:{dest}", PLANCK, planck), ("treasury", PLANCK, -planck)]


def posting_transfer_fee(fee: int) -> list[Leg]:
    return [("chain_fees", PLANCK, fee), ("treasury", PLANCK, -fee)]


def posting_payout_taken(payout: Payout) -> list[Leg]:
    """The worker's CC reached the treasury; the platform owes it ``net`` dollars and
    keeps ``fee``."""
    return [
        ("treasury", PLANCK, payout.planck),
        ("exchange", PLANCK, -payout.planck),
        ("exchange", USD, payout.gross_cents),
        (f"payable:{payout.id}", USD, -payout.net_cents),
        ("fees", USD, -payout.fee_cents),
    ]


def posting_payout_paid(payout: Payout, paypal_fee_cents: int) -> list[Leg]:
    """PayPal paid ``net`` to the worker and charged its fee."""
    return [
        (f"payable:{payout.id}", USD, payout.net_cents),
        ("paypal", USD, -payout.net_cents - paypal_fee_cents),
        ("paypal_fees", USD, paypal_fee_cents),
    ]


def posting_payout_reversed(payout: Payout) -> list[Leg]:
    """PayPal did not pay: undo :func:`posting_payout_taken`; the CC is owed back."""
    return [
        (f"payable:{payout.id}", USD, payout.net_cents),
        ("fees", USD, payout.fee_cents),
        ("exchange", USD, -payout.gross_cents),
        ("exchange", PLANCK, payout.planck),
        (f"owed:{payout.account}", PLANCK, -payout.planck),
    ]
