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
        .map(|c| c.rules.iter().map(|r| r.text().to_string()).collect())
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
        l.warnings[0].starts_with(
            "filter INPUT rule 2 (-A INPUT -p tcp -m tcp --dport 8080 -j ACCEPT): never matches"
        ),
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
        .find(|r| r.text().contains("--dport 22"))
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

const JAILS: &str = r#"
[daemon]
jails = "/etc/fail2ban"
filter_dirs = ["/etc/fail2ban/filter.d"]

[[jail]]
name = "sshd"
filter = "sshd[mode=aggressive]"
logpath = ["/var/log/auth.log", "/var/log/secure*", "/var/log/auth.log"]
maxretry = 3
findtime = "1h30m"
bantime = "1d"
increment = { factor = 2, multipliers = [1, 2, 4], maxtime = "1w", rndtime = 300, overalljails = true }
port = [22, "2222", "8000-8100", "ssh"]
proto = "tcp"
ignoreip = ["127.0.0.1/8 ::1", "192.168.1.0/24", "gw.example.org"]
ignoreself = false
ipv6_prefix = true
action = "drop"

[[jail]]
name = "recidive"
logpath = "/var/log/moat.log"
bantime = -1
increment = true

[[jail]]
name = "journal-sshd"
filter = "sshd"
logpath = "journal"
journalmatch = "_SYSTEMD_UNIT=ssh.service + _COMM=sshd"
"#;

fn jails_of(text: &str) -> Config {
    load_ok(text).config.expect("a moat.toml")
}

#[test]
fn jails_read_into_the_model() {
    use moat_fail2ban::{BanTime, Increment, PortRange, Protocol};
    use std::time::Duration;
    let config = jails_of(JAILS);
    assert_eq!(
        config.daemon,
        model::DaemonConfig {
            jails: vec!["/etc/fail2ban".into()],
            filter_dirs: vec!["/etc/fail2ban/filter.d".into()],
            metrics: None,
        }
    );
    let [sshd, recidive, journal] = config.jails.as_slice() else {
        panic!("{:#?}", config.jails)
    };
    assert_eq!(sshd.name, "sshd");
    assert_eq!(sshd.filter, "sshd[mode=aggressive]");
    assert_eq!(sshd.logpaths, ["/var/log/auth.log", "/var/log/secure*"]);
    assert!(!sshd.journal && sshd.journalmatch.is_empty());
    assert!(journal.journal && journal.logpaths.is_empty());
    assert_eq!(
        journal.journalmatch,
        ["_SYSTEMD_UNIT=ssh.service", "+", "_COMM=sshd"]
    );
    assert_eq!(sshd.maxretry, 3);
    assert_eq!(sshd.findtime, Duration::from_secs(5400));
    assert_eq!(sshd.bantime, BanTime::Seconds(Duration::from_secs(86400)));
    assert_eq!(
        sshd.increment,
        Some(Increment {
            factor: 2.0,
            formula: None,
            multipliers: vec![1, 2, 4],
            maxtime: Some(Duration::from_secs(7 * 86400)),
            rndtime: Some(Duration::from_secs(300)),
            overalljails: true,
        })
    );
    let r = |first, last| PortRange { first, last };
    assert_eq!(sshd.scope.protocol, Protocol::Tcp);
    assert_eq!(sshd.scope.ports, [r(22, 22), r(2222, 2222), r(8000, 8100)]);
    assert!(!sshd.scope.all);
    assert_eq!(
        sshd.ignoreip,
        ["127.0.0.1/8", "::1", "192.168.1.0/24", "gw.example.org"]
    );
    assert!(!sshd.ignoreself);
    assert_eq!(sshd.v6_prefix, Some(64));
    assert!(!sshd.reject);
    // The defaults.
    assert_eq!(recidive.filter, "recidive");
    assert_eq!(recidive.logpaths, ["/var/log/moat.log"]);
    assert!(!recidive.journal && recidive.journalmatch.is_empty());
    assert_eq!(recidive.maxretry, 5);
    assert_eq!(recidive.findtime, Duration::from_secs(600));
    assert_eq!(recidive.bantime, BanTime::Permanent);
    let inc = recidive.increment.as_ref().unwrap();
    assert_eq!((inc.factor, inc.multipliers.len()), (1.0, 0));
    assert_eq!(
        (inc.maxtime, inc.rndtime, inc.overalljails),
        (None, None, false)
    );
    assert!(recidive.scope.all && recidive.scope.ports.is_empty());
    assert_eq!(recidive.scope.protocol, Protocol::All);
    assert!(recidive.ignoreip.is_empty() && recidive.ignoreself);
    assert_eq!((recidive.v6_prefix, recidive.reject), (None, true));
}

#[test]
fn jails_have_defaults_and_leave_the_tables_alone() {
    use std::time::Duration;
    let plain = "[[service]]\nname = \"ssh\"\n";
    let without = load_ok(plain);
    let config = without.config.as_ref().unwrap();
    assert!(config.jails.is_empty());
    assert_eq!(config.daemon, model::DaemonConfig::default());
    let with = load_ok(&format!(
        "{plain}[[jail]]\nname = \"sshd\"\nlogpath = \"/var/log/auth.log\"\n"
    ));
    assert_eq!(with.tables, without.tables, "jails are the daemon's job");
    let jail = &with.config.unwrap().jails[0];
    assert_eq!(jail.filter, "sshd", "the jail's name");
    assert_eq!(jail.maxretry, 5);
    assert_eq!(jail.findtime, Duration::from_secs(600));
    assert_eq!(
        jail.bantime,
        moat_fail2ban::BanTime::Seconds(Duration::from_secs(600))
    );
    assert!(jail.increment.is_none() && jail.ignoreself && jail.reject && jail.scope.all);
    // An explicit protocol with every port closes all of that protocol's ports.
    let udp = jails_of("[[jail]]\nname = \"sshd\"\nlogpath = \"/l\"\nproto = \"udp\"\n");
    let scope = &udp.jails[0].scope;
    assert_eq!(scope.protocol, moat_fail2ban::Protocol::Udp);
    assert_eq!(
        (scope.ports[0].first, scope.ports[0].last, scope.all),
        (0, 65535, false)
    );
}

#[test]
fn jails_serialise_times_in_seconds() {
    let config = jails_of(JAILS);
    let v = serde_json::to_value(&config).unwrap();
    let sshd = &v["jails"][0];
    assert_eq!(sshd["findtime"], 5400);
    assert_eq!(sshd["bantime"], 86400);
    assert_eq!(sshd["increment"]["maxtime"], 604800);
    assert_eq!(sshd["increment"]["rndtime"], 300);
    assert_eq!(sshd["scope"]["protocol"], "tcp");
    assert_eq!(
        sshd["scope"]["ports"],
        serde_json::json!(["22", "2222", "8000-8100"])
    );
    assert_eq!(v["jails"][1]["bantime"], -1);
    assert_eq!(v["jails"][1]["scope"]["all"], true);
    assert_eq!(v["daemon"]["filter_dirs"][0], "/etc/fail2ban/filter.d");
}

#[test]
fn jail_errors_point_at_the_value() {
    let jail = |more: &str| {
        load_err(&format!(
            "[[jail]]\nname = \"sshd\"\nlogpath = \"/var/log/auth.log\"\n{more}\n"
        ))
    };
    for (more, expect) in [
        (
            "findtime = \"10 minuets\"",
            "moat.toml:4:12: findtime `10 minuets` is not a time",
        ),
        (
            "bantime = true",
            "moat.toml:4:11: bantime cannot be a boolean",
        ),
        (
            "findtime = -5",
            "moat.toml:4:12: findtime must be longer than 0",
        ),
        ("maxretry = 0", "moat.toml:4:12: maxretry 0 is out of range"),
        ("proto = \"tpc\"", "moat.toml:4:9: unknown protocol `tpc`"),
        (
            "proto = \"udplite\"",
            "moat.toml:4:9: unknown protocol `udplite`",
        ),
        ("port = 70000", "moat.toml:4:8: port 70000 is out of range"),
        ("port = [22, \"all\"]", "moat.toml:4:8: `all` is not a port"),
        (
            "ipv6_prefix = 200",
            "moat.toml:4:15: ipv6_prefix 200 is out of range",
        ),
        (
            "ipv6_prefix = 128",
            "moat.toml:4:15: ipv6_prefix 128 is a single address",
        ),
        (
            "filter = \"sshd[mode=\"",
            "moat.toml:4:10: `sshd[mode=`: options must be written as [name=value, ...]",
        ),
        (
            "filter = \"shd\"",
            "moat.toml:4:10: moat has no built-in filter `shd`",
        ),
        (
            "filter = \"filters/app.conf\"",
            "moat.toml:4:10: `filters/app.conf` is a relative path",
        ),
        (
            "ignoreip = [\"127.0.0.1\", \"10.0.0.0/33\"]",
            "moat.toml:4:26: `10.0.0.0/33`: prefix length /33 is longer than an address",
        ),
        (
            "ignoreip = \"10.0.0.256\"",
            "moat.toml:4:12: `10.0.0.256` is not an IP address",
        ),
        (
            "ignoreip = \"bad_host\"",
            "moat.toml:4:12: `bad_host` is not an address, a network or a host name",
        ),
        (
            "journalmatch = \"_COMM=sshd\"",
            "moat.toml:4:16: journalmatch only applies to the systemd journal",
        ),
        (
            "action = \"dorp\"",
            "moat.toml:4:10: unknown ban action `dorp`",
        ),
        (
            "increment = { factor = 0 }",
            "moat.toml:4:24: factor 0 is out of range",
        ),
        (
            "increment = { multipliers = [1, 0] }",
            "moat.toml:4:29: multipliers must be whole numbers of at least 1",
        ),
        (
            "increment = { maxtime = \"1 fortnight\" }",
            "moat.toml:4:25: maxtime `1 fortnight` is not a time",
        ),
        ("bantme = \"1h\"", "moat.toml:4:1: unknown key `bantme`"),
        (
            "increment = { maxtme = \"1w\" }",
            "moat.toml:4:15: unknown key `maxtme`",
        ),
    ] {
        let e = jail(more);
        assert!(e.starts_with(expect), "{more}:\n{e}");
    }
    let e = jail("bantme = \"1h\"");
    assert!(e.contains("fix: write `bantime`"), "{e}");
    let e = jail("increment = { maxtme = \"1w\" }");
    assert!(e.contains("fix: write `maxtime`"), "{e}");
    let e = jail("filter = \"shd\"");
    assert!(e.contains("fix: write \"sshd\""), "{e}");
    let e = jail("proto = \"tpc\"");
    assert!(e.contains("fix: write proto = \"tcp\""), "{e}");
    for (text, expect) in [
        (
            "[[jail]]\nname = \"sshd\"\nlogpath = [\"/l\", \"journal\"]\n",
            "moat.toml:3:11: a jail reads either log files or the journal, not both",
        ),
        (
            "[[jail]]\nname = \"sshd\"\nlogpath = \"journal\"\njournalmatch = \"_COMM=sshd +\"\n",
            "moat.toml:4:16: `+` is not a journal match",
        ),
        (
            "[[jail]]\nname = \"sshd\"\nlogpath = \"auth.log\"\n",
            "moat.toml:3:11: `auth.log` is a relative path",
        ),
        (
            "[[jail]]\nname = \"sshd\"\nlogpath = [\"/var/log/a\", \"b\"]\n",
            "moat.toml:3:26: `b` is a relative path",
        ),
        ("[[jail]]\nname = \"sshd\"\nlogpath = 5\n", "moat.toml:3:11: invalid type: integer `5`, expected a string or a list of strings"),
        ("[[jail]]\nname = \"sshd\"\n", "moat.toml:1:1: a jail needs a `logpath`"),
        ("[[jail]]\nlogpath = \"/l\"\n", "moat.toml:1:1: a jail needs a `name`"),
        ("[[jail]]\nname = \"ss h\"\nlogpath = \"/l\"\n", "moat.toml:2:8: \"ss h\" is not a valid jail name"),
        (
            "[[jail]]\nname = \"web\"\nlogpath = \"/l\"\n",
            "moat.toml:2:8: moat has no built-in filter `web`",
        ),
        (
            "[[jail]]\nname = \"sshd\"\nlogpath = \"/l\"\n[[jail]]\nname = \"sshd\"\nlogpath = \"/m\"\n",
            "moat.toml:5:8: jail `sshd` is defined twice",
        ),
        (
            "[daemon]\njails = [\"fail2ban\"]\n",
            "moat.toml:2:10: `fail2ban` is a relative path",
        ),
        (
            "[daemon]\nfilter_dir = [\"/f\"]\n",
            "moat.toml:2:1: unknown key `filter_dir`",
        ),
    ] {
        let e = load_err(text);
        assert!(e.starts_with(expect), "{text}:\n{e}");
    }
    let e = load_err("[[jail]]\nname = \"web\"\nlogpath = \"/l\"\n");
    assert!(e.contains("fix: name the filter"), "{e}");
    // A filter.d directory may hold any name; an absolute path is taken as is.
    let c = jails_of("[daemon]\nfilter_dirs = \"/etc/fail2ban/filter.d\"\n[[jail]]\nname = \"web\"\nlogpath = \"/l\"\n[[jail]]\nname = \"app\"\nfilter = \"/etc/moat/app.conf[x=1]\"\nlogpath = \"/l\"\n");
    assert_eq!(c.jails[0].filter, "web");
    assert_eq!(c.jails[1].filter, "/etc/moat/app.conf[x=1]");
    // Every problem is reported at once.
    let e =
        load_err("[[jail]]\nname = \"sshd\"\nlogpath = \"/l\"\nmaxretry = 0\nbantime = \"x\"\n");
    assert_eq!(e.matches("moat.toml:").count(), 2, "{e}");
}

#[test]
fn the_ssh_bans_example_checks() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/ssh-bans.toml");
    let text = std::fs::read_to_string(path).unwrap();
    let l = load_with(path, &text, &db()).unwrap_or_else(|e| panic!("{e}"));
    assert!(l.warnings.is_empty(), "{:?}", l.warnings);
    let config = l.config.unwrap();
    let names: Vec<&str> = config.jails.iter().map(|j| j.name.as_str()).collect();
    assert_eq!(names, ["sshd", "recidive"]);
    assert_eq!(config.jails[0].logpaths, ["/var/log/auth.log"]);
    assert!(!config.jails[0].scope.all);
    assert!(config.jails[1].scope.all);
    assert!(config.jails[1].journal && config.jails[1].logpaths.is_empty());
}

#[test]
fn checked_balances_leave_the_iptables_view_to_the_daemon_table() {
    let l = load_ok(
        "[[balance]]\nport = 80\ncheck = \"http\"\npath = \"/health\"\nexpect = \"200-299\"\ninterval = 0.5\nbackends = [{ to = \"10.0.0.1:8080\", weight = 2 }, { to = \"10.0.0.2:8080\", backup = true }]\n",
    );
    let pre = rules_of(&l.tables, Family::Ipv4, Stage::Nat, "PREROUTING");
    assert!(pre.iter().all(|r| !r.contains("statistic")), "{pre:#?}");
    let fwd = rules_of(&l.tables, Family::Ipv4, Stage::Filter, "FORWARD");
    assert!(fwd.iter().any(|r| r.contains("-d 10.0.0.2")), "{fwd:#?}");
    let b = &l.config.as_ref().unwrap().balances[0];
    assert!(b.is_managed());
    let check = b.check.as_ref().unwrap();
    assert_eq!(
        check.kind,
        crate::model::CheckKind::Http {
            path: "/health".into(),
            first: 200,
            last: 299
        }
    );
    assert_eq!(check.interval, std::time::Duration::from_millis(500));
    assert_eq!(check.timeout, std::time::Duration::from_millis(500));
    assert_eq!((check.fall, check.rise), (2, 2));
}

#[test]
fn health_check_mistakes_are_pointed_out() {
    let base =
        "[[balance]]\nport = 80\nbackends = [{ to = \"10.0.0.1\" }, { to = \"10.0.0.2\" }]\n";
    let e = load_err(&format!("{base}check = \"ping\"\n"));
    assert!(e.contains("unknown check `ping`"), "{e}");
    let e = load_err(&format!("{base}check = \"tcp\"\npath = \"/\"\n"));
    assert!(e.contains("`path` does not go with check = \"tcp\""), "{e}");
    let e = load_err(&format!("{base}interval = 2\n"));
    assert!(e.contains("has no `check`"), "{e}");
    let e = load_err(&format!("{base}check = \"tcp\"\ninterval = 0.01\n"));
    assert!(e.contains("shorter than 0.1 s"), "{e}");
    let e = load_err(&format!("{base}check = \"http\"\nexpect = \"700\"\n"));
    assert!(e.contains("not an HTTP status"), "{e}");
    let e = load_err(&format!("{base}mode = \"fastest\"\n"));
    assert!(e.contains("\"hash\""), "{e}");
    let e = load_err("[[balance]]\nport = 80\nbackends = [{ to = \"10.0.0.1\", backup = true }]\n");
    assert!(e.contains("every backend is a backup"), "{e}");
    let l = load_ok(&format!("{base}affinity = \"source\"\n"));
    let b = &l.config.as_ref().unwrap().balances[0];
    assert_eq!(b.affinity, Some(std::time::Duration::from_secs(1800)));
}

#[test]
fn a_misspelt_service_name_gets_a_did_you_mean() {
    let err = load_err("[[service]]\nname = \"sssh\"\n");
    assert!(err.contains("fix: did you mean \"ssh\"?"), "{err}");
    let err = load_err("[[service]]\nname = \"web\"\nport = \"htps\"\n");
    assert!(err.contains("did you mean \"https\"?"), "{err}");
    let err = load_err("[[service]]\nname = \"zzzzzzzzzz\"\n");
    assert!(!err.contains("did you mean"), "{err}");
}

#[test]
fn check_names_the_sets_only_the_kernel_knows() {
    // Several flags and an ipset's options need one of the kernel's ipsets,
    // -j SET too: only the kernel knows whether there is one.
    let text = "[iptables]\nrules = [\"-A INPUT -m set --match-set pairs src,dst --packets-gt 5 -j DROP\", \
                \"-A INPUT -p tcp --dport 23 -j SET --add-set trap src\"]\n";
    let loaded = load_ok(text);
    crate::check_applicable("moat.toml", text, &loaded).unwrap();
    assert_eq!(
        loaded.lists_needed(),
        vec!["pairs".to_string(), "trap".to_string()]
    );
    let loaded = load_ok(
        "[[block]]\nname = \"mine\"\nfile = \"/l.txt\"\ndirection = \"none\"\n\
         [iptables]\nrules = [\"-A INPUT -m set --match-set mine src -j DROP\", \
         \"-A INPUT -m set --match-set theirs dst -j DROP\"]\n",
    );
    assert_eq!(loaded.lists_needed(), vec!["theirs".to_string()]);
}

#[test]
fn metrics_listen_takes_an_address_or_a_port() {
    let l = load_ok("[metrics]\nlisten = \"127.0.0.1:9469\"\n");
    assert_eq!(
        l.config.unwrap().daemon.metrics,
        Some("127.0.0.1:9469".parse().unwrap())
    );
    let l = load_ok("[metrics]\nlisten = \"9100\"\n");
    assert_eq!(
        l.config.unwrap().daemon.metrics,
        Some("127.0.0.1:9100".parse().unwrap())
    );
    let e = load_err("[metrics]\nlisten = \"localhost\"\n");
    assert!(e.contains("not an address and port"), "{e}");
}

#[test]
fn log_file_settings_are_read_with_defaults_and_pointed_errors() {
    let l = load_ok("[log]\nfile = \"/var/log/moat/p.log\"\nformat = \"text\"\nrotate_size = \"8K\"\nrotate_every = \"1d\"\nkeep = 3\nmax_rate = 500\ngroups = [5]\n");
    let f = l.config.unwrap().log.file.unwrap();
    assert_eq!(f.path, std::path::PathBuf::from("/var/log/moat/p.log"));
    assert!(f.text);
    assert_eq!(f.group, 64);
    assert_eq!(f.groups, Some(vec![5]));
    assert_eq!(f.rotate_bytes, Some(8192));
    assert_eq!(f.rotate_every_secs, Some(86400));
    assert_eq!((f.keep, f.max_rate), (3, Some(500)));
    let d = load_ok("[log]\nfile = \"/p.jsonl\"\n")
        .config
        .unwrap()
        .log
        .file
        .unwrap();
    assert_eq!(
        (d.text, d.rotate_bytes, d.keep, d.max_rate),
        (false, Some(100 << 20), 5, None)
    );
    assert!(load_ok("[log]\ndrops = true\n")
        .config
        .unwrap()
        .log
        .file
        .is_none());
    let e = load_err("[log]\nfile = \"p.log\"\n");
    assert!(e.contains("`p.log` is a relative path"), "{e}");
    let e = load_err("[log]\nfile = \"/p.log\"\nformat = \"xml\"\n");
    assert!(
        e.starts_with("moat.toml:3:10: log format `xml` is not known"),
        "{e}"
    );
    let e = load_err("[log]\nfile = \"/p.log\"\nrotate_size = \"10 parsecs\"\n");
    assert!(e.contains("is not a size"), "{e}");
    let e = load_err("[log]\nmax_rate = 5\n");
    assert!(e.contains("needs `file`"), "{e}");
    let e = load_err("[log]\nfile = \"/p.log\"\ngroup = 70000\n");
    assert!(e.contains("log group 70000 is out of range"), "{e}");
}

#[test]
fn check_notes_what_a_zone_leaves_to_the_family_it_names_no_network_of() {
    let notes = |text: &str| crate::family_notes(load_ok(text).config.as_ref().unwrap());
    let lan_v4 = "[zones.lan]\ninterfaces = [\"eth1\"]\nnetworks = [\"192.168.1.0/24\"]\n";
    let said = notes(lan_v4);
    assert_eq!(said.len(), 1, "{said:?}");
    assert!(said[0].starts_with("zone lan names IPv4 networks only: every IPv6 packet"));
    let both =
        "[zones.lan]\ninterfaces = [\"eth1\"]\nnetworks = [\"192.168.1.0/24\", \"fd00::/64\"]\n";
    assert!(notes(both).is_empty());
    let no_ifaces = "[zones.lan]\nnetworks = [\"192.168.1.0/24\"]\n";
    assert!(
        notes(no_ifaces).is_empty(),
        "without interfaces it has no IPv6 at all"
    );
    let v4_only = format!("[defaults]\nipv6 = false\n\n{lan_v4}");
    let said = notes(&v4_only);
    assert_eq!(said.len(), 1, "{said:?}");
    assert!(said[0].contains("IPv6 traffic is not filtered"));
}

#[test]
fn check_notes_a_port_forward_no_packet_can_reach_from_its_zone() {
    let notes = |text: &str| crate::family_notes(load_ok(text).config.as_ref().unwrap());
    let forward = |zone: &str, to: &str| {
        format!(
            "{zone}[zones.lan]\ninterfaces = [\"eth1\"]\nnetworks = [\"192.168.1.0/24\", \"fd00:1::/64\"]\n\
             [[port_forward]]\nname = \"web\"\nport = 80\nto = \"{to}\"\nfrom = \"wan\"\n"
        )
    };
    let wan_v4 = "[zones.wan]\nnetworks = [\"203.0.113.0/24\"]\n";
    let said = notes(&forward(wan_v4, "fd00:1::10"));
    assert_eq!(said.len(), 1, "{said:?}");
    assert!(
        said[0]
            .starts_with("port forward web goes to an IPv6 address, but zone wan has no interface"),
        "{said:?}"
    );
    assert!(notes(&forward(wan_v4, "192.168.1.10")).is_empty());
    let wan_iface = "[zones.wan]\ninterfaces = [\"eth0\"]\n";
    assert!(notes(&forward(wan_iface, "fd00:1::10")).is_empty());
}
