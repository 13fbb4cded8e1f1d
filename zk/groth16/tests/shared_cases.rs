//! The Groth16 cases shared with the py_ecc reference verifier
//! (`tests/vectors/zk_groth16_cases.json`, written by `scripts/zk_vectors.py`): the
//! native verifier accepts exactly the valid one, and refuses each other case for the
//! reason the file gives.

use ccnet_groth16::{verify, Error, VerifyingKey, KEY_FIXED_BYTES, PROOF_BYTES};
use serde_json::Value;

const CASES: &str = include_str!("../../../tests/vectors/zk_groth16_cases.json");

fn cases() -> Vec<Value> {
	let file: Value = serde_json::from_str(CASES).expect("the cases file is JSON");
	file["cases"].as_array().expect("a list of cases").clone()
}

fn bytes(case: &Value, field: &str) -> Vec<u8> {
	hex::decode(case[field].as_str().expect("hex")).expect("hex")
}

#[test]
fn every_shared_case_is_decided_as_the_reference_decides_it() {
	let cases = cases();
	assert!(cases.len() >= 13);
	for case in &cases {
		let name = case["name"].as_str().unwrap();
		let got = verify(&bytes(case, "key"), &bytes(case, "proof"), &bytes(case, "inputs"));
		if case["valid"].as_bool().unwrap() {
			assert_eq!(got, Ok(()), "{name}");
		} else {
			assert_eq!(
				got.map_err(Error::name),
				Err(case["rejected_as"].as_str().unwrap()),
				"{name}"
			);
		}
	}
}

#[test]
fn a_prepared_key_verifies_many_proofs() {
	let valid = cases()
		.into_iter()
		.find(|c| c["valid"].as_bool() == Some(true))
		.unwrap();
	let key = VerifyingKey::from_bytes(&bytes(&valid, "key")).unwrap();
	assert_eq!(key.public_inputs(), 4);
	for _ in 0..3 {
		assert_eq!(key.verify(&bytes(&valid, "proof"), &bytes(&valid, "inputs")), Ok(()));
	}
}

#[test]
fn malformed_keys_are_refused() {
	let valid = cases()
		.into_iter()
		.find(|c| c["valid"].as_bool() == Some(true))
		.unwrap();
	let key = bytes(&valid, "key");
	for size in [0, KEY_FIXED_BYTES, KEY_FIXED_BYTES + 63, key.len() - 1] {
		assert_eq!(
			VerifyingKey::from_bytes(&key[..size]).err(),
			Some(Error::Length),
			"{size} bytes"
		);
	}
	let mut off_curve = key.clone();
	off_curve[63] ^= 1; // alpha.y
	assert_eq!(VerifyingKey::from_bytes(&off_curve).err(), Some(Error::NotOnCurve));
	let mut too_big = key;
	too_big[..32].fill(0xff); // alpha.x >= q
	assert_eq!(
		VerifyingKey::from_bytes(&too_big).err(),
		Some(Error::NonCanonicalCoordinate)
	);
}

#[test]
fn an_all_zero_proof_is_well_formed_and_invalid() {
	let valid = cases()
		.into_iter()
		.find(|c| c["valid"].as_bool() == Some(true))
		.unwrap();
	let got = verify(&bytes(&valid, "key"), &[0; PROOF_BYTES], &bytes(&valid, "inputs"));
	assert_eq!(got, Err(Error::Invalid));
}
