"""CheckpointStore against an in-memory gateway and a fake Checkpoints pallet: save,
restore from cache and gateway, integrity errors, gateway failures that record nothing,
and resumed uploads."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from ccnet.client import Keypair, Keys
from ccnet.storage import (
    ArweaveGateway,
    ArweaveWallet,
    Checkpoint,
    CheckpointNotFoundError,
    CheckpointStore,
    GatewayRejectedError,
    GatewayUnavailableError,
    IntegrityError,
    LocalCache,
    RetryPolicy,
    state_hash,
)
from ccnet.storage.hashing import hash_hex

if TYPE_CHECKING:
    from tests.fixtures.arlocal import FakeArweave, FakeChain


@pytest.fixture(scope="module")
def wallet() -> ArweaveWallet:
    return ArweaveWallet.generate(2048)


@pytest.fixture(scope="module")
def alice() -> Keypair:
    return Keys.from_uri("//Alice")


@pytest.fixture
def chain(fake_chain: FakeChain) -> FakeChain:
    return fake_chain


@pytest.fixture
def store(
    chain: FakeChain,
    alice: Keypair,
    fake_arweave: FakeArweave,
    wallet: ArweaveWallet,
    tmp_path: Path,
) -> CheckpointStore:
    return CheckpointStore(chain, alice, fake_arweave.client(), wallet, LocalCache(tmp_path))


def test_checkpoint_tags() -> None:
    checkpoint = Checkpoint(b"state", {"Job": "42", "Type": "vm-state"})
    tags = {tag.name: tag.value for tag in checkpoint.tags()}
    assert tags == {
        "App-Name": "ccnet",
        "Type": "vm-state",
        "State-Hash": hash_hex(state_hash(b"state")),
        "Content-Type": "application/octet-stream",
        "Job": "42",
    }
    assert Checkpoint(b"").tags()[1].value == "checkpoint"
    for bad in ({"App-Name": "x"}, {"State-Hash": "x"}, {"Job": ""}, {"": "x"}):
        with pytest.raises(ValueError):
            Checkpoint(b"", bad)


def test_save_records_and_restores(
    store: CheckpointStore, chain: FakeChain, fake_arweave: FakeArweave, alice: Keypair
) -> None:
    data = os.urandom(700000)
    saved = store.save(Checkpoint(data, {"Job": "1"}))
    assert saved.state_hash == state_hash(data) and saved.size == len(data)
    assert not saved.resumed and saved.block_hash == f"0x{1:064x}"
    record = chain.checkpoints.latest(alice.ss58_address)
    assert record is not None
    assert (record.state_hash, record.arweave_tx_id, record.size) == (
        hash_hex(saved.state_hash),
        saved.tx_id,
        len(data),
    )
    assert fake_arweave.headers[saved.tx_id].tag("State-Hash") == record.state_hash
    assert saved.state_hash in store.cache
    assert store.journal.pending() == []
    assert store.restore() == data


def test_restore_uses_the_cache_first(store: CheckpointStore, fake_arweave: FakeArweave) -> None:
    data = os.urandom(1000)
    store.save(Checkpoint(data))
    fake_arweave.requests.clear()
    assert store.restore() == data
    assert fake_arweave.requests == []


def test_restore_falls_back_to_the_gateway(
    store: CheckpointStore, fake_arweave: FakeArweave
) -> None:
    data = os.urandom(300000)
    saved = store.save(Checkpoint(data))
    store.cache.clear()
    assert store.restore() == data
    assert ("GET", f"/{saved.tx_id}") in fake_arweave.requests
    assert saved.state_hash in store.cache  # filled again


def test_a_damaged_cache_entry_falls_back_to_the_gateway(store: CheckpointStore) -> None:
    data = os.urandom(5000)
    saved = store.save(Checkpoint(data))
    store.cache.path_of(saved.state_hash).write_bytes(b"garbage")
    assert store.restore() == data


def test_tampered_gateway_data_raises_integrity_error(
    store: CheckpointStore, fake_arweave: FakeArweave
) -> None:
    store.save(Checkpoint(os.urandom(2000)))
    store.cache.clear()
    fake_arweave.tamper = True
    with pytest.raises(IntegrityError, match="does not match its state hash"):
        store.restore()
    assert store.cache.entries() == []  # nothing bad was cached


def test_a_gateway_serving_other_bytes_on_save_records_nothing(
    store: CheckpointStore, chain: FakeChain, fake_arweave: FakeArweave, alice: Keypair
) -> None:
    fake_arweave.tamper = True
    with pytest.raises(IntegrityError):
        store.save(Checkpoint(os.urandom(2000)))
    assert chain.checkpoints.latest(alice.ss58_address) is None
    assert store.journal.pending() == []  # that transaction is not resumed


def test_restore_without_a_record(store: CheckpointStore, alice: Keypair) -> None:
    with pytest.raises(CheckpointNotFoundError) as info:
        store.restore()
    assert info.value.owner == alice.ss58_address


def test_a_gateway_that_is_down_records_nothing(
    chain: FakeChain, alice: Keypair, wallet: ArweaveWallet, tmp_path: Path
) -> None:
    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused")

    gateway = ArweaveGateway(
        "http://127.0.0.1:9",
        retry=RetryPolicy(attempts=2, backoff=0),
        transport=httpx.MockTransport(down),
    )
    store = CheckpointStore(chain, alice, gateway, wallet, LocalCache(tmp_path))
    with pytest.raises(GatewayUnavailableError, match="unavailable"):
        store.save(Checkpoint(b"state"))
    assert chain.checkpoints.history_of == {}
    assert store.cache.entries() == []


def test_an_interrupted_upload_resumes(
    store: CheckpointStore,
    chain: FakeChain,
    fake_arweave: FakeArweave,
    alice: Keypair,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    data = os.urandom(6 * 262144)
    # Let two chunks through, then refuse the third.
    real = fake_arweave._post_chunk
    calls = {"n": 0}

    def flaky(body: dict[str, object]) -> httpx.Response:
        calls["n"] += 1
        return httpx.Response(400, text="nope") if calls["n"] == 3 else real(body)

    monkeypatch.setattr(fake_arweave, "_post_chunk", flaky)
    with pytest.raises(GatewayRejectedError):
        store.save(Checkpoint(data))
    assert chain.checkpoints.latest(alice.ss58_address) is None
    [pending] = store.journal.pending()
    assert pending.chunks_done == 2
    headers_before = len(fake_arweave.headers)
    saved = store.save(Checkpoint(data))
    assert saved.resumed and saved.tx_id == pending.tx.id
    assert len(fake_arweave.headers) == headers_before  # no new transaction
    assert store.journal.pending() == []
    store.cache.clear()
    assert store.restore() == data


def test_a_pending_upload_the_gateway_lost_starts_anew(
    store: CheckpointStore, fake_arweave: FakeArweave
) -> None:
    data = os.urandom(600000)
    fake_arweave.fail.append(("POST", "/chunk", 400))
    with pytest.raises(GatewayRejectedError):
        store.save(Checkpoint(data))
    [pending] = store.journal.pending()
    del fake_arweave.headers[pending.tx.id]  # e.g. its anchor expired
    saved = store.save(Checkpoint(data))
    assert not saved.resumed and saved.tx_id != pending.tx.id


def test_other_metadata_is_not_resumed(store: CheckpointStore, fake_arweave: FakeArweave) -> None:
    data = os.urandom(600000)
    fake_arweave.fail.append(("POST", "/chunk", 400))
    with pytest.raises(GatewayRejectedError):
        store.save(Checkpoint(data, {"Job": "1"}))
    saved = store.save(Checkpoint(data, {"Job": "2"}))
    assert not saved.resumed
    assert fake_arweave.headers[saved.tx_id].tag("Job") == "2"


def test_read_only_store_restores_by_owner(
    store: CheckpointStore,
    chain: FakeChain,
    fake_arweave: FakeArweave,
    alice: Keypair,
    tmp_path: Path,
) -> None:
    data = os.urandom(100)
    store.save(Checkpoint(data))
    reader = CheckpointStore(chain, None, fake_arweave.client(), None, LocalCache(tmp_path / "r"))
    assert reader.restore(alice.ss58_address) == data
    with pytest.raises(ValueError, match="no keypair"):
        reader.restore()
    with pytest.raises(ValueError):
        reader.save(Checkpoint(b"x"))


def test_progress_phases(store: CheckpointStore) -> None:
    seen: set[str] = set()
    data = os.urandom(600000)
    store.save(Checkpoint(data), on_progress=lambda phase, done, total: seen.add(phase))
    assert seen == {"upload", "verify"}
    store.cache.clear()
    store.restore(on_progress=lambda phase, done, total: seen.add(phase))
    assert "download" in seen
