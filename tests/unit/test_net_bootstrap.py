"""Bootstrap DHT nodes named by registered endpoints (no chain, no network)."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import pytest

from ccnet.client.net import bootstrap
from ccnet.client.net.bootstrap import _registered_nodes, dht_address_of, with_dht_port
from ccnet.client.pallets.tasks import Reputation, WorkerInfo


def test_the_dht_port_rides_in_the_endpoint_query() -> None:
    url = with_dht_port("http://10.0.0.7:7300/offer", 7400)
    assert url == "http://10.0.0.7:7300/offer?dht=7400"
    assert dht_address_of(url) == ("10.0.0.7", 7400)
    again = with_dht_port(url + "&x=1", 7500)  # replaced, other parameters kept
    assert dht_address_of(again) == ("10.0.0.7", 7500) and "x=1" in again
    assert dht_address_of("https://worker.example:443/offer?dht=1") == ("worker.example", 1)
    with pytest.raises(ValueError):
        with_dht_port(url, 0)


@pytest.mark.parametrize(
    "endpoint",
    [
        "http://10.0.0.7:7300/offer",  # registered before endpoints named a DHT port
        "http://10.0.0.7:7300/offer?dht=",
        "http://10.0.0.7:7300/offer?dht=70000",
        "http://10.0.0.7:7300/offer?dht=0",
        "http://10.0.0.7:7300/offer?dht=-1",
        "http://10.0.0.7:7300/offer?dht=1&dht=2",
        "http:///offer?dht=7400",
        "ftp://10.0.0.7/offer?dht=7400",
        "http://[::1/offer?dht=7400",
        "\ufffd",
    ],
)
def test_endpoints_naming_no_dht_node_are_skipped(endpoint: str) -> None:
    assert dht_address_of(endpoint) is None


def worker(address: str, endpoint: bytes) -> WorkerInfo:
    return WorkerInfo(address, (b"wasm",), endpoint, 1, Reputation(0, 0, 0, 0), 0, None)


def test_registered_nodes_skip_this_worker_duplicates_and_bad_endpoints() -> None:
    workers = [
        worker("me", b"http://127.0.0.1:1/offer?dht=11"),
        worker("a", b"http://127.0.0.1:2/offer?dht=12"),
        worker("b", b"http://127.0.0.1:3/offer"),
        worker("c", b"http://127.0.0.1:4/offer?dht=12"),  # the same node twice
        worker("d", b"\xff\xfe"),
        worker("e", b"http://127.0.0.1:5/offer?dht=15"),
    ]
    assert _registered_nodes(workers, exclude="me") == [("127.0.0.1", 12), ("127.0.0.1", 15)]
    assert len(_registered_nodes(workers, None)) == 3


class Registry:
    """The chain's worker registry (``chain.tasks.workers()``), and nothing else."""

    def __init__(self, endpoints: list[str]) -> None:
        self.tasks = self
        self.endpoints = endpoints

    def workers(self) -> list[WorkerInfo]:
        return [worker(f"w{i}", url.encode()) for i, url in enumerate(self.endpoints)]


ENDPOINTS = [
    "http://10.0.0.7:7300/offer?dht=7400",
    "http://127.0.0.1:7300/offer?dht=7401",  # this machine
    "http://127.0.0.2:7300/offer?dht=7402",
    "http://0.0.0.0:7300/offer?dht=7403",  # never a node
    "http://localhost:7300/offer?dht=7404",  # resolves to loopback
]


async def test_loopback_nodes_only_for_a_node_on_loopback() -> None:
    chain: Any = Registry(ENDPOINTS)
    found = await bootstrap.chain_bootstrap_nodes(chain, rng=random.Random(1))
    assert found == [("10.0.0.7", 7400)]
    on_loopback = await bootstrap.chain_bootstrap_nodes(
        chain, rng=random.Random(1), allow_loopback=True
    )
    assert sorted(on_loopback) == [
        ("10.0.0.7", 7400),
        ("127.0.0.1", 7401),
        ("127.0.0.1", 7404),
        ("127.0.0.2", 7402),
    ]


async def test_a_stalling_dns_server_does_not_stall_joining(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real_resolve = bootstrap._resolve

    async def resolve(host: str, port: int) -> tuple[str, int] | None:
        if host.endswith(".slow.example"):
            await asyncio.sleep(3600)  # a DNS server that never answers
        return await real_resolve(host, port)

    monkeypatch.setattr(bootstrap, "_resolve", resolve)
    endpoints = [f"http://w{i}.slow.example:7300/offer?dht={7000 + i}" for i in range(15)]
    chain: Any = Registry([*endpoints, "http://10.0.0.7:7300/offer?dht=7400"])
    loop = asyncio.get_running_loop()
    began = loop.time()
    found = await bootstrap.chain_bootstrap_nodes(chain, resolve_timeout=0.5)
    assert loop.time() - began < 2.0  # 0.5 s in all, not 0.5 s per host
    assert found == [("10.0.0.7", 7400)]
