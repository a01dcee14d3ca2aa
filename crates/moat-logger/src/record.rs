//! One line of moat's packet log: what a logged packet was, which rule
//! logged it, and its two spellings — a JSON object, or the kernel log's
//! `IN=... OUT=... SRC=...` layout.

use std::fmt::Write;

use serde::{Deserialize, Serialize};

use crate::decode::{protocol_name, Headers};
use crate::nflog::NflogPacket;

/// The rule that logged a packet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleRef {
    /// `ipv4` or `ipv6`.
    pub family: String,
    /// filter, nat, mangle or raw.
    pub table: String,
    /// The chain.
    pub chain: String,
    /// The rule's number in its chain (1 is the first).
    pub number: usize,
    /// The rule as iptables prints it.
    pub text: String,
    /// The rule's short id (the one metrics label it with).
    pub id: String,
}

/// One line of the packet log; a line the rate limit writes says how many
/// packets it left out (`dropped`) and nothing else.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogLine {
    /// When the packet came (RFC 3339, UTC, microseconds).
    pub time: String,
    /// The rule's log prefix.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    /// The log group the packet came through.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<u16>,
    /// The rule that logged it, when moat knows it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<RuleRef>,
    /// The hook: PREROUTING, INPUT, FORWARD, OUTPUT or POSTROUTING.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hook: Option<String>,
    /// The interface it came in on.
    #[serde(default, rename = "in", skip_serializing_if = "Option::is_none")]
    pub in_iface: Option<String>,
    /// The interface it leaves through.
    #[serde(default, rename = "out", skip_serializing_if = "Option::is_none")]
    pub out_iface: Option<String>,
    /// The sender's link-layer address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac: Option<String>,
    /// The link-layer header as the kernel log prints it (destination, source, type).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hw_header: Option<String>,
    /// Source address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub src: Option<String>,
    /// Destination address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dst: Option<String>,
    /// Protocol name (`tcp`, `udp`, `icmp`, ... or the number).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proto: Option<String>,
    /// Source port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sport: Option<u16>,
    /// Destination port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dport: Option<u16>,
    /// TCP flags set.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tcp_flags: Vec<String>,
    /// TCP window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<u16>,
    /// ICMP type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icmp_type: Option<u8>,
    /// ICMP code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icmp_code: Option<u8>,
    /// IP length, headers included.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub len: Option<u32>,
    /// TTL or hop limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<u8>,
    /// Type of service or traffic class.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tos: Option<u8>,
    /// IPv4 identification.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<u16>,
    /// IPv4 don't-fragment bit.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub df: bool,
    /// Packet mark, when not 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mark: Option<u32>,
    /// Connection state: new, established, related or untracked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// The local socket's user, when the packet has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<u32>,
    /// The local socket's group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gid: Option<u32>,
    /// For the rate limit's own line: packets not written since its last one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dropped: Option<u64>,
}

/// The name of netfilter hook number `hook`.
fn hook_name(hook: u8) -> Option<&'static str> {
    Some(match hook {
        0 => "PREROUTING",
        1 => "INPUT",
        2 => "FORWARD",
        3 => "OUTPUT",
        4 => "POSTROUTING",
        _ => return None,
    })
}

/// The state word of `enum ip_conntrack_info`.
fn state_name(info: u32) -> Option<&'static str> {
    Some(match info {
        0 | 3 => "established",
        1 | 4 => "related",
        2 => "new",
        7 => "untracked",
        _ => return None,
    })
}

/// Bytes as colon-separated hex (`52:54:00:12:34:56`).
pub fn hex_colons(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 3);
    for (i, b) in bytes.iter().enumerate() {
        if i > 0 {
            out.push(':');
        }
        let _ = write!(out, "{b:02x}");
    }
    out
}

/// UTC time as RFC 3339 with microseconds.
pub fn rfc3339(seconds: u64, micros: u32) -> String {
    let secs = i64::try_from(seconds).unwrap_or(i64::MAX);
    chrono::DateTime::from_timestamp(secs, micros.saturating_mul(1000))
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M:%S%.6fZ")
        .to_string()
}

/// What the record of one packet is built from besides the packet.
pub struct Context<'a> {
    /// The time to write when the kernel gave none.
    pub now: (u64, u32),
    /// The prefix to show (the rule's own, without moat's tag).
    pub prefix: Option<&'a str>,
    /// The rule that logged it.
    pub rule: Option<RuleRef>,
    /// The names of the packet's interfaces (in, out).
    pub ifaces: (Option<String>, Option<String>),
}

impl LogLine {
    /// The line for one packet the kernel logged.
    pub fn from_packet(p: &NflogPacket<'_>, cx: Context<'_>) -> LogLine {
        let h = p.payload.map(Headers::parse).unwrap_or_default();
        let (secs, micros) = p.timestamp.unwrap_or(cx.now);
        LogLine {
            time: rfc3339(secs, micros),
            prefix: cx.prefix.map(str::to_string),
            group: Some(p.group),
            rule: cx.rule,
            hook: p.hook.and_then(hook_name).map(str::to_string),
            in_iface: cx.ifaces.0,
            out_iface: cx.ifaces.1,
            mac: p.hw_addr.map(hex_colons),
            hw_header: p.hw_header.map(hex_colons),
            src: h.src.map(|a| a.to_string()),
            dst: h.dst.map(|a| a.to_string()),
            proto: h.proto.map(|n| protocol_name(n).to_lowercase()),
            sport: h.sport,
            dport: h.dport,
            tcp_flags: h.tcp_flags.iter().map(|f| f.to_string()).collect(),
            window: h.window,
            icmp_type: h.icmp_type,
            icmp_code: h.icmp_code,
            len: h.len,
            ttl: h.ttl,
            tos: h.tos,
            id: h.id,
            df: h.df,
            mark: p.mark.filter(|&m| m != 0),
            state: p.ct_info.and_then(state_name).map(str::to_string),
            uid: p.uid,
            gid: p.gid,
            dropped: None,
        }
    }

    /// The rate limit's line: `dropped` packets were not written.
    pub fn dropped(now: (u64, u32), dropped: u64) -> LogLine {
        LogLine {
            time: rfc3339(now.0, now.1),
            dropped: Some(dropped),
            ..LogLine::default()
        }
    }

    /// The line as one JSON object (no newline).
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// The line in the kernel log's layout, after the time:
    /// `PREFIX IN=eth0 OUT= MAC=... SRC=... DST=... LEN=60 TOS=0x00 PREC=0x00 TTL=64 ID=1 DF PROTO=TCP SPT=... DPT=... WINDOW=... SYN`.
    pub fn to_text(&self) -> String {
        let mut s = String::with_capacity(200);
        s.push_str(&self.time);
        s.push(' ');
        if let Some(n) = self.dropped {
            let _ = write!(s, "moat: {n} packet log lines dropped by the rate limit");
            return s;
        }
        s.push_str(self.prefix.as_deref().unwrap_or(""));
        let none = String::new();
        let _ = write!(
            s,
            "IN={} OUT={}",
            self.in_iface.as_ref().unwrap_or(&none),
            self.out_iface.as_ref().unwrap_or(&none)
        );
        if let Some(mac) = &self.hw_header {
            let _ = write!(s, " MAC={mac}");
        }
        if let (Some(src), Some(dst)) = (&self.src, &self.dst) {
            let _ = write!(s, " SRC={src} DST={dst}");
        }
        if let Some(len) = self.len {
            let _ = write!(s, " LEN={len}");
        }
        if let Some(tos) = self.tos {
            let _ = write!(s, " TOS=0x{:02X} PREC=0x{:02X}", tos & 0x1e, tos & 0xe0);
        }
        if let Some(ttl) = self.ttl {
            let _ = write!(s, " TTL={ttl}");
        }
        if let Some(id) = self.id {
            let _ = write!(s, " ID={id}");
        }
        if self.df {
            s.push_str(" DF");
        }
        if let Some(proto) = &self.proto {
            let upper = match proto.as_str() {
                "icmpv6" => "ICMPv6".to_string(),
                p => p.to_uppercase(),
            };
            let _ = write!(s, " PROTO={upper}");
        }
        if let (Some(sport), Some(dport)) = (self.sport, self.dport) {
            let _ = write!(s, " SPT={sport} DPT={dport}");
        }
        if let Some(w) = self.window {
            let _ = write!(s, " WINDOW={w}");
        }
        for f in &self.tcp_flags {
            let _ = write!(s, " {f}");
        }
        if let (Some(t), Some(c)) = (self.icmp_type, self.icmp_code) {
            let _ = write!(s, " TYPE={t} CODE={c}");
        }
        if let Some(uid) = self.uid {
            let _ = write!(s, " UID={uid} GID={}", self.gid.unwrap_or(0));
        }
        if let Some(mark) = self.mark {
            let _ = write!(s, " MARK=0x{mark:x}");
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn syn() -> Vec<u8> {
        let b = etherparse::PacketBuilder::ipv4([10, 0, 0, 2], [10, 0, 0, 1], 64)
            .tcp(40000, 22, 1, 64240)
            .syn();
        let mut bytes = Vec::new();
        b.write(&mut bytes, &[]).unwrap();
        bytes
    }

    fn line() -> LogLine {
        let payload = syn();
        let p = NflogPacket {
            group: 64,
            hook: Some(1),
            timestamp: Some((1_796_300_000, 42)),
            payload: Some(&payload),
            ct_info: Some(2),
            mark: Some(0),
            ..NflogPacket::default()
        };
        LogLine::from_packet(
            &p,
            Context {
                now: (0, 0),
                prefix: Some("New incomming: "),
                rule: None,
                ifaces: (Some("eth0".into()), None),
            },
        )
    }

    #[test]
    fn json_has_the_packet_and_round_trips() {
        let l = line();
        let json = l.to_json();
        assert!(json.starts_with(r#"{"time":"2026-12-03T"#), "{json}");
        assert!(json.contains(r#""prefix":"New incomming: ""#), "{json}");
        assert!(
            json.contains(
                r#""src":"10.0.0.2","dst":"10.0.0.1","proto":"tcp","sport":40000,"dport":22"#
            ),
            "{json}"
        );
        assert!(json.contains(r#""state":"new""#), "{json}");
        assert!(!json.contains("mark"), "a zero mark is left out: {json}");
        let back: LogLine = serde_json::from_str(&json).unwrap();
        assert_eq!(back, l);
    }

    #[test]
    fn text_follows_the_kernel_log() {
        let text = line().to_text();
        assert!(
            text.ends_with("New incomming: IN=eth0 OUT= SRC=10.0.0.2 DST=10.0.0.1 LEN=40 TOS=0x00 PREC=0x00 TTL=64 ID=0 DF PROTO=TCP SPT=40000 DPT=22 WINDOW=64240 SYN"),
            "{text}"
        );
        let dropped = LogLine::dropped((1_796_300_000, 0), 17).to_text();
        assert!(dropped.ends_with("moat: 17 packet log lines dropped by the rate limit"));
    }
}
