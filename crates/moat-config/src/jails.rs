//! `[daemon]` and `[[jail]]`: bans from logs, run by `moat daemon`. They do not change
//! the compiled tables.
//!
//! ```toml
//! [daemon]
//! jails = ["/etc/fail2ban"]                  # fail2ban jail files or directories
//! filter_dirs = ["/etc/fail2ban/filter.d"]   # looked up before the built-in filters
//!
//! [[jail]]
//! name = "sshd"
//! filter = "sshd[mode=aggressive]"
//! logpath = "/var/log/auth.log"
//! maxretry = 5
//! findtime = "10m"
//! bantime = "1h"
//! port = "ssh"
//! ignoreip = ["192.168.1.0/24"]
//! ```

use std::net::{IpAddr, Ipv4Addr};
use std::ops::Range;
use std::time::Duration;

use moat_fail2ban::{builtin, parse_filter_ref, BanScope, BanTime, Increment, PortRange, Protocol};
use toml::{Spanned, Value};

use crate::error::{closest, Diagnostic};
use crate::model::{DaemonConfig, Jail};
use crate::schema::{self, Any, Strings, Text};
use crate::services::ServiceDb;
use crate::values::{absolute, count, err, ports, span_of, Res};

/// Reads `[daemon]`; problems go to `problems`.
pub(crate) fn daemon(
    table: Option<&Spanned<schema::Daemon>>,
    problems: &mut Vec<Diagnostic>,
) -> DaemonConfig {
    let Some(table) = table.map(Spanned::get_ref) else {
        return DaemonConfig::default();
    };
    let mut paths = |value: &Option<Spanned<Strings>>, expected: &str| {
        let mut out = Vec::new();
        for item in value.iter().flat_map(Strings::items) {
            match absolute(&item, expected) {
                Ok(p) if !out.contains(&p) => out.push(p),
                Ok(_) => {}
                Err(d) => problems.push(d),
            }
        }
        out
    };
    DaemonConfig {
        jails: paths(
            &table.jails,
            "an absolute path to a fail2ban jail file or directory, such as /etc/fail2ban",
        ),
        filter_dirs: paths(
            &table.filter_dirs,
            "an absolute path to a filter.d directory, such as /etc/fail2ban/filter.d",
        ),
        metrics: None,
    }
}

/// `[metrics] listen`: an address and port, or a port alone (on 127.0.0.1).
pub(crate) fn metrics_listen(table: &Spanned<schema::Metrics>) -> Res<std::net::SocketAddr> {
    let listen = &table.get_ref().listen;
    let text = listen.get_ref().trim();
    if let Ok(port) = text.parse::<u16>() {
        return Ok(std::net::SocketAddr::from(([127, 0, 0, 1], port)));
    }
    text.parse().map_err(|_| {
        err(
            span_of(listen),
            format!("`{text}` is not an address and port"),
        )
        .expected("\"127.0.0.1:9469\", \"[::1]:9469\" or a port such as 9469")
    })
}

/// Validates the `[[jail]]` entries; problems go to `problems`.
pub(crate) fn validate(
    entries: &[Spanned<schema::Jail>],
    daemon: &DaemonConfig,
    db: &ServiceDb,
    problems: &mut Vec<Diagnostic>,
) -> Vec<Jail> {
    let mut out: Vec<Jail> = Vec::new();
    for entry in entries {
        let mut c = Collect { problems };
        let Some(jail) = one(&mut c, entry, daemon, db) else {
            continue;
        };
        if out.iter().any(|j| j.name == jail.name) {
            let span = entry
                .get_ref()
                .name
                .as_ref()
                .map_or(span_of(entry), span_of);
            problems.push(
                err(span, format!("jail `{}` is defined twice", jail.name))
                    .fix("give each [[jail]] its own name"),
            );
        } else {
            out.push(jail);
        }
    }
    out
}

/// Collects problems so one run reports them all.
struct Collect<'a> {
    problems: &'a mut Vec<Diagnostic>,
}

impl Collect<'_> {
    fn take<T>(&mut self, r: Res<T>) -> Option<T> {
        r.map_err(|d| self.problems.push(d)).ok()
    }
}

/// One jail, or `None` after reporting its problems.
fn one(
    c: &mut Collect,
    entry: &Spanned<schema::Jail>,
    daemon: &DaemonConfig,
    db: &ServiceDb,
) -> Option<Jail> {
    let span = span_of(entry);
    let j = entry.get_ref();
    let before = c.problems.len();
    let name = match &j.name {
        Some(n) => c.take(jail_name(n)),
        None => {
            c.problems.push(
                err(span.clone(), "a jail needs a `name`")
                    .fix("add name = \"sshd\" (it names the jail's bans)"),
            );
            None
        }
    };
    let filter = match (&j.filter, &name) {
        (Some(f), _) => c.take(filter(f, daemon)),
        (None, Some(n)) => {
            let at = j.name.as_ref().map_or(span.clone(), span_of);
            c.take(default_filter(n, at, daemon))
        }
        (None, None) => None,
    };
    let (logpaths, journal) = match &j.logpath {
        Some(l) => c.take(logpaths(l)).unwrap_or_default(),
        None => {
            c.problems.push(
                err(span.clone(), "a jail needs a `logpath`")
                    .expected("logpath = \"/var/log/auth.log\" (absolute, globs allowed), a list of them, or \"journal\" for the systemd journal"),
            );
            (Vec::new(), false)
        }
    };
    let journalmatch = match &j.journalmatch {
        Some(m) if j.logpath.is_some() && !journal => {
            c.problems.push(
                err(
                    span_of(m),
                    "journalmatch only applies to the systemd journal",
                )
                .fix("read the journal (logpath = \"journal\"), or remove journalmatch"),
            );
            Vec::new()
        }
        Some(m) => c.take(journalmatch(m)).unwrap_or_default(),
        None => Vec::new(),
    };
    let maxretry = j
        .maxretry
        .as_ref()
        .map_or(Some(5), |n| c.take(count(n, "maxretry", 1_000_000)));
    let findtime = match &j.findtime {
        Some(t) => c.take(time(t, "findtime", false)).flatten(),
        None => Some(Duration::from_secs(600)),
    };
    let bantime = match &j.bantime {
        Some(t) => c
            .take(time(t, "bantime", true))
            .map(|t| t.map_or(BanTime::Permanent, BanTime::Seconds)),
        None => Some(BanTime::Seconds(Duration::from_secs(600))),
    };
    let increment = match &j.increment {
        Some(i) => c.take(increment(i)),
        None => Some(None),
    };
    let protocol = match &j.proto {
        Some(p) => c.take(protocol(p)).map(Some),
        None => Some(None),
    };
    let scope = protocol.and_then(|p| c.take(scope(j.port.as_ref(), p, db)));
    let mut ignoreip = Vec::new();
    for item in j.ignoreip.iter().flat_map(Strings::items) {
        for word in item.get_ref().split([' ', ',', '\t', '\n']) {
            if !word.is_empty() {
                c.take(ignore_entry(word, span_of(&item)));
                ignoreip.push(word.to_string());
            }
        }
    }
    let v6_prefix = match &j.ipv6_prefix {
        Some(p) => c.take(v6_prefix(p)),
        None => Some(None),
    };
    let reject = match &j.action {
        Some(a) => c.take(reject(a)),
        None => Some(true),
    };
    if c.problems.len() > before {
        return None;
    }
    Some(Jail {
        name: name?,
        filter: filter?,
        logpaths,
        journal,
        journalmatch,
        maxretry: maxretry?,
        findtime: findtime?,
        bantime: bantime?,
        increment: increment?,
        ignoreip,
        ignoreself: j.ignoreself.unwrap_or(true),
        scope: scope?,
        v6_prefix: v6_prefix?,
        reject: reject?,
        span,
    })
}

fn jail_name(text: &Text) -> Res<String> {
    let name = text.get_ref().trim();
    moat_ban::layout::check_name(name).map_err(|e| err(span_of(text), e.to_string()))?;
    Ok(name.to_string())
}

/// The names of moat's built-in filters (`moat-common` is an include, not a filter).
fn builtin_names() -> impl Iterator<Item = &'static str> {
    builtin::FILES
        .iter()
        .map(|(n, _)| *n)
        .filter(|n| *n != "moat-common")
}

/// A filter named `name` that must be built in when no `filter_dirs` are given.
fn known_filter(name: &str, span: Range<usize>, daemon: &DaemonConfig) -> Res<()> {
    if !daemon.filter_dirs.is_empty() || builtin_names().any(|n| n == name) {
        return Ok(());
    }
    let mut d = err(span, format!("moat has no built-in filter `{name}`")).expected(format!(
        "one of {}, an absolute path to a filter file, or a filter.d name with [daemon] filter_dirs set",
        builtin_names().collect::<Vec<_>>().join(", ")
    ));
    if let Some(c) = closest(name, builtin_names()) {
        d = d.fix(format!("write \"{c}\""));
    }
    Err(d)
}

/// `filter = "sshd[mode=aggressive]"` or `"/etc/moat/filters/app.conf"`.
fn filter(text: &Text, daemon: &DaemonConfig) -> Res<String> {
    let t = text.get_ref().trim();
    let (name, _) = parse_filter_ref(t).map_err(|m| {
        err(span_of(text), m).expected(
            "a filter name such as \"sshd\", with options such as \"sshd[mode=aggressive]\", or an absolute path to a filter file",
        )
    })?;
    if name.contains('/') {
        absolute(
            &Spanned::new(span_of(text), name),
            "a filter name such as \"sshd\", or an absolute path to a filter file",
        )?;
    } else {
        known_filter(&name, span_of(text), daemon)?;
    }
    Ok(t.to_string())
}

/// The filter of a jail that names none: the jail's own name.
fn default_filter(name: &str, span: Range<usize>, daemon: &DaemonConfig) -> Res<String> {
    known_filter(name, span, daemon).map_err(|d| {
        d.fix("name the filter: filter = \"sshd\" (the jail's name is the default)")
    })?;
    Ok(name.to_string())
}

/// Log files (absolute, globs allowed), or `"journal"` alone: the systemd journal.
fn logpaths(value: &Spanned<Strings>) -> Res<(Vec<String>, bool)> {
    let items = Strings::items(value);
    if items.is_empty() {
        return Err(err(span_of(value), "the logpath list is empty")
            .expected("at least one log file, or \"journal\""));
    }
    let (mut paths, mut journal) = (Vec::new(), false);
    for item in &items {
        let t = item.get_ref().trim();
        if t == "journal" {
            journal = true;
            continue;
        }
        absolute(
            item,
            "an absolute path such as /var/log/auth.log (globs allowed), or \"journal\" for the systemd journal",
        )?;
        if !paths.iter().any(|p| p == t) {
            paths.push(t.to_string());
        }
    }
    if journal && !paths.is_empty() {
        return Err(err(
            span_of(value),
            "a jail reads either log files or the journal, not both",
        )
        .fix("write two jails: one with the files, one with logpath = \"journal\""));
    }
    Ok((paths, journal))
}

/// `_SYSTEMD_UNIT=ssh.service + _COMM=sshd`: journalctl match words.
fn journalmatch(text: &Text) -> Res<Vec<String>> {
    let words: Vec<String> = text
        .get_ref()
        .split_whitespace()
        .map(String::from)
        .collect();
    let expected =
        "FIELD=value words such as _SYSTEMD_UNIT=ssh.service, with + between alternatives";
    let field_ok = |f: &str| {
        !f.is_empty()
            && f.chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
    };
    for (i, w) in words.iter().enumerate() {
        let ok = match w.split_once('=') {
            Some((field, _)) => field_ok(field) && !w.contains(['"', '\'']),
            None => w == "+" && i > 0 && i + 1 < words.len() && words[i - 1] != "+",
        };
        if !ok {
            return Err(
                err(span_of(text), format!("`{w}` is not a journal match")).expected(expected)
            );
        }
    }
    if words.is_empty() {
        return Err(err(span_of(text), "journalmatch is empty").expected(expected));
    }
    Ok(words)
}

/// The longest time moat takes (a bit over 136 years).
const MAX_SECONDS: f64 = u32::MAX as f64;

/// A time: whole seconds or fail2ban's time syntax. With `permanent`, a negative time or
/// `"permanent"` is `None` (a ban until lifted by hand); otherwise it must be positive.
pub(crate) fn time(value: &Any, what: &str, permanent: bool) -> Res<Option<Duration>> {
    let span = span_of(value);
    let mut expected =
        "seconds (600) or fail2ban's time syntax such as \"10m\", \"1h30m\" or \"1d\"".to_string();
    if permanent {
        expected.push_str(", or -1 / \"permanent\" for bans lifted only by hand");
    }
    let secs = match value.get_ref() {
        Value::Integer(n) => *n as f64,
        Value::Float(f) => *f,
        Value::String(s) if permanent && s.trim().eq_ignore_ascii_case("permanent") => -1.0,
        Value::String(s) => moat_fail2ban::duration::seconds(s).map_err(|_| {
            err(span.clone(), format!("{what} `{s}` is not a time")).expected(expected.clone())
        })?,
        other => {
            return Err(
                err(span, format!("{what} cannot be a {}", other.type_str())).expected(expected),
            )
        }
    };
    if !secs.is_finite() || secs > MAX_SECONDS {
        return Err(err(span, format!("{what} is too long")).expected(expected));
    }
    if secs < 0.0 && permanent {
        return Ok(None);
    }
    if secs <= 0.0 {
        return Err(err(span, format!("{what} must be longer than 0")).expected(expected));
    }
    Ok(Some(Duration::from_secs_f64(secs)))
}

/// `increment = true` or a table of the `bantime.*` settings.
fn increment(value: &Spanned<schema::Increment>) -> Res<Option<Increment>> {
    let mut inc = Increment {
        factor: 1.0,
        formula: None,
        multipliers: Vec::new(),
        maxtime: None,
        rndtime: None,
        overalljails: false,
    };
    let t = match value.get_ref() {
        schema::Increment::Switch(false) => return Ok(None),
        schema::Increment::Switch(true) => return Ok(Some(inc)),
        schema::Increment::Table(t) => t,
    };
    if let Some(f) = &t.factor {
        let factor = *f.get_ref();
        if !(factor.is_finite() && factor > 0.0) {
            return Err(err(span_of(f), format!("factor {factor} is out of range"))
                .expected("a number above 0, such as 1 or 2.5"));
        }
        inc.factor = factor;
    }
    if let Some(m) = &t.multipliers {
        inc.multipliers = m
            .get_ref()
            .iter()
            .map(|&n| u64::try_from(n).ok().filter(|&n| n >= 1))
            .collect::<Option<_>>()
            .ok_or_else(|| {
                err(
                    span_of(m),
                    "multipliers must be whole numbers of at least 1",
                )
                .expected("a list such as [1, 2, 4, 8, 16, 32, 64]")
            })?;
    }
    if let Some(v) = &t.maxtime {
        inc.maxtime = time(v, "maxtime", false)?;
    }
    if let Some(v) = &t.rndtime {
        inc.rndtime = time(v, "rndtime", false)?;
    }
    inc.overalljails = t.overalljails.unwrap_or(false);
    Ok(Some(inc))
}

/// `tcp`, `udp`, `sctp` or `all`.
fn protocol(text: &Text) -> Res<Protocol> {
    const NAMES: [&str; 4] = ["tcp", "udp", "sctp", "all"];
    let t = text.get_ref().trim().to_ascii_lowercase();
    Ok(match t.as_str() {
        "tcp" => Protocol::Tcp,
        "udp" => Protocol::Udp,
        "sctp" => Protocol::Sctp,
        "all" => Protocol::All,
        other => {
            let mut d = err(span_of(text), format!("unknown protocol `{other}`"))
                .expected("\"tcp\", \"udp\", \"sctp\" or \"all\"");
            if let Some(c) = closest(other, NAMES) {
                d = d.fix(format!("write proto = \"{c}\""));
            }
            return Err(d);
        }
    })
}

/// What a ban closes: `port = "all"` (the default) blocks everything, or every port of
/// an explicitly given protocol; otherwise the listed ports of `protocol` (default tcp).
fn scope(port: Option<&Any>, protocol: Option<Protocol>, db: &ServiceDb) -> Res<BanScope> {
    let all = port.is_none_or(|p| {
        p.get_ref()
            .as_str()
            .is_some_and(|s| s.trim().eq_ignore_ascii_case("all"))
    });
    let ranges = match (port, all) {
        (Some(p), false) => ports(p, db)?
            .ranges
            .iter()
            .map(|r| PortRange {
                first: r.first,
                last: r.last,
            })
            .collect(),
        _ => match protocol {
            None | Some(Protocol::All) => {
                return Ok(BanScope {
                    protocol: Protocol::All,
                    ports: Vec::new(),
                    all: true,
                })
            }
            Some(_) => vec![PortRange {
                first: 0,
                last: u16::MAX,
            }],
        },
    };
    Ok(BanScope {
        protocol: protocol.unwrap_or(Protocol::Tcp),
        ports: merge(ranges),
        all: false,
    })
}

/// Port ranges sorted, overlapping and adjacent ones merged.
fn merge(mut ranges: Vec<PortRange>) -> Vec<PortRange> {
    ranges.sort();
    let mut out: Vec<PortRange> = Vec::new();
    for r in ranges {
        match out.last_mut() {
            Some(m) if u32::from(r.first) <= u32::from(m.last) + 1 => m.last = m.last.max(r.last),
            _ => out.push(r),
        }
    }
    out
}

/// An ignoreip word: an address, a network (`10.0.0.0/8`, `10.0.0.0/255.0.0.0`) or a
/// host name.
fn ignore_entry(word: &str, span: Range<usize>) -> Res<()> {
    let expected = "an address (192.168.1.5, fd00::5), a network (192.168.1.0/24, fd00::/64) or a host name (gw.example.org)";
    if let Some((addr, prefix)) = word.split_once('/') {
        let addr: IpAddr = addr.parse().map_err(|_| {
            err(
                span.clone(),
                format!("`{word}`: `{addr}` is not an address"),
            )
            .expected(expected)
        })?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        if let Ok(n) = prefix.parse::<u8>() {
            if n <= max {
                return Ok(());
            }
            return Err(err(
                span,
                format!("`{word}`: prefix length /{n} is longer than an address"),
            )
            .expected(format!(
                "a prefix length from 0 to {max} for an IPv{} network",
                if max == 32 { 4 } else { 6 }
            )));
        }
        let mask_ok = addr.is_ipv4()
            && prefix.parse::<Ipv4Addr>().is_ok_and(|m| {
                let bits = u32::from(m);
                bits.leading_ones() + bits.trailing_zeros() == 32
            });
        if mask_ok {
            return Ok(());
        }
        return Err(err(
            span,
            format!("`{word}`: `/{prefix}` is not a prefix length"),
        )
        .expected(expected));
    }
    if word.parse::<IpAddr>().is_ok() {
        return Ok(());
    }
    let looks_numeric = word.chars().all(|c| c.is_ascii_digit() || c == '.');
    if looks_numeric || word.contains(':') {
        return Err(err(span, format!("`{word}` is not an IP address")).expected(expected));
    }
    let label_ok = |l: &str| {
        (1..=63).contains(&l.len())
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    let name = word.strip_suffix('.').unwrap_or(word);
    if name.len() <= 253 && name.split('.').all(label_ok) {
        Ok(())
    } else {
        Err(err(
            span,
            format!("`{word}` is not an address, a network or a host name"),
        )
        .expected(expected))
    }
}

/// `ipv6_prefix = 64` (1-127) or `true` (64).
fn v6_prefix(value: &Any) -> Res<Option<u8>> {
    let expected = "a prefix length from 1 to 127 (such as 64), or true for 64";
    match value.get_ref() {
        Value::Boolean(b) => Ok(b.then_some(64)),
        Value::Integer(n) if (1..=127).contains(n) => Ok(Some(*n as u8)),
        Value::Integer(128) => Err(err(
            span_of(value),
            "ipv6_prefix 128 is a single address, which is the default",
        )
        .fix("remove ipv6_prefix")),
        Value::Integer(n) => {
            Err(err(span_of(value), format!("ipv6_prefix {n} is out of range")).expected(expected))
        }
        other => Err(err(
            span_of(value),
            format!("ipv6_prefix cannot be a {}", other.type_str()),
        )
        .expected(expected)),
    }
}

/// `reject` (the default) or `drop`: whether banned traffic is rejected.
fn reject(text: &Text) -> Res<bool> {
    match text.get_ref().trim().to_ascii_lowercase().as_str() {
        "reject" => Ok(true),
        "drop" => Ok(false),
        other => {
            let mut d = err(span_of(text), format!("unknown ban action `{other}`"))
                .expected("\"reject\" or \"drop\"");
            if let Some(c) = closest(other, ["reject", "drop"]) {
                d = d.fix(format!("write action = \"{c}\""));
            }
            Err(d)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ignore_entries() {
        for ok in [
            "127.0.0.1/8",
            "::1",
            "fd00::/64",
            "10.0.0.0/255.0.0.0",
            "gw.example.org",
            "localhost",
            "host-1.",
        ] {
            assert!(ignore_entry(ok, 0..1).is_ok(), "{ok}");
        }
        for bad in [
            "10.0.0.0/33",
            "fd00::/129",
            "10.0.0.0/255.0.255.0",
            "999.1.1.1",
            "fd00:::1",
            "-bad.example",
            "a_b.example",
        ] {
            assert!(ignore_entry(bad, 0..1).is_err(), "{bad}");
        }
    }

    #[test]
    fn merged_ports() {
        let r = |first, last| PortRange { first, last };
        assert_eq!(
            merge(vec![r(80, 80), r(22, 22), r(81, 90), r(85, 100)]),
            vec![r(22, 22), r(80, 100)]
        );
    }
}
