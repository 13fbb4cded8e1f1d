"""``ccnet worker run --metrics-port PORT`` (its own process, on the session dev chain)
serves Prometheus metrics on 127.0.0.1: after one job of a real requester (the SDK:
DHT, WebRTC, a payment channel on chain), paid by one channel update, the scraped
counters are exact: one job ``ok``, the fuel of the signed result, the planck paid; the
channel leaves the gauges once the cooperative close is on chain, and the endpoint
stops with the daemon."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import httpx
from prometheus_client.parser import text_string_to_metric_families

from ccnet.client import CC, Chain
from ccnet.client.devchain import free_port
from ccnet.client.requester import Requester

if TYPE_CHECKING:  # mypy sees the checkout's tests package; pytest puts tests/ on sys.path
    from tests.fixtures.client import Funder
    from tests.fixtures.daemon import RunWorker, WaitUntil
else:
    from fixtures.client import Funder
    from fixtures.daemon import RunWorker, WaitUntil

FUEL = 10**9
"""Fuel limit of the job: its reservation, 10**9 planck at 1 planck per fuel."""

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


async def scrape(url: str) -> Samples:
    """Every sample at *url*, by (name, sorted labels), parsed by prometheus_client."""
    async with httpx.AsyncClient() as client:
        response = await client.get(url, timeout=10)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def jobs(samples: Samples) -> dict[str, float]:
    return {
        outcome: samples[("ccnet_worker_jobs_total", (("outcome", outcome),))]
        for outcome in ("ok", "failed", "refused")
    }


async def test_metrics_of_one_paid_job_are_exact(
    ccnet_chain: Chain,
    run_worker: RunWorker,
    fund_account: Funder,
    wait_until: WaitUntil,
    tmp_path: Path,
) -> None:
    port = free_port()
    worker = await run_worker("--metrics-port", str(port))
    url = f"http://127.0.0.1:{port}/metrics"
    assert worker.ready["metrics_url"] == url

    before = await scrape(url)
    assert jobs(before) == {"ok": 0, "failed": 0, "refused": 0}
    assert before[("ccnet_worker_consumed_fuel_total", ())] == 0  # the benchmark not counted
    assert before[("ccnet_worker_earned_planck_total", ())] == 0
    assert before[("ccnet_worker_channels_open", ())] == 0

    keypair = fund_account(100 * CC)
    bootstrap = [(str(worker.ready["dht_host"]), int(worker.ready["dht_port"]))]
    async with Requester(
        ccnet_chain,
        keypair,
        dht_bootstrap=bootstrap,
        state_dir=tmp_path / "requester",
        deposit_per_channel=10 * CC,
        job_timeout=90,
    ) as requester:
        offers = [o for o in await requester.find_workers() if o.address == worker.address]
        assert len(offers) == 1
        outcome = await requester.submit(
            "prime_count", args=["1000"], verify="none", fuel_limit=FUEL, workers=offers
        )
        report = outcome.results[worker.address]
        assert report.result is not None and report.payment_error == ""
        fuel = report.result.fuel_used
        assert 0 < fuel <= FUEL and report.paid == fuel == outcome.cost_planck  # 1 planck/fuel

        after = await scrape(url)
        assert jobs(after) == {"ok": 1, "failed": 0, "refused": 0}
        assert after[("ccnet_worker_consumed_fuel_total", ())] == fuel
        assert after[("ccnet_worker_earned_planck_total", ())] == report.paid
        assert after[("ccnet_worker_channels_open", ())] == 1
        assert after[("ccnet_worker_channel_balance_planck", ())] == report.paid
        assert after[("ccnet_worker_unpaid_jobs", ())] == 0  # paid: nothing outstanding
        assert after[("ccnet_worker_heartbeats_sent_total", ())] >= 1
        assert after[("ccnet_worker_dht_peers", ())] >= 1  # the requester's DHT node
        await requester.close_channels()

    async def settled() -> bool:  # the worker's channel watcher sees the close on chain
        late = await scrape(url)
        return late[("ccnet_worker_channels_open", ())] == 0

    await wait_until(settled, "the closed channel to leave the metrics", timeout=30)
    late = await scrape(url)
    assert late[("ccnet_worker_channel_balance_planck", ())] == 0
    assert late[("ccnet_worker_earned_planck_total", ())] == report.paid  # a close pays nothing

    assert await worker.stop() == 0
    async with httpx.AsyncClient() as client:  # the endpoint stopped with the daemon
        try:
            await client.get(url, timeout=5)
        except httpx.ConnectError:
            pass
        else:
            raise AssertionError("the metrics endpoint outlived the daemon")
