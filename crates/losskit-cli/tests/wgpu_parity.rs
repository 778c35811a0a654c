//! The f32 PyTorch fixtures on burn's wgpu backend (the composed path, as on ndarray), for a
//! machine with a GPU or with Mesa's software Vulkan (`apt-get install mesa-vulkan-drivers`).
//! Built only with the `wgpu` feature:
//!
//! `cargo test --release -p losskit-cli --features wgpu --test wgpu_parity`
//!
//! WGSL has no f64, so the f64 cases are left out.
#![cfg(feature = "wgpu")]

mod common;

use burn::tensor::{Device, DeviceKind};
use serde_json::Value;

fn wgpu() -> Device {
    let kind = match std::env::var("LOSSKIT_WGPU_DEVICE").as_deref() {
        Ok("discrete") => DeviceKind::DiscreteGpu(0),
        _ => DeviceKind::Cpu,
    };
    Device::wgpu(kind).autodiff()
}

/// The cases of `text` whose request is f32 (`dtype` absent or "f32").
fn f32_cases(text: &str) -> String {
    text.lines()
        .filter(|line| {
            let case: Value = serde_json::from_str(line).unwrap();
            case["request"]["dtype"].as_str().is_none_or(|dtype| dtype == "f32")
        })
        .map(|line| format!("{line}\n"))
        .collect()
}

#[test]
fn the_first_ops_match_pytorch_on_wgpu() {
    let cases = f32_cases(include_str!("fixtures/pytorch_cases.jsonl"));
    assert!(common::check_cases_on(&cases, &wgpu()) > 0);
}

#[test]
fn the_catalogue_matches_pytorch_on_wgpu() {
    let cases = f32_cases(include_str!("fixtures/catalogue_cases.jsonl"));
    assert!(common::check_cases_on(&cases, &wgpu()) > 0);
}
