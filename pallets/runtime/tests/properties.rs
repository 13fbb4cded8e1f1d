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

use ccnet_runtime::{
	AccountId, AllPalletsWithSystem, Balances, Channels, Disputes, Runtime, RuntimeCall, RuntimeEvent, System, Tasks,
	UNIT,
};
use common::{check_invariants, preset_ext, who};
use polkadot_sdk::{
	frame_support::traits::OnInitialize,
	sp_core::{Pair, H256},
	sp_keyring::Sr25519Keyring,
	sp_runtime::traits::Dispatchable,
};
use proptest::{
	prelude::*,
	test_runner::{Config as RunnerConfig, TestRunner},
};
use std::collections::BTreeMap;

/// Accounts of the test (all endowed by the development preset). All but Alice start
/// as staked workers: enough that a dispute finds a panel outside its task's parties.
const KEYS: [Sr25519Keyring; 10] = [
	Sr25519Keyring::Alice,
	Sr25519Keyring::Bob,
	Sr25519Keyring::Charlie,
	Sr25519Keyring::Dave,
	Sr25519Keyring::Eve,
	Sr25519Keyring::Ferdie,
	Sr25519Keyring::AliceStash,
	Sr25519Keyring::BobStash,
	Sr25519Keyring::CharlieStash,
	Sr25519Keyring::DaveStash,
];

#[derive(Debug, Clone)]
enum Op {
	Stake(usize, u128),
	Unstake(usize, u128),
	Withdraw(usize),
	Register(usize),
	/// Requester, bounty, redundancy, deadline in blocks from now.
	Post(usize, u128, u8, u32),
	Claim(usize, u64),
	/// Worker commits to result `n` of a task.
	Submit(usize, u64, u8),
	/// A committed worker reveals its result (`1`: a wrong one, which fails).
	Reveal(usize, u64, u8),
	/// Task, worker whose result the task's requester accepts.
	Accept(u64, usize),
	Expire(u64),
	Finalize(u64),
	Reap(u64),
	/// Challenger, task, accused (among the task's revealers), expected result `n`.
	Challenge(usize, u64, usize, u8),
	/// A verifier of an open dispute commits to result `n`.
	CommitVote(usize, u64, u8),
	/// A verifier reveals its vote (`1`: a wrong one, which fails).
	RevealVote(usize, u64, u8),
	/// The challenger reveals its expected result (`1`: a wrong one, which fails).
	RevealExpected(u64, u8),
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
	/// Take the `i`-th next protocol step open in the current state (see
	/// [`next_steps`]), with `variant` (0: the honest move; 1: a wrong reveal, or
	/// another result).
	Step(usize, u8),
	/// Play the rest of the `i`-th voting dispute's protocol at once: every verifier
	/// commits, then reveals (the truth, result 0; with `variant` 1 the first
	/// verifier votes 1), then the challenger reveals what it expected.
	Drive(usize, u8),
}

/// A protocol step some party can take now: the property test drives tasks and
/// disputes through their whole life with these, in random interleavings, so that
/// deep states are reached often.
#[derive(Debug, Clone)]
enum Next {
	Claim(u64, usize),
	Submit(u64, usize),
	Reveal(u64, usize),
	Challenge(u64, usize, usize),
	CommitVote(u64, usize),
	RevealVote(u64, usize),
	RevealExpected(u64),
	Resolve(u64),
	Finalize(u64),
	Expire(u64),
	Accept(u64, usize),
	Reap(u64),
	Register(usize),
	Stake(usize),
	Withdraw(usize),
	/// Channel (index into the opened ones): close with a co-signed state of a version.
	CloseSigned(usize, u64),
	CloseOpening(usize),
	ChannelChallenge(usize, u64),
	Settle(usize),
}

impl Next {
	/// Steps of one kind compete with each other, not with other kinds.
	fn kind(&self) -> u8 {
		match self {
			Next::Claim(..) => 0,
			Next::Submit(..) => 1,
			Next::Reveal(..) => 2,
			Next::Challenge(..) => 3,
			Next::CommitVote(..) => 4,
			Next::RevealVote(..) => 5,
			Next::RevealExpected(..) => 6,
			Next::Resolve(..) => 7,
			Next::Finalize(..) | Next::Expire(..) => 8,
			Next::Accept(..) => 9,
			Next::Reap(..) => 10,
			Next::Register(..) | Next::Stake(..) | Next::Withdraw(..) => 11,
			Next::CloseSigned(..) | Next::CloseOpening(..) | Next::ChannelChallenge(..) | Next::Settle(..) => 12,
		}
	}
}

/// The `i`-th step open now: a kind first (so that no kind crowds out the others),
/// then a step of that kind.
fn pick_step(steps: &[Next], i: usize) -> Option<&Next> {
	let mut kinds: Vec<u8> = steps.iter().map(Next::kind).collect();
	kinds.sort();
	kinds.dedup();
	// A dispute needs many steps inside its phases: its kinds weigh three times.
	let votes: Vec<u8> = kinds.iter().copied().filter(|k| (4..=7).contains(k)).collect();
	for _ in 0..2 {
		kinds.extend(&votes);
	}
	let kind = *kinds.get(i % kinds.len().max(1))?;
	let of_kind: Vec<&Next> = steps.iter().filter(|s| s.kind() == kind).collect();
	of_kind.get((i / kinds.len()) % of_kind.len()).copied()
}

/// Every step open now, in storage order.
fn next_steps(opened: &Opened) -> Vec<Next> {
	let now = System::block_number();
	let mut steps = Vec::new();
	for (c, (channel_id, _, _)) in opened.iter().enumerate() {
		let Some(channel) = pallet_channels::Channels::<Runtime>::get(channel_id) else {
			continue;
		};
		match channel.phase {
			pallet_channels::Phase::Funded => {
				steps.push(Next::CloseSigned(c, 3));
				steps.push(Next::CloseOpening(c));
			},
			pallet_channels::Phase::Closing {
				state, challenge_ends, ..
			} if now <= challenge_ends => steps.push(Next::ChannelChallenge(c, state.version + 1)),
			pallet_channels::Phase::Closing { .. } => steps.push(Next::Settle(c)),
			pallet_channels::Phase::Opening => {},
		}
	}
	let workers: Vec<usize> = (0..KEYS.len())
		.filter(|i| pallet_tasks::Workers::<Runtime>::contains_key(who(KEYS[*i])))
		.collect();
	for (task_id, task) in pallet_tasks::Tasks::<Runtime>::iter() {
		if task.status != pallet_tasks::TaskStatus::Open {
			if task
				.finished_at
				.is_some_and(|at| now > at + ccnet_runtime::configs::TaskRetention::get())
			{
				steps.push(Next::Reap(task_id));
			}
			continue;
		}
		if now <= task.deadline && task.claims < task.redundancy {
			for w in &workers {
				let account = who(KEYS[*w]);
				if account != task.requester && !pallet_tasks::Assignments::<Runtime>::contains_key(task_id, &account) {
					steps.push(Next::Claim(task_id, *w));
				}
			}
		}
		for (worker, a) in pallet_tasks::Assignments::<Runtime>::iter_prefix(task_id) {
			let w = key_of(&worker);
			match (a.commitment, a.result) {
				(None, _) => steps.push(Next::Submit(task_id, w)),
				(Some(_), None) => steps.push(Next::Reveal(task_id, w)),
				(Some(_), Some(_)) if !a.disputed && !a.judged => {
					steps.push(Next::Challenge(task_id, w, key_of(&task.requester)));
					steps.push(Next::Accept(task_id, w));
				},
				_ => {},
			}
		}
		if now > Tasks::challenge_ends(&task) {
			steps.push(Next::Finalize(task_id));
		}
		if now > Tasks::reveal_ends(&task) && task.reveals == 0 {
			steps.push(Next::Expire(task_id));
		}
	}
	for (i, key) in KEYS.iter().enumerate() {
		let Some(ledger) = pallet_credits::Stakes::<Runtime>::get(who(*key)) else {
			continue;
		};
		// (Unstaking is left to the random ops: as a step it would crowd out the rest.)
		if ledger.unbonding.iter().any(|c| c.unlock_at <= now) {
			steps.push(Next::Withdraw(i));
		}
		if ledger.active >= ccnet_runtime::configs::MinWorkerStake::get()
			&& !pallet_tasks::Workers::<Runtime>::contains_key(who(*key))
		{
			steps.push(Next::Register(i));
		}
	}
	for (i, key) in KEYS.iter().enumerate() {
		if !pallet_tasks::Workers::<Runtime>::contains_key(who(*key)) {
			steps.push(Next::Stake(i));
		}
	}
	for (dispute_id, d) in pallet_disputes::Disputes::<Runtime>::iter() {
		let pallet_disputes::DisputePhase::Voting { reveal_ends, .. } = d.phase else {
			continue;
		};
		for v in d.verifiers.iter() {
			let committed = d.commitments.iter().any(|(c, _)| c == v);
			let revealed = d.votes.iter().any(|(x, _)| x == v);
			if !committed {
				steps.push(Next::CommitVote(dispute_id, key_of(v)));
			} else if !revealed {
				steps.push(Next::RevealVote(dispute_id, key_of(v)));
			}
		}
		if d.expected.is_some() && d.expected_hash.is_none() {
			steps.push(Next::RevealExpected(dispute_id));
		}
		if now > reveal_ends {
			steps.push(Next::Resolve(dispute_id));
		}
	}
	steps
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
			Op::Reveal(..) => "reveal",
			Op::Accept(..) => "accept",
			Op::Expire(..) => "expire",
			Op::Finalize(..) => "finalize",
			Op::Reap(..) => "reap",
			Op::Challenge(..) => "challenge",
			Op::CommitVote(..) => "commit_vote",
			Op::RevealVote(..) => "reveal_vote",
			Op::RevealExpected(..) => "reveal_expected",
			Op::Resolve(..) => "resolve",
			Op::Open(..) => "open",
			Op::Fund(..) => "fund",
			Op::CoopClose(..) => "coop_close",
			Op::CloseOpening(..) => "close_opening",
			Op::CloseSigned(..) => "close_signed",
			Op::ChannelChallenge(..) => "channel_challenge",
			Op::Settle(..) => "settle",
			Op::Advance(..) => "advance",
			Op::Step(..) => "step",
			Op::Drive(..) => "drive",
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
		2 => (k.clone(), prop_oneof![4 => (1u128..20).prop_map(|n| n * UNIT), 1 => amount()], 0u8..4, 1u32..40).prop_map(|(w, a, r, d)| Op::Post(w, a, r, d)),
		3 => (k.clone(), 0u64..4).prop_map(|(w, t)| Op::Claim(w, t)),
		3 => (k.clone(), 0u64..4, 0u8..2).prop_map(|(w, t, h)| Op::Submit(w, t, h)),
		3 => (k.clone(), 0u64..4, prop_oneof![5 => Just(0u8), 1 => Just(1u8)]).prop_map(|(w, t, h)| Op::Reveal(w, t, h)),
		1 => (0u64..4, k.clone()).prop_map(|(t, x)| Op::Accept(t, x)),
		1 => (0u64..4).prop_map(Op::Expire),
		2 => (0u64..4).prop_map(Op::Finalize),
		1 => (0u64..4).prop_map(Op::Reap),
		2 => (k.clone(), 0u64..4, k.clone(), 0u8..2).prop_map(|(w, t, x, h)| Op::Challenge(w, t, x, h)),
		3 => (k.clone(), 0u64..3, 0u8..2).prop_map(|(w, d, h)| Op::CommitVote(w, d, h)),
		3 => (k.clone(), 0u64..3, prop_oneof![5 => Just(0u8), 1 => Just(1u8)]).prop_map(|(w, d, h)| Op::RevealVote(w, d, h)),
		1 => (0u64..3, prop_oneof![5 => Just(0u8), 1 => Just(1u8)]).prop_map(|(d, h)| Op::RevealExpected(d, h)),
		1 => (0u64..3).prop_map(Op::Resolve),
		3 => (k.clone(), k.clone(), deposit(), counterparty_deposit()).prop_map(|(a, b, x, y)| Op::Open(a, b, x, y)),
		1 => (0usize..4).prop_map(Op::Fund),
		1 => (0usize..4, 0u64..5, 0u16..=1000).prop_map(|(c, v, s)| Op::CoopClose(c, v, s)),
		1 => (k.clone(), 0usize..4).prop_map(|(w, c)| Op::CloseOpening(w, c)),
		3 => (0usize..3, k.clone(), 0u64..6, 0u16..=1000).prop_map(|(c, w, v, s)| Op::CloseSigned(c, w, v, s)),
		3 => (0usize..3, k.clone(), 0u64..8, 0u16..=1000).prop_map(|(c, w, v, s)| Op::ChannelChallenge(c, w, v, s)),
		3 => (0usize..3).prop_map(Op::Settle),
		4 => prop_oneof![8 => 1u32..4, 2 => 4u32..30, 2 => 100u32..130].prop_map(Op::Advance),
		30 => (0usize..64, prop_oneof![6 => Just(0u8), 1 => Just(1u8)]).prop_map(|(i, v)| Op::Step(i, v)),
		10 => (0usize..8, 0u8..2).prop_map(|(i, v)| Op::Drive(i, v)),
	]
}

/// Channels opened so far: (id, index of A, index of B).
type Opened = Vec<(H256, usize, usize)>;

/// What the test remembers to play the protocol: channels it opened and the result
/// each commitment hides (task or dispute, account) -> n, so that most reveals match.
#[derive(Default)]
struct Model {
	opened: Opened,
	results: BTreeMap<(u64, AccountId), u8>,
	votes: BTreeMap<(u64, AccountId), u8>,
	expected: BTreeMap<u64, u8>,
}

/// The salt every commitment of the test uses (random salts only matter to secrecy).
const SALT: [u8; 32] = [7; 32];

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

/// Assignments of open tasks matching `wanted`, in storage order: (task, worker).
fn assignments(wanted: impl Fn(&pallet_tasks::Assignment) -> bool) -> Vec<(u64, usize)> {
	pallet_tasks::Assignments::<Runtime>::iter()
		.filter(|(_, _, a)| wanted(a))
		.map(|(t, w, _)| (t, key_of(&w)))
		.collect()
}

/// Panel seats of open disputes matching `wanted(dispute, verifier)`: (dispute, verifier).
fn seats(wanted: impl Fn(&pallet_disputes::DisputeOf<Runtime>, &AccountId) -> bool) -> Vec<(u64, usize)> {
	pallet_disputes::Disputes::<Runtime>::iter()
		.flat_map(|(id, d)| {
			d.verifiers
				.iter()
				.filter(|v| wanted(&d, v))
				.map(|v| (id, key_of(v)))
				.collect::<Vec<_>>()
		})
		.collect()
}

fn call(op: &Op, model: &mut Model) -> Option<(usize, RuntimeCall)> {
	let opened = &mut model.opened;
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
			recent(
				&(0..KEYS.len())
					.filter(|i| !pallet_tasks::Workers::<Runtime>::contains_key(who(KEYS[*i])))
					.collect::<Vec<_>>(),
				w,
			)
			.unwrap_or(w),
			RuntimeCall::Tasks(Ta::register_worker {
				capabilities: Default::default(),
				endpoint: Default::default(),
			}),
		),
		Op::Post(w, bounty, redundancy, offset) => (
			w,
			RuntimeCall::Tasks(Ta::post_task {
				task_type: Default::default(),
				input_ref: Default::default(),
				output_spec: Default::default(),
				bounty,
				deadline: System::block_number() + offset,
				redundancy,
			}),
		),
		Op::Claim(w, t) => {
			let now = System::block_number();
			let open: Vec<u64> = pallet_tasks::Tasks::<Runtime>::iter()
				.filter(|(_, task)| {
					task.status == pallet_tasks::TaskStatus::Open
						&& task.claims < task.redundancy
						&& now <= task.deadline
				})
				.map(|(id, _)| id)
				.collect();
			let task_id = recent(&open, t as usize)?;
			let requester = pallet_tasks::Tasks::<Runtime>::get(task_id)?.requester;
			let candidates: Vec<usize> = (0..KEYS.len())
				.filter(|i| {
					let account = who(KEYS[*i]);
					account != requester
						&& pallet_tasks::Workers::<Runtime>::contains_key(&account)
						&& !pallet_tasks::Assignments::<Runtime>::contains_key(task_id, &account)
				})
				.collect();
			(recent(&candidates, w)?, RuntimeCall::Tasks(Ta::claim { task_id }))
		},
		Op::Submit(w, t, n) => {
			let (task_id, worker) = recent(&assignments(|a| a.commitment.is_none()), w + t as usize)?;
			let account = who(KEYS[worker]);
			model.results.insert((task_id, account.clone()), n);
			let commitment = Tasks::result_commitment(task_id, &account, &h(n), 1_000, &SALT);
			(worker, RuntimeCall::Tasks(Ta::submit_result { task_id, commitment }))
		},
		Op::Reveal(w, t, wrong) => {
			let (task_id, worker) = recent(
				&assignments(|a| a.commitment.is_some() && a.result.is_none()),
				w + t as usize,
			)?;
			let n = model.results.get(&(task_id, who(KEYS[worker]))).copied().unwrap_or(0) + wrong;
			(
				worker,
				RuntimeCall::Tasks(Ta::reveal_result {
					task_id,
					result_hash: h(n),
					fuel_used: 1_000,
					salt: SALT,
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
		Op::Finalize(t) => (
			0,
			RuntimeCall::Tasks(Ta::finalize {
				task_id: recent_id(pallet_tasks::NextTaskId::<Runtime>::get(), t)?,
			}),
		),
		Op::Reap(t) => (
			0,
			RuntimeCall::Tasks(Ta::reap {
				task_id: recent_id(pallet_tasks::NextTaskId::<Runtime>::get(), t)?,
			}),
		),
		Op::Challenge(w, t, x, n) => {
			let (task_id, worker) = recent(
				&assignments(|a| a.result.is_some() && !a.disputed && !a.judged),
				t as usize + x,
			)?;
			let worker = who(KEYS[worker]);
			let dispute_id = pallet_disputes::NextDisputeId::<Runtime>::get();
			model.expected.insert(dispute_id, n);
			let expected = Some(Disputes::expected_commitment(task_id, &worker, &h(n), &SALT));
			(
				w,
				RuntimeCall::Disputes(Di::challenge {
					task_id,
					worker,
					expected,
				}),
			)
		},
		Op::CommitVote(w, d, n) => {
			let (dispute_id, verifier) =
				recent(&seats(|d, v| d.commitments.iter().all(|(c, _)| c != v)), w + d as usize)?;
			let account = who(KEYS[verifier]);
			model.votes.insert((dispute_id, account.clone()), n);
			let commitment = Disputes::vote_commitment(dispute_id, &account, &h(n), &SALT);
			(
				verifier,
				RuntimeCall::Disputes(Di::commit_vote { dispute_id, commitment }),
			)
		},
		Op::RevealVote(w, d, wrong) => {
			let (dispute_id, verifier) = recent(
				&seats(|d, v| d.commitments.iter().any(|(c, _)| c == v) && d.votes.iter().all(|(x, _)| x != v)),
				w + d as usize,
			)?;
			let n = model
				.votes
				.get(&(dispute_id, who(KEYS[verifier])))
				.copied()
				.unwrap_or(0)
				+ wrong;
			(
				verifier,
				RuntimeCall::Disputes(Di::reveal_vote {
					dispute_id,
					result_hash: h(n),
					salt: SALT,
				}),
			)
		},
		Op::RevealExpected(d, wrong) => {
			let pending: Vec<u64> = pallet_disputes::Disputes::<Runtime>::iter()
				.filter(|(_, d)| d.expected.is_some() && d.expected_hash.is_none())
				.map(|(id, _)| id)
				.collect();
			let dispute_id = recent(&pending, d as usize)?;
			let dispute = pallet_disputes::Disputes::<Runtime>::get(dispute_id)?;
			let n = model.expected.get(&dispute_id).copied().unwrap_or(0) + wrong;
			(
				key_of(&dispute.challenger),
				RuntimeCall::Disputes(Di::reveal_expected {
					dispute_id,
					expected_hash: h(n),
					salt: SALT,
					auditor_salt: None,
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
		Op::Advance(_) | Op::Step(..) | Op::Drive(..) => return None,
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

/// The origin, call and kind of step `next` (`variant` 1: a wrong reveal, or the
/// other result for commitments), remembering what commitments hide in `model`.
fn step_call(next: &Next, variant: u8, model: &mut Model) -> Option<(usize, RuntimeCall, &'static str)> {
	use pallet_disputes::Call as Di;
	use pallet_tasks::Call as Ta;
	let h = |n: u8| H256::repeat_byte(n + 1);
	Some(match *next {
		Next::Claim(task_id, w) => (w, RuntimeCall::Tasks(Ta::claim { task_id }), "claim"),
		Next::Submit(task_id, w) => {
			// Half the workers lie (result 1); verifiers mostly vote the truth (0).
			let n = ((task_id as usize + w) % 2) as u8;
			model.results.insert((task_id, who(KEYS[w])), n);
			let commitment = Tasks::result_commitment(task_id, &who(KEYS[w]), &h(n), 1_000, &SALT);
			(
				w,
				RuntimeCall::Tasks(Ta::submit_result { task_id, commitment }),
				"submit",
			)
		},
		Next::Reveal(task_id, w) => {
			let n = model.results.get(&(task_id, who(KEYS[w]))).copied().unwrap_or(0);
			let call = Ta::reveal_result {
				task_id,
				result_hash: h(n + 2 * variant),
				fuel_used: 1_000,
				salt: SALT,
			};
			(w, RuntimeCall::Tasks(call), "reveal")
		},
		Next::Challenge(task_id, worker, challenger) => {
			let dispute_id = pallet_disputes::NextDisputeId::<Runtime>::get();
			model.expected.insert(dispute_id, variant);
			let worker = who(KEYS[worker]);
			let expected = Some(Disputes::expected_commitment(task_id, &worker, &h(variant), &SALT));
			let call = Di::challenge {
				task_id,
				worker,
				expected,
			};
			(challenger, RuntimeCall::Disputes(call), "challenge")
		},
		Next::CommitVote(dispute_id, v) => {
			model.votes.insert((dispute_id, who(KEYS[v])), variant);
			let commitment = Disputes::vote_commitment(dispute_id, &who(KEYS[v]), &h(variant), &SALT);
			(
				v,
				RuntimeCall::Disputes(Di::commit_vote { dispute_id, commitment }),
				"commit_vote",
			)
		},
		Next::RevealVote(dispute_id, v) => {
			let n = model.votes.get(&(dispute_id, who(KEYS[v]))).copied().unwrap_or(0);
			let call = Di::reveal_vote {
				dispute_id,
				result_hash: h(n + 2 * variant),
				salt: SALT,
			};
			(v, RuntimeCall::Disputes(call), "reveal_vote")
		},
		Next::RevealExpected(dispute_id) => {
			let challenger = key_of(&pallet_disputes::Disputes::<Runtime>::get(dispute_id)?.challenger);
			let n = model.expected.get(&dispute_id).copied().unwrap_or(0);
			let call = Di::reveal_expected {
				dispute_id,
				expected_hash: h(n + 2 * variant),
				salt: SALT,
				auditor_salt: None,
			};
			(challenger, RuntimeCall::Disputes(call), "reveal_expected")
		},
		Next::Resolve(dispute_id) => (0, RuntimeCall::Disputes(Di::resolve { dispute_id }), "resolve"),
		Next::Finalize(task_id) => (0, RuntimeCall::Tasks(Ta::finalize { task_id }), "finalize"),
		Next::Expire(task_id) => (0, RuntimeCall::Tasks(Ta::expire { task_id }), "expire"),
		Next::Accept(task_id, w) => {
			let requester = key_of(&pallet_tasks::Tasks::<Runtime>::get(task_id)?.requester);
			let call = Ta::accept {
				task_id,
				worker: who(KEYS[w]),
			};
			(requester, RuntimeCall::Tasks(call), "accept")
		},
		Next::Reap(task_id) => (0, RuntimeCall::Tasks(Ta::reap { task_id }), "reap"),
		Next::Register(w) => {
			let call = Ta::register_worker {
				capabilities: Default::default(),
				endpoint: Default::default(),
			};
			(w, RuntimeCall::Tasks(call), "register")
		},
		Next::CloseSigned(c, version) => {
			let (channel_id, a, b) = *model.opened.get(c)?;
			let (state, sa, sb) = cosigned(channel_id, a, b, version, 300 + 100 * u16::from(variant), false)?;
			let call = pallet_channels::Call::close_unilateral {
				channel_id,
				state,
				signature_a: Some(sa),
				signature_b: Some(sb),
			};
			(a, RuntimeCall::Channels(call), "close_signed")
		},
		Next::CloseOpening(c) => {
			let (channel_id, _, b) = *model.opened.get(c)?;
			let channel = pallet_channels::Channels::<Runtime>::get(channel_id)?;
			let state = pallet_channels::ChannelState {
				version: 0,
				balance_a: channel.deposit_a,
				balance_b: channel.deposit_b,
			};
			let call = pallet_channels::Call::close_unilateral {
				channel_id,
				state,
				signature_a: None,
				signature_b: None,
			};
			(b, RuntimeCall::Channels(call), "close_opening")
		},
		Next::ChannelChallenge(c, version) => {
			let (channel_id, a, b) = *model.opened.get(c)?;
			let (state, signature_a, signature_b) = cosigned(channel_id, a, b, version, 500, false)?;
			let call = pallet_channels::Call::challenge {
				channel_id,
				state,
				signature_a,
				signature_b,
			};
			(b, RuntimeCall::Channels(call), "channel_challenge")
		},
		Next::Settle(c) => {
			let (channel_id, _, _) = *model.opened.get(c)?;
			(
				0,
				RuntimeCall::Channels(pallet_channels::Call::settle { channel_id }),
				"settle",
			)
		},
		Next::Stake(w) => (
			w,
			RuntimeCall::Credits(pallet_credits::Call::stake { amount: 20 * UNIT }),
			"stake",
		),
		Next::Withdraw(w) => (
			w,
			RuntimeCall::Credits(pallet_credits::Call::withdraw_unbonded {}),
			"withdraw",
		),
	})
}

/// Play [`Op::Drive`], counting each call's success in `succeeded`; returns whether
/// every call it made succeeded.
fn drive(i: usize, variant: u8, model: &mut Model, succeeded: &mut BTreeMap<&'static str, usize>) -> bool {
	let voting: Vec<u64> = pallet_disputes::Disputes::<Runtime>::iter()
		.filter(|(_, d)| matches!(d.phase, pallet_disputes::DisputePhase::Voting { .. }))
		.map(|(id, _)| id)
		.collect();
	let Some(dispute_id) = recent(&voting, i) else {
		return false;
	};
	let Some(dispute) = pallet_disputes::Disputes::<Runtime>::get(dispute_id) else {
		return false;
	};
	let mut calls = Vec::new();
	for (seat, v) in dispute.verifiers.iter().enumerate() {
		let n = u8::from(seat == 0 && variant == 1);
		if dispute.commitments.iter().all(|(c, _)| c != v) {
			calls.push(Next::CommitVote(dispute_id, key_of(v)));
			model.votes.insert((dispute_id, v.clone()), n);
		}
	}
	for v in dispute.verifiers.iter() {
		if dispute.votes.iter().all(|(x, _)| x != v) {
			calls.push(Next::RevealVote(dispute_id, key_of(v)));
		}
	}
	if dispute.expected.is_some() && dispute.expected_hash.is_none() {
		calls.push(Next::RevealExpected(dispute_id));
	}
	let mut all_ok = true;
	for next in calls {
		// Commitments keep the vote chosen above (step_call would overwrite it).
		let n = match &next {
			Next::CommitVote(d, v) => model.votes.get(&(*d, who(KEYS[*v]))).copied().unwrap_or(0),
			_ => 0,
		};
		let Some((w, call, kind)) = step_call(&next, n, model) else {
			return false;
		};
		let ok = call.dispatch(common::signed(KEYS[w])).is_ok();
		if ok {
			*succeeded.entry(kind).or_insert(0) += 1;
		}
		all_ok &= ok;
	}
	all_ok
}

/// What a settle or cooperative close must pay: the state registered (or agreed).
fn expected_payout(op: &Op, model: &Model) -> Option<(H256, u128, u128)> {
	let opened = &model.opened;
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
			for setup in [Op::Stake(0, 100 * UNIT), Op::Register(0)] {
				let (_, setup_call) = call(&setup, &mut Model::default()).expect("setup call");
				setup_call.dispatch(common::signed(*key)).expect("setup succeeds");
			}
		}
		let mut issuance = Balances::total_issuance();
		let mut model = Model::default();
		for op in ops {
			System::reset_events();
			let payout = expected_payout(op, &model);
			let mut kind = op.kind();
			let ok = if let Op::Drive(i, variant) = op {
				drive(*i, *variant, &mut model, &mut succeeded)
			} else if let Op::Step(i, variant) = op {
				let steps = next_steps(&model.opened);
				match pick_step(&steps, *i).and_then(|next| step_call(next, *variant, &mut model)) {
					Some((w, call, step_kind)) => {
						kind = step_kind;
						call.dispatch(common::signed(KEYS[w])).is_ok()
					},
					None => false,
				}
			} else if let Op::Advance(n) = op {
				// Block by block: draws are made in `on_initialize` of their block.
				for _ in 0..*n {
					let next = System::block_number() + 1;
					System::set_block_number(next);
					AllPalletsWithSystem::on_initialize(next);
				}
				true
			} else if let Some((w, call)) = call(op, &mut model) {
				// Errors are expected (random input); they must leave no trace.
				call.dispatch(common::signed(KEYS[w])).is_ok()
			} else {
				false
			};
			for record in System::events() {
				if let RuntimeEvent::Disputes(pallet_disputes::Event::DisputeResolved { verdict, .. }) = record.event {
					let name = match verdict {
						ccnet_primitives::Verdict::WorkerAtFault => "verdict_at_fault",
						ccnet_primitives::Verdict::WorkerUpheld => "verdict_upheld",
						ccnet_primitives::Verdict::Inconclusive => "verdict_inconclusive",
					};
					*succeeded.entry(name).or_insert(0) += 1;
				}
			}
			if ok {
				*succeeded.entry(kind).or_insert(0) += 1;
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
		.unwrap_or(48);
	let config = RunnerConfig {
		cases,
		..RunnerConfig::default()
	};
	// A fixed seed by default, so that CI checks the same sequences every time and the
	// coverage assertion below cannot flake; CCNET_PROP_SEED=<n> explores others (the
	// invariants must hold for every seed; a short run may miss a rare op kind).
	let seed: u64 = std::env::var("CCNET_PROP_SEED")
		.ok()
		.and_then(|v| v.parse().ok())
		.unwrap_or(2);
	let mut seed_bytes = [0u8; 32];
	seed_bytes[..8].copy_from_slice(&seed.to_le_bytes());
	let rng = proptest::test_runner::TestRng::from_seed(proptest::test_runner::RngAlgorithm::ChaCha, &seed_bytes);
	let mut runner = TestRunner::new_with_rng(config, rng);
	let totals = std::cell::RefCell::new(BTreeMap::<&'static str, usize>::new());
	runner
		.run(&prop::collection::vec(op(), 1..120), |ops| {
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
		"withdraw",
		"register",
		"post",
		"claim",
		"submit",
		"reveal",
		"accept",
		"expire",
		"finalize",
		"reap",
		"challenge",
		"commit_vote",
		"reveal_vote",
		"reveal_expected",
		"resolve",
		"open",
		"fund",
		"coop_close",
		"close_opening",
		"close_signed",
		"channel_challenge",
		"settle",
		"verdict_at_fault",
		"verdict_upheld",
		"verdict_inconclusive",
	];
	let missing: Vec<_> = kinds.iter().filter(|k| !totals.contains_key(*k)).collect();
	assert!(missing.is_empty(), "op kinds that never succeeded: {missing:?}");
}
