//! Shared helpers for moat's end-to-end tests: run the moat binary inside a
//! namespace and read its results.

#![allow(dead_code)]

use std::collections::HashMap;
use std::net::IpAddr;
use std::process::Output;
use std::time::Duration;

use moat_testnet::topology::{GATEWAY_LAN_V4, SERVER_EXTRA_V4, SERVER_V4, SERVER_V6};
use moat_testnet::{
    require_root_or_skip, tcp_connect, tcp_connect_timeout, Netns, TcpOutcome, TcpServer, Topology,
};

/// The timeout of [`connects_quickly`].
pub const QUICK: Duration = Duration::from_millis(400);

/// The client / gateway / server lab, or `None` (the test skips) without root.
pub fn gateway_lab() -> Option<Topology> {
    require_root_or_skip().then(|| Topology::gateway().unwrap())
}

/// The moat binary under test.
pub fn moat_bin() -> &'static str {
    env!("CARGO_BIN_EXE_moat")
}

/// The lean binary of the iptables personalities alone, under test.
pub fn moat_iptables_bin() -> &'static str {
    env!("CARGO_BIN_EXE_moat-iptables")
}

/// Runs `moat ARGS...` inside `ns`.
pub fn moat(ns: &Netns, args: &[&str]) -> Output {
    let mut argv = vec![moat_bin()];
    argv.extend_from_slice(args);
    ns.exec(&argv).expect("run moat in the namespace")
}

/// [`moat`] with its own advice on stderr, as at a terminal
/// (`MOAT_ADVICE=1`).
pub fn moat_advised(ns: &Netns, args: &[&str]) -> Output {
    let mut argv = vec!["env", "MOAT_ADVICE=1", moat_bin()];
    argv.extend_from_slice(args);
    ns.exec(&argv).expect("run moat in the namespace")
}

/// Runs `moat ARGS...` inside `ns` and returns its standard output; panics with its stderr on failure.
pub fn moat_ok(ns: &Netns, args: &[&str]) -> String {
    stdout_of_success(args, moat(ns, args))
}

/// The standard output of `out`, a run of `moat ARGS...`; panics with its stderr if it failed.
pub fn stdout_of_success(args: &[&str], out: Output) -> String {
    assert!(
        out.status.success(),
        "moat {} failed: {}",
        args.join(" "),
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// Runs `moat ARGS...` inside `ns`, asserts that it fails and returns its stderr.
pub fn moat_err(ns: &Netns, args: &[&str]) -> String {
    let out = moat(ns, args);
    assert!(!out.status.success(), "{args:?} must fail");
    text(&out.stderr)
}

/// The words of `line` (split on spaces) after `program`.
pub fn words<'a>(program: &'a str, line: &'a str) -> Vec<&'a str> {
    let mut args = vec![program];
    args.extend(line.split_whitespace());
    args
}

/// Runs each line as `moat PROGRAM LINE` (words split on spaces) inside `ns`.
pub fn iptables_all(ns: &Netns, program: &str, lines: &[&str]) {
    for line in lines {
        moat_ok(ns, &words(program, line));
    }
}

/// Lossy text of output bytes.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Runs `moat iptables-restore` with `text` on standard input inside `ns`.
pub fn restore(ns: &Netns, program: &str, extra: &[&str], text: &str) -> Output {
    restore_env(ns, &[], program, extra, text)
}

/// [`restore`] with `env` set for moat.
pub fn restore_env(
    ns: &Netns,
    env: &[(&str, &str)],
    program: &str,
    extra: &[&str],
    text: &str,
) -> Output {
    let mut argv = vec![moat_bin(), program];
    argv.extend_from_slice(extra);
    exec_input(ns, &argv, env, text)
}

/// Runs `argv` inside `ns` with `env` set and `input` on standard input;
/// its status and output, whatever the status.
pub fn exec_input(ns: &Netns, argv: &[&str], env: &[(&str, &str)], input: &str) -> Output {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut child = Command::new("ip")
        .args(["netns", "exec", ns.name()])
        .args(argv)
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {argv:?}: {e}"));
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .unwrap_or_else(|e| panic!("write to {argv:?}: {e}"));
    child
        .wait_with_output()
        .unwrap_or_else(|e| panic!("wait for {argv:?}: {e}"))
}

/// [`restore`] without extra flags; panics with its stderr on failure.
pub fn restore_ok(ns: &Netns, program: &str, input: &str) {
    let out = restore(ns, program, &[], input);
    assert!(out.status.success(), "{}", text(&out.stderr));
}

/// Counts in `ns`, in an nft table `seen` of `family` of its own (before
/// any other input hook), the arriving packets each of `tests` (nft
/// syntax, e.g. `ip ttl 33`) matches.
pub fn count_arrivals(ns: &Netns, family: &str, tests: &[String]) {
    let rules: String = tests.iter().map(|t| format!("  {t} counter\n")).collect();
    let table = format!(
        "table {family} seen {{\n chain input {{\n  type filter hook input priority -300;\n{rules} }}\n}}\n"
    );
    ns.exec_input(&["nft", "-f", "-"], &table).unwrap();
}

/// The packet counts of [`count_arrivals`]' table in `ns`, in rule order.
pub fn arrivals(ns: &Netns, family: &str) -> Vec<u64> {
    ns.exec_ok(&["nft", "list", "table", family, "seen"])
        .unwrap()
        .split("counter packets ")
        .skip(1)
        .map(|rest| rest.split_whitespace().next().unwrap().parse().unwrap())
        .collect()
}

/// The packet counter of the first `-vnL` line of `chain` whose text contains `needle`.
pub fn packets_of(listing: &str, chain: &str, needle: &str) -> u64 {
    let mut in_chain = false;
    for line in listing.lines() {
        if line.starts_with("Chain ") {
            in_chain = line.starts_with(&format!("Chain {chain} "));
            continue;
        }
        if in_chain && line.contains(needle) {
            let first = line.split_whitespace().next().expect("counter column");
            return parse_scaled(first);
        }
    }
    panic!("no line containing {needle:?} in chain {chain} of:\n{listing}");
}

fn parse_scaled(text: &str) -> u64 {
    let (digits, factor) = match text.chars().last() {
        Some('K') => (&text[..text.len() - 1], 1_000),
        Some('M') => (&text[..text.len() - 1], 1_000_000),
        Some('G') => (&text[..text.len() - 1], 1_000_000_000),
        _ => (text, 1),
    };
    digits.parse::<u64>().expect("counter") * factor
}

/// The whole kernel ruleset of `ns`, as nft prints it.
pub fn nft_ruleset(ns: &Netns) -> String {
    ns.exec_ok(&["nft", "list", "ruleset"])
        .expect("nft list ruleset")
}

/// Whether a TCP connection from `from` to `addr:port` gets through (1 s timeout).
pub fn connects(from: &Netns, addr: impl Into<IpAddr>, port: u16) -> bool {
    tcp_connect(from, addr, port).unwrap().is_connected()
}

/// Whether a TCP connection from `from` to `addr:port` gets through within [`QUICK`].
pub fn connects_quickly(from: &Netns, addr: impl Into<IpAddr>, port: u16) -> bool {
    tcp_connect_timeout(from, addr, port, QUICK)
        .unwrap()
        .is_connected()
}

/// Whether `client` reaches the lab server's port 8080 (IPv4 or IPv6) within [`QUICK`].
pub fn reaches_server(client: &Netns, v6: bool) -> bool {
    let addr: IpAddr = if v6 {
        SERVER_V6.into()
    } else {
        SERVER_V4.into()
    };
    connects_quickly(client, addr, 8080)
}

/// The lab server's port 8080 (IPv4 and IPv6), as [`reaches_server`] tries it.
pub fn serve_8080(lab: &Topology) -> [TcpServer; 2] {
    [
        TcpServer::start(&lab.server, SERVER_V4, 8080).unwrap(),
        TcpServer::start(&lab.server, SERVER_V6, 8080).unwrap(),
    ]
}

/// Connects from `from` to `addr:port`, asserts that `banner` answered, and
/// returns the source address `server` saw for the connection.
pub fn source_seen(
    server: &TcpServer,
    from: &Netns,
    addr: impl Into<IpAddr>,
    port: u16,
    banner: &str,
) -> Option<IpAddr> {
    let outcome = tcp_connect(from, addr, port).unwrap();
    assert_eq!(
        outcome,
        TcpOutcome::Connected {
            banner: banner.into()
        }
    );
    server.last_peer().map(|p| p.ip())
}

/// TCP servers in `ns` on `addr`, one for each of `ports`.
pub fn servers(ns: &Netns, addr: impl Into<IpAddr>, ports: &[u16]) -> Vec<TcpServer> {
    let addr = addr.into();
    ports
        .iter()
        .map(|&port| TcpServer::start(ns, addr, port).unwrap())
        .collect()
}

/// A TCP server on `port` for each of the three inside hosts (10.99.2.2, .3, .4).
pub fn backends(lab: &Topology, port: u16) -> Vec<TcpServer> {
    [SERVER_V4, SERVER_EXTRA_V4[0], SERVER_EXTRA_V4[1]]
        .into_iter()
        .map(|addr| TcpServer::start(&lab.server, addr, port).unwrap())
        .collect()
}

/// How many of `n` connections from the client to the gateway's port 80
/// got each banner (a failed one counts under its outcome).
pub fn backend_shares(lab: &Topology, n: usize) -> HashMap<String, usize> {
    let mut shares = HashMap::new();
    for _ in 0..n {
        let outcome = tcp_connect(&lab.client, GATEWAY_LAN_V4, 80).unwrap();
        let banner = outcome
            .banner()
            .map(str::to_string)
            .unwrap_or_else(|| format!("{outcome:?}"));
        *shares.entry(banner).or_default() += 1;
    }
    shares
}

/// A small deterministic generator (xorshift) for generated rulesets and traffic.
pub struct Rng(pub u64);

impl Rng {
    /// The next 64 random bits.
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A number below `n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// One of `from`.
    pub fn pick<T: Copy>(&mut self, from: &[T]) -> T {
        from[self.below(from.len() as u64) as usize]
    }

    /// True one time in `one_in`.
    pub fn chance(&mut self, one_in: u64) -> bool {
        self.below(one_in) == 0
    }
}

/// Sends one raw IPv4 packet of protocol `proto` with `payload` from `ns`
/// to `addr` (the kernel writes the IP header).
pub fn send_raw(ns: &Netns, proto: i32, addr: std::net::Ipv4Addr, payload: &[u8]) {
    use socket2::{Domain, Socket, Type};
    ns.run(|| {
        let socket = Socket::new(Domain::IPV4, Type::RAW, Some(proto.into())).expect("raw socket");
        let to = std::net::SocketAddr::new(addr.into(), 0).into();
        socket.send_to(payload, &to).expect("send");
    })
    .expect("run in the namespace");
}

/// Sends one UDP datagram to port `port` of `to` from `ns` with `from` as
/// its source address, whoever owns it (the test writes the IP header), as
/// a spoofing host would. The UDP checksum is left out (0), so only
/// firewall rules see an IPv6 one.
pub fn send_spoofed_udp(ns: &Netns, from: IpAddr, to: IpAddr, port: u16) {
    use socket2::{Domain, Socket, Type};
    const IPPROTO_UDP: u8 = 17;
    const IPPROTO_RAW: i32 = 255;
    let mut udp = Vec::with_capacity(10);
    udp.extend_from_slice(&40000u16.to_be_bytes());
    udp.extend_from_slice(&port.to_be_bytes());
    udp.extend_from_slice(&10u16.to_be_bytes());
    udp.extend_from_slice(&[0, 0, b'r', b'p']);
    let (domain, mut packet) = match (from, to) {
        (IpAddr::V4(src), IpAddr::V4(dst)) => {
            // Version 4, 20-byte header, total length, TTL 64; the kernel
            // fills in the identification and the header checksum.
            let mut header = vec![0x45, 0];
            header.extend_from_slice(&(20 + udp.len() as u16).to_be_bytes());
            header.extend_from_slice(&[0, 0, 0, 0, 64, IPPROTO_UDP, 0, 0]);
            header.extend_from_slice(&src.octets());
            header.extend_from_slice(&dst.octets());
            (Domain::IPV4, header)
        }
        (IpAddr::V6(src), IpAddr::V6(dst)) => {
            let mut header = vec![0x60, 0, 0, 0];
            header.extend_from_slice(&(udp.len() as u16).to_be_bytes());
            header.extend_from_slice(&[IPPROTO_UDP, 64]);
            header.extend_from_slice(&src.octets());
            header.extend_from_slice(&dst.octets());
            (Domain::IPV6, header)
        }
        _ => panic!("{from} and {to} are of different families"),
    };
    packet.extend_from_slice(&udp);
    ns.run(|| {
        let socket = Socket::new(domain, Type::RAW, Some(IPPROTO_RAW.into())).expect("raw socket");
        let to = std::net::SocketAddr::new(to, 0).into();
        socket.send_to(&packet, &to).expect("send");
    })
    .expect("run in the namespace");
}

/// The packet counts of the `-vnL` lines of `listing` that hold `needle`,
/// in order.
pub fn packet_counts(listing: &str, needle: &str) -> Vec<u64> {
    listing
        .lines()
        .filter(|l| l.contains(needle))
        .map(|l| parse_scaled(l.split_whitespace().next().expect("counter column")))
        .collect()
}
