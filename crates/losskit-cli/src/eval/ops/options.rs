//! [`Options`]: one request's options, checked against the op's names, read as numbers,
//! flags, reductions and tensors.

use losskit::Reduction;
use serde_json::{Map, Value};

use super::super::error::RequestError;
use super::super::wire::{Checked, check_tensor};

/// The options of one request, checked against the op's names.
pub(in crate::eval) struct Options {
    map: Map<String, Value>,
}

impl Options {
    pub(super) fn new(
        op: &'static str,
        map: Map<String, Value>,
        allowed: &'static [&'static str],
    ) -> Result<Self, RequestError> {
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
