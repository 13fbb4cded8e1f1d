"""ccnet.zk.artifacts: cache keys, R1CS headers and missing-setup errors, on a fake
checkout in a temp dir (no tools run)."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest

from ccnet.zk.artifacts import PTAU_POWER, R1csInfo, ZkPaths
from ccnet.zk.build import ensure_ptau
from ccnet.zk.exceptions import SetupMissingError, ZkError


@pytest.fixture
def paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ZkPaths:
    monkeypatch.delenv("CCNET_ZK_PTAU", raising=False)
    root = tmp_path / "checkout"
    (root / "zk" / "circuits").mkdir(parents=True)
    (root / "zk" / "circuits" / "billing.circom").write_text("template A() {}\n")
    for tool, version in (("circom2", "0.2.23"), ("circomlib", "2.0.5"), ("snarkjs", "0.7.6")):
        (root / "node_modules" / tool).mkdir(parents=True)
        (root / "node_modules" / tool / "package.json").write_text(json.dumps({"version": version}))
    return ZkPaths(root=root, cache=tmp_path / "cache")


def test_default_paths_follow_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CCNET_ZK_CACHE", str(tmp_path / "c"))
    monkeypatch.setenv("CCNET_ROOT", str(tmp_path))
    paths = ZkPaths.default()
    assert paths.cache == (tmp_path / "c").resolve()
    assert paths.root == tmp_path.resolve()
    monkeypatch.delenv("CCNET_ZK_CACHE")
    monkeypatch.delenv("CCNET_ROOT")
    default = ZkPaths.default()
    assert default.cache == (Path.home() / ".cache" / "ccnet" / "zk").resolve()
    assert (default.circuits_dir / "billing.circom").is_file()


def test_source_key_changes_with_source_and_tools(paths: ZkPaths) -> None:
    key = paths.source_key("billing")
    assert key == paths.source_key("billing")
    (paths.circuits_dir / "billing.circom").write_text("template B() {}\n")
    edited = paths.source_key("billing")
    assert edited != key
    manifest = paths.node_modules / "circom2" / "package.json"
    manifest.write_text(json.dumps({"version": "0.2.24"}))
    assert paths.source_key("billing") != edited
    assert paths.compile_dir("billing").name == f"billing-{paths.source_key('billing')}"


def test_ptau_local_and_published(
    paths: ZkPaths, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    local = paths.ptau()
    assert local.parent == paths.cache / "ptau"
    assert f"p{PTAU_POWER}" in local.name and "0.7.6" in local.name
    local_key = paths.ptau_key()
    published = tmp_path / "powersOfTau28_hez_final_12.ptau"
    published.write_bytes(b"ptau")
    monkeypatch.setenv("CCNET_ZK_PTAU", str(published))
    assert paths.ptau() == published.resolve()
    assert paths.ptau_key() != local_key
    assert ensure_ptau(paths, 12) == published.resolve()
    monkeypatch.setenv("CCNET_ZK_PTAU", str(tmp_path / "missing.ptau"))
    with pytest.raises(SetupMissingError, match="zk-setup.sh"):
        ensure_ptau(paths, 12)


def test_local_ptau_too_small_is_an_error(paths: ZkPaths) -> None:
    with pytest.raises(ZkError, match="PTAU_POWER"):
        ensure_ptau(paths, PTAU_POWER + 1)


def test_missing_artifacts_and_tools_tell_how_to_build(paths: ZkPaths) -> None:
    with pytest.raises(SetupMissingError, match="scripts/setup.sh"):
        paths.artifacts("billing")
    with pytest.raises(SetupMissingError, match="not found"):
        paths.source("nope")
    (paths.node_modules / "snarkjs" / "package.json").unlink()
    with pytest.raises(SetupMissingError, match="snarkjs"):
        paths.tool_versions()


def test_artifacts_found_once_marked_done(paths: ZkPaths) -> None:
    keys = paths.keys_dir("billing")
    keys.mkdir(parents=True)
    (keys / "vkey.json").write_text(json.dumps({"IC": []}))
    with pytest.raises(SetupMissingError):
        paths.artifacts("billing")  # no done.json: a half-made build is not used
    (keys / "done.json").write_text("{}")
    built = paths.artifacts("billing")
    assert built.zkey == keys / "billing.zkey"
    assert built.wasm == paths.compile_dir("billing") / "billing.wasm"
    assert built.vkey() == {"IC": []}


def _r1cs(constraints: int, outs: int, pub_ins: int) -> bytes:
    prime = (2**254).to_bytes(32, "little")
    header = (
        struct.pack("<I", 32) + prime + struct.pack("<IIIIQI", 99, outs, pub_ins, 5, 7, constraints)
    )
    other = struct.pack("<IQ", 2, 3) + b"xyz"
    return b"r1cs" + struct.pack("<II", 1, 2) + other + struct.pack("<IQ", 1, len(header)) + header


def test_r1cs_header(tmp_path: Path) -> None:
    path = tmp_path / "c.r1cs"
    path.write_bytes(_r1cs(2095, 2, 1))
    info = R1csInfo.read(path)
    assert (info.constraints, info.wires, info.n_public, info.private_inputs) == (2095, 99, 3, 5)
    assert info.ptau_power == 12  # snarkjs: floor(log2(2095 + 3)) + 1
    path.write_bytes(_r1cs(4093, 2, 1))
    assert R1csInfo.read(path).ptau_power == 13
    path.write_bytes(b"nope" + bytes(8))
    with pytest.raises(ValueError):
        R1csInfo.read(path)
