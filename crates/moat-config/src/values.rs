//! Reading the small values of a configuration: ports, protocols, addresses, rates.

use std::net::IpAddr;
use std::ops::Range;
use std::path::PathBuf;

use ipnet::IpNet;
use moat_model::PortRange;
use toml::Value;

use crate::error::{closest, Diagnostic};
use crate::model::{Proto, Verdict};
use crate::schema::{Any, Text};
use crate::services::{lookup, ServiceDb};

/// A result whose error is a located problem.
pub(crate) type Res<T> = Result<T, Diagnostic>;

pub(crate) fn span_of<T>(s: &toml::Spanned<T>) -> Range<usize> {
    s.span()
}

pub(crate) fn err(span: Range<usize>, message: impl Into<String>) -> Diagnostic {
    Diagnostic::new(Some(span), message)
}

/// `accept`, `drop` or `reject`.
pub(crate) fn verdict(text: &Text) -> Res<Verdict> {
    match text.get_ref().to_ascii_lowercase().as_str() {
        "accept" | "allow" => Ok(Verdict::Accept),
        "drop" | "deny" => Ok(Verdict::Drop),
        "reject" => Ok(Verdict::Reject),
        other => {
            let mut d = err(span_of(text), format!("unknown policy `{other}`"))
                .expected("\"accept\", \"drop\" or \"reject\"");
            if let Some(c) = closest(other, ["accept", "drop", "reject"]) {
                d = d.fix(format!("write \"{c}\""));
            }
            Err(d)
        }
    }
}

/// `tcp`, `udp` or `both`; `None` when absent.
pub(crate) fn protos(text: Option<&Text>) -> Res<Option<Vec<Proto>>> {
    let Some(text) = text else { return Ok(None) };
    match text.get_ref().to_ascii_lowercase().as_str() {
        "tcp" => Ok(Some(vec![Proto::Tcp])),
        "udp" => Ok(Some(vec![Proto::Udp])),
        "both" | "tcp+udp" | "tcp/udp" | "udp+tcp" => Ok(Some(vec![Proto::Tcp, Proto::Udp])),
        other => {
            let mut d = err(span_of(text), format!("unknown protocol `{other}`"))
                .expected("\"tcp\", \"udp\" or \"both\"");
            if let Some(c) = closest(other, ["tcp", "udp", "both"]) {
                d = d.fix(format!("write proto = \"{c}\""));
            }
            Err(d)
        }
    }
}

fn port_number(n: i64, span: Range<usize>) -> Res<u16> {
    if (1..=65535).contains(&n) {
        Ok(n as u16)
    } else {
        Err(err(span, format!("port {n} is out of range")).expected("a port from 1 to 65535"))
    }
}

/// Ports and the protocols a service name implies (from /etc/services).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct PortSpec {
    pub ranges: Vec<PortRange>,
    pub implied: Vec<Proto>,
}

fn one_port_text(text: &str, span: Range<usize>, db: &ServiceDb, out: &mut PortSpec) -> Res<()> {
    let t = text.trim();
    let sep = t.find(['-', ':']);
    if let Some(i) = sep.filter(|&i| i > 0 && t[..i].chars().all(|c| c.is_ascii_digit())) {
        let (a, b) = (&t[..i], &t[i + 1..]);
        let first = a
            .parse::<i64>()
            .map_err(|_| bad_port(t, span.clone(), db))?;
        let last = b
            .parse::<i64>()
            .map_err(|_| bad_port(t, span.clone(), db))?;
        let (first, last) = (
            port_number(first, span.clone())?,
            port_number(last, span.clone())?,
        );
        if first > last {
            return Err(err(span, format!("port range `{t}` runs backwards"))
                .fix(format!("write \"{last}-{first}\"")));
        }
        out.ranges.push(PortRange { first, last });
        return Ok(());
    }
    if let Ok(n) = t.parse::<i64>() {
        let p = port_number(n, span)?;
        out.ranges.push(PortRange { first: p, last: p });
        return Ok(());
    }
    match lookup(db, t) {
        Some((port, protos)) => {
            out.ranges.push(PortRange {
                first: port,
                last: port,
            });
            for p in protos {
                if !out.implied.contains(&p) {
                    out.implied.push(p);
                }
            }
            Ok(())
        }
        None => Err(bad_port(t, span, db)),
    }
}

fn bad_port(t: &str, span: Range<usize>, db: &ServiceDb) -> Diagnostic {
    let d = err(
        span,
        format!("`{t}` is not a port, a port range or a service name known in /etc/services"),
    )
    .expected("a number such as 22, a range such as \"8000-8100\", or a name such as \"ssh\"");
    match closest(t, db.names()) {
        Some(c) => d.fix(format!("did you mean \"{c}\"? write \"{c}\"")),
        None => d,
    }
}

/// A port value: 22, "22", "8000-8100", "ssh", or a list of these.
pub(crate) fn ports(value: &Any, db: &ServiceDb) -> Res<PortSpec> {
    let mut out = PortSpec::default();
    let span = span_of(value);
    let mut add = |v: &Value| -> Res<()> {
        match v {
            Value::Integer(n) => {
                let p = port_number(*n, span.clone())?;
                out.ranges.push(PortRange { first: p, last: p });
                Ok(())
            }
            Value::String(s) => one_port_text(s, span.clone(), db, &mut out),
            other => Err(err(
                span.clone(),
                format!("a port cannot be a {}", other.type_str()),
            )
            .expected("a number, a string such as \"8000-8100\" or \"ssh\", or a list of these")),
        }
    };
    match value.get_ref() {
        Value::Array(items) => {
            if items.is_empty() {
                return Err(
                    err(span.clone(), "the port list is empty").expected("at least one port")
                );
            }
            for item in items {
                add(item)?;
            }
        }
        other => add(other)?,
    }
    Ok(out)
}

/// A single port (no ranges, no lists) from a port value.
pub(crate) fn single_port(value: &Any, db: &ServiceDb) -> Res<u16> {
    let spec = ports(value, db)?;
    match spec.ranges.as_slice() {
        [r] if r.first == r.last => Ok(r.first),
        _ => {
            Err(err(span_of(value), "expected a single port here").expected("one port, such as 80"))
        }
    }
}

/// One name or a list of names: `"lan"` or `["lan", "dmz"]`.
pub(crate) fn names(value: &Any) -> Res<Vec<String>> {
    let span = span_of(value);
    let one = |v: &Value| -> Res<String> {
        match v {
            Value::String(s) => Ok(s.clone()),
            other => Err(err(
                span.clone(),
                format!("expected a zone name, found a {}", other.type_str()),
            )
            .expected("a string such as \"lan\" or a list such as [\"lan\", \"dmz\"]")),
        }
    };
    match value.get_ref() {
        Value::Array(items) => items.iter().map(one).collect(),
        other => Ok(vec![one(other)?]),
    }
}

/// An address.
pub(crate) fn address(text: &Text) -> Res<IpAddr> {
    text.get_ref().trim().parse::<IpAddr>().map_err(|_| {
        err(
            span_of(text),
            format!("`{}` is not an IP address", text.get_ref()),
        )
        .expected("an IPv4 address such as 192.168.1.100 or an IPv6 address such as fd00::5")
    })
}

/// A network (a bare address is a /32 or /128).
pub(crate) fn network(text: &Text) -> Res<IpNet> {
    let t = text.get_ref().trim();
    if let Ok(net) = t.parse::<IpNet>() {
        return Ok(net.trunc());
    }
    if let Ok(addr) = t.parse::<IpAddr>() {
        return Ok(IpNet::from(addr));
    }
    Err(err(span_of(text), format!("`{t}` is not a network"))
        .expected("a network such as 192.168.1.0/24 or fd00::/64, or one address"))
}

/// An absolute path; `expected` says what kind.
pub(crate) fn absolute(text: &Text, expected: impl Into<String>) -> Res<PathBuf> {
    let path = PathBuf::from(text.get_ref().trim());
    if path.is_absolute() {
        Ok(path)
    } else {
        Err(err(
            span_of(text),
            format!("`{}` is a relative path", text.get_ref()),
        )
        .expected(expected))
    }
}

/// `host`, `host:port`, `[v6]:port`, or `:port` (this host).
pub(crate) fn endpoint(text: &Text) -> Res<(Option<IpAddr>, Option<u16>)> {
    let t = text.get_ref().trim();
    let bad = || {
        err(span_of(text), format!("`{t}` is not an address with an optional port"))
            .expected("\"192.168.1.100\", \"192.168.1.100:8080\", \"[fd00::5]:8080\" or \":8080\" (this host)")
    };
    let port_of = |p: &str| -> Res<u16> {
        let n: i64 = p.parse().map_err(|_| bad())?;
        port_number(n, span_of(text))
    };
    if let Some(rest) = t.strip_prefix('[') {
        let (addr, after) = rest.split_once(']').ok_or_else(bad)?;
        let addr: IpAddr = addr.parse().map_err(|_| bad())?;
        let port = match after.strip_prefix(':') {
            Some(p) => Some(port_of(p)?),
            None if after.is_empty() => None,
            None => return Err(bad()),
        };
        return Ok((Some(addr), port));
    }
    if let Ok(addr) = t.parse::<IpAddr>() {
        return Ok((Some(addr), None));
    }
    let (addr, port) = t.rsplit_once(':').ok_or_else(bad)?;
    let port = port_of(port)?;
    if addr.is_empty() {
        return Ok((None, Some(port)));
    }
    let addr: IpAddr = addr.parse().map_err(|_| bad())?;
    Ok((Some(addr), Some(port)))
}

/// A rate such as `20/minute`, returned in the spelling iptables takes.
pub(crate) fn rate(text: &Text) -> Res<String> {
    let t = text.get_ref().trim();
    let bad = || {
        err(span_of(text), format!("`{t}` is not a rate"))
            .expected("a count per second, minute, hour or day, such as \"20/minute\"")
    };
    let (count, unit) = t.split_once('/').ok_or_else(bad)?;
    let count: u32 = count.trim().parse().map_err(|_| bad())?;
    if count == 0 {
        return Err(bad().fix("a rate must allow at least one per unit"));
    }
    let unit = match unit.trim().to_ascii_lowercase().as_str() {
        "s" | "sec" | "second" | "seconds" => "second",
        "m" | "min" | "minute" | "minutes" => "minute",
        "h" | "hour" | "hours" => "hour",
        "d" | "day" | "days" => "day",
        _ => return Err(bad()),
    };
    Ok(format!("{count}/{unit}"))
}

/// A positive count within `max`.
pub(crate) fn count(value: &toml::Spanned<i64>, what: &str, max: i64) -> Res<u32> {
    let n = *value.get_ref();
    if (1..=max).contains(&n) {
        Ok(n as u32)
    } else {
        Err(err(span_of(value), format!("{what} {n} is out of range"))
            .expected(format!("a number from 1 to {max}")))
    }
}

/// An interface name (a trailing `+` is a wildcard).
pub(crate) fn interface(text: &Text) -> Res<String> {
    let t = text.get_ref();
    let ok = !t.is_empty()
        && t.len() <= 15
        && t.chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-+@:".contains(c))
        && !t[..t.len() - 1].contains('+');
    if ok {
        Ok(t.clone())
    } else {
        Err(err(span_of(text), format!("`{t}` is not an interface name"))
            .expected("a name of at most 15 letters, digits, `.`, `_` or `-` such as \"eth0\", optionally ending in `+` (every name starting so)"))
    }
}

/// A name for listings and comments: printable, without quotes.
pub(crate) fn label(text: &Text) -> Res<String> {
    let t = text.get_ref();
    if t.is_empty() || t.len() > 64 || t.chars().any(|c| c.is_control() || c == '"' || c == '\\') {
        return Err(
            err(span_of(text), format!("`{t}` cannot be used as a name"))
                .expected("1 to 64 printable characters without quotes or backslashes"),
        );
    }
    Ok(t.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(s: &str) -> Text {
        toml::Spanned::new(0..s.len(), s.to_string())
    }

    #[test]
    fn endpoints() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(
            endpoint(&text("10.0.0.1")).unwrap(),
            (Some(ip("10.0.0.1")), None)
        );
        assert_eq!(
            endpoint(&text("10.0.0.1:80")).unwrap(),
            (Some(ip("10.0.0.1")), Some(80))
        );
        assert_eq!(
            endpoint(&text("[fd00::5]:80")).unwrap(),
            (Some(ip("fd00::5")), Some(80))
        );
        assert_eq!(
            endpoint(&text("fd00::5")).unwrap(),
            (Some(ip("fd00::5")), None)
        );
        assert_eq!(endpoint(&text(":25")).unwrap(), (None, Some(25)));
        assert!(endpoint(&text("10.0.0.1:99999")).is_err());
        assert!(endpoint(&text("nonsense")).is_err());
    }

    #[test]
    fn rates_and_verdicts() {
        assert_eq!(rate(&text("20/min")).unwrap(), "20/minute");
        assert_eq!(rate(&text("50/second")).unwrap(), "50/second");
        assert!(rate(&text("0/s")).is_err());
        assert!(rate(&text("fast")).is_err());
        assert_eq!(verdict(&text("DROP")).unwrap(), Verdict::Drop);
        let e = verdict(&text("rejekt")).unwrap_err();
        assert_eq!(e.fix.as_deref(), Some("write \"reject\""));
    }

    #[test]
    fn port_values() {
        let db = ServiceDb::builtin();
        let any = |v: Value| toml::Spanned::new(0..1, v);
        let p = ports(&any(Value::String("8000-8100".into())), &db).unwrap();
        assert_eq!(
            p.ranges,
            vec![PortRange {
                first: 8000,
                last: 8100
            }]
        );
        let p = ports(&any(Value::String("ssh".into())), &db).unwrap();
        assert_eq!(
            p.ranges,
            vec![PortRange {
                first: 22,
                last: 22
            }]
        );
        assert_eq!(p.implied, vec![Proto::Tcp]);
        assert!(ports(&any(Value::Integer(70000)), &db).is_err());
        assert!(ports(&any(Value::String("9-1".into())), &db).is_err());
        assert!(ports(&any(Value::Boolean(true)), &db).is_err());
        assert!(ports(&any(Value::Array(vec![])), &db).is_err());
    }

    #[test]
    fn interfaces() {
        assert!(interface(&text("eth0")).is_ok());
        assert!(interface(&text("veth+")).is_ok());
        assert!(interface(&text("e+th")).is_err());
        assert!(interface(&text("a very long interface")).is_err());
    }
}
