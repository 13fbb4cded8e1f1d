"""Job messages between a requester and a worker, on the ``"tasks"`` data channel.

The messages, their fields and encodings, and what a worker does with each are
``docs/protocol.md``, section 8 (failure codes: section 11). Here:
:class:`JobRequest`, :class:`ModuleNeeded`, :class:`ModuleData`, :class:`JobResult`
(carries the :class:`~ccnet.client.jobs.results.SignedResult` JSON and an optional proof),
:class:`JobFailed`, and the VM-checkpoint messages (``docs/vm-checkpoints.md``, section
8): a request's :class:`CheckpointSpec` and :class:`ResumeSpec`, :class:`JobCheckpoint`,
:class:`JobSuspend` and :class:`JobSuspended`; :func:`encode` writes compact JSON with
sorted keys (u64 and u128 as decimal strings); :func:`decode` is strict (:func:`loads`:
no repeated keys, no NaN, no unknown or mistyped fields;
:class:`~ccnet.client.exceptions.MalformedMessageError`) and the receiver answers
:class:`JobFailed` ``malformed`` instead of dropping the session. Heartbeats travel on
the same channel (:func:`encode_heartbeat`, :func:`decode_heartbeat`); :func:`decode`
refuses them, so a receiver tries :func:`decode_heartbeat` on what :func:`decode`
refuses.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from dataclasses import MISSING, dataclass, field, fields
from typing import Any, ClassVar

from ..codec import U32_MAX, U64_MAX, U128_MAX, check_uint, uint_from_json, uint_to_json
from ..exceptions import MalformedMessageError
from ..net.framing import DEFAULT_MAX_MESSAGE_SIZE
from ..signing import public_key_of
from .billing import DEFAULT_RATE_PLANCK_PER_FUEL
from .heartbeat import Heartbeat

__all__ = [
    "CHECKPOINT_KEY_SIZE",
    "HEARTBEAT_TYPE",
    "MAX_ARWEAVE_TX_ID_LEN",
    "MAX_MESSAGE_SIZE",
    "CheckpointSpec",
    "JobCheckpoint",
    "JobFailed",
    "JobRequest",
    "JobResult",
    "JobSuspend",
    "JobSuspended",
    "Message",
    "ModuleData",
    "ModuleNeeded",
    "ResumeSpec",
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


CHECKPOINT_KEY_SIZE = 32
"""Bytes of a VM checkpoint's sealing key (AES-256-GCM)."""
MAX_ARWEAVE_TX_ID_LEN = 64
"""Longest Arweave transaction id taken, characters (the Checkpoints pallet's bound; a
real id is 43 base64url characters)."""

_HEX = re.compile(r"(?:[0-9a-f]{2})*")
_TX_ID = re.compile(rf"[A-Za-z0-9_-]{{1,{MAX_ARWEAVE_TX_ID_LEN}}}")


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
class CheckpointSpec:
    """A request's ``checkpoint``: take a VM checkpoint at the first safe point after
    every *every_fuel* fuel (counted over all segments of the job; a positive u64) and
    seal each image under *key* (32 bytes, AES-256-GCM) before it is archived."""

    every_fuel: int
    key: bytes

    def to_json(self) -> dict[str, Any]:
        """The wire object: ``every_fuel`` a u64 decimal string, ``key`` bare hex."""
        return {"every_fuel": uint_to_json(self.every_fuel), "key": self.key.hex()}

    @classmethod
    def from_json(cls, value: Any, what: str = "checkpoint") -> CheckpointSpec:
        """Parse the wire object; :class:`MalformedMessageError` for a missing, unknown,
        null or mistyped field, a zero ``every_fuel`` or a key that is not 32 bytes."""
        body = _object(value, what, ("every_fuel", "key"))
        every_fuel = uint_from_json(body["every_fuel"], U64_MAX, f"{what}.every_fuel")
        if every_fuel == 0:
            raise MalformedMessageError(f"{what}.every_fuel must be positive")
        return cls(every_fuel, _unhex(body["key"], f"{what}.key", CHECKPOINT_KEY_SIZE))


@dataclass(frozen=True)
class ResumeSpec:
    """A request's ``resume``: continue the job from the VM checkpoint that *owner*
    (SS58, the worker that archived it) recorded on chain as its job *job_id*'s record
    (16 bytes: the ``job_id`` of the request it ran, i.e. of its ``job_checkpoint``
    announcement), which must be exactly image number *checkpoint* (u32, the image's
    sequence number), *arweave_tx_id* (1 to 64 base64url characters), *state_hash*
    (blake2b-256 of the sealed bytes, 32 bytes) and *size* (bytes of the sealed image,
    positive u64), sealed under *key* (32 bytes)."""

    owner: str
    job_id: bytes
    checkpoint: int
    arweave_tx_id: str
    state_hash: bytes
    size: int
    key: bytes

    def to_json(self) -> dict[str, Any]:
        """The wire object (``checkpoint`` a u32 number, ``size`` a u64 decimal string,
        ``job_id``, hashes and key bare hex)."""
        return {
            "owner": self.owner,
            "job_id": self.job_id.hex(),
            "checkpoint": self.checkpoint,
            "arweave_tx_id": self.arweave_tx_id,
            "state_hash": self.state_hash.hex(),
            "size": uint_to_json(self.size),
            "key": self.key.hex(),
        }

    @classmethod
    def from_json(cls, value: Any, what: str = "resume") -> ResumeSpec:
        """Parse the wire object; :class:`MalformedMessageError` for a missing, unknown,
        null or mistyped field, an owner that is not a canonical SS58 (prefix 42)
        address, a ``job_id`` not of 16 bytes, a ``checkpoint`` that is not a u32
        number, a bad transaction id, a zero size, or a hash or key not of 32 bytes."""
        fields_ = ("owner", "job_id", "checkpoint", "arweave_tx_id", "state_hash", "size", "key")
        body = _object(value, what, fields_)
        owner = body["owner"]
        if not isinstance(owner, str):
            raise MalformedMessageError(f"{what}.owner must be text")
        public_key_of(owner)
        size = uint_from_json(body["size"], U64_MAX, f"{what}.size")
        if size == 0:
            raise MalformedMessageError(f"{what}.size must be positive")
        return cls(
            owner=owner,
            job_id=_unhex(body["job_id"], f"{what}.job_id", 16),
            checkpoint=check_uint(body["checkpoint"], U32_MAX, f"{what}.checkpoint"),
            arweave_tx_id=_tx_id(body["arweave_tx_id"], f"{what}.arweave_tx_id"),
            state_hash=_unhex(body["state_hash"], f"{what}.state_hash", 32),
            size=size,
            key=_unhex(body["key"], f"{what}.key", CHECKPOINT_KEY_SIZE),
        )


def _object(value: Any, what: str, names: tuple[str, ...]) -> dict[str, Any]:
    """*value* as an object with exactly the keys *names*, none null."""
    if not isinstance(value, dict):
        raise MalformedMessageError(f"{what} must be an object")
    missing = [n for n in names if n not in value]
    if missing:
        raise MalformedMessageError(f"{what}: missing fields {missing}")
    unknown = sorted(set(value) - set(names))
    if unknown:
        raise MalformedMessageError(f"{what}: unknown fields {unknown}")
    nulls = [n for n in names if value[n] is None]
    if nulls:
        raise MalformedMessageError(f"{what}: {nulls} may not be null")
    return value


def _tx_id(value: Any, what: str) -> str:
    if not isinstance(value, str) or not _TX_ID.fullmatch(value):
        raise MalformedMessageError(
            f"{what}: expected an Arweave transaction id (1 to {MAX_ARWEAVE_TX_ID_LEN} "
            "base64url characters)"
        )
    return value


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
    - ``checkpoint``: take VM checkpoints (:class:`CheckpointSpec`), or ``None``.
    - ``resume``: start from a VM checkpoint on Arweave (:class:`ResumeSpec`), or
      ``None``.

    ``checkpoint`` and ``resume`` are written only when set: a peer that predates them
    still reads every other request.
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
    checkpoint: CheckpointSpec | None = None
    resume: ResumeSpec | None = None


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


@dataclass(frozen=True)
class JobCheckpoint(Message):
    """A VM checkpoint of a running job was archived (worker to requester).

    ``checkpoint``: the image's sequence number within the job (u32, counted over all
    segments, 1 for the first); ``fuel_used``: the job's fuel up to it, over all segments
    (fuel); ``state_hash`` (32 bytes, blake2b-256 of the sealed bytes),
    ``arweave_tx_id`` and ``size`` (bytes): the worker's record on chain. Not a result,
    and not paid by itself.
    """

    TYPE: ClassVar[str] = "job_checkpoint"
    checkpoint: int
    fuel_used: int
    state_hash: bytes
    arweave_tx_id: str
    size: int


@dataclass(frozen=True)
class JobSuspend(Message):
    """Suspend the job at its next safe point (requester to worker)."""

    TYPE: ClassVar[str] = "job_suspend"


@dataclass(frozen=True)
class JobSuspended(Message):
    """The job stopped at a safe point and its image was archived (worker to
    requester): the fields of :class:`JobCheckpoint` plus ``segment_fuel``, the fuel
    this worker's run burnt (what it bills for the job so far, fuel). The job is over
    on this worker."""

    TYPE: ClassVar[str] = "job_suspended"
    checkpoint: int
    fuel_used: int
    state_hash: bytes
    arweave_tx_id: str
    size: int
    segment_fuel: int

    @classmethod
    def at(cls, note: JobCheckpoint, segment_fuel: int) -> JobSuspended:
        """The suspension at the image *note* announces, after *segment_fuel* fuel of
        this worker's run."""
        return cls(
            note.job_id,
            checkpoint=note.checkpoint,
            fuel_used=note.fuel_used,
            state_hash=note.state_hash,
            arweave_tx_id=note.arweave_tx_id,
            size=note.size,
            segment_fuel=segment_fuel,
        )

    @property
    def image(self) -> JobCheckpoint:
        """The image it stopped at, as a ``job_checkpoint`` announces it."""
        return JobCheckpoint(
            self.job_id,
            checkpoint=self.checkpoint,
            fuel_used=self.fuel_used,
            state_hash=self.state_hash,
            arweave_tx_id=self.arweave_tx_id,
            size=self.size,
        )


def job_task_id(request: JobRequest) -> int:
    """The ``task_id`` a worker signs the result of *request* with: ``request.task_id``,
    else the first 8 bytes of ``request.job_id`` as a big-endian u64."""
    if request.task_id is not None:
        return request.task_id
    return int.from_bytes(request.job_id[:8], "big")


_TYPES: dict[str, type[Message]] = {
    cls.TYPE: cls
    for cls in (
        JobRequest,
        ModuleNeeded,
        ModuleData,
        JobResult,
        JobFailed,
        JobCheckpoint,
        JobSuspend,
        JobSuspended,
    )
}
_HASHES = {"module_hash": 32, "job_id": 16, "channel_id": 32, "state_hash": 32}
_BLOBS = {"input", "module", "output"}
_WIDE = {"fuel_limit": U64_MAX, "task_id": U64_MAX, "fuel_used": U64_MAX}
_WIDE.update(size=U64_MAX, segment_fuel=U64_MAX, rate_planck_per_fuel=U128_MAX)
"""u64 and u128 fields: decimal strings (protocol version 2)."""
_NARROW = {"timeout_ms": U32_MAX, "memory_bytes": U32_MAX, "checkpoint": U32_MAX}
"""u32 fields: JSON numbers."""
_SPECS: dict[str, type[CheckpointSpec] | type[ResumeSpec]] = {
    "checkpoint": CheckpointSpec,
    "resume": ResumeSpec,
}
"""A request's nested objects, written only when set."""
_TEXT = {"code", "message", "proof"}
_OBJECTS = {"result", "proof"}


def encode(message: Message) -> bytes:
    """The JSON bytes of *message* (every field, ``null`` for an absent optional one).
    :class:`MalformedMessageError` above :data:`MAX_MESSAGE_SIZE`."""
    body: dict[str, Any] = {"type": message.TYPE}
    for f in fields(message):
        name, value = f.name, getattr(message, f.name)
        if isinstance(value, CheckpointSpec | ResumeSpec):
            body[name] = value.to_json()
        elif isinstance(message, JobRequest) and name in _SPECS:
            continue  # None: not written (see JobRequest)
        elif isinstance(value, bytes):
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
    if cls is JobRequest and name in _SPECS:
        return _SPECS[name].from_json(value, what)
    if name in _BLOBS:
        return _unb64(value, what)
    if name == "arweave_tx_id":
        return _tx_id(value, what)
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
