"""The Arweave gateway client against an in-memory gateway: uploads (inline and
chunked, resumed), status, confirmation, fetch, retries with backoff, and errors."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import httpx
import pytest

from ccnet.storage import (
    ArweaveGateway,
    ArweaveWallet,
    GatewayRejectedError,
    GatewayUnavailableError,
    IntegrityError,
    RetryPolicy,
    TxState,
)
from ccnet.storage.gateway import DEFAULT_TIMEOUT, gateway_url
from ccnet.storage.merkle import generate_transaction_chunks

if TYPE_CHECKING:
    from tests.fixtures.arlocal import FakeArweave


@pytest.fixture(scope="module")
def wallet() -> ArweaveWallet:
    return ArweaveWallet.generate(2048)


def test_gateway_url_precedence(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CCNET_ARWEAVE_URL", raising=False)
    assert gateway_url() == "http://127.0.0.1:1984"
    monkeypatch.setenv("CCNET_ARWEAVE_URL", "https://arweave.example/")
    assert gateway_url() == "https://arweave.example"
    assert gateway_url("http://127.0.0.1:9/") == "http://127.0.0.1:9"


def test_every_request_has_timeouts() -> None:
    for phase in ("connect", "read", "write", "pool"):
        assert getattr(DEFAULT_TIMEOUT, phase) is not None


def test_retry_policy_backs_off_exponentially() -> None:
    policy = RetryPolicy(attempts=5, backoff=1.0, factor=2.0, max_backoff=5.0, jitter=0.0)
    assert list(policy.delays()) == [1.0, 2.0, 4.0, 5.0]
    with pytest.raises(ValueError):
        RetryPolicy(attempts=0)


@pytest.mark.parametrize("size", [0, 1, 262144, 270000, 1048576])
def test_upload_wait_fetch_round_trip(
    fake_arweave: FakeArweave, wallet: ArweaveWallet, size: int
) -> None:
    data = os.urandom(size)
    with fake_arweave.client() as gateway:
        tx, chunks = gateway.create_transaction(wallet, data, {"App-Name": "ccnet"})
        assert tx.reward == size * 10 + 1
        seen: list[tuple[int, int]] = []
        gateway.upload(tx, data, chunks, on_progress=lambda d, t: seen.append((d, t)))
        assert seen[-1] == (size, size)
        assert gateway.status(tx.id).state is TxState.PENDING
        assert gateway.wait_for(tx.id).state is TxState.CONFIRMED
        assert gateway.fetch(tx.id, expected_size=size) == data
        header = gateway.transaction(tx.id)
        assert header is not None and header.verify() and header.id == tx.id
    inline = size <= 262144
    assert (tx.id in fake_arweave.inline) == (0 < size <= 262144)
    posted_chunks = sum(1 for m, p in fake_arweave.requests if p == "/chunk")
    assert posted_chunks == (0 if inline else len(chunks.chunks))


def test_chunks_go_up_in_order_and_resume(fake_arweave: FakeArweave, wallet: ArweaveWallet) -> None:
    data = os.urandom(5 * 262144 + 1000)
    with fake_arweave.client() as gateway:
        tx, chunks = gateway.create_transaction(wallet, data, {"App-Name": "ccnet"})
        fake_arweave.fail.append(("POST", "/chunk", 400))  # first chunk refused
        done: list[int] = []
        with pytest.raises(GatewayRejectedError):
            gateway.upload(tx, data, chunks, on_chunk=done.append)
        assert done == []
        # Resume: the header is there; send every chunk from 0.
        gateway.upload(tx, data, chunks, post_header=False, start_chunk=0, on_chunk=done.append)
        assert done == list(range(1, len(chunks.chunks) + 1))
        gateway.wait_for(tx.id)
        assert gateway.fetch(tx.id) == data


def test_retries_transient_failures(fake_arweave: FakeArweave, wallet: ArweaveWallet) -> None:
    fake_arweave.fail += [
        ("GET", "/price", 503),
        ("GET", "/tx_anchor", httpx.ConnectError("refused")),
        ("POST", "/chunk", httpx.ReadTimeout("slow")),
        ("POST", "/chunk", 429),
    ]
    data = os.urandom(600000)
    with fake_arweave.client(retry=RetryPolicy(attempts=3, backoff=0.0)) as gateway:
        tx, chunks = gateway.create_transaction(wallet, data, {"App-Name": "ccnet"})
        gateway.upload(tx, data, chunks)
        gateway.wait_for(tx.id)
        assert gateway.fetch(tx.id) == data
    assert fake_arweave.fail == []


def test_gives_up_with_gateway_unavailable(wallet: ArweaveWallet) -> None:
    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused")

    policy = RetryPolicy(attempts=3, backoff=0.0)
    with ArweaveGateway(
        "http://down.invalid", retry=policy, transport=httpx.MockTransport(down)
    ) as gw:
        with pytest.raises(GatewayUnavailableError, match="failed 3 times.*ConnectError") as info:
            gw.price(10)
        assert info.value.url == "http://down.invalid"
        with pytest.raises(GatewayUnavailableError):
            gw.fetch("x" * 43)


def test_client_errors_are_not_retried(fake_arweave: FakeArweave) -> None:
    fake_arweave.fail.append(("GET", "/price", 400))
    with fake_arweave.client() as gateway, pytest.raises(GatewayRejectedError) as info:
        gateway.price(10)
    assert info.value.status == 400
    assert fake_arweave.requests == [("GET", "/price/10")]


def test_a_repost_of_a_known_header_succeeds(
    fake_arweave: FakeArweave, wallet: ArweaveWallet
) -> None:
    with fake_arweave.client() as gateway:
        tx, _ = gateway.create_transaction(wallet, b"abc", {"App-Name": "ccnet"})
        gateway.post_transaction(tx, b"abc")
        gateway.post_transaction(tx, b"abc")  # the fake answers 400 "duplicate"


def test_a_refused_header_raises(fake_arweave: FakeArweave, wallet: ArweaveWallet) -> None:
    with fake_arweave.client() as gateway:
        tx, _ = gateway.create_transaction(wallet, b"abc", {"App-Name": "ccnet"})
        with pytest.raises(GatewayRejectedError, match="data_root"):
            gateway.post_transaction(tx, b"abd")


def test_fetch_stops_at_more_than_expected(
    fake_arweave: FakeArweave, wallet: ArweaveWallet
) -> None:
    with fake_arweave.client() as gateway:
        tx, chunks = gateway.create_transaction(wallet, b"0123456789", {"App-Name": "ccnet"})
        gateway.upload(tx, b"0123456789", chunks)
        with pytest.raises(IntegrityError, match="more data"):
            gateway.fetch(tx.id, expected_size=5)
        with pytest.raises(GatewayRejectedError):
            gateway.fetch("y" * 43)


def test_wait_for_times_out_on_a_missing_transaction(fake_arweave: FakeArweave) -> None:
    with fake_arweave.client() as gateway:
        with pytest.raises(GatewayUnavailableError, match="not confirmed within"):
            gateway.wait_for("z" * 43, timeout=0.05)


def test_wait_for_accepts_pending_when_asked(
    fake_arweave: FakeArweave, wallet: ArweaveWallet
) -> None:
    with fake_arweave.client(dev=False, require_confirmation=False) as gateway:
        tx, chunks = gateway.create_transaction(wallet, b"p", {"App-Name": "ccnet"})
        gateway.upload(tx, b"p", chunks)
        assert gateway.wait_for(tx.id).state is TxState.PENDING
    assert ("GET", "/mine/1") not in fake_arweave.requests


def test_dev_gateway_sends_repeated_chunks_inline(
    fake_arweave: FakeArweave, wallet: ArweaveWallet
) -> None:
    data = bytes(1048576)  # four equal chunks: arlocal would merge them
    chunks = generate_transaction_chunks(data)
    with fake_arweave.client(dev=True) as dev, fake_arweave.client(dev=False) as real:
        assert dev.uploads_inline(chunks, len(data))
        assert not real.uploads_inline(chunks, len(data))
        assert not dev.uploads_inline(generate_transaction_chunks(os.urandom(600000)), 600000)


def test_upload_refuses_mismatched_data(fake_arweave: FakeArweave, wallet: ArweaveWallet) -> None:
    with fake_arweave.client() as gateway:
        tx, _ = gateway.create_transaction(wallet, b"abc", {"App-Name": "ccnet"})
        with pytest.raises(ValueError):
            gateway.upload(tx, b"abcd")


def test_mint_and_balance(fake_arweave: FakeArweave, wallet: ArweaveWallet) -> None:
    with fake_arweave.client() as gateway:
        assert gateway.mint(wallet.address, 500) == 500
        assert gateway.balance(wallet.address) == 500
        assert gateway.info()["network"] == "fake"
