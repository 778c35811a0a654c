//! The IoU losses of one pair of boxes `(x1, y1, x2, y2)`, with the gradient of both boxes
//! written out by hand, in the order torchvision's autograd takes it (so that GIoU's and
//! DIoU's NaNs are its own; CIoU's zero-height gradient is defined where torchvision's is
//! NaN, see [`aspect`]): min and max share their gradient in halves at a tie, the
//! intersection passes a gradient only where it has positive width and height.

use super::atan::atan;
use super::math::Real;
use super::simd::Fma;

/// Which IoU loss.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum BoxKind {
    Generalized,
    Distance,
    /// CIoU: DIoU (with eps 1e-7) plus `alpha v`, alpha a constant in the backward.
    Complete,
}

/// A pair's loss and the gradient of each box (for an upstream gradient of 1).
pub(crate) struct BoxLoss<T> {
    pub loss: T,
    pub grad_a: [T; 4],
    pub grad_b: [T; 4],
}

/// CIoU's aspect angle `atan(w / h)` of a box and its derivatives.
struct Aspect<T> {
    angle: f64,
    d_width: T,
    d_height: T,
}

/// `atan(w / h)` as torchvision computes it (the ratio in `T`), with the derivatives
/// `h / (w^2 + h^2)` and `-w / (w^2 + h^2)`. At zero height, where torchvision's chain rule
/// multiplies `atan'(inf) = 0` by `d(w / h) = inf` and returns NaN, the angle is its limit
/// `+-pi/2` and the derivatives are those of the valid side, `h -> 0+` (`0` and `-1 / w`);
/// a box of zero width and height (torchvision: a NaN loss) has angle 0 and no gradient.
/// Selects, not branches, so that the loop over boxes vectorises.
#[inline(always)]
fn aspect<T: Real>(m: impl Fma, w: T, h: T) -> Aspect<T> {
    let zero = T::ZERO;
    let norm = w * w + h * h;
    let flat = h == zero;
    let ratio = w / T::select(flat, T::ONE, h);
    // `atan(+-inf) = +-pi/2`; a point's ratio is 0.
    let ratio = T::select(flat, T::from_f64(f64::INFINITY.copysign(w.to_f64())), ratio);
    let ratio = T::select(flat && w == zero, zero, ratio);
    // Not a point (nor NaN): the derivatives are defined.
    let sized = norm > zero;
    let safe_norm = T::select(sized, norm, T::ONE);
    Aspect {
        angle: atan(m, ratio.to_f64()),
        d_width: T::select(sized, h / safe_norm, zero),
        d_height: T::select(sized, zero - w / safe_norm, zero),
    }
}

/// `max(a, b)` and the share of its gradient each argument takes: the value is `a` where
/// they tie or either is NaN, and the shares are then halves.
#[inline(always)]
fn max_share<T: Real>(a: T, b: T) -> (T, T, T) {
    let (a_wins, b_wins) = (a > b, b > a);
    let share_a = T::select(a_wins, T::ONE, T::select(b_wins, T::ZERO, T::from_f64(0.5)));
    (T::select(b_wins, b, a), share_a, T::ONE - share_a)
}

/// `min(a, b)` and the share of its gradient each argument takes: the value is `a` where
/// they tie or either is NaN, and the shares are then halves.
#[inline(always)]
fn min_share<T: Real>(a: T, b: T) -> (T, T, T) {
    let (a_wins, b_wins) = (a < b, b < a);
    let share_a = T::select(a_wins, T::ONE, T::select(b_wins, T::ZERO, T::from_f64(0.5)));
    (T::select(b_wins, b, a), share_a, T::ONE - share_a)
}

/// The loss of boxes `a` against `b` and both gradients. `eps` is the call's (for CIoU the
/// caller passes 1e-7 as `eps` and the call's as `alpha_eps`).
#[inline(always)]
pub(crate) fn box_loss<T: Real>(
    m: impl Fma,
    kind: BoxKind,
    eps: T,
    alpha_eps: T,
    a: [T; 4],
    b: [T; 4],
    with_grad: bool,
) -> BoxLoss<T> {
    let (zero, one, two, half) = (T::ZERO, T::ONE, T::from_f64(2.0), T::from_f64(0.5));
    let [x1, y1, x2, y2] = a;
    let [u1, v1, u2, v2] = b;
    // Intersection.
    let (ix1, ix1_a, ix1_b) = max_share(x1, u1);
    let (iy1, iy1_a, iy1_b) = max_share(y1, v1);
    let (ix2, ix2_a, ix2_b) = min_share(x2, u2);
    let (iy2, iy2_a, iy2_b) = min_share(y2, v2);
    let (iw, ih) = (ix2 - ix1, iy2 - iy1);
    let overlap = ih > zero && iw > zero;
    let inter = T::select(overlap, iw * ih, zero);
    let (w, h, ww, hh) = (x2 - x1, y2 - y1, u2 - u1, v2 - v1);
    let union = w * h + ww * hh - inter;
    let iou = inter / (union + eps);
    // The enclosing box.
    let (cx1, cx1_a, cx1_b) = min_share(x1, u1);
    let (cy1, cy1_a, cy1_b) = min_share(y1, v1);
    let (cx2, cx2_a, cx2_b) = max_share(x2, u2);
    let (cy2, cy2_a, cy2_b) = max_share(y2, v2);
    let (cw, ch) = (cx2 - cx1, cy2 - cy1);
    let (dx, dy) = (half * (x1 + x2 - u1 - u2), half * (y1 + y2 - v1 - v2));
    let mut g_union = zero;
    let (g_cw, g_ch);
    let (mut g_dx, mut g_dy) = (zero, zero);
    let (mut g_w, mut g_h, mut g_ww, mut g_hh) = (zero, zero, zero, zero);
    let loss = match kind {
        BoxKind::Generalized => {
            let area = cw * ch;
            let loss = one - iou + (area - union) / (area + eps);
            let g_area = (union + eps) / ((area + eps) * (area + eps));
            g_union = zero - one / (area + eps);
            (g_cw, g_ch) = (g_area * ch, g_area * cw);
            loss
        }
        BoxKind::Distance | BoxKind::Complete => {
            let diagonal = cw * cw + ch * ch + eps;
            let rho = dx * dx + dy * dy;
            let mut loss = one - iou + rho / diagonal;
            let g_diagonal = zero - rho / (diagonal * diagonal);
            (g_cw, g_ch) = (g_diagonal * two * cw, g_diagonal * two * ch);
            (g_dx, g_dy) = (two * dx / diagonal, two * dy / diagonal);
            if kind == BoxKind::Complete {
                let k = T::from_f64(4.0 / (core::f64::consts::PI * core::f64::consts::PI));
                let (a, b) = (aspect(m, w, h), aspect(m, ww, hh));
                let angle = b.angle - a.angle;
                let v = k * T::from_f64(angle * angle);
                let alpha = v / (one - iou + v + alpha_eps);
                loss = loss + alpha * v;
                // d(alpha v) with alpha constant: alpha k 2 angle (d angle_b - d angle_a).
                let g_angle = alpha * k * two * T::from_f64(angle);
                (g_w, g_h) = (zero - g_angle * a.d_width, zero - g_angle * a.d_height);
                (g_ww, g_hh) = (g_angle * b.d_width, g_angle * b.d_height);
            }
            loss
        }
    };
    if !with_grad {
        return BoxLoss {
            loss,
            grad_a: [zero; 4],
            grad_b: [zero; 4],
        };
    }
    // iou = inter / (union + eps), union = area_a + area_b - inter.
    let g_iou = zero - one;
    let g_union = g_union - g_iou * inter / ((union + eps) * (union + eps));
    let g_inter = g_iou / (union + eps) - g_union;
    let (g_iw, g_ih) = (
        T::select(overlap, g_inter * ih, zero),
        T::select(overlap, g_inter * iw, zero),
    );
    // The areas' factors, and CIoU's widths and heights, share the same coordinates.
    let (g_w, g_h) = (g_w + g_union * h, g_h + g_union * w);
    let (g_ww, g_hh) = (g_ww + g_union * hh, g_hh + g_union * ww);
    let grad_a = [
        zero - g_iw * ix1_a - g_cw * cx1_a + half * g_dx - g_w,
        zero - g_ih * iy1_a - g_ch * cy1_a + half * g_dy - g_h,
        g_iw * ix2_a + g_cw * cx2_a + half * g_dx + g_w,
        g_ih * iy2_a + g_ch * cy2_a + half * g_dy + g_h,
    ];
    let grad_b = [
        zero - g_iw * ix1_b - g_cw * cx1_b - half * g_dx - g_ww,
        zero - g_ih * iy1_b - g_ch * cy1_b - half * g_dy - g_hh,
        g_iw * ix2_b + g_cw * cx2_b - half * g_dx + g_ww,
        g_ih * iy2_b + g_ch * cy2_b - half * g_dy + g_hh,
    ];
    BoxLoss { loss, grad_a, grad_b }
}
