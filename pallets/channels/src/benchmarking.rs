//! Benchmarks for `pallet-channels` (frame-benchmarking v2). Parties are
//! sr25519 keys from the keystore host functions, so that the closing calls
//! verify real signatures.

use super::*;
use codec::Decode;
use polkadot_sdk::{
	frame_benchmarking::v2::*,
	frame_system::RawOrigin,
	sp_core::crypto::KeyTypeId,
	sp_io::crypto::{sr25519_generate, sr25519_sign},
};

const KEY_TYPE: KeyTypeId = KeyTypeId(*b"ccbc");

/// A funded account whose id is a fresh sr25519 public key.
fn party<T: Config>() -> Signer<T> {
	let public = sr25519_generate(KEY_TYPE, None);
	let who = T::AccountId::decode(&mut &public.0[..]).expect("account ids are 32-byte keys");
	T::Currency::set_balance(&who, T::Currency::minimum_balance().saturating_mul(1_000_000u32.into()));
	(who, public)
}

fn deposit<T: Config>() -> BalanceOf<T> {
	T::Currency::minimum_balance().saturating_mul(1_000u32.into())
}

/// An account and its sr25519 key.
type Signer<T> = (<T as frame_system::Config>::AccountId, sr25519::Public);

/// The id the next `open` from `a` to `b` gets in this block.
fn next_id<T: Config>(a: &T::AccountId, b: &T::AccountId) -> ChannelId {
	Pallet::<T>::channel_id(
		a,
		b,
		NextChannelNonce::<T>::get(),
		&frame_system::Pallet::<T>::parent_hash(),
	)
}

/// A funded two-sided channel between fresh parties.
fn funded_channel<T: Config>() -> (ChannelId, Signer<T>, Signer<T>) {
	let (a, b) = (party::<T>(), party::<T>());
	let id = next_id::<T>(&a.0, &b.0);
	Pallet::<T>::open(
		RawOrigin::Signed(a.0.clone()).into(),
		b.0.clone(),
		deposit::<T>(),
		deposit::<T>(),
	)
	.expect("opens");
	Pallet::<T>::fund(RawOrigin::Signed(b.0.clone()).into(), id).expect("funds");
	(id, a, b)
}

/// A state giving A everything, signed by both: as an update, or (`closing`) as the
/// agreed close.
fn cosigned<T: Config>(
	id: ChannelId,
	a: &sr25519::Public,
	b: &sr25519::Public,
	version: u64,
	closing: bool,
) -> (StateOf<T>, sr25519::Signature, sr25519::Signature) {
	let d = deposit::<T>();
	let state = ChannelState {
		version,
		balance_a: d.saturating_add(d),
		balance_b: Zero::zero(),
	};
	let payload = if closing {
		Pallet::<T>::closing_payload(id, &state)
	} else {
		Pallet::<T>::signing_payload(id, &state)
	};
	let sign = |key| sr25519_sign(KEY_TYPE, key, &payload).expect("key is in the keystore");
	(state, sign(a), sign(b))
}

#[benchmarks]
mod benchmarks {
	use super::*;

	#[benchmark]
	fn open() {
		let (a, b) = (party::<T>(), party::<T>());
		#[extrinsic_call]
		_(RawOrigin::Signed(a.0), b.0, deposit::<T>(), deposit::<T>());
		assert_eq!(NextChannelNonce::<T>::get(), 1);
	}

	#[benchmark]
	fn fund() -> Result<(), BenchmarkError> {
		let (a, b) = (party::<T>(), party::<T>());
		let id = next_id::<T>(&a.0, &b.0);
		Pallet::<T>::open(
			RawOrigin::Signed(a.0).into(),
			b.0.clone(),
			deposit::<T>(),
			deposit::<T>(),
		)?;
		#[extrinsic_call]
		_(RawOrigin::Signed(b.0), id);
		assert_eq!(Channels::<T>::get(id).map(|c| c.phase), Some(Phase::Funded));
		Ok(())
	}

	#[benchmark]
	fn cancel_open() -> Result<(), BenchmarkError> {
		let (a, b) = (party::<T>(), party::<T>());
		let id = next_id::<T>(&a.0, &b.0);
		Pallet::<T>::open(
			RawOrigin::Signed(a.0.clone()).into(),
			b.0,
			deposit::<T>(),
			deposit::<T>(),
		)?;
		#[extrinsic_call]
		_(RawOrigin::Signed(a.0), id);
		assert!(!Channels::<T>::contains_key(id));
		Ok(())
	}

	#[benchmark]
	fn cooperative_close() {
		let (id, a, b) = funded_channel::<T>();
		let (state, sa, sb) = cosigned::<T>(id, &a.1, &b.1, 1, true);
		#[extrinsic_call]
		_(RawOrigin::Signed(a.0), id, state, sa, sb);
		assert!(!Channels::<T>::contains_key(id));
	}

	#[benchmark]
	fn close_unilateral() {
		let (id, a, b) = funded_channel::<T>();
		let (state, sa, sb) = cosigned::<T>(id, &a.1, &b.1, 1, false);
		#[extrinsic_call]
		_(RawOrigin::Signed(a.0), id, state, Some(sa), Some(sb));
		assert!(matches!(
			Channels::<T>::get(id).map(|c| c.phase),
			Some(Phase::Closing { .. })
		));
	}

	#[benchmark]
	fn challenge() -> Result<(), BenchmarkError> {
		let (id, a, b) = funded_channel::<T>();
		let (old, oa, ob) = cosigned::<T>(id, &a.1, &b.1, 1, false);
		Pallet::<T>::close_unilateral(RawOrigin::Signed(a.0.clone()).into(), id, old, Some(oa), Some(ob))?;
		let (new, na, nb) = cosigned::<T>(id, &a.1, &b.1, 2, false);
		#[extrinsic_call]
		_(RawOrigin::Signed(b.0), id, new, na, nb);
		assert!(matches!(
			Channels::<T>::get(id).map(|c| c.phase),
			Some(Phase::Closing { state, .. }) if state.version == 2
		));
		Ok(())
	}

	#[benchmark]
	fn settle() -> Result<(), BenchmarkError> {
		let (id, a, b) = funded_channel::<T>();
		let (state, sa, sb) = cosigned::<T>(id, &a.1, &b.1, 1, false);
		Pallet::<T>::close_unilateral(RawOrigin::Signed(a.0.clone()).into(), id, state, Some(sa), Some(sb))?;
		let after = frame_system::Pallet::<T>::block_number()
			.saturating_add(Pallet::<T>::challenge_period())
			.saturating_add(1u32.into());
		frame_system::Pallet::<T>::set_block_number(after);
		#[extrinsic_call]
		_(RawOrigin::Signed(b.0), id);
		assert!(!Channels::<T>::contains_key(id));
		Ok(())
	}

	#[benchmark]
	fn set_challenge_period() {
		let period = T::MinChallengePeriod::get().saturating_add(1u32.into());
		#[extrinsic_call]
		_(RawOrigin::Root, period);
		assert_eq!(ChallengePeriod::<T>::get(), period);
	}

	impl_benchmark_test_suite!(Pallet, crate::mock::new_bench_ext(), crate::mock::Test);
}
