//! `-L` tables and `-S` rule listings, in iptables' exact layout.

use std::borrow::Cow;
use std::collections::HashMap;

use moat_model::{Counters, Family, Policy, Stage, Table};

use crate::command::Display;
use crate::rule::ListingRow;
use crate::state::{read_per_chain, spec_of_source, StateChain, StoredChain, TableState};

fn policy_word(policy: Policy) -> &'static str {
    match policy {
        Policy::Accept => "ACCEPT",
        Policy::Drop => "DROP",
    }
}

/// A counter value scaled as iptables shows it: up to 99999 as is, then K,
/// M, G, T, each step of 1000 rounded to the nearest (999999 is 1000K), in
/// 64-bit arithmetic that wraps as C's does.
fn scaled(mut n: u64) -> (u64, &'static str) {
    if n <= 99_999 {
        return (n, "");
    }
    for suffix in ["K", "M", "G", "T"] {
        n = n.wrapping_add(500) / 1000;
        if n <= 9_999 || suffix == "T" {
            return (n, suffix);
        }
    }
    (n, "T")
}

/// A counter in a rule line: right-aligned in a 5-wide (or, exact, 8-wide) column.
fn counter_column(n: u64, exact: bool) -> String {
    let (v, suffix, width) = match (exact, scaled(n)) {
        (true, _) => (n, "", 8),
        (false, (v, "")) => (v, "", 5),
        (false, (v, s)) => (v, s, 4),
    };
    let digits = v.to_string();
    let mut out = String::with_capacity(width + 2);
    push_spaces(&mut out, width.saturating_sub(digits.len()));
    out.push_str(&digits);
    out.push_str(suffix);
    out.push(' ');
    out
}

/// Appends `n` spaces.
fn push_spaces(out: &mut String, n: usize) {
    const SPACES: &str = "                                ";
    let mut left = n;
    while left > 0 {
        let step = left.min(SPACES.len());
        out.push_str(&SPACES[..step]);
        left -= step;
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

/// Room a rule's `-L` line is written into: its columns (about 100
/// characters with `-v`) and a few matches, so that most lines are not
/// moved as they grow; each is then kept at its length.
const LINE_CAPACITY: usize = 192;

/// Writes `text` left-aligned in `width` characters (iptables' `%-Ns`);
/// with `inverse_slot`, a text that does not start with `!` gets a leading
/// space, the slot where iptables prints `!`.
fn push_column(out: &mut String, text: &str, width: usize, inverse_slot: bool) {
    let start = out.len();
    if inverse_slot && !text.starts_with('!') {
        out.push(' ');
    }
    out.push_str(text);
    // Bytes, as C's printf("%-9s") counts them.
    push_spaces(out, width.saturating_sub(out.len() - start));
}

/// Writes one `-L` line (without its newline) to `out`.
fn write_line(
    out: &mut String,
    num: Option<&str>,
    counters: Option<(&str, &str)>,
    row: &ListingRow,
    display: Display,
) {
    if let Some(n) = num {
        push_column(out, n, 4, false);
        out.push(' ');
    }
    if let Some((p, b)) = counters {
        out.push_str(p);
        out.push_str(b);
    }
    push_column(out, &row.target, 9, false);
    out.push(' ');
    push_column(out, &row.prot, 5, true);
    out.push(' ');
    push_column(out, &row.opt, 3, false);
    if display.verbose {
        // iptables' " %-6s %-6s ": a long or negated name pushes the rest
        // right instead of eating the spaces.
        out.push(' ');
        push_column(out, &row.iface_in, 6, false);
        out.push(' ');
        push_column(out, &row.iface_out, 6, false);
        out.push(' ');
    }
    push_column(out, &row.source, 20, true);
    out.push(' ');
    push_column(out, &row.destination, 20, true);
    out.push(' ');
    out.push_str(&row.extra);
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
    let counters = display.verbose.then_some(if display.exact {
        ("    pkts ", "     bytes ")
    } else {
        (" pkts ", "bytes ")
    });
    let mut line = String::new();
    let num = display.line_numbers.then_some("num");
    write_line(&mut line, num, counters, &row, display);
    line
}

/// Writes the `-L` line of rule `index` to `out`.
fn write_rule_line(
    out: &mut String,
    index: usize,
    row: &ListingRow,
    counters: Counters,
    display: Display,
) {
    let packets;
    let bytes;
    let counters = if display.verbose {
        packets = counter_column(counters.packets, display.exact);
        bytes = counter_column(counters.bytes, display.exact);
        Some((packets.as_str(), bytes.as_str()))
    } else {
        None
    };
    let num = display.line_numbers.then(|| index.to_string());
    write_line(out, num.as_deref(), counters, row, display);
}

#[cfg(test)]
fn rule_line(index: usize, row: ListingRow, counters: Counters, display: Display) -> String {
    let mut line = String::new();
    write_rule_line(&mut line, index, &row, counters, display);
    line
}

fn chain_title(state: &TableState, chain: &StateChain, display: Display) -> String {
    let references = || state.references(&chain.name);
    title(
        &chain.name,
        chain.base.map(|(_, p)| p),
        chain.policy_counters,
        references,
        display,
    )
}

/// A chain's title line: a built-in chain's policy (and counters with
/// `-v`), a user chain's number of references.
fn title(
    name: &str,
    policy: Option<Policy>,
    policy_counters: Counters,
    references: impl FnOnce() -> usize,
    display: Display,
) -> String {
    match policy {
        Some(policy) if display.verbose => format!(
            "Chain {} (policy {} {}packets, {}bytes)",
            name,
            policy_word(policy),
            counter_inline(policy_counters.packets, display.exact),
            counter_inline(policy_counters.bytes, display.exact)
        ),
        Some(policy) => format!("Chain {} (policy {})", name, policy_word(policy)),
        None => format!("Chain {} ({} references)", name, references()),
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
    let mut out = String::new();
    for (n, c) in chains.into_iter().enumerate() {
        let heading = || chain_title(state, c, display);
        let specs = c
            .rules
            .iter()
            .map(|r| r.spec(state.family))
            .collect::<Result<Vec<_>, _>>()?;
        write_chain_block(
            &mut out,
            n == 0,
            heading,
            c.rules.len(),
            num,
            display,
            |out, i| {
                let row = specs[i].listing(display.numeric);
                write_rule_line(out, i + 1, &row, c.rules[i].rule.counters, display);
            },
        );
    }
    Ok(out)
}

/// Writes one chain's `-L` block to `out`: a blank line before all but the
/// first chain, its title and the column header (unless `num` asks for one
/// rule), then the line of each of its `rules` that `num` selects, as
/// `line(out, index)` writes it.
fn write_chain_block(
    out: &mut String,
    first: bool,
    title: impl FnOnce() -> String,
    rules: usize,
    num: Option<usize>,
    display: Display,
    mut line: impl FnMut(&mut String, usize),
) {
    if !first {
        out.push('\n');
    }
    if num.is_none() {
        out.push_str(&title());
        out.push('\n');
        out.push_str(&header_line(display));
        out.push('\n');
    }
    for i in (0..rules).filter(|i| num.is_none_or(|n| n == i + 1)) {
        line(out, i);
        out.push('\n');
    }
}

/// A rule's `-L` line and the chain it jumps or goes to.
type RuleLine = (String, Option<String>);

/// The `-L` line of the rule with stored text `text`, `index` in its
/// chain (from 0); `None` when the text does not read back as a rule.
fn stored_rule_line(
    text: &str,
    index: usize,
    counters: Counters,
    family: Family,
    display: Display,
) -> Option<RuleLine> {
    let spec = spec_of_source(text, family).ok()?;
    let mut line = String::with_capacity(LINE_CAPACITY);
    write_rule_line(
        &mut line,
        index + 1,
        &spec.listing(display.numeric),
        counters,
        display,
    );
    // Kept at its length: a table's lines are held until printed.
    let line = line.as_str().to_owned();
    Some((line, spec.jump_target().map(str::to_string)))
}

/// The `-L` lines of rules as a read meets them (`Backend::read_seeing`),
/// written while the kernel still sends the rest of the table.
#[derive(Debug)]
pub struct SeenLines {
    family: Family,
    display: Display,
    /// Each chain met, with its rules' lines in order (`None` for a text
    /// that does not read back as a rule).
    chains: Vec<(String, Vec<Option<RuleLine>>)>,
    /// Where each chain met is in `chains`, by name (Kubernetes' nat table
    /// has thousands).
    places: HashMap<String, usize>,
}

impl SeenLines {
    /// No lines yet, for a `-L` of `family`'s rules shown as `display` says.
    pub fn new(family: Family, display: Display) -> Self {
        SeenLines {
            family,
            display,
            chains: Vec::new(),
            places: HashMap::new(),
        }
    }

    /// Forgets the rules seen so far: the read starts again.
    pub fn forget(&mut self) {
        self.chains.clear();
        self.places.clear();
    }

    /// Writes the line of the next rule of `chain`, with stored text
    /// `text` and `counters`.
    pub fn see(&mut self, chain: &str, text: &str, counters: Counters) {
        // A chain's rules come together: the last chain met is most often it.
        let last = self.chains.len().checked_sub(1);
        let at = match last.filter(|&i| self.chains[i].0 == chain) {
            Some(at) => at,
            None => match self.places.get(chain) {
                Some(&at) => at,
                None => {
                    self.places.insert(chain.to_owned(), self.chains.len());
                    self.chains.push((chain.to_owned(), Vec::new()));
                    self.chains.len() - 1
                }
            },
        };
        let lines = &mut self.chains[at].1;
        lines.push(stored_rule_line(
            text,
            lines.len(),
            counters,
            self.family,
            self.display,
        ));
    }
}

/// The seen lines of each chain of `order`, when every one of its rules
/// was seen (a port map's members and rules without text are not).
fn seen_in_order(
    seen: Vec<(String, Vec<Option<RuleLine>>)>,
    order: &[&StoredChain],
) -> Option<Vec<Vec<Option<RuleLine>>>> {
    let mut seen: HashMap<String, Vec<Option<RuleLine>>> = seen.into_iter().collect();
    order
        .iter()
        .map(|chain| {
            let lines = seen.remove(&chain.name).unwrap_or_default();
            (lines.len() == chain.rules.len()).then_some(lines)
        })
        .collect()
}

/// The `-L` listing straight from the kernel's stored chains: each rule's
/// line comes from `seen` (its family and display too) or, when a chain's
/// rules were not all seen, from reading the stored sources back only as
/// far as their listing rows (a large table's on several threads), and
/// nothing is kept but the lines. `None` when the full path must answer
/// (see [`list_stored_rules`]).
pub fn list_stored_chains(
    stage: Stage,
    stored: &[StoredChain],
    chain: Option<&str>,
    num: Option<usize>,
    seen: SeenLines,
) -> Option<String> {
    let SeenLines {
        family,
        display,
        chains: seen,
        ..
    } = seen;
    let order = stored_order(family, stage, stored)?;
    let lines = match seen_in_order(seen, &order) {
        Some(lines) => lines
            .into_iter()
            .map(|chain| chain.into_iter().collect::<Option<Vec<_>>>())
            .collect::<Option<Vec<_>>>()?,
        None => read_per_chain(&order, |_, i, rule| {
            let text = rule.source.as_deref().ok_or(())?;
            stored_rule_line(text, i, rule.counters, family, display).ok_or(())
        })
        .ok()?,
    };
    let mut references: HashMap<&str, usize> = HashMap::new();
    for (_, jump) in lines.iter().flatten() {
        if let Some(target) = jump {
            *references.entry(target.as_str()).or_default() += 1;
        }
    }
    let listed: Vec<_> = order
        .iter()
        .zip(&lines)
        .filter(|(c, _)| chain.is_none_or(|n| c.name == n))
        .collect();
    if listed.is_empty() {
        return None;
    }
    let mut out = String::new();
    for (n, (c, lines)) in listed.into_iter().enumerate() {
        let references = || references.get(c.name.as_str()).copied().unwrap_or(0);
        write_stored_chain(&mut out, n == 0, c, lines, references, num, display);
    }
    Some(out)
}

/// Writes stored chain `chain`'s block of a listing: its title (with
/// `references` for a user chain) and its rules' `lines`.
fn write_stored_chain(
    out: &mut String,
    first: bool,
    chain: &StoredChain,
    lines: &[RuleLine],
    references: impl FnOnce() -> usize,
    num: Option<usize>,
    display: Display,
) {
    let policy = chain.base.map(|(_, p)| p);
    let heading = || {
        title(
            &chain.name,
            policy,
            chain.policy_counters,
            references,
            display,
        )
    };
    write_chain_block(out, first, heading, lines.len(), num, display, |out, i| {
        out.push_str(&lines[i].0)
    });
}

/// The `-L` listing of chain `name` alone, from `stored` read with that
/// chain's rules (see `Backend::read_chains`), the references to it as
/// the kernel counted them; `None` when it cannot be listed so (no such
/// chain, a rule that does not read back), and the whole table is read.
pub fn list_counted_chain(
    family: Family,
    stage: Stage,
    stored: &[StoredChain],
    name: &str,
    num: Option<usize>,
    display: Display,
    references: usize,
) -> Option<String> {
    stored_order(family, stage, stored)?;
    let chain = stored.iter().find(|c| c.name == name)?;
    let lines = chain
        .rules
        .iter()
        .enumerate()
        .map(|(i, rule)| {
            stored_rule_line(rule.source.as_deref()?, i, rule.counters, family, display)
        })
        .collect::<Option<Vec<RuleLine>>>()?;
    let mut out = String::new();
    write_stored_chain(&mut out, true, chain, &lines, || references, num, display);
    Some(out)
}

/// `-c PKTS BYTES ` for `-S -v`.
fn counters_option(counters: Counters) -> String {
    format!("-c {} {} ", counters.packets, counters.bytes)
}

/// Where a rule's target (`-j`/`-g`) starts in its text, outside quotes;
/// the text's end when it has none.
fn target_start(text: &str) -> usize {
    let mut quoted = false;
    let mut escaped = false;
    for (i, c) in text.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '"' => quoted = !quoted,
            '-' if !quoted && (i == 0 || text[..i].ends_with(' ')) => {
                let rest = &text[i..];
                if rest.starts_with("-j ") || rest.starts_with("-g ") {
                    return i;
                }
            }
            _ => {}
        }
    }
    text.len()
}

/// A rule's text with its counters as `-S -v` writes them: just before
/// the target, as iptables does.
fn with_counters(text: &str, counters: Counters) -> String {
    let at = target_start(text);
    let (matches, target) = text.split_at(at);
    let sep = if matches.is_empty() || matches.ends_with(' ') {
        ""
    } else {
        " "
    };
    format!("{matches}{sep}{}{target}", counters_option(counters))
}

/// One chain as `-S` and iptables-save print it: its policy or `-N`
/// line, then each rule's counters and canonical text.
pub(crate) struct RuleLines<'a> {
    /// The chain's name.
    pub(crate) name: &'a str,
    /// A built-in chain's policy.
    pub(crate) policy: Option<Policy>,
    /// A built-in chain's policy counters.
    pub(crate) policy_counters: Counters,
    /// Each rule's counters and text.
    pub(crate) rules: Vec<(Counters, Cow<'a, str>)>,
}

/// `state`'s chains in listing order as [`RuleLines`], each rule's text
/// written out from its parsed form.
pub(crate) fn state_lines<'a>(chains: &[&'a StateChain]) -> Vec<RuleLines<'a>> {
    chains
        .iter()
        .map(|c| RuleLines {
            name: &c.name,
            policy: c.base.map(|(_, p)| p),
            policy_counters: c.policy_counters,
            rules: c
                .rules
                .iter()
                .map(|r| (r.rule.counters, Cow::Borrowed(r.text())))
                .collect(),
        })
        .collect()
}

/// The kernel's stored chains in listing order (built-in chains, then user
/// chains by name); `None` when the built-in chains are not `family`'s and
/// `stage`'s.
fn stored_order(family: Family, stage: Stage, stored: &[StoredChain]) -> Option<Vec<&StoredChain>> {
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
    Some(order)
}

/// The kernel's stored chains in listing order as [`RuleLines`], each
/// rule's text as stored; `None` when a rule has no stored source or the
/// built-in chains are not `family`'s and `stage`'s.
pub(crate) fn stored_lines<'a>(
    family: Family,
    stage: Stage,
    stored: &'a [StoredChain],
) -> Option<Vec<RuleLines<'a>>> {
    let order = stored_order(family, stage, stored)?;
    order
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
        .collect()
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
            let text = if display.verbose {
                with_counters(text, *counters)
            } else {
                text.to_string()
            };
            let line = format!("-A {} {}", c.name, text);
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
    let chains = state_lines(&selected(state, chain)?);
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
    let mut chains = stored_lines(family, stage, stored)?;
    if let Some(name) = chain {
        chains.retain(|c| c.name == name);
        if chains.is_empty() {
            return None;
        }
    }
    Some(write_rule_lines(&chains, num, display))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// As Debian's iptables-nft 1.8.9 prints `-S -v`.
    #[test]
    fn verbose_rule_listings_put_counters_before_the_target() {
        let c = Counters {
            packets: 5,
            bytes: 10,
        };
        assert_eq!(
            with_counters("-s 1.2.3.4/32 -j ACCEPT", c),
            "-s 1.2.3.4/32 -c 5 10 -j ACCEPT"
        );
        assert_eq!(with_counters("-j DROP", c), "-c 5 10 -j DROP");
        assert_eq!(with_counters("-p tcp", c), "-p tcp -c 5 10 ");
        assert_eq!(
            with_counters(r#"-m comment --comment "a -j b" -g X"#, c),
            r#"-m comment --comment "a -j b" -c 5 10 -g X"#
        );
    }

    /// Lines written while a read meets the rules are the lines read back
    /// from the stored texts afterwards; a chain whose rules were not all
    /// seen (a port map's members, a read that started again) is read back.
    #[test]
    fn seen_lines_are_the_lines_read_back() {
        use crate::state::StoredRule;
        use moat_model::Hook;
        let rule = |source: &str, packets| StoredRule {
            source: Some(source.to_string()),
            counters: Counters {
                packets,
                bytes: 60 * packets,
            },
        };
        let base = |name: &str, hook, rules| StoredChain {
            name: name.to_string(),
            base: Some((hook, Policy::Accept)),
            policy_counters: Counters::default(),
            rules,
        };
        let stored = vec![
            base(
                "INPUT",
                Hook::Input,
                vec![
                    rule("-p tcp -m tcp --dport 22 -j ACCEPT", 3),
                    rule("-s 192.0.2.0/24 -j jail", 1),
                ],
            ),
            base("FORWARD", Hook::Forward, Vec::new()),
            base("OUTPUT", Hook::Output, Vec::new()),
            StoredChain {
                name: "jail".to_string(),
                base: None,
                policy_counters: Counters::default(),
                rules: vec![rule("-s 192.0.2.7/32 -j DROP", 2)],
            },
        ];
        let display = Display {
            verbose: true,
            numeric: true,
            exact: false,
            line_numbers: true,
        };
        let list = |see: &dyn Fn(&mut SeenLines)| {
            let mut seen = SeenLines::new(Family::Ipv4, display);
            see(&mut seen);
            list_stored_chains(Stage::Filter, &stored, None, None, seen).unwrap()
        };
        let see_all = |seen: &mut SeenLines| {
            for chain in &stored {
                for r in &chain.rules {
                    seen.see(&chain.name, r.source.as_deref().unwrap(), r.counters);
                }
            }
        };
        let read_back = list(&|_| {});
        assert!(read_back.contains("    3   180 ACCEPT     6    --  *      *       "));
        assert!(read_back.contains("Chain jail (1 references)"));
        assert_eq!(list(&see_all), read_back);
        // Only part of INPUT seen: INPUT is read back.
        assert_eq!(
            list(&|seen| seen.see("jail", "-s 192.0.2.7/32 -j DROP", rule("", 2).counters)),
            read_back
        );
        // The lines seen are the ones listed: counters as the read met them.
        let later = |seen: &mut SeenLines| {
            for chain in &stored {
                for r in &chain.rules {
                    let counters = rule("", r.counters.packets + 1).counters;
                    seen.see(&chain.name, r.source.as_deref().unwrap(), counters);
                }
            }
        };
        assert!(list(&later).contains("    4   240 ACCEPT     6    --  *      *       "));
        // A read that started again forgets what came before.
        let again = |seen: &mut SeenLines| {
            seen.see("INPUT", "-j DROP", Counters::default());
            seen.forget();
            see_all(seen);
        };
        assert_eq!(list(&again), read_back);
    }

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
        // Each step rounds, as Debian's iptables 1.8.9 prints them.
        assert_eq!(counter_column(999_999, false), "1000K ");
        assert_eq!(counter_column(1_234_567_890, false), "1235M ");
        assert_eq!(counter_inline(98_765_432_101, false), "99G ");
        // C's wrapping arithmetic on the largest counter.
        assert_eq!(counter_column(u64::MAX, false), "   0K ");
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
