"""The native Groth16 verifier (the ``ccnet-groth16`` crate through its extension,
``ccnet_groth16``) on the cases it shares with the py_ecc reference and the crate's own
tests: the same decision and the same reason for each."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ccnet.zk import NativeVerifier, ReferenceVerifier

VECTORS = Path(__file__).resolve().parents[1] / "vectors"
CASES: list[dict[str, Any]] = json.loads((VECTORS / "zk_groth16_cases.json").read_text())["cases"]


@pytest.fixture(scope="module")
def stored() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((VECTORS / "zk_groth16.json").read_text())
    return data


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_the_extension_decides_each_shared_case_for_its_reason(case: dict[str, Any]) -> None:
    import ccnet_groth16

    key = ccnet_groth16.VerifyingKey(bytes.fromhex(case["key"]))
    got = key.rejection(bytes.fromhex(case["proof"]), bytes.fromhex(case["inputs"]))
    assert got == (None if case["valid"] else case["rejected_as"])


def test_a_malformed_key_is_a_value_error_naming_the_fault() -> None:
    import ccnet_groth16

    key = bytearray.fromhex(CASES[0]["key"])
    with pytest.raises(ValueError, match="verification key: Length"):
        ccnet_groth16.VerifyingKey(bytes(key[:-1]))
    key[63] ^= 1
    with pytest.raises(ValueError, match="verification key: NotOnCurve"):
        ccnet_groth16.VerifyingKey(bytes(key))
    assert ccnet_groth16.VerifyingKey(bytes.fromhex(CASES[0]["key"])).public_inputs == 4


def test_native_and_reference_agree_on_the_json_forms(stored: dict[str, Any]) -> None:
    native, reference = NativeVerifier(), ReferenceVerifier()
    vk, proof, signals = stored["vkey"], stored["proof"], stored["publicSignals"]
    other = [str(int(signals[0]) + 1), *signals[1:]]
    for sigs, valid in ((signals, True), (other, False), (signals[:-1], False)):
        assert native.verify(vk, sigs, proof) is valid
        assert reference.verify(vk, sigs, proof) is valid
    assert native.rejection(vk, other, proof) == "Invalid"
    assert native.rejection(vk, signals[:-1], proof) == "InputCount"
    assert native.rejection(vk, ["-1", *signals[1:]], proof) == "Malformed"
    assert native.rejection(vk, signals, {"pi_a": proof["pi_a"]}) == "Malformed"
    origin = {**proof, "pi_a": ["0", "0", "1"]}  # off the curve, not infinity
    assert native.rejection(vk, signals, origin) == "Malformed"
    assert reference.verify(vk, signals, origin) is False


def test_a_key_is_prepared_once_and_kept(stored: dict[str, Any]) -> None:
    native = NativeVerifier()
    for _ in range(3):
        assert native.verify(stored["vkey"], stored["publicSignals"], stored["proof"])
    assert len(native._keys) == 1
