//! `moat jail test LOG FILTER`: what fail2ban-regex does, fast.

use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::SystemTime;

use anyhow::{Context, Result};
use clap::Args;
use moat_fail2ban::{load_filter, parse_filter_ref, FilterDef};
use moat_logmatch::{Filter, FilterSpec, RegexKind, Report};

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
    Ok((
        origin,
        FilterSpec {
            failregex: def.failregex,
            ignoreregex: def.ignoreregex,
            prefregex: def.prefregex,
            datepattern: def.datepattern,
            maxlines: def.maxlines.max(1),
        },
    ))
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
    let input: Box<dyn std::io::Read> = if args.log.as_os_str() == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        Box::new(
            std::fs::File::open(&args.log)
                .with_context(|| format!("cannot read {}", args.log.display()))?,
        )
    };
    let mut reader = BufReader::with_capacity(1 << 20, input);
    let stdout = std::io::stdout();
    let mut out = BufWriter::with_capacity(1 << 16, stdout.lock());
    let mut matcher = filter.matcher();
    let mut report = Report::new(&filter);
    let mut failures = Vec::new();
    let now = SystemTime::now();
    let mut raw = Vec::with_capacity(1024);
    let mut line_no = 0u64;
    loop {
        raw.clear();
        if reader.read_until(b'\n', &mut raw)? == 0 {
            break;
        }
        line_no += 1;
        while raw.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
            raw.pop();
        }
        // Valid UTF-8 (nearly every log line) is checked, not copied.
        let text = match std::str::from_utf8(&raw) {
            Ok(t) => std::borrow::Cow::Borrowed(t),
            Err(_) => String::from_utf8_lossy(&raw),
        };
        let outcome = matcher.feed_outcome(&text, line_no, now);
        report.add(line_no, &outcome);
        if args.json {
            for f in &outcome.failures {
                serde_json::to_writer(&mut out, &f.to_json())?;
                out.write_all(b"\n")?;
            }
        } else if args.print_failures {
            failures.extend(outcome.failures);
        }
    }
    if args.json {
        out.flush()?;
        return Ok(());
    }
    print_report(&mut out, &origin, args, &filter, &report, &failures)?;
    out.flush()?;
    Ok(())
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
