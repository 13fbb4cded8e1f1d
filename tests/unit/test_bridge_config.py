"""Bridge configuration (file, environment, options), crash-injection switches and the
``ccnet bridge`` commands that need no service."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ccnet.bridge.config import load_bridge_config
from ccnet.bridge.exceptions import ConfigError
from ccnet.bridge.faults import ALLOW_ENV, CRASH_ENV, CrashPoints
from ccnet.bridge.rates import Ratio
from ccnet.client.cli import app


def test_defaults(tmp_path: Path) -> None:
    config = load_bridge_config(tmp_path / "missing.toml", environ={})
    assert config.port == 8470 and config.host == "127.0.0.1"
    assert config.rates.cents_per_cc == Ratio(100) and config.rates.fee_bps == 1500
    assert config.database_url.startswith("sqlite:///")


def test_option_over_env_over_file(tmp_path: Path) -> None:
    path = tmp_path / "bridge.toml"
    path.write_text(
        'port = 9001\nhost = "127.0.0.2"\n[rates]\ncents_per_cc = "250/3"\nfee_bps = 1000\n'
    )
    env = {"CCNET_BRIDGE_PORT": "9002", "CCNET_BRIDGE_FEE_BPS": "1200"}
    config = load_bridge_config(path, environ=env, port=9003)
    assert config.port == 9003 and config.host == "127.0.0.2"
    assert config.rates.cents_per_cc == Ratio(250, 3) and config.rates.fee_bps == 1200
    assert load_bridge_config(path, environ=env).port == 9002


def test_secrets_only_from_the_environment(tmp_path: Path) -> None:
    path = tmp_path / "bridge.toml"
    path.write_text('stripe_api_key = "sk_live_oops"\n')
    with pytest.raises(ConfigError, match="secrets"):
        load_bridge_config(path, environ={})
    config = load_bridge_config(
        tmp_path / "none.toml", environ={"CCNET_BRIDGE_STRIPE_API_KEY": "sk"}
    )
    assert config.stripe_api_key == "sk" and "sk" not in repr(config)
    with pytest.raises(ConfigError, match="treasury_key"):
        config.require("treasury_key", "stripe_api_key")


@pytest.mark.parametrize(
    "text", ['port = "x"\n', "nonsense = 1\n", "[rates]\nfee_bps = 20000\n", "[rates]\nfoo = 1\n"]
)
def test_bad_files(tmp_path: Path, text: str) -> None:
    path = tmp_path / "bridge.toml"
    path.write_text(text)
    with pytest.raises(ConfigError):
        load_bridge_config(path, environ={})


def test_crash_points_need_both_switches() -> None:
    assert CrashPoints({CRASH_ENV: "credit.signed"}).steps == frozenset()
    assert CrashPoints({CRASH_ENV: "credit.signed", ALLOW_ENV: "1"}).steps == {"credit.signed"}
    with pytest.raises(ValueError, match="unknown"):
        CrashPoints({CRASH_ENV: "nope", ALLOW_ENV: "1"})


def test_quote_command(tmp_path: Path) -> None:
    runner = CliRunner()
    env = {"CCNET_BRIDGE_CONFIG": str(tmp_path / "none.toml")}
    result = runner.invoke(
        app,
        ["--json", "bridge", "quote", "--usd", "20", "--cc", "100", "--fuel", "10000000000"],
        env=env,
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["purchase"]["planck"] == 20 * 10**12
    assert (data["payout"]["net_cents"], data["payout"]["fee_cents"]) == (8500, 1500)
    assert data["fuel"]["cents"] == 1
    result = runner.invoke(app, ["bridge", "quote", "--usd", "20.001"], env=env)
    assert result.exit_code == 1 and "not a USD amount" in result.output


def test_bridge_unreachable_is_a_clear_error() -> None:
    result = CliRunner().invoke(
        app, ["bridge", "status", "pur_x", "--bridge", "http://127.0.0.1:9"]
    )
    assert result.exit_code == 1
    assert "cannot reach the bridge" in result.output
