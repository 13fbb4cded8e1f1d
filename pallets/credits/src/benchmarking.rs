//! Benchmarks for `pallet-credits` (frame-benchmarking v2).

use super::*;
use polkadot_sdk::{frame_benchmarking::v2::*, frame_system::RawOrigin};

fn funded<T: Config>(name: &'static str) -> T::AccountId {
	let who: T::AccountId = account(name, 0, 0);
	let amount = T::Currency::minimum_balance().saturating_mul(1_000_000u32.into());
	T::Currency::set_balance(&who, amount);
	who
}

fn stake_amount<T: Config>() -> BalanceOf<T> {
	T::Currency::minimum_balance().saturating_mul(1_000u32.into())
}

#[benchmarks]
mod benchmarks {
	use super::*;

	#[benchmark]
	fn stake() {
		let caller = funded::<T>("staker");
		let amount = stake_amount::<T>();
		#[extrinsic_call]
		_(RawOrigin::Signed(caller.clone()), amount);
		assert_eq!(Stakes::<T>::get(&caller).map(|l| l.active), Some(amount));
	}

	#[benchmark]
	fn unstake() -> Result<(), BenchmarkError> {
		let caller = funded::<T>("staker");
		let amount = stake_amount::<T>();
		Pallet::<T>::stake(RawOrigin::Signed(caller.clone()).into(), amount)?;
		#[extrinsic_call]
		_(RawOrigin::Signed(caller.clone()), amount);
		assert_eq!(Stakes::<T>::get(&caller).map(|l| l.unbonding.len()), Some(1));
		Ok(())
	}

	#[benchmark]
	fn withdraw_unbonded(c: Linear<1, { T::MaxUnbondingChunks::get() }>) -> Result<(), BenchmarkError> {
		let caller = funded::<T>("staker");
		let amount = stake_amount::<T>();
		Pallet::<T>::stake(
			RawOrigin::Signed(caller.clone()).into(),
			amount.saturating_mul(c.into()),
		)?;
		for _ in 0..c {
			Pallet::<T>::unstake(RawOrigin::Signed(caller.clone()).into(), amount)?;
		}
		let later = frame_system::Pallet::<T>::block_number().saturating_add(T::UnbondingPeriod::get());
		frame_system::Pallet::<T>::set_block_number(later);
		#[extrinsic_call]
		_(RawOrigin::Signed(caller.clone()));
		assert!(Stakes::<T>::get(&caller).is_none());
		Ok(())
	}

	#[benchmark]
	fn credit_worker() {
		let caller = funded::<T>("requester");
		let worker: T::AccountId = account("worker", 0, 0);
		let amount = stake_amount::<T>();
		#[extrinsic_call]
		_(RawOrigin::Signed(caller.clone()), worker.clone(), amount);
		assert_eq!(Debts::<T>::get(&caller, &worker).map(|d| d.amount), Some(amount));
	}

	#[benchmark]
	fn settle_debt() -> Result<(), BenchmarkError> {
		let caller = funded::<T>("requester");
		let worker: T::AccountId = account("worker", 0, 0);
		let amount = stake_amount::<T>();
		Pallet::<T>::credit_worker(RawOrigin::Signed(caller.clone()).into(), worker.clone(), amount)?;
		#[extrinsic_call]
		_(RawOrigin::Signed(caller.clone()), worker.clone(), amount);
		assert!(!Debts::<T>::contains_key(&caller, &worker));
		Ok(())
	}

	impl_benchmark_test_suite!(Pallet, crate::mock::new_test_ext(), crate::mock::Test);
}
