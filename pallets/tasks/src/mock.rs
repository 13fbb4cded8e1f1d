//! Mock runtime for the tasks pallet tests: System, Balances, Credits (stakes) and Tasks.

use crate as pallet_tasks;
use polkadot_sdk::{
	frame_support::{assert_ok, derive_impl, parameter_types, traits::VariantCountOf},
	frame_system, pallet_balances, sp_io,
	sp_runtime::BuildStorage,
};

type Block = polkadot_sdk::frame_system::mocking::MockBlock<Test>;
pub type AccountId = u64;
pub type Balance = u128;

pub const REQUESTER: AccountId = 1;
pub const W1: AccountId = 11;
pub const W2: AccountId = 12;
pub const W3: AccountId = 13;
/// Funded, never staked.
pub const POOR: AccountId = 20;
pub const ED: Balance = 10;
pub const INITIAL: Balance = 1_000_000;
pub const MIN_STAKE: Balance = 1_000;
pub const MAX_DURATION: u64 = 100;
pub const BAN: u64 = 50;
/// Each claim bonds this much stake; MIN_STAKE covers two claims at once.
pub const CLAIM_BOND: Balance = 500;
pub const NO_REVEAL_SLASH: Balance = 50;
pub const TASK_DEPOSIT: Balance = 7;
pub const WORKER_DEPOSIT: Balance = 9;
pub const REVEAL: u64 = 5;
pub const WINDOW: u64 = 4;
pub const RETENTION: u64 = 20;
pub const MIN_SHARE: Balance = 100;
pub const MAX_TASK_FUEL: u64 = 1_000_000;

polkadot_sdk::frame_support::construct_runtime!(
	pub enum Test {
		System: polkadot_sdk::frame_system,
		Balances: polkadot_sdk::pallet_balances,
		Credits: pallet_credits,
		Tasks: pallet_tasks,
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
	pub const UnbondingPeriod: u64 = 10;
	pub const MaxUnbondingChunks: u32 = 4;
	pub const MultiplierMax: u32 = 10;
	pub const MultiplierDecayCpuHours: u128 = 1_000_000;
	pub const FuelPerCpuHour: u128 = 1_000;
	pub const MinWorkerStake: Balance = MIN_STAKE;
	pub const MaxWorkers: u32 = 4;
	pub const MaxCapabilities: u32 = 2;
	pub const MaxCapabilityLen: u32 = 8;
	pub const MaxEndpointLen: u32 = 16;
	pub const MaxTaskTypeLen: u32 = 8;
	pub const MaxInputRefLen: u32 = 16;
	pub const MaxOutputSpecLen: u32 = 8;
	pub const MaxRedundancy: u8 = 3;
	pub const MaxTaskDuration: u64 = MAX_DURATION;
	pub const BanPeriod: u64 = BAN;
	pub const ClaimBond: Balance = CLAIM_BOND;
	pub const NoRevealSlash: Balance = NO_REVEAL_SLASH;
	pub const TaskDeposit: Balance = TASK_DEPOSIT;
	pub const WorkerDeposit: Balance = WORKER_DEPOSIT;
	pub const RevealPeriod: u64 = REVEAL;
	pub const ChallengeWindow: u64 = WINDOW;
	pub const TaskRetention: u64 = RETENTION;
	pub const MinReputableShare: Balance = MIN_SHARE;
	pub const MaxTaskFuel: u64 = MAX_TASK_FUEL;
	pub const DebtDeposit: Balance = 1;
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

impl pallet_tasks::Config for Test {
	type Currency = Balances;
	type RuntimeHoldReason = RuntimeHoldReason;
	type Stakes = Credits;
	type Contributions = Credits;
	type MinWorkerStake = MinWorkerStake;
	type ClaimBond = ClaimBond;
	type NoRevealSlash = NoRevealSlash;
	type TaskDeposit = TaskDeposit;
	type WorkerDeposit = WorkerDeposit;
	type RevealPeriod = RevealPeriod;
	type ChallengeWindow = ChallengeWindow;
	type TaskRetention = TaskRetention;
	type MinReputableShare = MinReputableShare;
	type MaxTaskFuel = MaxTaskFuel;
	type MaxWorkers = MaxWorkers;
	type MaxCapabilities = MaxCapabilities;
	type MaxCapabilityLen = MaxCapabilityLen;
	type MaxEndpointLen = MaxEndpointLen;
	type MaxTaskTypeLen = MaxTaskTypeLen;
	type MaxInputRefLen = MaxInputRefLen;
	type MaxOutputSpecLen = MaxOutputSpecLen;
	type MaxRedundancy = MaxRedundancy;
	type MaxTaskDuration = MaxTaskDuration;
	type BanPeriod = BanPeriod;
	type WeightInfo = ();
}

/// Every account funded with `INITIAL`; block 1.
pub fn new_test_ext() -> sp_io::TestExternalities {
	let mut storage = polkadot_sdk::frame_system::GenesisConfig::<Test>::default()
		.build_storage()
		.unwrap();
	polkadot_sdk::pallet_balances::GenesisConfig::<Test> {
		balances: [REQUESTER, W1, W2, W3, POOR].iter().map(|a| (*a, INITIAL)).collect(),
		..Default::default()
	}
	.assimilate_storage(&mut storage)
	.unwrap();
	let mut ext = sp_io::TestExternalities::new(storage);
	ext.execute_with(|| System::set_block_number(1));
	ext
}

/// Stake `MIN_STAKE` and register as a worker.
pub fn register(who: AccountId) {
	assert_ok!(Credits::stake(RuntimeOrigin::signed(who), MIN_STAKE));
	assert_ok!(Tasks::register_worker(
		RuntimeOrigin::signed(who),
		vec![b"wasm".to_vec().try_into().unwrap()].try_into().unwrap(),
		b"http://w".to_vec().try_into().unwrap(),
	));
}

/// Run `test` with W1..W3 registered, then check both pallets' invariants.
pub fn run_test(test: impl FnOnce()) {
	new_test_ext().execute_with(|| {
		for w in [W1, W2, W3] {
			register(w);
		}
		test();
		Tasks::do_try_state().expect("tasks invariants hold");
		Credits::do_try_state().expect("credits invariants hold");
	});
}
