"""A worker serving a requester on another machine: two network namespaces joined by a
veth pair stand for the two machines, a real ``ccnet worker run`` in one, ``ccnet job
workers|run`` in the other, paid jobs between them over WebRTC, exact balances after.

Topology (names unique per run; the fixture deletes everything, even on failure)::

      worker ns                              requester ns
    10.201.0.1/24 ==== veth (the "LAN") ==== 10.201.0.2/24
    P+2/30 (to root)                          Q+2/30 (to root; route to P+1 via Q+1)
           \\                                    /
            P+1/30 ---- root namespace ---- Q+1/30
                 Chopsticks binds P+1

The dev chain is a Chopsticks of the test's own in the root namespace, bound to the
root end of the worker's link (P+1): the session chain listens on 127.0.0.1, which no
namespace can reach, and a chain inside a namespace could not be reached by the test's
own balance checks. The requester namespace reaches P+1 through its own link with a
host route; root does not forward between the links (and nothing routes 10.201.0.0/24
there), so the veth pair is the only path between worker and requester.

Both sides allow only 10.201.0.0/24 for ICE, so neither gathers nor accepts a loopback
or chain-link candidate; each namespace has only its own ``lo``, so there is no loopback
shortcut. The worker binds its signaling endpoint on every interface (0.0.0.0) and
advertises ``http://10.201.0.1:PORT/offer`` (on chain and in the DHT); its DHT node binds
10.201.0.1, the requester's 10.201.0.2. Last, a requester that keeps the default
(loopback-only) ICE networks is refused: the worker drops its loopback candidate and
logs it.

Needs root and ``ip netns`` (iproute2): skipped otherwise, with the reason.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from ccnet.client import CC, Chain, Keys
from ccnet.client.devchain import DEFAULT_SPEC, DevChain, free_port, group_alive
from ccnet.client.jobs.catalogue import KNOWN_PRIME_COUNTS, jobs_dir


def _netns_unavailable() -> str | None:
    """Why this test cannot build namespaces here, or None."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    if shutil.which("ip") is None:
        return "`ip` (iproute2) is not installed"
    probe = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True)
    if probe.returncode != 0:
        return f"`ip netns` does not work here: {probe.stderr.strip()}"
    return None


pytestmark = [
    pytest.mark.skipif(_netns_unavailable() is not None, reason=str(_netns_unavailable())),
    pytest.mark.timeout(600),
]

SUBNET = "10.201.0.0/24"
WORKER_IP = "10.201.0.1"
REQUESTER_IP = "10.201.0.2"
SIGNALING_PORT = 8443
DHT_PORT = 7400
WORKER_FUNDS = 1000 * CC
REQUESTER_FUNDS = 100 * CC
DEPOSIT = 1 * CC


def ip(*args: str) -> None:
    """Run ``ip ARGS``; fail with its stderr."""
    done = subprocess.run(["ip", *args], capture_output=True, text=True)
    assert done.returncode == 0, f"ip {' '.join(args)}: {done.stderr.strip()}"


def in_ns(ns: str, *args: str) -> None:
    ip("netns", "exec", ns, "ip", *args)


@dataclass(frozen=True)
class Machines:
    """Two namespaces and the chain address both reach."""

    worker_ns: str
    requester_ns: str
    chain_host: str


def _free_link_block() -> tuple[str, int, int]:
    """``("10.203.X", p, q)``: two /30 links, ``10.203.X.p`` and ``10.203.X.q``, in a
    /24 no root-namespace address is in."""
    taken = subprocess.run(["ip", "-4", "-o", "addr"], capture_output=True, text=True).stdout
    while True:
        third, fourth = random.randrange(256), random.randrange(0, 256, 8)
        if f" 10.203.{third}." not in taken:
            return f"10.203.{third}", fourth, fourth + 4


@pytest.fixture
def machines() -> Iterator[Machines]:
    tag = os.urandom(3).hex()
    worker_ns, requester_ns = f"ccnet-w-{tag}", f"ccnet-r-{tag}"
    lan_w, lan_r = f"cxl{tag}w", f"cxl{tag}r"  # interface names: at most 15 characters
    up_w, root_w = f"cxu{tag}w", f"cxd{tag}w"
    up_r, root_r = f"cxu{tag}r", f"cxd{tag}r"
    prefix, p, q = _free_link_block()
    chain_host, requester_gw = f"{prefix}.{p + 1}", f"{prefix}.{q + 1}"
    try:
        ip("netns", "add", worker_ns)
        ip("netns", "add", requester_ns)
        for ns in (worker_ns, requester_ns):
            in_ns(ns, "link", "set", "lo", "up")
        # the LAN between the two machines
        ip("link", "add", lan_w, "type", "veth", "peer", "name", lan_r)
        ip("link", "set", lan_w, "netns", worker_ns)
        ip("link", "set", lan_r, "netns", requester_ns)
        in_ns(worker_ns, "addr", "add", f"{WORKER_IP}/24", "dev", lan_w)
        in_ns(requester_ns, "addr", "add", f"{REQUESTER_IP}/24", "dev", lan_r)
        in_ns(worker_ns, "link", "set", lan_w, "up")
        in_ns(requester_ns, "link", "set", lan_r, "up")
        # each machine's link to the chain in the root namespace
        for ns, up, root, base in ((worker_ns, up_w, root_w, p), (requester_ns, up_r, root_r, q)):
            ip("link", "add", root, "type", "veth", "peer", "name", up)
            ip("link", "set", up, "netns", ns)
            ip("addr", "add", f"{prefix}.{base + 1}/30", "dev", root)
            ip("link", "set", root, "up")
            in_ns(ns, "addr", "add", f"{prefix}.{base + 2}/30", "dev", up)
            in_ns(ns, "link", "set", up, "up")
        in_ns(requester_ns, "route", "add", f"{chain_host}/32", "via", requester_gw)
        yield Machines(worker_ns, requester_ns, chain_host)
    finally:
        for ns in (worker_ns, requester_ns):
            pids = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True)
            for pid in pids.stdout.split():  # only this test's processes live there
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except ProcessLookupError:
                    pass
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        for link in (root_w, root_r):  # gone with their peers already; make sure
            subprocess.run(["ip", "link", "del", link], capture_output=True)
        names = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
        assert worker_ns not in names and requester_ns not in names
        links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
        assert tag not in links, f"links of this test outlived it: {links}"


@pytest.fixture
def cross_chain(
    machines: Machines, repo_root: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A Chopsticks of this test's own on the worker link's root address."""
    spec = Path(os.environ.get("CCNET_CHAIN_SPEC", repo_root / DEFAULT_SPEC))
    if not spec.is_file():
        pytest.fail(f"raw chain spec {spec} is missing; `make setup` builds it", pytrace=False)
    chain = DevChain(
        root=repo_root,
        spec=spec,
        state_dir=tmp_path_factory.mktemp("cross-chain"),
        host=machines.chain_host,
        port=free_port(machines.chain_host),
    )
    info = chain.start()
    try:
        yield info.url
    finally:
        assert chain.stop()
        assert not group_alive(info.pid)


@dataclass
class Spawned:
    proc: asyncio.subprocess.Process
    log: Path


@pytest.fixture
async def spawned() -> AsyncIterator[list[Spawned]]:
    """Processes a test started (own process groups): SIGTERM, then SIGKILL after 60 s."""
    started: list[Spawned] = []
    yield started
    for item in started:
        if item.proc.returncode is None:
            os.kill(item.proc.pid, signal.SIGTERM)
            try:
                await asyncio.wait_for(item.proc.wait(), 60)
            except TimeoutError:
                os.killpg(item.proc.pid, signal.SIGKILL)
                await item.proc.wait()
        assert not group_alive(item.proc.pid), "processes of a spawned group outlived it"


def free_and_held(chain: Chain, who: str) -> tuple[int, int]:
    account = chain.query("System", "Account", [who])
    assert account is not None
    return int(account["data"]["free"]), int(account["data"]["reserved"])


def fees_since(chain: Chain, first_block: int, who: str) -> int:
    """Planck *who* paid in fees in blocks *first_block* .. head."""
    total = 0
    for number in range(first_block, chain.block_number() + 1):
        for event in chain.events_at(chain.block_hash(number), block_number=number):
            if (event.pallet, event.name) == ("TransactionPayment", "TransactionFeePaid"):
                if str(event.attributes["who"]) == who:
                    total += int(event.attributes["actual_fee"])
    return total


async def ccnet_in(
    ns: str, *args: str, env: dict[str, str], timeout: float = 300
) -> tuple[int, bytes, bytes]:
    """``ccnet ARGS`` inside namespace *ns*: (exit code, stdout, stderr)."""
    proc = await asyncio.create_subprocess_exec(
        "ip", "netns", "exec", ns, sys.executable, "-m", "ccnet.client", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env,
        start_new_session=True,
    )  # fmt: skip
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    finally:
        if proc.returncode is None:
            os.killpg(proc.pid, signal.SIGKILL)
            await proc.wait()
    assert proc.returncode is not None
    return proc.returncode, out, err


def channel_balance(channels: list[dict[str, Any]]) -> tuple[int, int]:
    """(deposits, what the requester, party A, still holds) over *channels*, planck."""
    assert all(c["me"] == "A" for c in channels)
    return (
        sum(int(c["params"]["deposit_a"]) for c in channels),
        sum(int(c["latest"]["balance_a"]) for c in channels),
    )


async def test_worker_serves_paid_jobs_to_a_requester_on_another_machine(
    machines: Machines,
    cross_chain: str,
    spawned: list[Spawned],
    worker_cache_dir: Path,
    tmp_path: Path,
) -> None:
    chain = await asyncio.to_thread(Chain, cross_chain)
    try:
        await _serve_across(machines, cross_chain, chain, spawned, worker_cache_dir, tmp_path)
    finally:
        await asyncio.to_thread(chain.close)


async def _serve_across(
    machines: Machines,
    url: str,
    chain: Chain,
    spawned: list[Spawned],
    cache: Path,
    tmp_path: Path,
) -> None:
    funder = Keys.from_uri("//Alice")
    worker_uri = f"//ccnet-cross-worker-{os.urandom(6).hex()}"
    worker = str(Keys.from_uri(worker_uri).ss58_address)
    requester_uri = f"//ccnet-cross-requester-{os.urandom(6).hex()}"
    me = str(Keys.from_uri(requester_uri).ss58_address)
    await asyncio.to_thread(chain.transfer, funder, worker, WORKER_FUNDS)
    await asyncio.to_thread(chain.transfer, funder, me, REQUESTER_FUNDS)

    # the worker, on its machine
    home = tmp_path / "worker"
    home.mkdir()
    worker_env = {
        **os.environ,
        "CCNET_CONFIG": str(home / "config.toml"),
        "CCNET_KEYSTORE": str(home / "keystore"),
        "CCNET_WORKER_BENCHMARK_N": "100000",
        "CCNET_WORKER_BENCHMARK_ROUNDS": "1",
        "CCNET_SANDBOX_CACHE_DIR": str(cache),
    }
    advertised = f"http://{WORKER_IP}:{SIGNALING_PORT}/offer"
    command = ["ip", "netns", "exec", machines.worker_ns, sys.executable, "-m", "ccnet.client"]
    command += ["--url", url, "worker", "run", "--key", worker_uri, "--json-log"]
    command += ["--state-dir", str(home / "state"), "--no-tasks", "--no-disputes"]
    command += ["--signaling-host", "0.0.0.0", "--signaling-port", str(SIGNALING_PORT)]
    command += ["--signaling-url", advertised, "--dht-host", WORKER_IP]
    command += ["--dht-port", str(DHT_PORT), "--ice-network", SUBNET]
    log = home / "stderr.log"
    with log.open("wb") as stderr:
        proc = await asyncio.create_subprocess_exec(
            *command, stdout=asyncio.subprocess.PIPE, stderr=stderr, env=worker_env,
            start_new_session=True,
        )  # fmt: skip
    spawned.append(Spawned(proc, log))
    assert proc.stdout is not None
    while True:
        line = await asyncio.wait_for(proc.stdout.readline(), 180)
        assert line, f"the worker exited before it was ready: {log.read_text()[-3000:]}"
        if line.startswith(b"{"):
            ready = json.loads(line)
            break
    assert ready["event"] == "ready" and ready["address"] == worker
    registered = f"{advertised}?dht={DHT_PORT}"  # the endpoint names the DHT node
    assert ready["signaling_url"] == registered
    assert (ready["dht_host"], ready["dht_port"]) == (WORKER_IP, DHT_PORT)
    info = await asyncio.to_thread(chain.tasks.worker, worker)
    assert info is not None and info.endpoint.decode() == registered  # on chain

    first_block = await asyncio.to_thread(chain.block_number) + 1  # after ours
    worker_before = await asyncio.to_thread(free_and_held, chain, worker)
    me_before = await asyncio.to_thread(free_and_held, chain, me)
    assert me_before == (REQUESTER_FUNDS, 0)

    # the requester, on the other machine
    state = tmp_path / "requester"
    env = {
        **os.environ,
        "CCNET_URL": url,
        "CCNET_KEYSTORE": str(tmp_path / "keystore"),
        "CCNET_CONFIG": str(tmp_path / "none.toml"),
        "CCNET_KEY": requester_uri,
        "CCNET_DHT_BOOTSTRAP": f"{WORKER_IP}:{DHT_PORT}",
        "CCNET_DHT_HOST": REQUESTER_IP,
    }
    ice = ["--ice-network", SUBNET]
    code, out, err = await ccnet_in(machines.requester_ns, "--json", "job", "workers", env=env)
    assert code == 0, err.decode()
    listed = {w["address"]: w for w in json.loads(out)}
    assert listed[worker]["endpoint"] == registered

    # 1: prime_count, paid through a new channel
    run = ["--json", "job", "run", str(jobs_dir() / "prime_count.wasm"), "--arg", "100000"]
    run += ["--verify", "none", "--redundancy", "1", "--state-dir", str(state)]
    run += ["--max-cost", "1", "--deposit", str(DEPOSIT // CC), *ice]
    code, out, err = await ccnet_in(machines.requester_ns, *run, env=env)
    assert code == 0, err.decode() + log.read_text()[-3000:]
    assert out == f"{KNOWN_PRIME_COUNTS[100_000]}\n".encode()
    report = json.loads(err)
    (paid,) = report["workers"]
    assert paid["address"] == worker
    first_cost = report["cost_planck"]
    assert first_cost > 0 and paid["paid_planck"] == first_cost

    listing = ["--json", "channel", "list", "--store", str(state)]
    code, out, err = await ccnet_in(machines.requester_ns, *listing, env=env)
    assert code == 0, err.decode()
    channels = json.loads(out)
    assert len(channels) == 1
    assert channel_balance(channels) == (DEPOSIT, DEPOSIT - first_cost)

    # 2: sha256sum of real bytes on the same channel, which is then closed
    data = os.urandom(200_000)
    source = tmp_path / "input.bin"
    source.write_bytes(data)
    run = ["--json", "job", "run", str(jobs_dir() / "sha256sum.wasm"), "--input", str(source)]
    run += ["--verify", "none", "--redundancy", "1", "--state-dir", str(state)]
    run += ["--max-cost", "1", "--close-channels", *ice]
    code, out, err = await ccnet_in(machines.requester_ns, *run, env=env)
    assert code == 0, err.decode() + log.read_text()[-3000:]
    assert out == f"{hashlib.sha256(data).hexdigest()}\n".encode()
    report = json.loads(err)
    second_cost = report["cost_planck"]
    assert second_cost > 0 and report["workers"][0]["paid_planck"] == second_cost
    assert report["channels_closed"] == 1

    # exact money: the worker got both costs, the requester paid them and its fees
    total = first_cost + second_cost
    fees = await asyncio.to_thread(fees_since, chain, first_block, me)
    assert fees > 0
    assert await asyncio.to_thread(free_and_held, chain, worker) == (
        worker_before[0] + total,
        worker_before[1],
    )
    assert await asyncio.to_thread(free_and_held, chain, me) == (
        REQUESTER_FUNDS - fees - total,
        0,
    )
    assert await asyncio.to_thread(fees_since, chain, first_block, worker) == 0

    # a requester that keeps the default (loopback) ICE networks cannot use this worker:
    # the worker drops its loopback candidate, logs it and refuses the offer
    run = ["--json", "job", "run", str(jobs_dir() / "prime_count.wasm"), "--arg", "1000"]
    run += ["--verify", "none", "--redundancy", "1", "--state-dir", str(tmp_path / "other")]
    run += ["--max-cost", "1", "--deposit", "1", "--timeout", "20"]
    code, out, err = await ccnet_in(machines.requester_ns, *run, env=env)
    assert code != 0 and out == b"", err.decode()
    worker_log = log.read_text()
    assert "dropped 1 ICE candidate(s) of the offer's SDP" in worker_log
    assert "127.0.0.1" in worker_log and "no ICE candidate in the allowed networks" in worker_log

    # the worker stops cleanly
    os.kill(proc.pid, signal.SIGTERM)
    assert await asyncio.wait_for(proc.wait(), 60) == 0, log.read_text()[-3000:]
