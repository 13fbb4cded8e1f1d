//! The early-contributor reward multiplier `R(x) = 1 + (M - 1) · e^(-x / D)`.
//!
//! `x` is the compute the whole network has contributed so far, in CPU-hours; `M`
//! is the multiplier at launch and `D` the decay scale in CPU-hours (seed 002,
//! "contribution curve": M = 10, D = 1,000,000). Everything is fixed point
//! ([`FixedU128`], 18 decimals); the runtime has no floats.

use polkadot_sdk::sp_arithmetic::{
	traits::{One, Saturating, Zero},
	FixedPointNumber, FixedU128,
};

/// 1/e to 18 decimals.
const INV_E: FixedU128 = FixedU128::from_inner(367_879_441_171_442_322);
/// Beyond this many whole units of `y`, `e^-y` is below FixedU128's resolution.
const EXP_CUTOFF: u128 = 42;
/// Taylor terms for `e^f`, `0 <= f < 1`: the 25th term is below 1e-25.
const TAYLOR_TERMS: u32 = 25;

/// `e^(-y)` for `y >= 0`, exact to about 1e-17.
pub fn exp_neg(y: FixedU128) -> FixedU128 {
	let whole = y.into_inner() / FixedU128::DIV;
	if whole >= EXP_CUTOFF {
		return FixedU128::zero();
	}
	let frac = FixedU128::from_inner(y.into_inner() % FixedU128::DIV);
	// e^f = sum f^k / k!, every term positive, so no cancellation.
	let mut term = FixedU128::one();
	let mut exp_frac = FixedU128::one();
	for k in 1..TAYLOR_TERMS {
		term = term.saturating_mul(frac) / FixedU128::saturating_from_integer(k);
		exp_frac = exp_frac.saturating_add(term);
	}
	let inv_exp_frac = exp_frac.reciprocal().unwrap_or_default();
	INV_E.saturating_pow(whole as usize).saturating_mul(inv_exp_frac)
}

/// `R(x) = 1 + (max - 1) · e^(-x / decay)`; `x` and `decay` in CPU-hours.
///
/// Returns `1` when `decay` is zero (no bonus) and `max` when `x` is zero. `max`
/// below 1 is treated as 1.
pub fn reward_multiplier(x_cpu_hours: u128, max: u32, decay_cpu_hours: u128) -> FixedU128 {
	let bonus = FixedU128::saturating_from_integer(max.saturating_sub(1));
	let Some(ratio) = FixedU128::checked_from_rational(x_cpu_hours, decay_cpu_hours) else {
		return FixedU128::one();
	};
	FixedU128::one().saturating_add(bonus.saturating_mul(exp_neg(ratio)))
}

#[cfg(test)]
mod tests {
	use super::*;

	fn approx(a: FixedU128, b: f64) -> bool {
		let a = a.into_inner() as f64 / 1e18;
		(a - b).abs() < 1e-12
	}

	#[test]
	fn exp_neg_matches_known_values() {
		assert_eq!(exp_neg(FixedU128::zero()), FixedU128::one());
		assert!(approx(exp_neg(FixedU128::one()), 0.367_879_441_171_442_3));
		assert!(approx(exp_neg(FixedU128::from_rational(1, 2)), 0.606_530_659_712_633_4));
		assert!(approx(
			exp_neg(FixedU128::saturating_from_integer(5u32)),
			0.006_737_946_999_085_467
		));
		assert_eq!(exp_neg(FixedU128::saturating_from_integer(1000u32)), FixedU128::zero());
		assert_eq!(exp_neg(FixedU128::from_inner(u128::MAX)), FixedU128::zero());
	}

	#[test]
	fn multiplier_is_max_at_launch_and_decays_to_one() {
		let d = 1_000_000;
		assert_eq!(reward_multiplier(0, 10, d), FixedU128::saturating_from_integer(10u32));
		assert!(approx(reward_multiplier(d, 10, d), 1.0 + 9.0 * 0.367_879_441_171_442_3));
		assert_eq!(reward_multiplier(u128::MAX, 10, d), FixedU128::one());
		assert_eq!(reward_multiplier(5, 10, 0), FixedU128::one());
		assert_eq!(reward_multiplier(5, 0, d), FixedU128::one());
		assert_eq!(reward_multiplier(5, 1, d), FixedU128::one());
	}

	#[test]
	fn multiplier_never_increases() {
		let d = 1_000_000u128;
		let mut last = reward_multiplier(0, 10, d);
		for x in (0..50u128).map(|i| i * 100_000) {
			let r = reward_multiplier(x, 10, d);
			assert!(r <= last, "R({x}) = {r:?} > {last:?}");
			last = r;
		}
	}
}
