"""Who the requester asks: on-chain eligibility and the quality ranking of DHT offers."""

from __future__ import annotations

from substrateinterface import Keypair, KeypairType

from ccnet.client.net.records import Capability, CapabilityRecord
from ccnet.client.pallets.tasks import Reputation as ChainReputation
from ccnet.client.pallets.tasks import WorkerInfo
from ccnet.client.requester.discovery import Candidate, is_eligible, rank_offers
from ccnet.client.requester.quality import QualityTracker, Reputation, Tier

KEYS = {
    name: Keypair.create_from_uri(f"//{name}", ss58_format=42, crypto_type=KeypairType.SR25519)
    for name in ("Alice", "Bob", "Charlie", "Dave")
}
NOW = 1_700_000_000_000


def info(banned_until: int | None = None) -> WorkerInfo:
    return WorkerInfo(
        address="x",
        capabilities=(b"wasm",),
        endpoint=b"",
        registered_at=1,
        reputation=ChainReputation(0, 0, 0, 0),
        active_claims=0,
        banned_until=banned_until,
    )


def candidate(
    name: str, price: int = 1, speed: int = 10**8, completed: int = 0, requesters: int = 0
) -> Candidate:
    record = CapabilityRecord.create(
        KEYS[name],
        Capability("wasm", speed, price),
        f"http://127.0.0.1:1/{name}",
        timestamp_ms=NOW,
    )
    rep = Reputation(
        completed=completed, value_earned=completed * 10**12, distinct_requesters=requesters
    )
    return Candidate(record, rep, stake=10**13)


def test_eligibility_is_registered_staked_and_not_banned() -> None:
    assert is_eligible(info(), 10, min_stake=10, block=5)
    assert not is_eligible(None, 10, min_stake=10, block=5)
    assert not is_eligible(info(), 9, min_stake=10, block=5)
    assert not is_eligible(info(banned_until=6), 10, min_stake=10, block=5)
    assert is_eligible(info(banned_until=5), 10, min_stake=10, block=5)


def test_unknown_workers_rank_by_price_then_speed_then_address() -> None:
    tracker = QualityTracker()
    offers = rank_offers(
        [
            candidate("Alice", price=3),
            candidate("Bob", price=1, speed=10**7),
            candidate("Charlie", price=1, speed=10**9),
        ],
        tracker,
        NOW,
    )
    assert [o.address for o in offers] == [
        KEYS[n].ss58_address for n in ("Charlie", "Bob", "Alice")
    ]
    assert all(o.tier is Tier.PROBATION for o in offers)
    assert offers[0].policy.redundancy == 3


def test_quality_score_beats_price_and_cheaters_sink() -> None:
    tracker = QualityTracker(heartbeat_interval_ms=1_000)
    alice, bob = (str(KEYS[n].ss58_address) for n in ("Alice", "Bob"))
    for i in range(10):
        tracker.observe_heartbeat(alice, NOW - 9_000 + i * 1_000)
        tracker.observe_latency(alice, 40.0, NOW)
        tracker.observe_job(alice, True, NOW)
        tracker.observe_job(bob, False, NOW)
    offers = rank_offers([candidate("Bob", price=1), candidate("Alice", price=5)], tracker, NOW)
    assert [o.address for o in offers] == [alice, bob]
    assert offers[0].score.total > offers[1].score.total
    assert offers[0].score.reliability > 0.9 > 0.1 > offers[1].score.reliability


def test_excluded_workers_are_left_out() -> None:
    offers = rank_offers(
        [candidate("Alice"), candidate("Dave")],
        QualityTracker(),
        NOW,
        excluded={str(KEYS["Dave"].ss58_address)},
    )
    assert [o.address for o in offers] == [KEYS["Alice"].ss58_address]


def test_chain_reputation_sets_the_tier() -> None:
    tracker = QualityTracker(heartbeat_interval_ms=1_000)
    alice = str(KEYS["Alice"].ss58_address)
    for i in range(10):
        tracker.observe_heartbeat(alice, NOW - 9_000 + i * 1_000)
    # 20 paid results but from two requesters only: not independent yet.
    (offer,) = rank_offers([candidate("Alice", completed=20, requesters=2)], tracker, NOW)
    assert offer.tier is Tier.PROBATION
    (offer,) = rank_offers([candidate("Alice", completed=20, requesters=3)], tracker, NOW)
    assert offer.tier is Tier.STANDARD and offer.policy.redundancy == 2
