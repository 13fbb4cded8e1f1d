//! Runtime-level tests: genesis presets, the transaction extensions that
//! substrate-interface depends on, and one market flow across all five pallets
//! with every pallet's invariants checked at the end.

mod common;

use ccnet_primitives::StakeProvider;
use ccnet_runtime::{
	genesis_config_presets::{self, ENDOWMENT},
	AccountId, Balances, Channels, Checkpoints, Credits, Disputes, Runtime, RuntimeOrigin, System, Tasks, UNIT,
};
use common::{check_invariants, preset_ext, signed, who};
use polkadot_sdk::{
	frame_support::{assert_ok, traits::IntegrityTest},
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
		assert_ok!(Tasks::claim(signed(Bob), 0));
		let right = H256::repeat_byte(1);
		assert_ok!(Tasks::submit_result(signed(Bob), 0, H256::repeat_byte(9), 1_000));
		assert_ok!(Disputes::challenge(signed(Alice), 0, who(Bob)));
		let verifiers = pallet_disputes::Disputes::<Runtime>::get(0).unwrap().verifiers;
		assert_eq!(verifiers.len(), 3);
		for v in verifiers.iter() {
			assert_ok!(Disputes::vote(RuntimeOrigin::signed(v.clone()), 0, right));
		}
		assert_eq!(<Credits as StakeProvider<_, _>>::staked(&who(Bob)), 10 * UNIT);
		// An honest worker takes the freed slot and is paid.
		assert_ok!(Tasks::claim(signed(Charlie), 0));
		assert_ok!(Tasks::submit_result(signed(Charlie), 0, right, 1_000));
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
		// Nothing was minted or burnt: slashes and rewards only moved funds.
		assert_eq!(Balances::total_issuance(), issuance);
		check_invariants();
	});
}
