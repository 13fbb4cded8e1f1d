//! Mock runtime for the credits pallet tests.

use crate as pallet_credits;
use polkadot_sdk::{
	frame_support::{derive_impl, parameter_types, traits::VariantCountOf},
	frame_system, pallet_balances, sp_io,
	sp_runtime::BuildStorage,
};

type Block = polkadot_sdk::frame_system::mocking::MockBlock<Test>;
pub type AccountId = u64;
pub type Balance = u128;

pub const ALICE: AccountId = 1;
pub const BOB: AccountId = 2;
pub const CHARLIE: AccountId = 3;
pub const DEBT_DEPOSIT: Balance = 3;
/// Never funded.
pub const NOBODY: AccountId = 99;
pub const ED: Balance = 10;
pub const INITIAL: Balance = 1_000_000;
pub const UNBONDING: u64 = 10;
pub const MAX_CHUNKS: u32 = 3;

polkadot_sdk::frame_support::construct_runtime!(
	pub enum Test {
		System: polkadot_sdk::frame_system,
		Balances: polkadot_sdk::pallet_balances,
		Credits: pallet_credits,
	}
);

#[derive_impl(frame_system::config_preludes::TestDefaultConfig)]
impl frame_system::Config for Test {
	type Block = Block;
	type AccountData = polkadot_sdk::pallet_balances::AccountData<Balance>;
}

#[derive_impl(pallet_balances::config_preludes::TestDefaultConfig)]
impl pallet_balances::Config for Test {
	type Balance = Balance;
	type ExistentialDeposit = polkadot_sdk::frame_support::traits::ConstU128<ED>;
	type AccountStore = System;
	type RuntimeHoldReason = RuntimeHoldReason;
	type MaxFreezes = VariantCountOf<RuntimeFreezeReason>;
}

parameter_types! {
	pub const UnbondingPeriod: u64 = UNBONDING;
	pub const MaxUnbondingChunks: u32 = MAX_CHUNKS;
	pub const MultiplierMax: u32 = 10;
	pub const MultiplierDecayCpuHours: u128 = 1_000_000;
	pub const FuelPerCpuHour: u128 = 1_000;
	pub const DebtDeposit: Balance = DEBT_DEPOSIT;
}

impl pallet_credits::Config for Test {
	type Currency = Balances;
	type RuntimeHoldReason = RuntimeHoldReason;
	type UnbondingPeriod = UnbondingPeriod;
	type MaxUnbondingChunks = MaxUnbondingChunks;
	type MultiplierMax = MultiplierMax;
	type MultiplierDecayCpuHours = MultiplierDecayCpuHours;
	type FuelPerCpuHour = FuelPerCpuHour;
	type DebtDeposit = DebtDeposit;
	type WeightInfo = ();
}

/// Alice, Bob and Charlie hold `INITIAL` each; block 1.
pub fn new_test_ext() -> sp_io::TestExternalities {
	let mut storage = polkadot_sdk::frame_system::GenesisConfig::<Test>::default()
		.build_storage()
		.unwrap();
	polkadot_sdk::pallet_balances::GenesisConfig::<Test> {
		balances: vec![(ALICE, INITIAL), (BOB, INITIAL), (CHARLIE, INITIAL)],
		..Default::default()
	}
	.assimilate_storage(&mut storage)
	.unwrap();
	let mut ext = sp_io::TestExternalities::new(storage);
	ext.execute_with(|| System::set_block_number(1));
	ext
}

/// Run `test`, then check the pallet's invariants.
pub fn run_test(test: impl FnOnce()) {
	new_test_ext().execute_with(|| {
		test();
		Credits::do_try_state().expect("credits invariants hold");
	});
}
