"""The bridge ledger on a real SQLite file and a real PostgreSQL server: migrations,
idempotent steps, exactly-once webhook application under concurrency, balanced journal
entries."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import func, select

from ccnet.bridge.db import Database
from ccnet.bridge.exceptions import BelowMinimumError, BridgeError, ConflictError
from ccnet.bridge.journal import PLANCK, USD, UnbalancedEntryError, post
from ccnet.bridge.ledger import Ledger
from ccnet.bridge.models import Base, Posting, Transfer
from ccnet.bridge.rates import CC, Rates
from ccnet.client import Keys

BUYER = str(Keys.from_uri("//Bob").ss58_address)
TREASURY = str(Keys.from_uri("//Charlie").ss58_address)
BRIDGE = "unit-bridge"


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The same tests on the embedded default and on a real PostgreSQL server."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ledger.db'}"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def ledger(database_url: str) -> Iterator[Ledger]:
    db = Database(database_url)
    db.migrate()
    ledger = Ledger(db, Rates())
    ledger.open(TREASURY, 1_000 * CC)
    yield ledger
    db.close()


def intent(purchase_id: str, cents: int, pi: str = "pi_1", **extra: object) -> dict[str, object]:
    return {
        "id": pi,
        "object": "payment_intent",
        "amount": cents,
        "currency": "usd",
        "created": 1_700_000_000,
        "metadata": {"bridge": BRIDGE, "purchase": purchase_id},
        **extra,
    }


def sums(ledger: Ledger) -> dict[str, int]:
    with ledger.db.session() as s:
        rows = s.execute(select(Posting.currency, func.sum(Posting.amount)).group_by("currency"))
        return {c: int(t) for c, t in rows}


def test_migrations_match_the_models(database_url: str) -> None:
    db = Database(database_url)
    db.migrate()
    db.migrate()  # idempotent
    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []
    db.close()


def test_purchase_is_idempotent_per_request_id(ledger: Ledger) -> None:
    first, created = ledger.open_purchase("req-1", BUYER, 2000)
    again, created_again = ledger.open_purchase("req-1", BUYER, 2000)
    assert created and not created_again and again.id == first.id
    with pytest.raises(ConflictError):
        ledger.open_purchase("req-1", BUYER, 2500)


def test_purchase_limits(ledger: Ledger) -> None:
    with pytest.raises(BelowMinimumError):
        ledger.open_purchase("req-small", BUYER, 1999)
    with pytest.raises(BridgeError):
        ledger.open_purchase("req-bad", "not-an-address", 2000)


def test_succeeded_event_credits_once(ledger: Ledger) -> None:
    purchase, _ = ledger.open_purchase("req-1", BUYER, 2000)
    ledger.attach_intent(purchase.id, "pi_1")
    obj = intent(purchase.id, 2000)
    assert ledger.record_stripe_event("evt_1", "payment_intent.succeeded", 1, obj, BRIDGE) == (
        "credited"
    )
    assert ledger.record_stripe_event("evt_1", "payment_intent.succeeded", 1, obj, BRIDGE) == (
        "duplicate"
    )
    # the same payment under another event id (Stripe re-sends, or a sweep) credits nothing
    assert ledger.record_stripe_event("evt_2", "payment_intent.succeeded", 1, obj, BRIDGE) == (
        "already_paid"
    )
    transfers = ledger.transfers()
    assert [(t.key, t.planck) for t in transfers] == [(f"credit:{purchase.id}", 20 * CC)]
    assert sums(ledger) == {USD: 0, PLANCK: 0}


def test_out_of_order_failure_after_success_changes_nothing(ledger: Ledger) -> None:
    purchase, _ = ledger.open_purchase("req-1", BUYER, 2000)
    ledger.attach_intent(purchase.id, "pi_1")
    obj = intent(purchase.id, 2000)
    ledger.record_stripe_event("evt_ok", "payment_intent.succeeded", 2, obj, BRIDGE)
    outcome = ledger.record_stripe_event("evt_old", "payment_intent.payment_failed", 1, obj, BRIDGE)
    assert outcome == "already_paid"
    assert ledger.purchase(purchase.id).status == "paid"


def test_success_after_a_failed_attempt_still_credits(ledger: Ledger) -> None:
    purchase, _ = ledger.open_purchase("req-1", BUYER, 2000)
    ledger.attach_intent(purchase.id, "pi_1")
    obj = intent(purchase.id, 2000)
    assert (
        ledger.record_stripe_event("e1", "payment_intent.payment_failed", 1, obj, BRIDGE)
        == "marked_failed"
    )
    assert ledger.record_stripe_event("e2", "payment_intent.succeeded", 2, obj, BRIDGE) == (
        "credited"
    )


def test_foreign_and_mismatched_intents_are_not_credited(ledger: Ledger) -> None:
    purchase, _ = ledger.open_purchase("req-1", BUYER, 2000)
    ledger.attach_intent(purchase.id, "pi_1")
    other_bridge = intent(purchase.id, 2000) | {
        "metadata": {"bridge": "x", "purchase": purchase.id}
    }
    assert ledger.record_stripe_event(
        "e1", "payment_intent.succeeded", 1, other_bridge, BRIDGE
    ) == ("unmatched")
    second_intent = intent(purchase.id, 2000, pi="pi_2")
    assert ledger.record_stripe_event(
        "e2", "payment_intent.succeeded", 1, second_intent, BRIDGE
    ) == ("unmatched")
    assert ledger.transfers() == []


def test_concurrent_deliveries_apply_once(ledger: Ledger) -> None:
    purchase, _ = ledger.open_purchase("req-1", BUYER, 2000)
    ledger.attach_intent(purchase.id, "pi_1")
    obj = intent(purchase.id, 2000)
    outcomes: list[str] = []
    barrier = threading.Barrier(8)

    def deliver(i: int) -> None:
        barrier.wait()
        event_id = "evt_same" if i % 2 else f"evt_{i}"
        outcomes.append(
            ledger.record_stripe_event(event_id, "payment_intent.succeeded", 1, obj, BRIDGE)
        )

    threads = [threading.Thread(target=deliver, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes.count("credited") == 1
    assert len(ledger.transfers()) == 1


def test_payout_flow_postings_balance(ledger: Ledger) -> None:
    payout, created = ledger.open_payout(
        request_id="p1",
        account=BUYER,
        email="w@example.com",
        planck=100 * CC,
        extrinsic="0x00",
        extrinsic_hash="0x" + "11" * 32,
        scan_from=1,
    )
    assert created and payout.net_cents == 8500 and payout.fee_cents == 1500
    ledger.payout_taken(payout.id, "0xblock")
    ledger.payout_taken(payout.id, "0xblock")  # repeat: nothing more
    ledger.payout_sent(payout.id, "BATCH", None)
    ledger.payout_paid(payout.id, "ITEM", 25)
    ledger.payout_paid(payout.id, "ITEM", 25)
    assert sums(ledger) == {USD: 0, PLANCK: 0}
    assert ledger.payout(payout.id).status == "paid"


def test_failed_payout_queues_one_refund(ledger: Ledger) -> None:
    payout, _ = ledger.open_payout(
        request_id="p1",
        account=BUYER,
        email="w@example.com",
        planck=100 * CC,
        extrinsic="0x00",
        extrinsic_hash="0x" + "22" * 32,
        scan_from=1,
    )
    ledger.payout_taken(payout.id, "0xblock")
    ledger.payout_sent(payout.id, "BATCH", None)
    ledger.payout_failed(payout.id, "PayPal RETURNED", "RETURNED")
    ledger.payout_failed(payout.id, "PayPal RETURNED", "RETURNED")
    refunds = [t for t in ledger.transfers() if t.kind == "refund"]
    assert [(t.dest, t.planck) for t in refunds] == [(BUYER, 100 * CC)]
    assert sums(ledger) == {USD: 0, PLANCK: 0}


def test_payout_threshold_and_reuse(ledger: Ledger) -> None:
    with pytest.raises(BelowMinimumError):
        ledger.open_payout(
            request_id="small",
            account=BUYER,
            email="w@example.com",
            planck=58 * CC,  # nets $49.30
            extrinsic="0x00",
            extrinsic_hash="0x" + "33" * 32,
            scan_from=1,
        )
    ledger.open_payout(
        request_id="a",
        account=BUYER,
        email="w@example.com",
        planck=60 * CC,
        extrinsic="0x00",
        extrinsic_hash="0x" + "44" * 32,
        scan_from=1,
    )
    with pytest.raises(ConflictError):  # one signed transfer backs one payout
        ledger.open_payout(
            request_id="b",
            account=BUYER,
            email="w@example.com",
            planck=60 * CC,
            extrinsic="0x00",
            extrinsic_hash="0x" + "44" * 32,
            scan_from=1,
        )
    with pytest.raises(BridgeError):
        ledger.open_payout(
            request_id="c",
            account=BUYER,
            email="not an email",
            planck=60 * CC,
            extrinsic="0x00",
            extrinsic_hash="0x" + "55" * 32,
            scan_from=1,
        )


def test_unbalanced_entries_are_refused(ledger: Ledger) -> None:
    with ledger.db.transaction() as s, pytest.raises(UnbalancedEntryError):
        post(s, "bad", "x", [("a", USD, 1), ("b", USD, -2)])


def test_the_ledger_belongs_to_one_treasury(ledger: Ledger) -> None:
    ledger.open(TREASURY, 5)  # same treasury: nothing changes
    assert ledger.meta()["opening_balance"] == str(1_000 * CC)
    with pytest.raises(ConflictError):
        ledger.open(BUYER, 5)


def test_transfer_lifecycle(ledger: Ledger) -> None:
    purchase, _ = ledger.open_purchase("req-1", BUYER, 2000)
    ledger.attach_intent(purchase.id, "pi_1")
    ledger.record_stripe_event(
        "e", "payment_intent.succeeded", 1, intent(purchase.id, 2000), BRIDGE
    )
    (transfer,) = ledger.transfers()
    assert ledger.transfer_signed(transfer.id, 0, "0xaa", "0x" + "66" * 32, 5)
    # a second signer (another bridge process on the same ledger) loses the claim
    assert not ledger.transfer_signed(transfer.id, 0, "0xcc", "0x" + "88" * 32, 5)
    ledger.transfer_failed_on_chain(transfer.id, 7, "Balances.Whatever")
    (again,) = ledger.transfers()
    assert again.status == "pending" and again.extrinsic is None
    ledger.transfer_signed(transfer.id, 1, "0xbb", "0x" + "77" * 32, 6)
    ledger.transfer_done(transfer.id, "0xblock", 9)
    ledger.transfer_done(transfer.id, "0xblock", 9)
    with ledger.db.session() as s:
        done = s.get(Transfer, transfer.id)
        assert done is not None and done.status == "done"
    assert ledger.purchase(purchase.id).status == "credited"
    assert sums(ledger) == {USD: 0, PLANCK: 0}
