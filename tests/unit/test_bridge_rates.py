"""Rates, fees and rounding of the fiat bridge: exact integers, the documented rounding
direction, and every remainder accounted for."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ccnet.bridge.exceptions import AmountError, ConfigError
from ccnet.bridge.rates import CC, Rates, Ratio, format_usd, parse_usd

DEFAULT = Rates()


def test_defaults_are_the_products_numbers() -> None:
    assert DEFAULT.purchase(2000).planck == 20 * CC  # $20 buys 20 CC at 1 CC = $1
    assert DEFAULT.fuel_cents(10**10) == 1  # 10**10 fuel = $0.01
    quote = DEFAULT.payout(100 * CC)
    assert (quote.gross_cents, quote.fee_cents, quote.net_cents) == (10_000, 1_500, 8_500)
    assert quote.rounding == 0


def test_payout_keeps_the_sub_cent_dust_and_rounds_the_fee_up() -> None:
    quote = DEFAULT.payout(60 * CC + 123)  # 123 planck worth less than a cent
    assert quote.gross_cents == 6000
    assert quote.rounding == 123
    odd = DEFAULT.payout(CC // 100 * 7)  # 7 cents: fee 1.05 -> 2 cents
    assert (odd.gross_cents, odd.fee_cents, odd.net_cents) == (7, 2, 5)


def test_purchase_rounds_down_at_an_odd_rate() -> None:
    rates = Rates(cents_per_cc=Ratio(300))  # 1 CC = $3
    quote = rates.purchase(2000)
    assert quote.planck == 2000 * CC // 300
    assert quote.rounding == Fraction(2000 * CC % 300, 300)
    assert 0 <= quote.rounding < 1


def test_fuel_quotes_round_up() -> None:
    assert DEFAULT.fuel_cents(1) == 1
    assert DEFAULT.fuel_cents(0) == 0
    assert DEFAULT.fuel_cents(2 * 10**10 + 1) == 3


@given(
    cents=st.integers(0, 10**9),
    num=st.integers(1, 10**6),
    den=st.integers(1, 10**3),
)
def test_purchase_is_exact(cents: int, num: int, den: int) -> None:
    rates = Rates(cents_per_cc=Ratio(num, den))
    quote = rates.purchase(cents)
    # value paid == value credited + what rounding kept, exactly; never in the buyer's favour
    assert Fraction(cents * CC * den, num) == quote.planck + quote.rounding
    assert 0 <= quote.rounding < 1


@given(
    planck=st.integers(0, 10**20),
    num=st.integers(1, 10**6),
    den=st.integers(1, 10**3),
    fee_bps=st.integers(0, 9_999),
)
def test_payout_is_exact(planck: int, num: int, den: int, fee_bps: int) -> None:
    rates = Rates(cents_per_cc=Ratio(num, den), fee_bps=fee_bps)
    quote = rates.payout(planck)
    value_cents = Fraction(planck * num, CC * den)
    assert quote.gross_cents == int(value_cents)  # floor
    assert quote.planck == planck
    # the planck not turned into cents is what rounding kept, in planck
    assert Fraction(quote.gross_cents * CC * den, num) + quote.rounding == planck
    assert quote.fee_cents * 10_000 >= quote.gross_cents * fee_bps  # fee rounds up
    assert (quote.fee_cents - 1) * 10_000 < quote.gross_cents * fee_bps or quote.fee_cents == 0
    assert quote.net_cents == quote.gross_cents - quote.fee_cents >= 0


@given(net=st.integers(0, 10**7), fee_bps=st.integers(0, 9_999))
def test_planck_for_net_is_the_least_that_nets_it(net: int, fee_bps: int) -> None:
    rates = Rates(fee_bps=fee_bps)
    planck = rates.planck_for_net(net)
    assert rates.payout(planck).net_cents >= net
    if planck >= CC // 100:
        assert rates.payout(planck - CC // 100).net_cents < net or net == 0


@pytest.mark.parametrize(
    ("text", "cents"),
    [("20", 2000), ("20.5", 2050), ("$20.50", 2050), ("2050c", 2050), ("1,000", 100_000)],
)
def test_parse_usd(text: str, cents: int) -> None:
    assert parse_usd(text) == cents


@pytest.mark.parametrize("text", ["20.001", "-1", "abc", "1e400", "nan", ""])
def test_parse_usd_refuses(text: str) -> None:
    with pytest.raises(AmountError):
        parse_usd(text)


def test_format_usd() -> None:
    assert format_usd(123405) == "$1,234.05"
    assert format_usd(-10) == "-$0.10"


@pytest.mark.parametrize("bad", [-1, 1.5, True, "3"])
def test_conversions_take_only_non_negative_ints(bad: object) -> None:
    with pytest.raises(AmountError):
        DEFAULT.purchase(bad)  # type: ignore[arg-type]
    with pytest.raises(AmountError):
        DEFAULT.payout(bad)  # type: ignore[arg-type]


def test_bad_rates_are_config_errors() -> None:
    with pytest.raises(ConfigError):
        Ratio.parse("1.5")
    with pytest.raises(ConfigError):
        Ratio(0)
    with pytest.raises(ConfigError):
        Rates(fee_bps=10_000)
    with pytest.raises(ConfigError):
        Rates(min_purchase_cents=10, max_purchase_cents=5)
    assert Ratio.parse(" 250 / 3 ") == Ratio(250, 3)
