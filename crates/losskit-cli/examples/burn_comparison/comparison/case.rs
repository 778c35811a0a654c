//! The golden cases as the comparison reads them: one line of
//! `tests/fixtures/*.jsonl` (`docs/eval-protocol.md`, "Golden cases") into a
//! [`FixtureCase`], tensors as f64 values with their shapes.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

/// A tensor of a case: row-major values (class indices and lengths are integral values).
#[derive(Debug, Clone, PartialEq)]
pub struct FixtureTensor {
    pub shape: Vec<usize>,
    pub values: Vec<f64>,
    /// `"dtype": "i64"`: class indices or lengths (PyTorch tells class-index targets from
    /// class probabilities by this).
    pub integer: bool,
}

/// The precision a case computes in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precision {
    F32,
    F64,
}

/// How close an answer must be: `|got - want| <= atol + rtol |want|`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Tolerance {
    pub rtol: f64,
    pub atol: f64,
}

/// Who refuses a request PyTorch's golden file marks as an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// PyTorch raises (the catalogue's `torch_error`, and every error of `pytorch_cases`).
    PyTorch,
    /// Only the eval protocol refuses it (`spec_error`: an unknown field or option), which
    /// says nothing about burn.
    ProtocolOnly,
}

/// What PyTorch answered.
#[derive(Debug, Clone)]
pub enum Expectation {
    Values {
        output: FixtureTensor,
        /// `grad_input`, `grad_input2`, `grad_positive`, ... by their response key.
        gradients: BTreeMap<String, FixtureTensor>,
        tolerance: Tolerance,
    },
    Refused(Refusal),
}

/// One golden case.
#[derive(Debug, Clone)]
pub struct FixtureCase {
    pub id: String,
    pub op: String,
    pub precision: Precision,
    /// The request's tensors by field name (`input`, `target`, `var`, `input_lengths`, ...),
    /// `grad_output` excluded.
    pub tensors: BTreeMap<String, FixtureTensor>,
    pub grad_output: Option<FixtureTensor>,
    pub options: Map<String, Value>,
    pub expected: Expectation,
}

/// Reads every non-empty line of a golden file.
pub fn parse_cases(text: &str) -> Result<Vec<FixtureCase>, String> {
    text.lines()
        .filter(|line| !line.trim().is_empty())
        .enumerate()
        .map(|(number, line)| parse_case(line).map_err(|why| format!("line {}: {why}", number + 1)))
        .collect()
}

/// Reads one golden line.
pub fn parse_case(line: &str) -> Result<FixtureCase, String> {
    let case: Value = serde_json::from_str(line).map_err(|e| e.to_string())?;
    let id = text(&case["id"], "id")?;
    let request = case["request"].as_object().ok_or("no request object")?;
    let op = text(&request["op"], "op")?;
    let precision = match request.get("dtype").and_then(Value::as_str) {
        Some("f64") => Precision::F64,
        _ => Precision::F32,
    };
    let mut expected = parse_expectation(&case).map_err(|why| format!("{id}: {why}"))?;
    let mut tensors = BTreeMap::new();
    let mut grad_output = None;
    for (key, value) in request {
        if !value.is_object() || key == "options" {
            continue;
        }
        let tensor = match (parse_tensor(value), &expected) {
            (Ok(tensor), _) => tensor,
            // A malformed tensor (data not matching its shape) is a request only the
            // protocol can state: burn's API cannot be handed one.
            (Err(_), Expectation::Refused(_)) => {
                expected = Expectation::Refused(Refusal::ProtocolOnly);
                continue;
            }
            (Err(why), Expectation::Values { .. }) => return Err(format!("{id}: {key}: {why}")),
        };
        if key == "grad_output" {
            grad_output = Some(tensor);
        } else {
            tensors.insert(key.clone(), tensor);
        }
    }
    let options = request
        .get("options")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    Ok(FixtureCase {
        id,
        op,
        precision,
        tensors,
        grad_output,
        options,
        expected,
    })
}

fn parse_expectation(case: &Value) -> Result<Expectation, String> {
    let expected = case["expected"].as_object().ok_or("no expected object")?;
    if expected.contains_key("error") {
        let refusal = if case.get("spec_error").is_some() {
            Refusal::ProtocolOnly
        } else {
            Refusal::PyTorch
        };
        return Ok(Expectation::Refused(refusal));
    }
    let output = parse_tensor(expected.get("output").ok_or("no expected output")?)?;
    let gradients = expected
        .iter()
        .filter(|(key, _)| key.starts_with("grad_"))
        .map(|(key, value)| parse_tensor(value).map(|t| (key.clone(), t)))
        .collect::<Result<_, _>>()?;
    let tolerance = Tolerance {
        rtol: case["rtol"].as_f64().ok_or("no rtol")?,
        atol: case["atol"].as_f64().ok_or("no atol")?,
    };
    Ok(Expectation::Values {
        output,
        gradients,
        tolerance,
    })
}

/// `{"shape": [..], "data": [..]}` with `"nan"`, `"inf"`, `"-inf"` strings.
pub fn parse_tensor(value: &Value) -> Result<FixtureTensor, String> {
    let shape = value["shape"]
        .as_array()
        .ok_or("no shape")?
        .iter()
        .map(|d| d.as_u64().map(|d| d as usize).ok_or_else(|| format!("dimension {d}")))
        .collect::<Result<Vec<_>, _>>()?;
    let values = value["data"]
        .as_array()
        .ok_or("no data")?
        .iter()
        .map(number)
        .collect::<Result<Vec<_>, _>>()?;
    if values.len() != shape.iter().product::<usize>() {
        return Err(format!("{} values for shape {shape:?}", values.len()));
    }
    let integer = value.get("dtype").and_then(Value::as_str) == Some("i64");
    Ok(FixtureTensor { shape, values, integer })
}

fn number(value: &Value) -> Result<f64, String> {
    match value {
        Value::Number(n) => n.as_f64().ok_or_else(|| format!("number {n}")),
        Value::String(s) if s == "nan" => Ok(f64::NAN),
        Value::String(s) if s == "inf" => Ok(f64::INFINITY),
        Value::String(s) if s == "-inf" => Ok(f64::NEG_INFINITY),
        other => Err(format!("{other} is not a number")),
    }
}

fn text(value: &Value, what: &str) -> Result<String, String> {
    value.as_str().map(str::to_string).ok_or_else(|| format!("no {what}"))
}
