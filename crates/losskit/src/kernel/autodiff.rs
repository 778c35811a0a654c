//! The kernels under burn's autodiff: the forward keeps the gradient it computed, the
//! backward scales it row by row by the upstream gradient.

use burn::backend::tensor::{BoolTensor, FloatTensor};
use burn::tensor::TensorData;
use burn::backend::{AutodiffBackend, Backend, TensorMetadata};
use burn_autodiff::Autodiff;
use burn_autodiff::checkpoint::{base::Checkpointer, strategy::CheckpointStrategy};
use burn_autodiff::grads::Gradients;
use burn_autodiff::ops::{Backward, Ops, OpsKind, unary};

use super::{LossKernels, RowLosses, SigmoidLosses};

impl<B: Backend + LossKernels, C: CheckpointStrategy> LossKernels for Autodiff<B, C> {
    /// Only backward passes call this, on inner tensors; at this level it is not tracked.
    fn scale_gradient(grad: FloatTensor<Self>, upstream: FloatTensor<Self>) -> FloatTensor<Self> {
        Autodiff::<B, C>::from_inner(B::scale_gradient(grad.into_primitive(), upstream.into_primitive()))
    }

    fn sigmoid_losses(
        logits: FloatTensor<Self>,
        target: FloatTensor<Self>,
        options: SigmoidLosses,
        _with_grad: bool,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        #[derive(Debug)]
        struct SigmoidBackward;

        impl<B: Backend + LossKernels> Backward<B, 1> for SigmoidBackward {
            /// d(loss)/d(logits), elementwise, and whether the loss was reduced to `[1]`.
            type State = (FloatTensor<B>, bool);

            fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
                let (local, reduced) = ops.state;
                unary::<B, _>(ops.parents, ops.node, grads, |upstream| {
                    if reduced { B::scale_gradient(local, upstream) } else { B::float_mul(local, upstream) }
                });
            }
        }

        // Targets are constants here: the fused path does not differentiate them.
        let target = target.into_primitive();
        let reduced = options.reduce_scale.is_some();
        match SigmoidBackward.prepare::<C>([logits.node()]).compute_bound().stateful() {
            OpsKind::Tracked(prep) => {
                let (loss, grad) = B::sigmoid_losses(logits.into_primitive(), target, options, true);
                let untracked = Autodiff::<B, C>::from_inner(grad.clone());
                (prep.finish((grad, reduced), loss), untracked)
            }
            OpsKind::UnTracked(prep) => {
                let (loss, empty) = B::sigmoid_losses(logits.into_primitive(), target, options, false);
                (prep.finish(loss), Autodiff::<B, C>::from_inner(empty))
            }
        }
    }

    fn row_losses(
        input: FloatTensor<Self>,
        target: FloatTensor<Self>,
        options: RowLosses,
        _with_grad: bool,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        #[derive(Debug)]
        struct RowLossBackward;

        impl<B: Backend + LossKernels> Backward<B, 1> for RowLossBackward {
            /// d(loss)/d(input) `(N, C)`, which rows are ignored `(N, 1)`, and whether the
            /// loss was reduced to `[1]` (then the gradient already carries the reduction).
            type State = (FloatTensor<B>, Option<BoolTensor<B>>, bool);

            fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
                let (row_grad, ignored, reduced) = ops.state;
                unary::<B, _>(ops.parents, ops.node, grads, |upstream| {
                    if reduced {
                        return B::scale_gradient(row_grad, upstream);
                    }
                    let n = upstream.shape()[0];
                    let mut upstream = B::float_reshape(upstream, [n, 1].into());
                    // An ignored row gets no gradient even when its upstream is not finite
                    // (the 1/0 of a mean over nothing), as PyTorch's NLL backward skips it.
                    if let Some(ignored) = ignored {
                        upstream = B::float_mask_fill(upstream, ignored, 0.0.into());
                    }
                    B::float_mul(row_grad, upstream)
                });
            }
        }

        // Targets are constants here: the fused path does not differentiate them.
        let target = target.into_primitive();
        let guard = input.node();
        match RowLossBackward.prepare::<C>([guard]).compute_bound().stateful() {
            OpsKind::Tracked(prep) => {
                let device = input.primitive().device();
                let reduced = options.reduce_scale.is_some();
                let ignored = (!reduced && options.targets.contains(&options.ignore_index)).then(|| {
                    let flags: Vec<f32> = options.targets.iter().map(|&t| f32::from(u8::from(t == options.ignore_index))).collect();
                    let n = flags.len();
                    let flags = B::float_from_data(TensorData::new(flags, [n, 1]), &device);
                    B::float_equal_elem(flags, 1.0.into(), burn::backend::get_or_init_device_settings::<B>(&device).bool_dtype)
                });
                let (loss, grad) = B::row_losses(input.into_primitive(), target, options, true);
                // The caller drops this second handle at once, so the backward owns the
                // gradient alone and can scale it in place.
                let untracked = Autodiff::<B, C>::from_inner(grad.clone());
                (prep.finish((grad, ignored, reduced), loss), untracked)
            }
            OpsKind::UnTracked(prep) => {
                let (loss, empty) = B::row_losses(input.into_primitive(), target, options, false);
                (prep.finish(loss), Autodiff::<B, C>::from_inner(empty))
            }
        }
    }

    fn softmax_rows(input: FloatTensor<Self>, log: bool) -> FloatTensor<Self> {
        #[derive(Debug)]
        struct SoftmaxBackward;

        impl<B: Backend + LossKernels> Backward<B, 1> for SoftmaxBackward {
            /// The forward's output, and whether it is the log-softmax.
            type State = (FloatTensor<B>, bool);

            fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
                let (output, log) = ops.state;
                unary::<B, _>(ops.parents, ops.node, grads, |upstream| B::softmax_rows_backward(output, upstream, log));
            }
        }

        match SoftmaxBackward.prepare::<C>([input.node()]).compute_bound().stateful() {
            OpsKind::Tracked(prep) => {
                let output = B::softmax_rows(input.into_primitive(), log);
                prep.finish((output.clone(), log), output)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::softmax_rows(input.into_primitive(), log)),
        }
    }

    /// Only backward passes call this, on inner tensors; at this level it is not tracked.
    fn softmax_rows_backward(output: FloatTensor<Self>, grad: FloatTensor<Self>, log: bool) -> FloatTensor<Self> {
        Autodiff::<B, C>::from_inner(B::softmax_rows_backward(output.into_primitive(), grad.into_primitive(), log))
    }
}
