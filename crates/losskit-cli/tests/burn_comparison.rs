//! The burn comparison (`examples/burn_comparison`, whose table `docs/burn-comparison.md`
//! holds) on a few golden cases, so that it cannot silently rot: one case burn agrees on,
//! one it lacks an option for, one where its gradient differs, one it accepts though
//! PyTorch refuses it, and the document and findings built from them.

#[path = "../examples/burn_comparison/comparison/mod.rs"]
mod comparison;

use comparison::case::{FixtureCase, parse_cases};
use comparison::verdict::Verdict;

const PYTORCH_CASES: &str = include_str!("fixtures/pytorch_cases.jsonl");
const CATALOGUE_CASES: &str = include_str!("fixtures/catalogue_cases.jsonl");

/// The golden cases of these ids, from either file.
fn cases(ids: &[&str]) -> Vec<FixtureCase> {
    let all = [PYTORCH_CASES, CATALOGUE_CASES]
        .map(|text| parse_cases(text).expect("the golden files parse"))
        .concat();
    ids.iter()
        .map(|id| {
            all.iter()
                .find(|case| case.id == *id)
                .unwrap_or_else(|| panic!("no case {id}"))
                .clone()
        })
        .collect()
}

fn verdict(id: &str) -> Verdict {
    let case = &cases(&[id])[0];
    comparison::judge(case, &comparison::device()).expect("burn has this loss")
}

#[test]
fn burn_agrees_with_pytorch_on_a_plain_mean_squared_error() {
    assert_eq!(verdict("mse/f64/mean/base"), Verdict::Agree);
}

#[test]
fn cross_entropy_without_reduction_is_an_option_burn_lacks() {
    assert_eq!(
        verdict("ce/f64/none/plain"),
        Verdict::OptionMissing(vec!["reduction 'none'".to_string()])
    );
}

#[test]
fn gaussian_nll_below_the_variance_clamp_differs_in_the_variance_gradient() {
    match verdict("gaussian_nll/f64/none/var_clamped_eps1e-3") {
        Verdict::GradientDiffers(discrepancy) => assert_eq!(discrepancy.field, "grad_var"),
        other => panic!("expected a gradient difference, got {other:?}"),
    }
}

#[test]
fn a_negative_variance_pytorch_refuses_gets_a_number_from_burn() {
    assert_eq!(verdict("gaussian_nll/error/negative_var"), Verdict::AcceptsRefused);
}

#[test]
fn the_document_has_a_row_per_burn_loss_and_every_finding_reproduces() {
    let cases = cases(&[
        "mse/f64/mean/base",
        "ce/f64/none/plain",
        "gaussian_nll/f64/none/var_clamped_eps1e-3",
    ]);
    let device = comparison::device();
    let judged = comparison::judge_all(&cases, &device);
    let rows = comparison::report::tally(&judged);
    assert_eq!(rows.len(), comparison::adapters::BURN_LOSSES.len());
    let findings = comparison::findings::check_all(&device);
    let unreproduced: Vec<String> = findings
        .iter()
        .filter_map(|f| f.outcome.as_ref().err().map(|e| format!("{}: {e}", f.finding.burn)))
        .collect();
    assert!(
        unreproduced.is_empty(),
        "findings that no longer reproduce: {unreproduced:?}"
    );
    let document = comparison::report::document(&rows, &findings);
    assert!(
        document.contains("| `MseLoss` | `F.mse_loss` | 1 | 1 | 0 | 0 | 0 | 0 | 0 |"),
        "{document}"
    );
    assert!(
        document.contains("| `CrossEntropyLoss` | `F.cross_entropy` | 1 | 0 | 0 | 0 | 1 | 0 | 0 |"),
        "{document}"
    );
}
