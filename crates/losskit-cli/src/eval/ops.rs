//! Each protocol op: options read and checked, tensors laid out for the library, output and gradient.

use burn::tensor::{DType, Device, Int, Tensor, TensorData};
use losskit::{
    Broadcast, CrossEntropyOptions, FocalAlpha, KlReduction, LossError, NllOptions, Reduction,
    SigmoidFocalOptions, SoftmaxFocalOptions,
};
use serde_json::{Map, Value};

use super::wire::{Checked, MAX_RANK, Request, check_tensor, tensor_json};

/// Elementwise losses run at this fixed rank, the shapes padded with leading 1s (which
/// leaves trailing broadcasting as it was).
const R: usize = MAX_RANK;

/// The options of one request, each read at most once; what is left unread is refused.
struct Options {
    op: String,
    map: Map<String, Value>,
}

impl Options {
    fn new(op: &str, map: Option<Map<String, Value>>, allowed: &[&str]) -> Result<Self, String> {
        let map = map.unwrap_or_default();
        if let Some(key) = map.keys().find(|k| !allowed.contains(&k.as_str())) {
            return Err(format!("unknown option '{key}' for {op} (expected one of {allowed:?})"));
        }
        Ok(Self { op: op.to_string(), map })
    }

    fn get(&self, key: &str) -> Option<&Value> {
        self.map.get(key).filter(|v| !v.is_null())
    }

    fn reduction(&self) -> Result<Reduction, String> {
        match self.get("reduction") {
            None => Ok(Reduction::Mean),
            Some(Value::String(s)) => s.parse(),
            Some(v) => Err(format!("reduction must be a string, got {v}")),
        }
    }

    fn number(&self, key: &str, default: f64) -> Result<f64, String> {
        match self.get(key) {
            None => Ok(default),
            Some(v) => v.as_f64().ok_or_else(|| format!("{key} must be a number, got {v}")),
        }
    }

    fn optional_number(&self, key: &str) -> Result<Option<f64>, String> {
        self.get(key).map(|v| v.as_f64().ok_or_else(|| format!("{key} must be a number or null, got {v}"))).transpose()
    }

    fn integer(&self, key: &str, default: i64) -> Result<i64, String> {
        match self.get(key) {
            None => Ok(default),
            Some(v) => v.as_i64().ok_or_else(|| format!("{key} must be an integer, got {v}")),
        }
    }

    fn boolean(&self, key: &str) -> Result<bool, String> {
        match self.get(key) {
            None => Ok(false),
            Some(v) => v.as_bool().ok_or_else(|| format!("{key} must be true or false, got {v}")),
        }
    }

    fn tensor(&self, key: &str) -> Result<Option<Checked>, String> {
        let Some(v) = self.get(key) else { return Ok(None) };
        let wire = serde_json::from_value(v.clone()).map_err(|e| format!("{} option {key}: {e}", self.op))?;
        check_tensor(key, wire).map(Some)
    }
}

/// Everything one request computes with.
struct Ctx {
    device: Device,
    dtype: DType,
}

impl Ctx {
    fn float<const D: usize>(&self, values: Vec<f64>, dims: [usize; D]) -> Tensor<D> {
        Tensor::from_data(TensorData::new(values, dims), (&self.device, self.dtype))
    }

    fn leaf<const D: usize>(&self, t: &Checked, dims: [usize; D]) -> Tensor<D> {
        self.float(t.floats(), dims).require_grad()
    }

    /// Class indices as i64, as PyTorch holds them: the device's default integer type may be
    /// narrower, and an index like 2^50 must reach the bounds check, not a failed cast.
    fn index<const D: usize>(&self, values: Vec<i64>, dims: [usize; D]) -> Tensor<D, Int> {
        Tensor::from_data(TensorData::new(values, dims), (&self.device, DType::I64))
    }

    /// A broadcast operand padded to rank `R`.
    fn broadcast(&self, t: Checked) -> Broadcast {
        Broadcast::new(self.float(t.floats(), pad_left(&t.shape)))
    }

    /// Output values and `d(sum(output * grad_output))/d(input)`, as the protocol's response.
    fn finish<const D: usize, const O: usize>(
        &self,
        input: &Tensor<D>,
        input_shape: &[usize],
        output: Tensor<O>,
        output_shape: Vec<usize>,
        grad_output: Option<Checked>,
    ) -> Result<Value, String> {
        let out_values = read(&output);
        let seed = match grad_output {
            Some(g) => {
                if g.shape != output_shape {
                    return Err(format!(
                        "grad_output has shape {:?}, the output has shape {output_shape:?}",
                        g.shape
                    ));
                }
                let dims = output.dims();
                (output * self.float(g.floats(), dims)).sum()
            }
            None => output.sum(),
        };
        let grads = seed.backward();
        let grad = match input.grad(&grads) {
            Some(g) => read(&g),
            None => vec![0.0; input_shape.iter().product()],
        };
        Ok(serde_json::json!({
            "output": tensor_json(&output_shape, &out_values),
            "grad_input": tensor_json(input_shape, &grad),
        }))
    }
}

fn read<const D: usize>(t: &Tensor<D>) -> Vec<f64> {
    t.clone().try_into_vec_as::<f64>().expect("a float tensor reads as f64")
}

fn pad_left(shape: &[usize]) -> [usize; R] {
    let mut dims = [1; R];
    dims[R - shape.len()..].copy_from_slice(shape);
    dims
}

fn pad_right(shape: &[usize]) -> [usize; R] {
    let mut dims = [1; R];
    dims[..shape.len()].copy_from_slice(shape);
    dims
}

fn loss_error(e: LossError) -> String {
    e.to_string()
}

/// The output shape of a reduced loss (PyTorch's 0-dim scalar) or of an unreduced one.
fn reduced_shape(reduction: Reduction, unreduced: Vec<usize>) -> Vec<usize> {
    if reduction == Reduction::None { unreduced } else { Vec::new() }
}

fn required(req_target: Option<Checked>, op: &str) -> Result<Checked, String> {
    req_target.ok_or_else(|| format!("{op} needs a target"))
}

fn same_shape(input: &Checked, target: &Checked) -> Result<(), String> {
    if input.shape != target.shape {
        return Err(format!(
            "Target size {:?} must be the same as input size {:?}",
            target.shape, input.shape
        ));
    }
    Ok(())
}

/// Serves one parsed request.
pub fn serve(req: Request, device: &Device) -> Result<Value, String> {
    let dtype = match req.dtype.as_deref() {
        None | Some("f32") => DType::F32,
        Some("f64") => DType::F64,
        Some(other) => return Err(format!("unknown dtype '{other}' (expected 'f32' or 'f64')")),
    };
    let ctx = Ctx { device: device.clone(), dtype };
    let op = req.op.as_str();
    let input = check_tensor("input", req.input)?;
    let target = req.target.map(|t| check_tensor("target", t)).transpose()?;
    let grad_output = req.grad_output.map(|t| check_tensor("grad_output", t)).transpose()?;
    if input.is_index {
        return Err("input must be a float tensor".into());
    }
    match op {
        "bce" | "bce_with_logits" | "sigmoid_focal" => {
            elementwise(&ctx, op, input, required(target, op)?, req.options, grad_output)
        }
        "cross_entropy" | "nll" | "softmax_focal" => {
            class_loss(&ctx, op, input, required(target, op)?, req.options, grad_output)
        }
        "softmax" | "log_softmax" | "entropy" => {
            if target.is_some() {
                return Err(format!("{op} takes no target"));
            }
            along_dim(&ctx, op, input, req.options, grad_output)
        }
        "kl_div" => kl_div(&ctx, input, required(target, op)?, req.options, grad_output),
        other => Err(format!(
            "unknown op '{other}' (expected bce, bce_with_logits, cross_entropy, nll, sigmoid_focal, \
             softmax_focal, softmax, log_softmax, entropy or kl_div)"
        )),
    }
}

/// BCE, BCE with logits and sigmoid focal: same-shape input and target, broadcast weights.
fn elementwise(
    ctx: &Ctx,
    op: &str,
    input: Checked,
    target: Checked,
    options: Option<Map<String, Value>>,
    grad_output: Option<Checked>,
) -> Result<Value, String> {
    let allowed: &[&str] = match op {
        "bce" => &["weight", "reduction"],
        "bce_with_logits" => &["weight", "pos_weight", "reduction"],
        _ => &["alpha", "gamma", "weight", "pos_weight", "reduction"],
    };
    let opts = Options::new(op, options, allowed)?;
    let reduction = opts.reduction()?;
    same_shape(&input, &target)?;
    if target.is_index {
        return Err(format!("{op} needs a float target"));
    }
    let dims = pad_left(&input.shape);
    let x = ctx.leaf(&input, dims);
    let y = ctx.float(target.floats(), dims);
    let weight = opts.tensor("weight")?.map(|w| ctx.broadcast(w));
    let output = match op {
        "bce" => losskit::bce(x.clone(), y, &losskit::BceOptions { weight, reduction }),
        "bce_with_logits" => {
            let pos_weight = opts.tensor("pos_weight")?.map(|w| ctx.broadcast(w));
            losskit::bce_with_logits(
                x.clone(),
                y,
                &losskit::BceWithLogitsOptions { weight, pos_weight, reduction },
            )
        }
        _ => {
            let alpha = opts.optional_number("alpha")?;
            let options = SigmoidFocalOptions {
                alpha,
                gamma: opts.number("gamma", 2.0)?,
                weight,
                pos_weight: opts.tensor("pos_weight")?.map(|w| ctx.broadcast(w)),
                reduction,
            };
            losskit::sigmoid_focal(x.clone(), y, &options)
        }
    }
    .map_err(loss_error)?;
    let shape = reduced_shape(reduction, input.shape.clone());
    ctx.finish(&x, &input.shape, output, shape, grad_output)
}

/// Cross entropy, NLL and softmax focal, laid out as `(N, C, S)` with targets `(N, S)`.
fn class_loss(
    ctx: &Ctx,
    op: &str,
    input: Checked,
    target: Checked,
    options: Option<Map<String, Value>>,
    grad_output: Option<Checked>,
) -> Result<Value, String> {
    let allowed: &[&str] = match op {
        "cross_entropy" => &["weight", "ignore_index", "label_smoothing", "reduction"],
        "nll" => &["weight", "ignore_index", "reduction"],
        _ => &["alpha", "gamma", "ignore_index", "reduction"],
    };
    let opts = Options::new(op, options, allowed)?;
    let reduction = opts.reduction()?;
    let ignore_index = opts.integer("ignore_index", losskit::IGNORE_INDEX)?;
    let shape = &input.shape;
    let (n, c, s, unreduced) = match shape.len() {
        0 => return Err(format!("{op} needs an input of shape (C), (N, C) or (N, C, d1, ...), got []")),
        1 => (1, shape[0], 1, Vec::new()),
        _ => {
            let rest = shape[2..].to_vec();
            let unreduced = [vec![shape[0]], rest.clone()].concat();
            (shape[0], shape[1], rest.iter().product(), unreduced)
        }
    };
    let x = ctx.leaf(&input, [n, c, s]);
    let class_weight = |key: &str| -> Result<Option<Tensor<1>>, String> {
        match opts.tensor(key)? {
            None => Ok(None),
            Some(w) if w.shape.len() == 1 => Ok(Some(ctx.float(w.floats(), [w.shape[0]]))),
            Some(w) => Err(format!("{key} should be a 1D tensor of {c} elements, got shape {:?}", w.shape)),
        }
    };
    let probabilities = op == "cross_entropy" && !target.is_index;
    if probabilities {
        same_shape(&input, &target)?;
        let options = CrossEntropyOptions {
            weight: class_weight("weight")?,
            ignore_index,
            label_smoothing: opts.number("label_smoothing", 0.0)?,
            reduction,
        };
        let y = ctx.float(target.floats(), [n, c, s]);
        let output = losskit::cross_entropy_with_probs(x.clone(), y, &options).map_err(loss_error)?;
        let out_shape = reduced_shape(reduction, unreduced);
        return ctx.finish(&x, &input.shape, output, out_shape, grad_output);
    }
    if !target.is_index {
        return Err(format!("{op} needs class-index targets (\"dtype\": \"i64\")"));
    }
    if target.shape != unreduced {
        return Err(format!(
            "Expected target size {unreduced:?}, got {:?} (input size {:?})",
            target.shape, input.shape
        ));
    }
    let y = ctx.index(target.indices("target")?, [n, s]);
    let output = match op {
        "cross_entropy" => {
            let options = CrossEntropyOptions {
                weight: class_weight("weight")?,
                ignore_index,
                label_smoothing: opts.number("label_smoothing", 0.0)?,
                reduction,
            };
            losskit::cross_entropy(x.clone(), y, &options)
        }
        "nll" => {
            let options = NllOptions { weight: class_weight("weight")?, ignore_index, reduction };
            losskit::nll(x.clone(), y, &options)
        }
        _ => {
            let alpha = match opts.get("alpha") {
                None => FocalAlpha::None,
                Some(Value::Number(a)) => FocalAlpha::Scalar(a.as_f64().unwrap_or(f64::NAN)),
                Some(_) => match class_weight("alpha")? {
                    Some(a) => FocalAlpha::PerClass(a),
                    None => FocalAlpha::None,
                },
            };
            let options = SoftmaxFocalOptions {
                alpha,
                gamma: opts.number("gamma", 2.0)?,
                ignore_index,
                reduction,
            };
            losskit::softmax_focal(x.clone(), y, &options)
        }
    }
    .map_err(loss_error)?;
    let out_shape = reduced_shape(reduction, unreduced);
    ctx.finish(&x, &input.shape, output, out_shape, grad_output)
}

/// Softmax, log-softmax and entropy along `dim`, laid out as `(before, dim, after)`.
fn along_dim(
    ctx: &Ctx,
    op: &str,
    input: Checked,
    options: Option<Map<String, Value>>,
    grad_output: Option<Checked>,
) -> Result<Value, String> {
    let opts = Options::new(op, options, &["dim"])?;
    let dim = opts.integer("dim", -1)?;
    let shape = &input.shape;
    // A 0-dim tensor has one position along dim 0 or -1, as in PyTorch.
    let rank = shape.len().max(1);
    if dim < -(rank as i64) || dim >= rank as i64 {
        return Err(LossError::DimOutOfRange { dim, rank }.to_string());
    }
    let d = if dim < 0 { (dim + rank as i64) as usize } else { dim as usize };
    let full = if shape.is_empty() { vec![1] } else { shape.clone() };
    let before = full[..d].iter().product();
    let after = full[d + 1..].iter().product();
    let x = ctx.leaf(&input, [before, full[d], after]);
    let output = match op {
        "softmax" => losskit::softmax(x.clone(), 1),
        "log_softmax" => losskit::log_softmax(x.clone(), 1),
        _ => losskit::entropy(x.clone(), 1),
    }
    .map_err(loss_error)?;
    let out_shape = if op == "entropy" {
        let mut s = shape.clone();
        if !s.is_empty() {
            s.remove(d);
        }
        s
    } else {
        shape.clone()
    };
    ctx.finish(&x, &input.shape, output, out_shape, grad_output)
}

/// KL divergence; shapes padded on the right so that `batchmean` still divides by dim 0.
fn kl_div(
    ctx: &Ctx,
    input: Checked,
    target: Checked,
    options: Option<Map<String, Value>>,
    grad_output: Option<Checked>,
) -> Result<Value, String> {
    let opts = Options::new("kl_div", options, &["reduction", "log_target"])?;
    let reduction = match opts.get("reduction") {
        Some(Value::String(s)) if s == "batchmean" => KlReduction::BatchMean,
        _ => KlReduction::from(opts.reduction()?),
    };
    let log_target = opts.boolean("log_target")?;
    same_shape(&input, &target)?;
    let dims = pad_right(&input.shape);
    let x = ctx.leaf(&input, dims);
    let y = ctx.float(target.floats(), dims);
    let output = losskit::kl_div(x.clone(), y, reduction, log_target).map_err(loss_error)?;
    let out_shape = if reduction == KlReduction::None { input.shape.clone() } else { Vec::new() };
    ctx.finish(&x, &input.shape, output, out_shape, grad_output)
}
