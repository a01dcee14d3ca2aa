//! The LOG and NFLOG targets.

use moat_model::text::first_bytes;
use moat_model::{Action, LogFlags, LogLevel};

use crate::rule::error::{fail, Res};
use crate::rule::ext::{once, Cx, Extension, Opt};
use crate::rule::options::{opt, OptDef};
use crate::rule::values::{number_in, push_opt, save_string};
use crate::rule::Warning;

/// The longest NFLOG prefix nf_tables keeps, in bytes.
const NFLOG_PREFIX_MAX: usize = 127;

/// The longest LOG prefix the kernel keeps.
const MAX_PREFIX: usize = 29;

/// LOG flags: option, bit, the word `-L` shows.
const FLAGS: &[(&str, u8, &str)] = &[
    ("--log-tcp-sequence", 0x01, "tcp-sequence"),
    ("--log-tcp-options", 0x02, "tcp-options"),
    ("--log-ip-options", 0x04, "ip-options"),
    ("--log-uid", 0x08, "uid"),
    ("--log-macdecode", 0x20, "macdecode"),
];

/// Syslog level names `--log-level` accepts.
const LEVELS: &[(&str, u8)] = &[
    ("emerg", 0),
    ("panic", 0),
    ("alert", 1),
    ("crit", 2),
    ("error", 3),
    ("warning", 4),
    ("notice", 5),
    ("info", 6),
    ("debug", 7),
];

/// The level names `-L` shows.
const LEVEL_NAMES: [&str; 8] = [
    "emerg", "alert", "crit", "err", "warn", "notice", "info", "debug",
];

/// `-j LOG`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Log {
    prefix: Option<String>,
    level: Option<u8>,
    flags: u8,
}

impl Log {
    fn level(&self) -> u8 {
        self.level.unwrap_or(4)
    }

    /// The model action.
    pub(crate) fn lower(&self) -> Action {
        let has = |bit: u8| self.flags & bit != 0;
        Action::Log {
            prefix: self.prefix.clone(),
            level: LogLevel(self.level()),
            flags: LogFlags {
                tcp_sequence: has(0x01),
                tcp_options: has(0x02),
                ip_options: has(0x04),
                uid: has(0x08),
                macdecode: has(0x20),
            },
        }
    }
}

fn parse_level(v: &str) -> Res<u8> {
    if let Some(n) = crate::rule::values::parse_number(v) {
        if n <= 7 {
            return Ok(n as u8);
        }
        return fail(format!("--log-level {v} is out of range 0-7"));
    }
    // Level names are case-sensitive, as iptables reads them.
    match LEVELS.iter().find(|(n, _)| *n == v) {
        Some(&(_, l)) => Ok(l),
        None => fail(format!(
            "--log-level: unknown level \"{v}\" (use 0-7 or emerg, alert, crit, error, warning, notice, info, debug){}",
            crate::rule::suggest::did_you_mean(v, LEVELS.iter().map(|(n, _)| *n))
        )),
    }
}

impl Extension for Log {
    fn options(&self) -> &'static [OptDef] {
        const O: &[OptDef] = &[
            opt("--log-level", 1, false),
            opt("--log-prefix", 1, false),
            opt("--log-tcp-sequence", 0, false),
            opt("--log-tcp-options", 0, false),
            opt("--log-ip-options", 0, false),
            opt("--log-uid", 0, false),
            opt("--log-macdecode", 0, false),
        ];
        O
    }

    fn parse(&mut self, o: &mut Opt<'_>) -> Res<()> {
        match o.name {
            "--log-level" => {
                once(&self.level, o.name)?;
                self.level = Some(parse_level(o.value())?);
            }
            "--log-prefix" => {
                once(&self.prefix, o.name)?;
                let v = o.value();
                if v.is_empty() {
                    return fail("--log-prefix needs at least one character");
                }
                if v.contains('\n') {
                    return fail("--log-prefix cannot contain a line break");
                }
                let mut prefix = v.to_string();
                if prefix.len() > MAX_PREFIX {
                    prefix.truncate(first_bytes(v, MAX_PREFIX).len());
                    o.warnings.push(Warning::advice(format!(
                        "--log-prefix is longer than {MAX_PREFIX} characters; the kernel keeps only \"{prefix}\""
                    )));
                }
                self.prefix = Some(prefix);
            }
            name => {
                if let Some(&(_, bit, _)) = FLAGS.iter().find(|(n, ..)| *n == name) {
                    self.flags |= bit;
                }
            }
        }
        Ok(())
    }

    fn finish(&mut self, _cx: &Cx) -> Res<()> {
        self.level.get_or_insert(4);
        Ok(())
    }

    fn save(&self, out: &mut String) {
        if let Some(p) = &self.prefix {
            push_opt(out, false, "--log-prefix", Some(&save_string(p)));
        }
        if self.level() != 4 {
            push_opt(out, false, "--log-level", Some(&self.level().to_string()));
        }
        for &(name, bit, _) in FLAGS {
            if self.flags & bit != 0 {
                push_opt(out, false, name, None);
            }
        }
    }

    fn print(&self, out: &mut String, numeric: bool) {
        if numeric {
            out.push_str(&format!(" LOG flags {} level {}", self.flags, self.level()));
        } else {
            out.push_str(&format!(
                " LOG level {}",
                LEVEL_NAMES[usize::from(self.level() & 7)]
            ));
            for &(_, bit, word) in FLAGS {
                if self.flags & bit != 0 {
                    out.push(' ');
                    out.push_str(word);
                }
            }
        }
        if let Some(p) = &self.prefix {
            out.push_str(&format!(" prefix \"{p}\""));
        }
    }
}

/// `-j NFLOG`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct NfLog {
    group: Option<u16>,
    prefix: Option<String>,
    size: Option<u32>,
    threshold: Option<u16>,
    /// Whether `--nflog-range` was given: it sets nothing, but excludes `--nflog-size`.
    range: bool,
}

impl NfLog {
    /// The model action.
    pub(crate) fn lower(&self) -> Action {
        Action::NfLog {
            group: self.group.unwrap_or(0),
            prefix: self.prefix.clone(),
            snaplen: self.size,
            threshold: self.threshold.filter(|&t| t != 0),
        }
    }
}

impl Extension for NfLog {
    fn options(&self) -> &'static [OptDef] {
        const O: &[OptDef] = &[
            opt("--nflog-group", 1, false),
            opt("--nflog-prefix", 1, false),
            opt("--nflog-range", 1, false).once(),
            opt("--nflog-size", 1, false),
            opt("--nflog-threshold", 1, false),
        ];
        O
    }

    fn parse(&mut self, o: &mut Opt<'_>) -> Res<()> {
        let v = o.value();
        match o.name {
            "--nflog-group" => {
                once(&self.group, o.name)?;
                self.group = Some(number_in(v, o.name, 0, 65535)? as u16);
            }
            "--nflog-prefix" => {
                once(&self.prefix, o.name)?;
                if v.is_empty() {
                    return fail("--nflog-prefix needs at least one character");
                }
                if v.contains('\n') {
                    return fail("--nflog-prefix cannot contain a line break");
                }
                // nf_tables keeps 127 bytes; iptables-nft cuts longer prefixes.
                let kept = first_bytes(v, NFLOG_PREFIX_MAX).to_string();
                let cut = kept.len() < v.len();
                if cut {
                    o.warnings.push(Warning::advice(format!(
                        "--nflog-prefix is longer than {NFLOG_PREFIX_MAX} bytes; cut to \"{kept}\" as \
                         iptables-nft cuts it"
                    )));
                }
                self.prefix = Some(kept);
            }
            "--nflog-range" => {
                number_in(v, o.name, 0, u64::from(u32::MAX))?;
                self.range = true;
                // iptables prints this one itself.
                o.warnings.push(Warning::as_iptables(
                    "warn: --nflog-range has never worked and is no longer supported, please \
                     use --nflog-size instead",
                ));
            }
            "--nflog-size" => {
                once(&self.size, o.name)?;
                self.size = Some(number_in(v, o.name, 0, u64::from(u32::MAX))? as u32);
            }
            _ => {
                once(&self.threshold, o.name)?;
                self.threshold = Some(number_in(v, o.name, 0, 65535)? as u16);
            }
        }
        if self.range && self.size.is_some() {
            return fail(
                "NFLOG: option \"--nflog-range\" cannot be used together with \"--nflog-size\".",
            );
        }
        Ok(())
    }

    fn finish(&mut self, _cx: &Cx) -> Res<()> {
        if self.group == Some(0) {
            self.group = None;
        }
        if self.threshold == Some(0) {
            self.threshold = None;
        }
        Ok(())
    }

    fn save(&self, out: &mut String) {
        self.words(out, true);
    }

    fn print(&self, out: &mut String, _numeric: bool) {
        self.words(out, false);
    }
}

impl NfLog {
    fn words(&self, out: &mut String, dashes: bool) {
        let d = if dashes { "--" } else { "" };
        if let Some(p) = &self.prefix {
            out.push_str(&format!(" {d}nflog-prefix {}", save_string(p)));
        }
        if let Some(g) = self.group {
            out.push_str(&format!(" {d}nflog-group {g}"));
        }
        if let Some(s) = self.size {
            out.push_str(&format!(" {d}nflog-size {s}"));
        }
        if let Some(t) = self.threshold {
            out.push_str(&format!(" {d}nflog-threshold {t}"));
        }
    }
}
