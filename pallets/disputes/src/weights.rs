//! Weights for `pallet-disputes`.
//!
//! Conservative hand-set values until generated from `benchmarking.rs`. `draw(w)`
//! scans the `w` registered workers (their records and stake ledgers), so
//! `on_initialize` charges it at `MaxCandidates` for every draw it makes; `challenge`
//! reads only the registry's length.

#![allow(missing_docs)]

use core::marker::PhantomData;
use polkadot_sdk::frame_support::{
	traits::Get,
	weights::{constants::RocksDbWeight, RuntimeDbWeight, Weight},
};

/// Weight functions needed by `pallet-disputes`.
pub trait WeightInfo {
	fn challenge() -> Weight;
	fn draw(w: u32) -> Weight;
	fn commit_vote() -> Weight;
	fn reveal_vote() -> Weight;
	fn reveal_expected() -> Weight;
	fn resolve() -> Weight;
	fn register_auditor() -> Weight;
}

fn w(db: RuntimeDbWeight, ref_time: u64, proof: u64, reads: u64, writes: u64) -> Weight {
	Weight::from_parts(ref_time, proof).saturating_add(db.reads_writes(reads, writes))
}

macro_rules! impl_weights {
	($db:expr) => {
		fn challenge() -> Weight {
			w($db, 150_000_000, 20_000, 24, 10)
		}
		fn draw(n: u32) -> Weight {
			w($db, 100_000_000, 40_000, 6, 8).saturating_add(w($db, 30_000_000, 400, 2, 0).saturating_mul(n.into()))
		}
		fn commit_vote() -> Weight {
			w($db, 40_000_000, 6_000, 1, 1)
		}
		fn reveal_vote() -> Weight {
			w($db, 50_000_000, 6_000, 1, 1)
		}
		fn reveal_expected() -> Weight {
			w($db, 50_000_000, 6_000, 2, 1)
		}
		fn resolve() -> Weight {
			w($db, 300_000_000, 40_000, 30, 30)
		}
		fn register_auditor() -> Weight {
			w($db, 20_000_000, 2_000, 1, 2)
		}
	};
}

/// Weights for `pallet-disputes` using the runtime's database weights.
pub struct SubstrateWeight<T>(PhantomData<T>);
impl<T: polkadot_sdk::frame_system::Config> WeightInfo for SubstrateWeight<T> {
	impl_weights!(T::DbWeight::get());
}

/// For tests: RocksDB database weights.
impl WeightInfo for () {
	impl_weights!(RocksDbWeight::get());
}
