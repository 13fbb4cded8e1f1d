"""What the decoder fuzzers (``tests/fuzz``) found, one test per finding, each with the
smallest input that showed it: every decoder now answers with its typed error, and
every identity or signature has one spelling."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
from dataclasses import replace

import pytest
from substrateinterface import Keypair, KeypairType

from ccnet.channels import MalformedMessageError as ChannelMalformed
from ccnet.channels import decode as decode_frame
from ccnet.client import signing
from ccnet.client.exceptions import MalformedMessageError
from ccnet.client.jobs.exceptions import ReplayedHeartbeatError
from ccnet.client.jobs.heartbeat import Heartbeat, HeartbeatMetrics, HeartbeatVerifier
from ccnet.client.jobs.jobspec import JobSpec
from ccnet.client.jobs.messages import decode, decode_heartbeat
from ccnet.client.jobs.results import SignedResult
from ccnet.client.net.exceptions import InvalidRecordError, SignalingError
from ccnet.client.net.records import Capability, CapabilityRecord, decode_records
from ccnet.client.net.signaling import SignalMessage

WORKER = Keypair.create_from_uri("//Bob", ss58_format=42, crypto_type=KeypairType.SR25519)
HUGE = "9" * 5000
"""A JSON integer over Python's 4,300-digit limit: json raises a bare ValueError."""
DEEP = "[" * 100_000
"""Nesting that json gives up on with RecursionError."""
JOB_ID = "00" * 16


def frame(body: str) -> bytes:
    data = body.encode()
    return struct.pack(">I", len(data)) + data


# -- channel frames --------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        '{"type":"countersign","channel_id":' + HUGE + "}",
        '{"type":"countersign","channel_id":"0x' + "00" * 32 + '","version":' + HUGE + "}",
    ],
)
def test_channel_frame_with_a_huge_integer_is_malformed(body: str) -> None:
    with pytest.raises(ChannelMalformed, match="not UTF-8 JSON"):
        decode_frame(frame(body))


# -- job messages, results, heartbeats, specs ------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        '{"type":"module_needed","job_id":' + HUGE + "}",
        '{"type":{}}',
        '{"type":["job_failed"]}',
        '{"type":"job_result","job_id":"' + JOB_ID + '","output":"","result":{"x":1e400}}',
        '{"type":"job_result","job_id":"' + JOB_ID + '","output":"","proof":{"x":-1e400}}',
    ],
)
def test_job_message_refusals_are_typed(text: str) -> None:
    # A huge integer and an unhashable type were a ValueError and a TypeError; 1e400
    # parsed as inf, which the receiver could not encode again.
    with pytest.raises(MalformedMessageError):
        decode(text.encode())


def test_a_heartbeat_message_with_a_huge_integer_is_not_a_heartbeat() -> None:
    assert decode_heartbeat(('{"type":"heartbeat","heartbeat":' + HUGE + "}").encode()) is None


@pytest.mark.parametrize(
    "changes",
    [{"module_ar": 5}, {"module_ar": ["tx"]}, {"input_hash": "00"}, {"input_hash": "ab" * 33}],
)
def test_job_spec_fields_have_their_types(changes: dict[str, object]) -> None:
    body = json.loads(JobSpec.inline(b"\x01" * 32, b"stdin").encode()) | changes
    with pytest.raises(MalformedMessageError, match="job spec"):
        JobSpec.decode(json.dumps(body))


# -- one spelling per identity and per signature ---------------------------------------


@pytest.mark.parametrize("suffix", ["\n", "\t", "\r\n", "\x0b"])
def test_an_address_with_trailing_whitespace_is_not_an_identity(suffix: str) -> None:
    # base58 skips trailing whitespace, so "5F...\n" decoded to the same key.
    address = WORKER.ss58_address
    assert signing.public_key_of(address) == bytes(WORKER.public_key)
    with pytest.raises(MalformedMessageError, match="canonical"):
        signing.public_key_of(address + suffix)
    assert not signing.is_address(address + suffix)


@pytest.mark.parametrize("address", [" ", "\n", "\t \n"])
def test_a_blank_address_is_malformed(address: str) -> None:
    # scalecodec's ss58_decode raised IndexError on what base58 strips to nothing.
    with pytest.raises(MalformedMessageError):
        signing.public_key_of(address)
    assert not signing.is_address(address)
    wire = {"v": 2, "signer": address}
    with pytest.raises(SignalingError):
        SignalMessage.from_json(json.loads(offer_body()) | wire)


def test_a_heartbeat_cannot_be_replayed_under_another_spelling_of_its_worker() -> None:
    beat = Heartbeat.create(WORKER, HeartbeatMetrics(), timestamp_ms=1_000, nonce=b"\x01" * 16)
    verifier = HeartbeatVerifier(clock=lambda: 1_000)
    verifier.accept(beat)
    with pytest.raises(ReplayedHeartbeatError):
        verifier.accept(beat)
    wire = beat.to_json() | {"worker": beat.worker + "\n"}
    with pytest.raises(MalformedMessageError):  # it passed the replay check before
        verifier.accept(Heartbeat.from_json(wire))


def test_a_result_has_one_worker_spelling() -> None:
    result = SignedResult.create(
        WORKER,
        task_id=7,
        module_hash=b"\x01" * 32,
        input_hash=b"\x02" * 32,
        output_hash=b"\x03" * 32,
        fuel_used=10,
    )
    with pytest.raises(MalformedMessageError):
        SignedResult.from_json(result.to_json() | {"worker": result.worker + "\n"})


def test_signed_json_signatures_are_lowercase_hex() -> None:
    record = CapabilityRecord.create(
        WORKER, Capability("wasm", 1, 1), "http://127.0.0.1:1/offer", timestamp_ms=1_000
    )
    record.verify(now=1_000)
    shouted = replace(record, signature="0x" + record.signature[2:].upper())
    with pytest.raises(InvalidRecordError, match="bad signature"):
        shouted.verify(now=1_000)


# -- signaling bodies ------------------------------------------------------------------


def offer_body(**changes: object) -> bytes:
    signer = Keypair.create_from_uri("//Alice", ss58_format=42, crypto_type=KeypairType.SR25519)
    sdp = "v=0\r\na=fingerprint:sha-256 " + ":".join(["AB"] * 32) + "\r\n"
    offer = SignalMessage.create(
        signer, "offer", sdp, peer=WORKER.ss58_address, labels=["tasks"], timestamp_ms=1
    )
    return json.dumps(offer.to_json() | changes).encode()


@pytest.mark.parametrize(
    "body",
    [
        offer_body(sdp="\ud800"),
        offer_body(labels=[[]]),
        offer_body(labels=[{}, "tasks"]),
        DEEP.encode(),
        HUGE.encode(),
        b"\xff{}",
    ],
    ids=["lone-surrogate-sdp", "list-label", "dict-label", "deep", "huge", "not-utf8"],
)
def test_signaling_bodies_are_refused_with_400(body: bytes) -> None:
    with pytest.raises(SignalingError) as err:
        SignalMessage.decode(body)
    assert err.value.status == 400


def test_a_good_signaling_body_decodes() -> None:
    assert SignalMessage.decode(offer_body()).labels == ("tasks",)


# -- DHT values ------------------------------------------------------------------------


@pytest.mark.parametrize("value", [DEEP, DEEP.encode(), '{"v":2,"records":' + DEEP + "]}"])
def test_a_deeply_nested_dht_value_is_dropped(value: str | bytes) -> None:
    assert decode_records(value) == ([], 0)


# -- the whole process ------------------------------------------------------------------


def test_a_deeply_nested_message_does_not_kill_a_worker_process() -> None:
    # Importing the zk verifier (py_ecc) raised the recursion limit to 100,000; json's C
    # parser then overflowed the C stack on 200,000 "[" and the worker died of SIGSEGV.
    script = (
        "import sys, ccnet.worker.proofs\n"
        "from ccnet.client.jobs.messages import decode\n"
        "from ccnet.client.exceptions import MalformedMessageError\n"
        "try:\n"
        "    decode(b'[' * 200_000)\n"
        "except MalformedMessageError:\n"
        "    print('refused', sys.getrecursionlimit())\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["refused", "1000"]  # Python's default, kept
