//! Helpers shared by the runtime's integration tests.

#![allow(dead_code)]

use ccnet_runtime::{
	genesis_config_presets, AccountId, Channels, Checkpoints, Credits, Disputes, RuntimeGenesisConfig, RuntimeOrigin,
	System, Tasks,
};
use polkadot_sdk::{
	sp_genesis_builder::PresetId, sp_io::TestExternalities, sp_keyring::Sr25519Keyring, sp_runtime::BuildStorage,
};

/// Genesis storage of `preset`, at block 1.
pub fn preset_ext(preset: &str) -> TestExternalities {
	let patch: serde_json::Value =
		serde_json::from_slice(&genesis_config_presets::get_preset(&PresetId::from(preset)).unwrap()).unwrap();
	let mut config = serde_json::to_value(RuntimeGenesisConfig::default()).unwrap();
	for (pallet, value) in patch.as_object().unwrap() {
		for (key, v) in value.as_object().unwrap() {
			config[pallet][key] = v.clone();
		}
	}
	let config: RuntimeGenesisConfig = serde_json::from_value(config).unwrap();
	let mut ext = TestExternalities::new(config.build_storage().unwrap());
	ext.execute_with(|| System::set_block_number(1));
	ext
}

/// The account of a dev key.
pub fn who(k: Sr25519Keyring) -> AccountId {
	k.to_account_id()
}

/// A signed origin of a dev key.
pub fn signed(k: Sr25519Keyring) -> RuntimeOrigin {
	RuntimeOrigin::signed(who(k))
}

/// Every pallet's try_state invariants, and the one across pallets: each stake
/// ledger's bond equals its obligations (claims on open tasks times `ClaimBond`,
/// verifier duties times `VerifierBond`), checked from the ledgers to the
/// obligations and back.
pub fn check_invariants() {
	Credits::do_try_state().unwrap();
	Tasks::do_try_state().unwrap();
	Channels::do_try_state().unwrap();
	Checkpoints::do_try_state().unwrap();
	Disputes::do_try_state().unwrap();
	let claims = Tasks::open_claims();
	let duties = Disputes::open_duties();
	let claim_bond = ccnet_runtime::configs::ClaimBond::get();
	let verifier_bond = ccnet_runtime::configs::VerifierBond::get();
	for (who, ledger) in pallet_credits::Stakes::<ccnet_runtime::Runtime>::iter() {
		let expected = u128::from(claims.get(&who).copied().unwrap_or(0)) * claim_bond
			+ u128::from(duties.get(&who).copied().unwrap_or(0)) * verifier_bond;
		assert_eq!(ledger.bonded, expected, "a bond differs from the obligations it backs");
	}
	for who in claims.keys().chain(duties.keys()) {
		assert!(
			pallet_credits::Stakes::<ccnet_runtime::Runtime>::contains_key(who),
			"an obligation without a stake ledger"
		);
	}
}
