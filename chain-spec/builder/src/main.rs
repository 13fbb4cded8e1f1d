//! `ccnet-chain-spec`: write a RAW chain spec of the ccnet runtime.
//!
//! It builds genesis storage natively from a genesis preset of the runtime
//! (the same JSON patch the runtime's `GenesisBuilder` API serves), inserts the
//! runtime Wasm under `:code`, and writes `genesis.raw.top` as hex. No chain
//! node and no `chain-spec-builder` are needed, so the tool builds with the
//! runtime alone.
//!
//! ```text
//! ccnet-chain-spec --preset development --out chain-spec/development.raw.json [--wasm FILE]
//! ```

use ccnet_runtime::{genesis_config_presets, RuntimeGenesisConfig, WASM_BINARY};
use polkadot_sdk::{sp_genesis_builder::PresetId, sp_runtime::BuildStorage};
use serde_json::{json, Map, Value};
use std::{path::PathBuf, process::ExitCode};

const USAGE: &str = "usage: ccnet-chain-spec --preset <development|local_testnet> --out <FILE> [--wasm <FILE>]";

struct Args {
	preset: String,
	out: PathBuf,
	wasm: Option<PathBuf>,
}

fn parse_args() -> Result<Args, String> {
	let mut preset = None;
	let mut out = None;
	let mut wasm = None;
	let mut args = std::env::args().skip(1);
	while let Some(flag) = args.next() {
		let mut value = || args.next().ok_or_else(|| format!("{flag} needs a value\n{USAGE}"));
		match flag.as_str() {
			"--preset" => preset = Some(value()?),
			"--out" => out = Some(PathBuf::from(value()?)),
			"--wasm" => wasm = Some(PathBuf::from(value()?)),
			"-h" | "--help" => return Err(USAGE.to_string()),
			other => return Err(format!("unknown argument {other}\n{USAGE}")),
		}
	}
	Ok(Args {
		preset: preset.ok_or_else(|| format!("--preset is required\n{USAGE}"))?,
		out: out.ok_or_else(|| format!("--out is required\n{USAGE}"))?,
		wasm,
	})
}

/// Merge `patch` into `base`: objects merge key by key, anything else replaces
/// (the semantics of genesis preset patches).
fn merge(base: &mut Value, patch: Value) {
	match (base, patch) {
		(Value::Object(base), Value::Object(patch)) => {
			for (key, value) in patch {
				merge(base.entry(key).or_insert(Value::Null), value);
			}
		},
		(base, patch) => *base = patch,
	}
}

fn hex0x(bytes: &[u8]) -> String {
	format!("0x{}", hex::encode(bytes))
}

fn raw_spec(preset: &str, wasm: &[u8]) -> Result<Value, String> {
	let patch = genesis_config_presets::get_preset(&PresetId::from(preset))
		.ok_or_else(|| format!("unknown preset {preset:?}; known: development, local_testnet"))?;
	let patch: Value = serde_json::from_slice(&patch).map_err(|e| format!("preset JSON: {e}"))?;
	let mut config = serde_json::to_value(RuntimeGenesisConfig::default()).map_err(|e| e.to_string())?;
	merge(&mut config, patch);
	let config: RuntimeGenesisConfig =
		serde_json::from_value(config).map_err(|e| format!("preset does not fit the runtime: {e}"))?;
	let mut storage = config
		.build_storage()
		.map_err(|e| format!("genesis build failed: {e}"))?;
	storage.top.insert(b":code".to_vec(), wasm.to_vec());
	let top: Map<String, Value> = storage
		.top
		.iter()
		.map(|(k, v)| (hex0x(k), Value::String(hex0x(v))))
		.collect();
	let (name, chain_type) = match preset {
		"development" => ("Compute Currency Development", "Development"),
		_ => ("Compute Currency Local Testnet", "Local"),
	};
	Ok(json!({
		"name": name,
		"id": format!("ccnet_{preset}"),
		"chainType": chain_type,
		"bootNodes": [],
		"telemetryEndpoints": null,
		"protocolId": "ccnet",
		"properties": { "tokenSymbol": "CC", "tokenDecimals": 12, "ss58Format": 42 },
		"codeSubstitutes": {},
		"genesis": { "raw": { "top": top, "childrenDefault": {} } },
	}))
}

fn run() -> Result<(), String> {
	let args = parse_args()?;
	let wasm = match &args.wasm {
		Some(path) => std::fs::read(path).map_err(|e| format!("reading {}: {e}", path.display()))?,
		None => WASM_BINARY
			.ok_or("this build has no runtime Wasm (SKIP_WASM_BUILD was set); pass --wasm FILE")?
			.to_vec(),
	};
	let spec = raw_spec(&args.preset, &wasm)?;
	if let Some(dir) = args.out.parent() {
		std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
	}
	// Write to a temporary file and rename, so a reader never sees half a spec.
	let tmp = args.out.with_extension("json.tmp");
	let text = serde_json::to_string_pretty(&spec).map_err(|e| e.to_string())?;
	std::fs::write(&tmp, text).map_err(|e| format!("writing {}: {e}", tmp.display()))?;
	std::fs::rename(&tmp, &args.out).map_err(|e| format!("renaming to {}: {e}", args.out.display()))?;
	eprintln!(
		"wrote {} ({} storage keys, runtime {} bytes)",
		args.out.display(),
		storage_len(&spec),
		wasm.len()
	);
	Ok(())
}

fn storage_len(spec: &Value) -> usize {
	spec["genesis"]["raw"]["top"].as_object().map_or(0, Map::len)
}

fn main() -> ExitCode {
	match run() {
		Ok(()) => ExitCode::SUCCESS,
		Err(e) => {
			eprintln!("ccnet-chain-spec: {e}");
			ExitCode::FAILURE
		},
	}
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn merge_patches_objects_and_replaces_values() {
		let mut base = json!({"a": {"x": 1, "y": 2}, "b": [1]});
		merge(&mut base, json!({"a": {"y": 3}, "b": [], "c": null}));
		assert_eq!(base, json!({"a": {"x": 1, "y": 3}, "b": [], "c": null}));
	}

	#[test]
	fn both_presets_build_with_code_and_balances() {
		for preset in ["development", "local_testnet"] {
			let spec = raw_spec(preset, b"\0asm fake").unwrap();
			let top = spec["genesis"]["raw"]["top"].as_object().unwrap();
			assert_eq!(top["0x3a636f6465"], json!(hex0x(b"\0asm fake")));
			// Total issuance key of pallet-balances is present.
			assert!(top.len() > 10, "{preset}: {} keys", top.len());
		}
		assert!(raw_spec("nope", b"").is_err());
	}
}
