#!/usr/bin/env bash
# The full test suite, in order: Rust tests, the validator node's build (cached), Python
# lint (ruff, mypy), the wheel check, then pytest (unit and integration). Expects
# scripts/setup.sh to have run.
#   SKIP_RUST_TESTS=1  skip the cargo tests (e.g. to test the Python side alone)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
log() { printf '[test] %s\n' "$*"; }

rust_tests() {
  if [ "${SKIP_RUST_TESTS:-}" = 1 ]; then
    log "SKIP_RUST_TESTS=1: not running cargo test"
    return
  fi
  # shellcheck source=scripts/cargo-env.sh
  . scripts/cargo-env.sh
  log "cargo fmt --check"
  cargo fmt --all --check
  log "cargo clippy"
  cargo clippy -q --workspace --exclude ccnet-node --all-targets --features "$CCNET_CARGO_FEATURES" -- -D warnings
  log "cargo test (pallets, benchmarks, try_state, runtime, chain-spec tool, Groth16 verifier, shared vectors)"
  # The Python extension's crate links against the interpreter that loads it: its tests
  # are Python's (tests/unit/test_zk_native.py).
  cargo test --workspace --exclude ccnet-node --exclude ccnet-groth16-py --features "$CCNET_CARGO_FEATURES"
}

python_lint() {
  log "ruff"
  .venv/bin/ruff check
  .venv/bin/ruff format --check
  log "mypy"
  .venv/bin/mypy
}

rust_tests
log "ccnet-node (the node network's integration tests run it; cached)"
bash scripts/build-node.sh  # clippy -D warnings on the node's code as it builds
log "benchmarks through the node, a smoke pass (3 steps x 1 repeat: they run, and match the committed weights)"
bash scripts/weights.sh --smoke
python_lint
log "check-wheel"
bash scripts/check-wheel.sh
log "pytest"
# Three processes (pytest-xdist), a file each at a time, on CI's two cores: most tests
# wait on blocks, peers and processes, and with two the cores stayed a fifth idle
# (pytest on an empty machine: 35 minutes with three, 40 with two). Each process
# starts its own session fixtures (dev chain, arlocal) on free ports.
# The slowest tests in CI's log: where the 75-minute budget goes.
.venv/bin/pytest -n "${CCNET_TEST_PROCESSES:-3}" --dist loadfile --durations=30
