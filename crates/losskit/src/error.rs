//! Every way a loss call can be refused, with the values that were wrong.

use thiserror::Error;

/// A loss call or configuration that PyTorch would refuse, refused here with a value
/// instead of a panic.
///
/// The messages follow PyTorch's wording where it has one, and always name the
/// offending values, so that a user can find the bad row without a debugger.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum LossError {
    /// A class index outside `[0, C)` that is not the `ignore_index`.
    #[error("Target {target} is out of bounds for {classes} classes")]
    TargetOutOfBounds {
        /// The offending class index.
        target: i64,
        /// The number of classes `C` of the input.
        classes: usize,
    },
    /// A probability (input or target) outside `[0, 1]`, or NaN.
    #[error("all elements of {name} should be between 0 and 1, found {value}")]
    NotAProbability {
        /// `"input"` or `"target"`.
        name: &'static str,
        /// The first offending element.
        value: f64,
    },
    /// Tensors whose shapes do not fit together.
    #[error("{0}")]
    Shape(String),
    /// A per-class tensor whose length is not the number of classes.
    #[error("{name} should have {expected} elements (one per class), found {found}")]
    ClassCount {
        /// The option, as PyTorch spells it.
        name: &'static str,
        /// The number of classes `C`.
        expected: usize,
        /// The length that was given.
        found: usize,
    },
    /// `label_smoothing` outside `[0, 1]`.
    #[error("label_smoothing must be between 0.0 and 1.0, found {0}")]
    LabelSmoothing(f64),
    /// A dimension index outside `[-rank, rank)`.
    #[error("Dimension out of range (expected to be in range of [{}, {}], but got {dim})", -(*rank as i64), *rank as i64 - 1)]
    DimOutOfRange {
        /// The dimension that was asked for.
        dim: i64,
        /// The rank of the tensor.
        rank: usize,
    },
    /// `ignore_index` given together with probability targets.
    #[error("ignore_index is not supported for floating point target (got ignore_index {0})")]
    IgnoreIndexWithProbabilities(i64),
    /// An option of class-index cross entropy (`softcap`, `z_loss`) set for probability
    /// targets, where it is not defined.
    #[error("{0} is defined for class-index targets only, not for class probabilities")]
    ClassIndexOnly(&'static str),
    /// A numeric option outside its domain (a negative or NaN `gamma`, say).
    #[error("{name} must be {expected}, found {value}")]
    Option {
        /// The option, as PyTorch spells it.
        name: &'static str,
        /// What the option must be.
        expected: &'static str,
        /// The value that was given.
        value: f64,
    },
    /// A value of a tensor outside the set or range the loss takes (a target that is not
    /// 1 or -1, a negative variance, ...).
    #[error("{name} {expected}, found {value}")]
    Value {
        /// The tensor, as PyTorch names the argument.
        name: &'static str,
        /// What its values must be, e.g. "must be 1 or -1".
        expected: &'static str,
        /// The first offending value.
        value: f64,
    },
    /// The blank of a sequence loss that is not a class (torchaudio's negative blanks
    /// counted from the end first).
    #[error("blank must be in label range [0, {classes}), found {blank}")]
    Blank {
        /// The blank as given.
        blank: i64,
        /// The number of classes, blank included.
        classes: usize,
    },
    /// A negative sequence length.
    #[error("Expected {name} to have value at least 0, but got value {value}")]
    NegativeLength {
        /// The lengths' argument, as PyTorch names it.
        name: &'static str,
        /// The first negative length.
        value: i64,
    },
    /// A sequence length longer than its axis.
    #[error("Expected {name} to have value at most {max}, but got value {value}")]
    LengthAboveAxis {
        /// The lengths' argument, as PyTorch names it.
        name: &'static str,
        /// The first length that is too long.
        value: usize,
        /// The size of its axis.
        max: usize,
    },
    /// A reduction that is not `"mean"` or `"sum"`.
    #[error("unknown reduction '{0}' (expected 'mean' or 'sum'; 'none' is forward_no_reduction)")]
    Reduction(String),
}
