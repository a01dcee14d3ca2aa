//! The human text of an explanation: a line a step, then the verdict.
//! `{}` shows the rules that matched, policies, rewrites and routing;
//! `{:#}` adds every rule that did not match and why, and skipped tables.

use std::fmt::{self, Display, Formatter, Write};

use moat_model::describe::proto_name;
use moat_model::ruleset::hook_chain_name;

use crate::flight::Flight;
use crate::packet::PacketSpec;
use crate::path::MAX_PATHS;
use crate::report::{
    Event, Explanation, Outcome, PathReport, Routing, RuleRef, RuleResult, Verdict,
};

impl Display for Explanation {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        writeln!(f, "packet: {}", spec_line(&self.spec))?;
        let many = self.paths.len() > 1;
        for (n, path) in self.paths.iter().enumerate() {
            if many {
                writeln!(f, "path {} of {}:", n + 1, self.paths.len())?;
                for c in &path.conditions {
                    writeln!(f, "  {c}")?;
                }
            }
            write_path(f, path)?;
        }
        if self.capped {
            writeln!(
                f,
                "(stopped branching at {MAX_PATHS} paths: later undecidable matches were assumed not to match)"
            )?;
        }
        let dropped = self
            .paths
            .iter()
            .filter(|p| p.verdict.outcome != Outcome::Accept)
            .count();
        match (dropped, many) {
            (0, true) => writeln!(f, "result: ACCEPT on every path"),
            (_, true) => writeln!(
                f,
                "result: dropped or rejected on {dropped} of {} paths",
                self.paths.len()
            ),
            _ => Ok(()),
        }
    }
}

fn spec_line(s: &PacketSpec) -> String {
    let src = s.source.map_or("this host".to_string(), |a| {
        Flight::endpoint(a, s.source_port)
    });
    let mut out = format!(
        "{} {src} -> {}",
        proto_name(s.protocol),
        Flight::endpoint(s.destination, s.destination_port)
    );
    if let Some(i) = &s.in_iface {
        let _ = write!(out, ", in {i}");
    }
    if let Some(o) = &s.out_iface {
        let _ = write!(out, ", out {o}");
    }
    if let Some((t, c)) = s.icmp {
        let _ = write!(out, ", type {t}/{c}");
    }
    if let Some(flags) = s.flags() {
        let _ = write!(out, ", flags {flags:#04x}");
    }
    for (name, member) in &s.sets {
        let _ = write!(out, ", {}in set {name}", if *member { "" } else { "not " });
    }
    let state = format!("{:?}", s.state).to_lowercase();
    let _ = write!(out, ", state {state}, mark {:#x}", s.mark);
    out
}

fn place(at: &RuleRef) -> String {
    format!(
        "{:<11} {:<6} {}",
        hook_chain_name(at.hook),
        at.table,
        at.chain
    )
}

fn write_path(f: &mut Formatter<'_>, path: &PathReport) -> fmt::Result {
    let verbose = f.alternate();
    for step in &path.steps {
        match step {
            Event::Rule { at, result, why } => {
                let n = at.rule.unwrap_or(0);
                let tail = match (result, why) {
                    (RuleResult::Matched, _) => String::new(),
                    (RuleResult::NotMatched, Some(w)) if verbose => format!("\n      no: {w}"),
                    (RuleResult::NotMatched, _) if verbose => "\n      no".into(),
                    (RuleResult::NotMatched, _) => continue,
                    (RuleResult::Either, w) => format!(
                        "\n      depends on {}: either way the packet goes on",
                        w.as_deref().unwrap_or("a match")
                    ),
                    (RuleResult::Depends { matched }, w) => format!(
                        "\n      depends on {}: this path assumes it {}",
                        w.as_deref().unwrap_or("a match"),
                        if *matched {
                            "matches"
                        } else {
                            "does not match"
                        }
                    ),
                };
                writeln!(f, "  {} rule {n}: {}{tail}", place(at), at.text)?;
            }
            Event::Policy { at } => writeln!(f, "  {} end of chain: {}", place(at), at.text)?,
            Event::Rewrite { change, .. } => writeln!(f, "      -> {change}")?,
            Event::Back {
                hook,
                table,
                from,
                to,
            } => writeln!(
                f,
                "  {:<11} {table:<6} back from {from} to {to}",
                hook_chain_name(*hook)
            )?,
            Event::Skip {
                hook,
                table,
                reason,
            } if verbose => writeln!(
                f,
                "  {:<11} {table:<6} skipped: {reason}",
                hook_chain_name(*hook)
            )?,
            Event::Skip { .. } => {}
            Event::Route { routing } => writeln!(f, "  routing: {}", routing_text(routing))?,
        }
    }
    writeln!(f, "  verdict: {}", verdict_text(&path.verdict))
}

fn routing_text(r: &Routing) -> String {
    match r {
        Routing::Local => "delivered locally".into(),
        Routing::Forward { iface } => format!("forwarded out {iface}"),
        Routing::Send { iface } => format!("sent out {iface}"),
    }
}

fn verdict_text(v: &Verdict) -> String {
    let outcome = match v.outcome {
        Outcome::Accept => "ACCEPT",
        Outcome::Drop => "DROP",
        Outcome::Reject => "REJECT",
    };
    let mut out = outcome.to_string();
    match &v.by {
        Some(by) => {
            let _ = write!(out, " by {by}");
        }
        None if v.note.is_none() => out.push_str(" (no table has a chain at these hooks)"),
        None => {}
    }
    if let Some(note) = &v.note {
        let _ = write!(out, ": {note}");
    }
    if let Some(r) = &v.routing {
        let _ = write!(out, "; {}", routing_text(r));
    }
    out
}
