//! The embedding losses over (N, D) rows: `CosineEmbeddingLoss` and `TripletMarginLoss`.

use burn::nn::loss::{CosineEmbeddingLossConfig, Reduction, TripletMarginLossConfig};

use super::super::call::{BurnCall, BurnOutput, Inexpressible, MissingOptions, TorchReduction};

/// PyTorch's `eps` of `triplet_margin_loss`.
const TRIPLET_EPS: f64 = 1e-6;

/// The (N, D) shape of `field`, or that burn takes only batched rows.
fn rows(call: &BurnCall, field: &str, missing: &mut MissingOptions) -> Result<[usize; 2], Inexpressible> {
    let shape = call.shape(field)?;
    missing.require(
        shape.len() == 2,
        format!("{field} of rank {} (burn takes (N, D))", shape.len()),
    );
    Ok(match shape[..] {
        [n, d] => [n, d],
        _ => [0, 0],
    })
}

fn reduced(reduction: TorchReduction, missing: &mut MissingOptions) -> Option<Reduction> {
    match reduction {
        TorchReduction::Mean => Some(Reduction::Mean),
        TorchReduction::Sum => Some(Reduction::Sum),
        TorchReduction::None => None,
        TorchReduction::BatchMean => {
            missing.require(false, reduction.option_name());
            None
        }
    }
}

pub fn cosine_embedding(call: &mut BurnCall) -> Result<BurnOutput, Inexpressible> {
    let mut missing = MissingOptions::default();
    let reduction = reduced(call.reduction()?, &mut missing);
    let first = rows(call, "input", &mut missing)?;
    let second = rows(call, "input2", &mut missing)?;
    let target = call.shape("target")?;
    missing.require(target.len() == 1, format!("target of rank {}", target.len()));
    missing.check()?;
    // burn keeps the margin in f32 and the reduction in the configuration.
    let config = CosineEmbeddingLossConfig::new().with_margin(call.number("margin", 0.0)? as f32);
    let loss = config
        .with_reduction(reduction.clone().unwrap_or(Reduction::Mean))
        .init();
    let input1 = call.leaf("input", first)?;
    let input2 = call.leaf("input2", second)?;
    let target = call.indices("target", [target[0]])?;
    Ok(match reduction {
        None => call.output(loss.forward_no_reduction(input1, input2, target)),
        Some(_) => call.output(loss.forward(input1, input2, target)),
    })
}

pub fn triplet_margin(call: &mut BurnCall) -> Result<BurnOutput, Inexpressible> {
    let mut missing = MissingOptions::default();
    let reduction = reduced(call.reduction()?, &mut missing);
    let anchor = rows(call, "input", &mut missing)?;
    let positive = rows(call, "positive", &mut missing)?;
    let negative = rows(call, "negative", &mut missing)?;
    // burn has neither: its distance is ||a - b||_p (eps 0) and it never swaps. At
    // PyTorch's default eps the case runs, so that the table shows what the default costs.
    let eps = call.number("eps", TRIPLET_EPS)?;
    missing.require(eps == TRIPLET_EPS || eps == 0.0, format!("eps = {eps}"));
    missing.require(!call.boolean("swap", false)?, "swap");
    missing.check()?;
    let loss = TripletMarginLossConfig::new()
        .with_margin(call.number("margin", 1.0)?)
        .with_p(call.number("p", 2.0)?)
        .init();
    let anchor = call.leaf("input", anchor)?;
    let positive = call.leaf("positive", positive)?;
    let negative = call.leaf("negative", negative)?;
    Ok(match reduction {
        None => call.output(loss.forward_no_reduction(anchor, positive, negative)),
        Some(r) => call.output(loss.forward(anchor, positive, negative, r)),
    })
}
