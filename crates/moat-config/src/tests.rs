//! Tests of reading, checking and compiling moat.toml.

use super::*;
use moat_model::Stage;

fn db() -> ServiceDb {
    ServiceDb::builtin()
}

fn rules_of(tables: &[TableState], family: Family, stage: Stage, chain: &str) -> Vec<String> {
    tables
        .iter()
        .find(|t| t.family == family && t.stage == stage)
        .and_then(|t| t.chain(chain))
        .map(|c| c.rules.iter().map(|r| r.spec.to_args()).collect())
        .unwrap_or_default()
}

fn load_ok(text: &str) -> Loaded {
    match load_with("moat.toml", text, &db()) {
        Ok(l) => l,
        Err(e) => panic!("{e}"),
    }
}

fn load_err(text: &str) -> String {
    load_with("moat.toml", text, &db())
        .expect_err("should fail")
        .to_string()
}

const GATEWAY: &str = r#"
[zones.wan]
interfaces = ["eth0"]
masquerade = true

[zones.lan]
interfaces = ["eth1"]
networks = ["192.168.1.0/24"]
input = "accept"

[[forward]]
from = "lan"
to = "wan"

[[service]]
name = "ssh"

[[port_forward]]
port = 6881
to = "192.168.1.100"
from = "wan"
"#;

#[test]
fn gateway_compiles_to_stateful_filter_and_nat() {
    let l = load_ok(GATEWAY);
    assert!(l.replaces_all);
    assert!(l.warnings.is_empty(), "{:?}", l.warnings);
    let input = rules_of(&l.tables, Family::Ipv4, Stage::Filter, "INPUT");
    assert!(
        input
            .iter()
            .any(|r| r.contains("--ctstate RELATED,ESTABLISHED -j ACCEPT")),
        "{input:#?}"
    );
    assert!(
        input
            .iter()
            .any(|r| r.contains("--dport 22") && r.ends_with("-j ACCEPT")),
        "{input:#?}"
    );
    assert!(
        input
            .iter()
            .any(|r| r.starts_with("-s 192.168.1.0/24 -i eth1") && r.ends_with("-j ACCEPT")),
        "{input:#?}"
    );
    let forward = rules_of(&l.tables, Family::Ipv4, Stage::Filter, "FORWARD");
    assert!(forward.iter().any(|r| r.starts_with("-s 192.168.1.0/24 -i eth1 -o eth0") && r.ends_with("-j ACCEPT")), "{forward:#?}");
    assert!(
        forward
            .iter()
            .any(|r| r.contains("-d 192.168.1.100/32") && r.contains("--ctstate DNAT")),
        "{forward:#?}"
    );
    let pre = rules_of(&l.tables, Family::Ipv4, Stage::Nat, "PREROUTING");
    assert!(
        pre.iter()
            .any(|r| r.starts_with("-i eth0") && r.contains("--to-destination 192.168.1.100")),
        "{pre:#?}"
    );
    // Hairpin: the LAN (whose network holds the host) may use the public address too.
    assert!(
        pre.iter().any(|r| r.contains("-s 192.168.1.0/24")
            && r.contains("-i eth1")
            && r.contains("DNAT")),
        "{pre:#?}"
    );
    let post = rules_of(&l.tables, Family::Ipv4, Stage::Nat, "POSTROUTING");
    assert!(
        post[0].contains("-s 192.168.1.0/24 -d 192.168.1.100/32")
            && post[0].ends_with("-j MASQUERADE"),
        "{post:#?}"
    );
    assert!(
        post.iter()
            .any(|r| r.starts_with("-o eth0") && r.ends_with("-j MASQUERADE")),
        "{post:#?}"
    );
    // IPv6 gets a filter table from the same file, with neighbour discovery open, and no nat.
    let input6 = rules_of(&l.tables, Family::Ipv6, Stage::Filter, "INPUT");
    assert!(
        input6.iter().any(|r| r.contains("--icmpv6-type 135")),
        "{input6:#?}"
    );
    assert!(!l
        .tables
        .iter()
        .any(|t| t.family == Family::Ipv6 && t.stage == Stage::Nat));
    let policy = l.tables[0].chain("INPUT").unwrap().base.unwrap().1;
    assert_eq!(policy, moat_model::Policy::Drop);
}

#[test]
fn weighted_random_shares_come_out_as_written() {
    let l = load_ok(
        r#"
[[balance]]
port = 80
address = "192.168.0.4"
backends = [{ to = "10.10.7.14:8080", weight = 2 }, { to = "10.10.7.15:8080" }, { to = "10.10.7.16:8080" }]
"#,
    );
    let pre = rules_of(&l.tables, Family::Ipv4, Stage::Nat, "PREROUTING");
    assert_eq!(pre.len(), 3, "{pre:#?}");
    assert!(pre[0].contains("--probability 0.50000000000"), "{pre:#?}");
    assert!(pre[1].contains("--probability 0.50000000000"), "{pre:#?}");
    assert!(!pre[2].contains("statistic"), "{pre:#?}");
    assert!(pre[2].contains("10.10.7.16:8080"));
    // Three equal shares: 1/3, then 1/2 of the rest, then the rest.
    let l = load_ok("[[balance]]\nport = 80\nbackends = [{ to = \"10.0.0.1\" }, { to = \"10.0.0.2\" }, { to = \"10.0.0.3\" }]\n");
    let pre = rules_of(&l.tables, Family::Ipv4, Stage::Nat, "PREROUTING");
    assert!(pre[0].contains("--probability 0.33333333"), "{pre:#?}");
    assert!(pre[0].contains("--dst-type LOCAL"), "{pre:#?}");
}

#[test]
fn round_robin_uses_nth_slots() {
    let l = load_ok(
        "[[balance]]\nport = 80\nmode = \"round-robin\"\nbackends = [{ to = \"10.0.0.1\", weight = 2 }, { to = \"10.0.0.2\" }]\n",
    );
    let pre = rules_of(&l.tables, Family::Ipv4, Stage::Nat, "PREROUTING");
    assert_eq!(pre.len(), 3, "{pre:#?}");
    assert!(
        pre[0].contains("--every 3 --packet 0") && pre[0].ends_with("10.0.0.1"),
        "{pre:#?}"
    );
    assert!(
        pre[1].contains("--every 2 --packet 0") && pre[1].ends_with("10.0.0.2"),
        "{pre:#?}"
    );
    assert!(
        pre[2].ends_with("10.0.0.1") && !pre[2].contains("statistic"),
        "{pre:#?}"
    );
    let e = load_err("[[balance]]\nport = 80\nmode = \"round-robin\"\nbackends = [{ to = \"10.0.0.1\", weight = 65 }, { to = \"10.0.0.2\" }]\n");
    assert!(e.contains("more than 64"), "{e}");
}

#[test]
fn limits_and_logging() {
    let l = load_ok(
        r#"
[log]
drops = true
new_connections = true
prefix = "fw"

[[service]]
name = "web"
port = [80, 443]
limit = { connections = 15, rate = "20/minute", burst = 10 }
"#,
    );
    let input = rules_of(&l.tables, Family::Ipv4, Stage::Filter, "INPUT");
    let text = input.join("\n");
    assert!(text.contains("--connlimit-above 15 --connlimit-mask 32 --connlimit-saddr -j REJECT --reject-with tcp-reset"), "{text}");
    assert!(text.contains("--hashlimit-above 20/min"), "{text}");
    assert!(text.contains("--hashlimit-mode srcip"), "{text}");
    assert!(text.contains("--log-prefix \"fw new: \""), "{text}");
    assert!(
        input.last().unwrap().contains("--log-prefix \"fw drop: \""),
        "{text}"
    );
    let input6 = rules_of(&l.tables, Family::Ipv6, Stage::Filter, "INPUT").join("\n");
    assert!(input6.contains("--connlimit-mask 128"), "{input6}");
}

#[test]
fn raw_rules_land_before_the_catch_all() {
    let l = load_ok(
        r#"
[defaults]
input = "reject"

[iptables]
rules = ["-A INPUT -p tcp --dport 9000 -s 10.0.0.0/8 -j ACCEPT", "-t nat -A POSTROUTING -o eth9 -j MASQUERADE", "-I INPUT -s 10.9.9.9 -j DROP"]
"#,
    );
    let input = rules_of(&l.tables, Family::Ipv4, Stage::Filter, "INPUT");
    assert_eq!(input[0], "-s 10.9.9.9/32 -j DROP");
    let n = input.len();
    assert!(input[n - 2].contains("--dport 9000"), "{input:#?}");
    assert!(input[n - 1].contains("-j REJECT"), "{input:#?}");
    assert_eq!(
        rules_of(&l.tables, Family::Ipv4, Stage::Nat, "POSTROUTING"),
        vec!["-o eth9 -j MASQUERADE"]
    );
}

#[test]
fn redirect_and_output_restrictions() {
    let l = load_ok(
        r#"
[defaults]
output = "drop"

[[port_forward]]
port = 26
to_port = 25

[[outgoing]]
name = "dns"
port = 53
proto = "udp"
to = ["192.168.0.1"]
"#,
    );
    let pre = rules_of(&l.tables, Family::Ipv4, Stage::Nat, "PREROUTING");
    assert!(
        pre[0].contains("--dport 26") && pre[0].ends_with("-j REDIRECT --to-ports 25"),
        "{pre:#?}"
    );
    let input = rules_of(&l.tables, Family::Ipv4, Stage::Filter, "INPUT").join("\n");
    assert!(
        input.contains("--dport 25") && input.contains("--ctstate DNAT -j ACCEPT"),
        "{input}"
    );
    let output = rules_of(&l.tables, Family::Ipv4, Stage::Filter, "OUTPUT").join("\n");
    assert!(
        output.contains("-d 192.168.0.1/32 -p udp") && output.contains("--dport 53"),
        "{output}"
    );
    // The redirect works on IPv6 too.
    assert!(!rules_of(&l.tables, Family::Ipv6, Stage::Nat, "PREROUTING").is_empty());
}

#[test]
fn errors_point_at_line_and_column_with_a_fix() {
    let e = load_err(
        "[zones.wan]\ninterfaces = [\"eth0\"]\n\n[[service]]\nport = 22\nzones = [\"wna\"]\n",
    );
    assert!(e.starts_with("moat.toml:6:9: unknown zone `wna`"), "{e}");
    assert!(e.contains("fix: write \"wan\""), "{e}");
    let e = load_err("[defaults]\ninptu = \"drop\"\n");
    assert!(e.starts_with("moat.toml:2:1: unknown key `inptu`"), "{e}");
    assert!(e.contains("fix: write `input`"), "{e}");
    let e = load_err("[[service]]\nport = 70000\n");
    assert!(
        e.starts_with("moat.toml:2:8: port 70000 is out of range"),
        "{e}"
    );
    let e = load_err("[[service]]\nport = \"ssh\"\nproto = \"tpc\"\n");
    assert!(
        e.contains("moat.toml:3:9") && e.contains("write proto = \"tcp\""),
        "{e}"
    );
    let e = load_err("[iptables]\nrules = [\"-A INPUT -p tcp 8080 -j ACCEPT\"]\n");
    assert!(e.starts_with("moat.toml:2:10:"), "{e}");
    assert!(e.contains("--dport"), "{e}");
    let e = load_err("x = [");
    assert!(e.starts_with("moat.toml:1:"), "{e}");
    // Several problems are reported at once.
    let e = load_err("[[service]]\nport = 0\n[[service]]\nport = \"nosuch\"\n");
    assert_eq!(e.matches("moat.toml:").count(), 2, "{e}");
}

#[test]
fn save_files_are_detected_and_read() {
    let text = "*filter\n:INPUT DROP [0:0]\n-A INPUT -j DROP\n-A INPUT -p tcp --dport 8080 -j ACCEPT\nCOMMIT\n";
    assert_eq!(detect(text), Format::IptablesSave);
    let l = load_ok(text);
    assert!(!l.replaces_all);
    assert_eq!(l.tables.len(), 1);
    assert_eq!(l.warnings.len(), 1, "{:?}", l.warnings);
    assert!(
        l.warnings[0].contains("can never match"),
        "{:?}",
        l.warnings
    );
    let v6 = load_ok("*filter\n-A INPUT -s fd00::/8 -j ACCEPT\nCOMMIT\n");
    assert_eq!(v6.tables[0].family, Family::Ipv6);
    let e = load_err("*filter\n-A INPUT -p tcp 8080 -j ACCEPT\nCOMMIT\n");
    assert!(e.starts_with("moat.toml:2:1:"), "{e}");
}

#[test]
fn describes_rules_in_words() {
    let l = load_ok(GATEWAY);
    let t = l.tables.iter().find(|t| t.stage == Stage::Filter).unwrap();
    let ssh = t
        .chain("INPUT")
        .unwrap()
        .rules
        .iter()
        .find(|r| r.spec.to_args().contains("--dport 22"))
        .unwrap();
    assert_eq!(describe::intent(&ssh.rule).as_deref(), Some("service ssh"));
    assert_eq!(describe::describe(&ssh.rule), "tcp to port 22: accept");
}

#[test]
fn every_example_loads() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples");
    let mut n = 0;
    for entry in std::fs::read_dir(dir).expect("examples/") {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            let text = std::fs::read_to_string(&path).unwrap();
            let l = load_with(&path.display().to_string(), &text, &db())
                .unwrap_or_else(|e| panic!("{e}"));
            assert!(
                l.warnings.is_empty(),
                "{}: {:?}",
                path.display(),
                l.warnings
            );
            n += 1;
        }
    }
    assert!(n >= 4, "expected at least four examples");
}

#[test]
fn block_lists_expand_countries_and_point_at_mistakes() {
    let config = load_ok(
        "[[block]]\ncountries = [\"CN\", \"ru\", \"cn\"]\nzone_dir = \"/z\"\nexcept = [\"1.2.3.4\"]\n\n\
         [[block]]\nname = \"eu\"\ncountries = [\"de\", \"fr\"]\nzone_dir = \"/z\"\ndirection = [\"in\", \"out\"]\n\n\
         [[block]]\nname = \"ok\"\nfile = \"/l.txt\"\ndirection = \"none\"\n",
    )
    .config
    .unwrap();
    let names: Vec<&str> = config.blocks.iter().map(|b| b.name.as_str()).collect();
    assert_eq!(names, ["cn", "ru", "eu", "ok"]);
    assert_eq!(config.blocks[0].except, ["1.2.3.4/32".parse().unwrap()]);
    assert_eq!(
        config.blocks[0].directions.len(),
        2,
        "in and forward by default"
    );
    assert!(config.blocks[3].directions.is_empty());
    for (text, expect) in [
        (
            "[[block]]\nfile = \"/l\"\n",
            "moat.toml:1:1: a list from a file needs a `name`",
        ),
        (
            "[[block]]\nname = \"a\"\nfile = \"/l\"\ncountries = [\"cn\"]\n",
            "either `file` or `countries`",
        ),
        ("[[block]]\nname = \"a\"\n", "needs `file` or `countries`"),
        (
            "[[block]]\ncountries = [\"cn\"]\n",
            "countries need a `zone_dir`",
        ),
        (
            "[[block]]\ncountries = [\"zzz\"]\nzone_dir = \"/z\"\n",
            "moat.toml:2:",
        ),
        (
            "[[block]]\nname = \"a\"\nfile = \"/l\"\ndirection = \"up\"\n",
            "moat.toml:4:13",
        ),
        (
            "[[block]]\nname = \"a\"\nfile = \"/l\"\ndirection = [\"none\", \"in\"]\n",
            "cannot be combined",
        ),
        (
            "[[block]]\nname = \"country\"\nfile = \"/l\"\n",
            "not a valid list name",
        ),
        (
            "[[block]]\nname = \"a\"\nfile = \"/l\"\n[[block]]\nname = \"a\"\nfile = \"/m\"\n",
            "defined twice",
        ),
    ] {
        let err = load_err(text);
        assert!(err.contains(expect), "{text}: {err}");
    }
}

#[test]
fn forwards_are_grouped_by_zone_when_no_two_can_take_one_packet() {
    let zones = "[zones.wan]\ninterfaces = [\"eth0\"]\n[zones.lan]\ninterfaces = [\"eth1\"]\nnetworks = [\"192.168.1.0/24\"]\n";
    let forwards = |second: u16| {
        format!(
            "{zones}[[port_forward]]\nport = 80\nto = \"192.168.1.10\"\nfrom = \"wan\"\n\
             [[port_forward]]\nport = {second}\nto = \"192.168.1.11\"\nfrom = \"wan\"\n"
        )
    };
    let zone_of = |rule: &String| {
        if rule.contains("-i eth0") {
            "wan"
        } else {
            "lan"
        }
    };
    let grouped = rules_of(
        &load_ok(&forwards(81)).tables,
        Family::Ipv4,
        Stage::Nat,
        "PREROUTING",
    );
    let zones_seen: Vec<&str> = grouped.iter().map(zone_of).collect();
    assert_eq!(zones_seen, ["wan", "wan", "lan", "lan"], "{grouped:#?}");
    let clashing = rules_of(
        &load_ok(&forwards(80)).tables,
        Family::Ipv4,
        Stage::Nat,
        "PREROUTING",
    );
    let zones_seen: Vec<&str> = clashing.iter().map(zone_of).collect();
    assert_eq!(
        zones_seen,
        ["wan", "lan", "wan", "lan"],
        "file order: {clashing:#?}"
    );
}
