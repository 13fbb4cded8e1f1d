"""The fiat phases ``ccnet demo --fiat`` runs (:class:`ccnet.bridge.demo.FiatBridge`):
localstripe, the PayPal test double and a real ``ccnet bridge run`` started on
127.0.0.1, a card purchase, a worker's payout, the reconciliation; all stopped after."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ccnet.bridge.demo import FiatBridge
from ccnet.client import CC, Chain, Keys
from ccnet.client.devchain import group_alive


def test_fiat_demo_phases(ccnet_chain: Chain, fund_account: Any, tmp_path: Path) -> None:
    funder = fund_account(10_000 * CC)
    renter = str(Keys.generate()[0].ss58_address)
    worker = fund_account(100 * CC)
    with FiatBridge(ccnet_chain.url, funder=funder, state_dir=tmp_path) as fiat:
        assert fiat.proc is not None
        pid = fiat.proc.pid
        purchase = fiat.buy(renter, 20_00)
        assert purchase["status"] == "credited" and purchase["planck"] == 20 * CC
        payout = fiat.cash_out(ccnet_chain, worker, 60 * CC, "worker@example.com")
        assert payout["status"] == "paid" and payout["net_cents"] == 51_00
        summary = fiat.summary()
    assert all(summary["checks"].values()), summary["checks"]
    assert summary["reconciliation"]["balanced"]
    assert ccnet_chain.free_balance(renter) == 20 * CC
    assert not group_alive(pid)
    assert fiat.stripe is None and fiat.paypal is None
