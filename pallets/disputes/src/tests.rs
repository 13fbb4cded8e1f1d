//! Unit tests of the disputes pallet against the mock runtime (real credits
//! and tasks pallets).

use crate::{mock::*, DisputeIndex, Disputes as DisputeRecords, Error, Event, HoldReason};
use ccnet_primitives::{StakeProvider, Verdict};
use polkadot_sdk::{
	frame_support::{
		assert_noop, assert_ok,
		traits::fungible::{Inspect, InspectHold},
	},
	sp_core::H256,
};

const RIGHT: H256 = H256::repeat_byte(1);
const WRONG: H256 = H256::repeat_byte(2);

fn origin(who: AccountId) -> RuntimeOrigin {
	RuntimeOrigin::signed(who)
}

fn challenge_held(who: AccountId) -> Balance {
	Balances::balance_on_hold(&RuntimeHoldReason::Disputes(HoldReason::ChallengeStake), &who)
}

fn verifiers(id: u64) -> Vec<AccountId> {
	DisputeRecords::<Test>::get(id).unwrap().verifiers.into_inner()
}

/// Open a dispute of REQUESTER against CHEAT's `claimed` result; returns (task, dispute).
fn open(claimed: H256) -> (u64, u64) {
	let task = task_with_result(claimed);
	let id = crate::NextDisputeId::<Test>::get();
	assert_ok!(Disputes::challenge(origin(REQUESTER), task, CHEAT));
	(task, id)
}

mod challenge {
	use super::*;

	#[test]
	fn selects_distinct_verifiers_and_holds_the_stake() {
		run_test(|| {
			let (task, id) = open(WRONG);
			let mut chosen = verifiers(id);
			chosen.sort();
			assert_eq!(chosen, vec![V1, V2, V3]);
			assert_eq!(challenge_held(REQUESTER), CHALLENGE_STAKE);
			assert_eq!(DisputeIndex::<Test>::get(task, CHEAT), Some(id));
			System::assert_last_event(
				Event::DisputeOpened {
					dispute_id: id,
					task_id: task,
					worker: CHEAT,
					challenger: REQUESTER,
					verifiers: verifiers(id),
					voting_ends: 1 + VOTING,
				}
				.into(),
			);
			// The result is frozen: the requester cannot accept it meanwhile.
			assert_noop!(
				Tasks::accept(origin(REQUESTER), task, CHEAT),
				pallet_tasks::Error::<Test>::ResultDisputed
			);
		});
	}

	#[test]
	fn never_selects_the_accused_or_the_challenger_and_caps_at_verifier_count() {
		run_test(|| {
			register(V4);
			register(REQUESTER);
			let (_, id) = open(WRONG);
			let chosen = verifiers(id);
			assert_eq!(chosen.len(), 3);
			assert!(!chosen.contains(&CHEAT) && !chosen.contains(&REQUESTER));
		});
	}

	#[test]
	fn one_eligible_verifier_is_enough() {
		run_test(|| {
			assert_ok!(Tasks::deregister_worker(origin(V2)));
			assert_ok!(Tasks::deregister_worker(origin(V3)));
			let (_, id) = open(WRONG);
			assert_eq!(verifiers(id), vec![V1]);
		});
	}

	#[test]
	fn errors() {
		run_test(|| {
			let task = task_with_result(WRONG);
			assert_noop!(
				Disputes::challenge(origin(CHEAT), task, CHEAT),
				Error::<Test>::SelfChallenge
			);
			assert_noop!(
				Disputes::challenge(origin(REQUESTER), task, V1),
				Error::<Test>::NoResult
			);
			assert_noop!(
				Disputes::challenge(origin(REQUESTER), 99, CHEAT),
				Error::<Test>::NoResult
			);
			assert_ok!(Disputes::challenge(origin(REQUESTER), task, CHEAT));
			assert_noop!(
				Disputes::challenge(origin(V1), task, CHEAT),
				Error::<Test>::AlreadyDisputed
			);
			let poor = 77;
			let other = task_with_result_of_new_task();
			assert_noop!(
				Disputes::challenge(origin(poor), other, CHEAT),
				Error::<Test>::InsufficientBalance
			);
			crate::NextDisputeId::<Test>::put(u64::MAX);
			assert_noop!(
				Disputes::challenge(origin(REQUESTER), other, CHEAT),
				Error::<Test>::Overflow
			);
		});
	}

	fn task_with_result_of_new_task() -> u64 {
		task_with_result(RIGHT)
	}

	#[test]
	fn no_verifiers_means_no_dispute() {
		run_test(|| {
			for v in [V1, V2, V3] {
				assert_ok!(Tasks::deregister_worker(origin(v)));
			}
			let task = task_with_result(WRONG);
			assert_noop!(
				Disputes::challenge(origin(REQUESTER), task, CHEAT),
				Error::<Test>::NoVerifiers
			);
		});
	}
}

mod outcomes {
	use super::*;

	#[test]
	fn cheater_is_slashed_and_banned_challenger_and_verifiers_paid() {
		run_test(|| {
			let (task, id) = open(WRONG);
			let requester_before = Balances::balance(&REQUESTER);
			for v in verifiers(id) {
				assert_ok!(Disputes::vote(origin(v), id, RIGHT));
			}
			// The last vote resolved it.
			assert!(DisputeRecords::<Test>::get(id).is_none());
			assert_eq!(Credits::staked(&CHEAT), MIN_STAKE - WORKER_SLASH);
			for v in [V1, V2, V3] {
				assert_eq!(Balances::balance(&v), INITIAL - MIN_STAKE + REWARD);
			}
			// Stake released plus the slash minus three rewards.
			assert_eq!(
				Balances::balance(&REQUESTER),
				requester_before + CHALLENGE_STAKE + WORKER_SLASH - 3 * REWARD
			);
			assert_eq!(challenge_held(REQUESTER), 0);
			assert!(!<Tasks as ccnet_primitives::WorkerRegistry<_>>::is_eligible(&CHEAT));
			let event = System::events().into_iter().rev().find_map(|r| match r.event {
				RuntimeEvent::Disputes(e @ Event::DisputeResolved { .. }) => Some(e),
				_ => None,
			});
			let Some(Event::DisputeResolved {
				verdict,
				slashed,
				rewarded,
				..
			}) = event
			else {
				panic!("no event")
			};
			assert_eq!(
				(verdict, slashed, rewarded.len()),
				(Verdict::WorkerAtFault, WORKER_SLASH, 3)
			);
			// The voided claim frees the task for an honest worker.
			assert_ok!(Tasks::claim(origin(V1), task));
		});
	}

	#[test]
	fn false_accuser_loses_its_stake() {
		run_test(|| {
			let (task, id) = open(RIGHT);
			let (cheat_before, requester_before) = (Balances::balance(&CHEAT), Balances::balance(&REQUESTER));
			for v in verifiers(id) {
				assert_ok!(Disputes::vote(origin(v), id, RIGHT));
			}
			assert_eq!(Balances::balance(&CHEAT), cheat_before + CHALLENGE_STAKE - 3 * REWARD);
			assert_eq!(Balances::balance(&REQUESTER), requester_before);
			assert_eq!(challenge_held(REQUESTER), 0);
			assert_eq!(Credits::staked(&CHEAT), MIN_STAKE);
			// Reputation restored; the result can be accepted now.
			assert_eq!(
				pallet_tasks::Workers::<Test>::get(CHEAT).unwrap().reputation.disputed,
				0
			);
			assert_ok!(Tasks::accept(origin(REQUESTER), task, CHEAT));
		});
	}

	#[test]
	fn majority_decides_and_minority_is_not_paid() {
		run_test(|| {
			let (_, id) = open(WRONG);
			let vs = verifiers(id);
			assert_ok!(Disputes::vote(origin(vs[0]), id, WRONG));
			assert_ok!(Disputes::vote(origin(vs[1]), id, RIGHT));
			assert_ok!(Disputes::vote(origin(vs[2]), id, H256::repeat_byte(3)));
			assert_eq!(Balances::balance(&vs[0]), INITIAL - MIN_STAKE);
			assert_eq!(Balances::balance(&vs[1]), INITIAL - MIN_STAKE + REWARD);
			assert_eq!(Credits::staked(&CHEAT), MIN_STAKE - WORKER_SLASH);
		});
	}

	#[test]
	fn tie_or_silence_is_inconclusive_after_the_period() {
		run_test(|| {
			let (_, id) = open(WRONG);
			let vs = verifiers(id);
			assert_ok!(Disputes::vote(origin(vs[0]), id, WRONG));
			assert_ok!(Disputes::vote(origin(vs[1]), id, RIGHT));
			assert_noop!(Disputes::resolve(origin(V4), id), Error::<Test>::VotingOpen);
			System::set_block_number(2 + VOTING);
			assert_noop!(Disputes::vote(origin(vs[2]), id, RIGHT), Error::<Test>::VotingClosed);
			let before = Balances::balance(&REQUESTER);
			assert_ok!(Disputes::resolve(origin(V4), id));
			assert_eq!(Balances::balance(&REQUESTER), before + CHALLENGE_STAKE);
			// The verifier that stayed silent is penalised; the voters are not.
			System::assert_has_event(
				Event::VerifiersMissedVote {
					dispute_id: id,
					verifiers: vec![vs[2]],
				}
				.into(),
			);
			assert_eq!(pallet_tasks::Workers::<Test>::get(vs[2]).unwrap().reputation.failed, 1);
			assert_eq!(pallet_tasks::Workers::<Test>::get(vs[0]).unwrap().reputation.failed, 0);
			assert_eq!(Credits::staked(&CHEAT), MIN_STAKE);
			let (_, silent) = open(WRONG);
			System::set_block_number(3 + 2 * VOTING);
			assert_ok!(Disputes::resolve(origin(V4), silent));
		});
	}

	#[test]
	fn slash_is_capped_by_the_cheaters_stake() {
		run_test(|| {
			let (_, id) = open(WRONG);
			assert_ok!(Credits::unstake(origin(CHEAT), MIN_STAKE));
			System::set_block_number(20);
			assert_ok!(Credits::withdraw_unbonded(origin(CHEAT)));
			System::set_block_number(2);
			for v in verifiers(id) {
				assert_ok!(Disputes::vote(origin(v), id, RIGHT));
			}
			assert_eq!(Credits::staked(&CHEAT), 0);
		});
	}
}

#[test]
fn vote_errors() {
	run_test(|| {
		assert_noop!(Disputes::vote(origin(V1), 0, RIGHT), Error::<Test>::UnknownDispute);
		assert_noop!(Disputes::resolve(origin(V1), 0), Error::<Test>::UnknownDispute);
		let (_, id) = open(WRONG);
		assert_noop!(Disputes::vote(origin(CHEAT), id, RIGHT), Error::<Test>::NotVerifier);
		let v = verifiers(id)[0];
		assert_ok!(Disputes::vote(origin(v), id, RIGHT));
		assert_noop!(Disputes::vote(origin(v), id, RIGHT), Error::<Test>::AlreadyVoted);
	});
}

#[test]
fn try_state_detects_a_stake_without_hold() {
	new_test_ext().execute_with(|| {
		for w in [CHEAT, V1] {
			register(w);
		}
		let (_, id) = open(WRONG);
		DisputeRecords::<Test>::mutate(id, |d| d.as_mut().unwrap().stake = 1);
		assert!(Disputes::do_try_state().is_err());
	});
}

#[test]
fn integrity_test_passes() {
	use polkadot_sdk::frame_support::traits::IntegrityTest;
	new_test_ext().execute_with(AllPalletsWithSystem::integrity_test);
}
