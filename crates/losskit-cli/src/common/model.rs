//! The tutorial's network: 784 -> 500 -> ReLU -> 10.

use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::{Device, Element, Tensor};
use losskit::layers;

/// `nn.Linear(784, 500)`, ReLU, `nn.Linear(500, 10)`. burn's default Linear initialisation
/// is PyTorch's: weights and biases uniform in `+-1/sqrt(fan_in)`.
#[derive(Module, Debug)]
pub struct Mlp {
    fc1: Linear,
    fc2: Linear,
}

impl Mlp {
    /// A freshly initialised network on `device` (draws from the device's seeded RNG).
    pub fn new(inputs: usize, hidden: usize, classes: usize, device: &Device) -> Self {
        Self {
            fc1: LinearConfig::new(inputs, hidden).init(device),
            fc2: LinearConfig::new(hidden, classes).init(device),
        }
    }

    /// Every parameter value, in a fixed order (fc1's weight and bias, then fc2's).
    pub fn parameters(&self) -> Vec<f64> {
        self.values()
    }

    /// Every parameter value as `E`, in [`parameters`](Self::parameters)' order.
    fn values<E: Element>(&self) -> Vec<E> {
        let tensors = [
            self.fc1.weight.val().reshape([-1]),
            self.fc1.bias.as_ref().expect("fc1 has a bias").val(),
            self.fc2.weight.val().reshape([-1]),
            self.fc2.bias.as_ref().expect("fc2 has a bias").val(),
        ];
        tensors
            .into_iter()
            .flat_map(|t| t.try_into_vec_as::<E>().expect("parameters read as floats"))
            .collect()
    }

    /// A 64-bit FNV-1a hash of every parameter value, in a fixed order: equal for runs
    /// that end with bit-identical weights (the record's parameter ids are random per run).
    pub fn fingerprint(&self) -> String {
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for v in self.values::<f32>() {
            for byte in v.to_le_bytes() {
                hash = (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3);
            }
        }
        format!("{hash:016x}")
    }

    /// Whether no parameter is NaN or infinite.
    pub fn is_finite(&self) -> bool {
        self.values::<f32>().iter().all(|v| v.is_finite())
    }

    /// Logits `(N, classes)` of flattened images `(N, inputs)`, through losskit's fused
    /// layers (burn's `Linear` and `relu`, each large product split over the threads in blocks:
    /// two threads are then faster than one, where burn-flex's products are not).
    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        let hidden =
            layers::linear_relu(&self.fc1, x).expect("the network's callers give it images of its input width");
        layers::linear(&self.fc2, hidden).expect("the hidden layer's width is the output layer's input")
    }
}
