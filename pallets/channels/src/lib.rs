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
//!   replays on other chains and channels. Ids are never reused, and they include
//!   the parent hash of the block that opened the channel, so two chains started
//!   from the same genesis (a reset testnet) never share an id.
//! - `cooperative_close` pays out, at once, a state both parties signed under the
//!   closing domain tag ([`CLOSE_DOMAIN`]) instead of the update tag. Update
//!   signatures alone cannot close at once: otherwise an old update that favoured
//!   one party would close the channel with no chance of a fraud proof.
//! - `close_unilateral` registers a co-signed state (or the opening state,
//!   version 0, which needs no signatures) and starts the channel's challenge
//!   period (blocks; [`ChallengePeriod`] when the channel was opened).
//! - `challenge` registers a co-signed state with a higher version within the
//!   period, submitted by anyone (a party or its watchtower). The newest state
//!   *replaces* the registered one and nothing else happens: the latest version
//!   wins, as in Perun and Raiden. There is no confiscation: in an update round
//!   the receiver of a proposal always holds the newer co-signed state before the
//!   proposer does, so punishing "the older state" would let a receiver that
//!   withholds its countersignature take the whole deposit. The period is not
//!   extended by a challenge, so a close always ends `challenge_period` blocks
//!   after it started.
//! - `settle` pays out the registered state once the period is over.
//! - Disputes on channels that are not funded are rejected (an open problem of
//!   Perun's pallet).
//!
//! ## What an honest party must do
//!
//! A party is safe if it (or a watchtower holding its newest co-signed state)
//! looks at the chain at least once per challenge period: it then registers its
//! newest state, and only a state it signed itself can replace that. The period
//! is a genesis parameter ([`ChallengePeriod`], Root may change it for new
//! channels), never below [`Config::MinChallengePeriod`].
//!
//! ## Storage deposit
//!
//! The opener pays [`Config::RecordDeposit`] for the channel record, held while the
//! record exists and released when it is removed (close, settle or cancel).
//! A payee whose payout is below the existential deposit (an account that does
//! not exist) cannot be paid: its share stays with the payer
//! (`DustForfeited`), so a vanished counterparty cannot block a close.
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
//! - `set_challenge_period` (Root)

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

/// Where the opener's storage deposit goes when a record is removed.
fn release_all_or_log<T: Config>(reason: &T::RuntimeHoldReason, who: &T::AccountId, amount: BalanceOf<T>) {
	if amount.is_zero() {
		return;
	}
	if T::Currency::release(reason, who, amount, Precision::BestEffort).is_err() {
		log::error!(target: "runtime::channels", "could not release a storage deposit");
	}
}

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
		/// The opener's storage deposit for a channel record.
		#[codec(index = 1)]
		RecordDeposit,
	}

	#[pallet::config]
	pub trait Config: polkadot_sdk::frame_system::Config {
		/// The native currency (CC), with holds.
		type Currency: Mutate<Self::AccountId> + MutateHold<Self::AccountId, Reason = Self::RuntimeHoldReason>;
		/// The overarching hold reason.
		type RuntimeHoldReason: From<HoldReason>;
		/// Shortest challenge period, in blocks, that genesis or Root may set.
		#[pallet::constant]
		type MinChallengePeriod: Get<BlockNumberFor<Self>>;
		/// Storage deposit for a channel record, in planck (held on the opener).
		#[pallet::constant]
		type RecordDeposit: Get<BalanceOf<Self>>;
		/// Weights of the dispatchables.
		type WeightInfo: WeightInfo;
	}

	/// Open channels by id (closed channels are removed).
	#[pallet::storage]
	pub type Channels<T: Config> = StorageMap<_, Identity, ChannelId, ChannelOf<T>, OptionQuery>;

	/// Nonce of the next channel id; ids are never reused.
	#[pallet::storage]
	pub type NextChannelNonce<T: Config> = StorageValue<_, u64, ValueQuery>;

	/// Challenge period given to channels opened from now on, in blocks. Set at
	/// genesis (short on a dev chain, a day or more on a live one) and by Root.
	#[pallet::storage]
	pub type ChallengePeriod<T: Config> = StorageValue<_, BlockNumberFor<T>, ValueQuery>;

	#[pallet::genesis_config]
	#[derive(polkadot_sdk::frame_support::DefaultNoBound)]
	pub struct GenesisConfig<T: Config> {
		/// The initial [`ChallengePeriod`], in blocks (0: `MinChallengePeriod`).
		pub challenge_period: BlockNumberFor<T>,
	}

	#[pallet::genesis_build]
	impl<T: Config> BuildGenesisConfig for GenesisConfig<T> {
		fn build(&self) {
			let period = if self.challenge_period.is_zero() {
				T::MinChallengePeriod::get()
			} else {
				self.challenge_period
			};
			assert!(
				period >= T::MinChallengePeriod::get(),
				"the genesis challenge period is below MinChallengePeriod"
			);
			ChallengePeriod::<T>::put(period);
		}
	}

	#[pallet::event]
	#[pallet::generate_deposit(pub(super) fn deposit_event)]
	pub enum Event<T: Config> {
		/// A opened a channel to B and deposited `deposit_a`; B is to deposit `deposit_b`.
		/// A unilateral close of this channel waits `challenge_period` blocks.
		ChannelOpened {
			channel_id: ChannelId,
			party_a: T::AccountId,
			party_b: T::AccountId,
			deposit_a: BalanceOf<T>,
			deposit_b: BalanceOf<T>,
			challenge_period: BlockNumberFor<T>,
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
		/// `challenger` registered the newer co-signed `version` during the challenge
		/// period; it replaces the registered state (the period still ends at
		/// `challenge_ends`).
		ChannelChallenged {
			channel_id: ChannelId,
			challenger: T::AccountId,
			version: u64,
			challenge_ends: BlockNumberFor<T>,
		},
		/// The channel closed and paid out (cooperatively, or by `settle`).
		ChannelClosed {
			channel_id: ChannelId,
			version: u64,
			balance_a: BalanceOf<T>,
			balance_b: BalanceOf<T>,
		},
		/// `payee`'s share of a payout, `amount` planck, was below the existential deposit
		/// of an account that does not exist; it stayed with `payer`.
		DustForfeited {
			channel_id: ChannelId,
			payee: T::AccountId,
			payer: T::AccountId,
			amount: BalanceOf<T>,
		},
		/// Root set the challenge period of channels opened from now on.
		ChallengePeriodSet { period: BlockNumberFor<T> },
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
		/// Paying out failed (a hold could not be moved or released).
		PayoutFailed,
		/// The challenge period is below `MinChallengePeriod`.
		ChallengePeriodTooShort,
	}

	#[pallet::hooks]
	impl<T: Config> Hooks<BlockNumberFor<T>> for Pallet<T> {
		fn integrity_test() {
			assert!(
				!T::MinChallengePeriod::get().is_zero(),
				"MinChallengePeriod must be positive: a zero period lets a stale close settle at once"
			);
		}

		#[cfg(feature = "try-runtime")]
		fn try_state(_n: BlockNumberFor<T>) -> Result<(), polkadot_sdk::sp_runtime::TryRuntimeError> {
			Self::do_try_state()
		}
	}

	#[pallet::call]
	impl<T: Config> Pallet<T> {
		/// Open a channel to `counterparty`, holding `deposit` planck of the caller
		/// and the record's storage deposit (`RecordDeposit`). With
		/// `counterparty_deposit` zero the channel is funded at once; otherwise it
		/// waits for the counterparty's `fund`. The channel keeps the current
		/// [`ChallengePeriod`].
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
			let channel_id = Self::channel_id(
				&party_a,
				&counterparty,
				nonce,
				&frame_system::Pallet::<T>::parent_hash(),
			);
			let record_deposit = T::RecordDeposit::get();
			// Both holds or neither: a failed dispatch rolls the first one back.
			T::Currency::hold(&HoldReason::ChannelDeposit.into(), &party_a, deposit)
				.map_err(|_| Error::<T>::InsufficientBalance)?;
			T::Currency::hold(&HoldReason::RecordDeposit.into(), &party_a, record_deposit)
				.map_err(|_| Error::<T>::InsufficientBalance)?;
			let funded = counterparty_deposit.is_zero();
			let challenge_period = Self::challenge_period();
			let channel = Channel {
				party_a: party_a.clone(),
				party_b: counterparty.clone(),
				deposit_a: deposit,
				deposit_b: counterparty_deposit,
				phase: if funded { Phase::Funded } else { Phase::Opening },
				challenge_period,
				record_deposit,
			};
			Channels::<T>::insert(channel_id, channel);
			NextChannelNonce::<T>::put(next);
			Self::deposit_event(Event::ChannelOpened {
				channel_id,
				party_a,
				party_b: counterparty,
				deposit_a: deposit,
				deposit_b: counterparty_deposit,
				challenge_period,
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

		/// Cancel a channel that the counterparty never funded; A's deposit and the
		/// storage deposit are released.
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
			Self::remove_record(channel_id, &channel);
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
			Self::pay_out(channel_id, &channel, &state)?;
			Self::remove_record(channel_id, &channel);
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
			let challenge_ends = frame_system::Pallet::<T>::block_number().saturating_add(channel.challenge_period);
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

		/// Register a newer co-signed state during the challenge period: it replaces
		/// the registered one (latest version wins). Nothing is paid out and the
		/// period is not extended; `settle` pays the registered state afterwards.
		///
		/// Origin: signed (anyone, e.g. a watchtower: the signatures carry the
		/// authority). Emits `ChannelChallenged`.
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
			let challenger = ensure_signed(origin)?;
			let mut channel = Channels::<T>::get(channel_id).ok_or(Error::<T>::UnknownChannel)?;
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
			channel.phase = Phase::Closing {
				state,
				closer,
				challenge_ends,
			};
			Channels::<T>::insert(channel_id, channel);
			Self::deposit_event(Event::ChannelChallenged {
				channel_id,
				challenger,
				version: state.version,
				challenge_ends,
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
			Self::pay_out(channel_id, &channel, &state)?;
			Self::remove_record(channel_id, &channel);
			Self::deposit_event(Event::ChannelClosed {
				channel_id,
				version: state.version,
				balance_a: state.balance_a,
				balance_b: state.balance_b,
			});
			Ok(())
		}

		/// Set the challenge period (blocks) of channels opened from now on; open
		/// channels keep theirs.
		///
		/// Origin: Root. Emits `ChallengePeriodSet`.
		///
		/// ## Complexity
		/// O(1).
		#[pallet::call_index(7)]
		#[pallet::weight(T::WeightInfo::set_challenge_period())]
		pub fn set_challenge_period(origin: OriginFor<T>, period: BlockNumberFor<T>) -> DispatchResult {
			ensure_root(origin)?;
			ensure!(
				period >= T::MinChallengePeriod::get(),
				Error::<T>::ChallengePeriodTooShort
			);
			ChallengePeriod::<T>::put(period);
			Self::deposit_event(Event::ChallengePeriodSet { period });
			Ok(())
		}
	}
}

impl<T: Config> Pallet<T> {
	/// The id of the channel A opens to B with `nonce` in the block whose parent is
	/// `parent_hash`.
	pub fn channel_id(party_a: &T::AccountId, party_b: &T::AccountId, nonce: u64, parent_hash: &T::Hash) -> ChannelId {
		(CHANNEL_ID_DOMAIN, party_a, party_b, nonce, parent_hash)
			.using_encoded(polkadot_sdk::sp_io::hashing::blake2_256)
			.into()
	}

	/// The challenge period new channels get: [`ChallengePeriod`], never below
	/// `MinChallengePeriod` (also when the storage value was never set).
	pub fn challenge_period() -> BlockNumberFor<T> {
		ChallengePeriod::<T>::get().max(T::MinChallengePeriod::get())
	}

	/// Remove a channel record and release its storage deposit to the opener.
	fn remove_record(channel_id: ChannelId, channel: &ChannelOf<T>) {
		Channels::<T>::remove(channel_id);
		release_all_or_log::<T>(
			&HoldReason::RecordDeposit.into(),
			&channel.party_a,
			channel.record_deposit,
		);
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
	/// from its hold, so no free balance is ever needed. A payee that does not exist
	/// and would receive less than the existential deposit cannot be paid; that dust
	/// stays with the payer (`DustForfeited`) rather than blocking the close.
	fn pay_out(channel_id: ChannelId, channel: &ChannelOf<T>, state: &StateOf<T>) -> DispatchResult {
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
		let mut transfer = payer_deposit.saturating_sub(payer_final);
		let mut payer_keeps = payer_final;
		let payee_exists = !T::Currency::total_balance(payee).is_zero();
		if !transfer.is_zero() && !payee_exists && transfer < T::Currency::minimum_balance() {
			payer_keeps = payer_deposit;
			Self::deposit_event(Event::DustForfeited {
				channel_id,
				payee: payee.clone(),
				payer: payer.clone(),
				amount: transfer,
			});
			transfer = Zero::zero();
		}
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
		T::Currency::release(&reason, payer, payer_keeps, Precision::Exact).map_err(|_| Error::<T>::PayoutFailed)?;
		T::Currency::release(&reason, payee, payee_deposit, Precision::Exact).map_err(|_| Error::<T>::PayoutFailed)?;
		Ok(())
	}

	/// Invariants, checked both ways (from each record to the holds and from every
	/// account's holds to the records): what is held for channel deposits on each
	/// account equals the sum of its deposits in funded (or, for A, opening and
	/// closing) channels, and what is held as record deposits equals the deposits of
	/// the records it opened; every channel has a positive total and a challenge
	/// period of at least `MinChallengePeriod`.
	///
	/// Always compiled (the linker drops it from the Wasm unless `try-runtime`
	/// calls it), so that runtime-level tests can check it too.
	pub fn do_try_state() -> Result<(), polkadot_sdk::sp_runtime::TryRuntimeError> {
		use alloc::collections::btree_map::BTreeMap;
		use polkadot_sdk::frame_support::traits::fungible::InspectHold;
		let mut deposits: BTreeMap<T::AccountId, BalanceOf<T>> = BTreeMap::new();
		let mut records: BTreeMap<T::AccountId, BalanceOf<T>> = BTreeMap::new();
		for (_, channel) in Channels::<T>::iter() {
			let total = channel
				.deposit_a
				.checked_add(&channel.deposit_b)
				.ok_or("deposit sum overflows")?;
			ensure!(!total.is_zero(), "a channel without deposits");
			ensure!(
				channel.challenge_period >= T::MinChallengePeriod::get(),
				"a channel with a challenge period below the minimum"
			);
			let a = deposits.entry(channel.party_a.clone()).or_default();
			*a = a.checked_add(&channel.deposit_a).ok_or("deposit sum overflows")?;
			if channel.phase != Phase::Opening {
				let b = deposits.entry(channel.party_b.clone()).or_default();
				*b = b.checked_add(&channel.deposit_b).ok_or("deposit sum overflows")?;
			}
			let r = records.entry(channel.party_a.clone()).or_default();
			*r = r
				.checked_add(&channel.record_deposit)
				.ok_or("record deposit sum overflows")?;
		}
		let deposit_reason = HoldReason::ChannelDeposit.into();
		let record_reason = HoldReason::RecordDeposit.into();
		for (who, _) in frame_system::Account::<T>::iter() {
			let expected = deposits.remove(&who).unwrap_or_default();
			ensure!(
				T::Currency::balance_on_hold(&deposit_reason, &who) == expected,
				"held channel deposits differ from the open channels"
			);
			let expected = records.remove(&who).unwrap_or_default();
			ensure!(
				T::Currency::balance_on_hold(&record_reason, &who) == expected,
				"held record deposits differ from the channel records"
			);
		}
		ensure!(
			deposits.values().all(|d| d.is_zero()) && records.values().all(|d| d.is_zero()),
			"a channel deposit is owed by an account that does not exist"
		);
		Ok(())
	}
}
