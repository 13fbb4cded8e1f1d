"""Make the wire-protocol test vectors of docs/protocol.md: tests/vectors/protocol.json.

``python scripts/protocol_vectors.py`` prints them; ``--write`` writes the file. The
vectors are the exact bytes our code produces for fixed inputs (frames, job messages,
signed payloads, canonical JSON, DHT keys, hashes) and one valid signature for each
signed message (sr25519 signatures are randomised, so a second implementation checks
that ours verify rather than reproducing them). Signatures already in the file are kept
while they still verify, so rewriting does not churn them.
tests/unit/test_protocol_vectors.py checks the file against the code.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from ccnet.client import signing
from ccnet.client.codec import PROTOCOL_VERSION, encode_scale, hexed
from ccnet.client.jobs.catalogue import module_hash
from ccnet.client.jobs.heartbeat import Heartbeat, HeartbeatMetrics
from ccnet.client.jobs.jobspec import JobSpec
from ccnet.client.jobs.messages import (
    CheckpointSpec,
    JobCheckpoint,
    JobFailed,
    JobRequest,
    JobResult,
    JobSuspend,
    JobSuspended,
    ModuleData,
    ModuleNeeded,
    ResumeSpec,
    encode,
    encode_heartbeat,
)
from ccnet.client.jobs.results import SignedResult, input_hash, output_hash
from ccnet.client.keys import Keys
from ccnet.client.net.framing import FrameKind, encode_frame
from ccnet.client.net.records import (
    DEFAULT_KEYING,
    Capability,
    CapabilityRecord,
    encode_records,
)
from ccnet.client.net.signaling import SIGNAL_DOMAIN, SignalMessage

PATH = Path(__file__).resolve().parent.parent / "tests" / "vectors" / "protocol.json"

REQUESTER = Keys.from_uri("//Alice")
WORKER = Keys.from_uri("//Bob")
NOW_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z
JOB_ID = bytes(range(16))
CHANNEL_ID = b"\xc0" * 32
MODULE = b"\0asm\x01\0\0\0"  # the smallest Wasm binary: the header alone
CHECKPOINT_KEY = bytes(range(32, 64))
STATE_HASH = b"\x5e" * 32
ARWEAVE_TX_ID = "bNbA3TEQVL60xlgCcqdz4ZPHFZ711cZ3hmkpGttDt_U"
ARGS = ("1000", "é")
STDIN = b"stdin bytes"
OUTPUT = b"168\n"
SDP = (
    "v=0\r\n"
    "o=- 3951264000 3951264000 IN IP4 0.0.0.0\r\n"
    "s=-\r\n"
    "t=0 0\r\n"
    "a=group:BUNDLE 0\r\n"
    "m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n"
    "c=IN IP4 0.0.0.0\r\n"
    "a=mid:0\r\n"
    "a=sctp-port:5000\r\n"
    "a=max-message-size:65536\r\n"
    "a=candidate:1 1 UDP 2130706431 127.0.0.1 50000 typ host\r\n"
    "a=end-of-candidates\r\n"
    "a=ice-ufrag:abcd\r\n"
    "a=ice-pwd:abcdefghijklmnopqrstuvwx\r\n"
    "a=fingerprint:sha-256 " + ":".join(["AB"] * 32) + "\r\n"
    "a=setup:actpass\r\n"
)


def _text(data: bytes) -> str:
    return data.decode("ascii")


def _signature(
    old: dict[str, Any] | None, key: str, public_key: bytes, message: bytes, keypair: Any
) -> str:
    """The signature in *old* under *key* if it still verifies over *message*, else a new
    one."""
    if old is not None and isinstance(old.get(key), str):
        previous = bytes.fromhex(old[key][2:])
        if signing.verify(public_key, message, previous):
            return str(old[key])
    return hexed(signing.sign(keypair, message))


def _wrapped(old: dict[str, Any] | None, keypair: Any, message: bytes) -> str:
    """A signature over ``<Bytes>`` + message + ``</Bytes>`` (polkadot-js signRaw): it
    must fail everywhere (the one in *old* while it is still such a signature)."""
    wrapped = b"<Bytes>" + message + b"</Bytes>"
    return _signature(old, "wrapped_signature", bytes(keypair.public_key), wrapped, keypair)


def vectors(old: dict[str, Any] | None = None) -> dict[str, Any]:
    """Every vector (see the module docs); *old* is the current file, if any."""
    old = old or {}
    out: dict[str, Any] = {"protocol_version": PROTOCOL_VERSION}

    out["accounts"] = {
        name: {
            "uri": uri,
            "public_key": hexed(bytes(key.public_key)),
            "address": str(key.ss58_address),
        }
        for name, uri, key in (
            ("requester", "//Alice", REQUESTER),
            ("worker", "//Bob", WORKER),
        )
    }
    out["domains"] = {name: _text(tag) for name, tag in signing.DOMAINS.items()}

    sample = {"b": "caf\u00e9 \u2713", "a": [1, "18446744073709551615", None, True], "c": {}}
    out["canonical_json"] = {
        "value": sample,
        "bytes": _text(signing.canonical_json(sample)),
    }

    out["hashes"] = {
        "module": {"wasm_hex": MODULE.hex(), "module_hash": hexed(module_hash(MODULE))},
        "input": {
            "args": list(ARGS),
            "stdin_hex": STDIN.hex(),
            "args_scale": hexed(encode_scale("Vec<Vec<u8>>", [a.encode() for a in ARGS])),
            "input_hash": hexed(input_hash(ARGS, STDIN)),
        },
        "output": {"output_hex": OUTPUT.hex(), "output_hash": hexed(output_hash(OUTPUT))},
    }

    frames = []
    for kind, payload in (
        (FrameKind.DATA, b'{"type":"module_needed"}'),
        (FrameKind.KEEPALIVE, b""),
        (FrameKind.CLOSE, b""),
    ):
        frames.append(
            {
                "kind": kind.name,
                "payload_hex": payload.hex(),
                "frame_hex": encode_frame(kind, payload).hex(),
            }
        )
    out["frames"] = frames

    result = SignedResult(
        task_id=42,
        module_hash=module_hash(MODULE),
        input_hash=input_hash(ARGS, STDIN),
        output_hash=output_hash(OUTPUT),
        fuel_used=195_144_110,
        worker=str(WORKER.ss58_address),
        signature=b"\0" * 64,
    )
    payload = result.signing_payload()
    old_result = old.get("signed_result")
    signature = _signature(old_result, "signature", bytes(WORKER.public_key), payload, WORKER)
    result = SignedResult(**{**result.__dict__, "signature": bytes.fromhex(signature[2:])})
    out["signed_result"] = {
        "payload": hexed(payload),
        "payload_size": len(payload),
        "signature": signature,
        "wrapped_signature": _wrapped(old_result, WORKER, payload),
        "wire": result.to_json(),
    }

    metrics = HeartbeatMetrics(
        jobs_running=1,
        jobs_completed=2**40,
        jobs_failed=3,
        fuel_used=2**70,
        speed_milli=1234,
        memory_free_bytes=256 * 1024 * 1024,
        uptime_ms=2**53 + 1,
    )
    nonce = bytes(range(16, 32))
    unsigned = Heartbeat(str(WORKER.ss58_address), NOW_MS, nonce, metrics, b"\0" * 64)
    payload = unsigned.signing_payload()
    old_beat = old.get("heartbeat")
    signature = _signature(old_beat, "signature", bytes(WORKER.public_key), payload, WORKER)
    beat = Heartbeat(unsigned.worker, NOW_MS, nonce, metrics, bytes.fromhex(signature[2:]))
    out["heartbeat"] = {
        "payload": hexed(payload),
        "payload_size": len(payload),
        "signature": signature,
        "wire": beat.to_json(),
        "message": _text(encode_heartbeat(beat)),
    }

    request = JobRequest(
        job_id=JOB_ID,
        module_hash=module_hash(MODULE),
        input=STDIN,
        args=ARGS,
        module=MODULE,
        fuel_limit=10**10,
        timeout_ms=30_000,
        memory_bytes=64 * 1024 * 1024,
        rate_planck_per_fuel=2,
        seed=b"\x2a",
        proof="billing",
        channel_id=CHANNEL_ID,
        task_id=42,
    )
    messages = {
        "job_request": request,
        "job_request_minimal": JobRequest(
            job_id=JOB_ID, module_hash=module_hash(MODULE), input=b""
        ),
        "module_needed": ModuleNeeded(JOB_ID, module_hash=module_hash(MODULE)),
        "module_data": ModuleData(JOB_ID, module=MODULE),
        "job_result": JobResult(JOB_ID, output=OUTPUT, result=result.to_json(), proof=None),
        "job_failed": JobFailed(
            JOB_ID, code="out-of-fuel", message="fuel exhausted", fuel_used=10**10
        ),
        "job_request_checkpoint": JobRequest(
            job_id=JOB_ID,
            module_hash=module_hash(MODULE),
            input=b"",
            checkpoint=CheckpointSpec(every_fuel=10**9, key=CHECKPOINT_KEY),
        ),
        "job_request_resume": JobRequest(
            job_id=JOB_ID,
            module_hash=module_hash(MODULE),
            input=b"",
            checkpoint=CheckpointSpec(every_fuel=10**9, key=CHECKPOINT_KEY),
            resume=ResumeSpec(
                owner=str(WORKER.ss58_address),
                job_id=bytes(range(16, 32)),  # the suspended segment's request
                checkpoint=2,
                arweave_tx_id=ARWEAVE_TX_ID,
                state_hash=STATE_HASH,
                size=70_000,
                key=CHECKPOINT_KEY,
            ),
        ),
        "job_checkpoint": JobCheckpoint(
            JOB_ID,
            checkpoint=1,
            fuel_used=1_000_000_792,
            state_hash=STATE_HASH,
            arweave_tx_id=ARWEAVE_TX_ID,
            size=70_000,
        ),
        "job_suspend": JobSuspend(JOB_ID),
        "job_suspended": JobSuspended(
            JOB_ID,
            checkpoint=2,
            fuel_used=1_500_001_584,
            state_hash=STATE_HASH,
            arweave_tx_id=ARWEAVE_TX_ID,
            size=70_000,
            segment_fuel=1_500_001_584,
        ),
    }
    out["job_messages"] = {name: _text(encode(message)) for name, message in messages.items()}

    offer = SignalMessage(
        kind="offer",
        sdp=SDP,
        fingerprint="sha-256 " + ":".join(["AB"] * 32),
        signer=str(REQUESTER.ss58_address),
        peer=str(WORKER.ss58_address),
        timestamp_ms=NOW_MS,
        nonce="00112233445566778899aabbccddeeff",
        labels=("tasks", "channels"),
        reply_to="",
        signature="",
    )
    signed = signing.signed_bytes(SIGNAL_DOMAIN, offer.fields())
    old_offer = old.get("signal_offer")
    signature = _signature(old_offer, "signature", bytes(REQUESTER.public_key), signed, REQUESTER)
    out["signal_offer"] = {
        "now_ms": NOW_MS,
        "signed_bytes": signed.decode("ascii"),
        "signature": signature,
        "wrapped_signature": _wrapped(old_offer, REQUESTER, signed),
        "wire": {**offer.fields(), "signature": signature},
    }

    capability = Capability("wasm", 250_000_000, 1)
    unsigned_record = CapabilityRecord(
        worker=str(WORKER.ss58_address),
        task_type=capability.task_type,
        min_speed=capability.min_speed,
        max_price_planck_per_fuel=capability.max_price_planck_per_fuel,
        endpoint="http://127.0.0.1:9100/offer",
        timestamp_ms=NOW_MS,
        signature="",
    )
    signed = signing.signed_bytes(signing.DHT_RECORD_DOMAIN, unsigned_record.fields())
    old_record = old.get("dht_record")
    signature = _signature(old_record, "signature", bytes(WORKER.public_key), signed, WORKER)
    record = CapabilityRecord(**{**_record_fields(unsigned_record), "signature": signature})
    out["dht_record"] = {
        "now_ms": NOW_MS,
        "signed_bytes": signed.decode("ascii"),
        "signature": signature,
        "wire": record.to_json(),
        "value": encode_records([record]),
        "announce_key": DEFAULT_KEYING.announce_key(capability).hex(),
        "key_of": {
            "task_type": "wasm",
            "speed_tier": 2,
            "price_tier": 0,
            "key": DEFAULT_KEYING.key("wasm", 2, 0).hex(),
        },
        "lookup": {
            "task_type": "wasm",
            "min_speed": 100_000_000,
            "max_price": 10,
            "keys": [
                k.hex() for k in DEFAULT_KEYING.lookup_keys("wasm", min_speed=10**8, max_price=10)
            ],
        },
    }

    spec = JobSpec.inline(module_hash(MODULE), STDIN, ARGS, fuel=10**10, seed=b"\x2a")
    out["job_spec"] = {"text": spec.encode().decode("ascii")}

    out["version_1_refused"] = {
        "job_request": '{"type":"job_request","job_id":"'
        + JOB_ID.hex()
        + '","module_hash":"'
        + module_hash(MODULE).hex()
        + '","input":"","fuel_limit":10000000000}',
        "signed_result_task_id": 42,
        "heartbeat_timestamp_ms": NOW_MS,
        "dht_value": '{"records":[],"v":1}',
        "job_spec": '{"input":"b64:","module":"' + module_hash(MODULE).hex() + '","v":1}',
    }
    return out


def _record_fields(record: CapabilityRecord) -> dict[str, Any]:
    return {
        "worker": record.worker,
        "task_type": record.task_type,
        "min_speed": record.min_speed,
        "max_price_planck_per_fuel": record.max_price_planck_per_fuel,
        "endpoint": record.endpoint,
        "timestamp_ms": record.timestamp_ms,
    }


def render(data: dict[str, Any]) -> str:
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=True) + "\n"


def main(argv: list[str]) -> int:
    old = json.loads(PATH.read_text()) if PATH.is_file() else None
    text = render(vectors(old))
    if "--write" in argv:
        PATH.write_text(text)
        print(f"wrote {PATH}")
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
