//! The "Beyond PyTorch" ops of the catalogue (`cross_entropy` with `softcap` / `z_loss`,
//! `linear_cross_entropy`) against `tools/golden/catalogue.py`'s f64 autograd numbers, on
//! the fused CPU path and on the composed one, every output and gradient.

mod common;

/// The catalogue's cases of the group `beyond`, one JSON line each.
fn beyond(text: &str) -> String {
    text.lines()
        .filter(|line| {
            let case: serde_json::Value = serde_json::from_str(line).expect("a case is JSON");
            let op = case["request"]["op"].as_str().unwrap_or("");
            case["group"] == "beyond" && (op == "cross_entropy" || op == "linear_cross_entropy")
        })
        .map(|line| format!("{line}\n"))
        .collect()
}

const CATALOGUE: &str = include_str!("fixtures/catalogue_cases.jsonl");

#[test]
fn softcap_z_loss_and_linear_cross_entropy_match_the_catalogue() {
    assert_eq!(common::check_cases(&beyond(CATALOGUE)), 83);
}

#[test]
fn the_composed_path_matches_the_catalogue_too() {
    common::check_cases_with(&beyond(CATALOGUE), false);
}

#[test]
fn the_shared_public_beyond_cases_pass_when_present() {
    // The team's cases live beside the checkout (../shared); a lone clone skips them.
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/golden/catalogue-public.jsonl"
    );
    if let Ok(text) = std::fs::read_to_string(path) {
        let cases = beyond(&text);
        assert!(common::check_cases(&cases) > 0);
        common::check_cases_with(&cases, false);
    }
}
