"""The VM-checkpoint fields and messages of the job protocol (``docs/protocol.md``,
section 8): round trips, and a typed error for every bad field."""

from __future__ import annotations

import json
from typing import Any

import pytest

from ccnet.client import Keys
from ccnet.client.exceptions import MalformedMessageError
from ccnet.client.jobs.messages import (
    CheckpointSpec,
    JobCheckpoint,
    JobRequest,
    JobSuspend,
    JobSuspended,
    Message,
    ResumeSpec,
    decode,
    dumps,
    encode,
)

OWNER = str(Keys.from_uri("//Alice").ss58_address)
KEY = bytes(range(32))
TX_ID = "bNbA3TEQVL60xlgCcqdz4ZPHFZ711cZ3hmkpGttDt_U"
CHECKPOINT = CheckpointSpec(every_fuel=10**9, key=KEY)
RESUME = ResumeSpec(
    owner=OWNER,
    job_id=b"\x02" * 16,
    checkpoint=3,
    arweave_tx_id=TX_ID,
    state_hash=b"\x07" * 32,
    size=4096,
    key=KEY,
)
REQUEST = JobRequest(bytes(16), module_hash=b"\x01" * 32, input=b"", checkpoint=CHECKPOINT)
MESSAGES: list[Message] = [
    REQUEST,
    JobRequest(bytes(16), module_hash=b"\x01" * 32, input=b"", resume=RESUME),
    JobRequest(
        bytes(16), module_hash=b"\x01" * 32, input=b"", checkpoint=CHECKPOINT, resume=RESUME
    ),
    JobCheckpoint(b"\x02" * 16, 1, 123, b"\x03" * 32, TX_ID, 4096),
    JobSuspend(b"\x02" * 16),
    JobSuspended(b"\x02" * 16, 2, 456, b"\x03" * 32, TX_ID, 4096, segment_fuel=400),
]


def body(message: Message) -> dict[str, Any]:
    value = json.loads(encode(message))
    assert isinstance(value, dict)
    return value


@pytest.mark.parametrize("message", MESSAGES, ids=lambda m: m.TYPE)
def test_round_trip(message: Message) -> None:
    assert decode(encode(message)) == message


def test_absent_checkpoint_and_resume_are_not_written() -> None:
    plain = body(JobRequest(bytes(16), module_hash=b"\x01" * 32, input=b""))
    assert "checkpoint" not in plain and "resume" not in plain
    for name in ("checkpoint", "resume"):  # null and missing are both "absent"
        assert decode(dumps({**plain, name: None})) == decode(dumps(plain))


def test_wire_shapes() -> None:
    wire = body(MESSAGES[2])
    assert wire["checkpoint"] == {"every_fuel": "1000000000", "key": KEY.hex()}
    assert wire["resume"] == {
        "owner": OWNER,
        "job_id": "02" * 16,
        "checkpoint": 3,
        "arweave_tx_id": TX_ID,
        "state_hash": "07" * 32,
        "size": "4096",
        "key": KEY.hex(),
    }
    assert body(MESSAGES[5]) == {
        "type": "job_suspended",
        "job_id": "02" * 16,
        "checkpoint": 2,
        "fuel_used": "456",
        "state_hash": "03" * 32,
        "arweave_tx_id": TX_ID,
        "size": "4096",
        "segment_fuel": "400",
    }


BAD_CHECKPOINT: list[tuple[Any, str]] = [
    ("x", "must be an object"),
    ([], "must be an object"),
    ({"key": KEY.hex()}, "missing fields"),
    ({"every_fuel": "1"}, "missing fields"),
    ({"every_fuel": "1", "key": KEY.hex(), "extra": 1}, "unknown fields"),
    ({"every_fuel": None, "key": KEY.hex()}, "may not be null"),
    ({"every_fuel": 1000, "key": KEY.hex()}, "JSON number"),
    ({"every_fuel": 1000.0, "key": KEY.hex()}, "decimal string"),
    ({"every_fuel": "0", "key": KEY.hex()}, "must be positive"),
    ({"every_fuel": "-1", "key": KEY.hex()}, "decimal string"),
    ({"every_fuel": "01", "key": KEY.hex()}, "decimal string"),
    ({"every_fuel": str(2**64), "key": KEY.hex()}, "at most"),
    ({"every_fuel": "1", "key": KEY.hex()[:-2]}, "expected 32 bytes"),
    ({"every_fuel": "1", "key": KEY.hex() + "00"}, "expected 32 bytes"),
    ({"every_fuel": "1", "key": KEY.hex().upper()}, "lowercase hex"),
    ({"every_fuel": "1", "key": "0x" + KEY.hex()}, "lowercase hex"),
    ({"every_fuel": "1", "key": 5}, "lowercase hex"),
]


@pytest.mark.parametrize(("value", "error"), BAD_CHECKPOINT)
def test_bad_checkpoint(value: Any, error: str) -> None:
    wire = body(REQUEST)
    wire["checkpoint"] = value
    with pytest.raises(MalformedMessageError, match=error):
        decode(dumps(wire))


def resume_with(**changes: Any) -> dict[str, Any]:
    value = RESUME.to_json()
    value.update(changes)
    return {k: v for k, v in value.items() if v != "<drop>"}


BAD_RESUME: list[tuple[Any, str]] = [
    ("x", "must be an object"),
    (resume_with(owner="<drop>"), "missing fields"),
    (resume_with(key="<drop>"), "missing fields"),
    (resume_with(more="x"), "unknown fields"),
    (resume_with(size=None), "may not be null"),
    (resume_with(owner=5), "must be text"),
    (resume_with(owner="5abc"), "not an SS58"),
    (resume_with(owner=OWNER + "\n"), "SS58"),
    (resume_with(owner=str(Keys.from_uri("//Alice").public_key.hex())), "SS58"),
    (resume_with(arweave_tx_id=""), "Arweave transaction id"),
    (resume_with(arweave_tx_id="a" * 65), "Arweave transaction id"),
    (resume_with(arweave_tx_id="a/b"), "Arweave transaction id"),
    (resume_with(arweave_tx_id="ab="), "Arweave transaction id"),
    (resume_with(arweave_tx_id=7), "Arweave transaction id"),
    (resume_with(state_hash="07" * 31), "expected 32 bytes"),
    (resume_with(state_hash="0x" + "07" * 32), "lowercase hex"),
    (resume_with(size=4096), "JSON number"),
    (resume_with(size="0"), "must be positive"),
    (resume_with(size=str(2**64)), "at most"),
    (resume_with(size="4e3"), "decimal string"),
    (resume_with(key="00" * 16), "expected 32 bytes"),
    (resume_with(key="zz" * 32), "lowercase hex"),
    (resume_with(job_id="<drop>"), "missing fields"),
    (resume_with(checkpoint="<drop>"), "missing fields"),
    (resume_with(job_id=None), "may not be null"),
    (resume_with(checkpoint=None), "may not be null"),
    (resume_with(job_id="02" * 15), "expected 16 bytes"),
    (resume_with(job_id="02" * 17), "expected 16 bytes"),
    (resume_with(job_id="02" * 32), "expected 16 bytes"),
    (resume_with(job_id="0x" + "02" * 16), "lowercase hex"),
    (resume_with(job_id="AB" * 16), "lowercase hex"),
    (resume_with(job_id="2" * 31), "lowercase hex"),
    (resume_with(job_id=16), "lowercase hex"),
    (resume_with(job_id=[2] * 16), "lowercase hex"),
    (resume_with(checkpoint="3"), "integer in"),
    (resume_with(checkpoint=3.0), "integer in"),
    (resume_with(checkpoint=-1), "integer in"),
    (resume_with(checkpoint=2**32), "integer in"),
    (resume_with(checkpoint=True), "integer in"),
    (resume_with(checkpoint=[3]), "integer in"),
]


@pytest.mark.parametrize(("value", "error"), BAD_RESUME)
def test_bad_resume(value: Any, error: str) -> None:
    wire = body(REQUEST)
    wire["resume"] = value
    with pytest.raises(MalformedMessageError, match=error):
        decode(dumps(wire))


SUSPENDED = body(MESSAGES[5])
BAD_REPORT: list[tuple[str, Any, str]] = [
    ("checkpoint", "2", "integer in"),
    ("checkpoint", 2.0, "integer in"),
    ("checkpoint", -1, "integer in"),
    ("checkpoint", 2**32, "integer in"),
    ("checkpoint", True, "integer in"),
    ("checkpoint", None, "may not be null"),
    ("fuel_used", 456, "JSON number"),
    ("fuel_used", str(2**64), "at most"),
    ("state_hash", "03" * 16, "expected 32 bytes"),
    ("state_hash", None, "may not be null"),
    ("arweave_tx_id", "", "Arweave transaction id"),
    ("arweave_tx_id", "x" * 65, "Arweave transaction id"),
    ("size", "", "decimal string"),
    ("segment_fuel", 400, "JSON number"),
    ("segment_fuel", "1.5", "decimal string"),
    ("job_id", "02" * 15, "expected 16 bytes"),
]


@pytest.mark.parametrize("kind", ["job_checkpoint", "job_suspended"])
@pytest.mark.parametrize(("name", "value", "error"), BAD_REPORT)
def test_bad_checkpoint_report(kind: str, name: str, value: Any, error: str) -> None:
    wire = {**SUSPENDED, "type": kind, name: value}
    if kind == "job_checkpoint":
        if name == "segment_fuel":
            error = "unknown fields"  # job_checkpoint has none
        else:
            del wire["segment_fuel"]
    with pytest.raises(MalformedMessageError, match=error):
        decode(dumps(wire))


@pytest.mark.parametrize("name", ["checkpoint", "fuel_used", "state_hash", "arweave_tx_id", "size"])
def test_reports_need_every_field(name: str) -> None:
    for kind in ("job_checkpoint", "job_suspended"):
        wire = {k: v for k, v in SUSPENDED.items() if k != name}
        wire["type"] = kind
        if kind == "job_checkpoint":
            del wire["segment_fuel"]
        with pytest.raises(MalformedMessageError, match="missing field"):
            decode(dumps(wire))
    wire = {**SUSPENDED}
    del wire["segment_fuel"]
    with pytest.raises(MalformedMessageError, match="missing field 'segment_fuel'"):
        decode(dumps(wire))
    with pytest.raises(MalformedMessageError, match="unknown fields"):
        decode(dumps({**SUSPENDED, "type": "job_checkpoint"}))


def test_suspend_takes_only_a_job_id() -> None:
    assert decode(b'{"type":"job_suspend","job_id":"' + b"ab" * 16 + b'"}') == JobSuspend(
        b"\xab" * 16
    )
    with pytest.raises(MalformedMessageError, match="unknown fields"):
        decode(b'{"type":"job_suspend","job_id":"' + b"ab" * 16 + b'","force":true}')
    with pytest.raises(MalformedMessageError, match="missing field"):
        decode(b'{"type":"job_suspend"}')


def test_resume_checkpoint_takes_the_whole_u32_range() -> None:
    for number in (0, 2**32 - 1):
        spec = ResumeSpec(**{**RESUME.__dict__, "checkpoint": number})
        message = JobRequest(bytes(16), module_hash=b"\x01" * 32, input=b"", resume=spec)
        assert decode(encode(message)) == message


def test_duplicate_keys_inside_the_nested_objects_are_refused() -> None:
    text = encode(REQUEST).replace(b'"every_fuel":', b'"every_fuel":"5","every_fuel":')
    with pytest.raises(MalformedMessageError, match="repeats a key"):
        decode(text)
    text = encode(MESSAGES[1]).replace(b'"size":', b'"size":"1","size":')
    with pytest.raises(MalformedMessageError, match="repeats a key"):
        decode(text)
    text = encode(MESSAGES[1]).replace(b'"checkpoint":3', b'"checkpoint":3,"checkpoint":3')
    with pytest.raises(MalformedMessageError, match="repeats a key"):
        decode(text)
