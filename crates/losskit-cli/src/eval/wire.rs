//! The JSON shapes of the eval protocol: requests, tensors, numbers, and their limits.

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;
use serde_json::{Map, Value};

/// At most this many elements in one tensor (the protocol's 2^24).
pub const MAX_ELEMENTS: usize = 1 << 24;
/// At most this many dimensions.
pub const MAX_RANK: usize = 8;

/// One request line.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Request {
    pub op: String,
    #[serde(default)]
    pub dtype: Option<String>,
    pub input: WireTensor,
    #[serde(default)]
    pub target: Option<WireTensor>,
    #[serde(default)]
    pub options: Option<Map<String, Value>>,
    #[serde(default)]
    pub grad_output: Option<WireTensor>,
}

/// `{"shape": [..], "data": [..], "dtype": "i64"?}` as it arrives.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WireTensor {
    pub shape: Vec<Value>,
    pub data: Vec<Number>,
    #[serde(default)]
    pub dtype: Option<String>,
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
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
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
    pub shape: Vec<usize>,
    pub data: Vec<Number>,
    pub is_index: bool,
}

impl Checked {
    pub fn floats(&self) -> Vec<f64> {
        self.data.iter().map(|n| n.as_f64()).collect()
    }

    pub fn indices(&self, name: &str) -> Result<Vec<i64>, String> {
        self.data
            .iter()
            .map(|n| match *n {
                Number::Int(i) => Ok(i),
                Number::Float(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Ok(f as i64),
                Number::Float(f) => Err(format!("{name} holds {f}, which is not a class index")),
            })
            .collect()
    }
}

/// Checks a wire tensor: integer dimensions, element count within the limit, data length.
pub fn check_tensor(name: &str, t: WireTensor) -> Result<Checked, String> {
    if t.shape.len() > MAX_RANK {
        return Err(format!("{name} has {} dimensions, at most {MAX_RANK} are supported", t.shape.len()));
    }
    let mut shape = Vec::with_capacity(t.shape.len());
    let mut numel: usize = 1;
    for d in &t.shape {
        let dim = d
            .as_u64()
            .ok_or_else(|| format!("{name} shape has {d}, dimensions must be non-negative integers"))?;
        let dim = usize::try_from(dim).map_err(|_| format!("{name} dimension {dim} is too large"))?;
        numel = numel.saturating_mul(dim);
        shape.push(dim);
    }
    if numel > MAX_ELEMENTS {
        return Err(format!("{name} of shape {shape:?} has more than {MAX_ELEMENTS} elements"));
    }
    if t.data.len() != numel {
        return Err(format!(
            "{name} has {} values, its shape {shape:?} needs {numel}",
            t.data.len()
        ));
    }
    let is_index = match t.dtype.as_deref() {
        None | Some("f32") | Some("f64") | Some("float") => false,
        Some("i64") | Some("int") => true,
        Some(other) => return Err(format!("{name} has unknown dtype '{other}' (expected 'i64' or none)")),
    };
    Ok(Checked { shape, data: t.data, is_index })
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
