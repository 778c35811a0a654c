//! Every loss, option, reduction and edge case against PyTorch's own numbers
//! (`tools/golden/generate.py` wrote the fixtures; no Python is needed here).

mod common;

#[test]
fn matches_pytorch_on_every_fixture() {
    let n = common::check_cases(include_str!("fixtures/pytorch_cases.jsonl"));
    assert!(n >= 249, "only {n} fixture cases were read");
}

#[test]
fn the_composed_path_matches_pytorch_too() {
    // What CUDA and wgpu run: the same fixtures with the fused CPU kernels off.
    common::check_cases_with(include_str!("fixtures/pytorch_cases.jsonl"), false);
}

#[test]
fn matches_the_shared_golden_cases_when_present() {
    // The team's cases live beside the checkout (../shared); a lone clone skips them.
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/golden/public.jsonl");
    if let Ok(text) = std::fs::read_to_string(path) {
        assert_eq!(common::check_cases(&text), 146);
    }
}

#[test]
fn the_checker_rejects_a_wrong_value() {
    let want: serde_json::Value = serde_json::json!({"shape": [2], "data": [1.0, "nan"]});
    let near = serde_json::json!({"shape": [2], "data": [1.0 + 1e-10, "nan"]});
    let far = serde_json::json!({"shape": [2], "data": [1.0 + 1e-6, "nan"]});
    let not_nan = serde_json::json!({"shape": [2], "data": [1.0, 0.0]});
    let shape = serde_json::json!({"shape": [1, 2], "data": [1.0, "nan"]});
    assert!(common::mismatch(&want, &near, 1e-9, 1e-12).is_none());
    assert!(common::mismatch(&want, &far, 1e-9, 1e-12).is_some());
    assert!(common::mismatch(&want, &not_nan, 1e-9, 1e-12).is_some());
    assert!(common::mismatch(&want, &shape, 1e-9, 1e-12).is_some());
}
