//! moat.toml constructs with real traffic: per-source rate limits, IPv6 from
//! the same file, zones and forwarding, the raw-rule escape hatch, and the
//! check / diff / status commands (issue 5).

mod common;
mod config_common;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use common::{connects, packets_of, servers, text};
use config_common::{apply, apply_toml, config_lab, moat, moat_ok};
use moat_testnet::topology::{
    CLIENT_V4, GATEWAY_LAN_V4, GATEWAY_LAN_V6, GATEWAY_WAN_V4, SERVER_V4, SERVER_V6,
};
use moat_testnet::{tcp_connect, tcp_connect_many, TcpOutcome, TcpServer};

#[test]
fn rate_limit_per_source_holds_back_a_noisy_client_only() {
    let Some((lab, s)) = config_lab() else { return };
    apply_toml(
        &lab.gateway,
        &s,
        "[[service]]\nname = \"api\"\nport = 8080\nlimit = { rate = \"5/minute\", burst = 5 }\n",
    );
    let _api = TcpServer::start(&lab.gateway, IpAddr::from(Ipv4Addr::UNSPECIFIED), 8080).unwrap();
    let noisy = tcp_connect_many(&lab.client, GATEWAY_LAN_V4, 8080, 10).unwrap();
    assert_eq!(noisy.connected(), 5, "{noisy:?}");
    assert_eq!(noisy.timed_out(), 5, "{noisy:?}");
    let quiet = tcp_connect_many(&lab.server, GATEWAY_WAN_V4, 8080, 3).unwrap();
    assert_eq!(
        quiet.connected(),
        3,
        "another client is unaffected: {quiet:?}"
    );
}

#[test]
fn one_file_builds_ipv4_and_ipv6() {
    let Some((lab, s)) = config_lab() else { return };
    apply_toml(
        &lab.gateway,
        &s,
        "[zones.outside]\ninterfaces = [\"lan0\"]\n[zones.inside]\ninterfaces = [\"wan0\"]\n\n\
         [[service]]\nname = \"http\"\nzones = \"outside\"\n\n[[forward]]\nfrom = \"outside\"\nto = \"inside\"\nport = 443\n",
    );
    let _http_other = servers(&lab.gateway, Ipv6Addr::UNSPECIFIED, &[80, 81]);
    let _https = TcpServer::start(&lab.server, SERVER_V6, 443).unwrap();
    let _https4 = TcpServer::start(&lab.server, SERVER_V4, 443).unwrap();
    let _ssh = TcpServer::start(&lab.server, SERVER_V6, 22).unwrap();
    assert!(connects(&lab.client, GATEWAY_LAN_V6, 80));
    assert_eq!(
        tcp_connect(&lab.client, GATEWAY_LAN_V6, 81).unwrap(),
        TcpOutcome::TimedOut
    );
    assert!(connects(&lab.client, SERVER_V6, 443), "IPv6 forward");
    assert!(connects(&lab.client, SERVER_V4, 443), "IPv4 forward");
    assert_eq!(
        tcp_connect(&lab.client, SERVER_V6, 22).unwrap(),
        TcpOutcome::TimedOut,
        "only 443 is forwarded"
    );
    assert_eq!(
        tcp_connect(&lab.server, moat_testnet::topology::CLIENT_V6, 22).unwrap(),
        TcpOutcome::TimedOut,
        "nothing inside -> outside"
    );
    let v6 = moat_ok(
        &lab.gateway,
        &s,
        &["ip6tables", "-v", "-n", "-L", "FORWARD"],
    );
    assert!(
        packets_of(&v6, "FORWARD", "moat: forward outside to inside") >= 1,
        "{v6}"
    );
}

#[test]
fn raw_iptables_rules_go_through_the_same_model() {
    let Some((lab, s)) = config_lab() else { return };
    apply_toml(
        &lab.gateway,
        &s,
        "[iptables]\nrules = [\n  \"-A INPUT -s 10.99.1.0/24 -p tcp --dport 9000 -j ACCEPT\",\n  \"-N COUNTED\",\n  \"-A COUNTED -j RETURN\",\n  \"-I INPUT -j COUNTED\",\n]\n",
    );
    let _svc = TcpServer::start(&lab.gateway, GATEWAY_LAN_V4, 9000).unwrap();
    let _svc2 = TcpServer::start(&lab.gateway, GATEWAY_WAN_V4, 9000).unwrap();
    assert!(connects(&lab.client, GATEWAY_LAN_V4, 9000));
    assert_eq!(
        tcp_connect(&lab.server, GATEWAY_WAN_V4, 9000).unwrap(),
        TcpOutcome::TimedOut,
        "only from 10.99.1.0/24"
    );
    let listing = moat_ok(&lab.gateway, &s, &["iptables", "-v", "-n", "-L", "INPUT"]);
    assert!(
        listing.lines().nth(2).unwrap().contains("COUNTED"),
        "-I lands on top:\n{listing}"
    );
    assert!(packets_of(&listing, "INPUT", "dpt:9000") >= 1, "{listing}");
}

#[test]
fn check_diff_and_status_speak_to_people_and_to_programs() {
    let Some((lab, s)) = config_lab() else { return };
    let bad = s.file(
        "bad.toml",
        "[zones.wan]\ninterfaces = [\"lan0\"]\n\n[[service]]\nport = 22\nzones = [\"wna\"]\n",
    );
    let out = moat(&lab.gateway, &s, &["check", bad.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains("bad.toml:6:9: unknown zone `wna`") && err.contains("fix: write \"wan\""),
        "{err}"
    );
    let out = moat(
        &lab.gateway,
        &s,
        &["check", "--json", bad.to_str().unwrap()],
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["ok"], false);
    assert_eq!(v["errors"][0]["line"], 6);
    assert_eq!(v["errors"][0]["col"], 9);

    let cfg = s.file(
        "moat.toml",
        "[zones.wan]\ninterfaces = [\"lan0\"]\nmasquerade = true\n[[service]]\nname = \"ssh\"\n",
    );
    assert!(moat_ok(&lab.gateway, &s, &["check", cfg.to_str().unwrap()]).contains("ok"));
    let diff = moat_ok(&lab.gateway, &s, &["diff", cfg.to_str().unwrap()]);
    assert!(
        diff.contains("+ INPUT") && diff.contains("[service ssh] tcp to port 22: accept"),
        "{diff}"
    );
    assert!(
        diff.contains("~ INPUT       policy accept -> drop"),
        "{diff}"
    );
    apply(&lab.gateway, &s, &cfg);
    assert!(moat_ok(&lab.gateway, &s, &["diff", cfg.to_str().unwrap()]).starts_with("no changes"));
    let more = s.file("more.toml", "[zones.wan]\ninterfaces = [\"lan0\"]\nmasquerade = true\n[[service]]\nname = \"ssh\"\n[[service]]\nname = \"http\"\n");
    let diff = moat_ok(
        &lab.gateway,
        &s,
        &["diff", "--json", more.to_str().unwrap()],
    );
    let v: serde_json::Value = serde_json::from_str(&diff).unwrap();
    assert_eq!(v["changes"].as_array().unwrap().len(), 2, "{diff}"); // http, IPv4 and IPv6
    assert_eq!(v["changes"][0]["intent"], "service http");

    let _ssh = TcpServer::start(&lab.gateway, GATEWAY_LAN_V4, 22).unwrap();
    assert!(connects(&lab.client, GATEWAY_LAN_V4, 22));
    let status = moat_ok(&lab.gateway, &s, &["status"]);
    assert!(
        status.contains("wan        interfaces lan0  input drop  masquerade"),
        "{status}"
    );
    assert!(
        status.contains("ssh            tcp 22  from all zones"),
        "{status}"
    );
    assert!(
        status.contains("[service ssh] tcp to port 22: accept"),
        "{status}"
    );
    let json = moat_ok(&lab.gateway, &s, &["status", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let ssh = v["rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["intent"] == "service ssh" && r["family"] == "IPv4")
        .unwrap();
    assert!(ssh["packets"].as_u64().unwrap() >= 1, "{ssh}");
    assert_eq!(v["config"]["zones"][0]["name"], "wan");
    assert!(v["pending_confirmation_seconds"].is_null());
    let _ = CLIENT_V4;

    // IPv6 as written: a forward's address with its port in brackets, and
    // IPv6 masquerading beside IPv4's.
    apply_toml(
        &lab.gateway,
        &s,
        "[zones.wan]\ninterfaces = [\"wan0\"]\nmasquerade = true\nmasquerade_ipv6 = true\n\n\
         [[port_forward]]\nname = \"web6\"\nport = 8080\nto = \"[fd99:2::2]:80\"\nfrom = \"wan\"\n",
    );
    let status = moat_ok(&lab.gateway, &s, &["status"]);
    assert!(status.contains("masquerade  masquerade_ipv6"), "{status}");
    assert!(status.contains("-> [fd99:2::2]:80"), "{status}");
}

#[test]
fn services_by_source_and_restricted_outgoing_traffic() {
    let Some((lab, s)) = config_lab() else { return };
    apply_toml(
        &lab.gateway,
        &s,
        "icmp = \"none\"\n[defaults]\noutput = \"drop\"\n\n[[service]]\nname = \"admin\"\nport = 8443\nsources = [\"10.99.2.0/24\"]\n\n\
         [[outgoing]]\nname = \"dns\"\nproto = \"tcp\"\nport = 53\nto = [\"10.99.2.2\"]\n",
    );
    let _admin = TcpServer::start(&lab.gateway, IpAddr::from(Ipv4Addr::UNSPECIFIED), 8443).unwrap();
    assert!(
        connects(&lab.server, GATEWAY_WAN_V4, 8443),
        "allowed source"
    );
    assert_eq!(
        tcp_connect(&lab.client, GATEWAY_LAN_V4, 8443).unwrap(),
        TcpOutcome::TimedOut,
        "other source"
    );
    assert!(
        !moat_testnet::ping(&lab.client, GATEWAY_LAN_V4).unwrap(),
        "icmp = none"
    );
    let _dns = TcpServer::start(&lab.server, SERVER_V4, 53).unwrap();
    let _web = TcpServer::start(&lab.server, SERVER_V4, 80).unwrap();
    assert!(connects(&lab.gateway, SERVER_V4, 53), "allowed outgoing");
    assert!(
        !connects(&lab.gateway, SERVER_V4, 80),
        "other outgoing traffic is dropped"
    );
}

/// A service for a zone with networks and `sources` of its own (the
/// README's reference) is open to the overlap of the two, in each family;
/// a zone whose networks are all IPv4 takes IPv6 by interface alone, which
/// `moat check` notes.
#[test]
fn services_with_sources_in_zones_with_networks() {
    let Some((lab, s)) = config_lab() else { return };
    let _svc = TcpServer::start(&lab.gateway, IpAddr::from(Ipv6Addr::UNSPECIFIED), 443).unwrap();
    let _ssh = TcpServer::start(&lab.gateway, IpAddr::from(Ipv6Addr::UNSPECIFIED), 2222).unwrap();
    let config = s.file(
        "moat.toml",
        "[defaults]\ninput = \"drop\"\n\n\
         [zones.office]\ninterfaces = [\"lan0\"]\nnetworks = [\"10.99.1.0/24\"]\ninput = \"accept\"\n\n\
         [zones.lan]\ninterfaces = [\"lan0\"]\nnetworks = [\"10.99.0.0/16\", \"fd99::/16\"]\n\n\
         [[service]]\nname = \"ssh\"\nport = 2222\nzones = [\"lan\"]\nsources = [\"10.99.1.2\", \"fd99:1::2\", \"192.0.2.0/24\"]\n",
    );
    let checked = moat(&lab.gateway, &s, &["check", config.to_str().unwrap()]);
    assert!(
        text(&checked.stderr).contains("zone office names IPv4 networks only"),
        "{}",
        text(&checked.stderr)
    );
    apply(&lab.gateway, &s, &config);
    assert!(connects(&lab.client, GATEWAY_LAN_V4, 443), "office, IPv4");
    assert!(
        connects(&lab.client, GATEWAY_LAN_V6, 443),
        "office by interface alone, IPv6"
    );
    assert!(
        connects(&lab.client, GATEWAY_LAN_V4, 2222),
        "lan and source, IPv4"
    );
    assert!(
        connects(&lab.client, GATEWAY_LAN_V6, 2222),
        "lan and source, IPv6"
    );
    assert!(
        !connects(&lab.server, GATEWAY_WAN_V4, 2222),
        "neither in the zone nor a source"
    );
    let listed = moat_ok(&lab.gateway, &s, &["ip6tables", "-S", "INPUT"]);
    assert!(
        listed.contains("-s fd99:1::2/128 -i lan0"),
        "the overlap of zone and source: {listed}"
    );
}
