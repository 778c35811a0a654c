//! Tensors from plain vectors and values back, on flex with autodiff.

#![allow(dead_code)]

pub mod sequence;

use burn::tensor::{DType, Device, Int, Tensor, TensorData};
use losskit::Reduction;

pub fn device() -> Device {
    Device::flex().autodiff()
}

pub fn float<const D: usize>(values: &[f64], dims: [usize; D], dtype: DType) -> Tensor<D> {
    Tensor::from_data(TensorData::new(values.to_vec(), dims), (&device(), dtype))
}

pub fn f64s<const D: usize>(values: &[f64], dims: [usize; D]) -> Tensor<D> {
    float(values, dims, DType::F64)
}

pub fn ints<const D: usize>(values: &[i64], dims: [usize; D]) -> Tensor<D, Int> {
    Tensor::from_data(TensorData::new(values.to_vec(), dims), &device())
}

pub fn read<const D: usize>(t: Tensor<D>) -> Vec<f64> {
    t.try_into_vec_as::<f64>().unwrap()
}

pub fn scalar<const D: usize>(t: Tensor<D>) -> f64 {
    let v = read(t);
    assert_eq!(v.len(), 1, "a reduced loss holds one value");
    v[0]
}

/// The value of `f(x)` and its gradient from burn's autodiff.
pub fn value_and_grad<const D: usize, const O: usize>(
    x: &[f64],
    dims: [usize; D],
    dtype: DType,
    f: impl Fn(Tensor<D>) -> Tensor<O>,
) -> (f64, Vec<f64>) {
    let leaf = float(x, dims, dtype).require_grad();
    let out = f(leaf.clone()).sum();
    let value = scalar(out.clone());
    let grads = out.backward();
    (value, read(leaf.grad(&grads).expect("the loss depends on its input")))
}

/// Central finite differences of `sum(f(x))` in f64.
pub fn numeric_grad<const D: usize, const O: usize>(
    x: &[f64],
    dims: [usize; D],
    f: impl Fn(Tensor<D>) -> Tensor<O>,
) -> Vec<f64> {
    let h = 1e-6;
    (0..x.len())
        .map(|i| {
            let mut plus = x.to_vec();
            let mut minus = x.to_vec();
            plus[i] += h;
            minus[i] -= h;
            let fp = scalar(f(f64s(&plus, dims)).sum());
            let fm = scalar(f(f64s(&minus, dims)).sum());
            (fp - fm) / (2.0 * h)
        })
        .collect()
}

pub fn assert_close(got: &[f64], want: &[f64], rtol: f64, atol: f64, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= atol + rtol * w.abs() || (g.is_nan() && w.is_nan()) || g == w,
            "{what}[{i}]: got {g:e}, want {w:e}"
        );
    }
}

/// A deterministic pseudo-random sequence in [lo, hi), so that tests need no RNG crate.
pub fn uniform(n: usize, seed: u64, lo: f64, hi: f64) -> Vec<f64> {
    let mut s = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            lo + (hi - lo) * ((s >> 11) as f64 / (1u64 << 53) as f64)
        })
        .collect()
}

/// PyTorch's three reductions, for tests that loop over them: `None` is a loss's
/// `forward_no_reduction`, the others its `forward` with that `Reduction` configured.
pub const REDUCTIONS: [Option<Reduction>; 3] = [None, Some(Reduction::Mean), Some(Reduction::Sum)];

/// The configured reduction of a loss built for `r`.
pub fn configured(r: Option<Reduction>) -> Reduction {
    r.unwrap_or_default()
}

/// `forward` (as `[1; T]`) or `forward_no_reduction`, by `r`.
pub fn by<const T: usize, E: std::fmt::Debug>(
    r: Option<Reduction>,
    reduced: impl FnOnce() -> Result<Tensor<1>, E>,
    unreduced: impl FnOnce() -> Result<Tensor<T>, E>,
) -> Tensor<T> {
    match r {
        None => unreduced().unwrap(),
        Some(_) => reduced().unwrap().reshape([1; T]),
    }
}
