"""VM checkpoints through Arweave and the chain (arlocal, the runtime under Chopsticks,
the real sandbox): worker A checkpoints a job periodically, each image sealed, uploaded
and recorded as the job's newest image (``record_job``), then stops; worker B, another
process with an empty cache, finds A's record of the job on chain, fetches and opens it
with the requester's key, and finishes the job with the uninterrupted run's output, the
fuel of both adding up exactly. The public bytes do not hold the job's state, and the
wrong key opens nothing."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from ccnet.client import Chain, Keypair
from ccnet.storage import ArweaveGateway, ArweaveWallet, CheckpointStore, LocalCache
from ccnet.worker.exceptions import CheckpointKeyError
from ccnet.worker.sandbox import Sandbox, SuspendedRun
from ccnet.worker.vmcheckpoint import CheckpointPolicy, VmImage, new_key
from ccnet.worker.vmcheckpoint.archive import archive, retrieve
from ccnet.worker.vmcheckpoint.image import MAGIC

ARGS = ["3000000"]
JOB_ID = "6a6f622d303030310000000000000001"  # 16 bytes, bare hex
WORKER_B = """
import json, sys
from pathlib import Path
from ccnet.client import Chain
from ccnet.storage import ArweaveGateway, ArweaveWallet, CheckpointStore, LocalCache
from ccnet.client import Keys
from ccnet.worker.sandbox import Sandbox
from ccnet.worker.vmcheckpoint import CheckpointPolicy
from ccnet.worker.vmcheckpoint.archive import retrieve

chain_url, gateway_url, wallet, cache, owner, job, key, wasm, arg = sys.argv[1:]
with Chain(chain_url) as chain, ArweaveGateway(gateway_url, dev=True) as gateway:
    me, _ = Keys.generate()
    store = CheckpointStore(chain, me, gateway, ArweaveWallet.load(Path(wallet)),
                            LocalCache(Path(cache)))
    found = chain.checkpoints.job_record(owner, bytes.fromhex(job))
    image = retrieve(store, found.record, bytes.fromhex(key), max_bytes=300 << 20)
with Sandbox() as box:
    done = box.run_checkpointed(Path(wasm).read_bytes(), policy=CheckpointPolicy(),
                                resume=image, args=[arg])
print(json.dumps({"stdout": done.stdout.decode(), "fuel": done.fuel_used,
                  "before": done.fuel_before, "checkpoints": done.checkpoints}))
"""


def test_a_job_checkpointed_on_one_worker_finishes_from_arweave_on_another(
    ccnet_chain: Chain,
    fund_account: Callable[..., Keypair],
    gateway: ArweaveGateway,
    arlocal: str,
    arweave_wallet: ArweaveWallet,
    sandbox: Sandbox,
    job_wasm: Callable[[str], bytes],
    tmp_path: Path,
) -> None:
    worker_a, key, wasm = fund_account(), new_key(), job_wasm("prime_count")
    whole = sandbox.run(wasm, args=ARGS)
    store = CheckpointStore(
        ccnet_chain, worker_a, gateway, arweave_wallet, LocalCache(tmp_path / "cache-a")
    )
    saved, images, stop = [], [], threading.Event()

    def store_image(image: VmImage) -> None:
        images.append(image)
        saved.append(archive(store, image, key, JOB_ID))
        if len(images) == 2:
            stop.set()  # A goes down after its second checkpoint

    policy = CheckpointPolicy(every_fuel=whole.fuel_used // 3, stop=stop, on_image=store_image)
    run_a = sandbox.run_checkpointed(wasm, policy=policy, args=ARGS)
    assert isinstance(run_a, SuspendedRun) and run_a.image == images[-1]

    found = ccnet_chain.checkpoints.job_record(worker_a.ss58_address, bytes.fromhex(JOB_ID))
    assert found is not None  # the job's newest image only, under its sequence number
    assert (found.checkpoint, found.record.arweave_tx_id) == (2, saved[-1].tx_id)
    assert [i.checkpoints for i in images] == [1, 2]
    assert ccnet_chain.checkpoints.history(worker_a.ss58_address) == []  # not per account
    public = gateway.fetch(saved[-1].tx_id, expected_size=saved[-1].size)
    # Sealed: neither the image's header nor any of its memory pages is in the clear.
    assert MAGIC not in public and not any(page in public for page in run_a.image.pages.values())

    arweave_wallet.save(tmp_path / "wallet.json")
    args = [ccnet_chain.url, arlocal, str(tmp_path / "wallet.json"), str(tmp_path / "cache-b")]
    (tmp_path / "job.wasm").write_bytes(wasm)
    args += [worker_a.ss58_address, JOB_ID, key.hex(), str(tmp_path / "job.wasm"), ARGS[0]]
    done = subprocess.run(
        [sys.executable, "-c", WORKER_B, *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    b = json.loads(done.stdout)
    assert b["stdout"].encode() == whole.stdout == b"216816\n"
    assert b["before"] == images[-1].fuel_used == run_a.fuel_used
    assert b["checkpoints"] == 2
    cost = (run_a.fuel_used + b["fuel"] - whole.fuel_used) // 2
    assert run_a.fuel_used + b["fuel"] == whole.fuel_used + 2 * cost and 0 < cost < 5_000

    with pytest.raises(CheckpointKeyError, match="does not open under this key"):
        retrieve(store, found.record, new_key(), max_bytes=300 << 20)
