//! Unit tests of the checkpoints pallet against the mock runtime.

use crate::{mock::*, Error, Event, History, HoldReason, JobCheckpoints, Latest};
use polkadot_sdk::{
	frame_support::{
		assert_noop, assert_ok,
		traits::{fungible::InspectHold, Get},
		BoundedVec,
	},
	sp_core::H256,
	sp_runtime::DispatchError,
};

fn tx(n: u8) -> BoundedVec<u8, MaxTxIdLen> {
	vec![b'a' + n; 43].try_into().unwrap()
}

#[test]
fn record_sets_latest_and_appends_history() {
	run_test(|| {
		assert_ok!(Checkpoints::record(
			RuntimeOrigin::signed(ALICE),
			H256::repeat_byte(1),
			tx(0),
			0
		));
		System::set_block_number(5);
		assert_ok!(Checkpoints::record(
			RuntimeOrigin::signed(ALICE),
			H256::repeat_byte(2),
			tx(1),
			u64::MAX
		));
		System::assert_last_event(
			Event::CheckpointRecorded {
				owner: ALICE,
				state_hash: H256::repeat_byte(2),
				arweave_tx_id: tx(1),
				size: u64::MAX,
			}
			.into(),
		);
		let latest = Latest::<Test>::get(ALICE).unwrap();
		assert_eq!(
			(latest.state_hash, latest.size, latest.block),
			(H256::repeat_byte(2), u64::MAX, 5)
		);
		assert_eq!(History::<Test>::get(ALICE).len(), 2);
		assert!(Latest::<Test>::get(BOB).is_none());
	});
}

#[test]
fn history_keeps_the_newest_records() {
	run_test(|| {
		for n in 0..(MAX_HISTORY as u8 + 2) {
			assert_ok!(Checkpoints::record(
				RuntimeOrigin::signed(ALICE),
				H256::repeat_byte(n),
				tx(n),
				n.into()
			));
		}
		let history = History::<Test>::get(ALICE);
		assert_eq!(history.len() as u32, <MaxHistory as Get<u32>>::get());
		assert_eq!(history.first().unwrap().state_hash, H256::repeat_byte(2));
		assert_eq!(
			history.last().unwrap().state_hash,
			H256::repeat_byte(MAX_HISTORY as u8 + 1)
		);
	});
}

#[test]
fn one_byte_tx_id_is_enough_and_empty_is_rejected() {
	run_test(|| {
		let one: BoundedVec<u8, MaxTxIdLen> = vec![b'x'].try_into().unwrap();
		assert_ok!(Checkpoints::record(RuntimeOrigin::signed(BOB), H256::zero(), one, 1));
		assert_noop!(
			Checkpoints::record(RuntimeOrigin::signed(BOB), H256::zero(), Default::default(), 1),
			Error::<Test>::EmptyTxId
		);
		assert_noop!(
			Checkpoints::record(RuntimeOrigin::none(), H256::zero(), tx(0), 1),
			DispatchError::BadOrigin
		);
	});
}

#[test]
fn clear_forgets_only_the_caller() {
	run_test(|| {
		assert_noop!(
			Checkpoints::clear(RuntimeOrigin::signed(ALICE)),
			Error::<Test>::NoCheckpoints
		);
		assert_ok!(Checkpoints::record(
			RuntimeOrigin::signed(ALICE),
			H256::zero(),
			tx(0),
			1
		));
		assert_ok!(Checkpoints::record(RuntimeOrigin::signed(BOB), H256::zero(), tx(0), 1));
		assert_ok!(Checkpoints::clear(RuntimeOrigin::signed(ALICE)));
		System::assert_last_event(Event::CheckpointsCleared { owner: ALICE }.into());
		assert!(Latest::<Test>::get(ALICE).is_none());
		assert!(History::<Test>::get(ALICE).is_empty());
		assert!(Latest::<Test>::get(BOB).is_some());
	});
}

#[test]
fn try_state_detects_a_stale_latest() {
	new_test_ext().execute_with(|| {
		assert_ok!(Checkpoints::record(
			RuntimeOrigin::signed(ALICE),
			H256::zero(),
			tx(0),
			1
		));
		Latest::<Test>::mutate(ALICE, |r| r.as_mut().unwrap().size = 2);
		assert!(Checkpoints::do_try_state().is_err());
	});
}

const JOB: [u8; 16] = [9; 16];

fn record_job(
	who: u64,
	job: [u8; 16],
	checkpoint: u32,
	n: u8,
) -> polkadot_sdk::frame_support::dispatch::DispatchResult {
	Checkpoints::record_job(
		RuntimeOrigin::signed(who),
		job,
		checkpoint,
		H256::repeat_byte(n),
		tx(n),
		n.into(),
	)
}

fn held(who: u64) -> u64 {
	Balances::balance_on_hold(&HoldReason::JobRecordDeposit.into(), &who)
}

#[test]
fn a_jobs_first_record_holds_the_deposit_and_later_ones_replace_it() {
	run_test(|| {
		assert_ok!(record_job(ALICE, JOB, 1, 1));
		assert_eq!(
			(held(ALICE), Balances::free_balance(ALICE)),
			(JOB_DEPOSIT, INITIAL - JOB_DEPOSIT)
		);
		System::set_block_number(4);
		assert_ok!(record_job(ALICE, JOB, 3, 2));
		System::assert_last_event(
			Event::JobCheckpointRecorded {
				owner: ALICE,
				job_id: JOB,
				checkpoint: 3,
				state_hash: H256::repeat_byte(2),
				arweave_tx_id: tx(2),
				size: 2,
			}
			.into(),
		);
		let entry = JobCheckpoints::<Test>::get(ALICE, JOB).unwrap();
		assert_eq!(
			(entry.checkpoint, entry.record.state_hash, entry.record.block),
			(3, H256::repeat_byte(2), 4)
		);
		// Still one deposit for the job; a second job holds another.
		assert_eq!(held(ALICE), JOB_DEPOSIT);
		assert_ok!(record_job(ALICE, [1; 16], 1, 1));
		assert_eq!(
			(held(ALICE), Balances::free_balance(ALICE)),
			(2 * JOB_DEPOSIT, INITIAL - 2 * JOB_DEPOSIT)
		);
		// The per-owner registry is untouched.
		assert!(Latest::<Test>::get(ALICE).is_none());
	});
}

#[test]
fn a_jobs_record_never_rolls_back() {
	run_test(|| {
		assert_ok!(record_job(ALICE, JOB, 5, 5));
		assert_noop!(record_job(ALICE, JOB, 5, 6), Error::<Test>::StaleCheckpoint);
		assert_noop!(record_job(ALICE, JOB, 4, 4), Error::<Test>::StaleCheckpoint);
		assert_eq!(
			JobCheckpoints::<Test>::get(ALICE, JOB).unwrap().record.state_hash,
			H256::repeat_byte(5)
		);
	});
}

#[test]
fn another_owner_cannot_touch_a_jobs_record() {
	run_test(|| {
		assert_ok!(record_job(ALICE, JOB, 1, 1));
		// Bob's record of the same job id is his own entry, with his own deposit.
		assert_ok!(record_job(BOB, JOB, 9, 9));
		assert_eq!(JobCheckpoints::<Test>::get(ALICE, JOB).unwrap().checkpoint, 1);
		assert_noop!(
			Checkpoints::clear_job(RuntimeOrigin::signed(BOB), [1; 16]),
			Error::<Test>::NoJobCheckpoint
		);
		System::set_block_number(1 + RETENTION);
		assert_ok!(Checkpoints::clear_job(RuntimeOrigin::signed(BOB), JOB));
		assert_eq!(JobCheckpoints::<Test>::get(ALICE, JOB).unwrap().checkpoint, 1);
		assert_eq!((held(ALICE), held(BOB)), (JOB_DEPOSIT, 0));
		assert_eq!(Balances::free_balance(BOB), INITIAL);
	});
}

#[test]
fn clear_job_releases_exactly_the_deposit() {
	run_test(|| {
		assert_noop!(
			Checkpoints::clear_job(RuntimeOrigin::signed(ALICE), JOB),
			Error::<Test>::NoJobCheckpoint
		);
		assert_ok!(record_job(ALICE, JOB, 1, 1));
		System::set_block_number(3);
		assert_ok!(record_job(ALICE, JOB, 2, 2));
		// Not before RETENTION blocks after its last update: a clear and a new first
		// record would roll the job back to an older image at once.
		System::set_block_number(2 + RETENTION);
		assert_noop!(
			Checkpoints::clear_job(RuntimeOrigin::signed(ALICE), JOB),
			Error::<Test>::RecordTooRecent
		);
		System::set_block_number(3 + RETENTION);
		assert_ok!(Checkpoints::clear_job(RuntimeOrigin::signed(ALICE), JOB));
		System::assert_last_event(
			Event::JobCheckpointCleared {
				owner: ALICE,
				job_id: JOB,
				deposit: JOB_DEPOSIT,
			}
			.into(),
		);
		assert_eq!((held(ALICE), Balances::free_balance(ALICE)), (0, INITIAL));
		assert!(JobCheckpoints::<Test>::get(ALICE, JOB).is_none());
		// Recorded again from any number: a new entry, a new deposit.
		assert_ok!(record_job(ALICE, JOB, 1, 1));
		assert_eq!(held(ALICE), JOB_DEPOSIT);
	});
}

#[test]
fn a_record_needs_its_deposit_and_a_tx_id() {
	run_test(|| {
		assert_noop!(record_job(CAROL, JOB, 1, 1), Error::<Test>::InsufficientBalance);
		assert_noop!(
			Checkpoints::record_job(
				RuntimeOrigin::signed(ALICE),
				JOB,
				1,
				H256::zero(),
				Default::default(),
				1
			),
			Error::<Test>::EmptyTxId
		);
		assert_noop!(
			Checkpoints::record_job(RuntimeOrigin::none(), JOB, 1, H256::zero(), tx(0), 1),
			DispatchError::BadOrigin
		);
	});
}

#[test]
fn try_state_detects_a_deposit_that_is_not_held() {
	new_test_ext().execute_with(|| {
		assert_ok!(record_job(ALICE, JOB, 1, 1));
		JobCheckpoints::<Test>::mutate(ALICE, JOB, |e| e.as_mut().unwrap().deposit = JOB_DEPOSIT + 1);
		assert!(Checkpoints::do_try_state().is_err());
	});
}
