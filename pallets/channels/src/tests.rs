//! Unit tests of the channels pallet against the mock runtime.

use crate::{mock::*, ChannelState, Channels as ChannelRecords, Error, Event, HoldReason, Phase};
use polkadot_sdk::{
	frame_support::{
		assert_noop, assert_ok,
		traits::fungible::{Inspect, InspectHold},
	},
	sp_core::{sr25519, Pair, H256},
	sp_keyring::Sr25519Keyring,
};

#[path = "tests_vectors.rs"]
mod vectors;

fn origin(who: AccountId) -> RuntimeOrigin {
	RuntimeOrigin::signed(who)
}

fn held(who: &AccountId) -> Balance {
	Balances::balance_on_hold(&RuntimeHoldReason::Channels(HoldReason::ChannelDeposit), who)
}

fn state(version: u64, balance_a: Balance, balance_b: Balance) -> ChannelState<Balance> {
	ChannelState {
		version,
		balance_a,
		balance_b,
	}
}

fn sign(key: Sr25519Keyring, channel_id: H256, s: &ChannelState<Balance>) -> sr25519::Signature {
	key.pair().sign(&Channels::signing_payload(channel_id, s))
}

fn sign_close(key: Sr25519Keyring, channel_id: H256, s: &ChannelState<Balance>) -> sr25519::Signature {
	key.pair().sign(&Channels::closing_payload(channel_id, s))
}

/// Alice's (A) and Bob's (B) agreement to close with `s`.
fn agree_close(channel_id: H256, s: &ChannelState<Balance>) -> (sr25519::Signature, sr25519::Signature) {
	(
		sign_close(Sr25519Keyring::Alice, channel_id, s),
		sign_close(Sr25519Keyring::Bob, channel_id, s),
	)
}

/// Signatures of Alice (A) and Bob (B) over update `s`.
fn cosign(channel_id: H256, s: &ChannelState<Balance>) -> (sr25519::Signature, sr25519::Signature) {
	(
		sign(Sr25519Keyring::Alice, channel_id, s),
		sign(Sr25519Keyring::Bob, channel_id, s),
	)
}

/// Alice opens to Bob with `a` and asks `b` of Bob, who funds it if positive.
fn open_funded(a: Balance, b: Balance) -> H256 {
	let id = Channels::channel_id(&alice(), &bob(), crate::NextChannelNonce::<Test>::get());
	assert_ok!(Channels::open(origin(alice()), bob(), a, b));
	if b > 0 {
		assert_ok!(Channels::fund(origin(bob()), id));
	}
	id
}

fn free(who: &AccountId) -> Balance {
	Balances::balance(who)
}

mod open_and_fund {
	use super::*;

	#[test]
	fn one_sided_channel_is_funded_at_once() {
		run_test(|| {
			let id = open_funded(1_000, 0);
			System::assert_has_event(
				Event::ChannelOpened {
					channel_id: id,
					party_a: alice(),
					party_b: bob(),
					deposit_a: 1_000,
					deposit_b: 0,
				}
				.into(),
			);
			System::assert_last_event(Event::ChannelFunded { channel_id: id }.into());
			assert_eq!(ChannelRecords::<Test>::get(id).unwrap().phase, Phase::Funded);
			assert_eq!(held(&alice()), 1_000);
		});
	}

	#[test]
	fn two_sided_channel_waits_for_fund_and_can_be_cancelled() {
		run_test(|| {
			let id = Channels::channel_id(&alice(), &bob(), 0);
			assert_ok!(Channels::open(origin(alice()), bob(), 100, 50));
			assert_eq!(ChannelRecords::<Test>::get(id).unwrap().phase, Phase::Opening);
			assert_noop!(Channels::fund(origin(charlie()), id), Error::<Test>::NotParty);
			assert_noop!(Channels::cancel_open(origin(charlie()), id), Error::<Test>::NotParty);
			assert_ok!(Channels::cancel_open(origin(bob()), id));
			System::assert_last_event(Event::ChannelCancelled { channel_id: id }.into());
			assert_eq!(held(&alice()), 0);
			assert!(ChannelRecords::<Test>::get(id).is_none());
			let id = open_funded(100, 50);
			assert_eq!(held(&bob()), 50);
			assert_noop!(Channels::fund(origin(bob()), id), Error::<Test>::NotOpening);
			assert_noop!(Channels::cancel_open(origin(alice()), id), Error::<Test>::NotOpening);
		});
	}

	#[test]
	fn errors() {
		run_test(|| {
			assert_noop!(
				Channels::open(origin(alice()), alice(), 1, 0),
				Error::<Test>::SelfChannel
			);
			assert_noop!(Channels::open(origin(alice()), bob(), 0, 0), Error::<Test>::ZeroDeposit);
			assert_noop!(
				Channels::open(origin(alice()), bob(), INITIAL, 0),
				Error::<Test>::InsufficientBalance
			);
			assert_noop!(
				Channels::open(origin(alice()), bob(), Balance::MAX, 1),
				Error::<Test>::Overflow
			);
			assert_noop!(
				Channels::fund(origin(bob()), H256::zero()),
				Error::<Test>::UnknownChannel
			);
			let id = Channels::channel_id(&alice(), &bob(), 0);
			assert_ok!(Channels::open(origin(alice()), bob(), 1, INITIAL));
			assert_noop!(Channels::fund(origin(bob()), id), Error::<Test>::InsufficientBalance);
			crate::NextChannelNonce::<Test>::put(u64::MAX);
			assert_noop!(Channels::open(origin(alice()), bob(), 1, 0), Error::<Test>::Overflow);
		});
	}

	#[test]
	fn ids_differ_per_nonce_and_parties() {
		run_test(|| {
			let a = Channels::channel_id(&alice(), &bob(), 0);
			assert_ne!(a, Channels::channel_id(&alice(), &bob(), 1));
			assert_ne!(a, Channels::channel_id(&bob(), &alice(), 0));
		});
	}
}

mod cooperative_close {
	use super::*;

	#[test]
	fn pays_out_exactly() {
		run_test(|| {
			let id = open_funded(1_000, 200);
			let s = state(1_000, 400, 800);
			let (sa, sb) = agree_close(id, &s);
			assert_ok!(Channels::cooperative_close(origin(charlie()), id, s, sa, sb));
			System::assert_last_event(
				Event::ChannelClosed {
					channel_id: id,
					version: 1_000,
					balance_a: 400,
					balance_b: 800,
				}
				.into(),
			);
			assert_eq!(free(&alice()), INITIAL - 600);
			assert_eq!(free(&bob()), INITIAL + 600);
			assert_eq!((held(&alice()), held(&bob())), (0, 0));
			assert!(ChannelRecords::<Test>::get(id).is_none());
		});
	}

	#[test]
	fn edge_balances_zero_and_all() {
		run_test(|| {
			let id = open_funded(1_000, 0);
			let s = state(u64::MAX, 0, 1_000);
			let (sa, sb) = agree_close(id, &s);
			assert_ok!(Channels::cooperative_close(origin(alice()), id, s, sa, sb));
			assert_eq!(free(&bob()), INITIAL + 1_000);
			let id = open_funded(1, 0);
			let s = state(1, 1, 0);
			let (sa, sb) = agree_close(id, &s);
			assert_ok!(Channels::cooperative_close(origin(alice()), id, s, sa, sb));
			assert_eq!(free(&alice()), INITIAL - 1_000);
		});
	}

	#[test]
	fn rejects_bad_states_and_signatures() {
		run_test(|| {
			let id = open_funded(1_000, 0);
			let s = state(1, 500, 500);
			let (sa, sb) = agree_close(id, &s);
			let c = |st, a, b| Channels::cooperative_close(origin(alice()), id, st, a, b);
			assert_noop!(c(state(1, 500, 501), sa, sb), Error::<Test>::BalanceMismatch);
			assert_noop!(c(state(1, Balance::MAX, 1), sa, sb), Error::<Test>::BalanceMismatch);
			// A signature over another version, or by the wrong key, is rejected.
			assert_noop!(c(state(2, 500, 500), sa, sb), Error::<Test>::BadSignatureA);
			assert_noop!(c(s, sb, sa), Error::<Test>::BadSignatureA);
			let charlie_sig = sign_close(Sr25519Keyring::Charlie, id, &s);
			assert_noop!(c(s, sa, charlie_sig), Error::<Test>::BadSignatureB);
			// A state signed for another channel does not replay here.
			let other = open_funded(1_000, 0);
			let (oa, ob) = agree_close(other, &s);
			assert_noop!(c(s, oa, ob), Error::<Test>::BadSignatureA);
			assert_noop!(
				Channels::cooperative_close(origin(alice()), H256::zero(), s, sa, sb),
				Error::<Test>::UnknownChannel
			);
			assert_ok!(c(s, sa, sb));
			// Replaying the closing state on the (removed) channel fails.
			assert_noop!(c(s, sa, sb), Error::<Test>::UnknownChannel);
		});
	}

	#[test]
	fn update_signatures_cannot_close_at_once() {
		run_test(|| {
			let id = open_funded(1_000, 0);
			// An old update that favoured Alice, co-signed long ago.
			let old = state(1, 1_000, 0);
			let (ua, ub) = cosign(id, &old);
			assert_noop!(
				Channels::cooperative_close(origin(alice()), id, old, ua, ub),
				Error::<Test>::BadSignatureA
			);
			// The agreed close of the same balances works.
			let (ca, cb) = agree_close(id, &old);
			assert_noop!(
				Channels::cooperative_close(origin(alice()), id, old, ca, ub),
				Error::<Test>::BadSignatureB
			);
			assert_ok!(Channels::cooperative_close(origin(alice()), id, old, ca, cb));
		});
	}

	#[test]
	fn bytes_wrapped_signatures_are_refused() {
		run_test(|| {
			// polkadot-js signRaw signs <Bytes> + payload + </Bytes>; some off-chain
			// verifiers accept that as a signature of the payload. The chain does not.
			let id = open_funded(1_000, 0);
			let s = state(2, 400, 600);
			let payload = Channels::signing_payload(id, &s);
			let wrapped = [b"<Bytes>".as_slice(), &payload, b"</Bytes>".as_slice()].concat();
			let wa = Sr25519Keyring::Alice.pair().sign(&wrapped);
			let (sa, sb) = cosign(id, &s);
			let wb = Sr25519Keyring::Bob.pair().sign(&wrapped);
			assert_noop!(
				Channels::close_unilateral(origin(bob()), id, s, Some(wa), Some(sb)),
				Error::<Test>::BadSignatureA
			);
			assert_noop!(
				Channels::close_unilateral(origin(alice()), id, s, Some(sa), Some(wb)),
				Error::<Test>::BadSignatureB
			);
			assert_ok!(Channels::close_unilateral(origin(bob()), id, s, Some(sa), Some(sb)));
		});
	}

	#[test]
	fn signatures_commit_to_the_genesis_hash() {
		run_test(|| {
			let id = open_funded(1_000, 0);
			let s = state(1, 500, 500);
			let (sa, sb) = agree_close(id, &s);
			// Same channel id and state, but another chain: the payload changes.
			polkadot_sdk::frame_system::BlockHash::<Test>::insert(0, H256::repeat_byte(1));
			assert_noop!(
				Channels::cooperative_close(origin(alice()), id, s, sa, sb),
				Error::<Test>::BadSignatureA
			);
		});
	}

	#[test]
	fn unfunded_channel_cannot_close() {
		run_test(|| {
			let id = Channels::channel_id(&alice(), &bob(), 0);
			assert_ok!(Channels::open(origin(alice()), bob(), 100, 100));
			let s = state(1, 100, 100);
			let (sa, sb) = agree_close(id, &s);
			assert_noop!(
				Channels::cooperative_close(origin(alice()), id, s, sa, sb),
				Error::<Test>::NotFunded
			);
		});
	}
}

mod unilateral {
	use super::*;

	#[test]
	fn close_then_settle_after_the_period() {
		run_test(|| {
			let id = open_funded(1_000, 0);
			let s = state(3, 700, 300);
			let (sa, sb) = cosign(id, &s);
			assert_ok!(Channels::close_unilateral(origin(bob()), id, s, Some(sa), Some(sb)));
			System::assert_last_event(
				Event::ChannelClosing {
					channel_id: id,
					closer: bob(),
					version: 3,
					challenge_ends: 1 + CHALLENGE_PERIOD,
				}
				.into(),
			);
			assert_noop!(
				Channels::settle(origin(charlie()), id),
				Error::<Test>::ChallengePeriodNotOver
			);
			System::set_block_number(1 + CHALLENGE_PERIOD);
			assert_noop!(
				Channels::settle(origin(charlie()), id),
				Error::<Test>::ChallengePeriodNotOver
			);
			System::set_block_number(2 + CHALLENGE_PERIOD);
			assert_ok!(Channels::settle(origin(charlie()), id));
			assert_eq!(free(&bob()), INITIAL + 300);
			assert_eq!(free(&alice()), INITIAL - 300);
		});
	}

	#[test]
	fn opening_state_needs_no_signatures() {
		run_test(|| {
			let id = open_funded(1_000, 50);
			assert_noop!(
				Channels::close_unilateral(origin(alice()), id, state(0, 1_050, 0), None, None),
				Error::<Test>::MissingSignature
			);
			assert_noop!(
				Channels::close_unilateral(origin(alice()), id, state(1, 1_000, 50), None, None),
				Error::<Test>::MissingSignature
			);
			assert_ok!(Channels::close_unilateral(
				origin(alice()),
				id,
				state(0, 1_000, 50),
				None,
				None
			));
			System::set_block_number(2 + CHALLENGE_PERIOD);
			assert_ok!(Channels::settle(origin(alice()), id));
			assert_eq!((free(&alice()), free(&bob())), (INITIAL, INITIAL));
		});
	}

	#[test]
	fn errors() {
		run_test(|| {
			let id = open_funded(1_000, 0);
			let s = state(1, 500, 500);
			let (sa, sb) = cosign(id, &s);
			assert_noop!(
				Channels::close_unilateral(origin(charlie()), id, s, Some(sa), Some(sb)),
				Error::<Test>::NotParty
			);
			assert_noop!(Channels::settle(origin(alice()), id), Error::<Test>::NotClosing);
			assert_noop!(
				Channels::challenge(origin(alice()), id, s, sa, sb),
				Error::<Test>::NotClosing
			);
			assert_ok!(Channels::close_unilateral(origin(alice()), id, s, Some(sa), Some(sb)));
			assert_noop!(
				Channels::close_unilateral(origin(bob()), id, s, Some(sa), Some(sb)),
				Error::<Test>::NotFunded
			);
			// Disputes on an unfunded channel are rejected.
			let unfunded = Channels::channel_id(&alice(), &bob(), crate::NextChannelNonce::<Test>::get());
			assert_ok!(Channels::open(origin(alice()), bob(), 10, 10));
			assert_noop!(
				Channels::close_unilateral(origin(alice()), unfunded, state(0, 10, 10), None, None),
				Error::<Test>::NotFunded
			);
		});
	}
}

mod fraud_proof {
	use super::*;

	#[test]
	fn stale_close_is_refuted_and_the_cheater_loses_its_share() {
		run_test(|| {
			let id = open_funded(1_000, 100);
			// Version 5 gave Alice 900; version 9 gives her only 200.
			let old = state(5, 900, 200);
			let (oa, ob) = cosign(id, &old);
			let new = state(9, 200, 900);
			let (na, nb) = cosign(id, &new);
			assert_ok!(Channels::close_unilateral(origin(alice()), id, old, Some(oa), Some(ob)));
			// A watchtower (Charlie) submits the newer state for Bob.
			assert_ok!(Channels::challenge(origin(charlie()), id, new, na, nb));
			System::assert_last_event(
				Event::FraudProven {
					channel_id: id,
					cheater: alice(),
					honest: bob(),
					version: 9,
					penalty: 200,
				}
				.into(),
			);
			assert_eq!(free(&alice()), INITIAL - 1_000);
			assert_eq!(free(&bob()), INITIAL + 1_000);
			assert!(ChannelRecords::<Test>::get(id).is_none());
		});
	}

	#[test]
	fn cheating_b_pays_a() {
		run_test(|| {
			let id = open_funded(500, 500);
			let old = state(1, 0, 1_000);
			let new = state(2, 1_000, 0);
			let (oa, ob) = cosign(id, &old);
			let (na, nb) = cosign(id, &new);
			assert_ok!(Channels::close_unilateral(origin(bob()), id, old, Some(oa), Some(ob)));
			assert_ok!(Channels::challenge(origin(alice()), id, new, na, nb));
			assert_eq!((free(&alice()), free(&bob())), (INITIAL + 500, INITIAL - 500));
		});
	}

	#[test]
	fn rejects_old_or_equal_versions_late_and_unsigned_proofs() {
		run_test(|| {
			let id = open_funded(1_000, 0);
			let reg = state(5, 600, 400);
			let (ra, rb) = cosign(id, &reg);
			assert_ok!(Channels::close_unilateral(origin(alice()), id, reg, Some(ra), Some(rb)));
			let same = state(5, 500, 500);
			let (sa, sb) = cosign(id, &same);
			assert_noop!(
				Channels::challenge(origin(bob()), id, same, sa, sb),
				Error::<Test>::NotNewer
			);
			let new = state(6, 500, 500);
			let (na, nb) = cosign(id, &new);
			assert_noop!(
				Channels::challenge(origin(bob()), id, new, na, na),
				Error::<Test>::BadSignatureB
			);
			assert_noop!(
				Channels::challenge(origin(bob()), id, state(6, 1, 1), na, nb),
				Error::<Test>::BalanceMismatch
			);
			System::set_block_number(2 + CHALLENGE_PERIOD);
			assert_noop!(
				Channels::challenge(origin(bob()), id, new, na, nb),
				Error::<Test>::ChallengePeriodOver
			);
		});
	}

	#[test]
	fn cooperative_close_still_works_while_closing() {
		run_test(|| {
			let id = open_funded(1_000, 0);
			assert_ok!(Channels::close_unilateral(
				origin(alice()),
				id,
				state(0, 1_000, 0),
				None,
				None
			));
			let s = state(2, 10, 990);
			let (sa, sb) = agree_close(id, &s);
			assert_ok!(Channels::cooperative_close(origin(bob()), id, s, sa, sb));
			assert_eq!(free(&bob()), INITIAL + 990);
		});
	}
}

#[test]
fn payout_to_a_new_account_below_ed_fails_without_losing_funds() {
	run_test(|| {
		let dave = Sr25519Keyring::Dave.to_account_id();
		let id = Channels::channel_id(&alice(), &dave, 0);
		assert_ok!(Channels::open(origin(alice()), dave.clone(), 1_000, 0));
		let s = state(1, 999, 1);
		let sa = sign_close(Sr25519Keyring::Alice, id, &s);
		let sb = sign_close(Sr25519Keyring::Dave, id, &s);
		assert_noop!(
			Channels::cooperative_close(origin(alice()), id, s, sa, sb),
			Error::<Test>::PayoutFailed
		);
		assert_eq!(held(&alice()), 1_000);
	});
}

#[test]
fn try_state_detects_a_deposit_without_hold() {
	new_test_ext().execute_with(|| {
		let id = open_funded(100, 0);
		ChannelRecords::<Test>::mutate(id, |c| c.as_mut().unwrap().deposit_a = 101);
		assert!(Channels::do_try_state().is_err());
	});
}
