//! The IDX reader on arbitrary bytes, raw or gzip: an error or a decoded file whose
//! payload matches its dimensions, never a panic or an allocation the input cannot back.
#![no_main]

use libfuzzer_sys::fuzz_target;
use losskit_cli::data::idx::{MAX_PAYLOAD, decode};

fuzz_target!(|bytes: &[u8]| {
    for ndims in [1, 3] {
        if let Ok(file) = decode(bytes, ndims) {
            let n: u64 = file.dims.iter().map(|&d| d as u64).product();
            assert!(n <= MAX_PAYLOAD);
            assert_eq!(file.data.len() as u64, n);
            assert_eq!(file.dims.len(), ndims as usize);
        }
    }
});
