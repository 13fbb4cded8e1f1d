#!/usr/bin/env bash
# Build the worker's job modules (worker/jobs: prime_count, sha256sum, resize, matmul) for
# wasm32-wasip1 in release mode and copy them to $CCNET_JOBS_DIR, default
# ${CCNET_CACHE:-$HOME/.cache/ccnet}/jobs, where ccnet.worker.modules.load_job finds them.
# Also builds the same crates for the host (native references, issue 4: "each has a native
# reference to check its output against") into $CCNET_JOBS_DIR/native/<job>
# (ccnet.worker.modules.native_job).
# Idempotent: skipped when the sources, the lock file and the compiler are unchanged.
#   CCNET_JOBS_TARGET  cargo target dir (default ${CCNET_CACHE}/jobs-target)
#   Toolchain: WASM_BUILD_TOOLCHAIN from .state/env (scripts/wasm-toolchain.sh), else default.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
CACHE="${CCNET_CACHE:-$HOME/.cache/ccnet}"
OUT="${CCNET_JOBS_DIR:-$CACHE/jobs}"
export CARGO_TARGET_DIR="${CCNET_JOBS_TARGET:-$CACHE/jobs-target}"
JOBS=(prime_count sha256sum resize matmul)
TARGET=wasm32-wasip1
log() { printf '[build-jobs] %s\n' "$*" >&2; }

WASM_BUILD_TOOLCHAIN="${WASM_BUILD_TOOLCHAIN:-}"
if [ -z "$WASM_BUILD_TOOLCHAIN" ] && [ -f .state/env ]; then
  # shellcheck source=/dev/null
  . .state/env
fi
PLUS=()
[ -z "${WASM_BUILD_TOOLCHAIN:-}" ] || PLUS=("+$WASM_BUILD_TOOLCHAIN")

stamp="$( {
  rustc "${PLUS[@]}" --version
  find worker/jobs -path worker/jobs/target -prune -o -type f \
    \( -name '*.rs' -o -name Cargo.toml -o -name Cargo.lock \) -print | LC_ALL=C sort | xargs sha256sum
} | sha256sum | cut -d' ' -f1)"

up_to_date() {
  [ "$(cat "$OUT/.stamp" 2>/dev/null)" = "$stamp" ] || return 1
  for job in "${JOBS[@]}"; do [ -s "$OUT/$job.wasm" ] && [ -x "$OUT/native/$job" ] || return 1; done
}
if up_to_date; then
  log "job modules up to date ($OUT)"
  exit 0
fi

log "cargo ${PLUS[*]} build --release --target $TARGET (worker/jobs; target $CARGO_TARGET_DIR)"
cargo "${PLUS[@]}" build -q --locked --release --target "$TARGET" --manifest-path worker/jobs/Cargo.toml
log "cargo ${PLUS[*]} build --release (host: native references)"
native=1
if ! cargo "${PLUS[@]}" build -q --locked --release --manifest-path worker/jobs/Cargo.toml; then
  # The modules are what workers run; without the references only their check is lost
  # (test_worker_native_reference.py fails naming this script), so setup goes on.
  log "WARNING: the host build failed: no native references in $OUT/native"
  native=0
fi
mkdir -p "$OUT/native"
for job in "${JOBS[@]}"; do
  cp "$CARGO_TARGET_DIR/$TARGET/release/$job.wasm" "$OUT/.$job.wasm.tmp"
  mv "$OUT/.$job.wasm.tmp" "$OUT/$job.wasm"
  [ "$native" = 1 ] || continue
  cp "$CARGO_TARGET_DIR/release/$job" "$OUT/native/.$job.tmp"
  mv "$OUT/native/.$job.tmp" "$OUT/native/$job"
done
echo "$stamp" > "$OUT/.stamp"
log "built ${JOBS[*]} into $OUT (native references in $OUT/native)"
