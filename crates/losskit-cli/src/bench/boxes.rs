//! The box losses' cases: GIoU, DIoU and CIoU of `(N, 4)` boxes.

use burn::tensor::{DType, Device, Tensor, TensorData};
use losskit::{BoxIou, BoxIouLossConfig, with_composed};

use super::Measurement;
use super::cases::Op;
use super::measure::{Rows, time, uniform};

/// `n` boxes `(x1, y1, x2, y2)` with corners in `[0, 100)` and sides in `[1, 50)`.
fn boxes(n: usize, seed: u64) -> Vec<f32> {
    let corners = uniform(2 * n, seed, 0.0, 100.0);
    let sides = uniform(2 * n, seed + 1, 1.0, 50.0);
    (0..n)
        .flat_map(|i| {
            [
                corners[2 * i],
                corners[2 * i + 1],
                corners[2 * i] + sides[2 * i],
                corners[2 * i + 1] + sides[2 * i + 1],
            ]
        })
        .collect()
}

pub(super) fn measure(op: Op, n: usize, repeats: usize) -> Vec<Measurement> {
    let device = Device::flex().autodiff();
    let predicted = TensorData::new(boxes(n, 1), [n, 4]);
    let target = Tensor::<2>::from_data(TensorData::new(boxes(n, 3), [n, 4]), (&device, DType::F32));
    let kind = match op {
        Op::GeneralizedBoxIou => BoxIou::Generalized,
        Op::DistanceBoxIou => BoxIou::Distance,
        _ => BoxIou::Complete,
    };
    let loss = BoxIouLossConfig::new(kind).init();
    let ours = |x: Tensor<2>| {
        loss.forward(x, target.clone())
            .expect("the benchmark's boxes are (N, 4)")
    };
    let mut rows = Rows::new(op, &[n, 4]);
    rows.record("losskit", time(&predicted, repeats, &ours, None));
    rows.record(
        "losskit-composed",
        with_composed(|| time(&predicted, repeats, &ours, None)),
    );
    rows.finish()
}
