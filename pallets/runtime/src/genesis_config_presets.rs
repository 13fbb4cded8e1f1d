//! Genesis presets: `development` (one authority, Alice; dev accounts funded;
//! Alice is sudo; a short channel challenge period for tests) and `local_testnet`
//! (Alice, Bob, Charlie and Dave as Aura and GRANDPA authorities, so finality goes on
//! with one of them down; a one-day challenge period, as any live network needs:
//! parties and their watchtowers must look at the chain once per period).

use crate::{AccountId, BalancesConfig, BlockNumber, ChannelsConfig, RuntimeGenesisConfig, SudoConfig, DAYS, UNIT};
use alloc::{vec, vec::Vec};
use polkadot_sdk::{
	frame_support::build_struct_json_patch,
	sp_consensus_aura::sr25519::AuthorityId as AuraId,
	sp_consensus_grandpa::AuthorityId as GrandpaId,
	sp_genesis_builder::{self, PresetId},
	sp_keyring::{Ed25519Keyring, Sr25519Keyring},
	*,
};
use serde_json::Value;

/// What each endowed dev account starts with: one million CC, in planck.
pub const ENDOWMENT: u128 = 1_000_000 * UNIT;
/// Channel challenge period of the `development` preset, in blocks: short, so that
/// tests and the demo see closes settle (blocks come on demand under Chopsticks).
pub const DEV_CHALLENGE_PERIOD: BlockNumber = 20;
/// Channel challenge period of `local_testnet` (and any live preset): 24 hours of blocks.
pub const LIVE_CHALLENGE_PERIOD: BlockNumber = DAYS;

fn testnet_genesis(
	authorities: Vec<(AuraId, GrandpaId)>,
	endowed: Vec<AccountId>,
	root: AccountId,
	challenge_period: BlockNumber,
) -> Value {
	build_struct_json_patch!(RuntimeGenesisConfig {
		balances: BalancesConfig {
			balances: endowed.into_iter().map(|a| (a, ENDOWMENT)).collect::<Vec<_>>()
		},
		aura: pallet_aura::GenesisConfig {
			authorities: authorities.iter().map(|a| a.0.clone()).collect::<Vec<_>>()
		},
		grandpa: pallet_grandpa::GenesisConfig {
			authorities: authorities.iter().map(|a| (a.1.clone(), 1)).collect::<Vec<_>>(),
		},
		sudo: SudoConfig { key: Some(root) },
		channels: ChannelsConfig { challenge_period },
	})
}

/// The well-known dev accounts (Alice to Ferdie and their stashes).
fn dev_accounts() -> Vec<AccountId> {
	Sr25519Keyring::iter()
		.filter(|k| k != &Sr25519Keyring::One && k != &Sr25519Keyring::Two)
		.map(|k| k.to_account_id())
		.collect()
}

/// The `development` preset.
pub fn development_config_genesis() -> Value {
	testnet_genesis(
		vec![(
			Sr25519Keyring::Alice.public().into(),
			Ed25519Keyring::Alice.public().into(),
		)],
		dev_accounts(),
		Sr25519Keyring::Alice.to_account_id(),
		DEV_CHALLENGE_PERIOD,
	)
}

/// The `local_testnet` preset.
pub fn local_config_genesis() -> Value {
	testnet_genesis(
		[
			(Sr25519Keyring::Alice, Ed25519Keyring::Alice),
			(Sr25519Keyring::Bob, Ed25519Keyring::Bob),
			(Sr25519Keyring::Charlie, Ed25519Keyring::Charlie),
			(Sr25519Keyring::Dave, Ed25519Keyring::Dave),
		]
		.into_iter()
		.map(|(aura, grandpa)| (aura.public().into(), grandpa.public().into()))
		.collect(),
		dev_accounts(),
		Sr25519Keyring::Alice.to_account_id(),
		LIVE_CHALLENGE_PERIOD,
	)
}

/// The JSON patch of preset `id`, if it exists.
pub fn get_preset(id: &PresetId) -> Option<Vec<u8>> {
	let patch = match id.as_ref() {
		sp_genesis_builder::DEV_RUNTIME_PRESET => development_config_genesis(),
		sp_genesis_builder::LOCAL_TESTNET_RUNTIME_PRESET => local_config_genesis(),
		_ => return None,
	};
	Some(
		serde_json::to_string(&patch)
			.expect("a JSON value serializes")
			.into_bytes(),
	)
}

/// The names of the presets.
pub fn preset_names() -> Vec<PresetId> {
	vec![
		PresetId::from(sp_genesis_builder::DEV_RUNTIME_PRESET),
		PresetId::from(sp_genesis_builder::LOCAL_TESTNET_RUNTIME_PRESET),
	]
}
