//! The box regression losses of torchvision: `generalized_box_iou_loss`,
//! `distance_box_iou_loss`, `complete_box_iou_loss`, on boxes `(x1, y1, x2, y2)`.

use burn::config::Config;
use burn::module::Module;
use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

use super::kinks::{maximum, minimum};
use crate::fused::{self, BoxKind};
use crate::input::checks::{cast, check_same_shape};
use crate::{LossError, Reduction};

/// What CIoU's IoU and DIoU terms use whatever its `eps` (torchvision's default eps).
const BOX_EPS: f64 = 1e-7;

/// Which IoU loss of torchvision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BoxIou {
    /// `generalized_box_iou_loss` (Rezatofighi et al.): `1 - IoU + (C - U) / C`.
    Generalized,
    /// `distance_box_iou_loss` (Zheng et al.): `1 - IoU + rho^2 / c^2`.
    Distance,
    /// `complete_box_iou_loss` (Zheng et al.): DIoU `+ alpha v`, the aspect-ratio term.
    Complete,
}

/// Configuration of [`BoxIouLoss`]: torchvision's `*_box_iou_loss(boxes1, boxes2,
/// reduction, eps=1e-7)`.
#[derive(Config, Debug)]
pub struct BoxIouLossConfig {
    /// Which loss.
    pub kind: BoxIou,
    /// Keeps the divisions finite (for CIoU, only its `alpha` term uses it, as in torchvision).
    #[config(default = 1e-7)]
    pub eps: f64,
    /// How [`BoxIouLoss::forward`] reduces: `Mean` divides by the number of boxes (an empty
    /// mean is 0, as torchvision guards it). torchvision's functions default to `'none'`.
    #[config(default = "Reduction::Mean")]
    pub reduction: Reduction,
}

impl BoxIouLossConfig {
    /// Builds the loss.
    pub fn init(&self) -> BoxIouLoss {
        BoxIouLoss {
            kind: self.kind,
            eps: self.eps,
            reduction: self.reduction,
        }
    }
}

/// The IoU losses of predicted boxes against target boxes, both `(x1, y1, x2, y2)`, as
/// torchvision's `generalized_box_iou_loss`, `distance_box_iou_loss` and
/// `complete_box_iou_loss`:
///
/// ```text
/// I = area of the intersection (0 unless it has positive width and height), U = A1 + A2 - I
/// IoU = I / (U + eps);   C = the smallest enclosing box
/// GIoU loss = 1 - IoU + (area(C) - U) / (area(C) + eps)
/// DIoU loss = 1 - IoU + rho^2 / (diag(C)^2 + eps)        rho: distance of the centres
/// CIoU loss = DIoU + alpha v,   v = (4 / pi^2) (atan(w2 / h2) - atan(w1 / h1))^2,
///             alpha = v / (1 - IoU + v + eps), a constant in the backward
/// ```
/// CIoU's IoU and DIoU use eps = 1e-7 whatever `eps` is, as torchvision's. Where
/// torchvision's CIoU is undefined, losskit gives the defined answer: a box of zero height
/// has the aspect angle `+-pi/2` (as torchvision) and the gradient of the valid side,
/// `h -> 0+` (torchvision: NaN, `atan'(inf) * inf`); a box of zero width and height has
/// angle 0 and no gradient through it (torchvision: a NaN loss). Every `min` and
/// `max` of coordinates shares its gradient in halves at a tie, as PyTorch's. Both box sets
/// get a gradient.
///
/// # Shapes
/// - `boxes1`, `boxes2`: `(N, 4)`
/// - reduced: `[1]`; unreduced: `(N)`
#[derive(Module, Debug)]
pub struct BoxIouLoss {
    #[module(skip)]
    kind: BoxIou,
    eps: f64,
    #[module(skip)]
    reduction: Reduction,
}

/// The four coordinates of `(N, 4)` boxes, each `(N, 1)`.
struct Corners {
    x1: Tensor<2>,
    y1: Tensor<2>,
    x2: Tensor<2>,
    y2: Tensor<2>,
}

impl Corners {
    fn of(boxes: Tensor<2>) -> Self {
        let [x1, y1, x2, y2]: [Tensor<2>; 4] = boxes.chunk(4, 1).try_into().expect("four columns");
        Self { x1, y1, x2, y2 }
    }

    fn width(&self) -> Tensor<2> {
        self.x2.clone() - self.x1.clone()
    }

    fn height(&self) -> Tensor<2> {
        self.y2.clone() - self.y1.clone()
    }
}

impl BoxIouLoss {
    /// The loss reduced by the configured [`Reduction`], shape `[1]`.
    pub fn forward(&self, boxes1: Tensor<2>, boxes2: Tensor<2>) -> Result<Tensor<1>, LossError> {
        check_boxes(&boxes1, &boxes2)?;
        // The fused pass folds the reduction in; an empty batch takes the composed path.
        if let Some(loss) = fused::box_iou(&boxes1, &boxes2, self.fused_kind(), self.eps, Some(self.reduction)) {
            return Ok(loss);
        }
        let loss = self.composed(boxes1, boxes2);
        let n = loss.dims()[0];
        Ok(match self.reduction {
            Reduction::Sum => loss.sum(),
            // torchvision's empty mean is `0.0 * loss.sum()`.
            Reduction::Mean if n == 0 => loss.sum(),
            Reduction::Mean => loss.sum().mul_scalar(1.0 / n as f64),
        })
    }

    /// The loss of each box pair, `(N)` (`reduction='none'`).
    pub fn forward_no_reduction(&self, boxes1: Tensor<2>, boxes2: Tensor<2>) -> Result<Tensor<1>, LossError> {
        check_boxes(&boxes1, &boxes2)?;
        if let Some(loss) = fused::box_iou(&boxes1, &boxes2, self.fused_kind(), self.eps, None) {
            return Ok(loss);
        }
        Ok(self.composed(boxes1, boxes2))
    }

    fn fused_kind(&self) -> BoxKind {
        match self.kind {
            BoxIou::Generalized => BoxKind::Generalized,
            BoxIou::Distance => BoxKind::Distance,
            BoxIou::Complete => BoxKind::Complete,
        }
    }

    /// The loss of each pair `(N)` in burn tensor ops: what other backends run, and flex
    /// where the kernels do not take the call.
    fn composed(&self, boxes1: Tensor<2>, boxes2: Tensor<2>) -> Tensor<1> {
        let boxes2 = cast(boxes2, boxes1.dtype());
        let (a, b) = (Corners::of(boxes1), Corners::of(boxes2));
        let eps = if self.kind == BoxIou::Complete {
            BOX_EPS
        } else {
            self.eps
        };
        let inter_w = minimum(a.x2.clone(), b.x2.clone()) - maximum(a.x1.clone(), b.x1.clone());
        let inter_h = minimum(a.y2.clone(), b.y2.clone()) - maximum(a.y1.clone(), b.y1.clone());
        let disjoint = inter_w
            .clone()
            .lower_equal_elem(0.0)
            .bool_or(inter_h.clone().lower_equal_elem(0.0));
        let inter = (inter_w * inter_h).mask_fill(disjoint, 0.0);
        let union = a.width() * a.height() + b.width() * b.height() - inter.clone();
        let iou = inter / union.clone().add_scalar(eps);
        let enclosing_w = maximum(a.x2.clone(), b.x2.clone()) - minimum(a.x1.clone(), b.x1.clone());
        let enclosing_h = maximum(a.y2.clone(), b.y2.clone()) - minimum(a.y1.clone(), b.y1.clone());
        let loss = match self.kind {
            BoxIou::Generalized => {
                let area = enclosing_w * enclosing_h;
                iou.neg().add_scalar(1.0) + (area.clone() - union) / area.add_scalar(eps)
            }
            BoxIou::Distance | BoxIou::Complete => {
                let diagonal = (enclosing_w.square() + enclosing_h.square()).add_scalar(eps);
                let dx = (a.x1.clone() + a.x2.clone() - b.x1.clone() - b.x2.clone()).mul_scalar(0.5);
                let dy = (a.y1.clone() + a.y2.clone() - b.y1.clone() - b.y2.clone()).mul_scalar(0.5);
                let diou = iou.clone().neg().add_scalar(1.0) + (dx.square() + dy.square()) / diagonal;
                if self.kind == BoxIou::Distance {
                    diou
                } else {
                    let angle = aspect_angle(b.width(), b.height()) - aspect_angle(a.width(), a.height());
                    let v = angle
                        .square()
                        .mul_scalar(4.0 / (core::f64::consts::PI * core::f64::consts::PI));
                    let alpha = (v.clone() / (iou.neg().add_scalar(1.0) + v.clone()).add_scalar(self.eps)).detach();
                    diou + alpha * v
                }
            }
        };
        loss.squeeze_dim::<1>(1)
    }
}

/// Both box sets `(N, 4)`, of the same shape.
fn check_boxes(boxes1: &Tensor<2>, boxes2: &Tensor<2>) -> Result<(), LossError> {
    let dims = boxes1.dims();
    check_same_shape(&dims, &boxes2.dims())?;
    if dims[1] != 4 {
        return Err(LossError::Shape(format!(
            "boxes must be (N, 4) as (x1, y1, x2, y2), got {dims:?}"
        )));
    }
    Ok(())
}

/// CIoU's `atan(w / h)`, elementwise, with a finite gradient at zero height: there the
/// value is `sign(w) pi/2 - h / w` (`+-pi/2`), whose derivatives `0` and `-1 / w` are those of
/// `atan(w / h)` as `h -> 0+`; at `w = h = 0` it is 0 and passes no gradient.
fn aspect_angle(width: Tensor<2>, height: Tensor<2>) -> Tensor<2> {
    let flat = height.clone().equal_elem(0.0);
    let point = flat.clone().bool_and(width.clone().equal_elem(0.0));
    let safe_height = height.clone().mask_fill(flat.clone(), 1.0);
    // Both divisors are kept from 0 wherever their branch is not taken too: the backward
    // of a division runs on every element, and 0 / 0 there would be a NaN gradient.
    let safe_width = width.clone().mask_fill(width.clone().equal_elem(0.0), 1.0);
    let regular = (width.clone() / safe_height).atan();
    let limit = width.sign().mul_scalar(core::f64::consts::FRAC_PI_2) - height / safe_width;
    regular.mask_where(flat, limit.mask_fill(point, 0.0))
}
