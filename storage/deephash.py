"""Arweave's deep hash (SHA-384): the message a v2 transaction signature covers.

Source: arweave-js ``src/common/lib/deepHash.ts``. A blob hashes as
``SHA384(SHA384("blob" + len) + SHA384(blob))``; a list starts from
``SHA384("list" + count)`` and folds each item in with ``SHA384(acc + deep_hash(item))``.
Lengths and counts are decimal ASCII.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import TypeAlias

__all__ = ["DeepHashItem", "deep_hash"]

DeepHashItem: TypeAlias = "bytes | Sequence[DeepHashItem]"


def _sha384(data: bytes) -> bytes:
    return hashlib.sha384(data).digest()


def deep_hash(item: DeepHashItem) -> bytes:
    """The 48-byte deep hash of a blob or a (nested) list of blobs."""
    if isinstance(item, bytes | bytearray | memoryview):
        blob = bytes(item)
        return _sha384(_sha384(b"blob%d" % len(blob)) + _sha384(blob))
    acc = _sha384(b"list%d" % len(item))
    for child in item:
        acc = _sha384(acc + deep_hash(child))
    return acc
