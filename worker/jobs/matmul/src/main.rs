//! Dense matrix multiply: C = A x B over integers, bit-exact on every machine.
//!
//! Usage: `matmul` (no arguments).
//!
//! stdin, little-endian, nothing else:
//!
//! | bytes            | what                                          |
//! | ---------------- | --------------------------------------------- |
//! | 4                | `n`: u32, 1 <= n <= 2048                      |
//! | 4 n^2            | `A`: n x n u32, row-major                     |
//! | 4 n^2            | `B`: n x n u32, row-major                     |
//!
//! stdout: `C`, n x n u64 little-endian, row-major (8 n^2 bytes), with
//! `C[i][j] = sum_k A[i][k] * B[k][j]` computed in u64 with wrapping (mod 2^64)
//! arithmetic: exact while no sum reaches 2^64 (e.g. entries below 2^16 and n below
//! 2^32), and the same bytes on every machine beyond that. Integer arithmetic only, no
//! threads or randomness, so redundant runs agree bit for bit.
//!
//! Bad arguments exit with code 2 and a usage line on stderr; input of the wrong size
//! exits with code 1.
use std::io::{Read, Write};
use std::process::ExitCode;

const MAX_N: usize = 2048;

/// `u32` little-endian words of `bytes` (whose length is a multiple of 4).
fn words(bytes: &[u8]) -> Vec<u32> {
	bytes
		.chunks_exact(4)
		.map(|w| u32::from_le_bytes([w[0], w[1], w[2], w[3]]))
		.collect()
}

/// C = A x B (n x n, row-major), mod 2^64. Loop order i-k-j: rows of B stream through
/// the cache and the inner loop is a plain multiply-add over contiguous slices.
fn multiply(n: usize, a: &[u32], b: &[u32]) -> Vec<u64> {
	let mut c = vec![0u64; n * n];
	for (row_a, row_c) in a.chunks_exact(n).zip(c.chunks_exact_mut(n)) {
		ccnet_job_abi::safe_point(); // all input is read: a row of C is a checkpoint's step
		for (&aik, row_b) in row_a.iter().zip(b.chunks_exact(n)) {
			let aik = u64::from(aik);
			for (cij, &bkj) in row_c.iter_mut().zip(row_b) {
				*cij = cij.wrapping_add(aik.wrapping_mul(u64::from(bkj)));
			}
		}
	}
	c
}

/// Parse stdin: `n`, then A and B. Errors say what is wrong with the input.
fn parse(input: &[u8]) -> Result<(usize, Vec<u32>, Vec<u32>), String> {
	let header: [u8; 4] = input
		.get(..4)
		.and_then(|h| h.try_into().ok())
		.ok_or_else(|| format!("input of {} bytes has no 4-byte header", input.len()))?;
	let n = u32::from_le_bytes(header) as usize;
	if !(1..=MAX_N).contains(&n) {
		return Err(format!("n = {n} is out of range (1..={MAX_N})"));
	}
	let matrix = 4 * n * n;
	let body = &input[4..];
	if body.len() != 2 * matrix {
		return Err(format!(
			"n = {n} needs {} bytes after the header, got {}",
			2 * matrix,
			body.len()
		));
	}
	Ok((n, words(&body[..matrix]), words(&body[matrix..])))
}

fn main() -> ExitCode {
	if std::env::args().len() != 1 {
		eprintln!("usage: matmul < INPUT   (u32 n, then n x n u32 A and B, little-endian)");
		return ExitCode::from(2);
	}
	let mut input = Vec::new();
	if let Err(e) = std::io::stdin().lock().read_to_end(&mut input) {
		eprintln!("matmul: read error: {e}");
		return ExitCode::from(1);
	}
	let (n, a, b) = match parse(&input) {
		Ok(parsed) => parsed,
		Err(message) => {
			eprintln!("matmul: {message}");
			return ExitCode::from(1);
		},
	};
	drop(input);
	let c = multiply(n, &a, &b);
	let mut out = Vec::with_capacity(8 * c.len());
	for value in c {
		out.extend_from_slice(&value.to_le_bytes());
	}
	if std::io::stdout().lock().write_all(&out).is_err() {
		return ExitCode::from(1);
	}
	ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
	use super::{multiply, parse};

	#[test]
	fn small_products() {
		assert_eq!(multiply(1, &[7], &[6]), vec![42]);
		// [1 2; 3 4] x [5 6; 7 8] = [19 22; 43 50]
		assert_eq!(multiply(2, &[1, 2, 3, 4], &[5, 6, 7, 8]), vec![19, 22, 43, 50]);
		// the identity leaves B as it is
		assert_eq!(multiply(2, &[1, 0, 0, 1], &[9, 8, 7, 6]), vec![9, 8, 7, 6]);
	}

	#[test]
	fn wraps_mod_2_pow_64() {
		let max = u32::MAX;
		// (2^32 - 1)^2 * 2 = 2^65 - 2^34 + 2 = -2^34 + 2 (mod 2^64)
		let want = 2u64.wrapping_mul(u64::from(max) * u64::from(max));
		assert_eq!(multiply(2, &[max, max, 0, 0], &[max, 0, max, 0]), vec![want, 0, 0, 0]);
	}

	#[test]
	fn input_checks() {
		assert!(parse(b"").is_err());
		assert!(parse(&0u32.to_le_bytes()).is_err());
		assert!(parse(&4096u32.to_le_bytes()).is_err());
		let mut one = 1u32.to_le_bytes().to_vec();
		one.extend_from_slice(&3u32.to_le_bytes());
		assert!(parse(&one).is_err());
		one.extend_from_slice(&5u32.to_le_bytes());
		assert_eq!(parse(&one).unwrap(), (1, vec![3], vec![5]));
	}
}
