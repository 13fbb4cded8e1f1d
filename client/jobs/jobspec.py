"""What an on-chain task runs: the job spec stored in a task's ``input_ref``.

Off-chain jobs travel in :class:`~ccnet.client.jobs.messages.JobRequest`. A job that must be
settled or judged on chain (redundant execution with ``Tasks.claim`` /
``submit_result`` / ``reveal_result``, or a dispute whose verifiers re-execute it) needs
everything to re-run it in the task record itself, so every worker and verifier computes the same
``result_hash`` (blake2b-256 of stdout, :func:`~ccnet.client.jobs.results.output_hash`).

Encoding: canonical JSON (sorted keys, no spaces), at most the Tasks pallet's
``MaxInputRefLen`` (4,096 bytes)::

    {"v": 2, "module": "<module hash, 64 hex>", "args": ["..."],
     "input": "b64:<base64 stdin>" | "ar:<arweave tx id>",
     "fuel": "<fuel limit, decimal string>", "seed": "<hex>"}

``module`` names the Wasm module by hash: workers resolve it from the modules they
carry (the built jobs of ``worker/jobs``) or, when ``module_ar`` gives an Arweave
transaction id, fetch it and check the hash. Inputs above the inline limit go to
Arweave (:mod:`ccnet.storage`) as ``ar:<tx id>``; the reader checks ``input_hash``
(blake2b-256 of the stdin bytes) when given.

The task's ``task_type`` is ``b"wasm"``; its ``output_spec`` is free text for people.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass
from typing import Any

from ..codec import PROTOCOL_VERSION, U64_MAX, uint_from_json, uint_to_json
from ..exceptions import MalformedMessageError
from .messages import dumps, loads

__all__ = ["MAX_SPEC_SIZE", "TASK_TYPE", "JobSpec"]

TASK_TYPE = b"wasm"
"""``task_type`` of on-chain tasks that carry a :class:`JobSpec`."""
MAX_SPEC_SIZE = 4096
"""The runtime's ``Tasks::MaxInputRefLen``, bytes."""


@dataclass(frozen=True)
class JobSpec:
    """A re-runnable job: module hash (32 bytes), argv tail, stdin (inline bytes or an
    Arweave id with its blake2b-256), fuel limit (fuel) and ``random_get`` seed."""

    module_hash: bytes
    args: tuple[str, ...] = ()
    input_inline: bytes | None = b""
    input_ar: str | None = None
    input_hash: bytes | None = None
    module_ar: str | None = None
    fuel: int | None = None
    seed: bytes = b""

    def __post_init__(self) -> None:
        if len(self.module_hash) != 32:
            raise MalformedMessageError("job spec: module hash must be 32 bytes")
        if (self.input_inline is None) == (self.input_ar is None):
            raise MalformedMessageError("job spec: exactly one of inline input or ar input")
        if self.fuel is not None and self.fuel <= 0:
            raise MalformedMessageError("job spec: fuel must be positive")

    @classmethod
    def inline(
        cls, module_hash: bytes, stdin: bytes, args: tuple[str, ...] = (), **kw: Any
    ) -> JobSpec:
        """A spec with stdin stored in the task record."""
        return cls(module_hash=module_hash, args=args, input_inline=stdin, **kw)

    def encode(self) -> bytes:
        """Canonical JSON bytes; :class:`MalformedMessageError` above 4,096 bytes (store
        large inputs on Arweave and use ``input_ar``)."""
        body: dict[str, Any] = {"v": PROTOCOL_VERSION, "module": self.module_hash.hex()}
        if self.args:
            body["args"] = list(self.args)
        if self.input_inline is not None:
            body["input"] = "b64:" + base64.b64encode(self.input_inline).decode()
        else:
            body["input"] = f"ar:{self.input_ar}"
        if self.input_hash is not None:
            body["input_hash"] = self.input_hash.hex()
        if self.module_ar is not None:
            body["module_ar"] = self.module_ar
        if self.fuel is not None:
            body["fuel"] = uint_to_json(self.fuel)
        if self.seed:
            body["seed"] = self.seed.hex()
        data = dumps(body)
        if len(data) > MAX_SPEC_SIZE:
            raise MalformedMessageError(
                f"job spec is {len(data)} bytes, over {MAX_SPEC_SIZE}: put the input on Arweave"
            )
        return data

    @classmethod
    def decode(cls, data: bytes | str) -> JobSpec:
        """Parse a task's ``input_ref``; :class:`MalformedMessageError` if it is not a
        job spec of this version."""
        raw = data.encode() if isinstance(data, str) else data
        if len(raw) > MAX_SPEC_SIZE:
            raise MalformedMessageError(f"job spec over {MAX_SPEC_SIZE} bytes")
        body = loads(raw)
        if not isinstance(body, dict) or "v" not in body:
            raise MalformedMessageError("not a job spec (a JSON object with a version v)")
        if body["v"] != PROTOCOL_VERSION:
            raise MalformedMessageError(
                f"job spec version {body['v']!r}: this reader takes version {PROTOCOL_VERSION} "
                "(fuel as a decimal string, docs/protocol.md)"
            )
        known = {"v", "module", "args", "input", "input_hash", "module_ar", "fuel", "seed"}
        if set(body) - known:
            raise MalformedMessageError(f"job spec: unknown fields {sorted(set(body) - known)}")
        try:
            source = str(body["input"])
            args = body.get("args", [])
            if not isinstance(args, list) or not all(isinstance(a, str) for a in args):
                raise MalformedMessageError("job spec: args must be a list of strings")
            inline = (
                base64.b64decode(source[4:], validate=True) if source.startswith("b64:") else None
            )
            if inline is None and not source.startswith("ar:"):
                raise MalformedMessageError("job spec: input must be b64:... or ar:...")
            fuel = body.get("fuel")
            if fuel is not None:
                fuel = uint_from_json(fuel, U64_MAX, "job spec: fuel")
            module_ar = body.get("module_ar")
            if module_ar is not None and not isinstance(module_ar, str):
                raise MalformedMessageError("job spec: module_ar must be an Arweave id (text)")
            digest = bytes.fromhex(body["input_hash"]) if "input_hash" in body else None
            if digest is not None and len(digest) != 32:
                raise MalformedMessageError("job spec: input_hash must be 32 bytes of hex")
            return cls(
                module_hash=bytes.fromhex(body["module"]),
                args=tuple(args),
                input_inline=inline,
                input_ar=None if inline is not None else source[3:],
                input_hash=digest,
                module_ar=module_ar,
                fuel=fuel,
                seed=bytes.fromhex(body.get("seed", "")),
            )
        except MalformedMessageError:
            raise
        except (KeyError, ValueError, TypeError, binascii.Error) as err:
            raise MalformedMessageError(f"job spec: {err}") from None

    def check_input(self, stdin: bytes) -> bytes:
        """Return ``stdin`` if it matches ``input_hash`` (when set), else raise
        :class:`MalformedMessageError`: a gateway served other bytes."""
        if self.input_hash is not None:
            if hashlib.blake2b(stdin, digest_size=32).digest() != self.input_hash:
                raise MalformedMessageError("job spec: the input does not match input_hash")
        return stdin
