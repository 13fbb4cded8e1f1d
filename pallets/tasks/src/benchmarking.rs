//! Benchmarks for `pallet-tasks` (frame-benchmarking v2). Workers are staked
//! through `T::Stakes`.

use super::*;
use polkadot_sdk::{frame_benchmarking::v2::*, frame_system::RawOrigin};

fn funded<T: Config>(name: &'static str, i: u32) -> T::AccountId {
	let who: T::AccountId = account(name, i, 0);
	let amount = T::Currency::minimum_balance()
		.saturating_add(T::MinWorkerStake::get())
		.saturating_mul(1_000u32.into());
	T::Currency::set_balance(&who, amount);
	who
}

fn worker<T: Config>(i: u32) -> T::AccountId {
	let who = funded::<T>("worker", i);
	T::Stakes::stake(&who, T::MinWorkerStake::get()).expect("worker is funded");
	let caps: CapabilitiesOf<T> = BoundedVec::default();
	Pallet::<T>::register_worker(RawOrigin::Signed(who.clone()).into(), caps, BoundedVec::default())
		.expect("worker registers");
	who
}

fn max_bytes<S: Get<u32>>() -> BoundedVec<u8, S> {
	alloc::vec![7u8; S::get() as usize]
		.try_into()
		.expect("length is the bound")
}

fn post<T: Config>(requester: &T::AccountId, redundancy: u8) -> TaskId {
	let id = NextTaskId::<T>::get();
	let deadline = frame_system::Pallet::<T>::block_number().saturating_add(T::MaxTaskDuration::get());
	let bounty = T::Currency::minimum_balance().saturating_mul(100u32.into());
	Pallet::<T>::post_task(
		RawOrigin::Signed(requester.clone()).into(),
		max_bytes::<T::MaxTaskTypeLen>(),
		max_bytes::<T::MaxInputRefLen>(),
		max_bytes::<T::MaxOutputSpecLen>(),
		bounty,
		deadline,
		redundancy,
	)
	.expect("task posts");
	id
}

#[benchmarks]
mod benchmarks {
	use super::*;

	#[benchmark]
	fn register_worker() {
		let who = funded::<T>("worker", 0);
		T::Stakes::stake(&who, T::MinWorkerStake::get()).expect("worker is funded");
		let cap = max_bytes::<T::MaxCapabilityLen>();
		let caps: CapabilitiesOf<T> = alloc::vec![cap; T::MaxCapabilities::get() as usize]
			.try_into()
			.expect("bounded");
		#[extrinsic_call]
		_(RawOrigin::Signed(who.clone()), caps, max_bytes::<T::MaxEndpointLen>());
		assert!(Workers::<T>::contains_key(&who));
	}

	#[benchmark]
	fn update_worker() {
		let who = worker::<T>(0);
		#[extrinsic_call]
		_(
			RawOrigin::Signed(who.clone()),
			BoundedVec::default(),
			max_bytes::<T::MaxEndpointLen>(),
		);
		assert_eq!(
			Workers::<T>::get(&who).map(|w| w.endpoint.len() as u32),
			Some(T::MaxEndpointLen::get())
		);
	}

	#[benchmark]
	fn deregister_worker() {
		let who = worker::<T>(0);
		#[extrinsic_call]
		_(RawOrigin::Signed(who.clone()));
		assert!(!Workers::<T>::contains_key(&who));
	}

	#[benchmark]
	fn post_task() {
		let requester = funded::<T>("requester", 0);
		let deadline = frame_system::Pallet::<T>::block_number().saturating_add(T::MaxTaskDuration::get());
		let bounty = T::Currency::minimum_balance().saturating_mul(100u32.into());
		#[extrinsic_call]
		_(
			RawOrigin::Signed(requester),
			max_bytes::<T::MaxTaskTypeLen>(),
			max_bytes::<T::MaxInputRefLen>(),
			max_bytes::<T::MaxOutputSpecLen>(),
			bounty,
			deadline,
			T::MaxRedundancy::get(),
		);
		assert!(Tasks::<T>::contains_key(0));
	}

	#[benchmark]
	fn claim() {
		let requester = funded::<T>("requester", 0);
		let id = post::<T>(&requester, 1);
		let w = worker::<T>(0);
		#[extrinsic_call]
		_(RawOrigin::Signed(w.clone()), id);
		assert!(Assignments::<T>::contains_key(id, &w));
	}

	#[benchmark]
	fn submit_result() -> Result<(), BenchmarkError> {
		let requester = funded::<T>("requester", 0);
		let id = post::<T>(&requester, 1);
		let w = worker::<T>(0);
		Pallet::<T>::claim(RawOrigin::Signed(w.clone()).into(), id)?;
		#[extrinsic_call]
		_(RawOrigin::Signed(w.clone()), id, H256::repeat_byte(1), 1_000);
		assert!(Pallet::<T>::result_of(id, &w).is_some());
		Ok(())
	}

	#[benchmark]
	fn accept(r: Linear<1, { T::MaxRedundancy::get() as u32 }>) -> Result<(), BenchmarkError> {
		let requester = funded::<T>("requester", 0);
		let id = post::<T>(&requester, r as u8);
		let mut first = None;
		for i in 0..r {
			let w = worker::<T>(i);
			Pallet::<T>::claim(RawOrigin::Signed(w.clone()).into(), id)?;
			Pallet::<T>::submit_result(RawOrigin::Signed(w.clone()).into(), id, H256::repeat_byte(1), 1)?;
			first.get_or_insert(w);
		}
		let chosen = first.ok_or(BenchmarkError::Stop("no worker"))?;
		#[extrinsic_call]
		_(RawOrigin::Signed(requester), id, chosen);
		assert!(matches!(
			Tasks::<T>::get(id).map(|t| t.status),
			Some(TaskStatus::Completed { .. })
		));
		Ok(())
	}

	#[benchmark]
	fn expire(r: Linear<1, { T::MaxRedundancy::get() as u32 }>) -> Result<(), BenchmarkError> {
		let requester = funded::<T>("requester", 0);
		let id = post::<T>(&requester, r as u8);
		for i in 0..r {
			let w = worker::<T>(i);
			Pallet::<T>::claim(RawOrigin::Signed(w).into(), id)?;
		}
		let deadline = Tasks::<T>::get(id)
			.map(|t| t.deadline)
			.ok_or(BenchmarkError::Stop("no task"))?;
		frame_system::Pallet::<T>::set_block_number(deadline.saturating_add(1u32.into()));
		#[extrinsic_call]
		_(RawOrigin::Signed(requester), id);
		assert_eq!(Tasks::<T>::get(id).map(|t| t.status), Some(TaskStatus::Expired));
		Ok(())
	}

	impl_benchmark_test_suite!(Pallet, crate::mock::new_test_ext(), crate::mock::Test);
}
