//! # Channels pallet
//!
//! Two-party payment channels for Compute Currency: the chain holds the
//! deposits and judges closes; every payment in between is an off-chain,
//! co-signed balance state.
//!
//! ## Overview
//!
//! - `open` holds the opener's (A's) deposit. If the counterparty (B) is asked
//!   for a deposit too, B completes funding with `fund`; otherwise the channel is
//!   funded at once, so a requester-to-worker channel costs two extrinsics in all
//!   (`open` and `cooperative_close`), however many tasks it pays for.
//! - Parties exchange [`ChannelState`]s `(version, balance_a, balance_b)` off
//!   chain. Each party signs, with sr25519 and the key of its account, the SCALE
//!   encoding of [`SignedPayload`]: `(STATE_DOMAIN, genesis hash, channel id,
//!   version, balance_a, balance_b)`. The genesis hash and channel id stop
//!   replays on other chains and channels; ids are never reused.
//! - `cooperative_close` pays out, at once, a state both parties signed under the
//!   closing domain tag ([`CLOSE_DOMAIN`]) instead of the update tag. Update
//!   signatures alone cannot close at once: otherwise an old update that favoured
//!   one party would close the channel with no chance of a fraud proof.
//! - `close_unilateral` registers a co-signed state (or the opening state,
//!   version 0, which needs no signatures) and starts the challenge period of
//!   [`Config::ChallengePeriod`] blocks.
//! - `challenge` is the fraud proof: a co-signed state with a higher version,
//!   submitted by anyone (the other party or its watchtower) within the period.
//!   The closer is the cheater: the honest party receives the whole deposit of
//!   the channel, the cheater nothing (seed 003, "Security: Fraud proofs").
//! - `settle` pays out the registered state once the period is over.
//! - Disputes on channels that are not funded are rejected (an open problem of
//!   Perun's pallet).
//!
//! Signatures are checked against the account ids, which must SCALE-encode as
//! 32-byte sr25519 public keys (as `AccountId32` does).
//!
//! ## Interface
//!
//! ### Dispatchable Functions
//!
//! - `open`, `fund`, `cancel_open`
//! - `cooperative_close`, `close_unilateral`, `challenge`, `settle`

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

use codec::Encode;
use polkadot_sdk::{
	frame_support::{
		pallet_prelude::*,
		traits::{
			fungible::{Inspect, Mutate, MutateHold},
			tokens::{Fortitude, Precision, Restriction},
		},
	},
	frame_system,
	frame_system::pallet_prelude::*,
	sp_core::sr25519,
	sp_runtime::traits::{CheckedAdd, Saturating, Zero},
};

/// Balance type of the configured currency.
pub type BalanceOf<T> = <<T as Config>::Currency as Inspect<<T as frame_system::Config>::AccountId>>::Balance;
/// Channel record of a runtime.
pub type ChannelOf<T> = Channel<<T as frame_system::Config>::AccountId, BalanceOf<T>, BlockNumberFor<T>>;
/// Channel state of a runtime.
pub type StateOf<T> = ChannelState<BalanceOf<T>>;

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
		/// A party's deposit in a channel.
		#[codec(index = 0)]
		ChannelDeposit,
	}

	#[pallet::config]
	pub trait Config: polkadot_sdk::frame_system::Config {
		/// The native currency (CC), with holds.
		type Currency: Mutate<Self::AccountId> + MutateHold<Self::AccountId, Reason = Self::RuntimeHoldReason>;
		/// The overarching hold reason.
		type RuntimeHoldReason: From<HoldReason>;
		/// Length of the challenge period after a unilateral close, in blocks.
		#[pallet::constant]
		type ChallengePeriod: Get<BlockNumberFor<Self>>;
		/// Weights of the dispatchables.
		type WeightInfo: WeightInfo;
	}

	/// Open channels by id (closed channels are removed).
	#[pallet::storage]
	pub type Channels<T: Config> = StorageMap<_, Identity, ChannelId, ChannelOf<T>, OptionQuery>;

	/// Nonce of the next channel id; ids are never reused.
	#[pallet::storage]
	pub type NextChannelNonce<T: Config> = StorageValue<_, u64, ValueQuery>;

	#[pallet::event]
	#[pallet::generate_deposit(pub(super) fn deposit_event)]
	pub enum Event<T: Config> {
		/// A opened a channel to B and deposited `deposit_a`; B is to deposit `deposit_b`.
		ChannelOpened {
			channel_id: ChannelId,
			party_a: T::AccountId,
			party_b: T::AccountId,
			deposit_a: BalanceOf<T>,
			deposit_b: BalanceOf<T>,
		},
		/// Both deposits are held: the channel is open for off-chain updates.
		ChannelFunded { channel_id: ChannelId },
		/// A channel that was never funded was cancelled and A's deposit released.
		ChannelCancelled { channel_id: ChannelId },
		/// A unilateral close registered `version`; challenges are taken until `challenge_ends`.
		ChannelClosing {
			channel_id: ChannelId,
			closer: T::AccountId,
			version: u64,
			challenge_ends: BlockNumberFor<T>,
		},
		/// A newer state proved that `cheater` closed with a stale one; `honest` got
		/// the whole deposit, `penalty` of it taken from the cheater's share.
		FraudProven {
			channel_id: ChannelId,
			cheater: T::AccountId,
			honest: T::AccountId,
			version: u64,
			penalty: BalanceOf<T>,
		},
		/// The channel closed and paid out (cooperatively, or by `settle`).
		ChannelClosed {
			channel_id: ChannelId,
			version: u64,
			balance_a: BalanceOf<T>,
			balance_b: BalanceOf<T>,
		},
	}

	#[pallet::error]
	pub enum Error<T> {
		/// A channel needs a positive total deposit.
		ZeroDeposit,
		/// A channel needs two different accounts.
		SelfChannel,
		/// The free balance cannot cover the deposit.
		InsufficientBalance,
		/// No open channel has this id.
		UnknownChannel,
		/// The caller is not the party this action needs.
		NotParty,
		/// The channel is not waiting for funding.
		NotOpening,
		/// The channel is not funded (disputes need a funded channel).
		NotFunded,
		/// The channel is not in its challenge period.
		NotClosing,
		/// The balances of the state do not add up to the channel's deposit.
		BalanceMismatch,
		/// Party A's signature does not verify.
		BadSignatureA,
		/// Party B's signature does not verify.
		BadSignatureB,
		/// Only the opening state (version 0, the deposits) may go unsigned.
		MissingSignature,
		/// The challenge must carry a higher version than the registered state.
		NotNewer,
		/// The challenge period is over.
		ChallengePeriodOver,
		/// The challenge period is not over yet.
		ChallengePeriodNotOver,
		/// A counter or sum overflowed.
		Overflow,
		/// Paying out failed (e.g. a payee would be left below the existential deposit).
		PayoutFailed,
	}

	#[pallet::hooks]
	impl<T: Config> Hooks<BlockNumberFor<T>> for Pallet<T> {
		#[cfg(feature = "try-runtime")]
		fn try_state(_n: BlockNumberFor<T>) -> Result<(), polkadot_sdk::sp_runtime::TryRuntimeError> {
			Self::do_try_state()
		}
	}

	#[pallet::call]
	impl<T: Config> Pallet<T> {
		/// Open a channel to `counterparty`, holding `deposit` planck of the caller.
		/// With `counterparty_deposit` zero the channel is funded at once;
		/// otherwise it waits for the counterparty's `fund`.
		///
		/// Origin: signed (party A). Emits `ChannelOpened`, and `ChannelFunded` when
		/// no counterparty deposit is asked.
		///
		/// ## Complexity
		/// O(1).
		#[pallet::call_index(0)]
		#[pallet::weight(T::WeightInfo::open())]
		pub fn open(
			origin: OriginFor<T>,
			counterparty: T::AccountId,
			#[pallet::compact] deposit: BalanceOf<T>,
			#[pallet::compact] counterparty_deposit: BalanceOf<T>,
		) -> DispatchResult {
			let party_a = ensure_signed(origin)?;
			ensure!(party_a != counterparty, Error::<T>::SelfChannel);
			let total = deposit.checked_add(&counterparty_deposit).ok_or(Error::<T>::Overflow)?;
			ensure!(!total.is_zero(), Error::<T>::ZeroDeposit);
			let nonce = NextChannelNonce::<T>::get();
			let next = nonce.checked_add(1).ok_or(Error::<T>::Overflow)?;
			let channel_id = Self::channel_id(&party_a, &counterparty, nonce);
			T::Currency::hold(&HoldReason::ChannelDeposit.into(), &party_a, deposit)
				.map_err(|_| Error::<T>::InsufficientBalance)?;
			let funded = counterparty_deposit.is_zero();
			let channel = Channel {
				party_a: party_a.clone(),
				party_b: counterparty.clone(),
				deposit_a: deposit,
				deposit_b: counterparty_deposit,
				phase: if funded { Phase::Funded } else { Phase::Opening },
			};
			Channels::<T>::insert(channel_id, channel);
			NextChannelNonce::<T>::put(next);
			Self::deposit_event(Event::ChannelOpened {
				channel_id,
				party_a,
				party_b: counterparty,
				deposit_a: deposit,
				deposit_b: counterparty_deposit,
			});
			if funded {
				Self::deposit_event(Event::ChannelFunded { channel_id });
			}
			Ok(())
		}

		/// Hold the counterparty's deposit and mark the channel funded.
		///
		/// Origin: signed (party B). Emits `ChannelFunded`.
		///
		/// ## Complexity
		/// O(1).
		#[pallet::call_index(1)]
		#[pallet::weight(T::WeightInfo::fund())]
		pub fn fund(origin: OriginFor<T>, channel_id: ChannelId) -> DispatchResult {
			let who = ensure_signed(origin)?;
			let mut channel = Channels::<T>::get(channel_id).ok_or(Error::<T>::UnknownChannel)?;
			ensure!(channel.party_b == who, Error::<T>::NotParty);
			ensure!(channel.phase == Phase::Opening, Error::<T>::NotOpening);
			T::Currency::hold(&HoldReason::ChannelDeposit.into(), &who, channel.deposit_b)
				.map_err(|_| Error::<T>::InsufficientBalance)?;
			channel.phase = Phase::Funded;
			Channels::<T>::insert(channel_id, channel);
			Self::deposit_event(Event::ChannelFunded { channel_id });
			Ok(())
		}

		/// Cancel a channel that the counterparty never funded; A's deposit is released.
		///
		/// Origin: signed (either party). Emits `ChannelCancelled`.
		///
		/// ## Complexity
		/// O(1).
		#[pallet::call_index(2)]
		#[pallet::weight(T::WeightInfo::cancel_open())]
		pub fn cancel_open(origin: OriginFor<T>, channel_id: ChannelId) -> DispatchResult {
			let who = ensure_signed(origin)?;
			let channel = Channels::<T>::get(channel_id).ok_or(Error::<T>::UnknownChannel)?;
			ensure!(channel.party_a == who || channel.party_b == who, Error::<T>::NotParty);
			ensure!(channel.phase == Phase::Opening, Error::<T>::NotOpening);
			T::Currency::release(
				&HoldReason::ChannelDeposit.into(),
				&channel.party_a,
				channel.deposit_a,
				Precision::Exact,
			)?;
			Channels::<T>::remove(channel_id);
			Self::deposit_event(Event::ChannelCancelled { channel_id });
			Ok(())
		}

		/// Close at once with a state both parties signed under [`CLOSE_DOMAIN`]
		/// ([`Pallet::closing_payload`]). Also allowed during a challenge period (the
		/// parties agree after all).
		///
		/// Origin: signed (anyone; the signatures carry the authority). Emits
		/// `ChannelClosed`.
		///
		/// ## Complexity
		/// O(1): two sr25519 verifications.
		#[pallet::call_index(3)]
		#[pallet::weight(T::WeightInfo::cooperative_close())]
		pub fn cooperative_close(
			origin: OriginFor<T>,
			channel_id: ChannelId,
			state: StateOf<T>,
			signature_a: sr25519::Signature,
			signature_b: sr25519::Signature,
		) -> DispatchResult {
			ensure_signed(origin)?;
			let channel = Channels::<T>::get(channel_id).ok_or(Error::<T>::UnknownChannel)?;
			ensure!(channel.phase != Phase::Opening, Error::<T>::NotFunded);
			let payload = Self::closing_payload(channel_id, &state);
			Self::check_state(&payload, &channel, &state, Some(&signature_a), Some(&signature_b))?;
			Self::pay_out(&channel, &state)?;
			Channels::<T>::remove(channel_id);
			Self::deposit_event(Event::ChannelClosed {
				channel_id,
				version: state.version,
				balance_a: state.balance_a,
				balance_b: state.balance_b,
			});
			Ok(())
		}

		/// Register `state` and start the challenge period. `state` must be signed by
		/// both parties, unless it is the opening state (version 0, the deposits).
		///
		/// Origin: signed (a party). Emits `ChannelClosing`.
		///
		/// ## Complexity
		/// O(1): up to two sr25519 verifications.
		#[pallet::call_index(4)]
		#[pallet::weight(T::WeightInfo::close_unilateral())]
		pub fn close_unilateral(
			origin: OriginFor<T>,
			channel_id: ChannelId,
			state: StateOf<T>,
			signature_a: Option<sr25519::Signature>,
			signature_b: Option<sr25519::Signature>,
		) -> DispatchResult {
			let who = ensure_signed(origin)?;
			let mut channel = Channels::<T>::get(channel_id).ok_or(Error::<T>::UnknownChannel)?;
			let closer = Self::party_of(&channel, &who).ok_or(Error::<T>::NotParty)?;
			ensure!(channel.phase == Phase::Funded, Error::<T>::NotFunded);
			let payload = Self::signing_payload(channel_id, &state);
			Self::check_state(&payload, &channel, &state, signature_a.as_ref(), signature_b.as_ref())?;
			let challenge_ends = frame_system::Pallet::<T>::block_number().saturating_add(T::ChallengePeriod::get());
			channel.phase = Phase::Closing {
				state,
				closer,
				challenge_ends,
			};
			Channels::<T>::insert(channel_id, channel);
			Self::deposit_event(Event::ChannelClosing {
				channel_id,
				closer: who,
				version: state.version,
				challenge_ends,
			});
			Ok(())
		}

		/// Fraud proof: refute the registered state with a newer co-signed one within
		/// the challenge period. The closer is slashed: the honest party receives the
		/// channel's whole deposit.
		///
		/// Origin: signed (anyone, e.g. a watchtower). Emits `FraudProven`.
		///
		/// ## Complexity
		/// O(1): two sr25519 verifications.
		#[pallet::call_index(5)]
		#[pallet::weight(T::WeightInfo::challenge())]
		pub fn challenge(
			origin: OriginFor<T>,
			channel_id: ChannelId,
			state: StateOf<T>,
			signature_a: sr25519::Signature,
			signature_b: sr25519::Signature,
		) -> DispatchResult {
			ensure_signed(origin)?;
			let channel = Channels::<T>::get(channel_id).ok_or(Error::<T>::UnknownChannel)?;
			let Phase::Closing {
				state: registered,
				closer,
				challenge_ends,
			} = channel.phase
			else {
				return Err(Error::<T>::NotClosing.into());
			};
			ensure!(
				frame_system::Pallet::<T>::block_number() <= challenge_ends,
				Error::<T>::ChallengePeriodOver
			);
			ensure!(state.version > registered.version, Error::<T>::NotNewer);
			let payload = Self::signing_payload(channel_id, &state);
			Self::check_state(&payload, &channel, &state, Some(&signature_a), Some(&signature_b))?;
			let total = channel.deposit_a.saturating_add(channel.deposit_b);
			let (cheater, honest, penalty, outcome) = match closer {
				Party::A => (
					channel.party_a.clone(),
					channel.party_b.clone(),
					state.balance_a,
					ChannelState {
						version: state.version,
						balance_a: Zero::zero(),
						balance_b: total,
					},
				),
				Party::B => (
					channel.party_b.clone(),
					channel.party_a.clone(),
					state.balance_b,
					ChannelState {
						version: state.version,
						balance_a: total,
						balance_b: Zero::zero(),
					},
				),
			};
			Self::pay_out(&channel, &outcome)?;
			Channels::<T>::remove(channel_id);
			Self::deposit_event(Event::FraudProven {
				channel_id,
				cheater,
				honest,
				version: state.version,
				penalty,
			});
			Ok(())
		}

		/// Pay out the registered state after the challenge period.
		///
		/// Origin: signed (anyone). Emits `ChannelClosed`.
		///
		/// ## Complexity
		/// O(1).
		#[pallet::call_index(6)]
		#[pallet::weight(T::WeightInfo::settle())]
		pub fn settle(origin: OriginFor<T>, channel_id: ChannelId) -> DispatchResult {
			ensure_signed(origin)?;
			let channel = Channels::<T>::get(channel_id).ok_or(Error::<T>::UnknownChannel)?;
			let Phase::Closing {
				state, challenge_ends, ..
			} = channel.phase
			else {
				return Err(Error::<T>::NotClosing.into());
			};
			ensure!(
				frame_system::Pallet::<T>::block_number() > challenge_ends,
				Error::<T>::ChallengePeriodNotOver
			);
			Self::pay_out(&channel, &state)?;
			Channels::<T>::remove(channel_id);
			Self::deposit_event(Event::ChannelClosed {
				channel_id,
				version: state.version,
				balance_a: state.balance_a,
				balance_b: state.balance_b,
			});
			Ok(())
		}
	}
}

impl<T: Config> Pallet<T> {
	/// The id of the channel A opens to B with `nonce`.
	pub fn channel_id(party_a: &T::AccountId, party_b: &T::AccountId, nonce: u64) -> ChannelId {
		(CHANNEL_ID_DOMAIN, party_a, party_b, nonce)
			.using_encoded(polkadot_sdk::sp_io::hashing::blake2_256)
			.into()
	}

	/// Hash of block 0, which every signed state commits to.
	pub fn genesis_hash() -> T::Hash {
		frame_system::BlockHash::<T>::get(BlockNumberFor::<T>::zero())
	}

	/// The exact bytes a party signs for update `state` on `channel_id`.
	pub fn signing_payload(channel_id: ChannelId, state: &StateOf<T>) -> alloc::vec::Vec<u8> {
		SignedPayload::new(Self::genesis_hash(), channel_id, state).encode()
	}

	/// The exact bytes a party signs to agree to close `channel_id` with `state`.
	pub fn closing_payload(channel_id: ChannelId, state: &StateOf<T>) -> alloc::vec::Vec<u8> {
		SignedPayload::closing(Self::genesis_hash(), channel_id, state).encode()
	}

	fn party_of(channel: &ChannelOf<T>, who: &T::AccountId) -> Option<Party> {
		if &channel.party_a == who {
			Some(Party::A)
		} else if &channel.party_b == who {
			Some(Party::B)
		} else {
			None
		}
	}

	/// Whether `signature` is `who`'s sr25519 signature of `payload`.
	fn signed_by(payload: &[u8], signature: &sr25519::Signature, who: &T::AccountId) -> bool {
		let Ok(public) = sr25519::Public::try_from(who.encode().as_slice()) else {
			return false;
		};
		polkadot_sdk::sp_io::crypto::sr25519_verify(signature, payload, &public)
	}

	/// Check that `state` adds up and that both parties signed `payload` (its
	/// encoding under the right domain); only the opening state may come unsigned.
	fn check_state(
		payload: &[u8],
		channel: &ChannelOf<T>,
		state: &StateOf<T>,
		signature_a: Option<&sr25519::Signature>,
		signature_b: Option<&sr25519::Signature>,
	) -> DispatchResult {
		let total = channel
			.deposit_a
			.checked_add(&channel.deposit_b)
			.ok_or(Error::<T>::Overflow)?;
		let claimed = state
			.balance_a
			.checked_add(&state.balance_b)
			.ok_or(Error::<T>::BalanceMismatch)?;
		ensure!(claimed == total, Error::<T>::BalanceMismatch);
		let is_opening_state =
			state.version == 0 && state.balance_a == channel.deposit_a && state.balance_b == channel.deposit_b;
		let (Some(sig_a), Some(sig_b)) = (signature_a, signature_b) else {
			ensure!(is_opening_state, Error::<T>::MissingSignature);
			return Ok(());
		};
		ensure!(
			Self::signed_by(payload, sig_a, &channel.party_a),
			Error::<T>::BadSignatureA
		);
		ensure!(
			Self::signed_by(payload, sig_b, &channel.party_b),
			Error::<T>::BadSignatureB
		);
		Ok(())
	}

	/// Release both deposits so that A ends with `state.balance_a` and B with
	/// `state.balance_b`. The party whose balance fell pays the difference straight
	/// from its hold, so no free balance is ever needed.
	fn pay_out(channel: &ChannelOf<T>, state: &StateOf<T>) -> DispatchResult {
		let reason = HoldReason::ChannelDeposit.into();
		let (payer, payee, payer_deposit, payer_final, payee_deposit) = if state.balance_a < channel.deposit_a {
			(
				&channel.party_a,
				&channel.party_b,
				channel.deposit_a,
				state.balance_a,
				channel.deposit_b,
			)
		} else {
			(
				&channel.party_b,
				&channel.party_a,
				channel.deposit_b,
				state.balance_b,
				channel.deposit_a,
			)
		};
		let transfer = payer_deposit.saturating_sub(payer_final);
		if !transfer.is_zero() {
			T::Currency::transfer_on_hold(
				&reason,
				payer,
				payee,
				transfer,
				Precision::Exact,
				Restriction::Free,
				Fortitude::Force,
			)
			.map_err(|_| Error::<T>::PayoutFailed)?;
		}
		T::Currency::release(&reason, payer, payer_final, Precision::Exact).map_err(|_| Error::<T>::PayoutFailed)?;
		T::Currency::release(&reason, payee, payee_deposit, Precision::Exact).map_err(|_| Error::<T>::PayoutFailed)?;
		Ok(())
	}

	/// Invariant: what is held for channel deposits on each account equals the
	/// sum of its deposits in funded (or, for A, opening) channels.
	///
	/// Always compiled (the linker drops it from the Wasm unless `try-runtime`
	/// calls it), so that runtime-level tests can check it too.
	pub fn do_try_state() -> Result<(), polkadot_sdk::sp_runtime::TryRuntimeError> {
		use alloc::collections::btree_map::BTreeMap;
		use polkadot_sdk::frame_support::traits::fungible::InspectHold;
		let mut expected: BTreeMap<T::AccountId, BalanceOf<T>> = BTreeMap::new();
		for (_, channel) in Channels::<T>::iter() {
			let a = expected.entry(channel.party_a.clone()).or_default();
			*a = a.checked_add(&channel.deposit_a).ok_or("deposit sum overflows")?;
			if channel.phase != Phase::Opening {
				let b = expected.entry(channel.party_b.clone()).or_default();
				*b = b.checked_add(&channel.deposit_b).ok_or("deposit sum overflows")?;
			}
		}
		for (who, sum) in expected {
			let held = T::Currency::balance_on_hold(&HoldReason::ChannelDeposit.into(), &who);
			ensure!(held == sum, "held channel deposits differ from the open channels");
		}
		Ok(())
	}
}
