//! What every match and target extension provides.

use moat_model::Family;

use super::error::Res;
use super::options::OptDef;
use super::Warning;

/// One occurrence of an extension's option on the command line.
pub(crate) struct Opt<'a> {
    /// The option's canonical name (`--dport` also for `--destination-port`).
    pub name: &'static str,
    /// Whether `!` preceded it.
    pub invert: bool,
    /// Its value words.
    pub values: &'a [&'a str],
    /// The family of the rule.
    pub family: Family,
    /// The `-p` protocol given so far (0 when none) and whether it is negated.
    pub proto: (u8, bool),
    /// Where to put warnings about outdated input.
    pub warnings: &'a mut Vec<Warning>,
}

impl Opt<'_> {
    /// The first value word (options with values always have one).
    pub fn value(&self) -> &str {
        self.values.first().copied().unwrap_or_default()
    }

    /// Warns that the option's range runs backwards: iptables takes it,
    /// and the rule matches nothing (or, negated, everything).
    pub fn warn_reversed(&mut self) {
        self.warnings.push(Warning::advice(format!(
            "{} {}: the range is reversed and will never match (iptables takes it too)",
            self.name,
            self.value()
        )));
    }

    /// The second value word.
    pub fn value2(&self) -> &str {
        self.values.get(1).copied().unwrap_or_default()
    }
}

/// What the rest of the rule says, for checks that need the whole rule.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Cx {
    /// The rule's family.
    pub family: Family,
    /// The `-p` protocol (0 when not given) and whether it is negated.
    pub proto: (u8, bool),
}

impl Cx {
    /// The protocol number when `-p` names one protocol without negation.
    pub fn plain_proto(&self) -> Option<u8> {
        match self.proto {
            (0, _) | (_, true) => None,
            (p, false) => Some(p),
        }
    }
}

/// An extension: a match module (`-m NAME`) or a target (`-j NAME`).
pub(crate) trait Extension {
    /// The options it takes.
    fn options(&self) -> &'static [OptDef];
    /// Takes one of its options.
    fn parse(&mut self, opt: &mut Opt<'_>) -> Res<()>;
    /// Checks the options together (and with the rest of the rule) and fills in defaults.
    fn finish(&mut self, cx: &Cx) -> Res<()>;
    /// Appends the options as `iptables -S` prints them, each word preceded by a space.
    fn save(&self, out: &mut String);
    /// Appends the `-L` text, each part preceded by a space as iptables prints it.
    fn print(&self, out: &mut String, numeric: bool);
}

/// Implements [`Extension`] for a module that takes no options and adds
/// nothing to `-S` and `-L` (`-j TRACE`, `-m eui64`).
macro_rules! option_free_extension {
    ($module:ty) => {
        impl $crate::rule::ext::Extension for $module {
            fn options(&self) -> &'static [$crate::rule::options::OptDef] {
                &[]
            }

            fn parse(
                &mut self,
                _o: &mut $crate::rule::ext::Opt<'_>,
            ) -> $crate::rule::error::Res<()> {
                Ok(())
            }

            fn finish(&mut self, _cx: &$crate::rule::ext::Cx) -> $crate::rule::error::Res<()> {
                Ok(())
            }

            fn save(&self, _out: &mut String) {}

            fn print(&self, _out: &mut String, _numeric: bool) {}
        }
    };
}
pub(crate) use option_free_extension;

/// Fails when an option was already given.
pub(crate) fn once<T>(slot: &Option<T>, opt: &str) -> Res<()> {
    if slot.is_some() {
        super::error::fail(format!("{opt} given twice"))
    } else {
        Ok(())
    }
}
