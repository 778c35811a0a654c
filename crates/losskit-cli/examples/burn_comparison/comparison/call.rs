//! One case put to burn: the case's tensors as burn tensors (tracked where PyTorch gives a
//! gradient), its options, and the answer read back (output values and gradients).

use std::collections::BTreeMap;

use burn::tensor::{DType, Device, Gradients, Int, Tensor, TensorData};
use serde_json::Value;

use super::case::{FixtureCase, FixtureTensor, Precision};

/// Why a request cannot be put to burn.
#[derive(Debug, Clone, PartialEq)]
pub enum Inexpressible {
    /// burn lacks these options (or shapes).
    Missing(Vec<String>),
    /// The request is not a PyTorch call burn could be asked to match.
    NotPyTorch(String),
}

/// Gathers what a request needs that burn lacks, so that a case names all of it.
#[derive(Debug, Default)]
pub struct MissingOptions {
    options: Vec<String>,
}

impl MissingOptions {
    /// Notes `option` as missing unless `burn_has_it`.
    pub fn require(&mut self, burn_has_it: bool, option: impl Into<String>) {
        if !burn_has_it {
            self.options.push(option.into());
        }
    }

    pub fn check(self) -> Result<(), Inexpressible> {
        if self.options.is_empty() {
            Ok(())
        } else {
            Err(Inexpressible::Missing(self.options))
        }
    }
}

/// PyTorch's reductions, as a case asks for them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TorchReduction {
    None,
    Mean,
    Sum,
    BatchMean,
}

impl TorchReduction {
    /// How the missing-option list names it.
    pub fn option_name(self) -> &'static str {
        match self {
            TorchReduction::None => "reduction 'none'",
            TorchReduction::Mean => "reduction 'mean'",
            TorchReduction::Sum => "reduction 'sum'",
            TorchReduction::BatchMean => "reduction 'batchmean'",
        }
    }
}

/// How a gradient is held against PyTorch's.
#[derive(Debug, Clone, PartialEq)]
pub enum GradientView {
    AsIs,
    /// Both gradients carried back through a log_softmax over the last dimension of
    /// `log_probs`: `g - softmax(log_probs) * sum(g)`. PyTorch's CTC returns
    /// `exp(log_probs) - occupation`, burn the derivative `-occupation`; they differ by
    /// `exp(log_probs)`, which this projection removes exactly, so what is compared is
    /// the gradient either gives the logits of a log_softmax, CTC's only correct use.
    ThroughLogSoftmax {
        log_probs: Vec<f64>,
        classes: usize,
    },
}

impl GradientView {
    pub fn apply(&self, gradient: &[f64]) -> Vec<f64> {
        match self {
            GradientView::AsIs => gradient.to_vec(),
            GradientView::ThroughLogSoftmax { log_probs, classes } => {
                let rows = gradient.chunks(*classes).zip(log_probs.chunks(*classes));
                rows.flat_map(|(g, x)| {
                    let max = x.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                    let z: f64 = x.iter().map(|v| (v - max).exp()).sum();
                    let total: f64 = g.iter().sum();
                    g.iter().zip(x).map(move |(g, x)| g - (x - max).exp() / z * total)
                })
                .collect()
            }
        }
    }
}

/// A gradient burn computed, with the view it is compared in.
#[derive(Debug, Clone)]
pub struct ObservedGradient {
    pub values: Vec<f64>,
    pub view: GradientView,
}

/// What burn answered.
#[derive(Debug, Clone)]
pub struct BurnAnswer {
    pub output: Vec<f64>,
    /// By response key: `grad_input`, `grad_var`, ...
    pub gradients: BTreeMap<String, ObservedGradient>,
}

/// A loss's output, read, and the scalar whose backward gives the gradients.
pub struct BurnOutput {
    values: Vec<f64>,
    seed: Tensor<1>,
}

/// A tensor whose gradient is read back.
/// Reads a leaf's gradient out of the backward pass's gradients, `None` when it got none.
type GradientReader = Box<dyn Fn(&Gradients) -> Option<Vec<f64>>>;

struct Leaf {
    key: String,
    numel: usize,
    view: GradientView,
    read: GradientReader,
}

/// A case while an adapter builds burn's loss and tensors for it.
pub struct BurnCall<'a> {
    pub case: &'a FixtureCase,
    device: Device,
    dtype: DType,
    leaves: Vec<Leaf>,
}

impl<'a> BurnCall<'a> {
    pub fn new(case: &'a FixtureCase, device: &Device) -> Self {
        let dtype = match case.precision {
            Precision::F32 => DType::F32,
            Precision::F64 => DType::F64,
        };
        Self {
            case,
            device: device.clone(),
            dtype,
            leaves: Vec::new(),
        }
    }

    pub fn device(&self) -> &Device {
        &self.device
    }

    /// The request's tensor `field`.
    pub fn tensor(&self, field: &str) -> Result<&'a FixtureTensor, Inexpressible> {
        let case = self.case;
        case.tensors
            .get(field)
            .ok_or_else(|| Inexpressible::NotPyTorch(format!("no {field}")))
    }

    /// The shape of `field`.
    pub fn shape(&self, field: &str) -> Result<Vec<usize>, Inexpressible> {
        self.tensor(field).map(|t| t.shape.clone())
    }

    /// `field` laid out as `dims` (same number of elements), tracked: its gradient is
    /// compared with PyTorch's `grad_<field>` (`grad_input` for `input`).
    pub fn leaf<const D: usize>(&mut self, field: &str, dims: [usize; D]) -> Result<Tensor<D>, Inexpressible> {
        let leaf = self.constant(field, dims)?.require_grad();
        let tracked = leaf.clone();
        self.leaves.push(Leaf {
            key: format!("grad_{field}"),
            numel: dims.iter().product(),
            view: GradientView::AsIs,
            read: Box::new(move |grads| tracked.grad(grads).map(|g| read(&g))),
        });
        Ok(leaf)
    }

    /// Compares the gradient of the last leaf made in `view` instead of as it is.
    pub fn view_last_leaf(&mut self, view: GradientView) {
        if let Some(leaf) = self.leaves.last_mut() {
            leaf.view = view;
        }
    }

    /// `field` laid out as `dims`, untracked (a target).
    pub fn constant<const D: usize>(&self, field: &str, dims: [usize; D]) -> Result<Tensor<D>, Inexpressible> {
        Ok(self.float(self.tensor(field)?.values.clone(), dims))
    }

    /// Values as a float tensor in the case's precision.
    pub fn float<const D: usize>(&self, values: Vec<f64>, dims: [usize; D]) -> Tensor<D> {
        Tensor::from_data(TensorData::new(values, dims), (&self.device, self.dtype))
    }

    /// `field` as integers (class indices, lengths, +-1 targets).
    pub fn indices<const D: usize>(&self, field: &str, dims: [usize; D]) -> Result<Tensor<D, Int>, Inexpressible> {
        // The device's default Int dtype, the one burn's losses create their own index
        // tensors in (I64 here made burn's RNNTLoss mix dtypes and panic).
        let values = self.tensor(field)?.values.iter().map(|&v| v as i32).collect::<Vec<_>>();
        Ok(Tensor::from_data(
            TensorData::new(values, dims),
            (&self.device, DType::I32),
        ))
    }

    /// Reads burn's output and builds `sum(output * grad_output)` (or `sum(output)`).
    pub fn output<const D: usize>(&self, tensor: Tensor<D>) -> BurnOutput {
        let values = read(&tensor);
        let seed = match &self.case.grad_output {
            // A grad_output of another size cannot multiply; the output's count already
            // makes the case differ.
            Some(g) if g.values.len() == values.len() => {
                let grad_output = self.float(g.values.clone(), tensor.dims());
                (tensor * grad_output).sum()
            }
            _ => tensor.sum(),
        };
        BurnOutput { values, seed }
    }

    /// Runs the backward pass and reads every leaf's gradient (zeros where none reached it).
    pub fn answer(self, output: BurnOutput) -> BurnAnswer {
        let grads = output.seed.is_tracked().then(|| output.seed.backward());
        let gradients = self
            .leaves
            .into_iter()
            .map(|leaf| {
                let values = grads
                    .as_ref()
                    .and_then(|g| (leaf.read)(g))
                    .unwrap_or_else(|| vec![0.0; leaf.numel]);
                (
                    leaf.key,
                    ObservedGradient {
                        values,
                        view: leaf.view,
                    },
                )
            })
            .collect();
        BurnAnswer {
            output: output.values,
            gradients,
        }
    }

    /// The `reduction` option (PyTorch's default `"mean"` when absent).
    pub fn reduction(&self) -> Result<TorchReduction, Inexpressible> {
        match self.option("reduction") {
            None => Ok(TorchReduction::Mean),
            Some(Value::String(name)) => match name.as_str() {
                "none" => Ok(TorchReduction::None),
                "mean" => Ok(TorchReduction::Mean),
                "sum" => Ok(TorchReduction::Sum),
                "batchmean" => Ok(TorchReduction::BatchMean),
                // burn's Reduction is an enum: a wrong name cannot be written.
                other => Err(Inexpressible::NotPyTorch(format!("reduction '{other}'"))),
            },
            Some(other) => Err(Inexpressible::NotPyTorch(format!("reduction {other}"))),
        }
    }

    /// The option `key`, `None` when absent or null.
    pub fn option(&self, key: &str) -> Option<&'a Value> {
        let case = self.case;
        case.options.get(key).filter(|v| !v.is_null())
    }

    pub fn number(&self, key: &str, default: f64) -> Result<f64, Inexpressible> {
        match self.option(key) {
            None => Ok(default),
            Some(v) => v
                .as_f64()
                .ok_or_else(|| Inexpressible::NotPyTorch(format!("{key} = {v}"))),
        }
    }

    pub fn boolean(&self, key: &str, default: bool) -> Result<bool, Inexpressible> {
        match self.option(key) {
            None => Ok(default),
            Some(v) => v
                .as_bool()
                .ok_or_else(|| Inexpressible::NotPyTorch(format!("{key} = {v}"))),
        }
    }

    /// A tensor option (`weight`, `pos_weight`).
    pub fn tensor_option(&self, key: &str) -> Result<Option<FixtureTensor>, Inexpressible> {
        self.option(key)
            .map(|v| super::case::parse_tensor(v).map_err(|why| Inexpressible::NotPyTorch(format!("{key}: {why}"))))
            .transpose()
    }
}

/// The values of a float tensor as f64.
fn read<const D: usize>(tensor: &Tensor<D>) -> Vec<f64> {
    tensor
        .clone()
        .try_into_vec_as::<f64>()
        .expect("a float tensor reads as f64")
}

/// `shape` padded with leading 1s to rank `D`, as PyTorch broadcasts a tensor of fewer
/// dimensions (a 0-d tensor becomes `[1]`).
pub fn padded<const D: usize>(shape: &[usize]) -> [usize; D] {
    let mut dims = [1; D];
    dims[D - shape.len()..].copy_from_slice(shape);
    dims
}

/// The rank burn computes a broadcasting loss at: the largest of the operands', at least 1.
pub fn common_rank(shapes: &[&[usize]]) -> usize {
    shapes.iter().map(|s| s.len()).max().unwrap_or(0).max(1)
}

/// Calls `$f::<D>(args..)` for the rank `D` that `$rank` holds (1 to 4): a burn tensor's
/// rank is part of its type.
macro_rules! at_rank {
    ($rank:expr, $f:ident($($arg:expr),*)) => {
        match $rank {
            1 => $f::<1>($($arg),*),
            2 => $f::<2>($($arg),*),
            3 => $f::<3>($($arg),*),
            4 => $f::<4>($($arg),*),
            rank => Err(Inexpressible::NotPyTorch(format!("rank {rank}: the comparison stops at 4"))),
        }
    };
}
pub(crate) use at_rank;
