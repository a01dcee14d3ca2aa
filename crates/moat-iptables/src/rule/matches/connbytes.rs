//! The connbytes match: how much traffic the packet's connection has carried.

use moat_model::{ConnCounter, CtDirection, Match};

use crate::rule::error::{fail, Res};
use crate::rule::ext::{once, Cx, Extension, Opt};
use crate::rule::options::{opt, OptDef};
use crate::rule::values::{parse_number, push_opt};

const MODES: &[(&str, ConnCounter)] = &[
    ("packets", ConnCounter::Packets),
    ("bytes", ConnCounter::Bytes),
    ("avgpkt", ConnCounter::AvgPacket),
];

const DIRS: &[(&str, Option<CtDirection>)] = &[
    ("original", Some(CtDirection::Original)),
    ("reply", Some(CtDirection::Reply)),
    ("both", None),
];

/// `--connbytes FROM[:TO]`: bounds, and whether the range is inverted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Range {
    from: u64,
    to: u64,
    /// `!`, except on a range of one value: iptables stores a negated range
    /// with its bounds swapped, which changes nothing when they are equal.
    invert: bool,
}

impl Range {
    /// The value as iptables prints it: `FROM`, or `FROM:TO` unless TO is
    /// unbounded (or 0).
    fn text(self) -> String {
        if self.to == u64::MAX || self.to == 0 {
            self.from.to_string()
        } else {
            format!("{}:{}", self.from, self.to)
        }
    }
}

/// `-m connbytes --connbytes --connbytes-dir --connbytes-mode`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct ConnBytes {
    range: Option<Range>,
    dir: Option<Option<CtDirection>>,
    mode: Option<ConnCounter>,
}

fn bound(s: &str, whole: &str) -> Res<u64> {
    parse_number(s).map_or_else(
        || {
            fail(format!(
                "--connbytes: \"{whole}\" is not a count FROM[:TO] (0-{})",
                u64::MAX
            ))
        },
        Ok,
    )
}

fn named<T: Copy>(table: &[(&str, T)], value: &str, opt: &str) -> Res<T> {
    match table.iter().find(|(n, _)| *n == value) {
        Some(&(_, v)) => Ok(v),
        None => {
            let names: Vec<&str> = table.iter().map(|(n, _)| *n).collect();
            fail(format!(
                "{opt}: unknown value \"{value}\" (expected {}){}",
                names.join(", "),
                crate::rule::suggest::did_you_mean(value, names.iter().copied())
            ))
        }
    }
}

fn name_of<T: PartialEq>(table: &[(&'static str, T)], value: &T) -> &'static str {
    table
        .iter()
        .find(|(_, v)| v == value)
        .map_or("?", |(n, _)| n)
}

impl ConnBytes {
    /// The model condition.
    pub(crate) fn lower(&self, out: &mut Vec<Match>) {
        if let (Some(range), Some(dir), Some(counter)) = (self.range, self.dir, self.mode) {
            out.push(Match::ConnBytes {
                counter,
                dir,
                min: range.from,
                max: range.to,
                negate: range.invert,
            });
        }
    }
}

impl Extension for ConnBytes {
    fn options(&self) -> &'static [OptDef] {
        const O: &[OptDef] = &[
            opt("--connbytes", 1, true),
            opt("--connbytes-dir", 1, false),
            opt("--connbytes-mode", 1, false),
        ];
        O
    }

    fn parse(&mut self, o: &mut Opt<'_>) -> Res<()> {
        let v = o.value();
        match o.name {
            "--connbytes" => {
                once(&self.range, "--connbytes")?;
                let (from, to) = match v.split_once(':') {
                    Some((a, b)) => (
                        if a.is_empty() { 0 } else { bound(a, v)? },
                        if b.is_empty() { u64::MAX } else { bound(b, v)? },
                    ),
                    None => (bound(v, v)?, u64::MAX),
                };
                if from > to {
                    return fail(format!(
                        "--connbytes: range {v} runs backwards (write {to}:{from})"
                    ));
                }
                self.range = Some(Range {
                    from,
                    to,
                    invert: o.invert && from != to,
                });
            }
            "--connbytes-dir" => {
                once(&self.dir, "--connbytes-dir")?;
                self.dir = Some(named(DIRS, v, "--connbytes-dir")?);
            }
            _ => {
                once(&self.mode, "--connbytes-mode")?;
                self.mode = Some(named(MODES, v, "--connbytes-mode")?);
            }
        }
        Ok(())
    }

    fn finish(&mut self, _cx: &Cx) -> Res<()> {
        if self.range.is_none() || self.dir.is_none() || self.mode.is_none() {
            return fail(
                "the connbytes match needs --connbytes FROM[:TO], --connbytes-dir original|reply|both and --connbytes-mode packets|bytes|avgpkt",
            );
        }
        Ok(())
    }

    fn save(&self, out: &mut String) {
        if let (Some(range), Some(dir), Some(mode)) = (self.range, self.dir, self.mode) {
            push_opt(out, range.invert, "--connbytes", Some(&range.text()));
            push_opt(out, false, "--connbytes-mode", Some(name_of(MODES, &mode)));
            push_opt(out, false, "--connbytes-dir", Some(name_of(DIRS, &dir)));
        }
    }

    fn print(&self, out: &mut String, _numeric: bool) {
        if let (Some(range), Some(dir), Some(mode)) = (self.range, self.dir, self.mode) {
            out.push_str(&format!(
                "{} connbytes {} connbytes mode {} connbytes direction {}",
                if range.invert { " !" } else { "" },
                range.text(),
                name_of(MODES, &mode),
                name_of(DIRS, &dir)
            ));
        }
    }
}
