//! Log-space arithmetic in f64: `exp`, `ln` and the two-term log-sum-exp.
//!
//! The losses spend most of their time in `exp`: one per RNN-T log-softmax term and
//! gradient element, one per CTC gradient element and emission. libm's functions are calls
//! that LLVM cannot vectorise; the ones below are branch-free (selects, no table look-ups,
//! only 64-bit integer operations that SSE2 and AVX2 have), so a loop over a row that
//! inlines them runs on the vector unit. They are accurate to 2 ulps, far below what the
//! losses need (the golden cases hold to 1e-9 relative). Each takes the [`Fma`] marker of
//! the vector unit it is compiled for (`fused::simd`).

use core::f64::consts::LOG2_E;

use crate::fused::simd::Fma;

/// ln 2 split in two: `LN2_HI` has its low 21 bits zero, so `k * LN2_HI` is exact for
/// |k| < 2^21 and the range reductions below lose nothing.
pub(crate) const LN2_HI: f64 = 6.931_471_803_691_238e-1;
/// ln 2 - `LN2_HI`.
pub(crate) const LN2_LO: f64 = 1.908_214_929_270_587_7e-10;

/// 1.5 * 2^52: adding it to a number of magnitude < 2^51 rounds that number to an integer
/// that then sits in the low mantissa bits (and back, for integers, in [`ln`]).
pub(crate) const SHIFT: f64 = 6_755_399_441_055_744.0;

/// ln(f64::MAX): above it `exp` is +inf.
const EXP_MAX: f64 = 709.782_712_893_384;
/// Below it `exp` flushes to 0: 2^(k-1) in the reconstruction must stay a normal number,
/// and the values lost (< 1e-307) only ever meet values 1e300 times larger in the sums here.
const EXP_MIN: f64 = -707.0;

/// Taylor coefficients 1/n! of exp, highest first (n = 13 down to 0): on the reduced range
/// |r| <= ln(2)/2 the truncation error is below 5e-18.
const EXP_POLY: [f64; 14] = [
    1.0 / 6_227_020_800.0,
    1.0 / 479_001_600.0,
    1.0 / 39_916_800.0,
    1.0 / 3_628_800.0,
    1.0 / 362_880.0,
    1.0 / 40_320.0,
    1.0 / 5_040.0,
    1.0 / 720.0,
    1.0 / 120.0,
    1.0 / 24.0,
    1.0 / 6.0,
    0.5,
    1.0,
    1.0,
];

/// Coefficients 2/(2n+1) of R(z) = 2 atanh(s)/s - 2 = sum_{n>=1} 2 z^n/(2n+1), z = s^2,
/// highest first and divided by z (n = 9 down to 1): with |s| <= 3 - 2 sqrt(2) the
/// truncation error is below 3e-17.
const LN_POLY: [f64; 9] = [
    2.0 / 19.0,
    2.0 / 17.0,
    2.0 / 15.0,
    2.0 / 13.0,
    2.0 / 11.0,
    2.0 / 9.0,
    2.0 / 7.0,
    2.0 / 5.0,
    2.0 / 3.0,
];

/// The bits of sqrt(1/2): [`ln`] reduces its argument to a mantissa in [sqrt(1/2), sqrt(2)).
const SQRT_HALF_BITS: u64 = 0x3fe6_a09e_667f_3bcd;

/// Horner's rule, highest coefficient first.
#[inline(always)]
fn horner<const N: usize>(m: impl Fma, x: f64, coefficients: &[f64; N]) -> f64 {
    coefficients[1..]
        .iter()
        .fold(coefficients[0], |acc, &c| m.mul_add(acc, x, c))
}

/// e^x, with a relative error below 5e-16 (about 2 ulp).
///
/// x = k ln 2 + r with |r| <= ln(2)/2 ([`split`]); 2^k is built in the exponent bits.
/// Results below about 1e-307 (x < -707) flush to 0, x > ln(f64::MAX) gives +inf, -inf gives
/// 0 and NaN gives NaN.
#[inline(always)]
pub(crate) fn exp(m: impl Fma, x: f64) -> f64 {
    // `clamp` compares (a NaN stays NaN), where `max`/`min` would swallow a NaN.
    let (k, p) = split(m, x.clamp(EXP_MIN, EXP_MAX));
    // 2^(k-1), k as an integer (k can be 1024 at EXP_MAX, whose 2^k is not a finite f64, so
    // the last factor 2 goes on p).
    let k_int = (k + SHIFT).to_bits().wrapping_sub(SHIFT.to_bits());
    let half_scale = f64::from_bits(k_int.wrapping_add(1022) << 52);
    let y = (p + p) * half_scale;
    if x > EXP_MAX {
        f64::INFINITY
    } else if x < EXP_MIN {
        0.0
    } else {
        y
    }
}

/// (k, e^r) with x = k ln 2 + r, k integral and |r| <= ln(2)/2, so e^x = e^r 2^k and
/// e^r is in [sqrt(1/2), sqrt(2)], with a relative error below 5e-16; for |x| < 2^50.
#[inline(always)]
pub(crate) fn split(m: impl Fma, x: f64) -> (f64, f64) {
    let k = (x * LOG2_E + SHIFT) - SHIFT;
    let r = (x - k * LN2_HI) - k * LN2_LO;
    (k, horner(m, r, &EXP_POLY))
}

/// ln(y), with a relative error below 5e-16, for positive normal y; 0 and the subnormals
/// give -inf, +inf gives +inf, a negative y or NaN gives NaN.
///
/// y = 2^k m with m in [sqrt(1/2), sqrt(2)), f = m - 1 (exact); ln m = 2 atanh(s) with
/// s = f/(2 + f), written as f - (f^2/2 - s (f^2/2 + R(s^2))) so that the exact f leads and
/// the rounded terms are small corrections.
#[inline(always)]
pub(crate) fn ln(m: impl Fma, y: f64) -> f64 {
    let bits = y.to_bits();
    // k + 2048, with a logical shift (AVX2 has no 64-bit arithmetic shift): the offset
    // keeps the shifted value non-negative for every non-negative y.
    let biased_k = bits.wrapping_sub(SQRT_HALF_BITS).wrapping_add(2048 << 52) >> 52;
    let mantissa = f64::from_bits(bits.wrapping_sub(biased_k << 52).wrapping_add(2048 << 52));
    let k = f64::from_bits(SHIFT.to_bits().wrapping_add(biased_k).wrapping_sub(2048)) - SHIFT;
    let f = mantissa - 1.0;
    let s = f / (2.0 + f);
    let z = s * s;
    let half_f2 = 0.5 * f * f;
    let r = z * horner(m, z, &LN_POLY);
    let r = k * LN2_HI - ((half_f2 - (s * (half_f2 + r) + k * LN2_LO)) - f);
    if (f64::MIN_POSITIVE..f64::INFINITY).contains(&y) {
        r
    } else if y == f64::INFINITY {
        f64::INFINITY
    } else if y >= 0.0 {
        f64::NEG_INFINITY
    } else {
        f64::NAN
    }
}

/// ln(e^a + e^b): -inf when both are -inf, NaN when either is NaN.
///
/// The larger term is factored out (its exponential is 1, or 0 when it is -inf), so one
/// `exp` and one `ln` do.
#[inline(always)]
pub(crate) fn lse2(m: impl Fma, a: f64, b: f64) -> f64 {
    let (hi, lo) = if a > b { (a, b) } else { (b, a) };
    // With hi = -inf the shift is 0 instead (-inf - -inf would be NaN) and the factored-out
    // term is e^-inf = 0.
    let (shift, one) = if hi == f64::NEG_INFINITY { (0.0, 0.0) } else { (hi, 1.0) };
    shift + ln(m, one + exp(m, lo - shift))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fused::simd::{Fused, Unfused};

    /// Distance in ulps between two finite f64 of the same sign.
    fn ulps(a: f64, b: f64) -> u64 {
        (a.to_bits() as i64 - b.to_bits() as i64).unsigned_abs()
    }

    /// A deterministic sweep of `count` points over [lo, hi].
    fn sweep(lo: f64, hi: f64, count: usize) -> impl Iterator<Item = f64> {
        (0..=count).map(move |i| lo + (hi - lo) * i as f64 / count as f64)
    }

    #[test]
    fn exp_is_within_two_ulps_of_libm() {
        let worst = sweep(-706.9, 709.7, 2_000_003)
            .chain(sweep(-1.0, 1.0, 200_001))
            .map(|x| ulps(exp(Unfused, x), x.exp()).max(ulps(exp(Fused, x), x.exp())))
            .max()
            .unwrap();
        assert!(worst <= 2, "exp: {worst} ulps");
    }

    #[test]
    fn exp_special_values() {
        assert_eq!(exp(Unfused, 0.0), 1.0);
        assert_eq!(exp(Unfused, f64::NEG_INFINITY), 0.0);
        assert_eq!(exp(Unfused, -708.0), 0.0);
        assert_eq!(exp(Unfused, f64::INFINITY), f64::INFINITY);
        assert_eq!(exp(Unfused, 710.0), f64::INFINITY);
        assert!(exp(Unfused, EXP_MAX).is_finite());
        assert!(exp(Unfused, f64::NAN).is_nan());
    }

    #[test]
    fn ln_is_within_two_ulps_of_libm() {
        let worst = sweep(-700.0, 700.0, 2_000_003)
            .map(f64::exp)
            .chain(sweep(0.5, 3.0, 200_001))
            .chain([
                f64::MIN_POSITIVE,
                f64::MAX,
                1.0 + f64::EPSILON,
                1.0 - f64::EPSILON / 2.0,
            ])
            .map(|y| ulps(ln(Unfused, y), y.ln()).max(ulps(ln(Fused, y), y.ln())))
            .max()
            .unwrap();
        assert!(worst <= 2, "ln: {worst} ulps");
        assert_eq!(ln(Unfused, 1.0), 0.0);
    }

    #[test]
    fn ln_special_values() {
        assert_eq!(ln(Unfused, 0.0), f64::NEG_INFINITY);
        assert_eq!(ln(Unfused, -0.0), f64::NEG_INFINITY);
        assert_eq!(ln(Unfused, f64::MIN_POSITIVE / 4.0), f64::NEG_INFINITY);
        assert_eq!(ln(Unfused, f64::INFINITY), f64::INFINITY);
        assert!(ln(Unfused, -1.0).is_nan());
        assert!(ln(Unfused, f64::NAN).is_nan());
    }

    #[test]
    fn log_sum_exp_matches_the_definition() {
        let values = [f64::NEG_INFINITY, -800.0, -30.5, -1.0, 0.0, 2.5, 40.0];
        for &a in &values {
            for &b in &values {
                let want2 = if a.max(b) == f64::NEG_INFINITY {
                    f64::NEG_INFINITY
                } else {
                    a.max(b) + ((a - a.max(b)).exp() + (b - a.max(b)).exp()).ln()
                };
                assert!(
                    (lse2(Unfused, a, b) - want2).abs() <= 1e-13 * want2.abs().max(1.0) || lse2(Unfused, a, b) == want2
                );
            }
        }
    }

    #[test]
    fn log_sum_exp_propagates_nan() {
        assert!(lse2(Unfused, f64::NAN, f64::NEG_INFINITY).is_nan());
        assert!(lse2(Unfused, f64::NEG_INFINITY, f64::NAN).is_nan());
        assert!(lse2(Unfused, 1.0, f64::NAN).is_nan());
    }
}
