//! Walking one table's chains for one hook: rules in order, jumps,
//! returns and gotos, with a path for each outcome of an undecidable match.

use moat_model::decide::{self, Tri};
use moat_model::describe::rule_text;
use moat_model::{Action, Hook, Rule, Table};

use crate::host::HostView;
use crate::marks;
use crate::nat;
use crate::report::{Event, RuleRef, RuleResult};
use crate::why;

/// How deep jumps may nest before the walk gives up on a chain.
const MAX_DEPTH: usize = 64;

/// One path being followed: the packet, its steps and its assumptions.
#[derive(Debug, Clone)]
pub struct Branch {
    /// The packet as it is now.
    pub flight: crate::flight::Flight,
    /// The steps so far.
    pub steps: Vec<Event>,
    /// The undecidable matches this path assumed.
    pub conditions: Vec<String>,
    /// The rules and policies that accepted it so far, in order.
    pub accepted_by: Vec<RuleRef>,
    /// For each undecidable match on the way, whether this path assumed it
    /// matched (paths are listed in this order, matching first).
    pub choices: Vec<bool>,
}

/// How a chain ended for a path.
#[derive(Debug, Clone)]
pub enum Flow {
    /// An ACCEPT (or a NAT target): the table is done with the packet.
    Accept(RuleRef),
    /// A DROP or REJECT.
    Drop {
        /// The rule.
        by: RuleRef,
        /// Whether it was a REJECT.
        reject: bool,
    },
    /// The end or a RETURN of the named chain: back to the caller (the
    /// policy, in a base chain).
    Return(String),
}

/// How many paths may be followed, and whether that limit was reached.
#[derive(Debug)]
pub struct Budget {
    /// Paths so far.
    pub paths: usize,
    /// The most paths to follow.
    pub cap: usize,
    /// Whether an undecidable match was not branched on for lack of room.
    pub capped: bool,
}

/// Walks the chains of one table at one hook.
pub struct Walker<'a> {
    /// The table.
    pub table: &'a Table,
    /// The hook.
    pub hook: Hook,
    /// The host, for NAT to interface addresses.
    pub host: &'a HostView,
}

impl Walker<'_> {
    fn at(&self, chain: &str, n: usize, rule: &Rule) -> RuleRef {
        RuleRef {
            hook: self.hook,
            table: self.table.stage.name(),
            chain: chain.to_string(),
            rule: Some(n + 1),
            text: rule_text(chain, rule),
        }
    }

    /// The outcomes of running `chain` from rule index `from` for `branch`.
    pub fn run(
        &self,
        chain: &str,
        from: usize,
        mut branch: Branch,
        depth: usize,
        budget: &mut Budget,
    ) -> Vec<(Branch, Flow)> {
        let Some(rules) = self.table.chain(chain).map(|c| &c.rules) else {
            return vec![(branch, Flow::Return(chain.to_string()))];
        };
        if depth > MAX_DEPTH {
            return vec![(branch, Flow::Return(chain.to_string()))];
        }
        for (i, rule) in rules.iter().enumerate().skip(from) {
            let at = self.at(chain, i, rule);
            let facts = branch.flight.facts(self.host);
            match decide::all(&rule.matches, &facts) {
                Tri::No => {
                    let why = why::failed(&rule.matches, &facts);
                    branch.steps.push(Event::Rule {
                        at,
                        result: RuleResult::NotMatched,
                        why,
                    });
                }
                Tri::Yes => {
                    branch.steps.push(Event::Rule {
                        at,
                        result: RuleResult::Matched,
                        why: None,
                    });
                    match self.act(chain, i, rule, branch, depth, budget) {
                        Acted::Continue(b) => branch = *b,
                        Acted::Done(out) => return out,
                    }
                }
                Tri::Maybe if inert(&rule.action) => {
                    let why = Some(why::undecided(&rule.matches, &facts));
                    branch.steps.push(Event::Rule {
                        at,
                        result: RuleResult::Either,
                        why,
                    });
                }
                Tri::Maybe => {
                    let depends = why::undecided(&rule.matches, &facts);
                    let condition = format!("{depends} ({} {} rule {})", at.table, chain, i + 1);
                    if budget.paths >= budget.cap {
                        budget.capped = true;
                        branch
                            .conditions
                            .push(format!("{condition} assumed not to match (path limit)"));
                        branch.steps.push(Event::Rule {
                            at,
                            result: RuleResult::Depends { matched: false },
                            why: Some(depends),
                        });
                        continue;
                    }
                    budget.paths += 1;
                    let mut yes = branch.clone();
                    yes.conditions.push(format!("if {condition} matches"));
                    yes.choices.push(true);
                    yes.steps.push(Event::Rule {
                        at: at.clone(),
                        result: RuleResult::Depends { matched: true },
                        why: Some(depends.clone()),
                    });
                    let mut out = match self.act(chain, i, rule, yes, depth, budget) {
                        Acted::Continue(b) => self.run(chain, i + 1, *b, depth, budget),
                        Acted::Done(out) => out,
                    };
                    branch
                        .conditions
                        .push(format!("if {condition} does not match"));
                    branch.choices.push(false);
                    branch.steps.push(Event::Rule {
                        at,
                        result: RuleResult::Depends { matched: false },
                        why: Some(depends),
                    });
                    out.extend(self.run(chain, i + 1, branch, depth, budget));
                    return out;
                }
            }
        }
        vec![(branch, Flow::Return(chain.to_string()))]
    }

    /// Runs the action of rule `i` of `chain`, which matched.
    fn act(
        &self,
        chain: &str,
        i: usize,
        rule: &Rule,
        mut branch: Branch,
        depth: usize,
        budget: &mut Budget,
    ) -> Acted {
        let at = self.at(chain, i, rule);
        let flight = &mut branch.flight;
        match &rule.action {
            Action::Accept => Acted::Done(vec![(branch, Flow::Accept(at))]),
            Action::Drop => Acted::Done(vec![(
                branch,
                Flow::Drop {
                    by: at,
                    reject: false,
                },
            )]),
            Action::Reject(_) => Acted::Done(vec![(
                branch,
                Flow::Drop {
                    by: at,
                    reject: true,
                },
            )]),
            Action::Return => Acted::Done(vec![(branch, Flow::Return(chain.to_string()))]),
            Action::Jump(target) => {
                let mut out = Vec::new();
                for (mut b, flow) in self.run(target, 0, branch, depth + 1, budget) {
                    match flow {
                        Flow::Return(from) => {
                            b.steps.push(Event::Back {
                                hook: self.hook,
                                table: self.table.stage.name(),
                                from,
                                to: chain.to_string(),
                            });
                            out.extend(self.run(chain, i + 1, b, depth, budget));
                        }
                        done => out.push((b, done)),
                    }
                }
                Acted::Done(out)
            }
            Action::Goto(target) => Acted::Done(self.run(target, 0, branch, depth + 1, budget)),
            Action::Dnat(_)
            | Action::Snat(_)
            | Action::Masquerade { .. }
            | Action::Redirect { .. }
            | Action::Netmap { .. } => {
                if let Some(change) = nat::apply(&rule.action, flight, self.host) {
                    branch.steps.push(Event::Rewrite {
                        at: at.clone(),
                        change,
                    });
                }
                Acted::Done(vec![(branch, Flow::Accept(at))])
            }
            Action::SetMark(_)
            | Action::SetConnMark(_)
            | Action::SaveMark { .. }
            | Action::RestoreMark { .. } => {
                if let Some(change) = marks::apply(&rule.action, flight) {
                    branch.steps.push(Event::Rewrite { at, change });
                }
                Acted::Continue(Box::new(branch))
            }
            Action::NoTrack => {
                flight.state = moat_model::ConnStates::UNTRACKED;
                branch.steps.push(Event::Rewrite {
                    at,
                    change: "not tracked: state UNTRACKED, no NAT".into(),
                });
                Acted::Continue(Box::new(branch))
            }
            Action::Queue {
                first,
                last,
                bypass,
                ..
            } => {
                // A userspace program decides: both fates are possible.
                let queue = if first == last {
                    format!("the program reading queue {first}")
                } else {
                    format!("the program reading queues {first}-{last}")
                };
                let (accepts, drops) = if *bypass {
                    (" (or no program reads it: --queue-bypass)", "")
                } else {
                    ("", " (or no program reads it)")
                };
                if budget.paths >= budget.cap {
                    budget.capped = true;
                    branch
                        .conditions
                        .push(format!("{queue} assumed to accept it (path limit)"));
                    return Acted::Done(vec![(branch, Flow::Accept(at))]);
                }
                budget.paths += 1;
                let mut accepted = branch.clone();
                accepted
                    .conditions
                    .push(format!("if {queue} accepts it{accepts}"));
                accepted.choices.push(true);
                branch
                    .conditions
                    .push(format!("if {queue} drops it{drops}"));
                branch.choices.push(false);
                Acted::Done(vec![
                    (accepted, Flow::Accept(at.clone())),
                    (
                        branch,
                        Flow::Drop {
                            by: at,
                            reject: false,
                        },
                    ),
                ])
            }
            Action::Tos { value, mask } => {
                branch.steps.push(Event::Rewrite {
                    at,
                    change: format!(
                        "TOS byte: bits {mask:#04x} cleared, then {value:#04x} flipped"
                    ),
                });
                Acted::Continue(Box::new(branch))
            }
            Action::Ecn(change) => {
                let mut parts = Vec::new();
                if let Some(ect) = change.ip_ect {
                    parts.push(format!("IPv4 ECN codepoint set to {ect}"));
                }
                for (flag, value) in [("ECE", change.ece), ("CWR", change.cwr)] {
                    if let Some(on) = value {
                        parts.push(format!(
                            "TCP {flag} flag {}",
                            if on { "set" } else { "cleared" }
                        ));
                    }
                }
                branch.steps.push(Event::Rewrite {
                    at,
                    change: parts.join(", "),
                });
                Acted::Continue(Box::new(branch))
            }
            Action::Dscp(n) => {
                branch.steps.push(Event::Rewrite {
                    at,
                    change: format!("DSCP set to {n:#04x}"),
                });
                Acted::Continue(Box::new(branch))
            }
            Action::TcpOptStrip(kinds) => {
                let kinds: Vec<String> = kinds.iter().map(u8::to_string).collect();
                branch.steps.push(Event::Rewrite {
                    at,
                    change: format!("TCP options of kind {} replaced by no-ops", kinds.join(",")),
                });
                Acted::Continue(Box::new(branch))
            }
            Action::CtZone { .. }
            | Action::CtZoneFromMark { .. }
            | Action::CtEvents { .. }
            | Action::CtHelper { .. }
            | Action::CtTimeout { .. }
            | Action::CtSeveral(_) => {
                branch.steps.push(Event::Rewrite {
                    at,
                    change: ct_change(&rule.action),
                });
                Acted::Continue(Box::new(branch))
            }
            Action::Ttl(op) | Action::HopLimit(op) => {
                let what = if matches!(rule.action, Action::Ttl(_)) {
                    "TTL"
                } else {
                    "hop limit"
                };
                let change = match op {
                    moat_model::TtlOp::Set(n) => format!("{what} set to {n}"),
                    moat_model::TtlOp::Dec(n) => format!("{what} lowered by {n} (not below 0)"),
                    moat_model::TtlOp::Inc(n) => format!("{what} raised by {n} (not above 255)"),
                };
                branch.steps.push(Event::Rewrite { at, change });
                Acted::Continue(Box::new(branch))
            }
            Action::Classify(class) => {
                branch.steps.push(Event::Rewrite {
                    at,
                    change: format!(
                        "traffic-control class {:x}:{:x}",
                        class >> 16,
                        class & 0xffff
                    ),
                });
                Acted::Continue(Box::new(branch))
            }
            Action::TcpMss(value) => {
                let change = match value {
                    moat_model::MssValue::Fixed(n) => {
                        format!("a SYN's TCP MSS option lowered to {n} if higher")
                    }
                    moat_model::MssValue::PathMtu => {
                        "a SYN's TCP MSS option lowered to fit the route's MTU".into()
                    }
                };
                branch.steps.push(Event::Rewrite { at, change });
                Acted::Continue(Box::new(branch))
            }
            Action::Tproxy(t) => {
                // A transparent socket takes it (accepted, addresses kept);
                // with none, xt_TPROXY drops it.
                branch.conditions.push(format!(
                    "TPROXY finds a transparent socket (its connection's, or a listener on port {})",
                    t.port
                ));
                Acted::Done(vec![(branch, Flow::Accept(at))])
            }
            Action::SynProxy(_) => {
                // Its SYN cookies answer the handshake; the connection goes
                // on to the server once the client completes it.
                branch
                    .conditions
                    .push("SYNPROXY answers the handshake itself".into());
                Acted::Done(vec![(branch, Flow::Accept(at))])
            }
            // In moat it only counts the packet.
            Action::ChecksumFill
            | Action::ConnSecMark(_)
            | Action::IpSetUpdate(_)
            | Action::Continue
            | Action::Log { .. }
            | Action::NfLog { .. }
            | Action::Trace
            | Action::Xt(_) => Acted::Continue(Box::new(branch)),
        }
    }
}

/// What running a matched rule's action leaves.
enum Acted {
    /// The chain goes on with the next rule for this path.
    Continue(Box<Branch>),
    /// The chain (and any paths it split into) ended.
    Done(Vec<(Branch, Flow)>),
}

/// Whether an action leaves the packet and its path as they were (logging, counting).
fn inert(action: &Action) -> bool {
    matches!(
        action,
        Action::Continue
            | Action::Log { .. }
            | Action::NfLog { .. }
            | Action::Trace
            | Action::Xt(_)
    )
}

/// What a CT target's settings do to a packet's connection, in words.
fn ct_change(action: &Action) -> String {
    match action {
        Action::CtZone { id, .. } => format!("tracked in conntrack zone {id}"),
        Action::CtZoneFromMark { .. } => "tracked in the conntrack zone its mark names".into(),
        Action::CtEvents { mask } => format!(
            "its new connection reports only the events {}",
            moat_model::ct_event_names(*mask)
        ),
        Action::CtHelper { helper, .. } => {
            format!("its new connection followed by conntrack helper {helper}")
        }
        Action::CtTimeout { policy, .. } => {
            format!("its new connection given the timeouts of policy {policy}")
        }
        Action::CtSeveral(parts) => {
            let changes: Vec<String> = parts.iter().map(ct_change).collect();
            changes.join(", ")
        }
        other => format!("{other:?}"),
    }
}
