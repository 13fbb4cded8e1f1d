#!/usr/bin/env bash
# Regenerates the weights from the benchmarks with `ccnet-node benchmark pallet` and
# scripts/weight-template.hbs: each ccnet pallet's src/weights.rs and frame_system's in
# pallets/runtime/src/weights/frame_system.rs, each dispatchable
# at its worst case, the linear components over their ranges, from the runtime's
# `development` genesis preset. Each weight is the larger of the median-slopes and
# least-squares fits (the median-slopes intercept of a proof size alone can come out
# negative and wrap).
#
# The benchmarks run in a runtime Wasm built with `runtime-benchmarks` by the crate
# pallets/bench-runtime (its own Wasm name: it never replaces the one the node and the
# chain specs embed), passed with `--runtime`, so the node itself keeps the production
# runtime.
#   scripts/weights.sh                  every pallet, 50 steps x 20 repeats, with the node
#                                       built in the optimised `bencher` profile (the host
#                                       functions it times run natively)
#   STEPS=10 REPEAT=5 scripts/weights.sh credits tasks
#   scripts/weights.sh --smoke          3 steps x 1 repeat with the tests' (debug) node,
#                                       into a scratch directory: every benchmark still
#                                       runs and its weight functions match the committed
#                                       ones (`make test` runs this)
# One-time builds, cached outside the clone: for real weights, the optimised node (about
# 12 minutes on the CI machine).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
log() { printf '[weights] %s\n' "$*"; }

SMOKE=0
if [ "${1:-}" = "--smoke" ]; then
  SMOKE=1
  shift
fi
PALLETS=("$@")
[ ${#PALLETS[@]} -gt 0 ] || PALLETS=(system credits tasks channels checkpoints disputes)

CACHE="$HOME/.cache/ccnet"
NODE_TARGET="${CCNET_NODE_TARGET_DIR:-$CACHE/node-target}"
if [ "$SMOKE" = 1 ]; then
  # 3 steps, not 2: at 2, Tasks::PaidBy is written at one value of finalize's r only,
  # and the proof-size fit needs two.
  STEPS=3 REPEAT=1 PROFILE=debug min_duration=(--min-duration 0)
else
  STEPS="${STEPS:-50}" REPEAT="${REPEAT:-20}" PROFILE=bencher min_duration=()
fi
OUT="$(mktemp -d)"
trap 'rm -rf "$OUT"' EXIT

if [ "$PROFILE" = debug ]; then
  bash scripts/build-node.sh
else
  NODE_PROFILE=bencher bash scripts/build-node.sh
fi
NODE="$NODE_TARGET/$PROFILE/ccnet-node"

log "the runtime with runtime-benchmarks (crate ccnet-bench-runtime, built with the workspace)"
(
  # shellcheck source=scripts/cargo-env.sh
  . scripts/cargo-env.sh
  # The workspace's own build (scripts/setup.sh runs the same command, so after setup
  # this is a no-op): its Wasm builder and Binaryen are already built there.
  cargo build -q --locked --workspace --exclude ccnet-node --features "$CCNET_CARGO_FEATURES"
)
WASM="${CARGO_TARGET_DIR:-$CACHE/target}/debug/wbuild/ccnet-bench-runtime/ccnet_bench_runtime.wasm"
[ -f "$WASM" ] || { echo "no runtime Wasm at $WASM" >&2; exit 1; }

# Where each pallet's weights live.
target_of() {
  case "$1" in
    frame_system) echo "pallets/runtime/src/weights/frame_system.rs" ;;
    *) echo "pallets/${1#pallet_}/src/weights.rs" ;;
  esac
}
# The weight functions a file declares or implements: `fn name(components)`.
signatures() { grep -oE '^\s*fn [a-z_]+\([^)]*\)' "$1" | sed -E 's/\s+//g; s/\b_//g' | sort -u; }

# One run, so the runtime's Wasm is compiled once; the template writes frame_system's
# weights as an implementation of its crate's trait, the ccnet pallets' with their own.
names=()
for pallet in "${PALLETS[@]}"; do
  if [ "$pallet" = system ]; then names+=(frame_system); else names+=("pallet_$pallet"); fi
done
list="$(IFS=,; echo "${names[*]}")"
start=$(date +%s)
log "$list: $STEPS steps x $REPEAT repeats"
"$NODE" benchmark pallet \
  --runtime "$WASM" \
  --genesis-builder runtime --genesis-builder-preset development \
  --pallet "$list" --extrinsic '*' \
  --steps "$STEPS" --repeat "$REPEAT" "${min_duration[@]}" \
  --heap-pages 4096 \
  --output-analysis max --output-pov-analysis max \
  --template scripts/weight-template.hbs \
  --output "$OUT/" >"$OUT/run.log" 2>&1 \
  || { tail -40 "$OUT/run.log" >&2; exit 1; }
for name in "${names[@]}"; do
  committed="$(target_of "$name")"
  [ -f "$OUT/$name.rs" ] || { echo "$name: no weights written" >&2; exit 1; }
  if [ "$SMOKE" = 1 ]; then
    if ! diff <(signatures "$committed") <(signatures "$OUT/$name.rs") >&2; then
      echo "$name: the benchmarks no longer match $committed (< committed, > benchmarked): run scripts/weights.sh" >&2
      exit 1
    fi
  else
    mkdir -p "$(dirname "$committed")"
    cp "$OUT/$name.rs" "$committed"
  fi
done
log "done in $(( $(date +%s) - start )) s"
[ "$SMOKE" = 1 ] || log "review the diff of the weights, then run make test"
