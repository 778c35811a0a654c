//! The burn losses set against PyTorch's: one adapter per fixture op that burn 0.22.1 has,
//! which decides whether burn can express the case and, if it can, builds burn's loss
//! and tensors and runs the forward pass. A file per loss family.

mod classification;
mod embedding;
mod margin;
mod pointwise;
mod sequence;

use super::call::{BurnCall, BurnOutput, Inexpressible};

/// Puts one case to burn.
pub type Adapter = fn(&mut BurnCall) -> Result<BurnOutput, Inexpressible>;

/// One row of the table: a burn loss and the PyTorch loss of the fixture op it stands for.
#[derive(Debug)]
pub struct BurnLoss {
    pub burn: &'static str,
    pub pytorch: &'static str,
    /// The fixture op (`docs/eval-protocol.md`).
    pub op: &'static str,
    pub adapter: Adapter,
    /// What the counts do not say: how the cases were put to burn.
    pub note: &'static str,
}

/// Every loss of burn 0.22.1 with a PyTorch counterpart among the fixture ops, in the
/// table's order. (burn has no NLL: its `CrossEntropyLoss { logits: false }` takes
/// probabilities, not log-probabilities.)
pub const BURN_LOSSES: [BurnLoss; 18] = [
    BurnLoss {
        burn: "BinaryCrossEntropyLoss",
        pytorch: "F.binary_cross_entropy",
        op: "bce",
        adapter: classification::bce,
        note: "mean only; Int targets",
    },
    BurnLoss {
        burn: "BinaryCrossEntropyLoss { logits: true }",
        pytorch: "F.binary_cross_entropy_with_logits",
        op: "bce_with_logits",
        adapter: classification::bce_with_logits,
        note: "mean only; Int targets; no pos_weight",
    },
    BurnLoss {
        burn: "CrossEntropyLoss",
        pytorch: "F.cross_entropy",
        op: "cross_entropy",
        adapter: classification::cross_entropy,
        note: "mean only; (N, C) logits and class indices only; ignore_index as pad_tokens",
    },
    BurnLoss {
        burn: "KLDivLoss",
        pytorch: "F.kl_div",
        op: "kl_div",
        adapter: pointwise::kl_div,
        note: "every reduction",
    },
    BurnLoss {
        burn: "LpLoss (p = 1)",
        pytorch: "F.l1_loss",
        op: "l1",
        adapter: pointwise::l1,
        note: "",
    },
    BurnLoss {
        burn: "MseLoss",
        pytorch: "F.mse_loss",
        op: "mse",
        adapter: pointwise::mse,
        note: "",
    },
    BurnLoss {
        burn: "SmoothL1Loss",
        pytorch: "F.smooth_l1_loss",
        op: "smooth_l1",
        adapter: pointwise::smooth_l1,
        note: "beta in f32",
    },
    BurnLoss {
        burn: "HuberLoss",
        pytorch: "F.huber_loss",
        op: "huber",
        adapter: pointwise::huber,
        note: "delta in f32",
    },
    BurnLoss {
        burn: "SoftMarginLoss",
        pytorch: "F.soft_margin_loss",
        op: "soft_margin",
        adapter: pointwise::soft_margin,
        note: "",
    },
    BurnLoss {
        burn: "PoissonNllLoss",
        pytorch: "F.poisson_nll_loss",
        op: "poisson_nll",
        adapter: pointwise::poisson_nll,
        note: "",
    },
    BurnLoss {
        burn: "GaussianNLLLoss",
        pytorch: "F.gaussian_nll_loss",
        op: "gaussian_nll",
        adapter: margin::gaussian_nll,
        note: "a var with one dimension fewer is unsqueezed for burn, as PyTorch does",
    },
    BurnLoss {
        burn: "HingeEmbeddingLoss",
        pytorch: "F.hinge_embedding_loss",
        op: "hinge_embedding",
        adapter: pointwise::hinge_embedding,
        note: "",
    },
    BurnLoss {
        burn: "MarginRankingLoss",
        pytorch: "F.margin_ranking_loss",
        op: "margin_ranking",
        adapter: margin::margin_ranking,
        note: "",
    },
    BurnLoss {
        burn: "MultiMarginLoss",
        pytorch: "F.multi_margin_loss",
        op: "multi_margin",
        adapter: margin::multi_margin,
        note: "(N, C) only",
    },
    BurnLoss {
        burn: "CosineEmbeddingLoss",
        pytorch: "F.cosine_embedding_loss",
        op: "cosine_embedding",
        adapter: embedding::cosine_embedding,
        note: "(N, D) only; margin in f32",
    },
    BurnLoss {
        burn: "TripletMarginLoss",
        pytorch: "F.triplet_margin_loss",
        op: "triplet_margin",
        adapter: embedding::triplet_margin,
        note: "(N, D) only; no eps (PyTorch's default 1e-6 is run as is), no swap",
    },
    BurnLoss {
        burn: "CTCLoss",
        pytorch: "F.ctc_loss",
        op: "ctc",
        adapter: sequence::ctc,
        note: "gradients compared through a log_softmax (PyTorch's grad_input presumes one)",
    },
    BurnLoss {
        burn: "RNNTLoss",
        pytorch: "torchaudio.functional.rnnt_loss",
        op: "rnnt",
        adapter: sequence::rnnt,
        note: "torchaudio's negative blank counted from the end for burn",
    },
];

/// The row of a fixture op, if burn has that loss.
pub fn for_op(op: &str) -> Option<&'static BurnLoss> {
    BURN_LOSSES.iter().find(|loss| loss.op == op)
}
