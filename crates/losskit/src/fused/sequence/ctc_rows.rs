//! The row kernels of the CTC lattices: loops over positions in whole blocks of [`LANES`],
//! each compiled per vector unit (`fused::simd::multiversion!`).

use super::logspace::exp;
use super::scaled::{ZERO_K, from_log, normalise, pow2, sum3};
use crate::fused::math::Real;
use crate::fused::simd::multiversion;

const NEG_INF: f64 = f64::NEG_INFINITY;

/// Lanes of the row loops: every row is padded to a multiple, so the loops run in fixed-size
/// blocks that LLVM turns into vector code without a scalar remainder.
pub(super) const LANES: usize = 8;

/// `&s[start..start + LANES]` as an array.
#[inline(always)]
fn lanes(s: &[f64], start: usize) -> &[f64; LANES] {
    s[start..start + LANES].try_into().expect("a block of LANES values")
}

/// `&mut s[start..start + LANES]` as an array.
#[inline(always)]
fn lanes_mut(s: &mut [f64], start: usize) -> &mut [f64; LANES] {
    (&mut s[start..start + LANES])
        .try_into()
        .expect("a block of LANES values")
}

/// One lattice of scaled numbers: mantissas and exponents, `rows` x `stride`.
pub(super) struct Lattice {
    pub f: Vec<f64>,
    pub k: Vec<f64>,
    pub stride: usize,
}

impl Lattice {
    /// All zero.
    pub(super) fn new(rows: usize, stride: usize) -> Self {
        Self {
            f: vec![0.0; rows * stride],
            k: vec![ZERO_K; rows * stride],
            stride,
        }
    }
}

/// Row buffers of one pass: a frame's emissions per class and per position.
pub(super) struct Emissions {
    pub class_f: Vec<f64>,
    pub class_k: Vec<f64>,
    pub f: Vec<f64>,
    pub k: Vec<f64>,
}

multiversion! {
    /// Row `cur` of `lattice` from row `prev`: alpha_t(s) = (alpha_{t-1}(s) + alpha_{t-1}(s-1)
    /// + [skip(s)] alpha_{t-1}(s-2)) e_t(s), in blocks of [`LANES`] positions.
    pub(super) fn alpha_row[](_fma, lattice: &mut Lattice, prev: usize, cur: usize, skip: &[f64], e: &Emissions) -> () {
        let padded = e.f.len();
        for j in (0..padded).step_by(LANES) {
            // Through local arrays: LLVM cannot tell that the rows read and written do not
            // overlap, and would not vectorise.
            let (mut out_f, mut out_k) = ([0.0; LANES], [0.0; LANES]);
            {
                let (stay_f, stay_k) = (lanes(&lattice.f, prev + j + 2), lanes(&lattice.k, prev + j + 2));
                let (step_f, step_k) = (lanes(&lattice.f, prev + j + 1), lanes(&lattice.k, prev + j + 1));
                let (jump_f, jump_k) = (lanes(&lattice.f, prev + j), lanes(&lattice.k, prev + j));
                let (skip, ef, ek) = (lanes(skip, j), lanes(&e.f, j), lanes(&e.k, j));
                for i in 0..LANES {
                    let (jf, jk) = if skip[i] != 0.0 { (jump_f[i], jump_k[i]) } else { (0.0, ZERO_K) };
                    let (sum, kmax) = sum3(jf, jk, step_f[i], step_k[i], stay_f[i], stay_k[i]);
                    (out_f[i], out_k[i]) = normalise(sum * ef[i], kmax + ek[i]);
                }
            }
            *lanes_mut(&mut lattice.f, cur + j + 2) = out_f;
            *lanes_mut(&mut lattice.k, cur + j + 2) = out_k;
        }
    }
}

multiversion! {
    /// Row t of the b lattice from row t + 1: first B(s) = b_{t+1}(s) e_{t+1}(s) into `next`
    /// (whose two last columns stay zero), then b_t(s) = B(s) + B(s+1) + [skip(s+2)] B(s+2),
    /// in blocks of [`LANES`] positions.
    pub(super) fn beta_row[](_fma, lattice: &mut Lattice, next: &mut Lattice, t: usize, skip: &[f64], e: &Emissions) -> () {
        let padded = e.f.len();
        let (row, cur) = ((t + 1) * padded, t * padded);
        // Each block goes through local arrays: LLVM cannot tell that two lattices' buffers
        // do not overlap, and would not vectorise a loop reading one and writing the other.
        for j in (0..padded).step_by(LANES) {
            let (mut out_f, mut out_k) = ([0.0; LANES], [0.0; LANES]);
            let (bf, bk) = (lanes(&lattice.f, row + j), lanes(&lattice.k, row + j));
            let (ef, ek) = (lanes(&e.f, j), lanes(&e.k, j));
            for i in 0..LANES {
                out_f[i] = bf[i] * ef[i];
                out_k[i] = bk[i] + ek[i];
            }
            *lanes_mut(&mut next.f, j) = out_f;
            *lanes_mut(&mut next.k, j) = out_k;
        }
        for j in (0..padded).step_by(LANES) {
            let (mut out_f, mut out_k) = ([0.0; LANES], [0.0; LANES]);
            let (stay_f, stay_k) = (lanes(&next.f, j), lanes(&next.k, j));
            let (step_f, step_k) = (lanes(&next.f, j + 1), lanes(&next.k, j + 1));
            let (jump_f, jump_k) = (lanes(&next.f, j + 2), lanes(&next.k, j + 2));
            let skip = lanes(skip, j + 2);
            for i in 0..LANES {
                let (jf, jk) = if skip[i] != 0.0 { (jump_f[i], jump_k[i]) } else { (0.0, ZERO_K) };
                let (sum, kmax) = sum3(jf, jk, step_f[i], step_k[i], stay_f[i], stay_k[i]);
                (out_f[i], out_k[i]) = normalise(sum, kmax);
            }
            *lanes_mut(&mut lattice.f, cur + j) = out_f;
            *lanes_mut(&mut lattice.k, cur + j) = out_k;
        }
    }
}

multiversion! {
    /// The occupations of frame t, gamma_t(s) = alpha_t(s) b_t(s) / P, with P =
    /// `2^likelihood_k / inverse`.
    pub(super) fn occupations[](_fma, alpha: &Lattice, beta: &Lattice, t: usize, likelihood_k: f64, inverse: f64, gamma: &mut [f64]) -> () {
        let (a, b) = (t * alpha.stride + 2, t * beta.stride);
        for j in (0..gamma.len()).step_by(LANES) {
            let (af, ak) = (lanes(&alpha.f, a + j), lanes(&alpha.k, a + j));
            let (bf, bk) = (lanes(&beta.f, b + j), lanes(&beta.k, b + j));
            let mut g = [0.0; LANES];
            for i in 0..LANES {
                g[i] = af[i] * bf[i] * inverse * pow2(ak[i] + bk[i] - likelihood_k);
            }
            *lanes_mut(gamma, j) = g;
        }
    }
}

multiversion! {
    /// A frame's log-probabilities as scaled numbers, in place (`f` holds them on entry),
    /// in blocks of [`LANES`].
    pub(super) fn scale_emissions[](fma, f: &mut [f64], k: &mut [f64]) -> () {
        for j in (0..f.len()).step_by(LANES) {
            let (mut out_f, mut out_k) = ([0.0; LANES], [0.0; LANES]);
            let x = lanes(f, j);
            for i in 0..LANES {
                (out_f[i], out_k[i]) = from_log(fma, x[i]);
            }
            *lanes_mut(f, j) = out_f;
            *lanes_mut(k, j) = out_k;
        }
    }
}

multiversion! {
    /// PyTorch's gradient row times the sample's weight: `(exp(y_t(c)) - occupied[c]) *
    /// weight`, NaN where y_t(c) = -inf (where PyTorch computes -inf - -inf).
    pub(super) fn gradient_row[T: Real](fma, frame: &[T], occupied: &[f64], weight: f64, out: &mut [T]) -> () {
        for ((o, &y), &occupied) in out.iter_mut().zip(frame).zip(occupied) {
            let y = y.to_f64();
            *o = T::from_f64(if y == NEG_INF { f64::NAN } else { (exp(fma, y) - occupied) * weight });
        }
    }
}
