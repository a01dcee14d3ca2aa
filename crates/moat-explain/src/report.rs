//! What an explanation says: the steps of each possible path and its verdict.

use moat_model::Hook;
use serde::Serialize;

use crate::flight::Flight;
use crate::packet::PacketSpec;

/// A rule (or a chain's policy) at one hook.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RuleRef {
    /// The hook the chain was reached from.
    pub hook: Hook,
    /// The table (`filter`, `nat`, `mangle`, `raw`).
    pub table: &'static str,
    /// The chain.
    pub chain: String,
    /// The 1-based rule number; `None` for the chain's policy.
    pub rule: Option<usize>,
    /// The rule's iptables text (`-A CHAIN ...`), or `-P CHAIN POLICY`.
    pub text: String,
}

/// `filter INPUT rule 3 (-A INPUT ...)`, or `filter INPUT policy (-P INPUT DROP)`.
impl std::fmt::Display for RuleRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.rule {
            Some(n) => write!(f, "{} {} rule {n} ({})", self.table, self.chain, self.text),
            None => write!(f, "{} {} policy ({})", self.table, self.chain, self.text),
        }
    }
}

/// Whether a rule's matches held for the packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleResult {
    /// Every match held.
    Matched,
    /// A match did not hold.
    NotMatched,
    /// The rule's outcome depends on a match the description cannot
    /// decide; this path assumes it `matched` (or not).
    Depends {
        /// What this path assumes.
        matched: bool,
    },
    /// The rule's outcome cannot be decided, but it only logs or counts,
    /// so the packet goes on unchanged either way (no new path).
    Either,
}

/// Where the routing decision sends the packet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "to")]
pub enum Routing {
    /// To this host (INPUT).
    Local,
    /// Through this host, out of `iface` (FORWARD, POSTROUTING).
    Forward {
        /// The outgoing interface.
        iface: String,
    },
    /// A packet this host sends, out of `iface` (OUTPUT, POSTROUTING).
    Send {
        /// The outgoing interface.
        iface: String,
    },
}

/// One step of a path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "step")]
pub enum Event {
    /// A rule was examined.
    Rule {
        /// The rule.
        at: RuleRef,
        /// Whether it matched.
        result: RuleResult,
        /// Why it did not match (the first match that fails), or what it depends on.
        why: Option<String>,
    },
    /// A base chain's end was reached and its policy applied.
    Policy {
        /// The chain's policy.
        at: RuleRef,
    },
    /// A user chain ended (its end or a RETURN) and the calling chain goes on.
    Back {
        /// The hook.
        hook: Hook,
        /// The table.
        table: &'static str,
        /// The chain that ended (the one jumped to, or one it went to with a goto).
        from: String,
        /// The chain that jumped, which goes on with its next rule.
        to: String,
    },
    /// The packet was changed (address translation, marks).
    Rewrite {
        /// The rule that changed it.
        at: RuleRef,
        /// What changed, e.g. `destination 10.0.0.1:80 -> 10.0.0.9:8080`.
        change: String,
    },
    /// A table was passed over.
    Skip {
        /// The hook.
        hook: Hook,
        /// The table.
        table: &'static str,
        /// Why.
        reason: String,
    },
    /// The routing decision.
    Route {
        /// Where the packet goes.
        routing: Routing,
    },
}

/// How a path ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Outcome {
    /// The packet gets through.
    Accept,
    /// The packet is discarded silently.
    Drop,
    /// The packet is discarded and its sender told.
    Reject,
}

/// The end of one path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verdict {
    /// Accepted, dropped or rejected.
    pub outcome: Outcome,
    /// The rule or policy that decided it (for an accepted packet, the
    /// last accepting filter rule or policy, else the last accepting one).
    pub by: Option<RuleRef>,
    /// Where an accepted packet goes; for a dropped one, `None`.
    pub routing: Option<Routing>,
    /// A note when no rule decided (no route to the destination).
    pub note: Option<String>,
}

/// One way through the ruleset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PathReport {
    /// What must hold for the packet to take this path (undecidable
    /// matches assumed to match or not); empty when there is one path.
    pub conditions: Vec<String>,
    /// The steps, in order.
    pub steps: Vec<Event>,
    /// How it ends.
    pub verdict: Verdict,
    /// The packet as it leaves (or as it was when dropped).
    pub packet: Flight,
}

/// The paths a described packet can take and their verdicts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Explanation {
    /// The packet as described.
    pub spec: PacketSpec,
    /// Every path, in the order they branch (matching before not matching).
    pub paths: Vec<PathReport>,
    /// Whether branching stopped at the path limit (later undecidable
    /// matches were assumed not to match).
    pub capped: bool,
}

impl Explanation {
    /// Whether the packet is accepted on every path.
    pub fn accepted_everywhere(&self) -> bool {
        self.paths
            .iter()
            .all(|p| p.verdict.outcome == Outcome::Accept)
    }
}
