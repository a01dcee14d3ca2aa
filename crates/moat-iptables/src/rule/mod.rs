//! One iptables rule as iptables spells it: parsed from command-line words,
//! printed back canonically (`-S`), shown in `-L` columns, and lowered to the model.

mod compat;
mod error;
mod ext;
pub(crate) mod hostnames;
mod listing;
mod lower;
mod matches;
pub(crate) mod names;
mod netdb;
mod options;
mod parse;
mod print;
mod suggest;
mod targets;
pub(crate) mod values;

pub(crate) use matches::ports::Transport;
pub(crate) use parse::values_taken;
pub(crate) use values::SavedWords;

use std::borrow::Cow;

use moat_model::{Family, Rule};

use matches::MatchSpec;
use targets::TargetSpec;
use values::Net;

/// One rule in iptables' own terms (the syntax tree of `-s ... -p tcp -m tcp --dport 22 -j ACCEPT`).
///
/// It is kept in canonical form: two spellings of the same rule (abbreviated options,
/// `--syn` or `--tcp-flags FIN,SYN,RST,ACK SYN`, `-s 10.1.2.3/8` or `-s 10.0.0.0/8`, ...)
/// parse to equal values, which is what `-D` and `-C` compare.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleSpec {
    family: Family,
    protocol: Option<(u8, bool)>,
    source: Option<(Net, bool)>,
    destination: Option<(Net, bool)>,
    in_iface: Option<(String, bool)>,
    out_iface: Option<(String, bool)>,
    fragment: Option<bool>,
    matches: Vec<MatchSpec>,
    target: Option<TargetSpec>,
}

/// A warning about accepted but outdated or suspicious input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// What is odd about the input, and what moat does with it; for a
    /// warning iptables prints too, iptables' own line, word for word.
    pub text: String,
    /// Whether iptables itself warns here; the rest is moat's own advice,
    /// which iptables keeps silent about.
    pub from_iptables: bool,
}

impl Warning {
    /// moat's own advice about input iptables takes silently.
    pub fn advice(text: impl Into<String>) -> Warning {
        Warning {
            text: text.into(),
            from_iptables: false,
        }
    }

    /// A warning iptables prints too, as `line` (iptables' words, which
    /// moat writes unchanged, each time the input gives it).
    pub fn as_iptables(text: impl Into<String>) -> Warning {
        Warning {
            text: text.into(),
            from_iptables: true,
        }
    }
}

/// Why rule words could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct RuleParseError {
    /// What is wrong, which word, and how to fix it.
    pub message: String,
    /// iptables leaves this check to the kernel, which refuses the rule
    /// (exit status 4, as against 2 for what iptables refuses itself).
    pub kernel: bool,
}

/// The `-L` columns of one rule (a column that is a name the rule holds,
/// or a fixed word, is borrowed).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ListingRow<'a> {
    /// The target column (empty for a rule without target; `CT` for NOTRACK).
    pub target: Cow<'a, str>,
    /// The prot column: a name (`tcp`, `all`), or with `-n` a number (`6`, `0`);
    /// prefixed by `!` when negated.
    pub prot: Cow<'a, str>,
    /// The opt column: `--`, `-f`, or `!f`.
    pub opt: Cow<'a, str>,
    /// The in column (shown with -v): the interface, `!` + interface, or for
    /// none `*` (`any` without -n).
    pub iface_in: Cow<'a, str>,
    /// The out column (shown with -v): like the in column.
    pub iface_out: Cow<'a, str>,
    /// The source column: `0.0.0.0/0` / `::/0` (`anywhere` without -n), an address, or a net;
    /// prefixed by `!` when negated.
    pub source: Cow<'a, str>,
    /// The destination column, like the source column.
    pub destination: Cow<'a, str>,
    /// Everything iptables prints after the destination column, byte for byte: each match
    /// and the target print their text with a leading space (`" tcp dpt:22 state NEW"`),
    /// and a `-g` rule starts with `"[goto] "`. Empty when there is nothing to show.
    pub extra: String,
}

impl RuleSpec {
    /// Refuses `-i` in a chain named OUTPUT or POSTROUTING and `-o` in one
    /// named PREROUTING or INPUT, as iptables does on its command line by the
    /// chain's name, for every command that takes a rule (`-D` and `-C` too).
    pub fn check_interfaces_in(&self, chain: &str) -> Result<(), RuleParseError> {
        let (input, output) = (self.in_iface.is_some(), self.out_iface.is_some());
        match chain {
            "OUTPUT" | "POSTROUTING" if input => error::fail(format!(
                "{chain} packets have no input interface, so -i can never match there"
            )),
            "PREROUTING" | "INPUT" if output => error::fail(format!(
                "{chain} packets have no output interface yet, so -o can never match there"
            )),
            _ => Ok(()),
        }
    }

    /// Parses the rule words of an iptables command (everything but the command, chain and table options).
    pub fn parse<S: AsRef<str>>(
        args: &[S],
        family: Family,
    ) -> Result<(RuleSpec, Vec<Warning>), RuleParseError> {
        let words: Vec<&str> = args.iter().map(AsRef::as_ref).collect();
        parse::parse(&words, family)
    }

    /// Whether the rule is made of matches only (`-m NAME` and their
    /// options): what iptables reads, and then ignores, after a command
    /// that takes no rule (`-L -m comment --comment x`).
    pub fn is_matches_only(&self) -> bool {
        self.protocol.is_none()
            && self.source.is_none()
            && self.destination.is_none()
            && self.in_iface.is_none()
            && self.out_iface.is_none()
            && self.fragment.is_none()
            && self.target.is_none()
    }

    /// The canonical rule words, exactly as `iptables -S` prints them after `-A CHAIN `
    /// (empty for a rule with no options, which `-S` prints as just `-A CHAIN`).
    pub fn to_args(&self) -> String {
        print::to_args(self)
    }

    /// The rule in the moat model, with `source` set to `to_args()`.
    pub fn to_model(&self, family: Family) -> Result<Rule, RuleParseError> {
        lower::to_model(self, family)
    }

    /// The `-L` columns; `numeric` is `-n`.
    pub fn listing(&self, numeric: bool) -> ListingRow<'_> {
        listing::listing(self, numeric)
    }

    /// The line iptables prints for the rule with `-v` when a command
    /// adds, replaces, deletes or checks it.
    pub fn echo(&self) -> String {
        listing::echo(self)
    }

    /// Whether the rule drops (`-j DROP`).
    pub fn drops(&self) -> bool {
        matches!(
            self.target,
            Some(TargetSpec::Verdict(targets::Verdict::Drop))
        )
    }

    /// The chain this rule jumps or goes to, if its target is a user chain.
    pub fn jump_target(&self) -> Option<&str> {
        match &self.target {
            Some(TargetSpec::Chain { name, .. }) => Some(name),
            _ => None,
        }
    }

    /// Renames a chain this rule jumps or goes to.
    pub fn rename_target(&mut self, from: &str, to: &str) {
        if let Some(TargetSpec::Chain { name, .. }) = &mut self.target {
            if name == from {
                *name = to.to_string();
            }
        }
    }

    /// The family the rule was parsed for.
    pub fn family(&self) -> Family {
        self.family
    }

    /// The name of the rule's target as `-j` takes it (a chain name for jumps and gotos),
    /// or `None` for a rule without target.
    pub fn target_name(&self) -> Option<&str> {
        self.target.as_ref().map(TargetSpec::name)
    }

    /// Whether the rule names sets: `-m set` or `-j SET`.
    pub fn names_sets(&self) -> bool {
        self.target_name() == Some("SET")
            || self.matches.iter().any(|m| matches!(m, MatchSpec::Set(_)))
    }

    fn empty(family: Family) -> Self {
        RuleSpec {
            family,
            protocol: None,
            source: None,
            destination: None,
            in_iface: None,
            out_iface: None,
            fragment: None,
            matches: Vec::new(),
            target: None,
        }
    }
}

/// Splits text that [`RuleSpec::to_args`] returned back into words, reading quotes the way
/// iptables-restore does: a double-quoted part may hold spaces, and inside it a backslash
/// takes the next character literally (so `"it\'s"` is `it's`, unlike in a POSIX shell).
/// `None` when a quote is not closed.
pub fn split_args(text: &str) -> Option<Vec<String>> {
    values::split_saved(text)
}

/// Whether `name` is the name of a target iptables can load for `family`
/// (built-in or extension, moat's or not), so `-N` cannot name a chain so:
/// the targets of both families, and each family's own.
pub(crate) fn is_target_name(name: &str, family: Family) -> bool {
    let (own, others): (&[&str], &[&str]) = match family {
        Family::Ipv4 => (&["ULOG", "CLUSTERIP"], &["HL"]),
        Family::Ipv6 => (&["DNPT", "SNPT"], &["TTL", "ECN"]),
    };
    !others.contains(&name)
        && (targets::SUPPORTED.contains(&name)
            || ["QUEUE", "standard", "SECMARK", "LED"].contains(&name)
            || own.contains(&name))
}

/// The match modules moat supports (`-m NAME`).
pub const MATCH_MODULES: &[&str] = matches::SUPPORTED;

/// The targets moat supports (`-j NAME`).
pub const TARGETS: &[&str] = targets::SUPPORTED;

/// The target `name` is likely a misspelling of (`ACCEPTT` -> `ACCEPT`), if any.
pub(crate) fn closest_target(name: &str) -> Option<&'static str> {
    suggest::closest(name, targets::SUPPORTED.iter().copied())
}

/// How many value words follow rule option `opt` (e.g. 1 for `--dport`, 2 for `--tcp-flags`, 0 for `--syn`).
/// `None` when `opt` is not a rule option at all.
///
/// Long options may be abbreviated as iptables allows; an abbreviation answers only when
/// every option it could stand for takes the same number of values.
pub fn option_arity(opt: &str) -> Option<usize> {
    parse::option_arity(opt)
}

/// The one of iptables' own long options (`--line-numbers`, `--verbose`,
/// `--list`, ...) that `name` abbreviates as getopt reads it, if it
/// stands for one and no rule option.
pub fn command_option_abbreviated(name: &str) -> Option<&'static str> {
    parse::command_option_abbreviated(name)
}

#[cfg(test)]
mod tests;
