//! Mock runtime for the disputes pallet tests: System, Balances, Credits,
//! Tasks and Disputes, with a deterministic randomness source.

use crate as pallet_disputes;
use polkadot_sdk::{
	frame_support::{
		assert_ok, derive_impl, parameter_types,
		traits::{Randomness, VariantCountOf},
	},
	frame_system, pallet_balances,
	sp_core::H256,
	sp_io,
	sp_runtime::{traits::Hash, BuildStorage},
};

type Block = frame_system::mocking::MockBlock<Test>;
pub type AccountId = u64;
pub type Balance = u128;

pub const REQUESTER: AccountId = 1;
pub const CHEAT: AccountId = 10;
pub const V1: AccountId = 11;
pub const V2: AccountId = 12;
pub const V3: AccountId = 13;
pub const V4: AccountId = 14;
pub const ED: Balance = 10;
pub const INITIAL: Balance = 1_000_000;
pub const V5: AccountId = 15;
pub const OUTSIDER: AccountId = 30;
pub const MIN_STAKE: Balance = 1_000;
/// Each claim bonds this much: what a worker at fault loses.
pub const CLAIM_BOND: Balance = 100;
pub const CHALLENGE_STAKE: Balance = 100;
pub const OUTSIDER_STAKE: Balance = 400;
pub const REWARD: Balance = 10;
pub const VERIFIER_BOND: Balance = 20;
pub const DRAW_DELAY: u64 = 2;
pub const COMMIT: u64 = 3;
pub const REVEAL: u64 = 3;
pub const TASK_REVEAL: u64 = 5;
pub const TASK_WINDOW: u64 = 10;

polkadot_sdk::frame_support::construct_runtime!(
	pub enum Test {
		System: frame_system,
		Balances: pallet_balances,
		Credits: pallet_credits,
		Tasks: pallet_tasks,
		Disputes: pallet_disputes,
	}
);

#[derive_impl(frame_system::config_preludes::TestDefaultConfig)]
impl frame_system::Config for Test {
	type Block = Block;
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
	pub const UnbondingPeriod: u64 = 10;
	pub const MaxUnbondingChunks: u32 = 4;
	pub const MultiplierMax: u32 = 10;
	pub const MultiplierDecayCpuHours: u128 = 1_000_000;
	pub const FuelPerCpuHour: u128 = 1_000;
	pub const MinWorkerStake: Balance = MIN_STAKE;
	pub const MaxWorkers: u32 = 8;
	pub const MaxCapabilities: u32 = 2;
	pub const MaxCapabilityLen: u32 = 8;
	pub const MaxEndpointLen: u32 = 16;
	pub const MaxTaskTypeLen: u32 = 8;
	pub const MaxInputRefLen: u32 = 16;
	pub const MaxOutputSpecLen: u32 = 8;
	pub const MaxRedundancy: u8 = 3;
	pub const MaxTaskDuration: u64 = 100;
	pub const BanPeriod: u64 = 50;
	pub const ClaimBond: Balance = CLAIM_BOND;
	pub const NoRevealSlash: Balance = 10;
	pub const TaskDeposit: Balance = 1;
	pub const WorkerDeposit: Balance = 1;
	pub const TaskRevealPeriod: u64 = TASK_REVEAL;
	pub const ChallengeWindow: u64 = TASK_WINDOW;
	pub const TaskRetention: u64 = 100;
	pub const MinReputableShare: Balance = 1;
	pub const MaxTaskFuel: u64 = 1_000_000;
	pub const DebtDeposit: Balance = 1;
	pub const ChallengeStake: Balance = CHALLENGE_STAKE;
	pub const OutsiderChallengeStake: Balance = OUTSIDER_STAKE;
	pub const VerifierReward: Balance = REWARD;
	pub const VerifierBond: Balance = VERIFIER_BOND;
	pub const VerifierCount: u32 = 3;
	pub const MinVerifiers: u32 = 3;
	pub const DrawDelay: u64 = DRAW_DELAY;
	pub const MaxDrawsPerBlock: u32 = 2;
	pub const CommitPeriod: u64 = COMMIT;
	pub const RevealPeriod: u64 = REVEAL;
	pub const MaxExcluded: u32 = 8;
	pub const MaxAuditors: u32 = 4;
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
	type RevealPeriod = TaskRevealPeriod;
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

/// Randomness from the subject and the parent block hash, as collective flip mixes
/// recent block hashes: it changes with the block the draw runs in.
pub struct TestRandomness;
impl Randomness<H256, u64> for TestRandomness {
	fn random(subject: &[u8]) -> (H256, u64) {
		let material = [subject, System::parent_hash().as_ref()].concat();
		(
			<Test as frame_system::Config>::Hashing::hash(&material),
			System::block_number(),
		)
	}
}

impl pallet_disputes::Config for Test {
	type Currency = Balances;
	type RuntimeHoldReason = RuntimeHoldReason;
	type Stakes = Credits;
	type Workers = Tasks;
	type Tasks = Tasks;
	type Randomness = TestRandomness;
	type ChallengeStake = ChallengeStake;
	type OutsiderChallengeStake = OutsiderChallengeStake;
	type VerifierReward = VerifierReward;
	type VerifierBond = VerifierBond;
	type VerifierCount = VerifierCount;
	type MinVerifiers = MinVerifiers;
	type DrawDelay = DrawDelay;
	type MaxDrawsPerBlock = MaxDrawsPerBlock;
	type CommitPeriod = CommitPeriod;
	type RevealPeriod = RevealPeriod;
	type MaxExcluded = MaxExcluded;
	type MaxAuditors = MaxAuditors;
	type MaxCandidates = MaxWorkers;
	type WeightInfo = ();
	type BenchmarkHelper = MockSetup;
}

/// Benchmark setup through the real credits and tasks pallets.
pub struct MockSetup;
impl pallet_disputes::BenchmarkHelper<AccountId> for MockSetup {
	fn worker(who: &AccountId) {
		register(*who);
	}
	fn task_with_result(requester: &AccountId, worker: &AccountId, hash: H256) -> u64 {
		let id = pallet_tasks::NextTaskId::<Test>::get();
		assert_ok!(Tasks::post_task(
			RuntimeOrigin::signed(*requester),
			Default::default(),
			Default::default(),
			Default::default(),
			500,
			System::block_number() + 50,
			1
		));
		assert_ok!(Tasks::claim(RuntimeOrigin::signed(*worker), id));
		let commitment = Tasks::result_commitment(id, worker, &hash, 1, &[0; 32]);
		assert_ok!(Tasks::submit_result(RuntimeOrigin::signed(*worker), id, commitment));
		// Redundancy 1, claimed and committed: reveals are open.
		assert_ok!(Tasks::reveal_result(
			RuntimeOrigin::signed(*worker),
			id,
			hash,
			1,
			[0; 32]
		));
		id
	}
}

/// Every account funded with `INITIAL`; block 1.
pub fn new_test_ext() -> sp_io::TestExternalities {
	let mut storage = frame_system::GenesisConfig::<Test>::default().build_storage().unwrap();
	pallet_balances::GenesisConfig::<Test> {
		balances: [REQUESTER, CHEAT, V1, V2, V3, V4, V5, OUTSIDER]
			.iter()
			.map(|a| (*a, INITIAL))
			.collect(),
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
		Default::default(),
		Default::default()
	));
}

/// A task of REQUESTER that CHEAT claimed and answered with `hash`; returns its id.
pub fn task_with_result(hash: H256) -> u64 {
	<MockSetup as pallet_disputes::BenchmarkHelper<AccountId>>::task_with_result(&REQUESTER, &CHEAT, hash)
}

/// Every bond equals what it backs: claims times `ClaimBond` plus verifier duties
/// times `VerifierBond` (checked from both pallets' records to the stake ledgers).
pub fn check_bonds() {
	use ccnet_primitives::StakeProvider;
	let claims = Tasks::open_claims();
	let duties = Disputes::open_duties();
	for (who, ledger) in pallet_credits::Stakes::<Test>::iter() {
		let expected = Balance::from(claims.get(&who).copied().unwrap_or(0)) * CLAIM_BOND
			+ Balance::from(duties.get(&who).copied().unwrap_or(0)) * VERIFIER_BOND;
		assert_eq!(ledger.bonded, expected, "bond of {who} differs from its obligations");
		assert_eq!(Credits::active(&who) - Credits::free_stake(&who), expected);
	}
	for who in claims.keys().chain(duties.keys()) {
		assert!(
			pallet_credits::Stakes::<Test>::contains_key(who),
			"an obligation without a stake"
		);
	}
}

/// Run `test` with CHEAT and V1..V3 registered, then check every pallet's invariants.
pub fn run_test(test: impl FnOnce()) {
	new_test_ext().execute_with(|| {
		for w in [CHEAT, V1, V2, V3] {
			register(w);
		}
		test();
		Disputes::do_try_state().expect("dispute invariants hold");
		Tasks::do_try_state().expect("task invariants hold");
		Credits::do_try_state().expect("credit invariants hold");
		check_bonds();
	});
}
