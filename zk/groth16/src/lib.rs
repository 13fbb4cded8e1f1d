//! Groth16 verification over BN254 (Groth, "On the Size of Pairing-based
//! Non-interactive Arguments", EUROCRYPT 2016) for snarkjs proofs, from their byte
//! encoding, on arkworks (`ark-groth16`, `ark-bn254`). `no_std`: the runtime, native
//! code and the Python extension share it.
//!
//! # Encoding (EIP-196 and EIP-197; `zk/encoding.py` writes it, `zk/README.md`)
//! - base-field element: 32 bytes, big-endian, below q;
//! - G1 point: `x || y` (64 bytes); G2 point: `x.c1 || x.c0 || y.c1 || y.c0` (128
//!   bytes, the imaginary part first); the point at infinity is all zeros;
//! - proof: `A (G1) || B (G2) || C (G1)`, [`PROOF_BYTES`];
//! - verification key: `alpha (G1) || beta, gamma, delta (G2) || IC_0 .. IC_n (G1)`,
//!   [`KEY_FIXED_BYTES`] + 64 (n + 1) bytes for n public inputs;
//! - public inputs: 32 bytes each, big-endian, below r.
//!
//! Decoding is strict: a coordinate not below q, a point off its curve or outside
//! its prime-order subgroup, an input not below r, or a wrong length is an [`Error`],
//! never reduced or accepted. Shared cases with the py_ecc reference verifier:
//! `tests/vectors/zk_groth16_cases.json`.

#![cfg_attr(not(feature = "std"), no_std)]

extern crate alloc;

use alloc::vec::Vec;
use ark_bn254::{Bn254, Fq, Fq2, Fr, G1Affine, G2Affine};
use ark_ec::{
	short_weierstrass::{Affine, SWCurveConfig},
	AffineRepr,
};
use ark_ff::{AdditiveGroup, BigInt, PrimeField};
use ark_groth16::{Groth16, PreparedVerifyingKey};

/// Bytes of a base-field element (and of a public input).
pub const FIELD_BYTES: usize = 32;
/// Bytes of a G1 point.
pub const G1_BYTES: usize = 2 * FIELD_BYTES;
/// Bytes of a G2 point.
pub const G2_BYTES: usize = 4 * FIELD_BYTES;
/// Bytes of a proof: A, B, C.
pub const PROOF_BYTES: usize = 2 * G1_BYTES + G2_BYTES;
/// Bytes of a key before its IC points: alpha, beta, gamma, delta.
pub const KEY_FIXED_BYTES: usize = G1_BYTES + 3 * G2_BYTES;

/// Why a key, proof or input list was refused, or the proof did not verify.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
	/// A byte string whose length does not fit what it encodes.
	Length,
	/// A coordinate not below the base field's modulus q.
	NonCanonicalCoordinate,
	/// A point that is not on its curve.
	NotOnCurve,
	/// A point on its curve but outside the order-r subgroup (G2's cofactor is not 1).
	NotInSubgroup,
	/// A public input not below the scalar field's order r.
	InputOutOfRange,
	/// Not as many public inputs as the key has IC points, less one.
	InputCount,
	/// Well formed, but the pairing check fails: not a proof for these inputs.
	Invalid,
}

impl Error {
	/// The variant's name, as `tests/vectors/zk_groth16_cases.json` and the Python
	/// extension spell it.
	pub const fn name(self) -> &'static str {
		match self {
			Error::Length => "Length",
			Error::NonCanonicalCoordinate => "NonCanonicalCoordinate",
			Error::NotOnCurve => "NotOnCurve",
			Error::NotInSubgroup => "NotInSubgroup",
			Error::InputOutOfRange => "InputOutOfRange",
			Error::InputCount => "InputCount",
			Error::Invalid => "Invalid",
		}
	}
}

impl core::fmt::Display for Error {
	fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
		f.write_str(self.name())
	}
}

/// A verification key, decoded, checked and prepared (e(alpha, beta) computed once):
/// keep it to verify many proofs.
#[derive(Clone, Debug)]
pub struct VerifyingKey {
	prepared: PreparedVerifyingKey<Bn254>,
}

impl VerifyingKey {
	/// Decodes a key (see the crate docs): `KEY_FIXED_BYTES + 64 k` bytes, k >= 1.
	///
	/// # Errors
	/// [`Error::Length`], [`Error::NonCanonicalCoordinate`], [`Error::NotOnCurve`],
	/// [`Error::NotInSubgroup`].
	pub fn from_bytes(data: &[u8]) -> Result<Self, Error> {
		let ic_bytes = data.len().checked_sub(KEY_FIXED_BYTES).ok_or(Error::Length)?;
		if ic_bytes == 0 || !ic_bytes.is_multiple_of(G1_BYTES) {
			return Err(Error::Length);
		}
		let (alpha, rest) = data.split_at(G1_BYTES);
		let (beta, rest) = rest.split_at(G2_BYTES);
		let (gamma, rest) = rest.split_at(G2_BYTES);
		let (delta, ic) = rest.split_at(G2_BYTES);
		let key = ark_groth16::VerifyingKey::<Bn254> {
			alpha_g1: g1(alpha)?,
			beta_g2: g2(beta)?,
			gamma_g2: g2(gamma)?,
			delta_g2: g2(delta)?,
			gamma_abc_g1: ic.chunks_exact(G1_BYTES).map(g1).collect::<Result<Vec<_>, _>>()?,
		};
		Ok(Self {
			prepared: ark_groth16::prepare_verifying_key(&key),
		})
	}

	/// The number of public inputs a proof under this key has.
	pub fn public_inputs(&self) -> usize {
		self.prepared.vk.gamma_abc_g1.len() - 1
	}

	/// Verifies `proof` ([`PROOF_BYTES`]) for `inputs` (32 bytes each, as many as
	/// [`Self::public_inputs`]).
	///
	/// # Errors
	/// [`Error::Invalid`] when the proof does not verify; the decoding errors when
	/// the proof or the inputs are malformed.
	pub fn verify(&self, proof: &[u8], inputs: &[u8]) -> Result<(), Error> {
		if proof.len() != PROOF_BYTES || !inputs.len().is_multiple_of(FIELD_BYTES) {
			return Err(Error::Length);
		}
		let (a, rest) = proof.split_at(G1_BYTES);
		let (b, c) = rest.split_at(G2_BYTES);
		let proof = ark_groth16::Proof::<Bn254> {
			a: g1(a)?,
			b: g2(b)?,
			c: g1(c)?,
		};
		let inputs = inputs
			.chunks_exact(FIELD_BYTES)
			.map(scalar)
			.collect::<Result<Vec<_>, _>>()?;
		if inputs.len() != self.public_inputs() {
			return Err(Error::InputCount);
		}
		match <Groth16<Bn254>>::verify_proof(&self.prepared, &proof, &inputs) {
			Ok(true) => Ok(()),
			// Ok(false), or a Miller loop of zero: not a proof.
			_ => Err(Error::Invalid),
		}
	}
}

/// Decodes a key and verifies one proof with it: [`VerifyingKey::from_bytes`] then
/// [`VerifyingKey::verify`].
///
/// # Errors
/// As those two.
pub fn verify(key: &[u8], proof: &[u8], inputs: &[u8]) -> Result<(), Error> {
	VerifyingKey::from_bytes(key)?.verify(proof, inputs)
}

/// 32 big-endian bytes as a 256-bit integer (four little-endian u64 limbs).
fn bigint(bytes: &[u8]) -> BigInt<4> {
	let mut limbs = [0u64; 4];
	for (limb, chunk) in limbs.iter_mut().zip(bytes.rchunks_exact(8)) {
		let mut word = [0u8; 8];
		word.copy_from_slice(chunk);
		*limb = u64::from_be_bytes(word);
	}
	BigInt::new(limbs)
}

fn base(bytes: &[u8]) -> Result<Fq, Error> {
	Fq::from_bigint(bigint(bytes)).ok_or(Error::NonCanonicalCoordinate)
}

fn scalar(bytes: &[u8]) -> Result<Fr, Error> {
	Fr::from_bigint(bigint(bytes)).ok_or(Error::InputOutOfRange)
}

fn g1(bytes: &[u8]) -> Result<G1Affine, Error> {
	let (x, y) = bytes.split_at(FIELD_BYTES);
	let (x, y) = (base(x)?, base(y)?);
	if bytes.iter().all(|&b| b == 0) {
		return Ok(G1Affine::zero());
	}
	checked(G1Affine::new_unchecked(x, y))
}

fn g2(bytes: &[u8]) -> Result<G2Affine, Error> {
	let mut coordinates = [Fq::ZERO; 4];
	for (slot, chunk) in coordinates.iter_mut().zip(bytes.chunks_exact(FIELD_BYTES)) {
		*slot = base(chunk)?;
	}
	if bytes.iter().all(|&b| b == 0) {
		return Ok(G2Affine::zero());
	}
	let [x1, x0, y1, y0] = coordinates;
	checked(G2Affine::new_unchecked(Fq2::new(x0, x1), Fq2::new(y0, y1)))
}

/// `point` if it is on its curve and in the order-r subgroup.
fn checked<P: SWCurveConfig>(point: Affine<P>) -> Result<Affine<P>, Error> {
	if !point.is_on_curve() {
		return Err(Error::NotOnCurve);
	}
	if !point.is_in_correct_subgroup_assuming_on_curve() {
		return Err(Error::NotInSubgroup);
	}
	Ok(point)
}
