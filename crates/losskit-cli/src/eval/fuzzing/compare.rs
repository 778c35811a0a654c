//! Whether two responses to one request agree: the same error, or outputs and gradients
//! equal within the dtype's tolerance, NaN where the other has NaN, infinities exact.

use serde_json::Value;

/// Why two responses differ, or `Ok` when they agree. `f32` loosens the tolerance to the
/// single-precision kernels' (a polynomial `exp`, other summation orders).
pub fn agree(a: &Value, b: &Value, f32: bool) -> Result<(), String> {
    let (rtol, atol) = if f32 { (1e-3, 1e-5) } else { (1e-9, 1e-10) };
    match (a.get("error"), b.get("error")) {
        (Some(x), Some(y)) if x == y => return Ok(()),
        (None, None) => {}
        _ => {
            return Err(format!(
                "one errs, the other not: {:.200} / {:.200}",
                a.to_string(),
                b.to_string()
            ));
        }
    }
    let (Some(a), Some(b)) = (a.as_object(), b.as_object()) else {
        return Err("a response is not an object".into());
    };
    if a.keys().ne(b.keys()) {
        return Err(format!(
            "keys {:?} / {:?}",
            a.keys().collect::<Vec<_>>(),
            b.keys().collect::<Vec<_>>()
        ));
    }
    for (key, x) in a {
        let y = &b[key];
        if x["shape"] != y["shape"] {
            return Err(format!("{key}: shape {} / {}", x["shape"], y["shape"]));
        }
        let (xs, ys) = (numbers(&x["data"]), numbers(&y["data"]));
        if xs.len() != ys.len() {
            return Err(format!("{key}: {} / {} values", xs.len(), ys.len()));
        }
        // The tolerance is relative to the tensor's scale: a gradient's small elements carry
        // the rounding of its large ones.
        let scale = xs
            .iter()
            .chain(&ys)
            .filter(|v| v.is_finite())
            .fold(0.0f64, |m, v| m.max(v.abs()));
        for (i, (&p, &q)) in xs.iter().zip(&ys).enumerate() {
            let same = if p.is_nan() || q.is_nan() {
                p.is_nan() && q.is_nan()
            } else if p.is_infinite() || q.is_infinite() {
                p == q
            } else {
                (p - q).abs() <= atol * scale.max(1.0) + rtol * p.abs().max(q.abs())
            };
            if !same {
                return Err(format!("{key}[{i}]: {p:e} / {q:e}"));
            }
        }
    }
    Ok(())
}

/// A protocol tensor's data as f64 (`"nan"`, `"inf"`, `"-inf"` included).
fn numbers(data: &Value) -> Vec<f64> {
    data.as_array()
        .map(|a| {
            a.iter()
                .map(|v| match v {
                    Value::String(s) if s == "inf" => f64::INFINITY,
                    Value::String(s) if s == "-inf" => f64::NEG_INFINITY,
                    Value::Number(n) => n.as_f64().unwrap_or(f64::NAN),
                    _ => f64::NAN,
                })
                .collect()
        })
        .unwrap_or_default()
}
