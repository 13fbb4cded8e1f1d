//! Unit tests of the checkpoints pallet against the mock runtime.

use crate::{mock::*, Error, Event, History, Latest};
use polkadot_sdk::{
	frame_support::{assert_noop, assert_ok, traits::Get, BoundedVec},
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
