"""Structure-aware fuzzing of every decoder that reads bytes from a peer (atheris).

Each target (:data:`TARGETS`) starts from valid messages built with the real encoders
and real keys (fixed seeds), lets the fuzzer's bytes pick how to break them
(:mod:`.mutate`: field by field, then byte by byte), feeds the result to the decoder
and checks its properties: it returns a value or raises the protocol's typed error
(anything else is a crash), valid messages round-trip, a decoded message re-encodes
canonically, and hostile channel messages leave a real party's durable store as it was.

Modules: :mod:`.harness` (the target protocol, seeded and libFuzzer drivers),
:mod:`.mutate` (the mutations), one module per decoder family (:mod:`.channels`,
:mod:`.channel_party`, :mod:`.jobs`, :mod:`.signaling`, :mod:`.records`,
:mod:`.framing`). ``tests/unit/test_fuzz_decoders.py`` runs every target on a few
thousand seeded inputs; ``benches/fuzz_decoders.py`` runs each under libFuzzer.

Targets load lazily (by module and class name), so that a libFuzzer run can import
ccnet under atheris' coverage instrumentation.
"""

from __future__ import annotations

TARGETS: dict[str, str] = {
    "channel_messages": "channels:ChannelMessages",
    "channel_admission": "channel_party:ChannelAdmission",
    "job_messages": "jobs:JobMessages",
    "signed_results": "jobs:SignedResults",
    "heartbeats": "jobs:Heartbeats",
    "job_specs": "jobs:JobSpecs",
    "signaling": "signaling:Signaling",
    "dht_records": "records:DhtRecords",
    "framing": "framing:Framing",
}
"""Target name -> ``module:Class`` in this package."""
