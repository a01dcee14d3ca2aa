//! What the linter reports.

use std::fmt;

use moat_model::{Family, Stage};
use serde::Serialize;

/// The kind of mistake a finding reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FindingKind {
    /// Earlier rules take every packet the rule would match.
    Shadowed,
    /// An earlier rule matches exactly the same packets with another verdict.
    Conflicting,
    /// The rule's own conditions contradict each other.
    Impossible,
    /// Every packet the rule takes gets the same verdict later anyway.
    Redundant,
    /// No rule reached from a base chain jumps or goes to the user chain.
    UnreachableChain,
    /// The jump goes to a chain that is empty or only returns.
    EmptyJump,
    /// An interface match on a side of the packet the chain's hooks never have.
    WrongHookInterface,
    /// Statistic load balancing gives backends uneven shares or leaves packets out.
    UnevenBalance,
    /// DNAT forwards connections the filter FORWARD chain can never accept.
    DnatNotForwarded,
    /// A DROP policy with no accept of ESTABLISHED packets.
    NoEstablishedAccept,
    /// A DROP policy in the nat table: every new connection no rule takes is dropped.
    NatDropPolicy,
}

/// One mistake in a ruleset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// What kind of mistake.
    pub kind: FindingKind,
    /// The family of the table.
    pub family: Family,
    /// The table (stage).
    pub stage: Stage,
    /// The chain.
    pub chain: String,
    /// The 1-based rule number in the chain (as `iptables -L --line-numbers`
    /// counts), or 0 for a finding about the chain itself or its policy.
    pub rule: usize,
    /// The rule's iptables text (or the chain's `-N`/`-P` line).
    pub text: String,
    /// The other rule involved: chain, number (0 for a policy or a chain) and text.
    pub related: Option<(String, usize, String)>,
    /// One sentence: what is wrong and what to do.
    pub message: String,
}

/// `filter INPUT rule 4 (-A INPUT ...): message`; IPv6 findings start with `ip6 `.
impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.family == Family::Ipv6 {
            f.write_str("ip6 ")?;
        }
        write!(f, "{} {}", self.stage.name(), self.chain)?;
        if self.rule > 0 {
            write!(f, " rule {}", self.rule)?;
        }
        write!(f, " ({}): {}", self.text, self.message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_and_json() {
        let f = Finding {
            kind: FindingKind::Shadowed,
            family: Family::Ipv4,
            stage: Stage::Filter,
            chain: "INPUT".into(),
            rule: 4,
            text: "-A INPUT -p tcp --dport 22 -j ACCEPT".into(),
            related: Some(("INPUT".into(), 2, "-A INPUT -j DROP".into())),
            message: "never matches: rule 2 (-A INPUT -j DROP) takes every packet it would; move it above rule 2 or delete it".into(),
        };
        assert_eq!(
            f.to_string(),
            "filter INPUT rule 4 (-A INPUT -p tcp --dport 22 -j ACCEPT): never matches: rule 2 (-A INPUT -j DROP) takes every packet it would; move it above rule 2 or delete it"
        );
        let json = serde_json::to_value(&f).unwrap_or_default();
        assert_eq!(json["kind"], "shadowed");
        assert_eq!(json["rule"], 4);
        assert_eq!(json["related"][1], 2);
        let chain = Finding {
            family: Family::Ipv6,
            rule: 0,
            ..f
        };
        assert!(chain.to_string().starts_with("ip6 filter INPUT (-A INPUT"));
    }
}
