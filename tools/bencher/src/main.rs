//! `ccnet-bencher`: the `benchmark pallet` command of `frame-benchmarking-cli`, alone.
//!
//! It executes a runtime Wasm built with `runtime-benchmarks` (no node, no database:
//! genesis comes from the runtime's own preset) and writes each pallet's weights from
//! the measurements with our template. `scripts/bench-weights.sh` builds and drives it;
//! it takes every option of `frame-omni-bencher v1 benchmark pallet`, of which it is
//! the small subset this workspace needs (the omni-bencher pulls a relay-chain client
//! and RocksDB).

use clap::Parser;
use polkadot_sdk::{frame_benchmarking_cli::PalletCmd, sc_cli, sp_runtime::traits::BlakeTwo256};

fn main() -> sc_cli::Result<()> {
	sc_cli::LoggerBuilder::new("").init()?;
	// The runtime calls no host functions beyond Substrate's and benchmarking's own.
	PalletCmd::parse().run_with_spec::<BlakeTwo256, ()>(None)
}
