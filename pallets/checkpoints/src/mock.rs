//! Mock runtime for the checkpoints pallet tests.

use crate as pallet_checkpoints;
use polkadot_sdk::{
	frame_support::{derive_impl, parameter_types},
	frame_system, sp_io,
	sp_runtime::BuildStorage,
};

type Block = frame_system::mocking::MockBlock<Test>;
pub const ALICE: u64 = 1;
pub const BOB: u64 = 2;
pub const MAX_HISTORY: u32 = 3;

polkadot_sdk::frame_support::construct_runtime!(
	pub enum Test {
		System: frame_system,
		Checkpoints: pallet_checkpoints,
	}
);

#[derive_impl(frame_system::config_preludes::TestDefaultConfig)]
impl frame_system::Config for Test {
	type Block = Block;
}

parameter_types! {
	pub const MaxTxIdLen: u32 = 43;
	pub const MaxHistory: u32 = MAX_HISTORY;
}

impl pallet_checkpoints::Config for Test {
	type MaxTxIdLen = MaxTxIdLen;
	type MaxHistory = MaxHistory;
	type WeightInfo = ();
}

/// Empty state at block 1.
pub fn new_test_ext() -> sp_io::TestExternalities {
	let storage = frame_system::GenesisConfig::<Test>::default().build_storage().unwrap();
	let mut ext = sp_io::TestExternalities::new(storage);
	ext.execute_with(|| System::set_block_number(1));
	ext
}

/// Run `test`, then check the pallet's invariant.
pub fn run_test(test: impl FnOnce()) {
	new_test_ext().execute_with(|| {
		test();
		Checkpoints::do_try_state().expect("checkpoint invariants hold");
	});
}
