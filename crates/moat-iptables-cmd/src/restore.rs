//! `iptables-restore` / `ip6tables-restore`: a whole save file as one atomic transaction.

use std::ffi::OsString;
use std::io::Read;
use std::process::ExitCode;

use clap::Args;
use moat_backend::{Backend, BoundedRead};
use moat_iptables::command::parse_table;
use moat_iptables::save::{LineNote, RestoreOptions, SaveFile};
use moat_iptables::TableState;
use moat_iptables::Wait;
use moat_model::{Family, Stage};
use moat_nft::{plan_delete, plan_replace_owned, plan_update_owned, ChangeSet, OwnState};

use moat_host::guard;
use moat_host::log_route;
use moat_host::set_copies;
use moat_host::settings::{needed_by_tables, warn_missing};

use crate::advice;
use crate::restore_reads::{restore_reading, Restored};
use crate::CommandError;

/// Options of iptables-restore.
#[derive(Args, Debug)]
pub struct RestoreArgs {
    /// Keep the rules already there; add the file's to them.
    #[arg(short = 'n', long = "noflush")]
    noflush: bool,
    /// Only check the file; change nothing.
    #[arg(short = 't', long = "test")]
    test: bool,
    /// Restore the packet and byte counters in the file.
    #[arg(short = 'c', long = "counters")]
    counters: bool,
    /// Print more (given again, as iptables-restore takes it, no more).
    #[arg(short = 'v', long = "verbose", action = clap::ArgAction::Count)]
    verbose: u8,
    /// Only restore this table.
    #[arg(short = 'T', long = "table")]
    table: Option<String>,
    /// Wait for another moat command this many seconds when that is longer
    /// than moat's 10 (without SECONDS: as long as it takes).
    #[arg(short = 'w', long = "wait", num_args = 0..=1, default_missing_value = "0")]
    wait: Option<String>,
    /// Accepted for compatibility, as iptables-restore does (deprecated there).
    #[arg(short = 'W', long = "wait-interval", num_args = 0..=1, default_missing_value = "0")]
    wait_interval: Option<String>,
    /// Accepted for compatibility (nf_tables needs no module loader).
    #[arg(short = 'M', long = "modprobe")]
    modprobe: Option<String>,
    /// Accepted for compatibility, as iptables-restore takes it (it has no
    /// binary format either); there is no `--binary`.
    #[arg(short = 'b')]
    binary: bool,
    /// Print the version (iptables' words, then moat's) and exit.
    #[arg(short = 'V', long = "version")]
    version: bool,
    /// The file to read (standard input when absent).
    file: Option<std::path::PathBuf>,
}

/// iptables-restore's short options that take a value: the rest of their
/// word, or the next word.
const SHORT_WITH_VALUE: [char; 2] = ['T', 'M'];

/// iptables-restore's short options whose value is optional: getopt gives
/// them none in their own word, only a next word.
const SHORT_WITH_OPTIONAL_VALUE: [char; 2] = ['w', 'W'];

/// The words of iptables-restore's command line with each `-w` and `-W`
/// inside a cluster of short options set apart, as getopt reads them:
/// `-wn` is `-w -n` (with noflush, where clap would take `n` as the wait),
/// `-cwn` is `-c -w -n`, and `-w5` is `-w` and the unknown option `-5`.
pub fn getopt_clusters(args: Vec<OsString>) -> Vec<OsString> {
    let mut out = Vec::with_capacity(args.len());
    let mut value_next = false;
    for (i, arg) in args.iter().enumerate() {
        let text = arg.to_str().unwrap_or_default();
        let cluster = text
            .strip_prefix('-')
            .filter(|rest| !value_next && !rest.is_empty() && !rest.starts_with('-'));
        match cluster {
            _ if text == "--" => {
                out.extend(args[i..].iter().cloned());
                return out;
            }
            Some(letters) => value_next = split_cluster(letters, &mut out),
            None => {
                value_next = false;
                out.push(arg.clone());
            }
        }
    }
    out
}

/// Appends the short options of `letters` (a word after its `-`), each
/// `-w` or `-W` in a word of its own; returns whether the next word is
/// the value of the cluster's last option.
fn split_cluster(letters: &str, out: &mut Vec<OsString>) -> bool {
    let mut word = String::from("-");
    for (at, c) in letters.char_indices() {
        word.push(c);
        if SHORT_WITH_VALUE.contains(&c) {
            let rest = &letters[at + c.len_utf8()..];
            word.push_str(rest);
            out.push(word.into());
            return rest.is_empty();
        }
        if SHORT_WITH_OPTIONAL_VALUE.contains(&c) {
            out.push(std::mem::replace(&mut word, String::from("-")).into());
        }
    }
    if word.len() > 1 {
        out.push(word.into());
    }
    false
}

impl RestoreArgs {
    /// What `-w` said; `-w` alone and `-w 0` wait as long as it takes.
    fn wait_said(&self) -> Wait {
        match self.wait.as_deref().map(|v| v.trim().parse::<u64>()) {
            None => Wait::Unsaid,
            Some(Ok(seconds)) if seconds > 0 => Wait::Seconds(seconds),
            Some(_) => Wait::Forever,
        }
    }
}

/// The most rules of a table a restore reads to leave unchanged rules
/// alone: the kernel's rule dump grows with the square of a chain's
/// length (10,000 rules take about 75 ms to read, 100,000 about 6 s), so a
/// larger table is replaced whole.
const READ_BEFORE_RESTORE: usize = 20_000;

/// Runs iptables-restore; `program` names the command in messages.
pub fn run(program: &str, args: &RestoreArgs, family: Family) -> ExitCode {
    if args.version {
        return crate::iptables::print_version(program);
    }
    crate::save::note_binary(args.binary);
    match restore_file(program, args, family) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            e.report(program);
            ExitCode::from(e.exit_status())
        }
    }
}

/// The file's text. iptables takes any bytes (a comment in Latin-1, say);
/// moat keeps text as UTF-8, so a byte that is not is read as U+FFFD and
/// the first line holding one is named.
fn utf8_text(program: &str, bytes: Vec<u8>) -> String {
    match String::from_utf8(bytes) {
        Ok(text) => text,
        Err(e) => {
            let bytes = e.into_bytes();
            let valid = std::str::from_utf8(&bytes).map_or_else(|e| e.valid_up_to(), |t| t.len());
            let line = 1 + bytes[..valid].iter().filter(|&&b| b == b'\n').count();
            tell!(
                "{program}: line {line}: bytes that are not UTF-8 are read as U+FFFD \
                 (moat keeps rule text as UTF-8)"
            );
            String::from_utf8_lossy(&bytes).into_owned()
        }
    }
}

/// Each line of `text` up to its first NUL byte, as iptables-restore reads
/// a line (a C string ends there): `--comment a<NUL>b -j ACCEPT` is
/// `--comment a`.
fn cut_at_nul(text: String) -> String {
    if !text.contains('\0') {
        return text;
    }
    text.split_inclusive('\n')
        .map(|line| match line.split_once('\0') {
            Some((kept, rest)) if rest.ends_with('\n') => format!("{kept}\n"),
            Some((kept, _)) => kept.to_string(),
            None => line.to_string(),
        })
        .collect()
}

fn restore_file(program: &str, args: &RestoreArgs, family: Family) -> Result<(), CommandError> {
    let bytes = match &args.file {
        Some(path) => std::fs::read(path).map_err(|source| CommandError::Io {
            what: format!("cannot read {}", path.display()),
            source,
        })?,
        None => {
            let mut bytes = Vec::new();
            std::io::stdin()
                .read_to_end(&mut bytes)
                .map_err(|source| CommandError::Io {
                    what: "cannot read standard input".into(),
                    source,
                })?;
            bytes
        }
    };
    let text = cut_at_nul(utf8_text(program, bytes));
    let mut file = SaveFile::parse(&text)?;
    // As iptables-restore: a table the file does not hold, or no table of
    // that name at all, restores nothing.
    if let Some(name) = args.table.as_deref() {
        let only = parse_table(name).ok();
        file.tables.retain(|t| Some(t.stage) == only);
    }
    let backend = moat_backend::default_backend();
    let _lock = crate::lock::take(args.wait_said())?;
    // As iptables-restore: -v reports a flushing restore's chains and
    // rules; otherwise each line's own -v speaks; --test prints neither.
    let report_all = args.verbose > 0 && !args.noflush && !args.test;
    let echo_lines = !args.test && !report_all;
    if report_all {
        crate::stdout::write(&verbose_report(&backend, &file, family)?)?;
    }
    let options = RestoreOptions {
        noflush: args.noflush,
        counters: args.counters,
        flush_chains: args.verbose > 0 && !args.noflush,
    };
    let in_session = guard::session_flow().is_some();
    let mut warned = std::collections::HashSet::new();
    // What standard output refused, told once the rules are in.
    let mut unwritten = None;
    // iptables' own warnings as iptables writes them, at every line;
    // moat's advice once, at the first line that gives it.
    let mut tell = |line: usize, note: LineNote<'_>| match note {
        LineNote::Warning(warning) => {
            if warning.from_iptables || warned.insert(warning.text.clone()) {
                advice::write(program, Some(line), warning);
            }
        }
        LineNote::Verbose(text) => {
            if echo_lines && unwritten.is_none() {
                unwritten = crate::stdout::write(text).err();
            }
        }
        LineNote::Listing(text) => {
            if !args.test && unwritten.is_none() {
                unwritten = crate::stdout::write(text).err();
            }
        }
    };
    let Restored {
        states,
        mut kernels,
        before,
    } = restore_reading(&backend, &file, family, options, in_session, &mut tell)?;
    // Where a set the rules name is first named, should it be missing.
    let set_lines = set_copies::first_lines(&file);
    // With -v iptables-nft-restore flushes each built-in chain, making
    // the table if need be.
    let made_nothing = match options.flush_chains {
        true => Vec::new(),
        false => tables_made_nothing(&file, family, args.noflush),
    };
    // A large file's text and words are not needed any more.
    drop((file, text));
    let route = log_route::kept();
    let tables: Vec<_> = last_of_each_table(states)
        .into_iter()
        .map(|state| log_route::routed(state.into_table(), route))
        .collect();
    // What the batch needs besides the rules is noted first: the rules
    // move into it, so that a large restore holds each once.
    let lists = set_copies::lists_of(&tables);
    let needs = if advice::wanted() {
        needed_by_tables(&tables)
    } else {
        Vec::new()
    };
    if !args.test {
        guard::warn_session_cut(program, &before, &tables);
    }
    drop(before);
    let mut batch = ChangeSet::default();
    for table in tables {
        let stage = table.stage;
        if made_nothing.contains(&stage) {
            let held = match kernels.iter().find(|(s, _)| *s == stage) {
                Some((_, kernel)) => kernel.is_some(),
                None => backend.read_layout(family, stage)?.is_some(),
            };
            match (held, args.noflush) {
                // As with iptables-nft, no table is made for nothing.
                (false, _) => continue,
                // Flushed, with nothing made again: iptables-nft's table
                // is left without a chain, so moat's goes.
                (true, false) => {
                    batch.extend(plan_delete(&table));
                    continue;
                }
                (true, true) => {}
            }
        }
        // The kernel's table as it is: read for --noflush, else now, unless
        // it is too large to read quickly. Rules that stay the same (text
        // and counters) are left alone, so a restore over the same ruleset
        // changes nothing in the kernel; the rest is replaced, counters as
        // the file says (zero without -c). A file's table beyond the bound
        // is replaced without reading: a kernel table it could leave alone
        // would be as large, too large to read. Without --noflush every
        // rule of the file is new to iptables, so a rule with state of its
        // own (limit, quota, nth) is written again, its state afresh.
        let kernel = match kernels.iter().position(|(s, _)| *s == stage) {
            Some(i) => BoundedRead::Table(kernels.swap_remove(i).1),
            None if rule_count(&table) > READ_BEFORE_RESTORE => BoundedRead::TooLarge,
            None => backend.read_at_most(family, stage, READ_BEFORE_RESTORE)?,
        };
        match kernel {
            BoundedRead::Table(kernel) => {
                let own_state = if args.noflush {
                    OwnState::Keep
                } else {
                    OwnState::Renew
                };
                batch.extend(plan_update_owned(kernel.as_ref(), table, own_state)?)
            }
            BoundedRead::TooLarge => batch.extend(plan_replace_owned(table)?),
        }
    }
    set_copies::declare_lists(&mut batch, &lists)
        .map_err(|e| set_copies::at_first_failing_line(e, &lists, &set_lines))?;
    if args.test {
        backend.check(&batch)?;
    } else {
        backend.apply(&batch)?;
        warn_missing(program, needs);
    }
    // The process ends here: a large restore's rules are left to the
    // kernel to reclaim with the process rather than freed one by one
    // (2 % of a 10,000-rule restore's instructions).
    std::mem::forget(batch);
    unwritten.map_or(Ok(()), Err)
}

/// The rules in all chains of `table`.
fn rule_count(table: &moat_model::Table) -> usize {
    table.chains.iter().map(|c| c.rules.len()).sum()
}

/// What iptables-restore prints with `-v` (without `--noflush`) for each
/// table of `file`: the chains it flushes (the built-in ones and the user
/// chains there are now), the user chains it deletes, and a line for each
/// rule a command adds, as `iptables -v` prints it.
fn verbose_report(
    backend: &dyn Backend,
    file: &SaveFile,
    family: Family,
) -> Result<String, CommandError> {
    let mut out = String::new();
    for table in &file.tables {
        let mut users: Vec<String> = backend
            .read_layout(family, table.stage)?
            .map(|kernel| kernel.chains.into_iter().filter(|c| c.base.is_none()))
            .into_iter()
            .flatten()
            .map(|c| c.name)
            .collect();
        users.sort();
        let empty = TableState::empty(family, table.stage);
        let builtins = empty.listing_order().into_iter().map(|c| c.name.clone());
        for name in builtins.chain(users.iter().cloned()) {
            out += &moat_iptables::chain_line("Flushing", &name);
        }
        for name in &users {
            out += &moat_iptables::chain_line("Deleting", name);
        }
        for command in &table.commands {
            if let Ok(inv) = moat_iptables::parse_command_line(&command.words(), family) {
                out += &inv.command.verbose_echo();
            }
        }
    }
    Ok(out)
}

/// The tables the file's sections make nothing in (see
/// [`moat_iptables::save::SaveTable::makes_nothing`]): without --noflush
/// a table's last section, which starts it afresh, with it every section.
fn tables_made_nothing(file: &SaveFile, family: Family, noflush: bool) -> Vec<Stage> {
    let mut stages: Vec<Stage> = Vec::new();
    for section in &file.tables {
        if !stages.contains(&section.stage) {
            stages.push(section.stage);
        }
    }
    stages.retain(|&stage| {
        let mut sections = file.tables.iter().filter(|t| t.stage == stage);
        if noflush {
            sections.all(|t| t.makes_nothing(family))
        } else {
            sections
                .next_back()
                .is_some_and(|t| t.makes_nothing(family))
        }
    });
    stages
}

/// The tables a restore leaves: a table the file gives twice is what its
/// last section says (without --noflush each section starts afresh).
fn last_of_each_table(states: Vec<TableState>) -> Vec<TableState> {
    let mut last: Vec<TableState> = Vec::new();
    for state in states {
        last.retain(|s| s.stage != state.stage);
        last.push(state);
    }
    last
}

#[cfg(test)]
mod tests {
    use super::{cut_at_nul, getopt_clusters};

    #[test]
    fn wait_options_take_no_value_in_their_own_word() {
        let read = |line: &str| -> Vec<String> {
            let words = line.split_whitespace().map(Into::into).collect();
            getopt_clusters(words)
                .into_iter()
                .map(|w| w.into_string().unwrap())
                .collect()
        };
        for (line, wanted) in [
            ("-wn", "-w -n"),
            ("-Wn", "-W -n"),
            ("-cwn file", "-cw -n file"),
            ("-nw 5", "-nw 5"),
            ("-w5", "-w -5"),
            ("-wW 5", "-w -W 5"),
            ("-Tfilter -wn", "-Tfilter -w -n"),
            ("-cT -wn", "-cT -wn"),
            ("-T nat -M -w", "-T nat -M -w"),
            ("--wait 5 --noflush -- -wn", "--wait 5 --noflush -- -wn"),
        ] {
            assert_eq!(read(line).join(" "), wanted, "{line}");
        }
    }

    #[test]
    fn a_line_ends_at_its_first_nul() {
        let text = "*filter\n-A INPUT -m comment --comment a\0b -j ACCEPT\n:fo\0o - [0:0]\nCOMMIT";
        assert_eq!(
            cut_at_nul(text.to_string()),
            "*filter\n-A INPUT -m comment --comment a\n:fo\nCOMMIT"
        );
        assert_eq!(cut_at_nul("x\0".to_string()), "x");
        assert_eq!(cut_at_nul("*nat\nCOMMIT\n".to_string()), "*nat\nCOMMIT\n");
    }
}
