//! SCALE types of the tasks pallet.

use ccnet_primitives::Fuel;
use codec::{Decode, DecodeWithMemTracking, Encode, MaxEncodedLen};
use polkadot_sdk::{
	frame_support::{traits::Get, BoundedVec, CloneNoBound, DebugNoBound, EqNoBound, PartialEqNoBound},
	sp_core::H256,
};
use scale_info::TypeInfo;

/// Counters of a worker's history; they feed requesters' quality scores.
#[derive(
	Clone, Copy, PartialEq, Eq, Debug, Default, Encode, Decode, DecodeWithMemTracking, TypeInfo, MaxEncodedLen,
)]
pub struct Reputation {
	/// Results accepted by requesters.
	pub completed: u32,
	/// Claims not delivered before the deadline, results rejected, lost disputes, or
	/// dispute votes missed as a selected verifier.
	pub failed: u32,
	/// Results under dispute right now.
	pub disputed: u32,
	/// Disputes lost (each one slashed the stake).
	pub slashed: u32,
}

/// A registered worker.
#[derive(CloneNoBound, PartialEqNoBound, EqNoBound, DebugNoBound, Encode, Decode, TypeInfo, MaxEncodedLen)]
#[scale_info(skip_type_params(MaxCaps, MaxCapLen, MaxEndpointLen))]
pub struct WorkerInfo<BlockNumber, MaxCaps: Get<u32>, MaxCapLen: Get<u32>, MaxEndpointLen: Get<u32>>
where
	BlockNumber: Clone + PartialEq + Eq + core::fmt::Debug,
{
	/// Capabilities, e.g. `b"wasm:prime-count"` (opaque to the chain).
	pub capabilities: BoundedVec<BoundedVec<u8, MaxCapLen>, MaxCaps>,
	/// Signaling endpoint for WebRTC offers (e.g. `http://127.0.0.1:9100/offer`).
	pub endpoint: BoundedVec<u8, MaxEndpointLen>,
	/// Block of registration.
	pub registered_at: BlockNumber,
	/// History counters.
	pub reputation: Reputation,
	/// Claims not yet accepted, expired or resolved.
	pub active_claims: u32,
	/// Banned until this block (exclusive), after losing a dispute.
	pub banned_until: Option<BlockNumber>,
}

/// Where a task is in its life cycle.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Encode, Decode, DecodeWithMemTracking, TypeInfo, MaxEncodedLen)]
pub enum TaskStatus {
	/// Accepting claims and results; the bounty is held.
	Open,
	/// The requester accepted `result_hash`; the bounty was paid.
	Completed {
		/// The accepted result.
		result_hash: H256,
	},
	/// The deadline passed without acceptance; the bounty was refunded.
	Expired,
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
	/// Held bounty in planck, split among the workers of the accepted result.
	pub bounty: Balance,
	/// Last block at which claims and results are taken.
	pub deadline: BlockNumber,
	/// How many workers may claim it (redundant execution).
	pub redundancy: u8,
	/// Claims so far.
	pub claims: u8,
	/// Disputes open over its results; while positive it can neither be accepted
	/// with a disputed result nor expire.
	pub open_disputes: u8,
	/// Life-cycle status.
	pub status: TaskStatus,
}

/// A worker's claim on a task, and its result once submitted.
#[derive(
	Clone, Copy, PartialEq, Eq, Debug, Default, Encode, Decode, DecodeWithMemTracking, TypeInfo, MaxEncodedLen,
)]
pub struct Assignment {
	/// blake2b-256 of the output, and fuel used.
	pub result: Option<(H256, Fuel)>,
	/// Whether a dispute over this result is open.
	pub disputed: bool,
}
