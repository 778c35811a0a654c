//! Random eval requests for every op: shapes generated (zero-size dimensions, rows longer
//! than the kernels' chunks), options drawn from their domains and beyond, values with
//! NaN, infinities and extremes among them.

use serde_json::{Map, Value, json};

use super::super::wire::span;

/// A source of choices: the fuzzer's bytes or a seeded generator.
pub trait Choices {
    /// A number in `0..n` (`n >= 1`).
    fn below(&mut self, n: u32) -> u32;

    /// True one time in `n`.
    fn one_in(&mut self, n: u32) -> bool {
        self.below(n) == 0
    }

    /// One of `items`.
    fn pick<T: Clone>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u32) as usize].clone()
    }
}

/// The ops the generator draws from, each with how its request is built.
const OPS: [&str; 29] = [
    "bce",
    "bce_with_logits",
    "sigmoid_focal",
    "cross_entropy",
    "nll",
    "softmax_focal",
    "softmax",
    "log_softmax",
    "entropy",
    "kl_div",
    "l1",
    "mse",
    "smooth_l1",
    "huber",
    "soft_margin",
    "poisson_nll",
    "gaussian_nll",
    "hinge_embedding",
    "multilabel_soft_margin",
    "multilabel_margin",
    "multi_margin",
    "margin_ranking",
    "cosine_embedding",
    "triplet_margin",
    "triplet_margin_with_distance",
    "generalized_box_iou",
    "distance_box_iou",
    "complete_box_iou",
    "linear_cross_entropy",
];

/// A dimension: mostly small, sometimes 0, rarely longer than a kernel's chunk.
fn dim(c: &mut impl Choices) -> usize {
    if c.one_in(40) {
        return c.pick(&[8_193, 16_385, 20_001]);
    }
    c.pick(&[0, 1, 1, 2, 2, 3, 3, 4, 5, 7])
}

/// The most elements a generated tensor holds.
const ELEMENT_BUDGET: usize = 60_000;

/// A shape of `rank` dimensions whose element count, and that of every shape broadcast
/// against it (its [`span`]: [`broadcastable`] turns a dimension into 1), stays within the
/// generator's budget.
fn shape(c: &mut impl Choices, rank: usize) -> Vec<usize> {
    let mut dims: Vec<usize> = (0..rank).map(|_| dim(c)).collect();
    // At most one long dimension, and a long one only with small others; an empty dimension
    // does not make the others free, since a target broadcast against it may have 1 there
    // (a fuzzer found `[0, 8193, 8193]` against `[1, 8193, 8193]`: 67M values).
    while span(&dims) > ELEMENT_BUDGET {
        let k = dims.iter().enumerate().max_by_key(|&(_, &d)| d).map_or(0, |(k, _)| k);
        dims[k] = 3;
    }
    dims
}

/// A value: mostly in `[-8, 8]`, sometimes an extreme (logits of +-1e4, where the
/// composed path's cancellations are still exact enough to compare) or a non-finite one.
fn value(c: &mut impl Choices) -> Value {
    if c.one_in(30) {
        return c.pick(&[
            json!("nan"),
            json!("inf"),
            json!("-inf"),
            json!(1e4),
            json!(-1e4),
            json!(0.0),
            json!(1e-30),
        ]);
    }
    json!(-8.0 + 16.0 * f64::from(c.below(10_001)) / 10_000.0)
}

/// A value in `[0, 1]`: mostly hard 0 or 1, sometimes soft, rarely outside.
fn probability(c: &mut impl Choices) -> Value {
    if c.one_in(50) {
        return c.pick(&[json!(1.5), json!(-0.25), json!("nan")]);
    }
    if c.one_in(2) {
        json!(f64::from(c.below(2)))
    } else {
        json!(f64::from(c.below(1_001)) / 1_000.0)
    }
}

/// A tensor of `dims` with values from `f`.
fn tensor(c: &mut impl Choices, dims: &[usize], mut f: impl FnMut(&mut dyn FnMut(u32) -> u32) -> Value) -> Value {
    let n: usize = dims.iter().product();
    let mut below = |k| c.below(k);
    let data: Vec<Value> = (0..n).map(|_| f(&mut below)).collect();
    json!({"shape": dims, "data": data})
}

/// A float tensor of `dims`.
fn floats(c: &mut impl Choices, dims: &[usize]) -> Value {
    let n: usize = dims.iter().product();
    let data: Vec<Value> = (0..n).map(|_| value(c)).collect();
    json!({"shape": dims, "data": data})
}

/// An index tensor of `dims` with values in `0..classes` (and, rarely, others).
fn indices(c: &mut impl Choices, dims: &[usize], classes: usize, extra: &[i64]) -> Value {
    let n: usize = dims.iter().product();
    let data: Vec<i64> = (0..n)
        .map(|_| {
            if !extra.is_empty() && c.one_in(6) {
                c.pick(extra)
            } else {
                i64::from(c.below(classes.max(1) as u32))
            }
        })
        .collect();
    json!({"shape": dims, "data": data, "dtype": "i64"})
}

/// `shape` with some leading dimensions dropped and some set to 1: what broadcasts against it.
fn broadcastable(c: &mut impl Choices, shape: &[usize]) -> Vec<usize> {
    let keep = shape.len() - c.below(shape.len() as u32 + 1) as usize;
    shape[shape.len() - keep..]
        .iter()
        .map(|&d| if c.one_in(3) { 1 } else { d })
        .collect()
}

/// `reduction`: mean (PyTorch's default, also when absent), sum or none.
fn reduction(c: &mut impl Choices, options: &mut Map<String, Value>) {
    match c.below(4) {
        0 => {}
        1 => _ = options.insert("reduction".into(), json!("mean")),
        2 => _ = options.insert("reduction".into(), json!("sum")),
        _ => _ = options.insert("reduction".into(), json!("none")),
    }
}

/// One random request.
pub fn request(c: &mut impl Choices) -> Value {
    let op = c.pick(&OPS);
    let mut request = Map::new();
    let mut options = Map::new();
    request.insert("op".into(), json!(op));
    request.insert("dtype".into(), json!(c.pick(&["f32", "f64"])));
    match op {
        "bce" | "bce_with_logits" | "sigmoid_focal" => elementwise_classification(c, op, &mut request, &mut options),
        "cross_entropy" | "nll" | "softmax_focal" => class_indices(c, op, &mut request, &mut options),
        "linear_cross_entropy" => linear(c, &mut request, &mut options),
        "softmax" | "log_softmax" | "entropy" => {
            let rank = c.below(4) as usize;
            let dims = shape(c, rank);
            let input = if op == "entropy" {
                tensor(c, &dims, |b| json!(f64::from(b(1_001)) / 1_000.0))
            } else {
                floats(c, &dims)
            };
            request.insert("input".into(), input);
            options.insert("dim".into(), json!(i64::from(c.below(7)) - 3));
        }
        "kl_div" => {
            let dims = {
                let rank = 1 + c.below(3) as usize;
                shape(c, rank)
            };
            request.insert("input".into(), floats(c, &dims));
            request.insert(
                "target".into(),
                tensor(c, &dims, |b| json!(f64::from(b(1_001)) / 1_000.0)),
            );
            options.insert("log_target".into(), json!(c.one_in(2)));
            if c.one_in(4) {
                options.insert("reduction".into(), json!("batchmean"));
            } else {
                reduction(c, &mut options);
            }
        }
        "multilabel_soft_margin" | "multilabel_margin" | "multi_margin" => {
            multi_class(c, op, &mut request, &mut options)
        }
        "cosine_embedding" | "triplet_margin" | "triplet_margin_with_distance" => {
            embeddings(c, op, &mut request, &mut options)
        }
        "generalized_box_iou" | "distance_box_iou" | "complete_box_iou" => {
            let n = dim(c).min(4_000);
            let dims = if c.one_in(8) { vec![4] } else { vec![n, 4] };
            request.insert("input".into(), boxes(c, &dims));
            request.insert("target".into(), boxes(c, &dims));
            // eps > 0: with eps = 0 a degenerate pair divides 0 by 0, and which of NaN or
            // inf each path reaches depends on its order of operations.
            if c.one_in(3) {
                options.insert("eps".into(), json!(c.pick(&[1e-7, 1e-3, 0.5])));
            }
            reduction(c, &mut options);
        }
        _ => regression(c, op, &mut request, &mut options),
    }
    if !options.is_empty() {
        request.insert("options".into(), Value::Object(options));
    }
    Value::Object(request)
}

/// Boxes `(x1, y1, x2, y2)` of `dims`: mostly proper, sometimes degenerate or inverted.
fn boxes(c: &mut impl Choices, dims: &[usize]) -> Value {
    let n = dims.iter().product::<usize>() / 4;
    let mut data = Vec::with_capacity(4 * n);
    for _ in 0..n {
        let x = f64::from(c.below(100));
        let y = f64::from(c.below(100));
        let (w, h) = match c.below(12) {
            0 => (0.0, f64::from(c.below(10))),
            1 => (f64::from(c.below(10)), 0.0),
            2 => (-1.0, 2.0),
            _ => (1.0 + f64::from(c.below(40)), 1.0 + f64::from(c.below(40))),
        };
        data.extend([json!(x), json!(y), json!(x + w), json!(y + h)]);
    }
    json!({"shape": dims, "data": data})
}

fn elementwise_classification(
    c: &mut impl Choices,
    op: &str,
    request: &mut Map<String, Value>,
    options: &mut Map<String, Value>,
) {
    let dims = {
        let rank = c.below(4) as usize;
        shape(c, rank)
    };
    let input = if op == "bce" {
        tensor(c, &dims, |b| json!(f64::from(b(1_001)) / 1_000.0))
    } else {
        floats(c, &dims)
    };
    request.insert("input".into(), input);
    let n: usize = dims.iter().product();
    let data: Vec<Value> = (0..n).map(|_| probability(c)).collect();
    request.insert("target".into(), json!({"shape": dims, "data": data}));
    if c.one_in(3) {
        // Finite or NaN: an infinite weight meets the composed path's gradient, a sum of two
        // terms, as inf - inf (PyTorch's fused backward gives an infinity).
        let w = broadcastable(c, &dims);
        options.insert(
            "weight".into(),
            tensor(c, &w, |b| {
                if b(25) == 0 {
                    json!("nan")
                } else {
                    json!(-8.0 + f64::from(b(1_601)) / 100.0)
                }
            }),
        );
    }
    if op != "bce" && c.one_in(3) {
        let last = dims.last().copied().unwrap_or(1);
        let pw = if c.one_in(2) { vec![last] } else { vec![1] };
        options.insert(
            "pos_weight".into(),
            tensor(c, &pw, |b| json!(0.1 + f64::from(b(50)) / 10.0)),
        );
    }
    if op == "sigmoid_focal" {
        options.insert("gamma".into(), json!(c.pick(&[0.0, 0.5, 1.5, 2.0, 5.0])));
        options.insert(
            "alpha".into(),
            c.pick(&[json!(0.25), json!(null), json!(-1.0), json!(0.9)]),
        );
    }
    reduction(c, options);
}

fn class_indices(c: &mut impl Choices, op: &str, request: &mut Map<String, Value>, options: &mut Map<String, Value>) {
    let classes = if c.one_in(40) {
        c.pick(&[8_193, 20_001])
    } else {
        1 + c.below(7) as usize
    };
    let (input_dims, target_dims) = match c.below(4) {
        0 => (vec![classes], vec![]),
        1 => {
            let n = dim(c).min(6);
            let d = dim(c).min(4);
            (vec![n, classes, d], vec![n, d])
        }
        _ => {
            let n = dim(c).min(if classes > 1_000 { 3 } else { 64 });
            (vec![n, classes], vec![n])
        }
    };
    request.insert("input".into(), floats(c, &input_dims));
    let ignore = c.pick(&[-100i64, 0, 1]);
    if op == "cross_entropy" && c.one_in(4) {
        let n: usize = input_dims.iter().product();
        let data: Vec<Value> = (0..n).map(|_| json!(f64::from(c.below(1_001)) / 1_000.0)).collect();
        request.insert("target".into(), json!({"shape": input_dims, "data": data}));
    } else {
        request.insert(
            "target".into(),
            indices(c, &target_dims, classes, &[ignore, -100, classes as i64]),
        );
        if c.one_in(2) {
            options.insert("ignore_index".into(), json!(ignore));
        }
    }
    if op != "softmax_focal" && c.one_in(2) {
        let weights = if c.one_in(8) { classes + 1 } else { classes };
        options.insert(
            "weight".into(),
            tensor(c, &[weights], |b| {
                if b(25) == 0 {
                    json!("nan")
                } else {
                    json!(0.1 + f64::from(b(30)) / 10.0)
                }
            }),
        );
    }
    if op == "cross_entropy" && c.one_in(2) {
        options.insert("label_smoothing".into(), json!(c.pick(&[0.0, 0.1, 0.5, 1.0])));
    }
    if op == "cross_entropy" {
        llm_options(c, options);
    }
    if op == "softmax_focal" {
        options.insert("gamma".into(), json!(c.pick(&[0.0, 0.5, 2.0])));
        if c.one_in(2) {
            options.insert(
                "alpha".into(),
                if c.one_in(2) {
                    json!(0.25)
                } else {
                    tensor(c, &[classes], |b| json!(0.1 + f64::from(b(9)) / 10.0))
                },
            );
        }
    }
    reduction(c, options);
}

/// `softcap` and `z_loss` (the protocol's "Beyond PyTorch"), each sometimes, sometimes
/// outside its domain.
fn llm_options(c: &mut impl Choices, options: &mut Map<String, Value>) {
    if c.one_in(3) {
        options.insert(
            "softcap".into(),
            c.pick(&[json!(0.5), json!(3.0), json!(30.0), json!(null), json!(0.0)]),
        );
    }
    if c.one_in(3) {
        options.insert("z_loss".into(), json!(c.pick(&[0.0, 1e-4, 0.1, -1.0])));
    }
}

/// `linear_cross_entropy`: `input` `(N, H)`, `classifier` `(V, H)`, sometimes a bias, finite
/// values (an infinity in an ignored row meets the classifier's gradient as `0 * inf`,
/// NaN in PyTorch's product, a row the chunked path never reads); sometimes enough classes
/// for several of the fused backward's blocks, sometimes shapes that do not fit.
fn linear(c: &mut impl Choices, request: &mut Map<String, Value>, options: &mut Map<String, Value>) {
    let n = dim(c).min(40);
    let h = c.below(6) as usize;
    let v = if c.one_in(10) {
        300 + c.below(400) as usize
    } else {
        1 + c.below(7) as usize
    };
    let finite = |c: &mut dyn FnMut(u32) -> u32| json!(-4.0 + 8.0 * f64::from(c(10_001)) / 10_000.0);
    let hc = if c.one_in(20) { h + 1 } else { h };
    request.insert("input".into(), tensor(c, &[n, h], finite));
    request.insert("classifier".into(), tensor(c, &[v, hc], finite));
    if c.one_in(2) {
        let b = if c.one_in(20) { v + 1 } else { v };
        request.insert("bias".into(), tensor(c, &[b], finite));
    }
    let ignore = c.pick(&[-100i64, 0, 1]);
    request.insert("target".into(), indices(c, &[n], v, &[ignore, -100, v as i64]));
    if c.one_in(2) {
        options.insert("ignore_index".into(), json!(ignore));
    }
    if c.one_in(3) {
        options.insert(
            "weight".into(),
            tensor(c, &[v], |b| json!(0.1 + f64::from(b(30)) / 10.0)),
        );
    }
    if c.one_in(2) {
        options.insert("label_smoothing".into(), json!(c.pick(&[0.0, 0.1, 0.5])));
    }
    llm_options(c, options);
    reduction(c, options);
}

fn regression(c: &mut impl Choices, op: &str, request: &mut Map<String, Value>, options: &mut Map<String, Value>) {
    let dims = {
        let rank = c.below(4) as usize;
        shape(c, rank)
    };
    let other = if c.one_in(4) {
        broadcastable(c, &dims)
    } else {
        dims.clone()
    };
    request.insert("input".into(), floats(c, &dims));
    match op {
        "soft_margin" | "hinge_embedding" => {
            request.insert(
                "target".into(),
                tensor(c, &other, |b| json!(if b(2) == 0 { -1.0 } else { 1.0 })),
            );
        }
        "margin_ranking" => {
            request.insert("input2".into(), floats(c, &dims));
            request.insert(
                "target".into(),
                tensor(c, &dims, |b| json!(if b(2) == 0 { -1.0 } else { 1.0 })),
            );
        }
        "poisson_nll" => {
            request.insert("target".into(), tensor(c, &other, |b| json!(f64::from(b(6)))));
            options.insert("log_input".into(), json!(c.one_in(2)));
            options.insert("full".into(), json!(c.one_in(2)));
        }
        "gaussian_nll" => {
            request.insert("target".into(), floats(c, &dims));
            let var: Vec<usize> = if dims.is_empty() || c.one_in(2) {
                dims.clone()
            } else {
                dims[..dims.len() - 1].to_vec()
            };
            request.insert("var".into(), tensor(c, &var, |b| json!(f64::from(b(20)) / 10.0)));
            options.insert("full".into(), json!(c.one_in(2)));
        }
        _ => {
            request.insert("target".into(), floats(c, &other));
        }
    }
    match op {
        "smooth_l1" => _ = options.insert("beta".into(), json!(c.pick(&[0.0, 0.5, 1.0, 3.0]))),
        "huber" => _ = options.insert("delta".into(), json!(c.pick(&[0.5, 1.0, 3.0]))),
        "hinge_embedding" | "margin_ranking" => _ = options.insert("margin".into(), json!(c.pick(&[0.0, 0.5, 1.0]))),
        _ => {}
    }
    reduction(c, options);
}

fn multi_class(c: &mut impl Choices, op: &str, request: &mut Map<String, Value>, options: &mut Map<String, Value>) {
    let n = dim(c).min(64);
    let classes = 1 + c.below(6) as usize;
    let dims = vec![n, classes];
    request.insert("input".into(), floats(c, &dims));
    match op {
        "multilabel_soft_margin" => {
            request.insert("target".into(), tensor(c, &dims, |b| json!(f64::from(b(2)))));
            if c.one_in(2) {
                options.insert(
                    "weight".into(),
                    tensor(c, &[classes], |b| json!(0.1 + f64::from(b(20)) / 10.0)),
                );
            }
        }
        "multilabel_margin" => request.extend([("target".into(), indices(c, &dims, classes, &[-1]))]),
        _ => {
            request.insert("target".into(), indices(c, &[n], classes, &[classes as i64]));
            options.insert("p".into(), json!(c.pick(&[1, 2])));
            options.insert("margin".into(), json!(c.pick(&[0.0, 0.5, 1.0])));
            if c.one_in(2) {
                options.insert(
                    "weight".into(),
                    tensor(c, &[classes], |b| json!(0.1 + f64::from(b(20)) / 10.0)),
                );
            }
        }
    }
    reduction(c, options);
}

fn embeddings(c: &mut impl Choices, op: &str, request: &mut Map<String, Value>, options: &mut Map<String, Value>) {
    let n = dim(c).min(64);
    let d = 1 + c.below(6) as usize;
    let dims = vec![n, d];
    request.insert("input".into(), floats(c, &dims));
    if op == "cosine_embedding" {
        request.insert("input2".into(), floats(c, &dims));
        request.insert(
            "target".into(),
            tensor(c, &[n], |b| json!(if b(2) == 0 { -1.0 } else { 1.0 })),
        );
        options.insert("margin".into(), json!(c.pick(&[0.0, -0.5, 0.5])));
    } else {
        request.insert("positive".into(), floats(c, &dims));
        request.insert("negative".into(), floats(c, &dims));
        options.insert("margin".into(), json!(c.pick(&[0.5, 1.0, 2.0])));
        options.insert("swap".into(), json!(c.one_in(2)));
        if op == "triplet_margin" {
            options.insert("p".into(), json!(c.pick(&[1.0, 2.0, 3.0])));
        } else {
            options.insert("distance".into(), json!(c.pick(&["pairwise", "cosine"])));
        }
    }
    reduction(c, options);
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;
    use crate::eval::fuzzing::Seeded;

    #[test]
    fn no_shape_or_shape_broadcast_against_it_passes_the_budget() {
        let mut c = Seeded(rand::rngs::StdRng::seed_from_u64(1));
        let mut empty_with_long = 0;
        for draw in 0..200_000 {
            let dims = shape(&mut c, 1 + draw % 4);
            let other = broadcastable(&mut c, &dims);
            for d in [&dims, &other] {
                assert!(span(d) <= ELEMENT_BUDGET, "{dims:?} and {other:?}");
            }
            empty_with_long += usize::from(dims.contains(&0) && dims.iter().any(|&d| d > 7));
        }
        // The draws reach the case that once escaped the budget: an empty dimension beside a
        // long one.
        assert!(empty_with_long > 0);
    }
}
