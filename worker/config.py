"""Worker settings: every sandbox limit and protocol number has a default and a knob.

Two frozen dataclasses:

- :class:`SandboxConfig`: the Wasm sandbox (30 s through epoch interruption at 10 ms
  epochs, 10 billion fuel, a memory cap; ``docs/protocol.md``, section 12).
- :class:`WorkerConfig`: billing rate, heartbeat timing (``docs/protocol.md``, section
  10), self-benchmark size, how the worker defends its money (paid jobs only, unpaid
  work, sessions per key, how often its channels are watched), the Prometheus metrics
  endpoint (off by default), and the sandbox.

Money defaults (the README says the same): no free jobs; at most
4 jobs of one requester running or delivered and unpaid
(:data:`~ccnet.worker.admission.DEFAULT_MAX_UNPAID_JOBS`); 4 sessions per requester key;
the daemon's channel watcher looks at the chain every 1 s and accepts a channel only if
its challenge period lasts at least 90 such looks: 90 s, i.e. 15 blocks of the runtime's
6 s (the dev preset's period is 20 blocks, the chain's minimum 10, a live preset's 14400).

Knobs, strongest first: keyword arguments, then environment variables, then the
defaults below. The environment variable of a field is its name in upper case with
the prefix ``CCNET_SANDBOX_`` (sandbox) or ``CCNET_WORKER_`` (worker), e.g.
``CCNET_SANDBOX_FUEL_LIMIT=2000000000`` or ``CCNET_WORKER_RATE_PLANCK_PER_FUEL=2``.
An empty ``CCNET_SANDBOX_CACHE_DIR`` turns the on-disk module cache off. Bad values
raise :class:`~ccnet.worker.exceptions.ConfigError` naming the knob.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar, get_type_hints

from ccnet.client.config import cache_root
from ccnet.client.jobs.billing import DEFAULT_RATE_PLANCK_PER_FUEL
from ccnet.client.jobs.heartbeat import HEARTBEAT_INTERVAL_MS, HEARTBEAT_JITTER

from .admission import DEFAULT_MAX_UNPAID_JOBS
from .exceptions import ConfigError

__all__ = [
    "DEFAULT_BLOCK_TIME_MS",
    "KiB",
    "MiB",
    "SandboxConfig",
    "WorkerConfig",
]

KiB = 1024
MiB = 1024 * KiB

DEFAULT_BLOCK_TIME_MS = 6_000
"""The runtime's block time (``MILLI_SECS_PER_BLOCK``), ms: used when the chain does not
say (twice its ``Timestamp.MinimumPeriod``)."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class SandboxConfig:
    """Limits and determinism settings of :class:`~ccnet.worker.sandbox.Sandbox`.

    Per-run limits (fuel, timeout, memory, output) can be lowered for one run through
    :class:`~ccnet.worker.sandbox.RunLimits`; the values here are the defaults and caps.
    """

    fuel_limit: int = 10_000_000_000
    """Fuel a run may burn (about one unit per Wasm instruction), fuel."""
    timeout_ms: int = 30_000
    """Wall-clock deadline of a run (epoch interruption), ms."""
    epoch_tick_ms: int = 10
    """Period of the ticker thread that increments the engine epoch, ms."""
    memory_limit_bytes: int = 256 * MiB
    """Cap on the linear memory of a run (store limits), bytes."""
    table_elements_limit: int = 1_000_000
    """Cap on the elements of any table of a run (8 bytes each)."""
    max_wasm_stack_bytes: int = 512 * KiB
    """Wasm stack a run may use before it traps with a stack overflow, bytes."""
    stdin_limit_bytes: int = 64 * MiB
    """Largest stdin a run accepts, bytes (larger inputs are refused before running)."""
    argv_limit_bytes: int = 64 * KiB
    """Largest total size of argv (UTF-8, with one NUL per argument), bytes."""
    stdout_limit_bytes: int = 64 * MiB
    """Stdout captured per run; writing more fails the run, bytes."""
    stderr_limit_bytes: int = 64 * KiB
    """Stderr captured per run; writing more fails the run, bytes."""
    clock_ns: int = 0
    """What every WASI clock reads during a run (realtime and monotonic), ns."""
    cache_dir: Path | None = None
    """On-disk cache of compiled modules (``None``: ``<cache root>/wasmtime``)."""
    disk_cache: bool = True
    """Whether compiled modules are kept on disk (serialized artifacts)."""
    module_cache_entries: int = 32
    """Compiled modules kept in memory (least recently used are dropped)."""

    def __post_init__(self) -> None:
        for name in (
            "fuel_limit",
            "timeout_ms",
            "epoch_tick_ms",
            "memory_limit_bytes",
            "table_elements_limit",
            "max_wasm_stack_bytes",
            "argv_limit_bytes",
            "module_cache_entries",
        ):
            _check_int(self, name, minimum=1)
        for name in ("stdin_limit_bytes", "stdout_limit_bytes", "stderr_limit_bytes", "clock_ns"):
            _check_int(self, name, minimum=0)
        if self.fuel_limit >= 2**64:
            raise ConfigError("fuel_limit must be below 2**64")
        if self.memory_limit_bytes >= 2**32:
            raise ConfigError("memory_limit_bytes must be below 4 GiB (wasm32)")

    @property
    def artifact_dir(self) -> Path | None:
        """Directory of serialized artifacts, or ``None`` when the disk cache is off."""
        if not self.disk_cache:
            return None
        return (self.cache_dir or cache_root() / "wasmtime").expanduser()

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> SandboxConfig:
        """Defaults, overridden by ``CCNET_SANDBOX_*`` variables, then by *overrides*."""
        return _from_env(cls, "CCNET_SANDBOX_", environ, overrides)


@dataclasses.dataclass(frozen=True, kw_only=True)
class WorkerConfig:
    """Billing, heartbeat and benchmark settings of a worker, with its sandbox."""

    sandbox: SandboxConfig = dataclasses.field(default_factory=SandboxConfig)
    """The sandbox settings (their own knobs: ``CCNET_SANDBOX_*``)."""
    rate_planck_per_fuel: int = DEFAULT_RATE_PLANCK_PER_FUEL
    """Price of one fuel unit, planck (see :mod:`ccnet.client.jobs.billing`)."""
    heartbeat_interval_ms: int = HEARTBEAT_INTERVAL_MS
    """Mean period between two heartbeats, ms."""
    heartbeat_jitter: float = HEARTBEAT_JITTER
    """Relative jitter of the period: each interval is uniform in mean * (1 +- jitter)."""
    benchmark_n: int = 2_000_000
    """Size of the self-benchmark: count the primes below this."""
    benchmark_rounds: int = 3
    """Self-benchmark runs; the fastest one counts."""
    free_jobs: bool = False
    """Run jobs whose request names no payment channel, for nothing (the operator opts
    in; off: such requests get a ``payment`` failure)."""
    max_unpaid_jobs: int = DEFAULT_MAX_UNPAID_JOBS
    """Jobs of one requester (key) that may be running, or delivered and not paid, at
    once; beyond, its requests get a ``payment`` failure until it pays
    (:mod:`ccnet.worker.admission`)."""
    max_sessions_per_key: int = 4
    """Sessions one requester key may hold open at once (the signaling endpoint answers
    503 beyond)."""
    channel_poll_interval: float = 1.0
    """Seconds between two looks of the channel watcher at the chain head."""
    challenge_safety_factor: int = 90
    """Looks at the chain the watcher must get within a channel's challenge period:
    channels with a shorter period are refused (:meth:`min_challenge_blocks`)."""
    metrics_port: int | None = None
    """TCP port of the Prometheus metrics endpoint (:mod:`ccnet.worker.metrics`; 0: a
    free one; ``None``, or an empty variable: no endpoint)."""
    metrics_host: str = "127.0.0.1"
    """Address the metrics endpoint binds (loopback: the metrics show earnings)."""

    def __post_init__(self) -> None:
        for name in (
            "heartbeat_interval_ms",
            "benchmark_n",
            "benchmark_rounds",
            "max_unpaid_jobs",
            "max_sessions_per_key",
            "challenge_safety_factor",
        ):
            _check_int(self, name, minimum=1)
        _check_int(self, "rate_planck_per_fuel", minimum=0)
        if not 0.0 <= self.heartbeat_jitter < 1.0:
            raise ConfigError("heartbeat_jitter must be in [0, 1)")
        if not isinstance(self.free_jobs, bool):
            raise ConfigError(f"free_jobs must be a boolean, got {self.free_jobs!r}")
        port = self.metrics_port
        if port is not None and (
            isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535
        ):
            raise ConfigError(f"metrics_port must be a TCP port (0-65535) or None, got {port!r}")
        if not isinstance(self.metrics_host, str) or not self.metrics_host.strip():
            raise ConfigError(
                f"metrics_host must be a host name or address, got {self.metrics_host!r}"
            )
        poll = self.channel_poll_interval
        if isinstance(poll, bool) or not isinstance(poll, int | float) or not 0 < poll <= 3600:
            raise ConfigError(f"channel_poll_interval must be in (0, 3600] s, got {poll!r}")

    def min_challenge_blocks(self, block_time_ms: int = DEFAULT_BLOCK_TIME_MS) -> int:
        """The shortest challenge period the worker can watch reliably, blocks:
        ``ceil(channel_poll_interval x challenge_safety_factor / block time)`` (defaults:
        1 s x 90 = 90 s = 15 blocks of 6000 ms). *block_time_ms* must be positive."""
        if block_time_ms <= 0:
            raise ConfigError(f"block time must be positive, got {block_time_ms} ms")
        window_ms = round(self.channel_poll_interval * 1000) * self.challenge_safety_factor
        return max(1, -(-window_ms // block_time_ms))

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> WorkerConfig:
        """Defaults, overridden by ``CCNET_WORKER_*`` variables, then by *overrides*; the
        sandbox part reads ``CCNET_SANDBOX_*`` unless ``sandbox=`` is given."""
        if "sandbox" not in overrides:
            overrides["sandbox"] = SandboxConfig.from_env(environ)
        return _from_env(cls, "CCNET_WORKER_", environ, overrides)


_C = TypeVar("_C")


def _check_int(obj: object, name: str, *, minimum: int) -> None:
    value = getattr(obj, name)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"{name} must be an integer >= {minimum}, got {value!r}")


def _parse(name: str, kind: Any, raw: str) -> Any:
    text = raw.strip()
    try:
        if kind is int:
            return int(text.replace("_", ""))
        if kind is float:
            return float(text)
        if kind is bool:
            if text.lower() in ("1", "true", "yes", "on"):
                return True
            if text.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError(text)
    except ValueError:
        raise ConfigError(f"{name}: cannot read {raw!r} as {kind.__name__}") from None
    if kind == Path | None:
        return Path(text) if text else None
    if kind == int | None:
        return _parse(name, int, text) if text else None
    if kind is str:
        return text
    raise ConfigError(f"{name}: not settable from the environment")


def _from_env(
    cls: type[_C], prefix: str, environ: Mapping[str, str] | None, overrides: dict[str, Any]
) -> _C:
    env = os.environ if environ is None else environ
    hints = get_type_hints(cls)
    values: dict[str, Any] = {}
    for field in dataclasses.fields(cls):  # type: ignore[arg-type]
        var = prefix + field.name.upper()
        if field.name in overrides:
            values[field.name] = overrides.pop(field.name)
        elif var in env:
            if field.name == "cache_dir" and not env[var].strip():
                values["disk_cache"] = False
            values[field.name] = _parse(var, hints[field.name], env[var])
    if overrides:
        raise ConfigError(f"unknown setting(s): {', '.join(sorted(overrides))}")
    return cls(**values)
