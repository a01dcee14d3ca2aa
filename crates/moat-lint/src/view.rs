//! One table ready for the checks: its call graph and every rule's packet set.

use moat_model::{Action, Table};

use crate::compile::{Compiler, Space};
use crate::describe::{policy_text, rule_text};
use crate::finding::{Finding, FindingKind};
use crate::graph::Graph;
use crate::space::Domain;

/// A table with its call graph and compiled rules.
#[derive(Debug, Clone)]
pub struct TableView<'t> {
    /// The table.
    pub table: &'t Table,
    /// The value domains of its family.
    pub domain: Domain,
    /// Its call graph.
    pub graph: Graph,
    /// For each chain, for each rule, the packets the rule matches.
    pub spaces: Vec<Vec<Space>>,
    /// For each chain, whether it certainly ends (accepts, drops, rejects or
    /// translates) every packet it gets, so a jump to it never comes back.
    pub ends: Vec<bool>,
}

impl<'t> TableView<'t> {
    /// Compiles every rule of `table`.
    pub fn new(table: &'t Table, compiler: &Compiler<'_>) -> Self {
        let graph = Graph::new(table);
        let spaces: Vec<Vec<Space>> = table
            .chains
            .iter()
            .enumerate()
            .map(|(ci, c)| {
                c.rules
                    .iter()
                    .map(|r| compiler.space(&r.matches, graph.mutations[ci]))
                    .collect()
            })
            .collect();
        let ends = table
            .chains
            .iter()
            .zip(&spaces)
            .map(|(c, s)| {
                for (rule, space) in c.rules.iter().zip(s) {
                    match rule.action {
                        Action::Return | Action::Goto(_) => return false,
                        _ if ends_here(&rule.action) && space.exact && space.cubes.is_all() => {
                            return true
                        }
                        _ => {}
                    }
                }
                false
            })
            .collect();
        TableView {
            table,
            domain: compiler.domain,
            graph,
            spaces,
            ends,
        }
    }

    /// Whether a packet matching a rule with `action` leaves the chain for good
    /// (a jump counts when its chain ends every packet).
    pub fn is_terminal(&self, action: &Action) -> bool {
        match action {
            Action::Return | Action::Goto(_) => true,
            Action::Jump(name) => self.graph.chain(name).is_some_and(|c| self.ends[c]),
            a => ends_here(a),
        }
    }

    /// The iptables text of rule `rule` (0-based) of chain `chain`.
    pub fn text(&self, chain: usize, rule: usize) -> String {
        let c = &self.table.chains[chain];
        rule_text(&c.name, &c.rules[rule])
    }

    /// The text of a chain itself: its policy line, or its `-N` line.
    pub fn chain_text(&self, chain: usize) -> String {
        let c = &self.table.chains[chain];
        match c.base {
            Some((_, policy)) => policy_text(&c.name, policy),
            None => format!("-N {}", c.name),
        }
    }

    /// Rule `rule` (0-based) of `chain` as a finding's related rule.
    pub fn related(&self, chain: usize, rule: usize) -> (String, usize, String) {
        (
            self.table.chains[chain].name.clone(),
            rule + 1,
            self.text(chain, rule),
        )
    }

    /// A finding about rule `rule` (0-based) of `chain`, or about the chain
    /// itself when `rule` is `None`.
    pub fn finding(
        &self,
        kind: FindingKind,
        chain: usize,
        rule: Option<usize>,
        related: Option<(String, usize, String)>,
        message: String,
    ) -> Finding {
        Finding {
            kind,
            family: self.table.family,
            stage: self.table.stage,
            chain: self.table.chains[chain].name.clone(),
            rule: rule.map_or(0, |r| r + 1),
            text: match rule {
                Some(r) => self.text(chain, r),
                None => self.chain_text(chain),
            },
            related,
            message,
        }
    }
}

/// Whether `action` ends the packet's walk through the table's chains.
fn ends_here(action: &Action) -> bool {
    matches!(
        action,
        Action::Accept
            | Action::Drop
            | Action::Reject(_)
            | Action::Dnat(_)
            | Action::Snat(_)
            | Action::Masquerade { .. }
            | Action::Redirect { .. }
            | Action::Netmap { .. }
            | Action::Queue { .. }
            | Action::SynProxy(_)
            | Action::Tproxy(_)
    )
}
