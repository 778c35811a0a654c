//! An f64 arctangent with no branch and no table, so that the loops calling it (CIoU's
//! aspect angles) vectorise; within about 2.2 ulp of the exact value, where the standard
//! library's `atan` is a call per element. The fused multiply-add build (AVX2, AVX-512)
//! and the baseline one round differently, so an f64 result can differ between machines in
//! its last bits (an f32 caller's almost never does).

use super::simd::Fma;

/// Q(s), highest coefficient first: atan(u) = u + u s Q(s) with s = u^2 for
/// |u| <= tan(pi/8). The Chebyshev interpolant of degree 10 of `(atan(sqrt s)/sqrt s - 1)/s`,
/// from `tools/math/atan_coefficients.py`, which samples the whole evaluation's error
/// (about 2 ulp, the reductions' own; degree 9 adds to it). A full sweep of
/// `[0.40, 0.43]` found 2.2 ulp at most, from the rounding of `(t - 1)/(t + 1)`.
const ATAN_POLY: [f64; 11] = [
    -0.01917688711906226,
    0.03923165829558719,
    -0.0508544973794026,
    0.0585814891280221,
    -0.06664511447381948,
    0.07692183190826087,
    -0.09090904578123903,
    0.11111111015256361,
    -0.14285714284666542,
    0.1999999999999552,
    -0.3333333333333333,
];

/// tan(pi/8): above it, `t` is moved next to 0 by atan(t) = pi/4 + atan((t - 1)/(t + 1)).
const TAN_PI_8: f64 = 0.414_213_562_373_095_03;

/// pi/4 as a sum of two f64: the low part goes onto the small term first, so that the
/// constant's own rounding error does not enter.
const QUARTER_PI_HI: f64 = core::f64::consts::FRAC_PI_4;
const QUARTER_PI_LO: f64 = 3.061_616_997_868_383e-17;

/// atan(x), within about 2 ulp; +-pi/2 at +-inf, NaN for NaN, and the sign of a zero kept.
///
/// |x| > 1 becomes 1/|x| (atan(x) = pi/2 - atan(1/x)), then above tan(pi/8) the shift by pi/4,
/// leaving |u| <= tan(pi/8) for the polynomial.
#[inline(always)]
pub(crate) fn atan(m: impl Fma, x: f64) -> f64 {
    let a = x.abs();
    let inverted = a > 1.0;
    let t = if inverted { 1.0 / a } else { a };
    let shifted = t > TAN_PI_8;
    let u = if shifted { (t - 1.0) / (t + 1.0) } else { t };
    let s = u * u;
    let q = ATAN_POLY[1..].iter().fold(ATAN_POLY[0], |acc, &c| m.mul_add(acc, s, c));
    let r = m.mul_add(u * s, q, u);
    let r = if shifted {
        (QUARTER_PI_HI + r) + QUARTER_PI_LO
    } else {
        r
    };
    let r = if inverted {
        (2.0 * QUARTER_PI_HI - r) + 2.0 * QUARTER_PI_LO
    } else {
        r
    };
    r.copysign(x)
}

#[cfg(test)]
mod tests {
    use super::atan;
    use crate::fused::simd::{Fused, Unfused};

    /// Distance in ulps between two finite f64 of the same sign.
    fn ulps(a: f64, b: f64) -> u64 {
        a.to_bits().abs_diff(b.to_bits())
    }

    #[test]
    fn atan_is_within_three_ulp_of_the_standard_librarys() {
        // A geometric sweep over 600 decades, both signs, and a dense one over
        // tan(pi/8), 1 and 1/tan(pi/8), where the reductions switch.
        let wide = (0..200_000).map(|i| 10f64.powf(-300.0 + 600.0 * i as f64 / 200_000.0));
        let near = (0..200_000).map(|i| 0.3 + 2.7 * i as f64 / 200_000.0);
        let mut worst = 0;
        for x in wide.chain(near).flat_map(|x| [x, -x]) {
            let want = x.atan();
            for got in [atan(Fused, x), atan(Unfused, x)] {
                // glibc's atan (what std calls on Linux) is within 1 ulp: 3 between the two.
                let d = ulps(got, want);
                assert!(d <= 3, "atan({x:e}) = {got:e}, std {want:e}: {d} ulp");
                worst = worst.max(d);
            }
        }
        assert!(worst >= 1, "the sweep never reached a rounding difference");
    }

    #[test]
    fn atan_takes_the_limits_and_keeps_nan_and_the_sign_of_zero() {
        use core::f64::consts::{FRAC_PI_2, FRAC_PI_4};
        for atan in [|x| atan(Fused, x), |x| atan(Unfused, x)] {
            assert_eq!(atan(f64::INFINITY), FRAC_PI_2);
            assert_eq!(atan(f64::NEG_INFINITY), -FRAC_PI_2);
            assert!(atan(f64::NAN).is_nan());
            assert_eq!(atan(-0.0).to_bits(), (-0.0f64).to_bits());
            assert_eq!(atan(1.0), FRAC_PI_4);
            // A subnormal input, and one whose reciprocal is subnormal.
            assert_eq!(atan(f64::MIN_POSITIVE / 4.0), f64::MIN_POSITIVE / 4.0);
            assert_eq!(atan(-f64::MIN_POSITIVE), -f64::MIN_POSITIVE);
            assert_eq!(atan(f64::MAX), FRAC_PI_2);
        }
    }
}
