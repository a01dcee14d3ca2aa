//! The settings of a `[[balance]]` beyond its backends: the health check
//! `moat daemon` runs, and source affinity.

use std::time::Duration;

use toml::Value;

use crate::jails::time;
use crate::model::{BalanceMode, CheckKind, HealthCheck};
use crate::schema::{self, Any, Text};
use crate::values::{count, err, span_of, Res};

/// Time between checks when `interval` is not given.
const DEFAULT_INTERVAL: Duration = Duration::from_secs(1);
/// Longest a check may take when `timeout` is not given (never more than the interval).
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1);
/// Failures in a row that take a backend out, and successes that bring it back.
const DEFAULT_FALL_RISE: u32 = 2;
/// How long a client sticks to its backend when `affinity_timeout` is not given.
const DEFAULT_AFFINITY: Duration = Duration::from_secs(30 * 60);
/// The shortest interval: a check every 100 ms per backend.
const MIN_INTERVAL: Duration = Duration::from_millis(100);

/// The balancing mode named by `mode`.
pub(crate) fn mode(text: &Text) -> Res<BalanceMode> {
    match text.get_ref().to_ascii_lowercase().as_str() {
        "random" => Ok(BalanceMode::Random),
        "round-robin" | "roundrobin" | "round_robin" | "nth" => Ok(BalanceMode::RoundRobin),
        "hash" | "source-hash" | "maglev" => Ok(BalanceMode::Hash),
        other => Err(
            err(span_of(text), format!("unknown balancing mode `{other}`"))
                .expected("\"random\", \"round-robin\" or \"hash\""),
        ),
    }
}

/// The health check a `[[balance]]` asks for, if any.
pub(crate) fn check(b: &schema::Balance) -> Res<Option<HealthCheck>> {
    let kind = match (&b.check, &b.command) {
        (None, None) => {
            for (set, key) in [
                (b.interval.is_some(), "interval"),
                (b.timeout.is_some(), "timeout"),
                (b.fall.is_some(), "fall"),
                (b.rise.is_some(), "rise"),
                (b.path.is_some(), "path"),
                (b.expect.is_some(), "expect"),
                (b.dns_name.is_some(), "dns_name"),
                (b.check_port.is_some(), "check_port"),
            ] {
                if set {
                    return Err(err(
                        span_of(&b.backends),
                        format!(
                            "`{key}` is a health-check setting, but this service has no `check`"
                        ),
                    )
                    .fix("add check = \"tcp\" (or \"http\", \"udp-dns\", \"command\")"));
                }
            }
            return Ok(None);
        }
        (Some(c), _) => kind(c, b)?,
        (None, Some(command)) => command_kind(command)?,
    };
    let interval = duration(b.interval.as_ref(), "interval")?.unwrap_or(DEFAULT_INTERVAL);
    if interval < MIN_INTERVAL {
        let span = b.interval.as_ref().map(span_of).unwrap_or_default();
        return Err(err(span, "interval is shorter than 0.1 s").expected("0.1 or more seconds"));
    }
    let timeout =
        duration(b.timeout.as_ref(), "timeout")?.unwrap_or_else(|| DEFAULT_TIMEOUT.min(interval));
    let fall = b.fall.as_ref().map(|f| count(f, "fall", 100)).transpose()?;
    let rise = b.rise.as_ref().map(|r| count(r, "rise", 100)).transpose()?;
    let port = b.check_port.as_ref().map(port).transpose()?;
    Ok(Some(HealthCheck {
        kind,
        interval,
        timeout,
        fall: fall.unwrap_or(DEFAULT_FALL_RISE),
        rise: rise.unwrap_or(DEFAULT_FALL_RISE),
        port,
    }))
}

/// How long a client sticks to its backend, from `affinity` and `affinity_timeout`.
pub(crate) fn affinity(b: &schema::Balance) -> Res<Option<Duration>> {
    let on = match &b.affinity {
        None => false,
        Some(a) => match a.get_ref().to_ascii_lowercase().as_str() {
            "source" | "client" | "source-ip" => true,
            "none" | "off" => false,
            other => {
                return Err(err(span_of(a), format!("unknown affinity `{other}`"))
                    .expected("\"source\" (a client keeps its backend) or \"none\""))
            }
        },
    };
    let timeout = duration(b.affinity_timeout.as_ref(), "affinity_timeout")?;
    match (on, timeout) {
        (false, Some(_)) => Err(err(
            b.affinity_timeout.as_ref().map(span_of).unwrap_or_default(),
            "affinity_timeout without affinity = \"source\"",
        )
        .fix("add affinity = \"source\"")),
        (false, None) => Ok(None),
        (true, t) => Ok(Some(t.unwrap_or(DEFAULT_AFFINITY))),
    }
}

fn duration(value: Option<&Any>, what: &str) -> Res<Option<Duration>> {
    value
        .map(|v| time(v, what, false))
        .transpose()
        .map(Option::flatten)
}

fn port(value: &Any) -> Res<u16> {
    match value.get_ref() {
        Value::Integer(n) if (1..=65535).contains(n) => Ok(*n as u16),
        _ => Err(err(span_of(value), "not a port").expected("a number from 1 to 65535")),
    }
}

fn kind(text: &Text, b: &schema::Balance) -> Res<CheckKind> {
    let word = text.get_ref().to_ascii_lowercase();
    let only = |set: bool, key: &str, kind: &str| -> Res<()> {
        if set {
            Err(err(
                span_of(text),
                format!("`{key}` does not go with check = \"{word}\""),
            )
            .fix(format!("remove `{key}`, or use check = \"{kind}\"")))
        } else {
            Ok(())
        }
    };
    if word != "http" {
        only(b.path.is_some(), "path", "http")?;
        only(b.expect.is_some(), "expect", "http")?;
    }
    if word != "udp-dns" {
        only(b.dns_name.is_some(), "dns_name", "udp-dns")?;
    }
    if word != "command" {
        only(b.command.is_some(), "command", "command")?;
    }
    match word.as_str() {
        "tcp" | "connect" => Ok(CheckKind::Tcp),
        "http" => {
            let path = b
                .path
                .as_ref()
                .map_or("/".to_string(), |p| p.get_ref().clone());
            if !path.starts_with('/') || path.chars().any(|c| c.is_whitespace() || c.is_control()) {
                let span = b.path.as_ref().map(span_of).unwrap_or_default();
                return Err(err(span, format!("`{path}` is not a request path"))
                    .expected("a path such as \"/health\""));
            }
            let (first, last) = b
                .expect
                .as_ref()
                .map(statuses)
                .transpose()?
                .unwrap_or((200, 399));
            Ok(CheckKind::Http { path, first, last })
        }
        "udp-dns" | "dns" => {
            let name = b
                .dns_name
                .as_ref()
                .map_or(".".to_string(), |n| n.get_ref().clone());
            if name.split('.').any(|l| l.len() > 63) || name.len() > 253 {
                let span = b.dns_name.as_ref().map(span_of).unwrap_or_default();
                return Err(err(span, format!("`{name}` is not a DNS name")));
            }
            Ok(CheckKind::UdpDns { name })
        }
        "command" => match &b.command {
            Some(c) => command_kind(c),
            None => Err(err(
                span_of(text),
                "check = \"command\" needs the command to run",
            )
            .fix("add command = \"/usr/local/bin/check-backend\"")),
        },
        other => Err(err(span_of(text), format!("unknown check `{other}`"))
            .expected("\"tcp\", \"http\", \"udp-dns\" or \"command\"")),
    }
}

fn command_kind(text: &Text) -> Res<CheckKind> {
    let command = text.get_ref().trim().to_string();
    if command.is_empty() {
        return Err(err(span_of(text), "the check command is empty"));
    }
    Ok(CheckKind::Command { command })
}

/// `expect = 200`, `"200"` or `"200-299"`.
fn statuses(value: &Any) -> Res<(u16, u16)> {
    let bad = || {
        err(span_of(value), "not an HTTP status or range")
            .expected("a status (200) or a range (\"200-399\")")
    };
    let (first, last) = match value.get_ref() {
        Value::Integer(n) => (*n, *n),
        Value::String(s) => {
            let (a, b) = s.split_once('-').unwrap_or((s, s));
            let a: i64 = a.trim().parse().map_err(|_| bad())?;
            let b: i64 = b.trim().parse().map_err(|_| bad())?;
            (a, b)
        }
        _ => return Err(bad()),
    };
    if !(100..=599).contains(&first) || !(100..=599).contains(&last) || first > last {
        return Err(bad());
    }
    Ok((first as u16, last as u16))
}
