//! SCALE types of the tasks pallet.

use ccnet_primitives::Fuel;
use codec::{Decode, DecodeWithMemTracking, Encode, MaxEncodedLen};
use polkadot_sdk::{
	frame_support::{traits::Get, BoundedVec, CloneNoBound, DebugNoBound, EqNoBound, PartialEqNoBound},
	sp_core::H256,
};
use scale_info::TypeInfo;

/// Domain tag of result commitments (16 bytes):
/// `commitment = blake2b-256(SCALE(RESULT_COMMIT_DOMAIN, task_id u64, worker AccountId,
/// result_hash H256, fuel_used u64, salt [u8; 32]))`. Binding the worker stops one
/// claimant from submitting another's commitment as its own.
pub const RESULT_COMMIT_DOMAIN: [u8; 16] = *b"ccnet:rcommit:v1";

/// Counters of a worker's history; they feed requesters' quality scores.
///
/// `completed` alone is cheap to inflate (a worker can post 1-planck tasks to itself
/// from other accounts), so the record also keeps the value earned and the number of
/// distinct requesters that paid at least `MinReputableShare`: requesters weight
/// reputation by those (see `docs/` on quality scores).
#[derive(
	Clone, Copy, PartialEq, Eq, Debug, Default, Encode, Decode, DecodeWithMemTracking, TypeInfo, MaxEncodedLen,
)]
pub struct Reputation<Balance> {
	/// Results paid as (part of) the majority.
	pub completed: u32,
	/// Results outvoted, never revealed, lost disputes, or bad votes as a verifier.
	pub failed: u32,
	/// Results under dispute right now.
	pub disputed: u32,
	/// Disputes lost (each one slashed the claim bond).
	pub slashed: u32,
	/// Planck earned from paid results (bounty shares), saturating.
	pub value_earned: Balance,
	/// Distinct requesters that paid this worker a share of at least
	/// `MinReputableShare`.
	pub distinct_requesters: u32,
}

/// A registered worker.
#[derive(CloneNoBound, PartialEqNoBound, EqNoBound, DebugNoBound, Encode, Decode, TypeInfo, MaxEncodedLen)]
#[scale_info(skip_type_params(MaxCaps, MaxCapLen, MaxEndpointLen))]
pub struct WorkerInfo<Balance, BlockNumber, MaxCaps: Get<u32>, MaxCapLen: Get<u32>, MaxEndpointLen: Get<u32>>
where
	Balance: Clone + PartialEq + Eq + core::fmt::Debug,
	BlockNumber: Clone + PartialEq + Eq + core::fmt::Debug,
{
	/// Capabilities, e.g. `b"wasm:prime-count"` (opaque to the chain).
	pub capabilities: BoundedVec<BoundedVec<u8, MaxCapLen>, MaxCaps>,
	/// Signaling endpoint for WebRTC offers (e.g. `http://127.0.0.1:9100/offer`).
	pub endpoint: BoundedVec<u8, MaxEndpointLen>,
	/// Block of registration.
	pub registered_at: BlockNumber,
	/// History counters.
	pub reputation: Reputation<Balance>,
	/// Claims not yet paid, refunded or judged at fault; each bonds `ClaimBond`.
	pub active_claims: u32,
	/// Banned until this block (exclusive), after losing a dispute.
	pub banned_until: Option<BlockNumber>,
	/// Storage deposit held on the worker while it is registered, in planck.
	pub deposit: Balance,
}

/// Where a task is in its life cycle.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Encode, Decode, DecodeWithMemTracking, TypeInfo, MaxEncodedLen)]
pub enum TaskStatus {
	/// Taking claims, commitments, reveals and challenges; the bounty is held.
	Open,
	/// A strict majority of the revealed results agreed on `result_hash` and was paid.
	Completed {
		/// The majority result.
		result_hash: H256,
	},
	/// No result was revealed: the bounty went back to the requester.
	Expired,
	/// Results were revealed but no hash had a strict majority: the bounty went back
	/// to the requester (a claimant could have disputed the others first).
	NoMajority,
}

/// A task in the on-chain queue.
#[derive(CloneNoBound, PartialEqNoBound, EqNoBound, DebugNoBound, Encode, Decode, TypeInfo, MaxEncodedLen)]
#[scale_info(skip_type_params(MaxTypeLen, MaxRefLen, MaxSpecLen))]
pub struct TaskInfo<AccountId, Balance, BlockNumber, MaxTypeLen: Get<u32>, MaxRefLen: Get<u32>, MaxSpecLen: Get<u32>>
where
	AccountId: Clone + PartialEq + Eq + core::fmt::Debug,
	Balance: Clone + PartialEq + Eq + core::fmt::Debug,
	BlockNumber: Clone + PartialEq + Eq + core::fmt::Debug,
{
	/// Who posted it and holds the bounty.
	pub requester: AccountId,
	/// Task type, e.g. `b"prime-count"`.
	pub task_type: BoundedVec<u8, MaxTypeLen>,
	/// Where the input is: a hash, an Arweave transaction id or inline bytes.
	pub input_ref: BoundedVec<u8, MaxRefLen>,
	/// What the output must be (format, limits), opaque to the chain.
	pub output_spec: BoundedVec<u8, MaxSpecLen>,
	/// Held bounty in planck, split among the workers of the majority result.
	pub bounty: Balance,
	/// Last block at which claims and commitments are taken. Reveals follow until
	/// `deadline + RevealPeriod`, challenges until `+ ChallengeWindow` after that.
	pub deadline: BlockNumber,
	/// How many workers may claim it (redundant execution).
	pub redundancy: u8,
	/// Claims held now (a claim judged at fault is void and frees its slot).
	pub claims: u8,
	/// Claims with a commitment.
	pub commits: u8,
	/// Claims with a revealed result.
	pub reveals: u8,
	/// Disputes open over its results; while positive it cannot be paid.
	pub open_disputes: u8,
	/// Life-cycle status.
	pub status: TaskStatus,
	/// Storage deposit held on the requester until the record is reaped, in planck.
	pub deposit: Balance,
	/// Block at which the task was paid or refunded (reapable `TaskRetention` later).
	pub finished_at: Option<BlockNumber>,
	/// Set when a dispute over one of its results ended without a verdict (nobody
	/// drawn, too few votes revealed, a tie): challenges are taken again until this
	/// block, so a panel that a party can stall never shields a result.
	pub reopened_until: Option<BlockNumber>,
}

/// A worker's claim on a task: its commitment, then its revealed result.
#[derive(
	Clone, Copy, PartialEq, Eq, Debug, Default, Encode, Decode, DecodeWithMemTracking, TypeInfo, MaxEncodedLen,
)]
pub struct Assignment {
	/// The commitment to the result (see [`RESULT_COMMIT_DOMAIN`]).
	pub commitment: Option<H256>,
	/// blake2b-256 of the output and the fuel used, once revealed.
	pub result: Option<(H256, Fuel)>,
	/// Whether a dispute over this result is open.
	pub disputed: bool,
	/// Whether a dispute over this result ended with a verdict: it is never disputed
	/// again.
	pub judged: bool,
}
