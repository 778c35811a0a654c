//! The differences worth reporting upstream, each with a minimal reproduction that runs
//! every time the comparison does: a finding is listed as reproduced only if its check
//! still sees what the finding says, so a fixed bug shows up as "not reproduced".

use std::panic::{AssertUnwindSafe, catch_unwind};

use burn::tensor::{DType, Device, Tensor, TensorData};

/// One difference, how to see it, and the check that does.
pub struct Finding {
    /// The burn type or function at fault.
    pub burn: &'static str,
    pub summary: &'static str,
    /// The reproduction, as the document shows it.
    pub reproduction: &'static str,
    /// Runs the reproduction: `Ok(what it shows)` when the finding holds, else
    /// `Err(what happened instead)`.
    pub check: fn(&Device) -> Result<String, String>,
}

/// A finding with what its reproduction showed this time.
pub struct CheckedFinding {
    pub finding: &'static Finding,
    pub outcome: Result<String, String>,
}

/// Runs every reproduction (burn's panics kept off standard error).
pub fn check_all(device: &Device) -> Vec<CheckedFinding> {
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let checked = FINDINGS
        .iter()
        .map(|finding| {
            let outcome = catch_unwind(AssertUnwindSafe(|| (finding.check)(device)))
                .unwrap_or_else(|panic| Err(format!("the reproduction panicked: {}", super::panic_message(&panic))));
            CheckedFinding { finding, outcome }
        })
        .collect();
    std::panic::set_hook(default_hook);
    checked
}

/// A 1-D f64 tensor, tracked.
fn tracked(values: &[f64], device: &Device) -> Tensor<1> {
    Tensor::<1>::from_data(TensorData::new(values.to_vec(), [values.len()]), (device, DType::F64)).require_grad()
}

fn values<const D: usize>(tensor: Tensor<D>) -> Vec<f64> {
    tensor.try_into_vec_as::<f64>().expect("a float tensor reads as f64")
}

/// The gradient of `x` after `loss.backward()`.
fn gradient(x: &Tensor<1>, loss: Tensor<1>) -> Vec<f64> {
    let grads = loss.backward();
    x.grad(&grads).map(values).unwrap_or_default()
}

pub const FINDINGS: &[Finding] = &[Finding {
    burn: "Tensor::div_scalar (burn-autodiff)",
    summary: "the backward multiplies by 1 / rhs computed in f32, so every f64 gradient through \
              a division by a scalar is off by up to 6e-8 relative (KLDivLoss's batchmean, \
              SmoothL1Loss's beta)",
    reproduction: "x = [1.0] (f64, require_grad); x.div_scalar(3.0).sum().backward(): \
                   grad = 1.0f32 / 3.0f32, not 1/3",
    check: |device| {
        let x = tracked(&[1.0], device);
        let grad = gradient(&x, x.clone().div_scalar(3.0).sum())[0];
        let error = (grad - 1.0 / 3.0).abs() * 3.0;
        if error > 1e-12 {
            Ok(format!("grad = {grad:.17}, relative error {error:.1e}"))
        } else {
            Err(format!("grad = {grad:.17}"))
        }
    },
}];

/// The reproduced findings, one item each, then any that no longer reproduce.
pub fn render(checked: &[CheckedFinding]) -> String {
    let mut out = String::new();
    for CheckedFinding { finding, outcome } in checked {
        if let Ok(observed) = outcome {
            out.push_str(&format!(
                "- **`{}`**: {}.\n  Reproduction: {}.\n  Observed: {observed}.\n",
                finding.burn, finding.summary, finding.reproduction
            ));
        }
    }
    for CheckedFinding { finding, outcome } in checked {
        if let Err(instead) = outcome {
            out.push_str(&format!(
                "- not reproduced any more, `{}`: {} ({instead})\n",
                finding.burn, finding.summary
            ));
        }
    }
    out
}
