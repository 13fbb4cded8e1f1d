//! Unit tests of the disputes pallet against a mock runtime with the real credits
//! and tasks pallets.

use crate::{mock::*, Auditors, DisputePhase, Disputes as DisputeRecords, DrawQueue, Error, Event, HoldReason};
use ccnet_primitives::{StakeProvider, Verdict};
use polkadot_sdk::{
	frame_support::{
		assert_noop, assert_ok,
		traits::{
			fungible::{Inspect, InspectHold},
			Hooks,
		},
		BoundedVec,
	},
	sp_core::H256,
};

const SALT: [u8; 32] = [4; 32];

fn origin(who: AccountId) -> RuntimeOrigin {
	RuntimeOrigin::signed(who)
}

fn h(n: u8) -> H256 {
	H256::repeat_byte(n)
}

fn free(who: AccountId) -> Balance {
	Balances::balance(&who)
}

fn stake_held(who: AccountId) -> Balance {
	Balances::balance_on_hold(&RuntimeHoldReason::Disputes(HoldReason::ChallengeStake), &who)
}

fn bonded(who: AccountId) -> Balance {
	Credits::active(&who) - Credits::free_stake(&who)
}

/// `who` challenges `worker`'s result for `task`, committing to expect `h(2)`.
fn challenge(who: AccountId, task: u64, worker: AccountId) -> u64 {
	let id = crate::NextDisputeId::<Test>::get();
	let expected = Disputes::expected_commitment(task, &worker, &h(2), &SALT);
	assert_ok!(Disputes::challenge(origin(who), task, worker, Some(expected)));
	id
}

/// Run the draw of dispute `id` in its block; returns the panel.
fn draw(id: u64) -> Vec<AccountId> {
	let DisputePhase::Drawing { draw_at } = DisputeRecords::<Test>::get(id).unwrap().phase else {
		panic!("not waiting for a draw")
	};
	System::set_block_number(draw_at);
	Disputes::on_initialize(draw_at);
	DisputeRecords::<Test>::get(id)
		.map(|d| d.verifiers.into_inner())
		.unwrap_or_default()
}

fn commit(v: AccountId, id: u64, hash: H256) {
	assert_ok!(Disputes::commit_vote(
		origin(v),
		id,
		Disputes::vote_commitment(id, &v, &hash, &SALT)
	));
}

fn reveal(v: AccountId, id: u64, hash: H256) -> polkadot_sdk::sp_runtime::DispatchResult {
	Disputes::reveal_vote(origin(v), id, hash, SALT)
}

fn reveal_expected(id: u64) {
	assert_ok!(Disputes::reveal_expected(origin(REQUESTER), id, h(2), SALT, None));
}

fn resolved() -> (Verdict, Balance, Vec<(AccountId, Balance)>, Balance) {
	System::events()
		.into_iter()
		.find_map(|r| match r.event {
			RuntimeEvent::Disputes(Event::DisputeResolved {
				verdict,
				slashed,
				rewards,
				to_winner,
				..
			}) => Some((verdict, slashed, rewards, to_winner)),
			_ => None,
		})
		.expect("a dispute resolved")
}

/// CHEAT's revealed result `h(1)`, challenged by the requester; the panel drawn.
fn drawn_dispute() -> (u64, u64, Vec<AccountId>) {
	let task = task_with_result(h(1));
	let id = challenge(REQUESTER, task, CHEAT);
	let panel = draw(id);
	(task, id, panel)
}

mod verdicts {
	use super::*;

	#[test]
	fn a_cheater_loses_its_claim_bond_to_verifiers_and_challenger() {
		run_test(|| {
			let (task, id, panel) = drawn_dispute();
			assert_eq!(panel.len(), 3);
			assert_eq!(stake_held(REQUESTER), CHALLENGE_STAKE);
			for v in &panel {
				assert_eq!(bonded(*v), VERIFIER_BOND);
				commit(*v, id, h(2));
			}
			let before: Vec<Balance> = panel.iter().map(|v| free(*v)).collect();
			let requester = free(REQUESTER);
			for v in &panel {
				assert_ok!(reveal(*v, id, h(2)));
			}
			// The challenger's expected result is the last thing revealed: it concludes.
			assert!(DisputeRecords::<Test>::contains_key(id));
			reveal_expected(id);
			assert!(!DisputeRecords::<Test>::contains_key(id));
			let (verdict, slashed, rewards, to_winner) = resolved();
			assert_eq!(verdict, Verdict::WorkerAtFault);
			assert_eq!(slashed, CLAIM_BOND);
			assert_eq!(rewards, panel.iter().map(|v| (*v, REWARD)).collect::<Vec<_>>());
			assert_eq!(to_winner, CLAIM_BOND - 3 * REWARD);
			for (v, b) in panel.iter().zip(before) {
				assert_eq!(free(*v), b + REWARD);
				assert_eq!(bonded(*v), 0);
			}
			assert_eq!(free(REQUESTER), requester + CHALLENGE_STAKE + CLAIM_BOND - 3 * REWARD);
			assert_eq!(Credits::active(&CHEAT), MIN_STAKE - CLAIM_BOND);
			assert!(pallet_tasks::Assignments::<Test>::get(task, CHEAT).is_none());
			assert!(pallet_tasks::Workers::<Test>::get(CHEAT)
				.unwrap()
				.banned_until
				.is_some());
		});
	}

	#[test]
	fn a_false_accusation_pays_the_worker_and_the_verifiers() {
		run_test(|| {
			let (task, id, panel) = drawn_dispute();
			for v in &panel {
				commit(*v, id, h(1));
			}
			let worker = free(CHEAT);
			let requester = free(REQUESTER);
			for v in &panel {
				assert_ok!(reveal(*v, id, h(1)));
			}
			reveal_expected(id);
			let (verdict, slashed, _, to_winner) = resolved();
			assert_eq!(
				(verdict, slashed, to_winner),
				(Verdict::WorkerUpheld, CHALLENGE_STAKE, CHALLENGE_STAKE - 3 * REWARD)
			);
			assert_eq!(free(CHEAT), worker + CHALLENGE_STAKE - 3 * REWARD);
			assert_eq!(free(REQUESTER), requester);
			assert_eq!(stake_held(REQUESTER), 0);
			// Judged: the result is never challenged again.
			assert!(pallet_tasks::Assignments::<Test>::get(task, CHEAT).unwrap().judged);
			let expected = Disputes::expected_commitment(task, &CHEAT, &h(2), &SALT);
			assert_noop!(
				Disputes::challenge(origin(V4), task, CHEAT, Some(expected)),
				Error::<Test>::NotDisputable
			);
		});
	}

	#[test]
	fn minority_and_silent_verifiers_lose_their_bond() {
		run_test(|| {
			let (_, id, panel) = drawn_dispute();
			let (a, b, c) = (panel[0], panel[1], panel[2]);
			commit(a, id, h(2));
			commit(b, id, h(2));
			commit(c, id, h(1));
			let issuance = Balances::total_issuance();
			assert_ok!(reveal(a, id, h(2)));
			assert_ok!(reveal(b, id, h(2)));
			assert_ok!(reveal(c, id, h(1)));
			reveal_expected(id);
			assert_eq!(resolved().0, Verdict::WorkerAtFault);
			System::assert_has_event(
				Event::VerifiersSlashed {
					dispute_id: id,
					verifiers: vec![(c, VERIFIER_BOND)],
				}
				.into(),
			);
			assert_eq!(Balances::total_issuance(), issuance - VERIFIER_BOND);
			assert_eq!(Credits::active(&c), MIN_STAKE - VERIFIER_BOND);
			assert_eq!(pallet_tasks::Workers::<Test>::get(c).unwrap().reputation.failed, 1);
		});
	}

	#[test]
	fn too_few_revealed_votes_are_inconclusive_and_the_silent_one_pays() {
		run_test(|| {
			let (task, id, panel) = drawn_dispute();
			for v in &panel {
				commit(*v, id, h(2));
			}
			let requester = free(REQUESTER);
			assert_ok!(reveal(panel[0], id, h(2)));
			assert_ok!(reveal(panel[1], id, h(2)));
			reveal_expected(id);
			let DisputePhase::Voting { reveal_ends, .. } = DisputeRecords::<Test>::get(id).unwrap().phase else {
				panic!()
			};
			assert_noop!(Disputes::resolve(origin(V4), id), Error::<Test>::VotingOpen);
			System::set_block_number(reveal_ends + 1);
			assert_ok!(Disputes::resolve(origin(V4), id));
			let (verdict, slashed, rewards, _) = resolved();
			assert_eq!((verdict, slashed, rewards), (Verdict::Inconclusive, 0, vec![]));
			assert_eq!(free(REQUESTER), requester + CHALLENGE_STAKE);
			assert_eq!(Credits::active(&panel[2]), MIN_STAKE - VERIFIER_BOND);
			assert_eq!(bonded(panel[0]), 0);
			// No verdict: not judged, and the challenge window reopens from now, so a
			// silent verifier cannot shield the result.
			let a = pallet_tasks::Assignments::<Test>::get(task, CHEAT).unwrap();
			assert!(!a.judged && !a.disputed);
			let reopened = pallet_tasks::Tasks::<Test>::get(task).unwrap().reopened_until;
			assert_eq!(reopened, Some(reveal_ends + 1 + TASK_WINDOW));
			System::set_block_number(reveal_ends + 1 + TASK_WINDOW);
			let again = challenge(REQUESTER, task, CHEAT);
			assert_eq!(draw(again).len(), 3);
		});
	}
}

mod draws {
	use super::*;

	#[test]
	fn the_panel_comes_from_the_draw_block_not_the_challenge_block() {
		run_test(|| {
			register(V4);
			register(V5);
			let task = task_with_result(h(1));
			let id = challenge(REQUESTER, task, CHEAT);
			let DisputePhase::Drawing { draw_at } = DisputeRecords::<Test>::get(id).unwrap().phase else {
				panic!()
			};
			assert_eq!(draw_at, 1 + DRAW_DELAY);
			System::assert_last_event(
				Event::DisputeOpened {
					dispute_id: id,
					task_id: task,
					worker: CHEAT,
					challenger: REQUESTER,
					stake: CHALLENGE_STAKE,
					draw_at,
				}
				.into(),
			);
			// The same dispute drawn after two different histories gets different
			// panels: the challenger cannot know the panel when it challenges.
			let panels: Vec<Vec<AccountId>> = [1u8, 2, 3, 4]
				.iter()
				.map(|n| {
					polkadot_sdk::frame_support::storage::with_transaction_unchecked(|| {
						System::set_parent_hash(H256::repeat_byte(*n));
						let panel = draw(id);
						polkadot_sdk::frame_support::storage::TransactionOutcome::Rollback(panel)
					})
				})
				.collect();
			assert!(panels.iter().any(|p| p != &panels[0]), "{panels:?}");
			for panel in panels {
				assert_eq!(panel.len(), 3);
				assert!(!panel.contains(&CHEAT) && !panel.contains(&REQUESTER));
			}
		});
	}

	#[test]
	fn parties_and_bonded_workers_are_never_drawn() {
		run_test(|| {
			register(V4);
			register(V5);
			// V1 has all its stake bonded: it cannot back a verifier duty.
			assert_ok!(Credits::bond(&V1, MIN_STAKE));
			let task = task_with_result(h(1));
			// V2 challenges as an outsider (no part in the task): it pays more and is
			// excluded from the draw too.
			let expected = Disputes::expected_commitment(task, &CHEAT, &h(2), &SALT);
			let outsider_before = free(V2);
			assert_ok!(Disputes::challenge(origin(V2), task, CHEAT, Some(expected)));
			assert_eq!(free(V2), outsider_before - OUTSIDER_STAKE);
			let mut panel = draw(0);
			panel.sort();
			assert_eq!(panel, vec![V3, V4, V5]);
			Credits::release_bond(&V1, MIN_STAKE);
		});
	}

	#[test]
	fn too_few_candidates_drop_the_dispute_without_judging() {
		run_test(|| {
			// Three candidates, one of them the challenger: two remain, fewer than
			// MinVerifiers.
			let task = task_with_result(h(1));
			let expected = Disputes::expected_commitment(task, &CHEAT, &h(2), &SALT);
			let before = free(V1);
			assert_ok!(Disputes::challenge(origin(V1), task, CHEAT, Some(expected)));
			assert!(draw(0).is_empty());
			System::assert_has_event(Event::NotEnoughVerifiers { dispute_id: 0 }.into());
			assert_eq!(free(V1), before);
			// Not judged: the requester can still challenge once more workers join.
			register(V4);
			register(V5);
			let id = challenge(REQUESTER, task, CHEAT);
			assert_eq!(draw(id).len(), 3);
		});
	}

	#[test]
	fn a_full_draw_queue_pushes_draws_later() {
		run_test(|| {
			let task = task_with_result(h(1));
			let first = 1 + DRAW_DELAY;
			let full: BoundedVec<u64, _> = vec![100, 101].try_into().unwrap();
			DrawQueue::<Test>::insert(first, full.clone());
			let id = challenge(REQUESTER, task, CHEAT);
			assert_eq!(
				DisputeRecords::<Test>::get(id).unwrap().phase,
				DisputePhase::Drawing { draw_at: first + 1 }
			);
			DrawQueue::<Test>::remove(first);
			// Every block within reach full: the challenge is refused.
			let other = task_with_result(h(1));
			for offset in 0..16 {
				DrawQueue::<Test>::insert(first + offset, full.clone());
			}
			let expected = Disputes::expected_commitment(other, &CHEAT, &h(2), &SALT);
			assert_noop!(
				Disputes::challenge(origin(REQUESTER), other, CHEAT, Some(expected)),
				Error::<Test>::DrawQueueFull
			);
			for offset in 0..16 {
				DrawQueue::<Test>::remove(first + offset);
			}
			DrawQueue::<Test>::insert(first + 1, BoundedVec::truncate_from(vec![id]));
		});
	}
}

mod commit_reveal {
	use super::*;

	#[test]
	fn phases_at_their_last_block_and_one_after() {
		run_test(|| {
			let (_, id, panel) = drawn_dispute();
			let DisputePhase::Voting {
				commit_ends,
				reveal_ends,
			} = DisputeRecords::<Test>::get(id).unwrap().phase
			else {
				panic!()
			};
			commit(panel[0], id, h(2));
			// Reveals wait for every commitment (or the end of the commit phase).
			assert_noop!(reveal(panel[0], id, h(2)), Error::<Test>::RevealNotOpen);
			System::set_block_number(commit_ends);
			commit(panel[1], id, h(2));
			System::set_block_number(commit_ends + 1);
			let late = Disputes::vote_commitment(id, &panel[2], &h(2), &SALT);
			assert_noop!(
				Disputes::commit_vote(origin(panel[2]), id, late),
				Error::<Test>::CommitClosed
			);
			assert_ok!(reveal(panel[0], id, h(2)));
			assert_noop!(reveal(panel[2], id, h(2)), Error::<Test>::NotCommitted);
			System::set_block_number(reveal_ends);
			assert_ok!(reveal(panel[1], id, h(2)));
			System::set_block_number(reveal_ends + 1);
			assert_noop!(
				Disputes::reveal_expected(origin(REQUESTER), id, h(2), SALT, None),
				Error::<Test>::RevealClosed
			);
			assert_ok!(Disputes::resolve(origin(V4), id));
		});
	}

	#[test]
	fn a_copied_commitment_cannot_be_revealed() {
		run_test(|| {
			let (_, id, panel) = drawn_dispute();
			let (honest, copier, third) = (panel[0], panel[1], panel[2]);
			commit(honest, id, h(2));
			// The copier submits the honest verifier's commitment: it binds the
			// honest verifier's account, so the copier can never reveal it.
			let copied = DisputeRecords::<Test>::get(id).unwrap().commitments[0].1;
			assert_ok!(Disputes::commit_vote(origin(copier), id, copied));
			commit(third, id, h(2));
			assert_ok!(reveal(honest, id, h(2)));
			assert_noop!(reveal(copier, id, h(2)), Error::<Test>::BadReveal);
			assert_noop!(
				Disputes::reveal_vote(origin(copier), id, h(2), [0; 32]),
				Error::<Test>::BadReveal
			);
			assert_noop!(reveal(honest, id, h(2)), Error::<Test>::AlreadyRevealed);
			assert_noop!(reveal(V4, id, h(2)), Error::<Test>::NotCommitted);
		});
	}

	#[test]
	fn errors() {
		run_test(|| {
			let task = task_with_result(h(1));
			assert_noop!(
				Disputes::challenge(origin(CHEAT), task, CHEAT, None),
				Error::<Test>::SelfChallenge
			);
			assert_noop!(
				Disputes::challenge(origin(REQUESTER), task, V1, None),
				Error::<Test>::NotDisputable
			);
			assert_noop!(
				Disputes::challenge(origin(REQUESTER), 99, CHEAT, None),
				Error::<Test>::NotDisputable
			);
			let id = challenge(REQUESTER, task, CHEAT);
			assert_noop!(
				Disputes::challenge(origin(V4), task, CHEAT, None),
				Error::<Test>::NotDisputable
			);
			let c = Disputes::vote_commitment(id, &V1, &h(2), &SALT);
			assert_noop!(Disputes::commit_vote(origin(V1), id, c), Error::<Test>::NotDrawn);
			assert_noop!(Disputes::resolve(origin(V1), id), Error::<Test>::NotDrawn);
			assert_noop!(Disputes::commit_vote(origin(V1), 9, c), Error::<Test>::UnknownDispute);
			let panel = draw(id);
			assert_noop!(Disputes::commit_vote(origin(V4), id, c), Error::<Test>::NotVerifier);
			commit(panel[0], id, h(2));
			assert_noop!(
				Disputes::commit_vote(origin(panel[0]), id, c),
				Error::<Test>::AlreadyCommitted
			);
			assert_noop!(
				Disputes::reveal_expected(origin(V4), id, h(2), SALT, None),
				Error::<Test>::NotChallenger
			);
		});
	}
}

mod audits {
	use super::*;

	#[test]
	fn lazy_verifiers_are_slashed_by_a_forced_error() {
		run_test(|| {
			// The auditor's key is registered as a salted hash: nothing tells its
			// disputes apart until it reveals. The "worker" is the auditor's own
			// identity that revealed a wrong result on purpose; every verifier lazily
			// votes that the worker is right.
			let key = Disputes::auditor_key(&REQUESTER, &[9; 32]);
			assert_noop!(
				Disputes::register_auditor(origin(REQUESTER), key),
				polkadot_sdk::sp_runtime::DispatchError::BadOrigin
			);
			assert_ok!(Disputes::register_auditor(RuntimeOrigin::root(), key));
			let (_, id, panel) = drawn_dispute();
			for v in &panel {
				commit(*v, id, h(1));
			}
			for v in &panel {
				assert_ok!(reveal(*v, id, h(1)));
			}
			assert_noop!(
				Disputes::reveal_expected(origin(REQUESTER), id, h(2), SALT, Some([8; 32])),
				Error::<Test>::NotAuditor
			);
			assert_noop!(
				Disputes::reveal_expected(origin(REQUESTER), id, h(3), SALT, Some([9; 32])),
				Error::<Test>::BadReveal
			);
			let issuance = Balances::total_issuance();
			assert_ok!(Disputes::reveal_expected(
				origin(REQUESTER),
				id,
				h(2),
				SALT,
				Some([9; 32])
			));
			System::assert_has_event(
				Event::ExpectedRevealed {
					dispute_id: id,
					expected_hash: h(2),
					audit: true,
				}
				.into(),
			);
			let (verdict, slashed, rewards, to_winner) = resolved();
			assert_eq!(
				(verdict, slashed, rewards, to_winner),
				(Verdict::WorkerAtFault, CLAIM_BOND, vec![], CLAIM_BOND)
			);
			for v in &panel {
				assert_eq!(Credits::active(v), MIN_STAKE - VERIFIER_BOND);
			}
			assert_eq!(Balances::total_issuance(), issuance - 3 * VERIFIER_BOND);
			assert_ok!(Disputes::remove_auditor(RuntimeOrigin::root(), key));
			assert!(!Auditors::<Test>::contains_key(key));
		});
	}
}

mod stakes {
	use super::*;

	#[test]
	fn each_dispute_accounts_its_own_stake() {
		run_test(|| {
			register(V4);
			register(V5);
			// Two open disputes of one challenger: concluding one must not touch the
			// other's stake.
			let (first_task, second_task) = (task_with_result(h(1)), task_with_result(h(1)));
			let first = challenge(REQUESTER, first_task, CHEAT);
			let second = challenge(REQUESTER, second_task, CHEAT);
			assert_eq!(stake_held(REQUESTER), 2 * CHALLENGE_STAKE);
			// Both are drawn at the start of the same block.
			let panel = draw(first);
			assert!(matches!(
				DisputeRecords::<Test>::get(second).unwrap().phase,
				DisputePhase::Voting { .. }
			));
			for v in &panel {
				commit(*v, first, h(1));
			}
			for v in &panel {
				assert_ok!(reveal(*v, first, h(1)));
			}
			reveal_expected(first);
			assert_eq!(resolved().0, Verdict::WorkerUpheld);
			assert_eq!(stake_held(REQUESTER), CHALLENGE_STAKE);
			assert!(DisputeRecords::<Test>::contains_key(second));
		});
	}

	#[test]
	fn a_cheater_cannot_unbond_out_of_its_slash() {
		run_test(|| {
			let (_, id, panel) = drawn_dispute();
			// Its claim bond is locked: it cannot start unbonding it.
			let free_stake = Credits::free_stake(&CHEAT);
			assert_ok!(Credits::unstake(origin(CHEAT), free_stake));
			assert_noop!(
				Credits::unstake(origin(CHEAT), 1),
				pallet_credits::Error::<Test>::StakeBonded
			);
			for v in &panel {
				commit(*v, id, h(2));
			}
			for v in &panel {
				assert_ok!(reveal(*v, id, h(2)));
			}
			reveal_expected(id);
			let (verdict, slashed, _, _) = resolved();
			assert_eq!((verdict, slashed), (Verdict::WorkerAtFault, CLAIM_BOND));
		});
	}

	#[test]
	fn a_small_registry_cannot_host_a_dispute() {
		new_test_ext().execute_with(|| {
			register(CHEAT);
			register(V1);
			let task = task_with_result(h(1));
			assert_noop!(
				Disputes::challenge(origin(REQUESTER), task, CHEAT, None),
				Error::<Test>::NoVerifiers
			);
		});
	}

	#[test]
	fn a_challenger_must_afford_its_stake() {
		run_test(|| {
			let task = task_with_result(h(1));
			let poor: AccountId = 99;
			let _ = Balances::force_set_balance(RuntimeOrigin::root(), poor, CHALLENGE_STAKE);
			assert_noop!(
				Disputes::challenge(origin(poor), task, CHEAT, None),
				Error::<Test>::InsufficientBalance
			);
		});
	}
}

#[test]
fn try_state_detects_a_stake_without_hold() {
	new_test_ext().execute_with(|| {
		for w in [CHEAT, V1, V2, V3] {
			register(w);
		}
		let task = task_with_result(h(1));
		let id = challenge(REQUESTER, task, CHEAT);
		DisputeRecords::<Test>::mutate(id, |d| d.as_mut().unwrap().stake = CHALLENGE_STAKE + 1);
		assert!(Disputes::do_try_state().is_err());
	});
}

#[test]
fn integrity_test_passes() {
	use polkadot_sdk::frame_support::traits::IntegrityTest;
	new_test_ext().execute_with(AllPalletsWithSystem::integrity_test);
}
