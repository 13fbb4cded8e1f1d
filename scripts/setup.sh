#!/usr/bin/env bash
# The one setup entry point, for a fresh Debian 12 machine (as root) or an existing
# checkout. Idempotent: each step is skipped when its inputs have not changed.
#   .venv (python3.11) with `pip install -e '.[dev,demo]'`, node_modules from package-lock.json,
#   the wasm toolchain (.state/env), PostgreSQL (the bridge ledger's tests), iproute2 (the
#   cross-machine test's network namespaces), protoc and libssl-dev (for building the
#   validator node, `cargo build -p ccnet-node`), and the chain
#   specs (set SKIP_CHAIN_BUILD=1 to skip).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PYTHON="${PYTHON:-python3.11}"
VENV="$ROOT/.venv"
STATE="$ROOT/.state"
log() { printf '[setup] %s\n' "$*"; }
die() { printf '[setup] error: %s\n' "$*" >&2; exit 1; }
stamp_of() { cat "$@" | sha256sum | cut -d' ' -f1; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

apt_install() {
  log "apt-get install $*"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "$@" >/dev/null
}

python_env() {
  command -v "$PYTHON" >/dev/null || apt_install python3.11
  command -v jq >/dev/null || apt_install jq  # the README's quick starts read --json with it
  "$PYTHON" -c 'import ensurepip, venv' 2>/dev/null || apt_install python3.11-venv
  if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import sys; assert sys.version_info[:2] == (3, 11)' 2>/dev/null; then
    log "creating .venv with $("$PYTHON" --version)"
    rm -rf "$VENV"
    "$PYTHON" -m venv "$VENV"
    "$VENV/bin/python" -m pip install -q --upgrade pip
  fi
  local want; want="$(stamp_of setup.cfg pyproject.toml)"
  if [ "$(cat "$VENV/.ccnet-installed" 2>/dev/null)" = "$want" ] \
     && "$VENV/bin/python" -c 'import ccnet.client' 2>/dev/null; then
    log "python packages up to date"
    return
  fi
  log "pip install -e '.[dev,demo]'"
  "$VENV/bin/python" -m pip install -q -e '.[dev,demo]'
  echo "$want" > "$VENV/.ccnet-installed"
}

mypy_view() {
  # mypy cannot follow the editable install's import hook: link each ccnet.X folder
  # (from setup.cfg's package_dir) into .state/mypy/ccnet/ (see pyproject.toml).
  rm -rf "$STATE/mypy"
  mkdir -p "$STATE/mypy/ccnet"
  "$VENV/bin/python" - "$STATE/mypy/ccnet" <<'PY'
import configparser, os, sys
cfg = configparser.ConfigParser()
cfg.read("setup.cfg")
for line in cfg["options"]["package_dir"].strip().splitlines():
    name, folder = (part.strip() for part in line.split("="))
    os.symlink(os.path.abspath(folder), os.path.join(sys.argv[1], name.split(".", 1)[1]))
PY
}

node_env() {
  command -v node >/dev/null && command -v npm >/dev/null || die "node and npm are required (Node 20)"
  local major; major="$(node -p 'process.versions.node.split(".")[0]')"
  [ "$major" -ge 20 ] || die "Chopsticks 1.1.0 needs Node >= 20; found node $(node --version)"
  local want; want="$(stamp_of package.json package-lock.json)"
  if [ "$(cat node_modules/.ccnet-installed 2>/dev/null)" = "$want" ]; then
    log "node_modules up to date"
    return
  fi
  # sqlite3 (under Chopsticks) compiles with node-gyp; use the installed headers, as
  # node-gyp cannot download them here.
  if [ -f /usr/include/node/node.h ]; then export npm_config_nodedir=/usr; fi
  log "npm ci"
  npm ci --no-audit --no-fund --loglevel=error
  echo "$want" > node_modules/.ccnet-installed
}

wasm_toolchain() {
  local toolchain
  toolchain="$(bash scripts/wasm-toolchain.sh | tail -n 1)"
  mkdir -p "$STATE"
  printf 'export WASM_BUILD_TOOLCHAIN=%q\n' "$toolchain" > "$STATE/env.tmp"
  mv "$STATE/env.tmp" "$STATE/env"
  log "WASM_BUILD_TOOLCHAIN='$toolchain' (.state/env)"
}

zk_circuits() {
  # circom circuits -> R1CS, witness Wasm, ptau and Groth16 keys in the cache outside git
  # (${CCNET_ZK_CACHE:-$HOME/.cache/ccnet/zk}); about a second when cached.
  bash scripts/zk-setup.sh
}

c_job_toolchain() {
  # C job modules (worker/jobs/resize_stb): clang-22 + lld-22 for wasm32-wasi with
  # Debian's wasi-libc and compiler-rt builtins, and the stb headers (libstb-dev); and
  # binaryen's wasm-opt, which makes the jobs with safe points checkpointable (Asyncify).
  local pkgs=(clang-22 lld-22 libclang-rt-22-dev-wasm32 wasi-libc libstb-dev binaryen) missing=() p
  for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
  done
  if [ "${#missing[@]}" = 0 ]; then
    log "C job toolchain installed"
    return
  fi
  apt_install "${missing[@]}"
}

node_build_deps() {
  # What `cargo build -p ccnet-node` (the validator node, not built here) needs from Debian:
  # protoc for the network's protobuf code, and the system OpenSSL (libssl-dev, found
  # through pkg-config) instead of the vendored one (.cargo/config.toml: OPENSSL_NO_VENDOR).
  local pkgs=(protobuf-compiler libssl-dev pkg-config) missing=() p
  for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
  done
  if [ "${#missing[@]}" = 0 ]; then
    log "node build dependencies installed"
    return
  fi
  apt_install "${missing[@]}"
}

net_tools() {
  # iproute2's `ip`: the cross-machine test builds network namespaces and veth pairs
  # (tests/integration/test_cross_machine.py, as root).
  if command -v ip >/dev/null; then
    log "iproute2 installed"
    return
  fi
  apt_install iproute2
}

postgres_server() {
  # Debian's PostgreSQL server: the bridge ledger's tests run it (tests/fixtures/postgres.py).
  if compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null; then
    log "postgresql installed"
    return
  fi
  apt_install postgresql
}

worker_jobs() {
  # The worker's job modules (worker/jobs, wasm32-wasip1) -> ${CCNET_CACHE:-$HOME/.cache/ccnet}/jobs;
  # needs the toolchain from wasm_toolchain; instant when the sources are unchanged.
  bash scripts/build-jobs.sh
}

native_verifier() {
  # The native Groth16 verifier's Python extension (zk/groth16-py, module ccnet_groth16;
  # ccnet.zk.NativeVerifier), built by maturin in the release profile (pairings in the
  # dev profile take a hundred times longer) into its own target directory; skipped
  # when its sources and Cargo.lock have not changed.
  # arkworks' assembly multiplies field elements faster; it needs BMI2 and ADX at build
  # time, and the extension only ever runs on the machine that builds it.
  local rustflags=""
  if grep -qw bmi2 /proc/cpuinfo && grep -qw adx /proc/cpuinfo; then
    rustflags="-C target-feature=+bmi2,+adx"
  fi
  local want; want="$(stamp_of Cargo.lock zk/groth16/Cargo.toml zk/groth16/src/*.rs \
    zk/groth16-py/Cargo.toml zk/groth16-py/pyproject.toml zk/groth16-py/src/*.rs) $rustflags"
  local stamp="$VENV/.ccnet-groth16-installed"
  if [ "$(cat "$stamp" 2>/dev/null)" = "$want" ] && "$VENV/bin/python" -c 'import ccnet_groth16' 2>/dev/null; then
    log "native Groth16 verifier up to date"
    return
  fi
  log "maturin: the native Groth16 verifier (ccnet_groth16)"
  # shellcheck source=scripts/cargo-env.sh
  . scripts/cargo-env.sh
  rm -rf "$STATE/wheels"
  CARGO_TARGET_DIR="$HOME/.cache/ccnet/py-target" VIRTUAL_ENV="$VENV" RUSTFLAGS="$rustflags" \
    "$VENV/bin/maturin" build --quiet --release --locked --compatibility linux --features asm \
    -m zk/groth16-py/Cargo.toml --out "$STATE/wheels" --interpreter "$VENV/bin/python"
  "$VENV/bin/python" -m pip install -q --force-reinstall --no-deps "$STATE"/wheels/ccnet_groth16-*.whl
  echo "$want" > "$stamp"
}

build_chain() {
  if [ "${SKIP_CHAIN_BUILD:-}" = 1 ]; then
    log "SKIP_CHAIN_BUILD=1: not building the runtime and chain specs"
    return
  fi
  # shellcheck source=scripts/cargo-env.sh
  . scripts/cargo-env.sh
  log "cargo build --workspace --exclude ccnet-node (runtime Wasm, chain-spec tool; target $CARGO_TARGET_DIR)"
  cargo build --workspace --exclude ccnet-node --features "$CCNET_CARGO_FEATURES"
  for preset in development local_testnet; do
    "$CARGO_TARGET_DIR/debug/ccnet-chain-spec" --preset "$preset" --out "chain-spec/$preset.raw.json"
  done
}

python_env
mypy_view
node_env
zk_circuits
wasm_toolchain
c_job_toolchain
node_build_deps
net_tools
postgres_server
worker_jobs
native_verifier
build_chain
log "done"
