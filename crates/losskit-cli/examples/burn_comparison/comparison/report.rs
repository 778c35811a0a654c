//! The verdicts tallied per burn loss, and the Markdown table a burn user reads.

use std::collections::BTreeMap;
use std::fmt::Write;

use super::JudgedCase;
use super::adapters::{BURN_LOSSES, BurnLoss};
use super::findings::{CheckedFinding, render as render_findings};
use super::verdict::{Discrepancy, DiscrepancyKind, Verdict};

/// The case where a difference was largest.
#[derive(Debug, Clone)]
pub struct WorstCase {
    pub case_id: String,
    pub discrepancy: Discrepancy,
}

/// How the cases of one burn loss came out.
#[derive(Debug, Clone, Default)]
pub struct LossTally {
    /// Agreeing answers and requests both refuse.
    pub agree: usize,
    pub both_refuse: usize,
    pub value_differs: usize,
    pub gradient_differs: usize,
    pub option_missing: usize,
    pub panics: usize,
    pub accepts_refused: usize,
    pub not_applicable: usize,
    pub worst_value: Option<WorstCase>,
    pub worst_gradient: Option<WorstCase>,
    /// Each missing option, with how many cases needed it.
    pub missing_options: BTreeMap<String, usize>,
    /// Each panic message on a valid request, with the cases that raised it.
    pub panic_messages: BTreeMap<String, Vec<String>>,
    /// The requests PyTorch refuses and burn answers.
    pub accepted_refusals: Vec<String>,
}

impl LossTally {
    /// Every case counted (the not-applicable ones are not).
    pub fn cases(&self) -> usize {
        self.agree
            + self.value_differs
            + self.gradient_differs
            + self.option_missing
            + self.panics
            + self.accepts_refused
    }

    fn add(&mut self, case_id: &str, verdict: &Verdict) {
        match verdict {
            Verdict::Agree => self.agree += 1,
            Verdict::BothRefuse { .. } => {
                self.agree += 1;
                self.both_refuse += 1;
            }
            Verdict::ValueDiffers(d) => {
                self.value_differs += 1;
                keep_worst(&mut self.worst_value, case_id, d);
            }
            Verdict::GradientDiffers(d) => {
                self.gradient_differs += 1;
                keep_worst(&mut self.worst_gradient, case_id, d);
            }
            Verdict::OptionMissing(options) => {
                self.option_missing += 1;
                for option in options {
                    *self.missing_options.entry(option.clone()).or_default() += 1;
                }
            }
            Verdict::Panics { message } => {
                self.panics += 1;
                self.panic_messages
                    .entry(message.clone())
                    .or_default()
                    .push(case_id.to_string());
            }
            Verdict::AcceptsRefused => {
                self.accepts_refused += 1;
                self.accepted_refusals.push(case_id.to_string());
            }
            Verdict::NotApplicable { .. } => self.not_applicable += 1,
        }
    }
}

fn keep_worst(worst: &mut Option<WorstCase>, case_id: &str, discrepancy: &Discrepancy) {
    let larger = worst
        .as_ref()
        .is_none_or(|w| discrepancy.relative_error() > w.discrepancy.relative_error());
    if larger {
        *worst = Some(WorstCase {
            case_id: case_id.to_string(),
            discrepancy: discrepancy.clone(),
        });
    }
}

/// One row of the table.
#[derive(Debug, Clone)]
pub struct LossRow {
    pub loss: &'static BurnLoss,
    pub tally: LossTally,
}

/// The verdicts per burn loss, in the table's order (every loss, cases or not).
pub fn tally(judged: &[JudgedCase]) -> Vec<LossRow> {
    BURN_LOSSES
        .iter()
        .map(|loss| {
            let mut tally = LossTally::default();
            for judged in judged.iter().filter(|j| j.case.op == loss.op) {
                tally.add(&judged.case.id, &judged.verdict);
            }
            LossRow { loss, tally }
        })
        .collect()
}

/// How large a difference is, in a few characters.
fn size(discrepancy: &Discrepancy) -> String {
    match discrepancy.kind {
        DiscrepancyKind::Count { expected, got } => format!("{got} values for {expected}"),
        DiscrepancyKind::Element { expected, got, .. } => {
            let error = discrepancy.relative_error();
            if error.is_finite() {
                format!("{error:.1e}")
            } else {
                format!("{got:.3e} for {expected:.3e}")
            }
        }
    }
}

fn worst_cell(tally: &LossTally) -> String {
    let parts = [("value", &tally.worst_value), ("gradient", &tally.worst_gradient)];
    let cells: Vec<String> = parts
        .iter()
        .filter_map(|(what, worst)| {
            worst
                .as_ref()
                .map(|w| format!("{what} {} (`{}`)", size(&w.discrepancy), w.case_id))
        })
        .collect();
    if cells.is_empty() { "-".into() } else { cells.join("; ") }
}

/// The table: one row per burn loss.
pub fn table(rows: &[LossRow]) -> String {
    let mut out = String::new();
    out.push_str(
        "| burn 0.22.1 | PyTorch | cases | agree | value differs | gradient differs | option missing | panics | accepts what PyTorch refuses | worst difference (rel.) | notes |\n",
    );
    out.push_str("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |\n");
    for LossRow { loss, tally } in rows {
        let _ = writeln!(
            out,
            "| `{}` | `{}` | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            loss.burn,
            loss.pytorch,
            tally.cases(),
            tally.agree,
            tally.value_differs,
            tally.gradient_differs,
            tally.option_missing,
            tally.panics,
            tally.accepts_refused,
            worst_cell(tally),
            loss.note,
        );
    }
    out
}

/// Per loss, what the counts stand for: the options missing, the panics, the refusals
/// burn answers, the worst differences in full.
pub fn details(rows: &[LossRow]) -> String {
    let mut out = String::new();
    for LossRow { loss, tally } in rows {
        let mut lines = Vec::new();
        if !tally.missing_options.is_empty() {
            let options: Vec<String> = tally
                .missing_options
                .iter()
                .map(|(o, n)| format!("{o} ({n})"))
                .collect();
            lines.push(format!("missing: {}", options.join(", ")));
        }
        for (message, ids) in &tally.panic_messages {
            lines.push(format!("panics with \"{message}\" on {}", id_list(ids)));
        }
        if !tally.accepted_refusals.is_empty() {
            lines.push(format!(
                "returns numbers where PyTorch raises: {}",
                id_list(&tally.accepted_refusals)
            ));
        }
        for (what, worst) in [("value", &tally.worst_value), ("gradient", &tally.worst_gradient)] {
            if let Some(w) = worst {
                lines.push(format!("worst {what}: `{}`: {}", w.case_id, w.discrepancy));
            }
        }
        if tally.both_refuse > 0 {
            lines.push(format!(
                "{} of the agreeing cases are refusals (burn panics where PyTorch raises)",
                tally.both_refuse
            ));
        }
        if tally.not_applicable > 0 {
            lines.push(format!(
                "{} cases not counted (protocol-only errors, options beyond PyTorch, invalid requests burn's types cannot express)",
                tally.not_applicable
            ));
        }
        if !lines.is_empty() {
            let _ = writeln!(out, "- `{}`:", loss.burn);
            for line in lines {
                let _ = writeln!(out, "  - {line}");
            }
        }
    }
    out
}

fn id_list(ids: &[String]) -> String {
    ids.iter().map(|id| format!("`{id}`")).collect::<Vec<_>>().join(", ")
}

/// The whole document: the table, the details, the findings.
pub fn document(rows: &[LossRow], findings: &[CheckedFinding]) -> String {
    let counted: usize = rows.iter().map(|r| r.tally.cases()).sum();
    let agreeing: usize = rows.iter().map(|r| r.tally.agree).sum();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{counted} golden cases put to burn 0.22.1 (flex backend, autodiff), {agreeing} agree with PyTorch.\n"
    );
    out.push_str(&table(rows));
    out.push_str("\n### Details\n\n");
    out.push_str(&details(rows));
    out.push_str("\n### Findings worth reporting upstream\n\n");
    out.push_str(&render_findings(findings));
    out
}
