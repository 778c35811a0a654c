//! The tutorial's YOLOv5 `FocalLoss(nn.BCEWithLogitsLoss(pos_weight=torch.tensor(1.0)))`
//! (gamma 2, alpha 0.25) on preds [[0.03, 32.1, 0.0006]] against [[0, 1, 0]].
//!
//! PyTorch prints `tensor(0.0890, grad_fn=<MeanBackward0>)`.

use burn::tensor::{Device, Tensor};
use losskit::SigmoidFocalLossConfig;

fn focal() -> (f32, Vec<f32>) {
    let device = Device::flex().autodiff();
    let preds = Tensor::<2>::from_data([[3e-2, 32.1, 6e-4]], &device).require_grad();
    let truth = Tensor::<2>::from_data([[0.0, 1.0, 0.0]], &device);
    let loss = SigmoidFocalLossConfig::new()
        .with_gamma(2.0)
        .with_alpha(Some(0.25))
        .with_pos_weight(Some(losskit::BroadcastWeight::last_dim(vec![1.0])))
        .init(&device)
        .unwrap()
        .forward(preds.clone(), truth)
        .unwrap();
    let grad = preds.grad(&loss.backward()).unwrap().try_into_vec_as::<f32>().unwrap();
    (loss.into_scalar(), grad)
}

fn main() {
    let (loss, grad) = focal();
    println!("YOLOv5 FocalLoss(BCEWithLogitsLoss(pos_weight=1), gamma=2, alpha=0.25): {loss:.4}");
    println!("d loss / d preds: {grad:.4?}");
}

#[test]
fn prints_pytorchs_value() {
    let (loss, grad) = focal();
    assert!((loss - 0.088_970_54).abs() < 1e-6, "{loss}");
    assert!((grad[0] - 0.077_597_41).abs() < 1e-6, "{grad:?}");
}
