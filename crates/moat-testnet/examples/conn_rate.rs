//! Connection setup rate through a NAT gateway: iptables-nft against moat.
//!
//! Builds four client — gateway — server labs ([`Topology::gateway`]) and
//! loads the same iptables-restore text into their gateways, twice with
//! `iptables-nft-restore` and twice with `<moat> iptables-restore`: once
//! with a single DNAT port forward (the baseline) and once with `--rules N`
//! of them (client-facing ports 10000.., each to the server's port
//! 8000 + i % 4), plus `MASQUERADE` and a stateful `FORWARD`. The client then
//! opens short TCP connections to the gateway (connect, then close with an
//! RST, so no `TIME_WAIT` piles up) to the ports of the first four rules
//! and of the last four (the worst case for a linear rule list). Every
//! measurement stops after `--connections` connections or `--seconds`,
//! whichever comes first; the gateway's conntrack table is flushed before
//! each one, so every connection is new and walks the nat chain. The
//! client runs `--threads` connecting threads (default: one per CPU).
//! Measurements run in `--rounds` rounds, the two tools of a case back to
//! back (which one first alternates), each round starting at another case.
//!
//! Prints one line per case (after a `#` header): rule count, `first` or
//! `last`, the median connections per second of iptables-nft and of moat,
//! the median over rounds of moat / iptables-nft within a round (which
//! cancels load drifting between rounds), each tool's min-max, and failed
//! connects.
//!
//! ```text
//! cargo build --release -p moat-testnet --example conn_rate
//! bin=$(bash scripts/bin-dir.sh)
//! sudo $bin/examples/conn_rate --moat $bin/moat [--rules 1000]
//!     [--connections 20000] [--seconds 10] [--threads N] [--rounds 5]
//! ```

use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use moat_testnet::topology::{GATEWAY_LAN_IF, GATEWAY_LAN_V4, GATEWAY_WAN_IF, SERVER_V4};
use moat_testnet::{Netns, Topology};
use socket2::{Domain, SockRef, Socket, Type};

/// First client-facing port; rule i forwards `FIRST_PORT + i`.
const FIRST_PORT: u16 = 10000;
/// The server listens on `SERVER_PORT .. SERVER_PORT + SERVER_PORTS`.
const SERVER_PORT: u16 = 8000;
const SERVER_PORTS: u16 = 4;
/// How many rules' ports the client cycles through (first or last ones).
const TARGETS: u16 = 4;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

type Error = Box<dyn std::error::Error>;

struct Options {
    moat: String,
    rules: u16,
    connections: usize,
    seconds: u64,
    threads: usize,
    rounds: usize,
}

fn parse_args() -> Result<Options, Error> {
    let mut o = Options {
        moat: String::new(),
        rules: 1000,
        connections: 20_000,
        seconds: 10,
        threads: thread::available_parallelism().map_or(2, |n| n.get()),
        rounds: 5,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().ok_or(format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--moat" => o.moat = value,
            "--rules" => o.rules = value.parse()?,
            "--connections" => o.connections = value.parse()?,
            "--seconds" => o.seconds = value.parse()?,
            "--threads" => o.threads = value.parse()?,
            "--rounds" => o.rounds = value.parse()?,
            _ => return Err(format!("unknown option {flag}").into()),
        }
    }
    if o.moat.is_empty() {
        return Err("--moat PATH is required".into());
    }
    if !(TARGETS..=50_000).contains(&o.rules) || o.threads == 0 || o.rounds == 0 {
        return Err(
            format!("--rules must be {TARGETS}..=50000, --threads and --rounds > 0").into(),
        );
    }
    Ok(o)
}

/// The gateway's ruleset: `n` DNAT port forwards, masquerade, stateful
/// forwarding.
fn gateway_rules(n: u16) -> String {
    let mut s = String::from(
        "*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n",
    );
    for i in 0..n {
        s += &format!(
            "-A PREROUTING -i {GATEWAY_LAN_IF} -p tcp -m tcp --dport {} -j DNAT --to-destination {SERVER_V4}:{}\n",
            FIRST_PORT + i,
            SERVER_PORT + i % SERVER_PORTS
        );
    }
    s += &format!("-A POSTROUTING -o {GATEWAY_WAN_IF} -j MASQUERADE\nCOMMIT\n");
    s += "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n";
    s += "-A FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\n";
    s += &format!(
        "-A FORWARD -i {GATEWAY_LAN_IF} -o {GATEWAY_WAN_IF} -m conntrack --ctstate DNAT -j ACCEPT\nCOMMIT\n"
    );
    s
}

/// Accepts and drops every connection on the server's ports until dropped.
struct Sink {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Sink {
    fn start(ns: &Netns) -> Result<Sink, Error> {
        let listeners = ns.run(|| {
            (SERVER_PORT..SERVER_PORT + SERVER_PORTS)
                .map(|port| listen(SocketAddr::new(SERVER_V4.into(), port)))
                .collect::<io::Result<Vec<_>>>()
        })??;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = thread::spawn(move || accept_all(&listeners, &flag));
        Ok(Sink {
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn listen(addr: SocketAddr) -> io::Result<TcpListener> {
    let sock = Socket::new(Domain::IPV4, Type::STREAM, None)?;
    sock.set_reuse_address(true)?;
    sock.bind(&addr.into())?;
    sock.listen(4096)?;
    sock.set_nonblocking(true)?;
    Ok(sock.into())
}

fn accept_all(listeners: &[TcpListener], stop: &AtomicBool) {
    let mut fds: Vec<libc::pollfd> = listeners
        .iter()
        .map(|l| libc::pollfd {
            fd: l.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    while !stop.load(Ordering::Relaxed) {
        // SAFETY: `fds` is a valid array of `fds.len()` pollfds for the call.
        let rc = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, 100) };
        if rc <= 0 {
            continue;
        }
        for l in listeners {
            while l.accept().is_ok() {}
        }
    }
}

/// One measurement: connections per second and failed connects.
#[derive(Clone, Copy)]
struct Sample {
    rate: f64,
    failed: usize,
}

/// Opens up to `o.connections` connections from the client to the
/// gateway's `ports`, in `o.threads` threads, for at most `o.seconds`.
fn measure(client: &Netns, ports: &[u16], o: &Options) -> Result<Sample, Error> {
    let next = AtomicUsize::new(0);
    let done = AtomicUsize::new(0);
    let failed = AtomicUsize::new(0);
    let start = Instant::now();
    let deadline = start + Duration::from_secs(o.seconds);
    client.run(|| {
        thread::scope(|scope| {
            for _ in 0..o.threads {
                scope.spawn(|| loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= o.connections || Instant::now() >= deadline {
                        break;
                    }
                    let port = ports[i % ports.len()];
                    let target = SocketAddr::new(GATEWAY_LAN_V4.into(), port);
                    match TcpStream::connect_timeout(&target, CONNECT_TIMEOUT) {
                        Ok(stream) => {
                            // Close with an RST: no TIME_WAIT on either side.
                            let _ = SockRef::from(&stream).set_linger(Some(Duration::ZERO));
                            done.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(_) => {
                            failed.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                });
            }
        })
    })?;
    let secs = start.elapsed().as_secs_f64();
    Ok(Sample {
        rate: done.into_inner() as f64 / secs,
        failed: failed.into_inner(),
    })
}

/// A lab whose gateway one tool loaded with `rules` port forwards.
struct Loaded {
    lab: Topology,
    _sink: Sink,
}

fn load(tool: &str, rules: u16, o: &Options) -> Result<Loaded, Error> {
    let lab = Topology::gateway()?;
    let text = gateway_rules(rules);
    match tool {
        "iptables-nft" => lab.gateway.exec_input(&["iptables-nft-restore"], &text)?,
        _ => lab
            .gateway
            .exec_input(&[o.moat.as_str(), "iptables-restore"], &text)?,
    };
    let sink = Sink::start(&lab.server)?;
    Ok(Loaded { lab, _sink: sink })
}

/// Checks that every port reaches the server through the DNAT.
fn check_ports(l: &Loaded, ports: &[u16]) -> Result<(), Error> {
    for &port in ports {
        let target = SocketAddr::new(GATEWAY_LAN_V4.into(), port);
        l.lab
            .client
            .run(|| TcpStream::connect_timeout(&target, CONNECT_TIMEOUT))?
            .map_err(|e| format!("{target} in {}: {e}", l.lab.gateway.name()))?;
    }
    Ok(())
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn range(v: &[f64]) -> String {
    let lo = v.iter().copied().fold(f64::MAX, f64::min);
    let hi = v.iter().copied().fold(0.0, f64::max);
    format!("{lo:.0}-{hi:.0}")
}

const TOOLS: [&str; 2] = ["iptables-nft", "moat"];

/// What one case measures: the labs with `rules` rules, and which ports.
struct Point {
    rules: u16,
    target: &'static str,
    ports: Vec<u16>,
}

fn main() -> Result<(), Error> {
    let o = parse_args()?;
    let ports = |from: u16| {
        (from..from + TARGETS)
            .map(|i| FIRST_PORT + i)
            .collect::<Vec<_>>()
    };
    let points = [
        Point {
            rules: 1,
            target: "first",
            ports: vec![FIRST_PORT],
        },
        Point {
            rules: o.rules,
            target: "first",
            ports: ports(0),
        },
        Point {
            rules: o.rules,
            target: "last",
            ports: ports(o.rules - TARGETS),
        },
    ];
    // labs[i][t]: the rule count of index i ([1, o.rules]) loaded by TOOLS[t].
    let counts = [1, o.rules];
    let mut labs = Vec::new();
    for rules in counts {
        let mut pair = Vec::new();
        for tool in TOOLS {
            pair.push(load(tool, rules, &o)?);
        }
        labs.push(pair);
    }
    let labs_of = |p: &Point| &labs[counts.iter().position(|&c| c == p.rules).unwrap_or(0)];
    for p in &points {
        for lab in labs_of(p) {
            check_ports(lab, &p.ports)?;
        }
    }
    // samples[point][tool], one per round. The two tools of a point run
    // back to back, the first one alternating; each round starts at the
    // next point.
    let mut samples = vec![vec![Vec::new(); TOOLS.len()]; points.len()];
    for round in 0..o.rounds {
        for k in 0..points.len() {
            let i = (round + k) % points.len();
            for j in 0..TOOLS.len() {
                let t = (round + j) % TOOLS.len();
                let lab = &labs_of(&points[i])[t].lab;
                lab.gateway.exec_ok(&["conntrack", "-F"])?;
                samples[i][t].push(measure(&lab.client, &points[i].ports, &o)?);
            }
        }
    }
    println!("# rules target iptables-nft moat moat/iptables(per-round-median) iptables-range moat-range failed");
    for (p, s) in points.iter().zip(&samples) {
        let rates = |t: usize| s[t].iter().map(|x| x.rate).collect::<Vec<_>>();
        let (ipt, moat) = (rates(0), rates(1));
        let ratios = ipt.iter().zip(&moat).map(|(i, m)| m / i).collect();
        let failed: usize = s.iter().flatten().map(|x| x.failed).sum();
        println!(
            "{} {} {:.0} {:.0} {:.2} {} {} {failed}",
            p.rules,
            p.target,
            median(ipt.clone()),
            median(moat.clone()),
            median(ratios),
            range(&ipt),
            range(&moat)
        );
    }
    Ok(())
}
