"""The worker daemon's Prometheus metrics and the endpoint that serves them.

- :class:`WorkerMetrics`: one per daemon, on a :class:`~prometheus_client.CollectorRegistry`
  of its own (not prometheus_client's global ``REGISTRY``, so several daemons in one
  process, as in the tests, never collide). Components get it injected and call its
  typed methods where the event happens; a component built without one gets a private
  instance nobody serves (metrics off costs a few counters).
- :class:`MetricsServer`: ``GET /metrics`` in the Prometheus text format, served by
  prometheus_client's own aiohttp handler on the daemon's event loop (``127.0.0.1`` by
  default). On the loop, the gauges' callbacks read the components' state (routing
  table, channels, unpaid-work ledger) from the thread that changes it, never racing it.

Metrics (the README's worker section has the same table):

============================================  =======  ===========================
name                                          type     meaning, unit
============================================  =======  ===========================
``ccnet_worker_jobs_total{outcome}``          counter  requester jobs answered:
                                                       ``ok`` (result sent),
                                                       ``failed`` (ran, or tried to,
                                                       and failed), ``refused``
                                                       (answered before running)
``ccnet_worker_consumed_fuel_total``          counter  fuel burnt by every run of the
                                                       executor (jobs, on-chain tasks,
                                                       re-executions), fuel
``ccnet_worker_earned_planck_total``          counter  payments received over
                                                       channels, planck
``ccnet_worker_channels_open``                gauge    live payment channels (funded
                                                       or closing)
``ccnet_worker_channel_balance_planck``       gauge    the worker's balance in them,
                                                       planck
``ccnet_worker_heartbeats_sent_total``        counter  heartbeats sent to requesters
``ccnet_worker_dht_peers``                    gauge    nodes in the DHT routing table
``ccnet_worker_unpaid_jobs``                  gauge    jobs running or delivered and
                                                       not yet paid, all requesters
============================================  =======  ===========================

plus the standard ``process_*`` metrics of the daemon's process. Counters start at 0
when the daemon starts.

Money is exposed in planck only (1 CC = 10**12 planck; a query divides by ``1e12``):
Prometheus values are float64, so a planck amount is exact up to 2**53 planck (about
9007 CC) and beyond has a relative error of at most 2**-53 (an amount of 10**6 CC is
off by at most 64 planck). A CC gauge would be no more precise. The exact amounts are
the channel store's (``ccnet channel`` commands).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from enum import StrEnum

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge, ProcessCollector
from prometheus_client.aiohttp import make_aiohttp_handler

__all__ = ["METRICS_PATH", "JobOutcome", "MetricsServer", "WorkerMetrics"]

log = logging.getLogger(__name__)

METRICS_PATH = "/metrics"
"""Where :class:`MetricsServer` serves the metrics."""


class JobOutcome(StrEnum):
    """The ``outcome`` label of ``ccnet_worker_jobs_total``."""

    OK = "ok"
    """A result was sent."""
    FAILED = "failed"
    """The job was admitted and failed (run error, proof, result too large)."""
    REFUSED = "refused"
    """Answered with a failure before running (rate, payment, unpaid work, busy,
    malformed, unknown or invalid module)."""


class WorkerMetrics:
    """The metrics of one worker daemon (see the module docs) on *registry* (default: a
    new :class:`~prometheus_client.CollectorRegistry`, with the process collector)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        if registry is None:
            registry = CollectorRegistry()
            ProcessCollector(registry=registry)
        self.registry = registry
        self._jobs = self._counter("jobs", "Requester jobs answered, by outcome.", ["outcome"])
        for outcome in JobOutcome:  # every outcome is exposed from the start, at 0
            self._jobs.labels(outcome.value)
        self._fuel = self._counter("consumed", "Fuel burnt by the executor's runs.", unit="fuel")
        self._earned = self._counter(
            "earned", "Payments received over payment channels.", unit="planck"
        )
        self._heartbeats = self._counter("heartbeats_sent", "Heartbeats sent to requesters.")
        self._channels = self._gauge("channels_open", "Live payment channels (funded or closing).")
        self._balance = self._gauge(
            "channel_balance", "The worker's balance in its live channels.", unit="planck"
        )
        self._dht_peers = self._gauge("dht_peers", "Nodes in the DHT routing table.")
        self._unpaid = self._gauge("unpaid_jobs", "Jobs running or delivered and not yet paid.")

    def _counter(
        self, name: str, documentation: str, labels: Sequence[str] = (), unit: str = ""
    ) -> Counter:
        return Counter(
            name,
            documentation,
            labels,
            namespace="ccnet",
            subsystem="worker",
            unit=unit,
            registry=self.registry,
        )

    def _gauge(self, name: str, documentation: str, unit: str = "") -> Gauge:
        return Gauge(
            name,
            documentation,
            namespace="ccnet",
            subsystem="worker",
            unit=unit,
            registry=self.registry,
        )

    def job_answered(self, outcome: JobOutcome) -> None:
        """A requester's job was answered with *outcome*."""
        self._jobs.labels(outcome.value).inc()

    def fuel_consumed(self, fuel: int) -> None:
        """A run burnt *fuel* (>= 0, fuel). Raises ``ValueError`` if negative."""
        self._fuel.inc(_amount(fuel, "fuel"))

    def payment_received(self, planck: int) -> None:
        """A channel update paid the worker *planck* (>= 0). Raises ``ValueError`` if
        negative."""
        self._earned.inc(_amount(planck, "a payment"))

    def heartbeat_sent(self) -> None:
        """One heartbeat went out."""
        self._heartbeats.inc()

    def track_channels(
        self, open_channels: Callable[[], int], balance_planck: Callable[[], int]
    ) -> None:
        """Read the live channels' count and the worker's balance in them (planck) from
        these callbacks when scraped."""
        self._channels.set_function(_reader(open_channels, "open channels"))
        self._balance.set_function(_reader(balance_planck, "channel balance"))

    def track_dht_peers(self, peers: Callable[[], int]) -> None:
        """Read the routing table's size from *peers* when scraped."""
        self._dht_peers.set_function(_reader(peers, "DHT peers"))

    def track_unpaid_jobs(self, jobs: Callable[[], int]) -> None:
        """Read the unpaid jobs from *jobs* when scraped."""
        self._unpaid.set_function(_reader(jobs, "unpaid jobs"))

    def value(self, name: str, labels: dict[str, str] | None = None) -> float | None:
        """The current value of sample *name* (full name, e.g.
        ``ccnet_worker_jobs_total``), or ``None`` if there is none."""
        return self.registry.get_sample_value(name, labels)


def _amount(value: int, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{what} must be a non-negative integer, got {value!r}")
    return value


def _reader(source: Callable[[], int], what: str) -> Callable[[], float]:
    """*source* as a gauge callback: a failing source is logged and reads NaN, so one
    broken reading does not fail the whole scrape."""

    def read() -> float:
        try:
            return float(source())
        except Exception:
            log.warning("reading the %s for the metrics failed", what, exc_info=True)
            return math.nan

    return read


class MetricsServer:
    """Serves *registry* at ``http://host:port/metrics`` (*port* 0: a free one, known
    after :meth:`start`). The port is the operator's choice; *host* defaults to
    loopback because the metrics show the worker's earnings."""

    def __init__(self, registry: CollectorRegistry, *, host: str = "127.0.0.1", port: int = 0):
        self.host = host
        self.port = port
        app = web.Application()
        app.router.add_get(METRICS_PATH, make_aiohttp_handler(registry))
        self._app = app
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        """``http://host:port/metrics`` (IPv6 hosts in brackets)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}{METRICS_PATH}"

    async def start(self) -> None:
        """Start listening. Raises ``OSError`` when the port is taken."""
        runner = web.AppRunner(self._app, access_log=None)
        await runner.setup()
        try:
            await web.TCPSite(runner, self.host, self.port).start()
        except BaseException:
            await runner.cleanup()
            raise
        if self.port == 0:
            self.port = int(runner.addresses[0][1])
        self._runner = runner
        log.info("metrics at %s", self.url)

    async def close(self) -> None:
        """Stop listening. Idempotent."""
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()
