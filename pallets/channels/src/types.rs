//! SCALE types of the channels pallet, including what parties sign off chain.

use codec::{Decode, DecodeWithMemTracking, Encode, MaxEncodedLen};
use polkadot_sdk::sp_core::H256;
use scale_info::TypeInfo;

/// A channel id: blake2b-256 of `SCALE(CHANNEL_ID_DOMAIN, party_a, party_b, nonce, parent_hash)`,
/// where `parent_hash` is the hash of the block before the one that opened it, so that
/// two chains started from the same genesis never share ids (nor the states signed for
/// them).
pub type ChannelId = H256;

/// Domain tag that starts every signed channel state (16 bytes, no length prefix).
pub const STATE_DOMAIN: [u8; 16] = *b"ccnet:channel:v1";
/// Domain tag of a state that both parties agreed to close the channel with. Only
/// a state signed under this tag closes cooperatively (at once): an ordinary update
/// signature cannot, so an old update can only be used in a unilateral close, where
/// a newer state refutes it.
pub const CLOSE_DOMAIN: [u8; 16] = *b"ccnet:chclose:v1";
/// Domain tag of channel id derivation (v2: the id includes the parent block hash).
pub const CHANNEL_ID_DOMAIN: [u8; 16] = *b"ccnet:chan-id:v2";

/// One side of a channel.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Encode, Decode, DecodeWithMemTracking, TypeInfo, MaxEncodedLen)]
pub enum Party {
	/// The opener.
	A,
	/// The counterparty.
	B,
}

/// A balance state of a channel, as exchanged off chain and passed to the
/// closing dispatchables. `balance_a + balance_b` must equal the channel's total
/// deposit; a higher `version` supersedes a lower one.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Encode, Decode, DecodeWithMemTracking, TypeInfo, MaxEncodedLen)]
pub struct ChannelState<Balance> {
	/// Monotonic version; 0 is the opening state (the deposits).
	pub version: u64,
	/// What party A gets on close, in planck.
	pub balance_a: Balance,
	/// What party B gets on close, in planck.
	pub balance_b: Balance,
}

/// The bytes both parties sign with sr25519: the SCALE encoding of this struct
/// (`domain` is a fixed 16-byte array, so it has no length prefix). The genesis
/// hash and the channel id make a signature useless on another chain or channel;
/// the domain tells an update ([`STATE_DOMAIN`]) from an agreed close
/// ([`CLOSE_DOMAIN`]).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Encode, Decode, TypeInfo, MaxEncodedLen)]
pub struct SignedPayload<Hash, Balance> {
	/// [`STATE_DOMAIN`] or [`CLOSE_DOMAIN`].
	pub domain: [u8; 16],
	/// Hash of block 0 of the chain.
	pub genesis_hash: Hash,
	/// The channel.
	pub channel_id: ChannelId,
	/// State version.
	pub version: u64,
	/// Party A's balance, in planck.
	pub balance_a: Balance,
	/// Party B's balance, in planck.
	pub balance_b: Balance,
}

impl<Hash, Balance: Copy> SignedPayload<Hash, Balance> {
	/// The payload of update `state` on `channel_id` of the chain with `genesis_hash`.
	pub fn new(genesis_hash: Hash, channel_id: ChannelId, state: &ChannelState<Balance>) -> Self {
		Self::with_domain(STATE_DOMAIN, genesis_hash, channel_id, state)
	}

	/// The payload that agrees to close `channel_id` with `state`.
	pub fn closing(genesis_hash: Hash, channel_id: ChannelId, state: &ChannelState<Balance>) -> Self {
		Self::with_domain(CLOSE_DOMAIN, genesis_hash, channel_id, state)
	}

	fn with_domain(domain: [u8; 16], genesis_hash: Hash, channel_id: ChannelId, state: &ChannelState<Balance>) -> Self {
		Self {
			domain,
			genesis_hash,
			channel_id,
			version: state.version,
			balance_a: state.balance_a,
			balance_b: state.balance_b,
		}
	}
}

/// Where a channel is in its life cycle (a closed channel is removed).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Encode, Decode, DecodeWithMemTracking, TypeInfo, MaxEncodedLen)]
pub enum Phase<Balance, BlockNumber> {
	/// Opened by A; waiting for B's deposit.
	Opening,
	/// Both deposits held: off-chain updates are safe.
	Funded,
	/// A unilateral close registered `state`; until `challenge_ends` (inclusive)
	/// anyone may replace it with a co-signed state of a higher version.
	Closing {
		/// The registered state: the newest co-signed one submitted so far.
		state: ChannelState<Balance>,
		/// Who started the close.
		closer: Party,
		/// Last block of the challenge period (fixed when the close started).
		challenge_ends: BlockNumber,
	},
}

/// A payment channel between two accounts.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode, TypeInfo, MaxEncodedLen)]
pub struct Channel<AccountId, Balance, BlockNumber> {
	/// The opener.
	pub party_a: AccountId,
	/// The counterparty.
	pub party_b: AccountId,
	/// A's deposit, held on A, in planck.
	pub deposit_a: Balance,
	/// B's deposit, held on B once funded, in planck.
	pub deposit_b: Balance,
	/// Life-cycle phase.
	pub phase: Phase<Balance, BlockNumber>,
	/// Blocks a unilateral close waits for newer states, fixed at open.
	pub challenge_period: BlockNumber,
	/// Storage deposit held on A while the record exists, in planck.
	pub record_deposit: Balance,
}
