//! What one case says about burn, and how far burn's numbers are from PyTorch's.

use std::fmt;

use super::case::Tolerance;

/// How one case came out.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Output and every expected gradient within the case's tolerance.
    Agree,
    /// PyTorch refuses the request and burn panics on it: burn's way of refusing.
    BothRefuse { panic: String },
    /// The output differs (its gradients are not looked at).
    ValueDiffers(Discrepancy),
    /// The output agrees, a gradient does not.
    GradientDiffers(Discrepancy),
    /// burn has no way to write the request: the options (or shapes) it lacks.
    OptionMissing(Vec<String>),
    /// burn panics on a request PyTorch answers.
    Panics { message: String },
    /// PyTorch refuses the request, burn returns numbers.
    AcceptsRefused,
    /// Not a question about burn: a request only the eval protocol refuses, an option
    /// beyond PyTorch, an invalid request burn's types cannot even express.
    NotApplicable { why: String },
}

/// The worst element of a tensor that is out of tolerance.
#[derive(Debug, Clone, PartialEq)]
pub struct Discrepancy {
    /// `output`, `grad_input`, `grad_var`, ...
    pub field: String,
    pub kind: DiscrepancyKind,
}

#[derive(Debug, Clone, PartialEq)]
pub enum DiscrepancyKind {
    /// burn returned a different number of values.
    Count { expected: usize, got: usize },
    /// The element whose relative error is largest.
    Element { index: usize, expected: f64, got: f64 },
}

impl Discrepancy {
    /// |got - want| / |want| (the absolute error where want is 0); infinite where one is
    /// NaN or infinite and the other is not the same.
    pub fn relative_error(&self) -> f64 {
        match self.kind {
            DiscrepancyKind::Count { .. } => f64::INFINITY,
            DiscrepancyKind::Element { expected, got, .. } => relative_error(expected, got),
        }
    }
}

impl fmt::Display for Discrepancy {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self.kind {
            DiscrepancyKind::Count { expected, got } => {
                write!(f, "{}: {got} values, PyTorch {expected}", self.field)
            }
            DiscrepancyKind::Element { index, expected, got } => {
                let error = relative_error(expected, got);
                let size = if error.is_finite() {
                    format!(" (rel. {error:.1e})")
                } else {
                    String::new()
                };
                write!(f, "{}[{index}] = {got:.6e}, PyTorch {expected:.6e}{size}", self.field)
            }
        }
    }
}

fn relative_error(expected: f64, got: f64) -> f64 {
    if expected.is_nan() || got.is_nan() {
        if expected.is_nan() && got.is_nan() {
            0.0
        } else {
            f64::INFINITY
        }
    } else if expected.is_infinite() || got.is_infinite() {
        if expected == got { 0.0 } else { f64::INFINITY }
    } else if expected == 0.0 {
        got.abs()
    } else {
        (got - expected).abs() / expected.abs()
    }
}

/// Whether `got` matches `expected` as the golden tests hold it: NaN where NaN,
/// infinities exactly, otherwise `|got - want| <= atol + rtol |want|`.
fn within(expected: f64, got: f64, tolerance: Tolerance) -> bool {
    if expected.is_nan() {
        got.is_nan()
    } else if expected.is_infinite() || got.is_infinite() {
        expected == got
    } else {
        (got - expected).abs() <= tolerance.atol + tolerance.rtol * expected.abs()
    }
}

/// The worst out-of-tolerance element of `got` against `expected`, if any.
pub fn compare(field: &str, expected: &[f64], got: &[f64], tolerance: Tolerance) -> Option<Discrepancy> {
    if expected.len() != got.len() {
        let kind = DiscrepancyKind::Count {
            expected: expected.len(),
            got: got.len(),
        };
        return Some(Discrepancy {
            field: field.to_string(),
            kind,
        });
    }
    expected
        .iter()
        .zip(got)
        .enumerate()
        .filter(|&(_, (&want, &have))| !within(want, have, tolerance))
        .map(|(index, (&want, &have))| DiscrepancyKind::Element {
            index,
            expected: want,
            got: have,
        })
        .map(|kind| Discrepancy {
            field: field.to_string(),
            kind,
        })
        .max_by(|a, b| a.relative_error().total_cmp(&b.relative_error()))
}
