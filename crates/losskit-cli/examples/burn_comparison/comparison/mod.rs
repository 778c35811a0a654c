//! burn 0.22.1's losses on losskit's PyTorch golden cases: for each case whose op burn has,
//! whether burn can express it, and if so whether its output and gradients agree with
//! PyTorch's within the case's tolerance ([`judge`]); tallied per burn loss and written as
//! a Markdown table ([`report`]); and the differences worth reporting upstream, each
//! checked by a minimal reproduction ([`findings`]).

pub mod adapters;
pub mod call;
pub mod case;
pub mod findings;
pub mod report;
pub mod verdict;

use std::panic::{AssertUnwindSafe, catch_unwind};

use burn::tensor::Device;

use adapters::BurnLoss;
use call::{BurnAnswer, BurnCall, Inexpressible};
use case::{Expectation, FixtureCase, Refusal, Tolerance};
use verdict::{Verdict, compare};

/// The device every case runs on: burn's CPU backend with autodiff.
pub fn device() -> Device {
    Device::flex().autodiff()
}

/// How one case comes out on burn; `None` when burn has no loss for its op.
pub fn judge(case: &FixtureCase, device: &Device) -> Option<Verdict> {
    let loss = adapters::for_op(&case.op)?;
    if let Expectation::Refused(Refusal::ProtocolOnly) = case.expected {
        return Some(Verdict::NotApplicable {
            why: "only the eval protocol refuses it".into(),
        });
    }
    let attempt = catch_unwind(AssertUnwindSafe(|| ask_burn(loss, case, device)));
    Some(match (attempt, &case.expected) {
        (Err(panic), Expectation::Refused(_)) => Verdict::BothRefuse {
            panic: panic_message(&panic),
        },
        (Err(panic), Expectation::Values { .. }) => Verdict::Panics {
            message: panic_message(&panic),
        },
        (Ok(Err(Inexpressible::Missing(_))), Expectation::Refused(_)) => Verdict::NotApplicable {
            why: "an invalid request burn's API cannot express".into(),
        },
        (Ok(Err(Inexpressible::Missing(options))), Expectation::Values { .. }) => Verdict::OptionMissing(options),
        (Ok(Err(Inexpressible::NotPyTorch(why))), _) => Verdict::NotApplicable { why },
        (Ok(Ok(_)), Expectation::Refused(_)) => Verdict::AcceptsRefused,
        (
            Ok(Ok(answer)),
            Expectation::Values {
                output,
                gradients,
                tolerance,
            },
        ) => judge_answer(&answer, &output.values, gradients, *tolerance),
    })
}

/// A case with its verdict.
#[derive(Debug, Clone)]
pub struct JudgedCase<'a> {
    pub case: &'a FixtureCase,
    pub verdict: Verdict,
}

/// Every case of `cases` that burn has a loss for, with its verdict, burn's panics kept
/// off standard error while they run.
pub fn judge_all<'a>(cases: &'a [FixtureCase], device: &Device) -> Vec<JudgedCase<'a>> {
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let judged = cases
        .iter()
        .filter_map(|case| judge(case, device).map(|verdict| JudgedCase { case, verdict }))
        .collect();
    std::panic::set_hook(default_hook);
    judged
}

/// Builds burn's loss (the adapter), runs forward and backward, reads the answer.
fn ask_burn(loss: &BurnLoss, case: &FixtureCase, device: &Device) -> Result<BurnAnswer, Inexpressible> {
    let mut call = BurnCall::new(case, device);
    let output = (loss.adapter)(&mut call)?;
    Ok(call.answer(output))
}

fn judge_answer(
    answer: &BurnAnswer,
    output: &[f64],
    gradients: &std::collections::BTreeMap<String, case::FixtureTensor>,
    tolerance: Tolerance,
) -> Verdict {
    if let Some(discrepancy) = compare("output", output, &answer.output, tolerance) {
        return Verdict::ValueDiffers(discrepancy);
    }
    let worst_gradient = gradients
        .iter()
        .filter_map(|(key, expected)| match answer.gradients.get(key) {
            Some(observed) => compare(
                key,
                &observed.view.apply(&expected.values),
                &observed.view.apply(&observed.values),
                tolerance,
            ),
            // Every adapter tracks each tensor PyTorch differentiates; one that did not
            // would show here, as burn giving no gradient at all.
            None => compare(key, &expected.values, &[], tolerance),
        })
        .max_by(|a, b| a.relative_error().total_cmp(&b.relative_error()));
    match worst_gradient {
        Some(discrepancy) => Verdict::GradientDiffers(discrepancy),
        None => Verdict::Agree,
    }
}

/// The first line of a panic's message.
fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    let text = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("(no message)");
    text.lines().next().unwrap_or("").trim().to_string()
}
