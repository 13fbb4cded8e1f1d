//! SCALE types of the credits pallet.

use codec::{Decode, DecodeWithMemTracking, Encode, MaxEncodedLen};
use polkadot_sdk::{
	frame_support::{traits::Get, BoundedVec, CloneNoBound, DebugNoBound, PartialEqNoBound},
	sp_runtime::traits::{CheckedAdd, Zero},
};
use scale_info::TypeInfo;

/// A part of a stake that is leaving: still held (and slashable) until `unlock_at`.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Encode, Decode, DecodeWithMemTracking, TypeInfo, MaxEncodedLen)]
pub struct UnbondingChunk<Balance, BlockNumber> {
	/// Amount in planck.
	pub amount: Balance,
	/// First block at which `withdraw_unbonded` releases it.
	pub unlock_at: BlockNumber,
}

/// The stake of one account. Everything in it (active and unbonding) is held under
/// `HoldReason::Stake`; `bonded` is the part of `active` that backs open obligations.
#[derive(CloneNoBound, PartialEqNoBound, DebugNoBound, Encode, Decode, TypeInfo, MaxEncodedLen)]
#[scale_info(skip_type_params(MaxChunks))]
pub struct StakeLedger<Balance, BlockNumber, MaxChunks: Get<u32>>
where
	Balance: Clone + PartialEq + core::fmt::Debug,
	BlockNumber: Clone + PartialEq + core::fmt::Debug,
{
	/// Stake that backs the account right now, in planck.
	pub active: Balance,
	/// Part of `active` bonded to open claims and verifier duties, in planck; it
	/// cannot start unbonding, and slashes take it.
	pub bonded: Balance,
	/// Stake on its way out, oldest first.
	pub unbonding: BoundedVec<UnbondingChunk<Balance, BlockNumber>, MaxChunks>,
}

impl<Balance, BlockNumber, MaxChunks> Default for StakeLedger<Balance, BlockNumber, MaxChunks>
where
	Balance: Clone + PartialEq + core::fmt::Debug + Zero,
	BlockNumber: Clone + PartialEq + core::fmt::Debug,
	MaxChunks: Get<u32>,
{
	fn default() -> Self {
		Self {
			active: Zero::zero(),
			bonded: Zero::zero(),
			unbonding: BoundedVec::default(),
		}
	}
}

impl<Balance, BlockNumber, MaxChunks> StakeLedger<Balance, BlockNumber, MaxChunks>
where
	Balance: Clone + PartialEq + core::fmt::Debug + Zero + CheckedAdd + Copy,
	BlockNumber: Clone + PartialEq + core::fmt::Debug,
	MaxChunks: Get<u32>,
{
	/// Active plus unbonding, or `None` on overflow.
	pub fn total(&self) -> Option<Balance> {
		self.unbonding
			.iter()
			.try_fold(self.active, |acc, c| acc.checked_add(&c.amount))
	}

	/// Whether nothing is staked or unbonding.
	pub fn is_empty(&self) -> bool {
		self.active.is_zero() && self.unbonding.is_empty()
	}
}

/// An acknowledged debt and the storage deposit its record holds on the debtor.
#[derive(
	Clone, Copy, PartialEq, Eq, Debug, Default, Encode, Decode, DecodeWithMemTracking, TypeInfo, MaxEncodedLen,
)]
pub struct Debt<Balance> {
	/// What is owed, in planck.
	pub amount: Balance,
	/// Storage deposit held on the debtor while the record exists, in planck.
	pub deposit: Balance,
}
