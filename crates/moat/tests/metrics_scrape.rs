//! Prometheus metrics from `moat daemon` (issue 12), scraped over HTTP in
//! the gateway namespace before and after known traffic; `moat metrics`
//! prints the same reading.

mod common;
mod config_common;
mod daemon_common;

use std::io::{Read, Write};
use std::time::Duration;

use config_common::{config_lab, moat_ok};
use daemon_common::Daemon;
use moat_testnet::topology::GATEWAY_LAN_V4;
use moat_testnet::{ping_burst, Netns};

/// `GET /metrics` on 127.0.0.1:9469 inside `ns` with request headers
/// `headers`: the reply's head and body.
fn get(ns: &Netns, headers: &str) -> (String, Vec<u8>) {
    ns.run(|| {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", 9469)).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.write_all(format!("GET /metrics HTTP/1.1\r\nHost: moat\r\n{headers}\r\n").as_bytes())
            .unwrap();
        let mut reply = Vec::new();
        s.read_to_end(&mut reply).unwrap();
        let split = reply.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
        let head = String::from_utf8_lossy(&reply[..split]).into_owned();
        assert!(head.starts_with("HTTP/1.1 200 OK"), "{head}");
        (head, reply[split + 4..].to_vec())
    })
    .unwrap()
}

/// A plain scrape: the body.
fn scrape(ns: &Netns) -> String {
    let (head, body) = get(ns, "");
    assert!(!head.contains("Content-Encoding"), "{head}");
    String::from_utf8(body).unwrap()
}

/// A scrape as Prometheus sends it (`Accept-Encoding: gzip`): the body,
/// unpacked by the system's gzip.
fn scrape_gzip(ns: &Netns) -> String {
    let (head, body) = get(ns, "Accept-Encoding: gzip\r\n");
    assert!(head.contains("Content-Encoding: gzip"), "{head}");
    let mut gunzip = std::process::Command::new("gzip")
        .arg("-dc")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("gzip");
    gunzip.stdin.take().unwrap().write_all(&body).unwrap();
    let out = gunzip.wait_with_output().unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap()
}

/// The value of the sample whose line starts with `name{` and holds every one of `labels`.
fn value(text: &str, name: &str, labels: &[&str]) -> Option<f64> {
    text.lines()
        .filter(|l| l.starts_with(&format!("{name}{{")))
        .find(|l| labels.iter().all(|x| l.contains(x)))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
}

/// The id label of the rule whose text holds `needle`.
fn rule_id(text: &str, needle: &str) -> String {
    let line = text
        .lines()
        .find(|l| l.starts_with("moat_rule_info{") && l.contains(needle))
        .unwrap_or_else(|| panic!("no rule with {needle}:\n{text}"));
    let start = line.find("id=\"").unwrap() + 4;
    line[start..start + 8].to_string()
}

#[test]
fn counters_grow_by_the_packets_sent_and_set_sizes_match_the_commands() {
    let Some((lab, scratch)) = config_lab() else {
        return;
    };
    let log = scratch.file("auth.log", "");
    let config = scratch.file(
        "moat.toml",
        &format!(
            "[zones.lan]\ninterfaces = [\"lan0\"]\n\n[metrics]\nlisten = \"127.0.0.1:9469\"\n\n\
             [iptables]\nrules = [\"-I INPUT -p icmp --icmp-type echo-request -m comment --comment pingcount -j ACCEPT\"]\n\n\
             [[jail]]\nname = \"sshd\"\nfilter = \"sshd\"\nlogpath = \"{}\"\nport = 22\n",
            log.display()
        ),
    );
    moat_ok(&lab.gateway, &scratch, &["apply", config.to_str().unwrap()]);
    moat_ok(
        &lab.gateway,
        &scratch,
        &[
            "block",
            "add",
            "badhosts",
            "203.0.113.7",
            "198.51.100.0/24",
            "--create",
        ],
    );
    let daemon = Daemon::start(&lab.gateway, &scratch.dir, &config, "metrics");
    daemon.wait_for("[metrics] started");
    moat_ok(&lab.gateway, &scratch, &["ban", "sshd", "192.0.2.9"]);

    let before = scrape(&lab.gateway);
    let id = rule_id(&before, "pingcount");
    let packets =
        |text: &str| value(text, "moat_rule_packets_total", &[&format!("id=\"{id}\"")]).unwrap();
    let answered = ping_burst(&lab.client, GATEWAY_LAN_V4, 7, Duration::from_secs(2)).unwrap();
    assert_eq!(answered, 7);
    let after = scrape_gzip(&lab.gateway);
    assert_eq!(packets(&after) - packets(&before), 7.0, "{after}");
    // The rule's comment names a counter too.
    let named = |text: &str| value(text, "moat_named_packets_total", &["name=\"pingcount\""]);
    assert_eq!(named(&after), Some(packets(&after)), "{after}");
    // Compressed or not, a scrape says the same (no traffic in between).
    let plain = scrape(&lab.gateway);
    assert_eq!(packets(&plain), packets(&after));
    let families = |text: &str| -> Vec<String> {
        text.lines()
            .filter(|l| l.starts_with("# TYPE"))
            .map(str::to_string)
            .collect()
    };
    assert_eq!(families(&plain), families(&after));
    // Every series of a counter family says it is a counter.
    assert!(after.contains("# TYPE moat_rule_packets_total counter"));
    assert!(after.contains("# TYPE moat_chain_policy_packets_total counter"));

    // Set sizes agree with moat block list and moat bans.
    let lists: serde_json::Value = serde_json::from_str(&moat_ok(
        &lab.gateway,
        &scratch,
        &["block", "list", "--json"],
    ))
    .unwrap();
    let ranges = lists[0]["ranges_v4"].as_u64().unwrap() as f64;
    assert_eq!(
        value(
            &after,
            "moat_blocklist_ranges",
            &["list=\"badhosts\"", "family=\"ipv4\""]
        ),
        Some(ranges)
    );
    assert_eq!(ranges, 2.0);
    let bans: serde_json::Value =
        serde_json::from_str(&moat_ok(&lab.gateway, &scratch, &["bans", "--json"])).unwrap();
    let banned = bans["bans"].as_array().unwrap().len() as f64;
    assert_eq!(value(&after, "moat_bans", &["jail=\"sshd\""]), Some(banned));
    assert_eq!(banned, 1.0);
    assert_eq!(
        value(&after, "moat_metrics_read_errors", &["part=\"ruleset\""]),
        Some(0.0)
    );

    // moat metrics prints the same families without a daemon's help.
    let once = moat_ok(&lab.gateway, &scratch, &["metrics"]);
    assert!(packets(&once) >= packets(&after), "{once}");
    assert!(once.contains("moat_scrape_duration_seconds"));
    drop(daemon);
}
