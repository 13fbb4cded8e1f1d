"""Arweave's wire encodings: unpadded base64url and 32-byte big-endian integer notes.

Source: the Arweave HTTP API (fields are base64url without padding) and arweave-js
``merkle`` (``intToBuffer``: a byte offset as a 32-byte big-endian "note").
"""

from __future__ import annotations

import base64
import binascii

__all__ = ["NOTE_SIZE", "b64url_decode", "b64url_encode", "int_note"]

NOTE_SIZE = 32
"""Bytes of an integer note in merkle nodes and proofs."""


def b64url_encode(data: bytes) -> str:
    """*data* as unpadded base64url text."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Bytes of unpadded (or padded) base64url *text*; ValueError if it is not."""
    cleaned = text.strip().rstrip("=")
    if len(cleaned) % 4 == 1:
        raise ValueError(f"invalid base64url length {len(cleaned)}")
    try:
        return base64.b64decode(cleaned + "=" * (-len(cleaned) % 4), altchars=b"-_", validate=True)
    except binascii.Error as err:
        raise ValueError(f"invalid base64url: {err}") from None


def int_note(value: int) -> bytes:
    """*value* (0 <= value < 2**256) as a 32-byte big-endian note."""
    return value.to_bytes(NOTE_SIZE, "big")
