//! Configuration of every pallet in the runtime, with the economic constants
//! of Compute Currency.

use crate::*;
use frame_support::{
	derive_impl,
	dispatch::DispatchClass,
	parameter_types,
	traits::{ConstBool, ConstU128, ConstU32, ConstU64, ConstU8, VariantCountOf},
	weights::{
		constants::{RocksDbWeight, WEIGHT_REF_TIME_PER_SECOND},
		IdentityFee, Weight,
	},
};
use frame_system::limits::{BlockLength, BlockWeights};
use pallet_transaction_payment::{ConstFeeMultiplier, FungibleAdapter, Multiplier};
use sp_consensus_aura::sr25519::AuthorityId as AuraId;
use sp_core::H256;
use sp_runtime::traits::One;

const NORMAL_DISPATCH_RATIO: Perbill = Perbill::from_percent(75);
const MAX_BLOCK_LENGTH: u32 = 5 * 1024 * 1024;

parameter_types! {
	pub const BlockHashCount: BlockNumber = 2400;
	pub const Version: RuntimeVersion = VERSION;
	/// 2 seconds of compute per 6-second block.
	pub RuntimeBlockWeights: BlockWeights = BlockWeights::with_sensible_defaults(
		Weight::from_parts(2u64 * WEIGHT_REF_TIME_PER_SECOND, u64::MAX),
		NORMAL_DISPATCH_RATIO,
	);
	/// 5 MiB blocks, of which 75 % for normal extrinsics.
	pub RuntimeBlockLength: BlockLength = BlockLength::builder()
		.max_length(MAX_BLOCK_LENGTH)
		.modify_max_length_for_class(DispatchClass::Normal, |max| *max = NORMAL_DISPATCH_RATIO * *max)
		.build();
	pub const SS58Prefix: u8 = 42;
}

#[derive_impl(frame_system::config_preludes::SolochainDefaultConfig)]
impl frame_system::Config for Runtime {
	type Block = Block;
	type BlockWeights = RuntimeBlockWeights;
	type BlockLength = RuntimeBlockLength;
	type AccountId = AccountId;
	type Nonce = Nonce;
	type Hash = Hash;
	type BlockHashCount = BlockHashCount;
	type DbWeight = RocksDbWeight;
	type Version = Version;
	type AccountData = pallet_balances::AccountData<Balance>;
	type SS58Prefix = SS58Prefix;
	type MaxConsumers = ConstU32<16>;
	/// Benchmarked on this runtime (`scripts/weights.sh`), not Substrate's reference machine.
	type SystemWeightInfo = crate::weights::frame_system::WeightInfo<Runtime>;
}

impl pallet_aura::Config for Runtime {
	type AuthorityId = AuraId;
	type DisabledValidators = ();
	type MaxAuthorities = ConstU32<32>;
	type AllowMultipleBlocksPerSlot = ConstBool<false>;
	type SlotDuration = pallet_aura::MinimumPeriodTimesTwo<Runtime>;
}

impl pallet_grandpa::Config for Runtime {
	type RuntimeEvent = RuntimeEvent;
	type WeightInfo = ();
	type MaxAuthorities = ConstU32<32>;
	type MaxNominators = ConstU32<0>;
	type MaxSetIdSessionEntries = ConstU64<0>;
	type KeyOwnerProof = sp_core::Void;
	type EquivocationReportSystem = ();
}

impl pallet_timestamp::Config for Runtime {
	/// Milliseconds since the Unix epoch.
	type Moment = u64;
	type OnTimestampSet = Aura;
	type MinimumPeriod = ConstU64<{ SLOT_DURATION / 2 }>;
	type WeightInfo = ();
}

impl pallet_balances::Config for Runtime {
	type RuntimeEvent = RuntimeEvent;
	type MaxLocks = ConstU32<50>;
	type MaxReserves = ();
	type ReserveIdentifier = [u8; 8];
	type Balance = Balance;
	type DustRemoval = ();
	type ExistentialDeposit = ConstU128<EXISTENTIAL_DEPOSIT>;
	type AccountStore = System;
	type WeightInfo = pallet_balances::weights::SubstrateWeight<Runtime>;
	type FreezeIdentifier = RuntimeFreezeReason;
	type MaxFreezes = VariantCountOf<RuntimeFreezeReason>;
	type RuntimeHoldReason = RuntimeHoldReason;
	type RuntimeFreezeReason = RuntimeFreezeReason;
	type DoneSlashHandler = ();
}

parameter_types! {
	pub FeeMultiplier: Multiplier = Multiplier::one();
}

impl pallet_transaction_payment::Config for Runtime {
	type RuntimeEvent = RuntimeEvent;
	type OnChargeTransaction = FungibleAdapter<Balances, ()>;
	type OperationalFeeMultiplier = ConstU8<5>;
	type WeightToFee = IdentityFee<Balance>;
	type LengthToFee = IdentityFee<Balance>;
	type FeeMultiplierUpdate = ConstFeeMultiplier<FeeMultiplier>;
	type WeightInfo = pallet_transaction_payment::weights::SubstrateWeight<Runtime>;
}

impl pallet_sudo::Config for Runtime {
	type RuntimeEvent = RuntimeEvent;
	type RuntimeCall = RuntimeCall;
	type WeightInfo = pallet_sudo::weights::SubstrateWeight<Runtime>;
}

impl pallet_insecure_randomness_collective_flip::Config for Runtime {}

parameter_types! {
	/// Unbonding delay. Short, for a dev chain whose blocks come on demand; a
	/// public network would use days.
	pub const UnbondingPeriod: BlockNumber = 100;
	/// `M` of the reward multiplier (seed 002).
	pub const MultiplierMax: u32 = 10;
	/// `D` of the reward multiplier, in CPU-hours (seed 002).
	pub const MultiplierDecayCpuHours: u128 = 1_000_000;
	/// One CPU-hour of wasmtime fuel, taking one unit of fuel per instruction at
	/// 10^9 instructions per second.
	pub const FuelPerCpuHour: u128 = 3_600_000_000_000;
	/// Most registered workers (a draw scans them all, see the disputes weights).
	pub const MaxWorkers: u32 = 1_000;
	/// Active stake a worker needs to register: 10 CC, one claim's bond.
	pub const MinWorkerStake: Balance = 10 * UNIT;
	/// Each claim bonds 10 CC of active stake: what a result judged at fault loses.
	pub const ClaimBond: Balance = 10 * UNIT;
	/// A claimant that never reveals its result pays the requester 1 CC of its bond.
	pub const NoRevealSlash: Balance = UNIT;
	/// Storage deposits (returned when the record goes): 0.01 CC each.
	pub const TaskDeposit: Balance = UNIT / 100;
	pub const WorkerDeposit: Balance = UNIT / 100;
	pub const DebtDeposit: Balance = UNIT / 100;
	/// Results are revealed within 10 blocks after a task's deadline, and may be
	/// challenged for 10 more before anyone can finalize the task.
	pub const TaskRevealPeriod: BlockNumber = 10;
	pub const ChallengeWindow: BlockNumber = 10;
	/// Finished task records stay 100 blocks (10 minutes) before `reap`.
	pub const TaskRetention: BlockNumber = 100;
	/// A requester counts as distinct in a worker's reputation from a 0.1 CC share.
	pub const MinReputableShare: Balance = UNIT / 10;
	/// One task adds at most 10^13 fuel (about 2.8 CPU-hours) to the contribution.
	pub const MaxTaskFuel: u64 = 10_000_000_000_000;
	/// Blocks a cheater stays banned: 30 days.
	pub const BanPeriod: BlockNumber = 30 * DAYS;
	/// Furthest task deadline: one day of blocks.
	pub const MaxTaskDuration: BlockNumber = DAYS;
	/// Shortest challenge period of a channel close, in blocks: the genesis presets
	/// set the period itself (20 blocks on the dev chain, a day on a testnet).
	pub const MinChallengePeriod: BlockNumber = 10;
	/// Storage deposit of a channel record: 0.01 CC, returned when it is removed.
	pub const ChannelRecordDeposit: Balance = UNIT / 100;
	/// A party of the task stakes 10 CC to challenge, an outsider 50 CC.
	pub const ChallengeStake: Balance = 10 * UNIT;
	pub const OutsiderChallengeStake: Balance = 50 * UNIT;
	/// Each verifier of the majority earns 1 CC; each drawn verifier bonds 2 CC.
	pub const VerifierReward: Balance = UNIT;
	pub const VerifierBond: Balance = 2 * UNIT;
	/// The draw runs 2 blocks after the challenge; verifiers commit within 10 blocks
	/// and reveal within 10 more.
	pub const DrawDelay: BlockNumber = 2;
	pub const CommitPeriod: BlockNumber = 10;
	pub const VoteRevealPeriod: BlockNumber = 10;
}

impl pallet_credits::Config for Runtime {
	type Currency = Balances;
	type RuntimeHoldReason = RuntimeHoldReason;
	type UnbondingPeriod = UnbondingPeriod;
	type MaxUnbondingChunks = ConstU32<16>;
	type MultiplierMax = MultiplierMax;
	type MultiplierDecayCpuHours = MultiplierDecayCpuHours;
	type FuelPerCpuHour = FuelPerCpuHour;
	type DebtDeposit = DebtDeposit;
	type WeightInfo = pallet_credits::weights::SubstrateWeight<Runtime>;
}

impl pallet_tasks::Config for Runtime {
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
	type MaxCapabilities = ConstU32<16>;
	type MaxCapabilityLen = ConstU32<64>;
	type MaxEndpointLen = ConstU32<256>;
	type MaxTaskTypeLen = ConstU32<64>;
	type MaxInputRefLen = ConstU32<4_096>;
	type MaxOutputSpecLen = ConstU32<256>;
	type MaxRedundancy = ConstU8<7>;
	type MaxTaskDuration = MaxTaskDuration;
	type BanPeriod = BanPeriod;
	type WeightInfo = pallet_tasks::weights::SubstrateWeight<Runtime>;
}

impl pallet_channels::Config for Runtime {
	type Currency = Balances;
	type RuntimeHoldReason = RuntimeHoldReason;
	type MinChallengePeriod = MinChallengePeriod;
	type RecordDeposit = ChannelRecordDeposit;
	type WeightInfo = pallet_channels::weights::SubstrateWeight<Runtime>;
}

parameter_types! {
	/// Storage deposit of a job's checkpoint record (about 250 bytes of key and value),
	/// held while it exists.
	pub const JobRecordDeposit: Balance = UNIT / 100;
	/// A job's record stays 100 blocks (10 minutes) after its last update before it can
	/// be cleared, as a task's (`TaskRetention`).
	pub const JobRecordRetention: BlockNumber = 100;
}

impl pallet_checkpoints::Config for Runtime {
	type Currency = Balances;
	type RuntimeHoldReason = RuntimeHoldReason;
	type JobRecordDeposit = JobRecordDeposit;
	type JobRecordRetention = JobRecordRetention;
	type MaxTxIdLen = ConstU32<64>;
	type MaxHistory = ConstU32<32>;
	type WeightInfo = pallet_checkpoints::weights::SubstrateWeight<Runtime>;
}

impl pallet_disputes::Config for Runtime {
	type Currency = Balances;
	type RuntimeHoldReason = RuntimeHoldReason;
	type Stakes = Credits;
	type Workers = Tasks;
	type Tasks = Tasks;
	type Randomness = RandomnessCollectiveFlip;
	type ChallengeStake = ChallengeStake;
	type OutsiderChallengeStake = OutsiderChallengeStake;
	type VerifierReward = VerifierReward;
	type VerifierBond = VerifierBond;
	type VerifierCount = ConstU32<3>;
	type MinVerifiers = ConstU32<3>;
	type DrawDelay = DrawDelay;
	type MaxDrawsPerBlock = ConstU32<4>;
	type CommitPeriod = CommitPeriod;
	type RevealPeriod = VoteRevealPeriod;
	type MaxExcluded = ConstU32<9>;
	type MaxAuditors = ConstU32<64>;
	type MaxCandidates = MaxWorkers;
	type WeightInfo = pallet_disputes::weights::SubstrateWeight<Runtime>;
	type BenchmarkHelper = DisputeBenchmarkSetup;
}

/// Benchmark setup of the disputes pallet through this runtime's pallets.
pub struct DisputeBenchmarkSetup;
impl pallet_disputes::BenchmarkHelper<AccountId> for DisputeBenchmarkSetup {
	fn worker(who: &AccountId) {
		use ccnet_primitives::StakeProvider;
		let _ = <Credits as StakeProvider<_, _>>::stake(who, MinWorkerStake::get() + VerifierBond::get());
		let _ = Tasks::register_worker(
			RuntimeOrigin::signed(who.clone()),
			Default::default(),
			Default::default(),
		);
	}

	fn task_with_result(requester: &AccountId, worker: &AccountId, hash: H256) -> u64 {
		let id = pallet_tasks::NextTaskId::<Runtime>::get();
		let deadline = System::block_number().saturating_add(MaxTaskDuration::get());
		let _ = Tasks::post_task(
			RuntimeOrigin::signed(requester.clone()),
			Default::default(),
			Default::default(),
			Default::default(),
			UNIT,
			deadline,
			1,
		);
		let _ = Tasks::claim(RuntimeOrigin::signed(worker.clone()), id);
		let commitment = Tasks::result_commitment(id, worker, &hash, 1, &[0; 32]);
		let _ = Tasks::submit_result(RuntimeOrigin::signed(worker.clone()), id, commitment);
		let _ = Tasks::reveal_result(RuntimeOrigin::signed(worker.clone()), id, hash, 1, [0; 32]);
		id
	}
}
