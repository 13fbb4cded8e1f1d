//! # Tasks pallet
//!
//! The worker registry and the on-chain task queue of Compute Currency.
//!
//! ## Overview
//!
//! Most work never touches the chain (requesters and workers meet through the
//! DHT and pay through channels). This pallet is for what must be public: who is
//! a worker (capabilities, signaling endpoint, stake, reputation), and tasks that
//! a requester wants settled on chain or that may be disputed.
//!
//! - A worker needs [`Config::MinWorkerStake`] of *active* stake in
//!   `pallet-credits` to register. Each claim *bonds* [`Config::ClaimBond`] of it
//!   (through [`ccnet_primitives::StakeProvider`]) until the claim is settled, so
//!   the stake a worker needs grows with its open claims, and stake that backs a
//!   claim can neither be unstaked nor withdrawn before the claim ends. Worked
//!   example with `ClaimBond` = 10 CC: a worker with 25 CC of active stake can hold
//!   two claims (20 CC bonded); a third claim fails with `InsufficientStake`; it may
//!   unstake at most 5 CC until a claim is settled. A result judged at fault loses
//!   its whole bond.
//! - `post_task` holds the bounty ([`HoldReason::TaskBounty`]) and a storage deposit
//!   ([`Config::TaskDeposit`], returned by `reap` [`Config::TaskRetention`] blocks
//!   after the task finished). Until a worker claims it, the requester may
//!   `cancel_task`: both holds are released at once and the record removed; after
//!   the first claim a task ends only by `accept`, `finalize` or `expire`.
//! - Results are **committed, then revealed**: up to `redundancy` workers `claim`,
//!   then `submit_result` a commitment to `(result hash, fuel, salt)` (see
//!   [`RESULT_COMMIT_DOMAIN`]) by the deadline, and `reveal_result` afterwards (or as
//!   soon as every slot is claimed and committed) until `deadline + RevealPeriod`.
//!   A result hash seen in the pool or on chain is useless to a copier: it had to
//!   commit before anything was revealed.
//! - **Payment is forced**: after `deadline + RevealPeriod + ChallengeWindow`, with
//!   no dispute open, anyone may `finalize` (the worker daemons do): the hash with a
//!   strict majority of the revealed results is paid, the bounty split exactly among
//!   its workers (the remainder of the division goes back to the requester). With no
//!   strict majority the bounty is refunded (`NoMajority`); claimants that never
//!   revealed lose [`Config::NoRevealSlash`] of their bond to the requester. The
//!   requester cannot pick a minority result: its `accept` is only an early
//!   `finalize` for a unanimous task whose every slot is revealed; to overturn a
//!   majority it must win a dispute. `expire` refunds a task nobody revealed.
//! - The disputes pallet freezes and judges revealed results through
//!   [`ccnet_primitives::TaskResults`]; a judged result is never disputed again, and
//!   a dispute without a verdict reopens the challenge window for `ChallengeWindow`.
//! - Reputation keeps the value earned and the distinct requesters that paid at
//!   least [`Config::MinReputableShare`], not only counts, so that self-dealt
//!   1-planck tasks do not make a worker look established. The contribution a task
//!   adds to the reward multiplier is the smallest fuel its winners reported,
//!   capped by [`Config::MaxTaskFuel`].
//!
//! ## Interface
//!
//! ### Dispatchable Functions
//!
//! - `register_worker`, `update_worker`, `deregister_worker`
//! - `post_task`, `claim`, `submit_result`, `reveal_result`, `accept`, `finalize`,
//!   `expire`, `reap`

#![cfg_attr(not(feature = "std"), no_std)]

extern crate alloc;

#[cfg(feature = "runtime-benchmarks")]
mod benchmarking;
#[cfg(test)]
mod mock;
#[cfg(test)]
mod tests;
pub mod types;
pub mod weights;

pub use pallet::*;
pub use types::*;
pub use weights::WeightInfo;

use alloc::vec::Vec;
use ccnet_primitives::{
	ContributionTracker, DisputableResult, Fuel, StakeProvider, TaskId, TaskResults, Verdict, WorkerRegistry,
};
use codec::Encode;
use polkadot_sdk::{
	frame_support::{
		pallet_prelude::*,
		traits::{
			fungible::{Inspect, Mutate, MutateHold},
			tokens::{Fortitude, Precision, Restriction},
		},
	},
	frame_system,
	frame_system::pallet_prelude::*,
	sp_core::H256,
	sp_io::hashing::blake2_256,
	sp_runtime::traits::{CheckedDiv, CheckedMul, Saturating, Zero},
};

/// Balance type of the configured currency.
pub type BalanceOf<T> = <<T as Config>::Currency as Inspect<<T as frame_system::Config>::AccountId>>::Balance;
/// Worker record of a runtime.
pub type WorkerInfoOf<T> = WorkerInfo<
	BalanceOf<T>,
	BlockNumberFor<T>,
	<T as Config>::MaxCapabilities,
	<T as Config>::MaxCapabilityLen,
	<T as Config>::MaxEndpointLen,
>;
/// Task record of a runtime.
pub type TaskOf<T> = TaskInfo<
	<T as frame_system::Config>::AccountId,
	BalanceOf<T>,
	BlockNumberFor<T>,
	<T as Config>::MaxTaskTypeLen,
	<T as Config>::MaxInputRefLen,
	<T as Config>::MaxOutputSpecLen,
>;
/// Capabilities argument of a runtime.
pub type CapabilitiesOf<T> =
	BoundedVec<BoundedVec<u8, <T as Config>::MaxCapabilityLen>, <T as Config>::MaxCapabilities>;

#[polkadot_sdk::frame_support::pallet]
pub mod pallet {
	use super::*;

	// 2: commit-reveal results, claim bonds, storage deposits. No chain holds version 1
	// data (every network starts from genesis), so there is no migration.
	const STORAGE_VERSION: StorageVersion = StorageVersion::new(2);

	#[pallet::pallet]
	#[pallet::storage_version(STORAGE_VERSION)]
	pub struct Pallet<T>(_);

	/// Reasons for which this pallet holds funds.
	#[pallet::composite_enum]
	pub enum HoldReason {
		/// The bounty of an open task, held on the requester.
		#[codec(index = 0)]
		TaskBounty,
		/// Storage deposit of a task record, held on the requester.
		#[codec(index = 1)]
		TaskDeposit,
		/// Storage deposit of a worker record, held on the worker.
		#[codec(index = 2)]
		WorkerDeposit,
	}

	#[pallet::config]
	pub trait Config: polkadot_sdk::frame_system::Config {
		/// The native currency (CC), with holds.
		type Currency: Mutate<Self::AccountId> + MutateHold<Self::AccountId, Reason = Self::RuntimeHoldReason>;
		/// The overarching hold reason.
		type RuntimeHoldReason: From<HoldReason>;
		/// Stakes of workers (`pallet-credits`).
		type Stakes: StakeProvider<Self::AccountId, BalanceOf<Self>>;
		/// Where paid work is counted (the reward multiplier of `pallet-credits`).
		type Contributions: ContributionTracker;
		/// Active stake a worker needs to register, in planck.
		#[pallet::constant]
		type MinWorkerStake: Get<BalanceOf<Self>>;
		/// Stake each claim bonds until it is settled, in planck: what a result judged
		/// at fault loses.
		#[pallet::constant]
		type ClaimBond: Get<BalanceOf<Self>>;
		/// Part of the claim bond a claimant that never reveals loses to the
		/// requester, in planck.
		#[pallet::constant]
		type NoRevealSlash: Get<BalanceOf<Self>>;
		/// Storage deposit of a task record, in planck.
		#[pallet::constant]
		type TaskDeposit: Get<BalanceOf<Self>>;
		/// Storage deposit of a worker record, in planck.
		#[pallet::constant]
		type WorkerDeposit: Get<BalanceOf<Self>>;
		/// Blocks after the deadline during which results are revealed.
		#[pallet::constant]
		type RevealPeriod: Get<BlockNumberFor<Self>>;
		/// Blocks after the reveal period during which results may be challenged
		/// before the task can be finalized.
		#[pallet::constant]
		type ChallengeWindow: Get<BlockNumberFor<Self>>;
		/// Blocks a finished task stays on chain before `reap` may remove it.
		#[pallet::constant]
		type TaskRetention: Get<BlockNumberFor<Self>>;
		/// Smallest bounty share, in planck, that counts a requester as distinct in
		/// a worker's reputation.
		#[pallet::constant]
		type MinReputableShare: Get<BalanceOf<Self>>;
		/// Most fuel one task adds to the network's contribution.
		#[pallet::constant]
		type MaxTaskFuel: Get<Fuel>;
		/// Most registered workers.
		#[pallet::constant]
		type MaxWorkers: Get<u32>;
		/// Most capabilities per worker.
		#[pallet::constant]
		type MaxCapabilities: Get<u32>;
		/// Longest capability, in bytes.
		#[pallet::constant]
		type MaxCapabilityLen: Get<u32>;
		/// Longest signaling endpoint, in bytes.
		#[pallet::constant]
		type MaxEndpointLen: Get<u32>;
		/// Longest task type, in bytes.
		#[pallet::constant]
		type MaxTaskTypeLen: Get<u32>;
		/// Longest input reference (inline input included), in bytes.
		#[pallet::constant]
		type MaxInputRefLen: Get<u32>;
		/// Longest output spec, in bytes.
		#[pallet::constant]
		type MaxOutputSpecLen: Get<u32>;
		/// Highest redundancy (workers per task).
		#[pallet::constant]
		type MaxRedundancy: Get<u8>;
		/// Furthest deadline, in blocks after posting.
		#[pallet::constant]
		type MaxTaskDuration: Get<BlockNumberFor<Self>>;
		/// Blocks a worker stays banned after losing a dispute.
		#[pallet::constant]
		type BanPeriod: Get<BlockNumberFor<Self>>;
		/// Weights of the dispatchables.
		type WeightInfo: WeightInfo;
	}

	/// Registered workers.
	#[pallet::storage]
	pub type Workers<T: Config> = StorageMap<_, Blake2_128Concat, T::AccountId, WorkerInfoOf<T>, OptionQuery>;

	/// Registered workers in registration order (for verifier draws).
	#[pallet::storage]
	pub type WorkerList<T: Config> = StorageValue<_, BoundedVec<T::AccountId, T::MaxWorkers>, ValueQuery>;

	/// Requesters that paid a worker at least `MinReputableShare`: (worker,
	/// requester). Kept when a worker leaves, so that re-registering does not make old
	/// requesters count again.
	#[pallet::storage]
	pub type PaidBy<T: Config> =
		StorageDoubleMap<_, Blake2_128Concat, T::AccountId, Blake2_128Concat, T::AccountId, (), OptionQuery>;

	/// Id of the next task.
	#[pallet::storage]
	pub type NextTaskId<T: Config> = StorageValue<_, TaskId, ValueQuery>;

	/// Tasks by id, until reaped. Finished tasks stay `TaskRetention` blocks.
	#[pallet::storage]
	pub type Tasks<T: Config> = StorageMap<_, Twox64Concat, TaskId, TaskOf<T>, OptionQuery>;

	/// Claims and results of open tasks: (task, worker) to assignment.
	#[pallet::storage]
	pub type Assignments<T: Config> =
		StorageDoubleMap<_, Twox64Concat, TaskId, Blake2_128Concat, T::AccountId, Assignment, OptionQuery>;

	#[pallet::event]
	#[pallet::generate_deposit(pub(super) fn deposit_event)]
	pub enum Event<T: Config> {
		/// A worker registered.
		WorkerRegistered { worker: T::AccountId },
		/// A worker changed its capabilities or endpoint.
		WorkerUpdated { worker: T::AccountId },
		/// A worker left the registry.
		WorkerDeregistered { worker: T::AccountId },
		/// A worker lost a dispute and cannot claim until `until`.
		WorkerBanned {
			worker: T::AccountId,
			until: BlockNumberFor<T>,
		},
		/// A task was posted and its bounty held.
		TaskPosted {
			task_id: TaskId,
			requester: T::AccountId,
			bounty: BalanceOf<T>,
			deadline: BlockNumberFor<T>,
		},
		/// A worker claimed a task and bonded `bond` of its stake.
		TaskClaimed {
			task_id: TaskId,
			worker: T::AccountId,
			bond: BalanceOf<T>,
		},
		/// A worker committed to a result.
		ResultCommitted { task_id: TaskId, worker: T::AccountId },
		/// A worker revealed its committed result.
		ResultSubmitted {
			task_id: TaskId,
			worker: T::AccountId,
			result_hash: H256,
			fuel_used: Fuel,
		},
		/// The majority `result_hash` was paid: `paid` planck to each of `workers`.
		TaskCompleted {
			task_id: TaskId,
			result_hash: H256,
			workers: Vec<T::AccountId>,
			paid: BalanceOf<T>,
		},
		/// Results were revealed but none had a strict majority: the bounty went back.
		TaskUnresolved { task_id: TaskId },
		/// No result was revealed: the bounty went back to the requester.
		TaskExpired { task_id: TaskId },
		/// A claimant never revealed: `slashed` planck of its bond went to the requester.
		ClaimForfeited {
			task_id: TaskId,
			worker: T::AccountId,
			slashed: BalanceOf<T>,
		},
		/// A finished task's record was removed and its deposit returned.
		TaskReaped { task_id: TaskId },
		/// The requester withdrew a task nobody had claimed: its record is gone, and
		/// `bounty` and `deposit` planck were released to the requester.
		TaskCancelled {
			task_id: TaskId,
			bounty: BalanceOf<T>,
			deposit: BalanceOf<T>,
		},
	}

	#[pallet::error]
	pub enum Error<T> {
		/// The caller is already a registered worker.
		AlreadyRegistered,
		/// The caller is not a registered worker.
		NotRegistered,
		/// The registry holds `MaxWorkers` workers already.
		TooManyWorkers,
		/// Not enough free active stake (to register, or to bond a claim).
		InsufficientStake,
		/// The worker is banned after a lost dispute.
		WorkerBanned,
		/// The worker still has claims that are not settled.
		WorkerBusy,
		/// The bounty must be greater than zero.
		ZeroBounty,
		/// Redundancy must be between 1 and `MaxRedundancy`.
		InvalidRedundancy,
		/// The deadline must be after the current block.
		DeadlineInPast,
		/// The deadline is more than `MaxTaskDuration` blocks away.
		DeadlineTooFar,
		/// The free balance cannot cover the bounty and the task deposit (or the
		/// worker deposit).
		InsufficientBalance,
		/// No task has this id.
		UnknownTask,
		/// The task is finished.
		TaskNotOpen,
		/// The deadline has passed.
		DeadlinePassed,
		/// Reveals are not open yet (before the deadline, with slots left to claim or
		/// commit).
		RevealNotOpen,
		/// The reveal period is over.
		RevealClosed,
		/// The task cannot be finalized yet: its challenge window is still open.
		WindowOpen,
		/// Some result was revealed: the task is finalized, not expired.
		HasResults,
		/// A requester cannot claim its own task.
		CannotClaimOwnTask,
		/// The worker claimed this task already.
		AlreadyClaimed,
		/// `redundancy` workers claimed the task already.
		TaskFullyClaimed,
		/// The worker has not claimed this task.
		NotClaimed,
		/// The worker committed a result already.
		AlreadySubmitted,
		/// The worker has not committed a result.
		NotCommitted,
		/// The worker revealed its result already.
		AlreadyRevealed,
		/// The revealed result does not match the commitment.
		BadReveal,
		/// Only the requester may accept a result.
		NotRequester,
		/// Early acceptance needs every slot revealed with one result; otherwise wait
		/// for `finalize` (or dispute).
		NotUnanimous,
		/// The worker has not revealed a result.
		NoResult,
		/// The result is under dispute.
		ResultDisputed,
		/// A dispute over the task is open.
		DisputeOpen,
		/// The task is not finished, or its retention period is not over.
		NotReapable,
		/// A counter or id overflowed.
		Overflow,
		/// Paying the bounty failed.
		PaymentFailed,
		/// A worker claimed the task: it can no longer be cancelled (it ends by
		/// `accept`, `finalize` or `expire`).
		TaskHasClaims,
	}

	#[pallet::hooks]
	impl<T: Config> Hooks<BlockNumberFor<T>> for Pallet<T> {
		fn integrity_test() {
			assert!(T::MaxRedundancy::get() > 0, "MaxRedundancy must be positive");
			assert!(T::MaxWorkers::get() > 0, "MaxWorkers must be positive");
			assert!(!T::ClaimBond::get().is_zero(), "ClaimBond must be positive");
			assert!(
				T::NoRevealSlash::get() <= T::ClaimBond::get(),
				"NoRevealSlash must fit in the claim bond"
			);
			assert!(
				T::MinWorkerStake::get() >= T::ClaimBond::get(),
				"a registered worker must be able to bond one claim"
			);
			assert!(!T::RevealPeriod::get().is_zero(), "RevealPeriod must be positive");
			assert!(!T::TaskDeposit::get().is_zero(), "TaskDeposit must be positive");
			assert!(!T::WorkerDeposit::get().is_zero(), "WorkerDeposit must be positive");
		}

		#[cfg(feature = "try-runtime")]
		fn try_state(_n: BlockNumberFor<T>) -> Result<(), polkadot_sdk::sp_runtime::TryRuntimeError> {
			Self::do_try_state()
		}
	}

	#[pallet::call]
	impl<T: Config> Pallet<T> {
		/// Register the caller as a worker, holding `WorkerDeposit` for the record.
		///
		/// Origin: signed, with at least `MinWorkerStake` of active stake. Emits
		/// `WorkerRegistered`.
		///
		/// ## Complexity
		/// O(W) to append to the worker list, W = `MaxWorkers`.
		#[pallet::call_index(0)]
		#[pallet::weight(T::WeightInfo::register_worker())]
		pub fn register_worker(
			origin: OriginFor<T>,
			capabilities: CapabilitiesOf<T>,
			endpoint: BoundedVec<u8, T::MaxEndpointLen>,
		) -> DispatchResult {
			let worker = ensure_signed(origin)?;
			ensure!(!Workers::<T>::contains_key(&worker), Error::<T>::AlreadyRegistered);
			ensure!(
				T::Stakes::active(&worker) >= T::MinWorkerStake::get(),
				Error::<T>::InsufficientStake
			);
			WorkerList::<T>::try_mutate(|list| list.try_push(worker.clone()))
				.map_err(|_| Error::<T>::TooManyWorkers)?;
			let deposit = T::WorkerDeposit::get();
			T::Currency::hold(&HoldReason::WorkerDeposit.into(), &worker, deposit)
				.map_err(|_| Error::<T>::InsufficientBalance)?;
			let info = WorkerInfo {
				capabilities,
				endpoint,
				registered_at: frame_system::Pallet::<T>::block_number(),
				reputation: Reputation::default(),
				active_claims: 0,
				banned_until: None,
				deposit,
			};
			Workers::<T>::insert(&worker, info);
			Self::deposit_event(Event::WorkerRegistered { worker });
			Ok(())
		}

		/// Replace the caller's capabilities and signaling endpoint.
		///
		/// Origin: signed, a registered worker. Emits `WorkerUpdated`.
		///
		/// ## Complexity
		/// O(1).
		#[pallet::call_index(1)]
		#[pallet::weight(T::WeightInfo::update_worker())]
		pub fn update_worker(
			origin: OriginFor<T>,
			capabilities: CapabilitiesOf<T>,
			endpoint: BoundedVec<u8, T::MaxEndpointLen>,
		) -> DispatchResult {
			let worker = ensure_signed(origin)?;
			Workers::<T>::try_mutate(&worker, |info| -> DispatchResult {
				let info = info.as_mut().ok_or(Error::<T>::NotRegistered)?;
				info.capabilities = capabilities;
				info.endpoint = endpoint;
				Ok(())
			})?;
			Self::deposit_event(Event::WorkerUpdated { worker });
			Ok(())
		}

		/// Leave the registry and get the record deposit back. Reputation is
		/// forgotten; a banned worker cannot leave before its ban ends (so that
		/// re-registering cannot wash it away).
		///
		/// Origin: signed, a registered worker with no unsettled claims. Emits
		/// `WorkerDeregistered`.
		///
		/// ## Complexity
		/// O(W), W = `MaxWorkers`.
		#[pallet::call_index(2)]
		#[pallet::weight(T::WeightInfo::deregister_worker())]
		pub fn deregister_worker(origin: OriginFor<T>) -> DispatchResult {
			let worker = ensure_signed(origin)?;
			let info = Workers::<T>::get(&worker).ok_or(Error::<T>::NotRegistered)?;
			ensure!(info.active_claims == 0, Error::<T>::WorkerBusy);
			ensure!(!Self::is_banned(&info), Error::<T>::WorkerBanned);
			Workers::<T>::remove(&worker);
			WorkerList::<T>::mutate(|list| list.retain(|w| w != &worker));
			T::Currency::release(
				&HoldReason::WorkerDeposit.into(),
				&worker,
				info.deposit,
				Precision::BestEffort,
			)?;
			Self::deposit_event(Event::WorkerDeregistered { worker });
			Ok(())
		}

		/// Post a task: hold its `bounty` and the record deposit (`TaskDeposit`),
		/// planck, on the caller.
		///
		/// Origin: signed. Emits `TaskPosted`.
		///
		/// ## Complexity
		/// O(1).
		#[pallet::call_index(3)]
		#[pallet::weight(T::WeightInfo::post_task())]
		pub fn post_task(
			origin: OriginFor<T>,
			task_type: BoundedVec<u8, T::MaxTaskTypeLen>,
			input_ref: BoundedVec<u8, T::MaxInputRefLen>,
			output_spec: BoundedVec<u8, T::MaxOutputSpecLen>,
			#[pallet::compact] bounty: BalanceOf<T>,
			deadline: BlockNumberFor<T>,
			redundancy: u8,
		) -> DispatchResult {
			let requester = ensure_signed(origin)?;
			ensure!(!bounty.is_zero(), Error::<T>::ZeroBounty);
			ensure!(
				redundancy >= 1 && redundancy <= T::MaxRedundancy::get(),
				Error::<T>::InvalidRedundancy
			);
			let now = frame_system::Pallet::<T>::block_number();
			ensure!(deadline > now, Error::<T>::DeadlineInPast);
			ensure!(
				deadline <= now.saturating_add(T::MaxTaskDuration::get()),
				Error::<T>::DeadlineTooFar
			);
			let task_id = NextTaskId::<T>::get();
			let next = task_id.checked_add(1).ok_or(Error::<T>::Overflow)?;
			let deposit = T::TaskDeposit::get();
			T::Currency::hold(&HoldReason::TaskBounty.into(), &requester, bounty)
				.map_err(|_| Error::<T>::InsufficientBalance)?;
			T::Currency::hold(&HoldReason::TaskDeposit.into(), &requester, deposit)
				.map_err(|_| Error::<T>::InsufficientBalance)?;
			let task = TaskInfo {
				requester: requester.clone(),
				task_type,
				input_ref,
				output_spec,
				bounty,
				deadline,
				redundancy,
				claims: 0,
				commits: 0,
				reveals: 0,
				open_disputes: 0,
				status: TaskStatus::Open,
				deposit,
				finished_at: None,
				reopened_until: None,
			};
			Tasks::<T>::insert(task_id, task);
			NextTaskId::<T>::put(next);
			Self::deposit_event(Event::TaskPosted {
				task_id,
				requester,
				bounty,
				deadline,
			});
			Ok(())
		}

		/// Claim an open task, bonding `ClaimBond` of the caller's free active stake.
		///
		/// Origin: signed, a registered worker that is not banned, other than the
		/// requester. Emits `TaskClaimed`.
		///
		/// ## Complexity
		/// O(1).
		#[pallet::call_index(4)]
		#[pallet::weight(T::WeightInfo::claim())]
		pub fn claim(origin: OriginFor<T>, task_id: TaskId) -> DispatchResult {
			let worker = ensure_signed(origin)?;
			let mut task = Self::open_task(task_id)?;
			ensure!(
				frame_system::Pallet::<T>::block_number() <= task.deadline,
				Error::<T>::DeadlinePassed
			);
			ensure!(task.requester != worker, Error::<T>::CannotClaimOwnTask);
			let mut info = Workers::<T>::get(&worker).ok_or(Error::<T>::NotRegistered)?;
			ensure!(!Self::is_banned(&info), Error::<T>::WorkerBanned);
			ensure!(
				!Assignments::<T>::contains_key(task_id, &worker),
				Error::<T>::AlreadyClaimed
			);
			ensure!(task.claims < task.redundancy, Error::<T>::TaskFullyClaimed);
			let bond = T::ClaimBond::get();
			T::Stakes::bond(&worker, bond).map_err(|_| Error::<T>::InsufficientStake)?;
			task.claims += 1;
			info.active_claims = info.active_claims.checked_add(1).ok_or(Error::<T>::Overflow)?;
			Assignments::<T>::insert(task_id, &worker, Assignment::default());
			Workers::<T>::insert(&worker, info);
			Tasks::<T>::insert(task_id, task);
			Self::deposit_event(Event::TaskClaimed { task_id, worker, bond });
			Ok(())
		}

		/// Commit to a result of a claimed task: `commitment` is
		/// [`Pallet::result_commitment`] of the result hash (blake2b-256 of the output),
		/// the fuel used and a secret 32-byte salt. Reveal it with `reveal_result`.
		///
		/// Origin: signed, the claiming worker, by the deadline. Emits
		/// `ResultCommitted`.
		///
		/// ## Complexity
		/// O(1).
		#[pallet::call_index(5)]
		#[pallet::weight(T::WeightInfo::submit_result())]
		pub fn submit_result(origin: OriginFor<T>, task_id: TaskId, commitment: H256) -> DispatchResult {
			let worker = ensure_signed(origin)?;
			let mut task = Self::open_task(task_id)?;
			ensure!(
				frame_system::Pallet::<T>::block_number() <= task.deadline,
				Error::<T>::DeadlinePassed
			);
			Assignments::<T>::try_mutate(task_id, &worker, |a| -> DispatchResult {
				let a = a.as_mut().ok_or(Error::<T>::NotClaimed)?;
				ensure!(a.commitment.is_none(), Error::<T>::AlreadySubmitted);
				a.commitment = Some(commitment);
				Ok(())
			})?;
			task.commits = task.commits.saturating_add(1);
			Tasks::<T>::insert(task_id, task);
			Self::deposit_event(Event::ResultCommitted { task_id, worker });
			Ok(())
		}

		/// Reveal the committed result: the result hash, the fuel used and the salt.
		/// Open after the deadline, or as soon as every slot is claimed and committed,
		/// until `deadline + RevealPeriod`.
		///
		/// Origin: signed, the committing worker. Emits `ResultSubmitted`.
		///
		/// ## Complexity
		/// O(1).
		#[pallet::call_index(8)]
		#[pallet::weight(T::WeightInfo::reveal_result())]
		pub fn reveal_result(
			origin: OriginFor<T>,
			task_id: TaskId,
			result_hash: H256,
			fuel_used: Fuel,
			salt: [u8; 32],
		) -> DispatchResult {
			let worker = ensure_signed(origin)?;
			let mut task = Self::open_task(task_id)?;
			let now = frame_system::Pallet::<T>::block_number();
			let all_committed = task.claims == task.redundancy && task.commits == task.claims;
			ensure!(now > task.deadline || all_committed, Error::<T>::RevealNotOpen);
			ensure!(now <= Self::reveal_ends(&task), Error::<T>::RevealClosed);
			let expected = Self::result_commitment(task_id, &worker, &result_hash, fuel_used, &salt);
			Assignments::<T>::try_mutate(task_id, &worker, |a| -> DispatchResult {
				let a = a.as_mut().ok_or(Error::<T>::NotClaimed)?;
				ensure!(a.result.is_none(), Error::<T>::AlreadyRevealed);
				let commitment = a.commitment.ok_or(Error::<T>::NotCommitted)?;
				ensure!(commitment == expected, Error::<T>::BadReveal);
				a.result = Some((result_hash, fuel_used));
				Ok(())
			})?;
			task.reveals = task.reveals.saturating_add(1);
			Tasks::<T>::insert(task_id, task);
			Self::deposit_event(Event::ResultSubmitted {
				task_id,
				worker,
				result_hash,
				fuel_used,
			});
			Ok(())
		}

		/// Pay early: the requester accepts a task whose every slot is claimed and
		/// revealed with one and the same result (nobody could object). `worker` names
		/// one of those results. Anything else waits for `finalize`, where the
		/// majority is paid whatever the requester thinks; overturning it takes a
		/// dispute.
		///
		/// Origin: signed, the requester. Emits `TaskCompleted`.
		///
		/// ## Complexity
		/// O(R), R = `MaxRedundancy`.
		#[pallet::call_index(6)]
		#[pallet::weight(T::WeightInfo::finalize(T::MaxRedundancy::get() as u32))]
		pub fn accept(origin: OriginFor<T>, task_id: TaskId, worker: T::AccountId) -> DispatchResult {
			let requester = ensure_signed(origin)?;
			let task = Self::open_task(task_id)?;
			ensure!(task.requester == requester, Error::<T>::NotRequester);
			ensure!(task.open_disputes == 0, Error::<T>::DisputeOpen);
			let chosen = Assignments::<T>::get(task_id, &worker).ok_or(Error::<T>::NotClaimed)?;
			let (hash, _) = chosen.result.ok_or(Error::<T>::NoResult)?;
			let unanimous = task.claims == task.redundancy
				&& task.reveals == task.claims
				&& Assignments::<T>::iter_prefix_values(task_id).all(|a| a.result.map(|r| r.0) == Some(hash));
			ensure!(unanimous, Error::<T>::NotUnanimous);
			Self::settle(task_id, task)
		}

		/// Expire a task nobody revealed a result for, once the reveal period is
		/// over: refund the bounty; claimants that never revealed lose `NoRevealSlash`
		/// of their bond to the requester.
		///
		/// Origin: signed, anyone. Emits `TaskExpired`.
		///
		/// ## Complexity
		/// O(R), R = `MaxRedundancy`.
		#[pallet::call_index(7)]
		#[pallet::weight(T::WeightInfo::finalize(T::MaxRedundancy::get() as u32))]
		pub fn expire(origin: OriginFor<T>, task_id: TaskId) -> DispatchResult {
			ensure_signed(origin)?;
			let task = Self::open_task(task_id)?;
			ensure!(
				frame_system::Pallet::<T>::block_number() > Self::reveal_ends(&task),
				Error::<T>::RevealNotOpen
			);
			ensure!(task.reveals == 0, Error::<T>::HasResults);
			Self::settle(task_id, task)
		}

		/// Pay the task once its challenge window is over and no dispute is open:
		/// the strict majority of the revealed results is paid, otherwise the bounty
		/// is refunded (see the crate docs).
		///
		/// Origin: signed, anyone (the workers' daemons call it). Emits
		/// `TaskCompleted`, `TaskUnresolved` or `TaskExpired`, and `ClaimForfeited`
		/// for claimants that never revealed.
		///
		/// ## Complexity
		/// O(R), R = `MaxRedundancy`.
		#[pallet::call_index(9)]
		#[pallet::weight(T::WeightInfo::finalize(T::MaxRedundancy::get() as u32))]
		pub fn finalize(origin: OriginFor<T>, task_id: TaskId) -> DispatchResult {
			ensure_signed(origin)?;
			let task = Self::open_task(task_id)?;
			ensure!(
				frame_system::Pallet::<T>::block_number() > Self::challenge_ends(&task),
				Error::<T>::WindowOpen
			);
			ensure!(task.open_disputes == 0, Error::<T>::DisputeOpen);
			Self::settle(task_id, task)
		}

		/// Remove a finished task's record `TaskRetention` blocks after it finished
		/// and return the storage deposit to the requester.
		///
		/// Origin: signed, anyone. Emits `TaskReaped`.
		///
		/// ## Complexity
		/// O(1).
		#[pallet::call_index(10)]
		#[pallet::weight(T::WeightInfo::reap())]
		pub fn reap(origin: OriginFor<T>, task_id: TaskId) -> DispatchResult {
			ensure_signed(origin)?;
			let task = Tasks::<T>::get(task_id).ok_or(Error::<T>::UnknownTask)?;
			let finished_at = task.finished_at.ok_or(Error::<T>::NotReapable)?;
			ensure!(
				frame_system::Pallet::<T>::block_number() > finished_at.saturating_add(T::TaskRetention::get()),
				Error::<T>::NotReapable
			);
			Tasks::<T>::remove(task_id);
			T::Currency::release(
				&HoldReason::TaskDeposit.into(),
				&task.requester,
				task.deposit,
				Precision::BestEffort,
			)?;
			Self::deposit_event(Event::TaskReaped { task_id });
			Ok(())
		}

		/// Withdraw a task nobody has claimed yet: its record is removed and the held
		/// bounty and task deposit are released to the requester at once (no
		/// retention: nothing refers to an unclaimed task). Once a worker has claimed
		/// it, the task ends only by `accept`, `finalize` or `expire`, so a claimant's
		/// bonded work cannot be cancelled from under it.
		///
		/// Origin: signed, the requester. Emits `TaskCancelled`.
		///
		/// ## Complexity
		/// O(1).
		#[pallet::call_index(11)]
		#[pallet::weight(T::WeightInfo::cancel_task())]
		pub fn cancel_task(origin: OriginFor<T>, task_id: TaskId) -> DispatchResult {
			let requester = ensure_signed(origin)?;
			let task = Self::open_task(task_id)?;
			ensure!(task.requester == requester, Error::<T>::NotRequester);
			ensure!(task.claims == 0, Error::<T>::TaskHasClaims);
			Tasks::<T>::remove(task_id);
			T::Currency::release(
				&HoldReason::TaskBounty.into(),
				&requester,
				task.bounty,
				Precision::Exact,
			)?;
			T::Currency::release(
				&HoldReason::TaskDeposit.into(),
				&requester,
				task.deposit,
				Precision::Exact,
			)?;
			Self::deposit_event(Event::TaskCancelled {
				task_id,
				bounty: task.bounty,
				deposit: task.deposit,
			});
			Ok(())
		}
	}
}

impl<T: Config> Pallet<T> {
	/// The commitment `submit_result` takes: blake2b-256 of
	/// `SCALE(RESULT_COMMIT_DOMAIN, task_id, worker, result_hash, fuel_used, salt)`.
	pub fn result_commitment(
		task_id: TaskId,
		worker: &T::AccountId,
		result_hash: &H256,
		fuel_used: Fuel,
		salt: &[u8; 32],
	) -> H256 {
		blake2_256(&(RESULT_COMMIT_DOMAIN, task_id, worker, result_hash, fuel_used, salt).encode()).into()
	}

	/// Last block of `task`'s reveal period.
	pub fn reveal_ends(task: &TaskOf<T>) -> BlockNumberFor<T> {
		task.deadline.saturating_add(T::RevealPeriod::get())
	}

	/// Last block at which `task`'s results may be challenged: `ChallengeWindow` after
	/// the reveals, or `ChallengeWindow` after a dispute ended without a verdict.
	pub fn challenge_ends(task: &TaskOf<T>) -> BlockNumberFor<T> {
		let ends = Self::reveal_ends(task).saturating_add(T::ChallengeWindow::get());
		task.reopened_until.map_or(ends, |reopened| ends.max(reopened))
	}

	fn is_banned(info: &WorkerInfoOf<T>) -> bool {
		info.banned_until
			.is_some_and(|until| frame_system::Pallet::<T>::block_number() < until)
	}

	/// An open task.
	fn open_task(task_id: TaskId) -> Result<TaskOf<T>, DispatchError> {
		let task = Tasks::<T>::get(task_id).ok_or(Error::<T>::UnknownTask)?;
		ensure!(task.status == TaskStatus::Open, Error::<T>::TaskNotOpen);
		Ok(task)
	}

	/// The hash revealed by a strict majority of the revealed results, if any.
	fn majority(assignments: &[(T::AccountId, Assignment)]) -> Option<H256> {
		let revealed: Vec<H256> = assignments.iter().filter_map(|(_, a)| a.result.map(|r| r.0)).collect();
		revealed
			.iter()
			.find(|h| revealed.iter().filter(|x| x == h).count() * 2 > revealed.len())
			.copied()
	}

	/// Pay (or refund) `task` and end every claim on it: the strict-majority result
	/// is paid, claimants that never revealed forfeit `NoRevealSlash`, bonds are
	/// released.
	fn settle(task_id: TaskId, mut task: TaskOf<T>) -> DispatchResult {
		let assignments: Vec<(T::AccountId, Assignment)> = Assignments::<T>::iter_prefix(task_id).collect();
		let winner = Self::majority(&assignments);
		let winners: Vec<T::AccountId> = assignments
			.iter()
			.filter(|(_, a)| winner.is_some() && a.result.map(|r| r.0) == winner)
			.map(|(w, _)| w.clone())
			.collect();
		let reason = HoldReason::TaskBounty.into();
		let mut share = Zero::zero();
		if !winners.is_empty() {
			let count: BalanceOf<T> = (winners.len() as u32).into();
			share = task.bounty.checked_div(&count).ok_or(Error::<T>::Overflow)?;
			for w in &winners {
				T::Currency::transfer_on_hold(
					&reason,
					&task.requester,
					w,
					share,
					Precision::Exact,
					Restriction::Free,
					Fortitude::Polite,
				)
				.map_err(|_| Error::<T>::PaymentFailed)?;
			}
		}
		let paid_total = share
			.checked_mul(&(winners.len() as u32).into())
			.ok_or(Error::<T>::Overflow)?;
		T::Currency::release(
			&reason,
			&task.requester,
			task.bounty.saturating_sub(paid_total),
			Precision::Exact,
		)?;
		let bond = T::ClaimBond::get();
		let reputable = share >= T::MinReputableShare::get();
		let mut min_fuel: Option<Fuel> = None;
		for (w, a) in &assignments {
			let won = winners.contains(w);
			if a.result.is_none() {
				let slashed = T::Stakes::slash_bond(w, T::NoRevealSlash::get(), Some(&task.requester));
				Self::deposit_event(Event::ClaimForfeited {
					task_id,
					worker: w.clone(),
					slashed,
				});
				T::Stakes::release_bond(w, bond.saturating_sub(slashed));
			} else {
				T::Stakes::release_bond(w, bond);
			}
			if won {
				let fuel = a.result.map(|r| r.1).unwrap_or_default();
				min_fuel = Some(min_fuel.map_or(fuel, |m| m.min(fuel)));
			}
			let new_payer = won && reputable && !PaidBy::<T>::contains_key(w, &task.requester);
			if new_payer {
				PaidBy::<T>::insert(w, &task.requester, ());
			}
			Workers::<T>::mutate(w, |info| {
				if let Some(info) = info {
					info.active_claims = info.active_claims.saturating_sub(1);
					let rep = &mut info.reputation;
					if won {
						rep.completed = rep.completed.saturating_add(1);
						rep.value_earned = rep.value_earned.saturating_add(share);
						if new_payer {
							rep.distinct_requesters = rep.distinct_requesters.saturating_add(1);
						}
					} else {
						rep.failed = rep.failed.saturating_add(1);
					}
				}
			});
		}
		let _ = Assignments::<T>::clear_prefix(task_id, T::MaxRedundancy::get() as u32, None);
		task.status = match (winner, task.reveals) {
			(Some(result_hash), _) => TaskStatus::Completed { result_hash },
			(None, 0) => TaskStatus::Expired,
			(None, _) => TaskStatus::NoMajority,
		};
		task.claims = 0;
		task.finished_at = Some(frame_system::Pallet::<T>::block_number());
		let status = task.status;
		Tasks::<T>::insert(task_id, task);
		match status {
			TaskStatus::Completed { result_hash } => {
				T::Contributions::note_contribution(min_fuel.unwrap_or_default().min(T::MaxTaskFuel::get()));
				Self::deposit_event(Event::TaskCompleted {
					task_id,
					result_hash,
					workers: winners,
					paid: share,
				});
			},
			TaskStatus::Expired => Self::deposit_event(Event::TaskExpired { task_id }),
			_ => Self::deposit_event(Event::TaskUnresolved { task_id }),
		}
		Ok(())
	}

	/// Claims each worker holds on open tasks (what its bond backs), for the
	/// runtime's cross-pallet check that bonds equal their obligations.
	pub fn open_claims() -> alloc::collections::btree_map::BTreeMap<T::AccountId, u32> {
		let mut claims = alloc::collections::btree_map::BTreeMap::new();
		for (_, worker, _) in Assignments::<T>::iter() {
			*claims.entry(worker).or_insert(0u32) += 1;
		}
		claims
	}

	/// Invariants: the worker list matches the registry; held bounties equal the
	/// bounties of open tasks and held task and worker deposits equal their records
	/// (both ways); claim, commit and reveal counters match the assignments; finished
	/// tasks hold no claims.
	///
	/// Always compiled (the linker drops it from the Wasm unless `try-runtime`
	/// calls it), so that runtime-level tests can check it too.
	pub fn do_try_state() -> Result<(), polkadot_sdk::sp_runtime::TryRuntimeError> {
		use alloc::collections::btree_map::BTreeMap;
		use polkadot_sdk::frame_support::traits::fungible::InspectHold;
		let list = WorkerList::<T>::get();
		ensure!(
			list.len() == Workers::<T>::iter_keys().count(),
			"worker list length differs from registry"
		);
		ensure!(
			list.iter().all(Workers::<T>::contains_key),
			"worker list names an unregistered worker"
		);
		let mut bounties: BTreeMap<T::AccountId, BalanceOf<T>> = BTreeMap::new();
		let mut task_deposits: BTreeMap<T::AccountId, BalanceOf<T>> = BTreeMap::new();
		for (task_id, task) in Tasks::<T>::iter() {
			let deposit = task_deposits.entry(task.requester.clone()).or_default();
			*deposit = deposit.saturating_add(task.deposit);
			let assigned: Vec<Assignment> = Assignments::<T>::iter_prefix_values(task_id).collect();
			if task.status != TaskStatus::Open {
				ensure!(assigned.is_empty(), "assignments kept for a finished task");
				ensure!(
					task.finished_at.is_some(),
					"a finished task without its finishing block"
				);
				continue;
			}
			ensure!(
				assigned.len() == task.claims as usize,
				"claim counter differs from assignments"
			);
			ensure!(
				assigned.iter().filter(|a| a.commitment.is_some()).count() == task.commits as usize,
				"commit counter differs from assignments"
			);
			ensure!(
				assigned.iter().filter(|a| a.result.is_some()).count() == task.reveals as usize,
				"reveal counter differs from assignments"
			);
			ensure!(
				assigned.iter().filter(|a| a.disputed).count() == task.open_disputes as usize,
				"open dispute counter differs from assignments"
			);
			let sum = bounties.entry(task.requester.clone()).or_default();
			*sum = sum.saturating_add(task.bounty);
		}
		let claims = Self::open_claims();
		for (worker, info) in Workers::<T>::iter() {
			ensure!(
				info.active_claims == claims.get(&worker).copied().unwrap_or(0),
				"active claim counter differs from assignments"
			);
		}
		let bounty_reason = HoldReason::TaskBounty.into();
		let task_reason = HoldReason::TaskDeposit.into();
		let worker_reason = HoldReason::WorkerDeposit.into();
		for (who, _) in frame_system::Account::<T>::iter() {
			ensure!(
				T::Currency::balance_on_hold(&bounty_reason, &who) == bounties.remove(&who).unwrap_or_default(),
				"held bounty differs from open tasks"
			);
			ensure!(
				T::Currency::balance_on_hold(&task_reason, &who) == task_deposits.remove(&who).unwrap_or_default(),
				"held task deposits differ from task records"
			);
			let worker_deposit = Workers::<T>::get(&who).map(|i| i.deposit).unwrap_or_default();
			ensure!(
				T::Currency::balance_on_hold(&worker_reason, &who) == worker_deposit,
				"held worker deposit differs from the worker record"
			);
		}
		ensure!(
			bounties.is_empty() && task_deposits.is_empty(),
			"a task of an account that does not exist"
		);
		Ok(())
	}
}

impl<T: Config> WorkerRegistry<T::AccountId> for Pallet<T> {
	fn candidates() -> Vec<T::AccountId> {
		WorkerList::<T>::get()
			.into_iter()
			.filter(|w| Workers::<T>::get(w).is_some_and(|info| !Self::is_banned(&info)))
			.collect()
	}

	fn count() -> u32 {
		WorkerList::<T>::decode_len().unwrap_or(0) as u32
	}

	fn note_bad_vote(who: &T::AccountId) {
		Workers::<T>::mutate(who, |info| {
			if let Some(info) = info {
				info.reputation.failed = info.reputation.failed.saturating_add(1);
			}
		});
	}
}

impl<T: Config> TaskResults<T::AccountId, BalanceOf<T>> for Pallet<T> {
	fn disputable(task_id: TaskId, worker: &T::AccountId) -> Option<DisputableResult<T::AccountId>> {
		let task = Tasks::<T>::get(task_id).filter(|t| t.status == TaskStatus::Open)?;
		if frame_system::Pallet::<T>::block_number() > Self::challenge_ends(&task) {
			return None;
		}
		let assignment = Assignments::<T>::get(task_id, worker)?;
		if assignment.disputed || assignment.judged {
			return None;
		}
		let (result_hash, fuel_used) = assignment.result?;
		Some(DisputableResult {
			requester: task.requester,
			result_hash,
			fuel_used,
			claimants: Assignments::<T>::iter_key_prefix(task_id).collect(),
		})
	}

	fn claim_bond() -> BalanceOf<T> {
		T::ClaimBond::get()
	}

	fn on_dispute_opened(task_id: TaskId, worker: &T::AccountId) -> DispatchResult {
		let mut task = Self::open_task(task_id)?;
		Assignments::<T>::try_mutate(task_id, worker, |a| -> DispatchResult {
			let a = a.as_mut().ok_or(Error::<T>::NotClaimed)?;
			ensure!(a.result.is_some(), Error::<T>::NoResult);
			ensure!(!a.disputed && !a.judged, Error::<T>::ResultDisputed);
			a.disputed = true;
			Ok(())
		})?;
		task.open_disputes = task.open_disputes.checked_add(1).ok_or(Error::<T>::Overflow)?;
		Tasks::<T>::insert(task_id, task);
		Workers::<T>::mutate(worker, |info| {
			if let Some(info) = info {
				info.reputation.disputed = info.reputation.disputed.saturating_add(1);
			}
		});
		Ok(())
	}

	fn on_dispute_dropped(task_id: TaskId, worker: &T::AccountId) {
		Assignments::<T>::mutate(task_id, worker, |a| {
			if let Some(a) = a {
				a.disputed = false;
			}
		});
		// No verdict: the result may be challenged again for a full window from now.
		let reopened = frame_system::Pallet::<T>::block_number().saturating_add(T::ChallengeWindow::get());
		Tasks::<T>::mutate(task_id, |task| {
			if let Some(task) = task {
				task.open_disputes = task.open_disputes.saturating_sub(1);
				task.reopened_until = Some(task.reopened_until.map_or(reopened, |until| until.max(reopened)));
			}
		});
		Workers::<T>::mutate(worker, |info| {
			if let Some(info) = info {
				info.reputation.disputed = info.reputation.disputed.saturating_sub(1);
			}
		});
	}

	fn on_dispute_resolved(task_id: TaskId, worker: &T::AccountId, verdict: Verdict) {
		let at_fault = verdict == Verdict::WorkerAtFault;
		let mut removed = None;
		Assignments::<T>::mutate_exists(task_id, worker, |a| {
			if let Some(assignment) = a {
				if at_fault {
					removed = Some(*assignment);
					*a = None;
				} else {
					assignment.disputed = false;
					assignment.judged = true;
				}
			}
		});
		Tasks::<T>::mutate(task_id, |task| {
			if let Some(task) = task {
				task.open_disputes = task.open_disputes.saturating_sub(1);
				if let Some(assignment) = removed {
					// The cheater's claim is void (its bond was slashed by the court);
					// its slot can be claimed again until the deadline.
					task.claims = task.claims.saturating_sub(1);
					task.commits = task.commits.saturating_sub(u8::from(assignment.commitment.is_some()));
					task.reveals = task.reveals.saturating_sub(u8::from(assignment.result.is_some()));
				}
			}
		});
		let now = frame_system::Pallet::<T>::block_number();
		let mut banned = None;
		Workers::<T>::mutate(worker, |info| {
			let Some(info) = info else { return };
			let rep = &mut info.reputation;
			rep.disputed = rep.disputed.saturating_sub(1);
			if at_fault && removed.is_some() {
				rep.slashed = rep.slashed.saturating_add(1);
				rep.failed = rep.failed.saturating_add(1);
				info.active_claims = info.active_claims.saturating_sub(1);
				let until = now.saturating_add(T::BanPeriod::get());
				info.banned_until = Some(until);
				banned = Some(until);
			}
		});
		if let Some(until) = banned {
			Self::deposit_event(Event::WorkerBanned {
				worker: worker.clone(),
				until,
			});
		}
	}
}
