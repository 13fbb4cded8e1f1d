"""A directory of named sr25519 keys, each a JSON file whose secret is passphrase-encrypted.

File ``<dir>/<name>.json`` (mode 0600, written atomically; the directory is 0700)::

    {"version": 1, "name": "alice", "address": "5Grw...", "public_key": "0x..",
     "crypto_type": "sr25519", "created": "2025-01-01T00:00:00+00:00",
     "kdf": {"name": "scrypt", "salt": "<hex>", "n": 32768, "r": 8, "p": 1},
     "cipher": {"name": "aes-256-gcm", "nonce": "<hex>", "ciphertext": "<hex>"}}

The secret (a mnemonic, a secret URI or a 0x seed) is encrypted with AES-256-GCM under a
key derived from the passphrase by scrypt (both from ``cryptography``); the address is the
associated data, so a file whose public part was edited does not open. Secrets and
passphrases never reach a log or an error message.
"""

from __future__ import annotations

import json
import logging
import os
import re
import secrets
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from .exceptions import InvalidKeyError, KeyNotFoundError, KeystoreError
from .keys import Keypair, Keys, is_dev_uri

__all__ = ["DEFAULT_KEYSTORE", "KeyInfo", "Keystore", "valid_name"]

logger = logging.getLogger(__name__)

DEFAULT_KEYSTORE = Path("~/.config/ccnet/keystore")
FORMAT_VERSION = 1
SCRYPT_N = 2**15  # 32 MiB with r=8: ~0.1 s per open
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")

Passphrase = str | Callable[[], str]
"""A passphrase, or a function asking for it (called only when a file must be opened)."""


def valid_name(name: str) -> bool:
    """Whether *name* may name a key: 1-64 of ``A-Z a-z 0-9 . _ -``, not starting with
    a dot, dash or underscore."""
    return bool(_NAME.match(name))


@dataclass(frozen=True)
class KeyInfo:
    """The public part of a stored key."""

    name: str
    address: str
    public_key: str
    """0x hex."""
    crypto_type: str
    created: str
    """ISO 8601 time the key was stored."""
    path: Path

    def as_dict(self) -> dict[str, str]:
        return {
            "name": self.name,
            "address": self.address,
            "public_key": self.public_key,
            "crypto_type": self.crypto_type,
            "created": self.created,
            "path": str(self.path),
        }


def _derive(passphrase: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return Scrypt(salt=salt, length=32, n=n, r=r, p=p).derive(passphrase.encode())


class Keystore:
    """Named keys in *path* (default ``~/.config/ccnet/keystore``).

    Raises :class:`KeystoreError` (wrong passphrase, unreadable file),
    :class:`KeyNotFoundError` and :class:`InvalidKeyError`.
    """

    def __init__(self, path: Path | str = DEFAULT_KEYSTORE, *, scrypt_n: int = SCRYPT_N) -> None:
        self.path = Path(path).expanduser()
        self.scrypt_n = scrypt_n

    def _file(self, name: str) -> Path:
        if not valid_name(name):
            raise KeystoreError(
                f"invalid key name {name!r}: use 1-64 letters, digits, '.', '_' or '-'"
            )
        return self.path / f"{name}.json"

    def _read(self, name: str) -> dict[str, Any]:
        file = self._file(name)
        try:
            data: dict[str, Any] = json.loads(file.read_text())
        except FileNotFoundError:
            raise KeyNotFoundError(
                f"no key named {name!r} in {self.path} (see `ccnet keys list`, "
                "or create it with `ccnet keys new`)"
            ) from None
        except (OSError, ValueError) as err:
            raise KeystoreError(f"cannot read key file {file}: {err}") from None
        if data.get("version") != FORMAT_VERSION:
            raise KeystoreError(f"key file {file} has unknown format {data.get('version')!r}")
        return data

    def exists(self, name: str) -> bool:
        return self._file(name).is_file()

    def info(self, name: str) -> KeyInfo:
        """The public part of key *name* (no passphrase needed)."""
        data = self._read(name)
        return KeyInfo(
            name=name,
            address=str(data["address"]),
            public_key=str(data["public_key"]),
            crypto_type=str(data.get("crypto_type", "sr25519")),
            created=str(data.get("created", "")),
            path=self._file(name),
        )

    def list(self) -> list[KeyInfo]:
        """Every key, by name (unreadable files are skipped with a warning)."""
        if not self.path.is_dir():
            return []
        found: list[KeyInfo] = []
        for file in sorted(self.path.glob("*.json")):
            if not valid_name(file.stem):
                continue
            try:
                found.append(self.info(file.stem))
            except KeystoreError as err:
                logger.warning("skipping %s: %s", file, err)
        return found

    def add(self, name: str, secret: str, passphrase: str, *, overwrite: bool = False) -> KeyInfo:
        """Store *secret* (a mnemonic, a secret URI, or a 0x seed) as key *name*,
        encrypted with *passphrase*. :class:`KeystoreError` if *name* exists (unless
        *overwrite*); :class:`InvalidKeyError` if *secret* is not a key."""
        file = self._file(name)
        if file.exists() and not overwrite:
            raise KeystoreError(f"a key named {name!r} exists already in {self.path}")
        if not passphrase:
            raise KeystoreError("the passphrase must not be empty")
        keypair = Keys.from_secret(secret)
        salt, nonce = secrets.token_bytes(16), secrets.token_bytes(12)
        n, r, p = self.scrypt_n, 8, 1
        address = str(keypair.ss58_address)
        ciphertext = AESGCM(_derive(passphrase, salt, n, r, p)).encrypt(
            nonce, secret.encode(), address.encode()
        )
        data = {
            "version": FORMAT_VERSION,
            "name": name,
            "address": address,
            "public_key": "0x" + bytes(keypair.public_key).hex(),
            "crypto_type": "sr25519",
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "kdf": {"name": "scrypt", "salt": salt.hex(), "n": n, "r": r, "p": p},
            "cipher": {"name": "aes-256-gcm", "nonce": nonce.hex(), "ciphertext": ciphertext.hex()},
        }
        self._write(file, json.dumps(data, indent=2) + "\n")
        logger.info("stored key %r (%s) in %s", name, address, self.path)
        return self.info(name)

    def new(self, name: str, passphrase: str, *, words: int = 12) -> tuple[KeyInfo, str]:
        """Generate a key, store it as *name*; returns its info and its mnemonic (show it
        to the user once, for a backup)."""
        _, mnemonic = Keys.generate(words)
        return self.add(name, mnemonic, passphrase), mnemonic

    def load(self, name: str, passphrase: Passphrase) -> Keypair:
        """Decrypt key *name*. :class:`KeystoreError` on a wrong passphrase."""
        data = self._read(name)
        try:
            kdf, cipher = data["kdf"], data["cipher"]
            key = _derive(
                passphrase if isinstance(passphrase, str) else passphrase(),
                bytes.fromhex(kdf["salt"]),
                int(kdf["n"]),
                int(kdf["r"]),
                int(kdf["p"]),
            )
            secret = AESGCM(key).decrypt(
                bytes.fromhex(cipher["nonce"]),
                bytes.fromhex(cipher["ciphertext"]),
                str(data["address"]).encode(),
            )
        except InvalidTag:
            raise KeystoreError(
                f"wrong passphrase for key {name!r} (or its file was altered); "
                "check CCNET_PASSPHRASE or type it again"
            ) from None
        except (KeyError, ValueError, TypeError) as err:
            raise KeystoreError(f"key file of {name!r} is corrupt ({type(err).__name__})") from None
        try:
            keypair = Keys.from_secret(secret.decode())
        except (InvalidKeyError, UnicodeDecodeError):
            raise KeystoreError(f"key file of {name!r} holds no valid secret") from None
        if keypair.ss58_address != data["address"]:
            raise KeystoreError(f"key file of {name!r} does not match its address")
        return keypair

    def resolve(self, name_or_uri: str, passphrase: Passphrase | None = None) -> Keypair:
        """A dev URI (``//Alice``) as is, else key *name* of this keystore (which needs
        *passphrase*)."""
        if is_dev_uri(name_or_uri):
            return Keys.from_uri(name_or_uri)
        if passphrase is None:
            raise KeystoreError(f"key {name_or_uri!r} needs a passphrase (set CCNET_PASSPHRASE)")
        return self.load(name_or_uri, passphrase)

    def address_of(self, name_or_uri: str) -> str:
        """The address of a dev URI or a stored key (no passphrase needed)."""
        if is_dev_uri(name_or_uri):
            return str(Keys.from_uri(name_or_uri).ss58_address)
        return self.info(name_or_uri).address

    def remove(self, name: str) -> None:
        """Delete key *name*; :class:`KeyNotFoundError` if there is none."""
        try:
            self._file(name).unlink()
        except FileNotFoundError:
            raise KeyNotFoundError(f"no key named {name!r} in {self.path}") from None

    def _write(self, file: Path, text: str) -> None:
        try:
            self.path.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{file.stem}.", suffix=".tmp", dir=self.path)
        except OSError as err:
            raise KeystoreError(f"cannot write to keystore {self.path}: {err}") from None
        try:
            with os.fdopen(fd, "w") as handle:  # mkstemp creates it 0600
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(tmp, 0o600)
            os.replace(tmp, file)
        except OSError as err:
            Path(tmp).unlink(missing_ok=True)
            raise KeystoreError(f"cannot write key file {file}: {err}") from None
