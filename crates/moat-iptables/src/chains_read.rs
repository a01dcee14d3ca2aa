//! A change read with only the chains it touches: whether that is enough.
//!
//! A `--noflush` restore beside a large table (Kubernetes' nat table of
//! thousands of chains) touches a few chains. Reading only those, the
//! built-in chains and the layout is enough when the rest of the table
//! cannot matter: no rule outside the chains read jumps to one of them
//! (else the hooks reaching it, which settle what its rules may do, would
//! be unknown), and the change leaves every other chain reached from the
//! same hooks as before (else rules there might no longer be allowed).

use std::collections::{HashMap, HashSet};

use moat_model::Hook;

use crate::state::{StateRule, TableState};

/// The chains of a table read with their rules, the other chains of its
/// view holding none, and the hooks that reached each other chain through
/// them before the change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainsRead {
    unread: HashSet<String>,
    reached: HashMap<String, HashSet<Hook>>,
}

impl ChainsRead {
    /// The view `state`, whose chains `read` hold their rules and the others
    /// none (or are left out of it), with `references`, the kernel's count
    /// of references to each chain: `None` unless every chain read is
    /// referred to by rules read alone (and a built-in chain by moat's base
    /// chain too), so that the hooks reaching it are known.
    pub fn new(
        state: &TableState,
        read: &HashSet<String>,
        references: &HashMap<String, u32>,
    ) -> Option<Self> {
        let mut jumps: HashMap<&str, u32> = HashMap::new();
        for chain in state.chains.iter().filter(|c| read.contains(&c.name)) {
            for target in chain.rules.iter().filter_map(StateRule::jump_target) {
                *jumps.entry(target).or_default() += 1;
            }
        }
        for chain in state.chains.iter().filter(|c| read.contains(&c.name)) {
            let from_base = u32::from(chain.base.is_some());
            let counted = *references.get(&chain.name)?;
            if counted != jumps.get(chain.name.as_str()).copied().unwrap_or(0) + from_base {
                return None;
            }
        }
        // The chains of the view not read, and those the rules read jump
        // to that it leaves out (a read of the chains named alone).
        let targets = jumps.keys().map(|name| name.to_string());
        let names = state.chains.iter().map(|c| c.name.clone()).chain(targets);
        let unread: HashSet<String> = names.filter(|name| !read.contains(name)).collect();
        let reached = reached_unread(state, &unread);
        Some(ChainsRead { unread, reached })
    }

    /// Whether chain `name` was read with its rules, or is none of the
    /// table's before the change (one the change makes).
    pub fn was_read(&self, name: &str) -> bool {
        !self.unread.contains(name)
    }

    /// The chains not read that `after`, the view the change made from the
    /// one read, reaches from other hooks than before, in name order;
    /// empty when the read was enough: the rules there, which the change
    /// cannot touch, stay as allowed as they were.
    pub fn reached_otherwise(&self, after: &TableState) -> Vec<String> {
        let now = reached_unread(after, &self.unread);
        let mut changed: Vec<String> = now
            .keys()
            .chain(self.reached.keys())
            .filter(|name| now.get(*name) != self.reached.get(*name))
            .cloned()
            .collect();
        changed.sort();
        changed.dedup();
        changed
    }
}

/// For each chain of `unread` that the chains read (all others) jump to,
/// the hooks reaching it through them.
fn reached_unread(state: &TableState, unread: &HashSet<String>) -> HashMap<String, HashSet<Hook>> {
    state
        .hooks_by_chain()
        .into_iter()
        .filter(|(name, _)| unread.contains(*name))
        .map(|(name, hooks)| (name.to_string(), hooks.into_iter().collect()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::StoredChain;
    use crate::StoredRule;
    use moat_model::{Counters, Family, Policy, Stage};

    fn chain(name: &str, base: Option<Hook>, rules: &[&str]) -> StoredChain {
        StoredChain {
            name: name.into(),
            base: base.map(|h| (h, Policy::Accept)),
            policy_counters: Counters::default(),
            rules: rules
                .iter()
                .map(|r| StoredRule {
                    source: Some(r.to_string()),
                    counters: Counters::default(),
                })
                .collect(),
        }
    }

    /// A nat table as kube-proxy leaves it, read with `read` chains: the
    /// others come without rules.
    fn nat(read: &[&str]) -> (TableState, HashSet<String>) {
        let all = [
            chain("PREROUTING", Some(Hook::Prerouting), &["-j KUBE-SERVICES"]),
            chain("INPUT", Some(Hook::Input), &[]),
            chain("OUTPUT", Some(Hook::Output), &["-j KUBE-SERVICES"]),
            chain("POSTROUTING", Some(Hook::Postrouting), &[]),
            chain("KUBE-SERVICES", None, &["-d 10.96.0.1/32 -j KUBE-SVC-1"]),
            chain("KUBE-SVC-1", None, &["-j KUBE-SEP-1"]),
            chain(
                "KUBE-SEP-1",
                None,
                &["-p tcp -j DNAT --to-destination 10.244.0.2:80"],
            ),
            chain("KUBE-MARK-MASQ", None, &["-j MARK --or-mark 0x4000"]),
        ];
        let stored = all
            .into_iter()
            .map(|mut c| {
                if !read.contains(&c.name.as_str()) {
                    c.rules.clear();
                }
                c
            })
            .collect();
        let state = TableState::from_stored(Family::Ipv4, Stage::Nat, stored).unwrap();
        (state, read.iter().map(|s| s.to_string()).collect())
    }

    fn references() -> HashMap<String, u32> {
        [
            ("PREROUTING", 1),
            ("INPUT", 1),
            ("OUTPUT", 1),
            ("POSTROUTING", 1),
            ("KUBE-SERVICES", 2),
            ("KUBE-SVC-1", 1),
            ("KUBE-SEP-1", 1),
            ("KUBE-MARK-MASQ", 0),
        ]
        .into_iter()
        .map(|(n, k)| (n.to_string(), k))
        .collect()
    }

    const BUILT_IN: [&str; 4] = ["PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"];

    #[test]
    fn chains_whose_referrers_are_all_read_are_enough() {
        let read: Vec<&str> = BUILT_IN.into_iter().chain(["KUBE-SERVICES"]).collect();
        let (state, read) = nat(&read);
        assert!(ChainsRead::new(&state, &read, &references()).is_some());
    }

    #[test]
    fn a_chain_jumped_to_from_a_chain_not_read_is_not_enough() {
        // KUBE-SVC-1's referrer, KUBE-SERVICES, is not read.
        let read: Vec<&str> = BUILT_IN.into_iter().chain(["KUBE-SVC-1"]).collect();
        let (state, read) = nat(&read);
        assert_eq!(ChainsRead::new(&state, &read, &references()), None);
        // Nor is a built-in chain's referrers left out of the count.
        let (state, read) = nat(&["KUBE-SERVICES"]);
        assert_eq!(ChainsRead::new(&state, &read, &references()), None);
    }

    #[test]
    fn a_reference_the_kernel_counts_beyond_the_rules_read_is_not_enough() {
        let read: Vec<&str> = BUILT_IN.into_iter().chain(["KUBE-SERVICES"]).collect();
        let (state, read) = nat(&read);
        let mut refs = references();
        refs.insert("KUBE-SERVICES".into(), 3);
        assert_eq!(ChainsRead::new(&state, &read, &refs), None);
        refs.remove("KUBE-SERVICES");
        assert_eq!(ChainsRead::new(&state, &read, &refs), None);
    }

    #[test]
    fn a_change_that_reaches_a_chain_not_read_from_other_hooks_names_it() {
        let read: Vec<&str> = BUILT_IN.into_iter().chain(["KUBE-SERVICES"]).collect();
        let (state, read) = nat(&read);
        let chains = ChainsRead::new(&state, &read, &references()).unwrap();
        let none: Vec<String> = Vec::new();
        assert_eq!(chains.reached_otherwise(&state), none);
        // The same jumps again, and one from the same hooks: as before.
        let mut same = state.clone();
        let again = same.chains[4].rules[0].clone();
        same.chains[4].rules.push(again);
        assert_eq!(chains.reached_otherwise(&same), none);
        // KUBE-SVC-1 reached from POSTROUTING too, where DNAT is refused.
        let mut wider = state.clone();
        let jump = StateRule::from_source("-j KUBE-SVC-1", Family::Ipv4, Counters::default());
        wider.chains[3].rules.push(jump.unwrap());
        assert_eq!(chains.reached_otherwise(&wider), ["KUBE-SVC-1"]);
        // KUBE-SVC-1 no longer reached at all.
        let mut cut = state.clone();
        cut.chains[4].rules.clear();
        assert_eq!(chains.reached_otherwise(&cut), ["KUBE-SVC-1"]);
    }
}
