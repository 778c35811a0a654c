//! `losskit eval` as a stream that never dies: thousands of good and hostile lines, one
//! response each, in order, every good one still right.

mod common;

use serde_json::{Value, json};

/// Hostile lines and a fragment the error must mention (empty: any error).
fn hostile() -> Vec<(String, &'static str)> {
    let x = json!({"shape": [2, 2], "data": [0.1, 0.2, 0.3, 0.4]});
    let mut lines = vec![
        (String::new(), "empty"),
        ("   ".into(), "empty"),
        ("{".into(), "invalid request"),
        ("[1, 2, 3]".into(), "invalid request"),
        ("null".into(), "invalid request"),
        ("\"softmax\"".into(), "invalid request"),
        ("{\"op\": \"softmax\"}".into(), "input"),
        (json!({"op": "softmax", "input": x, "bogus": 1}).to_string(), "bogus"),
        (json!({"op": "hinge", "input": x}).to_string(), "unknown op"),
        (json!({"op": "softmax", "input": x, "options": {"temperature": 1}}).to_string(), "temperature"),
        (json!({"op": "softmax", "dtype": "f16", "input": x}).to_string(), "dtype"),
        (json!({"op": "bce", "input": x, "target": x, "options": {"reduction": "avg"}}).to_string(), "reduction"),
        (json!({"op": "softmax", "input": {"shape": [2, 2], "data": [1, 2, 3]}}).to_string(), "values"),
        (json!({"op": "softmax", "input": {"shape": [-2], "data": []}}).to_string(), "non-negative"),
        (json!({"op": "softmax", "input": {"shape": [1.5], "data": [1]}}).to_string(), "non-negative"),
        (json!({"op": "softmax", "input": {"shape": [1048576, 1048576], "data": []}}).to_string(), "elements"),
        (json!({"op": "softmax", "input": {"shape": [4294967296u64, 4294967296u64, 4294967296u64], "data": []}}).to_string(), "elements"),
        (json!({"op": "softmax", "input": {"shape": [1, 1, 1, 1, 1, 1, 1, 1, 1], "data": [1]}}).to_string(), "dimensions"),
        (json!({"op": "softmax", "input": {"shape": [2], "data": [1, "x"]}}).to_string(), "invalid request"),
        (json!({"op": "softmax", "input": {"shape": [2], "data": [1, {"a": 1}]}}).to_string(), "invalid request"),
        (json!({"op": "softmax", "input": {"shape": [2], "data": [1, 2]}, "options": {"dim": "x"}}).to_string(), "dim"),
        (json!({"op": "bce", "input": {"shape": [2], "data": ["nan", 0.5]}, "target": {"shape": [2], "data": [0, 1]}}).to_string(), "between 0 and 1"),
        (json!({"op": "cross_entropy", "input": x, "target": {"shape": [2], "data": [0, 9], "dtype": "i64"}}).to_string(), "out of bounds"),
        (json!({"op": "cross_entropy", "input": x, "target": {"shape": [2], "data": [0, 0.5], "dtype": "i64"}}).to_string(), "not an integer"),
        // Strict JSON: an array in place of an object, and a key given twice, at any depth.
        (json!(["softmax", x]).to_string(), "invalid request"),
        (json!({"op": "softmax", "input": [[2, 2], [0.1, 0.2, 0.3, 0.4]]}).to_string(), "invalid request"),
        (r#"{"op": "softmax", "op": "log_softmax", "input": {"shape": [1], "data": [1]}}"#.into(), "duplicate field `op`"),
        (r#"{"op": "softmax", "input": {"shape": [1], "data": [1], "data": [2]}}"#.into(), "duplicate field `data`"),
        (r#"{"op": "cross_entropy", "input": {"shape": [1, 2], "data": [1, 2]}, "target": {"shape": [1], "data": [0], "dtype": "i64"}, "options": {"reduction": "sum", "reduction": "none"}}"#.into(), "duplicate key `reduction`"),
        (r#"{"op": "bce", "input": {"shape": [1], "data": [0.5]}, "target": {"shape": [1], "data": [1]}, "options": {"weight": {"shape": [1], "data": [1], "shape": [1]}}}"#.into(), "duplicate key `shape`"),
        (json!({"op": "softmax", "input": x, "positive": x}).to_string(), "takes no positive"),
        (json!({"op": "softmax", "input": x, "grad_output": {"shape": [3], "data": [1, 2, 3]}}).to_string(), "grad_output"),
        ("\u{0}\u{1}garbage\u{7f}".into(), "invalid request"),
    ];
    // Found by the eval fuzz target: a class index beyond i32 once reached a failed cast.
    lines.push((
        include_str!("fixtures/fuzz-eval-huge-target.json").trim().to_string(),
        "Target 555555555555554 is out of bounds for 5 classes",
    ));
    lines.push((
        json!({"op": "nll", "input": x, "target": {"shape": [2], "data": [0, -9_000_000_000_000i64], "dtype": "i64"}})
            .to_string(),
        "out of bounds",
    ));
    // Found by the eval fuzz target: no classes at all once reached a reduction over nothing.
    lines.push((
        include_str!("fixtures/fuzz-eval-zero-classes.json").trim().to_string(),
        "no classes",
    ));
    lines.push((json!({"op": "nll", "input": {"shape": [2, 0], "data": []}, "target": {"shape": [2], "data": [0, 0], "dtype": "i64"}}).to_string(), "no classes"));
    // Errors name the shapes as sent, not the padded layout they run at.
    lines.push((
        json!({"op": "cross_entropy", "input": {"shape": [2, 0], "data": []}, "target": {"shape": [2], "data": [0, 0], "dtype": "i64"}})
            .to_string(),
        "the input [2, 0] has no classes (C = 0)",
    ));
    lines.push((
        json!({"op": "bce_with_logits", "input": {"shape": [3, 4], "data": vec![0.0; 12]}, "target": {"shape": [3, 4], "data": vec![1.0; 12]},
               "options": {"pos_weight": {"shape": [3], "data": [1, 2, 3]}}})
        .to_string(),
        "pos_weight of shape [3] cannot be broadcast to the target's shape [3, 4]",
    ));
    // Small lines that once asked for terabytes and aborted the process: an empty tensor's
    // other dimensions (summed over, or taken as the classes), and a broadcast of two
    // tensors within the limit each.
    let huge_empty = json!({"shape": [4_000_000_000_000u64, 0], "data": []});
    lines.push((
        json!({"op": "entropy", "input": huge_empty, "options": {"dim": 1}}).to_string(),
        "spans more than",
    ));
    lines.push((
        json!({"op": "linear_cross_entropy", "input": {"shape": [1, 0], "data": []}, "classifier": huge_empty,
               "target": {"shape": [1], "data": [0], "dtype": "i64"}})
        .to_string(),
        "spans more than",
    ));
    let column = json!({"shape": [5000, 1], "data": vec![0.5; 5000]});
    let row = json!({"shape": [1, 5000], "data": vec![0.25; 5000]});
    for op in ["mse", "l1", "huber", "smooth_l1", "poisson_nll"] {
        lines.push((
            json!({"op": op, "input": column, "target": row, "options": {"reduction": "sum"}}).to_string(),
            "broadcast to [5000, 5000], more than 16777216 elements",
        ));
    }
    // A line past the 8 MiB limit, refused without being parsed.
    lines.push((
        format!(
            "{{\"op\":\"softmax\",\"input\":{{\"shape\":[1],\"data\":[{}1]}}}}",
            "0,".repeat(4_500_000)
        ),
        "longer than",
    ));
    lines
}

#[test]
fn thousands_of_mixed_lines_get_one_right_answer_each() {
    let cases: Vec<Value> = include_str!("fixtures/pytorch_cases.jsonl")
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .filter(|c: &Value| c["expected"].get("error").is_none())
        .collect();
    let hostile = hostile();
    // Interleave: each good case, then a hostile line, until 3,000 lines.
    let mut lines: Vec<(String, Result<&Value, &str>)> = Vec::new();
    let mut k = 0;
    while lines.len() < 3000 {
        let case = &cases[k % cases.len()];
        lines.push((case["request"].to_string(), Ok(case)));
        let (bad, needle) = &hostile[k % hostile.len()];
        lines.push((bad.clone(), Err(needle)));
        k += 1;
    }
    let input: String = lines.iter().map(|(l, _)| format!("{l}\n")).collect();
    let responses = common::eval_lines(input.as_bytes());
    assert_eq!(responses.len(), lines.len(), "one response per line");
    for ((line, want), response) in lines.iter().zip(&responses) {
        let r: Value = serde_json::from_str(response).expect("every response is JSON");
        match want {
            Ok(case) => {
                let (rtol, atol) = (case["rtol"].as_f64().unwrap(), case["atol"].as_f64().unwrap());
                assert!(r.get("error").is_none(), "{}: {response:.300}", case["id"]);
                for key in ["output", "grad_input"] {
                    let m = common::mismatch(&case["expected"][key], &r[key], rtol, atol);
                    assert!(m.is_none(), "{} {key}: {m:?}", case["id"]);
                }
            }
            Err(needle) => {
                let message = r["error"]
                    .as_str()
                    .unwrap_or_else(|| panic!("no error for {line:.200}: {response:.200}"));
                assert!(message.contains(needle), "{line:.120} -> {message}");
            }
        }
    }
}

#[test]
fn an_ignore_index_beyond_i32_ignores_its_targets() {
    // PyTorch holds targets as int64: an ignore_index of 2^50 is legal and must not fail a cast.
    let request = json!({"op": "cross_entropy", "dtype": "f64",
        "input": {"shape": [2, 3], "data": [1.0, 2.0, 3.0, 0.5, 0.1, -1.0]},
        "target": {"shape": [2], "data": [1125899906842624i64, 2], "dtype": "i64"},
        "options": {"ignore_index": 1125899906842624i64, "reduction": "sum"}});
    let single = json!({"op": "cross_entropy", "dtype": "f64",
        "input": {"shape": [1, 3], "data": [0.5, 0.1, -1.0]},
        "target": {"shape": [1], "data": [2], "dtype": "i64"}, "options": {"reduction": "sum"}});
    let lines = common::eval_lines(format!("{request}\n{single}\n").as_bytes());
    let (a, b): (Value, Value) = (
        serde_json::from_str(&lines[0]).unwrap(),
        serde_json::from_str(&lines[1]).unwrap(),
    );
    assert!(a.get("error").is_none(), "{a}");
    assert_eq!(a["output"], b["output"], "the ignored row adds nothing");
}

#[test]
fn softmax_over_an_empty_dimension_is_empty() {
    for op in ["softmax", "log_softmax", "entropy"] {
        let request = json!({"op": op, "dtype": "f64", "input": {"shape": [2, 0], "data": []}, "options": {"dim": 1}});
        let lines = common::eval_lines(format!("{request}\n").as_bytes());
        let r: Value = serde_json::from_str(&lines[0]).unwrap();
        assert!(r.get("error").is_none(), "{op}: {r}");
    }
}

#[test]
fn softmax_focal_over_an_empty_batch_is_a_nan_mean() {
    // Found by the eval fuzz target: an empty batch once reached a broadcast to size 0.
    let line = include_str!("fixtures/fuzz-eval-empty-focal.json").trim();
    let lines = common::eval_lines(format!("{line}\n").as_bytes());
    let r: Value = serde_json::from_str(&lines[0]).unwrap();
    assert_eq!(r["output"], json!({"shape": [], "data": ["nan"]}), "{r}");
    assert_eq!(r["grad_input"], json!({"shape": [0, 3], "data": []}), "{r}");
}

#[test]
fn eval_reads_a_dash_as_standard_input_and_names_a_bad_path() {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let request = json!({"op": "softmax", "input": {"shape": [2], "data": [1.0, 2.0]}});
    let mut child = Command::new(env!("CARGO_BIN_EXE_losskit"))
        .args(["eval", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{request}\n").as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("\"output\""));
    let dir = std::env::temp_dir();
    let out = Command::new(env!("CARGO_BIN_EXE_losskit"))
        .arg("eval")
        .arg(&dir)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && stderr.lines().count() == 1, "{stderr}");
    assert!(
        stderr.contains(&*dir.to_string_lossy()) && stderr.contains("directory"),
        "{stderr}"
    );
    let missing = dir.join("losskit-no-such-requests.jsonl");
    let out = Command::new(env!("CARGO_BIN_EXE_losskit"))
        .arg("eval")
        .arg(&missing)
        .output()
        .unwrap();
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains(&*missing.to_string_lossy()));
}

#[test]
fn integer_targets_are_promoted_where_pytorch_promotes_them() {
    // PyTorch 2.15: F.mse_loss(x, torch.tensor([1, -1, 1])) and the like work (the target is
    // promoted to float); BCE, BCE with logits and KL refuse an integer target.
    let x = json!({"shape": [3], "data": [0.5, -0.2, 0.3]});
    let request = |op: &str, dtype: Option<&str>, data: Value| {
        let mut target = json!({"shape": [3], "data": data});
        if let Some(d) = dtype {
            target["dtype"] = json!(d);
        }
        let mut r = json!({"op": op, "dtype": "f64", "input": x, "target": target});
        match op {
            "margin_ranking" => r["input2"] = json!({"shape": [3], "data": [0.1, 0.2, 0.3]}),
            "gaussian_nll" => r["var"] = json!({"shape": [3], "data": [1.0, 2.0, 0.5]}),
            _ => {}
        }
        r.to_string()
    };
    for op in [
        "l1",
        "mse",
        "huber",
        "smooth_l1",
        "soft_margin",
        "hinge_embedding",
        "margin_ranking",
        "poisson_nll",
        "gaussian_nll",
    ] {
        let (ints, floats) = (json!([1, -1, 1]), json!([1.0, -1.0, 1.0]));
        let lines = common::eval_lines(
            format!("{}\n{}\n", request(op, Some("i64"), ints), request(op, None, floats)).as_bytes(),
        );
        let (a, b): (Value, Value) = (
            serde_json::from_str(&lines[0]).unwrap(),
            serde_json::from_str(&lines[1]).unwrap(),
        );
        assert!(a.get("error").is_none(), "{op}: {a}");
        assert_eq!(a, b, "{op}");
    }
    // The ops whose target is not the input's shape: cosine embedding's (N) of +-1 for
    // (N, D) pairs, multi-label soft margin's (N, C) of 0/1.
    let pair = json!({"shape": [2, 2], "data": [0.1, 0.2, 0.3, -0.4]});
    for (op, extra, ints, floats) in [
        (
            "cosine_embedding",
            json!({"input2": {"shape": [2, 2], "data": [0.5, 0.1, 0.2, 0.2]}}),
            json!([1, -1]),
            json!([1.0, -1.0]),
        ),
        (
            "multilabel_soft_margin",
            json!({}),
            json!([1, 0, 0, 1]),
            json!([1.0, 0.0, 0.0, 1.0]),
        ),
    ] {
        let shape = if op == "cosine_embedding" {
            json!([2])
        } else {
            json!([2, 2])
        };
        let line = |data: Value, dtype: Option<&str>| {
            let mut r = json!({"op": op, "dtype": "f64", "input": pair, "target": {"shape": shape, "data": data}});
            if let Some(d) = dtype {
                r["target"]["dtype"] = json!(d);
            }
            for (k, v) in extra.as_object().unwrap() {
                r[k] = v.clone();
            }
            r.to_string()
        };
        let lines = common::eval_lines(format!("{}\n{}\n", line(ints, Some("i64")), line(floats, None)).as_bytes());
        assert!(!lines[0].contains("error"), "{op}: {}", lines[0]);
        assert_eq!(lines[0], lines[1], "{op}");
    }
    for op in ["bce", "bce_with_logits", "kl_div"] {
        let lines = common::eval_lines(format!("{}\n", request(op, Some("i64"), json!([1, 0, 1]))).as_bytes());
        assert!(lines[0].contains("must be a float tensor"), "{op}: {}", lines[0]);
    }
    // An integer target still holds integers.
    let lines = common::eval_lines(format!("{}\n", request("mse", Some("i64"), json!([1, 0.5, 1]))).as_bytes());
    assert!(lines[0].contains("error"), "{}", lines[0]);
}
