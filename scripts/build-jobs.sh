#!/usr/bin/env bash
# Build the worker's job modules (worker/jobs: prime_count, sha256sum, resize, matmul) for
# wasm32-wasip1 in release mode (those with safe points through Binaryen's Asyncify,
# `wasm-opt` from Debian's binaryen) and copy them to $CCNET_JOBS_DIR, default
# ${CCNET_CACHE:-$HOME/.cache/ccnet}/jobs, where ccnet.client.jobs.catalogue.load_job finds them.
# Also builds the same crates for the host (native references: "each has a native
# reference to check its output against") into $CCNET_JOBS_DIR/native/<job>
# (ccnet.client.jobs.catalogue.native_job).
# C jobs (worker/jobs/<job>/<job>.c: resize_stb, on libstb-dev) are compiled with clang-22
# for wasm32-wasi against Debian's wasi-libc, and with the host cc for the native reference
# (packages: scripts/setup.sh c_job_toolchain).
# Idempotent: skipped when the sources, the lock file and the compilers are unchanged.
#   CCNET_JOBS_TARGET  cargo target dir (default ${CCNET_CACHE}/jobs-target)
#   Toolchain: WASM_BUILD_TOOLCHAIN from .state/env (scripts/wasm-toolchain.sh), else default.
#   WASI_CC (default clang-22), CC (default cc): the C compilers.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
CACHE="${CCNET_CACHE:-$HOME/.cache/ccnet}"
OUT="${CCNET_JOBS_DIR:-$CACHE/jobs}"
export CARGO_TARGET_DIR="${CCNET_JOBS_TARGET:-$CACHE/jobs-target}"
JOBS=(prime_count sha256sum resize matmul)
# Jobs with safe points (worker/jobs/abi): instrumented with Binaryen's Asyncify so that
# the worker can suspend and resume them (VM checkpoints, docs/vm-checkpoints.md). Their
# __stack_pointer is exported, the one mutable global a checkpoint must carry; Asyncify's
# own two globals are imported from env (asyncify-relocatable), so the host owns them.
CHECKPOINTABLE=(prime_count sha256sum matmul)
WASM_OPT="${WASM_OPT:-wasm-opt}"
ASYNCIFY=(--enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext
  --enable-mutable-globals --asyncify --pass-arg=asyncify-imports@ccnet.safepoint
  --pass-arg=asyncify-relocatable -Os)
export CARGO_TARGET_WASM32_WASIP1_RUSTFLAGS="-C link-arg=--export=__stack_pointer"
C_JOBS=(resize_stb)
TARGET=wasm32-wasip1
log() { printf '[build-jobs] %s\n' "$*" >&2; }

WASM_BUILD_TOOLCHAIN="${WASM_BUILD_TOOLCHAIN:-}"
if [ -z "$WASM_BUILD_TOOLCHAIN" ] && [ -f .state/env ]; then
  # shellcheck source=/dev/null
  . .state/env
fi
PLUS=()
[ -z "${WASM_BUILD_TOOLCHAIN:-}" ] || PLUS=("+$WASM_BUILD_TOOLCHAIN")

command -v "$WASM_OPT" >/dev/null || {
  log "error: $WASM_OPT not found (bash scripts/setup.sh installs Debian's binaryen)"
  exit 1
}
stamp="$( {
  rustc "${PLUS[@]}" --version
  "$WASM_OPT" --version
  printf '%s\n' "${ASYNCIFY[*]}" "$CARGO_TARGET_WASM32_WASIP1_RUSTFLAGS" "${CHECKPOINTABLE[*]}"
  find worker/jobs -path worker/jobs/target -prune -o -type f \
    \( -name '*.rs' -o -name Cargo.toml -o -name Cargo.lock \) -print | LC_ALL=C sort | xargs sha256sum
} | sha256sum | cut -d' ' -f1)"

up_to_date() {
  [ "$(cat "$OUT/.stamp" 2>/dev/null)" = "$stamp" ] || return 1
  for job in "${JOBS[@]}"; do [ -s "$OUT/$job.wasm" ] && [ -x "$OUT/native/$job" ] || return 1; done
}
rust_jobs() {
  if up_to_date; then
    log "job modules up to date ($OUT)"
    return 0
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
    if [[ " ${CHECKPOINTABLE[*]} " == *" $job "* ]]; then
      # The plain module stays beside it, for benches/bench_vm_checkpoints.py's slowdown.
      mkdir -p "$OUT/plain"
      cp "$OUT/.$job.wasm.tmp" "$OUT/plain/$job.wasm"
      "$WASM_OPT" "$OUT/.$job.wasm.tmp" "${ASYNCIFY[@]}" -o "$OUT/.$job.async.wasm.tmp"
      mv "$OUT/.$job.async.wasm.tmp" "$OUT/.$job.wasm.tmp"
    fi
    mv "$OUT/.$job.wasm.tmp" "$OUT/$job.wasm"
    [ "$native" = 1 ] || continue
    cp "$CARGO_TARGET_DIR/release/$job" "$OUT/native/.$job.tmp"
    mv "$OUT/native/.$job.tmp" "$OUT/native/$job"
  done
  echo "$stamp" > "$OUT/.stamp"
  log "built ${JOBS[*]} into $OUT (native references in $OUT/native)"
}

# --- C jobs ----------------------------------------------------------------------------
WASI_CC="${WASI_CC:-clang-22}"
HOST_CC="${CC:-cc}"
# Debian's wasi-libc is multiarch: headers in /usr/include/wasm32-wasi, libs (crt1-command.o,
# which defines _start) in /usr/lib/wasm32-wasi. -nostdlibinc keeps the host's /usr/include
# out of the wasm build; stb comes from libstb-dev's /usr/include/stb on both builds.
# -ffp-contract=off (and STBI_NO_SIMD in the source): both builds do the same IEEE float
# operations, so the module and its native reference print the same bytes.
C_FLAGS=(-std=c11 -O2 -ffp-contract=off -Wall -Wextra -I/usr/include/stb)
WASM_C_FLAGS=(--target=wasm32-wasi -Wno-deprecated --sysroot=/usr -nostdlibinc
  -isystem /usr/include/wasm32-wasi "${C_FLAGS[@]}")
WASM_LD_FLAGS=(-Wl,-z,stack-size=1048576 -Wl,--strip-all)
NATIVE_LD_FLAGS=(-s -lm)

c_jobs() {
  local job src cstamp tool
  for tool in "$WASI_CC" "$HOST_CC"; do
    command -v "$tool" >/dev/null || {
      log "error: $tool not found (bash scripts/setup.sh installs the C job toolchain)"
      return 1
    }
  done
  [ -f /usr/include/stb/stb_image.h ] && [ -f /usr/lib/wasm32-wasi/crt1-command.o ] || {
    log "error: libstb-dev or wasi-libc missing (bash scripts/setup.sh installs them)"
    return 1
  }
  cstamp="$( {
    "$WASI_CC" --version | head -n 1
    "$HOST_CC" --version | head -n 1
    dpkg-query -W -f='${Package} ${Version}\n' wasi-libc libstb-dev libclang-rt-22-dev-wasm32 2>/dev/null || true
    printf '%s\n' "${WASM_C_FLAGS[*]}" "${WASM_LD_FLAGS[*]}" "${C_FLAGS[*]}" "${NATIVE_LD_FLAGS[*]}"
    for job in "${C_JOBS[@]}"; do sha256sum "worker/jobs/$job/$job.c"; done
  } | sha256sum | cut -d' ' -f1)"
  local fresh=1
  [ "$(cat "$OUT/.stamp-c" 2>/dev/null)" = "$cstamp" ] || fresh=0
  for job in "${C_JOBS[@]}"; do
    [ -s "$OUT/$job.wasm" ] && [ -x "$OUT/native/$job" ] || fresh=0
  done
  if [ "$fresh" = 1 ]; then
    log "C job modules up to date ($OUT)"
    return 0
  fi
  mkdir -p "$OUT/native"
  for job in "${C_JOBS[@]}"; do
    src="worker/jobs/$job/$job.c"
    log "$WASI_CC ${WASM_C_FLAGS[*]} $src ${WASM_LD_FLAGS[*]}"
    "$WASI_CC" "${WASM_C_FLAGS[@]}" -o "$OUT/.$job.wasm.tmp" "$src" "${WASM_LD_FLAGS[@]}"
    log "$HOST_CC ${C_FLAGS[*]} $src ${NATIVE_LD_FLAGS[*]} (native reference)"
    "$HOST_CC" "${C_FLAGS[@]}" -o "$OUT/native/.$job.tmp" "$src" "${NATIVE_LD_FLAGS[@]}"
    mv "$OUT/.$job.wasm.tmp" "$OUT/$job.wasm"
    mv "$OUT/native/.$job.tmp" "$OUT/native/$job"
  done
  echo "$cstamp" > "$OUT/.stamp-c"
  log "built ${C_JOBS[*]} into $OUT (native references in $OUT/native)"
}

mkdir -p "$OUT"
rust_jobs
c_jobs
