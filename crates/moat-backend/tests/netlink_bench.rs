//! Timings of the netlink driver against the `nft` driver and iptables-nft,
//! each in fresh network namespaces. Ignored by default (it takes a minute):
//!
//! ```sh
//! cargo test --release -p moat-backend --test netlink_bench -- --ignored --nocapture
//! ```
//!
//! The rules are bench/run.sh's four kinds; iptables-nft gets the same
//! rules as a restore file.

mod netlink_common;

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use moat_backend::{Backend, NetlinkDriver, NftCli};
use moat_model::{Family, Stage};
use moat_nft::{plan_replace, plan_update, ChangeSet, Op, Position, TableChanges};
use moat_testnet::Netns;
use netlink_common::{bench_rule, bench_table};

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// Runs a program in `ns` (spawned from a thread inside it) and times it.
fn timed_program(ns: &Netns, argv: &[&str], input: &str) -> Duration {
    ns.run(|| {
        let start = Instant::now();
        let mut child = Command::new(argv[0])
            .args(&argv[1..])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{argv:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        start.elapsed()
    })
    .unwrap()
}

fn restore_file(n: usize) -> String {
    let mut text =
        String::from("*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n");
    for i in 0..n {
        text.push_str(bench_rule(Family::Ipv4, i).source.as_deref().unwrap());
        text.push('\n');
    }
    text.push_str("COMMIT\n");
    text
}

fn fresh(role: &str) -> Netns {
    Netns::new(role).expect("namespace")
}

#[test]
#[ignore = "benchmark; run with --ignored --nocapture"]
fn timings() {
    if !moat_testnet::require_root_or_skip() {
        return;
    }
    println!(
        "{:<38} {:>12} {:>12} {:>14}",
        "", "netlink", "nft driver", "iptables-nft"
    );
    for n in [1_000, 10_000, 100_000] {
        let table = bench_table(Family::Ipv4, n);
        let encode_start = Instant::now();
        let changes = plan_replace(&table).unwrap();
        NetlinkDriver.supports(&changes).unwrap();
        let encode = encode_start.elapsed();
        let ns = fresh("bench-nl");
        let nl = ns.run(|| {
            let start = Instant::now();
            NetlinkDriver.apply(&changes).unwrap();
            start.elapsed()
        });
        let ns = fresh("bench-nft");
        let nft = ns.run(|| {
            let start = Instant::now();
            NftCli::default().apply(&changes).unwrap();
            start.elapsed()
        });
        let ns = fresh("bench-ipt");
        let ipt = timed_program(&ns, &["iptables-nft-restore"], &restore_file(n));
        println!(
            "{:<38} {:>12} {:>12} {:>14}   (plan+encode alone {})",
            format!("apply {n} rules (restore)"),
            ms(nl.unwrap()),
            ms(nft.unwrap()),
            ms(ipt),
            ms(encode)
        );
    }

    let n = 10_000;
    let table = bench_table(Family::Ipv4, n);
    let changes = plan_replace(&table).unwrap();
    let ns = fresh("bench-10k");
    ns.run(|| NetlinkDriver.apply(&changes).unwrap()).unwrap();
    let reads = |f: &dyn Fn() -> Duration| median((0..5).map(|_| f()).collect());
    let nl_read = ns.run(|| {
        reads(&|| {
            let start = Instant::now();
            NetlinkDriver
                .read(Family::Ipv4, Stage::Filter)
                .unwrap()
                .unwrap();
            start.elapsed()
        })
    });
    let nft_read = ns.run(|| {
        reads(&|| {
            let start = Instant::now();
            NftCli::default()
                .read(Family::Ipv4, Stage::Filter)
                .unwrap()
                .unwrap();
            start.elapsed()
        })
    });
    let ipt_ns = fresh("bench-ipt10k");
    timed_program(&ipt_ns, &["iptables-nft-restore"], &restore_file(n));
    let ipt_list = median(
        (0..5)
            .map(|_| timed_program(&ipt_ns, &["iptables-nft", "-vnL"], ""))
            .collect(),
    );
    println!(
        "{:<38} {:>12} {:>12} {:>14}   (iptables: -vnL)",
        format!("read {n} rules"),
        ms(nl_read.unwrap()),
        ms(nft_read.unwrap()),
        ms(ipt_list)
    );

    // One rule appended: read, plan, apply — what `moat iptables -A` does.
    let append = |driver: &dyn Backend, i: usize| {
        let start = Instant::now();
        let old = driver.read(Family::Ipv4, Stage::Filter).unwrap();
        let mut new = table.clone();
        new.chain_mut("INPUT")
            .unwrap()
            .rules
            .extend((0..=i).map(|k| bench_rule(Family::Ipv4, n + k)));
        let changes = plan_update(old.as_ref(), &new).unwrap();
        driver.apply(&changes).unwrap();
        start.elapsed()
    };
    let nl_append = ns.run(|| median((0..5).map(|i| append(&NetlinkDriver, i)).collect()));
    let ns_nft = fresh("bench-10k-nft");
    ns_nft
        .run(|| NetlinkDriver.apply(&changes).unwrap())
        .unwrap();
    let nft_append = ns_nft.run(|| median((0..5).map(|i| append(&NftCli::default(), i)).collect()));
    let ipt_append = median(
        (0..5)
            .map(|i| {
                let source = format!("10.250.0.{i}");
                timed_program(
                    &ipt_ns,
                    &["iptables-nft", "-A", "INPUT", "-s", &source, "-j", "ACCEPT"],
                    "",
                )
            })
            .collect(),
    );
    // The same without reading the rules: check the chain exists, append.
    let fast_append = |i: usize| {
        let start = Instant::now();
        let layout = NetlinkDriver
            .read_chains_without_rules(Family::Ipv4, Stage::Filter)
            .unwrap()
            .unwrap();
        assert!(layout.chain("INPUT").is_some());
        let rule = bench_rule(Family::Ipv4, 2 * n + i);
        let ops = vec![Op::AddRule {
            chain: "INPUT".into(),
            index: n + i + 1,
            rule,
            position: Position::Append,
        }];
        let changes = ChangeSet {
            tables: vec![TableChanges {
                family: Family::Ipv4,
                stage: Stage::Filter,
                ops,
                existing_sets: Vec::new(),
                after_conntrack: false,
                conntrack_copy: false,
            }],
        };
        NetlinkDriver.apply(&changes).unwrap();
        start.elapsed()
    };
    let nl_fast = ns.run(|| median((0..5).map(fast_append).collect()));
    println!(
        "{:<38} {:>12}",
        format!("one rule appended to {n} (chains only)"),
        ms(nl_fast.unwrap())
    );
    println!(
        "{:<38} {:>12} {:>12} {:>14}",
        format!("one rule appended to {n} (read+plan+apply)"),
        ms(nl_append.unwrap()),
        ms(nft_append.unwrap()),
        ms(ipt_append)
    );
}
