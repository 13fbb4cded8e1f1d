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
#
# Every build is also clippy's pass (-D warnings) over this workspace's crates: clippy's
# driver compiles them (RUSTC_WORKSPACE_WRAPPER, as `cargo clippy` sets it for a check
# build), so the lints cost seconds instead of a check build of the node's 1,000 crates
# (10 minutes cold on the CI machine), and they see the build's own features.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
log() { printf '[build-node] %s\n' "$*"; }

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
# Lints on: a warning fails the build. The wrapper and CLIPPY_ARGS are part of the
# workspace crates' fingerprints, so every build of this directory sets them alike.
# The runtime's Wasm is compiled by plain rustc (scripts/clippy-native.sh says why).
export CLIPPY_DRIVER RUSTC_WORKSPACE_WRAPPER="$ROOT/scripts/clippy-native.sh"
CLIPPY_DRIVER="$(rustup which clippy-driver 2>/dev/null || command -v clippy-driver)"
export CLIPPY_ARGS="-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__"
start=$(date +%s)
cargo build -q --locked -p ccnet-node "${features[@]}" "${profile_args[@]}"
log "built (clippy clean) $CARGO_TARGET_DIR/$profile/ccnet-node in $(( $(date +%s) - start )) s"
