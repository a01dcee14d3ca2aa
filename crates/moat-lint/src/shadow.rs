//! Shadowed, conflicting and impossible rules: rules no packet can reach
//! because earlier terminating rules of the same chain take all of them.
//!
//! A rule's packet set (a superset, when it has undecidable matches) minus
//! the exact sets of every earlier terminating rule is computed as a list of
//! boxes; an empty result proves the rule never matches. A difference that
//! grows past a cap counts as "may match", so a cap never causes a report.

use moat_model::Action;

use crate::describe::verdict;
use crate::finding::{Finding, FindingKind};
use crate::sig::Sig;
use crate::view::TableView;

/// The most boxes a difference may grow to before the check gives up on a rule.
pub const CAP: usize = 256;

/// The most covering rules whose list is shortened to the ones needed.
const MINIMISE_UP_TO: usize = 8;

/// Shadowed, conflicting and impossible rules of every chain of `view`;
/// returns, per chain, which rules were found unreachable.
pub fn check(view: &TableView<'_>, out: &mut Vec<Finding>) -> Vec<Vec<bool>> {
    (0..view.table.chains.len())
        .map(|c| check_chain(view, c, out))
        .collect()
}

fn check_chain(view: &TableView<'_>, chain: usize, out: &mut Vec<Finding>) -> Vec<bool> {
    let domain = &view.domain;
    let rules = &view.table.chains[chain].rules;
    let spaces = &view.spaces[chain];
    let sigs: Vec<Sig> = spaces.iter().map(|s| Sig::of(&s.cubes, domain)).collect();
    let takers: Vec<bool> = rules
        .iter()
        .zip(spaces)
        .map(|(r, s)| s.exact && view.is_terminal(&r.action))
        .collect();
    let mut dead = vec![false; rules.len()];
    for i in 0..rules.len() {
        let space = &spaces[i];
        if space.cubes.is_empty() {
            dead[i] = true;
            out.push(view.finding(
                FindingKind::Impossible,
                chain,
                Some(i),
                None,
                "never matches: its conditions contradict each other; fix them or delete the rule"
                    .into(),
            ));
            continue;
        }
        let Some(cover) = covering(view, chain, i, &sigs, &takers) else {
            continue;
        };
        dead[i] = true;
        out.push(report(view, chain, i, &cover));
    }
    dead
}

/// The earlier terminating rules that together take every packet of rule
/// `i`, in order, if they do.
fn covering(
    view: &TableView<'_>,
    chain: usize,
    i: usize,
    sigs: &[Sig],
    takers: &[bool],
) -> Option<Vec<usize>> {
    let domain = &view.domain;
    let spaces = &view.spaces[chain];
    let mut rest = spaces[i].cubes.clone();
    let mut used = Vec::new();
    for j in 0..i {
        if !takers[j] || !sigs[j].may_overlap(&sigs[i]) || !rest.intersects(&spaces[j].cubes) {
            continue;
        }
        used.push(j);
        rest = rest.subtract(&spaces[j].cubes, domain, CAP)?;
        if rest.is_empty() {
            return Some(minimise(view, chain, i, used));
        }
    }
    None
}

/// Drops covering rules the others do not need (for short lists).
fn minimise(view: &TableView<'_>, chain: usize, i: usize, mut used: Vec<usize>) -> Vec<usize> {
    let spaces = &view.spaces[chain];
    let domain = &view.domain;
    if let Some(&j) = used
        .iter()
        .find(|&&j| spaces[i].cubes.is_subset(&spaces[j].cubes, domain, CAP) == Some(true))
    {
        return vec![j];
    }
    if used.len() > MINIMISE_UP_TO {
        return used;
    }
    let mut k = used.len();
    while k > 0 {
        k -= 1;
        let without: Vec<usize> = used
            .iter()
            .enumerate()
            .filter(|&(n, _)| n != k)
            .map(|(_, &j)| j)
            .collect();
        let covered = without
            .iter()
            .try_fold(spaces[i].cubes.clone(), |rest, &j| {
                rest.subtract(&spaces[j].cubes, domain, CAP)
            })
            .is_some_and(|r| r.is_empty());
        if covered {
            used = without;
        }
    }
    used
}

fn same_set(view: &TableView<'_>, chain: usize, a: usize, b: usize) -> bool {
    let spaces = &view.spaces[chain];
    spaces[a].exact
        && spaces[b].exact
        && spaces[a]
            .cubes
            .is_subset(&spaces[b].cubes, &view.domain, CAP)
            == Some(true)
        && spaces[b]
            .cubes
            .is_subset(&spaces[a].cubes, &view.domain, CAP)
            == Some(true)
}

fn numbers(rules: &[usize]) -> String {
    let n: Vec<String> = rules.iter().map(|r| (r + 1).to_string()).collect();
    match n.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} and {last}", rest.join(", ")),
        _ => n.join(""),
    }
}

fn report(view: &TableView<'_>, chain: usize, i: usize, cover: &[usize]) -> Finding {
    let rules = &view.table.chains[chain].rules;
    let first = cover.first().copied().unwrap_or(0);
    let related = Some(view.related(chain, first));
    if let [j] = *cover {
        let (mine, theirs): (&Action, &Action) = (&rules[i].action, &rules[j].action);
        let text = view.text(chain, j);
        let n = j + 1;
        if same_set(view, chain, i, j) {
            if view.is_terminal(mine) && mine != theirs {
                let message = format!(
                    "conflicts with rule {n} ({text}): both match the same packets, so rule {n}'s {} always wins and this rule's {} never applies; delete the one you do not mean",
                    verdict(theirs),
                    verdict(mine)
                );
                return view.finding(FindingKind::Conflicting, chain, Some(i), related, message);
            }
            if mine == theirs {
                let message = format!(
                    "never matches: it repeats rule {n} ({text}), which takes the same packets first; delete it"
                );
                return view.finding(FindingKind::Shadowed, chain, Some(i), related, message);
            }
        }
        let message = format!(
            "never matches: rule {n} ({text}) takes every packet it would; move it above rule {n} or delete it"
        );
        return view.finding(FindingKind::Shadowed, chain, Some(i), related, message);
    }
    let message = format!(
        "never matches: rules {} together take every packet it would; move it above rule {} or delete it",
        numbers(cover),
        first + 1
    );
    view.finding(FindingKind::Shadowed, chain, Some(i), related, message)
}

#[cfg(test)]
mod tests {
    use crate::testkit::{at, found, lint_text};
    use crate::FindingKind::{Conflicting, Impossible, Shadowed};

    #[test]
    fn catch_all_drop_shadows_later_rules() {
        let f = lint_text(
            "*filter\n:INPUT ACCEPT [0:0]\n\
             -A INPUT -p tcp --dport 22 -j ACCEPT\n\
             -A INPUT -j DROP\n\
             -A INPUT -p tcp --dport 8080 -j ACCEPT\n\
             -A INPUT -p tcp --dport 5432 -j ACCEPT\n\
             COMMIT\n",
        );
        assert_eq!(found(&f, Shadowed), at(&[("INPUT", 3), ("INPUT", 4)]));
        let s = f
            .iter()
            .find(|f| f.rule == 3)
            .map(ToString::to_string)
            .unwrap_or_default();
        assert_eq!(
            s,
            "filter INPUT rule 3 (-A INPUT -p tcp -m tcp --dport 8080 -j ACCEPT): never matches: rule 2 (-A INPUT -j DROP) takes every packet it would; move it above rule 2 or delete it"
        );
    }

    #[test]
    fn two_halves_together_shadow_an_address() {
        let f = lint_text(
            "*filter\n:INPUT ACCEPT [0:0]\n\
             -A INPUT -s 10.0.0.0/9 -j DROP\n\
             -A INPUT -p udp -j ACCEPT\n\
             -A INPUT -s 10.128.0.0/9 -j DROP\n\
             -A INPUT -s 10.1.2.3/32 -j ACCEPT\n\
             -A INPUT -s 10.200.0.0/16 -p tcp --dport 22 -j ACCEPT\n\
             COMMIT\n",
        );
        assert_eq!(found(&f, Shadowed), at(&[("INPUT", 4), ("INPUT", 5)]));
        assert!(f[0].message.contains("rule 1 ("), "{}", f[0]);
        assert!(f[1].message.contains("rule 3 ("), "{}", f[1]);
        let f = lint_text(
            "*filter\n:INPUT ACCEPT [0:0]\n\
             -A INPUT -s 10.0.0.0/9 -j DROP\n\
             -A INPUT -s 10.128.0.0/9 -j DROP\n\
             -A INPUT -s 10.0.0.0/8 -j ACCEPT\n\
             COMMIT\n",
        );
        assert_eq!(found(&f, Shadowed), at(&[("INPUT", 3)]));
        assert!(f[0].message.contains("rules 1 and 2 together"), "{}", f[0]);
    }

    #[test]
    fn partial_overlap_and_undecidable_rules_do_not_shadow() {
        let f = lint_text(
            "*filter\n:INPUT ACCEPT [0:0]\n\
             -A INPUT -s 10.0.0.0/9 -j DROP\n\
             -A INPUT -s 10.0.0.0/8 -j ACCEPT\n\
             -A INPUT -p tcp -m limit --limit 5/min -j DROP\n\
             -A INPUT -p tcp --dport 22 -j ACCEPT\n\
             -A INPUT -p tcp -m recent --name x --rcheck -j DROP\n\
             -A INPUT -p tcp --dport 23 -j ACCEPT\n\
             -A INPUT -p tcp -j LOG\n\
             -A INPUT -p tcp --dport 24 -j ACCEPT\n\
             -A INPUT -p tcp ! --dport 25 -j DROP\n\
             -A INPUT -p tcp --dport 25 -j ACCEPT\n\
             -A INPUT -p tcp -f -j ACCEPT\n\
             COMMIT\n",
        );
        assert!(f.iter().all(|f| f.kind != Shadowed), "{f:#?}");
    }

    #[test]
    fn undecidable_rule_is_still_shadowed_by_a_cover() {
        let f = lint_text(
            "*filter\n:INPUT ACCEPT [0:0]\n\
             -A INPUT -p tcp -j ACCEPT\n\
             -A INPUT -p tcp --dport 22 -m limit --limit 5/min -j DROP\n\
             COMMIT\n",
        );
        assert_eq!(found(&f, Shadowed), at(&[("INPUT", 2)]));
    }

    #[test]
    fn interfaces_prefixes_states_and_negations_are_decided() {
        let f = lint_text(
            "*filter\n:FORWARD ACCEPT [0:0]\n\
             -A FORWARD -i eth+ -j DROP\n\
             -A FORWARD -i eth0 -p tcp -j ACCEPT\n\
             -A FORWARD -i wlan0 -j ACCEPT\n\
             -A FORWARD -m conntrack --ctstate NEW,INVALID -j DROP\n\
             -A FORWARD ! -i wlan0 -m conntrack --ctstate INVALID -j ACCEPT\n\
             -A FORWARD ! -i wlan0 -m conntrack --ctstate ESTABLISHED -j ACCEPT\n\
             -A FORWARD -m conntrack ! --ctstate NEW -j ACCEPT\n\
             -A FORWARD -m conntrack --ctstate NEW -o eth1 -j ACCEPT\n\
             COMMIT\n",
        );
        assert_eq!(
            found(&f, Shadowed),
            at(&[("FORWARD", 2), ("FORWARD", 5), ("FORWARD", 8)])
        );
    }

    #[test]
    fn ports_ranges_and_multiport_are_decided() {
        let f = lint_text(
            "*filter\n:INPUT ACCEPT [0:0]\n\
             -A INPUT -p tcp -m multiport --dports 20:30,80 -j ACCEPT\n\
             -A INPUT -p tcp --dport 25 -j DROP\n\
             -A INPUT -p tcp -m multiport --ports 1000:2000 -j DROP\n\
             -A INPUT -p tcp --sport 1500 -j ACCEPT\n\
             -A INPUT -p tcp --dport 1999 -j ACCEPT\n\
             -A INPUT -p udp --dport 1999 -j ACCEPT\n\
             -A INPUT -p tcp --syn -j DROP\n\
             -A INPUT -p tcp --tcp-flags SYN,ACK SYN --dport 443 -j ACCEPT\n\
             -A INPUT -p icmp --icmp-type echo-request -j ACCEPT\n\
             -A INPUT -p icmp --icmp-type 8/0 -j DROP\n\
             COMMIT\n",
        );
        assert_eq!(
            found(&f, Shadowed),
            at(&[("INPUT", 2), ("INPUT", 4), ("INPUT", 5), ("INPUT", 10)])
        );
    }

    #[test]
    fn same_packets_with_another_verdict_conflict() {
        let f = lint_text(
            "*filter\n:INPUT DROP [0:0]\n\
             -A INPUT -s 192.168.1.0/24 -p tcp --dport 22 -j ACCEPT\n\
             -A INPUT -p tcp -s 192.168.1.0/24 --dport 22 -j DROP\n\
             -A INPUT -s 192.168.1.0/24 -p tcp --dport 22 -j ACCEPT\n\
             -A INPUT -m conntrack --ctstate ESTABLISHED -j ACCEPT\n\
             COMMIT\n",
        );
        assert_eq!(found(&f, Conflicting), at(&[("INPUT", 2)]));
        assert_eq!(found(&f, Shadowed), at(&[("INPUT", 3)]));
        assert!(f[0].message.contains("ACCEPT always wins"), "{}", f[0]);
        assert!(f[1].message.contains("repeats rule 1"), "{}", f[1]);
    }

    #[test]
    fn same_packets_with_a_non_terminal_action_are_plainly_shadowed() {
        let f = lint_text(
            "*filter\n:INPUT ACCEPT [0:0]\n\
             -A INPUT -p tcp -j DROP\n\
             -A INPUT -p tcp -j LOG\n\
             COMMIT\n",
        );
        assert_eq!(found(&f, Shadowed), at(&[("INPUT", 2)]));
        assert!(
            f[0].message
                .contains("rule 1 (-A INPUT -p tcp -j DROP) takes every packet it would"),
            "{}",
            f[0]
        );
    }

    #[test]
    fn contradictions_are_impossible() {
        let f = lint_text(
            "*filter\n:INPUT ACCEPT [0:0]\n\
             -A INPUT -s 10.0.0.0/8 -m iprange ! --src-range 10.0.0.0-10.255.255.255 -j DROP\n\
             COMMIT\n",
        );
        assert_eq!(found(&f, Impossible), at(&[("INPUT", 1)]));
    }

    #[test]
    fn marks_are_only_compared_where_no_rule_changes_them() {
        let text = |set: &str| {
            format!(
                "*mangle\n:PREROUTING ACCEPT [0:0]\n\
                 -A PREROUTING -m mark --mark 0x1 -j ACCEPT\n{set}\
                 -A PREROUTING -m mark --mark 0x1 -p tcp -j ACCEPT\n\
                 COMMIT\n"
            )
        };
        assert_eq!(found(&lint_text(&text("")), Shadowed).len(), 1);
        let set = "-A PREROUTING -j MARK --set-mark 0x2\n";
        assert!(found(&lint_text(&text(set)), Shadowed).is_empty());
    }

    #[test]
    fn return_and_goto_and_ending_jumps_take_packets() {
        let f = lint_text(
            "*filter\n:INPUT ACCEPT [0:0]\n:END - [0:0]\n:MAYBE - [0:0]\n\
             -A INPUT -p tcp -j MAYBE\n\
             -A INPUT -p tcp --dport 1 -j ACCEPT\n\
             -A INPUT -p udp -j END\n\
             -A INPUT -p udp --dport 1 -j ACCEPT\n\
             -A INPUT -p icmp -g MAYBE\n\
             -A INPUT -p icmp -j ACCEPT\n\
             -A END -j LOG\n\
             -A END -j DROP\n\
             -A MAYBE -s 10.0.0.0/8 -j RETURN\n\
             -A MAYBE -j ACCEPT\n\
             -A MAYBE -s 10.1.0.0/16 -j DROP\n\
             COMMIT\n",
        );
        assert_eq!(found(&f, Shadowed), at(&[("INPUT", 4), ("MAYBE", 3)]));
        assert_eq!(found(&f, Conflicting), at(&[("INPUT", 6)]));
    }
}

#[cfg(test)]
mod ipv6_tests {
    use moat_model::Family;

    use crate::testkit::{at, found, tables_of};
    use crate::FindingKind::Shadowed;

    #[test]
    fn ipv6_prefixes_are_decided() {
        let t = tables_of(
            Family::Ipv6,
            "*filter\n:INPUT ACCEPT [0:0]\n\
             -A INPUT -s 2001:db8::/33 -j DROP\n\
             -A INPUT -s 2001:db8:8000::/33 -j DROP\n\
             -A INPUT -s 2001:db8::/32 -p tcp --dport 22 -j ACCEPT\n\
             -A INPUT -s 2001:db9::/32 -j ACCEPT\n\
             -A INPUT -p ipv6-icmp --icmpv6-type echo-request -j ACCEPT\n\
             -A INPUT -p ipv6-icmp -j DROP\n\
             -A INPUT -p ipv6-icmp --icmpv6-type 128/0 -j ACCEPT\n\
             COMMIT\n",
        );
        let f = crate::lint(&t);
        assert_eq!(found(&f, Shadowed), at(&[("INPUT", 3), ("INPUT", 7)]));
        assert!(
            f[0].to_string().starts_with("ip6 filter INPUT rule 3"),
            "{}",
            f[0]
        );
        assert!(f[0].message.contains("rules 1 and 2 together"), "{}", f[0]);
    }
}
