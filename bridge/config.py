"""Configuration of the bridge service: option > environment > file > default.

File: ``$CCNET_BRIDGE_CONFIG``, else ``~/.config/ccnet/bridge.toml`` (optional)::

    database_url = "sqlite:///.state/bridge/ledger.db"   # or postgresql+psycopg://...
    host = "127.0.0.1"
    port = 8470
    stripe_api_base = "https://api.stripe.com"
    paypal_environment = "sandbox"                         # or "production"
    [rates]
    cents_per_cc = "100"          # 1 CC = $1.00 (an integer ratio, e.g. "250/3")
    fuel_per_cent = 10000000000   # 10**10 fuel = $0.01
    min_purchase_cents = 2000
    min_payout_cents = 5000
    fee_bps = 1500                # 15 %

Secrets come from the environment only: ``CCNET_BRIDGE_TREASURY_KEY`` (secret URI,
mnemonic or hex seed of the treasury account), ``CCNET_BRIDGE_STRIPE_API_KEY``,
``CCNET_BRIDGE_STRIPE_WEBHOOK_SECRET`` (``whsec_...``), ``CCNET_BRIDGE_PAYPAL_CLIENT_ID``,
``CCNET_BRIDGE_PAYPAL_CLIENT_SECRET``. Every other key may also be set as
``CCNET_BRIDGE_<KEY>`` (upper case), e.g. ``CCNET_BRIDGE_PORT=8471``. Times are seconds.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ccnet.client import DEFAULT_URL

from .exceptions import ConfigError
from .rates import Rates, Ratio

__all__ = ["DEFAULT_BRIDGE_CONFIG", "DEFAULT_PORT", "BridgeConfig", "load_bridge_config"]

DEFAULT_BRIDGE_CONFIG = Path("~/.config/ccnet/bridge.toml")
DEFAULT_PORT = 8470
ENV_PREFIX = "CCNET_BRIDGE_"
SECRETS = frozenset(
    {
        "treasury_key",
        "stripe_api_key",
        "stripe_webhook_secret",
        "paypal_client_id",
        "paypal_client_secret",
    }
)


@dataclass(frozen=True)
class BridgeConfig:
    """Everything ``ccnet bridge run`` needs."""

    database_url: str = "sqlite:///.state/bridge/ledger.db"
    """SQLAlchemy URL of the ledger: SQLite (default) or ``postgresql+psycopg://``."""
    chain_url: str = DEFAULT_URL
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    treasury_key: str = field(default="", repr=False)
    """Secret of the treasury account (the custodian's key)."""
    stripe_api_key: str = field(default="", repr=False)
    stripe_webhook_secret: str = field(default="", repr=False)
    stripe_api_base: str = "https://api.stripe.com"
    stripe_tolerance: int = 300
    """Seconds a signed webhook stays acceptable (Stripe's default)."""
    paypal_client_id: str = field(default="", repr=False)
    paypal_client_secret: str = field(default="", repr=False)
    paypal_environment: str = "sandbox"
    paypal_base_url: str = ""
    """Overrides the environment's API host (used for the local test double)."""
    rates: Rates = Rates()
    poll_interval: float = 1.0
    """How often the outbox retries and PayPal batches are polled."""
    sweep_interval: float = 30.0
    """How often Stripe's event list is read for webhooks that never arrived."""
    bridge_id: str = "ccnet-bridge"
    """Tag put on every PaymentIntent, so the report tells ours from others."""
    chain_timeout: float = 30.0

    def require(self, *names: str) -> None:
        """:class:`ConfigError` naming every empty setting among *names*."""
        missing = [n for n in names if not getattr(self, n)]
        if missing:
            envs = ", ".join(ENV_PREFIX + n.upper() for n in missing)
            raise ConfigError(f"the bridge needs {', '.join(missing)} (set {envs})")

    def replace(self, **changes: Any) -> BridgeConfig:
        return dataclasses.replace(self, **changes)


_RATE_KEYS = {f.name for f in dataclasses.fields(Rates)}
_KEYS = {f.name for f in dataclasses.fields(BridgeConfig)} - {"rates"}


def _coerce(name: str, value: Any, kind: type) -> Any:
    try:
        if kind is int and not isinstance(value, bool):
            return int(value)
        if kind is float and not isinstance(value, bool):
            return float(value)
        if kind is str:
            return str(value)
    except (TypeError, ValueError):
        pass
    raise ConfigError(f"bridge setting {name} must be {kind.__name__}, got {value!r}")


_TYPES: dict[str, type] = {
    f.name: (int if f.type == "int" else float if f.type == "float" else str)
    for f in dataclasses.fields(BridgeConfig)
    if f.name != "rates"
}


def _rates(data: Mapping[str, Any]) -> Rates:
    unknown = set(data) - _RATE_KEYS
    if unknown:
        raise ConfigError(f"unknown rate setting(s): {', '.join(sorted(unknown))}")
    values: dict[str, Any] = {}
    for name, value in data.items():
        if name == "cents_per_cc":
            values[name] = value if isinstance(value, Ratio) else Ratio.parse(str(value))
        else:
            values[name] = _coerce(name, value, int)
    return Rates(**values)


def load_bridge_config(
    path: Path | str | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    **options: Any,
) -> BridgeConfig:
    """The configuration from *options* (None = not given), the environment, the file
    *path* (else ``$CCNET_BRIDGE_CONFIG``, else the default) and the defaults.
    :class:`ConfigError` for unknown keys, secrets in the file, or mistyped values."""
    env = os.environ if environ is None else environ
    file_path = Path(path or env.get(ENV_PREFIX + "CONFIG") or DEFAULT_BRIDGE_CONFIG).expanduser()
    try:
        data: dict[str, Any] = tomllib.loads(file_path.read_text())
    except FileNotFoundError:
        data = {}
    except (OSError, tomllib.TOMLDecodeError) as err:
        raise ConfigError(f"cannot read bridge config {file_path}: {err}") from None
    rate_data = dict(data.pop("rates", {}) or {})
    unknown = set(data) - _KEYS
    if unknown:
        raise ConfigError(f"bridge config {file_path}: unknown key(s) {sorted(unknown)}")
    secret_in_file = set(data) & SECRETS
    if secret_in_file:
        raise ConfigError(
            f"bridge config {file_path}: keep secrets out of files; set "
            + ", ".join(ENV_PREFIX + s.upper() for s in sorted(secret_in_file))
        )
    values: dict[str, Any] = {}
    for name in _KEYS:
        chosen = options.get(name)
        if chosen is None:
            chosen = env.get(ENV_PREFIX + name.upper())
        if chosen is None:
            chosen = data.get(name)
        if chosen is not None:
            values[name] = _coerce(name, chosen, _TYPES[name])
    for name in _RATE_KEYS:
        if (from_env := env.get(ENV_PREFIX + name.upper())) is not None:
            rate_data[name] = from_env
    rates = options.get("rates")
    values["rates"] = rates if isinstance(rates, Rates) else _rates(rate_data)
    return BridgeConfig(**values)
