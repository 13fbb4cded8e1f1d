#!/usr/bin/env bash
# Regenerates every pallet's src/weights.rs from its benchmarks (benchmarking.rs) with
# frame-benchmarking-cli's `benchmark pallet` (tools/bencher, `ccnet-bencher`) on this
# machine: the runtime's Wasm built with runtime-benchmarks,
# the `development` genesis preset, each dispatchable at its worst case, the linear
# components (finalize's r, withdraw_unbonded's c, the dispute draw's w) over their
# ranges. Each weight is the larger of the median-slopes and least-squares fits (the
# median-slopes intercept of a proof size alone can come out negative and wrap).
# Not part of `make test`; run it after a change to a pallet's storage or logic:
#   scripts/bench-weights.sh                  all five pallets, 50 steps x 20 repeats
#   STEPS=10 REPEAT=5 scripts/bench-weights.sh credits tasks
# One-time builds, cached outside the clone: the bencher (~900 crates, profile `bencher`)
# and the runtime with benchmarks in a target directory of its own.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
log() { printf '[bench-weights] %s\n' "$*"; }
# shellcheck source=scripts/cargo-env.sh
. scripts/cargo-env.sh

CACHE="$HOME/.cache/ccnet"
STEPS="${STEPS:-50}"
REPEAT="${REPEAT:-20}"
PALLETS=("$@")
[ ${#PALLETS[@]} -gt 0 ] || PALLETS=(credits tasks channels checkpoints disputes)

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
if ! command -v protoc >/dev/null; then  # the networking crates' build scripts need it
  log "apt-get install protobuf-compiler"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq protobuf-compiler >/dev/null
fi

log "building ccnet-bencher (profile bencher, in $CARGO_TARGET_DIR)"
cargo build -q --locked --profile bencher -p ccnet-bencher
BENCHER="$CARGO_TARGET_DIR/bencher/ccnet-bencher"

# A target directory of its own: the runtime's Wasm with benchmarks must not replace the
# one the tests and the chain specs use.
BENCH_TARGET="$CACHE/bench-target"
log "building the runtime with runtime-benchmarks (Wasm in $BENCH_TARGET)"
CARGO_TARGET_DIR="$BENCH_TARGET" cargo build -q --locked -p ccnet-runtime --features runtime-benchmarks
WASM="$BENCH_TARGET/debug/wbuild/ccnet-runtime/ccnet_runtime.wasm"
[ -f "$WASM" ] || { echo "no runtime Wasm at $WASM" >&2; exit 1; }

for pallet in "${PALLETS[@]}"; do
  log "pallet_$pallet: $STEPS steps x $REPEAT repeats"
  "$BENCHER" \
    --runtime "$WASM" \
    --genesis-builder runtime --genesis-builder-preset development \
    --pallet "pallet_$pallet" --extrinsic '*' \
    --steps "$STEPS" --repeat "$REPEAT" \
    --heap-pages 4096 \
    --output-analysis max --output-pov-analysis max \
    --template scripts/weight-template.hbs \
    --output "pallets/$pallet/src/weights.rs"
done
log "done: review the diff of pallets/*/src/weights.rs, then run make test"
