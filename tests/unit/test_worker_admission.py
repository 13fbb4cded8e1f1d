"""The worker's money rules, each alone: the unpaid-work ledger
(:mod:`ccnet.worker.admission`), the money settings and the shortest challenge period
(:class:`~ccnet.worker.config.WorkerConfig`), and the payment desk's refusal of a
channel it cannot watch (:class:`~ccnet.worker.payments.PaymentDesk`, against a fake
chain that only answers the channel read)."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any, cast

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ccnet.channels import MemoryTransport
from ccnet.client import Chain, Keys
from ccnet.client.pallets.channels import ChannelInfo
from ccnet.worker.admission import DEFAULT_MAX_UNPAID_JOBS, WorkLedger
from ccnet.worker.config import WorkerConfig
from ccnet.worker.exceptions import (
    ChallengePeriodError,
    ConfigError,
    PaymentError,
    UncoveredJobError,
    UnpaidWorkError,
)
from ccnet.worker.payments import PaymentDesk

ALICE = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY"
CHANNEL = bytes(range(32))


# -- the ledger ----------------------------------------------------------------------


def test_running_and_delivered_unpaid_jobs_count_up_to_the_limit() -> None:
    ledger = WorkLedger(2)
    first = ledger.admit(ALICE, 100, payer_balance=1_000)
    ledger.admit(ALICE, 100, payer_balance=1_000)
    with pytest.raises(UnpaidWorkError) as caught:
        ledger.admit(ALICE, 100, payer_balance=1_000)
    assert (caught.value.unpaid, caught.value.limit, caught.value.code) == (2, 2, "payment")
    ledger.delivered(ALICE, first, 60)  # delivered and unpaid: still counts
    assert ledger.unpaid(ALICE) == 2
    ledger.admit("someone else", 100, payer_balance=1_000)  # per requester
    assert ledger.unpaid_total() == 3 and ledger.requesters() == [ALICE, "someone else"]


def test_payments_cover_delivered_results_cheapest_first() -> None:
    ledger = WorkLedger(4)
    ledger.observe(ALICE, CHANNEL, 500)  # paid before: earlier work, the baseline
    tickets = [ledger.admit(ALICE, 100, payer_balance=10_000) for _ in range(3)]
    for ticket, price in zip(tickets, (60, 30, 50), strict=True):
        ledger.delivered(ALICE, ticket, price)
    assert ledger.unpaid(ALICE) == 3 and ledger.outstanding(ALICE) == 140
    ledger.observe(ALICE, CHANNEL, 500 + 29)  # one planck short of the cheapest
    assert ledger.unpaid(ALICE) == 3 and ledger.outstanding(ALICE) == 111
    ledger.observe(ALICE, CHANNEL, 500 + 80)  # the 30 and the 50
    assert ledger.unpaid(ALICE) == 1 and ledger.outstanding(ALICE) == 60
    ledger.observe(ALICE, CHANNEL, 500 + 70)  # a stale look never takes payments back
    assert ledger.unpaid(ALICE) == 1
    ledger.observe(ALICE, bytes(32), 1_000)  # a new channel: its baseline
    assert ledger.unpaid(ALICE) == 1
    ledger.observe(ALICE, bytes(32), 1_060)
    assert ledger.unpaid(ALICE) == 0 and ledger.outstanding(ALICE) == 0
    assert sorted(ledger.channels(ALICE)) == sorted([CHANNEL, bytes(32)])


def test_a_cheap_result_paid_before_an_older_dear_one_frees_its_place() -> None:
    """The demo's case: a resize (redundancy 3) delivered first and paid last, once its
    three workers answered; a SHA-256 (redundancy 1) delivered after it and paid at
    once. The requester keeps within the limit and must not be refused."""
    ledger = WorkLedger(2)
    ledger.observe(ALICE, CHANNEL, 0)
    resize = ledger.admit(ALICE, 1_000, payer_balance=10_000)
    sha = ledger.admit(ALICE, 1_000, payer_balance=10_000)
    ledger.delivered(ALICE, resize, 445)
    ledger.delivered(ALICE, sha, 56)
    ledger.observe(ALICE, CHANNEL, 56)  # the SHA-256 paid
    ledger.admit(ALICE, 1_000, payer_balance=10_000)  # its place is free
    assert ledger.unpaid(ALICE) == 2 and ledger.outstanding(ALICE) == 1_445
    ledger.observe(ALICE, CHANNEL, 56 + 445)  # the resize paid
    assert ledger.unpaid(ALICE) == 1


@settings(max_examples=300, deadline=None)
@given(
    prices=st.lists(st.integers(1, 1_000), min_size=1, max_size=12),
    data=st.data(),
)
def test_matching_frees_what_honest_payments_free_and_never_more_than_paid(
    prices: list[int], data: st.DataObject
) -> None:
    """Results delivered in one order, some paid their exact price in another. The
    ledger never counts more unpaid results than were left unpaid (an honest requester
    is never refused), never frees more results than the money paid can cover (the
    most results whose prices sum to at most what was paid), and owes exactly the
    difference in planck."""
    ledger = WorkLedger(len(prices))
    ledger.observe(ALICE, CHANNEL, 0)
    tickets = [ledger.admit(ALICE, 1_000, payer_balance=10**9) for _ in prices]
    for ticket, price in zip(tickets, prices, strict=True):
        ledger.delivered(ALICE, ticket, price)
    order = data.draw(st.permutations(range(len(prices))))
    paid_count = data.draw(st.integers(0, len(prices)))
    paid = 0
    for done, index in enumerate(order[:paid_count], start=1):
        paid += prices[index]
        ledger.observe(ALICE, CHANNEL, paid)
        most_coverable = 0
        for total in itertools.accumulate(sorted(prices)):
            most_coverable += total <= paid
        assert ledger.unpaid(ALICE) <= len(prices) - done
        assert len(prices) - ledger.unpaid(ALICE) <= most_coverable
        assert ledger.outstanding(ALICE) == sum(prices) - paid


def test_the_balance_must_cover_what_is_owed_plus_the_reservation() -> None:
    ledger = WorkLedger(4)
    first = ledger.admit(ALICE, 400, payer_balance=1_000)
    ledger.delivered(ALICE, first, 300)  # owed 300
    ledger.admit(ALICE, 400, payer_balance=1_000)  # 300 + 400 <= 1000
    with pytest.raises(UncoveredJobError) as caught:
        ledger.admit(ALICE, 301, payer_balance=1_000)
    assert (caught.value.needed, caught.value.available) == (301, 300)
    assert ledger.unpaid(ALICE) == 2  # the refused job is not counted


def test_failed_and_abandoned_jobs_stop_counting_and_are_not_owed() -> None:
    ledger = WorkLedger(1)
    ticket = ledger.admit(ALICE, 100, payer_balance=100)
    ledger.dropped(ALICE, ticket)
    ledger.delivered(ALICE, ticket, 100)  # a ticket counts once
    assert ledger.unpaid(ALICE) == 0 and ledger.outstanding(ALICE) == 0
    free = ledger.admit(ALICE, 100, payer_balance=100)
    ledger.delivered(ALICE, free, 0)  # a result that costs nothing is paid
    assert ledger.unpaid(ALICE) == 0


def test_a_result_that_was_not_sent_is_recalled() -> None:
    ledger = WorkLedger(4)
    tickets = [ledger.admit(ALICE, 100, payer_balance=1_000) for _ in range(3)]
    for ticket, price in zip(tickets, (60, 30, 50), strict=True):
        ledger.delivered(ALICE, ticket, price)
    ledger.sent(ALICE, tickets[0])
    ledger.sent(ALICE, tickets[2])
    ledger.recall(ALICE, tickets[1])  # the 30-planck result never left
    assert ledger.unpaid(ALICE) == 2 and ledger.outstanding(ALICE) == 110
    ledger.observe(ALICE, CHANNEL, 0)
    ledger.observe(ALICE, CHANNEL, 60)  # covers the 50 (cheapest), 10 left over
    assert ledger.unpaid(ALICE) == 1 and ledger.outstanding(ALICE) == 50
    ledger.recall(ALICE, tickets[0])  # it left: nothing to take back
    ledger.recall(ALICE, tickets[1])  # recalled already
    ledger.recall(ALICE, 999)  # no such ticket
    ledger.recall("someone else", tickets[2])  # not theirs
    assert ledger.unpaid(ALICE) == 1 and ledger.outstanding(ALICE) == 50


def test_a_recalled_result_already_covered_gives_its_money_back() -> None:
    """A 30-planck result is being sent when the requester pays 50 for an older result:
    the 50 covers the 30 first (cheapest). The 30 then fails to leave: the money goes
    back and covers the 50 it was for, once only."""
    ledger = WorkLedger(4)
    ledger.observe(ALICE, CHANNEL, 0)
    dear, cheap = (ledger.admit(ALICE, 100, payer_balance=1_000) for _ in range(2))
    ledger.delivered(ALICE, dear, 50)
    ledger.sent(ALICE, dear)
    ledger.delivered(ALICE, cheap, 30)
    ledger.observe(ALICE, CHANNEL, 50)
    assert ledger.unpaid(ALICE) == 1 and ledger.outstanding(ALICE) == 30
    ledger.recall(ALICE, cheap)
    assert ledger.unpaid(ALICE) == 0 and ledger.outstanding(ALICE) == 0
    ledger.recall(ALICE, cheap)  # a second recall mints nothing
    ledger.recall(ALICE, dear)  # nor does recalling what left
    late = ledger.admit(ALICE, 100, payer_balance=1_000)
    ledger.delivered(ALICE, late, 20)
    assert ledger.unpaid(ALICE) == 1 and ledger.outstanding(ALICE) == 20


@pytest.mark.parametrize("limit", [0, -1, True, 1.5])
def test_bad_limits_are_refused(limit: Any) -> None:
    with pytest.raises(ConfigError):
        WorkLedger(limit)


# -- the settings --------------------------------------------------------------------


def test_money_defaults() -> None:
    cfg = WorkerConfig.from_env({})
    assert cfg.free_jobs is False
    assert cfg.max_unpaid_jobs == DEFAULT_MAX_UNPAID_JOBS == 4
    assert cfg.max_sessions_per_key == 4
    assert (cfg.channel_poll_interval, cfg.challenge_safety_factor) == (1.0, 90)
    # 1 s x 90 looks = 90 s = 15 blocks of 6 s: the dev preset (20) passes, the
    # chain's minimum (10) does not.
    assert cfg.min_challenge_blocks() == cfg.min_challenge_blocks(6_000) == 15
    assert cfg.min_challenge_blocks(1_000) == 90
    assert (
        WorkerConfig(channel_poll_interval=0.25, challenge_safety_factor=10).min_challenge_blocks(
            6_000
        )
        == 1
    )


def test_money_knobs_from_the_environment() -> None:
    cfg = WorkerConfig.from_env(
        {
            "CCNET_WORKER_FREE_JOBS": "yes",
            "CCNET_WORKER_MAX_UNPAID_JOBS": "2",
            "CCNET_WORKER_CHANNEL_POLL_INTERVAL": "0.5",
            "CCNET_WORKER_CHALLENGE_SAFETY_FACTOR": "120",
        }
    )
    assert cfg.free_jobs and cfg.max_unpaid_jobs == 2
    assert cfg.min_challenge_blocks(6_000) == 10


@pytest.mark.parametrize(
    "knob",
    [
        {"max_unpaid_jobs": 0},
        {"max_sessions_per_key": 0},
        {"challenge_safety_factor": 0},
        {"channel_poll_interval": 0},
        {"channel_poll_interval": True},
        {"free_jobs": 1},
    ],
)
def test_bad_money_knobs_are_refused(knob: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        WorkerConfig(**knob)


def test_block_time_must_be_positive() -> None:
    with pytest.raises(ConfigError):
        WorkerConfig().min_challenge_blocks(0)


# -- the payment desk ----------------------------------------------------------------


class _Pallet:
    def __init__(self, info: ChannelInfo | None) -> None:
        self.info = info

    def channel(self, channel_id: bytes) -> ChannelInfo | None:
        return self.info


class _Chain:
    def __init__(self, info: ChannelInfo | None) -> None:
        self.channels = _Pallet(info)


def _info(*, period: int, phase: str = "Funded") -> ChannelInfo:
    worker = str(Keys.from_uri("//Bob").ss58_address)
    return ChannelInfo("0x" + CHANNEL.hex(), ALICE, worker, 10**12, 0, phase, None, period, 1)


@pytest.mark.parametrize(
    ("info", "error", "text"),
    [
        (_info(period=14), ChallengePeriodError, "challenge period of 14 blocks"),
        (_info(period=20, phase="Opening"), PaymentError, "is opening, not funded"),
        (_info(period=20, phase="Closing"), PaymentError, "is closing, not funded"),
        (None, PaymentError, "not open on chain"),
    ],
)
async def test_the_desk_refuses_channels_it_cannot_defend(
    tmp_path: Path, info: ChannelInfo | None, error: type[Exception], text: str
) -> None:
    desk = PaymentDesk(
        Keys.from_uri("//Bob"),
        tmp_path / "channels.db",
        chain=cast(Chain, _Chain(info)),
        genesis_hash=bytes(32),
        min_challenge_blocks=15,
    )
    try:
        ours, _ = MemoryTransport.pair()
        with pytest.raises(error, match=text) as caught:
            await desk.bind(CHANNEL, ALICE, ours)
        if isinstance(caught.value, ChallengePeriodError):
            assert (caught.value.period, caught.value.minimum) == (14, 15)
        assert desk.party.channels == []  # nothing joined or stored
    finally:
        await desk.close()
