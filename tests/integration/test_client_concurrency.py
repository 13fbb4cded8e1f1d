"""Concurrent submissions from one account in one process: the nonce manager keeps them
apart, whether the threads share one ``Chain`` or each opens its own."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from ccnet.client import Chain, Keypair, Receipt

THREADS, EACH = 8, 3


def remark(chain: Chain, who: Keypair, label: str) -> Receipt:
    return chain.submit(who, "System", "remark", {"remark": label.encode()})


def test_threads_share_one_chain(ccnet_chain: Chain, fund_account: Callable[..., Keypair]) -> None:
    who = fund_account()
    address = str(who.ss58_address)
    start = ccnet_chain.account_next_index(address)

    def work(thread: int) -> list[Receipt]:
        return [remark(ccnet_chain, who, f"t{thread}-{i}") for i in range(EACH)]

    with ThreadPoolExecutor(THREADS) as pool:
        receipts = [r for batch in pool.map(work, range(THREADS)) for r in batch]
    assert len(receipts) == THREADS * EACH
    assert all(r.find("System", "ExtrinsicSuccess") for r in receipts)
    assert len({r.extrinsic_hash for r in receipts}) == THREADS * EACH
    assert ccnet_chain.account_next_index(address) == start + THREADS * EACH


def test_threads_with_their_own_chains(devchain: str, fund_account: Callable[..., Keypair]) -> None:
    who = fund_account()

    def work(thread: int) -> int:
        with Chain(devchain) as chain:
            return len([remark(chain, who, f"own{thread}-{i}") for i in range(2)])

    with ThreadPoolExecutor(4) as pool:
        assert sum(pool.map(work, range(4))) == 8


def test_resyncs_after_an_outside_submission(
    ccnet_chain: Chain, fund_account: Callable[..., Keypair]
) -> None:
    who = fund_account()
    remark(ccnet_chain, who, "first")  # caches the next nonce
    # Another process (here: the raw substrate-interface API) uses that nonce meanwhile.
    with ccnet_chain.lock:
        api = ccnet_chain.api
        call = api.compose_call("System", "remark", {"remark": b"outside"})
        api.submit_extrinsic(
            api.create_signed_extrinsic(call, keypair=who), wait_for_inclusion=True
        )
    receipt = remark(ccnet_chain, who, "after")  # stale nonce -> re-sync -> retried once
    assert receipt.find("System", "ExtrinsicSuccess") is not None
