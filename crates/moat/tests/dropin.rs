//! moat as a drop-in for iptables on real hosts: Docker's own command
//! sequence sets up its chains and publishes a container port that real
//! traffic reaches; the security table; the program names tools call.

mod common;

use std::net::IpAddr;
use std::process::Command;

use common::{
    gateway_lab, moat, moat_bin, moat_iptables_bin, moat_ok, packets_of, restore_ok, source_seen,
    text,
};
use moat_testnet::topology::{CLIENT_V4, GATEWAY_LAN_V4, GATEWAY_WAN_IF, SERVER_V4, WAN_NET_V4};
use moat_testnet::{require_root_or_skip, tcp_connect_timeout, Netns, TcpServer, Topology};

/// What Docker 24+ (libnetwork's bridge driver) runs through iptables when
/// the daemon starts and when a container publishes a port, in its order:
/// chains first, then every rule as "check (-C), and add when missing".
/// `BRIDGE`, `SUBNET` and `CONTAINER` stand for docker0, 172.17.0.0/16 and
/// the container's address (Docker takes another bridge with --bridge).
const DOCKER: &[&str] = &[
    "-t nat -N DOCKER",
    "-t filter -N DOCKER",
    "-t filter -N DOCKER-ISOLATION-STAGE-1",
    "-t filter -N DOCKER-ISOLATION-STAGE-2",
    "-t filter -N DOCKER-USER",
    "? -t filter DOCKER-USER -A -j RETURN",
    "? -t nat PREROUTING -A -m addrtype --dst-type LOCAL -j DOCKER",
    "? -t nat OUTPUT -A -m addrtype --dst-type LOCAL -j DOCKER ! --dst 127.0.0.0/8",
    "? -t nat POSTROUTING -I -s SUBNET ! -o BRIDGE -j MASQUERADE",
    "? -t nat DOCKER -I -i BRIDGE -j RETURN",
    "-P FORWARD DROP",
    "? -t filter FORWARD -I -i BRIDGE -o BRIDGE -j ACCEPT",
    "? -t filter FORWARD -I -i BRIDGE ! -o BRIDGE -j ACCEPT",
    "? -t filter FORWARD -I -o BRIDGE -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
    "? -t filter FORWARD -I -o BRIDGE -j DOCKER",
    "? -t filter DOCKER-ISOLATION-STAGE-1 -I -i BRIDGE ! -o BRIDGE -j DOCKER-ISOLATION-STAGE-2",
    "? -t filter DOCKER-ISOLATION-STAGE-2 -I -o BRIDGE -j DROP",
    "? -t filter FORWARD -I -j DOCKER-ISOLATION-STAGE-1",
    "? -t filter FORWARD -I -j DOCKER-USER",
    "-t nat -n -L DOCKER",
    "-t filter -n -L DOCKER-USER",
    // `docker run -p 8080:80`.
    "? -t nat DOCKER -A -p tcp -d 0/0 --dport 8080 -j DNAT --to-destination CONTAINER:80 ! -i BRIDGE",
    "? -t filter DOCKER -A ! -i BRIDGE -o BRIDGE -p tcp -d CONTAINER --dport 80 -j ACCEPT",
    "? -t nat POSTROUTING -A -p tcp -s CONTAINER -d CONTAINER --dport 80 -j MASQUERADE",
];

/// Runs Docker's sequence through `program` (moat or Debian's iptables-nft)
/// in `ns`, checking at each "check and add" step that `-C` says no first
/// and yes after the rule is added, as Docker relies on.
fn replay_docker(ns: &Netns, program: &[&str]) {
    let container = SERVER_V4.to_string();
    for step in DOCKER {
        let line = step
            .replace("BRIDGE", GATEWAY_WAN_IF)
            .replace("SUBNET", WAN_NET_V4)
            .replace("CONTAINER", &container);
        let run = |args: &[&str]| {
            let mut argv: Vec<&str> = program.to_vec();
            argv.push("--wait");
            argv.extend_from_slice(args);
            ns.exec(&argv).expect("run iptables")
        };
        let Some(rest) = line.strip_prefix("? ") else {
            let out = run(&line.split_whitespace().collect::<Vec<_>>());
            assert!(
                out.status.success(),
                "{program:?} {line}: {}",
                text(&out.stderr)
            );
            continue;
        };
        // "? -t TABLE CHAIN ADD RULE..." -> -C CHAIN RULE, then ADD CHAIN RULE.
        let w: Vec<&str> = rest.split_whitespace().collect();
        let (table, chain, add, rule) = (&w[..2], w[2], w[3], &w[4..]);
        let check = [table, &["-C", chain], rule].concat();
        let out = run(&check);
        assert_eq!(
            out.status.code(),
            Some(1),
            "{program:?} {check:?} before adding: {}",
            text(&out.stderr)
        );
        let out = run(&[table, &[add, chain], rule].concat());
        assert!(
            out.status.success(),
            "{program:?} {line}: {}",
            text(&out.stderr)
        );
        let out = run(&check);
        assert!(
            out.status.success(),
            "{program:?} {check:?} after adding: {}",
            text(&out.stderr)
        );
    }
}

/// iptables-save output without its comment lines.
fn saved(out: std::process::Output) -> String {
    assert!(out.status.success(), "{}", text(&out.stderr));
    text(&out.stdout)
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| format!("{l}\n"))
        .collect()
}

/// Whether a TCP connection from `ns` to `addr:port` gets through quickly.
fn connects(ns: &Netns, addr: impl Into<IpAddr>, port: u16) -> bool {
    tcp_connect_timeout(ns, addr, port, common::QUICK)
        .unwrap()
        .is_connected()
}

#[test]
fn dockers_commands_set_up_its_chains_and_publish_a_port() {
    let Some(lab) = require_root_or_skip().then(|| Topology::gateway().unwrap()) else {
        return;
    };
    let oracle = Netns::new("docker-oracle").unwrap();
    // Docker asks the version first and reads "v1.8" and "nf_tables" from it.
    let version = moat_ok(&lab.gateway, &["iptables", "--version"]);
    assert!(
        version.starts_with("iptables v1.8.") && version.contains("(nf_tables)"),
        "{version}"
    );

    replay_docker(&lab.gateway, &[moat_iptables_bin(), "iptables"]);
    replay_docker(&oracle, &["iptables-nft"]);
    assert_eq!(
        saved(moat(&lab.gateway, &["iptables-save"])),
        saved(oracle.exec(&["iptables-nft-save"]).unwrap()),
        "moat's save after Docker's commands differs from Debian iptables-nft's"
    );

    // The container (the lab's server) serves port 80; the host publishes
    // it on 8080 of every local address.
    let container = TcpServer::start(&lab.server, SERVER_V4, 80).unwrap();
    let _unpublished = TcpServer::start(&lab.server, SERVER_V4, 81).unwrap();
    let seen = source_seen(
        &container,
        &lab.client,
        GATEWAY_LAN_V4,
        8080,
        &format!("{SERVER_V4}:80"),
    );
    assert_eq!(
        seen,
        Some(CLIENT_V4.into()),
        "published port keeps the client's address"
    );
    // From the host itself, through nat OUTPUT's jump to DOCKER.
    let seen = source_seen(
        &container,
        &lab.gateway,
        GATEWAY_LAN_V4,
        8080,
        &format!("{SERVER_V4}:80"),
    );
    assert!(seen.is_some(), "the host reaches its own published port");
    // FORWARD's policy is DROP: a port nothing publishes stays closed.
    assert!(
        !connects(&lab.client, SERVER_V4, 81),
        "unpublished port 81 must be dropped"
    );
    // The container reaches out, masqueraded behind the host.
    let outside = TcpServer::start(&lab.client, CLIENT_V4, 9000).unwrap();
    let seen = source_seen(
        &outside,
        &lab.server,
        CLIENT_V4,
        9000,
        &format!("{CLIENT_V4}:9000"),
    );
    assert_eq!(
        seen,
        Some(GATEWAY_LAN_V4.into()),
        "the container's connection is masqueraded"
    );

    let nat = moat_ok(&lab.gateway, &["iptables", "-t", "nat", "-vnL"]);
    assert!(packets_of(&nat, "DOCKER", "DNAT") >= 2, "{nat}");
    let filter = moat_ok(&lab.gateway, &["iptables", "-vnL"]);
    assert!(packets_of(&filter, "DOCKER", "dpt:80") >= 1, "{filter}");
}

const SECURITY: &str = "\
*security
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -p tcp -m tcp --dport 9000 -j DROP
-A FORWARD -d 10.99.2.2/32 -p tcp -m tcp --dport 9001 -j DROP
COMMIT
*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -p tcp -m tcp --dport 9000 -j ACCEPT
COMMIT
";

/// The warnings iptables prints itself reach stderr in iptables' words,
/// once for each rule that gives them, as iptables-nft writes them: what
/// Shorewall's and other programs' output holds.
#[test]
fn iptables_own_warnings_read_as_iptables_nft_writes_them() {
    let Some(ours) = require_root_or_skip().then(|| Netns::new("warn-moat").unwrap()) else {
        return;
    };
    let theirs = Netns::new("warn-nft").unwrap();
    let commands: [&[&str]; 3] = [
        &[
            "iptables",
            "-A",
            "INPUT",
            "-j",
            "NFLOG",
            "--nflog-range",
            "5",
        ],
        &["iptables", "-A", "INPUT", "-m", "time", "--localtz"],
        &["ip6tables", "-A", "INPUT", "-p", "44"],
    ];
    for argv in commands {
        let nft = format!("{}-nft", argv[0]);
        let mut nft_argv = vec![&nft[..]];
        nft_argv.extend_from_slice(&argv[1..]);
        let (mine, debians) = (moat(&ours, argv), theirs.exec(&nft_argv).unwrap());
        assert!(
            mine.status.success() && debians.status.success(),
            "{argv:?}"
        );
        assert!(!debians.stderr.is_empty(), "{argv:?}");
        assert_eq!(text(&mine.stderr), text(&debians.stderr), "{argv:?}");
    }
    let rules = "*filter\n-A INPUT -m time --localtz\n-A INPUT -j NFLOG --nflog-range 3\n\
                 -A INPUT -m time --localtz\n-A INPUT -j NFLOG --nflog-range 3\nCOMMIT\n";
    let mine = common::restore(&ours, "iptables-restore", &["-n"], rules);
    let debians = common::exec_input(&theirs, &["iptables-nft-restore", "-n"], &[], rules);
    assert!(mine.status.success() && debians.status.success());
    assert_eq!(
        text(&mine.stderr).lines().count(),
        4,
        "{}",
        text(&mine.stderr)
    );
    assert_eq!(text(&mine.stderr), text(&debians.stderr));
}

/// Where a module checks its hooks only as a rule is added (xt_policy's
/// direction, xt_physdev's outgoing port, xt_devgroup), iptables-nft
/// takes the rule in a user chain whatever
/// comes to reach it, and refuses it in a built-in chain: moat takes and
/// refuses the same commands, with iptables' exit statuses, and the two
/// list the same rules; the kernel takes moat's table (a shared IPsec chain
/// jumped to from FORWARD and OUTPUT, as strongSwan's rules make it).
#[test]
fn user_chains_take_what_a_module_checks_only_as_a_rule_is_added() {
    let Some(ours) = require_root_or_skip().then(|| Netns::new("hook-moat").unwrap()) else {
        return;
    };
    let theirs = Netns::new("hook-nft").unwrap();
    let commands = [
        "-N U",
        "-A INPUT -j U",
        "-A U -m policy --dir out --pol none -j ACCEPT",
        "-N P",
        "-A OUTPUT -j P",
        "-A P -m physdev --physdev-out eth0 -j ACCEPT",
        "-N G",
        "-A G -m devgroup --src-group 1 -j ACCEPT",
        "-A OUTPUT -j G",
        "-A OUTPUT -m devgroup --src-group 1 -j ACCEPT",
        "-A INPUT -m policy --dir out --pol none -j ACCEPT",
        "-A OUTPUT -m physdev --physdev-out eth0 -j ACCEPT",
    ];
    for command in commands {
        let args: Vec<&str> = command.split(' ').collect();
        let mine = moat(&ours, &[&["iptables"], &args[..]].concat());
        let debians = theirs
            .exec(&[&["iptables-nft"], &args[..]].concat())
            .unwrap();
        assert_eq!(
            mine.status.code(),
            debians.status.code(),
            "{command}: {}",
            text(&mine.stderr)
        );
    }
    let ipsec = "*filter\n:V - [0:0]\n-A FORWARD -j V\n-A OUTPUT -j V\n\
                 -A V -m policy --dir in --pol ipsec -j ACCEPT\n\
                 -A V -m policy --dir out --pol ipsec -j ACCEPT\nCOMMIT\n";
    let mine = common::restore(&ours, "iptables-restore", &["-n"], ipsec);
    assert!(mine.status.success(), "{}", text(&mine.stderr));
    let debians = common::exec_input(&theirs, &["iptables-nft-restore", "-n"], &[], ipsec);
    assert!(debians.status.success(), "{}", text(&debians.stderr));
    let listing = moat_ok(&ours, &["iptables", "-S"]);
    assert!(
        listing.contains("-A V -m policy --dir in --pol ipsec -j ACCEPT"),
        "{listing}"
    );
    assert_eq!(
        listing,
        text(&theirs.exec(&["iptables-nft", "-S"]).unwrap().stdout)
    );
}

/// What programs look for in iptables' output when a command fails
/// (go-iptables, used by the CNI plugins, tells a missing chain or rule by
/// these words; scripts grep for "Chain already exists."): moat says it in
/// iptables' words with iptables' exit status, as iptables-nft does, for
/// both families, and a restore line it cannot read with the line number
/// firehol takes from iptables-restore's "Error occurred at line: N".
#[test]
fn failures_are_told_in_iptables_words() {
    let Some(ours) = require_root_or_skip().then(|| Netns::new("words-moat").unwrap()) else {
        return;
    };
    let theirs = Netns::new("words-nft").unwrap();
    // iptables-nft makes a built-in chain when first used: INPUT first.
    let commands = [
        "-P INPUT ACCEPT",
        "-N foo",
        "-N foo",
        "-A nochain -j ACCEPT",
        "-I nochain -j ACCEPT",
        "-C nochain -j ACCEPT",
        "-D nochain -j ACCEPT",
        "-C INPUT -s ADDR -j ACCEPT",
        "-D INPUT -s ADDR -j ACCEPT",
        // A rule only the kernel would refuse cannot be in the chain.
        "-D INPUT -s ADDR -j REJECT --reject-with tcp-reset",
        "-C INPUT -s ADDR -j REJECT --reject-with tcp-reset",
        "-D INPUT 5",
        "-I INPUT 5 -j ACCEPT",
        "-R INPUT 5 -j ACCEPT",
        "-Z nochain 1",
        "-E nochain INPUT",
        "-F nochain",
        "-Z nochain",
        "-X nochain",
        "-E nochain bar",
        "-N bar",
        "-E foo bar",
        "-P nochain ACCEPT",
        "-P foo ACCEPT",
        "-t nonsuch -A INPUT -j ACCEPT",
        // The kernel refuses a jump into a built-in chain (exit status 4).
        "-A INPUT -j FORWARD",
        "-A foo -g OUTPUT",
        "-I foo 1 -j INPUT",
        "-A nochain -j INPUT",
        // Names of targets iptables can load for one family, or both.
        "-N SECMARK",
        "-N HL",
        "-N TTL",
    ];
    // Said in moat's own words (iptables-nft passes on the kernel's errno).
    let own_words = |command: &str| {
        command.starts_with("-N ")
            || command.starts_with("-t nonsuch")
            || ["FORWARD", "OUTPUT", "INPUT"]
                .iter()
                .any(|c| command.ends_with(c))
    };
    for (family, addr) in [("iptables", "192.0.2.1"), ("ip6tables", "2001:db8::1")] {
        let nft = format!("{family}-nft");
        for command in commands {
            let command = command.replace("ADDR", addr);
            let words: Vec<&str> = command.split(' ').collect();
            let mine = moat(&ours, &[&[family], &words[..]].concat());
            let debians = theirs.exec(&[&[&nft[..]], &words[..]].concat()).unwrap();
            assert_eq!(
                mine.status.code(),
                debians.status.code(),
                "{family} {command}"
            );
            if !own_words(&command) {
                assert_eq!(
                    text(&mine.stderr),
                    text(&debians.stderr),
                    "{family} {command}"
                );
            }
        }
    }
    let file = "*filter\n:uc - [0:0]\n-A uc -j FORWARD\nCOMMIT\n";
    let mine = common::restore(&ours, "iptables-restore", &["-n"], file);
    let debians = common::exec_input(&theirs, &["iptables-nft-restore", "-n"], &[], file);
    assert_eq!(mine.status.code(), debians.status.code(), "{file}");
    assert!(
        text(&mine.stderr).contains("line 3"),
        "{}",
        text(&mine.stderr)
    );
    // A restore's failing line, as iptables-nft-restore says it.
    for lines in [
        "-D INPUT -s 192.0.2.9 -j ACCEPT",
        "-X nochain",
        "-N x\n-N x",
        "-F nochain",
        "-I INPUT 9 -j DROP",
    ] {
        let file = format!("*filter\n{lines}\nCOMMIT\n");
        let mine = common::restore(&ours, "iptables-restore", &["-n"], &file);
        let debians = common::exec_input(&theirs, &["iptables-nft-restore", "-n"], &[], &file);
        assert_eq!(mine.status.code(), debians.status.code(), "{lines}");
        assert_eq!(
            text(&mine.stderr),
            text(&debians.stderr).replace("iptables-nft-restore", "iptables-restore"),
            "{lines}"
        );
    }
    // A line it cannot read: after its own reason, iptables-restore says
    // where, in words programs look for (firehol shows the offending rule
    // by the number after "Error occurred at line: ").
    let told_where = |stderr: &[u8]| -> Vec<String> {
        text(stderr)
            .lines()
            .filter(|l| l.starts_with("Error occurred at line: ") || l.starts_with("Try `"))
            .map(|l| l.replace("iptables-nft-restore", "iptables-restore"))
            .collect()
    };
    for (table, line) in [
        ("filter", "-A INPUT --bogus -j ACCEPT"),
        ("filter", "-A INPUT -m nosuchmatch -j ACCEPT"),
        ("filter", "-A INPUT -s 192.0.2.300 -j DROP"),
        ("mangle", "-A OUTPUT -p tcp --dport 99999 -j ACCEPT"),
        ("filtr", ""),
    ] {
        let file = format!("*{table}\n{line}\nCOMMIT\n").replace("\n\n", "\n");
        let mine = common::restore(&ours, "iptables-restore", &["-n"], &file);
        let debians = common::exec_input(&theirs, &["iptables-nft-restore", "-n"], &[], &file);
        assert_eq!(mine.status.code(), Some(2), "{file}");
        assert_eq!(debians.status.code(), Some(2), "{file}");
        assert_eq!(
            told_where(&mine.stderr),
            told_where(&debians.stderr),
            "{file}"
        );
        assert_eq!(told_where(&mine.stderr).len(), 2, "{}", text(&mine.stderr));
    }
}

/// In a namespace where nothing was made yet, the failures Kubernetes'
/// cleanup meets are told with the words its IsNotFoundError looks for
/// ("does not exist", "No such file or directory", "No chain/target/match
/// by that name"), with iptables-nft's exit statuses: a jump rule to a
/// chain not there, an unknown match, and -X, -Z or -E of a built-in chain
/// of a table not made, or -D or -R of a rule in one by its number
/// (iptables-nft finds no chain there).
#[test]
fn missing_things_are_told_in_the_words_kubernetes_looks_for() {
    let Some(ours) = require_root_or_skip().then(|| Netns::new("k8s-moat").unwrap()) else {
        return;
    };
    let theirs = Netns::new("k8s-nft").unwrap();
    for (command, words) in [
        ("-Z INPUT", "No chain/target/match by that name"),
        ("-X INPUT", "No chain/target/match by that name"),
        ("-D INPUT 1", "No chain/target/match by that name"),
        ("-R INPUT 1 -j ACCEPT", "No chain/target/match by that name"),
        ("-E INPUT OTHER", "No chain/target/match by that name"),
        (
            "-t nat -D POSTROUTING 1",
            "No chain/target/match by that name",
        ),
        (
            "-t nat -X POSTROUTING",
            "No chain/target/match by that name",
        ),
        (
            "-t nat -C POSTROUTING -m comment --comment k8s -j KUBE-POSTROUTING",
            "does not exist",
        ),
        (
            "-t nat -D POSTROUTING -j KUBE-POSTROUTING",
            "does not exist",
        ),
        ("-C INPUT -m bogus -j ACCEPT", "No such file or directory"),
    ] {
        let argv: Vec<&str> = command.split(' ').collect();
        let mine = moat(&ours, &[&["iptables"], &argv[..]].concat());
        let debians = theirs
            .exec(&[&["iptables-nft"], &argv[..]].concat())
            .unwrap();
        assert_eq!(mine.status.code(), debians.status.code(), "{command}");
        assert!(text(&debians.stderr).contains(words), "{command}");
        assert!(
            text(&mine.stderr).contains(words),
            "{command}: {}",
            text(&mine.stderr)
        );
    }
}

/// A restore file's command lines read as iptables-nft-restore reads them,
/// each file restored into a fresh namespace of each tool: a `-C` that
/// finds no rule fails the restore, `-L` and `-S` print the table as it
/// stands, a line's own `-c PACKETS BYTES` sets its rule's counters
/// without `--counters` (and beside `[p:b]` with it is refused), the
/// command-line-only `-t`, `-w` and `-W` are refused, and so are lines
/// beyond iptables-restore's limits (252 words, a word of 1,024 bytes);
/// iptables-save writes built-in chains' policy counters with or without
/// `-c`; a line's `[packets:bytes]` may run into its command, its numbers
/// are read only with `--counters`, as C's `%llu` reads them (white space,
/// a sign, junk after the digits), and so are a chain's.
#[test]
fn restore_lines_read_as_iptables_restore_reads_them() {
    if !require_root_or_skip() {
        return;
    }
    let comments = |n: usize| "-m comment --comment c ".repeat(n);
    let long = |n: usize| format!("-m comment --comment {} ", "z".repeat(n));
    let cases: Vec<(&[&str], String)> = vec![
        (
            &[],
            "-A INPUT -s 192.0.2.1 -j ACCEPT\n-C INPUT -s 192.0.2.1 -j ACCEPT".into(),
        ),
        (
            &[],
            "-A INPUT -s 192.0.2.1 -j ACCEPT\n-C INPUT -s 192.0.2.9 -j ACCEPT".into(),
        ),
        (
            &[],
            "-A INPUT -s 192.0.2.1 -j ACCEPT\n-S\n-L -n -v\n-S INPUT 1".into(),
        ),
        (&[], "-A INPUT -j ACCEPT -c 5 6".into()),
        (&["-c"], "[1:2] -A INPUT -j ACCEPT".into()),
        (
            &["-c"],
            ":INPUT DROP [10:200]\n:X - [3:4]\n[1:2] -A X -j ACCEPT".into(),
        ),
        (&["-c"], "[1:2] -A INPUT -j ACCEPT -c 5 6".into()),
        (
            &["-c"],
            "[12:34]-A INPUT -j ACCEPT\n[ 1x:+2y] -A INPUT\n[-1:99999999999999999999] -A INPUT"
                .into(),
        ),
        (
            &[],
            "[a:b] -A INPUT -j ACCEPT\n[1:] -A INPUT -j DROP".into(),
        ),
        (&["-c"], "[a:2] -A INPUT -j ACCEPT".into()),
        (&["-c"], "[1:-2] -A INPUT -j ACCEPT".into()),
        (
            &["-c"],
            ":INPUT DROP [+1:-2]\n:FORWARD ACCEPT [3:4]x".into(),
        ),
        (&[], "-t filter -A INPUT -j ACCEPT".into()),
        (&[], "-A INPUT -j ACCEPT --table=filter".into()),
        (&[], "-A INPUT -w -j ACCEPT".into()),
        (&[], "-A INPUT -w5 -j ACCEPT".into()),
        (&[], "-A INPUT -m comment --comment -t -j ACCEPT".into()),
        (&[], format!("-A INPUT {}-j ACCEPT", comments(61))),
        (&[], format!("-A INPUT {}-j ACCEPT", comments(62))),
        (&[], format!("-A INPUT {}-j ACCEPT", long(1023))),
        (&[], format!("-A INPUT {}-j ACCEPT", long(1024))),
    ];
    for (options, lines) in &cases {
        let file = format!("*filter\n{lines}\nCOMMIT\n");
        let ours = Netns::new("lines-moat").unwrap();
        let theirs = Netns::new("lines-nft").unwrap();
        let mine = common::restore(&ours, "iptables-restore", options, &file);
        let nft_restore = [&["iptables-nft-restore"], &options[..]].concat();
        let debians = common::exec_input(&theirs, &nft_restore, &[], &file);
        let what = moat_model::text::first_bytes(lines, 80);
        assert_eq!(mine.status.code(), debians.status.code(), "{what}");
        assert_eq!(text(&mine.stdout), text(&debians.stdout), "{what}");
        // iptables' words for the failure, in moat's form of the message.
        let said = text(&debians.stderr).replace("iptables-nft-restore", "iptables-restore");
        if let Some(words) = said.lines().next().and_then(|l| l.split(": ").last()) {
            assert!(text(&mine.stderr).contains(words), "{what}: {said}");
        }
        let save = |ns: &Netns, argv: &[&str]| saved(ns.exec(argv).unwrap());
        for counters in [&[][..], &["-c"]] {
            assert_eq!(
                save(&ours, &[&[moat_bin(), "iptables-save"], counters].concat()),
                save(&theirs, &[&["iptables-nft-save"], counters].concat()),
                "{what} {counters:?}"
            );
        }
    }
}

/// A restore section that declares no chain and only flushes, deletes
/// every chain, zeroes or lists makes no table, as with iptables-nft
/// (wg-quick restores `*raw` with nothing in it; a nat table would hook
/// NAT into every connection); without --noflush it takes away a table
/// that is there, as iptables-nft leaves that table no chain. Side by
/// side, step by step, ip6tables' personality too.
#[test]
fn sections_that_make_nothing_make_no_table_like_iptables_nft() {
    if !require_root_or_skip() {
        return;
    }
    let steps: &[(&str, &[&str], &str)] = &[
        ("iptables-restore", &[], "*nat\nCOMMIT\n*raw\n-F\n-X\n-Z\nCOMMIT\n"),
        ("ip6tables-restore", &["-n"], "*raw\nCOMMIT\n*mangle\n-I POSTROUTING -j ACCEPT\nCOMMIT\n"),
        ("iptables-restore", &[], "*filter\n:INPUT DROP [0:0]\n:FOO - [0:0]\n-A INPUT -j FOO\nCOMMIT\n*nat\n:POSTROUTING ACCEPT [0:0]\n-A POSTROUTING -j MASQUERADE\nCOMMIT\n"),
        ("iptables-restore", &["-n"], "*nat\n-S\nCOMMIT\n*security\n-L -n\nCOMMIT\n"),
        ("iptables-restore", &[], "*filter\nCOMMIT\n"),
        ("iptables-restore", &[], "*nat\n:PREROUTING ACCEPT [0:0]\nCOMMIT\n*nat\n-F\nCOMMIT\n"),
    ];
    let ours = Netns::new("nothing-moat").unwrap();
    let theirs = Netns::new("nothing-nft").unwrap();
    for (program, options, file) in steps {
        let mine = common::restore(&ours, program, options, file);
        let reference = program.replace("tables-restore", "tables-nft-restore");
        let argv = [&[reference.as_str()], &options[..]].concat();
        let debians = common::exec_input(&theirs, &argv, &[], file);
        assert_eq!(mine.status.code(), debians.status.code(), "{file}");
        for (save, reference) in [
            ("iptables-save", "iptables-nft-save"),
            ("ip6tables-save", "ip6tables-nft-save"),
        ] {
            assert_eq!(
                saved(ours.exec(&[moat_bin(), save]).unwrap()),
                saved(theirs.exec(&[reference]).unwrap()),
                "{save} after {program} {options:?} of {file}"
            );
        }
    }
    let tables = text(&ours.exec(&["nft", "list", "tables"]).unwrap().stdout);
    assert!(
        !tables.contains("moat_nat"),
        "no NAT hooks are left: {tables}"
    );
}

/// `iptables-restore -T NAME` restores that table of the file alone, and
/// nothing, without an error, when the file has no such table or no table
/// has that name, as iptables-nft-restore does; the save and restore
/// personalities take their long options abbreviated, as getopt does.
#[test]
fn restore_takes_one_table_with_its_table_option() {
    let Some(ours) = require_root_or_skip().then(|| Netns::new("one-table-moat").unwrap()) else {
        return;
    };
    let theirs = Netns::new("one-table-nft").unwrap();
    let file = "*filter\n-A INPUT -j ACCEPT\nCOMMIT\n*nat\n-A OUTPUT -j RETURN\nCOMMIT\n";
    for table in ["nat", "raw", "nonsuch"] {
        let mine = common::restore(&ours, "iptables-restore", &["--tab", table], file);
        let debians =
            common::exec_input(&theirs, &["iptables-nft-restore", "-T", table], &[], file);
        assert_eq!(
            mine.status.code(),
            Some(0),
            "-T {table}: {}",
            text(&mine.stderr)
        );
        assert_eq!(debians.status.code(), Some(0), "-T {table}");
    }
    assert_eq!(
        saved(moat(&ours, &["iptables-save", "--count"])),
        saved(theirs.exec(&["iptables-nft-save", "--counters"]).unwrap())
    );
    let nat = moat_ok(&ours, &["iptables", "-t", "nat", "-S", "OUTPUT"]);
    assert!(nat.contains("-A OUTPUT -j RETURN"), "{nat}");
    let filter = moat_ok(&ours, &["iptables", "-S", "INPUT"]);
    assert!(!filter.contains("-j ACCEPT"), "{filter}");
}

/// `-w` and `-W` take no value in their own word, as getopt reads
/// iptables-restore's options: `-wn` (a blocklist script's way to add
/// rules) keeps the rules already there, and `-w5` is refused.
#[test]
fn wait_options_give_noflush_its_own_letter() {
    let Some(ours) = require_root_or_skip().then(|| Netns::new("wn-moat").unwrap()) else {
        return;
    };
    let theirs = Netns::new("wn-nft").unwrap();
    for (options, status) in [(["-wn"], 0), (["-Wn"], 0), (["-w5"], 1)] {
        for rule in ["-s 192.0.2.1 -j DROP", "-s 192.0.2.2 -j DROP"] {
            let file = format!("*filter\n-A INPUT {rule}\nCOMMIT\n");
            let mine = common::restore(&ours, "iptables-restore", &options, &file);
            let debians =
                common::exec_input(&theirs, &["iptables-nft-restore", options[0]], &[], &file);
            assert_eq!(mine.status.code(), Some(status), "{options:?}: {mine:?}");
            assert_eq!(
                debians.status.code(),
                Some(status),
                "{options:?}: {debians:?}"
            );
        }
    }
    let rules = moat_ok(&ours, &["iptables", "-S", "INPUT"]);
    assert_eq!(rules.matches("-j DROP").count(), 4, "{rules}");
    assert_eq!(
        saved(moat(&ours, &["iptables-save"])),
        saved(theirs.exec(&["iptables-nft-save"]).unwrap())
    );
}

/// The save and restore tools' odd options, beside Debian's: `-b` (but
/// not `--binary`) is taken with iptables' note that it is not
/// implemented, iptables-save's `-d` changes nothing, and
/// iptables-restore has no `-4` or `-6`.
#[test]
fn odd_save_and_restore_options_go_as_with_iptables_nft() {
    let Some(ours) = require_root_or_skip().then(|| Netns::new("odd-opts-moat").unwrap()) else {
        return;
    };
    let theirs = Netns::new("odd-opts-nft").unwrap();
    let file = "*filter\n-A INPUT -j ACCEPT\nCOMMIT\n";
    for (option, status) in [
        ("-b", 0),
        ("--binary", 1),
        ("-4", 1),
        ("-6", 1),
        ("--ipv4", 1),
    ] {
        let mine = common::restore(&ours, "ip6tables-restore", &[option], file);
        let debians = common::exec_input(&theirs, &["ip6tables-nft-restore", option], &[], file);
        assert_eq!(mine.status.code(), Some(status), "{option}: {mine:?}");
        assert_eq!(debians.status.code(), Some(status), "{option}: {debians:?}");
        assert_eq!(
            text(&mine.stderr).contains("-b/--binary option is not implemented"),
            status == 0,
            "{option}: {mine:?}"
        );
    }
    for (option, status) in [("-d", 0), ("--dump", 0), ("-b", 0), ("--binary", 1)] {
        let mine = moat(&ours, &["ip6tables-save", option]);
        let debians = theirs.exec(&["ip6tables-nft-save", option]).unwrap();
        assert_eq!(mine.status.code(), Some(status), "{option}: {mine:?}");
        assert_eq!(debians.status.code(), Some(status), "{option}: {debians:?}");
        if status == 0 {
            assert_eq!(saved(mine), saved(debians), "{option}");
        }
    }
}

/// Tables of legacy iptables (x_tables) beside moat's still filter, but no
/// listing of moat's shows them: listings and saves warn about them on
/// stderr in iptables-nft's words, and stay quiet without them.
#[test]
fn legacy_tables_are_warned_about_as_iptables_nft_does() {
    let Some(ours) = require_root_or_skip().then(|| Netns::new("legacy-moat").unwrap()) else {
        return;
    };
    let theirs = Netns::new("legacy-nft").unwrap();
    let commands: [&[&str]; 4] = [
        &["iptables", "-S", "INPUT"],
        &["iptables", "-nL"],
        &["iptables-save"],
        &["ip6tables-save"],
    ];
    let compare = |legacy: bool| {
        for argv in commands {
            let nft = argv[0].replacen("tables", "tables-nft", 1);
            let mine = moat(&ours, argv);
            let debians = theirs.exec(&[&[&nft[..]], &argv[1..]].concat()).unwrap();
            assert_eq!(text(&mine.stderr), text(&debians.stderr), "{argv:?}");
            let warned = text(&mine.stderr).contains("-legacy tables present");
            assert_eq!(warned, legacy && argv[0] != "ip6tables-save", "{argv:?}");
        }
    };
    compare(false);
    // A legacy IPv4 filter table in each namespace, where the kernel has them.
    let made = [&ours, &theirs].map(|ns| {
        ns.exec(&["iptables-legacy", "-L"])
            .unwrap()
            .status
            .success()
    });
    assert_eq!(made[0], made[1]);
    compare(made[0]);
}

/// iptables-nft's own tables, left in the kernel from before moat, still
/// act on packets: a person listing or saving moat's rules is told which
/// table is there; programs (no terminal) are told nothing.
#[test]
fn iptables_nft_tables_beside_moat_are_noted_for_a_person() {
    let Some(ns) = require_root_or_skip().then(|| Netns::new("nft-beside").unwrap()) else {
        return;
    };
    ns.exec_ok(&["iptables-nft", "-A", "INPUT", "-j", "ACCEPT"])
        .unwrap();
    for argv in [&["iptables", "-S"][..], &["iptables-save"]] {
        let person = common::moat_advised(&ns, argv);
        assert!(
            text(&person.stderr).contains("iptables-nft's table `ip filter' is in the kernel too"),
            "{argv:?}: {}",
            text(&person.stderr)
        );
        assert_eq!(text(&moat(&ns, argv).stderr), "", "{argv:?}");
    }
    let nat = common::moat_advised(&ns, &["iptables", "-t", "nat", "-S"]);
    assert_eq!(text(&nat.stderr), "", "no iptables-nft nat table");
}

#[test]
fn the_security_table_filters_after_filter() {
    let Some(lab) = require_root_or_skip().then(|| Topology::gateway().unwrap()) else {
        return;
    };
    restore_ok(&lab.gateway, "iptables-restore", SECURITY);
    let oracle = Netns::new("security-oracle").unwrap();
    let out = oracle
        .exec_input(&["iptables-nft-restore"], SECURITY)
        .unwrap();
    assert!(out.is_empty(), "{out}");
    assert_eq!(
        saved(moat(&lab.gateway, &["iptables-save"])),
        saved(oracle.exec(&["iptables-nft-save"]).unwrap())
    );
    let _local = TcpServer::start(&lab.gateway, GATEWAY_LAN_V4, 9000).unwrap();
    let _forwarded = TcpServer::start(&lab.server, SERVER_V4, 9001).unwrap();
    let _open = TcpServer::start(&lab.server, SERVER_V4, 9002).unwrap();
    assert!(!connects(&lab.client, GATEWAY_LAN_V4, 9000));
    assert!(!connects(&lab.client, SERVER_V4, 9001));
    assert!(connects(&lab.client, SERVER_V4, 9002));
    // filter's ACCEPT saw the packets first; security dropped them after.
    let filter = moat_ok(&lab.gateway, &["iptables", "-vnL", "INPUT"]);
    let security = moat_ok(
        &lab.gateway,
        &["iptables", "-t", "security", "-vnL", "INPUT"],
    );
    let accepted = packets_of(&filter, "INPUT", "dpt:9000");
    assert!(accepted >= 1, "{filter}");
    assert_eq!(
        packets_of(&security, "INPUT", "dpt:9000"),
        accepted,
        "{security}"
    );
}

#[test]
fn save_and_restore_personalities_parse_their_own_options() {
    for name in ["iptables-save", "ip6tables-restore"] {
        let help = Command::new(moat_bin())
            .args([name, "--help"])
            .output()
            .unwrap();
        assert!(help.status.success(), "{name} --help: {help:?}");
        assert!(
            text(&help.stdout).contains(&format!("Usage: {name} [OPTIONS]")),
            "{}",
            text(&help.stdout)
        );
        let bad = Command::new(moat_bin())
            .args([name, "--bogus"])
            .output()
            .unwrap();
        // As iptables-save and iptables-restore exit for an unknown option.
        assert_eq!(bad.status.code(), Some(1), "{name} --bogus: {bad:?}");
        assert!(
            text(&bad.stderr).contains("'--bogus'"),
            "{}",
            text(&bad.stderr)
        );
    }
}

/// Debian's program names, through symlinks to the lean `moat-iptables`
/// (the binary the README links them to).
#[test]
fn debian_program_names_and_versions_work() {
    let Some(ns) = require_root_or_skip().then(|| Netns::new("names").unwrap()) else {
        return;
    };
    let dir = std::env::temp_dir().join(format!("moat-names-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let link = |name: &str| {
        let path = dir.join(name);
        let _ = std::fs::remove_file(&path);
        std::os::unix::fs::symlink(moat_iptables_bin(), &path).unwrap();
        path.to_string_lossy().into_owned()
    };
    let real = |name: &str| {
        let out = Command::new(name).arg("-V").output().unwrap();
        text(&out.stdout)
    };
    for (name, debian) in [
        ("iptables-nft", "iptables-nft"),
        ("iptables-legacy", "iptables-nft"),
        ("ip6tables-nft", "ip6tables-nft"),
        ("iptables-nft-save", "iptables-nft-save"),
        ("ip6tables-legacy-save", "ip6tables-nft-save"),
        ("iptables-nft-restore", "iptables-nft-restore"),
        ("ip6tables-restore", "ip6tables-nft-restore"),
    ] {
        let out = ns.exec(&[link(name).as_str(), "-V"]).unwrap();
        assert!(out.status.success(), "{name} -V: {}", text(&out.stderr));
        let ours = text(&out.stdout);
        // Debian's tool names itself with -nft; the words after agree.
        let theirs = real(debian);
        let tail = |line: &str| {
            line.split_whitespace()
                .skip(1)
                .take(2)
                .collect::<Vec<_>>()
                .join(" ")
                .trim_end_matches(':')
                .to_string()
        };
        assert_eq!(
            tail(&ours),
            tail(&theirs),
            "{name}: {ours} vs {debian}: {theirs}"
        );
        // Under Debian's own name, its first word too: the save and restore
        // tools name themselves as called, iptables as `iptables`.
        if name == debian {
            let first = |line: &str| line.split_whitespace().next().map(str::to_string);
            assert_eq!(first(&ours), first(&theirs), "{name}");
        }
        assert!(ours.contains("moat"), "{ours}");
    }
    // The multi-call name takes the personality as its first argument, and
    // the links do real work.
    let multi = link("xtables-nft-multi");
    let out = ns
        .exec(&[
            multi.as_str(),
            "iptables",
            "-A",
            "INPUT",
            "-s",
            "10/8",
            "-j",
            "DROP",
        ])
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let listed = ns
        .exec_ok(&[link("iptables-legacy").as_str(), "-S", "INPUT"])
        .unwrap();
    assert_eq!(listed, "-P INPUT ACCEPT\n-A INPUT -s 10.0.0.0/8 -j DROP\n");
    for name in ["iptables-nft-save", "iptables-restore"] {
        let out = ns.exec(&[link(name).as_str(), "-h"]).unwrap();
        assert!(
            text(&out.stdout).to_lowercase().contains("usage"),
            "{name} -h: {out:?}"
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Sends each payload from `from` to `to` as one UDP datagram.
fn send_udp(from: &Netns, to: std::net::SocketAddr, payloads: &[&[u8]]) {
    from.run(|| {
        let any: std::net::SocketAddr = if to.is_ipv4() {
            "0.0.0.0:0".parse().unwrap()
        } else {
            "[::]:0".parse().unwrap()
        };
        let sock = std::net::UdpSocket::bind(any).unwrap();
        for p in payloads {
            sock.send_to(p, to).unwrap();
        }
    })
    .unwrap();
}

#[test]
fn xtables_matches_run_in_the_kernels_modules() {
    let Some(lab) = require_root_or_skip().then(|| Topology::gateway().unwrap()) else {
        return;
    };
    let rules = [
        "-A FORWARD -p udp -m string --algo bm --string secret -j DROP",
        "-A FORWARD -p udp -m string --algo kmp --hex-string |dead| --icase -j DROP",
        // Accepted by the kernel module wherever nothing bridges.
        "-A FORWARD -m physdev --physdev-is-bridged -j DROP",
        "-A FORWARD -m helper --helper ftp -j DROP",
        // The first payload word of a UDP datagram: past the IP header
        // (its length from the first byte) and the 8-byte UDP header.
        "-A FORWARD -p udp --dport 5003 -m u32 --u32 0>>22&0x3C@8=0x41424344 -j DROP",
        // Negated owner tests and supplementary groups run in xt_owner.
        "-A OUTPUT -p tcp --dport 9102 -m owner ! --uid-owner 4242 -j DROP",
        "-A OUTPUT -m owner --gid-owner 10-20 --suppl-groups -j DROP",
        "-A OUTPUT -m owner --uid-owner 5 ! --gid-owner 6 ! --socket-exists -j DROP",
        // Packets for a local socket (here the listener, then the connection).
        "-A INPUT -p tcp --dport 9100 -m socket",
    ];
    for rule in rules {
        moat_ok(&lab.gateway, &common::words("iptables", rule));
    }
    let echo = moat_testnet::UdpEcho::start(&lab.server, SERVER_V4, 5000).unwrap();
    let to = echo.local_addr();
    send_udp(
        &lab.client,
        to,
        &[
            b"hello",
            b"top secret",
            b"no SECRET",
            b"\x01\xde\xad",
            b"\xde\xae",
            b"ok",
        ],
    );
    std::thread::sleep(std::time::Duration::from_millis(300));
    // "no SECRET" passes: only the second rule ignores case.
    assert_eq!(
        echo.received(),
        4,
        "hello, no SECRET, \\xde\\xae and ok get through"
    );
    let words = moat_testnet::UdpEcho::start(&lab.server, SERVER_V4, 5003).unwrap();
    send_udp(
        &lab.client,
        words.local_addr(),
        &[b"ABCDxyz", b"ABCExyz", b"xABCD"],
    );
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_eq!(
        words.received(),
        2,
        "only the datagram starting ABCD is dropped"
    );
    let listing = moat_ok(&lab.gateway, &["iptables", "-vnL", "FORWARD"]);
    assert_eq!(packets_of(&listing, "FORWARD", "u32"), 1, "{listing}");
    assert_eq!(
        packets_of(&listing, "FORWARD", "\"secret\""),
        1,
        "{listing}"
    );
    assert_eq!(
        packets_of(&listing, "FORWARD", "\"|dead|\""),
        1,
        "{listing}"
    );
    assert_eq!(packets_of(&listing, "FORWARD", "PHYSDEV"), 0, "{listing}");
    assert_eq!(
        packets_of(&listing, "FORWARD", "helper match"),
        0,
        "{listing}"
    );
    let _local = TcpServer::start(&lab.gateway, GATEWAY_LAN_V4, 9100).unwrap();
    assert!(connects(&lab.client, GATEWAY_LAN_V4, 9100));
    // Root is not user 4242: the gateway's own connection is dropped.
    let _peer = TcpServer::start(&lab.client, CLIENT_V4, 9102).unwrap();
    assert!(!connects(&lab.gateway, CLIENT_V4, 9102));
    let output = moat_ok(&lab.gateway, &["iptables", "-vnL", "OUTPUT"]);
    assert!(
        packets_of(&output, "OUTPUT", "! owner UID match 4242") >= 1,
        "{output}"
    );
    let input = moat_ok(&lab.gateway, &["iptables", "-vnL", "INPUT"]);
    assert!(packets_of(&input, "INPUT", "socket") >= 2, "{input}");
    let err = common::moat_err(
        &lab.gateway,
        &common::words("iptables", "-A OUTPUT -m socket -j ACCEPT"),
    );
    assert!(
        err.contains("only works in the PREROUTING, INPUT chains"),
        "{err}"
    );
    // A save restores as it was, counters too (nothing is sent meanwhile).
    let saved_text = saved(moat(&lab.gateway, &["iptables-save", "-c"]));
    let again = common::restore(&lab.gateway, "iptables-restore", &["-c"], &saved_text);
    assert!(again.status.success(), "{}", text(&again.stderr));
    assert_eq!(
        saved(moat(&lab.gateway, &["iptables-save", "-c"])),
        saved_text
    );
    assert!(
        saved_text.contains("-m string --hex-string \"|dead|\" --algo kmp --icase"),
        "{saved_text}"
    );
}

/// `-m nfacct` counts a rule's packets in an accounting object made with
/// nfacct(8), through the kernel's xt_nfacct as with iptables-nft: the same
/// `-S`, the same refusal (4) of a name with no object, and real
/// connections counted.
#[test]
fn nfacct_counts_in_its_accounting_object() {
    if !moat_testnet::require_programs_or_skip(&["/usr/sbin/nfacct"], "nfacct") {
        return;
    }
    let Some(lab) = require_root_or_skip().then(|| Topology::gateway().unwrap()) else {
        return;
    };
    let oracle = Netns::new("nfacct-nft").unwrap();
    let rule = "-A FORWARD -p tcp --dport 8080 -m nfacct --nfacct-name web";
    for ns in [&lab.gateway, &oracle] {
        ns.exec_ok(&["nfacct", "add", "web"]).unwrap();
    }
    moat_ok(&lab.gateway, &common::words("iptables", rule));
    oracle
        .exec_ok(&common::words("iptables-nft", rule))
        .unwrap();
    assert_eq!(
        moat_ok(&lab.gateway, &["iptables", "-S", "FORWARD"]),
        oracle.exec_ok(&["iptables-nft", "-S", "FORWARD"]).unwrap()
    );
    let missing = "-A FORWARD -m nfacct --nfacct-name none";
    let (mine, debians) = (
        moat(&lab.gateway, &common::words("iptables", missing)),
        oracle
            .exec(&common::words("iptables-nft", missing))
            .unwrap(),
    );
    assert_eq!(mine.status.code(), Some(4));
    assert_eq!(debians.status.code(), Some(4));

    let _web = TcpServer::start(&lab.server, SERVER_V4, 8080).unwrap();
    assert!(connects(&lab.client, SERVER_V4, 8080));
    let counted = lab.gateway.exec_ok(&["nfacct", "get", "web"]).unwrap();
    let packets: u64 = counted
        .split("pkts = ")
        .nth(1)
        .and_then(|rest| rest.split(',').next())
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("{counted}"));
    assert!(packets >= 1, "{counted}");
}

/// The classic SSH brute-force recipe: the kernel's own recent lists count
/// new connections per address, and the fourth within 60 s is dropped.
#[test]
fn recent_with_hitcount_drops_the_fourth_connection() {
    let Some(lab) = require_root_or_skip().then(|| Topology::gateway().unwrap()) else {
        return;
    };
    for rule in [
        "-A INPUT -p tcp --dport 22 -m conntrack --ctstate NEW -m recent --set --name SSH",
        "-A INPUT -p tcp --dport 22 -m conntrack --ctstate NEW -m recent --update --seconds 60 --hitcount 4 --name SSH -j DROP",
    ] {
        moat_ok(&lab.gateway, &common::words("iptables", rule));
    }
    let _ssh = [
        TcpServer::start(&lab.gateway, GATEWAY_LAN_V4, 22).unwrap(),
        TcpServer::start(&lab.gateway, moat_testnet::topology::GATEWAY_WAN_V4, 22).unwrap(),
    ];
    let tries: Vec<bool> = (0..5)
        .map(|_| connects(&lab.client, GATEWAY_LAN_V4, 22))
        .collect();
    assert_eq!(tries, [true, true, true, false, false]);
    // Another address has its own count.
    assert!(connects(
        &lab.server,
        moat_testnet::topology::GATEWAY_WAN_V4,
        22
    ));
    // The list is the kernel's, where iptables users look for it.
    let list = lab
        .gateway
        .exec_ok(&["cat", "/proc/net/xt_recent/SSH"])
        .unwrap();
    assert!(list.contains(&format!("src={CLIENT_V4} ")), "{list}");
    // Clearing it lets the client in again.
    lab.gateway
        .exec_ok(&["sh", "-c", "echo / > /proc/net/xt_recent/SSH"])
        .unwrap();
    assert!(connects(&lab.client, GATEWAY_LAN_V4, 22));
    let listing = moat_ok(&lab.gateway, &["iptables", "-vnL", "INPUT"]);
    assert!(packets_of(&listing, "INPUT", "UPDATE") >= 2, "{listing}");
    // An IPv6 rule adds to the same list, whose mask the IPv4 rule made:
    // all 16 bytes set, as iptables sets them, so IPv6 addresses are kept
    // whole.
    let ipv6_set = "-A INPUT -p ipv6-icmp -m recent --set --name SSH";
    moat_ok(&lab.gateway, &common::words("ip6tables", ipv6_set));
    let client_v6 = moat_testnet::topology::CLIENT_V6;
    assert!(moat_testnet::ping(&lab.client, moat_testnet::topology::GATEWAY_LAN_V6).unwrap());
    let list = lab
        .gateway
        .exec_ok(&["cat", "/proc/net/xt_recent/SSH"])
        .unwrap();
    // The kernel writes every group of the address in full.
    let groups: Vec<String> = client_v6
        .segments()
        .iter()
        .map(|g| format!("{g:04x}"))
        .collect();
    assert!(
        list.contains(&format!("src={} ", groups.join(":"))),
        "{list}"
    );
}

/// IPsec policy matches: plain packets have policy "none", never "ipsec";
/// the kernel takes every element form, and a direction at a hook that
/// cannot see it is refused before anything is applied.
#[test]
fn policy_matches_tell_plain_from_ipsec_traffic() {
    let Some(lab) = require_root_or_skip().then(|| Topology::gateway().unwrap()) else {
        return;
    };
    for rule in [
        "-A FORWARD -p tcp --dport 9001 -m policy --dir in --pol ipsec -j DROP",
        "-A FORWARD -p tcp --dport 9002 -m policy --dir in --pol none -j DROP",
        "-A FORWARD -m policy --dir out --pol ipsec --strict --reqid 5 --spi 0x10 --proto esp --next --proto ah -j DROP",
        "-A FORWARD -m policy --dir in --pol ipsec --mode tunnel --tunnel-src 10.0.0.0/24 ! --tunnel-dst 10.1.0.1 -j DROP",
    ] {
        moat_ok(&lab.gateway, &common::words("iptables", rule));
    }
    moat_ok(
        &lab.gateway,
        &common::words(
            "ip6tables",
            "-A INPUT -m policy --dir in --pol ipsec --mode tunnel --tunnel-src 2001:db8::/32 -j DROP",
        ),
    );
    let _servers = [
        TcpServer::start(&lab.server, SERVER_V4, 9001).unwrap(),
        TcpServer::start(&lab.server, SERVER_V4, 9002).unwrap(),
    ];
    assert!(
        connects(&lab.client, SERVER_V4, 9001),
        "plain traffic is not ipsec"
    );
    assert!(
        !connects(&lab.client, SERVER_V4, 9002),
        "plain traffic has policy none"
    );
    let err = common::moat_err(
        &lab.gateway,
        &common::words(
            "iptables",
            "-A INPUT -m policy --dir out --pol ipsec -j DROP",
        ),
    );
    assert!(
        err.contains("only works in the FORWARD, OUTPUT, POSTROUTING chains"),
        "{err}"
    );
}

/// IPv6 extension-header matches in the kernel's modules: a datagram too
/// big for one packet travels in fragments, which `-m frag` sees (nothing
/// here tracks connections, so nothing reassembles them first).
#[test]
fn ipv6_header_matches_see_fragments() {
    let Some(lab) = require_root_or_skip().then(|| Topology::gateway().unwrap()) else {
        return;
    };
    use moat_testnet::topology::SERVER_V6;
    for rule in [
        "-A FORWARD -p udp --dport 5001 -m frag --fragfirst -j DROP",
        "-A FORWARD -p udp --dport 5002 -m ipv6header --header frag --soft -j DROP",
        "-A FORWARD -m rt --rt-type 0 --rt-0-addrs ::1 -j DROP",
        "-A FORWARD -m hbh --hbh-opts 194:4 -j DROP",
        "-A FORWARD -m dst ! --dst-len 8 -j DROP",
        // Bound to one protocol: the kernel checks the rule's.
        "-A FORWARD -p esp -m esp --espspi 500 -j DROP",
        "-A FORWARD -p mh -m mh --mh-type binding-update -j DROP",
        "-A FORWARD -m ah --ahspi 7 --ahlen 4 --ahres -j DROP",
    ] {
        moat_ok(&lab.gateway, &common::words("ip6tables", rule));
    }
    moat_ok(
        &lab.gateway,
        &common::words("iptables", "-A FORWARD -p ah -m ah ! --ahspi 1:2 -j DROP"),
    );
    let err = common::moat_err(
        &lab.gateway,
        &common::words("iptables", "-A INPUT -m frag -j DROP"),
    );
    assert!(err.contains("use it with ip6tables"), "{err}");
    let small = vec![b'x'; 100];
    let big = vec![b'y'; 3000];
    for port in [5001, 5002] {
        let echo = moat_testnet::UdpEcho::start(&lab.server, SERVER_V6, port).unwrap();
        send_udp(&lab.client, echo.local_addr(), &[&small, &big, &small]);
        std::thread::sleep(std::time::Duration::from_millis(300));
        assert_eq!(
            echo.received(),
            2,
            "port {port}: the fragmented datagram is dropped"
        );
    }
    let listing = moat_ok(&lab.gateway, &["ip6tables", "-vnL", "FORWARD"]);
    // Only the first fragment carries the UDP port: one packet per rule,
    // and the datagram cannot be put together without it.
    assert_eq!(
        packets_of(&listing, "FORWARD", "frag  first"),
        1,
        "{listing}"
    );
    assert_eq!(
        packets_of(&listing, "FORWARD", "ipv6header"),
        1,
        "{listing}"
    );
}

/// The anti SYN-flood recipe: new connections skip conntrack, SYNPROXY
/// answers their handshake with a SYN cookie and opens the real connection
/// to the server once the client completes it. With `--ecn` (which
/// nf_tables' synproxy lacks) the kernel's xt_SYNPROXY does it.
#[test]
fn synproxy_completes_the_handshake_for_the_server() {
    if !require_root_or_skip() {
        return;
    }
    for options in [
        "--sack-perm --timestamp --wscale 7 --mss 1460",
        "--sack-perm --ecn",
    ] {
        synproxy_handshakes(options);
    }
}

fn synproxy_handshakes(options: &str) {
    let lab = Topology::gateway().unwrap();
    let synproxy = format!(
        "-A INPUT -i lan0 -p tcp --dport 9200 -m conntrack --ctstate INVALID,UNTRACKED -j SYNPROXY {options}"
    );
    for (program, rule) in [
        (
            "iptables",
            "-t raw -A PREROUTING -i lan0 -p tcp --dport 9200 --syn -j CT --notrack",
        ),
        ("iptables", synproxy.as_str()),
        (
            "iptables",
            "-A INPUT -i lan0 -p tcp --dport 9200 -m conntrack --ctstate INVALID -j DROP",
        ),
    ] {
        moat_ok(&lab.gateway, &common::words(program, rule));
    }
    // The recipe's own setting: ACKs of connections conntrack has not seen
    // are INVALID, so they reach SYNPROXY.
    lab.gateway
        .sysctl("net.netfilter.nf_conntrack_tcp_loose", "0")
        .unwrap();
    let _server = TcpServer::start(&lab.gateway, GATEWAY_LAN_V4, 9200).unwrap();
    for _ in 0..3 {
        let outcome = tcp_connect_timeout(
            &lab.client,
            GATEWAY_LAN_V4,
            9200,
            std::time::Duration::from_secs(2),
        )
        .unwrap();
        assert_eq!(
            outcome.banner(),
            Some(format!("{GATEWAY_LAN_V4}:9200").as_str()),
            "{options}"
        );
    }
    let listing = moat_ok(&lab.gateway, &["iptables", "-vnL", "INPUT"]);
    // Each connection's SYN and the ACK that completes it.
    assert!(packets_of(&listing, "INPUT", "SYNPROXY") >= 6, "{listing}");
    let err = common::moat_err(
        &lab.gateway,
        &common::words(
            "iptables",
            &format!("-A OUTPUT -p tcp -j SYNPROXY {options}"),
        ),
    );
    assert!(err.contains("INPUT") && err.contains("FORWARD"), "{err}");
}

/// Each network's connections in a conntrack zone of their own (how
/// OpenStack keeps equal addresses of two tenants apart): `-t raw -j CT
/// --zone` puts a connection in its zone, as the conntrack tool shows.
#[test]
fn ct_zone_tracks_connections_in_their_zone() {
    let Some(lab) = require_root_or_skip().then(|| Topology::gateway().unwrap()) else {
        return;
    };
    for rule in [
        "-t raw -A PREROUTING -i lan0 -p tcp --dport 9310 -j CT --zone 7",
        "-t raw -A OUTPUT -p tcp --sport 9310 -j CT --zone 7",
        // The zone a packet's mark names: its low 16 bits, 9.
        "-t raw -A PREROUTING -i lan0 -p tcp --dport 9312 -j MARK --set-mark 0x10009",
        "-t raw -A PREROUTING -i lan0 -p tcp --dport 9312 -j CT --zone mark",
        "-t raw -A OUTPUT -p tcp --sport 9312 -j MARK --set-mark 0x10009",
        "-t raw -A OUTPUT -p tcp --sport 9312 -j CT --zone mark",
    ] {
        moat_ok(&lab.gateway, &common::words("iptables", rule));
    }
    let _zoned = TcpServer::start(&lab.gateway, GATEWAY_LAN_V4, 9310).unwrap();
    let _plain = TcpServer::start(&lab.gateway, GATEWAY_LAN_V4, 9311).unwrap();
    let _marked = TcpServer::start(&lab.gateway, GATEWAY_LAN_V4, 9312).unwrap();
    for port in [9310, 9311, 9312] {
        let outcome = tcp_connect_timeout(
            &lab.client,
            GATEWAY_LAN_V4,
            port,
            std::time::Duration::from_secs(2),
        )
        .unwrap();
        assert_eq!(
            outcome.banner(),
            Some(format!("{GATEWAY_LAN_V4}:{port}").as_str()),
            "port {port}"
        );
    }
    let entries = |port: &str| {
        let out = lab
            .gateway
            .exec(&["conntrack", "-L", "-p", "tcp", "--dport", port])
            .unwrap();
        text(&out.stdout)
    };
    let zoned = entries("9310");
    assert!(
        zoned.contains("dport=9310") && zoned.contains("zone=7"),
        "{zoned}"
    );
    let marked = entries("9312");
    assert!(
        marked.contains("dport=9312") && marked.contains("zone=9"),
        "{marked}"
    );
    let plain = entries("9311");
    assert!(
        plain.contains("dport=9311") && !plain.contains("zone="),
        "{plain}"
    );
    let listing = moat_ok(
        &lab.gateway,
        &["iptables", "-t", "raw", "-vnL", "PREROUTING"],
    );
    assert!(
        packets_of(&listing, "PREROUTING", "CT zone 7") >= 1,
        "{listing}"
    );
    let err = common::moat_err(
        &lab.gateway,
        &common::words("iptables", "-A INPUT -j CT --zone 1"),
    );
    assert!(err.contains("raw table"), "{err}");
}

/// The TCP options a connected socket agreed on with its peer (the
/// `tcpi_options` byte of `TCP_INFO`: 1 timestamps, 2 SACK, 4 window scale).
fn agreed_tcp_options(stream: &std::net::TcpStream) -> u8 {
    use std::os::fd::AsRawFd;
    let mut info = [0u8; 104];
    let mut len = info.len() as libc::socklen_t;
    // SAFETY: the kernel writes at most `len` bytes into `info`.
    let rc = unsafe {
        libc::getsockopt(
            stream.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            info.as_mut_ptr().cast(),
            &mut len,
        )
    };
    assert_eq!(rc, 0, "TCP_INFO: {}", std::io::Error::last_os_error());
    info[5]
}

/// TCPOPTSTRIP on the gateway takes the options out of forwarded
/// handshakes: the client and server agree on neither timestamps nor SACK
/// on the stripped port, and on both on another.
#[test]
fn tcpoptstrip_removes_options_from_forwarded_handshakes() {
    let Some(lab) = require_root_or_skip().then(|| Topology::gateway().unwrap()) else {
        return;
    };
    moat_ok(
        &lab.gateway,
        &common::words(
            "iptables",
            "-t mangle -A FORWARD -p tcp --dport 9320 -j TCPOPTSTRIP --strip-options timestamp,sack-permitted",
        ),
    );
    let _stripped = TcpServer::start(&lab.server, SERVER_V4, 9320).unwrap();
    let _kept = TcpServer::start(&lab.server, SERVER_V4, 9321).unwrap();
    let options = |port: u16| {
        lab.client
            .run(move || {
                let target = std::net::SocketAddr::from((SERVER_V4, port));
                let stream = std::net::TcpStream::connect_timeout(
                    &target,
                    std::time::Duration::from_secs(2),
                )
                .unwrap();
                agreed_tcp_options(&stream)
            })
            .unwrap()
    };
    let (timestamps, sack) = (1, 2);
    let kept = options(9321);
    assert_eq!(kept & (timestamps | sack), timestamps | sack, "{kept:#x}");
    let stripped = options(9320);
    assert_eq!(stripped & (timestamps | sack), 0, "{stripped:#x}");
    let listing = moat_ok(
        &lab.gateway,
        &["iptables", "-t", "mangle", "-vnL", "FORWARD"],
    );
    assert!(
        packets_of(&listing, "FORWARD", "TCPOPTSTRIP options 4,8") >= 2,
        "{listing}"
    );
    let err = common::moat_err(
        &lab.gateway,
        &common::words(
            "iptables",
            "-A FORWARD -p tcp -j TCPOPTSTRIP --strip-options mss",
        ),
    );
    assert!(err.contains("mangle table"), "{err}");
}

/// kube-proxy's `-m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP`
/// means "neither established/related nor translated": it runs in the
/// kernel's conntrack module, so a new connection straight to the port is
/// dropped while one translated to it by DNAT gets through.
#[test]
fn a_state_list_with_dnat_matches_either() {
    let Some(lab) = gateway_lab() else { return };
    let _server = TcpServer::start(&lab.gateway, GATEWAY_LAN_V4, 80).unwrap();
    let to = format!("{GATEWAY_LAN_V4}:80");
    moat_ok(
        &lab.gateway,
        &[
            "iptables",
            "-t",
            "nat",
            "-A",
            "PREROUTING",
            "-p",
            "tcp",
            "--dport",
            "8080",
            "-j",
            "DNAT",
            "--to-destination",
            &to,
        ],
    );
    assert!(connects(&lab.client, GATEWAY_LAN_V4, 80));
    moat_ok(
        &lab.gateway,
        &common::words(
            "iptables",
            "-A INPUT -p tcp --dport 80 -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP",
        ),
    );
    assert!(
        !connects(&lab.client, GATEWAY_LAN_V4, 80),
        "new and not translated: dropped"
    );
    assert!(
        connects(&lab.client, GATEWAY_LAN_V4, 8080),
        "translated by DNAT: through"
    );
    let rules = moat_ok(&lab.gateway, &["iptables", "-S", "INPUT"]);
    assert!(
        rules.contains("-m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP"),
        "{rules}"
    );
}

/// CHECKSUM --checksum-fill (libvirt's and Docker's rule) restores, saves as
/// written and counts its packets, with a warning naming the line that
/// moat cannot fill in checksums; outside the mangle table it is refused,
/// as the kernel refuses it.
#[test]
fn checksum_rules_are_kept_counted_and_warned_about() {
    let Some(lab) = gateway_lab() else { return };
    let rules = "*mangle\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n\
                 :OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n\
                 -A POSTROUTING -o wan0 -p tcp -m tcp --dport 80 -j CHECKSUM --checksum-fill\nCOMMIT\n";
    let advice = [("MOAT_ADVICE", "1")];
    let out = common::restore_env(&lab.gateway, &advice, "iptables-restore", &[], rules);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr)
            .contains("line 7: warning: CHECKSUM --checksum-fill has no nf_tables equivalent"),
        "{}",
        text(&out.stderr)
    );
    let saved = moat_ok(&lab.gateway, &["iptables-save", "-t", "mangle"]);
    assert!(
        saved.contains(
            "-A POSTROUTING -o wan0 -p tcp -m tcp --dport 80 -j CHECKSUM --checksum-fill"
        ),
        "{saved}"
    );
    let _server = TcpServer::start(&lab.server, SERVER_V4, 80).unwrap();
    assert!(connects(&lab.client, SERVER_V4, 80), "it changes nothing");
    let listing = moat_ok(
        &lab.gateway,
        &["iptables", "-t", "mangle", "-vnL", "POSTROUTING"],
    );
    assert!(
        packets_of(&listing, "POSTROUTING", "CHECKSUM fill") >= 2,
        "{listing}"
    );
    let err = common::moat_err(
        &lab.gateway,
        &common::words("iptables", "-A FORWARD -j CHECKSUM --checksum-fill"),
    );
    assert!(err.contains("mangle table"), "{err}");
}

/// Rulesets written the way real hosts' are: restored by moat and by
/// Debian's iptables-nft in two namespaces, they save the same.
#[test]
fn real_hosts_rulesets_restore_and_save_as_with_iptables_nft() {
    if !require_root_or_skip() {
        return;
    }
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/real");
    let mut files: Vec<(String, String)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "rules"))
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read_to_string(&p).unwrap())
        })
        .collect();
    files.sort();
    assert!(files.len() >= 3, "{files:?}");
    files.push(("a thousand user chains".into(), thousand_chains()));
    // Interface names longer than their -L column, negated ones, and one
    // named `any` (ufw users write `-i any`), which -vnL shows as named.
    let interfaces = [
        "-i pppoe-wan -o pppoe-wan",
        "! -i pppoe-wan ! -o wg0",
        "-i abcdefghijklmno",
        "-o abcdefg ! -s 192.0.2.1/32",
        "! -i lo",
        "-i any ! -o any",
    ]
    .iter()
    .map(|m| format!("-A FORWARD {m} -j ACCEPT\n"))
    .collect::<String>();
    files.push((
        "long and negated interface names".into(),
        format!("*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n{interfaces}COMMIT\n"),
    ));
    // Rule texts longer than a rule's user data (253 bytes): Kubernetes-style
    // long comments, iptables-nft's cut of longer ones, many options.
    let note =
        "namespace-with-a-long-name/service-with-an-even-longer-name:https-metrics ".repeat(4);
    let long = [
        format!("-A INPUT -p tcp -m comment --comment \"{}\" -m tcp --dport 443 -j ACCEPT", &note[..253]),
        format!("-A INPUT -m comment --comment \"{note}\" -j ACCEPT"),
        format!(
            "-A FORWARD -s 10.0.0.0/8 -d 192.168.0.0/16 -i br-lan -o wan0 -p udp -m multiport \
             --dports 53,67,68,123,161,162,500,514,1194,1701,1812,1813,4500,5060,51820 -m conntrack \
             --ctstate NEW,RELATED,ESTABLISHED -m comment --comment \"{}\" -j LOG --log-prefix \"long: \"",
            &note[..200]
        ),
    ]
    .join("\n");
    files.push((
        "long rule texts".into(),
        format!("*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n{long}\nCOMMIT\n"),
    ));
    for (name, rules) in files {
        let ours = Netns::new("real-moat").unwrap();
        restore_ok(&ours, "iptables-restore", &rules);
        let theirs = Netns::new("real-nft").unwrap();
        theirs
            .exec_input(&["iptables-nft-restore"], &rules)
            .unwrap_or_else(|e| panic!("{name}: iptables-nft-restore: {e}"));
        assert_eq!(
            saved(moat(&ours, &["iptables-save"])),
            saved(theirs.exec(&["iptables-nft-save"]).unwrap()),
            "{name}: moat's save differs from iptables-nft's"
        );
        // Every table's listings too (moat writes them from the kernel's
        // stored rule texts, a large table's on several threads).
        let tables = rules.lines().filter_map(|l| l.strip_prefix('*'));
        for table in tables.collect::<std::collections::BTreeSet<_>>() {
            // Plain -L names addresses from /etc/hosts and /etc/networks
            // (the namespaces have no DNS for iptables to ask).
            for listing in [
                &["-S"][..],
                &["-L"],
                &["-vnL"],
                &["-nL", "--line-numbers"],
                &["-vnxL", "INPUT", "2"],
            ] {
                let mut args = vec!["-t", table];
                args.extend(listing);
                if table != "filter" && listing.contains(&"INPUT") {
                    continue;
                }
                let mut mine = vec!["iptables"];
                mine.extend(&args);
                let mut oracle = vec!["iptables-nft"];
                oracle.extend(&args);
                assert_eq!(
                    text(&moat(&ours, &mine).stdout),
                    text(&theirs.exec(&oracle).unwrap().stdout),
                    "{name}: iptables {}",
                    args.join(" ")
                );
            }
        }
    }
}

/// A firewall with a thousand user chains, each jumped to from INPUT by its
/// own source network, each with a few rules of its own.
fn thousand_chains() -> String {
    let mut text =
        String::from("*filter\n:INPUT DROP [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n");
    for i in 0..1000 {
        text.push_str(&format!(":host-{i} - [0:0]\n"));
    }
    text.push_str("-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\n");
    for i in 0..1000 {
        text.push_str(&format!(
            "-A INPUT -s 10.{}.{}.0/24 -j host-{i}\n",
            i / 256,
            i % 256
        ));
    }
    for i in 0..1000 {
        let port = 1024 + i;
        text.push_str(&format!(
            "-A host-{i} -p tcp -m tcp --dport {port} -j ACCEPT\n\
             -A host-{i} -p udp -m multiport --dports 53,{port} -j ACCEPT\n\
             -A host-{i} -m limit --limit 5/min -j LOG --log-prefix \"host-{i}: \"\n\
             -A host-{i} -j RETURN\n"
        ));
    }
    text.push_str("COMMIT\n");
    text
}

/// `-D` by number and by rule text, and `-C`, in a chain longer than one
/// reply of the kernel's rule dump (moat reads such a chain only as far as
/// the rule): the same commands through moat and through Debian's
/// iptables-nft give the same answers and leave the same rules and
/// counters, and refuse the same mistakes.
#[test]
fn deleting_and_checking_in_a_long_chain_match_iptables_nft() {
    if !require_root_or_skip() {
        return;
    }
    let mut rules = String::from(
        "*filter\n:INPUT DROP [7:700]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:web - [0:0]\n",
    );
    for i in 0..600 {
        rules.push_str(&format!(
            "[{i}:{}] -A INPUT -s 10.1.{}.{}/32 -p tcp -m tcp --dport {} -m comment --comment \"host {i}\" -j ACCEPT\n",
            i * 60,
            i / 256,
            i % 256,
            1000 + i
        ));
    }
    rules.push_str("[5:500] -A INPUT -p udp -m udp --dport 53 -j ACCEPT\n");
    rules.push_str("[6:600] -A INPUT -p tcp -m tcp --dport 80 -j web\n");
    rules.push_str("[7:700] -A INPUT -p udp -m udp --dport 53 -j ACCEPT\n");
    rules.push_str("[8:800] -A web -s 192.0.2.0/24 -j ACCEPT\n-A web -j DROP\nCOMMIT\n");
    let ours = Netns::new("del-moat").unwrap();
    let theirs = Netns::new("del-nft").unwrap();
    ours.exec_input(&[moat_bin(), "iptables-restore", "-c"], &rules)
        .unwrap();
    theirs
        .exec_input(&["iptables-nft-restore", "-c"], &rules)
        .unwrap();
    let steps: [&[&str]; 16] = [
        &[
            "-C",
            "INPUT",
            "-s",
            "10.1.2.80/32",
            "-p",
            "tcp",
            "-m",
            "tcp",
            "--dport",
            "1592",
            "-m",
            "comment",
            "--comment",
            "host 592",
            "-j",
            "ACCEPT",
        ],
        &["-C", "INPUT", "-s", "192.0.2.9/32", "-j", "DROP"],
        &["-C", "nochain", "-j", "DROP"],
        &["-C", "web", "-j", "DROP"],
        &["-D", "INPUT", "1"],
        &["-D", "INPUT", "350"],
        // The first of two equal rules goes (their counters tell which).
        &["-D", "INPUT", "-p", "udp", "--dport", "53", "-j", "ACCEPT"],
        &["-D", "INPUT", "600"],
        &[
            "-D",
            "INPUT",
            "-s",
            "10.1.2.30/32",
            "-p",
            "tcp",
            "-m",
            "tcp",
            "--dport",
            "1542",
            "-m",
            "comment",
            "--comment",
            "host 542",
            "-j",
            "ACCEPT",
        ],
        &["-D", "web", "1"],
        &["-D", "INPUT", "-p", "tcp", "--dport", "80", "-j", "web"],
        &["-D", "INPUT", "5000"],
        &["-D", "INPUT", "-s", "192.0.2.9/32", "-j", "DROP"],
        &["-D", "web", "3"],
        &["-D", "nochain", "1"],
        &["-D", "INPUT", "0"],
    ];
    for step in steps {
        let mut args = vec!["iptables"];
        args.extend(step);
        let mine = moat(&ours, &args);
        let mut oracle_args = vec!["iptables-nft"];
        oracle_args.extend(step);
        let oracle = theirs.exec(&oracle_args).unwrap();
        assert_eq!(
            mine.status.success(),
            oracle.status.success(),
            "{step:?}: moat {}, iptables-nft {}",
            text(&mine.stderr),
            text(&oracle.stderr)
        );
        assert_eq!(
            saved(moat(&ours, &["iptables-save", "-c"])),
            saved(theirs.exec(&["iptables-nft-save", "-c"]).unwrap()),
            "after {step:?}"
        );
    }
    let left = moat_ok(&ours, &["iptables", "-S", "INPUT"]);
    assert_eq!(left.lines().count(), 1 + 600 - 3, "{left}");
    assert!(!left.contains("host 0\"") && !left.contains("host 542\""));
}

/// `-m time` through the kernel's xt_time (UTC, as iptables): rules whose
/// day, daily window or dates hold now drop a connection; the same rules
/// for another day, another window or dates gone by let it through.
#[test]
fn time_windows_decide_by_the_clock() {
    use chrono::{Datelike, Duration, Timelike, Utc};
    let Some(lab) = require_root_or_skip().then(|| Topology::gateway().unwrap()) else {
        return;
    };
    if Utc::now().num_seconds_from_midnight() > 86_400 - 30 {
        // Let the day turn before the rules name it.
        std::thread::sleep(std::time::Duration::from_secs(31));
    }
    let now = Utc::now();
    let today = now.weekday().number_from_monday();
    let clock = |t: chrono::DateTime<Utc>| t.format("%H:%M:%S").to_string();
    let date = |t: chrono::DateTime<Utc>| t.format("%Y-%m-%dT%H:%M:%S").to_string();
    let rules = [
        (7001, format!("--weekdays {today}"), false),
        (7002, format!("! --weekdays {today}"), true),
        (
            7003,
            format!(
                "--timestart {} --timestop {}",
                clock(now - Duration::minutes(5)),
                clock(now + Duration::minutes(5))
            ),
            false,
        ),
        (
            7004,
            format!(
                "--timestart {} --timestop {}",
                clock(now + Duration::hours(2)),
                clock(now + Duration::hours(3))
            ),
            true,
        ),
        (
            7005,
            format!("--datestart {}", date(now - Duration::days(1))),
            false,
        ),
        (
            7006,
            format!("--datestop {}", date(now - Duration::days(1))),
            true,
        ),
        (7007, format!("--monthdays {}", now.day()), false),
    ];
    for (port, options, _) in &rules {
        let rule = format!("-A INPUT -p tcp --dport {port} -m time {options} -j DROP");
        moat_ok(&lab.gateway, &common::words("iptables", &rule));
    }
    let ports: Vec<u16> = rules.iter().map(|(p, _, _)| *p).collect();
    let _servers = common::servers(&lab.gateway, GATEWAY_LAN_V4, &ports);
    for (port, options, passes) in &rules {
        assert_eq!(
            connects(&lab.client, GATEWAY_LAN_V4, *port),
            *passes,
            "port {port}: -m time {options} at {now}"
        );
    }
    let listing = moat_ok(&lab.gateway, &["iptables", "-L", "INPUT", "-n"]);
    assert!(listing.contains(" TIME on "), "{listing}");
    assert!(listing.contains(" UTC"), "{listing}");
}

/// ip6tables' `-m rpfilter` lets a packet from the unspecified address
/// `::` pass, as ip6t_rpfilter does (the forward path drops what it cannot
/// route), in every variant: a datagram from `::` to the gateway, on a
/// gateway whose default route goes out of the WAN side, is counted as
/// passing, never as failing.
#[test]
fn ipv6_reverse_path_filter_passes_the_unspecified_source() {
    let Some(lab) = require_root_or_skip().then(|| Topology::gateway().unwrap()) else {
        return;
    };
    let server = moat_testnet::topology::SERVER_V6.to_string();
    lab.gateway
        .ip(&["-6", "route", "add", "default", "via", &server])
        .unwrap();
    let failing = [
        "--invert",
        "--loose --invert",
        "--accept-local --invert",
        "--validmark --invert",
    ];
    for options in failing.iter().chain(&[""]) {
        let rule = format!("-t raw -A PREROUTING -s ::/128 -p udp -m rpfilter {options}");
        moat_ok(&lab.gateway, &common::words("ip6tables", &rule));
    }
    lab.client
        .run(|| {
            use socket2::{Domain, Protocol, Socket, Type};
            let to = std::net::SocketAddr::new(moat_testnet::topology::GATEWAY_LAN_V6.into(), 0);
            // IPPROTO_RAW: the packet's own IPv6 header, source `::`.
            let sock = Socket::new(Domain::IPV6, Type::RAW, Some(Protocol::from(255))).unwrap();
            let mut packet = vec![0x60, 0, 0, 0, 0, 10, 17, 64];
            packet.extend_from_slice(&[0; 16]);
            packet.extend_from_slice(&moat_testnet::topology::GATEWAY_LAN_V6.octets());
            packet.extend_from_slice(&[0x13, 0x88, 0x27, 0x0f, 0, 10, 0, 0, b'r', b'p']);
            sock.send_to(&packet, &to.into()).unwrap();
        })
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    let listing = moat_ok(
        &lab.gateway,
        &["ip6tables", "-t", "raw", "-vnL", "PREROUTING"],
    );
    let counts = common::packet_counts(&listing, "rpfilter");
    assert_eq!(counts, [0, 0, 0, 0, 1], "{listing}");
}

/// `-m rpfilter` in raw PREROUTING (nf_tables' route lookup): a datagram
/// from a spoofed source (a WAN address arriving on the LAN side) is
/// dropped by the classic `--invert -j DROP`, the client's own address gets
/// through, and `--loose` lets the spoofed one through too (its source
/// routes back, if by another interface). Elsewhere it is refused, as
/// iptables refuses it.
#[test]
fn reverse_path_filter_drops_spoofed_sources() {
    let Some(lab) = require_root_or_skip().then(|| Topology::gateway().unwrap()) else {
        return;
    };
    // The kernel's own reverse path check stays out of the way.
    lab.gateway
        .sysctls(&[
            ("net.ipv4.conf.all.rp_filter", "0"),
            ("net.ipv4.conf.lan0.rp_filter", "0"),
        ])
        .unwrap();
    let spoofed = std::net::Ipv4Addr::new(10, 99, 2, 77);
    lab.client
        .ip(&["addr", "add", &format!("{spoofed}/32"), "dev", "eth0"])
        .unwrap();
    let echo = moat_testnet::UdpEcho::start(&lab.gateway, GATEWAY_LAN_V4, 9999).unwrap();
    let send_from = |source: std::net::Ipv4Addr| {
        lab.client
            .run(|| {
                let sock = std::net::UdpSocket::bind((source, 0)).unwrap();
                sock.send_to(b"rp", (GATEWAY_LAN_V4, 9999)).unwrap();
            })
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    let arrived_from = |source: std::net::Ipv4Addr| {
        echo.peers()
            .iter()
            .filter(|p| p.ip() == IpAddr::V4(source))
            .count()
    };
    // Without a rule both arrive.
    send_from(spoofed);
    send_from(CLIENT_V4);
    assert_eq!((arrived_from(spoofed), arrived_from(CLIENT_V4)), (1, 1));
    let strict = "-t raw -A PREROUTING -m rpfilter --invert -j DROP";
    moat_ok(&lab.gateway, &common::words("iptables", strict));
    send_from(spoofed);
    send_from(CLIENT_V4);
    assert_eq!((arrived_from(spoofed), arrived_from(CLIENT_V4)), (1, 2));
    let listing = moat_ok(&lab.gateway, &["iptables", "-t", "raw", "-vnL"]);
    assert_eq!(
        packets_of(&listing, "PREROUTING", "rpfilter invert"),
        1,
        "{listing}"
    );
    let loose = "-t raw -R PREROUTING 1 -m rpfilter --loose --invert -j DROP";
    moat_ok(&lab.gateway, &common::words("iptables", loose));
    send_from(spoofed);
    assert_eq!(arrived_from(spoofed), 2);
    for wrong in [
        "-A INPUT -m rpfilter --invert -j DROP",
        "-t mangle -A FORWARD -m rpfilter -j DROP",
        "-t nat -A PREROUTING -m rpfilter -j RETURN",
    ] {
        let err = common::moat_err(&lab.gateway, &common::words("iptables", wrong));
        assert!(err.contains("PREROUTING"), "{wrong}: {err}");
    }
}

/// `-m rpfilter --accept-local`: a source that is one of the gateway's own
/// addresses passes the reverse path test. moat's rules and the same rules
/// written by iptables-nft (the kernel's xt_rpfilter, in its own `raw`
/// table of the same namespace) count the same spoofed datagrams arriving
/// on the LAN side, for IPv4 (only the LAN interface's own address is
/// accepted, unless `--loose`) and IPv6 (any of the host's).
#[test]
fn rpfilter_accept_local_counts_as_xt_rpfilter() {
    use moat_testnet::topology::{
        CLIENT_V6, GATEWAY_LAN_V6, GATEWAY_WAN_V4, GATEWAY_WAN_V6, SERVER_V6,
    };
    let Some(lab) = require_root_or_skip().then(|| Topology::gateway().unwrap()) else {
        return;
    };
    let options = [
        "",
        "--accept-local",
        "--loose --accept-local",
        "--accept-local --invert",
        "--loose --validmark --accept-local --invert",
    ];
    let v4: [(IpAddr, [u64; 5]); 5] = [
        (CLIENT_V4.into(), [1, 1, 1, 0, 0]),
        (GATEWAY_LAN_V4.into(), [0, 1, 1, 0, 0]),
        (GATEWAY_WAN_V4.into(), [0, 0, 1, 1, 0]),
        (SERVER_V4.into(), [0, 0, 1, 1, 0]),
        (IpAddr::from([10, 250, 0, 1]), [0, 0, 0, 1, 1]),
    ];
    let v6: [(IpAddr, [u64; 5]); 5] = [
        (CLIENT_V6.into(), [1, 1, 1, 0, 0]),
        (GATEWAY_LAN_V6.into(), [0, 1, 1, 0, 0]),
        (GATEWAY_WAN_V6.into(), [0, 1, 1, 0, 0]),
        (SERVER_V6.into(), [0, 0, 1, 1, 0]),
        ("fd00:250::1".parse().unwrap(), [0, 0, 0, 1, 1]),
    ];
    for (tool, to, sources) in [
        ("iptables", IpAddr::from(GATEWAY_LAN_V4), v4),
        ("ip6tables", IpAddr::from(GATEWAY_LAN_V6), v6),
    ] {
        for o in options {
            let rule = format!("-t raw -A PREROUTING -i lan0 -p udp --dport 9999 -m rpfilter {o}");
            moat_ok(&lab.gateway, &common::words(tool, &rule));
            let mut argv = vec![format!("{tool}-nft")];
            argv.extend(rule.split_whitespace().map(String::from));
            lab.gateway.exec_ok(&argv).unwrap();
        }
        for (from, expected) in sources {
            common::send_spoofed_udp(&lab.client, from, to, 9999);
            std::thread::sleep(std::time::Duration::from_millis(100));
            let ours = moat_ok(&lab.gateway, &[tool, "-t", "raw", "-vnL", "PREROUTING"]);
            let nft = format!("{tool}-nft");
            let theirs = lab
                .gateway
                .exec_ok(&[nft.as_str(), "-t", "raw", "-vnL", "PREROUTING"])
                .unwrap();
            let counts = common::packet_counts(&ours, "rpfilter");
            assert_eq!(
                counts,
                common::packet_counts(&theirs, "rpfilter"),
                "{from}:\n{ours}\n{theirs}"
            );
            assert_eq!(counts, expected, "{tool} from {from}:\n{ours}");
            moat_ok(&lab.gateway, &[tool, "-t", "raw", "-Z"]);
            lab.gateway
                .exec_ok(&[nft.as_str(), "-t", "raw", "-Z"])
                .unwrap();
        }
    }
}

/// `-m set` on the kernel's ipsets, made with the `ipset` tool as
/// fail2ban's ipset actions make them (no moat block list of that name):
/// the rules run in the kernel's xt_set. Adding the client to the set
/// closes the port at once and removing it opens it again; a counter test
/// sees the element's packet counter; a set of the other family and a
/// missing set are refused; the listing equals iptables-nft's.
#[test]
fn ipset_rules_run_in_the_kernels_set_match() {
    let Some(lab) = require_root_or_skip().then(|| Topology::gateway().unwrap()) else {
        return;
    };
    let ipset = |args: &str| {
        let argv: Vec<&str> = std::iter::once("ipset")
            .chain(args.split_whitespace())
            .collect();
        lab.gateway.exec_ok(&argv).unwrap();
    };
    ipset("create f2b-test hash:ip counters");
    ipset("create heavy hash:ip counters");
    ipset("create six hash:ip family inet6");
    ipset("create seen hash:ip timeout 0");
    let rules = [
        "-A INPUT -p tcp -m tcp --dport 7201 -m set --match-set f2b-test src -j REJECT --reject-with tcp-reset",
        "-A INPUT -p tcp -m tcp --dport 7202 -m set --match-set heavy src --packets-gt 5 -j DROP",
        "-A INPUT -p tcp -m tcp --dport 7203 -j SET --add-set seen src --exist --timeout 600",
    ];
    for rule in rules {
        moat_ok(&lab.gateway, &common::words("iptables", rule));
    }
    let _servers = common::servers(&lab.gateway, GATEWAY_LAN_V4, &[7201, 7202, 7203]);
    // -j SET adds the client to a set when it knocks.
    let seen = || lab.gateway.exec_ok(&["ipset", "list", "seen"]).unwrap();
    assert!(!seen().contains(&CLIENT_V4.to_string()));
    assert!(connects(&lab.client, GATEWAY_LAN_V4, 7203));
    let listed = seen();
    assert!(listed.contains(&format!("{CLIENT_V4} timeout")), "{listed}");
    assert!(
        connects(&lab.client, GATEWAY_LAN_V4, 7201),
        "not in the set"
    );
    ipset(&format!("add f2b-test {CLIENT_V4}"));
    assert!(
        !connects(&lab.client, GATEWAY_LAN_V4, 7201),
        "banned by the set"
    );
    ipset(&format!("del f2b-test {CLIENT_V4}"));
    assert!(connects(&lab.client, GATEWAY_LAN_V4, 7201), "unbanned");
    // The element's counter, not the rule's, decides.
    ipset(&format!("add heavy {CLIENT_V4} packets 1"));
    assert!(
        connects(&lab.client, GATEWAY_LAN_V4, 7202),
        "1 packet so far"
    );
    ipset(&format!("del heavy {CLIENT_V4}"));
    ipset(&format!("add heavy {CLIENT_V4} packets 100"));
    assert!(
        !connects(&lab.client, GATEWAY_LAN_V4, 7202),
        "over 5 packets"
    );
    let counted = lab.gateway.exec_ok(&["ipset", "list", "heavy"]).unwrap();
    assert!(
        !counted.contains("packets 100 "),
        "the match counts: {counted}"
    );
    // The same rules in iptables-nft's hands list the same.
    let theirs = Netns::new("ipset-nft").unwrap();
    for args in [
        "create f2b-test hash:ip counters",
        "create heavy hash:ip counters",
        "create seen hash:ip timeout 0",
    ] {
        let argv: Vec<&str> = std::iter::once("ipset")
            .chain(args.split_whitespace())
            .collect();
        theirs.exec_ok(&argv).unwrap();
    }
    for rule in rules {
        theirs
            .exec_ok(&common::words("iptables-nft", rule))
            .unwrap();
    }
    assert_eq!(
        moat_ok(&lab.gateway, &["iptables", "-S", "INPUT"]),
        theirs.exec_ok(&["iptables-nft", "-S", "INPUT"]).unwrap()
    );
    let err = common::moat_err(
        &lab.gateway,
        &common::words("iptables", "-A INPUT -m set --match-set six src -j DROP"),
    );
    assert!(err.contains("IPv6"), "{err}");
    let err = common::moat_err(
        &lab.gateway,
        &common::words("iptables", "-A INPUT -m set --match-set nosuch src -j DROP"),
    );
    assert!(err.contains("no block list or ipset"), "{err}");
    // The kernel keeps a set a rule uses.
    let busy = lab.gateway.exec(&["ipset", "destroy", "f2b-test"]).unwrap();
    assert!(!busy.status.success());
}

/// `-m cluster`, `-m cgroup`, `-m connlabel` and `-m bpf` run in the
/// kernel's own modules: the kernel takes moat's argument layouts, the
/// saves equal iptables-nft's, and real packets meet a BPF program and a
/// connection label.
#[test]
fn cluster_cgroup_connlabel_and_bpf_run_in_the_kernel() {
    let Some(lab) = require_root_or_skip().then(|| Topology::gateway().unwrap()) else {
        return;
    };
    let ruleset = "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n\
        -A INPUT -p tcp -m tcp --dport 7101 -m bpf --bytecode \"4,48 0 0 9,21 0 1 6,6 0 0 1,6 0 0 0\" -j DROP\n\
        -A INPUT -p tcp -m tcp --dport 7102 -m bpf --bytecode \"1,6 0 0 0\" -j DROP\n\
        -A INPUT -p tcp -m tcp --dport 7103 -m connlabel --label 5 --set\n\
        -A INPUT -m connlabel --label 5 -j DROP\n\
        -A INPUT -m cluster --cluster-local-nodemask 0x00000001 --cluster-total-nodes 1 --cluster-hash-seed 0x00000007 -j ACCEPT\n\
        -A OUTPUT -m cgroup ! --cgroup 16 -j ACCEPT\n\
        -A OUTPUT -m cgroup --path \"/\" -j ACCEPT\n\
        COMMIT\n";
    restore_ok(&lab.gateway, "iptables-restore", ruleset);
    let theirs = Netns::new("xt-nft").unwrap();
    theirs
        .exec_input(&["iptables-nft-restore"], ruleset)
        .unwrap();
    assert_eq!(
        saved(moat(&lab.gateway, &["iptables-save"])),
        saved(theirs.exec(&["iptables-nft-save"]).unwrap())
    );
    let ports = [7101, 7102, 7103, 7104];
    let _servers = common::servers(&lab.gateway, GATEWAY_LAN_V4, &ports);
    let reached: Vec<bool> = ports
        .iter()
        .map(|&p| connects(&lab.client, GATEWAY_LAN_V4, p))
        .collect();
    // 7101: the program matches TCP; 7102: it matches nothing; 7103: the
    // connection gets label 5, which the next rule drops; 7104: no label.
    assert_eq!(reached, [false, true, false, true]);
}

/// `-j IDLETIMER` and `-j AUDIT` run in the kernel's own modules: saves
/// equal iptables-nft's, and a packet restarts the idle timer whose
/// remaining seconds the kernel shows in sysfs.
#[test]
fn idletimer_restarts_on_traffic_and_audit_loads() {
    let Some(lab) = require_root_or_skip().then(|| Topology::gateway().unwrap()) else {
        return;
    };
    let label = format!("moat-idle-{}", std::process::id());
    let ruleset = format!(
        "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n\
         -A INPUT -p tcp -m tcp --dport 7201 -j IDLETIMER --timeout 600 --label {label}\n\
         -A INPUT -p tcp -m tcp --dport 7201 -j AUDIT --type accept\n\
         COMMIT\n"
    );
    restore_ok(&lab.gateway, "iptables-restore", &ruleset);
    let theirs = Netns::new("idle-nft").unwrap();
    let their_label = format!("{label}-nft");
    theirs
        .exec_input(
            &["iptables-nft-restore"],
            &ruleset.replace(&label, &their_label),
        )
        .unwrap();
    assert_eq!(
        saved(moat(&lab.gateway, &["iptables-save"])),
        saved(theirs.exec(&["iptables-nft-save"]).unwrap()).replace(&their_label, &label)
    );
    let remaining = || -> u64 {
        let path = format!("/sys/class/xt_idletimer/timers/{label}");
        std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{path}: {e}"))
            .trim()
            .parse()
            .unwrap()
    };
    std::thread::sleep(std::time::Duration::from_millis(2100));
    let before = remaining();
    assert!(before <= 598, "the timer runs down: {before}");
    let _server = TcpServer::start(&lab.gateway, GATEWAY_LAN_V4, 7201).unwrap();
    assert!(connects(&lab.client, GATEWAY_LAN_V4, 7201));
    let after = remaining();
    assert!(after > before && after <= 600, "{before} then {after}");
}

/// `-j TEE` through the kernel's xt_TEE: the gateway sends a copy of each
/// matching datagram to another host (the server sees it arrive), and the
/// original goes on to its destination.
#[test]
fn tee_copies_packets_to_another_host() {
    let Some(lab) = require_root_or_skip().then(|| Topology::gateway().unwrap()) else {
        return;
    };
    let tee =
        format!("-t mangle -A PREROUTING -i lan0 -p udp --dport 7301 -j TEE --gateway {SERVER_V4}");
    moat_ok(&lab.gateway, &common::words("iptables", &tee));
    // The server counts what reaches it for the gateway's address.
    let count = "-t raw -A PREROUTING -d 10.99.1.1 -p udp --dport 7301 -j ACCEPT";
    moat_ok(&lab.server, &common::words("iptables", count));
    let echo = moat_testnet::UdpEcho::start(&lab.gateway, GATEWAY_LAN_V4, 7301).unwrap();
    for _ in 0..3 {
        lab.client
            .run(|| {
                let sock = std::net::UdpSocket::bind((CLIENT_V4, 0)).unwrap();
                sock.send_to(b"copy me", (GATEWAY_LAN_V4, 7301)).unwrap();
            })
            .unwrap();
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_eq!(echo.received(), 3, "the originals arrive");
    let listing = moat_ok(&lab.server, &["iptables", "-t", "raw", "-vnL"]);
    assert_eq!(
        packets_of(&listing, "PREROUTING", "dpt:7301"),
        3,
        "{listing}"
    );
    let saved_text = saved(moat(&lab.gateway, &["iptables-save", "-t", "mangle"]));
    assert!(
        saved_text.contains(&format!("-j TEE --gateway {SERVER_V4}")),
        "{saved_text}"
    );
}

/// Restores over a ruleset that is there: moat leaves rules that stay the
/// same alone (the kernel keeps them, handles and all) and replaces the
/// rest, and what iptables shows is what iptables-nft shows after the same
/// restores: counters from the file with -c, zero without, a chain the
/// file drops gone, and a table given twice as its last section says.
#[test]
fn restoring_over_a_ruleset_matches_iptables_nft() {
    if !require_root_or_skip() {
        return;
    }
    let first = "*filter\n:INPUT DROP [1:100]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:web - [0:0]\n:old - [0:0]\n\
        [3:300] -A INPUT -p tcp -m tcp --dport 22 -j ACCEPT\n\
        [4:400] -A INPUT -p tcp -m tcp --dport 80 -j web\n\
        -A INPUT -j old\n\
        [5:500] -A web -s 192.0.2.0/24 -j ACCEPT\n\
        COMMIT\n*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n\
        -A POSTROUTING -o eth0 -j MASQUERADE\nCOMMIT\n";
    let changed =
        "*filter\n:INPUT DROP [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:web - [0:0]\n\
        -A INPUT -p tcp -m tcp --dport 22 -j ACCEPT\n\
        -A INPUT -p tcp -m tcp --dport 443 -j web\n\
        -A web -s 192.0.2.0/24 -j ACCEPT\n\
        COMMIT\n";
    let twice = "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n\
        -A INPUT -j DROP\nCOMMIT\n\
        *filter\n:INPUT ACCEPT [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n\
        -A INPUT -p udp -m udp --dport 53 -j ACCEPT\nCOMMIT\n";
    let ours = Netns::new("rest-moat").unwrap();
    let theirs = Netns::new("rest-nft").unwrap();
    let handle_of_first_rule = |ns: &Netns| -> String {
        let listing = ns
            .exec_ok(&["nft", "-a", "list", "chain", "ip", "moat_filter", "INPUT"])
            .unwrap();
        let line = listing
            .lines()
            .find(|l| l.contains("dport 22"))
            .unwrap_or_else(|| panic!("{listing}"))
            .to_string();
        line.rsplit("# handle ").next().unwrap().to_string()
    };
    let mut kept = None;
    for (text, counters) in [
        (first, true),
        (first, true),
        (first, false),
        (changed, false),
        (twice, false),
    ] {
        let extra: &[&str] = if counters { &["-c"] } else { &[] };
        let mut mine = vec![moat_bin(), "iptables-restore"];
        mine.extend(extra);
        ours.exec_input(&mine, text).unwrap();
        let mut oracle = vec!["iptables-nft-restore"];
        oracle.extend(extra);
        theirs.exec_input(&oracle, text).unwrap();
        assert_eq!(
            saved(moat(&ours, &["iptables-save", "-c"])),
            saved(theirs.exec(&["iptables-nft-save", "-c"]).unwrap()),
            "after restoring with{} -c:\n{text}",
            if counters { "" } else { "out" }
        );
        if text == first && counters {
            // The same file again: the kernel keeps the rule it had.
            let handle = handle_of_first_rule(&ours);
            assert!(
                kept.as_ref().is_none_or(|h| *h == handle),
                "{kept:?} then {handle}"
            );
            kept = Some(handle);
        }
    }
}

#[test]
fn hmark_spreads_connections_over_marks() {
    let Some(lab) = require_root_or_skip().then(|| Topology::gateway().unwrap()) else {
        return;
    };
    let counting = |offset: u32| -> String {
        let mut text = format!(
            "*mangle\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n\
             -A PREROUTING -p tcp -m tcp --dport 7301 -j HMARK --hmark-tuple src,sport --hmark-mod 4 --hmark-offset {offset} --hmark-rnd 0x1234\n\
             COMMIT\n*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n"
        );
        for mark in 100..104 {
            text.push_str(&format!(
                "-A INPUT -p tcp -m tcp --dport 7301 -m mark --mark 0x{mark:x} -j ACCEPT\n"
            ));
        }
        text.push_str("-A INPUT -p tcp -m tcp --dport 7301 -j DROP\nCOMMIT\n");
        text
    };
    restore_ok(&lab.gateway, "iptables-restore", &counting(100));
    let theirs = Netns::new("hmark-nft").unwrap();
    theirs
        .exec_input(&["iptables-nft-restore"], &counting(100))
        .unwrap();
    for table in ["mangle", "filter"] {
        assert_eq!(
            saved(moat(&lab.gateway, &["iptables-save", "-t", table])),
            saved(theirs.exec(&["iptables-nft-save", "-t", table]).unwrap())
        );
    }
    let _server = TcpServer::start(&lab.gateway, GATEWAY_LAN_V4, 7301).unwrap();
    for _ in 0..12 {
        assert!(connects(&lab.client, GATEWAY_LAN_V4, 7301));
    }
    let listing = text(&moat(&lab.gateway, &["iptables", "-vnxL", "INPUT"]).stdout);
    let per_mark: Vec<u64> = (100..104)
        .map(|mark| packets_of(&listing, "INPUT", &format!("mark match 0x{mark:x}")))
        .collect();
    assert_eq!(packets_of(&listing, "INPUT", "DROP"), 0, "{listing}");
    assert!(per_mark.iter().sum::<u64>() >= 12 * 3, "{listing}");
    assert!(
        per_mark.iter().filter(|&&n| n > 0).count() >= 2,
        "twelve source ports all hashed to one mark:\n{listing}"
    );
    // Marks from 200 on match none of the ACCEPT rules: the catch-all drops.
    restore_ok(&lab.gateway, "iptables-restore", &counting(200));
    assert!(!connects(&lab.client, GATEWAY_LAN_V4, 7301));
}

/// An FTP server's passive-mode reply as the kernel's ftp helper reads
/// it, and the data port it announces (156 * 256 + 85).
const PASSIVE_REPLY: &str = "227 Entering Passive Mode (10,99,2,2,156,85).\r\n";
const PASSIVE_PORT: u16 = 40021;

/// One passive FTP exchange through the gateway: the server greets, the
/// client asks for passive mode, the server answers with [`PASSIVE_REPLY`]
/// (the helper reads replies only where a line starts a packet, after a
/// first line) and waits for the data connection; says whether the
/// client's data connection got through.
fn passive_ftp_data_connects(lab: &Topology) -> bool {
    use std::io::{BufRead, BufReader, Read, Write};
    use std::net::{SocketAddr, TcpListener, TcpStream};
    use std::time::{Duration, Instant};
    let server_addr = |port| SocketAddr::new(IpAddr::V4(SERVER_V4), port);
    let (control, data) = lab
        .server
        .run(|| {
            (
                TcpListener::bind(server_addr(21)).unwrap(),
                TcpListener::bind(server_addr(PASSIVE_PORT)).unwrap(),
            )
        })
        .unwrap();
    std::thread::scope(|scope| {
        let server = scope.spawn(|| {
            let (mut conn, _) = control.accept().unwrap();
            conn.write_all(b"220 ready\r\n").unwrap();
            let mut command = String::new();
            BufReader::new(&conn).read_line(&mut command).unwrap();
            assert_eq!(command, "PASV\r\n");
            conn.write_all(PASSIVE_REPLY.as_bytes()).unwrap();
            data.set_nonblocking(true).unwrap();
            let deadline = Instant::now() + Duration::from_secs(3);
            while Instant::now() < deadline {
                if let Ok((mut stream, _)) = data.accept() {
                    stream.set_nonblocking(false).unwrap();
                    stream.write_all(b"listing").unwrap();
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        });
        let got = lab
            .client
            .run(|| {
                let conn =
                    TcpStream::connect_timeout(&server_addr(21), Duration::from_secs(2)).unwrap();
                let mut reader = BufReader::new(&conn);
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                assert_eq!(line, "220 ready\r\n");
                (&conn).write_all(b"PASV\r\n").unwrap();
                line.clear();
                reader.read_line(&mut line).unwrap();
                assert_eq!(line, PASSIVE_REPLY);
                let Ok(mut stream) =
                    TcpStream::connect_timeout(&server_addr(PASSIVE_PORT), Duration::from_secs(2))
                else {
                    return false;
                };
                let mut body = String::new();
                stream.read_to_string(&mut body).unwrap();
                body == "listing"
            })
            .unwrap();
        server.join().unwrap();
        got
    })
}

/// `-t raw -j CT --helper ftp` (OpenWrt's and firewalld's rule for FTP
/// through a stateful firewall): with only the control port and RELATED
/// connections allowed, a passive data connection gets through once the
/// helper follows the control connection, and conntrack names the helper.
#[test]
fn ct_helper_lets_related_ftp_data_through() {
    let Some(lab) = gateway_lab() else { return };
    common::iptables_all(
        &lab.gateway,
        "iptables",
        &[
            "-P FORWARD DROP",
            "-A FORWARD -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT",
            "-A FORWARD -p tcp --dport 21 -j ACCEPT",
        ],
    );
    assert!(
        !passive_ftp_data_connects(&lab),
        "without a helper the data connection is NEW and dropped"
    );
    moat_ok(
        &lab.gateway,
        &common::words(
            "iptables",
            "-t raw -A PREROUTING -p tcp --dport 21 -j CT --helper ftp",
        ),
    );
    assert!(passive_ftp_data_connects(&lab), "the helper expected it");
    let tracked = lab
        .gateway
        .run(|| Command::new("conntrack").arg("-L").output().unwrap())
        .unwrap();
    assert!(
        text(&tracked.stdout).contains("helper=ftp"),
        "{}",
        text(&tracked.stdout)
    );
    let listing = moat_ok(&lab.gateway, &["iptables", "-t", "raw", "-S", "PREROUTING"]);
    assert!(
        listing.contains("-A PREROUTING -p tcp -m tcp --dport 21 -j CT --helper ftp"),
        "{listing}"
    );
}

/// A router's raw table that both exempts a port from connection tracking
/// (NOTRACK) and gives FTP its helper, restored into a fresh namespace as
/// a boot script would: moat runs it where iptables' raw table runs and a
/// copy of it after conntrack for the helper. The exempt port's
/// connection leaves no conntrack entry, and the helper lets FTP's passive
/// data connection through.
#[test]
fn raw_table_with_notrack_and_a_helper_does_both() {
    let Some(lab) = gateway_lab() else { return };
    let _exempt = common::servers(&lab.server, SERVER_V4, &[9300]);
    let rules = "*raw\n:PREROUTING ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n\
        -A PREROUTING -p tcp --dport 9300 -j NOTRACK\n-A PREROUTING -p tcp --sport 9300 -j NOTRACK\n\
        -A PREROUTING -p tcp --dport 21 -j CT --helper ftp\nCOMMIT\n\
        *filter\n:INPUT ACCEPT [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n\
        -A FORWARD -m conntrack --ctstate ESTABLISHED,RELATED,UNTRACKED -j ACCEPT\n\
        -A FORWARD -p tcp --dport 21 -j ACCEPT\n-A FORWARD -p tcp --dport 9300 -j ACCEPT\nCOMMIT\n";
    restore_ok(&lab.gateway, "iptables-restore", rules);
    assert!(passive_ftp_data_connects(&lab), "the helper expected it");
    assert!(common::connects(&lab.client, SERVER_V4, 9300));
    let tracked = lab
        .gateway
        .run(|| Command::new("conntrack").arg("-L").output().unwrap())
        .unwrap();
    let tracked = text(&tracked.stdout);
    assert!(tracked.contains("helper=ftp"), "{tracked}");
    assert!(!tracked.contains("9300"), "{tracked}");
    let listing = moat_ok(&lab.gateway, &["iptables", "-t", "raw", "-S"]);
    assert!(
        listing.contains("-A PREROUTING -p tcp -m tcp --dport 9300 -j NOTRACK")
            && listing.contains("-A PREROUTING -p tcp -m tcp --dport 21 -j CT --helper ftp"),
        "{listing}"
    );
    // Without NOTRACK the table runs after conntrack alone, and the copy goes.
    for rule in ["--dport 9300", "--sport 9300"] {
        moat_ok(
            &lab.gateway,
            &common::words(
                "iptables",
                &format!("-t raw -D PREROUTING -p tcp {rule} -j NOTRACK"),
            ),
        );
    }
    let tables = lab.gateway.exec_ok(&["nft", "list", "tables"]).unwrap();
    assert!(!tables.contains("moat_raw_ct"), "{tables}");
    assert!(passive_ftp_data_connects(&lab), "the helper still works");
}

/// One CT rule with a zone and a helper (`CT --helper ftp --zone 7`), as
/// iptables takes it: the zone counts before conntrack and the helper
/// after it, so moat's raw table and its copy each do their half. The FTP
/// connection is tracked in zone 7 with the helper, and its passive data
/// connection, put in the same zone, gets through as related.
#[test]
fn ct_zone_and_helper_in_one_rule() {
    let Some(lab) = gateway_lab() else { return };
    let rules = "*raw\n:PREROUTING ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n\
        -A PREROUTING -j CT --zone 7\n\
        -A PREROUTING -p tcp --dport 21 -j CT --helper ftp --zone 7\nCOMMIT\n\
        *filter\n:INPUT ACCEPT [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n\
        -A FORWARD -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT\n\
        -A FORWARD -p tcp --dport 21 -j ACCEPT\nCOMMIT\n";
    restore_ok(&lab.gateway, "iptables-restore", rules);
    assert!(passive_ftp_data_connects(&lab), "the helper expected it");
    let tracked = lab
        .gateway
        .exec_ok(&["conntrack", "-L", "-p", "tcp", "--dport", "21"])
        .unwrap();
    assert!(
        tracked
            .lines()
            .any(|l| l.contains("helper=ftp") && l.contains("zone=7")),
        "{tracked}"
    );
    let listing = moat_ok(&lab.gateway, &["iptables", "-t", "raw", "-S", "PREROUTING"]);
    assert!(
        listing.contains("-A PREROUTING -p tcp -m tcp --dport 21 -j CT --helper ftp --zone 7"),
        "{listing}"
    );
    let tables = lab.gateway.exec_ok(&["nft", "list", "tables"]).unwrap();
    assert!(tables.contains("moat_raw_ct"), "{tables}");
}

/// A running process that is killed and reaped when dropped, also while a
/// failed assertion unwinds.
struct Stopped(Option<std::process::Child>);

impl Drop for Stopped {
    fn drop(&mut self) {
        if let Some(child) = &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// What `conntrack -E` in `ns` reports while `during` runs: the listener
/// starts first and is stopped after (or when `during` panics).
fn conntrack_events(ns: &moat_testnet::Netns, during: impl FnOnce()) -> String {
    use std::process::Stdio;
    use std::time::Duration;
    let child = ns
        .run(|| {
            Command::new("conntrack")
                .args(["-E", "-p", "tcp"])
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .unwrap()
        })
        .unwrap();
    let mut listener = Stopped(Some(child));
    std::thread::sleep(Duration::from_millis(300));
    during();
    std::thread::sleep(Duration::from_millis(300));
    let mut child = listener.0.take().expect("running");
    child.kill().unwrap();
    text(&child.wait_with_output().unwrap().stdout)
}

/// `-t raw -j CT --ctevents destroy`: conntrack reports only the end of
/// the connections the rule sees (port 81), and every event of the others
/// (port 80); the connections are ended with `conntrack -D`.
#[test]
fn ct_events_limit_what_conntrack_reports() {
    let Some(lab) = gateway_lab() else { return };
    let _web = common::servers(&lab.server, SERVER_V4, &[80, 81]);
    moat_ok(
        &lab.gateway,
        &common::words(
            "iptables",
            "-t raw -A PREROUTING -p tcp --dport 81 -j CT --ctevents destroy",
        ),
    );
    let events = conntrack_events(&lab.gateway, || {
        for port in [80, 81] {
            assert!(common::connects(&lab.client, SERVER_V4, port));
        }
        lab.gateway
            .run(|| {
                Command::new("conntrack")
                    .args(["-D", "-p", "tcp"])
                    .output()
                    .unwrap()
            })
            .unwrap();
    });
    let seen = |kind: &str, port: u16| {
        events
            .lines()
            .any(|l| l.contains(kind) && l.contains(&format!("dport={port} ")))
    };
    assert!(seen("[NEW]", 80) && seen("[DESTROY]", 80), "{events}");
    assert!(!seen("[NEW]", 81) && !seen("[UPDATE]", 81), "{events}");
    assert!(seen("[DESTROY]", 81), "{events}");
}

/// The seconds conntrack on `ns` has left for the UDP connection to
/// `port`: the third column of `conntrack -L`.
fn udp_timeout_left(ns: &Netns, port: u16) -> u64 {
    let out = ns
        .exec_ok(&["conntrack", "-L", "-p", "udp", "--dport", &port.to_string()])
        .unwrap();
    let line = out
        .lines()
        .next()
        .unwrap_or_else(|| panic!("no connection to {port}"));
    line.split_whitespace().nth(2).unwrap().parse().unwrap()
}

/// `-t raw -j CT --timeout NAME` with a timeout policy made by `nfct add
/// timeout` (how DNS servers and VoIP gateways shorten UDP timeouts): a
/// UDP flow the rule sees gets the policy's 7 seconds unreplied, another
/// one the default 30; the rules read back as written.
#[test]
fn ct_timeout_gives_new_connections_the_policy_timeouts() {
    let Some(lab) = gateway_lab() else { return };
    lab.gateway
        .exec_ok(&[
            "nfct",
            "add",
            "timeout",
            "short",
            "inet",
            "udp",
            "unreplied",
            "7",
            "replied",
            "9",
        ])
        .unwrap();
    moat_ok(
        &lab.gateway,
        &common::words(
            "iptables",
            "-t raw -A PREROUTING -p udp --dport 5353 -j CT --timeout short",
        ),
    );
    lab.client
        .run(|| {
            let socket = std::net::UdpSocket::bind("0.0.0.0:0").unwrap();
            for port in [5353, 5354] {
                socket.send_to(b"query", (SERVER_V4, port)).unwrap();
            }
        })
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(200));
    let short = udp_timeout_left(&lab.gateway, 5353);
    let default = udp_timeout_left(&lab.gateway, 5354);
    assert!(short <= 7, "the policy's unreplied timeout: {short}");
    assert!(default > 20, "the default unreplied timeout: {default}");
    let rules = moat_ok(&lab.gateway, &["iptables", "-t", "raw", "-S", "PREROUTING"]);
    assert!(
        rules.contains("-A PREROUTING -p udp -m udp --dport 5353 -j CT --timeout short"),
        "{rules}"
    );
    let refused = moat(
        &lab.gateway,
        &common::words(
            "iptables",
            "-t raw -A PREROUTING -p udp -j CT --timeout nosuch",
        ),
    );
    assert!(!refused.status.success());
    assert!(
        text(&refused.stderr).contains("no timeout policy"),
        "{}",
        text(&refused.stderr)
    );
    // moat's table holds a copy of the policy, so nfct may delete the
    // policy (xt_CT would hold it): the rule keeps its copy, later changes
    // of the table do not ask for the policy again, and one that makes the
    // table again (NOTRACK beside a CT rule) copies moat's copy.
    lab.gateway
        .exec_ok(&["nfct", "delete", "timeout", "short"])
        .unwrap();
    moat_ok(
        &lab.gateway,
        &common::words(
            "iptables",
            "-t raw -A PREROUTING -p tcp --dport 21 -j ACCEPT",
        ),
    );
    moat_ok(
        &lab.gateway,
        &common::words(
            "iptables",
            "-t raw -A PREROUTING -p tcp --dport 99 -j CT --notrack",
        ),
    );
    lab.gateway.exec_ok(&["conntrack", "-F"]).unwrap();
    lab.client
        .run(|| {
            let socket = std::net::UdpSocket::bind("0.0.0.0:0").unwrap();
            socket.send_to(b"query", (SERVER_V4, 5353)).unwrap();
        })
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(200));
    let still = udp_timeout_left(&lab.gateway, 5353);
    assert!(still <= 7, "the copied policy's unreplied timeout: {still}");
}

/// The stateless-autoconfiguration address of the MAC `aa:bb:cc:dd:ee:ff`
/// in `prefix` (a /64 given as its first four groups): the MAC with ff:fe
/// in its middle and the universal/local bit flipped.
fn eui64_address(prefix: &str, mac: &str) -> std::net::Ipv6Addr {
    let b: Vec<u16> = mac
        .split(':')
        .map(|x| u16::from_str_radix(x, 16).unwrap())
        .collect();
    let id = [
        (b[0] ^ 0x02) << 8 | b[1],
        b[2] << 8 | 0xff,
        0xfe00 | b[3],
        b[4] << 8 | b[5],
    ];
    format!("{prefix}:{:x}:{:x}:{:x}:{:x}", id[0], id[1], id[2], id[3])
        .parse()
        .unwrap()
}

/// `-m eui64` and `-m ipcomp` (IPv6 address autoconfiguration checks and
/// IPsec compression) run in their kernel modules: of two datagrams from
/// the client, only the one from its EUI-64 address counts; of three
/// crafted IPComp packets, only the one with CPI 7.
#[test]
fn eui64_and_ipcomp_run_in_the_kernels_modules() {
    use std::net::{SocketAddr, UdpSocket};
    let Some(lab) = gateway_lab() else { return };
    for (program, rule) in [
        ("ip6tables", "-A INPUT -p udp --dport 9 -m eui64"),
        ("ip6tables", "-A INPUT -p udp --dport 9"),
        ("iptables", "-A INPUT -p ipcomp -m ipcomp --ipcompspi 7"),
        ("iptables", "-A INPUT -p ipcomp"),
    ] {
        moat_ok(&lab.gateway, &common::words(program, rule));
    }
    let link = lab.client.ip(&["-br", "link", "show", "eth0"]).unwrap();
    let mac = link.split_whitespace().nth(2).unwrap().to_string();
    let own = eui64_address("fd99:1:0:0", &mac);
    lab.client
        .ip(&["addr", "add", &format!("{own}/64"), "dev", "eth0", "nodad"])
        .unwrap();
    let gateway = SocketAddr::new(moat_testnet::topology::GATEWAY_LAN_V6.into(), 9);
    lab.client
        .run(|| {
            for source in [own, moat_testnet::topology::CLIENT_V6] {
                let socket = UdpSocket::bind(SocketAddr::new(source.into(), 0)).unwrap();
                socket.send_to(b"autoconf?", gateway).unwrap();
            }
        })
        .unwrap();
    // An IPComp header: next header, flags, then the 16-bit CPI.
    for cpi in [7u16, 8, 7000] {
        let [hi, lo] = cpi.to_be_bytes();
        common::send_raw(
            &lab.client,
            108,
            GATEWAY_LAN_V4,
            &[17, 0, hi, lo, 0, 0, 0, 0],
        );
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    let v6 = moat_ok(&lab.gateway, &["ip6tables", "-vnL", "INPUT"]);
    assert_eq!(common::packet_counts(&v6, "udp dpt:9"), [1, 2], "{v6}");
    let v4 = moat_ok(&lab.gateway, &["iptables", "-vnL", "INPUT"]);
    assert_eq!(packets_of(&v4, "INPUT", "comp spi:7"), 1, "{v4}");
    assert_eq!(common::packet_counts(&v4, " 108 "), [1, 3], "{v4}");
}

/// `-m srh` runs in ip6t_srh: of two crafted IPv6 packets with a Segment
/// Routing Header, only the one whose last segment is in fd00::/8 counts
/// on the rule that tests it (with the next header and the last entry).
#[test]
fn srh_tests_the_segment_routing_header() {
    use socket2::{Domain, Protocol, Socket, Type};
    let Some(lab) = gateway_lab() else { return };
    for rule in [
        "-A INPUT -m srh --srh-next-hdr 59 --srh-lsid fd00::/8 --srh-last-entry-eq 0",
        "-A INPUT -m srh",
    ] {
        moat_ok(&lab.gateway, &common::words("ip6tables", rule));
    }
    let to = std::net::SocketAddr::new(moat_testnet::topology::GATEWAY_LAN_V6.into(), 0);
    lab.client
        .run(|| {
            let socket = Socket::new(Domain::IPV6, Type::RAW, Some(Protocol::from(43))).unwrap();
            for segment in ["fd99:1::1", "2001:db8::1"] {
                // No next header, 24 bytes, type 4, no segments left, last
                // entry 0, no flags, no tag, then the one segment.
                let mut srh = vec![59, 2, 4, 0, 0, 0, 0, 0];
                srh.extend(segment.parse::<std::net::Ipv6Addr>().unwrap().octets());
                socket.send_to(&srh, &to.into()).unwrap();
            }
        })
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    let listing = moat_ok(&lab.gateway, &["ip6tables", "-vnL", "INPUT"]);
    assert_eq!(common::packet_counts(&listing, " srh"), [1, 2], "{listing}");
}

/// Output that cannot be written (a full disk, here `/dev/full`) is an
/// error moat names, with exit status 1, never a panic, for each
/// personality; a restore still puts its rules in.
#[test]
fn a_full_standard_output_is_an_error_not_a_panic() {
    let Some(ns) = require_root_or_skip().then(|| Netns::new("fullout").unwrap()) else {
        return;
    };
    moat(
        &ns,
        &["iptables", "-A", "INPUT", "-s", "192.0.2.1", "-j", "DROP"],
    );
    let to_full = |args: &[&str], input: &str| {
        use std::io::Write;
        let mut child = std::process::Command::new("ip")
            .args(["netns", "exec", ns.name(), common::moat_iptables_bin()])
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::fs::File::create("/dev/full").unwrap())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    };
    let restore = "*filter\n-A INPUT -s 192.0.2.2 -j DROP\n-S INPUT\nCOMMIT\n";
    for (args, input) in [
        (&["iptables", "-L", "-n"][..], ""),
        (&["iptables", "-S", "INPUT", "1"], ""),
        (&["iptables", "-V"], ""),
        (&["ip6tables", "-h"], ""),
        (&["iptables-save"], ""),
        (&["iptables-restore", "-n"], restore),
    ] {
        let out = to_full(args, input);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(
            stderr.contains("cannot write to standard output"),
            "{args:?}: {stderr}"
        );
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
    let rules = text(&moat(&ns, &["iptables", "-S", "INPUT"]).stdout);
    assert!(
        rules.contains("-A INPUT -s 192.0.2.2/32 -j DROP"),
        "{rules}"
    );
}

/// The usual reset (`-F`, `-X`, `-Z` of every table) on a host without
/// those tables leaves it without them, as iptables-nft leaves it; `-F
/// CHAIN` makes the table in both.
#[test]
fn resetting_tables_never_made_makes_none() {
    let Some(ours) = require_root_or_skip().then(|| Netns::new("reset-moat").unwrap()) else {
        return;
    };
    let theirs = Netns::new("reset-nft").unwrap();
    let tables = |saved: std::process::Output| -> Vec<String> {
        text(&saved.stdout)
            .lines()
            .filter(|l| l.starts_with('*'))
            .map(str::to_string)
            .collect()
    };
    for (family, save) in [
        ("iptables", "iptables-save"),
        ("ip6tables", "ip6tables-save"),
    ] {
        for table in ["filter", "nat", "mangle", "raw", "security"] {
            for verb in ["-F", "-X", "-Z"] {
                let words = ["-t", table, verb];
                let mine = moat(&ours, &[&[family][..], &words].concat());
                let nft = format!("{family}-nft");
                let debians = theirs
                    .exec(&[&[nft.as_str()][..], &words].concat())
                    .unwrap();
                assert_eq!(
                    mine.status.code(),
                    debians.status.code(),
                    "{family} {words:?}"
                );
            }
        }
        let nft_save = format!("{family}-nft-save");
        assert_eq!(
            tables(moat(&ours, &[save])),
            Vec::<String>::new(),
            "{family}"
        );
        let debians = theirs.exec(&[nft_save.as_str()]).unwrap();
        assert_eq!(tables(debians), Vec::<String>::new(), "{family}");
    }
    moat(&ours, &["iptables", "-F", "INPUT"]);
    theirs.exec(&["iptables-nft", "-F", "INPUT"]).unwrap();
    assert_eq!(tables(moat(&ours, &["iptables-save"])), ["*filter"]);
    let debians = theirs.exec(&["iptables-nft-save"]).unwrap();
    assert_eq!(tables(debians), ["*filter"]);
}

/// A restore file with bytes that are not UTF-8 (a comment written in
/// Latin-1 by an old editor) restores, as iptables restores it; moat says at
/// which line it read them as U+FFFD.
#[test]
fn a_latin1_comment_restores_with_a_note() {
    let Some(ns) = require_root_or_skip().then(|| Netns::new("latin1").unwrap()) else {
        return;
    };
    let file = std::env::temp_dir().join(format!("moat-latin1-{}.rules", std::process::id()));
    let mut bytes = b"*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -s 192.0.2.1/32".to_vec();
    bytes.extend_from_slice(b" -m comment --comment \"f\xfcr den Server\" -j DROP\nCOMMIT\n");
    std::fs::write(&file, &bytes).unwrap();
    let out = moat(&ns, &["iptables-restore", file.to_str().unwrap()]);
    std::fs::remove_file(&file).unwrap();
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("line 3: bytes that are not UTF-8"),
        "{stderr}"
    );
    let rules = text(&moat(&ns, &["iptables", "-S", "INPUT"]).stdout);
    assert!(
        rules.contains(
            "-A INPUT -s 192.0.2.1/32 -m comment --comment \"f\u{fffd}r den Server\" -j DROP"
        ),
        "{rules}"
    );
}

/// CONNMARK's shifts run in the kernel's xt_CONNMARK (revision 2): a packet
/// marked 1 saves its mark shifted left by 4, so its connection's mark is
/// 0x10, and a restore shifted right by 4 gives the next packet mark 1.
#[test]
fn connmark_shifts_the_mark_it_saves_and_restores() {
    let Some(lab) = require_root_or_skip().then(|| Topology::gateway().unwrap()) else {
        return;
    };
    for rule in [
        "-t mangle -A OUTPUT -p icmp -m connmark --mark 0x10 -j CONNMARK --restore-mark --right-shift-mark 4",
        "-t mangle -A OUTPUT -p icmp -m mark --mark 1",
        "-t mangle -A OUTPUT -p icmp -m connmark --mark 0 -j MARK --set-mark 1",
        "-t mangle -A OUTPUT -p icmp -j CONNMARK --save-mark --left-shift-mark 4",
        "-t mangle -A OUTPUT -p icmp -m connmark --mark 0x10",
    ] {
        moat_ok(&lab.client, &common::words("iptables", rule));
    }
    // Two echo requests of one socket: one connection.
    let wait = std::time::Duration::from_millis(800);
    assert_eq!(
        moat_testnet::ping_burst(&lab.client, GATEWAY_LAN_V4, 2, wait).unwrap(),
        2
    );
    let listing = moat_ok(&lab.client, &["iptables", "-t", "mangle", "-vnL", "OUTPUT"]);
    let counts = common::packet_counts(&listing, "0.0.0.0/0            0.0.0.0/0");
    assert_eq!(counts[0], 1, "the second echo request restores: {listing}");
    assert_eq!(counts[1], 1, "and carries mark 1: {listing}");
    assert_eq!(
        counts[4], 2,
        "each leaves its connection marked 0x10: {listing}"
    );
}

/// A restore file of `rules` filter rules spread over the built-in chains
/// and five user chains named `{tag}C0` to `{tag}C4`, each rule carrying
/// its own number.
fn churn_ruleset(tag: &str, rules: usize) -> String {
    let mut file =
        String::from("*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n");
    for c in 0..5 {
        file.push_str(&format!(":{tag}C{c} - [0:0]\n"));
    }
    for i in 0..rules {
        let chain = match i % 4 {
            0 => format!("{tag}C{}", i % 5),
            1 => "INPUT".to_string(),
            2 => "FORWARD".to_string(),
            _ => "OUTPUT".to_string(),
        };
        file.push_str(&format!(
            "-A {chain} -s 10.{}.{}.0/24 -p tcp -m tcp --dport {} -j ACCEPT\n",
            i / 256,
            i % 256,
            1 + i
        ));
    }
    file.push_str("COMMIT\n");
    file
}

/// While another process restores two rulesets in turn, every
/// iptables-save and `-S` shows one of them whole: never chains of one
/// with rules of the other, nor a rule twice. (The kernel resumes a rule
/// dump by counting rules from the chain's start, rules a batch is still
/// adding included, and tells of a change only once it is committed.)
#[test]
fn listings_taken_during_other_restores_show_one_ruleset() {
    let Some(ns) = require_root_or_skip().then(|| Netns::new("churn").unwrap()) else {
        return;
    };
    let files = [churn_ruleset("A", 300), churn_ruleset("B", 300)];
    let mut saves = Vec::new();
    let mut listings = Vec::new();
    for file in &files {
        restore_ok(&ns, "iptables-restore", file);
        saves.push(saved(moat(&ns, &["iptables-save", "-t", "filter"])));
        listings.push(moat_ok(&ns, &["iptables", "-S"]));
    }
    let writing = std::sync::atomic::AtomicBool::new(true);
    std::thread::scope(|scope| {
        scope.spawn(|| {
            for round in 0..40 {
                restore_ok(&ns, "iptables-restore", &files[round % 2]);
            }
            writing.store(false, std::sync::atomic::Ordering::Relaxed);
        });
        let mut reads = 0;
        while writing.load(std::sync::atomic::Ordering::Relaxed) && reads < 200 {
            let save = saved(moat(&ns, &["iptables-save", "-t", "filter"]));
            assert!(saves.contains(&save), "a save of neither ruleset:\n{save}");
            let listing = moat_ok(&ns, &["iptables", "-S"]);
            assert!(
                listings.contains(&listing),
                "-S of neither ruleset:\n{listing}"
            );
            reads += 1;
        }
        assert!(reads > 5, "only {reads} reads while the rulesets changed");
    });
}

/// With standard error full (`2>/dev/full`), a refused command ends with
/// iptables' exit status, as iptables does, never a panic's 101.
#[test]
fn a_full_standard_error_keeps_the_exit_status() {
    let Some(ns) = require_root_or_skip().then(|| Netns::new("fullerr").unwrap()) else {
        return;
    };
    moat_ok(&ns, &["iptables", "-N", "X"]);
    let cases: [(&[&str], i32); 4] = [
        (&["iptables", "-N", "X"], 1),
        (&["iptables", "-A", "NOPE", "-j", "ACCEPT"], 1),
        (&["iptables", "--bogus"], 2),
        (&["ip6tables", "-A", "INPUT", "-s", "10.0.0.1"], 2),
    ];
    for (args, code) in cases {
        let full = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .unwrap();
        let status = Command::new("ip")
            .args(["netns", "exec", ns.name(), moat_bin()])
            .args(args)
            .stderr(full)
            .status()
            .unwrap();
        assert_eq!(status.code(), Some(code), "{args:?}");
    }
}

/// `iptables-restore --noflush` without `--counters` sets the policies the
/// file declares with counters of zero, as iptables-nft does; with
/// `--counters` they take the file's.
#[test]
fn a_noflush_restore_zeroes_the_policy_counters_it_declares() {
    let Some(ours) = require_root_or_skip().then(|| Netns::new("pol-moat").unwrap()) else {
        return;
    };
    let theirs = Netns::new("pol-nft").unwrap();
    let steps: [(&[&str], &str); 3] = [
        (
            &["-c", "-n"],
            "*filter\n:INPUT ACCEPT [10:20]\n:OUTPUT ACCEPT [5:6]\nCOMMIT\n",
        ),
        (&["-n"], "*filter\n:INPUT DROP [0:0]\nCOMMIT\n"),
        (&["-n"], "*filter\n:FORWARD ACCEPT [3:4]\nCOMMIT\n"),
    ];
    for (options, file) in steps {
        let mine = common::restore(&ours, "iptables-restore", options, file);
        assert!(mine.status.success(), "{}", text(&mine.stderr));
        let nft = [&["iptables-nft-restore"], options].concat();
        let debians = common::exec_input(&theirs, &nft, &[], file);
        assert!(debians.status.success(), "{}", text(&debians.stderr));
    }
    let listing = moat_ok(&ours, &["iptables", "-S", "-v"]);
    assert!(listing.contains("-P INPUT DROP -c 0 0"), "{listing}");
    assert!(listing.contains("-P OUTPUT ACCEPT -c 5 6"), "{listing}");
    let debians = theirs.exec(&["iptables-nft", "-S", "-v"]).unwrap();
    assert_eq!(listing, text(&debians.stdout));
}

/// A NUL byte ends its line in a restore file, as in iptables-restore,
/// which reads each line as a C string: the rule is restored up to it,
/// as iptables-nft restores it.
#[test]
fn a_nul_byte_ends_a_restore_line() {
    let Some(ours) = require_root_or_skip().then(|| Netns::new("nul-moat").unwrap()) else {
        return;
    };
    let theirs = Netns::new("nul-nft").unwrap();
    let file = "*filter\n-A INPUT -s 192.0.2.1 -m comment --comment a\0b -j ACCEPT\n\
                -A INPUT -s 192.0.2.2 -j DROP\0 trailing\nCOMMIT\n";
    let mine = common::restore(&ours, "iptables-restore", &[], file);
    assert!(mine.status.success(), "{}", text(&mine.stderr));
    let debians = common::exec_input(&theirs, &["iptables-nft-restore"], &[], file);
    assert!(debians.status.success(), "{}", text(&debians.stderr));
    let listing = moat_ok(&ours, &["iptables", "-S", "INPUT"]);
    assert!(listing.contains("--comment a\n"), "{listing}");
    assert_eq!(
        listing,
        text(
            &theirs
                .exec(&["iptables-nft", "-S", "INPUT"])
                .unwrap()
                .stdout
        )
    );
}

/// `iptables-restore -v` without `--noflush` flushes each chain rather
/// than the table, as iptables-nft-restore does: a built-in chain the file
/// does not declare keeps its policy and counters, one a rule goes into
/// before any declaration takes policy ACCEPT (its counters kept), and a
/// section with nothing in it makes its table.
#[test]
fn a_verbose_restore_keeps_the_policies_it_is_not_given() {
    if !require_root_or_skip() {
        return;
    }
    let first = "*filter\n:INPUT DROP [5:6]\n:FORWARD DROP [7:8]\n:OUTPUT DROP [1:2]\n\
        :U - [0:0]\n-A INPUT -j U\nCOMMIT\n";
    let second = "*filter\n:Y - [0:0]\n:OUTPUT DROP [3:4]\n-A FORWARD -j Y\nCOMMIT\n\
        *mangle\nCOMMIT\n";
    let ours = Netns::new("vflush-moat").unwrap();
    let theirs = Netns::new("vflush-nft").unwrap();
    for (options, file) in [(&["-c"][..], first), (&["-v"], second)] {
        let mine = common::restore(&ours, "iptables-restore", options, file);
        let nft_restore = [&["iptables-nft-restore"], options].concat();
        let debians = common::exec_input(&theirs, &nft_restore, &[], file);
        assert_eq!(mine.status.code(), debians.status.code(), "{options:?}");
        assert_eq!(text(&mine.stdout), text(&debians.stdout), "{options:?}");
    }
    let mine = saved(ours.exec(&[moat_bin(), "iptables-save", "-c"]).unwrap());
    let debians = saved(theirs.exec(&["iptables-nft-save", "-c"]).unwrap());
    assert_eq!(mine, debians);
    assert!(
        mine.contains(":INPUT DROP [5:6]\n:FORWARD ACCEPT [7:8]\n"),
        "{mine}"
    );
}
