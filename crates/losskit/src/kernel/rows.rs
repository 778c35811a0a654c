//! The fused cross-entropy row kernel: max, sum of exponentials, loss and gradient of one
//! row in three passes over data that stays in cache, written so that LLVM vectorises it.

use core::mem::MaybeUninit;

/// What one row's loss depends on besides its logits.
#[derive(Clone, Copy)]
pub(crate) struct RowTarget<'a, T> {
    /// The target class, `None` when the row is ignored.
    pub class: Option<usize>,
    /// `w[y]` (1 without class weights).
    pub class_weight: T,
    /// The class weights, or `None` for all-ones.
    pub weights: Option<&'a [T]>,
    /// `label_smoothing / C`.
    pub smooth: T,
    /// `1 - label_smoothing`.
    pub keep: T,
    /// Factor on the gradient (the reduction's `1 / denominator`, or 1).
    pub grad_scale: T,
}

/// Float types the kernel runs in, each with an `exp` good to its precision.
pub(crate) trait Real:
    Copy + Send + Sync + PartialOrd + core::ops::Add<Output = Self> + core::ops::Sub<Output = Self>
    + core::ops::Mul<Output = Self> + core::ops::Div<Output = Self> + 'static
{
    const ZERO: Self;
    const ONE: Self;
    const NEG_INFINITY: Self;
    const NAN: Self;
    fn exp(self) -> Self;
    fn ln(self) -> Self;
    /// `ln(1 + u)` for `u` in `[0, 1]`, accurate for tiny `u`.
    fn ln_1p_unit(self) -> Self;
    /// `ln(v)` for positive `v` (0 gives -inf).
    fn ln_positive(self) -> Self;

    /// `a` where `cond`, else `b` (a branch LLVM turns into a blend).
    #[inline(always)]
    fn select(cond: bool, a: Self, b: Self) -> Self {
        if cond { a } else { b }
    }
    /// The larger of the two; the first when either is NaN (NaN is tracked separately).
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
    const NEG_INFINITY: Self = f32::NEG_INFINITY;
    const NAN: Self = f32::NAN;

    /// `e^x` to about 2 ulp: `x = n ln2 + r`, a degree-7 Taylor polynomial on
    /// `|r| <= ln2 / 2` (truncation 5e-9), and `2^n` built in the exponent bits. Inputs
    /// below -87.3 give about 1e-38 rather than a denormal; no branch, so it vectorises.
    #[inline(always)]
    fn exp(self) -> Self {
        const LOG2E: f32 = core::f32::consts::LOG2_E;
        const LN2_HI: f32 = 0.693_145_75;
        const LN2_LO: f32 = 1.428_606_8e-6;
        const ROUND: f32 = 12_582_912.0; // 1.5 * 2^23: adding it rounds to an integer
        let x = self.clamp(-87.336_54, 88.722_83);
        // `t`'s low mantissa bits hold `n` once ROUND is added: the integer comes from the
        // bits, with no float-to-int conversion to get in the vectoriser's way.
        let t = x * LOG2E + ROUND;
        let n = t - ROUND;
        let ni = t.to_bits().wrapping_sub(ROUND.to_bits());
        let r = (x - n * LN2_HI) - n * LN2_LO;
        let p = 1.0
            + r * (1.0
                + r * (0.5
                    + r * (1.0 / 6.0
                        + r * (1.0 / 24.0 + r * (1.0 / 120.0 + r * (1.0 / 720.0 + r * (1.0 / 5040.0)))))));
        p * f32::from_bits(ni.wrapping_add(127) << 23)
    }

    #[inline(always)]
    fn ln(self) -> Self {
        f32::ln(self)
    }

    /// `2 atanh(u / (2 + u))` as an odd series in `z = u / (2 + u) <= 1/3`: eight terms
    /// leave 1e-8 relative error, and `z ~ u / 2` keeps tiny `u` exact.
    #[inline(always)]
    fn ln_1p_unit(self) -> Self {
        let z = self / (2.0 + self);
        let z2 = z * z;
        let p = 1.0
            + z2 * (1.0 / 3.0
                + z2 * (1.0 / 5.0
                    + z2 * (1.0 / 7.0
                        + z2 * (1.0 / 9.0 + z2 * (1.0 / 11.0 + z2 * (1.0 / 13.0 + z2 * (1.0 / 15.0)))))));
        2.0 * z * p
    }

    /// `v = 2^k m` with `m` in `[1, 2)`: `k ln2 + ln(1 + (m - 1))`. Denormals count as 0.
    #[inline(always)]
    fn ln_positive(self) -> Self {
        let bits = self.to_bits();
        let k = ((bits >> 23) & 0xff) as i32 - 127;
        let m = f32::from_bits((bits & 0x007f_ffff) | 0x3f80_0000);
        let value = k as f32 * core::f32::consts::LN_2 + (m - 1.0).ln_1p_unit();
        if self < f32::MIN_POSITIVE { f32::NEG_INFINITY } else { value }
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
    const NEG_INFINITY: Self = f64::NEG_INFINITY;
    const NAN: Self = f64::NAN;

    /// The standard library's `exp`: f64 results are held to 1e-9 of PyTorch.
    #[inline(always)]
    fn exp(self) -> Self {
        f64::exp(self)
    }

    #[inline(always)]
    fn ln(self) -> Self {
        f64::ln(self)
    }

    #[inline(always)]
    fn ln_1p_unit(self) -> Self {
        f64::ln_1p(self)
    }

    #[inline(always)]
    fn ln_positive(self) -> Self {
        f64::ln(self)
    }


    fn from_f64(v: f64) -> Self {
        v
    }

    fn to_f64(self) -> f64 {
        self
    }
}

/// Independent accumulators per reduction: strict IEEE order forbids LLVM from vectorising
/// a single running sum, but sixteen separate ones map onto vector lanes.
const LANES: usize = 16;

/// `sum_j f(x_j)` over lanes.
#[inline(always)]
fn lane_sum<T: Real>(x: &[T], f: impl Fn(T) -> T) -> T {
    let mut acc = [T::ZERO; LANES];
    let chunks = x.chunks_exact(LANES);
    let rest = chunks.remainder();
    for chunk in chunks {
        for k in 0..LANES {
            acc[k] = acc[k] + f(chunk[k]);
        }
    }
    let tail = rest.iter().fold(T::ZERO, |a, &v| a + f(v));
    acc.iter().fold(tail, |a, &v| a + v)
}

/// `sum_j f(x_j, w_j)` over lanes.
#[inline(always)]
fn lane_sum2<T: Real>(x: &[T], w: &[T], f: impl Fn(T, T) -> T) -> T {
    let mut acc = [T::ZERO; LANES];
    let chunks = x.chunks_exact(LANES).zip(w.chunks_exact(LANES));
    for (cx, cw) in chunks {
        for k in 0..LANES {
            acc[k] = acc[k] + f(cx[k], cw[k]);
        }
    }
    let done = x.len() / LANES * LANES;
    let tail = x[done..].iter().zip(&w[done..]).fold(T::ZERO, |a, (&v, &u)| a + f(v, u));
    acc.iter().fold(tail, |a, &v| a + v)
}

/// The maximum of `x`, and whether it holds a NaN (which a comparison max would drop).
#[inline(always)]
fn lane_max<T: Real>(x: &[T]) -> (T, bool) {
    let mut acc = [T::NEG_INFINITY; LANES];
    let mut nan = [false; LANES];
    let chunks = x.chunks_exact(LANES);
    let rest = chunks.remainder();
    for chunk in chunks {
        for k in 0..LANES {
            acc[k] = acc[k].max(chunk[k]);
            nan[k] |= chunk[k].is_nan();
        }
    }
    let mut max = acc.iter().fold(T::NEG_INFINITY, |a, &v| a.max(v));
    let mut any_nan = nan.iter().any(|&b| b);
    for &v in rest {
        max = max.max(v);
        any_nan |= v.is_nan();
    }
    (max, any_nan)
}

/// `g_j = e^(x_j - max)`, returning their sum; writes every element of `g`.
#[inline(always)]
fn lane_exp_into<T: Real>(x: &[T], g: &mut [MaybeUninit<T>], max: T) -> T {
    let mut acc = [T::ZERO; LANES];
    let done = x.len() / LANES * LANES;
    for (cx, cg) in x[..done].chunks_exact(LANES).zip(g[..done].chunks_exact_mut(LANES)) {
        for k in 0..LANES {
            let e = (cx[k] - max).exp();
            cg[k].write(e);
            acc[k] = acc[k] + e;
        }
    }
    let mut tail = T::ZERO;
    for (gj, &v) in g[done..].iter_mut().zip(&x[done..]) {
        let e = (v - max).exp();
        gj.write(e);
        tail = tail + e;
    }
    acc.iter().fold(tail, |a, &v| a + v)
}

/// Fills `g` with `value`.
#[inline(always)]
pub(crate) fn fill<T: Real>(g: &mut [MaybeUninit<T>], value: T) {
    for gj in g {
        gj.write(value);
    }
}

/// The slice once every element has been written.
///
/// # Safety
/// Every element of `g` must have been written.
#[inline(always)]
pub(crate) unsafe fn assume_init<T>(g: &mut [MaybeUninit<T>]) -> &mut [T] {
    // SAFETY: MaybeUninit<T> has T's layout, and the caller promises initialisation.
    unsafe { &mut *(g as *mut [MaybeUninit<T>] as *mut [T]) }
}

/// The loss of one row of logits `x` and, when `grad` is given, its gradient
/// `(sum_c a_c) softmax(x) - a` with `a = keep w[y] onehot(y) + smooth w`, written into
/// every element of `grad`.
#[inline(always)]
pub(crate) fn cross_entropy_row<T: Real>(x: &[T], grad: Option<&mut [MaybeUninit<T>]>, t: RowTarget<'_, T>) -> T {
    let Some(y) = t.class else {
        if let Some(g) = grad {
            fill(g, T::ZERO);
        }
        return T::ZERO;
    };
    let (max, nan) = lane_max(x);
    if nan || max == T::NEG_INFINITY {
        if let Some(g) = grad {
            fill(g, T::NAN);
        }
        return T::NAN;
    }
    // The exponentials go straight into the gradient row when there is one.
    let (sum, grad) = match grad {
        Some(g) => {
            let sum = lane_exp_into(x, g, max);
            // SAFETY: lane_exp_into wrote every element.
            (sum, Some(unsafe { assume_init(g) }))
        }
        None => (lane_sum(x, |v| (v - max).exp()), None),
    };
    // Losses are taken relative to the maximum, `lse - x_c = ln(sum) - (x_c - max)`: at
    // logits of 1e4 the absolute `lse` has no f32 digits left for the difference.
    let log_sum = sum.ln();
    let nll = t.class_weight * (log_sum - (x[y] - max));
    let smooth_sum = if t.smooth == T::ZERO {
        T::ZERO
    } else {
        match t.weights {
            Some(w) => lane_sum2(x, w, |v, wj| wj * (log_sum - (v - max))),
            None => lane_sum(x, |v| log_sum - (v - max)),
        }
    };
    if let Some(g) = grad {
        let weight_total = match t.weights {
            Some(w) => lane_sum(w, |v| v),
            None => T::from_f64(x.len() as f64),
        };
        let scale = t.grad_scale * (t.keep * t.class_weight + t.smooth * weight_total) / sum;
        let shift = t.grad_scale * t.smooth;
        match t.weights {
            Some(w) if t.smooth != T::ZERO => {
                for (gj, &wj) in g.iter_mut().zip(w) {
                    *gj = *gj * scale - shift * wj;
                }
            }
            _ => {
                for gj in g.iter_mut() {
                    *gj = *gj * scale - shift;
                }
            }
        }
        g[y] = g[y] - t.grad_scale * t.keep * t.class_weight;
    }
    t.keep * nll + t.smooth * smooth_sum
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_exp_is_accurate_to_a_few_ulp() {
        let mut worst = 0.0f64;
        let mut x = -87.0f32;
        while x < 88.0 {
            let got = Real::exp(x) as f64;
            let want = (x as f64).exp();
            worst = worst.max(((got - want) / want).abs());
            x += 0.001_37;
        }
        assert!(worst < 3.0 * f32::EPSILON as f64, "relative error {worst:e}");
        assert_eq!(Real::exp(0.0f32), 1.0);
        assert!(Real::exp(-1e4f32) < 1e-37);
    }

    #[test]
    fn fast_logs_are_accurate() {
        let mut worst = 0.0f64;
        for i in 0..=20_000 {
            let u = i as f32 / 20_000.0;
            let want = (u as f64).ln_1p();
            if want > 0.0 {
                worst = worst.max(((Real::ln_1p_unit(u) as f64 - want) / want).abs());
            }
            let v = 1e-30f32 * 1.004f32.powi(i);
            let lv = Real::ln_positive(v) as f64;
            worst = worst.max((lv - (v as f64).ln()).abs() / (v as f64).ln().abs().max(1.0));
        }
        assert!(worst < 4.0 * f32::EPSILON as f64, "relative error {worst:e}");
        assert_eq!(Real::ln_1p_unit(1e-30f32), 1e-30);
        assert_eq!(Real::ln_positive(0.0f32), f32::NEG_INFINITY);
    }

    #[test]
    fn row_matches_the_textbook_formula() {
        let x = [2.0f64, 1.0, 0.1];
        let mut g = [MaybeUninit::new(0.0); 3];
        let t = RowTarget { class: Some(0), class_weight: 1.0, weights: None, smooth: 0.0, keep: 1.0, grad_scale: 1.0 };
        let loss = cross_entropy_row(&x, Some(&mut g), t);
        let s: f64 = x.iter().map(|v| v.exp()).sum();
        // SAFETY: the row kernel writes every element.
        let g = unsafe { assume_init(&mut g) };
        assert!((loss - (s.ln() - 2.0)).abs() < 1e-15);
        assert!((g[0] - (2f64.exp() / s - 1.0)).abs() < 1e-15);
        assert!((g[1] - 1f64.exp() / s).abs() < 1e-15);
    }
}
