//! Cross entropy of a linear layer's logits without the logits:
//! `F.cross_entropy(F.linear(input, classifier, bias), target, ...)` in chunks of rows.

use burn::config::Config;
use burn::module::Module;
use burn::tensor::{Device, Int, Tensor};

use super::ce_terms::CeOptions;
use super::class_loss::{empty_class_loss, host_targets};
use super::linear_chunks::{LinearOperands, chunked, linear};
use crate::fused::{self, LinearRows, default_chunk_rows};
use crate::input::checks::{check_label_smoothing, check_non_negative, check_softcap};
use crate::input::class_index::{ClassWeight, IGNORE_INDEX};
use crate::{LossError, Reduction};

/// Configuration of [`LinearCrossEntropyLoss`]: the options of class-index
/// [`CrossEntropyLossConfig`](crate::CrossEntropyLossConfig) (`weight`, `ignore_index`,
/// `label_smoothing`, `reduction`, `softcap`, `z_loss`, `check_values`, same meanings and
/// defaults), and the rows per chunk.
#[derive(Config, Debug)]
pub struct LinearCrossEntropyLossConfig {
    /// Per-class weight `(V)`; none (1 for every class) by default.
    pub weight: Option<Vec<f64>>,
    /// Targets equal to this count for nothing. -100 by default.
    #[config(default = "IGNORE_INDEX")]
    pub ignore_index: i64,
    /// `(1 - e) target + e / V`; in `[0, 1]`, 0 by default.
    #[config(default = 0.0)]
    pub label_smoothing: f64,
    /// How `forward` reduces: `Mean` divides the cross entropy by the summed weights of the
    /// targets not ignored, and the z-loss by their count.
    #[config(default = "Reduction::Mean")]
    pub reduction: Reduction,
    /// The logits are replaced by `softcap * tanh(logits / softcap)`; finite and > 0, none
    /// by default.
    pub softcap: Option<f64>,
    /// Each target not ignored adds `z_loss * lse^2`; finite and >= 0, 0 by default.
    #[config(default = 0.0)]
    pub z_loss: f64,
    /// Logit rows computed at once, at least 1; the batch is cut into chunks of equal size
    /// no larger. By default the batch is cut into `k = clamp(N / 96, 1, 6)` chunks of
    /// `ceil(N / k)` rows each, fewer rows if a chunk's logits would pass 64 MiB (6 chunks of
    /// 171 rows of N = 1024 at V = 32k, 5 of 103 rows of N = 512 at 128k, in f32). From
    /// N = 576 (six chunks) a chunk's memory is within an eighth of the unfused path's
    /// logits and their gradient; smaller batches hold a larger share (a half to a fifth),
    /// and a batch under 192 rows is one chunk: splitting small logits would cost passes
    /// over the classifier (every chunk reads it twice, and reads and writes its gradient)
    /// in products too short to run at speed. On the CPU kernels (the flex backend), when the
    /// classifier's gradient is wanted, the first chunk instead holds its logits in that
    /// gradient until their gradient replaces them, and takes up to `H` rows (no more than
    /// `chunk_rows` when given, and no more than keep the backward's scratch for them, two
    /// partial input gradients `(rows, H)` per thread, within 64 MiB); the other rows follow
    /// in chunks as above. A batch of at most `H` rows that are not ignored is then one
    /// chunk with no logits buffer, one pass over the classifier instead of one per chunk
    /// (5 of them at (512, 512, 128k)); at (1024, 512, 32k) the first 512 rows are one
    /// chunk, the other 512 three of 171.
    pub chunk_rows: Option<usize>,
    /// Check every target against `[0, V)`, as PyTorch does (see
    /// [`CrossEntropyLossConfig::check_values`](crate::CrossEntropyLossConfig::check_values)).
    #[config(default = true)]
    pub check_values: bool,
}

impl LinearCrossEntropyLossConfig {
    /// Checks the options and builds the loss with its weight on `device`.
    pub fn init(&self, device: &Device) -> Result<LinearCrossEntropyLoss, LossError> {
        check_label_smoothing(self.label_smoothing)?;
        check_softcap(self.softcap)?;
        check_non_negative("z_loss", self.z_loss)?;
        if self.chunk_rows == Some(0) {
            return Err(LossError::Option {
                name: "chunk_rows",
                expected: "at least 1",
                value: 0.0,
            });
        }
        Ok(LinearCrossEntropyLoss {
            weight: self.weight.as_deref().map(|w| ClassWeight::new(w, device)),
            ignore_index: self.ignore_index,
            label_smoothing: self.label_smoothing,
            reduction: self.reduction,
            softcap: self.softcap,
            z_loss: self.z_loss,
            chunk_rows: self.chunk_rows,
            check_values: self.check_values,
        })
    }
}

/// The cross entropy of `logits = input @ classifier^T + bias` against class indices,
/// computed a chunk of rows at a time so that the `(N, V)` logits and their gradient never
/// exist: what a language model's last layer and loss are, at the vocabularies (32k-256k)
/// where those two tensors are the largest of the training step. Matches
/// `F.cross_entropy(F.linear(input, classifier, bias), target, weight, ignore_index=...,
/// reduction=..., label_smoothing=...)` (with `softcap` and `z_loss` as in
/// [`CrossEntropyLoss`](crate::CrossEntropyLoss)), value and gradients for `input`,
/// `classifier` and `bias`, to 1e-9 in f64.
///
/// ```text
/// x = input @ classifier^T + bias                  (one chunk of rows at a time)
/// x' = c tanh(x / c)                               (with softcap c)
/// l_i = (1 - e) w[y_i] (lse_i - x'[i, y_i]) + (e / V) sum_v w_v (lse_i - x'[i, v]) + z lse_i^2
/// mean = sum_i ce_i / sum_{i not ignored} w[y_i] + z sum_i lse_i^2 / #{i not ignored}
/// ```
///
/// On flex (CPU, f32 or f64) each chunk's logits come from one matrix product into a buffer
/// reused from chunk to chunk, stored class-major (the product's fast layout); one pass
/// over them takes each row's softmax statistics, and one sweep over blocks of classes
/// writes each block's gradient `G_b` and runs `d_input += G_b @ classifier_b`,
/// `d_classifier_b += G_b^T @ input_chunk` and `d_bias_b += sum_rows G_b`. Ignored rows take no part in any product. Reduced, the
/// gradients are computed in the forward pass and the backward only scales them; unreduced,
/// the backward runs the chunks again with each row's upstream gradient. Peak memory beyond
/// the operands: one chunk's logits, and the gradients. (PyTorch's `0 * inf` spreads a
/// non-finite input row of an ignored target into `classifier`'s gradient; here that row
/// takes no part.)
///
/// On other backends the chunks run as burn tensor ops with the same numbers and, reduced,
/// the same bound: each chunk's graph is differentiated and dropped before the next, and
/// the summed gradients meet the caller's graph through a term of value zero; unreduced,
/// the chunks run under the caller's autodiff, which keeps what their backward needs.
///
/// # Shapes
/// - `input`: `(N, H)`; `classifier`: `(V, H)` (PyTorch's `Linear.weight` layout); `bias`: `(V)`
/// - `target`: `(N)`, values in `[0, V)` or `ignore_index`
/// - reduced: `[1]` (a mean over nothing is NaN, with zero gradients); unreduced: `(N)`
///
/// Errors, with PyTorch's messages: `H` that differ, a bias not of length `V`, a target not
/// of length `N`, a class index out of range, a `weight` not of length `V`.
#[derive(Module, Debug)]
pub struct LinearCrossEntropyLoss {
    weight: Option<ClassWeight>,
    ignore_index: i64,
    label_smoothing: f64,
    #[module(skip)]
    reduction: Reduction,
    #[module(skip)]
    softcap: Option<f64>,
    z_loss: f64,
    #[module(skip)]
    chunk_rows: Option<usize>,
    check_values: bool,
}

impl LinearCrossEntropyLoss {
    /// The loss reduced by the configured [`Reduction`], shape `[1]`.
    pub fn forward(
        &self,
        input: Tensor<2>,
        classifier: Tensor<2>,
        bias: Option<Tensor<1>>,
        target: Tensor<1, Int>,
    ) -> Result<Tensor<1>, LossError> {
        Ok(self
            .run(
                LinearOperands {
                    input,
                    classifier,
                    bias,
                },
                target,
                Some(self.reduction),
            )?
            .reshape([1]))
    }

    /// The loss of each row, `(N)` (`reduction='none'`); 0 where the target is ignored.
    pub fn forward_no_reduction(
        &self,
        input: Tensor<2>,
        classifier: Tensor<2>,
        bias: Option<Tensor<1>>,
        target: Tensor<1, Int>,
    ) -> Result<Tensor<1>, LossError> {
        self.run(
            LinearOperands {
                input,
                classifier,
                bias,
            },
            target,
            None,
        )
    }

    fn run(
        &self,
        ops: LinearOperands,
        target: Tensor<1, Int>,
        reduction: Option<Reduction>,
    ) -> Result<Tensor<1>, LossError> {
        let ([n, h], [v, h2]) = (ops.input.dims(), ops.classifier.dims());
        if h != h2 {
            return Err(LossError::Shape(format!(
                "mm: mat1 and mat2 shapes cannot be multiplied ({n}x{h} and {h2}x{v})"
            )));
        }
        if let Some(b) = &ops.bias
            && b.dims()[0] != v
        {
            let len = b.dims()[0];
            return Err(LossError::Shape(format!(
                "The expanded size of the tensor ({v}) must match the existing size ({len}) at non-singleton dimension 1.  Target sizes: [{n}, {v}].  Tensor sizes: [{len}]"
            )));
        }
        let targets = target.dims()[0];
        if targets != n {
            return Err(LossError::Shape(format!(
                "Expected input batch_size ({n}) to match target batch_size ({targets})."
            )));
        }
        if v == 0 {
            return Err(LossError::Shape(format!(
                "the classifier [{v}, {h}] has no classes (V = 0)"
            )));
        }
        if let Some(w) = &self.weight {
            w.check("weight", v)?;
        }
        if n == 0 {
            // Nothing to chunk: the unfused expression, whose empty logits give PyTorch's
            // empty results and zero gradients.
            return Ok(empty_class_loss(linear(ops.input, ops.classifier, ops.bias), reduction));
        }
        let host = host_targets(&ops.input, &target, v, self.ignore_index, self.check_values)?;
        let element = ops.input.dtype().size();
        if let Some(targets) = &host {
            let rows = LinearRows {
                targets,
                weight: self.weight.as_ref(),
                ignore_index: self.ignore_index,
                label_smoothing: self.label_smoothing,
                softcap: self.softcap,
                z_loss: self.z_loss,
                reduction,
                chunk_rows: self.chunk_rows,
            };
            if let Some(loss) = fused::linear_cross_entropy(&ops.input, &ops.classifier, ops.bias.as_ref(), rows) {
                return Ok(loss);
            }
        }
        let options = CeOptions {
            weight: self.weight.as_ref(),
            ignore_index: self.ignore_index,
            label_smoothing: self.label_smoothing,
            softcap: self.softcap,
            z_loss: self.z_loss,
        };
        let chunk_rows = self.chunk_rows.unwrap_or_else(|| default_chunk_rows(n, v, element));
        Ok(chunked(&ops, target, &options, reduction, chunk_rows))
    }
}
