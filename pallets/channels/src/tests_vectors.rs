//! The shared test vectors of signed channel states (`tests/vectors/` at the
//! repository root), checked here and by the Python channel code.

use crate::{mock::*, ChannelState, SignedPayload, CLOSE_DOMAIN, STATE_DOMAIN};
use codec::Encode;
use polkadot_sdk::sp_core::{sr25519, Pair, H256};
use serde_json::{json, Value};

const VECTORS: &str = include_str!("../../../tests/vectors/channel_state.json");
/// Fixed seeds of the two signers (not the dev keyring).
const SEED_A: [u8; 32] = [0x11; 32];
const SEED_B: [u8; 32] = [0x22; 32];

fn cases() -> Vec<(&'static str, H256, H256, ChannelState<Balance>)> {
	let genesis = H256::from([0x45; 32]);
	let channel = H256::from([0xc0; 32]);
	vec![
		(
			"opening state",
			genesis,
			channel,
			ChannelState {
				version: 0,
				balance_a: 1_000_000_000_000,
				balance_b: 0,
			},
		),
		(
			"one task paid",
			genesis,
			channel,
			ChannelState {
				version: 1,
				balance_a: 999_999_000_000,
				balance_b: 1_000_000,
			},
		),
		(
			"maximum values",
			H256::from([0xff; 32]),
			H256::from([0xee; 32]),
			ChannelState {
				version: u64::MAX,
				balance_a: u128::MAX,
				balance_b: 0,
			},
		),
		(
			"zero genesis and channel",
			H256::zero(),
			H256::zero(),
			ChannelState {
				version: 7,
				balance_a: 1,
				balance_b: 1,
			},
		),
	]
}

/// `payload` as polkadot-js `signRaw` wraps it: `<Bytes>` + payload + `</Bytes>`. A
/// signature over these bytes is not a signature of `payload`: the pallet refuses it, so
/// every off-chain verifier must refuse it too (`wrapped_signature_a` in the vectors).
fn wrapped(payload: &[u8]) -> Vec<u8> {
	[b"<Bytes>".as_slice(), payload, b"</Bytes>".as_slice()].concat()
}

fn hex0x(bytes: &[u8]) -> String {
	format!("0x{}", hex::encode(bytes))
}

fn unhex(v: &Value) -> Vec<u8> {
	hex::decode(v.as_str().unwrap().trim_start_matches("0x")).unwrap()
}

/// Regenerate the file: `CCNET_WRITE_VECTORS=1 cargo test -p pallet-channels vectors`.
fn generate() -> Value {
	let (a, b) = (sr25519::Pair::from_seed(&SEED_A), sr25519::Pair::from_seed(&SEED_B));
	let cases: Vec<Value> = cases()
		.into_iter()
		.map(|(name, genesis, channel, state)| {
			let payload = SignedPayload::new(genesis, channel, &state).encode();
			let closing = SignedPayload::closing(genesis, channel, &state).encode();
			json!({
				"name": name,
				"genesis_hash": hex0x(genesis.as_bytes()),
				"channel_id": hex0x(channel.as_bytes()),
				"version": state.version.to_string(),
				"balance_a": state.balance_a.to_string(),
				"balance_b": state.balance_b.to_string(),
				"state_scale": hex0x(&state.encode()),
				"payload_scale": hex0x(&payload),
				"signature_a": hex0x(&a.sign(&payload).0),
				"signature_b": hex0x(&b.sign(&payload).0),
				"wrapped_signature_a": hex0x(&a.sign(&wrapped(&payload)).0),
				"close_payload_scale": hex0x(&closing),
				"close_signature_a": hex0x(&a.sign(&closing).0),
				"close_signature_b": hex0x(&b.sign(&closing).0),
			})
		})
		.collect();
	json!({
		"description": "Signed channel states: payload = SCALE(domain [u8;16], genesis_hash H256, channel_id H256, version u64, balance_a u128, balance_b u128), with the update domain (payload_scale, signature_*) or the close domain (close_*: what cooperative_close accepts); sr25519 signatures are randomized, so check that they verify, not that they match. wrapped_signature_a is A's signature over <Bytes> + payload_scale + </Bytes> (polkadot-js signRaw): it must NOT verify as a signature of payload_scale. Integers are decimal strings.",
		"domain": hex0x(&STATE_DOMAIN),
		"close_domain": hex0x(&CLOSE_DOMAIN),
		"signer_a": { "seed": hex0x(&SEED_A), "public": hex0x(&a.public().0) },
		"signer_b": { "seed": hex0x(&SEED_B), "public": hex0x(&b.public().0) },
		"cases": cases,
	})
}

#[test]
fn shared_vectors_match_the_pallet_encoding() {
	if std::env::var("CCNET_WRITE_VECTORS").is_ok() {
		let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/vectors/channel_state.json");
		std::fs::write(path, serde_json::to_string_pretty(&generate()).unwrap() + "\n").unwrap();
		return;
	}
	let file: Value = serde_json::from_str(VECTORS).expect("vectors are JSON");
	assert_eq!(unhex(&file["domain"]), STATE_DOMAIN.to_vec());
	assert_eq!(unhex(&file["close_domain"]), CLOSE_DOMAIN.to_vec());
	let pub_a = sr25519::Public::from_raw(unhex(&file["signer_a"]["public"]).try_into().unwrap());
	let pub_b = sr25519::Public::from_raw(unhex(&file["signer_b"]["public"]).try_into().unwrap());
	assert_eq!(pub_a, sr25519::Pair::from_seed(&SEED_A).public());
	assert_eq!(pub_b, sr25519::Pair::from_seed(&SEED_B).public());
	let expected = cases();
	let stored = file["cases"].as_array().unwrap();
	assert_eq!(stored.len(), expected.len());
	for ((name, genesis, channel, state), v) in expected.into_iter().zip(stored) {
		assert_eq!(v["name"], name);
		assert_eq!(unhex(&v["genesis_hash"]), genesis.as_bytes());
		assert_eq!(unhex(&v["channel_id"]), channel.as_bytes());
		assert_eq!(v["version"].as_str().unwrap().parse::<u64>().unwrap(), state.version);
		assert_eq!(
			v["balance_a"].as_str().unwrap().parse::<u128>().unwrap(),
			state.balance_a
		);
		assert_eq!(unhex(&v["state_scale"]), state.encode(), "{name}: state encoding");
		let payload = SignedPayload::new(genesis, channel, &state).encode();
		assert_eq!(unhex(&v["payload_scale"]), payload, "{name}: payload encoding");
		let sig_a = sr25519::Signature::from_raw(unhex(&v["signature_a"]).try_into().unwrap());
		let sig_b = sr25519::Signature::from_raw(unhex(&v["signature_b"]).try_into().unwrap());
		assert!(sr25519::Pair::verify(&sig_a, &payload, &pub_a), "{name}: signature A");
		assert!(sr25519::Pair::verify(&sig_b, &payload, &pub_b), "{name}: signature B");
		assert!(
			!sr25519::Pair::verify(&sig_a, &payload, &pub_b),
			"{name}: A's signature is not B's"
		);
		let wrapped_sig = sr25519::Signature::from_raw(unhex(&v["wrapped_signature_a"]).try_into().unwrap());
		assert!(
			sr25519::Pair::verify(&wrapped_sig, wrapped(&payload), &pub_a),
			"{name}: the wrapped signature signs the wrapped bytes"
		);
		assert!(
			!sr25519::Pair::verify(&wrapped_sig, &payload, &pub_a),
			"{name}: a <Bytes>-wrapped signature is not a signature of the payload"
		);
	}
}

#[test]
fn pallet_payload_is_the_vector_layout() {
	run_test(|| {
		let s = ChannelState {
			version: 1,
			balance_a: 2,
			balance_b: 3,
		};
		let id = H256::repeat_byte(9);
		let genesis: H256 = Channels::genesis_hash();
		assert_eq!(
			Channels::signing_payload(id, &s),
			SignedPayload::new(genesis, id, &s).encode()
		);
		assert_eq!(Channels::signing_payload(id, &s).len(), 16 + 32 + 32 + 8 + 16 + 16);
		assert_eq!(
			Channels::closing_payload(id, &s),
			SignedPayload::closing(genesis, id, &s).encode()
		);
	});
}
