"""Signed heartbeats: payload, verifier (stale, future, replay, rate, signature),
schedule (15 s +- 10 %) and the transport-free send loop."""

from __future__ import annotations

import asyncio
import dataclasses
import random
from typing import Any

import pytest
from substrateinterface import Keypair

from ccnet.client.exceptions import BadSignatureError, MalformedMessageError
from ccnet.client.jobs.exceptions import (
    FutureHeartbeatError,
    HeartbeatRateError,
    ReplayedHeartbeatError,
    StaleHeartbeatError,
)
from ccnet.client.jobs.heartbeat import (
    HEARTBEAT_DOMAIN,
    NONCE_SIZE,
    Heartbeat,
    HeartbeatMetrics,
    HeartbeatSchedule,
    HeartbeatVerifier,
    heartbeat_loop,
)
from ccnet.worker.config import WorkerConfig

T0 = 1_750_000_000_000
METRICS = HeartbeatMetrics(
    jobs_running=1,
    jobs_completed=10,
    jobs_failed=2,
    fuel_used=5 * 10**19,
    speed_milli=12_500,
    memory_free_bytes=2**30,
    uptime_ms=3_600_000,
)


class Clock:
    def __init__(self, now: int = T0) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


def _beat(key: Keypair, at: int = T0, nonce: bytes | None = None) -> Heartbeat:
    return Heartbeat.create(key, METRICS, timestamp_ms=at, nonce=nonce)


def test_payload_layout(worker_key: Keypair) -> None:
    beat = _beat(worker_key, nonce=b"\x07" * 16)
    payload = beat.signing_payload()
    assert len(HEARTBEAT_DOMAIN) == 16
    assert payload[:16] == HEARTBEAT_DOMAIN
    assert payload[16:48] == bytes(worker_key.public_key)
    assert payload[48:56] == T0.to_bytes(8, "little")
    assert payload[56:72] == b"\x07" * 16
    assert payload[72:] == METRICS.encode()
    assert len(payload) == 72 + 4 + 8 + 8 + 16 + 4 + 8 + 8


def test_nonces_are_random_16_bytes(worker_key: Keypair) -> None:
    a, b = _beat(worker_key), _beat(worker_key)
    assert len(a.nonce) == NONCE_SIZE
    assert a.nonce != b.nonce
    assert a.is_valid() and b.is_valid()


def test_json_round_trip(worker_key: Keypair) -> None:
    beat = _beat(worker_key)
    assert Heartbeat.from_json(beat.to_json()) == beat


@pytest.mark.parametrize(
    "mutate",
    [
        lambda w: w.pop("nonce"),
        lambda w: w.update(nonce="0x00"),
        lambda w: w["metrics"].pop("uptime_ms"),
        lambda w: w["metrics"].update(jobs_running=-1),
        lambda w: w["metrics"].update(jobs_running=2**32),
        lambda w: w.update(timestamp_ms=1.5),
        lambda w: w.update(extra=True),
    ],
)
def test_malformed_wire_forms(worker_key: Keypair, mutate: Any) -> None:
    wire = _beat(worker_key).to_json()
    mutate(wire)
    with pytest.raises(MalformedMessageError):
        Heartbeat.from_json(wire)


def test_verifier_accepts_a_fresh_heartbeat(worker_key: Keypair) -> None:
    verifier = HeartbeatVerifier(clock=Clock(T0 + 1_000))
    beat = _beat(worker_key)
    assert verifier.accept(beat) is beat


def test_verifier_rejects_stale_heartbeats(worker_key: Keypair) -> None:
    verifier = HeartbeatVerifier(clock=Clock(T0 + 60_001))
    with pytest.raises(StaleHeartbeatError):
        verifier.accept(_beat(worker_key))
    # exactly 60 s old is still accepted
    HeartbeatVerifier(clock=Clock(T0 + 60_000)).accept(_beat(worker_key))


def test_verifier_rejects_future_heartbeats(worker_key: Keypair) -> None:
    verifier = HeartbeatVerifier(clock=Clock(T0 - 5_001))
    with pytest.raises(FutureHeartbeatError):
        verifier.accept(_beat(worker_key))


def test_verifier_rejects_replays(worker_key: Keypair) -> None:
    clock = Clock(T0)
    verifier = HeartbeatVerifier(clock=clock)
    beat = _beat(worker_key)
    verifier.accept(beat)
    clock.now += 30_000
    with pytest.raises(ReplayedHeartbeatError):
        verifier.accept(beat)
    # past the window the replay is stale, and the nonce is forgotten
    clock.now = T0 + 60_001
    with pytest.raises(StaleHeartbeatError):
        verifier.accept(beat)


def test_verifier_rejects_bad_signatures(worker_key: Keypair, other_key: Keypair) -> None:
    verifier = HeartbeatVerifier(clock=Clock())
    beat = _beat(worker_key)
    forged_metrics = dataclasses.replace(beat, metrics=HeartbeatMetrics(jobs_completed=10**6))
    with pytest.raises(BadSignatureError):
        verifier.accept(forged_metrics)
    with pytest.raises(BadSignatureError):
        verifier.accept(dataclasses.replace(beat, worker=other_key.ss58_address))
    # nothing was remembered: the genuine heartbeat still passes
    verifier.accept(beat)


def test_verifier_limits_heartbeats_per_window(worker_key: Keypair, other_key: Keypair) -> None:
    clock = Clock()
    verifier = HeartbeatVerifier(max_per_window=3, clock=clock)
    for i in range(3):
        verifier.accept(_beat(worker_key, at=T0 + i))
    with pytest.raises(HeartbeatRateError):
        verifier.accept(_beat(worker_key, at=T0 + 3))
    verifier.accept(_beat(other_key))  # per worker
    clock.now = T0 + 60_001  # the first ones left the window
    verifier.accept(_beat(worker_key, at=clock.now))


def test_verifier_memory_is_bounded_by_the_window(worker_key: Keypair) -> None:
    clock = Clock()
    verifier = HeartbeatVerifier(clock=clock)
    for i in range(40):
        clock.now = T0 + i * 15_000
        verifier.accept(_beat(worker_key, at=clock.now))
        assert verifier.remembered() <= 5


def test_protocol_defaults_are_the_workers() -> None:
    cfg = WorkerConfig()
    schedule = HeartbeatSchedule(cfg.heartbeat_interval_ms, cfg.heartbeat_jitter)
    assert schedule.bounds_ms == HeartbeatSchedule().bounds_ms == (13_500, 16_500)
    verifier = HeartbeatVerifier()
    assert (verifier.max_age_ms, verifier.max_skew_ms, verifier.max_per_window) == (
        60_000,
        5_000,
        16,
    )


def test_schedule_is_15_s_plus_minus_10_percent() -> None:
    schedule = HeartbeatSchedule(rng=random.Random(7))
    low, high = schedule.bounds_ms
    assert (low, high) == (13_500, 16_500)
    intervals = [schedule.next_interval_ms() for _ in range(2_000)]
    assert all(low <= i <= high for i in intervals)
    # spread over the whole window, not stuck at the mean
    assert min(intervals) < 13_700 and max(intervals) > 16_300
    # reproducible with the same seed
    again = HeartbeatSchedule(rng=random.Random(7))
    assert [again.next_interval_ms() for _ in range(2_000)] == intervals


def test_schedule_rejects_bad_settings() -> None:
    with pytest.raises(ValueError):
        HeartbeatSchedule(interval_ms=0)
    with pytest.raises(ValueError):
        HeartbeatSchedule(jitter=1.0)


async def test_loop_signs_and_sends_with_jittered_waits(worker_key: Keypair) -> None:
    sent: list[Heartbeat] = []
    waits: list[float] = []
    clock = Clock()

    async def send(beat: Heartbeat) -> None:
        sent.append(beat)
        if len(sent) == 2:
            raise ConnectionError("peer gone")  # logged; the loop goes on

    async def fake_sleep(seconds: float) -> None:
        waits.append(seconds)
        clock.now += round(seconds * 1000)

    made = await heartbeat_loop(
        worker_key,
        lambda: METRICS,
        send,
        schedule=HeartbeatSchedule(rng=random.Random(1)),
        clock=clock,
        sleep=fake_sleep,
        limit=4,
    )
    assert made == 4 and len(sent) == 4
    assert len(waits) == 3 and all(13.5 <= w <= 16.5 for w in waits)
    verifier = HeartbeatVerifier(clock=clock)
    for beat in sent:
        assert beat.is_valid()
    verifier.accept(sent[-1])
    assert len({b.nonce for b in sent}) == 4
    assert [b.timestamp_ms for b in sent] == sorted(b.timestamp_ms for b in sent)


async def test_loop_stops_when_told(worker_key: Keypair) -> None:
    stop = asyncio.Event()
    sent: list[Heartbeat] = []

    async def send(beat: Heartbeat) -> None:
        sent.append(beat)
        stop.set()

    made = await heartbeat_loop(worker_key, lambda: METRICS, send, stop=stop)
    assert made == 1 and len(sent) == 1
