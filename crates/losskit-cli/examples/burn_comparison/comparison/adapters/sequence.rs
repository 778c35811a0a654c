//! The sequence losses: `CTCLoss` (log-probabilities (T, N, C), padded targets (N, S))
//! and `RNNTLoss` (logits (N, T, U+1, V), targets (N, U)).

use burn::nn::loss::{CTCLossConfig, RNNTLossConfig, Reduction};

use super::super::call::{BurnCall, BurnOutput, GradientView, Inexpressible, MissingOptions, TorchReduction};

/// burn's `forward_with_reduction` takes mean and sum; `forward` is `"none"`.
fn reduced(call: &BurnCall) -> Result<Option<Reduction>, Inexpressible> {
    match call.reduction()? {
        TorchReduction::None => Ok(None),
        TorchReduction::Mean => Ok(Some(Reduction::Mean)),
        TorchReduction::Sum => Ok(Some(Reduction::Sum)),
        other => Err(Inexpressible::NotPyTorch(format!(
            "{} for {}",
            other.option_name(),
            call.case.op
        ))),
    }
}

/// The length of a 1-D `field` (input_lengths, target_lengths), which burn needs.
fn length_count(call: &BurnCall, field: &str, missing: &mut MissingOptions) -> Result<usize, Inexpressible> {
    let shape = call.shape(field)?;
    missing.require(shape.len() == 1, format!("{field} of rank {}", shape.len()));
    Ok(shape.first().copied().unwrap_or(0))
}

pub fn ctc(call: &mut BurnCall) -> Result<BurnOutput, Inexpressible> {
    let reduction = reduced(call)?;
    let input = call.shape("input")?;
    let target = call.shape("target")?;
    let mut missing = MissingOptions::default();
    missing.require(input.len() == 3, "unbatched input (T, C)");
    missing.require(target.len() == 2 || input.len() != 3, "concatenated 1-D targets");
    let blank = call.number("blank", 0.0)?;
    missing.require(blank >= 0.0, "negative blank (burn's is usize)");
    let input_lengths = length_count(call, "input_lengths", &mut missing)?;
    let target_lengths = length_count(call, "target_lengths", &mut missing)?;
    missing.check()?;
    let loss = CTCLossConfig::new()
        .with_blank(blank as usize)
        .with_zero_infinity(call.boolean("zero_infinity", false)?)
        .init();
    let log_probs = call.leaf("input", [input[0], input[1], input[2]])?;
    let values = call.tensor("input")?.values.clone();
    call.view_last_leaf(GradientView::ThroughLogSoftmax {
        log_probs: values,
        classes: input[2],
    });
    let targets = call.indices("target", [target[0], target[1]])?;
    let input_lengths = call.indices("input_lengths", [input_lengths])?;
    let target_lengths = call.indices("target_lengths", [target_lengths])?;
    Ok(match reduction {
        None => call.output(loss.forward(log_probs, targets, input_lengths, target_lengths)),
        Some(r) => call.output(loss.forward_with_reduction(log_probs, targets, input_lengths, target_lengths, r)),
    })
}

pub fn rnnt(call: &mut BurnCall) -> Result<BurnOutput, Inexpressible> {
    let reduction = reduced(call)?;
    let logits = call.shape("input")?;
    let target = call.shape("target")?;
    let mut missing = MissingOptions::default();
    missing.require(logits.len() == 4, format!("logits of rank {}", logits.len()));
    missing.require(target.len() == 2, format!("targets of rank {}", target.len()));
    // torchaudio counts a negative blank from the end (its default is -1, the last class).
    let vocabulary = logits.last().copied().unwrap_or(0) as f64;
    let blank = call.number("blank", -1.0)?;
    let blank = if blank < 0.0 { vocabulary + blank } else { blank };
    missing.require(blank >= 0.0, "blank below -V");
    missing.require(call.number("clamp", -1.0)? <= 0.0, "clamp");
    let logit_lengths = length_count(call, "input_lengths", &mut missing)?;
    let target_lengths = length_count(call, "target_lengths", &mut missing)?;
    missing.check()?;
    let loss = RNNTLossConfig::new()
        .with_blank(blank as usize)
        .with_logits(call.boolean("fused_log_softmax", true)?)
        .init();
    let logits = call.leaf("input", [logits[0], logits[1], logits[2], logits[3]])?;
    let targets = call.indices("target", [target[0], target[1]])?;
    let logit_lengths = call.indices("input_lengths", [logit_lengths])?;
    let target_lengths = call.indices("target_lengths", [target_lengths])?;
    Ok(match reduction {
        None => call.output(loss.forward(logits, targets, logit_lengths, target_lengths)),
        Some(r) => call.output(loss.forward_with_reduction(logits, targets, logit_lengths, target_lengths, r)),
    })
}
