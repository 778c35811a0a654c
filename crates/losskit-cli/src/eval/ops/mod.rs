//! The protocol's ops: each parsed once into an [`Op`], which names its tensors and
//! options; a [`Call`] holds a request's checked tensors and options while an op reads
//! them, and builds the response (output and every float tensor's gradient).

mod boxes;
mod classification;
mod distribution;
mod embedding;
mod linear;
mod multiclass;
mod pair;
mod regression;
mod sequence;

use std::collections::BTreeMap;

use burn::tensor::{DType, Device, Gradients, Int, Tensor, TensorData};
use losskit::{LossError, Reduction};
use serde_json::{Map, Value};

use super::error::RequestError;
use super::wire::{Checked, Field, Request, check_tensor, tensor_json};

/// One op of the protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Bce,
    BceWithLogits,
    SigmoidFocal,
    CrossEntropy,
    Nll,
    SoftmaxFocal,
    Softmax,
    LogSoftmax,
    Entropy,
    KlDiv,
    L1,
    Mse,
    SmoothL1,
    Huber,
    SoftMargin,
    PoissonNll,
    GaussianNll,
    HingeEmbedding,
    MultiLabelSoftMargin,
    MultiLabelMargin,
    MultiMargin,
    MarginRanking,
    CosineEmbedding,
    TripletMargin,
    TripletMarginWithDistance,
    GeneralizedBoxIou,
    DistanceBoxIou,
    CompleteBoxIou,
    Ctc,
    Rnnt,
    LinearCrossEntropy,
}

/// What an op takes: its name, its tensors besides `input` and `grad_output`, its options.
struct OpSpec {
    name: &'static str,
    fields: &'static [Field],
    options: &'static [&'static str],
}

impl Op {
    const ALL: [Op; 31] = [
        Op::Bce,
        Op::BceWithLogits,
        Op::SigmoidFocal,
        Op::CrossEntropy,
        Op::Nll,
        Op::SoftmaxFocal,
        Op::Softmax,
        Op::LogSoftmax,
        Op::Entropy,
        Op::KlDiv,
        Op::L1,
        Op::Mse,
        Op::SmoothL1,
        Op::Huber,
        Op::SoftMargin,
        Op::PoissonNll,
        Op::GaussianNll,
        Op::HingeEmbedding,
        Op::MultiLabelSoftMargin,
        Op::MultiLabelMargin,
        Op::MultiMargin,
        Op::MarginRanking,
        Op::CosineEmbedding,
        Op::TripletMargin,
        Op::TripletMarginWithDistance,
        Op::GeneralizedBoxIou,
        Op::DistanceBoxIou,
        Op::CompleteBoxIou,
        Op::Ctc,
        Op::Rnnt,
        Op::LinearCrossEntropy,
    ];

    fn spec(self) -> OpSpec {
        use Field::{Bias, Classifier, Input2, InputLengths, Negative, Positive, Target, TargetLengths, Var};
        const REDUCTION: &[&str] = &["reduction"];
        const BOX: &[&str] = &["eps", "reduction"];
        let spec = |name, fields, options| OpSpec { name, fields, options };
        match self {
            Op::Bce => spec("bce", &[Target], &["weight", "reduction"]),
            Op::BceWithLogits => spec("bce_with_logits", &[Target], &["weight", "pos_weight", "reduction"]),
            Op::SigmoidFocal => spec(
                "sigmoid_focal",
                &[Target],
                &["alpha", "gamma", "weight", "pos_weight", "reduction"],
            ),
            Op::CrossEntropy => spec(
                "cross_entropy",
                &[Target],
                &[
                    "weight",
                    "ignore_index",
                    "label_smoothing",
                    "reduction",
                    "softcap",
                    "z_loss",
                ],
            ),
            Op::Nll => spec("nll", &[Target], &["weight", "ignore_index", "reduction"]),
            Op::SoftmaxFocal => spec(
                "softmax_focal",
                &[Target],
                &["alpha", "gamma", "ignore_index", "reduction"],
            ),
            Op::Softmax => spec("softmax", &[], &["dim"]),
            Op::LogSoftmax => spec("log_softmax", &[], &["dim"]),
            Op::Entropy => spec("entropy", &[], &["dim"]),
            Op::KlDiv => spec("kl_div", &[Target], &["reduction", "log_target"]),
            Op::L1 => spec("l1", &[Target], REDUCTION),
            Op::Mse => spec("mse", &[Target], REDUCTION),
            Op::SmoothL1 => spec("smooth_l1", &[Target], &["beta", "reduction"]),
            Op::Huber => spec("huber", &[Target], &["delta", "reduction"]),
            Op::SoftMargin => spec("soft_margin", &[Target], REDUCTION),
            Op::PoissonNll => spec("poisson_nll", &[Target], &["log_input", "full", "eps", "reduction"]),
            Op::GaussianNll => spec("gaussian_nll", &[Target, Var], &["full", "eps", "reduction"]),
            Op::HingeEmbedding => spec("hinge_embedding", &[Target], &["margin", "reduction"]),
            Op::MultiLabelSoftMargin => spec("multilabel_soft_margin", &[Target], &["weight", "reduction"]),
            Op::MultiLabelMargin => spec("multilabel_margin", &[Target], REDUCTION),
            Op::MultiMargin => spec("multi_margin", &[Target], &["p", "margin", "weight", "reduction"]),
            Op::MarginRanking => spec("margin_ranking", &[Input2, Target], &["margin", "reduction"]),
            Op::CosineEmbedding => spec("cosine_embedding", &[Input2, Target], &["margin", "reduction"]),
            Op::TripletMargin => spec(
                "triplet_margin",
                &[Positive, Negative],
                &["margin", "p", "eps", "swap", "reduction"],
            ),
            Op::TripletMarginWithDistance => spec(
                "triplet_margin_with_distance",
                &[Positive, Negative],
                &["distance", "margin", "swap", "reduction"],
            ),
            Op::GeneralizedBoxIou => spec("generalized_box_iou", &[Target], BOX),
            Op::DistanceBoxIou => spec("distance_box_iou", &[Target], BOX),
            Op::CompleteBoxIou => spec("complete_box_iou", &[Target], BOX),
            Op::Ctc => spec(
                "ctc",
                &[Target, InputLengths, TargetLengths],
                &["blank", "zero_infinity", "reduction"],
            ),
            Op::Rnnt => spec(
                "rnnt",
                &[Target, InputLengths, TargetLengths],
                &["blank", "clamp", "fused_log_softmax", "reduction"],
            ),
            Op::LinearCrossEntropy => spec(
                "linear_cross_entropy",
                &[Target, Classifier, Bias],
                &[
                    "weight",
                    "ignore_index",
                    "label_smoothing",
                    "reduction",
                    "softcap",
                    "z_loss",
                ],
            ),
        }
    }

    pub fn name(self) -> &'static str {
        self.spec().name
    }

    fn parse(name: &str) -> Result<Op, RequestError> {
        Op::ALL
            .into_iter()
            .find(|op| op.name() == name)
            .ok_or_else(|| RequestError::UnknownOp {
                op: name.to_string(),
                expected: Op::ALL.map(Op::name).join(", "),
            })
    }
}

/// Serves one parsed request.
pub fn serve(request: Request, device: &Device) -> Result<Value, RequestError> {
    let op = Op::parse(&request.op)?;
    let mut call = Call::new(op, request, device)?;
    match op {
        Op::Bce | Op::BceWithLogits | Op::SigmoidFocal => classification::elementwise(&mut call),
        Op::CrossEntropy | Op::Nll | Op::SoftmaxFocal => classification::class_loss(&mut call),
        Op::Softmax | Op::LogSoftmax | Op::Entropy => distribution::along_dim(&mut call),
        Op::KlDiv => distribution::kl_div(&mut call),
        Op::L1 | Op::Mse | Op::SmoothL1 | Op::Huber | Op::SoftMargin | Op::PoissonNll | Op::HingeEmbedding => {
            regression::elementwise(&mut call)
        }
        Op::GaussianNll => regression::gaussian_nll(&mut call),
        Op::MarginRanking => regression::margin_ranking(&mut call),
        Op::MultiMargin => multiclass::multi_margin(&mut call),
        Op::MultiLabelMargin => multiclass::multilabel_margin(&mut call),
        Op::MultiLabelSoftMargin => multiclass::multilabel_soft_margin(&mut call),
        Op::CosineEmbedding => embedding::cosine_embedding(&mut call),
        Op::TripletMargin | Op::TripletMarginWithDistance => embedding::triplet(&mut call),
        Op::GeneralizedBoxIou | Op::DistanceBoxIou | Op::CompleteBoxIou => boxes::box_iou(&mut call),
        Op::Ctc => sequence::ctc(&mut call),
        Op::Rnnt => sequence::rnnt(&mut call),
        Op::LinearCrossEntropy => linear::linear_cross_entropy(&mut call),
    }
}

/// Reads a leaf's gradient out of the backward pass's gradients, `None` when it got none.
type GradientReader = Box<dyn Fn(&Gradients) -> Option<Vec<f64>>>;

/// A tensor whose gradient the response carries.
struct Leaf {
    field: Field,
    shape: Vec<usize>,
    grad: GradientReader,
}

/// A request while its op reads it: checked tensors, options, and the leaves made so far.
pub(super) struct Call {
    op: Op,
    device: Device,
    dtype: DType,
    tensors: BTreeMap<Field, Checked>,
    options: Options,
    leaves: Vec<Leaf>,
}

/// What a loss computed, before the response is written.
pub(super) struct Output<const O: usize> {
    pub tensor: Tensor<O>,
    /// The protocol's shape of it (`[]` for a reduced loss, PyTorch's 0-dim scalar).
    pub shape: Vec<usize>,
}

impl Call {
    fn new(op: Op, request: Request, device: &Device) -> Result<Self, RequestError> {
        let spec = op.spec();
        let dtype = match request.dtype.as_deref() {
            None | Some("f32") => DType::F32,
            Some("f64") => DType::F64,
            Some(other) => return Err(RequestError::Dtype(other.to_string())),
        };
        let mut tensors = BTreeMap::new();
        for (field, wire) in request.tensors {
            let taken = matches!(field, Field::Input | Field::GradOutput) || spec.fields.contains(&field);
            if !taken {
                let takes = [Field::Input]
                    .iter()
                    .chain(spec.fields)
                    .map(|f| f.name())
                    .collect::<Vec<_>>()
                    .join(", ");
                return Err(RequestError::FieldNotTaken {
                    op: spec.name,
                    field: field.name(),
                    takes,
                });
            }
            tensors.insert(field, check_tensor(field.name(), wire)?);
        }
        if tensors[&Field::Input].is_index {
            return Err(RequestError::Tensor {
                name: "input".into(),
                why: "must be a float tensor".into(),
            });
        }
        let options = Options::new(spec.name, request.options, spec.options)?;
        Ok(Self {
            op,
            device: device.clone(),
            dtype,
            tensors,
            options,
            leaves: Vec::new(),
        })
    }

    pub fn op(&self) -> Op {
        self.op
    }

    pub fn device(&self) -> Device {
        self.device.clone()
    }

    pub fn options(&self) -> &Options {
        &self.options
    }

    /// The tensor of `field`, if the request has it.
    pub fn get(&self, field: Field) -> Option<&Checked> {
        self.tensors.get(&field)
    }

    /// The tensor of `field`, which the op needs.
    pub fn require(&self, field: Field) -> Result<&Checked, RequestError> {
        self.get(field).ok_or(RequestError::MissingField {
            op: self.op.name(),
            field: field.name(),
        })
    }

    /// The float tensor of `field`, which the op needs.
    pub fn require_float(&self, field: Field) -> Result<&Checked, RequestError> {
        let t = self.require(field)?;
        if t.is_index {
            let why = format!("must be a float tensor for {}", self.op.name());
            return Err(RequestError::Tensor {
                name: field.name().into(),
                why,
            });
        }
        Ok(t)
    }

    /// A float tensor of `values` in the request's dtype.
    pub fn float<const D: usize>(&self, values: Vec<f64>, dims: [usize; D]) -> Tensor<D> {
        Tensor::from_data(TensorData::new(values, dims), (&self.device, self.dtype))
    }

    /// The tensor of `field` laid out as `dims`, tracked: the response carries its gradient
    /// (as `grad_input` or `grad_<field>`) in the request's shape.
    pub fn leaf<const D: usize>(&mut self, field: Field, dims: [usize; D]) -> Result<Tensor<D>, RequestError> {
        let t = self.require_float(field)?;
        let (values, shape) = (t.floats(), t.shape.clone());
        let leaf = self.float(values, dims).require_grad();
        let tracked = leaf.clone();
        let grad = Box::new(move |grads: &Gradients| tracked.grad(grads).map(|g| read(&g)));
        self.leaves.push(Leaf { field, shape, grad });
        Ok(leaf)
    }

    /// Class indices as i64, as PyTorch holds them: the device's default integer type may be
    /// narrower, and an index like 2^50 must reach the bounds check, not a failed cast.
    pub fn index<const D: usize>(&self, values: Vec<i64>, dims: [usize; D]) -> Tensor<D, Int> {
        Tensor::from_data(TensorData::new(values, dims), (&self.device, DType::I64))
    }

    /// The response: output values, and `d(sum(output * grad_output))` with respect to
    /// every leaf.
    pub fn respond<const O: usize>(&mut self, output: Output<O>) -> Result<Value, RequestError> {
        let Output { tensor, shape } = output;
        let values = read(&tensor);
        let seed = match self.tensors.get(&Field::GradOutput) {
            Some(g) => {
                if g.shape != shape {
                    return Err(RequestError::Shape(format!(
                        "grad_output has shape {:?}, the output has shape {shape:?}",
                        g.shape
                    )));
                }
                let dims = tensor.dims();
                (tensor * self.float(g.floats(), dims)).sum()
            }
            None => tensor.sum(),
        };
        let grads = seed.is_tracked().then(|| seed.backward());
        let mut response = Map::new();
        response.insert("output".into(), tensor_json(&shape, &values));
        for leaf in &self.leaves {
            let grad = grads
                .as_ref()
                .and_then(|g| (leaf.grad)(g))
                .unwrap_or_else(|| vec![0.0; leaf.shape.iter().product()]);
            let key = match leaf.field {
                Field::Input => "grad_input".to_string(),
                other => format!("grad_{}", other.name()),
            };
            response.insert(key, tensor_json(&leaf.shape, &grad));
        }
        Ok(Value::Object(response))
    }
}

/// The values of a float tensor as f64.
fn read<const D: usize>(t: &Tensor<D>) -> Vec<f64> {
    t.clone().try_into_vec_as::<f64>().expect("a float tensor reads as f64")
}

/// The rank the elementwise ops run at: burn's ndarray backend takes at most 6 dimensions.
pub(super) const ELEMENTWISE_RANK: usize = 6;

/// The shapes of tensors that broadcast together, laid out at [`ELEMENTWISE_RANK`]:
/// right-aligned and padded with leading 1s (which leaves broadcasting as it was); beyond
/// that rank, neighbouring dimensions are merged where every tensor spans both or neither.
pub(super) fn lay_out(shapes: &[&[usize]]) -> Result<Vec<[usize; ELEMENTWISE_RANK]>, RequestError> {
    let rank = shapes.iter().map(|s| s.len()).max().unwrap_or(0);
    let mut aligned: Vec<Vec<usize>> = shapes
        .iter()
        .map(|s| [vec![1; rank - s.len()], s.to_vec()].concat())
        .collect();
    while aligned.first().is_some_and(|s| s.len() > ELEMENTWISE_RANK) {
        let full = |k: usize| aligned.iter().map(|s| s[k]).max().unwrap_or(1);
        let mergeable = |k: usize| {
            aligned
                .iter()
                .all(|s| (s[k] == full(k) && s[k + 1] == full(k + 1)) || (s[k] == 1 && s[k + 1] == 1))
        };
        let Some(k) = (0..aligned[0].len() - 1).find(|&k| mergeable(k)) else {
            return Err(RequestError::Shape(format!(
                "shapes {shapes:?} broadcast along more than {ELEMENTWISE_RANK} separate dimensions"
            )));
        };
        for s in &mut aligned {
            let merged = s[k] * s[k + 1];
            s.splice(k..k + 2, [merged]);
        }
    }
    Ok(aligned
        .into_iter()
        .map(|s| {
            let mut dims = [1; ELEMENTWISE_RANK];
            dims[ELEMENTWISE_RANK - s.len()..].copy_from_slice(&s);
            dims
        })
        .collect())
}

/// A loss's output by the requested reduction: `forward` (PyTorch's 0-dim scalar on the
/// wire) or `forward_no_reduction` (in `unreduced`, the wire shape).
pub(super) fn by_reduction<const T: usize>(
    reduction: Option<Reduction>,
    unreduced: Vec<usize>,
    forward: impl FnOnce() -> Result<Tensor<1>, LossError>,
    forward_no_reduction: impl FnOnce() -> Result<Tensor<T>, LossError>,
) -> Result<Output<T>, RequestError> {
    Ok(match reduction {
        None => Output {
            tensor: forward_no_reduction()?,
            shape: unreduced,
        },
        Some(_) => Output {
            tensor: forward()?.reshape([1; T]),
            shape: Vec::new(),
        },
    })
}

/// The options of one request, checked against the op's names.
pub(super) struct Options {
    map: Map<String, Value>,
}

impl Options {
    fn new(op: &'static str, map: Map<String, Value>, allowed: &'static [&'static str]) -> Result<Self, RequestError> {
        if let Some(key) = map.keys().find(|k| !allowed.contains(&k.as_str())) {
            return Err(RequestError::UnknownOption {
                op,
                key: key.clone(),
                expected: allowed,
            });
        }
        Ok(Self { map })
    }

    /// The value of `key`, `None` when absent or null.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.map.get(key).filter(|v| !v.is_null())
    }

    fn wrong(key: &str, expected: &'static str, value: &Value) -> RequestError {
        RequestError::OptionType {
            key: key.to_string(),
            expected,
            value: value.clone(),
        }
    }

    /// `reduction`: `None` for `"none"`, PyTorch's default `"mean"` when absent.
    pub fn reduction(&self) -> Result<Option<Reduction>, RequestError> {
        match self.get("reduction") {
            None => Ok(Some(Reduction::Mean)),
            Some(Value::String(s)) if s == "none" => Ok(None),
            Some(Value::String(s)) => s.parse().map(Some).map_err(|_| RequestError::Reduction(s.clone())),
            Some(v) => Err(Self::wrong("reduction", "a string", v)),
        }
    }

    pub fn number(&self, key: &str, default: f64) -> Result<f64, RequestError> {
        match self.get(key) {
            None => Ok(default),
            Some(v) => v.as_f64().ok_or_else(|| Self::wrong(key, "a number", v)),
        }
    }

    pub fn optional_number(&self, key: &str) -> Result<Option<f64>, RequestError> {
        self.get(key)
            .map(|v| v.as_f64().ok_or_else(|| Self::wrong(key, "a number or null", v)))
            .transpose()
    }

    pub fn integer(&self, key: &str, default: i64) -> Result<i64, RequestError> {
        match self.get(key) {
            None => Ok(default),
            Some(v) => v.as_i64().ok_or_else(|| Self::wrong(key, "an integer", v)),
        }
    }

    pub fn boolean(&self, key: &str, default: bool) -> Result<bool, RequestError> {
        match self.get(key) {
            None => Ok(default),
            Some(v) => v.as_bool().ok_or_else(|| Self::wrong(key, "true or false", v)),
        }
    }

    /// A tensor option (`weight`, `pos_weight`, `alpha`), checked as request tensors are.
    pub fn tensor(&self, key: &str) -> Result<Option<Checked>, RequestError> {
        let Some(v) = self.get(key) else { return Ok(None) };
        let wire = serde_json::from_value(v.clone()).map_err(|e| RequestError::Tensor {
            name: key.to_string(),
            why: e.to_string(),
        })?;
        check_tensor(key, wire).map(Some)
    }

    /// A per-class tensor option `(C)`, as its values.
    pub fn class_tensor(&self, key: &str, classes: usize) -> Result<Option<Vec<f64>>, RequestError> {
        match self.tensor(key)? {
            None => Ok(None),
            Some(w) if w.shape.len() == 1 => Ok(Some(w.floats())),
            Some(w) => Err(RequestError::Shape(format!(
                "{key} should be a 1D tensor of {classes} elements, got shape {:?}",
                w.shape
            ))),
        }
    }
}
