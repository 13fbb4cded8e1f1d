# Sourced by setup.sh and test.sh: one place for how this project drives cargo.
#   CARGO_TARGET_DIR          outside the clone, so CI and later builds reuse it
#   WASM_BUILD_WORKSPACE_HINT the runtime's Wasm build uses this workspace's Cargo.lock
#   WASM_BUILD_TOOLCHAIN      from .state/env (scripts/wasm-toolchain.sh), if not the default
#   CCNET_CARGO_FEATURES      benchmarks and try-runtime of every pallet, for every native
#                             build: one feature set, so tests, clippy and the chain-spec
#                             tool share one build. The runtime's own features stay off,
#                             so its Wasm is built without them.
CCNET_ROOT="${CCNET_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/ccnet/target}"
export WASM_BUILD_WORKSPACE_HINT="$CCNET_ROOT"
unset SKIP_WASM_BUILD
if [ -f "$CCNET_ROOT/.state/env" ]; then
  # shellcheck source=/dev/null
  . "$CCNET_ROOT/.state/env"
fi
[ -n "${WASM_BUILD_TOOLCHAIN:-}" ] || unset WASM_BUILD_TOOLCHAIN
CCNET_CARGO_FEATURES=""
for pallet in credits tasks channels checkpoints disputes; do
  CCNET_CARGO_FEATURES="$CCNET_CARGO_FEATURES,pallet-$pallet/runtime-benchmarks,pallet-$pallet/try-runtime"
done
export CCNET_CARGO_FEATURES="${CCNET_CARGO_FEATURES#,}"
