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
//! - `record_job` keeps a job's newest checkpoint under `(owner, job id)`: the VM
//!   checkpoints of a running job (`docs/vm-checkpoints.md`), which another worker
//!   resumes from. Sequence numbers only go up, so the record never rolls back to an
//!   older image. The first record of a job holds [`Config::JobRecordDeposit`] on the
//!   owner (a storage deposit: the records of a job are not bounded by an owner's
//!   history), released by `clear_job` once the record is
//!   [`Config::JobRecordRetention`] blocks old.
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
//! - `record_job`: record the newest checkpoint of one of the caller's jobs.
//! - `clear_job`: forget it and release its deposit.

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
	frame_support::{
		pallet_prelude::*,
		traits::{
			fungible::{Inspect, InspectHold, Mutate, MutateHold},
			tokens::Precision,
		},
		CloneNoBound, DebugNoBound, EqNoBound, PartialEqNoBound,
	},
	frame_system,
	frame_system::pallet_prelude::*,
	sp_core::H256,
	sp_runtime::{
		traits::{CheckedAdd, Saturating, Zero},
		TokenError,
	},
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

/// A job's id in the job protocol (`job_id`, 16 bytes).
pub type JobId = [u8; 16];

/// Balance of the runtime's currency, in planck.
pub type BalanceOf<T> = <<T as Config>::Currency as Inspect<<T as frame_system::Config>::AccountId>>::Balance;

/// The newest checkpoint of one job, as its owner recorded it.
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
pub struct JobCheckpoint<BlockNumber, MaxTxIdLen: Get<u32>, Balance>
where
	BlockNumber: Clone + PartialEq + Eq + core::fmt::Debug,
	Balance: Clone + PartialEq + Eq + core::fmt::Debug,
{
	/// The image's sequence number within the job (1 for the first checkpoint).
	pub checkpoint: u32,
	/// Its hash, Arweave transaction, size and block.
	pub record: CheckpointRecord<BlockNumber, MaxTxIdLen>,
	/// Planck held on the owner for this entry (released exactly by `clear_job`).
	pub deposit: Balance,
}

/// Job checkpoint type of a runtime.
pub type JobCheckpointOf<T> = JobCheckpoint<BlockNumberFor<T>, <T as Config>::MaxTxIdLen, BalanceOf<T>>;

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
		/// Storage deposit of a job's checkpoint record, held on its owner.
		#[codec(index = 0)]
		JobRecordDeposit,
	}

	#[pallet::config]
	pub trait Config: polkadot_sdk::frame_system::Config {
		/// The native currency (CC), with holds.
		type Currency: Mutate<Self::AccountId> + MutateHold<Self::AccountId, Reason = Self::RuntimeHoldReason>;
		/// The overarching hold reason.
		type RuntimeHoldReason: From<HoldReason>;
		/// Held on the owner of each job record while it exists, planck.
		#[pallet::constant]
		type JobRecordDeposit: Get<BalanceOf<Self>>;
		/// Blocks a job's record stays after its last update before `clear_job` may
		/// remove it: the requester settles against it, and a clear followed by a new
		/// first record would otherwise roll the job back to an older image at once.
		#[pallet::constant]
		type JobRecordRetention: Get<BlockNumberFor<Self>>;
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

	/// The newest checkpoint of each job, by owner and job id.
	#[pallet::storage]
	pub type JobCheckpoints<T: Config> =
		StorageDoubleMap<_, Blake2_128Concat, T::AccountId, Blake2_128Concat, JobId, JobCheckpointOf<T>, OptionQuery>;

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
		/// `owner` recorded checkpoint number `checkpoint` of its job `job_id`.
		JobCheckpointRecorded {
			owner: T::AccountId,
			job_id: JobId,
			checkpoint: u32,
			state_hash: H256,
			arweave_tx_id: BoundedVec<u8, T::MaxTxIdLen>,
			size: u64,
		},
		/// `owner` cleared the record of its job `job_id`; `deposit` planck were released.
		JobCheckpointCleared {
			owner: T::AccountId,
			job_id: JobId,
			deposit: BalanceOf<T>,
		},
	}

	#[pallet::error]
	pub enum Error<T> {
		/// The transaction id is empty.
		EmptyTxId,
		/// The owner has no checkpoints.
		NoCheckpoints,
		/// The job already has a checkpoint with this sequence number or a later one.
		StaleCheckpoint,
		/// The owner has no record of this job.
		NoJobCheckpoint,
		/// The owner cannot pay the record's deposit.
		InsufficientBalance,
		/// The job's record was updated less than `JobRecordRetention` blocks ago.
		RecordTooRecent,
	}

	#[pallet::hooks]
	impl<T: Config> Hooks<BlockNumberFor<T>> for Pallet<T> {
		fn integrity_test() {
			assert!(T::MaxHistory::get() > 0, "MaxHistory must be positive");
			assert!(
				!T::JobRecordDeposit::get().is_zero(),
				"a job record must cost a deposit"
			);
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

		/// Record checkpoint number `checkpoint` of the caller's job `job_id`: blake2b-256
		/// of the bytes, the Arweave transaction that stores them, their size in bytes. It
		/// replaces the job's previous record, whose number must be lower. The job's
		/// first record holds `JobRecordDeposit` on the caller.
		///
		/// Origin: signed (the owner). Emits `JobCheckpointRecorded`. Errors:
		/// `EmptyTxId`, `StaleCheckpoint`, `InsufficientBalance`.
		///
		/// ## Complexity
		/// O(1).
		#[pallet::call_index(2)]
		#[pallet::weight(T::WeightInfo::record_job())]
		pub fn record_job(
			origin: OriginFor<T>,
			job_id: JobId,
			checkpoint: u32,
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
			let deposit = match JobCheckpoints::<T>::get(&owner, job_id) {
				Some(previous) => {
					ensure!(checkpoint > previous.checkpoint, Error::<T>::StaleCheckpoint);
					previous.deposit
				},
				None => {
					let deposit = T::JobRecordDeposit::get();
					T::Currency::hold(&HoldReason::JobRecordDeposit.into(), &owner, deposit).map_err(|err| {
						if err == DispatchError::Token(TokenError::FundsUnavailable) {
							Error::<T>::InsufficientBalance.into()
						} else {
							err
						}
					})?;
					deposit
				},
			};
			JobCheckpoints::<T>::insert(
				&owner,
				job_id,
				JobCheckpoint {
					checkpoint,
					record,
					deposit,
				},
			);
			Self::deposit_event(Event::JobCheckpointRecorded {
				owner,
				job_id,
				checkpoint,
				state_hash,
				arweave_tx_id,
				size,
			});
			Ok(())
		}

		/// Forget the record of the caller's job `job_id` (the Arweave data stays) and
		/// release its deposit, once `JobRecordRetention` blocks have passed since its
		/// last update.
		///
		/// Origin: signed (the owner). Emits `JobCheckpointCleared`. Errors:
		/// `NoJobCheckpoint`, `RecordTooRecent`.
		///
		/// ## Complexity
		/// O(1).
		#[pallet::call_index(3)]
		#[pallet::weight(T::WeightInfo::clear_job())]
		pub fn clear_job(origin: OriginFor<T>, job_id: JobId) -> DispatchResult {
			let owner = ensure_signed(origin)?;
			let entry = JobCheckpoints::<T>::get(&owner, job_id).ok_or(Error::<T>::NoJobCheckpoint)?;
			let now = frame_system::Pallet::<T>::block_number();
			ensure!(
				now >= entry.record.block.saturating_add(T::JobRecordRetention::get()),
				Error::<T>::RecordTooRecent
			);
			JobCheckpoints::<T>::remove(&owner, job_id);
			T::Currency::release(
				&HoldReason::JobRecordDeposit.into(),
				&owner,
				entry.deposit,
				Precision::Exact,
			)?;
			Self::deposit_event(Event::JobCheckpointCleared {
				owner,
				job_id,
				deposit: entry.deposit,
			});
			Ok(())
		}
	}
}

impl<T: Config> Pallet<T> {
	/// Invariants: every owner's latest record is the last of its history; what is held
	/// for job records on an owner is the sum of their deposits. (An owner with a hold
	/// and no record is not found by this walk; `clear_job` releases exactly what its
	/// record says.)
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
		// What is held for job records is exactly the deposits of the owners' records.
		let mut held = alloc::collections::BTreeMap::<T::AccountId, BalanceOf<T>>::new();
		for (owner, _, entry) in JobCheckpoints::<T>::iter() {
			let total = held.entry(owner).or_insert_with(Zero::zero);
			*total = total.checked_add(&entry.deposit).ok_or("job deposits overflow")?;
		}
		for (owner, total) in held {
			ensure!(
				T::Currency::balance_on_hold(&HoldReason::JobRecordDeposit.into(), &owner) == total,
				"job record deposits differ from the held balance"
			);
		}
		Ok(())
	}
}
