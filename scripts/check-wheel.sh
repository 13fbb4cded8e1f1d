#!/usr/bin/env bash
# Build the wheel into a temp dir, install it into a throwaway venv and import every
# ccnet.* package from it; fail if anything installs as a bare top-level name.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="${PYTHON:-$ROOT/.venv/bin/python}"
TMP="$(mktemp -d)"
# setuptools reuses build/: stale modules there would end up in the wheel.
trap 'rm -rf "$TMP" "$ROOT/build"' EXIT
rm -rf "$ROOT/build"
log() { printf '[check-wheel] %s\n' "$*"; }

log "building the wheel"
# Isolated, as pip builds it: setuptools and wheel per pyproject.toml's build-system.
"$PY" -m build --wheel --outdir "$TMP/dist" "$ROOT" >"$TMP/build.log" 2>&1 \
  || { cat "$TMP/build.log" >&2; exit 1; }
WHEEL="$(ls "$TMP"/dist/*.whl)"
log "$(basename "$WHEEL"):"
"$PY" -m zipfile -l "$WHEEL" | awk 'NR > 1 {print "  " $1}'

log "installing it into a throwaway venv"
"$PY" -m venv "$TMP/venv"
# With its pinned dependencies (from pip's cache or PyPI), as a user would install it.
"$TMP/venv/bin/python" -m pip install -q "$WHEEL"

cd "$TMP"  # not the checkout: its folders must not shadow the installed packages
"$TMP/venv/bin/python" -I - "$WHEEL" "$ROOT/setup.cfg" <<'PY'
import configparser
import importlib
import importlib.metadata as md
import importlib.resources
import importlib.util
import sys
import zipfile

cfg = configparser.ConfigParser()
cfg.read(sys.argv[2])
packages = cfg["options"]["packages"].split()
names = zipfile.ZipFile(sys.argv[1]).namelist()
tops = sorted({n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")})
assert tops == ["ccnet"], f"wheel top-level entries: {tops}"
assert getattr(importlib.import_module("ccnet"), "__file__", None) is None, "ccnet: namespace"
for package in packages:
    bare = package.split(".")[1]  # the top-level folder name, e.g. client
    assert importlib.util.find_spec(bare) is None, f"bare top-level module {bare!r} importable"
    mod = importlib.import_module(package)
    assert mod.__file__ and "/site-packages/ccnet/" in mod.__file__, mod.__file__
    if package.count(".") == 1:
        assert importlib.resources.files(mod).joinpath("py.typed").is_file(), f"{package}: py.typed"
scripts = md.distribution("compute-currency").entry_points
assert [ep.value for ep in scripts if ep.name == "ccnet"] == ["ccnet.client.cli:main"]
print("[check-wheel] ok:", ", ".join(packages))
PY
