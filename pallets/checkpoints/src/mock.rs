//! Mock runtime for the checkpoints pallet tests.

use crate as pallet_checkpoints;
use polkadot_sdk::{
	frame_support::{derive_impl, parameter_types},
	frame_system, pallet_balances, sp_io,
	sp_runtime::BuildStorage,
};

type Block = frame_system::mocking::MockBlock<Test>;
pub const ALICE: u64 = 1;
pub const BOB: u64 = 2;
/// Has no balance at all.
pub const CAROL: u64 = 3;
pub const MAX_HISTORY: u32 = 3;
pub const JOB_DEPOSIT: u64 = 7;
pub const RETENTION: u64 = 10;
pub const INITIAL: u64 = 1_000;

polkadot_sdk::frame_support::construct_runtime!(
	pub enum Test {
		System: frame_system,
		Balances: pallet_balances,
		Checkpoints: pallet_checkpoints,
	}
);

#[derive_impl(frame_system::config_preludes::TestDefaultConfig)]
impl frame_system::Config for Test {
	type Block = Block;
	type AccountData = pallet_balances::AccountData<u64>;
}

#[derive_impl(pallet_balances::config_preludes::TestDefaultConfig)]
impl pallet_balances::Config for Test {
	type AccountStore = System;
}

parameter_types! {
	pub const MaxTxIdLen: u32 = 43;
	pub const MaxHistory: u32 = MAX_HISTORY;
	pub const JobRecordDeposit: u64 = JOB_DEPOSIT;
	pub const JobRecordRetention: u64 = RETENTION;
}

impl pallet_checkpoints::Config for Test {
	type Currency = Balances;
	type RuntimeHoldReason = RuntimeHoldReason;
	type JobRecordDeposit = JobRecordDeposit;
	type JobRecordRetention = JobRecordRetention;
	type MaxTxIdLen = MaxTxIdLen;
	type MaxHistory = MaxHistory;
	type WeightInfo = ();
}

/// Alice and Bob with `INITIAL` planck each, at block 1.
pub fn new_test_ext() -> sp_io::TestExternalities {
	let mut storage = frame_system::GenesisConfig::<Test>::default().build_storage().unwrap();
	pallet_balances::GenesisConfig::<Test> {
		balances: vec![(ALICE, INITIAL), (BOB, INITIAL)],
		..Default::default()
	}
	.assimilate_storage(&mut storage)
	.unwrap();
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
