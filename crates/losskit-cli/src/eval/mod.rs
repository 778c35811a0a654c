//! `losskit eval`: the JSON Lines protocol of `docs/eval-protocol.md`.
//!
//! One response line per request line, in order, whatever the line holds; the stream
//! only ends at end of input.

mod error;
pub mod fuzzing;
mod ops;
mod wire;

pub use error::RequestError;

use std::io::{self, BufRead, Write};
use std::panic::{AssertUnwindSafe, catch_unwind};

use burn::tensor::Device;
use serde_json::Value;

/// The longest request line served (the protocol's 8 MiB).
pub const MAX_LINE: usize = 8 << 20;

/// One line as read: its bytes, or how long it was when it ran past [`MAX_LINE`].
enum Line {
    Text(Vec<u8>),
    TooLong(usize),
}

/// Reads up to the next newline without ever holding more than `MAX_LINE` bytes.
fn read_line(reader: &mut impl BufRead) -> io::Result<Option<Line>> {
    let mut buf = Vec::new();
    let mut len = 0usize;
    let mut seen_any = false;
    loop {
        let chunk = reader.fill_buf()?;
        if chunk.is_empty() {
            return Ok(seen_any.then(|| finish(buf, len)));
        }
        seen_any = true;
        let (part, done) = match chunk.iter().position(|&b| b == b'\n') {
            Some(i) => (&chunk[..i], i + 1),
            None => (chunk, chunk.len()),
        };
        len += part.len();
        if len <= MAX_LINE {
            buf.extend_from_slice(part);
        } else if !buf.is_empty() {
            buf = Vec::new();
        }
        let ended = done > part.len();
        reader.consume(done);
        if ended {
            return Ok(Some(finish(buf, len)));
        }
    }
}

fn finish(buf: Vec<u8>, len: usize) -> Line {
    if len > MAX_LINE {
        Line::TooLong(len)
    } else {
        Line::Text(buf)
    }
}

/// The response to one line, with no guard against a panic: what the fuzz target drives.
pub fn handle(line: &[u8], device: &Device) -> Value {
    match serve_line(line, device) {
        Ok(value) => value,
        Err(e) => error(&e),
    }
}

fn serve_line(line: &[u8], device: &Device) -> Result<Value, RequestError> {
    let text = std::str::from_utf8(line).map_err(RequestError::NotUtf8)?.trim();
    if text.is_empty() {
        return Err(RequestError::Empty);
    }
    let request = serde_json::from_str::<wire::Request>(text).map_err(RequestError::Invalid)?;
    ops::serve(request, device)
}

/// The response to one line. Validation happens before any tensor op; catching a panic
/// is the last line of defence, so that one request the checks missed cannot end the stream.
pub fn respond(line: &[u8], device: &Device) -> Value {
    match catch_unwind(AssertUnwindSafe(|| handle(line, device))) {
        Ok(value) => value,
        Err(panic) => {
            let what = panic
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| panic.downcast_ref::<&str>().copied())
                .unwrap_or("unknown");
            serde_json::json!({ "error": format!("internal error: {what}") })
        }
    }
}

fn error(e: &RequestError) -> Value {
    serde_json::json!({ "error": e.to_string() })
}

/// Serves every line of `input`, writing one response line each to `output`.
///
/// `LOSSKIT_KERNELS=off` in the environment turns the fused CPU kernels off, so that the
/// composed tensor-op path (what GPU backends run) can be held to the same cases.
pub fn run(input: impl BufRead, output: impl Write) -> io::Result<()> {
    if std::env::var("LOSSKIT_KERNELS").is_ok_and(|v| v == "off") {
        losskit::with_composed(|| serve_all(input, output))
    } else {
        serve_all(input, output)
    }
}

fn serve_all(mut input: impl BufRead, output: impl Write) -> io::Result<()> {
    let device = Device::flex().autodiff();
    let mut output = io::BufWriter::new(output);
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let result = (|| {
        while let Some(line) = read_line(&mut input)? {
            let response = match line {
                Line::Text(bytes) => respond(&bytes, &device),
                Line::TooLong(len) => error(&RequestError::TooLong { len, limit: MAX_LINE }),
            };
            serde_json::to_writer(&mut output, &response)?;
            output.write_all(b"\n")?;
            output.flush()?;
        }
        Ok(())
    })();
    std::panic::set_hook(default_hook);
    result
}
