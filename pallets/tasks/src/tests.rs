//! Unit tests of the tasks pallet against the mock runtime.

use crate::{mock::*, Assignments, Error, Event, HoldReason, TaskStatus, Tasks as TaskRecords, WorkerList, Workers};
use ccnet_primitives::{TaskResults, Verdict, WorkerRegistry};
use polkadot_sdk::{
	frame_support::{
		assert_noop, assert_ok,
		traits::fungible::{Inspect, InspectHold},
		BoundedVec,
	},
	sp_core::H256,
};

fn origin(who: AccountId) -> RuntimeOrigin {
	RuntimeOrigin::signed(who)
}

fn bv<const N: usize, S: polkadot_sdk::frame_support::traits::Get<u32>>(b: &[u8; N]) -> BoundedVec<u8, S> {
	b.to_vec().try_into().unwrap()
}

fn held_bounty(who: AccountId) -> Balance {
	Balances::balance_on_hold(&RuntimeHoldReason::Tasks(HoldReason::TaskBounty), &who)
}

/// Post a task with `bounty`, deadline 10 and `redundancy`; returns its id.
fn post(bounty: Balance, redundancy: u8) -> u64 {
	let id = crate::NextTaskId::<Test>::get();
	assert_ok!(Tasks::post_task(
		origin(REQUESTER),
		bv(b"prime"),
		bv(b"in"),
		bv(b"u64"),
		bounty,
		10,
		redundancy
	));
	id
}

fn h(n: u8) -> H256 {
	H256::repeat_byte(n)
}

mod registry {
	use super::*;

	#[test]
	fn register_update_deregister() {
		run_test(|| {
			System::assert_last_event(Event::WorkerRegistered { worker: W3 }.into());
			assert_eq!(WorkerList::<Test>::get().into_inner(), vec![W1, W2, W3]);
			assert_ok!(Tasks::update_worker(origin(W1), Default::default(), bv(b"http://new")));
			assert_eq!(
				Workers::<Test>::get(W1).unwrap().endpoint.into_inner(),
				b"http://new".to_vec()
			);
			assert_ok!(Tasks::deregister_worker(origin(W2)));
			System::assert_last_event(Event::WorkerDeregistered { worker: W2 }.into());
			assert_eq!(WorkerList::<Test>::get().into_inner(), vec![W1, W3]);
			assert_eq!(Tasks::eligible_workers(), vec![W1, W3]);
		});
	}

	#[test]
	fn errors() {
		run_test(|| {
			let caps = || Default::default();
			assert_noop!(
				Tasks::register_worker(origin(W1), caps(), bv(b"x")),
				Error::<Test>::AlreadyRegistered
			);
			assert_noop!(
				Tasks::register_worker(origin(POOR), caps(), bv(b"x")),
				Error::<Test>::InsufficientStake
			);
			assert_ok!(Credits::stake(origin(POOR), MIN_STAKE - 1));
			assert_noop!(
				Tasks::register_worker(origin(POOR), caps(), bv(b"x")),
				Error::<Test>::InsufficientStake
			);
			assert_noop!(
				Tasks::update_worker(origin(POOR), caps(), bv(b"x")),
				Error::<Test>::NotRegistered
			);
			assert_noop!(Tasks::deregister_worker(origin(POOR)), Error::<Test>::NotRegistered);
			// MaxWorkers is 4: one more fits, then the list is full.
			register(REQUESTER);
			assert_ok!(Credits::stake(origin(POOR), 1));
			assert_noop!(
				Tasks::register_worker(origin(POOR), caps(), bv(b"x")),
				Error::<Test>::TooManyWorkers
			);
			let id = post(100, 1);
			assert_ok!(Tasks::claim(origin(W1), id));
			assert_noop!(Tasks::deregister_worker(origin(W1)), Error::<Test>::WorkerBusy);
		});
	}

	#[test]
	fn unstaked_worker_is_not_eligible() {
		run_test(|| {
			assert_ok!(Credits::unstake(origin(W1), 1));
			System::set_block_number(100);
			assert_ok!(Credits::withdraw_unbonded(origin(W1)));
			assert!(!Tasks::is_eligible(&W1));
			assert_eq!(Tasks::eligible_workers(), vec![W2, W3]);
			let id = crate::NextTaskId::<Test>::get();
			assert_ok!(Tasks::post_task(
				origin(REQUESTER),
				bv(b"t"),
				bv(b"i"),
				bv(b"o"),
				1,
				150,
				1
			));
			assert_noop!(Tasks::claim(origin(W1), id), Error::<Test>::InsufficientStake);
		});
	}
}

mod post_task {
	use super::*;

	#[test]
	fn holds_the_bounty() {
		run_test(|| {
			let id = post(500, 2);
			assert_eq!(id, 0);
			assert_eq!(held_bounty(REQUESTER), 500);
			System::assert_last_event(
				Event::TaskPosted {
					task_id: 0,
					requester: REQUESTER,
					bounty: 500,
				}
				.into(),
			);
			assert_eq!(post(1, 1), 1);
		});
	}

	#[test]
	fn errors() {
		run_test(|| {
			let p = |bounty, deadline, red| {
				Tasks::post_task(origin(REQUESTER), bv(b"t"), bv(b"i"), bv(b"o"), bounty, deadline, red)
			};
			assert_noop!(p(0, 10, 1), Error::<Test>::ZeroBounty);
			assert_noop!(p(1, 10, 0), Error::<Test>::InvalidRedundancy);
			assert_noop!(p(1, 10, 4), Error::<Test>::InvalidRedundancy);
			assert_noop!(p(1, 1, 1), Error::<Test>::DeadlineInPast);
			assert_noop!(p(1, 2 + MAX_DURATION, 1), Error::<Test>::DeadlineTooFar);
			assert_ok!(p(1, 1 + MAX_DURATION, 1));
			assert_noop!(p(INITIAL, 10, 1), Error::<Test>::InsufficientBalance);
			crate::NextTaskId::<Test>::put(u64::MAX);
			assert_noop!(p(1, 10, 1), Error::<Test>::Overflow);
		});
	}
}

mod claim_and_submit {
	use super::*;

	#[test]
	fn claim_then_submit() {
		run_test(|| {
			let id = post(100, 2);
			assert_ok!(Tasks::claim(origin(W1), id));
			System::assert_last_event(
				Event::TaskClaimed {
					task_id: id,
					worker: W1,
				}
				.into(),
			);
			assert_ok!(Tasks::submit_result(origin(W1), id, h(1), 42));
			System::assert_last_event(
				Event::ResultSubmitted {
					task_id: id,
					worker: W1,
					result_hash: h(1),
					fuel_used: 42,
				}
				.into(),
			);
			assert_eq!(Tasks::result_of(id, &W1).unwrap().fuel_used, 42);
			assert_eq!(Workers::<Test>::get(W1).unwrap().active_claims, 1);
		});
	}

	#[test]
	fn errors() {
		run_test(|| {
			assert_noop!(Tasks::claim(origin(W1), 7), Error::<Test>::UnknownTask);
			let id = post(100, 1);
			assert_noop!(Tasks::claim(origin(POOR), id), Error::<Test>::NotRegistered);
			register(REQUESTER);
			assert_noop!(Tasks::claim(origin(REQUESTER), id), Error::<Test>::CannotClaimOwnTask);
			assert_noop!(Tasks::submit_result(origin(W1), id, h(1), 1), Error::<Test>::NotClaimed);
			assert_ok!(Tasks::claim(origin(W1), id));
			assert_noop!(Tasks::claim(origin(W1), id), Error::<Test>::AlreadyClaimed);
			assert_noop!(Tasks::claim(origin(W2), id), Error::<Test>::TaskFullyClaimed);
			assert_ok!(Tasks::submit_result(origin(W1), id, h(1), 0));
			assert_noop!(
				Tasks::submit_result(origin(W1), id, h(1), 0),
				Error::<Test>::AlreadySubmitted
			);
			System::set_block_number(11);
			let late = post_at_11();
			System::set_block_number(100);
			assert_noop!(Tasks::claim(origin(W2), late), Error::<Test>::DeadlinePassed);
		});
	}

	fn post_at_11() -> u64 {
		let id = crate::NextTaskId::<Test>::get();
		assert_ok!(Tasks::post_task(
			origin(REQUESTER),
			bv(b"t"),
			bv(b"i"),
			bv(b"o"),
			1,
			20,
			1
		));
		id
	}
}

mod accept {
	use super::*;

	#[test]
	fn splits_the_bounty_among_matching_results_exactly() {
		run_test(|| {
			let id = post(100, 3);
			for (w, hash) in [(W1, h(1)), (W2, h(1)), (W3, h(2))] {
				assert_ok!(Tasks::claim(origin(w), id));
				assert_ok!(Tasks::submit_result(origin(w), id, hash, 1_000));
			}
			let before = Balances::balance(&REQUESTER);
			assert_ok!(Tasks::accept(origin(REQUESTER), id, W2));
			// 100 / 2 = 50 each; no remainder.
			assert_eq!(Balances::balance(&W1), INITIAL - MIN_STAKE + 50);
			assert_eq!(Balances::balance(&W2), INITIAL - MIN_STAKE + 50);
			assert_eq!(Balances::balance(&W3), INITIAL - MIN_STAKE);
			assert_eq!(Balances::balance(&REQUESTER), before);
			assert_eq!(held_bounty(REQUESTER), 0);
			assert_eq!(
				TaskRecords::<Test>::get(id).unwrap().status,
				TaskStatus::Completed { result_hash: h(1) }
			);
			assert_eq!(Workers::<Test>::get(W1).unwrap().reputation.completed, 1);
			assert_eq!(Workers::<Test>::get(W3).unwrap().reputation.failed, 1);
			assert_eq!(Assignments::<Test>::iter_prefix(id).count(), 0);
			assert_eq!(pallet_credits::ContributedFuel::<Test>::get(), 1_000);
		});
	}

	#[test]
	fn remainder_goes_back_to_the_requester() {
		run_test(|| {
			let id = post(101, 2);
			for w in [W1, W2] {
				assert_ok!(Tasks::claim(origin(w), id));
				assert_ok!(Tasks::submit_result(origin(w), id, h(9), 1));
			}
			let before = Balances::balance(&REQUESTER);
			assert_ok!(Tasks::accept(origin(REQUESTER), id, W1));
			assert_eq!(Balances::balance(&REQUESTER), before + 1);
			System::assert_last_event(
				Event::TaskCompleted {
					task_id: id,
					result_hash: h(9),
					workers: vec![W1, W2],
					paid: 50,
				}
				.into(),
			);
		});
	}

	#[test]
	fn errors() {
		run_test(|| {
			assert_noop!(Tasks::accept(origin(REQUESTER), 0, W1), Error::<Test>::UnknownTask);
			let id = post(100, 2);
			assert_noop!(Tasks::accept(origin(W1), id, W1), Error::<Test>::NotRequester);
			assert_noop!(Tasks::accept(origin(REQUESTER), id, W1), Error::<Test>::NotClaimed);
			assert_ok!(Tasks::claim(origin(W1), id));
			assert_noop!(Tasks::accept(origin(REQUESTER), id, W1), Error::<Test>::NoResult);
			assert_ok!(Tasks::submit_result(origin(W1), id, h(1), 1));
			assert_ok!(Tasks::on_dispute_opened(id, &W1));
			assert_noop!(Tasks::accept(origin(REQUESTER), id, W1), Error::<Test>::ResultDisputed);
			Tasks::on_dispute_resolved(id, &W1, Verdict::WorkerUpheld);
			assert_ok!(Tasks::accept(origin(REQUESTER), id, W1));
			assert_noop!(Tasks::accept(origin(REQUESTER), id, W1), Error::<Test>::TaskNotOpen);
		});
	}
}

mod expire {
	use super::*;

	#[test]
	fn refunds_and_counts_silent_claims_as_failures() {
		run_test(|| {
			let id = post(100, 2);
			assert_ok!(Tasks::claim(origin(W1), id));
			assert_ok!(Tasks::claim(origin(W2), id));
			assert_ok!(Tasks::submit_result(origin(W2), id, h(1), 1));
			assert_noop!(Tasks::expire(origin(W3), id), Error::<Test>::DeadlineNotReached);
			System::set_block_number(11);
			let before = Balances::balance(&REQUESTER);
			assert_ok!(Tasks::expire(origin(W3), id));
			System::assert_last_event(Event::TaskExpired { task_id: id }.into());
			assert_eq!(Balances::balance(&REQUESTER), before + 100);
			assert_eq!(Workers::<Test>::get(W1).unwrap().reputation.failed, 1);
			assert_eq!(Workers::<Test>::get(W2).unwrap().reputation.failed, 0);
			assert_eq!(Workers::<Test>::get(W1).unwrap().active_claims, 0);
			assert_noop!(Tasks::expire(origin(W3), id), Error::<Test>::TaskNotOpen);
		});
	}

	#[test]
	fn waits_for_open_disputes() {
		run_test(|| {
			let id = post(100, 1);
			assert_ok!(Tasks::claim(origin(W1), id));
			assert_ok!(Tasks::submit_result(origin(W1), id, h(1), 1));
			assert_ok!(Tasks::on_dispute_opened(id, &W1));
			System::set_block_number(11);
			assert_noop!(Tasks::expire(origin(W3), id), Error::<Test>::DisputeOpen);
			Tasks::on_dispute_resolved(id, &W1, Verdict::Inconclusive);
			assert_ok!(Tasks::expire(origin(W3), id));
		});
	}
}

mod disputes {
	use super::*;

	#[test]
	fn cheater_is_banned_and_its_claim_voided() {
		run_test(|| {
			let id = post(100, 1);
			assert_ok!(Tasks::claim(origin(W1), id));
			assert_ok!(Tasks::submit_result(origin(W1), id, h(1), 1));
			assert_ok!(Tasks::on_dispute_opened(id, &W1));
			assert_eq!(Workers::<Test>::get(W1).unwrap().reputation.disputed, 1);
			assert!(Tasks::on_dispute_opened(id, &W1).is_err());
			Tasks::on_dispute_resolved(id, &W1, Verdict::WorkerAtFault);
			System::assert_last_event(
				Event::WorkerBanned {
					worker: W1,
					until: 1 + BAN,
				}
				.into(),
			);
			let rep = Workers::<Test>::get(W1).unwrap().reputation;
			assert_eq!((rep.disputed, rep.slashed, rep.failed), (0, 1, 1));
			assert!(!Tasks::is_eligible(&W1));
			assert!(Tasks::result_of(id, &W1).is_none());
			// The slot is free again for an honest worker.
			assert_ok!(Tasks::claim(origin(W2), id));
			let other = post(1, 1);
			assert_noop!(Tasks::claim(origin(W1), other), Error::<Test>::WorkerBanned);
			assert_noop!(Tasks::deregister_worker(origin(W1)), Error::<Test>::WorkerBanned);
			System::set_block_number(1 + BAN);
			assert!(Tasks::is_eligible(&W1));
		});
	}

	#[test]
	fn dispute_needs_a_result() {
		run_test(|| {
			let id = post(100, 1);
			assert!(Tasks::on_dispute_opened(id, &W1).is_err());
			assert_ok!(Tasks::claim(origin(W1), id));
			assert!(Tasks::on_dispute_opened(id, &W1).is_err());
			assert!(Tasks::on_dispute_opened(99, &W1).is_err());
		});
	}
}

#[test]
fn try_state_detects_a_bounty_without_hold() {
	new_test_ext().execute_with(|| {
		let id = post(100, 1);
		TaskRecords::<Test>::mutate(id, |t| t.as_mut().unwrap().bounty = 99);
		assert!(Tasks::do_try_state().is_err());
	});
}

#[test]
fn integrity_test_passes() {
	use polkadot_sdk::frame_support::traits::IntegrityTest;
	new_test_ext().execute_with(AllPalletsWithSystem::integrity_test);
}
