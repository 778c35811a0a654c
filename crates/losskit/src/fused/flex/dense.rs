//! The dense layer on flex storage: the bias written first and the product added to it,
//! the ReLU in place; each large product split over the threads along its longer side
//! ([`matmul_split`]).

use burn_flex::FlexTensor;

use super::{FlexReal, contiguous, data, gradient, tensor};
use crate::fused::dense::{DenseGradients, DenseGrads};
use crate::fused::gemm::{MatMut, MatRef, Write, matmul_split};
use crate::fused::mem::written;
use burn::backend::Flex;

/// `input @ weight + bias` of `input` `(n, k)`, `weight` `(k, m)` and `bias` `(m)` or
/// empty, then ReLU with `relu`.
pub(super) fn run_dense<T: FlexReal>(
    input: &FlexTensor,
    weight: &FlexTensor,
    bias: &FlexTensor,
    relu: bool,
) -> FlexTensor {
    let (n, k) = (input.layout().shape()[0], input.layout().shape()[1]);
    let m = weight.layout().shape()[1];
    let (input, weight, bias) = (contiguous::<T>(input), contiguous::<T>(weight), contiguous::<T>(bias));
    let b = data::<T>(&bias);
    let (x, w) = (
        MatRef::row_major(data::<T>(&input), n, k),
        MatRef::row_major(data::<T>(&weight), k, m),
    );
    let mut out = if b.is_empty() {
        // SAFETY: the uninitialised view is an overwriting product's destination alone,
        // which never reads it and writes every element.
        unsafe {
            written(n * m, |out| {
                matmul_split(MatMut::uninit(out, n, m), Write::Overwrite, x, w)
            })
        }
    } else {
        let mut out = b.repeat(n);
        matmul_split(MatMut::row_major(&mut out, n, m), Write::Accumulate, x, w);
        out
    };
    if relu {
        // burn's ReLU: 0 where the value is not positive, NaN kept (a select that every
        // element stores, which vectorises, where a conditional store does not).
        for v in &mut out {
            *v = T::select(*v <= T::ZERO, T::ZERO, *v);
        }
    }
    tensor(out, vec![n, m])
}

/// The gradients `wants` asks for of the dense layer that gave `output` from `input` and
/// `weight`, for the upstream `grad` `(n, m)`.
pub(super) fn run_dense_backward<T: FlexReal>(
    input: &FlexTensor,
    weight: &FlexTensor,
    output: &FlexTensor,
    grad: &FlexTensor,
    wants: DenseGrads,
) -> DenseGradients<Flex> {
    let (n, k) = (input.layout().shape()[0], input.layout().shape()[1]);
    let m = weight.layout().shape()[1];
    let grad = contiguous::<T>(grad);
    let mut g = data::<T>(&grad).to_vec();
    if wants.relu {
        // The ReLU passes a gradient where its output is positive or NaN (burn's and
        // PyTorch's: derivative 0 at 0, a NaN's gradient passed on).
        let output = contiguous::<T>(output);
        for (g, &y) in g.iter_mut().zip(data::<T>(&output)) {
            *g = T::select(y <= T::ZERO, T::ZERO, *g);
        }
    }
    let g_mat = MatRef::row_major(&g, n, m);
    // The products overwrite their outputs, which are never zeroed first (a whole pass
    // over the weight's gradient each step otherwise).
    // SAFETY (both): the uninitialised views are the destinations of overwriting products
    // alone, which never read them and write every element.
    let input_grad = wants.input.then(|| unsafe {
        written(n * k, |dx| {
            let weight = contiguous::<T>(weight);
            let w = MatRef::row_major(data::<T>(&weight), k, m);
            matmul_split(MatMut::uninit(dx, n, k), Write::Overwrite, g_mat, w.t());
        })
    });
    let weight_grad = wants.weight.then(|| unsafe {
        written(k * m, |dw| {
            let input = contiguous::<T>(input);
            let x = MatRef::row_major(data::<T>(&input), n, k);
            matmul_split(MatMut::uninit(dw, k, m), Write::Overwrite, x.t(), g_mat);
        })
    });
    let bias_grad = wants.bias.then(|| {
        let mut db = vec![T::ZERO; m];
        for row in g.chunks_exact(m.max(1)) {
            for (d, &v) in db.iter_mut().zip(row) {
                *d = *d + v;
            }
        }
        db
    });
    DenseGradients {
        input: gradient(input_grad, vec![n, k]),
        weight: gradient(weight_grad, vec![k, m]),
        bias: gradient(bias_grad, vec![m]),
    }
}

#[cfg(test)]
mod tests {
    use burn::tensor::TensorData;

    use super::*;

    fn flex(values: Vec<f64>, shape: Vec<usize>) -> FlexTensor {
        FlexTensor::from_data(TensorData::new(values, shape))
    }

    fn values(t: &FlexTensor) -> Vec<f64> {
        t.as_slice::<f64>().expect("contiguous").to_vec()
    }

    /// Values in `[-1, 1]`.
    fn pattern(len: usize, seed: usize) -> Vec<f64> {
        (0..len)
            .map(|i| ((i * 7919 + seed * 104_729) % 2001) as f64 / 1000.0 - 1.0)
            .collect()
    }

    /// The kernels against the definition at `(n, k) -> m`: input row 0 all zeros and
    /// bias 0 at column 0, so that the ReLU meets an exact 0 there.
    fn check(n: usize, k: usize, m: usize) {
        let (mut x, w, mut b, g) = (pattern(n * k, 1), pattern(k * m, 2), pattern(m, 3), pattern(n * m, 4));
        x[..k].fill(0.0);
        b[0] = 0.0;
        let mut pre = vec![0.0; n * m];
        for i in 0..n {
            for j in 0..m {
                pre[i * m + j] = b[j] + (0..k).map(|c| x[i * k + c] * w[c * m + j]).sum::<f64>();
            }
        }
        assert_eq!(pre[0], 0.0);
        let out = run_dense::<f64>(
            &flex(x.clone(), vec![n, k]),
            &flex(w.clone(), vec![k, m]),
            &flex(b, vec![m]),
            true,
        );
        for (got, want) in values(&out).iter().zip(&pre) {
            assert!((got - want.max(0.0)).abs() < 1e-12, "{got} against relu({want})");
        }
        let wants = DenseGrads {
            input: true,
            weight: true,
            bias: true,
            relu: true,
        };
        let grads = run_dense_backward::<f64>(
            &flex(x.clone(), vec![n, k]),
            &flex(w.clone(), vec![k, m]),
            &out,
            &flex(g.clone(), vec![n, m]),
            wants,
        );
        // The ReLU's derivative from the definition: 1 where the pre-activation is positive.
        let masked: Vec<f64> = g
            .iter()
            .zip(&pre)
            .map(|(&g, &p)| if p > 0.0 { g } else { 0.0 })
            .collect();
        let (dx, dw, db) = (values(&grads.input), values(&grads.weight), values(&grads.bias));
        for i in 0..n {
            for c in 0..k {
                let want: f64 = (0..m).map(|j| masked[i * m + j] * w[c * m + j]).sum();
                assert!((dx[i * k + c] - want).abs() < 1e-11, "input gradient ({i}, {c})");
            }
        }
        for c in 0..k {
            for j in 0..m {
                let want: f64 = (0..n).map(|i| x[i * k + c] * masked[i * m + j]).sum();
                assert!((dw[c * m + j] - want).abs() < 1e-11, "weight gradient ({c}, {j})");
            }
        }
        for j in 0..m {
            let want: f64 = (0..n).map(|i| masked[i * m + j]).sum();
            assert!((db[j] - want).abs() < 1e-12, "bias gradient {j}");
        }
    }

    #[test]
    fn the_kernels_give_the_definitions_value_and_gradients() {
        // Below the split size; above it, split by columns (the output is wider than tall)
        // and by rows, on 3 threads so that the blocks are uneven, and on 1.
        check(5, 7, 3);
        for threads in [3, 1] {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            pool.install(|| {
                check(40, 150, 400);
                check(400, 150, 40);
            });
        }
    }

    #[test]
    fn a_nan_output_passes_its_gradient_as_burns_relu_does() {
        let x = flex(vec![f64::NAN, 1.0], vec![1, 2]);
        let w = flex(vec![1.0, -1.0], vec![2, 1]);
        let out = run_dense::<f64>(&x, &w, &flex(vec![], vec![0]), true);
        assert!(values(&out)[0].is_nan());
        let wants = DenseGrads {
            bias: false,
            ..Default::default()
        };
        let grads = run_dense_backward::<f64>(
            &x,
            &w,
            &out,
            &flex(vec![2.0], vec![1, 1]),
            DenseGrads {
                input: true,
                relu: true,
                ..wants
            },
        );
        assert_eq!(values(&grads.input), [2.0, -2.0]);
    }
}
