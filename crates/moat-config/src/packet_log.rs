//! `[log] file` and its settings: moat's own packet log.

use toml::Value;

use crate::error::Diagnostic;
use crate::model::PacketLog;
use crate::schema::{self, Any};
use crate::values::{absolute, err, span_of, Res};

/// The log group LOG rules go to by default (see moat-logger's `DEFAULT_GROUP`).
const DEFAULT_GROUP: u16 = 64;
/// Rotated files kept by default.
const DEFAULT_KEEP: u32 = 5;
/// Bytes a log file grows to by default before it is rotated.
const DEFAULT_ROTATE_BYTES: u64 = 100 << 20;

fn group(value: &toml::Spanned<i64>, what: &str) -> Res<u16> {
    u16::try_from(*value.get_ref()).map_err(|_| {
        err(
            span_of(value),
            format!("{what} {} is out of range", value.get_ref()),
        )
        .expected("a log group from 0 to 65535")
    })
}

/// A size: bytes, or a number with K, M or G (`"100M"`).
fn size(value: &Any) -> Res<u64> {
    let expected = "bytes (1048576) or a size such as \"512K\", \"100M\" or \"1G\"";
    let bad = |what: String| err(span_of(value), what).expected(expected);
    let bytes = match value.get_ref() {
        Value::Integer(n) if *n > 0 => *n as u64,
        Value::String(s) => {
            let t = s.trim();
            let (digits, unit) =
                t.split_at(t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len()));
            let scale: u64 = match unit.trim().to_ascii_uppercase().as_str() {
                "" | "B" => 1,
                "K" | "KB" | "KIB" => 1 << 10,
                "M" | "MB" | "MIB" => 1 << 20,
                "G" | "GB" | "GIB" => 1 << 30,
                _ => return Err(bad(format!("rotate_size `{s}` is not a size"))),
            };
            digits
                .parse::<u64>()
                .ok()
                .and_then(|n| n.checked_mul(scale))
                .filter(|&n| n > 0)
                .ok_or_else(|| bad(format!("rotate_size `{s}` is not a size")))?
        }
        _ => return Err(bad("rotate_size must be a positive size".into())),
    };
    if bytes < 4096 {
        return Err(bad(format!(
            "rotate_size {bytes} is too small (at least 4K)"
        )));
    }
    Ok(bytes)
}

fn take<T>(problems: &mut Vec<Diagnostic>, r: Res<T>) -> Option<T> {
    r.map_err(|d| problems.push(d)).ok()
}

/// The packet log settings of `[log]`, when it names a file.
pub(crate) fn validate(l: &schema::Log, problems: &mut Vec<Diagnostic>) -> Option<PacketLog> {
    let Some(file) = &l.file else {
        let stray = [
            l.format.as_ref().map(span_of),
            l.group.as_ref().map(span_of),
            l.rotate_size.as_ref().map(span_of),
            l.rotate_every.as_ref().map(span_of),
            l.keep.as_ref().map(span_of),
            l.max_rate.as_ref().map(span_of),
        ];
        if let Some(span) = stray.into_iter().flatten().next() {
            problems.push(
                Diagnostic::new(Some(span), "this setting of moat's packet log needs `file`")
                    .expected("`file = \"/var/log/moat/packets.jsonl\"` in [log]"),
            );
        }
        return None;
    };
    let path = take(
        problems,
        absolute(file, "an absolute path such as /var/log/moat/packets.jsonl"),
    )?;
    let text = match l.format.as_ref().map(|f| (f, f.get_ref().trim())) {
        None | Some((_, "json")) => false,
        Some((_, "text")) => true,
        Some((f, other)) => {
            problems.push(
                err(span_of(f), format!("log format `{other}` is not known")).expected(
                    "\"json\" (one object per line) or \"text\" (the kernel log's layout)",
                ),
            );
            false
        }
    };
    let group_number = l
        .group
        .as_ref()
        .and_then(|g| take(problems, group(g, "log group")))
        .unwrap_or(DEFAULT_GROUP);
    let groups = l.groups.as_ref().map(|gs| {
        gs.iter()
            .filter_map(|g| take(problems, group(g, "log group")))
            .collect::<Vec<_>>()
    });
    let rotate_bytes = match &l.rotate_size {
        Some(v) => take(problems, size(v)),
        None => Some(DEFAULT_ROTATE_BYTES),
    };
    let rotate_every_secs = l
        .rotate_every
        .as_ref()
        .and_then(|v| take(problems, crate::jails::time(v, "rotate_every", false)))
        .flatten()
        .map(|d| d.as_secs().max(1));
    let keep = match &l.keep {
        Some(k) if (0..=1000).contains(k.get_ref()) => *k.get_ref() as u32,
        Some(k) => {
            problems.push(
                err(span_of(k), format!("keep {} is out of range", k.get_ref()))
                    .expected("a number of rotated files from 0 to 1000"),
            );
            DEFAULT_KEEP
        }
        None => DEFAULT_KEEP,
    };
    let max_rate = l
        .max_rate
        .as_ref()
        .and_then(|r| take(problems, crate::values::count(r, "max_rate", 10_000_000)));
    Some(PacketLog {
        path,
        text,
        group: group_number,
        groups,
        rotate_bytes,
        rotate_every_secs,
        keep,
        max_rate,
    })
}
