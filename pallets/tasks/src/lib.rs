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
//! - A worker must hold at least [`Config::MinWorkerStake`] of stake in
//!   `pallet-credits` (through [`ccnet_primitives::StakeProvider`]) to register and
//!   to claim. Reputation counters track completed, failed, disputed and slashed
//!   results; a lost dispute bans the worker for [`Config::BanPeriod`] blocks.
//! - `post_task` escrows the bounty with a hold ([`HoldReason::TaskBounty`]). Up
//!   to `redundancy` workers `claim` it and `submit_result` (result hash, fuel).
//!   The requester `accept`s one result: the bounty is split exactly among the
//!   workers that submitted that same hash (the remainder of the division goes
//!   back to the requester). After the deadline anyone may `expire` it, which
//!   refunds the bounty.
//! - The disputes pallet freezes and judges results through
//!   [`ccnet_primitives::TaskResults`].
//!
//! ## Interface
//!
//! ### Dispatchable Functions
//!
//! - `register_worker`, `update_worker`, `deregister_worker`
//! - `post_task`, `claim`, `submit_result`, `accept`, `expire`

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
	ContributionTracker, Fuel, StakeProvider, SubmittedResult, TaskId, TaskResults, Verdict, WorkerRegistry,
};
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
	sp_runtime::traits::{CheckedDiv, CheckedMul, Saturating, Zero},
};

/// Balance type of the configured currency.
pub type BalanceOf<T> = <<T as Config>::Currency as Inspect<<T as frame_system::Config>::AccountId>>::Balance;
/// Worker record of a runtime.
pub type WorkerInfoOf<T> = WorkerInfo<
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

	const STORAGE_VERSION: StorageVersion = StorageVersion::new(1);

	#[pallet::pallet]
	#[pallet::storage_version(STORAGE_VERSION)]
	pub struct Pallet<T>(_);

	/// Reasons for which this pallet holds funds.
	#[pallet::composite_enum]
	pub enum HoldReason {
		/// The bounty of an open task, held on the requester.
		#[codec(index = 0)]
		TaskBounty,
	}

	#[pallet::config]
	pub trait Config: polkadot_sdk::frame_system::Config {
		/// The native currency (CC), with holds.
		type Currency: Mutate<Self::AccountId> + MutateHold<Self::AccountId, Reason = Self::RuntimeHoldReason>;
		/// The overarching hold reason.
		type RuntimeHoldReason: From<HoldReason>;
		/// Stakes of workers (`pallet-credits`).
		type Stakes: StakeProvider<Self::AccountId, BalanceOf<Self>>;
		/// Where accepted work is counted (the reward multiplier of `pallet-credits`).
		type Contributions: ContributionTracker;
		/// Stake a worker needs to register and to claim, in planck.
		#[pallet::constant]
		type MinWorkerStake: Get<BalanceOf<Self>>;
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

	/// Registered workers in registration order (for verifier selection).
	#[pallet::storage]
	pub type WorkerList<T: Config> = StorageValue<_, BoundedVec<T::AccountId, T::MaxWorkers>, ValueQuery>;

	/// Id of the next task.
	#[pallet::storage]
	pub type NextTaskId<T: Config> = StorageValue<_, TaskId, ValueQuery>;

	/// Tasks by id. Completed and expired tasks stay as a public record.
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
		},
		/// A worker claimed a task.
		TaskClaimed { task_id: TaskId, worker: T::AccountId },
		/// A worker submitted a result.
		ResultSubmitted {
			task_id: TaskId,
			worker: T::AccountId,
			result_hash: H256,
			fuel_used: Fuel,
		},
		/// The requester accepted `result_hash`; `paid` planck went to each of `workers`.
		TaskCompleted {
			task_id: TaskId,
			result_hash: H256,
			workers: Vec<T::AccountId>,
			paid: BalanceOf<T>,
		},
		/// The deadline passed; the bounty went back to the requester.
		TaskExpired { task_id: TaskId },
	}

	#[pallet::error]
	pub enum Error<T> {
		/// The caller is already a registered worker.
		AlreadyRegistered,
		/// The caller is not a registered worker.
		NotRegistered,
		/// The registry holds `MaxWorkers` workers already.
		TooManyWorkers,
		/// The caller's stake is below `MinWorkerStake`.
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
		/// The free balance cannot cover the bounty.
		InsufficientBalance,
		/// No task has this id.
		UnknownTask,
		/// The task is completed or expired.
		TaskNotOpen,
		/// The deadline has passed.
		DeadlinePassed,
		/// The deadline has not passed yet.
		DeadlineNotReached,
		/// A requester cannot claim its own task.
		CannotClaimOwnTask,
		/// The worker claimed this task already.
		AlreadyClaimed,
		/// `redundancy` workers claimed the task already.
		TaskFullyClaimed,
		/// The worker has not claimed this task.
		NotClaimed,
		/// The worker submitted a result already.
		AlreadySubmitted,
		/// Only the requester may accept a result.
		NotRequester,
		/// The worker has not submitted a result.
		NoResult,
		/// The result is under dispute.
		ResultDisputed,
		/// A dispute over the task is open.
		DisputeOpen,
		/// A counter or id overflowed.
		Overflow,
		/// Paying the bounty failed.
		PaymentFailed,
	}

	#[pallet::hooks]
	impl<T: Config> Hooks<BlockNumberFor<T>> for Pallet<T> {
		fn integrity_test() {
			assert!(T::MaxRedundancy::get() > 0, "MaxRedundancy must be positive");
			assert!(T::MaxWorkers::get() > 0, "MaxWorkers must be positive");
		}

		#[cfg(feature = "try-runtime")]
		fn try_state(_n: BlockNumberFor<T>) -> Result<(), polkadot_sdk::sp_runtime::TryRuntimeError> {
			Self::do_try_state()
		}
	}

	#[pallet::call]
	impl<T: Config> Pallet<T> {
		/// Register the caller as a worker.
		///
		/// Origin: signed, with at least `MinWorkerStake` staked. Emits `WorkerRegistered`.
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
				T::Stakes::staked(&worker) >= T::MinWorkerStake::get(),
				Error::<T>::InsufficientStake
			);
			WorkerList::<T>::try_mutate(|list| list.try_push(worker.clone()))
				.map_err(|_| Error::<T>::TooManyWorkers)?;
			let info = WorkerInfo {
				capabilities,
				endpoint,
				registered_at: frame_system::Pallet::<T>::block_number(),
				reputation: Reputation::default(),
				active_claims: 0,
				banned_until: None,
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

		/// Leave the registry. Reputation is forgotten; a banned worker cannot leave
		/// before its ban ends (so that re-registering cannot wash it away).
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
			Self::deposit_event(Event::WorkerDeregistered { worker });
			Ok(())
		}

		/// Post a task and hold its `bounty` (planck) on the caller.
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
			T::Currency::hold(&HoldReason::TaskBounty.into(), &requester, bounty)
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
				open_disputes: 0,
				status: TaskStatus::Open,
			};
			Tasks::<T>::insert(task_id, task);
			NextTaskId::<T>::put(next);
			Self::deposit_event(Event::TaskPosted {
				task_id,
				requester,
				bounty,
			});
			Ok(())
		}

		/// Claim an open task.
		///
		/// Origin: signed, an eligible worker (registered, staked, not banned) other
		/// than the requester. Emits `TaskClaimed`.
		///
		/// ## Complexity
		/// O(1).
		#[pallet::call_index(4)]
		#[pallet::weight(T::WeightInfo::claim())]
		pub fn claim(origin: OriginFor<T>, task_id: TaskId) -> DispatchResult {
			let worker = ensure_signed(origin)?;
			let mut task = Self::open_task(task_id)?;
			ensure!(task.requester != worker, Error::<T>::CannotClaimOwnTask);
			let mut info = Workers::<T>::get(&worker).ok_or(Error::<T>::NotRegistered)?;
			ensure!(!Self::is_banned(&info), Error::<T>::WorkerBanned);
			ensure!(
				T::Stakes::staked(&worker) >= T::MinWorkerStake::get(),
				Error::<T>::InsufficientStake
			);
			ensure!(
				!Assignments::<T>::contains_key(task_id, &worker),
				Error::<T>::AlreadyClaimed
			);
			ensure!(task.claims < task.redundancy, Error::<T>::TaskFullyClaimed);
			task.claims += 1;
			info.active_claims = info.active_claims.checked_add(1).ok_or(Error::<T>::Overflow)?;
			Assignments::<T>::insert(task_id, &worker, Assignment::default());
			Workers::<T>::insert(&worker, info);
			Tasks::<T>::insert(task_id, task);
			Self::deposit_event(Event::TaskClaimed { task_id, worker });
			Ok(())
		}

		/// Submit the result of a claimed task: blake2b-256 of the output, and the
		/// fuel used.
		///
		/// Origin: signed, the claiming worker. Emits `ResultSubmitted`.
		///
		/// ## Complexity
		/// O(1).
		#[pallet::call_index(5)]
		#[pallet::weight(T::WeightInfo::submit_result())]
		pub fn submit_result(
			origin: OriginFor<T>,
			task_id: TaskId,
			result_hash: H256,
			fuel_used: Fuel,
		) -> DispatchResult {
			let worker = ensure_signed(origin)?;
			Self::open_task(task_id)?;
			Assignments::<T>::try_mutate(task_id, &worker, |a| -> DispatchResult {
				let a = a.as_mut().ok_or(Error::<T>::NotClaimed)?;
				ensure!(a.result.is_none(), Error::<T>::AlreadySubmitted);
				a.result = Some((result_hash, fuel_used));
				Ok(())
			})?;
			Self::deposit_event(Event::ResultSubmitted {
				task_id,
				worker,
				result_hash,
				fuel_used,
			});
			Ok(())
		}

		/// Accept `worker`'s result. The bounty is split exactly among every worker
		/// that submitted the same hash; the remainder of the division is released
		/// to the requester. Other claimants count a failure.
		///
		/// Origin: signed, the requester. Emits `TaskCompleted`.
		///
		/// ## Complexity
		/// O(R), R = `MaxRedundancy`.
		#[pallet::call_index(6)]
		#[pallet::weight(T::WeightInfo::accept(T::MaxRedundancy::get() as u32))]
		pub fn accept(origin: OriginFor<T>, task_id: TaskId, worker: T::AccountId) -> DispatchResult {
			let requester = ensure_signed(origin)?;
			let mut task = Self::open_task_any_time(task_id)?;
			ensure!(task.requester == requester, Error::<T>::NotRequester);
			let chosen = Assignments::<T>::get(task_id, &worker).ok_or(Error::<T>::NotClaimed)?;
			ensure!(!chosen.disputed, Error::<T>::ResultDisputed);
			let (result_hash, fuel_used) = chosen.result.ok_or(Error::<T>::NoResult)?;
			let assignments: Vec<(T::AccountId, Assignment)> = Assignments::<T>::iter_prefix(task_id).collect();
			// Disputed results cannot be paid: wait for the court.
			ensure!(
				assignments
					.iter()
					.all(|(_, a)| !(a.disputed && a.result.map(|r| r.0) == Some(result_hash))),
				Error::<T>::ResultDisputed
			);
			let winners: Vec<T::AccountId> = assignments
				.iter()
				.filter(|(_, a)| a.result.map(|r| r.0) == Some(result_hash))
				.map(|(w, _)| w.clone())
				.collect();
			let count: BalanceOf<T> = (winners.len() as u32).into();
			let share = task.bounty.checked_div(&count).ok_or(Error::<T>::Overflow)?;
			let paid_total = share.checked_mul(&count).ok_or(Error::<T>::Overflow)?;
			let reason = HoldReason::TaskBounty.into();
			for w in &winners {
				T::Currency::transfer_on_hold(
					&reason,
					&requester,
					w,
					share,
					Precision::Exact,
					Restriction::Free,
					Fortitude::Polite,
				)
				.map_err(|_| Error::<T>::PaymentFailed)?;
			}
			T::Currency::release(
				&reason,
				&requester,
				task.bounty.saturating_sub(paid_total),
				Precision::Exact,
			)?;
			for (w, a) in &assignments {
				let won = winners.contains(w);
				Workers::<T>::mutate(w, |info| {
					if let Some(info) = info {
						info.active_claims = info.active_claims.saturating_sub(1);
						if won {
							info.reputation.completed = info.reputation.completed.saturating_add(1);
						} else if !a.disputed {
							info.reputation.failed = info.reputation.failed.saturating_add(1);
						}
					}
				});
			}
			let _ = Assignments::<T>::clear_prefix(task_id, T::MaxRedundancy::get() as u32, None);
			task.status = TaskStatus::Completed { result_hash };
			Tasks::<T>::insert(task_id, task);
			T::Contributions::note_contribution(fuel_used);
			Self::deposit_event(Event::TaskCompleted {
				task_id,
				result_hash,
				workers: winners,
				paid: share,
			});
			Ok(())
		}

		/// Expire an open task after its deadline: refund the bounty; claimants that
		/// never submitted count a failure.
		///
		/// Origin: signed, anyone. Emits `TaskExpired`.
		///
		/// ## Complexity
		/// O(R), R = `MaxRedundancy`.
		#[pallet::call_index(7)]
		#[pallet::weight(T::WeightInfo::expire(T::MaxRedundancy::get() as u32))]
		pub fn expire(origin: OriginFor<T>, task_id: TaskId) -> DispatchResult {
			ensure_signed(origin)?;
			let mut task = Self::open_task_any_time(task_id)?;
			ensure!(
				frame_system::Pallet::<T>::block_number() > task.deadline,
				Error::<T>::DeadlineNotReached
			);
			ensure!(task.open_disputes == 0, Error::<T>::DisputeOpen);
			T::Currency::release(
				&HoldReason::TaskBounty.into(),
				&task.requester,
				task.bounty,
				Precision::Exact,
			)?;
			for (w, a) in Assignments::<T>::drain_prefix(task_id) {
				Workers::<T>::mutate(&w, |info| {
					if let Some(info) = info {
						info.active_claims = info.active_claims.saturating_sub(1);
						if a.result.is_none() {
							info.reputation.failed = info.reputation.failed.saturating_add(1);
						}
					}
				});
			}
			task.status = TaskStatus::Expired;
			Tasks::<T>::insert(task_id, task);
			Self::deposit_event(Event::TaskExpired { task_id });
			Ok(())
		}
	}
}

impl<T: Config> Pallet<T> {
	fn is_banned(info: &WorkerInfoOf<T>) -> bool {
		info.banned_until
			.is_some_and(|until| frame_system::Pallet::<T>::block_number() < until)
	}

	/// An open task whose deadline has not passed.
	fn open_task(task_id: TaskId) -> Result<TaskOf<T>, DispatchError> {
		let task = Self::open_task_any_time(task_id)?;
		ensure!(
			frame_system::Pallet::<T>::block_number() <= task.deadline,
			Error::<T>::DeadlinePassed
		);
		Ok(task)
	}

	/// An open task, whatever its deadline.
	fn open_task_any_time(task_id: TaskId) -> Result<TaskOf<T>, DispatchError> {
		let task = Tasks::<T>::get(task_id).ok_or(Error::<T>::UnknownTask)?;
		ensure!(task.status == TaskStatus::Open, Error::<T>::TaskNotOpen);
		Ok(task)
	}

	/// Invariants: the worker list matches the registry; held bounties equal the
	/// bounties of open tasks; claim counters match the assignments.
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
		let mut claims: BTreeMap<T::AccountId, u32> = BTreeMap::new();
		for (task_id, task) in Tasks::<T>::iter() {
			let assigned = Assignments::<T>::iter_prefix(task_id).count();
			if task.status != TaskStatus::Open {
				ensure!(assigned == 0, "assignments kept for a closed task");
				continue;
			}
			ensure!(
				assigned == task.claims as usize,
				"claim counter differs from assignments"
			);
			let sum = bounties.entry(task.requester.clone()).or_default();
			*sum = sum.saturating_add(task.bounty);
		}
		for (_, worker, _) in Assignments::<T>::iter() {
			*claims.entry(worker).or_default() += 1;
		}
		for (who, sum) in bounties.iter() {
			let held = T::Currency::balance_on_hold(&HoldReason::TaskBounty.into(), who);
			ensure!(held == *sum, "held bounty differs from open tasks");
		}
		for (worker, info) in Workers::<T>::iter() {
			ensure!(
				info.active_claims == claims.get(&worker).copied().unwrap_or(0),
				"active claim counter differs from assignments"
			);
		}
		Ok(())
	}
}

impl<T: Config> WorkerRegistry<T::AccountId> for Pallet<T> {
	fn is_eligible(who: &T::AccountId) -> bool {
		Workers::<T>::get(who).is_some_and(|info| !Self::is_banned(&info))
			&& T::Stakes::staked(who) >= T::MinWorkerStake::get()
	}

	fn eligible_workers() -> Vec<T::AccountId> {
		WorkerList::<T>::get().into_iter().filter(Self::is_eligible).collect()
	}

	fn note_missed_vote(who: &T::AccountId) {
		Workers::<T>::mutate(who, |info| {
			if let Some(info) = info {
				info.reputation.failed = info.reputation.failed.saturating_add(1);
			}
		});
	}
}

impl<T: Config> TaskResults<T::AccountId> for Pallet<T> {
	fn result_of(task: TaskId, worker: &T::AccountId) -> Option<SubmittedResult<T::AccountId>> {
		let record = Tasks::<T>::get(task).filter(|t| t.status == TaskStatus::Open)?;
		let (result_hash, fuel_used) = Assignments::<T>::get(task, worker)?.result?;
		Some(SubmittedResult {
			requester: record.requester,
			result_hash,
			fuel_used,
		})
	}

	fn on_dispute_opened(task: TaskId, worker: &T::AccountId) -> DispatchResult {
		let mut record = Self::open_task_any_time(task)?;
		Assignments::<T>::try_mutate(task, worker, |a| -> DispatchResult {
			let a = a.as_mut().ok_or(Error::<T>::NotClaimed)?;
			ensure!(a.result.is_some(), Error::<T>::NoResult);
			ensure!(!a.disputed, Error::<T>::ResultDisputed);
			a.disputed = true;
			Ok(())
		})?;
		record.open_disputes = record.open_disputes.checked_add(1).ok_or(Error::<T>::Overflow)?;
		Tasks::<T>::insert(task, record);
		Workers::<T>::mutate(worker, |info| {
			if let Some(info) = info {
				info.reputation.disputed = info.reputation.disputed.saturating_add(1);
			}
		});
		Ok(())
	}

	fn on_dispute_resolved(task: TaskId, worker: &T::AccountId, verdict: Verdict) {
		Tasks::<T>::mutate(task, |record| {
			if let Some(record) = record {
				record.open_disputes = record.open_disputes.saturating_sub(1);
				if verdict == Verdict::WorkerAtFault {
					// The cheater's claim is void; its slot can be claimed again.
					record.claims = record.claims.saturating_sub(1);
				}
			}
		});
		if verdict == Verdict::WorkerAtFault {
			Assignments::<T>::remove(task, worker);
		} else {
			Assignments::<T>::mutate(task, worker, |a| {
				if let Some(a) = a {
					a.disputed = false;
				}
			});
		}
		let now = frame_system::Pallet::<T>::block_number();
		let mut banned = None;
		Workers::<T>::mutate(worker, |info| {
			let Some(info) = info else { return };
			let rep = &mut info.reputation;
			rep.disputed = rep.disputed.saturating_sub(1);
			if verdict == Verdict::WorkerAtFault {
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
