//! Benchmarks for `pallet-checkpoints` (frame-benchmarking v2), with a full
//! history and a maximal transaction id (the worst case); a job's record at its
//! first checkpoint (the deposit is held) and its clearing (released).

use super::*;
use polkadot_sdk::{
	frame_benchmarking::v2::*,
	frame_support::traits::fungible::{Inspect, Mutate},
	frame_system::RawOrigin,
	sp_runtime::traits::Saturating,
};

/// An account with the deposit and the existential deposit, and some more.
fn funded<T: Config>() -> T::AccountId {
	let owner: T::AccountId = whitelisted_caller();
	let amount = T::JobRecordDeposit::get()
		.saturating_add(T::Currency::minimum_balance())
		.saturating_mul(10u32.into());
	T::Currency::set_balance(&owner, amount);
	owner
}

fn max_tx_id<T: Config>() -> BoundedVec<u8, T::MaxTxIdLen> {
	alloc::vec![b'a'; T::MaxTxIdLen::get() as usize]
		.try_into()
		.expect("length is the bound")
}

fn fill_history<T: Config>(owner: &T::AccountId) -> Result<(), BenchmarkError> {
	for i in 0..T::MaxHistory::get() {
		Pallet::<T>::record(
			RawOrigin::Signed(owner.clone()).into(),
			H256::repeat_byte(i as u8),
			max_tx_id::<T>(),
			i.into(),
		)?;
	}
	Ok(())
}

#[benchmarks]
mod benchmarks {
	use super::*;

	#[benchmark]
	fn record() -> Result<(), BenchmarkError> {
		let owner: T::AccountId = whitelisted_caller();
		fill_history::<T>(&owner)?;
		#[extrinsic_call]
		_(
			RawOrigin::Signed(owner.clone()),
			H256::repeat_byte(0xff),
			max_tx_id::<T>(),
			u64::MAX,
		);
		assert_eq!(Latest::<T>::get(&owner).map(|r| r.size), Some(u64::MAX));
		Ok(())
	}

	#[benchmark]
	fn clear() -> Result<(), BenchmarkError> {
		let owner: T::AccountId = whitelisted_caller();
		fill_history::<T>(&owner)?;
		#[extrinsic_call]
		_(RawOrigin::Signed(owner.clone()));
		assert!(!Latest::<T>::contains_key(&owner));
		Ok(())
	}

	#[benchmark]
	fn record_job() -> Result<(), BenchmarkError> {
		let owner = funded::<T>();
		#[extrinsic_call]
		_(
			RawOrigin::Signed(owner.clone()),
			[7u8; 16],
			u32::MAX,
			H256::repeat_byte(0xff),
			max_tx_id::<T>(),
			u64::MAX,
		);
		assert_eq!(
			JobCheckpoints::<T>::get(&owner, [7u8; 16]).map(|j| j.checkpoint),
			Some(u32::MAX)
		);
		Ok(())
	}

	#[benchmark]
	fn clear_job() -> Result<(), BenchmarkError> {
		let owner = funded::<T>();
		Pallet::<T>::record_job(
			RawOrigin::Signed(owner.clone()).into(),
			[7u8; 16],
			1,
			H256::repeat_byte(1),
			max_tx_id::<T>(),
			1,
		)?;
		let cleared = frame_system::Pallet::<T>::block_number().saturating_add(T::JobRecordRetention::get());
		frame_system::Pallet::<T>::set_block_number(cleared);
		#[extrinsic_call]
		_(RawOrigin::Signed(owner.clone()), [7u8; 16]);
		assert!(JobCheckpoints::<T>::get(&owner, [7u8; 16]).is_none());
		Ok(())
	}

	impl_benchmark_test_suite!(Pallet, crate::mock::new_test_ext(), crate::mock::Test);
}
