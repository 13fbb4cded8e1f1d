"""Reconciliation: the ledger against Stripe, PayPal and the chain, exact to the cent and
the planck. ``balanced`` is true when every difference is zero:

- the journal: every currency sums to zero (double entry);
- Stripe: each succeeded PaymentIntent tagged with this bridge matches a paid purchase
  of the same amount, and back (sums by day of the intent);
- PayPal: each payout the ledger calls paid is a SUCCESS item of that amount and fee,
  and each payout the ledger reversed is an item PayPal failed or returned;
- the chain: the treasury's free balance equals the ledger's ``treasury`` account;
- rounding: every purchase and payout row re-converts to exactly its stored amounts at
  its stored rate; the totals of what rounding kept are reported (exact fractions of a
  planck).

Work still in flight (CC owed, dollars payable) is listed, not counted as a difference.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from fractions import Fraction
from typing import Any

from sqlalchemy import func, select

from .chain_side import TreasuryChain
from .exceptions import BridgeError
from .journal import PLANCK, USD
from .ledger import Ledger
from .models import Payout, Posting, Purchase
from .paypal_side import FINAL_FAILED, PayPalGateway
from .rates import BASIS_POINTS, CC, format_fraction
from .stripe_side import StripeGateway

__all__ = ["Reconciliation", "reconcile"]


@dataclass
class Reconciliation:
    """The report (:meth:`as_dict` for JSON); amounts are ints (cents, planck)."""

    journal: dict[str, int]
    accounts: dict[str, dict[str, int]]
    by_day: dict[str, dict[str, int]]
    by_account: dict[str, dict[str, int]]
    stripe: dict[str, Any]
    paypal: dict[str, Any]
    chain: dict[str, Any]
    rounding: dict[str, Any]
    in_flight: dict[str, int]
    problems: list[str]

    @property
    def balanced(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict[str, Any]:
        return {
            "balanced": self.balanced,
            "problems": self.problems,
            "journal": self.journal,
            "accounts": self.accounts,
            "by_day": self.by_day,
            "by_account": self.by_account,
            "stripe": self.stripe,
            "paypal": self.paypal,
            "chain": self.chain,
            "rounding": self.rounding,
            "in_flight": self.in_flight,
        }


def _day(when: datetime | int) -> str:
    if isinstance(when, int):
        return datetime.fromtimestamp(when, UTC).strftime("%Y-%m-%d")
    return when.strftime("%Y-%m-%d")


def reconcile(
    ledger: Ledger,
    *,
    stripe: StripeGateway | None,
    paypal: PayPalGateway | None,
    chain: TreasuryChain | None,
    bridge_id: str,
) -> Reconciliation:
    """Compare the ledger with each processor and the chain (any may be None: that side
    is then reported as ``not checked``). Processor outages raise their errors."""
    problems: list[str] = []
    with ledger.db.session() as s:
        journal = {USD: 0, PLANCK: 0}
        journal |= {
            currency: int(total)
            for currency, total in s.execute(
                select(Posting.currency, func.sum(Posting.amount)).group_by(Posting.currency)
            )
        }
        accounts: dict[str, dict[str, int]] = defaultdict(dict)
        for account, currency, total in s.execute(
            select(Posting.account, Posting.currency, func.sum(Posting.amount)).group_by(
                Posting.account, Posting.currency
            )
        ):
            accounts[account][currency] = int(total)
        purchases = list(s.scalars(select(Purchase)))
        payouts = list(s.scalars(select(Payout)))
    for currency, total in journal.items():
        if total != 0:
            problems.append(f"journal: {currency} sums to {total}, not 0")

    by_day: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    by_account: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    paid = [p for p in purchases if p.status in ("paid", "credited")]
    for p in paid:
        assert p.paid_at is not None
        day = by_day[_day(p.paid_at)]
        day["purchased_cents"] += p.cents
        day["credited_planck"] += p.planck if p.status == "credited" else 0
        acct = by_account[p.account]
        acct["purchased_cents"] += p.cents
        acct["credited_planck"] += p.planck if p.status == "credited" else 0
    for q in payouts:
        if q.status in ("rejected", "accepted"):
            continue
        day = by_day[_day(q.taken_at or q.created_at)]
        acct = by_account[q.account]
        for target in (day, acct):
            target["payout_planck"] += q.planck
            if q.status == "paid":
                target["paid_out_cents"] += q.net_cents
                target["platform_fee_cents"] += q.fee_cents
                target["paypal_fee_cents"] += q.paypal_fee_cents or 0
            if q.status in ("returning", "returned"):
                target["returned_planck"] += q.planck

    stripe_part = _stripe(paid, stripe, bridge_id, by_day, problems)
    paypal_part = _paypal(payouts, paypal, accounts, problems)
    chain_part = _chain(ledger, accounts, chain, problems)
    rounding = _rounding(purchases, payouts, problems)
    in_flight = {
        "owed_planck": -sum(v.get(PLANCK, 0) for k, v in accounts.items() if k.startswith("owed:")),
        "payable_cents": -sum(
            v.get(USD, 0) for k, v in accounts.items() if k.startswith("payable:")
        ),
        "open_payouts": sum(
            q.status in ("accepted", "taken", "sent", "returning") for q in payouts
        ),
        "pending_purchases": sum(p.status in ("created", "pending") for p in purchases),
    }
    return Reconciliation(
        journal=journal,
        accounts={k: dict(v) for k, v in sorted(accounts.items())},
        by_day={k: dict(v) for k, v in sorted(by_day.items())},
        by_account={k: dict(v) for k, v in sorted(by_account.items())},
        stripe=stripe_part,
        paypal=paypal_part,
        chain=chain_part,
        rounding=rounding,
        in_flight=in_flight,
        problems=problems,
    )


def _stripe(
    paid: list[Purchase],
    stripe: StripeGateway | None,
    bridge_id: str,
    by_day: dict[str, dict[str, int]],
    problems: list[str],
) -> dict[str, Any]:
    ledger_cents = sum(p.cents for p in paid)
    if stripe is None:
        return {"checked": False, "ledger_cents": ledger_cents}
    ours = {
        i["id"]: i
        for i in stripe.intents()
        if i.get("status") == "succeeded" and (i.get("metadata") or {}).get("bridge") == bridge_id
    }
    stripe_cents = 0
    for intent in ours.values():
        cents = _intent_cents(intent)
        stripe_cents += cents
        by_day[_day(int(intent.get("created") or 0))]["stripe_cents"] += cents
    ledger_by_intent = {str(p.payment_intent): p for p in paid}
    missing = sorted(set(ours) - set(ledger_by_intent))
    unknown = sorted(set(ledger_by_intent) - set(ours))
    wrong = sorted(
        k for k, p in ledger_by_intent.items() if k in ours and _intent_cents(ours[k]) != p.cents
    )
    for pi in missing:
        problems.append(f"stripe: {pi} succeeded but the ledger has no paid purchase for it")
    for pi in unknown:
        problems.append(f"stripe: the ledger's purchase paid by {pi} is not a succeeded intent")
    for pi in wrong:
        problems.append(f"stripe: {pi} amount differs from the ledger")
    for day in by_day.values():
        day["stripe_diff_cents"] = day.get("stripe_cents", 0) - day.get("purchased_cents", 0)
    if stripe_cents != ledger_cents:
        problems.append(f"stripe: {stripe_cents} cents at Stripe, {ledger_cents} in the ledger")
    return {
        "checked": True,
        "ledger_cents": ledger_cents,
        "stripe_cents": stripe_cents,
        "diff_cents": stripe_cents - ledger_cents,
        "intents": len(ours),
        "missing_in_ledger": missing,
        "unknown_at_stripe": unknown,
    }


def _intent_cents(intent: dict[str, Any]) -> int:
    return int(intent.get("amount_received") or intent.get("amount") or 0)


def _paypal(
    payouts: list[Payout],
    paypal: PayPalGateway | None,
    accounts: dict[str, dict[str, int]],
    problems: list[str],
) -> dict[str, Any]:
    ledger_out = -accounts.get("paypal", {}).get(USD, 0)
    if paypal is None:
        return {"checked": False, "ledger_out_cents": ledger_out}
    paypal_out = 0
    checked = 0
    for q in payouts:
        if not q.payout_batch_id:
            continue
        item = paypal.item(q.payout_batch_id)
        checked += 1
        if item.status == "SUCCESS":
            paypal_out += item.amount_cents + item.fee_cents
            if q.status != "paid":
                problems.append(f"paypal: {q.id} is SUCCESS at PayPal but {q.status} here")
            elif (item.amount_cents, item.fee_cents) != (q.net_cents, q.paypal_fee_cents):
                problems.append(f"paypal: {q.id} amount or fee differs from PayPal")
        elif item.status in FINAL_FAILED and q.status not in ("returning", "returned"):
            problems.append(f"paypal: {q.id} is {item.status} at PayPal but {q.status} here")
        elif q.status == "paid":
            problems.append(f"paypal: {q.id} is paid here but {item.status} at PayPal")
    if paypal_out != ledger_out:
        problems.append(f"paypal: {paypal_out} cents left PayPal, the ledger says {ledger_out}")
    return {
        "checked": True,
        "ledger_out_cents": ledger_out,
        "paypal_out_cents": paypal_out,
        "diff_cents": paypal_out - ledger_out,
        "batches": checked,
    }


def _chain(
    ledger: Ledger,
    accounts: dict[str, dict[str, int]],
    chain: TreasuryChain | None,
    problems: list[str],
) -> dict[str, Any]:
    expected = accounts.get("treasury", {}).get(PLANCK, 0)
    treasury = ledger.meta().get("treasury")
    if chain is None or not treasury:
        return {"checked": False, "ledger_planck": expected}
    actual = chain.free_balance(treasury)
    if actual != expected:
        problems.append(f"chain: treasury holds {actual} planck, the ledger says {expected}")
    return {
        "checked": True,
        "treasury": treasury,
        "ledger_planck": expected,
        "chain_planck": actual,
        "diff_planck": actual - expected,
        "chain_fees_planck": accounts.get("chain_fees", {}).get(PLANCK, 0),
    }


def _rounding(
    purchases: list[Purchase], payouts: list[Payout], problems: list[str]
) -> dict[str, Any]:
    kept_on_purchases = Fraction(0)
    kept_on_payouts = Fraction(0)
    for p in purchases:
        rest = Fraction(p.rounding_num, p.rounding_den)
        # cents * CC * den == planck * num + rest * num, with 0 <= rest < 1
        exact = p.cents * CC * p.rate_den == p.planck * p.rate_num + rest * p.rate_num
        if not exact or not 0 <= rest < 1:
            problems.append(f"rounding: purchase {p.id} does not re-convert exactly")
        if p.status in ("paid", "credited"):
            kept_on_purchases += rest
    for q in payouts:
        rest = Fraction(q.rounding_num, q.rounding_den)
        exact = q.planck * q.rate_num == q.gross_cents * CC * q.rate_den + rest * q.rate_num
        fee_ok = q.fee_cents == -(-q.gross_cents * q.fee_bps // BASIS_POINTS)
        if not exact or not fee_ok or q.net_cents != q.gross_cents - q.fee_cents:
            problems.append(f"rounding: payout {q.id} does not re-convert exactly")
        if q.status == "paid":
            kept_on_payouts += rest
    return {
        "unit": "planck",
        "purchases": format_fraction(kept_on_purchases),
        "payouts": format_fraction(kept_on_payouts),
        "total": format_fraction(kept_on_purchases + kept_on_payouts),
    }


def require_balanced(report: Reconciliation) -> None:
    """:class:`BridgeError` listing the problems unless *report* balances."""
    if not report.balanced:
        raise BridgeError("the reconciliation does not balance: " + "; ".join(report.problems))
