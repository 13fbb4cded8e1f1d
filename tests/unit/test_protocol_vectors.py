"""docs/protocol.md's test vectors (tests/vectors/protocol.json) against our code: the
exact bytes of frames, job messages, signed payloads, canonical JSON, hashes and DHT
keys; every signature verifies, every <Bytes>-wrapped one fails; protocol version 1
forms are refused with an error that says so. Also keeps the document in step with the
code (every failure code, domain tag, message type and label is in it)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ccnet.client import signing
from ccnet.client.codec import PROTOCOL_VERSION, encode_scale, hexed
from ccnet.client.exceptions import MalformedMessageError
from ccnet.client.jobs.catalogue import module_hash
from ccnet.client.jobs.failures import FAILURE_CODES
from ccnet.client.jobs.heartbeat import Heartbeat, HeartbeatVerifier
from ccnet.client.jobs.jobspec import JobSpec
from ccnet.client.jobs.messages import (
    HEARTBEAT_TYPE,
    JobCheckpoint,
    JobFailed,
    JobRequest,
    JobResult,
    JobSuspend,
    JobSuspended,
    ModuleData,
    ModuleNeeded,
    decode,
    decode_heartbeat,
    encode,
    encode_heartbeat,
)
from ccnet.client.jobs.results import SignedResult, input_hash, output_hash
from ccnet.client.net.exceptions import InvalidRecordError, SignalingError
from ccnet.client.net.framing import FrameDecoder, FrameKind, encode_frame
from ccnet.client.net.records import (
    DEFAULT_KEYING,
    Capability,
    CapabilityRecord,
    decode_records,
    encode_records,
)
from ccnet.client.net.signaling import SIGNAL_DOMAIN, SignalMessage, check_signal
from ccnet.client.net.webrtc import DEFAULT_LABELS

VECTORS = Path(__file__).resolve().parent.parent / "vectors" / "protocol.json"


@pytest.fixture(scope="module")
def v() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(VECTORS.read_text())
    return data


def unhex(text: str) -> bytes:
    return bytes.fromhex(text.removeprefix("0x"))


def key(v: dict[str, Any], who: str) -> bytes:
    return unhex(v["accounts"][who]["public_key"])


def test_version_accounts_and_domains(v: dict[str, Any]) -> None:
    assert v["protocol_version"] == PROTOCOL_VERSION == 2
    for account in v["accounts"].values():
        assert signing.address_of(unhex(account["public_key"])) == account["address"]
        assert signing.public_key_of(account["address"]) == unhex(account["public_key"])
    assert v["domains"] == {name: tag.decode() for name, tag in signing.DOMAINS.items()}


def test_canonical_json(v: dict[str, Any]) -> None:
    case = v["canonical_json"]
    assert signing.canonical_json(case["value"]).decode() == case["bytes"]


def test_hashes(v: dict[str, Any]) -> None:
    h = v["hashes"]
    assert hexed(module_hash(unhex(h["module"]["wasm_hex"]))) == h["module"]["module_hash"]
    args, stdin = h["input"]["args"], unhex(h["input"]["stdin_hex"])
    assert (
        hexed(encode_scale("Vec<Vec<u8>>", [a.encode() for a in args])) == h["input"]["args_scale"]
    )
    assert hexed(input_hash(args, stdin)) == h["input"]["input_hash"]
    assert hexed(output_hash(unhex(h["output"]["output_hex"]))) == h["output"]["output_hash"]


def test_frames(v: dict[str, Any]) -> None:
    decoder = FrameDecoder()
    for case in v["frames"]:
        kind, payload = FrameKind[case["kind"]], unhex(case["payload_hex"])
        frame = unhex(case["frame_hex"])
        assert encode_frame(kind, payload) == frame
        (decoded,) = decoder.feed(frame)
        assert (decoded.kind, decoded.payload) == (kind, payload)  # type: ignore[union-attr]


def test_signed_result(v: dict[str, Any]) -> None:
    case = v["signed_result"]
    result = SignedResult.from_json(case["wire"])
    assert hexed(result.signing_payload()) == case["payload"]
    assert len(result.signing_payload()) == case["payload_size"] == 160
    assert result.is_valid() and result.to_json() == case["wire"]
    payload = unhex(case["payload"])
    assert signing.verify(key(v, "worker"), payload, unhex(case["signature"]))
    assert not signing.verify(key(v, "worker"), payload, unhex(case["wrapped_signature"]))
    wrapped = SignedResult.from_json({**case["wire"], "signature": case["wrapped_signature"]})
    assert not wrapped.is_valid()


def test_heartbeat(v: dict[str, Any]) -> None:
    case = v["heartbeat"]
    beat = Heartbeat.from_json(case["wire"])
    assert hexed(beat.signing_payload()) == case["payload"]
    assert len(beat.signing_payload()) == case["payload_size"] == 128
    assert beat.is_valid() and beat.to_json() == case["wire"]
    assert encode_heartbeat(beat).decode() == case["message"]
    assert decode_heartbeat(case["message"].encode()) == beat
    verifier = HeartbeatVerifier(clock=lambda: beat.timestamp_ms)
    assert verifier.accept(beat) is beat


def test_job_messages(v: dict[str, Any]) -> None:
    kinds = {
        "job_request": JobRequest,
        "job_request_minimal": JobRequest,
        "module_needed": ModuleNeeded,
        "module_data": ModuleData,
        "job_result": JobResult,
        "job_failed": JobFailed,
        "job_request_checkpoint": JobRequest,
        "job_request_resume": JobRequest,
        "job_checkpoint": JobCheckpoint,
        "job_suspend": JobSuspend,
        "job_suspended": JobSuspended,
    }
    for name, text in v["job_messages"].items():
        message = decode(text.encode())
        assert type(message) is kinds[name]
        assert encode(message).decode() == text
    result = decode(v["job_messages"]["job_result"].encode())
    assert isinstance(result, JobResult)
    assert SignedResult.from_json(result.result).is_valid()


def test_signal_offer(v: dict[str, Any]) -> None:
    case = v["signal_offer"]
    offer = SignalMessage.from_json(case["wire"])
    assert offer.to_json() == case["wire"]
    signed = signing.signed_bytes(SIGNAL_DOMAIN, offer.fields())
    assert signed.decode() == case["signed_bytes"]
    me = v["accounts"]["worker"]["address"]
    check_signal(offer, kind="offer", me=me, now=case["now_ms"])
    wrapped = SignalMessage.from_json({**case["wire"], "signature": case["wrapped_signature"]})
    with pytest.raises(SignalingError, match="not signed"):
        check_signal(wrapped, kind="offer", me=me, now=case["now_ms"])


def test_dht_record_and_keys(v: dict[str, Any]) -> None:
    case = v["dht_record"]
    record = CapabilityRecord.from_json(case["wire"])
    record.verify(now=case["now_ms"])
    assert record.to_json() == case["wire"]
    signed = signing.signed_bytes(signing.DHT_RECORD_DOMAIN, record.fields())
    assert signed.decode() == case["signed_bytes"]
    assert encode_records([record]) == case["value"]
    assert decode_records(case["value"]) == ([record], 0)
    assert DEFAULT_KEYING.announce_key(record.capability).hex() == case["announce_key"]
    k = case["key_of"]
    assert DEFAULT_KEYING.key(k["task_type"], k["speed_tier"], k["price_tier"]).hex() == k["key"]
    q = case["lookup"]
    keys = DEFAULT_KEYING.lookup_keys(
        q["task_type"], min_speed=q["min_speed"], max_price=q["max_price"]
    )
    assert [x.hex() for x in keys] == q["keys"]
    assert record.capability == Capability("wasm", 250_000_000, 1)


def test_job_spec(v: dict[str, Any]) -> None:
    text = v["job_spec"]["text"]
    assert JobSpec.decode(text).encode().decode() == text


def test_version_1_forms_are_refused_clearly(v: dict[str, Any]) -> None:
    old = v["version_1_refused"]
    with pytest.raises(MalformedMessageError, match="since protocol version 2, u64 and u128"):
        decode(old["job_request"].encode())
    wire = {**v["signed_result"]["wire"], "task_id": old["signed_result_task_id"]}
    with pytest.raises(MalformedMessageError, match="JSON number"):
        SignedResult.from_json(wire)
    beat = {**v["heartbeat"]["wire"], "timestamp_ms": old["heartbeat_timestamp_ms"]}
    with pytest.raises(MalformedMessageError, match="JSON number"):
        Heartbeat.from_json(beat)
    with pytest.raises(MalformedMessageError, match="version 1.*takes version 2"):
        JobSpec.decode(old["job_spec"])
    assert decode_records(old["dht_value"]) == ([], 1)
    numbers = {**v["dht_record"]["wire"], "min_speed": 250_000_000}
    with pytest.raises(InvalidRecordError, match="JSON number"):
        CapabilityRecord.from_json(numbers)
    offer = {k: val for k, val in v["signal_offer"]["wire"].items() if k != "v"}
    with pytest.raises(SignalingError, match="protocol version 1 is not spoken here") as err:
        SignalMessage.from_json(offer)
    assert err.value.status == 400


@pytest.mark.parametrize(
    "text",
    [
        '{"type":"module_needed","job_id":"000102030405060708090a0b0c0d0e0f","job_id":"00"}',
        '{"type":"job_failed","job_id":"000102030405060708090a0b0c0d0e0f","code":"x",'
        '"message":"m","fuel_used":NaN}',
        '{"type":"module_needed","job_id":"000102030405060708090A0B0C0D0E0F",'
        '"module_hash":"' + "00" * 32 + '"}',
        '{"type":"module_data","job_id":"000102030405060708090a0b0c0d0e0f","module":null}',
        '{"type":"job_request","job_id":"000102030405060708090a0b0c0d0e0f","module_hash":"'
        + "00" * 32
        + '","input":"","timeout_ms":"30000"}',
        '{"type":"job_request","job_id":"000102030405060708090a0b0c0d0e0f","module_hash":"'
        + "00" * 32
        + '","input":"","memory_bytes":4294967296}',
        '{"type":"heartbeat","heartbeat":{}}',
    ],
)
def test_strict_json(text: str) -> None:
    # Repeated keys, NaN, uppercase hex, null where not allowed, a u32 as a string, a
    # u32 over 2**32-1, a heartbeat where a job message belongs.
    with pytest.raises(MalformedMessageError):
        decode(text.encode())


def test_the_document_names_every_code_domain_type_and_label(repo_root: Path) -> None:
    doc = (repo_root / "docs" / "protocol.md").read_text()
    for code in FAILURE_CODES:
        assert f"`{code.value}`" in doc, code
    for tag in signing.DOMAINS.values():
        assert f"`{tag.decode().replace(chr(0), chr(92) + '0')}`" in doc, tag
    for cls in (
        JobRequest,
        ModuleNeeded,
        ModuleData,
        JobResult,
        JobFailed,
        JobCheckpoint,
        JobSuspend,
        JobSuspended,
    ):
        assert f'"{cls.TYPE}"' in doc, cls.TYPE
    assert f'"{HEARTBEAT_TYPE}"' in doc
    for label in DEFAULT_LABELS:
        assert f'"{label}"' in doc, label
    assert "tests/vectors/protocol.json" in doc
