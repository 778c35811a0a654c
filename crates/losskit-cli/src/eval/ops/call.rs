//! [`Call`]: a request's checked tensors and options while an op reads them, the leaves
//! whose gradients the response carries, and the response itself.

use std::collections::BTreeMap;

use burn::tensor::{DType, Device, Gradients, Int, Tensor, TensorData};
use serde_json::{Map, Value};

use super::super::error::RequestError;
use super::super::wire::{Checked, Field, Request, check_tensor, tensor_json};
use super::{Op, Options};

/// Reads a leaf's gradient out of the backward pass's gradients, `None` when it got none.
type GradientReader = Box<dyn Fn(&Gradients) -> Option<Vec<f64>>>;

/// A tensor whose gradient the response carries.
struct Leaf {
    field: Field,
    shape: Vec<usize>,
    grad: GradientReader,
}

/// A request while its op reads it: checked tensors, options, and the leaves made so far.
pub(in crate::eval) struct Call {
    op: Op,
    device: Device,
    dtype: DType,
    tensors: BTreeMap<Field, Checked>,
    options: Options,
    leaves: Vec<Leaf>,
}

/// What a loss computed, before the response is written.
pub(in crate::eval) struct Output<const O: usize> {
    pub tensor: Tensor<O>,
    /// The protocol's shape of it (`[]` for a reduced loss, PyTorch's 0-dim scalar).
    pub shape: Vec<usize>,
}

impl Call {
    pub(super) fn new(op: Op, request: Request, device: &Device) -> Result<Self, RequestError> {
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

    /// The float tensor of `field`, which the op needs; an integer (`i64`) target where
    /// PyTorch promotes one to float.
    pub fn require_float(&self, field: Field) -> Result<&Checked, RequestError> {
        let t = self.require(field)?;
        if t.is_index && field == Field::Target && self.op.promotes_integer_target() {
            t.indices()?;
            return Ok(t);
        }
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
