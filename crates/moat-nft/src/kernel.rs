//! What moat reads back from the kernel: its tables with rule handles and counters.

use moat_model::{Counters, Family, Hook, NatSide, Policy, Stage};

/// One of moat's tables as the kernel holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct KernelTable {
    /// The table's family.
    pub family: Family,
    /// The table's stage.
    pub stage: Stage,
    /// The user-visible chains: hook chains first in hook order, then user chains in kernel order.
    pub chains: Vec<KernelChain>,
    /// The table's named sets and maps.
    pub sets: Vec<KernelSet>,
    /// Whether its base chains run just after connection tracking (a raw
    /// table that assigns conntrack helpers, see
    /// [`crate::layout::AFTER_CONNTRACK_PRIORITY`]).
    pub after_conntrack: bool,
}

/// A ct object of a table that rules refer to (`ct helper set "helper-ftp-6"`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CtObject {
    /// A timeout policy's copy (else a helper).
    pub timeout: bool,
    /// Its name.
    pub name: String,
}

/// A named set or map as the kernel holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelSet {
    /// Its name.
    pub name: String,
    /// Seconds after which its elements expire by default, if it has a default.
    pub timeout: Option<u32>,
}

/// A user-visible chain as the kernel holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct KernelChain {
    /// The chain's name.
    pub name: String,
    /// For a hook chain: its hook and policy.
    pub base: Option<(Hook, Policy)>,
    /// Policy hits of a hook chain, and the handle of the rule that counts them.
    pub policy_counter: Option<(u32, Counters)>,
    /// The rules in order.
    pub rules: Vec<KernelRule>,
    /// How many uses the kernel counts of the chain (its own rules, the
    /// rules that jump or go to it, and for a hook chain the jump of moat's
    /// base chain), when the read asked for them (see
    /// `Backend::read_chains`).
    pub uses: Option<u32>,
}

/// A rule as the kernel holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct KernelRule {
    /// The rule's handle, stable until the rule is deleted.
    pub handle: u32,
    /// The text the front-end stored with the rule (its source form).
    pub source: Option<String>,
    /// The rule's packet and byte counts.
    pub counters: Counters,
    /// For a port map's rule: the user's rules it holds, in order.
    pub members: Vec<KernelMember>,
    /// The nflog group the rule logs to, if it logs to one (a rule whose
    /// text stays but whose log goes elsewhere is written again).
    pub log_group: Option<u16>,
    /// The address the rule's `snat` or `dnat` rewrites, if it has one
    /// (NETMAP's side follows the hooks reaching its chain, not its text:
    /// a rule whose side changes is written again).
    pub nat_side: Option<NatSide>,
    /// The dynamic sets the rule fills (`add @connlimit_…`), which the
    /// planner keeps while the rule stays.
    pub fills: Vec<String>,
    /// The ct objects the rule refers to, which the planner keeps while
    /// the rule stays.
    pub ct_objects: Vec<CtObject>,
}

/// A user's rule held by a port map: one element of its address map.
#[derive(Debug, Clone, PartialEq)]
pub struct KernelMember {
    /// The element's key: the destination port.
    pub port: u16,
    /// Its place in the run.
    pub order: u32,
    /// The rule's source text.
    pub source: String,
    /// The element's counters: the rule's.
    pub counters: Counters,
}

impl KernelRule {
    /// The port map this rule is the rule of, if any.
    pub fn port_map(&self) -> Option<&str> {
        self.source.as_deref().and_then(crate::portmap::map_of)
    }
}

impl KernelChain {
    /// How many references the kernel counts to the chain (the rules that
    /// jump or go to it, and for a hook chain moat's base chain's jump):
    /// its uses less its own rules; `None` when the read counted no uses.
    pub fn references(&self) -> Option<u32> {
        let own = u32::try_from(self.rules.len()).ok()?;
        self.uses?.checked_sub(own)
    }
}

impl KernelTable {
    /// The chain called `name`, if any.
    pub fn chain(&self, name: &str) -> Option<&KernelChain> {
        self.chains.iter().find(|c| c.name == name)
    }
}
