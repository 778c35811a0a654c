//! The regression losses' cases: L1, MSE, smooth L1, Huber, against burn's versions.

use burn::nn::loss::{
    HuberLossConfig as BurnHuberLossConfig, LpLossConfig, MseLoss as BurnMseLoss, Reduction as BurnReduction,
    SmoothL1LossConfig as BurnSmoothL1LossConfig,
};
use burn::tensor::{DType, Device, Tensor, TensorData};
use losskit::{HuberLossConfig, L1LossConfig, MseLossConfig, SmoothL1LossConfig, with_composed};

use super::Measurement;
use super::cases::Op;
use super::measure::{BoundCopy, Rows, time, uniform};

pub(super) fn measure<const D: usize>(op: Op, shape: [usize; D], repeats: usize) -> Vec<Measurement> {
    let numel: usize = shape.iter().product();
    let input = TensorData::new(uniform(numel, 1, -3.0, 3.0), shape);
    let device = Device::flex().autodiff();
    let target = Tensor::<D>::from_data(
        TensorData::new(uniform(numel, 2, -3.0, 3.0), shape),
        (&device, DType::F32),
    );
    // The bound: the input and the target read, the gradient written, three tensors' worth
    // of traffic: a copy (one read, one write) of one and a half tensors.
    let mut copy = BoundCopy::new(numel * size_of::<f32>() * 3 / 2);
    let mut rows = Rows::new(op, &shape);
    let (l1, mse) = (L1LossConfig::new().init(), MseLossConfig::new().init());
    let smooth = SmoothL1LossConfig::new().init().expect("the defaults are valid");
    let huber = HuberLossConfig::new().init().expect("the defaults are valid");
    let ours = |x: Tensor<D>| {
        match op {
            Op::L1 => l1.forward(x, target.clone()),
            Op::Mse => mse.forward(x, target.clone()),
            Op::SmoothL1 => smooth.forward(x, target.clone()),
            _ => huber.forward(x, target.clone()),
        }
        .expect("the benchmark's shapes are valid")
    };
    rows.record("losskit", time(&input, repeats, &ours, Some(&mut copy)));
    rows.record("losskit-composed", with_composed(|| time(&input, repeats, &ours, None)));
    let (burn_l1, burn_smooth, burn_huber) = (
        LpLossConfig::new(1.0).init(),
        BurnSmoothL1LossConfig::new().init(),
        BurnHuberLossConfig::new(1.0).init(),
    );
    let burns = |x: Tensor<D>| match op {
        Op::L1 => burn_l1.forward(x, target.clone(), BurnReduction::Mean),
        Op::Mse => BurnMseLoss::new().forward(x, target.clone(), BurnReduction::Mean),
        Op::SmoothL1 => burn_smooth.forward_with_reduction(x, target.clone(), BurnReduction::Mean),
        _ => burn_huber.forward(x, target.clone(), BurnReduction::Mean),
    };
    rows.record("burn", time(&input, repeats, &burns, None));
    rows.finish()
}
