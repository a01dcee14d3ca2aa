//! The hooks a packet passes, in order, with the routing decision between them.

use moat_model::describe::policy_text;
use moat_model::{Hook, Policy, Stage, Table};

use crate::flight::Flight;
use crate::host::HostView;
use crate::packet::PacketSpec;
use crate::report::{Event, Explanation, Outcome, PathReport, Routing, RuleRef, Verdict};
use crate::walk::{Branch, Budget, Flow, Walker};

/// The most paths followed before undecidable matches are assumed not to match.
pub const MAX_PATHS: usize = 64;

/// Every path `spec` can take through `tables` on a host like `host`.
pub fn explain(tables: &[Table], spec: &PacketSpec, host: &HostView) -> Explanation {
    let tables: Vec<&Table> = tables
        .iter()
        .filter(|t| t.family == spec.family())
        .collect();
    let mut run = Run {
        tables,
        host,
        budget: Budget {
            paths: 1,
            cap: MAX_PATHS,
            capped: false,
        },
        done: Vec::new(),
    };
    let start = Branch {
        flight: Flight::start(spec, host),
        steps: Vec::new(),
        conditions: Vec::new(),
        accepted_by: Vec::new(),
        choices: Vec::new(),
    };
    let live = if spec.is_local() {
        run.local(start)
    } else {
        run.arriving(start, spec)
    };
    for b in live {
        run.finish(b, Outcome::Accept, None, None);
    }
    run.done.sort_by(|a, b| a.0.cmp(&b.0));
    Explanation {
        spec: spec.clone(),
        paths: run.done.into_iter().map(|(_, p)| p).collect(),
        capped: run.budget.capped,
    }
}

struct Run<'a> {
    tables: Vec<&'a Table>,
    host: &'a HostView,
    budget: Budget,
    /// Finished paths, with the order key from their choices.
    done: Vec<(Vec<bool>, PathReport)>,
}

impl Run<'_> {
    /// PREROUTING, the routing decision, then INPUT or FORWARD and POSTROUTING.
    fn arriving(&mut self, start: Branch, spec: &PacketSpec) -> Vec<Branch> {
        let mut input = Vec::new();
        let mut forward = Vec::new();
        for mut b in self.hook(Hook::Prerouting, vec![start]) {
            let dest = b.flight.destination;
            if self.host.is_local(dest) {
                b.steps.push(Event::Route {
                    routing: Routing::Local,
                });
                input.push(b);
                continue;
            }
            let out = self
                .host
                .route(dest)
                .map(str::to_string)
                .or_else(|| spec.out_iface.clone());
            match out {
                Some(iface) => {
                    b.flight.out_iface = Some(iface.clone());
                    b.steps.push(Event::Route {
                        routing: Routing::Forward { iface },
                    });
                    if self.host.forwards(spec.family()) {
                        forward.push(b);
                    } else {
                        let note = "this host does not forward (ip_forward / forwarding is 0)";
                        self.finish(b, Outcome::Drop, None, Some(note.into()));
                    }
                }
                None => {
                    let note = format!("no route to {dest}");
                    self.finish(b, Outcome::Drop, None, Some(note));
                }
            }
        }
        let mut live = self.hook(Hook::Input, input);
        let forwarded = self.hook(Hook::Forward, forward);
        live.extend(self.hook(Hook::Postrouting, forwarded));
        live
    }

    /// The routing decision, OUTPUT, a new decision if OUTPUT changed the
    /// destination, then POSTROUTING.
    fn local(&mut self, mut start: Branch) -> Vec<Branch> {
        if start.flight.out_iface.is_none() {
            start.flight.out_iface = self
                .host
                .route(start.flight.destination)
                .map(str::to_string);
        }
        route_event(&mut start);
        let before = start.flight.destination;
        let mut rerouted = Vec::new();
        for mut b in self.hook(Hook::Output, vec![start]) {
            if b.flight.destination != before {
                if let Some(out) = self.host.route(b.flight.destination) {
                    b.flight.out_iface = Some(out.to_string());
                }
                route_event(&mut b);
            }
            rerouted.push(b);
        }
        let (looped, out): (Vec<Branch>, Vec<Branch>) = self
            .hook(Hook::Postrouting, rerouted)
            .into_iter()
            .partition(|b| b.flight.out_iface.as_deref() == Some("lo"));
        let mut live = out;
        live.extend(self.loop_back(looped));
        live
    }

    /// A packet this host sent to itself comes back in on `lo`: PREROUTING
    /// and INPUT, without address translation (decided on the way out).
    fn loop_back(&mut self, branches: Vec<Branch>) -> Vec<Branch> {
        let arrived = branches
            .into_iter()
            .map(|mut b| {
                b.flight.in_iface = Some("lo".into());
                b.flight.out_iface = None;
                b.flight.nat_decided = true;
                b
            })
            .collect();
        let mut input = self.hook(Hook::Prerouting, arrived);
        for b in &mut input {
            b.steps.push(Event::Route {
                routing: Routing::Local,
            });
        }
        self.hook(Hook::Input, input)
    }

    /// Runs every table's base chain at `hook`, by priority, for each live path.
    fn hook(&mut self, hook: Hook, branches: Vec<Branch>) -> Vec<Branch> {
        let mut tables: Vec<&Table> = self
            .tables
            .iter()
            .copied()
            .filter(|t| {
                t.chains
                    .iter()
                    .any(|c| c.base.map(|(h, _)| h) == Some(hook))
            })
            .collect();
        tables.sort_by_key(|t| t.stage.priority(hook));
        let mut live = branches;
        for table in tables {
            let mut next = Vec::new();
            for b in live {
                self.table(table, hook, b, &mut next);
            }
            live = next;
        }
        live
    }

    /// One table's base chain at `hook` for one path; the paths that go on
    /// are pushed to `next`, the others finished.
    fn table(&mut self, table: &Table, hook: Hook, mut b: Branch, next: &mut Vec<Branch>) {
        let Some((chain, policy)) = table
            .chains
            .iter()
            .find_map(|c| c.base.filter(|(h, _)| *h == hook).map(|(_, p)| (c, p)))
        else {
            next.push(b);
            return;
        };
        let nat_skip = match (b.flight.is_new(), b.flight.nat_decided) {
            (false, _) => Some("only the first packet of a connection passes nat"),
            (true, true) => Some("the connection's address translation was decided on the way out"),
            (true, false) => None,
        };
        if let (Stage::Nat, Some(reason)) = (table.stage, nat_skip) {
            b.steps.push(Event::Skip {
                hook,
                table: table.stage.name(),
                reason: reason.into(),
            });
            next.push(b);
            return;
        }
        let walker = Walker {
            table,
            hook,
            host: self.host,
        };
        for (mut b, flow) in walker.run(&chain.name, 0, b, 0, &mut self.budget) {
            match flow {
                Flow::Accept(at) => {
                    b.accepted_by.push(at);
                    next.push(b);
                }
                Flow::Drop { by, reject } => {
                    let outcome = if reject {
                        Outcome::Reject
                    } else {
                        Outcome::Drop
                    };
                    self.finish(b, outcome, Some(by), None);
                }
                Flow::Return(_) => {
                    let at = RuleRef {
                        hook,
                        table: table.stage.name(),
                        chain: chain.name.clone(),
                        rule: None,
                        text: policy_text(&chain.name, policy),
                    };
                    b.steps.push(Event::Policy { at: at.clone() });
                    match policy {
                        Policy::Accept => {
                            b.accepted_by.push(at);
                            next.push(b);
                        }
                        Policy::Drop => self.finish(b, Outcome::Drop, Some(at), None),
                    }
                }
            }
        }
    }

    /// Ends a path with `outcome`.
    fn finish(&mut self, b: Branch, outcome: Outcome, by: Option<RuleRef>, note: Option<String>) {
        let (by, routing) = if outcome == Outcome::Accept {
            let by = b
                .accepted_by
                .iter()
                .rev()
                .find(|r| r.table == Stage::Filter.name())
                .or(b.accepted_by.last())
                .cloned();
            let routing = b.steps.iter().rev().find_map(|e| match e {
                Event::Route { routing } => Some(routing.clone()),
                _ => None,
            });
            (by, routing)
        } else {
            (by, None)
        };
        let order = b.choices.iter().map(|c| !c).collect();
        self.done.push((
            order,
            PathReport {
                conditions: b.conditions,
                steps: b.steps,
                verdict: Verdict {
                    outcome,
                    by,
                    routing,
                    note,
                },
                packet: b.flight,
            },
        ));
    }
}

/// Records where a packet this host sends goes.
fn route_event(b: &mut Branch) {
    let iface = b
        .flight
        .out_iface
        .clone()
        .unwrap_or_else(|| "an unknown interface".into());
    b.steps.push(Event::Route {
        routing: Routing::Send { iface },
    });
}
