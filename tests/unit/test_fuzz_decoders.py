"""Every fuzz target of ``tests/fuzz`` on a thousand seeded inputs (the same inputs every
run; the coverage-guided libFuzzer runs are ``benches/fuzz_decoders.py``). A finding
fails the test with its input, so that it can become a regression test
(``test_fuzz_regressions.py``)."""

from __future__ import annotations

import zlib
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:  # mypy sees the checkout's tests package; pytest puts tests/ on sys.path
    from tests.fuzz import TARGETS
    from tests.fuzz.channels import ChannelMessages
    from tests.fuzz.harness import Finding, load, run_seeded, source
    from tests.fuzz.mutate import Mutator, dump
else:
    from fuzz import TARGETS
    from fuzz.channels import ChannelMessages
    from fuzz.harness import Finding, load, run_seeded, source
    from fuzz.mutate import Mutator, dump

INPUTS = 1_000
"""Inputs per target (under a second each on a quiet machine)."""
SLOW = {"channel_admission": 400}
"""Targets that hand every input to a party with a store take fewer."""


def report(findings: list[Finding]) -> str:
    return "\n\n".join(f"{f.error}\n{f.where}input: {f.data.hex()}" for f in findings[:3])


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_seeded_inputs_find_nothing(name: str, tmp_path: Path) -> None:
    target = load(name, tmp_path)
    try:
        findings = run_seeded(target, inputs=SLOW.get(name, INPUTS), seed=zlib.crc32(name.encode()))
    finally:
        target.close()
    assert not findings, f"{len(findings)} findings:\n{report(findings)}"


def test_an_exhausted_source_gives_the_seed_unchanged() -> None:
    seeds = [{"type": "countersign", "version": 1}, {"type": "reject"}]
    assert Mutator(source(b"")).json_input(seeds) == dump(seeds[0]).encode()


def test_a_decoder_that_raises_an_untyped_error_is_a_finding(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The harness is not vacuous: a decoder that lets an untyped error out (here a
    # TypeError from a body that holds a 5) is reported.
    import ccnet.channels.messages as messages

    real = messages.json.loads

    def loads(text: str, **kwargs: object) -> object:
        if "5" in text:
            raise TypeError("planted")
        return real(text, **kwargs)  # type: ignore[arg-type]

    target = ChannelMessages(tmp_path)
    monkeypatch.setattr(messages.json, "loads", loads)
    findings = run_seeded(target, inputs=50, seed=1)
    assert findings and all("planted" in f.error for f in findings)
