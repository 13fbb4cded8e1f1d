//! # Compute Currency primitives
//!
//! Types and traits shared by the ccnet pallets, so that each pallet depends on a
//! narrow interface of the others instead of on their `Config` (which keeps the
//! mock runtimes small).
//!
//! - [`StakeProvider`]: stakes held by `pallet-credits`: bonds and slashes.
//! - [`WorkerRegistry`]: the worker registry of `pallet-tasks`, for verifier draws.
//! - [`TaskResults`]: revealed results of `pallet-tasks`, for disputes.
//! - [`ContributionTracker`]: compute contributed, for the reward multiplier.

#![cfg_attr(not(feature = "std"), no_std)]

extern crate alloc;

use alloc::vec::Vec;
use codec::{Decode, DecodeWithMemTracking, Encode, MaxEncodedLen};
use polkadot_sdk::{
	sp_core::H256,
	sp_runtime::{DispatchError, DispatchResult},
};
use scale_info::TypeInfo;

/// Identifier of a task in the on-chain queue (sequential, starting at 0).
pub type TaskId = u64;
/// Identifier of a dispute (sequential, starting at 0).
pub type DisputeId = u64;
/// Units of wasmtime fuel (roughly one Wasm instruction each).
pub type Fuel = u64;

/// Access to the stakes that back workers and verifiers.
///
/// A stake has three parts (planck): *active* stake, the part of it *bonded* to open
/// obligations (claims, verifier duties), and *unbonding* chunks on their way out.
/// Only active stake counts for eligibility, and bonded stake can neither start
/// unbonding nor be withdrawn, so a worker cannot leave before the claims it backs
/// are settled. Slashes take bonded stake: what an obligation can lose is bonded
/// before the obligation exists.
pub trait StakeProvider<AccountId, Balance> {
	/// Active stake of `who` (bonded or not; unbonding chunks do not count).
	fn active(who: &AccountId) -> Balance;
	/// Active stake of `who` not bonded to any obligation.
	fn free_stake(who: &AccountId) -> Balance;
	/// Hold `amount` planck more of `who`'s free balance as active stake, as the
	/// `stake` dispatchable does for the caller.
	fn stake(who: &AccountId, amount: Balance) -> DispatchResult;
	/// Bond `amount` of `who`'s free stake to an obligation; fails (nothing bonded)
	/// when the free stake is smaller.
	fn bond(who: &AccountId, amount: Balance) -> DispatchResult;
	/// Release up to `amount` of `who`'s bonded stake (the obligation ended).
	fn release_bond(who: &AccountId, amount: Balance);
	/// Slash up to `amount` of `who`'s bonded stake; the bond shrinks with it. The
	/// funds go to `beneficiary`, or are burnt (reducing total issuance) when it is
	/// `None` or cannot receive them. Returns the amount actually slashed.
	fn slash_bond(who: &AccountId, amount: Balance, beneficiary: Option<&AccountId>) -> Balance;
}

/// The worker registry, as seen by the dispute court.
pub trait WorkerRegistry<AccountId> {
	/// Registered, not banned workers, in registration order (bounded by the
	/// registry). The court still checks their free stake before drawing them.
	fn candidates() -> Vec<AccountId>;
	/// How many workers are registered (one storage read).
	fn count() -> u32;
	/// A drawn verifier did not reveal a vote, or voted against the outcome: count
	/// it against its reputation.
	fn note_bad_vote(who: &AccountId);
}

/// A revealed result that may be disputed.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct DisputableResult<AccountId> {
	/// Who posted the task.
	pub requester: AccountId,
	/// blake2b-256 of the worker's output.
	pub result_hash: H256,
	/// Fuel the worker reported using.
	pub fuel_used: Fuel,
	/// Every worker holding a claim on the task (the accused included).
	pub claimants: Vec<AccountId>,
}

/// How a dispute over a task result ended.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Encode, Decode, DecodeWithMemTracking, TypeInfo, MaxEncodedLen)]
pub enum Verdict {
	/// The worker's result was found wrong: the worker cheated.
	WorkerAtFault,
	/// The worker's result was found right: the accusation was false.
	WorkerUpheld,
	/// Too few votes, or a tie: nobody is punished for the result.
	Inconclusive,
}

/// Task results, as seen by the dispute court.
pub trait TaskResults<AccountId, Balance> {
	/// `worker`'s revealed result for `task`, if it may be challenged now: the task is
	/// open, the challenge window has not closed, and the result is neither under
	/// dispute nor judged already.
	fn disputable(task: TaskId, worker: &AccountId) -> Option<DisputableResult<AccountId>>;
	/// The stake bonded by each claim, in planck: what a worker at fault loses.
	fn claim_bond() -> Balance;
	/// A dispute was opened: freeze the result (the task cannot be paid meanwhile).
	fn on_dispute_opened(task: TaskId, worker: &AccountId) -> DispatchResult;
	/// The dispute ended: the result is judged (never disputed again), reputation is
	/// updated, a worker at fault loses its claim (the court slashed its bond
	/// already) and is banned.
	fn on_dispute_resolved(task: TaskId, worker: &AccountId, verdict: Verdict);
	/// The dispute ended before a panel sat (too few verifiers): unfreeze the result
	/// without judging it, so that it can still be challenged.
	fn on_dispute_dropped(task: TaskId, worker: &AccountId);
}

/// Records compute contributed to the network (drives the reward multiplier).
pub trait ContributionTracker {
	/// `fuel` units of verified work were delivered.
	fn note_contribution(fuel: Fuel);
}

impl ContributionTracker for () {
	fn note_contribution(_fuel: Fuel) {}
}

/// Error used by trait implementations that are not wired in a runtime.
pub const NOT_SUPPORTED: DispatchError = DispatchError::Other("not supported");
