//! One generated request for any op, built from the fuzzer's bytes (shapes and options are
//! generated, not parsed, so rows longer than the kernels' chunks and zero-size dimensions
//! are reached), served on the fused and on the composed path with no panic guard: neither
//! may panic, and the two answers must agree (the same error, or values and gradients
//! within the dtype's tolerance, NaN where the other has NaN).
#![no_main]

use std::sync::OnceLock;

use burn::tensor::Device;
use libfuzzer_sys::fuzz_target;
use losskit_cli::eval::fuzzing::{Choices, agree, request};

static DEVICE: OnceLock<Device> = OnceLock::new();

/// Choices read from the fuzzer's bytes, four at a time; zeros once they run out.
struct Bytes<'a>(&'a [u8]);

impl Choices for Bytes<'_> {
    fn below(&mut self, n: u32) -> u32 {
        let (word, rest) = self.0.split_at(self.0.len().min(4));
        self.0 = rest;
        let mut bytes = [0u8; 4];
        bytes[..word.len()].copy_from_slice(word);
        u32::from_le_bytes(bytes) % n.max(1)
    }
}

fuzz_target!(|data: &[u8]| {
    let device = DEVICE.get_or_init(|| Device::flex().autodiff());
    let request = request(&mut Bytes(data));
    let line = request.to_string();
    let fused = losskit_cli::eval::handle(line.as_bytes(), device);
    let composed = losskit::with_composed(|| losskit_cli::eval::handle(line.as_bytes(), device));
    if let Err(why) = agree(&fused, &composed, request["dtype"] == "f32") {
        panic!("the paths disagree: {why}\nrequest: {line:.2000}");
    }
});
