//! The rule that asks the kernel to trace the packets a user picks:
//! table `inet moat_trace` with one chain before conntrack on prerouting
//! and one on output, each with `<matches> meta nftrace set 1`.

use std::net::IpAddr;

use crate::path::TRACE_TABLE;

/// Which packets to trace (every field optional; none at all traces everything).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pick {
    /// Source address or network (`10.0.0.0/8`).
    pub src: Option<String>,
    /// Destination address or network.
    pub dst: Option<String>,
    /// `tcp`, `udp`, `icmp`, `icmpv6`, ...
    pub proto: Option<String>,
    /// Source port.
    pub sport: Option<u16>,
    /// Destination port.
    pub dport: Option<u16>,
    /// Interface the packet comes in on (prerouting) or goes out of (output).
    pub iface: Option<String>,
}

/// Why a pick cannot be traced.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PickError {
    /// An address or network does not read as one.
    #[error("{0:?} is not an address or network")]
    Address(String),
    /// A port was given without a protocol that has ports.
    #[error("--sport and --dport need --proto tcp, udp, sctp or dccp")]
    PortsWithoutProto,
    /// A name has characters nft would read otherwise.
    #[error("{0:?} is not a protocol or interface name")]
    Name(String),
}

fn address_match(side: &str, text: &str) -> Result<String, PickError> {
    let addr = text.split('/').next().unwrap_or(text);
    let ip: IpAddr = addr
        .parse()
        .map_err(|_| PickError::Address(text.to_string()))?;
    if let Some(len) = text.split('/').nth(1) {
        let max = if ip.is_ipv4() { 32 } else { 128 };
        if !len.parse::<u8>().is_ok_and(|l| l <= max) {
            return Err(PickError::Address(text.to_string()));
        }
    }
    let fam = if ip.is_ipv4() { "ip" } else { "ip6" };
    Ok(format!("{fam} {side} {text}"))
}

fn plain(name: &str) -> Result<&str, PickError> {
    let ok = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'+'));
    ok.then_some(name)
        .ok_or_else(|| PickError::Name(name.to_string()))
}

impl Pick {
    /// The matches of the marking rule; `iface_word` is `iifname` or `oifname`.
    fn matches(&self, iface_word: &str) -> Result<String, PickError> {
        let mut words = Vec::new();
        if let Some(i) = &self.iface {
            let name = plain(i)?;
            let name = name
                .strip_suffix('+')
                .map_or(name.to_string(), |p| format!("{p}*"));
            words.push(format!("{iface_word} \"{name}\""));
        }
        if let Some(s) = &self.src {
            words.push(address_match("saddr", s)?);
        }
        if let Some(d) = &self.dst {
            words.push(address_match("daddr", d)?);
        }
        let ports = self.sport.is_some() || self.dport.is_some();
        match &self.proto {
            Some(p) => words.push(format!("meta l4proto {}", plain(p)?)),
            None if ports => return Err(PickError::PortsWithoutProto),
            None => {}
        }
        if ports && !matches!(self.proto.as_deref(), Some("tcp" | "udp" | "sctp" | "dccp")) {
            return Err(PickError::PortsWithoutProto);
        }
        if let Some(p) = self.sport {
            words.push(format!("th sport {p}"));
        }
        if let Some(p) = self.dport {
            words.push(format!("th dport {p}"));
        }
        Ok(words.join(" "))
    }

    /// The nft script that adds the marking table.
    pub fn script(&self) -> Result<String, PickError> {
        let pre = self.matches("iifname")?;
        let out = self.matches("oifname")?;
        Ok(format!(
            "table inet {TRACE_TABLE} {{}}\ndelete table inet {TRACE_TABLE}\n\
             table inet {TRACE_TABLE} {{\n  comment \"moat trace: marks the packets it follows; removed when it ends\"\n  \
             chain pre {{ type filter hook prerouting priority -350; policy accept; {pre} meta nftrace set 1; }}\n  \
             chain out {{ type filter hook output priority -350; policy accept; {out} meta nftrace set 1; }}\n}}\n"
        ))
    }
}

/// The nft script that removes the marking table.
pub fn removal() -> String {
    format!("table inet {TRACE_TABLE} {{}}\ndelete table inet {TRACE_TABLE}\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_become_matches_or_clear_errors() {
        let p = Pick {
            dst: Some("10.99.1.1".into()),
            proto: Some("tcp".into()),
            dport: Some(80),
            iface: Some("eth+".into()),
            ..Pick::default()
        };
        assert_eq!(
            p.matches("iifname").unwrap(),
            "iifname \"eth*\" ip daddr 10.99.1.1 meta l4proto tcp th dport 80"
        );
        let bad = Pick {
            dport: Some(80),
            ..Pick::default()
        };
        assert_eq!(bad.script(), Err(PickError::PortsWithoutProto));
        let bad = Pick {
            src: Some("10.0.0.0/40".into()),
            ..Pick::default()
        };
        assert!(matches!(bad.script(), Err(PickError::Address(_))));
        let bad = Pick {
            iface: Some("eth0\" accept".into()),
            ..Pick::default()
        };
        assert!(matches!(bad.script(), Err(PickError::Name(_))));
        assert!(Pick::default()
            .script()
            .unwrap()
            .contains("meta nftrace set 1"));
    }
}
