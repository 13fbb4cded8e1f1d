"""Job messages between a requester and a worker, on the ``"tasks"`` data channel.

Each message is one UTF-8 JSON object with a ``type`` field; bytes travel as base64
(``*_b64``) or lowercase hex (hashes, ids). Decoding is strict: an unknown type, a
missing or mistyped field, bad base64/hex or a message over ``max_size`` raises
:class:`~ccnet.client.exceptions.MalformedMessageError`, and the receiver answers with
:class:`JobFailed` (code ``malformed``) instead of dropping the connection.

Flow (issue 4; seed 003 "2.2 Task Execution Flow")::

    requester                          worker
    JobRequest(module_hash, input) ->
                                   <-  ModuleNeeded(job_id)      (module not cached)
    ModuleData(job_id, module)     ->
                                   <-  JobResult(job_id, output, signed result[, proof])
                                       or JobFailed(job_id, code, message, fuel_used)
    (payment: one channel update on the "channels" data channel per accepted result)

The signed part of a result (output hash, fuel used, worker signature) is produced and
checked by :mod:`.results`; this module only carries it (``result`` field).

How the worker daemon (:mod:`.daemon`, :mod:`.jobhandler`) fills the contract:

- ``result.task_id`` is ``JobRequest.task_id`` when given, else the job-local id
  :func:`job_task_id`: the first 8 bytes of ``job_id`` as a big-endian u64.
- Jobs of one session run concurrently (as many at once as the worker runs jobs; the
  rest wait), and replies come in completion order: match them by ``job_id``. Known
  modules (the built-in jobs and every module received before, by hash) are not asked
  for.
- Limits are ``min(requested, the worker's own)``; a ``rate_planck_per_fuel`` below the
  worker's rate is refused (``unsupported``). Proof circuits: ``billing`` and
  ``poseidon_commit`` (see :mod:`.proofs` for their inputs); others are ``unsupported``.
- ``JobFailed.code``: the run error's ``code`` (:mod:`.exceptions`: ``out-of-fuel``,
  ``deadline``, ``memory-limit``, ``output-limit``, ``trap``, ``exit``), or
  ``invalid-module``, ``input-too-large``, ``unknown-module``, ``proof-failed``,
  ``payment``, ``malformed``, ``unsupported``, ``busy``. A message that cannot be
  decoded is answered with ``job_id`` = 16 zero bytes.
- Payment: the first request naming a ``channel_id`` makes the worker join that channel
  (opened by the requester to the worker with ``counterparty_deposit`` 0) and serve it on
  the session's ``"channels"`` data channel (:mod:`.payments`); one channel per session.
- Heartbeats: the worker pushes a signed heartbeat on ``"tasks"`` when the session opens
  and then every 15 s +- 10 %, as ``{"type": "heartbeat", "heartbeat": {...}}``
  (:func:`encode_heartbeat`; the inner object is
  :meth:`ccnet.client.jobs.heartbeat.Heartbeat.to_json`). :func:`decode` does not know this
  type (it raises :class:`MalformedMessageError`), so a receiver tries
  :func:`decode_heartbeat` on what :func:`decode` refuses, checks the heartbeat with
  :class:`~ccnet.client.jobs.heartbeat.HeartbeatVerifier` and feeds it to the
  :class:`~ccnet.client.requester.quality.QualityTracker`.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import MISSING, asdict, dataclass, field, fields
from typing import Any, ClassVar

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
    "encode",
    "encode_heartbeat",
    "job_task_id",
]

MAX_MESSAGE_SIZE = DEFAULT_MAX_MESSAGE_SIZE
"""Largest job message, bytes: the data-channel transport's default cap (16 MiB)."""
HEARTBEAT_TYPE = "heartbeat"
"""``type`` of the heartbeat messages a worker pushes on ``"tasks"`` (not a job message:
see :func:`encode_heartbeat`)."""


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
    if not isinstance(value, str):
        raise MalformedMessageError(f"{name}: expected hex text")
    try:
        data = bytes.fromhex(value)
    except ValueError:
        raise MalformedMessageError(f"{name}: bad hex") from None
    if size is not None and len(data) != size:
        raise MalformedMessageError(f"{name}: expected {size} bytes, got {len(data)}")
    return data


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


def encode(message: Message) -> bytes:
    """The JSON bytes of ``message``."""
    body: dict[str, Any] = {"type": message.TYPE}
    for name, value in asdict(message).items():
        if isinstance(value, bytes):
            body[name] = _b64(value) if name in _BLOBS else value.hex()
        elif isinstance(value, tuple):
            body[name] = list(value)
        else:
            body[name] = value
    data = json.dumps(body, separators=(",", ":"), sort_keys=True).encode()
    if len(data) > MAX_MESSAGE_SIZE:
        raise MalformedMessageError(f"message of {len(data)} bytes exceeds {MAX_MESSAGE_SIZE}")
    return data


def decode(data: bytes, *, max_size: int = MAX_MESSAGE_SIZE) -> Message:
    """Parse one job message; :class:`MalformedMessageError` on anything off."""
    if len(data) > max_size:
        raise MalformedMessageError(f"message of {len(data)} bytes exceeds {max_size}")
    try:
        body = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise MalformedMessageError(f"not JSON: {err}") from None
    if not isinstance(body, dict):
        raise MalformedMessageError("a job message is a JSON object")
    cls = _TYPES.get(body.pop("type", None))
    if cls is None:
        raise MalformedMessageError(f"unknown message type {body.get('type')!r}")
    kwargs: dict[str, Any] = {}
    for f in fields(cls):
        if f.name not in body:
            if f.default is MISSING and f.default_factory is MISSING:
                raise MalformedMessageError(f"{cls.TYPE}: missing field {f.name!r}")
            continue
        value = body.pop(f.name)
        if value is None:
            kwargs[f.name] = None
        elif f.name in _BLOBS:
            kwargs[f.name] = _unb64(value, f.name)
        elif f.name in _HASHES or f.name == "seed":
            kwargs[f.name] = _unhex(value, f.name, _HASHES.get(f.name))
        elif f.name == "args":
            if not isinstance(value, list) or not all(isinstance(a, str) for a in value):
                raise MalformedMessageError("args: expected a list of strings")
            kwargs[f.name] = tuple(value)
        else:
            kwargs[f.name] = value
    if body:
        raise MalformedMessageError(f"{cls.TYPE}: unknown fields {sorted(body)}")
    _check_types(cls, kwargs)
    return cls(**kwargs)


def _check_types(cls: type[Message], kwargs: dict[str, Any]) -> None:
    ints = (
        "fuel_limit",
        "timeout_ms",
        "memory_bytes",
        "rate_planck_per_fuel",
        "fuel_used",
        "task_id",
    )
    for name in ints:
        value = kwargs.get(name)
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int) or value < 0
        ):
            raise MalformedMessageError(f"{cls.TYPE}: {name} must be a non-negative integer")
    for name in ("code", "message"):
        if name in kwargs and not isinstance(kwargs[name], str):
            raise MalformedMessageError(f"{cls.TYPE}: {name} must be text")
    objects = ("result",) if cls is JobRequest else ("result", "proof")
    for name in objects:
        value = kwargs.get(name)
        if value is not None and not isinstance(value, dict):
            raise MalformedMessageError(f"{cls.TYPE}: {name} must be an object")
    if cls is JobRequest and not isinstance(kwargs.get("proof") or "", str):
        raise MalformedMessageError("job_request: proof must be a circuit name")


def encode_heartbeat(heartbeat: Heartbeat) -> bytes:
    """The message carrying *heartbeat* on ``"tasks"``:
    ``{"type": "heartbeat", "heartbeat": heartbeat.to_json()}`` as compact JSON."""
    body = {"type": HEARTBEAT_TYPE, "heartbeat": heartbeat.to_json()}
    return json.dumps(body, separators=(",", ":"), sort_keys=True).encode()


def decode_heartbeat(data: bytes) -> Heartbeat | None:
    """The heartbeat in a message of type ``"heartbeat"`` (signature not checked), or
    ``None`` when *data* is not such a message. :class:`MalformedMessageError` for a
    heartbeat message whose heartbeat does not parse."""
    try:
        body = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    if not isinstance(body, dict) or body.get("type") != HEARTBEAT_TYPE:
        return None
    return Heartbeat.from_json(body.get("heartbeat"))
