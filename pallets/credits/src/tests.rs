//! Unit tests of the credits pallet against the mock runtime.

use crate::{mock::*, Debts, Error, Event, HoldReason, NetPosition, Stakes, TotalDebt};
use ccnet_primitives::{ContributionTracker, StakeProvider};
use polkadot_sdk::{
	frame_support::{
		assert_noop, assert_ok,
		traits::fungible::{Inspect, InspectHold},
	},
	sp_arithmetic::FixedU128,
	sp_runtime::DispatchError,
};

fn origin(who: AccountId) -> RuntimeOrigin {
	RuntimeOrigin::signed(who)
}

fn held(who: AccountId) -> Balance {
	Balances::balance_on_hold(&RuntimeHoldReason::Credits(HoldReason::Stake), &who)
}

mod stake {
	use super::*;

	#[test]
	fn holds_the_amount() {
		run_test(|| {
			assert_ok!(Credits::stake(origin(ALICE), 100));
			assert_ok!(Credits::stake(origin(ALICE), 1));
			assert_eq!(held(ALICE), 101);
			assert_eq!(Stakes::<Test>::get(ALICE).unwrap().active, 101);
			assert_eq!(Balances::balance(&ALICE), INITIAL - 101);
			System::assert_last_event(Event::Staked { who: ALICE, amount: 1 }.into());
		});
	}

	#[test]
	fn all_but_the_existential_deposit_can_be_staked() {
		run_test(|| {
			assert_noop!(Credits::stake(origin(BOB), INITIAL), Error::<Test>::InsufficientBalance);
			assert_ok!(Credits::stake(origin(BOB), INITIAL - ED));
			assert_eq!(held(BOB), INITIAL - ED);
			assert_eq!(Balances::balance(&BOB), ED);
		});
	}

	#[test]
	fn rejects_zero_and_unaffordable() {
		run_test(|| {
			assert_noop!(Credits::stake(origin(ALICE), 0), Error::<Test>::ZeroAmount);
			assert_noop!(
				Credits::stake(origin(ALICE), INITIAL + 1),
				Error::<Test>::InsufficientBalance
			);
			assert_noop!(Credits::stake(origin(NOBODY), 1), Error::<Test>::InsufficientBalance);
			assert_noop!(
				Credits::stake(origin(ALICE), Balance::MAX),
				Error::<Test>::InsufficientBalance
			);
		});
	}

	#[test]
	fn rejects_unsigned() {
		run_test(|| {
			assert_noop!(Credits::stake(RuntimeOrigin::none(), 1), DispatchError::BadOrigin);
		});
	}
}

mod unstake {
	use super::*;

	#[test]
	fn unbonds_then_withdraws_after_the_period() {
		run_test(|| {
			assert_ok!(Credits::stake(origin(ALICE), 100));
			assert_ok!(Credits::unstake(origin(ALICE), 40));
			System::assert_last_event(
				Event::Unbonded {
					who: ALICE,
					amount: 40,
					unlock_at: 1 + UNBONDING,
				}
				.into(),
			);
			// Still held while unbonding, but only the active part counts as stake.
			assert_eq!(held(ALICE), 100);
			assert_eq!(Credits::active(&ALICE), 60);
			assert_noop!(
				Credits::withdraw_unbonded(origin(ALICE)),
				Error::<Test>::NothingToWithdraw
			);
			System::set_block_number(UNBONDING);
			assert_noop!(
				Credits::withdraw_unbonded(origin(ALICE)),
				Error::<Test>::NothingToWithdraw
			);
			System::set_block_number(1 + UNBONDING);
			assert_ok!(Credits::withdraw_unbonded(origin(ALICE)));
			System::assert_last_event(Event::Withdrawn { who: ALICE, amount: 40 }.into());
			assert_eq!(held(ALICE), 60);
			assert_eq!(Balances::balance(&ALICE), INITIAL - 60);
		});
	}

	#[test]
	fn full_unstake_removes_the_ledger() {
		run_test(|| {
			assert_ok!(Credits::stake(origin(ALICE), 100));
			assert_ok!(Credits::unstake(origin(ALICE), 100));
			System::set_block_number(1 + UNBONDING);
			assert_ok!(Credits::withdraw_unbonded(origin(ALICE)));
			assert!(Stakes::<Test>::get(ALICE).is_none());
			assert_eq!(Balances::balance(&ALICE), INITIAL);
		});
	}

	#[test]
	fn errors() {
		run_test(|| {
			assert_noop!(Credits::unstake(origin(ALICE), 0), Error::<Test>::ZeroAmount);
			assert_noop!(Credits::unstake(origin(ALICE), 1), Error::<Test>::InsufficientStake);
			assert_noop!(
				Credits::withdraw_unbonded(origin(ALICE)),
				Error::<Test>::NothingToWithdraw
			);
			assert_ok!(Credits::stake(origin(ALICE), 10));
			assert_noop!(Credits::unstake(origin(ALICE), 11), Error::<Test>::InsufficientStake);
			for _ in 0..MAX_CHUNKS {
				assert_ok!(Credits::unstake(origin(ALICE), 1));
			}
			assert_noop!(
				Credits::unstake(origin(ALICE), 1),
				Error::<Test>::TooManyUnbondingChunks
			);
		});
	}
}

mod slash {
	use super::*;

	#[test]
	fn pays_the_beneficiary_active_first_then_newest_chunk() {
		run_test(|| {
			assert_ok!(Credits::stake(origin(ALICE), 100));
			assert_ok!(Credits::unstake(origin(ALICE), 30));
			assert_eq!(Credits::slash(&ALICE, 80, Some(&BOB)), 80);
			let ledger = Stakes::<Test>::get(ALICE).unwrap();
			assert_eq!(ledger.active, 0);
			assert_eq!(ledger.unbonding[0].amount, 20);
			assert_eq!(Balances::balance(&BOB), INITIAL + 80);
			System::assert_last_event(
				Event::Slashed {
					who: ALICE,
					amount: 80,
					beneficiary: Some(BOB),
				}
				.into(),
			);
		});
	}

	#[test]
	fn burns_without_beneficiary() {
		run_test(|| {
			let issuance = Balances::total_issuance();
			assert_ok!(Credits::stake(origin(ALICE), 100));
			assert_eq!(Credits::slash(&ALICE, 30, None), 30);
			assert_eq!(Balances::total_issuance(), issuance - 30);
			assert_eq!(held(ALICE), 70);
		});
	}

	#[test]
	fn is_capped_by_the_stake_and_removes_empty_ledgers() {
		run_test(|| {
			assert_eq!(Credits::slash(&ALICE, 5, Some(&BOB)), 0);
			assert_ok!(Credits::stake(origin(ALICE), 50));
			assert_eq!(Credits::slash(&ALICE, Balance::MAX, Some(&BOB)), 50);
			assert!(Stakes::<Test>::get(ALICE).is_none());
			assert_eq!(Credits::active(&ALICE), 0);
		});
	}

	#[test]
	fn burns_when_the_beneficiary_cannot_receive_it() {
		run_test(|| {
			let issuance = Balances::total_issuance();
			assert_ok!(Credits::stake(origin(ALICE), 100));
			// NOBODY does not exist and 1 planck is below the existential deposit.
			assert_eq!(Credits::slash(&ALICE, 1, Some(&NOBODY)), 1);
			assert_eq!(Balances::total_issuance(), issuance - 1);
			System::assert_last_event(
				Event::Slashed {
					who: ALICE,
					amount: 1,
					beneficiary: None,
				}
				.into(),
			);
		});
	}
}

mod bonds {
	use super::*;

	fn ledger(who: AccountId) -> (Balance, Balance, Vec<Balance>) {
		let l = Stakes::<Test>::get(who).unwrap();
		(l.active, l.bonded, l.unbonding.iter().map(|c| c.amount).collect())
	}

	#[test]
	fn bonded_stake_cannot_unbond_and_only_active_stake_counts() {
		run_test(|| {
			assert_ok!(Credits::stake(origin(ALICE), 100));
			assert_ok!(Credits::bond(&ALICE, 70));
			System::assert_last_event(Event::Bonded { who: ALICE, amount: 70 }.into());
			assert_eq!((Credits::active(&ALICE), Credits::free_stake(&ALICE)), (100, 30));
			assert_noop!(Credits::unstake(origin(ALICE), 31), Error::<Test>::StakeBonded);
			assert_noop!(Credits::bond(&ALICE, 31), Error::<Test>::InsufficientStake);
			assert_ok!(Credits::unstake(origin(ALICE), 30));
			// Unbonding stake no longer counts.
			assert_eq!((Credits::active(&ALICE), Credits::free_stake(&ALICE)), (70, 0));
			Credits::release_bond(&ALICE, 20);
			System::assert_last_event(Event::BondReleased { who: ALICE, amount: 20 }.into());
			assert_eq!(ledger(ALICE), (70, 50, vec![30]));
			// Releasing more than is bonded releases what is there.
			Credits::release_bond(&ALICE, 1_000);
			assert_eq!(ledger(ALICE), (70, 0, vec![30]));
			assert_noop!(Credits::bond(&NOBODY, 1), Error::<Test>::InsufficientStake);
		});
	}

	#[test]
	fn slash_bond_takes_only_the_bond() {
		run_test(|| {
			assert_ok!(Credits::stake(origin(ALICE), 100));
			assert_ok!(Credits::unstake(origin(ALICE), 20));
			assert_ok!(Credits::bond(&ALICE, 50));
			assert_eq!(Credits::slash_bond(&ALICE, 60, Some(&BOB)), 50);
			assert_eq!(ledger(ALICE), (30, 0, vec![20]));
			assert_eq!(Balances::balance(&BOB), INITIAL + 50);
			assert_eq!(Credits::slash_bond(&ALICE, 1, Some(&BOB)), 0);
		});
	}

	#[test]
	fn a_slash_can_span_several_chunks() {
		run_test(|| {
			assert_ok!(Credits::stake(origin(ALICE), 100));
			for amount in [10, 20, 30] {
				assert_ok!(Credits::unstake(origin(ALICE), amount));
			}
			assert_eq!(ledger(ALICE), (40, 0, vec![10, 20, 30]));
			// Active first, then the newest chunks.
			assert_eq!(Credits::slash(&ALICE, 85, None), 85);
			assert_eq!(ledger(ALICE), (0, 0, vec![10, 5]));
			assert_eq!(held(ALICE), 15);
		});
	}

	#[test]
	fn withdraw_releases_mature_chunks_only() {
		run_test(|| {
			assert_ok!(Credits::stake(origin(ALICE), 100));
			assert_ok!(Credits::unstake(origin(ALICE), 10));
			System::set_block_number(5);
			assert_ok!(Credits::unstake(origin(ALICE), 20));
			System::set_block_number(1 + UNBONDING);
			assert_ok!(Credits::withdraw_unbonded(origin(ALICE)));
			System::assert_last_event(Event::Withdrawn { who: ALICE, amount: 10 }.into());
			assert_eq!(ledger(ALICE), (70, 0, vec![20]));
			assert_eq!(held(ALICE), 90);
			assert_noop!(
				Credits::withdraw_unbonded(origin(ALICE)),
				Error::<Test>::NothingToWithdraw
			);
			System::set_block_number(5 + UNBONDING);
			assert_ok!(Credits::withdraw_unbonded(origin(ALICE)));
			assert_eq!(held(ALICE), 70);
		});
	}

	#[test]
	fn stake_overflow_is_an_error() {
		run_test(|| {
			assert_ok!(Credits::stake(origin(ALICE), 10));
			Stakes::<Test>::mutate(ALICE, |l| l.as_mut().unwrap().active = Balance::MAX);
			assert_noop!(Credits::stake(origin(ALICE), 1), Error::<Test>::Overflow);
			Stakes::<Test>::mutate(ALICE, |l| l.as_mut().unwrap().active = 10);
		});
	}
}

mod debts {
	use super::*;

	fn debt_deposits(who: AccountId) -> Balance {
		Balances::balance_on_hold(&RuntimeHoldReason::Credits(HoldReason::DebtDeposit), &who)
	}

	#[test]
	fn credit_then_settle_in_parts() {
		run_test(|| {
			assert_ok!(Credits::credit_worker(origin(ALICE), BOB, 100));
			assert_ok!(Credits::credit_worker(origin(ALICE), CHARLIE, 50));
			assert_ok!(Credits::credit_worker(origin(BOB), ALICE, 30));
			assert_eq!(Credits::net_position(&ALICE), NetPosition::Debtor(120));
			assert_eq!(Credits::net_position(&BOB), NetPosition::Creditor(70));
			assert_ok!(Credits::settle_debt(origin(ALICE), BOB, 40));
			System::assert_last_event(
				Event::DebtSettled {
					debtor: ALICE,
					creditor: BOB,
					amount: 40,
				}
				.into(),
			);
			assert_eq!(Debts::<Test>::get(ALICE, BOB).unwrap().amount, 60);
			// Bob holds the deposit of his own debt record to Alice.
			assert_eq!(Balances::balance(&BOB), INITIAL + 40 - DEBT_DEPOSIT);
			// Two open records (Bob, Charlie), each holding its deposit on Alice.
			assert_eq!(debt_deposits(ALICE), 2 * DEBT_DEPOSIT);
			assert_ok!(Credits::settle_debt(origin(ALICE), BOB, 60));
			assert!(!Debts::<Test>::contains_key(ALICE, BOB));
			assert_eq!(debt_deposits(ALICE), DEBT_DEPOSIT);
			assert_eq!(TotalDebt::<Test>::get(ALICE), 50);
			assert_eq!(Credits::net_position(&CHARLIE), NetPosition::Creditor(50));
			assert_eq!(Credits::net_position(&NOBODY), NetPosition::Creditor(0));
		});
	}

	#[test]
	fn errors() {
		run_test(|| {
			assert_noop!(Credits::credit_worker(origin(ALICE), BOB, 0), Error::<Test>::ZeroAmount);
			assert_noop!(Credits::credit_worker(origin(ALICE), ALICE, 1), Error::<Test>::SelfDebt);
			assert_noop!(Credits::settle_debt(origin(ALICE), BOB, 0), Error::<Test>::ZeroAmount);
			assert_noop!(
				Credits::settle_debt(origin(ALICE), BOB, 1),
				Error::<Test>::InsufficientDebt
			);
			assert_ok!(Credits::credit_worker(origin(ALICE), BOB, Balance::MAX));
			assert_noop!(Credits::credit_worker(origin(ALICE), BOB, 1), Error::<Test>::Overflow);
			// A debtor that cannot pay the record deposit records nothing.
			assert_noop!(
				Credits::credit_worker(origin(NOBODY), CHARLIE, 1),
				Error::<Test>::InsufficientBalance
			);
			assert_noop!(
				Credits::settle_debt(origin(ALICE), BOB, INITIAL),
				Error::<Test>::PaymentFailed
			);
			// A debt to a new account below ED cannot be paid.
			assert_ok!(Credits::credit_worker(origin(BOB), NOBODY, 1));
			assert_noop!(
				Credits::settle_debt(origin(BOB), NOBODY, 1),
				Error::<Test>::PaymentFailed
			);
		});
	}
}

mod multiplier {
	use super::*;

	#[test]
	fn decays_with_contributed_fuel() {
		run_test(|| {
			assert_eq!(Credits::current_multiplier(), FixedU128::from_u32(10));
			// FuelPerCpuHour is 1,000 in the mock and D is 1,000,000 CPU-hours.
			Credits::note_contribution(1_000 * 1_000_000);
			assert_eq!(Credits::contributed_cpu_hours(), 1_000_000);
			let r = Credits::current_multiplier();
			assert!(r > FixedU128::from_rational(431, 100) && r < FixedU128::from_rational(432, 100));
			Credits::note_contribution(u64::MAX);
			assert!(Credits::current_multiplier() < r);
		});
	}
}

#[test]
fn try_state_detects_a_ledger_without_hold() {
	new_test_ext().execute_with(|| {
		assert_ok!(Credits::stake(origin(ALICE), 10));
		Stakes::<Test>::mutate(ALICE, |l| l.as_mut().unwrap().active = 11);
		assert!(Credits::do_try_state().is_err());
	});
}

#[test]
fn integrity_test_passes() {
	use polkadot_sdk::frame_support::traits::IntegrityTest;
	new_test_ext().execute_with(AllPalletsWithSystem::integrity_test);
}
