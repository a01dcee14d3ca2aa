//! `moat explain` against the kernel (issue 14): random rulesets (filter
//! INPUT/FORWARD with user chains, jumps, gotos, returns and marks; mangle
//! marks; nat DNAT/REDIRECT and MASQUERADE; conntrack DNAT/SNAT status;
//! filter OUTPUT rules and nat
//! OUTPUT DNAT for what the gateway sends; only matches explain can
//! decide) and seed 004's port forward (as written and with its nat
//! policies fixed) go into a gateway namespace. For each, TCP SYNs and UDP
//! datagrams from the client's addresses (and from the gateway itself) to
//! the gateway's and the server's addresses are predicted with `moat
//! explain --json` run in the gateway namespace, then sent; listeners on
//! the gateway and the server record what arrives where (address and port
//! after DNAT, source after MASQUERADE), and the counters of the rules and
//! policies explain says drop packets must count exactly those. Every
//! prediction must agree with what the kernel did.

mod common;
mod config_common;

use std::collections::HashMap;
use std::io::ErrorKind;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, UdpSocket};
use std::time::{Duration, Instant};

use common::Rng;
use config_common::{config_lab, moat, moat_ok, Scratch};
use moat_testnet::Netns;
use socket2::{Domain, Protocol, Socket, Type};

/// Packets the gateway itself sends, per ruleset.
const LOCAL_PROBES: usize = 20;
/// Ports packets are sent to.
const PORTS: [u16; 6] = [1000, 1001, 1002, 1003, 1004, 1005];
/// Ports DNAT and REDIRECT send to (listened on too).
const TARGET_PORTS: [u16; 2] = [8080, 8081];
/// The gateway's addresses.
const GATEWAY: [&str; 2] = ["10.99.1.1", "10.99.2.1"];
/// The server's addresses.
const SERVER: [&str; 3] = ["10.99.2.2", "10.99.2.3", "10.99.2.4"];
/// The client's extra addresses: 10.99.1.8 to 10.99.1.23.
const CLIENT_HOSTS: std::ops::RangeInclusive<u8> = 8..=23;

/// `10.99.1.X/LEN` around the client's addresses.
fn client_net(r: &mut Rng) -> String {
    let len = r.pick(&[27u32, 28, 29, 30, 32]);
    let block = 1u32 << (32 - len);
    let start = (8 + r.below(16) as u32) / block * block;
    format!("10.99.1.{start}/{len}")
}

fn dports(r: &mut Rng) -> String {
    let all: Vec<u16> = PORTS.iter().chain(&TARGET_PORTS).copied().collect();
    let low = r.pick(&all);
    if low < 8000 && r.chance(2) {
        format!("{low}:{}", (low + r.below(3) as u16).min(1005))
    } else {
        low.to_string()
    }
}

/// The conditions of one random rule; `-i` only where packets have come in
/// (`inward`), `-o` only where they are routed (`out`).
fn conds(r: &mut Rng, inward: bool, out: bool) -> String {
    let mut parts = Vec::new();
    if r.chance(2) {
        let bang = if r.chance(4) { "! " } else { "" };
        parts.push(format!("{bang}-s {}", client_net(r)));
    }
    if r.chance(3) {
        let all: Vec<&str> = GATEWAY.iter().chain(&SERVER).copied().collect();
        parts.push(format!("-d {}", r.pick(&all)));
    }
    if r.chance(2) {
        let proto = r.pick(&["tcp", "udp"]);
        if r.chance(3) {
            parts.push(format!("-p {proto}"));
        } else {
            parts.push(format!("-p {proto} --dport {}", dports(r)));
        }
    }
    if inward && r.chance(4) {
        parts.push(format!("-i {}", r.pick(&["lan0", "lan+", "wan0"])));
    }
    if r.chance(6) {
        let bang = if r.chance(2) { "! " } else { "" };
        let kind = r.pick(&["LOCAL", "UNICAST", "LOCAL,BROADCAST"]);
        parts.push(format!("-m addrtype {bang}--dst-type {kind}"));
    }
    if out && r.chance(4) {
        parts.push(format!("-o {}", r.pick(&["wan0", "lan0"])));
    }
    if r.chance(6) {
        let states = r.pick(&["DNAT", "DNAT", "SNAT"]);
        parts.push(format!("-m conntrack --ctstate {states}"));
    }
    if r.chance(3) {
        let bang = if r.chance(3) { "! " } else { "" };
        let mark = r.pick(&["1", "2", "3", "1/1", "2/2"]);
        parts.push(format!("-m mark {bang}--mark {mark}"));
    }
    parts.join(" ")
}

/// A mark change in mangle PREROUTING: mostly a whole value.
fn first_mark(r: &mut Rng) -> &'static str {
    r.pick(&["1", "2", "2", "2/2"])
}

/// A mark change in filter: mostly one bit, keeping the others.
fn set_mark(r: &mut Rng) -> &'static str {
    r.pick(&["1/1", "1/1", "2/2", "3"])
}

/// One rule for `chain` (`user` is its user-chain number, 0 for a base chain).
fn rule(r: &mut Rng, chain: &str, user: usize, chains: usize) -> String {
    let c = conds(r, true, chain == "FORWARD");
    if user > 0 && r.chance(4) {
        return format!("-A {chain} {c} -j RETURN");
    }
    let later = match chains - user {
        0 => chains + 1,
        left => user + 1 + r.below(left as u64) as usize,
    };
    let target = match r.below(10) {
        0 | 1 => "ACCEPT".to_string(),
        2 | 3 => "DROP".to_string(),
        4 => "REJECT".to_string(),
        5 => format!("MARK --set-mark {}", set_mark(r)),
        6 if user > 0 => "RETURN".to_string(),
        6 | 7 if later <= chains => format!("U{later}"),
        8 | 9 if later <= chains => format!("U{later} -g"),
        _ => "ACCEPT".to_string(),
    };
    match target.strip_suffix(" -g") {
        Some(t) => format!("-A {chain} {c} -g {t}"),
        None => format!("-A {chain} {c} -j {target}"),
    }
}

/// A random ruleset as an iptables-save file.
fn ruleset(seed: u64) -> String {
    let mut r = Rng(seed);
    let mut out = String::from("*mangle\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n");
    out += &format!(
        "-A PREROUTING -s {} -j MARK --set-mark 2\n",
        client_net(&mut r)
    );
    for _ in 0..r.below(3) {
        out += &format!(
            "-A PREROUTING {} -j MARK --set-mark {}\n",
            conds(&mut r, true, false),
            first_mark(&mut r)
        );
    }
    out += "COMMIT\n*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n";
    for _ in 0..2 + r.below(3) {
        let src = if r.chance(2) {
            format!("-s {} ", client_net(&mut r))
        } else {
            String::new()
        };
        let proto = r.pick(&["tcp", "udp"]);
        let port = r.pick(&PORTS);
        let dst = if r.chance(2) {
            let all: Vec<&str> = GATEWAY.iter().chain(&SERVER).copied().collect();
            format!("-d {} ", r.pick(&all))
        } else {
            String::new()
        };
        let target = if r.chance(5) {
            format!("REDIRECT --to-ports {}", r.pick(&TARGET_PORTS))
        } else {
            let to = r.pick(&["10.99.2.1", "10.99.2.2", "10.99.2.3", "10.99.2.4"]);
            match r.chance(2) {
                true => format!("DNAT --to-destination {to}:{}", r.pick(&TARGET_PORTS)),
                false => format!("DNAT --to-destination {to}"),
            }
        };
        out += &format!("-A PREROUTING -i lan0 {src}{dst}-p {proto} --dport {port} -j {target}\n");
    }
    for _ in 0..r.below(3) {
        let (dst, to) = (r.pick(&SERVER), r.pick(&SERVER));
        let (proto, port) = (r.pick(&["tcp", "udp"]), r.pick(&PORTS));
        let target = r.pick(&TARGET_PORTS);
        out += &format!(
            "-A OUTPUT -d {dst} -p {proto} --dport {port} -j DNAT --to-destination {to}:{target}\n"
        );
    }
    for _ in 0..r.below(3) {
        let src = if r.chance(2) {
            format!("-s {} ", client_net(&mut r))
        } else {
            String::new()
        };
        out += &format!("-A POSTROUTING -o wan0 {src}-j MASQUERADE\n");
    }
    out += "COMMIT\n*filter\n";
    let chains = 3;
    for base in ["INPUT", "FORWARD"] {
        out += &format!(":{base} {} [0:0]\n", r.pick(&["ACCEPT", "ACCEPT", "DROP"]));
    }
    out += &format!(":OUTPUT {} [0:0]\n", r.pick(&["ACCEPT", "ACCEPT", "DROP"]));
    for u in 1..=chains {
        out += &format!(":U{u} - [0:0]\n");
    }
    for base in ["INPUT", "FORWARD"] {
        out += &format!("-A {base} -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT\n");
        let c = conds(&mut r, true, false);
        out += &format!("-A {base} {c} -j MARK --set-mark 1/1\n");
        let verdict = r.pick(&["ACCEPT", "DROP", "REJECT"]);
        let mark = r.pick(&["3", "1", "2/2"]);
        out += &format!("-A {base} -m mark --mark {mark} -j {verdict}\n");
        for _ in 0..3 + r.below(6) {
            out += &rule(&mut r, base, 0, chains);
            out.push('\n');
        }
    }
    out += "-A OUTPUT -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT\n";
    for _ in 0..2 + r.below(4) {
        let c = conds(&mut r, false, true);
        let target = r.pick(&["ACCEPT", "ACCEPT", "DROP", "REJECT", "MARK --set-mark 1/1"]);
        out += &format!("-A OUTPUT {c} -j {target}\n");
    }
    for u in 1..=chains {
        out += &format!("-A U{u} -s {} -j RETURN\n", client_net(&mut r));
        for _ in 0..1 + r.below(4) {
            out += &rule(&mut r, &format!("U{u}"), u, chains);
            out.push('\n');
        }
    }
    out + "COMMIT\n"
}

/// Seed 004's port forward, moved into the lab (outside is the client's
/// side, lan0; the web server is the server at 10.99.2.2:8080, reached on
/// port 1000), as written (its nat DROP policies drop every new connection
/// the DNAT does not take, and the forwarded ones at POSTROUTING, since it
/// masquerades only on the outside interface) and with nat policies ACCEPT.
fn seed_004() -> [String; 2] {
    let written = "*nat
:PREROUTING DROP [0:0]
:OUTPUT DROP [0:0]
:POSTROUTING DROP [0:0]
-A POSTROUTING -o lan0 -j MASQUERADE
-A PREROUTING -i lan0 -p tcp --dport 1000 -j DNAT --to-destination 10.99.2.2:8080
COMMIT
*filter
:INPUT DROP [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -m state --state ESTABLISHED,RELATED -j ACCEPT
-A INPUT -p icmp -j ACCEPT
-A INPUT -i lo -j ACCEPT
-A INPUT -m state --state NEW -m tcp -p tcp --dport 22 -j ACCEPT
-A INPUT -m state --state NEW -m tcp -p tcp --dport 1001 -j ACCEPT
-A INPUT -j REJECT --reject-with icmp-host-prohibited
-A FORWARD -m state --state ESTABLISHED,RELATED -j ACCEPT
-A FORWARD -p icmp -j ACCEPT
-A FORWARD -i lo -j ACCEPT
-A FORWARD -m state --state NEW -m tcp -p tcp -d 10.99.2.2 --dport 8080 -j ACCEPT
-A FORWARD -j REJECT --reject-with icmp-host-prohibited
COMMIT
";
    let accepting = written.replace(":PREROUTING DROP", ":PREROUTING ACCEPT");
    [
        written.to_string(),
        accepting.replace(":POSTROUTING DROP", ":POSTROUTING ACCEPT"),
    ]
}

/// A packet the client sends.
#[derive(Debug, Clone)]
struct Probe {
    /// Sent by the gateway itself (else by the client).
    local: bool,
    tcp: bool,
    src: Ipv4Addr,
    sport: u16,
    dst: Ipv4Addr,
    dport: u16,
}

/// Where a packet arrived: namespace role, local address and port, peer address.
type Arrival = (&'static str, IpAddr, u16, IpAddr);

/// What `moat explain` says the kernel does with a probe: `None` for a drop.
fn predict(gateway: &Netns, scratch: &Scratch, p: &Probe) -> (Option<Arrival>, serde_json::Value) {
    let (src, dst, sport, dport) = (
        p.src.to_string(),
        p.dst.to_string(),
        p.sport.to_string(),
        p.dport.to_string(),
    );
    let proto = if p.tcp { "tcp" } else { "udp" };
    let mut args = vec![
        "explain", "--src", &src, "--dst", &dst, "--proto", proto, "--sport", &sport, "--dport",
        &dport, "--json",
    ];
    if !p.local {
        args.extend(["--in", "lan0"]);
    }
    let out = moat(gateway, scratch, &args);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    let paths = json["explanation"]["paths"].as_array().expect("paths");
    assert_eq!(paths.len(), 1, "only decidable matches: {json:#}");
    let path = &paths[0];
    let accepted = path["verdict"]["outcome"] == "ACCEPT";
    assert_eq!(
        out.status.code(),
        Some(if accepted { 0 } else { 1 }),
        "{json:#}"
    );
    if !accepted {
        return (None, json);
    }
    let role = match path["verdict"]["routing"]["to"].as_str() {
        Some("local") => "gateway",
        Some("forward" | "send") => "server",
        other => panic!("routing {other:?}: {json:#}"),
    };
    let addr = |k: &str| -> IpAddr { path["packet"][k].as_str().expect(k).parse().expect(k) };
    let port = path["packet"]["destination_port"].as_u64().expect("port") as u16;
    (
        Some((role, addr("destination"), port, addr("source"))),
        json,
    )
}

/// Where a packet was dropped: table, chain, rule number (0 for the policy).
type Dropper = (String, String, usize);

/// The packet counts of the DROP and REJECT rules and DROP policies (from
/// `iptables-save -c`).
fn drop_counts(save: &str) -> HashMap<Dropper, u64> {
    let mut out = HashMap::new();
    let mut numbers: HashMap<String, usize> = HashMap::new();
    let mut table = String::new();
    for line in save.lines() {
        if let Some(name) = line.strip_prefix('*') {
            table = name.to_string();
            numbers.clear();
        }
        let packets = |counter: &str| -> u64 {
            let inner = counter.trim_start_matches('[');
            inner.split(':').next().unwrap().parse().unwrap()
        };
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            [chain, "DROP", counter] if chain.starts_with(':') => {
                let key = (table.clone(), chain[1..].to_string(), 0);
                out.insert(key, packets(counter));
            }
            [counter, "-A", chain, rest @ ..] => {
                let n = numbers.entry(chain.to_string()).or_default();
                *n += 1;
                if rest.ends_with(&["-j", "DROP"]) || rest.contains(&"REJECT") {
                    out.insert((table.clone(), chain.to_string(), *n), packets(counter));
                }
            }
            _ => {}
        }
    }
    out
}

/// How many predicted paths went through each feature of the rulesets.
#[derive(Default)]
struct Coverage {
    user_chains: usize,
    gotos: usize,
    returns: usize,
    marks: usize,
    policies: usize,
}

impl Coverage {
    fn count(&mut self, json: &serde_json::Value) {
        let path = &json["explanation"]["paths"][0];
        let steps = path["steps"].as_array().expect("steps");
        let matched = |s: &&serde_json::Value| s["step"] == "rule" && s["result"] == "matched";
        let any = |f: &dyn Fn(&serde_json::Value) -> bool| usize::from(steps.iter().any(f));
        self.user_chains += any(&|s| {
            s["at"]["chain"]
                .as_str()
                .is_some_and(|c| c.starts_with('U'))
        });
        self.gotos +=
            any(&|s| matched(&s) && s["at"]["text"].as_str().is_some_and(|t| t.contains(" -g ")));
        self.returns += any(&|s| {
            matched(&s)
                && s["at"]["text"]
                    .as_str()
                    .is_some_and(|t| t.ends_with("-j RETURN"))
        });
        self.marks += any(&|s| s["change"].as_str().is_some_and(|c| c.starts_with("mark")));
        self.policies += usize::from(path["verdict"]["by"]["rule"].is_null());
    }
}

/// A listening socket and the namespace it is in.
enum Listener {
    Tcp(&'static str, TcpListener),
    Udp(&'static str, UdpSocket),
}

/// TCP and UDP listeners on every port packets may reach, on each address.
fn listen(ns: &Netns, role: &'static str, addrs: &[&str]) -> Vec<Listener> {
    let addrs: Vec<IpAddr> = addrs.iter().map(|a| a.parse().unwrap()).collect();
    ns.run(move || {
        let mut out = Vec::new();
        for &a in &addrs {
            for &port in PORTS.iter().chain(&TARGET_PORTS) {
                let t = TcpListener::bind((a, port)).unwrap();
                t.set_nonblocking(true).unwrap();
                out.push(Listener::Tcp(role, t));
                let u = UdpSocket::bind((a, port)).unwrap();
                u.set_nonblocking(true).unwrap();
                out.push(Listener::Udp(role, u));
            }
        }
        out
    })
    .unwrap()
}

/// Everything that arrived since the last call, by the sender's port.
fn arrivals(listeners: &[Listener], into: &mut HashMap<u16, Vec<Arrival>>) {
    let mut buf = [0u8; 64];
    for l in listeners {
        loop {
            let got = match l {
                Listener::Tcp(role, t) => t
                    .accept()
                    .map(|(s, peer)| (*role, s.local_addr().unwrap(), peer)),
                Listener::Udp(role, u) => u
                    .recv_from(&mut buf)
                    .map(|(_, peer)| (*role, u.local_addr().unwrap(), peer)),
            };
            match got {
                Ok((role, local, peer)) => into.entry(peer.port()).or_default().push((
                    role,
                    local.ip(),
                    local.port(),
                    peer.ip(),
                )),
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) => panic!("{e}"),
            }
        }
    }
}

/// Sends every probe from `from` (SYNs and datagrams) and keeps the
/// sockets open for a moment so handshakes complete.
fn send(from: &Netns, probes: &[Probe], listeners: &[Listener]) -> HashMap<u16, Vec<Arrival>> {
    let probes = probes.to_vec();
    let open = from
        .run(move || {
            let mut open = Vec::new();
            for p in &probes {
                let from = SocketAddr::from((p.src, p.sport));
                let to = SocketAddr::from((p.dst, p.dport));
                let (ty, proto) = if p.tcp {
                    (Type::STREAM, Protocol::TCP)
                } else {
                    (Type::DGRAM, Protocol::UDP)
                };
                let s = Socket::new(Domain::IPV4, ty, Some(proto)).unwrap();
                s.bind(&from.into()).unwrap();
                s.set_nonblocking(true).unwrap();
                // A packet the gateway's own firewall drops fails the send
                // (EPERM); only where it arrives counts.
                if p.tcp {
                    let _ = s.connect(&to.into());
                } else {
                    let _ = s.send_to(b"x", &to.into());
                }
                open.push(s);
            }
            open
        })
        .unwrap();
    let mut seen = HashMap::new();
    let deadline = Instant::now() + Duration::from_millis(400);
    while Instant::now() < deadline {
        arrivals(listeners, &mut seen);
        std::thread::sleep(Duration::from_millis(10));
    }
    drop(open);
    seen
}

#[test]
fn explain_predicts_what_the_kernel_does_with_every_packet() {
    let Some((lab, scratch)) = config_lab() else {
        return;
    };
    for host in CLIENT_HOSTS {
        lab.client
            .ip(&["addr", "add", &format!("10.99.1.{host}/24"), "dev", "eth0"])
            .unwrap();
    }
    let mut listeners = listen(&lab.gateway, "gateway", &GATEWAY);
    listeners.extend(listen(&lab.server, "server", &SERVER));
    let clients: Vec<Ipv4Addr> = std::iter::once(2)
        .chain(CLIENT_HOSTS)
        .map(|h| Ipv4Addr::new(10, 99, 1, h))
        .collect();
    // The gateway's addresses first, then the server's.
    let targets: Vec<Ipv4Addr> = GATEWAY
        .iter()
        .chain(&SERVER)
        .map(|a| a.parse().unwrap())
        .collect();
    let mut r = Rng(0x5851f42d4c957f2d);
    let mut sport = 20000u16;
    let (mut packets, mut delivered, mut dropped, mut dnatted, mut masqueraded) = (0, 0, 0, 0, 0);
    let mut seen_steps = Coverage::default();
    let mut deciders = 0;
    let mut sent_here = 0;
    let random_count = 8;
    let random = (1..=random_count as u64)
        .map(|n| ruleset(0x9e3779b97f4a7c15 ^ n.wrapping_mul(0x2545f4914f6cdd1d)));
    let all: Vec<String> = random.chain(seed_004()).collect();
    let rulesets = all.len();
    for (n, text) in all.into_iter().enumerate() {
        let file = scratch.file("rules.v4", &text);
        moat_ok(&lab.gateway, &scratch, &["apply", file.to_str().unwrap()]);
        let seed = n >= random_count;
        let mut probes: Vec<Probe> = (0..60)
            .map(|_| {
                sport += 1;
                let forwarded = seed && r.chance(2);
                Probe {
                    local: false,
                    tcp: forwarded || r.chance(2),
                    src: r.pick(&clients),
                    sport,
                    dst: r.pick(&targets),
                    dport: match (forwarded, r.chance(8)) {
                        (true, _) => 1000,
                        (false, true) => 8080,
                        (false, false) => r.pick(&PORTS),
                    },
                }
            })
            .collect();
        let sent: Vec<Probe> = (0..LOCAL_PROBES)
            .map(|_| {
                sport += 1;
                Probe {
                    local: true,
                    tcp: r.chance(2),
                    src: r.pick(&targets[..GATEWAY.len()]),
                    sport,
                    dst: r.pick(&targets),
                    dport: r.pick(&PORTS),
                }
            })
            .collect();
        probes.extend(sent);
        let predictions: Vec<_> = probes
            .iter()
            .map(|p| predict(&lab.gateway, &scratch, p))
            .collect();
        let before = drop_counts(&moat_ok(&lab.gateway, &scratch, &["iptables-save", "-c"]));
        let (local, arriving): (Vec<Probe>, Vec<Probe>) =
            probes.iter().cloned().partition(|p| p.local);
        let mut seen = send(&lab.client, &arriving, &listeners);
        seen.extend(send(&lab.gateway, &local, &listeners));
        let after = drop_counts(&moat_ok(&lab.gateway, &scratch, &["iptables-save", "-c"]));
        let mut predicted: HashMap<Dropper, u64> = HashMap::new();
        for (p, (expected, json)) in probes.iter().zip(&predictions) {
            let got = seen.get(&p.sport).cloned().unwrap_or_default();
            let want: Vec<Arrival> = expected.iter().copied().collect();
            assert_eq!(
                got, want,
                "packet {p:?}: the kernel did {got:?}, explain predicted {want:?}\nexplain: {json:#}\nruleset:\n{text}"
            );
            packets += 1;
            seen_steps.count(json);
            match expected {
                Some((_, addr, port, src)) => {
                    delivered += 1;
                    sent_here += usize::from(p.local);
                    dnatted += usize::from(*addr != IpAddr::V4(p.dst) || *port != p.dport);
                    masqueraded += usize::from(*src != IpAddr::V4(p.src));
                }
                None => {
                    dropped += 1;
                    let by = &json["explanation"]["paths"][0]["verdict"]["by"];
                    let name = |k: &str| by[k].as_str().expect(k).to_string();
                    let rule = by["rule"].as_u64().unwrap_or(0) as usize;
                    *predicted
                        .entry((name("table"), name("chain"), rule))
                        .or_default() += 1;
                }
            }
        }
        for key in after.keys() {
            let counted = after[key] - before.get(key).copied().unwrap_or(0);
            let want = predicted.get(key).copied().unwrap_or(0);
            assert_eq!(
                counted, want,
                "{key:?} (rule 0 = policy) dropped {counted} packets, explain said {want}\nruleset:\n{text}"
            );
            deciders += usize::from(want > 0);
        }
        assert!(
            predicted.keys().all(|k| after.contains_key(k)),
            "explain named a dropping rule the kernel does not have: {predicted:?}"
        );
        let taken: u64 = predicted.values().sum();
        eprintln!(
            "ruleset {}: {taken} of {} packets dropped",
            n + 1,
            probes.len()
        );
    }
    eprintln!(
        "{rulesets} rulesets, {packets} packets: {delivered} delivered ({sent_here} sent by the gateway itself, {dnatted} translated, {masqueraded} masqueraded), {dropped} dropped by {deciders} rules and policies, all as predicted; paths through user chains {} (by a goto {}), with a RETURN {}, with a mark set {}, decided by a policy {}",
        seen_steps.user_chains, seen_steps.gotos, seen_steps.returns, seen_steps.marks, seen_steps.policies
    );
    assert!(
        seen_steps.user_chains >= 50
            && seen_steps.returns >= 5
            && seen_steps.marks >= 20
            && seen_steps.policies >= 20,
        "the rulesets' features were reached"
    );
    assert!(
        delivered >= 50 && dropped >= 50,
        "both verdicts were tested"
    );
    assert!(deciders >= 10, "drops by many rules were counted");
    assert!(sent_here >= 10, "packets the gateway sends were delivered");
    assert!(dnatted >= 5 && masqueraded >= 5, "NAT was tested");
}
