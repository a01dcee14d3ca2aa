//! Balanced services that notice dead backends (issue 13), with real
//! traffic: the client connects to the gateway's public address; three
//! backends listen in the server namespace (10.99.2.2, .3, .4); `moat
//! daemon` on the gateway checks them and edits the kernel's slot map.

mod common;
mod config_common;
mod daemon_common;

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

use config_common::{config_lab, moat_ok, Scratch};
use daemon_common::{moat_in, text, wait_until, Daemon};
use moat_testnet::topology::{GATEWAY_LAN_V4, SERVER_EXTRA_V4, SERVER_V4};
use moat_testnet::{tcp_connect_timeout, TcpOutcome, TcpServer, Topology};

const CONFIG: &str = r#"
[[balance]]
name = "web"
port = 80
address = "10.99.1.1"
check = "tcp"
interval = 0.2
timeout = 0.2
fall = 2
rise = 2
backends = [
  { to = "10.99.2.2:8080", weight = 2 },
  { to = "10.99.2.3:8080" },
  { to = "10.99.2.4:8080" },
]

[[balance]]
name = "api"
port = 81
address = "10.99.1.1"
mode = "round-robin"
check = "tcp"
interval = 0.2
timeout = 0.2
backends = [
  { to = "10.99.2.2:9090" },
  { to = "10.99.2.3:9090" },
  { to = "10.99.2.4:9090", backup = true },
]
"#;

fn connect(lab: &Topology, port: u16) -> TcpOutcome {
    tcp_connect_timeout(&lab.client, GATEWAY_LAN_V4, port, Duration::from_secs(1)).unwrap()
}

/// Outcomes of `n` connections to `port`, by banner (the backend reached) or outcome.
fn shares(lab: &Topology, port: u16, n: usize) -> HashMap<String, usize> {
    let mut out = HashMap::new();
    for _ in 0..n {
        let key = match connect(lab, port) {
            TcpOutcome::Connected { banner } => banner,
            other => format!("{other:?}"),
        };
        *out.entry(key).or_default() += 1;
    }
    out
}

fn listen(lab: &Topology, addr: std::net::Ipv4Addr, port: u16) -> TcpServer {
    TcpServer::start(&lab.server, addr, port).unwrap()
}

/// Connects to `port` in a steady stream until `done` holds; returns how
/// many connections no backend served and how long it took.
fn stream_until(lab: &Topology, port: u16, mut done: impl FnMut() -> bool) -> (usize, Duration) {
    let start = Instant::now();
    let mut failed = 0;
    while !done() {
        assert!(start.elapsed() < Duration::from_secs(15), "gave up waiting");
        // Through a proxy the handshake always completes: a connection
        // counts as served only when a backend's banner arrives.
        let served = connect(lab, port)
            .banner()
            .is_some_and(|b| b.starts_with("10.99.2."));
        if !served {
            failed += 1;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    (failed, start.elapsed())
}

fn lab() -> Option<(Topology, Scratch)> {
    config_lab()
}

#[test]
fn dead_backends_leave_the_rotation_and_come_back() {
    let Some((lab, scratch)) = lab() else { return };
    let [b2, b3, b4] = [SERVER_V4, SERVER_EXTRA_V4[0], SERVER_EXTRA_V4[1]];
    let mut web: Vec<Option<TcpServer>> = [b2, b3, b4].map(|a| Some(listen(&lab, a, 8080))).into();
    let config = scratch.file("moat.toml", CONFIG);
    let out = moat_ok(&lab.gateway, &scratch, &["apply", config.to_str().unwrap()]);
    assert!(
        out.contains("balanced services in table inet moat_lb: web, api"),
        "{out}"
    );
    // Without a daemon the kernel already balances by weight: 2:1:1.
    let got = shares(&lab, 80, 400);
    assert_eq!(got.values().sum::<usize>(), 400, "{got:?}");
    let daemon = Daemon::start(&lab.gateway, &scratch.dir, &config, "balance");
    daemon.wait_for("[balance] started");
    // Weights hold over 3,000 connections: 1,500 / 750 / 750 within four
    // standard deviations of the random choice (27 and 24 connections).
    let got = shares(&lab, 80, 3000);
    let share = |k: &str| got.get(k).copied().unwrap_or(0);
    assert!((1390..=1610).contains(&share("10.99.2.2:8080")), "{got:?}");
    assert!((655..=845).contains(&share("10.99.2.3:8080")), "{got:?}");
    assert!((655..=845).contains(&share("10.99.2.4:8080")), "{got:?}");

    // Kill .3's listener: it is out within fall x interval + one interval (+ slack).
    web[1] = None;
    let without_b3 = "service web: new connections go to 10.99.2.2:8080, 10.99.2.4:8080";
    let (failed, took) = stream_until(&lab, 80, || daemon.output().contains(without_b3));
    assert!(took < Duration::from_secs(3), "took {took:?}");
    eprintln!("listener killed: out after {took:?}, {failed} failed connections meanwhile");
    let got = shares(&lab, 80, 300);
    assert_eq!(
        share_of(&got, "10.99.2.2:8080") + share_of(&got, "10.99.2.4:8080"),
        300,
        "{got:?}"
    );
    let status = moat_ok(&lab.gateway, &scratch, &["balance", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&status).unwrap();
    let web_b3 = &v["services"][0]["backends"][1];
    assert_eq!(web_b3["state"], "down", "{status}");
    assert_eq!(web_b3["in_rotation"], false, "{status}");
    assert!(
        web_b3["reason"].as_str().unwrap().contains("connect"),
        "{status}"
    );
    // The kernel counted every connection the balancer sent on: 400 + 3,000 + 300 and the stream.
    let counted: u64 = v["services"][0]["backends"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["new_connections"].as_u64().unwrap())
        .sum();
    assert!((3700..4200).contains(&counted), "{status}");
    let overview = moat_ok(&lab.gateway, &scratch, &["status"]);
    assert!(
        overview.contains("now: 10.99.2.2:8080 up, 10.99.2.3:8080 DOWN (connect"),
        "{overview}"
    );

    // It comes back after rise x interval and gets its share again.
    web[1] = Some(listen(&lab, b3, 8080));
    daemon.wait_for("backend 10.99.2.3:8080 is up");
    let got = shares(&lab, 80, 400);
    assert!(share_of(&got, "10.99.2.3:8080") > 50, "{got:?}");

    // Drop its packets instead: the checks time out and it is out again.
    lab.server
        .exec_ok(&[
            "nft",
            "add table inet t; add chain inet t in { type filter hook input priority 0; }; add rule inet t in ip daddr 10.99.2.3 tcp dport 8080 drop",
        ])
        .unwrap();
    let (_, took) = stream_until(&lab, 80, || {
        daemon.output().matches(without_b3).count() == 2
    });
    assert!(took < Duration::from_secs(3), "took {took:?}");
    let got = shares(&lab, 80, 200);
    assert_eq!(share_of(&got, "10.99.2.3:8080"), 0, "{got:?}");
    assert_eq!(got.values().sum::<usize>(), 200);
    assert!(got.keys().all(|k| k.starts_with("10.99.2.")), "{got:?}");
    lab.server.exec_ok(&["nft", "delete table inet t"]).unwrap();

    // Every backend down: new connections are refused at once, not left to time out.
    web = vec![None, None, None];
    wait_until("every web backend is down", 5, || {
        daemon
            .output()
            .contains("service web: every backend is down")
    });
    let start = Instant::now();
    let outcome = connect(&lab, 80);
    assert_eq!(outcome, TcpOutcome::Refused);
    assert!(start.elapsed() < Duration::from_millis(500));
    drop(web);
}

fn share_of(got: &HashMap<String, usize>, key: &str) -> usize {
    got.get(key).copied().unwrap_or(0)
}

#[test]
fn a_backup_takes_over_when_every_primary_is_down() {
    let Some((lab, scratch)) = lab() else { return };
    let [b2, b3, b4] = [SERVER_V4, SERVER_EXTRA_V4[0], SERVER_EXTRA_V4[1]];
    let mut api: Vec<Option<TcpServer>> = [b2, b3, b4].map(|a| Some(listen(&lab, a, 9090))).into();
    let config = scratch.file("moat.toml", CONFIG);
    moat_ok(&lab.gateway, &scratch, &["apply", config.to_str().unwrap()]);
    let daemon = Daemon::start(&lab.gateway, &scratch.dir, &config, "backup");
    daemon.wait_for("[balance] started");
    // Round robin over the two primaries: exactly equal, the backup idle.
    let got = shares(&lab, 81, 100);
    assert_eq!(share_of(&got, "10.99.2.2:9090"), 50, "{got:?}");
    assert_eq!(share_of(&got, "10.99.2.3:9090"), 50, "{got:?}");
    api[0] = None;
    api[1] = None;
    daemon.wait_for("service api: new connections go to 10.99.2.4:9090");
    let got = shares(&lab, 81, 50);
    assert_eq!(share_of(&got, "10.99.2.4:9090"), 50, "{got:?}");
    // A primary back: the backup stops taking new connections.
    // (The same line may have come already, had .3 died before .2.)
    let only_b2 = "service api: new connections go to 10.99.2.2:9090\n";
    let before = daemon.output().matches(only_b2).count();
    api[0] = Some(listen(&lab, b2, 9090));
    wait_until("the primary is back", 10, || {
        daemon.output().matches(only_b2).count() > before
    });
    let got = shares(&lab, 81, 20);
    assert_eq!(share_of(&got, "10.99.2.2:9090"), 20, "{got:?}");
    drop(api);
}

/// Two backends, .2 and .3, on port 8080, checked every `interval` seconds.
fn two_backends(interval: &str, fall: u32, weight: u32) -> String {
    format!(
        r#"
[[balance]]
name = "web"
port = 80
address = "10.99.1.1"
check = "tcp"
interval = {interval}
timeout = 0.2
fall = {fall}
rise = 2
backends = [{{ to = "10.99.2.2:8080", weight = {weight} }}, {{ to = "10.99.2.3:8080" }}]
"#
    )
}

/// The backends the gateway's slot map of service `web` holds now.
/// Writes `text` to the scratch file `name` and applies it on the gateway.
fn apply_file(lab: &Topology, scratch: &Scratch, name: &str, text: &str) {
    let config = scratch.file(name, text);
    moat_ok(&lab.gateway, scratch, &["apply", config.to_str().unwrap()]);
}

fn in_slots(lab: &Topology) -> BTreeSet<String> {
    let listing = lab
        .gateway
        .exec_ok(&["nft", "-j", "list", "table", "inet", "moat_lb"])
        .unwrap();
    let doc: serde_json::Value = serde_json::from_str(&listing).unwrap();
    moat_balance::kernel::parse_listing(&doc)
        .get("b0")
        .map(|k| k.slots.iter().map(ToString::to_string).collect())
        .unwrap_or_default()
}

/// `nft flush ruleset; moat boot` on the gateway, with the test's directories.
fn flush_and_boot(lab: &Topology, scratch: &Scratch) {
    lab.gateway.exec_ok(&["nft", "flush", "ruleset"]).unwrap();
    let out = moat_in(&lab.gateway, &scratch.dir, &["boot"]);
    assert!(out.status.success(), "moat boot: {}", text(&out.stderr));
}

/// The daemon's view of backend `index` of service `web` (`moat balance --json`).
fn backend_status(lab: &Topology, scratch: &Scratch, index: usize) -> serde_json::Value {
    let status = moat_ok(&lab.gateway, scratch, &["balance", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&status).unwrap();
    v["services"][0]["backends"][index].clone()
}

#[test]
fn boot_and_hand_edits_never_put_a_dead_backend_back() {
    let Some((lab, scratch)) = lab() else { return };
    let b2 = listen(&lab, SERVER_V4, 8080);
    let config = scratch.file("moat.toml", &two_backends("0.2", 2, 1));
    moat_ok(&lab.gateway, &scratch, &["apply", config.to_str().unwrap()]);
    let daemon = Daemon::start(&lab.gateway, &scratch.dir, &config, "boot");
    daemon.wait_for("service web: new connections go to 10.99.2.2:8080\n");
    let only_b2 = BTreeSet::from(["10.99.2.2:8080".to_string()]);
    assert_eq!(in_slots(&lab), only_b2);

    // The ruleset flushed and put back by `moat boot`: the dead .3 stays out.
    flush_and_boot(&lab, &scratch);
    assert_eq!(in_slots(&lab), only_b2);

    // A hand edit puts .3 back: the daemon notices and writes its view again.
    lab.gateway
        .exec_ok(&[
            "nft",
            "flush map inet moat_lb b0.slots; add element inet moat_lb b0.slots { 0 : 10.99.2.2 . 8080, 1 : 10.99.2.3 . 8080 }",
        ])
        .unwrap();
    wait_until("the daemon rewrites the slots", 10, || {
        in_slots(&lab) == only_b2
    });
    assert!(
        daemon
            .output()
            .contains("service web: the kernel's slots do not match"),
        "{}",
        daemon.output()
    );
    assert_eq!(backend_status(&lab, &scratch, 1)["in_rotation"], false);

    // Every backend down: boot leaves the map empty, so new connections are refused at once.
    drop(b2);
    daemon.wait_for("service web: every backend is down");
    flush_and_boot(&lab, &scratch);
    assert_eq!(in_slots(&lab), BTreeSet::new());
    let start = Instant::now();
    assert_eq!(connect(&lab, 80), TcpOutcome::Refused);
    assert!(start.elapsed() < Duration::from_millis(500));
}

#[test]
fn a_changed_apply_keeps_a_dead_backend_out() {
    let Some((lab, scratch)) = lab() else { return };
    let _b2 = listen(&lab, SERVER_V4, 8080);
    // Slow checks: a reload that forgot .3 was down would take it back for seconds.
    apply_file(&lab, &scratch, "a.toml", &two_backends("2", 3, 1));
    let daemon = Daemon::start_with(&lab.gateway, &scratch.dir, &[], "changed");
    daemon.wait_for("service web: new connections go to 10.99.2.2:8080\n");
    let failures = backend_status(&lab, &scratch, 1)["failures"]
        .as_u64()
        .unwrap();
    assert!(failures >= 3, "{failures}");

    // Only a weight changes: the new map never holds .3.
    apply_file(&lab, &scratch, "b.toml", &two_backends("2", 3, 2));
    let only_b2 = BTreeSet::from(["10.99.2.2:8080".to_string()]);
    assert_eq!(in_slots(&lab), only_b2);
    daemon.wait_for("[daemon] configuration reloaded");
    assert_eq!(in_slots(&lab), only_b2);
    // The daemon kept .3's state and history across the reload.
    let b3 = backend_status(&lab, &scratch, 1);
    assert_eq!(b3["state"], "down", "{b3}");
    assert!(b3["failures"].as_u64().unwrap() >= failures, "{b3}");
}

#[test]
fn a_hand_edited_file_at_reload_keeps_the_running_checks() {
    let Some((lab, scratch)) = lab() else { return };
    let _b2 = listen(&lab, SERVER_V4, 8080);
    let b3 = listen(&lab, SERVER_EXTRA_V4[0], 8080);
    apply_file(&lab, &scratch, "a.toml", &two_backends("0.2", 2, 1));
    let daemon = Daemon::start_with(&lab.gateway, &scratch.dir, &[], "edited");
    daemon.wait_for("[balance] started");

    // A backend added to the kept file by hand, not applied, then SIGHUP.
    let kept = scratch.etc().join("moat.toml");
    let edited = std::fs::read_to_string(&kept)
        .unwrap()
        .replace("backends = [", "backends = [{ to = \"10.99.2.4:8080\" }, ");
    std::fs::write(&kept, edited).unwrap();
    let hup = std::process::Command::new("kill")
        .args(["-HUP", &daemon.pid().to_string()])
        .status()
        .unwrap();
    assert!(hup.success());
    daemon.wait_for("reload failed, the running configuration stays: the kernel does not hold balanced service(s) web");

    // The running checks go on: a backend that dies leaves the rotation.
    assert_eq!(backend_status(&lab, &scratch, 1)["state"], "up");
    drop(b3);
    daemon.wait_for("service web: new connections go to 10.99.2.2:8080\n");
    assert_eq!(
        in_slots(&lab),
        BTreeSet::from(["10.99.2.2:8080".to_string()])
    );
}

/// One failover try's figures.
struct Failover {
    /// From the kill to the balancer's decision (its log line).
    removal: Duration,
    /// New connections that failed meanwhile (a stream of one every ~10 ms).
    failed: usize,
}

/// Kills backend `victim` (its listener in `web`), streams new connections
/// to `port` until `decided` holds, then restarts it and waits for `back`.
fn failover_try(
    lab: &Topology,
    web: &mut [Option<TcpServer>],
    victim: usize,
    port: u16,
    decided: &mut dyn FnMut() -> bool,
    back: &mut dyn FnMut() -> bool,
) -> Failover {
    let addr = [SERVER_V4, SERVER_EXTRA_V4[0], SERVER_EXTRA_V4[1]][victim];
    web[victim] = None;
    let (failed, removal) = stream_until(lab, port, decided);
    web[victim] = Some(listen(lab, addr, 8080));
    wait_until("the backend is back", 10, back);
    Failover { removal, failed }
}

/// A process's peak resident memory (VmHWM), in KiB.
fn peak_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

fn report(who: &str, mut tries: Vec<Failover>) {
    let n = tries.len();
    tries.sort_by_key(|t| t.removal);
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let (median, max) = (tries[n / 2].removal, tries[n - 1].removal);
    let mut failed: Vec<usize> = tries.iter().map(|t| t.failed).collect();
    failed.sort();
    println!(
        "failover {who}: {n} tries, removal median {:.0} ms, max {:.0} ms; failed new connections per try median {}, max {}",
        ms(median),
        ms(max),
        failed[n / 2],
        failed[n - 1]
    );
}

/// Ends every process whose command line holds its text (`pkill -f`) when
/// dropped, also when a test fails: the benchmark's haproxy.
struct Pkill(String);

impl Drop for Pkill {
    fn drop(&mut self) {
        let _ = std::process::Command::new("pkill")
            .args(["-f", &self.0])
            .status();
    }
}

const HAPROXY: &str = "global
    maxconn 1000
defaults
    mode tcp
    timeout connect 1s
    timeout client 5s
    timeout server 5s
frontend web
    bind 10.99.1.1:85
    default_backend web
backend web
    balance random
    default-server inter 500ms fall 2 rise 2
    server b2 10.99.2.2:8080 check weight 2
    server b3 10.99.2.3:8080 check
    server b4 10.99.2.4:8080 check
";

/// `bash bench/balance.sh`: time from a backend's death (its listener
/// killed) to its removal, and the new connections that failed meanwhile,
/// over 20 tries each, with the same checks (every 0.5 s, down after 2,
/// up after 2): moat (kernel DNAT, the daemon's map) and HAProxy (a TCP
/// proxy, Debian's package) side by side. Prints the figures; asserts
/// nothing about time.
#[test]
#[ignore = "benchmark: run with bench/balance.sh"]
fn failover_benchmark() {
    let Some((lab, scratch)) = lab() else { return };
    let all = [SERVER_V4, SERVER_EXTRA_V4[0], SERVER_EXTRA_V4[1]];
    let config = CONFIG.replace(
        "interval = 0.2\ntimeout = 0.2",
        "interval = 0.5\ntimeout = 0.5",
    );
    let mut web: Vec<Option<TcpServer>> = all.map(|a| Some(listen(&lab, a, 8080))).into();
    let config = scratch.file("moat.toml", &config);
    moat_ok(&lab.gateway, &scratch, &["apply", config.to_str().unwrap()]);
    let daemon = Daemon::start(&lab.gateway, &scratch.dir, &config, "bench");
    daemon.wait_for("[balance] started");
    let mut tries = Vec::new();
    for round in 1..=20 {
        let victim = [1, 2][round % 2];
        let rest: Vec<String> = (0..3)
            .filter(|&i| i != victim)
            .map(|i| format!("{}:8080", all[i]))
            .collect();
        let out = format!("service web: new connections go to {}\n", rest.join(", "));
        let back = format!("backend {}:8080 is up", all[victim]);
        let (outs, ups) = (
            daemon.output().matches(&out).count(),
            daemon.output().matches(&back).count(),
        );
        tries.push(failover_try(
            &lab,
            &mut web,
            victim,
            80,
            &mut || daemon.output().matches(&out).count() > outs,
            &mut || daemon.output().matches(&back).count() > ups,
        ));
    }
    let moat_peak = peak_kib(daemon.pid());
    drop(daemon);
    report("moat", tries);
    println!("moat daemon peak memory: {moat_peak} KiB");

    // HAProxy alone on the gateway: moat's tables go (this namespace is the test's own).
    lab.gateway.exec_ok(&["nft", "flush", "ruleset"]).unwrap();
    let cfg = scratch.file("haproxy.cfg", HAPROXY);
    let log = scratch.dir.join("haproxy.log");
    let mut haproxy = std::process::Command::new("ip")
        .args(["netns", "exec", lab.gateway.name(), "haproxy", "-db", "-f"])
        .arg(&cfg)
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("start haproxy (apt-get install haproxy)");
    let _stop_haproxy = Pkill(cfg.display().to_string());
    let said = || std::fs::read_to_string(&log).unwrap_or_default();
    wait_until("haproxy listens", 10, || connect(&lab, 85).is_connected());
    let mut tries = Vec::new();
    for round in 1..=20 {
        let victim = [1, 2][round % 2];
        let down = format!("Server web/b{} is DOWN", victim + 2);
        let up = format!("Server web/b{} is UP", victim + 2);
        let (downs, ups) = (said().matches(&down).count(), said().matches(&up).count());
        tries.push(failover_try(
            &lab,
            &mut web,
            victim,
            85,
            &mut || said().matches(&down).count() > downs,
            &mut || said().matches(&up).count() > ups,
        ));
    }
    // haproxy may run as a process of its own under `ip netns exec`: find
    // it by its (per-test) configuration file, and end it the same way.
    let cfg_text = cfg.display().to_string();
    let found = std::process::Command::new("pgrep")
        .args(["-n", "-f", &cfg_text])
        .output()
        .expect("pgrep");
    let pid: u32 = String::from_utf8_lossy(&found.stdout)
        .trim()
        .parse()
        .expect("haproxy runs");
    let haproxy_peak = peak_kib(pid);
    let _ = haproxy.kill();
    let _ = haproxy.wait();
    report("haproxy", tries);
    println!("haproxy peak memory: {haproxy_peak} KiB");
    drop(web);
}

/// An HTTP health endpoint in the server namespace answering every request
/// with the status in `status`; stops when dropped.
struct HealthEndpoint {
    status: std::sync::Arc<std::sync::atomic::AtomicU16>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl HealthEndpoint {
    fn start(lab: &Topology, addr: std::net::Ipv4Addr, port: u16) -> HealthEndpoint {
        use std::io::{Read, Write};
        use std::sync::atomic::{AtomicBool, AtomicU16, Ordering};
        use std::sync::Arc;
        let listener = lab
            .server
            .run(|| std::net::TcpListener::bind((addr, port)))
            .unwrap()
            .unwrap();
        listener.set_nonblocking(true).unwrap();
        let status = Arc::new(AtomicU16::new(200));
        let stop = Arc::new(AtomicBool::new(false));
        let (s, st) = (Arc::clone(&status), Arc::clone(&stop));
        let thread = std::thread::spawn(move || {
            while !st.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((mut conn, _)) => {
                        let _ = conn.set_nonblocking(false);
                        let _ = conn.set_read_timeout(Some(Duration::from_millis(500)));
                        let mut buf = [0u8; 512];
                        let _ = conn.read(&mut buf);
                        let code = s.load(Ordering::Relaxed);
                        let reply = format!("HTTP/1.0 {code} Status\r\nContent-Length: 0\r\n\r\n");
                        let _ = conn.write_all(reply.as_bytes());
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        HealthEndpoint {
            status,
            stop,
            thread: Some(thread),
        }
    }

    fn answer(&self, code: u16) {
        self.status
            .store(code, std::sync::atomic::Ordering::Relaxed);
    }
}

impl Drop for HealthEndpoint {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

const MORE: &str = r#"
[[balance]]
name = "dns"
port = 53
proto = "udp"
address = "10.99.1.1"
check = "tcp"
check_port = 8080
interval = 0.2
timeout = 0.2
backends = [{ to = "10.99.2.2:5353" }, { to = "10.99.2.3:5353" }]

[[balance]]
name = "site"
port = 82
address = "10.99.1.1"
check = "http"
path = "/health"
check_port = 8081
interval = 0.2
timeout = 0.2
backends = [{ to = "10.99.2.2:9191" }, { to = "10.99.2.3:9191" }]

[[balance]]
name = "sticky"
port = 83
address = "10.99.1.1"
mode = "hash"
check = "tcp"
interval = 0.2
timeout = 0.2
backends = [{ to = "10.99.2.2:7070" }, { to = "10.99.2.3:7070" }, { to = "10.99.2.4:7070" }]

[[balance]]
name = "affine"
port = 84
address = "10.99.1.1"
affinity = "source"
check = "tcp"
interval = 0.2
timeout = 0.2
backends = [{ to = "10.99.2.2:7171" }, { to = "10.99.2.3:7171" }, { to = "10.99.2.4:7171", drain = true }]
"#;

/// Sends one datagram from `sock` (a fixed client port) and returns the
/// backend that answered, or `None`.
fn udp_backend(sock: &std::net::UdpSocket) -> Option<String> {
    sock.send(b"which").ok()?;
    let mut buf = [0u8; 128];
    let n = sock.recv(&mut buf).ok()?;
    Some(String::from_utf8_lossy(&buf[..n]).into_owned())
}

#[test]
fn udp_flows_and_http_checks_move_off_a_failing_backend() {
    let Some((lab, scratch)) = lab() else { return };
    let [b2, b3] = [SERVER_V4, SERVER_EXTRA_V4[0]];
    let mut checks: Vec<Option<TcpServer>> = [b2, b3].map(|a| Some(listen(&lab, a, 8080))).into();
    let _echo: Vec<moat_testnet::UdpEcho> = [b2, b3]
        .map(|a| moat_testnet::UdpEcho::start(&lab.server, a, 5353).unwrap())
        .into();
    let _site: Vec<TcpServer> = [b2, b3].map(|a| listen(&lab, a, 9191)).into();
    let health: Vec<HealthEndpoint> = [b2, b3]
        .map(|a| HealthEndpoint::start(&lab, a, 8081))
        .into();
    let config = scratch.file("moat.toml", MORE);
    moat_ok(&lab.gateway, &scratch, &["apply", config.to_str().unwrap()]);
    let daemon = Daemon::start(&lab.gateway, &scratch.dir, &config, "more");
    daemon.wait_for("[balance] started");

    // One UDP flow (one client port) sticks to one backend through conntrack.
    let sock = lab
        .client
        .run(|| std::net::UdpSocket::bind((moat_testnet::topology::CLIENT_V4, 40053)))
        .unwrap()
        .unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    sock.connect((GATEWAY_LAN_V4, 53)).unwrap();
    let first = udp_backend(&sock).expect("a UDP answer through the balancer");
    for _ in 0..5 {
        assert_eq!(udp_backend(&sock).as_deref(), Some(first.as_str()));
    }
    // Its backend fails its checks (its UDP server still answers): the
    // daemon forgets the flow's conntrack entry, so the flow's next
    // datagram goes to the other backend.
    let (dead, live) = if first.starts_with("10.99.2.2:") {
        (0, "10.99.2.3:5353")
    } else {
        (1, "10.99.2.2:5353")
    };
    checks[dead] = None;
    let rotation = format!("service dns: new connections go to {live}");
    wait_until("the dns rotation changes", 5, || {
        daemon.output().contains(&rotation)
    });
    wait_until("the flow moves", 5, || {
        udp_backend(&sock).as_deref() == Some(live)
    });
    assert!(
        daemon.output().contains("udp connection(s) to"),
        "{}",
        daemon.output()
    );

    // HTTP 500 from .3's health endpoint takes it out; 200 brings it back.
    let got = shares(&lab, 82, 40);
    assert_eq!(
        share_of(&got, "10.99.2.2:9191") + share_of(&got, "10.99.2.3:9191"),
        40
    );
    health[1].answer(500);
    daemon.wait_for("service site: new connections go to 10.99.2.2:9191\n");
    assert!(
        daemon
            .output()
            .contains("backend 10.99.2.3:9191 is down (HTTP status 500, expected 200-399)"),
        "{}",
        daemon.output()
    );
    let got = shares(&lab, 82, 40);
    assert_eq!(share_of(&got, "10.99.2.2:9191"), 40, "{got:?}");
    health[1].answer(200);
    daemon.wait_for("service site: new connections go to 10.99.2.2:9191, 10.99.2.3:9191");
    drop(health);
}

#[test]
fn hash_affinity_and_drain_keep_clients_where_they_were() {
    let Some((lab, scratch)) = lab() else { return };
    let all = [SERVER_V4, SERVER_EXTRA_V4[0], SERVER_EXTRA_V4[1]];
    let mut sticky: Vec<Option<TcpServer>> = all.map(|a| Some(listen(&lab, a, 7070))).into();
    let mut affine: Vec<Option<TcpServer>> = all.map(|a| Some(listen(&lab, a, 7171))).into();
    let config = scratch.file("moat.toml", MORE);
    moat_ok(&lab.gateway, &scratch, &["apply", config.to_str().unwrap()]);
    let daemon = Daemon::start(&lab.gateway, &scratch.dir, &config, "sticky");
    daemon.wait_for("[balance] started");
    let index = |banner: &str| {
        all.iter()
            .position(|a| banner.starts_with(&format!("{a}:")))
            .unwrap()
    };

    // Hash mode: the one client address always lands on one backend.
    let got = shares(&lab, 83, 30);
    assert_eq!(got.len(), 1, "{got:?}");
    let mine = index(got.keys().next().unwrap());
    // Another backend dies: this client stays where it is.
    let other = (mine + 1) % 3;
    sticky[other] = None;
    let live: Vec<String> = (0..3)
        .filter(|&i| i != other)
        .map(|i| format!("{}:7070", all[i]))
        .collect();
    daemon.wait_for(&format!(
        "service sticky: new connections go to {}\n",
        live.join(", ")
    ));
    let got = shares(&lab, 83, 30);
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(index(got.keys().next().unwrap()), mine, "{got:?}");
    // Its own backend dies: it moves to the one left.
    sticky[mine] = None;
    let left = 3 - mine - other;
    daemon.wait_for(&format!(
        "service sticky: new connections go to {}:7070",
        all[left]
    ));
    let got = shares(&lab, 83, 10);
    assert_eq!(
        share_of(&got, &format!("{}:7070", all[left])),
        10,
        "{got:?}"
    );

    // Source affinity: every connection of the client goes where its first
    // went, never to the draining backend; when that one dies the client
    // moves and sticks again.
    let got = shares(&lab, 84, 30);
    assert_eq!(got.len(), 1, "{got:?}");
    let first = index(got.keys().next().unwrap());
    assert_ne!(first, 2, "the draining backend took a new connection");
    affine[first] = None;
    let other = 1 - first;
    daemon.wait_for(&format!(
        "service affine: new connections go to {}:7171",
        all[other]
    ));
    let got = shares(&lab, 84, 30);
    assert_eq!(
        share_of(&got, &format!("{}:7171", all[other])),
        30,
        "{got:?}"
    );
    drop((sticky, affine));
}

/// Handshakes per second over `n` sequential connections to `port` from
/// one thread in the client namespace (connect, then close), and how many
/// completed.
fn connection_rate(lab: &Topology, port: u16, n: usize) -> (f64, usize) {
    let target = std::net::SocketAddr::from((GATEWAY_LAN_V4, port));
    lab.client
        .run(|| {
            let start = Instant::now();
            let done = (0..n)
                .filter(|_| {
                    std::net::TcpStream::connect_timeout(&target, Duration::from_secs(1)).is_ok()
                })
                .count();
            (n as f64 / start.elapsed().as_secs_f64(), done)
        })
        .unwrap()
}

/// `bash bench/balance.sh`: new-connection rate through a 100-backend
/// service: moat's one rule and slot map against Debian's iptables (nf_tables)
/// with seed 002's 100 `statistic` rules (and moat's same filter table).
/// Prints the figures; asserts nothing about time.
#[test]
#[ignore = "benchmark: run with bench/balance.sh"]
fn hundred_backends_benchmark() {
    let Some((lab, scratch)) = lab() else { return };
    let ports: Vec<u16> = (9000..9100).collect();
    let _servers: Vec<TcpServer> = ports.iter().map(|&p| listen(&lab, SERVER_V4, p)).collect();
    let backends: Vec<String> = ports
        .iter()
        .map(|p| format!("{{ to = \"10.99.2.2:{p}\" }}"))
        .collect();
    let config = format!(
        "[[balance]]\nname = \"many\"\nport = 86\naddress = \"10.99.1.1\"\ncheck = \"tcp\"\nbackends = [{}]\n",
        backends.join(", ")
    );
    let config = scratch.file("moat.toml", &config);
    moat_ok(&lab.gateway, &scratch, &["apply", config.to_str().unwrap()]);
    let n = 20_000;
    connection_rate(&lab, 86, 1000);
    let (moat_rate, moat_served) = connection_rate(&lab, 86, n);

    // The baseline gets moat's filter table as it is (the same FORWARD
    // accepts for the backends), so only the balancing differs.
    let saved = moat_ok(&lab.gateway, &scratch, &["iptables-save"]);
    let filter_start = saved.find("*filter").expect("a filter table");
    let filter_end = filter_start + saved[filter_start..].find("COMMIT\n").unwrap() + 7;
    lab.gateway.exec_ok(&["nft", "flush", "ruleset"]).unwrap();
    let mut rules = saved[filter_start..filter_end].to_string();
    rules.push_str("*nat\n");
    for (i, p) in ports.iter().enumerate() {
        let left = ports.len() - i;
        let stat = if left > 1 {
            format!(
                "-m statistic --mode random --probability {:.11} ",
                1.0 / left as f64
            )
        } else {
            String::new()
        };
        rules.push_str(&format!(
            "-A PREROUTING -d 10.99.1.1/32 -p tcp -m tcp --dport 86 {stat}-j DNAT --to-destination 10.99.2.2:{p}\n"
        ));
    }
    rules.push_str("COMMIT\n");
    lab.gateway
        .exec_input(&["iptables-restore"], &rules)
        .unwrap();
    connection_rate(&lab, 86, 1000);
    let (ipt_rate, ipt_served) = connection_rate(&lab, 86, n);

    println!(
        "100 backends, {n} sequential connections: moat {moat_rate:.0}/s ({moat_served} served), iptables-nft 100 statistic rules {ipt_rate:.0}/s ({ipt_served} served), ratio {:.2}",
        moat_rate / ipt_rate
    );
}
