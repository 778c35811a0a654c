//! The float types the kernels run in, and their `exp` and logarithms: polynomials good to
//! f32's precision that vectorise (no branch, no table), the standard library's for f64.

use super::simd::{Fma, Unfused};

/// Float types the kernels run in, each with an `exp` good to its precision.
pub(crate) trait Real:
    Copy
    + Default
    + Send
    + Sync
    + PartialOrd
    + core::ops::Add<Output = Self>
    + core::ops::Sub<Output = Self>
    + core::ops::Mul<Output = Self>
    + core::ops::Div<Output = Self>
    + 'static
{
    const ZERO: Self;
    const ONE: Self;
    const INFINITY: Self;
    const NEG_INFINITY: Self;
    const NAN: Self;
    /// `e^self`, its polynomial's steps fused when `fma` says the vector unit can.
    fn exp_with(self, fma: impl Fma) -> Self;
    #[inline(always)]
    fn exp(self) -> Self {
        self.exp_with(Unfused)
    }
    fn ln(self) -> Self;
    /// `ln(1 + u)` for `u` in `[0, 1]`, accurate for tiny `u`.
    fn ln_1p_unit(self, fma: impl Fma) -> Self;
    /// `ln(v)` for positive `v` (0 gives -inf).
    fn ln_positive(self, fma: impl Fma) -> Self;
    /// `self * a + b` in one rounding.
    fn mul_add(self, a: Self, b: Self) -> Self;
    /// `tanh(self)`, NaN for NaN and +-1 for +-inf.
    fn tanh_with(self, fma: impl Fma) -> Self;

    /// `a` where `cond`, else `b` (a branch LLVM turns into a blend).
    #[inline(always)]
    fn select(cond: bool, a: Self, b: Self) -> Self {
        if cond { a } else { b }
    }
    /// The larger of the two; the second when either is NaN (a NaN shows in the sum of
    /// exponentials instead).
    #[inline(always)]
    fn max(self, other: Self) -> Self {
        if self > other { self } else { other }
    }

    #[inline(always)]
    #[allow(clippy::eq_op)] // NaN is the one value unequal to itself
    fn is_nan(self) -> bool {
        self != self
    }
    fn from_f64(v: f64) -> Self;
    fn to_f64(self) -> f64;
}

impl Real for f32 {
    const ZERO: Self = 0.0;
    const ONE: Self = 1.0;
    const INFINITY: Self = f32::INFINITY;
    const NEG_INFINITY: Self = f32::NEG_INFINITY;
    const NAN: Self = f32::NAN;

    /// `e^x` to about 2 ulp: `x = n ln2 + r`, a degree-5 polynomial on `|r| <= ln2 / 2`,
    /// and `2^n` built in the exponent bits. Inputs below -87.3 give about 1e-38 rather
    /// than a denormal; no branch, so it vectorises.
    #[inline(always)]
    fn exp_with(self, fma: impl Fma) -> Self {
        const LOG2E: f32 = core::f32::consts::LOG2_E;
        const LN2_HI: f32 = 0.693_145_75;
        const LN2_LO: f32 = 1.428_606_8e-6;
        const ROUND: f32 = 12_582_912.0; // 1.5 * 2^23: adding it rounds to an integer
        // Near-minimax on |r| <= ln2 / 2 with p(0) = 1 (relative error 9e-8), fitted by
        // reweighted least squares: two degrees fewer than a Taylor polynomial as accurate.
        const C0: f32 = 1.0;
        const C1: f32 = 0.999_999_7;
        const C2: f32 = 0.499_991_5;
        const C3: f32 = 0.166_676_36;
        const C4: f32 = 0.041_897_93;
        const C5: f32 = 0.008_290_314;
        let x = self.clamp(-87.336_54, 88.722_83);
        // `t`'s low mantissa bits hold `n` once ROUND is added: the integer comes from the
        // bits, with no float-to-int conversion to get in the vectoriser's way.
        let t = fma.mul_add(x, LOG2E, ROUND);
        let n = t - ROUND;
        let ni = t.to_bits().wrapping_sub(ROUND.to_bits());
        let r = fma.mul_add(-n, LN2_LO, fma.mul_add(-n, LN2_HI, x));
        let horner = |acc: f32, c: f32| fma.mul_add(acc, r, c);
        let p = [C4, C3, C2, C1, C0].into_iter().fold(C5, horner);
        p * f32::from_bits(ni.wrapping_add(127) << 23)
    }

    #[inline(always)]
    fn ln(self) -> Self {
        f32::ln(self)
    }

    /// `2 atanh(u / (2 + u))` as an odd series in `z = u / (2 + u) <= 1/3`: eight terms
    /// leave 1e-8 relative error, and `z ~ u / 2` keeps tiny `u` exact.
    #[inline(always)]
    fn ln_1p_unit(self, fma: impl Fma) -> Self {
        let z = self / (2.0 + self);
        let z2 = z * z;
        let horner = |acc: f32, c: f32| fma.mul_add(acc, z2, c);
        let p = [1.0 / 13.0, 1.0 / 11.0, 1.0 / 9.0, 1.0 / 7.0, 1.0 / 5.0, 1.0 / 3.0, 1.0]
            .into_iter()
            .fold(1.0 / 15.0, horner);
        2.0 * z * p
    }

    /// `v = 2^k m` with `m` in `[1, 2)`: `k ln2 + ln(1 + (m - 1))`. Denormals count as 0.
    #[inline(always)]
    fn ln_positive(self, fma: impl Fma) -> Self {
        let bits = self.to_bits();
        let k = ((bits >> 23) & 0xff) as i32 - 127;
        let m = f32::from_bits((bits & 0x007f_ffff) | 0x3f80_0000);
        let value = k as f32 * core::f32::consts::LN_2 + (m - 1.0).ln_1p_unit(fma);
        if self < f32::MIN_POSITIVE {
            f32::NEG_INFINITY
        } else {
            value
        }
    }

    #[inline(always)]
    fn mul_add(self, a: Self, b: Self) -> Self {
        f32::mul_add(self, a, b)
    }

    /// `1 - 2 / (e^(2|x|) + 1)` with the sign put back, from one [`exp_with`](Real::exp_with):
    /// no branch, so it vectorises. Good to 2e-7 absolute (not relative: near 0 the
    /// difference `1 - 2 / (e + 1)` keeps f32's absolute precision only), which is what a soft
    /// cap needs: `c tanh(x / c)` is then within `c` times that of the
    /// capped logit. Past `|x| = 10` tanh is 1 in f32.
    #[inline(always)]
    fn tanh_with(self, fma: impl Fma) -> Self {
        let a = self.abs();
        // Written so that a NaN stays NaN (`min` would turn it into 10).
        let a = if a > 10.0 { 10.0 } else { a };
        let e = (a + a).exp_with(fma);
        (1.0 - 2.0 / (e + 1.0)).copysign(self)
    }

    fn from_f64(v: f64) -> Self {
        v as f32
    }

    fn to_f64(self) -> f64 {
        self as f64
    }
}

impl Real for f64 {
    const ZERO: Self = 0.0;
    const ONE: Self = 1.0;
    const INFINITY: Self = f64::INFINITY;
    const NEG_INFINITY: Self = f64::NEG_INFINITY;
    const NAN: Self = f64::NAN;

    /// The standard library's `exp`: f64 results are held to 1e-9 of PyTorch.
    #[inline(always)]
    fn exp_with(self, _: impl Fma) -> Self {
        f64::exp(self)
    }

    #[inline(always)]
    fn ln(self) -> Self {
        f64::ln(self)
    }

    #[inline(always)]
    fn ln_1p_unit(self, _: impl Fma) -> Self {
        f64::ln_1p(self)
    }

    #[inline(always)]
    fn ln_positive(self, _: impl Fma) -> Self {
        f64::ln(self)
    }

    #[inline(always)]
    fn mul_add(self, a: Self, b: Self) -> Self {
        f64::mul_add(self, a, b)
    }

    /// The standard library's `tanh`.
    #[inline(always)]
    fn tanh_with(self, _: impl Fma) -> Self {
        f64::tanh(self)
    }

    fn from_f64(v: f64) -> Self {
        v
    }

    fn to_f64(self) -> f64 {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::super::simd::Fused;
    use super::*;

    /// The worst relative error of `exp` over [-87, 88], with and without fused steps.
    fn exp_error(fma: impl Fma) -> f64 {
        let mut worst = 0.0f64;
        let mut x = -87.0f32;
        while x < 88.0 {
            let got = x.exp_with(fma) as f64;
            let want = (x as f64).exp();
            worst = worst.max(((got - want) / want).abs());
            x += 0.001_37;
        }
        worst
    }

    #[test]
    fn fast_exp_is_accurate_to_a_few_ulp() {
        for (worst, fused) in [(exp_error(Unfused), false), (exp_error(Fused), true)] {
            assert!(
                worst < 3.0 * f32::EPSILON as f64,
                "relative error {worst:e} (fused: {fused})"
            );
        }
        assert_eq!(0.0f32.exp_with(Fused), 1.0);
        assert_eq!(Real::exp(0.0f32), 1.0);
        assert!(Real::exp(-1e4f32) < 1e-37);
        assert!((-1e4f32).exp_with(Fused) < 1e-37);
    }

    /// The worst error of `ln_1p_unit` on [0, 1] and `ln_positive` from 1e-30 up.
    fn log_error(fma: impl Fma) -> f64 {
        let mut worst = 0.0f64;
        for i in 0..=20_000 {
            let u = i as f32 / 20_000.0;
            let want = (u as f64).ln_1p();
            if want > 0.0 {
                worst = worst.max(((Real::ln_1p_unit(u, fma) as f64 - want) / want).abs());
            }
            let v = 1e-30f32 * 1.004f32.powi(i);
            let lv = Real::ln_positive(v, fma) as f64;
            worst = worst.max((lv - (v as f64).ln()).abs() / (v as f64).ln().abs().max(1.0));
        }
        worst
    }

    #[test]
    fn fast_tanh_is_accurate_in_absolute_terms() {
        for (fma, fused) in [(false, false), (true, true)] {
            let mut worst = 0.0f64;
            let mut x = -12.0f32;
            while x < 12.0 {
                let got = if fma { x.tanh_with(Fused) } else { x.tanh_with(Unfused) };
                worst = worst.max((got as f64 - (x as f64).tanh()).abs());
                x += 0.000_77;
            }
            assert!(worst < 2e-7, "absolute error {worst:e} (fused: {fused})");
        }
        assert!(f32::NAN.tanh_with(Fused).is_nan());
        assert_eq!(f32::INFINITY.tanh_with(Fused), 1.0);
        assert_eq!(f32::NEG_INFINITY.tanh_with(Unfused), -1.0);
        assert_eq!((-0.0f32).tanh_with(Unfused), 0.0);
    }

    #[test]
    fn fast_logs_are_accurate() {
        for (worst, fused) in [(log_error(Unfused), false), (log_error(Fused), true)] {
            assert!(
                worst < 4.0 * f32::EPSILON as f64,
                "relative error {worst:e} (fused: {fused})"
            );
        }
        assert_eq!(Real::ln_1p_unit(1e-30f32, Fused), 1e-30);
        assert_eq!(Real::ln_1p_unit(1e-30f32, Unfused), 1e-30);
        assert_eq!(Real::ln_positive(0.0f32, Fused), f32::NEG_INFINITY);
    }
}
