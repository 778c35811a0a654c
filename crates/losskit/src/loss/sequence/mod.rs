//! What the two sequence losses share: lengths read and checked on the host, the reduction
//! over samples, and the composed lattices (tensor ops, what other backends run).

pub(crate) mod ctc_lattice;
mod log_space;
pub(crate) mod rnnt_lattice;

use burn::tensor::{Bool, Device, Int, Tensor, TensorData};

use crate::fused::SampleForm;
use crate::input::checks::indices;
use crate::{LossError, Reduction};

/// A lengths tensor `(N)` read on the host, refused at its first negative value.
pub(crate) fn host_lengths(name: &'static str, lengths: &Tensor<1, Int>) -> Result<Vec<usize>, LossError> {
    indices(lengths)
        .into_iter()
        .map(|value| usize::try_from(value).map_err(|_| LossError::NegativeLength { name, value }))
        .collect()
}

/// What a call returns for `reduction` (`None`: unreduced): each sample's loss, or their sum
/// with `mean_weight(n)` for a mean and 1 for a sum.
pub(crate) fn sample_form(
    reduction: Option<Reduction>,
    batch: usize,
    mean_weight: impl Fn(usize) -> f64,
) -> SampleForm {
    match reduction {
        None => SampleForm::PerSample,
        Some(Reduction::Sum) => SampleForm::WeightedSum(vec![1.0; batch]),
        Some(Reduction::Mean) => SampleForm::WeightedSum((0..batch).map(mean_weight).collect()),
    }
}

/// Per-sample losses `(N)` in `form`: themselves, or their weighted sum `[1]`.
pub(crate) fn in_form(losses: Tensor<1>, form: &SampleForm) -> Tensor<1> {
    match form {
        SampleForm::PerSample => losses,
        SampleForm::WeightedSum(weights) => {
            let weights = Tensor::<1>::from_data(
                TensorData::new(weights.clone(), [weights.len()]),
                (&losses.device(), losses.dtype()),
            );
            losses.mul(weights).sum().reshape([1])
        }
    }
}

/// A boolean tensor of `values` in `dims` on `device`.
fn flags<const D: usize>(values: Vec<bool>, dims: [usize; D], device: &Device) -> Tensor<D, Bool> {
    Tensor::from_data(TensorData::new(values, dims), device)
}

/// An index tensor of `values` in `dims` on `device`.
fn positions<const D: usize>(values: Vec<i64>, dims: [usize; D], device: &Device) -> Tensor<D, Int> {
    Tensor::from_data(TensorData::new(values, dims), device)
}

/// The slices of `tensor` along dimension 0, one per index. Each slice's backward writes a
/// zero tensor as large as what it was cut from, so slicing `len` rows off the whole tensor
/// would cost `len` whole-size tensors: the rows are cut in two levels instead, blocks of
/// about `sqrt(len)` rows and then their rows.
fn rows_of<const D: usize>(tensor: Tensor<D>) -> Vec<Tensor<D>> {
    let block = tensor.dims()[0].isqrt().max(1);
    tensor.split(block, 0).into_iter().flat_map(|b| b.split(1, 0)).collect()
}
