"""Arweave wallets: RSA keys kept as JWK files, made and used with ``cryptography``.

Source: the Arweave wallet format (a JWK ``{"kty": "RSA", "n", "e", "d", "p", "q", "dp",
"dq", "qi"}``, unpadded base64url big-endian integers), arweave-js ``wallets.ts``
(address = base64url(SHA-256(n))) and its signing (RSA-PSS, SHA-256, MGF1-SHA-256; the
salt is 32 bytes, as arweave-js's WebCrypto driver uses; gateways verify any salt).

Wallets are made offline: :meth:`ArweaveWallet.generate` needs no gateway. In dev,
arlocal's ``/mint`` funds them (:meth:`ccnet.storage.gateway.ArweaveGateway.mint`).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from .encoding import b64url_decode, b64url_encode
from .exceptions import WalletError

__all__ = ["DEFAULT_KEY_SIZE", "ArweaveWallet", "verify_signature"]

DEFAULT_KEY_SIZE = 4096
"""Bits of a new wallet's modulus (Arweave's standard)."""
PUBLIC_EXPONENT = 65537
PSS_SALT_LENGTH = 32
_PRIVATE_FIELDS = ("d", "p", "q", "dp", "dq", "qi")


def _uint(value: int) -> str:
    return b64url_encode(value.to_bytes(max(1, (value.bit_length() + 7) // 8), "big"))


def _int(jwk: dict[str, Any], name: str) -> int:
    value = jwk.get(name)
    if not isinstance(value, str) or not value:
        raise WalletError(f"JWK field {name!r} is missing")
    try:
        return int.from_bytes(b64url_decode(value), "big")
    except ValueError as err:
        raise WalletError(f"JWK field {name!r}: {err}") from None


class ArweaveWallet:
    """An RSA private key that owns and signs Arweave transactions."""

    def __init__(self, key: rsa.RSAPrivateKey) -> None:
        self.__key = key
        numbers = key.public_key().public_numbers()
        modulus = numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8, "big")
        self.__owner = modulus
        self.__address = b64url_encode(hashlib.sha256(modulus).digest())

    @classmethod
    def generate(cls, key_size: int = DEFAULT_KEY_SIZE) -> ArweaveWallet:
        """A new random wallet (RSA-4096 takes about a second or more)."""
        return cls(rsa.generate_private_key(public_exponent=PUBLIC_EXPONENT, key_size=key_size))

    @classmethod
    def from_jwk(cls, jwk: dict[str, Any]) -> ArweaveWallet:
        """The wallet of a private RSA JWK; :class:`WalletError` if it is not one."""
        if jwk.get("kty") != "RSA":
            raise WalletError(f"not an RSA JWK (kty={jwk.get('kty')!r})")
        public = rsa.RSAPublicNumbers(e=_int(jwk, "e"), n=_int(jwk, "n"))
        d, p, q = _int(jwk, "d"), _int(jwk, "p"), _int(jwk, "q")
        private = rsa.RSAPrivateNumbers(
            p=p,
            q=q,
            d=d,
            dmp1=_int(jwk, "dp"),
            dmq1=_int(jwk, "dq"),
            iqmp=_int(jwk, "qi"),
            public_numbers=public,
        )
        try:
            return cls(private.private_key())
        except ValueError as err:
            raise WalletError(f"invalid RSA key: {err}") from None

    @classmethod
    def load(cls, path: Path) -> ArweaveWallet:
        """Read a JWK wallet file; :class:`WalletError` if missing or malformed."""
        try:
            jwk = json.loads(Path(path).read_text())
        except FileNotFoundError:
            raise WalletError(f"wallet file not found: {path}") from None
        except (OSError, ValueError) as err:
            raise WalletError(f"cannot read wallet {path}: {err}") from None
        if not isinstance(jwk, dict):
            raise WalletError(f"wallet {path} is not a JSON object")
        return cls.from_jwk(jwk)

    @classmethod
    def load_or_create(cls, path: Path, key_size: int = DEFAULT_KEY_SIZE) -> ArweaveWallet:
        """Read the wallet at *path*, or generate one and save it there (mode 0600)."""
        if Path(path).exists():
            return cls.load(path)
        wallet = cls.generate(key_size)
        wallet.save(path)
        return wallet

    def to_jwk(self) -> dict[str, str]:
        """The private JWK (keep it secret)."""
        private = self.__key.private_numbers()
        public = private.public_numbers
        values = {
            "n": public.n,
            "e": public.e,
            "d": private.d,
            "p": private.p,
            "q": private.q,
            "dp": private.dmp1,
            "dq": private.dmq1,
            "qi": private.iqmp,
        }
        return {"kty": "RSA", **{name: _uint(value) for name, value in values.items()}}

    def save(self, path: Path) -> None:
        """Write the JWK to *path* atomically, readable by the owner only (0600)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "w") as out:
                json.dump(self.to_jwk(), out)
                out.flush()
                os.fsync(out.fileno())
            os.chmod(tmp, 0o600)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    @property
    def owner(self) -> bytes:
        """The public modulus ``n`` (big-endian), the ``owner`` field of transactions."""
        return self.__owner

    @property
    def address(self) -> str:
        """The wallet address: base64url(SHA-256(n)), 43 characters."""
        return self.__address

    def sign(self, message: bytes) -> bytes:
        """RSA-PSS (SHA-256, MGF1-SHA-256, 32-byte salt) signature of *message*."""
        return self.__key.sign(
            message,
            padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=PSS_SALT_LENGTH),
            hashes.SHA256(),
        )

    def verify(self, message: bytes, signature: bytes) -> bool:
        """Whether *signature* is this wallet's RSA-PSS signature of *message*."""
        return verify_signature(self.__owner, message, signature)

    def __repr__(self) -> str:
        return f"ArweaveWallet(address={self.__address!r})"


def verify_signature(owner: bytes, message: bytes, signature: bytes) -> bool:
    """Whether *signature* is an RSA-PSS (SHA-256, any salt) signature of *message* by the
    key with modulus *owner* and exponent 65537."""
    key = rsa.RSAPublicNumbers(e=PUBLIC_EXPONENT, n=int.from_bytes(owner, "big")).public_key()
    try:
        key.verify(
            signature,
            message,
            padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.AUTO),
            hashes.SHA256(),
        )
    except InvalidSignature:
        return False
    return True
