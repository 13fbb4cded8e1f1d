//! # Checkpoints pallet
//!
//! The on-chain registry of VM-state checkpoints stored on Arweave. The bytes
//! live on Arweave; the chain records who saved what, and when:
//! `(owner, state_hash, arweave_tx_id, size, block)`.
//!
//! ## Overview
//!
//! - `record` stores a [`CheckpointRecord`] as the owner's latest checkpoint and
//!   appends it to the owner's history, which keeps the newest
//!   [`Config::MaxHistory`] records (the oldest is dropped).
//! - `state_hash` is blake2b-256 of the checkpoint bytes; a resume must verify
//!   the bytes it fetched against it.
//! - `arweave_tx_id` is the transaction id as Arweave prints it (43 characters
//!   of base64url for a 32-byte id), bounded by [`Config::MaxTxIdLen`].
//!
//! ## Interface
//!
//! ### Dispatchable Functions
//!
//! - `record`: record a checkpoint of the caller.
//! - `clear`: forget the caller's checkpoints.

#![cfg_attr(not(feature = "std"), no_std)]

extern crate alloc;

#[cfg(feature = "runtime-benchmarks")]
mod benchmarking;
#[cfg(test)]
mod mock;
#[cfg(test)]
mod tests;
pub mod weights;

pub use pallet::*;
pub use weights::WeightInfo;

use codec::{Decode, DecodeWithMemTracking, Encode, MaxEncodedLen};
use polkadot_sdk::{
	frame_support::{pallet_prelude::*, CloneNoBound, DebugNoBound, EqNoBound, PartialEqNoBound},
	frame_system,
	frame_system::pallet_prelude::*,
	sp_core::H256,
};
use scale_info::TypeInfo;

/// One recorded checkpoint.
#[derive(
	CloneNoBound,
	PartialEqNoBound,
	EqNoBound,
	DebugNoBound,
	Encode,
	Decode,
	DecodeWithMemTracking,
	TypeInfo,
	MaxEncodedLen,
)]
#[scale_info(skip_type_params(MaxTxIdLen))]
pub struct CheckpointRecord<BlockNumber, MaxTxIdLen: Get<u32>>
where
	BlockNumber: Clone + PartialEq + Eq + core::fmt::Debug,
{
	/// blake2b-256 of the checkpoint bytes.
	pub state_hash: H256,
	/// Arweave transaction id (base64url text as bytes).
	pub arweave_tx_id: BoundedVec<u8, MaxTxIdLen>,
	/// Size of the checkpoint, in bytes.
	pub size: u64,
	/// Block in which it was recorded.
	pub block: BlockNumber,
}

/// Record type of a runtime.
pub type RecordOf<T> = CheckpointRecord<BlockNumberFor<T>, <T as Config>::MaxTxIdLen>;

#[polkadot_sdk::frame_support::pallet]
pub mod pallet {
	use super::*;

	const STORAGE_VERSION: StorageVersion = StorageVersion::new(1);

	#[pallet::pallet]
	#[pallet::storage_version(STORAGE_VERSION)]
	pub struct Pallet<T>(_);

	#[pallet::config]
	pub trait Config: polkadot_sdk::frame_system::Config {
		/// Longest Arweave transaction id, in bytes (43 for base64url ids).
		#[pallet::constant]
		type MaxTxIdLen: Get<u32>;
		/// Records kept in each owner's history.
		#[pallet::constant]
		type MaxHistory: Get<u32>;
		/// Weights of the dispatchables.
		type WeightInfo: WeightInfo;
	}

	/// The newest checkpoint of each owner.
	#[pallet::storage]
	pub type Latest<T: Config> = StorageMap<_, Blake2_128Concat, T::AccountId, RecordOf<T>, OptionQuery>;

	/// The newest `MaxHistory` checkpoints of each owner, oldest first.
	#[pallet::storage]
	pub type History<T: Config> =
		StorageMap<_, Blake2_128Concat, T::AccountId, BoundedVec<RecordOf<T>, T::MaxHistory>, ValueQuery>;

	#[pallet::event]
	#[pallet::generate_deposit(pub(super) fn deposit_event)]
	pub enum Event<T: Config> {
		/// `owner` recorded a checkpoint.
		CheckpointRecorded {
			owner: T::AccountId,
			state_hash: H256,
			arweave_tx_id: BoundedVec<u8, T::MaxTxIdLen>,
			size: u64,
		},
		/// `owner` cleared its checkpoints.
		CheckpointsCleared { owner: T::AccountId },
	}

	#[pallet::error]
	pub enum Error<T> {
		/// The transaction id is empty.
		EmptyTxId,
		/// The owner has no checkpoints.
		NoCheckpoints,
	}

	#[pallet::hooks]
	impl<T: Config> Hooks<BlockNumberFor<T>> for Pallet<T> {
		fn integrity_test() {
			assert!(T::MaxHistory::get() > 0, "MaxHistory must be positive");
		}

		#[cfg(feature = "try-runtime")]
		fn try_state(_n: BlockNumberFor<T>) -> Result<(), polkadot_sdk::sp_runtime::TryRuntimeError> {
			Self::do_try_state()
		}
	}

	#[pallet::call]
	impl<T: Config> Pallet<T> {
		/// Record a checkpoint of the caller: blake2b-256 of the bytes, the Arweave
		/// transaction that stores them, and their size in bytes.
		///
		/// Origin: signed (the owner). Emits `CheckpointRecorded`.
		///
		/// ## Complexity
		/// O(H), H = `MaxHistory` (the history is rewritten).
		#[pallet::call_index(0)]
		#[pallet::weight(T::WeightInfo::record())]
		pub fn record(
			origin: OriginFor<T>,
			state_hash: H256,
			arweave_tx_id: BoundedVec<u8, T::MaxTxIdLen>,
			size: u64,
		) -> DispatchResult {
			let owner = ensure_signed(origin)?;
			ensure!(!arweave_tx_id.is_empty(), Error::<T>::EmptyTxId);
			let record = CheckpointRecord {
				state_hash,
				arweave_tx_id: arweave_tx_id.clone(),
				size,
				block: frame_system::Pallet::<T>::block_number(),
			};
			History::<T>::mutate(&owner, |history| {
				// Keep the newest MaxHistory: drop the oldest when full.
				if history.is_full() {
					history.remove(0);
				}
				// Cannot fail: there is room now (MaxHistory > 0, see integrity_test).
				let _ = history.try_push(record.clone());
			});
			Latest::<T>::insert(&owner, record);
			Self::deposit_event(Event::CheckpointRecorded {
				owner,
				state_hash,
				arweave_tx_id,
				size,
			});
			Ok(())
		}

		/// Forget the caller's checkpoints (the Arweave data stays).
		///
		/// Origin: signed (the owner). Emits `CheckpointsCleared`.
		///
		/// ## Complexity
		/// O(1).
		#[pallet::call_index(1)]
		#[pallet::weight(T::WeightInfo::clear())]
		pub fn clear(origin: OriginFor<T>) -> DispatchResult {
			let owner = ensure_signed(origin)?;
			ensure!(Latest::<T>::contains_key(&owner), Error::<T>::NoCheckpoints);
			Latest::<T>::remove(&owner);
			History::<T>::remove(&owner);
			Self::deposit_event(Event::CheckpointsCleared { owner });
			Ok(())
		}
	}
}

impl<T: Config> Pallet<T> {
	/// Invariant: every owner's latest record is the last of its history.
	///
	/// Always compiled (the linker drops it from the Wasm unless `try-runtime`
	/// calls it), so that runtime-level tests can check it too.
	pub fn do_try_state() -> Result<(), polkadot_sdk::sp_runtime::TryRuntimeError> {
		for (owner, latest) in Latest::<T>::iter() {
			ensure!(
				History::<T>::get(&owner).last() == Some(&latest),
				"latest is not the newest history entry"
			);
		}
		ensure!(
			History::<T>::iter_keys().all(Latest::<T>::contains_key),
			"history without a latest record"
		);
		Ok(())
	}
}
