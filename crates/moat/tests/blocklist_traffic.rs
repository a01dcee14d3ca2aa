//! Block lists with real traffic: a client, a gateway running `moat block`
//! and a server in network namespaces. The client (10.99.1.2, fd99:1::2)
//! sits in the networks of a made-up country `xa`.

mod common;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::{
    gateway_lab, moat, moat_err, moat_ok, nft_ruleset, reaches_server, serve_8080, text, QUICK,
};
use moat_testnet::topology::{CLIENT_V4, GATEWAY_LAN_V4, GATEWAY_LAN_V6, SERVER_V4};
use moat_testnet::{ping, udp_burst, Netns, TcpServer, UdpEcho};

/// A zone directory that removes itself.
struct ZoneDir(PathBuf);

impl ZoneDir {
    fn new(tag: &str) -> ZoneDir {
        let dir = std::env::temp_dir().join(format!("moat-zones-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("ipv4")).unwrap();
        std::fs::create_dir_all(dir.join("ipv6")).unwrap();
        ZoneDir(dir)
    }

    fn write_country(&self, code: &str, v4: &str, v6: &str) {
        std::fs::write(self.0.join("ipv4").join(format!("{code}.zone")), v4).unwrap();
        std::fs::write(self.0.join("ipv6").join(format!("{code}.zone")), v6).unwrap();
    }

    fn path(&self) -> &str {
        self.0.to_str().unwrap()
    }

    /// The arguments of `moat block country CODE` from this directory, then `extra`.
    fn country<'a>(&'a self, code: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
        let mut args = vec!["block", "country", code, "--zone-dir", self.path()];
        args.extend_from_slice(extra);
        args
    }

    fn file(&self, name: &str, text: &str) -> String {
        let path = self.0.join(name);
        std::fs::write(&path, text).unwrap();
        path.to_str().unwrap().to_string()
    }
}

impl Drop for ZoneDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn pings_gateway(client: &Netns, v6: bool) -> bool {
    if v6 {
        ping(client, GATEWAY_LAN_V6).unwrap()
    } else {
        ping(client, GATEWAY_LAN_V4).unwrap()
    }
}

/// The packet counter of list `name` in `moat block list`.
fn dropped_packets(gateway: &Netns, name: &str) -> u64 {
    let listing = moat_ok(gateway, &["block", "list"]);
    let header: Vec<&str> = listing
        .lines()
        .next()
        .unwrap()
        .split("  ")
        .filter(|s| !s.is_empty())
        .collect();
    let col = header.iter().position(|h| h.trim() == "PACKETS").unwrap();
    let line = listing
        .lines()
        .find(|l| l.split_whitespace().next() == Some(name))
        .unwrap();
    line.split_whitespace().nth(col).unwrap().parse().unwrap()
}

#[test]
fn country_block_drops_inbound_and_forwarded_with_exceptions_and_unblock() {
    let Some(lab) = gateway_lab() else { return };
    let _servers = serve_8080(&lab);
    let zones = ZoneDir::new("country");
    // xa holds the client's networks among others; xb does not.
    zones.write_country(
        "xa",
        "192.0.2.0/24\n10.99.1.0/24\n10.99.0.0/24\n198.51.100.0/24\n",
        "fd99:1::/64\n2001:db8::/32\n",
    );
    zones.write_country("xb", "10.200.0.0/16\n", "fd00:200::/32\n");
    for v6 in [false, true] {
        assert!(
            reaches_server(&lab.client, v6) && pings_gateway(&lab.client, v6),
            "lab works (v6: {v6})"
        );
    }

    // A country the client is not in: everything passes.
    let out = moat_ok(&lab.gateway, &zones.country("xb", &[]));
    assert!(out.contains("blocked country xb"), "{out}");
    for v6 in [false, true] {
        assert!(
            reaches_server(&lab.client, v6),
            "outside the list passes (v6: {v6})"
        );
        assert!(pings_gateway(&lab.client, v6));
    }

    // The client's country: dropped to the host (input) and through it (forward).
    let out = moat_ok(&lab.gateway, &zones.country("XA", &[]));
    assert!(
        out.contains("blocked country xa: 6 networks as 3 IPv4 and 2 IPv6 ranges"),
        "{out}"
    );
    for v6 in [false, true] {
        assert!(
            !reaches_server(&lab.client, v6),
            "forwarded traffic from xa is dropped (v6: {v6})"
        );
        assert!(
            !pings_gateway(&lab.client, v6),
            "traffic from xa to the host is dropped (v6: {v6})"
        );
    }
    assert!(dropped_packets(&lab.gateway, "xa") >= 4);
    assert_eq!(dropped_packets(&lab.gateway, "xb"), 0);
    let ruleset = nft_ruleset(&lab.gateway);
    assert!(
        ruleset.contains("ip saddr @xa.v4 ip saddr != @xa.v4.except counter"),
        "{ruleset}"
    );
    // One rule per list, direction and family: never a rule per network.
    assert_eq!(
        ruleset.matches("drop comment \"moat list").count(),
        8,
        "{ruleset}"
    );

    // Exceptions: the client's own addresses stay allowed, the list stays.
    moat_ok(
        &lab.gateway,
        &zones.country("xa", &["--except", "10.99.1.2/32", "--except", "fd99:1::2"]),
    );
    for v6 in [false, true] {
        assert!(
            reaches_server(&lab.client, v6),
            "an exception passes (v6: {v6})"
        );
        assert!(pings_gateway(&lab.client, v6));
    }
    let listing = moat_ok(&lab.gateway, &["block", "list"]);
    assert!(listing.contains("10.99.1.2/32,fd99:1::2/128"), "{listing}");
    // A refresh without --except keeps them; --no-except lifts them.
    moat_ok(&lab.gateway, &zones.country("xa", &[]));
    assert!(reaches_server(&lab.client, false));
    moat_ok(&lab.gateway, &zones.country("xa", &["--no-except"]));
    assert!(!reaches_server(&lab.client, false));

    // Unblock lifts it; the other list stays.
    moat_ok(&lab.gateway, &["unblock", "country", "xa"]);
    for v6 in [false, true] {
        assert!(reaches_server(&lab.client, v6), "unblocked (v6: {v6})");
        assert!(pings_gateway(&lab.client, v6));
    }
    let listing = moat_ok(&lab.gateway, &["block", "list"]);
    assert!(
        !listing.contains("xa ") && listing.contains("xb "),
        "{listing}"
    );
    moat_ok(&lab.gateway, &["unblock", "xb"]);
    assert_eq!(
        moat_ok(&lab.gateway, &["block", "list"]),
        "no block lists\n"
    );
    assert!(
        !nft_ruleset(&lab.gateway).contains("moat_block"),
        "the table goes with the last list"
    );
}

#[test]
fn file_lists_directions_and_single_addresses() {
    let Some(lab) = gateway_lab() else { return };
    let _servers = serve_8080(&lab);
    let zones = ZoneDir::new("files");
    let list = zones.file(
        "servers.txt",
        "# servers we must not talk to\n10.99.2.2 ; the server\nfd99:2::/64\n203.0.113.0/24\n",
    );

    // out: to the listed addresses, from the host and through it.
    moat_ok(
        &lab.gateway,
        &["block", "file", "servers", &list, "--direction", "out"],
    );
    assert!(
        !reaches_server(&lab.client, false),
        "forwarded traffic to the list is dropped"
    );
    assert!(!reaches_server(&lab.client, true));
    assert!(
        !ping(&lab.gateway, SERVER_V4).unwrap(),
        "the host's own traffic to the list is dropped"
    );
    assert!(
        pings_gateway(&lab.client, false),
        "traffic from the client to the host is not affected"
    );

    // A refresh with other directions replaces the rules in the same transaction.
    moat_ok(
        &lab.gateway,
        &["block", "file", "servers", &list, "--direction", "in"],
    );
    assert!(
        reaches_server(&lab.client, false),
        "forwarded traffic is not affected by in"
    );
    assert!(
        !ping(&lab.server, GATEWAY_LAN_V4).unwrap(),
        "the server cannot reach the host"
    );
    assert!(!ping(&lab.gateway, SERVER_V4).unwrap(), "nor answer it");

    // Single addresses: add to and remove from a list, in place.
    moat_ok(
        &lab.gateway,
        &["block", "add", "manual", &CLIENT_V4.to_string(), "--create"],
    );
    assert!(
        !reaches_server(&lab.client, false),
        "an added address is blocked"
    );
    let out = moat_ok(&lab.gateway, &["block", "add", "manual", "10.99.1.0/30"]);
    assert!(out.contains("added 1 address to manual"), "{out}");
    let out = moat_ok(&lab.gateway, &["block", "add", "manual", "10.99.1.2"]);
    assert!(out.contains("already holds"), "{out}");
    moat_ok(&lab.gateway, &["block", "remove", "manual", "10.99.1.2"]);
    assert!(
        reaches_server(&lab.client, false),
        "a removed address passes"
    );
    let set = lab
        .gateway
        .exec_ok(&["nft", "list", "set", "inet", "moat_block", "manual.v4"])
        .unwrap();
    assert!(
        set.contains("10.99.1.0/31") && set.contains("10.99.1.3"),
        "cut out of its range: {set}"
    );
    moat_ok(&lab.gateway, &["unblock", "manual", "servers"]);
}

#[test]
fn failed_loads_change_nothing() {
    let Some(lab) = gateway_lab() else { return };
    let _srv = TcpServer::start(&lab.server, SERVER_V4, 8080).unwrap();
    let zones = ZoneDir::new("failed");
    zones.write_country("xa", "10.99.1.0/24\n", "");
    moat_ok(&lab.gateway, &zones.country("xa", &[]));
    let before = nft_ruleset(&lab.gateway);

    // A line that is not a network: file:line error, list untouched.
    zones.write_country("xa", "10.99.3.0/24\n10.99.1.0/24 junk\n", "");
    let err = moat_err(&lab.gateway, &zones.country("xa", &[]));
    assert!(err.contains("xa.zone:2"), "{err}");
    // An empty download would lift the block: refused.
    zones.write_country("xa", "# nothing\n", "");
    let err = moat_err(&lab.gateway, &zones.country("xa", &[]));
    assert!(err.contains("refusing to load an empty list"), "{err}");
    // A missing country, a bad code, an unknown list.
    for args in [
        zones.country("zz", &[]),
        zones.country("x1", &[]),
        vec!["unblock", "nope"],
        vec!["block", "file", "xa", "/nonexistent/list.txt"],
    ] {
        let out = moat(&lab.gateway, &args);
        assert!(!out.status.success(), "{args:?} should fail");
    }
    // A file list may not silently replace a country list.
    let other = zones.file("other.txt", "10.99.9.0/24\n");
    let err = moat_err(&lab.gateway, &["block", "file", "xa", &other]);
    assert!(err.contains("already exists as the country list"), "{err}");
    let out = moat(&lab.gateway, &["unblock", "country", "xb"]);
    assert!(!out.status.success());

    assert_eq!(nft_ruleset(&lab.gateway), before, "nothing changed");
    assert!(!reaches_server(&lab.client, false), "still blocked");
}

/// A refresh replaces a list in one transaction: a client inside the list
/// sends packets throughout many refreshes of a large list, and none gets
/// through.
#[test]
fn refresh_never_opens_a_gap() {
    let Some(lab) = gateway_lab() else { return };
    let echo = UdpEcho::start(&lab.server, SERVER_V4, 5353).unwrap();
    let zones = ZoneDir::new("refresh");
    // 40,000 separate ranges around the client's network, so each refresh
    // is a big transaction.
    let mut v4 = String::from("10.99.1.0/24\n");
    for i in 0..40_000u32 {
        v4 += &format!("100.{}.{}.0/25\n", (i >> 8) & 0xff, i & 0xff);
    }
    zones.write_country("xa", &v4, "");
    moat_ok(&lab.gateway, &zones.country("xa", &[]));

    let stop = AtomicBool::new(false);
    let sent = AtomicUsize::new(0);
    std::thread::scope(|s| {
        s.spawn(|| {
            let deadline = Instant::now() + Duration::from_secs(60);
            while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
                sent.fetch_add(
                    udp_burst(&lab.client, SERVER_V4, 5353, 200).unwrap(),
                    Ordering::Relaxed,
                );
            }
        });
        for _ in 0..8 {
            moat_ok(&lab.gateway, &zones.country("xa", &[]));
        }
        stop.store(true, Ordering::Relaxed);
    });
    assert!(
        sent.load(Ordering::Relaxed) > 1000,
        "the client kept sending"
    );
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(
        echo.received(),
        0,
        "no packet got through during the refreshes"
    );
    assert!(dropped_packets(&lab.gateway, "xa") as usize >= sent.load(Ordering::Relaxed) / 2);

    // Sanity: the same traffic does pass once the list is gone.
    moat_ok(&lab.gateway, &["unblock", "xa"]);
    udp_burst(&lab.client, SERVER_V4, 5353, 20).unwrap();
    let deadline = Instant::now() + Duration::from_secs(2);
    while echo.received() == 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(echo.received() > 0);
}

#[test]
fn a_list_that_would_cut_an_ssh_connection_is_refused_unless_excepted_or_forced() {
    use std::io::{Read, Write};
    let Some(lab) = gateway_lab() else { return };
    let zones = ZoneDir::new("sshguard");
    // A stateful rule, so the gateway tracks connections (as any firewall does).
    moat_ok(
        &lab.gateway,
        &[
            "iptables",
            "-A",
            "INPUT",
            "-m",
            "conntrack",
            "--ctstate",
            "ESTABLISHED",
            "-j",
            "ACCEPT",
        ],
    );
    let _sshd = TcpServer::start(&lab.gateway, GATEWAY_LAN_V4, 22).unwrap();
    let mut session = lab
        .client
        .run(|| {
            std::net::TcpStream::connect_timeout(
                &(GATEWAY_LAN_V4, 22).into(),
                Duration::from_secs(2),
            )
        })
        .unwrap()
        .expect("an ssh-like connection");
    session.set_read_timeout(Some(QUICK)).unwrap();
    let mut banner = [0u8; 16];
    let _ = session.read(&mut banner);
    let list = zones.file("bad.txt", "10.99.1.0/24\n");

    // The established connection to port 22 (found in conntrack) is protected.
    let err = moat_err(&lab.gateway, &["block", "file", "bad", &list]);
    assert!(
        err.contains(
            "list bad holds 10.99.1.2, the client of an established connection (conntrack)"
        ) && err.contains("--except 10.99.1.2"),
        "{err}"
    );
    assert!(
        !moat_ok(&lab.gateway, &["block", "list"]).contains("bad"),
        "nothing was loaded"
    );
    // So is the session named by SSH_CONNECTION.
    let out = lab
        .gateway
        .exec(&[
            "env",
            "SSH_CONNECTION=10.99.1.77 40000 10.99.1.1 2222",
            common::moat_bin(),
            "block",
            "add",
            "bad",
            "10.99.1.77",
        ])
        .unwrap();
    assert!(
        text(&out.stderr).contains("your SSH session (SSH_CONNECTION)"),
        "{}",
        text(&out.stderr)
    );

    // With the address excepted the list loads and the session lives on.
    moat_ok(
        &lab.gateway,
        &["block", "file", "bad", &list, "--except", "10.99.1.2"],
    );
    session.write_all(b"still here\n").unwrap();
    assert!(
        pings_gateway(&lab.client, false),
        "the excepted client passes"
    );

    // --force does what it is told: the client is cut.
    moat_ok(
        &lab.gateway,
        &["block", "file", "bad", &list, "--no-except", "--force"],
    );
    assert!(
        !pings_gateway(&lab.client, false),
        "forced: the client is blocked"
    );
}
