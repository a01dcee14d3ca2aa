//! Option tables and getopt_long-style resolution of (abbreviated) long option names.

/// One long option of iptables or of a match or target extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct OptDef {
    /// The name as typed, with its leading dashes (`--destination-port`).
    pub name: &'static str,
    /// The name the extension knows the option by; aliases share it (`--dport`).
    pub canon: &'static str,
    /// How many value words follow.
    pub arity: usize,
    /// Whether `!` may precede the option.
    pub invert: bool,
    /// Whether its one value may be left out: it is taken only when the
    /// next word starts with neither `-` nor `!` (rateest's `--rateest-bps [value]`).
    pub optional: bool,
    /// Whether a rule may give it only once, as iptables' option parser
    /// has it for the extensions that leave the check to it (a flag always
    /// counts once).
    pub once: bool,
}

impl OptDef {
    /// How many words certainly follow the option (none for an optional value).
    pub(crate) const fn words(&self) -> usize {
        if self.optional {
            0
        } else {
            self.arity
        }
    }

    /// The option, given at most once in a rule.
    pub(crate) const fn once(self) -> OptDef {
        OptDef { once: true, ..self }
    }
}

/// An option with no aliases.
pub(crate) const fn opt(name: &'static str, arity: usize, invert: bool) -> OptDef {
    OptDef {
        name,
        canon: name,
        arity,
        invert,
        optional: false,
        once: false,
    }
}

/// An option whose one value may be left out.
pub(crate) const fn opt_maybe_value(name: &'static str) -> OptDef {
    OptDef {
        name,
        canon: name,
        arity: 1,
        invert: false,
        optional: true,
        once: false,
    }
}

/// Another name for option `canon`.
pub(crate) const fn alias(
    name: &'static str,
    canon: &'static str,
    arity: usize,
    invert: bool,
) -> OptDef {
    OptDef {
        name,
        canon,
        arity,
        invert,
        optional: false,
        once: false,
    }
}

/// The basic rule options (`-p`, `-s`, ...), long forms, with their short forms as `canon`.
pub(crate) const BASE_OPTIONS: &[OptDef] = &[
    alias("--protocol", "-p", 1, true),
    alias("--source", "-s", 1, true),
    alias("--src", "-s", 1, true),
    alias("--destination", "-d", 1, true),
    alias("--dst", "-d", 1, true),
    alias("--in-interface", "-i", 1, true),
    alias("--out-interface", "-o", 1, true),
    alias("--fragment", "-f", 0, true),
    alias("--jump", "-j", 1, false),
    alias("--goto", "-g", 1, false),
    alias("--match", "-m", 1, false),
];

/// The short rule options.
pub(crate) const SHORT_OPTIONS: &[OptDef] = &[
    opt("-p", 1, true),
    opt("-s", 1, true),
    opt("-d", 1, true),
    opt("-i", 1, true),
    opt("-o", 1, true),
    opt("-f", 0, true),
    opt("-j", 1, false),
    opt("-g", 1, false),
    opt("-m", 1, false),
];

/// Long options of the iptables command itself; they are not rule options, but they
/// make abbreviations ambiguous exactly as in iptables.
pub(crate) const COMMAND_OPTIONS: &[&str] = &[
    "--append",
    "--check",
    "--delete",
    "--delete-chain",
    "--exact",
    "--flush",
    "--help",
    "--insert",
    "--ipv4",
    "--ipv6",
    "--line-numbers",
    "--list",
    "--list-rules",
    "--modprobe",
    "--new-chain",
    "--numeric",
    "--policy",
    "--rename-chain",
    "--replace",
    "--set-counters",
    "--table",
    "--verbose",
    "--version",
    "--wait",
    "--wait-interval",
    "--zero",
];

/// Who defines an option.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Owner {
    /// A basic rule option.
    Base,
    /// An option of the iptables command.
    Command,
    /// The match at this index of the rule's match list.
    Match(usize),
    /// The rule's target.
    Target,
}

/// What a long option name resolves to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Resolved {
    /// One option.
    One(Owner, OptDef),
    /// A prefix of several different options (their names).
    Ambiguous(Vec<&'static str>),
    /// No option has this name or starts with it.
    Unknown,
}

/// Resolves `name` (with dashes, no `=value`) against `candidates`, which must be in
/// precedence order (an exact name found earlier wins over a later one).
pub(crate) fn resolve(
    name: &str,
    candidates: impl Iterator<Item = (Owner, OptDef)> + Clone,
) -> Resolved {
    if let Some((owner, def)) = candidates.clone().find(|(_, d)| d.name == name) {
        return Resolved::One(owner, def);
    }
    let prefixed: Vec<(Owner, OptDef)> = candidates
        .filter(|(_, d)| d.name.starts_with(name))
        .collect();
    match prefixed.split_first() {
        None => Resolved::Unknown,
        Some((&(owner, first), rest)) => {
            if rest
                .iter()
                .all(|(o, d)| *o == owner && d.canon == first.canon)
            {
                Resolved::One(owner, first)
            } else {
                let mut names: Vec<&'static str> = prefixed.iter().map(|(_, d)| d.name).collect();
                names.dedup();
                Resolved::Ambiguous(names)
            }
        }
    }
}

/// The table of command options as candidates.
pub(crate) fn command_candidates() -> impl Iterator<Item = (Owner, OptDef)> + Clone {
    COMMAND_OPTIONS
        .iter()
        .map(|&n| (Owner::Command, opt(n, 0, false)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Vec<(Owner, OptDef)> {
        BASE_OPTIONS
            .iter()
            .map(|&d| (Owner::Base, d))
            .chain(command_candidates())
            .collect()
    }

    #[test]
    fn command_options_are_sorted_for_prefix_search() {
        assert!(COMMAND_OPTIONS.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn exact_and_unique_prefixes() {
        let c = base();
        let r = |name| resolve(name, c.iter().copied());
        assert!(matches!(r("--src"), Resolved::One(Owner::Base, d) if d.canon == "-s"));
        assert!(matches!(r("--proto"), Resolved::One(Owner::Base, d) if d.canon == "-p"));
        assert!(matches!(r("--sr"), Resolved::One(Owner::Base, d) if d.canon == "-s"));
        assert!(matches!(r("--dest"), Resolved::One(Owner::Base, d) if d.canon == "-d"));
        assert!(matches!(r("--in"), Resolved::Ambiguous(_)));
        assert!(matches!(r("--s"), Resolved::Ambiguous(_)));
        assert_eq!(r("--bogus"), Resolved::Unknown);
    }
}
