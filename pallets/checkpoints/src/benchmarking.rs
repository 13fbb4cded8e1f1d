//! Benchmarks for `pallet-checkpoints` (frame-benchmarking v2), with a full
//! history and a maximal transaction id (the worst case).

use super::*;
use polkadot_sdk::{frame_benchmarking::v2::*, frame_system::RawOrigin};

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

	impl_benchmark_test_suite!(Pallet, crate::mock::new_test_ext(), crate::mock::Test);
}
