//! The fused row kernels (cross entropy, NLL, softmax focal, softmax): max, sum of
//! exponentials, loss and gradient of one row in passes over data that stays in cache,
//! written so that LLVM vectorises them.

use core::mem::MaybeUninit;

/// Float types the kernel runs in, each with an `exp` good to its precision.
pub(crate) trait Real:
    Copy + Default + Send + Sync + PartialOrd + core::ops::Add<Output = Self> + core::ops::Sub<Output = Self>
    + core::ops::Mul<Output = Self> + core::ops::Div<Output = Self> + 'static
{
    const ZERO: Self;
    const ONE: Self;
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
        let p = [1.0 / 13.0, 1.0 / 11.0, 1.0 / 9.0, 1.0 / 7.0, 1.0 / 5.0, 1.0 / 3.0, 1.0].into_iter().fold(1.0 / 15.0, horner);
        2.0 * z * p
    }

    /// `v = 2^k m` with `m` in `[1, 2)`: `k ln2 + ln(1 + (m - 1))`. Denormals count as 0.
    #[inline(always)]
    fn ln_positive(self, fma: impl Fma) -> Self {
        let bits = self.to_bits();
        let k = ((bits >> 23) & 0xff) as i32 - 127;
        let m = f32::from_bits((bits & 0x007f_ffff) | 0x3f80_0000);
        let value = k as f32 * core::f32::consts::LN_2 + (m - 1.0).ln_1p_unit(fma);
        if self < f32::MIN_POSITIVE { f32::NEG_INFINITY } else { value }
    }

    #[inline(always)]
    fn mul_add(self, a: Self, b: Self) -> Self {
        f32::mul_add(self, a, b)
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

    fn from_f64(v: f64) -> Self {
        v
    }

    fn to_f64(self) -> f64 {
        self
    }
}

/// Whether the code around runs on a vector unit with fused multiply-add (AVX2, AVX-512,
/// Arm): there `a * b + c` in the polynomials is one instruction and one rounding; without
/// it, `mul_add` would be a library call per element, so the steps stay apart.
pub(crate) trait Fma: Copy {
    const ON: bool;

    #[inline(always)]
    fn mul_add<T: Real>(self, a: T, b: T, c: T) -> T {
        if Self::ON { a.mul_add(b, c) } else { a * b + c }
    }
}

/// Fused multiply-add is there.
#[derive(Clone, Copy)]
pub(crate) struct Fused;

/// Multiply and add stay two steps.
#[derive(Clone, Copy)]
pub(crate) struct Unfused;

impl Fma for Fused {
    const ON: bool = true;
}

impl Fma for Unfused {
    const ON: bool = false;
}

/// What the baseline build (no run-time choice) has.
#[cfg(any(target_arch = "aarch64", target_feature = "fma"))]
pub(crate) const BASELINE: Fused = Fused;
#[cfg(not(any(target_arch = "aarch64", target_feature = "fma")))]
pub(crate) const BASELINE: Unfused = Unfused;

/// Orders the non-temporal stores of [`stream_block`] before whatever follows (the
/// hand-off of the written rows to another thread).
#[inline(always)]
pub(crate) fn stream_fence() {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: `sfence` has no preconditions (SSE is part of x86_64).
    unsafe {
        core::arch::x86_64::_mm_sfence()
    };
}

/// Asks for the cache line at `p` to be brought into L2: the next row is read from memory
/// while this one is computed. Never faults, whatever `p` points at.
#[inline(always)]
fn prefetch<T>(p: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is a hint; it does not dereference `p` architecturally.
    unsafe {
        use core::arch::x86_64::{_MM_HINT_T1, _mm_prefetch};
        _mm_prefetch::<_MM_HINT_T1>(p.cast())
    };
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// Independent accumulators per reduction: strict IEEE order forbids LLVM from vectorising
/// a single running sum, but sixteen separate ones map onto vector lanes.
const LANES: usize = 16;

/// Elements per iteration of the hot loops: four vectors of sixteen f32, independent of one
/// another, so that each add's (or exponential's) latency hides behind the next three.
const WIDE: usize = 4 * LANES;

/// `f(...f(f(init, x_0), x_1)..., x_n)` for an associative and commutative `f`, in four
/// independent vectors of lanes (four arrays LLVM keeps in registers, where one array of
/// sixty-four it would keep in memory).
#[inline(always)]
fn lane_fold<T: Real>(x: &[T], init: T, f: impl Fn(T, T) -> T) -> T {
    let (mut a0, mut a1, mut a2, mut a3) = ([init; LANES], [init; LANES], [init; LANES], [init; LANES]);
    let mut chunks = x.chunks_exact(WIDE);
    for chunk in &mut chunks {
        let (c0, rest) = chunk.split_at(LANES);
        let (c1, rest) = rest.split_at(LANES);
        let (c2, c3) = rest.split_at(LANES);
        for k in 0..LANES {
            a0[k] = f(a0[k], c0[k]);
            a1[k] = f(a1[k], c1[k]);
            a2[k] = f(a2[k], c2[k]);
            a3[k] = f(a3[k], c3[k]);
        }
    }
    let mut rest = chunks.remainder().chunks_exact(LANES);
    for chunk in &mut rest {
        for k in 0..LANES {
            a0[k] = f(a0[k], chunk[k]);
        }
    }
    let mut total = rest.remainder().iter().fold(init, |a, &v| f(a, v));
    for k in 0..LANES {
        total = f(total, f(f(a0[k], a1[k]), f(a2[k], a3[k])));
    }
    total
}

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

/// `sum_j f(x_j, t_j, w_j)` over lanes.
#[inline(always)]
fn lane_sum3<T: Real>(x: &[T], t: &[T], w: &[T], f: impl Fn(T, T, T) -> T) -> T {
    let mut acc = [T::ZERO; LANES];
    let chunks = x.chunks_exact(LANES).zip(t.chunks_exact(LANES)).zip(w.chunks_exact(LANES));
    for ((cx, ct), cw) in chunks {
        for k in 0..LANES {
            acc[k] = acc[k] + f(cx[k], ct[k], cw[k]);
        }
    }
    let done = x.len() / LANES * LANES;
    let tail = (done..x.len()).fold(T::ZERO, |a, j| a + f(x[j], t[j], w[j]));
    acc.iter().fold(tail, |a, &v| a + v)
}

/// `e_j = e^(x_j - max)` into the scratch row `e`, returning their sum. The lines of
/// `next` (what is read after `x`) are prefetched as the lines of `x` are consumed, and
/// `between` runs after each block of exponentials. The sum is kept in four vectors of
/// lanes as the exponentials are made (a second pass over `e` cost a quarter of the row's
/// time: LLVM kept its accumulators in memory).
#[inline(always)]
fn lane_exp_into<T: Real>(fma: impl Fma, x: &[T], e: &mut [T], max: T, next: &[T], between: &mut impl Between) -> T {
    let per_line = 64 / core::mem::size_of::<T>();
    let n = x.len();
    let wide_end = n / WIDE * WIDE;
    let (mut s0, mut s1, mut s2, mut s3) = ([T::ZERO; LANES], [T::ZERO; LANES], [T::ZERO; LANES], [T::ZERO; LANES]);
    for (i, (cx, ce)) in x[..wide_end].chunks_exact(WIDE).zip(e[..wide_end].chunks_exact_mut(WIDE)).enumerate() {
        for line in (i * WIDE..(i + 1) * WIDE).step_by(per_line) {
            if line < next.len() {
                prefetch(next[line..].as_ptr());
            }
        }
        for k in 0..LANES {
            let (e0, e1) = ((cx[k] - max).exp_with(fma), (cx[LANES + k] - max).exp_with(fma));
            let (e2, e3) = ((cx[2 * LANES + k] - max).exp_with(fma), (cx[3 * LANES + k] - max).exp_with(fma));
            (ce[k], ce[LANES + k], ce[2 * LANES + k], ce[3 * LANES + k]) = (e0, e1, e2, e3);
            (s0[k], s1[k], s2[k], s3[k]) = (s0[k] + e0, s1[k] + e1, s2[k] + e2, s3[k] + e3);
        }
        between.at((i + 1) * WIDE);
    }
    let mut j = wide_end;
    while j < n {
        // Whole vectors to the end: the last one overlaps the one before when the length is
        // not a multiple of the vector, and rewrites the same values; scalar only below one.
        let start = if j + LANES <= n { j } else if n >= LANES { n - LANES } else { j };
        let end = (start + LANES).min(n);
        for (ej, &v) in e[start..end].iter_mut().zip(&x[start..end]) {
            *ej = (v - max).exp_with(fma);
        }
        j = end;
    }
    let tail = e[wide_end..].iter().fold(T::ZERO, |a, &v| a + v);
    (0..LANES).fold(tail, |a, k| a + ((s0[k] + s1[k]) + (s2[k] + s3[k])))
}

/// Fills `g` with `value`.
#[inline(always)]
fn fill<T: Real>(g: &mut [MaybeUninit<T>], value: T) {
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

/// Elements per block of [`RowWriter`]: a whole number of cache lines for f32 and f64.
const BLOCK: usize = 64;

/// Copies `src` into `dst` (64-byte aligned, same length, whole cache lines) with
/// non-temporal stores: the lines go to memory without first being read for ownership, and
/// without evicting the data the kernel still reads. [`stream_fence`] orders them.
#[inline(always)]
fn stream_block<T: Real>(dst: &mut [MaybeUninit<T>], src: &[T]) {
    let bytes = core::mem::size_of_val(src);
    assert!(dst.len() == src.len() && bytes.is_multiple_of(64) && dst.as_ptr().align_offset(64) == 0);
    #[cfg(target_arch = "x86_64")]
    {
        let (d, s) = (dst.as_mut_ptr().cast::<u8>(), src.as_ptr().cast::<u8>());
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the feature is present; the ranges and alignment are asserted above.
            unsafe { stream_lines_avx512(d, s, bytes) };
        } else {
            // SAFETY: as above; SSE2 is part of x86_64.
            unsafe { stream_lines_sse2(d, s, bytes) };
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    for (d, &s) in dst.iter_mut().zip(src) {
        d.write(s);
    }
}

/// `bytes` (whole lines) from `src` to 64-byte aligned `dst`, one non-temporal store a line.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn stream_lines_avx512(dst: *mut u8, src: *const u8, bytes: usize) {
    use core::arch::x86_64::{_mm512_loadu_si512, _mm512_stream_si512};
    for offset in (0..bytes).step_by(64) {
        // SAFETY: the caller guarantees `bytes` valid bytes at both ends and the alignment.
        unsafe { _mm512_stream_si512(dst.add(offset).cast(), _mm512_loadu_si512(src.add(offset).cast())) };
    }
}

/// As [`stream_lines_avx512`], four 16-byte stores a line.
#[cfg(target_arch = "x86_64")]
unsafe fn stream_lines_sse2(dst: *mut u8, src: *const u8, bytes: usize) {
    use core::arch::x86_64::{_mm_loadu_si128, _mm_stream_si128};
    for offset in (0..bytes).step_by(16) {
        // SAFETY: the caller guarantees `bytes` valid bytes at both ends and the alignment.
        unsafe { _mm_stream_si128(dst.add(offset).cast(), _mm_loadu_si128(src.add(offset).cast())) };
    }
}

/// Something to run between the blocks of a row's exponential pass: the previous row's
/// output is written there, its stores overlapping this row's arithmetic.
pub(crate) trait Between {
    /// Runs once the first `upto` exponentials of the row are done.
    fn at(&mut self, upto: usize);
}

/// Nothing in between.
impl Between for () {
    #[inline(always)]
    fn at(&mut self, _: usize) {}
}

/// Writes one output row front to back, possibly over several calls: [`RowWriter::advance`]
/// writes up to a position, [`RowWriter::finish`] the rest, each element from a [`Write`]
/// and the rows it reads. With `stream`, whole blocks are computed into a buffer in L1 and
/// sent to memory with non-temporal stores: a gradient far larger than the caches then
/// costs one write of each line instead of a read and a write. The caller calls
/// [`stream_fence`] before the rows are handed on.
pub(crate) struct RowWriter<'a, T> {
    out: &'a mut [MaybeUninit<T>],
    stream: bool,
    /// Elements written so far.
    done: usize,
}

impl<'a, T: Real> RowWriter<'a, T> {
    pub(crate) fn new(out: &'a mut [MaybeUninit<T>], stream: bool) -> Self {
        Self { out, stream, done: 0 }
    }

    /// Writes the elements below `upto` (streamed: the whole blocks below it).
    #[inline(always)]
    pub(crate) fn advance(&mut self, upto: usize, write: &Write<T>, data: RowData<'_, T>) {
        let end = upto.min(self.out.len());
        if end <= self.done {
            return;
        }
        if !self.stream {
            write.fill(data, self.done, &mut self.out[self.done..end]);
            self.done = end;
            return;
        }
        // Up to the first 64-byte boundary with plain stores.
        let head = self.out.as_ptr().align_offset(64).min(end);
        if self.done < head {
            write.fill(data, self.done, &mut self.out[self.done..head]);
            self.done = head;
        }
        let mut buf = [MaybeUninit::<T>::uninit(); BLOCK];
        while self.done + BLOCK <= end {
            let j = self.done;
            write.fill(data, j, &mut buf);
            // SAFETY: `fill` wrote every element of the block.
            stream_block(&mut self.out[j..j + BLOCK], unsafe { assume_init(&mut buf) });
            self.done = j + BLOCK;
        }
    }

    /// Writes the rest of the row.
    #[inline(always)]
    pub(crate) fn finish(&mut self, write: &Write<T>, data: RowData<'_, T>) {
        let n = self.out.len();
        self.advance(n, write, data);
        if self.done < n {
            write.fill(data, self.done, &mut self.out[self.done..]);
            self.done = n;
        }
    }
}

/// Subtracts `delta` from element `y` of the row if it lies in the block starting at `j0`.
#[inline(always)]
fn shift_target<T: Real>(block: &mut [MaybeUninit<T>], j0: usize, y: usize, delta: T) {
    if let Some(b) = y.checked_sub(j0).and_then(|k| block.get_mut(k)) {
        // SAFETY: the block was written just before.
        let v = unsafe { b.assume_init() };
        b.write(v - delta);
    }
}

/// A row's softmax statistics: its maximum, `sum_j e^(x_j - max)` and its logarithm, with
/// `e^(x_j - max)` written into the scratch row `e`.
pub(crate) struct Exps<'e, T> {
    pub max: T,
    pub sum: T,
    pub log_sum: T,
    pub e: &'e mut [T],
}

/// The softmax statistics of `x`, or `None` when the row holds a NaN or is all -inf (then
/// everything computed from it is NaN, as in PyTorch). `between`: see [`lane_exp_into`].
#[inline(always)]
fn exps<'e, T: Real>(fma: impl Fma, x: &[T], e: &'e mut [T], next: &[T], between: &mut impl Between) -> Option<Exps<'e, T>> {
    // A NaN needs no test of its own: it makes the sum of exponentials NaN, as does an
    // infinite maximum (inf - inf) and a row of -inf (-inf - -inf).
    let max = lane_fold(x, T::NEG_INFINITY, T::max);
    let e = &mut e[..x.len()];
    let sum = lane_exp_into(fma, x, e, max, next, between);
    if sum.is_nan() {
        return None;
    }
    Some(Exps { max, sum, log_sum: sum.ln(), e })
}

/// One row of input with a scratch row (at least as long) and what is read next, to prefetch.
pub(crate) struct Input<'a, T> {
    pub x: &'a [T],
    pub scratch: &'a mut [T],
    pub next: &'a [T],
}

/// What a row writes into its output row, from the values its loss computed: the
/// description is small, so the writing can wait until the next row is under way.
#[derive(Clone, Copy)]
pub(crate) enum Write<T> {
    /// Every element `value` (an ignored row's 0, a NaN row's NaN), less `delta` at `target`.
    Fill { value: T, target: Option<(usize, T)> },
    /// `e_j scale - shift w_j` (`- shift` unless `weighted`), less `delta` at `target`.
    Softmax { scale: T, shift: T, weighted: bool, target: Option<(usize, T)> },
    /// `e_j scale - gs w_j (keep t_j + smooth)` for the probability row `t`.
    Probabilities { scale: T, gs: T, keep: T, smooth: T },
    /// `(x_j - max) - log_sum`: the log-softmax.
    Shifted { max: T, log_sum: T },
    /// `y_j (g_j - dot)`: softmax's backward, `y` the input row and `g` the other row.
    SoftmaxGrad { dot: T },
    /// `g_j - e^(y_j) total`: log-softmax's backward.
    LogSoftmaxGrad { total: T },
}

/// The rows a [`Write`] reads.
#[derive(Clone, Copy)]
pub(crate) struct RowData<'a, T> {
    /// The row's exponentials (the scratch row).
    pub e: &'a [T],
    /// The input row.
    pub x: &'a [T],
    /// The probability row, or the upstream gradient row of a softmax backward.
    pub other: &'a [T],
    /// The class weights.
    pub weights: Option<&'a [T]>,
}

impl<T: Real> Write<T> {
    /// Writes the elements `j0..j0 + block.len()` of the row.
    #[inline(always)]
    pub(crate) fn fill(&self, d: RowData<'_, T>, j0: usize, block: &mut [MaybeUninit<T>]) {
        let r = j0..j0 + block.len();
        match *self {
            Write::Fill { value, target } => {
                fill(block, value);
                if let Some((y, delta)) = target {
                    shift_target(block, j0, y, delta);
                }
            }
            Write::Softmax { scale, shift, weighted, target } => {
                let e = &d.e[r.clone()];
                match d.weights {
                    Some(w) if weighted => {
                        for ((o, &ej), &wj) in block.iter_mut().zip(e).zip(&w[r]) {
                            o.write(ej * scale - shift * wj);
                        }
                    }
                    _ => {
                        for (o, &ej) in block.iter_mut().zip(e) {
                            o.write(ej * scale - shift);
                        }
                    }
                }
                if let Some((y, delta)) = target {
                    shift_target(block, j0, y, delta);
                }
            }
            Write::Probabilities { scale, gs, keep, smooth } => {
                let (e, t) = (&d.e[r.clone()], &d.other[r.clone()]);
                match d.weights {
                    Some(w) => {
                        for (((o, &ej), &tj), &wj) in block.iter_mut().zip(e).zip(t).zip(&w[r]) {
                            o.write(ej * scale - gs * wj * (keep * tj + smooth));
                        }
                    }
                    None => {
                        for ((o, &ej), &tj) in block.iter_mut().zip(e).zip(t) {
                            o.write(ej * scale - gs * (keep * tj + smooth));
                        }
                    }
                }
            }
            Write::Shifted { max, log_sum } => {
                for (o, &v) in block.iter_mut().zip(&d.x[r]) {
                    o.write((v - max) - log_sum);
                }
            }
            Write::SoftmaxGrad { dot } => {
                for ((o, &y), &g) in block.iter_mut().zip(&d.x[r.clone()]).zip(&d.other[r]) {
                    o.write(y * (g - dot));
                }
            }
            Write::LogSoftmaxGrad { total } => {
                for ((o, &y), &g) in block.iter_mut().zip(&d.x[r.clone()]).zip(&d.other[r]) {
                    o.write(g - y.exp() * total);
                }
            }
        }
    }
}

/// The answer of a row that holds a NaN or is all -inf: NaN everywhere.
const fn nan_row<T: Real>() -> (T, Write<T>) {
    (T::NAN, Write::Fill { value: T::NAN, target: None })
}

/// The answer of an ignored row: no loss, no gradient.
const fn ignored_row<T: Real>() -> (T, Write<T>) {
    (T::ZERO, Write::Fill { value: T::ZERO, target: None })
}

/// What a class-index row's loss depends on besides its logits.
#[derive(Clone, Copy)]
pub(crate) struct RowTarget<'a, T> {
    /// The target class, `None` when the row is ignored.
    pub class: Option<usize>,
    /// `w[y]` (1 without class weights).
    pub class_weight: T,
    /// The class weights, or `None` for all-ones.
    pub weights: Option<&'a [T]>,
    /// `sum_c w_c` (C without class weights).
    pub weight_total: T,
    /// `label_smoothing / C`.
    pub smooth: T,
    /// `1 - label_smoothing`.
    pub keep: T,
    /// Factor on the gradient (the reduction's `1 / denominator`, or 1).
    pub grad_scale: T,
}

/// Cross entropy of one row of logits with a class index: the loss, and its gradient
/// `(sum_c a_c) softmax(x) - a` with `a = keep w[y] onehot(y) + smooth w`.
#[inline(always)]
pub(crate) fn cross_entropy_row<T: Real>(fma: impl Fma, input: Input<'_, T>, between: &mut impl Between, t: RowTarget<'_, T>) -> (T, Write<T>) {
    let x = input.x;
    let Some(y) = t.class else { return ignored_row() };
    let Some(s) = exps(fma, x, input.scratch, input.next, between) else { return nan_row() };
    // Losses are taken relative to the maximum, `lse - x_c = ln(sum) - (x_c - max)`: at
    // logits of 1e4 the absolute `lse` has no f32 digits left for the difference.
    let (max, log_sum) = (s.max, s.log_sum);
    let nll = t.class_weight * (log_sum - (x[y] - max));
    let smoothing = t.smooth != T::ZERO;
    let smooth_sum = match (smoothing, t.weights) {
        (false, _) => T::ZERO,
        (true, Some(w)) => lane_sum2(x, w, |v, wj| wj * (log_sum - (v - max))),
        (true, None) => lane_sum(x, |v| log_sum - (v - max)),
    };
    let write = Write::Softmax {
        scale: t.grad_scale * (t.keep * t.class_weight + t.smooth * t.weight_total) / s.sum,
        shift: t.grad_scale * t.smooth,
        weighted: smoothing && t.weights.is_some(),
        target: Some((y, t.grad_scale * t.keep * t.class_weight)),
    };
    (t.keep * nll + t.smooth * smooth_sum, write)
}

/// What a probability-target row's loss depends on besides its logits.
#[derive(Clone, Copy)]
pub(crate) struct ProbTarget<'a, T> {
    /// The target row.
    pub target: &'a [T],
    /// The class weights, or `None` for all-ones.
    pub weights: Option<&'a [T]>,
    /// `label_smoothing / C`.
    pub smooth: T,
    /// `1 - label_smoothing`.
    pub keep: T,
    /// Factor on the gradient.
    pub grad_scale: T,
}

/// Cross entropy of one row of logits with a probability row `t`: with
/// `a_j = w_j (keep t_j + smooth)` and `A = sum_j a_j`, the loss
/// `-sum_j a_j lp_j = A ln(sum) - sum_j a_j (x_j - max)` and the gradient `A softmax(x) - a`.
#[inline(always)]
pub(crate) fn probabilities_row<T: Real>(fma: impl Fma, input: Input<'_, T>, between: &mut impl Between, t: ProbTarget<'_, T>) -> (T, Write<T>) {
    let x = input.x;
    let Some(s) = exps(fma, x, input.scratch, input.next, between) else { return nan_row() };
    let (max, keep, smooth) = (s.max, t.keep, t.smooth);
    let (total, dot) = match t.weights {
        Some(w) => (
            lane_sum2(t.target, w, |tj, wj| wj * (keep * tj + smooth)),
            lane_sum3(x, t.target, w, |v, tj, wj| wj * (keep * tj + smooth) * (v - max)),
        ),
        None => (
            lane_sum(t.target, |tj| keep * tj + smooth),
            lane_sum2(x, t.target, |v, tj| (keep * tj + smooth) * (v - max)),
        ),
    };
    let write = Write::Probabilities { scale: t.grad_scale * total / s.sum, gs: t.grad_scale, keep, smooth };
    (total * s.log_sum - dot, write)
}

/// Negative log likelihood of one row of log-probabilities: `-w[y] x_y` (0 when ignored),
/// and the gradient `-w[y] onehot(y)`.
#[inline(always)]
pub(crate) fn nll_row<T: Real>(x: &[T], t: RowTarget<'_, T>) -> (T, Write<T>) {
    let Some(y) = t.class else { return ignored_row() };
    let write = Write::Fill { value: T::ZERO, target: Some((y, t.grad_scale * t.class_weight)) };
    (T::ZERO - t.class_weight * x[y], write)
}

/// What a softmax focal row's loss depends on besides its logits.
#[derive(Clone, Copy)]
pub(crate) struct FocalTarget<T> {
    /// The target class, `None` when the row is ignored.
    pub class: Option<usize>,
    /// `alpha` (scalar, or `alpha[y]`; 1 without alpha).
    pub alpha: T,
    pub gamma: T,
    /// Factor on the gradient.
    pub grad_scale: T,
}

/// Softmax focal loss of one row: `-alpha (1 - p)^gamma ln p` with `p = softmax(x)_y`, and
/// the gradient `K softmax(x) - K onehot(y)` with `K = alpha (1 - p)^gamma (1 - gamma ln(p) p / (1 - p))`.
///
/// Both `ln p = -ln(1 + r)` and `1 - p = r / (1 + r)` come from `r = sum_{j != y} e_j / e_y`,
/// the other classes summed apart from the target: `1 - p` keeps its digits as `p -> 1`,
/// where subtracting from one would leave none, and `ln(p) p / (1 - p) = -ln(1 + r) / r`
/// tends to -1.
#[inline(always)]
pub(crate) fn focal_row<T: Real>(fma: impl Fma, input: Input<'_, T>, between: &mut impl Between, t: FocalTarget<T>) -> (T, Write<T>) {
    let x = input.x;
    let Some(y) = t.class else { return ignored_row() };
    let Some(s) = exps(fma, x, input.scratch, input.next, between) else { return nan_row() };
    let e_y = s.e[y];
    s.e[y] = T::ZERO;
    let others = lane_sum(s.e, |v| v);
    s.e[y] = e_y;
    let r = others / e_y;
    // ln p: from r while it is small (accurate as p -> 1), else from the log-sum (e_y may
    // have underflowed, r = inf).
    let log_p = if r <= T::ONE { T::ZERO - r.ln_1p_unit(fma) } else { (x[y] - s.max) - s.log_sum };
    let log_p_over_r = if r == T::ZERO { T::ZERO - T::ONE } else { log_p / r };
    let modulating = if t.gamma == T::ZERO {
        T::ONE
    } else if others == T::ZERO {
        T::ZERO
    } else {
        (t.gamma * (others / s.sum).ln()).exp()
    };
    let k = t.grad_scale * t.alpha * modulating * (T::ONE - t.gamma * log_p_over_r);
    let write = Write::Softmax { scale: k / s.sum, shift: T::ZERO, weighted: false, target: Some((y, k)) };
    (T::ZERO - t.alpha * modulating * log_p, write)
}

/// Softmax (or, with `log`, log-softmax) of one row.
#[inline(always)]
pub(crate) fn softmax_row<T: Real>(fma: impl Fma, input: Input<'_, T>, between: &mut impl Between, log: bool) -> Write<T> {
    let Some(s) = exps(fma, input.x, input.scratch, input.next, between) else { return nan_row().1 };
    if log {
        Write::Shifted { max: s.max, log_sum: s.log_sum }
    } else {
        Write::Softmax { scale: T::ONE / s.sum, shift: T::ZERO, weighted: false, target: None }
    }
}

/// The gradient of one softmax row with respect to its input, from the output `y` and the
/// upstream gradient `g`: `y (g - sum_k g_k y_k)`; with `log` (`y` = log-softmax),
/// `g - e^y sum_k g_k`.
#[inline(always)]
pub(crate) fn softmax_backward_row<T: Real>(y: &[T], g: &[T], log: bool) -> Write<T> {
    if log {
        Write::LogSoftmaxGrad { total: lane_sum(g, |v| v) }
    } else {
        Write::SoftmaxGrad { dot: lane_sum2(y, g, |yj, gj| yj * gj) }
    }
}

#[cfg(test)]
mod tests {
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
            assert!(worst < 3.0 * f32::EPSILON as f64, "relative error {worst:e} (fused: {fused})");
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
    fn fast_logs_are_accurate() {
        for (worst, fused) in [(log_error(Unfused), false), (log_error(Fused), true)] {
            assert!(worst < 4.0 * f32::EPSILON as f64, "relative error {worst:e} (fused: {fused})");
        }
        assert_eq!(Real::ln_1p_unit(1e-30f32, Fused), 1e-30);
        assert_eq!(Real::ln_1p_unit(1e-30f32, Unfused), 1e-30);
        assert_eq!(Real::ln_positive(0.0f32, Fused), f32::NEG_INFINITY);
    }

    /// Runs a row function and writes its output row, as the driver does.
    fn run_row<T: Real>(x: &[T], row: impl FnOnce(Input<'_, T>) -> (T, Write<T>)) -> (T, Vec<T>) {
        let mut scratch = vec![T::ZERO; x.len()];
        let (loss, write) = row(Input { x, scratch: &mut scratch, next: &[] });
        let mut out = vec![MaybeUninit::uninit(); x.len()];
        let data = RowData { e: &scratch, x, other: &[], weights: None };
        RowWriter::new(&mut out, false).finish(&write, data);
        // SAFETY: `finish` wrote every element.
        (loss, unsafe { assume_init(&mut out) }.to_vec())
    }

    #[test]
    fn row_matches_the_textbook_formula() {
        let x = [2.0f64, 1.0, 0.1];
        let t = RowTarget { class: Some(0), class_weight: 1.0, weights: None, weight_total: 3.0, smooth: 0.0, keep: 1.0, grad_scale: 1.0 };
        let (loss, g) = run_row(&x, |input| cross_entropy_row(Unfused, input, &mut (), t));
        let s: f64 = x.iter().map(|v| v.exp()).sum();
        assert!((loss - (s.ln() - 2.0)).abs() < 1e-15);
        assert!((g[0] - (2f64.exp() / s - 1.0)).abs() < 1e-15);
        assert!((g[1] - 1f64.exp() / s).abs() < 1e-15);
    }

    #[test]
    fn streamed_rows_equal_cached_rows_at_every_length_alignment_and_step() {
        for len in [0usize, 1, 3, 4, 15, 16, 63, 64, 65, 127, 128, 200, 1000] {
            let x: Vec<f32> = (0..len).map(|j| j as f32 * 0.5 - 3.0).collect();
            // `(x_j - 0) - 0`: the row itself.
            let write = Write::Shifted { max: 0.0, log_sum: 0.0 };
            let data = RowData { e: &[], x: &x, other: &[], weights: None };
            for offset in 0..4 {
                for step in [1, 64, 100, len.max(1)] {
                    let mut streamed = vec![MaybeUninit::new(f32::NAN); len + offset];
                    let mut writer = RowWriter::new(&mut streamed[offset..], true);
                    for upto in (0..len).step_by(step) {
                        writer.advance(upto, &write, data);
                    }
                    writer.finish(&write, data);
                    stream_fence();
                    // SAFETY: initialised above.
                    let streamed = unsafe { assume_init(&mut streamed[offset..]) };
                    assert_eq!(streamed, x.as_slice(), "length {len}, offset {offset}, step {step}");
                }
            }
        }
    }

    #[test]
    fn focal_row_keeps_its_digits_as_p_tends_to_one() {
        // p = 1 / (1 + 2 e^-20): 1 - p is 4e-9, below f32's resolution near 1.
        let x = [20.0f32, 0.0, 0.0];
        let t = FocalTarget { class: Some(0), alpha: 1.0, gamma: 2.0, grad_scale: 1.0 };
        let (loss, g) = run_row(&x, |input| focal_row(Unfused, input, &mut (), t));
        let r = 2.0 * (-20.0f64).exp();
        let (one_minus_p, ln_p) = (r / (1.0 + r), -r.ln_1p());
        let want = -one_minus_p.powi(2) * ln_p;
        assert!(((loss as f64 - want) / want).abs() < 1e-5, "{loss:e} vs {want:e}");
        // K = (1-p)^2 (1 - 2 ln(p) p / (1-p)) ~ 3 (1-p)^2; the other classes get K e_j / sum.
        let k = one_minus_p.powi(2) * (1.0 - 2.0 * ln_p / r);
        assert!(((g[1] as f64 - k * r / 2.0 / (1.0 + r)) / (k * r / 2.0)).abs() < 1e-5);
    }
}
