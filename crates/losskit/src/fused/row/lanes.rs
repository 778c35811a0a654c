//! Reductions over a row in independent vector lanes, and the row's exponential pass.

use super::Between;
use crate::fused::math::Real;
use crate::fused::simd::{Fma, prefetch};

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
pub(super) fn lane_fold<T: Real>(x: &[T], init: T, f: impl Fn(T, T) -> T) -> T {
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
pub(super) fn lane_sum<T: Real>(x: &[T], f: impl Fn(T) -> T) -> T {
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
pub(super) fn lane_sum2<T: Real>(x: &[T], w: &[T], f: impl Fn(T, T) -> T) -> T {
    let mut acc = [T::ZERO; LANES];
    let chunks = x.chunks_exact(LANES).zip(w.chunks_exact(LANES));
    for (cx, cw) in chunks {
        for k in 0..LANES {
            acc[k] = acc[k] + f(cx[k], cw[k]);
        }
    }
    let done = x.len() / LANES * LANES;
    let tail = x[done..]
        .iter()
        .zip(&w[done..])
        .fold(T::ZERO, |a, (&v, &u)| a + f(v, u));
    acc.iter().fold(tail, |a, &v| a + v)
}

/// `sum_j f(x_j, t_j, w_j)` over lanes.
#[inline(always)]
pub(super) fn lane_sum3<T: Real>(x: &[T], t: &[T], w: &[T], f: impl Fn(T, T, T) -> T) -> T {
    let mut acc = [T::ZERO; LANES];
    let chunks = x
        .chunks_exact(LANES)
        .zip(t.chunks_exact(LANES))
        .zip(w.chunks_exact(LANES));
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
pub(super) fn lane_exp_into<T: Real>(
    fma: impl Fma,
    x: &[T],
    e: &mut [T],
    max: T,
    next: &[T],
    between: &mut impl Between,
) -> T {
    let per_line = 64 / core::mem::size_of::<T>();
    let n = x.len();
    let wide_end = n / WIDE * WIDE;
    let (mut s0, mut s1, mut s2, mut s3) = ([T::ZERO; LANES], [T::ZERO; LANES], [T::ZERO; LANES], [T::ZERO; LANES]);
    for (i, (cx, ce)) in x[..wide_end]
        .chunks_exact(WIDE)
        .zip(e[..wide_end].chunks_exact_mut(WIDE))
        .enumerate()
    {
        for line in (i * WIDE..(i + 1) * WIDE).step_by(per_line) {
            if line < next.len() {
                prefetch(next[line..].as_ptr());
            }
        }
        for k in 0..LANES {
            let (e0, e1) = ((cx[k] - max).exp_with(fma), (cx[LANES + k] - max).exp_with(fma));
            let (e2, e3) = (
                (cx[2 * LANES + k] - max).exp_with(fma),
                (cx[3 * LANES + k] - max).exp_with(fma),
            );
            (ce[k], ce[LANES + k], ce[2 * LANES + k], ce[3 * LANES + k]) = (e0, e1, e2, e3);
            (s0[k], s1[k], s2[k], s3[k]) = (s0[k] + e0, s1[k] + e1, s2[k] + e2, s3[k] + e3);
        }
        between.at((i + 1) * WIDE);
    }
    let mut j = wide_end;
    while j < n {
        // Whole vectors to the end: the last one overlaps the one before when the length is
        // not a multiple of the vector, and rewrites the same values; scalar only below one.
        let start = if j + LANES <= n {
            j
        } else if n >= LANES {
            n - LANES
        } else {
            j
        };
        let end = (start + LANES).min(n);
        for (ej, &v) in e[start..end].iter_mut().zip(&x[start..end]) {
            *ej = (v - max).exp_with(fma);
        }
        j = end;
    }
    let tail = e[wide_end..].iter().fold(T::ZERO, |a, &v| a + v);
    (0..LANES).fold(tail, |a, k| a + ((s0[k] + s1[k]) + (s2[k] + s3[k])))
}
