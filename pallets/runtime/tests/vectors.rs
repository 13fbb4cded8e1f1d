//! Shared test vectors of the court's commitments (`tests/vectors/court.json` at the
//! repository root): the bytes a worker, a verifier, a challenger and Root hash, as
//! the runtime computes them. The Python SDK checks the same file.
//!
//! Regenerate: `CCNET_WRITE_VECTORS=1 cargo test -p ccnet-runtime --test vectors`.

use ccnet_runtime::{AccountId, Disputes, Tasks};
use polkadot_sdk::{sp_core::H256, sp_keyring::Sr25519Keyring};
use serde_json::{json, Value};

const VECTORS: &str = include_str!("../../../tests/vectors/court.json");

fn hex0x(bytes: &[u8]) -> String {
	format!("0x{}", hex::encode(bytes))
}

/// (account, task id, dispute id, hash, fuel, salt)
fn cases() -> Vec<(AccountId, u64, u64, H256, u64, [u8; 32])> {
	vec![
		(
			Sr25519Keyring::Bob.to_account_id(),
			0,
			0,
			H256::repeat_byte(1),
			0,
			[0; 32],
		),
		(
			Sr25519Keyring::Charlie.to_account_id(),
			7,
			3,
			H256::repeat_byte(0xab),
			1_234_567,
			[7; 32],
		),
		(
			Sr25519Keyring::Dave.to_account_id(),
			u64::MAX,
			u64::MAX,
			H256::repeat_byte(0xff),
			u64::MAX,
			[0xff; 32],
		),
	]
}

fn generate() -> Value {
	let cases: Vec<Value> = cases()
		.into_iter()
		.map(|(who, task_id, dispute_id, hash, fuel, salt)| {
			json!({
				"account": hex0x(who.as_ref()),
				"task_id": task_id.to_string(),
				"dispute_id": dispute_id.to_string(),
				"hash": hex0x(hash.as_bytes()),
				"fuel_used": fuel.to_string(),
				"salt": hex0x(&salt),
				"result_commitment": hex0x(Tasks::result_commitment(task_id, &who, &hash, fuel, &salt).as_bytes()),
				"vote_commitment": hex0x(Disputes::vote_commitment(dispute_id, &who, &hash, &salt).as_bytes()),
				"expected_commitment": hex0x(Disputes::expected_commitment(task_id, &who, &hash, &salt).as_bytes()),
				"auditor_key": hex0x(Disputes::auditor_key(&who, &salt).as_bytes()),
			})
		})
		.collect();
	json!({
		"description": "Court commitments, blake2b-256 of SCALE: result_commitment = (b\"ccnet:rcommit:v1\", task_id u64, account AccountId32, hash H256, fuel_used u64, salt [u8;32]) (Tasks.submit_result); vote_commitment = (b\"ccnet:vcommit:v1\", dispute_id u64, account, hash, salt) (Disputes.commit_vote); expected_commitment = (b\"ccnet:expectd:v1\", task_id u64, account = the accused worker, hash = the expected result, salt) (Disputes.challenge); auditor_key = (b\"ccnet:auditor:v1\", account, salt) (Disputes.register_auditor). Integers are decimal strings.",
		"result_domain": hex0x(&pallet_tasks::RESULT_COMMIT_DOMAIN),
		"vote_domain": hex0x(&pallet_disputes::VOTE_COMMIT_DOMAIN),
		"expected_domain": hex0x(&pallet_disputes::EXPECTED_DOMAIN),
		"auditor_domain": hex0x(&pallet_disputes::AUDITOR_DOMAIN),
		"cases": cases,
	})
}

#[test]
fn court_vectors_match_the_runtime() {
	if std::env::var("CCNET_WRITE_VECTORS").is_ok() {
		let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/vectors/court.json");
		std::fs::write(path, serde_json::to_string_pretty(&generate()).unwrap() + "\n").unwrap();
		return;
	}
	let stored: Value = serde_json::from_str(VECTORS).expect("vectors are JSON");
	assert_eq!(stored, generate(), "tests/vectors/court.json is stale: regenerate it");
}
