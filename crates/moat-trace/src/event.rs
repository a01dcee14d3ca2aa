//! One line of `nft -a monitor trace`: a packet entering a chain, a rule
//! that matched it (with its handle and verdict), or a chain's policy.

/// What a trace line says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// The packet as the chain sees it (`iif "eth0" ip saddr ... tcp dport 80 ...`).
    Packet(String),
    /// A rule matched: its handle, the verdict (`accept`, `continue`,
    /// `jump INPUT`, ...) and the rule's text as nft lists it.
    Rule {
        /// The rule's handle.
        handle: u32,
        /// The verdict word(s).
        verdict: String,
        /// The rule as nft lists it.
        text: String,
    },
    /// The packet reached the end of a base chain.
    Policy(String),
}

/// One trace event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// The kernel's id of the traced packet (in one hook's walk).
    pub id: String,
    /// `ip`, `ip6` or `inet`.
    pub family: String,
    /// The table's name.
    pub table: String,
    /// The chain's name.
    pub chain: String,
    /// What happened.
    pub step: Step,
}

impl Event {
    /// Reads one line; `None` for anything that is not a trace event.
    pub fn parse(line: &str) -> Option<Event> {
        let rest = line.trim_end().strip_prefix("trace id ")?;
        let mut words = rest.splitn(5, ' ');
        let id = words.next()?.to_string();
        let family = words.next()?.to_string();
        let table = words.next()?.to_string();
        let chain = words.next()?.to_string();
        let tail = words.next()?.trim();
        let step = if let Some(packet) = tail.strip_prefix("packet: ") {
            Step::Packet(packet.trim().to_string())
        } else if let Some(policy) = tail.strip_prefix("policy ") {
            Step::Policy(policy.trim().to_string())
        } else {
            let rule = tail.strip_prefix("rule ")?;
            let (text, after) = rule.rsplit_once(" # handle ")?;
            let (handle, verdict) = after.split_once(' ')?;
            let verdict = verdict
                .trim()
                .strip_prefix("(verdict ")?
                .strip_suffix(')')?
                .to_string();
            Step::Rule {
                handle: handle.parse().ok()?,
                verdict,
                text: text.to_string(),
            }
        };
        Some(Event {
            id,
            family,
            table,
            chain,
            step,
        })
    }
}

/// A packet line's words as (key, value) for the fields people read:
/// interfaces, addresses, protocol and ports.
pub fn packet_fields(packet: &str) -> Vec<(&'static str, String)> {
    const KEYS: [(&str, &str); 10] = [
        ("iif", "in"),
        ("oif", "out"),
        ("ip saddr", "src"),
        ("ip daddr", "dst"),
        ("ip6 saddr", "src"),
        ("ip6 daddr", "dst"),
        ("ip protocol", "proto"),
        ("ip6 nexthdr", "proto"),
        ("sport", "sport"),
        ("dport", "dport"),
    ];
    let words: Vec<&str> = packet.split_whitespace().collect();
    let mut out = Vec::new();
    for (key, name) in KEYS {
        let parts: Vec<&str> = key.split(' ').collect();
        let found = words
            .windows(parts.len() + 1)
            .find(|w| w[..parts.len()] == parts[..]);
        if let Some(w) = found {
            let value = w[parts.len()].trim_matches('"').to_string();
            if !out.iter().any(|(n, _)| *n == name) {
                out.push((name, value));
            }
        }
    }
    if !out.iter().any(|(n, _)| *n == "proto") {
        if let Some(p) = ["tcp", "udp", "icmp", "icmpv6", "sctp"]
            .into_iter()
            .find(|p| words.contains(p))
        {
            out.push(("proto", p.to_string()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_three_kinds_of_line() {
        let p = Event::parse("trace id 5b1fd856 ip moat_filter moat-input packet: iif \"lo\" ip saddr 127.0.0.1 ip daddr 127.0.0.1 ip protocol tcp tcp sport 44236 tcp dport 9 tcp flags == syn ").unwrap();
        assert_eq!(
            (
                p.id.as_str(),
                p.family.as_str(),
                p.table.as_str(),
                p.chain.as_str()
            ),
            ("5b1fd856", "ip", "moat_filter", "moat-input")
        );
        let Step::Packet(packet) = &p.step else {
            panic!("{p:?}")
        };
        let fields = packet_fields(packet);
        assert!(fields.contains(&("in", "lo".into())), "{fields:?}");
        assert!(fields.contains(&("dst", "127.0.0.1".into())), "{fields:?}");
        assert!(fields.contains(&("proto", "tcp".into())), "{fields:?}");
        assert!(fields.contains(&("dport", "9".into())), "{fields:?}");
        let r = Event::parse("trace id 3f8492c6 ip moat_filter INPUT rule tcp dport 9 counter packets 0 bytes 0 accept comment \"-p tcp -m tcp --dport 9 -j ACCEPT\" # handle 4 (verdict accept)").unwrap();
        assert_eq!(
            r.step,
            Step::Rule {
                handle: 4,
                verdict: "accept".into(),
                text: "tcp dport 9 counter packets 0 bytes 0 accept comment \"-p tcp -m tcp --dport 9 -j ACCEPT\"".into()
            }
        );
        let j = Event::parse("trace id 5b1fd856 ip moat_filter moat-output rule jump OUTPUT # handle 12 (verdict jump OUTPUT)").unwrap();
        assert!(
            matches!(j.step, Step::Rule { handle: 12, ref verdict, .. } if verdict == "jump OUTPUT")
        );
        let pol = Event::parse("trace id 5b1fd856 inet moat_trace out policy accept ").unwrap();
        assert_eq!(pol.step, Step::Policy("accept".into()));
        assert_eq!(Event::parse("something else"), None);
    }
}
