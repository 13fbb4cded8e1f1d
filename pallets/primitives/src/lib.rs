//! # Compute Currency primitives
//!
//! Types and traits shared by the ccnet pallets, so that each pallet depends on a
//! narrow interface of the others instead of on their `Config` (which keeps the
//! mock runtimes small).
//!
//! - [`StakeProvider`]: stakes held by `pallet-credits`, and slashing them.
//! - [`WorkerRegistry`]: the worker registry of `pallet-tasks`, for verifier selection.
//! - [`TaskResults`]: submitted results of `pallet-tasks`, for disputes.
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

/// Access to the stakes that back workers, challengers and verifiers.
pub trait StakeProvider<AccountId, Balance> {
	/// Stake of `who` that can be slashed, in planck (active plus unbonding).
	fn staked(who: &AccountId) -> Balance;
	/// Hold `amount` planck more of `who`'s free balance as active stake, as the
	/// `stake` dispatchable does for the caller.
	fn stake(who: &AccountId, amount: Balance) -> DispatchResult;
	/// Slash up to `amount` planck of `who`'s stake. The slashed funds go to
	/// `beneficiary`, or are burnt (reducing total issuance) when it is `None`.
	/// Returns the amount actually slashed, which is less than `amount` when the
	/// stake is smaller.
	fn slash(who: &AccountId, amount: Balance, beneficiary: Option<&AccountId>) -> Balance;
}

/// The worker registry, as seen by the dispute court.
pub trait WorkerRegistry<AccountId> {
	/// Whether `who` is registered, not banned and staked at least the minimum.
	fn is_eligible(who: &AccountId) -> bool;
	/// All eligible workers, in registration order (bounded by the registry).
	fn eligible_workers() -> Vec<AccountId>;
	/// A selected verifier did not vote before its dispute resolved: count it against
	/// its reputation (it stays eligible; repeated misses lower its quality score).
	fn note_missed_vote(who: &AccountId);
}

/// A result that a worker submitted for a task.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode, DecodeWithMemTracking, TypeInfo, MaxEncodedLen)]
pub struct SubmittedResult<AccountId> {
	/// Who posted the task.
	pub requester: AccountId,
	/// blake2b-256 of the worker's output.
	pub result_hash: H256,
	/// Fuel the worker reported using.
	pub fuel_used: Fuel,
}

/// How a dispute over a task result ended.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Encode, Decode, DecodeWithMemTracking, TypeInfo, MaxEncodedLen)]
pub enum Verdict {
	/// The majority of verifiers disagreed with the worker's result: the worker cheated.
	WorkerAtFault,
	/// The majority agreed with the worker: the accusation was false.
	WorkerUpheld,
	/// No verifier voted, or the vote tied: nobody is punished.
	Inconclusive,
}

/// Submitted task results, as seen by the dispute court.
pub trait TaskResults<AccountId> {
	/// The result `worker` submitted for `task`, if any.
	fn result_of(task: TaskId, worker: &AccountId) -> Option<SubmittedResult<AccountId>>;
	/// A dispute was opened: freeze the result (the task cannot be accepted or expire).
	fn on_dispute_opened(task: TaskId, worker: &AccountId) -> DispatchResult;
	/// The dispute ended: update reputation, ban a cheater, unfreeze the task.
	fn on_dispute_resolved(task: TaskId, worker: &AccountId, verdict: Verdict);
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
