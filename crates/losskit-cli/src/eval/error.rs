//! Why a request gets an `{"error": ...}` line.

use losskit::LossError;
use thiserror::Error;

/// A request the protocol refuses; the message is what the error line says.
#[derive(Debug, Error)]
pub enum RequestError {
    #[error("request is not UTF-8: {0}")]
    NotUtf8(std::str::Utf8Error),
    #[error("empty request line")]
    Empty,
    #[error("request line of {len} bytes is longer than the limit of {limit}")]
    TooLong { len: usize, limit: usize },
    #[error("invalid request: {0}")]
    Invalid(serde_json::Error),
    #[error("unknown op '{op}' (expected one of {expected})")]
    UnknownOp { op: String, expected: String },
    #[error("unknown dtype '{0}' (expected 'f32' or 'f64')")]
    Dtype(String),
    #[error("{op} takes no {field} (its tensors: {takes})")]
    FieldNotTaken {
        op: &'static str,
        field: &'static str,
        takes: String,
    },
    #[error("{op} needs {field}")]
    MissingField { op: &'static str, field: &'static str },
    #[error("unknown option '{key}' for {op} (expected one of {expected:?})")]
    UnknownOption {
        op: &'static str,
        key: String,
        expected: &'static [&'static str],
    },
    #[error("{key} must be {expected}, got {value}")]
    OptionType {
        key: String,
        expected: &'static str,
        value: serde_json::Value,
    },
    #[error("{name} {why}")]
    Tensor { name: String, why: String },
    #[error("{name} holds {value}, which is not an integer")]
    NotAnIndex { name: String, value: f64 },
    #[error("{0}")]
    Shape(String),
    #[error("unknown reduction '{0}' (expected 'none', 'mean' or 'sum')")]
    Reduction(String),
    #[error("{0}")]
    Loss(#[from] LossError),
}
