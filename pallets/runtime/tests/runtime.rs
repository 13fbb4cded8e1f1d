//! Runtime-level tests: genesis presets, the transaction extensions that
//! substrate-interface depends on, and one market flow across all five pallets
//! with every pallet's invariants checked at the end.

mod common;

use ccnet_primitives::StakeProvider;
use ccnet_runtime::{
	genesis_config_presets::{self, ENDOWMENT},
	AccountId, AllPalletsWithSystem, Balances, Channels, Checkpoints, Credits, Disputes, Runtime, RuntimeOrigin,
	System, Tasks, UNIT,
};
use common::{check_invariants, preset_ext, signed, who};
use polkadot_sdk::{
	frame_support::{
		assert_ok,
		traits::{IntegrityTest, OnInitialize},
	},
	sp_core::{Pair, H256},
	sp_keyring::Sr25519Keyring,
};

#[test]
fn presets_fund_dev_accounts_and_pass_integrity_tests() {
	for preset in ["development", "local_testnet"] {
		preset_ext(preset).execute_with(|| {
			assert_eq!(Balances::free_balance(who(Sr25519Keyring::Alice)), ENDOWMENT);
			assert_eq!(Balances::free_balance(who(Sr25519Keyring::Ferdie)), ENDOWMENT);
			assert_eq!(pallet_sudo_key(), Some(who(Sr25519Keyring::Alice)));
			ccnet_runtime::AllPalletsWithSystem::integrity_test();
		});
	}
	assert_eq!(genesis_config_presets::preset_names().len(), 2);
}

#[test]
fn local_testnet_has_four_authorities_so_finality_survives_one_down() {
	use polkadot_sdk::{pallet_aura, pallet_grandpa};
	preset_ext("local_testnet").execute_with(|| {
		assert_eq!(pallet_aura::Authorities::<Runtime>::get().len(), 4);
		// GRANDPA needs more than 2/3 of the weight: 3 of 4 equal voters are enough.
		let voters = pallet_grandpa::Pallet::<Runtime>::grandpa_authorities();
		assert_eq!(voters.len(), 4);
		assert!(voters.iter().all(|(_, weight)| *weight == 1));
	});
}

fn pallet_sudo_key() -> Option<AccountId> {
	polkadot_sdk::pallet_sudo::Key::<Runtime>::get()
}

#[test]
fn transaction_extensions_are_what_substrate_interface_encodes() {
	use polkadot_sdk::sp_runtime::traits::TransactionExtension;
	let names: Vec<&str> = ccnet_runtime::TxExtension::metadata()
		.iter()
		.map(|e| e.identifier)
		.collect();
	assert_eq!(
		names,
		[
			"CheckNonZeroSender",
			"CheckSpecVersion",
			"CheckTxVersion",
			"CheckGenesis",
			"CheckMortality",
			"CheckNonce",
			"CheckWeight",
			"ChargeTransactionPayment",
		]
	);
	// substrate-interface 1.8 reads V14 metadata.
	assert!(Runtime::metadata_versions().contains(&14));
	assert!(Runtime::metadata_at_version(14).is_some());
}

#[test]
fn the_five_pallets_are_in_the_runtime() {
	use polkadot_sdk::frame_support::traits::PalletInfoAccess;
	let names = [
		Credits::name(),
		Tasks::name(),
		Channels::name(),
		Checkpoints::name(),
		Disputes::name(),
	];
	assert_eq!(names, ["Credits", "Tasks", "Channels", "Checkpoints", "Disputes"]);
}

#[test]
fn a_market_flow_across_all_pallets_keeps_every_invariant() {
	use Sr25519Keyring::{Alice, Bob, Charlie, Dave, Eve, Ferdie};
	preset_ext("development").execute_with(|| {
		let issuance = Balances::total_issuance();
		// Workers stake and register.
		for w in [Bob, Charlie, Dave, Eve] {
			assert_ok!(Credits::stake(signed(w), 20 * UNIT));
			assert_ok!(Tasks::register_worker(
				signed(w),
				Default::default(),
				b"http://127.0.0.1".to_vec().try_into().unwrap()
			));
		}
		// A task with a wrong result from Bob, challenged by Alice.
		assert_ok!(Tasks::post_task(
			signed(Alice),
			b"prime-count".to_vec().try_into().unwrap(),
			b"1000".to_vec().try_into().unwrap(),
			Default::default(),
			5 * UNIT,
			100,
			1
		));
		let right = H256::repeat_byte(1);
		let wrong = H256::repeat_byte(9);
		let salt = [3u8; 32];
		let submit = |w: Sr25519Keyring, hash: H256| {
			assert_ok!(Tasks::claim(signed(w), 0));
			let commitment = Tasks::result_commitment(0, &who(w), &hash, 1_000, &salt);
			assert_ok!(Tasks::submit_result(signed(w), 0, commitment));
			assert_ok!(Tasks::reveal_result(signed(w), 0, hash, 1_000, salt));
		};
		submit(Bob, wrong);
		let expected = Disputes::expected_commitment(0, &who(Bob), &right, &salt);
		assert_ok!(Disputes::challenge(signed(Alice), 0, who(Bob), Some(expected)));
		// The draw runs at the start of a later block.
		let draw_at = System::block_number() + 2;
		System::set_block_number(draw_at);
		AllPalletsWithSystem::on_initialize(draw_at);
		let verifiers = pallet_disputes::Disputes::<Runtime>::get(0).unwrap().verifiers;
		assert_eq!(verifiers.len(), 3);
		for v in verifiers.iter() {
			let c = Disputes::vote_commitment(0, v, &right, &salt);
			assert_ok!(Disputes::commit_vote(RuntimeOrigin::signed(v.clone()), 0, c));
		}
		for v in verifiers.iter() {
			assert_ok!(Disputes::reveal_vote(RuntimeOrigin::signed(v.clone()), 0, right, salt));
		}
		assert_ok!(Disputes::reveal_expected(signed(Alice), 0, right, salt, None));
		assert!(pallet_disputes::Disputes::<Runtime>::get(0).is_none());
		assert_eq!(<Credits as StakeProvider<_, _>>::active(&who(Bob)), 10 * UNIT);
		// An honest worker takes the freed slot and is paid.
		submit(Charlie, right);
		assert_ok!(Tasks::accept(signed(Alice), 0, who(Charlie)));
		// A channel with one update, closed cooperatively.
		let id = Channels::channel_id(&who(Alice), &who(Ferdie), 0, &System::parent_hash());
		assert_ok!(Channels::open(signed(Alice), who(Ferdie), 100 * UNIT, 0));
		let state = pallet_channels::ChannelState {
			version: 1,
			balance_a: 97 * UNIT,
			balance_b: 3 * UNIT,
		};
		let payload = Channels::closing_payload(id, &state);
		let (sa, sb) = (Alice.pair().sign(&payload), Ferdie.pair().sign(&payload));
		assert_ok!(Channels::cooperative_close(signed(Ferdie), id, state, sa, sb));
		assert_eq!(Balances::free_balance(who(Ferdie)), ENDOWMENT + 3 * UNIT);
		// A checkpoint record.
		assert_ok!(Checkpoints::record(
			signed(Alice),
			H256::repeat_byte(7),
			b"tx".to_vec().try_into().unwrap(),
			10
		));
		// Nothing was minted or burnt: slashes and rewards only moved funds (every
		// verifier voted with the majority, so no bond was burnt).
		assert_eq!(Balances::total_issuance(), issuance);
		check_invariants();
	});
}
