//! Interface matches on a side of the packet that the chain's hooks never
//! have: `-i` where packets only leave, `-o` where they only arrive.

use moat_model::{ruleset::hook_chain_name, Match};

use crate::finding::{Finding, FindingKind};
use crate::graph::Hooks;
use crate::view::TableView;

/// Interface tests in the wrong hook, in chains reached from a base chain;
/// `dead` marks rules that never match anyway.
pub fn check(view: &TableView<'_>, dead: &[Vec<bool>], out: &mut Vec<Finding>) {
    for (c, chain) in view.table.chains.iter().enumerate() {
        let hooks = view.graph.hooks[c];
        let no_in = hooks.all(|h| !h.has_input_interface());
        let no_out = hooks.all(|h| !h.has_output_interface());
        if !no_in && !no_out {
            continue;
        }
        for (r, rule) in chain.rules.iter().enumerate() {
            if dead[c][r] {
                continue;
            }
            for m in &rule.matches {
                let (flag, other, iface, negate) = match m {
                    Match::InInterface { iface, negate } if no_in => ("-i", "-o", iface, *negate),
                    Match::OutInterface { iface, negate } if no_out => ("-o", "-i", iface, *negate),
                    _ => continue,
                };
                let side = if flag == "-i" { "input" } else { "output" };
                let name = format!("{}{}", iface.name, if iface.wildcard { "+" } else { "" });
                let from = hook_names(hooks);
                let message = if negate {
                    format!(
                        "! {flag} {name} always holds: packets here (reached only from {from}) have no {side} interface; delete the test or use {other}"
                    )
                } else {
                    format!(
                        "never matches: packets here (reached only from {from}) have no {side} interface, so {flag} {name} never holds; use {other} or move the rule"
                    )
                };
                out.push(view.finding(FindingKind::WrongHookInterface, c, Some(r), None, message));
            }
        }
    }
}

fn hook_names(hooks: Hooks) -> String {
    let names: Vec<&str> = hooks.iter().map(hook_chain_name).collect();
    match names.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} and {last}", rest.join(", ")),
        _ => names.join(""),
    }
}

#[cfg(test)]
mod tests {
    use crate::testkit::{at, found, unchecked_tables};
    use crate::FindingKind::WrongHookInterface;

    #[test]
    fn input_interface_in_an_output_only_chain() {
        let f = crate::lint(&unchecked_tables(
            "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:OUT - [0:0]\n:IN - [0:0]\n:BOTH - [0:0]\n\
             -A OUTPUT -j OUT\n\
             -A INPUT -j IN\n\
             -A FORWARD -j BOTH\n\
             -A OUTPUT -j BOTH\n\
             -A OUT -i eth0 -j DROP\n\
             -A OUT ! -i eth0 -j ACCEPT\n\
             -A OUT -o eth0 -j ACCEPT\n\
             -A IN -o eth+ -j DROP\n\
             -A IN -i eth0 -j DROP\n\
             -A BOTH -i eth0 -j DROP\n\
             COMMIT\n",
        ));
        assert_eq!(
            found(&f, WrongHookInterface),
            at(&[("OUT", 1), ("OUT", 2), ("IN", 1)])
        );
        let s = f
            .iter()
            .find(|f| f.chain == "IN")
            .map(ToString::to_string)
            .unwrap_or_default();
        assert!(
            s.contains("reached only from INPUT) have no output interface, so -o eth+ never holds"),
            "{s}"
        );
        assert!(f
            .iter()
            .any(|f| f.message.starts_with("! -i eth0 always holds")));
    }
}
