//! # Disputes pallet
//!
//! The dispute court of Compute Currency: a challenger stakes against a worker's
//! revealed task result, verifiers drawn at random from the staked workers
//! re-execute the task and vote with their own result hash, and the majority
//! decides. Every stake answers for what it backs and the parties cannot steer the
//! draw or copy votes.
//!
//! ## Flow
//!
//! 1. `challenge(task_id, worker, expected)` holds a stake on the challenger and
//!    freezes the result in the tasks pallet. Who may challenge: anyone, at a price.
//!    The task's requester and its other claimants stake [`Config::ChallengeStake`];
//!    anyone else (an *outsider*, who has no part in the task) stakes
//!    [`Config::OutsiderChallengeStake`], which makes an outsider with a few sybil
//!    workers pay heavily for each attempt to get an honest worker slashed. A result
//!    judged once (upheld or at fault) is never challenged again. The challenger may commit to the result
//!    it expects (see [`EXPECTED_DOMAIN`]); requesters do, and auditors must.
//! 2. **Delayed draw.** The verifiers are drawn in `on_initialize` of block
//!    `draw_at`, at least [`Config::DrawDelay`] blocks after the challenge, from
//!    [`Config::Randomness`] of that block: randomness that did not exist when the
//!    challenge was made, so a challenger cannot wait for a block that favours its
//!    sybils and then challenge. The panel is up to [`Config::VerifierCount`]
//!    distinct staked workers with [`Config::VerifierBond`] of free stake, never the
//!    accused, the challenger, the requester or another claimant of the task. With
//!    fewer than [`Config::MinVerifiers`] candidates nobody is drawn and the dispute
//!    ends without judging the result (the stake goes back).
//! 3. **Commit, then reveal.** Each verifier bonds `VerifierBond`, re-executes the
//!    task and commits to its *own* result hash (`commit_vote`, see
//!    [`VOTE_COMMIT_DOMAIN`]) until `commit_ends`; votes are revealed
//!    (`reveal_vote`) once every verifier committed or the commit phase is over,
//!    until `reveal_ends`. Nobody sees a vote before every vote is fixed, so late
//!    verifiers cannot copy early ones. The challenger reveals its expected result in
//!    the same phase (`reveal_expected`).
//! 4. **Verdict**, once everything committed is revealed or `reveal_ends` passed
//!    (`resolve`): with fewer than `MinVerifiers` revealed votes, or a tie, the
//!    dispute is *inconclusive*. Otherwise the worker is *at fault* if more revealed
//!    hashes differ from its own than match it, *upheld* otherwise.
//!    - At fault: the worker's claim bond is slashed; each verifier in the majority
//!      gets [`Config::VerifierReward`] of it and the challenger the rest; the
//!      challenger's stake is released; the tasks pallet voids the claim and bans
//!      the worker.
//!    - Upheld: the challenger's stake pays `VerifierReward` to each majority
//!      verifier and the rest to the worker.
//!    - Inconclusive: the challenger's stake is released; the result is not judged
//!      and may be challenged again for `ChallengeWindow` blocks from then, so a
//!      drawn sybil of the worker cannot shield it by staying silent (it loses its
//!      bond each time).
//!    - Verifiers on the losing side of a verdict, and verifiers that did not reveal,
//!      lose their bond (burnt) and get a reputation failure: voting "agree" without
//!      re-running costs money whenever the worker lied. Majority verifiers get their
//!      bond back.
//!
//! ## Forced errors (the verifier's dilemma)
//!
//! If cheating were rare, a lazy verifier that always votes "agree" would nearly
//! always be right. As TrueBit proposed, the network therefore plants disputes whose
//! answer the chain learns for certain: Root registers *auditor keys*, hashes of an
//! auditor account and a secret salt ([`AUDITOR_DOMAIN`]). An auditor runs an
//! ordinary worker identity that reveals a deliberately wrong result and challenges
//! it with a commitment to the right one. Nothing on chain tells such a dispute from
//! a real one until the auditor reveals its expected result with its salt: then the
//! expected result is the answer, the worker is at fault, and every verifier whose
//! vote differs from the answer (or who did not reveal) is slashed as lazy.
//!
//! ## Randomness, and what a block author can still do
//!
//! The runtime wires `pallet-insecure-randomness-collective-flip`, a hash of the last
//! 81 block hashes. The draw uses the material of block `draw_at`, which includes
//! the hash of block `draw_at - 1`; with `DrawDelay >= 2` that block did not exist
//! at the challenge. What remains: the author of block `draw_at - 1` can try many
//! versions of its block (extrinsic order, which transactions it includes) and keep
//! the one whose hash draws the panel it likes, or withhold its block altogether
//! (losing its slot). With Aura, authors are known in advance, so this is a power of
//! validators: acceptable on a permissioned network of validators that do not run
//! workers. A public network must use a VRF source (BABE's
//! `RandomnessFromOneEpochAgo`) or a randomness beacon behind the same trait. Sudo
//! (Root) can register auditors; it is trusted like the validators.
//!
//! ## Interface
//!
//! ### Dispatchable Functions
//!
//! - `challenge`, `commit_vote`, `reveal_vote`, `reveal_expected`, `resolve`
//! - `register_auditor`, `remove_auditor` (Root)

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
	/// Make `who` an eligible, staked worker with stake to bond as a verifier.
	fn worker(who: &AccountId);
	/// Post a task of `requester`, let `worker` claim it and reveal `hash`, past the
	/// task's deadline (so that it can be challenged).
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

	// 2: delayed draws, commit-reveal votes, verifier bonds, audits. No chain holds
	// version 1 data (every network starts from genesis), so there is no migration.
	const STORAGE_VERSION: StorageVersion = StorageVersion::new(2);

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
		/// Worker stakes: verifier bonds and slashes (`pallet-credits`).
		type Stakes: StakeProvider<Self::AccountId, BalanceOf<Self>>;
		/// The worker registry, for drawing verifiers (`pallet-tasks`).
		type Workers: WorkerRegistry<Self::AccountId>;
		/// Revealed results, frozen while disputed (`pallet-tasks`).
		type Tasks: TaskResults<Self::AccountId, BalanceOf<Self>>;
		/// Source of randomness for the draw (see the crate docs).
		type Randomness: Randomness<Self::Hash, BlockNumberFor<Self>>;
		/// Stake the requester or another claimant of the task puts up, in planck.
		#[pallet::constant]
		type ChallengeStake: Get<BalanceOf<Self>>;
		/// Stake anyone else puts up, in planck.
		#[pallet::constant]
		type OutsiderChallengeStake: Get<BalanceOf<Self>>;
		/// What each verifier of the majority earns, in planck.
		#[pallet::constant]
		type VerifierReward: Get<BalanceOf<Self>>;
		/// Stake each drawn verifier bonds, in planck; lost for a vote against the
		/// verdict or no vote.
		#[pallet::constant]
		type VerifierBond: Get<BalanceOf<Self>>;
		/// Verifiers drawn per dispute (at most).
		#[pallet::constant]
		type VerifierCount: Get<u32>;
		/// Fewest distinct verifiers a dispute needs: drawn, and revealed for a verdict.
		#[pallet::constant]
		type MinVerifiers: Get<u32>;
		/// Blocks between a challenge and the draw (at least 2, see the crate docs).
		#[pallet::constant]
		type DrawDelay: Get<BlockNumberFor<Self>>;
		/// Most draws in one block; later challenges are drawn in later blocks.
		#[pallet::constant]
		type MaxDrawsPerBlock: Get<u32>;
		/// Blocks verifiers have to commit, after the draw.
		#[pallet::constant]
		type CommitPeriod: Get<BlockNumberFor<Self>>;
		/// Blocks verifiers have to reveal, after the commit phase.
		#[pallet::constant]
		type RevealPeriod: Get<BlockNumberFor<Self>>;
		/// Most accounts a draw excludes (requester, challenger, claimants).
		#[pallet::constant]
		type MaxExcluded: Get<u32>;
		/// Most auditor keys.
		#[pallet::constant]
		type MaxAuditors: Get<u32>;
		/// Most workers a draw considers (the registry's bound), for weights.
		#[pallet::constant]
		type MaxCandidates: Get<u32>;
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

	/// Accounts a dispute's draw excludes (requester, challenger, claimants).
	#[pallet::storage]
	pub type Excluded<T: Config> =
		StorageMap<_, Twox64Concat, DisputeId, BoundedVec<T::AccountId, T::MaxExcluded>, ValueQuery>;

	/// Disputes whose verifiers are drawn at the start of a block.
	#[pallet::storage]
	pub type DrawQueue<T: Config> =
		StorageMap<_, Twox64Concat, BlockNumberFor<T>, BoundedVec<DisputeId, T::MaxDrawsPerBlock>, ValueQuery>;

	/// Auditor keys: blake2b-256 of `(AUDITOR_DOMAIN, account, salt)`.
	#[pallet::storage]
	pub type Auditors<T: Config> = CountedStorageMap<_, Identity, H256, (), OptionQuery>;

	#[pallet::event]
	#[pallet::generate_deposit(pub(super) fn deposit_event)]
	pub enum Event<T: Config> {
		/// A dispute was opened with `stake` held; verifiers are drawn in `draw_at`.
		DisputeOpened {
			dispute_id: DisputeId,
			task_id: TaskId,
			worker: T::AccountId,
			challenger: T::AccountId,
			stake: BalanceOf<T>,
			draw_at: BlockNumberFor<T>,
		},
		/// The panel was drawn (each bonded `VerifierBond`): commit by `commit_ends`,
		/// reveal by `reveal_ends`.
		VerifiersDrawn {
			dispute_id: DisputeId,
			verifiers: Vec<T::AccountId>,
			commit_ends: BlockNumberFor<T>,
			reveal_ends: BlockNumberFor<T>,
		},
		/// Too few eligible verifiers: the dispute ends without judging the result.
		NotEnoughVerifiers { dispute_id: DisputeId },
		/// A verifier committed to its vote.
		VoteCommitted {
			dispute_id: DisputeId,
			verifier: T::AccountId,
		},
		/// A verifier revealed its vote; `agrees` is whether it matched the worker's.
		VoteRevealed {
			dispute_id: DisputeId,
			verifier: T::AccountId,
			result_hash: H256,
			agrees: bool,
		},
		/// The challenger revealed the result it expected; `audit` when it proved to be
		/// an auditor (the expected result is then the answer).
		ExpectedRevealed {
			dispute_id: DisputeId,
			expected_hash: H256,
			audit: bool,
		},
		/// Verifiers that voted against the verdict or did not reveal lost these
		/// amounts (burnt) and a point of reputation.
		VerifiersSlashed {
			dispute_id: DisputeId,
			verifiers: Vec<(T::AccountId, BalanceOf<T>)>,
		},
		/// A payment the verdict called for could not be made (`amount` planck to `to`);
		/// it went back to the challenger.
		PaymentFailed {
			dispute_id: DisputeId,
			to: T::AccountId,
			amount: BalanceOf<T>,
		},
		/// The dispute ended. `slashed` planck were taken from the loser (the worker's
		/// bond, or the challenger's stake): `rewards` to verifiers of the majority and
		/// `to_winner` to the challenger (at fault) or the worker (upheld).
		DisputeResolved {
			dispute_id: DisputeId,
			task_id: TaskId,
			worker: T::AccountId,
			verdict: Verdict,
			slashed: BalanceOf<T>,
			rewards: Vec<(T::AccountId, BalanceOf<T>)>,
			to_winner: BalanceOf<T>,
		},
		/// Root registered an auditor key.
		AuditorRegistered { key: H256 },
		/// Root removed an auditor key.
		AuditorRemoved { key: H256 },
	}

	#[pallet::error]
	pub enum Error<T> {
		/// The worker has no revealed result that may be challenged now (none, under
		/// dispute, judged already, or the challenge window closed).
		NotDisputable,
		/// A worker cannot challenge its own result.
		SelfChallenge,
		/// The registry has fewer workers than a dispute needs verifiers.
		NoVerifiers,
		/// The free balance cannot cover the challenge stake.
		InsufficientBalance,
		/// Every block within reach already draws `MaxDrawsPerBlock` disputes.
		DrawQueueFull,
		/// No open dispute has this id.
		UnknownDispute,
		/// The verifiers are not drawn yet.
		NotDrawn,
		/// The caller was not drawn as a verifier of this dispute.
		NotVerifier,
		/// The verifier committed already.
		AlreadyCommitted,
		/// The commit phase is over.
		CommitClosed,
		/// The verifier did not commit.
		NotCommitted,
		/// Reveals are not open yet (the commit phase runs, and not everyone committed).
		RevealNotOpen,
		/// The reveal phase is over.
		RevealClosed,
		/// The revealed vote was revealed already.
		AlreadyRevealed,
		/// The revealed values do not match the commitment.
		BadReveal,
		/// Only the challenger reveals the expected result.
		NotChallenger,
		/// The challenger committed to no expected result.
		NoExpectation,
		/// The auditor salt does not make a registered auditor key.
		NotAuditor,
		/// The dispute can be resolved only after its reveal phase (or once every
		/// commitment is revealed).
		VotingOpen,
		/// `MaxAuditors` keys are registered already.
		TooManyAuditors,
		/// No auditor key like that is registered.
		UnknownAuditor,
		/// A dispute id overflowed.
		Overflow,
	}

	#[pallet::hooks]
	impl<T: Config> Hooks<BlockNumberFor<T>> for Pallet<T> {
		fn on_initialize(n: BlockNumberFor<T>) -> Weight {
			let queued = DrawQueue::<T>::take(n);
			let draws = queued.len() as u32;
			for dispute_id in queued {
				Self::draw(dispute_id);
			}
			T::WeightInfo::draw(T::MaxCandidates::get())
				.saturating_mul(draws.into())
				.saturating_add(T::DbWeight::get().reads_writes(1, 1))
		}

		fn integrity_test() {
			let rewards = T::VerifierReward::get().saturating_mul(T::VerifierCount::get().into());
			assert!(T::VerifierCount::get() > 0, "VerifierCount must be positive");
			assert!(
				T::MinVerifiers::get() > 0 && T::MinVerifiers::get() <= T::VerifierCount::get(),
				"MinVerifiers must be between 1 and VerifierCount"
			);
			assert!(
				T::DrawDelay::get() >= 2u32.into(),
				"DrawDelay must be at least 2 blocks: the draw's randomness must not exist at the challenge"
			);
			assert!(T::MaxDrawsPerBlock::get() > 0, "MaxDrawsPerBlock must be positive");
			assert!(!T::VerifierBond::get().is_zero(), "VerifierBond must be positive");
			assert!(
				T::ChallengeStake::get() >= rewards,
				"ChallengeStake must cover the verifier rewards"
			);
			assert!(
				T::OutsiderChallengeStake::get() >= T::ChallengeStake::get(),
				"an outsider's challenge must cost at least a party's"
			);
		}

		#[cfg(feature = "try-runtime")]
		fn try_state(_n: BlockNumberFor<T>) -> Result<(), polkadot_sdk::sp_runtime::TryRuntimeError> {
			Self::do_try_state()
		}
	}

	#[pallet::call]
	impl<T: Config> Pallet<T> {
		/// Challenge `worker`'s revealed result for `task_id`: hold the challenge stake
		/// (`ChallengeStake` for the requester and the task's claimants,
		/// `OutsiderChallengeStake` for anyone else) and schedule the draw. `expected`
		/// is an optional commitment to the result the challenger expects (see
		/// [`Pallet::expected_commitment`]).
		///
		/// Origin: signed (the challenger). Emits `DisputeOpened`.
		///
		/// ## Complexity
		/// O(R + D): the task's claimants (R = its redundancy) and the draw queue's
		/// blocks searched (D = 16 at most).
		#[pallet::call_index(0)]
		#[pallet::weight(T::WeightInfo::challenge())]
		pub fn challenge(
			origin: OriginFor<T>,
			task_id: TaskId,
			worker: T::AccountId,
			expected: Option<H256>,
		) -> DispatchResult {
			let challenger = ensure_signed(origin)?;
			ensure!(challenger != worker, Error::<T>::SelfChallenge);
			let result = T::Tasks::disputable(task_id, &worker).ok_or(Error::<T>::NotDisputable)?;
			ensure!(T::Workers::count() >= T::MinVerifiers::get(), Error::<T>::NoVerifiers);
			let party = challenger == result.requester || result.claimants.contains(&challenger);
			let stake = if party {
				T::ChallengeStake::get()
			} else {
				T::OutsiderChallengeStake::get()
			};
			let dispute_id = NextDisputeId::<T>::get();
			let next = dispute_id.checked_add(1).ok_or(Error::<T>::Overflow)?;
			let draw_at = Self::schedule_draw(dispute_id)?;
			T::Currency::hold(&HoldReason::ChallengeStake.into(), &challenger, stake)
				.map_err(|_| Error::<T>::InsufficientBalance)?;
			T::Tasks::on_dispute_opened(task_id, &worker)?;
			let mut excluded = result.claimants;
			excluded.push(result.requester);
			excluded.push(challenger.clone());
			Excluded::<T>::insert(dispute_id, BoundedVec::truncate_from(excluded));
			let dispute = Dispute {
				task_id,
				worker: worker.clone(),
				challenger: challenger.clone(),
				stake,
				claimed_hash: result.result_hash,
				expected,
				expected_hash: None,
				audit: false,
				phase: DisputePhase::Drawing { draw_at },
				verifiers: BoundedVec::default(),
				commitments: BoundedVec::default(),
				votes: BoundedVec::default(),
			};
			Disputes::<T>::insert(dispute_id, dispute);
			DisputeIndex::<T>::insert(task_id, &worker, dispute_id);
			NextDisputeId::<T>::put(next);
			Self::deposit_event(Event::DisputeOpened {
				dispute_id,
				task_id,
				worker,
				challenger,
				stake,
				draw_at,
			});
			Ok(())
		}

		/// Commit to the result hash of the caller's own re-execution:
		/// `commitment` is [`Pallet::vote_commitment`] of the hash and a secret salt.
		///
		/// Origin: signed (a drawn verifier), until `commit_ends`. Emits
		/// `VoteCommitted`.
		///
		/// ## Complexity
		/// O(V), V = `VerifierCount`.
		#[pallet::call_index(1)]
		#[pallet::weight(T::WeightInfo::commit_vote())]
		pub fn commit_vote(origin: OriginFor<T>, dispute_id: DisputeId, commitment: H256) -> DispatchResult {
			let verifier = ensure_signed(origin)?;
			let mut dispute = Disputes::<T>::get(dispute_id).ok_or(Error::<T>::UnknownDispute)?;
			let DisputePhase::Voting { commit_ends, .. } = dispute.phase else {
				return Err(Error::<T>::NotDrawn.into());
			};
			ensure!(dispute.verifiers.contains(&verifier), Error::<T>::NotVerifier);
			ensure!(
				dispute.commitments.iter().all(|(v, _)| v != &verifier),
				Error::<T>::AlreadyCommitted
			);
			ensure!(
				frame_system::Pallet::<T>::block_number() <= commit_ends,
				Error::<T>::CommitClosed
			);
			// Cannot fail: commitments and verifiers share the bound, one each.
			dispute
				.commitments
				.try_push((verifier.clone(), commitment))
				.map_err(|_| Error::<T>::AlreadyCommitted)?;
			Disputes::<T>::insert(dispute_id, dispute);
			Self::deposit_event(Event::VoteCommitted { dispute_id, verifier });
			Ok(())
		}

		/// Resolve a dispute after its reveal phase, counting the votes revealed.
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
			let DisputePhase::Voting { reveal_ends, .. } = dispute.phase else {
				return Err(Error::<T>::NotDrawn.into());
			};
			ensure!(
				frame_system::Pallet::<T>::block_number() > reveal_ends || Self::all_revealed(&dispute),
				Error::<T>::VotingOpen
			);
			Self::conclude(dispute_id, dispute);
			Ok(())
		}

		/// Reveal the committed vote: the result hash and the salt. The dispute
		/// resolves at once when everything committed is revealed.
		///
		/// Origin: signed (a drawn verifier that committed), once every verifier
		/// committed or the commit phase is over, until `reveal_ends`. Emits
		/// `VoteRevealed`, maybe `DisputeResolved`.
		///
		/// ## Complexity
		/// O(V), V = `VerifierCount`.
		#[pallet::call_index(3)]
		#[pallet::weight(T::WeightInfo::reveal_vote().saturating_add(T::WeightInfo::resolve()))]
		pub fn reveal_vote(
			origin: OriginFor<T>,
			dispute_id: DisputeId,
			result_hash: H256,
			salt: [u8; 32],
		) -> DispatchResult {
			let verifier = ensure_signed(origin)?;
			let mut dispute = Disputes::<T>::get(dispute_id).ok_or(Error::<T>::UnknownDispute)?;
			Self::ensure_reveal_open(&dispute)?;
			let commitment = dispute
				.commitments
				.iter()
				.find(|(v, _)| v == &verifier)
				.map(|(_, c)| *c)
				.ok_or(Error::<T>::NotCommitted)?;
			ensure!(
				dispute.votes.iter().all(|(v, _)| v != &verifier),
				Error::<T>::AlreadyRevealed
			);
			ensure!(
				commitment == Self::vote_commitment(dispute_id, &verifier, &result_hash, &salt),
				Error::<T>::BadReveal
			);
			dispute
				.votes
				.try_push((verifier.clone(), result_hash))
				.map_err(|_| Error::<T>::AlreadyRevealed)?;
			Self::deposit_event(Event::VoteRevealed {
				dispute_id,
				verifier,
				result_hash,
				agrees: result_hash == dispute.claimed_hash,
			});
			Self::store_or_conclude(dispute_id, dispute);
			Ok(())
		}

		/// Reveal the result the challenger committed to expect. With
		/// `auditor_salt`, prove that the challenger is a registered auditor: its
		/// expected result then decides the dispute and lazy votes are slashed.
		///
		/// Origin: signed (the challenger), in the reveal phase. Emits
		/// `ExpectedRevealed`, maybe `DisputeResolved`.
		///
		/// ## Complexity
		/// O(V), V = `VerifierCount`.
		#[pallet::call_index(4)]
		#[pallet::weight(T::WeightInfo::reveal_expected().saturating_add(T::WeightInfo::resolve()))]
		pub fn reveal_expected(
			origin: OriginFor<T>,
			dispute_id: DisputeId,
			expected_hash: H256,
			salt: [u8; 32],
			auditor_salt: Option<[u8; 32]>,
		) -> DispatchResult {
			let who = ensure_signed(origin)?;
			let mut dispute = Disputes::<T>::get(dispute_id).ok_or(Error::<T>::UnknownDispute)?;
			ensure!(who == dispute.challenger, Error::<T>::NotChallenger);
			Self::ensure_reveal_open(&dispute)?;
			let commitment = dispute.expected.ok_or(Error::<T>::NoExpectation)?;
			ensure!(dispute.expected_hash.is_none(), Error::<T>::AlreadyRevealed);
			ensure!(
				commitment == Self::expected_commitment(dispute.task_id, &dispute.worker, &expected_hash, &salt),
				Error::<T>::BadReveal
			);
			if let Some(auditor_salt) = auditor_salt {
				ensure!(
					Auditors::<T>::contains_key(Self::auditor_key(&who, &auditor_salt)),
					Error::<T>::NotAuditor
				);
				dispute.audit = true;
			}
			dispute.expected_hash = Some(expected_hash);
			Self::deposit_event(Event::ExpectedRevealed {
				dispute_id,
				expected_hash,
				audit: dispute.audit,
			});
			Self::store_or_conclude(dispute_id, dispute);
			Ok(())
		}

		/// Register an auditor key: [`Pallet::auditor_key`] of the auditor's account
		/// and a secret salt.
		///
		/// Origin: Root. Emits `AuditorRegistered`.
		///
		/// ## Complexity
		/// O(1).
		#[pallet::call_index(5)]
		#[pallet::weight(T::WeightInfo::register_auditor())]
		pub fn register_auditor(origin: OriginFor<T>, key: H256) -> DispatchResult {
			ensure_root(origin)?;
			ensure!(
				Auditors::<T>::count() < T::MaxAuditors::get(),
				Error::<T>::TooManyAuditors
			);
			Auditors::<T>::insert(key, ());
			Self::deposit_event(Event::AuditorRegistered { key });
			Ok(())
		}

		/// Remove an auditor key.
		///
		/// Origin: Root. Emits `AuditorRemoved`.
		///
		/// ## Complexity
		/// O(1).
		#[pallet::call_index(6)]
		#[pallet::weight(T::WeightInfo::register_auditor())]
		pub fn remove_auditor(origin: OriginFor<T>, key: H256) -> DispatchResult {
			ensure_root(origin)?;
			ensure!(Auditors::<T>::contains_key(key), Error::<T>::UnknownAuditor);
			Auditors::<T>::remove(key);
			Self::deposit_event(Event::AuditorRemoved { key });
			Ok(())
		}
	}
}

/// How far ahead of `DrawDelay` a challenge looks for a block with room to draw.
const DRAW_SEARCH: u32 = 16;

impl<T: Config> Pallet<T> {
	/// The commitment `commit_vote` takes: blake2b-256 of
	/// `SCALE(VOTE_COMMIT_DOMAIN, dispute_id, verifier, result_hash, salt)`.
	pub fn vote_commitment(
		dispute_id: DisputeId,
		verifier: &T::AccountId,
		result_hash: &H256,
		salt: &[u8; 32],
	) -> H256 {
		blake2_256(&(VOTE_COMMIT_DOMAIN, dispute_id, verifier, result_hash, salt).encode()).into()
	}

	/// The commitment `challenge` takes as `expected`: blake2b-256 of
	/// `SCALE(EXPECTED_DOMAIN, task_id, worker, expected_hash, salt)`.
	pub fn expected_commitment(task_id: TaskId, worker: &T::AccountId, expected_hash: &H256, salt: &[u8; 32]) -> H256 {
		blake2_256(&(EXPECTED_DOMAIN, task_id, worker, expected_hash, salt).encode()).into()
	}

	/// An auditor key: blake2b-256 of `SCALE(AUDITOR_DOMAIN, auditor, salt)`.
	pub fn auditor_key(auditor: &T::AccountId, salt: &[u8; 32]) -> H256 {
		blake2_256(&(AUDITOR_DOMAIN, auditor, salt).encode()).into()
	}

	/// Queue the draw of `dispute_id` in the first block at least `DrawDelay` ahead
	/// with room; returns that block.
	fn schedule_draw(dispute_id: DisputeId) -> Result<BlockNumberFor<T>, DispatchError> {
		let first = frame_system::Pallet::<T>::block_number().saturating_add(T::DrawDelay::get());
		for offset in 0..DRAW_SEARCH {
			let at = first.saturating_add(offset.into());
			if DrawQueue::<T>::try_mutate(at, |queue| queue.try_push(dispute_id)).is_ok() {
				return Ok(at);
			}
		}
		Err(Error::<T>::DrawQueueFull.into())
	}

	/// Draw the panel of `dispute_id` (in `on_initialize` of its `draw_at`): a partial
	/// Fisher-Yates shuffle of the candidates, driven by blake2b-256(random seed,
	/// dispute id, round); each verifier drawn bonds `VerifierBond`.
	fn draw(dispute_id: DisputeId) {
		let Some(mut dispute) = Disputes::<T>::get(dispute_id) else {
			return;
		};
		let excluded = Excluded::<T>::take(dispute_id);
		let bond = T::VerifierBond::get();
		let mut pool: Vec<T::AccountId> = T::Workers::candidates()
			.into_iter()
			.filter(|w| w != &dispute.worker && !excluded.contains(w) && T::Stakes::free_stake(w) >= bond)
			.collect();
		if (pool.len() as u32) < T::MinVerifiers::get() {
			Self::deposit_event(Event::NotEnoughVerifiers { dispute_id });
			Self::finish(dispute_id, &dispute, None);
			return;
		}
		let (seed, _) = T::Randomness::random(&(b"ccnet/disputes", dispute_id).encode());
		let wanted = (T::VerifierCount::get() as usize).min(pool.len());
		for round in 0..wanted {
			let draw = blake2_256(&(seed, dispute_id, round as u32).encode());
			let span = (pool.len() - round) as u64;
			let pick = round + (u64::from_le_bytes(draw[..8].try_into().unwrap_or_default()) % span) as usize;
			pool.swap(round, pick);
		}
		pool.truncate(wanted);
		for verifier in &pool {
			// Cannot fail: the pool holds only workers with that much free stake.
			let _ = T::Stakes::bond(verifier, bond);
		}
		let now = frame_system::Pallet::<T>::block_number();
		let commit_ends = now.saturating_add(T::CommitPeriod::get());
		let reveal_ends = commit_ends.saturating_add(T::RevealPeriod::get());
		dispute.verifiers = BoundedVec::truncate_from(pool);
		dispute.phase = DisputePhase::Voting {
			commit_ends,
			reveal_ends,
		};
		Self::deposit_event(Event::VerifiersDrawn {
			dispute_id,
			verifiers: dispute.verifiers.clone().into_inner(),
			commit_ends,
			reveal_ends,
		});
		Disputes::<T>::insert(dispute_id, dispute);
	}

	fn ensure_reveal_open(dispute: &DisputeOf<T>) -> DispatchResult {
		let DisputePhase::Voting {
			commit_ends,
			reveal_ends,
		} = dispute.phase
		else {
			return Err(Error::<T>::NotDrawn.into());
		};
		let now = frame_system::Pallet::<T>::block_number();
		let all_committed = dispute.commitments.len() == dispute.verifiers.len();
		ensure!(now > commit_ends || all_committed, Error::<T>::RevealNotOpen);
		ensure!(now <= reveal_ends, Error::<T>::RevealClosed);
		Ok(())
	}

	/// Whether every verifier revealed and the challenger revealed what it committed.
	fn all_revealed(dispute: &DisputeOf<T>) -> bool {
		dispute.votes.len() == dispute.verifiers.len()
			&& (dispute.expected.is_none() || dispute.expected_hash.is_some())
	}

	fn store_or_conclude(dispute_id: DisputeId, dispute: DisputeOf<T>) {
		if Self::all_revealed(&dispute) {
			Self::conclude(dispute_id, dispute);
		} else {
			Disputes::<T>::insert(dispute_id, dispute);
		}
	}

	/// The verdict of `dispute` and the verifiers on its side.
	fn verdict(dispute: &DisputeOf<T>) -> (Verdict, Vec<T::AccountId>) {
		let side = |wanted: &dyn Fn(&H256) -> bool| -> Vec<T::AccountId> {
			dispute
				.votes
				.iter()
				.filter(|(_, h)| wanted(h))
				.map(|(v, _)| v.clone())
				.collect()
		};
		if let (true, Some(truth)) = (dispute.audit, dispute.expected_hash) {
			let verdict = if truth == dispute.claimed_hash {
				Verdict::WorkerUpheld
			} else {
				Verdict::WorkerAtFault
			};
			return (verdict, side(&|h| *h == truth));
		}
		if (dispute.votes.len() as u32) < T::MinVerifiers::get() {
			return (Verdict::Inconclusive, Vec::new());
		}
		let agreeing = side(&|h| *h == dispute.claimed_hash);
		let disagreeing = side(&|h| *h != dispute.claimed_hash);
		match agreeing.len().cmp(&disagreeing.len()) {
			core::cmp::Ordering::Less => (Verdict::WorkerAtFault, disagreeing),
			core::cmp::Ordering::Greater => (Verdict::WorkerUpheld, agreeing),
			core::cmp::Ordering::Equal => (Verdict::Inconclusive, Vec::new()),
		}
	}

	/// Apply the verdict of `dispute`, settle every stake it holds and remove it.
	fn conclude(dispute_id: DisputeId, dispute: DisputeOf<T>) {
		let (verdict, majority) = Self::verdict(&dispute);
		// Verifier bonds: back for the majority (and for every revealer of an
		// inconclusive vote); slashed for the rest and for whoever did not reveal.
		let revealed = |v: &T::AccountId| dispute.votes.iter().any(|(x, _)| x == v);
		let bond = T::VerifierBond::get();
		let mut bad = Vec::new();
		for verifier in &dispute.verifiers {
			let keeps = if verdict == Verdict::Inconclusive {
				revealed(verifier)
			} else {
				majority.contains(verifier)
			};
			if keeps {
				T::Stakes::release_bond(verifier, bond);
			} else {
				let slashed = T::Stakes::slash_bond(verifier, bond, None);
				T::Workers::note_bad_vote(verifier);
				bad.push((verifier.clone(), slashed));
			}
		}
		if !bad.is_empty() {
			Self::deposit_event(Event::VerifiersSlashed {
				dispute_id,
				verifiers: bad,
			});
		}
		Self::finish(dispute_id, &dispute, Some((verdict, majority)));
	}

	/// Move the loser's stake (`verdict` of `majority`; None: nobody was drawn),
	/// release the rest, tell the tasks pallet, remove the dispute.
	fn finish(dispute_id: DisputeId, dispute: &DisputeOf<T>, outcome: Option<(Verdict, Vec<T::AccountId>)>) {
		let reason = HoldReason::ChallengeStake.into();
		let reward = T::VerifierReward::get();
		let mut rewards = Vec::new();
		let mut slashed: BalanceOf<T> = Zero::zero();
		let mut to_winner: BalanceOf<T> = Zero::zero();
		let verdict = outcome.as_ref().map(|(v, _)| *v).unwrap_or(Verdict::Inconclusive);
		match &outcome {
			Some((Verdict::WorkerAtFault, majority)) => {
				let mut left = T::Tasks::claim_bond();
				for v in majority {
					let paid = T::Stakes::slash_bond(&dispute.worker, reward.min(left), Some(v));
					left = left.saturating_sub(paid);
					slashed = slashed.saturating_add(paid);
					rewards.push((v.clone(), paid));
				}
				to_winner = T::Stakes::slash_bond(&dispute.worker, left, Some(&dispute.challenger));
				slashed = slashed.saturating_add(to_winner);
				Self::release_stake(dispute_id, dispute);
			},
			Some((Verdict::WorkerUpheld, majority)) => {
				let mut left = dispute.stake;
				for v in majority {
					let paid = Self::pay_from_stake(dispute_id, &dispute.challenger, v, reward.min(left));
					left = left.saturating_sub(reward.min(left));
					slashed = slashed.saturating_add(paid);
					rewards.push((v.clone(), paid));
				}
				to_winner = Self::pay_from_stake(dispute_id, &dispute.challenger, &dispute.worker, left);
				slashed = slashed.saturating_add(to_winner);
				// What could not be paid goes back to the challenger.
				let _ = T::Currency::release(
					&reason,
					&dispute.challenger,
					dispute.stake.saturating_sub(slashed),
					Precision::BestEffort,
				);
			},
			_ => Self::release_stake(dispute_id, dispute),
		}
		if verdict == Verdict::Inconclusive {
			// No verdict (nobody drawn, too few votes revealed, a tie): the result is not
			// judged and may be challenged again, or a drawn sybil of the worker could
			// shield it by staying silent for the price of its bond.
			T::Tasks::on_dispute_dropped(dispute.task_id, &dispute.worker);
		} else {
			T::Tasks::on_dispute_resolved(dispute.task_id, &dispute.worker, verdict);
		}
		Disputes::<T>::remove(dispute_id);
		Excluded::<T>::remove(dispute_id);
		DisputeIndex::<T>::remove(dispute.task_id, &dispute.worker);
		Self::deposit_event(Event::DisputeResolved {
			dispute_id,
			task_id: dispute.task_id,
			worker: dispute.worker.clone(),
			verdict,
			slashed,
			rewards,
			to_winner,
		});
	}

	fn release_stake(dispute_id: DisputeId, dispute: &DisputeOf<T>) {
		let released = T::Currency::release(
			&HoldReason::ChallengeStake.into(),
			&dispute.challenger,
			dispute.stake,
			Precision::BestEffort,
		)
		.unwrap_or_default();
		if released != dispute.stake {
			log::error!(target: "runtime::disputes", "dispute {dispute_id}: released {released:?} of the stake");
		}
	}

	/// Move `amount` of the challenger's held stake to `to`; returns what moved. A
	/// failed payment is reported (`PaymentFailed`) and stays with the challenger.
	fn pay_from_stake(
		dispute_id: DisputeId,
		challenger: &T::AccountId,
		to: &T::AccountId,
		amount: BalanceOf<T>,
	) -> BalanceOf<T> {
		if amount.is_zero() {
			return amount;
		}
		match T::Currency::transfer_on_hold(
			&HoldReason::ChallengeStake.into(),
			challenger,
			to,
			amount,
			Precision::Exact,
			Restriction::Free,
			Fortitude::Force,
		) {
			Ok(moved) => moved,
			Err(_) => {
				Self::deposit_event(Event::PaymentFailed {
					dispute_id,
					to: to.clone(),
					amount,
				});
				Zero::zero()
			},
		}
	}

	/// Verifier duties each account holds (what its verifier bonds back), for the
	/// runtime's cross-pallet check that bonds equal their obligations.
	pub fn open_duties() -> alloc::collections::btree_map::BTreeMap<T::AccountId, u32> {
		let mut duties = alloc::collections::btree_map::BTreeMap::new();
		for (_, dispute) in Disputes::<T>::iter() {
			for v in dispute.verifiers.iter() {
				*duties.entry(v.clone()).or_insert(0u32) += 1;
			}
		}
		duties
	}

	/// Invariants: the index and the draw queue match the disputes; challenge holds
	/// equal the stakes of open disputes (both ways); votes come from committed
	/// verifiers; the auditor counter matches the keys.
	///
	/// Always compiled (the linker drops it from the Wasm unless `try-runtime`
	/// calls it), so that runtime-level tests can check it too.
	pub fn do_try_state() -> Result<(), polkadot_sdk::sp_runtime::TryRuntimeError> {
		use alloc::collections::btree_map::BTreeMap;
		use polkadot_sdk::frame_support::traits::fungible::InspectHold;
		let mut stakes: BTreeMap<T::AccountId, BalanceOf<T>> = BTreeMap::new();
		let queued: Vec<(BlockNumberFor<T>, DisputeId)> = DrawQueue::<T>::iter()
			.flat_map(|(at, ids)| ids.into_iter().map(move |id| (at, id)))
			.collect();
		for (id, dispute) in Disputes::<T>::iter() {
			ensure!(
				DisputeIndex::<T>::get(dispute.task_id, &dispute.worker) == Some(id),
				"dispute missing from index"
			);
			match dispute.phase {
				DisputePhase::Drawing { draw_at } => {
					ensure!(
						queued.contains(&(draw_at, id)),
						"a dispute waiting for a draw that is not queued"
					);
					ensure!(dispute.verifiers.is_empty(), "verifiers before the draw");
				},
				DisputePhase::Voting { .. } => {
					ensure!(!dispute.verifiers.is_empty(), "a panel without verifiers");
				},
			}
			ensure!(
				dispute
					.votes
					.iter()
					.all(|(v, _)| dispute.commitments.iter().any(|(c, _)| c == v)),
				"a vote without a commitment"
			);
			ensure!(
				dispute.commitments.iter().all(|(c, _)| dispute.verifiers.contains(c)),
				"a commitment from a verifier not drawn"
			);
			let sum = stakes.entry(dispute.challenger.clone()).or_default();
			*sum = sum.saturating_add(dispute.stake);
		}
		ensure!(
			queued.iter().all(|(_, id)| Disputes::<T>::contains_key(id)),
			"a queued draw of a dispute that does not exist"
		);
		ensure!(
			DisputeIndex::<T>::iter().count() == Disputes::<T>::iter().count(),
			"stale dispute index entries"
		);
		ensure!(
			Auditors::<T>::count() as usize == Auditors::<T>::iter().count(),
			"auditor counter differs from the keys"
		);
		let reason = HoldReason::ChallengeStake.into();
		for (who, _) in frame_system::Account::<T>::iter() {
			ensure!(
				T::Currency::balance_on_hold(&reason, &who) == stakes.remove(&who).unwrap_or_default(),
				"held challenge stakes differ from open disputes"
			);
		}
		ensure!(stakes.is_empty(), "a challenger that does not exist");
		Ok(())
	}
}
