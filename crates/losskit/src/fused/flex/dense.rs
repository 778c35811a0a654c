//! The dense layer on flex storage: the bias written first and the product added to it,
//! the ReLU in place; every product split over the threads along its longer side.

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
        // SAFETY: an overwriting product writes every element of its destination.
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
        // The ReLU passes a gradient where its output is positive (burn's and PyTorch's
        // derivative 0 at 0).
        let output = contiguous::<T>(output);
        for (g, &y) in g.iter_mut().zip(data::<T>(&output)) {
            *g = T::select(y > T::ZERO, *g, T::ZERO);
        }
    }
    let g_mat = MatRef::row_major(&g, n, m);
    // The products overwrite their outputs, which are never zeroed first (a whole pass
    // over the weight's gradient each step otherwise).
    // SAFETY (both): an overwriting product writes every element of its destination.
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

    /// Values in `[-1, 1)`, a few exactly 0 so that the ReLU sees a tie.
    fn pattern(len: usize, seed: usize) -> Vec<f64> {
        (0..len)
            .map(|i| ((i * 7919 + seed * 104_729) % 2001) as f64 / 1000.0 - 1.0)
            .collect()
    }

    #[test]
    fn the_kernels_give_the_definitions_value_and_gradients() {
        // Past the column split's size, with a width that leaves a short last block.
        let (n, k, m) = (40, 70, 150);
        let (x, w, b, g) = (pattern(n * k, 1), pattern(k * m, 2), pattern(m, 3), pattern(n * m, 4));
        let out = run_dense::<f64>(
            &flex(x.clone(), vec![n, k]),
            &flex(w.clone(), vec![k, m]),
            &flex(b.clone(), vec![m]),
            true,
        );
        let mut pre = vec![0.0; n * m];
        for i in 0..n {
            for j in 0..m {
                pre[i * m + j] = b[j] + (0..k).map(|c| x[i * k + c] * w[c * m + j]).sum::<f64>();
            }
        }
        let out_values = values(&out);
        for (got, want) in out_values.iter().zip(&pre) {
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
        let masked: Vec<f64> = g
            .iter()
            .zip(&out_values)
            .map(|(&g, &y)| if y > 0.0 { g } else { 0.0 })
            .collect();
        let dx = values(&grads.input);
        let dw = values(&grads.weight);
        let db = values(&grads.bias);
        for i in 0..n {
            for c in 0..k {
                let want: f64 = (0..m).map(|j| masked[i * m + j] * w[c * m + j]).sum();
                assert!((dx[i * k + c] - want).abs() < 1e-12);
            }
        }
        for c in 0..k {
            for j in 0..m {
                let want: f64 = (0..n).map(|i| x[i * k + c] * masked[i * m + j]).sum();
                assert!((dw[c * m + j] - want).abs() < 1e-12);
            }
        }
        for j in 0..m {
            let want: f64 = (0..n).map(|i| masked[i * m + j]).sum();
            assert!((db[j] - want).abs() < 1e-12);
        }
    }
}
