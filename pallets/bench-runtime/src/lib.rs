//! The ccnet runtime with `runtime-benchmarks`, as a Wasm blob only:
//! `target/debug/wbuild/ccnet-bench-runtime/ccnet_bench_runtime.wasm`, which
//! `scripts/weights.sh` passes to `ccnet-node benchmark pallet --runtime`. The natively
//! built crate is empty.
#![cfg_attr(not(feature = "std"), no_std)]

// The runtime API exports (`#[no_mangle]`) come with the re-exported crate.
#[cfg(target_arch = "wasm32")]
pub use ccnet_runtime::*;
