"""Block authors that withhold finality, against the SDK on real ``ccnet-node``
validators (:mod:`ccnet.client.localnet`).

The attack: two of the four authorities (Charlie and Dave) stop voting and producing.
Alice and Bob still author blocks (Aura), so a payment gets *included*, but GRANDPA
needs three of four votes, so nothing new is *finalized*: the included block could
still be reverted. A requester whose SDK waits for finalization (``Chain(wait=
"finalization")``, what ``ccnet --wait finalization`` and ``ccnet demo --network local``
use) must not report the payment done until it is final; once the two come back it
is, and the balances at the finalized block are exact to the planck.
"""

from __future__ import annotations

import secrets
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from ccnet.client import CC, Chain, Keys
from ccnet.client.localnet import LocalNetwork

WITHHOLDERS = ("charlie", "dave")


@pytest.mark.timeout(900)
@pytest.mark.usefixtures("ccnet_node")
def test_a_payment_is_not_reported_done_while_authorities_withhold_finality(
    repo_root: Path, tmp_path: Path
) -> None:
    alice = Keys.from_uri("//Alice")
    dest = Keys.from_uri(f"//ccnet-finality-{secrets.token_hex(4)}").ss58_address
    amount = 3 * CC
    with LocalNetwork(4, root=repo_root, state_dir=tmp_path / "net") as net:
        net.wait_for_height(2, finalized=True, blocks=30)
        for name in WITHHOLDERS:
            assert net.stop_node(name)
        with Chain(net.info.node("alice").ws_url, timeout=600, wait="finalization") as chain:
            start = chain.block_number(finalized=True)
            before = chain.free_balance(alice.ss58_address)
            with ThreadPoolExecutor(1) as pool:
                paying = pool.submit(chain.transfer, alice, dest, amount)
                # Included in a block of Alice or Bob: the best state already shows it.
                net.wait_until(
                    "the payment in a best block",
                    lambda: chain.free_balance(dest) == amount,
                    blocks=20,
                )
                included_at = chain.block_number()
                net.wait_until(  # two more blocks authored, none of them final
                    "two more blocks", lambda: chain.block_number() >= included_at + 2, blocks=20
                )
                assert chain.block_number(finalized=True) < included_at
                assert not paying.done(), "a payment that could be reverted was reported done"

                for name in WITHHOLDERS:
                    net.start_node(name)
                receipt = paying.result(timeout=600)
            assert receipt.finalized
            final = chain.block_hash(finalized=True)
            assert chain.block_number(finalized=True) > start

            def free(who: str, at: str) -> int:
                account = chain.query("System", "Account", [who], block_hash=at) or {}
                return int(account["data"]["free"]) if account else 0

            assert free(dest, final) == amount
            assert free(alice.ss58_address, final) == before - amount - receipt.fee
