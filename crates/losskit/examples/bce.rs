//! The tutorial's `nn.BCELoss(reduction='mean')` on y_hat = [0.2, 0.8, 0.6, 0.3], y = [0, 1, 1, 0].
//!
//! PyTorch prints `tensor(0.3284, grad_fn=<BinaryCrossEntropyBackward0>)`.

use burn::tensor::{Device, Tensor};
use losskit::BceLossConfig;

fn bce_example() -> (f32, Vec<f32>) {
    let device = Device::flex().autodiff();
    let y_hat = Tensor::<1>::from_data([0.2, 0.8, 0.6, 0.3], &device).require_grad();
    let y = Tensor::<1>::from_data([0.0, 1.0, 1.0, 0.0], &device);
    let loss = BceLossConfig::new()
        .init(&device)
        .unwrap()
        .forward(y_hat.clone(), y)
        .unwrap();
    let grads = loss.backward();
    let grad = y_hat.grad(&grads).unwrap().try_into_vec_as::<f32>().unwrap();
    (loss.into_scalar(), grad)
}

fn main() {
    let (loss, grad) = bce_example();
    println!("BCELoss(mean) of [0.2, 0.8, 0.6, 0.3] against [0, 1, 1, 0]: {loss:.4}");
    println!("d loss / d y_hat: {grad:.4?}");
}

#[test]
fn prints_pytorchs_value() {
    let (loss, grad) = bce_example();
    assert!((loss - 0.328_446_9).abs() < 1e-6, "{loss}");
    // (x - y) / (x (1 - x)) / 4
    assert!((grad[0] - 0.2 / 0.16 / 4.0).abs() < 1e-6, "{grad:?}");
}
