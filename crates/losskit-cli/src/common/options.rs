//! Checks of option values, with messages that name the option, the rule and the value.

use std::fmt::Display;

use thiserror::Error;

/// An option whose value breaks its rule.
#[derive(Debug, Error, PartialEq, Eq)]
#[error("{option} must be {rule}, got {value}")]
pub struct InvalidOption {
    /// The option, as typed (`--lr`).
    pub option: &'static str,
    /// What its value must be ("positive").
    pub rule: &'static str,
    /// The value it was given.
    pub value: String,
}

/// `Ok` when `ok`, else the [`InvalidOption`] of `option`.
pub fn require(ok: bool, option: &'static str, rule: &'static str, value: impl Display) -> Result<(), InvalidOption> {
    if ok {
        Ok(())
    } else {
        Err(InvalidOption {
            option,
            rule,
            value: value.to_string(),
        })
    }
}
