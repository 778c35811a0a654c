//! The JSON shapes of the eval protocol, read strictly: a request is an object (never an
//! array), every key is known and appears once, at every depth; tensors are checked
//! against their shape and the limits before anything is computed.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use super::error::RequestError;

/// At most this many elements in one tensor (the protocol's 2^24).
pub const MAX_ELEMENTS: usize = 1 << 24;
/// At most this many dimensions.
pub const MAX_RANK: usize = 8;

/// The tensor fields of a request, named after PyTorch's arguments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Field {
    Input,
    Target,
    GradOutput,
    Input2,
    Positive,
    Negative,
    Var,
    InputLengths,
    TargetLengths,
    Classifier,
    Bias,
}

impl Field {
    pub const ALL: [Field; 11] = [
        Field::Input,
        Field::Target,
        Field::GradOutput,
        Field::Input2,
        Field::Positive,
        Field::Negative,
        Field::Var,
        Field::InputLengths,
        Field::TargetLengths,
        Field::Classifier,
        Field::Bias,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Field::Input => "input",
            Field::Target => "target",
            Field::GradOutput => "grad_output",
            Field::Input2 => "input2",
            Field::Positive => "positive",
            Field::Negative => "negative",
            Field::Var => "var",
            Field::InputLengths => "input_lengths",
            Field::TargetLengths => "target_lengths",
            Field::Classifier => "classifier",
            Field::Bias => "bias",
        }
    }

    fn from_name(name: &str) -> Option<Field> {
        Field::ALL.into_iter().find(|f| f.name() == name)
    }
}

/// Every top-level key a request may have.
const REQUEST_FIELDS: [&str; 14] = [
    "op",
    "dtype",
    "options",
    "input",
    "target",
    "grad_output",
    "input2",
    "positive",
    "negative",
    "var",
    "input_lengths",
    "target_lengths",
    "classifier",
    "bias",
];

/// One request line as it arrives.
#[derive(Debug)]
pub struct Request {
    pub op: String,
    pub dtype: Option<String>,
    pub tensors: BTreeMap<Field, WireTensor>,
    pub options: Map<String, Value>,
}

impl<'de> Deserialize<'de> for Request {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct RequestVisitor;
        impl<'de> Visitor<'de> for RequestVisitor {
            type Value = Request;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a request object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Request, A::Error> {
                let (mut op, mut dtype, mut options) = (None, None, None);
                let mut tensors = BTreeMap::new();
                while let Some(key) = map.next_key::<String>()? {
                    let duplicate = match key.as_str() {
                        "op" => op.replace(map.next_value::<String>()?).is_some(),
                        "dtype" => dtype.replace(map.next_value::<String>()?).is_some(),
                        "options" => options.replace(map.next_value::<StrictObject>()?.0).is_some(),
                        other => match Field::from_name(other) {
                            Some(field) => tensors.insert(field, map.next_value::<WireTensor>()?).is_some(),
                            None => return Err(de::Error::unknown_field(other, &REQUEST_FIELDS)),
                        },
                    };
                    if duplicate {
                        return Err(de::Error::custom(format!("duplicate field `{key}`")));
                    }
                }
                let op = op.ok_or_else(|| de::Error::missing_field("op"))?;
                if !tensors.contains_key(&Field::Input) {
                    return Err(de::Error::missing_field("input"));
                }
                Ok(Request {
                    op,
                    dtype,
                    tensors,
                    options: options.unwrap_or_default(),
                })
            }
        }
        deserializer.deserialize_map(RequestVisitor)
    }
}

/// `{"shape": [..], "data": [..], "dtype": "i64"?}` as it arrives.
#[derive(Debug, Clone)]
pub struct WireTensor {
    pub shape: Vec<Value>,
    pub data: Vec<Number>,
    pub dtype: Option<String>,
}

impl<'de> Deserialize<'de> for WireTensor {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TensorVisitor;
        impl<'de> Visitor<'de> for TensorVisitor {
            type Value = WireTensor;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a tensor object {\"shape\": [..], \"data\": [..]}")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<WireTensor, A::Error> {
                let (mut shape, mut data, mut dtype) = (None, None, None);
                while let Some(key) = map.next_key::<String>()? {
                    let duplicate = match key.as_str() {
                        "shape" => shape.replace(map.next_value::<Vec<Value>>()?).is_some(),
                        "data" => data.replace(map.next_value::<Vec<Number>>()?).is_some(),
                        "dtype" => dtype.replace(map.next_value::<String>()?).is_some(),
                        other => return Err(de::Error::unknown_field(other, &["shape", "data", "dtype"])),
                    };
                    if duplicate {
                        return Err(de::Error::custom(format!("duplicate field `{key}`")));
                    }
                }
                Ok(WireTensor {
                    shape: shape.ok_or_else(|| de::Error::missing_field("shape"))?,
                    data: data.ok_or_else(|| de::Error::missing_field("data"))?,
                    dtype,
                })
            }
        }
        deserializer.deserialize_map(TensorVisitor)
    }
}

/// A JSON object whose keys each appear once, at every depth.
struct StrictObject(Map<String, Value>);

impl<'de> Deserialize<'de> for StrictObject {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ObjectVisitor;
        impl<'de> Visitor<'de> for ObjectVisitor {
            type Value = StrictObject;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<StrictObject, A::Error> {
                strict_map(map).map(StrictObject)
            }
        }
        deserializer.deserialize_map(ObjectVisitor)
    }
}

/// The entries of a map, refusing a key seen before; values read as [`StrictValue`].
fn strict_map<'de, A: MapAccess<'de>>(mut map: A) -> Result<Map<String, Value>, A::Error> {
    let mut out = Map::new();
    while let Some(key) = map.next_key::<String>()? {
        let value = map.next_value::<StrictValue>()?.0;
        if out.insert(key.clone(), value).is_some() {
            return Err(de::Error::custom(format!("duplicate key `{key}`")));
        }
    }
    Ok(out)
}

/// Any JSON value whose objects hold each key once.
struct StrictValue(Value);

impl<'de> Deserialize<'de> for StrictValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ValueVisitor;
        impl<'de> Visitor<'de> for ValueVisitor {
            type Value = StrictValue;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_bool<E>(self, v: bool) -> Result<StrictValue, E> {
                Ok(StrictValue(Value::Bool(v)))
            }
            fn visit_i64<E>(self, v: i64) -> Result<StrictValue, E> {
                Ok(StrictValue(Value::from(v)))
            }
            fn visit_u64<E>(self, v: u64) -> Result<StrictValue, E> {
                Ok(StrictValue(Value::from(v)))
            }
            fn visit_f64<E>(self, v: f64) -> Result<StrictValue, E> {
                Ok(StrictValue(Value::from(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<StrictValue, E> {
                Ok(StrictValue(Value::from(v)))
            }
            fn visit_unit<E>(self) -> Result<StrictValue, E> {
                Ok(StrictValue(Value::Null))
            }
            fn visit_none<E>(self) -> Result<StrictValue, E> {
                Ok(StrictValue(Value::Null))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<StrictValue, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element::<StrictValue>()? {
                    items.push(item.0);
                }
                Ok(StrictValue(Value::Array(items)))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<StrictValue, A::Error> {
                strict_map(map).map(|m| StrictValue(Value::Object(m)))
            }
        }
        deserializer.deserialize_any(ValueVisitor)
    }
}

/// A JSON number, or one of the strings `"nan"`, `"inf"`, `"-inf"`.
#[derive(Debug, Clone, Copy)]
pub enum Number {
    Int(i64),
    Float(f64),
}

impl<'de> Deserialize<'de> for Number {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct NumberVisitor;
        impl Visitor<'_> for NumberVisitor {
            type Value = Number;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a number or one of \"nan\", \"inf\", \"-inf\"")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Number, E> {
                Ok(Number::Int(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Number, E> {
                Ok(i64::try_from(v).map(Number::Int).unwrap_or(Number::Float(v as f64)))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Number, E> {
                Ok(Number::Float(v))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Number, E> {
                match v.to_ascii_lowercase().as_str() {
                    "nan" => Ok(Number::Float(f64::NAN)),
                    "inf" | "infinity" => Ok(Number::Float(f64::INFINITY)),
                    "-inf" | "-infinity" => Ok(Number::Float(f64::NEG_INFINITY)),
                    _ => Err(E::invalid_value(de::Unexpected::Str(v), &self)),
                }
            }
        }
        deserializer.deserialize_any(NumberVisitor)
    }
}

impl Number {
    pub fn as_f64(self) -> f64 {
        match self {
            Number::Int(i) => i as f64,
            Number::Float(f) => f,
        }
    }
}

/// A tensor whose shape and data were checked against each other and the limits.
#[derive(Debug, Clone)]
pub struct Checked {
    /// The field or option it came from, for errors.
    pub name: String,
    pub shape: Vec<usize>,
    pub data: Vec<Number>,
    pub is_index: bool,
}

impl Checked {
    pub fn floats(&self) -> Vec<f64> {
        self.data.iter().map(|n| n.as_f64()).collect()
    }

    /// The values as integers; an `i64` tensor holding a non-integer is refused.
    pub fn indices(&self) -> Result<Vec<i64>, RequestError> {
        self.data
            .iter()
            .map(|n| match *n {
                Number::Int(i) => Ok(i),
                Number::Float(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Ok(f as i64),
                Number::Float(value) => Err(RequestError::NotAnIndex {
                    name: self.name.clone(),
                    value,
                }),
            })
            .collect()
    }
}

/// Checks a wire tensor: integer dimensions, element count within the limit, data length.
pub fn check_tensor(name: &str, t: WireTensor) -> Result<Checked, RequestError> {
    let bad = |why: String| RequestError::Tensor {
        name: name.to_string(),
        why,
    };
    if t.shape.len() > MAX_RANK {
        return Err(bad(format!(
            "has {} dimensions, at most {MAX_RANK} are supported",
            t.shape.len()
        )));
    }
    let mut shape = Vec::with_capacity(t.shape.len());
    let mut numel: usize = 1;
    for d in &t.shape {
        let dim = d
            .as_u64()
            .ok_or_else(|| bad(format!("shape has {d}, dimensions must be non-negative integers")))?;
        let dim = usize::try_from(dim).map_err(|_| bad(format!("dimension {dim} is too large")))?;
        numel = numel.saturating_mul(dim);
        shape.push(dim);
    }
    if numel > MAX_ELEMENTS {
        return Err(bad(format!("of shape {shape:?} has more than {MAX_ELEMENTS} elements")));
    }
    // An empty tensor's other dimensions still size what is computed from it (a sum over
    // its empty dimension, a broadcast against another tensor): they are held to the same
    // limit, before anything is allocated.
    if span(&shape) > MAX_ELEMENTS {
        return Err(bad(format!(
            "of shape {shape:?} spans more than {MAX_ELEMENTS} elements (its dimensions multiplied, empty ones counted as 1)"
        )));
    }
    if t.data.len() != numel {
        return Err(bad(format!(
            "has {} values, its shape {shape:?} needs {numel}",
            t.data.len()
        )));
    }
    let is_index = match t.dtype.as_deref() {
        None | Some("f32") | Some("f64") | Some("float") => false,
        Some("i64") | Some("int") => true,
        Some(other) => return Err(bad(format!("has unknown dtype '{other}' (expected 'i64' or none)"))),
    };
    Ok(Checked {
        name: name.to_string(),
        shape,
        data: t.data,
        is_index,
    })
}

/// The product of `shape`'s dimensions with the empty ones counted as 1 (saturating): the
/// elements its non-empty dimensions span, which bounds what a reduction or a broadcast
/// made from it holds.
pub fn span(shape: &[usize]) -> usize {
    shape.iter().fold(1usize, |n, &d| n.saturating_mul(d.max(1)))
}

/// Writes a response tensor; non-finite values become `"nan"`, `"inf"`, `"-inf"`.
pub fn tensor_json(shape: &[usize], data: &[f64]) -> Value {
    let data = data
        .iter()
        .map(|&v| {
            if v.is_nan() {
                Value::from("nan")
            } else if v.is_infinite() {
                Value::from(if v > 0.0 { "inf" } else { "-inf" })
            } else {
                Value::from(v)
            }
        })
        .collect::<Vec<_>>();
    serde_json::json!({ "shape": shape, "data": data })
}
