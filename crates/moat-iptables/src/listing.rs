//! `-L` tables and `-S` rule listings, in iptables' exact layout.

use std::borrow::Cow;

use moat_model::{Counters, Family, Policy, Stage, Table};

use crate::command::Display;
use crate::rule::ListingRow;
use crate::state::{StateChain, StoredChain, TableState};

fn policy_word(policy: Policy) -> &'static str {
    match policy {
        Policy::Accept => "ACCEPT",
        Policy::Drop => "DROP",
    }
}

/// A counter value scaled as iptables shows it: up to 99999 as is, then K, M, G, T (steps of 1000).
fn scaled(mut n: u64) -> (u64, &'static str) {
    if n <= 99_999 {
        return (n, "");
    }
    for suffix in ["K", "M", "G", "T"] {
        n /= 1000;
        if n <= 9_999 {
            return (n, suffix);
        }
    }
    (n, "T")
}

/// A counter in a rule line: right-aligned in a 5-wide (or, exact, 8-wide) column.
fn counter_column(n: u64, exact: bool) -> String {
    if exact {
        return format!("{n:>8} ");
    }
    match scaled(n) {
        (v, "") => format!("{v:>5} "),
        (v, s) => format!("{v:>4}{s} "),
    }
}

/// A counter in a chain header line.
fn counter_inline(n: u64, exact: bool) -> String {
    if exact {
        return format!("{n} ");
    }
    let (v, s) = scaled(n);
    format!("{v}{s} ")
}

fn with_inverse_slot(text: &str) -> String {
    if text.starts_with('!') {
        text.to_string()
    } else {
        format!(" {text}")
    }
}

fn format_line(
    num: Option<String>,
    counters: Option<(String, String)>,
    row: &ListingRow,
    display: Display,
) -> String {
    let mut line = String::new();
    if let Some(n) = num {
        line.push_str(&format!("{n:<4} "));
    }
    if let Some((p, b)) = counters {
        line.push_str(&p);
        line.push_str(&b);
    }
    line.push_str(&format!("{:<9} ", row.target));
    line.push_str(&format!("{:<5} ", with_inverse_slot(&row.prot)));
    line.push_str(&format!("{:<3}", row.opt));
    if display.verbose {
        line.push_str(&format!("{:<7}", with_inverse_slot(&row.iface_in)));
        line.push_str(&format!("{:<8}", with_inverse_slot(&row.iface_out)));
    }
    line.push_str(&format!("{:<20} ", with_inverse_slot(&row.source)));
    line.push_str(&format!("{:<20} ", with_inverse_slot(&row.destination)));
    line.push_str(&row.extra);
    line
}

fn header_line(display: Display) -> String {
    let row = ListingRow {
        target: "target".into(),
        prot: "prot".into(),
        opt: "opt".into(),
        iface_in: "in".into(),
        iface_out: "out".into(),
        source: "source".into(),
        destination: "destination".into(),
        extra: String::new(),
    };
    let counters = display.verbose.then(|| {
        if display.exact {
            ("    pkts ".to_string(), "     bytes ".to_string())
        } else {
            (" pkts ".to_string(), "bytes ".to_string())
        }
    });
    format_line(
        display.line_numbers.then(|| "num".to_string()),
        counters,
        &row,
        display,
    )
}

fn interface_column(name: &str, numeric: bool) -> String {
    match name {
        "" | "*" | "any" => if numeric { "*" } else { "any" }.to_string(),
        other => other.to_string(),
    }
}

fn rule_line(index: usize, row: ListingRow, counters: Counters, display: Display) -> String {
    let row = ListingRow {
        iface_in: interface_column(&row.iface_in, display.numeric),
        iface_out: interface_column(&row.iface_out, display.numeric),
        ..row
    };
    let counters = display.verbose.then(|| {
        (
            counter_column(counters.packets, display.exact),
            counter_column(counters.bytes, display.exact),
        )
    });
    format_line(
        display.line_numbers.then(|| index.to_string()),
        counters,
        &row,
        display,
    )
}

fn chain_title(state: &TableState, chain: &StateChain, display: Display) -> String {
    match chain.base {
        Some((_, policy)) if display.verbose => format!(
            "Chain {} (policy {} {}packets, {}bytes)",
            chain.name,
            policy_word(policy),
            counter_inline(chain.policy_counters.packets, display.exact),
            counter_inline(chain.policy_counters.bytes, display.exact)
        ),
        Some((_, policy)) => format!("Chain {} (policy {})", chain.name, policy_word(policy)),
        None => format!(
            "Chain {} ({} references)",
            chain.name,
            state.references(&chain.name)
        ),
    }
}

/// The chain `chain` names, or every chain in listing order.
fn selected<'a>(state: &'a TableState, chain: Option<&str>) -> Result<Vec<&'a StateChain>, String> {
    match chain {
        Some(name) => state
            .chain(name)
            .map(|c| vec![c])
            .ok_or_else(|| format!("no chain `{name}' in this table")),
        None => Ok(state.listing_order()),
    }
}

/// The `-L` listing of one chain or of all chains.
pub fn list_chains(
    state: &TableState,
    chain: Option<&str>,
    num: Option<usize>,
    display: Display,
) -> Result<String, String> {
    let chains = selected(state, chain)?;
    let mut blocks = Vec::new();
    for c in chains {
        let mut lines = Vec::new();
        if num.is_none() {
            lines.push(chain_title(state, c, display));
            lines.push(header_line(display));
        }
        for (i, r) in c.rules.iter().enumerate() {
            if num.is_some_and(|n| n != i + 1) {
                continue;
            }
            lines.push(rule_line(
                i + 1,
                r.spec.listing(display.numeric),
                r.rule.counters,
                display,
            ));
        }
        blocks.push(lines.into_iter().map(|l| l + "\n").collect::<String>());
    }
    Ok(blocks.join("\n"))
}

/// `-c PKTS BYTES ` for `-S -v`.
fn counters_option(counters: Counters) -> String {
    format!("-c {} {} ", counters.packets, counters.bytes)
}

/// One chain as `-S` prints it: its policy or `-N` line, then each rule's
/// counters and canonical text.
struct RuleLines<'a> {
    name: &'a str,
    policy: Option<Policy>,
    policy_counters: Counters,
    rules: Vec<(Counters, Cow<'a, str>)>,
}

/// The `-S` listing of `chains` (already in listing order).
fn write_rule_lines(chains: &[RuleLines<'_>], num: Option<usize>, display: Display) -> String {
    let mut out = String::new();
    if num.is_none() {
        for c in chains {
            match c.policy {
                Some(policy) if display.verbose => out.push_str(&format!(
                    "-P {} {} {}\n",
                    c.name,
                    policy_word(policy),
                    counters_option(c.policy_counters).trim_end()
                )),
                Some(policy) => out.push_str(&format!("-P {} {}\n", c.name, policy_word(policy))),
                None => out.push_str(&format!("-N {}\n", c.name)),
            }
        }
    }
    for c in chains {
        for (i, (counters, text)) in c.rules.iter().enumerate() {
            if num.is_some_and(|n| n != i + 1) {
                continue;
            }
            let counters = if display.verbose {
                counters_option(*counters)
            } else {
                String::new()
            };
            let line = format!("-A {} {}{}", c.name, counters, text);
            out.push_str(line.trim_end());
            out.push('\n');
        }
    }
    out
}

/// The `-S` listing of one chain or of all chains.
pub fn list_rules(
    state: &TableState,
    chain: Option<&str>,
    num: Option<usize>,
    display: Display,
) -> Result<String, String> {
    let chains: Vec<RuleLines<'_>> = selected(state, chain)?
        .into_iter()
        .map(|c| RuleLines {
            name: &c.name,
            policy: c.base.map(|(_, p)| p),
            policy_counters: c.policy_counters,
            rules: c
                .rules
                .iter()
                .map(|r| (r.rule.counters, Cow::Owned(r.spec.to_args())))
                .collect(),
        })
        .collect();
    Ok(write_rule_lines(&chains, num, display))
}

/// The `-S` listing straight from the kernel's stored chains, without
/// reading any rule again: a rule's stored source is the text `-S` prints.
/// `None` when the full path must answer: a rule without stored source,
/// built-in chains other than `family`'s and `stage`'s, or no chain `chain`.
pub fn list_stored_rules(
    family: Family,
    stage: Stage,
    stored: &[StoredChain],
    chain: Option<&str>,
    num: Option<usize>,
    display: Display,
) -> Option<String> {
    let builtins: Vec<&StoredChain> = stored.iter().filter(|c| c.base.is_some()).collect();
    let expected = Table::new(family, stage);
    if builtins.len() != expected.chains.len()
        || builtins
            .iter()
            .zip(&expected.chains)
            .any(|(have, want)| have.name != want.name)
    {
        return None;
    }
    let mut order = builtins;
    let mut user: Vec<&StoredChain> = stored.iter().filter(|c| c.base.is_none()).collect();
    user.sort_by(|a, b| a.name.cmp(&b.name));
    order.extend(user);
    if let Some(name) = chain {
        order.retain(|c| c.name == name);
        if order.is_empty() {
            return None;
        }
    }
    let chains = order
        .into_iter()
        .map(|c| {
            let rules = c
                .rules
                .iter()
                .map(|r| Some((r.counters, Cow::Borrowed(r.source.as_deref()?))))
                .collect::<Option<Vec<_>>>()?;
            Some(RuleLines {
                name: &c.name,
                policy: c.base.map(|(_, p)| p),
                policy_counters: c.policy_counters,
                rules,
            })
        })
        .collect::<Option<Vec<_>>>()?;
    Some(write_rule_lines(&chains, num, display))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_scale_like_iptables() {
        assert_eq!(counter_column(0, false), "    0 ");
        assert_eq!(counter_column(99_999, false), "99999 ");
        assert_eq!(counter_column(100_000, false), " 100K ");
        assert_eq!(counter_column(1_076_000, false), "1076K ");
        assert_eq!(counter_column(85_000_000, false), "  85M ");
        assert_eq!(counter_column(44_000_000_000, false), "  44G ");
        assert_eq!(counter_inline(527_000, false), "527K ");
        assert_eq!(counter_column(123_456_789, true), "123456789 ");
    }

    #[test]
    fn header_matches_iptables_layout() {
        let verbose = Display {
            verbose: true,
            numeric: true,
            ..Display::default()
        };
        assert_eq!(
            header_line(verbose),
            " pkts bytes target     prot opt in     out     source               destination         "
        );
        assert_eq!(
            header_line(Display::default()),
            "target     prot opt source               destination         "
        );
        let numbered = Display {
            line_numbers: true,
            ..Display::default()
        };
        assert_eq!(
            header_line(numbered),
            "num  target     prot opt source               destination         "
        );
        let exact = Display {
            verbose: true,
            exact: true,
            numeric: true,
            ..Display::default()
        };
        assert_eq!(
            header_line(exact),
            "    pkts      bytes target     prot opt in     out     source               destination         "
        );
    }

    #[test]
    fn rule_line_matches_iptables_layout() {
        let row = ListingRow {
            target: "REJECT".into(),
            prot: "6".into(),
            opt: "--".into(),
            iface_in: "*".into(),
            iface_out: "*".into(),
            source: "0.0.0.0/0".into(),
            destination: "0.0.0.0/0".into(),
            extra: " tcp dpt:80 reject-with icmp-port-unreachable".into(),
        };
        let verbose = Display {
            verbose: true,
            numeric: true,
            ..Display::default()
        };
        assert_eq!(
            rule_line(1, row.clone(), Counters::default(), verbose),
            "    0     0 REJECT     6    --  *      *       0.0.0.0/0            0.0.0.0/0            tcp dpt:80 reject-with icmp-port-unreachable"
        );
        let long = ListingRow {
            target: "averyveryverylongchainname".into(),
            prot: "17".into(),
            opt: "-f".into(),
            extra: String::new(),
            ..row
        };
        assert_eq!(
            rule_line(1, long, Counters::default(), verbose),
            "    0     0 averyveryverylongchainname  17   -f  *      *       0.0.0.0/0            0.0.0.0/0           "
        );
    }
}
