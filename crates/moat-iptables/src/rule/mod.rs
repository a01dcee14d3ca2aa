//! One iptables rule as iptables spells it: parsed from command-line words,
//! printed back canonically (`-S`), shown in `-L` columns, and lowered to the model.

use moat_model::{Family, Rule};

/// One rule in iptables' own terms (the syntax tree of `-s ... -p tcp -m tcp --dport 22 -j ACCEPT`).
#[derive(Debug, Clone, PartialEq)]
pub struct RuleSpec {}

/// A warning about accepted but outdated or suspicious input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning(pub String);

/// Why rule words could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct RuleParseError {
    /// What is wrong, which word, and how to fix it.
    pub message: String,
}

/// The `-L` columns of one rule.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ListingRow {
    /// The target column.
    pub target: String,
    /// The prot column.
    pub prot: String,
    /// The opt column.
    pub opt: String,
    /// The in column (shown with -v).
    pub iface_in: String,
    /// The out column (shown with -v).
    pub iface_out: String,
    /// The source column.
    pub source: String,
    /// The destination column.
    pub destination: String,
    /// Everything after the destination column (match and target details).
    pub extra: String,
}

impl RuleSpec {
    /// Parses the rule words of an iptables command (everything but the command, chain and table options).
    pub fn parse(_args: &[String], _family: Family) -> Result<(RuleSpec, Vec<Warning>), RuleParseError> {
        unimplemented!()
    }

    /// The canonical rule words, exactly as `iptables -S` prints them after `-A CHAIN `.
    pub fn to_args(&self) -> String {
        unimplemented!()
    }

    /// The rule in the moat model, with `source` set to `to_args()`.
    pub fn to_model(&self, _family: Family) -> Result<Rule, RuleParseError> {
        unimplemented!()
    }

    /// The `-L` columns; `numeric` is `-n`.
    pub fn listing(&self, _numeric: bool) -> ListingRow {
        unimplemented!()
    }

    /// The chain this rule jumps or goes to, if its target is a user chain.
    pub fn jump_target(&self) -> Option<&str> {
        unimplemented!()
    }

    /// Renames a chain this rule jumps or goes to.
    pub fn rename_target(&mut self, _from: &str, _to: &str) {
        unimplemented!()
    }
}

/// How many value words follow rule option `opt` (e.g. 1 for `--dport`, 2 for `--tcp-flags`, 0 for `--syn`).
/// `None` when `opt` is not a rule option at all.
pub fn option_arity(_opt: &str) -> Option<usize> {
    unimplemented!()
}
