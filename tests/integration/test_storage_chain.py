"""CheckpointStore on the real runtime (Chopsticks) and a real arlocal: round trips at
the target sizes, resume from the cache and from the gateway, a tampering proxy, a
gateway that is down, and ``kill -9`` during a save.

Each test saves for its own fresh, funded account (``fund_account``), so the chain's
Checkpoints records of one test are not another's.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from ccnet.client import CC, Chain, CheckpointsError, Keypair, Keys
from ccnet.client.devchain import free_port
from ccnet.storage import (
    ArweaveGateway,
    ArweaveWallet,
    Checkpoint,
    CheckpointNotFoundError,
    CheckpointStore,
    GatewayUnavailableError,
    IntegrityError,
    LocalCache,
    RetryPolicy,
    state_hash,
)
from ccnet.storage.hashing import hash_hex

SIZES = [0, 1, 32 * 1024 - 1, 262144, 270000, 1048576, 5 * 1024 * 1024]
TX_PATH = re.compile(r"^/[A-Za-z0-9_-]{43}$")
JOB_RECORD_RETENTION = 100
"""Blocks a job's record stays before it can be cleared (the runtime's constant)."""


@pytest.fixture
def owner(fund_account: Callable[..., Keypair]) -> Keypair:
    return fund_account()


def _store(
    chain: Chain, owner: Keypair, gateway: ArweaveGateway, wallet: ArweaveWallet, cache: Path
) -> CheckpointStore:
    return CheckpointStore(chain, owner, gateway, wallet, LocalCache(cache))


def test_round_trips(
    ccnet_chain: Chain,
    owner: Keypair,
    gateway: ArweaveGateway,
    arweave_wallet: ArweaveWallet,
    tmp_path: Path,
) -> None:
    store = _store(ccnet_chain, owner, gateway, arweave_wallet, tmp_path / "cache")
    for size in SIZES:
        data = os.urandom(size)
        saved = store.save(Checkpoint(data, {"Size": str(size)}))
        record = ccnet_chain.checkpoints.latest(owner.ss58_address)
        assert record is not None, size
        assert record.state_hash == hash_hex(state_hash(data))
        assert (record.arweave_tx_id, record.size) == (saved.tx_id, size)
        assert store.restore() == data  # from the cache
        store.cache.clear()
        assert store.restore() == data  # from the gateway
    history = ccnet_chain.checkpoints.history(owner.ss58_address)
    assert [r.size for r in history] == SIZES


def test_a_jobs_checkpoints_are_recorded_under_the_job(
    ccnet_chain: Chain,
    owner: Keypair,
    gateway: ArweaveGateway,
    arweave_wallet: ArweaveWallet,
    tmp_path: Path,
) -> None:
    store = _store(ccnet_chain, owner, gateway, arweave_wallet, tmp_path / "cache")
    job_id = os.urandom(16)
    first = store.save(Checkpoint(b"first image"), job=(job_id, 1))
    second = store.save(Checkpoint(b"second image, later"), job=(job_id, 2))
    entry = store.job_record(owner.ss58_address, job_id)
    assert entry is not None
    assert (entry.job_id, entry.checkpoint, entry.deposit) == (job_id, 2, CC // 100)
    assert (entry.record.arweave_tx_id, entry.record.size) == (second.tx_id, second.size)
    assert entry.record.state_hash == hash_hex(second.state_hash)
    assert first.tx_id != second.tx_id
    assert _reserved(ccnet_chain, owner) == CC // 100  # one deposit for the job
    # A job record is not the account's per-owner record, and an older image is refused.
    assert ccnet_chain.checkpoints.latest(owner.ss58_address) is None
    with pytest.raises(CheckpointsError, match="StaleCheckpoint"):
        store.save(Checkpoint(b"an older image"), job=(job_id, 2))
    assert store.job_record(owner.ss58_address, job_id) == entry
    # Not while the requester may still settle against it; then exactly the deposit.
    with pytest.raises(CheckpointsError, match="RecordTooRecent"):
        ccnet_chain.checkpoints.clear_job(owner, job_id)
    ccnet_chain.new_blocks(JOB_RECORD_RETENTION)
    free_before = ccnet_chain.free_balance(owner.ss58_address)
    receipt = ccnet_chain.checkpoints.clear_job(owner, job_id)
    assert store.job_record(owner.ss58_address, job_id) is None
    assert receipt.expect("Checkpoints", "JobCheckpointCleared")["deposit"] == CC // 100
    assert _reserved(ccnet_chain, owner) == 0
    assert ccnet_chain.free_balance(owner.ss58_address) == free_before + CC // 100 - receipt.fee


def _reserved(chain: Chain, owner: Keypair) -> int:
    account = chain.query("System", "Account", [owner.ss58_address])
    assert account is not None
    return int(account["data"]["reserved"])


def test_resume_after_a_restart(
    ccnet_chain: Chain,
    owner: Keypair,
    arlocal: str,
    arweave_wallet: ArweaveWallet,
    tmp_path: Path,
) -> None:
    data = os.urandom(400000)
    with ArweaveGateway(arlocal, dev=True) as gateway:
        _store(ccnet_chain, owner, gateway, arweave_wallet, tmp_path).save(Checkpoint(data))

    # A new process: new chain connection, gateway client and cache object, same folder.
    with Chain(ccnet_chain.url) as chain, ArweaveGateway(arlocal, dev=True) as gateway:
        reader = CheckpointStore(chain, None, gateway, None, LocalCache(tmp_path))
        key = state_hash(data)
        assert key in reader.cache
        assert reader.restore(owner.ss58_address) == data  # from the cache
        reader.cache.clear()
        assert reader.restore(owner.ss58_address) == data  # from the gateway
        assert key in reader.cache


class _TamperingProxy(BaseHTTPRequestHandler):
    """Forwards to arlocal; flips the first byte of every data response (GET /{id})."""

    upstream = ""

    def _forward(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else None
        with httpx.Client(base_url=self.upstream, timeout=30) as client:
            response = client.request(
                self.command,
                self.path,
                content=body,
                headers={"content-type": self.headers.get("content-type", "")},
            )
        content = response.content
        if self.command == "GET" and TX_PATH.match(self.path) and content:
            content = bytes([content[0] ^ 0xFF]) + content[1:]
        self.send_response(response.status_code)
        self.send_header("content-length", str(len(content)))
        self.send_header("content-type", response.headers.get("content-type", "text/plain"))
        self.end_headers()
        self.wfile.write(content)

    do_GET = _forward
    do_POST = _forward

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def tampering_proxy(arlocal: str) -> Iterator[str]:
    handler = type("Proxy", (_TamperingProxy,), {"upstream": arlocal})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_tampered_gateway_response_raises(
    ccnet_chain: Chain,
    owner: Keypair,
    gateway: ArweaveGateway,
    arweave_wallet: ArweaveWallet,
    tampering_proxy: str,
    tmp_path: Path,
) -> None:
    data = os.urandom(300000)
    _store(ccnet_chain, owner, gateway, arweave_wallet, tmp_path / "a").save(Checkpoint(data))
    with ArweaveGateway(tampering_proxy, dev=True) as bad:
        store = _store(ccnet_chain, owner, bad, arweave_wallet, tmp_path / "b")
        with pytest.raises(IntegrityError, match="does not match its state hash"):
            store.restore()
        assert store.cache.entries() == []
        # A save whose re-fetch comes back altered is not recorded either.
        before = ccnet_chain.checkpoints.latest(owner.ss58_address)
        with pytest.raises(IntegrityError):
            store.save(Checkpoint(os.urandom(5000)))
        assert ccnet_chain.checkpoints.latest(owner.ss58_address) == before


def test_a_gateway_that_is_down(
    ccnet_chain: Chain, owner: Keypair, arweave_wallet: ArweaveWallet, tmp_path: Path
) -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    policy = RetryPolicy(attempts=3, backoff=0.05)
    with ArweaveGateway(url, dev=True, retry=policy) as down:
        store = _store(ccnet_chain, owner, down, arweave_wallet, tmp_path)
        with pytest.raises(GatewayUnavailableError) as info:
            store.save(Checkpoint(os.urandom(1000)))
    message = str(info.value)
    assert "Arweave gateway unavailable" in message and url in message
    assert "ConnectError" in message
    assert ccnet_chain.checkpoints.latest(owner.ss58_address) is None
    with pytest.raises(CheckpointNotFoundError):
        store.restore()


KILLED_SAVE = """
import os, sys, time
from pathlib import Path
import httpx
from ccnet.client import Chain, Keys
from ccnet.storage import (ArweaveGateway, ArweaveWallet, Checkpoint, CheckpointStore,
                           LocalCache)

chain_url, gateway_url, wallet, cache, data, mnemonic = sys.argv[1:7]

class SlowChunks(httpx.HTTPTransport):
    def handle_request(self, request):
        if request.url.path == "/chunk":
            time.sleep(0.3)  # so the parent can kill -9 in the middle of the upload
        return super().handle_request(request)

def progress(phase, done, total):
    print(phase, done, total, flush=True)

with Chain(chain_url) as chain, ArweaveGateway(gateway_url, dev=True,
                                              transport=SlowChunks()) as gateway:
    store = CheckpointStore(chain, Keys.from_mnemonic(mnemonic), gateway,
                            ArweaveWallet.load(Path(wallet)), LocalCache(Path(cache)))
    store.save(Checkpoint(Path(data).read_bytes()), on_progress=progress)
print("saved", flush=True)
"""


def test_kill_9_during_a_save_records_nothing(
    ccnet_chain: Chain,
    arlocal: str,
    arweave_wallet: ArweaveWallet,
    tmp_path: Path,
) -> None:
    keypair, mnemonic = Keys.generate()
    ccnet_chain.transfer(Keys.from_uri("//Ferdie"), keypair.ss58_address, 1000 * 10**12)
    first = os.urandom(2000)
    cache = tmp_path / "cache"
    with ArweaveGateway(arlocal, dev=True) as gateway:
        store = _store(ccnet_chain, keypair, gateway, arweave_wallet, cache)
        store.save(Checkpoint(first))
    before = ccnet_chain.checkpoints.latest(keypair.ss58_address)
    assert before is not None

    data = os.urandom(5 * 1024 * 1024)
    (tmp_path / "state.bin").write_bytes(data)
    arweave_wallet.save(tmp_path / "wallet.json")
    args = [ccnet_chain.url, arlocal, str(tmp_path / "wallet.json"), str(cache)]
    args += [str(tmp_path / "state.bin"), mnemonic]
    child = subprocess.Popen(
        [sys.executable, "-c", KILLED_SAVE, *args], stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None
        for line in child.stdout:
            phase, done, total = line.split()
            if phase == "upload" and 0 < int(done) < int(total):
                break
        else:
            pytest.fail("the child finished before it could be killed")
        child.kill()  # SIGKILL, in the middle of the chunk uploads
    finally:
        child.kill()
        child.wait(timeout=30)
    assert child.returncode == -9

    # Nothing half-recorded: the chain still has the previous checkpoint.
    assert ccnet_chain.checkpoints.latest(keypair.ss58_address) == before
    # No corrupt cache entry: every entry matches its hash; the new state is not there.
    reopened = LocalCache(cache)
    for entry in reopened.entries():
        assert reopened.get(entry.state_hash) is not None
    assert state_hash(data) not in reopened
    # The upload is resumable, and a new save finishes it.
    with ArweaveGateway(arlocal, dev=True) as gateway:
        store = _store(ccnet_chain, keypair, gateway, arweave_wallet, cache)
        [pending] = store.journal.pending()
        assert pending.state_hash == state_hash(data) and pending.chunks_done >= 1
        saved = store.save(Checkpoint(data))
        assert saved.resumed and saved.tx_id == pending.tx.id
        record = ccnet_chain.checkpoints.latest(keypair.ss58_address)
        assert record is not None and record.arweave_tx_id == saved.tx_id
        store.cache.clear()
        assert store.restore() == data
