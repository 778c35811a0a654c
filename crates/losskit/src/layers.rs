//! burn's `Linear` layer, alone or followed by a ReLU, as one fused call on the flex
//! backend: the training loop's layers, whose short products (a batch of rows against a
//! layer's weight) the `gemm` crate splits over two threads so that they run slower than
//! on one. Here each product is split along its longer side, one block per thread, and the
//! bias and the ReLU are written in the same call; the backward is one call too. Other backends,
//! dtypes, or [`with_composed`](crate::with_composed) run burn's own `Linear::forward`
//! (and `relu`), which gives the same values up to rounding (the products' sums may be
//! blocked differently). Products below about 2 million multiply-adds stay on one thread.

use burn::nn::Linear;
use burn::tensor::Tensor;
use burn::tensor::activation::relu;

use crate::LossError;
use crate::fused;

/// `layer.forward(input)`: `input @ weight + bias`, PyTorch's `F.linear(input, W^T, b)`.
///
/// # Shapes
/// - `input`: `(N, d_input)`; output `(N, d_output)`.
///
/// # Errors
/// [`LossError::Shape`] when `input`'s last dimension is not the layer's `d_input`, or the
/// bias is not `(d_output)`.
pub fn linear(layer: &Linear, input: Tensor<2>) -> Result<Tensor<2>, LossError> {
    forward(layer, input, false)
}

/// `relu(layer.forward(input))`, PyTorch's `F.relu(F.linear(input, W^T, b))`; the ReLU's
/// derivative is 0 at 0, as both libraries'.
///
/// # Shapes
/// - `input`: `(N, d_input)`; output `(N, d_output)`.
///
/// # Errors
/// [`LossError::Shape`] when `input`'s last dimension is not the layer's `d_input`, or the
/// bias is not `(d_output)`.
pub fn linear_relu(layer: &Linear, input: Tensor<2>) -> Result<Tensor<2>, LossError> {
    forward(layer, input, true)
}

fn forward(layer: &Linear, input: Tensor<2>, with_relu: bool) -> Result<Tensor<2>, LossError> {
    let weight = layer.weight.val();
    let [d_input, d_output] = weight.dims();
    let [n, features] = input.dims();
    if features != d_input {
        return Err(LossError::Shape(format!(
            "the layer takes (N, {d_input}) inputs (its weight is ({d_input}, {d_output})), got ({n}, {features})"
        )));
    }
    let bias = layer.bias.as_ref().map(|b| b.val());
    // `Linear`'s fields are public: a bias of another length would misalign the rows.
    if let Some(dims) = bias.as_ref().map(|b| b.dims()).filter(|&[len]| len != d_output) {
        return Err(LossError::Shape(format!(
            "the layer's bias must be ({d_output}) for its ({d_input}, {d_output}) weight, got {dims:?}"
        )));
    }
    if let Some(out) = fused::dense(&input, &weight, bias.as_ref(), with_relu) {
        return Ok(out);
    }
    let out = layer.forward(input);
    Ok(if with_relu { relu(out) } else { out })
}
