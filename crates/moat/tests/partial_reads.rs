//! `iptables-restore --noflush` and single iptables commands beside a large
//! table read only the chains they touch when the rest cannot matter
//! (kube-proxy's partial syncs beside its nat table of thousands of
//! chains), and more of the table when it can: either way the outcome is
//! iptables-nft's, side by side, and real connections follow the rules the
//! sync wrote.

mod common;

use std::process::Output;

use common::{connects_quickly, moat_bin, restore, text};
use moat_testnet::{require_root_or_skip, Netns, TcpServer};

/// The address of service `i` (10.96.0.0/16 is local to the namespace).
fn service_ip(i: usize) -> String {
    format!("10.96.{}.{}", i / 250, i % 250 + 1)
}

/// The chains of service `i`, as kube-proxy names its kinds.
fn service_chains(i: usize) -> [String; 2] {
    [format!("KUBE-SVC-{i:04}"), format!("KUBE-SEP-{i:04}")]
}

/// Service `i`'s own rules: mark for masquerade from outside the pods,
/// then to its one endpoint, 127.0.0.1:`port`.
fn service_rules(i: usize, port: u16) -> String {
    let [svc, sep] = service_chains(i);
    let ip = service_ip(i);
    let c = format!("-m comment --comment \"ns/svc{i}:http\"");
    format!(
        "-A {svc} ! -s 10.244.0.0/16 -d {ip}/32 -p tcp {c} -m tcp --dport 80 -j KUBE-MARK-MASQ\n\
         -A {svc} {c} -j {sep}\n\
         -A {sep} -s 127.0.0.1/32 {c} -j KUBE-MARK-MASQ\n\
         -A {sep} -p tcp {c} -m tcp -j DNAT --to-destination 127.0.0.1:{port}\n"
    )
}

/// KUBE-SERVICES with a rule for each of `services`.
fn services_chain(services: &[usize]) -> String {
    services
        .iter()
        .map(|&i| {
            format!(
                "-A KUBE-SERVICES -d {}/32 -p tcp -m comment --comment \"ns/svc{i}:http cluster IP\" \
                 -m tcp --dport 80 -j {}\n",
                service_ip(i),
                service_chains(i)[0]
            )
        })
        .collect()
}

/// kube-proxy's first sync of `services` (endpoint ports from `port`),
/// with the jumps from the built-in chains it adds beside it.
fn full_sync(services: &[usize], port: impl Fn(usize) -> u16) -> String {
    let mut file = String::from(
        "*nat\n:KUBE-SERVICES - [0:0]\n:KUBE-POSTROUTING - [0:0]\n:KUBE-MARK-MASQ - [0:0]\n",
    );
    for &i in services {
        for chain in service_chains(i) {
            file += &format!(":{chain} - [0:0]\n");
        }
    }
    file += "-A PREROUTING -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES\n\
             -A OUTPUT -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES\n\
             -A POSTROUTING -m comment --comment \"kubernetes postrouting rules\" -j KUBE-POSTROUTING\n\
             -A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN\n\
             -A KUBE-POSTROUTING -j MARK --xor-mark 0x4000\n\
             -A KUBE-POSTROUTING -j MASQUERADE --random-fully\n\
             -A KUBE-MARK-MASQ -j MARK --or-mark 0x4000\n";
    file += &services_chain(services);
    for &i in services {
        file += &service_rules(i, port(i));
    }
    file + "COMMIT\n"
}

/// A partial sync: KUBE-SERVICES for `services` again, the chains of
/// `changed` written anew (endpoint ports from `port`), those of `removed`
/// flushed and deleted.
fn partial_sync(
    services: &[usize],
    changed: &[usize],
    removed: &[usize],
    port: impl Fn(usize) -> u16,
) -> String {
    let mut file = String::from("*nat\n:KUBE-SERVICES - [0:0]\n");
    for &i in changed.iter().chain(removed) {
        for chain in service_chains(i) {
            file += &format!(":{chain} - [0:0]\n");
        }
    }
    file += &services_chain(services);
    for &i in changed {
        file += &service_rules(i, port(i));
    }
    for &i in removed {
        for chain in service_chains(i) {
            file += &format!("-X {chain}\n");
        }
    }
    file + "COMMIT\n"
}

/// The nat table as `save` (an iptables-save command) writes it, without
/// its comment lines and policy counters (only moat's namespace has
/// traffic).
fn saved(ns: &Netns, save: &[&str]) -> String {
    let out = ns.exec(&[save, &["-t", "nat"]].concat()).unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let text = text(&out.stdout);
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| match l.split_once(" [") {
            Some((chain, _)) if l.starts_with(':') => format!("{chain}\n"),
            _ => format!("{l}\n"),
        })
        .collect()
}

/// Restores `file` with --noflush in both namespaces: moat's and
/// iptables-nft's; both must succeed or fail alike and save alike.
fn both_restore(ours: &Netns, theirs: &Netns, file: &str) -> bool {
    let mine = restore(ours, "iptables-restore", &["--noflush"], file);
    let debians = common::exec_input(theirs, &["iptables-nft-restore", "--noflush"], &[], file);
    alike(ours, theirs, file, mine, debians)
}

/// `iptables ARGS` in both namespaces: both must succeed or fail alike and
/// save alike.
fn both_run(ours: &Netns, theirs: &Netns, args: &[&str]) -> bool {
    let mine = ours
        .exec(&[&[moat_bin(), "iptables"], args].concat())
        .unwrap();
    let debians = theirs.exec(&[&["iptables-nft"], args].concat()).unwrap();
    alike(ours, theirs, &args.join(" "), mine, debians)
}

/// Whether `what` succeeded, once it ended alike in both namespaces
/// (`mine` in moat's, `debians` in iptables-nft's) and left both nat
/// tables alike.
fn alike(ours: &Netns, theirs: &Netns, what: &str, mine: Output, debians: Output) -> bool {
    assert_eq!(
        mine.status.code(),
        debians.status.code(),
        "{what}\nmoat: {}\niptables-nft: {}",
        text(&mine.stderr),
        text(&debians.stderr)
    );
    let (ours_saved, theirs_saved) = (
        saved(ours, &[moat_bin(), "iptables-save"]),
        saved(theirs, &["iptables-nft-save"]),
    );
    let differs = ours_saved
        .lines()
        .zip(theirs_saved.lines())
        .find(|(m, d)| m != d);
    assert_eq!(
        (ours_saved.lines().count(), differs),
        (theirs_saved.lines().count(), None),
        "moat's save against iptables-nft's after {what}"
    );
    mine.status.success()
}

/// `iptables ARGS` in both namespaces prints the same and ends the same.
fn both_list(ours: &Netns, theirs: &Netns, args: &[&str]) {
    let mine = ours
        .exec(&[&[moat_bin(), "iptables"], args].concat())
        .unwrap();
    let debians = theirs.exec(&[&["iptables-nft"], args].concat()).unwrap();
    assert_eq!(
        (mine.status.code(), text(&mine.stdout)),
        (debians.status.code(), text(&debians.stdout)),
        "iptables {args:?}"
    );
}

/// kube-proxy's partial syncs beside a nat table of 300 services: a
/// service whose endpoint moved, a service removed, a service added, and a
/// sync that changes nothing. Each leaves the table as iptables-nft leaves
/// it, and connections to the services go where the last sync said.
#[test]
fn kube_proxy_partial_syncs_match_iptables_nft_and_move_connections() {
    if !require_root_or_skip() {
        return;
    }
    let ours = Netns::new("sync-moat").unwrap();
    let theirs = Netns::new("sync-nft").unwrap();
    for ns in [&ours, &theirs] {
        ns.exec_ok(&["ip", "link", "set", "lo", "up"]).unwrap();
        ns.exec_ok(&["ip", "addr", "add", "10.96.0.1/16", "dev", "lo"])
            .unwrap();
    }
    let old_port = |i: usize| 20000 + i as u16;
    let new_port = |i: usize| 30000 + i as u16;
    let all: Vec<usize> = (0..300).collect();
    assert!(both_restore(&ours, &theirs, &full_sync(&all, old_port)));
    // One chain listed with the references to it (kubelet's canary checks
    // that its chain is there so): read with that chain alone.
    for chain in [
        "KUBE-MARK-MASQ",
        "KUBE-SERVICES",
        "KUBE-SVC-0007",
        "PREROUTING",
    ] {
        both_list(&ours, &theirs, &["-t", "nat", "-n", "-L", chain]);
        both_list(
            &ours,
            &theirs,
            &["-t", "nat", "-nvx", "--line-numbers", "-L", chain],
        );
    }

    let listen = |ports: &[u16]| -> Vec<TcpServer> {
        let local = std::net::Ipv4Addr::LOCALHOST;
        ports
            .iter()
            .map(|&port| TcpServer::start(&ours, local, port).unwrap())
            .collect()
    };
    let servers = listen(&[old_port(7), old_port(9)]);
    assert!(connects_quickly(&ours, parse(&service_ip(7)), 80));

    // Service 7's endpoint moves, service 8 goes, service 300 comes.
    let now: Vec<usize> = (0..301).filter(|&i| i != 8).collect();
    let sync = partial_sync(&now, &[7, 300], &[8], new_port);
    assert!(both_restore(&ours, &theirs, &sync));
    drop(servers);
    let _servers = listen(&[new_port(7), old_port(9), new_port(300), old_port(8)]);
    assert!(connects_quickly(&ours, parse(&service_ip(7)), 80));
    assert!(connects_quickly(&ours, parse(&service_ip(300)), 80));
    assert!(connects_quickly(&ours, parse(&service_ip(9)), 80));
    // Service 8's address is the namespace's own, with nothing on port 80:
    // its old endpoint is no longer reached.
    assert!(!connects_quickly(&ours, parse(&service_ip(8)), 80));

    // The same sync again changes nothing.
    assert!(both_restore(&ours, &theirs, &sync));
    assert!(connects_quickly(&ours, parse(&service_ip(7)), 80));
}

fn parse(ip: &str) -> std::net::IpAddr {
    ip.parse().unwrap()
}

/// moat's and iptables-nft's namespaces, each with a nat table where
/// OUTPUT jumps to SEP's DNAT and POSTROUTING to A, which jumps to B.
fn reach_lab(role: &str) -> (Netns, Netns) {
    let ours = Netns::new(&format!("{role}-moat")).unwrap();
    let theirs = Netns::new(&format!("{role}-nft")).unwrap();
    let base = "*nat\n:SEP - [0:0]\n:A - [0:0]\n:B - [0:0]\n-A OUTPUT -j SEP\n\
                -A SEP -p tcp -j DNAT --to-destination 127.0.0.1:9\n\
                -A POSTROUTING -j A\n-A A -j B\nCOMMIT\n";
    assert!(both_restore(&ours, &theirs, base));
    (ours, theirs)
}

/// moat's chain N in `ns` as nft lists it (its NETMAP rule).
fn netmap_of(ns: &Netns) -> String {
    let out = ns.exec(&["nft", "list", "chain", "ip", "moat_nat", "N"]);
    let listing = text(&out.unwrap().stdout);
    eprintln!("{listing}");
    listing
}

/// A --noflush restore whose chains are reached through chains it does not
/// touch, or that reaches such a chain from a new hook, is checked against
/// the whole table: a DNAT that POSTROUTING would reach, or a chain still
/// jumped to, is refused as iptables-nft refuses it, and the table stays.
#[test]
fn noflush_restores_are_checked_against_what_reaches_their_chains() {
    if !require_root_or_skip() {
        return;
    }
    let (ours, theirs) = reach_lab("reach");
    // SEP, not in the file, reached from POSTROUTING by the new jump.
    assert!(!both_restore(
        &ours,
        &theirs,
        "*nat\n-A POSTROUTING -j SEP\nCOMMIT\n"
    ));
    // B, in the file, reached from POSTROUTING through A, not in it.
    assert!(!both_restore(
        &ours,
        &theirs,
        "*nat\n:B - [0:0]\n-A B -p tcp -j DNAT --to-destination 127.0.0.1:9\nCOMMIT\n"
    ));
    // B is still A's jump target.
    assert!(!both_restore(&ours, &theirs, "*nat\n-X B\nCOMMIT\n"));
    // Once A is flushed, B can go.
    assert!(both_restore(
        &ours,
        &theirs,
        "*nat\n:A - [0:0]\n-X B\nCOMMIT\n"
    ));
    // A NETMAP no chain reaches maps destinations; once INPUT reaches it,
    // through a jump in a file that does not touch its chain, sources.
    let netmap = "*nat\n:N - [0:0]\n-A N -d 10.1.0.0/16 -j NETMAP --to 10.2.0.0/16\nCOMMIT\n";
    assert!(both_restore(&ours, &theirs, netmap));
    assert!(netmap_of(&ours).contains("dnat prefix to 10.2.0.0/16"));
    assert!(both_restore(
        &ours,
        &theirs,
        "*nat\n-A INPUT -j N\nCOMMIT\n"
    ));
    assert!(netmap_of(&ours).contains("snat prefix to 10.2.0.0/16"));
}

/// Single commands are read as far as they need and checked as iptables-nft
/// checks them: a jump that makes POSTROUTING reach a DNAT, a DNAT in a
/// chain POSTROUTING reaches through a chain the command does not touch, a
/// chain still jumped to, and NETMAPs that INPUT comes to reach, or that
/// come to a chain INPUT reaches, through chains the command reads or not.
#[test]
fn single_commands_are_checked_against_what_reaches_their_chains() {
    if !require_root_or_skip() {
        return;
    }
    let (ours, theirs) = reach_lab("one");
    let nat = |args: &str| -> Vec<String> {
        ["-t", "nat"]
            .into_iter()
            .map(String::from)
            .chain(args.split(' ').map(String::from))
            .collect()
    };
    let run = |args: &str| {
        let args = nat(args);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        both_run(&ours, &theirs, &args)
    };
    assert!(!run("-A POSTROUTING -j SEP"));
    assert!(!run("-A B -p tcp -j DNAT --to-destination 127.0.0.1:9"));
    assert!(!run("-X B"));
    assert!(run("-F A"));
    assert!(run("-X B"));
    // A NETMAP that INPUT comes to reach through M, a chain the command
    // reads, maps sources; so does one added to N once INPUT reaches it
    // through M, a chain the command does not read.
    assert!(run("-N N"));
    assert!(run("-A N -d 10.1.0.0/16 -j NETMAP --to 10.2.0.0/16"));
    assert!(run("-N M"));
    assert!(run("-A M -j N"));
    assert!(netmap_of(&ours).contains("dnat prefix to 10.2.0.0/16"));
    assert!(run("-I INPUT -j M"));
    assert!(netmap_of(&ours).contains("snat prefix to 10.2.0.0/16"));
    assert!(run("-A N -d 10.3.0.0/16 -j NETMAP --to 10.4.0.0/16"));
    assert!(netmap_of(&ours).contains("snat prefix to 10.4.0.0/16"));
}
