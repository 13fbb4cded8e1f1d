//! Unit tests of the tasks pallet against the mock runtime.

use crate::{
	mock::*, Assignments, Error, Event, HoldReason, PaidBy, TaskStatus, Tasks as TaskRecords, WorkerList, Workers,
};
use ccnet_primitives::{StakeProvider, TaskResults, Verdict, WorkerRegistry};
use polkadot_sdk::{
	frame_support::{
		assert_noop, assert_ok,
		traits::fungible::{Inspect, InspectHold},
		BoundedVec,
	},
	sp_core::H256,
};

const SALT: [u8; 32] = [5; 32];
const FUEL: u64 = 1_000;

fn origin(who: AccountId) -> RuntimeOrigin {
	RuntimeOrigin::signed(who)
}

fn bv<const N: usize, S: polkadot_sdk::frame_support::traits::Get<u32>>(b: &[u8; N]) -> BoundedVec<u8, S> {
	b.to_vec().try_into().unwrap()
}

fn held(reason: HoldReason, who: AccountId) -> Balance {
	Balances::balance_on_hold(&RuntimeHoldReason::Tasks(reason), &who)
}

fn free(who: AccountId) -> Balance {
	Balances::balance(&who)
}

/// Post a task with `bounty`, deadline 10 and `redundancy`; returns its id.
fn post(bounty: Balance, redundancy: u8) -> u64 {
	let id = crate::NextTaskId::<Test>::get();
	assert_ok!(Tasks::post_task(
		origin(REQUESTER),
		bv(b"prime"),
		bv(b"ar://in"),
		bv(b"text"),
		bounty,
		10,
		redundancy
	));
	id
}

fn h(n: u8) -> H256 {
	H256::repeat_byte(n)
}

fn commitment(task: u64, worker: AccountId, hash: H256) -> H256 {
	Tasks::result_commitment(task, &worker, &hash, FUEL, &SALT)
}

/// `worker` claims `task` and commits to `hash`.
fn claim_and_commit(task: u64, worker: AccountId, hash: H256) {
	assert_ok!(Tasks::claim(origin(worker), task));
	assert_ok!(Tasks::submit_result(
		origin(worker),
		task,
		commitment(task, worker, hash)
	));
}

fn reveal(task: u64, worker: AccountId, hash: H256) -> polkadot_sdk::sp_runtime::DispatchResult {
	Tasks::reveal_result(origin(worker), task, hash, FUEL, SALT)
}

/// Move past the task's challenge window (deadline 10).
fn past_window() {
	System::set_block_number(10 + REVEAL + WINDOW + 1);
}

fn bonded(who: AccountId) -> Balance {
	Credits::active(&who) - Credits::free_stake(&who)
}

mod registry {
	use super::*;

	#[test]
	fn register_update_deregister_with_a_record_deposit() {
		run_test(|| {
			assert_eq!(WorkerList::<Test>::get().into_inner(), vec![W1, W2, W3]);
			assert_eq!(held(HoldReason::WorkerDeposit, W1), WORKER_DEPOSIT);
			assert_ok!(Tasks::update_worker(origin(W1), Default::default(), bv(b"http://x")));
			System::assert_last_event(Event::WorkerUpdated { worker: W1 }.into());
			assert_ok!(Tasks::deregister_worker(origin(W2)));
			assert_eq!(WorkerList::<Test>::get().into_inner(), vec![W1, W3]);
			assert_eq!(held(HoldReason::WorkerDeposit, W2), 0);
			assert_eq!(<Tasks as WorkerRegistry<_>>::count(), 2);
		});
	}

	#[test]
	fn errors() {
		run_test(|| {
			assert_noop!(
				Tasks::register_worker(origin(W1), Default::default(), Default::default()),
				Error::<Test>::AlreadyRegistered
			);
			assert_noop!(
				Tasks::register_worker(origin(POOR), Default::default(), Default::default()),
				Error::<Test>::InsufficientStake
			);
			assert_noop!(
				Tasks::update_worker(origin(POOR), Default::default(), Default::default()),
				Error::<Test>::NotRegistered
			);
			assert_noop!(Tasks::deregister_worker(origin(POOR)), Error::<Test>::NotRegistered);
			// A busy worker cannot leave.
			let id = post(100, 1);
			assert_ok!(Tasks::claim(origin(W1), id));
			assert_noop!(Tasks::deregister_worker(origin(W1)), Error::<Test>::WorkerBusy);
			// A full registry.
			register(POOR);
			assert_ok!(Credits::stake(origin(REQUESTER), MIN_STAKE));
			assert_noop!(
				Tasks::register_worker(origin(REQUESTER), Default::default(), Default::default()),
				Error::<Test>::TooManyWorkers
			);
		});
	}

	#[test]
	fn unbonding_stake_does_not_count() {
		run_test(|| {
			// Only active stake counts: a worker that started to unbond cannot
			// register on the strength of it.
			assert_ok!(Credits::stake(origin(POOR), MIN_STAKE));
			assert_ok!(Credits::unstake(origin(POOR), 1));
			assert_noop!(
				Tasks::register_worker(origin(POOR), Default::default(), Default::default()),
				Error::<Test>::InsufficientStake
			);
		});
	}
}

mod claims {
	use super::*;

	#[test]
	fn each_claim_bonds_stake_that_cannot_unbond() {
		run_test(|| {
			// MIN_STAKE = 2 claim bonds: the third claim fails, and the bonded stake
			// cannot start unbonding.
			let ids = [post(100, 1), post(100, 1), post(100, 1)];
			assert_ok!(Tasks::claim(origin(W1), ids[0]));
			System::assert_last_event(
				Event::TaskClaimed {
					task_id: ids[0],
					worker: W1,
					bond: CLAIM_BOND,
				}
				.into(),
			);
			assert_ok!(Tasks::claim(origin(W1), ids[1]));
			assert_eq!(bonded(W1), 2 * CLAIM_BOND);
			assert_noop!(Tasks::claim(origin(W1), ids[2]), Error::<Test>::InsufficientStake);
			assert_noop!(
				Credits::unstake(origin(W1), 1),
				pallet_credits::Error::<Test>::StakeBonded
			);
			// More stake, one more claim.
			assert_ok!(Credits::stake(origin(W1), CLAIM_BOND + 100));
			assert_ok!(Tasks::claim(origin(W1), ids[2]));
			assert_ok!(Credits::unstake(origin(W1), 100));
			assert_noop!(
				Credits::unstake(origin(W1), 1),
				pallet_credits::Error::<Test>::StakeBonded
			);
		});
	}

	#[test]
	fn errors() {
		run_test(|| {
			let id = post(100, 1);
			assert_noop!(Tasks::claim(origin(W1), 99), Error::<Test>::UnknownTask);
			assert_noop!(Tasks::claim(origin(POOR), id), Error::<Test>::NotRegistered);
			register(REQUESTER);
			assert_noop!(Tasks::claim(origin(REQUESTER), id), Error::<Test>::CannotClaimOwnTask);
			assert_ok!(Tasks::claim(origin(W1), id));
			assert_noop!(Tasks::claim(origin(W1), id), Error::<Test>::AlreadyClaimed);
			assert_noop!(Tasks::claim(origin(W2), id), Error::<Test>::TaskFullyClaimed);
			let late = post(100, 1);
			System::set_block_number(11);
			assert_noop!(Tasks::claim(origin(W2), late), Error::<Test>::DeadlinePassed);
			assert_noop!(
				Tasks::submit_result(origin(W1), id, h(1)),
				Error::<Test>::DeadlinePassed
			);
		});
	}
}

mod commit_reveal {
	use super::*;

	#[test]
	fn reveal_opens_after_the_deadline_or_when_every_slot_committed() {
		run_test(|| {
			let id = post(300, 2);
			claim_and_commit(id, W1, h(1));
			assert_noop!(reveal(id, W1, h(1)), Error::<Test>::RevealNotOpen);
			claim_and_commit(id, W2, h(1));
			// Every slot claimed and committed: reveals open early.
			assert_ok!(reveal(id, W1, h(1)));
			System::assert_last_event(
				Event::ResultSubmitted {
					task_id: id,
					worker: W1,
					result_hash: h(1),
					fuel_used: FUEL,
				}
				.into(),
			);
			assert_noop!(reveal(id, W1, h(1)), Error::<Test>::AlreadyRevealed);
			// After the deadline a partly claimed task opens reveals too.
			let other = post(300, 3);
			claim_and_commit(other, W3, h(2));
			assert_noop!(reveal(other, W3, h(2)), Error::<Test>::RevealNotOpen);
			System::set_block_number(11);
			assert_ok!(reveal(other, W3, h(2)));
			System::set_block_number(10 + REVEAL + 1);
			assert_noop!(reveal(id, W2, h(1)), Error::<Test>::RevealClosed);
		});
	}

	#[test]
	fn a_copied_result_cannot_be_revealed() {
		run_test(|| {
			// W2 sees W1's hash only once W1 reveals; it had to commit before, to
			// something else, so it cannot reveal W1's hash as its own. Nor can it
			// submit W1's commitment: commitments bind the worker.
			let id = post(300, 2);
			claim_and_commit(id, W1, h(1));
			assert_ok!(Tasks::claim(origin(W2), id));
			assert_ok!(Tasks::submit_result(origin(W2), id, commitment(id, W1, h(1))));
			assert_ok!(reveal(id, W1, h(1)));
			assert_noop!(reveal(id, W2, h(1)), Error::<Test>::BadReveal);
			assert_noop!(
				Tasks::reveal_result(origin(W2), id, h(1), FUEL, [0; 32]),
				Error::<Test>::BadReveal
			);
			assert_noop!(reveal(id, W3, h(1)), Error::<Test>::NotClaimed);
		});
	}
}

mod settlement {
	use super::*;

	#[test]
	fn the_majority_is_paid_at_finalize_whatever_the_requester_does() {
		run_test(|| {
			let id = post(1_001, 3);
			for (w, hash) in [(W1, h(1)), (W2, h(1)), (W3, h(2))] {
				claim_and_commit(id, w, hash);
			}
			for (w, hash) in [(W1, h(1)), (W2, h(1)), (W3, h(2))] {
				assert_ok!(reveal(id, w, hash));
			}
			// The requester cannot pick the minority, nor pay before the window ends.
			assert_noop!(Tasks::accept(origin(REQUESTER), id, W3), Error::<Test>::NotUnanimous);
			assert_noop!(Tasks::finalize(origin(W1), id), Error::<Test>::WindowOpen);
			past_window();
			let before = free(REQUESTER);
			assert_ok!(Tasks::finalize(origin(W1), id));
			System::assert_has_event(
				Event::TaskCompleted {
					task_id: id,
					result_hash: h(1),
					workers: vec![W1, W2],
					paid: 500,
				}
				.into(),
			);
			assert_eq!(
				(free(W1), free(W2)),
				(
					INITIAL - MIN_STAKE - WORKER_DEPOSIT + 500,
					INITIAL - MIN_STAKE - WORKER_DEPOSIT + 500
				)
			);
			// The remainder of the division goes back; the deposit stays until reaped.
			assert_eq!(free(REQUESTER), before + 1);
			assert_eq!(held(HoldReason::TaskBounty, REQUESTER), 0);
			assert_eq!(
				TaskRecords::<Test>::get(id).unwrap().status,
				TaskStatus::Completed { result_hash: h(1) }
			);
			for w in [W1, W2, W3] {
				assert_eq!(bonded(w), 0);
			}
			let rep = Workers::<Test>::get(W1).unwrap().reputation;
			assert_eq!((rep.completed, rep.value_earned, rep.distinct_requesters), (1, 500, 1));
			assert_eq!(Workers::<Test>::get(W3).unwrap().reputation.failed, 1);
		});
	}

	#[test]
	fn no_strict_majority_refunds_and_silent_claimants_pay_the_requester() {
		run_test(|| {
			let id = post(600, 3);
			claim_and_commit(id, W1, h(1));
			claim_and_commit(id, W2, h(2));
			assert_ok!(Tasks::claim(origin(W3), id));
			System::set_block_number(11);
			assert_ok!(reveal(id, W1, h(1)));
			assert_ok!(reveal(id, W2, h(2)));
			past_window();
			let before = free(REQUESTER);
			assert_ok!(Tasks::finalize(origin(REQUESTER), id));
			System::assert_has_event(
				Event::ClaimForfeited {
					task_id: id,
					worker: W3,
					slashed: NO_REVEAL_SLASH,
				}
				.into(),
			);
			System::assert_last_event(Event::TaskUnresolved { task_id: id }.into());
			assert_eq!(free(REQUESTER), before + 600 + NO_REVEAL_SLASH);
			assert_eq!(Credits::active(&W3), MIN_STAKE - NO_REVEAL_SLASH);
			assert_eq!(TaskRecords::<Test>::get(id).unwrap().status, TaskStatus::NoMajority);
		});
	}

	#[test]
	fn unanimous_tasks_can_be_accepted_early() {
		run_test(|| {
			let id = post(200, 2);
			claim_and_commit(id, W1, h(1));
			claim_and_commit(id, W2, h(1));
			assert_ok!(reveal(id, W1, h(1)));
			assert_noop!(Tasks::accept(origin(REQUESTER), id, W1), Error::<Test>::NotUnanimous);
			assert_ok!(reveal(id, W2, h(1)));
			assert_noop!(Tasks::accept(origin(W1), id, W1), Error::<Test>::NotRequester);
			assert_ok!(Tasks::accept(origin(REQUESTER), id, W2));
			assert_eq!(free(W2), INITIAL - MIN_STAKE - WORKER_DEPOSIT + 100);
			assert_noop!(Tasks::finalize(origin(W1), id), Error::<Test>::TaskNotOpen);
		});
	}

	#[test]
	fn expire_refunds_a_task_nobody_revealed() {
		run_test(|| {
			let id = post(100, 1);
			claim_and_commit(id, W1, h(1));
			assert_noop!(Tasks::expire(origin(W2), id), Error::<Test>::RevealNotOpen);
			System::set_block_number(10 + REVEAL + 1);
			assert_ok!(Tasks::expire(origin(W2), id));
			assert_eq!(TaskRecords::<Test>::get(id).unwrap().status, TaskStatus::Expired);
			assert_eq!(Credits::active(&W1), MIN_STAKE - NO_REVEAL_SLASH);
			// A revealed result is paid by finalize, never expired.
			System::set_block_number(1);
			let revealed = post(100, 1);
			claim_and_commit(revealed, W2, h(1));
			assert_ok!(reveal(revealed, W2, h(1)));
			System::set_block_number(10 + REVEAL + 1);
			assert_noop!(Tasks::expire(origin(W2), revealed), Error::<Test>::HasResults);
		});
	}

	#[test]
	fn reap_removes_finished_records_and_returns_the_deposit() {
		run_test(|| {
			let id = post(100, 1);
			assert_eq!(held(HoldReason::TaskDeposit, REQUESTER), TASK_DEPOSIT);
			assert_noop!(Tasks::reap(origin(W1), id), Error::<Test>::NotReapable);
			System::set_block_number(10 + REVEAL + 1);
			assert_ok!(Tasks::expire(origin(W1), id));
			assert_noop!(Tasks::reap(origin(W1), id), Error::<Test>::NotReapable);
			System::set_block_number(10 + REVEAL + 1 + RETENTION + 1);
			assert_ok!(Tasks::reap(origin(W1), id));
			assert!(TaskRecords::<Test>::get(id).is_none());
			assert_eq!(held(HoldReason::TaskDeposit, REQUESTER), 0);
		});
	}

	#[test]
	fn self_dealt_dust_does_not_build_reputation_and_fuel_is_capped() {
		run_test(|| {
			// Paid shares below MinReputableShare count as completed but not as a
			// distinct requester, and an absurd fuel figure is capped.
			let id = post(MIN_SHARE - 1, 1);
			assert_ok!(Tasks::claim(origin(W1), id));
			let fuel = u64::MAX;
			let commit = Tasks::result_commitment(id, &W1, &h(1), fuel, &SALT);
			assert_ok!(Tasks::submit_result(origin(W1), id, commit));
			assert_ok!(Tasks::reveal_result(origin(W1), id, h(1), fuel, SALT));
			past_window();
			assert_ok!(Tasks::finalize(origin(W1), id));
			let rep = Workers::<Test>::get(W1).unwrap().reputation;
			assert_eq!((rep.completed, rep.distinct_requesters), (1, 0));
			assert!(!PaidBy::<Test>::contains_key(W1, REQUESTER));
			assert_eq!(
				pallet_credits::ContributedFuel::<Test>::get(),
				u128::from(MAX_TASK_FUEL)
			);
		});
	}
}

mod disputes_interface {
	use super::*;

	fn revealed_task() -> u64 {
		let id = post(300, 2);
		claim_and_commit(id, W1, h(1));
		claim_and_commit(id, W2, h(2));
		assert_ok!(reveal(id, W1, h(1)));
		assert_ok!(reveal(id, W2, h(2)));
		id
	}

	#[test]
	fn disputable_only_while_open_revealed_and_not_judged() {
		run_test(|| {
			let id = revealed_task();
			let result = <Tasks as TaskResults<_, _>>::disputable(id, &W1).unwrap();
			assert_eq!(result.result_hash, h(1));
			let mut claimants = result.claimants.clone();
			claimants.sort();
			assert_eq!(claimants, vec![W1, W2]);
			assert!(<Tasks as TaskResults<_, _>>::disputable(id, &W3).is_none());
			assert_ok!(<Tasks as TaskResults<_, _>>::on_dispute_opened(id, &W1));
			assert!(<Tasks as TaskResults<_, _>>::disputable(id, &W1).is_none());
			past_window();
			assert_noop!(Tasks::finalize(origin(W1), id), Error::<Test>::DisputeOpen);
			<Tasks as TaskResults<_, _>>::on_dispute_resolved(id, &W1, Verdict::WorkerUpheld);
			// Judged: never disputed again; the window is over anyway.
			assert!(<Tasks as TaskResults<_, _>>::disputable(id, &W2).is_none());
			assert!(Assignments::<Test>::get(id, W1).unwrap().judged);
		});
	}

	#[test]
	fn a_worker_at_fault_loses_its_claim_and_is_banned() {
		run_test(|| {
			let id = revealed_task();
			assert_ok!(<Tasks as TaskResults<_, _>>::on_dispute_opened(id, &W2));
			// The court slashes the bond first.
			assert_eq!(Credits::slash_bond(&W2, CLAIM_BOND, Some(&REQUESTER)), CLAIM_BOND);
			<Tasks as TaskResults<_, _>>::on_dispute_resolved(id, &W2, Verdict::WorkerAtFault);
			System::assert_last_event(
				Event::WorkerBanned {
					worker: W2,
					until: 1 + BAN,
				}
				.into(),
			);
			assert!(Assignments::<Test>::get(id, W2).is_none());
			let task = TaskRecords::<Test>::get(id).unwrap();
			assert_eq!((task.claims, task.commits, task.reveals), (1, 1, 1));
			assert_eq!(bonded(W2), 0);
			let next = post(10, 1);
			assert_noop!(Tasks::claim(origin(W2), next), Error::<Test>::WorkerBanned);
			// W1 alone is now the unanimous result.
			past_window();
			assert_ok!(Tasks::finalize(origin(W3), id));
			assert_eq!(
				TaskRecords::<Test>::get(id).unwrap().status,
				TaskStatus::Completed { result_hash: h(1) }
			);
		});
	}
}

#[test]
fn try_state_detects_a_bounty_without_hold() {
	new_test_ext().execute_with(|| {
		post(100, 1);
		TaskRecords::<Test>::mutate(0, |t| t.as_mut().unwrap().bounty = 101);
		assert!(Tasks::do_try_state().is_err());
	});
}

#[test]
fn try_state_detects_a_counter_out_of_step() {
	new_test_ext().execute_with(|| {
		register(W1);
		let id = post(100, 1);
		claim_and_commit(id, W1, h(1));
		TaskRecords::<Test>::mutate(id, |t| t.as_mut().unwrap().commits = 0);
		assert!(Tasks::do_try_state().is_err());
	});
}

#[test]
fn integrity_test_passes() {
	use polkadot_sdk::frame_support::traits::IntegrityTest;
	new_test_ext().execute_with(AllPalletsWithSystem::integrity_test);
}

mod cancel {
	use super::*;

	#[test]
	fn an_unclaimed_task_is_withdrawn_with_its_bounty_and_deposit() {
		run_test(|| {
			let before = free(REQUESTER);
			let id = post(300, 2);
			assert_eq!(free(REQUESTER), before - 300 - TASK_DEPOSIT);
			assert_ok!(Tasks::cancel_task(origin(REQUESTER), id));
			System::assert_last_event(
				Event::TaskCancelled {
					task_id: id,
					bounty: 300,
					deposit: TASK_DEPOSIT,
				}
				.into(),
			);
			assert_eq!(free(REQUESTER), before);
			assert_eq!(held(HoldReason::TaskBounty, REQUESTER), 0);
			assert_eq!(held(HoldReason::TaskDeposit, REQUESTER), 0);
			assert!(!TaskRecords::<Test>::contains_key(id));
			// Gone: nobody can claim it, and it cannot be cancelled twice.
			assert_noop!(Tasks::claim(origin(W1), id), Error::<Test>::UnknownTask);
			assert_noop!(Tasks::cancel_task(origin(REQUESTER), id), Error::<Test>::UnknownTask);
		});
	}

	#[test]
	fn only_the_requester_and_only_before_any_claim() {
		run_test(|| {
			let id = post(300, 2);
			assert_noop!(Tasks::cancel_task(origin(W1), id), Error::<Test>::NotRequester);
			// One claim of two: the claimant's bonded work cannot be cancelled away.
			assert_ok!(Tasks::claim(origin(W1), id));
			assert_noop!(Tasks::cancel_task(origin(REQUESTER), id), Error::<Test>::TaskHasClaims);
			assert_eq!(held(HoldReason::TaskBounty, REQUESTER), 300);
			assert_eq!(bonded(W1), CLAIM_BOND);
		});
	}

	#[test]
	fn a_finished_task_is_not_open() {
		run_test(|| {
			let id = post(300, 1);
			let task = TaskRecords::<Test>::get(id).unwrap();
			System::set_block_number(Tasks::reveal_ends(&task) + 1);
			assert_ok!(Tasks::expire(origin(W2), id));
			assert_noop!(Tasks::cancel_task(origin(REQUESTER), id), Error::<Test>::TaskNotOpen);
		});
	}
}
