//! [`BanTable`] against the real kernel, each test in network namespaces
//! of its own (skipped without root; a failure with `CI=true`): the layout
//! against what `nft -f` makes of the same text, bans, refreshes, expiry,
//! unbans and jail changes, and real packets through the client — gateway
//! — server lab.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

use ipnet::IpNet;
use moat_testnet::{
    ping, tcp_connect, tcp_connect_timeout, topology, Netns, TcpOutcome, TcpServer, Topology,
};

use crate::encode::rule_text;
use crate::layout::{
    port_range_text, ports_comment, ports_set_name, CHAINS, PRIORITY, TABLE, TABLE_COMMENT,
};
use crate::{BanError, BanTable, JailScope, KernelBan, Protocol};

fn lab() -> bool {
    moat_testnet::require_root_or_skip()
}

fn jail(name: &str, protocol: Protocol, ports: &[(u16, u16)]) -> JailScope {
    JailScope {
        name: name.into(),
        protocol,
        ports: ports.to_vec(),
        all: false,
        v6_prefix: None,
        reject: true,
    }
}

fn net(text: &str) -> IpNet {
    match text.parse::<IpAddr>() {
        Ok(addr) => IpNet::from(addr),
        Err(_) => text.parse().unwrap(),
    }
}

fn sample_jails() -> Vec<JailScope> {
    let mut web = jail(
        "nginx-http-auth",
        Protocol::Tcp,
        &[(443, 443), (80, 80), (8000, 8100)],
    );
    web.v6_prefix = Some(64);
    let mut dns = jail("named", Protocol::Udp, &[]);
    dns.v6_prefix = Some(56);
    dns.reject = false;
    let mut recidive = jail("recidive", Protocol::Tcp, &[]);
    recidive.all = true;
    vec![
        jail("sshd", Protocol::Tcp, &[(22, 22)]),
        web,
        dns,
        recidive,
        jail("voip", Protocol::All, &[(5060, 5061), (65000, 65535)]),
    ]
}

/// The table as an `nft -f` file, written from the jails the way a person
/// would (not through moat's encoder).
fn nft_text(jails: &[JailScope]) -> String {
    let mut out = format!("table inet {TABLE} {{\n  comment \"{TABLE_COMMENT}\"\n");
    for j in jails {
        for set in j.addr_sets() {
            let ty = if set.is_v6() {
                "ipv6_addr"
            } else {
                "ipv4_addr"
            };
            out += &format!(
                "  set {} {{ type {ty}; flags timeout; comment \"{}\"; }}\n",
                set.name(&j.name),
                set.comment(&j.name, j.v6_prefix)
            );
        }
        let ports = j.port_ranges();
        if !ports.is_empty() {
            let elements: Vec<String> = ports.iter().copied().map(port_range_text).collect();
            out += &format!(
                "  set {} {{ type inet_service; flags interval; comment \"{}\"; elements = {{ {} }} }}\n",
                ports_set_name(&j.name),
                ports_comment(&j.name),
                elements.join(", ")
            );
        }
    }
    for (chain, _) in CHAINS {
        out += &format!(
            "  chain {chain} {{\n    type filter hook {chain} priority {PRIORITY}; policy accept;\n"
        );
        for j in jails {
            for spec in j.rules() {
                out += &format!(
                    "    {} comment \"{}\"\n",
                    rule_text(&spec, &j.name),
                    spec.comment(&j.name)
                );
            }
        }
        out += "  }\n";
    }
    out + "}\n"
}

/// `nft` output without handles (the numbers after a rule's table and
/// chain in `--debug=netlink` output are its handle and position).
fn nft(ns: &Netns, args: &[&str]) -> String {
    let out = ns.exec_ok(args).unwrap();
    out.lines()
        .map(|l| {
            let l = l.split(" # handle").next().unwrap_or(l).trim_end();
            let rule_head = CHAINS
                .iter()
                .map(|(chain, _)| format!("inet {TABLE} {chain} "))
                .find(|head| l.starts_with(head.as_str()));
            rule_head.unwrap_or_else(|| l.to_string())
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn layout_is_what_nft_makes_of_the_same_text() {
    if !lab() {
        return;
    }
    let jails = sample_jails();
    let ours = Netns::new("ban-nl").unwrap();
    let theirs = Netns::new("ban-nft").unwrap();
    ours.run(|| BanTable::open().unwrap().ensure_jails(&jails).unwrap())
        .unwrap();
    theirs
        .exec_input(&["nft", "-f", "-"], &nft_text(&jails))
        .unwrap();
    for args in [
        &["nft", "list", "table", "inet", TABLE][..],
        &["nft", "--debug=netlink", "list", "table", "inet", TABLE][..],
    ] {
        let (a, b) = (nft(&ours, args), nft(&theirs, args));
        assert_eq!(a, b, "{args:?}\n--- moat:\n{a}\n--- nft:\n{b}");
    }
    // And moat reads nft's table as its own.
    let read = theirs
        .run(|| BanTable::open().unwrap().jails().unwrap())
        .unwrap();
    let names: Vec<&str> = read.iter().map(|j| j.name.as_str()).collect();
    assert_eq!(
        names,
        ["named", "nginx-http-auth", "recidive", "sshd", "voip"]
    );
    for j in &read {
        let want = jails.iter().find(|w| w.name == j.name).unwrap();
        assert_eq!(j.rules(), want.rules(), "{}", j.name);
        assert_eq!(j.port_ranges(), want.port_ranges(), "{}", j.name);
        assert_eq!(j.v6_prefix, want.v6_prefix, "{}", j.name);
    }
}

fn sorted(mut bans: Vec<KernelBan>) -> Vec<KernelBan> {
    bans.sort_by(|a, b| (&a.jail, a.addr).cmp(&(&b.jail, b.addr)));
    bans
}

#[test]
fn bans_refresh_expire_unban_and_survive_jail_changes() {
    if !lab() {
        return;
    }
    let ns = Netns::new("ban").unwrap();
    ns.run(|| {
        let mut t = BanTable::open().unwrap();
        exercise(&mut t);
        // The scratch set of the kernel probe is gone.
        let out = std::process::Command::new("nft")
            .args(["list", "ruleset"])
            .output()
            .unwrap();
        assert!(!String::from_utf8_lossy(&out.stdout).contains("_probe"));
    })
    .unwrap();
}

#[test]
fn bans_work_the_same_on_kernels_that_keep_old_timeouts() {
    if !lab() {
        return;
    }
    let ns = Netns::new("ban-old").unwrap();
    ns.run(|| {
        let mut t = BanTable::open().unwrap();
        t.assume_no_timeout_updates();
        exercise(&mut t);
    })
    .unwrap();
}

fn exercise(t: &mut BanTable) {
    {
        let jails = sample_jails();
        t.ensure_jails(&jails).unwrap();
        let hour = Some(Duration::from_secs(3600));
        t.ban("sshd", net("192.0.2.1"), hour).unwrap();
        t.ban("sshd", net("2001:db8::1"), None).unwrap();
        // A prefix jail bans the address's network, and says so.
        let banned = t
            .ban("nginx-http-auth", net("2001:db8:1:2:3::4"), hour)
            .unwrap();
        assert_eq!(banned, net("2001:db8:1:2::/64"));
        let left = t
            .time_left("nginx-http-auth", net("2001:db8:1:2:ff::1"))
            .unwrap();
        assert!(left
            .flatten()
            .is_some_and(|d| d > Duration::from_secs(3590)));
        assert_eq!(t.time_left("sshd", net("2001:db8::1")).unwrap(), Some(None));
        assert_eq!(t.time_left("sshd", net("192.0.2.99")).unwrap(), None);
        t.ban("named", net("2001:db8:1:2:3::4"), hour).unwrap();
        let bans = sorted(t.list().unwrap());
        let addrs: Vec<(&str, String)> = bans
            .iter()
            .map(|b| (b.jail.as_str(), b.addr.to_string()))
            .collect();
        assert_eq!(
            addrs,
            [
                ("named", "2001:db8:1::/56".to_string()),
                ("nginx-http-auth", "2001:db8:1:2::/64".to_string()),
                ("sshd", "192.0.2.1/32".to_string()),
                ("sshd", "2001:db8::1/128".to_string()),
            ]
        );
        assert_eq!(bans[2].timeout, hour);
        assert!(bans[2].expires_in.unwrap() > Duration::from_secs(3590));
        assert_eq!((bans[3].timeout, bans[3].expires_in), (None, None));

        // Banned again: the new timeout, also from permanent to timed.
        t.ban("sshd", net("192.0.2.1"), Some(Duration::from_secs(60)))
            .unwrap();
        t.ban("sshd", net("2001:db8::1"), Some(Duration::from_secs(120)))
            .unwrap();
        let bans = sorted(t.list().unwrap());
        assert_eq!(bans[2].timeout, Some(Duration::from_secs(60)));
        assert_eq!(bans[3].timeout, Some(Duration::from_secs(120)));
        // And back to permanent; a timeout past the cap is capped.
        t.ban("sshd", net("2001:db8::1"), None).unwrap();
        t.ban(
            "sshd",
            net("192.0.2.1"),
            Some(Duration::from_secs(u64::MAX)),
        )
        .unwrap();
        let bans = sorted(t.list().unwrap());
        assert_eq!(bans[2].timeout, Some(crate::layout::MAX_TIMEOUT));
        assert_eq!(bans[3].timeout, None);

        // Refused bans.
        assert!(matches!(
            t.ban("nope", net("192.0.2.1"), None),
            Err(BanError::UnknownJail(_))
        ));
        assert!(matches!(
            t.ban("sshd", net("192.0.2.0/24"), None),
            Err(BanError::BadAddress { .. })
        ));

        // A short ban lifts itself.
        t.ban(
            "voip",
            net("198.51.100.9"),
            Some(Duration::from_millis(700)),
        )
        .unwrap();
        assert_eq!(t.list().unwrap().len(), 5);
        std::thread::sleep(Duration::from_millis(1200));
        assert_eq!(t.list().unwrap().len(), 4);

        // Jail changes keep bans: same jails again changes nothing; new
        // ports are refilled in place; a new IPv6 prefix renews only the
        // prefix set.
        let mut nl = moat_backend::netlink::NfSocket::open().unwrap();
        let mut handles = || {
            let mut v: Vec<(String, Option<String>, u64)> = nl
                .rules(moat_backend::netlink::NfProto::Inet, TABLE)
                .unwrap()
                .unwrap()
                .into_iter()
                .map(|r| (r.chain, r.comment, r.handle))
                .collect();
            v.sort();
            v
        };
        let before = handles();
        t.ensure_jails(&jails).unwrap();
        assert_eq!(handles(), before);
        let mut changed = jails.clone();
        changed[0].ports = vec![(22, 22), (2222, 2222)];
        changed[1].v6_prefix = Some(48);
        t.ensure_jails(&changed).unwrap();
        let after = handles();
        let kept = before.iter().filter(|r| after.contains(r)).count();
        // nginx-http-auth's v6net rule is renewed in both chains.
        assert_eq!(kept, before.len() - 2);
        let read = t.jails().unwrap();
        let sshd = read.iter().find(|j| j.name == "sshd").unwrap();
        assert_eq!(sshd.ports, [(22, 22), (2222, 2222)]);
        let bans = sorted(t.list().unwrap());
        assert_eq!(bans.len(), 3, "{bans:?}");
        assert!(bans.iter().all(|b| b.jail != "nginx-http-auth"));
        // From ports to all traffic and back: the ports set goes and comes.
        changed[4].all = true;
        t.ensure_jails(&changed).unwrap();
        let voip = t
            .jails()
            .unwrap()
            .into_iter()
            .find(|j| j.name == "voip")
            .unwrap();
        assert!(voip.all && voip.ports.is_empty());
        assert_eq!(voip.rules(), changed[4].rules());
        let sets = nl
            .sets(moat_backend::netlink::NfProto::Inet, TABLE)
            .unwrap()
            .unwrap();
        assert!(!sets.iter().any(|s| s.name == "voip.ports"));
        changed[4].all = false;
        t.ensure_jails(&changed).unwrap();
        let voip = t
            .jails()
            .unwrap()
            .into_iter()
            .find(|j| j.name == "voip")
            .unwrap();
        assert_eq!(voip.port_ranges(), changed[4].port_ranges());
        assert_eq!(t.list().unwrap().len(), 3);

        // Unban: an address in a banned network lifts the network; a
        // network lifts what is in it.
        assert_eq!(t.unban(None, net("2001:db8:1:ff::1")).unwrap(), 1);
        t.ban_many(&[
            ("sshd".into(), net("192.0.2.5"), hour),
            ("voip".into(), net("192.0.2.5"), None),
            ("sshd".into(), net("192.0.2.6"), hour),
            (
                "sshd".into(),
                net("192.0.2.1"),
                Some(Duration::from_secs(5)),
            ),
        ])
        .unwrap();
        assert_eq!(t.list().unwrap().len(), 5);
        let refreshed = sorted(t.list().unwrap());
        assert_eq!(refreshed[0].timeout, Some(Duration::from_secs(5)));
        assert_eq!(t.unban(Some("sshd"), net("192.0.2.5")).unwrap(), 1);
        assert_eq!(t.unban(None, net("192.0.2.0/24")).unwrap(), 3);
        assert_eq!(t.unban(None, net("192.0.2.0/24")).unwrap(), 0);
        assert!(matches!(
            t.unban(Some("nope"), net("192.0.2.5")),
            Err(BanError::UnknownJail(_))
        ));
        assert_eq!(t.list().unwrap().len(), 1);
        t.flush_jail("sshd").unwrap();
        assert_eq!(t.list().unwrap(), vec![]);

        // A restore of many bans is one transaction, all or nothing.
        let many: Vec<(String, IpNet, Option<Duration>)> = (0..5000u32)
            .map(|i| {
                (
                    "voip".to_string(),
                    net(&Ipv4Addr::from(0x0a00_0000 + i).to_string()),
                    hour,
                )
            })
            .chain([("voip".to_string(), net("10.0.0.0/8"), None)])
            .collect();
        assert!(t.ban_many(&many).is_err());
        assert_eq!(t.list().unwrap(), vec![]);
        t.ban_many(&many[..5000]).unwrap();
        t.ban_many(&many[..5000]).unwrap();
        assert_eq!(t.list().unwrap().len(), 5000);

        assert_eq!(t.prune_jails(&["sshd", "voip"]).unwrap().len(), 3);
        assert_eq!(t.jails().unwrap().len(), 2);
        assert_eq!(t.list().unwrap().len(), 5000);
    }
}

#[test]
fn banned_clients_cannot_reach_the_jails_ports() {
    if !lab() {
        return;
    }
    let lab = Topology::gateway().unwrap();
    let gw_v4 = topology::GATEWAY_LAN_V4;
    let gw_v6 = topology::GATEWAY_LAN_V6;
    let _servers: Vec<TcpServer> = [
        IpAddr::V4(gw_v4),
        IpAddr::V6(gw_v6),
        topology::GATEWAY_WAN_V4.into(),
    ]
    .into_iter()
    .flat_map(|a| [22, 80].map(|p| TcpServer::start(&lab.gateway, a, p).unwrap()))
    .chain([TcpServer::start(&lab.server, topology::SERVER_V4, 22).unwrap()])
    .collect();
    let mut table = lab.gateway.run(|| BanTable::open().unwrap()).unwrap();
    let mut all = jail("recidive", Protocol::Tcp, &[]);
    all.all = true;
    all.reject = false;
    let mut sshd = jail("sshd", Protocol::Tcp, &[(22, 22)]);
    sshd.v6_prefix = None;
    let mut sshd6 = jail("sshd6", Protocol::Tcp, &[(22, 22)]);
    sshd6.v6_prefix = Some(64);
    table.ensure_jails(&[sshd, sshd6, all]).unwrap();
    let client = &lab.client;
    let connects = |addr: IpAddr, port| tcp_connect(client, addr, port).unwrap().is_connected();
    assert!(connects(gw_v4.into(), 22));

    // Port 22 only: closed at once (TCP reset), port 80 open, and
    // another host's port 22 too; forwarded traffic is banned as well.
    let client_v4 = IpNet::from(IpAddr::V4(topology::CLIENT_V4));
    table
        .ban("sshd", client_v4, Some(Duration::from_secs(2)))
        .unwrap();
    let began = Instant::now();
    assert_eq!(tcp_connect(client, gw_v4, 22).unwrap(), TcpOutcome::Refused);
    assert!(began.elapsed() < Duration::from_millis(500));
    assert!(connects(gw_v4.into(), 80));
    assert!(tcp_connect(&lab.server, topology::GATEWAY_WAN_V4, 22)
        .unwrap()
        .is_connected());
    assert_eq!(
        tcp_connect(client, topology::SERVER_V4, 22).unwrap(),
        TcpOutcome::Refused
    );
    // The 2 s ban lifts itself.
    std::thread::sleep(Duration::from_millis(2500).saturating_sub(began.elapsed()));
    assert!(connects(gw_v4.into(), 22));

    // Unban lifts at once.
    table.ban("sshd", client_v4, None).unwrap();
    assert!(!connects(gw_v4.into(), 22));
    assert_eq!(table.unban(None, client_v4).unwrap(), 1);
    assert!(connects(gw_v4.into(), 22));

    // IPv6: the address, then its /64 by another address in it.
    let client_v6 = IpNet::from(IpAddr::V6(topology::CLIENT_V6));
    assert!(connects(gw_v6.into(), 22));
    table.ban("sshd", client_v6, None).unwrap();
    assert_eq!(tcp_connect(client, gw_v6, 22).unwrap(), TcpOutcome::Refused);
    assert!(connects(gw_v6.into(), 80));
    assert_eq!(table.unban(Some("sshd"), client_v6).unwrap(), 1);
    assert!(connects(gw_v6.into(), 22));
    let neighbour = IpNet::from(IpAddr::V6(Ipv6Addr::new(0xfd99, 1, 0, 0, 0, 0, 0, 0x99)));
    table.ban("sshd6", neighbour, None).unwrap();
    assert_eq!(tcp_connect(client, gw_v6, 22).unwrap(), TcpOutcome::Refused);
    assert!(connects(gw_v6.into(), 80));
    assert!(connects(gw_v4.into(), 22));
    assert_eq!(
        table.unban(None, "fd99:1::/64".parse().unwrap()).unwrap(),
        1
    );
    assert!(connects(gw_v6.into(), 22));

    // `all`, with drop: nothing gets through, not even a ping.
    table.ban("recidive", client_v4, None).unwrap();
    for port in [22, 80] {
        let outcome = tcp_connect_timeout(client, gw_v4, port, Duration::from_millis(300)).unwrap();
        assert_eq!(outcome, TcpOutcome::TimedOut, "port {port}");
    }
    assert!(!ping(client, gw_v4).unwrap());
    assert!(connects(gw_v6.into(), 80));
    table.flush_jail("recidive").unwrap();
    assert!(connects(gw_v4.into(), 80));
    assert!(ping(client, gw_v4).unwrap());
}

/// Prints the numbers for the crate's report; no assertions on time.
/// `cargo test -p moat-ban --release -- --ignored --nocapture bench`
#[test]
#[ignore = "benchmark: run by hand"]
fn bench() {
    if !lab() {
        return;
    }
    let addr = |i: u32| IpNet::from(IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i)));
    let ns = Netns::new("ban-bench").unwrap();
    ns.run(|| {
        let mut t = BanTable::open().unwrap();
        let mut a = jail("bench", Protocol::Tcp, &[(22, 22)]);
        a.v6_prefix = Some(64);
        let b = jail("restore", Protocol::Tcp, &[(22, 22)]);
        t.ensure_jails(&[a, b]).unwrap();
        let hour = Some(Duration::from_secs(3600));

        let n = 10_000;
        let began = Instant::now();
        for i in 0..n {
            t.ban("bench", addr(i), hour).unwrap();
        }
        let took = began.elapsed();
        println!(
            "BENCH {n} distinct bans, one message each: {took:?} ({:.1} µs per ban)",
            took.as_secs_f64() * 1e6 / f64::from(n)
        );
        let began = Instant::now();
        for i in 0..n {
            t.time_left("bench", addr(i * 2)).unwrap();
        }
        println!(
            "BENCH {n} lookups of one ban (half of them banned): {:.1} µs each",
            began.elapsed().as_secs_f64() * 1e6 / f64::from(n)
        );
        let began = Instant::now();
        for i in 0..1000u32 {
            t.ban("bench", addr(i), Some(Duration::from_secs(7200)))
                .unwrap();
        }
        println!(
            "BENCH re-ban of a banned address (new timeout): {:.1} µs",
            began.elapsed().as_secs_f64() * 1e6 / 1000.0
        );

        let restore: Vec<(String, IpNet, Option<Duration>)> = (0..100_000u32)
            .map(|i| ("restore".to_string(), addr(0x10_0000 + i), hour))
            .collect();
        let began = Instant::now();
        t.ban_many(&restore).unwrap();
        println!(
            "BENCH 100,000 bans restored in one transaction (new): {:?}",
            began.elapsed()
        );
        let began = Instant::now();
        t.ban_many(&restore).unwrap();
        println!(
            "BENCH 100,000 bans restored in one transaction (all present already): {:?}",
            began.elapsed()
        );
        let began = Instant::now();
        let listed = t.list().unwrap();
        println!("BENCH list of {} bans: {:?}", listed.len(), began.elapsed());
        let began = Instant::now();
        assert_eq!(t.unban(None, addr(5)).unwrap(), 1);
        println!("BENCH unban of one address: {:?}", began.elapsed());

        // The same on the path for kernels that keep old timeouts.
        let mut old = BanTable::open().unwrap();
        old.assume_no_timeout_updates();
        old.flush_jail("restore").unwrap();
        let began = Instant::now();
        for i in 0..n {
            old.ban("bench", addr(0x20_0000 + i), hour).unwrap();
        }
        println!(
            "BENCH (older kernels) {n} distinct bans, add+delete+add each: {:.1} µs per ban",
            began.elapsed().as_secs_f64() * 1e6 / f64::from(n)
        );
        let began = Instant::now();
        old.ban_many(&restore).unwrap();
        println!(
            "BENCH (older kernels) 100,000 bans restored (new): {:?}",
            began.elapsed()
        );
        let began = Instant::now();
        old.ban_many(&restore).unwrap();
        println!(
            "BENCH (older kernels) 100,000 bans restored (present): {:?}",
            began.elapsed()
        );
    })
    .unwrap();

    let dir = std::env::temp_dir().join(format!("moat-ban-bench-{}", std::process::id()));
    let store = crate::Store::open(&dir.join("bans.redb")).unwrap();
    let now = std::time::SystemTime::now();
    let ban = |i: u32| crate::Ban {
        jail: "sshd".into(),
        addr: addr(i),
        start: now,
        end: Some(now + Duration::from_secs(3600)),
        count: 1,
    };
    let began = Instant::now();
    for i in 0..200 {
        store.record_ban(&ban(i)).unwrap();
    }
    println!(
        "BENCH store: record_ban (one commit with fsync; the store stays open while busy): {:.0} µs each (in {})",
        began.elapsed().as_secs_f64() * 1e6 / 200.0,
        dir.display()
    );
    let many: Vec<crate::Ban> = (0..100_000).map(ban).collect();
    let began = Instant::now();
    store.record_bans(&many).unwrap();
    println!(
        "BENCH store: record_bans of 100,000 in one commit: {:?}",
        began.elapsed()
    );
    let began = Instant::now();
    let due = store.active_bans(now).unwrap();
    println!(
        "BENCH store: active_bans of {}: {:?}",
        due.len(),
        began.elapsed()
    );
    let began = Instant::now();
    for i in 0..200 {
        store.ban_count(Some("sshd"), addr(i)).unwrap();
    }
    println!(
        "BENCH store: ban_count: {:.0} µs each",
        began.elapsed().as_secs_f64() * 1e6 / 200.0
    );
    let _ = std::fs::remove_dir_all(&dir);
}
