"""Commitments of the on-chain court: what ``Tasks`` and ``Disputes`` check on reveal.

Every commitment is blake2b-256 of the SCALE encoding of a tuple whose first field is a
16-byte domain tag, so a value committed for one purpose never opens another. SCALE of
the fields used here is plain concatenation: ``[u8; 16]`` and ``[u8; 32]`` as raw
bytes, ``u64`` as 8 little-endian bytes, ``AccountId32`` and ``H256`` as 32 raw bytes.
The runtime's definitions (``pallets/tasks/src/types.rs``,
``pallets/disputes/src/types.rs``) and this module are checked against the same
vectors (``tests/vectors/court.json``).

- :func:`result_commitment`: ``(b"ccnet:rcommit:v1", task_id, worker, result_hash,
  fuel_used, salt)``, for ``Tasks.submit_result``; opened by ``reveal_result``.
- :func:`vote_commitment`: ``(b"ccnet:vcommit:v1", dispute_id, verifier, result_hash,
  salt)``, for ``Disputes.commit_vote``; opened by ``reveal_vote``.
- :func:`expected_commitment`: ``(b"ccnet:expectd:v1", task_id, accused worker,
  expected_hash, salt)``, for ``Disputes.challenge``; opened by ``reveal_expected``.
- :func:`auditor_key`: ``(b"ccnet:auditor:v1", auditor account, salt)``, what Root
  registers with ``Disputes.register_auditor``.

Accounts are SS58 addresses or 32-byte public keys; hashes and salts are 32 bytes (or
``0x`` hex). Salts must be secret and fresh: :func:`new_salt` draws them from
:mod:`secrets`. Bad input raises :class:`~ccnet.client.exceptions.CallEncodingError`.
"""

from __future__ import annotations

import hashlib
import secrets

from .codec import U64_MAX, fixed_hex
from .exceptions import CallEncodingError, MalformedMessageError
from .signing import public_key_of

__all__ = [
    "AUDITOR_DOMAIN",
    "EXPECTED_DOMAIN",
    "RESULT_DOMAIN",
    "SALT_SIZE",
    "VOTE_DOMAIN",
    "auditor_key",
    "expected_commitment",
    "new_salt",
    "result_commitment",
    "vote_commitment",
]

RESULT_DOMAIN = b"ccnet:rcommit:v1"
"""Domain tag of result commitments (``Tasks.submit_result``)."""
VOTE_DOMAIN = b"ccnet:vcommit:v1"
"""Domain tag of vote commitments (``Disputes.commit_vote``)."""
EXPECTED_DOMAIN = b"ccnet:expectd:v1"
"""Domain tag of a challenger's expected result (``Disputes.challenge``)."""
AUDITOR_DOMAIN = b"ccnet:auditor:v1"
"""Domain tag of auditor keys (``Disputes.register_auditor``)."""
SALT_SIZE = 32
"""Bytes of every salt."""


def new_salt() -> bytes:
    """A fresh secret salt (32 bytes from :func:`secrets.token_bytes`)."""
    return secrets.token_bytes(SALT_SIZE)


def _raw(value: bytes | bytearray | str, size: int, what: str) -> bytes:
    return bytes.fromhex(fixed_hex(value, size, what)[2:])


def _account(account: bytes | bytearray | str) -> bytes:
    if isinstance(account, bytes | bytearray):
        return _raw(account, 32, "account")
    if account.startswith("0x"):
        return _raw(account, 32, "account")
    try:
        return public_key_of(account)
    except MalformedMessageError as err:
        raise CallEncodingError(str(err)) from None


def _u64(value: int, what: str) -> bytes:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= U64_MAX:
        raise CallEncodingError(f"{what} must be a u64, got {value!r}")
    return value.to_bytes(8, "little")


def _blake2_256(*parts: bytes) -> bytes:
    return hashlib.blake2b(b"".join(parts), digest_size=32).digest()


def result_commitment(
    task_id: int,
    worker: bytes | str,
    result_hash: bytes | str,
    fuel_used: int,
    salt: bytes | str,
) -> bytes:
    """The 32-byte commitment *worker* submits for *task_id*: its result hash
    (blake2b-256 of the output), the fuel it used and its secret *salt*."""
    return _blake2_256(
        RESULT_DOMAIN,
        _u64(task_id, "task_id"),
        _account(worker),
        _raw(result_hash, 32, "result_hash"),
        _u64(fuel_used, "fuel_used"),
        _raw(salt, SALT_SIZE, "salt"),
    )


def vote_commitment(
    dispute_id: int, verifier: bytes | str, result_hash: bytes | str, salt: bytes | str
) -> bytes:
    """The 32-byte commitment *verifier* submits in *dispute_id*: the hash of its own
    re-execution and its secret *salt*."""
    return _blake2_256(
        VOTE_DOMAIN,
        _u64(dispute_id, "dispute_id"),
        _account(verifier),
        _raw(result_hash, 32, "result_hash"),
        _raw(salt, SALT_SIZE, "salt"),
    )


def expected_commitment(
    task_id: int, worker: bytes | str, expected_hash: bytes | str, salt: bytes | str
) -> bytes:
    """The 32-byte commitment a challenger gives with its challenge of *worker*'s result
    for *task_id*: the result hash it expects and its secret *salt*."""
    return _blake2_256(
        EXPECTED_DOMAIN,
        _u64(task_id, "task_id"),
        _account(worker),
        _raw(expected_hash, 32, "expected_hash"),
        _raw(salt, SALT_SIZE, "salt"),
    )


def auditor_key(account: bytes | str, salt: bytes | str) -> bytes:
    """The 32-byte auditor key of *account* with the auditor's secret *salt*."""
    return _blake2_256(AUDITOR_DOMAIN, _account(account), _raw(salt, SALT_SIZE, "salt"))
