//! Cross entropy (`CrossEntropyLoss`) and negative log likelihood (`NLLLoss`).

use burn::tensor::{Bool, DType, Device, Int, Tensor, TensorData, activation::log_softmax};

use crate::kernel::{self, RowLoss, RowLosses};
use crate::operand::{cast, check_same_shape, check_targets, class_weight, values};
use crate::reduction::{Denominator, reduce};
use crate::{LossError, Reduction};

/// PyTorch's default `ignore_index`.
pub const IGNORE_INDEX: i64 = -100;

/// Options of [`cross_entropy`] and [`cross_entropy_with_probs`]:
/// `torch.nn.CrossEntropyLoss(weight=None, ignore_index=-100, reduction='mean', label_smoothing=0.0)`.
#[derive(Debug, Clone)]
pub struct CrossEntropyOptions {
    /// Per-class weight `(C)`; `None` is 1 for every class.
    pub weight: Option<Tensor<1>>,
    /// Targets equal to this index count for nothing (class-index targets only). Default -100.
    pub ignore_index: i64,
    /// Mixes the target with the uniform distribution: `(1 - e) target + e / C`. In `[0, 1]`.
    pub label_smoothing: f64,
    /// `Mean` (default) divides by the summed weights of the non-ignored targets
    /// (class indices) or by the number of positions (probability targets).
    pub reduction: Reduction,
}

impl Default for CrossEntropyOptions {
    fn default() -> Self {
        Self {
            weight: None,
            ignore_index: IGNORE_INDEX,
            label_smoothing: 0.0,
            reduction: Reduction::Mean,
        }
    }
}

impl CrossEntropyOptions {
    /// Sets `weight`.
    pub fn with_weight(mut self, weight: Tensor<1>) -> Self {
        self.weight = Some(weight);
        self
    }

    /// Sets `ignore_index`.
    pub fn with_ignore_index(mut self, ignore_index: i64) -> Self {
        self.ignore_index = ignore_index;
        self
    }

    /// Sets `label_smoothing`.
    pub fn with_label_smoothing(mut self, label_smoothing: f64) -> Self {
        self.label_smoothing = label_smoothing;
        self
    }

    /// Sets `reduction`.
    pub fn with_reduction(mut self, reduction: Reduction) -> Self {
        self.reduction = reduction;
        self
    }
}

/// Options of [`nll`]: `torch.nn.NLLLoss(weight=None, ignore_index=-100, reduction='mean')`.
#[derive(Debug, Clone)]
pub struct NllOptions {
    /// Per-class weight `(C)`; `None` is 1 for every class.
    pub weight: Option<Tensor<1>>,
    /// Targets equal to this index count for nothing. Default -100.
    pub ignore_index: i64,
    /// `Mean` (default) divides by the summed weights of the non-ignored targets.
    pub reduction: Reduction,
}

impl Default for NllOptions {
    fn default() -> Self {
        Self { weight: None, ignore_index: IGNORE_INDEX, reduction: Reduction::Mean }
    }
}

impl NllOptions {
    /// Sets `weight`.
    pub fn with_weight(mut self, weight: Tensor<1>) -> Self {
        self.weight = Some(weight);
        self
    }

    /// Sets `ignore_index`.
    pub fn with_ignore_index(mut self, ignore_index: i64) -> Self {
        self.ignore_index = ignore_index;
        self
    }

    /// Sets `reduction`.
    pub fn with_reduction(mut self, reduction: Reduction) -> Self {
        self.reduction = reduction;
        self
    }
}

pub(crate) fn check_label_smoothing(label_smoothing: f64) -> Result<(), LossError> {
    if !(0.0..=1.0).contains(&label_smoothing) {
        return Err(LossError::LabelSmoothing(label_smoothing));
    }
    Ok(())
}

/// Checks an `(N, C, d1..dk)` input against an `(N, d1..dk)` index target; returns `C`.
pub(crate) fn check_index_target<const D: usize, const T: usize>(
    input: &[usize; D],
    target: &[usize; T],
) -> Result<usize, LossError> {
    const { assert!(D >= 2 && T + 1 == D, "class-index targets have one dimension less than the input (N, C, d1..dk)") };
    let expected: Vec<usize> = core::iter::once(input[0]).chain(input[2..].iter().copied()).collect();
    if target.as_slice() != expected.as_slice() {
        return Err(LossError::Shape(format!(
            "Expected target size {expected:?}, got {target:?} (input size {input:?})"
        )));
    }
    if input[1] == 0 {
        return Err(LossError::Shape(format!("the input {input:?} has no classes (C = 0)")));
    }
    Ok(input[1])
}

/// A per-class weight `(C)` laid out along dimension 1 of a rank-`D` tensor.
pub(crate) fn along_classes<const D: usize>(weight: Tensor<1>) -> Tensor<D> {
    let mut dims = [1usize; D];
    dims[1] = weight.dims()[0];
    weight.reshape(dims)
}

/// Whether `value` is representable in the integer dtype `dtype`.
fn fits_int_dtype(value: i64, dtype: burn::tensor::DType) -> bool {
    use burn::tensor::DType;
    match dtype {
        DType::I32 => i32::try_from(value).is_ok(),
        DType::I16 => i16::try_from(value).is_ok(),
        DType::I8 => i8::try_from(value).is_ok(),
        DType::U8 => u8::try_from(value).is_ok(),
        DType::U16 => u16::try_from(value).is_ok(),
        DType::U32 => u32::try_from(value).is_ok(),
        _ => true,
    }
}

/// What the class-index losses share: the picked log-probabilities and the target weights.
pub(crate) struct PickedTargets<const T: usize> {
    /// `lp[i, y_i]`, 0 where ignored.
    pub picked: Tensor<T>,
    /// `w[y_i]` (1 without weight), 0 where ignored.
    pub target_weight: Tensor<T>,
    /// Where the target is `ignore_index`.
    pub ignored: Tensor<T, Bool>,
}

/// Gathers `log_probs[i, y_i]` along dimension 1 and the matching class weights.
pub(crate) fn pick_targets<const D: usize, const T: usize>(
    log_probs: Tensor<D>,
    target: Tensor<T, Int>,
    weight: Option<Tensor<1>>,
    ignore_index: i64,
) -> PickedTargets<T> {
    let dtype = log_probs.dtype();
    let target_dims = target.dims();
    // Compared in the targets' own integer type, an ignore_index that type cannot hold
    // would fail the cast: such an index matches no target.
    let ignored = if fits_int_dtype(ignore_index, target.dtype()) {
        target.clone().equal_elem(ignore_index)
    } else {
        target.clone().equal_elem(0).bool_and(target.clone().not_equal_elem(0))
    };
    // An ignored index (-100 by default) cannot be gathered: any valid class stands in,
    // and its terms are zeroed below.
    let safe = target.mask_fill(ignored.clone(), 0);
    let picked = log_probs
        .gather(1, safe.clone().unsqueeze_dim::<D>(1))
        .squeeze_dim::<T>(1)
        .mask_fill(ignored.clone(), 0.0);
    let target_weight = match weight {
        Some(w) => {
            let n = target_dims.iter().product::<usize>();
            w.select(0, safe.reshape([n])).reshape(target_dims)
        }
        None => cast(ignored.clone().bool_not().float(), dtype),
    }
    .mask_fill(ignored.clone(), 0.0);
    PickedTargets { picked, target_weight, ignored }
}

/// Negative log likelihood of log-probabilities with class-index targets.
///
/// ```text
/// l_i = -w[y_i] * input[i, y_i]          (0 where y_i == ignore_index)
/// mean = sum_i l_i / sum_{i not ignored} w[y_i]
/// ```
/// as `torch.nn.functional.nll_loss(input, target, weight, ignore_index=..., reduction=...)`.
/// A mean over nothing (empty batch, every target ignored) is NaN; a sum over nothing is 0.
///
/// Shapes: `input` `(N, C)` or `(N, C, d1..dk)` (a single sample `(C)` is `(1, C)`),
/// `target` `(N)` or `(N, d1..dk)` of class indices in `[0, C)` or `ignore_index`.
/// Returns the target's shape under `None`, `[1; T]` otherwise.
pub fn nll<const D: usize, const T: usize>(
    input: Tensor<D>,
    target: Tensor<T, Int>,
    options: &NllOptions,
) -> Result<Tensor<T>, LossError> {
    let classes = check_index_target(&input.dims(), &target.dims())?;
    let targets = check_targets(&target, classes, options.ignore_index)?;
    let dtype = input.dtype();
    let weight = match &options.weight {
        Some(w) => Some(class_weight("weight", w, classes, dtype)?),
        None => None,
    };
    let fused = FusedRows { loss: RowLoss::Nll, ignore_index: options.ignore_index, reduction: options.reduction };
    if let Some(loss) = fused.index_targets(&input, &target.dims(), targets, weight.as_ref(), MeanOver::Weights) {
        return Ok(loss);
    }
    let picked = pick_targets(input, target, weight, options.ignore_index);
    let loss = picked.picked.mul(picked.target_weight.clone()).neg();
    let total = picked.target_weight.sum();
    Ok(reduce(loss, options.reduction, Denominator::Total(total)))
}

/// Cross entropy of logits with class-index targets, with `weight`, `ignore_index` and
/// `label_smoothing`.
///
/// ```text
/// lp = log_softmax(x, dim=1)
/// l_i = (1 - e) * (-w[y_i] lp[i, y_i]) + (e / C) * (-sum_c w_c lp[i, c])   (0 where ignored)
/// mean = sum_i l_i / sum_{i not ignored} w[y_i]
/// dl_i/dx[i, j] = (sum_c a_c) softmax[i, j] - a_j,  a = (1 - e) w[y_i] onehot(y_i) + (e / C) w
/// ```
/// as `torch.nn.functional.cross_entropy(input, target, weight, ignore_index=...,
/// reduction=..., label_smoothing=e)`: the smoothing term carries every class's weight and
/// shares the target-weight denominator, as PyTorch's does.
///
/// Shapes: `input` `(N, C)` or `(N, C, d1..dk)` (a single sample `(C)` is `(1, C)`),
/// `target` `(N)` or `(N, d1..dk)`. Returns the target's shape under `None`, `[1; T]`
/// otherwise. Errors on a class index outside `[0, C)` other than `ignore_index`, a target
/// shape that does not fit, a `weight` not of length `C`, `label_smoothing` outside `[0, 1]`.
pub fn cross_entropy<const D: usize, const T: usize>(
    input: Tensor<D>,
    target: Tensor<T, Int>,
    options: &CrossEntropyOptions,
) -> Result<Tensor<T>, LossError> {
    let classes = check_index_target(&input.dims(), &target.dims())?;
    check_label_smoothing(options.label_smoothing)?;
    let targets = check_targets(&target, classes, options.ignore_index)?;
    let dtype = input.dtype();
    let weight = match &options.weight {
        Some(w) => Some(class_weight("weight", w, classes, dtype)?),
        None => None,
    };
    let fused = FusedRows {
        loss: RowLoss::CrossEntropy { label_smoothing: options.label_smoothing },
        ignore_index: options.ignore_index,
        reduction: options.reduction,
    };
    if let Some(loss) = fused.index_targets(&input, &target.dims(), targets, weight.as_ref(), MeanOver::Weights) {
        return Ok(loss);
    }
    let log_probs = log_softmax(input, 1);
    let picked = pick_targets(log_probs.clone(), target, weight.clone(), options.ignore_index);
    let nll = picked.picked.mul(picked.target_weight.clone()).neg();
    let e = options.label_smoothing;
    let loss = if e > 0.0 {
        let weighted = match weight {
            Some(w) => log_probs.mul(along_classes::<D>(w)),
            None => log_probs,
        };
        let smooth = weighted
            .sum_dim(1)
            .squeeze_dim::<T>(1)
            .neg()
            .mask_fill(picked.ignored, 0.0);
        nll.mul_scalar(1.0 - e) + smooth.mul_scalar(e / classes as f64)
    } else {
        nll
    };
    let total = picked.target_weight.sum();
    Ok(reduce(loss, options.reduction, Denominator::Total(total)))
}

/// `(N, C, d1..dk)` laid out as `(N d1..dk, C)`: one row per position, its classes
/// contiguous, as the fused row kernels take them.
pub(crate) fn class_rows<const D: usize>(input: Tensor<D>) -> Tensor<2> {
    let dims = input.dims();
    let classes = dims[1];
    let rows = dims.iter().product::<usize>() / classes.max(1);
    if D == 2 { input.reshape([rows, classes]) } else { input.movedim(1, D - 1).reshape([rows, classes]) }
}

/// What the mean of a fused class-index loss divides by.
pub(crate) enum MeanOver {
    /// The summed class weights of the targets that are not ignored (CE, NLL).
    Weights,
    /// The number of targets that are not ignored (softmax focal loss).
    Count,
}

/// A fused row loss and how its rows are reduced.
pub(crate) struct FusedRows {
    pub loss: RowLoss,
    pub ignore_index: i64,
    pub reduction: Reduction,
}

impl FusedRows {
    /// The fused-kernel path of a class-index loss: the input laid out as `(rows, C)`, one
    /// pass per row for loss and gradient. `None` off flex, and for a mean over nothing
    /// (NaN with a zero gradient), which the composed path has exactly.
    pub(crate) fn index_targets<const D: usize, const T: usize>(
        &self,
        input: &Tensor<D>,
        target_dims: &[usize; T],
        targets: Vec<i64>,
        weight: Option<&Tensor<1>>,
        mean_over: MeanOver,
    ) -> Option<Tensor<T>> {
        let weight = weight.map(values);
        let counted = targets.iter().filter(|&&t| t != self.ignore_index);
        let total: f64 = match mean_over {
            MeanOver::Weights => counted.map(|&t| weight.as_ref().map_or(1.0, |w| w[t as usize])).sum(),
            MeanOver::Count => counted.count() as f64,
        };
        let reduce_scale = self.reduce_scale(total)?;
        let options = RowLosses { loss: self.loss, targets, weight, ignore_index: self.ignore_index, reduce_scale };
        let loss = kernel::row_losses(&class_rows(input.clone()), None, options)?;
        Some(match reduce_scale {
            Some(_) => loss.reshape([1; T]),
            None => loss.reshape(*target_dims),
        })
    }

    /// The factor of the summed row losses (`None` unreduced), or `None` inside for a
    /// mean over nothing.
    fn reduce_scale(&self, total: f64) -> Option<Option<f64>> {
        match self.reduction {
            Reduction::None => Some(None),
            Reduction::Sum => Some(Some(1.0)),
            Reduction::Mean if total > 0.0 => Some(Some(1.0 / total)),
            Reduction::Mean => None,
        }
    }
}

/// Cross entropy of logits with class-probability targets (soft labels).
///
/// ```text
/// t' = (1 - e) t + e / C
/// l = -sum_c w_c t'_c log_softmax(x)_c      (over dimension 1, kept with size 1)
/// mean = sum l / (N d1 .. dk)                (never divided by the weights)
/// ```
/// as `torch.nn.functional.cross_entropy(input, target, weight, reduction=...,
/// label_smoothing=e)` with a floating-point target of the input's shape.
///
/// Shapes: `input` and `target` `(N, C)` or `(N, C, d1..dk)`. Returns `(N, 1, d1..dk)`
/// under `None` (dimension 1 kept, as burn's `sum_dim`), `[1; D]` otherwise. Errors when
/// the shapes differ, `ignore_index` is not negative, `weight` is not of length `C`, or
/// `label_smoothing` is outside `[0, 1]`.
pub fn cross_entropy_with_probs<const D: usize>(
    input: Tensor<D>,
    target: Tensor<D>,
    options: &CrossEntropyOptions,
) -> Result<Tensor<D>, LossError> {
    const { assert!(D >= 2, "the input is (N, C) or (N, C, d1..dk)") };
    let dims = input.dims();
    check_same_shape(&dims, &target.dims())?;
    check_label_smoothing(options.label_smoothing)?;
    if options.ignore_index >= 0 {
        return Err(LossError::IgnoreIndexWithProbabilities(options.ignore_index));
    }
    let classes = dims[1];
    let dtype = input.dtype();
    let e = options.label_smoothing;
    let mut target = cast(target, dtype);
    let weight = match &options.weight {
        Some(w) => Some(class_weight("weight", w, classes, dtype)?),
        None => None,
    };
    let fused = FusedRows { loss: RowLoss::Probabilities { label_smoothing: e }, ignore_index: -1, reduction: options.reduction };
    let positions = dims.iter().product::<usize>() / classes.max(1);
    if let Some(reduce_scale) = fused.reduce_scale(positions as f64).filter(|_| classes > 0) {
        let rows = RowLosses { loss: fused.loss, targets: Vec::new(), weight: weight.as_ref().map(values), ignore_index: -1, reduce_scale };
        if let Some(loss) = kernel::row_losses(&class_rows(input.clone()), Some(class_rows(target.clone())), rows) {
            let mut kept = dims;
            kept[1] = 1;
            return Ok(if reduce_scale.is_some() { loss.reshape([1; D]) } else { loss.reshape(kept) });
        }
    }
    if e > 0.0 {
        target = target.mul_scalar(1.0 - e).add_scalar(e / classes as f64);
    }
    if let Some(w) = weight {
        target = target.mul(along_classes::<D>(w));
    }
    let loss = log_softmax(input, 1).mul(target).sum_dim(1).neg();
    Ok(reduce(loss, options.reduction, Denominator::Numel))
}

/// A per-class weight as a rank-1 tensor on `device`.
pub(crate) fn weight_tensor(weight: &[f64], device: &Device) -> Tensor<1> {
    Tensor::from_data(TensorData::new(weight.to_vec(), [weight.len()]), (device, DType::F64))
}

/// Configuration of [`CrossEntropyLoss`], as
/// `torch.nn.CrossEntropyLoss(weight=None, ignore_index=-100, reduction='mean', label_smoothing=0.0)`.
#[derive(Debug, Clone, PartialEq)]
pub struct CrossEntropyLossConfig {
    /// Per-class weight; `None` is 1.
    pub weight: Option<Vec<f64>>,
    /// Ignored class index, -100 by default.
    pub ignore_index: i64,
    /// Label smoothing in `[0, 1]`, 0 by default.
    pub label_smoothing: f64,
    /// Reduction, `Mean` by default.
    pub reduction: Reduction,
}

impl Default for CrossEntropyLossConfig {
    fn default() -> Self {
        Self { weight: None, ignore_index: IGNORE_INDEX, label_smoothing: 0.0, reduction: Reduction::Mean }
    }
}

impl CrossEntropyLossConfig {
    /// PyTorch's defaults.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the per-class `weight`.
    pub fn with_weight(mut self, weight: Vec<f64>) -> Self {
        self.weight = Some(weight);
        self
    }

    /// Sets `ignore_index`.
    pub fn with_ignore_index(mut self, ignore_index: i64) -> Self {
        self.ignore_index = ignore_index;
        self
    }

    /// Sets `label_smoothing`.
    pub fn with_label_smoothing(mut self, label_smoothing: f64) -> Self {
        self.label_smoothing = label_smoothing;
        self
    }

    /// Sets `reduction`.
    pub fn with_reduction(mut self, reduction: Reduction) -> Self {
        self.reduction = reduction;
        self
    }

    /// Checks the options and builds the loss with its weight on `device`.
    pub fn init(&self, device: &Device) -> Result<CrossEntropyLoss, LossError> {
        check_label_smoothing(self.label_smoothing)?;
        Ok(CrossEntropyLoss {
            options: CrossEntropyOptions {
                weight: self.weight.as_deref().map(|w| weight_tensor(w, device)),
                ignore_index: self.ignore_index,
                label_smoothing: self.label_smoothing,
                reduction: self.reduction,
            },
        })
    }
}

/// `torch.nn.CrossEntropyLoss` as a module: see [`cross_entropy`] and [`cross_entropy_with_probs`].
#[derive(Debug, Clone)]
pub struct CrossEntropyLoss {
    /// The options every call uses.
    pub options: CrossEntropyOptions,
}

impl CrossEntropyLoss {
    /// The loss of logits `(N, C, ..)` against class indices `(N, ..)`: see [`cross_entropy`].
    pub fn forward<const D: usize, const T: usize>(
        &self,
        input: Tensor<D>,
        target: Tensor<T, Int>,
    ) -> Result<Tensor<T>, LossError> {
        cross_entropy(input, target, &self.options)
    }

    /// The loss of logits against class probabilities of the same shape: see
    /// [`cross_entropy_with_probs`].
    pub fn forward_probs<const D: usize>(
        &self,
        input: Tensor<D>,
        target: Tensor<D>,
    ) -> Result<Tensor<D>, LossError> {
        cross_entropy_with_probs(input, target, &self.options)
    }
}

/// Configuration of [`NllLoss`], as `torch.nn.NLLLoss(weight=None, ignore_index=-100, reduction='mean')`.
#[derive(Debug, Clone, PartialEq)]
pub struct NllLossConfig {
    /// Per-class weight; `None` is 1.
    pub weight: Option<Vec<f64>>,
    /// Ignored class index, -100 by default.
    pub ignore_index: i64,
    /// Reduction, `Mean` by default.
    pub reduction: Reduction,
}

impl Default for NllLossConfig {
    fn default() -> Self {
        Self { weight: None, ignore_index: IGNORE_INDEX, reduction: Reduction::Mean }
    }
}

impl NllLossConfig {
    /// PyTorch's defaults.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the per-class `weight`.
    pub fn with_weight(mut self, weight: Vec<f64>) -> Self {
        self.weight = Some(weight);
        self
    }

    /// Sets `ignore_index`.
    pub fn with_ignore_index(mut self, ignore_index: i64) -> Self {
        self.ignore_index = ignore_index;
        self
    }

    /// Sets `reduction`.
    pub fn with_reduction(mut self, reduction: Reduction) -> Self {
        self.reduction = reduction;
        self
    }

    /// Builds the loss with its weight on `device`.
    pub fn init(&self, device: &Device) -> Result<NllLoss, LossError> {
        Ok(NllLoss {
            options: NllOptions {
                weight: self.weight.as_deref().map(|w| weight_tensor(w, device)),
                ignore_index: self.ignore_index,
                reduction: self.reduction,
            },
        })
    }
}

/// `torch.nn.NLLLoss` as a module: see [`nll`].
#[derive(Debug, Clone)]
pub struct NllLoss {
    /// The options every call uses.
    pub options: NllOptions,
}

impl NllLoss {
    /// The loss of log-probabilities `(N, C, ..)` against class indices `(N, ..)`: see [`nll`].
    pub fn forward<const D: usize, const T: usize>(
        &self,
        input: Tensor<D>,
        target: Tensor<T, Int>,
    ) -> Result<Tensor<T>, LossError> {
        nll(input, target, &self.options)
    }
}
