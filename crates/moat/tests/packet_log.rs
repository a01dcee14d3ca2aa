//! moat's packet log (issue 12): seed 002's LOG rule with `[log] file`
//! set writes one JSON line per new connection to moat's own file (not
//! the kernel log), naming the rule; rotation and logrotate's move plus
//! SIGHUP lose no line while traffic flows; a flood over the rate limit is
//! counted in the file; `moat log tail` reads it back.

mod common;
mod config_common;
mod daemon_common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

use config_common::{config_lab, moat_ok, Scratch};
use daemon_common::{wait_until, Daemon};
use moat_testnet::topology::{Topology, CLIENT_V4, GATEWAY_LAN_V4};
use moat_testnet::{udp_burst, Netns};

/// `GET /metrics` on 127.0.0.1:9469 inside `ns`: the body.
fn scrape(ns: &Netns) -> String {
    ns.run(|| {
        let mut s = TcpStream::connect(("127.0.0.1", 9469)).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.write_all(b"GET /metrics HTTP/1.1\r\nHost: moat\r\n\r\n")
            .unwrap();
        let mut reply = String::new();
        s.read_to_string(&mut reply).unwrap();
        reply.split_once("\r\n\r\n").unwrap().1.to_string()
    })
    .unwrap()
}

/// Both LOG rules: a flood counter and seed 002's as the article writes it
/// (inserted last, so first).
const BOTH_RULES: &str = r#"'-I INPUT -p udp --dport 7777 -j LOG --log-prefix "flood: "', '-I INPUT -m conntrack --ctstate NEW -j LOG --log-prefix="New incomming: "'"#;

/// Applies a moat.toml with the LAN open, `[log] file` followed by `extra`
/// and the `[iptables]` rules `rules`, and starts the daemon on it: the log
/// file's path and the daemon.
fn start_logging(
    lab: &Topology,
    scratch: &Scratch,
    extra: &str,
    rules: &str,
    name: &str,
) -> (PathBuf, Daemon) {
    let file = scratch.dir.join("log/packets.jsonl");
    let text = format!(
        "[zones.lan]\ninterfaces = [\"lan0\"]\ninput = \"accept\"\n\n[log]\nfile = \"{}\"\n{extra}\n\n\
         [iptables]\nrules = [{rules}]\n",
        file.display()
    );
    let config = scratch.file("moat.toml", &text);
    moat_ok(&lab.gateway, scratch, &["apply", config.to_str().unwrap()]);
    let daemon = Daemon::start(&lab.gateway, &scratch.dir, &config, name);
    daemon.wait_for("[logger] started\n");
    (file, daemon)
}

/// `count` new TCP connections from the client to the gateway (a closed
/// port: each SYN is answered with a reset, and each is a new connection).
fn connect(client: &Netns, count: usize) {
    client
        .run(move || {
            let to = SocketAddr::new(GATEWAY_LAN_V4.into(), 9);
            for _ in 0..count {
                let _ = TcpStream::connect_timeout(&to, Duration::from_secs(2));
            }
        })
        .unwrap();
}

/// The JSON lines of the log file and of its rotated copies, oldest first.
fn all_lines(path: &Path) -> Vec<serde_json::Value> {
    let mut files: Vec<PathBuf> = (1..=200)
        .map(|n| PathBuf::from(format!("{}.{n}", path.display())))
        .filter(|p| p.exists())
        .collect();
    files.reverse();
    files.push(path.to_path_buf());
    let moved = path.with_extension("moved");
    if moved.exists() {
        files.insert(0, moved);
    }
    files
        .iter()
        .flat_map(|f| {
            std::fs::read_to_string(f)
                .unwrap_or_default()
                .lines()
                .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
                .collect::<Vec<_>>()
        })
        .collect()
}

fn with_prefix(lines: &[serde_json::Value], prefix: &str) -> Vec<serde_json::Value> {
    lines
        .iter()
        .filter(|l| l["prefix"] == prefix)
        .cloned()
        .collect()
}

#[test]
fn seed_002_log_rule_writes_a_json_line_per_new_connection_to_moats_file() {
    let Some((lab, scratch)) = config_lab() else {
        return;
    };
    let (file, daemon) = start_logging(&lab, &scratch, "", BOTH_RULES, "logger");
    let ruleset = lab.gateway.exec_ok(&["nft", "list", "ruleset"]).unwrap();
    assert!(
        ruleset.contains("log prefix \"New incomming: moat:") && ruleset.contains(" group 64 "),
        "LOG goes to moat's log group, not the kernel log:\n{ruleset}"
    );
    let listed = moat_ok(&lab.gateway, &scratch, &["iptables", "-S", "INPUT"]);
    assert!(
        listed.contains(
            r#"-A INPUT -m conntrack --ctstate NEW -j LOG --log-prefix "New incomming: ""#
        ),
        "-S shows the rule as written:\n{listed}"
    );

    connect(&lab.client, 12);
    wait_until("12 lines", 10, || {
        with_prefix(&all_lines(&file), "New incomming: ").len() >= 12
    });
    std::thread::sleep(Duration::from_millis(300));
    let lines = with_prefix(&all_lines(&file), "New incomming: ");
    assert_eq!(lines.len(), 12, "one line per new connection: {lines:#?}");
    let mut ports: Vec<u64> = lines.iter().map(|l| l["sport"].as_u64().unwrap()).collect();
    ports.sort_unstable();
    ports.dedup();
    assert_eq!(ports.len(), 12, "twelve connections, twelve source ports");
    for l in &lines {
        assert_eq!(l["src"], CLIENT_V4.to_string(), "{l}");
        assert_eq!(l["dst"], GATEWAY_LAN_V4.to_string(), "{l}");
        assert_eq!(l["proto"], "tcp");
        assert_eq!(l["dport"], 9);
        assert_eq!(l["tcp_flags"], serde_json::json!(["SYN"]));
        assert_eq!(l["in"], "lan0");
        assert_eq!(l["hook"], "INPUT");
        assert_eq!(l["rule"]["table"], "filter");
        assert_eq!(l["rule"]["chain"], "INPUT");
        assert_eq!(l["rule"]["number"], 1, "seed 002 inserts it first: {l}");
        assert!(l["rule"]["text"]
            .as_str()
            .unwrap()
            .contains("--ctstate NEW -j LOG"));
        assert!(l["mac"].as_str().is_some_and(|m| m.len() == 17), "{l}");
    }

    // LOG rules added later with moat iptables follow the kept [log] file
    // (an insert reads the whole table, an append to OUTPUT only its layout).
    moat_ok(
        &lab.gateway,
        &scratch,
        &[
            "iptables",
            "-I",
            "INPUT",
            "-p",
            "udp",
            "--dport",
            "7778",
            "-j",
            "LOG",
            "--log-prefix",
            "later: ",
        ],
    );
    moat_ok(
        &lab.gateway,
        &scratch,
        &[
            "iptables",
            "-A",
            "OUTPUT",
            "-p",
            "udp",
            "--dport",
            "7779",
            "-j",
            "LOG",
            "--log-prefix",
            "out: ",
        ],
    );
    udp_burst(&lab.client, GATEWAY_LAN_V4, 7778, 3).unwrap();
    udp_burst(&lab.gateway, CLIENT_V4, 7779, 2).unwrap();
    wait_until("the later rules' lines", 10, || {
        let lines = all_lines(&file);
        with_prefix(&lines, "later: ").len() >= 3 && with_prefix(&lines, "out: ").len() >= 2
    });
    let out = with_prefix(&all_lines(&file), "out: ");
    assert_eq!(out[0]["hook"], "OUTPUT", "{}", out[0]);
    assert_eq!(out[0]["out"], "lan0");
    assert_eq!(out[0]["uid"], 0, "a local socket's owner: {}", out[0]);
    assert_eq!(out[0]["rule"]["chain"], "OUTPUT");

    // moat log tail reads the file back with filters.
    let tail = moat_ok(
        &lab.gateway,
        &scratch,
        &[
            "log", "tail", "-n", "100", "--json", "--prefix", "New", "--port", "9",
        ],
    );
    assert_eq!(tail.lines().count(), 12, "{tail}");
    let text = moat_ok(
        &lab.gateway,
        &scratch,
        &[
            "log", "tail", "-n", "1", "--proto", "udp", "--prefix", "later",
        ],
    );
    assert!(
        text.contains("later: IN=lan0 OUT= MAC=")
            && text.contains(" PROTO=UDP ")
            && text.contains("DPT=7778"),
        "{text}"
    );
    drop(daemon);
}

#[test]
fn rotation_and_logrotates_move_with_sighup_lose_no_line_while_traffic_flows() {
    let Some((lab, scratch)) = config_lab() else {
        return;
    };
    let (file, daemon) = start_logging(
        &lab,
        &scratch,
        "rotate_size = \"8K\"
keep = 200",
        BOTH_RULES,
        "logger-rotate",
    );
    std::thread::scope(|scope| {
        let sender = scope.spawn(|| connect(&lab.client, 400));
        std::thread::sleep(Duration::from_millis(300));
        // logrotate: move the file away, then tell the daemon (SIGHUP).
        std::fs::rename(&file, file.with_extension("moved")).unwrap();
        let pid = daemon.pid().to_string();
        std::process::Command::new("kill")
            .args(["-HUP", &pid])
            .status()
            .unwrap();
        daemon.wait_for("configuration reloaded\n");
        sender.join().unwrap();
    });
    wait_until("400 lines", 15, || {
        with_prefix(&all_lines(&file), "New incomming: ").len() >= 400
    });
    std::thread::sleep(Duration::from_millis(500));
    let lines = with_prefix(&all_lines(&file), "New incomming: ");
    let mut ports: Vec<u64> = lines.iter().map(|l| l["sport"].as_u64().unwrap()).collect();
    ports.sort_unstable();
    ports.dedup();
    assert_eq!(lines.len(), 400, "every connection once");
    assert_eq!(ports.len(), 400, "no line written twice");
    assert!(
        Path::new(&format!("{}.3", file.display())).exists(),
        "the size limit rotated the file several times"
    );
    for n in 1..=3 {
        let size = std::fs::metadata(format!("{}.{n}", file.display()))
            .unwrap()
            .len();
        assert!(size <= 8192, "rotated file {n} has {size} bytes");
    }
    drop(daemon);
}

#[test]
fn a_flood_over_the_rate_limit_is_counted_in_the_file_and_the_metrics() {
    let Some((lab, scratch)) = config_lab() else {
        return;
    };
    let (file, daemon) = start_logging(
        &lab,
        &scratch,
        "max_rate = 50

[metrics]
listen = \"127.0.0.1:9469\"",
        BOTH_RULES,
        "logger-flood",
    );
    let sent = udp_burst(&lab.client, GATEWAY_LAN_V4, 7777, 2000).unwrap();
    assert_eq!(sent, 2000);
    // The flood's 2,000 datagrams, each logged twice: a UDP flow nobody
    // answers stays NEW, so seed 002's rule logs every datagram too.
    let logged = 4000;
    let counted = || {
        let lines = all_lines(&file);
        let packets = lines.iter().filter(|l| l["group"].is_u64()).count() as u64;
        let dropped: u64 = lines.iter().filter_map(|l| l["dropped"].as_u64()).sum();
        (packets, dropped, lines.len() as u64)
    };
    wait_until("every packet written or counted", 10, || {
        let (p, d, _) = counted();
        p + d >= logged
    });
    std::thread::sleep(Duration::from_millis(1500));
    let (packets, dropped, lines) = counted();
    assert_eq!(
        packets + dropped,
        logged,
        "written {packets}, dropped {dropped}"
    );
    assert!(
        (50..=200).contains(&packets),
        "the limit held: {packets} written"
    );
    daemon.wait_for("[logger] the rate limit left out ");
    let scraped = scrape(&lab.gateway);
    assert!(
        scraped.contains(&format!("moat_log_lines_rate_limited_total {dropped}\n")),
        "{scraped}"
    );
    assert!(
        scraped.contains(&format!("moat_log_lines_written_total {lines}\n")),
        "{lines} lines in the file:\n{scraped}"
    );
    assert!(
        scraped.contains("moat_log_packets_lost_total 0\n"),
        "{scraped}"
    );
    let once = moat_ok(&lab.gateway, &scratch, &["metrics"]);
    assert!(
        !once.contains("moat_log_lines"),
        "one-shot metrics have no daemon counters"
    );
    drop(daemon);
}

#[test]
fn iptables_only_users_route_log_rules_with_moat_log_route_and_run_the_daemon_with_a_file() {
    let Some((lab, scratch)) = config_lab() else {
        return;
    };
    let file = scratch.dir.join("log/packets.jsonl");
    // Seed 002's command as the shell hands it over.
    let args = [
        "iptables",
        "-I",
        "INPUT",
        "-m",
        "conntrack",
        "--ctstate",
        "NEW",
        "-j",
        "LOG",
        "--log-prefix=New incomming: ",
    ];
    moat_ok(&lab.gateway, &scratch, &args);
    let plain = lab.gateway.exec_ok(&["nft", "list", "ruleset"]).unwrap();
    assert!(
        !plain.contains(" group "),
        "LOG goes to the kernel log at first:\n{plain}"
    );
    let said = moat_ok(&lab.gateway, &scratch, &["log", "route", "on"]);
    assert!(said.contains("log group 64"), "{said}");
    let routed = lab.gateway.exec_ok(&["nft", "list", "ruleset"]).unwrap();
    assert!(
        routed.contains("prefix \"New incomming: moat:") && routed.contains(" group 64 "),
        "{routed}"
    );
    let listed = moat_ok(&lab.gateway, &scratch, &["iptables", "-S", "INPUT"]);
    assert!(
        listed.contains(r#"-j LOG --log-prefix "New incomming: ""#),
        "{listed}"
    );

    let file_arg = file.display().to_string();
    let daemon = Daemon::start_with(
        &lab.gateway,
        &scratch.dir,
        &["--log-file", &file_arg],
        "logger-iptables",
    );
    daemon.wait_for("[logger] started\n");
    connect(&lab.client, 5);
    wait_until("5 lines", 10, || {
        with_prefix(&all_lines(&file), "New incomming: ").len() >= 5
    });
    let lines = with_prefix(&all_lines(&file), "New incomming: ");
    assert_eq!(lines.len(), 5);
    assert_eq!(lines[0]["rule"]["number"], 1, "{}", lines[0]);

    moat_ok(&lab.gateway, &scratch, &["log", "route", "off"]);
    let back = lab.gateway.exec_ok(&["nft", "list", "ruleset"]).unwrap();
    assert!(
        !back.contains(" group ") && back.contains("log prefix \"New incomming: \""),
        "{back}"
    );
    connect(&lab.client, 3);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        with_prefix(&all_lines(&file), "New incomming: ").len(),
        5,
        "the kernel log has them now"
    );
    drop(daemon);
}

#[test]
fn a_buffer_overrun_grows_the_buffer_and_counts_the_lost_packets_without_stalling() {
    let Some((lab, scratch)) = config_lab() else {
        return;
    };
    // Only the flood is logged, once per datagram.
    let (file, daemon) = start_logging(
        &lab,
        &scratch,
        "\n[metrics]\nlisten = \"127.0.0.1:9469\"",
        r#"'-I INPUT -p udp --dport 7777 -j LOG --log-prefix "flood: "'"#,
        "logger-overrun",
    );
    // A stopped daemon reads nothing: the kernel fills its socket buffer
    // (4 MiB) and drops the rest.
    let pid = daemon.pid().to_string();
    let signal = |sig: &str| {
        std::process::Command::new("kill")
            .args([sig, &pid])
            .status()
            .unwrap();
    };
    signal("-STOP");
    udp_burst(&lab.client, GATEWAY_LAN_V4, 7777, 60_000).unwrap();
    signal("-CONT");
    daemon.wait_for("overran moat's buffer; grown to 8192 KiB (");
    // Not stalled: later packets are written, and they show the gap of
    // any batch lost at the end of the flood.
    std::thread::sleep(Duration::from_millis(500));
    udp_burst(&lab.client, GATEWAY_LAN_V4, 7777, 3).unwrap();
    // The rule's own counter says how many it logged (a flood this fast
    // also loses datagrams on the way, before any rule sees them).
    let save = moat_ok(&lab.gateway, &scratch, &["iptables-save", "-c"]);
    let sent: u64 = save
        .lines()
        .find(|l| l.contains("flood: "))
        .and_then(|l| l.trim_start_matches('[').split(':').next()?.parse().ok())
        .unwrap_or_else(|| panic!("no flood rule counter:\n{save}"));
    // What the kernel dropped shows as gaps in its sequence numbers.
    let lost = || {
        let m = scrape(&lab.gateway);
        m.lines()
            .find_map(|l| l.strip_prefix("moat_log_packets_lost_total "))
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    let packets = || with_prefix(&all_lines(&file), "flood: ").len() as u64;
    wait_until("every packet written or counted lost", 15, || {
        packets() + lost() >= sent
    });
    std::thread::sleep(Duration::from_millis(500));
    let (written, lost) = (packets(), lost());
    assert_eq!(written + lost, sent, "written {written}, lost {lost}");
    assert!(lost > 0, "the buffer did overrun");
    assert!(written >= 2000, "what fitted was written: {written}");
    let metrics = scrape(&lab.gateway);
    assert!(
        metrics.contains("moat_log_buffer_overruns_total 1\n"),
        "{metrics}"
    );
    drop(daemon);
}

/// An iptables-save file applied over a moat.toml with `[log] file` (whose
/// logger then stops) sends the LOG rules of every family back to the
/// kernel log: those of the tables the file holds and those it leaves as
/// they were (IPv6 here), whose LOG packets would otherwise go nowhere.
#[test]
fn a_save_file_applied_over_a_logging_config_sends_every_log_rule_back_to_the_kernel_log() {
    let Some((lab, scratch)) = config_lab() else {
        return;
    };
    let file = scratch.dir.join("log/packets.jsonl");
    let text = format!(
        "[zones.lan]\ninterfaces = [\"lan0\"]\ninput = \"accept\"\n\n[log]\nfile = \"{}\"\ndrops = true\n",
        file.display()
    );
    let config = scratch.file("moat.toml", &text);
    moat_ok(&lab.gateway, &scratch, &["apply", config.to_str().unwrap()]);
    let listed = |family: &str| {
        lab.gateway
            .exec_ok(&["nft", "list", "table", family, "moat_filter"])
            .unwrap()
    };
    for family in ["ip", "ip6"] {
        let table = listed(family);
        assert!(table.contains(" group "), "routed to the logger: {table}");
    }
    let saved = scratch.file(
        "rules.v4",
        &moat_ok(&lab.gateway, &scratch, &["iptables-save"]),
    );
    moat_ok(&lab.gateway, &scratch, &["apply", saved.to_str().unwrap()]);
    for family in ["ip", "ip6"] {
        let table = listed(family);
        assert!(
            table.contains("log prefix") && !table.contains(" group "),
            "back to the kernel log: {table}"
        );
    }
}
