"""Capability records: signing, verification, staleness, keying and the merging storage."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ccnet.client import Keypair
from ccnet.client.net.dht import RecordStorage
from ccnet.client.net.exceptions import InvalidRecordError
from ccnet.client.net.records import (
    DEFAULT_KEYING,
    RECORD_TTL_MS,
    Capability,
    CapabilityKeying,
    CapabilityRecord,
    decode_records,
    encode_records,
    merge_records,
)

NOW = 1_700_000_000_000
ENDPOINT = "http://127.0.0.1:8000/offer"
CAP = Capability("sha256sum", min_speed=5 * 10**8, max_price_planck_per_fuel=40)


def record(key: Keypair, cap: Capability = CAP, *, at: int = NOW) -> CapabilityRecord:
    return CapabilityRecord.create(key, cap, ENDPOINT, timestamp_ms=at)


def test_a_signed_record_verifies(net_worker: Keypair) -> None:
    rec = record(net_worker)
    assert rec.worker == net_worker.ss58_address
    rec.verify(now=NOW + 1000)
    assert CapabilityRecord.from_json(json.loads(json.dumps(rec.to_json()))) == rec


@pytest.mark.parametrize(
    "change",
    [
        {"max_price_planck_per_fuel": 1},
        {"min_speed": 10**12},
        {"endpoint": "http://127.0.0.1:6666/offer"},
        {"task_type": "resize"},
        {"timestamp_ms": NOW + 1},
    ],
)
def test_a_tampered_record_is_invalid(net_worker: Keypair, change: dict[str, object]) -> None:
    tampered = replace(record(net_worker), **change)  # type: ignore[arg-type]
    with pytest.raises(InvalidRecordError, match="bad signature"):
        tampered.verify(now=NOW)


def test_an_unsigned_record_is_invalid(net_worker: Keypair) -> None:
    unsigned = replace(record(net_worker), signature="")
    assert not unsigned.is_valid(now=NOW)
    zero = replace(record(net_worker), signature="0x" + "00" * 64)
    assert not zero.is_valid(now=NOW)


def test_a_record_claiming_another_worker_is_invalid(
    net_worker: Keypair, net_intruder: Keypair
) -> None:
    forged = replace(record(net_intruder), worker=net_worker.ss58_address)
    assert not forged.is_valid(now=NOW)


def test_a_stale_record_is_invalid(net_worker: Keypair) -> None:
    rec = record(net_worker)
    rec.verify(now=NOW + RECORD_TTL_MS)
    with pytest.raises(InvalidRecordError, match="stale"):
        rec.verify(now=NOW + RECORD_TTL_MS + 1)


def test_a_record_from_the_future_is_invalid(net_worker: Keypair) -> None:
    with pytest.raises(InvalidRecordError, match="ahead"):
        record(net_worker, at=NOW + 120_000).verify(now=NOW)


@pytest.mark.parametrize(
    "obj",
    [
        None,
        [],
        {"worker": "x"},
        {
            **dict.fromkeys(
                (
                    "worker",
                    "task_type",
                    "min_speed",
                    "max_price_planck_per_fuel",
                    "endpoint",
                    "timestamp_ms",
                    "signature",
                ),
                1,
            )
        },
    ],
)
def test_malformed_json_is_refused(obj: object) -> None:
    with pytest.raises(InvalidRecordError):
        CapabilityRecord.from_json(obj)


@pytest.mark.parametrize(
    ("task_type", "speed", "price"),
    [("", 1, 1), ("Upper", 1, 1), ("ok", -1, 1), ("ok", 1, True), ("ok", 2**64, 1)],
)
def test_bad_capabilities_are_refused(task_type: str, speed: int, price: int) -> None:
    with pytest.raises(InvalidRecordError):
        Capability(task_type, speed, price)


def test_bad_endpoint_is_refused(net_worker: Keypair) -> None:
    with pytest.raises(InvalidRecordError, match="endpoint"):
        CapabilityRecord.create(net_worker, CAP, "ftp://x", timestamp_ms=NOW)


@given(
    speed=st.integers(0, 10**10),
    price=st.integers(0, 10**4),
    want_speed=st.integers(0, 10**10),
    want_price=st.one_of(st.none(), st.integers(0, 10**4)),
)
def test_lookup_keys_cover_every_satisfying_capability(
    speed: int, price: int, want_speed: int, want_price: int | None
) -> None:
    cap = Capability("sha256sum", speed, price)
    keys = DEFAULT_KEYING.lookup_keys("sha256sum", min_speed=want_speed, max_price=want_price)
    assert len(keys) == len(set(keys)) <= 16
    if cap.satisfies(min_speed=want_speed, max_price=want_price):
        assert DEFAULT_KEYING.announce_key(cap) in keys


def test_keys_depend_on_task_type_and_tiers() -> None:
    keying = DEFAULT_KEYING
    base = keying.announce_key(CAP)
    assert len(base) == 20
    assert keying.announce_key(replace(CAP, task_type="resize")) != base
    assert keying.announce_key(replace(CAP, min_speed=5)) != base
    assert keying.announce_key(replace(CAP, min_speed=6 * 10**8)) == base  # same tier
    with pytest.raises(ValueError):
        CapabilityKeying(speed_edges=(1, 2))


def test_merge_keeps_the_newest_per_worker_and_task(
    net_worker: Keypair, net_requester: Keypair
) -> None:
    old, new = record(net_worker, at=NOW), record(net_worker, at=NOW + 5)
    other = record(net_requester, at=NOW + 1)
    assert merge_records([old, other, new]) == [new, other]
    assert merge_records([old, other, new], limit=1) == [new]


def test_values_round_trip_and_garbage_decodes_to_nothing(net_worker: Keypair) -> None:
    rec = record(net_worker)
    assert decode_records(encode_records([rec])) == ([rec], 0)
    assert decode_records(encode_records([rec]).encode()) == ([rec], 0)
    for junk in (b"\xff", "not json", "[]", '{"v":2,"records":[]}', 7, None):
        assert decode_records(junk) == ([], 0)
    assert decode_records('{"v":1,"records":[{"a":1}]}') == ([], 1)


def key_of(rec: CapabilityRecord) -> bytes:
    return DEFAULT_KEYING.announce_key(rec.capability)


def test_storage_merges_workers_instead_of_overwriting(
    net_worker: Keypair, net_requester: Keypair
) -> None:
    storage = RecordStorage(clock=lambda: NOW)
    a, b = record(net_worker), record(net_requester)
    assert storage.store(key_of(a), encode_records([a]))
    assert storage.store(key_of(b), encode_records([b]))
    assert set(storage.records(key_of(a))) == {a, b}
    newer = record(net_worker, at=NOW + 10)
    storage[key_of(a)] = encode_records([newer])
    assert set(decode_records(storage[key_of(a)])[0]) == {newer, b}
    assert dict(iter(storage)) == {key_of(a): storage[key_of(a)]}


def test_storage_refuses_tampered_unsigned_stale_and_misfiled_records(
    net_worker: Keypair,
) -> None:
    storage = RecordStorage(clock=lambda: NOW)
    good = record(net_worker)
    bad = [
        replace(good, max_price_planck_per_fuel=1),
        replace(good, signature=""),
        record(net_worker, at=NOW - RECORD_TTL_MS - 1),
    ]
    for rec in bad:
        assert not storage.store(key_of(good), encode_records([rec]))
    assert not storage.store(b"\x00" * 20, encode_records([good]))  # not its key
    assert not storage.store(key_of(good), "garbage")
    assert storage.get(key_of(good)) is None
    assert storage.rejected == 4
    with pytest.raises(KeyError):
        storage[key_of(good)]


def test_storage_forgets_records_as_they_go_stale(net_worker: Keypair) -> None:
    clock = [NOW]
    storage = RecordStorage(clock=lambda: clock[0])
    rec = record(net_worker)
    assert storage.store(key_of(rec), encode_records([rec]))
    clock[0] = NOW + RECORD_TTL_MS + 1
    assert storage.records(key_of(rec)) == []
    assert list(storage) == []
    assert storage.iter_older_than(0) == []


def test_storage_values_fit_one_datagram() -> None:
    from ccnet.client import Keys

    storage = RecordStorage(clock=lambda: NOW, max_value_bytes=2000)
    key = key_of(record(Keys.from_uri("//w0")))
    for i in range(30):
        rec = record(Keys.from_uri(f"//w{i}"), at=NOW + i)
        storage.store(key, encode_records([rec]))
    value = storage[key]
    assert len(value) <= 2000
    kept = decode_records(value)[0]
    assert kept[0].timestamp_ms == NOW + 29  # newest kept first
