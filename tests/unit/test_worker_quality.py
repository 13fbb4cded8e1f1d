"""Proof-of-Quality score, the tracker that feeds it, ranking and reputation tiers."""

from __future__ import annotations

from dataclasses import replace

import pytest

from ccnet.client.requester.quality import (
    CC,
    TIER_POLICIES,
    QualityInputs,
    QualityTracker,
    QualityWeights,
    Reputation,
    Tier,
    consistency_score,
    latency_score,
    quality_score,
    rank_workers,
    reliability_score,
    tier_of,
    uptime_score,
)

T0 = 1_750_000_000_000


@pytest.mark.parametrize(
    ("uptime", "score"), [(1.0, 1.0), (0.95, 0.95), (0.90, 0.90), (0.85, 0.84), (0.70, 0.47)]
)
def test_uptime_cubic_penalty_matches_the_seed(uptime: float, score: float) -> None:
    assert uptime_score(uptime) == pytest.approx(score, abs=0.005)


def test_consistency_beats_raw_speed() -> None:
    steady = quality_score(QualityInputs(uptime=1.0, latencies_ms=(95.0, 105.0)))
    jumpy = quality_score(QualityInputs(uptime=1.0, latencies_ms=(0.0, 100.0, 50.0, 200.0)))
    # 100 +- 5 ms beats 50 +- ~70 ms
    assert steady.total > jumpy.total
    assert steady.consistency > jumpy.consistency
    assert steady.latency < 1.0


def test_component_edges() -> None:
    assert latency_score(None) == 0.5 and latency_score(2_000) == 0.0
    assert consistency_score(None) == 0.5 and consistency_score(500) == 0.0
    assert reliability_score(0, 0) == 0.5
    assert reliability_score(98, 0) == pytest.approx(0.99)
    assert uptime_score(-1) == 0.0 and uptime_score(2) == 1.0


def test_score_is_deterministic_and_bounded() -> None:
    inputs = QualityInputs(
        uptime=0.97, latencies_ms=(80.0, 90.0, 85.0), succeeded=50, failed=1, speed_multiplier=3.0
    )
    a, b = quality_score(inputs), quality_score(inputs)
    assert a == b
    assert 0.0 <= a.total <= 1.0
    assert a.capacity == 1.0
    w = QualityWeights()
    expected = (
        w.uptime * a.uptime
        + w.latency * a.latency
        + w.consistency * a.consistency
        + w.capacity * a.capacity
        + w.reliability * a.reliability
    )
    assert a.total == pytest.approx(expected)


def test_weights_must_sum_to_one() -> None:
    with pytest.raises(ValueError):
        QualityWeights(uptime=0.5)


def test_tracker_uptime_from_heartbeats() -> None:
    tracker = QualityTracker(window_ms=600_000)
    # a steady worker: every 15 s for 10 minutes
    for i in range(41):
        tracker.observe_heartbeat("steady", T0 + i * 15_000)
    # a flaky worker: every other heartbeat
    for i in range(0, 41, 2):
        tracker.observe_heartbeat("flaky", T0 + i * 15_000)
    now = T0 + 600_000
    assert tracker.uptime("steady", now) == 1.0
    assert tracker.uptime("flaky", now) == pytest.approx(21 / 41)
    assert tracker.uptime("unknown", now) == 0.0
    assert tracker.score("steady", now).total > tracker.score("flaky", now).total


def test_tracker_jobs_latency_and_speed() -> None:
    tracker = QualityTracker(latency_samples=3)
    tracker.observe_heartbeat("w", T0, speed_multiplier=0.5)
    for rtt in (500.0, 100.0, 100.0, 100.0):
        tracker.observe_latency("w", rtt, T0)
    tracker.observe_job("w", True, T0)
    tracker.observe_job("w", False, T0)
    inputs = tracker.inputs("w", T0)
    assert inputs.latencies_ms == (100.0, 100.0, 100.0)  # only the last 3
    assert (inputs.succeeded, inputs.failed) == (1, 1)
    assert inputs.speed_multiplier == 0.5
    assert tracker.workers() == ["w"]


def test_rank_is_best_first_with_stable_ties() -> None:
    high = quality_score(QualityInputs(uptime=1.0, succeeded=10))
    low = quality_score(QualityInputs(uptime=0.5))
    ranking = rank_workers({"c": low, "b": high, "a": high})
    assert ranking == ["a", "b", "c"]


def test_tiers() -> None:
    veteran = Reputation(500, 2, 0, 0, value_earned=5_000 * CC, distinct_requesters=40)
    assert tier_of(0.9, veteran) is Tier.TRUSTED
    assert tier_of(0.7, veteran) is Tier.STANDARD  # history alone is not enough
    known = Reputation(50, 0, 0, 0, value_earned=50 * CC, distinct_requesters=5)
    assert tier_of(0.9, known) is Tier.STANDARD
    assert tier_of(0.9, replace(known, completed=5)) is Tier.PROBATION  # too new
    assert tier_of(0.99, replace(veteran, slashed=1)) is Tier.PROBATION
    assert tier_of(0.9, replace(known, failed=10)) is Tier.PROBATION  # faulty
    assert tier_of(0.9, replace(known, failed=1)) is Tier.STANDARD
    # Counts are cheap: 10,000 completions of 1-planck tasks from 2 accounts of its own
    # leave a worker on probation, and hide none of its failures.
    farmed = Reputation(10_000, 3, 0, 0, value_earned=10_000, distinct_requesters=2)
    assert farmed.verified_completed == 0 and tier_of(0.99, farmed) is Tier.PROBATION
    assert farmed.fault_rate == 1.0
    # Value from too few requesters is not independent yet; enough of them is.
    rich = Reputation(100, 0, 0, 0, value_earned=1_000 * CC, distinct_requesters=2)
    assert tier_of(0.99, rich) is Tier.PROBATION
    assert tier_of(0.99, replace(rich, distinct_requesters=3)) is Tier.STANDARD
    assert rich.standing < veteran.standing == 1.0
    assert Reputation.from_chain(
        {"completed": 3, "failed": 1, "disputed": 0, "slashed": 0}
    ) == Reputation(3, 1, 0, 0)


def test_tier_policies_fit_the_chain() -> None:
    for policy in TIER_POLICIES.values():
        assert 1 <= policy.redundancy <= 7
        assert 0 <= policy.spot_check_permille <= 1000
    assert TIER_POLICIES[Tier.PROBATION].zk_proof_required
    assert not TIER_POLICIES[Tier.TRUSTED].zk_proof_required
    assert (
        TIER_POLICIES[Tier.PROBATION].redundancy
        > TIER_POLICIES[Tier.STANDARD].redundancy
        > TIER_POLICIES[Tier.TRUSTED].redundancy
    )
