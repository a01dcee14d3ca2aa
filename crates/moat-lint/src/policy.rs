//! DROP policies without an accept of ESTABLISHED packets (the replies to
//! connections opened from the other side would be dropped), and DROP
//! policies in the nat table (seed 004's: every new connection no nat
//! rule takes is dropped, the port forward's own at POSTROUTING included).

use moat_model::{Action, ConnStates, Hook, Match, Policy, Stage};

use crate::finding::{Finding, FindingKind};
use crate::view::TableView;

/// Filter base chains with policy DROP that never accept established
/// traffic, and nat base chains with policy DROP.
pub fn check(view: &TableView<'_>, out: &mut Vec<Finding>) {
    match view.table.stage {
        Stage::Filter => established(view, out),
        Stage::Nat => nat_drop(view, out),
        _ => {}
    }
}

/// nat base chains with policy DROP: nat chains see only the first packet
/// of each connection, and are for address translation.
fn nat_drop(view: &TableView<'_>, out: &mut Vec<Finding>) {
    for (c, chain) in view.table.chains.iter().enumerate() {
        let Some((_, Policy::Drop)) = chain.base else {
            continue;
        };
        let message = format!(
            "policy DROP in the nat table drops every new connection that no rule of nat {0} takes (translated connections included, when another nat chain passes them on); nat chains are for address translation, so filter in the filter table and set -t nat -P {0} ACCEPT",
            chain.name
        );
        out.push(view.finding(FindingKind::NatDropPolicy, c, None, None, message));
    }
}

fn established(view: &TableView<'_>, out: &mut Vec<Finding>) {
    for (c, chain) in view.table.chains.iter().enumerate() {
        let Some((hook, Policy::Drop)) = chain.base else {
            continue;
        };
        let accepts: Vec<(usize, usize)> = view
            .graph
            .reached_from(c)
            .into_iter()
            .flat_map(|rc| {
                view.table.chains[rc]
                    .rules
                    .iter()
                    .enumerate()
                    .filter(|(_, r)| r.action == Action::Accept)
                    .map(move |(ri, _)| (rc, ri))
            })
            .collect();
        if hook == Hook::Forward && accepts.is_empty() {
            continue;
        }
        let established = accepts.iter().any(|&(rc, ri)| {
            let rule = &view.table.chains[rc].rules[ri];
            view.spaces[rc][ri].cubes.is_all()
                || rule.matches.iter().any(|m| match m {
                    Match::ConnState { states, negate } => {
                        states.contains(ConnStates::ESTABLISHED) != *negate
                    }
                    _ => false,
                })
        });
        if established {
            continue;
        }
        let whose = match hook {
            Hook::Input => "replies to connections this host opens",
            Hook::Output => "this host's replies to connections it accepts",
            _ => "replies to forwarded connections",
        };
        let message = format!(
            "policy DROP but no rule accepts packets of established connections, so {whose} are dropped; add -A {} -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT near the top",
            chain.name
        );
        out.push(view.finding(FindingKind::NoEstablishedAccept, c, None, None, message));
    }
}

#[cfg(test)]
mod tests {
    use crate::testkit::{at, found, lint_text};
    use crate::FindingKind::NoEstablishedAccept;

    #[test]
    fn drop_policy_without_established_accept() {
        let f = lint_text(
            "*filter\n:INPUT DROP [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT DROP [0:0]\n\
             -A INPUT -i lo -j ACCEPT\n\
             -A INPUT -p tcp --dport 22 -j ACCEPT\n\
             -A OUTPUT -j ACCEPT\n\
             COMMIT\n",
        );
        assert_eq!(found(&f, NoEstablishedAccept), at(&[("INPUT", 0)]));
        assert_eq!(
            f.iter()
                .find(|f| f.kind == NoEstablishedAccept)
                .map(|f| f.text.as_str()),
            Some("-P INPUT DROP")
        );
    }

    #[test]
    fn nat_drop_policies_are_found_and_accept_ones_are_not() {
        let f = lint_text(
            "*nat\n:PREROUTING DROP [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT DROP [0:0]\n:POSTROUTING ACCEPT [0:0]\n\
             -A PREROUTING -i eth0 -p tcp --dport 7070 -j DNAT --to-destination 192.168.1.43:80\n\
             COMMIT\n",
        );
        assert_eq!(
            found(&f, crate::FindingKind::NatDropPolicy),
            at(&[("PREROUTING", 0), ("OUTPUT", 0)])
        );
    }

    #[test]
    fn established_accepts_anywhere_below_count() {
        let f = lint_text(
            "*filter\n:INPUT DROP [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT DROP [0:0]\n:state-in - [0:0]\n\
             -A INPUT -j state-in\n\
             -A state-in -m state --state RELATED,ESTABLISHED -j ACCEPT\n\
             -A FORWARD -s 10.0.0.0/8 -j ACCEPT\n\
             -A FORWARD -m conntrack ! --ctstate NEW,INVALID -j ACCEPT\n\
             -A OUTPUT -m conntrack --ctstate NEW -j ACCEPT\n\
             COMMIT\n",
        );
        assert_eq!(found(&f, NoEstablishedAccept), at(&[("OUTPUT", 0)]));
    }
}
