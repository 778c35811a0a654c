//! The kernels under burn's autodiff. The forward pass computes each input's gradient with
//! the loss; one backward node, [`PrecomputedBackward`], meets those gradients with the
//! upstream gradient. Softmax keeps its output and has a backward kernel of its own; the
//! linear cross entropy's unreduced form recomputes its chunks in the backward
//! ([`linear`]).

mod dense;
mod linear;

use burn::backend::tensor::{BoolTensor, FloatTensor};
use burn::backend::{AutodiffBackend, Backend, TensorMetadata};
use burn::tensor::{Shape, TensorData};
use burn_autodiff::Autodiff;
use burn_autodiff::checkpoint::{base::Checkpointer, strategy::CheckpointStrategy};
use burn_autodiff::grads::Gradients;
use burn_autodiff::ops::{Backward, Ops, OpsKind, unary};

use super::dense::{DenseGradients, DenseGrads};
use super::linear::{LinearCall, LinearOutput};
use super::{BoxCall, CtcPlan, LossForm, LossKernels, PointwiseCall, RnntPlan, RowLossCall, SampleForm};

/// How a gradient computed in the forward pass meets the upstream gradient.
#[derive(Debug, Clone)]
enum Combine<B: Backend> {
    /// The output was a scaled sum `[1]` and the gradient carries the factor: times the
    /// one upstream value, in place, free when it is 1 (the usual `loss.backward()`).
    Scalar,
    /// The output had one element per row of `shape` (or the gradient's own shape):
    /// times the upstream reshaped to `shape` and broadcast, zeroed first where `ignored`.
    Broadcast {
        shape: Shape,
        ignored: Option<BoolTensor<B>>,
    },
}

/// One input's gradient, computed in the forward pass.
#[derive(Debug, Clone)]
struct LocalGrad<B: Backend> {
    grad: FloatTensor<B>,
    combine: Combine<B>,
}

impl<B: Backend + LossKernels> LocalGrad<B> {
    fn meet(self, upstream: FloatTensor<B>) -> FloatTensor<B> {
        match self.combine {
            Combine::Scalar => B::scale_gradient(self.grad, upstream),
            Combine::Broadcast { shape, ignored } => {
                let mut upstream = B::float_reshape(upstream, shape);
                // An ignored row gets no gradient even when its upstream is not finite
                // (the 1/0 of a mean over nothing), as PyTorch's NLL backward skips it.
                if let Some(ignored) = ignored {
                    upstream = B::float_mask_fill(upstream, ignored, 0.0.into());
                }
                B::float_mul(self.grad, upstream)
            }
        }
    }
}

/// The backward of every fused loss: each tracked input's precomputed gradient met with
/// the upstream gradient.
#[derive(Debug)]
struct PrecomputedBackward;

impl<B: Backend + LossKernels, const N: usize> Backward<B, N> for PrecomputedBackward {
    type State = [Option<LocalGrad<B>>; N];

    fn backward(self, ops: Ops<Self::State, N>, grads: &mut Gradients, _: &mut Checkpointer) {
        let upstream = grads.consume::<B>(&ops.node);
        for (parent, local) in ops.parents.into_iter().zip(ops.state) {
            if let (Some(parent), Some(local)) = (parent, local) {
                grads.register::<B>(parent.id, local.meet(upstream.clone()));
            }
        }
    }
}

/// How the gradient of an output of `form` with one element per row of `rows` (an `(n, c)`
/// gradient) meets the upstream.
fn per_row<B: Backend>(form: LossForm, rows: usize, ignored: Option<BoolTensor<B>>) -> Combine<B> {
    match form {
        LossForm::ScaledSum(_) => Combine::Scalar,
        LossForm::PerItem => Combine::Broadcast {
            shape: Shape::from([rows, 1]),
            ignored,
        },
    }
}

/// Which rows of a class-index call are ignored, as an `(n, 1)` mask on `device`; `None`
/// when no row is or the output is reduced (the mask guards only per-row upstreams).
fn ignored_rows<B: Backend>(call: &RowLossCall, device: &B::Device) -> Option<BoolTensor<B>> {
    let unreduced = call.form == LossForm::PerItem;
    (unreduced && call.targets.contains(&call.ignore_index)).then(|| {
        let flags: Vec<f32> = call
            .targets
            .iter()
            .map(|&t| f32::from(u8::from(t == call.ignore_index)))
            .collect();
        let n = flags.len();
        let flags = B::float_from_data(TensorData::new(flags, [n, 1]), device);
        let bool_dtype = burn::backend::get_or_init_device_settings::<B>(device).bool_dtype;
        B::float_equal_elem(flags, 1.0.into(), bool_dtype)
    })
}

/// How the gradient of a sequence loss's input of `dims` meets the upstream: a weighted
/// sum's carries its weights and meets one upstream value; per-sample losses meet theirs
/// along the batch axis `batch_axis`.
fn per_sample<B: Backend>(form: &SampleForm, dims: &[usize], batch_axis: usize) -> Combine<B> {
    match form {
        SampleForm::WeightedSum(_) => Combine::Scalar,
        SampleForm::PerSample => {
            let mut shape = vec![1; dims.len()];
            shape[batch_axis] = dims[batch_axis];
            Combine::Broadcast {
                shape: Shape::from(shape),
                ignored: None,
            }
        }
    }
}

/// A kernel's loss and the untracked handle of its gradient, under autodiff.
type LossAndGrad<B, C> = (FloatTensor<Autodiff<B, C>>, FloatTensor<Autodiff<B, C>>);

/// A kernel call `run(input, with_grad) -> (loss, gradient)` on one input, its gradient kept
/// for the backward when the input is tracked.
fn with_precomputed_grad<B: Backend + LossKernels, C: CheckpointStrategy>(
    input: FloatTensor<Autodiff<B, C>>,
    combine: Combine<B>,
    run: impl FnOnce(FloatTensor<B>, bool) -> (FloatTensor<B>, FloatTensor<B>),
) -> LossAndGrad<B, C> {
    match PrecomputedBackward
        .prepare::<C>([input.node()])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => {
            let (loss, grad) = run(input.into_primitive(), true);
            // The caller drops this second handle at once (see `row_losses`).
            let untracked = Autodiff::<B, C>::from_inner(grad.clone());
            (prep.finish([Some(LocalGrad { grad, combine })], loss), untracked)
        }
        OpsKind::UnTracked(prep) => {
            let (loss, empty) = run(input.into_primitive(), false);
            (prep.finish(loss), Autodiff::<B, C>::from_inner(empty))
        }
    }
}

impl<B: Backend + LossKernels, C: CheckpointStrategy> LossKernels for Autodiff<B, C> {
    /// Only backward passes call this, on inner tensors; at this level it is not tracked.
    fn scale_gradient(grad: FloatTensor<Self>, upstream: FloatTensor<Self>) -> FloatTensor<Self> {
        Autodiff::<B, C>::from_inner(B::scale_gradient(grad.into_primitive(), upstream.into_primitive()))
    }

    fn pointwise_losses(
        logits: FloatTensor<Self>,
        target: FloatTensor<Self>,
        call: PointwiseCall,
        _with_grad: bool,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        // Targets are constants here: the caller sends operands that need a gradient to
        // the composed path.
        let target = target.into_primitive();
        let combine = match call.form {
            LossForm::ScaledSum(_) => Combine::Scalar,
            LossForm::PerItem => Combine::Broadcast {
                shape: logits.primitive().shape(),
                ignored: None,
            },
        };
        match PrecomputedBackward
            .prepare::<C>([logits.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let (loss, grad) = B::pointwise_losses(logits.into_primitive(), target, call, true);
                let untracked = Autodiff::<B, C>::from_inner(grad.clone());
                (prep.finish([Some(LocalGrad { grad, combine })], loss), untracked)
            }
            OpsKind::UnTracked(prep) => {
                let (loss, empty) = B::pointwise_losses(logits.into_primitive(), target, call, false);
                (prep.finish(loss), Autodiff::<B, C>::from_inner(empty))
            }
        }
    }

    fn row_losses(
        input: FloatTensor<Self>,
        target: FloatTensor<Self>,
        call: RowLossCall,
        _with_grad: bool,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        let target = target.into_primitive();
        let rows = input.primitive().shape()[0];
        match PrecomputedBackward
            .prepare::<C>([input.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let device = input.primitive().device();
                let combine = per_row(call.form, rows, ignored_rows::<B>(&call, &device));
                let (loss, grad) = B::row_losses(input.into_primitive(), target, call, true);
                // The caller drops this second handle at once, so the backward owns the
                // gradient alone and can scale it in place.
                let untracked = Autodiff::<B, C>::from_inner(grad.clone());
                (prep.finish([Some(LocalGrad { grad, combine })], loss), untracked)
            }
            OpsKind::UnTracked(prep) => {
                let (loss, empty) = B::row_losses(input.into_primitive(), target, call, false);
                (prep.finish(loss), Autodiff::<B, C>::from_inner(empty))
            }
        }
    }

    fn box_losses(
        boxes1: FloatTensor<Self>,
        boxes2: FloatTensor<Self>,
        call: BoxCall,
        _with_grad: bool,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        let rows = boxes1.primitive().shape()[0];
        let untracked = |t: FloatTensor<B>| Autodiff::<B, C>::from_inner(t);
        match PrecomputedBackward
            .prepare::<C>([boxes1.node(), boxes2.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let (loss, ga, gb) = B::box_losses(boxes1.into_primitive(), boxes2.into_primitive(), call, true);
                let local = |grad| {
                    Some(LocalGrad {
                        grad,
                        combine: per_row::<B>(call.form, rows, None),
                    })
                };
                let handles = (untracked(ga.clone()), untracked(gb.clone()));
                (prep.finish([local(ga), local(gb)], loss), handles.0, handles.1)
            }
            OpsKind::UnTracked(prep) => {
                let (loss, ga, gb) = B::box_losses(boxes1.into_primitive(), boxes2.into_primitive(), call, false);
                (prep.finish(loss), untracked(ga), untracked(gb))
            }
        }
    }

    fn ctc_losses(
        log_probs: FloatTensor<Self>,
        plan: CtcPlan,
        _with_grad: bool,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        let combine = per_sample::<B>(plan.form(), log_probs.primitive().shape().as_slice(), 1);
        with_precomputed_grad::<B, C>(log_probs, combine, |x, with_grad| B::ctc_losses(x, plan, with_grad))
    }

    fn rnnt_losses(
        logits: FloatTensor<Self>,
        plan: RnntPlan,
        _with_grad: bool,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        let combine = per_sample::<B>(plan.form(), logits.primitive().shape().as_slice(), 0);
        with_precomputed_grad::<B, C>(logits, combine, |x, with_grad| B::rnnt_losses(x, plan, with_grad))
    }

    fn softmax_rows(input: FloatTensor<Self>, log: bool) -> FloatTensor<Self> {
        #[derive(Debug)]
        struct SoftmaxBackward;

        impl<B: Backend + LossKernels> Backward<B, 1> for SoftmaxBackward {
            /// The forward's output, and whether it is the log-softmax.
            type State = (FloatTensor<B>, bool);

            fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
                let (output, log) = ops.state;
                unary::<B, _>(ops.parents, ops.node, grads, |upstream| {
                    B::softmax_rows_backward(output, upstream, log)
                });
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

    fn linear_cross_entropy(
        input: FloatTensor<Self>,
        classifier: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        upstream: FloatTensor<Self>,
        call: LinearCall,
    ) -> LinearOutput<Self> {
        linear::linear_cross_entropy::<B, C>(input, classifier, bias, upstream, call)
    }

    fn dense(
        input: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        relu: bool,
    ) -> FloatTensor<Self> {
        dense::dense::<B, C>(input, weight, bias, relu)
    }

    /// Only backward passes call this, on inner tensors; at this level it is not tracked.
    fn dense_backward(
        input: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        output: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        wants: DenseGrads,
    ) -> DenseGradients<Self> {
        let out = B::dense_backward(
            input.into_primitive(),
            weight.into_primitive(),
            output.into_primitive(),
            grad.into_primitive(),
            wants,
        );
        DenseGradients {
            input: Autodiff::<B, C>::from_inner(out.input),
            weight: Autodiff::<B, C>::from_inner(out.weight),
            bias: Autodiff::<B, C>::from_inner(out.bias),
        }
    }

    /// Only backward passes call this, on inner tensors; at this level it is not tracked.
    fn softmax_rows_backward(output: FloatTensor<Self>, grad: FloatTensor<Self>, log: bool) -> FloatTensor<Self> {
        Autodiff::<B, C>::from_inner(B::softmax_rows_backward(
            output.into_primitive(),
            grad.into_primitive(),
            log,
        ))
    }
}
