//! Running `losskit` (`eval`, and the other commands in scratch directories) and comparing
//! eval's answers with expected tensors.

#![allow(dead_code)]

pub mod cli;
pub mod mnist;
pub mod scratch;

use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::Value;

/// Runs `losskit eval` over `input` and returns its stdout lines.
pub fn eval_lines(input: &[u8]) -> Vec<String> {
    eval_lines_with(input, true)
}

/// Runs `losskit eval` with the fused kernels on or off.
pub fn eval_lines_with(input: &[u8], kernels: bool) -> Vec<String> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_losskit"))
        .arg("eval")
        .env("LOSSKIT_KERNELS", if kernels { "on" } else { "off" })
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("losskit runs");
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let out = child.wait_with_output().expect("losskit finishes");
    writer.join().unwrap().expect("requests written");
    assert!(
        out.status.success(),
        "eval exited with {}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => match s.as_str() {
            "nan" => Some(f64::NAN),
            "inf" => Some(f64::INFINITY),
            "-inf" => Some(f64::NEG_INFINITY),
            _ => None,
        },
        _ => None,
    }
}

/// `None` when `got` matches `expected` (shape, NaN where NaN, infinities exact,
/// otherwise |a - b| <= atol + rtol |a|); else what differs.
pub fn mismatch(expected: &Value, got: &Value, rtol: f64, atol: f64) -> Option<String> {
    if got["shape"] != expected["shape"] {
        return Some(format!("shape {} != {}", got["shape"], expected["shape"]));
    }
    let (e, g) = (
        expected["data"].as_array()?,
        got["data"].as_array().map(Vec::as_slice).unwrap_or(&[]),
    );
    if e.len() != g.len() {
        return Some(format!("{} values, expected {}", g.len(), e.len()));
    }
    for (i, (a, b)) in e.iter().zip(g).enumerate() {
        let a = number(a).expect("expected value is a number");
        let Some(b) = number(b) else {
            return Some(format!("[{i}] {b} is not a number"));
        };
        let ok = if a.is_nan() {
            b.is_nan()
        } else if a.is_infinite() || b.is_infinite() {
            a == b
        } else {
            (a - b).abs() <= atol + rtol * a.abs()
        };
        if !ok {
            return Some(format!("[{i}] got {b:e}, want {a:e}"));
        }
    }
    None
}

/// Checks every case of a golden file (`{"id", "request", "expected", "rtol", "atol"}` lines);
/// returns how many there were.
pub fn check_cases(text: &str) -> usize {
    check_cases_with(text, true)
}

/// [`check_cases`] with the fused kernels on or off.
pub fn check_cases_with(text: &str, kernels: bool) -> usize {
    let cases: Vec<Value> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let requests: String = cases.iter().map(|c| format!("{}\n", c["request"])).collect();
    let responses = eval_lines_with(requests.as_bytes(), kernels);
    assert_eq!(responses.len(), cases.len(), "one response per request");
    let mut failures = Vec::new();
    for (case, line) in cases.iter().zip(&responses) {
        let response: Value = serde_json::from_str(line).expect("responses are JSON");
        if let Some(why) = verdict(case, &response) {
            failures.push(format!("{}: {why}", case["id"]));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
    cases.len()
}

/// What is wrong with `response` to `case` (`{"request", "expected", "rtol", "atol"}`).
fn verdict(case: &Value, response: &Value) -> Option<String> {
    let expected = &case["expected"];
    if expected.get("error").is_some() {
        return response["error"]
            .as_str()
            .is_none_or(str::is_empty)
            .then(|| format!("expected an error, got {:.200}", response.to_string()));
    }
    if let Some(err) = response.get("error") {
        return Some(format!("error {err}"));
    }
    let (rtol, atol) = (case["rtol"].as_f64().unwrap(), case["atol"].as_f64().unwrap());
    // The output, then every gradient the case expects (grad_input, grad_<field>).
    let keys = expected
        .as_object()
        .unwrap()
        .keys()
        .filter(|k| *k == "output" || k.starts_with("grad_"));
    keys.filter_map(|key| mismatch(&expected[key], &response[key], rtol, atol).map(|m| format!("{key} {m}")))
        .next()
}

/// Checks every case of a golden file in this process, on `device` (any burn backend: the
/// fused kernels take flex tensors only, so elsewhere this is the composed path); returns
/// how many there were.
pub fn check_cases_on(text: &str, device: &burn::tensor::Device) -> usize {
    let mut failures = Vec::new();
    let mut n = 0;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let case: Value = serde_json::from_str(line).unwrap();
        let response = losskit_cli::eval::respond(case["request"].to_string().as_bytes(), device);
        if let Some(why) = verdict(&case, &response) {
            failures.push(format!("{}: {why}", case["id"]));
        }
        n += 1;
    }
    assert!(
        failures.is_empty(),
        "{} of {n} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    n
}
