//! Compiles a validated [`Config`] into the iptables view of moat's tables
//! (the same [`TableState`]s the iptables front-end builds), so listings,
//! `iptables-save` and the nf_tables compiler see one model.
//!
//! Each family gets a filter table (and a nat table when something needs
//! one). A chain is built in three parts: moat's own rules, then the raw
//! iptables rules of the escape hatch (`-A` lands here, `-I` on top), then
//! the catch-all part (drop logging and rejects) that must come last.

mod nat;
pub(crate) use nat::forward_family;
pub(crate) mod words;

use std::ops::Range;

use ipnet::IpNet;

use moat_iptables::rule::RuleSpec;
use moat_iptables::state::{split_words, StateRule};
use moat_iptables::{parse_command_line, Command, TableState};
use moat_model::{Counters, Family, Policy, Stage};

use crate::error::Diagnostic;
use crate::model::{Config, IcmpPolicy, Proto, Verdict, Zone};
use words::{comment, icmp_proto, join, ports, w, zone_in, zone_in_from, zone_out, Words};

/// The chains of a filter table moat fills.
const INPUT: &str = "INPUT";
const FORWARD: &str = "FORWARD";
const OUTPUT: &str = "OUTPUT";

/// IPv6 neighbour discovery: router and neighbour solicitations and advertisements.
const NEIGHBOUR_DISCOVERY: [&str; 4] = ["133", "134", "135", "136"];

/// Builds one family's tables.
pub(crate) struct FamilyBuilder<'a> {
    pub cfg: &'a Config,
    pub family: Family,
    pub states: Vec<TableState>,
    tails: Vec<(Stage, &'static str, StateRule)>,
    pub problems: Vec<Diagnostic>,
    hashlimits: usize,
}

fn policy_of(v: Verdict) -> Policy {
    match v {
        Verdict::Accept => Policy::Accept,
        _ => Policy::Drop,
    }
}

impl<'a> FamilyBuilder<'a> {
    fn new(cfg: &'a Config, family: Family) -> Self {
        let mut filter = TableState::empty(family, Stage::Filter);
        for (chain, v) in [
            (INPUT, cfg.defaults.input),
            (FORWARD, cfg.defaults.forward),
            (OUTPUT, cfg.defaults.output),
        ] {
            if let Some(c) = filter.chain_mut(chain) {
                if let Some((_, p)) = &mut c.base {
                    *p = policy_of(v);
                }
            }
        }
        FamilyBuilder {
            cfg,
            family,
            states: vec![filter, TableState::empty(family, Stage::Nat)],
            tails: Vec::new(),
            problems: Vec::new(),
            hashlimits: 0,
        }
    }

    fn make(&mut self, words: &Words, span: &Range<usize>) -> Option<StateRule> {
        let built = RuleSpec::parse(words, self.family)
            .map_err(|e| e.message)
            .and_then(|(spec, _)| {
                StateRule::new(spec, self.family, Counters::default()).map_err(|e| e.message)
            });
        match built {
            Ok(r) => Some(r),
            Err(message) => {
                self.problems.push(
                    Diagnostic::new(
                        Some(span.clone()),
                        format!("this cannot be expressed as a rule: {message}"),
                    )
                    .expected(format!(
                        "a valid rule; moat generated `{}`",
                        words.join(" ")
                    )),
                );
                None
            }
        }
    }

    fn state(&mut self, stage: Stage) -> &mut TableState {
        if let Some(i) = self.states.iter().position(|s| s.stage == stage) {
            return &mut self.states[i];
        }
        self.states.push(TableState::empty(self.family, stage));
        self.states.last_mut().expect("just pushed")
    }

    /// Adds a rule to moat's own part of `chain`.
    pub(crate) fn rule(
        &mut self,
        stage: Stage,
        chain: &'static str,
        words: Words,
        span: &Range<usize>,
    ) {
        if let Some(r) = self.make(&words, span) {
            if let Some(c) = self.state(stage).chain_mut(chain) {
                c.rules.push(r);
            }
        }
    }

    /// Adds a rule to the catch-all part of `chain`.
    fn tail(&mut self, stage: Stage, chain: &'static str, words: Words, span: &Range<usize>) {
        if let Some(r) = self.make(&words, span) {
            self.tails.push((stage, chain, r));
        }
    }

    /// The alternatives matching packets from the zones `names` (anything when empty).
    pub(crate) fn zones_in(&self, names: &[String]) -> Vec<Words> {
        if names.is_empty() {
            return vec![Vec::new()];
        }
        self.zones(names)
            .flat_map(|z| zone_in(z, self.family))
            .collect()
    }

    /// [`Self::zones_in`] for packets whose source is also in one of
    /// `sources` (any source when empty; see [`zone_in_from`]).
    fn zones_in_from(&self, names: &[String], sources: &[IpNet]) -> Vec<Words> {
        if names.is_empty() {
            return match sources {
                [] => vec![Vec::new()],
                sources => sources.iter().map(|n| w(&["-s", &n.to_string()])).collect(),
            };
        }
        self.zones(names)
            .flat_map(|z| zone_in_from(z, self.family, sources))
            .collect()
    }

    fn zones_out(&self, names: &[String]) -> Vec<Words> {
        self.zones(names)
            .flat_map(|z| zone_out(z, self.family))
            .collect()
    }

    fn zones<'b>(&'b self, names: &'b [String]) -> impl Iterator<Item = &'a Zone> + 'b {
        let cfg = self.cfg;
        names
            .iter()
            .filter_map(move |n| cfg.zones.iter().find(|z| &z.name == n))
    }

    fn log_words(&self, what: &str) -> Words {
        let log = &self.cfg.log;
        w(&[
            "-m",
            "limit",
            "--limit",
            &log.rate,
            "--limit-burst",
            &log.burst.to_string(),
            "-j",
            "LOG",
            "--log-prefix",
            &format!("{} {what}: ", log.prefix),
        ])
    }

    fn established(&mut self, chain: &'static str, span: &Range<usize>) {
        let c = comment("replies and established connections");
        self.rule(
            Stage::Filter,
            chain,
            join(&[
                &c,
                &w(&[
                    "-m",
                    "conntrack",
                    "--ctstate",
                    "RELATED,ESTABLISHED",
                    "-j",
                    "ACCEPT",
                ]),
            ]),
            span,
        );
    }

    fn neighbour_discovery(&mut self, chain: &'static str, span: &Range<usize>) {
        if self.family != Family::Ipv6 {
            return;
        }
        for t in NEIGHBOUR_DISCOVERY {
            let c = comment("IPv6 neighbour discovery");
            self.rule(
                Stage::Filter,
                chain,
                join(&[
                    &w(&["-p", "ipv6-icmp"]),
                    &c,
                    &w(&["-m", "icmp6", "--icmpv6-type", t, "-j", "ACCEPT"]),
                ]),
                span,
            );
        }
    }

    fn input(&mut self) {
        let all = 0..0;
        let cfg = self.cfg;
        self.rule(
            Stage::Filter,
            INPUT,
            join(&[
                &w(&["-i", "lo"]),
                &comment("loopback"),
                &w(&["-j", "ACCEPT"]),
            ]),
            &all,
        );
        self.established(INPUT, &all);
        self.neighbour_discovery(INPUT, &all);
        self.invalid_and_new(INPUT);
        let proto = icmp_proto(self.family);
        match cfg.icmp {
            IcmpPolicy::All => self.rule(
                Stage::Filter,
                INPUT,
                join(&[&w(&["-p", proto]), &comment("icmp"), &w(&["-j", "ACCEPT"])]),
                &all,
            ),
            IcmpPolicy::Ping => {
                let m = match self.family {
                    Family::Ipv4 => w(&["-m", "icmp", "--icmp-type", "8"]),
                    Family::Ipv6 => w(&["-m", "icmp6", "--icmpv6-type", "128"]),
                };
                self.rule(
                    Stage::Filter,
                    INPUT,
                    join(&[
                        &w(&["-p", proto]),
                        &comment("ping"),
                        &m,
                        &w(&["-j", "ACCEPT"]),
                    ]),
                    &all,
                );
            }
            IcmpPolicy::None => {}
        }
        for svc in &cfg.services {
            self.service(svc);
        }
    }

    fn service(&mut self, svc: &crate::model::Service) {
        let family = self.family;
        let sources: Vec<IpNet> = svc
            .sources
            .iter()
            .copied()
            .filter(|n| crate::model::family_of_net(n) == family)
            .collect();
        if sources.is_empty() && !svc.sources.is_empty() {
            return;
        }
        let zones = self.zones_in_from(&svc.zones, &sources);
        let intent = comment(&format!("service {}", svc.name));
        for &proto in &svc.protos {
            for port_words in ports(proto, &svc.ports) {
                for z in &zones {
                    let base = join(&[z, &port_words, &intent]);
                    let new = w(&["-m", "conntrack", "--ctstate", "NEW"]);
                    if svc.log {
                        let words = join(&[&base, &new, &self.log_words("new")]);
                        self.rule(Stage::Filter, INPUT, words, &svc.span);
                    }
                    if let Some(n) = svc.limit.connections {
                        let reject = match proto {
                            Proto::Tcp => w(&["-j", "REJECT", "--reject-with", "tcp-reset"]),
                            Proto::Udp => w(&["-j", "DROP"]),
                        };
                        let limit = w(&[
                            "-m",
                            "connlimit",
                            "--connlimit-above",
                            &n.to_string(),
                            "--connlimit-mask",
                            words::host_mask(family),
                        ]);
                        self.rule(
                            Stage::Filter,
                            INPUT,
                            join(&[&base, &new, &limit, &reject]),
                            &svc.span,
                        );
                    }
                    if let Some(rate) = &svc.limit.rate {
                        self.hashlimits += 1;
                        let name = format!(
                            "moat_{}{}",
                            self.hashlimits,
                            if family == Family::Ipv6 { "_6" } else { "" }
                        );
                        let burst = svc.limit.burst.unwrap_or(5).to_string();
                        let limit = w(&[
                            "-m",
                            "hashlimit",
                            "--hashlimit-above",
                            rate,
                            "--hashlimit-burst",
                            &burst,
                            "--hashlimit-mode",
                            "srcip",
                            "--hashlimit-name",
                            &name,
                        ]);
                        self.rule(
                            Stage::Filter,
                            INPUT,
                            join(&[&base, &new, &limit, &w(&["-j", "DROP"])]),
                            &svc.span,
                        );
                    }
                    self.rule(
                        Stage::Filter,
                        INPUT,
                        join(&[&base, &w(&["-j", "ACCEPT"])]),
                        &svc.span,
                    );
                }
            }
        }
    }

    fn zone_defaults(&mut self) {
        let cfg = self.cfg;
        let default = cfg.defaults.input;
        for zone in &cfg.zones {
            if zone.input == default {
                continue;
            }
            let alts = zone_in(zone, self.family);
            let intent = comment(&format!("zone {} input", zone.name));
            for alt in alts {
                match zone.input {
                    Verdict::Accept => self.rule(
                        Stage::Filter,
                        INPUT,
                        join(&[&alt, &intent, &w(&["-j", "ACCEPT"])]),
                        &zone.span,
                    ),
                    v => {
                        if cfg.log.drops {
                            self.tail(
                                Stage::Filter,
                                INPUT,
                                join(&[&alt, &intent, &self.log_words("drop")]),
                                &zone.span,
                            );
                        }
                        let target = if v == Verdict::Reject {
                            "REJECT"
                        } else {
                            "DROP"
                        };
                        self.tail(
                            Stage::Filter,
                            INPUT,
                            join(&[&alt, &intent, &w(&["-j", target])]),
                            &zone.span,
                        );
                    }
                }
            }
        }
        self.catch_all(INPUT, default);
    }

    fn catch_all(&mut self, chain: &'static str, v: Verdict) {
        let all = 0..0;
        if v == Verdict::Accept {
            return;
        }
        let name = chain.to_ascii_lowercase();
        if self.cfg.log.drops {
            let words = join(&[
                &comment(&format!("log {name} drops")),
                &self.log_words("drop"),
            ]);
            self.tail(Stage::Filter, chain, words, &all);
        }
        if v == Verdict::Reject {
            self.tail(
                Stage::Filter,
                chain,
                join(&[&comment(&format!("{name} default")), &w(&["-j", "REJECT"])]),
                &all,
            );
        }
    }

    /// Drops invalid packets in `chain`, then logs new connections when asked.
    fn invalid_and_new(&mut self, chain: &'static str) {
        let all = 0..0;
        let words = join(&[
            &comment("invalid packets"),
            &w(&["-m", "conntrack", "--ctstate", "INVALID", "-j", "DROP"]),
        ]);
        self.rule(Stage::Filter, chain, words, &all);
        if self.cfg.log.new_connections {
            let words = join(&[
                &comment("log new connections"),
                &w(&["-m", "conntrack", "--ctstate", "NEW"]),
                &self.log_words("new"),
            ]);
            self.rule(Stage::Filter, chain, words, &all);
        }
    }

    fn forward(&mut self) {
        let all = 0..0;
        let cfg = self.cfg;
        self.established(FORWARD, &all);
        self.invalid_and_new(FORWARD);
        nat::port_forwards(self);
        nat::balances(self);
        for f in &cfg.forwards {
            let from = self.zones_in(&f.from);
            let to = self.zones_out(&f.to);
            let intent = comment(&format!(
                "forward {} to {}",
                f.from.join(","),
                f.to.join(",")
            ));
            let proto_words: Vec<Words> = if f.protos.is_empty() {
                vec![Vec::new()]
            } else {
                f.protos.iter().flat_map(|&p| ports(p, &f.ports)).collect()
            };
            for a in &from {
                for b in &to {
                    for p in &proto_words {
                        self.rule(
                            Stage::Filter,
                            FORWARD,
                            join(&[a, b, p, &intent, &w(&["-j", "ACCEPT"])]),
                            &f.span,
                        );
                    }
                }
            }
        }
        self.catch_all(FORWARD, cfg.defaults.forward);
    }

    fn output(&mut self) {
        let all = 0..0;
        let cfg = self.cfg;
        if cfg.defaults.output == Verdict::Accept {
            return;
        }
        self.rule(
            Stage::Filter,
            OUTPUT,
            join(&[
                &w(&["-o", "lo"]),
                &comment("loopback"),
                &w(&["-j", "ACCEPT"]),
            ]),
            &all,
        );
        self.established(OUTPUT, &all);
        self.neighbour_discovery(OUTPUT, &all);
        for o in &cfg.outgoing {
            let dests: Vec<Words> = if o.to.is_empty() {
                vec![Vec::new()]
            } else {
                let d: Vec<Words> =
                    o.to.iter()
                        .filter(|n| crate::model::family_of_net(n) == self.family)
                        .map(|n| w(&["-d", &n.to_string()]))
                        .collect();
                if d.is_empty() {
                    continue;
                }
                d
            };
            let intent = comment(&format!("outgoing {}", o.name));
            let proto_words: Vec<Words> = if o.icmp {
                vec![w(&["-p", icmp_proto(self.family)])]
            } else {
                o.protos.iter().flat_map(|&p| ports(p, &o.ports)).collect()
            };
            for d in &dests {
                for p in &proto_words {
                    self.rule(
                        Stage::Filter,
                        OUTPUT,
                        join(&[d, p, &intent, &w(&["-j", "ACCEPT"])]),
                        &o.span,
                    );
                }
            }
        }
        self.catch_all(OUTPUT, cfg.defaults.output);
    }

    fn masquerade(&mut self) {
        let cfg = self.cfg;
        for zone in &cfg.zones {
            let wants = match self.family {
                Family::Ipv4 => zone.masquerade,
                Family::Ipv6 => zone.masquerade_ipv6,
            };
            let snat = zone
                .snat
                .filter(|a| crate::model::family_of(a) == self.family);
            if !wants && snat.is_none() {
                continue;
            }
            let intent = comment(&format!("masquerade {}", zone.name));
            let target = match snat {
                Some(a) => w(&["-j", "SNAT", "--to-source", &a.to_string()]),
                None => w(&["-j", "MASQUERADE"]),
            };
            for alt in zone_out(zone, self.family) {
                self.rule(
                    Stage::Nat,
                    "POSTROUTING",
                    join(&[&alt, &intent, &target]),
                    &zone.span,
                );
            }
        }
    }

    fn raw(&mut self) {
        let (cfg, family) = (self.cfg, self.family);
        for raw in cfg.raw.iter().filter(|r| r.family == family) {
            let fail = |m: String| {
                Diagnostic::new(Some(raw.span.clone()), m)
                    .expected("an iptables command such as \"-A INPUT -p tcp --dport 9000 -j ACCEPT\" or \"-t nat -A POSTROUTING -o eth0 -j MASQUERADE\"")
            };
            let Some(mut words) = split_words(&raw.text) else {
                self.problems
                    .push(fail("unbalanced quotes in this rule".into()));
                continue;
            };
            if words
                .first()
                .is_some_and(|w| w == "iptables" || w == "ip6tables")
            {
                words.remove(0);
            }
            let inv = match parse_command_line(&words, self.family) {
                Ok(inv) => inv,
                Err(e) => {
                    self.problems.push(fail(e.message));
                    continue;
                }
            };
            if matches!(
                inv.command,
                Command::List { .. } | Command::ListRules { .. } | Command::Check { .. }
            ) {
                self.problems.push(fail("listing and checking commands change nothing; only commands that change rules belong here".into()));
                continue;
            }
            let state = self.state(inv.stage);
            if let Err(e) = moat_iptables::apply(inv, state) {
                self.problems.push(fail(e.message));
            }
        }
    }

    fn finish(mut self) -> (Vec<TableState>, Vec<Diagnostic>) {
        for (stage, chain, rule) in std::mem::take(&mut self.tails) {
            if let Some(c) = self.state(stage).chain_mut(chain) {
                c.rules.push(rule);
            }
        }
        let mut states = Vec::new();
        for state in std::mem::take(&mut self.states) {
            let used = state.stage == Stage::Filter
                || state
                    .chains
                    .iter()
                    .any(|c| !c.rules.is_empty() || c.base.is_none())
                || state
                    .chains
                    .iter()
                    .any(|c| matches!(c.base, Some((_, Policy::Drop))));
            if !used {
                continue;
            }
            if let Err(e) = state.validate() {
                self.problems.push(Diagnostic::new(
                    None,
                    format!("the resulting {:?} table is not valid: {e}", state.stage),
                ));
            }
            states.push(state);
        }
        (states, self.problems)
    }
}

/// The families `cfg` builds tables for.
pub(crate) fn families(cfg: &Config) -> Vec<Family> {
    let mut out = vec![Family::Ipv4];
    if cfg.defaults.ipv6 {
        out.push(Family::Ipv6);
    }
    out
}

/// Compiles `cfg` into moat's tables for each family.
pub(crate) fn compile(cfg: &Config) -> Result<Vec<TableState>, Vec<Diagnostic>> {
    let mut tables = Vec::new();
    let mut problems = Vec::new();
    if !cfg.defaults.ipv6 {
        problems.extend(nat::ipv6_items(cfg));
    }
    for family in families(cfg) {
        let mut b = FamilyBuilder::new(cfg, family);
        b.input();
        b.forward();
        b.output();
        nat::prerouting_and_hairpin(&mut b);
        b.masquerade();
        b.zone_defaults();
        b.raw();
        let (states, p) = b.finish();
        tables.extend(states);
        problems.extend(p);
    }
    if problems.is_empty() {
        Ok(tables)
    } else {
        Err(problems)
    }
}
