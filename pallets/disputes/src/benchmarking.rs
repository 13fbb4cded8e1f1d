//! Benchmarks for `pallet-disputes` (frame-benchmarking v2). They drive the
//! real tasks and credits pallets through [`Config::BenchmarkHelper`].

use super::*;
use polkadot_sdk::{frame_benchmarking::v2::*, frame_system::RawOrigin};

fn funded<T: Config>(name: &'static str, i: u32) -> T::AccountId {
	let who: T::AccountId = account(name, i, 0);
	let amount = T::ChallengeStake::get()
		.saturating_add(T::WorkerSlash::get())
		.saturating_add(T::Currency::minimum_balance())
		.saturating_mul(1_000u32.into());
	T::Currency::set_balance(&who, amount);
	who
}

/// A dispute with `VerifierCount` verifiers and no votes yet.
fn open_dispute<T: Config>() -> Result<DisputeId, BenchmarkError> {
	let requester = funded::<T>("requester", 0);
	let worker = funded::<T>("worker", 0);
	T::BenchmarkHelper::worker(&worker);
	for i in 0..T::VerifierCount::get() {
		T::BenchmarkHelper::worker(&funded::<T>("verifier", i));
	}
	let task = T::BenchmarkHelper::task_with_result(&requester, &worker, H256::repeat_byte(1));
	let id = NextDisputeId::<T>::get();
	Pallet::<T>::challenge(RawOrigin::Signed(requester).into(), task, worker)?;
	Ok(id)
}

#[benchmarks]
mod benchmarks {
	use super::*;

	#[benchmark]
	fn challenge() -> Result<(), BenchmarkError> {
		let requester = funded::<T>("requester", 0);
		let worker = funded::<T>("worker", 0);
		T::BenchmarkHelper::worker(&worker);
		for i in 0..T::VerifierCount::get() {
			T::BenchmarkHelper::worker(&funded::<T>("verifier", i));
		}
		let task = T::BenchmarkHelper::task_with_result(&requester, &worker, H256::repeat_byte(1));
		#[extrinsic_call]
		_(RawOrigin::Signed(requester), task, worker);
		assert!(Disputes::<T>::contains_key(0));
		Ok(())
	}

	#[benchmark]
	fn vote() -> Result<(), BenchmarkError> {
		let id = open_dispute::<T>()?;
		let verifier = Disputes::<T>::get(id)
			.and_then(|d| d.verifiers.first().cloned())
			.ok_or(BenchmarkError::Stop("no verifier"))?;
		#[extrinsic_call]
		_(RawOrigin::Signed(verifier), id, H256::repeat_byte(2));
		Ok(())
	}

	#[benchmark]
	fn resolve() -> Result<(), BenchmarkError> {
		let id = open_dispute::<T>()?;
		let dispute = Disputes::<T>::get(id).ok_or(BenchmarkError::Stop("no dispute"))?;
		// Every verifier but the last votes against the worker: the worst case pays
		// rewards and slashes; the last vote is left so that `resolve` runs the verdict.
		let count = dispute.verifiers.len();
		for v in dispute.verifiers.iter().take(count.saturating_sub(1)) {
			Pallet::<T>::vote(RawOrigin::Signed(v.clone()).into(), id, H256::repeat_byte(2))?;
		}
		let after = dispute.voting_ends.saturating_add(1u32.into());
		frame_system::Pallet::<T>::set_block_number(after);
		let caller = funded::<T>("caller", 0);
		#[extrinsic_call]
		_(RawOrigin::Signed(caller), id);
		assert!(!Disputes::<T>::contains_key(id));
		Ok(())
	}

	impl_benchmark_test_suite!(Pallet, crate::mock::new_test_ext(), crate::mock::Test);
}
