"""Job messages between a requester and a worker, on the ``"tasks"`` data channel.

The messages, their fields and encodings, and what a worker does with each are
``docs/protocol.md``, section 8 (failure codes: section 11). Here:
:class:`JobRequest`, :class:`ModuleNeeded`, :class:`ModuleData`, :class:`JobResult`
(carries the :class:`~ccnet.client.jobs.results.SignedResult` JSON and an optional proof)
and :class:`JobFailed`; :func:`encode` writes compact JSON with sorted keys (u64 and u128
as decimal strings); :func:`decode` is strict (:func:`loads`: no repeated keys, no NaN,
no unknown or mistyped fields; :class:`~ccnet.client.exceptions.MalformedMessageError`)
and the receiver answers :class:`JobFailed` ``malformed`` instead of dropping the
session. Heartbeats travel on the same channel (:func:`encode_heartbeat`,
:func:`decode_heartbeat`); :func:`decode` refuses them, so a receiver tries
:func:`decode_heartbeat` on what :func:`decode` refuses.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from dataclasses import MISSING, asdict, dataclass, field, fields
from typing import Any, ClassVar

from ..codec import U32_MAX, U64_MAX, U128_MAX, check_uint, uint_from_json, uint_to_json
from ..exceptions import MalformedMessageError
from ..net.framing import DEFAULT_MAX_MESSAGE_SIZE
from .billing import DEFAULT_RATE_PLANCK_PER_FUEL
from .heartbeat import Heartbeat

__all__ = [
    "HEARTBEAT_TYPE",
    "MAX_MESSAGE_SIZE",
    "JobFailed",
    "JobRequest",
    "JobResult",
    "Message",
    "ModuleData",
    "ModuleNeeded",
    "decode",
    "decode_heartbeat",
    "dumps",
    "encode",
    "encode_heartbeat",
    "job_task_id",
    "loads",
]

MAX_MESSAGE_SIZE = DEFAULT_MAX_MESSAGE_SIZE
"""Largest job message, bytes: the data-channel transport's default cap (16 MiB)."""
HEARTBEAT_TYPE = "heartbeat"
"""``type`` of the heartbeat messages a worker pushes on ``"tasks"`` (not a job message:
see :func:`encode_heartbeat`)."""


_HEX = re.compile(r"(?:[0-9a-f]{2})*")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _unb64(value: Any, name: str) -> bytes:
    if not isinstance(value, str):
        raise MalformedMessageError(f"{name}: expected base64 text")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as err:
        raise MalformedMessageError(f"{name}: bad base64 ({err})") from None


def _unhex(value: Any, name: str, size: int | None = None) -> bytes:
    if not isinstance(value, str) or not _HEX.fullmatch(value):
        raise MalformedMessageError(f"{name}: expected lowercase hex digits, in pairs")
    data = bytes.fromhex(value)
    if size is not None and len(data) != size:
        raise MalformedMessageError(f"{name}: expected {size} bytes, got {len(data)}")
    return data


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    body = dict(pairs)
    if len(body) != len(pairs):
        raise MalformedMessageError("a JSON object repeats a key")
    return body


def _no_constant(name: str) -> Any:
    raise MalformedMessageError(f"{name} is not JSON")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e400: a number no JSON writer can give back
        raise MalformedMessageError(f"the number {text[:40]} is out of range")
    return value


def loads(data: bytes | str) -> Any:
    """Strict JSON for peer messages: UTF-8, no repeated keys, no NaN or Infinity (nor a
    number that overflows to one), no integer over Python's 4,300-digit limit.
    :class:`MalformedMessageError` otherwise."""
    try:
        return json.loads(
            data,
            object_pairs_hook=_no_duplicates,
            parse_constant=_no_constant,
            parse_float=_finite,
        )
    except (ValueError, RecursionError) as err:  # UnicodeDecodeError and JSONDecodeError too
        raise MalformedMessageError(f"not JSON: {err}") from None


def dumps(body: Any) -> bytes:
    """Compact JSON as peers send it: sorted keys, no spaces, ASCII with ``\\u`` escapes."""
    return json.dumps(body, separators=(",", ":"), sort_keys=True, allow_nan=False).encode()


@dataclass(frozen=True)
class Message:
    """Base of the job messages; ``job_id`` is 16 bytes chosen by the requester."""

    TYPE: ClassVar[str] = ""
    job_id: bytes


@dataclass(frozen=True)
class JobRequest(Message):
    """Run a module on an input.

    - ``module_hash``: blake2b-256 of the Wasm module (32 bytes); ``module`` may carry
      the bytes up front (else the worker asks with :class:`ModuleNeeded`).
    - ``input``: stdin bytes; ``args``: argv after the program name.
    - ``fuel_limit`` (fuel), ``timeout_ms`` (ms), ``memory_bytes`` (bytes): caps for
      this run, at most the worker's own limits.
    - ``rate_planck_per_fuel``: the price the requester agrees to pay (planck/fuel).
    - ``seed``: seed of the deterministic ``random_get`` (e.g. the task id).
    - ``proof``: name of the circuit whose Groth16 proof the result must carry
      (:mod:`ccnet.zk`), or ``None``.
    - ``channel_id``: the payment channel that pays for this job (32 bytes) or ``None``.
    - ``task_id``: the on-chain task this job is part of, if any.
    """

    TYPE: ClassVar[str] = "job_request"
    module_hash: bytes
    input: bytes
    args: tuple[str, ...] = ()
    module: bytes | None = None
    fuel_limit: int | None = None
    timeout_ms: int | None = None
    memory_bytes: int | None = None
    rate_planck_per_fuel: int = DEFAULT_RATE_PLANCK_PER_FUEL
    seed: bytes = b""
    proof: str | None = None
    channel_id: bytes | None = None
    task_id: int | None = None


@dataclass(frozen=True)
class ModuleNeeded(Message):
    """The worker does not have ``module_hash``: send it with :class:`ModuleData`."""

    TYPE: ClassVar[str] = "module_needed"
    module_hash: bytes


@dataclass(frozen=True)
class ModuleData(Message):
    """The bytes of the module a :class:`ModuleNeeded` asked for."""

    TYPE: ClassVar[str] = "module_data"
    module: bytes


@dataclass(frozen=True)
class JobResult(Message):
    """The job ran to exit code 0.

    ``output`` is stdout; ``result`` is the worker's signed result record
    (:mod:`.results`: output hash, fuel used, price, worker, signature) as a JSON
    object; ``proof`` is a Groth16 proof bundle (:mod:`ccnet.zk`) when asked for.
    """

    TYPE: ClassVar[str] = "job_result"
    output: bytes
    result: dict[str, Any] = field(default_factory=dict)
    proof: dict[str, Any] | None = None


@dataclass(frozen=True)
class JobFailed(Message):
    """The job did not produce a result: ``code`` is one of :class:`FailureCode`
    (:data:`FAILURE_CODES`); ``fuel_used`` is what the run burnt before it stopped
    (fuel)."""

    TYPE: ClassVar[str] = "job_failed"
    code: str
    message: str
    fuel_used: int = 0


def job_task_id(request: JobRequest) -> int:
    """The ``task_id`` a worker signs the result of *request* with: ``request.task_id``,
    else the first 8 bytes of ``request.job_id`` as a big-endian u64."""
    if request.task_id is not None:
        return request.task_id
    return int.from_bytes(request.job_id[:8], "big")


_TYPES: dict[str, type[Message]] = {
    cls.TYPE: cls for cls in (JobRequest, ModuleNeeded, ModuleData, JobResult, JobFailed)
}
_HASHES = {"module_hash": 32, "job_id": 16, "channel_id": 32}
_BLOBS = {"input", "module", "output"}
_WIDE = {"fuel_limit": U64_MAX, "task_id": U64_MAX, "fuel_used": U64_MAX}
_WIDE["rate_planck_per_fuel"] = U128_MAX
"""u64 and u128 fields: decimal strings (protocol version 2)."""
_NARROW = {"timeout_ms": U32_MAX, "memory_bytes": U32_MAX}
"""u32 fields: JSON numbers."""
_TEXT = {"code", "message", "proof"}
_OBJECTS = {"result", "proof"}


def encode(message: Message) -> bytes:
    """The JSON bytes of *message* (every field, ``null`` for an absent optional one).
    :class:`MalformedMessageError` above :data:`MAX_MESSAGE_SIZE`."""
    body: dict[str, Any] = {"type": message.TYPE}
    for name, value in asdict(message).items():
        if isinstance(value, bytes):
            body[name] = _b64(value) if name in _BLOBS else value.hex()
        elif isinstance(value, tuple):
            body[name] = list(value)
        elif name in _WIDE and value is not None:
            body[name] = uint_to_json(value)
        else:
            body[name] = value
    data = dumps(body)
    if len(data) > MAX_MESSAGE_SIZE:
        raise MalformedMessageError(f"message of {len(data)} bytes exceeds {MAX_MESSAGE_SIZE}")
    return data


def decode(data: bytes, *, max_size: int = MAX_MESSAGE_SIZE) -> Message:
    """Parse one job message; :class:`MalformedMessageError` on anything off (see
    ``docs/protocol.md``, "Job messages", for the exact rules)."""
    if len(data) > max_size:
        raise MalformedMessageError(f"message of {len(data)} bytes exceeds {max_size}")
    body = loads(data)
    if not isinstance(body, dict):
        raise MalformedMessageError("a job message is a JSON object")
    kind = body.pop("type", None)
    cls = _TYPES.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise MalformedMessageError(f"unknown message type {kind!r}")
    kwargs: dict[str, Any] = {}
    for f in fields(cls):
        if f.name not in body:
            if f.default is MISSING and f.default_factory is MISSING:
                raise MalformedMessageError(f"{cls.TYPE}: missing field {f.name!r}")
            continue
        value = body.pop(f.name)
        kwargs[f.name] = _field(cls, f.name, value, nullable=f.default is None)
    if body:
        raise MalformedMessageError(f"{cls.TYPE}: unknown fields {sorted(body)}")
    return cls(**kwargs)


def _field(cls: type[Message], name: str, value: Any, *, nullable: bool) -> Any:
    what = f"{cls.TYPE}.{name}"
    if value is None:
        if not nullable:
            raise MalformedMessageError(f"{what} may not be null")
        return None
    if name in _BLOBS:
        return _unb64(value, what)
    if name in _HASHES or name == "seed":
        return _unhex(value, what, _HASHES.get(name))
    if name == "args":
        if not isinstance(value, list) or not all(isinstance(a, str) for a in value):
            raise MalformedMessageError(f"{what}: expected a list of strings")
        return tuple(value)
    if name in _WIDE:
        return uint_from_json(value, _WIDE[name], what)
    if name in _NARROW:
        return check_uint(value, _NARROW[name], what)
    if name in _OBJECTS and not (cls is JobRequest and name == "proof"):
        if not isinstance(value, dict):
            raise MalformedMessageError(f"{what} must be an object")
        return value
    if name in _TEXT:
        if not isinstance(value, str):
            raise MalformedMessageError(f"{what} must be text")
        return value
    raise MalformedMessageError(f"{what}: unexpected field")  # pragma: no cover


def encode_heartbeat(heartbeat: Heartbeat) -> bytes:
    """The message carrying *heartbeat* on ``"tasks"``:
    ``{"type": "heartbeat", "heartbeat": heartbeat.to_json()}`` as compact JSON."""
    return dumps({"type": HEARTBEAT_TYPE, "heartbeat": heartbeat.to_json()})


def decode_heartbeat(data: bytes) -> Heartbeat | None:
    """The heartbeat in a message of type ``"heartbeat"`` (signature not checked), or
    ``None`` when *data* is not such a message. :class:`MalformedMessageError` for a
    heartbeat message whose heartbeat does not parse."""
    try:
        body = loads(data)
    except MalformedMessageError:
        return None
    if not isinstance(body, dict) or body.get("type") != HEARTBEAT_TYPE:
        return None
    return Heartbeat.from_json(body.get("heartbeat"))
