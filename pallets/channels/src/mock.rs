//! Mock runtime for the channels pallet tests, with sr25519 account ids.

use crate as pallet_channels;
use polkadot_sdk::{
	frame_support::{derive_impl, parameter_types, traits::VariantCountOf},
	frame_system, pallet_balances, sp_io,
	sp_keyring::Sr25519Keyring,
	sp_runtime::{traits::IdentityLookup, AccountId32, BuildStorage},
};

type Block = frame_system::mocking::MockBlock<Test>;
pub type AccountId = AccountId32;
pub type Balance = u128;

pub const ED: Balance = 10;
pub const INITIAL: Balance = 1_000_000;
pub const CHALLENGE_PERIOD: u64 = 20;
pub const MIN_CHALLENGE_PERIOD: u64 = 5;
pub const RECORD_DEPOSIT: Balance = 5;

polkadot_sdk::frame_support::construct_runtime!(
	pub enum Test {
		System: frame_system,
		Balances: pallet_balances,
		Channels: pallet_channels,
	}
);

#[derive_impl(frame_system::config_preludes::TestDefaultConfig)]
impl frame_system::Config for Test {
	type Block = Block;
	type AccountId = AccountId;
	type Lookup = IdentityLookup<AccountId>;
	type AccountData = pallet_balances::AccountData<Balance>;
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
	pub const MinChallengePeriod: u64 = MIN_CHALLENGE_PERIOD;
	pub const RecordDeposit: Balance = RECORD_DEPOSIT;
}

impl pallet_channels::Config for Test {
	type Currency = Balances;
	type RuntimeHoldReason = RuntimeHoldReason;
	type MinChallengePeriod = MinChallengePeriod;
	type RecordDeposit = RecordDeposit;
	type WeightInfo = ();
}

pub fn alice() -> AccountId {
	Sr25519Keyring::Alice.to_account_id()
}
pub fn bob() -> AccountId {
	Sr25519Keyring::Bob.to_account_id()
}
pub fn charlie() -> AccountId {
	Sr25519Keyring::Charlie.to_account_id()
}

/// Alice, Bob and Charlie funded with `INITIAL`; block 1.
pub fn new_test_ext() -> sp_io::TestExternalities {
	let mut storage = frame_system::GenesisConfig::<Test>::default().build_storage().unwrap();
	pallet_balances::GenesisConfig::<Test> {
		balances: vec![(alice(), INITIAL), (bob(), INITIAL), (charlie(), INITIAL)],
		..Default::default()
	}
	.assimilate_storage(&mut storage)
	.unwrap();
	pallet_channels::GenesisConfig::<Test> {
		challenge_period: CHALLENGE_PERIOD,
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
		Channels::do_try_state().expect("channel invariants hold");
	});
}

/// Test externalities with an in-memory keystore, for the benchmarks' signers.
#[cfg(feature = "runtime-benchmarks")]
pub fn new_bench_ext() -> sp_io::TestExternalities {
	use polkadot_sdk::sp_keystore::{testing::MemoryKeystore, KeystoreExt};
	let mut ext = new_test_ext();
	ext.register_extension(KeystoreExt::new(MemoryKeystore::new()));
	ext
}
