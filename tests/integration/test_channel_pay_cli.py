"""``ccnet channel pay|resolve|serve|close --peer`` against the dev chain, with the
payee a real ``ccnet channel serve`` process: two payments, a cooperative close, and
exact balances (fees included) on both accounts."""

from __future__ import annotations

import json
import secrets
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from ccnet.channels.testing import Ledger
from ccnet.client import CC, Chain, Keys
from ccnet.client.cli import app
from ccnet.client.devchain import free_port

runner = CliRunner()


def ccnet(url: str, *args: str) -> Any:
    result = runner.invoke(app, ["--json", "--url", url, *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def funded_uri(chain: Chain, funder: Any, amount: int = 100 * CC) -> str:
    """A fresh dev URI whose account holds *amount* planck."""
    uri = f"//CliPay{secrets.token_hex(6)}"
    chain.transfer(funder, Keys.from_uri(uri).ss58_address, amount)
    return uri


def start_serving(url: str, cid: str, key: str, store: Path) -> tuple[subprocess.Popen[str], str]:
    """``ccnet channel serve`` in a process of its own; it and its HOST:PORT."""
    port = free_port()
    args = [sys.executable, "-m", "ccnet.client", "--json", "--url", url, "channel", "serve"]
    args += [cid, "--key", key, "--store", str(store), "--listen", f"127.0.0.1:{port}"]
    process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert process.stderr is not None
    line = process.stderr.readline()  # "serving channel ... on HOST:PORT; Ctrl-C stops"
    assert f"127.0.0.1:{port}" in line, line + process.stderr.read()
    return process, f"127.0.0.1:{port}"


def stop_serving(process: subprocess.Popen[str]) -> Any:
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    return json.loads(out)


def test_pay_twice_and_close_cooperatively(
    devchain: str, ccnet_chain: Chain, fund_account: Any, ledger: Ledger, tmp_path: Path
) -> None:
    payer, payee = (funded_uri(ccnet_chain, fund_account.funder) for _ in range(2))
    a_addr, b_addr = (Keys.from_uri(u).ss58_address for u in (payer, payee))
    a_store, b_store = tmp_path / "a.db", tmp_path / "b.db"
    before = {x: ledger.balances(x) for x in (a_addr, b_addr)}

    opened = ccnet(
        devchain, "channel", "open", payee, "10", "--key", payer, "--store", str(a_store)
    )
    cid = opened["params"]["channel_id"]
    joined = ccnet(devchain, "channel", "join", cid, "--key", payee, "--store", str(b_store))
    assert joined["me"] == "B"
    serving, peer = start_serving(devchain, cid, payee, b_store)
    try:
        common = ["--key", payer, "--store", str(a_store), "--peer", peer]
        first = ccnet(devchain, "channel", "pay", cid, "1.5", *common)
        assert (first["version"], first["amount"]) == (1, 3 * CC // 2)
        assert (first["balance"], first["peer_balance"]) == (17 * CC // 2, 3 * CC // 2)
        second = ccnet(devchain, "channel", "pay", cid, "250planck", *common, "--memo", "tip")
        assert (second["version"], second["amount"]) == (2, 250)
        assert second["balance_b"] == 3 * CC // 2 + 250
        # Ambiguous input is refused before anything happens.
        bad = runner.invoke(app, ["--url", devchain, "channel", "pay", cid, "1,5", *common])
        assert bad.exit_code == 2
        # A second signer on the payee's store (serve holds its lock) is refused at once.
        wrong = runner.invoke(
            app,
            ["--url", devchain, "channel", "pay", cid, "1"]
            + ["--key", payee, "--store", str(b_store), "--peer", peer],
        )
        assert wrong.exit_code == 1 and "in use by process" in " ".join(wrong.output.split())
        resolved = ccnet(devchain, "channel", "resolve", cid, *common)
        assert resolved["version"] == 2 and resolved["amount"] is None
        closed = ccnet(devchain, "channel", "close", cid, *common)
        assert (closed["balance_a"], closed["balance_b"]) == (
            10 * CC - second["balance_b"],
            second["balance_b"],
        )
    finally:
        served = stop_serving(serving)
    assert served["latest"]["version"] == 2 and served["closing"]["agreed"] is True
    assert ccnet_chain.channels.channel(bytes.fromhex(cid[2:])) is None
    paid = 3 * CC // 2 + 250
    free_a, held_a = before[a_addr]
    assert ledger.balances(a_addr) == (free_a - opened["fee"] - closed["fee"] - paid, held_a)
    free_b, held_b = before[b_addr]
    assert ledger.balances(b_addr) == (free_b + paid, held_b)  # B submitted nothing


def test_pay_without_a_reachable_peer_sends_nothing(
    devchain: str, ccnet_chain: Chain, fund_account: Any, tmp_path: Path
) -> None:
    payer, payee = (funded_uri(ccnet_chain, fund_account.funder) for _ in range(2))
    store = str(tmp_path / "a.db")
    cid = ccnet(devchain, "channel", "open", payee, "2", "--key", payer, "--store", store)[
        "params"
    ]["channel_id"]
    args = ["--url", devchain, "channel", "pay", cid, "1", "--key", payer, "--store", store]
    down = runner.invoke(app, [*args, "--peer", f"127.0.0.1:{free_port()}"])
    assert down.exit_code == 1 and "cannot reach the peer" in down.output
    assert "nothing was sent" in down.output
    bad_peer = runner.invoke(app, [*args, "--peer", "nowhere"])
    assert bad_peer.exit_code == 1 and "HOST:PORT" in bad_peer.output
    shown = ccnet(devchain, "channel", "show", cid, "--key", payer, "--store", store, "--no-chain")
    assert shown["latest"]["version"] == 0 and shown["pending_version"] is None
