#!/usr/bin/env bash
# Builds the validator node, `ccnet-node` (node/), into a target directory of its own,
# cached outside the clone: ~/.cache/ccnet/node-target/debug/ccnet-node.
#
# Its own directory because the runtime's Wasm (wbuild/ccnet-runtime) is named by crate,
# not by features: the node embeds the runtime built without the benchmark features
# that the tests' build turns on, and one directory would rebuild it back and forth.
# Debian's protobuf-compiler, libssl-dev and pkg-config come from scripts/setup.sh.
# Every build has `benchmark pallet` (feature benchmark-cli), which runs the benchmarks
# in a runtime Wasm given with `--runtime` (scripts/weights.sh): the node's own runtime
# stays the production one.
#
# Times on this machine (2 cores): cold ~13 min (about 1,000 crates); with the cache
# warm, a new clone rebuilds only this workspace's crates (pallets, runtime Wasm, node).
# `make test` runs it (the node network tests need the binary); `make demo` does not.
#   NODE_PROFILE=bencher scripts/build-node.sh   optimised (Cargo.toml's `bencher`
#                                                profile), for scripts/weights.sh
#   NODE_FEATURES=runtime-benchmarks scripts/build-node.sh   the node's own runtime
#                                                with its benchmarks (not for a validator;
#                                                in ~/.cache/ccnet/node-target-runtime-benchmarks)
#   scripts/build-node.sh --clippy   clippy (-D warnings) on the node instead, a check build
#                                    in ~/.cache/ccnet/node-clippy-target (cold ~8 min
#                                    here, then seconds; the runtime's Wasm is skipped)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
log() { printf '[build-node] %s\n' "$*"; }

if [ "${1:-}" = "--clippy" ]; then
  # Its own directory: check artifacts beside the build's would only lock it longer.
  export CARGO_TARGET_DIR="${CCNET_NODE_CLIPPY_TARGET_DIR:-$HOME/.cache/ccnet/node-clippy-target}"
  # shellcheck source=scripts/cargo-env.sh
  . scripts/cargo-env.sh
  export SKIP_WASM_BUILD=1  # the node's code, not the runtime's Wasm (built for the tests)
  log "cargo clippy -p ccnet-node (target $CARGO_TARGET_DIR)"
  start=$(date +%s)
  # Default features: the benchmark-cli code is a dozen lines, and with it clippy would
  # check-build frame-benchmarking-cli's few hundred extra crates too.
  cargo clippy -q --locked -p ccnet-node --all-targets -- -D warnings
  log "clippy clean in $(( $(date +%s) - start )) s"
  exit 0
fi

# Extra features get a directory of their own too, for the same reason.
suffix="${NODE_FEATURES:+-${NODE_FEATURES//,/-}}"
export CARGO_TARGET_DIR="${CCNET_NODE_TARGET_DIR:-$HOME/.cache/ccnet/node-target$suffix}"
# shellcheck source=scripts/cargo-env.sh
. scripts/cargo-env.sh

# frame-benchmarking-cli's own test runtime serves only `benchmark storage`, which this
# node does not offer; its Wasm build cannot find the crate in this workspace's metadata
# (an optional dependency), so it is skipped.
export SKIP_FRAME_STORAGE_ACCESS_TEST_RUNTIME_WASM_BUILD=1
features=(--features "benchmark-cli${NODE_FEATURES:+,$NODE_FEATURES}")
profile="${NODE_PROFILE:-debug}"
profile_args=()
[ "$profile" = debug ] || profile_args=(--profile "$profile")
log "cargo build -p ccnet-node ${features[*]} ${profile_args[*]} (target $CARGO_TARGET_DIR)"
start=$(date +%s)
cargo build -q --locked -p ccnet-node "${features[@]}" "${profile_args[@]}"
log "built $CARGO_TARGET_DIR/$profile/ccnet-node in $(( $(date +%s) - start )) s"
