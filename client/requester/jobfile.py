"""The durable record of a job with VM checkpoints (``ccnet job run --checkpoint-every``),
so that it can be continued later (``ccnet job resume``).

A :class:`JobFile` holds what the job needs to go on from its last checkpoint on other
workers, and to pay every segment it ran: the request (module hash and path, input,
args, fuel limit per segment, task id, seed), the checkpoint interval, the sealing key
(the requester's secret: the file is written with mode 0600), the checkpoint trail
(each announcing worker and its ``job_checkpoint`` as wire JSON), the segments (worker,
request as wire JSON without the input, reservation, reply as wire JSON, fuel claimed,
announcements, the checkpoint it resumed from) and the settlement state.

This module only turns a :class:`~.migration.CheckpointedJob` into bytes and back
(:func:`dumps`, :func:`loads`, :meth:`JobFile.of`, :meth:`JobFile.job`); the CLI
writes them with its atomic, fsynced writer
(:func:`ccnet.client.commands._common.write_durably`, which creates mode 0600).

**Paying at most once.** ``settled`` is one of :data:`OPEN` (may run and be
settled), :data:`SETTLING` (written, durably, *before* the first payment) and
:data:`SETTLED` (written after the last payment, with what each segment was paid).
A job file in either of the last two states is never settled again
(:meth:`JobFile.check_resumable` raises): a crash while paying leaves it
``settling``, and a resume then refuses rather than risk paying a segment twice (a
replayed job file being the attack: paying the same work again). The price of that
choice is that a crash in the middle of paying may leave a segment unpaid; the
segments paid are in the channel store, and payments the SDK could not make are kept
as debts (:class:`~.debts.DebtBook`) before it returns, so at most the one segment
being paid at the moment of the crash is in doubt, at the requester's expense of
attention, never of money paid twice.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Any

from ..exceptions import MalformedMessageError
from ..jobs.billing import price
from ..jobs.messages import (
    CHECKPOINT_KEY_SIZE,
    MAX_MESSAGE_SIZE,
    JobCheckpoint,
    JobFailed,
    JobRequest,
    JobResult,
    JobSuspended,
    decode,
    encode,
)
from .migration import Announced, CheckpointedJob, Segment

__all__ = [
    "OPEN",
    "SETTLED",
    "SETTLING",
    "VERSION",
    "JobFile",
    "dumps",
    "loads",
]

VERSION = 1
"""The job file format written (and the only one read)."""
OPEN, SETTLING, SETTLED = "open", "settling", "settled"
_STATES = (OPEN, SETTLING, SETTLED)
_U64 = 2**64 - 1


@dataclass(frozen=True)
class JobFile:
    """A checkpointed job as stored (see the module docs)."""

    module_hash: bytes
    """blake2b-256 of the Wasm module, 32 bytes."""
    module_path: str
    """Absolute path of the module when the job was started."""
    requester: str
    """SS58 of the requester (its channels pay the segments)."""
    job: CheckpointedJob
    """The job: request, key, interval, trail and segments."""
    settled: str = OPEN
    """:data:`OPEN`, :data:`SETTLING` or :data:`SETTLED`."""
    paid: tuple[int, ...] = ()
    """Planck paid to each segment, once settled."""
    owed: tuple[int, ...] = ()
    """Planck kept as a debt for each segment, once settled."""
    state_dir: str = ""
    """Absolute path of the requester's state dir the job was started from: its
    channels pay the segments, and its settling marker is what refuses a second
    settlement, so the job is resumed from there only ("": not recorded)."""

    def check_resumable(self) -> None:
        """Raise :class:`~ccnet.client.exceptions.UserError` unless the job may still
        run and be paid (it was not settled, nor was being settled)."""
        from ..exceptions import UserError

        if self.settled != OPEN:
            raise UserError(
                f"task {self.job.base.task_id:016x} was "
                + ("settled" if self.settled == SETTLED else "being settled when it stopped")
                + ": it is not run or paid again",
                hint="its payments are in the channel store (`ccnet channel list`) and "
                "the debts file of the state dir",
            )


def _checkpoint_json(note: JobCheckpoint) -> Any:
    return json.loads(encode(note))


def _announced_json(found: Announced | None) -> Any:
    if found is None:
        return None
    return {"worker": found.worker, "checkpoint": _checkpoint_json(found.checkpoint)}


def _segment_json(segment: Segment) -> dict[str, Any]:
    request = json.loads(encode(replace(segment.request, input=b"", module=None)))
    return {
        "worker": segment.worker,
        "request": request,
        "reply": None if segment.reply is None else json.loads(encode(segment.reply)),
        "fuel_used": str(segment.fuel_used),
        "resumed_from": _announced_json(segment.resumed_from),
        "reserved": str(segment.reserved),
        "announced": [_checkpoint_json(note) for note in segment.announced],
        "rejected": segment.rejected,
    }


def dumps(record: JobFile) -> bytes:
    """The JSON bytes of *record*."""
    job = record.job
    base = job.base
    body = {
        "version": VERSION,
        "requester": record.requester,
        "state_dir": record.state_dir,
        "module_hash": record.module_hash.hex(),
        "module_path": record.module_path,
        "input": base.input.hex(),
        "args": list(base.args),
        "fuel_limit": None if base.fuel_limit is None else str(base.fuel_limit),
        "task_id": None if base.task_id is None else str(base.task_id),
        "seed": base.seed.hex(),
        "every_fuel": str(job.every_fuel),
        "key": job.key.hex(),
        "checkpoints": [_announced_json(a) for a in job.checkpoints],
        "segments": [_segment_json(s) for s in job.segments],
        "settled": record.settled,
        "paid": [str(p) for p in record.paid],
        "owed": [str(o) for o in record.owed],
    }
    return json.dumps(body, indent=1, sort_keys=True).encode() + b"\n"


# --- reading ---------------------------------------------------------------------------


def _bad(message: str) -> MalformedMessageError:
    return MalformedMessageError(f"job file: {message}")


def _get(body: dict[str, Any], name: str, kind: type | tuple[type, ...]) -> Any:
    if name not in body:
        raise _bad(f"missing field {name!r}")
    value = body[name]
    if not isinstance(value, kind) or isinstance(value, bool):
        raise _bad(f"{name!r} has the wrong type")
    return value


def _uint(value: Any, name: str, top: int = _U64) -> int:
    if not isinstance(value, str) or not value.isdigit() or not 0 <= int(value) <= top:
        raise _bad(f"{name!r}: expected a decimal string of an unsigned integer")
    return int(value)


def _hex(value: Any, name: str, size: int | None = None) -> bytes:
    try:
        data = bytes.fromhex(value) if isinstance(value, str) else None
    except ValueError:
        data = None
    if data is None or (size is not None and len(data) != size):
        raise _bad(f"{name!r}: expected hex" + (f" of {size} bytes" if size else ""))
    return data


def _message(value: Any, kind: type[Any] | tuple[type[Any], ...], name: str) -> Any:
    if not isinstance(value, dict):
        raise _bad(f"{name!r}: expected a message object")
    try:
        message = decode(json.dumps(value).encode(), max_size=4 * MAX_MESSAGE_SIZE)
    except MalformedMessageError as err:
        raise _bad(f"{name!r}: {err}") from None
    if not isinstance(message, kind):
        raise _bad(f"{name!r}: unexpected message {type(message).__name__}")
    return message


def _announced(value: Any, name: str) -> Announced | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise _bad(f"{name!r}: expected an object")
    worker = _get(value, "worker", str)
    return Announced(worker, _message(value.get("checkpoint"), JobCheckpoint, name))


def _segment(value: Any, base: JobRequest, number: int) -> Segment:
    name = f"segments[{number}]"
    if not isinstance(value, dict):
        raise _bad(f"{name}: expected an object")
    request = _message(_get(value, "request", dict), JobRequest, f"{name}.request")
    request = replace(request, input=base.input)
    if (request.module_hash, request.args, request.task_id) != (
        base.module_hash,
        base.args,
        base.task_id,
    ):
        raise _bad(f"{name}.request is not a request of this job")
    reply = value.get("reply")
    reserved = _uint(value.get("reserved"), f"{name}.reserved", 2**128 - 1)
    worst = price(request.fuel_limit or 0, request.rate_planck_per_fuel)
    if reserved > worst:  # the cap on what the segment is paid: never above its worst case
        raise _bad(f"{name}.reserved: {reserved} planck, over the segment's worst case {worst}")
    rejected = value.get("rejected", "")
    if not isinstance(rejected, str):
        raise _bad(f"{name}.rejected: expected a string")
    return Segment(
        worker=_get(value, "worker", str),
        request=request,
        reply=(
            None
            if reply is None
            else _message(reply, (JobResult, JobFailed, JobSuspended), f"{name}.reply")
        ),
        fuel_used=_uint(value.get("fuel_used"), f"{name}.fuel_used"),
        resumed_from=_announced(value.get("resumed_from"), f"{name}.resumed_from"),
        reserved=reserved,
        announced=tuple(
            _message(note, JobCheckpoint, f"{name}.announced")
            for note in _get(value, "announced", list)
        ),
        rejected=rejected,
    )


def loads(data: bytes, module: bytes) -> JobFile:
    """The job file in *data*, with *module* (the Wasm bytes; their hash must be the
    recorded one). :class:`~ccnet.client.exceptions.MalformedMessageError` for a file
    that is not JSON, truncated, of another version, or off in any field;
    :class:`~ccnet.client.exceptions.UserError` when *module* is not the job's."""
    from ..exceptions import UserError
    from ..jobs.catalogue import module_hash

    try:
        body = json.loads(data)
    except (ValueError, RecursionError) as err:
        raise _bad(f"not JSON (truncated?): {err}") from None
    if not isinstance(body, dict):
        raise _bad("expected a JSON object")
    version = body.get("version")
    if version != VERSION:
        raise _bad(f"version {version!r} is not supported (this ccnet reads version {VERSION})")
    recorded = _hex(_get(body, "module_hash", str), "module_hash", 32)
    if module_hash(module) != recorded:
        raise UserError(
            f"the module is not the job's (its hash is not 0x{recorded.hex()})",
            hint="give the job's module with --module",
        )
    fuel_limit = body.get("fuel_limit")
    task_id = body.get("task_id")
    args = _get(body, "args", list)
    if not all(isinstance(a, str) for a in args):
        raise _bad("'args': expected a list of strings")
    key = _hex(_get(body, "key", str), "key", CHECKPOINT_KEY_SIZE)
    base = JobRequest(
        job_id=b"\0" * 16,
        module_hash=recorded,
        input=_hex(_get(body, "input", str), "input"),
        args=tuple(args),
        fuel_limit=None if fuel_limit is None else _uint(fuel_limit, "fuel_limit"),
        seed=_hex(_get(body, "seed", str), "seed"),
        task_id=None if task_id is None else _uint(task_id, "task_id"),
    )
    if len(base.input) > MAX_MESSAGE_SIZE:
        raise _bad(f"the input is over {MAX_MESSAGE_SIZE} bytes")
    try:
        job = CheckpointedJob(
            base, module, every_fuel=_uint(body.get("every_fuel"), "every_fuel"), key=key
        )
    except ValueError as err:
        raise _bad(str(err)) from None
    for found in _get(body, "checkpoints", list):
        announced = _announced(found, "checkpoints")
        if announced is None:
            raise _bad("'checkpoints': null entry")
        job.checkpoints.append(announced)
    job.segments.extend(
        _segment(value, base, number) for number, value in enumerate(_get(body, "segments", list))
    )
    settled = _get(body, "settled", str)
    if settled not in _STATES:
        raise _bad(f"'settled': expected one of {', '.join(_STATES)}")
    job.settled = settled != OPEN
    return JobFile(
        module_hash=recorded,
        module_path=_get(body, "module_path", str),
        requester=_get(body, "requester", str),
        job=job,
        settled=settled,
        paid=tuple(_uint(p, "paid", 2**128 - 1) for p in _get(body, "paid", list)),
        owed=tuple(_uint(o, "owed", 2**128 - 1) for o in _get(body, "owed", list)),
        state_dir=_get(body, "state_dir", str) if "state_dir" in body else "",
    )


def recorded_module_path(data: bytes) -> str:
    """The module path recorded in job file *data*, before the module is read
    (:class:`~ccnet.client.exceptions.MalformedMessageError` as :func:`loads`)."""
    try:
        body = json.loads(data)
    except (ValueError, RecursionError) as err:
        raise _bad(f"not JSON (truncated?): {err}") from None
    if not isinstance(body, dict):
        raise _bad("expected a JSON object")
    if body.get("version") != VERSION:
        raise _bad(
            f"version {body.get('version')!r} is not supported (this ccnet reads version {VERSION})"
        )
    return str(_get(body, "module_path", str))
