//! SCALE types of the disputes pallet.

use ccnet_primitives::TaskId;
use codec::{Decode, DecodeWithMemTracking, Encode, MaxEncodedLen};
use polkadot_sdk::{
	frame_support::{traits::Get, BoundedVec, CloneNoBound, DebugNoBound, EqNoBound, PartialEqNoBound},
	sp_core::H256,
};
use scale_info::TypeInfo;

/// Domain tag of vote commitments (16 bytes):
/// `blake2b-256(SCALE(VOTE_COMMIT_DOMAIN, dispute_id u64, verifier AccountId,
/// result_hash H256, salt [u8; 32]))`.
pub const VOTE_COMMIT_DOMAIN: [u8; 16] = *b"ccnet:vcommit:v1";
/// Domain tag of a challenger's commitment to the result it expects (16 bytes):
/// `blake2b-256(SCALE(EXPECTED_DOMAIN, task_id u64, worker AccountId,
/// expected_hash H256, salt [u8; 32]))`.
pub const EXPECTED_DOMAIN: [u8; 16] = *b"ccnet:expectd:v1";
/// Domain tag of auditor keys (16 bytes): Root registers
/// `blake2b-256(SCALE(AUDITOR_DOMAIN, account AccountId, salt [u8; 32]))`, so that
/// nobody can tell which challengers are auditors until one reveals its salt.
pub const AUDITOR_DOMAIN: [u8; 16] = *b"ccnet:auditor:v1";

/// Where a dispute is.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Encode, Decode, DecodeWithMemTracking, TypeInfo, MaxEncodedLen)]
pub enum DisputePhase<BlockNumber> {
	/// Verifiers will be drawn at the start of block `draw_at`, from randomness that
	/// did not exist when the challenge was made.
	Drawing {
		/// The block whose `on_initialize` draws the verifiers.
		draw_at: BlockNumber,
	},
	/// Verifiers commit to their own result hash until `commit_ends`, then reveal it
	/// until `reveal_ends` (both inclusive).
	Voting {
		/// Last block of the commit phase.
		commit_ends: BlockNumber,
		/// Last block of the reveal phase.
		reveal_ends: BlockNumber,
	},
}

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
	/// The result hash the worker revealed.
	pub claimed_hash: H256,
	/// The challenger's commitment to the result it expects, if it made one.
	pub expected: Option<H256>,
	/// The expected result, once the challenger revealed it.
	pub expected_hash: Option<H256>,
	/// Whether the challenger proved to be a registered auditor: its expected result
	/// is then the answer (a forced error: the chain knows it).
	pub audit: bool,
	/// Where the dispute is.
	pub phase: DisputePhase<BlockNumber>,
	/// Verifiers drawn; each bonded `VerifierBond` of its stake.
	pub verifiers: BoundedVec<AccountId, MaxVerifiers>,
	/// Vote commitments received so far.
	pub commitments: BoundedVec<(AccountId, H256), MaxVerifiers>,
	/// Votes revealed so far: each verifier's own result hash.
	pub votes: BoundedVec<(AccountId, H256), MaxVerifiers>,
}
