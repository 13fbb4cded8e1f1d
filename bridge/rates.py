"""Exchange rates, fees and thresholds, and every conversion between cents and planck.

All amounts are ``int``: US cents, planck (1 CC = 10**12 planck) or fuel. A rate is an
integer ratio, never a float. Each conversion rounds in the platform's favour, and
returns what it rounded away so the ledger can account for it (README, "Fiat bridge",
"Rates, fees and rounding"):

- purchase (cents -> planck): planck rounds **down**; the buyer's unconverted value is
  ``rounding`` (a :class:`~fractions.Fraction` of a planck, ``0 <= rounding < 1``).
- payout (planck -> cents): gross cents round **down**, the sub-cent rest stays in the
  treasury as ``rounding`` (planck, ``0 <= rounding < 1 cent's worth``); the fee rounds
  **up** to a whole cent; the net paid is ``gross - fee``.
- quote (fuel -> cents): rounds **up** (a price is never understated).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction

from .exceptions import AmountError, ConfigError

__all__ = [
    "CC",
    "BASIS_POINTS",
    "PayoutQuote",
    "PurchaseQuote",
    "Rates",
    "Ratio",
    "format_usd",
    "parse_usd",
]

CC = 10**12
"""Planck per CC."""
BASIS_POINTS = 10_000
"""A fee of ``fee_bps`` basis points is ``fee_bps / 10_000`` of the gross."""


@dataclass(frozen=True)
class Ratio:
    """A positive rational number ``num / den`` (both ints > 0)."""

    num: int
    den: int = 1

    def __post_init__(self) -> None:
        if not (isinstance(self.num, int) and isinstance(self.den, int)):
            raise ConfigError(f"a rate is two integers, not {self.num!r}/{self.den!r}")
        if self.num <= 0 or self.den <= 0:
            raise ConfigError(f"a rate must be positive: {self.num}/{self.den}")

    @classmethod
    def parse(cls, text: str) -> Ratio:
        """``"100"`` or ``"100/3"`` (integers only); :class:`ConfigError` otherwise."""
        match = re.fullmatch(r"\s*(\d+)\s*(?:/\s*(\d+)\s*)?", str(text))
        if not match:
            raise ConfigError(f"not an integer ratio: {text!r} (write e.g. 100 or 100/3)")
        return cls(int(match.group(1)), int(match.group(2) or 1))

    def __str__(self) -> str:
        return str(self.num) if self.den == 1 else f"{self.num}/{self.den}"


@dataclass(frozen=True)
class PurchaseQuote:
    """What a card payment of ``cents`` buys."""

    cents: int
    planck: int
    """CC credited, planck (rounded down)."""
    rounding: Fraction
    """Value paid but not credited, in planck (``0 <= rounding < 1``)."""


@dataclass(frozen=True)
class PayoutQuote:
    """What cashing out ``planck`` pays to PayPal."""

    planck: int
    gross_cents: int
    """Value of ``planck`` in cents, rounded down."""
    fee_cents: int
    """Platform fee, rounded up."""
    net_cents: int
    """Paid to the worker: ``gross_cents - fee_cents``."""
    rounding: Fraction
    """Planck taken but worth less than a cent, kept by the treasury (exact)."""


@dataclass(frozen=True)
class Rates:
    """The bridge's prices and limits (all configurable, README, "Fiat bridge")."""

    cents_per_cc: Ratio = Ratio(100)
    """US cents one CC is worth (default 1 CC = $1)."""
    fuel_per_cent: int = 10**10
    """Fuel units one cent buys (default 10**10 fuel = $0.01)."""
    min_purchase_cents: int = 2_000
    max_purchase_cents: int = 1_000_000
    min_payout_cents: int = 5_000
    """Smallest net payout (after the fee)."""
    fee_bps: int = 1_500
    """Platform fee on payouts, basis points (1500 = 15 %)."""

    def __post_init__(self) -> None:
        for name in ("fuel_per_cent", "min_purchase_cents", "max_purchase_cents"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name} must be positive")
        if self.min_payout_cents <= 0:
            raise ConfigError("min_payout_cents must be positive")
        if not 0 <= self.fee_bps < BASIS_POINTS:
            raise ConfigError(f"fee_bps must be in [0, {BASIS_POINTS}): {self.fee_bps}")
        if self.max_purchase_cents < self.min_purchase_cents:
            raise ConfigError("max_purchase_cents is below min_purchase_cents")

    def purchase(self, cents: int) -> PurchaseQuote:
        """The CC a payment of *cents* buys, rounded down."""
        _check_amount(cents, "cents")
        rate = self.cents_per_cc
        planck, rest = divmod(cents * CC * rate.den, rate.num)
        return PurchaseQuote(cents=cents, planck=planck, rounding=Fraction(rest, rate.num))

    def payout(self, planck: int) -> PayoutQuote:
        """The cents cashing out *planck* pays: gross rounded down, fee rounded up."""
        _check_amount(planck, "planck")
        rate = self.cents_per_cc
        gross, rest = divmod(planck * rate.num, CC * rate.den)
        fee = -(-gross * self.fee_bps // BASIS_POINTS)
        return PayoutQuote(
            planck=planck,
            gross_cents=gross,
            fee_cents=fee,
            net_cents=gross - fee,
            rounding=Fraction(rest, rate.num),
        )

    def planck_for_net(self, net_cents: int) -> int:
        """The fewest planck whose payout nets at least *net_cents* (for quotes)."""
        _check_amount(net_cents, "cents")
        # gross - ceil(gross * f) >= net  <=>  gross >= net / (1 - f) (checked below)
        gross = -(-net_cents * BASIS_POINTS // (BASIS_POINTS - self.fee_bps))
        while self._net(gross) < net_cents:
            gross += 1
        rate = self.cents_per_cc
        return -(-gross * CC * rate.den // rate.num)

    def _net(self, gross: int) -> int:
        return gross - -(-gross * self.fee_bps // BASIS_POINTS)

    def fuel_cents(self, fuel: int) -> int:
        """Price of *fuel* units in cents, rounded up."""
        _check_amount(fuel, "fuel")
        return -(-fuel // self.fuel_per_cent)

    def as_dict(self) -> dict[str, object]:
        return {
            "cents_per_cc": str(self.cents_per_cc),
            "fuel_per_cent": self.fuel_per_cent,
            "min_purchase_cents": self.min_purchase_cents,
            "max_purchase_cents": self.max_purchase_cents,
            "min_payout_cents": self.min_payout_cents,
            "fee_bps": self.fee_bps,
        }


def _check_amount(value: int, unit: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise AmountError(f"not a non-negative integer number of {unit}: {value!r}")


def parse_usd(text: str) -> int:
    """Cents from ``"20"``, ``"20.5"``, ``"$20.50"`` or ``"2050c"`` (plain digits, at most
    2 decimals), never through floats. :class:`AmountError` otherwise."""
    raw = str(text).strip().replace("_", "").replace(",", "")
    if match := re.fullmatch(r"(\d{1,15})c", raw, flags=re.I):
        return int(match.group(1))
    match = re.fullmatch(r"\$?(\d{1,13})(?:\.(\d{1,2}))?", raw)
    if not match:
        raise AmountError(f"not a USD amount: {text!r} (write 20, 20.50 or 2050c)")
    return int(match.group(1)) * 100 + int((match.group(2) or "0").ljust(2, "0"))


def format_usd(cents: int) -> str:
    """``"$1,234.05"`` (``"-$0.10"`` below zero)."""
    sign = "-" if cents < 0 else ""
    whole, rest = divmod(abs(cents), 100)
    return f"{sign}${whole:,}.{rest:02d}"


def format_fraction(value: Fraction) -> str:
    """An exact amount: ``"3"`` or ``"1/3"``."""
    return str(value.numerator) if value.denominator == 1 else f"{value}"
