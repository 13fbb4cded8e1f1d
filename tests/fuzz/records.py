"""DHT values of capability records (:mod:`ccnet.client.net.records`).

Seeds: DHT values holding records of :data:`~.peers.BOB` and :data:`~.peers.ALICE`,
signed with their real keys at :data:`~.peers.NOW_MS`. Properties:
:func:`~ccnet.client.net.records.decode_records` never raises (a lookup drops what it
cannot read) and gives records whose fields have their types;
:meth:`~ccnet.client.net.records.CapabilityRecord.from_json` on each item raises only
:class:`~ccnet.client.net.exceptions.InvalidRecordError`, and so does
:meth:`~ccnet.client.net.records.CapabilityRecord.verify`; only an untouched record
verifies; the records re-encode to a value that decodes back equal with nothing dropped.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

from ccnet.client.net.exceptions import InvalidRecordError
from ccnet.client.net.records import (
    Capability,
    CapabilityRecord,
    decode_records,
    encode_records,
)

from .harness import check_fields, require, source
from .mutate import U64, Mutator
from .peers import ALICE, BOB, NOW_MS

__all__ = ["DhtRecords"]


def records() -> list[CapabilityRecord]:
    """Three records: BOB's two task types and ALICE's one, at the edges of the u64s."""
    return [
        CapabilityRecord.create(
            BOB, Capability("wasm", 10**8, 5), "http://127.0.0.1:8080/offer", timestamp_ms=NOW_MS
        ),
        CapabilityRecord.create(
            BOB,
            Capability("zk:groth16", U64, U64),
            "https://worker.example/offer",
            timestamp_ms=NOW_MS - 1,
        ),
        CapabilityRecord.create(
            ALICE, Capability("a", 0, 0), "http://[::1]:1/", timestamp_ms=NOW_MS - 60_000
        ),
    ]


class DhtRecords:
    """A DHT value as a lookup reads it, and each record in it."""

    name = "dht_records"

    def __init__(self, workdir: Path) -> None:
        self.records = records()
        value = json.loads(encode_records(self.records))
        single = [{"v": 2, "records": [item]} for item in value["records"]]
        self.seeds = [value, *single]
        self.keys = sorted({"v", "records", *value["records"][0]})
        require(decode_records(encode_records(self.records)) == (self.records, 0), "seed value")
        self.verifies = functools.lru_cache(maxsize=1 << 14)(self._verifies)
        """Most inputs keep most records as they were: verify each distinct one once."""

    @staticmethod
    def _verifies(record: CapabilityRecord) -> bool:
        try:
            record.verify(now=NOW_MS)
        except InvalidRecordError:
            return False
        return True

    def one(self, data: bytes) -> None:
        mutator = Mutator(source(data), keys=self.keys)
        data = mutator.json_input(self.seeds)
        as_text = mutator.source.ConsumeBool()  # the DHT hands over text or bytes
        value: str | bytes = data.decode("utf-8", "surrogateescape") if as_text else data
        found, dropped = decode_records(value)
        require(dropped >= 0, "a negative count of dropped records")
        for record in found:
            check_fields(record)
            if self.verifies(record):
                require(record in self.records, f"a forged record verified: {record!r}")
        require(decode_records(encode_records(found)) == (found, 0), f"{found!r} round trip")
        if not dropped:  # every item parsed: nothing left to check one by one
            return
        try:
            obj = json.loads(value)
        except (ValueError, RecursionError):
            return
        if isinstance(obj, dict) and isinstance(obj.get("records"), list):
            for item in obj["records"]:
                try:
                    CapabilityRecord.from_json(item)
                except InvalidRecordError:
                    pass

    def close(self) -> None:
        pass
