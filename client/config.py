"""Settings of the ``ccnet`` command line: option > environment > config file > default.

Config file: ``$CCNET_CONFIG``, else ``~/.config/ccnet/config.toml`` (TOML, optional)::

    url = "ws://127.0.0.1:8000"
    keystore = "~/.config/ccnet/keystore"
    wait = "inclusion"     # or "finalization" (a network of validators)

Environment: ``CCNET_URL``, ``CCNET_KEYSTORE``, ``CCNET_WAIT``, ``CCNET_CONFIG``,
``CCNET_PASSPHRASE`` (the keystore passphrase; read only when a stored key is opened).
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .chain import DEFAULT_URL, Wait, as_wait
from .exceptions import ConfigError
from .keystore import DEFAULT_KEYSTORE

__all__ = [
    "ALLOW_FAULT_INJECTION_ENV",
    "DEFAULT_CACHE_ROOT",
    "DEFAULT_CONFIG",
    "FAULT_MODES",
    "WRONG_ONCHAIN_RESULT_ONCE",
    "WRONG_RESULT_ONCE",
    "Settings",
    "cache_root",
    "load_config",
    "resolve_settings",
]

DEFAULT_CONFIG = Path("~/.config/ccnet/config.toml")
ALLOW_FAULT_INJECTION_ENV = "CCNET_ALLOW_FAULT_INJECTION"
"""Environment variable that must be ``1`` before ``ccnet worker run --fault-injection``
accepts a mode (demos and tests only)."""
WRONG_RESULT_ONCE = "wrong-result-once"
"""Fault-injection mode: corrupt the output of the first result (on or off chain)."""
WRONG_ONCHAIN_RESULT_ONCE = "wrong-onchain-result-once"
"""Fault-injection mode: corrupt the output of the first result submitted on chain."""
FAULT_MODES = (WRONG_RESULT_ONCE, WRONG_ONCHAIN_RESULT_ONCE)
"""Every fault-injection mode (the worker's behaviour: :mod:`ccnet.worker.faults`)."""
DEFAULT_CACHE_ROOT = Path("~/.cache/ccnet")
"""Where built job modules and compiled artifacts live (``$CCNET_CACHE`` overrides)."""
KNOWN_KEYS = frozenset({"url", "keystore", "wait"})


def cache_root(environ: Mapping[str, str] | None = None) -> Path:
    """``$CCNET_CACHE`` or ``~/.cache/ccnet``, expanded (the same root the scripts use)."""
    env = os.environ if environ is None else environ
    return Path(env.get("CCNET_CACHE") or DEFAULT_CACHE_ROOT).expanduser()


@dataclass(frozen=True)
class Settings:
    """What the command line runs with."""

    url: str
    """WebSocket URL of the node."""
    keystore: Path
    """Keystore directory (expanded)."""
    config: Path | None
    """Config file that was read, if any."""
    wait: Wait = "inclusion"
    """What extrinsics wait for: ``inclusion`` in a block, or GRANDPA ``finalization``."""


def load_config(path: Path) -> dict[str, Any]:
    """The keys of config file *path* ({} if it does not exist); :class:`ConfigError` for
    bad TOML, unknown keys or non-string values."""
    path = path.expanduser()
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, tomllib.TOMLDecodeError) as err:
        raise ConfigError(f"cannot read config file {path}: {err}") from None
    unknown = set(data) - KNOWN_KEYS
    if unknown:
        raise ConfigError(
            f"config file {path}: unknown key(s) {', '.join(sorted(unknown))} "
            f"(known: {', '.join(sorted(KNOWN_KEYS))})"
        )
    for key, value in data.items():
        if not isinstance(value, str):
            raise ConfigError(f"config file {path}: {key} must be a string")
    return data


def resolve_settings(
    *,
    url: str | None = None,
    keystore: Path | str | None = None,
    config: Path | str | None = None,
    wait: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Settings from the options given (None = not given), then the environment, then the
    config file, then the defaults. :class:`ConfigError` for a *wait* not in
    :data:`~ccnet.client.chain.WAITS`."""
    env = os.environ if environ is None else environ
    config_path = Path(config or env.get("CCNET_CONFIG") or DEFAULT_CONFIG).expanduser()
    file = load_config(config_path)
    chosen_url = url or env.get("CCNET_URL") or file.get("url") or DEFAULT_URL
    chosen_keystore = keystore or env.get("CCNET_KEYSTORE") or file.get("keystore")
    try:
        chosen_wait = as_wait(wait or env.get("CCNET_WAIT") or file.get("wait") or "inclusion")
    except ValueError as err:
        raise ConfigError(str(err)) from None
    return Settings(
        url=str(chosen_url),
        keystore=Path(chosen_keystore or DEFAULT_KEYSTORE).expanduser(),
        config=config_path if config_path.is_file() else None,
        wait=chosen_wait,
    )
