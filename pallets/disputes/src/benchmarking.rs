//! Benchmarks for `pallet-disputes` (frame-benchmarking v2). They drive the
//! real tasks and credits pallets through [`Config::BenchmarkHelper`].

use super::*;
use polkadot_sdk::{frame_benchmarking::v2::*, frame_system::RawOrigin};

const SALT: [u8; 32] = [3; 32];

fn funded<T: Config>(name: &'static str, i: u32) -> T::AccountId {
	let who: T::AccountId = account(name, i, 0);
	let amount = T::OutsiderChallengeStake::get()
		.saturating_add(T::VerifierBond::get())
		.saturating_add(T::Currency::minimum_balance())
		.saturating_mul(1_000u32.into());
	T::Currency::set_balance(&who, amount);
	who
}

/// `n` staked workers able to verify.
fn verifiers<T: Config>(n: u32) {
	for i in 0..n {
		T::BenchmarkHelper::worker(&funded::<T>("verifier", i));
	}
}

/// A dispute over a revealed result, with `n` candidate verifiers registered;
/// returns its id. The challenger (the requester) committed to an expected hash.
fn open_dispute<T: Config>(n: u32) -> Result<DisputeId, BenchmarkError> {
	let requester = funded::<T>("requester", 0);
	let worker = funded::<T>("worker", 0);
	T::BenchmarkHelper::worker(&worker);
	verifiers::<T>(n);
	let task = T::BenchmarkHelper::task_with_result(&requester, &worker, H256::repeat_byte(1));
	let id = NextDisputeId::<T>::get();
	let expected = Pallet::<T>::expected_commitment(task, &worker, &H256::repeat_byte(2), &SALT);
	Pallet::<T>::challenge(RawOrigin::Signed(requester).into(), task, worker, Some(expected))?;
	Ok(id)
}

/// Run the draw of dispute `id` now; returns the dispute.
fn drawn<T: Config>(id: DisputeId) -> Result<DisputeOf<T>, BenchmarkError> {
	let Some(DisputePhase::Drawing { draw_at }) = Disputes::<T>::get(id).map(|d| d.phase) else {
		return Err(BenchmarkError::Stop("not waiting for a draw"));
	};
	frame_system::Pallet::<T>::set_block_number(draw_at);
	Pallet::<T>::on_initialize(draw_at);
	Disputes::<T>::get(id).ok_or(BenchmarkError::Stop("no dispute"))
}

/// Every drawn verifier commits to a hash differing from the worker's.
fn committed<T: Config>(id: DisputeId) -> Result<DisputeOf<T>, BenchmarkError> {
	let dispute = drawn::<T>(id)?;
	for v in dispute.verifiers.iter() {
		let c = Pallet::<T>::vote_commitment(id, v, &H256::repeat_byte(2), &SALT);
		Pallet::<T>::commit_vote(RawOrigin::Signed(v.clone()).into(), id, c)?;
	}
	Disputes::<T>::get(id).ok_or(BenchmarkError::Stop("no dispute"))
}

#[benchmarks]
mod benchmarks {
	use super::*;

	#[benchmark]
	fn challenge() -> Result<(), BenchmarkError> {
		let requester = funded::<T>("requester", 0);
		let worker = funded::<T>("worker", 0);
		T::BenchmarkHelper::worker(&worker);
		verifiers::<T>(T::MinVerifiers::get());
		let task = T::BenchmarkHelper::task_with_result(&requester, &worker, H256::repeat_byte(1));
		let expected = Pallet::<T>::expected_commitment(task, &worker, &H256::repeat_byte(2), &SALT);
		#[extrinsic_call]
		_(RawOrigin::Signed(requester), task, worker, Some(expected));
		assert!(Disputes::<T>::contains_key(0));
		Ok(())
	}

	#[benchmark]
	fn draw(
		w: Linear<{ T::MinVerifiers::get() }, { T::MaxCandidates::get().saturating_sub(2) }>,
	) -> Result<(), BenchmarkError> {
		let id = open_dispute::<T>(w)?;
		#[block]
		{
			drawn::<T>(id)?;
		}
		assert!(matches!(
			Disputes::<T>::get(id).map(|d| d.phase),
			Some(DisputePhase::Voting { .. })
		));
		Ok(())
	}

	#[benchmark]
	fn commit_vote() -> Result<(), BenchmarkError> {
		let id = open_dispute::<T>(T::VerifierCount::get())?;
		let dispute = drawn::<T>(id)?;
		// The last verifier to commit scans the longest list.
		for v in dispute.verifiers.iter().skip(1) {
			let c = Pallet::<T>::vote_commitment(id, v, &H256::repeat_byte(2), &SALT);
			Pallet::<T>::commit_vote(RawOrigin::Signed(v.clone()).into(), id, c)?;
		}
		let verifier = dispute
			.verifiers
			.first()
			.cloned()
			.ok_or(BenchmarkError::Stop("no verifier"))?;
		let c = Pallet::<T>::vote_commitment(id, &verifier, &H256::repeat_byte(2), &SALT);
		#[extrinsic_call]
		_(RawOrigin::Signed(verifier), id, c);
		Ok(())
	}

	#[benchmark]
	fn reveal_vote() -> Result<(), BenchmarkError> {
		let id = open_dispute::<T>(T::VerifierCount::get())?;
		let dispute = committed::<T>(id)?;
		// Not the last reveal (that one also concludes: `resolve` covers it).
		let verifier = dispute
			.verifiers
			.first()
			.cloned()
			.ok_or(BenchmarkError::Stop("no verifier"))?;
		#[extrinsic_call]
		_(RawOrigin::Signed(verifier), id, H256::repeat_byte(2), SALT);
		Ok(())
	}

	#[benchmark]
	fn reveal_expected() -> Result<(), BenchmarkError> {
		let id = open_dispute::<T>(T::VerifierCount::get())?;
		let dispute = committed::<T>(id)?;
		let key = Pallet::<T>::auditor_key(&dispute.challenger, &SALT);
		Pallet::<T>::register_auditor(RawOrigin::Root.into(), key)?;
		#[extrinsic_call]
		_(
			RawOrigin::Signed(dispute.challenger.clone()),
			id,
			H256::repeat_byte(2),
			SALT,
			Some(SALT),
		);
		assert!(Disputes::<T>::get(id).is_some_and(|d| d.audit));
		Ok(())
	}

	#[benchmark]
	fn resolve() -> Result<(), BenchmarkError> {
		// Worst case: every verifier committed, all but one revealed (that one is
		// slashed), the worker is at fault (rewards paid from its bond).
		let id = open_dispute::<T>(T::VerifierCount::get())?;
		let dispute = committed::<T>(id)?;
		let count = dispute.verifiers.len();
		for v in dispute.verifiers.iter().take(count.saturating_sub(1)) {
			Pallet::<T>::reveal_vote(RawOrigin::Signed(v.clone()).into(), id, H256::repeat_byte(2), SALT)?;
		}
		Pallet::<T>::reveal_expected(
			RawOrigin::Signed(dispute.challenger.clone()).into(),
			id,
			H256::repeat_byte(2),
			SALT,
			None,
		)?;
		let DisputePhase::Voting { reveal_ends, .. } = dispute.phase else {
			return Err(BenchmarkError::Stop("not voting"));
		};
		frame_system::Pallet::<T>::set_block_number(reveal_ends.saturating_add(1u32.into()));
		let caller = funded::<T>("caller", 0);
		#[extrinsic_call]
		_(RawOrigin::Signed(caller), id);
		assert!(!Disputes::<T>::contains_key(id));
		Ok(())
	}

	#[benchmark]
	fn register_auditor() {
		#[extrinsic_call]
		_(RawOrigin::Root, H256::repeat_byte(9));
		assert!(Auditors::<T>::contains_key(H256::repeat_byte(9)));
	}

	impl_benchmark_test_suite!(Pallet, crate::mock::new_test_ext(), crate::mock::Test);
}
