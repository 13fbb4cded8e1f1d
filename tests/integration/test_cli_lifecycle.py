"""Life-cycle commands of ``ccnet`` against the dev chain (CliRunner in-process), with
exact planck balances: ``transfer``."""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from ccnet.client import CC, Chain, Keys
from ccnet.client.cli import app

runner = CliRunner()


@pytest.fixture
def env(devchain: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("CCNET_URL", devchain)
    monkeypatch.setenv("CCNET_KEYSTORE", str(tmp_path / "keystore"))
    monkeypatch.setenv("CCNET_CONFIG", str(tmp_path / "none.toml"))
    monkeypatch.delenv("CCNET_KEY", raising=False)
    return devchain


def fresh_uri() -> str:
    """A dev URI nobody else uses: an empty account of its own."""
    return f"//cli-{secrets.token_hex(6)}"


def address(uri: str) -> str:
    return str(Keys.from_uri(uri).ss58_address)


def ccnet_json(*args: str, code: int = 0) -> Any:
    result = runner.invoke(app, ["--json", *args])
    assert result.exit_code == code, result.output
    return json.loads(result.stdout)


def fund(chain: Chain, uri: str, amount: int = 1000 * CC) -> str:
    chain.transfer(Keys.from_uri("//Ferdie"), address(uri), amount)
    return address(uri)


# -- transfer ------------------------------------------------------------------------------


def test_transfer_moves_exact_planck(env: str, ccnet_chain: Chain) -> None:
    sender, dest = fresh_uri(), fresh_uri()
    fund(ccnet_chain, sender, 10 * CC)
    before = ccnet_chain.free_balance(address(sender))

    sent = ccnet_json("transfer", dest, "2.000000000003", "-k", sender)
    assert sent["amount"] == 2 * CC + 3 and sent["to"] == address(dest)
    assert sent["from"] == address(sender) and sent["fee"] > 0
    assert ccnet_chain.free_balance(address(dest)) == 2 * CC + 3
    assert ccnet_chain.free_balance(address(sender)) == before - (2 * CC + 3) - sent["fee"]

    # By address, in planck, with the human output: amounts shown in CC.
    result = runner.invoke(app, ["transfer", address(dest), "500planck", "-k", sender])
    assert result.exit_code == 0, result.output
    assert "0.0000000005 CC" in result.output
    assert ccnet_chain.free_balance(address(dest)) == 2 * CC + 503


def test_transfer_refusals_move_nothing(env: str, ccnet_chain: Chain) -> None:
    sender, dest = fresh_uri(), fresh_uri()
    fund(ccnet_chain, sender, 10 * CC)
    before = ccnet_chain.free_balance(address(sender))

    # More than the free balance: the runtime refuses; only the fee is paid.
    failed = ccnet_json("transfer", dest, "11", "-k", sender, code=3)
    assert failed["error"]["name"] == "FundsUnavailable" and "hint" in failed["error"]
    # Below the existential deposit of a new account.
    failed = ccnet_json("transfer", dest, "1planck", "-k", sender, code=3)
    assert failed["error"]["name"] == "BelowMinimum" and "ExistentialDeposit" in str(failed)
    assert ccnet_chain.free_balance(address(dest)) == 0
    after = ccnet_chain.free_balance(address(sender))
    assert 0 < before - after < CC // 100  # two fees, nothing sent

    # Zero, and a key that is neither an address nor a dev URI nor stored: no extrinsic.
    failed = ccnet_json("transfer", dest, "0", "-k", sender, code=1)
    assert "more than zero" in failed["error"]["message"]
    failed = ccnet_json("transfer", "nobody", "1", "-k", sender, code=4)
    assert ccnet_chain.free_balance(address(sender)) == after
