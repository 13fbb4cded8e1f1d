//! SCALE types of the disputes pallet.

use ccnet_primitives::TaskId;
use codec::{Decode, Encode, MaxEncodedLen};
use polkadot_sdk::{
	frame_support::{traits::Get, BoundedVec, CloneNoBound, DebugNoBound, EqNoBound, PartialEqNoBound},
	sp_core::H256,
};
use scale_info::TypeInfo;

/// A dispute over one worker's result for one task.
#[derive(CloneNoBound, PartialEqNoBound, EqNoBound, DebugNoBound, Encode, Decode, TypeInfo, MaxEncodedLen)]
#[scale_info(skip_type_params(MaxVerifiers))]
pub struct Dispute<AccountId, Balance, BlockNumber, MaxVerifiers: Get<u32>>
where
	AccountId: Clone + PartialEq + Eq + core::fmt::Debug,
	Balance: Clone + PartialEq + Eq + core::fmt::Debug,
	BlockNumber: Clone + PartialEq + Eq + core::fmt::Debug,
{
	/// The task whose result is disputed.
	pub task_id: TaskId,
	/// The accused worker.
	pub worker: AccountId,
	/// Who opened the dispute and holds `stake`.
	pub challenger: AccountId,
	/// The stake held on the challenger, in planck.
	pub stake: Balance,
	/// The result hash the worker submitted.
	pub claimed_hash: H256,
	/// Verifiers selected to re-execute the task.
	pub verifiers: BoundedVec<AccountId, MaxVerifiers>,
	/// Votes cast so far: each verifier's own result hash.
	pub votes: BoundedVec<(AccountId, H256), MaxVerifiers>,
	/// Last block of the voting period.
	pub voting_ends: BlockNumber,
}
