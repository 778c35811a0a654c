//! What `bench` times: ops, shapes, and the cases the options select.

use std::fmt;
use std::str::FromStr;

use clap::ValueEnum;
use clap::builder::PossibleValue;

use super::BenchError;

/// An op that `bench` times, forward and backward.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// Cross entropy on class indices.
    CrossEntropy,
    /// Cross entropy on class probabilities.
    CrossEntropyProbs,
    /// NLL on log-probabilities.
    Nll,
    /// Softmax focal loss.
    SoftmaxFocal,
    /// Softmax.
    Softmax,
    /// Log-softmax.
    LogSoftmax,
    /// BCE with logits.
    BceWithLogits,
    /// Sigmoid focal loss.
    SigmoidFocal,
    /// L1 loss.
    L1,
    /// Mean squared error.
    Mse,
    /// Smooth L1 loss.
    SmoothL1,
    /// Huber loss.
    Huber,
    /// Generalized IoU loss of boxes.
    GeneralizedBoxIou,
    /// Distance IoU loss of boxes.
    DistanceBoxIou,
    /// Complete IoU loss of boxes.
    CompleteBoxIou,
    /// CTC loss of `(T, N, C)` log-probabilities against `(N, S)` targets.
    Ctc,
    /// RNN-T loss of `(N, T, U + 1, V)` logits against `(N, U)` targets.
    Rnnt,
    /// Cross entropy of a linear layer, `(N, H)` inputs and a `(V, H)` classifier.
    LinearCrossEntropy,
}

/// How an op's shape is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// Over the classes of `(rows, classes)`.
    Rows,
    /// Elementwise on logits, any rank.
    Sigmoid,
    /// Elementwise on an input and a target, any rank.
    Regression,
    /// Boxes `(N, 4)`.
    Boxes,
    /// A sequence loss's four sizes: `TxNxCxS` (CTC), `NxTxUxV` (RNN-T).
    Sequence,
    /// A linear layer and its loss: `NxHxV` (rows, hidden size, classes).
    Linear,
}

impl Op {
    /// Every op, in the order of the report.
    pub const ALL: [Op; 18] = [
        Op::CrossEntropy,
        Op::CrossEntropyProbs,
        Op::Nll,
        Op::SoftmaxFocal,
        Op::Softmax,
        Op::LogSoftmax,
        Op::BceWithLogits,
        Op::SigmoidFocal,
        Op::L1,
        Op::Mse,
        Op::SmoothL1,
        Op::Huber,
        Op::GeneralizedBoxIou,
        Op::DistanceBoxIou,
        Op::CompleteBoxIou,
        Op::Ctc,
        Op::Rnnt,
        Op::LinearCrossEntropy,
    ];

    /// The name in the report, on the command line and in PyTorch's script.
    pub fn name(self) -> &'static str {
        match self {
            Op::CrossEntropy => "cross_entropy",
            Op::CrossEntropyProbs => "cross_entropy_probs",
            Op::Nll => "nll",
            Op::SoftmaxFocal => "softmax_focal",
            Op::Softmax => "softmax",
            Op::LogSoftmax => "log_softmax",
            Op::BceWithLogits => "bce_with_logits",
            Op::SigmoidFocal => "sigmoid_focal",
            Op::L1 => "l1",
            Op::Mse => "mse",
            Op::SmoothL1 => "smooth_l1",
            Op::Huber => "huber",
            Op::GeneralizedBoxIou => "generalized_box_iou",
            Op::DistanceBoxIou => "distance_box_iou",
            Op::CompleteBoxIou => "complete_box_iou",
            Op::Ctc => "ctc",
            Op::Rnnt => "rnnt",
            Op::LinearCrossEntropy => "linear_cross_entropy",
        }
    }

    /// The op called `name`.
    pub fn from_name(name: &str) -> Option<Op> {
        Op::ALL.into_iter().find(|op| op.name() == name)
    }

    /// How the op reads its shape.
    pub fn family(self) -> Family {
        match self {
            Op::BceWithLogits | Op::SigmoidFocal => Family::Sigmoid,
            Op::L1 | Op::Mse | Op::SmoothL1 | Op::Huber => Family::Regression,
            Op::GeneralizedBoxIou | Op::DistanceBoxIou | Op::CompleteBoxIou => Family::Boxes,
            Op::Ctc | Op::Rnnt => Family::Sequence,
            Op::LinearCrossEntropy => Family::Linear,
            _ => Family::Rows,
        }
    }

    /// The elements of the largest tensor a case of `shape` holds (which parsing keeps
    /// within `usize`).
    fn largest_tensor(self, shape: &Shape) -> usize {
        match (self.family(), shape.0.as_slice()) {
            (Family::Linear, &[n, h, v]) => (n * v).max(v * h).max(n * h),
            (_, dims) => dims.iter().product(),
        }
    }

    /// Whether `shape` is one the op is timed at.
    fn takes(self, shape: &Shape) -> bool {
        match self.family() {
            Family::Rows => shape.0.len() == 2,
            Family::Boxes => shape.0.len() == 2 && shape.0[1] == 4,
            // A label besides the blank: CTC's classes are its third size, RNN-T's its last.
            Family::Sequence => shape.0.len() == 4 && shape.0[if self == Op::Ctc { 2 } else { 3 }] >= 2,
            Family::Linear => shape.0.len() == 3,
            Family::Sigmoid | Family::Regression => true,
        }
    }
}

impl ValueEnum for Op {
    fn value_variants<'a>() -> &'a [Self] {
        &Op::ALL
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        Some(PossibleValue::new(self.name()))
    }
}

/// The most dimensions a shape may have (the elementwise ops are timed up to rank 4).
pub const MAX_RANK: usize = 4;
/// The most elements a case's largest tensor may have: a case holds about six buffers of
/// its size (input, gradient, targets, the bound's copy source and destination), 3 GiB of
/// `f32` at this size, four times the largest default case. Every op's largest tensor is
/// its shape's product but the linear cross entropy's, its `(N, V)` logits or `(V, H)`
/// classifier.
pub const MAX_ELEMENTS: usize = 1 << 27;

/// A tensor shape, written `4096x1000`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shape(pub Vec<usize>);

/// Why a `--shape` does not parse.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ShapeError {
    /// A part that is not a positive integer.
    #[error("'{part}' is not a dimension (a shape is positive integers joined by 'x', like 4096x1000)")]
    Dimension {
        /// The part.
        part: String,
    },
    /// More dimensions than [`MAX_RANK`].
    #[error("{rank} dimensions, at most {MAX_RANK} are timed")]
    Rank {
        /// Its dimensions.
        rank: usize,
    },
    /// A product of dimensions past `usize`.
    #[error("more than {} elements", usize::MAX)]
    Elements,
}

impl FromStr for Shape {
    type Err = ShapeError;

    fn from_str(text: &str) -> Result<Self, ShapeError> {
        let dims = text
            .split('x')
            .map(|part| {
                part.parse::<usize>()
                    .ok()
                    .filter(|&d| d > 0)
                    .ok_or_else(|| ShapeError::Dimension { part: part.into() })
            })
            .collect::<Result<Vec<_>, _>>()?;
        if dims.len() > MAX_RANK {
            return Err(ShapeError::Rank { rank: dims.len() });
        }
        dims.iter()
            .try_fold(1usize, |n, &d| n.checked_mul(d))
            .ok_or(ShapeError::Elements)?;
        Ok(Shape(dims))
    }
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let dims: Vec<String> = self.0.iter().map(usize::to_string).collect();
        f.write_str(&dims.join("x"))
    }
}

/// One op at one shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Case {
    /// The op.
    pub op: Op,
    /// The shape of its input.
    pub shape: Shape,
}

/// The default cases: the shapes of the README's table (`quick`: the small ones).
fn defaults(quick: bool) -> Vec<Case> {
    let case = |op, dims: &[usize]| Case {
        op,
        shape: Shape(dims.to_vec()),
    };
    let mut cases = vec![case(Op::CrossEntropy, &[64, 10]), case(Op::CrossEntropy, &[4096, 1000])];
    if !quick {
        cases.push(case(Op::CrossEntropy, &[1024, 32000]));
        cases.push(case(Op::CrossEntropy, &[256, 128000]));
    }
    for op in [
        Op::CrossEntropyProbs,
        Op::Nll,
        Op::SoftmaxFocal,
        Op::Softmax,
        Op::LogSoftmax,
    ] {
        cases.push(case(op, &[4096, 1000]));
    }
    cases.push(case(Op::BceWithLogits, &[4096, 1000]));
    cases.push(case(Op::SigmoidFocal, &[4096, 1000]));
    if !quick {
        cases.push(case(Op::BceWithLogits, &[64, 80, 80, 80]));
        cases.push(case(Op::SigmoidFocal, &[64, 80, 80, 80]));
    }
    for op in [Op::L1, Op::Mse, Op::SmoothL1, Op::Huber] {
        cases.push(case(op, &[4096, 1000]));
    }
    let boxes = if quick { 10_000 } else { 100_000 };
    for op in [Op::GeneralizedBoxIou, Op::DistanceBoxIou, Op::CompleteBoxIou] {
        cases.push(case(op, &[boxes, 4]));
    }
    if quick {
        cases.push(case(Op::Ctc, &[50, 4, 10, 10]));
        cases.push(case(Op::Rnnt, &[2, 20, 5, 10]));
    } else {
        cases.push(case(Op::Ctc, &[250, 32, 40, 60]));
        cases.push(case(Op::Rnnt, &[8, 100, 30, 100]));
    }
    if quick {
        cases.push(case(Op::LinearCrossEntropy, &[256, 128, 4000]));
    } else {
        cases.push(case(Op::LinearCrossEntropy, &[1024, 512, 32000]));
        cases.push(case(Op::LinearCrossEntropy, &[512, 512, 128000]));
    }
    cases
}

/// The cases `--op` and `--shape` select: without shapes, the default cases of the ops
/// (all ops when none is named); with shapes, each named op at each shape (a shape an op
/// cannot take is an error), or, when no op is named, each shape on every op that takes it
/// (the elementwise ops take every shape).
pub fn select(ops: &[Op], shapes: &[Shape], quick: bool) -> Result<Vec<Case>, BenchError> {
    let mut ops_once: Vec<Op> = Vec::new();
    for &op in ops {
        if !ops_once.contains(&op) {
            ops_once.push(op);
        }
    }
    if shapes.is_empty() {
        return Ok(defaults(quick)
            .into_iter()
            .filter(|c| ops_once.is_empty() || ops_once.contains(&c.op))
            .collect());
    }
    let mut cases = Vec::new();
    for shape in shapes {
        let takers: Vec<Op> = if ops_once.is_empty() {
            Op::ALL.iter().copied().filter(|op| op.takes(shape)).collect()
        } else {
            ops_once.clone()
        };
        for op in takers {
            if !op.takes(shape) {
                return Err(BenchError::Rank {
                    op: op.name(),
                    shape: shape.clone(),
                });
            }
            if op.largest_tensor(shape) > MAX_ELEMENTS {
                return Err(BenchError::Elements {
                    op: op.name(),
                    shape: shape.clone(),
                });
            }
            cases.push(Case {
                op,
                shape: shape.clone(),
            });
        }
    }
    // Grouped by op, in the order the ops were named (or Op::ALL's), as the shapes are given.
    let order: Vec<Op> = if ops_once.is_empty() {
        Op::ALL.to_vec()
    } else {
        ops_once
    };
    cases.sort_by_key(|case| order.iter().position(|&op| op == case.op));
    Ok(cases)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_parse_and_bad_ones_are_named() {
        assert_eq!("4096x1000".parse(), Ok(Shape(vec![4096, 1000])));
        assert_eq!("7".parse(), Ok(Shape(vec![7])));
        for (text, part) in [
            ("4096x", ""),
            ("x10", ""),
            ("4096*1000", "4096*1000"),
            ("0x5", "0"),
            ("-3x2", "-3"),
        ] {
            assert_eq!(
                text.parse::<Shape>(),
                Err(ShapeError::Dimension { part: part.into() }),
                "{text}"
            );
        }
        assert_eq!("1x2x3x4x5".parse::<Shape>(), Err(ShapeError::Rank { rank: 5 }));
        assert_eq!("1024x131072".parse::<Shape>(), Ok(Shape(vec![1024, 131072])));
        assert_eq!(
            "4294967296x4294967296x4294967296".parse::<Shape>(),
            Err(ShapeError::Elements)
        );
    }

    #[test]
    fn the_options_select_the_cases() {
        let shape = |s: &str| s.parse::<Shape>().unwrap();
        let all = select(&[], &[], false).unwrap();
        assert_eq!(all, defaults(false));
        let ce = select(&[Op::CrossEntropy, Op::CrossEntropy], &[], true).unwrap();
        assert_eq!(
            ce.iter().map(|c| c.shape.to_string()).collect::<Vec<_>>(),
            ["64x10", "4096x1000"]
        );
        let one = select(&[Op::CrossEntropy], &[shape("4096x1000")], false).unwrap();
        assert_eq!(
            one,
            [Case {
                op: Op::CrossEntropy,
                shape: shape("4096x1000")
            }]
        );
        let every = select(&[], &[shape("8x4")], false).unwrap();
        let takers = Op::ALL.iter().filter(|op| op.takes(&shape("8x4"))).count();
        assert_eq!(every.len(), takers);
        assert!(every.iter().all(|case| case.op != Op::Ctc), "{every:?}");
        assert!(every.iter().any(|case| case.op == Op::Mse), "{every:?}");
        let two_d: Vec<Op> = Op::ALL
            .into_iter()
            .filter(|op| !matches!(op.family(), Family::Linear | Family::Sequence))
            .collect();
        assert_eq!(select(&two_d, &[shape("8x4")], false).unwrap().len(), two_d.len());
        let err = select(&[Op::LinearCrossEntropy], &[shape("8x4")], false).unwrap_err();
        assert_eq!(
            err.to_string(),
            "linear_cross_entropy times NxHxV (rows, hidden size, classes) like 1024x512x32000, not 8x4"
        );
        let err = select(&[Op::CrossEntropy], &[shape("65536x65536")], false).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("cross_entropy at 65536x65536 holds a tensor of more than {MAX_ELEMENTS} elements")
        );
        // The linear cross entropy's largest tensor is its logits or its classifier.
        assert_eq!(
            select(&[Op::LinearCrossEntropy], &[shape("1024x512x32000")], false)
                .unwrap()
                .len(),
            1
        );
        let err = select(&[Op::LinearCrossEntropy], &[shape("2x70000x2000")], false).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("linear_cross_entropy at 2x70000x2000 holds a tensor of more than {MAX_ELEMENTS} elements")
        );
        // CTC and RNN-T draw labels other than the blank: one class is not a case.
        for (op, dims) in [(Op::Ctc, "10x1x1x2"), (Op::Rnnt, "2x3x4x1")] {
            let err = select(&[op], &[shape(dims)], false).unwrap_err();
            assert_eq!(
                err.to_string(),
                format!(
                    "{} times four sizes, TxNxCxS (ctc) or NxTxUxV (rnnt), with 2 classes or more, like 250x32x40x60, not {dims}",
                    op.name()
                )
            );
        }
        assert_eq!(
            select(&[Op::Ctc, Op::Rnnt], &[shape("10x1x2x2")], false).unwrap().len(),
            2
        );
        let err = select(&[Op::CompleteBoxIou], &[shape("8x5")], false).unwrap_err();
        assert_eq!(
            err.to_string(),
            "complete_box_iou times boxes (N, 4) like 100000x4, not 8x5"
        );
        let err = select(&[Op::BceWithLogits, Op::Softmax], &[shape("2x3x4")], false).unwrap_err();
        assert_eq!(
            err.to_string(),
            "softmax times (rows, classes) shapes like 4096x1000, not 2x3x4"
        );
    }
}
