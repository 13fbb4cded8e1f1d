"""The worker's Prometheus metrics (ccnet.worker.metrics): counters and gauges of one
daemon on a registry of its own, the HTTP endpoint, its settings, and the payment
desk's count of payments over a real pair of channel parties (in-memory transport)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import cast

import httpx
import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from ccnet.channels import (
    ChannelParams,
    ChannelParty,
    MemoryTransport,
    SignedState,
    SqliteChannelStore,
)
from ccnet.channels.testing import TEST_GENESIS, make_params
from ccnet.client import Chain, Keys
from ccnet.worker.config import WorkerConfig
from ccnet.worker.exceptions import ConfigError
from ccnet.worker.metrics import METRICS_PATH, JobOutcome, MetricsServer, WorkerMetrics
from ccnet.worker.payments import PaymentDesk

NAMES = {
    "ccnet_worker_jobs": "counter",
    "ccnet_worker_consumed_fuel": "counter",
    "ccnet_worker_earned_planck": "counter",
    "ccnet_worker_heartbeats_sent": "counter",
    "ccnet_worker_channels_open": "gauge",
    "ccnet_worker_channel_balance_planck": "gauge",
    "ccnet_worker_dht_peers": "gauge",
    "ccnet_worker_unpaid_jobs": "gauge",
}


def scrape(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of an exposition, by (name, sorted labels)."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_a_fresh_daemon_exposes_every_metric_at_zero() -> None:
    metrics = WorkerMetrics()
    families = {f.name: f for f in text_string_to_metric_families(render(metrics))}
    assert {name: families[name].type for name in NAMES} == NAMES
    samples = scrape(render(metrics))
    for outcome in ("ok", "failed", "refused"):
        assert samples[("ccnet_worker_jobs_total", (("outcome", outcome),))] == 0
    assert samples[("ccnet_worker_consumed_fuel_total", ())] == 0
    assert samples[("ccnet_worker_unpaid_jobs", ())] == 0
    assert any(name.startswith("process_") for name in families)


def render(metrics: WorkerMetrics) -> str:
    return generate_latest(metrics.registry).decode()


def test_counters_count_exact_integers() -> None:
    metrics = WorkerMetrics()
    metrics.job_answered(JobOutcome.OK)
    metrics.job_answered(JobOutcome.OK)
    metrics.job_answered(JobOutcome.REFUSED)
    metrics.fuel_consumed(1_234_567)
    metrics.fuel_consumed(0)
    metrics.payment_received(10**12)
    metrics.payment_received(7)
    metrics.heartbeat_sent()
    samples = scrape(render(metrics))
    assert samples[("ccnet_worker_jobs_total", (("outcome", "ok"),))] == 2
    assert samples[("ccnet_worker_jobs_total", (("outcome", "refused"),))] == 1
    assert samples[("ccnet_worker_jobs_total", (("outcome", "failed"),))] == 0
    assert samples[("ccnet_worker_consumed_fuel_total", ())] == 1_234_567
    assert samples[("ccnet_worker_earned_planck_total", ())] == 10**12 + 7
    assert samples[("ccnet_worker_heartbeats_sent_total", ())] == 1
    assert metrics.value("ccnet_worker_earned_planck_total") == 10**12 + 7


def test_planck_above_2_pow_53_is_rounded_as_documented() -> None:
    """Exact up to 2**53 planck; beyond, the relative error is at most 2**-53."""
    metrics = WorkerMetrics()
    metrics.payment_received(2**53)
    assert metrics.value("ccnet_worker_earned_planck_total") == 2**53
    metrics.payment_received(1)
    assert metrics.value("ccnet_worker_earned_planck_total") == 2**53  # the 1 is lost
    big = 10**6 * 10**12 + 1  # 10**6 CC and one planck
    other = WorkerMetrics()
    other.payment_received(big)
    value = other.value("ccnet_worker_earned_planck_total")
    assert value is not None and abs(int(value) - big) <= 64


@pytest.mark.parametrize("bad", [-1, True, 1.5, "3"])
def test_amounts_must_be_non_negative_integers(bad: object) -> None:
    metrics = WorkerMetrics()
    with pytest.raises(ValueError):
        metrics.fuel_consumed(bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        metrics.payment_received(bad)  # type: ignore[arg-type]
    assert metrics.value("ccnet_worker_consumed_fuel_total") == 0


def test_gauges_read_their_sources_when_scraped() -> None:
    metrics = WorkerMetrics()
    state = {"peers": 3, "channels": 2, "balance": 5 * 10**12, "unpaid": 1}
    metrics.track_dht_peers(lambda: state["peers"])
    metrics.track_channels(lambda: state["channels"], lambda: state["balance"])
    metrics.track_unpaid_jobs(lambda: state["unpaid"])
    assert metrics.value("ccnet_worker_dht_peers") == 3
    assert metrics.value("ccnet_worker_channels_open") == 2
    assert metrics.value("ccnet_worker_channel_balance_planck") == 5 * 10**12
    assert metrics.value("ccnet_worker_unpaid_jobs") == 1
    state.update(peers=4, unpaid=0)
    assert metrics.value("ccnet_worker_dht_peers") == 4
    assert metrics.value("ccnet_worker_unpaid_jobs") == 0


def test_a_failing_source_reads_nan_and_the_rest_is_served() -> None:
    metrics = WorkerMetrics()

    def broken() -> int:
        raise RuntimeError("routing table gone")

    metrics.track_dht_peers(broken)
    metrics.job_answered(JobOutcome.FAILED)
    samples = scrape(render(metrics))
    assert math.isnan(samples[("ccnet_worker_dht_peers", ())])
    assert samples[("ccnet_worker_jobs_total", (("outcome", "failed"),))] == 1


def test_two_daemons_in_one_process_do_not_collide() -> None:
    first, second = WorkerMetrics(), WorkerMetrics()
    first.job_answered(JobOutcome.OK)
    assert first.value("ccnet_worker_jobs_total", {"outcome": "ok"}) == 1
    assert second.value("ccnet_worker_jobs_total", {"outcome": "ok"}) == 0


async def test_the_endpoint_serves_the_registry_and_stops() -> None:
    metrics = WorkerMetrics()
    metrics.fuel_consumed(42)
    server = MetricsServer(metrics.registry, port=0)
    await server.start()
    try:
        assert server.port > 0
        assert server.url == f"http://127.0.0.1:{server.port}{METRICS_PATH}"
        async with httpx.AsyncClient() as client:
            response = await client.get(server.url)
            missing = await client.get(server.url.removesuffix(METRICS_PATH) + "/other")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/plain")
        assert scrape(response.text)[("ccnet_worker_consumed_fuel_total", ())] == 42
        assert missing.status_code == 404
    finally:
        await server.close()
        await server.close()  # idempotent
    async with httpx.AsyncClient() as client:
        with pytest.raises(httpx.ConnectError):
            await client.get(server.url)


async def test_a_taken_port_fails_to_start() -> None:
    registry = WorkerMetrics().registry
    first = MetricsServer(registry)
    await first.start()
    try:
        with pytest.raises(OSError):
            await MetricsServer(registry, port=first.port).start()
    finally:
        await first.close()


def test_ipv6_hosts_are_bracketed_in_the_url() -> None:
    server = MetricsServer(WorkerMetrics().registry, host="::1", port=9101)
    assert server.url == "http://[::1]:9101/metrics"


def test_settings_default_off_on_loopback_and_read_the_environment() -> None:
    default = WorkerConfig.from_env({})
    assert (default.metrics_port, default.metrics_host) == (None, "127.0.0.1")
    env = {"CCNET_WORKER_METRICS_PORT": "9101", "CCNET_WORKER_METRICS_HOST": "::1"}
    assert WorkerConfig.from_env(env).metrics_port == 9101
    assert WorkerConfig.from_env(env).metrics_host == "::1"
    assert WorkerConfig.from_env({"CCNET_WORKER_METRICS_PORT": ""}).metrics_port is None
    assert WorkerConfig.from_env({}, metrics_port=0).metrics_port == 0


@pytest.mark.parametrize(
    "overrides",
    [{"metrics_port": 65536}, {"metrics_port": -1}, {"metrics_port": True}, {"metrics_host": ""}],
)
def test_bad_settings_are_refused(overrides: dict[str, object]) -> None:
    with pytest.raises(ConfigError, match="metrics_"):
        WorkerConfig.from_env({}, **overrides)


def test_a_bad_port_variable_names_the_knob() -> None:
    with pytest.raises(ConfigError, match="CCNET_WORKER_METRICS_PORT"):
        WorkerConfig.from_env({"CCNET_WORKER_METRICS_PORT": "lots"})


async def test_the_payment_desk_counts_each_payment_once(tmp_path: Path) -> None:
    """Two payments over a real channel (A: //Alice, B: the desk of //Bob): earned is
    their sum; a guardian that fails still sees every state and does not stop the count;
    a desk reopened on the same file counts only payments made after it started."""
    alice, bob = Keys.from_uri("//Alice"), Keys.from_uri("//Bob")
    params = make_params(alice, bob)
    cid = params.channel_id
    guarded: list[int] = []

    def guardian(info: ChannelParams, signed: SignedState) -> None:
        guarded.append(signed.version)
        raise RuntimeError("the watchtower is down")

    metrics = WorkerMetrics()
    no_chain = cast(Chain, None)  # updates need no chain
    desk = PaymentDesk(
        bob,
        tmp_path / "bob.db",
        chain=no_chain,
        genesis_hash=TEST_GENESIS,
        guardian=guardian,
        metrics=metrics,
    )
    payer = ChannelParty(
        alice, SqliteChannelStore(tmp_path / "alice.db"), genesis_hash=TEST_GENESIS
    )
    payer.add_channel(params)
    desk.party.add_channel(params)
    ends = MemoryTransport.pair()
    await payer.attach(cid, ends[0])
    await desk.party.attach(cid, ends[1])
    try:
        await payer.pay(cid, 123)
        await payer.pay(cid, 4_560)
        assert guarded == [1, 2]
        assert metrics.value("ccnet_worker_earned_planck_total") == 4_683
        assert metrics.value("ccnet_worker_channels_open") == 1
        assert metrics.value("ccnet_worker_channel_balance_planck") == 4_683
    finally:
        await desk.close()
        await payer.detach(cid)

    again = WorkerMetrics()
    desk = PaymentDesk(
        bob, tmp_path / "bob.db", chain=no_chain, genesis_hash=TEST_GENESIS, metrics=again
    )
    ends = MemoryTransport.pair()
    await payer.attach(cid, ends[0])
    await desk.party.attach(cid, ends[1])
    try:
        assert again.value("ccnet_worker_earned_planck_total") == 0
        assert again.value("ccnet_worker_channel_balance_planck") == 4_683
        await payer.pay(cid, 1)
        assert again.value("ccnet_worker_earned_planck_total") == 1
        assert desk.earned(cid) == 4_684
    finally:
        await desk.close()
        await payer.aclose()
