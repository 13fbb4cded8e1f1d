"""Arweave v2 data transactions: build, sign, verify and (de)serialise the header.

Source: arweave-js ``src/common/lib/transaction.ts`` (``getSignatureData`` for format 2)
and the Arweave HTTP API (``POST /tx`` JSON). The signature covers the deep hash
(:mod:`ccnet.storage.deephash`) of ``[format, owner, target, quantity, reward, last_tx,
[[tag name, tag value], ...], data_size, data_root]``; numbers are decimal ASCII, the
rest raw bytes. The id is base64url(SHA-256(signature)). Tags are UTF-8 text, sent as
base64url; they are encoded once, when the transaction is made, and never again.
Amounts (``reward``, ``quantity``) are integers in winston (1 AR = 10**12 winston).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .deephash import deep_hash
from .encoding import b64url_decode, b64url_encode
from .wallet import ArweaveWallet, verify_signature

__all__ = ["FORMAT", "DataTransaction", "Tag", "sign_data_transaction", "signature_data"]

FORMAT = 2


@dataclass(frozen=True)
class Tag:
    """A transaction tag: UTF-8 name and value (a gateway needs both non-empty)."""

    name: str
    value: str

    def to_json(self) -> dict[str, str]:
        """``{"name": b64url, "value": b64url}``, as ``POST /tx`` takes it."""
        return {
            "name": b64url_encode(self.name.encode()),
            "value": b64url_encode(self.value.encode()),
        }


def signature_data(
    *,
    owner: bytes,
    target: bytes,
    quantity: int,
    reward: int,
    last_tx: bytes,
    tags: Sequence[Tag],
    data_size: int,
    data_root: bytes,
) -> bytes:
    """The 48-byte deep hash a format-2 transaction's signature covers."""
    tag_list = [[tag.name.encode(), tag.value.encode()] for tag in tags]
    return deep_hash(
        [
            str(FORMAT).encode(),
            owner,
            target,
            str(quantity).encode(),
            str(reward).encode(),
            last_tx,
            tag_list,
            str(data_size).encode(),
            data_root,
        ]
    )


@dataclass(frozen=True)
class DataTransaction:
    """A signed format-2 transaction header that carries data (not the data itself)."""

    id: str
    """base64url(SHA-256(signature)), 43 characters."""
    owner: bytes
    """The signer's RSA modulus."""
    last_tx: str
    """The anchor (from ``/tx_anchor``), base64url."""
    reward: int
    """Fee in winston."""
    tags: tuple[Tag, ...]
    data_size: int
    """Bytes of data."""
    data_root: bytes
    """Merkle root of the data (empty for empty data)."""
    signature: bytes
    target: str = ""
    """Recipient address of a transfer; empty for data transactions."""
    quantity: int = 0
    """Winston transferred to *target*."""
    _tags_json: tuple[dict[str, str], ...] = field(default=(), repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_tags_json", tuple(tag.to_json() for tag in self.tags))

    def signed_message(self) -> bytes:
        """What :attr:`signature` signs."""
        return signature_data(
            owner=self.owner,
            target=b64url_decode(self.target) if self.target else b"",
            quantity=self.quantity,
            reward=self.reward,
            last_tx=b64url_decode(self.last_tx) if self.last_tx else b"",
            tags=self.tags,
            data_size=self.data_size,
            data_root=self.data_root,
        )

    def verify(self) -> bool:
        """Whether the id matches the signature and the signature the fields."""
        if b64url_encode(hashlib.sha256(self.signature).digest()) != self.id:
            return False
        return verify_signature(self.owner, self.signed_message(), self.signature)

    def to_json(self, data: bytes | None = None) -> dict[str, Any]:
        """The ``POST /tx`` body; *data* inline (base64url) or, if None, ``""`` (the data
        then goes up through ``/chunk``)."""
        return {
            "format": FORMAT,
            "id": self.id,
            "last_tx": self.last_tx,
            "owner": b64url_encode(self.owner),
            "tags": [dict(tag) for tag in self._tags_json],
            "target": self.target,
            "quantity": str(self.quantity),
            "data": b64url_encode(data) if data else "",
            "data_size": str(self.data_size),
            "data_root": b64url_encode(self.data_root),
            "reward": str(self.reward),
            "signature": b64url_encode(self.signature),
        }

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> DataTransaction:
        """Parse a header as ``GET /tx/{id}`` or :meth:`to_json` gives it; ValueError
        (KeyError, TypeError) if a field is missing or malformed."""
        if int(body.get("format", FORMAT)) != FORMAT:
            raise ValueError(f"not a format-{FORMAT} transaction: {body.get('format')!r}")
        tags = tuple(
            Tag(b64url_decode(t["name"]).decode(), b64url_decode(t["value"]).decode())
            for t in body.get("tags") or ()
        )
        return cls(
            id=str(body["id"]),
            owner=b64url_decode(body["owner"]),
            last_tx=str(body.get("last_tx") or ""),
            reward=int(body["reward"]),
            tags=tags,
            data_size=int(body.get("data_size") or 0),
            data_root=b64url_decode(body.get("data_root") or ""),
            signature=b64url_decode(body["signature"]),
            target=str(body.get("target") or ""),
            quantity=int(body.get("quantity") or 0),
        )

    def tag(self, name: str) -> str | None:
        """Value of the first tag called *name*, or None."""
        return next((tag.value for tag in self.tags if tag.name == name), None)


def sign_data_transaction(
    wallet: ArweaveWallet,
    *,
    data_root: bytes,
    data_size: int,
    tags: Sequence[Tag] | Mapping[str, str],
    reward: int,
    last_tx: str,
) -> DataTransaction:
    """Sign a data transaction of *data_size* bytes with merkle root *data_root*.

    *reward* in winston (ask the gateway's ``/price``); *last_tx* from ``/tx_anchor``."""
    tag_tuple = (
        tuple(Tag(name, value) for name, value in tags.items())
        if isinstance(tags, Mapping)
        else tuple(tags)
    )
    for tag in tag_tuple:
        if not tag.name or not tag.value:
            raise ValueError(f"tag names and values must not be empty: {tag!r}")
    message = signature_data(
        owner=wallet.owner,
        target=b"",
        quantity=0,
        reward=reward,
        last_tx=b64url_decode(last_tx) if last_tx else b"",
        tags=tag_tuple,
        data_size=data_size,
        data_root=data_root,
    )
    signature = wallet.sign(message)
    return DataTransaction(
        id=b64url_encode(hashlib.sha256(signature).digest()),
        owner=wallet.owner,
        last_tx=last_tx,
        reward=reward,
        tags=tag_tuple,
        data_size=data_size,
        data_root=data_root,
        signature=signature,
    )
