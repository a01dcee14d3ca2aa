//! `moat jail test LOG FILTER`: what fail2ban-regex does, fast.

use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::SystemTime;

use anyhow::{Context, Result};
use clap::Args;
use moat_fail2ban::{load_filter, parse_filter_ref, FilterDef};
use moat_logmatch::{Filter, FilterSpec, LineDate, Outcome, RegexKind, Report, Scan};

/// Options of `moat jail test`.
#[derive(Args, Debug)]
pub struct TestArgs {
    /// The log file (`-` for standard input).
    pub log: PathBuf,
    /// A built-in filter name (`sshd`, `sshd[mode=aggressive]`), a filter.d
    /// file (with options as in jail files), or a regex with <HOST>.
    pub filter: String,
    /// Look filter names up in this filter.d first (repeatable).
    #[arg(long = "filter-dir", value_name = "DIR")]
    pub filter_dirs: Vec<PathBuf>,
    /// Print one JSON object per failure: {"line", "host", "time", "user", "regex"}.
    #[arg(long)]
    pub json: bool,
    /// Also print every failure found (without --json).
    #[arg(long)]
    pub print_failures: bool,
}

/// Whether `text` is a regex rather than a filter name or file.
fn is_regex(text: &str) -> bool {
    [
        "<HOST>",
        "<ADDR>",
        "<IP4>",
        "<IP6>",
        "<DNS>",
        "<CIDR>",
        "<SUBNET>",
        "(?P<host>",
    ]
    .iter()
    .any(|tag| text.contains(tag))
}

fn resolve(args: &TestArgs) -> Result<(String, FilterSpec)> {
    if is_regex(&args.filter) {
        return Ok((
            "the regex given".into(),
            FilterSpec {
                failregex: vec![args.filter.clone()],
                maxlines: 1,
                ..FilterSpec::default()
            },
        ));
    }
    let (name, options) = parse_filter_ref(&args.filter).map_err(|e| anyhow::anyhow!("{e}"))?;
    let def: FilterDef =
        load_filter(&name, &options, &args.filter_dirs).map_err(|e| anyhow::anyhow!("{e}"))?;
    for w in &def.warnings {
        eprintln!("warning: {w}");
    }
    let origin = def
        .file
        .as_ref()
        .map_or(format!("built-in filter {}", def.name), |f| {
            f.display().to_string()
        });
    Ok((origin, moat_jail::filter_spec(&def)))
}

/// `moat jail test`.
pub fn run(args: &TestArgs) -> ExitCode {
    match test(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("moat: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn test(args: &TestArgs) -> Result<()> {
    let (origin, spec) = resolve(args)?;
    let filter = Filter::compile(&spec).map_err(|e| anyhow::anyhow!("{origin}: {e}"))?;
    let input: Box<dyn std::io::Read + Send> = if args.log.as_os_str() == "-" {
        Box::new(std::io::stdin())
    } else {
        Box::new(
            std::fs::File::open(&args.log)
                .with_context(|| format!("cannot read {}", args.log.display()))?,
        )
    };
    let reader = BufReader::with_capacity(1 << 20, input);
    let stdout = std::io::stdout();
    let mut out = BufWriter::with_capacity(1 << 16, stdout.lock());
    let mut report = Report::new(&filter);
    let mut failures = Vec::new();
    let now = SystemTime::now();
    let mut emit = |line_no: u64, outcome: Outcome| -> Result<()> {
        report.add(line_no, &outcome);
        if args.json {
            for f in &outcome.failures {
                serde_json::to_writer(&mut out, &f.to_json())?;
                out.write_all(b"\n")?;
            }
        } else if args.print_failures {
            failures.extend(outcome.failures);
        }
        Ok(())
    };
    run_lines(&filter, reader, now, Help::Auto, &mut emit)?;
    if args.json {
        out.flush()?;
        return Ok(());
    }
    print_report(&mut out, &origin, args, &filter, &report, &failures)?;
    out.flush()?;
    Ok(())
}

/// Lines per batch handed from the reading thread to the matching thread.
const BATCH: usize = 1024;

/// Lines read and dated, in order, with the regex work done or not.
#[derive(Default)]
struct Batch {
    /// The texts without their dates, one after the other.
    text: String,
    /// Where each line's text ends in `text`, and its time.
    lines: Vec<(usize, LineDate)>,
    /// The regex work of every line, when the reading thread did it.
    scans: Vec<Scan>,
}

/// When the reading thread also does the regex work of a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Help {
    /// When the matching thread is behind (two batches waiting).
    Auto,
    /// Never (as for multi-line filters); tests.
    #[cfg_attr(not(test), allow(dead_code))]
    Never,
    /// Always (single-line filters); tests.
    #[cfg_attr(not(test), allow(dead_code))]
    Always,
}

/// Runs the log through the filter with `moat jail test`'s matcher (the
/// daemon's semantics), calling `emit` with every line's outcome in order.
///
/// Two threads: a reading thread finds the dates (in order: the detector
/// keeps state) and this one does the regex work and the multi-line failure
/// ids (in order) and emits. With a single-line filter the regex work
/// depends on the line's text alone, so when this thread falls behind the
/// reading thread also does the regex work of whole batches. Either way
/// every line goes through the same stages as
/// [`moat_logmatch::Matcher::feed_outcome`], with the same state, so the
/// outcomes are the same.
fn run_lines(
    filter: &Filter,
    mut reader: impl BufRead + Send,
    now: SystemTime,
    help: Help,
    emit: &mut impl FnMut(u64, Outcome) -> Result<()>,
) -> Result<()> {
    // The reading thread's own handle: a regex shared between threads costs
    // each search a trip through its cache pool.
    let dating = filter.clone();
    let (tx, rx) = std::sync::mpsc::sync_channel::<Batch>(4);
    let (back_tx, back_rx) = std::sync::mpsc::channel::<Batch>();
    // Batches sent and not yet taken by the matching thread.
    let queued = AtomicUsize::new(0);
    let queued = &queued;
    let read = move || -> Result<()> {
        let mut dater = dating.matcher();
        let stateless = dater.scan_is_stateless();
        let mut raw = Vec::with_capacity(1024);
        let mut result = Ok(());
        let mut done = false;
        while !done {
            let mut batch = back_rx.try_recv().unwrap_or_default();
            batch.text.clear();
            batch.lines.clear();
            batch.scans.clear();
            while batch.lines.len() < BATCH {
                raw.clear();
                match reader.read_until(b'\n', &mut raw) {
                    Ok(0) => done = true,
                    Ok(_) => {}
                    Err(e) => {
                        // The lines before it still count.
                        result = Err(e.into());
                        done = true;
                    }
                }
                if done {
                    break;
                }
                while raw.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
                    raw.pop();
                }
                // Valid UTF-8 (nearly every log line) is checked, not copied.
                let text = match std::str::from_utf8(&raw) {
                    Ok(t) => std::borrow::Cow::Borrowed(t),
                    Err(_) => String::from_utf8_lossy(&raw),
                };
                let date = dater.date_line(&text, now, &mut batch.text);
                batch.lines.push((batch.text.len(), date));
            }
            if batch.lines.is_empty() {
                break;
            }
            let scan = stateless
                && match help {
                    Help::Auto => queued.load(Ordering::Relaxed) >= 2,
                    Help::Never => false,
                    Help::Always => true,
                };
            if scan {
                let mut start = 0;
                for &(end, _) in &batch.lines {
                    batch.scans.push(dater.scan(&batch.text[start..end]));
                    start = end;
                }
            }
            queued.fetch_add(1, Ordering::Relaxed);
            if tx.send(batch).is_err() {
                // The matching thread stopped (a write error).
                break;
            }
        }
        result
    };
    std::thread::scope(|scope| -> Result<()> {
        let reading = std::thread::Builder::new()
            .name("moat-read".into())
            .spawn_scoped(scope, read)?;
        let mut matcher = filter.matcher();
        let mut line_no = 0u64;
        let mut result = Ok(());
        'batches: for mut batch in rx.iter() {
            queued.fetch_sub(1, Ordering::Relaxed);
            let mut scans = batch.scans.drain(..);
            let mut start = 0;
            for &(end, date) in &batch.lines {
                line_no += 1;
                let scan = match scans.next() {
                    Some(s) => s,
                    None => matcher.scan(&batch.text[start..end]),
                };
                start = end;
                if let Err(e) = emit(line_no, matcher.finish(scan, line_no, date)) {
                    result = Err(e);
                    break 'batches;
                }
            }
            drop(scans);
            let _ = back_tx.send(batch);
        }
        // (This stops the reading thread at its next batch.)
        drop(rx);
        let read = reading
            .join()
            .unwrap_or_else(|_| Err(anyhow::anyhow!("the reading thread panicked")));
        result.and(read)
    })
}

fn print_report(
    out: &mut impl Write,
    origin: &str,
    args: &TestArgs,
    filter: &Filter,
    report: &Report,
    failures: &[moat_logmatch::Failure],
) -> Result<()> {
    writeln!(out, "Filter: {origin}")?;
    writeln!(out, "Log:    {}", args.log.display())?;
    writeln!(out)?;
    let regexes = filter.regexes();
    for (title, kind, hits) in [
        ("Failregex", RegexKind::Failregex, &report.failregex_hits),
        (
            "Ignoreregex",
            RegexKind::Ignoreregex,
            &report.ignoreregex_hits,
        ),
    ] {
        writeln!(out, "{title}: {} total", hits.iter().sum::<u64>())?;
        for r in regexes.iter().filter(|r| r.kind == kind) {
            let n = hits.get(r.index).copied().unwrap_or(0);
            writeln!(out, "  {:>3}) [{n}] {}", r.index + 1, r.regex)?;
        }
    }
    writeln!(out)?;
    writeln!(
        out,
        "Lines: {} lines, {} ignored, {} matched, {} missed",
        report.lines,
        report.ignored.len(),
        report.matched.len(),
        report.missed.len()
    )?;
    if !report.errors.is_empty() {
        writeln!(
            out,
            "{} matches gave up at the backtracking limit (first at line {})",
            report.errors.len(),
            report.errors[0].0
        )?;
    }
    for f in failures {
        writeln!(
            out,
            "  line {}: {} (regex {}){}",
            f.line,
            f.host,
            f.regex + 1,
            f.user
                .as_deref()
                .map(|u| format!(" user {u}"))
                .unwrap_or_default()
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A log with failures, connections by id (sshd's `<F-MLFID>`), lines
    /// without a date and lines that are not UTF-8, over several batches.
    fn log() -> Vec<u8> {
        let mut out = Vec::new();
        for i in 0..(3 * BATCH + 123) {
            let (pid, ip) = (1000 + i % 37, format!("192.0.2.{}", i % 200));
            let t = format!("Nov  2 00:{:02}:{:02} gw", (i / 60) % 60, i % 60);
            let line = match i % 9 {
                0 => format!("{t} sshd[{pid}]: Failed password for root from {ip} port 22 ssh2"),
                1 => format!("{t} sshd[{pid}]: Invalid user adm{i} from {ip} port 4242"),
                2 => format!("{t} sshd[{pid}]: Connection from {ip} port 5 on 10.0.0.1 port 22"),
                3 => format!("{t} sshd[{pid}]: Disconnecting: Too many authentication failures [preauth]"),
                4 => format!("{t} CRON[{pid}]: pam_unix(cron:session): session closed for user root"),
                5 => format!("sshd[{pid}]: Failed password for bob from {ip} port 22 ssh2"),
                6 => format!("{t} sshd[{pid}]: Accepted publickey for bob from {ip} port 22 ssh2"),
                7 => format!("{t} sshd[{pid}]: Connection closed by {ip} port 22 [preauth]"),
                _ => format!("{t} sshd[{pid}]: error: PAM: Authentication failure for illegal user \u{e9}{i} from {ip}"),
            };
            out.extend_from_slice(line.as_bytes());
            if i % 1000 == 999 {
                out.extend_from_slice(b" \xff");
            }
            out.push(b'\n');
        }
        out
    }

    fn filter(name: &str) -> Filter {
        let (name, options) = parse_filter_ref(name).unwrap();
        let def = load_filter(&name, &options, &[]).unwrap();
        moat_jail::compile_filter(&def).unwrap()
    }

    /// The two threads give what one matcher gives, line by line, whoever
    /// does the regex work.
    #[test]
    fn threads_agree_with_one_matcher() {
        let log = log();
        let now = SystemTime::now();
        for name in ["sshd", "sshd[mode=aggressive]", "sshd[mode=ddos]"] {
            let filter = filter(name);
            let mut matcher = filter.matcher();
            let expected: Vec<(u64, Outcome)> = log
                .split(|b| *b == b'\n')
                .filter(|l| !l.is_empty())
                .enumerate()
                .map(|(i, l)| {
                    let n = i as u64 + 1;
                    (n, matcher.feed_outcome(&String::from_utf8_lossy(l), n, now))
                })
                .collect();
            assert!(expected.iter().any(|(_, o)| !o.failures.is_empty()));
            for help in [Help::Auto, Help::Never, Help::Always] {
                let mut got = Vec::new();
                run_lines(&filter, &log[..], now, help, &mut |n, o| {
                    got.push((n, o));
                    Ok(())
                })
                .unwrap();
                assert!(got == expected, "{name} {help:?}");
            }
        }
    }
}
