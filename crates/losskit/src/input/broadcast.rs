//! Weights broadcast against the loss input from the trailing dimension, as NumPy and
//! PyTorch broadcast: the configuration's plain form and the tensor a loss holds.

use burn::module::Module;
use burn::tensor::{DType, Device, Tensor, TensorData};
use serde::{Deserialize, Serialize};

use super::checks::cast;
use crate::LossError;

/// A weight broadcast against the target from the trailing dimension (PyTorch's `weight`
/// and `pos_weight` of the BCE losses).
///
/// For targets of shape `(N, C)` a per-class weight is `[C]` ([`BroadcastWeight::last_dim`]);
/// for `(N, C, H, W)` it is `[C, 1, 1]` (PyTorch's advice for `pos_weight`), or any shape
/// whose trailing dimensions are each 1 or equal to the target's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BroadcastWeight {
    /// The values, row-major.
    pub values: Vec<f64>,
    /// The shape that is broadcast; its product is the number of values.
    pub shape: Vec<usize>,
}

impl BroadcastWeight {
    /// A weight along the last dimension (per class for `(N, C)` targets).
    pub fn last_dim(values: Vec<f64>) -> Self {
        let shape = vec![values.len()];
        Self { values, shape }
    }

    /// A weight of `shape`, broadcast from the trailing dimension.
    pub fn new(values: Vec<f64>, shape: Vec<usize>) -> Self {
        Self { values, shape }
    }

    /// PyTorch's error unless a weight of `shape` broadcasts to `target` itself (no more
    /// dimensions, each trailing one 1 or the target's); `name` is the option's.
    pub fn check_broadcast(name: &str, shape: &[usize], target: &[usize]) -> Result<(), LossError> {
        let fits = shape.len() <= target.len()
            && shape
                .iter()
                .rev()
                .zip(target.iter().rev())
                .all(|(&w, &t)| w == 1 || w == t);
        if fits {
            Ok(())
        } else {
            Err(LossError::Shape(format!(
                "{name} of shape {shape:?} cannot be broadcast to the target's shape {target:?}"
            )))
        }
    }
}

/// A [`BroadcastWeight`] on a device, converted once when the loss is built, with its
/// values kept on the host for the fused kernels.
#[derive(Module, Debug)]
pub(crate) struct Broadcast {
    values: Tensor<1>,
    #[module(skip)]
    shape: Vec<usize>,
    #[module(skip)]
    host: Vec<f64>,
}

impl Broadcast {
    /// Builds `weight` on `device`; `name` is the option, for the error when its shape does
    /// not hold its values.
    pub(crate) fn new(name: &'static str, weight: &BroadcastWeight, device: &Device) -> Result<Self, LossError> {
        let numel: usize = weight.shape.iter().product();
        if numel != weight.values.len() {
            return Err(LossError::Shape(format!(
                "{name} of shape {:?} needs {numel} values, found {}",
                weight.shape,
                weight.values.len()
            )));
        }
        let values = Tensor::from_data(TensorData::new(weight.values.clone(), [numel]), (device, DType::F64));
        Ok(Self {
            values,
            shape: weight.shape.clone(),
            host: weight.values.clone(),
        })
    }

    /// The values, when the weight varies along the last dimension only (shape `[]`, `[1]`,
    /// `[last]`, or those with leading 1s): what the fused kernels take.
    pub(crate) fn along_last_dim(&self, last: usize) -> Option<Vec<f64>> {
        let inner = self.shape.iter().rev().skip(1).all(|&d| d == 1);
        let tail = self.shape.last().copied().unwrap_or(1);
        (inner && (tail == 1 || tail == last)).then(|| self.host.clone())
    }

    /// The weight laid out to broadcast against `target` (same rank, dims 1 or equal), in
    /// `dtype`; `name` is the option, for the error when it cannot be broadcast.
    pub(crate) fn against<const D: usize>(
        &self,
        name: &str,
        target: &[usize; D],
        dtype: DType,
    ) -> Result<Tensor<D>, LossError> {
        BroadcastWeight::check_broadcast(name, &self.shape, target)?;
        let mut dims = [1usize; D];
        dims[D - self.shape.len()..].copy_from_slice(&self.shape);
        if self.host.is_empty() {
            // burn's reshape reads a 0 as "keep this dimension": an empty weight is built
            // in its shape instead.
            return Ok(Tensor::zeros(dims, (&self.values.device(), dtype)));
        }
        Ok(cast(self.values.clone(), dtype).reshape(dims))
    }
}
