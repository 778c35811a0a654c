//! The PyTorch fixtures on a second backend, burn's ndarray: there the fused kernels never
//! run (they take flex tensors), so this holds the composed path, what CUDA and wgpu run, to
//! PyTorch's numbers on a backend other than flex.

mod common;

use burn::tensor::Device;

#[allow(deprecated)] // burn 0.22 deprecates ndarray for flex; it is kept here as a second backend
fn ndarray() -> Device {
    Device::ndarray().autodiff()
}

#[test]
fn the_first_ops_match_pytorch_on_ndarray() {
    assert!(common::check_cases_on(include_str!("fixtures/pytorch_cases.jsonl"), &ndarray()) >= 249);
}

#[test]
fn the_catalogue_matches_pytorch_on_ndarray() {
    // Every op of the catalogue, the softcap, z-loss and linear cross entropy of the
    // "Beyond PyTorch" cases included (their composed path is burn ops).
    assert!(common::check_cases_on(include_str!("fixtures/catalogue_cases.jsonl"), &ndarray()) >= 695);
}
