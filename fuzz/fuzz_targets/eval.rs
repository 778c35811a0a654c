//! One `losskit eval` request line, parsed and served with no panic guard: every input
//! must give a JSON object holding an error, or an output and its gradient.
#![no_main]

use std::sync::OnceLock;

use burn::tensor::Device;
use libfuzzer_sys::fuzz_target;

static DEVICE: OnceLock<Device> = OnceLock::new();

fuzz_target!(|line: &[u8]| {
    let device = DEVICE.get_or_init(|| Device::flex().autodiff());
    let response = losskit_cli::eval::handle(line, device);
    let ok = response.get("error").is_some_and(|e| e.is_string())
        || (response.get("output").is_some() && response.get("grad_input").is_some());
    assert!(ok, "{response}");
});
