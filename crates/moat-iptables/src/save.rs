//! iptables-save files: parsed into a [`SaveFile`], restored onto table
//! states, and emitted from table states.

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::fmt::Write as _;

use moat_model::{Counters, Family, Policy, Stage};

use crate::c_number::{scanned_unsigned, scanned_unsigned_prefix};
use crate::command::{parse_command_line, parse_table, Command};
use crate::engine::{apply, no_matching_rule, Problem, BAD_RULE};
use crate::listing::{state_lines, stored_lines, RuleLines};
use crate::rule::{SavedWords, Warning};
use crate::state::{StoredChain, TableState};

/// A problem in a save file, with the line it is on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}{}", if text.is_empty() { String::new() } else { format!("\n  {line} | {text}") })]
pub struct SaveError {
    /// The 1-based line number.
    pub line: usize,
    /// What is wrong.
    pub message: String,
    /// The offending line.
    pub text: String,
    /// Which of iptables-restore's exit statuses it ends the restore with.
    pub problem: Problem,
    /// iptables' own words for the failure, when it has some (see
    /// [`crate::EngineError::iptables`]).
    pub iptables: Option<&'static str>,
}

/// A chain declaration (`:NAME POLICY [packets:bytes]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainDecl {
    /// The chain's name.
    pub name: String,
    /// The policy word: `ACCEPT` or `DROP` for a built-in chain, `-` to
    /// keep its policy or for a user chain. A user chain has no policy and
    /// iptables-restore takes any word there.
    pub policy: String,
    /// The declared counters, as iptables-restore reads them (`[P:B`,
    /// whatever follows); `None` when missing or unreadable, which matters
    /// only to a built-in chain's restore with `--counters`.
    pub counters: Option<Counters>,
    /// The line it is on.
    pub line: usize,
}

/// A command line inside a table section (`[p:b] -A CHAIN ...`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaveCommand {
    /// The counters written before the command, if any.
    pub counters: Option<LineCounters>,
    /// The line it is on.
    pub line: usize,
    /// The line's text.
    pub text: String,
}

impl SaveCommand {
    /// The command's words, without its counters (read from its text when
    /// needed, so a large file is not kept twice; a word without quotes is
    /// borrowed from it).
    pub fn words(&self) -> Vec<Cow<'_, str>> {
        self.checked_words().unwrap_or_default()
    }

    /// [`SaveCommand::words`], or why the line cannot be read as words: a
    /// quote it opens and never closes. iptables-restore takes the rest of
    /// such a line, its end included, into the quoted word, so that
    /// `--comment "ssh -j ACCEPT` makes a rule without a target; moat
    /// refuses the line.
    pub fn checked_words(&self) -> Result<Vec<Cow<'_, str>>, String> {
        command_words(self.text.trim()).map(|(_, words)| words)
    }
}

/// Why iptables-restore refuses a line inside a table that is neither a
/// chain declaration nor COMMIT, if it does: it reads it as a command, so
/// its first word must be an option (or, at the very start, its counters).
fn misplaced_line(line: &str) -> Option<String> {
    let trimmed = line.trim_start();
    let Some(first) = trimmed.split_whitespace().next() else {
        return Some(
            "a line of only white space, which iptables-restore takes for a command and \
             refuses: remove it"
                .into(),
        );
    };
    let indented = trimmed.len() < line.len();
    if first.starts_with('-') || (first.starts_with('[') && !indented) {
        return None;
    }
    Some(if !indented && first.starts_with("COMMIT") {
        "COMMIT must be alone on its line, with nothing after it".into()
    } else if indented && (first.starts_with(['*', ':', '#', '[']) || first == "COMMIT") {
        format!(
            "`{first}' must start the line: iptables-restore reads an indented line as a \
             command and refuses it"
        )
    } else {
        format!("unexpected word `{first}': a rule line starts with a command such as -A CHAIN")
    })
}

/// A command line's `[packets:bytes]`, as iptables-restore reads it: the
/// numbers are read only with `--counters`, each as C's `%llu` reads it,
/// or iptables-restore's words for why it is not one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineCounters {
    /// The packets.
    pub packets: Result<u64, &'static str>,
    /// The bytes.
    pub bytes: Result<u64, &'static str>,
}

impl LineCounters {
    /// Reads the two numbers' texts. As `-c`'s second word, bytes that
    /// start with `-` or `!` are taken for an option, so missing.
    fn read(packets: &str, bytes: &str) -> LineCounters {
        LineCounters {
            packets: scanned_unsigned(packets).ok_or("-c packet counter not numeric"),
            bytes: if bytes.starts_with(['-', '!']) {
                Err("-c requires packet and byte counter")
            } else {
                scanned_unsigned(bytes).ok_or("-c byte counter not numeric")
            },
        }
    }

    /// The counters, or iptables-restore's words for the one that is not a
    /// number.
    pub fn numbers(self) -> Result<Counters, &'static str> {
        Ok(Counters {
            packets: self.packets?,
            bytes: self.bytes?,
        })
    }
}

/// Splits a line that starts with `[` into its counters and the command
/// after the first `]`, which needs no space before it. As in
/// iptables-restore, colons after the `[` are skipped and the bytes are
/// what follows the next colon up to the `]`.
fn split_counters(line: &str) -> Result<(LineCounters, &str), String> {
    let close = line
        .find(']')
        .ok_or("bad counters: a line starting with `[' needs a `]' after [packets:bytes]")?;
    let (packets, bytes) = line[1..close]
        .trim_start_matches(':')
        .split_once(':')
        .ok_or_else(|| {
            format!(
                "bad counters `{}': expected [packets:bytes]",
                &line[..=close]
            )
        })?;
    Ok((LineCounters::read(packets, bytes), &line[close + 1..]))
}

/// A command line's counters (`[p:b]` before it) and its other words; a
/// `-c PACKETS BYTES` in it is one of its options, as in iptables-restore.
fn command_words(line: &str) -> Result<(Option<LineCounters>, Vec<Cow<'_, str>>), String> {
    let (counters, command) = if line.starts_with('[') {
        let (counters, command) = split_counters(line)?;
        (Some(counters), command)
    } else {
        (None, line)
    };
    let words = SavedWords::all(command).ok_or(
        "a `\"' opens a quote that the line never closes (iptables-restore would take the rest \
         of the line into one word, options and all): close the quote",
    )?;
    Ok((counters, words))
}

/// A command line's counters, as [`command_words`] reads them, without
/// splitting the command into words.
fn command_counters(line: &str) -> Result<Option<LineCounters>, String> {
    if !line.starts_with('[') {
        return Ok(None);
    }
    split_counters(line).map(|(counters, _)| Some(counters))
}

/// One `*table` ... `COMMIT` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaveTable {
    /// The table.
    pub stage: Stage,
    /// The line of its `*table` header.
    pub line: usize,
    /// Chain declarations in order.
    pub chains: Vec<ChainDecl>,
    /// Commands in order.
    pub commands: Vec<SaveCommand>,
}

/// A whole iptables-save file.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SaveFile {
    /// The table sections in order.
    pub tables: Vec<SaveTable>,
}

/// Reads a chain declaration's counters as iptables-restore does, as
/// `sscanf("[%llu:%llu]")` reads them: the colon right after the first
/// number, nothing looked at after the second.
fn parse_declared_counters(text: &str) -> Option<Counters> {
    let (packets, rest) = scanned_unsigned_prefix(text.strip_prefix('[')?)?;
    let bytes = scanned_unsigned(rest.strip_prefix(':')?)?;
    Some(Counters { packets, bytes })
}

impl SaveFile {
    /// Parses the text of an iptables-save file.
    pub fn parse(text: &str) -> Result<SaveFile, SaveError> {
        let mut file = SaveFile::default();
        let mut open: Option<(SaveTable, usize)> = None;
        for (i, whole) in text.split('\n').enumerate() {
            let line = i + 1;
            // iptables-restore refuses `*filter\r`, `COMMIT\r` and a
            // command's `-j ACCEPT\r`.
            let raw = whole.strip_suffix('\r').unwrap_or(whole);
            let carriage_return = raw.len() < whole.len();
            let trimmed = raw.trim();
            let error = |message: String| SaveError {
                line,
                message,
                text: raw.to_string(),
                problem: Problem::Parameter,
                iptables: None,
            };
            // iptables-restore looks at a line's first character: only an
            // empty line and one starting with `#` are skipped, and `*`, `:`
            // and COMMIT count only at the start of the line.
            if whole.is_empty() || raw.starts_with('#') {
                continue;
            }
            if trimmed.is_empty() && open.is_none() {
                return Err(SaveError {
                    problem: Problem::Other,
                    ..error(
                        "a line of only white space between tables, which \
                         iptables-restore refuses: remove it"
                            .into(),
                    )
                });
            }
            // A command's last word would keep the carriage return.
            let refuses_cr = trimmed.starts_with(['*', '-', '[']) || trimmed == "COMMIT";
            if refuses_cr && carriage_return {
                return Err(error(
                    "the line ends with a carriage return (Windows line endings), which \
                     iptables-restore refuses: convert the file with `dos2unix` first"
                        .into(),
                ));
            }
            if let Some(name) = raw.strip_prefix('*') {
                if let Some((t, start)) = &open {
                    return Err(error(format!(
                        "table `{}' opened on line {start} has no COMMIT before this new table",
                        stage_name(t.stage)
                    )));
                }
                // Its first word, as iptables-restore reads it (`*filter
                // extra` is the filter table).
                let name = name.split_whitespace().next().unwrap_or_default();
                let stage = parse_table(name).map_err(|e| error(e.message))?;
                open = Some((
                    SaveTable {
                        stage,
                        line,
                        chains: Vec::new(),
                        commands: Vec::new(),
                    },
                    line,
                ));
                continue;
            }
            let Some((table, _)) = open.as_mut() else {
                let expected = if trimmed.starts_with('*') {
                    "a table line must start the line, with no spaces before `*'"
                } else {
                    "expected a table line such as `*filter' before this line"
                };
                return Err(SaveError {
                    problem: Problem::Other,
                    ..error(expected.into())
                });
            };
            if raw == "COMMIT" {
                if let Some((t, _)) = open.take() {
                    file.tables.push(t);
                }
                continue;
            }
            if let Some(decl) = raw.strip_prefix(':') {
                let mut parts = decl.split_whitespace();
                let name = parts
                    .next()
                    .ok_or_else(|| error("expected a chain name after `:'".into()))?;
                let policy = parts.next().ok_or_else(|| {
                    error(format!(
                        "chain `{name}' needs a policy (ACCEPT, DROP or `-')"
                    ))
                })?;
                table.chains.push(ChainDecl {
                    name: name.to_string(),
                    policy: policy.to_string(),
                    counters: parts.next().and_then(parse_declared_counters),
                    line,
                });
                continue;
            }
            if let Some(problem) = misplaced_line(raw) {
                return Err(error(problem));
            }
            let counters = command_counters(trimmed).map_err(error)?;
            table.commands.push(SaveCommand {
                counters,
                line,
                text: raw.to_string(),
            });
        }
        if let Some((t, start)) = open {
            return Err(SaveError {
                line: start,
                problem: Problem::Other,
                message: format!(
                    "table `{}' is never committed: add a COMMIT line at its end",
                    stage_name(t.stage)
                ),
                text: String::new(),
                iptables: None,
            });
        }
        Ok(file)
    }
}

/// The iptables name of a table ([`Stage::name`]).
pub fn stage_name(stage: Stage) -> &'static str {
    stage.name()
}

/// How a restore treats what is already there.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RestoreOptions {
    /// `--noflush`: keep existing rules and chains.
    pub noflush: bool,
    /// `--counters`: use the counters in the file.
    pub counters: bool,
    /// `--verbose` without `--noflush`: iptables-nft-restore then flushes
    /// each chain rather than the table, so a built-in chain the file does
    /// not declare keeps its policy and counters.
    pub flush_chains: bool,
}

/// Carries out a save file's sections, each on its table's state, and checks
/// the resulting tables as a whole, returning the new states.
///
/// `current` gives the state a table has now (used with `noflush`).
pub fn restore(
    file: &SaveFile,
    family: Family,
    options: RestoreOptions,
    current: impl FnMut(Stage) -> Result<TableState, String>,
) -> Result<Vec<TableState>, SaveError> {
    restore_with_notes(file, family, options, current, |_, _| {})
}

/// What a restore tells its caller about a line as it carries it out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineNote<'a> {
    /// A warning: outdated syntax, a rule that means less in moat.
    Warning(&'a Warning),
    /// What the line's own `-v` prints, as iptables-restore prints it:
    /// a line for each rule it stands for, the chains it flushes or deletes.
    Verbose(&'a str),
    /// What a `-L` or `-S` line lists: the table as it stands at the line.
    Listing(&'a str),
}

/// [`restore`], handing `note` what each command line has to say, with
/// the line's number.
pub fn restore_with_notes(
    file: &SaveFile,
    family: Family,
    options: RestoreOptions,
    mut current: impl FnMut(Stage) -> Result<TableState, String>,
    mut note: impl FnMut(usize, LineNote<'_>),
) -> Result<Vec<TableState>, SaveError> {
    let mut results: Vec<TableState> = Vec::new();
    for table in &file.tables {
        let mut state = if options.noflush || options.flush_chains {
            let now = match results.iter().position(|s| s.stage == table.stage) {
                Some(i) => results.remove(i),
                None => current(table.stage).map_err(|message| SaveError {
                    line: 0,
                    message,
                    text: String::new(),
                    problem: Problem::Other,
                    iptables: None,
                })?,
            };
            if options.noflush {
                now
            } else {
                now.flushed()
            }
        } else {
            TableState::empty(family, table.stage)
        };
        let mut settled = BTreeSet::new();
        for step in table.steps() {
            match step {
                Step::Declare(decl) => {
                    settled.insert(decl.name.clone());
                    declare_chain(decl, options, &mut state, &mut note)?
                }
                Step::Run(cmd) => {
                    let mut line = Line {
                        options,
                        state: &mut state,
                        settled: &mut settled,
                    };
                    run_line(cmd, family, &mut line, &mut note)?
                }
            }
        }
        state.validate().map_err(|e| {
            let (line, text) = adding_line(table, &state, &e, family)
                .map_or((table.line, String::new()), |c| (c.line, c.text.clone()));
            SaveError {
                line,
                message: format!("table `{}': {e}", stage_name(table.stage)),
                text,
                problem: if e.kernel {
                    Problem::Resource
                } else {
                    Problem::Parameter
                },
                iptables: None,
            }
        })?;
        results.push(state);
    }
    Ok(results)
}

/// The last command line of `table` that adds the rule `problem` is about
/// (`-A`, `-I` or `-R` of its text in its chain), so that a rule refused
/// once the table is whole is told at its own line.
fn adding_line<'a>(
    table: &'a SaveTable,
    state: &TableState,
    problem: &crate::state::StateError,
    family: Family,
) -> Option<&'a SaveCommand> {
    let chain = state.chain(&problem.chain)?;
    let text = chain.rules.get(problem.index.checked_sub(1)?)?.text();
    table.commands.iter().rev().find(|cmd| {
        parse_command_line(&cmd.words(), family).is_ok_and(|inv| {
            let adds = matches!(
                &inv.command,
                Command::Append { chain, .. }
                | Command::Insert { chain, .. }
                | Command::Replace { chain, .. } if *chain == problem.chain
            );
            adds && inv.command.rules().any(|rule| rule.to_args() == text)
        })
    })
}

/// One line of a table section, in the order of the file: iptables-restore
/// carries out declarations and commands as they come, so a command can
/// use a chain only after its declaration.
enum Step<'a> {
    Declare(&'a ChainDecl),
    Run(&'a SaveCommand),
}

impl SaveTable {
    /// Whether the section makes nothing in its table: it declares no
    /// chain and its commands only flush, delete every chain, zero or list
    /// (or are of the other family). Without --noflush such a section
    /// leaves iptables-nft no table at all, and with it a table that was
    /// not there stays away.
    pub fn makes_nothing(&self, family: Family) -> bool {
        self.chains.is_empty()
            && self
                .commands
                .iter()
                .all(|cmd| match parse_command_line(&cmd.words(), family) {
                    Ok(inv) => inv.command.keeps_a_missing_table(),
                    Err(e) => e.other_family,
                })
    }

    /// The chains whose rules the section's declarations and commands
    /// change or look at; `None` when a command needs the whole table
    /// (see [`Command::chain_touched`]) or does not read (the restore then
    /// says why).
    pub fn chains_touched(&self, family: Family) -> Option<BTreeSet<String>> {
        let mut chains: BTreeSet<String> = self.chains.iter().map(|d| d.name.clone()).collect();
        for command in &self.commands {
            chains.insert(command_chain(command, family)?);
        }
        Some(chains)
    }

    /// The section's declarations and commands in the order of their lines.
    fn steps(&self) -> impl Iterator<Item = Step<'_>> {
        let mut chains = self.chains.iter().peekable();
        let mut commands = self.commands.iter().peekable();
        std::iter::from_fn(move || match (chains.peek(), commands.peek()) {
            (Some(d), Some(c)) if d.line < c.line => chains.next().map(Step::Declare),
            (_, Some(_)) => commands.next().map(Step::Run),
            (Some(_), None) => chains.next().map(Step::Declare),
            (None, None) => None,
        })
    }
}

/// The verbs that name one chain as the word after them, when they do.
const CHAIN_VERBS: [&str; 20] = [
    "-A",
    "--append",
    "-I",
    "--insert",
    "-D",
    "--delete",
    "-R",
    "--replace",
    "-C",
    "--check",
    "-F",
    "--flush",
    "-Z",
    "--zero",
    "-N",
    "--new-chain",
    "-X",
    "--delete-chain",
    "-P",
    "--policy",
];

/// The chain `command` touches (see [`Command::chain_touched`]): the word
/// after the verb that starts the line, as saved files write it, else what
/// the line means when parsed.
fn command_chain(command: &SaveCommand, family: Family) -> Option<String> {
    let mut words = command.text.split_ascii_whitespace();
    let mut verb = words.next()?;
    if verb.starts_with('[') {
        verb = words.next()?;
    }
    let plain = |word: &&str| !word.starts_with('-') && !word.contains(['"', '\'', '\\', '!']);
    if let Some(chain) = words.next().filter(plain) {
        if CHAIN_VERBS.contains(&verb) {
            return Some(chain.to_string());
        }
    }
    let words = command.checked_words().ok()?;
    let invocation = parse_command_line(&words, family).ok()?;
    invocation.command.chain_touched().map(str::to_string)
}

/// Carries out chain declaration `decl` of a restore on `state`: a
/// built-in chain takes its policy and its counters (with `--counters`
/// the file's, else zero),
/// a user chain is made, or flushed when it is there already.
fn declare_chain(
    decl: &ChainDecl,
    options: RestoreOptions,
    state: &mut TableState,
    note: &mut impl FnMut(usize, LineNote<'_>),
) -> Result<(), SaveError> {
    let error = |message: String, problem| SaveError {
        line: decl.line,
        message,
        text: String::new(),
        problem,
        iptables: None,
    };
    if decl.policy != "-" && state.chain(&decl.name).is_none_or(|c| c.base.is_none()) {
        note(
            decl.line,
            LineNote::Warning(&Warning::advice(format!(
                "user chain `{}' has no policy: `{}' is ignored (declare it with `-')",
                decl.name, decl.policy
            ))),
        );
    }
    match state.chain_mut(&decl.name) {
        Some(chain) if chain.base.is_some() => {
            let policy = match decl.policy.as_str() {
                "ACCEPT" => Some(Policy::Accept),
                "DROP" => Some(Policy::Drop),
                "-" => None,
                other => {
                    return Err(error(
                        format!(
                            "bad policy `{other}' for built-in chain `{}': expected ACCEPT, \
                             DROP or `-' (keeps its policy)",
                            decl.name
                        ),
                        Problem::Other,
                    ))
                }
            };
            if let (Some((_, p)), Some(policy)) = (&mut chain.base, policy) {
                *p = policy;
            }
            if options.counters {
                chain.policy_counters = decl.counters.ok_or_else(|| {
                    error(
                        format!(
                            "built-in chain `{}' needs its counters as [packets:bytes] \
                             after its policy when restoring with --counters",
                            decl.name
                        ),
                        Problem::Parameter,
                    )
                })?;
            } else if policy.is_some() {
                // iptables-restore sets the policy with counters of zero,
                // also over a chain --noflush keeps.
                chain.policy_counters = Counters::default();
            }
        }
        // A user chain declared again, or made earlier in the
        // section, is flushed, as iptables-restore does.
        Some(chain) => chain.rules.clear(),
        None => {
            let inv = crate::command::Invocation {
                stage: state.stage,
                command: Command::NewChain {
                    chain: decl.name.clone(),
                },
                display: Default::default(),
                warnings: Vec::new(),
                counters: None,
                command_line_only: None,
                wait: Default::default(),
            };
            apply(inv, state).map_err(|e| error(e.message, e.problem))?;
        }
    }
    Ok(())
}

/// What a command line of a restore works on.
struct Line<'a> {
    /// How the restore treats what is there.
    options: RestoreOptions,
    /// The table so far.
    state: &'a mut TableState,
    /// The built-in chains whose policy the section has set or kept so
    /// far (see [`accept_on_first_rule`]), and the chains it declared.
    settled: &'a mut BTreeSet<String>,
}

/// With `--verbose` (chains flushed, policies kept), iptables-nft-restore
/// makes a built-in chain again, with policy ACCEPT and its counters kept,
/// when a rule goes into it before the section declares it or sets its
/// policy.
fn accept_on_first_rule(command: &Command, line: &mut Line<'_>) {
    let chain = match command {
        Command::Append { chain, .. }
        | Command::Insert { chain, .. }
        | Command::Replace { chain, .. } => chain,
        Command::SetPolicy { chain, .. } => {
            line.settled.insert(chain.clone());
            return;
        }
        _ => return,
    };
    if !line.options.flush_chains || !line.settled.insert(chain.clone()) {
        return;
    }
    if let Some((_, policy)) = line.state.chain_mut(chain).and_then(|c| c.base.as_mut()) {
        *policy = Policy::Accept;
    }
}

/// Carries out command line `cmd` of a restore on `line`'s table.
fn run_line(
    cmd: &SaveCommand,
    family: Family,
    line: &mut Line<'_>,
    note: &mut impl FnMut(usize, LineNote<'_>),
) -> Result<(), SaveError> {
    let options = line.options;
    let error = |message: String, problem| SaveError {
        line: cmd.line,
        message,
        text: cmd.text.clone(),
        problem,
        iptables: None,
    };
    let words = cmd
        .checked_words()
        .map_err(|reason| error(reason, Problem::Parameter))?;
    if let Some(refusal) = beyond_restore_limits(&words) {
        return Err(SaveError {
            iptables: Some(refusal.1),
            ..error(refusal.0, Problem::Parameter)
        });
    }
    let mut inv = match parse_command_line(&words, family) {
        Ok(inv) => inv,
        // A `-6` line in iptables-restore (`-4` in ip6tables-restore).
        Err(e) if e.other_family => return Ok(()),
        Err(e) => return Err(error(e.message, e.problem)),
    };
    if let Some(option) = inv.command_line_only {
        let (reason, iptables) = match option {
            "-t" => (
                "in a restore file the table is its `*table' line",
                "The -t option cannot be used in iptables-restore.",
            ),
            "-w" => (
                "a restore file waits as a whole",
                "You cannot use `-w' from iptables-restore",
            ),
            _ => (
                "a restore file waits as a whole",
                "You cannot use `-W' from iptables-restore",
            ),
        };
        let message = format!("option `{option}' is for a command line: {reason}");
        return Err(SaveError {
            iptables: Some(iptables),
            ..error(message, Problem::Parameter)
        });
    }
    for w in &inv.warnings {
        note(cmd.line, LineNote::Warning(w));
    }
    let echo = inv.display.verbose.then(|| inv.command.verbose_echo());
    // With --counters, a line's `[packets:bytes]` is its `-c`: what its
    // rules start with, refused before a command that creates none.
    if let Some(counters) = cmd.counters.filter(|_| options.counters) {
        let counters = counters.numbers().map_err(|words| SaveError {
            iptables: Some(words),
            ..error(
                "counters [packets:bytes] must be numbers".into(),
                Problem::Parameter,
            )
        })?;
        if inv.counters.is_some() {
            return Err(SaveError {
                iptables: Some("multiple -c flags not allowed"),
                ..error(
                    "counters twice: [packets:bytes] before the command (read with \
                     --counters) and -c in it"
                        .into(),
                    Problem::Parameter,
                )
            });
        }
        if !inv.command.takes_counters() {
            return Err(error(
                "counters [packets:bytes] (-c with --counters) go only before -A, -I, -R and \
                 -P, which create what they count"
                    .into(),
                Problem::Parameter,
            ));
        }
        inv.counters = Some(counters);
    }
    let checked = match &inv.command {
        Command::Check { chain, rule, .. } => Some(no_matching_rule(chain, &rule.to_args())),
        _ => None,
    };
    let lists = matches!(
        inv.command,
        Command::List { .. } | Command::ListRules { .. }
    );
    accept_on_first_rule(&inv.command, line);
    let applied = apply(inv, line.state).map_err(|e| SaveError {
        iptables: e.iptables,
        ..error(e.message, e.problem)
    })?;
    // As iptables-restore: a `-C` that finds no rule fails the restore.
    if let (Some(false), Some(checked)) = (applied.check, checked) {
        return Err(SaveError {
            iptables: Some(BAD_RULE),
            ..error(checked, Problem::Other)
        });
    }
    match echo {
        Some(echo) => note(cmd.line, LineNote::Verbose(&(echo + &applied.output))),
        // `-L` and `-S` print the table as it stands at their line.
        None if lists => note(cmd.line, LineNote::Listing(&applied.output)),
        None => {}
    }
    Ok(())
}

/// iptables-restore reads a line into at most this many words (its
/// argument vector of 255 holds the program's name and `-t TABLE` too).
const MOST_WORDS: usize = 251;

/// iptables-restore reads a word into a buffer of this many bytes, its
/// closing zero included.
const WORD_BUFFER: usize = 1024;

/// Why iptables-restore cannot read a line of `words`, in moat's and in
/// iptables' words, if it cannot: too many words, or one too long.
fn beyond_restore_limits(words: &[Cow<'_, str>]) -> Option<(String, &'static str)> {
    if words.len() > MOST_WORDS {
        return Some((
            format!(
                "{} words on one line: iptables-restore reads at most {MOST_WORDS}",
                words.len()
            ),
            "Parser cannot handle more arguments",
        ));
    }
    let long = words.iter().find(|w| w.len() >= WORD_BUFFER)?;
    Some((
        format!(
            "a word of {} bytes (`{}...'): iptables-restore reads words of at most {} bytes",
            long.len(),
            moat_model::text::first_bytes(long, 20),
            WORD_BUFFER - 1
        ),
        "Parameter too long!",
    ))
}

/// Emits an iptables-save file of `states`; `counters` is `-c` (the rules'
/// counters: built-in chains' policy counters are always written, as
/// iptables-save writes them), `program` names the writer in the comments.
pub fn emit(states: &[TableState], counters: bool, program: &str, date: &str) -> String {
    let tables: Vec<(Stage, Vec<RuleLines<'_>>)> = states
        .iter()
        .map(|s| (s.stage, state_lines(&s.listing_order())))
        .collect();
    emit_lines(&tables, counters, program, date)
}

/// Emits an iptables-save file straight from the kernel's stored chains of
/// each `(family, stage, chains)`, without reading any rule again (a
/// rule's stored source is the text iptables-save prints); `None` when
/// [`emit`] must answer: a rule without stored source, or built-in chains
/// other than the table's.
pub fn emit_stored(
    tables: &[(Family, Stage, Vec<StoredChain>)],
    counters: bool,
    program: &str,
    date: &str,
) -> Option<String> {
    let tables = tables
        .iter()
        .map(|(family, stage, chains)| Some((*stage, stored_lines(*family, *stage, chains)?)))
        .collect::<Option<Vec<_>>>()?;
    Some(emit_lines(&tables, counters, program, date))
}

fn emit_lines(
    tables: &[(Stage, Vec<RuleLines<'_>>)],
    counters: bool,
    program: &str,
    date: &str,
) -> String {
    let mut out = String::new();
    for (stage, chains) in tables {
        let _ = writeln!(out, "# Generated by {program} on {date}");
        let _ = writeln!(out, "*{}", stage_name(*stage));
        for c in chains {
            let policy = match c.policy {
                Some(Policy::Accept) => "ACCEPT",
                Some(Policy::Drop) => "DROP",
                None => "-",
            };
            // A built-in chain's policy counters are written with or
            // without -c, as iptables-save writes them (a user chain has none).
            let k = c.policy_counters;
            let _ = writeln!(out, ":{} {} [{}:{}]", c.name, policy, k.packets, k.bytes);
        }
        for c in chains {
            for (k, text) in &c.rules {
                if counters {
                    let _ = write!(out, "[{}:{}] ", k.packets, k.bytes);
                }
                let start = out.len();
                let _ = write!(out, "-A {} {}", c.name, text);
                let kept = out[start..].trim_end().len();
                out.truncate(start + kept);
                out.push('\n');
            }
        }
        out.push_str("COMMIT\n");
        let _ = writeln!(out, "# Completed on {date}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// White space where iptables-restore does not skip it is refused
    /// with its status: 1 between tables, 2 inside one (read as a command).
    #[test]
    fn lines_are_classified_by_their_first_character() {
        let problem = |text: &str| SaveFile::parse(text).err().map(|e| (e.line, e.problem));
        assert_eq!(
            problem("*filter\n\t-A INPUT -j ACCEPT\nCOMMIT\n\n#x\n"),
            None
        );
        assert_eq!(
            problem("*filter   \n:INPUT ACCEPT [0:0]   \nCOMMIT\n"),
            None
        );
        for (text, line, status) in [
            ("*filter\nCOMMIT\n \n", 3, Problem::Other),
            ("  *filter\nCOMMIT\n", 1, Problem::Other),
            ("\t# x\n*filter\nCOMMIT\n", 1, Problem::Other),
            ("*filter\n\t\nCOMMIT\n", 2, Problem::Parameter),
            ("*filter\n\r\nCOMMIT\n", 2, Problem::Parameter),
            (
                "*filter\n :INPUT ACCEPT [0:0]\nCOMMIT\n",
                2,
                Problem::Parameter,
            ),
            ("*filter\n  # x\nCOMMIT\n", 2, Problem::Parameter),
            ("*filter\n [1:2] -A INPUT\nCOMMIT\n", 2, Problem::Parameter),
            ("*filter\n COMMIT\n", 2, Problem::Parameter),
            ("*filter\nCOMMIT \n", 2, Problem::Parameter),
            ("*filter\nCOMMITTED\n", 2, Problem::Parameter),
            ("*filter\nfoo -A INPUT\nCOMMIT\n", 2, Problem::Parameter),
        ] {
            assert_eq!(problem(text), Some((line, status)), "{text:?}");
        }
    }

    /// A line's `[packets:bytes]` as iptables-restore reads it: the command
    /// may follow the `]` without a space, colons after the `[` are
    /// skipped, and each number is read as `%llu` reads it (white space,
    /// sign, digits; the rest ignored; too large is the largest).
    #[test]
    fn reads_line_counters_as_iptables_restore() {
        let counters = |text: &str| {
            let file = SaveFile::parse(&format!("*filter\n{text}\nCOMMIT\n")).unwrap();
            let cmd = &file.tables[0].commands[0];
            (cmd.counters.unwrap(), cmd.words().join(" "))
        };
        let numbers = |packets, bytes| Counters { packets, bytes };
        for (text, read) in [
            ("[12:34]-A INPUT -j DROP", Ok(numbers(12, 34))),
            ("[1:2:3] -A INPUT -j DROP", Ok(numbers(1, 2))),
            ("[::1x:2y] -A INPUT -j DROP", Ok(numbers(1, 2))),
            ("[ 5:+6] -A INPUT -j DROP", Ok(numbers(5, 6))),
            ("[-1:010] -A INPUT -j DROP", Ok(numbers(u64::MAX, 10))),
            (
                "[99999999999999999999:0] -A INPUT -j DROP",
                Ok(numbers(u64::MAX, 0)),
            ),
            (
                "[a:2] -A INPUT -j DROP",
                Err("-c packet counter not numeric"),
            ),
            ("[1:] -A INPUT -j DROP", Err("-c byte counter not numeric")),
            (
                "[1:-2] -A INPUT -j DROP",
                Err("-c requires packet and byte counter"),
            ),
        ] {
            let (got, words) = counters(text);
            assert_eq!(got.numbers(), read, "{text}");
            assert_eq!(words, "-A INPUT -j DROP", "{text}");
        }
        for text in [
            "[1:2 -A INPUT",
            "[] -A INPUT",
            "[1] -A INPUT",
            "[:5] -A INPUT",
        ] {
            assert!(
                SaveFile::parse(&format!("*filter\n{text}\nCOMMIT\n")).is_err(),
                "{text}"
            );
        }
    }

    /// A chain's `[packets:bytes]` as `sscanf("[%llu:%llu]")` reads it.
    #[test]
    fn reads_declared_counters_as_sscanf() {
        let counters = |packets, bytes| Some(Counters { packets, bytes });
        assert_eq!(
            parse_declared_counters("[+1:-2]"),
            counters(1, u64::MAX - 1)
        );
        assert_eq!(parse_declared_counters("[1:2]x"), counters(1, 2));
        assert_eq!(parse_declared_counters("[1:2"), counters(1, 2));
        assert_eq!(parse_declared_counters("[1x:2]"), None);
        assert_eq!(parse_declared_counters("[1:x]"), None);
    }

    #[test]
    fn parses_sections_declarations_and_counters() {
        let text = "# comment\n*nat\n:PREROUTING DROP [0:0]\n:POSTROUTING ACCEPT [5:300]\n-A POSTROUTING -o eth0 -j MASQUERADE\nCOMMIT\n*filter\n:INPUT DROP [0:0]\n:LOGDROP - [0:0]\n[3:180] -A INPUT -m comment --comment \"a b\" -j ACCEPT\nCOMMIT\n";
        let file = SaveFile::parse(text).unwrap();
        assert_eq!(file.tables.len(), 2);
        assert_eq!(file.tables[0].stage, Stage::Nat);
        assert_eq!(
            file.tables[0].chains[1].counters,
            Some(Counters {
                packets: 5,
                bytes: 300
            })
        );
        assert_eq!(file.tables[1].chains[1].policy, "-");
        let cmd = &file.tables[1].commands[0];
        assert_eq!(
            cmd.counters.map(LineCounters::numbers),
            Some(Ok(Counters {
                packets: 3,
                bytes: 180
            }))
        );
        assert_eq!(
            cmd.words(),
            [
                "-A",
                "INPUT",
                "-m",
                "comment",
                "--comment",
                "a b",
                "-j",
                "ACCEPT"
            ]
        );
        assert_eq!(cmd.line, 10);
    }

    #[test]
    fn missing_commit_names_the_table_line() {
        let err = SaveFile::parse("*filter\n:INPUT ACCEPT [0:0]\n").unwrap_err();
        assert_eq!(err.line, 1);
        assert!(err.message.contains("COMMIT"), "{err}");
    }

    #[test]
    fn a_table_line_is_read_to_its_first_word() {
        let file = SaveFile::parse("*filter extra\nCOMMIT\n*\tnat # x\nCOMMIT\n").unwrap();
        let stages: Vec<_> = file.tables.iter().map(|t| t.stage).collect();
        assert_eq!(stages, [Stage::Filter, Stage::Nat]);
        assert!(SaveFile::parse("*\nCOMMIT\n").is_err());
    }

    #[test]
    fn rule_outside_a_table_is_refused_with_its_line() {
        let err = SaveFile::parse("\n-A INPUT -j ACCEPT\n").unwrap_err();
        assert_eq!(err.line, 2);
        assert!(err.to_string().contains("-A INPUT -j ACCEPT"));
    }

    #[test]
    fn bad_lines_are_refused() {
        assert!(SaveFile::parse("*filter\n[1:2 -A INPUT\nCOMMIT\n").is_err());
        assert!(SaveFile::parse("*bogus\nCOMMIT\n").is_err());
        assert!(SaveFile::parse("*filter\n:INPUT\nCOMMIT\n").is_err());
        let crlf = SaveFile::parse("*filter\r\n:INPUT ACCEPT [0:0]\r\nCOMMIT\r\n").unwrap_err();
        assert!(crlf.message.contains("carriage return"), "{crlf}");
        let outside = SaveFile::parse(":INPUT ACCEPT [0:0]\n").unwrap_err();
        assert_eq!(outside.problem, Problem::Other);
    }

    /// A rule refused once its table is whole (where its chain is reached
    /// from) is told at the line that added it, not at the table's line.
    #[test]
    fn a_rule_refused_in_the_whole_table_is_told_at_its_line() {
        let refused = |text: &str| {
            let file = SaveFile::parse(text).unwrap();
            let options = RestoreOptions::default();
            restore(&file, Family::Ipv4, options, |_| unreachable!()).unwrap_err()
        };
        let mac = "-m mac --mac-source 00:11:22:33:44:55 -j ACCEPT";
        let direct = refused(&format!(
            "*filter\n-A INPUT -j ACCEPT\n-A OUTPUT {mac}\nCOMMIT\n"
        ));
        assert_eq!(
            (direct.line, direct.problem),
            (3, Problem::Resource),
            "{direct}"
        );
        assert!(direct.text.contains("--mac-source"), "{direct}");
        // In a user chain OUTPUT jumps to; the same text added twice is
        // told at its last line.
        let jumped = refused(&format!(
            "*filter\n:X - [0:0]\n-A X {mac}\n-D X {mac}\n-I X {mac}\n-A OUTPUT -j X\nCOMMIT\n"
        ));
        assert_eq!(jumped.line, 5, "{jumped}");
    }

    /// Chain declarations as iptables-restore reads them: a built-in
    /// chain's policy must be ACCEPT, DROP or `-` (kept), its counters
    /// matter only with --counters; a user chain's policy word is ignored.
    #[test]
    fn chain_declarations_read_as_iptables_restore_reads_them() {
        let run = |text: &str, counters: bool| {
            let file = SaveFile::parse(text)?;
            let mut warnings = Vec::new();
            let options = RestoreOptions {
                counters,
                ..RestoreOptions::default()
            };
            let states = restore_with_notes(
                &file,
                Family::Ipv4,
                options,
                |_| unreachable!("not --noflush"),
                |_, note| {
                    if let LineNote::Warning(w) = note {
                        warnings.push(w.text.clone())
                    }
                },
            )?;
            Ok::<_, SaveError>((states, warnings))
        };
        let bad = run("*filter\n:INPUT REJECT [0:0]\nCOMMIT\n", false).unwrap_err();
        assert_eq!(bad.problem, Problem::Other, "{bad}");
        let text = "*filter\n:INPUT DROP [1:2:3]\n:FORWARD - [x]\n:FOO DROP\n:BAR [0:0]\nCOMMIT\n";
        let (states, warnings) = run(text, false).unwrap();
        let state = &states[0];
        let policy = |name: &str| state.chain(name).and_then(|c| c.base).map(|(_, p)| p);
        assert_eq!(policy("INPUT"), Some(Policy::Drop));
        assert_eq!(policy("FORWARD"), Some(Policy::Accept));
        assert!(state.chain("FOO").is_some() && state.chain("BAR").is_some());
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        let counted = run(text, true).unwrap_err();
        assert_eq!((counted.line, counted.problem), (3, Problem::Parameter));
        let (states, _) = run("*filter\n:INPUT DROP [1:2:3]\nCOMMIT\n", true).unwrap();
        let input = states[0].chain("INPUT").unwrap();
        assert_eq!(
            input.policy_counters,
            Counters {
                packets: 1,
                bytes: 2
            }
        );
    }

    #[test]
    fn a_large_restore_reports_its_first_bad_line() {
        let mut text = String::from(
            "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n",
        );
        for i in 0..6_000 {
            text.push_str(&format!(
                "-A INPUT -s 10.0.{}.{} -j ACCEPT\n",
                i / 256,
                i % 256
            ));
        }
        // Line 6,005 reads but cannot be done; a later line does not read.
        text.push_str("-A NOCHAIN -j ACCEPT\n");
        for _ in 0..3_000 {
            text.push_str("-A INPUT -p tcp --dport 22 -j ACCEPT\n");
        }
        text.push_str("-A INPUT --no-such-option\nCOMMIT\n");
        let file = SaveFile::parse(&text).unwrap();
        let error = restore(&file, Family::Ipv4, RestoreOptions::default(), |_| {
            unreachable!("no table is read without --noflush")
        })
        .unwrap_err();
        assert_eq!(error.line, 6_005, "{error:?}");
        // Without it, the line that does not read is the error.
        let text = text.replace("-A NOCHAIN -j ACCEPT\n", "");
        let file = SaveFile::parse(&text).unwrap();
        let error = restore(&file, Family::Ipv4, RestoreOptions::default(), |_| {
            unreachable!("no table is read without --noflush")
        })
        .unwrap_err();
        assert_eq!(error.line, 9_005, "{error:?}");
        assert!(error.message.contains("--no-such-option"), "{error:?}");
    }
}
