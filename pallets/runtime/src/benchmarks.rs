//! The pallets `frame-omni-bencher` benchmarks in this runtime (`scripts/bench-weights.sh`
//! builds the runtime with `runtime-benchmarks` and writes each pallet's `weights.rs`).

polkadot_sdk::frame_benchmarking::define_benchmarks!(
	[pallet_credits, Credits]
	[pallet_tasks, Tasks]
	[pallet_channels, Channels]
	[pallet_checkpoints, Checkpoints]
	[pallet_disputes, Disputes]
);
