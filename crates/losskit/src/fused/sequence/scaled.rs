//! Nonnegative reals as `f * 2^k`: an f64 mantissa `f` and an integral f64 exponent `k`.
//!
//! This is log space's range (`k` is the log2 of the value, up to 2^50 in magnitude) at the
//! price of linear arithmetic: a sum of three terms is three power-of-two scalings (integer
//! operations on the exponent bits) and two additions, a product one multiplication, where
//! log space needs two `exp` and one `ln`. The relative error of each operation is that of
//! f64 (a few 1e-16), so a chain of T of them is more accurate than log space, whose
//! absolute error in the log grows with the log's magnitude. The CTC lattices run on it
//! (`ctc.rs`).
//!
//! Zero is `(0, ZERO_K)`: `ZERO_K` is far below any real exponent, so a zero never sets the
//! scale of a sum, and finite, so exponent differences stay finite.

use super::logspace::{LN2_HI, LN2_LO, SHIFT, ln, split};
use crate::fused::simd::Fma;

/// The exponent of zero.
pub(crate) const ZERO_K: f64 = -1e300;

/// Below it (in natural log) a value counts as zero: the exponent of anything smaller no
/// longer fits [`SHIFT`]'s integer range.
const LOG_MIN: f64 = -1e15;

/// 2^d for an integral d <= 1023, 0 for d < -1022 (a term 2^1022 times smaller than the one
/// that sets the scale of a sum does not change it).
#[inline(always)]
pub(crate) fn pow2(d: f64) -> f64 {
    let bits = (d + SHIFT).to_bits().wrapping_add(1023) << 52;
    if d < -1022.0 { 0.0 } else { f64::from_bits(bits) }
}

/// e^x as (f, k) with f in [sqrt(1/2), sqrt(2)]; -inf (and anything below -1e15) is zero,
/// NaN stays NaN (in f).
#[inline(always)]
pub(crate) fn from_log(m: impl Fma, x: f64) -> (f64, f64) {
    let (k, f) = split(m, x);
    if x < LOG_MIN { (0.0, ZERO_K) } else { (f, k) }
}

/// ln(f 2^k).
#[inline(always)]
pub(crate) fn to_log(m: impl Fma, f: f64, k: f64) -> f64 {
    k * LN2_HI + (ln(m, f) + k * LN2_LO)
}

/// p 2^k as (f, k') with f in [1, 2), for p >= 0 (zero gives `(0, ZERO_K)`); a NaN p stays
/// NaN. Run after every sum and product so that the mantissas stay bounded.
#[inline(always)]
pub(crate) fn normalise(p: f64, k: f64) -> (f64, f64) {
    let biased = p.to_bits() >> 52;
    // p * 2^(1023 - biased): the exponent of 1 (0 stays 0, NaN stays NaN).
    let f = p * f64::from_bits(2046u64.wrapping_sub(biased) << 52);
    let e = f64::from_bits(SHIFT.to_bits().wrapping_add(biased)) - SHIFT - 1023.0;
    (f, if p == 0.0 { ZERO_K } else { k + e })
}

/// f0 2^k0 + f1 2^k1 + f2 2^k2 as (sum, kmax), unnormalised (below 3 max f).
#[inline(always)]
pub(crate) fn sum3(f0: f64, k0: f64, f1: f64, k1: f64, f2: f64, k2: f64) -> (f64, f64) {
    let k01 = if k0 > k1 { k0 } else { k1 };
    let kmax = if k01 > k2 { k01 } else { k2 };
    (f0 * pow2(k0 - kmax) + f1 * pow2(k1 - kmax) + f2 * pow2(k2 - kmax), kmax)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fused::simd::Unfused;

    fn value(f: f64, k: f64) -> f64 {
        f * 2f64.powf(k)
    }

    #[test]
    fn round_trips_through_log_space() {
        for x in [-7e5, -1234.5678, -745.2, -1.0, 0.0, 0.3, 50.0, 700.0, 3e4] {
            let (f, k) = from_log(Unfused, x);
            assert!((0.7..1.42).contains(&f) && k == k.round(), "{x}: {f} {k}");
            assert!(
                (to_log(Unfused, f, k) - x).abs() <= 1e-15 * x.abs().max(1.0),
                "{x}: {}",
                to_log(Unfused, f, k)
            );
        }
        assert_eq!(from_log(Unfused, f64::NEG_INFINITY), (0.0, ZERO_K));
        assert_eq!(from_log(Unfused, -2e15), (0.0, ZERO_K));
        assert_eq!(to_log(Unfused, 0.0, ZERO_K), f64::NEG_INFINITY);
        assert!(from_log(Unfused, f64::NAN).0.is_nan());
    }

    #[test]
    fn normalise_keeps_the_value() {
        for p in [1e-300, 0.7, 1.0, 1.999, 2.0, 5.9, 1e300] {
            let (f, k) = normalise(p, 10.0);
            assert!((1.0..2.0).contains(&f), "{p}: {f}");
            assert_eq!(value(f, k - 10.0), p);
        }
        assert_eq!(normalise(0.0, 3.0), (0.0, ZERO_K));
        assert!(normalise(f64::NAN, 3.0).0.is_nan());
    }

    #[test]
    fn sums_scale_to_the_largest_term() {
        let (s, k) = sum3(1.5, 3.0, 1.0, 1.0, 1.25, -2000.0);
        assert_eq!((s, k), (1.5 + 0.25, 3.0));
        // Zeros never set the scale, even beside a zero-weighted term.
        assert_eq!(sum3(0.0, ZERO_K, 0.0, ZERO_K, 1.5, -1e6), (1.5, -1e6));
        assert_eq!(sum3(0.0, ZERO_K, 0.0, ZERO_K, 0.0, ZERO_K).0, 0.0);
        assert_eq!(pow2(-1022.0), f64::MIN_POSITIVE);
        assert_eq!(pow2(-1023.0), 0.0);
        assert_eq!(pow2(1023.0), 2f64.powi(1023));
    }
}
