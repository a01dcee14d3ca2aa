//! Tables, chains and rules: the containers of the model.

use serde::{Deserialize, Serialize};

use crate::action::Action;
use crate::matches::Match;

/// The address family a table filters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Family {
    /// IPv4 packets.
    Ipv4,
    /// IPv6 packets.
    Ipv6,
}

impl Family {
    /// The family's name in messages: `IPv4` or `IPv6`.
    pub fn name(self) -> &'static str {
        match self {
            Family::Ipv4 => "IPv4",
            Family::Ipv6 => "IPv6",
        }
    }

    /// The other family.
    pub fn other(self) -> Family {
        match self {
            Family::Ipv4 => Family::Ipv6,
            Family::Ipv6 => Family::Ipv4,
        }
    }
}

/// A netfilter hook: the point in the packet path where a base chain runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Hook {
    /// Every packet that arrives, before routing.
    Prerouting,
    /// Packets addressed to this host.
    Input,
    /// Packets routed through this host.
    Forward,
    /// Packets this host sends.
    Output,
    /// Every packet that leaves, after routing.
    Postrouting,
}

impl Hook {
    /// Whether packets at this hook have an input interface.
    pub fn has_input_interface(self) -> bool {
        matches!(self, Hook::Prerouting | Hook::Input | Hook::Forward)
    }

    /// Whether packets at this hook have an output interface.
    pub fn has_output_interface(self) -> bool {
        matches!(self, Hook::Forward | Hook::Output | Hook::Postrouting)
    }
}

/// A processing stage: which group of base chains a table's rules belong to.
///
/// Stages run at fixed priorities on each hook (raw, then mangle, then
/// destination NAT, then filter, then source NAT), which is what gives the
/// familiar iptables table semantics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Stage {
    /// Before connection tracking (priority -300).
    Raw,
    /// Packet alteration (priority -150).
    Mangle,
    /// Address translation (dstnat -100 / srcnat 100).
    Nat,
    /// Accept or drop decisions (priority 0).
    Filter,
    /// SELinux labels (SECMARK/CONNSECMARK) after filtering (priority 50).
    Security,
}

impl Stage {
    /// All stages, in the order a listing shows them.
    pub const ALL: [Stage; 5] = [
        Stage::Filter,
        Stage::Nat,
        Stage::Mangle,
        Stage::Raw,
        Stage::Security,
    ];

    /// The stages in the order iptables-save writes them.
    pub const SAVE_ORDER: [Stage; 5] = [
        Stage::Mangle,
        Stage::Security,
        Stage::Raw,
        Stage::Filter,
        Stage::Nat,
    ];

    /// The hooks this stage has base chains on, in their conventional order.
    pub fn hooks(self) -> &'static [Hook] {
        match self {
            Stage::Raw => &[Hook::Prerouting, Hook::Output],
            Stage::Mangle => &[
                Hook::Prerouting,
                Hook::Input,
                Hook::Forward,
                Hook::Output,
                Hook::Postrouting,
            ],
            Stage::Nat => &[
                Hook::Prerouting,
                Hook::Input,
                Hook::Output,
                Hook::Postrouting,
            ],
            Stage::Filter | Stage::Security => &[Hook::Input, Hook::Forward, Hook::Output],
        }
    }

    /// The iptables name of this stage's table (`filter`, `nat`, `mangle`, `raw`).
    pub fn name(self) -> &'static str {
        match self {
            Stage::Filter => "filter",
            Stage::Nat => "nat",
            Stage::Mangle => "mangle",
            Stage::Raw => "raw",
            Stage::Security => "security",
        }
    }

    /// The nf_tables hook priority of this stage's base chain at `hook`.
    pub fn priority(self, hook: Hook) -> i32 {
        match self {
            Stage::Raw => -300,
            Stage::Mangle => -150,
            Stage::Nat => match hook {
                Hook::Prerouting | Hook::Output => -100,
                _ => 100,
            },
            Stage::Filter => 0,
            Stage::Security => 50,
        }
    }
}

/// What a base chain does with a packet that reaches its end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Policy {
    /// Let the packet continue.
    Accept,
    /// Discard the packet silently.
    Drop,
}

/// Packet and byte counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counters {
    /// Packets counted.
    pub packets: u64,
    /// Bytes counted.
    pub bytes: u64,
}

/// One rule: all matches must hold, then the action runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rule {
    /// Conditions, all of which must hold, checked in order.
    pub matches: Vec<Match>,
    /// What happens to a packet that matches.
    pub action: Action,
    /// Counter values the rule starts with (restores carry them over).
    pub counters: Counters,
    /// Text the front-end that wrote the rule wants kept with it in the kernel
    /// (the rule's source form, so it can be shown back exactly as written).
    pub source: Option<String>,
}

impl Rule {
    /// A rule with no matches that runs `action` on every packet.
    pub fn new(action: Action) -> Self {
        Rule {
            matches: Vec::new(),
            action,
            counters: Counters::default(),
            source: None,
        }
    }

    /// Whether the rule keeps state of its own in the kernel, which a new
    /// rule of the same text starts afresh: a limit's bucket, a quota's
    /// remainder, an nth statistic's count. (Named state, a hashlimit's or
    /// a recent list's, belongs to the name and outlives the rule.)
    pub fn has_own_state(&self) -> bool {
        self.matches.iter().any(|m| {
            matches!(
                m,
                Match::Limit { .. }
                    | Match::Quota { .. }
                    | Match::Statistic {
                        mode: crate::StatisticMode::Nth { .. },
                        ..
                    }
            )
        })
    }

    /// The chains this rule can send packets to (jump or goto).
    pub fn chain_target(&self) -> Option<&str> {
        match &self.action {
            Action::Jump(name) | Action::Goto(name) => Some(name),
            _ => None,
        }
    }
}

/// A chain of rules. Base chains are attached to a hook and have a policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Chain {
    /// The chain's name, unique within its table.
    pub name: String,
    /// For a base chain: the hook it runs at and its policy.
    pub base: Option<(Hook, Policy)>,
    /// Counters of packets that fell off the end of a base chain (policy hits).
    pub policy_counters: Counters,
    /// The rules, in order.
    pub rules: Vec<Rule>,
}

/// All chains of one stage in one family.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Table {
    /// The family the table filters.
    pub family: Family,
    /// The stage the table's base chains run at.
    pub stage: Stage,
    /// The chains: base chains first, in hook order, then user chains.
    pub chains: Vec<Chain>,
}

impl Table {
    /// An empty table with its base chains, all with policy accept.
    pub fn new(family: Family, stage: Stage) -> Self {
        let chains = stage
            .hooks()
            .iter()
            .map(|&hook| Chain {
                name: hook_chain_name(hook).to_string(),
                base: Some((hook, Policy::Accept)),
                policy_counters: Counters::default(),
                rules: Vec::new(),
            })
            .collect();
        Table {
            family,
            stage,
            chains,
        }
    }

    /// The chain called `name`, if any.
    pub fn chain(&self, name: &str) -> Option<&Chain> {
        self.chains.iter().find(|c| c.name == name)
    }

    /// The chain called `name`, mutably, if any.
    pub fn chain_mut(&mut self, name: &str) -> Option<&mut Chain> {
        self.chains.iter_mut().find(|c| c.name == name)
    }
}

/// Prefix of the chain names moat keeps for its own hook chains; user chains may not use it.
pub const RESERVED_CHAIN_PREFIX: &str = "moat-";

/// The conventional name of the base chain at `hook` (the name iptables uses).
pub fn hook_chain_name(hook: Hook) -> &'static str {
    match hook {
        Hook::Prerouting => "PREROUTING",
        Hook::Input => "INPUT",
        Hook::Forward => "FORWARD",
        Hook::Output => "OUTPUT",
        Hook::Postrouting => "POSTROUTING",
    }
}
