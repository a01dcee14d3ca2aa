//! DNAT to another host while the filter FORWARD chain drops by policy and
//! no rule there can accept the translated packets.
//!
//! The translated packets are the DNAT rule's packets with the destination
//! (and port) of its target, in state NEW, leaving on any interface. If that
//! set shares no packet with any FORWARD rule that may accept (directly or
//! through a jump), the forwarded connections can never open.

use moat_model::{Action, Hook, NatTarget, Policy, Stage};

use crate::compile::Compiler;
use crate::describe::nat_text;
use crate::finding::{Finding, FindingKind};
use crate::space::{CubeList, Dim, Ranges};
use crate::view::TableView;

/// DNAT rules whose connections the same family's filter FORWARD never accepts.
pub fn check(views: &[TableView<'_>], compiler: &Compiler<'_>, out: &mut Vec<Finding>) {
    let Some(filter) = views.iter().find(|v| v.table.stage == Stage::Filter) else {
        return;
    };
    let Some(forward) = filter
        .table
        .chains
        .iter()
        .position(|c| c.base == Some((Hook::Forward, Policy::Drop)))
    else {
        return;
    };
    let accepts = forward_accepts(filter, forward);
    for nat in views.iter().filter(|v| v.table.stage == Stage::Nat) {
        for (c, chain) in nat.table.chains.iter().enumerate() {
            if !nat.graph.hooks[c].contains(Hook::Prerouting) {
                continue;
            }
            for (r, rule) in chain.rules.iter().enumerate() {
                let Action::Dnat(target) = &rule.action else {
                    continue;
                };
                let Some(post) = translated(nat, compiler, c, r, target) else {
                    continue;
                };
                if accepts.iter().any(|a| a.intersects(&post)) {
                    continue;
                }
                let message = format!(
                    "forwards connections to {} that filter FORWARD never lets through: its policy is DROP and no rule there can accept them; add a rule such as {}",
                    nat_text(target),
                    suggestion(&post, target)
                );
                let related = Some(("FORWARD".to_string(), 0, "-P FORWARD DROP".to_string()));
                out.push(nat.finding(FindingKind::DnatNotForwarded, c, Some(r), related, message));
            }
        }
    }
}

/// The packet sets of FORWARD rules that may accept: ACCEPT rules, and jumps
/// or gotos to chains that have an ACCEPT somewhere below them.
fn forward_accepts(filter: &TableView<'_>, forward: usize) -> Vec<CubeList> {
    let chains = &filter.table.chains;
    let accepts_below = |name: &str| {
        filter.graph.chain(name).is_some_and(|t| {
            filter
                .graph
                .reached_from(t)
                .iter()
                .any(|&c| chains[c].rules.iter().any(|r| r.action == Action::Accept))
        })
    };
    chains[forward]
        .rules
        .iter()
        .zip(&filter.spaces[forward])
        .filter(|(rule, _)| match &rule.action {
            Action::Accept => true,
            Action::Jump(name) | Action::Goto(name) => accepts_below(name),
            _ => false,
        })
        .map(|(_, space)| space.cubes.clone())
        .collect()
}

/// The packets rule `r` of `chain` sends on after translation, or `None`
/// when they stay on this host (loopback, or only the port changes).
fn translated(
    nat: &TableView<'_>,
    compiler: &Compiler<'_>,
    chain: usize,
    r: usize,
    target: &NatTarget,
) -> Option<CubeList> {
    let (a, b) = target.addrs?;
    // A range that runs backwards wraps around nearly every address.
    if a.is_loopback() || b.is_loopback() || a.is_unspecified() || a > b {
        return None;
    }
    let (lo, hi) = (compiler.addr(a)?, compiler.addr(b)?);
    let to = Ranges::span(lo, hi);
    let space = &nat.spaces[chain][r];
    let cubes = space
        .cubes
        .cubes()
        .iter()
        .filter(|c| c.get(Dim::Dst) != Some(&to))
        .map(|c| {
            let mut c = c.clone();
            c.set(Dim::Dst, Some(to.clone()));
            if let Some(p) = target.ports {
                c.set(
                    Dim::Dport,
                    Some(Ranges::span(u128::from(p.first), u128::from(p.last))),
                );
            }
            c.set(Dim::Oif, None);
            c.set(Dim::CtState, Some(Ranges::single(1)));
            c.set(Dim::Mark, None);
            c.set(Dim::ConnMark, None);
            c
        })
        .collect();
    let post = CubeList::from_cubes(cubes);
    (!post.is_empty()).then_some(post)
}

/// A FORWARD rule that would accept the translated packets.
fn suggestion(post: &CubeList, target: &NatTarget) -> String {
    let mut s = String::from("-A FORWARD");
    if let Some((a, b)) = target.addrs {
        if a == b {
            s.push_str(&format!(" -d {a}"));
        } else {
            s.push_str(&format!(" -m iprange --dst-range {a}-{b}"));
        }
    }
    let single = |dim: Dim| {
        let first = post.cubes().first()?.get(dim)?.clone();
        let same = post.cubes().iter().all(|c| c.get(dim) == Some(&first));
        match first.intervals() {
            [(lo, hi)] if same => Some((*lo, *hi)),
            _ => None,
        }
    };
    if let Some((p, _)) = single(Dim::Proto).filter(|(lo, hi)| lo == hi) {
        match p {
            6 => s.push_str(" -p tcp"),
            17 => s.push_str(" -p udp"),
            other => s.push_str(&format!(" -p {other}")),
        }
        if let Some((lo, hi)) = single(Dim::Dport) {
            if lo == hi {
                s.push_str(&format!(" --dport {lo}"));
            } else {
                s.push_str(&format!(" --dport {lo}:{hi}"));
            }
        }
    }
    s.push_str(" -m conntrack --ctstate NEW -j ACCEPT");
    s
}

#[cfg(test)]
mod tests {
    use crate::testkit::{at, found, lint_text};
    use crate::FindingKind::DnatNotForwarded;

    const NAT: &str = "*nat\n:PREROUTING ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n\
        -A PREROUTING -i eth0 -p tcp --dport 2080 -j DNAT --to-destination 192.168.1.10:80\n\
        -A PREROUTING -p tcp --dport 8080 -j DNAT --to-destination 127.0.0.1:8080\n\
        -A PREROUTING -d 203.0.113.5/32 -p tcp --dport 443 -j DNAT --to-destination 203.0.113.5:8443\n\
        -A OUTPUT -p tcp --dport 3000 -j DNAT --to-destination 192.168.1.11:80\n\
        COMMIT\n";

    fn with_forward(rules: &str) -> Vec<crate::Finding> {
        lint_text(&format!(
            "{NAT}*filter\n:FORWARD DROP [0:0]\n:FWD - [0:0]\n\
             -A FORWARD -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT\n{rules}\
             -A FWD -j ACCEPT\n\
             COMMIT\n"
        ))
    }

    #[test]
    fn port_forward_without_a_forward_accept_is_reported() {
        let f = with_forward("-A FORWARD -d 192.168.1.10/32 -p tcp --dport 22 -j ACCEPT\n-A FORWARD -i eth1 -j FWD\n");
        assert_eq!(found(&f, DnatNotForwarded), at(&[("PREROUTING", 1)]));
        let d = f
            .iter()
            .find(|f| f.kind == DnatNotForwarded)
            .map(|f| f.message.clone())
            .unwrap_or_default();
        assert!(
            d.contains("add a rule such as -A FORWARD -d 192.168.1.10 -p tcp --dport 80 -m conntrack --ctstate NEW -j ACCEPT"),
            "{d}"
        );
    }

    #[test]
    fn a_matching_accept_or_jump_or_accept_policy_silences_it() {
        for rules in [
            "-A FORWARD -d 192.168.1.0/24 -p tcp --dport 80 -j ACCEPT\n",
            "-A FORWARD -i eth0 -j FWD\n",
            "-A FORWARD -m conntrack --ctstate DNAT -j ACCEPT\n",
        ] {
            assert!(
                found(&with_forward(rules), DnatNotForwarded).is_empty(),
                "{rules}"
            );
        }
        let open = lint_text(&format!("{NAT}*filter\n:FORWARD ACCEPT [0:0]\nCOMMIT\n"));
        assert!(found(&open, DnatNotForwarded).is_empty());
        assert!(found(&lint_text(NAT), DnatNotForwarded).is_empty());
    }
}
