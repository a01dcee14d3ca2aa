//! The netlink driver against `nft`: the same change applied by each driver
//! in its own fresh network namespace must leave the kernel holding the
//! same thing — the same `nft -a list ruleset` text (handles included) and
//! the same raw netlink attributes for every rule — and both readers must
//! read the same tables back. Root only; skipped otherwise (failed with CI=true).

mod netlink_common;

use moat_backend::{Backend, NetlinkDriver, NftCli, TablePart};
use moat_model::{Action, Chain, Counters, Family, Match, Policy, Rule, Stage, Table};
use moat_nft::{plan_delete, plan_replace, plan_update, ChangeSet, KernelTable, Op, Position};
use netlink_common::{
    bench_table, filter_table, iface, nat_target, other_tables, pair, port, proto, rule, Pair,
};

const FAMILIES: [Family; 2] = [Family::Ipv4, Family::Ipv6];

/// The built-in chains and `chains` asked for by name.
fn by_name<'a>(chains: &'a [&'a str], rules: bool) -> TablePart<'a> {
    TablePart::Named { chains, rules }
}

fn load_corpus(lab: &Pair) {
    for family in FAMILIES {
        let mut tables = vec![filter_table(family)];
        tables.extend(other_tables(family));
        for table in &tables {
            let changes = plan_replace(table).unwrap();
            if let Err(e) = NetlinkDriver.supports(&changes) {
                panic!("the corpus must be native: {e}");
            }
            lab.apply(&changes);
        }
    }
}

#[test]
fn every_construct_lands_as_nft_writes_it() {
    let Some(lab) = pair("diff") else { return };
    load_corpus(&lab);
    lab.assert_same();
    let text = listing(&lab);
    for fib in [
        "fib daddr type local",
        "fib saddr . iif type != anycast",
        "fib daddr . oif type broadcast",
        "ip6 daddr ff00::/8 fib daddr type local",
        "tcp dport { 80, 443, 40000, 40002,",
        "udp sport { 53, 67-68, 40000, 40002,",
        "tcp dport != { 22, 1000-2000, 40000,",
        "sctp dport { 1, 3, 40000,",
        "fib daddr type { local, broadcast }",
        "fib saddr . iif type != { local, anycast }",
        "ip6 daddr != { ::, ::ffff:0.0.0.0/96, ff00::/8 }",
        "fib daddr type { blackhole, unreachable, prohibit, 9 }",
        "tcp dport { 8080-8081, 8443, 40000,",
        "fib saddr . iif oif 0 counter",
        "fib saddr . mark oif != 0 counter",
        "fib saddr . iif oif . fib saddr . iif type != { 0 . 0-1, 0 . 3-11 } counter",
        // IPv6: a source of `::` always passes, as in ip6t_rpfilter.
        "fib saddr . iif oif . ip6 saddr { 0 . ::1-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff } counter",
        "fib saddr . mark oif . ip6 saddr != { 0 . ::1-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff } counter",
        "fib saddr . iif oif . fib saddr type . ip6 saddr != { 0 . 0-1 . ::1-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff, 0 . 3-11 . ::1-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff } counter",
        "fib saddr . mark oif . fib saddr type { 0 . 0-1, 0 . 3-11 } counter",
    ] {
        assert!(text.contains(fib), "no `{fib}` in\n{text}");
    }
    // The lab loads rules into every table but security.
    for family in FAMILIES {
        for stage in [Stage::Filter, Stage::Nat, Stage::Mangle, Stage::Raw] {
            let table = lab.read(family, stage).expect("table");
            assert!(!table.chains.is_empty());
        }
    }
    let filter = lab.read(Family::Ipv4, Stage::Filter).unwrap();
    let input = filter.chain("INPUT").unwrap();
    assert_eq!(input.base.map(|(_, p)| p), Some(Policy::Drop));
    assert_eq!(
        input.policy_counter.map(|(_, c)| c),
        Some(Counters {
            packets: 3,
            bytes: 180
        })
    );
    assert!(input.rules.iter().any(|r| r.counters
        == Counters {
            packets: 5,
            bytes: 500
        }));
    assert_eq!(
        filter
            .chains
            .iter()
            .map(|c| c.name.as_str())
            .collect::<Vec<_>>(),
        ["INPUT", "FORWARD", "OUTPUT", "USER", "EMPTY"]
    );

    let layout = lab
        .netlink
        .run(|| NetlinkDriver.read_chains_without_rules(Family::Ipv4, Stage::Filter))
        .unwrap()
        .unwrap();
    let mut expected = filter.clone();
    expected.chains.iter_mut().for_each(|c| c.rules.clear());
    // The layout leaves out the sets rules fill (the corpus's connlimits).
    assert!(!expected.sets.is_empty());
    expected.sets.clear();
    assert_eq!(layout, Some(expected));
    // Some chains with their rules: the one asked for whole, the others as
    // in the layout, each with the kernel's count of its uses (its rules,
    // the jumps and gotos to it, a hook chain's jump from moat's base
    // chain), which a whole read leaves out.
    let some = lab
        .netlink
        .run(|| {
            NetlinkDriver.read_table_part(
                Family::Ipv4,
                Stage::Filter,
                TablePart::LayoutWith(&["USER"]),
            )
        })
        .unwrap()
        .unwrap()
        .unwrap();
    let jumps_to = |name: &str| {
        let ends = [format!("-j {name}"), format!("-g {name}")];
        let sources = filter.chains.iter().flat_map(|c| &c.rules);
        sources
            .filter(|r| {
                r.source
                    .as_deref()
                    .is_some_and(|s| ends.iter().any(|e| s.ends_with(e)))
            })
            .count()
    };
    assert_eq!(some.chains.len(), filter.chains.len());
    for (chain, whole) in some.chains.iter().zip(&filter.chains) {
        assert_eq!(chain.name, whole.name);
        match chain.name.as_str() {
            "USER" => assert_eq!(chain.rules, whole.rules),
            _ => assert!(chain.rules.is_empty(), "{}", chain.name),
        }
        let uses = whole.rules.len() + jumps_to(&chain.name) + usize::from(whole.base.is_some());
        assert_eq!(chain.uses, Some(uses as u32), "{}", chain.name);
        assert_eq!(whole.uses, None);
    }
    assert!(jumps_to("USER") >= 2);
    assert_eq!(some.sets, filter.sets);
    // Chains asked for by name: the built-in ones and those that exist,
    // nothing else, counted the same.
    let named = lab
        .netlink
        .run(|| {
            NetlinkDriver.read_table_part(
                Family::Ipv4,
                Stage::Filter,
                by_name(&["USER", "NOPE"], true),
            )
        })
        .unwrap()
        .unwrap()
        .unwrap();
    let names: Vec<&str> = named.chains.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["INPUT", "FORWARD", "OUTPUT", "USER"]);
    for chain in &named.chains {
        let read = some.chain(&chain.name).unwrap();
        assert_eq!(
            (&chain.rules, chain.uses),
            (&read.rules, read.uses),
            "{}",
            chain.name
        );
        assert_eq!(chain.base, read.base);
    }
    // Without rules: the same chains, none of their rules, and no set.
    let named_layout = lab
        .netlink
        .run(|| {
            NetlinkDriver.read_table_part(Family::Ipv4, Stage::Filter, by_name(&["USER"], false))
        })
        .unwrap()
        .unwrap()
        .unwrap();
    let mut expected = named.clone();
    expected.chains.iter_mut().for_each(|c| c.rules.clear());
    assert_eq!(named.sets, filter.sets);
    expected.sets.clear();
    assert_eq!(named_layout, expected);
    let absent = lab
        .netlink
        .run(|| NetlinkDriver.read_chains_without_rules(Family::Ipv6, Stage::Filter))
        .unwrap()
        .unwrap();
    assert!(absent.is_some());
    let none = lab
        .netlink
        .run(|| NetlinkDriver.read_chains_without_rules(Family::Ipv4, Stage::Nat))
        .unwrap()
        .unwrap();
    assert!(none.is_some());
}

/// Applies the plan that takes each namespace from what it holds to `new`,
/// and checks that both end up the same.
fn update(lab: &Pair, new: &Table) -> ChangeSet {
    let old = lab.read(new.family, new.stage);
    let changes = plan_update(old.as_ref(), new).unwrap();
    lab.apply(&changes);
    lab.assert_same();
    changes
}

fn input(model: &mut Table) -> &mut Vec<Rule> {
    &mut model.chain_mut("INPUT").unwrap().rules
}

fn has_op(changes: &ChangeSet, f: impl Fn(&Op) -> bool) -> bool {
    changes.tables.iter().flat_map(|t| &t.ops).any(f)
}

#[test]
fn inserts_replacements_deletions_and_policies_match_nft() {
    let Some(lab) = pair("edit") else { return };
    let mut model = filter_table(Family::Ipv4);
    lab.apply(&plan_replace(&model).unwrap());

    input(&mut model).insert(0, rule(vec![proto(6)], Action::Accept, "new first"));
    let changes = update(&lab, &model);
    assert!(has_op(&changes, |op| matches!(
        op,
        Op::AddRule {
            position: Position::Before(_),
            ..
        }
    )));

    // A rule put first without naming the rule it goes before (`-I CHAIN`).
    let first = rule(vec![proto(47)], Action::Drop, "put first");
    let mut changes = plan_update(lab.read(Family::Ipv4, Stage::Filter).as_ref(), &model).unwrap();
    changes.tables[0].ops = vec![Op::AddRule {
        chain: "INPUT".into(),
        index: 1,
        rule: first.clone(),
        position: Position::First,
    }];
    lab.apply(&changes);
    lab.assert_same();
    input(&mut model).insert(0, first);
    let read = lab.read(Family::Ipv4, Stage::Filter).unwrap();
    let sources: Vec<_> = read
        .chain("INPUT")
        .unwrap()
        .rules
        .iter()
        .map(|r| r.source.clone())
        .collect();
    assert_eq!(
        sources[..2],
        [Some("put first".to_string()), Some("new first".to_string())]
    );

    input(&mut model).insert(5, rule(vec![proto(17)], Action::Drop, "new fifth"));
    input(&mut model).insert(6, rule(vec![proto(1)], Action::Drop, "new sixth"));
    update(&lab, &model);

    input(&mut model)[10] = rule(vec![proto(132)], Action::Return, "replaced");
    let changes = update(&lab, &model);
    assert!(has_op(&changes, |op| matches!(op, Op::ReplaceRule { .. })));

    input(&mut model).remove(3);
    let last = input(&mut model).len() - 1;
    input(&mut model).remove(last);
    let changes = update(&lab, &model);
    assert!(has_op(&changes, |op| matches!(op, Op::DeleteRule { .. })));

    let chain = model.chain_mut("INPUT").unwrap();
    chain.base = chain.base.map(|(hook, _)| (hook, Policy::Accept));
    chain.policy_counters = Counters {
        packets: 1,
        bytes: 2,
    };
    let changes = update(&lab, &model);
    assert!(has_op(&changes, |op| matches!(op, Op::SetPolicy { .. })));
    assert!(has_op(&changes, |op| matches!(
        op,
        Op::SetPolicyCounters { .. }
    )));

    model.chains.retain(|c| c.name != "EMPTY");
    model.chains.push(Chain {
        name: "LATER".into(),
        base: None,
        policy_counters: Counters::default(),
        rules: vec![rule(vec![], Action::Accept, "later")],
    });
    model.chain_mut("OUTPUT").unwrap().rules.push(rule(
        vec![],
        Action::Jump("LATER".into()),
        "-j LATER",
    ));
    let changes = update(&lab, &model);
    assert!(has_op(&changes, |op| matches!(op, Op::DeleteChain { .. })));

    model.chain_mut("FORWARD").unwrap().rules.clear();
    model.chains.retain(|c| c.name != "USER");
    input(&mut model).retain(|r| r.chain_target().is_none());
    let changes = update(&lab, &model);
    assert!(has_op(&changes, |op| matches!(op, Op::FlushChain { .. })));

    lab.apply(&plan_replace(&bench_table(Family::Ipv4, 50)).unwrap());
    lab.assert_same();
    lab.apply(&plan_delete(&model));
    lab.assert_same();
    assert!(lab.read(Family::Ipv4, Stage::Filter).is_none());
}

#[test]
fn deleting_an_absent_table_succeeds() {
    let Some(lab) = pair("absent") else { return };
    let table = Table::new(Family::Ipv6, Stage::Raw);
    lab.apply(&plan_delete(&table));
    lab.assert_same();
    assert_eq!(
        lab.netlink
            .run(|| NetlinkDriver.read(Family::Ipv6, Stage::Raw))
            .unwrap()
            .unwrap(),
        None
    );
}

fn listing(lab: &Pair) -> String {
    lab.netlink
        .exec_ok(&["nft", "-a", "list", "ruleset"])
        .unwrap()
}

#[test]
fn a_refused_batch_changes_nothing_and_names_the_refused_op() {
    let Some(lab) = pair("atomic") else { return };
    let model = filter_table(Family::Ipv4);
    lab.apply(&plan_replace(&model).unwrap());
    let before = listing(&lab);

    // Valid changes around one the kernel refuses: a jump to a missing chain.
    let mut next = model.clone();
    next.chains.push(Chain {
        name: "FRESH".into(),
        base: None,
        policy_counters: Counters::default(),
        rules: vec![rule(vec![], Action::Accept, "fresh")],
    });
    let input = &mut next.chain_mut("INPUT").unwrap().rules;
    input.insert(0, rule(vec![], Action::Drop, "valid"));
    input.push(rule(vec![], Action::Jump("MISSING".into()), "-j MISSING"));
    let old = lab.read(Family::Ipv4, Stage::Filter);
    let changes = plan_update(old.as_ref(), &next).unwrap();
    let err = lab
        .netlink
        .run(|| NetlinkDriver.apply(&changes))
        .unwrap()
        .unwrap_err()
        .to_string();
    assert!(err.contains("chain INPUT, rule"), "{err}");
    assert!(err.contains("(-j MISSING): add rule"), "{err}");
    assert!(err.contains("No such file or directory"), "{err}");
    assert_eq!(listing(&lab), before, "a refused batch changed the kernel");

    // A stale handle.
    let bogus = ChangeSet {
        tables: vec![moat_nft::TableChanges {
            family: Family::Ipv4,
            stage: Stage::Filter,
            ops: vec![
                Op::AddChain { name: "X".into() },
                Op::DeleteRule {
                    chain: "INPUT".into(),
                    handle: 999_999,
                },
            ],
            existing_sets: Vec::new(),
            after_conntrack: false,
            conntrack_copy: false,
        }],
    };
    let err = lab
        .netlink
        .run(|| NetlinkDriver.apply(&bogus))
        .unwrap()
        .unwrap_err()
        .to_string();
    assert!(err.contains("delete rule handle 999999"), "{err}");
    assert_eq!(listing(&lab), before);

    // A check applies nothing, and catches what apply would refuse.
    let fine = plan_update(old.as_ref(), &bench_table(Family::Ipv4, 3)).unwrap();
    lab.netlink
        .run(|| NetlinkDriver.check(&fine))
        .unwrap()
        .unwrap();
    assert!(lab
        .netlink
        .run(|| NetlinkDriver.check(&changes))
        .unwrap()
        .is_err());
    assert_eq!(listing(&lab), before);
}

#[test]
fn unsupported_changes_go_through_nft_in_one_transaction() {
    let Some(lab) = pair("hybrid") else { return };
    let model = filter_table(Family::Ipv4);
    // A set of MAC addresses: moat declares none, so its netlink driver
    // writes none.
    let Op::AddSet(mut macs) = list_copy(Family::Ipv4, "macs", &[], false) else {
        unreachable!("a set declaration")
    };
    macs.set_type = nftables::schema::SetTypeValue::Single(nftables::schema::SetType::EtherAddr);
    let mut changes = plan_replace(&model).unwrap();
    changes.tables[0].ops.push(Op::AddSet(macs));
    let err = NetlinkDriver.supports(&changes).unwrap_err();
    assert!(
        matches!(err, moat_backend::driver::DriverError::Unsupported(_)),
        "{err}"
    );
    // The netlink driver alone sends nothing.
    assert!(lab
        .netlink
        .run(|| NetlinkDriver.apply(&changes))
        .unwrap()
        .is_err());
    assert!(lab
        .netlink
        .run(|| NetlinkDriver.read(Family::Ipv4, Stage::Filter))
        .unwrap()
        .unwrap()
        .is_none());
    // The hybrid driver hands it to nft.
    lab.netlink
        .run(|| moat_backend::Hybrid::default().apply(&changes))
        .unwrap()
        .unwrap();
    lab.nft
        .run(|| moat_backend::NftCli::default().apply(&changes))
        .unwrap()
        .unwrap();
    lab.assert_same();
    lab.read(Family::Ipv4, Stage::Filter).unwrap();
}

#[test]
fn a_nat_restore_and_its_edits_go_through_netlink_as_nft_writes_them() {
    let Some(lab) = pair("natrestore") else {
        return;
    };
    for family in FAMILIES {
        let mut table = netlink_common::port_forward_table(family, 3000);
        let changes = plan_replace(&table).unwrap();
        if let Err(e) = NetlinkDriver.supports(&changes) {
            panic!("a DNAT restore must be native: {e}");
        }
        lab.apply(&changes);
        lab.assert_same();

        let prerouting = &mut table.chain_mut("PREROUTING").unwrap().rules;
        prerouting[1500] = rule(
            vec![proto(17)],
            Action::Redirect {
                ports: Some(moat_model::PortRange {
                    first: 53,
                    last: 53,
                }),
                random: false,
            },
            "-p udp -j REDIRECT --to-ports 53",
        );
        prerouting.insert(
            10,
            rule(
                vec![netlink_common::nth(4, 3, false)],
                Action::Return,
                "-m statistic --mode nth --every 4 --packet 3 -j RETURN",
            ),
        );
        table.chain_mut("POSTROUTING").unwrap().rules.push(rule(
            vec![],
            Action::Masquerade {
                ports: None,
                random: true,
                fully_random: false,
            },
            "-j MASQUERADE --random",
        ));
        let changes = update(&lab, &table);
        assert!(NetlinkDriver.supports(&changes).is_ok());
        assert!(has_op(&changes, |op| matches!(
            op,
            Op::AddRule {
                position: Position::Before(_),
                ..
            }
        )));
        let read = lab.read(family, Stage::Nat).unwrap();
        assert_eq!(read.chain("PREROUTING").unwrap().rules.len(), 3001);
    }
}

#[test]
fn a_large_change_is_one_batch() {
    let Some(lab) = pair("large") else { return };
    let table = bench_table(Family::Ipv6, 20_000);
    lab.apply(&plan_replace(&table).unwrap());
    lab.assert_same();
    let read = lab.read(Family::Ipv6, Stage::Filter).unwrap();
    assert_eq!(read.chain("INPUT").unwrap().rules.len(), 20_000);
}

/// `-i wan0 -p tcp|udp --dport PORT -j DNAT --to-destination HOST[:TO]`,
/// HOST the `host`-th address of a LAN of `family`.
fn forward(family: Family, tcp: bool, port_: u16, to: Option<u16>, host: usize) -> Rule {
    let (p, name) = if tcp { (6, "tcp") } else { (17, "udp") };
    let (b, c) = ((host / 256) % 256, host % 256);
    let (addr, shown) = match family {
        Family::Ipv4 => {
            let a = format!("10.1.{b}.{c}");
            (a.clone(), a)
        }
        Family::Ipv6 => {
            let a = format!("2001:db8:1::{b:x}:{c:x}");
            (a.clone(), format!("[{a}]"))
        }
    };
    let target = match to {
        Some(to) => format!("{shown}:{to}"),
        None => shown,
    };
    rule(
        vec![
            Match::InInterface {
                iface: iface("wan0", false),
                negate: false,
            },
            proto(p),
            Match::DestPort {
                proto: p,
                ports: port(port_, port_),
                negate: false,
            },
        ],
        Action::Dnat(nat_target(
            Some((&addr, &addr)),
            to.map(|to| (to, to)),
            false,
            false,
        )),
        &format!(
            "-A PREROUTING -i wan0 -p {name} -m {name} --dport {port_} -j DNAT --to-destination {target}"
        ),
    )
}

/// A nat table of `family`: in PREROUTING a plain rule, a port map of `n`
/// tcp forwards (every third keeping its port), a plain rule, a port map
/// of 12 udp forwards keeping their ports, and a plain rule; a plain DNAT
/// in OUTPUT.
fn port_map_table(family: Family, n: usize) -> Table {
    let mut table = Table::new(family, Stage::Nat);
    let prerouting = &mut table.chain_mut("PREROUTING").unwrap().rules;
    prerouting.push(rule(vec![proto(1)], Action::Return, "-p icmp -j RETURN"));
    prerouting.extend((0..n).map(|i| {
        let p = u16::try_from(10_000 + i).unwrap();
        let to = (i % 3 != 0).then_some(8000 + u16::try_from(i % 100).unwrap());
        forward(family, true, p, to, i)
    }));
    prerouting.push(rule(vec![proto(17)], Action::Return, "-p udp -j RETURN"));
    prerouting.extend((0..12).map(|i| forward(family, false, 5000 + i, None, 7)));
    prerouting.push(rule(vec![proto(47)], Action::Return, "-p gre -j RETURN"));
    table.chain_mut("OUTPUT").unwrap().rules = vec![forward(family, true, 80, Some(8080), 3)];
    table
}

/// How many maps the netlink namespace's nat table of `family` holds.
fn maps_in(lab: &Pair, family: Family) -> usize {
    let family = match family {
        Family::Ipv4 => "ip",
        Family::Ipv6 => "ip6",
    };
    lab.netlink
        .exec_ok(&["nft", "list", "table", family, "moat_nat"])
        .unwrap()
        .matches("\tmap portmap.")
        .count()
}

/// How many members each rule of PREROUTING holds.
fn members_of(table: &KernelTable) -> Vec<usize> {
    table
        .chain("PREROUTING")
        .unwrap()
        .rules
        .iter()
        .map(|r| r.members.len())
        .collect()
}

#[test]
fn port_maps_land_as_nft_writes_them_and_both_readers_read_them_alike() {
    let Some(lab) = pair("portmap") else { return };
    for family in FAMILIES {
        let mut table = port_map_table(family, 3000);
        let changes = plan_replace(&table).unwrap();
        if let Err(e) = NetlinkDriver.supports(&changes) {
            panic!("a nat table with port maps must be native: {e}");
        }
        assert!(has_op(&changes, |op| matches!(
            op,
            Op::PortMapElements { create: true, .. }
        )));
        lab.apply(&changes);
        lab.assert_same();
        let read = lab.read(family, Stage::Nat).unwrap();
        assert_eq!(members_of(&read), [0, 3000, 0, 12, 0]);

        // Delete a member, insert one in the middle, replace one, add a plain rule.
        let prerouting = &mut table.chain_mut("PREROUTING").unwrap().rules;
        prerouting.remove(101);
        prerouting.insert(1500, forward(family, true, 20_000, Some(22), 9));
        prerouting[2000] = forward(family, true, 20_001, None, 10);
        prerouting.insert(
            3002,
            rule(vec![proto(6)], Action::Return, "-p tcp -j RETURN"),
        );
        let changes = update(&lab, &table);
        assert!(NetlinkDriver.supports(&changes).is_ok());
        assert!(has_op(&changes, |op| matches!(
            op,
            Op::PortMapElements { create: false, delete, add, .. } if delete.len() == 2 && add.len() == 2
        )));
        let read = lab.read(family, Stage::Nat).unwrap();
        assert_eq!(members_of(&read), [0, 3000, 0, 0, 12, 0]);

        // A run cut below the minimum becomes plain rules; its maps go last.
        let prerouting = &mut table.chain_mut("PREROUTING").unwrap().rules;
        let udp = prerouting.len() - 13;
        prerouting.drain(udp..udp + 8);
        let changes = update(&lab, &table);
        assert!(has_op(&changes, |op| matches!(
            op,
            Op::DeletePortMap { .. }
        )));
        let read = lab.read(family, Stage::Nat).unwrap();
        assert_eq!(members_of(&read)[..5], [0, 3000, 0, 0, 0]);
        assert_eq!(maps_in(&lab, family), 2, "the udp run's maps are gone");
    }
}

#[test]
fn member_counters_are_set_and_read_back_over_netlink() {
    let Some(lab) = pair("pmcount") else { return };
    let ns = &lab.netlink;
    for family in FAMILIES {
        let mut table = port_map_table(family, 40);
        for (i, rule) in table.chain_mut("PREROUTING").unwrap().rules[1..41]
            .iter_mut()
            .enumerate()
        {
            let n = u64::try_from(i).unwrap() + 1;
            rule.counters = Counters {
                packets: n,
                bytes: 60 * n,
            };
        }
        ns.run(|| NetlinkDriver.apply(&plan_replace(&table).unwrap()))
            .unwrap()
            .unwrap();
        let (by_netlink, by_nft) = ns
            .run(|| {
                (
                    NetlinkDriver.read(family, Stage::Nat).unwrap().unwrap(),
                    NftCli::default().read(family, Stage::Nat).unwrap().unwrap(),
                )
            })
            .unwrap();
        assert_eq!(by_netlink, by_nft, "the two readers disagree");
        let members = &by_netlink.chain("PREROUTING").unwrap().rules[1].members;
        assert_eq!(members.len(), 40);
        for (i, m) in members.iter().enumerate() {
            let n = u64::try_from(i).unwrap() + 1;
            assert_eq!(
                m.counters,
                Counters {
                    packets: n,
                    bytes: 60 * n
                },
                "member {i}"
            );
        }
        assert!(listing(&lab).contains("10039 counter packets 40 bytes 2400 comment"));
        // The kernel holds what the model says: nothing to change.
        let again = plan_update(Some(&by_netlink), &table).unwrap();
        assert!(again.is_empty(), "{again:?}");

        // A new member's counters are set too.
        let prerouting = &mut table.chain_mut("PREROUTING").unwrap().rules;
        let mut added = forward(family, true, 30_000, Some(1), 1);
        added.counters = Counters {
            packets: 7,
            bytes: 7000,
        };
        prerouting.insert(20, added);
        let changes = plan_update(Some(&by_netlink), &table).unwrap();
        ns.run(|| NetlinkDriver.apply(&changes)).unwrap().unwrap();
        let read = ns
            .run(|| NetlinkDriver.read(family, Stage::Nat).unwrap().unwrap())
            .unwrap();
        let member = read.chain("PREROUTING").unwrap().rules[1]
            .members
            .iter()
            .find(|m| m.port == 30_000)
            .cloned()
            .unwrap();
        assert_eq!(member.counters.packets, 7);
        assert_eq!(member.counters.bytes, 7000);
    }
}

/// Whether `rule` fills a set: counts connections or limits per key.
fn fills_a_set(rule: &Rule) -> bool {
    rule.matches
        .iter()
        .any(|m| matches!(m, Match::ConnLimit { .. } | Match::HashLimit { .. }))
}

#[test]
fn filled_sets_are_reused_and_dropped_with_their_rules() {
    let Some(lab) = pair("dynset") else { return };
    for family in FAMILIES {
        let mut model = filter_table(family);
        lab.apply(&plan_replace(&model).unwrap());

        // The same rule at the same place of another chain fills the same set.
        let at = input(&mut model).iter().position(fills_a_set).unwrap();
        let copy = input(&mut model)[..=at].to_vec();
        model.chains.push(Chain {
            name: "COPY".into(),
            base: None,
            policy_counters: Counters::default(),
            rules: copy,
        });
        let old = lab.read(family, Stage::Filter);
        let changes = plan_update(old.as_ref(), &model).unwrap();
        assert!(!changes.tables[0].existing_sets.is_empty());
        NetlinkDriver.supports(&changes).unwrap();
        lab.apply(&changes);
        lab.assert_same();

        input(&mut model).retain(|r| !fills_a_set(r));
        model.chains.retain(|c| c.name != "COPY");
        let changes = update(&lab, &model);
        assert!(has_op(&changes, |op| matches!(op, Op::DeleteSet { .. })));
        let table = lab.read(family, Stage::Filter).unwrap();
        assert!(table.sets.is_empty(), "{:?}", table.sets);
    }
}

/// The declaration of a block list's copy (`blocklist.NAME`) as moat's
/// block lists make it: an interval set of addresses with, unless the list
/// is empty, its networks, ranges and single addresses, and a comment if
/// `commented` (nft 1.0.6 drops a set's comment given in JSON).
fn list_copy(family: Family, name: &str, elements: &[&str], commented: bool) -> Op {
    use nftables::expr::{Expression, NamedExpression, Prefix, Range};
    use nftables::schema::{Set, SetFlag, SetType, SetTypeValue};
    use nftables::types::NfFamily;
    use std::borrow::Cow;
    let element = |text: &str| match text.split_once(['/', '-']) {
        Some((addr, len)) if text.contains('/') => {
            Expression::Named(NamedExpression::Prefix(Prefix {
                addr: Box::new(Expression::String(Cow::Owned(addr.to_string()))),
                len: len.parse().unwrap(),
            }))
        }
        Some((first, last)) => Expression::Range(Box::new(Range {
            range: [
                Expression::String(Cow::Owned(first.to_string())),
                Expression::String(Cow::Owned(last.to_string())),
            ],
        })),
        None => Expression::String(Cow::Owned(text.to_string())),
    };
    let (nf_family, set_type) = match family {
        Family::Ipv4 => (NfFamily::IP, SetType::Ipv4Addr),
        Family::Ipv6 => (NfFamily::IP6, SetType::Ipv6Addr),
    };
    let elem: Vec<Expression<'static>> = elements.iter().map(|e| element(e)).collect();
    Op::AddSet(Box::new(Set {
        family: nf_family,
        table: Cow::Borrowed("moat_filter"),
        name: Cow::Owned(format!("blocklist.{name}")),
        handle: None,
        set_type: SetTypeValue::Single(set_type),
        policy: None,
        flags: Some(std::collections::HashSet::from([SetFlag::Interval])),
        elem: (!elem.is_empty()).then_some(Cow::Owned(elem)),
        timeout: None,
        gc_interval: None,
        size: None,
        comment: commented.then(|| {
            Cow::Owned(format!(
                "moat list {name}: copy for iptables rules (moat block keeps it current)"
            ))
        }),
    }))
}

#[test]
fn block_list_copies_and_their_lookups_land_as_nft_writes_them() {
    let Some(lab) = pair("lists") else { return };
    let lists: [(Family, &[&str], &[&str]); 2] = [
        (
            Family::Ipv4,
            &[
                "10.0.0.0/24",
                "10.0.2.0-10.0.2.9",
                "192.0.2.1",
                "203.0.113.128/25",
            ],
            &["0.0.0.0/8", "255.255.255.255"],
        ),
        (
            Family::Ipv6,
            &["2001:db8::/32", "2001:db9::1", "2001:dba::5-2001:dba::9"],
            &["::/127", "ffff::/16"],
        ),
    ];
    for (family, bad, edges) in lists {
        let mut model = filter_table(family);
        let in_set = |name: &str, side, negate| Match::InSet {
            name: name.into(),
            sides: vec![side],
            negate,
            options: Default::default(),
        };
        input(&mut model).extend([
            rule(
                vec![in_set("bad", moat_model::SetSide::Source, false)],
                Action::Drop,
                "-m set --match-set bad src -j DROP",
            ),
            rule(
                vec![in_set("edges", moat_model::SetSide::Destination, true)],
                Action::Accept,
                "-m set ! --match-set edges dst -j ACCEPT",
            ),
            rule(
                vec![in_set("empty", moat_model::SetSide::Source, false)],
                Action::Drop,
                "-m set --match-set empty src -j DROP",
            ),
        ]);
        let mut changes = plan_replace(&model).unwrap();
        changes.tables[0].ops.extend([
            list_copy(family, "bad", bad, false),
            list_copy(family, "edges", edges, false),
            list_copy(family, "empty", &[], false),
        ]);
        NetlinkDriver.supports(&changes).unwrap();
        lab.apply(&changes);
        // A later rule looks up a copy the table already holds.
        input(&mut model).insert(
            0,
            rule(
                vec![in_set("bad", moat_model::SetSide::Destination, false)],
                Action::Drop,
                "-m set --match-set bad dst -j DROP",
            ),
        );
        assert!(!has_op(&update(&lab, &model), |op| matches!(
            op,
            Op::AddSet(_)
        )));
    }
    lab.assert_same();
    let text = listing(&lab);
    for expected in [
        "ip saddr @blocklist.bad counter",
        "ip daddr != @blocklist.edges counter",
        "10.0.2.0-10.0.2.9",
        "ip6 saddr @blocklist.empty counter",
        "2001:dba::5-2001:dba::9",
    ] {
        assert!(text.contains(expected), "no `{expected}` in\n{text}");
    }
    // The netlink driver keeps the comment that tells what the set is.
    let mut model = filter_table(Family::Ipv4);
    input(&mut model).push(rule(
        vec![Match::InSet {
            name: "noted".into(),
            sides: vec![moat_model::SetSide::Source],
            negate: false,
            options: Default::default(),
        }],
        Action::Drop,
        "-m set --match-set noted src -j DROP",
    ));
    let mut changes = plan_replace(&model).unwrap();
    changes.tables[0]
        .ops
        .push(list_copy(Family::Ipv4, "noted", &["198.51.100.0/24"], true));
    lab.netlink
        .run(|| NetlinkDriver.apply(&changes))
        .unwrap()
        .unwrap();
    let text = lab
        .netlink
        .exec_ok(&["nft", "list", "set", "ip", "moat_filter", "blocklist.noted"])
        .unwrap();
    assert!(text.contains("comment \"moat list noted: copy"), "{text}");
    assert!(text.contains("198.51.100.0/24"), "{text}");
}
