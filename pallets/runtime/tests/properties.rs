//! Property tests: random sequences of dispatchables across all five pallets
//! never break a pallet's invariants (`do_try_state`: holds equal stakes,
//! bounties, channel deposits and challenge stakes) and never create or lose
//! money (total issuance equals the sum of all accounts, and only moves when a
//! slash is burnt).

mod common;

use ccnet_runtime::{Balances, Channels, Runtime, RuntimeCall, RuntimeEvent, System, UNIT};
use common::{check_invariants, preset_ext, who};
use polkadot_sdk::{
	sp_core::{Pair, H256},
	sp_keyring::Sr25519Keyring,
	sp_runtime::traits::Dispatchable,
};
use proptest::prelude::*;

const KEYS: [Sr25519Keyring; 6] = [
	Sr25519Keyring::Alice,
	Sr25519Keyring::Bob,
	Sr25519Keyring::Charlie,
	Sr25519Keyring::Dave,
	Sr25519Keyring::Eve,
	Sr25519Keyring::Ferdie,
];

#[derive(Debug, Clone)]
enum Op {
	Stake(usize, u128),
	Unstake(usize, u128),
	Withdraw(usize),
	Register(usize),
	Post(usize, u128, u8),
	Claim(usize, u64),
	Submit(usize, u64, u8),
	Accept(usize, u64, usize),
	Expire(u64),
	Challenge(usize, u64, usize),
	Vote(usize, u64, u8),
	Resolve(u64),
	Open(usize, usize, u128, u128),
	Fund(usize, usize),
	CoopClose(usize, u64, u16),
	CloseOpening(usize, usize),
	Settle(usize),
	Advance(u32),
}

fn amount() -> impl Strategy<Value = u128> {
	prop_oneof![Just(0), Just(1), Just(u128::MAX), (1u128..60).prop_map(|n| n * UNIT)]
}

fn op() -> impl Strategy<Value = Op> {
	let k = 0..KEYS.len();
	prop_oneof![
		(k.clone(), amount()).prop_map(|(w, a)| Op::Stake(w, a)),
		(k.clone(), amount()).prop_map(|(w, a)| Op::Unstake(w, a)),
		k.clone().prop_map(Op::Withdraw),
		k.clone().prop_map(Op::Register),
		(k.clone(), amount(), 0u8..4).prop_map(|(w, a, r)| Op::Post(w, a, r)),
		(k.clone(), 0u64..4).prop_map(|(w, t)| Op::Claim(w, t)),
		(k.clone(), 0u64..4, 0u8..3).prop_map(|(w, t, h)| Op::Submit(w, t, h)),
		(k.clone(), 0u64..4, k.clone()).prop_map(|(w, t, x)| Op::Accept(w, t, x)),
		(0u64..4).prop_map(Op::Expire),
		(k.clone(), 0u64..4, k.clone()).prop_map(|(w, t, x)| Op::Challenge(w, t, x)),
		(k.clone(), 0u64..3, 0u8..3).prop_map(|(w, d, h)| Op::Vote(w, d, h)),
		(0u64..3).prop_map(Op::Resolve),
		(k.clone(), k.clone(), amount(), amount()).prop_map(|(a, b, x, y)| Op::Open(a, b, x, y)),
		(k.clone(), 0usize..4).prop_map(|(w, c)| Op::Fund(w, c)),
		(0usize..4, 0u64..5, 0u16..=1000).prop_map(|(c, v, s)| Op::CoopClose(c, v, s)),
		(k.clone(), 0usize..4).prop_map(|(w, c)| Op::CloseOpening(w, c)),
		(0usize..4).prop_map(Op::Settle),
		(1u32..30).prop_map(Op::Advance),
	]
}

/// Channels opened so far: (id, index of A, index of B).
type Opened = Vec<(H256, usize, usize)>;

fn call(op: &Op, opened: &mut Opened) -> Option<(usize, RuntimeCall)> {
	use pallet_channels::Call as Ch;
	use pallet_credits::Call as Cr;
	use pallet_disputes::Call as Di;
	use pallet_tasks::Call as Ta;
	let h = |n: u8| H256::repeat_byte(n + 1);
	Some(match *op {
		Op::Stake(w, amount) => (w, RuntimeCall::Credits(Cr::stake { amount })),
		Op::Unstake(w, amount) => (w, RuntimeCall::Credits(Cr::unstake { amount })),
		Op::Withdraw(w) => (w, RuntimeCall::Credits(Cr::withdraw_unbonded {})),
		Op::Register(w) => (
			w,
			RuntimeCall::Tasks(Ta::register_worker {
				capabilities: Default::default(),
				endpoint: Default::default(),
			}),
		),
		Op::Post(w, bounty, redundancy) => (
			w,
			RuntimeCall::Tasks(Ta::post_task {
				task_type: Default::default(),
				input_ref: Default::default(),
				output_spec: Default::default(),
				bounty,
				deadline: System::block_number() + 40,
				redundancy,
			}),
		),
		Op::Claim(w, task_id) => (w, RuntimeCall::Tasks(Ta::claim { task_id })),
		Op::Submit(w, task_id, n) => (
			w,
			RuntimeCall::Tasks(Ta::submit_result {
				task_id,
				result_hash: h(n),
				fuel_used: 1_000,
			}),
		),
		Op::Accept(w, task_id, x) => (
			w,
			RuntimeCall::Tasks(Ta::accept {
				task_id,
				worker: who(KEYS[x]),
			}),
		),
		Op::Expire(task_id) => (0, RuntimeCall::Tasks(Ta::expire { task_id })),
		Op::Challenge(w, task_id, x) => (
			w,
			RuntimeCall::Disputes(Di::challenge {
				task_id,
				worker: who(KEYS[x]),
			}),
		),
		Op::Vote(w, dispute_id, n) => (
			w,
			RuntimeCall::Disputes(Di::vote {
				dispute_id,
				result_hash: h(n),
			}),
		),
		Op::Resolve(dispute_id) => (0, RuntimeCall::Disputes(Di::resolve { dispute_id })),
		Op::Open(a, b, deposit, counterparty_deposit) => {
			let nonce = pallet_channels::NextChannelNonce::<Runtime>::get();
			opened.push((Channels::channel_id(&who(KEYS[a]), &who(KEYS[b]), nonce), a, b));
			(
				a,
				RuntimeCall::Channels(Ch::open {
					counterparty: who(KEYS[b]),
					deposit,
					counterparty_deposit,
				}),
			)
		},
		Op::Fund(w, c) => (
			w,
			RuntimeCall::Channels(Ch::fund {
				channel_id: opened.get(c)?.0,
			}),
		),
		Op::CoopClose(c, version, split) => {
			let (channel_id, a, b) = *opened.get(c)?;
			let channel = pallet_channels::Channels::<Runtime>::get(channel_id)?;
			let total = channel.deposit_a.checked_add(channel.deposit_b)?;
			let balance_a = total / 1000 * u128::from(split);
			let state = pallet_channels::ChannelState {
				version,
				balance_a,
				balance_b: total - balance_a,
			};
			let payload = Channels::signing_payload(channel_id, &state);
			let (signature_a, signature_b) = (KEYS[a].pair().sign(&payload), KEYS[b].pair().sign(&payload));
			(
				b,
				RuntimeCall::Channels(Ch::cooperative_close {
					channel_id,
					state,
					signature_a,
					signature_b,
				}),
			)
		},
		Op::CloseOpening(w, c) => {
			let (channel_id, _, _) = *opened.get(c)?;
			let channel = pallet_channels::Channels::<Runtime>::get(channel_id)?;
			let state = pallet_channels::ChannelState {
				version: 0,
				balance_a: channel.deposit_a,
				balance_b: channel.deposit_b,
			};
			(
				w,
				RuntimeCall::Channels(Ch::close_unilateral {
					channel_id,
					state,
					signature_a: None,
					signature_b: None,
				}),
			)
		},
		Op::Settle(c) => (
			0,
			RuntimeCall::Channels(Ch::settle {
				channel_id: opened.get(c)?.0,
			}),
		),
		Op::Advance(_) => return None,
	})
}

/// Planck burnt by slashes without a beneficiary in the current block's events.
fn burnt_in_events() -> u128 {
	System::events()
		.into_iter()
		.filter_map(|r| match r.event {
			RuntimeEvent::Credits(pallet_credits::Event::Slashed {
				amount,
				beneficiary: None,
				..
			}) => Some(amount),
			_ => None,
		})
		.sum()
}

fn accounts_total() -> u128 {
	polkadot_sdk::frame_system::Account::<Runtime>::iter()
		.map(|(_, info)| info.data.free + info.data.reserved)
		.sum()
}

proptest! {
	#![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

	#[test]
	fn invariants_hold_and_money_is_conserved(ops in prop::collection::vec(op(), 1..40)) {
		preset_ext("development").execute_with(|| {
			// Bob to Ferdie start as staked, registered workers, so that random
			// claims, results and disputes get far enough to matter.
			for key in &KEYS[1..] {
				for setup in [Op::Stake(0, 20 * UNIT), Op::Register(0)] {
					let (_, setup_call) = call(&setup, &mut Opened::new()).expect("setup call");
					setup_call.dispatch(common::signed(*key)).expect("setup succeeds");
				}
			}
			let mut issuance = Balances::total_issuance();
			let mut opened = Opened::new();
			let mut succeeded = 0usize;
			for op in &ops {
				System::reset_events();
				if let Op::Advance(n) = op {
					System::set_block_number(System::block_number() + n);
				} else if let Some((w, call)) = call(op, &mut opened) {
					// Errors are expected (random input); they must leave no trace.
					succeeded += usize::from(call.dispatch(common::signed(KEYS[w])).is_ok());
				}
				issuance -= burnt_in_events();
				check_invariants();
				assert_eq!(Balances::total_issuance(), issuance, "issuance moved after {op:?}");
				assert_eq!(accounts_total(), issuance, "accounts do not sum to issuance after {op:?}");
			}
			if std::env::var("CCNET_PROP_STATS").is_ok() {
				println!("ops {} succeeded {succeeded}", ops.len());
			}
		});
	}
}
