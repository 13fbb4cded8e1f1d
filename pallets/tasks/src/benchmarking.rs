//! Benchmarks for `pallet-tasks` (frame-benchmarking v2). Workers are staked
//! through `T::Stakes`.

use super::*;
use polkadot_sdk::{frame_benchmarking::v2::*, frame_system::RawOrigin};

fn funded<T: Config>(name: &'static str, i: u32) -> T::AccountId {
	let who: T::AccountId = account(name, i, 0);
	let amount = T::Currency::minimum_balance()
		.saturating_add(T::MinWorkerStake::get())
		.saturating_mul(1_000u32.into());
	T::Currency::set_balance(
		&who,
		amount.saturating_add(T::ClaimBond::get().saturating_mul(1_000u32.into())),
	);
	who
}

/// Fill the registry with `n` workers (the list's size is what register and
/// deregister pay for).
fn registry<T: Config>(n: u32) {
	for i in 0..n {
		worker::<T>(1_000 + i);
	}
}

/// `worker`'s commitment to `hash` (fuel 1_000, salt of 7s) for `task_id`.
fn commit<T: Config>(task_id: TaskId, worker: &T::AccountId, hash: H256) -> H256 {
	Pallet::<T>::result_commitment(task_id, worker, &hash, 1_000, &[7u8; 32])
}

fn worker<T: Config>(i: u32) -> T::AccountId {
	let who = funded::<T>("worker", i);
	T::Stakes::stake(&who, T::MinWorkerStake::get().saturating_add(T::ClaimBond::get())).expect("worker is funded");
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
	// Large enough that every winner's share stays reputable at any redundancy:
	// each new payer is then recorded (`PaidBy`), the settlement's worst case.
	let bounty = T::Currency::minimum_balance()
		.saturating_mul(100u32.into())
		.max(T::MinReputableShare::get().saturating_mul(T::MaxRedundancy::get().into()));
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
		// Worst case: the list holds MaxWorkers - 1 workers (decoded and re-encoded).
		registry::<T>(T::MaxWorkers::get().saturating_sub(1));
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
		// Worst case: a full list, the leaving worker registered first.
		let who = worker::<T>(0);
		registry::<T>(T::MaxWorkers::get().saturating_sub(1));
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
		let commitment = commit::<T>(id, &w, H256::repeat_byte(1));
		#[extrinsic_call]
		_(RawOrigin::Signed(w.clone()), id, commitment);
		assert_eq!(
			Assignments::<T>::get(id, &w).and_then(|a| a.commitment),
			Some(commitment)
		);
		Ok(())
	}

	#[benchmark]
	fn reveal_result() -> Result<(), BenchmarkError> {
		let requester = funded::<T>("requester", 0);
		let id = post::<T>(&requester, 1);
		let w = worker::<T>(0);
		let hash = H256::repeat_byte(1);
		Pallet::<T>::claim(RawOrigin::Signed(w.clone()).into(), id)?;
		Pallet::<T>::submit_result(RawOrigin::Signed(w.clone()).into(), id, commit::<T>(id, &w, hash))?;
		#[extrinsic_call]
		_(RawOrigin::Signed(w.clone()), id, hash, 1_000, [7u8; 32]);
		assert_eq!(
			Assignments::<T>::get(id, &w).and_then(|a| a.result),
			Some((hash, 1_000))
		);
		Ok(())
	}

	#[benchmark]
	fn finalize(r: Linear<1, { T::MaxRedundancy::get() as u32 }>) -> Result<(), BenchmarkError> {
		// Worst case for r claimants: the first one never reveals (its bond is
		// slashed), the others reveal one hash and are paid by a new requester.
		let requester = funded::<T>("requester", 0);
		let id = post::<T>(&requester, r as u8);
		let hash = H256::repeat_byte(1);
		for i in 0..r {
			let w = worker::<T>(i);
			Pallet::<T>::claim(RawOrigin::Signed(w.clone()).into(), id)?;
			Pallet::<T>::submit_result(RawOrigin::Signed(w.clone()).into(), id, commit::<T>(id, &w, hash))?;
		}
		for i in 1..r {
			let w: T::AccountId = account("worker", i, 0);
			Pallet::<T>::reveal_result(RawOrigin::Signed(w).into(), id, hash, 1_000, [7u8; 32])?;
		}
		let task = Tasks::<T>::get(id).ok_or(BenchmarkError::Stop("no task"))?;
		frame_system::Pallet::<T>::set_block_number(Pallet::<T>::challenge_ends(&task).saturating_add(1u32.into()));
		#[extrinsic_call]
		_(RawOrigin::Signed(requester), id);
		assert!(Tasks::<T>::get(id).is_some_and(|t| t.status != TaskStatus::Open));
		Ok(())
	}

	#[benchmark]
	fn reap() -> Result<(), BenchmarkError> {
		let requester = funded::<T>("requester", 0);
		let id = post::<T>(&requester, 1);
		let task = Tasks::<T>::get(id).ok_or(BenchmarkError::Stop("no task"))?;
		frame_system::Pallet::<T>::set_block_number(Pallet::<T>::reveal_ends(&task).saturating_add(1u32.into()));
		Pallet::<T>::expire(RawOrigin::Signed(requester.clone()).into(), id)?;
		frame_system::Pallet::<T>::set_block_number(
			frame_system::Pallet::<T>::block_number()
				.saturating_add(T::TaskRetention::get())
				.saturating_add(1u32.into()),
		);
		#[extrinsic_call]
		_(RawOrigin::Signed(requester), id);
		assert!(!Tasks::<T>::contains_key(id));
		Ok(())
	}

	#[benchmark]
	fn cancel_task() -> Result<(), BenchmarkError> {
		let requester = funded::<T>("requester", 0);
		let id = post::<T>(&requester, T::MaxRedundancy::get());
		#[extrinsic_call]
		_(RawOrigin::Signed(requester), id);
		assert!(!Tasks::<T>::contains_key(id));
		Ok(())
	}

	impl_benchmark_test_suite!(Pallet, crate::mock::new_test_ext(), crate::mock::Test);
}
