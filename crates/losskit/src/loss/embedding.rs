//! The embedding losses: `torch.nn.CosineEmbeddingLoss`, `TripletMarginLoss`,
//! `TripletMarginWithDistanceLoss`.

use burn::config::Config;
use burn::module::Module;
use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

use super::kinks::{clamp_min_unrecorded, minimum, p_norm, relu};
use crate::input::checks::cast;
use crate::reduction::{Denominator, reduce};
use crate::{LossError, Reduction};

/// What PyTorch's cosine embedding loss adds to each squared norm: a `float` constant, so
/// 1e-12 rounded to f32 in f64 computations too.
const COSINE_EMBEDDING_EPS: f64 = 1e-12_f32 as f64;
/// `F.pairwise_distance`'s default `eps`, added to each difference.
const PAIRWISE_EPS: f64 = 1e-6;
/// `F.cosine_similarity`'s default `eps`, the least norm each vector is divided by.
const COSINE_SIMILARITY_EPS: f64 = 1e-8;

/// Refuses two embedding batches of different shapes.
fn check_pair(first: &str, a: &[usize; 2], second: &str, b: &[usize; 2]) -> Result<(), LossError> {
    if a != b {
        return Err(LossError::Shape(format!(
            "{first} of shape {a:?} and {second} of shape {b:?} must have the same shape"
        )));
    }
    Ok(())
}

/// Configuration of [`CosineEmbeddingLoss`]: `torch.nn.CosineEmbeddingLoss(margin=0.0,
/// reduction='mean')`.
#[derive(Config, Debug)]
pub struct CosineEmbeddingLossConfig {
    /// The cosine below which dissimilar pairs cost nothing, in `[-1, 1]` (0 by default).
    #[config(default = 0.0)]
    pub margin: f64,
    /// How [`CosineEmbeddingLoss::forward`] reduces: `Mean` divides by the number of pairs.
    #[config(default = "Reduction::Mean")]
    pub reduction: Reduction,
}

impl CosineEmbeddingLossConfig {
    /// Builds the loss.
    pub fn init(&self) -> CosineEmbeddingLoss {
        CosineEmbeddingLoss {
            margin: self.margin,
            reduction: self.reduction,
        }
    }
}

/// Cosine loss of pairs of embeddings with targets of +-1, as `torch.nn.CosineEmbeddingLoss`
/// / `F.cosine_embedding_loss(input1, input2, target, margin, reduction)`:
///
/// ```text
/// cos = sum(x1 x2) / sqrt((sum x1^2 + 1e-12) (sum x2^2 + 1e-12))        (over D)
/// l = 1 - cos                  t = 1
///     max(0, cos - margin)     t = -1       (gradient 0 at the hinge)
///     0                        any other t (as PyTorch computes it)
/// ```
/// Both inputs get a gradient.
///
/// # Shapes
/// - `input1`, `input2`: `(N, D)` (a single pair `(D)` is written `(1, D)`); `target`: `(N)`
/// - reduced: `[1]`; unreduced: `(N)`
#[derive(Module, Debug)]
pub struct CosineEmbeddingLoss {
    margin: f64,
    #[module(skip)]
    reduction: Reduction,
}

impl CosineEmbeddingLoss {
    /// The loss reduced by the configured [`Reduction`], shape `[1]`.
    pub fn forward(&self, input1: Tensor<2>, input2: Tensor<2>, target: Tensor<1>) -> Result<Tensor<1>, LossError> {
        Ok(self.compute(input1, input2, target, Some(self.reduction))?.reshape([1]))
    }

    /// The loss of each pair, `(N)` (`reduction='none'`).
    pub fn forward_no_reduction(
        &self,
        input1: Tensor<2>,
        input2: Tensor<2>,
        target: Tensor<1>,
    ) -> Result<Tensor<1>, LossError> {
        self.compute(input1, input2, target, None)
    }

    fn compute(
        &self,
        x1: Tensor<2>,
        x2: Tensor<2>,
        target: Tensor<1>,
        reduction: Option<Reduction>,
    ) -> Result<Tensor<1>, LossError> {
        check_pair("input1", &x1.dims(), "input2", &x2.dims())?;
        let n = x1.dims()[0];
        if target.dims() != [n] {
            return Err(LossError::Shape(format!(
                "target of shape {:?} must hold one value per pair ({n})",
                target.dims()
            )));
        }
        let t = cast(target, x1.dtype());
        let dot = (x1.clone() * x2.clone()).sum_dim(1);
        let m1 = x1.square().sum_dim(1).add_scalar(COSINE_EMBEDDING_EPS);
        let m2 = x2.square().sum_dim(1).add_scalar(COSINE_EMBEDDING_EPS);
        let cos = (dot / (m1 * m2).sqrt()).squeeze_dim::<1>(1);
        let similar = cos
            .clone()
            .neg()
            .add_scalar(1.0)
            .mask_fill(t.clone().not_equal_elem(1.0), 0.0);
        let dissimilar = relu(cos.sub_scalar(self.margin)).mask_fill(t.not_equal_elem(-1.0), 0.0);
        Ok(reduce(similar + dissimilar, reduction, Denominator::Numel))
    }
}

/// The distance of [`TripletMarginWithDistanceLoss`], as the `eval` protocol names it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TripletDistance {
    /// `F.pairwise_distance(a, b)`: `||a - b + 1e-6||_2`, PyTorch's default.
    #[default]
    Pairwise,
    /// `1 - F.cosine_similarity(a, b)`, each norm at least 1e-8 (in value; PyTorch does not
    /// differentiate that clamp).
    Cosine,
}

impl TripletDistance {
    /// The distance of each pair of rows, `(N, 1)`.
    fn between(self, a: Tensor<2>, b: Tensor<2>) -> Tensor<2> {
        match self {
            TripletDistance::Pairwise => p_norm((a - b).add_scalar(PAIRWISE_EPS), 2.0),
            TripletDistance::Cosine => {
                // PyTorch clamps the norms in place under no_grad: the value is clamped, the
                // gradient is the norm's own.
                let na = clamp_min_unrecorded(p_norm(a.clone(), 2.0), COSINE_SIMILARITY_EPS);
                let nb = clamp_min_unrecorded(p_norm(b.clone(), 2.0), COSINE_SIMILARITY_EPS);
                ((a / na) * (b / nb)).sum_dim(1).neg().add_scalar(1.0)
            }
        }
    }
}

/// Refuses a margin that is not positive, as PyTorch's triplet losses do.
fn check_margin(margin: f64) -> Result<(), LossError> {
    if margin.is_nan() || margin <= 0.0 {
        return Err(LossError::Option {
            name: "margin",
            expected: "greater than 0",
            value: margin,
        });
    }
    Ok(())
}

/// `max(0, margin + d(a, p) - d_neg)` with `d_neg = d(a, n)`, or with `swap` the smaller of
/// `d(a, n)` and `d(p, n)` (a tie shares the gradient in halves), as `(N)`.
fn triplet(
    margin: f64,
    swap: bool,
    distance: impl Fn(Tensor<2>, Tensor<2>) -> Tensor<2>,
    a: Tensor<2>,
    p: Tensor<2>,
    n: Tensor<2>,
) -> Tensor<1> {
    let d_ap = distance(a.clone(), p.clone());
    let d_an = distance(a, n.clone());
    let d_neg = if swap { minimum(d_an, distance(p, n)) } else { d_an };
    relu((d_ap - d_neg).add_scalar(margin)).squeeze_dim::<1>(1)
}

/// Refuses anchor, positive and negative batches of different shapes.
fn check_triplet(a: &Tensor<2>, p: &Tensor<2>, n: &Tensor<2>) -> Result<(), LossError> {
    check_pair("anchor", &a.dims(), "positive", &p.dims())?;
    check_pair("anchor", &a.dims(), "negative", &n.dims())
}

/// Configuration of [`TripletMarginLoss`]: `torch.nn.TripletMarginLoss(margin=1.0, p=2.0,
/// eps=1e-6, swap=False, reduction='mean')`.
#[derive(Config, Debug)]
pub struct TripletMarginLossConfig {
    /// How much closer the positive must be than the negative; positive.
    #[config(default = 1.0)]
    pub margin: f64,
    /// The norm of the distance; positive.
    #[config(default = 2.0)]
    pub p: f64,
    /// Added to every difference before the norm.
    #[config(default = 1e-6)]
    pub eps: f64,
    /// Use the smaller of the anchor's and the positive's distance to the negative
    /// (Balntas et al.).
    #[config(default = false)]
    pub swap: bool,
    /// How [`TripletMarginLoss::forward`] reduces: `Mean` divides by the number of triplets.
    #[config(default = "Reduction::Mean")]
    pub reduction: Reduction,
}

impl TripletMarginLossConfig {
    /// Checks `margin` and `p` and builds the loss.
    pub fn init(&self) -> Result<TripletMarginLoss, LossError> {
        check_margin(self.margin)?;
        if !self.p.is_finite() || self.p <= 0.0 {
            return Err(LossError::Option {
                name: "p",
                expected: "finite and > 0",
                value: self.p,
            });
        }
        Ok(TripletMarginLoss {
            margin: self.margin,
            p: self.p,
            eps: self.eps,
            swap: self.swap,
            reduction: self.reduction,
        })
    }
}

/// Triplet margin loss of anchors, positives and negatives, as `torch.nn.TripletMarginLoss`
/// / `F.triplet_margin_loss(anchor, positive, negative, margin, p, eps, swap, reduction)`:
///
/// ```text
/// d(a, b) = || a - b + eps ||_p                  (eps added to every difference, as PyTorch)
/// l = max(0, margin + d(a, p) - d(a, n))         (with swap: min(d(a, n), d(p, n)) for the last)
/// ```
/// The norm's gradient is 0 where the norm is 0, as PyTorch's. All three inputs get a
/// gradient.
///
/// # Shapes
/// - `anchor`, `positive`, `negative`: `(N, D)` (a single triplet `(D)` is written `(1, D)`)
/// - reduced: `[1]`; unreduced: `(N)`
#[derive(Module, Debug)]
pub struct TripletMarginLoss {
    margin: f64,
    p: f64,
    eps: f64,
    swap: bool,
    #[module(skip)]
    reduction: Reduction,
}

impl TripletMarginLoss {
    /// The loss reduced by the configured [`Reduction`], shape `[1]`.
    pub fn forward(&self, anchor: Tensor<2>, positive: Tensor<2>, negative: Tensor<2>) -> Result<Tensor<1>, LossError> {
        Ok(self
            .compute(anchor, positive, negative, Some(self.reduction))?
            .reshape([1]))
    }

    /// The loss of each triplet, `(N)` (`reduction='none'`).
    pub fn forward_no_reduction(
        &self,
        anchor: Tensor<2>,
        positive: Tensor<2>,
        negative: Tensor<2>,
    ) -> Result<Tensor<1>, LossError> {
        self.compute(anchor, positive, negative, None)
    }

    fn compute(
        &self,
        a: Tensor<2>,
        p: Tensor<2>,
        n: Tensor<2>,
        reduction: Option<Reduction>,
    ) -> Result<Tensor<1>, LossError> {
        check_triplet(&a, &p, &n)?;
        let distance = |x: Tensor<2>, y: Tensor<2>| p_norm((x - y).add_scalar(self.eps), self.p);
        Ok(reduce(
            triplet(self.margin, self.swap, distance, a, p, n),
            reduction,
            Denominator::Numel,
        ))
    }
}

/// Configuration of [`TripletMarginWithDistanceLoss`]:
/// `torch.nn.TripletMarginWithDistanceLoss(distance_function=None, margin=1.0, swap=False,
/// reduction='mean')`.
#[derive(Config, Debug)]
pub struct TripletMarginWithDistanceLossConfig {
    /// The distance [`TripletMarginWithDistanceLoss::forward`] uses (`F.pairwise_distance`
    /// by default); [`TripletMarginWithDistanceLoss::forward_with`] takes any other.
    #[config(default = "TripletDistance::Pairwise")]
    pub distance: TripletDistance,
    /// How much closer the positive must be than the negative; positive.
    #[config(default = 1.0)]
    pub margin: f64,
    /// Use the smaller of the anchor's and the positive's distance to the negative.
    #[config(default = false)]
    pub swap: bool,
    /// How `forward` reduces: `Mean` divides by the number of triplets.
    #[config(default = "Reduction::Mean")]
    pub reduction: Reduction,
}

impl TripletMarginWithDistanceLossConfig {
    /// Checks `margin` and builds the loss.
    pub fn init(&self) -> Result<TripletMarginWithDistanceLoss, LossError> {
        check_margin(self.margin)?;
        Ok(TripletMarginWithDistanceLoss {
            distance: self.distance,
            margin: self.margin,
            swap: self.swap,
            reduction: self.reduction,
        })
    }
}

/// Triplet margin loss with a distance of one's choosing, as
/// `torch.nn.TripletMarginWithDistanceLoss` / `F.triplet_margin_with_distance_loss(anchor,
/// positive, negative, distance_function=..., margin, swap, reduction)`:
///
/// ```text
/// l = max(0, margin + d(a, p) - d(a, n))         (with swap: min(d(a, n), d(p, n)) for the last)
/// ```
/// With [`TripletDistance::Pairwise`] it is [`TripletMarginLoss`] with `p = 2`, `eps = 1e-6`.
///
/// # Shapes
/// - `anchor`, `positive`, `negative`: `(N, D)`; a distance closure maps two `(N, D)`
///   batches to `(N, 1)`
/// - reduced: `[1]`; unreduced: `(N)`
#[derive(Module, Debug)]
pub struct TripletMarginWithDistanceLoss {
    #[module(skip)]
    distance: TripletDistance,
    margin: f64,
    swap: bool,
    #[module(skip)]
    reduction: Reduction,
}

impl TripletMarginWithDistanceLoss {
    /// The loss with the configured distance, reduced by the configured [`Reduction`],
    /// shape `[1]`.
    pub fn forward(&self, anchor: Tensor<2>, positive: Tensor<2>, negative: Tensor<2>) -> Result<Tensor<1>, LossError> {
        let distance = self.distance;
        self.forward_with(anchor, positive, negative, move |a, b| distance.between(a, b))
    }

    /// The loss of each triplet with the configured distance, `(N)` (`reduction='none'`).
    pub fn forward_no_reduction(
        &self,
        anchor: Tensor<2>,
        positive: Tensor<2>,
        negative: Tensor<2>,
    ) -> Result<Tensor<1>, LossError> {
        let distance = self.distance;
        self.forward_with_no_reduction(anchor, positive, negative, move |a, b| distance.between(a, b))
    }

    /// The loss with `distance`, a map of two `(N, D)` batches to their `(N, 1)` distances
    /// (PyTorch's `distance_function`), reduced by the configured [`Reduction`], shape `[1]`.
    pub fn forward_with(
        &self,
        anchor: Tensor<2>,
        positive: Tensor<2>,
        negative: Tensor<2>,
        distance: impl Fn(Tensor<2>, Tensor<2>) -> Tensor<2>,
    ) -> Result<Tensor<1>, LossError> {
        check_triplet(&anchor, &positive, &negative)?;
        let loss = triplet(self.margin, self.swap, distance, anchor, positive, negative);
        Ok(reduce(loss, Some(self.reduction), Denominator::Numel).reshape([1]))
    }

    /// The loss of each triplet with `distance`, `(N)` (`reduction='none'`).
    pub fn forward_with_no_reduction(
        &self,
        anchor: Tensor<2>,
        positive: Tensor<2>,
        negative: Tensor<2>,
        distance: impl Fn(Tensor<2>, Tensor<2>) -> Tensor<2>,
    ) -> Result<Tensor<1>, LossError> {
        check_triplet(&anchor, &positive, &negative)?;
        Ok(triplet(self.margin, self.swap, distance, anchor, positive, negative))
    }
}
