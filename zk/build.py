"""Build the circuits' artifacts into the cache (run by scripts/zk-setup.sh).

For each circuit in zk/circuits/: compile with circom2 (R1CS + witness generator Wasm),
then make a Groth16 zkey and verification key from a phase-2-prepared powers-of-tau
file. Each step is skipped when its output, keyed by its inputs, is already in the cache
(see :mod:`ccnet.zk.artifacts`), so a warm run only hashes a few files.

The powers of tau: ``CCNET_ZK_PTAU`` names a published ceremony's prepared file (e.g.
``powersOfTau28_hez_final_12.ptau``); without it, a local single-contributor ceremony of
2^12 is made once (``prepare phase2`` takes about a minute) and reused by every circuit.
A local ceremony, like the single zkey contribution made here, is for development only:
whoever ran it could forge proofs.

Usage: ``python -m ccnet.zk.build [--circuit NAME ...]``
"""

from __future__ import annotations

import argparse
import fcntl
import json
import logging
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from ccnet.zk.artifacts import (
    CIRCUITS,
    COMPILE_FLAGS,
    CURVE,
    PTAU_POWER,
    CircuitArtifacts,
    R1csInfo,
    ZkPaths,
)

from .exceptions import SetupMissingError, ZkError

log = logging.getLogger(__name__)


def _run(paths: ZkPaths, tool: str, *args: str) -> None:
    """Run ``node node_modules/<tool's cli> args`` from the checkout root (circom2's WASI
    sandbox cannot open paths with ``..``). Raises ZkError with its output on failure."""
    cli = {"circom2": "circom2/cli.js", "snarkjs": "snarkjs/build/cli.cjs"}[tool]
    cmd = ["node", str(paths.node_modules / cli), *args]
    proc = subprocess.run(cmd, cwd=paths.root, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-20:])
        raise ZkError(f"{tool} {args[0]} failed (exit {proc.returncode}):\n{tail}")


def _entropy() -> str:
    return secrets.token_hex(32)


@contextmanager
def _locked(cache: Path) -> Iterator[None]:
    """Serialise builds sharing one cache (parallel setups, CI next to a developer)."""
    cache.mkdir(parents=True, exist_ok=True)
    with (cache / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


@contextmanager
def _staging(final: Path) -> Iterator[Path]:
    """A temp folder beside ``final``, renamed onto it when the block succeeds."""
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", dir=final.parent))
    try:
        yield tmp
        if final.exists():
            shutil.rmtree(final)
        tmp.rename(final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def compile_circuit(paths: ZkPaths, name: str) -> R1csInfo:
    """Compile ``zk/circuits/<name>.circom`` into its cache folder unless already there.
    Returns the R1CS sizes."""
    out = paths.compile_dir(name)
    r1cs = out / f"{name}.r1cs"
    if not (r1cs.is_file() and (out / f"{name}.wasm").is_file()):
        log.info("compiling %s", name)
        started = time.monotonic()
        with _staging(out) as tmp:
            source = paths.source(name).relative_to(paths.root)
            flags = [*COMPILE_FLAGS, "-l", "node_modules", "-o", str(tmp)]
            _run(paths, "circom2", str(source), *flags)
            (tmp / f"{name}_js" / f"{name}.wasm").rename(tmp / f"{name}.wasm")
            shutil.rmtree(tmp / f"{name}_js")
        log.info("compiled %s in %.1f s", name, time.monotonic() - started)
    return R1csInfo.read(r1cs)


def ensure_ptau(paths: ZkPaths, power: int) -> Path:
    """The prepared powers-of-tau file; makes the local one (2^PTAU_POWER) if missing.

    Raises SetupMissingError if ``CCNET_ZK_PTAU`` names a missing file, ZkError if the
    circuits need more than the local ceremony's power."""
    ptau = paths.ptau()
    if paths.custom_ptau() is not None:
        if not ptau.is_file():
            raise SetupMissingError("CCNET_ZK_PTAU names no file", path=ptau)
        return ptau
    if power > PTAU_POWER:
        raise ZkError(f"circuits need 2^{power} constraints; raise PTAU_POWER ({PTAU_POWER})")
    if ptau.is_file():
        return ptau
    log.info("making a local powers of tau 2^%d (development only; about a minute)", PTAU_POWER)
    started = time.monotonic()
    ptau.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=ptau.parent) as tmp:
        p0, p1, final = (str(Path(tmp) / f) for f in ("p0.ptau", "p1.ptau", "final.ptau"))
        _run(paths, "snarkjs", "powersoftau", "new", CURVE, str(PTAU_POWER), p0)
        _run(paths, "snarkjs", "powersoftau", "contribute", p0, p1,
             "--name=ccnet local dev", f"-e={_entropy()}")  # fmt: skip
        _run(paths, "snarkjs", "powersoftau", "prepare", "phase2", p1, final)
        Path(final).rename(ptau)
    log.info("powers of tau ready in %.1f s: %s", time.monotonic() - started, ptau)
    return ptau


def make_keys(paths: ZkPaths, name: str, ptau: Path) -> CircuitArtifacts:
    """Groth16 zkey (one local contribution) and verification key for ``name``."""
    keys = paths.keys_dir(name)
    if not (keys / "done.json").is_file():
        log.info("groth16 setup %s", name)
        started = time.monotonic()
        r1cs = paths.compile_dir(name) / f"{name}.r1cs"
        with _staging(keys) as tmp:
            z0, zkey = str(tmp / "0.zkey"), str(tmp / f"{name}.zkey")
            _run(paths, "snarkjs", "groth16", "setup", str(r1cs), str(ptau), z0)
            _run(paths, "snarkjs", "zkey", "contribute", z0, zkey,
                 "--name=ccnet local dev", f"-e={_entropy()}")  # fmt: skip
            Path(z0).unlink()
            _run(paths, "snarkjs", "zkey", "export", "verificationkey", zkey,
                 str(tmp / "vkey.json"))  # fmt: skip
            done = {"circuit": name, "ptau": str(ptau), "tools": paths.tool_versions()}
            (tmp / "done.json").write_text(json.dumps(done, indent=1) + "\n")
        log.info("keys for %s in %.1f s", name, time.monotonic() - started)
    return paths.artifacts(name)


def build(paths: ZkPaths, circuits: Sequence[str] = CIRCUITS) -> list[CircuitArtifacts]:
    """Build every circuit in ``circuits``; cheap when everything is cached.

    Raises SetupMissingError (tools not installed) or ZkError (a tool failed)."""
    if shutil.which("node") is None:
        raise SetupMissingError("node is not on PATH")
    with _locked(paths.cache):
        infos = {name: compile_circuit(paths, name) for name in circuits}
        for name, info in infos.items():
            log.info(
                "%s: %d constraints, %d public signals, needs 2^%d",
                name, info.constraints, info.n_public, info.ptau_power,
            )  # fmt: skip
        ptau = ensure_ptau(paths, max(info.ptau_power for info in infos.values()))
        return [make_keys(paths, name, ptau) for name in circuits]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ccnet.zk.build", description=__doc__)
    parser.add_argument("--circuit", action="append", choices=CIRCUITS, help="default: all")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="[zk-setup] %(message)s")
    paths = ZkPaths.default()
    started = time.monotonic()
    try:
        built = build(paths, args.circuit or CIRCUITS)
    except ZkError as err:
        print(f"[zk-setup] error: {err}", file=sys.stderr)
        return 1
    log.info(
        "%d circuit(s) ready in %s (%.1f s)", len(built), paths.cache, time.monotonic() - started
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
