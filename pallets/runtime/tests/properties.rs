//! Property tests: random sequences of dispatchables across all five pallets, by
//! any account, never break a pallet's invariants (`do_try_state`: holds equal
//! stakes, bounties, channel and record deposits and challenge stakes, checked
//! both ways) and never create or lose money (total issuance equals the sum of
//! all accounts, and only moves when a slash is burnt).
//!
//! Channel ops cover every way a channel ends: cooperative closes signed under
//! the close domain, unilateral closes and challenges by either party (or a
//! third account) with any co-signed state, and settles; a channel's payout must
//! equal the newest state registered. The test counts the successes of each op
//! kind and fails if a kind never succeeds, so that no op silently tests nothing.

mod common;

use ccnet_runtime::{AccountId, Balances, Channels, Runtime, RuntimeCall, RuntimeEvent, System, UNIT};
use common::{check_invariants, preset_ext, who};
use polkadot_sdk::{
	sp_core::{Pair, H256},
	sp_keyring::Sr25519Keyring,
	sp_runtime::traits::Dispatchable,
};
use proptest::{
	prelude::*,
	test_runner::{Config as RunnerConfig, TestRunner},
};
use std::collections::BTreeMap;

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
	/// Task, worker whose result the task's requester accepts.
	Accept(u64, usize),
	Expire(u64),
	Challenge(usize, u64, usize),
	Vote(usize, u64, u8),
	Resolve(u64),
	Open(usize, usize, u128, u128),
	/// B of the channel funds it.
	Fund(usize),
	CoopClose(usize, u64, u16),
	CloseOpening(usize, usize),
	/// Channel, closer (index into KEYS), version, A's share in thousandths.
	CloseSigned(usize, usize, u64, u16),
	/// Channel, submitter, version, A's share in thousandths.
	ChannelChallenge(usize, usize, u64, u16),
	Settle(usize),
	Advance(u32),
}

impl Op {
	/// The op's kind, for counting successes.
	fn kind(&self) -> &'static str {
		match self {
			Op::Stake(..) => "stake",
			Op::Unstake(..) => "unstake",
			Op::Withdraw(..) => "withdraw",
			Op::Register(..) => "register",
			Op::Post(..) => "post",
			Op::Claim(..) => "claim",
			Op::Submit(..) => "submit",
			Op::Accept(..) => "accept",
			Op::Expire(..) => "expire",
			Op::Challenge(..) => "challenge",
			Op::Vote(..) => "vote",
			Op::Resolve(..) => "resolve",
			Op::Open(..) => "open",
			Op::Fund(..) => "fund",
			Op::CoopClose(..) => "coop_close",
			Op::CloseOpening(..) => "close_opening",
			Op::CloseSigned(..) => "close_signed",
			Op::ChannelChallenge(..) => "channel_challenge",
			Op::Settle(..) => "settle",
			Op::Advance(..) => "advance",
		}
	}
}

fn amount() -> impl Strategy<Value = u128> {
	prop_oneof![Just(0), Just(1), Just(u128::MAX), (1u128..60).prop_map(|n| n * UNIT)]
}

/// Channel deposits: mostly workable amounts, sometimes the edges.
fn deposit() -> impl Strategy<Value = u128> {
	prop_oneof![8 => (1u128..60).prop_map(|n| n * UNIT), 1 => Just(0), 1 => Just(1), 1 => Just(u128::MAX)]
}

/// What A asks of B: mostly nothing (a requester-to-worker channel).
fn counterparty_deposit() -> impl Strategy<Value = u128> {
	prop_oneof![4 => Just(0), 2 => (1u128..60).prop_map(|n| n * UNIT), 1 => Just(u128::MAX)]
}

fn op() -> impl Strategy<Value = Op> {
	let k = 0..KEYS.len();
	// Indexes pick among existing objects (most recent first, modulo their count), and
	// origins of requester- or verifier-only calls are looked up, so that deep states
	// (accepted tasks, resolved disputes, settled channels) are reached.
	prop_oneof![
		1 => (k.clone(), amount()).prop_map(|(w, a)| Op::Stake(w, a)),
		1 => (k.clone(), amount()).prop_map(|(w, a)| Op::Unstake(w, a)),
		1 => k.clone().prop_map(Op::Withdraw),
		1 => k.clone().prop_map(Op::Register),
		1 => (k.clone(), amount(), 0u8..4).prop_map(|(w, a, r)| Op::Post(w, a, r)),
		2 => (k.clone(), 0u64..4).prop_map(|(w, t)| Op::Claim(w, t)),
		2 => (k.clone(), 0u64..4, 0u8..3).prop_map(|(w, t, h)| Op::Submit(w, t, h)),
		1 => (0u64..4, k.clone()).prop_map(|(t, x)| Op::Accept(t, x)),
		1 => (0u64..4).prop_map(Op::Expire),
		1 => (k.clone(), 0u64..4, k.clone()).prop_map(|(w, t, x)| Op::Challenge(w, t, x)),
		2 => (k.clone(), 0u64..3, 0u8..3).prop_map(|(w, d, h)| Op::Vote(w, d, h)),
		1 => (0u64..3).prop_map(Op::Resolve),
		3 => (k.clone(), k.clone(), deposit(), counterparty_deposit()).prop_map(|(a, b, x, y)| Op::Open(a, b, x, y)),
		1 => (0usize..4).prop_map(Op::Fund),
		1 => (0usize..4, 0u64..5, 0u16..=1000).prop_map(|(c, v, s)| Op::CoopClose(c, v, s)),
		1 => (k.clone(), 0usize..4).prop_map(|(w, c)| Op::CloseOpening(w, c)),
		3 => (0usize..3, k.clone(), 0u64..6, 0u16..=1000).prop_map(|(c, w, v, s)| Op::CloseSigned(c, w, v, s)),
		3 => (0usize..3, k.clone(), 0u64..8, 0u16..=1000).prop_map(|(c, w, v, s)| Op::ChannelChallenge(c, w, v, s)),
		3 => (0usize..3).prop_map(Op::Settle),
		3 => prop_oneof![3 => 1u32..30, 1 => 30u32..120].prop_map(Op::Advance),
	]
}

/// Channels opened so far: (id, index of A, index of B).
type Opened = Vec<(H256, usize, usize)>;

/// The `i`-th most recent of `items` (modulo their number).
fn recent<T: Copy>(items: &[T], i: usize) -> Option<T> {
	(!items.is_empty()).then(|| items[items.len() - 1 - i % items.len()])
}

/// The `i`-th most recent id below `next` (task or dispute ids).
fn recent_id(next: u64, i: u64) -> Option<u64> {
	(next > 0).then(|| next - 1 - i % next)
}

/// The index in KEYS of `account`.
fn key_of(account: &AccountId) -> usize {
	KEYS.iter().position(|k| &who(*k) == account).unwrap_or(0)
}

/// The workers that submitted a result for `task_id`, in storage order.
fn submitters(task_id: u64) -> Vec<usize> {
	pallet_tasks::Assignments::<Runtime>::iter_prefix(task_id)
		.filter(|(_, a)| a.result.is_some())
		.map(|(w, _)| key_of(&w))
		.collect()
}

/// A state of `channel_id` giving A `split` thousandths of the deposits, signed by
/// both parties under the update domain, or (`closing`) the close domain.
fn cosigned(
	channel_id: H256,
	a: usize,
	b: usize,
	version: u64,
	split: u16,
	closing: bool,
) -> Option<(
	pallet_channels::StateOf<Runtime>,
	polkadot_sdk::sp_core::sr25519::Signature,
	polkadot_sdk::sp_core::sr25519::Signature,
)> {
	let channel = pallet_channels::Channels::<Runtime>::get(channel_id)?;
	let total = channel.deposit_a.checked_add(channel.deposit_b)?;
	let balance_a = total / 1000 * u128::from(split);
	let state = pallet_channels::ChannelState {
		version,
		balance_a,
		balance_b: total - balance_a,
	};
	let payload = if closing {
		Channels::closing_payload(channel_id, &state)
	} else {
		Channels::signing_payload(channel_id, &state)
	};
	Some((state, KEYS[a].pair().sign(&payload), KEYS[b].pair().sign(&payload)))
}

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
		Op::Claim(w, t) => {
			let task_id = recent_id(pallet_tasks::NextTaskId::<Runtime>::get(), t)?;
			(w, RuntimeCall::Tasks(Ta::claim { task_id }))
		},
		Op::Submit(w, t, n) => {
			let task_id = recent_id(pallet_tasks::NextTaskId::<Runtime>::get(), t)?;
			(
				w,
				RuntimeCall::Tasks(Ta::submit_result {
					task_id,
					result_hash: h(n),
					fuel_used: 1_000,
				}),
			)
		},
		Op::Accept(t, x) => {
			let task_id = recent_id(pallet_tasks::NextTaskId::<Runtime>::get(), t)?;
			let requester = key_of(&pallet_tasks::Tasks::<Runtime>::get(task_id)?.requester);
			let worker = recent(&submitters(task_id), x)?;
			(
				requester,
				RuntimeCall::Tasks(Ta::accept {
					task_id,
					worker: who(KEYS[worker]),
				}),
			)
		},
		Op::Expire(t) => (
			0,
			RuntimeCall::Tasks(Ta::expire {
				task_id: recent_id(pallet_tasks::NextTaskId::<Runtime>::get(), t)?,
			}),
		),
		Op::Challenge(w, t, x) => {
			let task_id = recent_id(pallet_tasks::NextTaskId::<Runtime>::get(), t)?;
			let worker = recent(&submitters(task_id), x)?;
			(
				w,
				RuntimeCall::Disputes(Di::challenge {
					task_id,
					worker: who(KEYS[worker]),
				}),
			)
		},
		Op::Vote(w, d, n) => {
			let dispute_id = recent_id(pallet_disputes::NextDisputeId::<Runtime>::get(), d)?;
			let dispute = pallet_disputes::Disputes::<Runtime>::get(dispute_id)?;
			let verifier = recent(&dispute.verifiers.iter().map(key_of).collect::<Vec<_>>(), w)?;
			(
				verifier,
				RuntimeCall::Disputes(Di::vote {
					dispute_id,
					result_hash: h(n),
				}),
			)
		},
		Op::Resolve(d) => (
			0,
			RuntimeCall::Disputes(Di::resolve {
				dispute_id: recent_id(pallet_disputes::NextDisputeId::<Runtime>::get(), d)?,
			}),
		),
		Op::Open(a, b, deposit, counterparty_deposit) => {
			let nonce = pallet_channels::NextChannelNonce::<Runtime>::get();
			let parent = System::parent_hash();
			opened.push((Channels::channel_id(&who(KEYS[a]), &who(KEYS[b]), nonce, &parent), a, b));
			(
				a,
				RuntimeCall::Channels(Ch::open {
					counterparty: who(KEYS[b]),
					deposit,
					counterparty_deposit,
				}),
			)
		},
		Op::Fund(c) => {
			let (channel_id, _, b) = recent(opened, c)?;
			(b, RuntimeCall::Channels(Ch::fund { channel_id }))
		},
		Op::CoopClose(c, version, split) => {
			let (channel_id, a, b) = recent(opened, c)?;
			let (state, signature_a, signature_b) = cosigned(channel_id, a, b, version, split, true)?;
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
		Op::CloseSigned(c, w, version, split) => {
			let (channel_id, a, b) = recent(opened, c)?;
			let (state, sa, sb) = cosigned(channel_id, a, b, version, split, false)?;
			(
				w,
				RuntimeCall::Channels(Ch::close_unilateral {
					channel_id,
					state,
					signature_a: Some(sa),
					signature_b: Some(sb),
				}),
			)
		},
		Op::ChannelChallenge(c, w, version, split) => {
			let (channel_id, a, b) = recent(opened, c)?;
			let (state, signature_a, signature_b) = cosigned(channel_id, a, b, version, split, false)?;
			(
				w,
				RuntimeCall::Channels(Ch::challenge {
					channel_id,
					state,
					signature_a,
					signature_b,
				}),
			)
		},
		Op::CloseOpening(w, c) => {
			let (channel_id, _, _) = recent(opened, c)?;
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
				channel_id: recent(opened, c)?.0,
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

/// What a settle or cooperative close must pay: the state registered (or agreed).
fn expected_payout(op: &Op, opened: &Opened) -> Option<(H256, u128, u128)> {
	let (c, closing_split) = match *op {
		Op::Settle(c) => (c, None),
		Op::CoopClose(c, _, split) => (c, Some(split)),
		_ => return None,
	};
	let (channel_id, _, _) = recent(opened, c)?;
	let channel = pallet_channels::Channels::<Runtime>::get(channel_id)?;
	let total = channel.deposit_a + channel.deposit_b;
	let (a, b) = match (closing_split, channel.phase) {
		(Some(split), _) => {
			let a = total / 1000 * u128::from(split);
			(a, total - a)
		},
		(None, pallet_channels::Phase::Closing { state, .. }) => (state.balance_a, state.balance_b),
		_ => return None,
	};
	Some((channel_id, a, b))
}

/// Run `ops` from the development genesis, checking the invariants after each one;
/// returns the number of successes per op kind.
fn run_ops(ops: &[Op]) -> BTreeMap<&'static str, usize> {
	let mut succeeded = BTreeMap::new();
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
		for op in ops {
			System::reset_events();
			let payout = expected_payout(op, &opened);
			let ok = if let Op::Advance(n) = op {
				System::set_block_number(System::block_number() + n);
				true
			} else if let Some((w, call)) = call(op, &mut opened) {
				// Errors are expected (random input); they must leave no trace.
				call.dispatch(common::signed(KEYS[w])).is_ok()
			} else {
				false
			};
			if ok {
				*succeeded.entry(op.kind()).or_insert(0) += 1;
				if let Some((channel_id, a, b)) = payout {
					let closed = System::events().into_iter().find_map(|r| match r.event {
						RuntimeEvent::Channels(pallet_channels::Event::ChannelClosed {
							channel_id: id,
							balance_a,
							balance_b,
							..
						}) if id == channel_id => Some((balance_a, balance_b)),
						_ => None,
					});
					assert_eq!(
						closed,
						Some((a, b)),
						"{op:?} paid something else than the registered state"
					);
				}
			}
			issuance -= burnt_in_events();
			check_invariants();
			assert_eq!(Balances::total_issuance(), issuance, "issuance moved after {op:?}");
			assert_eq!(
				accounts_total(),
				issuance,
				"accounts do not sum to issuance after {op:?}"
			);
		}
	});
	succeeded
}

#[test]
fn invariants_hold_and_money_is_conserved() {
	let cases = std::env::var("CCNET_PROP_CASES")
		.ok()
		.and_then(|v| v.parse().ok())
		.unwrap_or(64);
	let mut runner = TestRunner::new(RunnerConfig {
		cases,
		..RunnerConfig::default()
	});
	let totals = std::cell::RefCell::new(BTreeMap::<&'static str, usize>::new());
	runner
		.run(&prop::collection::vec(op(), 1..80), |ops| {
			for (kind, n) in run_ops(&ops) {
				*totals.borrow_mut().entry(kind).or_insert(0) += n;
			}
			Ok(())
		})
		.unwrap();
	let totals = totals.into_inner();
	println!("successes per op kind over {cases} cases: {totals:?}");
	let kinds = [
		"stake",
		"unstake",
		"post",
		"claim",
		"open",
		"fund",
		"coop_close",
		"close_opening",
		"close_signed",
		"channel_challenge",
		"settle",
	];
	let missing: Vec<_> = kinds.iter().filter(|k| !totals.contains_key(*k)).collect();
	assert!(missing.is_empty(), "op kinds that never succeeded: {missing:?}");
}
