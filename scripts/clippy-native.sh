#!/usr/bin/env bash
# RUSTC_WORKSPACE_WRAPPER of scripts/build-node.sh: clippy's driver (CLIPPY_DRIVER) for
# this workspace's native crates, plain rustc for the runtime's Wasm.
#
# The runtime's build script builds its Wasm with a nested cargo that inherits the
# wrapper. Compiled by clippy's driver (which turns MIR optimisations off, and is the
# default toolchain's compiler, not WASM_BUILD_TOOLCHAIN's) that Wasm differs from the
# one the chain-spec tool embeds: the node's genesis `:code` would differ from the
# chain specs'. Cargo calls a wrapper as `wrapper <rustc> <args...>`.
set -euo pipefail
rustc="$1"
shift
for arg in "$@"; do
  case "$arg" in
    wasm32*|--target=wasm32*) exec "$rustc" "$@" ;;
  esac
done
exec "${CLIPPY_DRIVER:?CLIPPY_DRIVER: the clippy-driver to run}" "$rustc" "$@"
