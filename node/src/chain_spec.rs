//! The chain specs the node knows by name: `dev` and `local`, from the runtime's
//! genesis presets (`pallets/runtime/src/genesis_config_presets.rs`); anything else is
//! read as a chain spec file (plain or raw JSON, e.g. `chain-spec/*.raw.json`).

use ccnet_runtime::WASM_BINARY;
use polkadot_sdk::{
	sc_service::{ChainType, GenericChainSpec, Properties},
	sp_genesis_builder::{DEV_RUNTIME_PRESET, LOCAL_TESTNET_RUNTIME_PRESET},
};
use serde_json::json;

/// A chain spec of this node: no extensions.
pub type ChainSpec = GenericChainSpec;

/// Token symbol, decimals (1 CC = 10^12 planck) and the generic SS58 prefix, as
/// `chain-spec/builder` writes them.
fn properties() -> Properties {
	let value = json!({ "tokenSymbol": "CC", "tokenDecimals": 12, "ss58Format": 42 });
	value.as_object().expect("a JSON object literal").clone()
}

fn spec(name: &str, preset: &str, chain_type: ChainType) -> Result<ChainSpec, String> {
	let wasm = WASM_BINARY.ok_or("this build has no runtime Wasm (it was built with SKIP_WASM_BUILD)")?;
	// Names and ids as chain-spec/builder writes them, so `--chain chain-spec/*.raw.json`
	// and `--chain dev|local` name the same chains.
	Ok(ChainSpec::builder(wasm, None)
		.with_name(name)
		.with_id(&format!("ccnet_{preset}"))
		.with_chain_type(chain_type)
		.with_protocol_id("ccnet")
		.with_properties(properties())
		.with_genesis_config_preset_name(preset)
		.build())
}

/// `dev`: one authority (Alice), dev accounts funded, Alice is sudo.
pub fn development() -> Result<ChainSpec, String> {
	spec(
		"Compute Currency Development",
		DEV_RUNTIME_PRESET,
		ChainType::Development,
	)
}

/// `local`: Alice, Bob, Charlie and Dave as Aura and GRANDPA authorities.
pub fn local_testnet() -> Result<ChainSpec, String> {
	spec(
		"Compute Currency Local Testnet",
		LOCAL_TESTNET_RUNTIME_PRESET,
		ChainType::Local,
	)
}
