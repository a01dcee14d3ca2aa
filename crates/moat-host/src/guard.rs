//! The lock-out guard: refuses a ruleset that would cut the SSH session
//! moat runs in, or established connections to this host's SSH port; the
//! iptables front-end warns instead (see [`session_cut`]).

use std::io::Write;
use std::net::{IpAddr, SocketAddr};
use std::process::Command;

use moat_blocklist::layout::DEFAULT_DIRECTIONS;
use moat_blocklist::{Direction, ListSpec};
use moat_model::eval::{certainly_dropped, never_matches, Cut, Packet};
use moat_model::{ConnStates, Family, Hook, Rule, Table};

use crate::HostError;

/// A connection the guard protects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flow {
    /// The remote end (the SSH client).
    pub client: SocketAddr,
    /// This host's end.
    pub server: SocketAddr,
    /// Where moat learned of it.
    pub origin: &'static str,
}

/// A protected connection the new ruleset would cut, and where.
#[derive(Debug, Clone)]
pub struct Verdict {
    /// The connection.
    pub flow: Flow,
    /// Which direction is cut.
    pub direction: &'static str,
    /// The rule or policy that drops it.
    pub cut: Cut,
}

impl Verdict {
    /// The connection in words: `the SSH session 10.0.0.2:50514 -> 10.0.0.1:22`.
    fn connection(&self) -> String {
        format!(
            "{} {} -> {}",
            self.flow.origin, self.flow.client, self.flow.server
        )
    }

    /// What happens to it: `dropped by the policy of INPUT`.
    fn fate(&self) -> String {
        let how = if self.cut.reject {
            "rejected"
        } else {
            "dropped"
        };
        format!("{how} by {}", self.cut)
    }
}

fn unmap(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(addr),
        v4 => v4,
    }
}

/// Parses `SSH_CONNECTION` ("client_ip client_port server_ip server_port").
pub fn parse_ssh_connection(text: &str) -> Option<Flow> {
    let parts: Vec<&str> = text.split_whitespace().collect();
    let [cip, cport, sip, sport] = parts.as_slice() else {
        return None;
    };
    Some(Flow {
        client: SocketAddr::new(unmap(cip.parse().ok()?), cport.parse().ok()?),
        server: SocketAddr::new(unmap(sip.parse().ok()?), sport.parse().ok()?),
        origin: "your SSH session (SSH_CONNECTION)",
    })
}

/// SSH ports from sshd_config (`MOAT_SSHD_CONFIG` overrides the path), 22 if none.
pub fn ssh_ports() -> Vec<u16> {
    let path = std::env::var("MOAT_SSHD_CONFIG").unwrap_or_else(|_| "/etc/ssh/sshd_config".into());
    let mut ports: Vec<u16> = std::fs::read_to_string(path)
        .map(|t| parse_sshd_ports(&t))
        .unwrap_or_default();
    if ports.is_empty() {
        ports.push(22);
    }
    ports
}

fn parse_sshd_ports(text: &str) -> Vec<u16> {
    text.lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            match (w.next(), w.next()) {
                (Some(k), Some(v)) if k.eq_ignore_ascii_case("port") => v.parse().ok(),
                _ => None,
            }
        })
        .collect()
}

/// Established TCP connections to `ports` of this host, from conntrack
/// (/proc/net/nf_conntrack, or `conntrack -L` when the file is missing).
pub fn conntrack_flows(ports: &[u16]) -> Vec<Flow> {
    let text = match std::fs::read_to_string("/proc/net/nf_conntrack") {
        Ok(t) => t,
        Err(_) => Command::new("conntrack")
            .args(["-L", "-p", "tcp", "--state", "ESTABLISHED"])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default(),
    };
    let locals = local_addresses();
    let mut flows: Vec<Flow> = parse_conntrack(&text)
        .into_iter()
        .filter(|f| ports.contains(&f.server.port()))
        .filter(|f| locals.is_empty() || locals.contains(&f.server.ip()))
        .collect();
    flows.dedup();
    flows
}

/// Established TCP entries of a conntrack listing, as (original source, original destination).
pub fn parse_conntrack(text: &str) -> Vec<Flow> {
    let mut out = Vec::new();
    for line in text.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        if !words.contains(&"tcp") || !words.contains(&"ESTABLISHED") {
            continue;
        }
        let field = |key: &str| words.iter().find_map(|w| w.strip_prefix(key));
        let (Some(src), Some(dst), Some(sport), Some(dport)) = (
            field("src="),
            field("dst="),
            field("sport="),
            field("dport="),
        ) else {
            continue;
        };
        let (Ok(src), Ok(dst), Ok(sport), Ok(dport)) = (
            src.parse::<IpAddr>(),
            dst.parse::<IpAddr>(),
            sport.parse::<u16>(),
            dport.parse::<u16>(),
        ) else {
            continue;
        };
        out.push(Flow {
            client: SocketAddr::new(src, sport),
            server: SocketAddr::new(dst, dport),
            origin: "an established connection (conntrack)",
        });
    }
    out
}

fn local_addresses() -> Vec<IpAddr> {
    let Ok(out) = Command::new("ip").args(["-o", "addr", "show"]).output() else {
        return Vec::new();
    };
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .filter_map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            let i = w.iter().position(|x| *x == "inet" || *x == "inet6")?;
            w.get(i + 1)?.split('/').next()?.parse().ok()
        })
        .collect()
}

/// The interface this host reaches `addr` through (`ip route get`), if known.
fn route_dev(addr: IpAddr) -> Option<String> {
    let out = Command::new("ip")
        .args(["-o", "route", "get", &addr.to_string()])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let w: Vec<&str> = text.split_whitespace().collect();
    let i = w.iter().position(|x| *x == "dev")?;
    w.get(i + 1).map(|s| s.to_string())
}

/// The SSH session moat runs in, from `SSH_CONNECTION`.
pub fn session_flow() -> Option<Flow> {
    std::env::var("SSH_CONNECTION")
        .ok()
        .as_deref()
        .and_then(parse_ssh_connection)
}

/// Every connection the guard protects: the SSH session (from the
/// environment) and established connections to the SSH ports.
pub fn protected_flows() -> Vec<Flow> {
    let mut flows = Vec::new();
    let mut ports = ssh_ports();
    if let Some(f) = session_flow() {
        if !ports.contains(&f.server.port()) {
            ports.push(f.server.port());
        }
        flows.push(f);
    }
    for f in conntrack_flows(&ports) {
        if !flows
            .iter()
            .any(|g| g.client == f.client && g.server == f.server)
        {
            flows.push(f);
        }
    }
    flows
}

/// The protected flows that loading `lists` would cut, with the list
/// that cuts each: a flow is cut when its client address is in a list
/// (minus the list's exceptions) that blocks traffic from its addresses to
/// this host (`in`) or from this host to them (`out`). A list whose
/// directions are kept from the kernel counts as blocking `in`.
pub fn list_cuts(lists: &[ListSpec], flows: &[Flow]) -> Vec<(String, Flow)> {
    let mut out = Vec::new();
    for list in lists {
        let directions = list.directions.as_deref().unwrap_or(&DEFAULT_DIRECTIONS);
        if !directions
            .iter()
            .any(|d| matches!(d, Direction::In | Direction::Out))
        {
            continue;
        }
        let blocked = match &list.except {
            Some(except) => list.entries.minus(except),
            None => list.entries.clone(),
        };
        out.extend(
            flows
                .iter()
                .filter(|f| blocked.contains(f.client.ip()))
                .map(|f| (list.name.clone(), f.clone())),
        );
    }
    out
}

/// Refuses (with what to do instead) when loading `lists` would cut a
/// protected connection.
pub fn refuse_list_cuts(lists: &[ListSpec]) -> Result<(), HostError> {
    let cuts = list_cuts(lists, &protected_flows());
    if cuts.is_empty() {
        return Ok(());
    }
    let lines: Vec<String> = cuts
        .iter()
        .map(|(name, f)| {
            format!(
                "  list {name} holds {}, the client of {} to {}",
                f.client.ip(),
                f.origin,
                f.server
            )
        })
        .collect();
    let first = cuts[0].1.client.ip();
    Err(HostError::Refused(format!(
        "refusing to block the SSH connection(s) you may be using:\n{}\n\
         fix: keep the address with --except {first} (or except = [\"{first}\"] in moat.toml), or use --force",
        lines.join("\n")
    )))
}

/// The direction of a cut of the packets a client sends to this host.
const INCOMING: &str = "its packets to this host";

fn family_of(addr: &IpAddr) -> Family {
    match addr {
        IpAddr::V4(_) => Family::Ipv4,
        IpAddr::V6(_) => Family::Ipv6,
    }
}

/// The protected flows `tables` would cut, with where; `iface` finds the
/// interface a peer is reached through.
pub fn cuts(
    tables: &[Table],
    flows: &[Flow],
    iface: impl Fn(IpAddr) -> Option<String>,
) -> Vec<Verdict> {
    let mut out = Vec::new();
    for flow in flows {
        let (incoming, outgoing) = flow_packets(flow, iface(flow.client.ip()));
        if let Some(cut) = certainly_dropped(tables, &[Hook::Prerouting, Hook::Input], &incoming) {
            out.push(Verdict {
                flow: flow.clone(),
                direction: INCOMING,
                cut,
            });
        } else if let Some(cut) =
            certainly_dropped(tables, &[Hook::Output, Hook::Postrouting], &outgoing)
        {
            out.push(Verdict {
                flow: flow.clone(),
                direction: "this host's replies",
                cut,
            });
        }
    }
    out
}

/// The packets of `flow` the guard follows: the client's to this host
/// (arriving on `dev`, when known) and this host's replies, both of an
/// established connection.
fn flow_packets(flow: &Flow, dev: Option<String>) -> (Packet, Packet) {
    let incoming = Packet {
        family: family_of(&flow.client.ip()),
        protocol: 6,
        source: flow.client.ip(),
        destination: flow.server.ip(),
        source_port: Some(flow.client.port()),
        destination_port: Some(flow.server.port()),
        in_iface: dev.clone(),
        out_iface: None,
        state: ConnStates::ESTABLISHED,
        tcp_flags: Some(0x10),
    };
    let outgoing = Packet {
        source: flow.server.ip(),
        destination: flow.client.ip(),
        source_port: Some(flow.server.port()),
        destination_port: Some(flow.client.port()),
        in_iface: None,
        out_iface: dev,
        ..incoming.clone()
    };
    (incoming, outgoing)
}

/// Whether `rule` certainly matches none of `flow`'s packets, either way:
/// then adding it anywhere cannot cut the flow, and the guard need not
/// look at the whole table.
pub fn spares(flow: &Flow, rule: &Rule) -> bool {
    let (incoming, outgoing) = flow_packets(flow, None);
    never_matches(rule, &incoming) && never_matches(rule, &outgoing)
}

/// The protected flows the new tables would cut, using the system's routes.
pub fn check(tables: &[Table]) -> (Vec<Flow>, Vec<Verdict>) {
    let flows = protected_flows();
    let verdicts = cuts(tables, &flows, route_dev);
    (flows, verdicts)
}

/// How the SSH session fares when `before` becomes `after`: the cut, if
/// `after` drops it and `before` did not. Only the session of
/// `SSH_CONNECTION` is looked at (no conntrack, no sshd_config), so an
/// iptables command costs nothing more outside SSH.
pub fn session_cut(before: &[Table], after: &[Table]) -> Option<Verdict> {
    let flow = session_flow()?;
    let flows = [flow];
    if !cuts(before, &flows, route_dev).is_empty() {
        return None;
    }
    cuts(after, &flows, route_dev).into_iter().next()
}

/// The warning the iptables front-end prints for a command that cuts the
/// SSH session (applied anyway: scripts set policies before their rules),
/// with the commands that let it through again; `program` names the
/// command that warns.
pub fn session_warning(program: &str, v: &Verdict) -> String {
    let tool = match family_of(&v.flow.client.ip()) {
        Family::Ipv4 => "iptables",
        Family::Ipv6 => "ip6tables",
    };
    let table = match v.cut.stage {
        moat_model::Stage::Filter => String::new(),
        stage => format!("-t {} ", moat_iptables::save::stage_name(stage)),
    };
    let (ip, port, chain) = (v.flow.client.ip(), v.flow.server.port(), &v.cut.chain);
    let allow = if v.direction == INCOMING {
        format!("-I {chain} -s {ip} -p tcp --dport {port} -j ACCEPT")
    } else {
        format!("-I {chain} -d {ip} -p tcp --sport {port} -j ACCEPT")
    };
    let undo = match v.cut.rule {
        Some(n) => format!("-D {chain} {n}"),
        None => format!("-P {chain} ACCEPT"),
    };
    format!(
        "{program}: WARNING: this cuts {}: {} will be {}.\n\
         {program}: applying it anyway (scripts set the policy before adding their rules).\n\
         {program}: before you lose the session, let it through:\n    \
         moat {tool} {table}{allow}\n\
         {program}: or take this command back:\n    \
         moat {tool} {table}{undo}",
        v.connection(),
        v.direction,
        v.fate()
    )
}

/// Warns loudly (on stderr) when `before` becoming `after` cuts the SSH
/// session moat runs in; the iptables front-end applies the change anyway
/// (and builds `before` only when [`session_flow`] finds a session).
pub fn warn_session_cut(program: &str, before: &[Table], after: &[Table]) {
    if let Some(verdict) = session_cut(before, after) {
        // Never a panic when standard error cannot be written.
        let _ = writeln!(std::io::stderr(), "{}", session_warning(program, &verdict));
    }
}

/// Explains refusals in words, with the way out.
pub fn explain(verdicts: &[Verdict]) -> String {
    let mut text = String::new();
    for v in verdicts {
        text.push_str(&format!(
            "it would cut {}: {} would be {}\n",
            v.connection(),
            v.direction,
            v.fate()
        ));
    }
    text.push_str(
        "fix: allow the connection (open the SSH port, e.g. [[service]] name = \"ssh\", and keep replies and \
         established connections allowed), or run again with --force if you are sure (with --confirm SECONDS as a safety net)",
    );
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_list_holding_the_ssh_client_cuts_it_unless_excepted_or_forward_only() {
        let flow = parse_ssh_connection("203.0.113.7 50514 10.0.0.1 22").unwrap();
        let nets = |text: &str| moat_blocklist::Entries::parse(text, "t").unwrap().0;
        let list = |except: Option<&str>, directions: Option<Vec<Direction>>| ListSpec {
            name: "bad".into(),
            source: moat_blocklist::Source::Manual,
            entries: nets("203.0.113.0/24\n2001:db8::/32\n"),
            except: except.map(nets),
            directions,
            allow_empty: false,
        };
        let flows = [flow];
        assert_eq!(
            list_cuts(&[list(None, None)], &flows).len(),
            1,
            "default directions include in"
        );
        assert_eq!(
            list_cuts(&[list(None, Some(vec![Direction::Out]))], &flows).len(),
            1
        );
        assert!(list_cuts(&[list(Some("203.0.113.7"), None)], &flows).is_empty());
        assert!(list_cuts(&[list(None, Some(vec![Direction::Forward]))], &flows).is_empty());
        assert!(list_cuts(&[list(None, Some(vec![]))], &flows).is_empty());
        let elsewhere = parse_ssh_connection("198.51.100.1 50514 10.0.0.1 22").unwrap();
        assert!(list_cuts(&[list(None, None)], &[elsewhere]).is_empty());
    }

    /// A rule that certainly matches neither way of the session spares it;
    /// one that matches, or may (an interface the guard does not know),
    /// does not.
    #[test]
    fn a_rule_spares_the_session_only_when_it_cannot_match_it() {
        let flow = parse_ssh_connection("203.0.113.7 50514 10.0.0.1 22").unwrap();
        let rule = |text: &str| {
            moat_iptables::state::StateRule::from_source(
                text,
                Family::Ipv4,
                moat_model::Counters::default(),
            )
            .unwrap()
            .rule
        };
        assert!(spares(&flow, &rule("-s 198.51.100.7/32 -j DROP")));
        assert!(spares(&flow, &rule("-p udp -j DROP")));
        assert!(spares(&flow, &rule("-p tcp -m tcp --dport 80 -j DROP")));
        assert!(!spares(&flow, &rule("-s 203.0.113.0/24 -j DROP")));
        assert!(!spares(&flow, &rule("-d 203.0.113.7/32 -j REJECT")));
        assert!(!spares(&flow, &rule("-p tcp -m tcp --dport 22 -j DROP")));
        assert!(!spares(&flow, &rule("-i eth9 -j DROP")));
        assert!(!spares(&flow, &rule("-j DROP")));
    }

    #[test]
    fn reads_ssh_connection() {
        let f = parse_ssh_connection("10.0.0.5 50514 10.0.0.1 22").unwrap();
        assert_eq!(f.client, "10.0.0.5:50514".parse().unwrap());
        assert_eq!(f.server.port(), 22);
        let f = parse_ssh_connection("::ffff:10.0.0.5 50514 ::ffff:10.0.0.1 22").unwrap();
        assert_eq!(f.client.ip(), "10.0.0.5".parse::<IpAddr>().unwrap());
        assert!(parse_ssh_connection("garbage").is_none());
    }

    #[test]
    fn reads_conntrack_lines() {
        let proc_line = "ipv4     2 tcp      6 431999 ESTABLISHED src=10.99.1.2 dst=10.99.1.1 sport=40000 dport=22 src=10.99.1.1 dst=10.99.1.2 sport=22 dport=40000 [ASSURED] mark=0 zone=0 use=2";
        let cli_line = "tcp      6 431999 ESTABLISHED src=fd99:1::2 dst=fd99:1::1 sport=40001 dport=2222 src=fd99:1::1 dst=fd99:1::2 sport=2222 dport=40001 [ASSURED] mark=0 use=1";
        let other = "ipv4 2 udp 17 29 src=1.1.1.1 dst=2.2.2.2 sport=1 dport=2";
        let flows = parse_conntrack(&format!("{proc_line}\n{cli_line}\n{other}\n"));
        assert_eq!(flows.len(), 2);
        assert_eq!(flows[0].server, "10.99.1.1:22".parse().unwrap());
        assert_eq!(flows[1].client.port(), 40001);
    }

    #[test]
    fn reads_sshd_ports() {
        assert_eq!(
            parse_sshd_ports("# Port 99\nPort 2222\nport 22\nListenAddress 0.0.0.0\n"),
            vec![2222, 22]
        );
    }
}
