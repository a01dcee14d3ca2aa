//! One journal entry as `journalctl -o json` prints it, turned into the line fail2ban's systemd
//! backend would match: `HOSTNAME IDENTIFIER[PID]: MESSAGE`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Deserialize;
use serde_json::Value;

/// An entry, as a line.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Entry {
    /// The line to match.
    pub text: String,
    /// When it was logged (`__REALTIME_TIMESTAMP`).
    pub time: Option<SystemTime>,
    /// Its cursor.
    pub cursor: Option<String>,
}

/// The fields used. A field's JSON value is a string, an array of bytes (not valid UTF-8), an
/// array of either (the field occurs several times), or null (too long, without `--all`).
#[derive(Deserialize)]
struct Fields {
    #[serde(rename = "MESSAGE")]
    message: Option<Value>,
    #[serde(rename = "_HOSTNAME")]
    hostname: Option<Value>,
    #[serde(rename = "SYSLOG_IDENTIFIER")]
    identifier: Option<Value>,
    #[serde(rename = "_COMM")]
    comm: Option<Value>,
    #[serde(rename = "SYSLOG_PID")]
    syslog_pid: Option<Value>,
    #[serde(rename = "_PID")]
    pid: Option<Value>,
    #[serde(rename = "_SOURCE_MONOTONIC_TIMESTAMP")]
    source_monotonic: Option<Value>,
    #[serde(rename = "__MONOTONIC_TIMESTAMP")]
    monotonic: Option<Value>,
    #[serde(rename = "__REALTIME_TIMESTAMP")]
    realtime: Option<Value>,
    #[serde(rename = "__CURSOR")]
    cursor: Option<String>,
}

/// Parses one line of `journalctl -o json`.
pub(crate) fn parse(json: &[u8]) -> Result<Entry, serde_json::Error> {
    let f: Fields = serde_json::from_slice(json)?;
    let mut parts = Vec::new();
    if let Some(host) = first(&f.hostname).filter(|h| !h.is_empty()) {
        parts.push(host);
    }
    if let Some(ident) = first(&f.identifier)
        .filter(|i| !i.is_empty())
        .or_else(|| first(&f.comm).filter(|c| !c.is_empty()))
    {
        let pid = first(&f.syslog_pid)
            .filter(|p| !p.is_empty())
            .or_else(|| first(&f.pid).filter(|p| !p.is_empty()));
        let kernel = ident == "kernel";
        parts.push(match pid {
            Some(pid) => format!("{ident}[{pid}]:"),
            None => format!("{ident}:"),
        });
        let since_boot = micros(&f.source_monotonic).or_else(|| micros(&f.monotonic));
        if let (true, Some(us)) = (kernel, since_boot) {
            parts.push(format!("[{:12.6}]", us as f64 / 1e6));
        }
    }
    parts.push(values(&f.message).join(" "));
    Ok(Entry {
        text: parts.join(" "),
        time: micros(&f.realtime).map(|us| UNIX_EPOCH + Duration::from_micros(us)),
        cursor: f.cursor,
    })
}

/// A field's values as text.
fn values(field: &Option<Value>) -> Vec<String> {
    match field {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(items)) if items.iter().all(Value::is_number) => vec![bytes(items)],
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|item| match item {
                Value::String(s) => Some(s.clone()),
                Value::Array(b) => Some(bytes(b)),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// A field's first value.
fn first(field: &Option<Value>) -> Option<String> {
    values(field).into_iter().next()
}

/// A number of microseconds, as journalctl prints it (a string).
fn micros(field: &Option<Value>) -> Option<u64> {
    first(field)?.parse().ok()
}

/// A byte array as lossy UTF-8.
fn bytes(items: &[Value]) -> String {
    let raw: Vec<u8> = items
        .iter()
        .filter_map(|b| b.as_u64().and_then(|b| u8::try_from(b).ok()))
        .collect();
    String::from_utf8_lossy(&raw).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_as_fail2ban_does() {
        let e = parse(br#"{"__CURSOR":"s=1;i=2","__REALTIME_TIMESTAMP":"1700000000123456","_HOSTNAME":"box","SYSLOG_IDENTIFIER":"sshd","_PID":"42","_COMM":"sshd","MESSAGE":"Failed password for root from 1.2.3.4 port 22 ssh2"}"#).unwrap();
        assert_eq!(
            e.text,
            "box sshd[42]: Failed password for root from 1.2.3.4 port 22 ssh2"
        );
        assert_eq!(
            e.time,
            Some(UNIX_EPOCH + Duration::from_micros(1_700_000_000_123_456))
        );
        assert_eq!(e.cursor.as_deref(), Some("s=1;i=2"));

        // SYSLOG_PID before _PID, _COMM when there is no identifier, no host.
        let e = parse(br#"{"_COMM":"dovecot","SYSLOG_PID":"7","_PID":"8","MESSAGE":"x"}"#).unwrap();
        assert_eq!(e.text, "dovecot[7]: x");
        let e = parse(br#"{"MESSAGE":"bare"}"#).unwrap();
        assert_eq!((e.text.as_str(), e.time, e.cursor), ("bare", None, None));
    }

    #[test]
    fn decodes_binary_and_repeated_messages() {
        // "caf\xe9 \xff" is not UTF-8: journalctl prints bytes.
        let e = parse(br#"{"SYSLOG_IDENTIFIER":"app","MESSAGE":[99,97,102,233,32,255]}"#).unwrap();
        assert_eq!(e.text, "app: caf\u{fffd} \u{fffd}");
        let e = parse(br#"{"MESSAGE":["one",[116,119,111]]}"#).unwrap();
        assert_eq!(e.text, "one two");
        let e = parse(br#"{"SYSLOG_IDENTIFIER":"x","MESSAGE":null}"#).unwrap();
        assert_eq!(e.text, "x: ");
        assert!(parse(b"not json").is_err());
    }

    #[test]
    fn kernel_lines_carry_time_since_boot() {
        let e = parse(br#"{"_HOSTNAME":"h","SYSLOG_IDENTIFIER":"kernel","__MONOTONIC_TIMESTAMP":"12345678","MESSAGE":"IN=eth0"}"#).unwrap();
        assert_eq!(e.text, "h kernel: [   12.345678] IN=eth0");
    }
}
