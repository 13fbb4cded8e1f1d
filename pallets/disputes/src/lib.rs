//! # Disputes pallet
//!
//! The dispute court of Compute Currency: a challenger stakes against a
//! worker's task result, randomly selected staked workers re-execute the task
//! and vote with their own result hash, and the majority decides.
//!
//! ## Overview
//!
//! Flow (seed 003, "2.4 Dispute Resolution Flow"):
//!
//! 1. `challenge(task_id, worker)` holds [`Config::ChallengeStake`] on the
//!    challenger, freezes the result in the tasks pallet and selects up to
//!    [`Config::VerifierCount`] verifiers among the eligible workers (never the
//!    accused worker or the challenger).
//! 2. Each verifier re-executes the task and calls `vote` with its result hash
//!    within [`Config::VotingPeriod`] blocks. When every verifier has voted, the
//!    dispute resolves at once; otherwise anyone calls `resolve` after the period.
//! 3. Outcomes, counting the votes cast:
//!    - **Worker at fault** (more votes differ from the worker's hash than match
//!      it): the worker's stake is slashed by [`Config::WorkerSlash`]; each
//!      verifier who voted with the majority gets [`Config::VerifierReward`] of it
//!      and the challenger the rest; the challenger's stake is released; the
//!      worker is banned by the tasks pallet.
//!    - **Worker upheld** (more votes match): the false accuser loses its stake:
//!      majority verifiers get `VerifierReward` each and the worker the rest; the
//!      worker's reputation is restored.
//!    - **Inconclusive** (a tie, or no votes): the challenger's stake is released
//!      and nobody is paid.
//!
//!    Selected verifiers that did not vote by then are penalised: each gets a
//!    failure in its worker reputation (`VerifiersMissedVote`), which lowers its
//!    quality score; a dispute never waits for them beyond the voting period.
//!
//! ## Randomness
//!
//! Verifiers are drawn with [`Config::Randomness`], seeded with the dispute id.
//! The runtime wires `pallet-insecure-randomness-collective-flip`: a hash of the
//! last 81 block hashes. It is unpredictable to a challenger who cannot author
//! blocks, but a block author can bias it by withholding blocks, so it is fit for
//! a dev or permissioned chain; a public chain should use a VRF source such as
//! BABE's `RandomnessFromOneEpochAgo` behind the same trait.
//!
//! ## Interface
//!
//! ### Dispatchable Functions
//!
//! - `challenge`, `vote`, `resolve`

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
use ccnet_primitives::{DisputeId, StakeProvider, TaskId, TaskResults, Verdict, WorkerRegistry};
use codec::Encode;
use polkadot_sdk::{
	frame_support::{
		pallet_prelude::*,
		traits::{
			fungible::{Inspect, Mutate, MutateHold},
			tokens::{Fortitude, Precision, Restriction},
			Randomness,
		},
	},
	frame_system,
	frame_system::pallet_prelude::*,
	sp_core::H256,
	sp_io::hashing::blake2_256,
	sp_runtime::traits::{Saturating, Zero},
};

/// Sets up a disputable result and eligible verifiers, for the benchmarks.
pub trait BenchmarkHelper<AccountId> {
	/// Make `who` an eligible, staked worker.
	fn worker(who: &AccountId);
	/// Post a task of `requester`, let `worker` claim it and submit `hash`.
	fn task_with_result(requester: &AccountId, worker: &AccountId, hash: H256) -> TaskId;
}

impl<AccountId> BenchmarkHelper<AccountId> for () {
	fn worker(_who: &AccountId) {}
	fn task_with_result(_requester: &AccountId, _worker: &AccountId, _hash: H256) -> TaskId {
		0
	}
}

/// Balance type of the configured currency.
pub type BalanceOf<T> = <<T as Config>::Currency as Inspect<<T as frame_system::Config>::AccountId>>::Balance;
/// Dispute record of a runtime.
pub type DisputeOf<T> =
	Dispute<<T as frame_system::Config>::AccountId, BalanceOf<T>, BlockNumberFor<T>, <T as Config>::VerifierCount>;

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
		/// A challenger's stake in an open dispute.
		#[codec(index = 0)]
		ChallengeStake,
	}

	#[pallet::config]
	pub trait Config: polkadot_sdk::frame_system::Config {
		/// The native currency (CC), with holds.
		type Currency: Mutate<Self::AccountId> + MutateHold<Self::AccountId, Reason = Self::RuntimeHoldReason>;
		/// The overarching hold reason.
		type RuntimeHoldReason: From<HoldReason>;
		/// Worker stakes, for slashing cheaters (`pallet-credits`).
		type Stakes: StakeProvider<Self::AccountId, BalanceOf<Self>>;
		/// The worker registry, for selecting verifiers (`pallet-tasks`).
		type Workers: WorkerRegistry<Self::AccountId>;
		/// Submitted results, frozen while disputed (`pallet-tasks`).
		type Tasks: TaskResults<Self::AccountId>;
		/// Source of randomness for verifier selection (see the crate docs).
		type Randomness: Randomness<Self::Hash, BlockNumberFor<Self>>;
		/// Stake a challenger puts up, in planck.
		#[pallet::constant]
		type ChallengeStake: Get<BalanceOf<Self>>;
		/// What a worker found at fault loses, in planck.
		#[pallet::constant]
		type WorkerSlash: Get<BalanceOf<Self>>;
		/// What each verifier who voted with the majority earns, in planck.
		#[pallet::constant]
		type VerifierReward: Get<BalanceOf<Self>>;
		/// Verifiers selected per dispute (at most; fewer when fewer are eligible).
		#[pallet::constant]
		type VerifierCount: Get<u32>;
		/// Blocks verifiers have to vote.
		#[pallet::constant]
		type VotingPeriod: Get<BlockNumberFor<Self>>;
		/// Weights of the dispatchables.
		type WeightInfo: WeightInfo;
		/// Sets up workers and results for the benchmarks. Not feature-gated, so
		/// that one native build serves both tests and the runtime; `()` is fine
		/// wherever the benchmarks do not run.
		type BenchmarkHelper: BenchmarkHelper<Self::AccountId>;
	}

	/// Id of the next dispute.
	#[pallet::storage]
	pub type NextDisputeId<T: Config> = StorageValue<_, DisputeId, ValueQuery>;

	/// Open disputes by id (resolved disputes are removed; events keep the record).
	#[pallet::storage]
	pub type Disputes<T: Config> = StorageMap<_, Twox64Concat, DisputeId, DisputeOf<T>, OptionQuery>;

	/// The open dispute over `(task, worker)`, if any.
	#[pallet::storage]
	pub type DisputeIndex<T: Config> =
		StorageDoubleMap<_, Twox64Concat, TaskId, Blake2_128Concat, T::AccountId, DisputeId, OptionQuery>;

	#[pallet::event]
	#[pallet::generate_deposit(pub(super) fn deposit_event)]
	pub enum Event<T: Config> {
		/// A dispute was opened; `verifiers` must vote by `voting_ends`.
		DisputeOpened {
			dispute_id: DisputeId,
			task_id: TaskId,
			worker: T::AccountId,
			challenger: T::AccountId,
			verifiers: Vec<T::AccountId>,
			voting_ends: BlockNumberFor<T>,
		},
		/// A verifier voted; `agrees` is whether its hash matched the worker's.
		Voted {
			dispute_id: DisputeId,
			verifier: T::AccountId,
			result_hash: H256,
			agrees: bool,
		},
		/// Selected verifiers that did not vote before the dispute resolved; each had a
		/// failure counted against its reputation in the worker registry.
		VerifiersMissedVote {
			dispute_id: DisputeId,
			verifiers: Vec<T::AccountId>,
		},
		/// The dispute ended. `slashed` planck were taken from the loser (worker or
		/// challenger) and `rewarded` verifiers were paid `VerifierReward` each.
		DisputeResolved {
			dispute_id: DisputeId,
			task_id: TaskId,
			worker: T::AccountId,
			verdict: Verdict,
			slashed: BalanceOf<T>,
			rewarded: Vec<T::AccountId>,
		},
	}

	#[pallet::error]
	pub enum Error<T> {
		/// The worker has no submitted result for this open task.
		NoResult,
		/// A worker cannot challenge its own result.
		SelfChallenge,
		/// This result is already under dispute.
		AlreadyDisputed,
		/// No eligible worker can verify (besides the worker and the challenger).
		NoVerifiers,
		/// The free balance cannot cover the challenge stake.
		InsufficientBalance,
		/// No open dispute has this id.
		UnknownDispute,
		/// The caller was not selected as a verifier of this dispute.
		NotVerifier,
		/// The verifier voted already.
		AlreadyVoted,
		/// The voting period is over.
		VotingClosed,
		/// The voting period is not over and not every verifier has voted.
		VotingOpen,
		/// A dispute id overflowed.
		Overflow,
	}

	#[pallet::hooks]
	impl<T: Config> Hooks<BlockNumberFor<T>> for Pallet<T> {
		fn integrity_test() {
			let rewards = T::VerifierReward::get().saturating_mul(T::VerifierCount::get().into());
			assert!(T::VerifierCount::get() > 0, "VerifierCount must be positive");
			assert!(
				T::WorkerSlash::get() >= rewards,
				"WorkerSlash must cover the verifier rewards"
			);
			assert!(
				T::ChallengeStake::get() >= rewards,
				"ChallengeStake must cover the verifier rewards"
			);
		}

		#[cfg(feature = "try-runtime")]
		fn try_state(_n: BlockNumberFor<T>) -> Result<(), polkadot_sdk::sp_runtime::TryRuntimeError> {
			Self::do_try_state()
		}
	}

	#[pallet::call]
	impl<T: Config> Pallet<T> {
		/// Challenge `worker`'s result for `task_id`, holding `ChallengeStake` on the
		/// caller, and select the verifiers.
		///
		/// Origin: signed (the challenger, usually the requester). Emits `DisputeOpened`.
		///
		/// ## Complexity
		/// O(W), W = registered workers (selection scans the registry).
		#[pallet::call_index(0)]
		#[pallet::weight(T::WeightInfo::challenge())]
		pub fn challenge(origin: OriginFor<T>, task_id: TaskId, worker: T::AccountId) -> DispatchResult {
			let challenger = ensure_signed(origin)?;
			ensure!(challenger != worker, Error::<T>::SelfChallenge);
			ensure!(
				!DisputeIndex::<T>::contains_key(task_id, &worker),
				Error::<T>::AlreadyDisputed
			);
			let result = T::Tasks::result_of(task_id, &worker).ok_or(Error::<T>::NoResult)?;
			let dispute_id = NextDisputeId::<T>::get();
			let next = dispute_id.checked_add(1).ok_or(Error::<T>::Overflow)?;
			let verifiers = Self::select_verifiers(dispute_id, &worker, &challenger);
			ensure!(!verifiers.is_empty(), Error::<T>::NoVerifiers);
			let stake = T::ChallengeStake::get();
			T::Currency::hold(&HoldReason::ChallengeStake.into(), &challenger, stake)
				.map_err(|_| Error::<T>::InsufficientBalance)?;
			T::Tasks::on_dispute_opened(task_id, &worker)?;
			let voting_ends = frame_system::Pallet::<T>::block_number().saturating_add(T::VotingPeriod::get());
			let dispute = Dispute {
				task_id,
				worker: worker.clone(),
				challenger: challenger.clone(),
				stake,
				claimed_hash: result.result_hash,
				verifiers: verifiers.clone(),
				votes: BoundedVec::default(),
				voting_ends,
			};
			Disputes::<T>::insert(dispute_id, dispute);
			DisputeIndex::<T>::insert(task_id, &worker, dispute_id);
			NextDisputeId::<T>::put(next);
			Self::deposit_event(Event::DisputeOpened {
				dispute_id,
				task_id,
				worker,
				challenger,
				verifiers: verifiers.into_inner(),
				voting_ends,
			});
			Ok(())
		}

		/// Vote with the hash of the caller's own re-execution. The dispute resolves
		/// at once when the last verifier votes.
		///
		/// Origin: signed (a selected verifier). Emits `Voted`, maybe `DisputeResolved`.
		///
		/// ## Complexity
		/// O(V), V = `VerifierCount`.
		#[pallet::call_index(1)]
		#[pallet::weight(T::WeightInfo::vote().saturating_add(T::WeightInfo::resolve()))]
		pub fn vote(origin: OriginFor<T>, dispute_id: DisputeId, result_hash: H256) -> DispatchResult {
			let verifier = ensure_signed(origin)?;
			let mut dispute = Disputes::<T>::get(dispute_id).ok_or(Error::<T>::UnknownDispute)?;
			ensure!(dispute.verifiers.contains(&verifier), Error::<T>::NotVerifier);
			ensure!(
				dispute.votes.iter().all(|(v, _)| v != &verifier),
				Error::<T>::AlreadyVoted
			);
			ensure!(
				frame_system::Pallet::<T>::block_number() <= dispute.voting_ends,
				Error::<T>::VotingClosed
			);
			// Cannot fail: verifiers and votes share the bound and each verifier votes once.
			dispute
				.votes
				.try_push((verifier.clone(), result_hash))
				.map_err(|_| Error::<T>::AlreadyVoted)?;
			let agrees = result_hash == dispute.claimed_hash;
			Self::deposit_event(Event::Voted {
				dispute_id,
				verifier,
				result_hash,
				agrees,
			});
			if dispute.votes.len() == dispute.verifiers.len() {
				Self::conclude(dispute_id, dispute)
			} else {
				Disputes::<T>::insert(dispute_id, dispute);
				Ok(())
			}
		}

		/// Resolve a dispute after its voting period, counting the votes cast.
		///
		/// Origin: signed (anyone). Emits `DisputeResolved`.
		///
		/// ## Complexity
		/// O(V), V = `VerifierCount`.
		#[pallet::call_index(2)]
		#[pallet::weight(T::WeightInfo::resolve())]
		pub fn resolve(origin: OriginFor<T>, dispute_id: DisputeId) -> DispatchResult {
			ensure_signed(origin)?;
			let dispute = Disputes::<T>::get(dispute_id).ok_or(Error::<T>::UnknownDispute)?;
			ensure!(
				frame_system::Pallet::<T>::block_number() > dispute.voting_ends
					|| dispute.votes.len() == dispute.verifiers.len(),
				Error::<T>::VotingOpen
			);
			Self::conclude(dispute_id, dispute)
		}
	}
}

impl<T: Config> Pallet<T> {
	/// Draw up to `VerifierCount` distinct eligible workers, excluding the accused
	/// and the challenger: a partial Fisher-Yates shuffle driven by
	/// blake2b-256(random seed, dispute id, round).
	fn select_verifiers(
		dispute_id: DisputeId,
		worker: &T::AccountId,
		challenger: &T::AccountId,
	) -> BoundedVec<T::AccountId, T::VerifierCount> {
		let mut pool: Vec<T::AccountId> = T::Workers::eligible_workers()
			.into_iter()
			.filter(|w| w != worker && w != challenger)
			.collect();
		let (seed, _) = T::Randomness::random(&(b"ccnet/disputes", dispute_id).encode());
		let wanted = (T::VerifierCount::get() as usize).min(pool.len());
		for round in 0..wanted {
			let draw = blake2_256(&(seed, dispute_id, round as u32).encode());
			let span = (pool.len() - round) as u64;
			let pick = round + (u64::from_le_bytes(draw[..8].try_into().unwrap_or_default()) % span) as usize;
			pool.swap(round, pick);
		}
		pool.truncate(wanted);
		BoundedVec::truncate_from(pool)
	}

	/// Apply the verdict of `dispute` and remove it.
	fn conclude(dispute_id: DisputeId, dispute: DisputeOf<T>) -> DispatchResult {
		let agreeing = dispute.votes.iter().filter(|(_, h)| *h == dispute.claimed_hash).count();
		let disagreeing = dispute.votes.len() - agreeing;
		let verdict = match agreeing.cmp(&disagreeing) {
			core::cmp::Ordering::Less => Verdict::WorkerAtFault,
			core::cmp::Ordering::Greater => Verdict::WorkerUpheld,
			core::cmp::Ordering::Equal => Verdict::Inconclusive,
		};
		let majority: Vec<T::AccountId> = dispute
			.votes
			.iter()
			.filter(|(_, h)| match verdict {
				Verdict::WorkerAtFault => *h != dispute.claimed_hash,
				Verdict::WorkerUpheld => *h == dispute.claimed_hash,
				Verdict::Inconclusive => false,
			})
			.map(|(v, _)| v.clone())
			.collect();
		let reason = HoldReason::ChallengeStake.into();
		let reward = T::VerifierReward::get();
		let mut slashed: BalanceOf<T> = Zero::zero();
		match verdict {
			Verdict::WorkerAtFault => {
				let mut left = T::WorkerSlash::get();
				for v in &majority {
					let paid = T::Stakes::slash(&dispute.worker, reward.min(left), Some(v));
					left = left.saturating_sub(paid);
					slashed = slashed.saturating_add(paid);
				}
				slashed = slashed.saturating_add(T::Stakes::slash(&dispute.worker, left, Some(&dispute.challenger)));
				T::Currency::release(&reason, &dispute.challenger, dispute.stake, Precision::BestEffort)?;
			},
			Verdict::WorkerUpheld => {
				let mut left = dispute.stake;
				for v in &majority {
					let paid = Self::pay_from_stake(&dispute.challenger, v, reward.min(left));
					left = left.saturating_sub(paid);
				}
				Self::pay_from_stake(&dispute.challenger, &dispute.worker, left);
				// Whatever could not be paid (a payee below the existential deposit)
				// goes back to the challenger rather than staying held forever.
				let unpaid =
					T::Currency::release_all(&reason, &dispute.challenger, Precision::BestEffort).unwrap_or_default();
				slashed = dispute.stake.saturating_sub(unpaid);
			},
			Verdict::Inconclusive => {
				T::Currency::release(&reason, &dispute.challenger, dispute.stake, Precision::BestEffort)?;
			},
		}
		T::Tasks::on_dispute_resolved(dispute.task_id, &dispute.worker, verdict);
		let missed: Vec<T::AccountId> = dispute
			.verifiers
			.iter()
			.filter(|v| dispute.votes.iter().all(|(voter, _)| voter != *v))
			.cloned()
			.collect();
		if !missed.is_empty() {
			missed.iter().for_each(T::Workers::note_missed_vote);
			Self::deposit_event(Event::VerifiersMissedVote {
				dispute_id,
				verifiers: missed,
			});
		}
		Disputes::<T>::remove(dispute_id);
		DisputeIndex::<T>::remove(dispute.task_id, &dispute.worker);
		Self::deposit_event(Event::DisputeResolved {
			dispute_id,
			task_id: dispute.task_id,
			worker: dispute.worker,
			verdict,
			slashed,
			rewarded: match verdict {
				Verdict::Inconclusive => Vec::new(),
				_ => majority,
			},
		});
		Ok(())
	}

	/// Move `amount` of the challenger's held stake to `to`; returns what moved.
	fn pay_from_stake(challenger: &T::AccountId, to: &T::AccountId, amount: BalanceOf<T>) -> BalanceOf<T> {
		if amount.is_zero() {
			return amount;
		}
		T::Currency::transfer_on_hold(
			&HoldReason::ChallengeStake.into(),
			challenger,
			to,
			amount,
			Precision::Exact,
			Restriction::Free,
			Fortitude::Force,
		)
		.unwrap_or_default()
	}

	/// Invariants: the index matches the disputes; challenge holds equal the
	/// stakes of open disputes.
	///
	/// Always compiled (the linker drops it from the Wasm unless `try-runtime`
	/// calls it), so that runtime-level tests can check it too.
	pub fn do_try_state() -> Result<(), polkadot_sdk::sp_runtime::TryRuntimeError> {
		use alloc::collections::btree_map::BTreeMap;
		use polkadot_sdk::frame_support::traits::fungible::InspectHold;
		let mut stakes: BTreeMap<T::AccountId, BalanceOf<T>> = BTreeMap::new();
		for (id, dispute) in Disputes::<T>::iter() {
			ensure!(
				DisputeIndex::<T>::get(dispute.task_id, &dispute.worker) == Some(id),
				"dispute missing from index"
			);
			ensure!(
				dispute.votes.len() <= dispute.verifiers.len(),
				"more votes than verifiers"
			);
			let sum = stakes.entry(dispute.challenger.clone()).or_default();
			*sum = sum.saturating_add(dispute.stake);
		}
		ensure!(
			DisputeIndex::<T>::iter().count() == Disputes::<T>::iter().count(),
			"stale dispute index entries"
		);
		for (who, sum) in stakes {
			let held = T::Currency::balance_on_hold(&HoldReason::ChallengeStake.into(), &who);
			ensure!(held == sum, "held challenge stakes differ from open disputes");
		}
		Ok(())
	}
}
