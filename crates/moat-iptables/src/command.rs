//! The iptables command line: which command, chain, table and display flags,
//! with the remaining words handed to the rule parser.

use std::borrow::Cow;

use moat_model::{Counters, Family, Policy, Stage};

use crate::c_number::{base_zero, scanned_unsigned};
use crate::engine::Problem;
use crate::lock_options::LockOptions;
pub use crate::lock_options::Wait;
use crate::rule::{
    command_option_abbreviated, option_arity, values_taken, RuleParseError, RuleSpec, Warning,
};

/// A command-line problem: what is wrong and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct CommandError {
    /// The message shown to the user.
    pub message: String,
    /// The line is for the other IP family (`-6` given to iptables, `-4`
    /// to ip6tables): iptables-restore skips such a line without a word.
    pub other_family: bool,
    /// Which of iptables' exit statuses it ends the command with: 2 for
    /// what iptables refuses on its command line, 4 for a rule it takes
    /// and the kernel refuses, 1 for a bad policy name.
    pub problem: Problem,
    /// iptables' own words for it, which programs look for, when it has
    /// some (a `-D` of a rule that cannot be in a chain: "Bad rule ...").
    pub iptables: Option<&'static str>,
}

impl CommandError {
    pub(crate) fn new(message: impl Into<String>) -> Self {
        CommandError {
            message: message.into(),
            other_family: false,
            problem: Problem::Parameter,
            iptables: None,
        }
    }
}

impl From<RuleParseError> for CommandError {
    fn from(e: RuleParseError) -> Self {
        CommandError {
            problem: if e.kernel {
                Problem::Resource
            } else {
                Problem::Parameter
            },
            ..CommandError::new(e.message)
        }
    }
}

/// What an iptables invocation asks for. A rule whose `-s` or `-d` lists
/// several addresses stands for one rule per address (per pair, with
/// both): `rule` is the first, `also` the others in iptables' order.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// `-A CHAIN rule`.
    Append {
        chain: String,
        rule: RuleSpec,
        also: Vec<RuleSpec>,
    },
    /// `-I CHAIN [num] rule` (num is 1-based).
    Insert {
        chain: String,
        num: usize,
        rule: RuleSpec,
        also: Vec<RuleSpec>,
    },
    /// `-D CHAIN rule`.
    DeleteRule {
        chain: String,
        rule: RuleSpec,
        also: Vec<RuleSpec>,
    },
    /// `-D CHAIN num`.
    DeleteNum { chain: String, num: usize },
    /// `-R CHAIN num rule`.
    Replace {
        chain: String,
        num: usize,
        rule: RuleSpec,
    },
    /// `-C CHAIN rule`.
    Check {
        chain: String,
        rule: RuleSpec,
        also: Vec<RuleSpec>,
    },
    /// `-F [CHAIN]`.
    Flush { chain: Option<String> },
    /// `-Z [CHAIN [num]]`.
    Zero {
        chain: Option<String>,
        num: Option<usize>,
    },
    /// `-N CHAIN`.
    NewChain { chain: String },
    /// `-X [CHAIN]`.
    DeleteChain { chain: Option<String> },
    /// `-E OLD NEW`.
    RenameChain { from: String, to: String },
    /// `-P CHAIN POLICY`.
    SetPolicy { chain: String, policy: Policy },
    /// `-L [CHAIN [num]]`, optionally zeroing counters afterwards (`-Z`).
    List {
        chain: Option<String>,
        num: Option<usize>,
        zero: ZeroAfter,
    },
    /// `-S [CHAIN [num]]`, optionally zeroing counters afterwards (`-Z`).
    ListRules {
        chain: Option<String>,
        num: Option<usize>,
        zero: ZeroAfter,
    },
}

/// What a listing zeroes once it has printed (`-Z` beside `-L` or `-S`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ZeroAfter {
    /// Nothing: a plain listing.
    #[default]
    Nothing,
    /// The listed chain's counters, or every chain's (`-L -Z [CHAIN]`).
    Chains,
    /// Only the listed rule's (`-Z CHAIN NUM -L`).
    Rule,
}

impl Command {
    /// The rules `-A`, `-I`, `-R`, `-D` or `-C` stands for (one per address
    /// of the lists in its `-s` and `-d`); none for the other commands.
    pub fn rules(&self) -> impl Iterator<Item = &RuleSpec> {
        let (rule, also): (Option<&RuleSpec>, &[RuleSpec]) = match self {
            Command::Append { rule, also, .. }
            | Command::Insert { rule, also, .. }
            | Command::DeleteRule { rule, also, .. }
            | Command::Check { rule, also, .. } => (Some(rule), also),
            Command::Replace { rule, .. } => (Some(rule), &[]),
            _ => (None, &[]),
        };
        rule.into_iter().chain(also)
    }

    /// What iptables prints with `-v` before it runs the command: a line
    /// for each of its [`rules`](Self::rules).
    pub fn verbose_echo(&self) -> String {
        self.rules().map(|r| r.echo() + "\n").collect()
    }
}

/// Display options of listing commands.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Display {
    /// `-v`: counters and interfaces.
    pub verbose: bool,
    /// `-n`: numeric addresses, ports and protocols.
    pub numeric: bool,
    /// `-x`: exact counter values.
    pub exact: bool,
    /// `--line-numbers`.
    pub line_numbers: bool,
}

/// A parsed iptables invocation.
#[derive(Debug, Clone, PartialEq)]
pub struct Invocation {
    /// The table (`-t`), filter by default.
    pub stage: Stage,
    /// The command.
    pub command: Command,
    /// Display flags.
    pub display: Display,
    /// Warnings about accepted but outdated input.
    pub warnings: Vec<Warning>,
    /// `-c PACKETS BYTES` (`--set-counters`): the counters the rules the
    /// command adds or replaces start with.
    pub counters: Option<Counters>,
    /// The first option given that only a command line takes (`-t`, `-w`,
    /// `-W`): iptables-restore refuses it in its file's lines.
    pub command_line_only: Option<&'static str>,
    /// How long the command may wait for another (`-w`).
    pub wait: Wait,
}

/// Which command letter was given, with its positional words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verb {
    Append,
    Insert,
    Delete,
    Replace,
    Check,
    Flush,
    Zero,
    NewChain,
    DeleteChain,
    Rename,
    Policy,
    List,
    ListRules,
}

fn verb_of(word: &str) -> Option<Verb> {
    Some(match word {
        "-A" | "--append" => Verb::Append,
        "-I" | "--insert" => Verb::Insert,
        "-D" | "--delete" => Verb::Delete,
        "-R" | "--replace" => Verb::Replace,
        "-C" | "--check" => Verb::Check,
        "-F" | "--flush" => Verb::Flush,
        "-Z" | "--zero" => Verb::Zero,
        "-N" | "--new-chain" | "--new" => Verb::NewChain,
        "-X" | "--delete-chain" => Verb::DeleteChain,
        "-E" | "--rename-chain" => Verb::Rename,
        "-P" | "--policy" => Verb::Policy,
        "-L" | "--list" => Verb::List,
        "-S" | "--list-rules" => Verb::ListRules,
        _ => return None,
    })
}

/// Parses a table name given to `-t`.
pub fn parse_table(name: &str) -> Result<Stage, CommandError> {
    match name {
        "filter" => Ok(Stage::Filter),
        "nat" => Ok(Stage::Nat),
        "mangle" => Ok(Stage::Mangle),
        "raw" => Ok(Stage::Raw),
        "security" => Ok(Stage::Security),
        other => {
            let hint = ["filter", "nat", "mangle", "raw", "security"]
                .into_iter()
                .min_by_key(|t| strsim::levenshtein(t, other))
                .filter(|t| strsim::levenshtein(t, other) <= 2)
                .map(|t| format!("; did you mean `{t}'?"))
                .unwrap_or_else(|| "; expected filter, nat, mangle, raw or security".to_string());
            // Not a usage error for iptables: the kernel has no such table.
            Err(CommandError {
                problem: Problem::Version,
                ..CommandError::new(format!(
                    "can't initialize table `{other}': table does not exist{hint}"
                ))
            })
        }
    }
}

/// iptables' own long options that take a value, which getopt also reads
/// written after `=` (`--table=nat`, `--append=INPUT`, `--list=INPUT`,
/// `--modprobe=/sbin/modprobe`); the lock options read theirs apart.
const VALUED_LONG_OPTIONS: &[&str] = &[
    "--append",
    "--check",
    "--delete",
    "--delete-chain",
    "--flush",
    "--insert",
    "--list",
    "--list-rules",
    "--modprobe",
    "--new",
    "--new-chain",
    "--policy",
    "--rename-chain",
    "--replace",
    "--set-counters",
    "--table",
    "--zero",
];

/// `--OPTION=VALUE` of one of [`VALUED_LONG_OPTIONS`], as the option and
/// its value.
fn with_attached_value(word: &str) -> Option<(&str, &str)> {
    let (option, value) = word.split_once('=')?;
    VALUED_LONG_OPTIONS
        .contains(&option)
        .then_some((option, value))
}

/// How many values follow option `word` on the command line: the table's,
/// the counters', `--modprobe`'s, or a rule option's; 0 for other words
/// and for an option whose value is attached after `=`.
fn values_of<S: AsRef<str>>(word: &str, after: &[S]) -> usize {
    match word {
        "-t" | "--table" | "-M" | "--modprobe" => 1,
        "-c" | "--set-counters" => 2,
        _ if word.starts_with('-') && word != "!" && !word.contains('=') => {
            values_taken(word, after)
        }
        _ => 0,
    }
}

/// `word` with an abbreviated name of iptables' own options written out
/// (`--line` is `--line-numbers`, `--tab=nat` is `--table=nat`), as getopt
/// reads a unique prefix; `None` for every other word.
fn abbreviation_written_out(word: &str) -> Option<String> {
    let (name, value) = match word.split_once('=') {
        Some((name, value)) => (name, Some(value)),
        None => (word, None),
    };
    let whole = command_option_abbreviated(name)?;
    Some(match value {
        Some(value) => format!("{whole}={value}"),
        None => whole.to_string(),
    })
}

/// The short options that take a value getopt reads from the same word
/// (`-tnat`, `-AINPUT`, `-LINPUT`, `-mtcp`, `-c1 2`): the commands, the
/// table, a match, the counters and the module loader. iptables reads
/// `-p`, `-s`, `-d`, `-i`, `-o`, `-j` and `-g` from the word itself
/// whatever getopt found (`-ieth0` is an interface named `-ieth0`,
/// `-ptcp` an unknown protocol): moat refuses those.
const ATTACHING_OPTIONS: &[u8] = b"AIDRCNEPLSFZXtmMc";

/// A word of short options as getopt reads it: bundled flags (`-nvL`),
/// then perhaps an option with its value attached (`-nvLINPUT` is `-n -v
/// -L INPUT`). The options as words and the value; `None` for any other
/// word.
fn short_words(word: &str) -> Option<(Vec<String>, Option<&str>)> {
    let letters = word.strip_prefix('-')?;
    let at = letters.bytes().take_while(|c| b"vnx".contains(c)).count();
    let options = |end: usize| letters[..end].chars().map(|c| format!("-{c}")).collect();
    let Some(&option) = letters.as_bytes().get(at) else {
        // Flags alone: two at least (`-v` is a word of its own).
        return (at > 1).then(|| (options(at), None));
    };
    // The option's letter is ASCII: its value starts at the next byte.
    match letters.get(at + 1..).filter(|v| !v.is_empty()) {
        Some(value) if ATTACHING_OPTIONS.contains(&option) => Some((options(at + 1), Some(value))),
        None if at > 0 && b"LSFZXN".contains(&option) => Some((options(at + 1), None)),
        _ => None,
    }
}

/// Sets display flag `flag`, given as `option`; iptables refuses it given
/// twice (`-v` alone may be given again).
fn set_once(flag: &mut bool, option: &str) -> Result<(), CommandError> {
    if *flag {
        return Err(CommandError::new(format!(
            "multiple {option} flags not allowed"
        )));
    }
    *flag = true;
    Ok(())
}

/// The largest rule number iptables reads (C's `INT_MAX`).
const MOST_RULES: u64 = i32::MAX as u64;

/// The commands, for a command line that gives none.
const COMMANDS: &str = "give one of -A, -I, -D, -R, -C, -F, -Z, -N, -X, -E, -P, -L, -S";

/// Whether `word` looks like an option but is none iptables knows.
fn is_unknown_option(word: &str) -> bool {
    word.starts_with('-') && option_arity(word).is_none()
}

/// A rule number as iptables reads it: [`base_zero`], from 1 to
/// [`MOST_RULES`].
fn rule_number(word: &str) -> Option<usize> {
    base_zero(word)
        .filter(|n| (1..=MOST_RULES).contains(n))
        .map(|n| n as usize)
}

/// The error of `-6` given to iptables (`-4` to ip6tables).
fn other_family(option: &str, program: &str, family: &str, other: &str) -> CommandError {
    CommandError {
        message: format!(
            "`{option}': this is {program}, for {family}; give the rule to {other} \
             ({program}-restore skips such lines)"
        ),
        other_family: true,
        problem: Problem::Parameter,
        iptables: None,
    }
}

/// Parses the words of an iptables command line (without the program name).
pub fn parse_command_line<S: AsRef<str>>(
    args: &[S],
    family: Family,
) -> Result<Invocation, CommandError> {
    let mut words: Vec<Cow<'_, str>> = Vec::with_capacity(args.len());
    // An option's values are taken as they are, even one starting with
    // `--` (`--comment --line`), as getopt takes them; `takes` keeps how
    // many each word of `words` has, for the reading below.
    let mut values_due = 0;
    let mut takes: Vec<usize> = Vec::with_capacity(args.len());
    for (at, word) in args.iter().enumerate() {
        let word = word.as_ref();
        let after = &args[at + 1..];
        if values_due > 0 {
            values_due -= 1;
            words.push(Cow::Borrowed(word));
            continue;
        }
        // getopt's end of options: iptables takes nothing after it.
        if word == "--" {
            if let Some(extra) = after.first() {
                return Err(CommandError::new(format!(
                    "unexpected `{}' after `--', which ends the options",
                    extra.as_ref()
                )));
            }
            break;
        }
        if !word.starts_with("--") {
            match short_words(word) {
                Some((options, value)) => {
                    let last = options.last().cloned().unwrap_or_default();
                    words.extend(options.into_iter().map(Cow::Owned));
                    if let Some(value) = value {
                        // The counters' second value is the next word.
                        values_due = values_of(&last, after).saturating_sub(1);
                        takes.resize(words.len() - 1, 0);
                        takes.push(values_due + 1);
                        words.push(Cow::Borrowed(value));
                    }
                }
                None => {
                    values_due = values_of(word, after);
                    takes.resize(words.len(), 0);
                    takes.push(values_due);
                    words.push(Cow::Borrowed(word));
                }
            }
            continue;
        }
        let long = match abbreviation_written_out(word) {
            Some(whole) => Cow::Owned(whole),
            None => Cow::Borrowed(word),
        };
        match with_attached_value(&long) {
            Some((option, value)) => {
                words.extend([option, value].map(|w| Cow::Owned(w.to_string())))
            }
            None => {
                values_due = values_of(&long, after);
                takes.resize(words.len(), 0);
                takes.push(values_due);
                words.push(long);
            }
        }
    }
    takes.resize(words.len(), 0);
    let mut stage = Stage::Filter;
    let mut display = Display::default();
    let mut verb: Option<(Verb, String)> = None;
    let mut zero_too = ZeroAfter::Nothing;
    let mut counters = None;
    let mut positional: Vec<String> = Vec::new();
    let mut rule_words: Vec<&str> = Vec::with_capacity(words.len());
    let mut lock = LockOptions::default();
    let mut command_line_only = None;
    let mut i = 0;
    while i < words.len() {
        let word: &str = &words[i];
        i += 1;
        if let Some(v) = verb_of(word) {
            let mut args = Vec::new();
            while i < words.len() && !words[i].starts_with('-') && words[i] != "!" {
                args.push(words[i].to_string());
                i += 1;
            }
            let listing = |v| matches!(v, Verb::List | Verb::ListRules);
            // As in iptables, `-Z CHAIN NUM` zeroes one rule and takes the
            // command over from a listing given before it; a listing given
            // after it prints that rule.
            let zero_num = v == Verb::Zero && args.len() > 1;
            match &verb {
                Some((first, _)) if listing(*first) && zero_num => {
                    zero_too = ZeroAfter::Nothing;
                    verb = Some((v, word.to_string()));
                }
                // `-L -Z` and `-S -Z`, in either order: list, then zero.
                Some((first, _)) if listing(*first) && v == Verb::Zero => {
                    zero_too = ZeroAfter::Chains
                }
                Some((Verb::Zero, _)) if listing(v) => {
                    zero_too = if positional.len() > 1 {
                        ZeroAfter::Rule
                    } else {
                        ZeroAfter::Chains
                    };
                    verb = Some((v, word.to_string()));
                }
                Some((_, first)) => {
                    return Err(CommandError::new(format!(
                        "only one command at a time: `{first}' and `{word}' were both given"
                    )));
                }
                None => verb = Some((v, word.to_string())),
            }
            // The chain (and number) given last is the command's.
            if !args.is_empty() {
                positional = args;
            }
            continue;
        }
        if let Some(used) = lock.take(word, words.get(i).map(|w| w.as_ref())) {
            command_line_only = command_line_only.or(crate::lock_options::option_letter(word));
            i += used?;
            continue;
        }
        match word {
            "-t" | "--table" => {
                command_line_only = command_line_only.or(Some("-t"));
                let name = words.get(i).ok_or_else(|| {
                    CommandError::new(
                        "option `-t' requires a table name (filter, nat, mangle or raw)",
                    )
                })?;
                stage = parse_table(name)?;
                i += 1;
            }
            "-c" | "--set-counters" => {
                if counters.is_some() {
                    return Err(CommandError::new("multiple -c flags not allowed"));
                }
                let number = |at: usize| words.get(at).and_then(|w| scanned_unsigned(w));
                let (Some(packets), Some(bytes)) = (number(i), number(i + 1)) else {
                    return Err(CommandError::new(format!(
                        "option `{word}' requires two numbers: packets and bytes"
                    )));
                };
                counters = Some(Counters { packets, bytes });
                i += 2;
            }
            // nf_tables loads what it needs itself: the program is not run.
            "-M" | "--modprobe" => {
                words.get(i).ok_or_else(|| {
                    CommandError::new("option `--modprobe' requires a program to load modules with")
                })?;
                i += 1;
            }
            "-v" | "--verbose" => display.verbose = true,
            "-n" | "--numeric" => set_once(&mut display.numeric, "-n")?,
            "-x" | "--exact" => set_once(&mut display.exact, "-x")?,
            "--line-numbers" => set_once(&mut display.line_numbers, "--line-numbers")?,
            "-4" | "--ipv4" if family == Family::Ipv6 => {
                return Err(other_family(word, "ip6tables", "IPv6", "iptables"))
            }
            "-6" | "--ipv6" if family == Family::Ipv4 => {
                return Err(other_family(word, "iptables", "IPv4", "ip6tables"))
            }
            "-4" | "--ipv4" | "-6" | "--ipv6" => {}
            _ => {
                rule_words.push(word);
                let arity = takes[i - 1];
                for _ in 0..arity {
                    if let Some(value) = words.get(i) {
                        rule_words.push(value);
                        i += 1;
                    }
                }
            }
        }
    }
    let Some((verb, verb_word)) = verb else {
        // As iptables: an option it does not know is told first.
        let unknown = rule_words.iter().find(|w| is_unknown_option(w));
        return Err(CommandError::new(match unknown {
            Some(word) => format!("unknown option \"{word}\" (and no command: {COMMANDS})"),
            None => format!("no command specified: {COMMANDS}"),
        }));
    };
    let mut warnings: Vec<Warning> = lock
        .finish()?
        .into_iter()
        .map(Warning::as_iptables)
        .collect();
    // The rule, and the others its address lists stand for.
    let mut rules = |words: &[&str]| -> Result<(RuleSpec, Vec<RuleSpec>), CommandError> {
        let mut specs = Vec::new();
        for (i, words) in crate::address_list::expand(words, family)?
            .iter()
            .enumerate()
        {
            let (spec, w) = RuleSpec::parse(words, family)?;
            // One copy's warnings stand for all.
            if i == 0 {
                warnings.extend(w);
            }
            specs.push(spec);
        }
        let first = specs.remove(0);
        if let Some(chain) = positional.first() {
            first.check_interfaces_in(chain)?;
        }
        Ok((first, specs))
    };
    // What only the kernel would refuse cannot be in the chain: for -C and
    // -D iptables finds no such rule (status 1).
    let no_such_rule = |e: CommandError| -> CommandError {
        match e.problem {
            Problem::Resource => CommandError {
                message: format!(
                    "bad rule (does a matching rule exist in chain {}?): {} (so no rule \
                     like it can be there)",
                    positional.first().map_or("", String::as_str),
                    e.message
                ),
                problem: Problem::Other,
                iptables: Some(crate::engine::BAD_RULE),
                ..e
            },
            _ => e,
        }
    };
    let chain_arg = |n: usize| -> Result<String, CommandError> {
        positional
            .get(n)
            .cloned()
            .ok_or_else(|| CommandError::new(format!("option `{verb_word}' requires a chain name")))
    };
    // iptables reads matches after any command, and ignores them where
    // the command takes no rule.
    let no_rule_words = |what: &str| -> Result<(), CommandError> {
        match rule_words.first() {
            Some(_)
                if RuleSpec::parse(&rule_words, family)
                    .is_ok_and(|(spec, _)| spec.is_matches_only()) =>
            {
                Ok(())
            }
            Some(w) if is_unknown_option(w) => {
                Err(CommandError::new(format!("unknown option \"{w}\"")))
            }
            Some(w) => Err(CommandError::new(format!(
                "unexpected `{w}': {what} takes no rule options"
            ))),
            None => Ok(()),
        }
    };
    let extra_positional = |max: usize| -> Result<(), CommandError> {
        match positional.get(max) {
            Some(w) => Err(CommandError::new(format!(
                "unexpected argument `{w}' after `{verb_word}'"
            ))),
            None => Ok(()),
        }
    };
    let number_at = |n: usize, what: &str| -> Result<Option<usize>, CommandError> {
        positional
            .get(n)
            .map(|w| {
                rule_number(w).ok_or_else(|| {
                    CommandError::new(format!(
                        "invalid rule number `{w}' for {what}: expected a number from 1 to \
                         {MOST_RULES}"
                    ))
                })
            })
            .transpose()
    };
    let command = match verb {
        Verb::Append => {
            extra_positional(1)?;
            let (rule, also) = rules(&rule_words)?;
            Command::Append {
                chain: chain_arg(0)?,
                rule,
                also,
            }
        }
        Verb::Insert => {
            extra_positional(2)?;
            let num = number_at(1, "-I")?.unwrap_or(1);
            let (rule, also) = rules(&rule_words)?;
            Command::Insert {
                chain: chain_arg(0)?,
                num,
                rule,
                also,
            }
        }
        Verb::Delete => {
            extra_positional(2)?;
            match number_at(1, "-D")? {
                Some(num) => {
                    no_rule_words("deleting by rule number")?;
                    Command::DeleteNum {
                        chain: chain_arg(0)?,
                        num,
                    }
                }
                None => {
                    let (rule, also) = rules(&rule_words).map_err(no_such_rule)?;
                    Command::DeleteRule {
                        chain: chain_arg(0)?,
                        rule,
                        also,
                    }
                }
            }
        }
        Verb::Replace => {
            extra_positional(2)?;
            let num = number_at(1, "-R")?.ok_or_else(|| {
                CommandError::new(
                    "option `-R' requires a chain and a rule number: -R CHAIN NUM rule",
                )
            })?;
            let (rule, also) = rules(&rule_words)?;
            if !also.is_empty() {
                return Err(CommandError::new(
                    "-R replaces one rule: its -s and -d must name one address each",
                ));
            }
            Command::Replace {
                chain: chain_arg(0)?,
                num,
                rule,
            }
        }
        Verb::Check => {
            extra_positional(1)?;
            let (rule, also) = rules(&rule_words).map_err(no_such_rule)?;
            Command::Check {
                chain: chain_arg(0)?,
                rule,
                also,
            }
        }
        Verb::Flush => {
            extra_positional(1)?;
            no_rule_words("-F")?;
            Command::Flush {
                chain: positional.first().cloned(),
            }
        }
        Verb::Zero => {
            extra_positional(2)?;
            no_rule_words("-Z")?;
            Command::Zero {
                chain: positional.first().cloned(),
                num: number_at(1, "-Z")?,
            }
        }
        Verb::NewChain => {
            extra_positional(1)?;
            no_rule_words("-N")?;
            Command::NewChain {
                chain: chain_arg(0)?,
            }
        }
        Verb::DeleteChain => {
            extra_positional(1)?;
            no_rule_words("-X")?;
            Command::DeleteChain {
                chain: positional.first().cloned(),
            }
        }
        Verb::Rename => {
            extra_positional(2)?;
            no_rule_words("-E")?;
            // iptables reads a word starting with `!` as no chain name.
            let to = positional
                .get(1)
                .filter(|name| !name.starts_with('!'))
                .cloned()
                .ok_or_else(|| {
                    CommandError::new("option `-E' requires the old and the new chain name")
                })?;
            Command::RenameChain {
                from: chain_arg(0)?,
                to,
            }
        }
        Verb::Policy => {
            extra_positional(2)?;
            no_rule_words("-P")?;
            let target = positional.get(1).ok_or_else(|| {
                CommandError::new("option `-P' requires a chain and a policy: -P CHAIN ACCEPT|DROP")
            })?;
            let policy = match target.as_str() {
                "ACCEPT" => Policy::Accept,
                "DROP" => Policy::Drop,
                // iptables learns it from its backend (exit status 1).
                other => {
                    return Err(CommandError {
                        problem: Problem::Other,
                        ..CommandError::new(format!(
                            "bad policy `{other}': a chain's policy must be ACCEPT or DROP"
                        ))
                    })
                }
            };
            Command::SetPolicy {
                chain: chain_arg(0)?,
                policy,
            }
        }
        Verb::List => {
            extra_positional(2)?;
            no_rule_words("-L")?;
            Command::List {
                chain: positional.first().cloned(),
                num: number_at(1, "-L")?,
                zero: zero_too,
            }
        }
        Verb::ListRules => {
            extra_positional(2)?;
            no_rule_words("-S")?;
            Command::ListRules {
                chain: positional.first().cloned(),
                num: number_at(1, "-S")?,
                zero: zero_too,
            }
        }
    };
    check_command_options(&command, &verb_word, display, counters.is_some())?;
    Ok(Invocation {
        stage,
        command,
        display,
        warnings,
        counters,
        command_line_only,
        wait: lock.wait_said(),
    })
}

impl Command {
    /// Whether `-c` goes with it: it sets the counters of what the command
    /// creates (a rule of `-A`, `-I`, `-R`, a policy of `-P`).
    pub fn takes_counters(&self) -> bool {
        matches!(
            self,
            Command::Append { .. }
                | Command::Insert { .. }
                | Command::Replace { .. }
                | Command::SetPolicy { .. }
        )
    }

    /// The one chain whose rules the command changes or looks at; `None`
    /// for a command of every chain, a rename (which rewrites the jumps to
    /// the chain) and a listing (which counts references across the
    /// table).
    pub fn chain_touched(&self) -> Option<&str> {
        match self {
            Command::Append { chain, .. }
            | Command::Insert { chain, .. }
            | Command::DeleteRule { chain, .. }
            | Command::DeleteNum { chain, .. }
            | Command::Replace { chain, .. }
            | Command::Check { chain, .. }
            | Command::NewChain { chain }
            | Command::SetPolicy { chain, .. } => Some(chain),
            Command::Flush { chain }
            | Command::Zero { chain, .. }
            | Command::DeleteChain { chain } => chain.as_deref(),
            Command::RenameChain { .. } | Command::List { .. } | Command::ListRules { .. } => None,
        }
    }

    /// Whether it leaves a table moat does not have yet so, as iptables-nft
    /// leaves it: flushing or deleting every chain, zeroing counters or
    /// listing has nothing to do there (`iptables -t nat -F; iptables -t
    /// nat -X`, the usual reset, must not make a nat table with its hooks).
    pub fn keeps_a_missing_table(&self) -> bool {
        matches!(
            self,
            Command::Flush { chain: None }
                | Command::DeleteChain { chain: None }
                | Command::Zero { .. }
                | Command::List { .. }
                | Command::ListRules { .. }
        )
    }
}

/// Refuses the options iptables refuses with the command ("Illegal option
/// ... with this command"), in the order it checks them: `-n`, `-x` and
/// `--line-numbers` shape a listing and go with `-L` only, and `-c` gives
/// counters to what a command creates (`-A`, `-I`, `-R`, `-P`).
fn check_command_options(
    command: &Command,
    verb_word: &str,
    display: Display,
    counters: bool,
) -> Result<(), CommandError> {
    let lists = matches!(command, Command::List { .. });
    let counts = command.takes_counters();
    let listing_only = "it shapes a listing and goes with -L only";
    let refused = [
        (display.numeric && !lists, "-n", listing_only),
        (display.exact && !lists, "-x", listing_only),
        (
            display.line_numbers && !lists,
            "--line-numbers",
            listing_only,
        ),
        (
            counters && !counts,
            "-c",
            "it sets the counters of a rule -A, -I or -R adds or of a policy -P sets",
        ),
    ];
    match refused.iter().find(|(given, _, _)| *given) {
        Some((_, option, why)) => Err(CommandError::new(format!(
            "option `{option}' does not go with `{verb_word}': {why}"
        ))),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(line: &str) -> Vec<String> {
        line.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn listing_and_zeroing_go_together_with_the_last_chain() {
        for (line, wanted) in [
            ("-L INPUT -Z FORWARD", Some("FORWARD")),
            ("-Z INPUT -L", Some("INPUT")),
            ("-L -Z", None),
        ] {
            let inv = parse_command_line(&words(line), Family::Ipv4).unwrap();
            assert!(
                matches!(&inv.command, Command::List { chain, zero: ZeroAfter::Chains, .. } if chain.as_deref() == wanted),
                "{line}: {:?}",
                inv.command
            );
        }
        let inv = parse_command_line(&words("-S -Z userc"), Family::Ipv4).unwrap();
        assert!(matches!(
            inv.command,
            Command::ListRules {
                zero: ZeroAfter::Chains,
                ..
            }
        ));
        assert!(parse_command_line(&words("-A INPUT -Z"), Family::Ipv4).is_err());
    }

    #[test]
    fn own_long_options_take_their_value_after_an_equals_sign() {
        for (attached, apart) in [
            (
                "--table=nat --append=PREROUTING -j ACCEPT",
                "-t nat -A PREROUTING -j ACCEPT",
            ),
            ("--list-rules=INPUT", "-S INPUT"),
            ("--insert=INPUT 2 -j DROP", "-I INPUT 2 -j DROP"),
            ("--modprobe=/bin/true -F", "-F"),
            ("--modprobe /bin/true -N x", "-N x"),
        ] {
            let parse = |line| parse_command_line(&words(line), Family::Ipv4).unwrap();
            let (a, b) = (parse(attached), parse(apart));
            assert_eq!((a.stage, a.command), (b.stage, b.command), "{attached}");
        }
        // A rule option's `=` stays the rule parser's: recent's --set is
        // not --set-counters.
        let inv = parse_command_line(&words("-A INPUT -m recent --set"), Family::Ipv4).unwrap();
        assert!(inv.counters.is_none());
        assert!(parse_command_line(&words("-S --modprobe"), Family::Ipv4).is_err());
    }

    #[test]
    fn unknown_options_are_told_before_a_missing_command() {
        let message = |line: &str| {
            parse_command_line(&words(line), Family::Ipv4)
                .err()
                .map(|e| e.message)
                .unwrap_or_default()
        };
        for line in ["-Q", "--bogus INPUT", "-s 10.0.0.1 -Q", "-L -Q"] {
            let unknown = line.split(' ').find(|w| *w == "-Q" || *w == "--bogus");
            assert!(
                message(line).starts_with(&format!("unknown option \"{}\"", unknown.unwrap())),
                "{line}: {}",
                message(line)
            );
        }
        for line in ["-p tcp --dport 22", "-x", "-t nat"] {
            assert!(message(line).starts_with("no command specified"), "{line}");
        }
    }

    #[test]
    fn matches_after_a_command_without_a_rule_are_read_and_ignored() {
        // As iptables 1.8.9: `-m` and its options go with any command; the
        // rest of a rule does not, and a match's own errors still count.
        for (with, without) in [
            ("-L -m conntrack --ctstate NEW", "-L"),
            ("-S INPUT -m comment --comment x", "-S INPUT"),
            ("-F INPUT -m addrtype --src-type LOCAL", "-F INPUT"),
            ("-N f2b-x -m recent --set", "-N f2b-x"),
            ("-P INPUT DROP -m mark --mark 1", "-P INPUT DROP"),
            ("-D INPUT 1 -m policy --dir in --pol ipsec", "-D INPUT 1"),
        ] {
            let parse = |line| parse_command_line(&words(line), Family::Ipv4).unwrap();
            assert_eq!(parse(with).command, parse(without).command, "{with}");
        }
        for line in [
            "-L -p tcp -m conntrack --ctstate NEW",
            "-L -m comment --comment x -j ACCEPT",
            "-L -m conntrack --ctstate BOGUS",
            "-L -m state",
        ] {
            assert!(
                parse_command_line(&words(line), Family::Ipv4).is_err(),
                "{line}"
            );
        }
    }

    #[test]
    fn counters_read_as_iptables_reads_them() {
        for (word, n) in [
            ("5", 5),
            ("5x", 5),
            (" 7", 7),
            ("+8", 8),
            ("-1", u64::MAX),
            ("18446744073709551616", u64::MAX),
        ] {
            assert_eq!(scanned_unsigned(word), Some(n), "{word}");
        }
        for word in ["x", "", "-"] {
            assert_eq!(scanned_unsigned(word), None, "{word}");
        }
        // sscanf's %llu stops at the x.
        assert_eq!(scanned_unsigned("0x10"), Some(0));
        let twice = parse_command_line(&words("-A INPUT -c 1 2 -c 3 4"), Family::Ipv4);
        assert!(twice.is_err());
    }

    #[test]
    fn rule_numbers_read_as_iptables_reads_them() {
        for (word, n) in [
            ("1", 1),
            ("0x1f", 31),
            ("010", 8),
            (" 2", 2),
            ("+3", 3),
            ("2147483647", 2147483647),
        ] {
            assert_eq!(rule_number(word), Some(n), "{word}");
        }
        for word in ["0", "-1", "0x", "1x", "1 ", "08", "2147483648", "", "+"] {
            assert_eq!(rule_number(word), None, "{word}");
        }
    }

    #[test]
    fn short_options_take_their_value_in_the_same_word_as_getopt_reads_it() {
        for (attached, apart) in [
            (
                "-tnat -APOSTROUTING -j ACCEPT",
                "-t nat -A POSTROUTING -j ACCEPT",
            ),
            ("-nvLINPUT", "-n -v -L INPUT"),
            ("-SINPUT", "-S INPUT"),
            ("-Nfoo", "-N foo"),
            ("-Efoo bar", "-E foo bar"),
            ("-PFORWARD DROP", "-P FORWARD DROP"),
            (
                "-A INPUT -mcomment --comment x",
                "-A INPUT -m comment --comment x",
            ),
            ("-A INPUT -c1 2 -Mfoo", "-A INPUT -c 1 2 -M foo"),
        ] {
            let parse = |line| parse_command_line(&words(line), Family::Ipv4).unwrap();
            let (a, b) = (parse(attached), parse(apart));
            assert_eq!(
                (a.stage, a.command, a.display, a.counters),
                (b.stage, b.command, b.display, b.counters),
                "{attached}"
            );
        }
        assert!(parse_command_line(&words("-L -v -v"), Family::Ipv4).is_ok());
        // getopt's `--` ends the options; nothing may follow it.
        let ended = parse_command_line(&words("-A INPUT -s 192.0.2.1 --"), Family::Ipv4);
        assert!(ended.is_ok_and(|inv| inv.command.rules().count() == 1));
        assert!(parse_command_line(&words("-L -- INPUT"), Family::Ipv4).is_err());
        for line in [
            // A display flag but -v given twice, as iptables refuses it.
            "-L -n -n",
            "-nnL",
            "-S -x --exact",
            "-L --line-numbers --line-numbers",
            // iptables reads these from the word itself, and so finds no
            // such protocol, address or interface.
            "-A INPUT -ptcp",
            "-A INPUT -s1.2.3.4",
            "-A INPUT -ieth0",
            "-A INPUT -jACCEPT",
        ] {
            assert!(
                parse_command_line(&words(line), Family::Ipv4).is_err(),
                "{line}"
            );
        }
    }

    #[test]
    fn own_long_options_may_be_abbreviated_as_getopt_allows() {
        for (short, whole) in [
            ("-L --line", "-L --line-numbers"),
            ("-L INPUT --numeric --verb --exa", "-L INPUT -n -v -x"),
            ("--tab=nat --list-r", "-t nat -S"),
            ("--app INPUT -j ACCEPT", "-A INPUT -j ACCEPT"),
            ("--ren a b", "-E a b"),
        ] {
            let parse = |line| parse_command_line(&words(line), Family::Ipv4).unwrap();
            let (a, b) = (parse(short), parse(whole));
            assert_eq!(
                (a.stage, a.command, a.display),
                (b.stage, b.command, b.display),
                "{short}"
            );
        }
        // Prefixes of several options, or of a rule option, are not taken.
        for line in ["-L --li", "--del INPUT 1", "-S --w 1"] {
            assert!(
                parse_command_line(&words(line), Family::Ipv4).is_err(),
                "{line}"
            );
        }
        let recent = parse_command_line(&words("-A INPUT -m recent --set"), Family::Ipv4);
        assert!(recent.unwrap().counters.is_none());
        // An option's value is taken as written, even one that looks like
        // an option of iptables'.
        for (line, text) in [
            (
                "-A INPUT -m comment --comment --line",
                "-m comment --comment --line",
            ),
            (
                "-A INPUT -m comment --comment --table=x",
                "-m comment --comment \"--table=x\"",
            ),
        ] {
            let inv = parse_command_line(&words(line), Family::Ipv4).unwrap();
            let Command::Append { rule, .. } = inv.command else {
                panic!("{line}")
            };
            assert_eq!(rule.to_args(), text, "{line}");
        }
    }

    #[test]
    fn zeroing_one_rule_takes_over_from_a_listing_before_it() {
        let inv = parse_command_line(&words("-L -Z INPUT 2"), Family::Ipv4).unwrap();
        assert_eq!(
            inv.command,
            Command::Zero {
                chain: Some("INPUT".into()),
                num: Some(2)
            }
        );
        let inv = parse_command_line(&words("-Z INPUT 2 -L"), Family::Ipv4).unwrap();
        assert_eq!(
            inv.command,
            Command::List {
                chain: Some("INPUT".into()),
                num: Some(2),
                zero: ZeroAfter::Rule
            }
        );
        let inv = parse_command_line(&words("-L INPUT 2 -Z"), Family::Ipv4).unwrap();
        assert!(matches!(
            inv.command,
            Command::List {
                num: Some(2),
                zero: ZeroAfter::Chains,
                ..
            }
        ));
    }

    #[test]
    fn display_and_counter_options_go_only_with_their_commands() {
        for line in [
            "-A INPUT -n -j ACCEPT",
            "-Z INPUT -x",
            "-F --line-numbers",
            "-S INPUT -n",
            "-L INPUT -c 1 2",
            "-D INPUT 1 -c 1 2",
            "-C INPUT -j ACCEPT -c 1 2",
            "-S -Z -n",
            "-L -Z INPUT 1 -n",
        ] {
            let e = parse_command_line(&words(line), Family::Ipv4).unwrap_err();
            assert!(e.message.contains("does not go with"), "{line}: {e}");
        }
        for line in [
            "-L -n -x --line-numbers -v",
            "-L -Z -n",
            "-Z INPUT 1 -L -n",
            "-P INPUT DROP -c 1 2",
            "-R INPUT 1 -c 1 2 -j ACCEPT",
            "-F -v",
        ] {
            assert!(
                parse_command_line(&words(line), Family::Ipv4).is_ok(),
                "{line}"
            );
        }
    }

    #[test]
    fn the_other_familys_option_is_refused_and_marked() {
        let e = parse_command_line(&words("-A INPUT -6 -j DROP"), Family::Ipv4).unwrap_err();
        assert!(e.other_family && e.message.contains("ip6tables"), "{e}");
        let e = parse_command_line(&words("-A INPUT --ipv4 -j DROP"), Family::Ipv6).unwrap_err();
        assert!(e.other_family, "{e}");
        let inv = parse_command_line(&words("-A INPUT -4 -j DROP"), Family::Ipv4).unwrap();
        assert!(matches!(inv.command, Command::Append { .. }));
        let e = parse_command_line(&words("-A INPUT --bogus"), Family::Ipv4).unwrap_err();
        assert!(!e.other_family);
    }

    #[test]
    fn bundled_listing_flags() {
        let inv = parse_command_line(&words("-vnL"), Family::Ipv4).unwrap();
        assert!(matches!(inv.command, Command::List { chain: None, .. }));
        assert!(inv.display.verbose && inv.display.numeric);
        let inv = parse_command_line(&words("-nvxL INPUT --line-numbers"), Family::Ipv4).unwrap();
        assert!(matches!(inv.command, Command::List { chain: Some(ref c), .. } if c == "INPUT"));
        assert!(inv.display.exact && inv.display.line_numbers);
    }

    #[test]
    fn words_with_multibyte_characters_do_not_panic() {
        for word in ["-\u{315}x", "-ab\u{26b}", "-\u{26b}", "-v\u{26b}L"] {
            assert!(parse_command_line(&[word.to_string()], Family::Ipv4).is_err());
        }
    }

    #[test]
    fn table_and_rule_options_may_come_anywhere() {
        let inv = parse_command_line(
            &words("-i eth0 -I FORWARD -m state -d 10.0.0.0/24 --state NEW -j ACCEPT"),
            Family::Ipv4,
        )
        .unwrap();
        assert!(
            matches!(inv.command, Command::Insert { ref chain, num: 1, .. } if chain == "FORWARD")
        );
        let inv = parse_command_line(
            &words("-A PREROUTING -t nat -p tcp --dport 80 -j REDIRECT --to-ports 8080"),
            Family::Ipv4,
        )
        .unwrap();
        assert_eq!(inv.stage, Stage::Nat);
    }

    #[test]
    fn command_errors_are_pointed() {
        let err = parse_command_line(&words("-p tcp"), Family::Ipv4).unwrap_err();
        assert!(err.message.contains("no command"), "{err}");
        let err = parse_command_line(&words("-A INPUT -L"), Family::Ipv4).unwrap_err();
        assert!(err.message.contains("one command"), "{err}");
        let err = parse_command_line(&words("-t filtr -L"), Family::Ipv4).unwrap_err();
        assert!(err.message.contains("filter"), "{err}");
        let err = parse_command_line(&words("-P INPUT REJECT"), Family::Ipv4).unwrap_err();
        assert!(err.message.contains("ACCEPT or DROP"), "{err}");
        let err = parse_command_line(&words("-D INPUT 0"), Family::Ipv4).unwrap_err();
        assert!(err.message.contains("rule number"), "{err}");
    }
}
