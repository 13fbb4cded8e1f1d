"""Disputes on the dev chain: time from challenge to resolution, as a table.

    .venv/bin/python benches/bench_disputes.py [--rounds N] [--n PRIMES_BELOW]
                                               [--worker-poll S]

A private dev chain (Chopsticks, Instant block mode, from the development raw spec) is
started and stopped, so that the only eligible verifiers are this script's workers.
Five ``ccnet worker run`` processes (own keys, funded from //Ferdie): ``liar``
(``--fault-injection wrong-onchain-result-once``) and ``h1`` serve on-chain tasks,
``h2`` .. ``h4`` only verify (``--no-tasks``); every process looks at the chain head
every ``--worker-poll`` seconds (the CLI's default, 1 s).

- round 0, ``WorkerAtFault``: a ``prime_count`` task with redundancy 2 (the liar and
  ``h1`` commit and reveal), the liar's wrong result is challenged; ``h2`` .. ``h4`` (the
  draw excludes the claimants) are drawn ``DrawDelay`` blocks later, re-execute, commit
  and reveal their votes; the liar is slashed and banned.
- rounds 1 .. N, ``WorkerUpheld``: a task for one worker (``h1``), its honest result
  challenged (a false accusation); ``h2`` .. ``h4`` are drawn and vote.

A :class:`~ccnet.client.BlockTicker` builds a block every ``--tick`` seconds when none
came (the draw waits for blocks). Measured per round, wall clock from just before the
challenge is submitted: the challenge included (``DisputeOpened`` in the receipt), the
first revealed vote and the resolution (the third reveal resolves at once) as seen by a
requester following the chain's events (polled every 50 ms, so times are late by up to
that much).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ccnet.client import CC, BlockTicker, Chain, ChainEvent, Keypair, Keys
from ccnet.client.config import ALLOW_FAULT_INJECTION_ENV, WRONG_ONCHAIN_RESULT_ONCE
from ccnet.client.devchain import DEFAULT_SPEC, DevChain, find_root, free_port
from ccnet.client.jobs.catalogue import load_job, module_hash
from ccnet.client.jobs.jobspec import TASK_TYPE, JobSpec
from ccnet.client.requester.onchain import dispute_outcome

EVENT_POLL_S = 0.05
"""How often the requester looks for new events, seconds."""


@dataclass
class Round:
    """One dispute's timeline: seconds since just before the challenge."""

    verdict: str = "?"
    opened: float = 0.0
    votes: list[float] = field(default_factory=list)
    resolved: float | None = None


def start_workers(url: str, tmp: Path, poll: float) -> dict[str, tuple[str, subprocess.Popen]]:
    """The five processes, by name: (address, process); waits for their ready lines."""
    env = {
        **os.environ,
        "CCNET_CONFIG": str(tmp / "config.toml"),
        "CCNET_KEYSTORE": str(tmp / "keystore"),
        "CCNET_WORKER_BENCHMARK_N": "100000",
        "CCNET_WORKER_BENCHMARK_ROUNDS": "1",
    }
    tag = os.urandom(4).hex()
    procs: dict[str, tuple[str, subprocess.Popen]] = {}
    with Chain(url) as chain:
        for name in ("liar", "h1", "h2", "h3", "h4"):
            uri = f"//ccnet-bench-disputes-{tag}-{name}"
            address = str(Keys.from_uri(uri).ss58_address)
            chain.transfer(Keys.from_uri("//Ferdie"), address, 100 * CC)
            command = [sys.executable, "-m", "ccnet.client", "--url", url, "worker", "run"]
            command += ["--key", uri, "--state-dir", str(tmp / name), "--json-log"]
            command += ["--poll-interval", str(poll)]
            own_env = dict(env)
            if name == "liar":
                own_env[ALLOW_FAULT_INJECTION_ENV] = "1"
                command += ["--fault-injection", WRONG_ONCHAIN_RESULT_ONCE]
            elif name != "h1":
                command.append("--no-tasks")
            with (tmp / f"{name}.log").open("wb") as log:
                proc = subprocess.Popen(
                    command,
                    stdout=subprocess.PIPE,
                    stderr=log,
                    env=own_env,
                    start_new_session=True,
                )
            procs[name] = (address, proc)
    for name, (_, proc) in procs.items():
        assert proc.stdout is not None
        while not (line := proc.stdout.readline()).startswith(b"{"):
            if not line:
                raise SystemExit(f"worker {name} died; see {tmp / f'{name}.log'}")
        assert json.loads(line)["event"] == "ready"
    return procs


def stop_workers(procs: dict[str, tuple[str, subprocess.Popen]]) -> None:
    for _, proc in procs.values():
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
    for _, proc in procs.values():
        proc.wait(60)


def wait_results(chain: Chain, task_id: int, count: int, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while sum(a.revealed for a in chain.tasks.assignments(task_id)) < count:
        if time.monotonic() > deadline:
            raise SystemExit(f"task {task_id}: fewer than {count} results after {timeout} s")
        time.sleep(0.1)


def dispute_round(chain: Chain, requester: Keypair, task_id: int, accused: str) -> Round:
    """Challenge *accused*'s result of *task_id*; follow the dispute to its end."""
    timeline = Round()
    done = threading.Event()
    began = 0.0

    def on_event(event: ChainEvent) -> None:
        at = time.perf_counter() - began
        if event.name == "VoteRevealed":
            timeline.votes.append(at)
        elif event.name == "DisputeResolved" and event["task_id"] == task_id:
            timeline.resolved = at
            timeline.verdict = dispute_outcome(event).verdict
            done.set()

    head = chain.block_number()
    subscription = chain.subscribe_events(
        on_event,
        ["Disputes"],
        ["VoteRevealed", "DisputeResolved"],
        from_block=head + 1,
        poll_interval=EVENT_POLL_S,
    )
    try:
        began = time.perf_counter()
        chain.disputes.challenge(requester, task_id, accused)
        timeline.opened = time.perf_counter() - began
        if not done.wait(120):
            raise SystemExit(f"the dispute over task {task_id} did not resolve in 120 s")
    finally:
        subscription.stop(5.0)
    return timeline


def bench(url: str, rounds: int, n: int, poll: float, tick: float) -> tuple[float, list[Round]]:
    tmp = Path(tempfile.mkdtemp(prefix="bench-disputes-"))
    began = time.perf_counter()
    procs = start_workers(url, tmp, poll)
    startup = time.perf_counter() - began
    spec = JobSpec.inline(module_hash(load_job("prime_count")), b"", (str(n),)).encode()
    timelines = []
    try:
        with Chain(url) as chain, BlockTicker(url, tick):
            requester, _ = Keys.generate()
            chain.transfer(Keys.from_uri("//Ferdie"), str(requester.ss58_address), 1000 * CC)

            def post(redundancy: int) -> int:
                deadline = chain.block_number() + 200
                return chain.tasks.post(requester, TASK_TYPE, spec, b"", CC, deadline, redundancy)

            task_id = post(2)
            wait_results(chain, task_id, 2)
            timelines.append(dispute_round(chain, requester, task_id, procs["liar"][0]))
            for _ in range(rounds):
                task_id = post(1)
                wait_results(chain, task_id, 1)
                timelines.append(dispute_round(chain, requester, task_id, procs["h1"][0]))
    finally:
        stop_workers(procs)
    return startup, timelines


def table(rows: Sequence[Sequence[str]]) -> None:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for line in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)))


def ms(value: float | None) -> str:
    return "-" if value is None else f"{value * 1e3:.0f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="WorkerUpheld rounds")
    parser.add_argument("--n", type=int, default=100_000, help="prime_count's argument")
    parser.add_argument("--worker-poll", type=float, default=1.0, help="workers' poll, s")
    parser.add_argument("--tick", type=float, default=0.5, help="seconds between blocks")
    args = parser.parse_args()
    root = find_root()
    devchain = DevChain(
        root=root, spec=root / DEFAULT_SPEC, state_dir=Path(tempfile.mkdtemp()), port=free_port()
    )
    url = devchain.start().url
    try:
        startup, timelines = bench(url, args.rounds, args.n, args.worker_poll, args.tick)
    finally:
        devchain.stop()
    print(
        f"5 worker processes ready in {startup:.1f} s; prime_count {args.n}; "
        f"worker poll {args.worker_poll:g} s\n"
    )
    rows = [("round", "verdict", "challenge ms", "1st vote ms", "3rd vote ms", "resolved ms")]
    for i, t in enumerate(timelines):
        third = t.votes[2] if len(t.votes) > 2 else None
        first = t.votes[0] if t.votes else None
        rows.append((str(i), t.verdict, ms(t.opened), ms(first), ms(third), ms(t.resolved)))
    table(rows)
    upheld = [t.resolved for t in timelines[1:] if t.resolved is not None]
    if upheld:
        print(
            f"\nchallenge -> DisputeResolved, WorkerUpheld rounds: median "
            f"{statistics.median(upheld) * 1e3:.0f} ms, min {min(upheld) * 1e3:.0f}, "
            f"max {max(upheld) * 1e3:.0f} (n={len(upheld)})"
        )


if __name__ == "__main__":
    main()
