//! The classification losses: `BinaryCrossEntropyLoss` (PyTorch's `bce` and, with
//! `logits: true`, `bce_with_logits`) and `CrossEntropyLoss`. Both return the mean only.

use burn::nn::loss::{BinaryCrossEntropyLossConfig, CrossEntropyLossConfig};

use super::super::call::{BurnCall, BurnOutput, Inexpressible, MissingOptions, TorchReduction, at_rank, padded};

/// PyTorch's default `ignore_index`.
const IGNORE_INDEX: f64 = -100.0;

pub fn bce(call: &mut BurnCall) -> Result<BurnOutput, Inexpressible> {
    binary_cross_entropy(call, false)
}

pub fn bce_with_logits(call: &mut BurnCall) -> Result<BurnOutput, Inexpressible> {
    binary_cross_entropy(call, true)
}

fn binary_cross_entropy(call: &mut BurnCall, logits: bool) -> Result<BurnOutput, Inexpressible> {
    let reduction = call.reduction()?;
    let input = call.shape("input")?;
    let mut missing = MissingOptions::default();
    missing.require(reduction == TorchReduction::Mean, reduction.option_name());
    let hard = call.tensor("target")?.values.iter().all(|&t| t == 0.0 || t == 1.0);
    missing.require(hard, "probability targets (burn's targets are Int)");
    missing.require(call.option("pos_weight").is_none(), "pos_weight");
    let weights = call.tensor_option("weight")?;
    if let Some(weight) = &weights {
        if weight.shape.len() != 1 {
            missing.require(
                false,
                format!(
                    "weight of shape {:?} (burn's is per class, on the last dim)",
                    weight.shape
                ),
            );
        } else {
            missing.require(
                input.len() > 1,
                "weight on a 1-D input (burn indexes 1-D weights by the target class)",
            );
        }
    }
    missing.check()?;
    // burn keeps the weights in f32.
    let weights = weights.map(|w| w.values.iter().map(|&v| v as f32).collect::<Vec<_>>());
    at_rank!(input.len().max(1), binary_cross_entropy_at(call, logits, weights))
}

fn binary_cross_entropy_at<const D: usize>(
    call: &mut BurnCall,
    logits: bool,
    weights: Option<Vec<f32>>,
) -> Result<BurnOutput, Inexpressible> {
    let loss = BinaryCrossEntropyLossConfig::new()
        .with_logits(logits)
        .with_weights(weights)
        .init(call.device());
    let input = call.leaf("input", padded::<D>(&call.shape("input")?))?;
    let target = call.indices("target", padded::<D>(&call.shape("target")?))?;
    Ok(call.output(loss.forward(input, target)))
}

pub fn cross_entropy(call: &mut BurnCall) -> Result<BurnOutput, Inexpressible> {
    let beyond = call.option("softcap").is_some() || call.number("z_loss", 0.0)? != 0.0;
    if beyond {
        return Err(Inexpressible::NotPyTorch("softcap / z_loss are beyond PyTorch".into()));
    }
    let reduction = call.reduction()?;
    let input = call.shape("input")?;
    let target = call.tensor("target")?;
    let mut missing = MissingOptions::default();
    missing.require(reduction == TorchReduction::Mean, reduction.option_name());
    missing.require(target.integer, "probability targets");
    missing.require(input.len() != 1, "unbatched input (C)");
    missing.require(input.len() < 3, "K-dim input (N, C, d1, ...)");
    let batched_indices = !target.integer || input.len() != 2 || target.shape.len() == 1;
    missing.require(
        batched_indices,
        format!("target of rank {} for (N, C) logits", target.shape.len()),
    );
    let ignore_index = call.number("ignore_index", IGNORE_INDEX)?;
    let ignores_some = target.values.contains(&ignore_index);
    missing.require(
        ignore_index >= 0.0 || !ignores_some,
        "negative ignore_index (burn's pad_tokens are usize)",
    );
    let weights = call.tensor_option("weight")?;
    missing.check()?;
    // An ignore_index that no target holds changes nothing; one that is a class is a pad token.
    let pad_tokens = (ignore_index >= 0.0).then(|| vec![ignore_index as usize]);
    let weights = weights.map(|w| w.values.iter().map(|&v| v as f32).collect::<Vec<_>>());
    let smoothing = call.number("label_smoothing", 0.0)?;
    let loss = CrossEntropyLossConfig::new()
        .with_pad_tokens(pad_tokens)
        .with_weights(weights)
        .with_smoothing((smoothing != 0.0).then_some(smoothing as f32))
        .init(call.device());
    let logits = call.leaf("input", [input[0], input[1]])?;
    let targets = call.indices("target", [target.shape[0]])?;
    Ok(call.output(loss.forward(logits, targets)))
}
