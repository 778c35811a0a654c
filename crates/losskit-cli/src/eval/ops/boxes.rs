//! The box losses: generalized_box_iou, distance_box_iou, complete_box_iou.

use losskit::{BoxIou, BoxIouLossConfig};
use serde_json::Value;

use super::classification::same_shape;
use super::{Call, Op, Output, by_reduction};
use crate::eval::error::RequestError;
use crate::eval::wire::Field;

/// Boxes `(N, 4)` or one box `(4)` against as many target boxes.
pub(super) fn box_iou(call: &mut Call) -> Result<Value, RequestError> {
    let opts = call.options();
    let reduction = opts.reduction()?;
    let kind = match call.op() {
        Op::GeneralizedBoxIou => BoxIou::Generalized,
        Op::DistanceBoxIou => BoxIou::Distance,
        _ => BoxIou::Complete,
    };
    let loss = BoxIouLossConfig::new(kind)
        .with_eps(opts.number("eps", 1e-7)?)
        .with_reduction(reduction.unwrap_or_default())
        .init();
    let input = call.require(Field::Input)?.clone();
    let target = call.require_float(Field::Target)?.clone();
    same_shape(&input, &target)?;
    let (dims, unreduced) = match input.shape[..] {
        [4] => ([1, 4], Vec::new()),
        [n, 4] => ([n, 4], vec![n]),
        _ => {
            return Err(RequestError::Shape(format!(
                "boxes must be (N, 4) or (4) as (x1, y1, x2, y2), got {:?}",
                input.shape
            )));
        }
    };
    let y = call.float(target.floats(), dims);
    let x = call.leaf(Field::Input, dims)?;
    let output: Output<1> = by_reduction(
        reduction,
        unreduced,
        || loss.forward(x.clone(), y.clone()),
        || loss.forward_no_reduction(x.clone(), y.clone()),
    )?;
    call.respond(output)
}
