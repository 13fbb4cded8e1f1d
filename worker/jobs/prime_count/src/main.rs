//! Reference workload of the worker self-benchmark: count the primes below N.
//!
//! Usage: `prime_count N` (0 <= N <= 10^12). Prints the count in decimal and a newline.
//! A segmented sieve of Eratosthenes over odd numbers: memory stays O(sqrt(N)) plus
//! one fixed segment, so the fuel spent grows about linearly with N.
use std::io::Write;
use std::process::ExitCode;

const SEGMENT: usize = 1 << 15;
const MAX_N: u64 = 1_000_000_000_000;

/// Odd primes below `limit` (exclusive), by a plain sieve; `limit` is at most 10^6 + 1.
fn small_primes(limit: usize) -> Vec<u64> {
	let mut composite = vec![false; limit];
	let mut primes = Vec::new();
	let mut i = 3;
	while i < limit {
		if !composite[i] {
			primes.push(i as u64);
			let mut j = i * i;
			while j < limit {
				composite[j] = true;
				j += 2 * i;
			}
		}
		i += 2;
	}
	primes
}

/// The number of primes p with p < n.
fn count_primes_below(n: u64) -> u64 {
	if n <= 2 {
		return 0;
	}
	let root = (n as f64).sqrt() as u64 + 1;
	let base = small_primes(root as usize + 1);
	let mut count = 1; // the prime 2
	let mut segment = vec![false; SEGMENT];
	// Segment k covers the odd numbers low, low + 2, ..., below low + 2 * SEGMENT.
	let mut low: u64 = 3;
	while low < n {
		let high = (low + 2 * SEGMENT as u64).min(n);
		let len = (high - low).div_ceil(2) as usize;
		segment[..len].fill(false);
		for &p in &base {
			let square = p * p;
			if square >= high {
				break;
			}
			// First odd multiple of p that is >= max(p * p, low).
			let mut start = if square >= low { square } else { low.div_ceil(p) * p };
			if start.is_multiple_of(2) {
				start += p;
			}
			let mut idx = ((start - low) / 2) as usize;
			while idx < len {
				segment[idx] = true;
				idx += p as usize;
			}
		}
		count += segment[..len].iter().filter(|&&c| !c).count() as u64;
		ccnet_job_abi::safe_point(); // one segment (64 Ki numbers) per step
		low = high + u64::from(high.is_multiple_of(2));
	}
	count
}

fn main() -> ExitCode {
	let args: Vec<String> = std::env::args().collect();
	let n = match args.get(1).map(|a| a.parse::<u64>()) {
		Some(Ok(n)) if n <= MAX_N && args.len() == 2 => n,
		_ => {
			eprintln!("usage: prime_count N   (0 <= N <= {MAX_N})");
			return ExitCode::from(2);
		},
	};
	let mut out = std::io::stdout().lock();
	if writeln!(out, "{}", count_primes_below(n)).is_err() {
		return ExitCode::from(1);
	}
	ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
	use super::count_primes_below;

	#[test]
	fn known_counts() {
		let table = [
			(0, 0),
			(2, 0),
			(3, 1),
			(4, 2),
			(10, 4),
			(100, 25),
			(1_000, 168),
			(65_537, 6_542),
			(1_000_000, 78_498),
			(10_000_000, 664_579),
		];
		for (n, want) in table {
			assert_eq!(count_primes_below(n), want, "pi({n} - 1)");
		}
	}
}
