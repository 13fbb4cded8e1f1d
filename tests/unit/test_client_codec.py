"""Value conversions: amounts, hashes, byte strings, settings precedence."""

from __future__ import annotations

from pathlib import Path

import pytest

from ccnet.client import CC, CallEncodingError, h256
from ccnet.client.codec import as_bytes, bounded, fixed_hex
from ccnet.client.commands._common import format_cc, parse_amount
from ccnet.client.config import resolve_settings
from ccnet.client.exceptions import ConfigError, UsageError


@pytest.mark.parametrize(
    ("text", "planck"),
    [
        ("1", CC),
        ("10", 10 * CC),
        ("007", 7 * CC),
        ("2.5", 2 * CC + CC // 2),
        ("2.5CC", 2 * CC + CC // 2),
        (" 1.5 cc ", 3 * CC // 2),
        ("0.000000000001", 1),
        ("0.000000000001 cc", 1),
        ("1.000000000000", CC),
        ("1500planck", 1500),
        ("1500 PLANCK", 1500),
        ("0", 0),
        (f"{2**128 - 1}planck", 2**128 - 1),
        ("340282366920938463463374607.431768211455", 2**128 - 1),
    ],
)
def test_parse_amount(text: str, planck: int) -> None:
    assert parse_amount(text) == planck


@pytest.mark.parametrize(
    "text",
    [
        "",
        "abc",
        "CC",
        "1,5",  # one and a half, or fifteen?
        "1,000",
        "1_000",
        "1 000",
        "1e3",
        "1E-3",
        "-1",
        "+1",
        "NaN",
        "nan",
        "inf",
        "Infinity",
        ".5",
        "5.",
        "0x10",
        "\u0663",  # an Arabic-Indic three: a digit to Python, not to us
        "0.0000000000001",
        "1.5planck",
        "-5planck",
        f"{2**128}planck",
        "340282366920938463463374607.431768211456",
        "9" * 5000,
    ],
)
def test_parse_amount_rejects(text: str) -> None:
    with pytest.raises(UsageError, match="not an amount"):
        parse_amount(text)


def test_parse_amount_says_why() -> None:
    with pytest.raises(UsageError, match="1.5, fifteen is 15"):
        parse_amount("1,5")
    with pytest.raises(UsageError, match="more than 12 decimals"):
        parse_amount("0.0000000000001")
    with pytest.raises(UsageError, match="never negative"):
        parse_amount("-1")


def test_format_cc() -> None:
    assert format_cc(0) == "0 CC"
    assert format_cc(1_500_000 * CC + 1) == "1,500,000.000000000001 CC"
    assert format_cc(CC // 2) == "0.5 CC"


def test_hashes_and_bytes() -> None:
    assert h256(b"\x01" * 32) == "0x" + "01" * 32
    assert h256("ab" * 32) == "0x" + "ab" * 32
    with pytest.raises(CallEncodingError, match="32 bytes"):
        h256(b"\x01" * 31)
    with pytest.raises(CallEncodingError, match="hex"):
        fixed_hex("zz", 1, "sig")
    assert as_bytes("0x0102") == b"\x01\x02"
    assert as_bytes("wasm") == b"wasm"
    assert as_bytes([1, 2]) == b"\x01\x02"
    assert bounded([b"a", b"b"]) == [[b"a", b"b"]]


def test_settings_precedence(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('url = "ws://config:1"\nkeystore = "/config/ks"\n')
    env = {"CCNET_CONFIG": str(config)}
    from_file = resolve_settings(environ=env)
    assert (from_file.url, from_file.keystore, from_file.config) == (
        "ws://config:1",
        Path("/config/ks"),
        config,
    )
    env |= {"CCNET_URL": "ws://env:2", "CCNET_KEYSTORE": "/env/ks"}
    from_env = resolve_settings(environ=env)
    assert (from_env.url, from_env.keystore) == ("ws://env:2", Path("/env/ks"))
    given = resolve_settings(url="ws://opt:3", keystore="/opt/ks", environ=env)
    assert (given.url, given.keystore) == ("ws://opt:3", Path("/opt/ks"))
    default = resolve_settings(environ={"CCNET_CONFIG": str(tmp_path / "none.toml")})
    assert default.url == "ws://127.0.0.1:8000" and default.config is None
    assert default.wait == "inclusion"


def test_what_extrinsics_wait_for(tmp_path: Path) -> None:
    """``wait``: option > CCNET_WAIT > config > inclusion; anything else is refused."""
    config = tmp_path / "config.toml"
    config.write_text('wait = "finalization"\n')
    env = {"CCNET_CONFIG": str(config)}
    assert resolve_settings(environ=env).wait == "finalization"
    assert resolve_settings(environ=env | {"CCNET_WAIT": "inclusion"}).wait == "inclusion"
    assert resolve_settings(wait="finalization", environ={"CCNET_WAIT": "inclusion"}).wait == (
        "finalization"
    )
    with pytest.raises(ConfigError, match="wait must be one of inclusion, finalization"):
        resolve_settings(wait="final", environ={})


def test_bad_config_files(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('url = "ws://x"\nport = 1\n')
    with pytest.raises(ConfigError, match="unknown key"):
        resolve_settings(config=config, environ={})
    config.write_text("url = [")
    with pytest.raises(ConfigError, match="cannot read"):
        resolve_settings(config=config, environ={})
