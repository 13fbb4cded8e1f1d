"""Signed job results: what a worker returns for a job and submits to the chain.

A :class:`SignedResult` names the job (``task_id``, u64: the Tasks pallet's id, or a
requester-chosen id for a job outside the chain), the module and input it ran
(:func:`~ccnet.client.jobs.catalogue.module_hash`, :func:`input_hash`), the output hash
(:func:`output_hash` of stdout: the ``result_hash`` of ``Tasks.reveal_result``), the
fuel used, and the worker's SS58 address, signed by the worker. The signed bytes (160
bytes, :meth:`SignedResult.signing_payload`) and the JSON form are
``docs/protocol.md``, section 9. Binding module and input means a signature cannot be
replayed for another job with the same id.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from substrateinterface import Keypair

from .. import signing
from ..codec import (
    U64_MAX,
    check_bytes,
    check_uint,
    encode_scale,
    hexed,
    uint_from_json,
    uint_to_json,
    unhex,
)
from ..exceptions import BadSignatureError, MalformedMessageError
from ..signing import SIGNATURE_SIZE, public_key_of, sign, verify
from .exceptions import ResultError

__all__ = ["RESULT_DOMAIN", "SignedResult", "input_hash", "output_hash"]

RESULT_DOMAIN = signing.RESULT_DOMAIN
"""Domain tag of signed job results (16 bytes)."""

_KEYS = frozenset(
    {"task_id", "module_hash", "input_hash", "output_hash", "fuel_used", "worker", "signature"}
)


def output_hash(data: bytes) -> bytes:
    """blake2b-256 of a job's output (stdout), 32 bytes: what results carry and sign."""
    return hashlib.blake2b(data, digest_size=32).digest()


def input_hash(args: Sequence[str], stdin: bytes) -> bytes:
    """The id of a job's input, 32 bytes: blake2b-256 of ``SCALE(args: Vec<Vec<u8>>)``
    (UTF-8 arguments, without argv[0]) followed by the stdin bytes."""
    hasher = hashlib.blake2b(digest_size=32)
    hasher.update(encode_scale("Vec<Vec<u8>>", [a.encode() for a in args]))
    hasher.update(stdin)
    return hasher.digest()


@dataclass(frozen=True)
class SignedResult:
    """A worker's signed claim: job *task_id* with this module and input gave output
    *output_hash* and burnt *fuel_used* fuel."""

    task_id: int
    """Job id, u64."""
    module_hash: bytes
    """blake2b-256 of the module's Wasm binary, 32 bytes."""
    input_hash: bytes
    """:func:`input_hash` of the job's args and stdin, 32 bytes."""
    output_hash: bytes
    """blake2b-256 of the job's stdout, 32 bytes."""
    fuel_used: int
    """Fuel the run burnt, u64."""
    worker: str
    """The worker's SS58 address (prefix 42)."""
    signature: bytes
    """The worker's sr25519 signature of :meth:`signing_payload`, 64 bytes."""

    def __post_init__(self) -> None:
        check_uint(self.task_id, U64_MAX, "task_id")
        check_bytes(self.module_hash, 32, "module_hash")
        check_bytes(self.input_hash, 32, "input_hash")
        check_bytes(self.output_hash, 32, "output_hash")
        check_uint(self.fuel_used, U64_MAX, "fuel_used")
        public_key_of(self.worker)
        check_bytes(self.signature, SIGNATURE_SIZE, "signature")

    @staticmethod
    def payload(
        task_id: int,
        module_hash: bytes,
        input_hash: bytes,
        output_hash: bytes,
        fuel_used: int,
        worker_public_key: bytes,
    ) -> bytes:
        """The bytes a worker signs (see the module docs), 160 bytes."""
        return encode_scale(
            "([u8; 16], u64, H256, H256, H256, u64, AccountId)",
            (
                hexed(RESULT_DOMAIN),
                task_id,
                hexed(module_hash),
                hexed(input_hash),
                hexed(output_hash),
                fuel_used,
                hexed(worker_public_key),
            ),
        )

    def signing_payload(self) -> bytes:
        """The bytes :attr:`signature` signs."""
        return self.payload(
            self.task_id,
            self.module_hash,
            self.input_hash,
            self.output_hash,
            self.fuel_used,
            public_key_of(self.worker),
        )

    @classmethod
    def create(
        cls,
        keypair: Keypair,
        *,
        task_id: int,
        module_hash: bytes,
        input_hash: bytes,
        output_hash: bytes,
        fuel_used: int,
    ) -> SignedResult:
        """A result signed by *keypair* (sr25519), the worker."""
        check_uint(task_id, U64_MAX, "task_id")
        check_uint(fuel_used, U64_MAX, "fuel_used")
        for name, value in (
            ("module_hash", module_hash),
            ("input_hash", input_hash),
            ("output_hash", output_hash),
        ):
            check_bytes(value, 32, name)
        public_key = bytes(keypair.public_key)
        data = cls.payload(task_id, module_hash, input_hash, output_hash, fuel_used, public_key)
        return cls(
            task_id=task_id,
            module_hash=module_hash,
            input_hash=input_hash,
            output_hash=output_hash,
            fuel_used=fuel_used,
            worker=str(keypair.ss58_address),
            signature=sign(keypair, data),
        )

    def is_valid(self) -> bool:
        """Whether the signature verifies for :attr:`worker`."""
        return verify(public_key_of(self.worker), self.signing_payload(), self.signature)

    def verify(self) -> SignedResult:
        """*self* if its signature verifies, else :class:`BadSignatureError`."""
        if not self.is_valid():
            raise BadSignatureError(f"bad result signature for task {self.task_id}")
        return self

    def check_output(self, output: bytes) -> None:
        """:class:`ResultError` unless *output* is the output this result claims."""
        if output_hash(output) != self.output_hash:
            raise ResultError(f"the output of task {self.task_id} does not match its hash")

    def submit_args(self) -> dict[str, Any]:
        """The result as ``Tasks.reveal_result`` opens it (without the salt): the task,
        the result hash and the fuel; ``submit_result`` takes their
        :func:`~ccnet.client.commitments.result_commitment` first."""
        return {
            "task_id": self.task_id,
            "result_hash": hexed(self.output_hash),
            "fuel_used": self.fuel_used,
        }

    def to_json(self) -> dict[str, Any]:
        """The wire form (see the module docs)."""
        return {
            "task_id": uint_to_json(self.task_id),
            "module_hash": hexed(self.module_hash),
            "input_hash": hexed(self.input_hash),
            "output_hash": hexed(self.output_hash),
            "fuel_used": uint_to_json(self.fuel_used),
            "worker": self.worker,
            "signature": hexed(self.signature),
        }

    @classmethod
    def from_json(cls, data: Any) -> SignedResult:
        """Parse the wire form (signature not checked: call :meth:`verify`).
        :class:`MalformedMessageError` for missing, extra or mistyped keys."""
        if not isinstance(data, dict) or set(data) != _KEYS:
            raise MalformedMessageError(f"a job result has exactly the keys {sorted(_KEYS)}")
        if not isinstance(data["worker"], str):
            raise MalformedMessageError("worker must be an SS58 address")
        return cls(
            task_id=uint_from_json(data["task_id"], U64_MAX, "task_id"),
            module_hash=unhex(data["module_hash"], 32, "module_hash"),
            input_hash=unhex(data["input_hash"], 32, "input_hash"),
            output_hash=unhex(data["output_hash"], 32, "output_hash"),
            fuel_used=uint_from_json(data["fuel_used"], U64_MAX, "fuel_used"),
            worker=data["worker"],
            signature=unhex(data["signature"], SIGNATURE_SIZE, "signature"),
        )
