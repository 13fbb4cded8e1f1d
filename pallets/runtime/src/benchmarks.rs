//! The pallets whose benchmarks this runtime carries (with `runtime-benchmarks`):
//! `frame_system` and the five ccnet pallets. `scripts/weights.sh` runs them with
//! `ccnet-node benchmark pallet` and writes each one's weights.

polkadot_sdk::frame_benchmarking::define_benchmarks!(
	[frame_system, SystemBench::<Runtime>]
	[pallet_credits, Credits]
	[pallet_tasks, Tasks]
	[pallet_channels, Channels]
	[pallet_checkpoints, Checkpoints]
	[pallet_disputes, Disputes]
);

// `set_code`'s benchmark uploads the crate's own test runtime; the defaults check the
// upgrade (the benchmark build skips the spec name check).
impl polkadot_sdk::frame_system_benchmarking::Config for crate::Runtime {}
