"""Where the circuits, the Node tools and the generated artifacts live.

Sources are in the checkout (``zk/circuits/*.circom``, ``zk/js/server.mjs``,
``node_modules/``). Everything generated (R1CS, witness generator Wasm, powers of tau,
Groth16 zkeys, verification keys) goes to a cache outside git,
``${CCNET_ZK_CACHE:-$HOME/.cache/ccnet/zk}``, under names keyed by what made it, so an
edited circuit or a new tool version builds into a fresh folder and nothing stale is
ever used:

    ptau/local-bn128-p12-snarkjs0.7.6.ptau            local ceremony (development only)
    circuits/<name>-<source key>/<name>.r1cs, .wasm   compiled circuit
    circuits/<name>-<source key>/keys-<ptau key>/     <name>.zkey, vkey.json, done.json

Set ``CCNET_ZK_PTAU=/path/to/file.ptau`` to use a published ceremony's phase-2-prepared
file instead of the local one (see zk/README.md).
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from .exceptions import SetupMissingError

#: The circuits in zk/circuits/, by file stem.
CIRCUITS: Final = ("poseidon_commit", "billing", "matmul")
#: circom flags: --O2 folds the linear constraints, which keeps matmul under 2^12.
COMPILE_FLAGS: Final = ("--r1cs", "--wasm", "--O2")
#: Node packages whose versions key the artifacts.
TOOLS: Final = ("circom2", "circomlib", "snarkjs")
#: Power of the local powers-of-tau ceremony: 2^12 constraints, enough for every circuit.
PTAU_POWER: Final = 12
#: snarkjs's name for BN254.
CURVE: Final = "bn128"

ENV_CACHE: Final = "CCNET_ZK_CACHE"
ENV_PTAU: Final = "CCNET_ZK_PTAU"
ENV_ROOT: Final = "CCNET_ROOT"


def _digest(*parts: bytes) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(len(part).to_bytes(8, "big"))
        h.update(part)
    return h.hexdigest()[:16]


@dataclass(frozen=True)
class R1csInfo:
    """Sizes from an R1CS file's header section (iden3 r1cs binary format v1)."""

    constraints: int
    wires: int
    public_outputs: int
    public_inputs: int
    private_inputs: int

    @property
    def n_public(self) -> int:
        """Public signals a proof carries: outputs first, then public inputs."""
        return self.public_outputs + self.public_inputs

    @property
    def ptau_power(self) -> int:
        """Smallest powers-of-tau power whose domain fits the circuit (snarkjs zkey new:
        ``floor(log2(constraints + public)) + 1``)."""
        return (self.constraints + self.n_public).bit_length()

    @classmethod
    def read(cls, path: Path) -> R1csInfo:
        """Parse ``path``'s header. Raises ValueError if it is not an R1CS file."""
        with path.open("rb") as f:
            magic, version, n_sections = struct.unpack("<4sII", f.read(12))
            if magic != b"r1cs" or version != 1:
                raise ValueError(f"{path}: not an r1cs v1 file")
            for _ in range(n_sections):
                kind, size = struct.unpack("<IQ", f.read(12))
                if kind != 1:
                    f.seek(size, os.SEEK_CUR)
                    continue
                (n8,) = struct.unpack("<I", f.read(4))
                f.seek(n8, os.SEEK_CUR)  # the prime
                wires, outs, pub_ins, prv_ins, _labels, constraints = struct.unpack(
                    "<IIIIQI", f.read(28)
                )
                return cls(constraints, wires, outs, pub_ins, prv_ins)
        raise ValueError(f"{path}: no header section")


@dataclass(frozen=True)
class CircuitArtifacts:
    """The built files of one circuit, as the prover and verifiers use them."""

    name: str
    r1cs: Path
    wasm: Path
    zkey: Path
    vkey_path: Path

    def vkey(self) -> dict[str, Any]:
        """The snarkjs verification key JSON (``vk_alpha_1``, ``IC``, ...)."""
        data: dict[str, Any] = json.loads(self.vkey_path.read_text())
        return data


@dataclass(frozen=True)
class ZkPaths:
    """The checkout (sources, node_modules) and the artifact cache one process uses."""

    root: Path
    cache: Path

    @classmethod
    def default(cls) -> ZkPaths:
        """Root from ``CCNET_ROOT`` or this file's checkout; cache from ``CCNET_ZK_CACHE``
        or ``~/.cache/ccnet/zk``."""
        root = Path(os.environ.get(ENV_ROOT) or Path(__file__).resolve().parent.parent)
        cache = os.environ.get(ENV_CACHE) or Path.home() / ".cache" / "ccnet" / "zk"
        return cls(root=root.resolve(), cache=Path(cache).expanduser().resolve())

    @property
    def circuits_dir(self) -> Path:
        return self.root / "zk" / "circuits"

    @property
    def node_modules(self) -> Path:
        return self.root / "node_modules"

    @property
    def server_script(self) -> Path:
        return self.root / "zk" / "js" / "server.mjs"

    def source(self, name: str) -> Path:
        """``zk/circuits/<name>.circom``; raises SetupMissingError for an unknown circuit."""
        path = self.circuits_dir / f"{name}.circom"
        if not path.is_file():
            raise SetupMissingError(f"circuit source {name!r} not found", path=path)
        return path

    def tool_versions(self) -> dict[str, str]:
        """Installed versions of circom2, circomlib and snarkjs (from node_modules)."""
        versions = {}
        for tool in TOOLS:
            manifest = self.node_modules / tool / "package.json"
            if not manifest.is_file():
                raise SetupMissingError(f"npm package {tool} is not installed", path=manifest)
            versions[tool] = str(json.loads(manifest.read_text())["version"])
        return versions

    def custom_ptau(self) -> Path | None:
        """The published ceremony file named by ``CCNET_ZK_PTAU``, if set."""
        value = os.environ.get(ENV_PTAU)
        return Path(value).expanduser().resolve() if value else None

    def ptau(self) -> Path:
        """The phase-2-prepared powers-of-tau file the zkeys are made from."""
        custom = self.custom_ptau()
        if custom is not None:
            return custom
        snarkjs = self.tool_versions()["snarkjs"]
        return self.cache / "ptau" / f"local-{CURVE}-p{PTAU_POWER}-snarkjs{snarkjs}.ptau"

    def ptau_key(self) -> str:
        """Identity of the ptau file plus the snarkjs version that makes zkeys from it."""
        ptau = self.ptau()
        ident = str(ptau).encode()
        if self.custom_ptau() is not None and ptau.is_file():
            st = ptau.stat()
            ident += f":{st.st_size}:{st.st_mtime_ns}".encode()
        return _digest(ident, self.tool_versions()["snarkjs"].encode())

    def source_key(self, name: str) -> str:
        """Hash of the circuit source, the compiler and circomlib versions and the flags."""
        versions = self.tool_versions()
        return _digest(
            self.source(name).read_bytes(),
            versions["circom2"].encode(),
            versions["circomlib"].encode(),
            " ".join(COMPILE_FLAGS).encode(),
        )

    def compile_dir(self, name: str) -> Path:
        return self.cache / "circuits" / f"{name}-{self.source_key(name)}"

    def keys_dir(self, name: str) -> Path:
        return self.compile_dir(name) / f"keys-{self.ptau_key()}"

    def artifacts(self, name: str) -> CircuitArtifacts:
        """The built artifacts of circuit ``name``.

        Raises SetupMissingError when they were not built (or were built from another source,
        tool version or ptau)."""
        compiled = self.compile_dir(name)
        keys = compiled / f"keys-{self.ptau_key()}"
        if not (keys / "done.json").is_file():
            raise SetupMissingError(f"circuit {name!r} is not built for this source", path=keys)
        return CircuitArtifacts(
            name=name,
            r1cs=compiled / f"{name}.r1cs",
            wasm=compiled / f"{name}.wasm",
            zkey=keys / f"{name}.zkey",
            vkey_path=keys / "vkey.json",
        )
