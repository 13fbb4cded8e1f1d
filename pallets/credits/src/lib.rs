//! # Credits pallet
//!
//! Stakes, slashing and the debt ledger for Compute Currency. CC is the chain's
//! native token (`pallet-balances`); every amount here is in planck
//! (1 CC = 10^12 planck) and all arithmetic is checked.
//!
//! ## Overview
//!
//! - **Stakes** back workers and verifiers. A stake is a hold with reason
//!   [`HoldReason::Stake`] on the staker's balance. Only *active* stake counts.
//!   Other pallets *bond* part of it to open obligations through
//!   [`ccnet_primitives::StakeProvider`] (each claim on a task, each verifier duty);
//!   bonded stake cannot start unbonding, and slashes take it, so what an obligation
//!   can lose is locked before the obligation exists. `unstake` moves free active
//!   stake into an unbonding chunk ([`Config::UnbondingPeriod`]) that no longer
//!   counts; `withdraw_unbonded` releases what has matured.
//! - **Debt ledger**: a requester can acknowledge a debt to a worker
//!   (`credit_worker`) and pay it later (`settle_debt`); [`Pallet::net_position`] is
//!   receivables minus debts. Each (debtor, creditor) record holds a storage deposit
//!   ([`Config::DebtDeposit`]) on the debtor until it is settled in full.
//! - **Reward multiplier** `R(x) = 1 + (M-1)·e^(-x/D)` over the CPU-hours
//!   contributed network-wide (see [`multiplier`]); the tasks pallet feeds `x`
//!   through [`ccnet_primitives::ContributionTracker`].
//!
//! ## Interface
//!
//! ### Dispatchable Functions
//!
//! - `stake`: hold an amount as stake.
//! - `unstake`: move active stake into unbonding.
//! - `withdraw_unbonded`: release matured unbonding chunks.
//! - `credit_worker`: record that the caller owes a worker.
//! - `settle_debt`: pay (part of) a recorded debt.

#![cfg_attr(not(feature = "std"), no_std)]

extern crate alloc;

#[cfg(feature = "runtime-benchmarks")]
mod benchmarking;
#[cfg(test)]
mod mock;
pub mod multiplier;
#[cfg(test)]
mod tests;
pub mod types;
pub mod weights;

pub use pallet::*;
pub use types::*;
pub use weights::WeightInfo;

use ccnet_primitives::{ContributionTracker, Fuel, StakeProvider};
use polkadot_sdk::{
	frame_support::{
		pallet_prelude::*,
		traits::{
			fungible::{Inspect, Mutate, MutateHold},
			tokens::{Fortitude, Precision, Preservation, Restriction},
		},
	},
	frame_system,
	frame_system::pallet_prelude::*,
	sp_arithmetic::FixedU128,
	sp_runtime::traits::{CheckedAdd, CheckedSub, Saturating, Zero},
};

/// Balance type of the configured currency.
pub type BalanceOf<T> = <<T as Config>::Currency as Inspect<<T as frame_system::Config>::AccountId>>::Balance;
/// The stake ledger type of a runtime.
pub type StakeLedgerOf<T> = StakeLedger<BalanceOf<T>, BlockNumberFor<T>, <T as Config>::MaxUnbondingChunks>;

#[polkadot_sdk::frame_support::pallet]
pub mod pallet {
	use super::*;

	// 2: stake ledgers carry `bonded`; debt records carry their deposit. No chain holds
	// version 1 data (every network starts from genesis), so there is no migration.
	const STORAGE_VERSION: StorageVersion = StorageVersion::new(2);

	#[pallet::pallet]
	#[pallet::storage_version(STORAGE_VERSION)]
	pub struct Pallet<T>(_);

	/// Reasons for which this pallet holds funds.
	#[pallet::composite_enum]
	pub enum HoldReason {
		/// Stake of a worker or verifier (active and unbonding).
		#[codec(index = 0)]
		Stake,
		/// Storage deposit of a debt record, held on the debtor.
		#[codec(index = 1)]
		DebtDeposit,
	}

	#[pallet::config]
	pub trait Config: polkadot_sdk::frame_system::Config {
		/// The native currency (CC), with holds.
		type Currency: Mutate<Self::AccountId>
			+ MutateHold<Self::AccountId, Reason = Self::RuntimeHoldReason>
			+ polkadot_sdk::frame_support::traits::fungible::BalancedHold<Self::AccountId>;
		/// The overarching hold reason.
		type RuntimeHoldReason: From<HoldReason>;
		/// Blocks between `unstake` and the moment the amount can be withdrawn.
		#[pallet::constant]
		type UnbondingPeriod: Get<BlockNumberFor<Self>>;
		/// Most unbonding chunks an account may have at once.
		#[pallet::constant]
		type MaxUnbondingChunks: Get<u32>;
		/// `M` of the reward multiplier (its value at launch), e.g. 10.
		#[pallet::constant]
		type MultiplierMax: Get<u32>;
		/// `D` of the reward multiplier, in CPU-hours, e.g. 1,000,000.
		#[pallet::constant]
		type MultiplierDecayCpuHours: Get<u128>;
		/// Fuel that makes one CPU-hour, for converting contributions.
		#[pallet::constant]
		type FuelPerCpuHour: Get<u128>;
		/// Storage deposit of a debt record, in planck, held on the debtor.
		#[pallet::constant]
		type DebtDeposit: Get<BalanceOf<Self>>;
		/// Weights of the dispatchables.
		type WeightInfo: WeightInfo;
	}

	/// Stake ledger of each staker.
	#[pallet::storage]
	pub type Stakes<T: Config> = StorageMap<_, Blake2_128Concat, T::AccountId, StakeLedgerOf<T>, OptionQuery>;

	/// Acknowledged debts: (debtor, creditor) to the amount and its record deposit.
	#[pallet::storage]
	pub type Debts<T: Config> = StorageDoubleMap<
		_,
		Blake2_128Concat,
		T::AccountId,
		Blake2_128Concat,
		T::AccountId,
		Debt<BalanceOf<T>>,
		OptionQuery,
	>;

	/// Sum of an account's debts (as debtor).
	#[pallet::storage]
	pub type TotalDebt<T: Config> = StorageMap<_, Blake2_128Concat, T::AccountId, BalanceOf<T>, ValueQuery>;

	/// Sum of what is owed to an account (as creditor).
	#[pallet::storage]
	pub type TotalReceivable<T: Config> = StorageMap<_, Blake2_128Concat, T::AccountId, BalanceOf<T>, ValueQuery>;

	/// Fuel of verified work delivered network-wide since genesis.
	#[pallet::storage]
	pub type ContributedFuel<T: Config> = StorageValue<_, u128, ValueQuery>;

	#[pallet::event]
	#[pallet::generate_deposit(pub(super) fn deposit_event)]
	pub enum Event<T: Config> {
		/// `amount` planck was added to `who`'s active stake.
		Staked { who: T::AccountId, amount: BalanceOf<T> },
		/// `amount` planck of free active stake started unbonding; withdrawable from
		/// block `unlock_at`.
		Unbonded {
			who: T::AccountId,
			amount: BalanceOf<T>,
			unlock_at: BlockNumberFor<T>,
		},
		/// Matured unbonding stake was released to `who`'s free balance.
		Withdrawn { who: T::AccountId, amount: BalanceOf<T> },
		/// `amount` planck of `who`'s active stake was bonded to an obligation.
		Bonded { who: T::AccountId, amount: BalanceOf<T> },
		/// `amount` planck of `who`'s bond was released (the obligation ended).
		BondReleased { who: T::AccountId, amount: BalanceOf<T> },
		/// `who`'s stake was slashed; the funds went to `beneficiary`, or were burnt.
		Slashed {
			who: T::AccountId,
			amount: BalanceOf<T>,
			beneficiary: Option<T::AccountId>,
		},
		/// `requester` acknowledged owing `worker` another `amount`.
		CreditIssued {
			requester: T::AccountId,
			worker: T::AccountId,
			amount: BalanceOf<T>,
		},
		/// `debtor` paid `amount` of its debt to `creditor`.
		DebtSettled {
			debtor: T::AccountId,
			creditor: T::AccountId,
			amount: BalanceOf<T>,
		},
	}

	#[pallet::error]
	pub enum Error<T> {
		/// The amount must be greater than zero.
		ZeroAmount,
		/// The free balance cannot cover the amount (the hold failed).
		InsufficientBalance,
		/// The account has less active stake than requested.
		InsufficientStake,
		/// That much of the stake is bonded to open claims or verifier duties; it can
		/// start unbonding once they are settled.
		StakeBonded,
		/// The account already has `MaxUnbondingChunks` chunks unbonding.
		TooManyUnbondingChunks,
		/// No unbonding chunk has matured yet.
		NothingToWithdraw,
		/// An account cannot be in debt to itself.
		SelfDebt,
		/// The recorded debt is smaller than the amount to settle.
		InsufficientDebt,
		/// A balance sum overflowed.
		Overflow,
		/// The payment of a debt failed (free balance too low, or the creditor
		/// would be below the existential deposit).
		PaymentFailed,
	}

	#[pallet::hooks]
	impl<T: Config> Hooks<BlockNumberFor<T>> for Pallet<T> {
		fn integrity_test() {
			assert!(T::MaxUnbondingChunks::get() > 0, "MaxUnbondingChunks must be positive");
			assert!(T::FuelPerCpuHour::get() > 0, "FuelPerCpuHour must be positive");
			assert!(!T::DebtDeposit::get().is_zero(), "DebtDeposit must be positive");
		}

		#[cfg(feature = "try-runtime")]
		fn try_state(_n: BlockNumberFor<T>) -> Result<(), polkadot_sdk::sp_runtime::TryRuntimeError> {
			Self::do_try_state()
		}
	}

	#[pallet::call]
	impl<T: Config> Pallet<T> {
		/// Hold `amount` planck of the caller's free balance as active stake.
		///
		/// Origin: signed. Emits `Staked`.
		///
		/// ## Complexity
		/// O(1).
		#[pallet::call_index(0)]
		#[pallet::weight(T::WeightInfo::stake())]
		pub fn stake(origin: OriginFor<T>, #[pallet::compact] amount: BalanceOf<T>) -> DispatchResult {
			let who = ensure_signed(origin)?;
			Self::do_stake(&who, amount)
		}

		/// Start unbonding `amount` planck of the caller's free active stake (not
		/// bonded to a claim or verifier duty). It stays held for `UnbondingPeriod`
		/// blocks but no longer counts as stake.
		///
		/// Origin: signed. Emits `Unbonded`.
		///
		/// ## Complexity
		/// O(1) (the chunk list is bounded by `MaxUnbondingChunks`).
		#[pallet::call_index(1)]
		#[pallet::weight(T::WeightInfo::unstake())]
		pub fn unstake(origin: OriginFor<T>, #[pallet::compact] amount: BalanceOf<T>) -> DispatchResult {
			let who = ensure_signed(origin)?;
			ensure!(!amount.is_zero(), Error::<T>::ZeroAmount);
			let mut ledger = Stakes::<T>::get(&who).ok_or(Error::<T>::InsufficientStake)?;
			ensure!(amount <= ledger.active, Error::<T>::InsufficientStake);
			ensure!(
				amount <= ledger.active.saturating_sub(ledger.bonded),
				Error::<T>::StakeBonded
			);
			ledger.active = ledger.active.saturating_sub(amount);
			let unlock_at = frame_system::Pallet::<T>::block_number().saturating_add(T::UnbondingPeriod::get());
			ledger
				.unbonding
				.try_push(UnbondingChunk { amount, unlock_at })
				.map_err(|_| Error::<T>::TooManyUnbondingChunks)?;
			Stakes::<T>::insert(&who, ledger);
			Self::deposit_event(Event::Unbonded { who, amount, unlock_at });
			Ok(())
		}

		/// Release every unbonding chunk of the caller whose `unlock_at` has passed.
		///
		/// Origin: signed. Emits `Withdrawn`.
		///
		/// ## Complexity
		/// O(C), C = `MaxUnbondingChunks`.
		#[pallet::call_index(2)]
		#[pallet::weight(T::WeightInfo::withdraw_unbonded(T::MaxUnbondingChunks::get()))]
		pub fn withdraw_unbonded(origin: OriginFor<T>) -> DispatchResult {
			let who = ensure_signed(origin)?;
			let mut ledger = Stakes::<T>::get(&who).ok_or(Error::<T>::NothingToWithdraw)?;
			let now = frame_system::Pallet::<T>::block_number();
			let mut released: BalanceOf<T> = Zero::zero();
			let mut overflow = false;
			ledger.unbonding.retain(|chunk| {
				if chunk.unlock_at <= now {
					match released.checked_add(&chunk.amount) {
						Some(sum) => released = sum,
						None => overflow = true,
					}
					false
				} else {
					true
				}
			});
			ensure!(!overflow, Error::<T>::Overflow);
			ensure!(!released.is_zero(), Error::<T>::NothingToWithdraw);
			T::Currency::release(&HoldReason::Stake.into(), &who, released, Precision::Exact)?;
			if ledger.is_empty() {
				Stakes::<T>::remove(&who);
			} else {
				Stakes::<T>::insert(&who, ledger);
			}
			Self::deposit_event(Event::Withdrawn { who, amount: released });
			Ok(())
		}

		/// Record that the caller owes `worker` another `amount` planck.
		///
		/// Origin: signed (the debtor). Emits `CreditIssued`.
		///
		/// ## Complexity
		/// O(1).
		#[pallet::call_index(3)]
		#[pallet::weight(T::WeightInfo::credit_worker())]
		pub fn credit_worker(
			origin: OriginFor<T>,
			worker: T::AccountId,
			#[pallet::compact] amount: BalanceOf<T>,
		) -> DispatchResult {
			let requester = ensure_signed(origin)?;
			ensure!(!amount.is_zero(), Error::<T>::ZeroAmount);
			ensure!(requester != worker, Error::<T>::SelfDebt);
			let mut debt = Debts::<T>::get(&requester, &worker).unwrap_or_default();
			debt.amount = debt.amount.checked_add(&amount).ok_or(Error::<T>::Overflow)?;
			let total_debt = TotalDebt::<T>::get(&requester)
				.checked_add(&amount)
				.ok_or(Error::<T>::Overflow)?;
			let receivable = TotalReceivable::<T>::get(&worker)
				.checked_add(&amount)
				.ok_or(Error::<T>::Overflow)?;
			if debt.deposit.is_zero() {
				// A new record: its storage is paid by the debtor until it is settled.
				let deposit = T::DebtDeposit::get();
				T::Currency::hold(&HoldReason::DebtDeposit.into(), &requester, deposit)
					.map_err(|_| Error::<T>::InsufficientBalance)?;
				debt.deposit = deposit;
			}
			Debts::<T>::insert(&requester, &worker, debt);
			TotalDebt::<T>::insert(&requester, total_debt);
			TotalReceivable::<T>::insert(&worker, receivable);
			Self::deposit_event(Event::CreditIssued {
				requester,
				worker,
				amount,
			});
			Ok(())
		}

		/// Pay `amount` planck of the caller's recorded debt to `creditor`.
		///
		/// Origin: signed (the debtor). Emits `DebtSettled`.
		///
		/// ## Complexity
		/// O(1).
		#[pallet::call_index(4)]
		#[pallet::weight(T::WeightInfo::settle_debt())]
		pub fn settle_debt(
			origin: OriginFor<T>,
			creditor: T::AccountId,
			#[pallet::compact] amount: BalanceOf<T>,
		) -> DispatchResult {
			let debtor = ensure_signed(origin)?;
			ensure!(!amount.is_zero(), Error::<T>::ZeroAmount);
			let mut debt = Debts::<T>::get(&debtor, &creditor).ok_or(Error::<T>::InsufficientDebt)?;
			debt.amount = debt.amount.checked_sub(&amount).ok_or(Error::<T>::InsufficientDebt)?;
			T::Currency::transfer(&debtor, &creditor, amount, Preservation::Preserve)
				.map_err(|_| Error::<T>::PaymentFailed)?;
			if debt.amount.is_zero() {
				Debts::<T>::remove(&debtor, &creditor);
				T::Currency::release(
					&HoldReason::DebtDeposit.into(),
					&debtor,
					debt.deposit,
					Precision::BestEffort,
				)?;
			} else {
				Debts::<T>::insert(&debtor, &creditor, debt);
			}
			// Both totals include this debt, so they cannot underflow.
			TotalDebt::<T>::mutate_exists(&debtor, |t| {
				*t = t.map(|v| v.saturating_sub(amount)).filter(|v| !v.is_zero())
			});
			TotalReceivable::<T>::mutate_exists(&creditor, |t| {
				*t = t.map(|v| v.saturating_sub(amount)).filter(|v| !v.is_zero())
			});
			Self::deposit_event(Event::DebtSettled {
				debtor,
				creditor,
				amount,
			});
			Ok(())
		}
	}
}

/// A position of the debt ledger: receivables minus debts, as sign and magnitude
/// (balances are unsigned).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum NetPosition<Balance> {
	/// The account is owed more than it owes.
	Creditor(Balance),
	/// The account owes more than it is owed.
	Debtor(Balance),
}

impl<T: Config> Pallet<T> {
	fn do_stake(who: &T::AccountId, amount: BalanceOf<T>) -> DispatchResult {
		ensure!(!amount.is_zero(), Error::<T>::ZeroAmount);
		let mut ledger = Stakes::<T>::get(who).unwrap_or_default();
		ledger.active = ledger.active.checked_add(&amount).ok_or(Error::<T>::Overflow)?;
		T::Currency::hold(&HoldReason::Stake.into(), who, amount).map_err(|_| Error::<T>::InsufficientBalance)?;
		Stakes::<T>::insert(who, ledger);
		Self::deposit_event(Event::Staked {
			who: who.clone(),
			amount,
		});
		Ok(())
	}

	/// Receivables minus debts of `who`, in planck.
	pub fn net_position(who: &T::AccountId) -> NetPosition<BalanceOf<T>> {
		let owed_to = TotalReceivable::<T>::get(who);
		let owes = TotalDebt::<T>::get(who);
		if owed_to >= owes {
			NetPosition::Creditor(owed_to.saturating_sub(owes))
		} else {
			NetPosition::Debtor(owes.saturating_sub(owed_to))
		}
	}

	/// CPU-hours contributed network-wide so far (rounded down).
	pub fn contributed_cpu_hours() -> u128 {
		ContributedFuel::<T>::get() / T::FuelPerCpuHour::get().max(1)
	}

	/// The reward multiplier `R(x)` at the current contribution level.
	pub fn current_multiplier() -> FixedU128 {
		multiplier::reward_multiplier(
			Self::contributed_cpu_hours(),
			T::MultiplierMax::get(),
			T::MultiplierDecayCpuHours::get(),
		)
	}

	/// Take up to `amount` out of a ledger: bonded stake first, then the rest of the
	/// active stake, then the newest unbonding chunks. Returns the amount taken.
	fn reduce_ledger(ledger: &mut StakeLedgerOf<T>, amount: BalanceOf<T>) -> BalanceOf<T> {
		let mut left = amount;
		let from_active = left.min(ledger.active);
		ledger.active = ledger.active.saturating_sub(from_active);
		ledger.bonded = ledger.bonded.saturating_sub(from_active);
		left = left.saturating_sub(from_active);
		while !left.is_zero() {
			let Some(chunk) = ledger.unbonding.last_mut() else {
				break;
			};
			let take = left.min(chunk.amount);
			chunk.amount = chunk.amount.saturating_sub(take);
			left = left.saturating_sub(take);
			if chunk.amount.is_zero() {
				ledger.unbonding.pop();
			}
		}
		amount.saturating_sub(left)
	}

	/// Take up to `amount` of `who`'s stake (see [`Self::reduce_ledger`]) to
	/// `beneficiary`, or burn it; returns what was taken. Emits `Slashed`.
	pub fn slash(who: &T::AccountId, amount: BalanceOf<T>, beneficiary: Option<&T::AccountId>) -> BalanceOf<T> {
		let Some(mut ledger) = Stakes::<T>::get(who) else {
			return Zero::zero();
		};
		let wanted = Self::reduce_ledger(&mut ledger, amount);
		if wanted.is_zero() {
			return Zero::zero();
		}
		let reason = HoldReason::Stake.into();
		let moved = beneficiary.and_then(|to| {
			T::Currency::transfer_on_hold(
				&reason,
				who,
				to,
				wanted,
				Precision::Exact,
				Restriction::Free,
				Fortitude::Force,
			)
			.ok()
		});
		// Burn when there is no beneficiary, or paying it failed (e.g. the amount
		// would not reach the existential deposit of a new account).
		let (slashed, paid_to) = match moved {
			Some(moved) => (moved, beneficiary.cloned()),
			None => {
				let (credit, _missing) = <T::Currency as polkadot_sdk::frame_support::traits::fungible::BalancedHold<
					_,
				>>::slash(&reason, who, wanted);
				(polkadot_sdk::frame_support::traits::Imbalance::peek(&credit), None)
			},
		};
		if ledger.is_empty() {
			Stakes::<T>::remove(who);
		} else {
			Stakes::<T>::insert(who, ledger);
		}
		Self::deposit_event(Event::Slashed {
			who: who.clone(),
			amount: slashed,
			beneficiary: paid_to,
		});
		slashed
	}

	/// Invariants: every ledger's total equals what is held for it and its bond is
	/// within its active stake; the debt totals equal the sums of the debt map, and
	/// each debtor's record deposits equal what is held for them (both ways).
	///
	/// Always compiled (the linker drops it from the Wasm unless `try-runtime`
	/// calls it), so that runtime-level tests can check it too.
	pub fn do_try_state() -> Result<(), polkadot_sdk::sp_runtime::TryRuntimeError> {
		use alloc::collections::btree_map::BTreeMap;
		use polkadot_sdk::frame_support::traits::fungible::InspectHold;
		for (who, ledger) in Stakes::<T>::iter() {
			let total = ledger.total().ok_or("stake ledger overflows")?;
			ensure!(!ledger.is_empty(), "empty stake ledger kept in storage");
			ensure!(ledger.bonded <= ledger.active, "bonded stake exceeds active stake");
			let held = T::Currency::balance_on_hold(&HoldReason::Stake.into(), &who);
			ensure!(held == total, "stake hold differs from the stake ledger");
		}
		let mut debts: BTreeMap<T::AccountId, BalanceOf<T>> = BTreeMap::new();
		let mut receivables: BTreeMap<T::AccountId, BalanceOf<T>> = BTreeMap::new();
		let mut deposits: BTreeMap<T::AccountId, BalanceOf<T>> = BTreeMap::new();
		for (debtor, creditor, debt) in Debts::<T>::iter() {
			let amount = debt.amount;
			ensure!(!amount.is_zero(), "zero debt kept in storage");
			let held = deposits.entry(debtor.clone()).or_default();
			*held = held.checked_add(&debt.deposit).ok_or("debt deposit sum overflows")?;
			let d = debts.entry(debtor).or_default();
			*d = d.checked_add(&amount).ok_or("debt sum overflows")?;
			let r = receivables.entry(creditor).or_default();
			*r = r.checked_add(&amount).ok_or("receivable sum overflows")?;
		}
		ensure!(
			TotalDebt::<T>::iter().count() == debts.len()
				&& debts.iter().all(|(who, sum)| TotalDebt::<T>::get(who) == *sum),
			"TotalDebt differs from the debt map"
		);
		ensure!(
			TotalReceivable::<T>::iter().count() == receivables.len()
				&& receivables
					.iter()
					.all(|(who, sum)| TotalReceivable::<T>::get(who) == *sum),
			"TotalReceivable differs from the debt map"
		);
		let deposit_reason = HoldReason::DebtDeposit.into();
		let stake_reason = HoldReason::Stake.into();
		for (who, _) in frame_system::Account::<T>::iter() {
			ensure!(
				T::Currency::balance_on_hold(&deposit_reason, &who) == deposits.remove(&who).unwrap_or_default(),
				"held debt deposits differ from the debt records"
			);
			if !Stakes::<T>::contains_key(&who) {
				ensure!(
					T::Currency::balance_on_hold(&stake_reason, &who).is_zero(),
					"a stake hold without a stake ledger"
				);
			}
		}
		ensure!(deposits.is_empty(), "a debt record of an account that does not exist");
		Ok(())
	}
}

impl<T: Config> StakeProvider<T::AccountId, BalanceOf<T>> for Pallet<T> {
	fn active(who: &T::AccountId) -> BalanceOf<T> {
		Stakes::<T>::get(who).map(|l| l.active).unwrap_or_default()
	}

	fn free_stake(who: &T::AccountId) -> BalanceOf<T> {
		Stakes::<T>::get(who)
			.map(|l| l.active.saturating_sub(l.bonded))
			.unwrap_or_default()
	}

	fn stake(who: &T::AccountId, amount: BalanceOf<T>) -> DispatchResult {
		Self::do_stake(who, amount)
	}

	fn bond(who: &T::AccountId, amount: BalanceOf<T>) -> DispatchResult {
		if amount.is_zero() {
			return Ok(());
		}
		let mut ledger = Stakes::<T>::get(who).ok_or(Error::<T>::InsufficientStake)?;
		let bonded = ledger.bonded.checked_add(&amount).ok_or(Error::<T>::Overflow)?;
		ensure!(bonded <= ledger.active, Error::<T>::InsufficientStake);
		ledger.bonded = bonded;
		Stakes::<T>::insert(who, ledger);
		Self::deposit_event(Event::Bonded {
			who: who.clone(),
			amount,
		});
		Ok(())
	}

	fn release_bond(who: &T::AccountId, amount: BalanceOf<T>) {
		let Some(mut ledger) = Stakes::<T>::get(who) else {
			return;
		};
		let released = amount.min(ledger.bonded);
		if released.is_zero() {
			return;
		}
		ledger.bonded = ledger.bonded.saturating_sub(released);
		Stakes::<T>::insert(who, ledger);
		Self::deposit_event(Event::BondReleased {
			who: who.clone(),
			amount: released,
		});
	}

	fn slash_bond(who: &T::AccountId, amount: BalanceOf<T>, beneficiary: Option<&T::AccountId>) -> BalanceOf<T> {
		// The bond is part of the active stake, which `slash` takes first.
		let bonded = Stakes::<T>::get(who).map(|l| l.bonded).unwrap_or_default();
		Self::slash(who, amount.min(bonded), beneficiary)
	}
}

impl<T: Config> ContributionTracker for Pallet<T> {
	fn note_contribution(fuel: Fuel) {
		ContributedFuel::<T>::mutate(|total| *total = total.saturating_add(fuel as u128));
	}
}
