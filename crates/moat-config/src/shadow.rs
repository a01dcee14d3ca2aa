//! Finds rules that can never match because an earlier rule in the same
//! chain takes every packet (the classic `-A` after a catch-all `DROP`).

use moat_iptables::TableState;
use moat_model::{Action, Match};

fn takes_everything(matches: &[Match], action: &Action) -> bool {
    let terminal = matches!(
        action,
        Action::Accept | Action::Drop | Action::Reject(_) | Action::Return | Action::Goto(_)
    );
    terminal && matches.iter().all(|m| matches!(m, Match::Comment { .. }))
}

fn table_name(t: &TableState) -> &'static str {
    moat_iptables::save::stage_name(t.stage)
}

/// One warning per chain that has rules after a rule taking every packet.
pub fn shadowed(tables: &[TableState]) -> Vec<String> {
    let mut out = Vec::new();
    for t in tables {
        for chain in &t.chains {
            let Some(i) = chain
                .rules
                .iter()
                .position(|r| takes_everything(&r.rule.matches, &r.rule.action))
            else {
                continue;
            };
            if i + 1 >= chain.rules.len() {
                continue;
            }
            let catch = chain.rules[i].spec.to_args();
            let next = chain.rules[i + 1].spec.to_args();
            let more = chain.rules.len() - i - 1;
            out.push(format!(
                "{} table {}, chain {}: rule {} `-A {} {}`{} can never match: rule {} `-A {} {}` before it takes every packet \
                 (insert the later rule{} before it, e.g. with -I, or remove the catch-all and use the chain's policy)",
                match t.family {
                    moat_model::Family::Ipv4 => "IPv4",
                    moat_model::Family::Ipv6 => "IPv6",
                },
                table_name(t),
                chain.name,
                i + 2,
                chain.name,
                next,
                if more > 1 { format!(" (and {} more after it)", more - 1) } else { String::new() },
                i + 1,
                chain.name,
                catch,
                if more > 1 { "s" } else { "" },
            ));
        }
    }
    out
}
