//! A language model's output layer and its loss as one module: the classifier's weights as
//! burn parameters (which an optimizer trains), the loss as [`LinearCrossEntropyLoss`].

use burn::config::Config;
use burn::module::{Module, Param};
use burn::nn::Initializer;
use burn::tensor::{Device, Int, Tensor};

use super::linear_chunks::linear;
use super::linear_cross_entropy::{LinearCrossEntropyLoss, LinearCrossEntropyLossConfig};
use crate::LossError;

/// Configuration of [`LinearCrossEntropyHead`]: burn's `LinearConfig` (`d_input`,
/// `d_output`, `bias`, `initializer`, same defaults) with the loss's configuration.
#[derive(Config, Debug)]
pub struct LinearCrossEntropyHeadConfig {
    /// The hidden size `H`.
    pub d_input: usize,
    /// The number of classes `V` (the vocabulary).
    pub d_output: usize,
    /// Whether the logits have a bias. True by default, as `nn.Linear`'s.
    #[config(default = true)]
    pub bias: bool,
    /// How the classifier and the bias start: burn's `Linear` default, PyTorch's
    /// `U(-1/sqrt(H), 1/sqrt(H))`.
    #[config(default = "Initializer::KaimingUniform { gain: 1.0 / f64::sqrt(3.0), fan_out_only: false }")]
    pub initializer: Initializer,
    /// The loss.
    #[config(default = "LinearCrossEntropyLossConfig::new()")]
    pub loss: LinearCrossEntropyLossConfig,
}

impl LinearCrossEntropyHeadConfig {
    /// Builds the head with fresh parameters on `device`; fails where the loss's
    /// configuration does.
    pub fn init(&self, device: &Device) -> Result<LinearCrossEntropyHead, LossError> {
        let (h, v) = (self.d_input, self.d_output);
        let classifier = self.initializer.init_with([v, h], Some(h), Some(v), device);
        let bias = self
            .bias
            .then(|| self.initializer.init_with([v], Some(h), Some(v), device));
        Ok(LinearCrossEntropyHead {
            classifier,
            bias,
            loss: self.loss.init(device)?,
        })
    }
}

/// An output layer `logits = input @ classifier^T + bias` that a model holds in place of
/// burn's `Linear` followed by a loss: in training, [`forward`](Self::forward) gives the
/// loss of [`LinearCrossEntropyLoss`] (never the `(N, V)` logits); for inference,
/// [`logits`](Self::logits) gives the logits.
///
/// The classifier is `(V, H)`, PyTorch's `nn.Linear(H, V).weight` layout (burn's `Linear`
/// stores `(H, V)`): a checkpoint of a PyTorch `lm_head` loads as it is.
#[derive(Module, Debug)]
pub struct LinearCrossEntropyHead {
    /// `(V, H)`.
    pub classifier: Param<Tensor<2>>,
    /// `(V)`, or none.
    pub bias: Option<Param<Tensor<1>>>,
    /// The loss.
    pub loss: LinearCrossEntropyLoss,
}

impl LinearCrossEntropyHead {
    /// The loss of `input` `(N, H)` against `target` `(N)`, reduced as configured, `[1]`.
    pub fn forward(&self, input: Tensor<2>, target: Tensor<1, Int>) -> Result<Tensor<1>, LossError> {
        self.loss
            .forward(input, self.classifier.val(), self.bias.as_ref().map(Param::val), target)
    }

    /// The loss of each row, `(N)`.
    pub fn forward_no_reduction(&self, input: Tensor<2>, target: Tensor<1, Int>) -> Result<Tensor<1>, LossError> {
        self.loss
            .forward_no_reduction(input, self.classifier.val(), self.bias.as_ref().map(Param::val), target)
    }

    /// The logits `(N, V)` of `input` `(N, H)`, as `F.linear` gives them.
    pub fn logits(&self, input: Tensor<2>) -> Tensor<2> {
        linear(input, self.classifier.val(), self.bias.as_ref().map(Param::val))
    }
}
