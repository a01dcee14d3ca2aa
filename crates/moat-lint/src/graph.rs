//! Which chain calls which, from which hooks each chain is reached, and what
//! the chains reached from a rule may change in a packet.

use std::collections::HashMap;

use moat_model::{Action, Hook, Table};

use crate::compile::Mutations;

/// A set of hooks, as bits.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Hooks(u8);

impl Hooks {
    fn bit(hook: Hook) -> u8 {
        1 << (hook as u8)
    }

    /// The set holding only `hook`.
    pub fn of(hook: Hook) -> Self {
        Hooks(Hooks::bit(hook))
    }

    /// Whether the set holds `hook`.
    pub fn contains(self, hook: Hook) -> bool {
        self.0 & Hooks::bit(hook) != 0
    }

    /// Whether the set is empty.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The hooks, in packet-path order.
    pub fn iter(self) -> impl Iterator<Item = Hook> {
        [
            Hook::Prerouting,
            Hook::Input,
            Hook::Forward,
            Hook::Output,
            Hook::Postrouting,
        ]
        .into_iter()
        .filter(move |&h| self.contains(h))
    }

    /// Whether every hook of the set satisfies `f` (false for an empty set).
    pub fn all(self, f: impl Fn(Hook) -> bool) -> bool {
        !self.is_empty() && self.iter().all(f)
    }
}

/// The call graph of one table.
#[derive(Debug, Clone)]
pub struct Graph {
    index: HashMap<String, usize>,
    /// For each chain, the hooks whose base chains reach it.
    pub hooks: Vec<Hooks>,
    /// For each chain, the chains its rules jump or go to.
    pub callees: Vec<Vec<usize>>,
    /// For each chain, the rules that jump or go to it: (chain, rule index).
    pub callers: Vec<Vec<(usize, usize)>>,
    /// For each chain, the packet fields it or a chain it calls may change.
    pub mutations: Vec<Mutations>,
}

fn own_mutations(action: &Action) -> Mutations {
    Mutations {
        mark: matches!(action, Action::SetMark(_) | Action::RestoreMark { .. }),
        connmark: matches!(action, Action::SetConnMark(_) | Action::SaveMark { .. }),
        ctstate: matches!(action, Action::NoTrack),
    }
}

impl Graph {
    /// The graph of `table`.
    pub fn new(table: &Table) -> Self {
        let n = table.chains.len();
        let mut index = HashMap::with_capacity(n);
        for (i, c) in table.chains.iter().enumerate() {
            index.entry(c.name.clone()).or_insert(i);
        }
        let mut callees: Vec<Vec<usize>> = vec![Vec::new(); n];
        let mut callers: Vec<Vec<(usize, usize)>> = vec![Vec::new(); n];
        let mut mutations = vec![Mutations::default(); n];
        for (ci, chain) in table.chains.iter().enumerate() {
            for (ri, rule) in chain.rules.iter().enumerate() {
                mutations[ci] = mutations[ci].union(own_mutations(&rule.action));
                if let Some(&t) = rule.chain_target().and_then(|name| index.get(name)) {
                    callees[ci].push(t);
                    callers[t].push((ci, ri));
                }
            }
        }
        let mut hooks: Vec<Hooks> = table
            .chains
            .iter()
            .map(|c| c.base.map(|(h, _)| Hooks::of(h)).unwrap_or_default())
            .collect();
        let mut changed = true;
        while changed {
            changed = false;
            for ci in 0..n {
                for &t in &callees[ci] {
                    let h = Hooks(hooks[t].0 | hooks[ci].0);
                    let m = mutations[ci].union(mutations[t]);
                    if h != hooks[t] || m != mutations[ci] {
                        hooks[t] = h;
                        mutations[ci] = m;
                        changed = true;
                    }
                }
            }
        }
        Graph {
            index,
            hooks,
            callees,
            callers,
            mutations,
        }
    }

    /// The index of the chain called `name`.
    pub fn chain(&self, name: &str) -> Option<usize> {
        self.index.get(name).copied()
    }

    /// `chain` and every chain it reaches through jumps and gotos.
    pub fn reached_from(&self, chain: usize) -> Vec<usize> {
        let mut seen = vec![false; self.callees.len()];
        let mut stack = vec![chain];
        let mut out = Vec::new();
        while let Some(c) = stack.pop() {
            if std::mem::replace(&mut seen[c], true) {
                continue;
            }
            out.push(c);
            stack.extend(self.callees[c].iter().copied());
        }
        out.sort_unstable();
        out
    }
}
