"""ccnet.storage against a real arlocal (npm) on 127.0.0.1: it binds loopback only,
accepts our data_root for the sizes arweave-python-client got wrong, round-trips data
inline and by chunks, and keeps its data across a restart."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from ccnet.client.devchain import free_port
from ccnet.storage import (
    ArweaveGateway,
    ArweaveWallet,
    DevGateway,
    DevGatewayError,
    TxState,
    devgateway,
)
from ccnet.storage.merkle import generate_transaction_chunks

SIZES = [0, 1, 32 * 1024 - 1, 256000, 262144, 270000, 1048576, 5 * 1024 * 1024]


def _listeners(port: int) -> list[str]:
    """Local addresses (hex, as /proc/net/tcp{,6} show them) listening on *port*."""
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            address, hex_port = fields[1].rsplit(":", 1)
            if int(hex_port, 16) == port and fields[3] == "0A":  # LISTEN
                found.append(address)
    return found


def test_arlocal_listens_on_loopback_only(arlocal: str) -> None:
    port = urlsplit(arlocal).port
    assert port is not None
    assert _listeners(port) == ["0100007F"]  # 127.0.0.1, and nothing on 0.0.0.0 or ::


@pytest.mark.parametrize("size", [256000, 262144, 270000, 1048576])
def test_arlocal_accepts_our_data_root(
    gateway: ArweaveGateway, arweave_wallet: ArweaveWallet, size: int
) -> None:
    # Inline data makes arlocal recompute data_root and compare: these sizes got
    # `400 "data_root" is invalid` with arweave-python-client 1.0.19.
    data = os.urandom(size)
    tx, _ = gateway.create_transaction(arweave_wallet, data, {"App-Name": "ccnet-test"})
    gateway.post_transaction(tx, data)
    assert gateway.status(tx.id).state is TxState.PENDING


@pytest.mark.parametrize("size", SIZES)
def test_round_trip(gateway: ArweaveGateway, arweave_wallet: ArweaveWallet, size: int) -> None:
    data = os.urandom(size)
    tx, chunks = gateway.create_transaction(arweave_wallet, data, {"App-Name": "ccnet-test"})
    gateway.upload(tx, data, chunks)
    assert gateway.wait_for(tx.id).state is TxState.CONFIRMED
    assert gateway.fetch(tx.id, expected_size=size) == data
    header = gateway.transaction(tx.id)
    assert header is not None and header.verify() and header.data_root == chunks.data_root
    assert header.tag("App-Name") == "ccnet-test"


def test_repeated_chunks_round_trip(gateway: ArweaveGateway, arweave_wallet: ArweaveWallet) -> None:
    # arlocal merges equal chunks of one data root; a dev gateway sends such data inline.
    data = bytes(1048576)
    assert gateway.uploads_inline(generate_transaction_chunks(data), len(data))
    tx, chunks = gateway.create_transaction(arweave_wallet, data, {"App-Name": "ccnet-test"})
    gateway.upload(tx, data, chunks)
    gateway.wait_for(tx.id)
    assert gateway.fetch(tx.id, expected_size=len(data)) == data


def test_data_survive_a_restart(tmp_path: Path, session_wallet: ArweaveWallet) -> None:
    dev = DevGateway(state_dir=tmp_path, port=free_port())
    data = os.urandom(300000)
    with dev as info, ArweaveGateway(info.url, dev=True) as gateway:
        gateway.mint(session_wallet.address, 10**15)
        tx, chunks = gateway.create_transaction(session_wallet, data, {"App-Name": "ccnet-test"})
        gateway.upload(tx, data, chunks)
        gateway.wait_for(tx.id)
    assert dev.status() is None
    with dev as info, ArweaveGateway(info.url, dev=True) as gateway:
        assert gateway.fetch(tx.id, expected_size=len(data)) == data
        assert gateway.balance(session_wallet.address) > 0


def test_a_taken_port_fails_clearly(
    arlocal: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = urlsplit(arlocal).port
    assert port is not None
    dev = DevGateway(state_dir=tmp_path, port=port, timeout=30)
    with pytest.raises(DevGatewayError, match=f"127.0.0.1:{port} is already in use"):
        dev.start()  # checked before starting, as the dev chain does
    # Taken between that check and arlocal's listen: the wrapper refuses too.
    monkeypatch.setattr(devgateway, "port_free", lambda host, port: True)
    with pytest.raises(DevGatewayError, match="arlocal exited") as info:
        dev.start()
    assert "cannot listen" in info.value.log_tail
    assert dev.status() is None
