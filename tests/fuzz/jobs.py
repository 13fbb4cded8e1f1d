"""The job protocol (:mod:`ccnet.client.jobs`): messages, signed results, heartbeats,
job specs.

Seeds are built with the real encoders and the real keys of :mod:`.peers` (BOB is the
worker). Properties, per decoder:

- :class:`JobMessages`: :func:`~ccnet.client.jobs.messages.decode` (and, on what it
  refuses, :func:`~ccnet.client.jobs.messages.decode_heartbeat`, as a receiver does)
  returns a message or raises :class:`~ccnet.client.exceptions.MalformedMessageError`;
  a message has fields of its types and re-encodes to canonical bytes that decode back
  equal.
- :class:`SignedResults` and :class:`Heartbeats`: parsing raises only
  ``MalformedMessageError``, checking only ``BadSignatureError`` (and the heartbeat
  errors); only an untouched seed verifies (signatures are unforgeable), and a parsed
  value round-trips through its JSON form.
- :class:`JobSpecs`: :meth:`~ccnet.client.jobs.jobspec.JobSpec.decode` raises only
  ``MalformedMessageError``; a spec has fields of its types, and re-encodes to bytes that
  decode back equal (or is refused as over the size cap).
"""

from __future__ import annotations

import functools
import hashlib
import json
from pathlib import Path
from typing import Any

from ccnet.client.exceptions import BadSignatureError, MalformedMessageError
from ccnet.client.jobs.exceptions import HeartbeatError
from ccnet.client.jobs.heartbeat import Heartbeat, HeartbeatMetrics, HeartbeatVerifier
from ccnet.client.jobs.jobspec import JobSpec
from ccnet.client.jobs.messages import (
    JobFailed,
    JobRequest,
    JobResult,
    Message,
    ModuleData,
    ModuleNeeded,
    decode,
    decode_heartbeat,
    encode,
    encode_heartbeat,
    loads,
)
from ccnet.client.jobs.results import SignedResult, input_hash, output_hash

from .harness import check_fields, require, source
from .mutate import U32, U64, U128, Mutator
from .peers import BOB, EVE, NOW_MS

__all__ = ["Heartbeats", "JobMessages", "JobSpecs", "SignedResults"]

MODULE = b"\0asm\x01\0\0\0" + bytes(range(32))
MODULE_HASH = hashlib.blake2b(MODULE, digest_size=32).digest()
JOB_ID = bytes(range(16))
ARGS = ("--size", "3")
STDIN = b"1 2 3\n"
OUTPUT = b"6\n"


def results() -> list[SignedResult]:
    """Two results signed by the worker (BOB) and one by another key (EVE)."""
    common = {"module_hash": MODULE_HASH, "input_hash": input_hash(ARGS, STDIN)}
    return [
        SignedResult.create(
            BOB, task_id=7, output_hash=output_hash(OUTPUT), fuel_used=12_345, **common
        ),
        SignedResult.create(BOB, task_id=U64, output_hash=output_hash(b""), fuel_used=0, **common),
        SignedResult.create(EVE, task_id=0, output_hash=b"\xff" * 32, fuel_used=U64, **common),
    ]


def heartbeats() -> list[Heartbeat]:
    """Heartbeats of the worker just before :data:`~.peers.NOW_MS`: ordinary metrics,
    and every metric at its maximum."""
    busy = HeartbeatMetrics(2, 40, 3, 10**15, 1_250, 2**33, 3_600_000)
    full = HeartbeatMetrics(U32, U64, U64, U128, U32, U64, U64)
    return [
        Heartbeat.create(BOB, busy, timestamp_ms=NOW_MS - 1_000, nonce=b"\x01" * 16),
        Heartbeat.create(BOB, full, timestamp_ms=NOW_MS, nonce=b"\xfe" * 16),
    ]


def job_messages() -> list[Message]:
    """One of each job message, with every optional field set in one of them."""
    proof = {"circuit": "matmul", "proof": {"pi_a": ["1", "2", "1"]}, "public": ["3"]}
    return [
        JobRequest(
            JOB_ID,
            MODULE_HASH,
            STDIN,
            ARGS,
            module=MODULE,
            fuel_limit=10**9,
            timeout_ms=5_000,
            memory_bytes=64 << 20,
            rate_planck_per_fuel=U128,
            seed=b"\x07" * 8,
            proof="matmul",
            channel_id=b"\xc0" * 32,
            task_id=U64,
        ),
        JobRequest(JOB_ID, MODULE_HASH, b""),
        ModuleNeeded(JOB_ID, MODULE_HASH),
        ModuleData(JOB_ID, MODULE),
        JobResult(JOB_ID, OUTPUT, results()[0].to_json(), proof),
        JobFailed(JOB_ID, "fuel", "out of fuel", 12_345),
    ]


def _keys(*documents: dict[str, Any]) -> list[str]:
    keys: set[str] = set()
    for document in documents:
        keys.update(document)
        for value in document.values():
            if isinstance(value, dict):
                keys.update(value)
    return sorted(keys)


class JobMessages:
    """Messages on the ``"tasks"`` data channel, heartbeats included."""

    name = "job_messages"

    def __init__(self, workdir: Path) -> None:
        self.messages = job_messages()
        self.beats = heartbeats()
        self.seeds = [json.loads(encode(m)) for m in self.messages]
        self.seeds += [json.loads(encode_heartbeat(b)) for b in self.beats]
        self.keys = _keys(*self.seeds)
        for message in self.messages:
            require(decode(encode(message)) == message, f"seed {message!r} does not round-trip")

    def one(self, data: bytes) -> None:
        data = Mutator(source(data), keys=self.keys).json_input(self.seeds)
        try:
            message = decode(data)
        except MalformedMessageError:
            try:
                beat = decode_heartbeat(data)
            except MalformedMessageError:
                return
            if beat is not None:
                check_fields(beat)
                back = decode_heartbeat(encode_heartbeat(beat))
                require(back == beat, f"{beat!r} does not round-trip")
            return
        check_fields(message)
        again = encode(message)
        require(decode(again) == message, f"{message!r} does not round-trip")
        require(encode(decode(again)) == again, f"{message!r} does not re-encode canonically")
        if isinstance(message, JobResult):  # what the requester does with the result next
            try:
                SignedResult.from_json(message.result).verify()
            except (MalformedMessageError, BadSignatureError):
                pass

    def close(self) -> None:
        pass


class SignedResults:
    """A worker's signed result (:class:`~ccnet.client.jobs.results.SignedResult`)."""

    name = "signed_results"

    def __init__(self, workdir: Path) -> None:
        self.results = results()
        self.seeds = [r.to_json() for r in self.results]
        self.keys = _keys(*self.seeds)
        self.verifies = functools.lru_cache(maxsize=1 << 14)(self._verifies)
        """Many inputs parse to a result seen before: verify each distinct one once."""

    @staticmethod
    def _verifies(result: SignedResult) -> bool:
        try:
            result.verify()
        except BadSignatureError:
            return False
        return True

    def one(self, data: bytes) -> None:
        data = Mutator(source(data), keys=self.keys).json_input(self.seeds)
        try:
            result = SignedResult.from_json(loads(data))
        except MalformedMessageError:
            return
        check_fields(result)
        require(SignedResult.from_json(result.to_json()) == result, f"{result!r} round trip")
        if self.verifies(result):
            require(result in self.results, f"a forged result verified: {result!r}")

    def close(self) -> None:
        pass


class Heartbeats:
    """A worker's signed heartbeat, parsed and checked by a receiver."""

    name = "heartbeats"

    def __init__(self, workdir: Path) -> None:
        self.beats = heartbeats()
        self.seeds = [b.to_json() for b in self.beats]
        self.keys = _keys(*self.seeds)
        self.accepts = functools.lru_cache(maxsize=1 << 14)(self._accepts)
        """Many inputs parse to a heartbeat seen before: check each distinct one once."""

    @staticmethod
    def _accepts(beat: Heartbeat) -> bool:
        """Whether a fresh receiver at :data:`~.peers.NOW_MS` accepts *beat*."""
        try:
            HeartbeatVerifier(clock=lambda: NOW_MS).accept(beat)
        except (HeartbeatError, BadSignatureError):
            return False
        return True

    def one(self, data: bytes) -> None:
        data = Mutator(source(data), keys=self.keys).json_input(self.seeds)
        try:
            beat = Heartbeat.from_json(loads(data))
        except MalformedMessageError:
            return
        check_fields(beat)
        require(Heartbeat.from_json(beat.to_json()) == beat, f"{beat!r} does not round-trip")
        if self.accepts(beat):
            require(beat in self.beats, f"a forged heartbeat was accepted: {beat!r}")

    def close(self) -> None:
        pass


class JobSpecs:
    """The job spec of an on-chain task (``input_ref``)."""

    name = "job_specs"

    def __init__(self, workdir: Path) -> None:
        specs = [
            JobSpec.inline(MODULE_HASH, STDIN, ARGS, fuel=10**9, seed=b"\x01\x02"),
            JobSpec(
                MODULE_HASH,
                input_inline=None,
                input_ar="a" * 43,
                input_hash=hashlib.blake2b(STDIN, digest_size=32).digest(),
                module_ar="m" * 43,
                fuel=U64,
            ),
            JobSpec(MODULE_HASH),
        ]
        self.seeds = [json.loads(s.encode()) for s in specs]
        self.keys = _keys(*self.seeds)
        for spec in specs:
            require(JobSpec.decode(spec.encode()) == spec, f"seed {spec!r} does not round-trip")

    def one(self, data: bytes) -> None:
        data = Mutator(source(data), keys=self.keys).json_input(self.seeds)
        try:
            spec = JobSpec.decode(data)
        except MalformedMessageError:
            return
        check_fields(spec)
        try:
            again = spec.encode()
        except MalformedMessageError:  # over the size cap: our encoder escapes non-ASCII,
            return  # so a spec of raw UTF-8 text may grow past MAX_SPEC_SIZE
        require(JobSpec.decode(again) == spec, f"{spec!r} does not round-trip")
        require(JobSpec.decode(again).encode() == again, f"{spec!r} is not canonical")

    def close(self) -> None:
        pass
