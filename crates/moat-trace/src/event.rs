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
        } else if let Some(after) = tail.strip_prefix("unknown rule handle ") {
            // A rule nft does not know: one of a chain bound to a rule (TPROXY's).
            let (handle, verdict) = after.split_once(' ')?;
            Step::Rule {
                handle: handle.parse().ok()?,
                verdict: verdict_of(verdict)?,
                text: String::new(),
            }
        } else {
            let rule = tail.strip_prefix("rule ")?;
            let (text, after) = rule.rsplit_once(" # handle ")?;
            let (handle, verdict) = after.split_once(' ')?;
            Step::Rule {
                handle: handle.parse().ok()?,
                verdict: verdict_of(verdict)?,
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

/// The verdict of `(verdict accept)`.
fn verdict_of(text: &str) -> Option<String> {
    Some(
        text.trim()
            .strip_prefix("(verdict ")?
            .strip_suffix(')')?
            .to_string(),
    )
}

/// Joins the lines of `nft monitor trace` into whole events: nft writes a
/// rule with a chain bound to it (`jump { ... }`, TPROXY's) over several
/// lines, the event's `# handle N (verdict ...)` on the last.
#[derive(Debug, Default)]
pub struct TraceLines {
    pending: Option<String>,
}

impl TraceLines {
    /// Takes the next line of nft's output; returns an event's whole line
    /// once it is complete. Lines outside events are dropped.
    pub fn push(&mut self, line: &str) -> Option<String> {
        let whole = match self.pending.take() {
            Some(mut pending) if !line.starts_with("trace id ") => {
                pending.push(' ');
                pending.push_str(line.trim());
                pending
            }
            _ if line.starts_with("trace id ") => line.to_string(),
            _ => return None,
        };
        if open_braces(&whole) > 0 {
            self.pending = Some(whole);
            None
        } else {
            Some(whole)
        }
    }
}

/// How many `{` of `text` are not closed yet, outside quoted strings.
fn open_braces(text: &str) -> usize {
    let (mut depth, mut quoted, mut escaped) = (0usize, false, false);
    for c in text.chars() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            '{' if !quoted => depth += 1,
            '}' if !quoted => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    depth
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

    #[test]
    fn a_rule_with_a_bound_chain_is_one_event_and_its_rules_are_read() {
        let lines = [
            "trace id 06e6e008 ip moat_mangle PREROUTING rule tcp dport 80 counter packets 0 bytes 0 jump {",
            "\t\t\ttproxy to 0.0.0.0:3128 meta mark set meta mark | 0x00000001 accept",
            "\t\t\tdrop",
            "\t\t} comment \"-p tcp -m tcp --dport 80 -j TPROXY --on-port 3128 --on-ip 0.0.0.0 --tproxy-mark 0x1/0x1 {\" # handle 9 (verdict jump __chain114)",
            "trace id 06e6e008 ip moat_mangle __chain114 unknown rule handle 8 (verdict drop)",
        ];
        let mut joiner = TraceLines::default();
        let whole: Vec<String> = lines.iter().filter_map(|l| joiner.push(l)).collect();
        assert_eq!(whole.len(), 2, "{whole:?}");
        let jump = Event::parse(&whole[0]).unwrap();
        assert!(
            matches!(jump.step, Step::Rule { handle: 9, ref verdict, .. } if verdict == "jump __chain114"),
            "{jump:?}"
        );
        let bound = Event::parse(&whole[1]).unwrap();
        assert_eq!(bound.chain, "__chain114");
        assert_eq!(
            bound.step,
            Step::Rule {
                handle: 8,
                verdict: "drop".into(),
                text: String::new()
            }
        );
        assert_eq!(joiner.push("not a trace line"), None);
    }
}
